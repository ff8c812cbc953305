/**
 * @fileoverview The pass manager: runs a list of graph passes in order, with the checks
 * that make a pass that breaks the IR name itself (TVM's `WellFormedInstrument`, as
 * instrumentation around every pass rather than code inside each one):
 *
 * - Ordering: each pass's `requires` must appear earlier in the list. A list that breaks
 *   this is a bug in moec (a plain Error); a required pass that the user disabled is the
 *   user's doing (a `UsageError` naming the pass that needs it).
 * - `verifyEach`: the module is verified before the first pass (`before <pass>`) and after
 *   every pass (`after <pass>`), and each pass is checked not to have mutated its input
 *   (its printed text is the same before and after the pass ran).
 * - `disabled` skips passes by name; `printAfter` dumps the IR text after the named passes
 *   (or `'all'`) through `onDump`, for `moec ir --after` and for debugging.
 *
 * Also the registry of graph passes, by name, in their default order.
 */
import { didYouMean } from '../../ir/diagnostics.ts';
import { UsageError } from '../usage-error.ts';
import type { Module } from '../../ir/graph/graph.ts';
import { printIR } from '../../ir/graph/print.ts';
import { verifyOrThrow } from '../../ir/graph/verify.ts';
import { canonicalize } from './canonicalize.ts';
import { foldSharedExperts } from './fold-shared-experts.ts';
import { fuseDenseMlp } from './fuse-dense-mlp.ts';
import { fuseExperts } from './fuse-experts.ts';
import { fuseRouter } from './fuse-router.ts';
import type { GraphPass, PassContext } from './pass.ts';
import { quantizeWeights } from './quantize.ts';

/** `canonicalize` again after fusion, under its own name so `--after cleanup` can dump it. */
export const cleanup: GraphPass = {
  ...canonicalize,
  name: 'cleanup',
  summary: 'canonicalize again: remove what fusion left unused',
  requires: ['fuse-router', 'fuse-experts'],
};

/**
 * The graph pipeline, in order. Phases: quantize (only with a scheme) → canonicalize → fuse (router, experts, shared
 * experts, dense MLPs) → cleanup. The kernel phases (lower-kernels → tile → plan-memory) follow in
 * `compiler/pipeline.ts`.
 */
export const GRAPH_PASSES: GraphPass[] = [quantizeWeights, canonicalize, fuseRouter, fuseExperts, foldSharedExperts, fuseDenseMlp, cleanup];

/** The registered graph pass called `name`, if any. */
export function findPass(name: string): GraphPass | undefined {
  return GRAPH_PASSES.find((p) => p.name === name);
}

export interface RunPassesOptions {
  /** Verify the module before the first pass and after each, and check no pass mutates its input. */
  verifyEach?: boolean;
  /** Names of passes to skip (`--disable`). */
  disabled?: string[];
  /** Names of passes after which to dump the IR text, or `'all'` (`--after`). */
  printAfter?: string[] | 'all';
  /** Receives each dump; by default it goes to stderr under a `// after <pass>` line. */
  onDump?: (passName: string, irText: string) => void;
}

/**
 * Runs `passes` on `m` in order and returns the final module; `m` itself is not changed.
 * Throws a `UsageError` for a disabled or dumped name that is not in the list, or for a
 * disabled pass that an enabled one requires; a plain Error for a misordered list or a
 * pass that mutates its input; the verifier's `MoecError` (E402, naming the pass) when
 * `verifyEach` finds invalid IR.
 */
export function runPasses(m: Module, passes: GraphPass[], ctx: PassContext, opts: RunPassesOptions = {}): Module {
  const disabled = new Set(opts.disabled ?? []);
  checkOrder(passes);
  checkUserNames(passes, disabled, opts.printAfter);
  checkRequiredEnabled(passes, disabled);
  const enabled = passes.filter((p) => !disabled.has(p.name));
  if (opts.verifyEach && enabled.length > 0) verifyOrThrow(m, `before ${enabled[0].name}`);
  let current = m;
  for (const pass of enabled) {
    current = runOne(pass, current, ctx, opts);
    if (wantsDump(opts.printAfter, pass.name)) (opts.onDump ?? dumpToStderr)(pass.name, printIR(current));
    if (opts.verifyEach) verifyOrThrow(current, `after ${pass.name}`);
  }
  return current;
}

/** Runs one pass, checking (under `verifyEach`) that it left its input as it found it. */
function runOne(pass: GraphPass, input: Module, ctx: PassContext, opts: RunPassesOptions): Module {
  if (!opts.verifyEach) return pass.run(input, ctx);
  // Printing is a cheap, complete fingerprint: the text form round-trips every module.
  const before = printIR(input);
  const output = pass.run(input, ctx);
  const after = printOrError(input);
  if (after !== before)
    throw new Error(`pass ${pass.name} mutated its input module (${firstDifference(before, after)}); a pass must edit a copy (see cloneModule)`);
  return output;
}

function printOrError(m: Module): string {
  try {
    return printIR(m);
  } catch (e) {
    return `<unprintable: ${(e as Error).message}>`;
  }
}

/** `line N: "old" became "new"` for the first line where two texts differ. */
function firstDifference(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if (x[i] !== y[i]) return `line ${i + 1}: ${JSON.stringify(x[i] ?? '')} became ${JSON.stringify(y[i] ?? '')}`;
  return 'no textual difference';
}

function wantsDump(printAfter: RunPassesOptions['printAfter'], name: string): boolean {
  return printAfter === 'all' || (printAfter?.includes(name) ?? false);
}

function dumpToStderr(passName: string, irText: string): void {
  // A `//` comment, so a dump saved to a file still parses as IR text.
  process.stderr.write(`// after ${passName}\n${irText}`);
}

// ---------------------------------------------------------------------------------------
// Pipeline checks, before anything runs.

/** Each pass's requirements appear earlier in the list; otherwise the pipeline itself is wrong. */
function checkOrder(passes: GraphPass[]): void {
  passes.forEach((pass, i) => {
    const earlier = new Set(passes.slice(0, i).map((p) => p.name));
    for (const req of pass.requires)
      if (!earlier.has(req)) {
        const where = passes.slice(i + 1).some((p) => p.name === req) ? 'it comes after it' : 'it is not in the pipeline';
        throw new Error(`pass pipeline is misordered: ${pass.name} requires ${req} to run before it, but ${where}`);
      }
  });
}

/** Names the user gave (`--disable`, `--after`) must name passes of this pipeline. */
function checkUserNames(passes: GraphPass[], disabled: Set<string>, printAfter: RunPassesOptions['printAfter']): void {
  const names = passes.map((p) => p.name);
  const check = (name: string, flag: string): void => {
    if (!names.includes(name))
      throw new UsageError(`${flag} ${name}: no pass named ${name}`, didYouMean(name, names) ?? `the passes are: ${names.join(', ')}`);
  };
  for (const name of disabled) check(name, '--disable');
  if (Array.isArray(printAfter)) for (const name of printAfter) check(name, '--after');
}

/** An enabled pass's requirements are enabled too (the order is already known good). */
function checkRequiredEnabled(passes: GraphPass[], disabled: Set<string>): void {
  for (const pass of passes) {
    if (disabled.has(pass.name)) continue;
    for (const req of pass.requires)
      if (disabled.has(req))
        throw new UsageError(`cannot disable ${req}: pass ${pass.name} requires it`, `disable ${pass.name} too, or keep ${req}`);
  }
}
