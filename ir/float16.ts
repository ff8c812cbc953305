/**
 * @fileoverview Half-precision floats (IEEE float16 and bfloat16): exact decoding, and
 * rounding to nearest-even from a double. Used by the safetensors reader/writer and by the
 * interpreter to emulate f16/bf16 storage. No I/O here, so it can run in a browser.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// All conversions go through one rounding routine on doubles (roundToPrecision); encoding
// then only repacks the bits of an already representable value, so the two can't disagree.

const f64Scratch = new Float64Array(1);
const u32Scratch = new Uint32Array(f64Scratch.buffer);
const HI_WORD = LITTLE_ENDIAN ? 1 : 0;
const f32Scratch = new Float32Array(1);
const f32Bits = new Uint32Array(f32Scratch.buffer);

/** float16 rounds to Infinity from here up: the midpoint of 65504 and 2^16, a tie to even. */
const F16_OVERFLOW = 65520;
/** bfloat16 likewise: the midpoint of its largest value (2 - 2^-7) * 2^127 and 2^128. */
const BF16_OVERFLOW = (2 - 2 ** -8) * 2 ** 127;

/** 2^k for an integer k in the normal double range, written as bits (cheaper than 2 ** k). */
function pow2(k: number): number {
  u32Scratch[HI_WORD] = (k + 1023) << 20;
  u32Scratch[1 - HI_WORD] = 0;
  return f64Scratch[0];
}

/**
 * Rounds `x` to a binary float with `mant` stored mantissa bits whose smallest normal
 * exponent is `minExp`, to nearest with ties to even, straight from the double (a detour
 * through float32 could round twice). Subnormals come out right because the exponent is
 * clamped at `minExp`, which fixes the quantum there; `overflow` and above become Infinity.
 */
function roundToPrecision(x: number, mant: number, minExp: number, overflow: number): number {
  const a = Math.abs(x);
  if (!(a < overflow)) return a === a ? (x < 0 ? -Infinity : Infinity) : NaN;
  f64Scratch[0] = a;
  const e = Math.max(((u32Scratch[HI_WORD] >>> 20) & 0x7ff) - 1023, minExp);
  // Adding 2^(e - mant + 52) lines a's last kept bit up with the sum's last bit, so the
  // (round-to-nearest-even) double addition does the rounding; subtracting is then exact.
  const big = pow2(e - mant + 52);
  const r = a + big - big;
  return x < 0 ? -r : x === 0 ? x : r;
}

let f16Table: Float32Array | undefined;

/** The value of float16 bits (an integer 0..0xFFFF), exactly. */
export function f16ToF32(bits: number): number {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let b = 0; b < 65536; b++) {
      const s = b & 0x8000 ? -1 : 1;
      const e = (b >>> 10) & 0x1f;
      const m = b & 0x3ff;
      f16Table[b] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1024 + m) * 2 ** (e - 25);
    }
  }
  return f16Table[bits & 0xffff];
}

/** The float16 bits of `x` rounded to nearest, ties to even (Infinity on overflow, NaN 0x7E00). */
export function f32ToF16Bits(x: number): number {
  const r = roundToF16(x);
  if (r !== r) return 0x7e00;
  f32Scratch[0] = r; // exact: every float16 value is a float32
  const b = f32Bits[0];
  const sign = (b >>> 16) & 0x8000;
  const a = Math.abs(r);
  if (a < 2 ** -14) return sign | (a * 2 ** 24); // zero or subnormal: a whole number of 2^-24
  if (a === Infinity) return sign | 0x7c00;
  // Rebias the exponent (127 -> 15) and keep the top 10 of float32's 23 mantissa bits.
  return sign | ((((b >>> 23) & 0xff) - 112) << 10) | ((b >>> 13) & 0x3ff);
}

/** The value of bfloat16 bits (an integer 0..0xFFFF), exactly: they are a float32's top half. */
export function bf16ToF32(bits: number): number {
  f32Bits[0] = (bits & 0xffff) << 16;
  return f32Scratch[0];
}

/** The bfloat16 bits of `x` rounded to nearest, ties to even (Infinity on overflow, NaN 0x7FC0). */
export function f32ToBf16Bits(x: number): number {
  const r = roundToBf16(x);
  if (r !== r) return 0x7fc0;
  f32Scratch[0] = r; // exact: every bfloat16 value is a float32 with a zero low half
  return f32Bits[0] >>> 16;
}

/** `x` rounded to the nearest float16 value, ties to even, as a number (emulates f16 storage). */
export function roundToF16(x: number): number {
  return roundToPrecision(x, 10, -14, F16_OVERFLOW);
}

/** `x` rounded to the nearest bfloat16 value, ties to even, as a number (emulates bf16 storage). */
export function roundToBf16(x: number): number {
  return roundToPrecision(x, 7, -126, BF16_OVERFLOW);
}
