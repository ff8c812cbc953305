/**
 * Quantization defaults: `--quantize` and `moec quantize` keep the router in f32 unless
 * `--quantize-router` asks (its scores choose the experts: quantized, whole expert outputs
 * change for a matrix a fraction of a percent of the weights); and `--check` on a checkpoint
 * that is already quantized says what its error line compares instead of a bare 0.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agreement } from '../compiler/compare.ts';
import { compileFile, quantizeModule, randomWeights, run } from '../compiler/driver.ts';
import { writeSafetensors } from '../compiler/io/write-safetensors.ts';
import { QUANT_SCHEMES } from '../ir/quant.ts';
import { readSafetensors } from '../ir/safetensors.ts';
import { cli } from './capture.ts';
import { SMALL } from './small-sizes.ts';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'moec-qrouter-'));

describe('the router stays f32 unless --quantize-router', () => {
  it('--quantize keeps every example\'s router f32 and quantizes the experts; with router: true it quantizes the router too', () => {
    const routers: Record<string, string> = { 'mixtral.moe': 'router', 'deepseek-v3.moe': 'moe.router', 'gpt-oss.moe': 'router', 'qwen-moe.moe': 'router', 'switch.moe': 'router', 'tiny.moe': 'router' };
    for (const [file, router] of Object.entries(routers)) {
      const m = compileFile(`examples/${file}`, { consts: SMALL[file] });
      const q = quantizeModule(m, 'i8');
      const weight = (mod: typeof m, name: string) => mod.weights.find((w) => w.name === name)!.type;
      expect(weight(q, router).quant, file).toBeUndefined();
      expect(q.weights.some((w) => w.type.quant !== undefined), file).toBe(true);
      const all = quantizeModule(m, { ...QUANT_SCHEMES.i8, router: true });
      expect(weight(all, router).quant, file).toBeDefined();
    }
  });

  it('i4 with an f32 router is closer to f32 than with an i4 router (the reason for the default)', () => {
    const m = compileFile('examples/mixtral.moe', { consts: SMALL['mixtral.moe'] });
    const weights = randomWeights(m, 0);
    const f32 = run(m, { tokens: 32, seed: 0, weights }).outputs.y;
    const err = (scheme: Parameters<typeof quantizeModule>[1]) => agreement(run(quantizeModule(m, scheme), { tokens: 32, seed: 0, weights }).outputs.y, f32).relL2;
    expect(err(QUANT_SCHEMES.i4)).toBeLessThan(err({ ...QUANT_SCHEMES.i4, router: true }));
  });

  it('the CLI: moec check --quantize shows an f32 router; --quantize-router an i4 one; --quantize-router alone is a usage error', async () => {
    const plain = await cli('check', 'examples/tiny.moe', '--quantize', 'i4');
    expect(plain.out).toMatch(/router\s+f32\[4, 8\]/);
    const all = await cli('check', 'examples/tiny.moe', '--quantize', 'i4', '--quantize-router');
    expect(all.out).toMatch(/router\s+i4\(group=32\)\[4, 8\]/);
    const alone = await cli('check', 'examples/tiny.moe', '--quantize-router');
    expect(alone.code).toBe(2);
    expect(alone.err).toContain('--quantize-router quantizes the router along with the other GEMM weights: it needs --quantize SCHEME');
  });

  it('moec quantize copies router tensors (gate.weight, router.weight) unless --quantize-router; gate_proj and shared_expert_gate are quantized', async () => {
    const dir = tmp();
    const input = join(dir, 'model.safetensors');
    const t = (shape: number[]) => ({ dtype: 'f32' as const, shape, data: Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => Math.sin(i)) });
    const names = ['model.layers.0.block_sparse_moe.gate.weight', 'model.layers.0.mlp.router.weight', 'model.layers.0.mlp.experts.0.gate_proj.weight', 'model.layers.0.mlp.shared_expert_gate.weight'];
    writeSafetensors(input, Object.fromEntries(names.map((n) => [n, t([4, 32])])));
    const out = join(dir, 'q.safetensors');
    const r = await cli('quantize', input, '--to', 'i8', '-o', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('kept 2 tensors as they are: 2 router (--quantize-router quantizes it)');
    const dtypes = (f: string) => Object.fromEntries(names.map((n) => [n, readSafetensors(f).info(n).dtype]));
    expect(dtypes(out)).toEqual({ [names[0]]: 'F32', [names[1]]: 'F32', [names[2]]: 'I8', [names[3]]: 'I8' });
    const all = join(dir, 'q-all.safetensors');
    expect((await cli('quantize', input, '--to', 'i8', '--quantize-router', '-o', all)).code).toBe(0);
    expect(Object.values(dtypes(all))).toEqual(['I8', 'I8', 'I8', 'I8']);
  });
});

describe('--check on an already quantized checkpoint', () => {
  it('says the line measures requantizing against the checkpoint\'s own values, not quantizing (was: "quantization error ... relL2 0" as if lossless)', async () => {
    const dir = tmp();
    const set = 'D=32,F=48';
    const m = compileFile('examples/mixtral.moe', { consts: { D: 32, F: 48 } });
    const f32 = join(dir, 'f32.safetensors');
    writeSafetensors(f32, randomWeights(m, 0));
    const q = join(dir, 'i8.safetensors');
    expect((await cli('quantize', f32, '--to', 'i8', '-o', q)).code).toBe(0);
    const args = ['run', 'examples/mixtral.moe', '--set', set, '--tokens', '4', '--backend', 'wasm', '--check', '--quantize', 'i8'];
    const fromF32 = await cli(...args, '--weights', f32);
    expect(fromF32.code, fromF32.err).toBe(0);
    expect(fromF32.out).toMatch(/quantization error \(i8 reference vs f32 reference\): max\|Δ\| [1-9]/);
    const fromQ = await cli(...args, '--weights', q);
    expect(fromQ.code, fromQ.err).toBe(0);
    expect(fromQ.out).not.toContain('quantization error (i8 reference vs f32 reference)');
    expect(fromQ.out).toContain("requantization error (i8 reference vs the checkpoint's own values): max|Δ| 0");
    expect(fromQ.out).toContain('the checkpoint is already quantized (`router`, `w1`, `w3`, ... (4 weights))');
    expect(fromQ.out).toContain('not the error of quantizing, which needs the original f32 checkpoint');
    const json = JSON.parse((await cli(...args, '--weights', q, '--json')).out);
    expect(json.outputs.y.quantizationError.compares).toBe('dequantized checkpoint');
  });
});
