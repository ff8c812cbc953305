/**
 * @fileoverview The reference interpreter of the graph IR: the numbers every backend (C,
 * Wasm, WGSL) is held to. It walks `main` node by node, runs each op's kernel from
 * `interp-kernels.ts` on concrete tensors, and returns `main`'s results. Clarity first, then
 * plain typed-array loops fast enough for small configs of real models.
 *
 * Precision: "float32 storage, float64 accumulation". Every op computes each result element
 * in JS numbers (float64) — sums, dot products, softmax denominators, norms, the combine's
 * weighted sum — and rounds once when it stores it:
 * - f32 tensors live in Float32Array (the store rounds to nearest even);
 * - f16 and bf16 tensors live in Float32Array holding values already rounded to their
 *   format, rounded once from the float64 result (`roundToF16`/`roundToBf16` of
 *   `safetensors.ts`, the same rounding the file writer uses), never through f32;
 * - f64 tensors live in Float64Array;
 * - integer tensors (i32 and the rest; i64 is held as i32) live in Int32Array.
 * With `f64: true` every float tensor lives in Float64Array and nothing is rounded, not even
 * f16/bf16 tensors or float-to-float casts: the run approximates exact arithmetic, to measure
 * how far the float32 (and every backend's) results drift. Inputs and weights are converted
 * to the run's storage on entry (f32 data into f64 runs and back; f16/bf16 data rounded).
 *
 * Determinism: every result is a fixed function of the inputs, independent of data layout.
 * - Sums run in index order (matmul and grouped_matmul over k = 0..K-1, then + bias;
 *   reductions, softmax and rmsnorm along the axis; moe_combine per token over choices
 *   k = 0..K-1, whatever order the expert rows are in).
 * - topk and group_topk sort descending and break ties toward the lower index; NaN ranks
 *   above every number (like torch.topk), so NaNs are selected first, lower index first.
 *   -0 and +0 tie.
 * - NaN propagates through elementwise ops (relu included), maximum/minimum, clamp, amax
 *   and softmax (a NaN anywhere in a softmax row makes the row NaN; an all -inf row is NaN,
 *   as in torch).
 *
 * Semantics choices (the op docs in `ops.ts` are the contract; these fill in the details):
 * - gelu "none" uses an erf/erfc accurate to ~1e-14 relative (erf's all-positive power
 *   series for small |x|, erfc's continued fraction for large); Φ(x) is computed as
 *   erfc(-x/√2)/2 so that negative x keep their relative accuracy.
 * - group_topk: experts of groups that are not kept are never candidates (DeepSeek's -inf
 *   mask, but a kept expert scoring -inf still beats them); the result values are the input
 *   scores at the chosen experts.
 * - route_capacity: capacity = ceil(capacity_factor * T * K / E) evaluated left to right in
 *   float64 (`expertCapacity`); slots are admitted choice-major (every token's choice 0 in
 *   token order, then choice 1, ...); -1 stays -1.
 * - moe_permute is a stable counting sort of slots t*K+k by expert; dropped slots follow
 *   offsets[E] in slot order. Expert indices outside -1..E-1, slots out of range, bad
 *   offsets and out-of-range gather indices are user errors (E505) naming the op.
 * - grouped_matmul leaves rows outside offsets[0]..offsets[E] zero; moe_dispatch zeroes rows
 *   past offsets[E].
 * - cast: float to int truncates toward zero and saturates to the type's range (i64 to i32's,
 *   as it is held in an Int32Array), NaN becomes 0; to bool is `x != 0`; int to a narrower
 *   int wraps (two's complement). fp8e4m3 is not supported yet (E309).
 * - repeat passes stacked operands' slice i as views of the stacked buffer (no copies).
 * - Quantized weights (`interp-quant.ts`): codes plus f32 scales; a declared quantized
 *   weight given as floats is quantized on loading; GEMMs (matmul, grouped_matmul and the
 *   fused ops built on them) read the exact dequantized values (`quant.ts` `dequantize`),
 *   widened unchanged in f64 runs; packing ops move codes and scales together. A weight
 *   with `act=q8` has each GEMM reading it round its activation operand to int8 blocks of
 *   32 first (`quant.ts` `roundActivationsQ8`).
 *
 * Run-time checks (MoecError): every declared dim bound to a positive integer within its
 * `max` (E505); each input and each weight a `weight` node reads present (E503), with the
 * declared dtype, concrete shape and element count and the right array kind (E504); no
 * tensor over `maxElements` elements (E307). An op without a kernel, or a kernel result
 * that disagrees with the node's declared type, is a bug in moec: a plain Error.
 *
 * Result tensors may share buffers with inputs, weights or each other (reshape and weight
 * return views); treat every tensor as immutable.
 */
import { MoecError, fail } from '../diagnostics.ts';
import { type Dim, DimError, evalShape, shapeToString } from '../dims.ts';
import { type Func, type Module, type Node, type Value, type WeightDecl, findFunc, findWeight, mainFunc } from './graph.ts';
import { roundToBf16, roundToF16 } from '../float16.ts';
import { KERNELS, type KernelContext } from './interp-kernels.ts';
import { loadQuantized } from './interp-quant.ts';
import { FUSED_KERNELS } from './interp-fused.ts';
import { type Tensor, isIntDType, numel } from '../tensor.ts';
import { type DType, isFloatDType } from '../types.ts';

export { erf, erfc, expertCapacity } from './interp-kernels.ts';

export interface InterpretOptions {
  /** Values of the module's symbolic sizes, e.g. `{ T: 7 }`. */
  bindings: Record<string, number>;
  /** `main`'s inputs by parameter name (other entries are ignored). */
  inputs: Record<string, Tensor>;
  /**
   * Weights by name, or a function that makes the weight `w` at its concrete shape. Only
   * the weights that `weight` nodes read are looked up, each once, before the run starts.
   */
  weights: Record<string, Tensor> | ((w: WeightDecl, shape: number[]) => Tensor);
  /** Store floats in Float64Array and round nothing (default: float32 storage). */
  f64?: boolean;
  /** Largest element count of any one tensor (default 2^28); larger ones are refused (E307). */
  maxElements?: number;
}

/** The default largest tensor the reference interpreter holds: 2^28 elements, 1 GiB of float32. */
export const MAX_INTERP_ELEMENTS = 2 ** 28;

/** Runs `main` of `m` and returns its results by name. Throws `MoecError` for bad sizes, inputs or weights. */
export function interpret(m: Module, opts: InterpretOptions): Record<string, Tensor> {
  const bindings = checkBindings(m, opts.bindings);
  const run = new Interpreter(m, bindings, opts.f64 ?? false, opts.maxElements ?? MAX_INTERP_ELEMENTS);
  run.loadWeights(opts.weights);
  const main = mainFunc(m);
  const args = main.params.map((p) => run.checkTensor(`input '${p.name}'`, p.type.dtype, p.type.shape, own(opts.inputs, p.name)));
  const results = run.call(main.name, args);
  const out: Record<string, Tensor> = {};
  main.results.forEach((r, i) => (out[r.name] = results[i]));
  return out;
}

/**
 * Runs the module function `name`, which takes no parameters (the kernel IR's weight-packing
 * function), and returns its results by name. Same checks as `interpret`.
 */
export function interpretFunc(m: Module, name: string, opts: Omit<InterpretOptions, 'inputs'>): Record<string, Tensor> {
  const bindings = checkBindings(m, opts.bindings);
  const f = findFunc(m, name);
  if (!f) throw new Error(`interpreter: no function named '${name}'`);
  if (f.params.length > 0) throw new Error(`interpreter: ${name} takes ${f.params.length} values; interpretFunc runs functions without parameters`);
  const run = new Interpreter(m, bindings, opts.f64 ?? false, opts.maxElements ?? MAX_INTERP_ELEMENTS);
  run.loadWeights(opts.weights);
  const results = run.call(name, []);
  const out: Record<string, Tensor> = {};
  f.results.forEach((r, i) => (out[r.name] = results[i]));
  return out;
}

/** `record[key]` if it is the record's own entry (so an input named `constructor` is not found on the prototype). */
function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * Every declared dim bound to a whole number within its `max`: the token count T at least 1,
 * the others at least 0 (an empty KV cache, L = 0, is a prefill). Unknown names are ignored.
 */
function checkBindings(m: Module, given: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = { ...given };
  for (const d of m.dims) {
    const v = given[d.name];
    if (v === undefined)
      fail('E505', `no value for the size ${d.name}`, d.span, d.name === 'T' ? 'give the token count (moec run --tokens N)' : `bind ${d.name}`);
    const least = d.name === 'T' ? 1 : 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < least) fail('E505', `${d.name} = ${v} is not ${least === 1 ? 'a positive integer' : 'a whole number (0 or more)'}`, d.span);
    if (d.max !== undefined && v > d.max) fail('E505', `${d.name} = ${v} is over its bound ${d.max} (dim ${d.name} <= ${d.max})`, d.span);
  }
  return out;
}

function typeString(dtype: DType, shape: readonly Dim[]): string {
  return `${dtype}${shapeToString(shape)}`;
}

class Interpreter implements KernelContext {
  private readonly weights = new Map<string, Tensor>();
  /** Per function: node index → the values whose last use it is (to release them early). */
  private readonly lastUses = new Map<Func, Value[][]>();

  constructor(
    private readonly module: Module,
    readonly bindings: Readonly<Record<string, number>>,
    private readonly f64: boolean,
    private readonly maxElements: number,
  ) {}

  // --- KernelContext ---------------------------------------------------------------------

  alloc(dtype: DType, shape: number[]): Tensor {
    const n = numel(shape);
    if (isIntDType(dtype)) return { dtype, shape, data: new Int32Array(n) };
    // f16/bf16 results are computed into float64 scratch and rounded once by `store`.
    const wide = this.f64 || dtype === 'f64' || dtype === 'f16' || dtype === 'bf16';
    return { dtype, shape, data: wide ? new Float64Array(n) : new Float32Array(n) };
  }

  weight(name: string): Tensor {
    const w = this.weights.get(name);
    if (!w) throw new Error(`interpreter: weight '${name}' was not loaded`);
    return w;
  }

  call(name: string, args: Tensor[]): Tensor[] {
    const f = findFunc(this.module, name);
    if (!f) throw new Error(`interpreter: no function named '${name}'`);
    return this.runFunc(f, args);
  }

  // --- Loading ---------------------------------------------------------------------------

  /** Loads every weight that a `weight` node reads, checked against its declaration. */
  loadWeights(source: InterpretOptions['weights']): void {
    for (const f of this.module.funcs)
      for (const node of f.body) {
        if (node.op !== 'weight') continue;
        const name = node.attrs.name as string;
        if (this.weights.has(name)) continue;
        const decl = findWeight(this.module, name);
        if (!decl) throw new Error(`interpreter: no weight named '${name}'`);
        const what = `weight '${name}'`;
        const shape = this.concrete(decl.type.shape, what);
        this.checkSize(numel(shape), `${what} (${typeString(decl.type.dtype, shape)})`);
        const given = typeof source === 'function' ? source(decl, shape) : own(source, name);
        if (decl.type.quant) this.weights.set(name, loadQuantized(what, decl.type, shape, given));
        else this.weights.set(name, this.checkTensor(what, decl.type.dtype, decl.type.shape, given));
      }
  }

  /** Checks a given tensor against its declared type and converts it to this run's storage. */
  checkTensor(what: string, dtype: DType, declared: readonly Dim[], t: Tensor | undefined): Tensor {
    const shape = this.concrete(declared, what);
    const want = typeString(dtype, shape);
    const symbolic = declared.some((d) => typeof d !== 'number') ? ` (${typeString(dtype, declared)})` : '';
    this.checkSize(numel(shape), `${what} (${want})`);
    if (t === undefined) fail('E503', `missing ${what}: expected ${want}${symbolic}`);
    const got = typeString(t.dtype, t.shape);
    if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      fail('E504', `${what} is ${got}, expected ${want}${symbolic}`);
    if (t.data.length !== numel(shape)) fail('E504', `${what} (${got}) holds ${t.data.length} values, expected ${numel(shape)}`);
    const intData = t.data instanceof Int32Array;
    if (intData !== isIntDType(dtype))
      fail('E504', `${what} is ${got} but its data is a ${t.data.constructor.name}`, undefined, isIntDType(dtype) ? 'integer tensors use Int32Array' : 'float tensors use Float32Array or Float64Array');
    if (dtype === 'fp8e4m3') fail('E309', `${what} is fp8e4m3, which the reference interpreter does not support yet`);
    return this.store({ dtype, shape, data: t.data }, true);
  }

  // --- Running ---------------------------------------------------------------------------

  private runFunc(f: Func, args: Tensor[]): Tensor[] {
    if (args.length !== f.params.length) throw new Error(`interpreter: ${f.name} takes ${f.params.length} values, got ${args.length}`);
    const env = new Map<Value, Tensor>();
    f.params.forEach((p, i) => env.set(p, args[i]));
    const lastUses = this.lastUsesOf(f);
    f.body.forEach((node, at) => {
      const kernel = KERNELS[node.op] ?? FUSED_KERNELS[node.op];
      if (!kernel) throw new Error(`interpreter: no kernel for op ${node.op}`);
      const shapes = node.outputs.map((v) => {
        const shape = this.concrete(v.type.shape, `%${v.name}`);
        this.checkSize(numel(shape), `the result %${v.name} of ${node.op} (${typeString(v.type.dtype, shape)})`, node);
        return shape;
      });
      const inputs = node.inputs.map((v) => {
        const t = env.get(v);
        if (!t) throw new Error(`interpreter: %${v.name} is used before it is defined in ${f.name}`);
        return t;
      });
      const outputs = kernel(this, inputs, node.attrs, node);
      if (outputs.length !== node.outputs.length) throw new Error(`interpreter: ${node.op} returned ${outputs.length} results, expected ${node.outputs.length}`);
      outputs.forEach((t, i) => {
        const v = node.outputs[i];
        if (t.dtype !== v.type.dtype || t.shape.length !== shapes[i].length || t.shape.some((d, j) => d !== shapes[i][j]))
          throw new Error(`interpreter: ${node.op} made ${typeString(t.dtype, t.shape)} for %${v.name}, declared ${typeString(v.type.dtype, shapes[i])}`);
        env.set(v, this.store(t));
      });
      for (const v of lastUses[at]) env.delete(v);
    });
    return f.results.map((r) => {
      const t = env.get(r.value);
      if (!t) throw new Error(`interpreter: result ${r.name} of ${f.name} is undefined`);
      return t;
    });
  }

  /** For each node, the values used for the last time there (never a function result). */
  private lastUsesOf(f: Func): Value[][] {
    let uses = this.lastUses.get(f);
    if (uses) return uses;
    const last = new Map<Value, number>();
    f.body.forEach((node, at) => node.inputs.forEach((v) => last.set(v, at)));
    for (const r of f.results) last.delete(r.value);
    uses = f.body.map(() => []);
    for (const [v, at] of last) uses[at].push(v);
    this.lastUses.set(f, uses);
    return uses;
  }

  /**
   * Puts a tensor into this run's storage: Int32Array for integers; Float64Array in f64
   * mode and for f64; otherwise Float32Array, with f16/bf16 values rounded to their format.
   * A kernel's f16/bf16 result in a Float32Array is a view of a stored tensor, so already
   * rounded; data from outside (`fromOutside`) is always rounded.
   */
  private store(t: Tensor, fromOutside = false): Tensor {
    if (isIntDType(t.dtype) || t.quant) return t;
    if (t.dtype === 'fp8e4m3') fail('E309', 'fp8e4m3 tensors are not supported by the reference interpreter yet');
    if (!isFloatDType(t.dtype)) throw new Error(`interpreter: unexpected dtype ${t.dtype}`);
    if (this.f64 || t.dtype === 'f64') return t.data instanceof Float64Array ? t : { ...t, data: Float64Array.from(t.data) };
    if (t.dtype === 'f32') return t.data instanceof Float32Array ? t : { ...t, data: Float32Array.from(t.data) };
    if (t.data instanceof Float32Array && !fromOutside) return t;
    const round = t.dtype === 'f16' ? roundToF16 : roundToBf16;
    const src = t.data;
    const data = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) data[i] = round(src[i]);
    return { ...t, data };
  }

  private concrete(shape: readonly Dim[], what: string): number[] {
    try {
      return evalShape(shape, this.bindings);
    } catch (e) {
      if (e instanceof DimError) throw new Error(`interpreter: ${what}: ${e.message}`);
      throw e;
    }
  }

  private checkSize(n: number, what: string, node?: Node): void {
    if (n > this.maxElements)
      throw new MoecError({
        code: 'E307',
        message: `${what} has ${n} elements, too large for the reference interpreter (at most ${this.maxElements}); bind smaller sizes (e.g. --set D=64)`,
        span: node?.span,
      });
  }
}
