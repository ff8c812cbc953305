/**
 * @fileoverview Per-kernel roofline of a model on a target: the model goes through the
 * compiler's own pipeline for the target (fusion, lowering, tiling at T = N), then every
 * kernel is costed by the cost model (`programCost`, the same numbers the tiler minimised):
 * FLOPs, bytes from main memory, arithmetic intensity, which roof bounds it, and the
 * predicted time. Memory planning is not needed for costs and is skipped, so a batch whose
 * arena would not fit the chip can still be analysed.
 */
import type { Module } from '../../ir/graph/graph.ts';
import { costLevels, peakFlops, programCost } from '../cost/cost.ts';
import { runPipeline } from '../pipeline.ts';
import { tilePass } from '../passes/tile.ts';
import type { TargetCaps } from '../target/caps.ts';
import { describeKernel } from '../cli/describe.ts';
import type { KProgram, Kernel } from '../../ir/kernel/kernel.ts';

export interface KernelRow {
  /** `kind:first-output`, e.g. `grouped_gemm:h`. */
  label: string;
  kind: Kernel['kind'];
  /** What the kernel computes, with what was fused into it. */
  what: string;
  /** Runs per forward pass (loop counts multiplied). */
  times: number;
  /** Totals over all runs at N tokens: FLOPs executed (padded rows included: blocks of the sorted path, a MAC array's whole tiles). */
  flops: number;
  /** Of which useful (the real rows). */
  usefulFlops: number;
  /** Bytes from main memory. */
  bytes: number;
  /** FLOPs per byte from main memory (null when it reads nothing from there). */
  intensity: number | null;
  /** `compute` or `memory`, and the roof that bounds it (`compute` or a memory level's name). */
  bound: 'compute' | 'memory';
  boundBy: string;
  seconds: number;
  /** Attained FLOP/s under the model: flops / seconds. */
  flopsPerSecond: number;
  /** Grouped GEMMs: the sorted path or the direct decode path at this N. */
  path?: 'sorted' | 'direct';
}

export interface Roofs {
  /** Peak FLOP/s at the program's dtype. */
  peakFlops: number;
  /** Memory levels, innermost first, with their aggregate bandwidth (bytes/s); the last is main memory. */
  bandwidths: Array<{ level: string; bytesPerSecond: number }>;
  /** Intensity (FLOP/byte) where the main-memory roof meets the compute roof. */
  ridge: number;
}

export interface KernelAnalysis {
  target: string;
  tokens: number;
  /** The compiled program's weight dtype (the kernels move weights as the IR declares them, whatever `--dtype` says). */
  dtype: string;
  kernels: KernelRow[];
  /** Whole forward pass at N tokens, and per token. */
  total: { flops: number; bytes: number; seconds: number };
  perToken: { flops: number; bytes: number; seconds: number };
  roofs: Roofs;
}

/** `m` through the pipeline for `target` up to tiling at N = `tokens`: what the cost model costs. */
export function compileForCost(m: Module, target: TargetCaps, tokens: number, bindings: Record<string, number> = {}): KProgram {
  return runPipeline(m, { target, maxTokens: tokens, bindings, stopAfter: tilePass.name }).program!;
}

/** Compiles `m` for `target` at N = `tokens` and costs every kernel. */
export function analyzeKernels(m: Module, target: TargetCaps, tokens: number, bindings: Record<string, number> = {}): KernelAnalysis {
  const p = compileForCost(m, target, tokens, bindings);
  const cost = programCost(p, target, tokens, bindings);
  const rows: KernelRow[] = cost.perKernel.map((e) => ({
    label: e.label, kind: e.kind, what: describeKernel(e.kernel), times: e.times, flops: e.flops, usefulFlops: e.usefulFlops, bytes: e.bytes,
    intensity: e.bytes > 0 ? e.flops / e.bytes : null,
    bound: e.bound === 'compute' ? 'compute' : 'memory', boundBy: e.bound, seconds: e.seconds,
    flopsPerSecond: e.seconds > 0 ? e.flops / e.seconds : 0,
    ...(e.path ? { path: e.path } : {}),
  }));
  const levels = costLevels(target);
  const weightDType = p.buffers.find((b) => b.kind === 'weight')?.dtype ?? 'f32';
  const peak = peakFlops(target, weightDType === 'bf16' ? 'bf16' : 'f32');
  const main = levels[levels.length - 1].bandwidth;
  return {
    target: target.name,
    tokens,
    dtype: weightDType,
    kernels: rows,
    total: { flops: cost.flops, bytes: cost.bytes, seconds: cost.seconds },
    perToken: { flops: cost.flops / tokens, bytes: cost.bytes / tokens, seconds: cost.seconds / tokens },
    roofs: {
      peakFlops: peak,
      bandwidths: levels.filter((l) => Number.isFinite(l.bandwidth)).map((l) => ({ level: l.name, bytesPerSecond: l.bandwidth })),
      ridge: peak / main,
    },
  };
}
