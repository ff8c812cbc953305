/**
 * @fileoverview The op catalogue of the graph IR: for each op its operands, attributes
 * (with kinds and defaults), named results and shape/type inference. The frontend, the IR
 * parser and the verifier all infer types through this one table, so they cannot disagree.
 *
 * Semantics are documented per op; the reference interpreter (`interp.ts`) implements them
 * and every backend is held to the interpreter.
 */
import { type Dim, DimError, dimEq, dimMul, dimAdd, dimProduct, dimToString, isSym, shapeEq, shapeToString } from '../dims.ts';
import type { Attrs, AttrValue, Module } from './graph.ts';
import { ACT_BLOCK } from '../quant.ts';
import { dtypeText, quantTypeProblem, sameQuant, splitKeepsGroups, withQuant } from '../quant-type.ts';
import { type DType, type TensorType, isDType, isFloatDType } from '../types.ts';
import { type EwExpr, EwSyntaxError, maxInput, parseEw } from './elementwise.ts';

/** A type or shape error from inference; `operand` says which input it is about, if any. */
export class OpError extends Error {
  constructor(
    readonly code: 'E301' | 'E302' | 'E303' | 'E304' | 'E305' | 'E307' | 'E308' | 'E311' | 'E312',
    message: string,
    readonly hint?: string,
    readonly operand?: number,
    readonly attr?: string,
  ) {
    super(message);
  }
}

export type AttrKind = 'int' | 'float' | 'bool' | 'string' | 'ints' | 'dims' | 'dtype';

export interface AttrSpec {
  kind: AttrKind;
  /** Absent: the attribute is required. `null`: optional with no value. */
  default?: AttrValue;
  /** Allowed values, for string attributes. */
  oneOf?: readonly string[];
  doc?: string;
}

export interface OperandSpec {
  name: string;
  optional?: boolean;
  /** Takes all remaining operands (at least one). */
  variadic?: boolean;
}

export interface InferContext {
  op: string;
  inputs: Array<TensorType | undefined>;
  attrs: Attrs;
  /** For ops that refer to the module (`weight`, `repeat`). */
  module?: Module;
}

export interface OpSpec {
  name: string;
  doc: string;
  operands: OperandSpec[];
  attrs: Record<string, AttrSpec>;
  /** Result names: `['out']` for one result, `['values', 'indices']` for topk. */
  results: string[];
  infer(ctx: InferContext): TensorType[];
}

const OPS = new Map<string, OpSpec>();

function def(spec: OpSpec): void {
  const infer = spec.infer;
  OPS.set(spec.name, { ...spec, infer: (ctx) => (checkQuantOperands(ctx), infer(ctx)) });
}

/**
 * Operands that may be quantized weights, per op: GEMM weights (dequantized inside the
 * GEMM) and the ops that move weights while packing them. Anywhere else a quantized value
 * would be read as its integer codes, so it is refused (E311).
 */
const QUANT_OPERANDS: Record<string, (i: number, ctx: InferContext) => boolean> = {
  matmul: (i) => i === 1,
  grouped_matmul: (i) => i === 1,
  moe_router: (i, ctx) => i === 1 || (ctx.attrs.has_shared_gate === true && i === ctx.inputs.length - 1),
  moe_experts: (i) => i === 3 || i === 4,
  concat: () => true,
  reshape: () => true,
  transpose: () => true,
  slice: () => true,
  repeat: () => true,
};

function checkQuantOperands(ctx: InferContext): void {
  ctx.inputs.forEach((ty, i) => {
    if (!ty?.quant) return;
    if (QUANT_OPERANDS[ctx.op]?.(i, ctx)) return;
    throw new OpError(
      'E311',
      `${ctx.op} cannot read the quantized weight ${fmt(ty)} (operand ${i + 1}): only GEMMs dequantize`,
      'a quantized weight is a GEMM weight (linear, matmul, grouped_linear, grouped_matmul), or moved by concat, reshape, transpose, slice or repeat; keep other weights f32',
      i,
    );
  });
}

/**
 * A GEMM's weight operand: a float of `a`'s dtype, or a weight quantized along this GEMM's
 * reduction axis (-1 for [.., N, K] weights, -2 for [.., K, N]).
 */
function gemmWeight(ctx: InferContext, i: number, a: number, reduction: number): TensorType {
  const w = t(ctx, i);
  if (!w.quant) {
    requireFloat(ctx, i);
    sameDType(ctx, a, i);
    return w;
  }
  if (w.quant.axis !== reduction)
    throw new OpError(
      'E311',
      `${ctx.op}: the weight ${fmt(w)} is quantized along axis ${w.quant.axis}, but this ${ctx.op} reduces along axis ${reduction}`,
      reduction === -1 ? 'a weight [out, in] (linear, transpose_b) is quantized along axis=-1' : 'a weight [in, out] (matmul) is quantized along axis=-2',
      i,
    );
  const bad = quantTypeProblem(w);
  if (bad) throw new OpError('E312', `${ctx.op}: ${bad.message}`, bad.hint, i);
  return w;
}

export function getOp(name: string): OpSpec | undefined {
  return OPS.get(name);
}

export function opNames(): string[] {
  return [...OPS.keys()];
}

// ---------------------------------------------------------------------------------------
// Helpers shared by the inference functions.

function t(ctx: InferContext, i: number): TensorType {
  const v = ctx.inputs[i];
  if (!v) throw new OpError('E308', `${ctx.op}: operand ${i + 1} is missing`);
  return v;
}

function fmt(ty: TensorType): string {
  return `${dtypeText(ty)}${shapeToString(ty.shape)}`;
}

function requireFloat(ctx: InferContext, i: number): TensorType {
  const ty = t(ctx, i);
  if (!isFloatDType(ty.dtype))
    throw new OpError('E302', `${ctx.op} needs a float tensor, got ${fmt(ty)}`, 'cast it with cast(x, f32)', i);
  return ty;
}

function requireInt(ctx: InferContext, i: number): TensorType {
  const ty = t(ctx, i);
  if (ty.dtype !== 'i32') throw new OpError('E302', `${ctx.op}: operand ${i + 1} must be i32 indices, got ${fmt(ty)}`, undefined, i);
  return ty;
}

function requireRank(ctx: InferContext, i: number, rank: number, what: string): TensorType {
  const ty = t(ctx, i);
  if (ty.shape.length !== rank)
    throw new OpError('E301', `${ctx.op}: ${what} must have rank ${rank}, got ${fmt(ty)}`, undefined, i);
  return ty;
}

function requireDim(ctx: InferContext, got: Dim, want: Dim, what: string, operand?: number): void {
  if (!dimEq(got, want))
    throw new OpError('E301', `${ctx.op}: ${what} is ${dimToString(got)}, expected ${dimToString(want)}`, undefined, operand);
}

function sameDType(ctx: InferContext, a: number, b: number): void {
  const ta = t(ctx, a);
  const tb = t(ctx, b);
  if (ta.dtype !== tb.dtype)
    throw new OpError('E302', `${ctx.op}: operands have different dtypes, ${fmt(ta)} and ${fmt(tb)}`, 'cast one of them', b);
}

/** Normalises a possibly negative axis against a rank. */
export function normAxis(ctx: InferContext, axis: number, rank: number, attr = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= rank)
    throw new OpError('E305', `${ctx.op}: axis ${axis} is out of range for rank ${rank}`, `use an axis in ${-rank}..${rank - 1}`, 0, attr);
  return a;
}

function num(ctx: InferContext, name: string): number {
  return ctx.attrs[name] as number;
}

function positiveInt(ctx: InferContext, name: string): number {
  const v = num(ctx, name);
  if (!Number.isInteger(v) || v < 1) throw new OpError('E304', `${ctx.op}: ${name} must be a positive integer, got ${v}`, undefined, undefined, name);
  return v;
}

/** A float attribute that must be above `gt` (or at least `min`): outside, the op's numbers are NaN or infinite. */
function boundedNum(ctx: InferContext, name: string, range: { gt?: number; min?: number }): number {
  const v = num(ctx, name);
  if (range.gt !== undefined && !(v > range.gt)) throw new OpError('E304', `${ctx.op}: ${name} must be above ${range.gt}, got ${v}`, undefined, undefined, name);
  if (range.min !== undefined && !(v >= range.min)) throw new OpError('E304', `${ctx.op}: ${name} must be at least ${range.min}, got ${v}`, undefined, undefined, name);
  return v;
}

function concrete(ctx: InferContext, d: Dim, what: string, operand?: number): number {
  if (isSym(d)) throw new OpError('E301', `${ctx.op}: ${what} must be a concrete size, got ${dimToString(d)}`, undefined, operand);
  return d;
}

/** NumPy broadcasting of two shapes. */
export function broadcastShapes(ctx: InferContext, a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (dimEq(da, db) || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else
      throw new OpError(
        'E301',
        `${ctx.op}: shapes ${shapeToString(a)} and ${shapeToString(b)} do not broadcast (${dimToString(da)} vs ${dimToString(db)})`,
        'sizes must be equal or 1 in each trailing dimension',
        1,
      );
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Sources: constants, weights.

def({
  name: 'const',
  doc: 'A scalar constant of the given dtype.',
  operands: [],
  attrs: { value: { kind: 'float' }, dtype: { kind: 'dtype', default: 'f32' } },
  results: ['out'],
  infer: (ctx) => [{ dtype: ctx.attrs.dtype as DType, shape: [] }],
});

def({
  name: 'weight',
  doc: 'Reads the module weight `name` (its full, stacked type).',
  operands: [],
  attrs: { name: { kind: 'string' } },
  results: ['out'],
  infer: (ctx) => {
    const w = ctx.module?.weights.find((x) => x.name === ctx.attrs.name);
    if (!w) throw new OpError('E303', `weight: no weight named '${String(ctx.attrs.name)}' in the module`, undefined, undefined, 'name');
    return [w.type];
  },
});

// ---------------------------------------------------------------------------------------
// Elementwise.

const UNARY: Array<[string, string]> = [
  ['neg', '-x'],
  ['exp', 'e^x'],
  ['log', 'natural logarithm'],
  ['sqrt', 'square root'],
  ['rsqrt', '1 / sqrt(x)'],
  ['abs', '|x|'],
  ['sigmoid', '1 / (1 + e^-x)'],
  ['silu', 'x * sigmoid(x)'],
  ['relu', 'max(x, 0)'],
  ['tanh', 'hyperbolic tangent'],
];
for (const [name, doc] of UNARY)
  def({ name, doc, operands: [{ name: 'x' }], attrs: {}, results: ['out'], infer: (ctx) => [requireFloat(ctx, 0)] });

def({
  name: 'gelu',
  doc: 'GELU: x * Φ(x) with the exact erf (`none`) or the tanh approximation.',
  operands: [{ name: 'x' }],
  attrs: { approximate: { kind: 'string', default: 'none', oneOf: ['none', 'tanh'] } },
  results: ['out'],
  infer: (ctx) => [requireFloat(ctx, 0)],
});

def({
  name: 'clamp',
  doc: 'min(max(x, min), max); either bound may be null (absent).',
  operands: [{ name: 'x' }],
  attrs: { min: { kind: 'float', default: null }, max: { kind: 'float', default: null } },
  results: ['out'],
  infer: (ctx) => {
    const lo = ctx.attrs.min as number | null;
    const hi = ctx.attrs.max as number | null;
    if (lo !== null && hi !== null && lo > hi) throw new OpError('E304', `clamp: min ${lo} is greater than max ${hi}`, undefined, undefined, 'min');
    return [requireFloat(ctx, 0)];
  },
});

const BINARY: Array<[string, string]> = [
  ['add', 'a + b'],
  ['sub', 'a - b'],
  ['mul', 'a * b'],
  ['div', 'a / b'],
  ['maximum', 'max(a, b)'],
  ['minimum', 'min(a, b)'],
];
for (const [name, doc] of BINARY)
  def({
    name,
    doc: `${doc}, elementwise with NumPy broadcasting.`,
    operands: [{ name: 'a' }, { name: 'b' }],
    attrs: {},
    results: ['out'],
    infer: (ctx) => {
      requireFloat(ctx, 0);
      requireFloat(ctx, 1);
      sameDType(ctx, 0, 1);
      return [{ dtype: t(ctx, 0).dtype, shape: broadcastShapes(ctx, t(ctx, 0).shape, t(ctx, 1).shape) }];
    },
  });

def({
  name: 'elementwise',
  doc:
    'A fused chain of elementwise ops (`elementwise.ts`): `expr` over operands x0, x1, ... (e.g. "mul(silu(x0), x1)"), ' +
    'each operand broadcast NumPy-style to the result; every step rounds as the op it stands for would store it.',
  operands: [{ name: 'xs', variadic: true, optional: true }],
  attrs: { expr: { kind: 'string' } },
  results: ['out'],
  infer: (ctx) => {
    let e: EwExpr;
    try {
      e = parseEw(ctx.attrs.expr as string);
    } catch (err) {
      if (err instanceof EwSyntaxError) throw new OpError('E304', `elementwise: ${err.message}`, undefined, undefined, 'expr');
      throw err;
    }
    const reads = maxInput(e) + 1;
    if (reads !== ctx.inputs.length) throw new OpError('E308', `elementwise: the chain reads ${reads} operand${reads === 1 ? '' : 's'}, got ${ctx.inputs.length}`, undefined, undefined, 'expr');
    ctx.inputs.forEach((_, i) => (requireFloat(ctx, i), sameDType(ctx, 0, i)));
    const shape = ctx.inputs.reduce<Dim[]>((s, ty) => broadcastShapes(ctx, s, ty!.shape), []);
    return [{ dtype: ctx.inputs[0]?.dtype ?? 'f32', shape }];
  },
});

// ---------------------------------------------------------------------------------------
// Linear algebra and normalisation.

def({
  name: 'matmul',
  doc: 'a[..., K] @ b[K, N] (+ bias[N]); with transpose_b, b is [N, K] (a linear layer).',
  operands: [{ name: 'a' }, { name: 'b' }, { name: 'bias', optional: true }],
  attrs: { transpose_b: { kind: 'bool', default: false } },
  results: ['out'],
  infer: (ctx) => {
    const a = requireFloat(ctx, 0);
    const tb = ctx.attrs.transpose_b as boolean;
    const b = gemmWeight(ctx, 1, 0, tb ? -1 : -2);
    if (a.shape.length < 1) throw new OpError('E301', `matmul: a must have rank >= 1, got ${fmt(a)}`, undefined, 0);
    requireRank(ctx, 1, 2, 'the weight');
    const k = a.shape[a.shape.length - 1];
    const [bk, n] = tb ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
    if (!dimEq(k, bk))
      throw new OpError(
        'E301',
        `matmul: inner sizes differ: ${fmt(a)} and ${fmt(b)}${tb ? ' (weight is [out, in])' : ''}: ${dimToString(k)} vs ${dimToString(bk)}`,
        tb ? 'a linear weight is [out_features, in_features]' : 'the weight is [in, out]; use linear() for [out, in]',
        1,
      );
    const bias = ctx.inputs[2];
    if (bias) {
      sameDType(ctx, 0, 2);
      if (bias.shape.length !== 1 || !dimEq(bias.shape[0], n))
        throw new OpError('E301', `matmul: bias must be [${dimToString(n)}], got ${fmt(bias)}`, undefined, 2);
    }
    return [{ dtype: a.dtype, shape: [...a.shape.slice(0, -1), n] }];
  },
});

def({
  name: 'softmax',
  doc: 'exp(x - max) / sum(exp(x - max)) along axis (numerically stable).',
  operands: [{ name: 'x' }],
  attrs: { axis: { kind: 'int', default: -1 } },
  results: ['out'],
  infer: (ctx) => {
    const x = requireFloat(ctx, 0);
    normAxis(ctx, num(ctx, 'axis'), x.shape.length);
    return [x];
  },
});

def({
  name: 'rmsnorm',
  doc: 'x / sqrt(mean(x², last axis) + eps) * w.',
  operands: [{ name: 'x' }, { name: 'w' }],
  attrs: { eps: { kind: 'float', default: 1e-6 } },
  results: ['out'],
  infer: (ctx) => {
    const x = requireFloat(ctx, 0);
    sameDType(ctx, 0, 1);
    const w = requireRank(ctx, 1, 1, 'the norm weight');
    if (x.shape.length < 1) throw new OpError('E301', 'rmsnorm: x must have rank >= 1', undefined, 0);
    requireDim(ctx, w.shape[0], x.shape[x.shape.length - 1], 'the norm weight size', 1);
    boundedNum(ctx, 'eps', { min: 0 }); // a negative eps can make mean(x²) + eps negative: sqrt of it is NaN
    return [x];
  },
});

for (const [name, doc] of [
  ['sum', 'sum along axis'],
  ['mean', 'mean along axis'],
  ['amax', 'maximum along axis'],
] as const)
  def({
    name,
    doc: `${doc}; keepdim keeps it as size 1.`,
    operands: [{ name: 'x' }],
    attrs: { axis: { kind: 'int', default: -1 }, keepdim: { kind: 'bool', default: false } },
    results: ['out'],
    infer: (ctx) => {
      const x = requireFloat(ctx, 0);
      const ax = normAxis(ctx, num(ctx, 'axis'), x.shape.length);
      const shape = ctx.attrs.keepdim ? x.shape.map((d, i) => (i === ax ? 1 : d)) : x.shape.filter((_, i) => i !== ax);
      return [{ dtype: x.dtype, shape }];
    },
  });

// ---------------------------------------------------------------------------------------
// Selection and indexing.

def({
  name: 'topk',
  doc: 'The k largest along axis, sorted descending; ties go to the lower index. Results: values, i32 indices.',
  operands: [{ name: 'x' }],
  attrs: { k: { kind: 'int' }, axis: { kind: 'int', default: -1 } },
  results: ['values', 'indices'],
  infer: (ctx) => {
    const x = requireFloat(ctx, 0);
    const ax = normAxis(ctx, num(ctx, 'axis'), x.shape.length);
    const k = positiveInt(ctx, 'k');
    const n = x.shape[ax];
    if (!isSym(n) && k > n) throw new OpError('E304', `topk: k = ${k} is larger than the axis size ${n}`, undefined, undefined, 'k');
    const shape = x.shape.map((d, i) => (i === ax ? k : d));
    return [
      { dtype: x.dtype, shape },
      { dtype: 'i32', shape },
    ];
  },
});

def({
  name: 'group_topk',
  doc:
    'DeepSeek group-limited top-k over s[T, E]: E experts in `groups` groups; a group scores the sum of its top-2 ' +
    '(`sum_top2`) or its max (`max`); experts outside the `topk_groups` best groups are excluded (-inf, as in ' +
    "DeepSeek's inference code); then the k best experts. Results: their scores (from s) and i32 indices.",
  operands: [{ name: 's' }],
  attrs: {
    k: { kind: 'int' },
    groups: { kind: 'int' },
    topk_groups: { kind: 'int' },
    group_score: { kind: 'string', default: 'sum_top2', oneOf: ['sum_top2', 'max'] },
  },
  results: ['values', 'indices'],
  infer: (ctx) => {
    const s = requireFloat(ctx, 0);
    requireRank(ctx, 0, 2, 'the scores');
    const e = concrete(ctx, s.shape[1], 'the expert count', 0);
    const k = positiveInt(ctx, 'k');
    const g = positiveInt(ctx, 'groups');
    const tg = positiveInt(ctx, 'topk_groups');
    if (e % g !== 0) throw new OpError('E304', `group_topk: ${e} experts do not split into ${g} equal groups`, undefined, undefined, 'groups');
    if (tg > g) throw new OpError('E304', `group_topk: topk_groups = ${tg} is more than groups = ${g}`, undefined, undefined, 'topk_groups');
    const per = e / g;
    if (ctx.attrs.group_score === 'sum_top2' && per < 2)
      throw new OpError('E304', `group_topk: sum_top2 needs at least 2 experts per group, got ${per}`, 'use group_score="max"', undefined, 'group_score');
    if (k > tg * per)
      throw new OpError('E304', `group_topk: k = ${k} is more than the ${tg * per} experts in ${tg} kept groups`, undefined, undefined, 'k');
    return [
      { dtype: s.dtype, shape: [s.shape[0], k] },
      { dtype: 'i32', shape: [s.shape[0], k] },
    ];
  },
});

def({
  name: 'gather',
  doc: "take_along_axis: out[..., j, ...] = x[..., indices[..., j, ...], ...] along axis (torch.gather).",
  operands: [{ name: 'x' }, { name: 'indices' }],
  attrs: { axis: { kind: 'int', default: -1 } },
  results: ['out'],
  infer: (ctx) => {
    const x = t(ctx, 0);
    const idx = requireInt(ctx, 1);
    if (idx.shape.length !== x.shape.length)
      throw new OpError('E301', `gather: indices ${fmt(idx)} must have the same rank as x ${fmt(x)}`, undefined, 1);
    const ax = normAxis(ctx, num(ctx, 'axis'), x.shape.length);
    x.shape.forEach((d, i) => {
      if (i !== ax) requireDim(ctx, idx.shape[i], d, `indices size on axis ${i}`, 1);
    });
    return [{ dtype: x.dtype, shape: idx.shape }];
  },
});

def({
  name: 'concat',
  doc: 'Joins tensors along axis.',
  operands: [{ name: 'xs', variadic: true }],
  attrs: { axis: { kind: 'int', default: -1 } },
  results: ['out'],
  infer: (ctx) => {
    const first = t(ctx, 0);
    const ax = normAxis(ctx, num(ctx, 'axis'), first.shape.length);
    let total: Dim = 0;
    ctx.inputs.forEach((ty, i) => {
      if (!ty) throw new OpError('E308', 'concat: missing operand', undefined, i);
      if (ty.dtype !== first.dtype || !sameQuant(ty.quant, first.quant)) throw new OpError('E302', `concat: dtypes differ, ${fmt(first)} and ${fmt(ty)}`, undefined, i);
      if (ty.shape.length !== first.shape.length) throw new OpError('E301', `concat: ranks differ, ${fmt(first)} and ${fmt(ty)}`, undefined, i);
      ty.shape.forEach((d, j) => {
        if (j !== ax) requireDim(ctx, d, first.shape[j], `size on axis ${j}`, i);
      });
      total = dimAdd(total, ty.shape[ax]);
    });
    if (first.quant && ax === first.shape.length + first.quant.axis)
      throw new OpError('E311', `concat: joining quantized weights along their reduction axis ${first.quant.axis} would split scale groups`, 'concatenate quantized weights along an output or expert axis', 0, 'axis');
    return [withQuant(first, first.dtype, first.shape.map((d, j) => (j === ax ? total : d)))];
  },
});

def({
  name: 'slice',
  doc: 'x[start:end:step] along axis (end null = the axis size); GPT-OSS takes interleaved gate/up columns with step 2.',
  operands: [{ name: 'x' }],
  attrs: {
    axis: { kind: 'int', default: -1 },
    start: { kind: 'int', default: 0 },
    end: { kind: 'int', default: null },
    step: { kind: 'int', default: 1 },
  },
  results: ['out'],
  infer: (ctx) => {
    const x = t(ctx, 0);
    const ax = normAxis(ctx, num(ctx, 'axis'), x.shape.length);
    const start = num(ctx, 'start');
    const end = ctx.attrs.end as number | null;
    const step = positiveInt(ctx, 'step');
    const n = x.shape[ax];
    if (isSym(n)) {
      if (start !== 0 || end !== null || step !== 1)
        throw new OpError('E301', `slice: cannot slice the symbolic axis ${dimToString(n)} with fixed bounds`, undefined, 0);
      return [x];
    }
    const e = end === null ? n : end;
    if (!Number.isInteger(start) || start < 0 || start > n || e < start || e > n)
      throw new OpError('E304', `slice: range ${start}..${e} is outside the axis size ${n}`, undefined, undefined, 'start');
    const len = Math.ceil((e - start) / step);
    if (x.quant && ax === x.shape.length + x.quant.axis)
      throw new OpError('E311', `slice: slicing a quantized weight along its reduction axis ${x.quant.axis} would split scale groups`, 'slice quantized weights along an output or expert axis', 0, 'axis');
    return [withQuant(x, x.dtype, x.shape.map((d, j) => (j === ax ? len : d)))];
  },
});

def({
  name: 'reshape',
  doc: 'Same elements, new shape (row-major).',
  operands: [{ name: 'x' }],
  attrs: { shape: { kind: 'dims' } },
  results: ['out'],
  infer: (ctx) => {
    const x = t(ctx, 0);
    const shape = ctx.attrs.shape as Dim[];
    let a: Dim;
    let b: Dim;
    try {
      a = dimProduct(x.shape);
      b = dimProduct(shape);
    } catch (e) {
      if (e instanceof DimError) throw new OpError('E301', `reshape: ${e.message}`, undefined, 0, 'shape');
      throw e;
    }
    if (!dimEq(a, b))
      throw new OpError('E301', `reshape: ${fmt(x)} has ${dimToString(a)} elements, the new shape ${shapeToString(shape)} has ${dimToString(b)}`, undefined, 0, 'shape');
    return [x.quant ? reshapedQuant(ctx, x, shape) : { dtype: x.dtype, shape }];
  },
});

/**
 * The type of a quantized weight after a reshape: its reduction axis is the new axis with
 * the same elements after it. It may be split into chunks (a shared expert's [D, S*F] down
 * projection as S experts [D, F] each) when chunks and scale groups nest: a chunk a whole
 * number of groups, or a group a whole number of chunks (every chunk row then has one
 * scale); with `act`, also whole activation blocks of 32. Anything else would mix scales
 * within a group.
 */
function reshapedQuant(ctx: InferContext, x: TensorType, shape: Dim[]): TensorType {
  const q = x.quant!;
  const refuse = (why: string): never => {
    throw new OpError('E311', `reshape: ${fmt(x)} to ${shapeToString(shape)} ${why}`, 'reshape quantized weights only around their reduction axis', 0, 'shape');
  };
  const sizes = (s: Dim[]): number[] => s.map((d) => (typeof d === 'number' ? d : refuse('has symbolic sizes')));
  const from = sizes(x.shape);
  const to = sizes(shape);
  const ax = from.length + q.axis;
  const inner = from.slice(ax + 1).reduce((p, d) => p * d, 1);
  let at = -1;
  for (let j = to.length - 1; j >= 0 && at < 0; j--) if (to[j] > 1 && to.slice(j + 1).reduce((p, d) => p * d, 1) === inner) at = j;
  if (at < 0) return refuse(`moves the reduction axis (${from[ax]} elements)`);
  const len = to[at];
  const split = len !== from[ax];
  if (split && (from[ax] % len !== 0 || !splitKeepsGroups(q, len)))
    refuse(`splits the reduction axis of ${from[ax]} into chunks of ${len}, which cut its ${q.act && len % ACT_BLOCK !== 0 ? `act=${q.act} blocks of ${ACT_BLOCK}` : `groups of ${q.group}`}`);
  return { dtype: x.dtype, shape, quant: { ...q, axis: at - to.length } };
}

def({
  name: 'transpose',
  doc: 'Permutes axes: out axis i is x axis perm[i].',
  operands: [{ name: 'x' }],
  attrs: { perm: { kind: 'ints' } },
  results: ['out'],
  infer: (ctx) => {
    const x = t(ctx, 0);
    const perm = ctx.attrs.perm as number[];
    const sorted = [...perm].sort((p, q) => p - q);
    if (perm.length !== x.shape.length || sorted.some((p, i) => p !== i))
      throw new OpError('E304', `transpose: [${perm.join(', ')}] is not a permutation of the ${x.shape.length} axes of ${fmt(x)}`, undefined, undefined, 'perm');
    const shape = perm.map((p) => x.shape[p]);
    if (!x.quant) return [{ dtype: x.dtype, shape }];
    // The reduction axis goes where the permutation puts it.
    const at = perm.indexOf(x.shape.length + x.quant.axis);
    return [{ dtype: x.dtype, shape, quant: { ...x.quant, axis: at - perm.length } }];
  },
});

def({
  name: 'cast',
  doc: 'Converts to dtype (floats round to nearest even; float to int truncates toward zero).',
  operands: [{ name: 'x' }],
  attrs: { dtype: { kind: 'dtype' } },
  results: ['out'],
  infer: (ctx) => [{ dtype: ctx.attrs.dtype as DType, shape: t(ctx, 0).shape }],
});

// ---------------------------------------------------------------------------------------
// MoE primitives.

def({
  name: 'route_capacity',
  doc:
    'Drops token slots over an expert capacity of ceil(capacity_factor * T * K / E): slots are admitted by choice ' +
    'rank, then token order (top-1: token order); dropped slots get index -1.',
  operands: [{ name: 'indices' }],
  attrs: { experts: { kind: 'int' }, capacity_factor: { kind: 'float' } },
  results: ['out'],
  infer: (ctx) => {
    const idx = requireInt(ctx, 0);
    requireRank(ctx, 0, 2, 'the expert indices');
    positiveInt(ctx, 'experts');
    const cf = num(ctx, 'capacity_factor');
    if (!(cf > 0)) throw new OpError('E304', `route_capacity: capacity_factor must be positive, got ${cf}`, undefined, undefined, 'capacity_factor');
    return [idx];
  },
});

def({
  name: 'moe_permute',
  doc:
    'Sorts the T*K token slots (slot = t*K + k) by expert, stably: slots[r] for r in offsets[e]..offsets[e+1] go to ' +
    'expert e; dropped slots (index -1) come last, past offsets[E]. Results: i32 slots[T*K], i32 offsets[E+1].',
  operands: [{ name: 'indices' }],
  attrs: { experts: { kind: 'int' } },
  results: ['slots', 'offsets'],
  infer: (ctx) => {
    const idx = requireInt(ctx, 0);
    requireRank(ctx, 0, 2, 'the expert indices');
    const e = positiveInt(ctx, 'experts');
    return [
      { dtype: 'i32', shape: [dimMul(idx.shape[0], idx.shape[1])] },
      { dtype: 'i32', shape: [e + 1] },
    ];
  },
});

def({
  name: 'moe_dispatch',
  doc: 'Gathers token rows in expert order: out[r] = x[slots[r] / k] for r < offsets[E], zero past it.',
  operands: [{ name: 'x' }, { name: 'slots' }, { name: 'offsets' }],
  attrs: { k: { kind: 'int' } },
  results: ['out'],
  infer: (ctx) => {
    const x = requireRank(ctx, 0, 2, 'x');
    const slots = requireInt(ctx, 1);
    requireInt(ctx, 2);
    requireRank(ctx, 1, 1, 'slots');
    requireRank(ctx, 2, 1, 'offsets');
    const k = positiveInt(ctx, 'k');
    requireDim(ctx, slots.shape[0], dimMul(x.shape[0], k), 'the slot count', 1);
    return [{ dtype: x.dtype, shape: [slots.shape[0], x.shape[1]] }];
  },
});

def({
  name: 'grouped_matmul',
  doc:
    'Per-expert GEMM: rows offsets[e]..offsets[e+1] of xs times w[e] ([E, K, N], or [E, N, K] with transpose_b) ' +
    'plus bias[e]; rows past offsets[E] are zero.',
  operands: [{ name: 'xs' }, { name: 'w' }, { name: 'offsets' }, { name: 'bias', optional: true }],
  attrs: { transpose_b: { kind: 'bool', default: false } },
  results: ['out'],
  infer: (ctx) => {
    const xs = requireFloat(ctx, 0);
    requireRank(ctx, 0, 2, 'the token rows');
    const tb = ctx.attrs.transpose_b as boolean;
    const w = requireRank(ctx, 1, 3, 'the stacked expert weight');
    gemmWeight(ctx, 1, 0, tb ? -1 : -2);
    const off = requireInt(ctx, 2);
    requireRank(ctx, 2, 1, 'offsets');
    const e = w.shape[0];
    requireDim(ctx, off.shape[0], dimAdd(e, 1), 'the offsets length (experts + 1)', 2);
    const [wk, n] = tb ? [w.shape[2], w.shape[1]] : [w.shape[1], w.shape[2]];
    if (!dimEq(xs.shape[1], wk))
      throw new OpError(
        'E301',
        `grouped_matmul: rows of ${fmt(xs)} do not match the expert weight ${fmt(w)}: ${dimToString(xs.shape[1])} vs ${dimToString(wk)}`,
        tb ? 'grouped_linear weights are [experts, out, in]' : 'grouped_matmul weights are [experts, in, out]; use grouped_linear for [experts, out, in]',
        1,
      );
    const bias = ctx.inputs[3];
    if (bias) {
      sameDType(ctx, 0, 3);
      if (bias.shape.length !== 2 || !dimEq(bias.shape[0], e) || !dimEq(bias.shape[1], n))
        throw new OpError('E301', `grouped_matmul: bias must be [${dimToString(e)}, ${dimToString(n)}], got ${fmt(bias)}`, undefined, 3);
    }
    return [{ dtype: xs.dtype, shape: [xs.shape[0], n] }];
  },
});

def({
  name: 'moe_combine',
  doc: 'out[t] = Σ_k weights[t, k] * ys[r] where slots[r] = t*K + k and r < offsets[E] (dropped slots add nothing).',
  operands: [{ name: 'ys' }, { name: 'slots' }, { name: 'offsets' }, { name: 'weights' }],
  attrs: {},
  results: ['out'],
  infer: (ctx) => {
    const ys = requireFloat(ctx, 0);
    requireRank(ctx, 0, 2, 'the expert rows');
    const slots = requireInt(ctx, 1);
    requireInt(ctx, 2);
    const w = requireFloat(ctx, 3);
    requireRank(ctx, 3, 2, 'the routing weights');
    sameDType(ctx, 0, 3);
    requireDim(ctx, ys.shape[0], slots.shape[0], 'the row count', 0);
    requireDim(ctx, slots.shape[0], dimMul(w.shape[0], w.shape[1]), 'the slot count (tokens * k)', 1);
    return [{ dtype: ys.dtype, shape: [w.shape[0], ys.shape[1]] }];
  },
});

// ---------------------------------------------------------------------------------------
// Fused MoE ops: what the fusion passes produce. Each is defined as exactly the chain of
// primitives it replaces (the interpreter runs that chain), so a fusion pass is checked
// against the unfused graph with no tolerance at all.

const EXPERT_ACTS = ['none', 'relu', 'silu', 'gelu', 'gelu_tanh', 'sigmoid', 'swiglu', 'swiglu_clamped'] as const;

def({
  name: 'moe_router',
  doc:
    'The whole routing chain: logits = x @ wᵀ (+ bias); scores = softmax | sigmoid | none (logits); select by ' +
    'scores (+ select_bias) with topk or group_topk; weights = scores at the chosen experts, then softmax over them ' +
    '(post_softmax), / their sum (normalize), * scale; capacity_factor drops slots past capacity (-1). `shared` extra ' +
    'experts E..E+S-1 are appended to every token with weight 1, or sigmoid(x @ shared_gateᵀ). Operands: x, w, then ' +
    'bias, select_bias, shared_gate when their has_* flag is set. Results: i32 indices, weights [T, k + shared].',
  operands: [{ name: 'x' }, { name: 'w' }, { name: 'bias', optional: true }, { name: 'select_bias', optional: true }, { name: 'shared_gate', optional: true }],
  attrs: {
    k: { kind: 'int' },
    score: { kind: 'string', oneOf: ['softmax', 'sigmoid', 'none'] },
    select: { kind: 'string', default: 'topk', oneOf: ['topk', 'group_topk'] },
    groups: { kind: 'int', default: 1 },
    topk_groups: { kind: 'int', default: 1 },
    group_score: { kind: 'string', default: 'sum_top2', oneOf: ['sum_top2', 'max'] },
    post_softmax: { kind: 'bool', default: false },
    normalize: { kind: 'bool', default: false },
    scale: { kind: 'float', default: 1 },
    capacity_factor: { kind: 'float', default: null },
    shared: { kind: 'int', default: 0 },
    has_bias: { kind: 'bool', default: false },
    has_select_bias: { kind: 'bool', default: false },
    has_shared_gate: { kind: 'bool', default: false },
  },
  results: ['indices', 'weights'],
  infer: (ctx) => {
    const x = requireFloat(ctx, 0);
    requireRank(ctx, 0, 2, 'x');
    const w = requireRank(ctx, 1, 2, 'the router weight');
    gemmWeight(ctx, 1, 0, -1);
    requireDim(ctx, w.shape[1], x.shape[1], 'the router weight width', 1);
    const flags = ['has_bias', 'has_select_bias', 'has_shared_gate'].filter((f) => ctx.attrs[f]);
    if (ctx.inputs.length !== 2 + flags.length)
      throw new OpError('E308', `moe_router: ${2 + flags.length} operands expected for ${flags.join(', ') || 'no optional operands'}, got ${ctx.inputs.length}`);
    const e = concrete(ctx, w.shape[0], 'the expert count', 1);
    const k = positiveInt(ctx, 'k');
    if (k > e) throw new OpError('E304', `moe_router: k = ${k} is more than the ${e} experts`, undefined, undefined, 'k');
    let i = 2;
    // Ranks first: IR text can give any operand, and a missing axis is no size to compare.
    if (ctx.attrs.has_bias) requireDim(ctx, requireRank(ctx, i, 1, 'the router bias').shape[0], e, 'the router bias size', i++);
    if (ctx.attrs.has_select_bias) requireDim(ctx, requireRank(ctx, i, 1, 'the selection bias').shape[0], e, 'the selection bias size', i++);
    if (ctx.attrs.has_shared_gate) {
      requireDim(ctx, requireRank(ctx, i, 2, 'the shared gate').shape[1], x.shape[1], 'the shared gate width', i);
      if (ctx.inputs[i]?.quant) gemmWeight(ctx, i, 0, -1);
      i++;
    }
    const shared = num(ctx, 'shared');
    if (!Number.isInteger(shared) || shared < 0) throw new OpError('E304', `moe_router: shared must be a whole number, got ${shared}`);
    const cols = k + shared;
    return [
      { dtype: 'i32', shape: [x.shape[0], cols] },
      { dtype: x.dtype, shape: [x.shape[0], cols] },
    ];
  },
});

def({
  name: 'moe_experts',
  doc:
    'The whole expert computation: for each token t and choice j with e = indices[t, j] >= 0, ' +
    'out[t] += weights[t, j] * (act(x[t] @ w_in[e] (+ b_in[e])) @ w_out[e] (+ b_out[e])), with w_in/w_out ' +
    '[E, out, in] when transpose_b (else [E, in, out]). Gated acts (swiglu, swiglu_clamped) read gate and up ' +
    'halves of the w_in columns, `concat` or `interleaved`. Defined as moe_permute → moe_dispatch → grouped_matmul ' +
    '→ act → grouped_matmul → moe_combine.',
  operands: [{ name: 'x' }, { name: 'indices' }, { name: 'weights' }, { name: 'w_in' }, { name: 'w_out' }, { name: 'b_in', optional: true }, { name: 'b_out', optional: true }],
  attrs: {
    act: { kind: 'string', oneOf: EXPERT_ACTS },
    glu_layout: { kind: 'string', default: 'concat', oneOf: ['concat', 'interleaved'] },
    limit: { kind: 'float', default: 7 },
    alpha: { kind: 'float', default: 1.702 },
    transpose_b: { kind: 'bool', default: true },
    has_in_bias: { kind: 'bool', default: false },
    has_out_bias: { kind: 'bool', default: false },
  },
  results: ['out'],
  infer: (ctx) => {
    const x = requireFloat(ctx, 0);
    requireRank(ctx, 0, 2, 'x');
    const idx = requireInt(ctx, 1);
    requireRank(ctx, 1, 2, 'the expert indices');
    const w = requireFloat(ctx, 2);
    if (!shapeEq(w.shape, idx.shape)) throw new OpError('E301', `moe_experts: weights ${fmt(w)} must match the indices ${fmt(idx)}`, undefined, 2);
    requireDim(ctx, idx.shape[0], x.shape[0], 'the token count of the indices', 1);
    const win = requireRank(ctx, 3, 3, 'w_in');
    const wout = requireRank(ctx, 4, 3, 'w_out');
    const tb = ctx.attrs.transpose_b as boolean;
    if (win.quant) gemmWeight(ctx, 3, 0, tb ? -1 : -2);
    if (wout.quant) gemmWeight(ctx, 4, 0, tb ? -1 : -2);
    const [inK, inN] = tb ? [win.shape[2], win.shape[1]] : [win.shape[1], win.shape[2]];
    const [outK, outN] = tb ? [wout.shape[2], wout.shape[1]] : [wout.shape[1], wout.shape[2]];
    requireDim(ctx, inK, x.shape[1], 'the w_in input width', 3);
    requireDim(ctx, wout.shape[0], win.shape[0], 'the w_out expert count', 4);
    const gated = ctx.attrs.act === 'swiglu' || ctx.attrs.act === 'swiglu_clamped';
    const hidden = gated ? dimDiv2(ctx, inN) : inN;
    requireDim(ctx, outK, hidden, 'the w_out input width', 4);
    const flags = ['has_in_bias', 'has_out_bias'].filter((f) => ctx.attrs[f]);
    if (ctx.inputs.length !== 5 + flags.length)
      throw new OpError('E308', `moe_experts: ${5 + flags.length} operands expected, got ${ctx.inputs.length}`);
    return [{ dtype: x.dtype, shape: [x.shape[0], outN] }];
  },
});

def({
  name: 'glu',
  doc:
    'Gated linear unit over the last axis: its 2H columns hold gate and up halves, `concat` (gate 0..H, up H..2H) ' +
    'or `interleaved` (g0 u0 g1 u1 ...); swiglu: silu(g) * u; swiglu_clamped (GPT-OSS): (clamp(u, ±limit) + 1) * ' +
    'min(g, limit) * sigmoid(alpha * min(g, limit)). What a dense SwiGLU MLP fuses into after its packed gate|up GEMM.',
  operands: [{ name: 'x' }],
  attrs: {
    fn: { kind: 'string', default: 'swiglu', oneOf: ['swiglu', 'swiglu_clamped'] },
    layout: { kind: 'string', default: 'concat', oneOf: ['concat', 'interleaved'] },
    limit: { kind: 'float', default: 7 },
    alpha: { kind: 'float', default: 1.702 },
  },
  results: ['out'],
  infer: (ctx) => {
    const x = requireFloat(ctx, 0);
    if (x.shape.length < 1) throw new OpError('E301', 'glu: x must have rank >= 1', undefined, 0);
    const half = dimDiv2(ctx, x.shape[x.shape.length - 1]);
    return [{ dtype: x.dtype, shape: [...x.shape.slice(0, -1), half] }];
  },
});

function dimDiv2(ctx: InferContext, n: Dim): Dim {
  const at = ctx.op === 'glu' ? 0 : 3;
  const c = concrete(ctx, n, 'the gated width', at);
  if (c % 2 !== 0) throw new OpError('E301', `${ctx.op}: a gated activation needs an even width, got ${c}`, undefined, at);
  return c / 2;
}

// ---------------------------------------------------------------------------------------
// Embeddings and attention (whole decoder models, `moec import`). Token t of a forward pass
// sits at position L + t, where L is the number of positions already in the KV cache: the
// cache operands' leading size, and rope's `offset`. Keys and values in a cache are stored
// as the layer computed them (after rope); the new tokens' keys are appended after the L
// cached ones. Results are exact functions of the operands; costs are in compiler/cost.ts.

def({
  name: 'embedding',
  doc: 'Table lookup: out[..., :] = table[ids[...], :] for i32 ids; an id outside 0..V-1 is a run-time error (E505).',
  operands: [{ name: 'ids' }, { name: 'table' }],
  attrs: {},
  results: ['out'],
  infer: (ctx) => {
    const ids = requireInt(ctx, 0);
    const table = requireFloat(ctx, 1);
    requireRank(ctx, 1, 2, 'the embedding table');
    return [{ dtype: table.dtype, shape: [...ids.shape, table.shape[1]] }];
  },
});

/** rope_scaling variants: none, YaRN (DeepSeek-V3, GPT-OSS) and Llama 3's frequency bands. */
export const ROPE_SCALINGS = ['none', 'yarn', 'llama3'] as const;

def({
  name: 'rope',
  doc:
    'Rotary position embedding of x[T, H, Dh]: token t is at position p = offset + t. The first rotary_dim (0: all Dh) ' +
    'features rotate in pairs, `half` (HF rotate_half: i with i + rd/2) or `interleaved` (2i with 2i+1, DeepSeek); the ' +
    'rest pass through. Pair i turns by p * f_i with f_i = theta^(-2i/rd), adjusted by `scaling` (yarn: HF ' +
    '_compute_yarn_parameters with factor, original_max_position, beta_fast, beta_slow, truncate; llama3: factor, ' +
    'low_freq_factor, high_freq_factor, original_max_position); cos and sin are multiplied by attention_factor ' +
    '(YaRN mscale). out = (x1 cos - x2 sin, x2 cos + x1 sin) per pair (x1, x2).',
  operands: [{ name: 'x' }],
  attrs: {
    offset: { kind: 'dims', default: [0], doc: 'position of token 0: one size, usually the cache length L' },
    theta: { kind: 'float', default: 10000 },
    rotary_dim: { kind: 'int', default: 0 },
    layout: { kind: 'string', default: 'half', oneOf: ['half', 'interleaved'] },
    scaling: { kind: 'string', default: 'none', oneOf: ROPE_SCALINGS },
    factor: { kind: 'float', default: 1 },
    original_max_position: { kind: 'int', default: 0 },
    beta_fast: { kind: 'float', default: 32 },
    beta_slow: { kind: 'float', default: 1 },
    truncate: { kind: 'bool', default: true },
    low_freq_factor: { kind: 'float', default: 1 },
    high_freq_factor: { kind: 'float', default: 4 },
    attention_factor: { kind: 'float', default: 1 },
  },
  results: ['out'],
  infer: (ctx) => {
    const x = requireFloat(ctx, 0);
    requireRank(ctx, 0, 3, 'x ([tokens, heads, head_dim])');
    const dh = concrete(ctx, x.shape[2], 'the head dim', 0);
    const rd = num(ctx, 'rotary_dim') || dh;
    if (!Number.isInteger(rd) || rd < 2 || rd > dh || rd % 2 !== 0)
      throw new OpError('E304', `rope: rotary_dim ${rd} must be even and within the head dim ${dh}`, undefined, undefined, 'rotary_dim');
    const off = ctx.attrs.offset as Dim[];
    if (!Array.isArray(off) || off.length !== 1) throw new OpError('E304', 'rope: offset must be one size, e.g. [L]', undefined, undefined, 'offset');
    if (ctx.attrs.scaling !== 'none' && !(num(ctx, 'original_max_position') > 0))
      throw new OpError('E304', `rope: scaling "${String(ctx.attrs.scaling)}" needs original_max_position`, undefined, undefined, 'original_max_position');
    // Values that make the frequencies (theta^(-2i/rd), the YaRN ramp's logs, llama3's bands) or the scale NaN or infinite.
    // (YaRN's correction range divides by log(theta), so it needs theta above 1.)
    boundedNum(ctx, 'theta', { gt: ctx.attrs.scaling === 'yarn' ? 1 : 0 });
    boundedNum(ctx, 'attention_factor', { gt: 0 });
    if (ctx.attrs.scaling !== 'none') boundedNum(ctx, 'factor', { gt: 0 });
    if (ctx.attrs.scaling === 'yarn') for (const b of ['beta_fast', 'beta_slow']) boundedNum(ctx, b, { gt: 0 });
    if (ctx.attrs.scaling === 'llama3') boundedNum(ctx, 'high_freq_factor', { gt: boundedNum(ctx, 'low_freq_factor', { gt: 0 }) });
    return [x];
  },
});

/**
 * The first operands' types, checked against the shapes their descriptions spell out:
 * `'k ([tokens, kv_heads, head_dim])'` must be rank 3, and a dim named alike in two operands
 * (`tokens`, `kv_heads`, `cache`) must be the same size. One source for the ranks, the
 * agreements between operands and the messages; a dim written as an expression is the op's
 * to check.
 */
function shaped(ctx: InferContext, whats: readonly string[]): TensorType[] {
  const seen = new Map<string, { dim: Dim; operand: string }>();
  return whats.map((what, i) => {
    const [, operand, dims] = /^(\w+) \(\[(.*)\]\)$/.exec(what)!;
    const names = dims.split(',').map((d) => d.trim());
    const ty = requireRank(ctx, i, names.length, what);
    names.forEach((name, axis) => {
      if (!/^\w+$/.test(name)) return;
      const first = seen.get(name);
      if (!first) seen.set(name, { dim: ty.shape[axis], operand });
      else requireDim(ctx, ty.shape[axis], first.dim, `the ${name} of ${operand} (as in ${first.operand})`, i);
    });
    return ty;
  });
}

def({
  name: 'attention',
  doc:
    'Causal grouped-query attention with a KV cache. q[T, H, Dk], new k[T, G, Dk], v[T, G, Dv], k_cache[L, G, Dk], ' +
    'v_cache[L, G, Dv] (G divides H; head h reads kv head h / (H/G)); keys j = 0..L+T-1 are the cache rows then the ' +
    'new rows. Query t (position L + t) sees key j when j <= L + t and, with window W > 0, L + t - j < W. ' +
    's_j = scale * q·k_j; with sinks[H], the softmax denominator also has exp(sinks[h]) (GPT-OSS). out[T, H, Dv] = ' +
    'Σ_j softmax(s)_j v_j.',
  operands: [{ name: 'q' }, { name: 'k' }, { name: 'v' }, { name: 'k_cache' }, { name: 'v_cache' }, { name: 'sinks', optional: true }],
  attrs: { scale: { kind: 'float' }, window: { kind: 'int', default: 0 } },
  results: ['out'],
  infer: (ctx) => {
    requireFloat(ctx, 0);
    const [q, k, v] = shaped(ctx, ['q ([tokens, heads, head_dim])', 'k ([tokens, kv_heads, head_dim])', 'v ([tokens, kv_heads, v_dim])', 'k_cache ([cache, kv_heads, head_dim])', 'v_cache ([cache, kv_heads, v_dim])']);
    for (let i = 1; i < ctx.inputs.length; i++) sameDType(ctx, 0, i);
    const h = concrete(ctx, q.shape[1], 'the head count', 0);
    const g = concrete(ctx, k.shape[1], 'the kv head count', 1);
    if (h % g !== 0) throw new OpError('E301', `attention: ${h} query heads do not split over ${g} kv heads`, 'num_attention_heads must be a multiple of num_key_value_heads', 1);
    if (ctx.inputs[5]) requireDim(ctx, requireRank(ctx, 5, 1, 'sinks ([heads])').shape[0], h, 'the sink count', 5);
    const w = num(ctx, 'window');
    if (!Number.isInteger(w) || w < 0) throw new OpError('E304', `attention: window must be 0 (none) or a positive integer, got ${w}`, undefined, undefined, 'window');
    return [{ dtype: q.dtype, shape: [q.shape[0], q.shape[1], v.shape[2]] }];
  },
});

def({
  name: 'mla_attention',
  doc:
    'DeepSeek multi-head latent attention with a compressed cache. q_nope[T, H, Dn], q_pe[T, H, Dr] (after rope), ' +
    'latent kv[T, C] (after its norm), k_pe[T, Dr] (after rope, shared by all heads), kv_cache[L, C], pe_cache[L, Dr], ' +
    'wkv_b[H*(Dn+Dv), C] (kv_b_proj: per head Dn key rows then Dv value rows). Keys j = 0..L+T-1 are the cache rows ' +
    'then the new rows, with latent c_j and rope key r_j: k_j,h = wkv_b[h, :Dn] c_j, v_j,h = wkv_b[h, Dn:] c_j; ' +
    's = scale * (q_nope·k_j,h + q_pe·r_j), causal (j <= L + t); out[T, H, Dv] = Σ_j softmax(s)_j v_j,h. ' +
    'A token\'s cache entry is its latent and rope key: C + Dr values per layer.',
  operands: [{ name: 'q_nope' }, { name: 'q_pe' }, { name: 'kv' }, { name: 'k_pe' }, { name: 'kv_cache' }, { name: 'pe_cache' }, { name: 'wkv_b' }],
  attrs: { scale: { kind: 'float' } },
  results: ['out'],
  infer: (ctx) => {
    requireFloat(ctx, 0);
    // wkv_b's rows are an expression, checked below; the names alike in two operands must agree.
    const [qn, , , , , , w] = shaped(ctx, [
      'q_nope ([tokens, heads, nope_dim])', 'q_pe ([tokens, heads, rope_dim])', 'kv ([tokens, kv_lora_rank])', 'k_pe ([tokens, rope_dim])',
      'kv_cache ([cache, kv_lora_rank])', 'pe_cache ([cache, rope_dim])', 'wkv_b ([heads * (nope_dim + v_dim), kv_lora_rank])',
    ]);
    for (let i = 1; i < 7; i++) sameDType(ctx, 0, i);
    const h = concrete(ctx, qn.shape[1], 'the head count', 0);
    const dn = concrete(ctx, qn.shape[2], 'the nope head dim', 0);
    const rows = concrete(ctx, w.shape[0], 'the rows of wkv_b', 6);
    if (rows % h !== 0 || rows / h <= dn)
      throw new OpError('E301', `mla_attention: wkv_b has ${rows} rows, expected heads * (nope_dim + v_dim) = ${h} * (${dn} + v_dim)`, undefined, 6);
    return [{ dtype: qn.dtype, shape: [qn.shape[0], h, rows / h - dn] }];
  },
});

// ---------------------------------------------------------------------------------------
// Structure.

def({
  name: 'repeat',
  doc:
    'Calls function `body` `count` times. Operands: `carried` loop values, then loop-invariant values, then weights ' +
    'stacked along a leading axis of size `count` (iteration i sees slice i). The body returns the next carried values.',
  operands: [{ name: 'args', variadic: true }],
  attrs: { body: { kind: 'string' }, count: { kind: 'int' }, carried: { kind: 'int' }, invariant: { kind: 'int', default: 0 } },
  results: ['out'],
  infer: (ctx) => {
    const body = ctx.module?.funcs.find((f) => f.name === ctx.attrs.body);
    if (!body) throw new OpError('E303', `repeat: no function named '${String(ctx.attrs.body)}'`, undefined, undefined, 'body');
    const count = positiveInt(ctx, 'count');
    const carried = num(ctx, 'carried');
    const invariant = num(ctx, 'invariant');
    if (body.params.length !== ctx.inputs.length)
      throw new OpError('E308', `repeat: ${body.name} takes ${body.params.length} values, got ${ctx.inputs.length}`);
    if (body.results.length !== carried)
      throw new OpError('E308', `repeat: ${body.name} returns ${body.results.length} values but ${carried} are carried`);
    ctx.inputs.forEach((ty, i) => {
      const p = body.params[i].type;
      if (!ty) throw new OpError('E308', 'repeat: missing operand', undefined, i);
      const want = i < carried + invariant ? p.shape : [count, ...p.shape];
      if (ty.dtype !== p.dtype || !sameQuant(ty.quant, p.quant) || !shapeEq(ty.shape, want))
        throw new OpError('E301', `repeat: operand ${i + 1} is ${fmt(ty)}, ${body.name} expects ${dtypeText(p)}${shapeToString(want)}`, undefined, i);
    });
    body.results.forEach((r, i) => {
      const p = body.params[i].type;
      if (r.value.type.dtype !== p.dtype || !sameQuant(r.value.type.quant, p.quant) || !shapeEq(r.value.type.shape, p.shape))
        throw new OpError('E301', `repeat: ${body.name} returns ${fmt(r.value.type)} for carried value ${i + 1}, which is ${fmt(p)}`);
    });
    return body.results.map((r) => r.value.type);
  },
});

/** Fills attribute defaults and checks kinds; throws OpError for unknown, missing or ill-typed attributes. */
export function resolveAttrs(spec: OpSpec, given: Attrs): Attrs {
  const out: Attrs = {};
  for (const key of Object.keys(given))
    if (!Object.hasOwn(spec.attrs, key))
      throw new OpError('E304', `${spec.name} has no attribute '${key}'`, `its attributes are: ${Object.keys(spec.attrs).join(', ') || 'none'}`, undefined, key);
  for (const [key, as] of Object.entries(spec.attrs)) {
    const v = Object.hasOwn(given, key) ? given[key] : as.default;
    if (v === undefined) throw new OpError('E304', `${spec.name} needs the attribute '${key}'`, undefined, undefined, key);
    if (v !== null) checkAttrKind(spec.name, key, as, v);
    out[key] = v;
  }
  return out;
}

function checkAttrKind(op: string, key: string, as: AttrSpec, v: AttrValue): void {
  const bad = (want: string): never => {
    throw new OpError('E304', `${op}: '${key}' must be ${want}, got ${JSON.stringify(v)}`, undefined, undefined, key);
  };
  switch (as.kind) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) bad('an integer');
      break;
    case 'float':
      if (typeof v !== 'number' || Number.isNaN(v)) bad('a number');
      break;
    case 'bool':
      if (typeof v !== 'boolean') bad('true or false');
      break;
    case 'string':
      if (typeof v !== 'string') bad('a string');
      if (as.oneOf && !as.oneOf.includes(v as string)) bad(`one of ${as.oneOf.map((s) => `"${s}"`).join(', ')}`);
      break;
    case 'dtype':
      if (typeof v !== 'string' || !isDType(v)) bad('a dtype');
      break;
    case 'ints':
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isInteger(x))) bad('a list of integers');
      break;
    case 'dims':
      if (!Array.isArray(v) || v.some((x) => typeof x === 'number' ? !Number.isInteger(x) || x < 0 : typeof x !== 'object' || x === null || Array.isArray(x)))
        bad('a list of sizes');
      break;
  }
}

/** Infers result types, filling attribute defaults first. Throws OpError. */
export function inferOp(op: string, inputs: Array<TensorType | undefined>, attrs: Attrs, module?: Module): { attrs: Attrs; types: TensorType[] } {
  const spec = getOp(op);
  if (!spec) throw new OpError('E303', `unknown op '${op}'`);
  checkArity(spec, inputs.length);
  const full = resolveAttrs(spec, attrs);
  return { attrs: full, types: spec.infer({ op, inputs, attrs: full, module }) };
}

/** Checks the number of operands against the spec. */
export function checkArity(spec: OpSpec, n: number): void {
  const variadic = spec.operands.some((o) => o.variadic);
  // A variadic operand takes at least one value, unless it is also optional.
  const required = spec.operands.filter((o) => !o.optional).length;
  const max = variadic ? Infinity : spec.operands.length;
  if (n < required || n > max)
    throw new OpError(
      'E308',
      `${spec.name} takes ${required === max ? required : variadic ? `at least ${required}` : `${required} to ${max}`} operand${max === 1 ? '' : 's'}, got ${n}`,
      `${spec.name}(${spec.operands.map((o) => (o.variadic ? `${o.name}...` : o.optional ? `${o.name}?` : o.name)).join(', ')})`,
    );
}

// For messages elsewhere (verifier, lowering).
export { fmt as formatType };
