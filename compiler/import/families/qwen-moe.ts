/**
 * @fileoverview Qwen MoE: Qwen2-MoE (Qwen1.5-MoE, transformers Qwen2MoeForCausalLM) and
 * Qwen3-MoE (Qwen3MoeForCausalLM). Routing: softmax over the experts, top-k, renormalised
 * only when `norm_topk_prob`. Qwen2-MoE has q/k/v biases and a shared expert whose output
 * is scaled by sigmoid(x · shared_expert_gate); Qwen3-MoE has no biases, no shared expert
 * and an rmsnorm over each query and key head before rope.
 */
import type { HfConfig } from '../config.ts';
import type { MoeSpec } from '../decoder.ts';
import { softmaxTopkExperts, attentionBias, baseSpec, gqaFromConfig, ropeFromConfig, routedExperts, stackedExperts } from './common.ts';
import { type Family, quantMethod } from './family.ts';

export const qwenMoe: Family = {
  modelTypes: { qwen2_moe: 'Qwen2MoeForCausalLM', qwen3_moe: 'Qwen3MoeForCausalLM' },
  read(cfg: HfConfig, modelType: string) {
    const v3 = modelType === 'qwen3_moe';
    cfg.expect('decoder_sparse_step', [1], 'every layer sparse (a MoE block in each layer)', true);
    if (cfg.has('mlp_only_layers')) {
      const dense = cfg.raw('mlp_only_layers');
      if (!Array.isArray(dense)) cfg.invalid('mlp_only_layers', `expected a list of layer indices, got ${JSON.stringify(dense)}`);
      if (dense.length > 0) cfg.unsupported('mlp_only_layers', 'dense layers among the MoE layers are not implemented', 'moec imports configs where every layer is a MoE layer');
    }
    cfg.expect('use_sliding_window', [false], 'full attention in every layer', true);
    const base = baseSpec(cfg, modelType, [
      `${v3 ? 'Qwen3-MoE (transformers Qwen3MoeForCausalLM)' : 'Qwen2-MoE (transformers Qwen2MoeForCausalLM)'}, imported from ${cfg.doc.source.path} by moec import.`,
    ]);
    const norm = cfg.bool('norm_topk_prob', false);
    const shared = v3 ? 0 : cfg.int('shared_expert_intermediate_size', 5632);
    const bias = v3 ? attentionBias(cfg) : cfg.bool('qkv_bias', true);
    const moe: MoeSpec = {
      prefix: 'mlp',
      consts: [
        ...routedExperts(cfg, ['num_experts', 'num_experts_per_tok', 'moe_intermediate_size']),
        ...(shared > 0 ? [['FS', shared, 'shared_expert_intermediate_size'] as [string, number, string]] : []),
      ],
      weights: [
        ['router', 'E, D', 'gate.weight'],
        ...stackedExperts('experts.{e}.gate_proj.weight', 'experts.{e}.up_proj.weight', 'experts.{e}.down_proj.weight'),
        ...(shared > 0 ? [['shared_gate', '1, D', 'shared_expert_gate.weight'] as [string, string, string]] : []),
      ],
      body: [
        ...softmaxTopkExperts(norm, shared > 0 ? 'routed' : 'ffn'),
        ...(shared > 0 ? ['ffn = routed + sigmoid(linear(h, shared_gate)) * swiglu_mlp(h, hidden=FS) as shared from "shared_expert"'] : []),
      ],
      doc: [
        `Sparse MoE: softmax over the experts, top-k${norm ? ', renormalised (norm_topk_prob)' : ', not renormalised (norm_topk_prob = false)'}; SwiGLU experts${shared > 0 ? ';' : '.'}`,
        ...(shared > 0 ? ['plus a shared expert scaled by sigmoid(h · shared_expert_gate).'] : []),
      ],
    };
    return {
      spec: {
        ...base,
        attention: gqaFromConfig(cfg, { qkvBias: bias, oBias: v3 ? bias : false, qkNorm: v3 ? 'head' : 'none', kvHeads: v3 ? 4 : 16 }),
        rope: ropeFromConfig(cfg, 'half', []).rope,
        window: { kind: 'none' },
        denseLayers: 0,
        moe,
      },
      quantization: quantMethod(cfg),
    };
  },
};
