/**
 * @fileoverview The kernel IR: the fused, tiled program that backends render.
 *
 * A `KProgram` is a list of buffers and a list of steps. Each step is a kernel (described
 * once, target-neutrally: what it computes, its operands, its tiling and its epilogue
 * chain) or a loop over a list of steps (a graph-IR `repeat`: the same kernels per layer,
 * with stacked weights sliced per iteration). Backends make no scheduling decisions: tile
 * sizes, the vector ISA, cache blocking, DMA staging, thread splits and workgroup sizes, the
 * decode-vs-sorted threshold, the decode path's panel streams and the quantized decode form
 * come from the tiler, buffer offsets from the memory planner, and the math of each kernel
 * kind is defined once here and in the kernel interpreter (`kinterp.ts`).
 *
 * Buffers are named; shapes may use the symbolic token count `T` (and other dims), which
 * the memory planner bounds by `maxTokens`. Weights are the graph module's weights after
 * packing: `pack` is a graph-IR function of the module weights that returns the packed
 * weights the kernels read (e.g. gate and up projections concatenated into one matrix, a
 * shared expert appended as extra experts), run once at load time.
 */
import type { Dim } from '../dims.ts';
import type { Attrs, Module } from '../graph/graph.ts';
import type { ActQuant } from '../quant.ts';
import type { DType } from '../types.ts';
import type { AttentionKernel } from './attention.ts';
import type { MlaAttentionKernel } from './mla.ts';
import type { ExpertPlacement } from './placement.ts';

/**
 * `state`: persistent state the compiled model owns between calls (a KV cache; sized by the
 * context bound, see `attention.ts`): neither an input nor arena scratch, never poisoned.
 */
export type BufferKind = 'input' | 'output' | 'weight' | 'temp' | 'state';
/** Every buffer kind (for the text parser and the verifier). */
export const BUFFER_KINDS: readonly BufferKind[] = ['input', 'output', 'weight', 'temp', 'state'];

export interface KBuffer {
  name: string;
  dtype: DType;
  shape: Dim[];
  kind: BufferKind;
  /**
   * Arena offset in bytes (temps and outputs; set by the memory planner), affine in the token
   * count: a·T + b, valid for every T up to `maxTokens` (see `memory.ts`).
   */
  offset?: Dim;
  /** Bytes reserved, affine in T and at least the shape's size at every T (set by the memory planner). */
  bytes?: Dim;
  /** The arena part (binding) the buffer lives in, when the planner split the arena (`KProgram.arenaParts`). */
  part?: number;
  /**
   * A quantized weight (dtype i8, i4 or fp8e4m3; exact meaning in `quant.ts`): the f32
   * weight buffer holding its scales, the reduction axis (non-negative) and the group size
   * along it. Kernels dequantize in registers; no dequantized copy exists in memory.
   * `act` (`TypeQuant.act`, defined in `quant.ts`): the GEMMs (and a router's shared gate)
   * reading this weight round their activation operand to int8 blocks of 32 first.
   */
  quant?: { scales: string; axis: number; group: number; act?: ActQuant };
}

/**
 * The vector instruction set a program's kernels are written in, chosen by the tiler from
 * the target's capabilities (one per program: one object file or module has one feature set):
 * - `avx2`, `avx512`: x86 AVX2 + FMA (8 f32 lanes), AVX-512F (16) — C micro-kernels in intrinsics;
 * - `simd128`: WebAssembly SIMD128 (4 lanes);
 * - `vec4`: WGSL vec4<f32> (4 lanes per invocation);
 * - `scalar`: no vectors (the Wasm scalar build);
 * - `portable`: no vector ISA named; portable C that the target's own compiler vectorises.
 */
export type VectorKind = 'avx2' | 'avx512' | 'simd128' | 'vec4' | 'scalar' | 'portable';

/** f32 lanes of each vector kind (`portable`: whatever the target's compiler picks). */
export const VECTOR_LANES: Readonly<Record<VectorKind, number | undefined>> = {
  avx2: 8,
  avx512: 16,
  simd128: 4,
  vec4: 4,
  scalar: 1,
  portable: undefined,
};

export const VECTOR_KINDS = Object.keys(VECTOR_LANES) as VectorKind[];

/**
 * The vector kinds of the C backend, whose glu micro-tile holds gate and up columns side by
 * side in one weight panel: a glu tile's nr is even there.
 */
export const GLU_PAIRED_KINDS: ReadonlySet<VectorKind> = new Set<VectorKind>(['avx2', 'avx512', 'portable']);

/**
 * How a quantized GEMM's decode path (T below `sorted_from_tokens`, one row against several
 * panels) applies the scales: `group_sum` sums a[k] · decode(code) over a scale group and
 * scales the partial sum once (one multiply per vector less; the same sum rounded
 * differently); `scale_each` forms every weight as decode(code) · scale first, as the
 * interpreter does.
 */
export type QuantDecodeForm = 'group_sum' | 'scale_each';

export const QUANT_DECODE_FORMS: readonly QuantDecodeForm[] = ['group_sum', 'scale_each'];

/**
 * How a kernel's work is spread over threads where the backend does not derive it from the
 * tile (set by the tiler, per backend):
 * - `minElems` (C, elementwise and row-wise ops): each thread gets at least this many output
 *   elements, since starting a thread costs more than a smaller share saves; absent: one thread;
 * - `workgroup` (WGSL): invocations per workgroup of the kernel's row-, slot- or token-wise
 *   shaders (an op's, the router's and its capacity pass, moe_align's, a grouped GEMM's
 *   decode path and combine pass; the tiled GEMM's follows from its tile), a power of two
 *   (the shaders reduce in trees).
 */
export interface KernelThreads {
  minElems?: number;
  workgroup?: number;
}

/** Tile sizes and schedule of a GEMM-like kernel, chosen by the tiler from the target's caps. */
export interface Tiling {
  /** Rows (tokens) per tile; also the padding block of `moe_align`. */
  m: number;
  /** Output columns per tile. */
  n: number;
  /** Reduction depth per tile. */
  k: number;
  /** Register micro-tile: rows × columns of accumulators. */
  mr: number;
  nr: number;
  /** Elements per vector (1 when scalar). */
  vector: number;
  /**
   * Cache blocking of the CPU kernels (the C backend's; absent elsewhere): rows of A per pass
   * (a whole number of mr; for a grouped GEMM, the padding block in micro-tiles), depth
   * chunk `kc` (a chunk of the rows and of one panel stay in L1 while every micro-tile uses
   * them) and weight panels of nr columns per pass, so that rows × panels × nr accumulators
   * fit the kernel's accumulator block.
   */
  rows?: number;
  kc?: number;
  panels?: number;
  /**
   * Rows of one expert a grouped GEMM computes per pass over that expert's weights (the Wasm
   * kernels'; absent elsewhere): a whole number of padding blocks m. moe_align lays an
   * expert's blocks side by side, so up to `pass` rows of them share one read of the weights
   * instead of one read per block.
   */
  pass?: number;
  /**
   * `dma`: the weight tiles (kc-deep chunks of a panel) are double-buffered into a
   * software-managed scratchpad by DMA, the next chunk loading while the kernel computes on
   * this one (the NPU's 2(A+B)+C placement). Absent: read in place through the caches.
   */
  stage?: 'dma';
  /**
   * Weight panels the decode path reads at once, one memory stream each: a grouped GEMM's (T
   * below `sorted_from_tokens`, one row at a time) and, on the C backend, a dense GEMM's when
   * it has one row (the LM head at T = 1). The C backend's; on Wasm, the weight columns of
   * W [N, Kd] a grouped GEMM's one-row micro-tile covers; absent elsewhere.
   */
  streams?: number;
  /** A quantized weight's decode-path form (see `QuantDecodeForm`); absent for f32 weights. */
  qdecode?: QuantDecodeForm;
  /** Bytes ahead each decode-path panel stream is software-prefetched (absent: none). */
  prefetch?: number;
  /** Why: bytes moved per level, arithmetic intensity, the level the tile is sized for. */
  note?: string;
}

/**
 * An epilogue step, applied to the GEMM accumulator tile before (or as) the store, in
 * order. Kernels carry them as data; backends render one partial per kind.
 */
export type Epilogue =
  /** acc += bias[e][n] (grouped) or bias[n] (dense). */
  | { kind: 'bias'; bias: string }
  /** acc = act(acc) elementwise: relu, silu, gelu (erf), gelu_tanh, sigmoid. */
  | { kind: 'act'; fn: 'relu' | 'silu' | 'gelu' | 'gelu_tanh' | 'sigmoid' }
  /**
   * Gated linear unit over paired columns: the N columns hold gate and up halves, either
   * `concat` ([gate 0..F | up 0..F]) or `interleaved` (g0 u0 g1 u1 ...); the output has N/2
   * columns. `swiglu`: silu(g) * u. `swiglu_clamped` (GPT-OSS): g = min(g, limit),
   * u = clamp(u, -limit, limit), (u + 1) * g * sigmoid(alpha * g).
   */
  | { kind: 'glu'; fn: 'swiglu' | 'swiglu_clamped'; layout: 'concat' | 'interleaved'; limit?: number; alpha?: number }
  /**
   * The MoE combine: row r of a grouped GEMM belongs to token slot s = sorted[r]
   * (token s / K, choice s % K); out[t] = init[t] + Σ_{k=0..K-1} weights[t, k] * row(t*K + k),
   * summed in choice order k (so every backend can be deterministic), then the residual
   * `init` (or 0) added. Padding rows and dropped slots (-1) add nothing.
   */
  | { kind: 'combine'; weights: string };

/** The names an epilogue step may take (for the text parser and the verifier). */
export const ACT_FNS = ['relu', 'silu', 'gelu', 'gelu_tanh', 'sigmoid'] as const satisfies ReadonlyArray<Extract<Epilogue, { kind: 'act' }>['fn']>;
export const GLU_FNS = ['swiglu', 'swiglu_clamped'] as const satisfies ReadonlyArray<Extract<Epilogue, { kind: 'glu' }>['fn']>;
export const GLU_LAYOUTS = ['concat', 'interleaved'] as const satisfies ReadonlyArray<Extract<Epilogue, { kind: 'glu' }>['layout']>;

/**
 * The router: one kernel for the whole routing chain.
 * logits = x @ wᵀ (+ bias); scores = score(logits); selection uses scores (+ select_bias);
 * `topk` or DeepSeek `group_topk`; the chosen weights are the scores (or logits) at the
 * chosen experts, optionally softmaxed over the chosen (GPT-OSS), normalised to sum 1,
 * scaled; Switch's capacity drops slots past capacity (index -1). Shared experts appear as
 * `shared` extra experts E..E+S-1 that every token selects, with weight 1 or
 * sigmoid(x · shared_gate).
 */
export interface RouterKernel {
  kind: 'router';
  x: string;
  w: string;
  bias?: string;
  selectBias?: string;
  sharedGate?: string;
  /** i32[T, K + shared]. */
  indices: string;
  /** f32[T, K + shared]. */
  weights: string;
  experts: number;
  k: number;
  score: 'softmax' | 'sigmoid' | 'none';
  select: { kind: 'topk' } | { kind: 'group_topk'; groups: number; topkGroups: number; groupScore: 'sum_top2' | 'max' };
  /**
   * Softmax over the chosen weights (GPT-OSS). The chosen weights themselves are always the
   * scores (after `score`) at the chosen experts, never including the select bias.
   */
  postSoftmax: boolean;
  normalize: boolean;
  scale: number;
  capacityFactor?: number;
  shared: number;
  tile?: Tiling;
  threads?: KernelThreads;
}

/**
 * Groups token slots by expert into blocks of `block` rows (like vLLM's
 * moe_align_block_size): `sorted[r]` is a slot id (t*K + k) or -1 for padding; each block
 * belongs to one expert (`blockExpert[b]`, -1 for unused blocks); `count[0]` is the number
 * of used rows (a multiple of `block`). Experts no token chose get no block.
 */
export interface MoeAlignKernel {
  kind: 'moe_align';
  indices: string;
  experts: number;
  k: number;
  block: number;
  /** i32[T*K + E*(block-1)] rounded up to a whole number of blocks. */
  sorted: string;
  /** i32[number of blocks]. */
  blockExpert: string;
  /** i32[1]. */
  count: string;
  threads?: KernelThreads;
}

/**
 * `K` here and in `moe_align` is the number of columns of the router's `indices`: the
 * routed `k` plus any `shared` experts.
 *
 * A grouped GEMM over the aligned blocks: for each used block b with expert e and each row
 * r in it, A-row = `gather` ? x[sorted[r] / K] : a[r]; acc = A-row · w[e] (w is
 * [E, N, Kd] with `transB`, else [E, Kd, N]); then the epilogues; the result row is stored
 * at `out[r]` (or scattered by a `combine` epilogue into `out[token]`).
 * `decode`: below `sortedFromTokens` tokens the kernel walks the (token, choice) pairs
 * directly, with no sort; the cost model picks the threshold.
 */
export interface GroupedGemmKernel {
  kind: 'grouped_gemm';
  a: string;
  /** A rows are gathered from the token matrix through the sorted slots. */
  gather: boolean;
  w: string;
  transB: boolean;
  sorted: string;
  blockExpert: string;
  count: string;
  k: number;
  out: string;
  /** With a combine epilogue: the buffer `out` starts from (a residual), else zero. */
  init?: string;
  epilogue: Epilogue[];
  /**
   * Token count from which the sorted path is used (below it: the direct decode path).
   * Rows of a non-combining output are laid out per sorted row on the sorted path and per
   * slot (t*K + k) on the direct path, so every grouped GEMM sharing a `sorted` buffer has
   * the same threshold (the kernel IR verifier checks it).
   */
  sortedFromTokens: number;
  indices: string;
  tile?: Tiling;
  threads?: KernelThreads;
}

/** A dense GEMM: out = a @ w (w [Kd, N], or [N, Kd] with transB) then the epilogues. */
export interface GemmKernel {
  kind: 'gemm';
  a: string;
  w: string;
  transB: boolean;
  out: string;
  epilogue: Epilogue[];
  tile?: Tiling;
  threads?: KernelThreads;
}

/** Any other graph op, one kernel each: rmsnorm, softmax, reductions, gather, elementwise. */
export interface OpKernel {
  kind: 'op';
  op: string;
  attrs: Attrs;
  inputs: string[];
  outputs: string[];
  threads?: KernelThreads;
}

/**
 * Expert parallelism, the first all-to-all (the program runs once per rank, SPMD; every rank
 * has the same T): each routed choice s = t*K + k of this rank's tokens goes to the rank that
 * serves it (`copyFor` of the placement `placement`, the choice number being s), a shared
 * expert's choice (column k >= `routed`) stays on this rank, a dropped one (-1) goes nowhere.
 * Rows are sent grouped by destination rank, in slot order; each rank receives them grouped
 * by source rank, in the order sent, into `rows` (f32[M*T, D], M = ranks * routed + shared,
 * the most any rank can receive), with each row's LOCAL expert in `local` (i32[M*T, 1]: its
 * slot on this rank, or slotsPerRank + j for shared expert j; -1 past the received rows) and
 * its routing weight in `rweights` (f32[M*T, 1]). `plan` (i32[T*K + 2*ranks]) keeps where
 * each slot's row went (its index in the send order, or -1) and the counts sent to and
 * received from each rank, for the return trip. The expert kernels then run on the received
 * rows as M*T "tokens" of one choice each, with the routing weights applied (combine with
 * `rweights`), so a result row is weight × expert(row) exactly as one chip computes it.
 */
export interface DispatchKernel {
  kind: 'dispatch';
  x: string;
  indices: string;
  weights: string;
  rows: string;
  local: string;
  rweights: string;
  plan: string;
  /** Name of the placement (`KProgram.ep.placements`) that says which rank serves which expert. */
  placement: string;
  /** Columns of `indices`: the routed k plus the shared experts. */
  k: number;
  /** The routed choices among them (the first `routed` columns). */
  routed: number;
  /** A micro-batch: only tokens floor(index*T/of) .. floor((index+1)*T/of)-1 (absent: all). */
  part?: MicroBatch;
  /** Half of the exchange (absent: both): `start` routes and posts the all-to-all, `finish` waits for it and stores; steps between them overlap it. */
  phase?: ExchangePhase;
  threads?: KernelThreads;
}

/** One of `of` micro-batches of the tokens (see `DispatchKernel.part`). */
export interface MicroBatch {
  index: number;
  of: number;
}

export type ExchangePhase = 'start' | 'finish';
export const EXCHANGE_PHASES: readonly ExchangePhase[] = ['start', 'finish'];

/**
 * Expert parallelism, the second all-to-all and the combine: the weighted result rows
 * (`results`, f32[M*T, D], in the order `dispatch` received them) go back to the ranks that
 * sent them, then out[t] = init[t] + Σ_{k = 0..K-1} result(t*K + k) over the slots that have
 * a row, summed in choice order k as the single-chip combine does (0 without `init`).
 */
export interface EpCombineKernel {
  kind: 'ep_combine';
  results: string;
  plan: string;
  out: string;
  init?: string;
  placement: string;
  k: number;
  /** The micro-batch whose rows these are (as its dispatch's). */
  part?: MicroBatch;
  /** `start` posts the return all-to-all, `finish` waits and combines (absent: both). */
  phase?: ExchangePhase;
  threads?: KernelThreads;
}

export type Kernel = RouterKernel | MoeAlignKernel | GroupedGemmKernel | GemmKernel | OpKernel | DispatchKernel | EpCombineKernel | AttentionKernel | MlaAttentionKernel;

/**
 * A loop: the graph IR's `repeat`. Iteration i runs `body` with each stacked buffer in
 * `slices` viewed at index i along its leading axis (`slice` is the per-iteration view's
 * name inside the body); `carried` pairs are copied (or aliased) from the body's result to
 * its input before the next iteration.
 */
export interface LoopStep {
  kind: 'loop';
  count: number;
  slices: Array<{ stacked: string; slice: string }>;
  carried: Array<{ from: string; to: string }>;
  /** Copies made once before the first iteration: the caller's values into the carried buffers. */
  init?: Array<{ from: string; to: string }>;
  body: Step[];
}

export type Step = Kernel | LoopStep;

/** One placed group of experts (an MoE layer, or every iteration of a loop of them). */
export interface EpPlacement {
  name: string;
  /** Routed experts of the layer (shared experts, E..E+shared-1 in the packed stacks, are on every rank). */
  experts: number;
  shared: number;
  placement: ExpertPlacement;
  /**
   * The weight buffers stacked by expert and the axis of the expert: `pack` computes the whole
   * stack (experts + shared along `axis`), the buffer holds one rank's part (slotsPerRank +
   * shared along `axis`: its slots in order, an empty slot zeros, then the shared experts).
   */
  weights: Array<{ buffer: string; axis: number }>;
}

/** Expert parallelism: the program is one rank's of `ranks`, each holding its placed experts. */
export interface ExpertParallel {
  ranks: number;
  placements: EpPlacement[];
}

export interface KProgram {
  name: string;
  /** The graph module: its weights (with checkpoint names) and the `pack` function. */
  module: Module;
  /** Name of the graph function that computes packed weights from module weights. */
  pack: string;
  buffers: KBuffer[];
  steps: Step[];
  /** Model inputs and outputs, by graph name → buffer name. */
  inputs: Array<{ name: string; buffer: string }>;
  outputs: Array<{ name: string; buffer: string }>;
  /** The token bound: every call takes T in 1..maxTokens (recorded by lowering; the tiler, the planner and the backends read it). */
  maxTokens?: number;
  /** The context bound: positions a state cache holds (the largest L + T); set by lowering with caches as state. */
  maxContext?: number;
  /** The vector instruction set the kernels are written in (set by the tiler). */
  isa?: VectorKind;
  /** Expert parallelism over several ranks (the `distribute-experts` pass); absent: one chip. */
  ep?: ExpertParallel;
  /**
   * Arena size in bytes after planning, affine in T (an upper bound of `arenaBytesAt` at
   * every T; the sum of the parts when split), and the naive sum of all temp buffers at
   * `maxTokens`.
   */
  arenaBytes?: Dim;
  naiveBytes?: number;
  /**
   * The arena split into parts, each its own buffer of at most the target's storage binding
   * size at `maxTokens` where one buffer allows it (WebGPU): each part's bytes, affine in T.
   * Absent: one part.
   */
  arenaParts?: Dim[];
}
