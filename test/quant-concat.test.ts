/**
 * The interpreter's quantized concat (ir/graph/interp-quant.ts): operands quantized alike,
 * concatenated along another axis than their reduction axis, move their scale tensors as
 * they are, and give what the general path (a scale per element, then regrouped) gives.
 */
import { describe, expect, it } from 'vitest';
import type { Node } from '../ir/graph/graph.ts';
import { KERNELS, type KernelContext } from '../ir/graph/interp-kernels.ts';
import { quantMoving } from '../ir/graph/interp-quant.ts';
import { quantize } from '../ir/quant.ts';
import type { Tensor } from '../ir/tensor.ts';

describe('quantized concat (the GLU gate/up concat of moec pack --quantize)', () => {
  /** A kernel context whose alloc is the interpreter's (zero-filled, f32 storage). */
  const ctx = { bindings: {}, alloc: (dtype: string, shape: number[]) => ({ dtype, shape, data: dtype === 'i32' || dtype === 'i8' ? new Int32Array(shape.reduce((a, b) => a * b, 1)) : new Float32Array(shape.reduce((a, b) => a * b, 1)) }), weight: () => { throw new Error('no weights'); }, call: () => { throw new Error('no calls'); } } as unknown as KernelContext;
  const q = (seed: number, shape: number[]) => {
    const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37 + seed) * (1 + (i % 7)));
    const d = quantize(values, shape, shape.length - 1, { dtype: 'i8', group: 4 });
    return { dtype: 'i8', shape, data: d.codes, quant: { axis: d.axis, group: d.group, scales: d.scales } } as Tensor;
  };
  const node = (op: string) => ({ op, outputs: [{ type: { dtype: 'i8', shape: [2, 5, 8], quant: { axis: -1, group: 4 } } }] }) as unknown as Node;

  it('concatenates scales directly along a non-reduction axis, as the per-element path regroups them (was: a scale per element, then a regroup)', () => {
    const a = q(1, [2, 2, 8]);
    const b = q(2, [2, 3, 8]);
    const kernel = KERNELS.concat;
    const fast = kernel(ctx, [a, b], { axis: 1 }, node('concat'))[0];
    // The same kernel under another op name takes the general path (per-element scales, regrouped).
    const general = quantMoving((c, xs, attrs, n) => KERNELS.concat(c, xs, attrs, { ...n, op: 'concat' } as Node))(ctx, [a, b], { axis: 1 }, node('concat-general'))[0];
    expect(fast.shape).toEqual([2, 5, 8]);
    expect(Array.from(fast.data)).toEqual(Array.from(general.data));
    expect(fast.quant).toEqual(general.quant);
    // Row 0 of b is row 2 of the result, in codes and scales alike.
    expect(Array.from(fast.data.subarray(2 * 8, 3 * 8))).toEqual(Array.from(b.data.subarray(0, 8)));
    expect(Array.from(fast.quant!.scales.subarray(2 * 2, 3 * 2))).toEqual(Array.from(b.quant!.scales.subarray(0, 2)));
  });
});
