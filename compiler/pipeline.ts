/**
 * @fileoverview The compilation pipeline as one readable list of named phases:
 *
 *   graph   quantize → canonicalize → fuse-router → fuse-experts → fold-shared-experts → cleanup
 *   kernel  lower-kernels → tile → plan-memory
 *
 * Every step has a name, so `moec ir FILE --after NAME` dumps the IR (graph or kernel)
 * after it, `--print-after-all` dumps every step, and `--verify-each` verifies between
 * graph passes. The same pipeline serves every target: passes read the target's
 * capability sheet, never its name.
 */
import type { Module } from '../ir/graph/graph.ts';
import type { QuantScheme } from '../ir/quant.ts';
import type { KProgram } from '../ir/kernel/kernel.ts';
import { printKernelIR } from '../ir/kernel/kprint.ts';
import { didYouMean } from '../ir/diagnostics.ts';
import { UsageError } from './usage-error.ts';
import type { KernelPass, KernelPassContext } from './passes/kernel-pass.ts';
import { lowerToKernels } from './passes/lower-kernels.ts';
import { GRAPH_PASSES, runPasses } from './passes/manager.ts';
import { planMemoryPass } from './passes/plan-memory.ts';
import { tilePass } from './passes/tile.ts';
import type { TargetCaps } from './target.ts';

/** The `quantize` pass's step name: in the pipeline only with a scheme (`--quantize`). */
export const QUANTIZE = 'quantize';

/** `lower-kernels` as a step of the pipeline (graph → kernel IR). */
export const LOWER_KERNELS = 'lower-kernels';

/** The kernel phase, after lowering. */
export const KERNEL_PASSES: KernelPass[] = [tilePass, planMemoryPass];

/** Every step name, in order (for `--after` and `--disable`). */
export function pipelineSteps(): string[] {
  return [...GRAPH_PASSES.map((p) => p.name), LOWER_KERNELS, ...KERNEL_PASSES.map((p) => p.name)];
}

export interface PipelineOptions {
  target: TargetCaps;
  /** Largest token count the program handles; buffers are planned for it. */
  maxTokens: number;
  /** Values of other symbolic sizes, if the model has any. */
  bindings?: Record<string, number>;
  /** `--quantize`: store GEMM weights in this scheme (the `quantize` pass). */
  quantize?: QuantScheme;
  verifyEach?: boolean;
  /** Graph passes to skip. */
  disabled?: string[];
  /** Steps after which to dump the IR, or 'all'. */
  printAfter?: string[] | 'all';
  /** Receives dumps (graph IR text or kernel IR text). */
  onDump?: (step: string, text: string) => void;
  /** Stop after this step (for `moec ir --after`). */
  stopAfter?: string;
}

export interface PipelineResult {
  /** The graph module after the graph passes. */
  graph: Module;
  /** The kernel program, if the pipeline got that far. */
  program?: KProgram;
}

/** Checks step names given by the user (`--after`, `--disable`). */
export function checkStepName(name: string, flag: string): void {
  const steps = pipelineSteps();
  if (!steps.includes(name)) throw new UsageError(`${flag} ${name}: there is no step of that name`, didYouMean(name, steps) ?? `the steps are: ${steps.join(', ')}`);
}

/** Runs the pipeline on a verified graph module. */
export function runPipeline(m: Module, opts: PipelineOptions): PipelineResult {
  const want = (step: string): boolean => opts.printAfter === 'all' || (Array.isArray(opts.printAfter) && opts.printAfter.includes(step));
  const dump = opts.onDump ?? ((step, text) => process.stderr.write(`// after ${step}\n${text}`));
  // `quantize` is a step only when there is a scheme: f32 pipelines list and dump what they always did.
  const passes = opts.quantize ? GRAPH_PASSES : GRAPH_PASSES.filter((p) => p.name !== QUANTIZE);
  const graphNames = passes.map((p) => p.name);
  const stopAt = opts.stopAfter && graphNames.includes(opts.stopAfter) ? graphNames.indexOf(opts.stopAfter) + 1 : passes.length;
  const graphPrint = opts.printAfter === 'all' ? 'all' : (opts.printAfter ?? []).filter((s) => graphNames.includes(s));
  const graph = runPasses(m, passes.slice(0, stopAt), { target: opts.target, maxTokens: opts.maxTokens, quantize: opts.quantize }, {
    verifyEach: opts.verifyEach,
    disabled: opts.disabled,
    printAfter: graphPrint,
    onDump: dump,
  });
  if (stopAt < passes.length || opts.stopAfter === graphNames[graphNames.length - 1]) return { graph };
  let program = lowerToKernels(graph);
  if (want(LOWER_KERNELS)) dump(LOWER_KERNELS, printKernelIR(program));
  if (opts.stopAfter === LOWER_KERNELS) return { graph, program };
  const ctx: KernelPassContext = { target: opts.target, maxTokens: opts.maxTokens, bindings: opts.bindings };
  for (const pass of KERNEL_PASSES) {
    program = pass.run(program, ctx);
    if (want(pass.name)) dump(pass.name, printKernelIR(program));
    if (opts.stopAfter === pass.name) break;
  }
  return { graph, program };
}
