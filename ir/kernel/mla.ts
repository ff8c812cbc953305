/**
 * @fileoverview The `mla_attention` kernel of the kernel IR: DeepSeek's multi-head latent
 * attention in the absorbed form of DeepSeek's inference code (inference/model.py,
 * attn_impl = "absorb"), with its cache (the normalised latent and the rope key of each
 * position, C + Dr values) as an input or as state, like `attention` (attention.ts).
 *
 * The graph op (`mla_attention` in ops.ts) is written unabsorbed: each key's k_nope and v
 * expanded from its latent through wkv_b. The kernel never expands a key: with
 * wkv_b viewed as [H, Dn + Dv, C] (W_UK its first Dn rows per head, W_UV the last Dv),
 *
 *     q_abs[t, h, :] = q_nope[t, h, :] · W_UK[h]                      (Dn → C)
 *     s_j            = scale * (q_abs[t, h] · c_j + q_pe[t, h] · r_j)
 *     x[t, h, :]     = Σ_j softmax(s)_j c_j                           (in the latent space)
 *     out[t, h, :]   = x[t, h] · W_UV[h]ᵀ                              (C → Dv)
 *
 * which is the same function (q_nope · (W_UK c_j) = (q_nope W_UK) · c_j, and likewise for the
 * values) with per-key work C + Dr instead of H (Dn + Dv) C: what makes decoding against a
 * long latent cache cheap. The interpreter computes it in float64 with one rounding per
 * stored element, so it agrees with the graph interpreter's unabsorbed form to rounding.
 */
import { type Dim, isSym, shapeToString } from '../dims.ts';
import { attendRow } from '../graph/interp-attention.ts';
import type { Tensor } from '../tensor.ts';
import { type AttentionBufferInfo, type AttentionOperand, type AttentionSchedule, appendToCaches, checkCacheAndSchedule, checkNamedDims, pastOf } from './attention.ts';
import type { KernelThreads } from './kernel.ts';

export interface MlaAttentionKernel {
  kind: 'mla_attention';
  /** [T, H, Dn], [T, H, Dr] (after rope), the new latents [T, C] (after their norm) and rope keys [T, Dr]. */
  qNope: string;
  qPe: string;
  kv: string;
  kPe: string;
  /** [past, C] and [past, Dr] (input caches) or [CTX, C] and [CTX, Dr] (state, appended to). */
  kvCache: string;
  peCache: string;
  /** The weight [H * (Dn + Dv), C]: per head Dn key rows (W_UK) then Dv value rows (W_UV). */
  wkvB: string;
  /** [T, H, Dv]. */
  out: string;
  scale: number;
  /** Positions already in the cache (see `AttentionKernel.past`). */
  past: Dim;
  schedule?: AttentionSchedule;
  threads?: KernelThreads;
}

/**
 * The two forms of MLA (DeepSeek's inference/model.py attn_impl): `absorbed` (decode's: the
 * file header) and `naive` (prefill's: every latent, cached and new, expanded once per head
 * into its key k_nope = W_UK c_j and value W_UV c_j, then ordinary attention at the head dims).
 */
export type MlaForm = 'absorbed' | 'naive';

/** The fixed sizes of an MLA kernel: heads, nope, rope and value dims per head, latent width. */
export interface MlaSizes {
  heads: number;
  dn: number;
  dr: number;
  dv: number;
  c: number;
}

/**
 * The sizes of MLA kernel `k` from its operands' concrete dims (`dims(name)`), with its
 * schedule's head block, which must divide the heads: what every renderer of it reads first.
 */
export function mlaKernelSizes(k: Pick<MlaAttentionKernel, 'qNope' | 'qPe' | 'kv' | 'out'>, dims: (name: string) => number[], schedule: Pick<AttentionSchedule, 'headBlock'>, backend: string): MlaSizes & { headBlock: number } {
  const [heads, dn] = dims(k.qNope);
  const [, dr] = dims(k.qPe);
  const [c] = dims(k.kv);
  const [, dv] = dims(k.out);
  const headBlock = schedule.headBlock ?? 1;
  if (heads % headBlock !== 0) throw new Error(`${backend} backend: the MLA head block ${headBlock} does not divide the ${heads} heads`);
  return { heads, dn, dr, c, dv, headBlock };
}

/**
 * FLOPs of each form for `tokens` new queries after `past` cached positions (one multiply-add
 * = 2, a softmax element 5; compiler/cost/attention.ts's conventions). Absorbed: per query row
 * q_nope into the latent space and the result out of it (2·C·(Dn + Dv)), per visible key a
 * score against latent and rope key and a latent-space sum (2·(C + Dr) + 5 + 2·C). Naive: per
 * position and head the expansion (2·C·(Dn + Dv)), per visible key the head-dim score and sum
 * (2·(Dn + Dr) + 5 + 2·Dv).
 */
export function mlaFlops(tokens: number, past: number, s: MlaSizes): Record<MlaForm, number> {
  const keys = mlaVisibleKeys(tokens, past);
  const expand = 2 * s.c * (s.dn + s.dv);
  return {
    absorbed: tokens * s.heads * expand + s.heads * keys * (2 * (s.c + s.dr) + 5 + 2 * s.c),
    naive: (past + tokens) * s.heads * expand + s.heads * keys * (2 * (s.dn + s.dr) + 5 + 2 * s.dv),
  };
}

/** Keys the `tokens` causal queries after `past` cached positions see, summed: Σ_t (past + t + 1). */
export function mlaVisibleKeys(tokens: number, past: number): number {
  return tokens * past + (tokens * (tokens + 1)) / 2;
}

/**
 * What the choice between the forms comes down to: `mlaFlops` absorbed − naive is
 * H·(keys·perKey − past·perCached), so the naive form is cheaper exactly when
 * keys·perKey > past·perCached (the rope and softmax terms cancel). The C kernel evaluates
 * this same inequality per call with these coefficients.
 */
export function mlaFormRule(s: MlaSizes): { perKey: number; perCached: number } {
  return { perKey: 4 * s.c - 2 * (s.dn + s.dv), perCached: 2 * s.c * (s.dn + s.dv) };
}

/**
 * The form a call of `tokens` new positions after `past` cached ones runs: the one with fewer
 * FLOPs, absorbed on a tie. The one decision the cost model counts and the kernels run
 * (schedule form `cheaper`).
 */
export function mlaForm(tokens: number, past: number, s: MlaSizes): MlaForm {
  const { perKey, perCached } = mlaFormRule(s);
  return mlaVisibleKeys(tokens, past) * perKey > past * perCached ? 'naive' : 'absorbed';
}

/** Runs one MLA kernel in the absorbed form (file header); a state cache is appended to first. */
export function runMla(
  k: MlaAttentionKernel,
  ops: { qNope: Tensor; qPe: Tensor; kv: Tensor; kPe: Tensor; kvCache: AttentionOperand; peCache: AttentionOperand; wkvB: Tensor; out: AttentionOperand },
  state: boolean,
  bindings: Readonly<Record<string, number>>,
): void {
  const [tokens, heads, dn] = ops.qNope.shape;
  const dr = ops.qPe.shape[2];
  const c = ops.kv.shape[1];
  const rowsPerHead = ops.wkvB.shape[0] / heads;
  const dv = rowsPerHead - dn;
  const past = pastOf(k, bindings);
  const kvc = ops.kvCache.t.data;
  const pec = ops.peCache.t.data;
  const cachedRows = appendToCaches(k, past, tokens, [[ops.kvCache, ops.kv], [ops.peCache, ops.kPe]], state);
  const latent = (j: number, i: number): number => (j < cachedRows ? kvc[j * c + i] : ops.kv.data[(j - cachedRows) * c + i]);
  const rope = (j: number, e: number): number => (j < cachedRows ? pec[j * dr + e] : ops.kPe.data[(j - cachedRows) * dr + e]);
  const w = ops.wkvB.data;
  const qAbs = new Float64Array(c);
  const x = new Float64Array(c);
  for (let t = 0; t < tokens; t++)
    for (let h = 0; h < heads; h++) {
      const qn = (t * heads + h) * dn;
      const qp = (t * heads + h) * dr;
      for (let i = 0; i < c; i++) {
        let acc = 0;
        for (let d = 0; d < dn; d++) acc += ops.qNope.data[qn + d] * w[(h * rowsPerHead + d) * c + i];
        qAbs[i] = acc;
      }
      const score = (j: number): number => {
        let acc = 0;
        for (let i = 0; i < c; i++) acc += qAbs[i] * latent(j, i);
        for (let e = 0; e < dr; e++) acc += ops.qPe.data[qp + e] * rope(j, e);
        return acc * k.scale;
      };
      attendRow(past + t + 1, 0, score, undefined, c, latent, x, 0);
      for (let d = 0; d < dv; d++) {
        let acc = 0;
        for (let i = 0; i < c; i++) acc += x[i] * w[(h * rowsPerHead + dn + d) * c + i];
        ops.out.store((t * heads + h) * dv + d, acc);
      }
    }
}

/** The MLA kernel's contract (kverify's invariant 5), as `checkAttention` for attention. */
export function checkMla(
  k: MlaAttentionKernel,
  b: Partial<Record<'q_nope' | 'q_pe' | 'kv' | 'k_pe' | 'kv_cache' | 'pe_cache' | 'wkv_b' | 'out', AttentionBufferInfo>>,
  bad: (m: string) => void,
): void {
  const show = (x: AttentionBufferInfo): string => `${x.dtype}${shapeToString(x.shape)}`;
  const ranks = { q_nope: 3, q_pe: 3, kv: 2, k_pe: 2, kv_cache: 2, pe_cache: 2, wkv_b: 2, out: 3 } as const;
  for (const [role, x] of Object.entries(b)) {
    if (!x) continue;
    if (x.dtype !== 'f32' && x.dtype !== 'f64' && x.dtype !== 'f16' && x.dtype !== 'bf16') bad(`${role} ${x.name} is ${show(x)}, expected a float tensor`);
    if (x.shape.length !== ranks[role as keyof typeof ranks]) bad(`${role} ${x.name} is ${show(x)}, expected rank ${ranks[role as keyof typeof ranks]}`);
  }
  const { q_nope: qn, q_pe: qp, kv, k_pe: kp, kv_cache: kc, pe_cache: pc, wkv_b: w, out } = b;
  if (!qn || !qp || !kv || !kp || !kc || !pc || !w || !out || Object.entries(b).some(([role, x]) => x && x.shape.length !== ranks[role as keyof typeof ranks])) return;
  if (kc.kind !== pc.kind) bad(`kv_cache ${kc.name} is ${kc.kind} but pe_cache ${pc.name} is ${pc.kind}`);
  if (kc.kind !== 'state' && kc.kind !== 'input' && kc.kind !== 'temp') bad(`kv_cache ${kc.name} is a ${kc.kind} buffer; a cache is an input or state`);
  if (w.kind !== 'weight') bad(`wkv_b ${w.name} is a ${w.kind} buffer, expected a weight`);
  // Each operand's dims by name, as the graph op spells them; a name in two operands is one size.
  const dims: Array<[string, AttentionBufferInfo, string[]]> = [
    ['q_nope', qn, ['tokens', 'heads', 'nope_dim']],
    ['q_pe', qp, ['tokens', 'heads', 'rope_dim']],
    ['kv', kv, ['tokens', 'kv_lora_rank']],
    ['k_pe', kp, ['tokens', 'rope_dim']],
    ['kv_cache', kc, ['rows', 'kv_lora_rank']],
    ['pe_cache', pc, ['rows', 'rope_dim']],
    ['wkv_b', w, ['wkv_b_rows', 'kv_lora_rank']],
    ['out', out, ['tokens', 'heads', 'v_dim']],
  ];
  checkNamedDims(dims, bad);
  const [h, dn, dv, rows] = [qn.shape[1], qn.shape[2], out.shape[2], w.shape[0]];
  if (![h, dn, dv, rows].some(isSym) && rows !== (h as number) * ((dn as number) + (dv as number)))
    bad(`wkv_b ${w.name} has ${rows} rows, expected heads * (nope_dim + v_dim) = ${h} * (${dn} + ${dv})`);
  checkCacheAndSchedule(k, kc, bad);
  const hb = k.schedule?.headBlock;
  if (hb !== undefined && !isSym(h) && (h as number) % hb !== 0) bad(`schedule headBlock = ${hb} does not divide the ${h} heads`);
}
