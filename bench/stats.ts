/**
 * @fileoverview How a case is sampled and summarised: one warmup, then repetitions until
 * there are enough samples and enough time, within a cap per case (so slow cases take fewer
 * samples and report how many). Peers that time themselves (NumPy) follow the same plan.
 */

/** When to stop taking samples of one case. */
export interface SamplePlan {
  /** Take at least this many samples... */
  minSamples: number;
  /** ...and keep going until the samples add up to this much time... */
  minTimeMs: number;
  /** ...but never start a sample that would likely end past this total (one sample always runs). */
  maxTimeMs: number;
  /** Hard cap on the sample count. */
  maxSamples: number;
}

/** The timing of one case on one implementation. */
export interface Timing {
  samplesMs: number[];
  warmupMs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** First and third quartiles (linear interpolation). */
  q1Ms: number;
  q3Ms: number;
}

/** Runs `fn` once to warm up, then samples it by `plan`, timing with performance.now(). */
export function sample(fn: () => void, plan: SamplePlan): Timing {
  let t0 = performance.now();
  fn();
  const warmupMs = performance.now() - t0;
  const samples: number[] = [];
  let total = 0;
  while (samples.length < plan.maxSamples) {
    if (samples.length >= plan.minSamples && total >= plan.minTimeMs) break;
    const last = samples.length ? samples[samples.length - 1] : warmupMs;
    if (samples.length && total + last > plan.maxTimeMs) break;
    t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    samples.push(dt);
    total += dt;
  }
  return summarize(samples, warmupMs);
}

/** Median, extremes and quartiles of the samples. */
export function summarize(samplesMs: number[], warmupMs: number): Timing {
  if (samplesMs.length === 0) throw new Error('summarize: no samples');
  const s = [...samplesMs].sort((a, b) => a - b);
  return { samplesMs, warmupMs, medianMs: quantile(s, 0.5), minMs: s[0], maxMs: s[s.length - 1], q1Ms: quantile(s, 0.25), q3Ms: quantile(s, 0.75) };
}

/** The q-quantile of sorted values, interpolating linearly between neighbours. */
export function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
