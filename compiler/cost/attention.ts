/**
 * @fileoverview Exact FLOP and byte counts of the decoder ops (`embedding`, `rope`,
 * `attention`, `mla_attention`) at concrete sizes: T new tokens against L cached positions.
 * Prefill is T > 1 (L may be 0 or a prefix), decode is T = 1 at context L; the same
 * formulas cover both because each query counts exactly the keys it sees.
 *
 * Counting conventions (one multiply-add = 2 FLOPs, like the GEMMs in `cost.ts`):
 * - a softmax element costs 5 (max, subtract, exp, sum, divide), the `softmax` op's figure;
 * - rope rotates pairs: 4 multiplies and 2 adds per pair = 3 per rotated element (the
 *   cos/sin of each position are a per-token table, not counted);
 * - attention reads its q/k/v operands, the cache rows some query sees and writes its
 *   result; with a sliding window of W only the last W - 1 cached rows are read;
 * - MLA counts the cheaper of DeepSeek's two forms (inference/model.py's attn_impl), as
 *   serving stacks pick by phase, and as the kernels run them (ir/kernel/mla.ts `mlaForm`,
 *   the one decision; a kernel whose schedule fixes a form is counted in that form): the absorbed form, decode's, maps q_nope into the latent
 *   space (2·Dn·C per head), takes scores against the cached latents and rope keys
 *   (2·(C + Dr) per key), sums values in the latent space (2·C per key) and maps them out
 *   (2·C·Dv per head); the naive form, prefill's and training's, expands every latent (cached
 *   and new) into keys and values once (2·C·(Dn + Dv) per head and position) and attends
 *   at the head dims (2·(Dn + Dr) + 2·Dv per key). A long prompt is ~3x cheaper naive, a
 *   decode step ~L/… cheaper absorbed. Its cache is read whole either way.
 */
import { numel } from '../../ir/tensor.ts';
import { mlaFlops, mlaForm } from '../../ir/kernel/mla.ts';

/** Keys visible to each of `tokens` queries after `cached` positions, summed: Σ_t min(L + t + 1, W). */
export function visibleKeys(tokens: number, cached: number, window: number): number {
  let s = 0;
  for (let t = 0; t < tokens; t++) s += window > 0 ? Math.min(cached + t + 1, window) : cached + t + 1;
  return s;
}

export interface OpSizes {
  /** Concrete shapes of the operands and results, in operand / result order. */
  inputs: number[][];
  outputs: number[][];
  /** Bytes per element of each operand / result. */
  inputBytes: number[];
  outputBytes: number[];
  attrs: Readonly<Record<string, unknown>>;
}

/** FLOPs and bytes moved of one decoder op, or undefined for any other op. */
export function decoderOpCost(op: string, s: OpSizes): { flops: number; bytes: number } | undefined {
  const bytesOf = (i: number): number => numel(s.inputs[i]) * s.inputBytes[i];
  const outBytes = numel(s.outputs[0]) * s.outputBytes[0];
  switch (op) {
    case 'embedding':
      // Each id reads one table row: the rows read equal the result, not the whole table.
      return { flops: 0, bytes: bytesOf(0) + 2 * outBytes };
    case 'rope': {
      const [t, h, dh] = s.inputs[0];
      const rd = (s.attrs.rotary_dim as number) || dh;
      return { flops: 3 * t * h * rd, bytes: bytesOf(0) + outBytes };
    }
    case 'attention': {
      const [t, h, dk] = s.inputs[0];
      const [l, g] = s.inputs[3];
      const dv = s.inputs[2][2];
      const w = s.attrs.window as number;
      const keys = visibleKeys(t, l, w);
      const cachedRows = w > 0 ? Math.min(l, w - 1) : l;
      const cacheBytes = cachedRows * g * (dk * s.inputBytes[3] + dv * s.inputBytes[4]);
      const sinks = s.inputs[5] ? bytesOf(5) : 0;
      return { flops: h * keys * (2 * dk + 5 + 2 * dv), bytes: bytesOf(0) + bytesOf(1) + bytesOf(2) + cacheBytes + sinks + outBytes };
    }
    case 'mla_attention': {
      const [t, heads, dn] = s.inputs[0];
      const sizes = { heads, dn, dr: s.inputs[1][2], c: s.inputs[2][1], dv: s.outputs[0][2] };
      const l = s.inputs[4][0];
      // The form the kernel runs: a schedule's fixed one (attrs.form), else the cheaper (mla.ts mlaForm).
      const fixed = s.attrs.form === 'absorbed' || s.attrs.form === 'naive' ? s.attrs.form : undefined;
      const flops = mlaFlops(t, l, sizes)[fixed ?? mlaForm(t, l, sizes)];
      return { flops, bytes: s.inputs.reduce((a, _, i) => a + bytesOf(i), 0) + outBytes };
    }
    default:
      return undefined;
  }
}
