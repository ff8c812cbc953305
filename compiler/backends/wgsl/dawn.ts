/**
 * @fileoverview Loading the `webgpu` package (Dawn) in Node. It is an optional dependency
 * (about 130 MB): `npm i moec` for the C or Wasm backends need not pull it in, so a WGSL run
 * without it must say what to install rather than print Node's module-resolution error.
 */
import { fail } from '../../../ir/diagnostics.ts';

export type DawnModule = typeof import('webgpu');

/** Node's `ERR_MODULE_NOT_FOUND` for the package itself (not for a file inside it). */
function isMissingPackage(e: unknown, name: string): boolean {
  const err = e as { code?: string; message?: string } | undefined;
  return err?.code === 'ERR_MODULE_NOT_FOUND' && (err.message ?? '').includes(`'${name}'`);
}

/**
 * The `webgpu` package, or E507 saying how to install it. `load` is the import itself;
 * a test passes one that fails as a missing package does.
 */
export async function importDawn(load: () => Promise<DawnModule> = () => import('webgpu')): Promise<DawnModule> {
  try {
    return await load();
  } catch (e) {
    if (!isMissingPackage(e, 'webgpu')) throw e;
    return fail(
      'E507',
      'the WGSL backend needs the `webgpu` package (Dawn) to run in Node, and it is not installed',
      undefined,
      'it is an optional dependency of moec: `npm install webgpu` in your project (or reinstall moec without --omit=optional); the C and Wasm backends run without it',
    );
  }
}
