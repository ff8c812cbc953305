/**
 * @fileoverview Where moec C's time goes on the llama.cpp section's model (bench.ts, workload.ts):
 * a timing build (-DMOEC_PROFILE: a clock read around each kernel call in forward) of the
 * reduced Qwen3-MoE, for a prefill (T = 256 from an empty cache) and a decode step (T = 1 after
 * 8 cached positions), one process per phase (CModel.run). Prints each kernel's mean ms per
 * forward (a kernel inside the layer loop is summed over the layers) and its share, as a table,
 * with the forward's median and best wall time over the repeats.
 *   npx tsx bench/llama/profile.ts [--target x86-avx512] [--precision f32|q8|w8a8] [--threads 1] [--repeat 3] [--last-logits]
 * (q8: i8 weights in groups of 32 from the Q8_0 GGUF, f32 activations; w8a8: the same weights, int8 activations)
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cacheDir } from '../../compiler/backends/c/build.ts';
import { loadC } from '../../compiler/backends/c/index.ts';
import { quantizeModule, weightsFromSafetensors } from '../../compiler/driver.ts';
import { lastRowInputs } from '../../compiler/passes/last-logits.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import { openCheckpoint } from '../../ir/checkpoint.ts';
import { QUANT_SCHEMES } from '../../ir/quant.ts';
import { PREFILL_TOKENS, llamaWorkloadDir } from './bench.ts';
import { BENCH_SIZES, I8_GROUP32, cachedLlamaWorkload } from './workload.ts';

const { values } = parseArgs({
  options: { 'last-logits': { type: 'boolean', default: false }, target: { type: 'string', default: 'x86-avx512' }, precision: { type: 'string', default: 'f32' }, threads: { type: 'string', default: '1' }, repeat: { type: 'string', default: '3' } },
});
if (!['f32', 'q8', 'w8a8'].includes(values.precision!)) throw new Error(`--precision f32, q8 or w8a8, not ${values.precision}`);
const sizes = BENCH_SIZES;
const w = cachedLlamaWorkload(llamaWorkloadDir(sizes), sizes, 1);
const q8 = values.precision !== 'f32';
const m = q8 ? quantizeModule(w.module, values.precision === 'w8a8' ? QUANT_SCHEMES.w8a8 : I8_GROUP32) : w.module;
const weights = q8 ? weightsFromSafetensors(m, openCheckpoint(w.ggufQ8), w.ggufQ8) : w.weights;
const target = loadTarget(values.target!);
const program = runPipeline(m, { target, maxTokens: PREFILL_TOKENS, maxContext: PREFILL_TOKENS + 8 + 80, lastLogits: values['last-logits'] }).program!;
const model = loadC(program, target, weights, { flags: ['-DMOEC_PROFILE'] });
model.threads = Number(values.threads);
const ids = (T: number) => ({ ids: { dtype: 'i32' as const, shape: [T], data: Int32Array.from({ length: T }, (_, i) => (i * 7919 + 11) % sizes.V) }, ...lastRowInputs(program, T) });
try {
  for (const [label, T, L] of [[`prefill T = ${PREFILL_TOKENS}`, PREFILL_TOKENS, 0], ['decode T = 1 at L = 8', 1, 8]] as const) {
    const r = model.run(ids(T), T, Number(values.repeat), L);
    const kernels = Object.entries(r.kernels ?? {}).sort((a, b) => b[1] - a[1]);
    const total = kernels.reduce((s, [, ms]) => s + ms, 0);
    const median = [...r.times].sort((a, b) => a - b)[Math.floor(r.times.length / 2)];
    console.log(`\n${values.target} ${values.precision} ${values.threads}t ${label}: forward ${median.toFixed(2)} ms median (${((1e3 * T) / median).toFixed(1)} tok/s), best ${Math.min(...r.times).toFixed(2)} ms, kernels ${total.toFixed(2)} ms`);
    console.log('| kernel | ms | share |\n| --- | ---: | ---: |');
    for (const [k, ms] of kernels) console.log(`| ${k} | ${ms.toFixed(3)} | ${((100 * ms) / total).toFixed(1)}% |`);
  }
} finally {
  model.dispose();
}
