/**
 * @fileoverview How moec writes numbers and tables for people: bytes, seconds, SI and
 * parameter counts, three-digit numbers, and aligned text tables. One module that the passes
 * (tile notes), the analysis, the CLI and the benchmark all import, so a figure reads the
 * same wherever it is printed and no report borrows its formatters from a pass.
 */

/** `512 B`, `28.4 KiB`, `1.31 GiB`: binary units, three significant digits from 1 KiB up. */
export function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return String(b);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (b >= 1024 && u < units.length - 1) {
    b /= 1024;
    u++;
  }
  return `${u === 0 ? b.toFixed(0) : b.toFixed(b < 10 ? 2 : 1)} ${units[u]}`;
}

/** `4.86 s`, `70.49 ms`, `7.37 us`. */
export function fmtSeconds(s: number): string {
  if (s >= 1) return `${s.toFixed(2)} s`;
  if (s >= 1e-3) return `${(s * 1e3).toFixed(2)} ms`;
  return `${(s * 1e6).toFixed(2)} us`;
}

/** `74.2 GFLOP`-style numbers: SI prefixes, three significant digits. */
export function fmtSI(v: number, unit: string): string {
  const prefixes: Array<[number, string]> = [[1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'K']];
  for (const [x, p] of prefixes) if (Math.abs(v) >= x) return `${(v / x).toPrecision(3)} ${p}${unit}`;
  return `${Number(v.toPrecision(3))} ${unit}`;
}

/** `1.23B`, `45.6M`, `7.2K`, `12`: parameter counts the way model cards write them. */
export function formatCount(n: number): string {
  const units: Array<[number, string]> = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [v, u] of units) if (n >= v) return `${(n / v).toFixed(n / v >= 100 ? 1 : 2)}${u}`;
  return String(Math.round(n));
}

/** A number with about three significant digits, no exponent for everyday sizes ('' for undefined). */
export function fmtNumber(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return x === undefined ? '' : String(x);
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a >= 0.01) return x.toFixed(3);
  return x.toExponential(1);
}

export interface TableStyle {
  /** Columns whose cells are right-aligned (numbers); the others are left-aligned. */
  right?: (column: number) => boolean;
  /** Put before every line. */
  indent?: string;
  /** A line of dashes under the first row (the header). */
  rule?: boolean;
}

/**
 * Aligned columns, two spaces apart, each as wide as its widest cell; trailing blanks
 * trimmed. Returns the lines.
 */
export function formatTable(rows: readonly (readonly string[])[], style: TableStyle = {}): string[] {
  const right = style.right ?? ((): boolean => false);
  const indent = style.indent ?? '';
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => indent + cells.map((c, i) => (right(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const lines = rows.map(line);
  if (style.rule && lines.length > 0) lines.splice(1, 0, line(widths.map((w) => '-'.repeat(w))));
  return lines;
}
