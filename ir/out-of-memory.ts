/**
 * @fileoverview Running out of memory is the machine's limit, not a bug in moec and not a
 * file that cannot be written: V8 reports a typed array it cannot allocate as a RangeError,
 * which would otherwise surface as "internal error" (exit 3) or be mistaken for an I/O
 * failure. Code that allocates for a user's data (a checkpoint tensor, its quantized copy)
 * runs under `withMemoryFor`, so the failure is E509 naming what needed the memory.
 */
import { fail } from './diagnostics.ts';

/** Whether `err` is V8 refusing an allocation: more than this process can have, or than a typed array can hold. */
export function isAllocationFailure(err: unknown): boolean {
  return err instanceof RangeError && /Array buffer allocation failed|Invalid typed array length|Invalid array buffer length|Invalid array length/.test(err.message);
}

/**
 * V8 reserves address space for every WebAssembly memory (about 10 GiB with its guard
 * region), for binaryen's own module as for a model's. Under a virtual-memory limit
 * (`ulimit -v`) that reservation fails, which is the environment's limit and not a moec
 * bug: this turns such an error into E509 with what to do, and leaves any other alone.
 */
export function refuseWasmOutOfMemory(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  if (!/Cannot allocate Wasm memory|Out of memory|cannot grow the model's memory/i.test(message)) return;
  fail(
    'E509',
    `this environment cannot give WebAssembly the memory it needs (${message.replace(/^Aborted\((.*)\).*$/s, '$1')})`,
    undefined,
    'V8 reserves about 10 GiB of address space for each WebAssembly memory: raise or lift the virtual-memory limit (`ulimit -v`), or run with --backend c or ref',
  );
}

/** Runs `fn`; if an allocation fails, E509 says that `what` (e.g. "tensor 'w' (F32 [4096, 4096])") needed more memory. */
export function withMemoryFor<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!isAllocationFailure(err)) throw err;
    // "Invalid ... length": over what one array may hold here (4 GiB in Node 20), whatever the machine has.
    const why = /^Invalid/.test((err as Error).message) ? `more than one array can hold in this Node.js (${(err as Error).message})` : (err as Error).message;
    return fail(
      'E509',
      `not enough memory for ${what}: ${why}`,
      undefined,
      'moec holds a tensor in memory while it works on it: free memory, raise the process\'s limit (ulimit -v), or use a machine with more',
    );
  }
}
