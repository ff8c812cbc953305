/**
 * @fileoverview The WebAssembly backend: `emit` writes `model.wasm`, its text `model.wat`
 * and the loader's manifest `model.json`; `load` builds the same module, packs the weights
 * into the manifest's blob layout and runs it here through the loader (`loader.ts`, the one
 * a web page uses too). `packWeights` writes the blob that loader reads (`moec pack`).
 */
import { evalShape } from '../../../ir/dims.ts';
import type { KProgram } from '../../../ir/kernel/kernel.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { fail } from '../../../ir/diagnostics.ts';
import type { TargetCaps } from '../../target/caps.ts';
import { checkTokenCount } from '../../../ir/kernel/token-bound.ts';
import type { Backend, EmittedFiles, LoadedModel } from '../backend.ts';
import { refuseWasmOutOfMemory } from '../../../ir/out-of-memory.ts';
import { blobSource, rowMajorPack, weightBlob } from '../weights.ts';
import { wasmWeightLayout } from './layout.ts';
import { MoecWasmModel, loadWasmModel } from './loader.ts';
import { type BuiltModule, buildModule } from './module.ts';

export function emitWasm(program: KProgram, target: TargetCaps): EmittedFiles {
  const built = buildModule(program, target);
  return { 'model.wasm': built.binary, 'model.wat': built.text, 'model.json': `${JSON.stringify(built.manifest, null, 2)}\n` };
}

export interface WasmLoaded extends LoadedModel {
  model: MoecWasmModel;
  built: BuiltModule;
}

/** Builds, instantiates and fills the module with the program's packed weights. */
export async function loadWasm(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>): Promise<WasmLoaded> {
  const built = buildModule(program, target);
  const blob = weightBlob(built.layout.weights, blobSource(program, weights));
  let model: MoecWasmModel;
  try {
    model = await loadWasmModel(built.binary, built.manifest, blob);
  } catch (e) {
    refuseWasmOutOfMemory(e);
    throw e;
  }
  const outputShape = (buffer: string, T: number): number[] => evalShape(program.buffers.find((b) => b.name === buffer)!.shape, { T });
  return {
    model,
    built,
    async forward(inputs, bindings) {
      const T = bindings.T;
      checkTokenCount(T, built.manifest.maxTokens);
      const given: Record<string, Float32Array | Int32Array> = {};
      for (const i of program.inputs) {
        const t = inputs[i.name];
        if (!t) fail('E503', `missing input '${i.name}'`);
        const want = evalShape(program.buffers.find((b) => b.name === i.buffer)!.shape, { T });
        if (t.shape.length !== want.length || t.shape.some((d, j) => d !== want[j])) fail('E504', `input '${i.name}' is [${t.shape.join(', ')}], expected [${want.join(', ')}] at T = ${T}`);
        const int = program.buffers.find((b) => b.name === i.buffer)!.dtype === 'i32';
        given[i.name] = int ? Int32Array.from(t.data) : t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
      }
      let got: Record<string, Float32Array | Int32Array>;
      try {
        got = model.forwardAll(given, T);
      } catch (e) {
        // The kernels trap only on bad data: an expert index or a token id out of range.
        if (e instanceof WebAssembly.RuntimeError) fail('E505', `the wasm module trapped: ${e.message} (an expert index outside 0..E-1, or a token id outside the vocabulary?)`);
        throw e;
      }
      const out: Record<string, Tensor> = {};
      for (const o of program.outputs) {
        const data = got[o.name];
        out[o.name] = data instanceof Int32Array ? { dtype: 'i32', shape: outputShape(o.buffer, T), data } : { dtype: 'f32', shape: outputShape(o.buffer, T), data };
      }
      return out;
    },
    dispose() {},
  };
}

export const wasmBackend: Backend = {
  name: 'wasm',
  emit: emitWasm,
  load: loadWasm,
  /** The blob the loader places at `manifest.weights.base` (`moec pack --target wasm-simd128`): row-major, at the manifest's offsets. */
  packWeights: (program, target, weights, opts) => rowMajorPack(program, target, wasmWeightLayout(program, target.alignment), weights, opts?.onProgress),
};
