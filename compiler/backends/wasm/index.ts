/**
 * @fileoverview The WebAssembly backend: `emit` writes `model.wasm`, its text `model.wat`
 * and the loader's manifest `model.json`; `load` builds the same module, packs the weights
 * into the manifest's blob layout and runs it here through the loader (`loader.ts`, the one
 * a web page uses too). `packWeights` writes the blob that loader reads (`moec pack`).
 */
import { evalShape, sym } from '../../../ir/dims.ts';
import { pastOf } from '../../../ir/kernel/attention.ts';
import { stateFromCaches, checkContext } from '../state-caches.ts';
import type { KProgram } from '../../../ir/kernel/kernel.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { type TargetCaps, programVectorKind } from '../../target/caps.ts';
import { checkTokenCount } from '../../../ir/kernel/token-bound.ts';
import type { Backend, EmitOptions, EmittedFiles, LoadedModel } from '../backend.ts';
import { refuseWasmOutOfMemory } from '../../../ir/out-of-memory.ts';
import { blobSource, rowMajorPack, rowMajorWrite, weightBlob } from '../weights.ts';
import { wasmWeightLayout } from './layout.ts';
import { engineHasRelaxedSimd, usesRelaxedSimd, withRelaxedSimd } from './features.ts';
import { MoecWasmModel, loadWasmModel } from './loader.ts';
import { PAST } from './env.ts';
import { canRunThreads } from './threads.ts';
import { type BuiltModule, buildModule } from './module.ts';

/** The relaxed SIMD build beside `model.wasm` (same layout), for engines that offer it. */
export const RELAXED_MODULE_FILE = 'model.relaxed.wasm';

/** The threaded build beside `model.wasm` (`moec compile --threads N`) and its manifest. */
export const THREADED_MODULE_FILE = 'model.threads.wasm';
export const THREADED_MANIFEST_FILE = 'model.threads.json';

/**
 * `model.wasm` for the target as its sheet says, its text and manifest; for a SIMD128 target
 * without fma also `model.relaxed.wasm`, the same module with relaxed SIMD multiply-adds,
 * which the manifest names so that a loader picks it where the engine offers relaxed SIMD.
 * With `threads` above 1, also the threaded build for up to that many threads (shared
 * memory, its own layout: `model.threads.wasm` with `model.threads.json`), named in the
 * manifest too.
 */
export function emitWasm(program: KProgram, target: TargetCaps, opts: EmitOptions = {}): EmittedFiles {
  const built = buildModule(program, target);
  const relaxedCaps = withRelaxedSimd(target);
  const relaxed = relaxedCaps !== target && programVectorKind(program, target) === 'simd128' ? buildModule(program, relaxedCaps) : undefined;
  const max = Math.floor(opts.threads ?? 1);
  const threaded = max > 1 ? buildModule(program, target, { threads: max }) : undefined;
  const manifest = {
    ...built.manifest,
    ...(relaxed ? { relaxedSimdModule: RELAXED_MODULE_FILE } : {}),
    ...(threaded ? { threadedModule: { module: THREADED_MODULE_FILE, manifest: THREADED_MANIFEST_FILE, max } } : {}),
  };
  return {
    'model.wasm': built.binary,
    'model.wat': built.text,
    'model.json': `${JSON.stringify(manifest, null, 2)}\n`,
    ...(relaxed ? { [RELAXED_MODULE_FILE]: relaxed.binary } : {}),
    ...(threaded ? { [THREADED_MODULE_FILE]: threaded.binary, [THREADED_MANIFEST_FILE]: `${JSON.stringify(threaded.manifest, null, 2)}\n` } : {}),
  };
}

export interface WasmLoadOptions {
  /**
   * Relaxed SIMD multiply-adds in the GEMM micro-kernels: `auto` (default) where this engine
   * validates them (probed here, at load), `off` for the SIMD128 build, `on` to require them.
   */
  relaxedSimd?: 'auto' | 'on' | 'off';
  /**
   * Threads (default 1): above 1, the threaded build (shared memory, workers; `threads.ts`)
   * where this context can run it (`canRunThreads`), else one thread.
   */
  threads?: number;
}

/** The caps the module is built with on this engine: the target's, plus relaxed SIMD where chosen and offered. */
export function loadCaps(target: TargetCaps, opts: WasmLoadOptions = {}): TargetCaps {
  const mode = opts.relaxedSimd ?? 'auto';
  if (mode === 'off' || usesRelaxedSimd(target)) return target;
  if (mode === 'on' && !engineHasRelaxedSimd()) fail('E505', 'this WebAssembly engine does not offer relaxed SIMD (f32x4.relaxed_madd)', undefined, 'Node 20 needs --experimental-wasm-relaxed-simd; Node 22 and Chrome 114 have it');
  return mode === 'on' || engineHasRelaxedSimd() ? withRelaxedSimd(target) : target;
}

export interface WasmLoaded extends LoadedModel {
  model: MoecWasmModel;
  built: BuiltModule;
}

/** Builds, instantiates and fills the module with the program's packed weights. */
export async function loadWasm(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>, opts: WasmLoadOptions = {}): Promise<WasmLoaded> {
  const threads = (opts.threads ?? 1) > 1 && canRunThreads() ? Math.floor(opts.threads!) : 1;
  const built = buildModule(program, loadCaps(target, opts), { threads });
  const blob = weightBlob(built.layout.weights, blobSource(program, weights));
  let model: MoecWasmModel;
  try {
    model = await loadWasmModel(built.binary, built.manifest, blob, { threads });
  } catch (e) {
    refuseWasmOutOfMemory(e);
    throw e;
  }
  const outputShape = (buffer: string, T: number): number[] => evalShape(program.buffers.find((b) => b.name === buffer)!.shape, { T });
  return {
    model,
    built,
    threads: model.threads,
    async forward(inputs, bindings) {
      const T = bindings.T;
      checkTokenCount(T, built.manifest.maxTokens);
      const state = built.manifest.state;
      const L = state ? pastOf({ kind: 'forward', past: sym(PAST) }, bindings) : 0;
      if (state) checkContext(L, T, state.maxContext);
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
        got = model.forwardAll(given, T, L);
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
    ...(built.manifest.state
      ? {
          reset: () => model.reset(),
          loadCaches: (caches: Record<string, Tensor>, L: number) => {
            for (const s of stateFromCaches(program, caches, L)) model.setCache(s.name, s.data);
          },
        }
      : {}),
    dispose: () => model.dispose(),
  };
}

export const wasmBackend: Backend = {
  name: 'wasm',
  decoderOps: ['attention', 'mla_attention'],
  emit: emitWasm,
  load: loadWasm,
  /** The blob the loader places at `manifest.weights.base` (`moec pack --target wasm-simd128`): row-major, at the manifest's offsets. */
  packWeights: (program, target, weights, opts) => rowMajorPack(program, target, wasmWeightLayout(program, target.alignment), weights, opts?.onProgress),
  writeWeights: (program, target, weights, write, opts) => rowMajorWrite(program, target, wasmWeightLayout(program, target.alignment), weights, write, opts?.onProgress),
};
