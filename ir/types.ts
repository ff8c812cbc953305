/**
 * @fileoverview Element types and tensor types of the graph IR. A shape is a list of
 * `Dim`s: concrete integers or linear expressions over symbolic sizes such as the token
 * count `T` (see `dims.ts`).
 */
import type { Dim } from './dims.ts';
import type { ActQuant } from './quant.ts';

/**
 * Element types. `i8`, `i4` and `fp8e4m3` weights are quantized (codes plus f32 scales:
 * see `quant.ts`); `i4` packs two elements per byte.
 */
export const DTYPES = ['f32', 'f16', 'bf16', 'f64', 'i32', 'i64', 'i8', 'u8', 'bool', 'fp8e4m3', 'i4'] as const;
export type DType = (typeof DTYPES)[number];

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}

export function isFloatDType(d: DType): boolean {
  return d === 'f32' || d === 'f16' || d === 'bf16' || d === 'f64' || d === 'fp8e4m3';
}

/** Bytes per element (fp8 is one byte, i4 half a byte; bool is stored as one byte in checkpoints). */
export function dtypeBytes(d: DType): number {
  switch (d) {
    case 'f64':
    case 'i64':
      return 8;
    case 'f32':
    case 'i32':
      return 4;
    case 'f16':
    case 'bf16':
      return 2;
    case 'i4':
      return 0.5;
    default:
      return 1;
  }
}

export interface TensorType {
  dtype: DType;
  shape: Dim[];
  /**
   * Present exactly when the value is a quantized weight (dtype i8, i4 or fp8e4m3; see
   * `quant-type.ts`): its scale group and reduction axis.
   */
  quant?: TypeQuant;
}

/**
 * How a quantized value is scaled: `group` elements of the reduction axis per f32 scale
 * (0: one scale per output channel, the whole axis), and that axis counted from the end
 * (-1: the last, as in a linear weight [N, K]; -2: a matmul weight [K, N]), so it does not
 * move when weights are stacked along a new leading axis.
 */
export interface TypeQuant {
  group: number;
  axis: number;
  /**
   * `q8`: a GEMM reading this weight rounds its activations to int8 blocks of 32 first
   * (W8A8; the definition is in `quant.ts`). Only on i8 with group 32, 64 or 128; absent
   * otherwise, and absent means the activations are multiplied as they are.
   */
  act?: ActQuant;
}
