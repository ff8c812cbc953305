/**
 * Wasm threads from the command line (issue 18; they were reachable only through the API):
 * `moec run --backend wasm --threads N` runs the threaded build on N threads, its output the
 * one-thread output bit for bit, and `moec compile --threads N -o DIR` writes the threaded
 * build beside model.wasm (model.threads.wasm and its manifest, named in model.json), which
 * the loader runs on the same weights.bin with the same output. --threads on another
 * backend or target, or outside 1..64, is a usage error.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../ir/safetensors.ts';
import { loadWasmModel } from '../compiler/backends/wasm/loader.ts';
import type { WasmManifest } from '../compiler/backends/wasm/manifest.ts';
import { compileFile, randomInputs, bindDims } from '../compiler/driver.ts';
import { cli } from './capture.ts';

describe('moec run --threads', () => {
  it('runs the wasm backend on N threads, with the one-thread output bit for bit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-threads-'));
    const outputs: Buffer[] = [];
    for (const n of ['1', '3']) {
      const out = join(dir, `y${n}.safetensors`);
      const r = await cli('run', 'examples/mixtral.moe', '--set', 'D=64,F=96', '--backend', 'wasm', '--threads', n, '--tokens', '9', '--out', out);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(n === '1' ? 'backend=wasm  ' : 'backend=wasm (3 threads)');
      const y = readSafetensors(out).get('y');
      outputs.push(Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
    }
    expect(outputs[1].equals(outputs[0])).toBe(true);
  });

  it('is a usage error on another backend and outside 1..64, and moec run --help lists it', async () => {
    const c = await cli('run', 'examples/tiny.moe', '--backend', 'c', '--threads', '2');
    expect(c.code).toBe(2);
    expect(c.err).toContain("--threads 2 runs the wasm backend's threaded build");
    expect(c.err).toContain('pass --backend wasm');
    for (const bad of ['0', '65', '2.5']) {
      const r = await cli('run', 'examples/tiny.moe', '--backend', 'wasm', '--threads', bad);
      expect(r.code).toBe(2);
      expect(r.err).toContain('--threads must be a whole number from 1 to 64');
    }
    expect((await cli('run', '--help')).out).toContain('--threads N');
  });

  it('moec compile --threads N -o DIR writes the threaded build beside model.wasm, run by the loader on the same weights.bin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-threads-compile-'));
    const r = await cli('compile', 'examples/mixtral.moe', '--set', 'D=64,F=96', '--target', 'wasm-simd128', '--max-tokens', '16', '--threads', '3', '--seed', '5', '-o', dir);
    expect(r.code, r.err).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as WasmManifest;
    expect(manifest.threadedModule).toEqual({ module: 'model.threads.wasm', manifest: 'model.threads.json', max: 3 });
    expect(manifest.threads).toBeUndefined();
    const threadedManifest = JSON.parse(readFileSync(join(dir, 'model.threads.json'), 'utf8')) as WasmManifest;
    expect(threadedManifest.threads?.max).toBe(3);
    const weights = new Uint8Array(readFileSync(join(dir, 'weights.bin')));
    const m = compileFile('examples/mixtral.moe', { consts: { D: 64, F: 96 } });
    const x = randomInputs(m, bindDims(m, { tokens: 7 }), 1).x.data as Float32Array;
    const one = await loadWasmModel(readFileSync(join(dir, 'model.wasm')), manifest, weights);
    const three = await loadWasmModel(readFileSync(join(dir, 'model.threads.wasm')), threadedManifest, weights, { threads: 3 });
    try {
      expect(three.threads).toBe(3);
      const [a, b] = [one.forward(x, 7), three.forward(x, 7)];
      expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength))).toBe(true);
    } finally {
      one.dispose();
      three.dispose();
    }
    // without --threads, no threaded build
    const plain = mkdtempSync(join(tmpdir(), 'moec-threads-compile-'));
    expect((await cli('compile', 'examples/tiny.moe', '--target', 'wasm-simd128', '-o', plain)).code).toBe(0);
    expect(existsSync(join(plain, 'model.threads.wasm'))).toBe(false);
    // another target, or no -o
    const c = await cli('compile', 'examples/tiny.moe', '--target', 'x86-avx2', '--threads', '2', '-o', mkdtempSync(join(tmpdir(), 'moec-threads-compile-')));
    expect(c.code).toBe(2);
    expect(c.err).toContain('--threads 2 writes a threaded Wasm build; target x86-avx2 is for the c backend');
    const noOut = await cli('compile', 'examples/tiny.moe', '--target', 'wasm-simd128', '--threads', '2');
    expect(noOut.code).toBe(2);
    expect(noOut.err).toContain('give -o DIR');
  });
});
