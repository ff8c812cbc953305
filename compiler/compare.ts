/**
 * @fileoverview How far a backend's outputs are from the reference interpreter's: the
 * numbers `moec run --check` prints and the parity tests bound.
 */
import type { Tensor } from '../ir/tensor.ts';

export interface Agreement {
  /** max |got - want|. */
  maxAbs: number;
  /** maxAbs / max |want| (the error relative to the output's scale). */
  maxRel: number;
  /** ‖got - want‖₂ / ‖want‖₂. */
  relL2: number;
  /** Elements where one side is NaN and the other is not (NaN on both sides agrees). */
  nanMismatch: number;
}

/** Compares two tensors of the same shape element by element. */
export function agreement(got: Tensor, want: Tensor): Agreement {
  if (got.shape.length !== want.shape.length || got.shape.some((d, i) => d !== want.shape[i]))
    throw new Error(`agreement: shapes differ, [${got.shape}] vs [${want.shape}]`);
  let maxAbs = 0;
  let scale = 0;
  let num = 0;
  let den = 0;
  let nanMismatch = 0;
  for (let i = 0; i < want.data.length; i++) {
    const g = got.data[i];
    const w = want.data[i];
    if (Number.isNaN(g) || Number.isNaN(w)) {
      if (Number.isNaN(g) !== Number.isNaN(w)) nanMismatch++;
      continue;
    }
    const d = Math.abs(g - w);
    maxAbs = Math.max(maxAbs, d);
    scale = Math.max(scale, Math.abs(w));
    num += d * d;
    den += w * w;
  }
  return { maxAbs, maxRel: maxAbs / Math.max(scale, 1e-30), relL2: Math.sqrt(num / Math.max(den, 1e-300)), nanMismatch };
}

/** One line: `max|Δ| 1.2e-7 (rel 3.4e-8), relL2 5.6e-8`. */
export function formatAgreement(a: Agreement): string {
  const e = (x: number): string => x.toExponential(1);
  return `max|Δ| ${e(a.maxAbs)} (rel ${e(a.maxRel)}), relL2 ${e(a.relL2)}${a.nanMismatch ? `, ${a.nanMismatch} NaN mismatches` : ''}`;
}
