/**
 * @fileoverview WGSL for the `attention` and `mla_attention` kernels (ir/kernel/attention.ts,
 * ir/kernel/mla.ts) with the KV cache as state: GPU buffers the loaded model owns, written at
 * rows L..L+T-1 by each forward (L in the parameter record) and never read back.
 *
 * Both kernels are one online-softmax core over "groups" of query rows that read the same
 * keys: attention's heads of one kv head, MLA's block of heads (every head reads the one
 * latent cache). A workgroup folds the visible keys of its group a tile at a time: the tile's
 * keys (and values) are loaded once into workgroup memory, each row's scores for the tile go
 * to workgroup memory, and each row keeps a running max, sum and accumulator, rescaled when a
 * tile raises the max. Scratch is one tile (O(T x tile) over the grid), never O(L).
 *
 * Per forward, in order (each a dispatch; WebGPU orders a pass's dispatches' storage writes):
 * - `append`: the new keys and values (MLA: latents and rope keys) into the cache rows L..;
 * - MLA only, `absorb`: q_abs = q_nope W_UK per head (Dn -> C), into scratch;
 * - `rows` (T > 1, or no decode split): a workgroup per (token, group), the whole softmax;
 * - decode (T = 1 with a split): `split`, a workgroup per (group, part) over the schedule's
 *   ranges of the visible keys (at most `splits`, each at least `keyTile` keys: as the C
 *   kernel cuts them), each writing a partial (max, sum, accumulator) per row into scratch;
 *   then `merge`, one invocation per output value, which merges the partials by their maxima
 *   and sums (and the sink, which joins the denominator only);
 * - MLA only, `expand`: out = x W_UV^T per head (C -> Dv), x the normalised latent mix.
 *
 * WGSL may assume there are no infinities, so an empty max is the most negative finite f32.
 */
import { type Operand, PRELUDE, type ShaderEntry, accessors, f32Lit } from './shader.ts';

/** The most negative finite f32: an empty running max (exp of it less any score is 0). */
const NEG = '-3.4028234663852886e38';

/** What the core needs to know of one kernel (see the file header). */
export interface CoreSpec {
  /** Query rows a workgroup takes together (attention: heads per kv head; MLA: the head block). */
  rows: number;
  /** Groups: attention's kv heads, MLA's head blocks; all heads = groups x rows. */
  groups: number;
  /** Features a key has (attention: Dk; MLA: C latent + Dr rope). */
  dq: number;
  /** Features a value has (attention: Dv; MLA: C, the first C features of the key). */
  dv: number;
  /** MLA: the value is the key's latent, read from the key tile. */
  valueInKey: boolean;
  /** Keys in workgroup memory at once (`wgslKeyTile`). */
  tile: number;
  /** The group's query rows are copied into workgroup memory once (where they fit beside the tile), not read from the arena per score. */
  stageQuery: boolean;
  /** The schedule's key tile and split: the decode ranges (`decode_parts`, `part_start`). */
  keyTile: number;
  splits: number;
  scale: number;
  /** 0: none. */
  window: number;
  sinks: boolean;
  /** Invocations per workgroup. */
  W: number;
}

/** Bytes of workgroup memory the core takes with `tile` keys at once (and the staged query rows). */
function coreBytes(s: Omit<CoreSpec, 'tile' | 'stageQuery'>, tile: number, stageQuery: boolean): number {
  return 4 * (tile * s.dq + (s.valueInKey ? 0 : tile * s.dv) + s.rows * tile + 3 * s.rows + (stageQuery ? s.rows * s.dq : 0));
}

/**
 * The keys a workgroup holds at once: the schedule's key tile (sized by the tiler for a
 * cache), halved until the tile, its values and its scores fit the workgroup memory; the
 * query rows staged too when they fit beside that tile (the tile is never halved for them).
 * Null when not even one key fits.
 */
export function wgslKeyTile(s: Omit<CoreSpec, 'tile' | 'stageQuery'>, maxBytes: number): { tile: number; stageQuery: boolean } | null {
  let tile = s.keyTile;
  while (tile > 1 && coreBytes(s, tile, false) > maxBytes) tile = Math.ceil(tile / 2);
  if (coreBytes(s, tile, false) > maxBytes) return null;
  return { tile, stageQuery: coreBytes(s, tile, true) <= maxBytes };
}

/**
 * WGSL: the first visible key of token t (a window cuts it), and the decode's parts and the
 * range of part k of them (moec_split in the C runtime: the same cut, so the same sums).
 */
function rangeFns(s: CoreSpec): string {
  return `fn first_key(t: u32) -> u32 {
${s.window > 0 ? `  let end = L() + t + 1u;\n  return select(0u, end - ${s.window}u, end > ${s.window}u);` : '  return 0u;'}
}
fn decode_parts() -> u32 {
  let keys = L() + 1u - first_key(0u);
  return min(${s.splits}u, (keys + ${s.keyTile - 1}u) / ${s.keyTile}u);
}
fn part_start(k: u32) -> u32 {
  let keys = L() + 1u - first_key(0u);
  return first_key(0u) + keys * k / decode_parts();
}
`;
}

/** The accumulator registers an invocation holds: the group's rows x dv values over W invocations. */
const accRegs = (s: CoreSpec): number => Math.ceil((s.rows * s.dv) / s.W);

/**
 * The core's declarations and its fold of keys j0..j1-1 of group g into the rows of token t:
 * `feat.q(t, g, r, e)`, `feat.k(j, g, e)` and `feat.v(j, g, e)` are WGSL functions the
 * kernel defines. After it, `acc[u]` holds row (lid + u W) / dv's unnormalised values and
 * mx[r], sm[r] each row's max and sum.
 */
function coreFold(s: CoreSpec): { decls: string; body: string } {
  const { rows: G, dq, dv, tile: TL, W } = s;
  const decls = `${s.stageQuery ? `var<workgroup> qs: array<f32, ${G * dq}>;
` : ''}var<workgroup> kt: array<f32, ${TL * dq}>;
${s.valueInKey ? '' : `var<workgroup> vt: array<f32, ${TL * dv}>;\n`}var<workgroup> sc: array<f32, ${G * TL}>;
var<workgroup> mx: array<f32, ${G}>;
var<workgroup> cr: array<f32, ${G}>;
var<workgroup> sm: array<f32, ${G}>;
`;
  const value = s.valueInKey ? `kt[i * ${dq}u + e]` : `vt[i * ${dv}u + e]`;
  const body = `  var acc: array<f32, ${accRegs(s)}>;
  for (var u = 0u; u < ${accRegs(s)}u; u++) { acc[u] = 0.0; }
  for (var r = lid; r < ${G}u; r += ${W}u) { mx[r] = ${NEG}; sm[r] = 0.0; }
${s.stageQuery ? `  for (var i = lid; i < ${G * dq}u; i += ${W}u) { qs[i] = query_feat(t, g, i / ${dq}u, i % ${dq}u); }
` : ''}
  for (var jt = j0; jt < j1; jt += ${TL}u) {
    let n = min(${TL}u, j1 - jt);
    workgroupBarrier();
    for (var i = lid; i < n * ${dq}u; i += ${W}u) { kt[i] = key_feat(jt + i / ${dq}u, g, i % ${dq}u); }
${s.valueInKey ? '' : `    for (var i = lid; i < n * ${dv}u; i += ${W}u) { vt[i] = value_feat(jt + i / ${dv}u, g, i % ${dv}u); }\n`}    workgroupBarrier();
    for (var i = lid; i < ${G}u * n; i += ${W}u) {
      let r = i / n;
      let j = i % n;
      var d = 0.0;
      for (var e = 0u; e < ${dq}u; e++) { d += ${s.stageQuery ? `qs[r * ${dq}u + e]` : 'query_feat(t, g, r, e)'} * kt[j * ${dq}u + e]; }
      sc[r * ${TL}u + j] = d * ${f32Lit(s.scale)};
    }
    workgroupBarrier();
    for (var r = lid; r < ${G}u; r += ${W}u) {
      var m = mx[r];
      for (var i = 0u; i < n; i++) { m = max(m, sc[r * ${TL}u + i]); }
      cr[r] = exp(mx[r] - m);
      mx[r] = m;
    }
    workgroupBarrier();
    for (var i = lid; i < ${G}u * n; i += ${W}u) {
      let at = (i / n) * ${TL}u + i % n;
      sc[at] = exp(sc[at] - mx[i / n]);
    }
    workgroupBarrier();
    for (var r = lid; r < ${G}u; r += ${W}u) {
      var l = sm[r] * cr[r];
      for (var i = 0u; i < n; i++) { l += sc[r * ${TL}u + i]; }
      sm[r] = l;
    }
    for (var u = 0u; u < ${accRegs(s)}u; u++) {
      let o = lid + u * ${W}u;
      if (o < ${G * dv}u) {
        let r = o / ${dv}u;
        let e = o % ${dv}u;
        var a = acc[u] * cr[r];
        for (var i = 0u; i < n; i++) { a += sc[r * ${TL}u + i] * ${value}; }
        acc[u] = a;
      }
    }
  }
  workgroupBarrier();
`;
  return { decls, body };
}

/** The feature functions of a kernel (`coreFold`'s query_feat, key_feat, value_feat) and the head of row r of group g. */
export interface Features {
  code: string;
  /** WGSL expression: the global head of row `r` in group `g`. */
  head: string;
}

/** Attention's features: head g * rows + r reads kv head g; the caches are [CTX, groups, D]. */
export function attentionFeatures(s: CoreSpec, heads: number): Features {
  return {
    head: `g * ${s.rows}u + r`,
    code: `fn query_feat(t: u32, g: u32, r: u32, e: u32) -> f32 { return ld_q((t * ${heads}u + g * ${s.rows}u + r) * ${s.dq}u + e); }
fn key_feat(j: u32, g: u32, e: u32) -> f32 { return ld_kc((j * ${s.groups}u + g) * ${s.dq}u + e); }
fn value_feat(j: u32, g: u32, e: u32) -> f32 { return ld_vc((j * ${s.groups}u + g) * ${s.dv}u + e); }
`,
  };
}

/** MLA's features: the query is q_abs (scratch, [T, H, C]) then q_pe; the key the cached latent then rope key. */
export function mlaFeatures(s: CoreSpec, heads: number, c: number, dr: number): Features {
  return {
    head: `g * ${s.rows}u + r`,
    code: `fn query_feat(t: u32, g: u32, r: u32, e: u32) -> f32 {
  let h = t * ${heads}u + g * ${s.rows}u + r;
  if (e < ${c}u) { return ld_qabs(h * ${c}u + e); }
  return ld_q_pe(h * ${dr}u + e - ${c}u);
}
fn key_feat(j: u32, g: u32, e: u32) -> f32 {
  if (e < ${c}u) { return ld_kvc(j * ${c}u + e); }
  return ld_pec(j * ${dr}u + e - ${c}u);
}
`,
  };
}

/**
 * The whole softmax of rows (token wid.y, group wid.x) over its visible keys. Attention
 * writes `out` normalised (with the sink in the denominator); MLA writes the normalised
 * latent mix into `x` (scratch) for `expand`.
 */
export function rowsShader(s: CoreSpec, f: Features, ops: Operand[], heads: number): ShaderEntry {
  const { decls, body } = coreFold(s);
  const store = s.sinks
    ? `      let sink = ld_sinks(h);
      let top = max(sink, mx[r]);
      let sc1 = exp(mx[r] - top);
      st_out((t * ${heads}u + h) * ${s.dv}u + e, acc[u] * sc1 / (sm[r] * sc1 + exp(sink - top)));`
    : `      st_out((t * ${heads}u + h) * ${s.dv}u + e, acc[u] / sm[r]);`;
  const code = `${PRELUDE}${accessors(ops, ['L'])}${f.code}${rangeFns(s)}${decls}
@compute @workgroup_size(${s.W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let t = wid.y;
  let j0 = first_key(t);
  let j1 = L() + t + 1u;
${body}  for (var u = 0u; u < ${accRegs(s)}u; u++) {
    let o = lid + u * ${s.W}u;
    if (o < ${s.rows * s.dv}u) {
      let r = o / ${s.dv}u;
      let e = o % ${s.dv}u;
      let h = ${f.head};
${store}
    }
  }
}
`;
  return { entry: 'main', code, workgroup: [s.W, 1, 1], workgroupBytes: coreBytes(s, s.tile, s.stageQuery) };
}

/** Floats of one decode partial of a row: max, sum, then dv accumulated values. */
export const partialFloats = (s: CoreSpec): number => 2 + s.dv;

/** Decode (T = 1): part wid.y of the visible keys for group wid.x, each row's partial into `part` ([splits, heads, 2 + dv]). */
export function splitShader(s: CoreSpec, f: Features, ops: Operand[], heads: number): ShaderEntry {
  const { decls, body } = coreFold(s);
  const P = partialFloats(s);
  const code = `${PRELUDE}${accessors(ops, ['L'])}${f.code}${rangeFns(s)}${decls}
@compute @workgroup_size(${s.W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let k = wid.y;
  let t = 0u;
  if (k >= decode_parts()) { return; }
  let j0 = part_start(k);
  let j1 = select(part_start(k + 1u), L() + 1u, k + 1u == decode_parts());
${body}  for (var r = lid; r < ${s.rows}u; r += ${s.W}u) {
    let at = (k * ${heads}u + ${f.head}) * ${P}u;
    st_part(at, mx[r]);
    st_part(at + 1u, sm[r]);
  }
  for (var u = 0u; u < ${accRegs(s)}u; u++) {
    let o = lid + u * ${s.W}u;
    if (o < ${s.rows * s.dv}u) {
      let r = o / ${s.dv}u;
      st_part((k * ${heads}u + ${f.head}) * ${P}u + 2u + o % ${s.dv}u, acc[u]);
    }
  }
}
`;
  return { entry: 'main', code, workgroup: [s.W, 1, 1], workgroupBytes: coreBytes(s, s.tile, s.stageQuery) };
}

/** Decode: one invocation per output value (head, e): the partials merged by maxima and sums, the sink in the denominator. */
export function mergeShader(s: CoreSpec, ops: Operand[], heads: number): ShaderEntry {
  const P = partialFloats(s);
  const code = `${PRELUDE}${accessors(ops, ['L'])}${rangeFns(s)}
@compute @workgroup_size(${s.W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= ${heads * s.dv}u) { return; }
  let h = i / ${s.dv}u;
  let e = i % ${s.dv}u;
  let parts = decode_parts();
  var top = ${s.sinks ? 'ld_sinks(h)' : NEG};
  for (var p = 0u; p < parts; p++) { top = max(top, ld_part((p * ${heads}u + h) * ${P}u)); }
  var l = ${s.sinks ? 'exp(ld_sinks(h) - top)' : '0.0'};
  var a = 0.0;
  for (var p = 0u; p < parts; p++) {
    let at = (p * ${heads}u + h) * ${P}u;
    let c = exp(ld_part(at) - top);
    l += ld_part(at + 1u) * c;
    a += ld_part(at + 2u + e) * c;
  }
  st_out(i, a / l);
}
`;
  return { entry: 'main', code, workgroup: [s.W, 1, 1], workgroupBytes: 0 };
}

/**
 * `append`: the call's new rows into the caches at row L: operands a, b (the new rows,
 * widths wa and wb per token) and ac, bc (the caches); extra `count` (values of the larger).
 */
export function appendShader(wa: number, wb: number, ops: Operand[], W: number): ShaderEntry {
  const code = `${PRELUDE}${accessors(ops, ['count', 'L'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${W}u;
  if (i >= count()) { return; }
  if (i < tokens() * ${wa}u) { st_ac(L() * ${wa}u + i, ld_a(i)); }
  if (i < tokens() * ${wb}u) { st_bc(L() * ${wb}u + i, ld_b(i)); }
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/**
 * MLA's two projections through wkv_b ([H, Dn + Dv, C]), one invocation per value:
 * `absorb` q_abs[t, h, i] = Σ_d q_nope[t, h, d] W_UK[h, d, i] (operands x = q_nope, w, y =
 * q_abs), `expand` out[t, h, d] = Σ_i x[t, h, i] W_UV[h, d, i] (x the latent mix, y = out).
 * Extra `count` (values of y).
 */
export function mlaProjectShader(which: 'absorb' | 'expand', g: { heads: number; dn: number; dv: number; c: number }, ops: Operand[], W: number): ShaderEntry {
  const rph = g.dn + g.dv;
  const sum =
    which === 'absorb'
      ? `  let row = i / ${g.c}u;
  let col = i % ${g.c}u;
  let h = row % ${g.heads}u;
  var a = 0.0;
  for (var d = 0u; d < ${g.dn}u; d++) { a += ld_x(row * ${g.dn}u + d) * ld_w((h * ${rph}u + d) * ${g.c}u + col); }`
      : `  let row = i / ${g.dv}u;
  let d = i % ${g.dv}u;
  let h = row % ${g.heads}u;
  var a = 0.0;
  for (var c = 0u; c < ${g.c}u; c++) { a += ld_x(row * ${g.c}u + c) * ld_w((h * ${rph}u + ${g.dn}u + d) * ${g.c}u + c); }`;
  const code = `${PRELUDE}${accessors(ops, ['count'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${W}u;
  if (i >= count()) { return; }
${sum}
  st_y(i, a);
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}
