/**
 * @fileoverview The all-to-all traffic of expert parallelism, predicted from the placement:
 * the bytes of token rows that cross a link per token and MoE layer (out to the experts'
 * ranks and back). The multi-chip cost model and the benchmark (next to the bytes the MPI
 * runner measured) read it from here.
 */
import { type ExpertPlacement, copyFor } from '../../ir/kernel/placement.ts';

export interface ExchangeRequest {
  placement: ExpertPlacement;
  /** Expected tokens routed to each expert (any scale; default uniform). */
  load?: readonly number[];
  /** Routed choices per token (top-k; shared experts stay on the token's rank). */
  routed: number;
  /** Bytes of one token row (hidden size × element bytes). */
  rowBytes: number;
}

export interface ExchangePrediction {
  /** Bytes that cross a link per token per MoE layer, both all-to-alls together. */
  bytesPerToken: number;
  /** The probability that a routed choice leaves its token's rank. */
  remoteFraction: number;
}

/**
 * Each rank holds the same number of tokens and routes them alike; a choice of expert e is
 * served by its copies in turn (`copyFor`), so it stays home with probability (copies of e
 * on the token's rank) / (copies of e), averaged over the ranks. Rows go out and come back:
 * twice the row bytes per remote choice.
 */
export function predictExchange(req: ExchangeRequest): ExchangePrediction {
  const p = req.placement;
  const E = p.copies.length;
  const load = req.load ?? new Array<number>(E).fill(1);
  const total = load.reduce((a, b) => a + b, 0);
  let remote = 0;
  for (let e = 0; e < E; e++) {
    if (total === 0 || load[e] === 0) continue;
    const c = p.copies[e]!.length;
    let home = 0;
    // Over every source rank and each of the c turns (choice numbers mod c), where the choice lands.
    for (let src = 0; src < p.ranks; src++) for (let turn = 0; turn < c; turn++) if (copyFor(p, e, turn) === src) home++;
    remote += (load[e]! / total) * (1 - home / (p.ranks * c));
  }
  return { bytesPerToken: 2 * req.routed * req.rowBytes * remote, remoteFraction: remote };
}
