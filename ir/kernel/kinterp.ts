/**
 * @fileoverview The kernel IR's reference interpreter: runs a `KProgram` step by step on
 * named buffers, so fusion and lowering are proved against the graph interpreter before any
 * backend exists, and backends are held to its numbers. Clarity over speed.
 *
 * Running a program:
 * 1. it is verified (`verifyKernelIR`; problems are E402);
 * 2. the `pack` function runs once on the module weights with the graph interpreter, and
 *    its results (named after the weight buffers) become the weight buffers;
 * 3. input buffers are filled from `inputs` (by graph name), every temp and output buffer
 *    is allocated at its concrete shape under `bindings` and POISONED (floats NaN, integers
 *    -2^31), so a kernel that reads what no kernel wrote shows up in the results;
 * 4. the steps run in order; the output buffers are returned by graph name.
 *
 * Precision follows the graph interpreter ("float32 storage, float64 accumulation"), at
 * the granularity of kernels: everything inside one kernel (logits, scores, the GEMM
 * accumulator, every epilogue, the combine sum) is a float64 number, and each element is
 * rounded once when it is stored into a buffer (f32 by the Float32Array, f16/bf16 by
 * their rounding, nothing with `f64: true`). So results differ from the graph
 * interpreter's by the roundings of the intermediates a fused kernel no longer stores.
 *
 * Semantics (the kernel docs in `kernel.ts` are the contract; these fill in details):
 * - router: the chain of `moe_router` (`interp-fused.ts`), run with the graph kernels on
 *   float64 scratch: logits = x @ wᵀ (+ bias); scores; selection on scores (+ select_bias)
 *   by topk or group_topk (ties to the lower index); weights = the scores at the chosen
 *   experts, then softmax over them (post_softmax), / their sum (normalize), * scale;
 *   capacity drops slots to -1 (choice-major admission) but keeps their weight, which no
 *   combine reads; shared experts E..E+S-1 go last with weight 1 or
 *   sigmoid(x · shared_gate[0]).
 * - moe_align: experts in order 0..E-1, each expert's slots in slot order (a stable sort,
 *   like moe_permute), padded with -1 to a whole number of blocks; dropped slots (-1) are
 *   left out; sorted rows and block_expert entries past the used ones are -1.
 * - grouped_gemm, sorted path (T >= sorted_from_tokens, T = rows of `indices`): for each
 *   used block b (count[0] / block of them, block from the moe_align that wrote `sorted`)
 *   with e = block_expert[b], each row r with slot s = sorted[r] != -1:
 *   acc = A-row · w[e], the epilogues, then out[r] = acc (padding rows are not written).
 * - grouped_gemm, decode path (T < sorted_from_tokens): each slot s = t*K + k in order
 *   with e = indices[s] != -1; A-row = gather ? a[t] : a[s]; out[s] = acc. Rows of a
 *   non-combine output are therefore SLOTS on this path (sorted rows on the other), and a
 *   GEMM reading them must take the same path (the verifier checks it uses the same
 *   `sorted` buffer and threshold).
 * - The dot product runs k = 0..Kd-1 in order in float64, as the graph's matmul does.
 * - combine (both paths): each slot's row is kept, then per token
 *   out[t] = init[t] + Σ_{k = 0..K-1} weights[t, k] * row(t*K + k) with the sum in k
 *   order over the slots that have a row (0 without `init`). The two paths give
 *   bit-identical results.
 * - gemm: out[..., :] = epilogues(a[..., :] · w) row by row.
 * - op: the graph interpreter's kernel for the op (attribute defaults filled), its
 *   results copied into the output buffers.
 * - loop: first the `init` copies; then iteration i binds each slice to a view of row i of
 *   its stacked buffer (writes go through; a slice declared as a buffer is that view too,
 *   never storage of its own), runs the body, and copies every carried `from` into its
 *   `to` (all read before any is written). The copy also follows the last iteration, so
 *   after the loop the final values are in `to` (and `from`).
 * - Quantized weights (`KBuffer.quant`): `pack` returns codes with scales, which become the
 *   codes buffer and its f32 scales buffer; a GEMM or router reads the weight as its exact
 *   dequantized values (`quant.ts` `dequantize`: code × scale of its group, in f32;
 *   widened unchanged in f64 runs), then computes as above. A weight with `act=q8` has
 *   the GEMM's (or the router's) activation operand rounded to int8 blocks first, every
 *   row of it, with the graph interpreter's `roundedActivations` (quant.ts defines it).
 * Data errors (an expert index outside -1..E-1, a slot routed twice) are E505, as in the
 * graph interpreter; a program that cannot run although it verified is a bug: a plain Error.
 */
import { MoecError, fail } from '../diagnostics.ts';
import { DimError, evalShape } from '../dims.ts';
import { CONTEXT_DIM, runAttention } from './attention.ts';
import { runMla } from './mla.ts';
import { roundToBf16, roundToF16 } from '../float16.ts';
import type { Node } from '../graph/graph.ts';
import { interpretFunc } from '../graph/interp.ts';
import { type FloatArray, type KernelContext, KERNELS, unaryLoop } from '../graph/interp-kernels.ts';
import { FUSED_KERNELS } from '../graph/interp-fused.ts';
import { roundedActivations } from '../graph/interp-quant.ts';
import type { DispatchKernel, EpCombineKernel, Epilogue, GemmKernel, GroupedGemmKernel, KBuffer, KProgram, LoopStep, MoeAlignKernel, OpKernel, RouterKernel, Step } from './kernel.ts';
import { verifyKernelIR } from './kverify.ts';
import { alignsBySorted, bufferResolver, loopSlices } from './walk.ts';
import { packedBuffers } from './kweights.ts';
import { combineAll, dispatchAll, placementNamed, rankWeights } from './ep.ts';
import { checkTokenCount } from './token-bound.ts';
import { arenaBytesAt, arenaPartCount, atTokens } from './memory.ts';
import { getOp, resolveAttrs } from '../graph/ops.ts';
import { type QuantDType, dequantize, isQuantDType } from '../quant.ts';
import { type Tensor, type TensorData, isIntDType, numel } from '../tensor.ts';
import type { DType } from '../types.ts';

export interface KernelInterpretOptions {
  /** Values of the module's symbolic sizes, e.g. `{ T: 7 }`. */
  bindings: Record<string, number>;
  /** The model inputs by graph name (`KProgram.inputs[i].name`). */
  inputs: Record<string, Tensor>;
  /** The module weights by name (what `pack` reads). */
  weights: Record<string, Tensor>;
  /** Store floats in Float64Array and round nothing (default: float32 storage). */
  f64?: boolean;
  /**
   * Place every planned temp and output at its `offset` in one shared arena, as a backend
   * does, so a memory plan that lets two live buffers share bytes corrupts the results
   * (float32 storage only; needs a planned program).
   */
  arena?: boolean;
  /**
   * The state buffers (KV caches) by buffer name, the caller's (`allocateState`): read and
   * written in place, so the next call sees what this one appended. Their `CTX` is their rows.
   */
  state?: Record<string, Tensor>;
  /** Called after each router step runs, with its indices (routing statistics: `moec run --record-routing`). */
  onRouter?: (k: RouterKernel, indices: Tensor) => void;
}

/** Runs the program and returns its outputs by graph name. Throws `MoecError` for invalid programs (E402) and bad inputs. */
export function interpretKernelIR(p: KProgram, opts: KernelInterpretOptions): Record<string, Tensor> {
  if (p.ep && p.ep.ranks > 1) throw new Error(`kernel interpreter: '${p.name}' runs on ${p.ep.ranks} ranks; use interpretKernelIRRanks`);
  return interpretKernelIRRanks(p, { ...opts, inputs: [opts.inputs] })[0]!;
}

/**
 * Runs a program on every rank of its expert-parallel plan in one process (one rank without
 * one): `inputs[r]` are rank r's tokens (the same T on every rank). The ranks run in
 * lockstep: each runs up to its next all-to-all, which then moves the rows between all of
 * them at once (`ep.ts`), so every step of the distributed program has a reference.
 */
export function interpretKernelIRRanks(p: KProgram, opts: Omit<KernelInterpretOptions, 'inputs'> & { inputs: Array<Record<string, Tensor>> }): Array<Record<string, Tensor>> {
  const problems = verifyKernelIR(p);
  if (problems.length > 0) throw new MoecError(problems.map((message) => ({ code: 'E402' as const, message })));
  const ranks = p.ep?.ranks ?? 1;
  if (opts.inputs.length !== ranks) throw new Error(`kernel interpreter: ${opts.inputs.length} ranks' inputs for a program on ${ranks}`);
  if (opts.arena && ranks > 1) throw new Error('kernel interpreter: arena mode runs one rank');
  const packed = interpretFunc(p.module, p.pack, { bindings: packBindings(p, opts.bindings), weights: opts.weights, f64: opts.f64 });
  const runs = opts.inputs.map((inputs, r) => new KernelRun(p, { ...opts, inputs }, packedBuffers(p, rankWeights(p, packed, r))));
  const gens = runs.map((run) => run.steps());
  for (;;) {
    const at = gens.map((g) => g.next());
    const done = at.filter((x) => x.done).length;
    if (done === at.length) break;
    if (done > 0) throw new Error('kernel interpreter: the ranks left the program at different steps');
    const comm = at.map((x) => x.value as Exchange);
    const k = comm[0]!.kernel;
    const gets = comm.map((c) => (name: string) => c.get(name).t);
    if (k.kind === 'dispatch') dispatchAll(k, placementNamed(p, k.placement), gets);
    else combineAll(k, gets, (r, i, v) => put(comm[r]!.get(k.out), i, v));
  }
  return runs.map((run) => run.outputs());
}

/** Where a rank stops for an all-to-all: the step and its buffers. */
interface Exchange {
  kernel: DispatchKernel | EpCombineKernel;
  get: (name: string) => Buf;
}

/** A buffer's storage and how a value is rounded when stored into it (null: by the array, or not at all). */
interface Buf {
  t: Tensor;
  round: ((x: number) => number) | null;
}

type Scope = Map<string, Buf>;

const INT_POISON = -2147483648;

function put(b: Buf, i: number, v: number): void {
  b.t.data[i] = b.round ? b.round(v) : v;
}

/** Row `i` along the leading axis, as a view. */
function leadingSlice(x: Tensor, i: number): Tensor {
  const shape = x.shape.slice(1);
  const size = numel(shape);
  return { dtype: x.dtype, shape, data: x.data.subarray(i * size, (i + 1) * size) as TensorData };
}

/** The step that is running, for the graph kernels' data errors (E505 messages name it). */
function nodeFor(op: string): Node {
  return { op, inputs: [], attrs: {}, outputs: [] };
}

class KernelRun {
  private readonly f64: boolean;
  /** The shared arena in arena mode, one buffer per part. */
  private arena: ArrayBuffer[] | undefined;
  /** Every declared buffer by name (for quantized weights' scales). */
  private readonly buffers: Map<string, KBuffer>;
  /** Buffers by name, loop slices resolved to their stacked buffer's kind. */
  private readonly resolve: (name: string) => KBuffer;
  /** `sorted` buffer → the moe_align that writes it (for its block size). */
  private readonly aligns: ReadonlyMap<string, MoeAlignKernel>;
  /** Graph kernels run on this inside fused kernels: every float is float64 scratch. */
  private readonly scratch: KernelContext;
  /** Graph kernels of `op` steps run on this: the graph interpreter's storage. */
  private readonly opContext: KernelContext;

  constructor(
    private readonly p: KProgram,
    private readonly opts: KernelInterpretOptions,
    /** This rank's weight buffers (pack's results, the placed stacks sliced for it). */
    private readonly packed: Record<string, Tensor>,
  ) {
    this.f64 = opts.f64 ?? false;
    const noWeights = (): never => {
      throw new Error('kernel interpreter: graph kernels inside kernel steps read buffers, not module weights');
    };
    const noCalls = (): never => {
      throw new Error('kernel interpreter: graph kernels inside kernel steps call no functions (a repeat is a loop step)');
    };
    const bindings = opts.bindings;
    this.scratch = {
      bindings,
      alloc: (dtype, shape) => ({ dtype, shape, data: isIntDType(dtype) ? new Int32Array(numel(shape)) : new Float64Array(numel(shape)) }),
      weight: noWeights,
      call: noCalls,
    };
    this.opContext = {
      bindings,
      alloc: (dtype, shape) => {
        const n = numel(shape);
        if (isIntDType(dtype)) return { dtype, shape, data: new Int32Array(n) };
        const wide = this.f64 || dtype === 'f64' || dtype === 'f16' || dtype === 'bf16';
        return { dtype, shape, data: wide ? new Float64Array(n) : new Float32Array(n) };
      },
      weight: noWeights,
      call: noCalls,
    };
    this.aligns = alignsBySorted(p.steps);
    this.buffers = new Map(p.buffers.map((b) => [b.name, b]));
    this.resolve = bufferResolver(p);
  }

  private scope: Scope = new Map();

  /** Runs the steps, pausing at each all-to-all (the caller moves the rows). */
  *steps(): Generator<Exchange, void, void> {
    this.scope = this.setUp();
    yield* this.exec(this.p.steps, this.scope);
  }

  outputs(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    // Copies: in arena mode an output is a view of memory the next run would reuse.
    for (const o of this.p.outputs) {
      const t = this.scope.get(o.buffer)!.t;
      out[o.name] = { ...t, data: t.data.slice() as TensorData };
    }
    return out;
  }

  private setUp(): Scope {
    if (this.opts.arena) {
      if (this.f64) throw new Error('kernel interpreter: arena mode is float32 only (offsets are planned for 4-byte floats)');
      if (this.p.arenaBytes === undefined) throw new Error('kernel interpreter: arena mode needs a planned program (run plan-memory)');
      // The arena is planned for the token bound: a larger T would overrun it, as in a backend.
      if (this.p.maxTokens !== undefined) checkTokenCount(this.opts.bindings?.T, this.p.maxTokens);
      // Each part holds exactly what this T touches (`arenaBytesAt`), as backends allocate it:
      // a plan whose offsets at this T reach past that would fail here.
      const T = this.opts.bindings?.T ?? 1;
      this.arena = Array.from({ length: arenaPartCount(this.p) }, (_, k) => new ArrayBuffer(arenaBytesAt(this.p, T, this.opts.bindings, k)));
    }
    const packed = this.packed;
    const scope: Scope = new Map();
    const slices = loopSlices(this.p.steps);
    for (const b of this.p.buffers) {
      if (slices.has(b.name)) continue; // a view, bound per iteration
      if (b.kind === 'weight') scope.set(b.name, this.adopt(`weight buffer ${b.name} (from ${this.p.pack})`, b, packed[b.name], true));
      else if (b.kind === 'input') {
        const name = this.p.inputs.find((i) => i.buffer === b.name)!.name;
        scope.set(b.name, this.adopt(`input '${name}'`, b, Object.hasOwn(this.opts.inputs, name) ? this.opts.inputs[name] : undefined, false));
      } else if (b.kind === 'state') scope.set(b.name, this.stateBuffer(b));
      else scope.set(b.name, this.fresh(b));
    }
    return scope;
  }

  // --- storage ---------------------------------------------------------------------------

  private concrete(b: KBuffer): number[] {
    try {
      return evalShape(b.shape, this.opts.bindings);
    } catch (e) {
      if (e instanceof DimError) fail('E505', `buffer ${b.name}: ${e.message}`);
      throw e;
    }
  }

  private rounding(dtype: DType): Buf['round'] {
    if (this.f64) return null;
    if (dtype === 'f16') return roundToF16;
    if (dtype === 'bf16') return roundToBf16;
    return null;
  }

  private arenaView(b: KBuffer, n: number): TensorData {
    // A program read from text can say anything: these are errors in it (E402), not in moec.
    if (b.offset === undefined || b.bytes === undefined) fail('E402', `arena mode needs a planned program; ${b.name} has no offset`);
    const T = this.opts.bindings?.T ?? 1;
    const [offset, bytes] = [atTokens(b.offset, T), atTokens(b.bytes, T)];
    if (n * 4 > bytes) fail('E402', `${b.name} needs ${n * 4} bytes at these sizes, its plan gives ${bytes}`);
    if (b.dtype !== 'f32' && !isIntDType(b.dtype)) fail('E402', `arena mode stores f32 and i32 buffers only, not ${b.name}: ${b.dtype}`);
    const part = this.arena![b.part ?? 0];
    if (!part) fail('E402', `${b.name} is in arena part ${b.part}, which the program does not have`);
    return isIntDType(b.dtype) ? new Int32Array(part, offset, n) : new Float32Array(part, offset, n);
  }

  private storage(dtype: DType, n: number): TensorData {
    if (intStored(dtype)) return new Int32Array(n);
    return this.f64 || dtype === 'f64' ? new Float64Array(n) : new Float32Array(n);
  }

  /** A temp or output buffer, poisoned: its own storage, or its planned place in the arena. */
  private fresh(b: KBuffer): Buf {
    const shape = this.concrete(b);
    const data = this.arena ? this.arenaView(b, numel(shape)) : this.storage(b.dtype, numel(shape));
    data.fill(data instanceof Int32Array ? INT_POISON : NaN);
    return { t: { dtype: b.dtype, shape, data }, round: this.rounding(b.dtype) };
  }

  /** A state buffer: the caller's tensor itself (writes go through), of the buffer's type at the program's context bound. */
  private stateBuffer(b: KBuffer): Buf {
    const t = this.opts.state?.[b.name];
    if (t === undefined) fail('E503', `missing the state buffer ${b.name} (a KV cache)`, undefined, 'allocate the state once with allocateState and pass it to every call');
    const shape = evalShape(b.shape, { ...this.opts.bindings, [CONTEXT_DIM]: this.p.maxContext ?? 0 });
    if (t.dtype !== b.dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.data.length !== numel(shape) || !(t.data instanceof (this.f64 ? Float64Array : Float32Array)))
      fail('E504', `the state buffer ${b.name} is ${t.dtype}[${t.shape.join(', ')}], expected ${b.dtype}[${shape.join(', ')}] in ${this.f64 ? 'f64' : 'f32'} storage`);
    return { t, round: this.rounding(b.dtype) };
  }

  /** A given tensor checked against its buffer and put into this run's storage (weights from pack may be shared). */
  private adopt(what: string, b: KBuffer, t: Tensor | undefined, share: boolean): Buf {
    const shape = this.concrete(b);
    const want = `${b.dtype}[${shape.join(', ')}]`;
    if (t === undefined) fail('E503', `missing ${what}: expected ${want}`);
    if (t.dtype !== b.dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      fail('E504', `${what} is ${t.dtype}[${t.shape.join(', ')}], expected ${want}`);
    if (t.data.length !== numel(shape)) fail('E504', `${what} holds ${t.data.length} values, expected ${numel(shape)}`);
    if (t.data instanceof Int32Array !== intStored(b.dtype)) fail('E504', `${what} is ${want} but its data is a ${t.data.constructor.name}`);
    const buf: Buf = { t: { dtype: b.dtype, shape, data: this.storage(b.dtype, numel(shape)) }, round: this.rounding(b.dtype) };
    if (share && t.data.constructor === buf.t.data.constructor) return { ...buf, t: { ...buf.t, data: t.data } };
    for (let i = 0; i < t.data.length; i++) put(buf, i, t.data[i]);
    return buf;
  }

  // --- steps -----------------------------------------------------------------------------

  private *exec(steps: readonly Step[], scope: Scope): Generator<Exchange, void, void> {
    const get = (name: string): Buf => {
      const b = scope.get(name);
      if (!b) throw new Error(`kernel interpreter: no buffer ${name}`);
      return b;
    };
    for (const s of steps)
      switch (s.kind) {
        case 'loop':
          yield* this.loop(s, scope);
          break;
        case 'dispatch':
        case 'ep_combine':
          // The exchange is one event here: it happens at `finish` (nothing is read from a started one before).
          if (s.phase !== 'start') yield { kernel: s, get };
          break;
        case 'router':
          this.router(s, get);
          this.opts.onRouter?.(s, get(s.indices).t);
          break;
        case 'moe_align':
          this.moeAlign(s, get);
          break;
        case 'grouped_gemm':
          this.groupedGemm(s, get);
          break;
        case 'gemm':
          this.gemm(s, get);
          break;
        case 'op':
          this.op(s, get);
          break;
        case 'attention': {
          const operand = (name: string) => {
            const b = get(name);
            return { t: b.t, store: (i: number, v: number) => put(b, i, v) };
          };
          const state = this.resolve(s.kCache).kind === 'state';
          const ops = { q: get(s.q).t, k: get(s.k).t, v: get(s.v).t, kCache: operand(s.kCache), vCache: operand(s.vCache), out: operand(s.out), ...(s.sinks !== undefined ? { sinks: get(s.sinks).t } : {}) };
          runAttention(s, ops, state, this.opts.bindings);
          break;
        }
        case 'mla_attention': {
          const operand = (name: string) => {
            const b = get(name);
            return { t: b.t, store: (i: number, v: number) => put(b, i, v) };
          };
          const state = this.resolve(s.kvCache).kind === 'state';
          const ops = { qNope: get(s.qNope).t, qPe: get(s.qPe).t, kv: get(s.kv).t, kPe: get(s.kPe).t, kvCache: operand(s.kvCache), peCache: operand(s.peCache), wkvB: get(s.wkvB).t, out: operand(s.out) };
          runMla(s, ops, state, this.opts.bindings);
          break;
        }
      }
  }

  private *loop(l: LoopStep, scope: Scope): Generator<Exchange, void, void> {
    const copy = (pairs: ReadonlyArray<{ from: string; to: string }>, from: Scope, to: Scope): void => {
      const values = pairs.map((c) => from.get(c.from)!.t.data.slice());
      pairs.forEach((c, j) => to.get(c.to)!.t.data.set(values[j]));
    };
    copy(l.init ?? [], scope, scope);
    for (let i = 0; i < l.count; i++) {
      const inner: Scope = new Map(scope);
      for (const s of l.slices) {
        const st = scope.get(s.stacked)!;
        inner.set(s.slice, { t: leadingSlice(st.t, i), round: st.round });
      }
      yield* this.exec(l.body, inner);
      copy(l.carried, inner, scope);
    }
  }

  private router(k: RouterKernel, get: (name: string) => Buf): void {
    const node = nodeFor('router');
    const run = (op: string, inputs: Tensor[], attrs: Record<string, number | string | boolean>): Tensor[] => KERNELS[op](this.scratch, inputs, attrs, node);
    const x = get(k.x).t;
    const w = this.weight(k.w, get);
    const xw = this.activations(x, k.w);
    const logits = run('matmul', k.bias ? [xw, w, get(k.bias).t] : [xw, w], { transpose_b: true })[0];
    const scores = k.score === 'softmax' ? run('softmax', [logits], { axis: -1 })[0] : k.score === 'sigmoid' ? run('sigmoid', [logits], {})[0] : logits;
    const selectOn = k.selectBias ? run('add', [scores, get(k.selectBias).t], {})[0] : scores;
    const sel = k.select;
    const [values, chosen] =
      sel.kind === 'group_topk'
        ? run('group_topk', [selectOn], { k: k.k, groups: sel.groups, topk_groups: sel.topkGroups, group_score: sel.groupScore })
        : run('topk', [selectOn], { k: k.k, axis: -1 });
    let weights = k.selectBias ? run('gather', [scores, chosen], { axis: -1 })[0] : values;
    if (k.postSoftmax) weights = run('softmax', [weights], { axis: -1 })[0];
    if (k.normalize) weights = run('div', [weights, run('sum', [weights], { axis: -1, keepdim: true })[0]], {})[0];
    const kept = k.capacityFactor !== undefined ? run('route_capacity', [chosen], { experts: k.experts, capacity_factor: k.capacityFactor })[0] : chosen;
    const gate = k.sharedGate ? run('sigmoid', [run('matmul', [this.activations(x, k.sharedGate), this.weight(k.sharedGate, get)], { transpose_b: true })[0]], {})[0] : null;
    const idx = get(k.indices);
    const wts = get(k.weights);
    const tokens = x.shape[0];
    const cols = k.k + k.shared;
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < k.k; j++) {
        idx.t.data[t * cols + j] = kept.data[t * k.k + j];
        put(wts, t * cols + j, weights.data[t * k.k + j] * k.scale);
      }
      for (let s = 0; s < k.shared; s++) {
        idx.t.data[t * cols + k.k + s] = k.experts + s;
        put(wts, t * cols + k.k + s, gate ? gate.data[t] : 1);
      }
    }
  }

  private moeAlign(k: MoeAlignKernel, get: (name: string) => Buf): void {
    const idx = get(k.indices).t.data as Int32Array;
    const sorted = get(k.sorted).t.data as Int32Array;
    const blockExpert = get(k.blockExpert).t.data as Int32Array;
    const count = new Int32Array(k.experts);
    for (let s = 0; s < idx.length; s++) {
      const e = idx[s];
      if (e === -1) continue;
      if (e < -1 || e >= k.experts) fail('E505', `moe_align: expert index ${e} (slot ${s}) is outside -1..${k.experts - 1}`);
      count[e]++;
    }
    sorted.fill(-1);
    blockExpert.fill(-1);
    const next = new Int32Array(k.experts);
    let rows = 0;
    let blocks = 0;
    for (let e = 0; e < k.experts; e++) {
      next[e] = rows;
      const n = Math.ceil(count[e] / k.block);
      if (blocks + n > blockExpert.length || rows + n * k.block > sorted.length)
        throw new Error(`kernel interpreter: moe_align needs more than the ${sorted.length} rows of ${k.sorted} or the ${blockExpert.length} blocks of ${k.blockExpert}`);
      blockExpert.fill(e, blocks, blocks + n);
      blocks += n;
      rows += n * k.block;
    }
    for (let s = 0; s < idx.length; s++) if (idx[s] !== -1) sorted[next[idx[s]]++] = s;
    get(k.count).t.data[0] = rows;
  }

  private groupedGemm(k: GroupedGemmKernel, get: (name: string) => Buf): void {
    const a = this.activations(get(k.a).t, k.w);
    const w = this.weight(k.w, get);
    const idx = get(k.indices).t.data as Int32Array;
    const out = get(k.out);
    const slots = idx.length;
    const tokens = slots / k.k;
    const experts = w.shape[0];
    const last = k.epilogue[k.epilogue.length - 1];
    const combine = last?.kind === 'combine' ? last : undefined;
    const rowOp = new RowGemm(a.data as FloatArray, a.shape[a.shape.length - 1], w.data as FloatArray, k.transB, w.shape, combine ? k.epilogue.slice(0, -1) : k.epilogue, true, get);
    const n = rowOp.width;
    const aRows = a.shape[0];
    const kept = combine ? new Float64Array(slots * n) : null;
    const has = new Uint8Array(slots);
    const emit = (r: number, s: number, e: number): void => {
      const from = k.gather ? Math.floor(s / k.k) : r;
      if (from >= aRows) throw new Error(`kernel interpreter: grouped_gemm reads row ${from} of ${k.a}, which has ${aRows}`);
      const y = rowOp.row(from, e);
      if (kept) {
        if (has[s]) fail('E505', `grouped_gemm: slot ${s} is routed twice`);
        kept.set(y, s * n);
      } else for (let j = 0; j < n; j++) put(out, r * n + j, y[j]);
      has[s] = 1;
    };
    if (tokens < k.sortedFromTokens) {
      for (let s = 0; s < slots; s++) {
        const e = idx[s];
        if (e === -1) continue;
        if (e < -1 || e >= experts) fail('E505', `grouped_gemm: expert index ${e} (slot ${s}) is outside -1..${experts - 1}`);
        emit(s, s, e);
      }
    } else {
      const block = this.aligns.get(k.sorted)!.block;
      const sorted = get(k.sorted).t.data as Int32Array;
      const blockExpert = get(k.blockExpert).t.data as Int32Array;
      const used = get(k.count).t.data[0];
      if (used < 0 || used % block !== 0 || used > sorted.length) throw new Error(`kernel interpreter: grouped_gemm: count ${used} is not a whole number of blocks of ${block} within ${k.sorted}`);
      for (let b = 0; b < used / block; b++) {
        const e = blockExpert[b];
        if (e === -1) continue;
        if (e < 0 || e >= experts) throw new Error(`kernel interpreter: grouped_gemm: block ${b} has expert ${e}, outside 0..${experts - 1}`);
        for (let r = b * block; r < (b + 1) * block; r++) {
          const s = sorted[r];
          if (s === -1) continue;
          if (s < 0 || s >= slots || idx[s] !== e) throw new Error(`kernel interpreter: grouped_gemm: row ${r} holds slot ${s}, which is not routed to expert ${e}`);
          emit(r, s, e);
        }
      }
    }
    if (!kept) return;
    const wts = get(combine!.weights).t.data;
    const init = k.init !== undefined ? get(k.init).t.data : null;
    const acc = new Float64Array(n);
    for (let t = 0; t < tokens; t++) {
      acc.fill(0);
      for (let c = 0; c < k.k; c++) {
        const s = t * k.k + c;
        if (!has[s]) continue;
        const wv = wts[s];
        for (let j = 0; j < n; j++) acc[j] += wv * kept[s * n + j];
      }
      for (let j = 0; j < n; j++) put(out, t * n + j, init ? init[t * n + j] + acc[j] : acc[j]);
    }
  }

  private gemm(k: GemmKernel, get: (name: string) => Buf): void {
    const a = this.activations(get(k.a).t, k.w);
    const w = this.weight(k.w, get);
    const out = get(k.out);
    const kd = a.shape[a.shape.length - 1];
    const rowOp = new RowGemm(a.data as FloatArray, kd, w.data as FloatArray, k.transB, [1, ...w.shape], k.epilogue, false, get);
    const n = rowOp.width;
    const rows = numel(a.shape.slice(0, -1));
    for (let r = 0; r < rows; r++) {
      const y = rowOp.row(r, 0);
      for (let j = 0; j < n; j++) put(out, r * n + j, y[j]);
    }
  }

  /**
   * A GEMM's activation operand as it multiplies the weight `w`: rounded to int8 blocks
   * row by row where `w` says act=q8 (`roundedActivations`, the graph interpreter's), else
   * as it is. Every row is rounded, read or not: rows are independent, and padding rows
   * (NaN poison) stay NaN and unread.
   */
  private activations(a: Tensor, w: string): Tensor {
    return roundedActivations(a, this.buffers.get(w)?.quant?.act);
  }

  /**
   * A GEMM's weight: the buffer itself, or for a quantized buffer its exact dequantized
   * values (`quant.ts`), computed from the codes and the scales buffer in scope (so a loop
   * slice reads its layer's scales). f32 values, widened unchanged in f64 runs.
   */
  private weight(name: string, get: (name: string) => Buf): Tensor {
    const t = get(name).t;
    const q = this.buffers.get(name)?.quant;
    if (!q) return t;
    const scales = get(q.scales).t.data as Float32Array;
    const values = dequantize({ dtype: t.dtype as QuantDType, shape: t.shape, axis: q.axis, group: q.group, codes: t.data as Int32Array, scales: Float32Array.from(scales) });
    return { dtype: 'f32', shape: t.shape, data: this.f64 ? Float64Array.from(values) : values };
  }

  private op(k: OpKernel, get: (name: string) => Buf): void {
    const attrs = resolveAttrs(getOp(k.op)!, k.attrs);
    const kernel = KERNELS[k.op] ?? FUSED_KERNELS[k.op];
    const results = kernel(
      this.opContext,
      k.inputs.map((n) => get(n).t),
      attrs,
      nodeFor(k.op),
    );
    results.forEach((t, i) => {
      const b = get(k.outputs[i]);
      if (t.dtype !== b.t.dtype || t.shape.length !== b.t.shape.length || t.shape.some((d, j) => d !== b.t.shape[j]))
        throw new Error(`kernel interpreter: ${k.op} made ${t.dtype}[${t.shape}] for ${k.outputs[i]}, which is ${b.t.dtype}[${b.t.shape}]`);
      for (let j = 0; j < t.data.length; j++) put(b, j, t.data[j]);
    });
  }
}

/**
 * The sizes `pack` runs under. It reads weights only, so no size changes what it computes,
 * but the graph interpreter wants every declared size bound to a positive value: the context
 * `CTX` gets the program's bound, and an L of 0 (a prefill into an empty state cache) is
 * given as 1 there.
 */
function packBindings(p: KProgram, given: Record<string, number>): Record<string, number> {
  const out = { ...given };
  if (p.maxContext !== undefined) out[CONTEXT_DIM] = p.maxContext;
  for (const [k, v] of Object.entries(out)) if (v === 0) out[k] = 1;
  return out;
}

/** Integers, and quantized codes (one per element, fp8 bytes included), live in Int32Array. */
function intStored(dtype: DType): boolean {
  return isIntDType(dtype) || isQuantDType(dtype);
}

/**
 * One output row of a (grouped) GEMM with its epilogue chain (no combine), in float64:
 * acc[j] = Σ_k a[row, k] * w[e][j, k] (k in order), then bias, act and glu in order.
 */
class RowGemm {
  /** Output columns after the epilogues. */
  readonly width: number;
  private readonly n: number;
  private readonly acc: Float64Array;
  private readonly half: Float64Array;
  private readonly steps: Array<{ e: Epilogue; data?: TensorData }>;

  constructor(
    private readonly a: FloatArray,
    private readonly kd: number,
    private readonly w: FloatArray,
    private readonly transB: boolean,
    /** [E, N, Kd] with transB, else [E, Kd, N] (a dense weight is one expert). */
    wShape: readonly number[],
    chain: readonly Epilogue[],
    /** Biases are per expert ([E, N]) rather than shared ([N]). */
    private readonly grouped: boolean,
    get: (name: string) => Buf,
  ) {
    this.n = transB ? wShape[1] : wShape[2];
    this.acc = new Float64Array(this.n);
    this.half = new Float64Array(this.n);
    this.steps = chain.map((e) => (e.kind === 'bias' ? { e, data: get(e.bias).t.data } : { e }));
    this.width = chain.reduce((n, e) => (e.kind === 'glu' ? n / 2 : n), this.n);
  }

  /** The row for A-row `r` against expert `e`; valid until the next call. */
  row(r: number, e: number): Float64Array {
    const { a, w, kd, n } = this;
    let acc = this.acc;
    const aOff = r * kd;
    const wOff = e * n * kd;
    for (let j = 0; j < n; j++) {
      let s = 0;
      if (this.transB) for (let k = 0; k < kd; k++) s += a[aOff + k] * w[wOff + j * kd + k];
      else for (let k = 0; k < kd; k++) s += a[aOff + k] * w[wOff + k * n + j];
      acc[j] = s;
    }
    let width = n;
    for (const { e: ep, data } of this.steps) {
      if (ep.kind === 'bias') {
        const off = this.grouped ? e * width : 0;
        for (let j = 0; j < width; j++) acc[j] += data![off + j];
      } else if (ep.kind === 'act') {
        const v = acc.subarray(0, width);
        unaryLoop(ep.fn, v, v);
      } else if (ep.kind === 'glu') {
        const half = width / 2;
        const out = acc === this.acc ? this.half : this.acc;
        const inter = ep.layout === 'interleaved';
        for (let j = 0; j < half; j++) {
          const g = inter ? acc[2 * j] : acc[j];
          const u = inter ? acc[2 * j + 1] : acc[half + j];
          out[j] = ep.fn === 'swiglu' ? (g / (1 + Math.exp(-g))) * u : swigluClamped(g, u, ep.limit!, ep.alpha!);
        }
        acc = out;
        width = half;
      }
    }
    return acc.subarray(0, width);
  }
}

/** GPT-OSS: g = min(g, limit), u = clamp(u, -limit, limit), (u + 1) * g * sigmoid(alpha * g); NaN stays NaN. */
function swigluClamped(g: number, u: number, limit: number, alpha: number): number {
  const gc = Math.min(g, limit);
  const uc = Math.min(Math.max(u, -limit), limit);
  return (uc + 1) * gc * (1 / (1 + Math.exp(-(gc * alpha))));
}
