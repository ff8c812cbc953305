/**
 * @fileoverview What the families share: the base sizes every decoder config has, the
 * rope and rope_scaling fields, grouped-query attention, and the checks of fields that
 * would change semantics (activation, biases, partial rotary). Formulas follow
 * transformers' modeling code (`modeling_rope_utils.py` for rope_scaling).
 */
import { MAX_REPEAT } from '../../frontend/lower.ts';
import type { HfConfig } from '../config.ts';
import type { DecoderSpec, GqaSpec, RopeSpec } from '../decoder.ts';

/**
 * The spec fields every family reads the same way. `mlpBias`: the family's reference class
 * has `mlp_bias` (Llama, DeepSeek-V2), so leaving it out is noted as its default.
 */
export function baseSpec(cfg: HfConfig, name: string, doc: string[], opts: { mlpBias?: boolean } = {}): Omit<DecoderSpec, 'attention' | 'rope' | 'window' | 'denseLayers'> {
  cfg.expect('hidden_act', ['silu'], 'the MLPs are SwiGLU (silu)', true);
  cfg.expect('mlp_bias', [false], 'MLP projections without biases', opts.mlpBias === true);
  cfg.expect('partial_rotary_factor', [1, 1.0], 'rope over the whole head');
  cfg.expect('pretraining_tp', [1], 'one tensor-parallel slice (the checkpoint is not split)');
  return {
    name,
    doc,
    vocab: cfg.int('vocab_size', undefined, 1),
    hidden: cfg.int('hidden_size', undefined, 1),
    layers: layerCount(cfg),
    // 0 is allowed (the reference's x / sqrt(mean(x²) + eps)); below 0 the root can be NaN.
    eps: cfg.num('rms_norm_eps', undefined, { min: 0 }),
    maxPositions: cfg.int('max_position_embeddings', undefined, 1),
    tied: cfg.bool('tie_word_embeddings', false),
  };
}

/**
 * num_hidden_layers, at most the `.moe` language's repeat bound: a larger count is refused at
 * the field before anything is built per layer (the fuzzer found 2^31 layers exhausting the heap).
 */
export function layerCount(cfg: HfConfig): number {
  const layers = cfg.int('num_hidden_layers', undefined, 1);
  if (layers > MAX_REPEAT) cfg.invalid('num_hidden_layers', `expected at most ${MAX_REPEAT} layers, got ${layers}`, 'published models have at most a few hundred layers');
  return layers;
}

/** HF `get_mscale` (YaRN): 0.1 · m · ln(s) + 1 for s > 1. */
export function yarnMscale(scale: number, m = 1): number {
  return scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1;
}

/**
 * rope_theta and rope_scaling. `allowed` lists the scaling types the architecture uses;
 * any other type is an error naming the field. Returns the rope attributes and, for YaRN,
 * the `mscale_all_dim` DeepSeek folds into its softmax scale. Every value that would make
 * the frequencies or the scale NaN or infinite (theta <= 0, factor <= 0, ...) is an E804 at
 * its field. `defaultScaling`: the reference's rope_scaling when the config has none
 * (noted), else no scaling.
 */
export function ropeFromConfig(
  cfg: HfConfig,
  layout: RopeSpec['layout'],
  allowed: ReadonlyArray<'yarn' | 'llama3'>,
  defaultScaling?: ScalingFields,
): { rope: RopeSpec; mscaleAllDim?: number; factor?: number } {
  const theta = cfg.num('rope_theta', undefined, { gt: 0 });
  const rs = cfg.object('rope_scaling');
  if (!rs) {
    if (!defaultScaling) return { rope: { theta, layout, scaling: 'none' } };
    cfg.noteDefault('rope_scaling', { ...defaultScaling });
    if (defaultScaling.rope_type === 'yarn') yarnTheta(cfg, theta);
    return scalingFrom(theta, layout, defaultScaling);
  }
  const typeKey = rs.has('rope_type') ? 'rope_type' : 'type';
  if (!rs.has(typeKey)) rs.invalid('rope_type', 'the config has no `rope_scaling.rope_type` (or the older `type`)', 'give "rope_type": "yarn" (see the model\'s published config.json)');
  const type = rs.str(typeKey);
  if (type === 'default') return { rope: { theta, layout, scaling: 'none' } };
  if (!(allowed as readonly string[]).includes(type))
    rs.unsupported(typeKey, `rope scaling "${type}" is not implemented for this architecture`, `moec implements ${allowed.length ? allowed.map((a) => `"${a}"`).join(' and ') : 'no rope_scaling'} here; remove rope_scaling or use a published config`);
  const factor = rs.num('factor', undefined, { gt: 0 });
  const originalMax = rs.int('original_max_position_embeddings', undefined, 1);
  if (type === 'llama3') {
    const lowFreq = rs.num('low_freq_factor', undefined, { gt: 0 });
    const highFreq = rs.num('high_freq_factor', undefined, { gt: 0 });
    // The smoothing between the bands divides by high - low.
    if (!(highFreq > lowFreq)) rs.invalid('high_freq_factor', `expected more than low_freq_factor (${lowFreq}), got ${highFreq}`);
    return scalingFrom(theta, layout, { rope_type: 'llama3', factor, original_max_position_embeddings: originalMax, low_freq_factor: lowFreq, high_freq_factor: highFreq });
  }
  // YaRN (transformers _compute_yarn_parameters: beta_fast or 32, beta_slow or 1, truncate default true).
  yarnTheta(cfg, theta);
  const fields: ScalingFields = {
    rope_type: 'yarn', factor, original_max_position_embeddings: originalMax,
    beta_fast: rs.num('beta_fast', 32, { gt: 0, how: YARN }), beta_slow: rs.num('beta_slow', 1, { gt: 0, how: YARN }), truncate: rs.bool('truncate', true, YARN),
    ...(rs.has('mscale') ? { mscale: rs.num('mscale') } : {}),
    ...(rs.has('mscale_all_dim') ? { mscale_all_dim: rs.num('mscale_all_dim') } : {}),
    ...(rs.has('attention_factor') ? { attention_factor: rs.num('attention_factor', undefined, { gt: 0 }) } : {}),
  };
  const out = scalingFrom(theta, layout, fields);
  // mscale / mscale_all_dim enter as a ratio (and DeepSeek's softmax scale as a square): 0 or below breaks it.
  const af = out.rope.attentionFactor ?? 1;
  if (!(Number.isFinite(af) && af > 0)) rs.invalid(rs.has('mscale_all_dim') ? 'mscale_all_dim' : 'mscale', `gives a YaRN attention factor of ${af}`, 'the published configs use mscale = mscale_all_dim (1.0 or 0.707)');
  if (out.mscaleAllDim !== undefined && !(yarnMscale(factor, out.mscaleAllDim) > 0)) rs.invalid('mscale_all_dim', `gives a softmax scale factor of ${yarnMscale(factor, out.mscaleAllDim)}`);
  return out;
}

const YARN = "as transformers' _compute_yarn_parameters does";

/** YaRN's correction range divides by ln(rope_theta): a theta of 1 or below makes every frequency NaN. */
function yarnTheta(cfg: HfConfig, theta: number): void {
  if (!(theta > 1)) cfg.invalid('rope_theta', `expected a number above 1 with YaRN rope scaling, got ${theta}`, 'YaRN finds its correction range with log(rope_theta); published configs use 10000 or more');
}

/** A rope_scaling's fields by their config names (read and checked, or a reference default). */
export interface ScalingFields {
  rope_type: 'yarn' | 'llama3';
  factor: number;
  original_max_position_embeddings: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  beta_fast?: number;
  beta_slow?: number;
  truncate?: boolean;
  mscale?: number;
  mscale_all_dim?: number;
  attention_factor?: number;
}

function scalingFrom(theta: number, layout: RopeSpec['layout'], s: ScalingFields): { rope: RopeSpec; mscaleAllDim?: number; factor?: number } {
  const { factor, original_max_position_embeddings: originalMax } = s;
  if (s.rope_type === 'llama3') return { rope: { theta, layout, scaling: 'llama3', factor, originalMax, lowFreq: s.low_freq_factor, highFreq: s.high_freq_factor }, factor };
  const { mscale, mscale_all_dim: mscaleAllDim } = s;
  const attentionFactor = s.attention_factor ?? (mscale && mscaleAllDim ? yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim) : yarnMscale(factor));
  return {
    rope: {
      theta, layout, scaling: 'yarn', factor, originalMax,
      betaFast: s.beta_fast ?? 32, betaSlow: s.beta_slow ?? 1, truncate: s.truncate ?? true,
      ...(attentionFactor !== 1 ? { attentionFactor } : {}),
    },
    ...(mscaleAllDim !== undefined ? { mscaleAllDim } : {}),
    factor,
  };
}

/**
 * Grouped-query attention from num_attention_heads, num_key_value_heads, head_dim. Their
 * defaults are the reference class's: `kvHeads` and `headDim` where it has a number
 * (Mixtral 8 kv heads, GPT-OSS head_dim 64), else num_attention_heads and hidden_size /
 * num_attention_heads as its `__post_init__` derives them.
 */
export function gqaFromConfig(
  cfg: HfConfig,
  opts: { qkvBias: boolean; oBias: boolean; qkNorm?: GqaSpec['qkNorm']; sinks?: boolean; clip?: number; kvHeads?: number; headDim?: number },
): GqaSpec {
  const heads = cfg.int('num_attention_heads', undefined, 1);
  const kvHeads = opts.kvHeads !== undefined ? cfg.int('num_key_value_heads', opts.kvHeads, 1) : cfg.int('num_key_value_heads', heads, 1, 'num_attention_heads, as the reference does when it is None');
  const hidden = cfg.int('hidden_size');
  let headDim: number;
  if (opts.headDim !== undefined) headDim = cfg.int('head_dim', opts.headDim, 1);
  else {
    if (!cfg.has('head_dim') && hidden % heads !== 0) cfg.invalid('num_attention_heads', `hidden_size ${hidden} does not split into ${heads} heads`, 'give head_dim');
    headDim = cfg.int('head_dim', hidden / heads, 1, 'hidden_size / num_attention_heads, as the reference does when it is None');
  }
  // rope turns the head's features in pairs.
  if (headDim % 2 !== 0) cfg.invalid(cfg.has('head_dim') ? 'head_dim' : 'num_attention_heads', `the head dim ${headDim} is odd: rope rotates pairs of features`);
  if (heads % kvHeads !== 0) cfg.invalid('num_key_value_heads', `${heads} query heads do not split over ${kvHeads} kv heads`);
  return {
    kind: 'gqa', heads, kvHeads, headDim,
    qkvBias: opts.qkvBias, oBias: opts.oBias, qkNorm: opts.qkNorm ?? 'none', sinks: opts.sinks ?? false,
    ...(opts.clip !== undefined ? { clip: opts.clip } : {}),
    scale: 1 / Math.sqrt(headDim), scaleDoc: 'head_dim ** -0.5',
  };
}

/** `attention_bias`: q/k/v/o projections all with biases (Llama-style) or none. */
export function attentionBias(cfg: HfConfig): boolean {
  return cfg.bool('attention_bias', false);
}

/**
 * A routed-expert constant block: E experts, K per token, F wide, read from the fields
 * `names` (top-k of more experts than there are is an E804 at the K field).
 */
export function routedExperts(cfg: HfConfig, names: [string, string, string]): Array<[string, number, string]> {
  const e = cfg.int(names[0], undefined, 1);
  const k = cfg.int(names[1], undefined, 1);
  if (k > e) cfg.invalid(names[1], `${k} experts per token, but there are only ${e} experts (${names[0]})`);
  return expertConsts(e, k, cfg.int(names[2], undefined, 1), names);
}

/** A routed-expert constant block: E experts, K per token, F wide. */
export function expertConsts(e: number, k: number, f: number, names: [string, string, string]): Array<[string, number, string]> {
  return [
    ['E', e, names[0]],
    ['K', k, names[1]],
    ['F', f, names[2]],
  ];
}

/** SwiGLU expert weights stacked per expert, as `experts(..., gate=, up=, down=)` reads them. */
export function stackedExperts(gate: string, up: string, down: string): Array<[string, string, string]> {
  return [
    ['w_gate', 'E, F, D', gate],
    ['w_up', 'E, F, D', up],
    ['w_down', 'E, D, F', down],
  ];
}

/**
 * The softmax router of Mixtral, Qwen-MoE and OLMoE: softmax over all experts, top-k,
 * renormalised to sum to 1 when `renormalize`; the routed SwiGLU experts' output goes to `out`.
 */
export function softmaxTopkExperts(renormalize: boolean, out: string): string[] {
  return [
    'top = topk(softmax(linear(h, router)), k=K)',
    renormalize ? 'w = top.values / sum(top.values, axis=-1, keepdim=true)' : 'w = top.values',
    `${out} = experts(h, top.indices, w, gate=w_gate, up=w_up, down=w_down)`,
  ];
}
