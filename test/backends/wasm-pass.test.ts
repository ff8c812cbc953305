/**
 * One pass over an expert's weights serves all of its blocks: the Wasm tiler picks a small
 * padding block (m = 5 for mixtral-mini, sized for L1) and the kernels used to pass over an
 * expert's weights once per block, re-reading them ~13 times at T = 256. The tiler now records
 * `tile.pass` (rows of one expert per pass, whole blocks) and the kernel gathers consecutive
 * blocks of one expert into one row set. The output is bit-identical to a pass per block
 * (every row's arithmetic and the combine order are unchanged).
 */
import { describe, expect, it } from 'vitest';
import { loadWasm } from '../../compiler/backends/wasm/index.ts';
import { compileFile, compileModel, randomInputs, randomWeights } from '../../compiler/driver.ts';
import type { GroupedGemmKernel, KProgram, Step } from '../../ir/kernel/kernel.ts';
import { verifyKernelIR } from '../../ir/kernel/kverify.ts';

const grouped = (steps: readonly Step[]): GroupedGemmKernel[] => steps.flatMap((s) => (s.kind === 'loop' ? grouped(s.body) : s.kind === 'grouped_gemm' ? [s] : []));

function withPass(p: KProgram, pass: (k: GroupedGemmKernel) => number | undefined): KProgram {
  const map = (steps: readonly Step[]): Step[] => steps.map((s) => (s.kind === 'loop' ? { ...s, body: map(s.body) } : s.kind === 'grouped_gemm' ? { ...s, tile: { ...s.tile!, pass: pass(s) } } : s));
  return { ...p, steps: map(p.steps) };
}

describe('wasm grouped GEMM: one pass over an expert per up to tile.pass rows; tile.streams columns at once on the decode path', () => {
  it('the tiler records a pass of several whole blocks on wasm, bounded by T·K, and none on C', () => {
    const m = compileFile('examples/mixtral.moe', { consts: { D: 64, F: 96 } });
    const wasm = compileModel(m, { target: 'wasm-simd128', maxTokens: 256 }).program;
    for (const k of grouped(wasm.steps)) {
      expect(k.tile!.pass! % k.tile!.m).toBe(0);
      expect(k.tile!.pass!).toBeGreaterThanOrEqual(4 * k.tile!.m);
      // The decode path reads 8 weight columns (memory streams) at once, not the micro-tile's 2.
      if (k.transB) expect(k.tile!.streams).toBe(8);
    }
    const small = compileModel(m, { target: 'wasm-simd128', maxTokens: 4 }).program;
    for (const k of grouped(small.steps)) expect(k.tile!.pass!).toBeLessThanOrEqual(Math.max(k.tile!.m, 4 * k.k));
    const c = compileModel(m, { target: 'x86-avx2', maxTokens: 256 }).program;
    for (const k of grouped(c.steps)) expect(k.tile!.pass).toBeUndefined();
  });

  it('the verifier refuses a pass that is not whole blocks', () => {
    const m = compileFile('examples/tiny.moe');
    const p = compileModel(m, { target: 'wasm-simd128', maxTokens: 64 }).program;
    expect(verifyKernelIR(withPass(p, (k) => k.tile!.m * 3 + 1)).join('\n')).toMatch(/tile pass = \d+ is for a grouped GEMM, in whole padding blocks of m = \d+ rows/);
  });

  it('output is bit-identical to a pass per block, with experts spanning several passes', async () => {
    const m = compileFile('examples/mixtral.moe', { consts: { D: 32, F: 48 } });
    const { program, target } = compileModel(m, { target: 'wasm-simd128', maxTokens: 300 });
    const weights = randomWeights(m, 3);
    const perBlock = await loadWasm(withPass(program, (k) => k.tile!.m), target, weights);
    const passed = await loadWasm(program, target, weights);
    for (const T of [40, 300]) {
      const inputs = randomInputs(m, { T }, 3);
      const a = (await perBlock.forward(inputs, { T })).y.data as Float32Array;
      const b = (await passed.forward(inputs, { T })).y.data as Float32Array;
      expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength)), `T=${T}`).toBe(true);
    }
  });
});
