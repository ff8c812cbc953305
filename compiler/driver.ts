/**
 * @fileoverview The driver: what the CLI and the API do, as plain functions. Reading a
 * `.moe` file, lowering and verifying it, choosing weights and inputs (seeded random or
 * safetensors), and running the reference interpreter.
 */
import { readFileSync } from 'node:fs';
import { type Module, mainFunc } from '../ir/graph/graph.ts';
import { interpret } from '../ir/graph/interp.ts';
import { initScale, randomUniform } from '../ir/random.ts';
import { type SafetensorsFile, readSafetensors } from '../ir/safetensors.ts';
import { openCheckpoint } from '../ir/checkpoint.ts';
import { checkRunBytes, concreteShape, weightsFromSafetensors, missingTensorHint } from './checkpoint/load-weights.ts';
import { readUserText } from '../ir/user-file.ts';

export { weightsFromSafetensors } from './checkpoint/load-weights.ts';
import type { Tensor } from '../ir/tensor.ts';
import { didYouMean, fail } from '../ir/diagnostics.ts';
import { UsageError } from './usage-error.ts';
import { QUANT_SCHEMES, type QuantScheme } from '../ir/quant.ts';
import { runPasses } from './passes/manager.ts';
import { quantizeWeights } from './passes/quantize.ts';
import type { FileAst } from './frontend/ast.ts';
import { compileMoeText, parseMoeText } from './frontend/index.ts';
import type { KProgram } from '../ir/kernel/kernel.ts';
import { runPipeline } from './pipeline.ts';
import { checkTokenCount } from '../ir/kernel/token-bound.ts';
import type { TargetCaps } from './target/caps.ts';
import { loadTarget } from './target/load.ts';
import { DEFAULT_TARGET, getBackend } from './backends/registry.ts';
import { type Agreement, agreement } from './compare.ts';

export interface CompileOptions {
  /** Path printed in diagnostics (default `<input>`). */
  path?: string;
  /** Overrides for file-level constants, e.g. `{ D: 64, E: 16 }`. */
  consts?: Record<string, number>;
  /** Store GEMM weights quantized: a scheme name of `QUANT_SCHEMES` (`i8`, `i4`, `i4g128`, `fp8`) or a scheme. */
  quantize?: string | QuantScheme;
}

/** A `--quantize` scheme by name (`QUANT_SCHEMES`); a UsageError for an unknown one. */
export function quantScheme(s: string | QuantScheme): QuantScheme {
  if (typeof s !== 'string') return s;
  if (Object.hasOwn(QUANT_SCHEMES, s)) return QUANT_SCHEMES[s];
  throw new UsageError(`--quantize ${s}: no such scheme`, didYouMean(s, Object.keys(QUANT_SCHEMES)) ?? `schemes: ${Object.keys(QUANT_SCHEMES).join(', ')}`);
}

/**
 * The module with its GEMM weights quantized (the `quantize` pass): declarations and values
 * retyped; weights given as floats are quantized when they are loaded.
 */
export function quantizeModule(m: Module, scheme: string | QuantScheme): Module {
  return runPasses(m, [quantizeWeights], { quantize: quantScheme(scheme) }, { verifyEach: true });
}

/** Parses `.moe` text into its AST (syntax errors only). */
export function parse(text: string, path = '<input>'): FileAst {
  return parseMoeText(text, path);
}

/** Parses, lowers and verifies `.moe` text into a graph IR module (and quantizes it with `quantize`). */
export function compile(text: string, opts: CompileOptions = {}): Module {
  const m = compileMoeText(text, { path: opts.path, consts: opts.consts });
  return opts.quantize ? quantizeModule(m, opts.quantize) : m;
}

/** Reads a user's text file (`.moe`, config.json): regular files only, E501 saying why otherwise. */
export { readUserText as readText } from '../ir/user-file.ts';

/** Reads and compiles a `.moe` file. */
export function compileFile(path: string, opts: Omit<CompileOptions, 'path'> = {}): Module {
  return compile(readUserText(path), { ...opts, path });
}

// ---------------------------------------------------------------------------------------
// Weights and inputs.

/**
 * Seeded random weights: each weight is `randomUniform(name, seed, shape, initScale)`, so
 * the same seed gives the same numbers in every tool and backend (see ir/random.ts).
 */
export function randomWeights(m: Module, seed: number, f64 = false): Record<string, Tensor> {
  checkRunBytes(m, undefined, f64);
  const out: Record<string, Tensor> = {};
  for (const w of m.weights) {
    const shape = concreteShape(w.type.shape, {}, w);
    out[w.name] = randomUniform(w.name, seed, shape, initScale('weight', shape), f64);
  }
  return out;
}

/** Seeded random inputs for the main function's parameters at the given sizes. */
export function randomInputs(m: Module, bindings: Record<string, number>, seed: number, f64 = false): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  const main = mainFunc(m);
  for (const p of main.params) {
    const shape = concreteShape(p.type.shape, bindings, p);
    out[p.name] = randomUniform(p.name, seed, shape, initScale('input', shape), f64);
    if (p.type.dtype === 'i32') {
      // Integer inputs are token ids: uniform over the rows of the embedding table they index.
      const table = main.body.find((n) => n.op === 'embedding' && n.inputs[0] === p)?.inputs[1].type.shape[0];
      const rows = typeof table === 'number' ? table : 1;
      out[p.name] = { dtype: 'i32', shape, data: Int32Array.from(out[p.name].data, (u) => Math.min(rows - 1, Math.floor(((u / initScale('input', shape) + 1) / 2) * rows))) };
    }
  }
  return out;
}

/** Takes the model's inputs from a safetensors file, by input name. */
export function inputsFromSafetensors(m: Module, file: SafetensorsFile, path: string, f64 = false): Record<string, Tensor> {
  const names = new Set(file.names());
  const out: Record<string, Tensor> = {};
  for (const p of mainFunc(m).params) {
    if (!names.has(p.name)) fail('E503', `${path} has no input tensor \`${p.name}\``, p.span, missingTensorHint(file, p.name, 'name the tensors of an --inputs file after the model\'s inputs'));
    out[p.name] = file.get(p.name, { f64 });
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

/** Binds the module's symbolic sizes: `tokens` binds `T` (or the only dim). */
export function bindDims(m: Module, opts: Pick<RunOptions, 'tokens' | 'bindings'>): Record<string, number> {
  const bindings: Record<string, number> = { ...(opts.bindings ?? {}) };
  if (opts.tokens !== undefined) {
    const name = m.dims.some((d) => d.name === 'T') ? 'T' : m.dims.length === 1 ? m.dims[0].name : undefined;
    if (!name) fail('E505', '--tokens needs a dim named `T` in the model', undefined, 'declare `dim T` or bind sizes explicitly');
    bindings[name] = opts.tokens;
  }
  for (const d of m.dims) if (bindings[d.name] === undefined) fail('E505', `no value for the size \`${d.name}\``, d.span, d.name === 'T' ? 'pass --tokens N' : `bind ${d.name}`);
  return bindings;
}

/** Runs a module on the reference interpreter with seeded or given weights and inputs. */
export function run(m: Module, opts: RunOptions = {}): RunResult {
  const bindings = bindDims(m, opts);
  const seed = opts.seed ?? 0;
  const f64 = opts.f64 ?? false;
  checkRunBytes(m, bindings, f64);
  const weights =
    typeof opts.weights === 'string' ? weightsFromSafetensors(m, openCheckpoint(opts.weights), opts.weights, { f64, note: opts.note }) : (opts.weights ?? randomWeights(m, seed, f64));
  const inputs =
    typeof opts.inputs === 'string' ? inputsFromSafetensors(m, readSafetensors(opts.inputs), opts.inputs, f64) : (opts.inputs ?? randomInputs(m, bindings, seed, f64));
  const outputs = interpret(m, { bindings, inputs, weights, f64 });
  return { outputs, inputs, bindings };
}

/**
 * Summary statistics of a tensor: `min`, `max`, `mean` and `std` of its finite values (NaN
 * when it has none: an all-NaN output printed `min Infinity max -Infinity`), and how many
 * values are NaN and how many infinite.
 */
export function tensorStats(t: Tensor): { min: number; max: number; mean: number; std: number; nan: number; inf: number } {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sq = 0;
  let nan = 0;
  let inf = 0;
  let n = 0;
  for (const v of t.data) {
    if (!Number.isFinite(v)) {
      if (Number.isNaN(v)) nan++;
      else inf++;
      continue;
    }
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
    sq += v * v;
    n++;
  }
  const mean = n ? sum / n : NaN;
  return { min: n ? min : NaN, max: n ? max : NaN, mean, std: n ? Math.sqrt(Math.max(0, sq / n - mean * mean)) : NaN, nan, inf };
}

// ---------------------------------------------------------------------------------------
// Compiling for a target.

export interface TargetCompileOptions {
  /** A target name (`x86-avx2`), a `.yaml` path, or a loaded capability sheet. */
  target: string | TargetCaps;
  /** Largest token count to plan for (default: the model's bound on `T`, else `DEFAULT_MAX_TOKENS`; see `resolveMaxTokens`). */
  maxTokens?: number;
  /** The token count of the run the program is compiled for, if any: the default bound covers it. */
  runTokens?: number;
  verifyEach?: boolean;
  /** Passes to skip (`--disable`; not the essential ones). */
  disabled?: string[];
  /** Store GEMM weights quantized (the `quantize` pass): a scheme name or a scheme. */
  quantize?: string | QuantScheme;
}

/** Runs the whole pipeline: fused graph IR and the tiled, planned kernel program. */
export function compileModel(m: Module, opts: TargetCompileOptions): { graph: Module; program: KProgram; target: TargetCaps; maxTokens: number } {
  const target = typeof opts.target === 'string' ? loadTarget(opts.target) : opts.target;
  const quantize = opts.quantize === undefined ? undefined : quantScheme(opts.quantize);
  const { graph, program } = runPipeline(m, { target, maxTokens: opts.maxTokens, runTokens: opts.runTokens, verifyEach: opts.verifyEach, disabled: opts.disabled, quantize });
  return { graph, program: program!, target, maxTokens: program!.maxTokens! };
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
  /** Also run the reference interpreter on the same inputs and report the agreement. */
  check?: boolean;
  /**
   * Store GEMM weights quantized (a scheme name or a scheme); with `check`, the reference
   * runs the quantized model too, and `quantError` says how far it is from the f32 one.
   */
  quantize?: string | QuantScheme;
}

export interface BackendRunResult extends RunResult {
  /** Time of the backend's forward alone (not compiling or loading; for C, as its runner times it), ms. */
  forwardMs: number;
  /** With `check`: the reference outputs and each output's agreement with them. */
  reference?: Record<string, Tensor>;
  agreement?: Record<string, Agreement>;
  /** With `check` and `quantize`: the quantized reference against the f32 reference, per output. */
  quantError?: Record<string, Agreement>;
}

/** Compiles the module for a backend's target, loads it here and runs it once. */
export async function runOnBackend(m: Module, opts: BackendRunOptions): Promise<BackendRunResult> {
  const backend = await getBackend(opts.backend);
  const bindings = bindDims(m, opts);
  checkRunBytes(m, bindings);
  const seed = opts.seed ?? 0;
  const qm = opts.quantize !== undefined ? quantizeModule(m, opts.quantize) : m;
  // A checkpoint loads into the quantized declarations, so codes of the same scheme are used as they are.
  const weights = typeof opts.weights === 'string' ? weightsFromSafetensors(qm, openCheckpoint(opts.weights), opts.weights, { note: opts.note }) : (opts.weights ?? randomWeights(m, seed));
  const inputs = typeof opts.inputs === 'string' ? inputsFromSafetensors(m, readSafetensors(opts.inputs), opts.inputs) : (opts.inputs ?? randomInputs(m, bindings, seed));
  const target = typeof opts.target === 'object' ? opts.target : loadTarget(opts.target ?? DEFAULT_TARGET[backend.name]);
  if (target.backend !== backend.name) fail('E505', `target ${target.name} is for the ${target.backend} backend, not ${backend.name}`, undefined, `use --target ${DEFAULT_TARGET[backend.name]}`);
  const tokens = bindings.T;
  const { program, maxTokens } = compileModel(qm, { target, maxTokens: opts.maxTokens, runTokens: tokens });
  // Before loading (a C build takes seconds): the run's T within the bound just compiled for.
  if (tokens !== undefined) checkTokenCount(tokens, maxTokens);
  const loaded = await backend.load(program, target, weights);
  try {
    const t0 = performance.now();
    const outputs = await loaded.forward(inputs, bindings);
    const forwardMs = loaded.lastForwardMs ?? performance.now() - t0;
    if (!opts.check) return { outputs, inputs, bindings, forwardMs };
    const reference = interpret(qm, { bindings, inputs, weights });
    const agree: Record<string, Agreement> = {};
    for (const [name, t] of Object.entries(reference)) agree[name] = agreement(outputs[name], t);
    if (qm === m) return { outputs, inputs, bindings, forwardMs, reference, agreement: agree };
    // The f32 model on the checkpoint's own values (an already quantized one: dequantized).
    const f32Weights = typeof opts.weights === 'string' ? weightsFromSafetensors(m, openCheckpoint(opts.weights), opts.weights) : weights;
    const f32 = interpret(m, { bindings, inputs, weights: f32Weights });
    const quantError: Record<string, Agreement> = {};
    for (const [name, t] of Object.entries(reference)) quantError[name] = agreement(t, f32[name]);
    return { outputs, inputs, bindings, forwardMs, reference, agreement: agree, quantError };
  } finally {
    loaded.dispose();
  }
}
