/**
 * @fileoverview The contract of an architecture family: which `model_type`s and
 * `architectures` it reads, and how it turns a config into a `DecoderSpec`.
 */
import type { HfConfig } from '../config.ts';
import type { DecoderSpec } from '../decoder.ts';

/** What a family reads from a config. */
export interface FamilyResult {
  spec: DecoderSpec;
  /** Multi-token-prediction layers the checkpoint holds beyond the decoder (DeepSeek-V3), left out of the graph. */
  mtpLayers?: number;
  /** The checkpoint's storage quantization (quantization_config.quant_method), reported, not applied: the graph is f32. */
  quantization?: string;
}

export interface Family {
  /** `model_type` values, and the `architectures` class name each maps to. */
  modelTypes: Record<string, string>;
  read(cfg: HfConfig, modelType: string): FamilyResult;
}

/** quantization_config.quant_method, if any. */
export function quantMethod(cfg: HfConfig): string | undefined {
  const q = cfg.object('quantization_config');
  return q ? q.str('quant_method', 'unknown') : undefined;
}
