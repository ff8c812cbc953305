/**
 * @fileoverview GPT-OSS (transformers GptOssForCausalLM): attention with q/k/v/o biases and a
 * learned sink logit per head, YaRN rope, sliding-window and full attention alternating
 * (layer_types), and in every layer the GptOssMLP: top-k on the biased router logits, softmax
 * over the k chosen, experts with interleaved gate/up columns, biases, and the clamped
 * SwiGLU (up + 1) * min(gate, limit) * sigmoid(1.702 * min(gate, limit)), up in ±limit.
 */
import type { HfConfig } from '../config.ts';
import { floatLit } from '../decoder.ts';
import { type ScalingFields, baseSpec, gqaFromConfig, ropeFromConfig, routedExperts } from './common.ts';
import { type Family, quantMethod } from './family.ts';

/** GptOssConfig's rope_parameters when the config has none. */
const DEFAULT_ROPE_SCALING: ScalingFields = { rope_type: 'yarn', factor: 32, beta_fast: 32, beta_slow: 1, truncate: false, original_max_position_embeddings: 4096 };

export const gptOss: Family = {
  modelTypes: { gpt_oss: 'GptOssForCausalLM' },
  read(cfg: HfConfig) {
    const base = baseSpec(cfg, 'gpt_oss', [
      `GPT-OSS (transformers GptOssForCausalLM), imported from ${cfg.doc.source.path} by moec import.`,
      'Expert weights are the dequantized (bf16) checkpoint layout: gate_up_proj [E, D, 2F], down_proj [E, F, D].',
    ]);
    const layers = base.layers;
    if (cfg.has('layer_types')) {
      const types = cfg.strings('layer_types');
      if (types.length !== layers || types.some((t, i) => t !== (i % 2 === 0 ? 'sliding_attention' : 'full_attention')))
        cfg.unsupported('layer_types', 'moec imports GPT-OSS with sliding and full attention alternating, starting with sliding', `expected ${layers} entries "sliding_attention", "full_attention", ...`);
    }
    if (layers % 2 !== 0) cfg.invalid('num_hidden_layers', `${layers} layers do not pair up into sliding + full`, 'GPT-OSS alternates sliding and full attention');
    const bias = cfg.bool('attention_bias', true);
    const limit = cfg.num('swiglu_limit', 7, { gt: 0 });
    // transformers' GptOssExperts fixes alpha at 1.702; a config that gives swiglu_alpha means it.
    const alpha = cfg.has('swiglu_alpha') ? cfg.num('swiglu_alpha') : 1.702;
    return {
      spec: {
        ...base,
        attention: gqaFromConfig(cfg, { qkvBias: bias, oBias: bias, sinks: true, kvHeads: 8, headDim: 64 }),
        rope: ropeFromConfig(cfg, 'half', ['yarn'], DEFAULT_ROPE_SCALING).rope,
        window: { kind: 'alternate', size: cfg.int('sliding_window', undefined, 1) },
        denseLayers: 0,
        moe: {
          prefix: 'mlp',
          consts: [
            ...routedExperts(cfg, ['num_local_experts', 'num_experts_per_tok', 'intermediate_size']),
            ['LIMIT', floatLit(limit), 'swiglu_limit'],
            ['ALPHA', floatLit(alpha), cfg.has('swiglu_alpha') ? 'swiglu_alpha' : 'GptOssExperts.alpha'],
          ],
          weights: [
            ['router', 'E, D', 'router.weight'],
            ['router_bias', 'E', 'router.bias'],
            ['gate_up', 'E, D, 2 * F', 'experts.gate_up_proj'],
            ['gate_up_bias', 'E, 2 * F', 'experts.gate_up_proj_bias'],
            ['down', 'E, F, D', 'experts.down_proj'],
            ['down_bias', 'E, D', 'experts.down_proj_bias'],
          ],
          body: [
            'top = topk(linear(h, router, router_bias), k=K)',
            'w = softmax(top.values)',
            'slots, offsets = moe_permute(top.indices, experts=E)',
            'gu = grouped_matmul(moe_dispatch(h, slots, offsets, k=K), gate_up, offsets, bias=gate_up_bias)',
            'gate = clamp(slice(gu, axis=-1, start=0, step=2), max=LIMIT)',
            'up = clamp(slice(gu, axis=-1, start=1, step=2), min=-LIMIT, max=LIMIT)',
            'ys = grouped_matmul((up + 1) * gate * sigmoid(gate * ALPHA), down, offsets, bias=down_bias)',
            'ffn = moe_combine(ys, slots, offsets, w)',
          ],
          doc: ['MoE (GptOssMLP): top-k on the biased logits, softmax over the k; interleaved gate/up; clamped SwiGLU.'],
        },
      },
      quantization: quantMethod(cfg),
    };
  },
};
