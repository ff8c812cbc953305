/**
 * @fileoverview The NumPy peer as a benchmark runner: `peers/numpy_moe.py` runs the same
 * layers in float32 NumPy with its own random weights and times them itself (warmup, then
 * the shared sampling plan, `time.perf_counter`), so Python's start-up is not timed. Judged
 * against NumPy's own measured limits (sgemm peak, best of sum and copy bandwidth).
 */
import { basename } from 'node:path';
import { callNumpy, numpyUnavailable } from '../peers/numpy.ts';
import type { Runner } from '../runner.ts';
import { summarize } from '../stats.ts';

/** The example files numpy_moe.py implements, by file name. */
const MODELS: Record<string, string> = { 'mixtral.moe': 'mixtral', 'deepseek-v3.moe': 'deepseek-v3', 'deepseek-mini.moe': 'deepseek-mini' };

/** The peer's model name for a workload file, or undefined when it has none. */
export function numpyModel(file: string): string | undefined {
  return MODELS[basename(file)];
}

export const numpyRunner: Runner = {
  id: 'numpy',
  about: (limits) => {
    const n = limits.numpy;
    if (!n) return `NumPy peer: unavailable (${limits.numpyError ?? numpyUnavailable() ?? 'unknown'})`;
    const b = n.blas;
    const blas = [b.name, b.version, b.corename && `core ${b.corename}`, b.threads !== undefined && `${b.threads} threads`].filter(Boolean).join(', ');
    return `NumPy ${n.numpy} on Python ${n.python} (BLAS: ${blas || 'unknown'}), float32, experts grouped, one GEMM per active expert; caches flushed before each run`;
  },
  roof: (limits) => {
    const n = limits.numpy;
    if (!n) return null;
    const copy = n.copyGBps >= n.sumGBps;
    return {
      gflops: n.sgemmGflops,
      gbps: Math.max(n.copyGBps, n.sumGBps),
      computeFrom: `NumPy sgemm ${n.sgemmN}³`,
      bandwidthFrom: copy ? 'NumPy copyto over 256 MiB (read + write)' : 'NumPy sum over 256 MiB',
    };
  },
  skip: (c) => {
    const why = numpyUnavailable();
    if (why) return why;
    return numpyModel(c.workload.file) ? null : `numpy_moe.py has no implementation of ${c.workload.file}`;
  },
  measure: (c, plan) => {
    const r = callNumpy<{ samples_ms: number[]; warmup_ms: number }>({
      mode: 'bench',
      model: numpyModel(c.workload.file),
      consts: c.consts,
      tokens: c.tokens,
      plan: { min_samples: plan.minSamples, min_time_s: plan.minTimeMs / 1e3, max_time_s: plan.maxTimeMs / 1e3, max_samples: plan.maxSamples },
    });
    return summarize(r.samples_ms, r.warmup_ms);
  },
};
