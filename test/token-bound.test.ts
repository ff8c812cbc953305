/**
 * @fileoverview Tests for the token bound as one fact: `resolveMaxTokens` is its one
 * default (the request, else the model's `T` bound, else 512 raised to the run's tokens),
 * the pipeline records it in the kernel program from lowering on, the compile API and the
 * backend run agree on it, and `checkTokenCount` is the one check with one message.
 */
import { describe, expect, it } from 'vitest';
import { MoecError } from '../ir/diagnostics.ts';
import { compileFile, compileModel, randomInputs, randomWeights, runOnBackend } from '../compiler/driver.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { DEFAULT_MAX_TOKENS, checkTokenCount, resolveMaxTokens } from '../ir/kernel/token-bound.ts';
import type { Module } from '../ir/graph/graph.ts';

/** tiny.moe without its `T <= 64`, so the default applies. */
function unbounded(): Module {
  const m = compileFile('examples/tiny.moe');
  return { ...m, dims: m.dims.map((d) => (d.name === 'T' ? { ...d, max: undefined } : d)) };
}

describe('resolveMaxTokens', () => {
  it('takes the request, else the declared bound, else the default raised to the run', () => {
    expect(resolveMaxTokens(64, 8)).toBe(8);
    expect(resolveMaxTokens(64, 256)).toBe(256); // the API may plan past the model's bound (the CLI refuses)
    expect(resolveMaxTokens(64)).toBe(64);
    expect(resolveMaxTokens(64, undefined, 1000)).toBe(64);
    expect(resolveMaxTokens(undefined)).toBe(DEFAULT_MAX_TOKENS);
    expect(resolveMaxTokens(undefined, undefined, 8)).toBe(DEFAULT_MAX_TOKENS);
    expect(resolveMaxTokens(undefined, undefined, 1000)).toBe(1000);
  });

  it('refuses a bound that is not a whole number of at least 1 (a bug in the caller)', () => {
    expect(() => resolveMaxTokens(64, 0)).toThrow('the token bound must be a whole number of at least 1, got 0');
    expect(() => resolveMaxTokens(64, 2.5)).toThrow(/got 2\.5/);
  });
});

describe('the bound in the kernel program', () => {
  it('is recorded by lowering, so every kernel pass and the final program carry the same one', () => {
    const dumps: Array<[string, string]> = [];
    const { program } = runPipeline(compileFile('examples/tiny.moe'), { target: loadTarget('x86-avx2'), printAfter: ['lower-kernels', 'tile'], onDump: (s, t) => dumps.push([s, t]) });
    expect(program!.maxTokens).toBe(64);
    // (the tiler adds the ISA it chose after the bound: `program tiny max_tokens 64 isa avx2`)
    for (const [step, text] of dumps) expect(text.split('\n')[1], step).toMatch(/^program tiny max_tokens 64( isa avx2)?$/);
  });

  it('is the same default for compileModel and for a backend run, and covers the run', async () => {
    const m = unbounded();
    expect(compileModel(m, { target: 'x86-avx2' }).program.maxTokens).toBe(DEFAULT_MAX_TOKENS);
    expect(compileModel(m, { target: 'x86-avx2', runTokens: 600 }).maxTokens).toBe(600);
    expect(compileModel(m, { target: 'x86-avx2', maxTokens: 32 }).program.maxTokens).toBe(32);
    // A wasm run past the default compiles for its own T (no error), and one past an explicit bound says so in the one message.
    const ok = await runOnBackend(m, { backend: 'wasm', tokens: 3 });
    expect(ok.outputs.y.shape[0]).toBe(3);
    await expect(runOnBackend(m, { backend: 'wasm', tokens: 9, maxTokens: 8 })).rejects.toThrow('E505: T = 9 is outside 1..8, the token counts the program was compiled for');
  });
});

describe('checkTokenCount', () => {
  it('accepts 1..maxTokens and refuses the rest with one message and hint (E505)', () => {
    expect(() => checkTokenCount(1, 8)).not.toThrow();
    expect(() => checkTokenCount(8, 8)).not.toThrow();
    for (const T of [0, 9, 2.5, -1, undefined]) {
      let e: unknown;
      try { checkTokenCount(T, 8); } catch (x) { e = x; }
      expect(e, String(T)).toBeInstanceOf(MoecError);
      const d = (e as MoecError).diagnostics[0];
      expect(d.code).toBe('E505');
      expect(d.message).toBe(`T = ${T} is outside 1..8, the token counts the program was compiled for`);
      expect(d.hint).toBe('compile with a larger --max-tokens');
    }
  });
});

describe('the kernel interpreter in arena mode', () => {
  it('refuses T over the bound with the same message, before touching the arena planned for it', () => {
    const m = compileFile('examples/tiny.moe');
    const { program } = compileModel(m, { target: 'x86-avx2', maxTokens: 8 });
    const inputs = randomInputs(m, { T: 9 }, 1);
    expect(() => interpretKernelIR(program, { bindings: { T: 9 }, inputs, weights: randomWeights(m, 1), arena: true })).toThrow('E505: T = 9 is outside 1..8, the token counts the program was compiled for');
    const ok = randomInputs(m, { T: 8 }, 1);
    expect(() => interpretKernelIR(program, { bindings: { T: 8 }, inputs: ok, weights: randomWeights(m, 1), arena: true })).not.toThrow();
  });
});
