/**
 * @fileoverview The one error every backend gives for what it cannot run yet (an op with no
 * kernel there, a shape a kernel does not handle): E701, naming the backend and the op, so a
 * user sees the same message whichever backend refused, and the way out.
 */
import { fail } from '../../ir/diagnostics.ts';

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
