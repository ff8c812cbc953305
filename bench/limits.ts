/**
 * @fileoverview This machine's limits, measured in the same run as the cases they judge
 * (a busy or throttled machine moves both together):
 * - JS: peak scalar FLOP/s of a tight loop of independent multiply-adds over Float64
 *   accumulators, and the bandwidth of a streaming sum over a 256 MiB Float32Array (what a
 *   scalar JS loop can stream), plus TypedArray#set's copy bandwidth (memcpy, for reference).
 * - NumPy (the peer): float32 GEMM peak (2048³ sgemm through its BLAS, all BLAS threads) and
 *   memory bandwidth (a sum and a copy over 256 MiB), from `peers/numpy_moe.py`.
 * Each number is the best of a few repetitions after a warmup: these are ceilings. The
 * harness measures at the start and at the end of the run and keeps the better of each
 * (`bestOf`), reporting both, because a shared or throttled machine drifts during a run.
 */
import { type NativeLimits, measureNativeLimits } from './native.ts';
import type { Roof } from './runner.ts';
import { callNumpy, numpyUnavailable } from './peers/numpy.ts';

/** Threads of the native runners (the C backend and the native peers): the x86-avx2 target's 2 cores. */
export const NATIVE_THREADS = 2;

export interface JsLimits {
  /** Multiply-add loop, GFLOP/s (one thread). */
  scalarGflops: number;
  /** Streaming sum over a Float32Array, GB/s read (one thread). */
  streamGBps: number;
  /** TypedArray#set copy, GB/s (read + write). */
  copyGBps: number;
  /** Size of the streamed array, MiB. */
  arrayMiB: number;
}

export interface NumpyLimits {
  numpy: string;
  python: string;
  blas: { name?: string; version?: string; corename?: string; threads?: number; [k: string]: unknown };
  sgemmN: number;
  sgemmGflops: number;
  /** np.sum over float32, GB/s read. */
  sumGBps: number;
  /** np.copyto, GB/s (read + write). */
  copyGBps: number;
}

export interface Limits {
  js: JsLimits;
  numpy: NumpyLimits | null;
  /** Why NumPy's limits are missing. */
  numpyError?: string;
  /** C: FMA peak, STREAM triad and read bandwidth on NATIVE_THREADS threads. */
  native?: NativeLimits | null;
  nativeError?: string;
}

const MIB = 1 << 20;

/** Measures everything; `reps` repetitions of each (the best counts). */
export function measureLimits(reps: number): Limits {
  const native = measureNativeLimits(NATIVE_THREADS, reps);
  const nat = typeof native === 'string' ? { native: null, nativeError: native } : { native };
  return { ...measureOtherLimits(reps), ...nat };
}

function measureOtherLimits(reps: number): Limits {
  const js = measureJsLimits(reps);
  const why = numpyUnavailable();
  if (why) return { js, numpy: null, numpyError: why };
  try {
    const r = callNumpy<{ numpy: string; python: string; blas: NumpyLimits['blas']; sgemm_n: number; sgemm_gflops: number; sum_gbps: number; copy_gbps: number }>({
      mode: 'limits',
      gemm_n: 2048,
      bw_mb: 256,
      reps,
    });
    return {
      js,
      numpy: { numpy: r.numpy, python: r.python, blas: r.blas, sgemmN: r.sgemm_n, sgemmGflops: r.sgemm_gflops, sumGBps: r.sum_gbps, copyGBps: r.copy_gbps },
    };
  } catch (e) {
    return { js, numpy: null, numpyError: (e as Error).message };
  }
}

export function measureJsLimits(reps: number): JsLimits {
  return { scalarGflops: scalarGflops(reps), ...bandwidth(reps, 256) };
}

/**
 * Twelve independent chains of `a = a*m + c` (24 FLOPs an iteration): enough chains to cover
 * the multiply and add latencies, few enough to stay in registers. The chains converge to 1,
 * never to denormals or infinities.
 */
function multiplyAdds(n: number): number {
  let a0 = 1.0, a1 = 1.1, a2 = 1.2, a3 = 1.3, a4 = 1.4, a5 = 1.5;
  let a6 = 1.6, a7 = 1.7, a8 = 1.8, a9 = 1.9, a10 = 2.0, a11 = 2.1;
  const m = 0.9999999;
  const c = 1e-7;
  for (let i = 0; i < n; i++) {
    a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c;
    a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c;
    a8 = a8 * m + c; a9 = a9 * m + c; a10 = a10 * m + c; a11 = a11 * m + c;
  }
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
}
const FLOPS_PER_ITERATION = 24;

function scalarGflops(reps: number): number {
  let sink = 0;
  for (let i = 0; i < 50; i++) sink += multiplyAdds(10_000); // let the optimising compiler take it
  const n = 10_000_000;
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    sink += multiplyAdds(n);
    best = Math.min(best, performance.now() - t0);
  }
  if (!Number.isFinite(sink)) throw new Error('limits: the multiply-add loop diverged');
  return (FLOPS_PER_ITERATION * n) / (best / 1e3) / 1e9;
}

/** Sum of a Float32Array with eight accumulators, so the adds' latency does not bound it. */
function streamSum(a: Float32Array): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  const n = a.length;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 += a[i]; s1 += a[i + 1]; s2 += a[i + 2]; s3 += a[i + 3];
    s4 += a[i + 4]; s5 += a[i + 5]; s6 += a[i + 6]; s7 += a[i + 7];
  }
  for (; i < n; i++) s0 += a[i];
  return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

function bandwidth(reps: number, mib: number): { streamGBps: number; copyGBps: number; arrayMiB: number } {
  const a = new Float32Array((mib * MIB) / 4);
  for (let i = 0; i < a.length; i++) a[i] = i & 7; // touch every page before timing
  const small = a.subarray(0, 1 << 16);
  let sink = 0;
  for (let i = 0; i < 50; i++) sink += streamSum(small);
  let bestSum = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    sink += streamSum(a);
    bestSum = Math.min(bestSum, performance.now() - t0);
  }
  if (!Number.isFinite(sink)) throw new Error('limits: the streaming sum overflowed');
  const b = new Float32Array(a.length);
  b.set(a);
  let bestCopy = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    b.set(a);
    bestCopy = Math.min(bestCopy, performance.now() - t0);
  }
  return { streamGBps: a.byteLength / (bestSum / 1e3) / 1e9, copyGBps: (2 * a.byteLength) / (bestCopy / 1e3) / 1e9, arrayMiB: mib };
}

/** The better of two measurements, number by number (limits are ceilings). */
export function bestOf(a: Limits, b: Limits): Limits {
  const nat: Pick<Limits, 'native' | 'nativeError'> =
    a.native && b.native
      ? { native: { ...a.native, fmaGflops: Math.max(a.native.fmaGflops, b.native.fmaGflops), triadGBps: Math.max(a.native.triadGBps, b.native.triadGBps), readGBps: Math.max(a.native.readGBps, b.native.readGBps) } }
      : { native: a.native ?? b.native ?? null, nativeError: a.nativeError ?? b.nativeError };
  return { ...bestOfOthers(a, b), ...nat };
}

function bestOfOthers(a: Limits, b: Limits): Limits {
  const js: JsLimits = {
    scalarGflops: Math.max(a.js.scalarGflops, b.js.scalarGflops),
    streamGBps: Math.max(a.js.streamGBps, b.js.streamGBps),
    copyGBps: Math.max(a.js.copyGBps, b.js.copyGBps),
    arrayMiB: a.js.arrayMiB,
  };
  if (!a.numpy || !b.numpy) return { js, numpy: a.numpy ?? b.numpy, numpyError: a.numpyError ?? b.numpyError };
  const numpy: NumpyLimits = {
    ...a.numpy,
    sgemmGflops: Math.max(a.numpy.sgemmGflops, b.numpy.sgemmGflops),
    sumGBps: Math.max(a.numpy.sumGBps, b.numpy.sumGBps),
    copyGBps: Math.max(a.numpy.copyGBps, b.numpy.copyGBps),
  };
  return { js, numpy };
}

/** The roof of a runner that is plain JS (the interpreter, the TypeScript floor): the JS limits. */
export function jsRoof(limits: Limits): Roof {
  return {
    gflops: limits.js.scalarGflops,
    gbps: limits.js.streamGBps,
    computeFrom: 'JS scalar multiply-add loop',
    bandwidthFrom: `JS streaming sum over ${limits.js.arrayMiB} MiB Float32Array`,
  };
}
