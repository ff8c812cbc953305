/** What the WGSL test files share: the adapter probe and the guard-mode check. */
import { getDevice } from '../../compiler/backends/wgsl/gpu.ts';
import { NODE_GPU } from '../../compiler/backends/wgsl/node-gpu.ts';
import type { planWgsl } from '../../compiler/backends/wgsl/plan.ts';
import { CANARY } from '../../compiler/backends/wgsl/runtime.ts';
import { evalShape } from '../../ir/dims.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { numel } from '../../ir/tensor.ts';
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
/** Arena bytes that may differ from the canary at T: every planned buffer, input and the scratch in use. */
function writable(p: KProgram, plan: ReturnType<typeof planWgsl>, T: number): Array<[number, number]> {
  const at = (shape: Parameters<typeof evalShape>[0]): number => numel(evalShape(shape, { T })) * 4;
  const ranges: Array<[number, number]> = p.buffers.filter((b) => b.offset !== undefined).map((b) => [b.offset!, b.offset! + at(b.shape)]);
  for (const i of plan.inputs) ranges.push([i.offset, i.offset + at(i.shape)]);
  ranges.push([plan.scratch.offset, plan.scratch.offset + plan.scratchUsed({ T })]);
  return ranges;
}

/** Byte offsets (the first 8) of arena words a guarded forward at T changed outside every buffer live at T. */
export function strayWrites(p: KProgram, plan: ReturnType<typeof planWgsl>, T: number, arena: Uint32Array): number[] {
  const ok = new Uint8Array(arena.length);
  for (const [lo, hi] of writable(p, plan, T)) ok.fill(1, lo / 4, Math.ceil(hi / 4));
  const stray: number[] = [];
  for (let i = 0; i < arena.length && stray.length < 8; i++) if (!ok[i] && arena[i] !== CANARY) stray.push(i * 4);
  return stray;
}
