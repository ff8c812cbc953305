/**
 * @fileoverview The C views of the row-wise decoder ops: `embedding` (a row copy per token
 * id, an id outside the table returning ERR_TOKEN_ID) and `rope` (the pair rotation of each
 * token and head, in double, with the frequencies computed once here by the interpreter's
 * `ropeFrequencies`, so every rope_scaling variant is the same table to the kernel).
 */
import type { Dim } from '../../../ir/dims.ts';
import { ropeFrequencies } from '../../../ir/graph/interp-attention.ts';
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { ropeGeometry } from '../../../ir/graph/rope-geometry.ts';

/** A C double literal that reads back exactly. */
function cDouble(x: number): string {
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** The template view of an embedding kernel over table [V, D]. */
export function cEmbedding(k: OpKernel, shapeOf: (b: string) => readonly Dim[]): Record<string, unknown> {
  const [vocab, d] = shapeOf(k.inputs[1]) as number[];
  return { embedding: true, checked: true, vocab, d, summaryLine: `embedding: rows of a [${vocab}, ${d}] table by token id` };
}

/** The template view of a rope kernel (the position of token 0 is an argument, `pos0`). */
export function cRope(k: OpKernel, shapeOf: (b: string) => readonly Dim[]): Record<string, unknown> {
  const g = ropeGeometry(k.attrs, shapeOf(k.inputs[0]));
  const freq = Array.from(ropeFrequencies(k.attrs, g.rd), cDouble);
  return {
    rope: true,
    ...g,
    scale: cDouble(k.attrs.attention_factor as number),
    freq: freq.join(', '),
    summaryLine: `rope: ${g.rd} of ${g.dh} features in ${g.interleaved ? 'interleaved' : 'half'} pairs, ${String(k.attrs.scaling)} scaling`,
  };
}
