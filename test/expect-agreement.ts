// The parity assertion every backend test makes: a backend's output against the reference
// interpreter's, with no NaN or infinity where the reference has none (or the other way round), and the
// stated tolerances on max |Δ| relative to the output's scale and on relL2.
import { expect } from 'vitest';
import { agreement } from '../compiler/compare.ts';
import type { Tensor } from '../ir/tensor.ts';

export function expectAgreement(got: Tensor, want: Tensor, tol: { maxRel: number; relL2?: number }, label?: string): void {
  const a = agreement(got, want);
  expect(a.nanMismatch, label).toBe(0);
  expect(a.infMismatch, label).toBe(0);
  expect(a.maxRel, label).toBeLessThanOrEqual(tol.maxRel);
  if (tol.relL2 !== undefined) expect(a.relL2, label).toBeLessThanOrEqual(tol.relL2);
}
