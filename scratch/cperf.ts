import { loadC } from '../compiler/backends/c/index.ts';
import { compileFile, randomInputs, randomWeights } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target-load.ts';
const [file, sets, threads] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 2)];
const consts = Object.fromEntries(sets.split(',').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
const m = compileFile(file, { consts });
const target = loadTarget('x86-avx2');
const p = runPipeline(m, { target, maxTokens: 256 }).program!;
const model = loadC(p, target, randomWeights(m, 0));
model.threads = threads;
for (const T of [1, 32, 256]) {
  const r = model.run(randomInputs(m, { T }, 0), T, 20);
  const t = r.times.slice(2).sort((a, b) => a - b);
  console.log(`T=${T}: median ${t[t.length >> 1].toFixed(3)} ms  min ${t[0].toFixed(3)}`);
}
model.dispose();
