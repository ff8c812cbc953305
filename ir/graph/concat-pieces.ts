/**
 * @fileoverview `concat` as every renderer draws it: one output element at a time, its
 * coordinate along the axis picking the input (the pieces in order) and its index there.
 * Output element i sits at outer o = i / (total·inner), axis coordinate c = i / inner %
 * total and inner q = i % inner; input k (from axis offset `start`, `size` wide) holds it at
 * o·size·inner + (c - start)·inner + q.
 */
import { type Dim, isSym } from '../dims.ts';

export interface ConcatPieces {
  total: number;
  inner: number;
  pieces: Array<{ start: number; size: number }>;
}

/** The pieces of a concat along `axis`, or `undefined` when the axis or the axes after it depend on the token count. */
export function concatPieces(inShapes: ReadonlyArray<readonly Dim[]>, axis: number): ConcatPieces | undefined {
  const rank = inShapes[0].length;
  const ax = axis < 0 ? axis + rank : axis;
  if (inShapes.some((s) => s.slice(ax).some(isSym))) return undefined;
  const inner = (inShapes[0].slice(ax + 1) as number[]).reduce((a, b) => a * b, 1);
  let start = 0;
  const pieces = inShapes.map((s) => {
    const size = s[ax] as number;
    const p = { start, size };
    start += size;
    return p;
  });
  return { total: start, inner, pieces };
}
