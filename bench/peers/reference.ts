/**
 * @fileoverview Keeps the native peers honest: at one token count, a peer's output on moec's
 * weights and input must agree with moec's reference interpreter (graph `interpret`) within
 * PEER_MAX_REL (max |difference| over max |reference|). A disagreement throws, so the
 * harness records an error for that case instead of a timing of the wrong computation.
 * The reference output is computed once per case and shared by the peers.
 */
import { readFileSync } from 'node:fs';
import { type Agreement, agreement, formatAgreement } from '../../compiler/compare.ts';
import { mainFunc } from '../../ir/graph/graph.ts';
import { interpret } from '../../ir/graph/interp.ts';
import type { Tensor } from '../../ir/tensor.ts';
import type { BenchCase } from '../runner.ts';

/** The token count at which the peers' outputs are checked (the NumPy check's too). */
export const PEER_CHECK_TOKENS = 32;

/** Largest allowed max |peer − moec| / max |moec|. */
export const PEER_MAX_REL = 1e-4;

const references = new WeakMap<Record<string, Tensor>, Map<number, Tensor>>();

/** moec's reference output of case `c` (its single output), computed once. */
export function referenceOutput(c: BenchCase): Tensor {
  let byTokens = references.get(c.weights);
  if (!byTokens) references.set(c.weights, (byTokens = new Map()));
  let y = byTokens.get(c.tokens);
  if (!y) {
    const main = mainFunc(c.module);
    if (main.results.length !== 1) throw new Error(`the peer check compares a single output, ${c.workload.file} has ${main.results.length}`);
    y = interpret(c.module, { bindings: c.bindings, inputs: c.inputs, weights: c.weights })[main.results[0].name];
    byTokens.set(c.tokens, y);
  }
  return y;
}

/**
 * Compares a peer's raw float32 output file with moec's reference for case `c`; returns the
 * agreement, or throws `who: output differs from moec-ref ...` past the tolerance.
 */
export function checkAgainstReference(c: BenchCase, outFile: string, who: string): Agreement {
  const want = referenceOutput(c);
  const bytes = readFileSync(outFile);
  if (bytes.byteLength !== want.data.length * 4)
    throw new Error(`${who}: output has ${bytes.byteLength / 4} values, moec-ref's [${want.shape.join(', ')}] has ${want.data.length}`);
  const got: Tensor = { dtype: 'f32', shape: want.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
  const a = agreement(got, want);
  if (!(a.maxRel <= PEER_MAX_REL) || a.nanMismatch > 0)
    throw new Error(`${who}: output differs from moec-ref at T=${c.tokens}: ${formatAgreement(a)} (allowed rel ${PEER_MAX_REL})`);
  return a;
}

/** One line for a runner's `about`: how its check went, per workload. */
export function describeChecks(checks: Map<string, Agreement | string>): string {
  if (checks.size === 0) return `not checked (no case at T=${PEER_CHECK_TOKENS})`;
  const parts = [...checks].map(([w, a]) => (typeof a === 'string' ? `${w} FAIL` : `${w} max rel ${a.maxRel.toExponential(1)}`));
  return `checked against moec-ref at T=${PEER_CHECK_TOKENS} (allowed rel ${PEER_MAX_REL}): ${parts.join(', ')}`;
}
