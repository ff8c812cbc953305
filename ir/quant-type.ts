/**
 * @fileoverview Quantized types of the graph IR: what `TensorType.quant` may say, how it
 * is written, and how it resolves to the concrete axis and group of `quant.ts`.
 *
 * A quantized value is a weight of dtype `i8`, `i4` or `fp8e4m3` whose type carries its
 * scale group and reduction axis. Text form (the `.moe` language and the IR text alike):
 *
 *     i8(group=channel)[E, N, K]      one scale per output channel (the whole reduction axis)
 *     i4(group=32)[E, N, K]           one scale per 32 elements of the reduction axis
 *     fp8e4m3(group=128)[N, K]        DeepSeek-V3's 128-blocks (per row, see quant.ts)
 *     i4(group=32, axis=-2)[E, K, N]  reduction on the second-last axis (a matmul weight)
 *     i8(group=32, act=q8)[N, K]      its GEMMs round their activations to int8 blocks (W8A8)
 *
 * The axis is counted from the end and defaults to -1 (a linear weight [out, in]); it is
 * printed only when it is not -1. Allowed groups: i8 channel, 32, 64 or 128; i4 32, 64 or
 * 128; fp8e4m3 128. i4 codes pack two per byte along the last axis, which must be even.
 * `act=q8` (the rounding is defined in quant.ts) is printed last, only when present; it is
 * allowed on i8 with group 32, 64 or 128 whose reduction length is a multiple of 32.
 */
import type { Dim } from './dims.ts';
import { ACT_BLOCK, ACT_QUANTS, type ActQuant, type QuantDType, type QuantScheme, isQuantDType } from './quant.ts';
import type { DType, TensorType, TypeQuant } from './types.ts';

/** The scale groups each quantized dtype accepts (0: per channel). */
export const QUANT_GROUPS: Record<QuantDType, readonly number[]> = { i8: [0, 32, 64, 128], i4: [32, 64, 128], fp8e4m3: [128] };

/** `(group=32)`, `(group=channel, axis=-2)`: what follows the dtype in a quantized type. */
export function quantSuffix(q: TypeQuant | undefined): string {
  if (!q) return '';
  return `(group=${q.group === 0 ? 'channel' : q.group}${q.axis === -1 ? '' : `, axis=${q.axis}`}${q.act ? `, act=${q.act}` : ''})`;
}

/** The dtype as written in a type: `f32`, `i4(group=32)`. */
export function dtypeText(t: Pick<TensorType, 'dtype' | 'quant'>): string {
  return t.dtype + quantSuffix(t.quant);
}

export function sameQuant(a: TypeQuant | undefined, b: TypeQuant | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.group === b.group && a.axis === b.axis && a.act === b.act;
}

/** A type's quantization, as the type of a value sliced from it along a leading axis (unchanged: the axis counts from the end). */
export function withQuant(t: TensorType, dtype: DType, shape: Dim[]): TensorType {
  return t.quant ? { dtype, shape, quant: { ...t.quant } } : { dtype, shape };
}

/**
 * What is wrong with a quantized type, or undefined when it is well formed: a quantized
 * dtype with an allowed group, an axis within the rank, and (i4) an even last axis.
 */
export function quantTypeProblem(t: TensorType): { message: string; hint: string } | undefined {
  const q = t.quant;
  if (!q) return undefined;
  if (!isQuantDType(t.dtype)) return { message: `${t.dtype} cannot be quantized (a scale group on a ${t.dtype} type)`, hint: 'quantized weights are i8, i4 or fp8e4m3' };
  const groups = QUANT_GROUPS[t.dtype];
  if (!groups.includes(q.group))
    return { message: `${t.dtype} does not take group=${q.group === 0 ? 'channel' : q.group}`, hint: `${t.dtype} takes group=${groups.map((g) => (g === 0 ? 'channel' : g)).join(', ')}` };
  const rank = t.shape.length;
  if (!Number.isInteger(q.axis) || q.axis >= 0 || q.axis < -rank)
    return { message: `the reduction axis ${q.axis} is not one of the ${rank} axes counted from the end`, hint: rank >= 2 ? 'axis=-1 (a linear weight [out, in]) or axis=-2 (a matmul weight [in, out])' : 'a quantized weight has at least two axes' };
  if (rank < 2) return { message: `a quantized weight has at least two axes, not ${rank}`, hint: 'quantize GEMM weights ([out, in] or [experts, out, in])' };
  const last = t.shape[rank - 1];
  if (t.dtype === 'i4' && typeof last === 'number' && last % 2 !== 0)
    return { message: `i4 packs two codes per byte along the last axis, which is ${last} here (odd)`, hint: 'use i8, or an even last axis' };
  return q.act ? actProblem(t, q) : undefined;
}

/**
 * What is wrong with `act=` on a quantized type otherwise well formed (see quant.ts for
 * what q8 means); the kernel IR's verifier asks too, of a weight buffer.
 */
export function actProblem(t: Pick<TensorType, 'dtype' | 'shape'>, q: TypeQuant): { message: string; hint: string } | undefined {
  const hint = 'act=q8 rounds the activations to int8 blocks of 32; it goes with i8(group=32), i8(group=64) or i8(group=128)';
  if (!ACT_QUANTS.includes(q.act!)) return { message: `act=${q.act}: no such activation rounding`, hint: `act takes ${ACT_QUANTS.join(', ')}` };
  if (t.dtype !== 'i8') return { message: `act=${q.act} is for i8 weights, not ${t.dtype}`, hint };
  if (q.group === 0) return { message: `act=${q.act} needs i8 scaled in groups, not per channel`, hint };
  if (!QUANT_GROUPS.i8.includes(q.group)) return { message: `act=${q.act} needs i8 in groups of 32, 64 or 128, not ${q.group}`, hint };
  const r = t.shape[t.shape.length + q.axis];
  if (typeof r === 'number' && r % ACT_BLOCK !== 0)
    return { message: `act=${q.act} rounds the activations in blocks of ${ACT_BLOCK} along the reduction axis, which is ${r} here`, hint: `a reduction length that is a multiple of ${ACT_BLOCK}, or no act= (i8 alone)` };
  return undefined;
}

/**
 * Whether the reduction axis of a weight scaled `q` may be split into chunks of `chunk`
 * elements (a shared expert's down projection cut into experts): every chunk a whole
 * number of groups, or every group a whole number of chunks (each chunk row then has one
 * scale). Per-channel scales repeat for each chunk; f32 weights split anywhere. With
 * `act`, every chunk is also whole activation blocks, so the rounding is unchanged.
 */
export function splitKeepsGroups(q: TypeQuant | undefined, chunk: number): boolean {
  if (q?.act && chunk % ACT_BLOCK !== 0) return false;
  return !q || q.group === 0 || chunk % q.group === 0 || q.group % chunk === 0;
}

/** `{ act }` of a quantization that rounds activations, else nothing: spread into a record of another level (a tensor's, a buffer's) that omits what is absent. */
export function actOf(q: TypeQuant | undefined): { act?: ActQuant } {
  return q?.act ? { act: q.act } : {};
}

/** The concrete axis (non-negative) and group (elements per scale) of a quantized type at a concrete shape. */
export function resolveQuant(q: TypeQuant, shape: readonly number[]): { axis: number; group: number } {
  const axis = shape.length + q.axis;
  return { axis, group: q.group === 0 ? shape[axis] : q.group };
}

/**
 * The type a scheme gives a weight of `shape` reduced along `axis` (from the end). A scheme
 * that rounds activations gives `act` only where it is allowed (i8 in groups, a reduction
 * length that is a multiple of 32); any other weight is quantized without it.
 */
export function schemeQuant(s: QuantScheme, axis: number, shape: readonly Dim[]): { dtype: QuantDType; quant: TypeQuant } {
  const quant: TypeQuant = { group: s.group, axis };
  const act = s.activations;
  // A symbolic reduction length could not be checked: no act there.
  const known = typeof shape[shape.length + axis] === 'number';
  if (act && known && !actProblem({ dtype: s.dtype, shape: [...shape] }, { ...quant, act })) quant.act = act;
  return { dtype: s.dtype, quant };
}

/** Parses the inside of `(group=..., axis=..., act=...)` given as key/value pairs; a message for each problem. */
export function quantFromPairs(pairs: Array<{ key: string; value: string | number }>): TypeQuant | string {
  let group: number | undefined;
  let axis = -1;
  let act: ActQuant | undefined;
  for (const { key, value } of pairs) {
    if (key === 'act') {
      if (!ACT_QUANTS.includes(value as ActQuant)) return `act=${value}: no such activation rounding (act takes ${ACT_QUANTS.join(', ')})`;
      act = value as ActQuant;
      continue;
    }
    if (key === 'group') {
      if (value === 'channel') group = 0;
      else if (typeof value === 'number' && Number.isInteger(value) && value > 0) group = value;
      else return `group=${value}: a group is a whole number of elements (32, 64, 128) or channel`;
    } else if (key === 'axis') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value >= 0) return `axis=${value}: the reduction axis is counted from the end (-1 or -2)`;
      axis = value;
    } else return `unknown quantization key '${key}' (a quantized type takes group=, axis= and act=)`;
  }
  if (group === undefined) return 'a quantized type needs its group: i4(group=32), i8(group=channel), fp8e4m3(group=128)';
  return act ? { group, axis, act } : { group, axis };
}
