/**
 * Numerics of routing, end to end through both reference interpreters (the graph
 * interpreter, and the kernel interpreter on the program compiled for a target, where the
 * router is one fused kernel): softmax stays finite for router logits of magnitude 1e4; a
 * NaN in a token's input makes that token's output NaN (top-k does not hide it) and leaves
 * the other tokens exactly as they were; tied scores pick the lower expert index.
 *
 * What NaN does in top-k (the rule every backend must follow, see `better` in
 * ir/graph/interp-kernels.ts): NaN ranks above every number, and NaNs among themselves keep index
 * order, so a token whose router scores are all NaN deterministically selects experts
 * 0..K-1 with NaN weights, and its output is NaN.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compile, compileModel, randomInputs, randomWeights } from '../compiler/driver.ts';
import { interpret } from '../ir/graph/interp.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import type { Tensor } from '../ir/tensor.ts';
import { SMALL } from './small-sizes.ts';

const TINY = compile(readFileSync('examples/tiny.moe', 'utf8'), { path: 'examples/tiny.moe' });
const [D, F, E] = [8, 16, 4];
const T = 5;
const TARGETS = ['x86-avx2', 'webgpu', 'npu-scratchpad'];

type Runner = { name: string; run: (inputs: Record<string, Tensor>, weights: Record<string, Tensor>) => Float32Array | Float64Array };

/** The graph interpreter and the kernel interpreter on the program compiled for each target. */
const RUNNERS: Runner[] = [
  { name: 'graph interpreter', run: (inputs, weights) => interpret(TINY, { bindings: { T }, inputs, weights }).y.data as Float32Array },
  ...TARGETS.map((target) => {
    const { program } = compileModel(TINY, { target, maxTokens: 16 });
    return { name: `kernel interpreter (${target})`, run: (inputs: Record<string, Tensor>, weights: Record<string, Tensor>) => interpretKernelIR(program, { bindings: { T }, inputs, weights }).y.data as Float32Array };
  }),
];

const weights0 = randomWeights(TINY, 7);
const inputs0 = randomInputs(TINY, { T }, 7);

function withData(t: Tensor, f: (v: number, i: number) => number): Tensor {
  return { ...t, data: Float32Array.from(t.data, f) };
}

/** One expert's SwiGLU MLP on one token, in float64: w_down[e] (silu(w_gate[e] x) * (w_up[e] x)). */
function expert(w: Record<string, Tensor>, e: number, x: ArrayLike<number>): number[] {
  const h = Array.from({ length: F }, (_, f) => {
    let g = 0;
    let u = 0;
    for (let d = 0; d < D; d++) {
      g += w.w_gate.data[(e * F + f) * D + d] * x[d];
      u += w.w_up.data[(e * F + f) * D + d] * x[d];
    }
    return (g / (1 + Math.exp(-g))) * u;
  });
  return Array.from({ length: D }, (_, d) => h.reduce((s, hf, f) => s + w.w_down.data[(e * D + d) * F + f] * hf, 0));
}

describe('routing numerics in the reference interpreters', () => {
  for (const r of RUNNERS) {
    it(`${r.name}: router logits of magnitude 1e4 give finite outputs, the same as logits scaled down to where softmax saturates anyway`, () => {
      // |x| <= 1 and a router row of ±1e4/D·sign: logits reach ~1e4, so exp() without the max
      // subtracted would overflow to Infinity and give NaN.
      const x = withData(inputs0.x, (v) => Math.sign(v) || 1);
      const huge = withData(weights0.router, (_, i) => (i % D < 4 ? 1 : -1) * (i < D ? 1e4 : 5e3) / D);
      const y = r.run({ x }, { ...weights0, router: huge });
      expect(y.every(Number.isFinite)).toBe(true);
      // At this scale the softmax is one-hot on the best expert and exactly 0 elsewhere, so
      // logits 100 times smaller (still saturated in float32) route the same way.
      const smaller = withData(huge, (v) => v / 100);
      const y2 = r.run({ x }, { ...weights0, router: smaller });
      for (let i = 0; i < y.length; i++) expect(y[i]).toBeCloseTo(y2[i], 5);
    });

    it(`${r.name}: a NaN in one token's input makes that token's output NaN and leaves the others unchanged`, () => {
      const clean = r.run(inputs0, weights0);
      const x = withData(inputs0.x, (v, i) => (i === 2 * D + 3 ? NaN : v)); // token 2
      const y = r.run({ x }, weights0);
      for (let t = 0; t < T; t++)
        for (let d = 0; d < D; d++) {
          if (t === 2) expect(y[t * D + d], `token 2, element ${d}`).toBeNaN();
          else expect(y[t * D + d], `token ${t}, element ${d}`).toBe(clean[t * D + d]);
        }
    });

    it(`${r.name}: NaN router weights for one expert make every output NaN (no token can route around it)`, () => {
      const router = withData(weights0.router, (v, i) => (i === 3 * D ? NaN : v)); // expert 3's logit is NaN for all tokens
      const y = r.run(inputs0, { ...weights0, router });
      expect(y.every(Number.isNaN)).toBe(true);
    });

    it(`${r.name}: tied router scores pick the lower expert indices (0 and 1), each with weight 1/2`, () => {
      const router = withData(weights0.router, () => 0);
      const y = r.run(inputs0, { ...weights0, router });
      for (let t = 0; t < T; t++) {
        const xt = inputs0.x.data.subarray(t * D, (t + 1) * D);
        const [e0, e1] = [expert(weights0, 0, xt), expert(weights0, 1, xt)];
        for (let d = 0; d < D; d++) expect(y[t * D + d]).toBeCloseTo(0.5 * e0[d] + 0.5 * e1[d], 5);
      }
    });
  }
});

describe('top-k does not hide a NaN score (models that select before any softmax)', () => {
  // gpt-oss selects on raw logits (top-k, then softmax over the chosen); DeepSeek-V3 on
  // sigmoid scores, group-limited. One expert's score NaN for every token: if top-k skipped
  // NaN, every token would route around that expert and the output would look fine.
  const cases = [
    { file: 'gpt-oss.moe', weight: 'router_bias', at: 7 }, // the last expert: not among the first K either
    { file: 'deepseek-v3.moe', weight: 'moe.router', at: 13 * SMALL['deepseek-v3.moe'].D }, // expert 13, in the last group
  ];
  for (const c of cases) {
    const m = compile(readFileSync(`examples/${c.file}`, 'utf8'), { path: c.file, consts: SMALL[c.file] });
    const w = randomWeights(m, 3);
    const weights = { ...w, [c.weight]: withData(w[c.weight], (v, i) => (i === c.at ? NaN : v)) };
    const inputs = randomInputs(m, { T }, 3);
    const { program } = compileModel(m, { target: 'x86-avx2', maxTokens: 16 });
    it(`${c.file}: graph and kernel interpreters both give NaN for every token`, () => {
      const g = interpret(m, { bindings: { T }, inputs, weights }).y.data;
      const k = interpretKernelIR(program, { bindings: { T }, inputs, weights }).y.data;
      expect(Array.from(g).every(Number.isNaN)).toBe(true);
      expect(Array.from(k).every(Number.isNaN)).toBe(true);
      // Without the NaN the same run is finite (the NaN, not the model, makes it NaN).
      expect(Array.from(interpret(m, { bindings: { T }, inputs, weights: w }).y.data).every(Number.isFinite)).toBe(true);
    });
  }
});
