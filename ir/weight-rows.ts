/**
 * @fileoverview Weights read row by row instead of held whole: what lets `moec pack` take a
 * checkpoint larger than memory.
 *
 * A weight of a real model (DeepSeek-V3's stacked experts, [58, 256, 2048, 7168]) does not
 * fit in memory as f32, and need not: a packed blob is laid out row by row (a row: the last
 * axis, which is also the reduction axis of every GEMM weight). A *streamed* weight is a
 * Tensor whose values are fetched when asked for: `weightRows(t)` gives its rows one at a
 * time (f32, read and converted a chunk at a time from the checkpoint), and the blob writers
 * take that road (compiler/backends/quant-rows.ts). Anything else that reads `t.data` (the
 * interpreter running a `pack` step that is not a move of whole rows, the reference
 * interpreter) gets the whole tensor, loaded on first use and kept, exactly as an eager
 * loader would have made it.
 */
import type { Tensor, TensorData } from './tensor.ts';
import type { DType } from './types.ts';

/** A weight's rows: the last axis `k` long, row `r` (row-major over the other axes) at `data[at..at + k]`. */
export interface WeightRows {
  shape: number[];
  /**
   * Row `r` as f32. The array may hold other rows too (a chunk of the checkpoint), and is
   * valid until the next call (a reader reuses its buffers): copy what is to be kept.
   */
  source(r: number): { data: Float32Array; at: number };
  /**
   * A quantized weight whose checkpoint holds codes of its own scheme: row `r`'s codes (k)
   * and its group scales (ceil(k / group)) into `codes` and `scales`, as they are (its
   * `source` rows are those codes dequantized).
   */
  codes?(r: number, codes: Int32Array, scales: Float32Array): void;
}

const ROWS = new WeakMap<Tensor, WeightRows>();

/** The row reader of a streamed weight, or undefined for a tensor held in memory. */
export function weightRows(t: Tensor): WeightRows | undefined {
  return ROWS.get(t);
}

/**
 * A streamed weight: `dtype` and `shape` as the whole tensor will be (`quantized`: it has
 * `quant`), `rows` to read it row by row (undefined: it is only read whole), and `load` for
 * the whole tensor (called once, on the first read of `data` or `quant`; its result is kept).
 */
export function streamedWeight(dtype: DType, shape: number[], quantized: boolean, rows: WeightRows | undefined, load: () => Tensor): Tensor {
  let whole: Tensor | undefined;
  const get = (): Tensor => (whole ??= load());
  const t = { dtype, shape } as Tensor;
  Object.defineProperty(t, 'data', { get: (): TensorData => get().data, enumerable: true });
  if (quantized) Object.defineProperty(t, 'quant', { get: () => get().quant, enumerable: true });
  if (rows) ROWS.set(t, rows);
  return t;
}
