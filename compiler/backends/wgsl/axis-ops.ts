/**
 * @fileoverview The WGSL shader of the axis ops (`softmax`, `sum`, `mean`, `amax`; the loop
 * in ir/graph/axis-ops.ts): one invocation per lane, walking its axis in f32 in the
 * interpreter's order; softmax recomputes exp(x - max) for its last pass.
 */
import type { AxisLoop } from '../../../ir/graph/axis-ops.ts';
import { type Operand, PRELUDE, type ShaderEntry, accessors } from './shader.ts';

/** Operands x, out; extra `lanes` (outer × inner). */
export function axisOpShader(op: string, { n, inner }: AxisLoop, ops: Operand[], W: number): ShaderEntry {
  const at = (i: string): string => `ld_x(base + ${i} * ${inner}u)`;
  // The max: a NaN makes it NaN (WGSL's max may drop NaNs, so compare by hand). It starts at
  // the first element: -inf has no WGSL literal, and a constant expression may not be one.
  const max = `  var m = ${at('0u')};
  for (var i = 1u; i < ${n}u && m == m; i++) { let v = ${at('i')}; if (v > m || v != v) { m = v; } }`;
  const body: Record<string, string> = {
    softmax: `${max}
  for (var i = 0u; i < ${n}u; i++) { s += exp(${at('i')} - m); }
  for (var i = 0u; i < ${n}u; i++) { st_out(base + i * ${inner}u, exp(${at('i')} - m) / s); }`,
    sum: `  for (var i = 0u; i < ${n}u; i++) { s += ${at('i')}; }
  st_out(l, s);`,
    mean: `  for (var i = 0u; i < ${n}u; i++) { s += ${at('i')}; }
  st_out(l, s / ${n}.0);`,
    amax: `${max}
  st_out(l, m);`,
  };
  const code = `${PRELUDE}${accessors(ops, ['lanes'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let l = gid.x + gid.y * nwg.x * ${W}u;
  if (l >= lanes()) { return; }
  let base = l / ${inner}u * ${n * inner}u + l % ${inner}u;
  var s = 0.0;
${body[op]}
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/**
 * `topk` along an axis: operands x, values, indices; extra `lanes`. Per lane, an insertion
 * into the k best so far, kept in the output rows themselves: values descending, ties to the
 * lower index, NaN above every number (the interpreter's order).
 */
export function topkShader(k: number, { n, inner }: AxisLoop, ops: Operand[], W: number): ShaderEntry {
  const code = `${PRELUDE}${accessors(ops, ['lanes'])}
fn better(v: f32, w: f32) -> bool { return v > w || (v != v && w == w); }
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let l = gid.x + gid.y * nwg.x * ${W}u;
  if (l >= lanes()) { return; }
  let base = l / ${inner}u * ${n * inner}u + l % ${inner}u;
  let obase = l / ${inner}u * ${k * inner}u + l % ${inner}u;
  var count = 0u;
  for (var i = 0u; i < ${n}u; i++) {
    let v = ld_x(base + i * ${inner}u);
    if (count == ${k}u && !better(v, ld_values(obase + ${(k - 1) * inner}u))) { continue; }
    var p = ${k - 1}u;
    if (count < ${k}u) { p = count; count++; }
    while (p > 0u && better(v, ld_values(obase + (p - 1u) * ${inner}u))) {
      st_values(obase + p * ${inner}u, ld_values(obase + (p - 1u) * ${inner}u));
      st_indices(obase + p * ${inner}u, ld_indices(obase + (p - 1u) * ${inner}u));
      p--;
    }
    st_values(obase + p * ${inner}u, v);
    st_indices(obase + p * ${inner}u, i32(i));
  }
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}
