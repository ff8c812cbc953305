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
 * over all layers, from the attention ops' cache operands (`kv-cache.ts`); an FFN stack
 * stores none.
 */
import type { Module } from '../../ir/graph/graph.ts';
import { expectedActiveExperts } from '../cost/cost.ts';
import { kvCachePerToken } from './kv-cache.ts';
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
 * The KV cache of one sequence at `elementBytes` per value: what each attention layer keeps
 * per position (`kvCachePerToken`), over a context of L positions, of which a sliding-window
 * layer keeps the last W.
 */
export function kvCache(m: Module, context: number, elementBytes: number): KvCache {
  const s = kvCachePerToken(m);
  const forContext = s.nodes.reduce((a, n) => a + n.valuesPerLayer * n.times * (n.window > 0 ? Math.min(n.window, context) : context), 0);
  return { layers: s.layers, elementsPerToken: s.values, bytesPerToken: s.values * elementBytes, bytesForContext: forContext * elementBytes, elementBytes };
}
