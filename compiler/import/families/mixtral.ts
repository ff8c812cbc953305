/**
 * @fileoverview Mixtral (transformers MixtralForCausalLM): GQA attention (with Mistral's
 * sliding window on every layer when `sliding_window` is set), and in every layer the sparse
 * MoE block of MixtralSparseMoeBlock: softmax over the experts, top-k, weights renormalised
 * to sum to 1, SwiGLU experts w2(silu(w1 x) * w3 x).
 */
import type { HfConfig } from '../config.ts';
import { softmaxTopkExperts, baseSpec, gqaFromConfig, ropeFromConfig, routedExperts, stackedExperts } from './common.ts';
import { type Family, quantMethod } from './family.ts';

export const mixtral: Family = {
  modelTypes: { mixtral: 'MixtralForCausalLM' },
  read(cfg: HfConfig) {
    const base = baseSpec(cfg, 'mixtral', [
      `Mixtral (transformers MixtralForCausalLM), imported from ${cfg.doc.source.path} by moec import.`,
    ]);
    const window = cfg.has('sliding_window') ? cfg.int('sliding_window', undefined, 1) : 0;
    return {
      spec: {
        ...base,
        attention: gqaFromConfig(cfg, { qkvBias: false, oBias: false, kvHeads: 8 }),
        rope: ropeFromConfig(cfg, 'half', []).rope,
        window: window > 0 ? { kind: 'all', size: window } : { kind: 'none' },
        denseLayers: 0,
        moe: {
          prefix: 'block_sparse_moe',
          consts: routedExperts(cfg, ['num_local_experts', 'num_experts_per_tok', 'intermediate_size']),
          weights: [['router', 'E, D', 'gate.weight'], ...stackedExperts('experts.{e}.w1.weight', 'experts.{e}.w3.weight', 'experts.{e}.w2.weight')],
          body: softmaxTopkExperts(true, 'ffn'),
          doc: ['Sparse MoE (MixtralSparseMoeBlock): softmax, top-k, renormalised; SwiGLU experts w2(silu(w1 x) * w3 x).'],
        },
      },
      quantization: quantMethod(cfg),
    };
  },
};
