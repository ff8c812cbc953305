/**
 * @fileoverview Quantized weights: the one definition of what an `i8`, `i4` or `fp8e4m3`
 * weight means, shared by the interpreters, the loaders and every backend.
 *
 * A quantized weight is a tensor of integer *codes* plus f32 *scales*. Scales run along the
 * weight's reduction axis (the GEMM's K: the last axis of a `linear` weight [.., N, K], the
 * second-last of a `matmul` weight [.., K, N]) in groups of `group` elements: the scales
 * tensor has the weight's shape with that axis replaced by ceil(R / group). Element value:
 *
 *     value = fround(decode(code) * scale[.., r / group, ..])      (r: reduction index)
 *
 * - `i8`: codes -127..127 (-128 decodes as -128), decode = the integer. The usual scheme is
 *   one scale per output channel: group = R.
 * - `i4`: codes -8..7, decode = the integer; group 32 or 128. In memory (blobs, checkpoints)
 *   two codes share a byte along the LAST axis: even index in the low nibble, two's
 *   complement. The last axis must be even.
 * - `fp8e4m3`: codes are the bytes of OCP float8 e4m3fn (bias 7, no infinities, 0x7f/0xff
 *   NaN, largest 448); group 128. DeepSeek-V3's checkpoints hold one `weight_scale_inv` per
 *   128×128 block; moec expands it to one scale per (output row, 128-group), which is the
 *   same numbers repeated (`blockScalesToGroups`), so kernels see a single scale layout for
 *   every scheme and gate/up interleaving never splits a block.
 *
 * Dequantizing is one f32 multiply, so a backend that dequantizes in registers gets values
 * bit-identical to the interpreter's; only the f32 accumulation order differs. A backend may
 * also apply a group's scale once to the partial sum of x * decode(code) over the group
 * (the C decode path does): the same sum, rounded differently, held to the same tolerance.
 *
 * The quantizer (symmetric, round to nearest even): scale = fround(amax(group) / qmax)
 * (qmax 127, 7, 448; scale 1 for an all-zero group), code = round(w / scale) clamped to
 * ±qmax (fp8: encoded with round-to-nearest-even, saturating).
 *
 * Rounded activations (W8A8, `act=q8` on an i8 weight of group 32, 64 or 128; the scheme
 * `w8a8`): the GEMM that reads such a weight first rounds the activations it multiplies it
 * by (its other operand A, row by row) to int8 blocks, as llama.cpp's Q8_0 does, so a backend
 * can multiply int8 by int8. For every row of A and every block of `ACT_BLOCK` = 32
 * consecutive elements along the reduction axis K (K a multiple of 32):
 *
 *     amax = max |a| over the block;  d = fround(amax / 127)
 *     q    = d == 0 ? 0 : clamp(roundHalfEven(fround(a / d)), -127, 127)
 *     ã    = fround(q * d)
 *
 * and the GEMM multiplies ã, not a, by the dequantized weights. A block holding a NaN or an
 * infinity has no finite scale: all of its ã are NaN, so the row's GEMM outputs are NaN
 * (as they would have been with the unrounded activations). `roundActivationsQ8` is the
 * one implementation; both interpreters call it. Every GEMM reading such a weight rounds
 * (dense, grouped expert GEMMs, whose down projection rounds the hidden h inside the fused
 * op, shared experts, the LM head); the quantizer leaves the router's matrix without it.
 */
export const QUANT_DTYPES = ['i8', 'i4', 'fp8e4m3'] as const;
export type QuantDType = (typeof QUANT_DTYPES)[number];

export function isQuantDType(d: string): d is QuantDType {
  return (QUANT_DTYPES as readonly string[]).includes(d);
}

/** How a quantized weight is scaled: group size along the reduction axis. */
export interface QuantScheme {
  dtype: QuantDType;
  /** Elements of the reduction axis per scale; `0` means the whole axis (per channel). */
  group: number;
  /**
   * Quantize the router's matrix too (`--quantize-router`). By default it stays f32: its
   * scores choose the experts, so its error moves whole expert outputs, for a matrix a
   * fraction of a percent of the weights.
   */
  router?: boolean;
  /**
   * `q8`: the GEMMs round their activations to int8 blocks of 32 (see the file overview):
   * each i8 weight whose reduction length is a multiple of 32 gets `act=q8`.
   */
  activations?: ActQuant;
}

/** How a GEMM rounds the activations it multiplies a weight by: `q8`, int8 blocks of `ACT_BLOCK`. */
export type ActQuant = 'q8';
export const ACT_QUANTS: readonly ActQuant[] = ['q8'];

/** Elements of the reduction axis per activation scale (`act=q8`). */
export const ACT_BLOCK = 32;

/** Largest code magnitude the quantizer uses. */
export const QMAX: Record<QuantDType, number> = { i8: 127, i4: 7, fp8e4m3: 448 };

/** fp8 checkpoints (DeepSeek-V3) scale 128×128 blocks. */
export const FP8_BLOCK = 128;

/**
 * The schemes `--quantize` accepts: i8 (per output channel), i4 (groups of 32), i4g32,
 * i4g128, fp8 (fp8e4m3, groups of 128 as in DeepSeek-V3's 128×128 blocks), i8g32 (i8 in
 * groups of 32) and w8a8 (i8g32 whose GEMMs also round their activations to int8 blocks
 * of 32: the C backend multiplies int8 by int8).
 */
export const QUANT_SCHEMES: Record<string, QuantScheme> = {
  i8: { dtype: 'i8', group: 0 },
  i4: { dtype: 'i4', group: 32 },
  i4g32: { dtype: 'i4', group: 32 },
  i4g128: { dtype: 'i4', group: 128 },
  fp8: { dtype: 'fp8e4m3', group: FP8_BLOCK },
  fp8e4m3: { dtype: 'fp8e4m3', group: FP8_BLOCK },
  i8g32: { dtype: 'i8', group: 32 },
  w8a8: { dtype: 'i8', group: 32, activations: 'q8' },
};

/** The group actually used for a reduction length `r` (0 = per channel = r). */
export function effectiveGroup(s: QuantScheme, r: number): number {
  return s.group > 0 ? s.group : r;
}

/** Shape of the scales of a weight of `shape` with reduction axis `axis`. */
export function scaleShape(shape: readonly number[], axis: number, group: number): number[] {
  const out = [...shape];
  out[axis] = Math.ceil(shape[axis] / group);
  return out;
}

/** Bytes the codes take in memory (i4: two per byte along the last axis). */
export function codeBytes(dtype: QuantDType, shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return dtype === 'i4' ? n / 2 : n;
}

/**
 * Bytes a quantized tensor takes: its codes and its f32 scales (the one count the cost
 * model's callers, the benchmark and `moec analyze` share).
 */
export function quantizedBytes(dtype: QuantDType, shape: readonly number[], axis: number, group: number): { codes: number; scales: number } {
  return { codes: codeBytes(dtype, shape), scales: 4 * scaleShape(shape, axis, group).reduce((a, b) => a * b, 1) };
}

// ---------------------------------------------------------------------------------------
// fp8 e4m3fn
// ---------------------------------------------------------------------------------------

const FP8_TABLE = (() => {
  const t = new Float32Array(256);
  for (let c = 0; c < 256; c++) {
    const sign = c & 0x80 ? -1 : 1;
    const e = (c >> 3) & 0xf;
    const m = c & 7;
    if (e === 15 && m === 7) t[c] = NaN;
    else if (e === 0) t[c] = sign * m * 2 ** -9;
    else t[c] = sign * (1 + m / 8) * 2 ** (e - 7);
  }
  return t;
})();

/** The value of an fp8 e4m3fn byte (exact in f32). */
export function fp8e4m3Decode(code: number): number {
  return FP8_TABLE[code & 0xff];
}

/** The table of all 256 fp8 e4m3fn values, for kernels that decode by lookup. */
export function fp8e4m3Table(): Float32Array {
  return FP8_TABLE.slice();
}

/** Round half to even. (Math.round rounds halves up, so a half that went up to odd comes back.) */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Midpoints between consecutive non-negative finite fp8 values (codes c and c + 1, c in
 * 0..125): each is exact in f64, so comparing against them rounds exactly.
 */
const FP8_MIDPOINTS = (() => {
  const m = new Float64Array(126);
  for (let c = 0; c < 126; c++) m[c] = (FP8_TABLE[c] + FP8_TABLE[c + 1]) / 2;
  return m;
})();

/**
 * Encodes `x` as fp8 e4m3fn, round to nearest even, saturating at ±448; NaN → 0x7f.
 * The code just below |x| is computed, then one exact comparison with the midpoint to the
 * next code rounds it, a tie going to the even code (whose mantissa is even). Below 2^-6 the
 * codes are 2^-9 apart; above, with n = floor(|x| · 2^9) (exact scaling: |x| · 2^9 < 2^18)
 * and e its top bit, the binade's code is (e - 2) · 8 and the mantissa n's three bits below
 * e. Integer operations only: `moec pack --quantize fp8` and `moec quantize --to fp8`
 * encode every weight through here.
 */
export function fp8e4m3Encode(x: number): number {
  if (x !== x) return 0x7f;
  const sign = x < 0 || (x === 0 && 1 / x < 0) ? 0x80 : 0;
  const a = x < 0 ? -x : x;
  let c: number;
  if (a < 0.015625) c = Math.floor(a * 512); // subnormal codes 0..7
  else if (a >= 448) return sign | 126;
  else {
    const n = Math.floor(a * 512);
    const e = 31 - Math.clz32(n);
    c = ((e - 2) << 3) + ((n >> (e - 3)) & 7);
  }
  // c is the largest code whose value is <= a, and c < 126: round up past the midpoint, or to even on it.
  const mid = FP8_MIDPOINTS[c];
  if (a > mid || (a === mid && (c & 1) === 1)) c++;
  return sign | c;
}

// ---------------------------------------------------------------------------------------
// Rounded activations (act=q8)
// ---------------------------------------------------------------------------------------

/**
 * The activations `values` (rows of `K` elements, K a multiple of `ACT_BLOCK`) as a GEMM
 * that reads an `act=q8` weight multiplies them: each block of 32 rounded to int8 codes
 * times one f32 scale, as the file overview defines (a block with a NaN or an infinity:
 * all NaN). The one implementation of that definition.
 */
export function roundActivationsQ8(values: ArrayLike<number>, K: number): Float32Array {
  if (!(Number.isInteger(K) && K > 0 && K % ACT_BLOCK === 0 && values.length % K === 0))
    throw new RangeError(`roundActivationsQ8: rows of ${K} elements (a positive multiple of ${ACT_BLOCK}) cannot hold ${values.length} values`);
  const out = new Float32Array(values.length);
  for (let b = 0; b < values.length; b += ACT_BLOCK) {
    let amax = 0;
    let finite = true;
    for (let i = b; i < b + ACT_BLOCK; i++) {
      const v = values[i];
      const av = v < 0 ? -v : v;
      if (av > amax) amax = av;
      else if (av !== av) finite = false;
    }
    if (!finite || amax === Infinity) {
      out.fill(NaN, b, b + ACT_BLOCK);
      continue;
    }
    const d = Math.fround(amax / 127);
    if (d === 0) continue; // the block is zero (or rounds to a zero scale): ã = 0
    for (let i = b; i < b + ACT_BLOCK; i++) {
      const q = roundHalfEven(Math.fround(values[i] / d));
      // `| 0`: an int8 code has no -0, so a small negative a gives +0, as in integer code.
      out[i] = Math.fround(((q > 127 ? 127 : q < -127 ? -127 : q) | 0) * d);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Quantize / dequantize
// ---------------------------------------------------------------------------------------

/** A quantized tensor in memory: one code per element (unpacked), scales as f32. */
export interface QuantData {
  dtype: QuantDType;
  shape: number[];
  /** Reduction axis (non-negative). */
  axis: number;
  group: number;
  /** One code per element, row-major: integers for i8/i4, the byte for fp8. */
  codes: Int32Array;
  /** f32 scales, shape `scaleShape(shape, axis, group)`, row-major. */
  scales: Float32Array;
}

function decodeFn(dtype: QuantDType): (c: number) => number {
  return dtype === 'fp8e4m3' ? fp8e4m3Decode : (c) => c;
}

/**
 * Walks every run of elements that share one scale: calls f(scale index, first element,
 * count, stride), the run being first + j * stride for j < count. No per-run allocation:
 * `moec quantize` walks billions of elements through here.
 */
export function forEachGroup(shape: readonly number[], axis: number, group: number, f: (si: number, first: number, count: number, stride: number) => void): void {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const r = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const groups = Math.ceil(r / group);
  for (let o = 0; o < outer; o++) {
    for (let g = 0; g < groups; g++) {
      const k0 = g * group;
      const count = Math.min(r, k0 + group) - k0;
      for (let i = 0; i < inner; i++) f((o * groups + g) * inner + i, (o * r + k0) * inner + i, count, inner);
    }
  }
}

/** 1.5 · 2^52: adding and subtracting it rounds an f64 below 2^51 to an integer, half to even (the FPU's own rounding). */
const ROUND_MAGIC = 6755399441055744;

/**
 * Quantizes f32 (or f64) values of `shape` along `axis` with the scheme's group: typed-array
 * loops with no call per element (`moec pack --quantize` quantizes every weight here).
 */
export function quantize(values: ArrayLike<number>, shape: readonly number[], axis: number, scheme: QuantScheme): QuantData {
  const codes = new Int32Array(values.length);
  const group = effectiveGroup(scheme, shape[axis]);
  const scales = new Float32Array(scaleShape(shape, axis, group).reduce((a, b) => a * b, 1));
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const r = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  // Each group is `inner` runs (one per position after the axis) of up to `group` elements;
  // walking them row by row keeps every read and write sequential in memory.
  const amax = new Float64Array(inner);
  const scale = new Float64Array(inner);
  const groups = Math.ceil(r / group);
  const qmax = QMAX[scheme.dtype];
  const fp8 = scheme.dtype === 'fp8e4m3';
  for (let o = 0; o < outer; o++)
    for (let g = 0; g < groups; g++) {
      const k0 = g * group;
      const first = (o * r + k0) * inner;
      const end = (o * r + Math.min(r, k0 + group)) * inner;
      const si = (o * groups + g) * inner;
      if (inner === 1) {
        scales[si] = quantizeRun(values, first, end, qmax, fp8, codes, first);
        continue;
      }
      amax.fill(0);
      for (let i = first; i < end; i += inner)
        for (let j = 0; j < inner; j++) {
          const v = values[i + j];
          const av = v < 0 ? -v : v;
          const m = amax[j];
          if (av > m || av !== av) amax[j] = av !== av || m !== m ? NaN : av;
        }
      for (let j = 0; j < inner; j++) {
        const m = amax[j];
        scale[j] = scales[si + j] = m > 0 && m < Infinity ? Math.fround(m / qmax) : 1;
      }
      for (let i = first; i < end; i += inner)
        for (let j = 0; j < inner; j++) codes[i + j] = encodeOne(values[i + j] / scale[j], qmax, fp8);
    }
  return { dtype: scheme.dtype, shape: [...shape], axis, group, codes, scales };
}

/** One code: round(v) clamped to ±qmax (v NaN: 0), or the fp8 byte of v. */
function encodeOne(v: number, qmax: number, fp8: boolean): number {
  if (fp8) return fp8e4m3Encode(v);
  const c = v > qmax ? qmax : v < -qmax ? -qmax : v;
  return (c + ROUND_MAGIC - ROUND_MAGIC) | 0;
}

/**
 * Quantizes one group held contiguously, values[first..end), with the scheme of `qmax` and
 * `fp8`: its codes into codes[at..], and returns its scale. (A NaN in the group makes the
 * scale 1, as Math.max's NaN would.)
 */
export function quantizeRun(values: ArrayLike<number>, first: number, end: number, qmax: number, fp8: boolean, codes: Int32Array, at: number): number {
  let m = 0;
  let nan = false;
  for (let i = first; i < end; i++) {
    const v = values[i];
    const av = v < 0 ? -v : v;
    if (av > m) m = av;
    else if (av !== av) nan = true;
  }
  const s = !nan && m > 0 && m < Infinity ? Math.fround(m / qmax) : 1;
  const shift = at - first;
  if (fp8) for (let i = first; i < end; i++) codes[i + shift] = fp8e4m3Encode(values[i] / s);
  else {
    // x * (1 / s) is within 3e-14 of x / s here (|x / s| <= qmax), so it rounds alike unless
    // it lies within 1e-7 of a half: only then is the division (the definition) needed.
    const inv = 1 / s;
    for (let i = first; i < end; i++) {
      const x = values[i];
      let v = x * inv;
      const d = v - (v + ROUND_MAGIC - ROUND_MAGIC);
      if (d > 0.4999999 || d < -0.4999999) v = x / s;
      const c = v > qmax ? qmax : v < -qmax ? -qmax : v;
      codes[i + shift] = (c + ROUND_MAGIC - ROUND_MAGIC) | 0;
    }
  }
  return s;
}

/**
 * Quantizes one row of `k` values along it (the reduction axis last), values[from..from+k),
 * in groups of `group`: codes into codes[0..k), scales into scales[0..ceil(k / group)).
 * For packers that quantize a weight row by row straight into their own layout; the
 * definition the pack-time Wasm quantizer (compiler/backends/quant-simd.ts) matches bit for bit.
 */
export function quantizeRow(values: ArrayLike<number>, from: number, k: number, group: number, dtype: QuantDType, codes: Int32Array, scales: Float32Array): void {
  const qmax = QMAX[dtype];
  const fp8 = dtype === 'fp8e4m3';
  for (let g = 0, k0 = 0; k0 < k; g++, k0 += group) scales[g] = quantizeRun(values, from + k0, from + Math.min(k, k0 + group), qmax, fp8, codes, k0);
}

/** The exact f32 values of a quantized tensor (the reference semantics). */
export function dequantize(q: QuantData): Float32Array {
  const out = new Float32Array(q.codes.length);
  const decode = decodeFn(q.dtype);
  forEachGroup(q.shape, q.axis, q.group, (si, first, count, stride) => {
    const s = q.scales[si];
    const end = first + count * stride;
    for (let i = first; i < end; i += stride) out[i] = Math.fround(decode(q.codes[i]) * s);
  });
  return out;
}

/**
 * Codes as bytes in memory order: i8/fp8 one per byte, i4 two per byte along the last axis,
 * into `out` (a view of a blob, say) or a new array.
 */
export function packCodes(dtype: QuantDType, codes: Int32Array, out: Uint8Array = new Uint8Array(dtype === 'i4' ? codes.length / 2 : codes.length)): Uint8Array {
  // A Uint8Array keeps each code's low 8 bits (ToUint8), with no per-element callback.
  if (dtype !== 'i4') out.set(codes);
  else for (let i = 0; i < out.length; i++) out[i] = (codes[2 * i] & 0xf) | ((codes[2 * i + 1] & 0xf) << 4);
  return out;
}

/** The inverse of `packCodes`. */
export function unpackCodes(dtype: QuantDType, bytes: Uint8Array, count: number): Int32Array {
  const out = new Int32Array(count);
  if (dtype === 'i4') {
    for (let i = 0; i < count; i++) {
      const nib = (bytes[i >> 1] >> ((i & 1) * 4)) & 0xf;
      out[i] = nib >= 8 ? nib - 16 : nib;
    }
  } else if (dtype === 'i8') {
    for (let i = 0; i < count; i++) out[i] = (bytes[i] << 24) >> 24;
  } else {
    for (let i = 0; i < count; i++) out[i] = bytes[i];
  }
  return out;
}

/**
 * DeepSeek-V3 fp8 block scales ([.., ceil(N/128), ceil(K/128)], one per 128×128 block of a
 * [.., N, K] weight) as moec's per-row group scales [.., N, ceil(K/128)].
 */
export function blockScalesToGroups(blocks: Float32Array, shape: readonly number[], block = FP8_BLOCK): Float32Array {
  const nd = shape.length;
  const n = shape[nd - 2];
  const kg = Math.ceil(shape[nd - 1] / block);
  const nb = Math.ceil(n / block);
  const outer = shape.slice(0, nd - 2).reduce((a, b) => a * b, 1);
  const out = new Float32Array(outer * n * kg);
  for (let o = 0; o < outer; o++)
    for (let r = 0; r < n; r++)
      for (let g = 0; g < kg; g++) out[(o * n + r) * kg + g] = blocks[(o * nb + Math.floor(r / block)) * kg + g];
  return out;
}
