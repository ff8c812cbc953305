/**
 * @fileoverview Seeded random tensors that every moec tool and backend reproduces bit for bit:
 * the interpreter, the generated C, WGSL and test scripts in numpy all draw the same numbers
 * for the same (tensor name, seed, element index). To make that easy, the generator is
 * stateless (element `i` is computed from `i` alone, so any thread can draw any element)
 * and uses only unsigned 32-bit integer arithmetic — wrapping multiply, xor, add, shifts —
 * until one final, exactly specified conversion to float32.
 *
 * The algorithm (all arithmetic mod 2^32, `>>` is a logical shift):
 *
 *     fmix32(h)  = MurmurHash3's 32-bit finalizer:
 *                  h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13; h *= 0xC2B2AE35; h ^= h >> 16
 *     hash32(s)  = FNV-1a over the UTF-8 bytes of s:
 *                  h = 0x811C9DC5; for each byte b: h = (h ^ b) * 0x01000193
 *     key        = fmix32(hash32(name) ^ fmix32(seed))
 *     h_i        = fmix32(fmix32(key + i * 0x9E3779B9) ^ key)   for element i (row-major, mod 2^32)
 *     u_i        = (h_i >> 8) * 2^-23 - 1                        in [-1, 1), a multiple of 2^-23
 *     value_i    = f32(u_i * f32(scale))                         one float32 multiply
 *
 * Why two rounds of fmix32 per element: with one round, `fmix32(key + i*φ)` is a Weyl
 * sequence through a bijection, and since φ = 0x9E3779B9 is odd, every key's stream is the
 * same sequence shifted by (key2 - key1)/φ; two large tensors would overlap (be exact
 * copies of each other over a range) with probability about n/2^32 each, which is a few
 * percent for a 100M-element model. Xoring the key back in after the first avalanche makes
 * the streams of different keys unrelated, and the second fmix32 spreads that xor.
 * `u_i` and the product are exact in float32 arithmetic (u has 24 significant bits; the
 * product of two floats is exact in float64 before the one rounding), so C `float`, WGSL
 * `f32` and numpy `float32` all round the same way.
 *
 * Reference implementation in C (`scale` already a float):
 *
 *     static uint32_t fmix32(uint32_t h) {
 *       h ^= h >> 16; h *= 0x85EBCA6Bu; h ^= h >> 13; h *= 0xC2B2AE35u; return h ^ (h >> 16);
 *     }
 *     static uint32_t seeded_key(const char *name, uint32_t seed) {
 *       uint32_t h = 0x811C9DC5u;
 *       for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x01000193u;
 *       return fmix32(h ^ fmix32(seed));
 *     }
 *     static float seeded_value(uint32_t key, uint32_t i) {  // in [-1, 1)
 *       uint32_t h = fmix32(fmix32(key + i * 0x9E3779B9u) ^ key);
 *       return (float)(h >> 8) * 0x1p-23f - 1.0f;
 *     }
 *     // element i of the tensor: seeded_value(key, i) * scale
 *
 * Reference implementation in numpy (test/random.test.ts runs this block against ours):
 *
 * ```python
 * import numpy as np
 * def fmix32(h):  # h: uint32 ndarray; numpy arrays wrap mod 2^32
 *     h = h ^ (h >> 16); h = h * np.uint32(0x85EBCA6B)
 *     h = h ^ (h >> 13); h = h * np.uint32(0xC2B2AE35)
 *     return h ^ (h >> 16)
 * def random_uniform(name, seed, shape, scale):
 *     h = 0x811C9DC5
 *     for b in name.encode("utf-8"): h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
 *     key = fmix32(np.array([h], np.uint32) ^ fmix32(np.array([seed], np.uint32)))
 *     i = np.arange(int(np.prod(shape)), dtype=np.uint32)
 *     h = fmix32(fmix32(key + i * np.uint32(0x9E3779B9)) ^ key)
 *     u = (h >> 8).astype(np.float32) * np.float32(2.0**-23) - np.float32(1)
 *     return (u * np.float32(scale)).reshape(shape)
 * ```
 *
 * Seeds are uint32. Names containing lone UTF-16 surrogates are hashed as TextEncoder
 * encodes them (each becomes U+FFFD); real tensor names never contain them.
 */
import type { Tensor } from './tensor.ts';

const TWO_POW_M23 = 2 ** -23;
const GOLDEN = 0x9e3779b9;
const utf8 = new TextEncoder();

/** MurmurHash3's 32-bit finalizer: a bijection on uint32 with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a (32-bit) over the UTF-8 bytes of `s`. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of utf8.encode(s)) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

/** The per-tensor stream key: `fmix32(hash32(name) ^ fmix32(seed))`. */
export function seededKey(name: string, seed: number): number {
  checkSeed(seed);
  return fmix32(hash32(name) ^ fmix32(seed));
}

/** Element `i` of the stream for (`name`, `seed`) as a value in [-1, 1), before scaling. */
export function seededValue(name: string, seed: number, i: number): number {
  if (!Number.isInteger(i) || i < 0 || i > 0xffffffff) {
    throw new RangeError(`element index must be an integer in 0..2^32-1, got ${i}`);
  }
  return unitValue(seededKey(name, seed), i);
}

/**
 * A tensor of dtype 'f32' whose element i is `f32(seededValue(name, seed, i) * f32(scale))`,
 * uniform in [-scale, scale). With `f64` the same float32 values are stored in a
 * Float64Array, so float32 and float64 runs of the interpreter see identical inputs.
 */
export function randomUniform(name: string, seed: number, shape: number[], scale: number, f64 = false): Tensor {
  const key = seededKey(name, seed);
  if (!Number.isFinite(scale)) throw new RangeError(`scale must be a finite number, got ${scale}`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`bad dimension ${d} in shape [${shape.join(', ')}]`);
    n *= d;
  }
  // The index is taken mod 2^32 by the algorithm; beyond that the stream would repeat.
  if (n > 2 ** 32) throw new RangeError(`tensor '${name}' has ${n} elements; seeded tensors hold at most 2^32`);
  const s = Math.fround(scale);
  const data = f64 ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.fround(unitValue(key, i) * s);
  return { dtype: 'f32', shape: [...shape], data };
}

/**
 * The default scale of a seeded tensor, as a float32 value: 1 for inputs; for weights of
 * rank >= 2, `f32(1 / sqrt(fan_in))` computed in float64 then rounded (fan_in is the last
 * dimension, the `in` of a linear weight [out, in]), which keeps activations near unit
 * size through a matmul; 0.5 for rank-0/1 weights (biases, norm scales), so they perturb
 * without dominating. A zero fan-in (an empty tensor) gives 1.
 */
export function initScale(kind: 'input' | 'weight', shape: readonly number[]): number {
  if (kind === 'input') return 1;
  if (shape.length < 2) return 0.5;
  const fanIn = shape[shape.length - 1];
  return fanIn > 0 ? Math.fround(1 / Math.sqrt(fanIn)) : 1;
}

/** u_i for an already-validated key and index (see the file header). */
function unitValue(key: number, i: number): number {
  const h = fmix32(fmix32((key + Math.imul(i, GOLDEN)) >>> 0) ^ key);
  return (h >>> 8) * TWO_POW_M23 - 1;
}

function checkSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in 0..4294967295, got ${seed}`);
  }
}
