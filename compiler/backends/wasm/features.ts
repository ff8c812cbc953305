/**
 * @fileoverview What the running WebAssembly engine offers beyond the module's baseline,
 * probed when a model is loaded (never assumed from the target's name):
 * - relaxed SIMD (`f32x4.relaxed_madd`: one fused or unfused multiply-add where SIMD128
 *   needs `f32x4.mul` then `f32x4.add`): Chrome 114+, Node 22+, Node 20 behind
 *   `--experimental-wasm-relaxed-simd`;
 * (Threads are `threads.ts`'s `canRunThreads`.)
 *
 * The choice is recorded in the target's caps, which the module builder reads (`fma: true`
 * on a SIMD128 target: its GEMM micro-kernels use `relaxed_madd`), and in the manifest, so
 * the loader picks the binary that this engine runs. Imports nothing that needs Node.
 */
import type { TargetCaps } from '../../target/caps.ts';

/**
 * The smallest module using `f32x4.relaxed_madd`: `(func (param v128 v128 v128) (result v128)
 * (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2)))`, as binaryen writes it.
 */
export const RELAXED_MADD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11,
]);

/** Whether this engine validates `f32x4.relaxed_madd`. */
export function engineHasRelaxedSimd(): boolean {
  return WebAssembly.validate(RELAXED_MADD_PROBE);
}

/**
 * The caps a SIMD128 target's module is built with where the engine offers relaxed SIMD:
 * the same sheet with `fma` (the micro-kernels' multiply-add becomes `f32x4.relaxed_madd`)
 * and the multiply-add peak doubled (one instruction per multiply-add instead of two).
 * Other targets (scalar, or a sheet that already says fma) are returned as they are.
 */
export function withRelaxedSimd(target: TargetCaps): TargetCaps {
  if (target.backend !== 'wasm' || target.vectorBytes < 16 || target.fma) return target;
  const f32 = target.peakFlops.f32;
  return { ...target, fma: true, description: `${target.description}; relaxed SIMD multiply-add`, peakFlops: { ...target.peakFlops, ...(f32 ? { f32: 2 * f32 } : {}) } };
}

/** Whether a wasm target's caps ask for relaxed SIMD kernels (SIMD128 with fma). */
export function usesRelaxedSimd(target: TargetCaps): boolean {
  return target.backend === 'wasm' && target.vectorBytes >= 16 && target.fma;
}
