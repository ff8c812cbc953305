/**
 * @fileoverview Diagnostics for people: a catalogue of stable error codes, the `MoecError`
 * that carries one or more of them, and the formatter that prints `file:line:col`, the
 * source line and a caret under the offending text.
 *
 * A user's mistake is always a `MoecError` (exit code 1) or a `UsageError` (exit code 2,
 * `compiler/usage-error.ts`: the command line is the compiler's business, not the IR's);
 * anything else that escapes is a bug in moec and is reported as one by the CLI.
 */
import type { SourceFile, Span } from './source.ts';

/**
 * Every error moec reports, by stable code. Tests assert codes, so never renumber; retire a
 * code by leaving it here unused. The `hint` is a default; a raise site may give a better one.
 */
export const DIAGNOSTICS = {
  // 1xx: reading text (lexer and parser)
  E101: { title: 'unexpected character' },
  E102: { title: 'syntax error' },
  E103: { title: 'unterminated string or comment' },
  E104: { title: 'source file too large' },
  // 2xx: names and declarations
  E201: { title: 'unknown name' },
  E202: { title: 'unknown operation or block' },
  E203: { title: 'name declared twice' },
  E204: { title: 'unknown argument' },
  E205: { title: 'missing argument' },
  E206: { title: 'argument given twice' },
  E207: { title: 'statement not allowed here' },
  E208: { title: 'no model in file' },
  E209: { title: 'unknown field' },
  E210: { title: 'recursive block' },
  E211: { title: 'unknown constant' },
  // 3xx: types, shapes and values
  E301: { title: 'shape mismatch' },
  E302: { title: 'dtype mismatch' },
  E303: { title: 'wrong kind of value' },
  E304: { title: 'invalid attribute value' },
  E305: { title: 'axis out of range' },
  E306: { title: 'size is not a whole number' },
  E307: { title: 'size out of range' },
  E308: { title: 'wrong number of values' },
  E309: { title: 'unsupported dtype' },
  E310: { title: 'checkpoint pattern error' },
  E311: { title: 'quantized value used where only floats go' },
  E312: { title: 'invalid quantized type' },
  // 4xx: IR text and verifier
  E401: { title: 'malformed IR text' },
  E402: { title: 'invalid IR' },
  // 5xx: data files and running
  E501: { title: 'cannot read file' },
  E502: { title: 'malformed safetensors file' },
  E503: { title: 'missing tensor' },
  E504: { title: 'tensor does not match its declaration' },
  E505: { title: 'bad run-time size' },
  E506: { title: 'cannot write file' },
  E507: { title: 'missing tool' },
  E508: { title: 'malformed checkpoint index' },
  E509: { title: 'not enough memory' },
  E510: { title: 'malformed GGUF file' },
  E511: { title: 'malformed routing statistics' },
  E512: { title: 'a rank of a multi-chip job failed' },
  E513: { title: 'a runner process was killed' },
  // moec generate
  E520: { title: 'no tokenizer' },
  E521: { title: 'malformed tokenizer file' },
  E522: { title: 'model cannot generate' },
  // 6xx: target capability sheets (`targets/*.yaml`) and cluster files (`targets/clusters/*.yaml`)
  E601: { title: 'invalid target file' },
  E602: { title: 'key given twice' },
  E603: { title: 'too many YAML aliases' },
  E604: { title: 'unknown target' },
  E605: { title: 'unknown target field' },
  E606: { title: 'missing target field' },
  E607: { title: 'wrong type of value' },
  E608: { title: 'wrong or missing unit' },
  E609: { title: 'not a number' },
  E610: { title: 'target value out of range' },
  E611: { title: 'invalid choice' },
  E612: { title: 'inconsistent target' },
  E613: { title: 'unknown cluster' },
  // 7xx: code generation (backends)
  E701: { title: 'not supported by this backend' },
  E702: { title: 'model too large for the target' },
  E703: { title: 'backend output disagrees with the reference' },
  // 8xx: importing model configs (`moec import config.json`)
  E801: { title: 'malformed config file' },
  E802: { title: 'unsupported architecture' },
  E803: { title: 'unsupported config value' },
  E804: { title: 'missing or invalid config field' },
} as const satisfies Record<string, { title: string }>;

export type DiagnosticCode = keyof typeof DIAGNOSTICS;

export interface Diagnostic {
  code: DiagnosticCode;
  /** What went wrong, specifically (`expected ')' but found 'k'`). */
  message: string;
  /** Where; absent for errors about a whole file or the command line. */
  span?: Span;
  /** What to do about it (`did you mean 'softmax'?`). */
  hint?: string;
}

/** Diagnostics reported per file at most (a binary or hostile file would otherwise give thousands). */
export const MAX_DIAGNOSTICS = 50;

/** One or more user errors. The CLI prints them all and exits with code 1. */
export class MoecError extends Error {
  readonly diagnostics: Diagnostic[];
  /** Source files the spans point into, attached by the driver, for `format()`. */
  readonly sources = new Map<string, SourceFile>();
  constructor(diagnostics: Diagnostic | Diagnostic[]) {
    const list = Array.isArray(diagnostics) ? diagnostics : [diagnostics];
    super(list.map((d) => `${d.code}: ${d.message}`).join('\n'));
    this.name = 'MoecError';
    this.diagnostics = list;
  }

  addSource(src: SourceFile): this {
    this.sources.set(src.path, src);
    return this;
  }

  /** All diagnostics rendered for a terminal, with source lines and carets where known. */
  format(): string {
    return this.diagnostics.map((d) => formatDiagnostic(d, (p) => this.sources.get(p))).join('\n\n');
  }
}

/** Shorthand for throwing a single diagnostic. */
export function fail(code: DiagnosticCode, message: string, span?: Span, hint?: string): never {
  throw new MoecError({ code, message, span, hint });
}

/** Where diagnostics look up source text by path, to print lines and carets. */
export type SourceLookup = (path: string) => SourceFile | undefined;

/**
 * Renders one diagnostic:
 *
 *     examples/tiny.moe:7:14: error E202: unknown operation `softmx`
 *        7 |   p = softmx(logits)
 *          |       ^^^^^^
 *       hint: did you mean `softmax`?
 */
export function formatDiagnostic(d: Diagnostic, lookup: SourceLookup): string {
  const head = `error ${d.code}: ${d.message}`;
  const lines: string[] = [];
  const src = d.span ? lookup(d.span.file) : undefined;
  if (d.span && src) {
    const { line, col } = src.position(d.span.start);
    lines.push(`${d.span.file}:${line}:${col}: ${head}`);
    const full = src.line(line);
    const gutter = String(line).length + 1;
    const endOnLine = Math.min(d.span.end, d.span.start + Math.max(1, full.length - col + 1));
    const { text, caretCol, caretWidth } = lineWindow(full, col, Math.max(1, endOnLine - d.span.start));
    lines.push(`${String(line).padStart(gutter)} | ${text}`);
    lines.push(`${' '.repeat(gutter)} | ${' '.repeat(caretCol - 1)}${'^'.repeat(caretWidth)}`);
  } else if (d.span) {
    lines.push(`${d.span.file}: ${head}`);
  } else {
    lines.push(head);
  }
  if (d.hint) lines.push(`  hint: ${d.hint}`);
  return lines.join('\n');
}

/** Source lines longer than this are shown as a window around the error. */
const MAX_SHOWN_LINE = 160;
/** How much of the line before the error such a window shows. */
const SHOWN_BEFORE = 60;

/**
 * The part of a source line to print, with the caret's column and width in it. A long line
 * (a 1 MB one-line file) is cut to a window around the error, marked `...` where cut, so
 * that each of 50 diagnostics does not print the whole megabyte.
 */
function lineWindow(line: string, col: number, width: number): { text: string; caretCol: number; caretWidth: number } {
  if (line.length <= MAX_SHOWN_LINE) return { text: line, caretCol: col, caretWidth: width };
  const from = Math.max(0, col - 1 - SHOWN_BEFORE);
  const to = Math.min(line.length, from + MAX_SHOWN_LINE);
  const head = from > 0 ? '...' : '';
  const text = `${head}${line.slice(from, to)}${to < line.length ? '...' : ''}`;
  const caretCol = col - from + head.length;
  return { text, caretCol, caretWidth: Math.max(1, Math.min(width, to - (col - 1))) };
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/**
 * The `count` candidates closest to `name` by edit distance (ties in candidate order), for a
 * hint that lists what there is when nothing is close enough for `didYouMean`. Linear in the
 * candidates: one whose length alone puts it further than the current worst is skipped.
 */
export function nearestNames(name: string, candidates: Iterable<string>, count = 3): string[] {
  const best: Array<{ c: string; d: number }> = [];
  const lower = name.toLowerCase();
  for (const c of candidates) {
    const worst = best.length < count ? Infinity : best[best.length - 1].d;
    if (Math.abs(c.length - name.length) >= worst) continue;
    const d = editDistance(lower, c.toLowerCase());
    if (d >= worst) continue;
    const at = best.findIndex((b) => b.d > d);
    best.splice(at === -1 ? best.length : at, 0, { c, d });
    if (best.length > count) best.pop();
  }
  return best.map((b) => b.c);
}

/** `did you mean 'x'?` for the closest candidate within a small edit distance, else undefined. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  const limit = Math.max(1, Math.floor(name.length / 3));
  for (const c of candidates) {
    // The distance is at least the difference in length: skipping those keeps a
    // megabyte-long name from costing a megabyte times every candidate.
    if (Math.abs(c.length - name.length) > limit) continue;
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best !== undefined && bestDist <= limit ? `did you mean \`${best}\`?` : undefined;
}
