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
  // Ranks with a free slot, least loaded first (lower rank on a tie): O(log R) per copy, so
  // a 2,048-chip plan takes milliseconds, not the minutes of a scan over every rank per copy.
  const open = new RankHeap(tokens);
  for (let r = 0; r < R; r++) open.push(r);
  const skipped: number[] = [];
  for (const { e, w } of items) {
    let to = -1;
    while (open.size > 0) {
      const r = open.pop();
      if (!held[r]!.has(e)) {
        to = r;
        break;
      }
      skipped.push(r);
    }
    for (const r of skipped) open.push(r);
    skipped.length = 0;
    if (to < 0) {
      // Only ranks that already hold `e` have room: move another expert into one of them.
      const [from, freed] = makeRoom(held, tokens, e, slots, weight);
      open.remove(from);
      if (held[from]!.size < slots) open.push(from);
      to = freed;
    }
    held[to]!.add(e);
    tokens[to]! += w;
    if (held[to]!.size < slots) open.push(to);
  }
  const copies = count.map(() => [] as number[]);
  const slotLists = held.map((s, r) => {
    const list = [...s].sort((a, b) => a - b);
    for (const e of list) copies[e]!.push(r);
    return [...list, ...new Array<number>(slots - list.length).fill(-1)];
  });
  return { ranks: R, slotsPerRank: slots, slots: slotLists, copies };
}

/**
 * Moves some expert f from a rank q without `e` to a rank r with a free slot and without f;
 * returns [r, q]: r took f (its load changed), q now has a slot free for e.
 */
function makeRoom(held: Array<Set<number>>, tokens: number[], e: number, slots: number, weight: (e: number) => number): [number, number] {
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
        return [r, q];
      }
    }
  }
  throw new Error(`internal: no rank can take a copy of expert ${e}`);
}

/** A binary min-heap of ranks ordered by their current tokens, then rank number. */
class RankHeap {
  private readonly a: number[] = [];
  constructor(private readonly tokens: readonly number[]) {}
  get size(): number {
    return this.a.length;
  }
  private less(x: number, y: number): boolean {
    const tx = this.tokens[x]!;
    const ty = this.tokens[y]!;
    return tx < ty || (tx === ty && x < y);
  }
  push(r: number): void {
    const a = this.a;
    a.push(r);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      this.sift(0);
    }
    return top;
  }
  /** Takes `r` out wherever it is (rare: only when a move changed its load). */
  remove(r: number): void {
    const i = this.a.indexOf(r);
    if (i < 0) return;
    const last = this.a.pop()!;
    if (i < this.a.length) {
      this.a[i] = last;
      this.rebuild();
    }
  }
  private rebuild(): void {
    for (let i = (this.a.length >> 1) - 1; i >= 0; i--) this.sift(i);
  }
  private sift(i: number): void {
    const a = this.a;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
      if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}

/** The busiest rank's load over the mean, for a placement and the expected tokens per expert. */
export function placementImbalance(p: ExpertPlacement, load: readonly number[]): number {
  return imbalance(rankLoads(p, load));
}
