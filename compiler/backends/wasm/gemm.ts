/**
 * @fileoverview The GEMM kernels in Wasm: grouped GEMMs (sorted path over moe_align's
 * blocks, and the direct decode path over token slots) and the dense GEMM, sharing one
 * register-blocked core and one epilogue renderer.
 *
 * The core computes a set of A rows (their addresses in a scratch table) against one weight
 * matrix into a float32 row tile C in scratch, then each row's epilogues (bias, act, glu)
 * run on C and the row is stored: copied to its output row, or for `combine` added into its
 * token's output row scaled by the routing weight.
 *
 * Tiling, from the kernel's `Tiling` (never chosen here): rows come in sets of `m` (a
 * moe_align block on the sorted path, `m` rows of a dense GEMM); columns in panels of `n`;
 * inside, micro-tiles of `mr` rows by `nr` columns held in registers.
 * - transB (W row-major [N, Kd]): mr × (nr / lanes) accumulators, each a vector along K
 *   for one output (`lanes` floats), reduced across lanes once at the end of K.
 * - W [Kd, N]: accumulators are mr × (nr / lanes) vectors along N; A is broadcast
 *   (`v128.load32_splat`).
 * The scalar build is the same code with `lanes = 1` (f32 locals instead of v128).
 * K runs whole per micro-tile: splitting it at the tile's `k` would add a lane reduction
 * per K step on the transB layout; at these sizes the A rows and the W panel stay in L1/L2.
 *
 * Accumulation is float32 (the reference accumulates in float64): the results differ by
 * float32 rounding of the sums, which the parity tests bound.
 *
 * Combine: the output starts as `init` (or 0) for every token, then each kept slot's row is
 * added as out[t] += w[t, k] · row. The reference sums a token's choices in k order before
 * adding init; this order follows the sorted rows instead (deterministic for given routing,
 * different in float32 rounding only).
 */
import binaryen from 'binaryen';
import type { Epilogue, GemmKernel, GroupedGemmKernel, Tiling } from '../../../ir/kernel/kernel.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { KernelFn, type ProgramEnv, type ProgramShapes } from './env.ts';
import { type Expr, FnBuilder, type Local, f32load, f32store, i32c, i32load, i32store, relaxedMadd } from './fn.ts';
import type { Activation } from './math.ts';
import { type QuantView, quantCodeBytes, quantMicroKernel, quantView } from './quant.ts';

/** A GEMM's tile: the tiler's, never one made up here. */
function tileOf(k: GroupedGemmKernel | GemmKernel): Tiling {
  if (!k.tile) fail('E701', `the ${k.kind} writing ${k.out} is not tiled`, undefined, 'run the tile pass for this target before building Wasm');
  return k.tile;
}

interface Shape {
  /** Columns of the GEMM (before a glu halves them). */
  N: number;
  /** Reduction depth. */
  Kd: number;
  transB: boolean;
  /** Rows per set (the table's capacity). */
  M: number;
  /** A quantized weight: its codes are read and dequantized in registers. */
  q?: QuantView;
}

function shapeOf(buffers: ProgramShapes['buffers'], k: GroupedGemmKernel | GemmKernel, rowsPerSet: number): Shape {
  const w = buffers.get(k.w)!.shape.map(Number);
  const grouped = k.kind === 'grouped_gemm';
  const [a, b] = grouped ? [w[1], w[2]] : [w[0], w[1]];
  // The reduction axis: the last of W [.., N, Kd] (transB), else the second-last of [.., Kd, N].
  const q = quantView(buffers.get(k.w)!, w.length - (k.transB ? 1 : 2), `${k.kind} ${k.out}`);
  return k.transB ? { N: a, Kd: b, transB: true, M: rowsPerSet, q } : { N: b, Kd: a, transB: false, M: rowsPerSet, q };
}

/** Where one weight matrix (an expert's, or the dense GEMM's) starts: f32 values, or codes and scales. */
export interface WeightAt {
  w: Expr;
  scales?: Expr;
}

/** The bytes from one expert's matrix to the next: f32 values, or codes and scales. */
function expertStride(s: Shape): { w: number; scales: number } {
  if (!s.q) return { w: 4 * s.N * s.Kd, scales: 0 };
  return { w: quantCodeBytes(s.q.dtype, s.N * s.Kd), scales: 4 * s.N * Math.ceil(s.Kd / s.q.group) };
}

/** Scratch: the A-row table and slot table (i32[M] each), then C (f32[M, N]). */
function scratchOffsets(s: Shape): { table: number; slots: number; c: number; end: number } {
  const c = Math.ceil((8 * s.M) / 16) * 16;
  return { table: 0, slots: 4 * s.M, c, end: c + 4 * s.M * s.N };
}

/** Columns [from, to) of a GEMM one thread computes: whole column panels. */
interface ColumnRange {
  from: Local;
  to: Local;
}

/**
 * This thread's share [lo, hi) of `total` items (contiguous, in thread order): every item is
 * computed by one thread with the code the one-thread build runs, so the output is the same.
 */
function share(f: KernelFn, total: () => Expr, lo: Local, hi: Local): Expr[] {
  const m = f.m;
  const part = (t: Expr): Expr => m.i32.div_u(m.i32.mul(t, total()), f.nthreads());
  return [f.set(lo, part(f.tid())), f.set(hi, part(m.i32.add(f.tid(), m.i32.const(1))))];
}

/** This thread's whole column panels of an N-column GEMM with panels of `n` (all of them in the one-thread build). */
function columnShare(f: KernelFn, N: number, n: number): { range: ColumnRange; code: Expr[] } {
  const m = f.m;
  const range = { from: f.i32(), to: f.i32() };
  const code = share(f, () => i32c(m, Math.ceil(N / n)), range.from, range.to);
  code.push(f.set(range.from, m.i32.mul(f.get(range.from), i32c(m, n))), f.set(range.to, m.i32.mul(f.get(range.to), i32c(m, n))));
  code.push(m.if(m.i32.gt_s(f.get(range.to), i32c(m, N)), f.set(range.to, i32c(m, N))));
  return { range, code };
}

/** The padding block of a grouped GEMM's moe_align (its rows come in blocks of one expert). */
function blockOf(env: ProgramShapes, k: GroupedGemmKernel): number {
  const align = env.aligns.get(k.sorted);
  if (!align) throw new Error(`wasm backend: no moe_align writes ${k.sorted}`);
  return align.block;
}

/**
 * Rows in one row set (the table's capacity): a dense GEMM's tile m; a grouped GEMM's pass,
 * the tiler's `tile.pass` rows of one expert (whole blocks) computed in one pass over its
 * weights, else one block.
 */
function rowsPerSet(env: ProgramShapes, k: GroupedGemmKernel | GemmKernel): number {
  if (k.kind === 'gemm') return tileOf(k).m;
  const block = blockOf(env, k);
  const pass = k.tile?.pass ?? block;
  if (pass % block !== 0) throw new Error(`wasm backend: the grouped GEMM writing ${k.out} passes over ${pass} rows, not whole blocks of ${block}`);
  return pass;
}

export function gemmScratchBytes(env: ProgramShapes, k: GroupedGemmKernel | GemmKernel): number {
  return scratchOffsets(shapeOf(env.buffers, k, rowsPerSet(env, k))).end;
}

/** The register-blocked core: C[i, :] = A-row(table[i]) · W for i < count. */
class GemmCore {
  private readonly m: binaryen.Module;
  private readonly vl: number;
  private readonly tile: Tiling;
  private readonly jp: Local;
  private readonly jend: Local;
  private readonly j: Local;
  private readonly r0: Local;
  private readonly wk: Local;
  private readonly sk: Local;
  private readonly a: Local[];

  constructor(
    private readonly f: KernelFn,
    private readonly s: Shape,
    t: Tiling,
    private readonly cOff: number,
    private readonly tableOff: number,
  ) {
    this.m = f.m;
    this.vl = f.env.lanes;
    this.tile = { ...t, mr: Math.max(1, t.mr), nr: Math.max(1, t.nr), n: Math.max(1, t.n) };
    // i4 on W [Kd, N] packs two columns per byte: vector tiles must start at even columns.
    if (s.q?.dtype === 'i4' && !s.transB && this.vl > 1 && this.tile.n % 2 !== 0)
      fail('E701', `an i4 GEMM over W [${s.Kd}, ${s.N}] with column panels of ${this.tile.n}: the wasm kernels decode i4 a byte (two columns) at a time`, undefined, 'quantize this weight to i8 or fp8, or use the wasm-scalar target');
    this.jp = f.i32();
    this.jend = f.i32();
    this.j = f.i32();
    this.r0 = f.i32();
    this.wk = f.i32();
    this.sk = f.i32();
    this.a = Array.from({ length: this.tile.mr }, () => f.i32());
  }

  /** Columns per panel (the tile's n). */
  get panel(): number {
    return this.tile.n;
  }

  /**
   * Columns one micro-tile covers. The tiler sizes mr × (nr / vector) vector accumulators to
   * the register file; on W [Kd, N] that is nr columns, on the transB layout (one vector
   * accumulator per output) nr / vector columns, the same number of registers.
   */
  private colStep(vl: number): number {
    const vectors = Math.max(1, Math.floor(this.tile.nr / vl));
    return this.s.transB ? vectors : vectors * vl;
  }

  /**
   * Loops over column panels, row micro-tiles and column micro-tiles. `count`: rows in the
   * table (a fresh expression per call). `cols`: this thread's columns, whole panels (else all).
   */
  run(w: WeightAt, count: () => Expr, rows: { one?: boolean; multipleOf?: number } = {}, cols?: ColumnRange): Expr[] {
    const { f, m, s, tile } = this;
    const g = (l: Local): Expr => f.get(l);
    const R = rows.one ? 1 : tile.mr;
    // One row (the decode path) on W [N, Kd]: the tile's `streams` columns at once, each its
    // own stream of weights from memory (the tiler's; more streams in flight than a micro-tile's).
    const step = rows.one && s.transB && tile.streams ? tile.streams : this.colStep(this.vl);
    const tailVl = s.transB ? this.vl : 1;
    // Tails only where the sizes leave one (known at compile time): smaller code, same loops.
    const colTail = tile.n % step !== 0 || s.N % step !== 0;
    const rowTail = R > 1 && (rows.multipleOf === undefined || rows.multipleOf % R !== 0);
    const loadRows = (n: number): Expr[] =>
      Array.from({ length: n }, (_, i) => f.set(this.a[i], i32load(m, m.i32.add(f.scratch(this.tableOff), m.i32.shl(m.i32.add(g(this.r0), i32c(m, i)), m.i32.const(2))))));
    const columns = (n: number): Expr[] => [
      f.forRange(this.j, g(this.jp), m.i32.sub(g(this.jend), i32c(m, step - 1)), this.micro(n, step, this.vl), step),
      ...(colTail ? [f.forRange(this.j, g(this.j), g(this.jend), this.micro(n, 1, tailVl))] : []),
    ];
    return [
      f.set(this.wk, w.w),
      ...(s.q ? [f.set(this.sk, w.scales!)] : []),
      f.forRange(this.jp, cols ? g(cols.from) : m.i32.const(0), cols ? g(cols.to) : i32c(m, s.N), [
        f.set(this.jend, m.i32.add(g(this.jp), i32c(m, tile.n))),
        m.if(m.i32.gt_s(g(this.jend), i32c(m, s.N)), f.set(this.jend, i32c(m, s.N))),
        f.forRange(this.r0, m.i32.const(0), m.i32.sub(count(), i32c(m, R - 1)), [...loadRows(R), ...columns(R)], R),
        ...(rowTail ? [f.forRange(this.r0, g(this.r0), count(), [...loadRows(1), ...columns(1)])] : []),
      ], tile.n),
    ];
  }

  /** One micro-tile: `rows` × `cols` outputs at (r0, j), vector length `vl`: a call of the shared micro-kernel. */
  private micro(rows: number, cols: number, vl: number): Expr[] {
    const { f, m, s } = this;
    const g = (l: Local): Expr => f.get(l);
    const c = m.i32.add(m.i32.add(f.scratch(this.cOff), m.i32.mul(g(this.r0), i32c(m, 4 * s.N))), m.i32.shl(g(this.j), m.i32.const(2)));
    if (s.q) {
      const q = quantMicroKernel(m, { q: s.q, N: s.N, K: s.Kd, transB: s.transB }, rows, cols, vl);
      return [m.call(q, [...this.a.slice(0, rows).map((x) => g(x)), g(this.wk), g(this.sk), c, g(this.j)], binaryen.none)];
    }
    const name = microKernel(m, rows, cols, vl, s.transB, f.env.relaxed);
    // transB: column j starts j·Kd floats into W; otherwise at float j of each K row.
    const w = m.i32.add(g(this.wk), s.transB ? m.i32.mul(g(this.j), i32c(m, 4 * s.Kd)) : m.i32.shl(g(this.j), m.i32.const(2)));
    const args = [...this.a.slice(0, rows).map((x) => g(x)), w, c, i32c(m, 4 * s.Kd), i32c(m, s.transB ? 4 * s.Kd : 4 * s.N), i32c(m, 4 * s.N)];
    return [m.call(name, args, binaryen.none)];
  }
}

/**
 * K steps per iteration of the transB micro-kernel's main loop (see there). Measured (CPU time
 * per forward at T = 256, SIMD128 / relaxed): mixtral-mini 548 / 571 ms at 1, 489 / 471 at 2,
 * 506 / 471 at 4, 623 / 611 at 8; deepseek-mini 308 / 310, 300 / 277, 311 / 279, 353 / 346.
 */
const UNROLL = 2;

/**
 * The micro-kernel `rows` × `cols` as a function shared by every GEMM of the module:
 * `(a_0 .. a_{rows-1}, w, c, kBytes, wStride, cStride)` with A-row addresses, the address of
 * the tile's first W element, of its first C element, the reduction depth in bytes, the
 * bytes between W columns (transB) or K rows (otherwise), and between C rows. A call per
 * micro-tile costs little next to its rows × cols × K multiply-adds, and one copy per shape
 * keeps the module (and its .wat) small. With `relaxed` (the caps say fma: the engine offers
 * relaxed SIMD) each vector multiply-add is one `f32x4.relaxed_madd`, which the engine may
 * fuse (one rounding instead of two: within the parity tolerance, not bit-equal to SIMD128).
 */
function microKernel(m: binaryen.Module, rows: number, cols: number, vl: number, transB: boolean, relaxed: boolean): string {
  const name = `micro_${transB ? 't' : 'n'}${rows}x${cols}${vl > 1 ? 'v' : 's'}`;
  if (m.getFunction(name)) return name;
  const f = new FnBuilder(m, name, Array.from({ length: rows + 5 }, () => binaryen.i32));
  const a = f.params.slice(0, rows);
  const [w, c, kBytes, wStride, cStride] = f.params.slice(rows);
  const g = (l: Local): Expr => f.get(l);
  const vec = vl > 1;
  const type = vec ? binaryen.v128 : binaryen.f32;
  const o = f.i32();
  const zero = (): Expr => (vec ? m.v128.const(new Array(16).fill(0)) : m.f32.const(0));
  const madd = (x: Expr, p: Expr, q: Expr): Expr => (!vec ? m.f32.add(x, m.f32.mul(p, q)) : relaxed ? relaxedMadd(m, p, q, x) : m.f32x4.add(x, m.f32x4.mul(p, q)));
  const cAt = (i: number): Expr => (i === 0 ? g(c) : m.i32.add(g(c), m.i32.mul(g(cStride), i32c(m, i))));
  const body: Expr[] = [];
  if (transB) {
    // Accumulators along K, one per (row, column); lane sums at the end, then K % lanes in scalar.
    const wc = Array.from({ length: cols }, () => f.i32());
    const acc = Array.from({ length: rows }, () => Array.from({ length: cols }, () => f.local(type)));
    const av = Array.from({ length: rows }, () => f.local(type));
    const wv = Array.from({ length: cols }, () => f.local(type));
    const sums = acc.map((row) => row.map(() => f.f32()));
    const kv = f.i32();
    const load = (p: Expr, offset = 0): Expr => (vec ? m.v128.load(offset, 4, p) : f32load(m, p, offset));
    for (let j = 0; j < cols; j++) body.push(f.set(wc[j], j === 0 ? g(w) : m.i32.add(g(w), m.i32.mul(g(wStride), i32c(m, j)))));
    for (const row of acc) for (const x of row) body.push(f.set(x, zero()));
    // W vectors first, then one A row at a time: rows × cols accumulators, cols W vectors, one
    // A vector and one product live at once (10 + 2 + 1 + 1 of x64's 16 vector registers for
    // 5 x 2; loading every A row first needed 17, and the engine spilled).
    const stepAt = (ptr: (base: Local) => Expr, offset: number): Expr[] => {
      const code: Expr[] = [];
      for (let j = 0; j < cols; j++) code.push(f.set(wv[j], load(ptr(wc[j]), offset)));
      for (let i = 0; i < rows; i++) {
        code.push(f.set(av[i], load(ptr(a[i]), offset)));
        for (let j = 0; j < cols; j++) code.push(f.set(acc[i][j], madd(g(acc[i][j]), g(av[i]), g(wv[j]))));
      }
      return code;
    };
    // K unrolled UNROLL vectors deep: each row's and column's address is formed once per
    // UNROLL steps and the loads take constant offsets (the engine adds an address per load
    // otherwise: 7 integer adds per 10 multiply-adds of a 5 x 2 tile). The same
    // multiply-adds in the same order per accumulator, so the same sums.
    const bytes = 4 * vl;
    const ptrs = [...a, ...wc].map(() => f.i32());
    const at = new Map([...a, ...wc].map((l, n) => [l, ptrs[n]]));
    const unrolled: Expr[] = [...[...a, ...wc].map((l) => f.set(at.get(l)!, m.i32.add(g(l), g(o))))];
    for (let u = 0; u < UNROLL; u++) unrolled.push(...stepAt((l) => g(at.get(l)!), u * bytes));
    body.push(f.set(kv, vec ? m.i32.and(g(kBytes), m.i32.const(~15)) : g(kBytes)));
    body.push(f.forRange(o, m.i32.const(0), m.i32.sub(g(kv), i32c(m, (UNROLL - 1) * bytes)), unrolled, UNROLL * bytes));
    body.push(f.forRange(o, g(o), g(kv), stepAt((l) => m.i32.add(g(l), g(o)), 0), bytes));
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) {
        const lane = (l: number): Expr => m.f32x4.extract_lane(g(acc[i][j]), l);
        body.push(f.set(sums[i][j], vec ? m.f32.add(m.f32.add(lane(0), lane(1)), m.f32.add(lane(2), lane(3))) : g(acc[i][j])));
      }
    if (vec) {
      const tail: Expr[] = [];
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < cols; j++) tail.push(f.set(sums[i][j], m.f32.add(g(sums[i][j]), m.f32.mul(f32load(m, m.i32.add(g(a[i]), g(o))), f32load(m, m.i32.add(g(wc[j]), g(o)))))));
      body.push(f.forRange(o, g(kv), g(kBytes), tail, 4));
    }
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) body.push(f32store(m, cAt(i), g(sums[i][j]), 4 * j));
  } else {
    // Accumulators along N (cols / vl vectors per row); A broadcast, W rows streamed.
    const nv = Math.max(1, cols / vl);
    const acc = Array.from({ length: rows }, () => Array.from({ length: nv }, () => f.local(type)));
    const av = Array.from({ length: rows }, () => f.local(type));
    const wv = Array.from({ length: nv }, () => f.local(type));
    const wrow = f.i32();
    body.push(f.set(wrow, g(w)));
    for (const row of acc) for (const x of row) body.push(f.set(x, zero()));
    const step: Expr[] = [];
    for (let i = 0; i < rows; i++) step.push(f.set(av[i], vec ? m.v128.load32_splat(0, 4, m.i32.add(g(a[i]), g(o))) : f32load(m, m.i32.add(g(a[i]), g(o)))));
    for (let j = 0; j < nv; j++) {
      step.push(f.set(wv[j], vec ? m.v128.load(16 * j, 4, g(wrow)) : f32load(m, g(wrow), 4 * j)));
      for (let i = 0; i < rows; i++) step.push(f.set(acc[i][j], madd(g(acc[i][j]), g(av[i]), g(wv[j]))));
    }
    step.push(f.set(wrow, m.i32.add(g(wrow), g(wStride))));
    body.push(f.forRange(o, m.i32.const(0), g(kBytes), step, 4));
    for (let i = 0; i < rows; i++) for (let j = 0; j < nv; j++) body.push(vec ? m.v128.store(16 * j, 4, cAt(i), g(acc[i][j])) : f32store(m, cAt(i), g(acc[i][j]), 4 * j));
  }
  f.finish(body);
  return name;
}

/**
 * The epilogue chain (without combine) on one C row at `row`, in float32 as the C backend
 * and the reference's graph ops round: every product, sum and clamp is a float32 operation;
 * only an activation (one graph op: sigmoid, silu, ...) is evaluated in float64 and rounded
 * once. Float64 intermediates here would keep values finite that overflow float32 everywhere
 * else (gpt-oss: (up + 1) · gate past 3.4e38 is Inf, times sigmoid 0 is NaN). Returns the
 * code and the row's width.
 */
function epilogueRow(f: KernelFn, chain: readonly Epilogue[], row: Local, n: number, expert: Local | null, cols?: ColumnRange): { code: Expr[]; width: number } {
  const m = f.m;
  const j = f.i32();
  const g = f.f32();
  const u = f.f32();
  const c = (v: number): Expr => m.f32.const(Math.fround(v));
  const at = (col: Expr): Expr => m.i32.add(f.get(row), m.i32.shl(col, m.i32.const(2)));
  /** An activation of a float32 value, rounded to float32. */
  const act = (fn: Activation, x: Expr): Expr => m.f32.demote(f.env.math.act(fn, m.f64.promote(x)));
  const code: Expr[] = [];
  let width = n;
  // Bias and act are per column: a thread applies them to its columns only.
  const from = (): Expr => (cols ? f.get(cols.from) : m.i32.const(0));
  const to = (w: number): Expr => (cols ? f.get(cols.to) : i32c(m, w));
  for (const e of chain) {
    if (e.kind === 'bias') {
      const base = expert ? m.i32.add(f.addr(e.bias), m.i32.mul(f.get(expert), i32c(m, 4 * width))) : f.addr(e.bias);
      const b = f.i32();
      code.push(
        f.set(b, base),
        f.forRange(j, from(), to(width), [f32store(m, at(f.get(j)), m.f32.add(f32load(m, at(f.get(j))), f32load(m, m.i32.add(f.get(b), m.i32.shl(f.get(j), m.i32.const(2))))))]),
      );
    } else if (e.kind === 'act') {
      code.push(f.forRange(j, from(), to(width), [f32store(m, at(f.get(j)), act(e.fn, f32load(m, at(f.get(j)))))]));
    } else if (e.kind === 'glu') {
      if (cols) throw new Error('wasm backend: a glu epilogue pairs columns across the row; it runs on whole rows');
      const half = width / 2;
      const inter = e.layout === 'interleaved';
      const gi = inter ? m.i32.shl(f.get(j), m.i32.const(1)) : f.get(j);
      const ui = inter ? m.i32.add(m.i32.shl(f.get(j), m.i32.const(1)), m.i32.const(1)) : m.i32.add(f.get(j), i32c(m, half));
      let value: Expr;
      if (e.fn === 'swiglu') value = m.f32.mul(act('silu', f.get(g)), f.get(u));
      else {
        // GPT-OSS: g = min(g, limit), u = clamp(u, -limit, limit), (u + 1) · g · sigmoid(alpha · g).
        // f32.min/max keep a NaN, as the reference's Math.min/max do.
        const limit = e.limit!;
        const gc = (): Expr => m.f32.min(f.get(g), c(limit));
        const uc = m.f32.min(m.f32.max(f.get(u), c(-limit)), c(limit));
        value = m.f32.mul(m.f32.mul(m.f32.add(uc, c(1)), gc()), act('sigmoid', m.f32.mul(c(e.alpha!), gc())));
      }
      // In place: output column j is written after every column it could overwrite was read.
      code.push(f.forRange(j, m.i32.const(0), i32c(m, half), [f.set(g, f32load(m, at(gi))), f.set(u, f32load(m, at(ui))), f32store(m, at(f.get(j)), value)]));
      width = half;
    } else throw new Error('wasm backend: combine must be the last epilogue');
  }
  return { code, width };
}

/**
 * out[i] += w · row[i] for i < width (float32; vectors of 4 when the build has them), or for
 * i in this thread's columns `cols` (vectors from its first column, then the rest one by one:
 * each element gets the same float32 product and sum either way).
 */
function addScaled(f: KernelFn, out: Expr, row: Local, weight: Expr, width: number, cols?: ColumnRange): Expr[] {
  const m = f.m;
  const o = f.i32();
  const w = f.f32();
  const dst = f.i32();
  const vec = f.env.lanes > 1;
  const vecBytes = vec ? 16 * Math.floor(width / 4) : 0;
  const code: Expr[] = [f.set(w, weight), f.set(dst, out)];
  const p = (base: Local): Expr => m.i32.add(f.get(base), f.get(o));
  const vecStep = (wv: Local): Expr => m.v128.store(0, 4, p(dst), m.f32x4.add(m.v128.load(0, 4, p(dst)), m.f32x4.mul(f.get(wv), m.v128.load(0, 4, p(row)))));
  const scalarStep = f32store(m, p(dst), m.f32.add(f32load(m, p(dst)), m.f32.mul(f.get(w), f32load(m, p(row)))));
  if (cols) {
    const end = f.i32();
    code.push(f.set(end, m.i32.shl(f.get(cols.to), m.i32.const(2))), f.set(o, m.i32.shl(f.get(cols.from), m.i32.const(2))));
    if (vec) {
      const wv = f.v128();
      code.push(f.set(wv, m.f32x4.splat(f.get(w))), f.forRange(o, f.get(o), m.i32.sub(f.get(end), m.i32.const(15)), [vecStep(wv)], 16));
    }
    code.push(f.forRange(o, f.get(o), f.get(end), [scalarStep], 4));
    return code;
  }
  if (vecBytes > 0) {
    const wv = f.v128();
    code.push(f.set(wv, m.f32x4.splat(f.get(w))), f.forRange(o, m.i32.const(0), i32c(m, vecBytes), [vecStep(wv)], 16));
  }
  if (vecBytes < 4 * width) code.push(f.forRange(o, i32c(m, vecBytes), i32c(m, 4 * width), [scalarStep], 4));
  return code;
}

/**
 * How a grouped GEMM's work is split over threads (the threaded build): without combine,
 * by rows (contiguous shares of the routed slots, or of the sorted blocks: each row is
 * computed by one thread, each expert's weights read once per thread that has its blocks);
 * with combine, by whole column panels (rows of different experts add into one token's
 * output row, so a thread owns columns instead); a combine after a glu (which pairs columns
 * across the row) runs on thread 0. The output equals the one-thread build's bit for bit:
 * every element is computed by the same code in the same order.
 */
type GroupedSplit = 'rows' | 'columns' | 'thread0';

export function buildGroupedGemm(env: ProgramEnv, k: GroupedGemmKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const M = rowsPerSet(env, k);
  const s = shapeOf(env.buffers, k, M);
  const off = scratchOffsets(s);
  const experts = Number(f.buffer(k.w).shape[0]);
  const last = k.epilogue[k.epilogue.length - 1];
  const combine = last?.kind === 'combine' ? last : undefined;
  const chain = combine ? k.epilogue.slice(0, -1) : k.epilogue;
  const split: GroupedSplit = !env.threads ? 'rows' : !combine ? 'rows' : chain.some((ep) => ep.kind === 'glu') ? 'thread0' : 'columns';
  const core = new GemmCore(f, s, tileOf(k), off.c, off.table);
  const g = (l: Local): Expr => f.get(l);
  const K = k.k;
  const aRowBytes = 4 * s.Kd;
  const slotsN = f.i32();
  const e = f.i32();
  const w = f.i32();
  const ws = f.i32();
  const i = f.i32();
  const slot = f.i32();
  const row = f.i32();
  const b = f.i32();
  const r = f.i32();
  const lo = f.i32();
  const hi = f.i32();
  const sAt = (buf: string, idx: Expr): Expr => m.i32.add(f.addr(buf), m.i32.shl(idx, m.i32.const(2)));
  const width = chain.reduce((n, ep) => (ep.kind === 'glu' ? n / 2 : n), s.N);
  const cols = split === 'columns' ? columnShare(f, s.N, core.panel) : undefined;
  /** A row's address: x[s / K] when gathering, else row `r` of `a`. */
  const aRow = (sl: Expr, rr: Expr): Expr => m.i32.add(f.addr(k.a), m.i32.mul(k.gather ? m.i32.div_u(sl, i32c(m, K)) : rr, i32c(m, aRowBytes)));
  /** Stores C row i (slot `slot`, output row `outRow`) after its epilogues. */
  const store = (outRow: Expr): Expr[] => [
    f.set(row, m.i32.add(f.scratch(off.c), m.i32.mul(g(i), i32c(m, 4 * s.N)))),
    // Rendered per call site: binaryen expressions are a tree, never shared.
    ...epilogueRow(f, chain, row, s.N, e, cols?.range).code,
    ...(combine
      ? addScaled(f, m.i32.add(f.addr(k.out), m.i32.mul(m.i32.div_u(g(slot), i32c(m, K)), i32c(m, 4 * width))), row, f32load(m, sAt(combine.weights, g(slot))), width, cols?.range)
      : [m.memory.copy(m.i32.add(f.addr(k.out), m.i32.mul(outRow, i32c(m, 4 * width))), g(row), i32c(m, 4 * width))]),
  ];
  const stride = expertStride(s);
  const expertW = (): WeightAt => ({
    w: m.i32.add(f.addr(k.w), m.i32.mul(g(e), i32c(m, stride.w))),
    scales: s.q ? m.i32.add(f.addr(s.q.scales), m.i32.mul(g(e), i32c(m, stride.scales))) : undefined,
  });
  const body: Expr[] = [f.set(slotsN, f.elements(k.indices)), ...(cols?.code ?? [])];
  if (combine) {
    const bytes = m.i32.mul(m.i32.div_u(g(slotsN), i32c(m, K)), i32c(m, 4 * width));
    const init = k.init === undefined ? [m.memory.fill(f.addr(k.out), m.i32.const(0), bytes)] : k.init !== k.out ? [m.memory.copy(f.addr(k.out), f.addr(k.init), bytes)] : [];
    // Every thread adds into the output: it starts whole before any does.
    if (init.length > 0) body.push(...(split === 'columns' ? [f.onThread0(init), ...f.barrier()] : init));
  }
  const byRows = split === 'rows' && env.threads !== undefined;
  // Decode path: each routed slot on its own, in slot order (this thread's share of them).
  const decode = f.labelled((done) => [
    m.br(done, m.i32.ge_s(m.i32.div_u(g(slotsN), i32c(m, K)), i32c(m, k.sortedFromTokens))),
    ...(byRows ? share(f, () => g(slotsN), lo, hi) : [f.set(lo, m.i32.const(0)), f.set(hi, g(slotsN))]),
    f.forRange(slot, g(lo), g(hi), [
      f.labelled((next) => [
        f.set(e, i32load(m, sAt(k.indices, g(slot)))),
        m.br(next, m.i32.eq(g(e), m.i32.const(-1))),
        m.if(m.i32.ge_u(g(e), i32c(m, experts)), f.badExpert(m.br(next))),
        i32store(m, f.scratch(off.table), aRow(g(slot), g(slot))),
        ...core.run(expertW(), () => m.i32.const(1), { one: true }, cols?.range),
        f.set(i, m.i32.const(0)),
        ...store(g(slot)),
      ]),
    ]),
    m.return(),
  ]);
  body.push(decode);
  // Sorted path: consecutive blocks of one expert (moe_align sorts them by expert), up to
  // `M` rows (the pass), as one row set: one pass over the expert's weights serves them all.
  const blocks = f.i32();
  const B = blockOf(env, k);
  const b0 = f.i32();
  const n = f.i32();
  body.push(
    f.set(blocks, m.i32.div_u(i32load(m, f.addr(k.count)), i32c(m, B))),
    ...(byRows ? share(f, () => g(blocks), lo, hi) : [f.set(lo, m.i32.const(0)), f.set(hi, g(blocks))]),
    f.set(b, g(lo)),
    m.loop(
      'passes',
      m.if(
        m.i32.lt_s(g(b), g(hi)),
        m.block(null, [
          f.set(e, i32load(m, sAt(k.blockExpert, g(b)))),
          f.set(b0, g(b)),
          f.set(n, m.i32.const(0)),
          // The row table, block by block while the expert stays and the pass has room:
          // padding rows read A's first row (computed, never stored).
          m.loop(
            'gather',
            m.block(null, [
              f.forRange(i, m.i32.const(0), i32c(m, B), [
                f.set(r, m.i32.add(m.i32.mul(g(b), i32c(m, B)), g(i))),
                f.set(slot, i32load(m, sAt(k.sorted, g(r)))),
                f.set(row, m.i32.shl(m.i32.add(g(n), g(i)), m.i32.const(2))),
                i32store(m, m.i32.add(f.scratch(off.slots), g(row)), g(slot)),
                i32store(m, m.i32.add(f.scratch(off.table), g(row)), m.select(m.i32.eq(g(slot), m.i32.const(-1)), f.addr(k.a), aRow(g(slot), g(r)))),
              ]),
              f.set(n, m.i32.add(g(n), i32c(m, B))),
              f.set(b, m.i32.add(g(b), m.i32.const(1))),
              m.br('gather', m.if(m.i32.and(m.i32.lt_s(g(b), g(hi)), m.i32.lt_s(g(n), i32c(m, M))), m.i32.eq(i32load(m, sAt(k.blockExpert, g(b))), g(e)), m.i32.const(0))),
            ]),
          ),
          // Blocks no expert owns (-1) hold no rows to store.
          f.labelled((skip) => [
            m.br(skip, m.i32.eq(g(e), m.i32.const(-1))),
            m.if(m.i32.ge_u(g(e), i32c(m, experts)), f.badExpert(m.br(skip))),
            f.set(w, expertW().w),
            ...(s.q ? [f.set(ws, expertW().scales!)] : []),
            ...core.run({ w: g(w), scales: s.q ? g(ws) : undefined }, () => g(n), { multipleOf: B }, cols?.range),
            f.forRange(i, m.i32.const(0), g(n), [
              f.set(slot, i32load(m, m.i32.add(f.scratch(off.slots), m.i32.shl(g(i), m.i32.const(2))))),
              m.if(m.i32.ne(g(slot), m.i32.const(-1)), m.block(null, store(m.i32.add(m.i32.mul(g(b0), i32c(m, B)), g(i))))),
            ]),
          ]),
          m.br('passes'),
        ]),
      ),
    ),
  );
  f.finish(split === 'thread0' ? [f.onThread0(body)] : body);
}

export function buildGemm(env: ProgramEnv, k: GemmKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const M = rowsPerSet(env, k);
  const s = shapeOf(env.buffers, k, M);
  const off = scratchOffsets(s);
  if (k.epilogue.some((e) => e.kind === 'combine')) throw new Error('wasm backend: a dense gemm has no combine epilogue');
  const core = new GemmCore(f, s, tileOf(k), off.c, off.table);
  const g = (l: Local): Expr => f.get(l);
  const rows = f.i32();
  const rp = f.i32();
  const n = f.i32();
  const i = f.i32();
  const row = f.i32();
  const epi = epilogueRow(f, k.epilogue, row, s.N, null);
  const width = epi.width;
  // Threads: contiguous shares of the row sets (one thread computes each row).
  const lo = f.i32();
  const hi = f.i32();
  const sets = (): Expr => m.i32.div_u(m.i32.add(g(rows), i32c(m, M - 1)), i32c(m, M));
  f.finish([
    f.set(rows, m.i32.div_u(f.elements(k.a), i32c(m, s.Kd))),
    ...(env.threads ? [...share(f, sets, lo, hi), f.set(lo, m.i32.mul(g(lo), i32c(m, M))), f.set(hi, m.i32.mul(g(hi), i32c(m, M))), m.if(m.i32.gt_s(g(hi), g(rows)), f.set(hi, g(rows)))] : [f.set(lo, m.i32.const(0)), f.set(hi, g(rows))]),
    f.forRange(rp, g(lo), g(hi), [
      f.set(n, m.i32.sub(g(rows), g(rp))),
      m.if(m.i32.gt_s(g(n), i32c(m, M)), f.set(n, i32c(m, M))),
      f.forRange(i, m.i32.const(0), g(n), [i32store(m, m.i32.add(f.scratch(off.table), m.i32.shl(g(i), m.i32.const(2))), m.i32.add(f.addr(k.a), m.i32.mul(m.i32.add(g(rp), g(i)), i32c(m, 4 * s.Kd))))]),
      ...core.run({ w: f.addr(k.w), scales: s.q ? f.addr(s.q.scales) : undefined }, () => g(n)),
      f.forRange(i, m.i32.const(0), g(n), [
        f.set(row, m.i32.add(f.scratch(off.c), m.i32.mul(g(i), i32c(m, 4 * s.N)))),
        ...epi.code,
        m.memory.copy(m.i32.add(f.addr(k.out), m.i32.mul(m.i32.add(g(rp), g(i)), i32c(m, 4 * width))), g(row), i32c(m, 4 * width)),
      ]),
    ], M),
  ]);
}
