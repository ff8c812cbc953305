/** `moec compile`'s report (compiler/report.ts). */
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { compileReport } from '../compiler/cli/report.ts';
import { loadTarget } from '../compiler/target/load.ts';

describe('compile report', () => {
  it('estimates a decoder with its cached length at its bound (was: internal error, no value for the symbolic size L)', () => {
    const target = loadTarget('x86-avx2');
    const p = runPipeline(compileFile('test/fixtures/decoder-pair.moe'), { target, maxTokens: 16 }).program!;
    const last = compileReport(p, target, 16).split('\n').at(-1)!;
    expect(last).toMatch(/^estimated on x86-avx2 with L = 32: T=1: .* GFLOP, .*; T=16: /);
  });

  it('with a context bound, estimates the cached length the cache can hold, CTX - T (was its bound as a dim: L = 32 with CTX = 24, a cache that cannot exist)', () => {
    const target = loadTarget('x86-avx2');
    const p = runPipeline(compileFile('test/fixtures/decoder-pair.moe'), { target, maxTokens: 16, maxContext: 24 }).program!;
    expect(compileReport(p, target, 16).split('\n').at(-1)).toMatch(/^estimated on x86-avx2 with L = 8, CTX = 24: T=1: /);
  });

  it('names no other size for a model with only T', () => {
    const target = loadTarget('x86-avx2');
    const p = runPipeline(compileFile('examples/tiny.moe'), { target, maxTokens: 16 }).program!;
    expect(compileReport(p, target, 16).split('\n').at(-1)).toMatch(/^estimated on x86-avx2: T=1: /);
  });
});
