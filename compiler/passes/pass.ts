/**
 * @fileoverview The one signature every pass has, at either IR level. A pass is a pure
 * function from the IR of its `level` (a graph `Module` or a kernel `KProgram`) to IR (the
 * same level, or the kernel level for the pass that lowers), which never mutates its
 * input; it is declared with a name, what must have run before it, whether `--disable` may
 * skip it, and a doc comment stating its pre- and postconditions. One runner
 * (`manager.ts`) runs lists of them with the same instruments around every pass.
 */
import type { Module } from '../../ir/graph/graph.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import type { QuantScheme } from '../../ir/quant.ts';
import type { TargetCaps } from '../target/caps.ts';

/** The two IR levels: graph IR (`ir/graph.ts`) and kernel IR (`ir/kernel.ts`). */
export type Level = 'graph' | 'kernel';

/** The IR a level holds. */
export interface LevelIR {
  graph: Module;
  kernel: KProgram;
}

export interface PassContext {
  /** The chip being compiled for (absent for target-independent runs such as `moec ir`); kernel passes need it. */
  target?: TargetCaps;
  /**
   * The token bound, worked out once by the pipeline (`resolveMaxTokens`). Only
   * `lower-kernels` reads it, to record it in the program (`KProgram.maxTokens`); kernel
   * passes read it from there.
   */
  maxTokens?: number;
  /** The context bound (`--max-context`): with it, `lower-kernels` makes the KV caches state of this many positions. */
  maxContext?: number;
  /** Values for symbolic sizes other than `T` (the planner needs every dim bound). */
  bindings?: Readonly<Record<string, number>>;
  /** `--quantize`: the scheme the `quantize` pass stores GEMM weights in (absent: f32 stays). */
  quantize?: QuantScheme;
  /** `--chips N`: ranks the `place-experts` pass spreads the routed experts over (absent or 1: one chip). */
  chips?: number;
  /** `--expert-load`: expected tokens per routed expert of the MoE group whose router writes `router` (its indices buffer); absent: uniform. */
  expertLoad?: (router: string, experts: number) => readonly number[] | undefined;
  /** `--redundant-experts R`: replicas of hot experts allowed per layer. */
  redundantExperts?: number;
  /** Micro-batches per MoE layer under expert parallelism (default 2: communication overlaps compute; 1: none). */
  microBatches?: number;
}

export interface Pass<From extends Level = Level, To extends Level = From> {
  /** kebab-case, the file name: `fuse-router`. */
  name: string;
  /** One line: what it does. */
  summary: string;
  /** The level of IR it reads. */
  level: From;
  /** The level of IR it returns, for a pass that lowers; absent: `level`. */
  lowersTo?: To;
  /** Passes that must have run before this one. */
  requires: string[];
  /** Why `--disable` may not skip it (what cannot do without its result); absent: it is optional. */
  essential?: string;
  run(ir: LevelIR[From], ctx: PassContext): LevelIR[To];
}

export type GraphPass = Pass<'graph'>;
export type KernelPass = Pass<'kernel'>;
/** Any pass of a pipeline: graph, lowering or kernel. */
export type AnyPass = GraphPass | Pass<'graph', 'kernel'> | KernelPass;

/** The level of IR a pass returns. */
export function outputLevel(pass: AnyPass): Level {
  return pass.lowersTo ?? pass.level;
}

/** The target of a kernel pass's context: the pipeline always gives one, so its absence is a bug. */
export function passTarget(ctx: PassContext, pass: string): TargetCaps {
  if (!ctx.target) throw new Error(`pass ${pass} needs a target in its context`);
  return ctx.target;
}
