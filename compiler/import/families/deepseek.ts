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
import { baseSpec, expertConsts, layerCount, ropeFromConfig, stackedExperts, yarnMscale } from './common.ts';
import { type Family, quantMethod } from './family.ts';

export const deepseek: Family = {
  modelTypes: { deepseek_v2: 'DeepseekV2ForCausalLM', deepseek_v3: 'DeepseekV3ForCausalLM' },
  read(cfg: HfConfig, modelType: string) {
    const v3 = modelType === 'deepseek_v3';
    cfg.expect('attention_bias', [false], 'MLA projections without biases', true);
    cfg.expect('moe_layer_freq', [1], 'every layer after the dense ones a MoE layer');
    // transformers hard-codes V3's sigmoid / noaux_tc and V2's softmax (these fields come
    // from DeepSeek's own configuration_deepseek.py): absent, they are what the model does.
    const scoring = cfg.has('scoring_func') ? cfg.str('scoring_func') : v3 ? 'sigmoid' : 'softmax';
    const method = v3 ? (cfg.has('topk_method') ? cfg.str('topk_method') : 'noaux_tc') : cfg.str('topk_method', 'greedy');
    if (v3) {
      if (scoring !== 'sigmoid') cfg.unsupported('scoring_func', `"${scoring}" is not implemented for DeepSeek-V3`, 'DeepSeek-V3 scores experts with "sigmoid"');
      if (method !== 'noaux_tc') cfg.unsupported('topk_method', `"${method}" is not implemented for DeepSeek-V3`, 'DeepSeek-V3 selects with "noaux_tc"');
    } else {
      if (scoring !== 'softmax') cfg.unsupported('scoring_func', `"${scoring}" is not implemented for DeepSeek-V2`, 'DeepSeek-V2 scores experts with "softmax"');
      if (method !== 'greedy' && method !== 'group_limited_greedy')
        cfg.unsupported('topk_method', `"${method}" is not implemented for DeepSeek-V2`, 'moec implements "greedy" and "group_limited_greedy"');
    }
    const layers = layerCount(cfg);
    const dense = cfg.int('first_k_dense_replace', v3 ? 3 : 0);
    if (dense > layers) cfg.invalid('first_k_dense_replace', `${dense} dense layers but only ${layers} layers`);
    const { rope, mscaleAllDim, factor } = ropeFromConfig(cfg, 'interleaved', ['yarn']);
    const nope = cfg.int('qk_nope_head_dim', undefined, 1);
    const ropeDim = cfg.int('qk_rope_head_dim', undefined, 2);
    if (ropeDim % 2 !== 0) cfg.invalid('qk_rope_head_dim', `${ropeDim} is odd: rope rotates pairs of features`);
    const mscale = mscaleAllDim && factor ? yarnMscale(factor, mscaleAllDim) : 1;
    const attention: MlaSpec = {
      kind: 'mla',
      heads: cfg.int('num_attention_heads', undefined, 1),
      // null: a plain q_proj (V2-Lite); absent: the class default, 1536.
      qLoraRank: cfg.raw('q_lora_rank') === null ? null : cfg.int('q_lora_rank', 1536, 1),
      kvLoraRank: cfg.int('kv_lora_rank', undefined, 1),
      nopeDim: nope,
      ropeDim,
      vDim: cfg.int('v_head_dim', undefined, 1),
      scale: (1 / Math.sqrt(nope + ropeDim)) * mscale * mscale,
      scaleDoc: mscale !== 1 ? `(qk_nope_head_dim + qk_rope_head_dim) ** -0.5 * mscale² (YaRN, mscale_all_dim ${mscaleAllDim})` : '(qk_nope_head_dim + qk_rope_head_dim) ** -0.5',
    };
    const base = baseSpec(cfg, modelType, [
      `${v3 ? 'DeepSeek-V3 (DeepseekV3ForCausalLM' : 'DeepSeek-V2 (DeepseekV2ForCausalLM'}, DeepSeek's inference/model.py), imported from ${cfg.doc.source.path} by moec import.`,
    ], { mlpBias: !v3 });
    const mtp = v3 ? cfg.int('num_nextn_predict_layers', 0, 0, "transformers' DeepseekV3 builds no multi-token-prediction layers") : 0;
    if (mtp > 0) base.doc.push(`Left out of the graph: ${mtp} multi-token-prediction layer${mtp > 1 ? 's' : ''} (model.layers.${layers}${mtp > 1 ? '..' + (layers + mtp - 1) : ''} in the checkpoint).`);
    const e = cfg.int('n_routed_experts', undefined, 1);
    const k = cfg.int('num_experts_per_tok', undefined, 1);
    if (k > e) cfg.invalid('num_experts_per_tok', `${k} experts per token, but there are only ${e} experts (n_routed_experts)`);
    // V3 always reads n_group / topk_group (8 and 4 by default); V2 only with group_limited_greedy, and has no default.
    const readsGroups = v3 || method === 'group_limited_greedy';
    const groups = readsGroups ? cfg.int('n_group', v3 ? 8 : undefined, 1) : 1;
    const topkGroups = readsGroups ? cfg.int('topk_group', v3 ? 4 : undefined, 1) : 1;
    const grouped = v3 ? groups > 1 : readsGroups;
    if (readsGroups) {
      // The checks group_topk makes, here so that they point at the config's fields.
      if (e % groups !== 0) cfg.invalid('n_group', `${e} routed experts (n_routed_experts) do not split into ${groups} equal groups`);
      if (topkGroups > groups) cfg.invalid('topk_group', `${topkGroups} groups kept, but there are only ${groups} (n_group)`);
      const per = e / groups;
      if (v3 && groups > 1 && per < 2) cfg.invalid('n_group', `${per} expert per group: DeepSeek-V3 scores a group by its two best experts`);
      if (k > topkGroups * per) cfg.invalid('num_experts_per_tok', `${k} experts per token, but the ${topkGroups} kept groups (topk_group) hold ${topkGroups * per}`);
    }
    const shared = cfg.int('n_shared_experts', v3 ? 1 : 2);
    const norm = cfg.bool('norm_topk_prob', v3);
    const f = cfg.int('moe_intermediate_size', undefined, 1);
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
        ['ROUTE_SCALE', floatLit(cfg.num('routed_scaling_factor', v3 ? 2.5 : 1)), 'routed_scaling_factor'],
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
