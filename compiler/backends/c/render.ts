/**
 * @fileoverview The C backend's renderer: a planned kernel program -> `MODEL.h` and `MODEL.c`.
 *
 * This file turns each kernel into a *view* (its constants, operand expressions, epilogue
 * steps) and hands the views to the Handlebars templates in `targets/c/`: one template per
 * kernel kind, shared partials for the runtime, the epilogue chain and the steps of
 * `forward`. Nothing here decides a schedule: the vector ISA comes from the program's `isa`,
 * micro-tile shapes, cache blocking (rows, depth chunk, panels per pass), DMA staging and the quantized
 * decode form (group sums, prefetch distance) from each kernel's `Tiling`, ops' thread split
 * from the kernel's `threads`, the token block and the decode-vs-sorted threshold from `moe_align` and
 * the grouped GEMM, offsets from the memory plan, weight panels from `layout.ts`. This file
 * only knows how to spell each ISA in C.
 */
import { createHash } from 'node:crypto';
import { type Dim, evalShape, isSym } from '../../../ir/dims.ts';
import type { Epilogue, GemmKernel, GroupedGemmKernel, KBuffer, KProgram, Kernel, LoopStep, MoeAlignKernel, OpKernel, RouterKernel, Step, Tiling, VectorKind } from '../../../ir/kernel/kernel.ts';
import { type QuantDType, codeBytes, isQuantDType } from '../../../ir/quant.ts';
import { isIntDType } from '../../../ir/tensor.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { alignsBySorted, bufferResolver, forEachKernel } from '../../../ir/kernel/walk.ts';
import { atTokens } from '../../../ir/kernel/memory.ts';
import { cannotRun } from '../cannot-run.ts';
import { cConcat, cElementwise } from './elementwise.ts';
import { CHAIN_OPS } from '../../../ir/graph/elementwise.ts';
import { AXIS_OPS, axisLoop } from '../../../ir/graph/axis-ops.ts';
import { cAxisOp } from './axis-ops.ts';
import { cEmbedding, cRope } from './decoder.ts';
import { type CTemplates, cTemplates } from './templates.ts';
import { packageVersion } from '../../io/package-root.ts';
import { type TargetCaps, programVectorKind, vectorKindOf } from '../../target/caps.ts';
import { type CWeightLayout, type PanelSpec, checkQuant, cWeightLayout, microWidth, packedMatrixBytes, panelCount, panelRowElems } from './layout.ts';
import { codeCType, codeName, portableDecode, quantHelpers, vectorCodeBytes } from './quant.ts';
import { CONTEXT_DIM } from '../../../ir/kernel/attention.ts';
import { C_PAST, attentionView, mlaView } from './attention.ts';
import { refuseInputCaches } from '../state-caches.ts';
import { type EpRenderContext, dispatchView, epCombineView, tokenCount } from './render-ep.ts';

export interface CSources {
  /** File stem: `mixtral_moe` -> `mixtral_moe.h`, `mixtral_moe.c`. */
  file: string;
  header: string;
  source: string;
  /** A runner program (`FILE_main.c`): forward from files, timings, guard checks. */
  main: string;
  layout: CWeightLayout;
  /** C identifiers of the inputs and outputs, in the order of `forward`'s parameters. */
  /** `int`: an i32 tensor, passed as int32 (files of raw int32), else float32. */
  inputs: Array<{ name: string; int: boolean; floats: (T: number) => number; shape: (T: number) => number[] }>;
  outputs: Array<{ name: string; int: boolean; floats: (T: number) => number; shape: (T: number) => number[] }>;
  /** With state (KV caches): the context bound; `forward` then takes L and the cache region. */
  maxContext?: number;
  /** The state buffers in the order of the cache region (each `ALIGN`-aligned after the one before). */
  stateRegions: string[];
}

// ---------------------------------------------------------------------------------------
// Small helpers.

/** A C identifier from a moec name. */
function ident(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/**
 * The longest model prefix. It names the files (`PREFIX.c`, `PREFIX_main.c`, a cache
 * directory `PREFIX-KEY`) and starts every C symbol; a 240-character model name passed the
 * file system's 255-byte limit on a name (ENAMETOOLONG in the build cache). A longer name
 * keeps its start and a hash of the whole, so two long names still differ.
 */
const MAX_PREFIX = 48;

function modelPrefix(name: string): string {
  const s = ident(name).toLowerCase();
  if (s.length <= MAX_PREFIX) return s;
  return `${s.slice(0, MAX_PREFIX - 9)}_${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

/**
 * Experts up to which a router computes its f32 logits a block of tokens at a time: the block
 * (8 tokens x experts doubles) sits on the stack, 32 KiB at this bound.
 */
const MAX_BLOCK_LOGIT_EXPERTS = 512;

/**
 * Names `forward` and the runner use themselves, and C's keywords (an output named `const`
 * made the C unparsable), which a model's inputs and outputs must not take.
 */
const RESERVED = new Set([
  ...['weights', 'T', 'arena', 'threads', 'W', 'A', 'g', 'i', 'rc', 'bad', 'repeat', 'main', 'argc', 'argv'],
  ...[C_PAST, 'cache', 'max_context', 'C', 'cache_at', 'cache_size'],
  // The persistent runner's own (main.c.hbs `serve`).
  ...['w', 'hdr', 'ms', 't0', 'arena_size', 'serve', 'read_all', 'write_all', 'guard_broken', 'set_guard', 'greedy_value', 'greedy_pick', 'greedy_best', 'greedy_lp'],
  ...['auto', 'break', 'case', 'char', 'const', 'continue', 'default', 'do', 'double', 'else', 'enum', 'extern', 'float', 'for', 'goto', 'if', 'inline', 'int', 'long'],
  ...['register', 'restrict', 'return', 'short', 'signed', 'sizeof', 'static', 'struct', 'switch', 'typedef', 'union', 'unsigned', 'void', 'volatile', 'while'],
  ...['_Alignas', '_Alignof', '_Atomic', '_Bool', '_Complex', '_Generic', '_Imaginary', '_Noreturn', '_Static_assert', '_Thread_local'],
]);

/** The C parameter name of a model input or output. */
function ioName(name: string): string {
  const s = ident(name);
  return RESERVED.has(s) ? `${s}_` : s;
}

/** A C double literal. */
function cNum(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`C backend: constant ${x} is not finite`);
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/**
 * A dim as a C `size_t` expression in the token count `t` (and a state cache's context:
 * `forward`'s max_context; and, given `past`, the size that names the cached positions:
 * `forward`'s L, as rope's position offset of a decoder with state).
 */
function cDim(d: Dim, t: string, past?: string): string {
  if (!isSym(d)) return `(size_t)${d}`;
  const parts = d.terms.map(([name, k]) => {
    if (name !== 'T' && name !== CONTEXT_DIM && name !== past) fail('E701', `the C backend binds only the token count T; bind the size \`${name}\` with --set`);
    const v = name === CONTEXT_DIM ? 'max_context' : name === past ? C_PAST : t;
    return k === 1 ? `(size_t)(${v})` : `(size_t)${k} * (size_t)(${v})`;
  });
  if (d.c !== 0) parts.push(`(size_t)${d.c}`);
  return `(${parts.join(' + ')})`;
}

function cElems(shape: readonly Dim[], t: string): string {
  return shape.length === 0 ? '(size_t)1' : shape.map((d) => cDim(d, t)).join(' * ');
}

function evalElems(shape: readonly Dim[], T: number): number {
  return shape.reduce<number>((n, d) => n * (isSym(d) ? d.terms.reduce((s, [, k]) => s + k * T, d.c) : d), 1);
}

function concrete(d: Dim, what: string): number {
  if (isSym(d)) fail('E701', `the C backend needs a fixed size for ${what}, not one that depends on the token count`);
  return d;
}

// ---------------------------------------------------------------------------------------
// The renderer.

interface BufInfo {
  buf: KBuffer;
  cvar: string;
  /** Element type in C (quantized weights: their code bytes). */
  ctype: string;
  /** Floats per leading index, for loop slices of stacked buffers (packed size for panelled weights). */
  rowElems: string;
}

class CRenderer {
  private readonly bufs = new Map<string, BufInfo>();
  private readonly used = new Set<string>();
  private readonly stackedOf = new Map<string, string>();
  private readonly kernels: Array<Record<string, unknown>> = [];
  private readonly kernelList: string[] = [];
  private readonly micros = new Map<string, Record<string, unknown>>();
  /** W8A8 micro-kernels by `${mr}x${w}`. */
  /** Some kernel rounds activations to int8 (W8A8): the a8 helpers are emitted (a8.c.hbs). */
  private a8Helpers = false;
  private readonly a8Micros = new Map<string, { mr: number; w: number; cg: number; w16: number; vnni?: boolean }>();
  private readonly math: Record<string, boolean> = {};
  /** The program looks token ids up (an embedding): forward has the error code for a bad id. */
  private tokenIds = false;
  /** The program indexes by computed indices (gather, moe_dispatch, grouped_matmul, moe_combine): forward has the error code for a bad one. */
  private indexChecks = false;
  private readonly aligns: ReadonlyMap<string, MoeAlignKernel>;
  /** Buffers by name, loop slices resolved (with their stacked buffer's kind). */
  private readonly resolve: (name: string) => KBuffer;
  /** Quantized dtypes the GEMM micro-kernels and the routers decode. */
  private readonly quantGemm = new Set<QuantDType>();
  private readonly quantRouter = new Set<QuantDType>();
  private readonly prefix: string;
  private readonly PREFIX: string;
  /** The vector ISA the micro-kernels are written in (none: portable C only). */
  private readonly isa: Isa | undefined;
  /** Some GEMM stages its weight tiles through a scratchpad by DMA (the runtime then defines the DMA macros). */
  private readonly dma: boolean;
  /** With state: the size naming the cached positions (`L`), which `forward` takes. */
  private readonly past: string | undefined;

  constructor(
    private readonly p: KProgram,
    private readonly target: TargetCaps,
    private readonly layout: CWeightLayout,
  ) {
    this.prefix = modelPrefix(p.name);
    this.PREFIX = this.prefix.toUpperCase();
    this.past = pastSize(p);
    this.isa = programIsa(p, target);
    const kernels = kernelsOf(p.steps);
    this.dma = kernels.some(staged);
    p.buffers.forEach((b, i) => {
      const quant = isQuantDType(b.dtype);
      if (quant && b.kind !== 'weight') fail('E701', `the C backend reads quantized (${b.dtype}) buffers only as weights, not ${b.name}`);
      if (b.dtype !== 'f32' && !quant && !isIntDType(b.dtype)) fail('E701', `the C backend handles f32, i32 and quantized weight buffers, not ${b.name}: ${b.dtype}`);
      const spec = layout.specs.get(b.name);
      const elemBytes = spec?.codes ? 1 : 4;
      const rowElems =
        spec && b.shape.length > 0
          ? String((spec.matrices * packedMatrixBytes(spec)) / elemBytes / concrete(b.shape[0], b.name))
          : quant
            ? String(codeBytes(b.dtype as QuantDType, b.shape.slice(1).map((d) => concrete(d, b.name))))
            : cElems(b.shape.slice(1), 'T');
      const ctype = quant ? codeCType(b.dtype as QuantDType) : isIntDType(b.dtype) ? 'int' : 'float';
      this.bufs.set(b.name, { buf: b, cvar: `b${i}_${ident(b.name)}`, ctype, rowElems });
    });
    this.aligns = alignsBySorted(p.steps);
    this.resolve = bufferResolver(p);
  }

  private v(name: string): string {
    const b = this.bufs.get(name);
    if (!b) throw new Error(`C backend: no buffer ${name}`);
    this.used.add(name);
    return b.cvar;
  }

  private shape(name: string): readonly Dim[] {
    return this.bufs.get(name)!.buf.shape;
  }

  /** The panel spec of the (possibly sliced) weight buffer `name`. */
  private spec(name: string): PanelSpec {
    const s = this.layout.specs.get(this.stackedOf.get(name) ?? name);
    if (!s) throw new Error(`C backend: weight ${name} has no panel layout`);
    return s;
  }

  /**
   * The scales buffer of a quantized (possibly sliced) weight, checked for what the kernels
   * read: scales along the reduction axis `axisFromEnd` from the end (1: last, 2: second-last).
   */
  private quantOf(name: string, axisFromEnd: number): { dtype: QuantDType; scales: string; group: number } | undefined {
    const b = this.bufs.get(name)!.buf;
    if (!isQuantDType(b.dtype)) return undefined;
    const stacked = this.stackedOf.get(name);
    const q = checkQuant(b, b.shape.length - axisFromEnd, 2, b.quant ?? (stacked ? this.sliceQuant(stacked) : undefined));
    if (!this.bufs.has(q.scales)) fail('E701', `the scales buffer ${q.scales} of ${name} is not in the program`);
    return q;
  }

  /** A slice of a stacked quantized weight: its scales are the slice of the stacked scales in the same loop. */
  private sliceQuant(stacked: string): KBuffer['quant'] {
    const sq = this.bufs.get(stacked)?.buf.quant;
    if (!sq) return undefined;
    const slice = [...this.stackedOf].find(([sl, st]) => st === sq.scales && this.bufs.has(sl))?.[0];
    return slice ? { ...sq, scales: slice, axis: sq.axis - 1 } : undefined;
  }

  /**
   * Registers the micro-kernel of `mr` rows × `w` columns (for `q` codes). A one-row kernel's
   * several-panel decode form comes from the GEMMs that run it (`decode`: their tile's panel
   * streams and, quantized, its scale form and prefetch): the first to ask sets it, and
   * another asking for a different form is refused (one function).
   */
  private micro(mr: number, w: number, q?: QuantDType, span = 2, decode?: DecodePath): string {
    const name = `moec_micro_${q ? `${codeName(q)}_` : ''}${mr}x${w}`;
    const key = `${q ?? 'f32'}:${mr}x${w}`;
    const old = this.micros.get(key);
    if (old) {
      if (decode && old.decodeForm === undefined) Object.assign(old, decodeView(decode, old.simd !== undefined));
      else if (decode && JSON.stringify(old.decodeForm) !== JSON.stringify(decode)) fail('E701', `two GEMMs decode ${q ?? 'f32'} weights ${w} columns wide in different forms`, undefined, 'tile the program again: the tiler gives every one the same form');
      return name;
    }
    const isa = this.isa;
    const simd = isa && w % isa.lanes === 0 ? isa : undefined;
    const lanes = simd?.lanes ?? 1;
    if (q) this.quantGemm.add(q);
    this.micros.set(key, {
      mr,
      w,
      simd,
      ...(q
        ? {
            q: codeName(q),
            ctype: codeCType(q),
            rowStride: q === 'i4' ? w / 2 : w,
            decode: portableDecode(q, 'b', 'v', span),
          }
        : {}),
      // A one-row micro-kernel (decode) also comes in a several-panel form (more memory
      // streams), in the form its GEMMs' tiles name.
      stream: false,
      ...(decode ? decodeView(decode, simd !== undefined) : {}),
      accs: (mr * w) / lanes,
      rows: Array.from({ length: mr }, (_, r) => ({ r })),
      vecs: Array.from({ length: w / lanes }, (_, v) => ({ v, off: v * lanes, boff: q ? v * vectorCodeBytes(q, lanes) : 0 })),
    });
    return name;
  }

  /**
   * Whether GEMM `k` rounds its activations to int8 (its i8 weight says `act=q8`, W8A8): then
   * its view uses the a8 kernels (a8.c.hbs). Checked here: what those kernels assume.
   */
  private actQuant(k: GemmKernel | GroupedGemmKernel, group: number, kd: number, kc: number): boolean {
    const b = this.bufs.get(k.w)!.buf;
    if (this.actOf(k.w) === undefined) return false;
    this.a8Helpers = true;
    if (b.dtype !== 'i8' || ![32, 64, 128].includes(group) || kd % 32 !== 0 || kc % 32 !== 0 || staged(k))
      fail('E701', `the C backend rounds activations to int8 only for i8 weights in groups of 32, 64 or 128 (not per channel) over a depth (and depth chunk) that is a multiple of 32, not staged by DMA: ${k.w} is ${b.dtype} in groups of ${group}, depth ${kd}, chunk ${kc}`, undefined, 'quantize with --quantize w8a8 (i8, groups of 32) a model whose GEMM depths are multiples of 32');
    return true;
  }

  /** The activation rounding (`act`) of weight `name` (a loop slice: its stacked buffer's). */
  private actOf(name: string): 'q8' | undefined {
    const stacked = this.stackedOf.get(name);
    return this.bufs.get(name)?.buf.quant?.act ?? (stacked ? this.bufs.get(stacked)?.buf.quant?.act : undefined);
  }

  /** Registers the W8A8 micro-kernel of `mr` rows x `w` columns (a8.c.hbs). */
  private a8Micro(mr: number, w: number): string {
    const key = `${mr}x${w}`;
    if (!this.a8Micros.has(key)) {
      // Columns in groups of cg vectors of 8: mr x cg int32 sums plus cg weight vectors within the 16 ymm registers.
      const vecs = Math.max(1, Math.floor(w / 8));
      let cg = 1;
      for (let c = vecs; c >= 1; c--)
        if (vecs % c === 0 && mr * c + c <= 15) {
          cg = c;
          break;
        }
      if (w % 8 !== 0) cg = 1;
      this.a8Micros.set(key, { mr, w, cg: w % 8 === 0 ? cg : 0, w16: Math.floor(w / 16) });
    }
    return `moec_a8_micro_${key}`;
  }

  /** The chunk decoder of `q` codes `w` columns wide (emitted with the one-row kernel, which every quantized GEMM has). */
  private dequantFn(q: QuantDType, w: number): string {
    this.micros.get(`${q}:1x${w}`)!.dequant = true;
    return `moec_dequant_${codeName(q)}_${w}`;
  }

  /** The state buffers in the order of the cache region (filled by `view`). */
  stateRegions: string[] = [];

  render(t: CTemplates): { header: string; source: string; main: string } {
    const steps = this.steps(this.p.steps, 1, 0);
    const view = this.view(steps);
    const ins = view.inputs as Array<Record<string, unknown>>;
    const outs = view.outputs as Array<Record<string, unknown>>;
    // An expert-parallel program runs as one MPI rank of a job: its runner starts MPI.
    const main = (this.p.ep ? t.mpiMain : t.main)({
      ...view,
      guard: 64,
      inputCount: ins.length,
      outputCount: outs.length,
      inputs: ins.map((x, i) => ({ ...x, argIndex: 5 + (view.cacheArgs as number) + i })),
      outputs: outs.map((x, i) => ({ ...x, argIndex: 5 + (view.cacheArgs as number) + ins.length + i })),
    });
    return { header: t.header(view), source: t.source(view), main };
  }

  private view(steps: Array<Record<string, unknown>>): Record<string, unknown> {
    const p = this.p;
    const io = (list: KProgram['inputs']) =>
      list.map((x) => {
        const b = this.bufs.get(x.buffer)!;
        // An i32 input or output (token ids, expert indices) is an int array in the ABI.
        const shape = this.shape(x.buffer);
        // row: the length of its last axis (the runner's GREEDY answer is the argmax of its last row).
        return { name: x.name, NAME: ident(x.name).toUpperCase(), cname: ioName(x.name), ctype: b.ctype, decl: `${b.buf.dtype}[${shape.map((d) => (isSym(d) ? 'T-dependent' : d)).join(', ')}]`, floats: cElems(shape, 'T'), row: shape.length ? cDim(shape[shape.length - 1], 'T') : '1', int: b.buf.dtype === 'i32' };
      });
    const inputs = io(p.inputs);
    const outputs = io(p.outputs);
    // Inputs and outputs are the caller's pointers; weights at their blob offset; the rest in the arena.
    const ioNames = new Map<string, string>([...p.inputs.map((x) => [x.buffer, ioName(x.name)] as const), ...p.outputs.map((x) => [x.buffer, ioName(x.name)] as const)]);
    const buffers: Array<{ decl: string }> = [];
    const arenaEnds: string[] = [];
    const slices = new Set(this.stackedOf.keys());
    // State (the KV caches) lives in the caller's cache region, one region after another.
    const regions: Array<{ name: string; cvar: string; bytes: string }> = [];
    for (const [name, b] of this.bufs) {
      if (slices.has(name)) continue;
      if (b.buf.kind === 'state') {
        regions.push({ name, cvar: b.cvar, bytes: `${cElems(b.buf.shape, 'T')} * 4` });
        continue;
      }
      const isIn = p.inputs.some((x) => x.buffer === name);
      if (b.buf.kind === 'temp' && !ioNames.has(name)) {
        if (b.buf.offset === undefined) throw new Error(`C backend: buffer ${name} has no planned offset (run plan-memory)`);
        arenaEnds.push(`${cDim(b.buf.offset, 'T')} + ${cElems(b.buf.shape, 'T')} * 4`);
      }
      if (!this.used.has(name)) continue;
      let decl: string;
      if (ioNames.has(name)) decl = `${isIn ? 'const ' : ''}${b.ctype} *${b.cvar} = ${ioNames.get(name)};`;
      else if (b.buf.kind === 'weight') {
        const e = this.layout.entries.find((x) => x.name === name)!;
        decl = `const ${b.ctype} *${b.cvar} = (const ${b.ctype} *)(W + ${e.offset});`;
      } else {
        if (b.buf.offset === undefined) throw new Error(`C backend: buffer ${name} has no planned offset (run plan-memory)`);
        // The plan's offset is affine in T: buffers move with the tokens run, so a call touches arena_bytes(T).
        decl = `${b.ctype} *${b.cvar} = (${b.ctype} *)(A + ${cDim(b.buf.offset, 'T')});`;
      }
      buffers.push({ decl });
    }
    const math = this.math;
    if (math.silu || math.sigmoid) math.exp = true;
    this.stateRegions = regions.map((r) => r.name);
    return {
      file: this.prefix,
      prefix: this.prefix,
      PREFIX: this.PREFIX,
      model: p.name,
      version: packageVersion(),
      target: `${this.target.name} (${this.target.description})`,
      targetName: this.target.name,
      isa: this.isa,
      dma: this.dma,
      maxTokens: p.maxTokens,
      align: this.layout.align,
      weightsBytes: this.layout.bytes,
      arenaBytes: atTokens(p.arenaBytes!, p.maxTokens!),
      cache: regions.length > 0 ? { maxContext: p.maxContext, regions } : undefined,
      cacheArgs: regions.length > 0 ? 2 : 0,
      inputs,
      outputs,
      buffers,
      arenaEnds,
      steps,
      kernels: this.kernels,
      kernelList: this.kernelList,
      kernelCount: this.kernels.length,
      kernelFns: this.kernels.map((k) => k.fn),
      micros: [...this.micros.values()],
      a8: this.a8Helpers,
      a8Micros: [...this.a8Micros.values()],
      quantHelpers: quantHelpers(this.quantGemm, this.quantRouter, this.isa),
      math,
      ep: p.ep,
      tokenIds: this.tokenIds,
      indexChecks: this.indexChecks,
    };
  }

  // --- steps ---------------------------------------------------------------------------

  private steps(list: readonly Step[], depth: number, loopDepth: number): Array<Record<string, unknown>> {
    return list.map((s) => (s.kind === 'loop' ? this.loop(s, depth, loopDepth) : this.call(s, depth)));
  }

  private loop(l: LoopStep, depth: number, loopDepth: number): Record<string, unknown> {
    const indent = '  '.repeat(depth);
    const iv = `i${loopDepth}`;
    const copies = (pairs: ReadonlyArray<{ from: string; to: string }>) => {
      const froms = new Set(pairs.map((c) => c.from));
      if (pairs.some((c) => froms.has(c.to) && c.to !== c.from)) fail('E701', 'the C backend cannot render a loop whose carried values swap places');
      return pairs.filter((c) => c.from !== c.to).map((c) => ({ to: this.v(c.to), from: this.v(c.from), bytes: `${cElems(this.shape(c.to), 'T')} * 4` }));
    };
    const init = copies(l.init ?? []);
    const sliceDecls = l.slices.map((s) => {
      const st = this.bufs.get(s.stacked)!;
      this.stackedOf.set(s.slice, this.stackedOf.get(s.stacked) ?? s.stacked);
      const sl = this.bufs.get(s.slice)!;
      this.used.add(s.slice);
      return { decl: `${st.buf.kind === 'weight' || st.buf.kind === 'input' ? 'const ' : ''}${sl.ctype} *${sl.cvar} = ${this.v(s.stacked)} + (size_t)${iv} * ${st.rowElems};` };
    });
    const body = this.steps(l.body, depth + 1, loopDepth + 1);
    return { loop: true, close: '}', indent, iv, count: l.count, comment: `${l.count} iterations (a repeat)`, init, slices: sliceDecls, body, carried: copies(l.carried) };
  }

  private call(k: Kernel, depth: number): Record<string, unknown> {
    const fn = `k${this.kernels.length}_${k.kind === 'op' ? k.op : k.kind}`;
    const indent = '  '.repeat(depth);
    let view: Record<string, unknown>;
    let args: Array<{ field: string; expr: string }>;
    let mode: 'parallel' | 'serial' | 'checked';
    // Threads a parallel kernel starts: GEMMs split their panels among all; an op follows its thread split.
    let threads = 'threads';
    switch (k.kind) {
      case 'router':
        [view, args] = this.router(k);
        mode = 'serial';
        break;
      case 'moe_align':
        [view, args] = this.align(k);
        mode = 'checked';
        break;
      case 'grouped_gemm':
        [view, args] = this.grouped(k);
        mode = 'parallel';
        break;
      case 'gemm':
        [view, args] = this.dense(k);
        mode = 'parallel';
        break;
      case 'dispatch':
        [view, args] = dispatchView(this.epContext(), k);
        mode = 'checked';
        break;
      case 'ep_combine':
        [view, args] = epCombineView(this.epContext(), k);
        mode = 'checked';
        break;
      case 'op': {
        [view, args] = this.op(k);
        // An op that can fail on its data (a token id outside the table) returns an error code.
        mode = view.checked ? 'checked' : 'parallel';
        const elems = cElems(this.shape(k.outputs[0]), 'T');
        const per = k.threads?.minElems;
        threads = per === undefined ? '1' : `(int)((${elems} + ${per - 1}) / ${per} < (size_t)threads ? (${elems} + ${per - 1}) / ${per} : (size_t)threads)`;
        break;
      }
      case 'attention':
      case 'mla_attention': {
        const ctx = { v: (n: string) => this.v(n), buffer: (n: string) => this.resolve(n), lanes: this.isa?.lanes ?? 1, isa: this.isa, num: cNum, maxTokens: this.p.maxTokens! };
        this.math.exp = true;
        [view, args] = k.kind === 'attention' ? attentionView(k, ctx) : mlaView(k, ctx);
        mode = 'serial';
        break;
      }
    }
    const comment = String(view.summaryLine);
    this.kernels.push({ ...view, fn, PREFIX: this.PREFIX, dma: staged(k) });
    this.kernelList.push(`${fn}: ${comment}`);
    return { call: true, close: '}', indent, fn, index: this.kernels.length - 1, args, comment, threads, [mode]: true };
  }

  private epContext(): EpRenderContext {
    return { p: this.p, v: (n) => this.v(n), shape: (n) => this.shape(n), dim: cDim };
  }

  private router(k: RouterKernel): [Record<string, unknown>, Array<{ field: string; expr: string }>] {
    this.math.router = true;
    if (k.score === 'softmax' || k.postSoftmax) this.math.softmax = true;
    const d = concrete(this.shape(k.x)[this.shape(k.x).length - 1], `the router input ${k.x}`);
    const gt = k.select.kind === 'group_topk' ? k.select : undefined;
    // Quantized router weights: logits over the codes, row-major, one rounding per weight as the reference.
    const q = this.quantOf(k.w, 1);
    const sq = k.sharedGate ? this.quantOf(k.sharedGate, 1) : undefined;
    for (const x of [q, sq]) if (x) this.quantRouter.add(x.dtype);
    if (!q || (k.sharedGate && !sq)) this.math.logits = true;
    const logits = (ptr: string, scales: string, qq: typeof q, x = 'x'): string => (qq ? `moec_logits_${codeName(qq.dtype)}(${x}, ${ptr}, ${scales}, ${qq.group}, ` : `moec_logits(${x}, ${ptr}, `);
    // A W8A8 router matrix or shared gate (act=q8) reads the token's row rounded to the int8 grid (router.c.hbs, moec_a8_row).
    const routerAct = this.actOf(k.w) !== undefined;
    const sharedAct = k.sharedGate !== undefined && this.actOf(k.sharedGate) !== undefined;
    if (routerAct || sharedAct) this.a8Helpers = true;
    const args = [
      { field: 'x', expr: this.v(k.x) },
      { field: 'w', expr: this.v(k.w) },
      ...(q ? [{ field: 'ws', expr: this.v(q.scales) }] : []),
      ...(k.bias ? [{ field: 'bias', expr: this.v(k.bias) }] : []),
      ...(k.selectBias ? [{ field: 'select_bias', expr: this.v(k.selectBias) }] : []),
      ...(k.sharedGate ? [{ field: 'shared_gate', expr: this.v(k.sharedGate) }] : []),
      ...(sq ? [{ field: 'shared_gate_scales', expr: this.v(sq.scales) }] : []),
      { field: 'indices', expr: this.v(k.indices) },
      { field: 'weights', expr: this.v(k.weights) },
      { field: 'T', expr: 'T' },
    ];
    const view = {
      router: true,
      summaryLine: `router: ${k.experts} experts, ${gt ? `group top-${k.k} (${gt.topkGroups} of ${gt.groups} groups)` : `top-${k.k}`}, ${k.score} scores${k.shared ? `, ${k.shared} shared` : ''}`,
      experts: k.experts,
      k: k.k,
      d,
      wType: q ? codeCType(q.dtype) : undefined,
      sharedType: sq ? codeCType(sq.dtype) : undefined,
      logits: logits('g->w', 'g->ws', q, routerAct ? 'rx' : 'x'),
      roundX: routerAct || sharedAct,
      // f32 logits a block of tokens at a time (moec_logits_tokens), the block's logits on the stack
      blockLogits: !q && k.experts <= MAX_BLOCK_LOGIT_EXPERTS,
      sharedLogits: logits('g->shared_gate', 'g->shared_gate_scales', sq, sharedAct ? 'rx' : 'x'),
      sharedAct,
      cols: k.k + k.shared,
      score: k.score,
      softmax: k.score === 'softmax',
      sigmoid: k.score === 'sigmoid',
      bias: !!k.bias,
      selectBias: !!k.selectBias,
      sharedGate: !!k.sharedGate,
      selectOn: k.selectBias ? 'sel' : 'score',
      groups: gt?.groups,
      topkGroups: gt?.topkGroups,
      groupScore: gt?.groupScore,
      sumTop2: gt?.groupScore === 'sum_top2',
      groupTop: gt?.groupScore === 'sum_top2' ? 2 : 1,
      perGroup: gt ? k.experts / gt.groups : 0,
      postSoftmax: k.postSoftmax,
      normalize: k.normalize,
      scale: cNum(k.scale),
      scaled: k.scale !== 1,
      capacity: k.capacityFactor !== undefined ? cNum(k.capacityFactor) : undefined,
      shared: k.shared,
    };
    return [view, args];
  }

  private align(k: MoeAlignKernel): [Record<string, unknown>, Array<{ field: string; expr: string }>] {
    // After a dispatch the rows are the M*T received ones (sizes in T read T back as g->T / M).
    const tokens = tokenCount(this.epContext(), k.indices);
    const args = [
      { field: 'indices', expr: this.v(k.indices) },
      { field: 'sorted', expr: this.v(k.sorted) },
      { field: 'block_expert', expr: this.v(k.blockExpert) },
      { field: 'count', expr: this.v(k.count) },
      { field: 'T', expr: tokens.expr },
    ];
    const view = {
      align: true,
      summaryLine: `moe_align: ${k.experts} experts, blocks of ${k.block} rows`,
      experts: k.experts,
      k: k.k,
      block: k.block,
      sortedRows: cElems(this.shape(k.sorted), tokens.perT > 1 ? `(g->T / ${tokens.perT})` : 'g->T'),
      blocks: cElems(this.shape(k.blockExpert), tokens.perT > 1 ? `(g->T / ${tokens.perT})` : 'g->T'),
    };
    return [view, args];
  }

  /** The epilogue views (without combine) and the bias operands, for a tile `w` wide. */
  private epilogue(chain: readonly Epilogue[], w: number): { steps: Array<Record<string, unknown>>; biases: Array<{ field: string; expr: string }>; outW: number; text: string } {
    let width = w;
    const steps: Array<Record<string, unknown>> = [];
    const biases: Array<{ field: string; expr: string }> = [];
    const text: string[] = [];
    for (const e of chain) {
      if (e.kind === 'combine') {
        text.push('weighted combine');
        continue;
      }
      if (e.kind === 'bias') {
        const field = `bias${biases.length}`;
        biases.push({ field, expr: this.v(e.bias) });
        steps.push({ bias: true, field, width });
        text.push('bias');
      } else if (e.kind === 'act') {
        this.math[e.fn] = true;
        steps.push({ act: true, fn: e.fn, width });
        text.push(e.fn);
      } else {
        const half = width / 2;
        if (e.fn === 'swiglu') {
          this.math.silu = true;
          steps.push({ swiglu: true, half });
        } else {
          this.math.sigmoid = true;
          this.math.minmax = true;
          steps.push({ swigluClamped: true, half, limit: cNum(e.limit!), alpha: cNum(e.alpha!) });
        }
        text.push(`${e.fn} (${e.layout})`);
        width = half;
      }
    }
    return { steps, biases, outW: width, text: text.join(' -> ') || 'none' };
  }

  /** What grouped and dense GEMM views share: panels, micro-tile, epilogue, output width. */
  private gemmCommon(k: GemmKernel | GroupedGemmKernel): { ep: ReturnType<CRenderer['epilogue']>; fields: Record<string, unknown> } {
    const spec = this.spec(k.w);
    const w = microWidth(k);
    const tile = cTiling(k);
    const mr = tile.mr;
    const ep = this.epilogue(k.epilogue, w);
    const outShape = this.shape(k.out);
    const out = concrete(outShape[outShape.length - 1], `the columns of ${k.out}`);
    const q = this.quantOf(k.w, k.transB ? 1 : 2);
    if (!!q !== !!spec.codes) throw new Error(`C backend: the weight layout and the kernel disagree on whether ${k.w} is quantized`);
    const span = spec.codes?.span ?? 2;
    // every row count up to mr: a tile with fewer rows (padding, the last rows) runs its own
    const microRows = Array.from({ length: mr }, (_, i) => this.micro(i + 1, w, q?.dtype, span));
    // Quantized, a pass of several row tiles decodes each weight chunk once to f32 and runs the f32
    // kernels over it (qmicro.c.hbs, moec_dequant_*): the same bits, without a decode per tile.
    // Not where a pass is one tile, nor where the chunk is staged through a scratchpad by DMA.
    const a8 = q && this.actQuant(k, q.group, spec.kd, tile.kc) ? { rows: Array.from({ length: mr }, (_, i) => this.a8Micro(i + 1, w)) } : undefined;
    // The VNNI form (a8.c.hbs): an AVX-512 build, whole 16-column vectors, every tile's int32 sums and weights within the 32 zmm registers.
    const vnni = a8 && this.isa?.lanes === 16 && w % 16 === 0 && mr * (w / 16) + w / 16 <= 30;
    if (vnni) for (let i = 1; i <= mr; i++) this.a8Micros.get(`${i}x${w}`)!.vnni = true;
    const dequant = q && !a8 && tile.rows > mr && !staged(k) ? { micros: Array.from({ length: mr }, (_, i) => this.micro(i + 1, w)), fn: this.dequantFn(q.dtype, w) } : undefined;
    const fields = {
      kc: tile.kc,
      group: tile.panels,
      epilogueSummary: ep.text,
      kd: spec.kd,
      n: spec.n,
      out,
      w,
      outW: ep.outW,
      panels: panelCount(spec),
      panelElems: spec.kd * panelRowElems(spec),
      rowStride: panelRowElems(spec),
      wType: q ? codeCType(q.dtype) : 'float',
      quant: q ? { q: codeName(q.dtype), group: q.group, scaleStride: Math.ceil(spec.kd / q.group) * w, scales: q.scales, dtype: q.dtype } : undefined,
      span,
      mr,
      microRows,
      microArgs: q ? `const float *const *, int, const ${codeCType(q.dtype)} *, const float *, int, int, float *, int` : F32_MICRO_ARGS,
      dequant,
      a8: !!a8,
      a8Rows: a8?.rows,
      a8VRows: vnni ? a8!.rows.map((n) => n.replace('moec_a8_micro_', 'moec_a8v_micro_')) : undefined,
      f32MicroArgs: F32_MICRO_ARGS,
      biases: ep.biases.map((b) => b.field),
      epilogue: ep.steps,
    };
    return { ep, fields };
  }

  private grouped(k: GroupedGemmKernel): [Record<string, unknown>, Array<{ field: string; expr: string }>] {
    const align = this.aligns.get(k.sorted);
    if (!align) throw new Error(`C backend: no moe_align writes ${k.sorted}`);
    const combine = k.epilogue.find((e) => e.kind === 'combine');
    const { ep, fields } = this.gemmCommon(k);
    const q = fields.quant as { dtype: QuantDType; scales: string } | undefined;
    const tile = cTiling(k);
    if (tile.streams === undefined) this.noDecodePath(k, 'streams');
    // The decode path's windows of `streams` panels (slid back at an expert's end), where an expert has that many.
    const streamWindow = (fields.panels as number) >= tile.streams;
    const decode = this.decodePath(k, fields);
    const args = [
      { field: 'a', expr: this.v(k.a) },
      { field: 'w', expr: this.v(k.w) },
      ...(q ? [{ field: 'ws', expr: this.v(q.scales) }] : []),
      ...ep.biases,
      ...(combine?.kind === 'combine' ? [{ field: 'weights', expr: this.v(combine.weights) }] : []),
      ...(combine && k.init !== undefined ? [{ field: 'init', expr: this.v(k.init) }] : []),
      { field: 'indices', expr: this.v(k.indices) },
      { field: 'sorted', expr: this.v(k.sorted) },
      { field: 'block_expert', expr: this.v(k.blockExpert) },
      { field: 'count', expr: this.v(k.count) },
      { field: 'out', expr: this.v(k.out) },
      { field: 'T', expr: tokenCount(this.epContext(), k.indices).expr },
    ];
    const view = {
      ...fields,
      grouped: true,
      blockRows: tile.rows,
      ...decode,
      summaryLine: `grouped GEMM ${fields.kd} -> ${fields.n}${k.gather ? ', rows gathered from tokens' : ''}, epilogue ${ep.text}, tile ${fields.mr}x${fields.w}`,
      summary: `(${k.gather ? 'token rows gathered through the sorted slots' : 'rows in sorted order'})`,
      block: align.block,
      sortedFrom: k.sortedFromTokens,
      k: k.k,
      gather: k.gather,
      combine: !!combine,
      init: combine !== undefined && k.init !== undefined,
      streamWindow,
    };
    return [view, args];
  }

  /**
   * The decode path of a GEMM whose tile has `streams`: registers the one-row kernel's
   * several-panel form the tile names (unless `stream` is false: a dense GEMM of fewer panels
   * than streams, which goes panel by panel) and returns the template fields (`streams`, its
   * word). The tile decides; this only refuses a quantized tile that leaves the scale form open.
   */
  private decodePath(k: GemmKernel | GroupedGemmKernel, fields: Record<string, unknown>, stream = true): { streams: number; streamsWord: string } {
    const tile = cTiling(k);
    const q = fields.quant as { dtype: QuantDType } | undefined;
    const streams = tile.streams!;
    if (q && tile.qdecode === undefined) this.noDecodePath(k, 'qdecode');
    const decode: DecodePath = q ? { streams, qdecode: tile.qdecode, prefetch: tile.prefetch } : { streams };
    if (stream) this.micro(1, fields.w as number, q?.dtype, fields.span as number, decode);
    return { streams, streamsWord: countWord(streams) };
  }

  private noDecodePath(k: GemmKernel | GroupedGemmKernel, field: 'streams' | 'qdecode'): never {
    const what = k.kind === 'grouped_gemm' ? 'grouped GEMM' : 'GEMM';
    fail('E701', `the ${what} writing ${k.out} has no decode path in its tile (${field})`, undefined, 'run the tile pass for a C target: it records streams and, for quantized weights, qdecode');
  }

  private dense(k: GemmKernel): [Record<string, unknown>, Array<{ field: string; expr: string }>] {
    const { ep, fields } = this.gemmCommon(k);
    const aShape = this.shape(k.a);
    const q = fields.quant as { scales: string } | undefined;
    const args = [{ field: 'a', expr: this.v(k.a) }, { field: 'w', expr: this.v(k.w) }, ...(q ? [{ field: 'ws', expr: this.v(q.scales) }] : []), ...ep.biases, { field: 'out', expr: this.v(k.out) }, { field: 'rows', expr: `(int)(${cElems(aShape.slice(0, -1), 'T')})` }];
    // One row (the LM head at T = 1) takes the decode path where the tile has one (older kernel
    // IR may not): windows of `streams` panels where the GEMM has that many, else panel by panel.
    const streams = cTiling(k).streams;
    const streamWindow = streams !== undefined && (fields.panels as number) >= streams;
    const decode = streams === undefined ? undefined : this.decodePath(k, fields, streamWindow);
    const view = {
      ...fields,
      dense: true,
      ...decode,
      streamWindow,
      rowsPer: cTiling(k).rows,
      summaryLine: `GEMM ${fields.kd} -> ${fields.n}, epilogue ${ep.text}, tile ${fields.mr}x${fields.w}`,
      summary: `(${k.a} x ${k.w})`,
    };
    return [view, args];
  }

  private op(k: OpKernel): [Record<string, unknown>, Array<{ field: string; expr: string }>] {
    const quantized = k.inputs.find((x) => isQuantDType(this.bufs.get(x)!.buf.dtype));
    if (quantized) fail('E701', `the C backend dequantizes weights only inside GEMMs and the router, but \`${k.op}\` reads the quantized ${quantized}`, undefined, 'keep weights read by other ops in f32 (--quantize quantizes GEMM weights only)');
    const same = (a: readonly Dim[], b: readonly Dim[]) => a.length === b.length && a.every((d, i) => JSON.stringify(d) === JSON.stringify(b[i]));
    if (k.op === 'rmsnorm') {
      const xs = this.shape(k.inputs[0]);
      const d = concrete(xs[xs.length - 1], `the rmsnorm width of ${k.inputs[0]}`);
      const eps = typeof k.attrs.eps === 'number' ? k.attrs.eps : 1e-6;
      const args = [
        { field: 'x', expr: this.v(k.inputs[0]) },
        { field: 'w', expr: this.v(k.inputs[1]) },
        { field: 'out', expr: this.v(k.outputs[0]) },
        { field: 'rows', expr: cElems(xs.slice(0, -1), 'T') },
      ];
      return [{ op: true, rmsnorm: true, summaryLine: `rmsnorm over ${d}`, d, eps: cNum(eps) }, args];
    }
    if (k.op === 'add' && same(this.shape(k.inputs[0]), this.shape(k.inputs[1]))) {
      const s = this.shape(k.outputs[0]);
      const args = [
        { field: 'x', expr: this.v(k.inputs[0]) },
        { field: 'y', expr: this.v(k.inputs[1]) },
        { field: 'out', expr: this.v(k.outputs[0]) },
        { field: 'n', expr: cElems(s, 'T') },
      ];
      return [{ op: true, add: true, summaryLine: 'elementwise add' }, args];
    }
    if (k.op === 'embedding') {
      const args = [
        { field: 'ids', expr: this.v(k.inputs[0]) },
        { field: 'table', expr: this.v(k.inputs[1]) },
        { field: 'out', expr: this.v(k.outputs[0]) },
        { field: 'n', expr: cElems(this.shape(k.inputs[0]), 'T') },
      ];
      this.tokenIds = true;
      return [{ op: true, ...cEmbedding(k, (b) => this.shape(b), this.layout.specs.get(k.inputs[1])) }, args];
    }
    if (k.op === 'rope') {
      const xs = this.shape(k.inputs[0]);
      const args = [
        { field: 'x', expr: this.v(k.inputs[0]) },
        { field: 'out', expr: this.v(k.outputs[0]) },
        { field: 'rows', expr: cElems(xs.slice(0, 2), 'T') },
        { field: 'pos0', expr: cDim((k.attrs.offset as Dim[])[0], 'T', this.past) },
      ];
      return [{ op: true, ...cRope(k, (b) => this.shape(b)) }, args];
    }
    if (k.op === 'gather') {
      const xs = this.shape(k.inputs[0]);
      const ax = (k.attrs.axis as number) < 0 ? (k.attrs.axis as number) + xs.length : (k.attrs.axis as number);
      // Along the leading axis (rows of tokens, as last-logits gathers) only the bound depends on T: it is an argument.
      const lead = ax === 0 && isSym(xs[0]) && !xs.slice(1).some(isSym);
      if (!lead && xs.slice(ax).some(isSym)) cannotRun('c', 'gather', 'along an axis other than the first whose size depends on the token count');
      const inner = (xs.slice(ax + 1) as number[]).reduce((a, b) => a * b, 1);
      const args = [
        { field: 'x', expr: this.v(k.inputs[0]) },
        { field: 'indices', expr: this.v(k.inputs[1]) },
        { field: 'out', expr: this.v(k.outputs[0]) },
        { field: 'n', expr: cElems(this.shape(k.outputs[0]), 'T') },
        ...(lead ? [{ field: 'nx', expr: cDim(xs[0], 'T', this.past) }] : []),
      ];
      this.indexChecks = true;
      const ni = this.shape(k.inputs[1])[ax] as number;
      return [{ op: true, gather: true, checked: true, ctype: this.bufs.get(k.inputs[0])!.ctype, nx: lead ? '(int)g->nx' : xs[ax], nxArg: lead, ni, inner, summaryLine: `gather along an axis of ${lead ? 'the token rows' : String(xs[ax])}` }, args];
    }
    if (k.op === 'moe_combine') {
      const d = concrete(this.shape(k.inputs[0])[1], `the row width of ${k.inputs[0]}`);
      const args = [
        { field: 'ys', expr: this.v(k.inputs[0]) },
        { field: 'weights', expr: this.v(k.inputs[3]) },
        { field: 'slots', expr: this.v(k.inputs[1]) },
        { field: 'offsets', expr: this.v(k.inputs[2]) },
        { field: 'out', expr: this.v(k.outputs[0]) },
        { field: 'T', expr: `(int)${cDim(this.shape(k.inputs[3])[0], 'T')}` },
        { field: 'rows', expr: cElems([this.shape(k.inputs[0])[0]], 'T') },
      ];
      this.indexChecks = true;
      const experts = (this.shape(k.inputs[2])[0] as number) - 1;
      return [{ op: true, combine: true, checked: true, d, k: this.shape(k.inputs[3])[1], experts, summaryLine: `moe_combine of ${d}-wide rows` }, args];
    }
    if (k.op === 'grouped_matmul') {
      const transB = k.attrs.transpose_b as boolean;
      const w = this.shape(k.inputs[1]) as number[];
      const [experts, n, kd] = transB ? w : [w[0], w[2], w[1]];
      const bias = k.inputs[3] !== undefined;
      const args = [
        { field: 'xs', expr: this.v(k.inputs[0]) },
        { field: 'w', expr: this.v(k.inputs[1]) },
        ...(bias ? [{ field: 'bias', expr: this.v(k.inputs[3]) }] : []),
        { field: 'offsets', expr: this.v(k.inputs[2]) },
        { field: 'out', expr: this.v(k.outputs[0]) },
        { field: 'rows', expr: cElems([this.shape(k.inputs[0])[0]], 'T') },
      ];
      this.indexChecks = true;
      return [{ op: true, groupedMatmul: true, checked: true, transB, bias, experts, n, kd, summaryLine: `grouped_matmul over ${experts} experts, ${kd} -> ${n}` }, args];
    }
    if (k.op === 'route_capacity' || k.op === 'moe_permute') {
      const capacity = k.op === 'route_capacity';
      const args = capacity
        ? [{ field: 'indices', expr: this.v(k.inputs[0]) }, { field: 'out', expr: this.v(k.outputs[0]) }, { field: 'T', expr: `(int)${cDim(this.shape(k.inputs[0])[0], 'T')}` }]
        : [{ field: 'indices', expr: this.v(k.inputs[0]) }, { field: 'slots', expr: this.v(k.outputs[0]) }, { field: 'offsets', expr: this.v(k.outputs[1]) }, { field: 'n', expr: `(int)(${cElems(this.shape(k.inputs[0]), 'T')})` }];
      const view = { op: true, capacity, permute: !capacity, checked: true, experts: k.attrs.experts, k: this.shape(k.inputs[0])[1], cf: capacity ? cNum(k.attrs.capacity_factor as number) : undefined };
      return [{ ...view, summaryLine: `${k.op} over ${String(k.attrs.experts)} experts` }, args];
    }
    if (k.op === 'moe_dispatch') {
      const d = concrete(this.shape(k.inputs[0])[1], `the row width of ${k.inputs[0]}`);
      const args = [
        { field: 'x', expr: this.v(k.inputs[0]) },
        { field: 'slots', expr: this.v(k.inputs[1]) },
        { field: 'offsets', expr: this.v(k.inputs[2]) },
        { field: 'out', expr: this.v(k.outputs[0]) },
        { field: 'T', expr: `(int)${cDim(this.shape(k.inputs[0])[0], 'T')}` },
        { field: 'rows', expr: cElems(this.shape(k.inputs[1]), 'T') },
      ];
      this.indexChecks = true;
      const experts = (this.shape(k.inputs[2])[0] as number) - 1;
      return [{ op: true, dispatch: true, checked: true, k: k.attrs.k, d, experts, summaryLine: `moe_dispatch: token rows of ${d} in expert order` }, args];
    }
    if (k.op === 'cast') {
      const [from, to] = [this.bufs.get(k.inputs[0])!.buf.dtype, this.bufs.get(k.outputs[0])!.buf.dtype];
      if (![from, to].every((d) => d === 'f32' || d === 'i32')) cannotRun('c', 'cast', `from ${from} to ${to} (it casts between f32 and i32)`);
      const ctype = (d: string): string => (d === 'i32' ? 'int' : 'float');
      const args = [
        { field: 'x', expr: this.v(k.inputs[0]) },
        { field: 'out', expr: this.v(k.outputs[0]) },
        { field: 'n', expr: cElems(this.shape(k.outputs[0]), 'T') },
      ];
      return [{ op: true, cast: true, from, to, fromC: ctype(from), toC: ctype(to), toInt: to === 'i32' && from === 'f32', summaryLine: `cast ${from} to ${to}` }, args];
    }
    if (k.op === 'group_topk') {
      const experts = concrete(this.shape(k.inputs[0])[1], `the expert count of ${k.inputs[0]}`);
      const groups = k.attrs.groups as number;
      const args = [
        { field: 's', expr: this.v(k.inputs[0]) },
        { field: 'values', expr: this.v(k.outputs[0]) },
        { field: 'indices', expr: this.v(k.outputs[1]) },
        { field: 'tokens', expr: cElems([this.shape(k.inputs[0])[0]], 'T') },
      ];
      const view = { op: true, groupTopk: true, experts, groups, per: experts / groups, keep: k.attrs.topk_groups, k: k.attrs.k, sumTop2: k.attrs.group_score === 'sum_top2' };
      return [{ ...view, summaryLine: `group_topk: top-${String(k.attrs.k)} of ${experts} experts in the ${String(k.attrs.topk_groups)} best of ${groups} groups` }, args];
    }
    if (k.op === 'topk') {
      const { n, inner } = axisLoop(this.shape(k.inputs[0]), k.attrs.axis as number) ?? cannotRun('c', 'topk', 'along an axis whose size depends on the token count');
      const args = [
        { field: 'x', expr: this.v(k.inputs[0]) },
        { field: 'values', expr: this.v(k.outputs[0]) },
        { field: 'indices', expr: this.v(k.outputs[1]) },
        { field: 'lanes', expr: `${cElems(this.shape(k.inputs[0]), 'T')} / ${n}` },
      ];
      return [{ op: true, topk: true, k: k.attrs.k, n, inner, summaryLine: `top-${String(k.attrs.k)} along an axis of ${n}` }, args];
    }
    if (AXIS_OPS.has(k.op)) {
      const view = cAxisOp(k, (b) => this.shape(b));
      const args = [
        { field: 'x', expr: this.v(k.inputs[0]) },
        { field: 'out', expr: this.v(k.outputs[0]) },
        { field: 'lanes', expr: `${cElems(this.shape(k.inputs[0]), 'T')} / ${view.n}` },
      ];
      return [{ op: true, ...view }, args];
    }
    if (CHAIN_OPS.has(k.op) || k.op === 'concat') {
      const odd = [...k.inputs, ...k.outputs].find((b) => this.bufs.get(b)!.buf.dtype !== 'f32');
      if (odd) cannotRun('c', k.op, `of the ${this.bufs.get(odd)!.buf.dtype} tensor ${odd}`);
      const ew = (k.op === 'concat' ? cConcat : cElementwise)(k, (b) => this.shape(b));
      const args = [
        ...k.inputs.map((x, i) => ({ field: `x${i}`, expr: this.v(x) })),
        { field: 'out', expr: this.v(k.outputs[0]) },
        { field: 'n', expr: cElems(this.shape(k.outputs[0]), 'T') },
      ];
      return [{ op: true, elementwise: true, summaryLine: k.op === 'elementwise' ? `elementwise ${ew.expr}` : ew.expr, ...ew }, args];
    }
    cannotRun('c', k.op, k.op === 'add' ? 'with broadcasting' : undefined);
  }
}

/** A vector ISA the micro-kernels can be written in: its C types and intrinsics. */
export interface Isa {
  name: string;
  /** The preprocessor test that the compiler has it enabled. */
  guard: string;
  lanes: number;
  type: string;
  load: string;
  store: string;
  zero: string;
  /** A float broadcast to every lane. */
  splat: string;
  fma: string;
  mul: string;
  /** Compiler flags that enable it (gcc and clang). */
  flags: string[];
}

const AVX2: Isa = {
  name: 'AVX2 + FMA',
  guard: 'defined(__AVX2__) && defined(__FMA__)',
  lanes: 8,
  type: '__m256',
  load: '_mm256_loadu_ps',
  store: '_mm256_storeu_ps',
  zero: '_mm256_setzero_ps',
  splat: '_mm256_set1_ps',
  fma: '_mm256_fmadd_ps',
  mul: '_mm256_mul_ps',
  flags: ['-mavx2', '-mfma'],
};

const AVX512: Isa = {
  name: 'AVX-512F',
  guard: 'defined(__AVX512F__)',
  lanes: 16,
  type: '__m512',
  load: '_mm512_loadu_ps',
  store: '_mm512_storeu_ps',
  zero: '_mm512_setzero_ps',
  splat: '_mm512_set1_ps',
  fma: '_mm512_fmadd_ps',
  mul: '_mm512_mul_ps',
  flags: ['-mavx512f', '-mavx2', '-mfma'],
};

/** How each vector kind is spelled in C (the others: portable C only). */
const C_ISAS: Partial<Record<VectorKind, Isa>> = { avx2: AVX2, avx512: AVX512 };

/** The C spelling of the vector ISA a target offers (`vectorKindOf`), for its compiler flags. */
export function targetIsa(t: TargetCaps): Isa | undefined {
  return C_ISAS[vectorKindOf(t)];
}

/**
 * The C spelling of the ISA the program was tiled for; refused when the program was tiled
 * for another target's vectors (its tiles would not fit this one's registers).
 */
export function programIsa(p: KProgram, target: TargetCaps): Isa | undefined {
  return C_ISAS[programVectorKind(p, target)];
}

/** A GEMM's tiling with the C blocking the tiler adds for C targets. */
/** The f32 micro-kernels' parameters (runtime.c.hbs): rows, depth offset, panel, depth, sums, continue. */
const F32_MICRO_ARGS = 'const float *const *, int, const float *, int, float *, int';

type CTiling = Tiling & Required<Pick<Tiling, 'rows' | 'kc' | 'panels'>>;

function cTiling(k: GemmKernel | GroupedGemmKernel): CTiling {
  const t = k.tile;
  if (!t || t.rows === undefined || t.kc === undefined || t.panels === undefined)
    fail('E701', `the ${k.kind} writing ${k.out} has no C cache blocking (tile rows, kc, panels)`, undefined, 'run the tile pass for a C target: it records the blocking');
  return t as CTiling;
}

/** What a grouped GEMM's decode path asks of its one-row micro-kernel (from its tile). */
type DecodePath = Pick<Tiling, 'streams' | 'qdecode' | 'prefetch'>;

/** The template fields of a decode path: quantized group sums (and the prefetch) need vector code. */
function decodeView(d: DecodePath, simd: boolean): Record<string, unknown> {
  const streams = d.streams!;
  return {
    decodeForm: d,
    stream: true,
    streams,
    streamsWord: countWord(streams),
    quads: Array.from({ length: streams }, (_, j) => ({ j })),
    groupSum: simd && d.qdecode === 'group_sum',
    prefetch: d.prefetch,
  };
}

/** A small count as a word, for the comments (`four panels at a time`). */
function countWord(n: number): string {
  return ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight'][n] ?? String(n);
}

function kernelsOf(steps: readonly Step[]): Kernel[] {
  return steps.flatMap((s) => (s.kind === 'loop' ? kernelsOf(s.body) : [s]));
}

/** A GEMM whose tile says its weight tiles go through the scratchpad by DMA. */
function staged(k: Kernel): boolean {
  return (k.kind === 'gemm' || k.kind === 'grouped_gemm') && k.tile?.stage === 'dma';
}

/** The size the state caches' attention kernels count their cached positions in (forward's L), if the program has state. */
function pastSize(p: KProgram): string | undefined {
  if (p.maxContext === undefined) return undefined;
  let past: string | undefined;
  forEachKernel(p.steps, (k) => {
    if ((k.kind === 'attention' || k.kind === 'mla_attention') && isSym(k.past) && k.past.terms.length === 1) past ??= k.past.terms[0][0];
  });
  return past;
}

/** Renders the program (tiled and planned) as C. */
export function renderC(p: KProgram, target: TargetCaps, templates: CTemplates = cTemplates()): CSources {
  if (p.arenaBytes === undefined || p.maxTokens === undefined) throw new Error('C backend: the program is not planned (run tile and plan-memory)');
  refuseInputCaches(p, 'C');
  const layout = cWeightLayout(p, target.alignment, programIsa(p, target)?.lanes ?? 1);
  const r = new CRenderer(p, target, layout);
  const { header, source, main } = r.render(templates);
  const file = modelPrefix(p.name);
  const io = (list: KProgram['inputs']) =>
    list.map((x) => {
      const { shape, dtype } = p.buffers.find((b) => b.name === x.buffer)!;
      return { name: x.name, int: isIntDType(dtype), floats: (T: number) => evalElems(shape, T), shape: (T: number) => evalShape(shape, { T }) };
    });
  const state = p.buffers.some((b) => b.kind === 'state');
  return { file, header, source, main, layout, inputs: io(p.inputs), outputs: io(p.outputs), stateRegions: r.stateRegions, ...(state ? { maxContext: p.maxContext } : {}) };
}
