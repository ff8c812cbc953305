/**
 * @fileoverview The ops that reduce or normalise along one axis (`softmax`, `sum`, `mean`,
 * `amax`) as every renderer draws them: one lane per position of the other axes (outer ×
 * inner), walking the axis's n elements at stride `inner`, in the interpreter's order (so
 * sums add in index order, in double where the backend has it).
 */
import { type Dim, dimProduct, isSym } from '../dims.ts';

export const AXIS_OPS: ReadonlySet<string> = new Set(['softmax', 'sum', 'mean', 'amax']);

export interface AxisLoop {
  /** Product of the axes before the axis (may depend on the token count). */
  outer: Dim;
  /** The axis size, and the product of the axes after it. */
  n: number;
  inner: number;
}

/** The loop of an axis op over x's shape, or `undefined` when the axis or the axes after it depend on the token count. */
export function axisLoop(shape: readonly Dim[], axis: number): AxisLoop | undefined {
  const ax = axis < 0 ? axis + shape.length : axis;
  const after = shape.slice(ax);
  if (after.some(isSym)) return undefined;
  const [n, ...rest] = after as number[];
  return { outer: dimProduct(shape.slice(0, ax)), n, inner: rest.reduce((a, b) => a * b, 1) };
}
