/**
 * Run in a child `node` by the relaxed SIMD and thread tests, so that the engine's flags
 * (`--experimental-wasm-relaxed-simd` on Node 20) are the child's: loads every example (test
 * sizes) with the wasm backend's defaults (relaxed SIMD where this engine offers it), runs
 * T = 1, 7 and 300 against the kernel IR's interpreter and prints one JSON line: whether the
 * modules used relaxed SIMD, the worst relative |Δ| over all outputs, and any NaN/Inf mismatch.
 */
import { loadWasm } from '../../compiler/backends/wasm/index.ts';
import { compileFile, compileModel, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { agreement } from '../../compiler/compare.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import { SMALL } from '../small-sizes.ts';

const relaxed: boolean[] = [];
let maxRel = 0;
let mismatches = 0;
for (const file of Object.keys(SMALL)) {
  const m = compileFile(`examples/${file}`, { consts: SMALL[file] });
  const tokens = file === 'tiny.moe' ? [1, 7, 64] : [1, 7, 300];
  const { program, target } = compileModel(m, { target: 'wasm-simd128', maxTokens: Math.max(...tokens) });
  const weights = randomWeights(m, 11);
  const loaded = await loadWasm(program, target, weights);
  relaxed.push(loaded.built.manifest.relaxedSimd === true && loaded.built.text.includes('f32x4.relaxed_madd'));
  for (const T of tokens) {
    const inputs = randomInputs(m, { T }, 11);
    const want = interpretKernelIR(program, { bindings: { T }, inputs, weights });
    const got = await loaded.forward(inputs, { T });
    for (const o of program.outputs) {
      const a = agreement(got[o.name], want[o.name]);
      maxRel = Math.max(maxRel, a.maxRel);
      mismatches += a.nanMismatch + a.infMismatch;
    }
  }
}
process.stdout.write(`${JSON.stringify({ relaxed, maxRel, mismatches })}\n`);
