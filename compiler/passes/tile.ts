/**
 * @fileoverview Kernel pass `tile`: chooses the tile sizes of every GEMM-like kernel (gemm,
 * grouped_gemm, router) by searching candidate tilings and keeping the one with the lowest
 * estimated time under the cost model (`../cost.ts`): at T = maxTokens for dense kernels;
 * for grouped GEMMs, time relative to the best tiling summed over maxTokens and quarter
 * steps down to 8 (`tokenSamples`), so the padding block suits smaller batches too. Reads only the
 * target's capability sheet, never its name.
 *
 * Candidates (not a fixed table):
 * - micro-tile mr×nr: SIMD: nr a multiple of the vector (1–4 vectors), mr 1–8, within the
 *   sheet's vector registers (16 unless it says; AVX-512: 32): accumulators + B vectors (+ their
 *   scale vectors for quantized weights on C) + one A broadcast; SIMT: vec4 columns,
 *   ≤ 64 accumulators per invocation; MAC array: exactly the array (16×16);
 * - block m×n×k: m a multiple of mr (mr·2^i or a power of two), n = nr·2^i or all of N
 *   (rounded to nr), k a power of two or all of K (rounded to the vector), none larger than
 *   the problem rounded up to its quantum.
 * Constraints: the block fits the level it is sized for (`placeTile`: L2 on CPUs with the
 * micro-panel in L1; A+B in workgroup storage with ≤ maxWorkgroupInvocations invocations
 * on GPUs; 2·(A+B)+C in an NPU scratchpad, i.e. double-buffered DMA, with m and n multiples
 * of the MAC array).
 *
 * Grouped GEMMs that share a `sorted` buffer (the expert gate/up and down projections) get
 * one common m, which is also the padding block of the moe_align that fills `sorted`: m is
 * chosen jointly, with padding waste and the sort in the cost. The moe_align's `block`
 * becomes m and the buffers sized by it are resized (see `resizeForBlock`).
 * `sortedFromTokens` comes from `decodeThreshold` with the chosen tile.
 *
 * The rest of the schedule is decided here too and recorded in the kernel IR, so renderers
 * only print it (see the last section): the program's vector ISA (`isa`, `vectorKindOf`);
 * the C kernels' cache blocking (tile `rows`, `kc`, `panels`), decode-path panel `streams`
 * and scratchpad `stage`; thread splits (`threads`: a C op's share per thread, WGSL
 * workgroup sizes); the decode form of quantized grouped GEMMs, and of the C backend's
 * dense ones (`qdecode`, `prefetch`).
 *
 * Precondition: a lowered kernel program whose buffer shapes evaluate at T = maxTokens
 * (plus `bindings`). Postcondition: a new program (the input is not mutated) with an `isa`,
 * where every gemm, grouped_gemm and router has a `tile` with a one-line `note`, every
 * grouped GEMM a `sortedFromTokens` ≥ 1, and each moe_align feeding grouped GEMMs a `block`
 * equal to their m.
 */
import { attentionSchedule } from './tile-attention.ts';
import {
  type Bindings,
  type GemmProblem,
  type GemmTimes,
  type KernelCost,
  type TilePlacement,
  TOKENS,
  alignCost,
  computeStyle,
  costLevels,
  decodeThreshold,
  gemmCost,
  gemmProblem,
  gemmTimes,
  placeTile,
  registerUse,
  vectorElems,
} from '../cost/cost.ts';
import { type Dim, dimAdd, dimEq, isSym } from '../../ir/dims.ts';
import type { GroupedGemmKernel, KBuffer, KProgram, Kernel, MoeAlignKernel, Step, Tiling, GemmKernel, KernelThreads, VectorKind } from '../../ir/kernel/kernel.ts';
import { type TargetCaps, vectorKindOf } from '../target/caps.ts';
import { fail } from '../../ir/diagnostics.ts';
import { bufferResolver, forEachKernel, mapKernels } from '../../ir/kernel/walk.ts';
import { type KernelPass, passTarget } from './pass.ts';
import { fmtBytes, fmtSeconds } from '../format.ts';
import { isQuantDType } from '../../ir/quant.ts';

/** Largest padding block considered for a grouped GEMM. */
export const MAX_GROUPED_M = 256;
/** Largest m considered for a dense GEMM (more buys no reuse the cost model can see). */
const MAX_DENSE_M = 512;

export interface TileOptions {
  /** The token count to optimise for; by default the program's token bound (`maxTokens`, recorded by lowering). */
  maxTokens?: number;
  bindings?: Bindings;
}

export const tilePass: KernelPass = {
  name: 'tile',
  summary: 'choose tile sizes for every GEMM-like kernel by minimising the cost model on the target',
  level: 'kernel',
  requires: ['lower-kernels'],
  essential: 'the memory planner and every backend need each GEMM-like kernel\'s tiling',
  run: (p, ctx) => tileProgram(p, passTarget(ctx, 'tile'), { bindings: ctx.bindings }),
};

// ---------------------------------------------------------------------------------------
// Candidates and search
// ---------------------------------------------------------------------------------------

function roundUp(x: number, q: number): number {
  return Math.ceil(x / q) * q;
}

function pow2Upto(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let x = 1; x <= hi; x *= 2) if (x >= lo) out.push(x);
  return out;
}

/** Register micro-tiles the target can hold, for vectors of `v` elements (`dequant`: and a scale vector per B vector). */
export function microTiles(t: TargetCaps, v: number, dequant = false): Array<{ mr: number; nr: number }> {
  const style = computeStyle(t);
  if (style === 'mac') return [{ mr: t.macArray!.rows, nr: t.macArray!.cols }];
  const out: Array<{ mr: number; nr: number }> = [];
  const mrs = style === 'simt' ? [1, 2, 4, 8] : [1, 2, 3, 4, 5, 6, 7, 8];
  const nrs = style === 'simt' ? [4, 8] : [1, 2, 3, 4].map((j) => j * v);
  for (const mr of mrs)
    for (const nr of nrs) {
      const r = registerUse(t, mr, nr, v, dequant);
      if (r.used <= r.limit) out.push({ mr, nr });
    }
  return out;
}

/** Every tiling the search considers for `p` (before the fit check), m at most `maxM` (rounded up to mr). */
export function tileCandidates(p: GemmProblem, t: TargetCaps, maxM: number): Tiling[] {
  const v = vectorElems(t, p.dtype);
  const out: Tiling[] = [];
  // The C kernels' glu micro-tile holds gate and up columns side by side in one panel
  // (outCols is n/2 under a glu): nr even there (the other backends cover any nr).
  const glu = p.outCols !== p.n && t.backend === 'c';
  for (const { mr, nr } of microTiles(t, v, p.dequant)) {
    if (glu && nr % 2 !== 0) continue;
    const mHi = Math.max(mr, roundUp(maxM, mr));
    const ms = new Set<number>();
    for (let m = mr; m <= mHi; m *= 2) ms.add(m);
    for (const m of pow2Upto(mr, mHi)) if (m % mr === 0) ms.add(m);
    const nHi = roundUp(p.n, nr);
    const ns = new Set<number>([nHi]);
    for (let n = nr; n < nHi; n *= 2) ns.add(n);
    const kHi = roundUp(p.depth, v);
    const ks = new Set<number>([kHi]);
    for (const k of pow2Upto(Math.max(8, v), kHi)) ks.add(k);
    for (const m of ms) for (const n of ns) for (const k of ks) out.push({ m, n, k, mr, nr, vector: v });
  }
  return out;
}

export interface ScoredTiling {
  tile: Tiling;
  /** The cost at the first (largest) token count. */
  cost: KernelCost;
  /** What the search minimises: time relative to the best tiling, summed over the sampled token counts. */
  objective: number;
  /** Tie-break: time the memory levels are busy, relative likewise. */
  traffic: number;
  blockBytes: number;
}

/**
 * Objectives within this relative distance are ties, and then less traffic wins (then a
 * smaller block): the model is not precise to 1%, and among near-ties the tile that moves
 * less is the safer bet (real overlap of transfers and compute is imperfect).
 */
const TIE = 0.01;

type Ranking = Pick<ScoredTiling, 'objective' | 'traffic' | 'blockBytes'>;

function better(a: Ranking, b: Ranking): boolean {
  return ranksBefore(a.objective, a.traffic, a.blockBytes, b);
}

/** `better` on a candidate's numbers, so the search builds an object only for a new best. */
function ranksBefore(objective: number, traffic: number, blockBytes: number, b: Ranking): boolean {
  const rel = (x: number, y: number): number => (x - y) / Math.max(Math.abs(x), Math.abs(y), 1e-30);
  const d = rel(objective, b.objective);
  if (Math.abs(d) > TIE) return d < 0;
  const e = rel(traffic, b.traffic);
  if (Math.abs(e) > TIE) return e < 0;
  return blockBytes < b.blockBytes;
}

/**
 * Token counts a grouped GEMM's tiling is judged at: maxTokens and quarter steps down to 8,
 * so that the padding block is not chosen for the largest batch alone (a block that pads
 * well at 4096 tokens can waste most of its rows at 64).
 */
export function tokenSamples(maxTokens: number): number[] {
  const out = [maxTokens];
  for (let x = Math.ceil(maxTokens / 4); x >= 8 && out.length < 4; x = Math.ceil(x / 4)) out.push(x);
  return out;
}

/**
 * The best fitting tiling for each m, judged over `problems` (the same kernel at several
 * token counts, largest first): the objective is the sum over the token counts of the
 * tiling's time relative to the best tiling's time at that count, so each batch size
 * weighs the same (plain seconds would let the largest batch decide alone, and seconds per
 * token the smallest). The grouped search then picks m jointly.
 */
export function bestTilingsByM(problems: GemmProblem[], t: TargetCaps, maxM: number): ReadonlyMap<number, ScoredTiling> {
  // The search depends only on the problems, the target and maxM: a model repeats shapes
  // (the same attention projections in its dense and MoE layers, every layer of a loop),
  // and `moec analyze` tiles one model for several targets and batch sizes.
  let memo = searchMemo.get(t);
  if (!memo) searchMemo.set(t, (memo = new Map()));
  const key = `${maxM};${JSON.stringify(problems)}`;
  let found = memo.get(key);
  if (!found) memo.set(key, (found = searchTilings(problems, t, maxM)));
  return found;
}

/** Results of `bestTilingsByM` per capability sheet (dropped with the sheet). Read-only once stored. */
const searchMemo = new WeakMap<TargetCaps, Map<string, ReadonlyMap<number, ScoredTiling>>>();

function searchTilings(problems: GemmProblem[], t: TargetCaps, maxM: number): ReadonlyMap<number, ScoredTiling> {
  const fitting: Array<{ tile: Tiling; place: TilePlacement }> = [];
  for (const tile of tileCandidates(problems[0], t, maxM)) {
    const place = placeTile(problems[0], tile, t);
    if (place.fits) fitting.push({ tile, place });
  }
  // seconds and summed level seconds of candidate j at token count i, at [j * P + i]
  const P = problems.length;
  const seconds = new Float64Array(fitting.length * P);
  const levelSeconds = new Float64Array(fitting.length * P);
  const scratch = new Float64Array(costLevels(t).length);
  const times: GemmTimes = { seconds: 0, levelSeconds: 0 };
  fitting.forEach(({ tile, place }, j) => {
    for (let i = 0; i < P; i++) {
      gemmTimes(problems[i], tile, t, place, scratch, times);
      seconds[j * P + i] = times.seconds;
      levelSeconds[j * P + i] = times.levelSeconds;
    }
  });
  const bestAt = problems.map((_, i) => {
    let min = Infinity;
    for (let j = 0; j < fitting.length; j++) min = Math.min(min, seconds[j * P + i]);
    return min;
  });
  const relative = (of: Float64Array, j: number): number => {
    let acc = 0;
    for (let i = 0; i < P; i++) acc += of[j * P + i] / Math.max(bestAt[i], 1e-30);
    return acc;
  };
  type Ranked = Omit<ScoredTiling, 'cost'> & { place: TilePlacement };
  const best = new Map<number, Ranked>();
  fitting.forEach(({ tile, place }, j) => {
    const objective = relative(seconds, j);
    const traffic = relative(levelSeconds, j);
    const cur = best.get(tile.m);
    if (!cur || ranksBefore(objective, traffic, place.blockBytes, cur)) best.set(tile.m, { tile, place, blockBytes: place.blockBytes, objective, traffic });
  });
  // only the winners get their full cost (the note and the grouped search read it)
  const out = new Map<number, ScoredTiling>();
  for (const [m, { tile, place, objective, traffic, blockBytes }] of best)
    out.set(m, { tile, cost: gemmCost(problems[0], tile, t, place), objective, traffic, blockBytes });
  return out;
}

/**
 * No candidate fits: the target sheet (user input) describes a chip whose smallest tile does
 * not fit its own memory, e.g. a MAC array larger than the scratchpad.
 */
function noTiling(what: string, t: TargetCaps): never {
  fail('E612', `no tiling of ${what} fits target '${t.name}'`, undefined, "even the smallest tile needs more than the memory it is placed in: check the sheet's macArray, memory sizes, vectorWidth and workgroup limits");
}

/** The best fitting tiling of a problem, or throws (E612) when none fits the target. */
export function chooseTiling(p: GemmProblem, t: TargetCaps, maxM = MAX_DENSE_M): { tile: Tiling; cost: KernelCost } {
  let win: ScoredTiling | undefined;
  for (const s of bestTilingsByM([p], t, Math.min(maxM, Math.max(1, p.rows))).values()) if (!win || better(s, win)) win = s;
  if (!win) noTiling(`a ${p.rows}x${p.n}x${p.depth} ${p.kind}`, t);
  return { tile: { ...win.tile, note: tileNote(p, win.tile, win.cost, t) }, cost: win.cost };
}

// ---------------------------------------------------------------------------------------
// Notes
// ---------------------------------------------------------------------------------------

/** One line: level sized for, working set vs capacity, bytes per level, intensity, time. */
export function tileNote(p: GemmProblem, tile: Tiling, cost: KernelCost, t: TargetCaps, extra = ''): string {
  const place = placeTile(p, tile, t);
  const what = computeStyle(t) === 'simt' ? 'A+B' : t.dma && place.homeName !== 'none' && costLevels(t)[place.home]?.kind === 'scratchpad' ? '2(A+B)+C' : 'A+B+C';
  const panel = place.panel ? ` (${place.panel.name} panel ${fmtBytes(place.panel.bytes)} of ${fmtBytes(place.panel.capacity)})` : '';
  const inv = place.invocations ? `, ${place.invocations.used} invocations` : '';
  const moves = cost.levels.map((l, i) => `${l} ${fmtBytes(cost.bytes[i])}`).join(', ');
  return (
    `sized for ${place.homeName}: ${what} ${fmtBytes(place.blockBytes)} of ${fmtBytes(place.capacity)}${panel}${inv}; ` +
    `moves ${moves}; AI ${cost.intensity.toFixed(1)} flop/B; est ${fmtSeconds(cost.seconds)} at T=${p.tokens}, ` +
    `${cost.bound === 'compute' ? 'compute' : cost.bound}-bound (eff ${cost.efficiency.toFixed(2)})${extra}`
  );
}

// ---------------------------------------------------------------------------------------
// moe_align block sizes
// ---------------------------------------------------------------------------------------

/** An integer-coefficient upper bound of ⌊rows / block⌋ for every value of the sizes. */
export function blocksBound(rows: Dim, block: number): Dim {
  if (!isSym(rows)) return Math.ceil(rows / block);
  return { terms: rows.terms.map(([n, c]) => [n, Math.ceil(c / block)] as const), c: Math.ceil(rows.c / block) };
}

/**
 * Buffers sized by a moe_align block, for a new block: every buffer whose leading dim is the
 * old `sorted` length (sorted itself, and the row-major intermediates of non-combining
 * grouped GEMMs) grows by E·(newBlock − oldBlock) rows, which keeps whatever slack the
 * lowering gave it (T·k + E·(block − 1) is enough: each expert pads by at most block − 1);
 * `blockExpert` becomes ⌈·/block⌉ of the new length per term (an upper bound on the block
 * count). Returns new buffers; unchanged when the block is unchanged.
 */
export function resizeForBlock(buffers: readonly KBuffer[], align: MoeAlignKernel, block: number, steps?: readonly Step[]): KBuffer[] {
  if (align.block === block) return [...buffers];
  const sorted = buffers.find((b) => b.name === align.sorted);
  if (!sorted || sorted.shape.length === 0) return [...buffers];
  const oldRows = sorted.shape[0];
  const newRows = dimAdd(oldRows, align.experts * (block - align.block));
  // With the program's steps, only this align's buffers: two MoE layers in one function have
  // sorted buffers of the same length, and matching by length alone resized each twice.
  const own = steps && new Set([align.sorted]);
  if (own) forEachKernel(steps, (k) => k.kind === 'grouped_gemm' && k.sorted === align.sorted && !k.epilogue.some((e) => e.kind === 'combine') && own.add(k.out));
  return buffers.map((b) => {
    if (b.name === align.blockExpert) return { ...b, shape: [blocksBound(newRows, block), ...b.shape.slice(1)] };
    if (own && !own.has(b.name)) return b;
    if (b.shape.length > 0 && dimEq(b.shape[0], oldRows) && (b.kind === 'temp' || b.kind === 'output'))
      return { ...b, shape: [newRows, ...b.shape.slice(1)] };
    return b;
  });
}

// ---------------------------------------------------------------------------------------
// The pass
// ---------------------------------------------------------------------------------------

/**
 * Tiles every GEMM-like kernel of `p` for `target` (see the file header). Pure: returns a
 * copy. Throws when a kernel has no tiling that fits the target.
 */
export function tileProgram(p: KProgram, target: TargetCaps, opts: TileOptions = {}): KProgram {
  const bound = opts.maxTokens ?? p.maxTokens;
  if (bound === undefined) throw new Error(`tile: program ${p.name} has no token bound (lower it with one, or pass maxTokens)`);
  const maxTokens = Math.max(1, bound);
  const bindings: Bindings = { ...opts.bindings, [TOKENS]: maxTokens };
  const tiles = new Map<Kernel, Tiling>();
  const blocks = new Map<string, number>();
  const thresholds = new Map<Kernel, number>();
  // One buffer lookup for every kernel's problem (one per call made this quadratic).
  const buf = bufferResolver(p);

  // grouped GEMMs, grouped by the sorted buffer they share with their moe_align
  const groups = new Map<string, GroupedGemmKernel[]>();
  const aligns = new Map<string, MoeAlignKernel>();
  forEachKernel(p.steps, (k) => {
    if (k.kind === 'grouped_gemm') groups.set(k.sorted, [...(groups.get(k.sorted) ?? []), k]);
    else if (k.kind === 'moe_align') aligns.set(k.sorted, k);
    else if (k.kind === 'gemm' || k.kind === 'router') tiles.set(k, chooseTiling(gemmProblem(k, p, bindings, buf), target).tile);
  });

  for (const [sorted, members] of groups) {
    const samples = tokenSamples(maxTokens);
    const problems = members.map((k) => gemmProblem(k, p, bindings, buf));
    const byM = members.map((k) => bestTilingsByM(samples.map((n) => gemmProblem(k, p, { ...bindings, [TOKENS]: n }, buf)), target, MAX_GROUPED_M));
    const align = aligns.get(sorted);
    // one m for the whole group: least summed objective, then least traffic, then smallest m;
    // the sort counts relative to the first GEMM's best time at maxTokens
    const firstBest = Math.max(Math.min(...[...byM[0].values()].map((x) => x.cost.seconds)), 1e-30);
    let bestM: number | undefined;
    let best: ScoredTiling | undefined;
    // W8A8 on C widens each weight chunk once per block for the block's row tiles: a block of
    // one tile would widen it per tile (as costly as the products), so such groups take blocks
    // of at least A8_MIN_BLOCK rows where the search offers them.
    const a8 = target.backend === 'c' && members.some((k) => roundsActivations(k, buf));
    const mins = a8 && [...byM[0].keys()].some((m) => m >= A8_MIN_BLOCK && byM.every((b) => b.has(m))) ? A8_MIN_BLOCK : 0;
    for (const m of [...byM[0].keys()].sort((a, b) => a - b)) {
      if (!byM.every((b) => b.has(m)) || m < mins) continue;
      const sort = align ? alignCost(maxTokens, align.k, align.experts, m, target).seconds / firstBest : 0;
      const total: ScoredTiling = {
        tile: byM[0].get(m)!.tile,
        cost: byM[0].get(m)!.cost,
        objective: byM.reduce((acc, b) => acc + b.get(m)!.objective, sort),
        traffic: byM.reduce((acc, b) => acc + b.get(m)!.traffic, 0),
        blockBytes: 0,
      };
      if (!best || better(total, best)) {
        best = total;
        bestM = m;
      }
    }
    if (bestM === undefined) noTiling(`the grouped GEMMs over '${sorted}' (one common m)`, target);
    blocks.set(sorted, bestM);
    // The GEMMs of one chain must take the same path: the first one's output rows are laid
    // out per slot on the direct path and per sorted row on the sorted path, and the next
    // GEMM reads them in that layout. So the chain switches to sorting only from the token
    // count where every member is better off sorted.
    const from = Math.max(...members.map((k, i) => decodeThreshold({ ...k, tile: byM[i].get(bestM!)!.tile }, target, p, { cap: maxTokens, bindings: opts.bindings })));
    members.forEach((k, i) => {
      const s = byM[i].get(bestM!)!;
      const tile = s.tile;
      const waste = s.cost.flops > 0 ? 1 - s.cost.usefulFlops / s.cost.flops : 0;
      const extra = `; pads to blocks of ${bestM} (${(waste * 100).toFixed(0)}% padding work); sorted path from T=${from}`;
      tiles.set(k, { ...tile, note: tileNote(problems[i], tile, s.cost, target, extra) });
      thresholds.set(k, from);
    });
  }

  const isa = vectorKindOf(target);
  const steps = mapKernels(p.steps, (k) => {
    const tile = tiles.get(k);
    const threads = kernelThreads(k, target);
    const split = threads ? { threads } : {};
    if (k.kind === 'moe_align') {
      const block = blocks.get(k.sorted);
      return block === undefined ? { ...k, ...split } : { ...k, block, ...split };
    }
    // The program's own bound, not the count tiles are judged at: the naive MLA form keeps a pair per token of it on the stack.
    if (k.kind === 'attention' || k.kind === 'mla_attention') return { ...k, schedule: attentionSchedule(k, target, buf, p.maxTokens ?? maxTokens), ...split };
    if (k.kind === 'dispatch' || k.kind === 'ep_combine') return k; // placed after tiling
    if (k.kind === 'op' || k.kind === 'router' || !tile) return tile ? { ...k, tile, ...split } : { ...k, ...split };
    const scheduled = { ...tile, ...cpuBlocking(k, tile, p, bindings, target), ...wasmPass(k, tile, maxTokens, target), ...quantDecode(k, p, target, isa) };
    if (k.kind === 'grouped_gemm') return { ...k, tile: scheduled, sortedFromTokens: thresholds.get(k) ?? k.sortedFromTokens, ...split };
    return { ...k, tile: scheduled, ...split };
  });

  let buffers = p.buffers.map((b) => ({ ...b, shape: [...b.shape] }));
  for (const [sorted, block] of blocks) {
    const align = aligns.get(sorted);
    if (align) buffers = resizeForBlock(buffers, align, block, steps);
  }
  return { ...p, isa, buffers, steps, inputs: [...p.inputs], outputs: [...p.outputs] };
}

// ---------------------------------------------------------------------------------------
// The rest of the schedule (recorded in the kernel IR; the renderers only print it)
// ---------------------------------------------------------------------------------------

/** Rows a W8A8 grouped GEMM's block holds at least on C (see `tileProgram`): four tiles of four rows. */
const A8_MIN_BLOCK = 16;

/** Bytes of a W8A8 dense GEMM pass's quantized rows on each C thread's stack (see `cpuBlocking`). */
const A8_ROWS_BYTES = 384 * 1024;

/** Whether GEMM `k`'s weight rounds the activations it multiplies to int8 (W8A8, `act=q8` in ir/quant.ts). */
function roundsActivations(k: Kernel, buf: (name: string) => KBuffer): boolean {
  return (k.kind === 'gemm' || k.kind === 'grouped_gemm') && buf(k.w).quant?.act === 'q8';
}

/**
 * Floats of the C GEMM kernels' accumulator block: 64 KiB, on the stack of every thread
 * (any C stack holds it), so rows × panels × nr accumulators stay within it.
 */
const ACC_BLOCK_FLOATS = 16384;

/**
 * Output elements per thread below which the C backend starts no further thread for an
 * elementwise or row-wise op: starting one costs more than a share of 16K elements saves.
 */
const MIN_ELEMS_PER_THREAD = 16384;

/**
 * Invocations per workgroup of the WGSL shaders that are not tiled GEMMs: one workgroup per
 * row (rmsnorm), token (router), slot (the decode path) or 64 elements; two 32-wide waves,
 * the smallest size that keeps a compute unit's SIMD lanes full on every vendor. moe_align
 * runs as one workgroup, of WebGPU's default limit of 256 invocations, striding over experts.
 */
const WGSL_WORKGROUP = 64;
const WGSL_ALIGN_WORKGROUP = 256;

/** How a kernel's work is split over threads where the tile does not say (see `KernelThreads`). */
function kernelThreads(k: Kernel, target: TargetCaps): KernelThreads | undefined {
  if (target.backend === 'c') return k.kind === 'op' ? { minElems: MIN_ELEMS_PER_THREAD } : undefined;
  if (target.backend !== 'wgsl' || k.kind === 'gemm') return undefined;
  return { workgroup: k.kind === 'moe_align' ? WGSL_ALIGN_WORKGROUP : WGSL_WORKGROUP };
}

/**
 * Panels the C decode path (one row at a time: a grouped GEMM's slots below its sorted
 * threshold, a dense GEMM of one row such as the LM head at T = 1) reads at once: one row
 * does little arithmetic per weight, so the weights' bandwidth is the limit, and four
 * streams keep more of memory's requests in flight than one.
 */
const DECODE_STREAMS = 4;

/**
 * Bytes ahead each panel stream of the C decode path (T = 1, four panels at once) is
 * prefetched with quantized weights. Their panel rows are short (16 bytes of i8 for 16
 * columns), so a stream crosses pages fast and the hardware prefetcher, which stops at
 * each 4 KiB page, leaves a core waiting on DRAM: measured on mixtral-mini i8 at T = 1 on
 * one core, 4096 bytes ahead took 2.17 ms to 1.50 ms (AVX2) and 1.73 to 1.32 ms (AVX-512);
 * 1024 did little, 8192 no better. 2048, measured later in pairs against 4096 (one core,
 * T = 1, medians): the llama bench model's decode step 10-13% faster on x86-avx2 (i8g32,
 * w8a8) and x86-avx512 (w8a8), its LM head (48-column panels) most; mixtral-mini 4-6% faster
 * on x86-avx2 i8 and 4-11% on x86-avx512 i8g32, 1-8% slower on x86-avx512 per-channel i8.
 */
const QUANT_PREFETCH_BYTES = 2048;

/** Rows per pass of a Wasm grouped GEMM over one expert's weights (see `wasmPass`). */
const WASM_PASS_ROWS = 64;

/**
 * Weight columns (W [N, Kd]: one memory stream each) the Wasm decode path (one row at a time)
 * reads at once. The register-blocked micro-tile reads 2 (mixtral-mini) or 3: too few
 * requests in flight for DRAM. Measured at T = 1 (ms, this machine): mixtral-mini 7.0 at the
 * micro-tile's 2, 5.9 at 4, 4.8 at 8, 5.6 at 12, 6.2 at 16; deepseek-mini 4.3, 4.0, 3.6, 4.1, 3.9.
 */
const WASM_DECODE_STREAMS = 8;

/**
 * Cache blocking of a GEMM on the C backend (nothing elsewhere): rows of A per pass (a dense
 * GEMM: tile.m in whole micro-tiles within the accumulator block; a grouped GEMM: its
 * padding block), depth chunks of tile.k (so a chunk of the rows and of one panel stay in L1
 * while every micro-tile uses them) and tile.n / nr panels per pass within the block; the
 * decode path (a grouped GEMM's, and a dense GEMM's when it has one row) reads
 * `DECODE_STREAMS` panels at once; on a chip with a scratchpad, the chunks are staged into
 * it by DMA.
 */
function cpuBlocking(k: GemmKernel | GroupedGemmKernel, tile: Tiling, p: KProgram, bindings: Bindings, target: TargetCaps): Pick<Tiling, 'rows' | 'kc' | 'panels' | 'streams' | 'stage'> {
  if (target.backend !== 'c') return {};
  const { mr, nr: w } = tile;
  const kd = gemmProblem(k, p, bindings).depth;
  const a8 = roundsActivations(k, bufferResolver(p));
  // W8A8: a pass's rows are quantized onto each thread's stack (int16 codes + a scale per 32): at most A8_ROWS_BYTES of them.
  const a8Rows = a8 ? Math.max(mr, Math.floor(A8_ROWS_BYTES / (kd * (2 + 4 / 32)) / mr) * mr) : Infinity;
  const rows = k.kind === 'grouped_gemm' ? Math.ceil(tile.m / mr) * mr : Math.max(mr, Math.min(Math.ceil(tile.m / mr) * mr, Math.floor(ACC_BLOCK_FLOATS / w / mr) * mr, a8Rows));
  // W8A8 kernels work in blocks of 32 along the depth: chunks are whole blocks.
  const kc = a8 ? Math.max(32, Math.floor(Math.min(kd, tile.k) / 32) * 32) : Math.max(1, Math.min(kd, tile.k));
  // A W8A8 grouped GEMM quantizes a block's rows once per pass over its panels: as many panels a pass as the accumulator block holds.
  const panels = Math.max(1, a8 && k.kind === 'grouped_gemm' ? Math.floor(ACC_BLOCK_FLOATS / (rows * w)) : Math.min(Math.floor(tile.n / w), Math.floor(ACC_BLOCK_FLOATS / (rows * w))));
  // A scratchpad is fed by DMA, double-buffered: what `placeTile` sized the tile for (2(A+B)+C).
  const stage = target.memory.some((l) => l.kind === 'scratchpad') ? { stage: 'dma' as const } : {};
  return { rows, kc, panels, streams: DECODE_STREAMS, ...stage };
}

/**
 * Rows of one expert the Wasm grouped GEMM computes per pass over its weights (`Tiling.pass`;
 * nothing elsewhere). The padding block m is sized for L1, so small (5 for mixtral-mini), and
 * a pass per block re-read each expert's weights once per block: at T = 256 an expert of
 * mixtral-mini has ~13 blocks, and its 44 MB came from DRAM 13 times. A pass of
 * WASM_PASS_ROWS rows (whole blocks, no more than T·K can fill) reads them once for up to
 * that many rows, while each weight panel, reused by every row of the pass, stays in L2.
 */
function wasmPass(k: GemmKernel | GroupedGemmKernel, tile: Tiling, maxTokens: number, target: TargetCaps): Pick<Tiling, 'pass' | 'streams'> {
  if (target.backend !== 'wasm' || k.kind !== 'grouped_gemm') return {};
  const rows = Math.min(WASM_PASS_ROWS, maxTokens * k.k);
  return { pass: Math.max(1, Math.floor(rows / tile.m)) * tile.m, ...(k.transB ? { streams: WASM_DECODE_STREAMS } : {}) };
}

/**
 * The decode-path form of a GEMM over quantized weights (a grouped GEMM's on every backend; a
 * dense GEMM's on C, the only backend with a dense decode path): with an x86 vector ISA the
 * C kernels sum each scale group's products and scale the partial sum once (decoding T = 1
 * is instruction-bound on narrow cores once the weights are 4x smaller, and this saves one
 * multiply per vector) and prefetch each panel stream; portable C, Wasm and WGSL scale each
 * weight as the interpreter does.
 */
function quantDecode(k: GemmKernel | GroupedGemmKernel, p: KProgram, target: TargetCaps, isa: VectorKind): Pick<Tiling, 'qdecode' | 'prefetch'> {
  if ((k.kind !== 'grouped_gemm' && target.backend !== 'c') || !isQuantDType(bufferResolver(p)(k.w).dtype)) return {};
  if (target.backend === 'c' && (isa === 'avx2' || isa === 'avx512')) return { qdecode: 'group_sum', prefetch: QUANT_PREFETCH_BYTES };
  return { qdecode: 'scale_each' };
}
