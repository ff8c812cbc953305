/**
 * @fileoverview Progress of long work on a terminal: one line on stderr, rewritten in place,
 * with bytes done of the total, the rate and the time left (`moec pack`, `moec quantize`,
 * loading a checkpoint), or a line that says what is being built and then how long it took
 * (the first C build of a model). When stderr is not a terminal (piped, redirected, a test,
 * CI) nothing is written at all, so the reports and logs read the same as before.
 */
import { fmtBytes } from '../format.ts';

/** Where progress goes: process.stderr, or in tests anything with `isTTY` and `write`. */
export interface ProgressStream {
  isTTY?: boolean;
  /** The terminal's width (0 or absent when it does not say). */
  columns?: number;
  write(text: string): unknown;
}

export interface ProgressOptions {
  /** Default: process.stderr. */
  stream?: ProgressStream;
  /** Milliseconds, for tests; default: performance.now. */
  now?: () => number;
}

/** Redraws at most this often: a 10 GB checkpoint in 4 KB steps must not print 2.5M lines. */
const REDRAW_MS = 100;
const CLEAR_LINE = '\r\x1b[2K';

function shown(stream: ProgressStream, line: string): string {
  const width = stream.columns || 100;
  return line.length > width - 1 ? `${line.slice(0, width - 2)}…` : line;
}

/** `3 s`, `2 min 05 s`: the ETA, to the second. */
export function fmtEta(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const whole = Math.ceil(s);
  return whole < 60 ? `${whole} s` : `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
}

/**
 * Bytes through long work: `label  12.0 MiB / 50.0 MiB  24%  33.1 MiB/s  ETA 2 s  detail`.
 * `update` is cheap when nothing is drawn (off a terminal, or within REDRAW_MS of the last).
 */
export class ByteProgress {
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly on: boolean;
  private readonly start: number;
  private last = -Infinity;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    opts: ProgressOptions = {},
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.now = opts.now ?? (() => performance.now());
    this.on = this.stream.isTTY === true;
    this.start = this.now();
  }

  /** `done` bytes of the total so far; `detail` names what is being worked on (a tensor). */
  update(done: number, detail = ''): void {
    if (!this.on) return;
    const t = this.now();
    if (t - this.last < REDRAW_MS && done < this.total) return;
    this.last = t;
    const secs = (t - this.start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const pct = this.total > 0 ? Math.min(100, Math.floor((done / this.total) * 100)) : 100;
    const eta = rate > 0 ? fmtEta((this.total - done) / rate) : '?';
    const line = `${this.label}  ${fmtBytes(done)} / ${fmtBytes(this.total)}  ${pct}%  ${fmtBytes(rate)}/s  ETA ${eta}${detail ? `  ${detail}` : ''}`;
    this.stream.write(CLEAR_LINE + shown(this.stream, line));
    this.drawn = true;
  }

  /** Clears the line, so what is printed next starts clean. Safe to call twice. */
  end(): void {
    if (this.drawn) this.stream.write(CLEAR_LINE);
    this.drawn = false;
  }
}

/**
 * A ByteProgress made at the first report, for work that learns its total as it starts
 * (`onProgress(doneBytes, totalBytes, name)` callbacks: loading a checkpoint, quantizing one).
 */
export function progressCallback(label: string, opts: ProgressOptions = {}): { onProgress: (done: number, total: number, name: string) => void; end: () => void } {
  let bar: ByteProgress | undefined;
  return {
    onProgress: (done, total, name) => (bar ??= new ByteProgress(label, total, opts)).update(done, name),
    end: () => bar?.end(),
  };
}

/**
 * One step that reports nothing while it runs (a compiler in a child process): `begin` shows
 * `text…`, `end` replaces it with `doneText in 4.21 s` on a line of its own.
 */
export class StepProgress {
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly on: boolean;
  private readonly start: number;

  constructor(text: string, opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.now = opts.now ?? (() => performance.now());
    this.on = this.stream.isTTY === true;
    this.start = this.now();
    if (this.on) this.stream.write(CLEAR_LINE + shown(this.stream, `${text}…`));
  }

  /** `bytes`: what the step produced, for its rate. */
  end(doneText: string, bytes?: number): void {
    if (!this.on) return;
    const secs = (this.now() - this.start) / 1000;
    const rate = bytes !== undefined && secs > 0 ? ` (${fmtBytes(bytes / secs)}/s)` : '';
    this.stream.write(`${CLEAR_LINE}${shown(this.stream, `${doneText} in ${secs.toFixed(2)} s${rate}`)}\n`);
  }
}
