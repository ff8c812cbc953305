// ==== 00-top.indices.router.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_x(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
@group(0) @binding(2) var<storage, read> w_w: array<f32>;
fn ld_w(i: u32) -> f32 { return w_w[P(2u) + i]; }
@group(0) @binding(3) var<storage, read> w_gate: array<f32>;
fn ld_gate(i: u32) -> f32 { return w_gate[P(3u) + i]; }
fn ld_idx(i: u32) -> i32 { return bitcast<i32>(arena[P(4u) + i]); }
fn st_idx(i: u32, v: i32) { arena[P(4u) + i] = bitcast<u32>(v); }
fn ld_wout(i: u32) -> f32 { return bitcast<f32>(arena[P(5u) + i]); }
fn st_wout(i: u32, v: f32) { arena[P(5u) + i] = bitcast<u32>(v); }
fn act_relu(x: f32) -> f32 { return max(x, 0.0); }
fn act_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn act_silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn erf_(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, x >= 0.0);
}
fn act_gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_(x * 0.70710678118654752)); }
fn act_gelu_tanh(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x))); }

var<workgroup> logit: array<f32, 12>;
var<workgroup> sc: array<f32, 12>;
var<workgroup> sv: array<f32, 12>;
var<workgroup> keep: array<u32, 1>;
var<workgroup> gs: array<f32, 1>;
var<workgroup> chosen: array<i32, 4>;
var<workgroup> red: array<f32, 64>;
var<workgroup> wgMax: f32;
var<workgroup> wgSum: f32;

// The reference's order: a NaN beats any number (read from the bits: WGSL lets a compiler
// assume floats are never NaN, so `x != x` is no test).
fn nan_(x: f32) -> bool { let b = bitcast<u32>(x); return (b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu) != 0u; }
fn better(v: f32, w: f32) -> bool { return (!nan_(v) && !nan_(w) && v > w) || (nan_(v) && !nan_(w)); }
// Candidate j ranks ahead of i: better, or not worse and at a lower index.
fn ahead(vj: f32, j: u32, vi: f32, i: u32) -> bool { return better(vj, vi) || (!better(vi, vj) && j < i); }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  for (var e = lid; e < 12u; e += 64u) {
    var s = 0.0;
    for (var i = 0u; i < 32u; i++) { s += ld_x(t * 32u + i) * ld_w(e * 32u + i); }
    logit[e] = s;
  }
  workgroupBarrier();
  // Softmax max and sum: strided partials, then a tree over the invocations.
  var pm = logit[0];
  for (var e = lid; e < 12u; e += 64u) { pm = max(pm, logit[e]); }
  red[lid] = pm;
  workgroupBarrier();
  for (var h = 32u; h > 0u; h = h / 2u) {
    if (lid < h) { red[lid] = max(red[lid], red[lid + h]); }
    workgroupBarrier();
  }
  let m = red[0];
  workgroupBarrier();
  var ps = 0.0;
  for (var e = lid; e < 12u; e += 64u) { ps += exp(logit[e] - m); }
  red[lid] = ps;
  workgroupBarrier();
  for (var h = 32u; h > 0u; h = h / 2u) {
    if (lid < h) { red[lid] += red[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) { wgMax = m; wgSum = red[0]; }
  workgroupBarrier();
  for (var e = lid; e < 12u; e += 64u) {
    sc[e] = exp(logit[e] - wgMax) / wgSum;
    sv[e] = sc[e];
  }
  workgroupBarrier();
  if (lid == 0u) { keep[0] = 1u; }
  workgroupBarrier();
  for (var e = lid; e < 12u; e += 64u) {
    if (keep[e / 12u] == 0u) { continue; }
    var rank = 0u;
    for (var j = 0u; j < 12u; j++) { if (keep[j / 12u] != 0u && ahead(sv[j], j, sv[e], e)) { rank++; } }
    if (rank < 4u) { chosen[rank] = i32(e); }
  }
  workgroupBarrier();
  if (lid != 0u) { return; }
  var wv: array<f32, 4>;
  for (var j = 0u; j < 4u; j++) { wv[j] = sc[chosen[j]]; }
  for (var j = 0u; j < 4u; j++) {
    st_idx(t * 7u + j, chosen[j]);
    st_wout(t * 7u + j, wv[j] * 1.0);
  }
  var gate = 1.0;
  var gd = 0.0;
  for (var i = 0u; i < 32u; i++) { gd += ld_x(t * 32u + i) * ld_gate(i); }
  gate = act_sigmoid(gd);
  for (var j = 0u; j < 3u; j++) {
    st_idx(t * 7u + 4u + j, i32(12u + j));
    st_wout(t * 7u + 4u + j, gate);
  }
}

// ==== 01-routed.sorted.align.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_idx(i: u32) -> i32 { return bitcast<i32>(arena[P(1u) + i]); }
fn ld_sorted(i: u32) -> i32 { return bitcast<i32>(arena[P(2u) + i]); }
fn st_sorted(i: u32, v: i32) { arena[P(2u) + i] = bitcast<u32>(v); }
fn ld_bexp(i: u32) -> i32 { return bitcast<i32>(arena[P(3u) + i]); }
fn st_bexp(i: u32, v: i32) { arena[P(3u) + i] = bitcast<u32>(v); }
fn ld_cnt(i: u32) -> i32 { return bitcast<i32>(arena[P(4u) + i]); }
fn st_cnt(i: u32, v: i32) { arena[P(4u) + i] = bitcast<u32>(v); }
fn nslots() -> u32 { return P(5u); }
fn sortedLen() -> u32 { return P(6u); }
fn blocksLen() -> u32 { return P(7u); }

var<workgroup> cnt: array<u32, 15>;
var<workgroup> rowStart: array<u32, 15>;
var<workgroup> blockStart: array<u32, 15>;
var<workgroup> used: vec2<u32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let n = nslots();
  for (var e = lid; e < 15u; e += 256u) {
    var c = 0u;
    for (var s = 0u; s < n; s++) { if (ld_idx(s) == i32(e)) { c++; } }
    cnt[e] = c;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var rows = 0u;
    var blocks = 0u;
    for (var e = 0u; e < 15u; e++) {
      rowStart[e] = rows;
      blockStart[e] = blocks;
      let nb = (cnt[e] + 15u) / 16u;
      rows += nb * 16u;
      blocks += nb;
    }
    used = vec2<u32>(rows, blocks);
    st_cnt(0u, i32(rows));
  }
  workgroupBarrier();
  for (var e = lid; e < 15u; e += 256u) {
    var r = rowStart[e];
    for (var s = 0u; s < n; s++) {
      if (ld_idx(s) == i32(e)) {
        if (r < sortedLen()) { st_sorted(r, i32(s)); }
        r++;
      }
    }
    let nb = (cnt[e] + 15u) / 16u;
    for (; r < rowStart[e] + nb * 16u; r++) { if (r < sortedLen()) { st_sorted(r, -1); } }
    for (var b = blockStart[e]; b < blockStart[e] + nb; b++) { if (b < blocksLen()) { st_bexp(b, i32(e)); } }
  }
  for (var r = used.x + lid; r < sortedLen(); r += 256u) { st_sorted(r, -1); }
  for (var b = used.y + lid; b < blocksLen(); b += 256u) { st_bexp(b, -1); }
}

// ==== 02-routed.hidden.decode.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_a(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
@group(0) @binding(2) var<storage, read> w_w: array<f32>;
fn ld_w(i: u32) -> f32 { return w_w[P(2u) + i]; }
fn ld_idx(i: u32) -> i32 { return bitcast<i32>(arena[P(3u) + i]); }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(4u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(4u) + i] = bitcast<u32>(v); }
fn e_lo() -> u32 { return P(5u); }
fn e_hi() -> u32 { return P(6u); }
fn act_relu(x: f32) -> f32 { return max(x, 0.0); }
fn act_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn act_silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn erf_(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, x >= 0.0);
}
fn act_gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_(x * 0.70710678118654752)); }
fn act_gelu_tanh(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x))); }
fn epi(e: u32, o: u32, g0: f32, u0: f32) -> f32 {
  var g = g0;
  var u = u0;
  var v = g0;
  v = act_silu(g) * u;
  return v;
}

var<workgroup> slotExpert: i32;
var<workgroup> red_g: array<f32, 64>;
var<workgroup> red_u: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = wid.x;
  if (lid == 0u) {
    let ei = ld_idx(s);
    slotExpert = select(-1, ei, ei >= i32(e_lo()) && ei < i32(e_hi()));
  }
  let ei = workgroupUniformLoad(&slotExpert);
  if (ei < 0) { return; }
  let e = u32(ei);
  let ar = s / 7u;
  let lane = lid % 32u;
  for (var pp = 0u; pp < 32u; pp++) {
    if (wid.y * 64u + pp * 2u >= 16u) { break; } // past the last column (uniform: the same for the workgroup)
    let o = wid.y * 64u + pp * 2u + lid / 32u;
    let oc = min(o, 15u);
    var g = 0.0;
    var u = 0.0;
    for (var kk = lane; kk < 32u; kk += 32u) {
      let a = ld_a(ar * 32u + kk);
      g += a * ld_w((e - e_lo()) * 1024u + oc * 32u + kk);
      u += a * ld_w((e - e_lo()) * 1024u + (16u + oc) * 32u + kk);
    }
    red_g[lid] = g;
    red_u[lid] = u;
    for (var half = 16u; half > 0u; half >>= 1u) {
      workgroupBarrier();
      if (lane < half) {
        red_g[lid] += red_g[lid + half];
        red_u[lid] += red_u[lid + half];
      }
    }
    workgroupBarrier();
    if (lane == 0u && o < 16u) { st_out(s * 16u + o, epi(e, o, red_g[lid], red_u[lid])); }
    workgroupBarrier();
  }
}

// ==== 03-routed.hidden.sorted.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_a(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
@group(0) @binding(2) var<storage, read> w_w: array<f32>;
fn ld_w(i: u32) -> f32 { return w_w[P(2u) + i]; }
fn ld_sorted(i: u32) -> i32 { return bitcast<i32>(arena[P(3u) + i]); }
fn ld_bexp(i: u32) -> i32 { return bitcast<i32>(arena[P(4u) + i]); }
fn ld_cnt(i: u32) -> i32 { return bitcast<i32>(arena[P(5u) + i]); }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(6u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(6u) + i] = bitcast<u32>(v); }
fn e_lo() -> u32 { return P(7u); }
fn e_hi() -> u32 { return P(8u); }
fn act_relu(x: f32) -> f32 { return max(x, 0.0); }
fn act_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn act_silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn erf_(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, x >= 0.0);
}
fn act_gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_(x * 0.70710678118654752)); }
fn act_gelu_tanh(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x))); }
fn epi(e: u32, o: u32, g0: f32, u0: f32) -> f32 {
  var g = g0;
  var u = u0;
  var v = g0;
  v = act_silu(g) * u;
  return v;
}

var<workgroup> As: array<f32, 512>;
var<workgroup> Ws: array<f32, 1024>;
fn tileRows(tile: u32, i: u32) -> vec2<i32> {
  let r = tile * 16u + i;
  let s = ld_sorted(r);
  if (s < 0) { return vec2<i32>(-1, -1); }
  return vec2<i32>(s / 7, i32(r));
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x;
  let col0 = wid.y * 16u;
  if (lid == 0u) {
    let be = ld_bexp(tile);
    As[0] = select(0.0, f32(be + 1), i32(tile * 16u) < ld_cnt(0u) && be >= i32(e_lo()) && be < i32(e_hi()));
  }
  let code = u32(workgroupUniformLoad(&As[0]));
  if (code == 0u) { return; }
  let e = code - 1u;
  workgroupBarrier();
  let tr = lid / 8u;
  let tc = lid % 8u;
  var acc_0_0 = 0.0; var accu_0_0 = 0.0;
  var acc_0_1 = 0.0; var accu_0_1 = 0.0;
  var acc_1_0 = 0.0; var accu_1_0 = 0.0;
  var acc_1_1 = 0.0; var accu_1_1 = 0.0;
  var acc_2_0 = 0.0; var accu_2_0 = 0.0;
  var acc_2_1 = 0.0; var accu_2_1 = 0.0;
  var acc_3_0 = 0.0; var accu_3_0 = 0.0;
  var acc_3_1 = 0.0; var accu_3_1 = 0.0;
  let c_0 = min(tc + 0u, 15u);
  let c_1 = min(tc + 8u, 15u);
  for (var k0 = 0u; k0 < 32u; k0 += 32u) {
    for (var i = lid; i < 512u; i += 32u) {
      let ar = tileRows(tile, i / 32u).x;
      let kk = k0 + i % 32u;
      var v = 0.0;
      if (ar >= 0 && kk < 32u) { v = ld_a(u32(ar) * 32u + kk); }
      As[i] = v;
    }
    for (var i = lid; i < 1024u; i += 32u) {
      let kk = k0 + i % 32u;
      let c = i / 32u;
      let half = c / 16u;
      let o = col0 + c % 16u;
      let col = select(o, (16u + o), half == 1u);
      var v = 0.0;
      if (o < 16u && kk < 32u) { v = ld_w((e - e_lo()) * 1024u + col * 32u + kk); }
      Ws[(kk - k0) * 32u + c] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 32u; kk++) {
      let a_0 = As[min(tr + 0u, 15u) * 32u + kk];
      let a_1 = As[min(tr + 4u, 15u) * 32u + kk];
      let a_2 = As[min(tr + 8u, 15u) * 32u + kk];
      let a_3 = As[min(tr + 12u, 15u) * 32u + kk];
      let b_0 = Ws[kk * 32u + c_0]; let bu_0 = Ws[kk * 32u + 16u + c_0];
      let b_1 = Ws[kk * 32u + c_1]; let bu_1 = Ws[kk * 32u + 16u + c_1];
      acc_0_0 = fma(a_0, b_0, acc_0_0); accu_0_0 = fma(a_0, bu_0, accu_0_0);
      acc_0_1 = fma(a_0, b_1, acc_0_1); accu_0_1 = fma(a_0, bu_1, accu_0_1);
      acc_1_0 = fma(a_1, b_0, acc_1_0); accu_1_0 = fma(a_1, bu_0, accu_1_0);
      acc_1_1 = fma(a_1, b_1, acc_1_1); accu_1_1 = fma(a_1, bu_1, accu_1_1);
      acc_2_0 = fma(a_2, b_0, acc_2_0); accu_2_0 = fma(a_2, bu_0, accu_2_0);
      acc_2_1 = fma(a_2, b_1, acc_2_1); accu_2_1 = fma(a_2, bu_1, accu_2_1);
      acc_3_0 = fma(a_3, b_0, acc_3_0); accu_3_0 = fma(a_3, bu_0, accu_3_0);
      acc_3_1 = fma(a_3, b_1, acc_3_1); accu_3_1 = fma(a_3, bu_1, accu_3_1);
    }
    workgroupBarrier();
  }
  {
    let rr = tr + 0u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 16u && o_0 < 16u) { st_out(u32(d) * 16u + o_0, epi(e, o_0, acc_0_0, accu_0_0)); }
      let o_1 = col0 + tc + 8u;
      if (tc + 8u < 16u && o_1 < 16u) { st_out(u32(d) * 16u + o_1, epi(e, o_1, acc_0_1, accu_0_1)); }
    }
  }
  {
    let rr = tr + 4u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 16u && o_0 < 16u) { st_out(u32(d) * 16u + o_0, epi(e, o_0, acc_1_0, accu_1_0)); }
      let o_1 = col0 + tc + 8u;
      if (tc + 8u < 16u && o_1 < 16u) { st_out(u32(d) * 16u + o_1, epi(e, o_1, acc_1_1, accu_1_1)); }
    }
  }
  {
    let rr = tr + 8u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 16u && o_0 < 16u) { st_out(u32(d) * 16u + o_0, epi(e, o_0, acc_2_0, accu_2_0)); }
      let o_1 = col0 + tc + 8u;
      if (tc + 8u < 16u && o_1 < 16u) { st_out(u32(d) * 16u + o_1, epi(e, o_1, acc_2_1, accu_2_1)); }
    }
  }
  {
    let rr = tr + 12u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 16u && o_0 < 16u) { st_out(u32(d) * 16u + o_0, epi(e, o_0, acc_3_0, accu_3_0)); }
      let o_1 = col0 + tc + 8u;
      if (tc + 8u < 16u && o_1 < 16u) { st_out(u32(d) * 16u + o_1, epi(e, o_1, acc_3_1, accu_3_1)); }
    }
  }
}

// ==== 04-routed.decode.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_a(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
@group(0) @binding(2) var<storage, read> w_w: array<f32>;
fn ld_w(i: u32) -> f32 { return w_w[P(2u) + i]; }
fn ld_idx(i: u32) -> i32 { return bitcast<i32>(arena[P(3u) + i]); }
fn ld_scr(i: u32) -> f32 { return bitcast<f32>(arena[P(4u) + i]); }
fn st_scr(i: u32, v: f32) { arena[P(4u) + i] = bitcast<u32>(v); }
fn e_lo() -> u32 { return P(5u); }
fn e_hi() -> u32 { return P(6u); }
fn act_relu(x: f32) -> f32 { return max(x, 0.0); }
fn act_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn act_silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn erf_(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, x >= 0.0);
}
fn act_gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_(x * 0.70710678118654752)); }
fn act_gelu_tanh(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x))); }
fn epi(e: u32, o: u32, g0: f32, u0: f32) -> f32 {
  var g = g0;
  var u = u0;
  var v = g0;
  v = g;
  return v;
}

var<workgroup> slotExpert: i32;
var<workgroup> red_g: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = wid.x;
  if (lid == 0u) {
    let ei = ld_idx(s);
    slotExpert = select(-1, ei, ei >= i32(e_lo()) && ei < i32(e_hi()));
  }
  let ei = workgroupUniformLoad(&slotExpert);
  if (ei < 0) { return; }
  let e = u32(ei);
  let ar = s;
  let lane = lid % 32u;
  for (var pp = 0u; pp < 32u; pp++) {
    if (wid.y * 64u + pp * 2u >= 32u) { break; } // past the last column (uniform: the same for the workgroup)
    let o = wid.y * 64u + pp * 2u + lid / 32u;
    let oc = min(o, 31u);
    var g = 0.0;
    var u = 0.0;
    for (var kk = lane; kk < 16u; kk += 32u) {
      let a = ld_a(ar * 16u + kk);
      g += a * ld_w((e - e_lo()) * 512u + oc * 16u + kk);
    }
    red_g[lid] = g;
    for (var half = 16u; half > 0u; half >>= 1u) {
      workgroupBarrier();
      if (lane < half) {
        red_g[lid] += red_g[lid + half];
      }
    }
    workgroupBarrier();
    if (lane == 0u && o < 32u) { st_scr(s * 32u + o, epi(e, o, red_g[lid], 0.0)); }
    workgroupBarrier();
  }
}

// ==== 05-routed.sorted.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_a(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
@group(0) @binding(2) var<storage, read> w_w: array<f32>;
fn ld_w(i: u32) -> f32 { return w_w[P(2u) + i]; }
fn ld_sorted(i: u32) -> i32 { return bitcast<i32>(arena[P(3u) + i]); }
fn ld_bexp(i: u32) -> i32 { return bitcast<i32>(arena[P(4u) + i]); }
fn ld_cnt(i: u32) -> i32 { return bitcast<i32>(arena[P(5u) + i]); }
fn ld_scr(i: u32) -> f32 { return bitcast<f32>(arena[P(6u) + i]); }
fn st_scr(i: u32, v: f32) { arena[P(6u) + i] = bitcast<u32>(v); }
fn e_lo() -> u32 { return P(7u); }
fn e_hi() -> u32 { return P(8u); }
fn act_relu(x: f32) -> f32 { return max(x, 0.0); }
fn act_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn act_silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn erf_(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, x >= 0.0);
}
fn act_gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_(x * 0.70710678118654752)); }
fn act_gelu_tanh(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x))); }
fn epi(e: u32, o: u32, g0: f32, u0: f32) -> f32 {
  var g = g0;
  var u = u0;
  var v = g0;
  v = g;
  return v;
}

var<workgroup> As: array<f32, 128>;
var<workgroup> Ws: array<f32, 256>;
fn tileRows(tile: u32, i: u32) -> vec2<i32> {
  let r = tile * 16u + i;
  let s = ld_sorted(r);
  if (s < 0) { return vec2<i32>(-1, -1); }
  return vec2<i32>(i32(r), s);
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x;
  let col0 = wid.y * 32u;
  if (lid == 0u) {
    let be = ld_bexp(tile);
    As[0] = select(0.0, f32(be + 1), i32(tile * 16u) < ld_cnt(0u) && be >= i32(e_lo()) && be < i32(e_hi()));
  }
  let code = u32(workgroupUniformLoad(&As[0]));
  if (code == 0u) { return; }
  let e = code - 1u;
  workgroupBarrier();
  let tr = lid / 8u;
  let tc = lid % 8u;
  var acc_0_0 = 0.0;
  var acc_0_1 = 0.0;
  var acc_0_2 = 0.0;
  var acc_0_3 = 0.0;
  var acc_1_0 = 0.0;
  var acc_1_1 = 0.0;
  var acc_1_2 = 0.0;
  var acc_1_3 = 0.0;
  var acc_2_0 = 0.0;
  var acc_2_1 = 0.0;
  var acc_2_2 = 0.0;
  var acc_2_3 = 0.0;
  var acc_3_0 = 0.0;
  var acc_3_1 = 0.0;
  var acc_3_2 = 0.0;
  var acc_3_3 = 0.0;
  let c_0 = min(tc + 0u, 31u);
  let c_1 = min(tc + 8u, 31u);
  let c_2 = min(tc + 16u, 31u);
  let c_3 = min(tc + 24u, 31u);
  for (var k0 = 0u; k0 < 16u; k0 += 8u) {
    for (var i = lid; i < 128u; i += 32u) {
      let ar = tileRows(tile, i / 8u).x;
      let kk = k0 + i % 8u;
      var v = 0.0;
      if (ar >= 0 && kk < 16u) { v = ld_a(u32(ar) * 16u + kk); }
      As[i] = v;
    }
    for (var i = lid; i < 256u; i += 32u) {
      let kk = k0 + i % 8u;
      let c = i / 8u;
      let o = col0 + c;
      let col = o;
      var v = 0.0;
      if (o < 32u && kk < 16u) { v = ld_w((e - e_lo()) * 512u + col * 16u + kk); }
      Ws[(kk - k0) * 32u + c] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 8u; kk++) {
      let a_0 = As[min(tr + 0u, 15u) * 8u + kk];
      let a_1 = As[min(tr + 4u, 15u) * 8u + kk];
      let a_2 = As[min(tr + 8u, 15u) * 8u + kk];
      let a_3 = As[min(tr + 12u, 15u) * 8u + kk];
      let b_0 = Ws[kk * 32u + c_0];
      let b_1 = Ws[kk * 32u + c_1];
      let b_2 = Ws[kk * 32u + c_2];
      let b_3 = Ws[kk * 32u + c_3];
      acc_0_0 = fma(a_0, b_0, acc_0_0);
      acc_0_1 = fma(a_0, b_1, acc_0_1);
      acc_0_2 = fma(a_0, b_2, acc_0_2);
      acc_0_3 = fma(a_0, b_3, acc_0_3);
      acc_1_0 = fma(a_1, b_0, acc_1_0);
      acc_1_1 = fma(a_1, b_1, acc_1_1);
      acc_1_2 = fma(a_1, b_2, acc_1_2);
      acc_1_3 = fma(a_1, b_3, acc_1_3);
      acc_2_0 = fma(a_2, b_0, acc_2_0);
      acc_2_1 = fma(a_2, b_1, acc_2_1);
      acc_2_2 = fma(a_2, b_2, acc_2_2);
      acc_2_3 = fma(a_2, b_3, acc_2_3);
      acc_3_0 = fma(a_3, b_0, acc_3_0);
      acc_3_1 = fma(a_3, b_1, acc_3_1);
      acc_3_2 = fma(a_3, b_2, acc_3_2);
      acc_3_3 = fma(a_3, b_3, acc_3_3);
    }
    workgroupBarrier();
  }
  {
    let rr = tr + 0u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 32u && o_0 < 32u) { st_scr(u32(d) * 32u + o_0, epi(e, o_0, acc_0_0, 0.0)); }
      let o_1 = col0 + tc + 8u;
      if (tc + 8u < 32u && o_1 < 32u) { st_scr(u32(d) * 32u + o_1, epi(e, o_1, acc_0_1, 0.0)); }
      let o_2 = col0 + tc + 16u;
      if (tc + 16u < 32u && o_2 < 32u) { st_scr(u32(d) * 32u + o_2, epi(e, o_2, acc_0_2, 0.0)); }
      let o_3 = col0 + tc + 24u;
      if (tc + 24u < 32u && o_3 < 32u) { st_scr(u32(d) * 32u + o_3, epi(e, o_3, acc_0_3, 0.0)); }
    }
  }
  {
    let rr = tr + 4u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 32u && o_0 < 32u) { st_scr(u32(d) * 32u + o_0, epi(e, o_0, acc_1_0, 0.0)); }
      let o_1 = col0 + tc + 8u;
      if (tc + 8u < 32u && o_1 < 32u) { st_scr(u32(d) * 32u + o_1, epi(e, o_1, acc_1_1, 0.0)); }
      let o_2 = col0 + tc + 16u;
      if (tc + 16u < 32u && o_2 < 32u) { st_scr(u32(d) * 32u + o_2, epi(e, o_2, acc_1_2, 0.0)); }
      let o_3 = col0 + tc + 24u;
      if (tc + 24u < 32u && o_3 < 32u) { st_scr(u32(d) * 32u + o_3, epi(e, o_3, acc_1_3, 0.0)); }
    }
  }
  {
    let rr = tr + 8u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 32u && o_0 < 32u) { st_scr(u32(d) * 32u + o_0, epi(e, o_0, acc_2_0, 0.0)); }
      let o_1 = col0 + tc + 8u;
      if (tc + 8u < 32u && o_1 < 32u) { st_scr(u32(d) * 32u + o_1, epi(e, o_1, acc_2_1, 0.0)); }
      let o_2 = col0 + tc + 16u;
      if (tc + 16u < 32u && o_2 < 32u) { st_scr(u32(d) * 32u + o_2, epi(e, o_2, acc_2_2, 0.0)); }
      let o_3 = col0 + tc + 24u;
      if (tc + 24u < 32u && o_3 < 32u) { st_scr(u32(d) * 32u + o_3, epi(e, o_3, acc_2_3, 0.0)); }
    }
  }
  {
    let rr = tr + 12u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 32u && o_0 < 32u) { st_scr(u32(d) * 32u + o_0, epi(e, o_0, acc_3_0, 0.0)); }
      let o_1 = col0 + tc + 8u;
      if (tc + 8u < 32u && o_1 < 32u) { st_scr(u32(d) * 32u + o_1, epi(e, o_1, acc_3_1, 0.0)); }
      let o_2 = col0 + tc + 16u;
      if (tc + 16u < 32u && o_2 < 32u) { st_scr(u32(d) * 32u + o_2, epi(e, o_2, acc_3_2, 0.0)); }
      let o_3 = col0 + tc + 24u;
      if (tc + 24u < 32u && o_3 < 32u) { st_scr(u32(d) * 32u + o_3, epi(e, o_3, acc_3_3, 0.0)); }
    }
  }
}

// ==== 06-routed.combine.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_idx(i: u32) -> i32 { return bitcast<i32>(arena[P(1u) + i]); }
fn ld_cw(i: u32) -> f32 { return bitcast<f32>(arena[P(2u) + i]); }
fn ld_scr(i: u32) -> f32 { return bitcast<f32>(arena[P(3u) + i]); }
fn st_scr(i: u32, v: f32) { arena[P(3u) + i] = bitcast<u32>(v); }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(4u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(4u) + i] = bitcast<u32>(v); }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let o = wid.y * 64u + lid;
  if (o >= 32u) { return; }
  var acc = 0.0;
  for (var c = 0u; c < 7u; c++) {
    let s = t * 7u + c;
    if (ld_idx(s) >= 0) { acc += ld_cw(s) * ld_scr(s * 32u + o); }
  }
  st_out(t * 32u + o, acc);
}
