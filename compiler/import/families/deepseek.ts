/**
 * @fileoverview DeepSeek-V2 and DeepSeek-V3 (transformers DeepseekV2ForCausalLM /
 * DeepseekV3ForCausalLM, and DeepSeek's own inference/model.py): multi-head latent
 * attention (q through q_lora_rank, or a plain q_proj in V2-Lite; the latent KV through
 * kv_lora_rank with its norm; rope and nope head dims; interleaved rope with YaRN, whose
 * mscale² multiplies the softmax scale), the first `first_k_dense_replace` layers dense, the
 * rest MoE with shared experts and the model's router:
 * - V2: softmax scores; top-k (`greedy`) or group-limited (`group_limited_greedy`: groups
 *   scored by their best expert); weights × routed_scaling_factor (renormalised first when
 *   norm_topk_prob).
 * - V3: sigmoid scores; `noaux_tc`: selection on scores + e_score_correction_bias, groups
 *   scored by their two best; weights are the uncorrected scores, renormalised (norm_topk_prob)
 *   and × routed_scaling_factor.
 * The multi-token-prediction layers (num_nextn_predict_layers) are not part of the graph.
 */
import type { HfConfig } from '../config.ts';
import type { MlaSpec, MoeSpec } from '../decoder.ts';
import { floatLit } from '../decoder.ts';
import { baseSpec, expertConsts, ropeFromConfig, stackedExperts, yarnMscale } from './common.ts';
import { type Family, quantMethod } from './family.ts';

export const deepseek: Family = {
  modelTypes: { deepseek_v2: 'DeepseekV2ForCausalLM', deepseek_v3: 'DeepseekV3ForCausalLM' },
  read(cfg: HfConfig, modelType: string) {
    const v3 = modelType === 'deepseek_v3';
    cfg.expect('attention_bias', [false], 'MLA projections without biases');
    cfg.expect('moe_layer_freq', [1], 'every layer after the dense ones a MoE layer');
    const scoring = cfg.str('scoring_func', v3 ? 'sigmoid' : 'softmax');
    const method = cfg.str('topk_method', v3 ? 'noaux_tc' : 'greedy');
    if (v3) {
      if (scoring !== 'sigmoid') cfg.unsupported('scoring_func', `"${scoring}" is not implemented for DeepSeek-V3`, 'DeepSeek-V3 scores experts with "sigmoid"');
      if (method !== 'noaux_tc') cfg.unsupported('topk_method', `"${method}" is not implemented for DeepSeek-V3`, 'DeepSeek-V3 selects with "noaux_tc"');
    } else {
      if (scoring !== 'softmax') cfg.unsupported('scoring_func', `"${scoring}" is not implemented for DeepSeek-V2`, 'DeepSeek-V2 scores experts with "softmax"');
      if (method !== 'greedy' && method !== 'group_limited_greedy')
        cfg.unsupported('topk_method', `"${method}" is not implemented for DeepSeek-V2`, 'moec implements "greedy" and "group_limited_greedy"');
    }
    const layers = cfg.int('num_hidden_layers', undefined, 1);
    const dense = cfg.int('first_k_dense_replace', 0);
    if (dense > layers) cfg.invalid('first_k_dense_replace', `${dense} dense layers but only ${layers} layers`);
    const { rope, mscaleAllDim, factor } = ropeFromConfig(cfg, 'interleaved', ['yarn']);
    const nope = cfg.int('qk_nope_head_dim', undefined, 1);
    const ropeDim = cfg.int('qk_rope_head_dim', undefined, 2);
    const mscale = mscaleAllDim && factor ? yarnMscale(factor, mscaleAllDim) : 1;
    const attention: MlaSpec = {
      kind: 'mla',
      heads: cfg.int('num_attention_heads', undefined, 1),
      qLoraRank: cfg.has('q_lora_rank') ? cfg.int('q_lora_rank', undefined, 1) : null,
      kvLoraRank: cfg.int('kv_lora_rank', undefined, 1),
      nopeDim: nope,
      ropeDim,
      vDim: cfg.int('v_head_dim', undefined, 1),
      scale: (1 / Math.sqrt(nope + ropeDim)) * mscale * mscale,
      scaleDoc: mscale !== 1 ? `(qk_nope_head_dim + qk_rope_head_dim) ** -0.5 * mscale² (YaRN, mscale_all_dim ${mscaleAllDim})` : '(qk_nope_head_dim + qk_rope_head_dim) ** -0.5',
    };
    const base = baseSpec(cfg, modelType, [
      `${v3 ? 'DeepSeek-V3 (DeepseekV3ForCausalLM' : 'DeepSeek-V2 (DeepseekV2ForCausalLM'}, DeepSeek's inference/model.py), imported from ${cfg.doc.source.path} by moec import.`,
    ]);
    const mtp = cfg.int('num_nextn_predict_layers', 0);
    if (mtp > 0) base.doc.push(`Left out of the graph: ${mtp} multi-token-prediction layer${mtp > 1 ? 's' : ''} (model.layers.${layers}${mtp > 1 ? '..' + (layers + mtp - 1) : ''} in the checkpoint).`);
    const e = cfg.int('n_routed_experts', undefined, 1);
    const k = cfg.int('num_experts_per_tok', undefined, 1);
    const groups = cfg.int('n_group', 1, 1);
    const topkGroups = cfg.int('topk_group', 1, 1);
    const shared = cfg.int('n_shared_experts', 0);
    const norm = cfg.bool('norm_topk_prob', false);
    const f = cfg.int('moe_intermediate_size', undefined, 1);
    const grouped = v3 ? groups > 1 : method === 'group_limited_greedy';
    const select = (scores: string): string =>
      grouped ? `group_topk(${scores}, k=K, groups=GROUPS, topk_groups=TOPK_GROUPS, group_score="${v3 ? 'sum_top2' : 'max'}")` : `topk(${scores}, k=K)`;
    const renorm = norm && k > 1;
    const body = v3
      ? ['scores = sigmoid(linear(h, router))', `sel = ${select('scores + bias')}`, 'w = gather(scores, sel.indices)']
      : ['scores = softmax(linear(h, router))', `sel = ${select('scores')}`, 'w = sel.values'];
    body.push(renorm ? 'w = w / sum(w, axis=-1, keepdim=true) * ROUTE_SCALE' : 'w = w * ROUTE_SCALE');
    body.push(shared > 0 ? 'routed = experts(h, sel.indices, w, gate=w_gate, up=w_up, down=w_down)' : 'ffn = experts(h, sel.indices, w, gate=w_gate, up=w_up, down=w_down)');
    if (shared > 0) body.push('ffn = routed + swiglu_mlp(h, hidden=FS) as shared from "shared_experts"');
    const moe: MoeSpec = {
      prefix: 'mlp',
      consts: [
        ...expertConsts(e, k, f, ['n_routed_experts', 'num_experts_per_tok', 'moe_intermediate_size']),
        ...(grouped ? ([['GROUPS', groups, 'n_group'], ['TOPK_GROUPS', topkGroups, 'topk_group']] as Array<[string, number, string]>) : []),
        ['ROUTE_SCALE', floatLit(cfg.num('routed_scaling_factor', 1)), 'routed_scaling_factor'],
        ...(shared > 0 ? ([['FS', f * shared, 'moe_intermediate_size * n_shared_experts']] as Array<[string, number, string]>) : []),
      ],
      weights: [
        ['router', 'E, D', 'gate.weight'],
        ...(v3 ? ([['bias', 'E', 'gate.e_score_correction_bias']] as Array<[string, string, string]>) : []),
        ...stackedExperts('experts.{e}.gate_proj.weight', 'experts.{e}.up_proj.weight', 'experts.{e}.down_proj.weight'),
      ],
      body,
      doc: v3
        ? ['MoE (DeepSeek-V3): sigmoid scores; select on scores + correction bias (group-limited, -inf outside the kept groups);',
          `weights = the uncorrected scores${renorm ? ', renormalised' : ''}, × routed_scaling_factor; plus shared experts.`]
        : [`MoE (DeepSeek-V2): softmax scores; ${grouped ? 'group-limited top-k (groups scored by their best expert)' : 'top-k'};`,
          `weights${renorm ? ' renormalised and' : ''} × routed_scaling_factor; plus shared experts.`],
    };
    return {
      spec: { ...base, attention, rope, window: { kind: 'none' }, denseLayers: dense, denseHidden: cfg.int('intermediate_size', undefined, 1), moe },
      ...(mtp > 0 ? { mtpLayers: mtp } : {}),
      quantization: quantMethod(cfg),
    };
  },
};
