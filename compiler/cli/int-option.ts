/**
 * @fileoverview The one reader of whole-number command-line options (`--tokens 32`,
 * `--chips 4`): digits only, inside the option's range, else a usage error (exit 2) naming it.
 */
import { UsageError } from '../usage-error.ts';

export function parseInt32(name: string, s: unknown, min: number, max: number): number | undefined {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (typeof s !== 'string' || !/^\s*\d+\s*$/.test(s) || !Number.isSafeInteger(v) || v < min || v > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got '${String(s)}'`);
  return v;
}
