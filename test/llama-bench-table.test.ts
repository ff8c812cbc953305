/**
 * The llama.cpp section's README table (bench/llama/readme-table.ts) from a made-up record:
 * one row per implementation that ran, moec's ratios to llama.cpp at the same precision and
 * threads, the parity lines (a near tie told from a disagreement), the rows that did not run;
 * and the weight bytes a decode step reads (bench/llama/bench.ts decodeBytes).
 */
import { describe, expect, it } from 'vitest';
import { type LlamaRecord, combineRounds, decodeBytes } from '../bench/llama/bench.ts';
import { formatLlamaTable } from '../bench/llama/readme-table.ts';
import { BENCH_SIZES } from '../bench/llama/workload.ts';

const record = (): LlamaRecord => ({
  version: 1,
  machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 8, node: 'v20', date: '2026-12-07T00:00:00Z', loadBefore: 0, loadAfter: 0 },
  quick: false,
  sizes: BENCH_SIZES,
  prefillTokens: 256,
  readGBps: { 1: 20, 2: 40 },
  decodeBytes: { f32: 249e6, q8: 70e6 },
  parity: [
    { against: 'moec C x86-avx2', precision: 'f32', worst: 2e-6, rows: 15, tokensEqual: true },
    { against: 'moec C x86-avx2', precision: 'q8', worst: 8e-3, rows: 9, tokensEqual: false, firstDiff: 2, tieMargin: 1e-3 },
  ],
  rows: [
    { impl: 'llama.cpp', precision: 'f32', threads: 1, prefillTps: 200, decodeTps: 20, decodeGBps: 4.98, decodeFracRead: 0.249 },
    { impl: 'moec C x86-avx2', precision: 'f32', threads: 1, prefillTps: 300, decodeTps: 25, decodeGBps: 6.2, decodeFracRead: 0.31 },
    { impl: 'moec C x86-avx2', precision: 'f32', threads: 2, prefillTps: 500, decodeTps: 30 },
    { impl: 'moec Wasm', precision: 'f32', threads: 1, skipped: 'cannot run this model yet: E701' },
  ],
  wallSeconds: 1,
});

describe('the llama.cpp section', () => {
  it('formats one table with ratios against llama.cpp at the same precision and threads, the parity lines and what did not run', () => {
    const text = formatLlamaTable(record());
    expect(text).toContain('| llama.cpp | F32 | 1 | 200 | 20.00 | 4.98 | 25% |');
    expect(text).toContain('| moec C x86-avx2 | F32 | 1 | 300 (1.50×) | 25.00 (1.25×) | 6.20 | 31% |');
    // No llama.cpp row on 2 threads: no ratio.
    expect(text).toContain('| moec C x86-avx2 | F32 | 2 | 500 | 30.00 | — | — |');
    expect(text).toMatch(/Parity, moec C x86-avx2 against llama.cpp, F32: next-token distributions within 2\.0e-6 .* \(15 positions\), the greedy tokens identical\./);
    expect(text).toMatch(/Q8_0 \/ i8g32: next-token distributions within 8\.0e-3 .* identical up to step 2, where moec's top two were 1\.0e-3 of the scale apart \(a near tie\)/);
    expect(text).toContain('- moec Wasm, F32, 1 thread: cannot run this model yet: E701');
    expect(text).not.toContain('forward alone');
  });

  it('says so when parity is outside the tolerance or tokens part where the top two were not close', () => {
    const r = record();
    r.parity = [{ against: 'moec C x86-avx2', precision: 'f32', worst: 3e-4, rows: 5, tokensEqual: false, firstDiff: 0, tieMargin: 0.3 }];
    const text = formatLlamaTable(r);
    expect(text).toContain('OUTSIDE the tolerance: 3.0e-4');
    expect(text).toContain('NOT a near tie: a disagreement');
  });

  it('counts a decode step as every weight but the experts, K of E experts and one embedding row', () => {
    const s = { ...BENCH_SIZES, V: 10, E: 4, K: 1 };
    const t = (shape: number[]) => ({ dtype: 'f32' as const, shape, data: new Float32Array(0) });
    const shapes = { embed: t([10, 8]), lm_head: t([10, 8]), 'layers.moe.w_gate': t([2, 4, 16, 8]), 'layers.moe.router': t([2, 4, 8]) };
    expect(decodeBytes(shapes, s, 'f32', new Set())).toBe(4 * (8 + 80 + (2 * 4 * 16 * 8) / 4 + 64));
    // Quantized: a byte a code and an f32 scale per 32.
    expect(decodeBytes(shapes, s, 'q8', new Set(['lm_head', 'layers.moe.w_gate']))).toBe(4 * 8 + 80 * 1.125 + ((2 * 4 * 16 * 8) / 4) * 1.125 + 4 * 64);
  });
});

describe('combineRounds', () => {
  it('takes each number as the median over the rounds that ran, and keeps a row skipped only when every round was', () => {
    const row = { impl: 'moec C x86-avx2', precision: 'q8' as const, threads: 2, scheme: 'w8a8' };
    const got = combineRounds([
      { ...row, prefillTps: 100, decodeTps: 10, prefillRuns: 2, decodeSteps: 12 },
      { ...row, skipped: 'failed: the machine hiccuped' },
      { ...row, prefillTps: 300, decodeTps: 30, prefillRuns: 2, decodeSteps: 12 },
      { ...row, prefillTps: 200, decodeTps: 5, prefillRuns: 2, decodeSteps: 12 },
    ]);
    expect(got).toEqual({ ...row, prefillTps: 200, decodeTps: 10, prefillRuns: 6, decodeSteps: 36, rounds: 3 });
    expect(combineRounds([{ ...row, skipped: 'no avx512f' }, { ...row, skipped: 'no avx512f' }]).skipped).toBe('no avx512f');
  });
});
