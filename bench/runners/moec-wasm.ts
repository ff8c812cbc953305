/**
 * @fileoverview moec's WebAssembly backend as benchmark runners: the SIMD128 build
 * (`moec-wasm`, target wasm-simd128) and the scalar build (`moec-wasm-scalar`). Each
 * workload is compiled once for T <= 256, instantiated synchronously in this Node and
 * `forward(x, T)` is timed (writing the input and copying the output out included, as a
 * caller sees it). Judged against the Wasm limits measured in the same run
 * (`wasm-limits.ts`): the SIMD128 (or scalar) multiply-add loop and the v128 streaming loop.
 */
import { instantiateWasmModel, type MoecWasmModel } from '../../compiler/backends/wasm/loader.ts';
import { buildModule } from '../../compiler/backends/wasm/module.ts';
import { packWeights, weightBlob } from '../../compiler/backends/weights.ts';
import { compileModel } from '../../compiler/driver.ts';
import { mainFunc } from '../../ir/graph.ts';
import type { Runner } from '../runner.ts';
import { sample } from '../stats.ts';
import { measureWasmLimits, type WasmLimits } from '../wasm-limits.ts';
import { TOKEN_COUNTS } from '../workloads.ts';

let limits: WasmLimits | undefined;

/** The Wasm limits, measured once per run (at the first runner's `init`). */
export function wasmLimits(): WasmLimits | undefined {
  return limits;
}

export async function initWasmLimits(): Promise<void> {
  limits ??= measureWasmLimits(5);
}

function wasmRunner(id: string, target: string, simd: boolean): Runner {
  const models = new Map<string, MoecWasmModel>();
  const model = (c: Parameters<Runner['measure']>[0]): MoecWasmModel => {
    let m = models.get(c.workload.name);
    if (!m) {
      const { program, target: caps } = compileModel(c.module, { target, maxTokens: Math.max(...TOKEN_COUNTS) });
      const built = buildModule(program, caps);
      const dims = Object.fromEntries(c.module.dims.map((d) => [d.name, built.manifest.maxTokens]));
      const blob = weightBlob(built.layout.weights, packWeights(program, c.weights, dims));
      m = instantiateWasmModel(new WebAssembly.Module(built.binary as Uint8Array<ArrayBuffer>), built.manifest, blob);
      models.clear(); // one workload's memory at a time
      models.set(c.workload.name, m);
    }
    return m;
  };
  return {
    id,
    init: initWasmLimits,
    about: () => `moec wasm backend, ${target} (${simd ? 'SIMD128 f32x4 kernels' : 'scalar f32 kernels'}), 1 thread, Node ${process.version} (V8 ${process.versions.v8})`,
    roof: () =>
      limits
        ? {
            gflops: simd ? limits.simdGflops : limits.scalarGflops,
            gbps: limits.streamGBps,
            computeFrom: simd ? 'Wasm SIMD128 multiply-add loop (f32x4.mul + f32x4.add)' : 'Wasm scalar f32 multiply-add loop',
            bandwidthFrom: `Wasm v128.load streaming sum over ${limits.streamMiB} MiB`,
          }
        : null,
    skip: () => null,
    measure: (c, plan) => {
      const m = model(c);
      const x = c.inputs[mainFunc(c.module).params[0].name].data as Float32Array;
      return sample(() => m.forward(x, c.tokens), plan);
    },
  };
}

export const moecWasm = wasmRunner('moec-wasm', 'wasm-simd128', true);
export const moecWasmScalar = wasmRunner('moec-wasm-scalar', 'wasm-scalar', false);
