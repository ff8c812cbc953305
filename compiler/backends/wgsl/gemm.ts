/**
 * @fileoverview WGSL for the GEMM kernels: the dense GEMM, the grouped GEMM's sorted path
 * (one workgroup per aligned block and column tile, exiting early past the used rows, which
 * the GPU-side count says) and decode path (one workgroup per (token, choice) slot), and the
 * combine pass.
 *
 * The tiled kernels stage an A tile (tile.m rows × tile.k) and a W tile (tile.k × tile.n
 * W columns) in workgroup memory, each thread accumulating a register micro-tile of
 * tile.mr rows × tile.nr columns (strided, so any tile shape is covered); the tile comes
 * from the tiler (sized for the target's workgroup memory), never from here. With a glu
 * epilogue a tile's W columns are the gate and up columns of tile.n/2 output columns, so
 * each thread holds both halves of its outputs.
 *
 * Combine: WGSL has no float atomics and the combine sum runs in choice order, so the
 * combining GEMM stores each slot's row into scratch (row = slot) and a combine pass sums
 * per token: out[t] = init[t] + Σ_k weights[t, k] * row(t*K + k) over slots routed (≠ -1).
 */
import type { Epilogue, Tiling } from '../../../ir/kernel/kernel.ts';
import type { QuantDType } from '../../../ir/quant.ts';
import { codesPerWord } from './quant.ts';
import { ACTIVATIONS, type Operand, PRELUDE, type ShaderEntry, accessors, f32Lit } from './shader.ts';

/** The static description of a (grouped) GEMM that the shaders are rendered from. */
export interface GemmSpec {
  /** Reduction depth (A's columns). */
  kd: number;
  /** W columns (before a glu halves them). */
  n: number;
  /** Output columns (n, or n/2 after a glu). */
  outN: number;
  transB: boolean;
  gather: boolean;
  /** Columns of `indices` (routed + shared); 1 for a dense GEMM. */
  k: number;
  /** Per-expert bias (grouped) or one bias (dense). */
  grouped: boolean;
  /** Epilogue chain without the combine. */
  chain: Epilogue[];
  /** Rows go to combine scratch (by slot) instead of `out`. */
  combine: boolean;
  tile: Tiling;
  /** W is quantized: codes with one scale per `group` along Kd (`quant.ts`). */
  quant?: { dtype: QuantDType; group: number };
}

/**
 * Extra parameters of the grouped GEMMs: the experts this dispatch binds. Stacked expert
 * weights over the storage binding size run as one dispatch per group of experts that fits,
 * each skipping the blocks (or slots) of other experts.
 */
export const EXPERT_RANGE = ['e_lo', 'e_hi'];

/** The operand list of a GEMM variant: a, w, then the index buffers, biases, the destination. */
export function gemmOperands(
  mode: 'dense' | 'sorted' | 'decode',
  bufs: { a: Operand; w: Operand; dest: Operand; idx?: Operand; sorted?: Operand; bexp?: Operand; cnt?: Operand; biases: Operand[] },
): Operand[] {
  const ops = [bufs.a, bufs.w];
  if (mode === 'sorted') ops.push(bufs.sorted!, bufs.bexp!, bufs.cnt!);
  if (mode === 'decode') ops.push(bufs.idx!);
  return [...ops, ...bufs.biases, bufs.dest];
}

function glu(spec: GemmSpec): Extract<Epilogue, { kind: 'glu' }> | undefined {
  return spec.chain.find((e): e is Extract<Epilogue, { kind: 'glu' }> => e.kind === 'glu');
}

/** W column of output column `o` (WGSL expression), half 0 = gate, 1 = up. */
function wcol(spec: GemmSpec, o: string, half: 0 | 1): string {
  const g = glu(spec);
  if (!g) return o;
  if (g.layout === 'concat') return half === 0 ? o : `(${spec.outN}u + ${o})`;
  return `(2u * ${o} + ${half}u)`;
}

/** `fn epi(e, o, g, u) -> f32`: the epilogue chain on output column o's accumulator(s). */
function epilogueFn(spec: GemmSpec): string {
  const g = glu(spec);
  const lines = ['fn epi(e: u32, o: u32, g0: f32, u0: f32) -> f32 {', '  var g = g0;', '  var u = u0;', '  var v = g0;'];
  let afterGlu = false;
  let bias = 0;
  for (const ep of spec.chain) {
    if (ep.kind === 'bias') {
      const b = `bias${bias++}`;
      if (afterGlu) lines.push(`  v = v + ld_${b}(${spec.grouped ? `e * ${spec.outN}u + ` : ''}o);`);
      else {
        const base = spec.grouped ? `e * ${spec.n}u + ` : '';
        lines.push(`  g = g + ld_${b}(${base}${wcol(spec, 'o', 0)});`);
        if (g) lines.push(`  u = u + ld_${b}(${base}${wcol(spec, 'o', 1)});`);
      }
    } else if (ep.kind === 'act') {
      if (afterGlu) lines.push(`  v = act_${ep.fn}(v);`);
      else lines.push(`  g = act_${ep.fn}(g);`, `  u = act_${ep.fn}(u);`);
    } else if (ep.kind === 'glu') {
      if (ep.fn === 'swiglu') lines.push('  v = act_silu(g) * u;');
      else {
        const lim = f32Lit(ep.limit!);
        lines.push(`  let gc = min(g, ${lim});`, `  let uc = clamp(u, -${lim}, ${lim});`, `  v = (uc + 1.0) * gc * act_sigmoid(gc * ${f32Lit(ep.alpha!)});`);
      }
      afterGlu = true;
    } else throw new Error('wgsl: a combine epilogue is rendered as its own pass');
  }
  if (!afterGlu) lines.push('  v = g;');
  lines.push('  return v;', '}');
  return lines.join('\n') + '\n';
}

/**
 * W element (expert e, depth kk, W column col) as a WGSL expression. A quantized W is
 * dequantized here, in registers: its scale index follows from the same indices (scales
 * [E, n, groups] along Kd for a [E, n, Kd] W, [E, groups, n] for a [E, Kd, n] one).
 */
function wElem(spec: GemmSpec, e: string, kk: string, col: string): string {
  return spec.quant ? `dq_w(${wIndex(spec, e, kk, col)}, ${wScaleIndex(spec, e, kk, col)})` : `ld_w(${wIndex(spec, e, kk, col)})`;
}

/** Index of W element (e, kk, col) from the binding's start (expert e_lo for a grouped GEMM). */
function wIndex(spec: GemmSpec, e: string, kk: string, col: string): string {
  const base = spec.grouped ? `(${e} - e_lo()) * ${spec.n * spec.kd}u + ` : '';
  return spec.transB ? `${base}${col} * ${spec.kd}u + ${kk}` : `${base}${kk} * ${spec.n}u + ${col}`;
}

/** Index of the scale of quantized W element (e, kk, col). */
function wScaleIndex(spec: GemmSpec, e: string, kk: string, col: string): string {
  const q = spec.quant!;
  const groups = Math.ceil(spec.kd / q.group);
  const g = `${kk} / ${q.group}u`;
  const base = spec.grouped ? `(${e} - e_lo()) * ${spec.n * groups}u + ` : '';
  return spec.transB ? `${base}${col} * ${groups}u + ${g}` : `${base}${g} * ${spec.n}u + ${col}`;
}

/**
 * WGSL lines that set `o` (output column) and `col` (W column) of tile column `c`, joined
 * with `indent`; clamped: both in range.
 */
function tileColumn(spec: GemmSpec, TN: number, clamped: boolean, indent: string): string {
  const o = clamped ? (x: string): string => `min(${x}, ${spec.outN - 1}u)` : (x: string): string => x;
  const lines = glu(spec)
    ? [`let half = c / ${TN}u;`, `let o = ${o(`col0 + c % ${TN}u`)};`, `let col = select(${wcol(spec, 'o', 0)}, ${wcol(spec, 'o', 1)}, half == 1u);`]
    : [`let o = ${o('col0 + c')};`, 'let col = o;'];
  return lines.join(`\n${indent}`);
}

/**
 * A quantized W tile stays quantized in workgroup memory, as the tiler counts it: codes
 * packed in words in tile order (Kd fastest for a [n, Kd] W, so a word's codes are
 * neighbours in memory too), codes past W's edges 0. `wq` decodes the code the micro-tile
 * reads and scales it (from the scales binding), in registers.
 */
function quantTile(spec: GemmSpec, d: { TK: number; TN: number; TNW: number; WG: number }): { decl: string; load: string; helper: string; words: number } {
  const q = spec.quant!;
  const per = codesPerWord(q.dtype);
  const width = 32 / per;
  const words = Math.ceil((d.TK * d.TNW) / per);
  const te = spec.transB ? `c * ${d.TK}u + kr` : `kr * ${d.TNW}u + c`;
  const fromTe = spec.transB ? `let c = te / ${d.TK}u;\n        let kr = te % ${d.TK}u;` : `let kr = te / ${d.TNW}u;\n        let c = te % ${d.TNW}u;`;
  const load = `    for (var i = lid; i < ${words}u; i += ${d.WG}u) {
      var word = 0u;
      for (var j = 0u; j < ${per}u; j++) {
        let te = i * ${per}u + j;
        ${fromTe}
        let kk = k0 + kr;
        ${tileColumn(spec, d.TN, false, '        ')}
        if (te < ${d.TK * d.TNW}u && o < ${spec.outN}u && kk < ${spec.kd}u) { word |= rc_w(${wIndex(spec, 'e', 'kk', 'col')}) << (j * ${width}u); }
      }
      Wq[i] = word;
    }`;
  // The code from the tile and, apart, the scale of tile column c at depth kk (clamped: a
  // code past W's edges is 0, so any scale gives 0), which the micro-tile loads once per
  // scale group into a register rather than once per element.
  const helper = `fn wq(kr: u32, c: u32) -> f32 {
  let te = ${te};
  return code_${q.dtype}(Wq[te / ${per}u], te % ${per}u);
}
fn wsc(e: u32, col0: u32, kk0: u32, c: u32) -> f32 {
  ${tileColumn(spec, d.TN, true, '  ')}
  let kk = min(kk0, ${spec.kd - 1}u);
  return ld_w_scale(${wScaleIndex(spec, 'e', 'kk', 'col')});
}
`;
  return { decl: `var<workgroup> Wq: array<u32, ${words}>;`, load, helper, words };
}

/** The tiled kernel: `dense` (rows 0..rows()) or `sorted` (aligned blocks of tile.m rows). */
export function tiledGemm(spec: GemmSpec, mode: 'dense' | 'sorted', ops: Operand[]): ShaderEntry {
  const t = spec.tile;
  const hasGlu = glu(spec) !== undefined;
  const TM = t.m;
  const TN = hasGlu ? Math.max(1, Math.floor(t.n / 2)) : t.n;
  const TK = t.k;
  const MR = Math.min(t.mr, TM);
  const NR = Math.min(hasGlu ? Math.max(1, Math.floor(t.nr / 2)) : t.nr, TN);
  const TX = Math.ceil(TN / NR);
  const TY = Math.ceil(TM / MR);
  const WG = TX * TY;
  const TNW = hasGlu ? 2 * TN : TN;
  const dest = spec.combine ? 'scr' : 'out';
  // Row i of the tile: the A row it reads and the destination row, -1 for none. Computed
  // where used (not staged): the tiler sizes the A and W tiles to fill workgroup memory.
  const rows =
    mode === 'sorted'
      ? `fn tileRows(tile: u32, i: u32) -> vec2<i32> {
  let r = tile * ${TM}u + i;
  let s = ld_sorted(r);
  if (s < 0) { return vec2<i32>(-1, -1); }
  return vec2<i32>(${spec.gather ? `s / ${spec.k}` : 'i32(r)'}, ${spec.combine ? 's' : 'i32(r)'});
}
`
      : `fn tileRows(tile: u32, i: u32) -> vec2<i32> {
  let r = tile * ${TM}u + i;
  if (r >= rows()) { return vec2<i32>(-1, -1); }
  return vec2<i32>(i32(r), i32(r));
}
`;
  // The sorted path's early exit: invocation 0 reads the GPU-side count and the block's
  // expert and passes them through As[0] (as expert + 1, 0 for an unused block; exact in
  // f32) so the exit is uniform; no extra workgroup variable beyond the tiles.
  const head =
    mode === 'sorted'
      ? `  if (lid == 0u) {
    let be = ld_bexp(tile);
    As[0] = select(0.0, f32(be + 1), i32(tile * ${TM}u) < ld_cnt(0u) && be >= i32(e_lo()) && be < i32(e_hi()));
  }
  let code = u32(workgroupUniformLoad(&As[0]));
  if (code == 0u) { return; }
  let e = code - 1u;`
      : `  let e = 0u;`;
  const wload = tileColumn(spec, TN, false, '      ');
  // Consecutive invocations load consecutive W elements: along Kd when W is [N, Kd] (transB).
  const wAt = spec.transB
    ? `let kk = k0 + i % ${TK}u;
      let c = i / ${TK}u;`
    : `let kk = k0 + i / ${TNW}u;
      let c = i % ${TNW}u;`;
  const qt = spec.quant ? quantTile(spec, { TK, TN, TNW, WG }) : undefined;
  const wRead = qt ? (kk: string, c: string, sc: string): string => `wq(${kk}, ${c}) * ${sc}` : (kk: string, c: string): string => `Ws[${kk} * ${TNW}u + ${c}]`;
  const scales = spec.quant ? { group: spec.quant.group, load: (kk: string, c: string): string => `wsc(e, col0, ${kk}, ${c})` } : undefined;
  const micro = microTile({ MR, NR, TX, TY, TM, TN, TK, TNW, glu: hasGlu, outN: spec.outN, dest, wRead, scales });
  const wLoad = qt
    ? qt.load
    : `    for (var i = lid; i < ${TK * TNW}u; i += ${WG}u) {
      ${wAt}
      ${wload}
      var v = 0.0;
      if (o < ${spec.outN}u && kk < ${spec.kd}u) { v = ${wElem(spec, 'e', 'kk', 'col')}; }
      Ws[(kk - k0) * ${TNW}u + c] = v;
    }`;
  const code = `${PRELUDE}${accessors(ops, mode === 'dense' ? ['rows'] : EXPERT_RANGE)}${ACTIVATIONS}${epilogueFn(spec)}
var<workgroup> As: array<f32, ${TM * TK}>;
${qt ? qt.decl : `var<workgroup> Ws: array<f32, ${TK * TNW}>;`}
${rows}${qt ? qt.helper : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x;
  let col0 = wid.y * ${TN}u;
${head}
  workgroupBarrier();
  let tr = lid / ${TX}u;
  let tc = lid % ${TX}u;
${micro.decl}
  for (var k0 = 0u; k0 < ${spec.kd}u; k0 += ${TK}u) {
    for (var i = lid; i < ${TM * TK}u; i += ${WG}u) {
      let ar = tileRows(tile, i / ${TK}u).x;
      let kk = k0 + i % ${TK}u;
      var v = 0.0;
      if (ar >= 0 && kk < ${spec.kd}u) { v = ld_a(u32(ar) * ${spec.kd}u + kk); }
      As[i] = v;
    }
${wLoad}
    workgroupBarrier();
${micro.inner}
    workgroupBarrier();
  }
${micro.store}
}
`;
  return { entry: 'main', code, workgroup: [WG, 1, 1], workgroupBytes: 4 * (TM * TK + (qt ? qt.words : TK * TNW)) };
}

/** Output columns per workgroup of the tiled kernel (grid y = ceil(outN / this)). */
export function tileCols(spec: GemmSpec): number {
  return glu(spec) ? Math.max(1, Math.floor(spec.tile.n / 2)) : spec.tile.n;
}

/**
 * The decode path: one workgroup per slot s = t*K + k and W output columns. A W stored
 * [N, Kd] (transB, as `linear` weights are) is read along Kd by `lanes` neighbouring
 * invocations per column (`decodeByLanes`), so they read neighbouring addresses; a [Kd, N]
 * W by one invocation per column, whose neighbours read the neighbouring columns.
 */
export function decodeGemm(spec: GemmSpec, ops: Operand[], W: number): ShaderEntry {
  if (spec.transB) return decodeByLanes(spec, ops, W);
  const hasGlu = glu(spec) !== undefined;
  const dest = spec.combine ? 'scr' : 'out';
  const code = `${PRELUDE}${accessors(ops, EXPERT_RANGE)}${ACTIVATIONS}${epilogueFn(spec)}
@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = wid.x;
  let o = wid.y * ${W}u + lid;
  let ei = ld_idx(s);
  if (ei < i32(e_lo()) || ei >= i32(e_hi()) || o >= ${spec.outN}u) { return; }
  let e = u32(ei);
  let ar = ${spec.gather ? `s / ${spec.k}u` : 's'};
  var g = 0.0;
  var u = 0.0;
${spec.quant ? quantDecodeLoop(spec, 'o', '0u', '1u') : `  for (var kk = 0u; kk < ${spec.kd}u; kk++) {
    let a = ld_a(ar * ${spec.kd}u + kk);
    g += a * ${wElem(spec, 'e', 'kk', wcol(spec, 'o', 0))};${hasGlu ? `\n    u += a * ${wElem(spec, 'e', 'kk', wcol(spec, 'o', 1))};` : ''}
  }`}
  st_${dest}(s * ${spec.outN}u + o, epi(e, o, g, u));
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/** Invocations that read one column of a [N, Kd] W together on the decode path: a power of two dividing W, at most 32. */
export function decodeLanes(W: number): number {
  let lanes = 1;
  while (lanes < 32 && W % (lanes * 2) === 0) lanes *= 2;
  return lanes;
}

/**
 * The decode path for a W stored [N, Kd]: the workgroup's W columns in `lanes` passes of
 * W / lanes columns, each column's dot product split over `lanes` neighbouring invocations
 * (lane l takes kk = l, l + lanes, ...: together they read a contiguous run of the column),
 * then summed in workgroup memory. The slot's expert is read once and shared through
 * workgroup memory, so every invocation reaches the barriers (uniform control flow).
 */
function decodeByLanes(spec: GemmSpec, ops: Operand[], W: number): ShaderEntry {
  const hasGlu = glu(spec) !== undefined;
  const dest = spec.combine ? 'scr' : 'out';
  const lanes = decodeLanes(W);
  const cols = W / lanes;
  const acc = hasGlu ? ['g', 'u'] : ['g'];
  const f32Loop = `  for (var kk = lane; kk < ${spec.kd}u; kk += ${lanes}u) {
    let a = ld_a(ar * ${spec.kd}u + kk);
    g += a * ${wElem(spec, 'e', 'kk', wcol(spec, 'oc', 0))};${hasGlu ? `\n    u += a * ${wElem(spec, 'e', 'kk', wcol(spec, 'oc', 1))};` : ''}
  }`;
  const indent = (text: string): string => text.split('\n').map((l) => `  ${l}`).join('\n');
  const code = `${PRELUDE}${accessors(ops, EXPERT_RANGE)}${ACTIVATIONS}${epilogueFn(spec)}
var<workgroup> slotExpert: i32;
${acc.map((v) => `var<workgroup> red_${v}: array<f32, ${W}>;`).join('\n')}
@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = wid.x;
  if (lid == 0u) {
    let ei = ld_idx(s);
    slotExpert = select(-1, ei, ei >= i32(e_lo()) && ei < i32(e_hi()));
  }
  let ei = workgroupUniformLoad(&slotExpert);
  if (ei < 0) { return; }
  let e = u32(ei);
  let ar = ${spec.gather ? `s / ${spec.k}u` : 's'};
  let lane = lid % ${lanes}u;
  for (var pp = 0u; pp < ${lanes}u; pp++) {
    if (wid.y * ${W}u + pp * ${cols}u >= ${spec.outN}u) { break; } // past the last column (uniform: the same for the workgroup)
    let o = wid.y * ${W}u + pp * ${cols}u + lid / ${lanes}u;
    let oc = min(o, ${spec.outN - 1}u);
    var g = 0.0;
    var u = 0.0;
${indent(spec.quant ? quantDecodeLoop(spec, 'oc', 'lane', `${lanes}u`) : f32Loop)}
${acc.map((v) => `    red_${v}[lid] = ${v};`).join('\n')}
    for (var half = ${lanes / 2}u; half > 0u; half >>= 1u) {
      workgroupBarrier();
      if (lane < half) {
${acc.map((v) => `        red_${v}[lid] += red_${v}[lid + half];`).join('\n')}
      }
    }
    workgroupBarrier();
    if (lane == 0u && o < ${spec.outN}u) { st_${dest}(s * ${spec.outN}u + o, epi(e, o, red_g[lid], ${hasGlu ? 'red_u[lid]' : '0.0'})); }
    workgroupBarrier();
  }
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 4 * (1 + acc.length * W) };
}

/**
 * The decode path's reduction over a quantized W: group by group, the scale (one per column
 * and group) loaded once into a register, then each code decoded and scaled (the same f32
 * product as `dq_w`) and accumulated. Over column `o`; `first`/`step`: this invocation's
 * depths within a group (0u and 1u for one invocation per column; its lane and the lanes
 * for `decodeByLanes`).
 */
function quantDecodeLoop(spec: GemmSpec, o: string, first: string, step: string): string {
  const q = spec.quant!;
  const hasGlu = glu(spec) !== undefined;
  const halves: Array<[string, 0 | 1]> = hasGlu ? [['g', 0], ['u', 1]] : [['g', 0]];
  return `  for (var k0 = 0u; k0 < ${spec.kd}u; k0 += ${q.group}u) {
${halves.map(([v, h]) => `    let s${v} = ld_w_scale(${wScaleIndex(spec, 'e', 'k0', wcol(spec, o, h))});`).join('\n')}
    for (var kk = ${first === '0u' ? 'k0' : `k0 + ${first}`}; kk < min(k0 + ${q.group}u, ${spec.kd}u); ${step === '1u' ? 'kk++' : `kk += ${step}`}) {
      let a = ld_a(ar * ${spec.kd}u + kk);
${halves.map(([v, h]) => `      ${v} += a * (cd_w(${wIndex(spec, 'e', 'kk', wcol(spec, o, h))}) * s${v});`).join('\n')}
    }
  }`;
}

/** The combine pass: one workgroup per token and W columns; operands idx, cw, scr, [init], out. */
export function combinePass(outN: number, k: number, ops: Operand[], hasInit: boolean, W: number): ShaderEntry {
  const code = `${PRELUDE}${accessors(ops)}
@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let o = wid.y * ${W}u + lid;
  if (o >= ${outN}u) { return; }
  var acc = 0.0;
  for (var c = 0u; c < ${k}u; c++) {
    let s = t * ${k}u + c;
    if (ld_idx(s) >= 0) { acc += ld_cw(s) * ld_scr(s * ${outN}u + o); }
  }
  st_out(t * ${outN}u + o, ${hasInit ? `ld_init(t * ${outN}u + o) + acc` : 'acc'});
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/**
 * The register micro-tile, unrolled into named scalars (acc_i_j, and accu_i_j for a glu's up
 * half): a private array indexed in loops may live in memory (llvmpipe keeps it there; GPUs
 * spill it when they do not unroll), scalars stay in registers. Thread (tr, tc) owns rows
 * tr + i*TY and columns tc + j*TX of the tile.
 */
function microTile(t: {
  MR: number;
  NR: number;
  TX: number;
  TY: number;
  TM: number;
  TN: number;
  TK: number;
  TNW: number;
  glu: boolean;
  outN: number;
  dest: string;
  /** W element (depth kk, tile column c) of the tile; `sc`: the register holding its scale (quantized W). */
  wRead: (kk: string, c: string, sc: string) => string;
  /** Quantized W: scale groups along Kd and the scale of (absolute depth, tile column), loaded at each group's first depth. */
  scales?: { group: number; load: (kk: string, c: string) => string };
}): { decl: string; inner: string; store: string } {
  const ij: Array<[number, number]> = [];
  for (let i = 0; i < t.MR; i++) for (let j = 0; j < t.NR; j++) ij.push([i, j]);
  const sc = t.scales;
  const decl = [
    ...ij.map(([i, j]) => `  var acc_${i}_${j} = 0.0;${t.glu ? ` var accu_${i}_${j} = 0.0;` : ''}`),
    ...Array.from({ length: t.NR }, (_, j) => `  let c_${j} = min(tc + ${j * t.TX}u, ${t.TN - 1}u);`),
    ...(sc ? Array.from({ length: t.NR }, (_, j) => `  var sc_${j} = 0.0;${t.glu ? ` var scu_${j} = 0.0;` : ''}`) : []),
  ].join('\n');
  const inner = [
    `    for (var kk = 0u; kk < ${t.TK}u; kk++) {`,
    ...(sc
      ? [
          `      if (kk == 0u || (k0 + kk) % ${sc.group}u == 0u) {`,
          ...Array.from({ length: t.NR }, (_, j) => `        sc_${j} = ${sc.load('k0 + kk', `c_${j}`)};${t.glu ? ` scu_${j} = ${sc.load('k0 + kk', `${t.TN}u + c_${j}`)};` : ''}`),
          '      }',
        ]
      : []),
    ...Array.from({ length: t.MR }, (_, i) => `      let a_${i} = As[min(tr + ${i * t.TY}u, ${t.TM - 1}u) * ${t.TK}u + kk];`),
    ...Array.from({ length: t.NR }, (_, j) => `      let b_${j} = ${t.wRead('kk', `c_${j}`, `sc_${j}`)};${t.glu ? ` let bu_${j} = ${t.wRead('kk', `${t.TN}u + c_${j}`, `scu_${j}`)};` : ''}`),
    ...ij.map(([i, j]) => `      acc_${i}_${j} = fma(a_${i}, b_${j}, acc_${i}_${j});${t.glu ? ` accu_${i}_${j} = fma(a_${i}, bu_${j}, accu_${i}_${j});` : ''}`),
    '    }',
  ].join('\n');
  const store: string[] = [];
  for (let i = 0; i < t.MR; i++) {
    store.push(`  {`, `    let rr = tr + ${i * t.TY}u;`, `    let d = select(-1, tileRows(tile, rr).y, rr < ${t.TM}u);`, `    if (d >= 0) {`);
    for (let j = 0; j < t.NR; j++) {
      store.push(
        `      let o_${j} = col0 + tc + ${j * t.TX}u;`,
        `      if (tc + ${j * t.TX}u < ${t.TN}u && o_${j} < ${t.outN}u) { st_${t.dest}(u32(d) * ${t.outN}u + o_${j}, epi(e, o_${j}, acc_${i}_${j}, ${t.glu ? `accu_${i}_${j}` : '0.0'})); }`,
      );
    }
    store.push('    }', '  }');
  }
  return { decl, inner, store: store.join('\n') };
}
