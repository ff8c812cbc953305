/**
 * @fileoverview The compilation pipeline as one readable list of named passes, run by the
 * one pass manager (`passes/manager.ts`) with the same instruments around every pass:
 *
 *   graph   quantize → canonicalize → fuse-router → fuse-experts → fold-shared-experts → fuse-dense-mlp → cleanup
 *   lower   lower-kernels (graph → kernel IR; records the token bound in the program)
 *   kernel  tile → plan-memory
 *
 * Every pass has a name, so `moec ir FILE --after NAME` dumps the IR (graph or kernel)
 * after it, `--print-after-all` dumps every pass, `--verify-each` verifies between all of
 * them and `--disable` skips the optional ones. The same pipeline serves every target:
 * passes read the target's capability sheet, never its name.
 */
import type { Module } from '../ir/graph/graph.ts';
import type { KProgram } from '../ir/kernel/kernel.ts';
import type { QuantScheme } from '../ir/quant.ts';
import { didYouMean } from '../ir/diagnostics.ts';
import { UsageError } from './usage-error.ts';
import { canonicalize } from './passes/canonicalize.ts';
import { foldSharedExperts } from './passes/fold-shared-experts.ts';
import { fuseDenseMlp } from './passes/fuse-dense-mlp.ts';
import { fuseExperts } from './passes/fuse-experts.ts';
import { fuseRouter } from './passes/fuse-router.ts';
import { lastLogits } from './passes/last-logits.ts';
import { lowerKernelsPass } from './passes/lower-kernels.ts';
import { checkDisableable, runPassList } from './passes/manager.ts';
import type { AnyPass, GraphPass, PassContext } from './passes/pass.ts';
import { placeExpertsPass } from './passes/place-experts.ts';
import { planMemoryPass } from './passes/plan-memory.ts';
import { quantizeWeights } from './passes/quantize.ts';
import { tilePass } from './passes/tile.ts';
import type { TargetCaps } from './target/caps.ts';
import { resolveMaxTokens } from '../ir/kernel/token-bound.ts';

/** `canonicalize` again after fusion, under its own name so `--after cleanup` can dump it. */
export const cleanup: GraphPass = {
  ...canonicalize,
  name: 'cleanup',
  summary: 'canonicalize again: remove what fusion left unused',
  requires: ['fuse-router', 'fuse-experts'],
};

/** Every pass of the pipeline, in order. */
export const PASSES: readonly AnyPass[] = [quantizeWeights, canonicalize, fuseRouter, fuseExperts, foldSharedExperts, fuseDenseMlp, cleanup, lowerKernelsPass, tilePass, planMemoryPass];

/** The graph passes (before lowering), in order. */
export const GRAPH_PASSES: readonly GraphPass[] = PASSES.filter((p): p is GraphPass => p.level === 'graph' && p.lowersTo === undefined);

/** The registered pass called `name`, if any. */
export function findPass(name: string): AnyPass | undefined {
  return PASSES.find((p) => p.name === name);
}

/** The `quantize` pass's name: in the pipeline only with a scheme (`--quantize`). */
export const QUANTIZE = quantizeWeights.name;

/** `lower-kernels`, the pass from graph IR to kernel IR. */
export const LOWER_KERNELS = lowerKernelsPass.name;

/** Every pass name, in order (for `--after` and `--disable`). */
export function pipelineSteps(): string[] {
  // place-experts is a step only with --chips N (N > 1), before plan-memory (see runPipeline).
  return PASSES.flatMap((p) => (p.name === planMemoryPass.name ? [placeExpertsPass.name, p.name] : [p.name]));
}

export interface PipelineOptions {
  target: TargetCaps;
  /** The token bound asked for (`--max-tokens`); by default the model's bound on `T` (see `resolveMaxTokens`). */
  maxTokens?: number;
  /** The context bound (`--max-context`): KV caches become state the program owns, of this many positions (absent: caches stay inputs). */
  maxContext?: number;
  /** The token count of the run the program is compiled for, if any: the default bound covers it. */
  runTokens?: number;
  /** Values of other symbolic sizes, if the model has any. */
  bindings?: Record<string, number>;
  /** `--quantize`: store GEMM weights in this scheme (the `quantize` pass). */
  quantize?: QuantScheme;
  /** `--chips N`, `--expert-load`, `--redundant-experts`: expert parallelism (the `place-experts` pass, only with N > 1). */
  chips?: number;
  expertLoad?: PassContext['expertLoad'];
  redundantExperts?: number;
  microBatches?: number;
  /** Verify between passes (default: on under vitest). */
  verifyEach?: boolean;
  /** Passes to skip. */
  disabled?: string[];
  /** Passes after which to dump the IR, or 'all'. */
  printAfter?: string[] | 'all';
  /** Receives dumps (graph IR text or kernel IR text). */
  onDump?: (step: string, text: string) => void;
  /** Stop after this pass (for `moec ir --after`). */
  stopAfter?: string;
  /** Return the logits of the row `last_row` only (the `last-logits` pass, first; generation asks for it). */
  lastLogits?: boolean;
}

export interface PipelineResult {
  /** The graph module after the graph passes. */
  graph: Module;
  /** The kernel program, if the pipeline got that far; its `maxTokens` is the token bound. */
  program?: KProgram;
}

/** Checks a pass name given by the user (`--after`, `--disable`): there is such a pass. */
export function checkStepName(name: string, flag: string): void {
  const steps = pipelineSteps();
  if (!steps.includes(name)) throw new UsageError(`${flag} ${name}: there is no step of that name`, didYouMean(name, steps) ?? `the steps are: ${steps.join(', ')}`);
}

/**
 * Checks `--disable` before any work (the CLI loads weights before it runs the pipeline):
 * each name is a pass, none is essential, and no pass left on requires one turned off.
 * (`runPipeline` checks the same again, for callers of the API.)
 */
export function checkDisabled(names: string[]): void {
  for (const name of names) checkStepName(name, '--disable');
  checkDisableable(PASSES, new Set(names));
}

/** Runs the pipeline on a verified graph module. */
export function runPipeline(m: Module, opts: PipelineOptions): PipelineResult {
  // The one place the token bound is worked out; lowering records it in the program.
  const maxTokens = resolveMaxTokens(m.dims.find((d) => d.name === 'T')?.max, opts.maxTokens, opts.runTokens);
  // `quantize` is a pass only when there is a scheme: f32 pipelines list and dump what they always did.
  const scheme = opts.quantize ? PASSES : PASSES.filter((p) => p.name !== QUANTIZE);
  // `place-experts` likewise only with --chips N > 1: after tiling (the ranks' GEMMs keep their tiles), before planning memory.
  const placed = (opts.chips ?? 1) > 1 ? scheme.flatMap((p) => (p.name === planMemoryPass.name ? [placeExpertsPass, p] : [p])) : scheme;
  // `last-logits` only when asked, before everything: the passes after it see the one-row LM head.
  const passes = opts.lastLogits ? [lastLogits, ...placed] : placed;
  const distributed = (opts.chips ?? 1) > 1;
  const named = (names: string[] | undefined): string[] | undefined =>
    names?.filter((n) => (n !== QUANTIZE || opts.quantize) && (n !== placeExpertsPass.name || distributed));
  if (!distributed && (opts.stopAfter === placeExpertsPass.name || (Array.isArray(opts.printAfter) && opts.printAfter.includes(placeExpertsPass.name))))
    throw new UsageError(`--after ${placeExpertsPass.name}: the ${placeExpertsPass.name} pass runs only with --chips N (N > 1)`, '--chips 2, 4, ...');
  if (!opts.quantize && (opts.stopAfter === QUANTIZE || (Array.isArray(opts.printAfter) && opts.printAfter.includes(QUANTIZE))))
    throw new UsageError(`--after ${QUANTIZE}: the ${QUANTIZE} pass runs only with --quantize`, '--quantize i8, i4, fp8, ...');
  const { graph, kernel } = runPassList(
    { level: 'graph', ir: m },
    passes,
    { target: opts.target, maxTokens, maxContext: opts.maxContext, bindings: opts.bindings, quantize: opts.quantize, chips: opts.chips, expertLoad: opts.expertLoad, redundantExperts: opts.redundantExperts, microBatches: opts.microBatches },
    {
      verifyEach: opts.verifyEach,
      // Without a scheme there is no quantize pass to skip: disabling it asks for what happens anyway.
      disabled: named(opts.disabled),
      printAfter: opts.printAfter === 'all' ? 'all' : named(opts.printAfter),
      onDump: opts.onDump,
      stopAfter: opts.stopAfter,
    },
  );
  return { graph: graph!, program: kernel };
}
