// ==== 00-top.indices.router.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_x(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
@group(0) @binding(2) var<storage, read> w_w: array<f32>;
fn ld_w(i: u32) -> f32 { return w_w[P(2u) + i]; }
@group(0) @binding(3) var<storage, read> w_bias: array<f32>;
fn ld_bias(i: u32) -> f32 { return w_bias[P(3u) + i]; }
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

var<workgroup> logit: array<f32, 8>;
var<workgroup> sc: array<f32, 8>;
var<workgroup> sv: array<f32, 8>;
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
  for (var e = lid; e < 8u; e += 64u) {
    var s = 0.0;
    for (var i = 0u; i < 32u; i++) { s += ld_x(t * 32u + i) * ld_w(e * 32u + i); }
    logit[e] = s + ld_bias(e);
  }
  workgroupBarrier();

  for (var e = lid; e < 8u; e += 64u) {
    sc[e] = logit[e];
    sv[e] = sc[e];
  }
  workgroupBarrier();
  if (lid == 0u) { keep[0] = 1u; }
  workgroupBarrier();
  for (var e = lid; e < 8u; e += 64u) {
    if (keep[e / 8u] == 0u) { continue; }
    var rank = 0u;
    for (var j = 0u; j < 8u; j++) { if (keep[j / 8u] != 0u && ahead(sv[j], j, sv[e], e)) { rank++; } }
    if (rank < 4u) { chosen[rank] = i32(e); }
  }
  workgroupBarrier();
  if (lid != 0u) { return; }
  var wv: array<f32, 4>;
  for (var j = 0u; j < 4u; j++) { wv[j] = sc[chosen[j]]; }
  var pm = wv[0];
  for (var j = 1u; j < 4u; j++) { pm = max(pm, wv[j]); }
  var ps = 0.0;
  for (var j = 0u; j < 4u; j++) { wv[j] = exp(wv[j] - pm); ps += wv[j]; }
  for (var j = 0u; j < 4u; j++) { wv[j] = wv[j] / ps; }
  for (var j = 0u; j < 4u; j++) {
    st_idx(t * 4u + j, chosen[j]);
    st_wout(t * 4u + j, wv[j] * 1.0);
  }
}

// ==== 01-y.sorted.align.wgsl ====
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

var<workgroup> cnt: array<u32, 8>;
var<workgroup> rowStart: array<u32, 8>;
var<workgroup> blockStart: array<u32, 8>;
var<workgroup> used: vec2<u32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let n = nslots();
  for (var e = lid; e < 8u; e += 256u) {
    var c = 0u;
    for (var s = 0u; s < n; s++) { if (ld_idx(s) == i32(e)) { c++; } }
    cnt[e] = c;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var rows = 0u;
    var blocks = 0u;
    for (var e = 0u; e < 8u; e++) {
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
  for (var e = lid; e < 8u; e += 256u) {
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

// ==== 02-y.hidden.decode.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_a(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
@group(0) @binding(2) var<storage, read> w_w: array<f32>;
fn ld_w(i: u32) -> f32 { return w_w[P(2u) + i]; }
fn ld_idx(i: u32) -> i32 { return bitcast<i32>(arena[P(3u) + i]); }
@group(0) @binding(3) var<storage, read> w_bias0: array<f32>;
fn ld_bias0(i: u32) -> f32 { return w_bias0[P(4u) + i]; }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(5u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(5u) + i] = bitcast<u32>(v); }
fn e_lo() -> u32 { return P(6u); }
fn e_hi() -> u32 { return P(7u); }
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
  g = g + ld_bias0(e * 48u + (2u * o + 0u));
  u = u + ld_bias0(e * 48u + (2u * o + 1u));
  let gc = min(g, 7.0);
  let uc = clamp(u, -7.0, 7.0);
  v = (uc + 1.0) * gc * act_sigmoid(gc * 1.7020000219345093);
  return v;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = wid.x;
  let o = wid.y * 64u + lid;
  let ei = ld_idx(s);
  if (ei < i32(e_lo()) || ei >= i32(e_hi()) || o >= 24u) { return; }
  let e = u32(ei);
  let ar = s / 4u;
  var g = 0.0;
  var u = 0.0;
  for (var kk = 0u; kk < 32u; kk++) {
    let a = ld_a(ar * 32u + kk);
    g += a * ld_w((e - e_lo()) * 1536u + kk * 48u + (2u * o + 0u));
    u += a * ld_w((e - e_lo()) * 1536u + kk * 48u + (2u * o + 1u));
  }
  st_out(s * 24u + o, epi(e, o, g, u));
}

// ==== 03-y.hidden.sorted.wgsl ====
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
@group(0) @binding(3) var<storage, read> w_bias0: array<f32>;
fn ld_bias0(i: u32) -> f32 { return w_bias0[P(6u) + i]; }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(7u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(7u) + i] = bitcast<u32>(v); }
fn e_lo() -> u32 { return P(8u); }
fn e_hi() -> u32 { return P(9u); }
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
  g = g + ld_bias0(e * 48u + (2u * o + 0u));
  u = u + ld_bias0(e * 48u + (2u * o + 1u));
  let gc = min(g, 7.0);
  let uc = clamp(u, -7.0, 7.0);
  v = (uc + 1.0) * gc * act_sigmoid(gc * 1.7020000219345093);
  return v;
}

var<workgroup> As: array<f32, 256>;
var<workgroup> Ws: array<f32, 768>;
fn tileRows(tile: u32, i: u32) -> vec2<i32> {
  let r = tile * 16u + i;
  let s = ld_sorted(r);
  if (s < 0) { return vec2<i32>(-1, -1); }
  return vec2<i32>(s / 4, i32(r));
}

@compute @workgroup_size(48)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x;
  let col0 = wid.y * 24u;
  if (lid == 0u) {
    let be = ld_bexp(tile);
    As[0] = select(0.0, f32(be + 1), i32(tile * 16u) < ld_cnt(0u) && be >= i32(e_lo()) && be < i32(e_hi()));
  }
  let code = u32(workgroupUniformLoad(&As[0]));
  if (code == 0u) { return; }
  let e = code - 1u;
  workgroupBarrier();
  let tr = lid / 12u;
  let tc = lid % 12u;
  var acc_0_0 = 0.0; var accu_0_0 = 0.0;
  var acc_0_1 = 0.0; var accu_0_1 = 0.0;
  var acc_1_0 = 0.0; var accu_1_0 = 0.0;
  var acc_1_1 = 0.0; var accu_1_1 = 0.0;
  var acc_2_0 = 0.0; var accu_2_0 = 0.0;
  var acc_2_1 = 0.0; var accu_2_1 = 0.0;
  var acc_3_0 = 0.0; var accu_3_0 = 0.0;
  var acc_3_1 = 0.0; var accu_3_1 = 0.0;
  let c_0 = min(tc + 0u, 23u);
  let c_1 = min(tc + 12u, 23u);
  for (var k0 = 0u; k0 < 32u; k0 += 16u) {
    for (var i = lid; i < 256u; i += 48u) {
      let ar = tileRows(tile, i / 16u).x;
      let kk = k0 + i % 16u;
      var v = 0.0;
      if (ar >= 0 && kk < 32u) { v = ld_a(u32(ar) * 32u + kk); }
      As[i] = v;
    }
    for (var i = lid; i < 768u; i += 48u) {
      let kk = k0 + i / 48u;
      let c = i % 48u;
      let half = c / 24u;
      let o = col0 + c % 24u;
      let col = select((2u * o + 0u), (2u * o + 1u), half == 1u);
      var v = 0.0;
      if (o < 24u && kk < 32u) { v = ld_w((e - e_lo()) * 1536u + kk * 48u + col); }
      Ws[(kk - k0) * 48u + c] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let a_0 = As[min(tr + 0u, 15u) * 16u + kk];
      let a_1 = As[min(tr + 4u, 15u) * 16u + kk];
      let a_2 = As[min(tr + 8u, 15u) * 16u + kk];
      let a_3 = As[min(tr + 12u, 15u) * 16u + kk];
      let b_0 = Ws[kk * 48u + c_0]; let bu_0 = Ws[kk * 48u + 24u + c_0];
      let b_1 = Ws[kk * 48u + c_1]; let bu_1 = Ws[kk * 48u + 24u + c_1];
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
      if (tc + 0u < 24u && o_0 < 24u) { st_out(u32(d) * 24u + o_0, epi(e, o_0, acc_0_0, accu_0_0)); }
      let o_1 = col0 + tc + 12u;
      if (tc + 12u < 24u && o_1 < 24u) { st_out(u32(d) * 24u + o_1, epi(e, o_1, acc_0_1, accu_0_1)); }
    }
  }
  {
    let rr = tr + 4u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 24u && o_0 < 24u) { st_out(u32(d) * 24u + o_0, epi(e, o_0, acc_1_0, accu_1_0)); }
      let o_1 = col0 + tc + 12u;
      if (tc + 12u < 24u && o_1 < 24u) { st_out(u32(d) * 24u + o_1, epi(e, o_1, acc_1_1, accu_1_1)); }
    }
  }
  {
    let rr = tr + 8u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 24u && o_0 < 24u) { st_out(u32(d) * 24u + o_0, epi(e, o_0, acc_2_0, accu_2_0)); }
      let o_1 = col0 + tc + 12u;
      if (tc + 12u < 24u && o_1 < 24u) { st_out(u32(d) * 24u + o_1, epi(e, o_1, acc_2_1, accu_2_1)); }
    }
  }
  {
    let rr = tr + 12u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 24u && o_0 < 24u) { st_out(u32(d) * 24u + o_0, epi(e, o_0, acc_3_0, accu_3_0)); }
      let o_1 = col0 + tc + 12u;
      if (tc + 12u < 24u && o_1 < 24u) { st_out(u32(d) * 24u + o_1, epi(e, o_1, acc_3_1, accu_3_1)); }
    }
  }
}

// ==== 04-y.decode.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_a(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
@group(0) @binding(2) var<storage, read> w_w: array<f32>;
fn ld_w(i: u32) -> f32 { return w_w[P(2u) + i]; }
fn ld_idx(i: u32) -> i32 { return bitcast<i32>(arena[P(3u) + i]); }
@group(0) @binding(3) var<storage, read> w_bias0: array<f32>;
fn ld_bias0(i: u32) -> f32 { return w_bias0[P(4u) + i]; }
fn ld_scr(i: u32) -> f32 { return bitcast<f32>(arena[P(5u) + i]); }
fn st_scr(i: u32, v: f32) { arena[P(5u) + i] = bitcast<u32>(v); }
fn e_lo() -> u32 { return P(6u); }
fn e_hi() -> u32 { return P(7u); }
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
  g = g + ld_bias0(e * 32u + o);
  v = g;
  return v;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = wid.x;
  let o = wid.y * 64u + lid;
  let ei = ld_idx(s);
  if (ei < i32(e_lo()) || ei >= i32(e_hi()) || o >= 32u) { return; }
  let e = u32(ei);
  let ar = s;
  var g = 0.0;
  var u = 0.0;
  for (var kk = 0u; kk < 24u; kk++) {
    let a = ld_a(ar * 24u + kk);
    g += a * ld_w((e - e_lo()) * 768u + kk * 32u + o);
  }
  st_scr(s * 32u + o, epi(e, o, g, u));
}

// ==== 05-y.sorted.wgsl ====
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
@group(0) @binding(3) var<storage, read> w_bias0: array<f32>;
fn ld_bias0(i: u32) -> f32 { return w_bias0[P(6u) + i]; }
fn ld_scr(i: u32) -> f32 { return bitcast<f32>(arena[P(7u) + i]); }
fn st_scr(i: u32, v: f32) { arena[P(7u) + i] = bitcast<u32>(v); }
fn e_lo() -> u32 { return P(8u); }
fn e_hi() -> u32 { return P(9u); }
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
  g = g + ld_bias0(e * 32u + o);
  v = g;
  return v;
}

var<workgroup> As: array<f32, 384>;
var<workgroup> Ws: array<f32, 768>;
fn tileRows(tile: u32, i: u32) -> vec2<i32> {
  let r = tile * 16u + i;
  let s = ld_sorted(r);
  if (s < 0) { return vec2<i32>(-1, -1); }
  return vec2<i32>(i32(r), s);
}

@compute @workgroup_size(16)
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
  let tr = lid / 4u;
  let tc = lid % 4u;
  var acc_0_0 = 0.0;
  var acc_0_1 = 0.0;
  var acc_0_2 = 0.0;
  var acc_0_3 = 0.0;
  var acc_0_4 = 0.0;
  var acc_0_5 = 0.0;
  var acc_0_6 = 0.0;
  var acc_0_7 = 0.0;
  var acc_1_0 = 0.0;
  var acc_1_1 = 0.0;
  var acc_1_2 = 0.0;
  var acc_1_3 = 0.0;
  var acc_1_4 = 0.0;
  var acc_1_5 = 0.0;
  var acc_1_6 = 0.0;
  var acc_1_7 = 0.0;
  var acc_2_0 = 0.0;
  var acc_2_1 = 0.0;
  var acc_2_2 = 0.0;
  var acc_2_3 = 0.0;
  var acc_2_4 = 0.0;
  var acc_2_5 = 0.0;
  var acc_2_6 = 0.0;
  var acc_2_7 = 0.0;
  var acc_3_0 = 0.0;
  var acc_3_1 = 0.0;
  var acc_3_2 = 0.0;
  var acc_3_3 = 0.0;
  var acc_3_4 = 0.0;
  var acc_3_5 = 0.0;
  var acc_3_6 = 0.0;
  var acc_3_7 = 0.0;
  let c_0 = min(tc + 0u, 31u);
  let c_1 = min(tc + 4u, 31u);
  let c_2 = min(tc + 8u, 31u);
  let c_3 = min(tc + 12u, 31u);
  let c_4 = min(tc + 16u, 31u);
  let c_5 = min(tc + 20u, 31u);
  let c_6 = min(tc + 24u, 31u);
  let c_7 = min(tc + 28u, 31u);
  for (var k0 = 0u; k0 < 24u; k0 += 24u) {
    for (var i = lid; i < 384u; i += 16u) {
      let ar = tileRows(tile, i / 24u).x;
      let kk = k0 + i % 24u;
      var v = 0.0;
      if (ar >= 0 && kk < 24u) { v = ld_a(u32(ar) * 24u + kk); }
      As[i] = v;
    }
    for (var i = lid; i < 768u; i += 16u) {
      let kk = k0 + i / 32u;
      let c = i % 32u;
      let o = col0 + c;
      let col = o;
      var v = 0.0;
      if (o < 32u && kk < 24u) { v = ld_w((e - e_lo()) * 768u + kk * 32u + col); }
      Ws[(kk - k0) * 32u + c] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 24u; kk++) {
      let a_0 = As[min(tr + 0u, 15u) * 24u + kk];
      let a_1 = As[min(tr + 4u, 15u) * 24u + kk];
      let a_2 = As[min(tr + 8u, 15u) * 24u + kk];
      let a_3 = As[min(tr + 12u, 15u) * 24u + kk];
      let b_0 = Ws[kk * 32u + c_0];
      let b_1 = Ws[kk * 32u + c_1];
      let b_2 = Ws[kk * 32u + c_2];
      let b_3 = Ws[kk * 32u + c_3];
      let b_4 = Ws[kk * 32u + c_4];
      let b_5 = Ws[kk * 32u + c_5];
      let b_6 = Ws[kk * 32u + c_6];
      let b_7 = Ws[kk * 32u + c_7];
      acc_0_0 = fma(a_0, b_0, acc_0_0);
      acc_0_1 = fma(a_0, b_1, acc_0_1);
      acc_0_2 = fma(a_0, b_2, acc_0_2);
      acc_0_3 = fma(a_0, b_3, acc_0_3);
      acc_0_4 = fma(a_0, b_4, acc_0_4);
      acc_0_5 = fma(a_0, b_5, acc_0_5);
      acc_0_6 = fma(a_0, b_6, acc_0_6);
      acc_0_7 = fma(a_0, b_7, acc_0_7);
      acc_1_0 = fma(a_1, b_0, acc_1_0);
      acc_1_1 = fma(a_1, b_1, acc_1_1);
      acc_1_2 = fma(a_1, b_2, acc_1_2);
      acc_1_3 = fma(a_1, b_3, acc_1_3);
      acc_1_4 = fma(a_1, b_4, acc_1_4);
      acc_1_5 = fma(a_1, b_5, acc_1_5);
      acc_1_6 = fma(a_1, b_6, acc_1_6);
      acc_1_7 = fma(a_1, b_7, acc_1_7);
      acc_2_0 = fma(a_2, b_0, acc_2_0);
      acc_2_1 = fma(a_2, b_1, acc_2_1);
      acc_2_2 = fma(a_2, b_2, acc_2_2);
      acc_2_3 = fma(a_2, b_3, acc_2_3);
      acc_2_4 = fma(a_2, b_4, acc_2_4);
      acc_2_5 = fma(a_2, b_5, acc_2_5);
      acc_2_6 = fma(a_2, b_6, acc_2_6);
      acc_2_7 = fma(a_2, b_7, acc_2_7);
      acc_3_0 = fma(a_3, b_0, acc_3_0);
      acc_3_1 = fma(a_3, b_1, acc_3_1);
      acc_3_2 = fma(a_3, b_2, acc_3_2);
      acc_3_3 = fma(a_3, b_3, acc_3_3);
      acc_3_4 = fma(a_3, b_4, acc_3_4);
      acc_3_5 = fma(a_3, b_5, acc_3_5);
      acc_3_6 = fma(a_3, b_6, acc_3_6);
      acc_3_7 = fma(a_3, b_7, acc_3_7);
    }
    workgroupBarrier();
  }
  {
    let rr = tr + 0u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 32u && o_0 < 32u) { st_scr(u32(d) * 32u + o_0, epi(e, o_0, acc_0_0, 0.0)); }
      let o_1 = col0 + tc + 4u;
      if (tc + 4u < 32u && o_1 < 32u) { st_scr(u32(d) * 32u + o_1, epi(e, o_1, acc_0_1, 0.0)); }
      let o_2 = col0 + tc + 8u;
      if (tc + 8u < 32u && o_2 < 32u) { st_scr(u32(d) * 32u + o_2, epi(e, o_2, acc_0_2, 0.0)); }
      let o_3 = col0 + tc + 12u;
      if (tc + 12u < 32u && o_3 < 32u) { st_scr(u32(d) * 32u + o_3, epi(e, o_3, acc_0_3, 0.0)); }
      let o_4 = col0 + tc + 16u;
      if (tc + 16u < 32u && o_4 < 32u) { st_scr(u32(d) * 32u + o_4, epi(e, o_4, acc_0_4, 0.0)); }
      let o_5 = col0 + tc + 20u;
      if (tc + 20u < 32u && o_5 < 32u) { st_scr(u32(d) * 32u + o_5, epi(e, o_5, acc_0_5, 0.0)); }
      let o_6 = col0 + tc + 24u;
      if (tc + 24u < 32u && o_6 < 32u) { st_scr(u32(d) * 32u + o_6, epi(e, o_6, acc_0_6, 0.0)); }
      let o_7 = col0 + tc + 28u;
      if (tc + 28u < 32u && o_7 < 32u) { st_scr(u32(d) * 32u + o_7, epi(e, o_7, acc_0_7, 0.0)); }
    }
  }
  {
    let rr = tr + 4u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 32u && o_0 < 32u) { st_scr(u32(d) * 32u + o_0, epi(e, o_0, acc_1_0, 0.0)); }
      let o_1 = col0 + tc + 4u;
      if (tc + 4u < 32u && o_1 < 32u) { st_scr(u32(d) * 32u + o_1, epi(e, o_1, acc_1_1, 0.0)); }
      let o_2 = col0 + tc + 8u;
      if (tc + 8u < 32u && o_2 < 32u) { st_scr(u32(d) * 32u + o_2, epi(e, o_2, acc_1_2, 0.0)); }
      let o_3 = col0 + tc + 12u;
      if (tc + 12u < 32u && o_3 < 32u) { st_scr(u32(d) * 32u + o_3, epi(e, o_3, acc_1_3, 0.0)); }
      let o_4 = col0 + tc + 16u;
      if (tc + 16u < 32u && o_4 < 32u) { st_scr(u32(d) * 32u + o_4, epi(e, o_4, acc_1_4, 0.0)); }
      let o_5 = col0 + tc + 20u;
      if (tc + 20u < 32u && o_5 < 32u) { st_scr(u32(d) * 32u + o_5, epi(e, o_5, acc_1_5, 0.0)); }
      let o_6 = col0 + tc + 24u;
      if (tc + 24u < 32u && o_6 < 32u) { st_scr(u32(d) * 32u + o_6, epi(e, o_6, acc_1_6, 0.0)); }
      let o_7 = col0 + tc + 28u;
      if (tc + 28u < 32u && o_7 < 32u) { st_scr(u32(d) * 32u + o_7, epi(e, o_7, acc_1_7, 0.0)); }
    }
  }
  {
    let rr = tr + 8u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 32u && o_0 < 32u) { st_scr(u32(d) * 32u + o_0, epi(e, o_0, acc_2_0, 0.0)); }
      let o_1 = col0 + tc + 4u;
      if (tc + 4u < 32u && o_1 < 32u) { st_scr(u32(d) * 32u + o_1, epi(e, o_1, acc_2_1, 0.0)); }
      let o_2 = col0 + tc + 8u;
      if (tc + 8u < 32u && o_2 < 32u) { st_scr(u32(d) * 32u + o_2, epi(e, o_2, acc_2_2, 0.0)); }
      let o_3 = col0 + tc + 12u;
      if (tc + 12u < 32u && o_3 < 32u) { st_scr(u32(d) * 32u + o_3, epi(e, o_3, acc_2_3, 0.0)); }
      let o_4 = col0 + tc + 16u;
      if (tc + 16u < 32u && o_4 < 32u) { st_scr(u32(d) * 32u + o_4, epi(e, o_4, acc_2_4, 0.0)); }
      let o_5 = col0 + tc + 20u;
      if (tc + 20u < 32u && o_5 < 32u) { st_scr(u32(d) * 32u + o_5, epi(e, o_5, acc_2_5, 0.0)); }
      let o_6 = col0 + tc + 24u;
      if (tc + 24u < 32u && o_6 < 32u) { st_scr(u32(d) * 32u + o_6, epi(e, o_6, acc_2_6, 0.0)); }
      let o_7 = col0 + tc + 28u;
      if (tc + 28u < 32u && o_7 < 32u) { st_scr(u32(d) * 32u + o_7, epi(e, o_7, acc_2_7, 0.0)); }
    }
  }
  {
    let rr = tr + 12u;
    let d = select(-1, tileRows(tile, rr).y, rr < 16u);
    if (d >= 0) {
      let o_0 = col0 + tc + 0u;
      if (tc + 0u < 32u && o_0 < 32u) { st_scr(u32(d) * 32u + o_0, epi(e, o_0, acc_3_0, 0.0)); }
      let o_1 = col0 + tc + 4u;
      if (tc + 4u < 32u && o_1 < 32u) { st_scr(u32(d) * 32u + o_1, epi(e, o_1, acc_3_1, 0.0)); }
      let o_2 = col0 + tc + 8u;
      if (tc + 8u < 32u && o_2 < 32u) { st_scr(u32(d) * 32u + o_2, epi(e, o_2, acc_3_2, 0.0)); }
      let o_3 = col0 + tc + 12u;
      if (tc + 12u < 32u && o_3 < 32u) { st_scr(u32(d) * 32u + o_3, epi(e, o_3, acc_3_3, 0.0)); }
      let o_4 = col0 + tc + 16u;
      if (tc + 16u < 32u && o_4 < 32u) { st_scr(u32(d) * 32u + o_4, epi(e, o_4, acc_3_4, 0.0)); }
      let o_5 = col0 + tc + 20u;
      if (tc + 20u < 32u && o_5 < 32u) { st_scr(u32(d) * 32u + o_5, epi(e, o_5, acc_3_5, 0.0)); }
      let o_6 = col0 + tc + 24u;
      if (tc + 24u < 32u && o_6 < 32u) { st_scr(u32(d) * 32u + o_6, epi(e, o_6, acc_3_6, 0.0)); }
      let o_7 = col0 + tc + 28u;
      if (tc + 28u < 32u && o_7 < 32u) { st_scr(u32(d) * 32u + o_7, epi(e, o_7, acc_3_7, 0.0)); }
    }
  }
}

// ==== 06-y.combine.wgsl ====
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
  for (var c = 0u; c < 4u; c++) {
    let s = t * 4u + c;
    if (ld_idx(s) >= 0) { acc += ld_cw(s) * ld_scr(s * 32u + o); }
  }
  st_out(t * 32u + o, acc);
}
