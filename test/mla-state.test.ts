/**
 * The `mla_attention` kernel (ir/kernel/mla.ts): DeepSeek's absorbed form (W_UK folded into
 * the query, W_UV into the output, scores and values in the latent space) against the graph
 * interpreter's unabsorbed form (every key expanded through wkv_b), with the cache (latent
 * and rope key per position) as an input and as state; prefill then single-token steps
 * equal one prefill; the text form round-trips; the verifier checks its contract.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compile, randomInputs, randomWeights } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { interpret } from '../ir/graph/interp.ts';
import { decoderOpCost } from '../compiler/cost/attention.ts';
import { mlaFlops, mlaForm } from '../ir/kernel/mla.ts';
import { allocateState } from '../ir/kernel/attention.ts';
import type { KProgram } from '../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { parseKernelIR } from '../ir/kernel/kparse.ts';
import { printKernelIR } from '../ir/kernel/kprint.ts';
import { verifyKernelIR } from '../ir/kernel/kverify.ts';
import type { Tensor } from '../ir/tensor.ts';
import { expectAgreement } from './expect-agreement.ts';

const M = compile(readFileSync('test/fixtures/mla-stack.moe', 'utf8'), { path: 'test/fixtures/mla-stack.moe' });
const W = randomWeights(M, 5);

function program(maxContext?: number): KProgram {
  return runPipeline(M, { target: loadTarget('x86-avx2'), maxTokens: 16, ...(maxContext !== undefined ? { maxContext } : {}), verifyEach: true }).program!;
}

/** The new-token inputs of positions L..L+T-1 (seeded per position, so a prefill and the steps it replaces see the same tokens). */
function inputsAt(L: number, T: number, f64 = false): Record<string, Tensor> {
  const rows = Array.from({ length: T }, (_, t) => randomInputs(M, { T: 1, L: 1 }, 50 + L + t, f64));
  const out: Record<string, Tensor> = {};
  for (const name of ['q_nope', 'q_pe', 'kv', 'k_pe']) {
    const one = rows[0][name];
    const data = f64 ? new Float64Array(T * one.data.length) : new Float32Array(T * one.data.length);
    rows.forEach((r, t) => data.set(r[name].data, t * one.data.length));
    out[name] = { dtype: one.dtype, shape: [T, ...one.shape.slice(1)], data };
  }
  return out;
}

/** The first L positions of each stacked state cache, as the graph's cache inputs. */
function cacheInputs(state: Record<string, Tensor>, L: number): Record<string, Tensor> {
  return Object.fromEntries(
    Object.entries(state).map(([name, t]) => {
      const [layers, ctx, width] = t.shape;
      const data = new (t.data.constructor as Float32ArrayConstructor)(layers * L * width);
      for (let i = 0; i < layers; i++) data.set(t.data.subarray(i * ctx * width, (i * ctx + L) * width), i * L * width);
      return [name, { dtype: t.dtype, shape: [layers, L, width], data }];
    }),
  );
}

describe('the mla_attention kernel: the absorbed form, the latent cache as state', () => {
  it('lowers to its kernel; with a context bound the latent and rope caches become state of CTX positions', () => {
    const p = program(64);
    const text = printKernelIR(p);
    expect(text).toContain('buffer layers.kv_cache: f32[2, CTX, 16] state');
    expect(text).toContain('buffer layers.pe_cache: f32[2, CTX, 4] state');
    expect(text).toMatch(/mla_attention\(q_nope=layers\.x, .*wkv_b=layers\.layers\.wkv_b\) -> \(out=layers\.0\) \{scale=0\.3, past=L\} schedule\(key_tile=\d+, splits=\d+, head_block=4, form="cheaper"\)/);
    expect(p.inputs.map((i) => i.name)).toEqual(['q_nope', 'q_pe', 'kv', 'k_pe']);
    for (const q of [p, program()]) {
      const t = printKernelIR(q);
      expect(printKernelIR(parseKernelIR(t))).toBe(t);
      expect(verifyKernelIR(parseKernelIR(t))).toEqual([]);
    }
  });

  for (const f64 of [false, true])
    it(`the absorbed form equals the graph's unabsorbed one (${f64 ? 'f64, to 1e-12' : 'f32, to 1e-6'}), with the cache an input and as state`, () => {
      const tol = f64 ? 1e-12 : 1e-6;
      // Input caches: the kernel program against the graph at L = 5.
      const plain = program();
      const caches = Object.fromEntries(['layers.kv_cache', 'layers.pe_cache'].map((n, i) => [n, randomInputs(M, { T: 1, L: 5 }, 9 + i, f64)[n]]));
      const inputs = { ...inputsAt(0, 3, f64), ...caches };
      const want = interpret(M, { bindings: { T: 3, L: 5 }, inputs, weights: W, f64 }).y;
      expectAgreement(interpretKernelIR(plain, { bindings: { T: 3, L: 5 }, inputs, weights: W, f64 }).y, want, { maxRel: tol, relL2: tol });
      // State: prefill 7, then 3 more against the graph given the 7 cached positions.
      const p = program(64);
      const state = allocateState(p, { f64 });
      interpretKernelIR(p, { bindings: { T: 7, L: 0 }, inputs: inputsAt(0, 7, f64), weights: W, state, f64 });
      const got = interpretKernelIR(p, { bindings: { T: 3, L: 7 }, inputs: inputsAt(7, 3, f64), weights: W, state, f64 }).y;
      const graph = interpret(M, { bindings: { T: 3, L: 7 }, inputs: { ...inputsAt(7, 3, f64), ...cacheInputs(state, 7) }, weights: W, f64 }).y;
      expectAgreement(got, graph, { maxRel: tol, relL2: tol });
    });

  it('prefill 7 tokens then 8 single-token steps equals one prefill of 15', () => {
    const p = program(64);
    const once = interpretKernelIR(p, { bindings: { T: 15, L: 0 }, inputs: inputsAt(0, 15), weights: W, state: allocateState(p) }).y;
    const state = allocateState(p);
    const parts = [...interpretKernelIR(p, { bindings: { T: 7, L: 0 }, inputs: inputsAt(0, 7), weights: W, state }).y.data];
    for (let L = 7; L < 15; L++) parts.push(...interpretKernelIR(p, { bindings: { T: 1, L }, inputs: inputsAt(L, 1), weights: W, state }).y.data);
    expect(parts).toEqual(Array.from(once.data));
  });

  it('the verifier holds the kernel to its contract; a context overflow is E505', () => {
    const text = printKernelIR(program(64));
    const bad = (from: string | RegExp, to: string): string => verifyKernelIR(parseKernelIR(text.replace(from, to))).join('\n');
    expect(bad(/(pe_cache: f32\[(2, )?CTX, )4\]/g, '$13]')).toMatch(/the rope_dim of pe_cache layers\.layers\.pe_cache is 3, but 4 in q_pe/);
    expect(bad('buffer layers.kv_cache: f32[2, CTX, 16] state', 'buffer layers.kv_cache: f32[2, CTX, 16] temp')).toMatch(/kv_cache .* is temp but pe_cache .* is state/);
    expect(bad('head_block=4', 'head_block=3')).toMatch(/schedule headBlock = 3 does not divide the 4 heads/);
    expect(() => parseKernelIR(text.replace('form="cheaper"', 'form="fast"'))).toThrow(/'form' must be one of "absorbed", "naive", "cheaper"/);
    const p = program(8);
    const state = allocateState(p);
    interpretKernelIR(p, { bindings: { T: 6, L: 0 }, inputs: inputsAt(0, 6), weights: W, state });
    expect(() => interpretKernelIR(p, { bindings: { T: 3, L: 6 }, inputs: inputsAt(6, 3), weights: W, state })).toThrow(/E505: mla_attention: L = 6 cached positions and T = 3 new ones do not fit the cache of 8 positions/);
  });

  it('one decision of the form: mlaForm picks the form of fewer FLOPs (absorbed on a tie), and the cost model counts that form', () => {
    for (const sizes of [{ heads: 4, dn: 8, dr: 4, dv: 8, c: 16 }, { heads: 128, dn: 128, dr: 64, dv: 128, c: 512 }, { heads: 2, dn: 64, dr: 8, dv: 64, c: 32 }])
      for (const T of [1, 2, 7, 64, 300])
        for (const L of [0, 1, 15, 200, 4096]) {
          const f = mlaFlops(T, L, sizes);
          const form = mlaForm(T, L, sizes);
          expect(form, `T = ${T}, L = ${L}`).toBe(f.naive < f.absorbed ? 'naive' : 'absorbed');
          const op = { inputs: [[T, sizes.heads, sizes.dn], [T, sizes.heads, sizes.dr], [T, sizes.c], [T, sizes.dr], [L, sizes.c], [L, sizes.dr], [sizes.heads * (sizes.dn + sizes.dv), sizes.c]], outputs: [[T, sizes.heads, sizes.dv]], inputBytes: [4, 4, 4, 4, 4, 4, 4], outputBytes: [4] };
          expect(decoderOpCost('mla_attention', { ...op, attrs: {} })!.flops).toBe(Math.min(f.naive, f.absorbed));
          // a schedule that fixes the form is counted in it
          expect(decoderOpCost('mla_attention', { ...op, attrs: { form: 'absorbed' } })!.flops).toBe(f.absorbed);
        }
    // DeepSeek-V3: a decode step against a long cache is absorbed, a long prompt from an empty one naive
    const v3 = { heads: 128, dn: 128, dr: 64, dv: 128, c: 512 };
    expect([mlaForm(1, 4096, v3), mlaForm(256, 0, v3)]).toEqual(['absorbed', 'naive']);
  });
});
