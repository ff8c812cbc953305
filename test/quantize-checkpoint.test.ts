/**
 * @fileoverview `moec quantize`: a small DeepSeek-V3 checkpoint (F32 GEMM weights, bf16 norms
 * and router, in the Hugging Face layout) quantized to fp8, i8, i4 and i4g128 through the CLI.
 * Checked independently of moec's quantizer: the written layout (dtypes, shapes, scale names),
 * the codes decoded by this file's own fp8 decoder and nibble unpacking against the input
 * within each scheme's rounding bound, the reported errors recomputed here, the rest copied
 * byte for byte, the file loads through the `.moe` mapping and runs close to f32; already
 * quantized input is requantized; and errors leave no output behind.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile, randomInputs, run, weightsFromSafetensors } from '../compiler/driver.ts';
import { agreement } from '../compiler/compare.ts';
import { openCheckpoint } from '../ir/checkpoint.ts';
import { quantizeCheckpoint } from '../compiler/checkpoint/quantize.ts';
import { readSafetensors } from '../ir/safetensors.ts';
import { DS_SIZES, type Raw, deepseekCheckpoint, f32Bytes, fp8Value, writeRaw } from './hf-checkpoint.ts';
import { cli } from './capture.ts';

const m = compileFile('examples/deepseek-v3.moe', { consts: DS_SIZES });
// The fp8 checkpoint's values, stored as F32 (its GEMM weights) and BF16 (norms, router).
const { raws: fp8Raws, weights, values } = deepseekCheckpoint(m);
const f32Raws: Raw[] = fp8Raws
  .filter((r) => !r.name.endsWith('_scale_inv'))
  .map((r) => (r.dtype === 'F8_E4M3' ? { name: r.name, dtype: 'F32', shape: r.shape, bytes: f32Bytes(Array.from(values.get(r.name)!)) } : r));

let dir: string;
let input: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'moec-quant-'));
  input = join(dir, 'model.safetensors');
  writeRaw(input, f32Raws);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EXPERT = 'model.layers.1.mlp.experts.2.up_proj.weight'; // [192, 256]
const DENSE_DOWN = 'model.layers.0.mlp.down_proj.weight'; // [256, 160]

describe('moec quantize', () => {
  it('fp8: F8_E4M3 codes and 128×128 _scale_inv blocks; norms copied; the reported errors are right', async () => {
    const out = join(dir, 'fp8.safetensors');
    const r = await cli('quantize', input, '--to', 'fp8', '-o', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const f = readSafetensors(out);
    expect(f.info(EXPERT)).toEqual({ dtype: 'F8_E4M3', shape: [192, 256] });
    expect(f.info(`${EXPERT}_scale_inv`)).toEqual({ dtype: 'F32', shape: [2, 2] });
    expect(f.info(`${DENSE_DOWN}_scale_inv`)).toEqual({ dtype: 'F32', shape: [2, 2] });
    // The router is copied as it was unless --quantize-router.
    expect(f.info('model.layers.1.mlp.gate.weight')).toEqual({ dtype: 'BF16', shape: [4, 256] });
    // Norms and 1-D tensors are copied byte for byte.
    const norm = fp8Raws.find((x) => x.name === 'model.layers.1.post_attention_layernorm.weight')!;
    expect(f.info(norm.name)).toEqual({ dtype: 'BF16', shape: [256] });
    expect(Buffer.from(f.raw(norm.name)).equals(Buffer.from(norm.bytes))).toBe(true);
    expect(f.info('model.layers.1.mlp.gate.e_score_correction_bias').dtype).toBe('F32');
    // Decode independently: each value within half an fp8 step (2^-4 relative) of the input.
    const codes = f.raw(EXPERT);
    const scales = new Float32Array(f.raw(`${EXPERT}_scale_inv`).slice().buffer);
    const w = values.get(EXPERT)!;
    let diff = 0;
    let sq = 0;
    let maxAbs = 0;
    let over = 0; // elements past the bound (one expect at the end: per-element expects are slow)
    for (let r0 = 0; r0 < 192; r0++)
      for (let c = 0; c < 256; c++) {
        const s = scales[Math.floor(r0 / 128) * 2 + Math.floor(c / 128)];
        const got = Math.fround(fp8Value(codes[r0 * 256 + c]) * s);
        const want = w[r0 * 256 + c];
        if (Math.abs(got - want) > Math.max(Math.abs(want) * 2 ** -4, s * 2 ** -10) * 1.0001) over++;
        diff += (got - want) ** 2;
        sq += want * want;
        maxAbs = Math.max(maxAbs, Math.abs(got - want));
      }
    expect(over).toBe(0);
    // The block scale is amax / 448: the largest element of the first block is code ±448.
    let top = 0;
    for (let r0 = 0; r0 < 128; r0++) for (let c = 0; c < 128; c++) top = Math.max(top, codes[r0 * 256 + c] & 0x7f);
    expect(top).toBe(0x7e);
    const row = r.out.split('\n').find((l) => l.startsWith(EXPERT + ' '))!;
    expect(row).toContain('[192, 256]  F32');
    expect(row).toContain(maxAbs.toExponential(2));
    expect(row).toContain(Math.sqrt(diff / sq).toExponential(2));
    expect(r.out).toMatch(/quantized 18 tensors to fp8:/);
    expect(r.out).toMatch(/overall \(18 tensors\): max abs err \S+, relL2 \S+/);
    expect(r.out).toContain('kept 4 tensors as they are: 3 1-D, 1 router (--quantize-router quantizes it)');
    // Piped: no progress line, no escape codes.
    expect(r.out + r.err).not.toContain('\x1b');
  });

  it('i8, i4 and i4g128: the codes and scale layouts moec loads, within the rounding bound', async () => {
    for (const [scheme, group] of [['i8', 0], ['i4', 32], ['i4g128', 128]] as const) {
      const out = join(dir, `${scheme}.safetensors`);
      const r = await cli('quantize', input, '--to', scheme, '-o', out);
      expect(r.code, r.err).toBe(0);
      const f = readSafetensors(out);
      const g = group || 256;
      const i4 = scheme !== 'i8';
      expect(f.info(EXPERT)).toEqual(i4 ? { dtype: 'U8', shape: [192, 128] } : { dtype: 'I8', shape: [192, 256] });
      expect(f.info(`${EXPERT}_scale`)).toEqual({ dtype: 'F32', shape: [192, 256 / g] });
      const bytes = f.raw(EXPERT);
      const scales = new Float32Array(f.raw(`${EXPERT}_scale`).slice().buffer);
      const w = values.get(EXPERT)!;
      const qmax = i4 ? 7 : 127;
      let over = 0;
      for (let i = 0; i < w.length; i++) {
        const code = i4 ? (((bytes[i >> 1] >> ((i & 1) * 4)) & 15) ^ 8) - 8 : (bytes[i] << 24) >> 24;
        const s = scales[Math.floor(i / 256) * (256 / g) + Math.floor((i % 256) / g)];
        if (Math.abs(code) > qmax || Math.abs(code * s - w[i]) > s / 2 + 1e-9) over++;
      }
      expect(over, scheme).toBe(0);
      // K = 160 is not a multiple of 128: that tensor is kept (and said so); 32 divides it.
      if (scheme === 'i4g128') {
        expect(f.info(DENSE_DOWN).dtype).toBe('F32');
        expect(r.out).toContain('kept 10 tensors as they are: 3 1-D, 1 router (--quantize-router quantizes it), 6 with K not a multiple of the i4 group 128');
      } else expect(f.info(DENSE_DOWN).dtype).toBe(i4 ? 'U8' : 'I8');
    }
  });

  it('the quantized checkpoint loads through the .moe mapping and runs close to f32', async () => {
    const inputs = randomInputs(m, { T: 4 }, 5);
    const want = run(m, { tokens: 4, weights, inputs }).outputs.y;
    const bound = { fp8: 0.05, i8: 0.01, i4: 0.2 } as Record<string, number>;
    for (const scheme of ['fp8', 'i8', 'i4']) {
      const path = join(dir, `close-${scheme}.safetensors`);
      await quantizeCheckpoint(input, scheme, path);
      const notes: string[] = [];
      const loaded = weightsFromSafetensors(m, openCheckpoint(path), path, { note: (s) => notes.push(s) });
      expect(notes.length).toBeGreaterThan(0);
      const got = run(m, { tokens: 4, weights: loaded, inputs }).outputs.y;
      const a = agreement(got, want);
      expect(a.relL2, scheme).toBeLessThan(bound[scheme]);
      expect(a.relL2, scheme).toBeGreaterThan(0);
    }
  });

  it('into a model quantized the same way (--quantize), codes and scales load as they are and run like their dequantized values', async () => {
    const inputs = randomInputs(m, { T: 3 }, 9);
    for (const scheme of ['fp8', 'i8', 'i4']) {
      const path = join(dir, `same-${scheme}.safetensors`);
      await quantizeCheckpoint(input, scheme, path);
      const mq = compileFile('examples/deepseek-v3.moe', { consts: DS_SIZES, quantize: scheme });
      const notes: string[] = [];
      const q = weightsFromSafetensors(mq, openCheckpoint(path), path, { note: (s) => notes.push(s) });
      expect(notes, scheme).toEqual([]);
      expect(q['moe.w_up'].dtype).toBe(scheme === 'fp8' ? 'fp8e4m3' : scheme);
      // The f32 model on the same checkpoint gets the dequantized values (with notes).
      const f = weightsFromSafetensors(m, openCheckpoint(path), path, { note: () => {} });
      const a = agreement(run(mq, { tokens: 3, weights: q, inputs }).outputs.y, run(m, { tokens: 3, weights: f, inputs }).outputs.y);
      expect(a.maxRel, scheme).toBeLessThan(1e-6);
    }
  });

  it('requantizes an fp8 checkpoint (scales consumed, not copied) and reads an index as input', async () => {
    const fp8 = join(dir, 'ds-fp8');
    rmSync(fp8, { recursive: true, force: true });
    mkdirSync(fp8);
    writeRaw(join(fp8, 'a.safetensors'), fp8Raws);
    writeFileSync(join(fp8, 'model.safetensors.index.json'), JSON.stringify({ weight_map: Object.fromEntries(fp8Raws.map((x) => [x.name, 'a.safetensors'])) }));
    const out = join(dir, 'fp8-to-i8.safetensors');
    const r = await cli('quantize', fp8, '--to', 'i8', '-o', out);
    expect(r.code, r.err).toBe(0);
    const f = readSafetensors(out);
    expect(f.has(`${EXPERT}_scale_inv`)).toBe(false);
    expect(f.info(EXPERT).dtype).toBe('I8');
    expect(r.out.split('\n').find((l) => l.startsWith(EXPERT + ' '))).toContain('F8_E4M3');
  });

  it('moec run on an fp8 checkpoint into the f32 model: notes on stderr, the outputs on stdout', async () => {
    const path = join(dir, 'ds-fp8.safetensors');
    writeRaw(path, fp8Raws);
    const sets = Object.entries(DS_SIZES).map(([k, v]) => `${k}=${v}`).join(',');
    const r = await cli('run', 'examples/deepseek-v3.moe', '--set', sets, '--tokens', '2', '--weights', path);
    expect(r.code, r.err).toBe(0);
    expect(r.err.split('\n').filter((l) => l.startsWith('note: '))).toHaveLength(9);
    expect(r.err).toContain('note: `moe.w_down`: the checkpoint holds fp8e4m3 (128×128 block scales) (model.layers.1.mlp.experts.0.down_proj.weight, ...); dequantized to f32');
    expect(r.out).toContain('output y: f32[2, 256]');
    expect(r.out).not.toContain('note:');
  });

  it('moec pack --quantize i8 on an i8 checkpoint packs its codes as they are (no notes); the f32 model dequantizes them (notes)', async () => {
    const tiny = compileFile('examples/tiny.moe');
    const raws: Raw[] = [];
    for (const w of tiny.weights) {
      const shape = w.type.shape as number[];
      for (let e = 0; e < (w.source!.axes.length ? shape[0] : 1); e++) {
        const inner = w.source!.axes.length ? shape.slice(1) : shape;
        const n = inner.reduce((a, b) => a * b, 1);
        raws.push({ name: w.source!.pattern.replace('{e}', String(e)), dtype: 'F32', shape: inner, bytes: f32Bytes(Array.from({ length: n }, (_, i) => Math.sin(i + 7 * e) / 4)) });
      }
    }
    const f32 = join(dir, 'tiny.safetensors');
    writeRaw(f32, raws);
    const i8 = join(dir, 'tiny-i8.safetensors');
    expect((await cli('quantize', f32, '--to', 'i8', '-o', i8)).code).toBe(0);
    const q = await cli('pack', 'examples/tiny.moe', '--target', 'x86-avx2', '--quantize', 'i8', '--weights', i8, '-o', join(dir, 'tiny-i8.bin'));
    expect(q.code, q.err).toBe(0);
    expect(q.err).toBe('');
    const f = await cli('pack', 'examples/tiny.moe', '--target', 'x86-avx2', '--weights', i8, '-o', join(dir, 'tiny-f32.bin'));
    expect(f.code, f.err).toBe(0);
    expect(f.err).toContain('note: `w_gate`: the checkpoint holds i8 (per-channel scales)');
  });

  it('--help describes the command and the rule', async () => {
    const h = await cli('--help');
    expect(h.out).toContain('moec quantize IN -o OUT.safetensors --to i8|i8g32|i4|i4g32|i4g128|fp8');
    expect(h.out).toContain('except embeddings, norms (names with embed, norm, wte, wpe) and, unless\n      --quantize-router, the router');
    expect(h.out).toContain('model.safetensors.index.json');
  });

  it('bad requests: usage errors (exit 2), and an error half way leaves no output or temp file', async () => {
    expect((await cli('quantize', input, '-o', join(dir, 'x.safetensors'))).code).toBe(2);
    const bad = await cli('quantize', input, '--to', 'i3', '-o', join(dir, 'x.safetensors'));
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('i4g128');
    expect((await cli('quantize', input, '--to', 'i8')).code).toBe(2);
    expect((await cli('quantize', '--to', 'i8', '-o', 'x')).code).toBe(2);
    expect((await cli('quantize', input, '--quantize', 'i8', '-o', 'x')).code).toBe(2);
    // A name where a scale must go, and a tensor that fails to decode only once it is read.
    const clash = join(dir, 'clash');
    mkdirSync(clash);
    writeRaw(join(clash, 'in.safetensors'), [
      { name: 'a.weight', dtype: 'F32', shape: [2, 4], bytes: f32Bytes([1, 2, 3, 4, 5, 6, 7, 8]) },
      { name: 'a.weight_scale', dtype: 'F32', shape: [2, 2], bytes: f32Bytes([1, 1, 1, 1]) },
    ]);
    const c = await cli('quantize', join(clash, 'in.safetensors'), '--to', 'i8', '-o', join(clash, 'out.safetensors'));
    expect(c.code).toBe(1);
    expect(c.err).toContain('already has a tensor `a.weight_scale`');
    writeRaw(join(clash, 'in.safetensors'), [
      { name: 'a.weight', dtype: 'F32', shape: [2, 4], bytes: f32Bytes([1, 2, 3, 4, 5, 6, 7, 8]) },
      { name: 'b.weight', dtype: 'F8_E4M3', shape: [2, 4], bytes: new Uint8Array(8) },
      { name: 'b.weight_scale_inv', dtype: 'F32', shape: [1, 2], bytes: new Uint8Array(8) },
    ]);
    // a.weight is written before b.weight's scales turn out wrong.
    const d = await cli('quantize', join(clash, 'in.safetensors'), '--to', 'i8', '-o', join(clash, 'out.safetensors'));
    expect(d.code).toBe(1);
    expect(d.err).toContain('scales `b.weight_scale_inv` are F32 [1, 2], but `b.weight` needs F32 [1, 1]');
    expect(readdirSync(clash)).toEqual(['in.safetensors']);
    expect(existsSync(join(clash, 'out.safetensors'))).toBe(false);
    expect(readFileSync(join(clash, 'in.safetensors')).length).toBeGreaterThan(0);
  });
});
