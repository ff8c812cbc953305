/**
 * @fileoverview The token bound: the largest token count `T` a compiled program handles
 * (`--max-tokens`). One fact with one source: `resolveMaxTokens` works it out once per
 * compilation (the pipeline calls it; `lower-kernels` records the result as
 * `KProgram.maxTokens`, which the tiler, the memory planner and every backend read), and
 * `checkTokenCount` is the one check, with one message, that a run's `T` is within it —
 * for the driver, the CLI, the backends' runtimes and the Wasm loader alike.
 *
 * It imports nothing but the diagnostics (no Node modules), so the Wasm loader, which a
 * web page uses as it is, can use it too.
 */
import { fail } from '../diagnostics.ts';

/** The bound when neither `--max-tokens` nor the model's `dim T <= N` gives one. */
export const DEFAULT_MAX_TOKENS = 512;

/**
 * The token bound to compile for: the one asked for (`--max-tokens`), else the model's
 * declared bound on `T`, else `DEFAULT_MAX_TOKENS` raised to the token count of the run the
 * program is compiled for (`moec run --tokens`), if any. (The CLI refuses a `--max-tokens`
 * over the model's declared bound; the API takes any bound, as the golden files do.)
 */
export function resolveMaxTokens(declared: number | undefined, requested?: number, runTokens?: number): number {
  if (requested !== undefined) {
    if (!Number.isSafeInteger(requested) || requested < 1) throw new Error(`the token bound must be a whole number of at least 1, got ${requested}`);
    return requested;
  }
  return declared ?? Math.max(DEFAULT_MAX_TOKENS, runTokens ?? 1);
}

/** Throws E505 unless `T` is a token count the program compiled for `maxTokens` takes (1..maxTokens). */
export function checkTokenCount(T: number | undefined, maxTokens: number): void {
  if (T === undefined || !Number.isInteger(T) || T < 1 || T > maxTokens)
    fail('E505', `T = ${T} is outside 1..${maxTokens}, the token counts the program was compiled for`, undefined, 'compile with a larger --max-tokens');
}
