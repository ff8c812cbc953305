/**
 * @fileoverview FLOPs of a model, counted from its graph IR (before fusion, so each op is
 * counted as written): GEMMs 2·M·N·K (+ M·N for a bias), grouped (expert) GEMMs 2·rows·N·K
 * over the K·T routed token slots, every other op by the one per-op count (`op-flops.ts`,
 * shared with the cost model and the benchmark), `repeat` bodies times their count.
 *
 * Per token: the count at T tokens divided by T. *Decode* is one new token (T = 1);
 * *prefill* is the L tokens of a context of length L processed at once (T = L). The two
 * differ only where an op's work depends on the context (attention over a KV cache); for
 * an FFN stack they are equal. *Dense-equivalent* counts every routed GEMM as if each
 * token used all E experts instead of its K (rows × E/K): what a dense model with the same
 * parameters would do; the saving is 1 − actual / dense-equivalent.
 *
 * Any symbolic size other than T is the KV-cache length (the attention ops' cache operands
 * lead with it) unless the caller binds it: L − 1 cached positions for a decode step (the
 * new token is the L-th), none for a prefill.
 */
import { type Dim, isSym } from '../../ir/dims.ts';
import type { Module, Node } from '../../ir/graph/graph.ts';
import { TOKENS } from '../cost/cost.ts';
import { nodeSizes, opFlops } from '../cost/op-flops.ts';
import { forEachNode } from './walk.ts';

export interface FlopsCount {
  /** Dense GEMMs (attention projections, dense MLPs, shared experts, router, LM head). */
  gemm: number;
  /** Routed expert GEMMs. */
  routed: number;
  /** Attention over the cache and the new tokens (scores, softmax, weighted values). */
  attention: number;
  /** Everything else: norms, activations, softmax, selection, combine, rope. */
  other: number;
  total: number;
}

export interface CountOptions {
  /** Every routed GEMM as if each token used every expert (the dense equivalent). */
  allExperts?: boolean;
  /** Values of symbolic sizes; T is required. */
  bindings: Record<string, number>;
}

/** Where a node's FLOPs are reported. */
function kindOf(op: string): keyof Omit<FlopsCount, 'total'> {
  if (op === 'matmul' || op === 'moe_router') return 'gemm';
  if (op === 'grouped_matmul' || op === 'moe_experts') return 'routed';
  if (op === 'attention' || op === 'mla_attention') return 'attention';
  return 'other';
}

/** FLOPs of one node (not a repeat): the shared per-op count (`op-flops.ts`), scaled to every expert for the dense equivalent. */
function nodeFlops(n: Node, o: CountOptions): number {
  const flops = opFlops(n.op, nodeSizes(n, o.bindings), { allExperts: o.allExperts });
  return n.op === 'grouped_matmul' ? flops * routedScale(n.inputs[0].type.shape[0], n.inputs[1].type.shape[0], o) : flops;
}

/** Rows of a grouped GEMM are K·T slots; all experts active makes them E·T (scale E/K). */
function routedScale(rows: Dim, experts: Dim, o: CountOptions): number {
  if (!o.allExperts || isSym(experts)) return 1;
  const k = isSym(rows) && rows.terms.length === 1 && rows.c === 0 ? rows.terms[0][1] : undefined;
  return k !== undefined && k > 0 ? experts / k : 1;
}

/** FLOPs of one forward pass at the given bindings. */
export function countFlops(m: Module, o: CountOptions): FlopsCount {
  const acc: FlopsCount = { gemm: 0, routed: 0, attention: 0, other: 0, total: 0 };
  forEachNode(m, (n, times) => {
    if (n.op === 'weight' || n.op === 'const') return;
    acc[kindOf(n.op)] += nodeFlops(n, o) * times;
  });
  acc.total = acc.gemm + acc.routed + acc.attention + acc.other;
  return acc;
}

/** Binds T and, for every other symbolic size the caller left free, the cached length. */
export function contextBindings(m: Module, tokens: number, cached: number, given: Record<string, number> = {}): Record<string, number> {
  const b: Record<string, number> = { ...given, [TOKENS]: tokens };
  for (const d of m.dims) if (b[d.name] === undefined) b[d.name] = cached;
  return b;
}

export interface FlopsPerToken {
  /** One new token, the L-th of its context (L − 1 cached). */
  decode: number;
  /** Each of the L tokens of a prefill of length L. */
  prefill: number;
  /** Decode with every expert active. */
  denseEquivalent: number;
  /** 1 − decode / denseEquivalent. */
  saving: number;
  /** The decode count by kind. */
  decodeByKind: FlopsCount;
}

export function flopsPerToken(m: Module, context: number, bindings: Record<string, number> = {}): FlopsPerToken {
  const decodeAt = contextBindings(m, 1, context - 1, bindings);
  const decodeByKind = countFlops(m, { bindings: decodeAt });
  const prefill = countFlops(m, { bindings: contextBindings(m, context, 0, bindings) }).total / context;
  const denseEquivalent = countFlops(m, { bindings: decodeAt, allExperts: true }).total;
  const decode = decodeByKind.total;
  return { decode, prefill, denseEquivalent, saving: denseEquivalent > 0 ? 1 - decode / denseEquivalent : 0, decodeByKind };
}
