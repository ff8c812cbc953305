/**
 * @fileoverview Compile time against the number of experts and layers: the DeepSeek-V3
 * example at real hidden sizes with E = 8 … 256 experts and 4 … 61 layers, through the whole
 * pipeline (parse, lower, verify, fuse, kernel IR, tile, plan) for x86-avx2. The design
 * says scale is symbolic: compile time should not grow with experts, and a 61-layer graph
 * should compile in well under a second. Then `moec analyze` of the whole DeepSeek-V3
 * config (imported, analysed and compiled for the target) on the three targets the issue
 * names; and `moec compile` of that whole model (attention and MLA included, the KV cache as
 * state of 4096 positions) through the C emitter, the issue's < 1 s for the real-size graph.
 * Run with `npm run bench:compile` (`--quick` for fewer cases). Medians of repeated
 * runs, each with a freshly loaded target sheet (the tiler memoizes its search per sheet, and
 * a CLI run starts with none); progress on a terminal only.
 */
import { readFileSync } from 'node:fs';
import { compile } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { analyzeModel } from '../compiler/analysis/analyze.ts';
import { renderC } from '../compiler/backends/c/render.ts';
import { importHfConfig } from '../compiler/import/index.ts';
import type { Step } from '../ir/kernel/kernel.ts';
import { formatTable } from '../compiler/format.ts';
import { Progress } from './progress.ts';
import { sample, summarize } from './stats.ts';

const quick = process.argv.includes('--quick');

function countKernels(steps: Step[]): number {
  return steps.reduce((n, s) => n + (s.kind === 'loop' ? countKernels(s.body) : 1), 0);
}
const text = readFileSync('examples/deepseek-v3.moe', 'utf8');
const experts = quick ? [8, 256] : [8, 32, 64, 256];
const layers = quick ? [4, 61] : [4, 16, 61];
const cases = experts.flatMap((e) => layers.map((l) => ({ e, l })));
const progress = new Progress(cases.length);
const rows: string[][] = [['experts', 'layers', 'median ms', 'min ms', 'samples', 'kernels', 'graph nodes']];
let worst = 0;
cases.forEach(({ e, l }, i) => {
  progress.update(i + 1, `E=${e} layers=${l}`);
  // DeepSeek's routing shape (8 groups, 4 kept, top-8) where the experts allow it.
  const consts = e >= 32 ? { E: e, GROUPS: 8, TOPK_GROUPS: 4, K: 8, LAYERS: l, DENSE_LAYERS: 3 } : { E: e, GROUPS: 2, TOPK_GROUPS: 1, K: 4, LAYERS: l, DENSE_LAYERS: 3 };
  let kernels = 0;
  let lines = 0;
  const t = sample(
    () => {
      const m = compile(text, { path: 'examples/deepseek-v3.moe', consts });
      const { program } = runPipeline(m, { target: loadTarget('x86-avx2'), maxTokens: 256 });
      kernels = countKernels(program!.steps);
      lines = m.funcs.reduce((n, f) => n + f.body.length, 0);
    },
    { minSamples: 5, minTimeMs: 500, maxTimeMs: quick ? 2000 : 5000, maxSamples: 50 },
  );
  worst = Math.max(worst, t.medianMs);
  rows.push([String(e), String(l), t.medianMs.toFixed(1), t.minMs.toFixed(1), String(t.samplesMs.length), String(kernels), String(lines)]);
});
progress.done();
console.log('compile time of examples/deepseek-v3.moe (D = 7168) through the whole pipeline for x86-avx2, max tokens 256');
console.log(formatTable(rows, { right: () => true }).join('\n'));
console.log(`slowest case: ${worst.toFixed(1)} ms (the graph keeps one body per repeated block: experts and layers are sizes, not code)`);

const config = 'examples/hf/DeepSeek-V3/config.json';
const json = readFileSync(config, 'utf8');
const analyzeRows: string[][] = [['target', 'median ms', 'min ms', 'samples', 'kernels']];
for (const name of ['webgpu', 'x86-avx2', 'npu-scratchpad']) {
  let kernels = 0;
  const t = sample(
    () => {
      const a = analyzeModel(importHfConfig(json, config).module, { target: loadTarget(name) });
      kernels = a.kernels!.kernels.length;
    },
    { minSamples: 5, minTimeMs: 500, maxTimeMs: quick ? 2000 : 5000, maxSamples: 50 },
  );
  analyzeRows.push([name, t.medianMs.toFixed(1), t.minMs.toFixed(1), String(t.samplesMs.length), String(kernels)]);
}
console.log(`\nmoec analyze ${config} (import, parameters, FLOPs, bytes, memory, compile and cost every kernel at T = 1), in process`);
console.log(formatTable(analyzeRows, { right: () => true }).join('\n'));

// The whole model, as `moec compile CONFIG --target T --max-context 4096 -o DIR` builds it in
// process (import, every pass, the C sources; not the file writes), not only its MoE stack.
// CPU time beside wall time: on a shared machine the wall clock also counts the neighbours.
const wholeRows: string[][] = [['target', 'median ms', 'min ms', 'median CPU ms', 'samples', 'kernels', 'C source']];
for (const name of ['x86-avx2', 'x86-avx512']) {
  let kernels = 0;
  let bytes = 0;
  const cpu: number[] = [];
  const t = sample(
    () => {
      const c0 = process.cpuUsage();
      const target = loadTarget(name);
      const { program } = runPipeline(importHfConfig(json, config).module, { target, maxTokens: 256, maxContext: 4096 });
      kernels = countKernels(program!.steps);
      bytes = renderC(program!, target).source.length;
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    },
    { minSamples: 5, minTimeMs: 500, maxTimeMs: quick ? 2000 : 5000, maxSamples: 50 },
  );
  // The first call is `sample`'s warm-up, as in the wall-time columns.
  const cpuMedian = summarize(cpu.slice(1), cpu[0]).medianMs;
  wholeRows.push([name, t.medianMs.toFixed(1), t.minMs.toFixed(1), cpuMedian.toFixed(1), String(t.samplesMs.length), String(kernels), `${(bytes / 1024).toFixed(0)} KiB`]);
}
console.log(`\nmoec compile ${config} --max-context 4096 --max-tokens 256 (the whole model: import, every pass, the emitted C), in process`);
console.log(formatTable(wholeRows, { right: () => true }).join('\n'));
