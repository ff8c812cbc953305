/**
 * @fileoverview WGSL for the router (one workgroup per token) and its capacity pass.
 *
 * Per token: logits (one expert per invocation, strided), scores, then a parallel top-k
 * by rank: expert e's rank is the number of candidates that beat it (a higher value, or an
 * equal value at a lower index), so the chosen list comes out best first with ties to the
 * lower index, exactly as the reference's insertion selection orders it. DeepSeek's group
 * top-k ranks the groups the same way first. Softmax's max and sum are tree reductions;
 * the few per-token scalars (the chosen weights, the shared gate) run on one invocation.
 *
 * Switch capacity admits slots choice-major across ALL tokens, so it cannot run inside a
 * per-token workgroup: the router writes its raw choices to scratch and a second pass keeps
 * slot (t, c) iff fewer than `capacity` earlier slots (earlier choice, or same choice and
 * earlier token) chose the same expert. Capacity is computed on the host per T
 * (`expertCapacity`, float64 like the reference).
 */
import type { RouterKernel } from '../../../ir/kernel/kernel.ts';
import { ACTIVATIONS, type Operand, PRELUDE, type ShaderEntry, accessors, f32Lit, workgroupOf } from './shader.ts';


/** Operands: x, w, [bias], [sel], [gate], idx (or raw scratch with capacity), wout. */
export function routerShader(k: RouterKernel, d: number, ops: Operand[]): ShaderEntry {
  const E = k.experts;
  const K = k.k;
  const cols = K + k.shared;
  const W = workgroupOf(k);
  const sel = k.select;
  const grouped = sel.kind === 'group_topk';
  const G = grouped ? sel.groups : 1;
  const per = E / G;
  const cap = k.capacityFactor !== undefined;
  const score =
    k.score === 'softmax' ? 'exp(logit[e] - wgMax) / wgSum' : k.score === 'sigmoid' ? 'act_sigmoid(logit[e])' : 'logit[e]';
  const code = `${PRELUDE}${accessors(ops)}${ACTIVATIONS}
var<workgroup> logit: array<f32, ${E}>;
var<workgroup> sc: array<f32, ${E}>;
var<workgroup> sv: array<f32, ${E}>;
var<workgroup> keep: array<u32, ${G}>;
var<workgroup> gs: array<f32, ${G}>;
var<workgroup> chosen: array<i32, ${K}>;
var<workgroup> red: array<f32, ${W}>;
var<workgroup> wgMax: f32;
var<workgroup> wgSum: f32;

// The reference's order: a NaN beats any number (read from the bits: WGSL lets a compiler
// assume floats are never NaN, so \`x != x\` is no test).
fn nan_(x: f32) -> bool { let b = bitcast<u32>(x); return (b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu) != 0u; }
fn better(v: f32, w: f32) -> bool { return (!nan_(v) && !nan_(w) && v > w) || (nan_(v) && !nan_(w)); }
// Candidate j ranks ahead of i: better, or not worse and at a lower index.
fn ahead(vj: f32, j: u32, vi: f32, i: u32) -> bool { return better(vj, vi) || (!better(vi, vj) && j < i); }

@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  for (var e = lid; e < ${E}u; e += ${W}u) {
    var s = 0.0;
    for (var i = 0u; i < ${d}u; i++) { s += ld_x(t * ${d}u + i) * ld_w(e * ${d}u + i); }
    logit[e] = s${k.bias ? ' + ld_bias(e)' : ''};
  }
  workgroupBarrier();
${
  k.score === 'softmax'
    ? `  // Softmax max and sum: strided partials, then a tree over the invocations.
  var pm = logit[0];
  for (var e = lid; e < ${E}u; e += ${W}u) { pm = max(pm, logit[e]); }
  red[lid] = pm;
  workgroupBarrier();
  for (var h = ${W / 2}u; h > 0u; h = h / 2u) {
    if (lid < h) { red[lid] = max(red[lid], red[lid + h]); }
    workgroupBarrier();
  }
  let m = red[0];
  workgroupBarrier();
  var ps = 0.0;
  for (var e = lid; e < ${E}u; e += ${W}u) { ps += exp(logit[e] - m); }
  red[lid] = ps;
  workgroupBarrier();
  for (var h = ${W / 2}u; h > 0u; h = h / 2u) {
    if (lid < h) { red[lid] += red[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) { wgMax = m; wgSum = red[0]; }
  workgroupBarrier();`
    : ''
}
  for (var e = lid; e < ${E}u; e += ${W}u) {
    sc[e] = ${score};
    sv[e] = sc[e]${k.selectBias ? ' + ld_sel(e)' : ''};
  }
  workgroupBarrier();
${
  grouped
    ? `  for (var g = lid; g < ${G}u; g += ${W}u) {
    var b1 = sv[g * ${per}u];
    var b2 = 0.0;
    var n2 = false;
    for (var j = 1u; j < ${per}u; j++) {
      let v = sv[g * ${per}u + j];
      if (better(v, b1)) { b2 = b1; b1 = v; n2 = true; } else if (!n2 || better(v, b2)) { b2 = v; n2 = true; }
    }
    gs[g] = ${sel.groupScore === 'sum_top2' ? 'b1 + b2' : 'b1'};
  }
  workgroupBarrier();
  for (var g = lid; g < ${G}u; g += ${W}u) {
    var rank = 0u;
    for (var h = 0u; h < ${G}u; h++) { if (ahead(gs[h], h, gs[g], g)) { rank++; } }
    keep[g] = select(0u, 1u, rank < ${sel.topkGroups}u);
  }
  workgroupBarrier();`
    : '  if (lid == 0u) { keep[0] = 1u; }\n  workgroupBarrier();'
}
  for (var e = lid; e < ${E}u; e += ${W}u) {
    if (keep[e / ${per}u] == 0u) { continue; }
    var rank = 0u;
    for (var j = 0u; j < ${E}u; j++) { if (keep[j / ${per}u] != 0u && ahead(sv[j], j, sv[e], e)) { rank++; } }
    if (rank < ${K}u) { chosen[rank] = i32(e); }
  }
  workgroupBarrier();
  if (lid != 0u) { return; }
  var wv: array<f32, ${K}>;
  for (var j = 0u; j < ${K}u; j++) { wv[j] = sc[chosen[j]]; }
${
  k.postSoftmax
    ? `  var pm = wv[0];
  for (var j = 1u; j < ${K}u; j++) { pm = max(pm, wv[j]); }
  var ps = 0.0;
  for (var j = 0u; j < ${K}u; j++) { wv[j] = exp(wv[j] - pm); ps += wv[j]; }
  for (var j = 0u; j < ${K}u; j++) { wv[j] = wv[j] / ps; }
`
    : ''
}${
  k.normalize
    ? `  var ns = 0.0;
  for (var j = 0u; j < ${K}u; j++) { ns += wv[j]; }
  for (var j = 0u; j < ${K}u; j++) { wv[j] = wv[j] / ns; }
`
    : ''
}  for (var j = 0u; j < ${K}u; j++) {
    ${cap ? `st_raw(t * ${K}u + j, chosen[j]);` : `st_idx(t * ${cols}u + j, chosen[j]);`}
    st_wout(t * ${cols}u + j, wv[j] * ${f32Lit(k.scale)});
  }
${
  k.shared > 0
    ? `  var gate = 1.0;
${
  k.sharedGate
    ? `  var gd = 0.0;
  for (var i = 0u; i < ${d}u; i++) { gd += ld_x(t * ${d}u + i) * ld_gate(i); }
  gate = act_sigmoid(gd);
`
    : ''
}  for (var j = 0u; j < ${k.shared}u; j++) {
    st_idx(t * ${cols}u + ${K}u + j, i32(${E}u + j));
    st_wout(t * ${cols}u + ${K}u + j, gate);
  }
`
    : ''
}}
`;
  const wgBytes = 4 * (3 * E + 2 * G + K + 2 + W);
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: wgBytes };
}

/** Operands raw, idx; extra `capacity`. One invocation per routed slot (t, c). */
export function capacityShader(k: RouterKernel, ops: Operand[]): ShaderEntry {
  const K = k.k;
  const cols = K + k.shared;
  const W = workgroupOf(k);
  const code = `${PRELUDE}${accessors(ops, ['capacity'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = tokens() * ${K}u;
  let s = gid.x;
  if (s >= n) { return; }
  let t = s / ${K}u;
  let c = s % ${K}u;
  let e = ld_raw(s);
  var before = 0u;
  for (var c2 = 0u; c2 <= c; c2++) {
    let tEnd = select(tokens(), t, c2 == c);
    for (var t2 = 0u; t2 < tEnd; t2++) { if (ld_raw(t2 * ${K}u + c2) == e) { before++; } }
  }
  st_idx(t * ${cols}u + c, select(-1, e, before < capacity()));
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}
