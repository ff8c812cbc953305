/**
 * @fileoverview How fast `moec pack` lays out weights: the Mixtral block at D=1024, F=2048
 * (50M expert parameters, 50 MB as i8) for x86-avx2, f32 and each quantized scheme, timing
 * the backend's `packWeights` alone (quantizing the seeded f32 weights and laying out the
 * panels; not generating them or compiling). MB/s of the blob written and of the f32 weights
 * read. Run with `npx tsx bench/pack-throughput.ts` (`--quick` for D=512, F=1024; `--reps=N`
 * for the best of N). The bar: quantized packing at >= 100 MB/s of blob (it was ~5
 * MB/s of i8 output, 4 s of 10 in GC). `cpu s` is the process's CPU time for the pack: on a
 * machine shared with other work the wall time swings by 2-3x, the CPU time much less.
 */
import { compileFile, quantScheme, randomWeights } from '../compiler/driver.ts';
import { getBackend } from '../compiler/backends/registry.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { formatTable } from '../compiler/format.ts';

const quick = process.argv.includes('--quick');
const consts = quick ? { D: 512, F: 1024 } : { D: 1024, F: 2048 };
const target = loadTarget('x86-avx2');
const backend = await getBackend(target.backend);
const rows: string[][] = [['weights', 'blob MB', 'f32 MB read', 'pack s', 'cpu s', 'blob MB/s', 'f32 MB/s']];
const reps = Number(process.argv.find((a) => a.startsWith('--reps='))?.slice(7) ?? 1);
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
for (const scheme of [undefined, 'i8', 'i4', 'fp8e4m3'].filter((s) => only === undefined || (s ?? 'f32') === only)) {
  const m = compileFile('examples/mixtral.moe', { consts });
  const { program } = runPipeline(m, { target, quantize: scheme === undefined ? undefined : quantScheme(scheme) });
  const weights = randomWeights(m, 0);
  const f32Bytes = Object.values(weights).reduce((n, t) => n + t.data.length * 4, 0);
  let s = Infinity;
  let cpu = Infinity;
  let bytes = 0;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const { blob } = backend.packWeights!(program!, target, weights);
    const c = process.cpuUsage(c0);
    s = Math.min(s, (performance.now() - t0) / 1000);
    cpu = Math.min(cpu, (c.user + c.system) / 1e6);
    bytes = blob.byteLength;
  }
  const mb = (b: number): string => (b / 1e6).toFixed(1);
  rows.push([scheme ?? 'f32', mb(bytes), mb(f32Bytes), s.toFixed(2), cpu.toFixed(2), (bytes / 1e6 / s).toFixed(0), (f32Bytes / 1e6 / s).toFixed(0)]);
}
console.log(formatTable(rows).join("\n"));
