/**
 * @fileoverview The C runners' per-kernel split names each kernel by its role, so the
 * report's line reads as router, align, gate/up and down.
 */
import { describe, expect, it } from 'vitest';
import { kernelRole } from '../bench/runners/moec-c.ts';

describe('bench: C per-kernel split', () => {
  it('names a GEMM by its depth and columns, any other kernel by its kind', () => {
    expect(kernelRole('k0_router', 'router: 8 experts, top-2, softmax scores')).toBe('k0 router');
    expect(kernelRole('k1_moe_align', 'moe_align: 8 experts, blocks of 32 rows')).toBe('k1 moe_align');
    expect(kernelRole('k2_grouped_gemm', 'grouped GEMM 1024 -> 7168, rows gathered from tokens, epilogue SwiGLU (concat), tile 4x48')).toBe('k2 gemm 1024->7168');
    expect(kernelRole('k3_gemm', 'GEMM 3584 -> 1024, epilogue none, tile 8x32')).toBe('k3 gemm 3584->1024');
  });
});
