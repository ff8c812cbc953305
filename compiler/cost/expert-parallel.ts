/**
 * @fileoverview The multi-chip cost model: what one forward pass costs when a model's routed
 * experts are spread over N chips (expert parallelism) and every chip runs attention, norms,
 * the router, dense layers and shared experts for its own tokens (data parallelism).
 *
 * Per MoE layer and per micro-batch of T tokens on each rank:
 * - All-to-all bytes: every routed choice (T·k per rank) travels to the rank that serves its
 *   expert (`copyFor`'s turn-taking over copies, so the destination does not depend on where
 *   the token is) as one row of the hidden size at the activation dtype (dispatch), and its
 *   result row comes back (combine). A choice whose rank is the sender's own sends nothing.
 *   With rank d's share q_d of the choices (`rankLoads` over the placement), a sender s keeps
 *   q_s, sends Σ q_d over the other ranks of its node on the link and the rest on the network.
 * - Communication time: both link levels run at once (NVLink and the NICs are separate
 *   hardware), so an all-to-all takes max over levels of bytes / bandwidth, plus the latency
 *   of the slowest level used. The busiest rank sets the pace: it receives `imbalance` times
 *   the mean, so each level moves max(sent, received) on it.
 * - Compute: the chip's own cost model (`programCost`, the numbers the tiler minimises) on
 *   the program compiled for T tokens, except that each grouped GEMM is costed as the busiest
 *   rank's problem: its local experts (slots + shared experts) over the rows it receives
 *   (T·k·imbalance routed + T·shared), by the cheaper of the sorted and the direct path.
 * - Overlap: with two micro-batches in flight (DeepSeek's DualPipe / SGLang's two-batch
 *   overlap), one computes while the other's all-to-alls run, so in the steady state a layer
 *   takes max(compute, communication) per micro-batch instead of their sum; the overlap hides
 *   min(compute, communication).
 * - Load imbalance, max/mean tokens per rank: from the expected load (the placement), and at
 *   a finite batch from routing randomness (`expectedMaxCount`), with and without replicas.
 *
 * Tokens/s per chip = T / (time of one micro-batch's forward pass with overlap).
 */
import { evalShape } from '../../ir/dims.ts';
import type { GroupedGemmKernel, KBuffer, KProgram, LoopStep, RouterKernel } from '../../ir/kernel/kernel.ts';
import { type ExpertPlacement, rankLoads } from '../../ir/kernel/placement.ts';
import { bufferResolver, forEachKernel, loopSlices, sliceStacks, stackRoot } from '../../ir/kernel/walk.ts';
import { dtypeBytes } from '../../ir/types.ts';
import { planPlacement } from '../passes/place-experts.ts';
import { MAX_GROUPED_M, chooseTiling } from '../passes/tile.ts';
import type { TargetCaps } from '../target/caps.ts';
import type { ClusterLink } from '../target/cluster.ts';
import { type Bindings, type GemmProblem, TOKENS, alignCost, directDecodeCost, gemmCost, gemmProblem, kernelCost, programCost } from './cost.ts';

/** The links a rank's all-to-all crosses, as a cluster file gives them. */
export interface EpLinks {
  chipsPerNode: number;
  link: ClusterLink;
  network: ClusterLink;
}

export interface EpRequest {
  /** The model compiled (to tiled kernels) for `chip` at `tokens` tokens. */
  program: KProgram;
  chip: TargetCaps;
  links: EpLinks;
  /** Ranks (chips) the experts are spread over. */
  ranks: number;
  /** Tokens per rank per micro-batch. */
  tokens: number;
  /** Sizes other than T (the KV-cache length). */
  bindings?: Bindings;
  /**
   * Set when the T tokens are T sequences decoding one token each (not one sequence of T):
   * attention then reads each sequence's own cache, so attention kernels cost T times their
   * cost for one token at these bindings (one token's cache length).
   */
  decodeOne?: Bindings;
  /** Redundant expert copies allowed (default: the free slots, ranks·⌈E/ranks⌉ − E, at most E). */
  redundant?: number;
  /**
   * Expected tokens per expert of the MoE layers whose router writes `router` (a
   * routing-statistics file's counts, `--expert-load stats.json`; a loop's layers share them,
   * as they share one placement on the chips); uniform when absent or undefined.
   */
  expertLoad?: (router: string, experts: number) => readonly number[] | undefined;
}

/** Bytes one rank sends in one all-to-all, by where they go. */
export interface LinkBytes {
  /** To other ranks of its node. */
  link: number;
  /** To other nodes. */
  network: number;
}

/** Max/mean tokens per rank. */
export interface Imbalance {
  /** From the expected load alone (the placement's balance). */
  expected: number;
  /** At this batch: the expected busiest rank over the mean, routing randomness included. */
  batch: number;
}

export interface EpLayer {
  /** Routed experts, choices per token, shared experts, hidden size. */
  experts: number;
  k: number;
  shared: number;
  hidden: number;
  /** Expert slots per rank and the copies beyond one per expert that the placement kept. */
  slotsPerRank: number;
  replicas: number;
  /** Mean bytes a rank sends in the dispatch (the combine sends as many back). */
  dispatch: LinkBytes;
  /** Without redundant copies and with the placement's. */
  imbalance: { withoutReplicas: Imbalance; withReplicas: Imbalance };
  /** Seconds of the dispatch and the combine all-to-alls on the busiest rank. */
  dispatchSeconds: number;
  combineSeconds: number;
  /** The busiest rank's grouped GEMMs, and the rest of the layer's kernels. */
  expertSeconds: number;
  otherSeconds: number;
}

export interface EpCost {
  ranks: number;
  nodes: number;
  tokens: number;
  moeLayers: number;
  /** One entry per MoE layer. */
  layers: EpLayer[];
  /** Kernels outside the MoE layers (dense layers, embedding, LM head), per micro-batch. */
  outsideSeconds: number;
  /** One micro-batch's forward pass: compute, communication, their sum, with two-micro-batch overlap, and what the overlap hides. */
  computeSeconds: number;
  commSeconds: number;
  serialSeconds: number;
  overlapSeconds: number;
  hiddenSeconds: number;
  tokensPerSecondPerChip: number;
  /** Weight bytes one rank holds (its experts' slots, every replicated weight), against the chip's memory. */
  weightBytesPerRank: number;
  capacityBytes: number;
}

// ---------------------------------------------------------------------------------------
// Load imbalance at a finite batch
// ---------------------------------------------------------------------------------------

/** One rank's count of routed choices in a batch: binomial (no replicas) or a normal approximation. */
interface RankCount {
  mean: number;
  variance: number;
  /** Set when the count is Binomial(n, p) exactly. */
  binomial?: { n: number; p: number };
}

/** log(n!) for whole n: exact sums below 256, Stirling's series above (error < 1e-10). */
function logFactorial(n: number): number {
  if (n < LOG_FACT.length) return LOG_FACT[n]!;
  return (n + 0.5) * Math.log(n + 1) - (n + 1) + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * (n + 1)) - 1 / (360 * (n + 1) ** 3);
}
const LOG_FACT = (() => {
  const t = [0];
  for (let i = 1; i < 256; i++) t.push(t[i - 1]! + Math.log(i));
  return t;
})();

/** Φ, the standard normal CDF (Abramowitz and Stegun 7.1.26 through erf; error < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - (((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t) * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Standard deviations either side of the mean where a count's CDF is taken as 0 or 1. */
const TAIL_SIGMAS = 12;

/** The CDF P(X ≤ x) of a rank's count on the whole numbers lo..hi, and that range. */
function cdfTable(c: RankCount): { lo: number; cdf: Float64Array } {
  const sd = Math.sqrt(c.variance);
  const lo = Math.max(0, Math.floor(c.mean - TAIL_SIGMAS * sd - 2));
  const hi = Math.ceil(c.mean + TAIL_SIGMAS * sd + 2);
  const cdf = new Float64Array(hi - lo + 1);
  let acc = 0;
  for (let x = lo; x <= hi; x++) {
    if (c.binomial) {
      const { n, p } = c.binomial;
      const pmf = x > n ? 0 : p <= 0 ? (x === 0 ? 1 : 0) : p >= 1 ? (x === n ? 1 : 0) : Math.exp(logFactorial(n) - logFactorial(x) - logFactorial(n - x) + x * Math.log(p) + (n - x) * Math.log1p(-p));
      acc = Math.min(1, acc + pmf);
      cdf[x - lo] = acc;
    } else {
      // continuity correction: a count of x covers [x − ½, x + ½)
      cdf[x - lo] = sd > 0 ? normalCdf((x + 0.5 - c.mean) / sd) : x >= c.mean ? 1 : 0;
    }
  }
  return { lo, cdf };
}

/**
 * The expected largest of the ranks' counts, E[max_r X_r] = Σ_{x ≥ 0} (1 − Π_r P(X_r ≤ x)).
 * The product treats the counts as independent, which they are not (a choice that goes to one
 * rank does not go to another, and a token's k choices are distinct experts): against a
 * seeded simulation (test/cluster-cost.test.ts) it is within 3% from a few dozen choices per
 * rank, and 6% off at 16 choices over 4 ranks. Ranks with the same distribution are one
 * factor raised to their number.
 */
export function expectedMaxCount(ranks: readonly RankCount[]): number {
  const classes = new Map<string, { c: RankCount; n: number }>();
  for (const c of ranks) {
    const key = `${c.mean}:${c.variance}:${c.binomial ? `${c.binomial.n}/${c.binomial.p}` : ''}`;
    const got = classes.get(key);
    if (got) got.n++;
    else classes.set(key, { c, n: 1 });
  }
  const tables = [...classes.values()].map(({ c, n }) => ({ ...cdfTable(c), n }));
  if (tables.length === 0) return 0;
  const from = Math.min(...tables.map((t) => t.lo));
  const to = Math.max(...tables.map((t) => t.lo + t.cdf.length - 1));
  // below every table's range, P(max ≤ x) is 0: each such x adds 1
  let sum = from;
  for (let x = from; x <= to; x++) {
    let logAll = 0;
    for (const t of tables) {
      const i = x - t.lo;
      const f = i < 0 ? 0 : i >= t.cdf.length ? 1 : t.cdf[i]!;
      logAll += f <= 0 ? -Infinity : t.n * Math.log(f);
    }
    sum += 1 - Math.exp(logAll);
  }
  return sum;
}

/**
 * Each rank's count of routed choices when `tokens` tokens each choose `k` distinct experts,
 * expert e with probability k·share[e] (shares summing to 1), and an expert's choices split
 * evenly over its copies. A rank holding s single-copy experts can take at most m = min(s, k)
 * of a token's choices: its count is Binomial(tokens·m, k·q/m) for its share q, exact for one
 * expert (Binomial(tokens, k/E) when uniform) and the independent-choice binomial for s ≥ k.
 * A copy's count is its expert's over the number of copies, which is no binomial: a normal
 * with the sum's mean and variance.
 */
export function rankCounts(p: ExpertPlacement, share: readonly number[], tokens: number, k: number): RankCount[] {
  return p.slots.map((slots) => {
    let q = 0;
    let variance = 0;
    let replicated = false;
    let held = 0;
    for (const e of slots) {
      if (e < 0) continue;
      held++;
      const c = p.copies[e]!.length;
      const hit = Math.min(1, k * share[e]!);
      q += share[e]! / c;
      variance += (tokens * hit * (1 - hit)) / (c * c);
      if (c > 1) replicated = true;
    }
    const mean = tokens * k * q;
    if (replicated) return { mean, variance };
    const m = Math.max(1, Math.min(held, k));
    const pr = Math.min(1, (k * q) / m);
    return { mean, variance: tokens * m * pr * (1 - pr), binomial: { n: tokens * m, p: pr } };
  });
}

/** Max/mean tokens per rank for `tokens` tokens (all ranks' together) choosing `k` experts each. */
export function imbalanceOf(p: ExpertPlacement, share: readonly number[], tokens: number, k: number): Imbalance {
  const loads = rankLoads(p, share);
  const mean = 1 / p.ranks;
  const expected = Math.max(...loads) / mean;
  const batch = tokens > 0 ? expectedMaxCount(rankCounts(p, share, tokens, k)) / ((tokens * k) / p.ranks) : expected;
  return { expected, batch };
}

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

/** A MoE layer of the program: its router and the grouped GEMMs that read its choices, run `times` times. */
interface MoeKernels {
  router: RouterKernel;
  gemms: GroupedGemmKernel[];
  times: number;
}

function moeKernels(p: KProgram): MoeKernels[] {
  const out: MoeKernels[] = [];
  forEachKernel(p.steps, (k, times) => {
    if (k.kind === 'router') out.push({ router: k, gemms: [], times });
    else if (k.kind === 'grouped_gemm') out.find((m) => m.router.indices === k.indices)?.gemms.push(k);
  });
  return out;
}

/** The busiest rank's grouped GEMM: its local routed experts and the shared ones, over the rows it receives. */
function rankProblem(p: GemmProblem, r: { routed: number; k: number; local: number; ranks: number; tokens: number; imbalance: number }): GemmProblem {
  const rows = r.tokens * r.k * r.imbalance + r.tokens * p.shared;
  // expected local experts hit: each of the ranks·T tokens picks k of E, so a given expert is
  // missed with (1 − k/E)^(ranks·T); `activeExperts` computes local·(1 − (1 − (k·local/E)/local)^tokens)
  return { ...p, experts: r.local + p.shared, slots: p.shared + (r.k * r.local) / r.routed, tokens: r.ranks * r.tokens, rows };
}

/** Seconds of one all-to-all on the busiest rank: both levels at once, each moving max(sent, received). */
function allToAllSeconds(sent: LinkBytes, received: LinkBytes, links: EpLinks): number {
  const link = Math.max(sent.link, received.link);
  const network = Math.max(sent.network, received.network);
  const t = Math.max(link / links.link.bandwidth, network / links.network.bandwidth);
  const latency = Math.max(link > 0 ? links.link.latency : 0, network > 0 ? links.network.latency : 0);
  return t + latency;
}

/** Kernels (and ops) whose cost grows with the KV cache a token attends to. */
const ATTENTION_OPS: ReadonlySet<string> = new Set(['attention', 'mla_attention']);

/** Kernels of a MoE layer: in a loop whose body holds a router, or all top-level kernels when a router is at top level. */
function inMoeLayer(loops: readonly LoopStep[], topRouter: boolean): boolean {
  if (loops.length === 0) return topRouter;
  return loops[loops.length - 1]!.body.some((s) => s.kind === 'router');
}

export function expertParallelCost(req: EpRequest): EpCost {
  const { program, chip, links, ranks: R, tokens: T } = req;
  const bindings = { ...req.bindings, [TOKENS]: T };
  const buf = bufferResolver(program);
  const moe = moeKernels(program);
  const topRouter = program.steps.some((s) => s.kind === 'router');

  // every kernel but the grouped GEMMs and their sort, from the chip's own cost model
  const cost = programCost(program, chip, T, req.bindings);
  let outsideSeconds = 0;
  let moeOtherSeconds = 0;
  let i = 0;
  forEachKernel(program.steps, (k, _times, loops) => {
    const e = cost.perKernel[i];
    if (e?.kernel !== k) return; // a moe_align the direct path skips has no entry
    i++;
    if (k.kind === 'grouped_gemm' || k.kind === 'moe_align') return;
    // attention and MLA are kernels of their own (ir/kernel/attention.ts, mla.ts); a hand-written program may still have them as ops
    const attends = ATTENTION_OPS.has(k.kind) || (k.kind === 'op' && ATTENTION_OPS.has(k.op));
    const seconds = req.decodeOne && attends ? T * e.times * kernelCost(k, program, chip, 1, req.decodeOne, buf).seconds : e.seconds;
    if (inMoeLayer(loops, topRouter)) moeOtherSeconds += seconds;
    else outsideSeconds += seconds;
  });
  const moeLayers = moe.reduce((a, m) => a + m.times, 0);

  const uniformCache = new Map<number, number[]>();
  const placements = new Map<string, { p: ExpertPlacement; p0: ExpertPlacement }>();
  const layers: EpLayer[] = [];
  const stacks = sliceStacks(program.steps);
  /** Stacked expert weight → the share of its experts the busiest rank holds. */
  const expertShare = new Map<string, number>();
  for (const m of moe) {
    const E = m.router.experts;
    const k = m.router.k;
    const shared = m.router.shared;
    const hidden = evalShape(buf(m.router.x).shape, bindings).at(-1)!;
    const actBytes = dtypeBytes(buf(m.router.x).dtype);
    const slots = Math.ceil((E + (req.redundant ?? 0)) / R);
    // default: the free slots, at most one extra copy per expert (each try repacks every
    // rank: thousands of free slots on a large cluster took minutes to plan)
    const redundant = req.redundant ?? Math.min(slots * R - E, E);
    for (let t = 0; t < m.times; t++) {
      const given = req.expertLoad?.(m.router.indices, E);
      const load = given ?? uniformCache.get(E) ?? (uniformCache.set(E, new Array<number>(E).fill(1)), uniformCache.get(E)!);
      const key = given ? `router ${m.router.indices}` : `uniform ${E}`;
      let pl = placements.get(key);
      if (!pl) {
        pl = {
          p: planPlacement({ experts: E, ranks: R, load, redundant: Math.min(redundant, slots * R - E), slotsPerRank: slots }),
          p0: planPlacement({ experts: E, ranks: R, load, slotsPerRank: slots }),
        };
        placements.set(key, pl);
      }
      const total = load.reduce((a, b) => a + b, 0);
      const share = load.map((v) => (total > 0 ? v / total : 1 / E));
      const withReplicas = imbalanceOf(pl.p, share, R * T, k);
      const withoutReplicas = imbalanceOf(pl.p0, share, R * T, k);

      // mean bytes one rank sends: to its node's other ranks, and off the node
      const q = rankLoads(pl.p, share);
      const row = hidden * actBytes;
      let link = 0;
      let network = 0;
      for (let s = 0; s < R; s++) {
        const node = Math.floor(s / links.chipsPerNode);
        for (let d = 0; d < R; d++) {
          if (d === s) continue;
          if (Math.floor(d / links.chipsPerNode) === node) link += q[d]!;
          else network += q[d]!;
        }
      }
      const dispatch: LinkBytes = { link: (T * k * row * link) / R, network: (T * k * row * network) / R };
      // the busiest rank receives `batch` times the mean, from its node and from the others
      // in proportion to how many ranks each holds
      const nodeSize = Math.min(links.chipsPerNode, R);
      const recvMean = T * k * row * (1 - 1 / R);
      const recv: LinkBytes = {
        link: (withReplicas.batch * recvMean * (nodeSize - 1)) / Math.max(1, R - 1),
        network: (withReplicas.batch * recvMean * (R - nodeSize)) / Math.max(1, R - 1),
      };
      const a2a = allToAllSeconds(dispatch, recv, links);

      // the busiest rank's grouped GEMMs: one sort, the cheaper of the sorted and direct paths
      const local = Math.max(...pl.p.slots.map((s) => s.filter((e) => e >= 0).length));
      for (const g of m.gemms) {
        const all = evalShape(buf(g.w).shape, bindings)[0]!;
        expertShare.set(stackRoot(stacks, g.w), Math.max(expertShare.get(stackRoot(stacks, g.w)) ?? 0, Math.min(1, (local + all - E) / all)));
      }
      const probs = m.gemms.map((g) => ({ g, p: rankProblem(gemmProblem(g, program, bindings, buf), { routed: E, k, local, ranks: R, tokens: T, imbalance: withReplicas.batch }) }));
      // tiled for the rank's own problem (the single-chip program's tile was sized for all experts' rows)
      const tiles = probs.map(({ p }) => chooseTiling(p, chip, MAX_GROUPED_M).tile);
      const sorted = probs.reduce((a, { p }, j) => a + gemmCost(p, tiles[j]!, chip).seconds, 0) +
        (probs.length > 0 ? alignCost(probs[0]!.p.rows / probs[0]!.p.slots, probs[0]!.p.slots, probs[0]!.p.experts, tiles[0]!.m, chip).seconds : 0);
      const direct = probs.reduce((a, { p }, j) => a + directDecodeCost(p, tiles[j]!, chip).seconds, 0);
      layers.push({
        experts: E, k, shared, hidden, slotsPerRank: slots, replicas: pl.p.copies.reduce((a, c) => a + c.length - 1, 0),
        dispatch, imbalance: { withoutReplicas, withReplicas }, dispatchSeconds: a2a, combineSeconds: a2a,
        expertSeconds: Math.min(sorted, direct), otherSeconds: moeLayers > 0 ? moeOtherSeconds / moeLayers : 0,
      });
    }
  }

  let computeSeconds = outsideSeconds;
  let commSeconds = 0;
  let overlapSeconds = outsideSeconds;
  for (const l of layers) {
    const c = l.expertSeconds + l.otherSeconds;
    const m = l.dispatchSeconds + l.combineSeconds;
    computeSeconds += c;
    commSeconds += m;
    overlapSeconds += Math.max(c, m);
  }
  const serialSeconds = computeSeconds + commSeconds;
  return {
    ranks: R, nodes: Math.ceil(R / links.chipsPerNode), tokens: T, moeLayers, layers, outsideSeconds,
    computeSeconds, commSeconds, serialSeconds, overlapSeconds, hiddenSeconds: serialSeconds - overlapSeconds,
    tokensPerSecondPerChip: overlapSeconds > 0 ? T / overlapSeconds : Infinity,
    weightBytesPerRank: weightBytesPerRank(program, expertShare), capacityBytes: chip.memory[chip.memory.length - 1]!.bytes,
  };
}

/**
 * Weight bytes on one rank: every weight in full but the stacked experts, of which its share.
 * A loop's per-iteration slices are views of a stacked weight, not storage: counting them
 * added a layer's worth of every stacked weight (22.5 GiB for DeepSeek-V3 at bf16).
 */
function weightBytesPerRank(p: KProgram, expertShare: ReadonlyMap<string, number>): number {
  const bytes = (b: KBuffer): number => evalShape(b.shape, {}).reduce((a, d) => a * d, 1) * dtypeBytes(b.dtype);
  const views = loopSlices(p.steps);
  return p.buffers.filter((b) => b.kind === 'weight' && !views.has(b.name)).reduce((a, b) => a + bytes(b) * (expertShare.get(b.name) ?? 1), 0);
}

