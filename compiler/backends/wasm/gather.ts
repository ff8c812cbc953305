/**
 * @fileoverview The Wasm functions of the ops that copy by computed indices: `gather` along
 * an axis (out[i] = x at indices[i] on that axis) and `moe_dispatch` (row r = token row
 * slots[r] / k for the routed rows, zero past offsets[E]). An index out of range traps,
 * which the loader reports as E505. Elements are copied as 32-bit words (f32 or i32 alike).
 */
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { isSym } from '../../../ir/dims.ts';
import { cannotRun } from '../cannot-run.ts';
import { KernelFn, type ProgramEnv } from './env.ts';
import { type Expr, i32c, i32load, i32store } from './fn.ts';

export function buildGather(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [x, idx] = k.inputs;
  const [out] = k.outputs;
  const xs = f.buffer(x).shape;
  const ax = (k.attrs.axis as number) < 0 ? (k.attrs.axis as number) + xs.length : (k.attrs.axis as number);
  if (xs.slice(ax).some(isSym)) cannotRun('wasm', 'gather', 'along an axis whose size depends on the token count');
  const nx = xs[ax] as number;
  const ni = f.buffer(idx).shape[ax] as number;
  const inner = (xs.slice(ax + 1) as number[]).reduce((a, b) => a * b, 1);
  const [i, v] = [f.i32(), f.i32()];
  const word = (buf: string, at: Expr): Expr => m.i32.add(f.addr(buf), m.i32.shl(at, m.i32.const(2)));
  const from = m.i32.add(m.i32.add(m.i32.mul(m.i32.div_u(f.get(i), i32c(m, ni * inner)), i32c(m, nx * inner)), m.i32.mul(f.get(v), i32c(m, inner))), m.i32.rem_u(f.get(i), i32c(m, inner)));
  f.finish([
    f.forRange(i, m.i32.const(0), f.elements(out), [
      f.set(v, i32load(m, word(idx, f.get(i)))),
      m.if(m.i32.ge_u(f.get(v), i32c(m, nx)), m.unreachable()),
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
      m.if(m.i32.ge_u(f.get(s), m.i32.mul(f.T(), i32c(m, K))), m.unreachable()),
      m.memory.copy(row(out, f.get(r)), row(x, m.i32.div_u(f.get(s), i32c(m, K))), i32c(m, 4 * d)),
    ]),
    m.memory.fill(row(out, f.get(routed)), m.i32.const(0), m.i32.mul(m.i32.sub(f.get(rows), f.get(routed)), i32c(m, 4 * d))),
  ]);
}
