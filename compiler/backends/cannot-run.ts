/**
 * @fileoverview The one error every backend gives for what it cannot run yet (an op with no
 * kernel there, a shape a kernel does not handle): E701, naming the backend and the op, so a
 * user sees the same message whichever backend refused, and the way out.
 */
import { fail } from '../../ir/diagnostics.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';

/** The backends' names as messages print them. */
const SHOWN: Record<string, string> = { c: 'C', wasm: 'wasm', wgsl: 'WGSL' };

/**
 * E701: the `backend` backend cannot run `op` (`detail`: which case of it, e.g. "with a
 * size that depends on the token count after the first axis").
 */
export function cannotRun(backend: 'c' | 'wasm' | 'wgsl', op: string, detail?: string, hint?: string): never {
  fail(
    'E701',
    `the ${SHOWN[backend]} backend cannot run ${op}${detail ? ` ${detail}` : ''} yet`,
    undefined,
    hint ?? 'run it with --backend ref (the reference interpreter), or analyze it',
  );
}

/**
 * E701 for a program whose GEMMs round their activations to int8 blocks (a weight with
 * `act=q8`, from `--quantize w8a8`; ir/quant.ts): the Wasm and WGSL kernels multiply f32
 * activations only, and running them unrounded would silently compute another model.
 */
export function refuseRoundedActivations(p: KProgram, backend: 'wasm' | 'wgsl'): void {
  const b = p.buffers.find((x) => x.quant?.act);
  if (b)
    cannotRun(
      backend,
      `GEMMs that round their activations to int8 (act=${b.quant!.act} on the weight ${b.name}, from --quantize w8a8)`,
      undefined,
      '--quantize i8g32 runs here: the same i8 weights with f32 activations; w8a8 runs on --backend c and --backend ref',
    );
}
