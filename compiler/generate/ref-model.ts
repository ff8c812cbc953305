/**
 * @fileoverview The reference backend of `moec generate`: the kernel interpreter running the
 * compiled program with its state (the KV caches, `allocateState`) kept between calls, behind
 * the same `LoadedModel` contract as C, Wasm and WGSL (backend.ts), so one generation loop
 * serves every backend.
 */
import { allocateState, resetState } from '../../ir/kernel/attention.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import type { Tensor } from '../../ir/tensor.ts';
import type { LoadedModel } from '../backends/backend.ts';
import { stateFromCaches } from '../backends/state-caches.ts';

export function loadReference(program: KProgram, weights: Record<string, Tensor>): LoadedModel {
  const state = allocateState(program);
  return {
    forward: async (inputs, bindings) => interpretKernelIR(program, { bindings, inputs, weights, state }),
    reset: () => resetState(state),
    loadCaches(caches, L) {
      for (const s of stateFromCaches(program, caches, L)) state[s.name]?.data.set(s.data);
    },
    dispose() {},
  };
}
