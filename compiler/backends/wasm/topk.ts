/**
 * @fileoverview The Wasm function of `topk` along an axis (the loop of ir/graph/axis-ops.ts):
 * per lane, an insertion into the k best so far, kept in the output rows themselves: values
 * descending, ties to the lower index, NaN above every number (the interpreter's order).
 */
import { axisLoop } from '../../../ir/graph/axis-ops.ts';
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { cannotRun } from '../cannot-run.ts';
import { KernelFn, type ProgramEnv } from './env.ts';
import { type Expr, f32load, f32store, i32c, i32load, i32store } from './fn.ts';

export function buildTopk(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [x] = k.inputs;
  const [values, indices] = k.outputs;
  const K = k.attrs.k as number;
  const { n, inner } = axisLoop(f.buffer(x).shape, k.attrs.axis as number) ?? cannotRun('wasm', 'topk', 'along an axis whose size depends on the token count');
  const [l, i, p, count, base, obase] = [f.i32(), f.i32(), f.i32(), f.i32(), f.i32(), f.i32()];
  const v = f.f32();
  const w = f.f32();
  /** Byte address of slot j of this lane's output row in `buf`. */
  const slot = (buf: string, j: Expr): Expr => m.i32.add(f.addr(buf), m.i32.shl(m.i32.add(f.get(obase), m.i32.mul(j, i32c(m, inner))), m.i32.const(2)));
  const better = (a: Expr, b: () => Expr): Expr => m.i32.or(m.f32.gt(a, b()), m.i32.and(m.f32.ne(f.get(v), f.get(v)), m.f32.eq(b(), b())));
  const lanes = m.i32.div_u(f.elements(x), i32c(m, n));
  const shift = m.block('placed', [
    m.loop('shift', m.block(null, [
      m.br('placed', m.i32.le_s(f.get(p), m.i32.const(0))),
      f.set(w, f32load(m, slot(values, m.i32.sub(f.get(p), m.i32.const(1))))),
      m.br('placed', m.i32.eqz(better(f.get(v), () => f.get(w)))),
      f32store(m, slot(values, f.get(p)), f.get(w)),
      i32store(m, slot(indices, f.get(p)), i32load(m, slot(indices, m.i32.sub(f.get(p), m.i32.const(1))))),
      f.set(p, m.i32.sub(f.get(p), m.i32.const(1))),
      m.br('shift'),
    ])),
  ]);
  f.finish([
    f.forRange(l, m.i32.const(0), lanes, [
      f.set(base, m.i32.add(m.i32.mul(m.i32.div_u(f.get(l), i32c(m, inner)), i32c(m, n * inner)), m.i32.rem_u(f.get(l), i32c(m, inner)))),
      f.set(obase, m.i32.add(m.i32.mul(m.i32.div_u(f.get(l), i32c(m, inner)), i32c(m, K * inner)), m.i32.rem_u(f.get(l), i32c(m, inner)))),
      f.set(count, m.i32.const(0)),
      f.forRange(i, m.i32.const(0), i32c(m, n), [
        f.labelled((next) => [
          f.set(v, f32load(m, m.i32.add(f.addr(x), m.i32.shl(m.i32.add(f.get(base), m.i32.mul(f.get(i), i32c(m, inner))), m.i32.const(2))))),
          m.br(next, m.i32.and(m.i32.eq(f.get(count), i32c(m, K)), m.i32.eqz(better(f.get(v), () => f32load(m, slot(values, i32c(m, K - 1))))))),
          m.if(
            m.i32.lt_s(f.get(count), i32c(m, K)),
            m.block(null, [f.set(p, f.get(count)), f.set(count, m.i32.add(f.get(count), m.i32.const(1)))]),
            f.set(p, i32c(m, K - 1)),
          ),
          shift,
          f32store(m, slot(values, f.get(p)), f.get(v)),
          i32store(m, slot(indices, f.get(p)), f.get(i)),
        ]),
      ]),
    ]),
  ]);
}
