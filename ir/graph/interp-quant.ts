/**
 * @fileoverview Quantized weights in the reference interpreters. A quantized tensor is its
 * codes (Int32Array, one per element) plus `Tensor.quant` (concrete axis and group, f32
 * scales; see `quant.ts`). Three things happen to one:
 *
 * - loading (`loadQuantized`): a declared quantized weight accepts codes and scales that
 *   match its type, or float values, which are quantized here (`quantize`), so seeded and
 *   f32 checkpoint weights run through the same quantized program;
 * - moving (`quantMoving`): concat, reshape, transpose and slice move codes and scales
 *   together (each element's scale goes where the element goes, then one scale is kept
 *   per group of the result, which must hold one value: a move that would mix scales
 *   within a group is an error, E505);
 * - reading, in GEMMs only (`dequantizing`): the codes become their exact f32 values
 *   (`dequantize`), widened unchanged in f64 runs, and the GEMM runs as on floats; a
 *   weight that says `act=q8` has the GEMM's activation operand rounded first
 *   (`roundedActivations`, quant.ts `roundActivationsQ8`). The fused ops run their GEMMs
 *   through these same kernels, so each of their GEMMs rounds its own activations.
 *
 * A tensor's `quant.act` comes from its declared type on loading and travels with the codes
 * wherever they move, so a GEMM knows it from the weight it is given.
 */
import { fail } from '../diagnostics.ts';
import type { Node } from './graph.ts';
import type { Kernel, KernelContext } from './interp-kernels.ts';
import { ACT_BLOCK, type ActQuant, QMAX, type QuantDType, dequantize, forEachGroup, isQuantDType, quantize, roundActivationsQ8, scaleShape } from '../quant.ts';
import { actOf, resolveQuant } from '../quant-type.ts';
import { type Tensor, numel } from '../tensor.ts';
import type { TensorType } from '../types.ts';

/** The codes of each dtype that a quantized tensor may hold. */
function codeRange(dtype: QuantDType): [number, number] {
  return dtype === 'fp8e4m3' ? [0, 255] : [-QMAX[dtype] - 1, QMAX[dtype]];
}

/**
 * A declared quantized weight from what was given: matching codes and scales, or float
 * values (quantized here along the declared axis with the declared group).
 */
export function loadQuantized(what: string, type: TensorType, shape: number[], t: Tensor | undefined): Tensor {
  const q = type.quant!;
  const dtype = type.dtype as QuantDType;
  const { axis, group } = resolveQuant(q, shape);
  const act = actOf(q);
  const want = `${dtype}[${shape.join(', ')}]`;
  if (t === undefined) fail('E503', `missing ${what}: expected ${want} (or its f32 values, to be quantized)`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) fail('E504', `${what} is ${t.dtype}[${t.shape.join(', ')}], expected ${want}`);
  if (t.data.length !== numel(shape)) fail('E504', `${what} holds ${t.data.length} values, expected ${numel(shape)}`);
  if (!t.quant) {
    if (t.data instanceof Int32Array || isQuantDType(t.dtype))
      fail('E504', `${what} is ${t.dtype} without scales, expected ${want} with scales or float values`, undefined, 'give codes with their scales (Tensor.quant), or f32 values to quantize');
    const qd = quantize(t.data, shape, axis, { dtype, group: q.group });
    return { dtype, shape, data: qd.codes, quant: { axis, group: qd.group, scales: qd.scales, ...act } };
  }
  if (t.dtype !== dtype) fail('E504', `${what} is ${t.dtype}[${t.shape.join(', ')}], expected ${want}`);
  if (t.quant.axis !== axis || t.quant.group !== group)
    fail('E504', `${what} is scaled along axis ${t.quant.axis} in groups of ${t.quant.group}, its type says axis ${axis} in groups of ${group}`);
  const scales = numel(scaleShape(shape, axis, group));
  if (t.quant.scales.length !== scales) fail('E504', `${what} has ${t.quant.scales.length} scales, expected ${scales} ([${scaleShape(shape, axis, group).join(', ')}])`);
  if (!(t.data instanceof Int32Array)) fail('E504', `${what} holds its codes in a ${t.data.constructor.name}, not an Int32Array`);
  const [lo, hi] = codeRange(dtype);
  for (let i = 0; i < t.data.length; i++)
    if (t.data[i] < lo || t.data[i] > hi) fail('E504', `${what}: code ${t.data[i]} at element ${i} is outside ${lo}..${hi} for ${dtype}`);
  return { dtype, shape, data: t.data, quant: { axis, group, scales: t.quant.scales, ...act } };
}

/** The exact values of a quantized tensor as a float tensor of `ctx`'s storage (f32 values, widened in f64 runs). */
export function dequantized(ctx: KernelContext, t: Tensor): Tensor {
  const q = t.quant!;
  const values = dequantize({ dtype: t.dtype as QuantDType, shape: t.shape, axis: q.axis, group: q.group, codes: t.data as Int32Array, scales: q.scales });
  const out = ctx.alloc('f32', t.shape);
  out.data.set(values);
  return out;
}

/**
 * A GEMM's activation operand `a` (rows along its last axis, the reduction) as the GEMM
 * multiplies it: rounded to int8 blocks (`roundActivationsQ8`) when its weight says
 * `act=q8`, else `a` itself. The values are f32, held in `a`'s own storage (f64 runs widen
 * them unchanged), and `a` keeps its dtype, so the GEMM's result type does not change.
 */
export function roundedActivations(a: Tensor, act: ActQuant | undefined): Tensor {
  if (!act) return a;
  const k = a.shape[a.shape.length - 1];
  if (k % ACT_BLOCK !== 0) fail('E505', `act=${act}: the activations' reduction length ${k} is not a multiple of ${ACT_BLOCK}`, undefined, `act=${act} needs a reduction length that is a multiple of ${ACT_BLOCK}`);
  const values = roundActivationsQ8(a.data, k);
  return { dtype: a.dtype, shape: a.shape, data: a.data instanceof Float32Array ? values : Float64Array.from(values) };
}

/**
 * A GEMM kernel (matmul, grouped_matmul: activations first, weight second) that reads its
 * quantized operands as their dequantized values, with its activations rounded as the
 * weight says (`roundedActivations`).
 */
export function dequantizing(kernel: Kernel): Kernel {
  return (ctx, inputs, attrs, node) => {
    const args = inputs.map((t) => (t?.quant ? dequantized(ctx, t) : t));
    args[0] = roundedActivations(args[0], inputs[1]?.quant?.act);
    return kernel(ctx, args, attrs, node);
  };
}

/** Each element's scale, as an f32 tensor of the codes' shape. */
function perElementScales(t: Tensor): Tensor {
  const q = t.quant!;
  const out = new Float32Array(t.data.length);
  // A run of one scale at a time, not a callback per element: `moec pack --quantize` moves
  // whole expert weights through here.
  forEachGroup(t.shape, q.axis, q.group, (si, first, count, stride) => {
    const s = q.scales[si];
    for (let i = first, end = first + count * stride; i < end; i += stride) out[i] = s;
  });
  return { dtype: 'f32', shape: t.shape, data: out };
}

/**
 * A data-movement kernel (concat, reshape, transpose, slice) that moves quantized operands'
 * codes and scales alike; the result is scaled as the node's declared type says.
 */
export function quantMoving(kernel: Kernel): Kernel {
  return (ctx, inputs, attrs, node) => {
    if (!inputs.some((t) => t.quant)) return kernel(ctx, inputs, attrs, node);
    const codes = kernel(ctx, inputs.map((t) => ({ dtype: 'i32', shape: t.shape, data: t.data })), attrs, node)[0];
    const direct = node.op === 'concat' ? concatScales(kernel, ctx, inputs, attrs, node, codes.shape) : undefined;
    if (direct) return [direct(codes)];
    const scales = kernel(ctx, inputs.map(perElementScales), attrs, node)[0];
    return [regroup(node, codes, scales)];
  };
}

/**
 * A concat of operands quantized alike (one axis and group) along another axis, into the same
 * scheme: the scale tensors concatenate as the codes do, so neither a scale per element nor a
 * regrouping is needed (`moec pack --quantize` concatenates GLU gate and up weights so).
 * Undefined when the operands or the result differ: the general path then checks the groups.
 */
function concatScales(kernel: Kernel, ctx: KernelContext, inputs: Tensor[], attrs: Parameters<Kernel>[2], node: Node, shape: number[]): ((codes: Tensor) => Tensor) | undefined {
  const q = inputs[0].quant;
  if (!q || inputs.some((t) => !t.quant || t.quant.axis !== q.axis || t.quant.group !== q.group)) return undefined;
  const rank = shape.length;
  const ax = (((attrs.axis as number) % rank) + rank) % rank;
  const type = node.outputs[0].type;
  const { axis, group } = resolveQuant(type.quant!, shape);
  if (ax === q.axis || axis !== q.axis || group !== q.group) return undefined;
  const scales = kernel(ctx, inputs.map((t) => ({ dtype: 'f32', shape: scaleShape(t.shape, q.axis, q.group), data: t.quant!.scales })), attrs, node)[0].data;
  return (codes) => ({ dtype: type.dtype, shape, data: codes.data instanceof Int32Array ? codes.data : Int32Array.from(codes.data), quant: { axis, group, scales: scales instanceof Float32Array ? scales : Float32Array.from(scales), ...actOf(type.quant) } });
}

/** Codes and per-element scales back into a quantized tensor of the node's result type. */
function regroup(node: Node, codes: Tensor, perElement: Tensor): Tensor {
  const type = node.outputs[0].type;
  const { axis, group } = resolveQuant(type.quant!, codes.shape);
  const scales = new Float32Array(numel(scaleShape(codes.shape, axis, group)));
  const data = perElement.data;
  forEachGroup(codes.shape, axis, group, (si, first, count, stride) => {
    const s = data[first];
    scales[si] = s;
    for (let i = first + stride, end = first + count * stride; i < end; i += stride)
      if (!Object.is(data[i], s) && !(Number.isNaN(data[i]) && Number.isNaN(s)))
        fail('E505', `${node.op}: element ${i} of the quantized result would share a scale group with elements of another scale`, node.span, 'scale groups must move whole');
  });
  // The kernel's i32 result is already the codes' own array: no copy of every code.
  return { dtype: type.dtype, shape: codes.shape, data: codes.data instanceof Int32Array ? codes.data : Int32Array.from(codes.data), quant: { axis, group, scales, ...actOf(type.quant) } };
}

/** Row `i` along the leading axis of a quantized tensor, as views of its codes and scales. */
export function quantLeadingSlice(x: Tensor, i: number): Tensor {
  const q = x.quant!;
  const shape = x.shape.slice(1);
  const size = numel(shape);
  const ssize = numel(scaleShape(shape, q.axis - 1, q.group));
  return {
    dtype: x.dtype,
    shape,
    data: (x.data as Int32Array).subarray(i * size, (i + 1) * size),
    quant: { ...q, axis: q.axis - 1, scales: q.scales.subarray(i * ssize, (i + 1) * ssize) },
  };
}
