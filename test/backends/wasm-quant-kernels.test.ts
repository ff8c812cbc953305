/**
 * The Wasm backend's quantized micro-kernels on their own (`compiler/backends/wasm/quant.ts`),
 * against `ir/quant.ts`: every i8 / i4 / fp8 e4m3fn code, both weight layouts (W [N, K]
 * with transB, W [K, N]), the SIMD128 and the scalar build, full and partial groups and
 * per-channel scales, tiles that start at a column other than 0.
 * - Exactness: with one-hot A rows the kernel's output IS the dequantized weight, so it must
 *   equal `dequantize` bit for bit (every fp8 byte, subnormals and -0 included; the NaN
 *   codes must give NaN).
 * - Arithmetic: random A rows against a float64 dot product of the dequantized weights,
 *   max |Δ| <= 1e-5 relative to the output's scale (float32 accumulation).
 */
import binaryen from 'binaryen';
import { describe, expect, it } from 'vitest';
import { quantMicroKernel } from '../../compiler/backends/wasm/quant.ts';
import { type QuantDType, dequantize, packCodes, scaleShape } from '../../ir/quant.ts';

interface Case {
  dtype: QuantDType;
  transB: boolean;
  N: number;
  K: number;
  group: number;
}

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s / 2 ** 32;
  };
}

/** A random code of the dtype: i8 -128..127, i4 -8..7, fp8 any byte but the NaN ones. */
function randomCode(dtype: QuantDType, r: () => number): number {
  if (dtype === 'i8') return Math.floor(r() * 256) - 128;
  if (dtype === 'i4') return Math.floor(r() * 16) - 8;
  const c = Math.floor(r() * 256);
  return (c & 0x7f) === 0x7f ? c - 1 : c;
}

const ROWS = 2;

type Run = (j: number, codes: Int32Array, scales: Float32Array, a: Float32Array) => Float32Array;

/** Builds (validated before and after optimising) a module exporting the micro-kernel; its runner returns C (ROWS × cols). */
function kernelFor(c: Case, vl: number, cols: number): Run {
  const m = new binaryen.Module();
  let bin: Uint8Array;
  try {
    m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.SignExt | binaryen.Features.BulkMemory);
    m.setMemory(4, 4, 'memory');
    const name = quantMicroKernel(m, { q: { dtype: c.dtype, group: c.group, scales: 's' }, N: c.N, K: c.K, transB: c.transB }, ROWS, cols, vl);
    m.addFunctionExport(name, 'kernel');
    expect(m.validate()).toBeTruthy();
    m.optimize();
    expect(m.validate()).toBeTruthy();
    bin = m.emitBinary();
  } finally {
    m.dispose();
  }
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bin as Uint8Array<ArrayBuffer>), {});
  const mem = new Uint8Array((inst.exports.memory as WebAssembly.Memory).buffer);
  const kernel = inst.exports.kernel as (...args: number[]) => void;
  const at = { a: 1024, codes: 65536, scales: 131072, c: 196608 };
  return (j, codes, scales, a) => {
    mem.set(new Uint8Array(a.buffer), at.a);
    mem.set(packCodes(c.dtype, codes), at.codes);
    mem.set(new Uint8Array(scales.buffer), at.scales);
    kernel(...Array.from({ length: ROWS }, (_, i) => at.a + 4 * c.K * i), at.codes, at.scales, at.c + 4 * j, j);
    const cView = new Float32Array(mem.buffer, at.c, ROWS * c.N);
    const out = new Float32Array(ROWS * cols);
    for (let i = 0; i < ROWS; i++) for (let x = 0; x < cols; x++) out[i * cols + x] = cView[i * c.N + j + x];
    return out;
  };
}

function weightOf(c: Case, seed: number): { codes: Int32Array; scales: Float32Array; deq: Float32Array } {
  const r = rng(seed);
  const shape = c.transB ? [c.N, c.K] : [c.K, c.N];
  const axis = c.transB ? 1 : 0;
  const codes = Int32Array.from({ length: c.N * c.K }, () => randomCode(c.dtype, r));
  const scales = Float32Array.from({ length: scaleShape(shape, axis, c.group).reduce((p, d) => p * d, 1) }, () => (r() - 0.3) * 0.05);
  return { codes, scales, deq: dequantize({ dtype: c.dtype, shape, axis, group: c.group, codes, scales }) };
}

const w = (c: Case, deq: Float32Array, n: number, k: number): number => deq[c.transB ? n * c.K + k : k * c.N + n];

const CASES: Case[] = [];
for (const dtype of ['i8', 'i4', 'fp8e4m3'] as QuantDType[])
  for (const transB of [true, false]) {
    CASES.push({ dtype, transB, N: 12, K: 48, group: 32 }); // a full and a partial group
    CASES.push({ dtype, transB, N: 12, K: 22, group: 22 }); // per channel, K not a multiple of 8
    CASES.push({ dtype, transB, N: 12, K: 256, group: 128 });
  }

describe('wasm quantized micro-kernels', () => {
  for (const c of CASES)
    for (const vl of [4, 1]) {
      const cols = c.transB ? 3 : vl === 4 ? 8 : 3;
      const j = c.transB ? 5 : 2;
      const label = `${c.dtype} ${c.transB ? 'W[N,K]' : 'W[K,N]'} K=${c.K} group ${c.group} ${vl === 4 ? 'SIMD128' : 'scalar'}`;
      it(`${label}: one-hot rows give the dequantized weights bit for bit`, () => {
        const { codes, scales, deq } = weightOf(c, c.K + c.N + vl);
        const run = kernelFor(c, vl, cols);
        // Row i picks k = ki[i]: the kernel's output is then w[n, ki] exactly.
        const ki = [c.K - 1, Math.floor(c.K / 2) + 1];
        const bad: string[] = [];
        for (let shift = 0; shift < c.K; shift += 3) {
          const ks = ki.map((k) => (k + shift) % c.K);
          const a = new Float32Array(ROWS * c.K);
          ks.forEach((k, i) => (a[i * c.K + k] = 1));
          const got = run(j, codes, scales, a);
          // + 0: the kernel's sum starts at +0, so a -0 weight comes out as +0.
          for (let i = 0; i < ROWS; i++) for (let x = 0; x < cols; x++) if (!Object.is(got[i * cols + x], w(c, deq, j + x, ks[i]) + 0)) bad.push(`row ${i} col ${j + x} k ${ks[i]}: ${got[i * cols + x]} vs ${w(c, deq, j + x, ks[i])}`);
        }
        expect(bad.slice(0, 5)).toEqual([]);
      });
      it(`${label}: random rows match a float64 dot product`, () => {
        const { codes, scales, deq } = weightOf(c, 3 * c.K + vl);
        const r = rng(99);
        const a = Float32Array.from({ length: ROWS * c.K }, () => r() * 2 - 1);
        const got = kernelFor(c, vl, cols)(j, codes, scales, a);
        let scale = 0;
        let err = 0;
        for (let i = 0; i < ROWS; i++)
          for (let x = 0; x < cols; x++) {
            let want = 0;
            for (let k = 0; k < c.K; k++) want += a[i * c.K + k] * w(c, deq, j + x, k);
            scale = Math.max(scale, Math.abs(want));
            err = Math.max(err, Math.abs(got[i * cols + x] - want));
          }
        expect(err / scale).toBeLessThanOrEqual(1e-5);
      });
    }

  for (const vl of [4, 1])
    it(`fp8 NaN codes (0x7f, 0xff) decode to NaN (${vl === 4 ? 'SIMD128' : 'scalar'})`, () => {
      const c: Case = { dtype: 'fp8e4m3', transB: true, N: 4, K: 16, group: 16 };
      const codes = new Int32Array(c.N * c.K).fill(0x38); // 1.0
      codes[1 * c.K + 3] = 0x7f;
      codes[2 * c.K + 9] = 0xff;
      const a = new Float32Array(ROWS * c.K).fill(1);
      const got = kernelFor(c, vl, 3)(0, codes, new Float32Array(c.N).fill(2), a);
      expect(Array.from(got.slice(0, 3)).map(Number.isNaN)).toEqual([false, true, true]);
      expect(got[0]).toBe(32);
    });
});
