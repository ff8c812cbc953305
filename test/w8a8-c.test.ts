// W8A8 on the C backend (issue 16's speed work): GEMMs whose i8 weights say act=q8 round their
// activations to int8 blocks of 32 (ir/quant.ts) and multiply int16 codes (targets/c/a8.c.hbs).
// Checked against the quantized reference interpreter, which rounds the same activations:
// both sides hold the same codes, the integer sums are exact, so only f32 roundings differ
// (and, rarely, an activation on a rounding boundary whose f32 input differs in its last bit
// lands one code apart: a step of 1/127 of its block's largest value). Every path: the sorted
// grouped GEMM (T >= its threshold), the one-row decode path, dense GEMMs with several tiles
// and with one, both x86 sheets, 1 and 2 threads.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { agreement } from '../compiler/compare.ts';
import { getBackend } from '../compiler/backends/registry.ts';
import { compile, compileFile, compileForCaps, quantizeModule, randomInputs, randomWeights, run, runOnBackend } from '../compiler/driver.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { QUANT_SCHEMES } from '../ir/quant.ts';

const MODELS: Array<[string, Record<string, number>]> = [
  ['examples/mixtral.moe', { D: 64, F: 96 }],
  ['examples/qwen-moe.moe', { D: 64, F: 32, FS: 96, E: 12, K: 4 }],
  ['examples/deepseek-v3.moe', { D: 64, F_DENSE: 128, F: 32, E: 16, K: 4, GROUPS: 4, TOPK_GROUPS: 2, DENSE_LAYERS: 1, LAYERS: 3 }],
];

describe('W8A8 GEMMs on the C backend against the reference interpreter', () => {
  for (const [file, consts] of MODELS)
    for (const target of ['x86-avx2', 'x86-avx512'])
      for (const tokens of [1, 40])
        it(`${file} on ${target}, T = ${tokens}`, async () => {
          const m = compileFile(file, { consts });
          for (const threads of [1, 2]) {
            const r = await runOnBackend(m, { backend: 'c', target, tokens, maxTokens: 64, check: true, quantize: 'w8a8', seed: 3, threads });
            for (const [name, a] of Object.entries(r.agreement!)) {
              expect(a.relL2, `${name} relL2, ${threads} thread(s)`).toBeLessThan(2e-4);
              expect(a.maxRel, `${name} max, ${threads} thread(s)`).toBeLessThan(1e-2);
            }
            // C really rounds: against the reference of the same weights without act=q8 (i8g32) it is further off
            if (threads === 1) {
              const plain = await runOnBackend(m, { backend: 'c', target, tokens, maxTokens: 64, check: true, quantize: 'i8g32', seed: 3 });
              for (const [name, ref] of Object.entries(plain.reference!)) expect(agreement(r.outputs[name], ref).relL2, `${name}: w8a8 on C vs i8g32`).toBeGreaterThan(3 * r.agreement![name].relL2);
            }
          }
        });
});

describe('a router declared act=q8 on C', () => {
  it('rounds the token rows its logits (and the selection they make) read, as the reference does', async () => {
    const src = readFileSync('examples/tiny.moe', 'utf8').replace('weight router: f32[E, D]', 'weight router: i8(group=32, act=q8)[E, D]');
    const m = compile(src, { path: 'tiny.moe', consts: { D: 32, F: 32 } });
    for (const target of ['x86-avx2', 'x86-avx512']) {
      const r = await runOnBackend(m, { backend: 'c', target, tokens: 7, maxTokens: 16, check: true, seed: 7 });
      expect(r.agreement!.y.relL2, target).toBeLessThan(1e-5);
    }
  });
});

describe('W8A8 on C with a NaN and an infinity in the activations', () => {
  it('makes the rows they reach NaN where the reference does, and agrees elsewhere', async () => {
    const m = quantizeModule(compileFile('examples/mixtral.moe', { consts: { D: 64, F: 96 } }), QUANT_SCHEMES.w8a8);
    const weights = randomWeights(m, 1);
    const T = 8;
    const inputs = randomInputs(m, { T }, 1);
    inputs.x.data[3] = NaN; // token 0
    inputs.x.data[5 * 64 + 40] = Infinity; // token 5
    const want = run(m, { tokens: T, weights, inputs }).outputs.y;
    for (const target of ['x86-avx2', 'x86-avx512']) {
      const { program } = compileForCaps(m, { target: loadTarget(target), maxTokens: 16 });
      const model = await (await getBackend('c')).load(program, loadTarget(target), weights);
      try {
        const got = (await model.forward(inputs, { T })).y;
        const a = agreement(got, want);
        expect(a.nanMismatch, target).toBe(0);
        expect(a.infMismatch, target).toBe(0);
        expect(Number.isNaN(got.data[0]) && Number.isNaN(got.data[5 * 64]), target).toBe(true);
        expect(a.relL2, target).toBeLessThan(2e-4);
      } finally {
        model.dispose();
      }
    }
  });
});

describe('a W8A8 dense GEMM on C with a NaN and an infinity in its rows', () => {
  it('makes exactly the rows they are in NaN, as the reference (several row tiles, and one)', async () => {
    const src = `dim T <= 64\nmodel dense {\n  input x: f32[T, 64]\n  weight w: i8(group=32, act=q8)[48, 64]\n  output y = linear(x, w)\n}\n`;
    const m = compile(src, { path: 'dense.moe' });
    const weights = randomWeights(m, 2);
    for (const T of [1, 24]) {
      const inputs = randomInputs(m, { T }, 2);
      inputs.x.data[T === 1 ? 5 : 64 + 5] = Infinity; // row 0 or 1
      if (T > 1) inputs.x.data[7 * 64 + 33] = NaN; // row 7
      const want = run(m, { tokens: T, weights, inputs }).outputs.y;
      for (const target of ['x86-avx2', 'x86-avx512']) {
        const { program } = compileForCaps(m, { target: loadTarget(target), maxTokens: 64 });
        const model = await (await getBackend('c')).load(program, loadTarget(target), weights);
        try {
          const got = (await model.forward(inputs, { T })).y;
          const a = agreement(got, want);
          expect(a.nanMismatch + a.infMismatch, `${target} T=${T}`).toBe(0);
          expect(a.relL2, `${target} T=${T}`).toBeLessThan(2e-4);
          expect(Number.isNaN(got.data[(T === 1 ? 0 : 1) * 48]), `${target} T=${T}`).toBe(true);
        } finally {
          model.dispose();
        }
      }
    }
  });
});
