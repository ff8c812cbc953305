/**
 * @fileoverview Test support: an independent safetensors writer (bytes laid out by hand, as
 * a Python script would) and decoders for fp8 e4m3, f16 and bf16 written from their
 * definitions, not moec's; and a small DeepSeek-V3 checkpoint in the Hugging Face layout.
 */
import { writeFileSync } from 'node:fs';
import { evalShape } from '../ir/dims.ts';
import { type Module, checkpointName } from '../ir/graph/graph.ts';
import { seededValue } from '../ir/random.ts';
import type { Tensor } from '../ir/tensor.ts';

// ---------------------------------------------------------------------------------------
// An independent safetensors writer and decoders (not moec's).

export interface Raw {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Writes tensors in the given order (not sorted), header unpadded, as a Python script would. */
export function writeRaw(path: string, tensors: Raw[]): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, ...tensors.map((t) => Buffer.from(t.bytes))]));
}

/** OCP fp8 e4m3fn, by the definition (bias 7, subnormals at exponent 0). */
export function fp8Value(c: number): number {
  const s = c & 0x80 ? -1 : 1;
  const e = (c >> 3) & 15;
  const m = c & 7;
  return e === 0 ? s * m * 2 ** -9 : s * (1 + m / 8) * 2 ** (e - 7);
}

/** IEEE binary16, by the definition. */
export function f16Value(b: number): number {
  const s = b & 0x8000 ? -1 : 1;
  const e = (b >> 10) & 31;
  const m = b & 1023;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
}

/** bfloat16: the high half of a float32. */
export function bf16Value(b: number): number {
  return new Float32Array(new Uint32Array([b << 16]).buffer)[0];
}

export const u16Bytes = (bits: number[]): Uint8Array => new Uint8Array(new Uint16Array(bits).buffer);
export const f32Bytes = (v: number[]): Uint8Array => new Uint8Array(new Float32Array(v).buffer);
export const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
/** Seeded integers in lo..hi. */
export const ints = (key: string, n: number, lo: number, hi: number): number[] =>
  Array.from({ length: n }, (_, i) => lo + Math.floor(((seededValue(key, 7, i) + 1) / 2) * (hi - lo + 1 - 1e-9)));

/** An fp8 weight: codes with magnitudes up to ~3.75 (no NaN codes) and block scales ~0.01. */
export function fp8Tensor(name: string, shape: number[]): { raws: Raw[]; values: Float32Array } {
  const [n, k] = shape;
  // Sign, a 3-bit exponent field (so |value| <= 1.875) and the mantissa: never a NaN code.
  const codes = ints(name, n * k, 0, 0xff).map((c) => (c & 0x80) | (((c >> 3) & 7) << 3) | (c & 7));
  const nb = Math.ceil(n / 128);
  const kb = Math.ceil(k / 128);
  const scales = ints(name + 's', nb * kb, 1, 30).map((v) => Math.fround(v / 1000));
  const values = new Float32Array(n * k);
  for (let r = 0; r < n; r++)
    for (let c = 0; c < k; c++) values[r * k + c] = Math.fround(fp8Value(codes[r * k + c]) * scales[Math.floor(r / 128) * kb + Math.floor(c / 128)]);
  return {
    raws: [
      { name, dtype: 'F8_E4M3', shape, bytes: Uint8Array.from(codes) },
      { name: `${name}_scale_inv`, dtype: 'F32', shape: [nb, kb], bytes: f32Bytes(scales) },
    ],
    values,
  };
}

/** The bf16 bits of a float32 (truncated: this writer need not round). */
export const bf16Bits = (v: number): number => new Uint32Array(new Float32Array([v]).buffer)[0] >>> 16;

/** A bf16 tensor of values center ± up to 1/16. */
export function bf16Tensor(name: string, shape: number[], center = 0): { raws: Raw[]; values: Float32Array } {
  const bits = ints(name, count(shape), -64, 64).map((v) => bf16Bits(center + v / 1024));
  return { raws: [{ name, dtype: 'BF16', shape, bytes: u16Bytes(bits) }], values: Float32Array.from(bits, bf16Value) };
}

// ---------------------------------------------------------------------------------------
// A small DeepSeek-V3 (examples/deepseek-v3.moe at sizes where 128×128 blocks matter: 256
// and 192 span two blocks, 160 one and a part).

export const DS_SIZES = { D: 256, F_DENSE: 160, F: 192, E: 4, K: 2, GROUPS: 2, TOPK_GROUPS: 1, DENSE_LAYERS: 1, LAYERS: 2 };

/** Every checkpoint tensor of a module (HF names through its `from` patterns) and the reference weights. */
export function deepseekCheckpoint(m: Module): { raws: Raw[]; weights: Record<string, Tensor>; values: Map<string, Float32Array> } {
  const raws: Raw[] = [];
  const values = new Map<string, Float32Array>();
  const weights: Record<string, Tensor> = {};
  for (const w of m.weights) {
    const shape = evalShape(w.type.shape, {});
    const lead = shape.slice(0, w.source!.axes.length);
    const inner = shape.slice(lead.length);
    const data = new Float32Array(count(shape));
    for (let s = 0; s < count(lead); s++) {
      const index: number[] = [];
      let r = s;
      for (let j = lead.length - 1; j >= 0; j--) {
        index.unshift(r % lead[j]);
        r = Math.floor(r / lead[j]);
      }
      const name = checkpointName(w.source!, index);
      const t = name.endsWith('proj.weight')
        ? fp8Tensor(name, inner)
        : name.endsWith('layernorm.weight')
          ? bf16Tensor(name, inner, 1)
          : name.endsWith('gate.weight')
            ? bf16Tensor(name, inner)
            : { raws: [{ name, dtype: 'F32', shape: inner, bytes: f32Bytes(ints(name, count(inner), -50, 50).map((v) => v / 1000)) }], values: Float32Array.from(ints(name, count(inner), -50, 50), (v) => Math.fround(v / 1000)) };
      raws.push(...t.raws);
      values.set(name, t.values);
      data.set(t.values, s * count(inner));
    }
    weights[w.name] = { dtype: 'f32', shape, data };
  }
  return { raws, weights, values };
}

