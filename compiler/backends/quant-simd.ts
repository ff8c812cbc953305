/**
 * @fileoverview The pack-time quantizer in Wasm SIMD: float rows to codes and scales,
 * bit-identical to ir/quant.ts's `quantizeRow` (the JS loops stay as the definition and the
 * fallback), at a fraction of its cost.
 *
 * `moec pack --quantize` spends its time in two loops per element: the absmax of each scale
 * group and the code of each value (JS: ~2 + ~7 ns), then scattering codes into the
 * backend's layout (the C panels write one byte per code with a stride). Here a batch of rows
 * is copied into linear memory and quantized four lanes at a time:
 * - absmax: `f32x4.abs`, then the integer max of the bits (`i32x4.max_s`: the order of
 *   non-negative floats, with any NaN above infinity, so a NaN in the group makes the amax
 *   NaN and the scale 1, as the JS does; one instruction where `f32x4.max` takes several);
 *   scale = fround(amax / qmax) in f64, 1 for a zero, infinite or NaN amax;
 * - i8 / i4: x / s in f64 (two lanes, `f64x2.div`; the JS multiplies by 1 / s and divides only
 *   near a half, the same numbers), clamped to ±qmax, `f64x2.nearest` (round half to even),
 *   `trunc_sat` (NaN to 0), narrowed to bytes;
 * - fp8 e4m3fn: x / s in f64, rounded to 3 mantissa bits on its bit pattern (round to
 *   nearest even by adding 2^48 - 1 plus the kept lowest bit, then shifting: a carry moves
 *   into the exponent by itself), below 2^-6 the subnormal code nearest(|x| · 2^9),
 *   saturating at 448 (code 126), the sign bit on top, NaN to 0x7f;
 * then laid out: i4 codes paired into nibbles, or rows transposed into a C panel.
 *
 * Groups are walked 16 values at a time, so a row is quantized here when its groups are
 * whole multiples of 16 (the last may be short: the row is padded with zeros to a multiple
 * of 16, which change no absmax, and the padding's codes are dropped) or it is one group;
 * other rows, and engines without SIMD, take the JS loops. The module is assembled once, on
 * first use, by wasm-bytes.ts (synchronous, no binaryen: the C backend packs through here).
 */
import { QMAX } from '../../ir/quant.ts';
import type { QuantRows } from './quant-rows.ts';
import { type FuncDef, type Instr, T, assemble, forRange } from './wasm-bytes.ts';

const get = (i: number): Instr => ['local.get', i];
const set = (i: number): Instr => ['local.set', i];
const i32 = (n: number): Instr => ['i32.const', n];
const bytesOf = (a: Float64Array | BigInt64Array | Int16Array): number[] => Array.from(new Uint8Array(a.buffer));
const f64x2 = (v: number): Instr => ['v128.const', ...bytesOf(Float64Array.of(v, v))];
const i64x2 = (v: bigint): Instr => ['v128.const', ...bytesOf(BigInt64Array.of(v, v))];
const i16x8 = (v: number): Instr => ['v128.const', ...bytesOf(new Int16Array(8).fill(v))];
const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
/** The high two f32 lanes moved low (for `f64x2.promote_low_f32x4`). */
const HIGH_F32: Instr = ['i8x16.shuffle', ...range(8, 8), ...range(8, 8)];
/** i32 lanes 0, 1 of a and 0, 1 of b (two `trunc_sat_f64x2_s_zero` results joined). */
const LOW_I32_PAIRS: Instr = ['i8x16.shuffle', ...range(8), ...range(8, 16)];
/** The low 32 bits of each i64 lane of a and b, as i32x4. */
const LOW_OF_I64: Instr = ['i8x16.shuffle', ...range(4), ...range(4, 8), ...range(4, 16), ...range(4, 24)];

// Parameters of a quantize function, then its locals (indices as Wasm numbers them).
const [SRC, DST, SCL, ROWS, KP, GROUP, GROUPS, QM] = range(8);
const [R, G, P, END, O, RS, RD, SI] = range(8, 8);
const [M, SV, NQ, QV, X, V, A, C, Q0] = range(9, 16); // Q0..Q0 + 3: four vectors of codes
const MX = Q0 + 4;
const QUANT_LOCALS = [...range(8).map(() => T.i32), ...range(12).map(() => T.v128), T.f32];

/**
 * Two f64 lanes (the top of the stack) to the i32x4 codes [c0, c1, 0, 0]: x / s (the
 * definition; the JS's multiply by 1 / s with its near-half check gives the same, and here
 * the division costs no more), clamped by `pmax` / `pmin` (one instruction each; they keep a
 * NaN, as the JS's comparisons do), nearest, truncated (NaN: 0).
 */
const intCodes: Instr[] = [get(SV), ['f64x2.div'], get(NQ), ['f64x2.pmax'], get(QV), ['f64x2.pmin'], ['f64x2.nearest'], ['i32x4.trunc_sat_f64x2_s_zero']];

/**
 * The fp8 code's vector constants, each set into a local once per call: inlined at each of
 * the loop's eight uses they made the module larger than the 4 KB a browser's main thread
 * may compile synchronously.
 */
const FP8_CONSTS: Instr[] = [];
function fp8Const(c: Instr): Instr {
  FP8_CONSTS.push(c);
  return get(MX + FP8_CONSTS.length);
}

/** Two f64 lanes (the top of the stack) to their fp8 e4m3fn bytes, one in each i64 lane. */
const fp8Codes: Instr[] = [
  get(SV),
  ['f64x2.div'],
  ['local.tee', V],
  ['f64x2.abs'],
  set(A),
  // the subnormal code: nearest(|v| · 2^9) as an integer, read off the bits of it + 2^52
  get(A),
  fp8Const(f64x2(512)),
  ['f64x2.mul'],
  ['f64x2.nearest'],
  fp8Const(f64x2(2 ** 52)),
  ['f64x2.add'],
  fp8Const(i64x2(0x4330000000000000n)),
  ['i64x2.sub'],
  // the normal code: the bits rounded to 3 mantissa bits (ties to even), rebiased (1023 - 7) · 8
  get(A),
  fp8Const(i64x2((1n << 48n) - 1n)),
  get(A),
  i32(49),
  ['i64x2.shr_u'],
  fp8Const(i64x2(1n)),
  ['v128.and'],
  ['i64x2.add'],
  ['i64x2.add'],
  i32(49),
  ['i64x2.shr_u'],
  fp8Const(i64x2(BigInt((1023 - 7) << 3))),
  ['i64x2.sub'],
  get(A),
  fp8Const(f64x2(2 ** -6)),
  ['f64x2.lt'],
  ['v128.bitselect'],
  set(C),
  // saturated at 448 (code 126; infinities too), then the sign, then NaN as 0x7f
  fp8Const(i64x2(126n)),
  get(C),
  get(A),
  fp8Const(f64x2(448)),
  ['f64x2.ge'],
  ['v128.bitselect'],
  get(V),
  i32(63),
  ['i64x2.shr_u'],
  i32(7),
  ['i64x2.shl'],
  ['v128.or'],
  set(C),
  fp8Const(i64x2(0x7fn)),
  get(C),
  get(V),
  get(V),
  ['f64x2.ne'],
  ['v128.bitselect'],
];

/** The quantize function: `rows` rows of `kp` floats at src, groups of `group` (a multiple of 16, or kp). */
function quantFunc(name: string, codes: Instr[], narrow: 's' | 'u', consts: Instr[] = []): FuncDef {
  const body: Instr[] = [
    ...consts.flatMap((c, i) => [c, set(MX + 1 + i)]),
    get(QM),
    ['f64x2.splat'],
    set(QV),
    get(QM),
    ['f64.neg'],
    ['f64x2.splat'],
    set(NQ),
    ...forRange(R, [i32(0)], [get(ROWS)], [i32(1)], [
      ...[get(SRC), get(R), get(KP), ['i32.mul'], i32(2), ['i32.shl'], ['i32.add'], set(RS)],
      ...[get(DST), get(R), get(KP), ['i32.mul'], ['i32.add'], set(RD)],
      ...forRange(G, [i32(0)], [get(GROUPS)], [i32(1)], [
        // END: the group's last float + 1 (byte address): min(group, kp - g · group) after its start
        ...[get(GROUP), get(KP), get(G), get(GROUP), ['i32.mul'], ['i32.sub'], get(GROUP), get(KP), get(G), get(GROUP), ['i32.mul'], ['i32.sub'], ['i32.lt_u'], ['select']],
        ...[i32(2), ['i32.shl'], get(RS), get(G), get(GROUP), ['i32.mul'], i32(2), ['i32.shl'], ['i32.add'], ['local.tee', P], ['i32.add'], set(END)],
        ...[f64x2(0), set(M)],
        ...forRange(P, [get(P)], [get(END)], [i32(16)], [get(M), get(P), ['v128.load', 4, 0], ['f32x4.abs'], ['i32x4.max_s'], set(M)]),
        ...[get(M), get(M), get(M), ['i8x16.shuffle', ...range(8, 8), ...range(8)], ['i32x4.max_s'], set(M)],
        ...[get(M), get(M), get(M), ['i8x16.shuffle', ...range(4, 4), ...range(4), ...range(8, 8)], ['i32x4.max_s'], ['f32x4.extract_lane', 0], set(MX)],
        // scale: fround(amax / qmax), or 1 where amax is 0, infinite or NaN (both tests false)
        ...[get(SCL), get(R), get(GROUPS), ['i32.mul'], get(G), ['i32.add'], i32(2), ['i32.shl'], ['i32.add'], set(SI)],
        ...[get(SI), get(MX), ['f64.promote_f32'], get(QM), ['f64.div'], ['f32.demote_f64'], ['f32.const', 1]],
        ...[get(MX), ['f32.const', 0], ['f32.gt'], get(MX), ['f32.const', Infinity], ['f32.lt'], ['i32.and'], ['select'], ['f32.store', 2, 0]],
        ...[get(SI), ['f32.load', 2, 0], ['f64.promote_f32'], ['f64x2.splat'], set(SV)],
        ...[get(RD), get(G), get(GROUP), ['i32.mul'], ['i32.add'], set(O)],
        ...forRange(P, [get(RS), get(G), get(GROUP), ['i32.mul'], i32(2), ['i32.shl'], ['i32.add']], [get(END)], [i32(64)], [
          ...[0, 1, 2, 3].flatMap((j): Instr[] => [
            ...[get(P), ['v128.load', 4, 16 * j], set(X)],
            ...[get(X), ['f64x2.promote_low_f32x4'], ...codes],
            ...[get(X), get(X), HIGH_F32, ['f64x2.promote_low_f32x4'], ...codes],
            narrow === 's' ? LOW_I32_PAIRS : LOW_OF_I64,
            set(Q0 + j),
          ]),
          get(O),
          ...[get(Q0), get(Q0 + 1), [`i16x8.narrow_i32x4_${narrow}`], get(Q0 + 2), get(Q0 + 3), [`i16x8.narrow_i32x4_${narrow}`], [`i8x16.narrow_i16x8_${narrow}`]],
          ['v128.store', 4, 0],
          ...[get(O), i32(16), ['i32.add'], set(O)],
        ]),
      ]),
    ]),
  ];
  return { name, params: [T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.f64], locals: [...QUANT_LOCALS, ...consts.map(() => T.v128)], body };
}

/** `pack_i4(src, dst, n)`: n bytes at dst (a multiple of 8), each two codes of src, the even one in the low nibble. */
function packI4Func(): FuncDef {
  const [src, dst, n, o, x] = range(5);
  return {
    name: 'pack_i4',
    params: [T.i32, T.i32, T.i32],
    locals: [T.i32, T.v128],
    body: forRange(o, [get(dst)], [get(dst), get(n), ['i32.add']], [i32(8)], [
      ...[get(src), ['v128.load', 4, 0], set(x)],
      // i16 lane = c0 | c1 << 8: (lane & 0x0f) | (lane >> 4 & 0xf0) is the byte
      ...[get(o), get(x), i16x8(0x0f), ['v128.and'], get(x), i32(4), ['i16x8.shr_u'], i16x8(0xf0), ['v128.and'], ['v128.or']],
      ...[['local.tee', x], get(x), ['i8x16.narrow_i16x8_u'], ['v128.store64_lane', 0, 0, 0]],
      ...[get(src), i32(16), ['i32.add'], set(src)],
    ]),
  };
}

/**
 * `panel8(src, dst, table, nb, kd)` / `panel4(...)`: a C panel, dst[k · nb + b] for k < kd,
 * b < nb: the code at depth k of the staged row at byte offset table[2b] (panel4: its low
 * nibble, and the high nibble from the row at table[2b + 1]). Lane by lane: each staged row
 * is read in order and its codes stored nb bytes apart.
 */
function panelFunc(i4: boolean): FuncDef {
  const [src, dst, table, nb, kd, b, lo, hi, d, end] = range(10);
  const entry = (half: number): Instr[] => [get(src), get(table), get(b), i32(3), ['i32.shl'], ['i32.add'], ['i32.load', 2, 4 * half], ['i32.add']];
  return {
    name: i4 ? 'panel4' : 'panel8',
    params: [T.i32, T.i32, T.i32, T.i32, T.i32],
    locals: [T.i32, T.i32, T.i32, T.i32, T.i32],
    body: forRange(b, [i32(0)], [get(nb)], [i32(1)], [
      ...[...entry(0), ['local.tee', lo], get(kd), ['i32.add'], set(end)],
      ...(i4 ? [...entry(1), set(hi)] : []),
      ...[get(dst), get(b), ['i32.add'], set(d)],
      ...forRange(lo, [get(lo)], [get(end)], [i32(1)], [
        get(d),
        ...[get(lo), ['i32.load8_u', 0, 0]],
        ...(i4 ? [i32(15), ['i32.and'], get(hi), ['i32.load8_u', 0, 0], i32(4), ['i32.shl'], ['i32.or'], get(hi), i32(1), ['i32.add'], set(hi)] : []),
        ['i32.store8', 0, 0],
        ...[get(d), get(nb), ['i32.add'], set(d)],
      ] as Instr[]),
    ] as Instr[]),
  };
}

const FUNCS = [quantFunc('quant_int', intCodes, 's'), quantFunc('quant_fp8', fp8Codes, 'u', FP8_CONSTS), packI4Func(), panelFunc(false), panelFunc(true)];

interface Exports {
  memory: WebAssembly.Memory;
  quant_int(src: number, dst: number, scl: number, rows: number, kp: number, group: number, groups: number, qmax: number): void;
  quant_fp8(src: number, dst: number, scl: number, rows: number, kp: number, group: number, groups: number, qmax: number): void;
  pack_i4(src: number, dst: number, n: number): void;
  panel8(src: number, dst: number, table: number, nb: number, kd: number): void;
  panel4(src: number, dst: number, table: number, nb: number, kd: number): void;
}

/** Which quantizer `moec pack` uses: the Wasm one where it applies (`auto`), or always the JS loops or the Wasm (tests, the benchmark). */
export type QuantEngine = 'auto' | 'js' | 'wasm';
let engine: QuantEngine = 'auto';

/** Sets the quantizer engine, returning the previous one (tests and the benchmark compare the two). */
export function setQuantEngine(e: QuantEngine): QuantEngine {
  const old = engine;
  engine = e;
  return old;
}

/** Floats per staged batch of rows: 256 KiB, well inside L2. */
const BATCH = 1 << 16;

const align16 = (n: number): number => (n + 15) & ~15;

/** A batch of rows quantized in linear memory: codes one byte each ([n, kp], i4 codes sign-extended), f32 scales [n, groups]. */
export interface StagedRows {
  n: number;
  kp: number;
  groups: number;
  scales: Float32Array;
}

/** The Wasm quantizer: the module's functions and where a batch's parts lie in its memory. */
export class SimdQuantizer {
  private src = 0;
  private codes = 0;
  private out = 0;
  private table = 0;
  private scales = 0;

  constructor(private readonly x: Exports) {}

  /** Rows of `q` per batch. */
  batchRows(q: QuantRows): number {
    return Math.max(1, Math.floor(BATCH / paddedRow(q.k)));
  }

  /**
   * Quantizes rows rowOf(0..n) of `q` (-1: a row of zeros) in linear memory, leaving room
   * for `outBytes` of laid-out codes and a table of `tableEntries` i32.
   */
  quantize(q: QuantRows, n: number, rowOf: (i: number) => number, outBytes = 0, tableEntries = 0): StagedRows {
    const kp = paddedRow(q.k);
    const group = q.group >= q.k ? kp : q.group;
    const groups = Math.ceil(kp / group);
    this.table = 0;
    this.src = align16(4 * tableEntries);
    this.codes = this.src + 4 * n * kp;
    this.out = align16(this.codes + n * kp);
    this.scales = align16(this.out + outBytes);
    const need = this.scales + 4 * n * groups;
    const mem = this.x.memory;
    if (need > mem.buffer.byteLength) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
    const f32 = new Float32Array(mem.buffer, this.src, n * kp);
    for (let i = 0; i < n; i++) {
      const r = rowOf(i);
      if (r < 0) f32.fill(0, i * kp, (i + 1) * kp);
      else {
        const { data, at } = q.source(r);
        f32.set(data.subarray(at, at + q.k), i * kp);
        if (kp > q.k) f32.fill(0, i * kp + q.k, (i + 1) * kp);
      }
    }
    const f = q.dtype === 'fp8e4m3' ? this.x.quant_fp8 : this.x.quant_int;
    f(this.src, this.codes, this.scales, n, kp, group, groups, QMAX[q.dtype]);
    return { n, kp, groups, scales: new Float32Array(mem.buffer, this.scales, n * groups) };
  }

  /** The staged codes, kp bytes a row (i4: one code a byte). */
  codeBytes(s: StagedRows): Uint8Array {
    return new Uint8Array(this.x.memory.buffer, this.codes, s.n * s.kp);
  }

  /** The staged i4 codes paired into bytes, kp / 2 a row. */
  packI4(s: StagedRows): Uint8Array {
    this.x.pack_i4(this.codes, this.out, (s.n * s.kp) / 2);
    return new Uint8Array(this.x.memory.buffer, this.out, (s.n * s.kp) / 2);
  }

  /**
   * The staged rows as one C panel, `kd` rows of `nb` bytes: byte b of panel row k is the
   * code at depth k of staged row lo[b], i4: in the low nibble, the high one from row hi[b].
   */
  panel(s: StagedRows, kd: number, lo: ArrayLike<number>, hi?: ArrayLike<number>): Uint8Array {
    const nb = lo.length;
    const table = new Int32Array(this.x.memory.buffer, this.table, 2 * nb);
    for (let b = 0; b < nb; b++) {
      table[2 * b] = lo[b] * s.kp;
      table[2 * b + 1] = (hi?.[b] ?? 0) * s.kp;
    }
    (hi ? this.x.panel4 : this.x.panel8)(this.codes, this.out, this.table, nb, kd);
    return new Uint8Array(this.x.memory.buffer, this.out, kd * nb);
  }
}

/** A row's length as staged: padded to whole vectors of 16. */
export function paddedRow(k: number): number {
  return align16(k);
}

let instance: SimdQuantizer | null | undefined;

/** The Wasm quantizer, assembled on first use; null where this engine has no SIMD (or no WebAssembly). */
function loadQuantizer(): SimdQuantizer | null {
  if (instance !== undefined) return instance;
  instance = null;
  if (typeof WebAssembly === 'undefined') return instance;
  const bytes = assemble(FUNCS, 1);
  if (!WebAssembly.validate(bytes)) return instance;
  try {
    return (instance = new SimdQuantizer(new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Exports));
  } catch {
    return instance; // an embedder that refuses synchronous compiles here (a page's main thread, if ever over its limit): the JS loops
  }
}

/** The module's bytes (a test holds them under the 4 KB of a synchronous compile in a page). */
export function quantizerModule(): Uint8Array<ArrayBuffer> {
  return assemble(FUNCS, 1);
}

/**
 * The Wasm quantizer for `q`'s rows, or undefined where the JS loops quantize them: engine
 * `js`, no SIMD here, or groups that are neither whole multiples of 16 nor the whole row.
 * (Engine `wasm` insists: a row it cannot take is an error, so a test cannot pass on the fallback.)
 */
export function simdQuantizerFor(q: QuantRows): SimdQuantizer | undefined {
  if (engine === 'js') return undefined;
  const fits = q.k > 0 && (q.group >= q.k || q.group % 16 === 0) && (q.dtype !== 'i4' || q.k % 2 === 0);
  const qz = fits ? loadQuantizer() : null;
  if (!qz && engine === 'wasm') throw new Error(`quantizer: the Wasm quantizer cannot take ${q.dtype} rows of ${q.k} in groups of ${q.group}${fits ? ' (no WebAssembly SIMD here)' : ''}`);
  return qz ?? undefined;
}
