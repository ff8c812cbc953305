/**
 * @fileoverview Reads the kernel IR's text form (documented in `kprint.ts`) back into a
 * `KProgram`, and checks a program's well-formedness (`verifyKernelIR`), so lowering output,
 * hand-written kernel tests and dumps are held to one set of rules.
 *
 * Parsing is syntactic: every kernel's operands and attributes must be present, known and
 * of the right kind (E401 at `line:col` otherwise), but whether the buffers exist and fit
 * is the verifier's question, so invalid programs can be read, printed and diagnosed. The
 * graph module after `-- graph --` is read by `parseIR` (and verified by it: E401/E402),
 * with positions counted in the whole text. Leniency for hand-written text: `//` comments,
 * free line breaks and spacing, operands and attributes in any order.
 *
 * Verifier invariants (`verifyKernelIR`, one message per problem, in this order):
 *
 *  1. Buffers: unique names, a known kind, sizes that are declared dims of the module;
 *     `@offset` and `+bytes` whole and >= 0, an offset only on temps and outputs, a multiple
 *     of the element size, and `@offset + bytes` within the program's arena. A quantized
 *     weight (dtype i8, i4, fp8e4m3) has `quant(scales=.., axis=.., group=..)` and nothing
 *     else does: the axis within its rank, a positive group, an even last axis for i4, and
 *     a scales buffer declared as an f32 weight of the weight's shape with that axis
 *     replaced by ceil(size / group). Only GEMM weight roles (w, shared_gate) read it.
 *  2. Inputs and outputs: each names a declared buffer of kind `input` (resp. `output`),
 *     and every input (output) buffer is named by exactly one of them.
 *  3. Pack: a function of the module without parameters whose results are named after the
 *     weight buffers with their exact types, one per weight buffer (loop slices declared as
 *     buffers are views, not packed; a quantized result is codes and scales in one value,
 *     so scales buffers are not results of their own).
 *  4. Steps: every buffer a step names is declared (or a slice of an enclosing loop);
 *     results go to temps or outputs, weights roles read weights; no step reads a temp or
 *     output before some earlier step wrote it; every output is written by the end.
 *  5. Kernel contracts, where sizes can be compared symbolically: dtypes (i32 indices,
 *     float data), ranks and shapes (router indices/weights [T, k + shared], moe_align's
 *     sorted rows >= T*K + E*(block-1), GEMM widths through the epilogue chain, combine
 *     last, `init` only with combine, tile.m == the align block, a grouped GEMM reading
 *     another's rows uses the same sorted buffer and decode threshold), and `op` kernels
 *     re-infer to their output buffers' types through the op catalogue.
 *     Schedules: tile sizes, `rows`, `kc`, `panels`, `streams`, `prefetch` and `threads`
 *     min_elems positive, a `threads` workgroup a power of two; the micro-tile divides the
 *     tile (m % mr, n % nr), nr even under a glu on the C backend's vector kinds, the
 *     tile's vector a whole number of the program `isa`'s lanes, `rows` whole micro-tiles
 *     (a grouped GEMM's = m), `streams` only on a grouped GEMM, `stage` only with `kc`,
 *     `qdecode` only on a GEMM with a quantized weight, `prefetch` only with
 *     `qdecode="group_sum"`.
 *  6. Loops: a positive count; slices of declared buffers whose leading dim is the count; a
 *     slice is either not declared, or declared with exactly the slice's type and the
 *     stacked buffer's kind (a view either way, named only inside its loop), and never the
 *     name of an enclosing loop's slice (a quantized slice is declared, quantized like its
 *     stacked buffer, and its scales are the slice of the stacked scales); `init` and `carried` pairs join buffers of one type and write temps or outputs;
 *     `init` reads what was written before the loop, `carried` what the body writes.
 * Plus the graph module's own verifier (`verify.ts`), its messages prefixed `graph: `.
 *
 * Memory overlap of buffers live at the same time is the memory planner's to check.
 */
import { MoecError, didYouMean, fail } from '../compiler/diagnostics.ts';
import { SourceFile, type Span } from '../compiler/source.ts';
import { type Dim, DimError, dimAdd, dimEq, dimMul, dimNeg, dimSub, dimSymbols, isSym, shapeEq, shapeToString, sym } from './dims.ts';
import { type AttrValue, type Attrs, type Module, findFunc } from './graph.ts';
import { KERNELS } from './interp-kernels.ts';
import { FUSED_KERNELS } from './interp-fused.ts';
import type { BufferKind, Epilogue, GroupedGemmKernel, KBuffer, KProgram, Kernel, KernelThreads, LoopStep, MoeAlignKernel, OpKernel, RouterKernel, Step, Tiling } from './kernel.ts';
import { GLU_PAIRED_KINDS, QUANT_DECODE_FORMS, VECTOR_KINDS, VECTOR_LANES } from './kernel.ts';
import { GRAPH_SECTION, KERNEL_IR_VERSION, TILE_SCHEDULE_KEYS } from './kprint.ts';
import { OpError, getOp, inferOp, resolveAttrs } from './ops.ts';
import { parseIR } from './parse.ts';
import { printType } from './print.ts';
import { isQuantDType } from './quant.ts';
import { resolveQuant } from './quant-type.ts';
import { DTYPES, type DType, type TensorType, dtypeBytes, isDType, isFloatDType } from './types.ts';
import { verify } from './verify.ts';

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
// Lexer.

type TokKind = 'name' | 'number' | 'string' | 'punct' | 'eof';

interface Tok {
  kind: TokKind;
  /** Source text for names, numbers and punctuation; the decoded string for strings. */
  text: string;
  start: number;
  end: number;
}

const HEADER_WORD = 'moec.kernel-ir';
const NAME_RE = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*/y;
const NUMBER_RE = /[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const PUNCT = ['->', '(', ')', '[', ']', '{', '}', ',', ':', '=', '*', '+', '-', '@'];

/** Tokens of `text` up to `end` (the graph section). */
function lex(text: string, end: number, path: string): Tok[] {
  const toks: Tok[] = [];
  const span = (s: number, e: number): Span => ({ file: path, start: s, end: e });
  const match = (re: RegExp, at: number): string | undefined => {
    re.lastIndex = at;
    const m = re.exec(text);
    return m && at + m[0].length <= end ? m[0] : undefined;
  };
  let i = 0;
  while (i < end) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (text.startsWith('//', i)) {
      while (i < end && text[i] !== '\n') i++;
    } else if (text.startsWith(HEADER_WORD, i)) {
      toks.push({ kind: 'name', text: HEADER_WORD, start: i, end: i + HEADER_WORD.length });
      i += HEADER_WORD.length;
    } else if (c === '"') {
      let j = i + 1;
      while (j < end && text[j] !== '"' && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      if (j >= end || text[j] !== '"') fail('E401', 'unterminated string', span(i, j), 'close it with `"` on the same line');
      const literal = text.slice(i, j + 1);
      let value: string;
      try {
        value = JSON.parse(literal) as string;
      } catch {
        fail('E401', `invalid escape in string ${literal}`, span(i, j + 1), 'strings use JSON escapes: \\" \\\\ \\n \\t \\uXXXX');
      }
      toks.push({ kind: 'string', text: value, start: i, end: j + 1 });
      i = j + 1;
    } else if (/[0-9]/.test(c)) {
      const num = match(NUMBER_RE, i)!;
      const after = match(NAME_RE, i + num.length);
      if (after !== undefined)
        fail('E401', `a number cannot run into a name: '${num}${after}'`, span(i, i + num.length + after.length), `write ${num}*${after} for a multiple of a size`);
      toks.push({ kind: 'number', text: num, start: i, end: i + num.length });
      i += num.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const name = match(NAME_RE, i)!;
      toks.push({ kind: 'name', text: name, start: i, end: i + name.length });
      i += name.length;
    } else {
      const p = PUNCT.find((q) => text.startsWith(q, i));
      if (p === undefined) fail('E401', `unexpected character '${c}'`, span(i, i + 1));
      toks.push({ kind: 'punct', text: p, start: i, end: i + p.length });
      i += p.length;
    }
  }
  toks.push({ kind: 'eof', text: '', start: end, end });
  return toks;
}

function describe(t: Tok): string {
  if (t.kind === 'eof') return `the '${GRAPH_SECTION}' section`;
  if (t.kind === 'string') return JSON.stringify(t.text);
  return `'${t.text}'`;
}

// ---------------------------------------------------------------------------------------
// Parser.

const VALUE_WORDS = new Map<string, AttrValue>([
  ['true', true],
  ['false', false],
  ['null', null],
  ['Infinity', Infinity],
  ['NaN', NaN],
]);

const KINDS: readonly BufferKind[] = ['input', 'output', 'weight', 'temp'];
const KERNEL_KINDS = ['router', 'moe_align', 'grouped_gemm', 'gemm', 'op', 'loop'];
const ACT_FNS = ['relu', 'silu', 'gelu', 'gelu_tanh', 'sigmoid'] as const;
const GLU_FNS = ['swiglu', 'swiglu_clamped'] as const;
const GLU_LAYOUTS = ['concat', 'interleaved'] as const;

/** A `key=value` entry with the token of its key, for errors. */
interface Entry<T> {
  value: T;
  key: Tok;
}

class KernelParser {
  private readonly toks: Tok[];
  private pos = 0;

  constructor(
    text: string,
    end: number,
    private readonly path: string,
  ) {
    this.toks = lex(text, end, path);
  }

  // --- token helpers --------------------------------------------------------------------

  private get tok(): Tok {
    return this.toks[this.pos];
  }

  private next(): Tok {
    const t = this.toks[this.pos];
    if (t.kind !== 'eof') this.pos++;
    return t;
  }

  private isPunct(p: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === p;
  }

  private isWord(w: string): boolean {
    return this.tok.kind === 'name' && this.tok.text === w;
  }

  private accept(p: string): boolean {
    if (!this.isPunct(p)) return false;
    this.pos++;
    return true;
  }

  private expect(p: string, context: string, hint?: string): Tok {
    if (!this.isPunct(p)) this.error(`expected '${p}' ${context}, found ${describe(this.tok)}`, hint);
    return this.next();
  }

  private expectWord(w: string, context: string, hint?: string): Tok {
    if (!this.isWord(w)) this.error(`expected '${w}' ${context}, found ${describe(this.tok)}`, hint);
    return this.next();
  }

  private error(message: string, hint?: string, tok = this.tok): never {
    return fail('E401', message, { file: this.path, start: tok.start, end: Math.max(tok.end, tok.start + 1) }, hint);
  }

  /** `key=` */
  private expectKey(key: string): void {
    if (this.tok.kind !== 'name' || this.tok.text !== key) this.error(`expected ${key}=, found ${describe(this.tok)}`, 'write quant(scales=NAME, axis=N, group=N)');
    this.next();
    this.expect('=', `after ${key}`);
  }

  /** A name: a dotted identifier or a quoted string. */
  private name(what: string): string {
    if (this.tok.kind !== 'name' && this.tok.kind !== 'string') this.error(`expected ${what}, found ${describe(this.tok)}`);
    return this.next().text;
  }

  /** One of `words`, bare. */
  private word<W extends string>(words: readonly W[], what: string): W {
    const t = this.tok;
    if (t.kind !== 'name' || !(words as readonly string[]).includes(t.text))
      this.error(`expected ${what} (${words.join(', ')}), found ${describe(t)}`, t.kind === 'name' ? didYouMean(t.text, words) : undefined);
    return this.next().text as W;
  }

  private integer(what: string): number {
    const neg = this.accept('-');
    if (this.tok.kind !== 'number') this.error(`expected ${what}, found ${describe(this.tok)}`);
    const t = this.next();
    const v = Number(t.text) * (neg ? -1 : 1);
    if (!Number.isInteger(v)) this.error(`${what} must be a whole number, got ${t.text}`, undefined, t);
    return v;
  }

  // --- program --------------------------------------------------------------------------

  program(): KProgram {
    const hint = `kernel IR text starts with '${HEADER_WORD} ${KERNEL_IR_VERSION}' and then 'program NAME'`;
    this.expectWord(HEADER_WORD, 'at the start of kernel IR text', hint);
    if (this.tok.kind !== 'number') this.error(`expected the format version after '${HEADER_WORD}', found ${describe(this.tok)}`, hint);
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
      ['isa', 'isa'],
      ['arena', 'arenaBytes'],
      ['naive', 'naiveBytes'],
    ] as const)
      if (this.isWord(word)) {
        this.next();
        if (field === 'isa') p.isa = this.word(VECTOR_KINDS, 'a vector kind after \'isa\'');
        else p[field] = this.integer(`a whole number after '${word}'`);
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
      } else break;
    }
    p.steps = this.steps(true);
    return p;
  }

  /** `buffer NAME: TYPE KIND [@OFFSET] [+BYTES]` */
  private buffer(): KBuffer {
    this.next();
    const name = this.name('a buffer name');
    this.expect(':', 'and a type after the buffer name', 'write buffer NAME: f32[T, 8] temp');
    const type = this.type();
    const b: KBuffer = { name, dtype: type.dtype, shape: type.shape, kind: this.word(KINDS, 'a buffer kind') };
    if (this.tok.kind === 'name' && this.tok.text === 'quant') {
      this.next();
      this.expect('(', 'after quant', 'write quant(scales=NAME, axis=N, group=N)');
      this.expectKey('scales');
      const scales = this.name('the scales buffer');
      this.expect(',', 'after the scales buffer');
      this.expectKey('axis');
      const axis = this.integer('the reduction axis');
      this.expect(',', 'after the axis');
      this.expectKey('group');
      const group = this.integer('the group size');
      this.expect(')', 'to close quant(...)');
      b.quant = { scales, axis, group };
    }
    if (this.accept('@')) b.offset = this.integer('the arena offset in bytes');
    if (this.accept('+')) b.bytes = this.integer('the size in bytes');
    return b;
  }

  /** Steps until the end of the kernel text (`top`) or a closing `}`. */
  private steps(top: boolean): Step[] {
    const out: Step[] = [];
    for (;;) {
      if (top ? this.tok.kind === 'eof' : this.isPunct('}')) return out;
      if (!top && this.tok.kind === 'eof') this.error(`expected '}' to close the loop, found ${describe(this.tok)}`);
      out.push(this.step());
    }
  }

  private step(): Step {
    const t = this.tok;
    if (t.kind !== 'name' || !KERNEL_KINDS.includes(t.text)) {
      const late = t.kind === 'name' && ['buffer', 'input', 'output', 'pack', 'program'].includes(t.text);
      this.error(
        `expected a step (${KERNEL_KINDS.join(', ')}), found ${describe(t)}`,
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
      default:
        k = r.gemm(epilogue, tile);
    }
    if (epilogue.length > 0 && (kind === 'router' || kind === 'moe_align')) this.error(`${kind} has no epilogue`, undefined, kindTok);
    if (tile && kind === 'moe_align') this.error('moe_align is not tiled', undefined, kindTok);
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

  attrValue(): AttrValue {
    const t = this.tok;
    if (t.kind === 'string') return this.next().text;
    if (t.kind === 'name' && VALUE_WORDS.has(t.text)) {
      this.next();
      return VALUE_WORDS.get(t.text)!;
    }
    if (this.isPunct('-') && this.toks[this.pos + 1].kind === 'name' && this.toks[this.pos + 1].text === 'Infinity') {
      this.pos += 2;
      return -Infinity;
    }
    if (this.accept('[')) {
      const list: AttrValue[] = [];
      if (!this.isPunct(']'))
        do list.push(this.attrValue());
        while (this.accept(','));
      this.expect(']', 'to close the list');
      return list;
    }
    if (t.kind === 'number' || t.kind === 'name' || this.isPunct('-')) return this.dim(false);
    return this.error(`expected a value, found ${describe(t)}`, 'values are numbers, "strings", true, false, null, sizes like 2*T+1, or [lists]');
  }

  /** `f32[T, 8]` */
  private type(): TensorType {
    const t = this.tok;
    if (t.kind !== 'name') this.error(`expected a type such as f32[T, 8], found ${describe(t)}`);
    if (!isDType(t.text)) this.error(`unknown dtype '${t.text}'`, didYouMean(t.text, DTYPES) ?? `dtypes are ${DTYPES.join(', ')}`);
    this.next();
    this.expect('[', `after the dtype ${t.text}`, 'a scalar is written f32[]');
    const shape: Dim[] = [];
    if (!this.isPunct(']'))
      do shape.push(this.dim(true));
      while (this.accept(','));
    this.expect(']', 'to close the shape');
    return { dtype: t.text, shape };
  }

  /** A linear size expression (`8`, `T`, `2*T+1`, `-T+4`); outside shapes, also plain numbers. */
  private dim(wholeOnly: boolean): Dim {
    const neg = this.accept('-');
    let acc = this.dimTerm(wholeOnly);
    if (neg) acc = dimNeg(acc);
    while (this.isPunct('+') || this.isPunct('-')) {
      const minus = this.next().text === '-';
      const term = this.dimTerm(wholeOnly);
      acc = dimAdd(acc, minus ? dimNeg(term) : term);
    }
    return acc;
  }

  private dimTerm(wholeOnly: boolean): Dim {
    const t = this.tok;
    if (t.kind === 'number') {
      this.next();
      const k = Number(t.text);
      if (this.accept('*')) {
        const name = this.symbol();
        if (!Number.isInteger(k)) this.error(`the coefficient ${t.text} of ${name} must be a whole number`, undefined, t);
        return dimMul(k, sym(name));
      }
      if (wholeOnly && !Number.isInteger(k)) this.error(`a size must be a whole number, got ${t.text}`, undefined, t);
      return k;
    }
    const name = this.symbol();
    if (!this.accept('*')) return sym(name);
    return dimMul(sym(name), this.integer(`the coefficient of ${name}`));
  }

  private symbol(): string {
    if (this.tok.kind !== 'name' || VALUE_WORDS.has(this.tok.text)) this.error(`expected a size (a number or a dim name), found ${describe(this.tok)}`);
    return this.next().text;
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

  gemm(epilogue: Epilogue[], tile?: Tiling): Kernel {
    this.done(['a', 'w'], ['out'], ['trans_b']);
    const k: Kernel = { kind: 'gemm', a: this.in('a'), w: this.in('w'), transB: this.bool('trans_b'), out: this.out('out'), epilogue };
    if (tile) k.tile = tile;
    return k;
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

// ---------------------------------------------------------------------------------------
// Verifier.

/** What a step may name: a declared buffer, or a loop slice (a view with the stacked buffer's kind). */
interface BufInfo {
  name: string;
  dtype: DType;
  shape: Dim[];
  kind: BufferKind;
  quant?: KBuffer['quant'];
  /** The stacked buffer, for a loop slice. */
  sliceOf?: string;
}

/** Static facts gathered before checking steps: which step writes each align and GEMM result. */
interface Producers {
  align: Map<string, MoeAlignKernel>;
  gemm: Map<string, GroupedGemmKernel>;
}

/** Every problem of the program (invariants in the file header), as messages; empty when valid. */
export function verifyKernelIR(p: KProgram): string[] {
  const out: string[] = [];
  const report = (m: string): void => void out.push(m);
  const scope = checkBuffers(p, report);
  checkBoundaries(p, scope, report);
  checkPack(p, scope, loopSlices(p.steps), report);
  const producers: Producers = { align: new Map(), gemm: new Map() };
  collectProducers(p.steps, producers);
  const written = new Set<string>();
  for (const b of scope.values()) if (b.kind === 'input' || b.kind === 'weight') written.add(b.name);
  if (p.isa !== undefined && !VECTOR_KINDS.includes(p.isa)) report(`program: unknown vector kind isa ${p.isa} (${VECTOR_KINDS.join(', ')})`);
  new StepChecker(p.module, producers, loopSlices(p.steps), report, p.isa).steps(p.steps, scope, written, '');
  for (const o of p.outputs) if (scope.get(o.buffer)?.kind === 'output' && !written.has(o.buffer)) report(`output ${o.name}: no step writes its buffer ${o.buffer}`);
  for (const d of verify(p.module)) report(`graph: ${d.message}`);
  return out;
}

function typeStr(t: { dtype: DType; shape: readonly Dim[] }): string {
  return `${t.dtype}${shapeToString(t.shape)}`;
}

/** 1. Buffer declarations; returns the buffers by name (first declaration wins). */
function checkBuffers(p: KProgram, report: (m: string) => void): Map<string, BufInfo> {
  const scope = new Map<string, BufInfo>();
  const dims = new Set(p.module.dims.map((d) => d.name));
  for (const b of p.buffers) {
    const where = `buffer ${b.name}`;
    if (scope.has(b.name)) report(`${where} is declared twice`);
    else scope.set(b.name, { name: b.name, dtype: b.dtype, shape: b.shape, kind: b.kind, ...(b.quant ? { quant: b.quant } : {}) });
    checkQuantBuffer(p, b, report);
    if (!KINDS.includes(b.kind)) report(`${where} has the unknown kind '${b.kind}' (kinds are ${KINDS.join(', ')})`);
    if (!isDType(b.dtype)) report(`${where} has the unknown dtype '${b.dtype}'`);
    for (const d of b.shape) {
      if (!isSym(d) && !(Number.isInteger(d) && d >= 0)) report(`${where}: the size ${d} is not a whole number >= 0`);
      for (const s of dimSymbols(d)) if (!dims.has(s)) report(`${where}: ${typeStr(b)} uses the size ${s}, which the module does not declare`);
    }
    for (const [key, v] of [
      ['@offset', b.offset],
      ['+bytes', b.bytes],
    ] as const) {
      if (v === undefined) continue;
      if (key === '@offset' && b.kind !== 'temp' && b.kind !== 'output') report(`${where}: a${b.kind === 'input' ? 'n' : ''} ${b.kind} buffer has no arena offset (only temps and outputs live in the arena)`);
      if (!(Number.isInteger(v) && v >= 0)) report(`${where}: ${key} ${v} is not a whole number >= 0`);
    }
    // Backends and the arena interpreter view the arena as typed arrays at these offsets.
    if (b.offset !== undefined && isDType(b.dtype) && b.offset % dtypeBytes(b.dtype) !== 0)
      report(`${where}: @offset ${b.offset} is not a multiple of ${dtypeBytes(b.dtype)} bytes, the size of its ${b.dtype} elements`);
    if (b.offset !== undefined && b.bytes !== undefined && p.arenaBytes !== undefined && b.offset + b.bytes > p.arenaBytes)
      report(`${where}: bytes ${b.offset}..${b.offset + b.bytes} run past the end of the ${p.arenaBytes}-byte arena`);
  }
  return scope;
}

/** 2. Program inputs and outputs. */
function checkBoundaries(p: KProgram, scope: Map<string, BufInfo>, report: (m: string) => void): void {
  for (const [list, kind] of [
    [p.inputs, 'input'],
    [p.outputs, 'output'],
  ] as const) {
    const names = new Set<string>();
    const buffers = new Map<string, string>();
    for (const e of list) {
      if (names.has(e.name)) report(`${kind} ${e.name} is listed twice`);
      names.add(e.name);
      const b = scope.get(e.buffer);
      if (!b) report(`${kind} ${e.name}: no buffer named ${e.buffer}${hintName(e.buffer, scope)}`);
      else if (b.kind !== kind) report(`${kind} ${e.name}: buffer ${e.buffer} is a ${b.kind} buffer, expected kind ${kind}`);
      const other = buffers.get(e.buffer);
      if (other !== undefined) report(`${kind}s ${other} and ${e.name} both use buffer ${e.buffer}`);
      buffers.set(e.buffer, e.name);
    }
    // A loop slice of a stacked input (a layer's KV cache) is a view, named by its stack's line.
    const slices = loopSlices(p.steps);
    for (const b of scope.values())
      if (b.kind === kind && !buffers.has(b.name) && !slices.has(b.name)) report(`buffer ${b.name} is an ${kind} buffer but no ${kind} line names it`);
  }
}

/** 3. The pack function computes exactly the weight buffers. */
function checkPack(p: KProgram, scope: Map<string, BufInfo>, slices: Set<string>, report: (m: string) => void): void {
  const f = findFunc(p.module, p.pack);
  if (!f) return report(`pack: the module has no function named ${p.pack}${didYouMean(p.pack, p.module.funcs.map((g) => g.name)) ? ` (${didYouMean(p.pack, p.module.funcs.map((g) => g.name))})` : ''}`);
  if (f.params.length > 0) report(`pack: func ${f.name} takes ${f.params.length} parameters; the pack function reads only module weights`);
  const results = new Set<string>();
  for (const r of f.results) {
    results.add(r.name);
    const b = scope.get(r.name);
    if (!b) report(`pack: func ${f.name} returns ${r.name}, but no buffer has that name`);
    else if (b.kind !== 'weight') report(`pack: func ${f.name} returns ${r.name}, which is a ${b.kind} buffer, not a weight`);
    else if (r.value && (r.value.type.dtype !== b.dtype || !shapeEq(r.value.type.shape, b.shape)))
      report(`pack: func ${f.name} returns ${r.name} as ${typeStr(r.value.type)}, but the buffer is ${typeStr(b)}`);
    else if (r.value && !packedQuantMatches(r.value.type, b))
      report(`pack: func ${f.name} returns ${r.name} as ${printType(r.value.type)}, but the buffer is ${b.quant ? `quantized along axis ${b.quant.axis} in groups of ${b.quant.group}` : 'not quantized'}`);
  }
  // A quantized weight's scales come with its codes (`packedBuffers`): pack returns the pair as one value.
  const scales = new Set([...scope.values()].flatMap((b) => (b.quant ? [b.quant.scales] : [])));
  for (const b of scope.values()) if (b.kind === 'weight' && !results.has(b.name) && !slices.has(b.name) && !scales.has(b.name)) report(`buffer ${b.name} is a weight but func ${f.name} (pack) does not return it`);
}

/** A pack result's graph type agrees with its buffer on quantization (axis and group, resolved). */
function packedQuantMatches(t: TensorType, b: BufInfo): boolean {
  if (!t.quant || !b.quant) return !t.quant && !b.quant;
  if (t.shape.some(isSym)) return true; // reported elsewhere: weights have constant sizes
  const r = resolveQuant(t.quant, t.shape as number[]);
  return r.axis === b.quant.axis && r.group === b.quant.group;
}

/**
 * 1, for quantized weights: `quant` only on weight buffers of a quantized dtype (and every
 * such buffer has one), an axis within the rank, a positive group, an even last axis for
 * i4, and a scales buffer that is an f32 weight of the scales' shape.
 */
function checkQuantBuffer(p: KProgram, b: KBuffer, report: (m: string) => void): void {
  const where = `buffer ${b.name}`;
  if (!b.quant) {
    if (isQuantDType(b.dtype)) report(`${where} is ${typeStr(b)} but has no quant(scales=..., axis=..., group=...)`);
    return;
  }
  const q = b.quant;
  if (!isQuantDType(b.dtype)) return report(`${where} is ${typeStr(b)}; only i8, i4 and fp8e4m3 weights are quantized`);
  if (b.kind !== 'weight') report(`${where} is a quantized ${b.kind} buffer; only weights are quantized`);
  if (!(Number.isInteger(q.axis) && q.axis >= 0 && q.axis < b.shape.length)) return report(`${where}: quant axis ${q.axis} is not an axis of ${typeStr(b)}`);
  if (!(Number.isInteger(q.group) && q.group >= 1)) return report(`${where}: quant group ${q.group} is not a positive whole number`);
  const last = b.shape[b.shape.length - 1];
  if (b.dtype === 'i4' && typeof last === 'number' && last % 2 !== 0) report(`${where}: i4 codes pack two per byte along the last axis, which is ${last} (odd)`);
  const s = p.buffers.find((x) => x.name === q.scales);
  if (!s) return report(`${where}: its scales buffer ${q.scales} is not declared`);
  if (s.dtype !== 'f32' || s.kind !== 'weight') report(`${where}: its scales ${s.name} are ${typeStr(s)} ${s.kind}, expected an f32 weight`);
  const r = b.shape[q.axis];
  if (typeof r === 'number') {
    const want = b.shape.map((d, i) => (i === q.axis ? Math.ceil(r / q.group) : d));
    if (!shapeEq(s.shape, want)) report(`${where}: its scales ${s.name} are ${typeStr(s)}, expected f32${shapeToString(want)} (one per ${q.group} along axis ${q.axis})`);
  }
}

/** The slice names of every loop (declared as buffers or not). */
export function loopSlices(steps: readonly Step[], into = new Set<string>()): Set<string> {
  for (const s of steps)
    if (s.kind === 'loop') {
      for (const sl of s.slices) into.add(sl.slice);
      loopSlices(s.body, into);
    }
  return into;
}

function hintName(name: string, scope: Map<string, BufInfo>): string {
  const guess = didYouMean(name, scope.keys());
  return guess ? ` (${guess})` : '';
}

function collectProducers(steps: readonly Step[], into: Producers): void {
  for (const s of steps) {
    if (s.kind === 'loop') collectProducers(s.body, into);
    else if (s.kind === 'moe_align') into.align.set(s.sorted, s);
    else if (s.kind === 'grouped_gemm' && !s.epilogue.some((e) => e.kind === 'combine')) into.gemm.set(s.out, s);
  }
}

/** A dim that is a whole number >= 0 for every value >= 1 of its sizes (a cheap, sufficient test). */
function nonNegative(d: Dim): boolean | undefined {
  if (!isSym(d)) return d >= 0;
  if (d.terms.some(([, k]) => k < 0)) return undefined;
  return d.terms.reduce((acc, [, k]) => acc + k, d.c) >= 0;
}

/** 4–6. Steps, with the buffers in scope and the set of buffers written so far. */
class StepChecker {
  constructor(
    private readonly module: Module,
    private readonly producers: Producers,
    /** Every loop's slice names: a declared buffer among them is a view, bound only inside its loop. */
    readonly slices: Set<string>,
    private readonly report: (m: string) => void,
    /** The program's vector instruction set, which every tile's vector must be made of. */
    readonly isa?: KProgram['isa'],
  ) {}

  steps(steps: readonly Step[], scope: Map<string, BufInfo>, written: Set<string>, prefix: string): void {
    steps.forEach((s, i) => {
      const where = `step ${prefix}${i + 1} (${s.kind === 'loop' ? 'loop' : s.kind === 'op' ? `op ${s.op}` : s.kind})`;
      if (s.kind === 'loop') this.loop(s, scope, written, `${prefix}${i + 1}.`, where);
      else new KernelCheck(this, s, scope, written, where).run();
    });
  }

  private loop(l: LoopStep, outer: Map<string, BufInfo>, written: Set<string>, prefix: string, where: string): void {
    if (!(Number.isInteger(l.count) && l.count >= 1)) this.report(`${where}: the count ${l.count} is not a positive whole number`);
    for (const c of l.init ?? []) {
      const from = outer.get(c.from);
      const to = outer.get(c.to);
      if (!from) this.report(`${where}: init from ${c.from}, which is not a buffer${hintName(c.from, outer)}`);
      else if (!written.has(c.from)) this.report(`${where}: init reads ${c.from} before any step writes it`);
      this.pair('init', c, from, to, where);
    }
    for (const c of l.init ?? []) written.add(c.to);
    const scope = new Map(outer);
    const names = new Set<string>();
    for (const s of l.slices) {
      const st = outer.get(s.stacked);
      if (!st) {
        this.report(`${where}: slices ${s.stacked}, which is not a buffer${hintName(s.stacked, outer)}`);
        continue;
      }
      if (st.shape.length === 0 || !dimEq(st.shape[0], l.count))
        this.report(`${where}: ${s.stacked} is ${typeStr(st)}, but slicing it needs a leading size equal to the loop count ${l.count}`);
      const view: BufInfo = { name: s.slice, dtype: st.dtype, shape: st.shape.slice(1), kind: st.kind, sliceOf: s.stacked };
      const declared = outer.get(s.slice);
      if (st.quant) {
        // A quantized slice is declared, with the stacked scales sliced alongside it.
        const sq = declared?.quant;
        const pair = l.slices.find((x) => x.stacked === st.quant!.scales);
        if (!sq || sq.axis !== st.quant.axis - 1 || sq.group !== st.quant.group || !pair || pair.slice !== sq.scales)
          this.report(`${where}: ${s.slice} slices the quantized ${s.stacked}, so it must be declared quantized along axis ${st.quant.axis - 1} in groups of ${st.quant.group}, with ${st.quant.scales} sliced to its scales`);
        else view.quant = sq;
      }
      if (names.has(s.slice)) this.report(`${where}: the slice name ${s.slice} is given twice`);
      else if (declared?.sliceOf !== undefined) this.report(`${where}: the slice name ${s.slice} is already a slice of an enclosing loop`);
      else if (declared && (declared.dtype !== view.dtype || !shapeEq(declared.shape, view.shape) || declared.kind !== view.kind))
        this.report(`${where}: buffer ${s.slice} is declared ${typeStr(declared)} ${declared.kind}, but as a slice of ${s.stacked} it is ${typeStr(view)} ${view.kind}`);
      names.add(s.slice);
      scope.set(s.slice, view);
      if (written.has(s.stacked)) written.add(s.slice);
    }
    for (const c of l.carried) {
      const from = scope.get(c.from);
      if (!from) this.report(`${where}: carried from ${c.from}, which is not a buffer${hintName(c.from, scope)}`);
      this.pair('carried', c, from, outer.get(c.to), where);
    }
    this.steps(l.body, scope, written, prefix);
    for (const c of l.carried) {
      if (scope.has(c.from) && !written.has(c.from)) this.report(`${where}: carried ${c.from} -> ${c.to}, but the body never writes ${c.from}`);
      written.add(c.to);
    }
    for (const s of l.slices) written.delete(s.slice);
  }

  /** An `init` or `carried` copy: `to` exists, is a temp or output, and has `from`'s type. */
  private pair(what: string, c: { from: string; to: string }, from: BufInfo | undefined, to: BufInfo | undefined, where: string): void {
    if (!to) return this.report(`${where}: ${what} to ${c.to}, which is not a buffer of the enclosing scope`);
    if (from && (from.dtype !== to.dtype || !shapeEq(from.shape, to.shape)))
      this.report(`${where}: ${what} ${c.from} -> ${c.to} joins ${typeStr(from)} and ${typeStr(to)}; they must have the same type`);
    if (to.kind !== 'temp' && to.kind !== 'output') this.report(`${where}: ${what} ${c.from} -> ${c.to} writes a${to.kind === 'input' ? 'n' : ''} ${to.kind} buffer`);
  }

  problem(m: string): void {
    this.report(m);
  }

  align(sorted: string): MoeAlignKernel | undefined {
    return this.producers.align.get(sorted);
  }

  producerGemm(buffer: string): GroupedGemmKernel | undefined {
    return this.producers.gemm.get(buffer);
  }

  get graph(): Module {
    return this.module;
  }
}

type Role = 'read' | 'weight' | 'write';

/** The checks of one kernel. */
class KernelCheck {
  private readonly writes: string[] = [];

  constructor(
    private readonly c: StepChecker,
    private readonly k: Kernel,
    private readonly scope: Map<string, BufInfo>,
    private readonly written: Set<string>,
    private readonly where: string,
  ) {}

  private bad(m: string): void {
    this.c.problem(`${this.where}: ${m}`);
  }

  /** Looks a buffer up for a role; reports undeclared names, wrong kinds and reads before writes. */
  private use(role: string, name: string | undefined, how: Role): BufInfo | undefined {
    if (name === undefined) return undefined;
    const b = this.scope.get(name);
    if (!b) {
      this.bad(`${role} ${name} is not a declared buffer${hintName(name, this.scope)}`);
      return undefined;
    }
    if (b.sliceOf === undefined && this.c.slices.has(name)) {
      this.bad(`${role} ${name} is a loop's slice, bound only inside that loop`);
      return undefined;
    }
    if (how === 'write') {
      if (b.kind === 'input' || b.kind === 'weight') this.bad(`${role} ${name} is a${b.kind === 'input' ? 'n' : ''} ${b.kind} buffer; results go to temps or outputs`);
      this.writes.push(b.name);
    } else {
      if (how === 'weight' && b.kind !== 'weight') this.bad(`${role} ${name} is a ${b.kind} buffer, expected a weight`);
      if (!this.written.has(b.name)) this.bad(`${role} ${name} is read before any step writes it`);
    }
    return b;
  }

  /** A float buffer; for a GEMM weight role (w, shared_gate) also a quantized one. */
  private float(role: string, b: BufInfo | undefined): void {
    if (b?.quant && (role === 'w' || role === 'shared_gate')) return;
    if (b?.quant) return this.bad(`${role} ${b.name} is a quantized weight; only GEMM weights (w, shared_gate) are read dequantized`);
    if (b && !isFloatDType(b.dtype)) this.bad(`${role} ${b.name} is ${typeStr(b)}, expected a float tensor`);
  }

  private i32(role: string, b: BufInfo | undefined): void {
    if (b && b.dtype !== 'i32') this.bad(`${role} ${b.name} is ${typeStr(b)}, expected i32`);
  }

  /** Checks rank and the given dims (undefined: any). */
  private shape(role: string, b: BufInfo | undefined, want: Array<Dim | undefined>): boolean {
    if (!b) return false;
    const ok = b.shape.length === want.length && want.every((d, i) => d === undefined || dimEq(d, b.shape[i]));
    if (!ok) this.bad(`${role} ${b.name} is ${typeStr(b)}, expected ${b.dtype}[${want.map((d) => (d === undefined ? '_' : shapeToString([d]).slice(1, -1))).join(', ')}]`);
    return ok;
  }

  private positive(what: string, v: number): void {
    if (!(Number.isInteger(v) && v >= 1)) this.bad(`${what} = ${v} is not a positive whole number`);
  }

  run(): void {
    switch (this.k.kind) {
      case 'router':
        this.router(this.k);
        break;
      case 'moe_align':
        this.moeAlign(this.k);
        break;
      case 'grouped_gemm':
        this.groupedGemm(this.k);
        break;
      case 'gemm':
        this.gemm(this.k);
        break;
      case 'op':
        this.op(this.k);
        break;
      default:
        this.bad(`unknown kernel kind '${(this.k as { kind: string }).kind}'`);
    }
    if ('tile' in this.k && this.k.tile) this.tiling(this.k, this.k.tile);
    const th = this.k.threads;
    if (th?.minElems !== undefined) this.positive('threads min_elems', th.minElems);
    if (th?.workgroup !== undefined && !(Number.isInteger(th.workgroup) && th.workgroup >= 1 && (th.workgroup & (th.workgroup - 1)) === 0))
      this.bad(`threads workgroup = ${th.workgroup} is not a power of two`);
    for (const w of this.writes) this.written.add(w);
  }

  /** Sizes positive; the schedule consistent with the kernel and the program's vector kind. */
  private tiling(k: Kernel, t: Tiling): void {
    for (const key of ['m', 'n', 'k', 'mr', 'nr', 'vector', ...TILE_SCHEDULE_KEYS] as const) if (t[key] !== undefined) this.positive(`tile ${key}`, t[key]);
    if (t.m % t.mr !== 0 || t.n % t.nr !== 0) this.bad(`the micro-tile ${t.mr}x${t.nr} does not divide the tile ${t.m}x${t.n}`);
    const glu = 'epilogue' in k && k.epilogue.some((e) => e.kind === 'glu');
    if (glu && t.nr % 2 !== 0 && this.c.isa && GLU_PAIRED_KINDS.has(this.c.isa)) this.bad(`tile nr = ${t.nr} is odd, but an ${this.c.isa} glu micro-tile holds gate and up columns in pairs`);
    const lanes = this.c.isa && VECTOR_LANES[this.c.isa];
    if (lanes !== undefined && t.vector % lanes !== 0) this.bad(`tile vector = ${t.vector} is not a whole number of ${this.c.isa}'s ${lanes} lanes`);
    if (t.rows !== undefined && t.rows % t.mr !== 0) this.bad(`tile rows = ${t.rows} is not a whole number of mr = ${t.mr} rows`);
    if (t.streams !== undefined && k.kind !== 'grouped_gemm') this.bad('tile streams is for a grouped GEMM\'s decode path only');
    if (t.rows !== undefined && k.kind === 'grouped_gemm' && t.rows !== t.m) this.bad(`tile rows = ${t.rows}: a grouped GEMM passes over one padding block of m = ${t.m} rows`);
    if (t.stage !== undefined && t.kc === undefined) this.bad(`tile stage = ${t.stage} stages kc-deep chunks, but the tile has no kc`);
    const quantW = (k.kind === 'gemm' || k.kind === 'grouped_gemm') && this.scope.get(k.w)?.quant !== undefined;
    if (t.qdecode !== undefined && !quantW) this.bad(`tile qdecode = ${t.qdecode}, but the kernel's weight is not quantized`);
    if (t.prefetch !== undefined) {
      this.positive('tile prefetch', t.prefetch);
      if (t.qdecode !== 'group_sum') this.bad('tile prefetch is for the group_sum decode path only');
    }
  }

  private router(k: RouterKernel): void {
    const x = this.use('x', k.x, 'read');
    const w = this.use('w', k.w, 'weight');
    const bias = this.use('bias', k.bias, 'weight');
    const sb = this.use('select_bias', k.selectBias, 'weight');
    const gate = this.use('shared_gate', k.sharedGate, 'weight');
    const idx = this.use('indices', k.indices, 'write');
    const wts = this.use('weights', k.weights, 'write');
    this.positive('experts', k.experts);
    this.positive('k', k.k);
    if (k.k > k.experts) this.bad(`k = ${k.k} is more than the ${k.experts} experts`);
    if (!(Number.isInteger(k.shared) && k.shared >= 0)) this.bad(`shared = ${k.shared} is not a whole number >= 0`);
    if (k.sharedGate !== undefined && k.shared === 0) this.bad('a shared_gate without shared experts');
    if (k.capacityFactor !== undefined && !(k.capacityFactor > 0)) this.bad(`capacity_factor = ${k.capacityFactor} is not positive`);
    if (!Number.isFinite(k.scale)) this.bad(`scale = ${k.scale} is not a finite number`);
    if (k.select.kind === 'group_topk') {
      const { groups, topkGroups, groupScore } = k.select;
      this.positive('groups', groups);
      this.positive('topk_groups', topkGroups);
      if (k.experts % groups !== 0) this.bad(`${k.experts} experts do not split into ${groups} equal groups`);
      else {
        const per = k.experts / groups;
        if (topkGroups > groups) this.bad(`topk_groups = ${topkGroups} is more than groups = ${groups}`);
        if (k.k > topkGroups * per) this.bad(`k = ${k.k} is more than the ${topkGroups * per} experts of ${topkGroups} kept groups`);
        if (groupScore === 'sum_top2' && per < 2) this.bad(`group_score sum_top2 needs 2 experts per group, got ${per}`);
      }
    }
    for (const [r, b] of [
      ['x', x],
      ['w', w],
      ['bias', bias],
      ['select_bias', sb],
      ['shared_gate', gate],
      ['weights', wts],
    ] as const)
      this.float(r, b);
    this.i32('indices', idx);
    const t = x && this.shape('x', x, [undefined, undefined]) ? x.shape[0] : undefined;
    const d = x?.shape[1];
    this.shape('w', w, [k.experts, d]);
    this.shape('bias', bias, [k.experts]);
    this.shape('select_bias', sb, [k.experts]);
    this.shape('shared_gate', gate, [1, d]);
    this.shape('indices', idx, [t, k.k + k.shared]);
    this.shape('weights', wts, [t, k.k + k.shared]);
  }

  private moeAlign(k: MoeAlignKernel): void {
    const idx = this.use('indices', k.indices, 'read');
    const sorted = this.use('sorted', k.sorted, 'write');
    const be = this.use('block_expert', k.blockExpert, 'write');
    const count = this.use('count', k.count, 'write');
    this.positive('experts', k.experts);
    this.positive('k', k.k);
    this.positive('block', k.block);
    for (const [r, b] of [
      ['indices', idx],
      ['sorted', sorted],
      ['block_expert', be],
      ['count', count],
    ] as const)
      this.i32(r, b);
    this.shape('count', count, [1]);
    if (!this.shape('indices', idx, [undefined, k.k]) || !this.shape('sorted', sorted, [undefined]) || !this.shape('block_expert', be, [undefined])) return;
    const need = dimAdd(dimMul(idx!.shape[0], k.k), k.experts * (k.block - 1));
    if (nonNegative(dimSub(sorted!.shape[0], need)) === false)
      this.bad(`sorted ${sorted!.name} has ${shapeToString(sorted!.shape)} rows, fewer than T*K + E*(block-1) = ${shapeToString([need])}`);
    if (nonNegative(dimSub(dimMul(be!.shape[0], k.block), sorted!.shape[0])) === false)
      this.bad(`block_expert ${be!.name} ${shapeToString(be!.shape)} has fewer entries than the ${shapeToString(sorted!.shape)} sorted rows have blocks of ${k.block}`);
  }

  private groupedGemm(k: GroupedGemmKernel): void {
    const a = this.use('a', k.a, 'read');
    const w = this.use('w', k.w, 'weight');
    const idx = this.use('indices', k.indices, 'read');
    const sorted = this.use('sorted', k.sorted, 'read');
    const be = this.use('block_expert', k.blockExpert, 'read');
    const count = this.use('count', k.count, 'read');
    const init = this.use('init', k.init, 'read');
    const combine = this.epilogueUses(k.epilogue, true);
    const out = this.use('out', k.out, 'write');
    this.positive('k', k.k);
    if (!(Number.isInteger(k.sortedFromTokens) && k.sortedFromTokens >= 0)) this.bad(`sorted_from_tokens = ${k.sortedFromTokens} is not a whole number >= 0`);
    this.float('a', a);
    this.float('w', w);
    this.float('out', out);
    for (const [r, b] of [
      ['indices', idx],
      ['sorted', sorted],
      ['block_expert', be],
      ['count', count],
    ] as const)
      this.i32(r, b);
    const align = this.c.align(k.sorted);
    if (!align) this.bad(`sorted ${k.sorted} is not written by a moe_align step`);
    else {
      if (align.indices !== k.indices) this.bad(`indices ${k.indices} differ from the ${align.indices} that moe_align sorted into ${k.sorted}`);
      if (align.blockExpert !== k.blockExpert || align.count !== k.count)
        this.bad(`block_expert and count must be the ${align.blockExpert} and ${align.count} that moe_align wrote with ${k.sorted}`);
      if (align.k !== k.k) this.bad(`k = ${k.k}, but moe_align sorted ${align.k} choices per token`);
      if (k.tile && k.tile.m !== align.block) this.bad(`tile m = ${k.tile.m} differs from the moe_align block ${align.block}`);
      if (w && w.shape.length === 3 && !dimEq(w.shape[0], align.experts)) this.bad(`w ${w.name} has ${shapeToString([w.shape[0]])} experts, moe_align has ${align.experts}`);
    }
    if (!k.gather) {
      const prev = this.c.producerGemm(k.a);
      if (prev && (prev.sorted !== k.sorted || prev.sortedFromTokens !== k.sortedFromTokens))
        this.bad(`a ${k.a} holds rows laid out by another grouped_gemm (sorted ${prev.sorted}, sorted_from_tokens ${prev.sortedFromTokens}); this one must use the same`);
    }
    if (!w || !this.shape('w', w, [undefined, undefined, undefined])) return;
    const [n0, kd] = k.transB ? [w.shape[1], w.shape[2]] : [w.shape[2], w.shape[1]];
    const t = idx && this.shape('indices', idx, [undefined, k.k]) ? idx.shape[0] : undefined;
    const rows = sorted && this.shape('sorted', sorted, [undefined]) ? sorted.shape[0] : undefined;
    this.shape('a', a, [k.gather ? t : rows, kd]);
    const n = this.epilogueWidths(k.epilogue, n0, w.shape[0], t, k.k);
    if (combine) {
      this.shape('out', out, [t, n]);
      if (init && out && (init.dtype !== out.dtype || !shapeEq(init.shape, out.shape))) this.bad(`init ${init.name} is ${typeStr(init)}, out ${out.name} is ${typeStr(out)}; they must match`);
    } else {
      this.shape('out', out, [rows, n]);
      if (k.init !== undefined) this.bad('init is only for a grouped_gemm with a combine epilogue');
    }
  }

  private gemm(k: Extract<Kernel, { kind: 'gemm' }>): void {
    const a = this.use('a', k.a, 'read');
    const w = this.use('w', k.w, 'weight');
    this.epilogueUses(k.epilogue, false);
    const out = this.use('out', k.out, 'write');
    this.float('a', a);
    this.float('w', w);
    this.float('out', out);
    if (!a || !w || a.shape.length < 1 || !this.shape('w', w, [undefined, undefined])) {
      if (a && a.shape.length < 1) this.bad(`a ${a.name} is a scalar`);
      return;
    }
    const [n0, kd] = k.transB ? [w.shape[0], w.shape[1]] : [w.shape[1], w.shape[0]];
    this.shape('a', a, [...a.shape.slice(0, -1), kd]);
    const n = this.epilogueWidths(k.epilogue, n0, undefined, undefined, 0);
    this.shape('out', out, [...a.shape.slice(0, -1), n]);
  }

  /** Reads of the epilogue buffers; whether there is a combine (it must be last, once). */
  private epilogueUses(eps: readonly Epilogue[], grouped: boolean): boolean {
    eps.forEach((e, i) => {
      if (e.kind === 'bias') this.float('bias', this.use('bias', e.bias, 'weight'));
      if (e.kind === 'combine') {
        this.float('combine weights', this.use('combine weights', e.weights, 'read'));
        if (i !== eps.length - 1) this.bad('combine must be the last epilogue');
      }
      if (e.kind === 'act' && !ACT_FNS.includes(e.fn)) this.bad(`unknown activation '${e.fn}'`);
      if (e.kind === 'glu') {
        if (!GLU_FNS.includes(e.fn) || !GLU_LAYOUTS.includes(e.layout)) this.bad(`unknown gated unit glu(${e.fn}, ${e.layout})`);
        if (e.fn === 'swiglu_clamped' && (e.limit === undefined || e.alpha === undefined)) this.bad('glu(swiglu_clamped) needs limit and alpha');
        if (e.fn === 'swiglu' && (e.limit !== undefined || e.alpha !== undefined)) this.bad('glu(swiglu) takes no limit or alpha');
      }
    });
    const combines = eps.filter((e) => e.kind === 'combine').length;
    if (combines > 1) this.bad('more than one combine epilogue');
    if (combines > 0 && !grouped) this.bad('a dense gemm has no combine epilogue (it has no token slots)');
    return combines > 0;
  }

  /** The output width after the epilogue chain; checks bias and combine weight shapes on the way. */
  private epilogueWidths(eps: readonly Epilogue[], n0: Dim, experts: Dim | undefined, t: Dim | undefined, k: number): Dim {
    let n = n0;
    for (const e of eps) {
      if (e.kind === 'bias') this.shape('bias', this.scope.get(e.bias), experts === undefined ? [n] : [experts, n]);
      if (e.kind === 'combine') this.shape('combine weights', this.scope.get(e.weights), [t, k]);
      if (e.kind === 'glu') {
        if (isSym(n) || n % 2 !== 0) this.bad(`glu needs an even, concrete width, got ${shapeToString([n])}`);
        else n = n / 2;
      }
    }
    return n;
  }

  private op(k: Extract<Kernel, { kind: 'op' }>): void {
    const ins = k.inputs.map((name, i) => this.use(`input ${i + 1}`, name, 'read'));
    const outs = k.outputs.map((name, i) => this.use(`output ${i + 1}`, name, 'write'));
    if (!(KERNELS[k.op] ?? FUSED_KERNELS[k.op]) || k.op === 'weight' || k.op === 'repeat' || !getOp(k.op)) {
      this.bad(
        k.op === 'weight' || k.op === 'repeat'
          ? `${k.op} is not a kernel (weights are buffers, repeats are loops)`
          : `unknown op '${k.op}'${didYouMean(k.op, Object.keys(KERNELS)) ? ` (${didYouMean(k.op, Object.keys(KERNELS))})` : ''}`,
      );
      return;
    }
    if (ins.some((b) => !b) || outs.some((b) => !b)) return;
    const q = ins.find((b) => b!.quant);
    if (q) return this.bad(`op ${k.op} reads the quantized weight ${q.name}; only GEMM and router kernels dequantize`);
    let types: TensorType[];
    try {
      types = inferOp(k.op, ins.map((b) => ({ dtype: b!.dtype, shape: b!.shape })), k.attrs, this.c.graph).types;
    } catch (e) {
      if (e instanceof OpError || e instanceof DimError) return this.bad(e.message);
      throw e;
    }
    if (types.length !== outs.length) return this.bad(`${k.op} gives ${types.length} results but ${outs.length} output buffers are named`);
    types.forEach((t, i) => {
      const b = outs[i]!;
      if (t.dtype !== b.dtype || !shapeEq(t.shape, b.shape)) this.bad(`output ${b.name} is ${typeStr(b)} but ${k.op} gives ${typeStr(t)}`);
    });
  }
}
