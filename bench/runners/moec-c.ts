/**
 * @fileoverview moec's C backend as a benchmark runner: the workload compiled for x86-avx2
 * (AVX2 + FMA micro-kernels, 2 pthreads), built once with the system compiler, and timed by
 * its own runner program (clock_gettime around each forward call), so process start-up is
 * not timed. Before every timed call the runner streams over a buffer larger than the last
 * level cache (MOEC_BENCH_FLUSH_MIB, default 1024; 0 disables), outside the timed region:
 * a decode step then reads its experts' weights from DRAM, as in real serving, instead of
 * from the cache the previous iteration warmed. Judged against the native limits.
 */
import { spawnSync } from 'node:child_process';
import { type CModel, loadC } from '../../compiler/backends/c/index.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target-load.ts';
import { NATIVE_THREADS } from '../limits.ts';
import { nativeRoof } from '../native.ts';
import type { BenchCase, Runner } from '../runner.ts';
import { type SamplePlan, type Timing, summarize } from '../stats.ts';
import { TOKEN_COUNTS } from '../workloads.ts';

const TARGET = 'x86-avx2';

/** One built model per workload (the weights do not change between token counts). */
const models = new Map<string, CModel>();

function modelFor(c: BenchCase): CModel {
  let m = models.get(c.workload.name);
  if (!m) {
    const target = loadTarget(TARGET);
    const program = runPipeline(c.module, { target, maxTokens: Math.max(...TOKEN_COUNTS) }).program!;
    m = loadC(program, target, c.weights);
    m.threads = NATIVE_THREADS;
    m.env = { MOEC_FLUSH_MIB: process.env.MOEC_BENCH_FLUSH_MIB ?? '1024' };
    models.set(c.workload.name, m);
    process.once('exit', () => m!.dispose());
  }
  return m;
}

/** How many samples the plan asks for, given one run's time. */
function samplesFor(plan: SamplePlan, ms: number): number {
  const byTime = Math.ceil(plan.minTimeMs / Math.max(ms, 1e-3));
  const cap = Math.max(1, Math.floor(plan.maxTimeMs / Math.max(ms, 1e-3)));
  return Math.min(plan.maxSamples, Math.max(plan.minSamples, Math.min(byTime, cap)));
}

export const moecC: Runner = {
  id: 'moec-c',
  about: (limits) =>
    `moec C backend for ${TARGET}: AVX2 + FMA register-blocked grouped GEMMs, fused router and epilogues, ${NATIVE_THREADS} pthreads; ${limits.native?.compiler ?? 'cc'}, -O3 -mavx2 -mfma; caches flushed before each run`,
  roof: nativeRoof,
  skip: () => (spawnSync(process.env.CC ?? 'cc', ['--version']).status === 0 ? null : 'no C compiler (install gcc or clang, or set CC)'),
  measure: (c: BenchCase, plan: SamplePlan): Timing => {
    const m = modelFor(c);
    const warm = m.run(c.inputs, c.tokens, 1).times[0];
    const n = samplesFor(plan, warm);
    return summarize(m.run(c.inputs, c.tokens, n).times, warm);
  },
};
