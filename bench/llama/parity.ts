/**
 * @fileoverview moec against llama.cpp on the same model: greedy generation from the same
 * prompt ids on each, and the per-position agreement of their next-token distributions.
 *
 * llama.cpp gives probabilities (peer.ts), so both sides are compared as log-softmax rows:
 * logits are defined by them up to one constant per position, and the logits' own scale
 * (max |logit| of moec's row) is what the difference is relative to. A position whose
 * difference is above the tolerance is reported with its routing margin when the caller can
 * give one, so a near-tie in the expert choice (which flips an expert on any rounding) is
 * told apart from a real disagreement.
 */
import type { LoadedModel } from '../../compiler/backends/backend.ts';
import { argmax } from '../../compiler/generate/sampling.ts';
import { lastRowInputs } from '../../compiler/passes/last-logits.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { allocateState } from '../../ir/kernel/attention.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import type { Tensor } from '../../ir/tensor.ts';
import type { LlamaPeer } from './peer.ts';

/** How close moec and llama.cpp must be, over the logits' scale: F32 (issue 16's bound), and Q8_0 against i8 groups of 32 (llama.cpp also rounds activations to Q8_0; measured below 1e-2). */
export const TOLERANCE = { f32: 1e-5, q8: 2e-2 } as const;

/** One side's run: the next-token rows of every prompt position and every generated step, and the tokens it chose. */
export interface Generation {
  /** log-softmax of each row (prompt positions, then one per generated token). */
  logProbs: Float64Array[];
  /** max |logit| of each row (moec only; 0 for llama.cpp, which gives probabilities). */
  scales: number[];
  /** The greedy tokens (argmax of the last row, fed back). */
  tokens: number[];
}

/** A model that appends `ids` after L cached positions and returns their logits [T, V]. */
export type Step = (ids: number[], L: number) => Promise<Float32Array>;

function logSoftmax(row: ArrayLike<number>): { lp: Float64Array; scale: number } {
  let mx = -Infinity;
  let scale = 0;
  for (let i = 0; i < row.length; i++) {
    mx = Math.max(mx, row[i]);
    scale = Math.max(scale, Math.abs(row[i]));
  }
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] - mx);
  const lse = mx + Math.log(s);
  return { lp: Float64Array.from(row, (x) => x - lse), scale };
}

/** moec's greedy generation: a prefill of `prompt`, then `steps` single-token steps. */
export async function generateMoec(step: Step, prompt: number[], steps: number, vocab: number): Promise<Generation> {
  const g: Generation = { logProbs: [], scales: [], tokens: [] };
  let ids = prompt;
  let L = 0;
  for (let s = 0; s <= steps; s++) {
    const logits = await step(ids, L);
    for (let t = 0; t < ids.length; t++) {
      const { lp, scale } = logSoftmax(logits.subarray(t * vocab, (t + 1) * vocab));
      g.logProbs.push(lp);
      g.scales.push(scale);
    }
    L += ids.length;
    if (s === steps) break;
    const next = argmax(g.logProbs[g.logProbs.length - 1]);
    g.tokens.push(next);
    ids = [next];
  }
  return g;
}

/** llama.cpp's greedy generation, the same way (its sequence is emptied first). */
export async function generateLlama(peer: LlamaPeer, prompt: number[], steps: number): Promise<Generation> {
  await peer.reset();
  const g: Generation = { logProbs: [], scales: [], tokens: [] };
  let ids = prompt;
  for (let s = 0; s <= steps; s++) {
    const rows = await peer.logProbs(ids);
    g.logProbs.push(...rows);
    g.scales.push(...rows.map(() => 0));
    if (s === steps) break;
    const next = argmax(g.logProbs[g.logProbs.length - 1]);
    g.tokens.push(next);
    ids = [next];
  }
  return g;
}

/**
 * The agreement of two generations: per row max |Δ log p| / max |logit| (moec's), over the
 * rows both computed from the same tokens: the prompt's and the steps up to and including
 * the first where the greedy tokens differ (after it the contexts differ). At that step,
 * `tieMargin` is how far apart moec's top two tokens were, in the same units: a difference
 * within the tolerance there is a near tie that any rounding may flip, not a disagreement.
 */
export interface Agreement {
  perRow: number[];
  worst: number;
  worstRow: number;
  tokensEqual: boolean;
  /** The first step whose tokens differ, or -1. */
  firstDiff: number;
  /** At `firstDiff`: (top1 - top2) of moec's row over its logits' scale. */
  tieMargin?: number;
}

export function compareGenerations(moec: Generation, llama: Generation, promptLength: number): Agreement {
  const firstDiff = moec.tokens.findIndex((t, i) => t !== llama.tokens[i]);
  const rows = firstDiff < 0 ? moec.logProbs.length : promptLength + firstDiff;
  const perRow = moec.logProbs.slice(0, rows).map((a, r) => {
    const b = llama.logProbs[r];
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
    return d / moec.scales[r];
  });
  const worstRow = perRow.indexOf(Math.max(...perRow));
  const out: Agreement = { perRow, worst: perRow[worstRow], worstRow, tokensEqual: firstDiff < 0, firstDiff };
  if (firstDiff >= 0) {
    const r = promptLength - 1 + firstDiff;
    const sorted = Array.from(moec.logProbs[r]).sort((x, y) => y - x);
    out.tieMargin = (sorted[0] - sorted[1]) / moec.scales[r];
  }
  return out;
}

/**
 * A timed generation step on a loaded backend model: the greedy next token, as llama.cpp's
 * evaluate returns it (its sampler runs natively at temperature 0): through `greedy` where the
 * backend has it (the C runner answers the argmax, not 128 KB of logits: ~0.2-0.4 ms of a
 * 4 ms decode step went to moving them to Node), else the argmax of `forward`'s logits.
 */
export function greedyStep(model: LoadedModel, program?: KProgram): (ids: number[], L: number) => Promise<number> {
  return async (ids, L) => {
    if (L === 0) model.reset?.();
    const inputs = { ids: idsTensor(ids), ...(program ? lastRowInputs(program, ids.length) : {}) };
    const bindings = { T: ids.length, L };
    if (model.greedy) return (await model.greedy(inputs, bindings)).logits.id;
    const logits = (await model.forward(inputs, bindings)).logits;
    return argmax(logits.data.subarray(logits.data.length - logits.shape[logits.shape.length - 1]));
  };
}

/**
 * A step on a loaded backend model (its state appended at L; `reset` before a prefill). Given
 * its program, the `last_row` a last-logits program takes is fed (T - 1: it returns that row only).
 */
export function backendStep(model: LoadedModel, program?: KProgram): Step {
  return async (ids, L) => {
    if (L === 0) model.reset?.();
    const out = await model.forward({ ids: idsTensor(ids), ...(program ? lastRowInputs(program, ids.length) : {}) }, { T: ids.length, L });
    return out.logits.data as Float32Array;
  };
}

/** A step on moec's kernel interpreter (the reference: float64 accumulation), its state kept here. */
export function interpreterStep(p: KProgram, weights: Record<string, Tensor>): Step {
  let state = allocateState(p);
  return async (ids, L) => {
    if (L === 0) state = allocateState(p);
    const out = interpretKernelIR(p, { bindings: { T: ids.length, L }, inputs: { ids: idsTensor(ids) }, weights, state });
    return Float32Array.from(out.logits.data);
  };
}

function idsTensor(ids: number[]): Tensor {
  return { dtype: 'i32', shape: [ids.length], data: Int32Array.from(ids) };
}
