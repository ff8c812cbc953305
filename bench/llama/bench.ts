/**
 * @fileoverview The llama.cpp section of the benchmark (`npm run bench`, or alone:
 * `npm run bench:llama [-- --quick]`): a whole reduced Qwen3-MoE (workload.ts: D = 1024,
 * 4 layers, 32 experts top-4, vocabulary 32000) generating on moec and on llama.cpp
 * (node-llama-cpp), F32 and Q8_0 (moec C: w8a8, int8 activations as Q8_0; Wasm and WGSL:
 * i8g32), 1 and 2 threads:
 * - prefill: T = 256 prompt tokens from an empty cache, tokens/s (median of runs);
 * - decode: single-token steps after a short prompt, tokens/s (median step), the GB/s of
 *   weights a step reads (every weight but the experts', plus K of E experts' and one
 *   embedding row, in the dtype it is stored in) and that as a fraction of this machine's
 *   streaming-read limit on as many threads (bench/native.ts);
 * - parity: moec C's and llama.cpp's next-token distributions over a prompt and 8 greedy
 *   tokens (parity.ts), the line printed with the table.
 * llama.cpp and moec C are measured in ROUNDS rounds, one precision at a time, each row's
 * numbers the median over its rounds; Wasm and WGSL (reference rows) in the first round.
 * moec C runs in its persistent runner with the KV cache as state; its times are wall-clock
 * per call, the runner's own forward time recorded beside.
 * Writes bench/results/llama.json; `npx tsx bench/llama/readme-table.ts` makes the README table of it.
 */
import { mkdirSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { LoadedModel } from '../../compiler/backends/backend.ts';
import { getBackend } from '../../compiler/backends/registry.ts';
import { cacheDir } from '../../compiler/backends/c/build.ts';
import { quantizeModule, weightsFromSafetensors } from '../../compiler/driver.ts';
import { writeOutputFile } from '../../compiler/io/output.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import { openCheckpoint } from '../../ir/checkpoint.ts';
import type { Module } from '../../ir/graph/graph.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { cpuHas, measureNativeLimits } from '../native.ts';
import { quantile } from '../stats.ts';
import { QUANT_SCHEMES } from '../../ir/quant.ts';
import { backendStep, compareGenerations, generateLlama, generateMoec, greedyStep } from './parity.ts';
import { isUnavailable, openLlamaPeer } from './peer.ts';
import { BENCH_SIZES, I8_GROUP32, type LlamaWorkload, type Qwen3Sizes, cachedLlamaWorkload } from './workload.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const LLAMA_RESULTS = join(ROOT, 'bench', 'results', 'llama.json');

export const PREFILL_TOKENS = 256;
/** The version of the files workload.ts writes (the cache directory's name carries it). */
const WRITER_VERSION = 2;
const PARITY_PROMPT = [1, 300, 5000, 17, 31999, 42, 7];
const PARITY_STEPS = 8;
const THREADS = [1, 2];

export type Precision = 'f32' | 'q8';

/** One implementation at one precision and thread count. */
export interface LlamaRow {
  impl: string;
  precision: Precision;
  threads: number;
  prefillTps?: number;
  decodeTps?: number;
  /** The runner's own forward time (C while it is a process per call): tokens/s. */
  prefillTpsForward?: number;
  decodeTpsForward?: number;
  /** Weights read per decode step / the median step time, GB/s, and that over the streaming-read limit. */
  decodeGBps?: number;
  decodeFracRead?: number;
  prefillRuns?: number;
  decodeSteps?: number;
  skipped?: string;
  /** Rounds that measured it (each number is the median over them; see ROUNDS). */
  rounds?: number;
  /** moec's scheme for the Q8_0 rows: `w8a8` on C (int8 activations, as Q8_0), `i8g32` where a backend has no W8A8 kernels. */
  scheme?: string;
}

export interface ParityLine {
  against: string;
  precision: Precision;
  /** Worst row: max |Δ log p| / max |logit|. */
  worst: number;
  rows: number;
  tokensEqual: boolean;
  /** Where the greedy tokens part (a step index) and moec's top-two margin there, over its logits' scale. */
  firstDiff?: number;
  tieMargin?: number;
  /** moec's scheme at Q8_0 (see LlamaRow.scheme). */
  scheme?: string;
}

export interface LlamaRecord {
  version: 1;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; date: string; loadBefore: number; loadAfter: number };
  quick: boolean;
  sizes: Qwen3Sizes;
  prefillTokens: number;
  /** Streaming-read GB/s of this machine by thread count (bench/native.ts). */
  readGBps: Record<number, number>;
  /** Weight bytes one decode step reads, by precision. */
  decodeBytes: Record<Precision, number>;
  parity: ParityLine[];
  rows: LlamaRow[];
  wallSeconds: number;
}

const sizesKey = (sizes: Qwen3Sizes): string => Object.entries(sizes).map(([k, v]) => `${k}${v}`).join('-');

/** The cache directory of the workload's files (seed 1): it names what decides their bytes; WRITER_VERSION is bumped when the writer changes them. */
export function llamaWorkloadDir(sizes: Qwen3Sizes): string {
  return join(cacheDir('bench'), 'llama', `qwen3moe-${sizesKey(sizes)}-seed1-v${WRITER_VERSION}`);
}

/** Bytes of weights one decode step reads (shapes by weight): all but the experts, K of E experts, one embedding row. */
export function decodeBytes(shapes: Record<string, Tensor>, sizes: Qwen3Sizes, precision: Precision, quantized: Set<string>): number {
  let bytes = 0;
  for (const [name, t] of Object.entries(shapes)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    // i8 groups of 32: a byte a code and an f32 scale a group (Q8_0 stores an f16 scale: 34 bytes a block).
    const per = precision === 'q8' && quantized.has(name) ? 1 + 4 / 32 : 4;
    const share = name === 'embed' ? 1 / sizes.V : /\.w_(gate|up|down)$/.test(name) ? sizes.K / sizes.E : 1;
    bytes += n * per * share;
  }
  return bytes;
}

/** A loaded moec model; C's runner also has a thread count to set and its own forward time. */
type Model = LoadedModel & { threads?: number; lastForwardMs?: number };

/** Median of a list. */
const median = (xs: number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);

/** Runs `fn` once, then again while fewer than `max` runs and under `budgetMs` in all: wall times and the runner's own. */
async function timed(fn: () => Promise<number | undefined>, max: number, budgetMs: number): Promise<{ wall: number[]; own: number[] }> {
  const wall: number[] = [];
  const own: number[] = [];
  const start = performance.now();
  do {
    const t0 = performance.now();
    const o = await fn();
    wall.push(performance.now() - t0);
    if (o !== undefined) own.push(o);
  } while (wall.length < max && performance.now() - start < budgetMs);
  return { wall, own };
}

interface Plan {
  prefillRuns: number;
  decodeSteps: number;
  budgetMs: number;
}

/** Prefill and decode of one implementation given as a step and a reset. */
async function measure(step: (ids: number[], L: number) => Promise<number | undefined>, reset: () => Promise<void>, plan: Plan): Promise<Partial<LlamaRow>> {
  const prompt = Array.from({ length: PREFILL_TOKENS }, (_, i) => (i * 7919 + 11) % BENCH_SIZES.V);
  // One untimed prefill of the full length first, on both sides, as llama-bench's warm-up run:
  // moec C's runner starts (and reads the weights) on its first call, which llama.cpp did when
  // its model was opened, and a first call of T = 256 also touches its scratch for the first
  // time (moec C's arena: 12% slower than the calls after it, measured). With two timed runs the
  // median was the mean of a cold and a warm one.
  await reset();
  await step(prompt, 0);
  const pre = await timed(async () => {
    await reset();
    return step(prompt, 0);
  }, plan.prefillRuns, plan.budgetMs);
  await reset();
  await step(prompt.slice(0, 8), 0);
  let L = 8;
  const dec = await timed(() => step([prompt[L % PREFILL_TOKENS]], L++), plan.decodeSteps, plan.budgetMs);
  const tps = (ms: number[], n: number): number | undefined => (ms.length ? (1e3 * n) / median(ms) : undefined);
  return {
    prefillTps: tps(pre.wall, PREFILL_TOKENS),
    decodeTps: tps(dec.wall, 1),
    prefillTpsForward: tps(pre.own, PREFILL_TOKENS),
    decodeTpsForward: tps(dec.own, 1),
    prefillRuns: pre.wall.length,
    decodeSteps: dec.wall.length,
  };
}

function describeError(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

/** Times each row is measured, alternating llama.cpp and moec C (see runLlamaSection). */
export const ROUNDS = 3;

/**
 * One row from its rounds: each number the median of the rounds that measured it (with
 * `rounds`, how many), skipped only when every round was (with the first reason).
 */
export function combineRounds(runs: LlamaRow[]): LlamaRow {
  const ran = runs.filter((r) => !r.skipped);
  if (ran.length === 0) return runs[0];
  const med = (key: 'prefillTps' | 'decodeTps' | 'prefillTpsForward' | 'decodeTpsForward'): number | undefined => {
    const xs = ran.map((r) => r[key]).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  const sum = (key: 'prefillRuns' | 'decodeSteps'): number => ran.reduce((a, r) => a + (r[key] ?? 0), 0);
  const { impl, precision, threads, scheme } = ran[0];
  const out: LlamaRow = { impl, precision, threads, ...(scheme ? { scheme } : {}), prefillRuns: sum('prefillRuns'), decodeSteps: sum('decodeSteps'), rounds: ran.length };
  for (const key of ['prefillTps', 'decodeTps', 'prefillTpsForward', 'decodeTpsForward'] as const) {
    const v = med(key);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** Runs the section; prints progress on stderr; returns the record (also written to bench/results/llama.json). */
export async function runLlamaSection(opts: { quick: boolean; log?: (line: string) => void }): Promise<LlamaRecord> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`llama: ${l}\n`));
  const started = performance.now();
  const loadBefore = loadavg()[0];
  const plan: Plan = opts.quick ? { prefillRuns: 1, decodeSteps: 3, budgetMs: 3000 } : { prefillRuns: 5, decodeSteps: 12, budgetMs: 8000 };
  // Rounds: llama.cpp and moec C are measured in turn, ROUNDS times, each row's numbers the median
  // over the rounds. On a shared 2-core VM the machine's speed drifts over minutes (a row measured
  // once moved by 10-30% between runs, more at 2 threads); alternating keeps both sides in the
  // same conditions. Wasm and WGSL (reference rows) run in the first round only.
  const rounds = opts.quick ? 1 : ROUNDS;
  const sizes = BENCH_SIZES;
  log(`model ${sizesKey(sizes)} (written once to the cache)`);
  const w: LlamaWorkload = cachedLlamaWorkload(llamaWorkloadDir(sizes), sizes, 1);
  const qm = quantizeModule(w.module, I8_GROUP32);
  // llama.cpp's Q8_0 rounds the activations to int8 blocks of 32 too: moec C runs the same arithmetic (W8A8).
  const qmA8 = quantizeModule(w.module, QUANT_SCHEMES.w8a8);
  const quantized = new Set(qm.weights.filter((x) => x.type.dtype === 'i8').map((x) => x.name));
  // Measured at the start and at the end, the better kept (as run.ts does): a shared machine drifts.
  const readGBps: Record<number, number> = {};
  const measureRead = (): void => {
    for (const t of THREADS) {
      const n = measureNativeLimits(t, 3);
      if (typeof n !== 'string') readGBps[t] = Math.max(readGBps[t] ?? 0, n.readGBps);
    }
  };
  measureRead();
  const bytes: Record<Precision, number> = { f32: decodeBytes(w.weights, sizes, 'f32', quantized), q8: decodeBytes(w.weights, sizes, 'q8', quantized) };
  const measured = new Map<string, LlamaRow[]>();
  const parity: ParityLine[] = [];
  const context = PREFILL_TOKENS + 8 + 80;
  let round = 0;
  const finish = (row: LlamaRow): void => {
    const key = `${row.impl}|${row.precision}|${row.threads}`;
    measured.set(key, [...(measured.get(key) ?? []), row]);
    log(`${rounds > 1 ? `round ${round + 1}/${rounds}: ` : ''}${row.impl} ${row.precision} ${row.threads}t: ${row.skipped ?? `prefill ${row.prefillTps?.toFixed(1)} tok/s, decode ${row.decodeTps?.toFixed(2)} tok/s`}`);
  };

  const loaded = new Map<string, { m: Module; weights: Record<string, Tensor> }>();
  const weightsOf = (precision: Precision, a8: boolean): { m: Module; weights: Record<string, Tensor> } => {
    if (precision === 'f32') return { m: w.module, weights: w.weights };
    const key = a8 ? 'w8a8' : 'i8g32';
    if (!loaded.has(key)) {
      const m = a8 ? qmA8 : qm;
      loaded.set(key, { m, weights: weightsFromSafetensors(m, openCheckpoint(w.ggufQ8), w.ggufQ8) });
    }
    return loaded.get(key)!;
  };
  const moecTargets: Array<{ impl: string; target: string; backend: 'c' | 'wasm' | 'wgsl'; skip?: string }> = [
    { impl: 'moec C x86-avx2', target: 'x86-avx2', backend: 'c', ...(cpuHas('avx2') ? {} : { skip: 'this CPU has no avx2' }) },
    { impl: 'moec C x86-avx512', target: 'x86-avx512', backend: 'c', ...(cpuHas('avx512f') ? {} : { skip: 'this CPU has no avx512f' }) },
    { impl: 'moec Wasm', target: 'wasm-simd128', backend: 'wasm' },
    { impl: 'moec WGSL', target: 'webgpu', backend: 'wgsl' },
  ];
  // llama.cpp: its generations (first round) are also the parity reference.
  const reference = new Map<Precision, Awaited<ReturnType<typeof generateLlama>>>();
  for (round = 0; round < rounds; round++) {
    for (const precision of ['f32', 'q8'] as const) {
      const gguf = precision === 'f32' ? w.ggufF32 : w.ggufQ8;
      for (const threads of THREADS) {
        const base = { impl: 'llama.cpp', precision, threads };
        const peer = await openLlamaPeer(gguf, { threads, contextSize: context, vocab: sizes.V, batchSize: PREFILL_TOKENS });
        if (isUnavailable(peer)) {
          finish({ ...base, skipped: peer.unavailable });
          continue;
        }
        try {
          if (threads === 1 && round === 0) reference.set(precision, await generateLlama(peer, PARITY_PROMPT, PARITY_STEPS));
          finish({ ...base, ...(await measure(async (ids) => void (await peer.evaluate(ids)), () => peer.reset(), plan)) });
        } catch (e) {
          finish({ ...base, skipped: `failed: ${describeError(e)}` });
        } finally {
          await peer.dispose();
        }
      }
      for (const t of moecTargets) {
        if (round > 0 && t.backend !== 'c') continue;
        const a8 = precision === 'q8' && t.backend === 'c';
        const { m, weights } = weightsOf(precision, a8);
        const scheme = precision === 'q8' ? { scheme: a8 ? 'w8a8' : 'i8g32' } : {};
        const threadCounts = t.backend === 'wgsl' ? [1] : THREADS;
        // C: one model, its thread count set per run (the runner's argument); Wasm: one model per
        // thread count (its threaded build); WGSL: the GPU's own parallelism, one row.
        let shared: Model | undefined;
        // Prefill and decode compute the logits of the last position only and end in the greedy
        // next token, as llama.cpp's evaluate does (passes/last-logits.ts; parity.ts greedyStep: the C
        // runner answers the argmax); parity, which compares every position, loads a full-logits model.
        let program: KProgram | undefined;
        const compiled = (lastLogits: boolean): KProgram => runPipeline(m, { target: loadTarget(t.target), maxTokens: PREFILL_TOKENS, maxContext: context, lastLogits }).program!;
        for (const threads of threadCounts) {
          const row = { impl: t.impl, precision, threads, ...scheme };
          if (t.skip) {
            finish({ ...row, skipped: t.skip });
            continue;
          }
          let model: Model;
          try {
            const target = loadTarget(t.target);
            program ??= compiled(true);
            model = shared ?? (await (await getBackend(t.backend)).load(program, target, weights, { threads }));
          } catch (e) {
            finish({ ...row, skipped: `cannot run this model yet: ${describeError(e)}` });
            continue;
          }
          if (t.backend === 'c') {
            shared = model;
            model.threads = threads;
          }
          try {
            const step = greedyStep(model, program);
            const want = reference.get(precision);
            if (t.impl === 'moec C x86-avx2' && threads === THREADS[0] && want && round === 0) {
              const full = await (await getBackend(t.backend)).load(compiled(false), loadTarget(t.target), weights, { threads });
              let a: ReturnType<typeof compareGenerations>;
              try {
                a = compareGenerations(await generateMoec(backendStep(full), PARITY_PROMPT, PARITY_STEPS, sizes.V), want, PARITY_PROMPT.length);
              } finally {
                full.dispose();
              }
              parity.push({ against: t.impl, precision, ...scheme, worst: a.worst, rows: a.perRow.length, tokensEqual: a.tokensEqual, ...(a.tokensEqual ? {} : { firstDiff: a.firstDiff, tieMargin: a.tieMargin }) });
              log(`parity ${precision}: ${a.worst.toExponential(1)} of the logits' scale over ${a.perRow.length} positions, tokens ${a.tokensEqual ? 'identical' : `part at step ${a.firstDiff} (top-two margin ${a.tieMargin?.toExponential(1)})`}`);
            }
            const timedStep = async (ids: number[], L: number): Promise<number | undefined> => {
              await step(ids, L);
              return model.lastForwardMs;
            };
            finish({ ...row, ...(await measure(timedStep, async () => model.reset?.(), plan)) });
          } catch (e) {
            finish({ ...row, skipped: `failed: ${describeError(e)}` });
          } finally {
            if (model !== shared) model.dispose();
          }
        }
        shared?.dispose();
      }
    }

  }

  const rows = [...measured.values()].map(combineRounds);
  for (const r of rows) if (r.decodeTps !== undefined) r.decodeGBps = (bytes[r.precision] * r.decodeTps) / 1e9;
  measureRead();
  for (const r of rows) if (r.decodeGBps !== undefined && readGBps[r.threads]) r.decodeFracRead = r.decodeGBps / readGBps[r.threads];
  const record: LlamaRecord = {
    version: 1,
    machine: { cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, date: new Date().toISOString(), loadBefore, loadAfter: loadavg()[0] },
    quick: opts.quick,
    sizes,
    prefillTokens: PREFILL_TOKENS,
    readGBps,
    decodeBytes: bytes,
    parity,
    rows,
    wallSeconds: (performance.now() - started) / 1e3,
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeOutputFile(LLAMA_RESULTS, JSON.stringify(record, null, 1) + '\n');
  log(`wrote ${relative(process.cwd(), LLAMA_RESULTS)}`);
  return record;
}

const USAGE = `usage: npx tsx bench/llama/bench.ts [--quick]

The llama.cpp section of npm run bench alone: moec (C, Wasm, WGSL) against llama.cpp on a
reduced Qwen3-MoE, F32 and Q8_0 (moec C: w8a8), 1 and 2 threads, prefill (T = ${PREFILL_TOKENS}) and decode tokens/s.
  --quick   one round, one prefill and 3 decode steps each (a smoke run)
Writes bench/results/llama.json and prints the table.`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) process.stdout.write(USAGE + '\n');
  else {
    const { formatLlamaTable } = await import('./readme-table.ts');
    process.stdout.write(formatLlamaTable(await runLlamaSection({ quick: values.quick === true })));
  }
}
