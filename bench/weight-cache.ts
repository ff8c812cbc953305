/**
 * @fileoverview The benchmark's prepared weights, cached on disk so that a re-run starts
 * timing within seconds: the seeded f32 weights of each workload, and each runner's packed
 * blob (quantized or not, in its backend's layout). They live under `cacheDir('bench')/
 * weights` (`$MOEC_CACHE_DIR/bench/weights`, else `~/.cache/moec/bench/weights`), one file
 * per entry, named by the SHA-256 of everything that determines the bytes:
 *
 * - seeded weights: every weight's name, dtype and shape, the seed, and a fingerprint of the
 *   generator (its first values for a probe), so a change to ir/random.ts makes new files;
 * - a blob: the seeded weights' key, the backend and target, and the whole kernel program as
 *   `moec ir` prints it (its `pack` function, tiles and buffers decide the layout), plus a
 *   hash of the quantizer and layout sources, so an edit there never reads a stale blob.
 *
 * Files are written atomically (compiler/io/output.ts), so a run killed mid-write leaves
 * nothing half-written to read back. `--no-cache` (setWeightCache(false)) skips reading and
 * writing. Old entries are never removed: delete the directory to reclaim the space.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, makeCacheDir } from '../compiler/backends/c/build.ts';
import { randomWeights } from '../compiler/driver.ts';
import { writeOutputFile } from '../compiler/io/output.ts';
import type { Module } from '../ir/graph/graph.ts';
import type { KProgram } from '../ir/kernel/kernel.ts';
import { printKernelIR } from '../ir/kernel/kprint.ts';
import { randomUniform } from '../ir/random.ts';
import type { Tensor } from '../ir/tensor.ts';

let enabled = true;

/** `--no-cache`: prepare everything from scratch, reading and writing nothing. */
export function setWeightCache(on: boolean): void {
  enabled = on;
}

/** What was read back from the cache and what was made, for the run's report. */
export const cacheStats = { hits: 0, misses: 0, bytesRead: 0 };

const sha256 = (parts: readonly string[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
};

/** The sources whose edits change a blob's bytes without changing the printed program. */
const LAYOUT_SOURCES = ['ir/quant.ts', 'compiler/backends/weights.ts', 'compiler/backends/quant-rows.ts', 'compiler/backends/c/layout.ts', 'compiler/backends/wasm/layout.ts', 'compiler/backends/wgsl/plan.ts'];
let layoutHash: string | undefined;
const layoutSources = (): string => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  return (layoutHash ??= sha256(LAYOUT_SOURCES.map((f) => (existsSync(join(root, f)) ? readFileSync(join(root, f), 'utf8') : `(no ${f})`))));
};

function entryPath(key: string, ext: string): string {
  const dir = join(cacheDir('bench'), 'weights');
  makeCacheDir(dir);
  return join(dir, `${key}.${ext}`);
}

/** The file's bytes when it exists with exactly `bytes` of them (any other size is not ours). */
function readEntry(path: string, bytes?: number): Uint8Array | undefined {
  if (!existsSync(path)) return undefined;
  const data = readFileSync(path);
  if (bytes !== undefined && data.byteLength !== bytes) return undefined;
  cacheStats.hits++;
  cacheStats.bytesRead += data.byteLength;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Seeded f32 weights (`randomWeights(module, seed)`) with the key that names their content. */
export interface SeededWeights {
  weights: Record<string, Tensor>;
  key: string;
}

/** `randomWeights(module, seed)`, read from the cache when it holds them. */
export function seededWeights(module: Module, seed: number): SeededWeights {
  const probe = Array.from(randomUniform('cache-probe', seed, [8], 1).data).join(',');
  const made = (): Record<string, Tensor> => randomWeights(module, seed);
  if (!enabled) return { weights: made(), key: '' };
  // Shapes as randomWeights makes them: declarations' sizes are constants in a workload's module.
  const shapes = module.weights.map((w) => ({ name: w.name, dtype: w.type.dtype, shape: w.type.shape.map(String) }));
  const key = sha256(['seeded-weights v1', JSON.stringify(shapes), String(seed), probe]);
  const path = entryPath(key, 'f32');
  const numel = (t: { shape: readonly unknown[] }): number => t.shape.reduce<number>((a, d) => a * Number(d), 1);
  const total = shapes.reduce((a, s) => a + 4 * numel(s), 0);
  const bytes = readEntry(path, total);
  if (bytes) {
    const weights: Record<string, Tensor> = {};
    // views into the file's bytes (copied once only if a Buffer's offset is not a multiple of 4)
    const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
    const all = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
    let at = 0;
    for (const s of shapes) {
      const n = numel(s);
      weights[s.name] = { dtype: 'f32', shape: s.shape.map(Number), data: all.subarray(at, at + n) };
      at += n;
    }
    return { weights, key };
  }
  cacheStats.misses++;
  const weights = made();
  writeOutputFile(path, shapes.map((s) => new Uint8Array(weights[s.name].data.buffer, weights[s.name].data.byteOffset, weights[s.name].data.byteLength)));
  return { weights, key };
}

/**
 * A runner's packed weights blob, read from the cache when it holds the one for these
 * weights, backend, target and program; otherwise `make()`, then stored.
 */
export function cachedBlob(weightsKey: string, what: string, program: KProgram, make: () => Uint8Array): Uint8Array {
  if (!enabled || weightsKey === '') return make();
  const key = sha256(['blob v1', weightsKey, what, layoutSources(), printKernelIR(program)]);
  const path = entryPath(key, 'bin');
  const hit = readEntry(path);
  if (hit) return hit;
  cacheStats.misses++;
  const blob = make();
  writeOutputFile(path, [blob]);
  return blob;
}
