/**
 * @fileoverview An inference session in the style of onnxruntime-web, for a page or a
 * worker:
 *
 *     const s = await InferenceSession.create({ moe: text, seed: 0 }, { executionProvider: 'webgpu' });
 *     const { y } = await s.run({ x: new Float32Array(T * D) });   // y.data, y.dims
 *     await s.release();
 *
 * The token count comes from the feeds' sizes (or `run(feeds, { T })`). A model compiled with
 * a context bound (`maxContext`) keeps its KV caches between runs: each run appends its T
 * positions after those cached so far (or after `run(feeds, { L })`), and `reset()` empties
 * them, so a generation is a prefill run and then one run per token. With `worker` the
 * session compiles and runs in that Web Worker (`worker.ts`, bundled as `moec-worker.js`),
 * so the page never blocks; the session's methods are the same either way. The synchronous
 * loader (`loadWasmModel`) stays for code that wants no promises per forward.
 */
import { MoecError } from '../../ir/diagnostics.ts';
import { SourceFile } from '../../ir/source.ts';
import { type Engine, type ExecutionProvider, type IoInfo, type SessionSource, createEngine, dimsAt, isMoeSource } from './engine.ts';
import { type EngineInfo, type Reply, type RequestBody, type RunResult, type WireError } from './protocol.ts';

export interface SessionOptions {
  /** `wasm` (default) or `webgpu`. */
  executionProvider?: ExecutionProvider;
  /** Run in this Web Worker, or in a module worker started from this URL (the bundle's `moec-worker.js`). */
  worker?: Worker | string | URL;
  /**
   * Wasm threads (default 1): above 1, the threaded build, on Web Workers sharing its memory,
   * where the page is cross-origin isolated (COOP/COEP: `npm run demo` sends them) and the
   * session runs in a `worker` (a page's main thread may not wait on a barrier); otherwise one
   * thread (`session.threads` says which).
   */
  threads?: number;
}

/** A feed: the values (token-major, row-major), optionally with the dims they claim. */
export type Feed = Float32Array | { data: Float32Array; dims?: readonly number[] };

/** An output, as onnxruntime-web gives one. */
export interface OutputTensor {
  type: 'float32';
  data: Float32Array;
  dims: number[];
}

/** What runs the engine: this thread, or a worker behind messages. */
interface Runner {
  info: EngineInfo;
  run(feeds: Record<string, Float32Array>, T: number, L?: number): Promise<RunResult>;
  reset(): Promise<void>;
  release(): Promise<void>;
}

export class InferenceSession {
  /** Time of the last `run`'s forward, ms (in the worker when there is one; no messaging). */
  lastRunMs: number | undefined;
  private released = false;
  /** With state: the positions the caches hold (each run appends its T; `reset` empties them). */
  private cached = 0;

  private constructor(private readonly runner: Runner) {}

  /** Compiles (a `.moe` source) or instantiates (Wasm files) the model and loads its weights. */
  static async create(source: SessionSource, options: SessionOptions = {}): Promise<InferenceSession> {
    const provider = options.executionProvider ?? 'wasm';
    const runner = options.worker === undefined ? localRunner(await createEngine(source, provider, { threads: options.threads })) : await workerRunner(options.worker, source, provider, options.threads);
    return new InferenceSession(runner);
  }

  get executionProvider(): ExecutionProvider {
    return this.runner.info.provider;
  }
  /** The target (and WebGPU adapter) in words. */
  get description(): string {
    return this.runner.info.description;
  }
  /** Threads each forward runs on (1 unless Wasm threads were asked for and can run here). */
  get threads(): number {
    return this.runner.info.threads;
  }
  get maxTokens(): number {
    return this.runner.info.maxTokens;
  }
  /** The context bound of a session created with `maxContext` (its KV caches are state); else undefined. */
  get maxContext(): number | undefined {
    return this.runner.info.maxContext;
  }
  /** With state: the positions the caches hold, where the next run appends. */
  get position(): number {
    return this.cached;
  }
  get inputNames(): string[] {
    return this.runner.info.inputs.map((i) => i.name);
  }
  get outputNames(): string[] {
    return this.runner.info.outputs.map((o) => o.name);
  }
  /** An input's or output's dims at token count T. */
  dims(name: string, T: number): number[] {
    const io = [...this.runner.info.inputs, ...this.runner.info.outputs].find((x) => x.name === name);
    if (!io) throw new RangeError(`no input or output named '${name}' (inputs: ${this.inputNames.join(', ')}; outputs: ${this.outputNames.join(', ')})`);
    return dimsAt(io, T);
  }

  /**
   * One forward: feeds by input name; outputs by name with their dims. With state (a session
   * created with `maxContext`), the tokens go after `L` cached positions (default: all the
   * session has cached; a smaller L rewinds), and the session then holds L + T.
   */
  async run(feeds: Record<string, Feed>, options: { T?: number; L?: number } = {}): Promise<Record<string, OutputTensor>> {
    if (this.released) throw new Error('this session was released');
    const { inputs, outputs, maxTokens } = this.runner.info;
    const data: Record<string, Float32Array> = {};
    for (const name of Object.keys(feeds)) if (!inputs.some((i) => i.name === name)) throw new RangeError(`unknown feed '${name}' (inputs: ${this.inputNames.join(', ')})`);
    for (const i of inputs) {
      const f = feeds[i.name];
      if (f === undefined) throw new TypeError(`missing feed '${i.name}'`);
      const values = f instanceof Float32Array ? f : f?.data;
      if (!(values instanceof Float32Array)) throw new TypeError(`feed '${i.name}' must be a Float32Array or { data: Float32Array, dims }`);
      data[i.name] = values;
    }
    const T = options.T ?? tokensOf(inputs, data);
    if (!Number.isInteger(T) || T < 1 || T > maxTokens) throw new RangeError(`T = ${T}: this session runs 1 to ${maxTokens} tokens`);
    for (const i of inputs) {
      const f = feeds[i.name];
      const want = dimsAt(i, T);
      const n = i.elements.c + i.elements.t * T;
      if (data[i.name].length !== n) throw new RangeError(`feed '${i.name}' has ${data[i.name].length} values; at T = ${T} it takes ${n} ([${want.join(', ')}])`);
      const claimed = f instanceof Float32Array ? undefined : f.dims;
      if (claimed && (claimed.length !== want.length || claimed.some((d, j) => d !== want[j]))) throw new RangeError(`feed '${i.name}' says dims [${claimed.join(', ')}]; at T = ${T} it is [${want.join(', ')}]`);
    }
    const context = this.runner.info.maxContext;
    if (context === undefined && options.L !== undefined) throw new RangeError('L: this session keeps no KV cache (create it with maxContext)');
    const L = context === undefined ? undefined : options.L ?? this.cached;
    if (context !== undefined && L !== undefined && !(Number.isInteger(L) && L >= 0 && L <= this.cached && L + T <= context))
      throw new RangeError(`L = ${L}: this session holds ${this.cached} cached positions of at most ${context}, and T = ${T} more must fit (reset() to start again)`);
    const r = await this.runner.run(data, T, L);
    if (L !== undefined) this.cached = L + T;
    this.lastRunMs = r.ms;
    return Object.fromEntries(outputs.map((o) => [o.name, { type: 'float32' as const, data: r.outputs[o.name], dims: dimsAt(o, T) }]));
  }

  /** With state: empties the KV caches; the next run is a prefill. */
  async reset(): Promise<void> {
    if (this.released) throw new Error('this session was released');
    await this.runner.reset();
    this.cached = 0;
  }

  /** Frees the instance, the GPU buffers, and the worker if the session started it. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.runner.release();
  }
}

/** The token count the feeds imply: each T-dependent input's size is c + t·T, and they must agree. */
function tokensOf(inputs: IoInfo[], feeds: Record<string, Float32Array>): number {
  let T: number | undefined;
  for (const i of inputs) {
    if (i.elements.t === 0) continue;
    const n = feeds[i.name].length;
    const t = (n - i.elements.c) / i.elements.t;
    const per = i.elements.c === 0 ? `${i.elements.t} values per token` : `${i.elements.c} + ${i.elements.t}·T values`;
    if (!Number.isInteger(t) || t < 1) throw new RangeError(`feed '${i.name}' has ${n} values, which is no whole number of tokens (${per})`);
    if (T !== undefined && t !== T) throw new RangeError(`the feeds disagree on the token count: '${i.name}' holds ${t} tokens, an earlier feed ${T}`);
    T = t;
  }
  if (T === undefined) throw new TypeError('no input depends on the token count: pass run(feeds, { T })');
  return T;
}

function localRunner(engine: Engine): Runner {
  const { run, reset, release, ...info } = engine;
  return {
    info,
    async run(feeds, T, L) {
      const t0 = performance.now();
      const outputs = await run(feeds, T, L);
      return { outputs, ms: performance.now() - t0 };
    },
    reset: async () => reset(),
    release: async () => release(),
  };
}

/**
 * An error from the worker, as the error it was: a MoecError keeps its diagnostics, and gets
 * the model's text back so that `format()` shows the lines and carets as it would here.
 */
function fromWire(e: WireError, source: SessionSource): Error {
  if (e.diagnostics) {
    const err = new MoecError(e.diagnostics);
    if (isMoeSource(source)) err.addSource(new SourceFile(source.path ?? '<input>', source.moe));
    return err;
  }
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

async function workerRunner(w: Worker | string | URL, source: SessionSource, provider: ExecutionProvider, threads: number | undefined): Promise<Runner> {
  const own = !(typeof Worker !== 'undefined' && w instanceof Worker);
  const worker = own ? new Worker(w as string | URL, { type: 'module' }) : (w as Worker);
  const pending = new Map<number, { resolve: (r: Reply & { ok: true }) => void; reject: (e: Error) => void }>();
  let next = 0;
  const fail = (e: Error): void => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.addEventListener('message', (ev: MessageEvent<Reply>) => {
    const p = pending.get(ev.data.id);
    if (!p) return;
    pending.delete(ev.data.id);
    if (ev.data.ok) p.resolve(ev.data);
    else p.reject(fromWire(ev.data.error, source));
  });
  worker.addEventListener('error', (ev: ErrorEvent) => fail(new Error(`the session worker failed: ${ev.message ?? 'it could not be loaded'}`)));
  const call = (req: RequestBody, transfer: Transferable[] = []): Promise<Reply & { ok: true }> =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...req, id }, transfer);
    });
  let info: EngineInfo;
  try {
    info = (await call({ op: 'create', source, provider, threads })).result as EngineInfo;
  } catch (e) {
    if (own) worker.terminate();
    throw e;
  }
  return {
    info,
    // The page's feeds are copied, not transferred: the caller keeps its arrays.
    run: async (feeds, T, L) => (await call({ op: 'run', feeds, T, ...(L !== undefined ? { L } : {}) })).result as RunResult,
    reset: async () => void (await call({ op: 'reset' })),
    async release() {
      await call({ op: 'release' });
      if (own) worker.terminate();
    },
  };
}
