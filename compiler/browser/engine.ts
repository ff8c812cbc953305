/**
 * @fileoverview What a session runs on, in this thread: a Wasm instance or WebGPU pipelines,
 * loaded either from a `.moe` text compiled here (any provider) or from the files `moec
 * compile` wrote (`model.wasm`, `model.json`, `weights.bin`: Wasm). Every engine describes its
 * inputs and outputs the way the Wasm manifest does (sizes linear in the token count `T`),
 * which is plain data, so a worker can send it to the page (`protocol.ts`).
 */
import { evalShape } from '../../ir/dims.ts';
import { MoecError } from '../../ir/diagnostics.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { numel } from '../../ir/tensor.ts';
import type { Backend, LoadedModel } from '../backends/backend.ts';
import { withDecoderOpsRefused } from '../backends/decoder-ops.ts';
import { BROWSER_GPU } from '../backends/wgsl/gpu.ts';
import { type MoecWasmModel, type WasmManifest, type WasmWeights, loadWasmModel } from '../backends/wasm/loader.ts';
import type { TokenLinear } from '../backends/wasm/manifest.ts';
import { compile, compileForCaps, randomWeights } from '../driver-core.ts';
import type { TargetCaps } from '../target/caps.ts';
import { parseTarget } from '../target/parse.ts';
import { SHIPPED_SHEETS } from '../target/sheets.ts';

/** `wasm` (WebAssembly, SIMD128 unless the target says scalar) or `webgpu` (WGSL). */
export type ExecutionProvider = 'wasm' | 'webgpu';

/** A model input or output: its size and shape as c + t·T (plain data). */
export interface IoInfo {
  name: string;
  elements: TokenLinear;
  shape: Array<number | TokenLinear>;
}

/** A `.moe` model to compile here. */
export interface MoeSource {
  /** The `.moe` text. */
  moe: string;
  /** Name used in diagnostics (default `<input>`). */
  path?: string;
  /** A shipped sheet's name (`wasm-simd128`, `wasm-scalar`, `webgpu`), a sheet's YAML text, or caps (default: the provider's usual target). */
  target?: string | TargetCaps;
  /** Seed of the random weights (default 0), as `moec run --seed`. */
  seed?: number;
  /** Weights by name instead of seeded ones. */
  weights?: Record<string, Tensor>;
  /** Token bound to compile for (default: the model's bound on T, else moec's default). */
  maxTokens?: number;
  /** Overrides for file-level constants (`--set`). */
  consts?: Record<string, number>;
  /** Store GEMM weights quantized (`i8`, `i4`, `i4g128`, `fp8`). */
  quantize?: string;
  /**
   * The context bound (`--max-context`): the model's KV caches become state the session keeps
   * between runs (on WebGPU, GPU buffers that never leave the device), each run appending its
   * tokens after the positions already cached; `reset` empties them.
   */
  maxContext?: number;
}

/** What `moec compile --target wasm-* -o DIR --seed S` wrote (Wasm only). */
export interface WasmFilesSource {
  wasm: BufferSource | WebAssembly.Module;
  manifest: WasmManifest;
  weights: WasmWeights;
}

export type SessionSource = MoeSource | WasmFilesSource;

export interface Engine {
  provider: ExecutionProvider;
  /** The target and, for WebGPU, the adapter, in words. */
  description: string;
  /** Threads each forward runs on (Wasm's threaded build: `threads` asked, and a cross-origin isolated worker); else 1. */
  threads: number;
  maxTokens: number;
  /** With state (a `maxContext` given): the positions the caches hold. */
  maxContext?: number;
  inputs: IoInfo[];
  outputs: IoInfo[];
  /** One forward at token count T (with state: after L cached positions); outputs by name. */
  run(feeds: Record<string, Float32Array>, T: number, L?: number): Promise<Record<string, Float32Array>>;
  /** With state: empties the caches. */
  reset(): void;
  release(): void;
}

/** The provider's target when none is given. */
export const DEFAULT_BROWSER_TARGET: Record<ExecutionProvider, string> = { wasm: 'wasm-simd128', webgpu: 'webgpu' };

const BACKEND_OF: Record<ExecutionProvider, TargetCaps['backend']> = { wasm: 'wasm', webgpu: 'wgsl' };

/**
 * A target for a page: a shipped sheet by name (bundled as data), else YAML text to parse.
 * A name that is neither is E604, as `--target` says it in the CLI.
 */
export function browserTarget(target: string | TargetCaps): TargetCaps {
  if (typeof target !== 'string') return target;
  if (Object.hasOwn(SHIPPED_SHEETS, target)) return parseTarget(SHIPPED_SHEETS[target], `${target}.yaml`);
  if (!/[:\n]/.test(target))
    throw new MoecError({ code: 'E604', message: `unknown target \`${target}\``, hint: `shipped targets: ${Object.keys(SHIPPED_SHEETS).join(', ')}; or give a sheet's YAML text` });
  return parseTarget(target, '<target>');
}

/**
 * The backend of each provider, as the browser has it (WebGPU from `navigator.gpu`), loaded on
 * first use: the Wasm backend brings binaryen (15 MB of script), which a page that runs
 * WebGPU only, or runs its session in a worker, never loads on its main thread.
 */
export async function browserBackend(provider: ExecutionProvider): Promise<Backend> {
  const backend = provider === 'wasm' ? (await import('../backends/wasm/index.ts')).wasmBackend : (await import('../backends/wgsl/index.ts')).wgslBackendOn(BROWSER_GPU);
  return withDecoderOpsRefused(backend);
}

/** A dim's value as c + t·T (the programs a page runs bind only T at run time). */
function linear(at: (T: number) => number): TokenLinear {
  const one = at(1);
  const t = at(2) - one;
  return { c: one - t, t };
}

/** Inputs and outputs of a program, as the Wasm manifest describes them. */
function programIo(p: KProgram, list: ReadonlyArray<{ name: string; buffer: string }>): IoInfo[] {
  return list.map(({ name, buffer }) => {
    const shape = p.buffers.find((b) => b.name === buffer)!.shape;
    return {
      name,
      elements: linear((T) => numel(evalShape(shape, { T }))),
      shape: shape.map((_, i) => {
        const d = linear((T) => evalShape(shape, { T })[i]);
        return d.t === 0 ? d.c : d;
      }),
    };
  });
}

/** Compiles a `.moe` text for the provider's target and loads it with seeded (or given) weights. */
async function moeEngine(source: MoeSource, provider: ExecutionProvider, opts: EngineOptions): Promise<Engine> {
  const target = browserTarget(source.target ?? DEFAULT_BROWSER_TARGET[provider]);
  if (target.backend !== BACKEND_OF[provider])
    throw new MoecError({ code: 'E505', message: `target ${target.name} is for the ${target.backend} backend, not ${provider}`, hint: `use the target ${DEFAULT_BROWSER_TARGET[provider]}` });
  const m = compile(source.moe, { path: source.path, consts: source.consts });
  const { program, maxTokens } = compileForCaps(m, { target, maxTokens: source.maxTokens, quantize: source.quantize, ...(source.maxContext !== undefined ? { maxContext: source.maxContext } : {}) });
  const loaded: LoadedModel & { adapter?: string } = await (await browserBackend(provider)).load(program, target, source.weights ?? randomWeights(m, source.seed ?? 0), { threads: opts.threads });
  const inputs = programIo(program, program.inputs);
  const outputs = programIo(program, program.outputs);
  return {
    provider,
    description: loaded.adapter ? `${target.name} on ${loaded.adapter}` : target.name,
    threads: loaded.threads ?? 1,
    maxTokens,
    ...(program.maxContext !== undefined ? { maxContext: program.maxContext } : {}),
    inputs,
    outputs,
    async run(feeds, T, L) {
      const tensors: Record<string, Tensor> = {};
      for (const i of inputs) tensors[i.name] = { dtype: 'f32', shape: dimsAt(i, T), data: feeds[i.name] };
      const out = await loaded.forward(tensors, L === undefined ? { T } : { T, L });
      return Object.fromEntries(outputs.map((o) => [o.name, out[o.name].data instanceof Float32Array ? (out[o.name].data as Float32Array) : Float32Array.from(out[o.name].data)]));
    },
    reset: () => loaded.reset?.(),
    release: () => loaded.dispose(),
  };
}

/** Loads what `moec compile --target wasm-* -o DIR` wrote. */
async function wasmFilesEngine(source: WasmFilesSource, opts: EngineOptions): Promise<Engine> {
  const model: MoecWasmModel = await loadWasmModel(source.wasm, source.manifest, source.weights, { threads: opts.threads });
  const io = (slots: WasmManifest['inputs']): IoInfo[] => slots.map((s) => ({ name: s.name, elements: s.elements, shape: s.shape }));
  return {
    provider: 'wasm',
    description: source.manifest.target,
    threads: model.threads,
    maxTokens: source.manifest.maxTokens,
    ...(source.manifest.state ? { maxContext: source.manifest.state.maxContext } : {}),
    inputs: io(source.manifest.inputs),
    outputs: io(source.manifest.outputs),
    // The page's feeds and results are float32; an int32 tensor converts value by value.
    run: async (feeds, T, L) => Object.fromEntries(Object.entries(model.forwardAll(feeds, T, L)).map(([k, v]) => [k, v instanceof Float32Array ? v : Float32Array.from(v)])),
    reset: () => model.reset(),
    release: () => model.dispose(),
  };
}

export function isMoeSource(s: SessionSource): s is MoeSource {
  return typeof (s as MoeSource).moe === 'string';
}

/** How an engine runs: `threads` for Wasm (above 1: its threaded build where this context can run it). */
export interface EngineOptions {
  threads?: number;
}

/** The engine for a source on a provider (files are Wasm's only). */
export async function createEngine(source: SessionSource, provider: ExecutionProvider, opts: EngineOptions = {}): Promise<Engine> {
  if (provider !== 'wasm' && provider !== 'webgpu') throw new TypeError(`executionProvider must be 'wasm' or 'webgpu', not ${JSON.stringify(provider)}`);
  if (isMoeSource(source)) return moeEngine(source, provider, opts);
  if (provider !== 'wasm') throw new TypeError("a model given as its compiled files runs on the 'wasm' provider; for 'webgpu', give its .moe text ({ moe })");
  return wasmFilesEngine(source, opts);
}

/** An input's or output's shape at T. */
export function dimsAt(io: IoInfo, T: number): number[] {
  return io.shape.map((d) => (typeof d === 'number' ? d : d.c + d.t * T));
}
