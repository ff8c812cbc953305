/**
 * @fileoverview The C views of the row-wise decoder ops: `embedding` (a row copy per token
 * id, an id outside the table returning ERR_TOKEN_ID) and `rope` (the pair rotation of each
 * token and head, in double, with the frequencies computed once here by the interpreter's
 * `ropeFrequencies`, so every rope_scaling variant is the same table to the kernel).
 */
import { fail } from '../../../ir/diagnostics.ts';
import type { Dim } from '../../../ir/dims.ts';
import { ropeFrequencies } from '../../../ir/graph/interp-attention.ts';
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { ropeGeometry } from '../../../ir/graph/rope-geometry.ts';
import type { PanelSpec } from './layout.ts';

/** A C double literal that reads back exactly. */
function cDouble(x: number): string {
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/**
 * The template view of an embedding kernel over table [V, D]. `panel`: the table is also a
 * GEMM weight (the LM head of tied embeddings), which the layout stores as panels of that
 * width ([V, D] read as a transposed B: table row r is lane r % panel of panel r / panel).
 */
export function cEmbedding(k: OpKernel, shapeOf: (b: string) => readonly Dim[], packed?: PanelSpec): Record<string, unknown> {
  const [vocab, d] = shapeOf(k.inputs[1]) as number[];
  if (packed && (!packed.transB || packed.glu || packed.codes || packed.matrices !== 1 || packed.n !== vocab || packed.kd !== d))
    fail('E701', `the C backend reads the embedding table ${k.inputs[1]} as rows, but a GEMM packs it ${packed.codes ? `as ${packed.codes.dtype} codes` : 'in another layout'}`, undefined, 'keep a tied embedding table in f32 (--quantize quantizes GEMM weights)');
  return { embedding: true, checked: true, vocab, d, panel: packed?.width, summaryLine: `embedding: rows of a [${vocab}, ${d}] table by token id${packed ? `, the table in the LM head's ${packed.width}-wide panels` : ''}` };
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
