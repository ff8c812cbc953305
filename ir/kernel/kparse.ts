/**
 * @fileoverview Reads the kernel IR's text form (documented in `kprint.ts`) back into a
 * `KProgram`, so lowering output, hand-written kernel tests and dumps can be reloaded and
 * held to the verifier's rules (`kverify.ts`).
 *
 * Parsing is syntactic: every kernel's operands and attributes must be present, known and
 * of the right kind (E401 at `line:col` otherwise), but whether the buffers exist and fit
 * is the verifier's question, so invalid programs can be read, printed and diagnosed. The
 * graph module after `-- graph --` is read by `parseIR` (and verified by it: E401/E402),
 * with positions counted in the whole text. Leniency for hand-written text: `//` comments,
 * free line breaks and spacing, operands and attributes in any order. Names, values, types
 * and sizes are spelled as in the graph IR: both parsers read them with one lexer and one
 * set of rules (`text-reader.ts`).
 */
import { MoecError, didYouMean, fail } from '../diagnostics.ts';
import { SourceFile } from '../source.ts';
import type { Dim } from '../dims.ts';
import type { AttrValue, Attrs } from '../graph/graph.ts';
import { type AttentionKernel, type AttentionSchedule, MLA_SCHEDULE_FORMS } from './attention.ts';
import type { MlaAttentionKernel } from './mla.ts';
import { KERNELS } from '../graph/interp-kernels.ts';
import { ACT_QUANTS, type ActQuant } from '../quant.ts';
import { ACT_FNS, BUFFER_KINDS, type DispatchKernel, type EpCombineKernel, type EpPlacement, EXCHANGE_PHASES, type ExchangePhase, type MicroBatch, type Epilogue, GLU_FNS, GLU_LAYOUTS, type GroupedGemmKernel, type KBuffer, type KProgram, type Kernel, type KernelThreads, type LoopStep, type MoeAlignKernel, type OpKernel, QUANT_DECODE_FORMS, type RouterKernel, type Step, type Tiling, VECTOR_KINDS } from './kernel.ts';
import { GRAPH_SECTION, KERNEL_IR_VERSION, TILE_SCHEDULE_KEYS } from './kprint.ts';
import { OpError, getOp, resolveAttrs } from '../graph/ops.ts';
import { parseIR } from '../graph/parse.ts';
import { TextReader, type Tok } from '../graph/text-reader.ts';

/**
 * Parses kernel IR text (graph section included) into a `KProgram`. Throws `MoecError`
 * (E401 for the kernel part; E401/E402 from `parseIR` for the graph part) with the text
 * attached, so `err.format()` shows `path:line:col` and the offending line.
 */
export function parseKernelIR(text: string, path = '<kernel-ir>'): KProgram {
  try {
    const sep = findGraphSection(text);
    if (sep === undefined)
      fail('E401', `expected a '${GRAPH_SECTION}' line followed by the graph module`, { file: path, start: text.length, end: text.length }, 'a kernel program ends with its graph module (weights and the pack function)');
    const p = new KernelParser(text, sep.start, path).program();
    // The graph text keeps its offsets: everything before it is blanked (newlines kept).
    const masked = text.slice(0, sep.end).replace(/[^\n]/g, ' ') + text.slice(sep.end);
    p.module = parseIR(masked, path);
    return p;
  } catch (e) {
    if (e instanceof MoecError) e.addSource(new SourceFile(path, text));
    throw e;
  }
}

/** The `-- graph --` line: where it starts, and where the graph text after it starts. */
function findGraphSection(text: string): { start: number; end: number } | undefined {
  let at = 0;
  while (at <= text.length) {
    const nl = text.indexOf('\n', at);
    const end = nl < 0 ? text.length : nl;
    if (text.slice(at, end).trim() === GRAPH_SECTION) return { start: at, end: nl < 0 ? end : end + 1 };
    if (nl < 0) return undefined;
    at = nl + 1;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Parser.

const HEADER_WORD = 'moec.kernel-ir';
const PUNCT = ['->', '(', ')', '[', ']', '{', '}', ',', ':', '=', '*', '+', '-', '@'];
const KERNEL_KINDS = ['router', 'moe_align', 'grouped_gemm', 'gemm', 'attention', 'mla_attention', 'op', 'loop', 'dispatch', 'ep_combine'];

/** A `key=value` entry with the token of its key, for errors. */
interface Entry<T> {
  value: T;
  key: Tok;
}

/** How a quantized weight buffer's `quant(...)` is written. */
const QUANT_HINT = 'write quant(scales=NAME, axis=N, group=N), with act=q8 last where the GEMMs round their activations';

class KernelParser extends TextReader {
  constructor(text: string, end: number, path: string) {
    super(text, path, { lex: { punct: PUNCT, words: [HEADER_WORD], end }, quantTypes: false, eof: `the '${GRAPH_SECTION}' section` });
  }

  /** `key=` */
  private expectKey(key: string): void {
    if (this.tok.kind !== 'name' || this.tok.text !== key) this.error(`expected ${key}=, found ${this.describe(this.tok)}`, QUANT_HINT);
    this.next();
    this.expect('=', `after ${key}`);
  }

  // --- program --------------------------------------------------------------------------

  program(): KProgram {
    const hint = `kernel IR text starts with '${HEADER_WORD} ${KERNEL_IR_VERSION}' and then 'program NAME'`;
    this.expectWord(HEADER_WORD, 'at the start of kernel IR text', hint);
    if (this.tok.kind !== 'number') this.error(`expected the format version after '${HEADER_WORD}', found ${this.describe(this.tok)}`, hint);
    const v = this.next();
    if (Number(v.text) !== KERNEL_IR_VERSION) this.error(`unsupported kernel IR format version ${v.text}`, `this moec reads version ${KERNEL_IR_VERSION}`, v);
    this.expectWord('program', `after '${HEADER_WORD} ${KERNEL_IR_VERSION}'`, hint);
    const p: KProgram = {
      name: this.name('the program name'),
      module: { name: '', dims: [], weights: [], funcs: [] },
      pack: '',
      buffers: [],
      steps: [],
      inputs: [],
      outputs: [],
    };
    for (const [word, field] of [
      ['max_tokens', 'maxTokens'],
      ['max_context', 'maxContext'],
      ['isa', 'isa'],
      ['arena', 'arenaBytes'],
      ['naive', 'naiveBytes'],
    ] as const)
      if (this.isWord(word)) {
        this.next();
        if (field === 'isa') p.isa = this.word(VECTOR_KINDS, "a vector kind after 'isa'");
        else if (field === 'arenaBytes') {
          p.arenaBytes = this.dim(true);
          if (this.isWord('parts')) {
            this.next();
            this.expect('(', "after 'parts'", 'write parts(BYTES, BYTES)');
            const parts: Dim[] = [];
            do parts.push(this.dim(true));
            while (this.accept(','));
            this.expect(')', 'to close parts(...)');
            p.arenaParts = parts;
          }
        } else p[field] = this.integer(`a whole number after '${word}'`);
      }
    this.expectWord('pack', 'after the program line', 'name the function that packs the weights: pack FUNC');
    p.pack = this.name('the pack function name');
    for (;;) {
      if (this.isWord('input') || this.isWord('output')) {
        const list = this.next().text === 'input' ? p.inputs : p.outputs;
        const name = this.name('a graph input or output name');
        this.expect('->', 'between the graph name and its buffer', 'write input NAME -> BUFFER');
        list.push({ name, buffer: this.name('a buffer name') });
      } else if (this.isWord('buffer')) {
        p.buffers.push(this.buffer());
      } else if (this.isWord('ranks') && !p.ep) {
        this.next();
        p.ep = { ranks: this.integer('the number of ranks after ranks'), placements: [] };
      } else if (this.isWord('placement') && p.ep) {
        p.ep.placements.push(this.placement(p.ep.ranks));
      } else break;
    }
    p.steps = this.steps(true);
    return p;
  }

  /** `placement NAME {experts=E, shared=S} slots([0, 2], [1, 3]) weights(BUFFER@AXIS, ...)` (after `ranks R`) */
  private placement(ranks: number): EpPlacement {
    const at = this.next();
    const hint = 'write placement NAME {experts=E, shared=S} slots([0, 2], [1, 3]) weights(BUFFER@AXIS, ...)';
    const name = this.name('a placement name');
    this.expect('{', 'after the placement name', hint);
    const r = new Reader(this, 'placement', at, new Map(), new Map(), this.entries('}'));
    const { experts, shared } = r.placementAttrs();
    this.expectWord('slots', 'after the placement attributes', hint);
    this.expect('(', "after 'slots'", hint);
    const slots: number[][] = [];
    do {
      this.expect('[', 'to open a rank\'s slots', hint);
      const list: number[] = [];
      if (!this.isPunct(']'))
        do list.push(this.accept('-') ? -this.integer('an expert') : this.integer('an expert (or -1 for an empty slot)'));
        while (this.accept(','));
      this.expect(']', 'to close a rank\'s slots', hint);
      slots.push(list);
    } while (this.accept(','));
    this.expect(')', 'to close slots(...)', hint);
    this.expectWord('weights', 'after slots(...)', hint);
    this.expect('(', "after 'weights'", hint);
    const weights: EpPlacement['weights'] = [];
    if (!this.isPunct(')'))
      do {
        const buffer = this.name('a weight buffer');
        this.expect('@', 'between the weight buffer and its expert axis', hint);
        weights.push({ buffer, axis: this.integer('the expert axis') });
      } while (this.accept(','));
    this.expect(')', 'to close weights(...)', hint);
    // Every expert needs a slot: a larger count is wrong, and would size the copies below by a number from the text.
    const held = slots.reduce((n, s) => n + s.length, 0);
    if (experts > held) this.error(`placement ${name} has ${experts} experts but only ${held} slots in all: every expert needs one`, hint, at);
    // The copies follow from the slots; the verifier checks what the slots say (placementProblem).
    const copies = Array.from({ length: experts }, () => [] as number[]);
    slots.forEach((list, rank) => list.forEach((e) => (e >= 0 && e < experts ? copies[e]!.push(rank) : undefined)));
    return { name, experts, shared, placement: { ranks, slotsPerRank: slots[0]?.length ?? 0, slots, copies }, weights };
  }

  /** `buffer NAME: TYPE KIND [@OFFSET] [+BYTES]` */
  private buffer(): KBuffer {
    this.next();
    const name = this.name('a buffer name');
    this.expect(':', 'and a type after the buffer name', 'write buffer NAME: f32[T, 8] temp');
    const type = this.type();
    const b: KBuffer = { name, dtype: type.dtype, shape: type.shape, kind: this.word(BUFFER_KINDS, 'a buffer kind') };
    if (this.tok.kind === 'name' && this.tok.text === 'quant') {
      this.next();
      this.expect('(', 'after quant', QUANT_HINT);
      this.expectKey('scales');
      const scales = this.name('the scales buffer');
      this.expect(',', 'after the scales buffer');
      this.expectKey('axis');
      const axis = this.integer('the reduction axis');
      this.expect(',', 'after the axis');
      this.expectKey('group');
      const group = this.integer('the group size');
      b.quant = { scales, axis, group };
      // `act=q8` (optional, last): the GEMMs reading this weight round their activations (quant.ts).
      if (this.accept(',')) {
        this.expectKey('act');
        const act = this.name('the activation rounding');
        if (!ACT_QUANTS.includes(act as ActQuant)) this.error(`act=${act}: no such activation rounding`, `act takes ${ACT_QUANTS.join(', ')}`);
        b.quant.act = act as ActQuant;
      }
      this.expect(')', 'to close quant(...)');
    }
    if (this.isWord('part')) {
      this.next();
      b.part = this.integer('the arena part');
    }
    if (this.accept('@')) b.offset = this.planned('the arena offset in bytes');
    if (this.accept('+')) b.bytes = this.planned('the size in bytes');
    return b;
  }

  /** A planned offset or size: a whole number, or `(a*T+b)`. */
  private planned(what: string): Dim {
    if (!this.accept('(')) return this.integer(what);
    const d = this.dim(true);
    this.expect(')', `to close ${what}`, 'write (a*T+b)');
    return d;
  }

  /** Steps until the end of the kernel text (`top`) or a closing `}`. */
  private steps(top: boolean): Step[] {
    const out: Step[] = [];
    for (;;) {
      if (top ? this.tok.kind === 'eof' : this.isPunct('}')) return out;
      if (!top && this.tok.kind === 'eof') this.error(`expected '}' to close the loop, found ${this.describe(this.tok)}`);
      out.push(this.step());
    }
  }

  private step(): Step {
    const t = this.tok;
    if (t.kind !== 'name' || !KERNEL_KINDS.includes(t.text)) {
      const late = t.kind === 'name' && ['buffer', 'input', 'output', 'pack', 'program'].includes(t.text);
      this.error(
        `expected a step (${KERNEL_KINDS.join(', ')}), found ${this.describe(t)}`,
        late ? 'declarations (input, output, buffer) come before the steps' : t.kind === 'name' ? didYouMean(t.text, KERNEL_KINDS) : undefined,
      );
    }
    this.next();
    switch (t.text) {
      case 'loop':
        return this.loop();
      case 'op':
        return this.opKernel();
      default:
        return this.kernel(t);
    }
  }

  /** `loop COUNT [init(a -> b, ...)] [slices(a -> b, ...)] [carried(a -> b, ...)] { steps }`, the lists in any order. */
  private loop(): LoopStep {
    const l: LoopStep = { kind: 'loop', count: this.integer('the loop count'), slices: [], carried: [], body: [] };
    const pairs = (what: string): Array<[string, string]> => {
      this.expect('(', `after '${what}'`);
      const out: Array<[string, string]> = [];
      if (!this.isPunct(')'))
        do {
          const a = this.name('a buffer name');
          this.expect('->', `in '${what}'`, what === 'slices' ? 'write slices(STACKED -> SLICE, ...)' : `write ${what}(FROM -> TO, ...)`);
          out.push([a, this.name('a buffer name')]);
        } while (this.accept(','));
      this.expect(')', `to close '${what}'`);
      return out;
    };
    const seen = new Set<string>();
    while (this.isWord('init') || this.isWord('slices') || this.isWord('carried')) {
      const t = this.next();
      if (seen.has(t.text)) this.error(`'${t.text}' is given twice`, undefined, t);
      seen.add(t.text);
      const list = pairs(t.text);
      if (t.text === 'slices') l.slices = list.map(([stacked, slice]) => ({ stacked, slice }));
      else if (t.text === 'carried') l.carried = list.map(([from, to]) => ({ from, to }));
      else l.init = list.map(([from, to]) => ({ from, to }));
    }
    this.expect('{', 'to open the loop body', 'a loop is written loop COUNT init(...) slices(...) carried(...) { steps }');
    l.body = this.steps(false);
    this.expect('}', 'to close the loop body');
    return l;
  }

  /** `op NAME(in, ...) -> (out, ...) [{attrs}]` */
  private opKernel(): Kernel {
    const opTok = this.tok;
    const op = this.name('an op name');
    const list = (what: string): string[] => {
      this.expect('(', what);
      const out: string[] = [];
      if (!this.isPunct(')'))
        do out.push(this.name('a buffer name'));
        while (this.accept(','));
      this.expect(')', 'to close the buffer list');
      return out;
    };
    const inputs = list(`after the op name ${op}`);
    this.expect('->', 'before the output buffers', 'write op NAME(in, ...) -> (out, ...) {attrs}');
    const outputs = list('for the output buffers');
    let attrs: Attrs = {};
    if (this.isPunct('{')) {
      this.next();
      for (const [k, e] of this.entries('}')) Object.defineProperty(attrs, k, { value: e.value, enumerable: true, writable: true, configurable: true });
    }
    const spec = getOp(op);
    if (spec) {
      try {
        attrs = resolveAttrs(spec, attrs);
      } catch (e) {
        if (!(e instanceof OpError)) throw e; // bad attributes stay for the verifier
      }
    } else this.error(`unknown op '${op}'`, didYouMean(op, Object.keys(KERNELS)), opTok);
    const k: OpKernel = { kind: 'op', op, attrs, inputs, outputs };
    const threads = this.threads();
    if (threads) k.threads = threads;
    return k;
  }

  /** `[threads(min_elems=N, workgroup=W)]` after a kernel. */
  private threads(): KernelThreads | undefined {
    if (!this.isWord('threads')) return undefined;
    const t = this.next();
    this.expect('(', "after 'threads'", 'write threads(min_elems=N) or threads(workgroup=W)');
    return new Reader(this, 'threads', t, new Map(), new Map(), this.entries(')')).threads();
  }

  /** `KIND(role=buf, ...) -> (role=buf, ...) {attrs} [epilogue[...]] [tile(...)]` */
  private kernel(kindTok: Tok): Kernel {
    const kind = kindTok.text;
    const roles = (context: string): Map<string, Entry<string>> => {
      this.expect('(', context, 'operands are written (role=buffer, ...)');
      const out = new Map<string, Entry<string>>();
      if (!this.isPunct(')'))
        do {
          const key = this.tok;
          const role = this.name('an operand role');
          if (out.has(role)) this.error(`the operand '${role}' is given twice`, undefined, key);
          this.expect('=', 'after the operand role', 'operands are written role=buffer');
          out.set(role, { value: this.name('a buffer name'), key });
        } while (this.accept(','));
      this.expect(')', 'to close the operands');
      return out;
    };
    const ins = roles(`after ${kind}`);
    this.expect('->', `before the results of ${kind}`, `write ${kind}(role=buffer, ...) -> (role=buffer, ...) {attrs}`);
    const outs = roles(`for the results of ${kind}`);
    this.expect('{', `to open the attributes of ${kind}`, 'a kernel lists its attributes in {...}, even when there are none');
    const attrs = this.entries('}');
    const r = new Reader(this, kind, kindTok, ins, outs, attrs);
    let epilogue: Epilogue[] = [];
    if (this.isWord('epilogue')) {
      this.next();
      epilogue = this.epilogue();
    }
    let tile: Tiling | undefined;
    if (this.isWord('tile')) {
      const t = this.next();
      this.expect('(', "after 'tile'");
      tile = new Reader(this, 'tile', t, new Map(), new Map(), this.entries(')')).tiling();
    }
    let k: Kernel;
    switch (kind) {
      case 'router':
        k = r.router(tile);
        break;
      case 'moe_align':
        k = r.moeAlign();
        break;
      case 'grouped_gemm':
        k = r.groupedGemm(epilogue, tile);
        break;
      case 'attention':
      case 'mla_attention':
        k = kind === 'attention' ? r.attention() : r.mla();
        if (this.isWord('schedule')) {
          const t = this.next();
          this.expect('(', "after 'schedule'", 'write schedule(key_tile=N, splits=N)');
          k.schedule = new Reader(this, 'schedule', t, new Map(), new Map(), this.entries(')')).attentionSchedule();
        }
        break;
      case 'dispatch':
        k = r.dispatch();
        break;
      case 'ep_combine':
        k = r.epCombine();
        break;
      default:
        k = r.gemm(epilogue, tile);
    }
    const attends = kind === 'attention' || kind === 'mla_attention';
    const untiled = kind === 'moe_align' || kind === 'dispatch' || kind === 'ep_combine' || attends;
    if (epilogue.length > 0 && (kind === 'router' || untiled)) this.error(`${kind} has no epilogue`, undefined, kindTok);
    if (tile && untiled) this.error(`${kind} is not tiled${attends ? ' (its schedule is schedule(key_tile=N, splits=N))' : ''}`, undefined, kindTok);
    const threads = this.threads();
    if (threads) k.threads = threads;
    return k;
  }

  /** `key=value, ...` up to `close` (consumed); keys are unique. */
  entries(close: string): Map<string, Entry<AttrValue>> {
    const out = new Map<string, Entry<AttrValue>>();
    if (!this.isPunct(close))
      do {
        const key = this.tok;
        const k = this.name('an attribute name');
        if (out.has(k)) this.error(`attribute '${k}' is given twice`, undefined, key);
        this.expect('=', 'after the attribute name', 'attributes are written name=value');
        out.set(k, { value: this.attrValue(), key });
      } while (this.accept(','));
    this.expect(close, 'to close the attributes');
    return out;
  }

  /** `[bias(b), act(silu), glu(swiglu, concat, limit=7, alpha=1.702), combine(w)]` */
  private epilogue(): Epilogue[] {
    this.expect('[', "after 'epilogue'");
    const out: Epilogue[] = [];
    if (!this.isPunct(']'))
      do {
        const kind = this.word(['bias', 'act', 'glu', 'combine'] as const, 'an epilogue');
        this.expect('(', `after ${kind}`);
        if (kind === 'bias') out.push({ kind, bias: this.name('the bias buffer') });
        else if (kind === 'combine') out.push({ kind, weights: this.name('the routing weights buffer') });
        else if (kind === 'act') out.push({ kind, fn: this.word(ACT_FNS, 'an activation') });
        else {
          const e: Extract<Epilogue, { kind: 'glu' }> = { kind, fn: this.word(GLU_FNS, 'a gated unit'), layout: 'concat' };
          this.expect(',', 'and the layout after the gated unit', 'write glu(swiglu, concat)');
          e.layout = this.word(GLU_LAYOUTS, 'a layout');
          while (this.accept(',')) {
            const key = this.word(['limit', 'alpha'] as const, 'limit= or alpha=');
            if (e[key] !== undefined) this.error(`'${key}' is given twice`, undefined, this.toks[this.pos - 1]);
            this.expect('=', `after '${key}'`);
            const at = this.tok;
            const v = this.attrValue();
            if (typeof v !== 'number') this.error(`'${key}' must be a number`, undefined, at);
            e[key] = v;
          }
          out.push(e);
        }
        this.expect(')', `to close ${kind}`);
      } while (this.accept(','));
    this.expect(']', 'to close the epilogue list');
    return out;
  }

  /** Reports at a token (for `Reader`). */
  fail(message: string, tok: Tok, hint?: string): never {
    return this.error(message, hint, tok);
  }
}

/**
 * Turns one kernel's parsed operands and attributes into its fields: each must be known,
 * present (unless optional) and of the right kind; errors point at the key (or the kernel).
 */
class Reader {
  constructor(
    private readonly p: KernelParser,
    private readonly kind: string,
    private readonly at: Tok,
    private readonly ins: Map<string, Entry<string>>,
    private readonly outs: Map<string, Entry<string>>,
    private readonly attrs: Map<string, Entry<AttrValue>>,
  ) {}

  private done(inRoles: string[], outRoles: string[], attrKeys: string[]): void {
    const check = <T>(m: Map<string, Entry<T>>, known: string[], what: string): void => {
      for (const [k, e] of m)
        if (!known.includes(k)) this.p.fail(`${this.kind} has no ${what} '${k}'`, e.key, didYouMean(k, known) ?? `its ${what}s are: ${known.join(', ') || 'none'}`);
    };
    check(this.ins, inRoles, 'operand');
    check(this.outs, outRoles, 'result');
    check(this.attrs, attrKeys, 'attribute');
  }

  private buf(m: Map<string, Entry<string>>, role: string): string {
    const e = m.get(role);
    if (!e) this.p.fail(`${this.kind} needs the ${m === this.outs ? 'result' : 'operand'} '${role}'`, this.at);
    return e.value;
  }

  private in(role: string): string {
    return this.buf(this.ins, role);
  }

  private out(role: string): string {
    return this.buf(this.outs, role);
  }

  private optIn(role: string): string | undefined {
    return this.ins.get(role)?.value;
  }

  private raw(key: string): Entry<AttrValue> {
    const e = this.attrs.get(key);
    if (!e) this.p.fail(`${this.kind} needs the attribute '${key}'`, this.at);
    return e;
  }

  private num(key: string): number {
    const e = this.raw(key);
    if (typeof e.value !== 'number') this.p.fail(`${this.kind}: '${key}' must be a number`, e.key);
    return e.value;
  }

  private int(key: string): number {
    const v = this.num(key);
    if (!Number.isInteger(v)) this.p.fail(`${this.kind}: '${key}' must be a whole number, got ${v}`, this.attrs.get(key)!.key);
    return v;
  }

  private bool(key: string): boolean {
    const e = this.raw(key);
    if (typeof e.value !== 'boolean') this.p.fail(`${this.kind}: '${key}' must be true or false`, e.key);
    return e.value;
  }

  private str<W extends string>(key: string, oneOf: readonly W[]): W {
    const e = this.raw(key);
    if (typeof e.value !== 'string' || !(oneOf as readonly string[]).includes(e.value))
      this.p.fail(`${this.kind}: '${key}' must be one of ${oneOf.map((s) => `"${s}"`).join(', ')}`, e.key);
    return e.value as W;
  }

  router(tile?: Tiling): RouterKernel {
    this.done(['x', 'w', 'bias', 'select_bias', 'shared_gate'], ['indices', 'weights'], ['experts', 'k', 'score', 'select', 'groups', 'topk_groups', 'group_score', 'post_softmax', 'normalize', 'scale', 'capacity_factor', 'shared']);
    const select = this.str('select', ['topk', 'group_topk'] as const);
    const group = ['groups', 'topk_groups', 'group_score'];
    if (select === 'topk')
      for (const g of group) if (this.attrs.has(g)) this.p.fail(`router: '${g}' is only for select="group_topk"`, this.attrs.get(g)!.key);
    const k: RouterKernel = {
      kind: 'router',
      x: this.in('x'),
      w: this.in('w'),
      indices: this.out('indices'),
      weights: this.out('weights'),
      experts: this.int('experts'),
      k: this.int('k'),
      score: this.str('score', ['softmax', 'sigmoid', 'none'] as const),
      select:
        select === 'topk'
          ? { kind: 'topk' }
          : { kind: 'group_topk', groups: this.int('groups'), topkGroups: this.int('topk_groups'), groupScore: this.str('group_score', ['sum_top2', 'max'] as const) },
      postSoftmax: this.bool('post_softmax'),
      normalize: this.bool('normalize'),
      scale: this.num('scale'),
      shared: this.int('shared'),
    };
    const bias = this.optIn('bias');
    const selectBias = this.optIn('select_bias');
    const sharedGate = this.optIn('shared_gate');
    if (bias !== undefined) k.bias = bias;
    if (selectBias !== undefined) k.selectBias = selectBias;
    if (sharedGate !== undefined) k.sharedGate = sharedGate;
    if (this.attrs.has('capacity_factor')) k.capacityFactor = this.num('capacity_factor');
    if (tile) k.tile = tile;
    return k;
  }

  moeAlign(): MoeAlignKernel {
    this.done(['indices'], ['sorted', 'block_expert', 'count'], ['experts', 'k', 'block']);
    const k: MoeAlignKernel = {
      kind: 'moe_align',
      indices: this.in('indices'),
      experts: this.int('experts'),
      k: this.int('k'),
      block: this.int('block'),
      sorted: this.out('sorted'),
      blockExpert: this.out('block_expert'),
      count: this.out('count'),
    };
    return k;
  }

  groupedGemm(epilogue: Epilogue[], tile?: Tiling): GroupedGemmKernel {
    this.done(['a', 'w', 'indices', 'sorted', 'block_expert', 'count', 'init'], ['out'], ['gather', 'trans_b', 'k', 'sorted_from_tokens']);
    const k: GroupedGemmKernel = {
      kind: 'grouped_gemm',
      a: this.in('a'),
      gather: this.bool('gather'),
      w: this.in('w'),
      transB: this.bool('trans_b'),
      sorted: this.in('sorted'),
      blockExpert: this.in('block_expert'),
      count: this.in('count'),
      k: this.int('k'),
      out: this.out('out'),
      epilogue,
      sortedFromTokens: this.int('sorted_from_tokens'),
      indices: this.in('indices'),
    };
    const init = this.optIn('init');
    if (init !== undefined) k.init = init;
    if (tile) k.tile = tile;
    return k;
  }

  placementAttrs(): { experts: number; shared: number } {
    this.done([], [], ['experts', 'shared']);
    return { experts: this.int('experts'), shared: this.int('shared') };
  }

  private text(key: string): string {
    const e = this.raw(key);
    if (typeof e.value !== 'string') this.p.fail(`${this.kind}: '${key}' must be a name in quotes`, e.key);
    return e.value;
  }

  /** `part=I, parts=N` (a micro-batch) and `phase="start"|"finish"`, each optional. */
  private exchange(): { part?: MicroBatch; phase?: ExchangePhase } {
    const out: { part?: MicroBatch; phase?: ExchangePhase } = {};
    if (this.attrs.has('part') || this.attrs.has('parts')) out.part = { index: this.int('part'), of: this.int('parts') };
    if (this.attrs.has('phase')) out.phase = this.str('phase', EXCHANGE_PHASES);
    return out;
  }

  dispatch(): DispatchKernel {
    this.done(['x', 'indices', 'weights'], ['rows', 'local', 'rweights', 'plan'], ['placement', 'k', 'routed', 'part', 'parts', 'phase']);
    return {
      ...this.exchange(),
      kind: 'dispatch',
      x: this.in('x'),
      indices: this.in('indices'),
      weights: this.in('weights'),
      rows: this.out('rows'),
      local: this.out('local'),
      rweights: this.out('rweights'),
      plan: this.out('plan'),
      placement: this.text('placement'),
      k: this.int('k'),
      routed: this.int('routed'),
    };
  }

  epCombine(): EpCombineKernel {
    this.done(['results', 'plan', 'init'], ['out'], ['placement', 'k', 'part', 'parts', 'phase']);
    const k: EpCombineKernel = { ...this.exchange(), kind: 'ep_combine', results: this.in('results'), plan: this.in('plan'), out: this.out('out'), placement: this.text('placement'), k: this.int('k') };
    const init = this.optIn('init');
    if (init !== undefined) k.init = init;
    return k;
  }

  gemm(epilogue: Epilogue[], tile?: Tiling): Kernel {
    this.done(['a', 'w'], ['out'], ['trans_b']);
    const k: Kernel = { kind: 'gemm', a: this.in('a'), w: this.in('w'), transB: this.bool('trans_b'), out: this.out('out'), epilogue };
    if (tile) k.tile = tile;
    return k;
  }

  /** `past=L`: a size. */
  private past(): Dim {
    const past = this.raw('past');
    if (typeof past.value !== 'number' && (typeof past.value !== 'object' || past.value === null || Array.isArray(past.value)))
      this.p.fail(`${this.kind}: 'past' must be a size, such as L`, past.key);
    return past.value as Dim;
  }

  mla(): MlaAttentionKernel {
    this.done(['q_nope', 'q_pe', 'kv', 'k_pe', 'kv_cache', 'pe_cache', 'wkv_b'], ['out'], ['scale', 'past']);
    return {
      kind: 'mla_attention',
      qNope: this.in('q_nope'),
      qPe: this.in('q_pe'),
      kv: this.in('kv'),
      kPe: this.in('k_pe'),
      kvCache: this.in('kv_cache'),
      peCache: this.in('pe_cache'),
      wkvB: this.in('wkv_b'),
      out: this.out('out'),
      scale: this.num('scale'),
      past: this.past(),
    };
  }

  attention(): AttentionKernel {
    this.done(['q', 'k', 'v', 'k_cache', 'v_cache', 'sinks'], ['out'], ['scale', 'window', 'past']);
    const k: AttentionKernel = {
      kind: 'attention',
      q: this.in('q'),
      k: this.in('k'),
      v: this.in('v'),
      kCache: this.in('k_cache'),
      vCache: this.in('v_cache'),
      out: this.out('out'),
      scale: this.num('scale'),
      window: this.int('window'),
      past: this.past(),
    };
    const sinks = this.optIn('sinks');
    if (sinks !== undefined) k.sinks = sinks;
    return k;
  }

  attentionSchedule(): AttentionSchedule {
    this.done([], [], ['key_tile', 'splits', 'head_block', 'form', 'query_block']);
    const s: AttentionSchedule = { keyTile: this.int('key_tile'), splits: this.int('splits') };
    if (this.attrs.has('head_block')) s.headBlock = this.int('head_block');
    if (this.attrs.has('query_block')) s.queryBlock = this.int('query_block');
    if (this.attrs.has('form')) s.form = this.str('form', MLA_SCHEDULE_FORMS);
    return s;
  }

  threads(): KernelThreads {
    this.done([], [], ['min_elems', 'workgroup']);
    const t: KernelThreads = {};
    if (this.attrs.has('min_elems')) t.minElems = this.int('min_elems');
    if (this.attrs.has('workgroup')) t.workgroup = this.int('workgroup');
    return t;
  }

  tiling(): Tiling {
    this.done([], [], ['m', 'n', 'k', 'mr', 'nr', 'vector', ...TILE_SCHEDULE_KEYS, 'stage', 'qdecode', 'prefetch', 'note']);
    const t: Tiling = { m: this.int('m'), n: this.int('n'), k: this.int('k'), mr: this.int('mr'), nr: this.int('nr'), vector: this.int('vector') };
    for (const key of TILE_SCHEDULE_KEYS) if (this.attrs.has(key)) t[key] = this.int(key);
    if (this.attrs.has('stage')) t.stage = this.str('stage', ['dma'] as const);
    if (this.attrs.has('qdecode')) t.qdecode = this.str('qdecode', QUANT_DECODE_FORMS);
    if (this.attrs.has('prefetch')) t.prefetch = this.int('prefetch');
    const note = this.attrs.get('note');
    if (note) {
      if (typeof note.value !== 'string') this.p.fail("tile: 'note' must be a string", note.key);
      t.note = note.value;
    }
    return t;
  }
}
