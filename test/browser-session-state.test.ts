/**
 * The browser session (`InferenceSession`, compiler/browser/session.ts) with the KV cache as
 * state: a `.moe` decoder created with `maxContext` on the WebGPU provider keeps its caches in
 * GPU buffers between runs; each run appends its tokens after the positions the session holds
 * (or after a given L, which rewinds), `reset` empties them. Run here in Node: the page's own
 * code path (`navigator.gpu`) over Dawn, whose OpenGL ES backend offers only compatibility
 * adapters, so the stand-in `navigator.gpu` asks for that level. Each run's output within 1e-5
 * of the kernel interpreter (f32 online softmax against float64).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession } from '../compiler/browser/session.ts';
import { NODE_GPU } from '../compiler/backends/wgsl/node-gpu.ts';
import { compile, randomWeights } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { allocateState } from '../ir/kernel/attention.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import type { Tensor } from '../ir/tensor.ts';
import { missingAdapter } from './backends/wgsl-harness.ts';
import { expectAgreement } from './expect-agreement.ts';

const FILE = 'test/fixtures/decoder-pair.moe';
const SRC = readFileSync(FILE, 'utf8');
const missing = await missingAdapter('the browser session with state on WebGPU');
const g = globalThis as { navigator?: unknown };

describe.skipIf(missing !== null)('the browser session on WebGPU with maxContext: the KV cache stays on the device between runs', () => {
  const had = Object.getOwnPropertyDescriptor(g, 'navigator');
  beforeAll(async () => {
    const dawn = (await NODE_GPU.gpu())!;
    const gpu = { requestAdapter: (o?: GPURequestAdapterOptions) => dawn.requestAdapter({ ...o, featureLevel: 'compatibility' }), getPreferredCanvasFormat: () => dawn.getPreferredCanvasFormat() };
    Object.defineProperty(g, 'navigator', { value: { gpu }, configurable: true });
  });
  afterAll(() => {
    if (had) Object.defineProperty(g, 'navigator', had);
    else delete g.navigator;
  });

  it('prefill, decode steps, a rewind by L and reset match the kernel interpreter; L past the cache is a RangeError', async () => {
    const m = compile(SRC, { path: FILE });
    const p = runPipeline(m, { target: loadTarget('webgpu'), maxTokens: 16, maxContext: 32 }).program!;
    const W = randomWeights(m, 3);
    const s = await InferenceSession.create({ moe: SRC, path: FILE, seed: 3, maxContext: 32 }, { executionProvider: 'webgpu' });
    try {
      expect(s.maxContext).toBe(32);
      let state = allocateState(p);
      const ids = (L: number, T: number): Float32Array => Float32Array.from({ length: T }, (_, t) => ((L + t) * 3) % 10);
      const step = async (L: number, T: number, rewind = false): Promise<void> => {
        const got = await s.run({ ids: ids(L, T) }, rewind ? { L } : {});
        const idsT: Tensor = { dtype: 'i32', shape: [T], data: Int32Array.from(ids(L, T)) };
        const want = interpretKernelIR(p, { bindings: { T, L }, inputs: { ids: idsT }, weights: W, state });
        expectAgreement({ dtype: 'f32', shape: got.y.dims, data: got.y.data }, want.y, { maxRel: 1e-5, relL2: 1e-5 }, `L = ${L}, T = ${T}`);
        expect(s.position).toBe(L + T);
      };
      await step(0, 5);
      for (let L = 5; L < 9; L++) await step(L, 1);
      // Rewind to 6: positions 6.. are written again (the interpreter's state rows too).
      await step(6, 2, true);
      await expect(s.run({ ids: ids(9, 1) }, { L: 9 })).rejects.toThrow(/L = 9: this session holds 8 cached positions of at most 32/);
      await s.reset();
      expect(s.position).toBe(0);
      state = allocateState(p);
      await step(0, 3);
      await step(3, 1);
    } finally {
      await s.release();
    }
  }, 120_000);
});
