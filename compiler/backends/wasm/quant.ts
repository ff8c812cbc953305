/**
 * @fileoverview Quantized weights in the Wasm kernels (`ir/quant.ts` has the semantics):
 * the codes stay in linear memory as they are in the weights blob (i8 and fp8 one byte,
 * i4 two per byte, even index in the low nibble) next to their f32 scales, and the kernels
 * decode them in registers. No dequantized copy of a weight exists, not even at load time.
 *
 * Every weight value is formed exactly as the interpreter forms it, `fround(decode(code) *
 * scale)` (one f32 multiply; the decoded code is exact in f32), and only then multiplied
 * into the f32 accumulator, so the only difference from the reference is the order of the
 * f32 sums. Decoding, per dtype:
 * - i8: `v128.load8x8_s` (8 codes as i16x8), `i32x4.extend_{low,high}_i16x8_s`,
 *   `f32x4.convert_i32x4_s`.
 * - i4: 4 bytes (8 codes) spread to i16 lanes, each nibble moved to the top by a multiply
 *   and sign-extended by an arithmetic shift (`i4Codes`), then widened as i8.
 * - fp8 e4m3fn: exact bit-level decode, no table: the byte's exponent and mantissa bits
 *   moved to f32's (`(c & 0x7f) << 20`) read as an f32 and multiplied by 2^120 (the bias
 *   difference, 127 - 7) give the value for normals and subnormals alike (f32 subnormals are
 *   exact in Wasm); the sign goes to bit 31; 0x7f / 0xff become NaN (all ones). The bit
 *   work runs on 8 codes at once in i16 lanes (the upper half of each f32).
 * The scalar build (and tails) decodes one code at a time with the same arithmetic in i32.
 *
 * Scales run along the reduction axis in groups of `group`: a kernel loops over groups,
 * loads the group's scales once, and walks the group's K range with the vector loop (8
 * codes per step) and a scalar tail for what is left of a partial group.
 */
import binaryen from 'binaryen';
import type { KBuffer } from '../../../ir/kernel/kernel.ts';
import { type QuantDType, isQuantDType } from '../../../ir/quant.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { type Expr, FnBuilder, type Local, f32load, f32store, i32c } from './fn.ts';

/** How a GEMM or router reads a quantized weight. */
export interface QuantView {
  dtype: QuantDType;
  /** Elements of the reduction axis per scale (a per-channel weight: the whole axis). */
  group: number;
  /** The f32 weight buffer of the scales. */
  scales: string;
}

/**
 * The quantization of weight `b` read with its reduction along `axis`, or undefined for an
 * f32 weight. What the kernels cannot read is E701 here, before any code is built.
 */
export function quantView(b: KBuffer, axis: number, what: string): QuantView | undefined {
  if (!isQuantDType(b.dtype)) return undefined;
  const q = b.quant;
  const shape = b.shape.map(Number);
  if (!q) fail('E701', `${what}: weight ${b.name} is ${b.dtype} but names no scales`, undefined, 'quantized weights carry their scales (moec --quantize writes them)');
  if (q.axis !== axis)
    fail('E701', `${what}: weight ${b.name} is scaled along axis ${q.axis}, but the kernel reduces along axis ${axis}; the wasm kernels apply scales along the reduction axis only`, undefined, 'quantize the weight along its reduction (input) axis');
  const group = q.group > 0 ? q.group : shape[axis];
  if (!Number.isInteger(group) || group <= 0) fail('E701', `${what}: weight ${b.name} has group ${q.group}`, undefined, 'use a positive group size');
  if (b.dtype === 'i4' && (group % 2 !== 0 || shape[shape.length - 1] % 2 !== 0))
    fail('E701', `${what}: i4 weight ${b.name} [${shape.join(', ')}] with group ${group}: the wasm kernels decode i4 codes a byte (two codes) at a time, so the group and the last axis must be even`, undefined, 'use an even group (32 or 128) and an even last axis, or quantize to i8');
  return { dtype: b.dtype, group, scales: q.scales };
}

/** Bytes of `elements` codes (i4: two per byte). */
export function quantCodeBytes(dtype: QuantDType, elements: number): number {
  return dtype === 'i4' ? elements / 2 : elements;
}

/** Byte i of 4 to i16 lanes 2i and 2i+1 (index 16: zero). */
const I4_SPREAD = [0, 16, 0, 16, 1, 16, 1, 16, 2, 16, 2, 16, 3, 16, 3, 16];
/** i16 lanes × 2^12 (low nibble to the top) or × 2^8 (high nibble to the top), little-endian bytes. */
const I4_SHIFT = [0, 0x10, 0, 0x01, 0, 0x10, 0, 0x01, 0, 0x10, 0, 0x01, 0, 0x10, 0, 0x01];
const FP8_BIAS_SCALE = 2 ** 120;

function i16x8c(m: binaryen.Module, v: number): Expr {
  return m.v128.const(Array.from(new Uint8Array(new Int16Array(8).fill(v).buffer)));
}

function f32x4c(m: binaryen.Module, v: number): Expr {
  return m.v128.const(Array.from(new Uint8Array(Float32Array.of(v, v, v, v).buffer)));
}

/** Decodes codes of one dtype into locals of a function under construction (temps are its own). */
export class Decoder {
  private readonly m: binaryen.Module;
  // Temps, made on first use: a scalar build must declare no v128 local.
  private temps: Partial<Record<'tv' | 'tv2' | 'ti' | 'ti2', Local>> = {};

  constructor(
    private readonly f: FnBuilder,
    readonly dtype: QuantDType,
  ) {
    this.m = f.m;
  }

  private temp(name: 'tv' | 'tv2' | 'ti' | 'ti2'): Local {
    this.temps[name] ??= name.startsWith('tv') ? this.f.v128() : this.f.i32();
    return this.temps[name];
  }

  private get tv(): Local {
    return this.temp('tv');
  }

  private get tv2(): Local {
    return this.temp('tv2');
  }

  private get ti(): Local {
    return this.temp('ti');
  }

  private get ti2(): Local {
    return this.temp('ti2');
  }

  /** Byte offset of code `idx` from the codes' start (i4: idx must be even for vector loads). */
  byteOf(idx: Expr): Expr {
    return this.dtype === 'i4' ? this.m.i32.shr_u(idx, this.m.i32.const(1)) : idx;
  }

  /** `out` (f32) = decode(code idx) for the codes at byte address `base`; idx is read twice. */
  scalar(base: Expr, idx: () => Expr, out: Local): Expr[] {
    const { m, f } = this;
    if (this.dtype === 'i8') return [f.set(out, m.f32.convert_s.i32(m.i32.load8_s(0, 1, m.i32.add(base, idx()))))];
    if (this.dtype === 'i4') {
      // The nibble at (idx & 1) * 4, sign-extended by shifting it to the top and back.
      const byte = m.i32.load8_u(0, 1, m.i32.add(base, m.i32.shr_u(idx(), m.i32.const(1))));
      const nib = m.i32.shr_u(byte, m.i32.shl(m.i32.and(idx(), m.i32.const(1)), m.i32.const(2)));
      return [f.set(out, m.f32.convert_s.i32(m.i32.shr_s(m.i32.shl(nib, m.i32.const(28)), m.i32.const(28))))];
    }
    const c = this.ti;
    const low = this.ti2;
    const bits = m.i32.or(m.i32.shl(f.get(low), m.i32.const(20)), m.i32.shl(m.i32.and(f.get(c), m.i32.const(0x80)), m.i32.const(24)));
    return [
      f.set(c, m.i32.load8_u(0, 1, m.i32.add(base, idx()))),
      f.set(low, m.i32.and(f.get(c), m.i32.const(0x7f))),
      f.set(out, m.select(m.i32.eq(f.get(low), m.i32.const(0x7f)), m.f32.const(Number.NaN), m.f32.mul(m.f32.reinterpret(bits), m.f32.const(FP8_BIAS_SCALE)))),
    ];
  }

  /**
   * The i4 codes of the bytes in `tv` (the first 4) as i16x8 lanes in element order. Each
   * byte goes to two i16 lanes (a byte swizzle, out-of-range indices give 0); multiplying
   * by 2^12 (even lanes) or 2^8 (odd lanes) puts the wanted nibble in the top 4 bits, and
   * an arithmetic shift by 12 sign-extends it. (SIMD128's i8x16 shifts have no x86
   * instruction and cost several each; this is a pshufb, a pmullw and a psraw.)
   */
  private i4Codes(): Expr {
    const { m, f } = this;
    const spread = m.i8x16.swizzle(f.get(this.tv), m.v128.const(I4_SPREAD));
    return m.i16x8.shr_s(m.i16x8.mul(spread, m.v128.const(I4_SHIFT)), m.i32.const(12));
  }

  /**
   * fp8 codes as u16 lanes in `tv` → the upper halves of their f32 bit patterns, still in
   * i16x8 lanes: exponent and mantissa `(c & 0x7f) << 4`, sign `(c & 0x80) << 8`, and all
   * ones for the NaN codes (0x7f, 0xff), which stays a NaN through the multiply.
   */
  private fp8High(): Expr {
    const { m, f } = this;
    const low = this.tv2;
    return m.block(null, [
      f.set(low, m.v128.and(f.get(this.tv), i16x8c(m, 0x7f))),
      m.v128.or(m.v128.or(m.i16x8.shl(f.get(low), m.i32.const(4)), m.i16x8.shl(m.v128.and(f.get(this.tv), i16x8c(m, 0x80)), m.i32.const(8))), m.i16x8.eq(f.get(low), i16x8c(m, 0x7f))),
    ], binaryen.v128);
  }

  /**
   * f32x4 values of the fp8 upper halves (lanes 0-3 or 4-7 of `h`): widened and shifted to
   * the top of each f32 (two cheap ops; a two-input shuffle costs several on x86), times 2^120.
   */
  private fp8Values(h: Expr, high: boolean): Expr {
    const m = this.m;
    const wide = high ? m.i32x4.extend_high_i16x8_u(h) : m.i32x4.extend_low_i16x8_u(h);
    return m.f32x4.mul(m.i32x4.shl(wide, m.i32.const(16)), f32x4c(m, FP8_BIAS_SCALE));
  }

  /** `out` (f32x4) = the 4 codes at byte address `addr` (i4: starting at an even code). */
  vec4(addr: Expr, out: Local): Expr[] {
    const { m, f } = this;
    if (this.dtype === 'i8') return [f.set(out, m.f32x4.convert_i32x4_s(m.i32x4.extend_low_i16x8_s(m.i16x8.extend_low_i8x16_s(m.v128.load32_zero(0, 1, addr)))))];
    if (this.dtype === 'i4') return [f.set(this.tv, m.v128.load16_splat(0, 1, addr)), f.set(out, m.f32x4.convert_i32x4_s(m.i32x4.extend_low_i16x8_s(this.i4Codes())))];
    return [f.set(this.tv, m.i16x8.extend_low_i8x16_u(m.v128.load32_zero(0, 1, addr))), f.set(out, this.fp8Values(this.fp8High(), false))];
  }

  /** `lo`, `hi` (f32x4) = the 8 codes at byte address `addr` (i4: starting at an even code). */
  vec8(addr: Expr, lo: Local, hi: Local): Expr[] {
    const { m, f } = this;
    const h = this.tv;
    if (this.dtype === 'fp8e4m3')
      return [f.set(h, m.v128.load8x8_u(0, 1, addr)), f.set(h, this.fp8High()), f.set(lo, this.fp8Values(f.get(h), false)), f.set(hi, this.fp8Values(f.get(h), true))];
    const widen = [f.set(lo, m.f32x4.convert_i32x4_s(m.i32x4.extend_low_i16x8_s(f.get(h)))), f.set(hi, m.f32x4.convert_i32x4_s(m.i32x4.extend_high_i16x8_s(f.get(h))))];
    if (this.dtype === 'i8') return [f.set(h, m.v128.load8x8_s(0, 1, addr)), ...widen];
    return [f.set(h, m.v128.load32_zero(0, 1, addr)), f.set(h, this.i4Codes()), ...widen];
  }
}

/** A quantized GEMM operand's fixed sizes: W is [N, K] (transB) or [K, N], scales along K. */
export interface QuantGemmShape {
  q: QuantView;
  N: number;
  K: number;
  transB: boolean;
}

/**
 * The quantized micro-kernel `rows` × `cols`, shared by every GEMM of the module with the
 * same shape and scheme: `(a_0 .. a_{rows-1}, codes, scales, c, j)` with the A-row
 * addresses, the addresses of the matrix's first code and first scale, of the tile's first
 * C element, and the tile's first column `j`. C rows are 4·N bytes apart. Sizes and the
 * group are constants of the function, so the group loop and its tails are fixed code.
 */
export function quantMicroKernel(m: binaryen.Module, s: QuantGemmShape, rows: number, cols: number, vl: number): string {
  const { q, N, K, transB } = s;
  const name = `qmicro_${q.dtype}_${transB ? 't' : 'n'}${rows}x${cols}${vl > 1 ? 'v' : 's'}_n${N}k${K}g${q.group}`;
  if (m.getFunction(name)) return name;
  const f = new FnBuilder(m, name, Array.from({ length: rows + 4 }, () => binaryen.i32));
  const a = f.params.slice(0, rows);
  const [codes, scales, c, j] = f.params.slice(rows);
  const g = (l: Local): Expr => f.get(l);
  const vec = vl > 1;
  const dec = new Decoder(f, q.dtype);
  const groups = Math.ceil(K / q.group);
  const full = Math.floor(K / q.group);
  const rest = K - full * q.group;
  const gi = f.i32();
  const k0 = f.i32();
  const k = f.i32();
  const zero = (): Expr => (vec ? m.v128.const(new Array(16).fill(0)) : m.f32.const(0));
  const type = vec ? binaryen.v128 : binaryen.f32;
  const add = (x: Expr, y: Expr): Expr => (vec ? m.f32x4.add(x, y) : m.f32.add(x, y));
  const mul = (x: Expr, y: Expr): Expr => (vec ? m.f32x4.mul(x, y) : m.f32.mul(x, y));
  const aAt = (i: number, kk: Expr): Expr => m.i32.add(g(a[i]), m.i32.shl(kk, m.i32.const(2)));
  const cAt = (i: number): Expr => (i === 0 ? g(c) : m.i32.add(g(c), i32c(m, 4 * N * i)));
  /** The group loop: full groups in a loop, then the partial one. */
  const overGroups = (body: (len: number) => Expr[]): Expr[] => {
    const out: Expr[] = [];
    if (full > 0) out.push(f.forRange(gi, m.i32.const(0), i32c(m, full), [f.set(k0, m.i32.mul(g(gi), i32c(m, q.group))), ...body(q.group)]));
    if (rest > 0) out.push(f.set(gi, i32c(m, full)), f.set(k0, i32c(m, full * q.group)), ...body(rest));
    return out;
  };
  const body: Expr[] = [];
  if (transB) {
    // Per column: codes along K, one scale per group; accumulators along K as in the f32 kernel.
    const cb = Array.from({ length: cols }, () => f.i32());
    const sb = Array.from({ length: cols }, () => f.i32());
    const acc = Array.from({ length: rows }, () => Array.from({ length: cols }, () => f.local(type)));
    const sums = vec ? acc.map((row) => row.map(() => f.f32())) : acc;
    const sc = Array.from({ length: cols }, () => f.f32());
    const sv = vec ? Array.from({ length: cols }, () => f.v128()) : [];
    const av = Array.from({ length: rows }, () => [f.local(type), f.local(type)]);
    const w = [f.local(type), f.local(type)];
    const as = Array.from({ length: rows }, () => f.f32());
    const ws = f.f32();
    for (let jj = 0; jj < cols; jj++) {
      const col = jj === 0 ? g(j) : m.i32.add(g(j), i32c(m, jj));
      body.push(f.set(cb[jj], m.i32.add(g(codes), dec.byteOf(m.i32.mul(col, i32c(m, K))))));
      body.push(f.set(sb[jj], m.i32.add(g(scales), m.i32.mul(jj === 0 ? g(j) : m.i32.add(g(j), i32c(m, jj)), i32c(m, 4 * groups)))));
    }
    for (const row of acc) for (const x of row) body.push(f.set(x, zero()));
    if (vec) for (const row of sums) for (const x of row) body.push(f.set(x, m.f32.const(0)));
    /** Scalar steps k in [from, to): sums[i][jj] += a[i][k] · fround(decode · scale). */
    const scalarSteps = (from: Expr, to: Expr): Expr =>
      f.forRange(k, from, to, [
        ...Array.from({ length: rows }, (_, i) => f.set(as[i], f32load(m, aAt(i, g(k))))),
        ...Array.from({ length: cols }, (_, jj) => [
          ...dec.scalar(g(cb[jj]), () => g(k), ws),
          f.set(ws, m.f32.mul(g(ws), g(sc[jj]))),
          ...Array.from({ length: rows }, (_, i) => f.set(sums[i][jj], m.f32.add(g(sums[i][jj]), m.f32.mul(g(as[i]), g(ws))))),
        ]).flat(),
      ]);
    body.push(
      ...overGroups((len) => {
        const code: Expr[] = [];
        for (let jj = 0; jj < cols; jj++) {
          code.push(f.set(sc[jj], f32load(m, m.i32.add(g(sb[jj]), m.i32.shl(g(gi), m.i32.const(2))))));
          if (vec) code.push(f.set(sv[jj], m.f32x4.splat(g(sc[jj]))));
        }
        const steps = vec ? Math.floor(len / 8) : 0;
        if (steps > 0) {
          const step: Expr[] = [];
          for (let i = 0; i < rows; i++) step.push(f.set(av[i][0], m.v128.load(0, 4, aAt(i, g(k)))), f.set(av[i][1], m.v128.load(16, 4, aAt(i, g(k)))));
          for (let jj = 0; jj < cols; jj++) {
            step.push(...dec.vec8(m.i32.add(g(cb[jj]), dec.byteOf(g(k))), w[0], w[1]), f.set(w[0], mul(g(w[0]), g(sv[jj]))), f.set(w[1], mul(g(w[1]), g(sv[jj]))));
            for (let i = 0; i < rows; i++) step.push(f.set(acc[i][jj], add(add(g(acc[i][jj]), mul(g(av[i][0]), g(w[0]))), mul(g(av[i][1]), g(w[1])))));
          }
          code.push(f.forRange(k, g(k0), m.i32.add(g(k0), i32c(m, 8 * steps)), step, 8));
        }
        if (steps * 8 < len) code.push(scalarSteps(m.i32.add(g(k0), i32c(m, 8 * steps)), m.i32.add(g(k0), i32c(m, len))));
        return code;
      }),
    );
    for (let i = 0; i < rows; i++)
      for (let jj = 0; jj < cols; jj++) {
        if (vec) {
          const lane = (l: number): Expr => m.f32x4.extract_lane(g(acc[i][jj]), l);
          body.push(f.set(sums[i][jj], m.f32.add(g(sums[i][jj]), m.f32.add(m.f32.add(lane(0), lane(1)), m.f32.add(lane(2), lane(3))))));
        }
        body.push(f32store(m, cAt(i), g(sums[i][jj]), 4 * jj));
      }
  } else {
    // W [K, N]: accumulators along N (cols / vl vectors per row), scales [groups, N] per column.
    const nv = Math.max(1, cols / vl);
    const acc = Array.from({ length: rows }, () => Array.from({ length: nv }, () => f.local(type)));
    const sv = Array.from({ length: nv }, () => f.local(type));
    const av = Array.from({ length: rows }, () => f.local(type));
    const wv = f.local(type);
    const rowIdx = f.i32();
    for (const row of acc) for (const x of row) body.push(f.set(x, zero()));
    body.push(
      ...overGroups((len) => {
        const code: Expr[] = [];
        const sRow = (): Expr => m.i32.add(g(scales), m.i32.shl(m.i32.add(m.i32.mul(g(gi), i32c(m, N)), g(j)), m.i32.const(2)));
        for (let v = 0; v < nv; v++) code.push(f.set(sv[v], vec ? m.v128.load(16 * v, 4, sRow()) : f32load(m, sRow(), 4 * v)));
        const step: Expr[] = [f.set(rowIdx, m.i32.add(m.i32.mul(g(k), i32c(m, N)), g(j)))];
        for (let i = 0; i < rows; i++) step.push(f.set(av[i], vec ? m.v128.load32_splat(0, 4, aAt(i, g(k))) : f32load(m, aAt(i, g(k)))));
        for (let v = 0; v < nv; v++) {
          const idx = (): Expr => (v === 0 ? g(rowIdx) : m.i32.add(g(rowIdx), i32c(m, vl * v)));
          step.push(...(vec ? dec.vec4(m.i32.add(g(codes), dec.byteOf(idx())), wv) : dec.scalar(g(codes), idx, wv)), f.set(wv, mul(g(wv), g(sv[v]))));
          for (let i = 0; i < rows; i++) step.push(f.set(acc[i][v], add(g(acc[i][v]), mul(g(av[i]), g(wv)))));
        }
        code.push(f.forRange(k, g(k0), m.i32.add(g(k0), i32c(m, len)), step));
        return code;
      }),
    );
    for (let i = 0; i < rows; i++) for (let v = 0; v < nv; v++) body.push(vec ? m.v128.store(16 * v, 4, cAt(i), g(acc[i][v])) : f32store(m, cAt(i), g(acc[i][v]), 4 * v));
  }
  f.finish(body);
  return name;
}
