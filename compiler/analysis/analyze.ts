/**
 * @fileoverview `moec analyze`: what a model costs, from the same graph the compiler
 * compiles. One function, `analyzeModel`, returns an `Analysis`, a plain JSON-ready object
 * whose field names are stable (documented in docs/analyze.md; `schema` changes when a
 * field's meaning does):
 *
 *   params   total and active-per-token parameters, by component and by weight
 *   flops    per token: decode at context L, prefill of L, dense-equivalent, saving
 *   bytes    weight bytes a batch of N touches (per token), KV cache per token and for L
 *   memory   weight bytes at f32, bf16, fp8, i8, i4 (scales counted), chips of the target
 *   kernels  per kernel on the target at T = N: FLOPs, bytes, intensity, bound, time
 *
 * Units: counts and FLOPs are plain numbers, bytes are bytes, times are seconds.
 */
import { shapeToString } from '../../ir/dims.ts';
import type { Module } from '../../ir/graph/graph.ts';
import type { ImportResult } from '../import/index.ts';
import type { TargetCaps } from '../target/caps.ts';
import { type KvCache, type WeightTraffic, kvCache, weightTraffic } from './bytes.ts';
import { type FlopsPerToken, contextBindings, countFlops, flopsPerToken } from './flops.ts';
import { type KernelAnalysis, analyzeKernels } from './kernels.ts';
import { type MemoryRow, STORAGE_DTYPES, type StorageDType, deviceCapacity, memoryTable } from './memory.ts';
import { type ComponentSummary, summarizeParams } from './params.ts';
import { type ClusterAnalysis, analyzeCluster } from './cluster.ts';
import { type TrainingCost, trainingCost } from './train.ts';
import type { Cluster } from '../target/cluster.ts';

export const ANALYSIS_SCHEMA = 'moec-analyze/1';

/** Defaults: one decoded token, a 4096-token context. */
export const DEFAULT_TOKENS = 1;
export const DEFAULT_CONTEXT = 4096;
/** Largest context `--context` takes (2^24 positions: beyond any shipped model's window). */
export const MAX_CONTEXT = 2 ** 24;

export interface AnalyzeOptions {
  /** Costs per kernel and chips need a target; without one those parts are null. */
  target?: TargetCaps;
  /** Batch size N: tokens per forward pass (default 1). */
  tokens?: number;
  /** Context length L (default 4096). */
  context?: number;
  /** Storage dtype for bytes per token and KV cache (default: the model's weight dtype, f32 or bf16). */
  dtype?: StorageDType;
  /** Values of symbolic sizes other than T and the cache length. */
  bindings?: Record<string, number>;
  /** What the importer reported when the model came from a config.json. */
  imported?: ImportedFrom;
  /** Expert parallelism over `chips` chips of `cluster` (its chip is `target`). */
  cluster?: Cluster;
  chips?: number;
  /** Redundant expert copies (default: the free slots), expected tokens per expert per MoE layer (uniform when absent). */
  redundant?: number;
  expertLoad?: (router: string, experts: number) => readonly number[] | undefined;
  /** Cost N = 1, 2, 4, … chips too (the `--svg` chart). */
  scaling?: boolean;
  /** Training cost of `tokens` tokens at model FLOPs utilisation `mfu` on `target`'s chips. */
  train?: { tokens: number; mfu: number };
}

/** A config.json's architecture, and what the main graph leaves out (DeepSeek-V3's multi-token-prediction layers). */
export interface ImportedFrom {
  architecture: string;
  modelType: string;
  /** MTP layers and their own parameters (not in `params`: the main model is counted as papers count it). */
  mtp: { layers: number; params: number } | null;
  /** The checkpoint's storage quantization (reported by the config; `memory` shows every dtype). */
  quantization: string | null;
  /** The config's `torch_dtype`: the default storage dtype of the analysis (see `TORCH_DTYPES`). */
  torchDtype: string | null;
}

export function importedFrom(r: ImportResult): ImportedFrom {
  return { architecture: r.architecture, modelType: r.modelType, mtp: r.mtp ?? null, quantization: r.quantization ?? null, torchDtype: r.torchDtype ?? null };
}

/**
 * A config's torch_dtype as a storage dtype of the tables. float16 is sized as bf16: the
 * figures are bytes, and both are 2 bytes a weight.
 */
const TORCH_DTYPES: Record<string, StorageDType> = { float32: 'f32', float: 'f32', bfloat16: 'bf16', float16: 'bf16', half: 'bf16' };

export interface Analysis {
  schema: typeof ANALYSIS_SCHEMA;
  model: string;
  options: { target: string | null; tokens: number; context: number; dtype: StorageDType };
  /** Set when the model was imported from a config.json. */
  imported: ImportedFrom | null;
  params: {
    total: number;
    activePerToken: number;
    /** activePerToken / total. */
    activeFraction: number;
    components: ComponentSummary[];
    weights: Array<{ name: string; component: string; dtype: string; shape: string; params: number; activePerToken: number; experts?: number; k?: number }>;
  };
  flops: FlopsPerToken;
  bytes: { dtype: StorageDType; weights: WeightTraffic; kvCache: KvCache };
  memory: { capacityBytes: number | null; rows: MemoryRow[] };
  kernels: KernelAnalysis | null;
  /** With `--chips N`: the model over N chips of a cluster (`cluster.ts`). */
  cluster: ClusterAnalysis | null;
  /** With `--train-tokens`: training FLOPs and chip-hours (`train.ts`). */
  training: TrainingCost | null;
}

/** The model's own storage dtype when it is one of the table's, else f32. */
function modelDType(m: Module): StorageDType {
  const ds = new Set(m.weights.map((w) => w.type.dtype as string));
  return ds.size === 1 && (STORAGE_DTYPES as readonly string[]).includes([...ds][0]) ? ([...ds][0] as StorageDType) : 'f32';
}

/** KV-cache values are activations: f32 when the weights are, bf16 otherwise (quantized weights keep a bf16 cache). */
function kvElementBytes(d: StorageDType): number {
  return d === 'f32' ? 4 : 2;
}

export function analyzeModel(m: Module, opts: AnalyzeOptions = {}): Analysis {
  const tokens = opts.tokens ?? DEFAULT_TOKENS;
  const context = opts.context ?? DEFAULT_CONTEXT;
  // An imported config's checkpoint is stored as its torch_dtype says (bf16 for most), not
  // as the f32 graph the importer writes.
  const torch = opts.imported?.torchDtype;
  const dtype = opts.dtype ?? (torch ? TORCH_DTYPES[torch.replace(/^torch\./, '')] : undefined) ?? modelDType(m);
  const p = summarizeParams(m);
  const kv = kvCache(m, context, kvElementBytes(dtype));
  const flops = flopsPerToken(m, context, opts.bindings);
  return {
    schema: ANALYSIS_SCHEMA,
    model: m.name,
    options: { target: opts.target?.name ?? null, tokens, context, dtype },
    imported: opts.imported ?? null,
    params: {
      total: p.total,
      activePerToken: p.activePerToken,
      activeFraction: p.total > 0 ? p.activePerToken / p.total : 0,
      components: p.components,
      weights: p.weights.map((w) => ({
        name: w.name, component: w.component, dtype: w.type.dtype, shape: shapeToString(w.type.shape), params: w.params, activePerToken: w.activePerToken,
        ...(w.experts !== undefined ? { experts: w.experts, k: w.k } : {}),
      })),
    },
    flops,
    bytes: { dtype, weights: weightTraffic(p.weights, tokens, dtype), kvCache: kv },
    memory: { capacityBytes: opts.target ? deviceCapacity(opts.target) : null, rows: memoryTable(p.weights, opts.target, kv.bytesForContext) },
    // the compiled forward pass: N new tokens after L − 1 cached positions
    kernels: opts.target ? analyzeKernels(m, opts.target, tokens, contextBindings(m, tokens, context - 1, opts.bindings)) : null,
    cluster: opts.cluster && opts.chips !== undefined
      ? analyzeCluster(m, {
        cluster: opts.cluster, chips: opts.chips, tokens, context, dtype, ...(opts.bindings ? { bindings: opts.bindings } : {}),
        ...(opts.redundant !== undefined ? { redundant: opts.redundant } : {}), ...(opts.expertLoad ? { expertLoad: opts.expertLoad } : {}), scaling: opts.scaling ?? false,
      })
      : null,
    training: opts.train && opts.target ? trainingCost({ ...opts.train, context, prefill: countFlops(m, { bindings: contextBindings(m, context, 0, opts.bindings) }), chip: opts.target }) : null,
  };
}
