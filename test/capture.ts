/**
 * Capturing what a test checks: the CLI run in this process (its exit code and what it
 * printed to stdout and stderr), and the MoecError a call throws; one copy for every test.
 */
import { main } from '../compiler/cli/cli.ts';
import { MoecError } from '../ir/diagnostics.ts';

export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The MoecError `fn` throws; anything else it throws goes on, and throwing nothing fails. */
export function errorOf(fn: () => unknown): MoecError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MoecError) return e;
    throw e;
  }
  throw new Error('expected a MoecError, nothing was thrown');
}

/** The first diagnostic of the MoecError `fn` throws, with the source text its span covers (code, message, span, hint: what a language error's test checks). */
export function diagnostic(fn: () => unknown): { code: string; message: string; text: string; hint?: string } {
  const e = errorOf(fn);
  const d = e.diagnostics[0];
  const src = d.span ? e.sources.get(d.span.file) : undefined;
  const text = src && d.span ? src.text.slice(d.span.start, d.span.end) : '';
  return { code: d.code, message: d.message, text, hint: d.hint };
}
