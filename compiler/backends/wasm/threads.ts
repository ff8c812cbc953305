/**
 * @fileoverview Runs the threaded build (`buildModule(.., { threads })`) on several threads:
 * one shared `WebAssembly.Memory`, an instance of the module per thread (its own `tid`), the
 * calling thread as thread 0 and the others in workers (Node's `worker_threads`, a page's
 * Web Workers; the same script text for both). A forward is one job: thread 0 writes T and
 * bumps the job counter in the control words, wakes the workers (`Atomics.notify`, once per
 * forward), and every thread runs `forward(T)`, which syncs between steps with the module's
 * own barrier in shared memory (no message per kernel). `forward` returns on thread 0 after
 * the last barrier, when every thread's writes are done.
 *
 * Imports nothing that needs Node: in Node the worker class comes from
 * `process.getBuiltinModule`, so a browser bundle has no `node:` import to resolve.
 */
import type { WasmManifest } from './manifest.ts';

/**
 * The control words at the start of a threaded build's scratch region (`manifest.threads.control`),
 * byte offsets of i32s: the barrier's arrival count and generation (the module's), the job
 * counter and its T (thread 0 writes them to start a forward), and the error word (a kernel met
 * an expert index outside 0..E-1).
 */
export const CONTROL = { count: 0, generation: 4, job: 8, tokens: 12, error: 16 } as const;

/** The most threads a run asks for (`moec run --threads N`): each is a worker with its own instance. */
export const MAX_WASM_THREADS = 64;

/** Bytes reserved for the control words before the threads' scratch areas. */
export const CONTROL_BYTES = 64;

/** The control words as indices of an Int32Array over them. */
const WORD = { job: CONTROL.job / 4, tokens: CONTROL.tokens / 4, error: CONTROL.error / 4 } as const;

/** What each worker runs: instantiate over the shared memory, say ready, then one forward per job (T < 0: stop). */
const WORKER_SOURCE = `
const start = (d, post) => {
  const inst = new WebAssembly.Instance(d.module, { env: { memory: d.memory } });
  inst.exports.set_thread(d.tid, d.n);
  const ctl = new Int32Array(d.memory.buffer, d.control, 8);
  let seen = Atomics.load(ctl, ${WORD.job});
  post('ready');
  for (;;) {
    Atomics.wait(ctl, ${WORD.job}, seen);
    const job = Atomics.load(ctl, ${WORD.job});
    if (job === seen) continue;
    seen = job;
    const T = Atomics.load(ctl, ${WORD.tokens});
    if (T < 0) break;
    inst.exports.forward(T);
  }
};
if (typeof require === 'function') {
  const { parentPort } = require('node:worker_threads');
  parentPort.once('message', (d) => start(d, (x) => parentPort.postMessage(x)));
} else self.onmessage = (e) => start(e.data, (x) => self.postMessage(x));
`;

/** A worker as both Node and a page have it (just what is used here). */
interface AnyWorker {
  postMessage(data: unknown): void;
  terminate(): unknown;
  unref?(): void;
}

/** The part of Node's `worker_threads` used here (typed here: the browser entry imports nothing of Node's, types included). */
interface NodeWorkerThreads {
  Worker: new (source: string, options: { eval: true }) => AnyWorker & { unref(): void; once(event: 'message' | 'error', f: (x: unknown) => void): void };
}

/** Starts a worker running `WORKER_SOURCE` and resolves once it says `ready`. */
async function startWorker(data: Record<string, unknown>): Promise<AnyWorker> {
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  if (typeof getBuiltin === 'function') {
    const { Worker } = getBuiltin('node:worker_threads') as NodeWorkerThreads;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    // A model left loaded must not keep Node running.
    w.unref();
    await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
      w.postMessage(data);
    });
    return w;
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const w = new Worker(url);
  await new Promise<void>((resolve, reject) => {
    w.onmessage = () => resolve();
    w.onerror = (e) => reject(new Error(`a Wasm worker failed to start: ${e.message}`));
    w.postMessage(data);
  });
  URL.revokeObjectURL(url);
  return w;
}

/**
 * Whether this context can run the threaded build: shared memory exists (a page: cross-origin
 * isolated) and this thread may block in `Atomics.wait` (Node's main thread and workers may;
 * a page's main thread may not, so a page runs threads from its session's worker).
 */
export function canRunThreads(): boolean {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return false;
  const g = globalThis as { crossOriginIsolated?: boolean; document?: unknown; process?: unknown };
  if (g.crossOriginIsolated === false) return false;
  return g.document === undefined;
}

/** The workers of one loaded model and the control words they share with thread 0. */
export class WasmThreadPool {
  private broken = false;

  private constructor(
    private readonly workers: AnyWorker[],
    private readonly ctl: Int32Array,
    private readonly setThread: (tid: number, n: number) => void,
  ) {}

  /** Threads running each forward (this one included). */
  get threads(): number {
    return this.broken ? 1 : this.workers.length + 1;
  }

  /**
   * Starts `threads - 1` workers on `module` over `memory` (thread 0 is the caller, whose
   * instance is `main`). The module must be the threaded build the manifest describes.
   */
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, main: WebAssembly.Instance, manifest: WasmManifest, threads: number): Promise<WasmThreadPool> {
    if (!manifest.threads) throw new Error('the module is not a threaded build (no manifest.threads)');
    const n = Math.max(1, Math.min(threads, manifest.threads.max));
    const setThread = main.exports.set_thread as (tid: number, n: number) => void;
    setThread(0, n);
    const control = manifest.threads.control;
    const workers = await Promise.all(Array.from({ length: n - 1 }, (_, i) => startWorker({ module, memory, tid: i + 1, n, control })));
    return new WasmThreadPool(workers, new Int32Array(memory.buffer, control, 8), setThread);
  }

  /**
   * One forward on every thread: wakes the workers with T, runs thread 0's share here.
   * Returns the error word (nonzero: a kernel met an expert index outside 0..E-1). Should
   * thread 0 trap, the workers are left waiting at a barrier: they are stopped and the model
   * runs on this thread alone from then on.
   */
  run(T: number, forward: (T: number) => void): number {
    const { ctl } = this;
    Atomics.store(ctl, WORD.error, 0);
    if (!this.broken) {
      Atomics.store(ctl, WORD.tokens, T);
      Atomics.add(ctl, WORD.job, 1);
      Atomics.notify(ctl, WORD.job);
    }
    try {
      forward(T);
    } catch (e) {
      if (!this.broken) this.stop();
      throw e;
    }
    return Atomics.load(ctl, WORD.error);
  }

  /** Stops the workers; the model keeps running on thread 0 alone. */
  stop(): void {
    if (this.broken) return;
    this.broken = true;
    for (const w of this.workers) void w.terminate();
    this.setThread(0, 1);
  }
}
