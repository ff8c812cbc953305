/**
 * @fileoverview Expert placement for expert parallelism: which ranks (chips) hold which routed
 * experts of a layer, balanced by the expected tokens per expert, with redundant copies of the
 * hottest experts when that lowers the busiest rank's load (DeepSeek-V3's EPLB idea: replicate
 * heavy experts, then pack the copies so every rank gets about the same number of tokens).
 *
 * Why balance matters: every rank waits for the slowest at each all-to-all, so a layer runs at
 * the pace of max-over-ranks tokens, not the mean. The record it produces is
 * `ir/kernel/placement.ts`'s; this file decides, consumers only read.
 */
import { fail } from '../../ir/diagnostics.ts';
import { type ExpertPlacement, imbalance, placementProblem, rankLoads } from '../../ir/kernel/placement.ts';

export interface PlacementRequest {
  /** Routed experts of the layer. */
  experts: number;
  /** Ranks (chips) to spread them over. */
  ranks: number;
  /** Expected tokens routed to each expert (a routing-statistics file's counts); default uniform. */
  load?: readonly number[];
  /** Redundant copies allowed beyond one per expert (default 0); used only where they lower the max rank load. */
  redundant?: number;
  /** Expert slots per rank (default: ⌈(experts + redundant) / ranks⌉). */
  slotsPerRank?: number;
}

/**
 * Places one layer's routed experts. Deterministic: the same request gives the same placement
 * (ties go to the lower expert, then the lower rank), so every rank of a job computes the
 * same plan. With uniform load and no replicas, expert e lands on rank e mod ranks.
 */
export function planPlacement(req: PlacementRequest): ExpertPlacement {
  const { experts: E, ranks: R } = req;
  const redundant = req.redundant ?? 0;
  if (!Number.isInteger(E) || E < 1) fail('E307', `a placement needs a whole number of experts from 1, not ${E}`);
  if (!Number.isInteger(R) || R < 1) fail('E307', `a placement needs a whole number of ranks from 1, not ${R}`, undefined, 'give --chips N with N >= 1');
  if (!Number.isInteger(redundant) || redundant < 0) fail('E307', `redundant copies must be a whole number from 0, not ${redundant}`);
  const slots = req.slotsPerRank ?? Math.ceil((E + redundant) / R);
  if (!Number.isInteger(slots) || slots < 1 || slots * R < E)
    fail('E702', `${E} experts do not fit ${R} ranks of ${slots} expert slots each (${slots * R} slots)`, undefined, `use at least ${Math.ceil(E / R)} slots per rank, or more ranks`);
  const load = req.load ?? new Array<number>(E).fill(1);
  if (load.length !== E) fail('E308', `the expert load lists ${load.length} experts; the layer has ${E}`);
  for (const [e, v] of load.entries()) if (!Number.isFinite(v) || v < 0) fail('E304', `the load of expert ${e} is ${v}; expected a finite count from 0`);

  // Add copies one at a time to the expert with the most tokens per copy; keep the count of
  // copies that gave the lowest max rank load (fewest copies on a tie: each costs memory).
  const count = new Array<number>(E).fill(1);
  let best = pack(load, count, R, slots);
  let bestMax = Math.max(...rankLoads(best, load));
  const extra = Math.min(redundant, slots * R - E);
  for (let i = 0; i < extra; i++) {
    let hot = -1;
    for (let e = 0; e < E; e++) if (count[e]! < R && (hot < 0 || load[e]! / count[e]! > load[hot]! / count[hot]!)) hot = e;
    if (hot < 0 || load[hot] === 0) break;
    count[hot]!++;
    const p = pack(load, count, R, slots);
    const max = Math.max(...rankLoads(p, load));
    if (max < bestMax - 1e-9 * bestMax) [best, bestMax] = [p, max];
  }
  const problem = placementProblem(best, E);
  if (problem) throw new Error(`internal: expert placement is inconsistent: ${problem}`);
  return best;
}

/**
 * Longest-processing-time packing with slot limits: copies in decreasing tokens per copy,
 * each to the least-loaded rank that has a free slot and no copy of that expert yet. When only
 * ranks already holding the expert have free slots, an expert of another rank moves into
 * such a slot to make room (one always exists while an expert has at most `ranks` copies).
 */
function pack(load: readonly number[], count: readonly number[], R: number, slots: number): ExpertPlacement {
  const items: Array<{ e: number; w: number }> = [];
  count.forEach((c, e) => {
    for (let i = 0; i < c; i++) items.push({ e, w: load[e]! / c });
  });
  items.sort((a, b) => b.w - a.w || a.e - b.e);
  const held: Array<Set<number>> = Array.from({ length: R }, () => new Set());
  const tokens = new Array<number>(R).fill(0);
  const weight = (e: number): number => load[e]! / count[e]!;
  for (const { e, w } of items) {
    let to = -1;
    for (let r = 0; r < R; r++) if (held[r]!.size < slots && !held[r]!.has(e) && (to < 0 || tokens[r]! < tokens[to]!)) to = r;
    if (to < 0) to = makeRoom(held, tokens, e, slots, weight);
    held[to]!.add(e);
    tokens[to]! += w;
  }
  const copies = count.map(() => [] as number[]);
  const slotLists = held.map((s, r) => {
    const list = [...s].sort((a, b) => a - b);
    for (const e of list) copies[e]!.push(r);
    return [...list, ...new Array<number>(slots - list.length).fill(-1)];
  });
  return { ranks: R, slotsPerRank: slots, slots: slotLists, copies };
}

/** Moves some expert f from a rank q without `e` to a rank r with a free slot and without f; returns q, now free for e. */
function makeRoom(held: Array<Set<number>>, tokens: number[], e: number, slots: number, weight: (e: number) => number): number {
  for (let r = 0; r < held.length; r++) {
    if (held[r]!.size >= slots) continue;
    for (let q = 0; q < held.length; q++) {
      if (q === r || held[q]!.has(e)) continue;
      for (const f of held[q]!) {
        if (held[r]!.has(f)) continue;
        held[q]!.delete(f);
        held[r]!.add(f);
        tokens[q]! -= weight(f);
        tokens[r]! += weight(f);
        return q;
      }
    }
  }
  throw new Error(`internal: no rank can take a copy of expert ${e}`);
}

/** The busiest rank's load over the mean, for a placement and the expected tokens per expert. */
export function placementImbalance(p: ExpertPlacement, load: readonly number[]): number {
  return imbalance(rankLoads(p, load));
}
