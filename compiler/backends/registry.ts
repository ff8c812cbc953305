/**
 * @fileoverview The registry of backends: the one place that knows them all, for the CLI,
 * the driver and the API (`getBackend`). Backends are loaded lazily, so `moec check` never
 * pays for binaryen or a WebGPU adapter. The contract they meet is `backend.ts`.
 */
import { refuseWasmOutOfMemory } from '../../ir/out-of-memory.ts';
import { UsageError } from '../usage-error.ts';
import type { Backend, BackendName } from './backend.ts';
import { withDecoderOpsRefused } from './decoder-ops.ts';

export { DECODER_OPS } from './decoder-ops.ts';

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
  wgsl: () => Promise.all([import('./wgsl/index.ts'), import('./wgsl/node-gpu.ts')]).then(([m, g]) => m.wgslBackendOn(g.NODE_GPU)),
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
