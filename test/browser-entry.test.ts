/**
 * The browser entry (`moec/browser`) without a browser: its bundle (no Node built-ins, the
 * size budget), the shipped sheets it carries as data, and the session API, which runs in
 * Node on the Wasm provider (WebAssembly is the same engine) and must fail on WebGPU with
 * a browser's words when there is no `navigator.gpu`. test/browser.test.ts runs it in
 * Chromium.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InferenceSession, browserBackend, browserTarget, compile, interpret, randomInputs, randomWeights, agreement } from '../compiler/browser.ts';
import { compileFile, compileModel, runOnBackend } from '../compiler/driver.ts';
import type { WasmManifest } from '../compiler/backends/wasm/manifest.ts';
import { SHIPPED_SHEETS } from '../compiler/target/sheets.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { MoecError } from '../ir/diagnostics.ts';
// @ts-expect-error: a plain ES module script, no declarations
import { sheetsModule } from '../scripts/gen-target-sheets.mjs';
// @ts-expect-error: a plain ES module script, no declarations
import { BUDGET_BYTES, bundleBrowser, formatSizeReport } from '../scripts/bundle-browser.mjs';
// @ts-expect-error: a plain ES module script, no declarations
import { serveDemo } from '../scripts/serve-demo.mjs';

const TINY = readFileSync('examples/tiny.moe', 'utf8');

describe('the browser bundle', () => {
  it('builds with no node: import but binaryen\'s guarded one, within its size budget (and says what the bytes are)', async () => {
    const report = await bundleBrowser(mkdtempSync(join(tmpdir(), 'moec-bundle-')));
    console.log(formatSizeReport(report));
    expect(report.nodeImportsAllowed).toEqual([{ importer: 'node_modules/binaryen/index.js', path: 'node:module', kind: 'dynamic-import' }]);
    expect(Object.keys(report.files)).toEqual(expect.arrayContaining(['moec.js', 'moec-worker.js']));
    expect(report.totalBytes).toBeLessThanOrEqual(report.budgetBytes);
    // binaryen dominates; moec's own code stays small
    expect(Object.keys(report.byPackage)[0]).toBe('binaryen');
    expect(report.byPackage.moec).toBeLessThan(1e6);
    // binaryen loads with the first Wasm build, not with the page (nor with a worker's first message)
    expect(report.entryBytes['moec.js']).toBeLessThan(1e6);
    expect(report.entryBytes['moec-worker.js']).toBeLessThan(0.1e6);
  }, 60_000);

  it('is built by `npm run build` (so by `npm ci`, in CI too), from the one budget the README states (was: only by `npm run demo`)', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.build.split('&&').map((c) => c.trim())).toContain('node scripts/bundle-browser.mjs');
    expect(readFileSync('README.md', 'utf8')).toContain(`its ${(BUDGET_BYTES / 1e6).toFixed(1)} MB budget (\`BUDGET_BYTES\``);
  });

  it('carries every shipped sheet as data, as targets/*.yaml has it (scripts/gen-target-sheets.mjs)', () => {
    expect(readFileSync('compiler/target/sheets.ts', 'utf8')).toBe(sheetsModule());
    expect(Object.keys(SHIPPED_SHEETS).sort()).toEqual(readdirSync('targets').filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)).sort());
    for (const name of Object.keys(SHIPPED_SHEETS)) expect(browserTarget(name)).toEqual({ ...loadTarget(name) });
  });
});

describe('browser targets', () => {
  it('takes a shipped name, a sheet as YAML text, or caps; an unknown name is E604 with the list', () => {
    expect(browserTarget('webgpu').backend).toBe('wgsl');
    expect(browserTarget(SHIPPED_SHEETS['wasm-scalar']).name).toBe('wasm-scalar');
    expect(() => browserTarget('wasm-simd')).toThrow(MoecError);
    expect(() => browserTarget('wasm-simd')).toThrow(/E604: unknown target `wasm-simd`/);
    try {
      browserTarget('wasm-simd');
    } catch (e) {
      expect((e as MoecError).diagnostics[0].hint).toContain('wasm-simd128');
    }
  });
});

describe('InferenceSession (Wasm, here in Node)', () => {
  const m = compile(TINY);
  const T = 7;
  const seed = 3;
  const x = randomInputs(m, { T }, seed).x;

  it('compiles a .moe text and runs it: outputs by name with dims, exactly as moec run --backend wasm', async () => {
    const s = await InferenceSession.create({ moe: TINY, seed }, { executionProvider: 'wasm' });
    expect(s.inputNames).toEqual(['x']);
    expect(s.outputNames).toEqual(['y']);
    expect(s.maxTokens).toBe(64);
    const out = await s.run({ x: x.data as Float32Array });
    expect(out.y.dims).toEqual([T, 8]);
    expect(out.y.type).toBe('float32');
    const node = await runOnBackend(compileFile('examples/tiny.moe'), { backend: 'wasm', tokens: T, seed });
    expect(out.y.data).toEqual(node.outputs.y.data);
    const ref = interpret(m, { bindings: { T }, inputs: { x }, weights: randomWeights(m, seed) });
    expect(agreement({ dtype: 'f32', shape: out.y.dims, data: out.y.data }, ref.y).relL2).toBeLessThan(1e-6);
    expect(s.lastRunMs).toBeGreaterThanOrEqual(0);
    await s.release();
    await expect(s.run({ x: x.data as Float32Array })).rejects.toThrow('released');
  });

  it('runs the files moec compile wrote (model.wasm, model.json, packed weights) the same', async () => {
    const fm = compileFile('examples/tiny.moe');
    const { program, target } = compileModel(fm, { target: 'wasm-simd128' });
    const wasm = await browserBackend('wasm');
    const files = wasm.emit(program, target);
    const { blob } = wasm.packWeights!(program, target, randomWeights(fm, seed));
    const s = await InferenceSession.create({ wasm: files['model.wasm'] as Uint8Array<ArrayBuffer>, manifest: JSON.parse(files['model.json'] as string) as WasmManifest, weights: blob });
    const fromText = await InferenceSession.create({ moe: TINY, seed });
    expect((await s.run({ x: { data: x.data as Float32Array, dims: [T, 8] } })).y.data).toEqual((await fromText.run({ x: x.data as Float32Array })).y.data);
  });

  it('reads T from the feeds and says what is wrong with a feed', async () => {
    const s = await InferenceSession.create({ moe: TINY });
    expect((await s.run({ x: new Float32Array(3 * 8) })).y.dims).toEqual([3, 8]);
    await expect(s.run({ x: new Float32Array(12) })).rejects.toThrow("feed 'x' has 12 values, which is no whole number of tokens (8 values per token)");
    await expect(s.run({ x: new Float32Array(65 * 8) })).rejects.toThrow('T = 65: this session runs 1 to 64 tokens');
    await expect(s.run({ x: { data: new Float32Array(16), dims: [8, 2] } })).rejects.toThrow("feed 'x' says dims [8, 2]; at T = 2 it is [2, 8]");
    await expect(s.run({ y: new Float32Array(8) } as never)).rejects.toThrow("unknown feed 'y' (inputs: x)");
    await expect(s.run({})).rejects.toThrow("missing feed 'x'");
  });

  it('a bad model is a MoecError with file:line:col, and a target of the other backend is E505', async () => {
    const bad = await InferenceSession.create({ moe: `${TINY}\n@`, path: 'tiny.moe' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(bad).toBeInstanceOf(MoecError);
    expect((bad as MoecError).format()).toMatch(/tiny\.moe:\d+:\d+/);
    await expect(InferenceSession.create({ moe: TINY, target: 'webgpu' }, { executionProvider: 'wasm' })).rejects.toThrow(/E505: target webgpu is for the wgsl backend, not wasm/);
  });

  it('WebGPU with no navigator.gpu says how to get WebGPU in a browser or use Wasm, not how to install Node packages', async () => {
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
    const err = await InferenceSession.create({ moe: TINY }, { executionProvider: 'webgpu' }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/this browser has no WebGPU.*enable it.*Wasm backend/);
    expect(err?.message).not.toMatch(/\bapt(-get)?\b|libegl|webgpu package|Node/);
  });
});

describe('the demo server (npm run demo)', () => {
  it('serves the page, the examples and the bundle on 127.0.0.1, and nothing else of the package', async () => {
    const { url, close } = (await serveDemo(0)) as { url: string; close: () => Promise<void> };
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/examples\/web\/$/);
      const origin = new URL(url).origin;
      const get = (path: string, init?: RequestInit) => fetch(`${origin}${path}`, { redirect: 'manual', ...init });
      expect((await get('/')).headers.get('location')).toBe('/examples/web/');
      const page = await get('/examples/web/');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(page.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      expect(await (await get('/examples/list.json')).json()).toEqual(readdirSync('examples').filter((f) => f.endsWith('.moe')).sort());
      expect(await (await get('/examples/tiny.moe')).text()).toBe(TINY);
      for (const outside of ['/package.json', '/examples/%2e%2e/package.json', '/examples/..%2fpackage.json', '/dist/compiler/index.js', '/test/browser.test.ts', '/examples/nope.moe'])
        expect((await get(outside)).status, outside).toBe(404);
      expect((await get('/examples/tiny.moe', { method: 'POST' })).status).toBe(405);
    } finally {
      await close();
    }
  });
});
