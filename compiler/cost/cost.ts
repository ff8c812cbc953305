/**
 * @fileoverview The cost model: how long a kernel takes on a target, from the target's
 * capability sheet alone. The tiler minimises it, `decodeThreshold` compares the two paths
 * of a grouped GEMM with it, and `programCost` sums it over a program.
 *
 * Model (a roofline per memory level):
 *   time = max( flops / (peak · efficiency),  max over levels ℓ of bytes(ℓ) / bandwidth(ℓ) )
 * where bytes(ℓ) is what level ℓ serves to the level inside it (or to the registers), from a
 * standard blocked-GEMM traffic model. A GEMM M×N×K computed in tiles tm×tn that stay
 * resident in a level moves, from the level outside it:
 *   A: M·K·⌈N/tn⌉   B: K·N·⌈M/tm⌉   C: M·N once (read and written for a combine)
 * (elements × their sizes; a quantized weight element is its code plus its share of its
 * group's f32 scale, `weightElementBytes`). SIMD registers also store and reload their accumulators once
 * per extra k-block of depth tk: 2·M·N·(⌈K/tk⌉ − 1) more from level 0. GPU invocations and
 * an NPU's scratchpad C tile keep partial sums across the whole reduction.
 * Which tile sits in which level:
 *   - registers: the micro-tile mr×nr (accumulators) over a k-block, fed by level 0;
 *   - the level the block m×n×k is sized for (its "home"): L2 on CPUs, workgroup storage on
 *     GPUs, the scratchpad on an NPU;
 *   - levels between the registers and the home (L1 on CPUs): the BLIS micro-panel, a
 *     k×nr sliver of B reused across the m rows of the block (tile m×nr×k);
 *   - levels outside the home: the whole problem when it fits (then only compulsory
 *     traffic crosses), else the A row panel m×K when it fits next to a B block (A moves
 *     once, B once per row block), else the block again (no further reuse).
 * Efficiency = micro-tile edge fit × vector fit × issue efficiency (enough accumulators,
 * loads per FMA, fixed work per k-block) × core balance (see `computeEfficiency`). Private levels' bandwidths are per core and add up
 * over `cores`; a private level's capacity is per core, a shared level's is split between
 * the cores' tiles.
 *
 * Grouped GEMMs (the MoE experts): rows = T·k token slots, grouped by expert into blocks of
 * `m` rows (the moe_align padding). Under uniform routing the expected number of distinct
 * experts that receive at least one of the T·k slots (each token picks k distinct of E) is
 *   E_act(T) = E · (1 − (1 − k/E)^T)
 * (the chance a given expert is missed by one token is 1 − k/E, by all T tokens its T-th
 * power; shared experts, which every token picks, are added on top). Each active expert is
 * a sub-GEMM of ⌈(T·k / E_act) / m⌉·m padded rows; only active experts' weights move, and
 * padding rows cost compute. The direct decode path walks (token, choice) pairs instead:
 * each pair streams its expert's weights (no reuse), with no sort and no padding.
 *
 * Preconditions: buffer shapes evaluate under the bindings (`T` plus any other symbolic
 * sizes); the target has at least one memory level. Postconditions: pure functions; every
 * cost is finite and non-negative, and `seconds` ≥ each roofline term.
 */
import { DimError, evalDim, evalShape } from '../../ir/dims.ts';
import type { AttentionKernel } from '../../ir/kernel/attention.ts';
import type { MlaAttentionKernel } from '../../ir/kernel/mla.ts';
import type { GroupedGemmKernel, KBuffer, KProgram, Kernel, RouterKernel, Tiling } from '../../ir/kernel/kernel.ts';
import { type DType, dtypeBytes } from '../../ir/types.ts';
import { bufferResolver, forEachKernel, kernelBuffers } from '../../ir/kernel/walk.ts';
import { type OpSizes, decoderOpCost } from './attention.ts';
import type { TargetCaps } from '../target/caps.ts';
import { ACT_FLOPS, GLU_FLOPS, ROUTER_PER_LOGIT, opFlops } from './op-flops.ts';
import { numel } from '../../ir/tensor.ts';
import { isQuantDType } from '../../ir/quant.ts';

export type Bindings = Readonly<Record<string, number>>;
export type FlopsDType = keyof TargetCaps['peakFlops'];

/** The name of the symbolic token count. */
export const TOKENS = 'T';

// ---------------------------------------------------------------------------------------
// Target view
// ---------------------------------------------------------------------------------------

/** How a target multiplies: SIMD registers (CPU), SIMT invocations (GPU) or a MAC array (NPU). */
export type ComputeStyle = 'simd' | 'simt' | 'mac';

export function computeStyle(t: TargetCaps): ComputeStyle {
  if (t.macArray) return 'mac';
  if ((t.limits.maxWorkgroupInvocations ?? 0) > 0) return 'simt';
  return 'simd';
}

/**
 * Register-file assumptions (stated here once):
 * - SIMD: the sheet's `vectorRegisters` (AVX-512's 32 zmm), else 16 (AVX2's ymm0–15;
 *   WebAssembly SIMD128 engines map v128 to the 16 xmm registers on x86-64 and we take the
 *   smaller file of x86 and arm64). A micro-tile needs mr·⌈nr/v⌉ accumulators + ⌈nr/v⌉ B
 *   vectors + 1 A broadcast.
 * - SIMD peak needs ≥ 8 independent accumulators (2 FMA pipes × 4-cycle latency) and no
 *   more loads than FMAs per k step (2 load and 2 FMA ports).
 * - SIMT: ≤ 64 f32 accumulators per invocation (more spills or cuts occupancy); peak needs
 *   ≥ 16 per invocation (ILP) and ≥ 64 invocations per workgroup (two 32-wide waves).
 */
export const SIMD_REGISTERS = 16;

/**
 * Issue slots of one A broadcast, in loads. A 512-bit broadcast from memory also needs a
 * shuffle port on x86 (measured on the dev VM's Xeon, one core: a 6x32 AVX-512 micro-kernel,
 * 6 broadcasts per 12 FMAs, runs at ~118 GFLOP/s; 8x16, 8 per 8, at ~80), so wide-vector
 * targets count it as one and a half; narrower ones as a plain load.
 */
export function broadcastCost(t: TargetCaps): number {
  return t.vectorBytes >= 64 ? 1.5 : 1;
}
export const SIMD_ACCUMULATORS_FOR_PEAK = 8;
export const SIMT_MAX_ACCUMULATORS = 64;
export const SIMT_ACCUMULATORS_FOR_PEAK = 16;
export const SIMT_INVOCATIONS_FOR_PEAK = 64;
/**
 * Fixed work per k-block, in k-steps of the micro-kernel: SIMD loads and stores the
 * accumulators and sets the loop up (≈4); SIMT adds two barriers around the cooperative tile
 * load (≈8); a MAC array fills its pipeline and issues a DMA descriptor (≈16, its depth).
 * The issue efficiency is k / (k + overhead), so short k-blocks cost compute.
 */
export const K_BLOCK_OVERHEAD: Record<ComputeStyle, number> = { simd: 4, simt: 8, mac: 16 };
/** Elementwise and reduction kernels issue one op per element, not a multiply-add. */
export const STREAM_EFFICIENCY = 0.5;

/** Elements per vector for `dtype`: vec4 on SIMT targets, vectorBytes / element size otherwise (1 when scalar). */
export function vectorElems(t: TargetCaps, dtype: DType = 'f32'): number {
  if (computeStyle(t) === 'simt') return 4;
  return t.vectorBytes > 0 ? Math.max(1, Math.floor(t.vectorBytes / dtypeBytes(dtype))) : 1;
}

/** Vector registers a SIMD micro-kernel may use on `t`. */
export function simdRegisters(t: TargetCaps): number {
  return t.vectorRegisters ?? SIMD_REGISTERS;
}

/**
 * Registers (SIMD) or accumulators (SIMT) a micro-tile needs, against the limit. With
 * `dequant` (quantized weights on the C backend) each B vector has a scale vector beside it:
 * a tile that ignored them spilled (deepseek-mini i8 on x86-avx512 took 6x64: 24 + 4 + 4 + 1
 * = 33 zmm, a scale reloaded from the stack every k step).
 */
export function registerUse(t: TargetCaps, mr: number, nr: number, vector: number, dequant = false): { used: number; limit: number } {
  switch (computeStyle(t)) {
    case 'simd': {
      const bv = Math.ceil(nr / vector);
      const scales = dequant && t.backend === 'c' ? bv : 0;
      return { used: mr * bv + bv + scales + 1, limit: simdRegisters(t) };
    }
    case 'simt':
      return { used: mr * nr, limit: SIMT_MAX_ACCUMULATORS };
    case 'mac':
      return { used: mr * nr, limit: (t.macArray?.rows ?? mr) * (t.macArray?.cols ?? nr) };
  }
}

/** One memory level as the model sees it. */
export interface CostLevel {
  name: string;
  kind: 'cache' | 'scratchpad' | 'dram';
  /** Shared by all cores (L3, DRAM) rather than private to one. */
  shared: boolean;
  /** Bytes one core's tile may use (private: the level's size; shared: size / cores). */
  tileCapacity: number;
  /** Bytes the whole chip can keep there (private: size × cores). */
  totalCapacity: number;
  /** Aggregate bytes/second out of this level (private: per core × cores; DMA caps a scratchpad's feed). */
  bandwidth: number;
}

/**
 * The target's memory hierarchy, innermost first, with GPU workgroup storage made explicit
 * (a scratchpad level of `maxWorkgroupStorageBytes`, unlimited bandwidth when the sheet does
 * not list it) and a scratchpad's capacity clamped to that limit.
 */
export function costLevels(t: TargetCaps): CostLevel[] {
  // The tiler asks for this for every candidate tile: derive it once per capability sheet.
  let levels = levelCache.get(t);
  if (!levels) levelCache.set(t, (levels = deriveLevels(t)));
  return levels;
}

const levelCache = new WeakMap<TargetCaps, CostLevel[]>();

function deriveLevels(t: TargetCaps): CostLevel[] {
  const cores = Math.max(1, t.cores);
  const wgs = t.limits.maxWorkgroupStorageBytes ?? 0;
  const levels: CostLevel[] = t.memory.map((l) => ({
    name: l.name,
    kind: l.kind,
    shared: l.shared,
    tileCapacity: l.shared ? Math.floor(l.bytes / cores) : l.bytes,
    totalCapacity: l.shared ? l.bytes : l.bytes * cores,
    bandwidth: l.shared ? l.bandwidth : l.bandwidth * cores,
  }));
  const pad = levels.findIndex((l) => l.kind === 'scratchpad');
  if (wgs > 0 && pad < 0) {
    levels.unshift({ name: 'workgroup', kind: 'scratchpad', shared: false, tileCapacity: wgs, totalCapacity: wgs * cores, bandwidth: Infinity });
  } else if (pad >= 0) {
    if (wgs > 0) levels[pad] = { ...levels[pad], tileCapacity: Math.min(levels[pad].tileCapacity, wgs) };
    if (t.dma && pad + 1 < levels.length) levels[pad + 1] = { ...levels[pad + 1], bandwidth: Math.min(levels[pad + 1].bandwidth, t.dma.bandwidth) };
  }
  if (levels.length === 0) throw new Error(`target '${t.name}' lists no memory levels`);
  return levels;
}

/** Peak FLOP/s for `dtype`, falling back to f32's. */
export function peakFlops(t: TargetCaps, dtype: FlopsDType): number {
  const p = t.peakFlops[dtype] ?? t.peakFlops.f32;
  if (!p || p <= 0) throw new Error(`target '${t.name}' gives no peak FLOP/s for ${dtype} or f32`);
  return p;
}

// ---------------------------------------------------------------------------------------
// Problems
// ---------------------------------------------------------------------------------------

/** A GEMM-like kernel reduced to the numbers the model needs, at one token count. */
export interface GemmProblem {
  kind: 'gemm' | 'grouped_gemm' | 'router';
  tokens: number;
  /** Real rows: all leading dims of A (gemm, router) or the T·k token slots (grouped). */
  rows: number;
  /** Weight columns (before a GLU halves them) and reduction depth. */
  n: number;
  depth: number;
  /** Columns stored per row (n, or n/2 after a GLU). */
  outCols: number;
  /** Experts in the weight (1 for dense), of which `shared` every token picks. */
  experts: number;
  shared: number;
  /** Slots per token (k + shared) for a grouped GEMM; 1 otherwise. */
  slots: number;
  aBytes: number;
  wBytes: number;
  outBytes: number;
  dtype: FlopsDType;
  /** FLOPs per stored element for the epilogue chain. */
  epilogueFlops: number;
  /** The output is read-modify-written (a combine epilogue into a residual or zeros). */
  accumulate: boolean;
  /** FLOPs outside the GEMM (the router's scoring and selection). */
  extraFlops: number;
  /**
   * The weights are quantized codes that the C micro-kernels decode in registers, holding a
   * scale vector beside each B vector (absent: f32 weights, or a backend that does not).
   */
  dequant?: boolean;
}

/**
 * Expected number of distinct experts hit when each of `tokens` tokens picks `k` distinct
 * experts of `experts` uniformly at random: E·(1 − (1 − k/E)^T). 0 for no tokens; at most
 * min(E, T·k).
 */
export function expectedActiveExperts(experts: number, k: number, tokens: number): number {
  if (experts <= 0 || k <= 0 || tokens <= 0) return 0;
  if (k >= experts) return experts;
  return experts * (1 - Math.pow(1 - k / experts, tokens));
}

/** Expected active experts of a grouped problem (shared experts always active); 1 for dense. */
export function activeExperts(p: GemmProblem): number {
  if (p.kind !== 'grouped_gemm') return 1;
  const routed = expectedActiveExperts(p.experts - p.shared, p.slots - p.shared, p.tokens);
  return Math.min(p.experts, p.shared + routed);
}

const FLOPS_DTYPES: readonly FlopsDType[] = ['f32', 'f16', 'bf16', 'i8', 'fp8e4m3'];

function flopsDType(d: DType): FlopsDType {
  return (FLOPS_DTYPES as readonly string[]).includes(d) ? (d as FlopsDType) : 'f32';
}

function epilogueFlops(ep: GroupedGemmKernel['epilogue']): number {
  let f = 0;
  for (const e of ep) {
    if (e.kind === 'bias') f += 1;
    else if (e.kind === 'act') f += ACT_FLOPS[e.fn] ?? 1;
    else if (e.kind === 'glu') f += GLU_FLOPS[e.fn];
    else f += 2;
  }
  return f;
}

type Resolver = (name: string) => KBuffer;

/**
 * Bytes a weight element costs to move: its own size (a quantized code: 1 byte, or half a
 * byte for i4) plus, for a quantized weight, its share of the f32 scale of its group. The
 * dequantization itself (one multiply per element, in registers) is not counted: weight
 * traffic is what bounds the kernels where quantization matters (decoding).
 */
export function weightElementBytes(b: KBuffer): number {
  return dtypeBytes(b.dtype) + (b.quant ? 4 / b.quant.group : 0);
}

/** The router kernel that writes `indices` (for a grouped GEMM's shared-expert count). */
function routerOf(p: KProgram, indices: string): RouterKernel | undefined {
  let found: RouterKernel | undefined;
  forEachKernel(p.steps, (k) => {
    if (k.kind === 'router' && k.indices === indices) found = k;
  });
  return found;
}

/**
 * The problem a GEMM-like kernel solves at the given bindings (`T` and other sizes).
 * Throws for a kernel that is not a gemm, grouped_gemm or router, or an unbound size.
 */
export function gemmProblem(k: Kernel, p: KProgram, bindings: Bindings, buf = bufferResolver(p)): GemmProblem {
  const shape = (name: string): number[] => evalShape(buf(name).shape, bindings);
  const bytesOf = (name: string): number => dtypeBytes(buf(name).dtype);
  const wBytesOf = (name: string): number => weightElementBytes(buf(name));
  const dequant = (name: string): { dequant?: true } => (isQuantDType(buf(name).dtype) ? { dequant: true } : {});
  const tokensOf = (name: string): number => shape(name)[0] ?? 1;
  switch (k.kind) {
    case 'gemm': {
      const a = shape(k.a);
      const w = shape(k.w);
      const depth = a[a.length - 1];
      const n = k.transB ? w[w.length - 2] : w[w.length - 1];
      const glu = k.epilogue.some((e) => e.kind === 'glu');
      return {
        kind: 'gemm', tokens: bindings[TOKENS] ?? a[0], rows: numel(a.slice(0, -1)), n, depth, outCols: glu ? n / 2 : n,
        experts: 1, shared: 0, slots: 1, aBytes: bytesOf(k.a), wBytes: wBytesOf(k.w), outBytes: bytesOf(k.out),
        dtype: flopsDType(buf(k.a).dtype), epilogueFlops: epilogueFlops(k.epilogue), accumulate: false, extraFlops: 0, ...dequant(k.w),
      };
    }
    case 'router': {
      const x = shape(k.x);
      const w = shape(k.w);
      const rows = numel(x.slice(0, -1));
      const experts = w[0];
      // scoring and selection per logit (the graph op's count), normalisation of the chosen
      const extra = rows * experts * ROUTER_PER_LOGIT + rows * (k.k + k.shared) * 4;
      return {
        kind: 'router', tokens: rows, rows, n: experts, depth: x[x.length - 1], outCols: k.k + k.shared, experts: 1, shared: 0,
        slots: 1, aBytes: bytesOf(k.x), wBytes: wBytesOf(k.w), outBytes: 4, dtype: flopsDType(buf(k.x).dtype),
        epilogueFlops: 2, accumulate: false, extraFlops: extra,
      };
    }
    case 'grouped_gemm': {
      const w = shape(k.w);
      const experts = w[0];
      const n = k.transB ? w[1] : w[2];
      const depth = k.transB ? w[2] : w[1];
      const tokens = tokensOf(k.indices);
      const router = routerOf(p, k.indices);
      const glu = k.epilogue.some((e) => e.kind === 'glu');
      return {
        kind: 'grouped_gemm', tokens, rows: tokens * k.k, n, depth, outCols: glu ? n / 2 : n, experts,
        shared: Math.min(router?.shared ?? 0, Math.max(0, k.k - 1)), slots: k.k, aBytes: bytesOf(k.a), wBytes: wBytesOf(k.w),
        outBytes: bytesOf(k.out), dtype: flopsDType(buf(k.a).dtype), epilogueFlops: epilogueFlops(k.epilogue),
        accumulate: k.epilogue.some((e) => e.kind === 'combine'), extraFlops: 0, ...dequant(k.w),
      };
    }
    default:
      throw new Error(`gemmProblem: a ${k.kind} kernel is not GEMM-like`);
  }
}

// ---------------------------------------------------------------------------------------
// GEMM cost
// ---------------------------------------------------------------------------------------

/** The cost of one kernel run. `bytes[i]` is what level `levels[i]` serves. */
export interface KernelCost {
  /** FLOPs executed (padding rows included) and the useful part. */
  flops: number;
  usefulFlops: number;
  levels: string[];
  bytes: number[];
  levelSeconds: number[];
  computeSeconds: number;
  efficiency: number;
  seconds: number;
  /** 'compute' or the name of the level whose bandwidth bounds the time. */
  bound: string;
  /** FLOPs per byte from main memory (the last level). */
  intensity: number;
}

/** Where a tiling's block lives and what it occupies there. */
export interface TilePlacement {
  /** Index into `costLevels(target)` of the level the m×n×k block is sized for (-1: none fits). */
  home: number;
  homeName: string;
  /**
   * Bytes the block occupies in its home: A+B+C on CPU caches; A+B on a GPU (the C tile is
   * in the invocations' registers); 2·(A+B)+C on a DMA scratchpad (double buffering).
   */
  blockBytes: number;
  capacity: number;
  /** CPU caches: the micro-panel (mr×k A, k×nr B, mr×nr C) in the level inside the home. */
  panel?: { level: number; name: string; bytes: number; capacity: number };
  /** SIMT: invocations per workgroup, (m/mr)·(n/nr), and the limit. */
  invocations?: { used: number; limit: number };
  fits: boolean;
}

type ElemSizes = Pick<GemmProblem, 'aBytes' | 'wBytes'>;
/** Accumulators are f32 (or i32) whatever the operand types. */
const ACC_BYTES = 4;

export function placeTile(sizes: ElemSizes, tile: Tiling, t: TargetCaps): TilePlacement {
  const levels = costLevels(t);
  const { pad, caches } = homes(t);
  const a = tile.m * tile.k * sizes.aBytes;
  const b = tile.k * tile.n * sizes.wBytes;
  const c = tile.m * tile.n * ACC_BYTES;
  if (pad >= 0) {
    const style = computeStyle(t);
    const blockBytes = style === 'simt' ? a + b : t.dma ? 2 * (a + b) + c : a + b + c;
    const capacity = levels[pad].tileCapacity;
    const inv = style === 'simt'
      ? { used: (tile.m / tile.mr) * (tile.n / tile.nr), limit: t.limits.maxWorkgroupInvocations ?? Infinity }
      : undefined;
    return {
      home: pad, homeName: levels[pad].name, blockBytes, capacity, invocations: inv,
      fits: blockBytes <= capacity && (!inv || inv.used <= inv.limit),
    };
  }
  const blockBytes = a + b + c;
  if (caches.length === 0) return { home: -1, homeName: 'none', blockBytes, capacity: 0, fits: false };
  const fit = caches.find((i) => blockBytes <= levels[i].tileCapacity);
  const home = fit ?? caches[caches.length - 1];
  const placement: TilePlacement = { home, homeName: levels[home].name, blockBytes, capacity: levels[home].tileCapacity, fits: fit !== undefined };
  if (home > 0) {
    const pbytes = tile.mr * tile.k * sizes.aBytes + tile.k * tile.nr * sizes.wBytes + tile.mr * tile.nr * ACC_BYTES;
    placement.panel = { level: 0, name: levels[0].name, bytes: pbytes, capacity: levels[0].tileCapacity };
    placement.fits &&= pbytes <= levels[0].tileCapacity;
  }
  return placement;
}

/**
 * Where blocks may live (indices into `costLevels`), derived once per capability sheet (the
 * tiler places thousands of candidate tiles): the scratchpad if there is one; else a core's
 * private caches (L2 on CPUs; L1 for small problems), or the shared ones (L3) only when there
 * is no private one.
 */
function homes(t: TargetCaps): { pad: number; caches: number[] } {
  let h = homeCache.get(t);
  if (!h) {
    const levels = costLevels(t);
    const all = levels.map((l, i) => ({ l, i })).filter(({ l }) => l.kind !== 'dram');
    const caches = (all.some(({ l }) => !l.shared) ? all.filter(({ l }) => !l.shared) : all).map(({ i }) => i);
    homeCache.set(t, (h = { pad: levels.findIndex((l) => l.kind === 'scratchpad'), caches }));
  }
  return h;
}

const homeCache = new WeakMap<TargetCaps, { pad: number; caches: number[] }>();

/** How the rows split into independent sub-GEMMs: `groups` experts of `padded` rows each. */
interface Split {
  groups: number;
  /** Real rows per group (may be fractional: an expectation). */
  real: number;
  /** Rows computed per group (real rows padded to the block). */
  padded: number;
}

function splitOf(p: GemmProblem, block: number): Split {
  if (p.kind !== 'grouped_gemm') return { groups: 1, real: p.rows, padded: p.rows };
  const groups = Math.max(activeExperts(p), p.rows > 0 ? 1 : 0);
  const real = groups > 0 ? p.rows / groups : 0;
  return { groups, real, padded: Math.ceil(real / block - 1e-9) * block };
}

/**
 * Bytes moved for one sub-GEMM with tm×tn tiles resident (Infinity: the whole problem).
 * `tk` (when given) is the k-block after which the accumulators are stored and reloaded:
 * only SIMD registers do that (a CPU micro-kernel runs once per k-block); GPU invocations
 * and a MAC array's scratchpad C tile keep their partial sums across the whole reduction.
 */
function traffic(p: GemmProblem, s: Split, tm: number, tn: number, tk?: number): number {
  const M = s.padded;
  const aMoves = tn === Infinity ? 1 : Math.ceil(p.n / tn);
  const bMoves = tm === Infinity ? 1 : Math.ceil(M / tm);
  const spills = tk === undefined ? 0 : 2 * (Math.ceil(p.depth / tk) - 1);
  const a = p.aBytes * M * p.depth * aMoves;
  const b = p.wBytes * p.depth * p.n * bMoves;
  const c = ACC_BYTES * M * p.n * spills + p.outBytes * s.real * p.outCols * (p.accumulate ? 2 : 1);
  return s.groups * (a + b + c);
}

/** Multiply efficiency of a tiling: edge fit × vector fit × issue efficiency (registers, k-block overhead) × core balance. */
export function computeEfficiency(p: GemmProblem, tile: Tiling, t: TargetCaps, s: Split = splitOf(p, tile.m)): number {
  const roundUp = (x: number, q: number): number => Math.ceil(x / q) * q;
  const M = Math.max(1, Math.ceil(s.padded));
  const edge = (M * p.n) / (roundUp(M, tile.mr) * roundUp(p.n, tile.nr));
  const v = Math.max(1, tile.vector);
  const vecFit = tile.nr / roundUp(tile.nr, v);
  let issue = 1;
  const style = computeStyle(t);
  if (style === 'simd') {
    const bv = Math.ceil(tile.nr / v);
    const accs = tile.mr * bv;
    issue = Math.min(1, accs / SIMD_ACCUMULATORS_FOR_PEAK) * Math.min(1, accs / (broadcastCost(t) * tile.mr + bv));
  } else if (style === 'simt') {
    const inv = (tile.m / tile.mr) * (tile.n / tile.nr);
    issue = Math.min(1, (tile.mr * tile.nr) / SIMT_ACCUMULATORS_FOR_PEAK) * Math.min(1, inv / SIMT_INVOCATIONS_FOR_PEAK);
  }
  const kSteps = Math.min(tile.k, p.depth);
  issue *= kSteps / (kSteps + K_BLOCK_OVERHEAD[style]);
  const tiles = Math.max(1, Math.ceil(s.groups * Math.ceil(M / tile.m)) * Math.ceil(p.n / tile.n));
  const cores = Math.max(1, t.cores);
  const balance = tiles / (Math.ceil(tiles / cores) * cores);
  return edge * vecFit * issue * balance;
}

function roofline(levels: CostLevel[], bytes: number[], flops: number, useful: number, peak: number, eff: number): KernelCost {
  const computeSeconds = flops / (peak * Math.max(eff, 1e-9));
  const levelSeconds = bytes.map((b, i) => (b === 0 ? 0 : b / levels[i].bandwidth));
  let seconds = computeSeconds;
  let bound = 'compute';
  levelSeconds.forEach((ls, i) => {
    if (ls > seconds) {
      seconds = ls;
      bound = levels[i].name;
    }
  });
  const main = bytes[bytes.length - 1];
  return {
    flops, usefulFlops: useful, levels: levels.map((l) => l.name), bytes, levelSeconds, computeSeconds, efficiency: eff, seconds, bound,
    intensity: main > 0 ? flops / main : Infinity,
  };
}

/**
 * Bytes each memory level serves for one sub-GEMM tiling, into `out[j]` (level j): the
 * tiler calls this for every candidate of every problem, so it allocates nothing.
 */
function splitBytes(p: GemmProblem, s: Split, tile: Tiling, t: TargetCaps, place: TilePlacement, out: number[] | Float64Array): void {
  const levels = costLevels(t);
  const footprint = p.aBytes * s.padded * p.depth + p.wBytes * p.depth * p.n + p.outBytes * s.real * p.outCols;
  const aPanel = p.aBytes * tile.m * p.depth;
  const bBlock = p.wBytes * tile.k * tile.n;
  // the registers are fed by level 0; the tile resident in level i decides what level i+1 serves
  out[0] = traffic(p, s, tile.mr, tile.nr, computeStyle(t) === 'simd' ? tile.k : undefined);
  for (let j = 1; j < levels.length; j++) {
    const i = j - 1;
    // rows × columns resident in level i (no tuples: this runs per candidate tile)
    let tm = tile.m;
    let tn = tile.n;
    if (place.home < 0) {
      tm = tile.mr;
      tn = tile.nr;
    } else if (i < place.home) tn = tile.nr;
    else if (i === place.home) tn = tile.n;
    else if (footprint <= levels[i].tileCapacity) tm = tn = Infinity;
    // the A row panel (m × all of K) stays while B streams past it: A once, B once per row block
    else if (aPanel + bBlock <= levels[i].tileCapacity) tn = Infinity;
    out[j] = traffic(p, s, tm, tn);
  }
}

function splitFlops(p: GemmProblem, s: Split): number {
  return s.groups * (2 * s.padded * p.n * p.depth) + s.groups * s.real * p.outCols * p.epilogueFlops + p.extraFlops;
}

function splitCost(p: GemmProblem, s: Split, tile: Tiling, t: TargetCaps, place = placeTile(p, tile, t)): KernelCost {
  const levels = costLevels(t);
  const bytes = levels.map(() => 0);
  splitBytes(p, s, tile, t, place, bytes);
  const useful = 2 * p.rows * p.n * p.depth + p.rows * p.outCols * p.epilogueFlops + p.extraFlops;
  return roofline(levels, bytes, splitFlops(p, s), useful, peakFlops(t, p.dtype), computeEfficiency(p, tile, t, s));
}

/** What the tiler ranks a tiling by: `gemmCost`'s `seconds` and the sum of its `levelSeconds`. */
export interface GemmTimes {
  seconds: number;
  levelSeconds: number;
}

/**
 * `gemmCost(p, tile, t, place)`'s seconds and summed level seconds, computed the same way
 * (the same operations in the same order, so the same numbers) without building the
 * KernelCost: `scratch` holds one number per memory level and `out` receives the result.
 * The tiler evaluates tens of thousands of candidates per compile with it.
 */
export function gemmTimes(p: GemmProblem, tile: Tiling, t: TargetCaps, place: TilePlacement, scratch: Float64Array, out: GemmTimes): GemmTimes {
  const levels = costLevels(t);
  const s = splitOf(p, tile.m);
  splitBytes(p, s, tile, t, place, scratch);
  let seconds = splitFlops(p, s) / (peakFlops(t, p.dtype) * Math.max(computeEfficiency(p, tile, t, s), 1e-9));
  let sum = 0;
  for (let i = 0; i < levels.length; i++) {
    const ls = scratch[i] === 0 ? 0 : scratch[i] / levels[i].bandwidth;
    if (ls > seconds) seconds = ls;
    sum += ls;
  }
  out.seconds = seconds;
  out.levelSeconds = sum;
  return out;
}

/**
 * The cost of a GEMM-like problem with a tiling (for a grouped GEMM: its sorted path, padding
 * to `tile.m`). `place` is `placeTile(p, tile, t)` when the caller has it already (the tiler).
 */
export function gemmCost(p: GemmProblem, tile: Tiling, t: TargetCaps, place?: TilePlacement): KernelCost {
  return splitCost(p, splitOf(p, tile.m), tile, t, place);
}

/**
 * A grouped GEMM's direct decode path: each (token, choice) pair is a GEMV that streams its
 * expert's weights from main memory (no reuse, no sort, no padding; a MAC array still
 * computes whole `mr`-row tiles).
 */
export function directDecodeCost(p: GemmProblem, tile: Tiling, t: TargetCaps): KernelCost {
  const style = computeStyle(t);
  const mr = style === 'mac' ? tile.mr : 1;
  // its own GEMV kernel: one row; SIMD: as many accumulator vectors as the registers hold;
  // SIMT: a full-occupancy workgroup over the columns (split over k when N is small)
  const v = Math.max(1, tile.vector);
  const nr = style === 'simd' ? v * Math.floor((simdRegisters(t) - 1) / 2) : tile.nr;
  const n = style === 'simt' ? nr * SIMT_INVOCATIONS_FOR_PEAK : Math.max(nr, Math.floor(tile.n / nr) * nr);
  const gemv: Tiling = { ...tile, m: mr, mr, nr, n, k: Math.max(tile.k, 256) };
  const s: Split = { groups: p.rows, real: 1, padded: 1 };
  const levels = costLevels(t);
  const perPair = traffic(p, s, Infinity, Infinity);
  const bytes = levels.map(() => perPair);
  const flops = 2 * p.rows * mr * p.n * p.depth + p.rows * p.outCols * p.epilogueFlops;
  const useful = 2 * p.rows * p.n * p.depth + p.rows * p.outCols * p.epilogueFlops;
  const eff = computeEfficiency(p, gemv, t, { ...s, padded: mr });
  return roofline(levels, bytes, flops, useful, peakFlops(t, p.dtype), eff);
}

// ---------------------------------------------------------------------------------------
// Streaming kernels (moe_align, ops)
// ---------------------------------------------------------------------------------------

/** A kernel that touches `footprint` bytes once: served by the innermost level that holds it all. */
export function streamCost(flops: number, footprint: number, t: TargetCaps, dtype: FlopsDType = 'f32'): KernelCost {
  const levels = costLevels(t);
  let at = levels.findIndex((l) => l.kind !== 'scratchpad' && footprint <= l.totalCapacity);
  if (at < 0) at = levels.length - 1;
  const bytes = levels.map((_, i) => (i === at ? footprint : 0));
  return roofline(levels, bytes, flops, flops, peakFlops(t, dtype), STREAM_EFFICIENCY);
}

/** Rows of a moe_align `sorted` buffer for concrete sizes: T·k + E·(block − 1), rounded up to whole blocks. */
export function alignedRows(tokens: number, k: number, experts: number, block: number): number {
  return Math.ceil((tokens * k + experts * (block - 1)) / block) * block;
}

/** The sort of moe_align: a counting sort of T·k slots into blocks (≈4 integer ops per slot, 2 per expert). */
export function alignCost(tokens: number, k: number, experts: number, block: number, t: TargetCaps): KernelCost {
  const rows = alignedRows(tokens, k, experts, block);
  const footprint = 4 * (tokens * k + rows + rows / block + 1 + experts);
  return streamCost(4 * tokens * k + 2 * experts, footprint, t);
}

/** An op kernel streams its operands once: the shared per-op FLOP count (`op-flops.ts`) over that footprint. */
function opCost(k: Extract<Kernel, { kind: 'op' }>, buf: Resolver, bindings: Bindings, t: TargetCaps): KernelCost {
  const shapeOf = (n: string): number[] => evalShape(buf(n).shape, bindings);
  const sizes: OpSizes = {
    inputs: k.inputs.map(shapeOf),
    outputs: k.outputs.map(shapeOf),
    inputBytes: k.inputs.map((n) => dtypeBytes(buf(n).dtype)),
    outputBytes: k.outputs.map((n) => dtypeBytes(buf(n).dtype)),
    attrs: k.attrs,
  };
  const decoder = decoderOpCost(k.op, sizes);
  // attention multiplies at its operands' rate (a bf16 program's on a chip's bf16 units)
  if (decoder) return streamCost(decoder.flops, decoder.bytes, t, k.inputs.length > 0 ? flopsDType(buf(k.inputs[0]!).dtype) : 'f32');
  const bytes = (shapes: number[][], elementBytes: number[]): number => shapes.reduce((s, x, i) => s + numel(x) * elementBytes[i], 0);
  return streamCost(opFlops(k.op, sizes), bytes(sizes.inputs, sizes.inputBytes) + bytes(sizes.outputs, sizes.outputBytes), t);
}

// ---------------------------------------------------------------------------------------
// Whole kernels and programs
// ---------------------------------------------------------------------------------------

/** A usable tiling for a kernel the tiler has not seen (cost estimates of untiled programs). */
export function defaultTiling(t: TargetCaps, dtype: DType = 'f32'): Tiling {
  const v = vectorElems(t, dtype);
  if (t.macArray) return { m: t.macArray.rows, n: t.macArray.cols, k: 64, mr: t.macArray.rows, nr: t.macArray.cols, vector: v };
  if (computeStyle(t) === 'simt') return { m: 16, n: 16, k: 16, mr: 2, nr: 4, vector: v };
  return { m: 4, n: 2 * v, k: 128, mr: 4, nr: 2 * v, vector: v };
}

/** The largest token count `decodeThreshold` evaluates (see there). */
export const DECODE_SCAN_LIMIT = 4096;

/**
 * The smallest token count from which a grouped GEMM's sorted path (moe_align + blocked
 * grouped GEMM: weights once per active expert, padding to the block, plus the sort) is
 * cheaper than the direct decode path (each (token, choice) pair streams its expert's
 * weights), and stays cheaper for every T up to `cap`. Both costs are evaluated for
 * T = 1..cap with the kernel's tiling (or `defaultTiling`). Returns a value in [1, cap + 1];
 * cap + 1 means the direct path wins everywhere up to the cap.
 *
 * Only T <= DECODE_SCAN_LIMIT is evaluated: the scan runs down from the top, so it is
 * linear in the cap, and `--max-tokens 2147483647` took hours. Above the limit the sorted
 * path is taken to keep winning if it wins at the limit (the direct path re-reads an
 * expert's weights per token, so its cost only grows faster with T).
 */
export function decodeThreshold(
  kernel: GroupedGemmKernel,
  target: TargetCaps,
  program: KProgram,
  opts: { cap?: number; bindings?: Bindings } = {},
): number {
  const cap = Math.max(1, opts.cap ?? 1024);
  const base = gemmProblem(kernel, program, { ...opts.bindings, [TOKENS]: 1 });
  const tile = kernel.tile ?? defaultTiling(target, bufferResolver(program)(kernel.a).dtype);
  let threshold = cap + 1;
  for (let T = Math.min(cap, DECODE_SCAN_LIMIT); T >= 1; T--) {
    const { sorted, direct } = decodePathCosts({ ...base, tokens: T, rows: T * base.slots }, tile, target);
    if (sorted < direct) threshold = T;
    else break;
  }
  return threshold;
}

/** Seconds of a grouped problem's sorted path (sort + blocked grouped GEMM) and of its direct path. */
export function decodePathCosts(p: GemmProblem, tile: Tiling, target: TargetCaps): { sorted: number; direct: number } {
  const sorted = gemmCost(p, tile, target).seconds + alignCost(p.tokens, p.slots, p.experts, tile.m, target).seconds;
  return { sorted, direct: directDecodeCost(p, tile, target).seconds };
}

/**
 * The cost of one kernel (one run) at a token count, with its current tiling. `buf` is the
 * program's buffer lookup: a caller costing every kernel builds it once and passes it (built
 * per kernel, it made costing a 20,000-kernel program quadratic: minutes).
 */
export function kernelCost(k: Kernel, p: KProgram, target: TargetCaps, tokens: number, bindings: Bindings = {}, buf = bufferResolver(p)): KernelCost {
  const b = { ...bindings, [TOKENS]: tokens };
  switch (k.kind) {
    case 'gemm':
    case 'router': {
      const prob = gemmProblem(k, p, b, buf);
      return gemmCost(prob, k.tile ?? defaultTiling(target, buf(k.kind === 'gemm' ? k.a : k.x).dtype), target);
    }
    case 'grouped_gemm': {
      const prob = gemmProblem(k, p, b, buf);
      const tile = k.tile ?? defaultTiling(target, buf(k.a).dtype);
      return tokens < k.sortedFromTokens ? directDecodeCost(prob, tile, target) : gemmCost(prob, tile, target);
    }
    case 'moe_align':
      return alignCost(evalShape(buf(k.indices).shape, b)[0] ?? 1, k.k, k.experts, k.block, target);
    case 'op':
      return opCost(k, buf, b, target);
    case 'attention':
    case 'mla_attention':
      return attentionCost(k, buf, b, target);
    case 'dispatch':
    case 'ep_combine': {
      // On this chip's memory only: the rows are copied into and out of the exchange buffers
      // (the links' time is the multi-chip cost model's).
      const rows = k.kind === 'dispatch' ? k.rows : k.results;
      const bytes = 4 * evalShape(buf(rows).shape, b).reduce((x, y) => x * y, 1);
      return streamCost(0, 2 * bytes, target);
    }
  }
}

/**
 * An attention kernel costs what the graph op does at its cached positions `past` (a state
 * cache's rows beyond them are not read); unbound (a program costed without L) it counts a
 * prefill from an empty cache.
 */
function attentionCost(k: AttentionKernel | MlaAttentionKernel, buf: Resolver, bindings: Bindings, t: TargetCaps): KernelCost {
  let past = 0;
  try {
    past = evalDim(k.past, bindings);
  } catch (e) {
    if (!(e instanceof DimError)) throw e;
  }
  // The graph op's operands in order, and which of them are caches.
  const [names, caches] =
    k.kind === 'attention' ? [[k.q, k.k, k.v, k.kCache, k.vCache, ...(k.sinks !== undefined ? [k.sinks] : [])], [3, 4]] : [[k.qNope, k.qPe, k.kv, k.kPe, k.kvCache, k.peCache, k.wkvB], [4, 5]];
  const inputs = names.map((n, i) => (caches.includes(i) ? [past, ...evalShape(buf(n).shape.slice(1), bindings)] : evalShape(buf(n).shape, bindings)));
  const sizes: OpSizes = {
    inputs,
    outputs: [evalShape(buf(k.out).shape, bindings)],
    inputBytes: names.map((n) => dtypeBytes(buf(n).dtype)),
    outputBytes: [dtypeBytes(buf(k.out).dtype)],
    attrs: { window: k.kind === 'attention' ? k.window : 0, form: k.schedule?.form },
  };
  const c = decoderOpCost(k.kind, sizes)!;
  // at its operands' rate, as the op's cost (opCost)
  return streamCost(c.flops, c.bytes, t, flopsDType(buf(names[0]).dtype));
}

export interface ProgramCostEntry {
  kind: Kernel['kind'];
  /** The kernel itself (for reports that describe it). */
  kernel: Kernel;
  /** `kind:first-output`, e.g. `grouped_gemm:h`. */
  label: string;
  /** Runs per forward pass (loop counts multiplied). */
  times: number;
  /** Totals over all runs: FLOPs executed (padding rows included), and the useful part. */
  flops: number;
  usefulFlops: number;
  /** Bytes from main memory. */
  bytes: number;
  seconds: number;
  bound: string;
  /** For a grouped GEMM: which path runs at this T. */
  path?: 'sorted' | 'direct';
}

export interface ProgramCost {
  flops: number;
  /** Bytes from main memory, and per level (innermost first). */
  bytes: number;
  levels: string[];
  bytesPerLevel: number[];
  seconds: number;
  perKernel: ProgramCostEntry[];
}

function labelOf(k: Kernel): string {
  const out = kernelBuffers(k).writes[0] ?? '';
  return `${k.kind === 'op' ? k.op : k.kind}:${out}`;
}

/**
 * The estimated cost of one forward pass at `tokens` tokens: kernels summed in order, loop
 * bodies times their count. A moe_align whose grouped GEMMs all take the direct path at this
 * T is skipped (the direct path does not sort).
 */
export function programCost(p: KProgram, target: TargetCaps, tokens: number, bindings: Bindings = {}): ProgramCost {
  const levels = costLevels(target).map((l) => l.name);
  const bytesPerLevel = levels.map(() => 0);
  const sortedUse = new Map<string, boolean>();
  forEachKernel(p.steps, (k) => {
    if (k.kind === 'grouped_gemm') sortedUse.set(k.sorted, (sortedUse.get(k.sorted) ?? false) || tokens >= k.sortedFromTokens);
  });
  const perKernel: ProgramCostEntry[] = [];
  const buf = bufferResolver(p);
  forEachKernel(p.steps, (k, times) => {
    if (k.kind === 'moe_align' && sortedUse.get(k.sorted) === false) return;
    const c = kernelCost(k, p, target, tokens, bindings, buf);
    c.bytes.forEach((b, i) => (bytesPerLevel[i] += b * times));
    perKernel.push({
      kind: k.kind, kernel: k, label: labelOf(k), times, flops: c.flops * times, usefulFlops: c.usefulFlops * times, bytes: c.bytes[c.bytes.length - 1] * times,
      seconds: c.seconds * times, bound: c.bound,
      ...(k.kind === 'grouped_gemm' ? { path: tokens < k.sortedFromTokens ? ('direct' as const) : ('sorted' as const) } : {}),
    });
  });
  const sum = (f: (e: ProgramCostEntry) => number): number => perKernel.reduce((s, e) => s + f(e), 0);
  return {
    flops: sum((e) => e.flops), bytes: bytesPerLevel[bytesPerLevel.length - 1], levels, bytesPerLevel,
    seconds: sum((e) => e.seconds), perKernel,
  };
}

