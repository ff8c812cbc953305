/**
 * @fileoverview OLMoE (transformers OlmoeForCausalLM): q and k normalised with an rmsnorm
 * over the whole projection (before the heads are split), optional clip_qkv, and in every
 * layer softmax routing, top-k, renormalised only when `norm_topk_prob` (false in
 * OLMoE-1B-7B), SwiGLU experts.
 */
import type { HfConfig } from '../config.ts';
import { softmaxTopkExperts, baseSpec, gqaFromConfig, ropeFromConfig, routedExperts, stackedExperts } from './common.ts';
import { type Family, quantMethod } from './family.ts';

export const olmoe: Family = {
  modelTypes: { olmoe: 'OlmoeForCausalLM' },
  read(cfg: HfConfig) {
    const base = baseSpec(cfg, 'olmoe', [`OLMoE (transformers OlmoeForCausalLM), imported from ${cfg.doc.source.path} by moec import.`]);
    const norm = cfg.bool('norm_topk_prob', false);
    // Clamping q, k, v to ±0 (or an inverted range) would zero or scramble the attention.
    const clip = cfg.has('clip_qkv') ? cfg.num('clip_qkv', undefined, { gt: 0 }) : undefined;
    const bias = cfg.bool('attention_bias', false);
    return {
      spec: {
        ...base,
        attention: gqaFromConfig(cfg, { qkvBias: bias, oBias: bias, qkNorm: 'projection', ...(clip !== undefined ? { clip } : {}) }),
        rope: ropeFromConfig(cfg, 'half', []).rope,
        window: { kind: 'none' },
        denseLayers: 0,
        moe: {
          prefix: 'mlp',
          consts: routedExperts(cfg, ['num_experts', 'num_experts_per_tok', 'intermediate_size']),
          weights: [['router', 'E, D', 'gate.weight'], ...stackedExperts('experts.{e}.gate_proj.weight', 'experts.{e}.up_proj.weight', 'experts.{e}.down_proj.weight')],
          body: softmaxTopkExperts(norm, 'ffn'),
          doc: [`Sparse MoE (OlmoeSparseMoeBlock): softmax, top-k${norm ? ', renormalised' : ', not renormalised (norm_topk_prob = false)'}; SwiGLU experts.`],
        },
      },
      quantization: quantMethod(cfg),
    };
  },
};
