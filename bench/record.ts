/**
 * @fileoverview The results of one benchmark run, as written to `results/latest.json` and
 * read by the text report and the roofline picture: machine, limits, runners, the peer
 * check, and every case with its cost and each runner's timing and derived rates.
 */
import type { CheckResult } from './check.ts';
import type { Cost } from './cost.ts';
import type { Limits } from './limits.ts';
import type { PackSection } from './pack-throughput.ts';
import type { Roof } from './runner.ts';
import type { Timing } from './stats.ts';
import type { WasmLimits } from './wasm-limits.ts';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  node: string;
  date: string;
  /** 1-minute load average before and after the run: other work on the machine skews numbers. */
  loadBefore: number;
  loadAfter: number;
}

export interface RunnerInfo {
  id: string;
  about: string;
  roof: Roof | null;
  /** The runner this one is a variant of (a quantized runner's f32 one), for `speedup`. */
  baseline?: string;
}

/** One runner's result on one case. */
export interface CaseResult {
  runner: string;
  /** Why it did not run, or the error it hit. */
  skipped?: string;
  error?: string;
  timing?: Timing;
  gflops?: number;
  gbps?: number;
  /** Fractions of the runner's roof. */
  fracCompute?: number;
  fracBandwidth?: number;
  /** Roofline minimum time (max of FLOPs / peak and weight bytes / bandwidth) / the median. */
  fracRoofline?: number;
  /** This runner's median over each peer's median on the same case (>1: slower than the peer). */
  ratios?: Record<string, number>;
  /** The runner's own count of the work when it differs from the case's (`Runner.cost`: quantized weights). */
  cost?: Cost;
  /** The baseline runner's median over this one's on the same case (>1: faster than its baseline). */
  speedup?: number;
}

export interface CaseRecord {
  workload: string;
  tokens: number;
  cost: Cost;
  /** FLOP per byte. */
  intensity: number;
  results: CaseResult[];
}

export interface BenchRecord {
  version: 1;
  machine: MachineInfo;
  quick: boolean;
  tokenCounts: number[];
  /** The better of the start and end measurements, number by number: what fractions and roofs use. */
  limits: Limits;
  limitsStart: Limits;
  limitsEnd: Limits;
  /** WebAssembly's limits on this machine (SIMD128 and scalar multiply-add, v128 streaming), measured once in the run. */
  wasmLimits?: WasmLimits;
  runners: RunnerInfo[];
  /** Runners that other runners are compared against (`ratios`). */
  peers: string[];
  checks: CheckResult[];
  cases: CaseRecord[];
  /** How fast `moec pack` lays out f32 and quantized weights (pack-throughput.ts); absent with --no-pack. */
  pack?: PackSection;
  /** Failures outside a case (a workload that does not compile). */
  errors: string[];
  /** Wall time of the whole run, seconds. */
  wallSeconds: number;
}
