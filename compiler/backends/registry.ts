/**
 * @fileoverview The registry of backends: the one place that knows them all, for the CLI,
 * the driver and the API (`getBackend`). Backends are loaded lazily, so `moec check` never
 * pays for binaryen or a WebGPU adapter. The contract they meet is `backend.ts`.
 */
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { fail } from '../../ir/diagnostics.ts';
import { forEachKernel } from '../../ir/kernel/walk.ts';
import { refuseWasmOutOfMemory } from '../../ir/out-of-memory.ts';
import { UsageError } from '../usage-error.ts';
import type { Backend, BackendName } from './backend.ts';

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
  let backend: Backend;
  try {
    backend = await load();
  } catch (e) {
    // Loading the wasm backend instantiates binaryen, itself a WebAssembly module.
    refuseWasmOutOfMemory(e);
    throw e;
  }
  return withDecoderOpsRefused(backend);
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
