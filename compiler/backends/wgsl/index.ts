/**
 * @fileoverview The WGSL backend: WebGPU compute kernels for a planned kernel program, a
 * JSON manifest that says how to run them, and a runtime that runs them (`runtime.ts`).
 *
 * `emit` writes one WGSL module per kernel entry point (they share helper names, so they
 * are separate modules) and `manifest.json`: the buffers with sizes and usages, the one
 * bind group layout, each kernel's entry point, workgroup size, operands, parameter slots
 * and grid as a function of T, and the steps in order.
 */
import { dimToString, shapeToString } from '../../../ir/dims.ts';
import type { KProgram, Step } from '../../../ir/kernel/kernel.ts';
import type { TargetCaps } from '../../target/caps.ts';
import type { Backend, EmittedFiles } from '../backend.ts';
import { blobSource, rowMajorPack, rowMajorWrite, weightBlob } from '../weights.ts';
import { type WgslPlan, planWgsl } from './plan.ts';
import { loadWgsl } from './runtime.ts';
import type { GpuHost } from './gpu.ts';
import { quantBinding } from './quant.ts';
import { ARENA_BINDING, PARAM_STRIDE, WEIGHT_BINDING, arenaParts } from './shader.ts';

/** File name of kernel `i` (names come from buffer names, which may hold any character). */
export function kernelFile(plan: WgslPlan, i: number): string {
  return `${String(i).padStart(2, '0')}-${plan.kernels[i].name.replace(/[^A-Za-z0-9_.-]/g, '_')}.wgsl`;
}

/** The manifest object (see the file comment). */
export function manifest(plan: WgslPlan, target: TargetCaps): unknown {
  const p = plan.program;
  const steps = (list: readonly Step[]): unknown[] =>
    list.map((s) =>
      s.kind === 'loop'
        ? { loop: s.count, slices: s.slices, init: s.init ?? [], carried: s.carried, body: steps(s.body) }
        : { kind: s.kind, kernels: (plan.stepKernels.get(s) ?? []).map((i) => kernelFile(plan, i)) },
    );
  return {
    format: 'moec-wgsl',
    version: 1,
    model: p.name,
    target: target.name,
    maxTokens: plan.maxTokens,
    buffers: [
      {
        name: 'arena',
        note: 'one GPU buffer per part of the memory plan, sized by the T of each call (bytes and offsets affine in T); the inputs and the scratch follow one part, or take a buffer of their own (their part)',
        parts: (p.arenaParts ?? [p.arenaBytes ?? 0]).map(dimToString),
        usage: ['STORAGE', 'COPY_SRC', 'COPY_DST'],
        inputs: plan.inputs.map((r) => ({ name: r.name, part: r.part, offset: dimToString(r.offset), shape: shapeToString(r.shape) })),
        outputs: plan.outputs.map((r) => ({ name: r.name, part: r.part, offset: dimToString(r.offset), shape: shapeToString(r.shape) })),
        scratch: { part: plan.scratch.part, offset: dimToString(plan.scratch.offset), bytesAtMax: plan.scratch.bytes },
        planned: p.buffers.filter((b) => b.offset !== undefined).map((b) => ({ name: b.name, shape: shapeToString(b.shape), part: b.part ?? 0, offset: dimToString(b.offset!), bytes: b.bytes === undefined ? undefined : dimToString(b.bytes) })),
      },
      {
        name: 'weights',
        bytes: plan.weights.bytes,
        usage: ['STORAGE', 'COPY_DST'],
        chunks: plan.weightChunks,
        note: 'one GPU buffer per chunk (blob byte ranges); a weight operand binds its tensor (or loop slice) in its chunk',
        entries: plan.weights.entries,
      },
      ...(plan.state.length > 0
        ? [
            {
              name: 'state',
              maxContext: p.maxContext,
              usage: ['STORAGE', 'COPY_DST'],
              note: 'the KV caches: each an arena part `part` of the kernels, kept in GPU buffers of whole layers (chunks: byte ranges of the cache), a dispatch binding its layer\'s range; zeroed at load and by reset, written at rows L..L+T-1 by each forward and never read back. L is each forward\'s late parameter `L` (the positions already cached); L + T <= maxContext',
              buffers: plan.state.map((st) => ({ name: st.name, part: st.part, bytes: st.bytes, chunks: st.chunks.map((c) => ({ offset: c.offset, bytes: c.bytes })) })),
            },
          ]
        : []),
      { name: 'params', bytesPerDispatch: PARAM_STRIDE, usage: ['UNIFORM', 'COPY_DST'], note: 'one record per dispatch: u32 T, u32 element offset per operand, then the kernel extras' },
      { name: 'staging', bytes: plan.stagingBytes, usage: ['COPY_SRC', 'COPY_DST'], note: 'loop carried/init copies go arena -> staging -> arena' },
    ],
    bindGroupLayout: [
      { binding: 0, buffer: 'arena', type: 'storage', wgsl: 'array<u32>', note: `the kernel's first arena part; its others at ${ARENA_BINDING}+1, +2, ... (arenaParts in each kernel)` },
      { binding: 1, buffer: 'params', type: 'uniform', hasDynamicOffset: true, size: PARAM_STRIDE },
      { binding: `${WEIGHT_BINDING}...`, buffer: 'weights', type: 'read-only-storage', wgsl: 'array<f32>', note: 'one per weight operand, in operand order' },
    ],
    kernels: plan.kernels.map((k, i) => ({
      file: kernelFile(plan, i),
      entryPoint: k.shader.entry,
      workgroupSize: k.shader.workgroup,
      workgroupBytes: k.shader.workgroupBytes,
      params: ['T', ...k.operands.map((o) => `offset(${o.role}: ${o.buffer} in ${o.space})`), ...k.extras],
      arenaParts: arenaParts(k.operands),
      weightBindings: k.operands.filter((o) => o.space === 'weights').map((o, j) => ({ binding: WEIGHT_BINDING + j, operand: o.role, buffer: o.buffer, ...(o.quant ? quantBinding(o.quant) : {}) })),
      dispatch: k.grid,
      ...(k.runsWhen ? { runsWhen: k.runsWhen } : {}),
    })),
    steps: steps(p.steps),
  };
}

/** The WGSL backend, loading onto `gpu`'s devices (the registry gives it Node's, the browser entry the page's). */
export const wgslBackendOn = (gpu: GpuHost): Backend => ({
  name: 'wgsl',
  decoderOps: ['attention', 'mla_attention'],
  emit(program: KProgram, target: TargetCaps): EmittedFiles {
    const plan = planWgsl(program, target);
    const files: EmittedFiles = {};
    plan.kernels.forEach((k, i) => {
      files[kernelFile(plan, i)] = k.shader.code;
    });
    files['manifest.json'] = JSON.stringify(manifest(plan, target), null, 2) + '\n';
    return files;
  },
  async load(program, target, weights) {
    const plan = planWgsl(program, target);
    return loadWgsl(plan, weightBlob(plan.weights, blobSource(program, weights)), { gpu });
  },
  /** The weights buffer's contents (`moec pack --target webgpu`): row-major, at the manifest's offsets. */
  packWeights: (program, target, weights, opts) => rowMajorPack(program, target, planWgsl(program, target).weights, weights, opts?.onProgress),
  writeWeights: (program, target, weights, write, opts) => rowMajorWrite(program, target, planWgsl(program, target).weights, weights, write, opts?.onProgress),
});
