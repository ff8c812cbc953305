/**
 * @fileoverview The command line's expert-parallel options, in one place: `--chips N`,
 * `--redundant-experts R`, `--expert-load stats.json` (compile, run, pack, ir),
 * `--record-routing stats.json` (run), the placement plan `moec compile --chips N` prints,
 * and the per-rank blobs of `moec pack --chips N`.
 */
import { imbalance, rankLoads } from '../../ir/kernel/placement.ts';
import { forEachKernel } from '../../ir/kernel/walk.ts';
import { planPlacement } from '../passes/place-experts.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { type RoutingStats, loadFor, readRoutingStats, recordRouting } from '../cluster/routing-stats.ts';
import type { Module } from '../../ir/graph/graph.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { openCheckpoint } from '../../ir/checkpoint.ts';
import type { Backend } from '../backends/backend.ts';
import { weightsFromSafetensors } from '../checkpoint/load-weights.ts';
import { compileForCaps, randomWeights } from '../driver-core.ts';
import type { TargetCaps } from '../target/caps.ts';
import { loadTarget } from '../target/load.ts';
import type { PassContext } from '../passes/pass.ts';
import { UsageError } from '../usage-error.ts';
import { parseInt32 } from './int-option.ts';

type Values = Record<string, unknown>;

export interface ChipsOptions {
  chips?: number;
  redundantExperts?: number;
  expertLoad?: PassContext['expertLoad'];
}

/** Most chips `--chips` takes: far past any placement or cluster moec plans, and what a plan's arrays may hold. */
export const MAX_CHIPS = 65536;

/** Most ranks `moec run --chips N` starts on this one machine: each is a process with its own copy of the shared weights. */
export const MAX_LOCAL_RANKS = 64;

/**
 * `--chips`, `--redundant-experts` and `--expert-load` as read by every command that takes them
 * (the statistics file read once, here). The other two need `--chips N` with N >= `minChips`:
 * the pipeline places experts over 2 or more; analyze costs a placement on 1 chip too.
 */
export function expertParallelValues(values: Values, minChips: 1 | 2): ChipsOptions {
  const chips = parseInt32('chips', values.chips, 1, MAX_CHIPS);
  const redundantExperts = parseInt32('redundant-experts', values['redundant-experts'], 0, 1 << 20);
  const loadPath = values['expert-load'] as string | undefined;
  if ((redundantExperts !== undefined || loadPath !== undefined) && (chips === undefined || chips < minChips))
    throw new UsageError(`--redundant-experts and --expert-load place experts over several chips: give --chips N${minChips > 1 ? ` with N >= ${minChips}` : ''}`, 'e.g. --chips 32 --redundant-experts 32');
  if (loadPath === undefined) return { chips, redundantExperts };
  const stats = readRoutingStats(loadPath);
  return { chips, redundantExperts, expertLoad: (router, experts) => loadFor(stats, router, experts, loadPath) };
}

/** The pipeline's expert-parallel options from the command line. */
export function chipsOptions(values: Values): ChipsOptions {
  return expertParallelValues(values, 2);
}

/** The plan `moec compile --chips N` prints: per placed MoE group, each rank's experts and the balance. */
export function placementReport(p: KProgram, load?: PassContext['expertLoad']): string {
  if (!p.ep) return '';
  const lines = [`expert parallelism over ${p.ep.ranks} ranks (router, shared experts and dense layers on every rank):`];
  for (const q of p.ep.placements) {
    const pl = q.placement;
    const replicas = pl.copies.reduce((n, c) => n + c.length - 1, 0);
    lines.push(`  ${q.name}: ${q.experts} routed experts${q.shared ? ` + ${q.shared} shared` : ''}, ${pl.slotsPerRank} slots per rank${replicas ? `, ${replicas} redundant cop${replicas === 1 ? 'y' : 'ies'}` : ''}; weights ${q.weights.map((w) => w.buffer).join(', ')}`);
    pl.slots.forEach((s, r) => lines.push(`    rank ${r}: experts ${s.filter((e) => e >= 0).join(', ') || '(none)'}`));
    let router: string | undefined;
    forEachKernel(p.steps, (k) => {
      if (k.kind === 'dispatch' && k.placement === q.name) router = k.indices;
    });
    const expected = (router !== undefined ? load?.(router, q.experts) : undefined) ?? new Array<number>(q.experts).fill(1);
    const single = planPlacement({ experts: q.experts, ranks: p.ep.ranks, load: expected });
    const how = load ? 'routing statistics' : 'uniform routing';
    lines.push(`    load imbalance (max/mean tokens per rank, ${how}): ${imbalance(rankLoads(pl, expected)).toFixed(3)}${replicas ? ` (${imbalance(rankLoads(single, expected)).toFixed(3)} without replicas)` : ''}`);
  }
  return lines.join('\n');
}

/**
 * `moec pack --chips N -o OUT.bin`: OUT.0.bin .. OUT.{N-1}.bin (the runner's `OUT.%d.bin`),
 * each with only its rank's expert slots, and one manifest for their common layout.
 */
export function packRanks(backend: Backend, program: KProgram, target: TargetCaps, weights: Record<string, Tensor>, source: string, out: string): { blobs: Uint8Array[]; json: string; paths: string[] } {
  if (!backend.packRankWeights) throw new UsageError(`--chips runs the C backend over MPI; ${target.name} is a ${backend.name} target`, 'use --target x86-avx2 (or another C target)');
  const { blobs, manifest } = backend.packRankWeights(program, target, weights);
  const stem = out.endsWith('.bin') ? out.slice(0, -4) : out;
  const paths = blobs.map((_, r) => `${stem}.${r}.bin`);
  const json = JSON.stringify({ ...manifest, weights: source, ranks: program.ep!.ranks, files: paths, placements: program.ep!.placements.map((q) => ({ name: q.name, slots: q.placement.slots, weights: q.weights })) }, null, 1) + '\n';
  return { blobs, json, paths };
}

/**
 * `moec run --record-routing FILE`: the routing of this run's weights and inputs, from the
 * kernel interpreter's router outputs (the single-chip program for the target, or x86-avx2).
 */
export function recordRoutingRun(m: Module, values: Values, inputs: Record<string, Tensor>, bindings: Record<string, number>, seed: number, note: (message: string) => void): RoutingStats {
  const path = values.weights as string | undefined;
  const weights = path !== undefined ? weightsFromSafetensors(m, openCheckpoint(path), path, { note }) : randomWeights(m, seed);
  const target = loadTarget((values.target as string | undefined) ?? 'x86-avx2');
  const { program } = compileForCaps(m, { target, runTokens: bindings.T });
  return recordRouting(program, { weights, inputs, bindings });
}
