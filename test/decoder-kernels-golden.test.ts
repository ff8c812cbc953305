/**
 * Golden snapshots of the kernels issue 16 added, one small program per backend: an
 * embedding lookup, rmsnorm, a fused elementwise chain (sigmoid gate, broadcast multiply,
 * tanh GELU) and a YaRN rope with interleaved pairs and a partial rotary dim. Emitted code
 * is reviewed like code; the numbers are held to the interpreter in op-coverage.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderC } from '../compiler/backends/c/render.ts';
import { emitWasm } from '../compiler/backends/wasm/index.ts';
import { kernelFile } from '../compiler/backends/wgsl/index.ts';
import { planWgsl } from '../compiler/backends/wgsl/plan.ts';
import { compileModel } from '../compiler/driver.ts';
import { parseIR } from '../ir/graph/parse.ts';

const M = parseIR(readFileSync('test/fixtures/decoder-kernels.ir', 'utf8'), 'test/fixtures/decoder-kernels.ir');

describe('decoder and elementwise kernels: golden files', () => {
  it('C (x86-avx2)', async () => {
    const { program, target } = compileModel(M, { target: 'x86-avx2' });
    await expect(renderC(program, target).source).toMatchFileSnapshot('golden/c/decoder-kernels.c');
  });

  it('Wasm (wasm-simd128)', async () => {
    const { program, target } = compileModel(M, { target: 'wasm-simd128' });
    await expect(emitWasm(program, target)['model.wat']).toMatchFileSnapshot('golden/wasm/decoder-kernels.wasm-simd128.wat');
  });

  it('WGSL (webgpu)', async () => {
    const { program, target } = compileModel(M, { target: 'webgpu' });
    const plan = planWgsl(program, target);
    const wgsl = plan.kernels.map((k, i) => `// ==== ${kernelFile(plan, i)} ====\n${k.shader.code}`).join('\n');
    await expect(wgsl).toMatchFileSnapshot('golden/wgsl/decoder-kernels.wgsl');
  });
});
