/**
 * @fileoverview The compact report `moec compile` prints: the kernels and what each
 * fused, the tile each GEMM got and why, the arena against the naive sum of buffers, and
 * the cost model's estimated time on the target for a decode step and a full batch.
 */
import type { KProgram, Kernel, Step, Tiling } from '../../ir/kernel/kernel.ts';
import { formatBytes } from '../../ir/kernel/kprint.ts';
import { forEachKernel, loopSlices } from '../../ir/kernel/walk.ts';
import { atTokens } from '../../ir/kernel/memory.ts';
import { dimToString, isSym } from '../../ir/dims.ts';
import { stateBytes } from '../../ir/kernel/attention.ts';
import { dtypeBytes } from '../../ir/types.ts';
import { TOKENS, programCost } from '../cost/cost.ts';
import { describeKernel } from './describe.ts';
import type { TargetCaps } from '../target/caps.ts';

interface Row {
  depth: number;
  text: string;
  tile?: string;
}

function rows(p: KProgram, steps: Step[], depth: number, out: Row[]): void {
  for (const s of steps) {
    if (s.kind === 'loop') {
      out.push({ depth, text: `loop × ${s.count} (stacked weights sliced per iteration):` });
      rows(p, s.body, depth + 1, out);
      continue;
    }
    out.push({ depth, text: describeKernel(s as Kernel) + quantText(p, s as Kernel), tile: tileText(s as Kernel) });
  }
}

/** ` [i4 weights, groups of 32]` for a kernel that reads a quantized weight, else ''. */
function quantText(p: KProgram, k: Kernel): string {
  if (k.kind !== 'gemm' && k.kind !== 'grouped_gemm' && k.kind !== 'router') return '';
  const w = p.buffers.find((b) => b.name === k.w);
  return w?.quant ? ` [${w.dtype} weights, groups of ${w.quant.group}]` : '';
}

/**
 * `quantized weights: 1.3 GiB of codes + 168 MiB of scales (f32: 5.2 GiB)`, for a program
 * with quantized weights (weight sizes are constants); undefined otherwise.
 */
function quantizedWeights(p: KProgram): string | undefined {
  const scales = new Set(p.buffers.flatMap((b) => (b.quant ? [b.quant.scales] : [])));
  const slices = loopSlices(p.steps);
  let codes = 0;
  let scaleBytes = 0;
  let f32 = 0;
  for (const b of p.buffers) {
    if (b.kind !== 'weight' || slices.has(b.name) || !b.shape.every((d) => typeof d === 'number')) continue;
    const n = (b.shape as number[]).reduce((a, d) => a * d, 1);
    if (b.quant) {
      codes += n * dtypeBytes(b.dtype);
      f32 += n * 4;
    } else if (scales.has(b.name)) scaleBytes += n * 4;
  }
  return codes > 0 ? `quantized weights: ${formatBytes(codes)} of codes + ${formatBytes(scaleBytes)} of scales (f32: ${formatBytes(f32)})` : undefined;
}

function tileText(k: Kernel): string | undefined {
  if ((k.kind === 'attention' || k.kind === 'mla_attention') && k.schedule) {
    const s = k.schedule;
    const form = s.form === 'cheaper' ? ', absorbed or naive form by the cost of each call' : s.form !== undefined ? `, ${s.form} form` : '';
    return `key tile ${s.keyTile}, decode split ${s.splits}${s.headBlock !== undefined ? `, heads in blocks of ${s.headBlock}` : ''}${s.queryBlock !== undefined ? `, prefill in blocks of ${s.queryBlock} queries` : ''}${form}`;
  }
  if (k.kind !== 'gemm' && k.kind !== 'grouped_gemm' && k.kind !== 'router') return undefined;
  const t = k.tile;
  if (!t) return undefined;
  const path = k.kind === 'grouped_gemm' ? `, sorted path from T=${k.sortedFromTokens}` : '';
  return `tile ${t.m}×${t.n}×${t.k}, micro ${t.mr}×${t.nr}, vector ${t.vector}${path}${t.note ? `\n      ${t.note}` : ''}`;
}

function seconds(s: number): string {
  return s >= 1 ? `${s.toFixed(2)} s` : s >= 1e-3 ? `${(s * 1e3).toFixed(2)} ms` : `${(s * 1e6).toFixed(1)} µs`;
}

function countKernels(steps: Step[]): number {
  return steps.reduce((n, s) => n + (s.kind === 'loop' ? countKernels(s.body) : 1), 0);
}

/** The report of a compiled program. */
export function compileReport(p: KProgram, target: TargetCaps, maxTokens: number, compileMs?: number): string {
  const took = compileMs === undefined ? '' : `, compiled in ${compileMs.toFixed(0)} ms`;
  const lines = [`${p.name} → ${target.name} (${target.backend}), up to ${maxTokens} tokens${took}`];
  const list: Row[] = [];
  rows(p, p.steps, 0, list);
  lines.push(`kernels (${countKernels(p.steps)}):`);
  let n = 0;
  for (const r of list) {
    const indent = '  '.repeat(r.depth + 1);
    const num = r.text.startsWith('loop') ? '' : `${++n}. `;
    lines.push(`${indent}${num}${r.text}`);
    if (r.tile) lines.push(`${indent}   ${r.tile.replace(/\n/g, `\n${indent}`)}`);
  }
  if (p.arenaBytes !== undefined && p.naiveBytes !== undefined) {
    const bytes = atTokens(p.arenaBytes, maxTokens);
    const r = bytes > 0 ? p.naiveBytes / bytes : 1;
    const ratio = r >= 1.05 ? ` (${r.toFixed(1)}× smaller)` : ' (no reuse: every intermediate is live at one point)';
    const perToken = isSym(p.arenaBytes) ? ` (${dimToString(p.arenaBytes)} bytes for T tokens${p.arenaParts ? `, in ${p.arenaParts.length} parts` : ''})` : '';
    lines.push(`arena: ${formatBytes(bytes)} for T = ${maxTokens}${perToken}; naive sum of buffers ${formatBytes(p.naiveBytes)}${ratio}`);
  }
  const quant = quantizedWeights(p);
  if (quant) lines.push(quant);
  const state = stateBytes(p);
  if (state.buffers > 0) lines.push(`state: KV caches of ${p.maxContext} positions, ${formatBytes(state.bytes)} in ${state.buffers} buffer${state.buffers === 1 ? '' : 's'} (kept by the compiled model between calls; --max-context sets the positions)`);
  const { at, points } = estimates(p, target, maxTokens);
  const est = points.map((c) => `T=${c.tokens}: ${seconds(c.seconds)} (${(c.flops / 1e9).toFixed(2)} GFLOP, ${formatBytes(c.bytes)} from memory)`);
  const atText = Object.keys(at).length > 0 ? ` with ${Object.entries(at).map(([n, v]) => `${n} = ${v}`).join(', ')}` : '';
  lines.push(`estimated on ${target.name}${atText}: ${est.join('; ')}`);
  return lines.join('\n');
}

/**
 * The cost model's estimate for a decode step (T = 1) and a full batch (T = maxTokens),
 * with every other symbolic size (a decoder's cached length L) at its bound: the estimate
 * of a full cache; unbound, the cost model cannot size the attention kernels at all. With a
 * context bound the cache holds L + T <= CTX positions, so the cached length is at most
 * CTX - maxTokens (its own bound is the model's context, far past a small --max-context).
 */
function estimates(p: KProgram, target: TargetCaps, maxTokens: number): { at: Record<string, number>; points: Array<{ tokens: number; seconds: number; flops: number; bytes: number }> } {
  const at = Object.fromEntries(p.module.dims.filter((d) => d.name !== TOKENS).map((d) => [d.name, d.max ?? 0] as const));
  if (p.maxContext !== undefined)
    forEachKernel(p.steps, (k) => {
      if ((k.kind === 'attention' || k.kind === 'mla_attention') && isSym(k.past))
        for (const [name] of k.past.terms) if (name in at) at[name] = Math.min(at[name], Math.max(0, p.maxContext! - maxTokens));
    });
  const points = [1, maxTokens].map((tokens) => {
    const c = programCost(p, target, tokens, at);
    return { tokens, seconds: c.seconds, flops: c.flops, bytes: c.bytes };
  });
  return { at, points };
}

export const COMPILE_SCHEMA = 'moec-compile/1';

type JsonStep =
  | { loop: number; body: JsonStep[] }
  | { index: number; kind: Kernel['kind']; description: string; weights?: { dtype: string; group: number }; tile?: Tiling & { sortedFromTokens?: number } };

/** `moec compile --json`: the report's facts as data (fields: docs/json.md). */
export function compileJson(p: KProgram, target: TargetCaps, maxTokens: number, compileMs: number, wrote?: string) {
  let n = 0;
  const steps = (list: Step[]): JsonStep[] =>
    list.map((s): JsonStep => {
      if (s.kind === 'loop') return { loop: s.count, body: steps(s.body) };
      const k = s as Kernel;
      const w = k.kind === 'gemm' || k.kind === 'grouped_gemm' || k.kind === 'router' ? p.buffers.find((b) => b.name === k.w) : undefined;
      const tile = 'tile' in k && k.tile ? { ...k.tile, ...(k.kind === 'grouped_gemm' ? { sortedFromTokens: k.sortedFromTokens } : {}) } : undefined;
      return { index: ++n, kind: k.kind, description: describeKernel(k), ...(w?.quant ? { weights: { dtype: w.dtype, group: w.quant.group } } : {}), ...(tile ? { tile } : {}) };
    });
  const kernels = steps(p.steps);
  const { at, points } = estimates(p, target, maxTokens);
  return {
    schema: COMPILE_SCHEMA,
    model: p.name,
    target: target.name,
    backend: target.backend,
    maxTokens,
    compileMs,
    kernelCount: n,
    kernels,
    state: stateBytes(p).buffers > 0 ? { maxContext: p.maxContext, bytes: stateBytes(p).bytes } : null,
    arena: p.arenaBytes !== undefined && p.naiveBytes !== undefined ? { bytes: atTokens(p.arenaBytes, maxTokens), naiveBytes: p.naiveBytes } : null,
    estimate: { sizes: at, points },
    // Expert parallelism (--chips N): where each layer's experts live.
    placement: p.ep ? { ranks: p.ep.ranks, layers: p.ep.placements.map((q) => ({ name: q.name, experts: q.experts, shared: q.shared, slotsPerRank: q.placement.slotsPerRank, slots: q.placement.slots, weights: q.weights.map((w) => w.buffer) })) } : null,
    wrote: wrote ?? null,
  };
}
