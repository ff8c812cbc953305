/**
 * @fileoverview The driver's half that needs no Node: `.moe` text to a verified graph IR
 * module, quantizing it, seeded weights and inputs, binding sizes, output statistics, and
 * the pipeline for a target given as caps. The browser entry (`browser.ts`) is built on it;
 * `driver.ts` adds files, checkpoints, targets by name and running on a backend.
 */
import { type Module, mainFunc } from '../ir/graph/graph.ts';
import { initScale, randomUniform } from '../ir/random.ts';
import { checkRunBytes, concreteShape } from './checkpoint/load-weights.ts';
import type { Tensor } from '../ir/tensor.ts';
import { didYouMean, fail } from '../ir/diagnostics.ts';
import { UsageError } from './usage-error.ts';
import { QUANT_SCHEMES, type QuantScheme } from '../ir/quant.ts';
import { runPasses } from './passes/manager.ts';
import { quantizeWeights } from './passes/quantize.ts';
import type { FileAst } from './frontend/ast.ts';
import { compileMoeText, parseMoeText } from './frontend/index.ts';
import type { KProgram } from '../ir/kernel/kernel.ts';
import { type PipelineOptions, runPipeline } from './pipeline.ts';
import type { TargetCaps } from './target/caps.ts';

export interface CompileOptions {
  /** Path printed in diagnostics (default `<input>`). */
  path?: string;
  /** Overrides for file-level constants, e.g. `{ D: 64, E: 16 }`. */
  consts?: Record<string, number>;
  /** Store GEMM weights quantized: a scheme name of `QUANT_SCHEMES` (`i8`, `i4`, `i4g128`, `fp8`, `i8g32`, `w8a8`) or a scheme. */
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

/** Binds the module's symbolic sizes: `tokens` binds `T` (or the only dim). */
export function bindDims(m: Module, opts: { tokens?: number; bindings?: Record<string, number> }): Record<string, number> {
  const bindings: Record<string, number> = { ...(opts.bindings ?? {}) };
  if (opts.tokens !== undefined) {
    const name = m.dims.some((d) => d.name === 'T') ? 'T' : m.dims.length === 1 ? m.dims[0].name : undefined;
    if (!name) fail('E505', '--tokens needs a dim named `T` in the model', undefined, 'declare `dim T` or bind sizes explicitly');
    bindings[name] = opts.tokens;
  }
  for (const d of m.dims) if (bindings[d.name] === undefined) fail('E505', `no value for the size \`${d.name}\``, d.span, d.name === 'T' ? 'pass --tokens N' : `bind ${d.name}`);
  return bindings;
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

/** `compileModel`'s options with the target already loaded (`driver.ts` loads one by name or path). */
export interface CapsCompileOptions {
  target: TargetCaps;
  /** Largest token count to plan for (default: the model's bound on `T`, else `DEFAULT_MAX_TOKENS`; see `resolveMaxTokens`). */
  maxTokens?: number;
  /** The token count of the run the program is compiled for, if any: the default bound covers it. */
  runTokens?: number;
  verifyEach?: boolean;
  /** Passes to skip (`--disable`; not the essential ones). */
  disabled?: string[];
  /** Store GEMM weights quantized (the `quantize` pass): a scheme name or a scheme. */
  quantize?: string | QuantScheme;
  /** Expert parallelism (`--chips`, `--expert-load`, `--redundant-experts`): see `PipelineOptions`. */
  chips?: number;
  expertLoad?: PipelineOptions['expertLoad'];
  redundantExperts?: number;
  microBatches?: number;
  /** The context bound (`--max-context`): the KV caches become state the program owns, of this many positions. */
  maxContext?: number;
  /** Return the logits of the row `last_row` only (the `last-logits` pass: passes/last-logits.ts). */
  lastLogits?: boolean;
}

/** Runs the whole pipeline for a loaded target: fused graph IR and the tiled, planned kernel program. */
export function compileForCaps(m: Module, opts: CapsCompileOptions): { graph: Module; program: KProgram; target: TargetCaps; maxTokens: number } {
  const { target } = opts;
  const quantize = opts.quantize === undefined ? undefined : quantScheme(opts.quantize);
  const { graph, program } = runPipeline(m, { target, maxTokens: opts.maxTokens, runTokens: opts.runTokens, maxContext: opts.maxContext, verifyEach: opts.verifyEach, disabled: opts.disabled, quantize, chips: opts.chips, expertLoad: opts.expertLoad, redundantExperts: opts.redundantExperts, microBatches: opts.microBatches, lastLogits: opts.lastLogits });
  return { graph, program: program!, target, maxTokens: program!.maxTokens! };
}
