/**
 * @fileoverview `moec analyze --chips N [--cluster C]`: the model spread over N chips of a
 * cluster with expert parallelism, costed by `compiler/cost/expert-parallel.ts` on the program
 * compiled for the cluster's chip. Reports per MoE layer and per token the all-to-all bytes,
 * the time on each link level, compute, what two-micro-batch overlap hides, the load
 * imbalance and tokens/s per chip; `scaling` (for `--svg`) repeats the cost for N = 1, 2, 4, …
 * up to the cluster's chips.
 *
 * The micro-batch is T tokens per rank (`--tokens`). T < L (`--context`) is a decode batch: T
 * sequences each decoding its L-th token; T ≥ L is a prefill of T tokens, the last T of a
 * context of L (T = L: one whole prompt).
 *
 * The program is costed at the analysis's storage dtype (`--dtype`, by default a config's
 * torch_dtype): a bf16 model moves 2-byte weights and activations and multiplies at the
 * chip's bf16 rate, as it is served, although moec compiles its graphs in f32. Quantized
 * dtypes are costed as bf16 (their scales and codes are a separate question; DeepSeek-V3
 * serves its GEMMs in fp8, which this leaves out).
 */
import type { Module } from '../../ir/graph/graph.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { type EpCost, type EpLayer, expertParallelCost } from '../cost/expert-parallel.ts';
import { type Cluster, clusterChips } from '../target/cluster.ts';
import { fmtBytes, fmtNumber, fmtSI, fmtSeconds, formatTable } from '../format.ts';
import { contextBindings } from './flops.ts';
import { compileForCost } from './kernels.ts';
import type { StorageDType } from './memory.ts';
import { type LogPlot, coord, decades, logPlot, svgAxisTitles, svgGrid, svgHeader, svgText } from './roofline-plot.ts';

export interface ClusterOptions {
  cluster: Cluster;
  chips: number;
  /** Tokens per rank per micro-batch, and the context. */
  tokens: number;
  context: number;
  dtype: StorageDType;
  bindings?: Record<string, number>;
  /** Redundant expert copies (default: the free slots). */
  redundant?: number;
  /** Expected tokens per expert per MoE layer (the `--expert-load` hook; uniform when absent). */
  expertLoad?: (router: string, experts: number) => readonly number[] | undefined;
  /** Also cost N = 1, 2, 4, … up to the cluster's chips (for the chart). */
  scaling?: boolean;
}

/** One MoE layer, averaged over the model's MoE layers (they are alike under uniform routing). */
export interface ClusterLayer {
  /** Bytes one rank sends per token it holds, dispatch and combine together, by level. */
  bytesPerToken: { link: number; network: number; total: number };
  /** Seconds per micro-batch on the busiest rank. */
  dispatchSeconds: number;
  combineSeconds: number;
  expertSeconds: number;
  otherSeconds: number;
  /** With two micro-batches: max(compute, communication), and min(…), what overlap hides. */
  overlapSeconds: number;
  hiddenSeconds: number;
  imbalance: EpLayer['imbalance'];
  slotsPerRank: number;
  replicas: number;
}

export interface ScalingPoint {
  chips: number;
  secondsPerToken: number;
  serialSecondsPerToken: number;
  tokensPerSecondPerChip: number;
  /** Whether one rank's weights fit its chip's memory. */
  fits: boolean;
}

export interface ClusterAnalysis {
  cluster: string;
  chip: string;
  chips: number;
  nodes: number;
  chipsPerNode: number;
  links: { link: Cluster['link']; network: Cluster['network'] };
  /** Tokens per rank per micro-batch; `decode` when they are T sequences at their L-th token. */
  tokens: number;
  context: number;
  phase: 'decode' | 'prefill';
  dtype: 'f32' | 'bf16';
  moeLayers: number;
  layer: ClusterLayer | null;
  /** One micro-batch's forward pass on the busiest rank. */
  total: { computeSeconds: number; commSeconds: number; serialSeconds: number; overlapSeconds: number; hiddenSeconds: number };
  secondsPerToken: number;
  tokensPerSecondPerChip: number;
  memory: { weightBytesPerRank: number; capacityBytes: number; fits: boolean };
  scaling: ScalingPoint[] | null;
}

/** A costing view of a compiled program at bf16: float buffers as 2-byte bf16 (scales of quantized weights stay f32). */
export function atCostDType(p: KProgram, dtype: 'f32' | 'bf16'): KProgram {
  if (dtype === 'f32') return p;
  const scales = new Set(p.buffers.flatMap((b) => (b.quant ? [b.quant.scales] : [])));
  return { ...p, buffers: p.buffers.map((b) => (b.dtype === 'f32' && !scales.has(b.name) ? { ...b, dtype: 'bf16' as const } : b)) };
}

function mean(layers: readonly EpLayer[], f: (l: EpLayer) => number): number {
  return layers.length > 0 ? layers.reduce((a, l) => a + f(l), 0) / layers.length : 0;
}

function layerSummary(c: EpCost): ClusterLayer | null {
  const ls = c.layers;
  if (ls.length === 0) return null;
  const T = c.tokens;
  const link = mean(ls, (l) => 2 * l.dispatch.link) / T;
  const network = mean(ls, (l) => 2 * l.dispatch.network) / T;
  const compute = (l: EpLayer): number => l.expertSeconds + l.otherSeconds;
  const comm = (l: EpLayer): number => l.dispatchSeconds + l.combineSeconds;
  const worst = (f: (i: EpLayer['imbalance']['withReplicas']) => number, which: 'withReplicas' | 'withoutReplicas'): number => Math.max(...ls.map((l) => f(l.imbalance[which])));
  return {
    bytesPerToken: { link, network, total: link + network },
    dispatchSeconds: mean(ls, (l) => l.dispatchSeconds),
    combineSeconds: mean(ls, (l) => l.combineSeconds),
    expertSeconds: mean(ls, (l) => l.expertSeconds),
    otherSeconds: mean(ls, (l) => l.otherSeconds),
    overlapSeconds: mean(ls, (l) => Math.max(compute(l), comm(l))),
    hiddenSeconds: mean(ls, (l) => Math.min(compute(l), comm(l))),
    imbalance: {
      withoutReplicas: { expected: worst((i) => i.expected, 'withoutReplicas'), batch: worst((i) => i.batch, 'withoutReplicas') },
      withReplicas: { expected: worst((i) => i.expected, 'withReplicas'), batch: worst((i) => i.batch, 'withReplicas') },
    },
    slotsPerRank: ls[0]!.slotsPerRank,
    replicas: Math.max(...ls.map((l) => l.replicas)),
  };
}

/** Chip counts the chart draws: powers of two up to the cluster, and N itself. */
function scalingChips(n: number, max: number): number[] {
  const out = new Set<number>([n]);
  for (let c = 1; c <= max; c *= 2) out.add(c);
  return [...out].sort((a, b) => a - b);
}

export function analyzeCluster(m: Module, o: ClusterOptions): ClusterAnalysis {
  const { cluster, chips, tokens: T, context: L } = o;
  const phase = T < L ? 'decode' : 'prefill';
  const dtype = o.dtype === 'f32' ? 'f32' : 'bf16';
  const bindings = contextBindings(m, T, phase === 'decode' ? L - 1 : Math.max(0, L - T), o.bindings);
  const program = atCostDType(compileForCost(m, cluster.chip, T, bindings), dtype);
  const decodeOne = phase === 'decode' ? contextBindings(m, 1, L - 1, o.bindings) : undefined;
  const cost = (ranks: number): EpCost =>
    expertParallelCost({
      program, chip: cluster.chip, links: cluster, ranks, tokens: T, bindings, ...(decodeOne ? { decodeOne } : {}),
      ...(o.redundant !== undefined ? { redundant: o.redundant } : {}), ...(o.expertLoad ? { expertLoad: o.expertLoad } : {}),
    });
  const c = cost(chips);
  const point = (e: EpCost): ScalingPoint => ({
    chips: e.ranks, secondsPerToken: e.overlapSeconds / T, serialSecondsPerToken: e.serialSeconds / T,
    tokensPerSecondPerChip: e.tokensPerSecondPerChip, fits: e.weightBytesPerRank <= e.capacityBytes,
  });
  return {
    cluster: cluster.name, chip: cluster.chip.name, chips, nodes: c.nodes, chipsPerNode: cluster.chipsPerNode,
    links: { link: cluster.link, network: cluster.network }, tokens: T, context: L, phase, dtype, moeLayers: c.moeLayers,
    layer: layerSummary(c),
    total: { computeSeconds: c.computeSeconds, commSeconds: c.commSeconds, serialSeconds: c.serialSeconds, overlapSeconds: c.overlapSeconds, hiddenSeconds: c.hiddenSeconds },
    secondsPerToken: c.overlapSeconds / T,
    tokensPerSecondPerChip: c.tokensPerSecondPerChip,
    memory: { weightBytesPerRank: c.weightBytesPerRank, capacityBytes: c.capacityBytes, fits: c.weightBytesPerRank <= c.capacityBytes },
    scaling: o.scaling ? scalingChips(chips, clusterChips(cluster)).map((n) => (n === chips ? point(c) : point(cost(n)))) : null,
  };
}

const ratio = (x: number): string => x.toFixed(2);

/** The terminal section of `moec analyze --chips N`. */
export function renderCluster(a: ClusterAnalysis): string[] {
  const out: string[] = [];
  const grid = (rows: string[][]): string[] => formatTable(rows, { right: (i) => i > 0, indent: '  ' });
  const what = a.phase === 'decode' ? `${a.tokens} sequence${a.tokens === 1 ? '' : 's'} decoding token ${a.context}` : `prefill of ${a.tokens} tokens`;
  out.push(`expert parallelism on ${a.cluster}: ${a.chips} × ${a.chip} (${a.nodes} node${a.nodes === 1 ? '' : 's'} of up to ${a.chipsPerNode}; ${a.links.link.name} ${fmtSI(a.links.link.bandwidth, 'B/s')}, ${a.links.network.name} ${fmtSI(a.links.network.bandwidth, 'B/s')} per chip)`);
  out.push(`  micro-batch per chip: ${what}, at ${a.dtype}; ${a.moeLayers} MoE layer${a.moeLayers === 1 ? '' : 's'}`);
  const l = a.layer;
  if (l) {
    out.push(`  per MoE layer (busiest chip, one micro-batch):`);
    out.push(
      ...grid([
        ['all-to-all bytes per token (dispatch + combine)', `${fmtBytes(l.bytesPerToken.total)}  (${a.links.link.name} ${fmtBytes(l.bytesPerToken.link)}, ${a.links.network.name} ${fmtBytes(l.bytesPerToken.network)})`],
        ['communication (dispatch + combine)', `${fmtSeconds(l.dispatchSeconds)} + ${fmtSeconds(l.combineSeconds)}`],
        ['compute (experts + rest of the layer)', `${fmtSeconds(l.expertSeconds)} + ${fmtSeconds(l.otherSeconds)}`],
        ['with two micro-batches overlapped', `${fmtSeconds(l.overlapSeconds)}  (hides ${fmtSeconds(l.hiddenSeconds)})`],
        [`load imbalance, max/mean (${l.slotsPerRank} expert slot${l.slotsPerRank === 1 ? '' : 's'} per chip)`, 'expected load  at this batch'],
        ['  without replicas', `${ratio(l.imbalance.withoutReplicas.expected)}  ${ratio(l.imbalance.withoutReplicas.batch)}`],
        [`  with replicas (${l.replicas} kept)`, `${ratio(l.imbalance.withReplicas.expected)}  ${ratio(l.imbalance.withReplicas.batch)}`],
      ]),
    );
  }
  const t = a.total;
  out.push(`  forward pass per micro-batch: compute ${fmtSeconds(t.computeSeconds)}, communication ${fmtSeconds(t.commSeconds)}, serial ${fmtSeconds(t.serialSeconds)}, overlapped ${fmtSeconds(t.overlapSeconds)} (hides ${(t.serialSeconds > 0 ? (100 * t.hiddenSeconds) / t.serialSeconds : 0).toFixed(1)}%)`);
  out.push(`  per token: ${fmtSeconds(a.secondsPerToken)} of a chip; ${fmtNumber(a.tokensPerSecondPerChip)} tokens/s per chip, ${fmtNumber(a.tokensPerSecondPerChip * a.chips)} tokens/s on ${a.chips} chips`);
  out.push(`  weights per chip: ${fmtBytes(a.memory.weightBytesPerRank)} of ${fmtBytes(a.memory.capacityBytes)}${a.memory.fits ? '' : '  (does not fit: more chips)'}`);
  return out;
}

const FRAME = { width: 800, height: 520, margin: { left: 90, right: 40, top: 64, bottom: 64 } };

/** `--svg` with `--chips`: time per token of a chip against N, with and without overlap, on log axes. */
export function scalingSvg(a: ClusterAnalysis, title: string): string {
  const pts = a.scaling ?? [];
  const ys = pts.flatMap((p) => [p.secondsPerToken, p.serialSecondsPerToken]).filter((y) => y > 0 && Number.isFinite(y));
  const plot: LogPlot = logPlot(FRAME, decades(pts[0]?.chips ?? 1, pts.at(-1)?.chips ?? 1, 1, 1.5), decades(Math.min(...ys, 1e-9), Math.max(...ys, 1e-9), 1.5));
  const s = svgHeader(plot, title, `T = ${a.tokens} tokens per chip per micro-batch (${a.phase}); solid: two micro-batches overlapped, dashed: serial; hollow: weights do not fit`, true);
  s.push(...svgGrid(plot, { minor: false, major: 'stroke="#ddd"', tick: (e) => (plot.yLo <= e && e <= plot.yHi && e < 0 ? fmtSeconds(10 ** e) : String(10 ** e)) }));
  s.push(...svgAxisTitles(plot, 'chips (N)', 'seconds of a chip per token', 20));
  const line = (f: (p: ScalingPoint) => number, attrs: string): string =>
    `<path d="${pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${coord(plot.sx(p.chips))},${coord(plot.sy(f(p)))}`).join(' ')}" fill="none" ${attrs} clip-path="url(#plot)"/>`;
  s.push(line((p) => p.serialSecondsPerToken, 'stroke="#999" stroke-width="1.5" stroke-dasharray="6 4"'));
  s.push(line((p) => p.secondsPerToken, 'stroke="#2e86ab" stroke-width="2"'));
  for (const p of pts) {
    s.push(`<circle class="point" data-chips="${p.chips}" cx="${coord(plot.sx(p.chips))}" cy="${coord(plot.sy(p.secondsPerToken))}" r="4" fill="${p.fits ? '#2e86ab' : 'white'}" stroke="#2e86ab"/>`);
    if (p.chips === a.chips) s.push(svgText(plot.sx(p.chips) + 8, plot.sy(p.secondsPerToken) - 8, `N = ${p.chips}: ${fmtSeconds(p.secondsPerToken)}/token`, 'font-size="11"'));
  }
  s.push('</svg>');
  return s.join('\n') + '\n';
}
