/**
 * @fileoverview moec's WGSL backend as a benchmark runner: the model compiled for the
 * `webgpu` target (bound 256 tokens), loaded once per workload on whatever WebGPU adapter
 * this machine has, and timed end to end: write the input, one submit of every dispatch,
 * map the output. The adapter's description labels the runner; on a CPU adapter (Mesa's
 * software rasteriser under Dawn's OpenGL ES backend) the numbers are for regressions
 * only, and the same command is what runs on a real GPU. No roof: the adapter's limits are
 * not measured here.
 */
import type { WgslModel } from '../../compiler/backends/wgsl/runtime.ts';
import { loadWgsl } from '../../compiler/backends/wgsl/runtime.ts';
import { planWgsl } from '../../compiler/backends/wgsl/plan.ts';
import { getDevice } from '../../compiler/backends/wgsl/gpu.ts';
import { NODE_GPU } from '../../compiler/backends/wgsl/node-gpu.ts';
import { blobSource, weightBlob } from '../../compiler/backends/weights.ts';
import { cachedBlob } from '../weight-cache.ts';
import { compileModel } from '../../compiler/driver.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import type { BenchCase, Runner } from '../runner.ts';
import { sampleAsync } from '../stats.ts';
import { TOKEN_COUNTS } from '../workloads.ts';

/** The adapter, or why there is none (probed once, when the harness loads this runner). */
const adapter = await getDevice(NODE_GPU).then(
  ({ device, description }) => {
    device.destroy();
    return { description, missing: null as string | null };
  },
  (e: Error) => ({ description: 'none', missing: e.message }),
);

const models = new Map<string, Promise<WgslModel>>();

/** The workload's model, compiled and loaded once (pipelines and weights) for both runners. */
function modelFor(c: BenchCase): Promise<WgslModel> {
  let model = models.get(c.workload.name);
  if (!model) {
    const target = loadTarget('webgpu');
    const maxTokens = Math.max(...TOKEN_COUNTS);
    const { program } = compileModel(c.module, { target, maxTokens });
    const plan = planWgsl(program, target);
    model = loadWgsl(plan, cachedBlob(c.weightsKey, `wgsl ${JSON.stringify(target)}`, program, () => weightBlob(plan.weights, blobSource(program, c.weights))), { gpu: NODE_GPU });
    models.set(c.workload.name, model);
  }
  return model;
}

const skip = (): string | null => (adapter.missing ? `no WebGPU adapter: ${adapter.missing}` : null);

/** End to end: input write, one submit of every dispatch, output mapped. */
export const moecWgsl: Runner = {
  id: 'moec-wgsl',
  about: () => `moec WGSL backend (target webgpu, bound ${Math.max(...TOKEN_COUNTS)} tokens) on the WebGPU adapter "${adapter.description}"; forward = input write, one submit, output read-back`,
  roof: () => null,
  skip,
  async measure(c, plan) {
    const m = await modelFor(c);
    return sampleAsync(() => m.forward(c.inputs, c.bindings), plan);
  },
};

/** The kernels alone: one submit of the forward's dispatches and copies, until the queue is done. */
export const moecWgslGpu: Runner = {
  id: 'moec-wgsl-gpu',
  about: () => `the same model's dispatches only (no input write, no read-back), until the queue is done, on "${adapter.description}"`,
  roof: () => null,
  skip,
  async measure(c, plan) {
    const m = await modelFor(c);
    return sampleAsync(() => m.timeForward(c.bindings, 1), plan);
  },
};
