/**
 * @fileoverview The weights blob as GPU buffers ("chunks"), and which byte range of which
 * chunk a weight operand binds.
 *
 * WebGPU binds at most `maxStorageBufferBindingSize` bytes (128 MiB by default) at offsets
 * that are multiples of 256, and buffers and queue writes are whole 4-byte words. So the
 * blob is cut into chunks at tensor boundaries, or at row boundaries of the leading axis
 * (experts, layers of a stack) for a tensor over the binding size, each chunk extended to
 * whole words: a quantized row that ends inside a word (i8 rows of 2 mod 4 bytes, i4 rows
 * of half bytes) shares that word with the next chunk, which holds a copy of it. An operand
 * binds the chunk that holds its whole range, from the 256-byte boundary below its start.
 */
import type { WeightLayout } from '../weights.ts';

/** A chunk: a byte range of the blob, one GPU buffer. */
export interface Chunk {
  offset: number;
  bytes: number;
}

/** A weight operand's binding: a byte range of one chunk. */
export interface WeightRange {
  chunk: number;
  offset: number;
  bytes: number;
}

/** The binding offset alignment (WebGPU's minStorageBufferOffsetAlignment default). */
export const BINDING_ALIGN = 256;

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;
const alignDown = (n: number, a: number): number => Math.floor(n / a) * a;

/** The blob range [from, to) extended to whole words. */
function words(from: number, to: number): Chunk {
  const offset = alignDown(from, 4);
  return { offset, bytes: alignUp(to, 4) - offset };
}

/** The chunks of a weight layout, each at most `maxBinding` bytes unless one row is more. */
export function weightChunks(layout: WeightLayout, maxBinding: number): Chunk[] {
  const chunks: Chunk[] = [];
  for (const e of layout.entries) {
    const last = chunks[chunks.length - 1];
    const whole = words(e.offset, e.offset + e.bytes);
    if (last && whole.offset + whole.bytes - last.offset <= maxBinding) last.bytes = whole.offset + whole.bytes - last.offset;
    else if (whole.bytes <= maxBinding || e.shape.length === 0) chunks.push(whole);
    else {
      // Over the binding size: chunks of whole rows. A row over the size still gets its
      // own chunk, and loading says it cannot bind.
      const rowBytes = e.bytes / e.shape[0];
      const cover = (r: number, n: number): Chunk => words(e.offset + r * rowBytes, e.offset + (r + n) * rowBytes);
      let rows = Math.max(1, Math.floor(maxBinding / rowBytes));
      while (rows > 1 && cover(0, rows).bytes > maxBinding) rows--;
      for (let r = 0; r < e.shape[0]; r += rows) chunks.push(cover(r, Math.min(rows, e.shape[0] - r)));
    }
  }
  return chunks;
}

/** The binding of the blob range [start, start + bytes), or undefined if no chunk holds all of it. */
export function bindingOf(chunks: readonly Chunk[], start: number, bytes: number): WeightRange | undefined {
  const chunk = chunks.findIndex((c) => start >= c.offset && start + bytes <= c.offset + c.bytes);
  if (chunk < 0) return undefined;
  const within = start - chunks[chunk].offset;
  const offset = alignDown(within, BINDING_ALIGN);
  return { chunk, offset, bytes: alignUp(within - offset + bytes, 4) };
}

/**
 * Groups of consecutive experts [lo, hi) that one dispatch can bind: every expert-stacked
 * operand's rows lo..hi lie in one chunk and bind within `maxBinding` (one expert per group
 * where even that does not fit; loading reports the oversized chunk).
 */
export function expertGroups(chunks: readonly Chunk[], experts: number, stacks: ReadonlyArray<{ start: number; rowBytes: number }>, maxBinding: number): Array<[number, number]> {
  const fits = (lo: number, hi: number): boolean =>
    stacks.every((s) => {
      const b = bindingOf(chunks, s.start + lo * s.rowBytes, (hi - lo) * s.rowBytes);
      return b !== undefined && b.bytes <= maxBinding;
    });
  const groups: Array<[number, number]> = [];
  for (let lo = 0; lo < experts; ) {
    let hi = lo + 1;
    while (hi < experts && fits(lo, hi + 1)) hi++;
    groups.push([lo, hi]);
    lo = hi;
  }
  return groups;
}
