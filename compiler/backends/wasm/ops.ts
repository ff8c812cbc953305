/**
 * @fileoverview The graph ops that survive fusion as op kernels: `rmsnorm` and `add` (the
 * dense layers' norm and residual). Both reproduce the reference bit for bit: rmsnorm in
 * float64 as the graph interpreter writes it, add as float32 (the float64 sum of two
 * float32 values rounds to the float32 sum); fused elementwise chains (`elementwise.ts`). Any
 * other op is E701 naming it.
 */
import { shapeEq } from '../../../ir/dims.ts';
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { KernelFn, type ProgramEnv } from './env.ts';
import { type Expr, f32load, f32store, i32c } from './fn.ts';
import { cannotRun } from '../cannot-run.ts';
import { buildCast, buildConcat, buildElementwise } from './elementwise.ts';
import { CHAIN_OPS } from '../../../ir/graph/elementwise.ts';
import { AXIS_OPS } from '../../../ir/graph/axis-ops.ts';
import { buildAxisOp } from './axis-ops.ts';
import { buildGroupTopk, buildTopk } from './topk.ts';
import { buildCombine, buildDispatch, buildGather, buildGroupedMatmul, buildRouting } from './gather.ts';
import { buildEmbedding, buildRope } from './decoder.ts';

export const SUPPORTED_OPS = ['rmsnorm', 'add', 'embedding', 'rope', 'topk', 'concat', 'cast', 'gather', 'moe_dispatch', 'route_capacity', 'moe_permute', 'grouped_matmul', 'moe_combine', 'group_topk', ...CHAIN_OPS, ...AXIS_OPS];

export function checkOp(k: OpKernel): void {
  if (!SUPPORTED_OPS.includes(k.op)) cannotRun('wasm', k.op);
}

export function buildOp(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  checkOp(k);
  if (k.op === 'rmsnorm') buildRmsnorm(env, k, name, depth);
  else if (CHAIN_OPS.has(k.op)) buildElementwise(env, k, name, depth);
  else if (AXIS_OPS.has(k.op)) buildAxisOp(env, k, name, depth);
  else if (k.op === 'topk') buildTopk(env, k, name, depth);
  else if (k.op === 'group_topk') buildGroupTopk(env, k, name, depth);
  else if (k.op === 'concat') buildConcat(env, k, name, depth);
  else if (k.op === 'cast') buildCast(env, k, name, depth);
  else if (k.op === 'gather') buildGather(env, k, name, depth);
  else if (k.op === 'moe_dispatch') buildDispatch(env, k, name, depth);
  else if (k.op === 'route_capacity' || k.op === 'moe_permute') buildRouting(env, k, name, depth);
  else if (k.op === 'grouped_matmul') buildGroupedMatmul(env, k, name, depth);
  else if (k.op === 'moe_combine') buildCombine(env, k, name, depth);
  else if (k.op === 'embedding') buildEmbedding(env, k, name, depth);
  else if (k.op === 'rope') buildRope(env, k, name, depth);
  else buildAdd(env, k, name, depth);
}

function buildRmsnorm(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [x, w] = k.inputs;
  const [out] = k.outputs;
  const shape = f.buffer(x).shape;
  const D = Number(shape[shape.length - 1]);
  const eps = Number(k.attrs.eps ?? 1e-6);
  const rows = f.i32();
  const r = f.i32();
  const i = f.i32();
  const xr = f.i32();
  const or = f.i32();
  const ss = f.f64();
  const denom = f.f64();
  const v = f.f64();
  const el = (base: Expr): Expr => m.i32.add(base, m.i32.shl(f.get(i), m.i32.const(2)));
  f.finish([
    f.set(rows, m.i32.div_u(f.elements(x), i32c(m, D))),
    f.forRange(r, m.i32.const(0), f.get(rows), [
      f.set(xr, m.i32.add(f.addr(x), m.i32.mul(f.get(r), i32c(m, 4 * D)))),
      f.set(or, m.i32.add(f.addr(out), m.i32.mul(f.get(r), i32c(m, 4 * D)))),
      f.set(ss, m.f64.const(0)),
      f.forRange(i, m.i32.const(0), i32c(m, D), [f.set(v, m.f64.promote(f32load(m, el(f.get(xr))))), f.set(ss, m.f64.add(f.get(ss), m.f64.mul(f.get(v), f.get(v))))]),
      f.set(denom, m.f64.sqrt(m.f64.add(m.f64.div(f.get(ss), m.f64.const(D)), m.f64.const(eps)))),
      f.forRange(i, m.i32.const(0), i32c(m, D), [
        f32store(m, el(f.get(or)), m.f32.demote(m.f64.mul(m.f64.div(m.f64.promote(f32load(m, el(f.get(xr)))), f.get(denom)), m.f64.promote(f32load(m, el(f.addr(w))))))),
      ]),
    ]),
  ]);
}

function buildAdd(env: ProgramEnv, k: OpKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const [a, b] = k.inputs;
  const [out] = k.outputs;
  const sa = f.buffer(a).shape;
  const sb = f.buffer(b).shape;
  // Same shape: one flat row. b a suffix of a's shape (a bias row): b repeats every |b| elements.
  const suffix = sb.length <= sa.length && shapeEq(sb, sa.slice(sa.length - sb.length));
  if (!shapeEq(sa, sb) && !(suffix && sb.every((d) => typeof d === 'number')))
    fail('E701', `add(${a}, ${b}): the wasm backend adds same-shape tensors or a constant-size trailing row, not [${sa.join(', ')}] + [${sb.join(', ')}]`);
  const i = f.i32();
  const n = f.i32();
  const period = shapeEq(sa, sb) ? null : 4 * sb.reduce<number>((p, d) => p * Number(d), 1);
  const bi = period === null ? f.get(i) : m.i32.rem_u(f.get(i), i32c(m, period));
  const vec = env.lanes > 1 && (period === null || period % 16 === 0);
  const step = vec ? 16 : 4;
  const at = (base: string, off: Expr): Expr => m.i32.add(f.addr(base), off);
  const one = (off: () => Expr, boff: () => Expr): Expr =>
    vec ? m.v128.store(0, 4, at(out, off()), m.f32x4.add(m.v128.load(0, 4, at(a, off())), m.v128.load(0, 4, at(b, boff())))) : f32store(m, at(out, off()), m.f32.add(f32load(m, at(a, off())), f32load(m, at(b, boff()))));
  const tail = (): Expr => f32store(m, at(out, f.get(i)), m.f32.add(f32load(m, at(a, f.get(i))), f32load(m, at(b, period === null ? f.get(i) : m.i32.rem_u(f.get(i), i32c(m, period))))));
  f.finish([
    f.set(n, m.i32.shl(f.elements(a), m.i32.const(2))),
    f.forRange(i, m.i32.const(0), m.i32.sub(f.get(n), i32c(m, step - 4)), [one(() => f.get(i), () => bi)], step),
    ...(vec ? [f.forRange(i, f.get(i), f.get(n), [tail()], 4)] : []),
  ]);
}
