/**
 * @fileoverview The driver: what the CLI and the API do, as plain functions. Reading a
 * `.moe` file, lowering and verifying it, choosing weights and inputs (seeded random or
 * safetensors), and running the reference interpreter or a backend. What of it needs no
 * Node (compiling text, seeded weights and inputs) is `driver-core.ts`, re-exported here.
 */
import { type Module, mainFunc } from '../ir/graph/graph.ts';
import { interpret } from '../ir/graph/interp.ts';
import { type SafetensorsFile, readSafetensors } from '../ir/safetensors.ts';
import { openCheckpoint } from '../ir/checkpoint.ts';
import { checkRunBytes, weightsFromSafetensors, missingTensorHint } from './checkpoint/load-weights.ts';
import { streamWeightsFromCheckpoint } from './checkpoint/stream-weights.ts';
import { readUserText } from '../ir/user-file.ts';
import { loadModelFile } from './model-file.ts';
import type { Tensor } from '../ir/tensor.ts';
import { type DType, isFloatDType } from '../ir/types.ts';
import type { Span } from '../ir/source.ts';
import { fail } from '../ir/diagnostics.ts';
import type { QuantScheme } from '../ir/quant.ts';
import type { KProgram } from '../ir/kernel/kernel.ts';
import { checkTokenCount } from '../ir/kernel/token-bound.ts';
import type { TargetCaps } from './target/caps.ts';
import { loadTarget } from './target/load.ts';
import { DEFAULT_TARGET, getBackend } from './backends/registry.ts';
import type { LoadedModel } from './backends/backend.ts';
import { stateBuffers } from './backends/state-caches.ts';
import { type Agreement, agreement } from './compare.ts';
import { type CapsCompileOptions, type CompileOptions, bindDims, compile, compileForCaps, quantizeModule, randomInputs, randomWeights } from './driver-core.ts';

// The half that needs no Node lives in driver-core.ts (the browser entry uses it); the API takes both from here.
export { weightsFromSafetensors } from './checkpoint/load-weights.ts';
export { bindDims, compile, compileForCaps, parse, quantizeModule, quantScheme, randomInputs, randomWeights, tensorStats } from './driver-core.ts';
export type { CapsCompileOptions, CompileOptions } from './driver-core.ts';

/** Reads a user's text file (`.moe`, config.json): regular files only, E501 saying why otherwise. */
export { readUserText as readText } from '../ir/user-file.ts';

/**
 * Reads and compiles a model: a `.moe` file, or a Hugging Face config.json, a model directory
 * or a `.gguf` file through the importer (`consts` override its named constants too).
 */
export function compileFile(path: string, opts: Omit<CompileOptions, 'path'> = {}): Module {
  return loadModelFile(path, opts).module;
}

/** Takes the model's inputs from a safetensors file, by input name. */
export function inputsFromSafetensors(m: Module, file: SafetensorsFile, path: string, f64 = false): Record<string, Tensor> {
  const names = new Set(file.names());
  const out: Record<string, Tensor> = {};
  for (const p of mainFunc(m).params) {
    if (!names.has(p.name)) fail('E503', `${path} has no input tensor \`${p.name}\``, p.span, missingTensorHint(file, p.name, 'name the tensors of an --inputs file after the model\'s inputs'));
    const t = file.get(p.name, { f64 });
    // Token ids as torch saves them (int64): the reader has checked each fits in int32, the
    // dtype moec computes ids in, so an i64 tensor serves an i32 input as it is.
    out[p.name] = t.dtype === 'i64' && p.type.dtype === 'i32' ? { ...t, dtype: 'i32' } : floatInput(t, p, f64, path);
  }
  return out;
}

/**
 * A float input as the run computes it: under `--f64` an F64 tensor (inputs, KV caches) serves
 * any float input, its values kept in float64 as the run keeps everything; in f32 an F64
 * tensor is refused (E504), with the flag that takes it, rather than rounded behind the
 * user's back.
 */
function floatInput(t: Tensor, p: { name: string; type: { dtype: DType }; span?: Span }, f64: boolean, path: string): Tensor {
  const declared = p.type.dtype;
  if (t.dtype !== 'f64' || declared === 'f64' || !isFloatDType(declared)) return t;
  if (f64) return { ...t, dtype: declared };
  fail('E504', `${path}: input \`${p.name}\` is f64[${t.shape.join(', ')}], but the model declares it ${declared}`, p.span, 'pass --f64 to run the reference interpreter in float64 on float64 inputs, or store the tensor as F32');
}

/** A size read off an inputs file: its value, and the tensor and axis it came from. */
export interface SizeFromInput {
  value: number;
  tensor: string;
  axis: number;
}

/**
 * The symbolic sizes an inputs file fixes: for every input declared with a plain size
 * (`T`, `L`) along an axis, that axis's length in the file. Two inputs that disagree on a
 * size are E504, naming both. Reads headers only.
 */
export function sizesFromInputs(m: Module, file: SafetensorsFile, path: string): Record<string, SizeFromInput> {
  const out: Record<string, SizeFromInput> = {};
  for (const p of mainFunc(m).params) {
    if (!file.has(p.name)) continue; // missing: E503 when the inputs are read
    const { shape } = file.info(p.name);
    if (shape.length !== p.type.shape.length) continue; // E504 when read, with both shapes
    p.type.shape.forEach((d, axis) => {
      if (typeof d === 'number' || d.c !== 0 || d.terms.length !== 1 || d.terms[0][1] !== 1) return;
      const name = d.terms[0][0];
      const seen = out[name];
      if (seen && seen.value !== shape[axis])
        fail('E504', `${path}: \`${seen.tensor}\` has ${seen.value} along axis ${seen.axis} and \`${p.name}\` ${shape[axis]} along axis ${axis}, but both are the size ${name}`, p.span, `the model declares both with ${name}: write them with the same ${name}`);
      out[name] ??= { value: shape[axis], tensor: p.name, axis };
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Running.

export interface RunOptions {
  /** The token count `T` (and any other symbolic sizes through `bindings`). */
  tokens?: number;
  bindings?: Record<string, number>;
  /** Seed for random weights and inputs (default 0). */
  seed?: number;
  /** Weights by name, or a checkpoint to read them from (.safetensors, index.json, or a directory). */
  weights?: Record<string, Tensor> | string;
  /** Told about notable conversions while loading a checkpoint (e.g. fp8 dequantized to f32). */
  note?: (message: string) => void;
  /** Told as a checkpoint (`weights` as a path) loads: bytes read so far and in all, and the tensor. */
  onLoadProgress?: (doneBytes: number, totalBytes: number, name: string) => void;
  /** Inputs by name, or a safetensors path to read them from. */
  inputs?: Record<string, Tensor> | string;
  /** Compute in float64 instead of float32. */
  f64?: boolean;
  /** The reference interpreter runs it (`run`); for a backend, see `runOnBackend`. */
  backend?: 'ref';
}

export interface RunResult {
  outputs: Record<string, Tensor>;
  inputs: Record<string, Tensor>;
  bindings: Record<string, number>;
}

/** Runs a module on the reference interpreter with seeded or given weights and inputs. */
export function run(m: Module, opts: RunOptions = {}): RunResult {
  const bindings = bindDims(m, opts);
  const seed = opts.seed ?? 0;
  const f64 = opts.f64 ?? false;
  checkRunBytes(m, bindings, f64, typeof opts.weights === 'string' ? 'checkpoint' : 'seeded');
  const weights =
    typeof opts.weights === 'string' ? weightsFromSafetensors(m, openCheckpoint(opts.weights), opts.weights, { f64, note: opts.note, onProgress: opts.onLoadProgress }) : (opts.weights ?? randomWeights(m, seed, f64));
  const inputs =
    typeof opts.inputs === 'string' ? inputsFromSafetensors(m, readSafetensors(opts.inputs), opts.inputs, f64) : (opts.inputs ?? randomInputs(m, bindings, seed, f64));
  const outputs = interpret(m, { bindings, inputs, weights, f64 });
  return { outputs, inputs, bindings };
}

// ---------------------------------------------------------------------------------------
// Compiling for a target.

export interface TargetCompileOptions extends Omit<CapsCompileOptions, 'target'> {
  /** A target name (`x86-avx2`), a `.yaml` path, or a loaded capability sheet. */
  target: string | TargetCaps;
}

/** Runs the whole pipeline: fused graph IR and the tiled, planned kernel program. */
export function compileModel(m: Module, opts: TargetCompileOptions): { graph: Module; program: KProgram; target: TargetCaps; maxTokens: number } {
  return compileForCaps(m, { ...opts, target: typeof opts.target === 'string' ? loadTarget(opts.target) : opts.target });
}

// ---------------------------------------------------------------------------------------
// Running on a backend.

export interface BackendRunOptions extends Omit<RunOptions, 'backend' | 'f64'> {
  /** `c`, `wasm` or `wgsl`. */
  backend: string;
  /** A target of that backend (default: the backend's usual one, e.g. x86-avx2 for c). */
  target?: string | TargetCaps;
  /** Token bound to compile for (default: the model's bound on `T`, else `DEFAULT_MAX_TOKENS` or the run's token count if larger). */
  maxTokens?: number;
  /** Context bound to compile a model with KV caches for (default: the run's L + T; see `runContextBound`). */
  maxContext?: number;
  /** Also run the reference interpreter on the same inputs and report the agreement. */
  check?: boolean;
  /**
   * Store GEMM weights quantized (a scheme name or a scheme); with `check`, the reference
   * runs the quantized model too, and `quantError` says how far it is from the f32 one.
   */
  quantize?: string | QuantScheme;
  /** Expert parallelism: `chips` ranks (C over MPI), T split evenly over them; see `CapsCompileOptions`. */
  chips?: number;
  redundantExperts?: number;
  expertLoad?: CapsCompileOptions['expertLoad'];
  /** Wasm: run the threaded build on this many threads (`moec run --threads N`). */
  threads?: number;
}

export interface BackendRunResult extends RunResult {
  /** Time of the backend's forward alone (not compiling or loading; for C, as its runner times it), ms. */
  forwardMs: number;
  /** Threads the forward ran on, where the backend says (Wasm). */
  threads?: number;
  /** With `check`: the reference outputs and each output's agreement with them. */
  reference?: Record<string, Tensor>;
  agreement?: Record<string, Agreement>;
  /** With `check` and `quantize`: the quantized reference against the f32 reference, per output. */
  quantError?: Record<string, Agreement>;
  /**
   * What the f32 reference of `quantError` ran on: `f32` weights, or a checkpoint that was
   * already quantized, `dequantized` (its weights named in `dequantizedWeights`): then
   * `quantError` is what requantizing adds (0 for the same scheme), not the error of
   * quantizing, which needs the original f32 checkpoint.
   */
  quantErrorBase?: 'f32' | 'dequantized';
  dequantizedWeights?: string[];
}

/**
 * The context bound a backend run compiles for. A model whose KV caches are inputs (`dim L`,
 * a decoder from `moec import`) runs with them as state the program owns (lower-attention's
 * `cachesToState`), as `moec generate` does: L + T positions, or `maxContext` when given (E505
 * when that cannot hold them). Without L, `maxContext` as given.
 */
export function runContextBound(bindings: Record<string, number>, maxContext?: number): number | undefined {
  const { L, T } = bindings;
  if (L === undefined || T === undefined) return maxContext;
  if (maxContext !== undefined && maxContext < L + T)
    fail('E505', `--max-context ${maxContext} cannot hold L + T = ${L} + ${T} = ${L + T} positions`, undefined, `give --max-context ${L + T} or more, or leave it out (the run's L + T)`);
  return maxContext ?? L + T;
}

/**
 * One forward of a loaded program on a run's inputs. A program with state (its KV caches
 * compiled as state) takes the caches among the inputs through `loadCaches` (positions
 * 0..L-1, as the graph takes them) and the rest through `forward` with { T, L }: the same
 * state kernels a generation runs. Any other program takes all its inputs.
 */
export async function forwardRun(loaded: LoadedModel, program: KProgram, backend: string, inputs: Record<string, Tensor>, bindings: Record<string, number>): Promise<Record<string, Tensor>> {
  if (program.maxContext === undefined) return loaded.forward(inputs, bindings);
  if (!loaded.loadCaches) fail('E701', `the ${backend} backend cannot load KV caches into a model's state yet`, undefined, 'run it on --backend ref, or on a backend that runs attention with the caches as state');
  const state = new Set(stateBuffers(program).map((b) => b.name));
  const caches = Object.fromEntries(Object.entries(inputs).filter(([name]) => state.has(name)));
  const rest = Object.fromEntries(Object.entries(inputs).filter(([name]) => !state.has(name)));
  loaded.loadCaches(caches, bindings.L ?? 0);
  return loaded.forward(rest, bindings);
}

/** Compiles the module for a backend's target, loads it here and runs it once. */
export async function runOnBackend(m: Module, opts: BackendRunOptions): Promise<BackendRunResult> {
  const backend = await getBackend(opts.backend);
  const bindings = bindDims(m, opts);
  // A checkpoint streams into the backend's blob, never held whole, unless --check runs the
  // interpreter on it too (or it cannot be read by position: GGUF, loaded whole).
  const ckpt = typeof opts.weights === 'string' ? openCheckpoint(opts.weights) : undefined;
  const streamed = ckpt?.readRange !== undefined && !opts.check;
  checkRunBytes(m, bindings, false, streamed ? 'streamed' : ckpt ? 'checkpoint' : 'seeded');
  const seed = opts.seed ?? 0;
  const qm = opts.quantize !== undefined ? quantizeModule(m, opts.quantize) : m;
  // A checkpoint loads into the quantized declarations, so codes of the same scheme are used as they are.
  const weights =
    typeof opts.weights === 'string'
      ? (streamed ? streamWeightsFromCheckpoint : weightsFromSafetensors)(qm, ckpt!, opts.weights, { note: opts.note, onProgress: opts.onLoadProgress })
      : (opts.weights ?? randomWeights(m, seed));
  const inputs = typeof opts.inputs === 'string' ? inputsFromSafetensors(m, readSafetensors(opts.inputs), opts.inputs) : (opts.inputs ?? randomInputs(m, bindings, seed));
  const target = typeof opts.target === 'object' ? opts.target : loadTarget(opts.target ?? DEFAULT_TARGET[backend.name]);
  if (target.backend !== backend.name) fail('E505', `target ${target.name} is for the ${target.backend} backend, not ${backend.name}`, undefined, `use --target ${DEFAULT_TARGET[backend.name]}`);
  const tokens = bindings.T;
  // With --chips N each rank runs T / N of the tokens: the bound is per rank.
  const perRank = tokens !== undefined && (opts.chips ?? 1) > 1 ? Math.ceil(tokens / opts.chips!) : tokens;
  const maxContext = runContextBound(bindings, opts.maxContext);
  const { program, maxTokens } = compileModel(qm, { target, maxTokens: opts.maxTokens, runTokens: perRank, maxContext, chips: opts.chips, redundantExperts: opts.redundantExperts, expertLoad: opts.expertLoad });
  // Before loading (a C build takes seconds): the run's T within the bound just compiled for.
  if (perRank !== undefined) checkTokenCount(perRank, maxTokens);
  const loaded = await backend.load(program, target, weights, opts.threads !== undefined ? { threads: opts.threads } : undefined);
  try {
    const t0 = performance.now();
    const outputs = await forwardRun(loaded, program, backend.name, inputs, bindings);
    const forwardMs = loaded.lastForwardMs ?? performance.now() - t0;
    const ran = loaded.threads !== undefined ? { threads: loaded.threads } : {};
    if (!opts.check) return { outputs, inputs, bindings, forwardMs, ...ran };
    const reference = interpret(qm, { bindings, inputs, weights });
    const agree: Record<string, Agreement> = {};
    for (const [name, t] of Object.entries(reference)) agree[name] = agreement(outputs[name], t);
    if (qm === m) return { outputs, inputs, bindings, forwardMs, ...ran, reference, agreement: agree };
    // The f32 model on the checkpoint's own values (an already quantized one: dequantized).
    // Loading notes name each weight the checkpoint held as codes (dequantized for the f32 model).
    const dequantized: string[] = [];
    const noteDequantized = (message: string): void => void dequantized.push(/^`([^`]+)`/.exec(message)?.[1] ?? message);
    const f32Weights = typeof opts.weights === 'string' ? weightsFromSafetensors(m, openCheckpoint(opts.weights), opts.weights, { note: noteDequantized }) : weights;
    const f32 = interpret(m, { bindings, inputs, weights: f32Weights });
    const quantError: Record<string, Agreement> = {};
    for (const [name, t] of Object.entries(reference)) quantError[name] = agreement(t, f32[name]);
    const base = dequantized.length > 0 ? { quantErrorBase: 'dequantized' as const, dequantizedWeights: dequantized } : { quantErrorBase: 'f32' as const };
    return { outputs, inputs, bindings, forwardMs, ...ran, reference, agreement: agree, quantError, ...base };
  } finally {
    loaded.dispose();
  }
}
