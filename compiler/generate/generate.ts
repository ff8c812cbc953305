/**
 * @fileoverview `moec generate` and `generate(model, opts)`: compile a decoder with its KV
 * caches as state of a context bound (the prompt and the new tokens unless given), prefill the
 * prompt (L = 0; in chunks of at most 512 tokens, each after the last), then decode one token at a time (T = 1, L growing), each
 * call through `LoadedModel.forward` on the state the loaded model keeps (backend.ts; the
 * reference is the kernel interpreter with its state, ref-model.ts). Each step reads the last
 * row of the model's logits output and picks the next token (sampling.ts); tokens stream out
 * of an async iterator as they come, with their text when there is a tokenizer
 * (tokenizer.ts), and the iterator's return value (also `.stats`) says how fast it went:
 * prefill and decode tokens/s, and the effective GB/s of the weights one decode step reads
 * (the active weights of one token, as `moec analyze` counts them: analysis/bytes.ts).
 */
import { type Module, mainFunc } from '../../ir/graph/graph.ts';
import { fail } from '../../ir/diagnostics.ts';
import { type Dim, dimEq, sym } from '../../ir/dims.ts';
import { openCheckpoint } from '../../ir/checkpoint.ts';
import type { QuantScheme } from '../../ir/quant.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { weightTraffic } from '../analysis/bytes.ts';
import { STORAGE_DTYPES, type StorageDType } from '../analysis/memory.ts';
import { summarizeParams } from '../analysis/params.ts';
import type { LoadedModel } from '../backends/backend.ts';
import { DEFAULT_TARGET, getBackend } from '../backends/registry.ts';
import { MAX_RUN_BYTES, weightsFromSafetensors } from '../checkpoint/load-weights.ts';
import { streamWeightsFromCheckpoint } from '../checkpoint/stream-weights.ts';
import { stateBytes } from '../../ir/kernel/attention.ts';
import { formatBytes } from '../../ir/kernel/kprint.ts';
import { compileForCaps, quantScheme, quantizeModule, randomWeights } from '../driver-core.ts';
import { loadModelFile } from '../model-file.ts';
import type { TargetCaps } from '../target/caps.ts';
import { loadTarget } from '../target/load.ts';
import { DEFAULT_MAX_TOKENS } from '../../ir/kernel/token-bound.ts';
import { UsageError } from '../usage-error.ts';
import { LAST_ROW, lastRowInputs } from '../passes/last-logits.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { loadReference } from './ref-model.ts';
import { type Choice, Sampler, type SamplingOptions, samplingOptions } from './sampling.ts';
import { type TextTokenizer, TextStream, loadTokenizer, tokenizerPath } from './tokenizer.ts';

export interface GenerateOptions extends SamplingOptions {
  /** New tokens to generate (at least 1). */
  maxNewTokens: number;
  /** The prompt as token ids, or as text (`prompt`, through the tokenizer). One of the two. */
  promptIds?: readonly number[];
  prompt?: string;
  /** Turns `prompt` into ids and the generated ids into text; default: the tokenizer.json beside a model given as a path, if there is one. */
  tokenizer?: TextTokenizer;
  /** `ref` (the kernel interpreter, default), `c`, `wasm` or `wgsl`. */
  backend?: string;
  /** A target of that backend (default: its usual one; ref compiles for x86-avx2). */
  target?: string | TargetCaps;
  /** Weights by name or a checkpoint path (default: seeded random weights of `seed`). */
  weights?: string | Record<string, Tensor>;
  /** The context bound the caches are compiled for (default: prompt + maxNewTokens). */
  maxContext?: number;
  /** For a model given as a path: overrides of its constants (`--set`). */
  consts?: Record<string, number>;
  /** Store GEMM weights quantized (a scheme name or a scheme). */
  quantize?: string | QuantScheme;
  /** Told about notable events (a checkpoint converted on load, positions past the model's bound). */
  note?: (message: string) => void;
  onLoadProgress?: (doneBytes: number, totalBytes: number, name: string) => void;
}

export interface GeneratedToken {
  id: number;
  /** The text this token adds (with a tokenizer; '' while it ends inside a character). */
  text?: string;
  /** The model's log-probability of the token (log softmax of its logits). */
  logprob: number;
}

export interface GenerateStats {
  model: string;
  backend: string;
  target: string;
  promptIds: number[];
  ids: number[];
  /** The generated text (with a tokenizer). */
  text?: string;
  maxContext: number;
  /** Time of the prefill call and of all decode calls, ms (the backend's own forward time where it measures one). */
  prefillMs: number;
  decodeMs: number;
  /** Decode calls: one per generated token after the first (which the prefill gives). */
  decodeSteps: number;
  prefillTokensPerSecond: number;
  /** null without a decode step (one new token). */
  decodeTokensPerSecond: number | null;
  /** Bytes of weights one decode step reads: the active weights of one token at the weights' storage dtype. */
  weightBytesPerStep: number;
  /** weightBytesPerStep over the mean decode step's time, GB/s (10^9 bytes); null without a decode step. */
  decodeGBPerSecond: number | null;
}

/** The token stream: an async iterator of tokens whose return value is the stats, also `.stats` once done. */
export type Generation = AsyncGenerator<GeneratedToken, GenerateStats, undefined> & { readonly stats: GenerateStats | undefined };

/** Generates from a model (a Module, or a path: .moe, config.json, model directory, .gguf). */
export function generate(model: Module | string, opts: GenerateOptions): Generation {
  const done: { stats?: GenerateStats } = {};
  const gen = tokens(model, opts, done);
  return Object.defineProperty(gen, 'stats', { get: () => done.stats }) as Generation;
}

/** Everything a generation runs on, checked and loaded before the first token. */
interface Prepared {
  m: Module;
  /** `m` with its weights quantized (`quantize`), as compiled. */
  qm: Module;
  io: GenerationIo;
  tokenizer?: TextTokenizer;
  promptIds: number[];
  /** The context bound, and the most prompt tokens one prefill call takes. */
  ctx: number;
  chunk: number;
  backendName: string;
  target: TargetCaps;
  loaded: LoadedModel;
  /** As compiled: with the LM head on the last row only where the model allowed it (passes/last-logits.ts). */
  program: KProgram;
}

/** Reads the model and the prompt, checks them against each other, compiles with state and loads. */
async function prepare(model: Module | string, opts: GenerateOptions): Promise<Prepared> {
  const N = opts.maxNewTokens;
  if (!(Number.isSafeInteger(N) && N >= 1)) throw new UsageError(`--max-new-tokens must be a whole number of at least 1, got ${N}`);
  if ((opts.prompt === undefined) === (opts.promptIds === undefined)) throw new UsageError('give the prompt once: as token ids (--prompt-ids 1,2,3) or as text (--prompt TEXT)');
  const file = typeof model === 'string' ? loadModelFile(model, { consts: opts.consts }) : undefined;
  for (const n of file?.imported?.notes ?? []) opts.note?.(n.message);
  const m = file?.module ?? (model as Module);
  const io = generationIo(m);
  const tokenizer = opts.tokenizer ?? (await tokenizerBeside(model, opts.prompt !== undefined));
  const promptIds = opts.promptIds !== undefined ? [...opts.promptIds] : tokenizer!.encode(opts.prompt!);
  const P = promptIds.length;
  if (P === 0) throw new UsageError(opts.prompt !== undefined ? 'the prompt encodes to no tokens' : '--prompt-ids needs at least one token id', 'e.g. --prompt-ids 1,2,3');
  promptIds.forEach((id, i) => {
    if (!(Number.isInteger(id) && id >= 0 && id < io.vocab)) fail('E505', `prompt token id ${id} (at ${i}) is outside the vocabulary 0..${io.vocab - 1}`, undefined, 'check the ids against the model\'s vocab_size');
  });
  const ctx = opts.maxContext ?? P + N;
  if (!(Number.isSafeInteger(ctx) && ctx >= 1)) throw new UsageError(`--max-context must be a whole number of at least 1, got ${ctx}`);
  if (P + N > ctx) fail('E505', `the prompt (${P} tokens) and ${N} new tokens need ${P + N} positions, over the context bound ${ctx}`, undefined, 'raise --max-context, or ask for fewer --max-new-tokens');
  // The prompt prefills in chunks of at most this many tokens, each appended after the last: the
  // arena is sized by the chunk, not the prompt, and a prompt may pass the model's bound on T.
  const chunk = Math.min(P, m.dims.find((d) => d.name === 'T')?.max ?? P, DEFAULT_MAX_TOKENS);
  const lBound = m.dims.find((d) => d.name === 'L')?.max;
  // The last decode call reads the prompt and all new tokens but the last from the cache.
  if (lBound !== undefined && P + N - 2 > lBound)
    fail('E505', `the prompt (${P} tokens) and ${N} new tokens put ${P + N - 2} positions in the cache at the last step, over the model's bound L <= ${lBound} (the positions it was made for)`, undefined, `ask for at most ${Math.max(0, lBound + 2 - P)} new tokens`);

  const backendName = opts.backend ?? 'ref';
  const backend = backendName === 'ref' ? undefined : await getBackend(backendName);
  const target = typeof opts.target === 'object' ? opts.target : loadTarget(opts.target ?? (backend ? DEFAULT_TARGET[backend.name] : DEFAULT_TARGET.c));
  if (backend && target.backend !== backend.name) fail('E505', `target ${target.name} is for the ${target.backend} backend, not ${backend.name}`, undefined, `use --target ${DEFAULT_TARGET[backend.name]}`);
  const qm = opts.quantize !== undefined ? quantizeModule(m, opts.quantize) : m;
  // A step needs only its last row of logits: the LM head is computed for that row alone.
  const { program } = compileForCaps(qm, { target, maxTokens: chunk, maxContext: ctx, lastLogits: true });
  const stray = program.inputs.filter((i) => i.name !== io.ids && i.name !== LAST_ROW);
  if (program.maxContext === undefined || stray.length > 0)
    fail('E522', program.maxContext === undefined ? `${m.name} has no KV cache to keep between steps: generate runs decoder models (attention with caches)` : `${m.name} takes ${stray.map((i) => `\`${i.name}\``).join(', ')} besides the token ids: generate feeds a model token ids alone`, undefined, 'moec generate runs a decoder such as moec import writes from a config.json');
  // The interpreter holds the state as tensors, within what one run may hold.
  const state = stateBytes(program).bytes;
  if (!backend && state > MAX_RUN_BYTES) fail('E307', `the KV caches of ${ctx} positions need ${formatBytes(state)}, more than the ${formatBytes(MAX_RUN_BYTES)} a run of the reference interpreter may hold`, undefined, 'lower --max-context (or --max-new-tokens)');
  // A backend's blob is laid out from the checkpoint a few rows at a time (never held whole); the interpreter holds tensors.
  const load = backend ? streamWeightsFromCheckpoint : weightsFromSafetensors;
  const weights = typeof opts.weights === 'string' ? load(qm, openCheckpoint(opts.weights), opts.weights, { note: opts.note, onProgress: opts.onLoadProgress }) : (opts.weights ?? randomWeights(m, opts.seed ?? 0));
  const loaded = backend ? await backend.load(program, target, weights) : loadReference(program, weights);
  return { m, qm, io, ...(tokenizer ? { tokenizer } : {}), promptIds, ctx, chunk, backendName, target, loaded, program };
}

async function* tokens(model: Module | string, opts: GenerateOptions, done: { stats?: GenerateStats }): AsyncGenerator<GeneratedToken, GenerateStats, undefined> {
  const sampler = new Sampler(samplingOptions(opts));
  const g = await prepare(model, opts);
  const { io, promptIds, chunk, loaded, program } = g;
  const P = promptIds.length;
  const N = opts.maxNewTokens;
  const stream = g.tokenizer ? new TextStream(g.tokenizer) : undefined;
  const ids: number[] = [];
  let text = '';
  let prefillMs = 0;
  let decodeMs = 0;
  try {
    loaded.reset?.();
    // Greedy on a backend that picks the token itself (the C runner): its answer is the token
    // and its log-probability, not the row of logits. Otherwise the sampler reads the last row.
    const greedy = samplingOptions(opts).temperature === 0 ? loaded.greedy?.bind(loaded) : undefined;
    const step = async (stepIds: number[], L: number, took: (ms: number) => void): Promise<Float32Array | Choice> => {
      if (!greedy) return lastLogits(loaded, program, io, stepIds, L, took);
      const { id, logprob } = (await timedCall(loaded, took, () => greedy(stepInputs(program, io, stepIds), { T: stepIds.length, L }, { logprob: true })))[io.logits];
      return { id, logprob: logprob! };
    };
    // The prefill's last row gives the first new token; each later one takes one decode call.
    let last: Float32Array | Choice = new Float32Array(0);
    for (let at = 0; at < P; at += chunk) last = await step(promptIds.slice(at, at + chunk), at, (ms) => (prefillMs += ms));
    for (let i = 0; ; i++) {
      const { id, logprob } = last instanceof Float32Array ? sampler.next(last) : last;
      ids.push(id);
      // The last token also takes what the stream held back (a character it never completed).
      const piece = stream ? stream.push(id) + (i === N - 1 ? stream.flush() : '') : undefined;
      if (piece !== undefined) text += piece;
      yield { id, ...(piece !== undefined ? { text: piece } : {}), logprob };
      if (i === N - 1) break;
      last = await step([id], P + i, (ms) => (decodeMs += ms));
    }
  } finally {
    loaded.dispose();
  }
  const steps = N - 1;
  const bytes = weightTraffic(summarizeParams(g.qm).weights, 1, storageDType(opts.quantize)).batch;
  done.stats = {
    model: g.m.name, backend: g.backendName, target: g.target.name, promptIds, ids, ...(stream ? { text } : {}), maxContext: g.ctx,
    prefillMs, decodeMs, decodeSteps: steps,
    prefillTokensPerSecond: P / (prefillMs / 1e3),
    decodeTokensPerSecond: steps > 0 ? steps / (decodeMs / 1e3) : null,
    weightBytesPerStep: bytes,
    decodeGBPerSecond: steps > 0 ? bytes / (decodeMs / 1e3 / steps) / 1e9 : null,
  };
  return done.stats;
}

/** The model's token-id input and logits output, and its vocabulary (the embedding table's rows). */
interface GenerationIo {
  ids: string;
  logits: string;
  vocab: number;
}

/**
 * The token ids are the one i32 input [T]; the logits the output [T, V] (`logits` where the
 * model has several outputs; imported models have one). E522 for a model without them.
 */
function generationIo(m: Module): GenerationIo {
  const main = mainFunc(m);
  const isT = (d: Dim): boolean => dimEq(d, sym('T'));
  const idInputs = main.params.filter((p) => p.type.dtype === 'i32' && p.type.shape.length === 1 && isT(p.type.shape[0]));
  const outs = main.results.filter((r) => r.value.type.shape.length === 2 && isT(r.value.type.shape[0]) && typeof r.value.type.shape[1] === 'number');
  const out = outs.length === 1 ? outs[0] : outs.find((r) => r.name === 'logits');
  if (idInputs.length !== 1 || out === undefined)
    fail('E522', `${m.name} is not a language model generate can run: it needs one token-id input i32[T] (has ${idInputs.length}) and a logits output [T, V] (has ${outs.map((r) => r.name).join(', ') || 'none'})`, main.span, 'moec generate runs a decoder such as moec import writes from a config.json');
  const table = main.body.find((n) => n.op === 'embedding' && n.inputs[0] === idInputs[0])?.inputs[1].type.shape[0];
  return { ids: idInputs[0].name, logits: out.name, vocab: typeof table === 'number' ? table : (out.value.type.shape[1] as number) };
}

/** A step's inputs: the token ids, and the row a last-logits program returns. */
function stepInputs(program: KProgram, io: GenerationIo, ids: number[]): Record<string, Tensor> {
  return { [io.ids]: { dtype: 'i32', shape: [ids.length], data: Int32Array.from(ids) }, ...lastRowInputs(program, ids.length) };
}

/** Runs a call of `model`; `took` gets its time in ms (the backend's own forward time where it measures one). */
async function timedCall<R>(model: LoadedModel, took: (ms: number) => void, call: () => Promise<R>): Promise<R> {
  const t0 = performance.now();
  const out = await call();
  took(model.lastForwardMs ?? performance.now() - t0);
  return out;
}

/**
 * One forward of `ids` after L cached positions; the last row of the logits (the one row a
 * rewritten program returns, the last of T otherwise). `took` gets its time in ms.
 */
async function lastLogits(model: LoadedModel, program: KProgram, io: GenerationIo, ids: number[], L: number, took: (ms: number) => void): Promise<Float32Array> {
  const logits = (await timedCall(model, took, () => model.forward(stepInputs(program, io, ids), { T: ids.length, L })))[io.logits];
  const V = logits.shape[logits.shape.length - 1];
  const rows = logits.data.length / V;
  return Float32Array.from(logits.data.subarray((rows - 1) * V, rows * V));
}

/** The tokenizer beside a model given as a path: required for a text prompt (E520 without), else used when there is one. */
async function tokenizerBeside(model: Module | string, required: boolean): Promise<TextTokenizer | undefined> {
  if (typeof model !== 'string') {
    if (required) fail('E520', 'a text prompt needs a tokenizer: pass `tokenizer` with a model given as a Module', undefined, 'or give the prompt as ids (promptIds)');
    return undefined;
  }
  if (!required) {
    try {
      tokenizerPath(model);
    } catch {
      return undefined;
    }
  }
  return loadTokenizer(model);
}

/** The storage dtype the weights are read at: f32, or the quantization scheme's (analysis/memory.ts). */
function storageDType(q: string | QuantScheme | undefined): StorageDType {
  if (q === undefined) return 'f32';
  const d = quantScheme(q).dtype;
  return (STORAGE_DTYPES as readonly string[]).includes(d) ? (d as StorageDType) : 'f32';
}
