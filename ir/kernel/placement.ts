/**
 * @fileoverview Where a layer's routed experts live when the model is spread over several
 * chips (expert parallelism): the placement record the kernel IR carries and every consumer
 * (the cost model, the multi-chip C backend, the pack of per-rank weights) reads.
 *
 * Every rank has the same number of expert slots (one weight layout per rank, as DeepSeek's
 * deployment gives each GPU the same number of experts); a slot may be empty. An expert may
 * have several copies on different ranks (redundant replicas of hot experts, as DeepSeek's
 * EPLB does): the tokens routed to it are split evenly over its copies by a fixed rule
 * (`copyFor`), so every run — and every backend — sends the same token to the same rank.
 * Shared experts, the router and dense layers are not placed: every rank holds them.
 */

export interface ExpertPlacement {
  /** Ranks (chips) the routed experts are spread over. */
  ranks: number;
  /** Routed expert slots per rank. */
  slotsPerRank: number;
  /** slots[r][j]: the expert in rank r's slot j, or -1 for an empty slot; ascending, empties last. */
  slots: number[][];
  /** copies[e]: the ranks holding expert e, ascending, each at most once; never empty. */
  copies: number[][];
}

/**
 * The rank that serves routed choice `choice` (a token's k-th choice, numbered t·K + k over
 * the batch) of expert `expert`: the copies take turns, so a hot expert's tokens split evenly.
 */
export function copyFor(p: ExpertPlacement, expert: number, choice: number): number {
  const c = p.copies[expert]!;
  return c[choice % c.length]!;
}

/** The slot of `expert` on `rank` (its index in that rank's stacked expert weights), or -1. */
export function slotOf(p: ExpertPlacement, rank: number, expert: number): number {
  return p.slots[rank]!.indexOf(expert);
}

/** Expected tokens each rank computes, given the expected tokens routed to each expert. */
export function rankLoads(p: ExpertPlacement, load: readonly number[]): number[] {
  const out = new Array<number>(p.ranks).fill(0);
  p.copies.forEach((ranks, e) => {
    for (const r of ranks) out[r]! += load[e]! / ranks.length;
  });
  return out;
}

/** max / mean of the ranks' loads: 1 is perfect balance; the slowest rank sets the pace. */
export function imbalance(loads: readonly number[]): number {
  const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
  return mean > 0 ? Math.max(...loads) / mean : 1;
}

/** What is wrong with `p` for a layer of `experts` routed experts, or undefined. */
export function placementProblem(p: ExpertPlacement, experts: number): string | undefined {
  if (!Number.isInteger(p.ranks) || p.ranks < 1) return `ranks is ${p.ranks}, expected a whole number from 1`;
  if (p.slots.length !== p.ranks) return `${p.slots.length} slot lists for ${p.ranks} ranks`;
  if (p.copies.length !== experts) return `copies for ${p.copies.length} experts, expected ${experts}`;
  const held = p.copies.map(() => [] as number[]);
  for (let r = 0; r < p.ranks; r++) {
    const s = p.slots[r]!;
    if (s.length !== p.slotsPerRank) return `rank ${r} has ${s.length} slots, expected ${p.slotsPerRank}`;
    for (const e of s) {
      if (e === -1) continue;
      if (!Number.isInteger(e) || e < 0 || e >= experts) return `rank ${r} holds expert ${e}, outside 0..${experts - 1}`;
      if (held[e]!.includes(r)) return `rank ${r} holds expert ${e} twice`;
      held[e]!.push(r);
    }
  }
  for (let e = 0; e < experts; e++) {
    const want = [...p.copies[e]!].sort((a, b) => a - b).join(',');
    if (held[e]!.length === 0) return `expert ${e} is on no rank`;
    if (held[e]!.join(',') !== want) return `expert ${e}: copies say ranks ${want}, slots say ${held[e]!.join(',')}`;
  }
  return undefined;
}
