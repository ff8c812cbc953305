/**
 * @fileoverview The WGSL runtime: a planned program loaded onto a WebGPU device.
 *
 * `load` creates the pipelines once (checking every shader's compilation messages) and
 * uploads the packed weights once. `forward(inputs, T)` writes the inputs and the parameter
 * records, encodes every dispatch and loop copy of the schedule into one command buffer,
 * copies the outputs into a mappable buffer, submits once and maps it. Nothing is read back
 * before the end: the expert counts stay on the GPU.
 *
 * Memory follows the tokens run: the arena buffers (`plan.arenaBytes(T)`), the staging and
 * the read-back buffers are sized for the largest T run so far, and made anew (with the bind groups) when a
 * larger T comes. An arena buffer over the device's storage binding size at some T is an
 * error (E505) for that T only.
 *
 * The state (a program compiled with a context bound: its KV caches) is GPU buffers made once,
 * zeroed, and never read back: each forward appends at rows L..L+T-1 (L checked against the
 * context bound, E505) and passes L in the parameter records; `reset` clears them and
 * `loadCaches` writes them, each in turn with the forwards already asked for.
 *
 * Guard mode (tests): every arena buffer is filled with a canary before the forward and
 * read back after it, so a test can check that no kernel wrote outside its buffers.
 */
/// <reference types="@webgpu/types" />
import { evalDim, evalShape } from '../../../ir/dims.ts';
import { stateFromCaches, checkContext } from '../state-caches.ts';
import { type Tensor, numel } from '../../../ir/tensor.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { checkTokenCount } from '../../../ir/kernel/token-bound.ts';
import type { LoadedModel } from '../backend.ts';
import { type GpuHost, getDevice } from './gpu.ts';
import { atTokens } from '../../../ir/kernel/memory.ts';
import type { Command, WgslPlan } from './plan.ts';
import { PARAM_SLOTS, PARAM_STRIDE, WEIGHT_BINDING, arenaBinding, arenaParts } from './shader.ts';

export const CANARY = 0x7fc0ffee;

export interface WgslLoadOptions {
  /** Where the device comes from: `BROWSER_GPU` (gpu.ts) in a page, `NODE_GPU` (node-gpu.ts) in Node. */
  gpu: GpuHost;
  guard?: boolean;
}

export interface WgslModel extends LoadedModel {
  /** The adapter, in words. */
  readonly adapter: string;
  /** Compilation messages (warnings) of every shader, by kernel name. */
  readonly messages: Record<string, string[]>;
  /** Guard mode: each arena buffer after the last forward (its bytes at that T). */
  lastArena?: Uint32Array[];
  /** Runs the schedule `repeats` times in one submit and waits (benchmarks); no read-back. */
  timeForward(bindings: Record<string, number>, repeats: number): Promise<number>;
}

const USAGE = () => globalThis.GPUBufferUsage;

export async function loadWgsl(plan: WgslPlan, weightBlob: Uint8Array, opts: WgslLoadOptions): Promise<WgslModel> {
  const { device, description } = await getDevice(opts.gpu);
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  const tooBig: Array<[string, number]> = [];
  // Chunks are at most the binding size unless one row of a weight (one expert, one layer) is larger.
  for (const c of plan.weightChunks) tooBig.push([`weight ${[...plan.weights.entries].reverse().find((e) => e.offset <= c.offset)?.name} (one row of its leading axis)`, c.bytes]);
  for (const [what, bytes] of tooBig)
    if (bytes > maxBinding) {
      device.destroy();
      fail('E505', `the WGSL model's ${what} take ${bytes} bytes, over this device's ${maxBinding}-byte storage binding limit`, undefined, 'lower --max-tokens, or run a smaller configuration (--set)');
    }
  const U = USAGE();
  const messages: Record<string, string[]> = {};
  device.pushErrorScope('validation');
  const pipelines: GPUComputePipeline[] = [];
  const layouts: GPUBindGroupLayout[] = [];
  for (const k of plan.kernels) {
    const weightOps = k.operands.filter((o) => o.space === 'weights').length;
    const layout = device.createBindGroupLayout({
      entries: [
        ...arenaParts(k.operands).map((_, j): GPUBindGroupLayoutEntry => ({ binding: arenaBinding(j), visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } })),
        { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: PARAM_STRIDE } },
        ...Array.from({ length: weightOps }, (_, j): GPUBindGroupLayoutEntry => ({ binding: WEIGHT_BINDING + j, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } })),
      ],
    });
    layouts.push(layout);
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    const module = device.createShaderModule({ code: k.shader.code, label: k.name });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length > 0) throw new Error(`wgsl: kernel ${k.name} does not compile:\n${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('\n')}`);
    messages[k.name] = info.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`);
    pipelines.push(device.createComputePipeline({ layout: pipelineLayout, compute: { module, entryPoint: k.shader.entry }, label: k.name }));
  }
  /** The arena buffers and the read-back buffer, sized for the largest T so far (`ensure`). */
  let arena: GPUBuffer[] = [];
  let arenaSizes: number[] = [];
  let readback: GPUBuffer | undefined;
  let staging: GPUBuffer | undefined;
  const weights = plan.weightChunks.map((c, i) => {
    const b = device.createBuffer({ size: Math.max(4, c.bytes), usage: U.STORAGE | U.COPY_DST, label: `weights ${i}` });
    device.queue.writeBuffer(b, 0, weightBlob as Uint8Array<ArrayBuffer>, c.offset, c.bytes);
    return b;
  });
  // The state (KV caches): created zeroed, never resized or read back; reset clears it.
  const state = plan.state.flatMap((st) => st.chunks.map((c, i) => device.createBuffer({ size: Math.max(4, c.bytes), usage: U.STORAGE | U.COPY_DST, label: `state ${st.name} ${i}` })));
  /** What a dispatch binds for an arena part: an arena buffer, or its range of a state buffer. */
  const partBinding = (c: Extract<Command, { kind: 'dispatch' }>, part: number): GPUBufferBinding => {
    if (part < plan.arenaCount) return { buffer: arena[part] };
    const r = c.state?.find((x) => x.part === part);
    if (!r) throw new Error(`wgsl: ${plan.kernels[c.kernel].name} binds the state part ${part} without its range`);
    return { buffer: state[r.gpu], offset: r.offset, size: r.bytes };
  };
  const outBytesAt = (bindings: Record<string, number>): number => plan.outputs.reduce((n, o) => n + numel(evalShape(o.shape, bindings)) * 4, 0);
  let params: GPUBuffer | undefined;
  /** Each dispatch's bind group (its weight ranges), made once per schedule and params buffer. */
  let bindGroups = new WeakMap<Command, GPUBindGroup>();
  const setup = (records: number): void => {
    if (params && params.size >= records * PARAM_STRIDE) return;
    params?.destroy();
    params = device.createBuffer({ size: Math.max(1, records) * PARAM_STRIDE, usage: U.UNIFORM | U.COPY_DST, label: 'params' });
    bindGroups = new WeakMap();
  };
  const bindGroupFor = (c: Extract<Command, { kind: 'dispatch' }>): GPUBindGroup => {
    let g = bindGroups.get(c);
    if (!g) {
      g = device.createBindGroup({
        layout: layouts[c.kernel],
        entries: [
          ...arenaParts(plan.kernels[c.kernel].operands).map((part, j): GPUBindGroupEntry => ({ binding: arenaBinding(j), resource: partBinding(c, part) })),
          { binding: 1, resource: { buffer: params!, size: PARAM_STRIDE } },
          ...c.weights.map((w, j): GPUBindGroupEntry => ({ binding: WEIGHT_BINDING + j, resource: { buffer: weights[w.chunk], offset: w.offset, size: w.bytes } })),
        ],
      });
      bindGroups.set(c, g);
    }
    return g;
  };
  const err = await device.popErrorScope();
  if (err) throw new Error(`wgsl: creating the pipelines failed: ${err.message}`);

  /** Makes the arena and read-back buffers big enough for a forward at these sizes. */
  const ensure = (bindings: Record<string, number>): void => {
    const sizes = plan.arenaBytes(bindings);
    sizes.forEach((bytes, k) => {
      if (bytes > maxBinding)
        fail('E505', `the WGSL model's arena ${k < sizes.length - 1 ? `part ${k}` : 'buffer of inputs and scratch'} takes ${bytes} bytes at T = ${bindings.T}, over this device's ${maxBinding}-byte storage binding limit`, undefined, 'run fewer tokens per call, or plan for this device (its limits in the target)');
    });
    const read = outBytesAt(bindings) + (opts.guard ? sizes.reduce((a, b) => a + b, 0) : 0);
    const grown = sizes.some((b, k) => b > (arenaSizes[k] ?? 0));
    if (grown) {
      for (const b of arena) b.destroy();
      arenaSizes = sizes.map((b, k) => Math.max(b, arenaSizes[k] ?? 0));
      arena = arenaSizes.map((size, k) => device.createBuffer({ size, usage: U.STORAGE | U.COPY_SRC | U.COPY_DST, label: `arena ${k}` }));
      bindGroups = new WeakMap();
    }
    const stage = plan.stagingAt(bindings);
    if (!staging || staging.size < stage) {
      staging?.destroy();
      staging = device.createBuffer({ size: stage, usage: U.COPY_SRC | U.COPY_DST, label: 'staging' });
    }
    if (!readback || readback.size < read) {
      readback?.destroy();
      readback = device.createBuffer({ size: Math.max(4, read), usage: U.MAP_READ | U.COPY_DST, label: 'readback' });
    }
  };

  const schedules = new Map<string, Command[]>();
  const context = plan.state.length > 0 ? plan.program.maxContext : undefined;
  const scheduleFor = (bindings: Record<string, number>): Command[] => {
    const T = bindings.T;
    checkTokenCount(T, plan.maxTokens);
    const L = bindings.L;
    if (context !== undefined) checkContext(L, T, context);
    const key = plan.scheduleKey(bindings);
    let s = schedules.get(key);
    if (!s) schedules.set(key, (s = plan.schedule(bindings)));
    return s;
  };

  /** Writes the parameter records and encodes the schedule (repeated) into `enc`. */
  const encode = (cmds: Command[], enc: GPUCommandEncoder, repeats: number, bindings: Record<string, number>): void => {
    const dispatches = cmds.filter((c) => c.kind === 'dispatch');
    setup(dispatches.length);
    const rec = new Uint32Array(dispatches.length * PARAM_SLOTS);
    dispatches.forEach((d, i) => {
      rec.set(d.params, i * PARAM_SLOTS);
      d.late?.forEach((x, j) => (rec[i * PARAM_SLOTS + d.params.length + j] = evalDim(x, bindings)));
    });
    device.queue.writeBuffer(params!, 0, rec);
    for (let r = 0; r < repeats; r++) {
      let pass: GPUComputePassEncoder | null = null;
      let i = 0;
      for (const c of cmds) {
        if (c.kind === 'dispatch') {
          pass ??= enc.beginComputePass();
          pass.setPipeline(pipelines[c.kernel]);
          pass.setBindGroup(0, bindGroupFor(c), [i++ * PARAM_STRIDE]);
          pass.dispatchWorkgroups(c.grid[0], c.grid[1], c.grid[2]);
        } else {
          pass?.end();
          pass = null;
          let at = 0;
          const placed = c.pairs.map((p) => {
            enc.copyBufferToBuffer(arena[p.from.part], p.from.offset, staging!, at, p.bytes);
            at += p.bytes;
            return at - p.bytes;
          });
          c.pairs.forEach((p, j) => enc.copyBufferToBuffer(staging!, placed[j], arena[p.to.part], p.to.offset, p.bytes));
        }
      }
      pass?.end();
    }
  };

  const writeInputs = (inputs: Record<string, Tensor>, bindings: Record<string, number>): void => {
    for (const i of plan.inputs) {
      const t = Object.hasOwn(inputs, i.name) ? inputs[i.name] : undefined;
      const shape = evalShape(i.shape, bindings);
      if (!t) fail('E503', `missing input '${i.name}': expected [${shape.join(', ')}]`);
      if (t.shape.length !== shape.length || t.shape.some((d, j) => d !== shape[j])) fail('E504', `input '${i.name}' is [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
      const data = i.int ? Int32Array.from(t.data) : Float32Array.from(t.data);
      device.queue.writeBuffer(arena[i.part], atTokens(i.offset, bindings.T), data);
    }
  };

  let disposed = false;
  // Forwards share the arena, the parameter records and the read-back buffer: one at a time.
  let previous: Promise<unknown> = Promise.resolve();
  /** Runs `f` (a reset, a cache load) after the forwards already asked for, before any asked for later. */
  const afterForwards = (f: () => void): void => {
    previous = previous.then(f).catch(() => undefined);
  };
  const model: WgslModel = {
    adapter: description,
    messages,
    forward(inputs, bindings) {
      const run = previous.then(() => forward(inputs, bindings));
      previous = run.catch(() => undefined);
      return run;
    },
    async timeForward(bindings, repeats) {
      await previous;
      const cmds = scheduleFor(bindings);
      ensure(bindings);
      const enc = device.createCommandEncoder();
      encode(cmds, enc, repeats, bindings);
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    },
    ...(plan.state.length > 0
      ? {
          reset(): void {
            afterForwards(() => {
              const enc = device.createCommandEncoder();
              for (const b of state) enc.clearBuffer(b);
              device.queue.submit([enc.finish()]);
            });
          },
          loadCaches(caches: Record<string, Tensor>, L: number): void {
            // Checked now (E503/E504/E505 to the caller), written after the forwards already asked for.
            const contents = new Map(stateFromCaches(plan.program, caches, L).map((c) => [c.name, c.data]));
            afterForwards(() => {
              for (const st of plan.state) {
                const data = contents.get(st.name)! as Float32Array<ArrayBuffer>;
                for (const c of st.chunks) device.queue.writeBuffer(state[c.gpu], 0, data, c.offset / 4, c.bytes / 4);
              }
            });
          },
        }
      : {}),
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const b of [...arena, ...state, ...weights, staging, readback, params]) b?.destroy();
      device.destroy();
    },
  };
  async function forward(inputs: Record<string, Tensor>, bindings: Record<string, number>): Promise<Record<string, Tensor>> {
    if (disposed) throw new Error('wgsl: forward after dispose');
    const cmds = scheduleFor(bindings);
    ensure(bindings);
    const sizes = plan.arenaBytes(bindings);
    if (opts.guard) sizes.forEach((bytes, k) => device.queue.writeBuffer(arena[k], 0, new Uint32Array(bytes / 4).fill(CANARY)));
    writeInputs(inputs, bindings);
    const rb = readback!;
    device.pushErrorScope('validation');
    const enc = device.createCommandEncoder();
    encode(cmds, enc, 1, bindings);
    let at = 0;
    const placed = plan.outputs.map((o) => {
      const bytes = numel(evalShape(o.shape, bindings)) * 4;
      enc.copyBufferToBuffer(arena[o.part], atTokens(o.offset, bindings.T), rb, at, bytes);
      at += bytes;
      return { o, from: at - bytes, bytes };
    });
    const guardAt: number[] = [];
    if (opts.guard)
      sizes.forEach((bytes, k) => {
        guardAt.push(at);
        enc.copyBufferToBuffer(arena[k], 0, rb, at, bytes);
        at += bytes;
      });
    device.queue.submit([enc.finish()]);
    const err = await device.popErrorScope();
    if (err) throw new Error(`wgsl: forward failed validation: ${err.message}`);
    await rb.mapAsync(GPUMapMode.READ);
    const bytes = rb.getMappedRange(0, Math.max(4, at)).slice(0);
    rb.unmap();
    if (opts.guard) model.lastArena = sizes.map((n, k) => new Uint32Array(bytes, guardAt[k], n / 4));
    const out: Record<string, Tensor> = {};
    for (const { o, from, bytes: n } of placed) {
      const shape = evalShape(o.shape, bindings);
      // An i32 output (expert indices) stays i32: through f32 an index past 2^24 would round.
      out[o.name] = o.int ? { dtype: 'i32', shape, data: new Int32Array(bytes.slice(from, from + n)) } : { dtype: 'f32', shape, data: new Float32Array(bytes.slice(from, from + n)) };
    }
    return out;
  }
  return model;
}
