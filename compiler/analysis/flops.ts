/**
 * @fileoverview FLOPs of a model, counted from its graph IR (before fusion, so each op is
 * counted as written): GEMMs 2·M·N·K (+ M·N for a bias), grouped (expert) GEMMs 2·rows·N·K
 * over the K·T routed token slots, elementwise ops and reductions by the cost model's
 * per-element table (`OP_FLOPS`), `repeat` bodies times their count.
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
import { type Dim, evalShape, isSym } from '../../ir/dims.ts';
import type { Module, Node } from '../../ir/graph/graph.ts';
import { ACT_FLOPS, OP_FLOPS, REDUCTIONS, TOKENS } from '../cost/cost.ts';
import { decoderOpCost } from '../cost/attention.ts';
import { dtypeBytes } from '../../ir/types.ts';
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

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

const GLU_FLOPS: Record<string, number> = { swiglu: 6, swiglu_clamped: 10 };
/** FLOPs of one node (not a repeat), by kind. */
function nodeFlops(n: Node, o: CountOptions): { kind: keyof Omit<FlopsCount, 'total'>; flops: number } {
  const shape = (d: readonly Dim[]): number[] => evalShape(d, o.bindings);
  const out = n.outputs[0] ? shape(n.outputs[0].type.shape) : [];
  switch (n.op) {
    case 'matmul': {
      const a = shape(n.inputs[0].type.shape);
      const depth = a[a.length - 1];
      return { kind: 'gemm', flops: 2 * numel(out) * depth + (n.inputs[2] ? numel(out) : 0) };
    }
    case 'grouped_matmul': {
      const xs = shape(n.inputs[0].type.shape);
      const flops = 2 * numel(out) * xs[1] + (n.inputs[3] ? numel(out) : 0);
      return { kind: 'routed', flops: flops * routedScale(n.inputs[0].type.shape[0], n.inputs[1].type.shape[0], o) };
    }
    case 'moe_experts': {
      const [tokens, k] = shape(n.inputs[1].type.shape);
      const win = shape(n.inputs[3].type.shape);
      const wout = shape(n.inputs[4].type.shape);
      const act = String(n.attrs.act);
      const hidden = wout[1] * wout[2] / out[1];
      const perSlot = 2 * (win[1] * win[2] + wout[1] * wout[2]) + hidden * (GLU_FLOPS[act] ?? ACT_FLOPS[act] ?? 0) + 2 * out[1];
      const slots = tokens * (o.allExperts ? win[0] : k);
      return { kind: 'routed', flops: slots * perSlot };
    }
    case 'moe_router': {
      const x = shape(n.inputs[0].type.shape);
      const w = shape(n.inputs[1].type.shape);
      return { kind: 'gemm', flops: 2 * x[0] * w[0] * w[1] + x[0] * w[0] * 8 };
    }
    case 'moe_combine':
      // a multiply-add per element of each routed row
      return { kind: 'other', flops: 2 * numel(shape(n.inputs[0].type.shape)) };
    case 'glu':
      return { kind: 'other', flops: numel(out) * (GLU_FLOPS[String(n.attrs.fn)] ?? 6) };
    default: {
      // embedding, rope, attention, mla_attention: the cost model's exact counts
      const decoder = decoderOpCost(n.op, {
        inputs: n.inputs.map((v) => shape(v.type.shape)),
        outputs: n.outputs.map((v) => shape(v.type.shape)),
        inputBytes: n.inputs.map((v) => dtypeBytes(v.type.dtype)),
        outputBytes: n.outputs.map((v) => dtypeBytes(v.type.dtype)),
        attrs: n.attrs,
      });
      if (decoder) return { kind: n.op.endsWith('attention') ? 'attention' : 'other', flops: decoder.flops };
      const per = OP_FLOPS[n.op] ?? 0;
      const elems = REDUCTIONS.has(n.op) ? numel(shape(n.inputs[0].type.shape)) : numel(out);
      return { kind: 'other', flops: per * elems };
    }
  }
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
    const { kind, flops } = nodeFlops(n, o);
    acc[kind] += flops * times;
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
