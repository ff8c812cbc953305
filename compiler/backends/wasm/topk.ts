/**
 * @fileoverview The Wasm function of `topk` along an axis (the loop of ir/graph/axis-ops.ts):
 * per lane, an insertion into the k best so far, kept in the output rows themselves: values
 * descending, ties to the lower index, NaN above every number (the interpreter's order).
 */
import binaryen from 'binaryen';
import { axisLoop } from '../../../ir/graph/axis-ops.ts';
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { cannotRun } from '../cannot-run.ts';
import { KernelFn, type ProgramEnv } from './env.ts';
import { type Expr, type Local, f32load, f32store, i32c, i32load, i32store } from './fn.ts';

/** v ranks above w (float64 values): larger, and NaN above every number (each read is a fresh expression). */
function beats(m: binaryen.Module, v: () => Expr, w: () => Expr): Expr {
  return m.i32.or(m.f64.gt(v(), w()), m.i32.and(m.f64.ne(v(), v()), m.f64.eq(w(), w())));
}

/**
 * The insertion step of a top-k kept in the output rows: moves each entry from position p
 * down while `v` beats the one above it, leaving p where `v` goes (`slot(buf, j)`: the
 * address of entry j of this row of `buf`).
 */
function shiftDown(f: KernelFn, slot: (buf: string, j: Expr) => Expr, values: string, indices: string, p: Local, v: Local, w: Local): Expr {
  const m = f.m;
  const above = (): Expr => m.i32.sub(f.get(p), m.i32.const(1));
  return m.block('placed', [
    m.loop('shift', m.block(null, [
      m.br('placed', m.i32.le_s(f.get(p), m.i32.const(0))),
      f.set(w, m.f64.promote(f32load(m, slot(values, above())))),
      m.br('placed', m.i32.eqz(beats(m, () => f.get(v), () => f.get(w)))),
      f32store(m, slot(values, f.get(p)), m.f32.demote(f.get(w))),
      i32store(m, slot(indices, f.get(p)), i32load(m, slot(indices, above()))),
      f.set(p, above()),
      m.br('shift'),
    ])),
  ]);
}

export function buildTopk(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [x] = k.inputs;
  const [values, indices] = k.outputs;
  const K = k.attrs.k as number;
  const { n, inner } = axisLoop(f.buffer(x).shape, k.attrs.axis as number) ?? cannotRun('wasm', 'topk', 'along an axis whose size depends on the token count');
  const [l, i, p, count, base, obase] = [f.i32(), f.i32(), f.i32(), f.i32(), f.i32(), f.i32()];
  const v = f.f64();
  const w = f.f64();
  /** Byte address of slot j of this lane's output row in `buf`. */
  const slot = (buf: string, j: Expr): Expr => m.i32.add(f.addr(buf), m.i32.shl(m.i32.add(f.get(obase), m.i32.mul(j, i32c(m, inner))), m.i32.const(2)));
  const lanes = m.i32.div_u(f.elements(x), i32c(m, n));
  f.finish([
    f.forRange(l, m.i32.const(0), lanes, [
      f.set(base, m.i32.add(m.i32.mul(m.i32.div_u(f.get(l), i32c(m, inner)), i32c(m, n * inner)), m.i32.rem_u(f.get(l), i32c(m, inner)))),
      f.set(obase, m.i32.add(m.i32.mul(m.i32.div_u(f.get(l), i32c(m, inner)), i32c(m, K * inner)), m.i32.rem_u(f.get(l), i32c(m, inner)))),
      f.set(count, m.i32.const(0)),
      f.forRange(i, m.i32.const(0), i32c(m, n), [
        f.labelled((next) => [
          f.set(v, m.f64.promote(f32load(m, m.i32.add(f.addr(x), m.i32.shl(m.i32.add(f.get(base), m.i32.mul(f.get(i), i32c(m, inner))), m.i32.const(2)))))),
          m.br(next, m.i32.and(m.i32.eq(f.get(count), i32c(m, K)), m.i32.eqz(beats(m, () => f.get(v), () => m.f64.promote(f32load(m, slot(values, i32c(m, K - 1)))))))),
          m.if(
            m.i32.lt_s(f.get(count), i32c(m, K)),
            m.block(null, [f.set(p, f.get(count)), f.set(count, m.i32.add(f.get(count), m.i32.const(1)))]),
            f.set(p, i32c(m, K - 1)),
          ),
          shiftDown(f, slot, values, indices, p, v, w),
          f32store(m, slot(values, f.get(p)), m.f32.demote(f.get(v))),
          i32store(m, slot(indices, f.get(p)), f.get(i)),
        ]),
      ]),
    ]),
  ]);
}

/**
 * `group_topk` over s [N, E] in G groups (G <= 64): per row, each group's score (its best,
 * or best two summed, in float64) in a local, the kept groups as a bit mask (repeated
 * selection of the best group not yet kept: the same set as the interpreter's top-m, ties
 * to the lower index, NaN first), then the k best experts of the kept groups by insertion
 * into the output rows themselves (as `topk`).
 */
export function buildGroupTopk(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [s] = k.inputs;
  const [values, indices] = k.outputs;
  const E = f.buffer(s).shape[1] as number;
  const G = k.attrs.groups as number;
  const keep = k.attrs.topk_groups as number;
  const K = k.attrs.k as number;
  const two = k.attrs.group_score === 'sum_top2';
  if (G > 64) cannotRun('wasm', 'group_topk', `over ${G} groups (it keeps them in a 64-bit mask)`);
  const per = E / G;
  const [t, i, p, count, best] = [f.i32(), f.i32(), f.i32(), f.i32(), f.i32()];
  const mask = f.local(binaryen.i64);
  const [v, w, b0, b1, bv] = [f.f64(), f.f64(), f.f64(), f.f64(), f.f64()];
  const score = Array.from({ length: G }, () => f.f64());
  const load = (at: Expr): Expr => m.f64.promote(f32load(m, m.i32.add(f.addr(s), m.i32.shl(at, m.i32.const(2)))));
  const rowAt = (e: Expr): Expr => m.i32.add(m.i32.mul(f.get(t), i32c(m, E)), e);
  const slot = (buf: string, j: Expr): Expr => m.i32.add(f.addr(buf), m.i32.shl(m.i32.add(m.i32.mul(f.get(t), i32c(m, K)), j), m.i32.const(2)));
  const isKept = (g: Expr): Expr => m.i32.wrap(m.i64.and(m.i64.shr_u(f.get(mask), m.i64.extend_u(g)), m.i64.const(1n)));
  // 1. Group scores: insertion into the best one (or two) of each group.
  const groupScore = (g: number): Expr[] => [
    f.set(count, m.i32.const(0)),
    f.forRange(i, i32c(m, g * per), i32c(m, (g + 1) * per), [
      f.set(v, load(rowAt(f.get(i)))),
      two
        ? m.if(
            m.i32.eqz(f.get(count)),
            m.block(null, [f.set(b0, f.get(v)), f.set(count, m.i32.const(1))]),
            m.if(
              m.i32.eq(f.get(count), m.i32.const(1)),
              m.block(null, [m.if(beats(m, () => f.get(v), () => f.get(b0)), m.block(null, [f.set(b1, f.get(b0)), f.set(b0, f.get(v))]), f.set(b1, f.get(v))), f.set(count, m.i32.const(2))]),
              m.if(beats(m, () => f.get(v), () => f.get(b1)), m.if(beats(m, () => f.get(v), () => f.get(b0)), m.block(null, [f.set(b1, f.get(b0)), f.set(b0, f.get(v))]), f.set(b1, f.get(v)))),
            ),
          )
        : m.if(m.i32.or(m.i32.eqz(f.get(count)), beats(m, () => f.get(v), () => f.get(b0))), m.block(null, [f.set(b0, f.get(v)), f.set(count, m.i32.const(1))])),
    ]),
    f.set(score[g], two ? m.f64.add(f.get(b0), f.get(b1)) : f.get(b0)),
  ];
  // 2. Kept groups: `keep` passes, each keeping the best group not kept yet.
  const keepPass = (): Expr[] => [
    f.set(best, m.i32.const(-1)),
    ...score.flatMap((sc, g) => [
      f.set(v, f.get(sc)),
      m.if(
        m.i32.and(m.i32.eqz(isKept(i32c(m, g))), m.i32.or(m.i32.lt_s(f.get(best), m.i32.const(0)), beats(m, () => f.get(v), () => f.get(bv)))),
        m.block(null, [f.set(best, i32c(m, g)), f.set(bv, f.get(v))]),
      ),
    ]),
    f.set(mask, m.i64.or(f.get(mask), m.i64.shl(m.i64.const(1n), m.i64.extend_u(f.get(best))))),
  ];
  // 3. The k best experts of the kept groups, into the output rows (below).
  const lastValue = (): Expr => m.f64.promote(f32load(m, slot(values, i32c(m, K - 1))));
  f.finish([
    f.forRange(t, m.i32.const(0), m.i32.div_u(f.elements(s), i32c(m, E)), [
      ...Array.from({ length: G }, (_, g) => groupScore(g)).flat(),
      f.set(mask, m.i64.const(0n)),
      ...Array.from({ length: keep }, keepPass).flat(),
      f.set(count, m.i32.const(0)),
      f.forRange(i, m.i32.const(0), i32c(m, E), [
        f.labelled((next) => [
          m.br(next, m.i32.eqz(isKept(m.i32.div_u(f.get(i), i32c(m, per))))),
          f.set(v, load(rowAt(f.get(i)))),
          m.br(next, m.i32.and(m.i32.eq(f.get(count), i32c(m, K)), m.i32.eqz(beats(m, () => f.get(v), lastValue)))),
          m.if(m.i32.lt_s(f.get(count), i32c(m, K)), m.block(null, [f.set(p, f.get(count)), f.set(count, m.i32.add(f.get(count), m.i32.const(1)))]), f.set(p, i32c(m, K - 1))),
          shiftDown(f, slot, values, indices, p, v, w),
          f32store(m, slot(values, f.get(p)), m.f32.demote(f.get(v))),
          i32store(m, slot(indices, f.get(p)), f.get(i)),
        ]),
      ]),
    ]),
  ]);
}
