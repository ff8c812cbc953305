/**
 * Whole imported models on the WGSL backend with the KV cache as state: the tiny Hugging Face
 * configurations of test/fixtures/hf-tiny (every shipped architecture: Mixtral, Qwen2-MoE,
 * Qwen3-MoE, OLMoE, Llama, GPT-OSS with sinks and sliding windows, DeepSeek-V2/V3 with MLA),
 * compiled for webgpu with a context bound, their cached positions loaded with `loadCaches`
 * from the numpy fixture's caches, then one forward of its T new tokens: the logits within
 * 1e-4 of their scale (max |Δ| / max |want|) of the numpy float64 forward pass (measured on
 * Dawn over Mesa: 9e-8 (Llama) to 4.9e-7 (DeepSeek-V3)). And at real sizes (examples/hf, a
 * context of 256): every attention, MLA and rope shader compiles without messages and makes a
 * pipeline on a device with WebGPU's default limits.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getDevice } from '../../compiler/backends/wgsl/gpu.ts';
import { NODE_GPU } from '../../compiler/backends/wgsl/node-gpu.ts';
import { planWgsl } from '../../compiler/backends/wgsl/plan.ts';
import { loadWgsl } from '../../compiler/backends/wgsl/runtime.ts';
import { packWeights, weightBlob } from '../../compiler/backends/weights.ts';
import { stateBuffers } from '../../compiler/backends/state-caches.ts';
import { inputsFromSafetensors, weightsFromSafetensors } from '../../compiler/driver.ts';
import { importHfConfig } from '../../compiler/import/index.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import { readSafetensors } from '../../ir/safetensors.ts';
import { expectPipelines, missingAdapter } from './wgsl-harness.ts';

const missing = await missingAdapter('the whole imported models on WGSL');
const target = loadTarget('webgpu');
const ARCHS: Array<[string, number]> = [['mixtral', 3], ['qwen2_moe', 3], ['qwen3_moe', 3], ['olmoe', 3], ['llama', 3], ['gpt_oss', 3], ['deepseek_v2', 3], ['deepseek_v3', 3]];

describe.skipIf(missing !== null)('whole imported models on WGSL, caches loaded into GPU state', () => {
  for (const [name, T] of ARCHS)
    it(`${name}: logits of T = ${T} new tokens after the fixture's cached positions match numpy within 1e-4 of their scale`, async () => {
      const cfgPath = `test/fixtures/hf-tiny/${name}.json`;
      const m = importHfConfig(readFileSync(cfgPath, 'utf8'), cfgPath).module;
      const path = `test/fixtures/hf-tiny/${name}-t${T}.safetensors`;
      const file = readSafetensors(path);
      const L = Number(file.metadata!.cache);
      const want = file.get('logits').data;
      const p = runPipeline(m, { target, maxTokens: 8, maxContext: 16 }).program!;
      const weights = weightsFromSafetensors(m, file, path);
      const inputs = inputsFromSafetensors(m, file, path);
      const plan = planWgsl(p, target);
      const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(p, weights)), { gpu: NODE_GPU });
      try {
        const caches = new Set(stateBuffers(p).map((b) => b.name));
        expect(caches.size, 'state caches').toBeGreaterThan(0);
        model.loadCaches!(Object.fromEntries([...caches].map((c) => [c, inputs[c]])), L);
        const got = (await model.forward(Object.fromEntries(Object.entries(inputs).filter(([n]) => !caches.has(n))), { T, L })).logits.data;
        let abs = 0;
        let scale = 0;
        for (let i = 0; i < want.length; i++) {
          abs = Math.max(abs, Math.abs(got[i] - want[i]));
          scale = Math.max(scale, Math.abs(want[i]));
        }
        expect(abs / scale, name).toBeLessThan(1e-4);
      } finally {
        model.dispose();
      }
    }, 120_000);

  it('at real sizes (examples/hf, a context of 256) every attention, MLA and rope shader compiles cleanly and makes a pipeline with default limits', async () => {
    const { device } = await getDevice(NODE_GPU);
    try {
      for (const dir of readdirSync('examples/hf')) {
        const path = `examples/hf/${dir}/config.json`;
        const p = runPipeline(importHfConfig(readFileSync(path, 'utf8'), path).module, { target, maxTokens: 16, maxContext: 256 }).program!;
        const kernels = planWgsl(p, target).kernels.filter((k) => /\.(append|absorb|attend|split|merge|expand|rope)$/.test(k.name));
        expect(kernels.some((k) => k.name.endsWith('.attend')), dir).toBe(true);
        await expectPipelines(device, kernels, dir);
      }
    } finally {
      device.destroy();
    }
  }, 120_000);
});
