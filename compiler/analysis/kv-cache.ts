/**
 * @fileoverview The KV cache a model keeps per token, read off the graph: every `attention`
 * node caches a key and a value row per position (its `k_cache`/`v_cache` operands, `[L, G,
 * Dk]` and `[L, G, Dv]`), every `mla_attention` node a latent and a rope key (`kv_cache`
 * `[L, C]`, `pe_cache` `[L, Dr]`). A node inside `repeat` bodies counts once per iteration,
 * so the figure is exact for 61 stacked layers without unrolling them.
 */
import { isSym } from '../../ir/dims.ts';
import type { Module } from '../../ir/graph/graph.ts';
import { dtypeBytes } from '../../ir/types.ts';
import { forEachNode } from './walk.ts';

/** Which operands of each attention op are its cache (one row per cached position). */
export const CACHE_OPERANDS: Readonly<Record<string, readonly number[]>> = { attention: [3, 4], mla_attention: [4, 5] };

export interface KvCacheSummary {
  /** Cached values per token, over all layers. */
  values: number;
  /** Bytes per token at the caches' declared dtypes. */
  bytes: number;
  /** Attention layers (nodes times their repeat counts). */
  layers: number;
  /** Per attention node: its op, values per token per run, and how many times it runs. */
  nodes: Array<{ op: string; func: string; valuesPerLayer: number; bytesPerLayer: number; times: number; window: number }>;
}

/** Sums the KV cache per token of every attention node of `m`. */
export function kvCachePerToken(m: Module): KvCacheSummary {
  const out: KvCacheSummary = { values: 0, bytes: 0, layers: 0, nodes: [] };
  forEachNode(m, (n, times, f) => {
    const cache = CACHE_OPERANDS[n.op];
    if (!cache) return;
    let values = 0;
    let bytes = 0;
    for (const i of cache) {
      const row = n.inputs[i].type.shape.slice(1);
      const elems = row.reduce<number>((a, d) => a * (isSym(d) ? NaN : d), 1);
      values += elems;
      bytes += elems * dtypeBytes(n.inputs[i].type.dtype);
    }
    // a sliding-window layer keeps at most `window` positions (0: all of them)
    out.nodes.push({ op: n.op, func: f.name, valuesPerLayer: values, bytesPerLayer: bytes, times, window: Number(n.attrs.window ?? 0) });
    out.values += values * times;
    out.bytes += bytes * times;
    out.layers += times;
  });
  return out;
}
