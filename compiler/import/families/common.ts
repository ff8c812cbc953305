/**
 * @fileoverview What the families share: the base sizes every decoder config has, the
 * rope and rope_scaling fields, grouped-query attention, and the checks of fields that
 * would change semantics (activation, biases, partial rotary). Formulas follow
 * transformers' modeling code (`modeling_rope_utils.py` for rope_scaling).
 */
import type { HfConfig } from '../config.ts';
import type { DecoderSpec, GqaSpec, RopeSpec } from '../decoder.ts';

/** The spec fields every family reads the same way. */
export function baseSpec(cfg: HfConfig, name: string, doc: string[]): Omit<DecoderSpec, 'attention' | 'rope' | 'window' | 'denseLayers'> {
  cfg.expect('hidden_act', ['silu'], 'the MLPs are SwiGLU (silu)');
  cfg.expect('mlp_bias', [false], 'MLP projections without biases');
  cfg.expect('partial_rotary_factor', [1, 1.0], 'rope over the whole head');
  cfg.expect('pretraining_tp', [1], 'one tensor-parallel slice (the checkpoint is not split)');
  return {
    name,
    doc,
    vocab: cfg.int('vocab_size', undefined, 1),
    hidden: cfg.int('hidden_size', undefined, 1),
    layers: cfg.int('num_hidden_layers', undefined, 1),
    eps: cfg.num('rms_norm_eps'),
    maxPositions: cfg.int('max_position_embeddings', undefined, 1),
    tied: cfg.bool('tie_word_embeddings', false),
  };
}

/** HF `get_mscale` (YaRN): 0.1 · m · ln(s) + 1 for s > 1. */
export function yarnMscale(scale: number, m = 1): number {
  return scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1;
}

/**
 * rope_theta and rope_scaling. `allowed` lists the scaling types the architecture uses;
 * any other type is an error naming the field. Returns the rope attributes and, for YaRN,
 * the `mscale_all_dim` DeepSeek folds into its softmax scale.
 */
export function ropeFromConfig(cfg: HfConfig, layout: RopeSpec['layout'], allowed: ReadonlyArray<'yarn' | 'llama3'>, defaultTheta?: number): { rope: RopeSpec; mscaleAllDim?: number; factor?: number } {
  const theta = cfg.num('rope_theta', defaultTheta);
  const rs = cfg.object('rope_scaling');
  if (!rs) return { rope: { theta, layout, scaling: 'none' } };
  const typeKey = rs.has('rope_type') ? 'rope_type' : 'type';
  const type = rs.str(typeKey);
  if (type === 'default') return { rope: { theta, layout, scaling: 'none' } };
  if (!(allowed as readonly string[]).includes(type))
    rs.unsupported(typeKey, `rope scaling "${type}" is not implemented for this architecture`, `moec implements ${allowed.length ? allowed.map((a) => `"${a}"`).join(' and ') : 'no rope_scaling'} here; remove rope_scaling or use a published config`);
  const factor = rs.num('factor');
  const originalMax = rs.int('original_max_position_embeddings', undefined, 1);
  if (type === 'llama3')
    return { rope: { theta, layout, scaling: 'llama3', factor, originalMax, lowFreq: rs.num('low_freq_factor'), highFreq: rs.num('high_freq_factor') }, factor };
  // YaRN (transformers _compute_yarn_parameters).
  const mscale = rs.has('mscale') ? rs.num('mscale') : undefined;
  const mscaleAllDim = rs.has('mscale_all_dim') ? rs.num('mscale_all_dim') : undefined;
  const attentionFactor = rs.has('attention_factor')
    ? rs.num('attention_factor')
    : mscale && mscaleAllDim
      ? yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim)
      : yarnMscale(factor);
  return {
    rope: {
      theta, layout, scaling: 'yarn', factor, originalMax,
      betaFast: rs.num('beta_fast', 32), betaSlow: rs.num('beta_slow', 1), truncate: rs.bool('truncate', true),
      ...(attentionFactor !== 1 ? { attentionFactor } : {}),
    },
    ...(mscaleAllDim !== undefined ? { mscaleAllDim } : {}),
    factor,
  };
}

/** Grouped-query attention from num_attention_heads, num_key_value_heads, head_dim. */
export function gqaFromConfig(cfg: HfConfig, opts: { qkvBias: boolean; oBias: boolean; qkNorm?: GqaSpec['qkNorm']; sinks?: boolean; clip?: number }): GqaSpec {
  const heads = cfg.int('num_attention_heads', undefined, 1);
  const kvHeads = cfg.int('num_key_value_heads', heads, 1);
  const hidden = cfg.int('hidden_size');
  if (!cfg.has('head_dim') && hidden % heads !== 0) cfg.invalid('num_attention_heads', `hidden_size ${hidden} does not split into ${heads} heads`, 'give head_dim');
  const headDim = cfg.int('head_dim', hidden / heads, 1);
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
