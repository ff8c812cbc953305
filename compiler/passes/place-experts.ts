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
import { type Dim, dimAdd, dimMul } from '../../ir/dims.ts';
import { epRowsPerToken } from '../../ir/kernel/ep.ts';
import type { DispatchKernel, EpCombineKernel, EpPlacement, GroupedGemmKernel, KBuffer, KProgram, Kernel, MoeAlignKernel, RouterKernel, Step } from '../../ir/kernel/kernel.ts';
import { formatBytes } from '../../ir/kernel/kprint.ts';
import { forEachKernel, loopSlices, sliceStacks } from '../../ir/kernel/walk.ts';
import { dtypeBytes } from '../../ir/types.ts';
import { blockCount, paddedRows } from './lower-kernels.ts';
import { type KernelPass, passTarget } from './pass.ts';

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

// ---------------------------------------------------------------------------------------
// The pass: the single-chip kernel program → one rank's program of an expert-parallel job
// ---------------------------------------------------------------------------------------

/** What the pass needs beyond the program: the ranks and how to balance them. */
export interface DistributeOptions {
  chips: number;
  /** Expected tokens per routed expert of the MoE group whose router writes `router` (a routing-statistics file's counts); absent: uniform. */
  load?: (router: string, experts: number) => readonly number[] | undefined;
  /** Redundant copies of hot experts allowed per layer (`--redundant-experts`). */
  redundant?: number;
  /** Refuse a plan whose per-rank weights exceed this many bytes (the chip's main memory), with the numbers (E702). */
  memoryBytes?: number;
  memoryName?: string;
  /**
   * Micro-batches per MoE layer (default 2): their exchanges are split into start and finish,
   * so while one micro-batch's rows are in flight the other's experts compute (two-batch
   * overlap). 1: one exchange each way, nothing overlapped.
   */
  microBatches?: number;
}

/**
 * Spreads every MoE layer's routed experts over `chips` ranks (SPMD: the returned program is
 * what each rank runs, on its own tokens). Per MoE group (a `moe_align` and its grouped
 * GEMMs; in a loop, one placement for every iteration):
 *   router → dispatch → moe_align over the received rows (local experts, one choice each) →
 *   the grouped GEMMs on them, the last one weighting its rows (combine with the received
 *   routing weights, no residual) → ep_combine (rows back, summed per token in choice order,
 *   + the residual).
 * The expert stacks become one rank's slots + the shared experts (`EpPlacement.weights`);
 * router, shared experts and dense layers stay whole on every rank.
 */
export function distributeExperts(p0: KProgram, opts: DistributeOptions): KProgram {
  const R = opts.chips;
  if (!Number.isInteger(R) || R < 1) fail('E307', `--chips must be a whole number from 1, not ${R}`);
  if (R === 1) return p0;
  if (p0.ep) throw new Error('internal: the program is already distributed');
  const p: KProgram = { ...p0, buffers: p0.buffers.map((b) => ({ ...b })), ep: { ranks: R, placements: [] } };
  const byName = new Map(p.buffers.map((b) => [b.name, b]));
  const buf = (name: string): KBuffer => {
    const b = byName.get(name);
    if (!b) throw new Error(`internal: no buffer ${name}`);
    return b;
  };
  const declare = (b: KBuffer): string => {
    if (byName.has(b.name)) throw new Error(`internal: buffer ${b.name} exists`);
    p.buffers.push(b);
    byName.set(b.name, b);
    return b.name;
  };
  // A loop slice's stacked buffer (and the loop depth it adds), for the expert axis of a stack.
  const stackOf = sliceStacks(p.steps);
  const placeWeight = (name: string, q: EpPlacement, local: number): void => {
    let n = name;
    let axis = 0;
    for (;;) {
      const b = byName.get(n);
      if (b) {
        b.shape = b.shape.map((d, i) => (i === axis ? local : d));
        if (b.quant) buf(b.quant.scales).shape = buf(b.quant.scales).shape.map((d, i) => (i === axis ? local : d));
      }
      const up = stackOf.get(n);
      if (up === undefined) break;
      n = up;
      axis++;
    }
    if (!q.weights.some((w) => w.buffer === n)) q.weights.push({ buffer: n, axis });
  };

  let group = 0;
  const rewrite = (steps: readonly Step[]): Step[] => {
    const out: Step[] = [];
    const done = new Set<string>(); // sorted buffers whose grouped GEMMs moved with their moe_align
    for (const s of steps) {
      if (s.kind === 'loop') out.push({ ...s, body: rewrite(s.body) });
      else if (s.kind === 'moe_align') {
        out.push(...distributeGroup(s, steps));
        done.add(s.sorted);
      } else if (s.kind !== 'grouped_gemm' || !done.has(s.sorted)) out.push(s);
    }
    return out;
  };

  const distributeGroup = (align: MoeAlignKernel, scope: readonly Step[]): Step[] => {
    const router = findKernel(p.steps, (k): k is RouterKernel => k.kind === 'router' && k.indices === align.indices);
    const gemms = scope.filter((k): k is GroupedGemmKernel => k.kind === 'grouped_gemm' && k.sorted === align.sorted);
    const first = gemms[0];
    const last = gemms.at(-1);
    const combine = last?.epilogue.find((e) => e.kind === 'combine');
    if (!router || !first?.gather || !last || combine?.kind !== 'combine' || gemms.slice(1).some((g) => g.gather))
      fail('E701', `expert parallelism: the MoE layer writing ${align.sorted} is not a router, a gathering grouped GEMM and a combining one`, undefined, 'leave --chips out for this model');
    const E = router.experts;
    const S = router.shared;
    const Kr = router.k;
    const K = align.k;
    const name = `ep${group}`;
    const load = opts.load?.(router.indices, E);
    group++;
    // At most one copy of an expert per rank: more redundancy than E × (R - 1) could never be
    // placed, and would only size every rank's slots (and weights) by a number from the command line.
    const planned = planPlacement({ experts: E, ranks: R, load, redundant: Math.min(opts.redundant ?? 0, E * (R - 1)) });
    // Slots no rank uses (room for copies that did not lower the load) would only cost every rank weight memory.
    const used = Math.max(...planned.slots.map((s) => s.filter((e) => e >= 0).length));
    const placement = { ...planned, slotsPerRank: used, slots: planned.slots.map((s) => s.slice(0, used)) };
    const q: EpPlacement = { name, experts: E, shared: S, placement, weights: [] };
    p.ep!.placements.push(q);
    const localExperts = placement.slotsPerRank + S;
    for (const g of gemms) {
      placeWeight(g.w, q, localExperts);
      for (const e of g.epilogue) if (e.kind === 'bias') placeWeight(e.bias, q, localExperts);
    }
    const x = buf(first.a);
    const [T, D] = x.shape as [Dim, Dim];
    const rowsDim = dimMul(T, epRowsPerToken(R, Kr, S));
    // The aligned rows and the hidden rows now count received rows, one choice each.
    const sortedRows = paddedRows(rowsDim, 1, localExperts, align.block);
    const n = opts.microBatches ?? 2;
    if (!Number.isInteger(n) || n < 1) throw new Error(`internal: ${n} micro-batches`);
    const copyOf = (orig: string, suffix: string, shape: Dim[]): string => {
      const b = buf(orig);
      if (suffix === '') {
        b.shape = shape;
        return orig;
      }
      return declare({ ...b, name: `${orig}${suffix}`, shape, kind: 'temp' });
    };
    const dispatches: DispatchKernel[] = [];
    const computes: Step[][] = [];
    const combines: EpCombineKernel[] = [];
    for (let i = 0; i < n; i++) {
      const mb = n > 1 ? `.mb${i}` : '';
      const prefix = `${last.out}.${name}${mb}`;
      const part = n > 1 ? { part: { index: i, of: n } } : {};
      const rows = declare({ name: `${prefix}.rows`, dtype: 'f32', shape: [rowsDim, D], kind: 'temp' });
      const local = declare({ name: `${prefix}.local`, dtype: 'i32', shape: [rowsDim, 1], kind: 'temp' });
      const rweights = declare({ name: `${prefix}.rweights`, dtype: 'f32', shape: [rowsDim, 1], kind: 'temp' });
      const plan = declare({ name: `${prefix}.plan`, dtype: 'i32', shape: [dimAdd(dimMul(T, K), 2 * R)], kind: 'temp' });
      const results = declare({ name: `${prefix}.results`, dtype: 'f32', shape: [rowsDim, buf(last.out).shape[1]!], kind: 'temp' });
      const sorted = copyOf(align.sorted, mb, [sortedRows]);
      const blockExpert = copyOf(align.blockExpert, mb, [blockCount(rowsDim, 1, localExperts)]);
      const count = copyOf(align.count, mb, [1]);
      const outs = new Map(gemms.slice(0, -1).map((g) => [g.out, copyOf(g.out, mb, [sortedRows, buf(g.out).shape[1]!])]));
      const epilogue = last.epilogue.map((e) => (e.kind === 'combine' ? { kind: 'combine' as const, weights: rweights } : e));
      const moved: GroupedGemmKernel[] = gemms.map((g, j) => {
        const k: GroupedGemmKernel = { ...g, indices: local, k: 1, sorted, blockExpert, count, a: j === 0 ? rows : (outs.get(g.a) ?? g.a), out: outs.get(g.out) ?? g.out };
        if (g !== last) return k;
        const { init: _residual, ...rest } = k;
        return { ...rest, out: results, epilogue };
      });
      dispatches.push({ kind: 'dispatch', x: first.a, indices: align.indices, weights: combine.weights, rows, local, rweights, plan, placement: name, k: K, routed: Kr, ...part });
      computes.push([{ ...align, indices: local, experts: localExperts, k: 1, sorted, blockExpert, count }, ...moved]);
      combines.push({ kind: 'ep_combine', results, plan, out: last.out, placement: name, k: K, ...(last.init !== undefined ? { init: last.init } : {}), ...part });
    }
    if (n === 1) return [dispatches[0]!, ...computes[0]!, combines[0]!];
    // Each micro-batch has its own aligned and hidden rows: the single-chip ones are gone.
    const gone = new Set([align.sorted, align.blockExpert, align.count, ...gemms.slice(0, -1).map((g) => g.out)]);
    p.buffers = p.buffers.filter((b) => !gone.has(b.name));
    for (const g of gone) byName.delete(g);
    // Every micro-batch's rows leave first; then each computes as soon as its rows are in,
    // while the later ones are still in flight, and sends its results back while the next computes.
    return [
      ...dispatches.map((d) => ({ ...d, phase: 'start' as const })),
      ...dispatches.flatMap((d, i) => [{ ...d, phase: 'finish' as const }, ...computes[i]!, { ...combines[i]!, phase: 'start' as const }]),
      ...combines.map((c) => ({ ...c, phase: 'finish' as const })),
    ];
  };

  p.steps = rewrite(p.steps);
  if (group === 0) fail('E701', `expert parallelism: ${p.name} has no MoE layer to spread over ${R} chips`, undefined, 'leave --chips out');
  checkRankMemory(p, opts);
  return p;
}

/** E702: one rank's weights (its experts, plus everything every rank holds) must fit the chip. */
function checkRankMemory(p: KProgram, opts: DistributeOptions): void {
  if (opts.memoryBytes === undefined) return;
  const slices = loopSlices(p.steps);
  const bytesOf = (b: KBuffer): number => (dtypeBytes(b.dtype) * b.shape.reduce<number>((n, d) => n * (typeof d === 'number' ? d : 0), 1));
  const weights = p.buffers.filter((b) => b.kind === 'weight' && !slices.has(b.name));
  const total = weights.reduce((n, b) => n + bytesOf(b), 0);
  if (total <= opts.memoryBytes) return;
  const placed = new Set(p.ep!.placements.flatMap((q) => q.weights.map((w) => w.buffer)));
  const experts = weights.filter((b) => placed.has(b.name)).reduce((n, b) => n + bytesOf(b), 0);
  const slots = p.ep!.placements.map((q) => q.placement.slotsPerRank);
  fail(
    'E702',
    `each of the ${p.ep!.ranks} ranks needs ${formatBytes(total)} of weights (${formatBytes(experts)} for its ${Math.max(...slots)} expert slots per layer, ${formatBytes(total - experts)} held by every rank), more than ${opts.memoryName ?? 'the chip'}'s ${formatBytes(opts.memoryBytes)}`,
    undefined,
    `use more chips (--chips ${Math.ceil((p.ep!.ranks * experts) / Math.max(1, opts.memoryBytes - (total - experts)))} or more, if the shared part fits), fewer --redundant-experts, or a quantized checkpoint`,
  );
}

function findKernel<K extends Kernel>(steps: readonly Step[], is: (k: Kernel) => k is K): K | undefined {
  let found: K | undefined;
  forEachKernel(steps, (k) => {
    if (!found && is(k)) found = k;
  });
  return found;
}

/** The `place-experts` pass: with `--chips N` (N > 1), after tiling and before memory planning. */
export const placeExpertsPass: KernelPass = {
  name: 'place-experts',
  summary: 'expert parallelism: routed experts placed over the ranks, dispatch and combine all-to-alls around each MoE layer',
  level: 'kernel',
  requires: ['lower-kernels', 'tile'],
  essential: 'with --chips N it is what spreads the experts over the N ranks',
  run: (p, ctx) => {
    const target = passTarget(ctx, 'place-experts');
    const main = target.memory?.at(-1);
    return distributeExperts(p, { chips: ctx.chips ?? 1, load: ctx.expertLoad, redundant: ctx.redundantExperts, microBatches: ctx.microBatches, memoryBytes: main?.bytes, memoryName: main ? `${target.name} ${main.name}` : undefined });
  },
};
