// compare.ts: how `moec run --check` scores a backend against the reference, including the
// elements that are not finite.
import { describe, expect, it } from 'vitest';
import { agreement, failOnNonFiniteMismatch, formatAgreement } from '../compiler/compare.ts';
import { MoecError } from '../ir/diagnostics.ts';
import type { Tensor } from '../ir/tensor.ts';

const t = (...v: number[]): Tensor => ({ dtype: 'f32', shape: [v.length], data: new Float32Array(v) });

describe('agreement', () => {
  it('same infinities agree: max|Δ| 0 rather than NaN (Inf - Inf)', () => {
    const a = agreement(t(Infinity, -Infinity, 1), t(Infinity, -Infinity, 1));
    expect(a).toEqual({ maxAbs: 0, maxRel: 0, relL2: 0, nanMismatch: 0, infMismatch: 0 });
    expect(formatAgreement(a)).toBe('max|Δ| 0 (rel 0), relL2 0');
  });

  it('counts an infinity on one side, or opposite infinities, as Inf mismatches', () => {
    const a = agreement(t(Infinity, 2, Infinity, 1), t(3, -Infinity, -Infinity, 1.5));
    expect(a.infMismatch).toBe(3);
    expect(a.nanMismatch).toBe(0);
    expect(a.maxAbs).toBe(0.5);
    expect(formatAgreement(a)).toBe('max|Δ| 5.0e-1 (rel 3.3e-1), relL2 3.3e-1, 3 Inf mismatches');
  });

  it('counts NaN on one side only; NaN on both sides agrees', () => {
    const a = agreement(t(NaN, NaN, 1, Infinity), t(NaN, 1, NaN, NaN));
    expect(a.nanMismatch).toBe(3);
    expect(a.infMismatch).toBe(0);
    expect(formatAgreement(a)).toContain('3 NaN mismatches');
  });
});

describe('--check verdict (failOnNonFiniteMismatch)', () => {
  it('check passed NaN and Inf mismatches (exit 0): now an E703 naming the output', () => {
    expect(() => failOnNonFiniteMismatch('wasm', { y: agreement(t(1, 2), t(1, 2.0000001)) })).not.toThrow();
    const err = (() => {
      try {
        failOnNonFiniteMismatch('wasm', { y: agreement(t(1, 2, Infinity), t(NaN, 2, 5)), z: agreement(t(1), t(1)) });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(MoecError);
    expect(String((err as MoecError).message)).toMatch(/^E703: --check: the wasm backend and the reference interpreter disagree .*NaN or infinite \(output `y`: 1 NaN and 1 Inf mismatch/);
    expect(String((err as MoecError).message)).not.toContain('`z`');
  });
});
