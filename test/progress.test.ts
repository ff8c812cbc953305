/**
 * Progress of long work (compiler/io/progress.ts): bytes, rate and ETA on a terminal, nothing
 * when piped; and the byte counts that `moec quantize` and checkpoint loading report to it.
 * Streams are fakes (`isTTY` true for a terminal, absent for a pipe) with a fake clock.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ByteProgress, StepProgress, fmtEta, progressCallback } from '../compiler/io/progress.ts';
import { quantizeCheckpoint } from '../compiler/checkpoint/quantize.ts';
import { compileFile, randomWeights, weightsFromSafetensors } from '../compiler/driver.ts';
import { writeSafetensors } from '../compiler/io/write-safetensors.ts';
import { openCheckpoint } from '../ir/checkpoint.ts';

/** A stream that records what is written; `tty`: whether it says it is a terminal. */
function fakeStream(tty: boolean, columns = 200): { isTTY?: boolean; columns: number; write: (s: string) => boolean; text: () => string } {
  const chunks: string[] = [];
  return { ...(tty ? { isTTY: true } : {}), columns, write: (s: string) => chunks.push(s) > 0, text: () => chunks.join('') };
}

/** A clock the test moves (milliseconds). */
function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

const MiB = 1024 * 1024;

describe('ByteProgress', () => {
  it('on a terminal: bytes done of the total, percent, rate and ETA, redrawn in place; end clears the line', () => {
    const s = fakeStream(true);
    const clock = fakeClock();
    const p = new ByteProgress('packing', 100 * MiB, { stream: s, now: clock.now });
    clock.advance(2000);
    p.update(20 * MiB, 'w1');
    // 20 MiB in 2 s: 10 MiB/s, 80 MiB to go: 8 s
    expect(s.text()).toBe('\r\x1b[2Kpacking  20.0 MiB / 100.0 MiB  20%  10.0 MiB/s  ETA 8 s  w1');
    p.end();
    expect(s.text().endsWith('\r\x1b[2K')).toBe(true);
  });

  it('redraws at most every 100 ms (a long load must not flood the terminal), but always at the end', () => {
    const s = fakeStream(true);
    const clock = fakeClock();
    const p = new ByteProgress('loading', 1000, { stream: s, now: clock.now });
    clock.advance(1000);
    p.update(100);
    clock.advance(10);
    p.update(200);
    p.update(300);
    clock.advance(200);
    p.update(400);
    clock.advance(1);
    p.update(1000);
    const lines = s.text().split('\r\x1b[2K').filter(Boolean);
    expect(lines.map((l) => l.split('  ')[1])).toEqual(['100 B / 1000 B', '400 B / 1000 B', '1000 B / 1000 B']);
  });

  it('piped (no isTTY): writes nothing at all', () => {
    const s = fakeStream(false);
    const p = new ByteProgress('packing', 100, { stream: s });
    p.update(50, 'x');
    p.end();
    const step = new StepProgress('compiling', { stream: s });
    step.end('compiled', 10);
    const cb = progressCallback('loading', { stream: s });
    cb.onProgress(1, 2, 'w');
    cb.end();
    expect(s.text()).toBe('');
  });

  it('a line wider than the terminal is cut with an ellipsis', () => {
    const s = fakeStream(true, 30);
    new ByteProgress('loading weights', 10 * MiB, { stream: s }).update(MiB, 'model.layers.0.block_sparse_moe.experts.7.w1.weight');
    const line = s.text().replace('\r\x1b[2K', '');
    expect(line.length).toBe(29);
    expect(line.endsWith('…')).toBe(true);
  });

  it('ETA reads in seconds, then minutes', () => {
    expect(fmtEta(0.2)).toBe('1 s');
    expect(fmtEta(59)).toBe('59 s');
    expect(fmtEta(125)).toBe('2 min 05 s');
    expect(fmtEta(Infinity)).toBe('?');
  });
});

describe('StepProgress', () => {
  it('says what runs, then replaces it with how long it took (and the rate) on a line of its own', () => {
    const s = fakeStream(true);
    const clock = fakeClock();
    const step = new StepProgress('compiling m.c with cc', { stream: s, now: clock.now });
    expect(s.text()).toBe('\r\x1b[2Kcompiling m.c with cc…');
    clock.advance(4210);
    step.end('compiled m.c with cc');
    expect(s.text()).toBe('\r\x1b[2Kcompiling m.c with cc…\r\x1b[2Kcompiled m.c with cc in 4.21 s\n');
    const packed = fakeStream(true);
    const p = new StepProgress('packing', { stream: packed, now: clock.now });
    clock.advance(500);
    p.end('packed', 50 * MiB);
    expect(packed.text()).toContain('packed in 0.50 s (100.0 MiB/s)\n');
  });
});

describe('byte counts reported to the progress line', () => {
  /** tiny.moe's seeded weights as a checkpoint, and their stored bytes. */
  function checkpoint(): { path: string; bytes: number } {
    const m = compileFile('examples/tiny.moe');
    const w = randomWeights(m, 1);
    const path = join(mkdtempSync(join(tmpdir(), 'moec-progress-')), 'w.safetensors');
    writeSafetensors(path, w);
    return { path, bytes: Object.values(w).reduce((a, t) => a + t.data.length * 4, 0) };
  }

  it('loading a checkpoint: once per tensor, bytes so far rising to the total', () => {
    const { path, bytes } = checkpoint();
    const calls: Array<[number, number, string]> = [];
    weightsFromSafetensors(compileFile('examples/tiny.moe'), openCheckpoint(path), path, { onProgress: (d, t, n) => void calls.push([d, t, n]) });
    expect(calls.map((c) => c[2]).sort()).toEqual(['router', 'w_down', 'w_gate', 'w_up']);
    expect(calls.every((c) => c[1] === bytes)).toBe(true);
    expect(calls[0][0]).toBe(0);
    for (let i = 1; i < calls.length; i++) expect(calls[i][0]).toBeGreaterThan(calls[i - 1][0]);
  });

  it('moec quantize: bytes of the tensors to quantize (was: a tensor counter only)', async () => {
    const { path, bytes } = checkpoint();
    const calls: Array<[number, number, string]> = [];
    const out = join(mkdtempSync(join(tmpdir(), 'moec-progress-')), 'q.safetensors');
    const r = await quantizeCheckpoint(path, 'i8', out, { onProgress: (d, t, n) => void calls.push([d, t, n]) });
    const quantized = r.rows.length;
    expect(calls).toHaveLength(quantized);
    expect(calls[0][0]).toBe(0);
    // The quantized tensors' stored bytes (f32 here): at most the checkpoint's, all of it when all are quantized.
    expect(calls[0][1]).toBeLessThanOrEqual(bytes);
    expect(calls[0][1]).toBe(r.rows.reduce((a, row) => a + row.shape.reduce((x: number, y: number) => x * y, 1) * 4, 0));
  });
});
