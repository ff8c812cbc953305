/**
 * The `last-logits` pass (compiler/passes/last-logits.ts): a decoder's logits output
 * linear(x, W) becomes that of the row `last_row` alone, and that one row is the last row of
 * the unrewritten model's logits, on a prefill and on a decode step after it, through the
 * kernel interpreter with its state (generate's reference) and through C; a model whose output
 * is not linear(x, W) is left as it was, and so is its compiled program.
 */
import { describe, expect, it } from 'vitest';
import { compileFile, randomWeights } from '../../compiler/driver.ts';
import { compileForCaps } from '../../compiler/driver-core.ts';
import { getBackend } from '../../compiler/backends/registry.ts';
import type { LoadedModel } from '../../compiler/backends/backend.ts';
import { loadReference } from '../../compiler/generate/ref-model.ts';
import { LAST_ROW, lastLogits, lastRowInputs, rewriteLastLogits } from '../../compiler/passes/last-logits.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { printIR } from '../../ir/graph/print.ts';
import { mainFunc } from '../../ir/graph/graph.ts';
import { SMALL } from '../small-sizes.ts';

/** A decoder without rope: dim T <= 16, vocab 40, output logits = linear(rmsnorm(h, norm), lm_head). */
const LM = 'test/fixtures/generate-lm.moe';
const PROMPT = [3, 17, 5, 29, 11, 8];

/** The logits of a prefill of PROMPT and of one decode step after it. */
async function twoSteps(model: LoadedModel, p: KProgram): Promise<Float32Array[]> {
  model.reset?.();
  const step = async (ids: number[], L: number): Promise<Float32Array> => {
    const out = await model.forward({ ids: { dtype: 'i32', shape: [ids.length], data: Int32Array.from(ids) }, ...lastRowInputs(p, ids.length) }, { T: ids.length, L });
    return Float32Array.from(out.logits.data);
  };
  return [await step(PROMPT, 0), await step([23], PROMPT.length)];
}

function lastRow(logits: Float32Array, V: number): Float32Array {
  return logits.subarray(logits.length - V);
}

describe('last-logits', () => {
  const m = compileFile(LM);
  const weights = randomWeights(m, 7);
  const V = 40;

  it('rewrites linear(x, W) into linear(gather(x, last_row, axis=0), W) with a last_row input', () => {
    const r = rewriteLastLogits(m);
    expect(r.rewrote).toBe(true);
    const main = mainFunc(r.module);
    expect(main.params.map((p) => `${p.name}: ${p.type.dtype}[${p.type.shape.join(', ')}]`)).toContain(`${LAST_ROW}: i32[1, 16]`);
    const logits = main.results.find((x) => x.name === 'logits')!.value;
    expect(logits.type.shape).toEqual([1, V]);
    const head = main.body.find((n) => n.outputs.includes(logits))!;
    expect(head.op).toBe('matmul');
    expect(main.body.find((n) => n.outputs.includes(head.inputs[0]))!.op).toBe('gather');
    // The input module is untouched, and the pass object runs the same rewrite.
    expect(mainFunc(m).params.some((p) => p.name === LAST_ROW)).toBe(false);
    expect(printIR(lastLogits.run(m, {}))).toBe(printIR(r.module));
  });

  // Wasm (and WGSL) gather along the token rows as C does: their bound is read at run time.
  for (const backend of ['ref', 'c', 'wasm'] as const) {
    it(`${backend}: the one row equals the last row of the full logits, on a prefill and a decode step`, async () => {
      const target = loadTarget(backend === 'wasm' ? 'wasm-simd128' : 'x86-avx2');
      const load = async (p: KProgram): Promise<LoadedModel> => (backend === 'ref' ? loadReference(p, weights) : (await getBackend(backend)).load(p, target, weights));
      const full = compileForCaps(m, { target, maxTokens: 8, maxContext: 16 }).program;
      const last = compileForCaps(m, { target, maxTokens: 8, maxContext: 16, lastLogits: true }).program;
      expect(full.inputs.some((i) => i.name === LAST_ROW)).toBe(false);
      expect(last.inputs.some((i) => i.name === LAST_ROW)).toBe(true);
      const [a, b] = [await load(full), await load(last)];
      try {
        const want = await twoSteps(a, full);
        const got = await twoSteps(b, last);
        expect(want[0].length).toBe(PROMPT.length * V);
        for (let s = 0; s < 2; s++) {
          expect(got[s].length).toBe(V);
          const w = lastRow(want[s], V);
          // The same dot products of the same row; C's and Wasm's one-row GEMMs may sum in another order.
          const tol = backend === 'ref' ? 0 : 1e-5 * Math.max(...Array.from(w, Math.abs));
          for (let j = 0; j < V; j++) expect(Math.abs(got[s][j] - w[j])).toBeLessThanOrEqual(tol);
        }
      } finally {
        a.dispose();
        b.dispose();
      }
    }, 120_000);
  }

  // The gathered axis is the token rows, of a size known only at run time: the bound is checked against it.
  it.each(['c', 'wasm'])('%s: a last_row past the call\'s tokens is E505, as the interpreter', async (name) => {
    const target = loadTarget(name === 'wasm' ? 'wasm-simd128' : 'x86-avx2');
    const p = compileForCaps(m, { target, maxTokens: 8, maxContext: 16, lastLogits: true }).program;
    const model = await (await getBackend(name)).load(p, target, weights);
    try {
      model.reset?.();
      const T = 4;
      const row = lastRowInputs(p, T + 1)[LAST_ROW];
      await expect(model.forward({ ids: { dtype: 'i32', shape: [T], data: Int32Array.from(PROMPT.slice(0, T)) }, [LAST_ROW]: row }, { T, L: 0 })).rejects.toThrow(/E505/);
    } finally {
      model.dispose();
    }
  }, 120_000);

  it('leaves a model whose output is not linear(x, W) alone, and says so', () => {
    const moe = compileFile('examples/mixtral.moe', { consts: SMALL['mixtral.moe'] });
    const r = rewriteLastLogits(moe);
    expect(r.rewrote).toBe(false);
    expect(r.why).toMatch(/not linear\(x, W\)/);
    expect(r.module).toBe(moe);
    const p = compileForCaps(moe, { target: loadTarget('x86-avx2'), maxTokens: 8, lastLogits: true }).program;
    expect(p.inputs.map((i) => i.name)).toEqual(mainFunc(moe).params.map((x) => x.name));
    expect(lastRowInputs(p, 4)).toEqual({});
  });

  it('leaves an already rewritten model alone (a second run changes nothing)', () => {
    const r = rewriteLastLogits(compileFile(LM));
    const again = rewriteLastLogits(r.module);
    expect(again.rewrote).toBe(false);
    expect(again.why).toMatch(/already has an input named last_row/);
  });
});
