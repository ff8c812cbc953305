/**
 * @fileoverview Dense Llama (transformers LlamaForCausalLM), the dense baseline next to the
 * MoE models: every layer a SwiGLU MLP of intermediate_size; rope with Llama 3's frequency
 * bands (`rope_scaling.rope_type = "llama3"`) when the config has them.
 */
import type { HfConfig } from '../config.ts';
import { attentionBias, baseSpec, gqaFromConfig, ropeFromConfig } from './common.ts';
import { type Family, quantMethod } from './family.ts';

export const llama: Family = {
  modelTypes: { llama: 'LlamaForCausalLM' },
  read(cfg: HfConfig) {
    const bias = attentionBias(cfg);
    const base = baseSpec(cfg, 'llama', [
      `Llama (transformers LlamaForCausalLM), imported from ${cfg.doc.source.path} by moec import.`,
      'Dense: every layer is attention + a SwiGLU MLP; logits = lm_head(norm(h)).',
    ], { mlpBias: true });
    return {
      spec: {
        ...base,
        attention: gqaFromConfig(cfg, { qkvBias: bias, oBias: bias }),
        rope: ropeFromConfig(cfg, 'half', ['llama3']).rope,
        window: { kind: 'none' },
        denseLayers: base.layers,
        denseHidden: cfg.int('intermediate_size', undefined, 1),
      },
      quantization: quantMethod(cfg),
    };
  },
};
