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
 * into the k best so far: values descending, ties to the lower index, NaN above every
 * number (the interpreter's order).
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
  var vals: array<f32, ${k}>;
  var idxs: array<u32, ${k}>;
  ${selectText(`${n}u`, k, (i) => `ld_x(base + ${i} * ${inner}u)`, 'vals', 'idxs')}
  for (var j = 0u; j < ${k}u; j++) {
    st_values(obase + j * ${inner}u, vals[j]);
    st_indices(obase + j * ${inner}u, i32(idxs[j]));
  }
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/** WGSL text selecting the k best of `n` values `at(i)` into arrays `vals`/`idxs` (declared by the caller), skipping `skip(i)`. */
function selectText(n: string, k: number, at: (i: string) => string, vals: string, idxs: string, skip = 'false'): string {
  return `{
    var count = 0u;
    for (var i = 0u; i < ${n}; i++) {
      if (${skip}) { continue; }
      let v = ${at('i')};
      if (count == ${k}u && !better(v, ${vals}[${k - 1}])) { continue; }
      var p = ${k - 1}u;
      if (count < ${k}u) { p = count; count++; }
      while (p > 0u && better(v, ${vals}[p - 1u])) { ${vals}[p] = ${vals}[p - 1u]; ${idxs}[p] = ${idxs}[p - 1u]; p--; }
      ${vals}[p] = v;
      ${idxs}[p] = i;
    }
  }`;
}

/**
 * `group_topk` over s [N, E] in G groups: operands s, values, indices; extra `rows` (N). One invocation per
 * token: group scores (best, or best two summed), the kept groups, then the k best experts
 * of the kept groups; ties to the lower index, NaN above every number (f32).
 */
export function groupTopkShader(g: { experts: number; groups: number; keep: number; k: number; sumTop2: boolean }, ops: Operand[], W: number): ShaderEntry {
  const per = g.experts / g.groups;
  const code = `${PRELUDE}${accessors(ops, ['rows'])}
fn better(v: f32, w: f32) -> bool { return v > w || (v != v && w == w); }
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * ${W}u;
  if (t >= rows()) { return; }
  let row = t * ${g.experts}u;
  var score: array<f32, ${g.groups}>;
  var kept: array<bool, ${g.groups}>;
  for (var grp = 0u; grp < ${g.groups}u; grp++) {
    var best: array<f32, 2>;
    var bi: array<u32, 2>;
    ${selectText(`${per}u`, g.sumTop2 ? 2 : 1, (i) => `ld_s(row + grp * ${per}u + ${i})`, 'best', 'bi')}
    score[grp] = ${g.sumTop2 ? 'best[0] + best[1]' : 'best[0]'};
    kept[grp] = false;
  }
  var kv: array<f32, ${g.keep}>;
  var ki: array<u32, ${g.keep}>;
  ${selectText(`${g.groups}u`, g.keep, (i) => `score[${i}]`, 'kv', 'ki')}
  for (var j = 0u; j < ${g.keep}u; j++) { kept[ki[j]] = true; }
  var vals: array<f32, ${g.k}>;
  var idxs: array<u32, ${g.k}>;
  ${selectText(`${g.experts}u`, g.k, (i) => `ld_s(row + ${i})`, 'vals', 'idxs', `!kept[i / ${per}u]`)}
  for (var j = 0u; j < ${g.k}u; j++) {
    st_values(t * ${g.k}u + j, vals[j]);
    st_indices(t * ${g.k}u + j, i32(idxs[j]));
  }
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}
