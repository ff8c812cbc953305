/**
 * @fileoverview Source text and spans: the one place that turns byte offsets into
 * `file:line:col`, so every diagnostic (parser, lowering, IR verifier) points the same way.
 */

/** A half-open range `[start, end)` of character offsets into one source file. */
export interface Span {
  file: string;
  start: number;
  end: number;
}

/** A source file held in memory, with a line index for offset → line/column lookups. */
export class SourceFile {
  /** Offsets at which each line starts (line 1 starts at 0). */
  private readonly lineStarts: number[];

  constructor(
    /** Path as the user gave it (printed in diagnostics). */
    readonly path: string,
    readonly text: string,
  ) {
    this.lineStarts = [0];
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  /** 1-based line and column of a character offset. */
  position(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.lineStarts[lo] + 1 };
  }

  /** The text of a 1-based line, without its newline. */
  line(line: number): string {
    const start = this.lineStarts[line - 1] ?? this.text.length;
    const next = this.lineStarts[line];
    const end = next === undefined ? this.text.length : next - 1;
    return this.text.slice(start, end).replace(/\r$/, '');
  }

  /**
   * A span of this file, clamped to the text: raise sites ask for one character at the
   * end of the text ("expected ')' but found end of file"), which is past it.
   */
  span(start: number, end: number): Span {
    const s = Math.min(Math.max(0, start), this.text.length);
    return { file: this.path, start: s, end: Math.min(Math.max(s, end), this.text.length) };
  }
}

/** The smallest span covering both. */
export function joinSpans(a: Span, b: Span): Span {
  return { file: a.file, start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) };
}
