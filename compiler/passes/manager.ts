/**
 * @fileoverview The pass manager: the one runner for passes of both IR levels (graph
 * passes, the lowering to kernel IR, kernel passes), with the checks that make a pass that
 * breaks the IR name itself as *instruments* around every pass rather than code inside each
 * one (TVM's `WellFormedInstrument`):
 *
 * - Ordering: each pass's `requires` must appear earlier in the list, and each pass must
 *   read the level of IR the one before it left. A list that breaks this is a bug in moec
 *   (a plain Error); a required pass that the user disabled is the user's doing (a
 *   `UsageError` naming the pass that needs it), and so is disabling an `essential` pass.
 * - `verifyEach`: the IR is verified before the first pass (`before <pass>`) and after every
 *   pass (`after <pass>`) with its level's verifier (graph: `verify`, kernel:
 *   `verifyKernelIR`; E402), and each pass is checked not to have mutated its input (its
 *   printed text is the same before and after the pass ran). On by default under vitest
 *   (`VITEST` set), so every test that runs a pipeline runs it instrumented.
 * - `disabled` skips passes by name; `printAfter` dumps the IR text after the named passes
 *   (or `'all'`) through `onDump`, for `moec ir --after` and for debugging; `stopAfter`
 *   stops after the named pass.
 *
 * Verification, the mutation check and the dumps are `PassInstrument`s (called before and
 * after every pass); a caller can add its own (timing, say).
 */
import type { Module } from '../../ir/graph/graph.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { verifyKernelIR } from '../../ir/kernel/kverify.ts';
import { printKernelIR } from '../../ir/kernel/kprint.ts';
import { printIR } from '../../ir/graph/print.ts';
import { verifyOrThrow } from '../../ir/graph/verify.ts';
import { MoecError, didYouMean } from '../../ir/diagnostics.ts';
import { UsageError } from '../usage-error.ts';
import { type AnyPass, type GraphPass, type Level, type LevelIR, type PassContext, outputLevel } from './pass.ts';

/** How the instruments see a level of IR: its printer (a complete fingerprint: both text forms round-trip) and its verifier. */
interface LevelView<L extends Level> {
  what: string;
  /** How a pass of this level avoids mutating its input, for the mutation check's message. */
  copyHint: string;
  print(ir: LevelIR[L]): string;
  /** Throws E402 naming `stage` when the IR is invalid. */
  verify(ir: LevelIR[L], stage: string): void;
}

const LEVELS: { [L in Level]: LevelView<L> } = {
  graph: { what: 'module', copyHint: 'see cloneModule', print: printIR, verify: verifyOrThrow },
  kernel: {
    what: 'kernel program',
    copyHint: 'map over a copy, as mapKernels does',
    print: printKernelIR,
    verify: (p, stage) => {
      const problems = verifyKernelIR(p);
      if (problems.length > 0) throw new MoecError(problems.map((message) => ({ code: 'E402' as const, message: `${stage}: ${message}` })));
    },
  },
};

/** IR tagged with its level, as it flows from pass to pass. */
export type StagedIR = { [L in Level]: { level: L; ir: LevelIR[L] } }[Level];

/** The text form of staged IR (graph or kernel IR text). */
export function printStaged(x: StagedIR): string {
  return (LEVELS[x.level] as LevelView<Level>).print(x.ir);
}

function verifyStaged(x: StagedIR, stage: string): void {
  (LEVELS[x.level] as LevelView<Level>).verify(x.ir, stage);
}

/**
 * Code the runner calls around every pass, the same at both levels: checks, dumps, timing.
 * An instrument throws to stop the run. One is made per run, so it may keep state between
 * its calls (the mutation check keeps the input's text from `before` to `after`).
 */
export interface PassInstrument {
  /** Once, with the input, before the first pass that runs. */
  beforeAll?(input: StagedIR, first: AnyPass): void;
  /** Before `pass` runs on `input`. */
  before?(pass: AnyPass, input: StagedIR): void;
  /** After `pass` turned `input` into `output`. */
  after?(pass: AnyPass, input: StagedIR, output: StagedIR): void;
}

/** Verifies the IR before the first pass (`before <pass>`) and after every pass (`after <pass>`) with its level's verifier (E402). */
export function wellFormedInstrument(): PassInstrument {
  return {
    beforeAll: (input, first) => verifyStaged(input, `before ${first.name}`),
    after: (pass, _input, output) => verifyStaged(output, `after ${pass.name}`),
  };
}

/** Checks that a pass leaves its input as it found it (its text before and after the pass is the same): a plain Error, a bug in the pass. */
export function noMutationInstrument(): PassInstrument {
  let before = '';
  return {
    before: (_pass, input) => void (before = printStaged(input)),
    after: (pass, input) => {
      const after = printOrError(input);
      if (after !== before)
        throw new Error(`pass ${pass.name} mutated its input ${LEVELS[input.level].what} (${firstDifference(before, after)}); a pass must edit a copy (${LEVELS[input.level].copyHint})`);
    },
  };
}

/** Dumps the IR text after the named passes (or all) to `onDump`, by default stderr under a `// after <pass>` line. */
export function dumpInstrument(printAfter: string[] | 'all', onDump: (passName: string, irText: string) => void = dumpToStderr): PassInstrument {
  return { after: (pass, _input, output) => void (wantsDump(printAfter, pass.name) && onDump(pass.name, printStaged(output))) };
}

export interface RunPassesOptions {
  /** Verify the IR before the first pass and after each, and check no pass mutates its input (default: on under vitest). */
  verifyEach?: boolean;
  /** Names of passes to skip (`--disable`). */
  disabled?: string[];
  /** Names of passes after which to dump the IR text, or `'all'` (`--after`). */
  printAfter?: string[] | 'all';
  /** Receives each dump; by default it goes to stderr under a `// after <pass>` line. */
  onDump?: (passName: string, irText: string) => void;
  /** Stop after this pass (it must be in the list). */
  stopAfter?: string;
  /** More instruments, called after the built-in ones. */
  instruments?: PassInstrument[];
}

/** The last IR of each level the run saw (the input counts): the graph a lowering read, the final program. */
export interface PassesResult {
  graph?: Module;
  kernel?: KProgram;
}

/** Whether verification is on when the caller does not say: in tests, yes. */
export function verifyEachByDefault(): boolean {
  return typeof process !== 'undefined' && process.env.VITEST !== undefined;
}

/**
 * Runs `passes` on `input` in order; `input` itself is not changed. Throws a `UsageError`
 * for a disabled, dumped or stop name that is not in the list, for a disabled pass that an
 * enabled one requires and for a disabled essential pass; a plain Error for a misordered
 * list or a pass that mutates its input; the verifier's `MoecError` (E402, naming the pass)
 * when `verifyEach` finds invalid IR. All the checks on the list come before any pass runs.
 */
export function runPassList(input: StagedIR, passes: readonly AnyPass[], ctx: PassContext, opts: RunPassesOptions = {}): PassesResult {
  const disabled = new Set(opts.disabled ?? []);
  checkOrder(passes, input.level);
  checkUserNames(passes, disabled, opts.printAfter, opts.stopAfter);
  checkDisableable(passes, disabled);
  const enabled = passes.filter((p) => !disabled.has(p.name));
  const verifyEach = opts.verifyEach ?? verifyEachByDefault();
  // Mutation first (the pass itself is wrong), then the dump (so invalid IR can be seen), then the verifier.
  const instruments: PassInstrument[] = [
    ...(verifyEach ? [noMutationInstrument()] : []),
    ...(opts.printAfter ? [dumpInstrument(opts.printAfter, opts.onDump)] : []),
    ...(verifyEach ? [wellFormedInstrument()] : []),
    ...(opts.instruments ?? []),
  ];
  if (enabled.length > 0) for (const i of instruments) i.beforeAll?.(input, enabled[0]);
  let current = input;
  const result: PassesResult = { [input.level]: input.ir };
  for (const pass of enabled) {
    for (const i of instruments) i.before?.(pass, current);
    const output = { level: outputLevel(pass), ir: (pass.run as (ir: LevelIR[Level], ctx: PassContext) => LevelIR[Level])(current.ir, ctx) } as StagedIR;
    for (const i of instruments) i.after?.(pass, current, output);
    current = output;
    Object.assign(result, { [current.level]: current.ir });
    if (pass.name === opts.stopAfter) break;
  }
  return result;
}

/** `runPassList` for a list of graph passes: a module in, a module out. */
export function runPasses(m: Module, passes: readonly GraphPass[], ctx: PassContext, opts: RunPassesOptions = {}): Module {
  return runPassList({ level: 'graph', ir: m }, passes, ctx, opts).graph!;
}

function printOrError(x: StagedIR): string {
  try {
    return printStaged(x);
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

/**
 * Each pass's requirements appear earlier in the list, and each reads the level the passes
 * before it leave (essential passes are never skipped, so the levels hold for any `--disable`
 * of optional passes as long as those keep their level); otherwise the pipeline itself is wrong.
 */
function checkOrder(passes: readonly AnyPass[], start: Level): void {
  let level = start;
  passes.forEach((pass, i) => {
    const earlier = new Set(passes.slice(0, i).map((p) => p.name));
    for (const req of pass.requires)
      if (!earlier.has(req)) {
        const where = passes.slice(i + 1).some((p) => p.name === req) ? 'it comes after it' : 'it is not in the pipeline';
        throw new Error(`pass pipeline is misordered: ${pass.name} requires ${req} to run before it, but ${where}`);
      }
    if (pass.level !== level) throw new Error(`pass pipeline is misordered: ${pass.name} reads ${pass.level} IR, but the IR is ${level} IR there`);
    if (!pass.essential && outputLevel(pass) !== pass.level) throw new Error(`pass ${pass.name} lowers to ${outputLevel(pass)} IR, so it must be essential`);
    level = outputLevel(pass);
  });
}

/** Names the user gave (`--disable`, `--after`) must name passes of this pipeline. */
function checkUserNames(passes: readonly AnyPass[], disabled: Set<string>, printAfter: RunPassesOptions['printAfter'], stopAfter: string | undefined): void {
  const names = passes.map((p) => p.name);
  const check = (name: string, flag: string): void => {
    if (!names.includes(name))
      throw new UsageError(`${flag} ${name}: no pass named ${name}`, didYouMean(name, names) ?? `the passes are: ${names.join(', ')}`);
  };
  for (const name of disabled) check(name, '--disable');
  if (Array.isArray(printAfter)) for (const name of printAfter) check(name, '--after');
  if (stopAfter !== undefined) check(stopAfter, '--after');
  // Stopping after a pass that never runs would quietly run the whole list instead.
  if (stopAfter !== undefined && disabled.has(stopAfter)) throw new UsageError(`--after ${stopAfter}: that pass is disabled`, `drop ${stopAfter} from --disable`);
}

/**
 * No disabled pass is essential (a `UsageError` saying why it is not), and an enabled pass's
 * requirements are enabled too (the order is already known good).
 */
export function checkDisableable(passes: readonly AnyPass[], disabled: Set<string>): void {
  for (const pass of passes)
    if (disabled.has(pass.name) && pass.essential) {
      const optional = passes.filter((p) => !p.essential).map((p) => p.name);
      throw new UsageError(`cannot disable ${pass.name}: ${pass.essential}`, optional.length > 0 ? `the passes --disable can skip: ${optional.join(', ')}` : undefined);
    }
  for (const pass of passes) {
    if (disabled.has(pass.name)) continue;
    for (const req of pass.requires)
      if (disabled.has(req))
        throw new UsageError(`cannot disable ${req}: pass ${pass.name} requires it`, `disable ${pass.name} too, or keep ${req}`);
  }
}
