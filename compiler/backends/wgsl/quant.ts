/**
 * @fileoverview WGSL for quantized weights (exact semantics: `ir/quant.ts`): the codes bound
 * as `array<u32>` and unpacked in registers, the scales as an `array<f32>` weight of their
 * own, so no dequantized copy of a weight exists in GPU memory.
 *
 * Codes lie in the blob as `packCodes` writes them, little-endian: i8 and fp8 four per word
 * (code c in byte c & 3 of word c >> 2), i4 eight per word (code c in the nibble c & 7, the
 * even code of a byte in its low nibble). A code index counts from the operand's parameter
 * offset, which is in codes, so a binding (rounded down to 256 bytes) or a loop slice may
 * start anywhere inside a word.
 *
 * Decoding: i8 and i4 sign-extend with an i32 shift pair (`(x << 24) >> 24`; WGSL's `>>` on
 * i32 is arithmetic); fp8 e4m3fn is rebuilt bit by bit as an f32 (exponent bias 7 → 127,
 * subnormals m·2⁻⁹ exactly, 0x7f/0xff a quiet NaN with the code's sign). The dequantized
 * value is `decode(code) * scale`, one correctly rounded f32 multiply, as the reference's
 * `fround(decode(code) * scale)`; the GEMMs then accumulate it in f32.
 */
import type { KBuffer } from '../../../ir/kernel/kernel.ts';
import { QUANT_DTYPES, type QuantDType, isQuantDType, scaleShape } from '../../../ir/quant.ts';
import { fail } from '../../../ir/diagnostics.ts';

/** How a quantized weight operand is read: its codes, and where its scales operand is. */
export interface OperandQuant {
  dtype: QuantDType;
  /** Role of the f32 scales operand (its accessor is `ld_<scales>`), and its buffer. */
  scales: string;
  scalesBuffer: string;
  /** The weight's static shape, the reduction axis the scales run along, the group. */
  shape: number[];
  axis: number;
  group: number;
}

/** Codes per 32-bit word. */
export function codesPerWord(dtype: QuantDType): number {
  return dtype === 'i4' ? 8 : 4;
}

/** Bytes of one element of a weight buffer as the blob holds it (i4: half a byte). */
export function elementBytes(dtype: string): number {
  return !isQuantDType(dtype) ? 4 : dtype === 'i4' ? 0.5 : 1;
}

/** What the manifest says about a quantized weight binding (its offset parameter counts codes). */
export function quantBinding(q: OperandQuant): Record<string, unknown> {
  return { wgsl: 'array<u32>', codes: `${q.dtype}, ${codesPerWord(q.dtype)} per word, little-endian; its offset parameter counts codes`, scales: q.scales, scaleAxis: q.axis, group: q.group };
}

/** The decoder `code_<dtype>(word, j) -> f32` of the j-th code of a word. */
const DECODERS: Record<QuantDType, string> = {
  i8: `fn code_i8(w: u32, j: u32) -> f32 { return f32((bitcast<i32>(w) << (24u - 8u * j)) >> 24u); }`,
  i4: `fn code_i4(w: u32, j: u32) -> f32 { return f32((bitcast<i32>(w) << (28u - 4u * j)) >> 28u); }`,
  fp8e4m3: `fn code_fp8e4m3(w: u32, j: u32) -> f32 {
  let b = (w >> (8u * j)) & 0xffu;
  let s = (b & 0x80u) << 24u;
  let e = (b >> 3u) & 15u;
  let m = b & 7u;
  if (e == 0u) { return bitcast<f32>(bitcast<u32>(f32(m) * 0.001953125) | s); }
  if (e == 15u && m == 7u) { return bitcast<f32>(s | 0x7fc00000u); }
  return bitcast<f32>(s | ((e + 120u) << 23u) | (m << 20u));
}`,
};

/** The decoders a kernel's operands need (nothing for an all-f32 kernel). */
export function decoders(quants: readonly OperandQuant[]): string {
  const used = [...new Set(quants.map((q) => q.dtype))];
  return used.map((d) => DECODERS[d] + '\n').join('');
}

/**
 * A quantized weight operand's WGSL: its u32 binding, `cd_ROLE(i)` (code i decoded),
 * `dq_ROLE(i, si)` (code i with scale si: the GEMMs compute si from their own indices), `ld_ROLE(i)` (scale index from the
 * element index and the shape, for every other reader) and `rc_ROLE(i)` (code i's bits,
 * for a tile staged still quantized). `slot` is its offset parameter.
 */
export function quantAccessor(role: string, q: OperandQuant, binding: number, slot: string): string[] {
  const per = codesPerWord(q.dtype);
  const shift = Math.log2(per);
  const inner = q.shape.slice(q.axis + 1).reduce((a, b) => a * b, 1);
  const r = q.shape[q.axis];
  const groups = Math.ceil(r / q.group);
  // Scale of element i: (outer, reduction index / group, inner) in the scales' shape.
  const within = inner === 1 ? 'i' : `i / ${inner}u`;
  const outer = `${within} / ${r}u`;
  const red = `(${within} % ${r}u) / ${q.group}u`;
  const si = `(${outer}) * ${groups}u + ${red}`;
  return [
    `@group(0) @binding(${binding}) var<storage, read> w_${role}: array<u32>;`,
    `fn cd_${role}(i: u32) -> f32 { let c = ${slot} + i; return code_${q.dtype}(w_${role}[c >> ${shift}u], c & ${per - 1}u); }`,
    `fn dq_${role}(i: u32, si: u32) -> f32 { return cd_${role}(i) * ld_${q.scales}(si); }`,
    `fn ld_${role}(i: u32) -> f32 { return dq_${role}(i, ${inner === 1 ? si : `(${si}) * ${inner}u + i % ${inner}u`}); }`,
    `fn rc_${role}(i: u32) -> u32 { let c = ${slot} + i; return (w_${role}[c >> ${shift}u] >> ((c & ${per - 1}u) * ${32 / per}u)) & ${(1 << (32 / per)) - 1}u; }`,
  ];
}

/**
 * A quantized buffer this backend can read: a weight of a quantized dtype with f32 scales of
 * the shape `ir/quant.ts` gives, along an axis it has. Anything else is E701, not a kernel
 * that reads garbage.
 */
export function checkQuantized(b: KBuffer, byName: ReadonlyMap<string, KBuffer>): void {
  const q = b.quant;
  if (!q && !isQuantDType(b.dtype)) return;
  const bad = (why: string, hint: string): never => fail('E701', `the WGSL backend cannot read the quantized buffer ${b.name} (${b.dtype}): ${why}`, undefined, hint);
  const requant = 'quantize the weights with --quantize i8|i4|i4g128|fp8 (scales along the reduction axis, as ir/quant.ts defines)';
  if (!isQuantDType(b.dtype)) bad(`quantization is for ${QUANT_DTYPES.join(', ')} codes`, requant);
  if (b.kind !== 'weight') bad(`only weights are quantized, this is a ${b.kind} buffer`, 'run this program with --backend ref');
  if (!q) return bad('it has no scales (KBuffer.quant)', requant);
  if (!Number.isInteger(q.axis) || q.axis < 0 || q.axis >= b.shape.length) bad(`its scales run along axis ${q.axis}, which a ${b.shape.length}-d weight lacks`, requant);
  if (!Number.isInteger(q.group) || q.group < 1) bad(`its scale group is ${q.group}`, requant);
  const s = byName.get(q.scales);
  if (!s || s.dtype !== 'f32' || s.kind !== 'weight') bad(`its scales ${q.scales} are not an f32 weight buffer`, requant);
  const have = s!.shape.map(String);
  const want = b.shape.every((d) => typeof d === 'number') ? scaleShape(b.shape as number[], q.axis, q.group).map(String) : have;
  if (want.length !== have.length || want.some((d, i) => d !== have[i])) bad(`its scales ${q.scales} are [${have.join(', ')}], not [${want.join(', ')}]`, requant);
  const last = b.shape[b.shape.length - 1];
  if (b.dtype === 'i4' && typeof last === 'number' && last % 2 !== 0) bad(`i4 packs two codes per byte along the last axis, which is odd (${last})`, 'use i8, or pad the last axis to an even size');
}
