/**
 * @fileoverview Weight memory at each storage dtype, and how many chips of a target it
 * takes to hold it.
 *
 * At a float dtype (f32, bf16) every weight takes its elements × the dtype's size. At a
 * quantized dtype (`ir/quant.ts`) the GEMM weights hold codes (fp8 and i8 one byte, i4 half
 * a byte) plus f32 scales along their reduction axis, in the scheme `--quantize` uses for
 * that dtype (i8: one scale per output channel; i4: groups of 32; fp8: groups of 128, as in
 * DeepSeek-V3's checkpoints); weights that are no GEMM operand (norms, biases, embedding
 * tables) stay in bf16, as quantized checkpoints keep them.
 *
 * Chips: the weights must fit in the target's main memory (its last memory level), so
 * chips = ⌈bytes / capacity⌉; the KV cache of a context is added when the caller gives it.
 */
import { QUANT_SCHEMES, type QuantScheme, effectiveGroup, quantizedBytes } from '../../ir/quant.ts';
import { evalShape } from '../../ir/dims.ts';
import type { TargetCaps } from '../target/caps.ts';
import type { WeightSummary } from './params.ts';

/** The storage dtypes `--dtype` and the memory table know, in table order. */
export const STORAGE_DTYPES = ['f32', 'bf16', 'fp8', 'i8', 'i4'] as const;
export type StorageDType = (typeof STORAGE_DTYPES)[number];

const FLOAT_BYTES: Record<string, number> = { f32: 4, bf16: 2 };
/** Bytes per element of weights a quantized checkpoint keeps in floating point. */
const KEPT_FLOAT_BYTES = 2;

function scheme(d: StorageDType): QuantScheme | undefined {
  return d in FLOAT_BYTES ? undefined : QUANT_SCHEMES[d];
}

export interface WeightBytes {
  /** Codes (or plain elements). */
  data: number;
  /** f32 scales (quantized GEMM weights only). */
  scales: number;
}

/** Bytes of one weight (all of it) stored at `d`. */
export function weightBytes(w: WeightSummary, d: StorageDType): WeightBytes {
  const q = scheme(d);
  if (!q) return { data: w.params * FLOAT_BYTES[d], scales: 0 };
  if (w.reduceAxisFromEnd === undefined) return { data: w.params * KEPT_FLOAT_BYTES, scales: 0 };
  const shape = evalShape(w.type.shape, {});
  const axis = shape.length - w.reduceAxisFromEnd;
  const { codes, scales } = quantizedBytes(q.dtype, shape, axis, effectiveGroup(q, shape[axis]));
  return { data: codes, scales };
}

/** Total bytes of `weights` at `d`, codes and scales together. */
export function totalWeightBytes(weights: readonly WeightSummary[], d: StorageDType): number {
  return weights.reduce((a, w) => {
    const b = weightBytes(w, d);
    return a + b.data + b.scales;
  }, 0);
}

export interface MemoryRow {
  dtype: StorageDType;
  /** All weights, codes and scales. */
  bytes: number;
  /** Of which scales. */
  scaleBytes: number;
  /** Chips of the target needed for the weights alone, and with the KV cache of the context (absent without a target). */
  chips?: number;
  chipsWithKv?: number;
}

/** The target's main-memory capacity in bytes (its last, outermost memory level). */
export function deviceCapacity(t: TargetCaps): number {
  return t.memory[t.memory.length - 1].bytes;
}

/** One row per storage dtype: weight bytes, scales, and chips of `target` (when given) for weights (+ `kvBytes`). */
export function memoryTable(weights: readonly WeightSummary[], target: TargetCaps | undefined, kvBytes: number): MemoryRow[] {
  return STORAGE_DTYPES.map((dtype) => {
    let bytes = 0;
    let scaleBytes = 0;
    for (const w of weights) {
      const b = weightBytes(w, dtype);
      bytes += b.data + b.scales;
      scaleBytes += b.scales;
    }
    if (!target) return { dtype, bytes, scaleBytes };
    const cap = deviceCapacity(target);
    return { dtype, bytes, scaleBytes, chips: Math.ceil(bytes / cap), chipsWithKv: Math.ceil((bytes + kvBytes) / cap) };
  });
}
