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
  /** Each kernel's mean ms per run, from a timing build, by kernel (the C runners: `moec-c`'s split). */
  kernelsMs?: Record<string, number>;
}

let flushBuffer: Buffer | null | undefined;

/**
 * Evicts the caches before a timed run, outside its timing: streams over MOEC_BENCH_FLUSH_MIB
 * MiB (default 1024, more than this machine's 300 MiB L3; 0 disables), so every runner reads
 * its weights from memory as a decode step does in serving. The native runners' child
 * processes flush the same way. The buffer is filled with ones (untouched zero pages would all
 * be one physical page); `indexOf` of a byte that is not there reads it at memchr speed.
 */
export function flushCaches(): void {
  if (flushBuffer === undefined) {
    const mib = Number(process.env.MOEC_BENCH_FLUSH_MIB ?? 1024);
    flushBuffer = mib > 0 ? Buffer.alloc(mib * 2 ** 20, 1) : null;
  }
  if (flushBuffer && flushBuffer.indexOf(2) !== -1) throw new Error('flushCaches: the buffer changed');
}

/** How long one flush takes here, ms (measured once): what runners that flush in a child process budget per sample. */
export function flushMs(): number {
  flushCaches();
  const t0 = performance.now();
  flushCaches();
  return performance.now() - t0;
}

/** Runs `fn` once to warm up, then samples it by `plan`, timing with performance.now(); caches flushed before each run. */
export function sample(fn: () => void, plan: SamplePlan): Timing {
  const s = new Sampler(plan);
  flushCaches();
  let t0 = performance.now();
  fn();
  s.warmup(performance.now() - t0);
  while (s.more()) {
    s.flush();
    t0 = performance.now();
    fn();
    s.add(performance.now() - t0);
  }
  return s.timing();
}

/** `sample` for an asynchronous run (a GPU forward that ends when its results are mapped). */
export async function sampleAsync(fn: () => Promise<unknown>, plan: SamplePlan): Promise<Timing> {
  const s = new Sampler(plan);
  flushCaches();
  let t0 = performance.now();
  await fn();
  s.warmup(performance.now() - t0);
  while (s.more()) {
    s.flush();
    t0 = performance.now();
    await fn();
    s.add(performance.now() - t0);
  }
  return s.timing();
}

/** The sampling plan's bookkeeping, shared by `sample` and `sampleAsync`. */
class Sampler {
  private readonly samples: number[] = [];
  private total = 0;
  private warmupMs = 0;
  constructor(private readonly plan: SamplePlan) {}
  warmup(ms: number): void {
    this.warmupMs = ms;
  }
  more(): boolean {
    const { samples, plan } = this;
    if (samples.length >= plan.maxSamples) return false;
    if (samples.length >= plan.minSamples && this.total >= plan.minTimeMs) return false;
    const last = samples.length ? samples[samples.length - 1] : this.warmupMs;
    return !(samples.length && this.total + last > plan.maxTimeMs);
  }
  add(ms: number): void {
    this.samples.push(ms);
    this.total += ms;
  }
  /** Flushes the caches; the time counts towards the plan's budgets but is no sample. */
  flush(): void {
    const t0 = performance.now();
    flushCaches();
    this.total += performance.now() - t0;
  }
  timing(): Timing {
    return summarize(this.samples, this.warmupMs);
  }
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
