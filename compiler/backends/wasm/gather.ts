/**
 * @fileoverview The Wasm functions of the ops that work by computed indices: `gather` along
 * an axis (out[i] = x at indices[i] on that axis), `moe_dispatch` (row r = token row
 * slots[r] / k for the routed rows, zero past offsets[E]), the unfused routing primitives
 * (`route_capacity`, `moe_permute`) and `grouped_matmul` by offsets. An index out of range
 * traps, which the loader reports as E505. Copies move 32-bit words (f32 or i32 alike).
 */
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { isSym } from '../../../ir/dims.ts';
import { cannotRun } from '../cannot-run.ts';
import { KernelFn, type ProgramEnv } from './env.ts';
import { type Expr, f32load, f32store, i32c, i32load, i32store } from './fn.ts';

export function buildGather(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [x, idx] = k.inputs;
  const [out] = k.outputs;
  const xs = f.buffer(x).shape;
  const ax = (k.attrs.axis as number) < 0 ? (k.attrs.axis as number) + xs.length : (k.attrs.axis as number);
  // Along the leading axis (rows of tokens, as last-logits gathers) only the bound depends on T, read at run time.
  const lead = ax === 0 && isSym(xs[0]) && !xs.slice(1).some(isSym);
  if (!lead && xs.slice(ax).some(isSym)) cannotRun('wasm', 'gather', 'along an axis other than the first whose size depends on the token count');
  const ni = f.buffer(idx).shape[ax] as number;
  const inner = (xs.slice(ax + 1) as number[]).reduce((a, b) => a * b, 1);
  const [i, v] = [f.i32(), f.i32()];
  const word = (buf: string, at: Expr): Expr => m.i32.add(f.addr(buf), m.i32.shl(at, m.i32.const(2)));
  // The slab before the gathered axis; along the leading axis there is one.
  const slab = lead ? m.i32.const(0) : m.i32.mul(m.i32.div_u(f.get(i), i32c(m, ni * inner)), i32c(m, (xs[ax] as number) * inner));
  const from = m.i32.add(m.i32.add(slab, m.i32.mul(f.get(v), i32c(m, inner))), m.i32.rem_u(f.get(i), i32c(m, inner)));
  f.finish([
    f.forRange(i, m.i32.const(0), f.elements(out), [
      f.set(v, i32load(m, word(idx, f.get(i)))),
      m.if(m.i32.ge_u(f.get(v), lead ? f.dim(xs[0]) : i32c(m, xs[ax] as number)), m.unreachable()),
      i32store(m, word(out, f.get(i)), i32load(m, word(x, from))),
    ]),
  ]);
}

export function buildDispatch(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [x, slots, offsets] = k.inputs;
  const [out] = k.outputs;
  const d = f.buffer(x).shape[1];
  if (isSym(d)) cannotRun('wasm', 'moe_dispatch', 'with a row width that depends on the token count');
  const K = k.attrs.k as number;
  const experts = (f.buffer(offsets).shape[0] as number) - 1;
  const [r, s, routed, rows] = [f.i32(), f.i32(), f.i32(), f.i32()];
  const word = (buf: string, at: Expr): Expr => m.i32.add(f.addr(buf), m.i32.shl(at, m.i32.const(2)));
  const row = (buf: string, at: Expr): Expr => m.i32.add(f.addr(buf), m.i32.mul(at, i32c(m, 4 * d)));
  f.finish([
    f.set(rows, f.elements(slots)),
    f.set(routed, i32load(m, word(offsets, i32c(m, experts)))),
    m.if(m.i32.gt_u(f.get(routed), f.get(rows)), m.unreachable()),
    f.forRange(r, m.i32.const(0), f.get(routed), [
      f.set(s, i32load(m, word(slots, f.get(r)))),
      m.if(m.i32.ge_u(f.get(s), m.i32.mul(m.i32.div_u(f.elements(x), i32c(m, d)), i32c(m, K))), m.unreachable()),
      m.memory.copy(row(out, f.get(r)), row(x, m.i32.div_u(f.get(s), i32c(m, K))), i32c(m, 4 * d)),
    ]),
    m.memory.fill(row(out, f.get(routed)), m.i32.const(0), m.i32.mul(m.i32.sub(f.get(rows), f.get(routed)), i32c(m, 4 * d))),
  ]);
}

/**
 * `route_capacity` and `moe_permute` without scratch memory: per expert, one pass over the
 * slots in the op's order (O(E·T·K), like the interpreter's result exactly: route_capacity
 * admits by choice rank then token order, moe_permute sorts stably, dropped slots last).
 * An index outside -1..E-1 traps (E505).
 */
export function buildRouting(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [idx] = k.inputs;
  const E = k.attrs.experts as number;
  const K = f.buffer(idx).shape[1] as number;
  const [e, s, c, t, n, pos, cap, v] = [f.i32(), f.i32(), f.i32(), f.i32(), f.i32(), f.i32(), f.i32(), f.i32()];
  const word = (buf: string, at: Expr): Expr => m.i32.add(f.addr(buf), m.i32.shl(at, m.i32.const(2)));
  const check = f.forRange(s, m.i32.const(0), f.get(n), [
    f.set(v, i32load(m, word(idx, f.get(s)))),
    m.if(m.i32.and(m.i32.ne(f.get(v), m.i32.const(-1)), m.i32.ge_u(f.get(v), i32c(m, E))), m.unreachable()),
  ]);
  if (k.op === 'route_capacity') {
    const [out] = k.outputs;
    const cf = k.attrs.capacity_factor as number;
    const at = (): Expr => m.i32.add(m.i32.mul(f.get(t), i32c(m, K)), f.get(c));
    f.finish([
      f.set(n, f.elements(idx)),
      check,
      f.set(cap, m.i32.trunc_s_sat.f64(m.f64.ceil(m.f64.div(m.f64.mul(m.f64.mul(m.f64.const(cf), m.f64.convert_s.i32(m.i32.div_u(f.get(n), i32c(m, K)))), m.f64.const(K)), m.f64.const(E))))),
      f.forRange(s, m.i32.const(0), f.get(n), [i32store(m, word(out, f.get(s)), m.i32.const(-1))]),
      f.forRange(e, m.i32.const(0), i32c(m, E), [
        f.set(pos, m.i32.const(0)),
        f.forRange(c, m.i32.const(0), i32c(m, K), [
          f.forRange(t, m.i32.const(0), m.i32.div_u(f.get(n), i32c(m, K)), [
            m.if(
              m.i32.and(m.i32.eq(i32load(m, word(idx, at())), f.get(e)), m.i32.lt_s(f.get(pos), f.get(cap))),
              m.block(null, [i32store(m, word(out, at()), f.get(e)), f.set(pos, m.i32.add(f.get(pos), m.i32.const(1)))]),
            ),
          ]),
        ]),
      ]),
    ]);
    return;
  }
  const [slots, offsets] = k.outputs;
  const append = (when: (x: Expr) => Expr): Expr =>
    f.forRange(s, m.i32.const(0), f.get(n), [
      m.if(when(i32load(m, word(idx, f.get(s)))), m.block(null, [i32store(m, word(slots, f.get(pos)), f.get(s)), f.set(pos, m.i32.add(f.get(pos), m.i32.const(1)))])),
    ]);
  f.finish([
    f.set(n, f.elements(idx)),
    check,
    f.set(pos, m.i32.const(0)),
    f.forRange(e, m.i32.const(0), i32c(m, E), [i32store(m, word(offsets, f.get(e)), f.get(pos)), append((x) => m.i32.eq(x, f.get(e)))]),
    i32store(m, word(offsets, i32c(m, E)), f.get(pos)),
    append((x) => m.i32.eq(x, m.i32.const(-1))),
  ]);
}

/**
 * `grouped_matmul`: rows offsets[e]..offsets[e+1] of xs times w[e] (+ bias[e]), summed in
 * order in float64; rows outside offsets[0]..offsets[E] zero. Offsets that start below 0,
 * decrease or end past the rows trap (E505).
 */
export function buildGroupedMatmul(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [xs, w, offsets, bias] = k.inputs;
  const [out] = k.outputs;
  const transB = k.attrs.transpose_b as boolean;
  const ws = f.buffer(w).shape as number[];
  const [E, N, KD] = transB ? ws : [ws[0], ws[2], ws[1]];
  const [r, e, ex, j, q, rows, lo, hi] = [f.i32(), f.i32(), f.i32(), f.i32(), f.i32(), f.i32(), f.i32(), f.i32()];
  const acc = f.f64();
  const word = (buf: string, at: Expr): Expr => m.i32.add(f.addr(buf), m.i32.shl(at, m.i32.const(2)));
  const off = (at: Expr): Expr => i32load(m, word(offsets, at));
  const wAt = transB ? m.i32.add(m.i32.mul(f.get(j), i32c(m, KD)), f.get(q)) : m.i32.add(m.i32.mul(f.get(q), i32c(m, N)), f.get(j));
  const product = m.f64.mul(
    m.f64.promote(f32load(m, word(xs, m.i32.add(m.i32.mul(f.get(r), i32c(m, KD)), f.get(q))))),
    m.f64.promote(f32load(m, word(w, m.i32.add(m.i32.mul(f.get(ex), i32c(m, N * KD)), wAt)))),
  );
  f.finish([
    f.set(rows, m.i32.div_u(f.elements(xs), i32c(m, KD))),
    m.if(m.i32.or(m.i32.lt_s(off(m.i32.const(0)), m.i32.const(0)), m.i32.gt_s(off(i32c(m, E)), f.get(rows))), m.unreachable()),
    f.forRange(e, m.i32.const(0), i32c(m, E), [m.if(m.i32.lt_s(off(m.i32.add(f.get(e), m.i32.const(1))), off(f.get(e))), m.unreachable())]),
    f.forRange(r, m.i32.const(0), f.get(rows), [
      f.set(ex, m.i32.const(-1)),
      f.forRange(e, m.i32.const(0), i32c(m, E), [
        f.set(lo, off(f.get(e))),
        f.set(hi, off(m.i32.add(f.get(e), m.i32.const(1)))),
        m.if(m.i32.and(m.i32.ge_s(f.get(r), f.get(lo)), m.i32.lt_s(f.get(r), f.get(hi))), f.set(ex, f.get(e))),
      ]),
      f.forRange(j, m.i32.const(0), i32c(m, N), [
        f.set(acc, m.f64.const(0)),
        m.if(
          m.i32.ge_s(f.get(ex), m.i32.const(0)),
          m.block(null, [
            f.forRange(q, m.i32.const(0), i32c(m, KD), [f.set(acc, m.f64.add(f.get(acc), product))]),
            ...(bias ? [f.set(acc, m.f64.add(f.get(acc), m.f64.promote(f32load(m, word(bias, m.i32.add(m.i32.mul(f.get(ex), i32c(m, N)), f.get(j)))))))] : []),
          ]),
        ),
        f32store(m, word(out, m.i32.add(m.i32.mul(f.get(r), i32c(m, N)), f.get(j))), m.f32.demote(f.get(acc))),
      ]),
    ]),
  ]);
}

/**
 * `moe_combine`: out[t] = Σ_c weights[t, c] · the ys row holding slot t·K + c, over c in order,
 * in float64. Each token finds its K rows (one local each) by a scan of the routed rows; no
 * scratch. Offsets past the rows, a slot outside the tokens or one twice traps (E505).
 */
export function buildCombine(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [ys, slots, offsets, weights] = k.inputs;
  const [out] = k.outputs;
  const d = f.buffer(ys).shape[1];
  if (isSym(d)) cannotRun('wasm', 'moe_combine', 'with a row width that depends on the token count');
  const K = f.buffer(weights).shape[1] as number;
  const E = (f.buffer(offsets).shape[0] as number) - 1;
  const [t, r, j, routed, s] = [f.i32(), f.i32(), f.i32(), f.i32(), f.i32()];
  const rows = Array.from({ length: K }, () => f.i32());
  const acc = f.f64();
  const word = (buf: string, at: Expr): Expr => m.i32.add(f.addr(buf), m.i32.shl(at, m.i32.const(2)));
  const slotOf = (c: number): Expr => m.i32.add(m.i32.mul(f.get(t), i32c(m, K)), i32c(m, c));
  f.finish([
    f.set(routed, i32load(m, word(offsets, i32c(m, E)))),
    m.if(m.i32.gt_u(f.get(routed), m.i32.div_u(f.elements(ys), i32c(m, d))), m.unreachable()),
    f.forRange(r, m.i32.const(0), f.get(routed), [m.if(m.i32.ge_u(i32load(m, word(slots, f.get(r))), f.elements(weights)), m.unreachable())]),
    f.forRange(t, m.i32.const(0), m.i32.div_u(f.elements(weights), i32c(m, K)), [
      ...rows.map((row) => f.set(row, m.i32.const(-1))),
      f.forRange(r, m.i32.const(0), f.get(routed), [
        f.set(s, i32load(m, word(slots, f.get(r)))),
        ...rows.map((row, c) => m.if(m.i32.eq(f.get(s), slotOf(c)), m.block(null, [m.if(m.i32.ge_s(f.get(row), m.i32.const(0)), m.unreachable()), f.set(row, f.get(r))]))),
      ]),
      f.forRange(j, m.i32.const(0), i32c(m, d), [
        f.set(acc, m.f64.const(0)),
        ...rows.map((row, c) =>
          m.if(
            m.i32.ge_s(f.get(row), m.i32.const(0)),
            f.set(acc, m.f64.add(f.get(acc), m.f64.mul(m.f64.promote(f32load(m, word(weights, slotOf(c)))), m.f64.promote(f32load(m, word(ys, m.i32.add(m.i32.mul(f.get(row), i32c(m, d)), f.get(j)))))))),
          ),
        ),
        f32store(m, word(out, m.i32.add(m.i32.mul(f.get(t), i32c(m, d)), f.get(j))), m.f32.demote(f.get(acc))),
      ]),
    ]),
  ]);
}
