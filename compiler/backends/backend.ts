/**
 * @fileoverview The contract every code generator meets (the registry that finds them is
 * `registry.ts`; a backend imports this file, never the registry or another backend).
 *
 * A backend renders a planned kernel program (`KProgram`, after tile and plan-memory) into
 * files for its target (`emit`) and can run what it emitted on this machine (`load`), so
 * `moec run --backend NAME` and the parity tests hold it to the reference interpreter on
 * the same inputs. Backends make no scheduling decision: tiles, buffer offsets and the
 * arena size come from the program.
 */
import type { KProgram } from '../../ir/kernel/kernel.ts';
import type { Tensor } from '../../ir/tensor.ts';
import type { Backend as BackendName, TargetCaps } from '../target/caps.ts';
import type { PackProgress, WriteAt } from './weights.ts';

export type { BackendName };

/** Files of an output directory, by name: text or bytes. */
export type EmittedFiles = Record<string, string | Uint8Array>;

/** A compiled model loaded into this process (a shared library, a Wasm instance, GPU pipelines). */
export interface LoadedModel {
  /**
   * Runs the model once: `inputs` by graph name, `bindings` the symbolic sizes (`T`).
   * Returns the outputs by graph name as float32 tensors.
   */
  forward(inputs: Record<string, Tensor>, bindings: Record<string, number>): Promise<Record<string, Tensor>>;
  /**
   * Runs forward as `forward` does but returns, for each output, only the index of the largest
   * value of its last row (along its last axis; the first of equal ones; a NaN never wins over
   * an earlier value), and with `logprob` its log-probability under the row's softmax, as
   * `Sampler.next` gives them at temperature 0: a greedy step's next token, where the outputs
   * need not reach the caller (the C runner then answers a few bytes, not the logits). Absent:
   * take `forward`'s outputs.
   */
  greedy?(inputs: Record<string, Tensor>, bindings: Record<string, number>, opts?: { logprob?: boolean }): Promise<Record<string, { id: number; logprob?: number }>>;
  /**
   * The last forward's own time in ms, where the backend measures it apart from its host
   * overhead (the C runner's process start and file I/O); undefined otherwise.
   */
  lastForwardMs?: number;
  /** Threads each forward runs on, where the backend runs its own (Wasm's threaded build); absent: not reported. */
  threads?: number;
  /**
   * A program with state (its KV caches compiled as `state`, `KProgram.maxContext` set):
   * empties the caches; the next call is then a prefill (`bindings.L` = 0). The state lives
   * in the loaded model between calls (the C runner's region, Wasm linear memory, GPU
   * buffers), and each call with `bindings.L` = positions already cached appends T more.
   */
  reset?(): void;
  /**
   * A program with state: fills positions 0..L-1 of every state cache from caches as the
   * graph takes them (by the graph input's name, [.., L, ..]), so a model whose caches are
   * inputs runs as one with state (`moec run --context L`) and a generation can resume.
   * The tensors come from `stateFromCaches` (state-caches.ts), which checks them.
   */
  loadCaches?(caches: Record<string, Tensor>, L: number): void;
  /** Frees what `load` took (library handles, GPU buffers). */
  dispose(): void;
}

/** What `emit` writes besides the usual: `threads` above 1, Wasm's threaded build for up to that many threads (`moec compile --threads N`). */
export interface EmitOptions {
  threads?: number;
}

/** The most threads a run asks for (`moec run --threads N`): each is a worker with its own instance. */
export const MAX_WASM_THREADS = 64;

/** How to load: `threads` for Wasm (its threaded build where this context can run it, else one thread). */
export interface LoadOptions {
  threads?: number;
}

export interface Backend {
  name: BackendName;
  /** The files `moec compile -o DIR` writes for this program. */
  emit(program: KProgram, target: TargetCaps, opts?: EmitOptions): EmittedFiles;
  /**
   * Builds and loads the program for running here, with the module weights by name
   * (what the program's `pack` function reads; see `weights.ts`).
   */
  load(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>, opts?: LoadOptions): Promise<LoadedModel>;
  /**
   * The weights as the emitted code reads them, in one blob (`moec pack`), with a manifest
   * of where each tensor lies and how it is laid out. `onProgress` is called as the blob
   * fills (blob bytes done of its total, the tensor), synchronously, so a terminal's
   * progress line can be redrawn during this one call.
   */
  /** The decoder ops (`DECODER_OPS`) this backend renders; the others get E701 before emit or load. */
  decoderOps?: readonly string[];
  packWeights?(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>, opts?: { onProgress?: PackProgress }): { blob: Uint8Array; manifest: WeightManifest };
  /**
   * `packWeights` written through `write` a region at a time instead of into one array
   * (`moec pack` writes a file as it fills, so with streamed weights the blob is never in
   * memory); returns the manifest (its `bytes`: the blob's size).
   */
  writeWeights?(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>, write: WriteAt, opts?: { onProgress?: PackProgress }): WeightManifest;
  /** An expert-parallel program's weights: one blob per rank (its experts' slots only), one manifest for their common layout (`moec pack --chips N`). */
  packRankWeights?(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>): { blobs: Uint8Array[]; manifest: WeightManifest };
}

/** Where each packed weight lies in a backend's weights blob. */
export interface WeightManifest {
  model: string;
  target: string;
  bytes: number;
  align: number;
  tensors: Array<{ name: string; dtype: string; shape: number[]; offset: number; bytes: number; layout: string }>;
}
