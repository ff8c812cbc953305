/**
 * The demo page in a real browser: Debian's chromium, headless, driven by puppeteer-core
 * (the system binary; nothing is downloaded), with WebGPU on (`--enable-unsafe-webgpu`: on
 * a machine without a GPU Chromium's SwiftShader adapter runs it on the CPU). The page
 * compiles the model itself, from the browser bundle, and runs it on Wasm and on WebGPU; its
 * outputs are held to the Node run of the same model, seed and inputs:
 * - Wasm: bit-identical to `moec run --backend wasm` (the same module, the same V8: relaxed
 *   SIMD on both sides when Chromium offers it, Node 20 behind its flag);
 * - Wasm threads: a worker session with `threads: 2` on the cross-origin isolated demo server
 *   runs Web Workers over shared memory, bit-identical to one thread;
 * - WebGPU: relL2 <= 1e-6 and max |diff| <= 1e-6 · max |want| against the reference
 *   interpreter (float32 sums in another order; measured on SwiftShader: relL2 2e-7 for
 *   tiny.moe, 2e-8 for switch.moe).
 * It also checks what a page user sees when things go wrong: a model's error from the worker
 * with file:line:col, and, in a Chromium without WebGPU, an error about the browser.
 * The screenshot of the finished page is kept in test/artifacts/browser-demo.png (git-ignored).
 * Without chromium it skips outside CI (test/optional-packages.ts); under CI it must run.
 */
import { mkdirSync } from 'node:fs';
import v8 from 'node:v8';
import { RELAXED_MADD_PROBE, engineHasRelaxedSimd } from '../compiler/backends/wasm/features.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile, interpret, randomInputs, randomWeights, runOnBackend } from '../compiler/index.ts';
import { agreement } from '../compiler/compare.ts';
import type { Tensor } from '../ir/tensor.ts';
import { skipWithout } from './optional-packages.ts';
// @ts-expect-error: a plain ES module script, no declarations
import { bundleBrowser, formatSizeReport } from '../scripts/bundle-browser.mjs';
// @ts-expect-error: a plain ES module script, no declarations
import { serveDemo } from '../scripts/serve-demo.mjs';

const CHROMIUM = '/usr/bin/chromium';
const SHOT = 'test/artifacts/browser-demo.png';

interface ProviderResult {
  ok: boolean;
  error?: string;
  description?: string;
  msPerForward?: number;
  forwardMs?: number;
  outputs?: Record<string, { dims: number[]; data: number[] }>;
}
interface DemoState {
  status: string;
  error?: string;
  results: Record<string, ProviderResult>;
}

const skip = skipWithout('chromium', 'the browser test (the demo page in headless Chromium)');

describe.skipIf(skip)('the demo page in Chromium', () => {
  type Browser = Awaited<ReturnType<(typeof import('puppeteer-core'))['default']['launch']>>;
  let browser: Browser;
  let server: { url: string; close: () => Promise<void> };

  beforeAll(async () => {
    console.log(formatSizeReport(await bundleBrowser()));
    server = await serveDemo(0);
    const puppeteer = (await import('puppeteer-core')).default;
    // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--enable-unsafe-webgpu', '--no-sandbox'] });
    // The page builds relaxed SIMD kernels where its V8 offers them (Chromium 114+); Node 20
    // offers them behind a flag. The same module on both sides keeps the Wasm outputs comparable
    // bit for bit.
    const probe = await browser.newPage();
    const pageRelaxed = (await probe.evaluate(`WebAssembly.validate(new Uint8Array(${JSON.stringify(Array.from(RELAXED_MADD_PROBE))}))`)) as boolean;
    await probe.close();
    if (pageRelaxed) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    expect(engineHasRelaxedSimd(), 'this Node builds the module the page builds').toBe(pageRelaxed);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Opens the demo with a preset form, lets it run, and returns its results (and the page, for a screenshot). */
  async function demo(query: string, on = browser): Promise<{ state: DemoState; page: Awaited<ReturnType<Browser['newPage']>> }> {
    const page = await on.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}?${query}&run=1`);
    await page.waitForFunction(() => ['done', 'error'].includes((window as unknown as { moecDemo?: DemoState }).moecDemo?.status ?? ''), { timeout: 40_000 });
    const state = await page.evaluate(() => (window as unknown as { moecDemo: DemoState }).moecDemo);
    expect(errors).toEqual([]);
    expect(state.error).toBeUndefined();
    expect(state.status).toBe('done');
    return { state, page };
  }

  /** Checks both providers against the Node runs of the same model, seed and T. */
  async function expectNodeAgreement(state: DemoState, file: string, consts: Record<string, number>, T: number, seed: number): Promise<void> {
    const m = compileFile(file, { consts });
    const wasm = await runOnBackend(m, { backend: 'wasm', tokens: T, seed });
    const inputs = randomInputs(m, { T }, seed);
    const ref = interpret(m, { bindings: { T }, inputs, weights: randomWeights(m, seed) });
    for (const provider of ['wasm', 'webgpu']) {
      const r = state.results[provider];
      expect(r.ok, `${provider}: ${r.error}`).toBe(true);
      console.log(`${file} T=${T} in Chromium, ${r.description}: ${r.msPerForward!.toFixed(3)} ms per forward (forward alone ${r.forwardMs!.toFixed(3)} ms)`);
      for (const [name, want] of Object.entries(ref)) {
        const got = r.outputs![name];
        expect(got.dims).toEqual(want.shape);
        const t: Tensor = { dtype: 'f32', shape: got.dims, data: Float32Array.from(got.data) };
        if (provider === 'wasm') expect(t.data).toEqual(wasm.outputs[name].data);
        const a = agreement(t, want);
        console.log(`  ${provider} ${name} vs the interpreter: relL2 ${a.relL2.toExponential(2)}, max rel ${a.maxRel.toExponential(2)}`);
        expect(a.relL2).toBeLessThanOrEqual(1e-6);
        expect(a.maxRel).toBeLessThanOrEqual(1e-6);
        expect(a.nanMismatch + a.infMismatch).toBe(0);
      }
    }
  }

  it('compiles tiny.moe in the page and runs it on Wasm and WebGPU as Node does; shows tables and rooflines; screenshot kept', async () => {
    const { state, page } = await demo('model=tiny.moe&T=7&seed=3');
    await expectNodeAgreement(state, 'examples/tiny.moe', {}, 7, 3);
    // per provider: output statistics, the per-kernel table and the roofline SVG
    expect(await page.$$eval('section.provider table', (t) => t.length)).toBe(4);
    expect(await page.$$eval('section.provider svg', (s) => s.length)).toBe(2);
    mkdirSync('test/artifacts', { recursive: true });
    await page.screenshot({ path: SHOT, fullPage: true });
    await page.close();
  }, 60_000);

  it('runs a larger routed model (switch.moe at small sizes) inside a Web Worker, the same', async () => {
    const { state, page } = await demo('model=switch.moe&set=D%3D32%2CF%3D48%2CE%3D8&T=5&seed=1&worker=1');
    await expectNodeAgreement(state, 'examples/switch.moe', { D: 32, F: 48, E: 8 }, 5, 1);
    await page.close();
  }, 60_000);

  it('Wasm threads: on the cross-origin isolated demo server a worker session runs 2 threads (Web Workers over shared memory) and gives the 1-thread output bit for bit; on the page\'s main thread it falls back to 1', async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    // a string, so that vitest's transform leaves the page's dynamic import alone
    const r = (await page.evaluate(`(async () => {
      const { InferenceSession } = await import('/dist/browser/moec.js');
      const moe = await (await fetch('/examples/switch.moe')).text();
      const source = { moe, path: 'switch.moe', consts: { D: 32, F: 48, E: 8 }, seed: 1 };
      const worker = '/dist/browser/moec-worker.js';
      const x = new Float32Array(40 * 32).map((_, i) => Math.sin(i));
      const one = await InferenceSession.create(source, { worker });
      const two = await InferenceSession.create(source, { worker, threads: 2 });
      const main = await InferenceSession.create(source, { threads: 2 });
      const a = (await one.run({ x: x.slice() })).y.data;
      const b = (await two.run({ x: x.slice() })).y.data;
      const same = a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
      const out = { isolated: self.crossOriginIsolated, threads: [one.threads, two.threads, main.threads], same, n: a.length };
      for (const s of [one, two, main]) await s.release();
      return out;
    })()`)) as { isolated: boolean; threads: number[]; same: boolean; n: number };
    expect(r).toEqual({ isolated: true, threads: [1, 2, 1], same: true, n: 40 * 32 });
    await page.close();
  }, 60_000);

  it("a model's error from the worker keeps file:line:col and the source line, as in the page", async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    // a string, so that vitest's transform leaves the page's dynamic import alone
    const formatted = await page.evaluate(`(async () => {
      const { InferenceSession } = await import('/dist/browser/moec.js');
      try {
        await InferenceSession.create({ moe: 'model bad {\\n  @\\n}', path: 'bad.moe' }, { worker: '/dist/browser/moec-worker.js' });
        return 'created';
      } catch (e) {
        return e.format ? e.format() : 'not a MoecError: ' + e;
      }
    })()`);
    expect(formatted).toMatch(/^bad\.moe:2:3: error E101: unexpected character '@'\n 2 \|   @\n/);
    await page.close();
  }, 30_000);

  it('without WebGPU (no --enable-unsafe-webgpu: no adapter) the page says how to get it in the browser or use Wasm, and Wasm still runs', async () => {
    const puppeteer = (await import('puppeteer-core')).default;
    const plain = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    try {
      const { state } = await demo('model=tiny.moe&T=2', plain);
      expect(state.results.wasm.ok).toBe(true);
      expect(state.results.webgpu.ok).toBe(false);
      expect(state.results.webgpu.error).toMatch(/WebGPU is enabled in this browser but it offers no adapter.*chrome:\/\/flags\/#enable-unsafe-webgpu.*Wasm backend/);
      expect(state.results.webgpu.error).not.toMatch(/\bapt(-get)?\b|libegl|webgpu package|Node/);
    } finally {
      await plain.close();
    }
  }, 40_000);
});
