// The one rule for tests that need an optional system package (test/optional-packages.ts).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { skipUnless, skipWithout } from './optional-packages.ts';

const saved = process.env.CI;
afterEach(() => {
  if (saved === undefined) delete process.env.CI;
  else process.env.CI = saved;
  vi.restoreAllMocks();
});

describe('optional system packages', () => {
  it('outside CI a missing package skips, with a one-line reason', () => {
    delete process.env.CI;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(skipUnless('libopenblas-dev', 'cblas.h: No such file', 'the OpenBLAS peer checks')).toBe(true);
    expect(warn.mock.calls).toEqual([['skipping the OpenBLAS peer checks: libopenblas-dev is missing (cblas.h: No such file); with CI=true they run and fail']]);
    expect(skipUnless('clang', null, 'the clang build')).toBe(false);
  });

  it('under CI a missing package fails instead of skipping', () => {
    for (const ci of ['true', '1']) {
      process.env.CI = ci;
      expect(() => skipUnless('clang', '`clang` not found', 'the clang build')).toThrow('CI is set, so the clang build must run, but clang is missing: `clang` not found');
      expect(skipUnless('clang', null, 'the clang build')).toBe(false);
    }
    process.env.CI = 'false';
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(skipUnless('clang', '`clang` not found', 'the clang build')).toBe(true);
  });

  it('probes the packages it knows; cc is on every machine the tests run on', () => {
    expect(skipWithout('cc', 'anything that needs cc')).toBe(false);
  });
});
