/**
 * @fileoverview `moec analyze --train-tokens N --mfu F`: what training on N tokens costs.
 *
 * FLOPs per training token = 3 × the forward pass per token (the backward pass computes the
 * gradients of both the activations and the weights, two products of the forward's size: the
 * usual 6·N_active rule, written over moec's own count). The forward pass is counted from the
 * graph (`flops.ts`) as a prefill of the training context L, averaged over its L tokens: the
 * GEMMs of the active parameters (2 per parameter) plus causal attention over the positions
 * before each token, plus the rest (norms, activations, routing).
 *
 * Chip-hours = FLOPs / (the chip's peak × MFU) / 3600 s, at the chip's bf16 peak (mixed
 * precision training multiplies in bf16 or below; MFU is quoted against the bf16 peak), or its
 * f32 peak when it has no bf16 rate. `mfuFor` is the inverse: the MFU that a reported number
 * of chip-hours implies.
 */
import { peakFlops } from '../cost/cost.ts';
import type { TargetCaps } from '../target/caps.ts';
import type { FlopsCount } from './flops.ts';

/** Forward + backward = 3 forward passes. */
export const TRAIN_PASSES = 3;

export interface TrainingCost {
  tokens: number;
  context: number;
  mfu: number;
  chip: string;
  /** The peak the MFU is a share of, and its dtype. */
  peakFlops: number;
  peakDType: 'bf16' | 'f32';
  /** Forward FLOPs per token at the context: GEMMs (dense and routed), attention, the rest. */
  forwardPerToken: { gemm: number; attention: number; other: number; total: number };
  /** 3 × forward per token, and for all the tokens. */
  flopsPerToken: number;
  flops: number;
  chipHours: number;
}

export interface TrainingRequest {
  tokens: number;
  mfu: number;
  context: number;
  /** The forward count of one whole context of L tokens (T = L, nothing cached). */
  prefill: FlopsCount;
  chip: TargetCaps;
}

export function trainingCost(r: TrainingRequest): TrainingCost {
  const L = r.context;
  const forwardPerToken = {
    gemm: (r.prefill.gemm + r.prefill.routed) / L,
    attention: r.prefill.attention / L,
    other: r.prefill.other / L,
    total: r.prefill.total / L,
  };
  const peakDType = r.chip.peakFlops.bf16 !== undefined ? 'bf16' : 'f32';
  const peak = peakFlops(r.chip, peakDType);
  const flopsPerToken = TRAIN_PASSES * forwardPerToken.total;
  const flops = flopsPerToken * r.tokens;
  return {
    tokens: r.tokens, context: L, mfu: r.mfu, chip: r.chip.name, peakFlops: peak, peakDType, forwardPerToken, flopsPerToken, flops,
    chipHours: flops / (peak * r.mfu) / 3600,
  };
}

/** The MFU at which `flops` take `chipHours` on chips of `peak` FLOP/s. */
export function mfuFor(flops: number, chipHours: number, peak: number): number {
  return flops / (chipHours * 3600 * peak);
}
