/**
 * The backends whose attention and MLA kernels run with the KV cache as state, for the
 * whole-model tests (whole-model.test.ts, whole-model-compile.test.ts): a refusal (E701)
 * from one of these fails; the others skip, with the refusal as the reason, until they are
 * listed here. All four run them now.
 */
export const RUNS_ATTENTION: readonly string[] = ['ref', 'c', 'wasm', 'wgsl'];
