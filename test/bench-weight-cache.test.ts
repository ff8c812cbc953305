/**
 * The benchmark's cache of prepared weights (bench/weight-cache.ts): a re-run reads the
 * seeded weights and each runner's packed blob back instead of making them again (was: minutes
 * of seeding, quantizing and packing before the first timing, on every run), keyed by what
 * determines their bytes; `--no-cache` reads and writes nothing.
 */
import { mkdtempSync, readdirSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheStats, cachedBlob, seededWeights, setWeightCache } from '../bench/weight-cache.ts';
import { compileFile, quantScheme, randomWeights } from '../compiler/driver.ts';
import { getBackend } from '../compiler/backends/registry.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';

let saved: string | undefined;
let dir: string;
beforeAll(() => {
  saved = process.env.MOEC_CACHE_DIR;
  dir = mkdtempSync(join(tmpdir(), 'moec-bench-cache-'));
  process.env.MOEC_CACHE_DIR = dir;
});
afterAll(() => {
  if (saved === undefined) delete process.env.MOEC_CACHE_DIR;
  else process.env.MOEC_CACHE_DIR = saved;
  setWeightCache(true);
});

const files = (): string[] => readdirSync(join(dir, 'bench', 'weights')).sort();

describe('the benchmark\'s prepared-weight cache', () => {
  const module = compileFile('examples/mixtral.moe', { consts: { D: 32, F: 48 } });

  it('seeded weights: made and stored once, then read back equal; another seed is another entry', () => {
    const hits = cacheStats.hits;
    const first = seededWeights(module, 0);
    expect(files()).toEqual([`${first.key}.f32`]);
    const again = seededWeights(module, 0);
    expect(cacheStats.hits).toBe(hits + 1);
    expect(again.key).toBe(first.key);
    const want = randomWeights(module, 0);
    for (const [name, t] of Object.entries(want)) {
      expect(again.weights[name].shape).toEqual(t.shape);
      expect(Buffer.from(again.weights[name].data.buffer, again.weights[name].data.byteOffset, t.data.length * 4).equals(Buffer.from(t.data.buffer))).toBe(true);
    }
    expect(seededWeights(module, 1).key).not.toBe(first.key);
    // other shapes are other content
    expect(seededWeights(compileFile('examples/mixtral.moe', { consts: { D: 32, F: 64 } }), 0).key).not.toBe(first.key);
  });

  it('a cut-short entry is not trusted: made again', () => {
    const { key } = seededWeights(module, 5);
    truncateSync(join(dir, 'bench', 'weights', `${key}.f32`), 100);
    const misses = cacheStats.misses;
    const back = seededWeights(module, 5);
    expect(cacheStats.misses).toBe(misses + 1);
    expect(Array.from(back.weights.w1.data.slice(0, 4))).toEqual(Array.from(randomWeights(module, 5).w1.data.slice(0, 4)));
  });

  it('packed blobs: made once per weights, backend and program, then read back without packing', async () => {
    const target = loadTarget('x86-avx2');
    const backend = await getBackend('c');
    const { weights, key } = seededWeights(module, 0);
    const program = (q?: string) => runPipeline(module, { target, quantize: q ? quantScheme(q) : undefined, maxTokens: 8 }).program!;
    let made = 0;
    const make = (p: ReturnType<typeof program>) => () => (made++, backend.packWeights!(p, target, weights).blob);
    const i8 = program('i8');
    const a = cachedBlob(key, 'c x86-avx2', i8, make(i8));
    const b = cachedBlob(key, 'c x86-avx2', i8, make(i8));
    expect(made).toBe(1);
    expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
    // another program (i4), another target, other weights: each its own entry
    const i4 = program('i4');
    cachedBlob(key, 'c x86-avx2', i4, make(i4));
    cachedBlob(key, 'c x86-avx512', i8, make(i8));
    cachedBlob(seededWeights(module, 1).key, 'c x86-avx2', i8, make(i8));
    expect(made).toBe(4);
  });

  it('--no-cache: everything is made, nothing is read or written', () => {
    setWeightCache(false);
    const before = files();
    let made = 0;
    const { weights, key } = seededWeights(module, 9);
    expect(key).toBe('');
    expect(weights.w1.data.length).toBe(8 * 48 * 32);
    const program = runPipeline(module, { target: loadTarget('x86-avx2'), maxTokens: 8 }).program!;
    cachedBlob('whatever', 'c', program, () => (made++, new Uint8Array(4)));
    cachedBlob('whatever', 'c', program, () => (made++, new Uint8Array(4)));
    expect(made).toBe(2);
    expect(files()).toEqual(before);
    setWeightCache(true);
  });
});
