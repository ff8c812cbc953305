/**
 * @fileoverview A one-line progress indicator for long runs: shown on stderr, rewritten in
 * place, only when stdout is a terminal; when the report is piped or redirected, nothing but
 * the report is printed.
 */
export class Progress {
  private readonly on: boolean;
  private readonly start = performance.now();

  constructor(
    /** Number of steps, for the `[i/n]` counter. */
    private readonly total: number,
    enabled = process.stdout.isTTY === true,
  ) {
    this.on = enabled;
  }

  /** Shows `[step/total] text` with the elapsed time, replacing the previous line. */
  update(step: number, text: string): void {
    if (!this.on) return;
    const secs = ((performance.now() - this.start) / 1e3).toFixed(0);
    let line = `[${step}/${this.total}] ${text} (${secs} s)`;
    const width = process.stderr.columns || 100; // 0 when the terminal does not say
    if (line.length > width - 1) line = line.slice(0, width - 2) + '…';
    process.stderr.write(`\r\x1b[2K${line}`);
  }

  /** Clears the line so the report starts clean. */
  done(): void {
    if (this.on) process.stderr.write('\r\x1b[2K');
  }
}
