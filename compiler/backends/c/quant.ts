/**
 * @fileoverview The C backend's quantized weights: how codes are decoded in C.
 *
 * ir/quant.ts defines a weight element as fround(decode(code) * scale). The GEMM and router
 * micro-kernels keep exactly that: decode a code to an exact float (every i8, i4 and fp8
 * e4m3fn value is one), multiply by its group's f32 scale (one rounding, the interpreter's),
 * then the usual f32 FMA, so the dequantized weights are bit-identical to the interpreter's
 * and only the accumulation order differs, as for f32 weights. The decode path's four-panel
 * kernel (T = 1, instruction-bound once weights are 4x smaller) instead sums
 * a[k] * decode(code) over each scale group and scales the partial sum once: the same sum,
 * rounded differently, within the parity tolerance. Nothing is dequantized into memory.
 *
 * Decoders here, per dtype:
 * - portable C, one element: `moec_i8(row, v)`, `moec_i4(row, v, span)` (the panel nibble
 *   order of layout.ts), `moec_fp8(byte)`;
 * - with the target's ISA, one vector of `lanes` codes to floats: `moec_ld_i8`,
 *   `moec_ld_i4` (lanes/2 bytes: broadcast, zero-extend, per-lane shift), `moec_ld_fp8`.
 * fp8 e4m3fn without a table: the 7 magnitude bits shifted into an f32's exponent and
 * mantissa (bias 127 instead of 7) are the value times 2^-120, subnormals included (an
 * f32 subnormal holds them exactly), so one exact multiply by 2^120 finishes it; 0x7f and
 * 0xff (NaN in e4m3fn) are patched to NaN.
 */
import type { QuantDType } from '../../../ir/quant.ts';
import type { Isa } from './render.ts';

/** Every helper may go unused in one build (the SIMD path replaces the portable one). */
const MAYBE_UNUSED = `#if defined(__GNUC__) || defined(__clang__)
#define MOEC_MAYBE_UNUSED __attribute__((unused))
#else
#define MOEC_MAYBE_UNUSED
#endif`;

const PORTABLE: Record<QuantDType, string> = {
  i8: `/* i8 code v of a row: the integer. */
MOEC_MAYBE_UNUSED static float moec_i8(const signed char *row, int v) { return (float)row[v]; }`,
  i4: `/* i4 code v of a panel row: runs of \`span\` columns, byte j of a run = column j (low nibble) | column j + span/2 (high). */
MOEC_MAYBE_UNUSED static float moec_i4(const unsigned char *row, int v, int span) {
  const int j = v % span, half = span / 2;
  const int byte = row[(v - j) / 2 + j % half];
  const int nib = j >= half ? byte >> 4 : byte & 15;
  return (float)((nib ^ 8) - 8);
}
/* i4 code k of a row-major weight (two per byte along the row: even k in the low nibble). */
MOEC_MAYBE_UNUSED static float moec_i4_flat(const unsigned char *row, int k) {
  const int nib = k & 1 ? row[k >> 1] >> 4 : row[k >> 1] & 15;
  return (float)((nib ^ 8) - 8);
}`,
  fp8e4m3: `/* fp8 e4m3fn byte -> its exact value (see the file comment of moec's c/quant.ts). */
MOEC_MAYBE_UNUSED static float moec_fp8(unsigned char b) {
  const uint32_t u = (uint32_t)(b & 0x7f) << 20 | (uint32_t)(b & 0x80) << 24;
  float f;
  memcpy(&f, &u, sizeof f);
  return (b & 0x7f) == 0x7f ? NAN : f * 0x1p120f;
}`,
};

/** Vector decoders per ISA: one vector of lanes codes at p to floats. */
const SIMD: Record<string, Record<QuantDType, string>> = {
  'AVX2 + FMA': {
    i8: `MOEC_MAYBE_UNUSED static __m256 moec_ld_i8(const signed char *p) {
  long long v;
  memcpy(&v, p, 8);
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(v)));
}`,
    i4: `MOEC_MAYBE_UNUSED static __m256 moec_ld_i4(const unsigned char *p) {
  int v;
  __m256i x;
  memcpy(&v, p, 4);
  x = _mm256_cvtepu8_epi32(_mm_set1_epi32(v)); /* bytes 0..3 in lanes 0..3 and again in 4..7 */
  x = _mm256_srai_epi32(_mm256_sllv_epi32(x, _mm256_setr_epi32(28, 28, 28, 28, 24, 24, 24, 24)), 28);
  return _mm256_cvtepi32_ps(x);
}`,
    fp8e4m3: `MOEC_MAYBE_UNUSED static __m256 moec_ld_fp8(const unsigned char *p) {
  long long v;
  __m256i x, mag, bits;
  __m256 f;
  memcpy(&v, p, 8);
  x = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(v));
  mag = _mm256_and_si256(x, _mm256_set1_epi32(0x7f));
  bits = _mm256_or_si256(_mm256_slli_epi32(mag, 20), _mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x80)), 24));
  f = _mm256_mul_ps(_mm256_castsi256_ps(bits), _mm256_set1_ps(0x1p120f));
  return _mm256_or_ps(f, _mm256_castsi256_ps(_mm256_cmpeq_epi32(mag, _mm256_set1_epi32(0x7f))));
}`,
  },
  'AVX-512F': {
    i8: `MOEC_MAYBE_UNUSED static __m512 moec_ld_i8(const signed char *p) {
  __m128i v;
  memcpy(&v, p, 16);
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v));
}`,
    i4: `MOEC_MAYBE_UNUSED static __m512 moec_ld_i4(const unsigned char *p) {
  long long v;
  __m512i x;
  memcpy(&v, p, 8);
  x = _mm512_cvtepu8_epi32(_mm_set1_epi64x(v)); /* bytes 0..7 in lanes 0..7 and again in 8..15 */
  x = _mm512_srai_epi32(_mm512_sllv_epi32(x, _mm512_setr_epi32(28, 28, 28, 28, 28, 28, 28, 28, 24, 24, 24, 24, 24, 24, 24, 24)), 28);
  return _mm512_cvtepi32_ps(x);
}`,
    fp8e4m3: `MOEC_MAYBE_UNUSED static __m512 moec_ld_fp8(const unsigned char *p) {
  __m128i v;
  __m512i x, mag, bits;
  __m512 f;
  memcpy(&v, p, 16);
  x = _mm512_cvtepu8_epi32(v);
  mag = _mm512_and_si512(x, _mm512_set1_epi32(0x7f));
  bits = _mm512_or_si512(_mm512_slli_epi32(mag, 20), _mm512_slli_epi32(_mm512_and_si512(x, _mm512_set1_epi32(0x80)), 24));
  f = _mm512_mul_ps(_mm512_castsi512_ps(bits), _mm512_set1_ps(0x1p120f));
  return _mm512_mask_blend_ps(_mm512_cmpeq_epi32_mask(mag, _mm512_set1_epi32(0x7f)), f, _mm512_castsi512_ps(_mm512_set1_epi32(0x7fc00000)));
}`,
  },
};

/** The C element type of a dtype's codes. */
export function codeCType(dtype: QuantDType): string {
  return dtype === 'i8' ? 'signed char' : 'unsigned char';
}

/** Short name in C identifiers. */
export function codeName(dtype: QuantDType): string {
  return dtype === 'fp8e4m3' ? 'fp8' : dtype;
}

/** Portable C: the float of code `v` of a panel row `row` (a C expression). */
export function portableDecode(dtype: QuantDType, row: string, v: string, span: number): string {
  if (dtype === 'i8') return `moec_i8(${row}, ${v})`;
  if (dtype === 'i4') return `moec_i4(${row}, ${v}, ${span})`;
  return `moec_fp8(${row}[${v}])`;
}

/** Portable C: the float of code `k` of a row-major weight row (the router's layout). */
export function flatDecode(dtype: QuantDType, row: string, k: string): string {
  if (dtype === 'i4') return `moec_i4_flat(${row}, ${k})`;
  return portableDecode(dtype, row, k, 2);
}

/** A quantized router's logits: moec_logits over a row-major code matrix with per-(row, group) scales. */
function logitsFn(dtype: QuantDType): string {
  const ct = codeCType(dtype);
  const rowBytes = dtype === 'i4' ? '(size_t)(d / 2)' : '(size_t)d';
  return `/* out[i] = sum_k x[k] * w[i][k], w [n][d] as ${dtype} codes (row-major) with scales [n][ceil(d / group)]: in double, each weight the reference's f32. */
MOEC_MAYBE_UNUSED static void moec_logits_${codeName(dtype)}(const float *x, const ${ct} *w, const float *scales, int group, int d, int n, double *out) {
  const int groups = (d + group - 1) / group;
  int i, j, k;
  for (i = 0; i < n; i++) {
    const ${ct} *wi = w + (size_t)i * ${rowBytes};
    double s = 0;
    for (j = 0; j < groups; j++) { /* k in order, one scale per group */
      const float sc = scales[(size_t)i * groups + j];
      const int end = (j + 1) * group < d ? (j + 1) * group : d;
      for (k = j * group; k < end; k++) {
        const float wk = ${flatDecode(dtype, 'wi', 'k')} * sc;
        s += (double)x[k] * wk;
      }
    }
    out[i] = s;
  }
}`;
}

/**
 * The decoders the program's quantized dtypes need (GEMM `dtypes`, `routers`' logits):
 * portable always, the ISA's vector ones when there is one.
 */
export function quantHelpers(dtypes: ReadonlySet<QuantDType>, routers: ReadonlySet<QuantDType>, isa: Isa | undefined): string {
  if (dtypes.size === 0 && routers.size === 0) return '';
  const list = [...new Set([...dtypes, ...routers])].sort();
  const parts = [MAYBE_UNUSED, ...list.map((d) => PORTABLE[d]), ...[...routers].sort().map(logitsFn)];
  const simd = isa ? SIMD[isa.name] : undefined;
  if (simd) parts.push(`#if MOEC_SIMD\n${list.map((d) => simd[d]).join('\n')}\n#endif`);
  return `/* ---- quantized weights: codes to floats (exact; the scale multiply is the kernels') ---- */\n\n${parts.join('\n')}`;
}

/** Bytes of one vector of `lanes` codes (the step between a panel row's vectors). */
export function vectorCodeBytes(dtype: QuantDType, lanes: number): number {
  return dtype === 'i4' ? lanes / 2 : lanes;
}
