/**
 * @fileoverview The Wasm functions of the row-wise decoder ops: `embedding` (a row copy per
 * token id; an id outside the table traps, which the loader reports as E505) and `rope` (the
 * pair rotation of each token and head in float64, cos and sin from `math.ts`, the
 * frequencies computed once by the interpreter's `ropeFrequencies`, unrolled as constants).
 */
import type { Dim } from '../../../ir/dims.ts';
import { ropeFrequencies } from '../../../ir/graph/interp-attention.ts';
import { ropeGeometry } from '../../../ir/graph/rope-geometry.ts';
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { KernelFn, type ProgramEnv } from './env.ts';
import { type Expr, f32load, f32store, i32c, i32load } from './fn.ts';

export function buildEmbedding(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [ids, table] = k.inputs;
  const [vocab, d] = f.buffer(table).shape as number[];
  const i = f.i32();
  const id = f.i32();
  f.finish([
    f.forRange(i, m.i32.const(0), f.elements(ids), [
      f.set(id, i32load(m, m.i32.add(f.addr(ids), m.i32.shl(f.get(i), m.i32.const(2))))),
      m.if(m.i32.ge_u(f.get(id), i32c(m, vocab)), m.unreachable()),
      m.memory.copy(m.i32.add(f.addr(k.outputs[0]), m.i32.mul(f.get(i), i32c(m, 4 * d))), m.i32.add(f.addr(table), m.i32.mul(f.get(id), i32c(m, 4 * d))), i32c(m, 4 * d)),
    ]),
  ]);
}

export function buildRope(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [x] = k.inputs;
  const [out] = k.outputs;
  const g = ropeGeometry(k.attrs, f.buffer(x).shape);
  const freq = ropeFrequencies(k.attrs, g.rd);
  const scale = k.attrs.attention_factor as number;
  const r = f.i32();
  const j = f.i32();
  const xr = f.i32();
  const or = f.i32();
  const p = f.f64();
  const angle = f.f64();
  const c = f.f64();
  const s = f.f64();
  const x1 = f.f64();
  const x2 = f.f64();
  const at = (base: Expr, feature: number): Expr => m.i32.add(base, i32c(m, 4 * feature));
  const pairs: Expr[] = [];
  for (let i = 0; i < g.half; i++) {
    const a = i * g.aStride;
    const b = a + g.bOffset;
    pairs.push(
      f.set(angle, m.f64.mul(f.get(p), m.f64.const(freq[i]))),
      f.set(c, m.f64.mul(env.math.trig('cos', f.get(angle)), m.f64.const(scale))),
      f.set(s, m.f64.mul(env.math.trig('sin', f.get(angle)), m.f64.const(scale))),
      f.set(x1, m.f64.promote(f32load(m, at(f.get(xr), a)))),
      f.set(x2, m.f64.promote(f32load(m, at(f.get(xr), b)))),
      f32store(m, at(f.get(or), a), m.f32.demote(m.f64.sub(m.f64.mul(f.get(x1), f.get(c)), m.f64.mul(f.get(x2), f.get(s))))),
      f32store(m, at(f.get(or), b), m.f32.demote(m.f64.add(m.f64.mul(f.get(x2), f.get(c)), m.f64.mul(f.get(x1), f.get(s))))),
    );
  }
  const rows = m.i32.div_u(f.elements(x), i32c(m, g.dh));
  f.finish([
    f.forRange(r, m.i32.const(0), rows, [
      f.set(xr, m.i32.add(f.addr(x), m.i32.mul(f.get(r), i32c(m, 4 * g.dh)))),
      f.set(or, m.i32.add(f.addr(out), m.i32.mul(f.get(r), i32c(m, 4 * g.dh)))),
      f.set(p, m.f64.convert_u.i32(m.i32.add(f.dim((k.attrs.offset as Dim[])[0], 'the rope offset'), m.i32.div_u(f.get(r), i32c(m, g.heads))))),
      f.forRange(j, i32c(m, g.rd), i32c(m, g.dh), [f32store(m, m.i32.add(f.get(or), m.i32.shl(f.get(j), m.i32.const(2))), f32load(m, m.i32.add(f.get(xr), m.i32.shl(f.get(j), m.i32.const(2)))))]),
      ...pairs,
    ]),
  ]);
}

