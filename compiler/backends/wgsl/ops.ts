/**
 * @fileoverview WGSL for the graph ops that stay kernels of their own: rmsnorm (one
 * workgroup per row, a tree reduction of the squares) and add (elementwise, the second
 * operand the same shape or broadcast over leading axes). Any other op is a compile error
 * naming it.
 */
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { cannotRun } from '../cannot-run.ts';
import { CHAIN_OPS } from '../../../ir/graph/elementwise.ts';
import { AXIS_OPS } from '../../../ir/graph/axis-ops.ts';
import { type Operand, PRELUDE, type ShaderEntry, accessors, f32Lit } from './shader.ts';

export const SUPPORTED_OPS = ['rmsnorm', 'add', 'embedding', 'rope', 'topk', 'concat', 'cast', 'gather', 'moe_dispatch', 'route_capacity', 'moe_permute', 'grouped_matmul', 'moe_combine', 'group_topk', ...CHAIN_OPS, ...AXIS_OPS];

/** The op kernels this backend renders (fused elementwise chains in `elementwise.ts`, embedding and rope in `decoder.ts`); E701 for any other. */
export function checkOp(k: OpKernel): void {
  if (!SUPPORTED_OPS.includes(k.op)) cannotRun('wgsl', k.op);
}

/** Operands x, w, out; one workgroup per row of `d` elements. */
export function rmsnormShader(d: number, eps: number, ops: Operand[], W: number): ShaderEntry {
  const code = `${PRELUDE}${accessors(ops)}
var<workgroup> part: array<f32, ${W}>;

@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * ${d}u;
  var s = 0.0;
  for (var i = lid; i < ${d}u; i += ${W}u) { let v = ld_x(base + i); s += v * v; }
  part[lid] = s;
  workgroupBarrier();
  for (var h = ${W / 2}u; h > 0u; h = h / 2u) {
    if (lid < h) { part[lid] += part[lid + h]; }
    workgroupBarrier();
  }
  let denom = sqrt(part[0] / ${f32Lit(d)} + ${f32Lit(eps)});
  for (var i = lid; i < ${d}u; i += ${W}u) { st_out(base + i, ld_x(base + i) / denom * ld_w(i)); }
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 4 * W };
}

/** Operands a, b, out; extra `count` (elements of out); b repeats every `bn` elements. */
export function addShader(bn: number, ops: Operand[], W: number): ShaderEntry {
  const code = `${PRELUDE}${accessors(ops, ['count'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${W}u;
  if (i >= count()) { return; }
  st_out(i, ld_a(i) + ld_b(i % ${bn}u));
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}
