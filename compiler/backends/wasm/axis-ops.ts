/**
 * @fileoverview The Wasm function of the axis ops (`softmax`, `sum`, `mean`, `amax`; the loop
 * in ir/graph/axis-ops.ts): each lane walks its axis in float64 in the interpreter's order;
 * softmax recomputes exp(x - max) for its last pass rather than keeping a row of them.
 */
import { axisLoop } from '../../../ir/graph/axis-ops.ts';
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { cannotRun } from '../cannot-run.ts';
import { KernelFn, type ProgramEnv } from './env.ts';
import { type Expr, f32load, f32store, i32c } from './fn.ts';

export function buildAxisOp(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [x] = k.inputs;
  const [out] = k.outputs;
  const { n, inner } = axisLoop(f.buffer(x).shape, k.attrs.axis as number) ?? cannotRun('wasm', k.op, 'along an axis whose size depends on the token count');
  const l = f.i32();
  const i = f.i32();
  const base = f.i32();
  const s = f.f64();
  const r = f.f64();
  const v = f.f64();
  const c = (x: number): Expr => m.f64.const(x);
  const elem = (buf: string): Expr => m.i32.add(f.addr(buf), m.i32.shl(m.i32.add(f.get(base), m.i32.mul(f.get(i), i32c(m, inner))), m.i32.const(2)));
  const load = (): Expr => m.f64.promote(f32load(m, elem(x)));
  const each = (body: Expr[]): Expr => f.forRange(i, m.i32.const(0), i32c(m, n), body);
  const store = (value: Expr): Expr => f32store(m, m.i32.add(f.addr(out), m.i32.shl(f.get(l), m.i32.const(2))), m.f32.demote(value));
  // The max (amax, softmax): a NaN makes it NaN and stops the walk.
  const max = (): Expr =>
    m.block('done_max', [
      f.set(r, c(-Infinity)),
      each([f.set(v, load()), m.if(m.i32.or(m.f64.gt(f.get(v), f.get(r)), m.f64.ne(f.get(v), f.get(v))), f.set(r, f.get(v))), m.br('done_max', m.f64.ne(f.get(r), f.get(r)))]),
    ]);
  const sum = each([f.set(s, m.f64.add(f.get(s), load()))]);
  const body: Record<string, Expr[]> = {
    softmax: [
      max(),
      each([f.set(s, m.f64.add(f.get(s), env.math.exp(m.f64.sub(load(), f.get(r)))))]),
      each([f32store(m, elem(out), m.f32.demote(m.f64.div(env.math.exp(m.f64.sub(load(), f.get(r))), f.get(s))))]),
    ],
    sum: [sum, store(f.get(s))],
    mean: [sum, store(m.f64.div(f.get(s), c(n)))],
    amax: [max(), store(f.get(r))],
  };
  const lanes = m.i32.div_u(f.elements(x), i32c(m, n));
  f.finish([
    f.forRange(l, m.i32.const(0), lanes, [
      f.set(base, m.i32.add(m.i32.mul(m.i32.div_u(f.get(l), i32c(m, inner)), i32c(m, n * inner)), m.i32.rem_u(f.get(l), i32c(m, inner)))),
      f.set(s, c(0)),
      ...body[k.op],
    ]),
  ]);
}
