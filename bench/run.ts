/**
 * @fileoverview `npm run bench`: times every runner (moec's implementations and the peers)
 * on every workload at every token count, next to this machine's limits measured in the
 * same run, and reports medians, GFLOP/s, GB/s, fractions of the limits and ratios against
 * the peers: a table on stdout, `results/latest.json` and a roofline `results/latest.svg`.
 *
 *   npx tsx bench/run.ts            all token counts (a minute or two on 2 cores)
 *   npx tsx bench/run.ts --quick    T = 1 and 32 only, fewer samples: a smoke run
 *   npx tsx bench/run.ts --no-cache prepare the weights afresh (see weight-cache.ts)
 *
 * A new backend adds one Runner (see runner.ts) to RUNNERS; nothing else changes.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bindDims, compileFile, parse, randomInputs } from '../compiler/driver.ts';
import type { Module } from '../ir/graph/graph.ts';
import { writeOutputFile } from '../compiler/io/output.ts';
import { type CheckResult, checkNumpy } from './check.ts';
import { forwardCost, intensity } from './cost.ts';
import { bestOf, measureLimits } from './limits.ts';
import { Progress } from './progress.ts';
import type { BenchRecord, CaseRecord, CaseResult } from './record.ts';
import { formatReport } from './report.ts';
import { runLlamaSection } from './llama/bench.ts';
import { formatLlamaTable } from './llama/readme-table.ts';
import type { BenchCase, Runner } from './runner.ts';
import { moecC, moecC512, moecC512I8, moecCQuant } from './runners/moec-c.ts';
import { moecRef } from './runners/moec-ref.ts';
import { plainTs } from './runners/plain-ts.ts';
import { moecWgsl, moecWgslGpu } from './runners/moec-wgsl.ts';
import { numpyRunner } from './runners/numpy.ts';
import { onnxruntimeRunner } from './runners/onnxruntime.ts';
import { openblasRunner } from './runners/openblas.ts';
import { moecWasm, moecWasmQuant, moecWasmRelaxed, moecWasmScalar, moecWasmThreads, wasmLimits } from './runners/moec-wasm.ts';
import { tfjsWasm } from './runners/tfjs-wasm.ts';
import type { SamplePlan } from './stats.ts';
import { rooflineSvg } from './svg.ts';
import { TOKEN_COUNTS, WORKLOADS, type Workload } from './workloads.ts';
import { cacheStats, seededWeights, setWeightCache } from './weight-cache.ts';
import { measurePacking } from './pack-throughput.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');

/** Every implementation, moec's first; the peers are the ones others are compared against. */
const RUNNERS: Runner[] = [moecRef, moecC, ...moecCQuant, moecC512, moecC512I8, moecWasm, moecWasmRelaxed, moecWasmThreads, ...moecWasmQuant, moecWasmScalar, moecWgsl, moecWgslGpu, numpyRunner, openblasRunner, onnxruntimeRunner, tfjsWasm, plainTs];
const PEERS = ['numpy', 'openblas', 'onnxruntime', 'tfjs-wasm', 'plain-ts'];

/** The token count of the NumPy correctness check. */
const CHECK_TOKENS = 32;

/**
 * Full runs: at least 5 samples and 2 s per case, never starting a sample that would end
 * past 12 s (so T=256 on the interpreter, 1.5 to 2 s a run, takes 5 or 6; the whole run
 * stays near a minute and a half on 2 cores). Quick runs: 3 samples and 0.3 s, capped at 2 s.
 */
const PLANS: Record<'full' | 'quick', SamplePlan> = {
  full: { minSamples: 5, minTimeMs: 2000, maxTimeMs: 12000, maxSamples: 1000 },
  quick: { minSamples: 3, minTimeMs: 300, maxTimeMs: 2000, maxSamples: 100 },
};

const USAGE = `usage: npx tsx bench/run.ts [--quick] [--no-cache] [--no-pack] [--runners ID,...] [--workloads NAME,...] [--tokens T,...]

Benchmarks moec's implementations (reference interpreter, C and Wasm backends) against the
peers (NumPy, OpenBLAS, onnxruntime, TensorFlow.js on Wasm) on the workloads of bench/workloads.ts.
  --quick      T = 1 and 32 only, fewer samples (a smoke run)
  --no-cache   seed, quantize and pack the weights afresh instead of reading them from
               the cache of prepared weights (\$MOEC_CACHE_DIR/bench/weights, keyed by content)
  --runners    only these runners (${RUNNERS.map((r) => r.id).join(', ')})
  --workloads  only these workloads (${WORKLOADS.map((w) => w.name).join(', ')})
  --tokens     only these token counts
  --no-pack    leave out the packing section (moec pack's weight layout, MB/s per scheme)
  --no-llama   leave out the llama.cpp section (a whole reduced Qwen3-MoE generating on moec
               and llama.cpp; bench/llama/bench.ts, alone: npm run bench:llama), which is also
               left out when --runners, --workloads or --tokens pick a subset
Writes bench/results/latest.json and bench/results/latest.svg (and llama.json); prints a report on stdout.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'no-cache': { type: 'boolean', default: false },
      'no-pack': { type: 'boolean', default: false },
      'no-llama': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      runners: { type: 'string' },
      workloads: { type: 'string' },
      tokens: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const quick = values.quick === true;
  setWeightCache(values['no-cache'] !== true);
  const plan = PLANS[quick ? 'quick' : 'full'];
  const pick = <T>(all: T[], key: (x: T) => string, list: string | undefined, what: string): T[] => {
    if (list === undefined) return all;
    const names = list.split(',').filter(Boolean);
    for (const n of names) if (!all.some((x) => key(x) === n)) throw new Error(`bench: no ${what} '${n}' (${all.map(key).join(', ')})`);
    return all.filter((x) => names.includes(key(x)));
  };
  const RUNNERS_RUN = pick(RUNNERS, (r) => r.id, values.runners, 'runner');
  const WORKLOADS_RUN = pick(WORKLOADS, (w) => w.name, values.workloads, 'workload');
  const tokenCounts = values.tokens !== undefined ? values.tokens.split(',').map(Number) : quick ? TOKEN_COUNTS.filter((t) => t <= 32) : TOKEN_COUNTS;
  const started = performance.now();
  const loadBefore = loadavg()[0];

  const limitReps = quick ? 3 : 5;
  const packing = values['no-pack'] !== true;
  const progress = new Progress(2 + (packing ? 1 : 0) + WORKLOADS_RUN.length * (1 + tokenCounts.length * RUNNERS_RUN.length));
  let step = 0;
  progress.update(++step, 'measuring this machine\'s limits');
  const limitsStart = measureLimits(limitReps);
  const initErrors = new Map<string, string>();
  for (const r of RUNNERS_RUN)
    await r.init?.().catch((e: unknown) => {
      initErrors.set(r.id, describeError(e));
    });

  const cases: CaseRecord[] = [];
  const checks: CheckResult[] = [];
  const errors: string[] = [];
  for (const w of WORKLOADS_RUN) {
    let module: Module;
    try {
      module = compileFile(join(ROOT, w.file), { consts: w.consts });
    } catch (e) {
      errors.push(`${w.name}: ${w.file} does not compile: ${describeError(e)}`);
      step += 1 + tokenCounts.length * RUNNERS_RUN.length;
      process.exitCode = 1;
      continue;
    }
    const consts = fileConsts(join(ROOT, w.file), w.consts);
    const { weights, key: weightsKey } = seededWeights(module, 0);
    const makeCase = (tokens: number): BenchCase => {
      const bindings = bindDims(module, { tokens });
      return { workload: w, module, tokens, bindings, consts, weights, weightsKey, inputs: randomInputs(module, bindings, 0) };
    };

    progress.update(++step, `${w.name} T=${CHECK_TOKENS}: checking NumPy against moec-ref`);
    if (RUNNERS_RUN.includes(numpyRunner)) checks.push(checkNumpy(makeCase(CHECK_TOKENS)));

    for (const tokens of tokenCounts) {
      const c = makeCase(tokens);
      const cost = forwardCost(module, c.bindings);
      const results: CaseResult[] = [];
      for (const runner of RUNNERS_RUN) {
        progress.update(++step, `${w.name} T=${tokens} ${runner.id}`);
        const failed = initErrors.get(runner.id);
        results.push(failed ? { runner: runner.id, skipped: `set-up failed: ${failed}` } : await measureCase(runner, c, plan));
      }
      cases.push({ workload: w.name, tokens, cost, intensity: intensity(cost), results });
    }
  }
  let pack: BenchRecord['pack'];
  if (packing) {
    progress.update(++step, 'packing weights: f32, i8, i4, fp8 (Wasm and JS quantizers)');
    try {
      pack = await measurePacking({ quick, runs: quick ? 3 : 5 });
    } catch (e) {
      errors.push(`packing weights: ${describeError(e)}`);
      process.exitCode = 1;
    }
  }
  progress.update(++step, 'measuring this machine\'s limits again');
  const limitsEnd = measureLimits(limitReps);
  const limits = bestOf(limitsStart, limitsEnd);
  progress.done();

  const record: BenchRecord = {
    version: 1,
    machine: {
      cpu: cpus()[0]?.model.trim() ?? 'unknown',
      cores: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      platform: `${process.platform} ${process.arch}`,
      node: process.version,
      date: new Date().toISOString(),
      loadBefore,
      loadAfter: loadavg()[0],
    },
    quick,
    tokenCounts,
    limits,
    limitsStart,
    limitsEnd,
    wasmLimits: wasmLimits(),
    runners: RUNNERS_RUN.map((r) => ({ id: r.id, about: r.about(limits), roof: r.roof(limits), ...(r.baseline ? { baseline: r.baseline } : {}) })),
    peers: PEERS.filter((p) => RUNNERS_RUN.some((r) => r.id === p)),
    checks,
    cases,
    ...(pack ? { pack } : {}),
    errors,
    wallSeconds: 0,
  };
  derive(record);
  record.wallSeconds = (performance.now() - started) / 1e3;

  const written: string[] = [];
  try {
    mkdirSync(RESULTS, { recursive: true });
    const json = join(RESULTS, 'latest.json');
    const svg = join(RESULTS, 'latest.svg');
    writeOutputFile(json, JSON.stringify(record, null, 1) + '\n');
    writeOutputFile(svg, rooflineSvg(record));
    written.push(relative(process.cwd(), json), relative(process.cwd(), svg));
  } catch (e) {
    errors.push(`could not write results: ${(e as Error).message}`);
  }
  process.stdout.write(formatReport(record, written));
  if (cacheStats.hits + cacheStats.misses > 0)
    process.stderr.write(`prepared weights: ${cacheStats.hits} read back from the cache (${(cacheStats.bytesRead / 1e6).toFixed(1)} MB), ${cacheStats.misses} made and stored (--no-cache to make them all afresh)\n`);
  if (values['no-llama'] !== true && values.runners === undefined && values.workloads === undefined && values.tokens === undefined)
    process.stdout.write(`\nllama.cpp comparison (bench/llama/bench.ts):\n\n${formatLlamaTable(await runLlamaSection({ quick }))}`);
}

/** One runner on one case; a skip or an error is recorded, never thrown. */
async function measureCase(runner: Runner, c: BenchCase, plan: SamplePlan): Promise<CaseResult> {
  const skipped = runner.skip(c);
  if (skipped) return { runner: runner.id, skipped };
  try {
    return { runner: runner.id, timing: await runner.measure(c, plan), ...(runner.cost ? { cost: runner.cost(c) } : {}) };
  } catch (e) {
    if (!PEERS.includes(runner.id)) process.exitCode = 1;
    return { runner: runner.id, error: describeError(e) };
  }
}

/** Fills in rates, fractions of each runner's roof, and ratios against the peers. */
function derive(r: BenchRecord): void {
  const roofs = new Map(r.runners.map((ru) => [ru.id, ru.roof]));
  const baselines = new Map(r.runners.map((ru) => [ru.id, ru.baseline]));
  for (const c of r.cases) {
    for (const x of c.results) {
      if (!x.timing) continue;
      const seconds = x.timing.medianMs / 1e3;
      const cost = x.cost ?? c.cost;
      x.gflops = cost.flops / seconds / 1e9;
      x.gbps = cost.bytes / seconds / 1e9;
      const roof = roofs.get(x.runner);
      if (roof) {
        x.fracCompute = x.gflops / roof.gflops;
        x.fracBandwidth = x.gbps / roof.gbps;
        // The roofline minimum: the case's FLOPs at the roof's peak, or the distinct weights it must read at its bandwidth.
        const minSeconds = Math.max(cost.flops / (roof.gflops * 1e9), cost.weightBytes / (roof.gbps * 1e9));
        x.fracRoofline = minSeconds / seconds;
      }
    }
    for (const x of c.results) {
      if (!x.timing) continue;
      const base = c.results.find((y) => y.runner === baselines.get(x.runner) && y.timing);
      if (base) x.speedup = base.timing!.medianMs / x.timing.medianMs;
      for (const p of r.peers) {
        const peer = c.results.find((y) => y.runner === p && y.timing);
        if (peer && p !== x.runner) (x.ratios ??= {})[p] = x.timing.medianMs / peer.timing!.medianMs;
      }
    }
  }
}

/**
 * The model file's constants (those given as plain numbers) with the workload's overrides:
 * what a peer needs to build the same layers (sizes, and also scales and epsilons).
 */
function fileConsts(path: string, overrides: Workload['consts']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of parse(readFileSync(path, 'utf8'), path).decls)
    if (d.kind === 'const' && d.value.kind === 'number') out[d.name.name] = d.value.value;
  return { ...out, ...overrides };
}

/** The first line of an error's message (MoecError messages are `E123: ...`). */
function describeError(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

await main();
