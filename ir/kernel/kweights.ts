/**
 * @fileoverview From what a kernel program's `pack` function returns to its weight
 * buffers. `pack` is graph IR, where a quantized weight is one value (codes with their
 * scales); in the kernel IR it is two buffers: the codes, whose `quant` names an f32 weight
 * buffer holding the scales (`KBuffer.quant`). The kernel interpreter and `packWeights`
 * split them here, the one place that knows both forms.
 */
import type { KProgram } from './kernel.ts';
import { loopSlices } from './walk.ts';
import { scaleShape } from '../quant.ts';
import type { Tensor } from '../tensor.ts';

/**
 * The weight buffers of `p` (not loop slices) by name, from `pack`'s results: quantized
 * results become a codes tensor (keeping its `quant`) plus an f32 scales tensor.
 */
export function packedBuffers(p: KProgram, packed: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  const slices = loopSlices(p.steps);
  const scalesOf = new Set(p.buffers.flatMap((b) => (b.quant ? [b.quant.scales] : [])));
  for (const b of p.buffers) {
    if (b.kind !== 'weight' || slices.has(b.name) || scalesOf.has(b.name)) continue;
    const t = packed[b.name];
    if (!t) continue; // reported by whoever reads it, with its own context
    out[b.name] = t;
    if (!b.quant) continue;
    const q = t.quant;
    if (!q || q.axis !== b.quant.axis || q.group !== b.quant.group)
      throw new Error(`packed weights: ${b.name} should be quantized along axis ${b.quant.axis} in groups of ${b.quant.group}, pack gave ${q ? `axis ${q.axis}, groups of ${q.group}` : 'no scales'}`);
    out[b.quant.scales] = { dtype: 'f32', shape: scaleShape(t.shape, q.axis, q.group), data: q.scales };
  }
  return out;
}
