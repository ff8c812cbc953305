/**
 * @fileoverview Bytes per token: the weights a batch touches, and the KV cache.
 *
 * A batch of N tokens reads every dense weight once and, of each routed expert weight, only
 * the experts some token picked: under uniform routing E_act(N) = E·(1 − (1 − K/E)^N)
 * distinct experts of E (`expectedActiveExperts`). Weights touched per token = (dense bytes
 * + Σ routed bytes × E_act(N)/E) / N: at N = 1 the active parameters' bytes, falling towards
 * total / N as the batch grows and every expert gets used.
 *
 * KV cache: what attention stores per token of context (keys and values, or MLA's latent)
 * over all layers, from the attention ops' cache inputs; an FFN stack stores none.
 */
import { type Dim, evalShape } from '../../ir/dims.ts';
import type { Module } from '../../ir/graph.ts';
import { expectedActiveExperts } from '../cost.ts';
import { forEachNode } from './walk.ts';
import { type StorageDType, totalWeightBytes, weightBytes } from './memory.ts';
import type { WeightSummary } from './params.ts';

export interface WeightTraffic {
  /** Batch size N. */
  tokens: number;
  /** Bytes the batch reads from its weights, and per token. */
  batch: number;
  perToken: number;
  /** All weights at this dtype (what a batch touches when every expert is used). */
  total: number;
}

/** Weight bytes a batch of `tokens` touches under uniform routing, at storage dtype `d`. */
export function weightTraffic(weights: readonly WeightSummary[], tokens: number, d: StorageDType): WeightTraffic {
  let batch = 0;
  for (const w of weights) {
    const b = weightBytes(w, d);
    const all = b.data + b.scales;
    if (w.kind === 'routed' && w.experts && w.k) batch += (all * expectedActiveExperts(w.experts, w.k, tokens)) / w.experts;
    else batch += all;
  }
  return { tokens, batch, perToken: batch / tokens, total: totalWeightBytes(weights, d) };
}

export interface KvCache {
  /** Attention layers that keep a cache. */
  layers: number;
  /** Values stored per token of context over all layers (keys + values, or MLA's latent + rope key). */
  elementsPerToken: number;
  /** Bytes per token of context, and for a context of L tokens (sliding-window layers keep at most W). */
  bytesPerToken: number;
  bytesForContext: number;
  /** Bytes per cached value. */
  elementBytes: number;
}

/**
 * The KV cache of one sequence: per attention op (times its layer count) the values a token
 * leaves in the cache, at `elementBytes` each. `attention`: G·(Dk + Dv) (k_cache, v_cache);
 * `mla_attention`: C + Dr (kv_cache, pe_cache). Sizes come from the cache operands' widths.
 */
export function kvCache(m: Module, context: number, elementBytes: number): KvCache {
  let layers = 0;
  let elementsPerToken = 0;
  let elementsForContext = 0;
  forEachNode(m, (n, times) => {
    let entry = 0;
    let window = 0;
    if (n.op === 'attention') {
      entry = width(n.inputs[3].type.shape) + width(n.inputs[4].type.shape);
      window = Number(n.attrs.window ?? 0);
    } else if (n.op === 'mla_attention') entry = width(n.inputs[4].type.shape) + width(n.inputs[5].type.shape);
    else return;
    layers += times;
    elementsPerToken += entry * times;
    elementsForContext += entry * times * (window > 0 ? Math.min(window, context) : context);
  });
  return { layers, elementsPerToken, bytesPerToken: elementsPerToken * elementBytes, bytesForContext: elementsForContext * elementBytes, elementBytes };
}

/** Elements per cache row: the product of a cache operand's sizes after the leading (length) axis. */
function width(shape: readonly Dim[]): number {
  return evalShape(shape.slice(1), {}).reduce((a, b) => a * b, 1);
}
