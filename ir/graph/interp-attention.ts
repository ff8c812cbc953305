/**
 * @fileoverview Reference kernels of the decoder ops: `embedding`, `rope`, `attention` (GQA
 * with a KV cache, sliding window and sinks) and `mla_attention` (DeepSeek's latent
 * attention). Same precision policy as `interp-kernels.ts`: every result element is computed
 * in float64 and rounded once when stored. Semantics are the op docs in `ops.ts`.
 *
 * Attention runs the plain, unabsorbed form: scores against every visible key, a softmax
 * whose max and denominator are float64, then the weighted sum of values in key order. MLA
 * expands each key's latent through wkv_b (what the math says), not DeepSeek's absorbed
 * decode form, which computes the same numbers in a different order.
 */
import { fail } from '../diagnostics.ts';
import { evalShape, type Dim } from '../dims.ts';
import type { Attrs } from './graph.ts';
import type { Kernel } from './interp-kernels.ts';

const embeddingKernel: Kernel = (ctx, [ids, table], _attrs, node) => {
  const [v, d] = table.shape;
  const out = ctx.alloc(table.dtype, [...ids.shape, d]);
  const id = ids.data as Int32Array;
  for (let i = 0; i < id.length; i++) {
    const row = id[i];
    if (row < 0 || row >= v) fail('E505', `embedding: token id ${row} (at ${i}) is outside the vocabulary 0..${v - 1}`, node.span, 'check the token ids against vocab_size');
    for (let j = 0; j < d; j++) out.data[i * d + j] = table.data[row * d + j];
  }
  return [out];
};

/**
 * The rotation frequency of each of the rd/2 pairs, after rope_scaling. YaRN follows
 * transformers' `_compute_yarn_parameters` (DeepSeek's `precompute_freqs_cis` is the same
 * with truncate = true); llama3 follows `_compute_llama3_parameters`.
 */
export function ropeFrequencies(attrs: Attrs, rd: number): Float64Array {
  const theta = attrs.theta as number;
  const half = rd / 2;
  const f = new Float64Array(half);
  for (let i = 0; i < half; i++) f[i] = 1 / theta ** ((2 * i) / rd);
  const factor = attrs.factor as number;
  const orig = attrs.original_max_position as number;
  if (attrs.scaling === 'yarn') {
    const correctionDim = (rotations: number): number => (rd * Math.log(orig / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
    let low = correctionDim(attrs.beta_fast as number);
    let high = correctionDim(attrs.beta_slow as number);
    if (attrs.truncate) {
      low = Math.floor(low);
      high = Math.ceil(high);
    }
    low = Math.max(low, 0);
    high = Math.min(high, rd - 1);
    if (low === high) high += 0.001;
    for (let i = 0; i < half; i++) {
      const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
      const extrapolation = 1 - ramp;
      f[i] = (f[i] / factor) * (1 - extrapolation) + f[i] * extrapolation;
    }
  } else if (attrs.scaling === 'llama3') {
    const lowF = attrs.low_freq_factor as number;
    const highF = attrs.high_freq_factor as number;
    const lowWave = orig / lowF;
    const highWave = orig / highF;
    for (let i = 0; i < half; i++) {
      const wave = (2 * Math.PI) / f[i];
      if (wave > lowWave) f[i] = f[i] / factor;
      else if (wave >= highWave) {
        const smooth = (orig / wave - lowF) / (highF - lowF);
        f[i] = ((1 - smooth) * f[i]) / factor + smooth * f[i];
      }
    }
  }
  return f;
}

function position0(offset: Dim[], bindings: Readonly<Record<string, number>>): number {
  return evalShape(offset, bindings)[0];
}

const ropeKernel: Kernel = (ctx, [x], attrs) => {
  const [tokens, heads, dh] = x.shape;
  const rd = (attrs.rotary_dim as number) || dh;
  const half = rd / 2;
  const freq = ropeFrequencies(attrs, rd);
  const scale = attrs.attention_factor as number;
  const p0 = position0(attrs.offset as Dim[], ctx.bindings);
  const interleaved = attrs.layout === 'interleaved';
  const out = ctx.alloc(x.dtype, x.shape);
  const xd = x.data;
  const o = out.data;
  for (let t = 0; t < tokens; t++)
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * dh;
      for (let j = rd; j < dh; j++) o[base + j] = xd[base + j];
      for (let i = 0; i < half; i++) {
        const angle = (p0 + t) * freq[i];
        const c = Math.cos(angle) * scale;
        const s = Math.sin(angle) * scale;
        const a = interleaved ? base + 2 * i : base + i;
        const b = interleaved ? a + 1 : a + half;
        const x1 = xd[a];
        const x2 = xd[b];
        o[a] = x1 * c - x2 * s;
        o[b] = x2 * c + x1 * s;
      }
    }
  return [out];
};

/**
 * Softmax over the visible keys of one (token, head) and the weighted sum of values:
 * `score(j)` and `value(j, e)` read key j; `sink` joins the denominator only.
 */
export function attendRow(
  keys: number,
  first: number,
  score: (j: number) => number,
  sink: number | undefined,
  dv: number,
  value: (j: number, e: number) => number,
  out: Float32Array | Float64Array,
  at: number,
): void {
  const s = new Float64Array(keys - first);
  let max = sink ?? -Infinity;
  for (let j = first; j < keys; j++) {
    s[j - first] = score(j);
    if (s[j - first] > max || s[j - first] !== s[j - first]) max = s[j - first];
  }
  let denom = sink === undefined ? 0 : Math.exp(sink - max);
  for (let j = 0; j < s.length; j++) denom += s[j] = Math.exp(s[j] - max);
  for (let e = 0; e < dv; e++) {
    let acc = 0;
    for (let j = first; j < keys; j++) acc += s[j - first] * value(j, e);
    out[at + e] = acc / denom;
  }
}

const attentionKernel: Kernel = (ctx, [q, k, v, kc, vc, sinks], attrs) => {
  const [tokens, heads, dk] = q.shape;
  const groups = k.shape[1];
  const dv = v.shape[2];
  const cached = kc.shape[0];
  const perGroup = heads / groups;
  const scale = attrs.scale as number;
  const window = attrs.window as number;
  const out = ctx.alloc(q.dtype, [tokens, heads, dv]);
  const keyAt = (j: number, g: number): [Float32Array | Float64Array, number] =>
    j < cached ? [kc.data as Float32Array, (j * groups + g) * dk] : [k.data as Float32Array, ((j - cached) * groups + g) * dk];
  const valueAt = (j: number, g: number, e: number): number =>
    j < cached ? vc.data[(j * groups + g) * dv + e] : v.data[((j - cached) * groups + g) * dv + e];
  for (let t = 0; t < tokens; t++) {
    const keys = cached + t + 1;
    const first = window > 0 ? Math.max(0, keys - window) : 0;
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / perGroup);
      const qo = (t * heads + h) * dk;
      const score = (j: number): number => {
        const [kd, ko] = keyAt(j, g);
        let acc = 0;
        for (let e = 0; e < dk; e++) acc += q.data[qo + e] * kd[ko + e];
        return acc * scale;
      };
      attendRow(keys, first, score, sinks ? sinks.data[h] : undefined, dv, (j, e) => valueAt(j, g, e), out.data as Float32Array, (t * heads + h) * dv);
    }
  }
  return [out];
};

const mlaAttentionKernel: Kernel = (ctx, [qn, qp, kv, kpe, kvc, pec, w], attrs) => {
  const [tokens, heads, dn] = qn.shape;
  const dr = qp.shape[2];
  const c = kv.shape[1];
  const cached = kvc.shape[0];
  const dv = w.shape[0] / heads - dn;
  const keys = cached + tokens;
  const scale = attrs.scale as number;
  // Every key's per-head k_nope and v, expanded from its latent (float64, like a matmul's sums).
  const kn = new Float64Array(keys * heads * dn);
  const vv = new Float64Array(keys * heads * dv);
  const latent = (j: number, i: number): number => (j < cached ? kvc.data[j * c + i] : kv.data[(j - cached) * c + i]);
  for (let j = 0; j < keys; j++)
    for (let h = 0; h < heads; h++)
      for (let r = 0; r < dn + dv; r++) {
        const row = (h * (dn + dv) + r) * c;
        let acc = 0;
        for (let i = 0; i < c; i++) acc += w.data[row + i] * latent(j, i);
        if (r < dn) kn[(j * heads + h) * dn + r] = acc;
        else vv[(j * heads + h) * dv + r - dn] = acc;
      }
  const rope = (j: number, e: number): number => (j < cached ? pec.data[j * dr + e] : kpe.data[(j - cached) * dr + e]);
  const out = ctx.alloc(qn.dtype, [tokens, heads, dv]);
  for (let t = 0; t < tokens; t++)
    for (let h = 0; h < heads; h++) {
      const score = (j: number): number => {
        let acc = 0;
        for (let e = 0; e < dn; e++) acc += qn.data[(t * heads + h) * dn + e] * kn[(j * heads + h) * dn + e];
        for (let e = 0; e < dr; e++) acc += qp.data[(t * heads + h) * dr + e] * rope(j, e);
        return acc * scale;
      };
      attendRow(cached + t + 1, 0, score, undefined, dv, (j, e) => vv[(j * heads + h) * dv + e], out.data as Float32Array, (t * heads + h) * dv);
    }
  return [out];
};

/** op name → kernel for the decoder ops (merged into `KERNELS`). */
export const ATTENTION_KERNELS: Readonly<Record<string, Kernel>> = {
  embedding: embeddingKernel,
  rope: ropeKernel,
  attention: attentionKernel,
  mla_attention: mlaAttentionKernel,
};
