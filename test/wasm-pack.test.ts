/**
 * The Wasm backend's packed weights: `moec pack --target wasm-*`, `compile -o DIR --seed S`
 * (DIR/weights.bin) and the API's `packWeights` write the blob the Wasm loader reads, so
 * the files a page fetches (model.wasm, model.json, weights.bin) all come from commands, and
 * running them gives exactly what `moec run --backend wasm` gives.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadWasmModel } from '../compiler/backends/wasm/loader.ts';
import type { WasmManifest } from '../compiler/backends/wasm/manifest.ts';
import { getBackend } from '../compiler/backends/registry.ts';
import { compileFile, compileModel, randomInputs, randomWeights, runOnBackend } from '../compiler/driver.ts';
import { cli } from './capture.ts';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'moec-wasm-pack-'));

/** Runs the files of an output directory through the page's loader. */
async function runDir(dir: string, weights: string, x: Float32Array, T: number): Promise<Float32Array> {
  const manifest = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as WasmManifest;
  const model = await loadWasmModel(readFileSync(join(dir, 'model.wasm')), manifest, new Uint8Array(readFileSync(weights)));
  return model.forward(x, T);
}

describe('packed weights for the Wasm backend', () => {
  it('moec pack --target wasm-simd128 writes the blob the loader reads (it said "no packed weight layout" before)', async () => {
    const dir = tmp();
    const packed = await cli('pack', 'examples/tiny.moe', '--target', 'wasm-simd128', '--seed', '3', '-o', join(dir, 'w.bin'));
    expect(packed.code, packed.err).toBe(0);
    expect(packed.out).toMatch(/wrote .*w\.bin \(\d+ bytes, 3 tensors for wasm-simd128\)/);
    const compiled = await cli('compile', 'examples/tiny.moe', '--target', 'wasm-simd128', '-o', join(dir, 'out'));
    expect(compiled.code, compiled.err).toBe(0);
    const m = compileFile('examples/tiny.moe');
    const T = 7;
    const x = randomInputs(m, { T }, 3).x;
    const want = await runOnBackend(m, { backend: 'wasm', tokens: T, seed: 3 });
    expect(await runDir(join(dir, 'out'), join(dir, 'w.bin'), x.data as Float32Array, T)).toEqual(want.outputs.y.data);
    const meta = JSON.parse(readFileSync(join(dir, 'w.bin.json'), 'utf8'));
    expect(meta).toMatchObject({ model: 'tiny', target: 'wasm-simd128', weights: 'seeded (seed 3)' });
  });

  it('compile -o DIR --seed S writes DIR/weights.bin beside model.wasm and model.json, the same blob as pack', async () => {
    const dir = tmp();
    const r = await cli('compile', 'examples/switch.moe', '--target', 'wasm-scalar', '--set', 'D=32,F=48,E=8', '--seed', '5', '-o', join(dir, 'out'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('out/weights.bin');
    const p = await cli('pack', 'examples/switch.moe', '--target', 'wasm-scalar', '--set', 'D=32,F=48,E=8', '--seed', '5', '-o', join(dir, 'w.bin'));
    expect(p.code, p.err).toBe(0);
    expect(readFileSync(join(dir, 'out', 'weights.bin'))).toEqual(readFileSync(join(dir, 'w.bin')));
    const m = compileFile('examples/switch.moe', { consts: { D: 32, F: 48, E: 8 } });
    const T = 5;
    const want = await runOnBackend(m, { backend: 'wasm', target: 'wasm-scalar', tokens: T, seed: 5 });
    expect(await runDir(join(dir, 'out'), join(dir, 'out', 'weights.bin'), randomInputs(m, { T }, 5).x.data as Float32Array, T)).toEqual(want.outputs.y.data);
  });

  it('quantized weights (i8) pack as codes and scales the loader places and the kernels read', async () => {
    const dir = tmp();
    const r = await cli('compile', 'examples/tiny.moe', '--target', 'wasm-simd128', '--quantize', 'i8', '--seed', '1', '-o', join(dir, 'out'));
    expect(r.code, r.err).toBe(0);
    const m = compileFile('examples/tiny.moe');
    const want = await runOnBackend(m, { backend: 'wasm', tokens: 4, seed: 1, quantize: 'i8' });
    expect(await runDir(join(dir, 'out'), join(dir, 'out', 'weights.bin'), randomInputs(m, { T: 4 }, 1).x.data as Float32Array, 4)).toEqual(want.outputs.y.data);
  });

  it("the API's packWeights works for wasm: the blob and a manifest of every entry", async () => {
    const m = compileFile('examples/tiny.moe');
    const { program, target } = compileModel(m, { target: 'wasm-simd128' });
    const wasm = await getBackend('wasm');
    const { blob, manifest } = wasm.packWeights!(program, target, randomWeights(m, 0));
    const loaderManifest = JSON.parse(wasm.emit(program, target)['model.json'] as string) as WasmManifest;
    expect(blob.byteLength).toBe(loaderManifest.weights.bytes);
    expect(manifest.tensors.map((t) => [t.name, t.offset, t.bytes])).toEqual(loaderManifest.weights.entries.map((e) => [e.name, e.offset, e.bytes]));
  });

  it('compile --seed or --weights without -o DIR is a usage error (exit 2), and other commands still refuse them', async () => {
    const r = await cli('compile', 'examples/tiny.moe', '--target', 'wasm-simd128', '--seed', '1');
    expect(r.code).toBe(2);
    expect(r.err).toContain('give -o DIR');
    const e = await cli('compile', 'examples/tiny.moe', '--target', 'wasm-simd128', '--seed', '1', '--emit', 'kernel-ir', '-o', join(tmp(), 'k'));
    expect(e.code).toBe(2);
    const c = await cli('check', 'examples/tiny.moe', '--seed', '1');
    expect(c.code).toBe(2);
    expect(c.err).toContain('not `moec check`');
  });
});
