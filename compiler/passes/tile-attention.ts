/**
 * @fileoverview The attention kernel's schedule (`AttentionSchedule` in
 * ir/kernel/attention.ts), chosen by the tiler from the target's caps:
 * - the key tile: keys (and their values) one pass of the online softmax holds, as many as
 *   fit half of the innermost cache beside the query rows and the accumulators (and whose
 *   scores for every head of a kv head fit `SCORES_FLOATS`), a power of two from 16 to 512,
 *   so a tile's keys are read from memory once and reused from the cache for the scores and
 *   the weighted sum;
 * - the decode split: a single new token (T = 1) has one query row per head, too little to
 *   spread over threads by rows when heads are few, so its visible keys are split over up
 *   to every core, each part a partial softmax (max, sum, accumulator) for every head, merged
 *   afterwards. The partials live on the calling thread's stack, so the split is also kept
 *   within `PARTIALS_FLOATS` (where heads are that many, splitting by rows suffices);
 * - attention's query block (C only): queries a prefill block scores together, each with the
 *   heads of its kv head, against a tile of keys transposed once for the block
 *   (ir/kernel/attention.ts `attentionQueryBlock`);
 * - MLA's form: `cheaper` (each call the form ir/kernel/mla.ts `mlaForm` picks for its T and
 *   L, as the cost model counts) where the naive form's stack fits `PARTIALS_FLOATS`, else
 *   `absorbed`.
 */
import { evalShape } from '../../ir/dims.ts';
import { type AttentionKernel, type AttentionSchedule, STACK_BLOCK_FLOATS, attentionQueryBlock } from '../../ir/kernel/attention.ts';
import type { MlaAttentionKernel } from '../../ir/kernel/mla.ts';
import type { KBuffer } from '../../ir/kernel/kernel.ts';
import type { TargetCaps } from '../target/caps.ts';

const MIN_KEY_TILE = 16;
const MAX_KEY_TILE = 512;

/** Floats of one tile's scores (16 KiB on the stack of a thread). */
const SCORES_FLOATS = 4096;

/** Floats of the decode split's partials (64 KiB: the stack block the C GEMMs also keep to). */
export const PARTIALS_FLOATS = STACK_BLOCK_FLOATS;

/**
 * The schedule of one attention or MLA kernel on `target` (`buf` resolves its buffers, loop
 * slices included). What one key costs in cache: attention reads a key and a value row
 * (Dk + Dv floats); MLA a latent and a rope key (C + Dr), and accumulates in the latent space (C).
 */
export function attentionSchedule(k: AttentionKernel | MlaAttentionKernel, target: TargetCaps, buf: (name: string) => KBuffer, maxTokens: number): AttentionSchedule {
  const last = (name: string): number => evalShape(buf(name).shape.slice(-1), {})[0];
  const heads = evalShape(buf(k.kind === 'attention' ? k.q : k.qNope).shape.slice(1, 2), {})[0];
  const [keyFloats, accFloats] = k.kind === 'attention' ? [last(k.q) + last(k.v), last(k.v)] : [last(k.kv) + last(k.kPe), last(k.kv)];
  const l1 = target.memory[0]?.bytes ?? 32768;
  // A tile's key rows, f32, within half the cache (the rest: the query, the accumulators, the other operands).
  // Attention scores a tile for every head of a kv head at once: those scores stay within SCORES_FLOATS.
  const perTile = k.kind === 'attention' ? heads / evalShape(buf(k.k).shape.slice(1, 2), {})[0] : 1;
  const fit = Math.min(Math.floor(l1 / 2 / (keyFloats * 4)), Math.floor(SCORES_FLOATS / perTile));
  let keyTile = MIN_KEY_TILE;
  while (keyTile * 2 <= Math.min(fit, MAX_KEY_TILE)) keyTile *= 2;
  // MLA's decode split also holds every head's latent query beside the partials.
  const queries = k.kind === 'mla_attention' ? heads * accFloats : 0;
  const splits = Math.max(1, Math.min(target.cores, Math.floor((PARTIALS_FLOATS - queries) / (heads * (accFloats + 2)))));
  if (k.kind === 'attention') {
    if (target.backend !== 'c') return { keyTile, splits };
    const perGroup = heads / evalShape(buf(k.k).shape.slice(1, 2), {})[0];
    return { keyTile, splits, queryBlock: attentionQueryBlock(perGroup, last(k.q), last(k.v), keyTile) };
  }
  // MLA's heads all read the one latent cache: as many as fit the stack block go together
  // (per head its latent query, its accumulator block and its tile of scores).
  const perHead = accFloats + (accFloats + 2) + keyTile;
  let headBlock = 1;
  for (let b = 1; b <= heads; b++) if (heads % b === 0 && b * perHead <= PARTIALS_FLOATS) headBlock = b;
  // The naive form (prefill's) holds, in the C kernel, a tile of expanded keys and values and a
  // (max, sum) pair per token on the stack: where those do not fit the stack block, C runs the
  // absorbed form for every call. Elsewhere each call counts the cheaper form (what a serving
  // stack runs: an H800 cluster's chip sheet names the wgsl backend; Wasm and WGSL render the
  // absorbed form only so far, a debt the cost model does not follow).
  const naiveFloats = keyTile * (last(k.qNope) + last(k.out) + 1) + 2 * maxTokens;
  return { keyTile, splits, headBlock, form: target.backend !== 'c' || naiveFloats <= PARTIALS_FLOATS ? 'cheaper' : 'absorbed' };
}
