/**
 * @fileoverview The contract every code generator meets, and the registry the CLI and the
 * API find them in.
 *
 * A backend renders a planned kernel program (`KProgram`, after tile and plan-memory) into
 * files for its target (`emit`) and can run what it emitted on this machine (`load`), so
 * `moec run --backend NAME` and the parity tests hold it to the reference interpreter on
 * the same inputs. Backends make no scheduling decision: tiles, buffer offsets and the
 * arena size come from the program.
 *
 * Backends are loaded lazily (`getBackend`), so `moec check` never pays for binaryen or
 * a WebGPU adapter.
 */
import type { KProgram } from '../../ir/kernel/kernel.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { fail } from '../../ir/diagnostics.ts';
import { UsageError } from '../usage-error.ts';
import { forEachKernel } from '../../ir/kernel/walk.ts';
import type { Backend as BackendName, TargetCaps } from '../target.ts';

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
   * The last forward's own time in ms, where the backend measures it apart from its host
   * overhead (the C runner's process start and file I/O); undefined otherwise.
   */
  lastForwardMs?: number;
  /** Frees what `load` took (library handles, GPU buffers). */
  dispose(): void;
}

export interface Backend {
  name: BackendName;
  /** The files `moec compile -o DIR` writes for this program. */
  emit(program: KProgram, target: TargetCaps): EmittedFiles;
  /**
   * Builds and loads the program for running here, with the module weights by name
   * (what the program's `pack` function reads; see `weights.ts`).
   */
  load(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>): Promise<LoadedModel>;
  /**
   * The weights as the emitted code reads them, in one blob (`moec pack`), with a manifest
   * of where each tensor lies and how it is laid out.
   */
  /** The decoder ops (`DECODER_OPS`) this backend renders; the others get E701 before emit or load. */
  decoderOps?: readonly string[];
  packWeights?(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>): { blob: Uint8Array; manifest: WeightManifest };
}

/** Where each packed weight lies in a backend's weights blob. */
export interface WeightManifest {
  model: string;
  target: string;
  bytes: number;
  align: number;
  tensors: Array<{ name: string; dtype: string; shape: number[]; offset: number; bytes: number; layout: string }>;
}

/** The target each backend runs on by default (`moec run --backend NAME` without `--target`). */
export const DEFAULT_TARGET: Record<BackendName, string> = {
  c: 'x86-avx2',
  wasm: 'wasm-simd128',
  wgsl: 'webgpu',
};

/**
 * The backends that exist, loaded on first use. A backend adds one line here.
 */
const REGISTRY: Partial<Record<BackendName, () => Promise<Backend>>> = {
  c: () => import('./c/index.ts').then((m) => m.cBackend),
  wasm: () => import('./wasm/index.ts').then((m) => m.wasmBackend),
  wgsl: () => import('./wgsl/index.ts').then((m) => m.wgslBackend),
};

/** Names of the backends this build has. */
export function availableBackends(): BackendName[] {
  return Object.keys(REGISTRY) as BackendName[];
}

/** The backend of this name; a usage error when it does not exist (yet). */
export async function getBackend(name: string): Promise<Backend> {
  const load = Object.hasOwn(REGISTRY, name) ? REGISTRY[name as BackendName] : undefined;
  if (!load) {
    const known = ['ref', ...availableBackends()].join(', ');
    throw new UsageError(`unknown backend '${name}'`, `available: ${known}`);
  }
  return withDecoderOpsRefused(await load());
}

/** The decoder ops (embedding, rope, attention, MLA) that only the reference interpreters run so far. */
export const DECODER_OPS = ['embedding', 'rope', 'attention', 'mla_attention'] as const;

/**
 * A program with decoder ops (an imported whole model) gets E701 from every backend before
 * it renders anything, instead of whatever its renderer trips over first (an unbound cache
 * length, a missing kernel). A backend that renders them lists them in `decoderOps`.
 */
function withDecoderOpsRefused(b: Backend): Backend {
  const check = (p: KProgram): void => {
    const ops = new Set<string>();
    forEachKernel(p.steps, (k) => {
      if (k.kind === 'op' && (DECODER_OPS as readonly string[]).includes(k.op) && !b.decoderOps?.includes(k.op)) ops.add(k.op);
    });
    if (ops.size > 0)
      fail('E701', `the ${b.name} backend cannot run ${[...ops].join(', ')} yet (an imported whole model)`, undefined, 'run it with --backend ref (the reference interpreter), or analyze it');
  };
  return {
    ...b,
    emit: (p, t) => (check(p), b.emit(p, t)),
    load: async (p, t, w) => (check(p), b.load(p, t, w)),
  };
}
