/**
 * @fileoverview moec's WebAssembly backend as benchmark runners: the SIMD128 build
 * (`moec-wasm`, target wasm-simd128), the scalar build (`moec-wasm-scalar`), and the
 * SIMD128 build with quantized weights (`moec-wasm-i8`, `-i4`, `-fp8`: `--quantize` i8 per
 * channel, i4 in groups of 32, fp8 e4m3fn in groups of 128; codes and scales in linear
 * memory, dequantized in registers) at T = 1, where streaming the weights dominates: each is
 * charged its own bytes (codes + scales, bench/cost.ts) and compared with `moec-wasm` (its
 * `baseline`), as the quantized C runners are; `moec-wasm-relaxed` (f32x4.relaxed_madd in the GEMM
 * micro-kernels) and `moec-wasm-mt` (the threaded build on every core) are compared with it too. Each
 * workload is compiled once for T <= 256, instantiated synchronously in this Node and
 * `forward(x, T)` is timed (writing the input and copying the output out included, as a
 * caller sees it). Judged against the Wasm limits measured in the same run
 * (`wasm-limits.ts`): the SIMD128 (or scalar) multiply-add loop and the v128 streaming loop.
 */
import { availableParallelism } from 'node:os';
import v8 from 'node:v8';
import { engineHasRelaxedSimd, withRelaxedSimd } from '../../compiler/backends/wasm/features.ts';
import { instantiateThreaded, instantiateWasmModel, type MoecWasmModel } from '../../compiler/backends/wasm/loader.ts';
import { canRunThreads } from '../../compiler/backends/wasm/threads.ts';
import { buildModule } from '../../compiler/backends/wasm/module.ts';
import { blobSource, weightBlob } from '../../compiler/backends/weights.ts';
import { cachedBlob } from '../weight-cache.ts';
import { compileModel, quantizeModule } from '../../compiler/driver.ts';
import { type Module, mainFunc } from '../../ir/graph/graph.ts';
import { forwardCost } from '../cost.ts';
import type { BenchCase, Runner } from '../runner.ts';
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

/**
 * A variant of the SIMD128 build: `relaxed`, the GEMM micro-kernels with relaxed SIMD's
 * f32x4.relaxed_madd (Node 20 offers it behind --experimental-wasm-relaxed-simd, which the
 * runner turns on in this process; its roof stays the SIMD128 multiply-add loop, the peak the
 * target is stated against); `threads`, the threaded build on this thread and threads - 1
 * worker_threads sharing its memory (its roof: the SIMD128 loop times the threads).
 */
interface Variant {
  relaxed?: boolean;
  threads?: number;
}

function wasmRunner(id: string, target: string, simd: boolean, quantize?: string, variant: Variant = {}): Runner {
  const models = new Map<string, MoecWasmModel>();
  const threads = variant.threads ?? 1;
  /** The workload's module with its GEMM weights quantized (once per workload), for the cost. */
  const quantized = new Map<string, Module>();
  const quantModule = (c: BenchCase): Module => {
    let m = quantized.get(c.workload.name);
    if (!m) quantized.set(c.workload.name, (m = quantizeModule(c.module, quantize!)));
    return m;
  };
  const model = async (c: Parameters<Runner['measure']>[0]): Promise<MoecWasmModel> => {
    let m = models.get(c.workload.name);
    if (!m) {
      const { program, target: sheet } = compileModel(c.module, { target, maxTokens: Math.max(...TOKEN_COUNTS), quantize });
      const caps = variant.relaxed ? withRelaxedSimd(sheet) : sheet;
      const built = buildModule(program, caps, { threads });
      const dims = Object.fromEntries(c.module.dims.map((d) => [d.name, built.manifest.maxTokens]));
      const blob = cachedBlob(c.weightsKey, `wasm ${JSON.stringify(caps)}`, program, () => weightBlob(built.layout.weights, blobSource(program, c.weights, dims)));
      const module = new WebAssembly.Module(built.binary as Uint8Array<ArrayBuffer>);
      for (const old of models.values()) old.dispose();
      models.clear(); // one workload's memory at a time
      m = threads > 1 ? await instantiateThreaded(module, built.manifest, blob, threads) : instantiateWasmModel(module, built.manifest, blob);
      models.set(c.workload.name, m);
    }
    return m;
  };
  const init = async (): Promise<void> => {
    if (variant.relaxed) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    await initWasmLimits();
  };
  const kernels = `${simd ? 'SIMD128 f32x4 kernels' : 'scalar f32 kernels'}${variant.relaxed ? ' with f32x4.relaxed_madd' : ''}`;
  return {
    id,
    init,
    about: () =>
      `moec wasm backend, ${target} (${kernels}${quantize ? `, ${quantize} weights dequantized in registers` : ''}), ${threads > 1 ? `${threads} threads (this one and ${threads - 1} worker_threads over shared memory)` : '1 thread'}, Node ${process.version} (V8 ${process.versions.v8})`,
    roof: () =>
      limits
        ? {
            gflops: threads * (simd ? limits.simdGflops : limits.scalarGflops),
            gbps: limits.streamGBps,
            computeFrom: `${simd ? 'Wasm SIMD128 multiply-add loop (f32x4.mul + f32x4.add)' : 'Wasm scalar f32 multiply-add loop'}${threads > 1 ? `, times ${threads} threads` : ''}`,
            bandwidthFrom: `Wasm v128.load streaming sum over ${limits.streamMiB} MiB`,
          }
        : null,
    skip: (c) =>
      quantize && c.tokens !== 1
        ? 'quantized weights are benchmarked at T = 1 (decode), where streaming the weights dominates'
        : variant.relaxed && !engineHasRelaxedSimd()
          ? `this V8 (${process.versions.v8}) does not offer relaxed SIMD, even with --experimental-wasm-relaxed-simd`
          : threads > 1 && !canRunThreads()
            ? 'no SharedArrayBuffer in this Node'
            : null,
    ...(quantize ? { cost: (c: BenchCase) => forwardCost(quantModule(c), c.bindings) } : {}),
    ...(quantize || variant.relaxed || threads > 1 ? { baseline: 'moec-wasm' } : {}),
    measure: async (c, plan) => {
      const m = await model(c);
      const x = c.inputs[mainFunc(c.module).params[0].name].data as Float32Array;
      return sample(() => m.forward(x, c.tokens), plan);
    },
  };
}

export const moecWasm = wasmRunner('moec-wasm', 'wasm-simd128', true);
export const moecWasmScalar = wasmRunner('moec-wasm-scalar', 'wasm-scalar', false);
/** `moec-wasm` with quantized weights: `moec-wasm-i8` (per channel), `-i4` (groups of 32), `-fp8` (groups of 128). */
export const moecWasmQuant = ['i8', 'i4', 'fp8'].map((s) => wasmRunner(`moec-wasm-${s}`, 'wasm-simd128', true, s));
/** `moec-wasm` with relaxed SIMD multiply-adds (f32x4.relaxed_madd). */
export const moecWasmRelaxed = wasmRunner('moec-wasm-relaxed', 'wasm-simd128', true, undefined, { relaxed: true });
/** `moec-wasm` threaded over this machine's cores (shared memory, worker_threads, a barrier in shared memory). */
export const moecWasmThreads = wasmRunner('moec-wasm-mt', 'wasm-simd128', true, undefined, { threads: Math.max(2, availableParallelism()) });
