/**
 * @fileoverview moec's C backend as benchmark runners: the workload compiled for x86-avx2
 * (AVX2 + FMA micro-kernels, 2 pthreads; `moec-c`) and for x86-avx512 (`moec-c512`, where the
 * CPU has AVX-512F), built once with the system compiler, and timed by
 * its own runner program (clock_gettime around each forward call), so process start-up is
 * not timed. Before every timed call the runner streams over a buffer larger than the last
 * level cache (MOEC_BENCH_FLUSH_MIB, default 1024; 0 disables), outside the timed region:
 * a decode step then reads its experts' weights from DRAM, as in real serving, instead of
 * from the cache the previous iteration warmed. Judged against the native limits.
 *
 * `moec-c-i8`, `moec-c-i4` and `moec-c-fp8` are `moec-c` with the workload's GEMM weights
 * quantized (`--quantize i8|i4|fp8`: the same seeded f32 weights, quantized when packed):
 * each is charged its own bytes (codes + scales, bench/cost.ts), so its GB/s is the
 * effective rate over what it stores and % roof says how close it is to the bandwidth limit.
 */
import { spawnSync } from 'node:child_process';
import { type CModel, loadC } from '../../compiler/backends/c/index.ts';
import { quantizeModule } from '../../compiler/driver.ts';
import type { Module } from '../../ir/graph/graph.ts';
import { type Cost, forwardCost } from '../cost.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import { NATIVE_THREADS } from '../limits.ts';
import { cpuHas, nativeRoof } from '../native.ts';
import type { BenchCase, Runner } from '../runner.ts';
import { type SamplePlan, type Timing, flushMs, summarize } from '../stats.ts';

let flushCost: number | undefined;
const flush = (): number => (flushCost ??= Number(process.env.MOEC_BENCH_FLUSH_MIB ?? 1024) > 0 ? flushMs() : 0);
import { TOKEN_COUNTS } from '../workloads.ts';
import { cachedBlob } from '../weight-cache.ts';

/** One built model per target, workload and quantization (the weights do not change between token counts); `+profile`: its timing build. */
const models = new Map<string, CModel>();
const quantized = new Map<string, Module>();

/** The workload's module with its GEMM weights in `scheme` (once per workload). */
function moduleFor(c: BenchCase, scheme: string | undefined): Module {
  if (!scheme) return c.module;
  const key = `${c.workload.name}/${scheme}`;
  let m = quantized.get(key);
  if (!m) quantized.set(key, (m = quantizeModule(c.module, scheme)));
  return m;
}

function modelFor(c: BenchCase, targetName: string, scheme?: string, profile = false): CModel {
  const key = `${targetName}/${c.workload.name}/${scheme ?? 'f32'}${profile ? '+profile' : ''}`;
  let m = models.get(key);
  if (!m) {
    const target = loadTarget(targetName);
    const program = runPipeline(moduleFor(c, scheme), { target, maxTokens: Math.max(...TOKEN_COUNTS) }).program!;
    m = loadC(program, target, c.weights, { ...(profile ? { flags: ['-DMOEC_PROFILE'] } : {}), blob: (make) => cachedBlob(c.weightsKey, `c ${JSON.stringify(target)}`, program, make) });
    m.threads = NATIVE_THREADS;
    m.env = { MOEC_FLUSH_MIB: process.env.MOEC_BENCH_FLUSH_MIB ?? '1024' };
    // One exit hook frees every model (one listener per model passed Node's limit of 10).
    if (models.size === 0) process.once('exit', () => models.forEach((x) => x.dispose()));
    models.set(key, m);
  }
  return m;
}

/** How many samples the plan asks for, given one run's time. */
function samplesFor(plan: SamplePlan, ms: number): number {
  const byTime = Math.ceil(plan.minTimeMs / Math.max(ms, 1e-3));
  const cap = Math.max(1, Math.floor(plan.maxTimeMs / Math.max(ms, 1e-3)));
  return Math.min(plan.maxSamples, Math.max(plan.minSamples, Math.min(byTime, cap)));
}

/** Runs of the timing build that give a case's per-kernel split (each after the cache flush, as the timed runs). */
const SPLIT_RUNS = 3;

/**
 * Each kernel's mean ms per run, from the timing build (-DMOEC_PROFILE: the same code with a
 * clock read around every kernel), named by its role: `router`, `moe_align`, and each grouped
 * or dense GEMM by its shape (`gemm 1024->7168`), so a regression points at its kernel.
 */
function kernelSplit(c: BenchCase, targetName: string, scheme: string | undefined): Record<string, number> {
  const m = modelFor(c, targetName, scheme, true);
  const { kernels } = m.run(c.inputs, c.tokens, SPLIT_RUNS);
  if (!kernels) throw new Error('the timing build printed no kernel_ms line');
  const summaries = new Map([...m.src.source.matchAll(/^ \*   (k\d+_\w+): (.*)$/gm)].map((x) => [x[1], x[2]]));
  return Object.fromEntries(Object.entries(kernels).map(([fn, ms]) => [kernelRole(fn, summaries.get(fn) ?? ''), ms]));
}

/** A kernel's short name for the split: its kind, and a GEMM's depth -> columns (k2_grouped_gemm: `gemm 1024->7168`). */
export function kernelRole(fn: string, summary: string): string {
  const gemm = /GEMM (\d+) -> (\d+)/.exec(summary);
  const kind = fn.replace(/^k\d+_/, '');
  return gemm ? `${fn.match(/^k\d+/)![0]} gemm ${gemm[1]}->${gemm[2]}` : `${fn.match(/^k\d+/)![0]} ${kind}`;
}

/**
 * The C backend compiled for one target: `x86-avx2` (the issue's), or `x86-avx512` where the
 * CPU has it; with `scheme`, its GEMM weights quantized (`--quantize`).
 */
function cRunner(id: string, targetName: string, cpuFlag: string, scheme?: string): Runner {
  const isa = targetName === 'x86-avx512' ? 'AVX-512F' : 'AVX2 + FMA';
  const weights = scheme ? `, ${scheme} weights dequantized in registers` : '';
  return {
    id,
    about: (limits) =>
      `moec C backend for ${targetName}: ${isa} register-blocked grouped GEMMs, fused router and epilogues${weights}, ${NATIVE_THREADS} pthreads; ${limits.native?.compiler ?? 'cc'} -O3; caches flushed before each run`,
    roof: nativeRoof,
    skip: () => {
      if (spawnSync(process.env.CC ?? 'cc', ['--version']).status !== 0) return 'no C compiler (install gcc or clang, or set CC)';
      return cpuHas(cpuFlag) ? null : `this CPU has no ${cpuFlag}`;
    },
    measure: (c: BenchCase, plan: SamplePlan): Timing => {
      const m = modelFor(c, targetName, scheme);
      const warm = m.run(c.inputs, c.tokens, 1).times[0];
      // Each run is preceded by the runner's cache flush, which the plan's time budget pays for.
      const n = samplesFor(plan, warm + flush());
      const timing = summarize(m.run(c.inputs, c.tokens, n).times, warm);
      return scheme ? timing : { ...timing, kernelsMs: kernelSplit(c, targetName, scheme) };
    },
    ...(scheme ? { cost: (c: BenchCase): Cost => forwardCost(moduleFor(c, scheme), c.bindings), baseline: targetName === 'x86-avx512' ? 'moec-c512' : 'moec-c' } : {}),
  };
}

export const moecC = cRunner('moec-c', 'x86-avx2', 'avx2');
export const moecC512 = cRunner('moec-c512', 'x86-avx512', 'avx512f');
/** `moec-c` with quantized weights: `moec-c-i8` (per channel), `moec-c-i4` (groups of 32), `moec-c-fp8` (groups of 128). */
export const moecCQuant = ['i8', 'i4', 'fp8'].map((s) => cRunner(`moec-c-${s}`, 'x86-avx2', 'avx2', s));
/** `moec-c512` with i8 weights (16 codes a vector: half the decode instructions per weight of AVX2). */
export const moecC512I8 = cRunner('moec-c512-i8', 'x86-avx512', 'avx512f', 'i8');
