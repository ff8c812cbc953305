/**
 * The GGUF writer (ir/gguf-write.ts) read back by moec's reader (ir/gguf.ts): metadata of
 * every type, tensor infos fastest-dimension-first, aligned data; Q8_0 by llama.cpp's
 * reference quantizer's rules (f32 d = amax / 127, codes roundf(x / d) with ties away from
 * zero, d stored as f16), checked on hand-made blocks, not against the writer's own helper.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeOutputFile } from '../compiler/io/output.ts';
import { f16ToF32, f32ToF16Bits } from '../ir/float16.ts';
import { decodeBlocks, decodeFloats, readGguf } from '../ir/gguf.ts';
import { ggufChunks, q8_0Blocks } from '../ir/gguf-write.ts';
import { quantize } from '../ir/quant.ts';

const dir = mkdtempSync(join(tmpdir(), 'moec-gguf-write-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('GGUF writer', () => {
  it('writes metadata, tensor infos and aligned data that the reader reads back', () => {
    const a = Float32Array.from({ length: 3 * 5 }, (_, i) => i / 7 - 1);
    const b = Float32Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i) * (i % 5));
    const path = join(dir, 'm.gguf');
    const { size, chunks } = ggufChunks(
      [
        ['general.architecture', { type: 'string', value: 'qwen3moe' }],
        ['x.u32', { type: 'u32', value: 7 }],
        ['x.i32', { type: 'i32', value: -3 }],
        ['x.f32', { type: 'f32', value: 1e-6 }],
        ['x.bool', { type: 'bool', value: true }],
        ['x.u64', { type: 'u64', value: 2 ** 40 }],
        ['x.tokens', { type: 'array', item: 'string', value: ['a', 'Ġthe', ''] }],
        ['x.types', { type: 'array', item: 'i32', value: [1, 5] }],
      ],
      [
        { name: 'a.weight', shape: [3, 5], type: 'F32' },
        { name: 'b.weight', shape: [2, 64], type: 'Q8_0' },
      ],
      (name) => (name === 'a.weight' ? a : b),
    );
    writeOutputFile(path, chunks);
    const f = readGguf(path);
    expect(f.version).toBe(3);
    expect(Object.fromEntries(f.metadata)).toEqual({
      'general.alignment': 32,
      'general.architecture': 'qwen3moe',
      'x.u32': 7,
      'x.i32': -3,
      'x.f32': 1e-6,
      'x.bool': true,
      'x.u64': 2n ** 40n,
      'x.tokens': { array: 8, count: 3 },
      'x.types': { array: 5, count: 2 },
    });
    const ta = f.tensors.get('a.weight')!;
    const tb = f.tensors.get('b.weight')!;
    expect([ta.ne, ta.type, tb.ne, tb.type]).toEqual([[5, 3], 0, [64, 2], 8]);
    expect(ta.offset % 32).toBe(0);
    expect(tb.offset % 32).toBe(0);
    expect(tb.offset + tb.bytes).toBeLessThanOrEqual(size);
    expect(decodeFloats(0, f.read(ta.offset, ta.bytes))).toEqual(a);
    const { codes, scales } = decodeBlocks(8, f.read(tb.offset, tb.bytes));
    const want = q8_0Blocks(b);
    expect(Array.from(codes)).toEqual(Array.from(want.codes));
    expect(scales).toEqual(want.scales);
  });

  it('quantizes Q8_0 as llama.cpp does: f32 d = amax/127 stored as f16, ties away from zero, a zero block all zeros', () => {
    // amax 127: d = 1 exactly, so x = ±2.5 is a tie: llama.cpp's roundf gives ±3 (moec's own quantizer, half-even, ±2).
    const tie = new Float32Array(32);
    tie.set([127, 2.5, -2.5, 0.5, -0.49]);
    const q = q8_0Blocks(tie);
    expect(Array.from(q.codes.slice(0, 5))).toEqual([127, 3, -3, 1, 0]);
    expect(q.scales[0]).toBe(1);
    // amax 1: d = fround(1/127), then stored as f16 (not its f32 value); codes from the f32 d's reciprocal.
    const one = Float32Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : i / 40));
    const r = q8_0Blocks(one);
    const d = Math.fround(1 / 127);
    expect(r.scales[0]).toBe(f16ToF32(f32ToF16Bits(d)));
    expect(r.scales[0]).not.toBe(d);
    const id = Math.fround(1 / d);
    expect(Array.from(r.codes)).toEqual(Array.from(one, (x) => Math.round(Math.fround(x * id))));
    const zero = q8_0Blocks(new Float32Array(32));
    expect([zero.scales[0], ...zero.codes].every((x) => x === 0)).toBe(true);
  });

  it("differs from moec's own i8 group-32 quantizer only by the f16 scale and in ties (why the parity test feeds moec the Q8_0 blocks)", () => {
    const v = Float32Array.from({ length: 32 * 256 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
    v.set([127, 2.5, -2.5], 0); // a block whose d is 1: ties at ±2.5
    const q = q8_0Blocks(v);
    const m = quantize(v, [256, 32], 1, { dtype: 'i8', group: 32 });
    let codesDiffer = 0;
    for (let b = 0; b < 256; b++) {
      // moec keeps d in f32; Q8_0 stores it as f16 (within half an f16 ulp: 2^-11 relative).
      expect(Math.abs(q.scales[b] - m.scales[b])).toBeLessThanOrEqual(m.scales[b] * 2 ** -11);
      for (let j = 0; j < 32; j++) {
        const d = q.codes[b * 32 + j] - m.codes[b * 32 + j];
        expect(Math.abs(d)).toBeLessThanOrEqual(1);
        if (d !== 0) codesDiffer++;
      }
    }
    // The tie block: llama.cpp rounds half away from zero, moec half to even.
    expect([q.codes[1], q.codes[2], m.codes[1], m.codes[2]]).toEqual([3, -3, 2, -2]);
    expect(codesDiffer).toBeLessThan(v.length / 100);
  });

  it('refuses values that do not fill a tensor, and Q8_0 rows not a multiple of 32', () => {
    const run = (shape: number[], type: 'F32' | 'Q8_0', n: number) => () => [...ggufChunks([], [{ name: 't', shape, type }], () => new Float32Array(n)).chunks];
    expect(run([2, 3], 'F32', 5)).toThrow(/tensor t \[2, 3\] was given 5 values, not 6/);
    expect(run([2, 48], 'Q8_0', 96)).toThrow(/rows of 48, not a multiple of 32/);
  });
});
