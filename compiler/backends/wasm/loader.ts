/**
 * @fileoverview Runs a compiled `model.wasm` in Node or a browser: instantiates the
 * module, grows its memory by the weights' pages and copies the packed weights in, then
 * `forward(input, T)` writes the input, calls the module's `forward(T)` and copies the output
 * out. It reads only the manifest (`model.json`), never moec's IR, and imports only the token
 * bound's check (`token-bound.ts`, which imports nothing that needs Node), so a web page can
 * use it as is:
 *
 *     import { loadWasmModel } from 'moec/wasm';
 *     const [wasm, manifest, weights] = await Promise.all([
 *       fetch('model.wasm').then((r) => r.arrayBuffer()),
 *       fetch('model.json').then((r) => r.json()),
 *       fetch('weights.bin').then((r) => r.arrayBuffer()),
 *     ]);
 *     const model = await loadWasmModel(wasm, manifest, new Uint8Array(weights));
 *     const y = model.forward(x, T); // x: Float32Array of T × D
 *
 * The weights are the program's packed weights in the manifest's layout (one blob, each
 * entry at its offset; `moec` writes it with `weightBlob`), or the packed tensors by name.
 */
import { checkTokenCount } from '../../../ir/kernel/token-bound.ts';
import { engineHasRelaxedSimd } from './features.ts';
import { WasmThreadPool, canRunThreads } from './threads.ts';
import type { ManifestTensor, ManifestWeight, TokenLinear, WasmManifest } from './manifest.ts';

export type { WasmManifest } from './manifest.ts';
export { engineHasRelaxedSimd } from './features.ts';
export { canRunThreads } from './threads.ts';

/**
 * The module file this engine should fetch: the relaxed SIMD build beside `model.wasm` where
 * the manifest names one and the engine validates `f32x4.relaxed_madd`, else `model.wasm`
 * (SIMD128, which every engine with SIMD runs).
 */
export function wasmModuleFile(manifest: WasmManifest, plain = 'model.wasm'): string {
  return manifest.relaxedSimdModule && engineHasRelaxedSimd() ? manifest.relaxedSimdModule : plain;
}

const PAGE = 65536;
/** wasm32's most pages: the declared maximum of a threaded build's shared memory. */
const MAX_PAGES = 65536;

/**
 * The packed weights: one blob in the manifest's layout, or each packed tensor by name
 * (f32 as Float32Array, i32 as Int32Array, a quantized weight as its code bytes in a
 * Uint8Array, laid out as the manifest entry says).
 */
export type WasmWeights = Uint8Array | Record<string, Float32Array | Int32Array | Uint8Array>;

const ARRAY_OF: Record<ManifestWeight['dtype'], { name: string; is: (t: ArrayBufferView) => boolean }> = {
  f32: { name: 'Float32Array', is: (t) => t instanceof Float32Array },
  i32: { name: 'Int32Array', is: (t) => t instanceof Int32Array },
  i8: { name: 'Uint8Array', is: (t) => t instanceof Uint8Array },
  i4: { name: 'Uint8Array', is: (t) => t instanceof Uint8Array },
  fp8e4m3: { name: 'Uint8Array', is: (t) => t instanceof Uint8Array },
};

const count = (l: TokenLinear, T: number): number => l.c + l.t * T;

export class MoecWasmModel {
  private readonly run: (T: number) => void;

  constructor(
    readonly manifest: WasmManifest,
    readonly instance: WebAssembly.Instance,
    /** The workers of a threaded build (thread 0 is this instance); absent: one thread. */
    private readonly pool?: WasmThreadPool,
  ) {
    this.run = instance.exports.forward as (T: number) => void;
  }

  /** Threads each forward runs on. */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  /** Stops a threaded build's workers (a model left loaded does not keep Node running either way). */
  dispose(): void {
    this.pool?.stop();
  }

  /** The module's linear memory (weights, arena, inputs). */
  get memory(): WebAssembly.Memory {
    return this.instance.exports.memory as WebAssembly.Memory;
  }

  /** Runs a one-input, one-output model on `input` (T × … float32 values) and returns a copy of the output (L: as `forwardAll`). */
  forward(input: Float32Array, T: number, L = 0): Float32Array {
    const { inputs, outputs } = this.manifest;
    if (inputs.length !== 1 || outputs.length !== 1) throw new Error(`model ${this.manifest.model} has ${inputs.length} inputs and ${outputs.length} outputs; use forwardAll`);
    return this.forwardAll({ [inputs[0].name]: input }, T, L)[outputs[0].name] as Float32Array;
  }

  /**
   * Runs the model on inputs by name; returns the outputs by name (copies). A model with KV
   * caches (`manifest.state`) takes L, the positions already cached: the call appends T more
   * (L = 0: a prefill into empty caches).
   */
  forwardAll(inputs: Record<string, Float32Array | Int32Array>, T: number, L = 0): Record<string, Float32Array | Int32Array> {
    checkTokenCount(T, this.manifest.maxTokens);
    const state = this.manifest.state;
    if (state) {
      if (!Number.isInteger(L) || L < 0 || L + T > state.maxContext)
        throw new RangeError(`L = ${L} cached positions and T = ${T} new ones do not fit the context bound ${state.maxContext}`);
    } else if (L !== 0) throw new RangeError(`model ${this.manifest.model} has no KV cache; L must be 0, not ${L}`);
    growTo(this.memory, Math.ceil(count(this.manifest.memory.callBytes, T) / PAGE), `a call with T = ${T} tokens (its inputs and arena)`);
    const mem = this.memory.buffer;
    if (state) new Int32Array(mem, state.past, 1)[0] = L;
    for (const slot of this.manifest.inputs) {
      const x = inputs[slot.name];
      const n = count(slot.elements, T);
      if (!x) throw new TypeError(`missing input '${slot.name}' (${n} float32 values at T = ${T})`);
      if (x.length !== n) throw new RangeError(`input '${slot.name}' has ${x.length} values; at T = ${T} it takes ${n} (${shapeText(slot, T)})`);
      new (slot.int ? Int32Array : Float32Array)(mem, count(slot.address, T), n).set(x);
    }
    if (this.pool) {
      if (this.pool.run(T, this.run) !== 0) throw new WebAssembly.RuntimeError('a kernel read an expert index outside 0..E-1 (bad routing data)');
    } else this.run(T);
    const out: Record<string, Float32Array | Int32Array> = {};
    for (const slot of this.manifest.outputs) out[slot.name] = new (slot.int ? Int32Array : Float32Array)(this.memory.buffer, count(slot.address, T), count(slot.elements, T)).slice();
    return out;
  }

  /** Empties the KV caches (zeroes them): the next call should be a prefill (L = 0). */
  reset(): void {
    for (const b of this.manifest.state?.buffers ?? []) new Float32Array(this.memory.buffer, b.address, size(b.shape)).fill(0);
  }

  /**
   * Writes a KV cache whole (its `shape` at the context bound, as the manifest gives it): how
   * a generation resumes from caches kept elsewhere. Read one back with `cache(name)`.
   */
  setCache(name: string, data: Float32Array): void {
    const b = this.stateBuffer(name);
    if (data.length !== size(b.shape)) throw new RangeError(`the cache '${name}' takes ${size(b.shape)} values ([${b.shape.join(', ')}]), not ${data.length}`);
    new Float32Array(this.memory.buffer, b.address, data.length).set(data);
  }

  /** A copy of a KV cache's whole contents. */
  cache(name: string): Float32Array {
    const b = this.stateBuffer(name);
    return new Float32Array(this.memory.buffer, b.address, size(b.shape)).slice();
  }

  private stateBuffer(name: string): { address: number; shape: number[] } {
    const b = this.manifest.state?.buffers.find((x) => x.name === name);
    if (!b) throw new Error(`model ${this.manifest.model} has no KV cache named '${name}'`);
    return b;
  }

  /** Shape of an input or output at token count T. */
  shape(name: string, T: number): number[] {
    const slot = [...this.manifest.inputs, ...this.manifest.outputs].find((s) => s.name === name);
    if (!slot) throw new Error(`no input or output named '${name}'`);
    return slot.shape.map((d) => (typeof d === 'number' ? d : count(d, T)));
  }
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function shapeText(slot: ManifestTensor, T: number): string {
  return `[${slot.shape.map((d) => (typeof d === 'number' ? d : count(d, T))).join(', ')}]`;
}

export interface WasmLoadOptions {
  /**
   * Threads for a threaded build (`manifest.threads`; at most its `max`): this thread and
   * workers sharing its memory. Default: all the build has room for. 1 runs it on this thread.
   */
  threads?: number;
}

/** Instantiates the module and places the weights; the module may be bytes or compiled. */
export async function loadWasmModel(wasm: BufferSource | WebAssembly.Module, manifest: WasmManifest, weights: WasmWeights, opts: WasmLoadOptions = {}): Promise<MoecWasmModel> {
  if (manifest.format !== 'moec-wasm' || manifest.version !== 2)
    throw new Error(
      `not a moec-wasm version 2 manifest (format ${String(manifest.format)}, version ${String(manifest.version)})${manifest.format === 'moec-wasm' ? '; compile the model again with this moec (version 2 places inputs and the arena by the tokens of each call)' : ''}`,
    );
  let module: WebAssembly.Module;
  try {
    module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
  } catch (e) {
    const hint = manifest.relaxedSimd
      ? ' The module uses relaxed SIMD; for an engine without it, load the SIMD128 model.wasm beside it (wasmModuleFile(manifest) picks).'
      : manifest.simd
        ? ' The module uses SIMD128; for an engine without it, compile for a scalar target (--target wasm-scalar).'
        : '';
    throw new Error(`cannot compile the model's WebAssembly: ${(e as Error).message}.${hint}`);
  }
  if (manifest.threads) return instantiateThreaded(module, manifest, weights, opts.threads ?? manifest.threads.max);
  return instantiateWasmModel(module, manifest, weights);
}

/**
 * A threaded build: the shared memory it imports (its maximum wasm32's 65536 pages, so that
 * it can still grow), this thread's instance as thread 0, and `threads - 1` workers.
 */
export async function instantiateThreaded(module: WebAssembly.Module, manifest: WasmManifest, weights: WasmWeights, threads: number): Promise<MoecWasmModel> {
  if (!manifest.threads) throw new Error(`model ${manifest.model}'s module is not a threaded build`);
  if (!canRunThreads()) throw new Error('this context cannot run a threaded Wasm build: it needs SharedArrayBuffer (a cross-origin isolated page) and a thread that may wait (a worker, or Node)');
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: manifest.memory.totalPages, maximum: MAX_PAGES, shared: true });
  } catch {
    throw new RangeError(`cannot allocate the model's shared memory of ${manifest.memory.totalPages} pages (${((manifest.memory.totalPages * PAGE) / 2 ** 30).toFixed(2)} GiB)`);
  }
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  placeWeights(memory, manifest, weights);
  const pool = await WasmThreadPool.start(module, memory, instance, manifest, threads);
  return new MoecWasmModel(manifest, instance, pool);
}

/**
 * The synchronous half of `loadWasmModel`, for a module already compiled (Node, workers,
 * benchmarks): instantiates, grows memory for the weights and places them.
 */
export function instantiateWasmModel(module: WebAssembly.Module, manifest: WasmManifest, weights: WasmWeights): MoecWasmModel {
  const model = new MoecWasmModel(manifest, new WebAssembly.Instance(module, {}));
  growTo(model.memory, manifest.memory.totalPages, 'its weights');
  placeWeights(model.memory, manifest, weights);
  return model;
}

/**
 * Grows `memory` to `pages` if it has fewer. Memory is grown on demand, as a call needs it,
 * not reserved for the token bound; `memory.grow` also serves a shared memory (it grows up
 * to its declared maximum, and `memory.buffer` is read again after it).
 */
function growTo(memory: WebAssembly.Memory, pages: number, what: string): void {
  const have = memory.buffer.byteLength / PAGE;
  if (pages <= have) return;
  try {
    memory.grow(pages - have);
  } catch {
    throw new RangeError(`cannot grow the model's memory to ${pages} pages (${((pages * PAGE) / 2 ** 30).toFixed(2)} GiB) for ${what}`);
  }
}

function placeWeights(memory: WebAssembly.Memory, manifest: WasmManifest, weights: WasmWeights): void {
  const { base, bytes, entries } = manifest.weights;
  const mem = new Uint8Array(memory.buffer);
  if (weights instanceof Uint8Array) {
    if (weights.length !== bytes) throw new RangeError(`the weights blob has ${weights.length} bytes; the manifest lays out ${bytes}`);
    mem.set(weights, base);
    return;
  }
  for (const e of entries) {
    const t = weights[e.name];
    if (!t) throw new TypeError(`missing packed weight '${e.name}' (${e.dtype}[${e.shape.join(', ')}])`);
    if (t.byteLength !== e.bytes || !ARRAY_OF[e.dtype].is(t))
      throw new RangeError(`packed weight '${e.name}' must be ${e.dtype}[${e.shape.join(', ')}] (${e.bytes} bytes as a ${ARRAY_OF[e.dtype].name}${e.quant ? ' of codes' : ''})`);
    mem.set(new Uint8Array(t.buffer, t.byteOffset, t.byteLength), base + e.offset);
  }
}
