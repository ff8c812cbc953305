/**
 * @fileoverview The error for a bad command line (unknown flag, missing file argument, a
 * `--disable` of a pass that does not exist). The CLI exits with code 2 for it; a mistake in
 * an input file is a `MoecError` (`ir/diagnostics.ts`, exit code 1) instead.
 */

/** A bad command line. The CLI exits with code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}
