/**
 * @fileoverview WGSL for the row-wise decoder ops: `embedding` (one invocation per output
 * element, its row picked by the token id; an id outside the table writes nothing, and the
 * host checks the ids before a forward) and `rope` (one invocation per token and head; the
 * frequencies computed once by the interpreter's `ropeFrequencies`, as constant arrays of
 * their turns per position, so the angle is reduced exactly with the position split in two:
 * see `ropeShader`).
 */
import type { RopeGeometry } from '../../../ir/graph/rope-geometry.ts';
import { type Operand, PRELUDE, type ShaderEntry, accessors, f32Lit } from './shader.ts';

/** Operands ids, table, out; extra `count` (elements of out). */
export function embeddingShader(vocab: number, d: number, ops: Operand[], W: number): ShaderEntry {
  const code = `${PRELUDE}${accessors(ops, ['count'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${W}u;
  if (i >= count()) { return; }
  let id = ld_ids(i / ${d}u);
  if (id < 0 || id >= ${vocab}) { return; }
  st_out(i, ld_table(u32(id) * ${d}u + i % ${d}u));
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/** Bits of a position's low part: both parts times a constant of as many fractional bits are exact in f32. */
const POS_BITS = 12;

/**
 * Per frequency f, the constants of the split-position angle (`ropeShader`), in turns
 * (f / 2π): A = frac(2^12 · f / 2π) and B = frac(f / 2π), each cut into a high part of 12
 * fractional bits and the f32 rest. Computed here in float64.
 */
export function ropeTurns(freq: Float64Array): { ah: number[]; al: number[]; bh: number[]; bl: number[] } {
  const out = { ah: [] as number[], al: [] as number[], bh: [] as number[], bl: [] as number[] };
  const scale = 2 ** POS_BITS;
  for (const f of freq) {
    const t = f / (2 * Math.PI);
    const a = (t * scale) % 1;
    const b = t % 1;
    const [ah, bh] = [Math.floor(a * scale) / scale, Math.floor(b * scale) / scale];
    out.ah.push(ah);
    out.al.push(a - ah);
    out.bh.push(bh);
    out.bl.push(b - bh);
  }
  return out;
}

/**
 * Operands x, out; extras `rows` (tokens × heads) and `pos0` (the position of token 0).
 * WGSL has no f64, and f32 p · f loses the angle's low digits at far positions (5e-4 rad at p
 * = 4096, f = 1), as do sin and cos of a large argument. So the angle is reduced exactly in
 * turns: p = a · 2^12 + b, and p · f / 2π mod 1 = frac(a · Ah) + frac(b · Bh) + a · Al + b · Bl
 * (`ropeTurns`), where a · Ah and b · Bh are exact (12-bit integers times 12-bit fractions)
 * and the small terms are off by about 2^-24; sin and cos then take an angle in [-π, π).
 * Exact reduction for positions below 2^24.
 */
export function ropeShader(g: RopeGeometry, freq: Float64Array, scale: number, ops: Operand[], W: number): ShaderEntry {
  const turns = ropeTurns(freq);
  const table = (name: string, xs: number[]): string => `const ${name} = array<f32, ${g.half}>(${xs.map((x) => f32Lit(x)).join(', ')});`;
  const code = `${PRELUDE}${accessors(ops, ['rows', 'pos0'])}
${table('AH', turns.ah)}
${table('AL', turns.al)}
${table('BH', turns.bh)}
${table('BL', turns.bl)}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = gid.x + gid.y * nwg.x * ${W}u;
  if (r >= rows()) { return; }
  let base = r * ${g.dh}u;
  let p = pos0() + r / ${g.heads}u;
  let pa = f32(p >> ${POS_BITS}u);
  let pb = f32(p & ${2 ** POS_BITS - 1}u);
  for (var j = ${g.rd}u; j < ${g.dh}u; j++) { st_out(base + j, ld_x(base + j)); }
  for (var i = 0u; i < ${g.half}u; i++) {
    let turns = fract(fract(pa * AH[i]) + fract(pb * BH[i]) + pa * AL[i] + pb * BL[i]);
    let angle = (turns - select(0.0, 1.0, turns >= 0.5)) * 6.283185307179586;
    let c = cos(angle) * ${f32Lit(scale)};
    let s = sin(angle) * ${f32Lit(scale)};
    let a = base + i * ${g.aStride}u;
    let b = a + ${g.bOffset}u;
    let x1 = ld_x(a);
    let x2 = ld_x(b);
    st_out(a, x1 * c - x2 * s);
    st_out(b, x2 * c + x1 * s);
  }
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/**
 * `gather` along an axis of nx (stride inner): operands x, indices, out; extra `count`, and
 * `ntok` for nx undefined: the leading axis, of a size that depends on the token count. An
 * index out of range writes nothing (a shader cannot stop the forward; the C and Wasm
 * backends report E505).
 */
export function gatherShader(nx: number | undefined, ni: number, inner: number, ops: Operand[], W: number): ShaderEntry {
  const bound = nx === undefined ? 'i32(ntok())' : `${nx}`;
  const slab = nx === undefined ? '' : `i / ${ni * inner}u * ${nx * inner}u + `;
  const code = `${PRELUDE}${accessors(ops, nx === undefined ? ['count', 'ntok'] : ['count'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${W}u;
  if (i >= count()) { return; }
  let v = ld_indices(i);
  if (v < 0 || v >= ${bound}) { return; }
  st_out(i, ld_x(${slab}u32(v) * ${inner}u + i % ${inner}u));
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/**
 * `moe_dispatch`: operands x, slots, offsets, out; extras `count` (elements of out) and `ntok` (rows of x). Row r
 * below offsets[E] is token row slots[r] / k, later rows zero; a bad slot or offset writes
 * nothing (a shader cannot stop a forward; C and Wasm report E505).
 */
export function dispatchShader(k: number, d: number, experts: number, ops: Operand[], W: number): ShaderEntry {
  const code = `${PRELUDE}${accessors(ops, ['count', 'ntok'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${W}u;
  if (i >= count()) { return; }
  let r = i / ${d}u;
  let routed = ld_offsets(${experts}u);
  if (routed < 0 || u32(routed) > count() / ${d}u) { return; }
  if (r >= u32(routed)) { st_out(i, 0.0); return; }
  let s = ld_slots(r);
  if (s < 0 || u32(s) >= ntok() * ${k}u) { return; }
  st_out(i, ld_x(u32(s) / ${k}u * ${d}u + i % ${d}u));
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/**
 * `route_capacity` (operands indices, out; extras `ntok` (rows of indices) and `capacity`,
 * worked out on the host in float64 as the interpreter does) and `moe_permute` (operands
 * indices, slots, offsets; extra `ntok`): one
 * invocation running the interpreter's serial loops (small: T·K slots, E counters). A bad
 * index leaves the rest unwritten (a shader cannot stop a forward; C and Wasm report E505).
 */
export function routingShader(op: 'route_capacity' | 'moe_permute', experts: number, k: number, ops: Operand[]): ShaderEntry {
  const body =
    op === 'route_capacity'
      ? `  var count: array<u32, ${experts}>;
  for (var c = 0u; c < ${k}u; c++) {
    for (var t = 0u; t < ntok(); t++) {
      let e = ld_indices(t * ${k}u + c);
      var r = -1;
      if (e != -1) {
        if (e < 0 || e >= ${experts}) { return; }
        if (count[e] < capacity()) { count[e]++; r = e; }
      }
      st_out(t * ${k}u + c, r);
    }
  }`
      : `  var next: array<i32, ${experts}>;
  let n = ntok() * ${k}u;
  for (var e = 0u; e <= ${experts}u; e++) { st_offsets(e, 0); }
  for (var s = 0u; s < n; s++) {
    let e = ld_indices(s);
    if (e == -1) { continue; }
    if (e < -1 || e >= ${experts}) { return; }
    st_offsets(u32(e) + 1u, ld_offsets(u32(e) + 1u) + 1);
  }
  for (var e = 0u; e < ${experts}u; e++) {
    st_offsets(e + 1u, ld_offsets(e + 1u) + ld_offsets(e));
    next[e] = ld_offsets(e);
  }
  var dropped = ld_offsets(${experts}u);
  for (var s = 0u; s < n; s++) {
    let e = ld_indices(s);
    if (e == -1) { st_slots(u32(dropped), i32(s)); dropped++; } else { st_slots(u32(next[e]), i32(s)); next[e]++; }
  }`;
  const code = `${PRELUDE}${accessors(ops, op === 'route_capacity' ? ['ntok', 'capacity'] : ['ntok'])}
@compute @workgroup_size(1)
fn main() {
${body}
}
`;
  return { entry: 'main', code, workgroup: [1, 1, 1], workgroupBytes: 0 };
}

/**
 * `grouped_matmul`: operands xs, w, offsets (, bias), out; extra `count` (elements of out).
 * One invocation per output element: its row's expert from the offsets, the dot product in
 * f32; rows outside offsets[0]..offsets[E] zero; bad offsets write nothing.
 */
export function groupedMatmulShader(g: { experts: number; n: number; kd: number; transB: boolean; bias: boolean }, ops: Operand[], W: number): ShaderEntry {
  const wAt = g.transB ? `j * ${g.kd}u + q` : `q * ${g.n}u + j`;
  const code = `${PRELUDE}${accessors(ops, ['count'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${W}u;
  if (i >= count()) { return; }
  let r = i32(i / ${g.n}u);
  let j = i % ${g.n}u;
  if (ld_offsets(0u) < 0 || u32(ld_offsets(${g.experts}u)) > count() / ${g.n}u) { return; }
  var ex = -1;
  for (var e = 0u; e < ${g.experts}u; e++) {
    if (ld_offsets(e + 1u) < ld_offsets(e)) { return; }
    if (r >= ld_offsets(e) && r < ld_offsets(e + 1u)) { ex = i32(e); }
  }
  var acc = 0.0;
  if (ex >= 0) {
    let w0 = u32(ex) * ${g.n * g.kd}u;
    for (var q = 0u; q < ${g.kd}u; q++) { acc += ld_xs(u32(r) * ${g.kd}u + q) * ld_w(w0 + ${wAt}); }${g.bias ? `\n    acc += ld_bias(u32(ex) * ${g.n}u + j);` : ''}
  }
  st_out(i, acc);
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/**
 * `moe_combine`: operands ys, slots, offsets, weights, out; extras `rows` (of ys) and `ntok` (tokens); one invocation per token: its K
 * rows found by a scan of the routed rows, then Σ_c weights[t, c] · row_c in choice order
 * (f32). Bad offsets, slots or a slot twice write nothing.
 */
export function combineShader(k: number, d: number, experts: number, ops: Operand[], W: number): ShaderEntry {
  const code = `${PRELUDE}${accessors(ops, ['rows', 'ntok'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * ${W}u;
  if (t >= ntok()) { return; }
  let routed = ld_offsets(${experts}u);
  if (routed < 0 || u32(routed) > rows()) { return; }
  var rows: array<i32, ${k}>;
  for (var c = 0u; c < ${k}u; c++) { rows[c] = -1; }
  for (var r = 0; r < routed; r++) {
    let s = ld_slots(u32(r));
    if (s < 0 || u32(s) >= ntok() * ${k}u) { return; }
    if (u32(s) / ${k}u == t) {
      if (rows[u32(s) % ${k}u] >= 0) { return; }
      rows[u32(s) % ${k}u] = r;
    }
  }
  for (var j = 0u; j < ${d}u; j++) {
    var acc = 0.0;
    for (var c = 0u; c < ${k}u; c++) {
      if (rows[c] >= 0) { acc += ld_weights(t * ${k}u + c) * ld_ys(u32(rows[c]) * ${d}u + j); }
    }
    st_out(t * ${d}u + j, acc);
  }
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}
