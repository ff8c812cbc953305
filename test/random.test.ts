/**
 * @fileoverview Tests for the portable seeded generator: pinned values (so any change to the
 * algorithm is caught), statistical sanity, validation, and the C and numpy reference
 * implementations in ir/random.ts's header run against the TypeScript one.
 */
import { spawnSync } from 'node:child_process';
import { skipWithout } from './optional-packages.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fmix32, hash32, initScale, randomUniform, seededKey, seededValue } from '../ir/random.ts';

const SOURCE = readFileSync(new URL('../ir/random.ts', import.meta.url), 'utf8');

describe('pinned values', () => {
  // Computed once from the algorithm in ir/random.ts and cross-checked with its C reference
  // (gcc) and numpy reference. Each is k * 2^-23 - 1 for an integer k. If these change, every
  // seeded test input changes: update them only together with the C/WGSL/numpy ports.
  it('name "x", seed 0', () => {
    expect(seededKey('x', 0)).toBe(794621484);
    expect([0, 1, 2, 3].map((i) => seededValue('x', 0, i))).toEqual([
      -0.4688258171081543, 0.9142946004867554, -0.0161515474319458, 0.47810912132263184,
    ]);
  });
  it('name "router", seed 42', () => {
    expect(seededKey('router', 42)).toBe(1026576425);
    expect([0, 1, 2, 3].map((i) => seededValue('router', 42, i))).toEqual([
      0.6295753717422485, 0.040862083435058594, 0.873314380645752, -0.26764118671417236,
    ]);
  });
  it('randomUniform applies one float32 multiply by the float32 scale', () => {
    const t = randomUniform('x', 0, [2, 2], 0.1);
    expect(t.dtype).toBe('f32');
    expect(t.shape).toEqual([2, 2]);
    const s = Math.fround(0.1);
    expect(Array.from(t.data)).toEqual([0, 1, 2, 3].map((i) => Math.fround(seededValue('x', 0, i) * s)));
  });
});

describe('building blocks', () => {
  it('hash32 is FNV-1a over UTF-8 bytes', () => {
    // Published FNV-1a 32-bit test vectors.
    expect(hash32('')).toBe(0x811c9dc5);
    expect(hash32('a')).toBe(0xe40c292c);
    expect(hash32('foobar')).toBe(0xbf9cf968);
    // Non-ASCII names hash their UTF-8 bytes, as C and numpy ports will.
    let h = 0x811c9dc5;
    for (const b of [0xc3, 0xa9]) h = Math.imul(h ^ b, 0x01000193) >>> 0;
    expect(hash32('é')).toBe(h);
  });
  it('fmix32 is the MurmurHash3 finalizer', () => {
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(0x514e28b7);
    expect(fmix32(0xffffffff)).toBe(0x81f16f39);
  });
});

describe('streams', () => {
  it('the same name and seed give identical tensors; f64 mode holds the same float32 values', () => {
    const a = randomUniform('w', 7, [3, 5], 0.25);
    const b = randomUniform('w', 7, [3, 5], 0.25);
    const c = randomUniform('w', 7, [3, 5], 0.25, true);
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(c.data).toBeInstanceOf(Float64Array);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(c.data)).toEqual(Array.from(a.data));
  });
  it('different names or seeds give different streams', () => {
    const base = Array.from(randomUniform('w', 7, [64], 1).data);
    for (const other of [randomUniform('w2', 7, [64], 1), randomUniform('w', 8, [64], 1), randomUniform('W', 7, [64], 1)]) {
      const o = Array.from(other.data);
      expect(o.filter((v, i) => v === base[i]).length).toBeLessThan(2);
    }
  });
  it('element i does not depend on the shape', () => {
    const flat = randomUniform('w', 1, [12], 1).data;
    const grid = randomUniform('w', 1, [3, 4], 1).data;
    expect(Array.from(grid)).toEqual(Array.from(flat));
  });
  it('is uniform on [-scale, scale) with mean ~0 and variance ~scale^2/3', () => {
    const scale = 0.5;
    const { data } = randomUniform('stats', 123, [200_000], scale, true);
    let sum = 0;
    let sq = 0;
    let min = Infinity;
    let max = -Infinity;
    const buckets = new Array<number>(10).fill(0);
    for (const v of data) {
      sum += v;
      sq += v * v;
      min = Math.min(min, v);
      max = Math.max(max, v);
      buckets[Math.floor(((v / scale + 1) / 2) * 10)]++;
    }
    const n = data.length;
    expect(min).toBeGreaterThanOrEqual(-scale);
    expect(max).toBeLessThan(scale);
    expect(Math.abs(sum / n)).toBeLessThan(0.005);
    expect(sq / n).toBeCloseTo((scale * scale) / 3, 2);
    for (const b of buckets) expect(Math.abs(b - n / 10)).toBeLessThan(n / 100);
  });
  it('consecutive elements are not correlated', () => {
    const { data } = randomUniform('corr', 0, [100_000], 1, true);
    let c = 0;
    for (let i = 1; i < data.length; i++) c += data[i] * data[i - 1];
    expect(Math.abs(c / (data.length - 1))).toBeLessThan(0.01);
  });
  it('handles empty and scalar shapes', () => {
    expect(randomUniform('e', 0, [0, 4], 1).data.length).toBe(0);
    const s = randomUniform('s', 0, [], 2);
    expect(s.shape).toEqual([]);
    expect(s.data[0]).toBe(Math.fround(seededValue('s', 0, 0) * 2));
  });
});

describe('validation', () => {
  it.each([-1, 2 ** 32, 1.5, NaN, Infinity])('rejects seed %s with a RangeError', (seed) => {
    expect(() => randomUniform('x', seed, [2], 1)).toThrow(RangeError);
    expect(() => seededValue('x', seed, 0)).toThrow(/seed must be an integer/);
  });
  it('accepts the whole uint32 seed range', () => {
    expect(() => seededValue('x', 0xffffffff, 0)).not.toThrow();
  });
  it('rejects bad indices, shapes and scales', () => {
    expect(() => seededValue('x', 0, -1)).toThrow(RangeError);
    expect(() => seededValue('x', 0, 2 ** 32)).toThrow(RangeError);
    expect(() => randomUniform('x', 0, [2, -1], 1)).toThrow(RangeError);
    expect(() => randomUniform('x', 0, [2], NaN)).toThrow(RangeError);
  });
});

describe('initScale', () => {
  it('is 1 for inputs, f32(1/sqrt(fan_in)) for matrices, 0.5 for vectors', () => {
    expect(initScale('input', [4, 64])).toBe(1);
    expect(initScale('input', [])).toBe(1);
    expect(initScale('weight', [128, 64])).toBe(0.125);
    expect(initScale('weight', [8, 16, 384])).toBe(Math.fround(1 / Math.sqrt(384)));
    expect(initScale('weight', [64])).toBe(0.5);
    expect(initScale('weight', [])).toBe(0.5);
    expect(initScale('weight', [4, 0])).toBe(1);
  });
});

/** The lines of a documented reference implementation, with the ` * ` comment prefix removed. */
function docBlock(startMarker: string, endMarker: string, indent: string): string {
  const lines = SOURCE.split('\n');
  const start = lines.findIndex((l) => l.includes(startMarker));
  const end = lines.findIndex((l, i) => i > start && l.includes(endMarker));
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return lines
    .slice(start + 1, end)
    .filter((l) => l.startsWith(` * ${indent}`))
    .map((l) => l.slice(3 + indent.length))
    .join('\n');
}

const CASES: [string, number, number[], number][] = [
  ['x', 0, [4], 1],
  ['router', 42, [4], 1],
  ['layers.0.experts.w1', 0xffffffff, [3, 7], initScale('weight', [3, 7])],
  ['é✓', 12345, [50], 0.1],
];


describe('reference implementations in the file header agree', () => {
  it.skipIf(skipWithout('python3 numpy', 'the numpy transcription of the generator'))('numpy', () => {
    const lines = SOURCE.split('\n');
    const start = lines.findIndex((l) => l.trim() === '* ```python');
    const end = lines.findIndex((l, i) => i > start && l.trim() === '* ```');
    expect(start).toBeGreaterThanOrEqual(0);
    const body = lines
      .slice(start + 1, end)
      .map((l) => l.replace(/^ \* ?/, ''))
      .join('\n');
    const driver = CASES.map(
      ([n, s, shape, scale]) =>
        `print(" ".join(str(float(v)) for v in random_uniform(${JSON.stringify(n)}, ${s}, ${JSON.stringify(shape)}, ${scale}).ravel()))`,
    ).join('\n');
    const r = spawnSync('python3', ['-c', `${body}\n${driver}`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const got = r.stdout.trim().split('\n').map((l) => l.split(' ').map(Number));
    expect(got).toEqual(CASES.map(([n, s, shape, scale]) => Array.from(randomUniform(n, s, shape, scale).data)));
  });

  it.skipIf(skipWithout('cc', 'the C transcription of the generator'))('C', () => {
    const body = docBlock('Reference implementation in C', 'Reference implementation in numpy', '    ');
    const calls = CASES.map(
      ([n, s, shape, scale]) =>
        `{ uint32_t k = seeded_key(${JSON.stringify(n)}, ${s}u); float sc = ${scale.toPrecision(17)}f;
           for (uint32_t i = 0; i < ${shape.reduce((a, b) => a * b, 1)}u; i++) printf("%s%.9g", i ? " " : "", seeded_value(k, i) * sc);
           printf("\\n"); }`,
    ).join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'moec-rng-'));
    try {
      writeFileSync(join(dir, 'rng.c'), `#include <stdint.h>\n#include <stdio.h>\n${body}\nint main(void) {\n${calls}\nreturn 0; }\n`);
      const cc = spawnSync('cc', ['-std=c11', '-O2', '-o', join(dir, 'rng'), join(dir, 'rng.c')], { encoding: 'utf8' });
      expect(cc.stderr).toBe('');
      const r = spawnSync(join(dir, 'rng'), { encoding: 'utf8' });
      const got = r.stdout.trim().split('\n').map((l) => l.split(' ').map((v) => Math.fround(Number(v))));
      expect(got).toEqual(CASES.map(([n, s, shape, scale]) => Array.from(randomUniform(n, s, shape, scale).data)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
