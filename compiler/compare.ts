/**
 * @fileoverview How far a backend's outputs are from the reference interpreter's: the
 * numbers `moec run --check` prints and the parity tests bound.
 */
import type { Tensor } from '../ir/tensor.ts';
import { fail } from '../ir/diagnostics.ts';

export interface Agreement {
  /** max |got - want| over the elements finite on both sides. */
  maxAbs: number;
  /** maxAbs / max |want| (the error relative to the output's scale). */
  maxRel: number;
  /** ‖got - want‖₂ / ‖want‖₂ over the elements finite on both sides. */
  relL2: number;
  /** Elements where one side is NaN and the other is not (NaN on both sides agrees). */
  nanMismatch: number;
  /**
   * Elements, neither NaN, where one side is ±Inf and the other is not that same infinity
   * (the same infinity on both sides agrees: its difference counts as 0, not Inf - Inf = NaN).
   */
  infMismatch: number;
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
  let infMismatch = 0;
  for (let i = 0; i < want.data.length; i++) {
    const g = got.data[i];
    const w = want.data[i];
    if (Number.isNaN(g) || Number.isNaN(w)) {
      if (Number.isNaN(g) !== Number.isNaN(w)) nanMismatch++;
      continue;
    }
    if (!Number.isFinite(g) || !Number.isFinite(w)) {
      if (g !== w) infMismatch++;
      continue;
    }
    const d = Math.abs(g - w);
    maxAbs = Math.max(maxAbs, d);
    scale = Math.max(scale, Math.abs(w));
    num += d * d;
    den += w * w;
  }
  return { maxAbs, maxRel: maxAbs / Math.max(scale, 1e-30), relL2: Math.sqrt(num / Math.max(den, 1e-300)), nanMismatch, infMismatch };
}

/** Elements where the two sides disagree on NaN or infinity: no tolerance excuses these. */
export function nonFiniteMismatches(a: Agreement): number {
  return a.nanMismatch + a.infMismatch;
}

/**
 * `moec run --check`'s verdict: an E703 naming every output where the backend and the
 * reference disagree on a NaN or an infinity. Those are wrong answers whatever the
 * tolerance (the backends round to float32 where the reference does, so overflow lands alike).
 */
export function failOnNonFiniteMismatch(backend: string, outputs: Record<string, Agreement>): void {
  const bad = Object.entries(outputs).filter(([, a]) => nonFiniteMismatches(a) > 0);
  if (bad.length === 0) return;
  const what = bad.map(([name, a]) => `output \`${name}\`: ${a.nanMismatch} NaN and ${a.infMismatch} Inf mismatch(es)`).join('; ');
  fail('E703', `--check: the ${backend} backend and the reference interpreter disagree on which elements are NaN or infinite (${what})`, undefined, 'this is a bug in moec: please report it with the model, weights and inputs');
}

/** One line: `max|Δ| 1.2e-7 (rel 3.4e-8), relL2 5.6e-8`, then any NaN and Inf mismatches. */
export function formatAgreement(a: Agreement): string {
  const e = (x: number): string => (x === 0 ? '0' : x.toExponential(1));
  const count = (n: number, what: string): string => (n ? `, ${n} ${what} mismatch${n === 1 ? '' : 'es'}` : '');
  return `max|Δ| ${e(a.maxAbs)} (rel ${e(a.maxRel)}), relL2 ${e(a.relL2)}${count(a.nanMismatch, 'NaN')}${count(a.infMismatch, 'Inf')}`;
}
