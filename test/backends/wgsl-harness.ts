/** What the WGSL test files share: the adapter probe, the shaders-compile check and the guard-mode check. */
import { expect } from 'vitest';
import { getDevice } from '../../compiler/backends/wgsl/gpu.ts';
import { NODE_GPU } from '../../compiler/backends/wgsl/node-gpu.ts';
import type { planWgsl } from '../../compiler/backends/wgsl/plan.ts';
import { CANARY } from '../../compiler/backends/wgsl/runtime.ts';
import { evalShape } from '../../ir/dims.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { numel } from '../../ir/tensor.ts';
import { atTokens } from '../../ir/kernel/memory.ts';
import { skipUnless } from '../optional-packages.ts';

/**
 * Whether this machine has a WebGPU adapter for the WGSL tests: null, or why not. Without
 * one (Mesa's EGL / Vulkan drivers) the tests skip, saying why, unless CI is set: then the
 * file fails, since CI must run them (test/optional-packages.ts).
 */
export async function missingAdapter(what: string): Promise<string | null> {
  let missing: string | null = null;
  try {
    const { device } = await getDevice(NODE_GPU);
    device.destroy();
  } catch (e) {
    missing = (e as Error).message;
  }
  return skipUnless('a WebGPU adapter (Mesa EGL / Vulkan drivers)', missing, what) ? missing : null;
}
/** Bytes of each arena buffer that may differ from the canary at T: every planned buffer, input and the scratch in use. */
function writable(p: KProgram, plan: ReturnType<typeof planWgsl>, T: number): Array<[number, number, number]> {
  const at = (shape: Parameters<typeof evalShape>[0]): number => numel(evalShape(shape, { T })) * 4;
  const ranges: Array<[number, number, number]> = p.buffers.filter((b) => b.offset !== undefined).map((b) => [b.part ?? 0, atTokens(b.offset!, T), atTokens(b.offset!, T) + at(b.shape)]);
  for (const i of plan.inputs) ranges.push([i.part, atTokens(i.offset, T), atTokens(i.offset, T) + at(i.shape)]);
  ranges.push([plan.scratch.part, atTokens(plan.scratch.offset, T), atTokens(plan.scratch.offset, T) + plan.scratchUsed({ T })]);
  return ranges;
}

/** Byte offsets (the first 8, as `part:offset`) of arena words a guarded forward at T changed outside every buffer live at T. */
export function strayWrites(p: KProgram, plan: ReturnType<typeof planWgsl>, T: number, arenas: Uint32Array[]): string[] {
  const ok = arenas.map((a) => new Uint8Array(a.length));
  for (const [part, lo, hi] of writable(p, plan, T)) ok[part].fill(1, lo / 4, Math.ceil(hi / 4));
  const stray: string[] = [];
  arenas.forEach((arena, k) => {
    for (let i = 0; i < arena.length && stray.length < 8; i++) if (!ok[k][i] && arena[i] !== CANARY) stray.push(`${k}:${i * 4}`);
  });
  return stray;
}

/** Each kernel's shader compiles without messages and makes a pipeline on `device` (its limits: WebGPU's defaults). */
export async function expectPipelines(device: GPUDevice, kernels: ReturnType<typeof planWgsl>['kernels'], label: string): Promise<void> {
  device.pushErrorScope('validation');
  for (const k of kernels) {
    const module = device.createShaderModule({ code: k.shader.code });
    expect((await module.getCompilationInfo()).messages.map((m) => m.message), `${label} ${k.name}`).toEqual([]);
    device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: k.shader.entry } });
  }
  expect((await device.popErrorScope())?.message, label).toBeUndefined();
}
