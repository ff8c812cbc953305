/**
 * @fileoverview How fast `moec pack` lays out weights: the Mixtral block at D=1024, F=2048
 * (50M expert parameters, 50 MB as i8) for x86-avx2, f32 and each quantized scheme, timing
 * the backend's `packWeights` alone (quantizing the seeded f32 weights and laying out the
 * panels; not generating them or compiling), each quantized scheme with the Wasm SIMD
 * quantizer (what `moec pack` uses) and with the JS loops it replaced. The rate is given
 * both ways the issue can be read: MB of the blob written per second and MB of the f32
 * weights read per second, from the median wall time of a few runs; and the blob MB per
 * second of the process's CPU time, which swings far less on a machine shared with other
 * work (wall times there vary 2-3x). The bar: >= 100 MB/s for quantized packing (it
 * was ~5 MB/s of i8 output, 4 s of 10 in GC; then 62 with the JS row quantizer).
 *
 * A section of `npm run bench` (bench/run.ts), and a script of its own:
 *   npx tsx bench/pack-throughput.ts [--quick] [--runs=N] [--only=i8] [--engine=wasm|js]
 * (`--quick`: D=512, F=1024 and 3 runs; default 5 runs, both engines.)
 */
import { fileURLToPath } from 'node:url';
import { compileFile, quantScheme, randomWeights } from '../compiler/driver.ts';
import { getBackend } from '../compiler/backends/registry.ts';
import { setQuantEngine } from '../compiler/backends/quant-simd.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { formatTable } from '../compiler/format.ts';
import { quantile } from './stats.ts';

const median = (xs: readonly number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);

/** One scheme packed by one quantizer engine. */
export interface PackResult {
  weights: 'f32' | 'i8' | 'i4' | 'fp8e4m3';
  /** The quantizer: `wasm` (`moec pack`'s) or `js` (the reference loops); none for f32. */
  engine?: 'wasm' | 'js';
  blobBytes: number;
  f32Bytes: number;
  /** Wall seconds of each run, and the process CPU seconds of each. */
  seconds: number[];
  cpuSeconds: number[];
  /** MB/s of the blob written, and of the f32 weights read, at the median wall time; blob MB per median CPU second. */
  blobMBps: number;
  f32MBps: number;
  cpuBlobMBps: number;
}

export interface PackSection {
  model: string;
  target: string;
  consts: Record<string, number>;
  runs: number;
  results: PackResult[];
}

const SCHEMES = ['f32', 'i8', 'i4', 'fp8e4m3'] as const;

/** Packs the Mixtral block's seeded weights `runs` times per scheme and engine. */
export async function measurePacking(opts: { quick: boolean; runs: number; only?: string; engines?: Array<'wasm' | 'js'> }): Promise<PackSection> {
  const consts = opts.quick ? { D: 512, F: 1024 } : { D: 1024, F: 2048 };
  const model = 'examples/mixtral.moe';
  const target = loadTarget('x86-avx2');
  const backend = await getBackend(target.backend);
  const m = compileFile(fileURLToPath(new URL(`../${model}`, import.meta.url)), { consts });
  const weights = randomWeights(m, 0);
  const f32Bytes = Object.values(weights).reduce((n, t) => n + t.data.length * 4, 0);
  const results: PackResult[] = [];
  for (const scheme of SCHEMES.filter((s) => opts.only === undefined || s === opts.only)) {
    const { program } = runPipeline(m, { target, quantize: scheme === 'f32' ? undefined : quantScheme(scheme) });
    for (const engine of scheme === 'f32' ? [undefined] : (opts.engines ?? ['wasm', 'js'])) {
      const old = setQuantEngine(engine ?? 'auto');
      const seconds: number[] = [];
      const cpuSeconds: number[] = [];
      let blobBytes = 0;
      try {
        for (let r = 0; r < opts.runs; r++) {
          const t0 = performance.now();
          const c0 = process.cpuUsage();
          blobBytes = backend.packWeights!(program!, target, weights).blob.byteLength;
          const c = process.cpuUsage(c0);
          seconds.push((performance.now() - t0) / 1e3);
          cpuSeconds.push((c.user + c.system) / 1e6);
        }
      } finally {
        setQuantEngine(old);
      }
      const s = median(seconds);
      results.push({ weights: scheme, ...(engine ? { engine } : {}), blobBytes, f32Bytes, seconds, cpuSeconds, blobMBps: blobBytes / 1e6 / s, f32MBps: f32Bytes / 1e6 / s, cpuBlobMBps: blobBytes / 1e6 / median(cpuSeconds) });
    }
  }
  return { model, target: target.name, consts, runs: opts.runs, results };
}

/** The section as a table (the benchmark's report and the script print it). */
export function packTable(p: PackSection): string[] {
  const mb = (b: number): string => (b / 1e6).toFixed(1);
  const rows = p.results.map((r) => [r.weights, r.engine ?? '', mb(r.blobBytes), mb(r.f32Bytes), median(r.seconds).toFixed(3), r.blobMBps.toFixed(0), r.f32MBps.toFixed(0), median(r.cpuSeconds).toFixed(3), r.cpuBlobMBps.toFixed(0)]);
  return formatTable([['weights', 'quantizer', 'blob MB', 'f32 MB', 'median s', 'blob MB/s', 'f32 MB/s', 'cpu s', 'blob MB/cpu-s'], ...rows], { right: (i) => i >= 2, rule: true });
}

/** The section's heading line. */
export function packHeading(p: PackSection): string {
  const dims = Object.entries(p.consts).map(([k, v]) => `${k}=${v}`).join(' ');
  return `packing weights: packWeights alone (seeded f32 weights to the blob), ${p.model} ${dims} for ${p.target}, median of ${p.runs} runs; MB/s of the blob written and of the f32 read, and blob MB per CPU second:`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const quick = process.argv.includes('--quick');
  const engine = arg('engine');
  if (engine !== undefined && engine !== 'wasm' && engine !== 'js') throw new Error(`--engine=${engine}: wasm or js`);
  const p = await measurePacking({ quick, runs: Number(arg('runs') ?? (quick ? 3 : 5)), only: arg('only'), ...(engine ? { engines: [engine] } : {}) });
  console.log([packHeading(p), ...packTable(p)].join('\n'));
}
