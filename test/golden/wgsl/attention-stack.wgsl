// ---- 00-layers.0.append.wgsl
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
@group(0) @binding(17) var<storage, read_write> arena1: array<u32>;
@group(0) @binding(18) var<storage, read_write> arena2: array<u32>;
fn ld_a(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn ld_b(i: u32) -> f32 { return bitcast<f32>(arena[P(2u) + i]); }
fn ld_ac(i: u32) -> f32 { return bitcast<f32>(arena1[P(3u) + i]); }
fn st_ac(i: u32, v: f32) { arena1[P(3u) + i] = bitcast<u32>(v); }
fn ld_bc(i: u32) -> f32 { return bitcast<f32>(arena2[P(4u) + i]); }
fn st_bc(i: u32, v: f32) { arena2[P(4u) + i] = bitcast<u32>(v); }
fn count() -> u32 { return P(5u); }
fn L() -> u32 { return P(6u); }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= count()) { return; }
  if (i < tokens() * 16u) { st_ac(L() * 16u + i, ld_a(i)); }
  if (i < tokens() * 16u) { st_bc(L() * 16u + i, ld_b(i)); }
}

// ---- 01-layers.0.attend.wgsl
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
@group(0) @binding(17) var<storage, read_write> arena1: array<u32>;
@group(0) @binding(18) var<storage, read_write> arena2: array<u32>;
fn ld_q(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn ld_kc(i: u32) -> f32 { return bitcast<f32>(arena1[P(2u) + i]); }
fn ld_vc(i: u32) -> f32 { return bitcast<f32>(arena2[P(3u) + i]); }
@group(0) @binding(2) var<storage, read> w_sinks: array<f32>;
fn ld_sinks(i: u32) -> f32 { return w_sinks[P(4u) + i]; }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(5u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(5u) + i] = bitcast<u32>(v); }
fn L() -> u32 { return P(6u); }
fn query_feat(t: u32, g: u32, r: u32, e: u32) -> f32 { return ld_q((t * 4u + g * 2u + r) * 8u + e); }
fn key_feat(j: u32, g: u32, e: u32) -> f32 { return ld_kc((j * 2u + g) * 8u + e); }
fn value_feat(j: u32, g: u32, e: u32) -> f32 { return ld_vc((j * 2u + g) * 8u + e); }
fn first_key(t: u32) -> u32 {
  let end = L() + t + 1u;
  return select(0u, end - 20u, end > 20u);
}
fn decode_parts() -> u32 {
  let keys = L() + 1u - first_key(0u);
  return min(8u, (keys + 127u) / 128u);
}
fn part_start(k: u32) -> u32 {
  let keys = L() + 1u - first_key(0u);
  return first_key(0u) + keys * k / decode_parts();
}
var<workgroup> qs: array<f32, 16>;
var<workgroup> kt: array<f32, 1024>;
var<workgroup> vt: array<f32, 1024>;
var<workgroup> sc: array<f32, 256>;
var<workgroup> mx: array<f32, 2>;
var<workgroup> cr: array<f32, 2>;
var<workgroup> sm: array<f32, 2>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let t = wid.y;
  let j0 = first_key(t);
  let j1 = L() + t + 1u;
  var acc: array<f32, 1>;
  for (var u = 0u; u < 1u; u++) { acc[u] = 0.0; }
  for (var r = lid; r < 2u; r += 64u) { mx[r] = -3.4028234663852886e38; sm[r] = 0.0; }
  for (var i = lid; i < 16u; i += 64u) { qs[i] = query_feat(t, g, i / 8u, i % 8u); }

  for (var jt = j0; jt < j1; jt += 128u) {
    let n = min(128u, j1 - jt);
    workgroupBarrier();
    for (var i = lid; i < n * 8u; i += 64u) { kt[i] = key_feat(jt + i / 8u, g, i % 8u); }
    for (var i = lid; i < n * 8u; i += 64u) { vt[i] = value_feat(jt + i / 8u, g, i % 8u); }
    workgroupBarrier();
    for (var i = lid; i < 2u * n; i += 64u) {
      let r = i / n;
      let j = i % n;
      var d = 0.0;
      for (var e = 0u; e < 8u; e++) { d += qs[r * 8u + e] * kt[j * 8u + e]; }
      sc[r * 128u + j] = d * 0.3499999940395355;
    }
    workgroupBarrier();
    for (var r = lid; r < 2u; r += 64u) {
      var m = mx[r];
      for (var i = 0u; i < n; i++) { m = max(m, sc[r * 128u + i]); }
      cr[r] = exp(mx[r] - m);
      mx[r] = m;
    }
    workgroupBarrier();
    for (var i = lid; i < 2u * n; i += 64u) {
      let at = (i / n) * 128u + i % n;
      sc[at] = exp(sc[at] - mx[i / n]);
    }
    workgroupBarrier();
    for (var r = lid; r < 2u; r += 64u) {
      var l = sm[r] * cr[r];
      for (var i = 0u; i < n; i++) { l += sc[r * 128u + i]; }
      sm[r] = l;
    }
    for (var u = 0u; u < 1u; u++) {
      let o = lid + u * 64u;
      if (o < 16u) {
        let r = o / 8u;
        let e = o % 8u;
        var a = acc[u] * cr[r];
        for (var i = 0u; i < n; i++) { a += sc[r * 128u + i] * vt[i * 8u + e]; }
        acc[u] = a;
      }
    }
  }
  workgroupBarrier();
  for (var u = 0u; u < 1u; u++) {
    let o = lid + u * 64u;
    if (o < 16u) {
      let r = o / 8u;
      let e = o % 8u;
      let h = g * 2u + r;
      let sink = ld_sinks(h);
      let top = max(sink, mx[r]);
      let sc1 = exp(mx[r] - top);
      st_out((t * 4u + h) * 8u + e, acc[u] * sc1 / (sm[r] * sc1 + exp(sink - top)));
    }
  }
}

// ---- 02-layers.0.split.wgsl
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
@group(0) @binding(17) var<storage, read_write> arena1: array<u32>;
@group(0) @binding(18) var<storage, read_write> arena2: array<u32>;
fn ld_q(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn ld_kc(i: u32) -> f32 { return bitcast<f32>(arena1[P(2u) + i]); }
fn ld_vc(i: u32) -> f32 { return bitcast<f32>(arena2[P(3u) + i]); }
fn ld_part(i: u32) -> f32 { return bitcast<f32>(arena[P(4u) + i]); }
fn st_part(i: u32, v: f32) { arena[P(4u) + i] = bitcast<u32>(v); }
fn L() -> u32 { return P(5u); }
fn query_feat(t: u32, g: u32, r: u32, e: u32) -> f32 { return ld_q((t * 4u + g * 2u + r) * 8u + e); }
fn key_feat(j: u32, g: u32, e: u32) -> f32 { return ld_kc((j * 2u + g) * 8u + e); }
fn value_feat(j: u32, g: u32, e: u32) -> f32 { return ld_vc((j * 2u + g) * 8u + e); }
fn first_key(t: u32) -> u32 {
  let end = L() + t + 1u;
  return select(0u, end - 20u, end > 20u);
}
fn decode_parts() -> u32 {
  let keys = L() + 1u - first_key(0u);
  return min(8u, (keys + 127u) / 128u);
}
fn part_start(k: u32) -> u32 {
  let keys = L() + 1u - first_key(0u);
  return first_key(0u) + keys * k / decode_parts();
}
var<workgroup> qs: array<f32, 16>;
var<workgroup> kt: array<f32, 1024>;
var<workgroup> vt: array<f32, 1024>;
var<workgroup> sc: array<f32, 256>;
var<workgroup> mx: array<f32, 2>;
var<workgroup> cr: array<f32, 2>;
var<workgroup> sm: array<f32, 2>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let k = wid.y;
  let t = 0u;
  if (k >= decode_parts()) { return; }
  let j0 = part_start(k);
  let j1 = select(part_start(k + 1u), L() + 1u, k + 1u == decode_parts());
  var acc: array<f32, 1>;
  for (var u = 0u; u < 1u; u++) { acc[u] = 0.0; }
  for (var r = lid; r < 2u; r += 64u) { mx[r] = -3.4028234663852886e38; sm[r] = 0.0; }
  for (var i = lid; i < 16u; i += 64u) { qs[i] = query_feat(t, g, i / 8u, i % 8u); }

  for (var jt = j0; jt < j1; jt += 128u) {
    let n = min(128u, j1 - jt);
    workgroupBarrier();
    for (var i = lid; i < n * 8u; i += 64u) { kt[i] = key_feat(jt + i / 8u, g, i % 8u); }
    for (var i = lid; i < n * 8u; i += 64u) { vt[i] = value_feat(jt + i / 8u, g, i % 8u); }
    workgroupBarrier();
    for (var i = lid; i < 2u * n; i += 64u) {
      let r = i / n;
      let j = i % n;
      var d = 0.0;
      for (var e = 0u; e < 8u; e++) { d += qs[r * 8u + e] * kt[j * 8u + e]; }
      sc[r * 128u + j] = d * 0.3499999940395355;
    }
    workgroupBarrier();
    for (var r = lid; r < 2u; r += 64u) {
      var m = mx[r];
      for (var i = 0u; i < n; i++) { m = max(m, sc[r * 128u + i]); }
      cr[r] = exp(mx[r] - m);
      mx[r] = m;
    }
    workgroupBarrier();
    for (var i = lid; i < 2u * n; i += 64u) {
      let at = (i / n) * 128u + i % n;
      sc[at] = exp(sc[at] - mx[i / n]);
    }
    workgroupBarrier();
    for (var r = lid; r < 2u; r += 64u) {
      var l = sm[r] * cr[r];
      for (var i = 0u; i < n; i++) { l += sc[r * 128u + i]; }
      sm[r] = l;
    }
    for (var u = 0u; u < 1u; u++) {
      let o = lid + u * 64u;
      if (o < 16u) {
        let r = o / 8u;
        let e = o % 8u;
        var a = acc[u] * cr[r];
        for (var i = 0u; i < n; i++) { a += sc[r * 128u + i] * vt[i * 8u + e]; }
        acc[u] = a;
      }
    }
  }
  workgroupBarrier();
  for (var r = lid; r < 2u; r += 64u) {
    let at = (k * 4u + g * 2u + r) * 10u;
    st_part(at, mx[r]);
    st_part(at + 1u, sm[r]);
  }
  for (var u = 0u; u < 1u; u++) {
    let o = lid + u * 64u;
    if (o < 16u) {
      let r = o / 8u;
      st_part((k * 4u + g * 2u + r) * 10u + 2u + o % 8u, acc[u]);
    }
  }
}

// ---- 03-layers.0.merge.wgsl
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_part(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn st_part(i: u32, v: f32) { arena[P(1u) + i] = bitcast<u32>(v); }
@group(0) @binding(2) var<storage, read> w_sinks: array<f32>;
fn ld_sinks(i: u32) -> f32 { return w_sinks[P(2u) + i]; }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(3u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(3u) + i] = bitcast<u32>(v); }
fn L() -> u32 { return P(4u); }
fn first_key(t: u32) -> u32 {
  let end = L() + t + 1u;
  return select(0u, end - 20u, end > 20u);
}
fn decode_parts() -> u32 {
  let keys = L() + 1u - first_key(0u);
  return min(8u, (keys + 127u) / 128u);
}
fn part_start(k: u32) -> u32 {
  let keys = L() + 1u - first_key(0u);
  return first_key(0u) + keys * k / decode_parts();
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= 32u) { return; }
  let h = i / 8u;
  let e = i % 8u;
  let parts = decode_parts();
  var top = ld_sinks(h);
  for (var p = 0u; p < parts; p++) { top = max(top, ld_part((p * 4u + h) * 10u)); }
  var l = exp(ld_sinks(h) - top);
  var a = 0.0;
  for (var p = 0u; p < parts; p++) {
    let at = (p * 4u + h) * 10u;
    let c = exp(ld_part(at) - top);
    l += ld_part(at + 1u) * c;
    a += ld_part(at + 2u + e) * c;
  }
  st_out(i, a / l);
}

// ---- 04-layers.layers.a.r0.add.wgsl
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_a(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn ld_b(i: u32) -> f32 { return bitcast<f32>(arena[P(2u) + i]); }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(3u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(3u) + i] = bitcast<u32>(v); }
fn count() -> u32 { return P(4u); }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= count()) { return; }
  st_out(i, ld_a(i) + ld_b(i % 512u));
}

// ---- 05-layers.1.append.wgsl
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
@group(0) @binding(17) var<storage, read_write> arena1: array<u32>;
@group(0) @binding(18) var<storage, read_write> arena2: array<u32>;
fn ld_a(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn ld_b(i: u32) -> f32 { return bitcast<f32>(arena[P(2u) + i]); }
fn ld_ac(i: u32) -> f32 { return bitcast<f32>(arena1[P(3u) + i]); }
fn st_ac(i: u32, v: f32) { arena1[P(3u) + i] = bitcast<u32>(v); }
fn ld_bc(i: u32) -> f32 { return bitcast<f32>(arena2[P(4u) + i]); }
fn st_bc(i: u32, v: f32) { arena2[P(4u) + i] = bitcast<u32>(v); }
fn count() -> u32 { return P(5u); }
fn L() -> u32 { return P(6u); }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= count()) { return; }
  if (i < tokens() * 16u) { st_ac(L() * 16u + i, ld_a(i)); }
  if (i < tokens() * 16u) { st_bc(L() * 16u + i, ld_b(i)); }
}

// ---- 06-layers.1.attend.wgsl
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
@group(0) @binding(17) var<storage, read_write> arena1: array<u32>;
@group(0) @binding(18) var<storage, read_write> arena2: array<u32>;
fn ld_q(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn ld_kc(i: u32) -> f32 { return bitcast<f32>(arena1[P(2u) + i]); }
fn ld_vc(i: u32) -> f32 { return bitcast<f32>(arena2[P(3u) + i]); }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(4u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(4u) + i] = bitcast<u32>(v); }
fn L() -> u32 { return P(5u); }
fn query_feat(t: u32, g: u32, r: u32, e: u32) -> f32 { return ld_q((t * 4u + g * 2u + r) * 8u + e); }
fn key_feat(j: u32, g: u32, e: u32) -> f32 { return ld_kc((j * 2u + g) * 8u + e); }
fn value_feat(j: u32, g: u32, e: u32) -> f32 { return ld_vc((j * 2u + g) * 8u + e); }
fn first_key(t: u32) -> u32 {
  return 0u;
}
fn decode_parts() -> u32 {
  let keys = L() + 1u - first_key(0u);
  return min(8u, (keys + 127u) / 128u);
}
fn part_start(k: u32) -> u32 {
  let keys = L() + 1u - first_key(0u);
  return first_key(0u) + keys * k / decode_parts();
}
var<workgroup> qs: array<f32, 16>;
var<workgroup> kt: array<f32, 1024>;
var<workgroup> vt: array<f32, 1024>;
var<workgroup> sc: array<f32, 256>;
var<workgroup> mx: array<f32, 2>;
var<workgroup> cr: array<f32, 2>;
var<workgroup> sm: array<f32, 2>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let t = wid.y;
  let j0 = first_key(t);
  let j1 = L() + t + 1u;
  var acc: array<f32, 1>;
  for (var u = 0u; u < 1u; u++) { acc[u] = 0.0; }
  for (var r = lid; r < 2u; r += 64u) { mx[r] = -3.4028234663852886e38; sm[r] = 0.0; }
  for (var i = lid; i < 16u; i += 64u) { qs[i] = query_feat(t, g, i / 8u, i % 8u); }

  for (var jt = j0; jt < j1; jt += 128u) {
    let n = min(128u, j1 - jt);
    workgroupBarrier();
    for (var i = lid; i < n * 8u; i += 64u) { kt[i] = key_feat(jt + i / 8u, g, i % 8u); }
    for (var i = lid; i < n * 8u; i += 64u) { vt[i] = value_feat(jt + i / 8u, g, i % 8u); }
    workgroupBarrier();
    for (var i = lid; i < 2u * n; i += 64u) {
      let r = i / n;
      let j = i % n;
      var d = 0.0;
      for (var e = 0u; e < 8u; e++) { d += qs[r * 8u + e] * kt[j * 8u + e]; }
      sc[r * 128u + j] = d * 0.3499999940395355;
    }
    workgroupBarrier();
    for (var r = lid; r < 2u; r += 64u) {
      var m = mx[r];
      for (var i = 0u; i < n; i++) { m = max(m, sc[r * 128u + i]); }
      cr[r] = exp(mx[r] - m);
      mx[r] = m;
    }
    workgroupBarrier();
    for (var i = lid; i < 2u * n; i += 64u) {
      let at = (i / n) * 128u + i % n;
      sc[at] = exp(sc[at] - mx[i / n]);
    }
    workgroupBarrier();
    for (var r = lid; r < 2u; r += 64u) {
      var l = sm[r] * cr[r];
      for (var i = 0u; i < n; i++) { l += sc[r * 128u + i]; }
      sm[r] = l;
    }
    for (var u = 0u; u < 1u; u++) {
      let o = lid + u * 64u;
      if (o < 16u) {
        let r = o / 8u;
        let e = o % 8u;
        var a = acc[u] * cr[r];
        for (var i = 0u; i < n; i++) { a += sc[r * 128u + i] * vt[i * 8u + e]; }
        acc[u] = a;
      }
    }
  }
  workgroupBarrier();
  for (var u = 0u; u < 1u; u++) {
    let o = lid + u * 64u;
    if (o < 16u) {
      let r = o / 8u;
      let e = o % 8u;
      let h = g * 2u + r;
      st_out((t * 4u + h) * 8u + e, acc[u] / sm[r]);
    }
  }
}

// ---- 07-layers.1.split.wgsl
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
@group(0) @binding(17) var<storage, read_write> arena1: array<u32>;
@group(0) @binding(18) var<storage, read_write> arena2: array<u32>;
fn ld_q(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn ld_kc(i: u32) -> f32 { return bitcast<f32>(arena1[P(2u) + i]); }
fn ld_vc(i: u32) -> f32 { return bitcast<f32>(arena2[P(3u) + i]); }
fn ld_part(i: u32) -> f32 { return bitcast<f32>(arena[P(4u) + i]); }
fn st_part(i: u32, v: f32) { arena[P(4u) + i] = bitcast<u32>(v); }
fn L() -> u32 { return P(5u); }
fn query_feat(t: u32, g: u32, r: u32, e: u32) -> f32 { return ld_q((t * 4u + g * 2u + r) * 8u + e); }
fn key_feat(j: u32, g: u32, e: u32) -> f32 { return ld_kc((j * 2u + g) * 8u + e); }
fn value_feat(j: u32, g: u32, e: u32) -> f32 { return ld_vc((j * 2u + g) * 8u + e); }
fn first_key(t: u32) -> u32 {
  return 0u;
}
fn decode_parts() -> u32 {
  let keys = L() + 1u - first_key(0u);
  return min(8u, (keys + 127u) / 128u);
}
fn part_start(k: u32) -> u32 {
  let keys = L() + 1u - first_key(0u);
  return first_key(0u) + keys * k / decode_parts();
}
var<workgroup> qs: array<f32, 16>;
var<workgroup> kt: array<f32, 1024>;
var<workgroup> vt: array<f32, 1024>;
var<workgroup> sc: array<f32, 256>;
var<workgroup> mx: array<f32, 2>;
var<workgroup> cr: array<f32, 2>;
var<workgroup> sm: array<f32, 2>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let k = wid.y;
  let t = 0u;
  if (k >= decode_parts()) { return; }
  let j0 = part_start(k);
  let j1 = select(part_start(k + 1u), L() + 1u, k + 1u == decode_parts());
  var acc: array<f32, 1>;
  for (var u = 0u; u < 1u; u++) { acc[u] = 0.0; }
  for (var r = lid; r < 2u; r += 64u) { mx[r] = -3.4028234663852886e38; sm[r] = 0.0; }
  for (var i = lid; i < 16u; i += 64u) { qs[i] = query_feat(t, g, i / 8u, i % 8u); }

  for (var jt = j0; jt < j1; jt += 128u) {
    let n = min(128u, j1 - jt);
    workgroupBarrier();
    for (var i = lid; i < n * 8u; i += 64u) { kt[i] = key_feat(jt + i / 8u, g, i % 8u); }
    for (var i = lid; i < n * 8u; i += 64u) { vt[i] = value_feat(jt + i / 8u, g, i % 8u); }
    workgroupBarrier();
    for (var i = lid; i < 2u * n; i += 64u) {
      let r = i / n;
      let j = i % n;
      var d = 0.0;
      for (var e = 0u; e < 8u; e++) { d += qs[r * 8u + e] * kt[j * 8u + e]; }
      sc[r * 128u + j] = d * 0.3499999940395355;
    }
    workgroupBarrier();
    for (var r = lid; r < 2u; r += 64u) {
      var m = mx[r];
      for (var i = 0u; i < n; i++) { m = max(m, sc[r * 128u + i]); }
      cr[r] = exp(mx[r] - m);
      mx[r] = m;
    }
    workgroupBarrier();
    for (var i = lid; i < 2u * n; i += 64u) {
      let at = (i / n) * 128u + i % n;
      sc[at] = exp(sc[at] - mx[i / n]);
    }
    workgroupBarrier();
    for (var r = lid; r < 2u; r += 64u) {
      var l = sm[r] * cr[r];
      for (var i = 0u; i < n; i++) { l += sc[r * 128u + i]; }
      sm[r] = l;
    }
    for (var u = 0u; u < 1u; u++) {
      let o = lid + u * 64u;
      if (o < 16u) {
        let r = o / 8u;
        let e = o % 8u;
        var a = acc[u] * cr[r];
        for (var i = 0u; i < n; i++) { a += sc[r * 128u + i] * vt[i * 8u + e]; }
        acc[u] = a;
      }
    }
  }
  workgroupBarrier();
  for (var r = lid; r < 2u; r += 64u) {
    let at = (k * 4u + g * 2u + r) * 10u;
    st_part(at, mx[r]);
    st_part(at + 1u, sm[r]);
  }
  for (var u = 0u; u < 1u; u++) {
    let o = lid + u * 64u;
    if (o < 16u) {
      let r = o / 8u;
      st_part((k * 4u + g * 2u + r) * 10u + 2u + o % 8u, acc[u]);
    }
  }
}

// ---- 08-layers.1.merge.wgsl
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_part(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn st_part(i: u32, v: f32) { arena[P(1u) + i] = bitcast<u32>(v); }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(2u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(2u) + i] = bitcast<u32>(v); }
fn L() -> u32 { return P(3u); }
fn first_key(t: u32) -> u32 {
  return 0u;
}
fn decode_parts() -> u32 {
  let keys = L() + 1u - first_key(0u);
  return min(8u, (keys + 127u) / 128u);
}
fn part_start(k: u32) -> u32 {
  let keys = L() + 1u - first_key(0u);
  return first_key(0u) + keys * k / decode_parts();
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= 32u) { return; }
  let h = i / 8u;
  let e = i % 8u;
  let parts = decode_parts();
  var top = -3.4028234663852886e38;
  for (var p = 0u; p < parts; p++) { top = max(top, ld_part((p * 4u + h) * 10u)); }
  var l = 0.0;
  var a = 0.0;
  for (var p = 0u; p < parts; p++) {
    let at = (p * 4u + h) * 10u;
    let c = exp(ld_part(at) - top);
    l += ld_part(at + 1u) * c;
    a += ld_part(at + 2u + e) * c;
  }
  st_out(i, a / l);
}

// ---- 09-layers.layers.b.r0.add.wgsl
@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, 16>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
fn ld_a(i: u32) -> f32 { return bitcast<f32>(arena[P(1u) + i]); }
fn ld_b(i: u32) -> f32 { return bitcast<f32>(arena[P(2u) + i]); }
fn ld_out(i: u32) -> f32 { return bitcast<f32>(arena[P(3u) + i]); }
fn st_out(i: u32, v: f32) { arena[P(3u) + i] = bitcast<u32>(v); }
fn count() -> u32 { return P(4u); }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= count()) { return; }
  st_out(i, ld_a(i) + ld_b(i % 512u));
}
