/**
 * @fileoverview The plain TypeScript floor as a runner (`peers/plain-ts.ts`): moec's weights
 * and inputs, one thread, timed in process by the shared plan; checked once per workload
 * against the reference interpreter. Judged against the JS limits.
 */
import { jsRoof } from '../limits.ts';
import { agreement } from '../../compiler/compare.ts';
import { type LayerSpec, layerSpec } from '../peers/layer.ts';
import { type LayerWeights, plainLayer } from '../peers/plain-ts.ts';
import { PEER_CHECK_TOKENS, PEER_MAX_REL, referenceOutput } from '../peers/reference.ts';
import type { BenchCase, Runner } from '../runner.ts';
import { sample } from '../stats.ts';

const checked = new Map<string, string>();

function weightsOf(c: BenchCase, spec: LayerSpec): LayerWeights {
  const out: LayerWeights = {};
  for (const [file, name] of Object.entries(spec.files)) out[file.replace(/\.f32$/, '')] = Float32Array.from(c.weights[name].data);
  return out;
}

export const plainTs: Runner = {
  id: 'plain-ts',
  about: () => `plain TypeScript over Float32Arrays (bench/peers/plain-ts.ts): token by token, one thread, Node ${process.version}${checked.size ? `; check vs moec-ref: ${[...checked.values()].join(', ')}` : ''}`,
  roof: jsRoof,
  skip: (c) => {
    const spec = layerSpec(c);
    return typeof spec === 'string' ? spec : null;
  },
  measure: (c, plan) => {
    const spec = layerSpec(c) as LayerSpec;
    const w = weightsOf(c, spec);
    const x = Float32Array.from(c.inputs.x.data);
    if (c.tokens === PEER_CHECK_TOKENS || !checked.has(c.workload.name)) {
      const ref = referenceOutput(c);
      const a = agreement({ dtype: 'f32', shape: ref.shape, data: plainLayer(spec, w, x, c.tokens) }, ref);
      if (!(a.maxRel <= PEER_MAX_REL) || a.nanMismatch) throw new Error(`plain-ts disagrees with moec-ref at T=${c.tokens}: max rel ${a.maxRel.toExponential(1)}`);
      checked.set(c.workload.name, `${c.workload.name} ${a.maxRel.toExponential(1)}`);
    }
    return sample(() => plainLayer(spec, w, x, c.tokens), plan);
  },
};
