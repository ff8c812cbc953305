/**
 * @fileoverview The fuzzing property, shared by every input kind: running moec on any
 * input either succeeds or throws a user error — a `MoecError` whose diagnostics point
 * inside the text they name (so `file:line:col` is printed), or a `UsageError` — and
 * finishes within a time bound. Anything else (a TypeError, a RangeError from a typed
 * array, a stack overflow) is a bug in moec, and the property fails with its stack.
 */
import { MoecError } from '../../ir/diagnostics.ts';
import { UsageError } from '../../compiler/usage-error.ts';

/** What one case did: accepted, or refused with these diagnostic codes (or `usage`). */
export type Outcome = { ok: true } | { ok: false; codes: string[] };

/**
 * A case using more CPU time than this is reported as a hang (even a deep pipeline takes
 * well under a second). CPU time, not wall time, so that a busy machine does not fail cases.
 */
export const MAX_CASE_MS = 2000;

/** CPU time of this process so far, in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export class FuzzFailure extends Error {}

/** Runs one case and checks the property; throws `FuzzFailure` (with the cause) when it does not hold. */
export function checkCase(run: () => void, maxMs = MAX_CASE_MS): Outcome {
  const t0 = cpuMs();
  let outcome: Outcome;
  try {
    run();
    outcome = { ok: true };
  } catch (e) {
    outcome = { ok: false, codes: classify(e) };
  }
  return inTime(outcome, t0, maxMs);
}

/** Async variant, for the CLI's `main`. */
export async function checkCaseAsync(run: () => Promise<void>, maxMs = MAX_CASE_MS): Promise<Outcome> {
  const t0 = cpuMs();
  return inTime(await run().then(() => ({ ok: true }) as Outcome, (e: unknown) => ({ ok: false, codes: classify(e) })), t0, maxMs);
}

function inTime(outcome: Outcome, t0: number, maxMs: number): Outcome {
  const ms = cpuMs() - t0;
  if (ms > maxMs) throw new FuzzFailure(`case took ${ms.toFixed(0)} ms of CPU time (limit ${maxMs} ms): a hang or a blow-up`);
  return outcome;
}

function classify(e: unknown): string[] {
  if (e instanceof UsageError) return ['usage'];
  if (!(e instanceof MoecError)) {
    const err = e as Error;
    throw new FuzzFailure(`internal error (not a MoecError/UsageError): ${err?.stack ?? String(e)}`, { cause: e });
  }
  checkLocations(e);
  return e.diagnostics.map((d) => d.code);
}

/**
 * Every span must lie inside the text it names, with start <= end, and the formatted
 * message must then carry `file:line:col`; formatting itself must not throw.
 */
function checkLocations(e: MoecError): void {
  let text: string;
  try {
    text = e.format();
  } catch (f) {
    throw new FuzzFailure(`formatting ${e.message} threw: ${(f as Error).stack}`);
  }
  for (const d of e.diagnostics) {
    if (!d.message || /\[object |(?:is|:|=) undefined\b/.test(d.message)) throw new FuzzFailure(`${d.code} has a broken message: ${JSON.stringify(d.message)}`);
    if (!d.span) continue;
    const src = e.sources.get(d.span.file);
    if (!src) continue; // spans into a file the raise site did not attach (e.g. an earlier module) print as `file: error`
    const { start, end } = d.span;
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= src.text.length))
      throw new FuzzFailure(`${d.code} ${d.message}: span ${start}..${end} is outside ${d.span.file} (${src.text.length} chars)`);
    const { line, col } = src.position(start);
    if (!text.includes(`${d.span.file}:${line}:${col}: error ${d.code}`)) throw new FuzzFailure(`${d.code} ${d.message}: formatted without ${d.span.file}:${line}:${col}:\n${text}`);
  }
}
