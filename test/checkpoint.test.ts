/**
 * @fileoverview Loading real checkpoints: a DeepSeek-style checkpoint in the Hugging Face
 * layout (per-expert tensors, fp8 e4m3 with 128×128 `_scale_inv` block scales, bf16 norms),
 * written by an independent writer here (bytes laid out by hand, values decoded by this
 * file's own fp8/f16/bf16 decoders), loaded through the `.moe` file's `from` names as one file,
 * as shards with an index, and as a directory, and run; bf16, f16, i8 and packed i4 tensors;
 * and every error a bad checkpoint or index can cause.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoecError } from '../ir/diagnostics.ts';
import { compile, compileFile, compileModel, randomInputs, run, runOnBackend, weightsFromSafetensors } from '../compiler/driver.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { agreement } from '../compiler/compare.ts';
import { openCheckpoint } from '../ir/checkpoint.ts';
import { dequantize } from '../ir/quant.ts';
import { DS_SIZES, type Raw, bf16Tensor, count, deepseekCheckpoint, f16Value, f32Bytes, u16Bytes, writeRaw } from './hf-checkpoint.ts';
import { withRouter } from './quant-router-too.ts';

function expectError(f: () => unknown, code: string, ...texts: string[]): MoecError {
  try {
    f();
  } catch (err) {
    if (!(err instanceof MoecError)) throw err;
    const d = err.diagnostics[0];
    expect(d.code, d.message).toBe(code);
    for (const t of texts) expect(d.message + ' | ' + (d.hint ?? '')).toContain(t);
    expect(d.hint).toBeTruthy();
    return err;
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'moec-ckpt-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a DeepSeek-style checkpoint in the Hugging Face layout', () => {
  const m = compileFile('examples/deepseek-v3.moe', { consts: DS_SIZES });
  const { raws, weights: reference } = deepseekCheckpoint(m);

  it('has the Hugging Face names: per-expert fp8 tensors with block scales, bf16 norms and router', () => {
    const names = new Map(raws.map((r) => [r.name, r]));
    expect(names.get('model.layers.1.mlp.experts.3.down_proj.weight')).toMatchObject({ dtype: 'F8_E4M3', shape: [256, 192] });
    expect(names.get('model.layers.1.mlp.experts.3.down_proj.weight_scale_inv')).toMatchObject({ dtype: 'F32', shape: [2, 2] });
    expect(names.get('model.layers.0.mlp.gate_proj.weight_scale_inv')).toMatchObject({ shape: [2, 2] });
    expect(names.get('model.layers.1.mlp.shared_experts.up_proj.weight')).toMatchObject({ dtype: 'F8_E4M3', shape: [192, 256] });
    expect(names.get('model.layers.1.post_attention_layernorm.weight')).toMatchObject({ dtype: 'BF16', shape: [256] });
    expect(names.get('model.layers.1.mlp.gate.weight')).toMatchObject({ dtype: 'BF16', shape: [4, 256] });
    expect(names.get('model.layers.1.mlp.gate.e_score_correction_bias')).toMatchObject({ dtype: 'F32', shape: [4] });
  });

  it('loads as one file, as shards with an index, and as a directory: the exact dequantized weights, with one note per fp8 weight', () => {
    const single = join(dir, 'single.safetensors');
    writeRaw(single, raws);
    const sharded = join(dir, 'sharded');
    rmSync(sharded, { recursive: true, force: true });
    mkdirSync(sharded);
    // Two shards, tensors dealt alternately, so a weight's slices and scales span both.
    const shards = [raws.filter((_, i) => i % 2 === 0), raws.filter((_, i) => i % 2 === 1)];
    const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    shards.forEach((s, i) => writeRaw(join(sharded, files[i]), s));
    const weightMap = Object.fromEntries(shards.flatMap((s, i) => s.map((r) => [r.name, files[i]])));
    writeFileSync(join(sharded, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));

    for (const path of [single, join(sharded, 'model.safetensors.index.json'), sharded]) {
      const notes: string[] = [];
      const loaded = weightsFromSafetensors(m, openCheckpoint(path), path, { note: (s) => notes.push(s) });
      for (const [name, t] of Object.entries(reference)) {
        expect(loaded[name].shape, name).toEqual(t.shape);
        expect(loaded[name].data).toBeInstanceOf(Float32Array);
        // Bit for bit (toEqual on half a million elements takes seconds).
        expect(Buffer.from(loaded[name].data.buffer).equals(Buffer.from(t.data.buffer)), `${path}: ${name}`).toBe(true);
      }
      const fp8Weights = m.weights.filter((w) => w.source!.pattern.endsWith('proj.weight')).map((w) => w.name);
      expect(fp8Weights.length).toBe(9);
      expect(notes).toHaveLength(fp8Weights.length);
      for (const [i, w] of fp8Weights.entries()) expect(notes[i]).toContain(`\`${w}\`: the checkpoint holds fp8e4m3 (128×128 block scales)`);
      expect(notes[0]).toContain('dequantized to f32');
    }
  });

  it('runs like its dequantized weights: the interpreter exactly, the C backend within 1e-4 of the output scale', async () => {
    const path = join(dir, 'run.safetensors');
    writeRaw(path, raws);
    const inputs = randomInputs(m, { T: 5 }, 3);
    const want = run(m, { tokens: 5, weights: reference, inputs }).outputs.y;
    const got = run(m, { tokens: 5, weights: path, inputs, note: () => {} }).outputs.y;
    expect(got.data).toEqual(want.data);
    expect(Array.from(want.data).every(Number.isFinite)).toBe(true);
    const c = await runOnBackend(m, { backend: 'c', tokens: 5, weights: path, inputs, note: () => {} });
    const a = agreement(c.outputs.y, want);
    expect(a.nanMismatch).toBe(0);
    expect(a.maxRel).toBeLessThan(1e-4);
    expect(a.relL2).toBeLessThan(1e-5);
  }, 60_000);
});

describe('the same checkpoint into a model declared with fp8 weights', () => {
  // examples/deepseek-v3.moe with every expert and dense-MLP weight declared fp8e4m3 in
  // 128-groups (the router stays f32: the checkpoint holds it in bf16, as DeepSeek ships it).
  const text = readFileSync('examples/deepseek-v3.moe', 'utf8').replace(/: f32\[(hidden, D|D, hidden|E, F, D|E, D, F)\]/g, ': fp8e4m3(group=128)[$1]');
  const m8 = compile(text, { consts: DS_SIZES, path: 'deepseek-fp8.moe' });
  const m = compileFile('examples/deepseek-v3.moe', { consts: DS_SIZES });
  const { raws, weights: reference } = deepseekCheckpoint(m);

  it('takes the codes and block scales as they are, with no note, and runs like the dequantized f32 model', () => {
    expect(m8.weights.filter((w) => w.type.dtype === 'fp8e4m3').map((w) => w.name)).toEqual(m.weights.filter((w) => w.source!.pattern.endsWith('proj.weight')).map((w) => w.name));
    const path = join(dir, 'fp8-model.safetensors');
    writeRaw(path, raws);
    const notes: string[] = [];
    const loaded = weightsFromSafetensors(m8, openCheckpoint(path), path, { note: (s) => notes.push(s) });
    expect(notes).toEqual([]);
    const wg = loaded['moe.w_gate'];
    expect(wg.dtype).toBe('fp8e4m3');
    expect(wg.shape).toEqual([1, 4, 192, 256]);
    expect(wg.quant).toMatchObject({ axis: 3, group: 128 });
    // Codes are the stored bytes; scales one per (row, 128-group), the block's scale.
    const first = raws.find((r) => r.name === 'model.layers.1.mlp.experts.0.gate_proj.weight')!;
    expect(Array.from(wg.data.subarray(0, 192 * 256))).toEqual(Array.from(first.bytes));
    const blocks = new Float32Array(raws.find((r) => r.name === `${first.name}_scale_inv`)!.bytes.slice().buffer);
    expect(wg.quant!.scales[129 * 2 + 1]).toBe(blocks[1 * 2 + 1]);
    expect(wg.quant!.scales[5 * 2 + 0]).toBe(blocks[0]);

    // The f32 model on the dequantized values (measured: max abs 0).
    const inputs = randomInputs(m, { T: 5 }, 3);
    const want = run(m, { tokens: 5, weights: reference, inputs }).outputs.y;
    const got = run(m8, { tokens: 5, weights: path, inputs }).outputs.y;
    const a = agreement(got, want);
    expect(a.nanMismatch).toBe(0);
    expect(a.maxRel).toBeLessThan(1e-6);
    // The kernel program (fused, tiled, with the fp8 codes and scales buffers) agrees too.
    const { program } = compileModel(m8, { target: 'x86-avx2', maxTokens: 8 });
    const k = interpretKernelIR(program, { bindings: { T: 5 }, inputs, weights: loaded }).y;
    expect(agreement(k, want).maxRel).toBeLessThan(1e-5);
  });

  it('runs on the C backend with its fp8 kernels, within 1e-5 of the interpreter; --quantize fp8 on the f32 model takes the codes as they are', async () => {
    const path = join(dir, 'fp8-c.safetensors');
    writeRaw(path, raws);
    const inputs = randomInputs(m, { T: 5 }, 4);
    const notes: string[] = [];
    const c = await runOnBackend(m8, { backend: 'c', tokens: 5, weights: path, inputs, check: true, note: (s) => notes.push(s) });
    expect(notes).toEqual([]);
    expect(c.agreement!.y.nanMismatch).toBe(0);
    expect(c.agreement!.y.maxRel).toBeLessThan(1e-5);
    expect(c.agreement!.y.relL2).toBeLessThan(1e-5);
    // The f32 model compiled with --quantize fp8 --quantize-router (the router from the bf16 tensor):
    // the experts' fp8 codes are used as they are, so the error against f32 is the router's alone.
    const q = await runOnBackend(m, { backend: 'c', tokens: 5, weights: path, inputs, check: true, quantize: withRouter('fp8'), note: (s) => notes.push(s) });
    expect(notes).toEqual([]);
    expect(q.agreement!.y.maxRel).toBeLessThan(1e-5);
    expect(q.quantError!.y.relL2).toBeGreaterThan(0);
    expect(q.quantError!.y.relL2).toBeLessThan(0.05);
  }, 120_000);

  it('a float checkpoint into the fp8 model is quantized on loading; i8 into it is requantized with a note', () => {
    const path = join(dir, 'f32-for-fp8.safetensors');
    const values = deepseekCheckpoint(m).values;
    writeRaw(path, raws.filter((r) => !r.name.endsWith('_scale_inv')).map((r) => (r.dtype === 'F8_E4M3' ? { name: r.name, dtype: 'F32', shape: r.shape, bytes: f32Bytes(Array.from(values.get(r.name)!)) } : r)));
    const notes: string[] = [];
    const loaded = weightsFromSafetensors(m8, openCheckpoint(path), path, { note: (s) => notes.push(s) });
    expect(notes).toEqual([]);
    expect(loaded['dense.mlp.down'].dtype).toBe('fp8e4m3');
    // Quantized per (row, 128-group) by moec's quantizer: within half an fp8 step of the f32 values.
    const deq = dequantize({ dtype: 'fp8e4m3', shape: loaded['dense.mlp.down'].shape, axis: 2, group: 128, codes: loaded['dense.mlp.down'].data as Int32Array, scales: loaded['dense.mlp.down'].quant!.scales });
    const a = agreement({ dtype: 'f32', shape: [deq.length], data: deq }, { dtype: 'f32', shape: [deq.length], data: reference['dense.mlp.down'].data });
    expect(a.relL2).toBeGreaterThan(0);
    expect(a.relL2).toBeLessThan(0.04);
    const i8 = join(dir, 'i8-for-fp8.safetensors');
    writeRaw(i8, [
      ...raws.filter((r) => r.name !== 'model.layers.0.mlp.down_proj.weight' && r.name !== 'model.layers.0.mlp.down_proj.weight_scale_inv'),
      { name: 'model.layers.0.mlp.down_proj.weight', dtype: 'I8', shape: [256, 160], bytes: new Uint8Array(256 * 160).fill(3) },
      { name: 'model.layers.0.mlp.down_proj.weight_scale', dtype: 'F32', shape: [256, 1], bytes: f32Bytes(new Array(256).fill(0.5)) },
    ]);
    notes.length = 0;
    const re = weightsFromSafetensors(m8, openCheckpoint(i8), i8, { note: (s) => notes.push(s) })['dense.mlp.down'];
    expect(notes).toEqual(['`dense.mlp.down`: the checkpoint holds i8 (per-channel scales) (model.layers.0.mlp.down_proj.weight); requantized to fp8e4m3 (128×128 block scales), which adds error']);
    // 1.5 everywhere: fp8 holds it exactly (scale 1.5 / 448, code 448).
    expect(new Set(dequantize({ dtype: 'fp8e4m3', shape: re.shape, axis: 2, group: 128, codes: re.data as Int32Array, scales: re.quant!.scales }))).toEqual(new Set([1.5]));
  });
});

// ---------------------------------------------------------------------------------------
// Float and integer checkpoints on the tiny model.

const TINY = `
dim T <= 8
model t {
  input x: f32[T, 4]
  weight w: f32[3, 4] from "layer.{o}.weight"
  weight n: f32[4] from "norm.weight"
  output y = linear(rmsnorm(x, n), w)
}`;

describe('float and integer checkpoint dtypes', () => {
  const m = compile(TINY);
  const norm = bf16Tensor('norm.weight', [4], 1);

  it('reads bf16 and f16 tensors exactly into f32 weights', () => {
    const path = join(dir, 'half.safetensors');
    const bits = [0x3c00, 0xbc01, 0x0001, 0x7bff, 0x3555, 0x8400, 0x2e66, 0x4248, 0x0400, 0xc000, 0x1234, 0x3ffe];
    writeRaw(path, [
      ...norm.raws,
      ...[0, 1, 2].map((o) => ({ name: `layer.${o}.weight`, dtype: 'F16', shape: [4], bytes: u16Bytes(bits.slice(4 * o, 4 * o + 4)) })),
    ]);
    const w = weightsFromSafetensors(m, openCheckpoint(path), path);
    expect(w.w).toEqual({ dtype: 'f32', shape: [3, 4], data: Float32Array.from(bits, f16Value) });
    expect(w.n.data).toEqual(norm.values);
    expect(w.n.data[0]).not.toBe(1);
  });

  it('dequantizes i8 (per-channel _scale [N, 1]) and packed i4 (_scale [N, K/group]) checkpoints', () => {
    const path = join(dir, 'int.safetensors');
    // The weight under its own name, a whole [N, K] tensor with its scales beside it.
    const m2 = compile(TINY.replace('from "layer.{o}.weight"', ''));
    const codes = [1, -2, 3, -127, 0, 5, 6, 7, -8, 9, 100, -1];
    const scale = [0.5, 0.25, 0.125];
    writeRaw(path, [
      ...norm.raws,
      { name: 'w', dtype: 'I8', shape: [3, 4], bytes: Uint8Array.from(codes, (c) => c & 0xff) },
      { name: 'w_scale', dtype: 'F32', shape: [3, 1], bytes: f32Bytes(scale) },
    ]);
    expect(weightsFromSafetensors(m2, openCheckpoint(path), path, { note: () => {} }).w.data).toEqual(Float32Array.from(codes, (c, i) => c * scale[Math.floor(i / 4)]));
    // i4: [3, 4] in groups of 2 -> scales [3, 2]; bytes by hand, low nibble first.
    const q = [1, -1, 7, -8, 0, 3, -2, 5, 4, 4, -3, 2];
    const bytes = Uint8Array.from([0, 1, 2, 3, 4, 5], (i) => (q[2 * i] & 15) | ((q[2 * i + 1] & 15) << 4));
    const gs = [1, 2, 3, 4, 5, 6].map((v) => v / 8);
    writeRaw(path, [...norm.raws, { name: 'w', dtype: 'U8', shape: [3, 2], bytes }, { name: 'w_scale', dtype: 'F32', shape: [3, 2], bytes: f32Bytes(gs) }]);
    const notes: string[] = [];
    expect(weightsFromSafetensors(m2, openCheckpoint(path), path, { note: (s) => notes.push(s) }).w.data).toEqual(
      Float32Array.from(q, (c, i) => c * gs[Math.floor(i / 2)]),
    );
    expect(notes).toEqual([expect.stringContaining('i4 (groups of 2)')]);
  });
});

describe('a quantized weight reduced along its second-last axis (a matmul weight)', () => {
  const m = compile(`
dim T <= 8
model t {
  input x: f32[T, 4]
  weight w: i8(group=channel, axis=-2)[4, 3]
  output y = matmul(x, w)
}`);
  const w = [0.5, -1, 0.25, 2, 0.75, -0.5, -4, 1, 0.125, 1, -2, 0.5]; // [K = 4, N = 3]

  it('a float checkpoint is quantized along that axis: one scale per column', () => {
    const path = join(dir, 'kn.safetensors');
    writeRaw(path, [{ name: 'w', dtype: 'F32', shape: [4, 3], bytes: f32Bytes(w) }]);
    const t = weightsFromSafetensors(m, openCheckpoint(path), path).w;
    expect(t.quant).toMatchObject({ axis: 0, group: 4 });
    // Column amax: 4, 2, 0.5 -> scales amax / 127.
    expect(Array.from(t.quant!.scales)).toEqual([4, 2, 0.5].map((a) => Math.fround(a / 127)));
    expect(t.data[6]).toBe(-127);
  });

  it('an i8 checkpoint scaled along its last axis is requantized for it, with a note (square, so the groups agree)', () => {
    const sq = compile('dim T <= 8\nmodel t {\n  input x: f32[T, 4]\n  weight w: i8(group=channel, axis=-2)[4, 4]\n  output y = matmul(x, w)\n}');
    const path = join(dir, 'kn-i8.safetensors');
    writeRaw(path, [
      { name: 'w', dtype: 'I8', shape: [4, 4], bytes: Uint8Array.from([1, -2, 3, 4, 5, -6, -7, 8, 9, 10, -11, 12, 1, 1, 1, 1], (c) => c & 0xff) },
      { name: 'w_scale', dtype: 'F32', shape: [4, 1], bytes: f32Bytes([1, 2, 3, 4]) },
    ]);
    const notes: string[] = [];
    const t = weightsFromSafetensors(sq, openCheckpoint(path), path, { note: (s) => notes.push(s) }).w;
    expect(t.quant).toMatchObject({ axis: 0, group: 4 });
    // Column 0 holds 1, 10, 27, 4 (codes times row scales): its scale is 27 / 127.
    expect(t.quant!.scales[0]).toBe(Math.fround(27 / 127));
    expect(notes).toEqual([expect.stringContaining('requantized to i8 (per-channel scales)')]);
  });
});

// ---------------------------------------------------------------------------------------
// Errors.

describe('bad checkpoints are clear errors', () => {
  const m = compile(TINY.replace('from "layer.{o}.weight"', ''));
  const norm = bf16Tensor('norm.weight', [4], 1).raws;
  const w32 = (shape = [3, 4], dtype = 'F32'): Raw => ({ name: 'w', dtype, shape, bytes: new Uint8Array(count(shape) * (dtype === 'F32' || dtype === 'I32' ? 4 : 1)) });
  const load = (raws: Raw[]) => {
    const path = join(dir, 'bad.safetensors');
    writeRaw(path, raws);
    return () => weightsFromSafetensors(m, openCheckpoint(path), path);
  };

  it('a shape or dtype mismatch names the tensor, both shapes or dtypes, and hints', () => {
    expectError(load([...norm, w32([4, 3])]), 'E504', 'checkpoint tensor `w` is F32 [4, 3], but `w` is f32[3, 4]', 'sizes');
    expectError(load([...norm, w32([3, 4], 'I32')]), 'E504', '`w` is I32', 'takes F32, F16, BF16');
  });

  it('quantized tensors without their scales, or with scales of the wrong shape or dtype', () => {
    expectError(load([...norm, w32([3, 4], 'I8')]), 'E503', 'no scales `w_scale` for the I8 checkpoint tensor `w`');
    expectError(load([...norm, w32([3, 4], 'F8_E4M3')]), 'E503', 'no scales `w_scale_inv` (needed by `w`)', '128×128 block');
    expectError(load([...norm, w32([3, 4], 'F8_E4M3'), { name: 'w_scale_inv', dtype: 'F32', shape: [1, 2], bytes: new Uint8Array(8) }]), 'E504', 'scales `w_scale_inv` are F32 [1, 2], but `w` needs F32 [1, 1]');
    expectError(load([...norm, w32([3, 4], 'I8'), { name: 'w_scale', dtype: 'F32', shape: [3, 3], bytes: new Uint8Array(36) }]), 'E504', 'scales `w_scale` are F32 [3, 3], but `w` needs F32 [3, G]');
    expectError(load([...norm, w32([3, 4], 'I8'), { name: 'w_scale', dtype: 'F16', shape: [3, 1], bytes: new Uint8Array(6) }]), 'E504', 'are F16 [3, 1]');
    expectError(load([...norm, w32([3, 1], 'U8'), { name: 'w_scale', dtype: 'F32', shape: [3, 1], bytes: new Uint8Array(12) }]), 'E504', 'packed i4 (U8 [3, 1], 2 codes per row)');
  });

  it('a missing tensor', () => {
    expectError(load([...norm]), 'E503', 'has no tensor `w`');
    const mm = compile(TINY);
    const path = join(dir, 'bad.safetensors');
    writeRaw(path, [...norm, { name: 'layer.0.weight', dtype: 'F32', shape: [4], bytes: new Uint8Array(16) }]);
    expectError(() => weightsFromSafetensors(mm, openCheckpoint(path), path), 'E503', 'neither `w` nor the checkpoint tensor `layer.1.weight`', '`from` pattern');
  });

  describe('indexes and directories', () => {
    const idx = (name: string, content: string): string => {
      const d = mkdtempSync(join(dir, 'idx-'));
      writeFileSync(join(d, name), content);
      return d;
    };
    it('a malformed index is E508', () => {
      expectError(() => openCheckpoint(join(idx('model.safetensors.index.json', '{"weight_map": '), 'model.safetensors.index.json')), 'E508', 'not valid JSON');
      expectError(() => openCheckpoint(idx('model.safetensors.index.json', '{"metadata": {}}')), 'E508', 'no "weight_map" object');
      expectError(() => openCheckpoint(idx('model.safetensors.index.json', '{"weight_map": {"w": 3}}')), 'E508', `entry 'w' must name a shard file`);
      expectError(() => openCheckpoint(idx('model.safetensors.index.json', '[1]')), 'E508', 'no "weight_map"');
    });
    it('a missing shard, and a tensor the index names but its shard lacks', () => {
      const d = idx('model.safetensors.index.json', JSON.stringify({ weight_map: { w: 'a.safetensors', 'norm.weight': 'b.safetensors' } }));
      writeRaw(join(d, 'b.safetensors'), [w32()]);
      const ck = openCheckpoint(d);
      expect(ck.names()).toEqual(['norm.weight', 'w']);
      expectError(() => ck.get('w'), 'E501', 'a.safetensors: no such file', "puts 'w' there", 'download every shard');
      expectError(() => ck.get('norm.weight'), 'E503', "b.safetensors has no tensor 'norm.weight', though", 'disagree');
      expectError(() => ck.get('nope'), 'E503', "names no tensor 'nope'");
      expectError(() => weightsFromSafetensors(m, ck, d), 'E501', 'a.safetensors: no such file');
    });
    it('a directory without one clear checkpoint, and a missing path', () => {
      const d = idx('a.safetensors', '');
      writeFileSync(join(d, 'b.safetensors'), '');
      expectError(() => openCheckpoint(d), 'E501', 'it holds a.safetensors, b.safetensors');
      expectError(() => openCheckpoint(mkdtempSync(join(dir, 'empty-'))), 'E501', 'holds no .safetensors file or index');
      expectError(() => openCheckpoint(join(dir, 'nope.safetensors')), 'E501', 'no such file');
      expectError(() => openCheckpoint(join(dir, 'nope.index.json')), 'E501', 'no such file');
    });
  });
});
