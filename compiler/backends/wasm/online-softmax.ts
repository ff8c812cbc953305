/**
 * @fileoverview What the Wasm attention and MLA kernels (`attention.ts`, `mla.ts`) share:
 * the tiled online softmax that folds a range of keys into the running (max, sum,
 * accumulator) blocks of a few query rows, the blocks' emptying and the decode split's ranges,
 * and SIMD128 row helpers (dot product, multiply-add and scaling of a row; scalar where the
 * build is scalar).
 *
 * A block is [m, l, -, -, acc[width]] in float32 (`blockBytes`): the accumulator starts 16
 * bytes in, so it is v128-aligned wherever the block is. A fold of tiles of `keyTile` keys keeps
 * the tile's scores and the tile's maxima in scratch: O(rows x tile), never O(L) (the C
 * kernels' form, targets/c/attention.c.hbs, in the same float32 operation order for the
 * scores' lanes).
 */
import binaryen from 'binaryen';
import type { ProgramEnv } from './env.ts';
import { type Expr, FnBuilder, type Local, f32load, f32store, i32c } from './fn.ts';

const F = 4;

/** Bytes of one (m, l, acc[width]) block. */
export const blockBytes = (width: number): number => 16 + F * roundUp4(width);

const roundUp4 = (n: number): number => Math.ceil(n / 4) * 4;

/**
 * Row helpers of one function being built, over rows of `n` float32s at constant size, with
 * the locals they need made once (its pointers, index, vector and scalar operands).
 */
export class RowOps {
  private readonly pa: Local;
  private readonly pb: Local;
  private readonly e: Local;
  private readonly v: Local | undefined;
  private readonly sc: Local;
  private readonly sp: Local;

  constructor(
    private readonly f: FnBuilder,
    private readonly lanes: number,
  ) {
    [this.pa, this.pb, this.e, this.sc, this.sp] = [f.i32(), f.i32(), f.i32(), f.f32(), f.f32()];
    this.v = lanes > 1 ? f.v128() : undefined;
  }

  private get m(): binaryen.Module {
    return this.f.m;
  }

  /**
   * out = Σ a[e] b[e] (float32): with SIMD, four lane sums over the first n - n % 4 elements,
   * the tail added to lane 0, then the lanes summed in order (the C kernel's order).
   */
  dot(out: Local, a: Expr, b: Expr, n: number): Expr[] {
    const { m, f, pa, pb, e, v } = this;
    const n4 = v ? n - (n % 4) : 0;
    const code: Expr[] = [f.set(pa, a), f.set(pb, b), f.set(out, m.f32.const(0))];
    if (n4 > 0 && v)
      code.push(
        f.set(v, m.v128.const([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
        f.forRange(e, m.i32.const(0), i32c(m, F * n4), [f.set(v, m.f32x4.add(f.get(v), m.f32x4.mul(m.v128.load(0, 4, m.i32.add(f.get(pa), f.get(e))), m.v128.load(0, 4, m.i32.add(f.get(pb), f.get(e))))))], 16),
      );
    if (n4 < n)
      code.push(f.forRange(e, i32c(m, F * n4), i32c(m, F * n), [f.set(out, m.f32.add(f.get(out), m.f32.mul(f32load(m, m.i32.add(f.get(pa), f.get(e))), f32load(m, m.i32.add(f.get(pb), f.get(e))))))], 4));
    if (n4 > 0 && v) {
      const lane = (i: number): Expr => m.f32x4.extract_lane(f.get(v), i);
      code.push(f.set(out, m.f32.add(m.f32.add(m.f32.add(m.f32.add(lane(0), f.get(out)), lane(1)), lane(2)), lane(3))));
    }
    return code;
  }

  /** acc[e] = acc[e] * c (+ p * x[e] where `x` is given), e < n: elementwise, so SIMD changes no rounding. */
  update(acc: Expr, n: number, c: Expr | null, x: { at: Expr; p: Expr } | null): Expr[] {
    const { m, f, pa, pb, e, sc, sp } = this;
    const n4 = this.lanes > 1 ? n - (n % 4) : 0;
    const code: Expr[] = [f.set(pa, acc)];
    if (x) code.push(f.set(pb, x.at), f.set(sp, x.p));
    if (c) code.push(f.set(sc, c));
    const one = (load: (p: Expr) => Expr, store: (p: Expr, v: Expr) => Expr, mul: (a: Expr, b: Expr) => Expr, add: (a: Expr, b: Expr) => Expr, splat: (l: Local) => Expr): Expr => {
      let v = load(m.i32.add(f.get(pa), f.get(e)));
      if (c) v = mul(v, splat(sc));
      if (x) v = add(v, mul(splat(sp), load(m.i32.add(f.get(pb), f.get(e)))));
      return store(m.i32.add(f.get(pa), f.get(e)), v);
    };
    if (n4 > 0)
      code.push(
        f.forRange(
          e,
          m.i32.const(0),
          i32c(m, F * n4),
          [one((p) => m.v128.load(0, 4, p), (p, v) => m.v128.store(0, 4, p, v), (a, b) => m.f32x4.mul(a, b), (a, b) => m.f32x4.add(a, b), (l) => m.f32x4.splat(f.get(l)))],
          16,
        ),
      );
    if (n4 < n) code.push(f.forRange(e, i32c(m, F * n4), i32c(m, F * n), [one((p) => f32load(m, p), (p, v) => f32store(m, p, v), (a, b) => m.f32.mul(a, b), (a, b) => m.f32.add(a, b), (l) => f.get(l))], 4));
    return code;
  }
}

/** e^x of a float32, through the float64 exp (one rounding). */
export function expf(env: ProgramEnv, x: Expr): Expr {
  return env.m.f32.demote(env.math.exp(env.m.f64.promote(x)));
}

/**
 * The fold of one kernel: a function `name` (qa, qb, j0, j1, b, kvh, ca, cb, s) that folds keys
 * j0..j1-1 into `rows` blocks at b (stride `blockBytes(width)`), the tile's scores and maxima
 * in scratch at s (`foldScratchBytes`, in the calling thread's area). `score` gives a row's score of key j
 * (before the scale), `value` the address of key j's value row (`width` floats).
 */
export interface FoldSpec {
  name: string;
  rows: number;
  keyTile: number;
  width: number;
  scale: number;
  /** dot of query row r with key j into `out` (`r` and `j` make fresh expressions: a binaryen node has one parent). */
  score: (g: FoldLocals, r: () => Expr, j: () => Expr, out: Local) => Expr[];
  value: (g: FoldLocals, j: () => Expr) => Expr;
}

/** The fold function's params and locals, for `FoldSpec`'s callbacks. */
export interface FoldLocals {
  f: FnBuilder;
  ops: RowOps;
  qa: Local;
  qb: Local;
  kvh: Local;
  ca: Local;
  cb: Local;
  /** A spare f32 for the callbacks. */
  tmp: Local;
}

/** Bytes of the fold's scratch: the tile's scores and the rows' tile maxima. */
export const foldScratchBytes = (rows: number, keyTile: number): number => F * rows * (keyTile + 1);

/**
 * Builds the fold function (see `FoldSpec`): the online softmax as targets/c/attention.c.hbs writes it: scores of the tile and their max per
 * row, the blocks rescaled by exp(m_old - m_new), then exp(s - m) weights the value rows.
 */
export function buildFold(env: ProgramEnv, spec: FoldSpec): void {
  const m = env.m;
  const i32 = binaryen.i32;
  const f = new FnBuilder(m, spec.name, [i32, i32, i32, i32, i32, i32, i32, i32, i32]);
  const [qa, qb, j0, j1, b, kvh, ca, cb, s] = f.params;
  const ops = new RowOps(f, env.lanes);
  const g: FoldLocals = { f, ops, qa, qb, kvh, ca, cb, tmp: f.f32() };
  const jt = f.i32();
  const n = f.i32();
  const i = f.i32();
  const r = f.i32();
  const mt = f.i32();
  const br = f.i32();
  const dot = f.f32();
  const corr = f.f32();
  const p = f.f32();
  const BB = blockBytes(spec.width);
  const KT = spec.keyTile;
  const sAt = (): Expr => m.i32.add(f.get(s), m.i32.shl(m.i32.add(m.i32.mul(f.get(r), i32c(m, KT)), f.get(i)), m.i32.const(2)));
  const mtAt = (): Expr => m.i32.add(f.get(mt), m.i32.shl(f.get(r), m.i32.const(2)));
  const block = (): Expr => m.i32.add(f.get(b), m.i32.mul(f.get(r), i32c(m, BB)));
  const j = (): Expr => m.i32.add(f.get(jt), f.get(i));
  f.finish([
    f.set(mt, m.i32.add(f.get(s), i32c(m, F * spec.rows * KT))),
    f.forRange(
      jt,
      f.get(j0),
      f.get(j1),
      [
        f.set(n, m.select(m.i32.lt_s(m.i32.sub(f.get(j1), f.get(jt)), i32c(m, KT)), m.i32.sub(f.get(j1), f.get(jt)), i32c(m, KT))),
        f.forRange(r, m.i32.const(0), i32c(m, spec.rows), [f32store(m, mtAt(), f32load(m, block()))]),
        f.forRange(i, m.i32.const(0), f.get(n), [
          f.forRange(r, m.i32.const(0), i32c(m, spec.rows), [
            ...spec.score(g, () => f.get(r), j, dot),
            f.set(dot, m.f32.mul(f.get(dot), m.f32.const(spec.scale))),
            f32store(m, sAt(), f.get(dot)),
            m.if(m.f32.gt(f.get(dot), f32load(m, mtAt())), f32store(m, mtAt(), f.get(dot))),
          ]),
        ]),
        f.forRange(r, m.i32.const(0), i32c(m, spec.rows), [
          f.set(br, block()),
          f.set(corr, expf(env, m.f32.sub(f32load(m, f.get(br)), f32load(m, mtAt())))),
          f32store(m, f.get(br), f32load(m, mtAt())),
          f32store(m, f.get(br), m.f32.mul(f32load(m, f.get(br), 4), f.get(corr)), 4),
          ...ops.update(m.i32.add(f.get(br), m.i32.const(16)), spec.width, f.get(corr), null),
        ]),
        f.forRange(i, m.i32.const(0), f.get(n), [
          f.forRange(r, m.i32.const(0), i32c(m, spec.rows), [
            f.set(br, block()),
            f.set(p, expf(env, m.f32.sub(f32load(m, sAt()), f32load(m, f.get(br))))),
            f32store(m, f.get(br), m.f32.add(f32load(m, f.get(br), 4), f.get(p)), 4),
            ...ops.update(m.i32.add(f.get(br), m.i32.const(16)), spec.width, null, { at: spec.value(g, j), p: f.get(p) }),
          ]),
        ]),
      ],
      KT,
    ),
  ]);
}

/** Empties `rows` blocks at the address in local `b` (m = -inf, l = 0, acc = 0). */
export function emptyBlocks(f: FnBuilder, b: Local, rows: number, width: number, r: Local): Expr[] {
  const m = f.m;
  return [
    m.memory.fill(f.get(b), m.i32.const(0), i32c(m, rows * blockBytes(width))),
    f.forRange(r, m.i32.const(0), i32c(m, rows), [f32store(m, m.i32.add(f.get(b), m.i32.mul(f.get(r), i32c(m, blockBytes(width)))), m.f32.const(-Infinity))]),
  ];
}

/** [lo, hi) of part `part` of `parts` over n (the C runtime's moec_split); each argument makes a fresh expression. */
export function splitRange(f: FnBuilder, n: () => Expr, part: Local, parts: Local, lo: Local, hi: Local): Expr[] {
  const m = f.m;
  const at = (k: Expr): Expr => m.i32.wrap(m.i64.div_s(m.i64.mul(m.i64.extend_s(n()), m.i64.extend_s(k)), m.i64.extend_s(f.get(parts))));
  return [f.set(lo, at(f.get(part))), f.set(hi, at(m.i32.add(f.get(part), m.i32.const(1))))];
}
