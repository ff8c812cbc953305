/**
 * Relaxed SIMD: the wasm backend probes the engine at load time and builds the GEMM
 * micro-kernels with `f32x4.relaxed_madd` where it validates, else the SIMD128 module. Node 20
 * offers relaxed SIMD only behind `--experimental-wasm-relaxed-simd`, so each path runs in a
 * child `node`, with and without the flag, on every example against the kernel interpreter
 * (the tolerance of wasm.test.ts: relaxed_madd may fuse, which rounds once where SIMD128
 * rounds twice, well inside it). `moec compile` writes both builds; the loader names the one
 * this engine runs.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitWasm, loadCaps } from '../../compiler/backends/wasm/index.ts';
import { engineHasRelaxedSimd } from '../../compiler/backends/wasm/features.ts';
import { wasmModuleFile } from '../../compiler/backends/wasm/loader.ts';
import { compileFile, compileModel } from '../../compiler/driver.ts';

const TOLERANCE = 2e-6;
const TSX = join(process.cwd(), 'node_modules', 'tsx', 'dist', 'loader.mjs');
const CHILD = join(process.cwd(), 'test', 'backends', 'wasm-engine-child.ts');

function child(flags: string[]): { relaxed: boolean[]; maxRel: number; mismatches: number } {
  const out = execFileSync(process.execPath, [...flags, '--import', TSX, CHILD], { encoding: 'utf8', timeout: 240_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('relaxed SIMD, detected at load time', () => {
  it('without the engine flag: what this Node offers by default (Node 20: SIMD128), matching the interpreter', () => {
    const r = child([]);
    // This process runs without the flag too: the child probes what it probes.
    expect(r.relaxed.every((x) => x === engineHasRelaxedSimd())).toBe(true);
    expect(r.mismatches).toBe(0);
    expect(r.maxRel).toBeLessThanOrEqual(TOLERANCE);
  }, 300_000);

  it('with --experimental-wasm-relaxed-simd: relaxed_madd modules, matching the interpreter', () => {
    const r = child(['--experimental-wasm-relaxed-simd']);
    expect(r.relaxed.length).toBeGreaterThan(0);
    expect(r.relaxed.every((x) => x), 'every model built with f32x4.relaxed_madd').toBe(true);
    expect(r.mismatches).toBe(0);
    expect(r.maxRel).toBeLessThanOrEqual(TOLERANCE);
  }, 300_000);

  it('compile writes model.relaxed.wasm beside the SIMD128 model.wasm; the manifest names it and the loader picks by engine', () => {
    const m = compileFile('examples/tiny.moe');
    const { program, target } = compileModel(m, { target: 'wasm-simd128', maxTokens: 16 });
    const files = emitWasm(program, target);
    const manifest = JSON.parse(files['model.json'] as string);
    expect(manifest.relaxedSimdModule).toBe('model.relaxed.wasm');
    expect(manifest.relaxedSimd).toBeUndefined();
    expect(files['model.wat']).not.toContain('relaxed_madd');
    expect(WebAssembly.validate(files['model.wasm'] as Uint8Array<ArrayBuffer>)).toBe(true);
    // The relaxed build compiles exactly where the probe says so, and the loader names it there.
    expect(WebAssembly.validate(files['model.relaxed.wasm'] as Uint8Array<ArrayBuffer>)).toBe(engineHasRelaxedSimd());
    expect(wasmModuleFile(manifest)).toBe(engineHasRelaxedSimd() ? 'model.relaxed.wasm' : 'model.wasm');
  });

  it('the scalar target has no relaxed build, and asking for relaxed SIMD on an engine without it is E505', () => {
    const m = compileFile('examples/tiny.moe');
    const scalar = compileModel(m, { target: 'wasm-scalar', maxTokens: 16 });
    expect(Object.keys(emitWasm(scalar.program, scalar.target)).sort()).toEqual(['model.json', 'model.wasm', 'model.wat']);
    const simd = compileModel(m, { target: 'wasm-simd128', maxTokens: 16 });
    if (!engineHasRelaxedSimd()) expect(() => loadCaps(simd.target, { relaxedSimd: 'on' })).toThrow(/E505: this WebAssembly engine does not offer relaxed SIMD/);
    expect(loadCaps(simd.target, { relaxedSimd: 'off' })).toBe(simd.target);
  });
});
