// The first diagnostic of a MoecError that `fn` throws, with the source text its span
// covers: what the tests of a language error check (code, message, span, hint).
import { MoecError } from '../ir/diagnostics.ts';

export function diagnostic(fn: () => unknown): { code: string; message: string; text: string; hint?: string } {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof MoecError)) throw e;
    const d = e.diagnostics[0];
    const src = d.span ? e.sources.get(d.span.file) : undefined;
    const text = src && d.span ? src.text.slice(d.span.start, d.span.end) : '';
    return { code: d.code, message: d.message, text, hint: d.hint };
  }
  throw new Error('expected a MoecError');
}
