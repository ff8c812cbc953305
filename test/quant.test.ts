// The quantization codec (ir/quant.ts): fp8 e4m3fn coding, the symmetric quantizers, i4
// packing and DeepSeek block scales. Expected values are computed here from the format's
// definition, not read back from the code under test.
import { describe, expect, it } from 'vitest';
import {
  blockScalesToGroups, dequantize, fp8e4m3Decode, fp8e4m3Encode, packCodes, quantize, QUANT_SCHEMES, roundHalfEven, unpackCodes,
} from '../ir/quant.ts';
import { seededValue } from '../ir/random.ts';

describe('fp8 e4m3fn', () => {
  it('decodes the format by definition', () => {
    expect(fp8e4m3Decode(0x00)).toBe(0);
    expect(fp8e4m3Decode(0x01)).toBe(2 ** -9); // smallest subnormal
    expect(fp8e4m3Decode(0x08)).toBe(2 ** -6); // smallest normal
    expect(fp8e4m3Decode(0x38)).toBe(1);
    expect(fp8e4m3Decode(0x7e)).toBe(448);
    expect(fp8e4m3Decode(0xfe)).toBe(-448);
    expect(fp8e4m3Decode(0x7f)).toBeNaN();
    expect(fp8e4m3Decode(0xff)).toBeNaN();
  });
  it('round-trips every finite code, and rounds to nearest even between codes', () => {
    for (let c = 0; c < 256; c++) {
      if ((c & 0x7f) === 0x7f) continue;
      expect(fp8e4m3Encode(fp8e4m3Decode(c))).toBe(c);
    }
    for (let c = 0; c < 0x7e; c++) {
      const lo = fp8e4m3Decode(c);
      const hi = fp8e4m3Decode(c + 1);
      const mid = (lo + hi) / 2;
      expect(fp8e4m3Encode(mid)).toBe(c % 2 === 0 ? c : c + 1);
      expect(fp8e4m3Encode(lo + (hi - lo) * 0.26)).toBe(c);
      expect(fp8e4m3Encode(lo + (hi - lo) * 0.74)).toBe(c + 1);
    }
  });
  it('agrees with the encoder by exponent arithmetic (the first definition) on every tie, near-tie and random value', () => {
    // Round a * 2^(3 - e) to nearest even within the binade of a: the reference.
    const half = (v: number): number => (Math.abs(v - Math.trunc(v)) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
    const reference = (x: number): number => {
      if (Number.isNaN(x)) return 0x7f;
      const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
      const a = Math.abs(x);
      let code: number;
      if (a < 2 ** -6) code = half(a * 2 ** 9);
      else {
        let e = Math.floor(Math.log2(a));
        if (2 ** e > a) e--;
        else if (2 ** (e + 1) <= a) e++;
        const n = half(a * 2 ** (3 - e));
        code = e + 7 > 15 ? 0x7e : ((e + 7) << 3) + (n - 8);
      }
      return sign | Math.min(code, 0x7e);
    };
    const xs: number[] = [0, -0, Infinity, -Infinity, 448, 449, 463.99, 464, 465, 480, 1e300, 5e-324];
    for (let c = 0; c < 0x7e; c++) {
      const mid = (fp8e4m3Decode(c) + fp8e4m3Decode(c + 1)) / 2;
      xs.push(mid, mid * (1 + 2 ** -52), mid * (1 - 2 ** -52), fp8e4m3Decode(c), Math.fround(mid), Math.fround(mid) * (1 + 2 ** -23));
    }
    for (let i = 0; i < 100_000; i++) xs.push(Math.sin(i * 12.9898) * 2 ** ((i % 40) - 16));
    let bad = 0;
    for (const x of xs) for (const v of [x, -x]) if (fp8e4m3Encode(v) !== reference(v)) bad++;
    expect(bad).toBe(0);
  });

  it('saturates at ±448 and keeps NaN', () => {
    expect(fp8e4m3Encode(1e9)).toBe(0x7e);
    expect(fp8e4m3Encode(-500)).toBe(0xfe);
    expect(fp8e4m3Encode(Infinity)).toBe(0x7e);
    expect(fp8e4m3Encode(NaN)).toBe(0x7f);
  });
});

describe('quantize / dequantize', () => {
  const shape = [3, 5, 256];
  const w = Float32Array.from({ length: 3 * 5 * 256 }, (_, i) => seededValue('w', 7, i));

  it('i8 per channel: one scale per row, error within half a step', () => {
    const q = quantize(w, shape, 2, QUANT_SCHEMES.i8);
    expect(q.scales.length).toBe(15);
    const d = dequantize(q);
    for (let row = 0; row < 15; row++) {
      let amax = 0;
      for (let k = 0; k < 256; k++) amax = Math.max(amax, Math.abs(w[row * 256 + k]));
      const s = Math.fround(amax / 127);
      expect(q.scales[row]).toBe(s);
      for (let k = 0; k < 256; k++) {
        const i = row * 256 + k;
        expect(Math.abs(q.codes[i])).toBeLessThanOrEqual(127);
        expect(d[i]).toBe(Math.fround(q.codes[i] * s));
        expect(Math.abs(d[i] - w[i])).toBeLessThanOrEqual(s / 2 + 1e-7);
      }
    }
  });
  it('i4 groups of 32 along the reduction axis, and along axis -2', () => {
    const q = quantize(w, shape, 2, QUANT_SCHEMES.i4);
    expect(q.scales.length).toBe(15 * 8);
    const d = dequantize(q);
    for (let i = 0; i < w.length; i++) {
      const s = q.scales[Math.floor(i / 256) * 8 + Math.floor((i % 256) / 32)];
      expect(Math.abs(d[i] - w[i])).toBeLessThanOrEqual(s / 2 + 1e-7);
    }
    // Reduction along axis 1 of [3, 64, 4]: groups of 32 rows, one scale per column.
    const q2 = quantize(w.subarray(0, 768), [3, 64, 4], 1, QUANT_SCHEMES.i4);
    expect(q2.scales.length).toBe(3 * 2 * 4);
    const col = Array.from({ length: 32 }, (_, r) => Math.abs(w[(64 + 32 + r) * 4 + 3]));
    expect(q2.scales[(1 * 2 + 1) * 4 + 3]).toBe(Math.fround(Math.max(...col) / 7));
  });
  it('fp8 groups of 128: relative error within the format', () => {
    const q = quantize(w, shape, 2, QUANT_SCHEMES.fp8);
    const d = dequantize(q);
    for (let i = 0; i < w.length; i++) {
      const s = q.scales[Math.floor(i / 128)];
      // e4m3 has 3 mantissa bits: relative error <= 2^-4 for normals, 2^-10 * s absolute below.
      expect(Math.abs(d[i] - w[i])).toBeLessThanOrEqual(Math.max(Math.abs(w[i]) * 2 ** -4, s * 2 ** -10) + 1e-7);
    }
  });
  it('an all-zero group gets scale 1 and codes 0', () => {
    const q = quantize(new Float32Array(64), [2, 32], 1, QUANT_SCHEMES.i8);
    expect([...q.scales]).toEqual([1, 1]);
    expect(q.codes.every((c) => c === 0)).toBe(true);
  });
  it('rounds halves to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2]);
  });
});

describe('code packing', () => {
  it('i4: even index in the low nibble, two\'s complement', () => {
    const codes = Int32Array.from([1, -1, -8, 7, 0, 3]);
    const bytes = packCodes('i4', codes);
    expect([...bytes]).toEqual([0xf1, 0x78, 0x30]);
    expect([...unpackCodes('i4', bytes, 6)]).toEqual([...codes]);
  });
  it('i8 and fp8 are one byte each', () => {
    expect([...unpackCodes('i8', packCodes('i8', Int32Array.from([-128, -1, 127])), 3)]).toEqual([-128, -1, 127]);
    expect([...unpackCodes('fp8e4m3', packCodes('fp8e4m3', Int32Array.from([0xfe, 0x38])), 2)]).toEqual([0xfe, 0x38]);
  });
});

describe('DeepSeek block scales', () => {
  it('expands [ceil(N/128), ceil(K/128)] blocks to one scale per row and 128-group', () => {
    // Weight [2 experts, 200 rows, 300 cols]: 2 x 3 blocks per expert.
    const blocks = Float32Array.from({ length: 2 * 2 * 3 }, (_, i) => i + 1);
    const g = blockScalesToGroups(blocks, [2, 200, 300]);
    expect(g.length).toBe(2 * 200 * 3);
    expect(g[(0 * 200 + 0) * 3 + 2]).toBe(3);
    expect(g[(0 * 200 + 127) * 3 + 1]).toBe(2);
    expect(g[(0 * 200 + 128) * 3 + 0]).toBe(4);
    expect(g[(1 * 200 + 199) * 3 + 2]).toBe(12);
  });
});
