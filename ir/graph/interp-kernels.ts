/**
 * @fileoverview The reference interpreter's kernels: one function per op of the catalogue
 * (`ops.ts`), each a plain loop over typed arrays. `interp.ts` walks the graph, owns
 * storage and validation, and calls these through the `KERNELS` table; the precision,
 * determinism and semantics choices are documented in its header.
 *
 * Every kernel reads its operands as typed arrays, accumulates in JS numbers (float64), and
 * writes each result element once into a tensor from `ctx.alloc` (whose storage rounds it).
 * Kernels never mutate their operands; data-movement ops (`reshape`, `weight`, `repeat`'s
 * stacked slices) may return views that share an operand's buffer.
 */
import { ATTENTION_KERNELS } from './interp-attention.ts';
import { fail } from '../diagnostics.ts';
import { type Dim, evalShape } from '../dims.ts';
import type { Attrs, Node } from './graph.ts';
import { type Tensor, type TensorData, numel, strides } from '../tensor.ts';
import { dequantizing, quantLeadingSlice, quantMoving } from './interp-quant.ts';
import { type DType, isFloatDType } from '../types.ts';

/** The storage of a float tensor (see `interp.ts` for which one a tensor gets). */
export type FloatArray = Float32Array | Float64Array;

/** What a kernel may ask of the interpreter. */
export interface KernelContext {
  readonly bindings: Readonly<Record<string, number>>;
  /** A zero-filled result tensor; its float storage follows the precision policy. */
  alloc(dtype: DType, shape: number[]): Tensor;
  /** The module weight `name` (validated, in interpreter storage). */
  weight(name: string): Tensor;
  /** Runs the module function `name` on `args` and returns its results. */
  call(name: string, args: Tensor[]): Tensor[];
}

/** A kernel: operand tensors (in operand order) to result tensors (in result order). */
export type Kernel = (ctx: KernelContext, inputs: Tensor[], attrs: Attrs, node: Node) => Tensor[];

// ---------------------------------------------------------------------------------------
// Shared helpers.

/** Splits a shape around `axis` into `[outer, n, inner]` element counts. */
function around(shape: readonly number[], axis: number): { outer: number; n: number; inner: number } {
  const ax = axis < 0 ? axis + shape.length : axis;
  return { outer: numel(shape.slice(0, ax)), n: shape[ax], inner: numel(shape.slice(ax + 1)) };
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** A run-time error about the data an op was given (E505), pointing at the node. */
function badData(node: Node, message: string): never {
  fail('E505', `${node.op}: ${message}`, node.span);
}

/** The first element is "better" (ranks higher) than the second: larger, and NaN beats every number. */
function better(v: number, w: number): boolean {
  return v > w || (v !== v && w === w);
}

/**
 * Selects the `k` best of `n` elements `x[base + i*stride]` into `vals`/`idxs`, best first;
 * ties keep the lower index (elements arrive in index order and only a strictly better one
 * moves ahead). With `kept`, element i is considered only when `kept[floor(i / per)]` is set.
 * Returns how many were selected (less than k only when fewer are eligible).
 */
function selectTopK(
  x: ArrayLike<number>,
  base: number,
  stride: number,
  n: number,
  k: number,
  vals: Float64Array,
  idxs: Int32Array,
  kept: Uint8Array | null,
  per: number,
): number {
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (kept !== null && kept[(i / per) | 0] === 0) continue;
    const v = x[base + i * stride];
    if (count === k && !better(v, vals[k - 1])) continue;
    let p = count < k ? count++ : k - 1;
    while (p > 0 && better(v, vals[p - 1])) {
      vals[p] = vals[p - 1];
      idxs[p] = idxs[p - 1];
      p--;
    }
    vals[p] = v;
    idxs[p] = i;
  }
  return count;
}

// ---------------------------------------------------------------------------------------
// erf, for the exact GELU. Math has none; these are accurate to a few parts in 1e15 (relative).

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/√π
const ONE_OVER_SQRT_PI = 0.5641895835477563; // 1/√π
/** Below this |x| erf uses its power series, above it erfc's continued fraction. */
const ERF_SPLIT = 2.5;
/**
 * erfc switches to the continued fraction lower, at 1.5 (about 90 terms there): 1 - erf(x)
 * would lose digits to cancellation as erfc(x) gets small.
 */
const ERFC_SPLIT = 1.5;

/** erf(x) = 2/√π e^{-x²} Σ_n 2^n x^{2n+1} / (1·3·…·(2n+1)): every term positive, no cancellation. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 0; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 3);
    sum += term;
    if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** erfc(x) for x >= ERFC_SPLIT: e^{-x²}/√π / (x + (1/2)/(x + (2/2)/(x + (3/2)/(x + …)))), by modified Lentz. */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    c = x + a / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (ONE_OVER_SQRT_PI * Math.exp(-x * x)) / f;
}

/** The error function. */
export function erf(x: number): number {
  if (x !== x) return NaN;
  const a = Math.abs(x);
  if (a < ERF_SPLIT) return erfSeries(x);
  const r = 1 - erfcContinuedFraction(a);
  return x < 0 ? -r : r;
}

/** The complementary error function 1 - erf(x), accurate in relative terms for large x. */
export function erfc(x: number): number {
  if (x !== x) return NaN;
  if (x >= ERFC_SPLIT) return erfcContinuedFraction(x);
  if (x <= -ERFC_SPLIT) return 2 - erfcContinuedFraction(-x);
  return 1 - erfSeries(x);
}

/** GELU with the exact erf: x Φ(x), with Φ(x) = erfc(-x/√2)/2 (so it stays accurate for negative x). */
export function geluExact(x: number): number {
  return 0.5 * x * erfc(-x * Math.SQRT1_2);
}

const SQRT_2_OVER_PI = 0.7978845608028654; // √(2/π)

/** GELU's tanh approximation. */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

// ---------------------------------------------------------------------------------------
// Sources.

const constKernel: Kernel = (ctx, _in, attrs) => {
  const dtype = attrs.dtype as DType;
  const out = ctx.alloc(dtype, []);
  out.data[0] = isFloatDType(dtype) ? (attrs.value as number) : castToInt(attrs.value as number, dtype);
  return [out];
};

const weightKernel: Kernel = (ctx, _in, attrs) => [ctx.weight(attrs.name as string)];

// ---------------------------------------------------------------------------------------
// Elementwise.

/** o[i] = op(x[i]) for the unary ops (and `gelu`, `gelu_tanh`); shared with the kernel IR's `act` epilogue. */
export function unaryLoop(op: string, x: FloatArray, o: FloatArray): void {
  const n = x.length;
  switch (op) {
    case 'neg':
      for (let i = 0; i < n; i++) o[i] = -x[i];
      return;
    case 'exp':
      for (let i = 0; i < n; i++) o[i] = Math.exp(x[i]);
      return;
    case 'log':
      for (let i = 0; i < n; i++) o[i] = Math.log(x[i]);
      return;
    case 'sqrt':
      for (let i = 0; i < n; i++) o[i] = Math.sqrt(x[i]);
      return;
    case 'rsqrt':
      for (let i = 0; i < n; i++) o[i] = 1 / Math.sqrt(x[i]);
      return;
    case 'abs':
      for (let i = 0; i < n; i++) o[i] = Math.abs(x[i]);
      return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) o[i] = 1 / (1 + Math.exp(-x[i]));
      return;
    case 'silu':
      for (let i = 0; i < n; i++) o[i] = x[i] / (1 + Math.exp(-x[i]));
      return;
    case 'relu':
      // Written so that NaN stays NaN, like torch.relu (`x > 0 ? x : 0` would give 0).
      for (let i = 0; i < n; i++) o[i] = x[i] <= 0 ? 0 : x[i];
      return;
    case 'tanh':
      for (let i = 0; i < n; i++) o[i] = Math.tanh(x[i]);
      return;
    case 'gelu':
      for (let i = 0; i < n; i++) o[i] = geluExact(x[i]);
      return;
    case 'gelu_tanh':
      for (let i = 0; i < n; i++) o[i] = geluTanh(x[i]);
      return;
    default:
      throw new Error(`interpreter: no unary loop for ${op}`);
  }
}

function unaryKernel(op: string): Kernel {
  return (ctx, [x]) => {
    const out = ctx.alloc(x.dtype, x.shape);
    unaryLoop(op, x.data as FloatArray, out.data as FloatArray);
    return [out];
  };
}

const geluKernel: Kernel = (ctx, [x], attrs) => {
  const out = ctx.alloc(x.dtype, x.shape);
  unaryLoop(attrs.approximate === 'tanh' ? 'gelu_tanh' : 'gelu', x.data as FloatArray, out.data as FloatArray);
  return [out];
};

const clampKernel: Kernel = (ctx, [x], attrs) => {
  const lo = attrs.min === null ? -Infinity : (attrs.min as number);
  const hi = attrs.max === null ? Infinity : (attrs.max as number);
  const out = ctx.alloc(x.dtype, x.shape);
  const xd = x.data as FloatArray;
  const o = out.data as FloatArray;
  for (let i = 0; i < xd.length; i++) o[i] = Math.min(Math.max(xd[i], lo), hi); // NaN stays NaN
  return [out];
};

const BIN_ADD = 0;
const BIN_SUB = 1;
const BIN_MUL = 2;
const BIN_DIV = 3;
const BIN_MAX = 4;
const BIN_MIN = 5;
const BINARY_CODES: Record<string, number> = { add: BIN_ADD, sub: BIN_SUB, mul: BIN_MUL, div: BIN_DIV, maximum: BIN_MAX, minimum: BIN_MIN };

/** o[oOff + i] = a[aOff + i*as] ∘ b[bOff + i*bs] for i < n; a stride of 0 broadcasts. */
function binaryRow(code: number, a: FloatArray, aOff: number, as: number, b: FloatArray, bOff: number, bs: number, o: FloatArray, oOff: number, n: number): void {
  switch (code) {
    case BIN_ADD:
      for (let i = 0; i < n; i++) o[oOff + i] = a[aOff + i * as] + b[bOff + i * bs];
      return;
    case BIN_SUB:
      for (let i = 0; i < n; i++) o[oOff + i] = a[aOff + i * as] - b[bOff + i * bs];
      return;
    case BIN_MUL:
      for (let i = 0; i < n; i++) o[oOff + i] = a[aOff + i * as] * b[bOff + i * bs];
      return;
    case BIN_DIV:
      for (let i = 0; i < n; i++) o[oOff + i] = a[aOff + i * as] / b[bOff + i * bs];
      return;
    case BIN_MAX: // Math.max/min propagate NaN, like torch.maximum/minimum
      for (let i = 0; i < n; i++) o[oOff + i] = Math.max(a[aOff + i * as], b[bOff + i * bs]);
      return;
    case BIN_MIN:
      for (let i = 0; i < n; i++) o[oOff + i] = Math.min(a[aOff + i * as], b[bOff + i * bs]);
      return;
  }
}

/**
 * Strides of `shape` broadcast to `out` (right-aligned; 0 on broadcast axes).
 */
function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const st = strides(shape);
  const lead = out.length - shape.length;
  return out.map((d, i) => (i < lead || shape[i - lead] === 1 ? 0 : st[i - lead]));
}

/**
 * Drops size-1 axes and merges neighbouring axes that every operand walks contiguously
 * (`stride[i] == stride[i+1] * size[i+1]`), so a same-shape op is one flat row and a row
 * broadcast is `rows x D`. Always returns at least one axis.
 */
function coalesce(shape: readonly number[], strideSets: number[][]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strideSets.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strideSets.every((s, j) => outStrides[j][last] === s[i] * shape[i])) {
      outShape[last] *= shape[i];
      strideSets.forEach((s, j) => (outStrides[j][last] = s[i]));
    } else {
      outShape.push(shape[i]);
      strideSets.forEach((s, j) => outStrides[j].push(s[i]));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strideSets.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}

/** NumPy broadcast of concrete shapes (inference has already checked that they broadcast). */
function broadcastConcrete(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da !== db && da !== 1 && db !== 1) throw new Error(`interpreter: shapes [${a}] and [${b}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

function binaryKernel(op: string): Kernel {
  const code = BINARY_CODES[op];
  return (ctx, [a, b]) => {
    const shape = broadcastConcrete(a.shape, b.shape);
    const out = ctx.alloc(a.dtype, shape);
    const o = out.data as FloatArray;
    if (o.length === 0) return [out];
    const ad = a.data as FloatArray;
    const bd = b.data as FloatArray;
    const c = coalesce(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
    const [sa, sb] = c.strides;
    const rank = c.shape.length;
    const inner = c.shape[rank - 1];
    const rows = o.length / inner;
    // Odometer over the outer axes; the output is written contiguously.
    const idx = new Array<number>(rank).fill(0);
    let offA = 0;
    let offB = 0;
    for (let row = 0, offO = 0; row < rows; row++, offO += inner) {
      binaryRow(code, ad, offA, sa[rank - 1], bd, offB, sb[rank - 1], o, offO, inner);
      for (let d = rank - 2; d >= 0; d--) {
        offA += sa[d];
        offB += sb[d];
        if (++idx[d] < c.shape[d]) break;
        offA -= sa[d] * c.shape[d];
        offB -= sb[d] * c.shape[d];
        idx[d] = 0;
      }
    }
    return [out];
  };
}

// ---------------------------------------------------------------------------------------
// Linear algebra and normalisation.

/** Σ_k a[ai + k] * b[bj + k] for k = 0..kd-1, in order, in float64. */
function dot(a: FloatArray, ai: number, b: FloatArray, bj: number, kd: number): number {
  let s = 0;
  for (let k = 0; k < kd; k++) s += a[ai + k] * b[bj + k];
  return s;
}

/**
 * out[i, j] = Σ_k a[i, k] bt[j, k] (+ bias[j]) for `rows` rows of `a` (width `kd`) against
 * the `n` rows of `bt` (a weight already laid out [n, kd]). Each sum runs k = 0..kd-1 in
 * order in float64, then adds the bias, then is stored once; offsets are in elements.
 *
 * Blocks of 4 rows x 2 columns share their loads (8 running sums); the blocking changes
 * which sums are computed together, never the order within one sum, so every element is
 * exactly `dot(...) + bias`.
 */
function matmulRows(
  a: FloatArray,
  aOff: number,
  rows: number,
  kd: number,
  bt: FloatArray,
  bOff: number,
  n: number,
  bias: FloatArray | null,
  biasOff: number,
  out: FloatArray,
  outOff: number,
): void {
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    const a0 = aOff + i * kd;
    const a1 = a0 + kd;
    const a2 = a1 + kd;
    const a3 = a2 + kd;
    const o0 = outOff + i * n;
    const o1 = o0 + n;
    const o2 = o1 + n;
    const o3 = o2 + n;
    let j = 0;
    for (; j + 2 <= n; j += 2) {
      const b0 = bOff + j * kd;
      const b1 = b0 + kd;
      let s00 = 0, s10 = 0, s20 = 0, s30 = 0, s01 = 0, s11 = 0, s21 = 0, s31 = 0;
      for (let k = 0; k < kd; k++) {
        const u = bt[b0 + k];
        const v = bt[b1 + k];
        const x0 = a[a0 + k];
        const x1 = a[a1 + k];
        const x2 = a[a2 + k];
        const x3 = a[a3 + k];
        s00 += x0 * u;
        s10 += x1 * u;
        s20 += x2 * u;
        s30 += x3 * u;
        s01 += x0 * v;
        s11 += x1 * v;
        s21 += x2 * v;
        s31 += x3 * v;
      }
      const c0 = bias === null ? 0 : bias[biasOff + j];
      const c1 = bias === null ? 0 : bias[biasOff + j + 1];
      out[o0 + j] = s00 + c0;
      out[o1 + j] = s10 + c0;
      out[o2 + j] = s20 + c0;
      out[o3 + j] = s30 + c0;
      out[o0 + j + 1] = s01 + c1;
      out[o1 + j + 1] = s11 + c1;
      out[o2 + j + 1] = s21 + c1;
      out[o3 + j + 1] = s31 + c1;
    }
    for (; j < n; j++) {
      const bj = bOff + j * kd;
      const c = bias === null ? 0 : bias[biasOff + j];
      out[o0 + j] = dot(a, a0, bt, bj, kd) + c;
      out[o1 + j] = dot(a, a1, bt, bj, kd) + c;
      out[o2 + j] = dot(a, a2, bt, bj, kd) + c;
      out[o3 + j] = dot(a, a3, bt, bj, kd) + c;
    }
  }
  for (; i < rows; i++)
    for (let j = 0; j < n; j++) out[outOff + i * n + j] = dot(a, aOff + i * kd, bt, bOff + j * kd, kd) + (bias === null ? 0 : bias[biasOff + j]);
}

/** `count` matrices [kd, n] starting at `off` in `b`, each transposed to [n, kd] (same array type). */
function transposedMatrices(b: FloatArray, off: number, count: number, kd: number, n: number): FloatArray {
  const size = kd * n;
  const t = b instanceof Float64Array ? new Float64Array(count * size) : new Float32Array(count * size);
  for (let e = 0; e < count; e++) {
    const base = off + e * size;
    for (let k = 0; k < kd; k++) for (let j = 0; j < n; j++) t[e * size + j * kd + k] = b[base + k * n + j];
  }
  return t;
}

const matmulKernel: Kernel = (ctx, [a, b, bias], attrs) => {
  const transB = attrs.transpose_b as boolean;
  const kd = a.shape[a.shape.length - 1];
  const n = transB ? b.shape[0] : b.shape[1];
  const out = ctx.alloc(a.dtype, [...a.shape.slice(0, -1), n]);
  const rows = numel(a.shape.slice(0, -1));
  // A [K, N] weight is laid out [N, K] first (a copy), so both forms share one kernel and sum alike.
  const bt = transB ? (b.data as FloatArray) : transposedMatrices(b.data as FloatArray, 0, 1, kd, n);
  matmulRows(a.data as FloatArray, 0, rows, kd, bt, 0, n, bias ? (bias.data as FloatArray) : null, 0, out.data as FloatArray, 0);
  return [out];
};

const softmaxKernel: Kernel = (ctx, [x], attrs) => {
  const { outer, n, inner } = around(x.shape, attrs.axis as number);
  const out = ctx.alloc(x.dtype, x.shape);
  const xd = x.data as FloatArray;
  const o = out.data as FloatArray;
  const e = new Float64Array(n);
  for (let p = 0; p < outer; p++)
    for (let q = 0; q < inner; q++) {
      const base = p * n * inner + q;
      // Stable: subtract the max. A NaN anywhere makes the max (and so the row) NaN; an
      // all -inf row gives NaN (-inf - -inf), as in torch.
      let m = -Infinity;
      for (let i = 0; i < n; i++) {
        const v = xd[base + i * inner];
        if (v > m || v !== v) m = v;
        if (m !== m) break;
      }
      let s = 0;
      for (let i = 0; i < n; i++) {
        const v = Math.exp(xd[base + i * inner] - m);
        e[i] = v;
        s += v;
      }
      for (let i = 0; i < n; i++) o[base + i * inner] = e[i] / s;
    }
  return [out];
};

const rmsnormKernel: Kernel = (ctx, [x, w], attrs) => {
  const eps = attrs.eps as number;
  const d = x.shape[x.shape.length - 1];
  const out = ctx.alloc(x.dtype, x.shape);
  const xd = x.data as FloatArray;
  const wd = w.data as FloatArray;
  const o = out.data as FloatArray;
  const rows = d === 0 ? 0 : xd.length / d;
  for (let r = 0; r < rows; r++) {
    const base = r * d;
    let ss = 0;
    for (let i = 0; i < d; i++) ss += xd[base + i] * xd[base + i];
    const denom = Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) o[base + i] = (xd[base + i] / denom) * wd[i];
  }
  return [out];
};

function reduceKernel(op: 'sum' | 'mean' | 'amax'): Kernel {
  return (ctx, [x], attrs) => {
    const ax = normAxis(attrs.axis as number, x.shape.length);
    const { outer, n, inner } = around(x.shape, ax);
    const shape = attrs.keepdim ? x.shape.map((d, i) => (i === ax ? 1 : d)) : x.shape.filter((_, i) => i !== ax);
    const out = ctx.alloc(x.dtype, shape);
    const xd = x.data as FloatArray;
    const o = out.data as FloatArray;
    for (let p = 0; p < outer; p++)
      for (let q = 0; q < inner; q++) {
        const base = p * n * inner + q;
        let r: number;
        if (op === 'amax') {
          r = -Infinity; // NaN propagates, like torch.amax
          for (let i = 0; i < n; i++) {
            const v = xd[base + i * inner];
            if (v !== v) {
              r = NaN;
              break;
            }
            if (v > r) r = v;
          }
        } else {
          r = 0;
          for (let i = 0; i < n; i++) r += xd[base + i * inner];
          if (op === 'mean') r /= n;
        }
        o[p * inner + q] = r;
      }
    return [out];
  };
}

// ---------------------------------------------------------------------------------------
// Selection and indexing.

const topkKernel: Kernel = (ctx, [x], attrs, node) => {
  const k = attrs.k as number;
  const ax = normAxis(attrs.axis as number, x.shape.length);
  const { outer, n, inner } = around(x.shape, ax);
  if (k > n) badData(node, `k = ${k} is larger than the axis size ${n}`); // possible when the axis is symbolic
  const shape = x.shape.map((d, i) => (i === ax ? k : d));
  const values = ctx.alloc(x.dtype, shape);
  const indices = ctx.alloc('i32', shape);
  const vd = values.data as FloatArray;
  const id = indices.data as Int32Array;
  const vals = new Float64Array(k);
  const idxs = new Int32Array(k);
  for (let p = 0; p < outer; p++)
    for (let q = 0; q < inner; q++) {
      selectTopK(x.data, p * n * inner + q, inner, n, k, vals, idxs, null, 1);
      const ob = p * k * inner + q;
      for (let j = 0; j < k; j++) {
        vd[ob + j * inner] = vals[j];
        id[ob + j * inner] = idxs[j];
      }
    }
  return [values, indices];
};

const groupTopkKernel: Kernel = (ctx, [s], attrs) => {
  const k = attrs.k as number;
  const groups = attrs.groups as number;
  const keepGroups = attrs.topk_groups as number;
  const sumTop2 = attrs.group_score === 'sum_top2';
  const [tokens, experts] = s.shape;
  const per = experts / groups;
  const values = ctx.alloc(s.dtype, [tokens, k]);
  const indices = ctx.alloc('i32', [tokens, k]);
  const vd = values.data as FloatArray;
  const id = indices.data as Int32Array;
  const sd = s.data as FloatArray;
  const groupScore = new Float64Array(groups);
  const kept = new Uint8Array(groups);
  const best2 = new Float64Array(2);
  const best2i = new Int32Array(2);
  const keptVals = new Float64Array(keepGroups);
  const keptIdx = new Int32Array(keepGroups);
  const vals = new Float64Array(k);
  const idxs = new Int32Array(k);
  for (let t = 0; t < tokens; t++) {
    const row = t * experts;
    // 1. Score each group: its best expert, or the sum of its best two.
    for (let g = 0; g < groups; g++) {
      selectTopK(sd, row + g * per, 1, per, sumTop2 ? 2 : 1, best2, best2i, null, 1);
      groupScore[g] = sumTop2 ? best2[0] + best2[1] : best2[0];
    }
    // 2. Keep the topk_groups best groups (ties: lower group index).
    selectTopK(groupScore, 0, 1, groups, keepGroups, keptVals, keptIdx, null, 1);
    kept.fill(0);
    for (let j = 0; j < keepGroups; j++) kept[keptIdx[j]] = 1;
    // 3. The k best experts of the kept groups; the others are never candidates (DeepSeek's -inf mask).
    const got = selectTopK(sd, row, 1, experts, k, vals, idxs, kept, per);
    if (got < k) throw new Error(`interpreter: group_topk found ${got} of ${k} experts`);
    for (let j = 0; j < k; j++) {
      vd[t * k + j] = vals[j];
      id[t * k + j] = idxs[j];
    }
  }
  return [values, indices];
};

const gatherKernel: Kernel = (ctx, [x, idx], attrs, node) => {
  const ax = normAxis(attrs.axis as number, x.shape.length);
  const { outer, n: nx, inner } = around(x.shape, ax);
  const ni = idx.shape[ax];
  const out = ctx.alloc(x.dtype, idx.shape);
  const xd = x.data;
  const id = idx.data as Int32Array;
  const o = out.data;
  for (let p = 0; p < outer; p++)
    for (let j = 0; j < ni; j++)
      for (let q = 0; q < inner; q++) {
        const at = (p * ni + j) * inner + q;
        const v = id[at];
        if (v < 0 || v >= nx) badData(node, `index ${v} is out of range for axis ${ax} of size ${nx}`);
        o[at] = xd[(p * nx + v) * inner + q];
      }
  return [out];
};

const concatKernel: Kernel = (ctx, xs, attrs) => {
  const ax = normAxis(attrs.axis as number, xs[0].shape.length);
  const total = xs.reduce((acc, x) => acc + x.shape[ax], 0);
  const shape = xs[0].shape.map((d, i) => (i === ax ? total : d));
  const out = ctx.alloc(xs[0].dtype, shape);
  const { outer, inner } = around(shape, ax);
  let at = 0;
  for (const x of xs) {
    const chunk = x.shape[ax] * inner;
    for (let p = 0; p < outer; p++) out.data.set(x.data.subarray(p * chunk, (p + 1) * chunk), p * total * inner + at);
    at += chunk;
  }
  return [out];
};

const sliceKernel: Kernel = (ctx, [x], attrs) => {
  const ax = normAxis(attrs.axis as number, x.shape.length);
  const { outer, n, inner } = around(x.shape, ax);
  const start = attrs.start as number;
  const end = attrs.end === null ? n : Math.min(attrs.end as number, n);
  const step = attrs.step as number;
  const len = Math.max(0, Math.ceil((end - start) / step));
  const out = ctx.alloc(x.dtype, x.shape.map((d, i) => (i === ax ? len : d)));
  for (let p = 0; p < outer; p++)
    for (let j = 0; j < len; j++) {
      const from = (p * n + start + j * step) * inner;
      out.data.set(x.data.subarray(from, from + inner), (p * len + j) * inner);
    }
  return [out];
};

const reshapeKernel: Kernel = (ctx, [x], attrs) => {
  const shape = evalShape(attrs.shape as Dim[], ctx.bindings);
  if (numel(shape) !== x.data.length) throw new Error(`interpreter: reshape of [${x.shape}] to [${shape}]`);
  return [{ dtype: x.dtype, shape, data: x.data }];
};

const transposeKernel: Kernel = (ctx, [x], attrs) => {
  const perm = attrs.perm as number[];
  const shape = perm.map((p) => x.shape[p]);
  const out = ctx.alloc(x.dtype, shape);
  if (out.data.length === 0) return [out];
  const xs = strides(x.shape);
  const c = coalesce(shape, [perm.map((p) => xs[p])]);
  const st = c.strides[0];
  const rank = c.shape.length;
  const inner = c.shape[rank - 1];
  const innerStride = st[rank - 1];
  const xd = x.data;
  const o = out.data;
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let oi = 0; oi < o.length; ) {
    for (let j = 0; j < inner; j++) o[oi++] = xd[off + j * innerStride];
    for (let d = rank - 2; d >= 0; d--) {
      off += st[d];
      if (++idx[d] < c.shape[d]) break;
      off -= st[d] * c.shape[d];
      idx[d] = 0;
    }
  }
  return [out];
};

/** Integer ranges for float-to-int casts (i64 is held in an Int32Array, so it saturates like i32). */
const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  i8: [-128, 127],
  u8: [0, 255],
  i32: [-2147483648, 2147483647],
  i64: [-2147483648, 2147483647],
};

/** A float to an integer dtype: truncates toward zero and saturates; NaN becomes 0; bool is `x != 0`. */
function castToInt(v: number, dtype: DType): number {
  if (dtype === 'bool') return v !== 0 ? 1 : 0;
  if (v !== v) return 0;
  const [lo, hi] = INT_RANGE[dtype]!;
  return Math.min(Math.max(Math.trunc(v), lo), hi);
}

const castKernel: Kernel = (ctx, [x], attrs, node) => {
  const to = attrs.dtype as DType;
  if (to === 'fp8e4m3' || x.dtype === 'fp8e4m3') fail('E309', 'cast: fp8e4m3 is not supported by the reference interpreter yet', node.span);
  const out = ctx.alloc(to, x.shape);
  const xd = x.data;
  const o = out.data;
  const n = xd.length;
  if (isFloatDType(to)) {
    // float -> float rounds through the result's storage; int -> float is exact, then rounds.
    for (let i = 0; i < n; i++) o[i] = xd[i];
  } else if (isFloatDType(x.dtype)) {
    for (let i = 0; i < n; i++) o[i] = castToInt(xd[i], to);
  } else {
    // int -> int wraps to the narrower type (two's complement), like C, NumPy and torch.
    switch (to) {
      case 'bool':
        for (let i = 0; i < n; i++) o[i] = xd[i] !== 0 ? 1 : 0;
        break;
      case 'i8':
        for (let i = 0; i < n; i++) o[i] = (xd[i] << 24) >> 24;
        break;
      case 'u8':
        for (let i = 0; i < n; i++) o[i] = xd[i] & 255;
        break;
      default:
        for (let i = 0; i < n; i++) o[i] = xd[i];
    }
  }
  return [out];
};

// ---------------------------------------------------------------------------------------
// MoE primitives.

/**
 * Tokens per expert under `route_capacity`: ceil(capacity_factor * T * K / E), evaluated
 * left to right in float64 (as Python's `math.ceil(cf * T * K / E)` does). Backends compute
 * it the same way on the host.
 */
export function expertCapacity(capacityFactor: number, tokens: number, k: number, experts: number): number {
  return Math.ceil((capacityFactor * tokens * k) / experts);
}

const routeCapacityKernel: Kernel = (ctx, [idx], attrs, node) => {
  const experts = attrs.experts as number;
  const [tokens, k] = idx.shape;
  const cap = expertCapacity(attrs.capacity_factor as number, tokens, k, experts);
  const out = ctx.alloc('i32', idx.shape);
  const id = idx.data as Int32Array;
  const o = out.data as Int32Array;
  const count = new Int32Array(experts);
  // Admit by choice rank first, then token order.
  for (let c = 0; c < k; c++)
    for (let t = 0; t < tokens; t++) {
      const e = id[t * k + c];
      let r = -1;
      if (e !== -1) {
        if (e < 0 || e >= experts) badData(node, `expert index ${e} (token ${t}, choice ${c}) is outside 0..${experts - 1}`);
        if (count[e] < cap) {
          count[e]++;
          r = e;
        }
      }
      o[t * k + c] = r;
    }
  return [out];
};

const moePermuteKernel: Kernel = (ctx, [idx], attrs, node) => {
  const experts = attrs.experts as number;
  const id = idx.data as Int32Array;
  const nslots = id.length;
  const slots = ctx.alloc('i32', [nslots]);
  const offsets = ctx.alloc('i32', [experts + 1]);
  const sd = slots.data as Int32Array;
  const od = offsets.data as Int32Array;
  // Counting sort by expert (stable: slots in increasing slot order within each expert).
  const count = new Int32Array(experts);
  for (let s = 0; s < nslots; s++) {
    const e = id[s];
    if (e === -1) continue;
    if (e < -1 || e >= experts) badData(node, `expert index ${e} (slot ${s}) is outside -1..${experts - 1}`);
    count[e]++;
  }
  for (let e = 0; e < experts; e++) od[e + 1] = od[e] + count[e];
  const next = od.slice(0, experts);
  let dropped = od[experts];
  for (let s = 0; s < nslots; s++) {
    const e = id[s];
    if (e === -1) sd[dropped++] = s;
    else sd[next[e]++] = s;
  }
  return [slots, offsets];
};

/** offsets[E] (the number of routed rows), checked against the row count. */
function routedRows(node: Node, offsets: Tensor, rows: number): number {
  const od = offsets.data as Int32Array;
  const n = od[od.length - 1];
  if (n < 0 || n > rows) badData(node, `offsets end at ${n}, outside 0..${rows}`);
  return n;
}

const moeDispatchKernel: Kernel = (ctx, [x, slots, offsets], attrs, node) => {
  const k = attrs.k as number;
  const [tokens, d] = x.shape;
  const nrows = slots.shape[0];
  const out = ctx.alloc(x.dtype, [nrows, d]);
  const sd = slots.data as Int32Array;
  const routed = routedRows(node, offsets, nrows);
  for (let r = 0; r < routed; r++) {
    const s = sd[r];
    if (s < 0 || s >= tokens * k) badData(node, `slot ${s} at row ${r} is outside 0..${tokens * k - 1}`);
    const t = Math.floor(s / k);
    out.data.set(x.data.subarray(t * d, (t + 1) * d), r * d);
  }
  return [out];
};

const groupedMatmulKernel: Kernel = (ctx, [xs, w, offsets, bias], attrs, node) => {
  const transB = attrs.transpose_b as boolean;
  const [rows, kd] = xs.shape;
  const experts = w.shape[0];
  const n = transB ? w.shape[1] : w.shape[2];
  const out = ctx.alloc(xs.dtype, [rows, n]);
  const od = offsets.data as Int32Array;
  if (od[0] < 0) badData(node, `offsets start at ${od[0]}`);
  for (let e = 0; e < experts; e++)
    if (od[e + 1] < od[e]) badData(node, `offsets decrease at expert ${e} (${od[e]} then ${od[e + 1]})`);
  routedRows(node, offsets, rows);
  const wt = transB ? (w.data as FloatArray) : transposedMatrices(w.data as FloatArray, 0, experts, kd, n);
  for (let e = 0; e < experts; e++) {
    const r0 = od[e];
    const r1 = od[e + 1];
    if (r1 === r0) continue;
    matmulRows(
      xs.data as FloatArray,
      r0 * kd,
      r1 - r0,
      kd,
      wt,
      e * kd * n,
      n,
      bias ? (bias.data as FloatArray) : null,
      e * n,
      out.data as FloatArray,
      r0 * n,
    );
  }
  return [out];
};

const moeCombineKernel: Kernel = (ctx, [ys, slots, offsets, weights], _attrs, node) => {
  const [nrows, d] = ys.shape;
  const [tokens, k] = weights.shape;
  const out = ctx.alloc(ys.dtype, [tokens, d]);
  const sd = slots.data as Int32Array;
  const yd = ys.data as FloatArray;
  const wd = weights.data as FloatArray;
  const o = out.data as FloatArray;
  // rowOf[slot] = the row holding that slot's expert output, or -1 (dropped).
  const rowOf = new Int32Array(tokens * k).fill(-1);
  const routed = routedRows(node, offsets, nrows);
  for (let r = 0; r < routed; r++) {
    const s = sd[r];
    if (s < 0 || s >= tokens * k) badData(node, `slot ${s} at row ${r} is outside 0..${tokens * k - 1}`);
    if (rowOf[s] !== -1) badData(node, `slot ${s} appears twice (rows ${rowOf[s]} and ${r})`);
    rowOf[s] = r;
  }
  // Per token, add its choices k = 0..K-1 in order, in float64: the result does not depend on the row order.
  const acc = new Float64Array(d);
  for (let t = 0; t < tokens; t++) {
    acc.fill(0);
    for (let c = 0; c < k; c++) {
      const r = rowOf[t * k + c];
      if (r < 0) continue;
      const wv = wd[t * k + c];
      const yb = r * d;
      for (let j = 0; j < d; j++) acc[j] += wv * yd[yb + j];
    }
    o.set(acc, t * d);
  }
  return [out];
};

// ---------------------------------------------------------------------------------------
// Structure.

/** Slice `i` along the leading axis, as a view (no copy). */
function leadingSlice(x: Tensor, i: number): Tensor {
  if (x.quant) return quantLeadingSlice(x, i);
  const shape = x.shape.slice(1);
  const size = numel(shape);
  return { dtype: x.dtype, shape, data: x.data.subarray(i * size, (i + 1) * size) as TensorData };
}

const repeatKernel: Kernel = (ctx, args, attrs) => {
  const body = attrs.body as string;
  const count = attrs.count as number;
  const carriedN = attrs.carried as number;
  const invariantN = attrs.invariant as number;
  let carried = args.slice(0, carriedN);
  const invariant = args.slice(carriedN, carriedN + invariantN);
  const stacked = args.slice(carriedN + invariantN);
  for (let i = 0; i < count; i++)
    carried = ctx.call(body, [...carried, ...invariant, ...stacked.map((w) => leadingSlice(w, i))]);
  return carried;
};

// ---------------------------------------------------------------------------------------
// The table.

/** op name → kernel, for every op of the catalogue. */
export const KERNELS: Readonly<Record<string, Kernel>> = {
  const: constKernel,
  weight: weightKernel,
  ...Object.fromEntries(['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sigmoid', 'silu', 'relu', 'tanh'].map((op) => [op, unaryKernel(op)])),
  gelu: geluKernel,
  clamp: clampKernel,
  ...Object.fromEntries(Object.keys(BINARY_CODES).map((op) => [op, binaryKernel(op)])),
  matmul: dequantizing(matmulKernel),
  softmax: softmaxKernel,
  rmsnorm: rmsnormKernel,
  sum: reduceKernel('sum'),
  mean: reduceKernel('mean'),
  amax: reduceKernel('amax'),
  topk: topkKernel,
  group_topk: groupTopkKernel,
  gather: gatherKernel,
  concat: quantMoving(concatKernel),
  slice: quantMoving(sliceKernel),
  reshape: quantMoving(reshapeKernel),
  transpose: quantMoving(transposeKernel),
  cast: castKernel,
  route_capacity: routeCapacityKernel,
  moe_permute: moePermuteKernel,
  moe_dispatch: moeDispatchKernel,
  grouped_matmul: dequantizing(groupedMatmulKernel),
  moe_combine: moeCombineKernel,
  repeat: repeatKernel,
  ...ATTENTION_KERNELS,
};
