/**
 * @fileoverview The Wasm function of a fused elementwise chain (`elementwise` op kernels, and
 * the strided copies reshape, transpose and slice: ir/graph/elementwise.ts): per output
 * element, one float64 step per op of the chain, each
 * rounded to float32 as the op stores it (so + - * / and sqrt are the reference's bit for
 * bit; exp, log and tanh are `math.ts`'s float64 functions), each operand read at its
 * index map.
 */
import { type EwStep, type IndexMap, chainView, ewSteps } from '../../../ir/graph/elementwise.ts';
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { cannotRun } from '../cannot-run.ts';
import { concatPieces } from '../../../ir/graph/concat-pieces.ts';
import { KernelFn, type ProgramEnv } from './env.ts';
import { type Expr, f32load, f32store, i32c } from './fn.ts';

export function buildElementwise(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [out] = k.outputs;
  for (const b of [...k.inputs, out]) if (f.buffer(b).dtype !== 'f32') cannotRun('wasm', k.op, `of the ${f.buffer(b).dtype} tensor ${b}`);
  const view = chainView(k.op, k.attrs, k.inputs.map((x) => f.buffer(x).shape), f.buffer(out).shape) ?? cannotRun('wasm', k.op, `of ${k.inputs.join(', ')}: a size after the first axis depends on the token count`);
  const steps = ewSteps(view.expr);
  const i = f.i32();
  const vals = steps.map(() => f.f64());
  const c = (v: number): Expr => m.f64.const(v);
  const index = (map: IndexMap): Expr =>
    map.terms.reduce<Expr>((sum, t) => {
      let e = t.div === 1 ? f.get(i) : m.i32.div_u(f.get(i), i32c(m, t.div));
      if (t.mod !== undefined) e = m.i32.rem_u(e, i32c(m, t.mod));
      if (t.mul !== 1) e = m.i32.mul(e, i32c(m, t.mul));
      return m.i32.add(sum, e);
    }, i32c(m, map.base));
  const v = (j: number): Expr => f.get(vals[j]);
  const value = (s: EwStep): Expr => {
    switch (s.kind) {
      case 'input':
        return m.f64.promote(f32load(m, m.i32.add(f.addr(k.inputs[view.operands[s.index].input]), m.i32.shl(index(view.operands[s.index].map), m.i32.const(2)))));
      case 'const':
        return c(s.value);
      case 'unary': {
        const a = (): Expr => v(s.x);
        switch (s.fn) {
          case 'neg':
            return m.f64.neg(a());
          case 'exp':
            return env.math.exp(a());
          case 'log':
            return env.math.log(a());
          case 'sqrt':
            return m.f64.sqrt(a());
          case 'rsqrt':
            return m.f64.div(c(1), m.f64.sqrt(a()));
          case 'abs':
            return m.f64.abs(a());
          case 'tanh':
            return env.math.tanh(a());
          default:
            return env.math.act(s.fn, a());
        }
      }
      case 'binary': {
        const [a, b] = [v(s.a), v(s.b)];
        // Wasm's min and max propagate NaN, as the reference's do.
        const op = { add: m.f64.add, sub: m.f64.sub, mul: m.f64.mul, div: m.f64.div, maximum: m.f64.max, minimum: m.f64.min }[s.fn];
        return op(a, b);
      }
    }
  };
  f.finish([
    f.forRange(i, m.i32.const(0), f.elements(out), [
      ...steps.map((s, j) => f.set(vals[j], m.f64.promote(m.f32.demote(value(s))))),
      f32store(m, m.i32.add(f.addr(out), m.i32.shl(f.get(i), m.i32.const(2))), m.f32.demote(v(steps.length - 1))),
    ]),
  ]);
}

/** A concat: each output element copied from the input its axis coordinate falls in (ir/graph/concat-pieces.ts). */
export function buildConcat(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [out] = k.outputs;
  for (const b of [...k.inputs, out]) if (f.buffer(b).dtype !== 'f32') cannotRun('wasm', 'concat', `of the ${f.buffer(b).dtype} tensor ${b}`);
  const c = concatPieces(k.inputs.map((x) => f.buffer(x).shape), k.attrs.axis as number) ?? cannotRun('wasm', 'concat', 'along an axis whose size depends on the token count');
  const [i, o, a, q] = [f.i32(), f.i32(), f.i32(), f.i32()];
  const copy = (j: number): Expr => {
    const p = c.pieces[j];
    const at = m.i32.add(m.i32.add(m.i32.mul(f.get(o), i32c(m, p.size * c.inner)), m.i32.mul(m.i32.sub(f.get(a), i32c(m, p.start)), i32c(m, c.inner))), f.get(q));
    const value = f32load(m, m.i32.add(f.addr(k.inputs[j]), m.i32.shl(at, m.i32.const(2))));
    const store = f32store(m, m.i32.add(f.addr(out), m.i32.shl(f.get(i), m.i32.const(2))), value);
    return j === c.pieces.length - 1 ? store : m.if(m.i32.lt_u(f.get(a), i32c(m, p.start + p.size)), store, copy(j + 1));
  };
  f.finish([
    f.forRange(i, m.i32.const(0), f.elements(out), [
      f.set(o, m.i32.div_u(f.get(i), i32c(m, c.total * c.inner))),
      f.set(a, m.i32.rem_u(m.i32.div_u(f.get(i), i32c(m, c.inner)), i32c(m, c.total))),
      f.set(q, m.i32.rem_u(f.get(i), i32c(m, c.inner))),
      copy(0),
    ]),
  ]);
}

/** A cast between f32 and i32: float to int truncates toward zero and saturates, NaN to 0 (Wasm's saturating conversion). */
export function buildCast(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [x] = k.inputs;
  const [out] = k.outputs;
  const [from, to] = [f.buffer(x).dtype, f.buffer(out).dtype];
  if (![from, to].every((d) => d === 'f32' || d === 'i32')) cannotRun('wasm', 'cast', `from ${from} to ${to} (it casts between f32 and i32)`);
  const i = f.i32();
  const at = (b: string): Expr => m.i32.add(f.addr(b), m.i32.shl(f.get(i), m.i32.const(2)));
  const load = from === 'i32' ? m.i32.load(0, 4, at(x)) : f32load(m, at(x));
  const value = from === to ? load : to === 'i32' ? m.i32.trunc_s_sat.f32(load) : m.f32.convert_s.i32(load);
  f.finish([f.forRange(i, m.i32.const(0), f.elements(out), [to === 'i32' ? m.i32.store(0, 4, at(out), value) : f32store(m, at(out), value)])]);
}
