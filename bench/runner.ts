/**
 * @fileoverview What the harness asks of an implementation. Each implementation of the
 * workloads (moec's reference interpreter now; its C, Wasm and WGSL backends later; NumPy as
 * a peer) is one `Runner`: it says which of this machine's measured limits bound it, which
 * cases it can run, and times a case by the shared sampling plan. The harness does the rest
 * (costs, rates, fractions, ratios, tables, pictures), the same for every runner.
 */
import type { Module } from '../ir/graph/graph.ts';
import type { Tensor } from '../ir/tensor.ts';
import type { Cost } from './cost.ts';
import type { Limits } from './limits.ts';
import type { SamplePlan, Timing } from './stats.ts';
import type { Workload } from './workloads.ts';

/** One workload at one token count, with moec's compiled module, weights and inputs. */
export interface BenchCase {
  workload: Workload;
  module: Module;
  tokens: number;
  bindings: Record<string, number>;
  /** Every constant of the model file, with the workload's overrides applied. */
  consts: Record<string, number>;
  /** Seeded random weights (seed 0), built once per workload (or read from the cache, weight-cache.ts). */
  weights: Record<string, Tensor>;
  /** What names those weights' content in the cache ('' with --no-cache): blobs made from them are cached under it. */
  weightsKey: string;
  /** Seeded random inputs at this token count (seed 0). */
  inputs: Record<string, Tensor>;
}

/** The compute and bandwidth limits that bound an implementation, for fractions and roofline roofs. */
export interface Roof {
  gflops: number;
  gbps: number;
  /** Where each number comes from, e.g. "JS scalar multiply-add loop". */
  computeFrom: string;
  bandwidthFrom: string;
}

export interface Runner {
  /** Short name used in tables and results: `moec-ref`, `numpy`. */
  id: string;
  /** One line: what runs (library versions, threads), given what the limits probe found. */
  about(limits: Limits): string;
  /** The limits that bound this implementation, or null when they were not measured. */
  roof(limits: Limits): Roof | null;
  /** Why this runner cannot run `c` (missing tool, unsupported model), or null. */
  skip(c: BenchCase): string | null;
  /** Set-up that must be awaited once before any case (loading a Wasm runtime, probing limits). */
  init?(): Promise<void>;
  /** Warmup, then timed samples following `plan`. */
  /** (A GPU runner's runs are asynchronous.) */
  measure(c: BenchCase, plan: SamplePlan): Timing | Promise<Timing>;
  /**
   * The work this runner is charged when it is not the workload's (a quantized runner reads
   * codes and scales, not f32 weights): its GB/s and % roof use this count instead.
   */
  cost?(c: BenchCase): Cost;
  /** The runner this one is a variant of (`moec-c` for `moec-c-i8`): the report gives the speed-up over it. */
  baseline?: string;
}
