// ==== 00-e.embedding.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_ids(i: u32) -> i32 { return bitcast<i32>(arena[P(1u) + i]); }
@group(0) @binding(2) var<storage, read> w_table: array<f32>;
fn ld_table(i: u32) -> f32 { return w_table[P(2u) + i]; }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(3u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(3u) + i] = bitcast<u32>(v); }
fn count() -> u32 { return P(4u); }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= count()) { return; }
  let id = ld_ids(i / 8u);
  if (id < 0 || id >= 16) { return; }
  st_out(i, ld_table(u32(id) * 8u + i % 8u));
}

// ==== 01-h.rmsnorm.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_x(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
@group(0) @binding(2) var<storage, read> w_w: array<f32>;
fn ld_w(i: u32) -> f32 { return w_w[P(2u) + i]; }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(3u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(3u) + i] = bitcast<u32>(v); }

var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * 8u;
  var s = 0.0;
  for (var i = lid; i < 8u; i += 64u) { let v = ld_x(base + i); s += v * v; }
  part[lid] = s;
  workgroupBarrier();
  for (var h = 32u; h > 0u; h = h / 2u) {
    if (lid < h) { part[lid] += part[lid + h]; }
    workgroupBarrier();
  }
  let denom = sqrt(part[0] / 8.0 + 9.999999974752427e-7);
  for (var i = lid; i < 8u; i += 64u) { st_out(base + i, ld_x(base + i) / denom * ld_w(i)); }
}

// ==== 02-0.elementwise.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_x0(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(2u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(2u) + i] = bitcast<u32>(v); }
fn count() -> u32 { return P(3u); }
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
fn ew_tanh(x: f32) -> f32 { return sign(x) * (1.0 - 2.0 / (exp(2.0 * abs(x)) + 1.0)); }
fn ew_bits(b: u32) -> f32 { var v = b; return bitcast<f32>(v); }
// sigmoid(x0)
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= count()) { return; }
  let v0: f32 = ld_x0(i);
  let v1: f32 = act_sigmoid(v0);
  st_out(i, v1);
}

// ==== 03-2.elementwise.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_x0(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn ld_x1(i: u32) -> f32 { return bitcast<f32>(arena[P(2u) + i]); }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(3u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(3u) + i] = bitcast<u32>(v); }
fn count() -> u32 { return P(4u); }
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
fn ew_tanh(x: f32) -> f32 { return sign(x) * (1.0 - 2.0 / (exp(2.0 * abs(x)) + 1.0)); }
fn ew_bits(b: u32) -> f32 { var v = b; return bitcast<f32>(v); }
// gelu_tanh(mul(x0, x1))
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= count()) { return; }
  let v0: f32 = ld_x0(i);
  let v1: f32 = ld_x1(i / 8u);
  let v2: f32 = v0 * v1;
  let v3: f32 = act_gelu_tanh(v2);
  st_out(i, v3);
}

// ==== 04-q_rot.rope.wgsl ====
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_x(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(2u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(2u) + i] = bitcast<u32>(v); }
fn rows() -> u32 { return P(3u); }
fn pos0() -> u32 { return P(4u); }

const AH = array<f32, 2>(0.8984375, 0.162841796875);
const AL = array<f32, 2>(0.00020940440299455076, 0.0001328648504568264);
const BH = array<f32, 2>(0.158935546875, 0.0);
const BL = array<f32, 2>(0.00021939621365163475, 0.000039788734284229577);
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = gid.x + gid.y * nwg.x * 64u;
  if (r >= rows()) { return; }
  let base = r * 8u;
  let p = pos0() + r / 2u;
  let pa = f32(p >> 12u);
  let pb = f32(p & 4095u);
  for (var j = 4u; j < 8u; j++) { st_out(base + j, ld_x(base + j)); }
  for (var i = 0u; i < 2u; i++) {
    let turns = fract(fract(pa * AH[i]) + fract(pb * BH[i]) + pa * AL[i] + pb * BL[i]);
    let angle = (turns - select(0.0, 1.0, turns >= 0.5)) * 6.283185307179586;
    let c = cos(angle) * 1.3465735912322998;
    let s = sin(angle) * 1.3465735912322998;
    let a = base + i * 2u;
    let b = a + 1u;
    let x1 = ld_x(a);
    let x2 = ld_x(b);
    st_out(a, x1 * c - x2 * s);
    st_out(b, x2 * c + x1 * s);
  }
}
