/**
 * @fileoverview Concrete tensors: what the reference interpreter computes on and what
 * safetensors files hold. Float tensors are stored as Float32Array (f32 and the narrower
 * float dtypes, already rounded to their precision) or Float64Array (the interpreter's
 * float64 mode); integer tensors as Int32Array (i32, i8, u8, bool) .
 */
import type { ActQuant } from './quant.ts';
import type { DType } from './types.ts';

export type TensorData = Float32Array | Float64Array | Int32Array;

export interface Tensor {
  dtype: DType;
  /** Concrete sizes, row-major (C order). */
  shape: number[];
  data: TensorData;
  /**
   * A quantized tensor (dtype i8, i4 or fp8e4m3): `data` (Int32Array) holds one code per
   * element, unpacked, and these are its scales (see `quant.ts` for the exact values);
   * `act` as its type says (`TypeQuant.act`): the GEMMs reading it round their activations.
   */
  quant?: { axis: number; group: number; scales: Float32Array; act?: ActQuant };
}

/** Number of elements of a concrete shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a concrete shape, in elements. */
export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function isIntDType(dtype: DType): boolean {
  return dtype === 'i32' || dtype === 'i64' || dtype === 'i8' || dtype === 'u8' || dtype === 'bool' || dtype === 'i4';
}

/** A zero-filled tensor; float tensors use Float64Array when `f64` is set. */
export function zeros(dtype: DType, shape: number[], f64 = false): Tensor {
  const n = numel(shape);
  const data = isIntDType(dtype) ? new Int32Array(n) : f64 ? new Float64Array(n) : new Float32Array(n);
  return { dtype, shape, data };
}
