/**
 * @fileoverview `moec import config.json`: a Hugging Face config → the whole decoder as
 * `.moe` text and its graph IR. The config's `model_type` (checked against `architectures`)
 * picks the family (`families/`), the family reads the fields into a `DecoderSpec`, the
 * shared builder (`decoder.ts`) writes the `.moe` text, and the ordinary frontend compiles
 * it, so an imported model is checked exactly like a hand-written one.
 */
import type { Module } from '../../ir/graph/graph.ts';
import { MoecError, fail } from '../../ir/diagnostics.ts';
import { SourceFile } from '../../ir/source.ts';
import { pointIntoConfig } from './config-spans.ts';
import { compileMoeText } from '../frontend/index.ts';
import { HfConfig, type ImportNote } from './config.ts';
import { type DecoderSpec, renderDecoder } from './decoder.ts';
import { deepseek } from './families/deepseek.ts';
import type { Family } from './families/family.ts';
import { gptOss } from './families/gpt-oss.ts';
import { llama } from './families/llama.ts';
import { mixtral } from './families/mixtral.ts';
import { olmoe } from './families/olmoe.ts';
import { qwenMoe } from './families/qwen-moe.ts';
import { parseJsonDocument } from './json-source.ts';

const FAMILIES: Family[] = [mixtral, qwenMoe, deepseek, olmoe, gptOss, llama];

/** Every `model_type` moec imports, with its `architectures` class. */
export const IMPORTABLE: Readonly<Record<string, string>> = Object.assign({}, ...FAMILIES.map((f) => f.modelTypes));

export interface ImportResult {
  /** The `.moe` text of the whole decoder. */
  text: string;
  /** Its graph IR (lowered and verified). */
  module: Module;
  modelType: string;
  architecture: string;
  spec: DecoderSpec;
  /**
   * Multi-token-prediction layers the checkpoint holds but the graph leaves out (DeepSeek-V3):
   * how many, and their parameters apart from the embedding and LM head they share with the
   * model (one MoE decoder layer + enorm, hnorm, eh_proj [D, 2D] and shared_head.norm each).
   */
  mtp?: { layers: number; params: number };
  /** The checkpoint's storage quantization (quantization_config.quant_method): reported, not applied. */
  quantization?: string;
  /** The dtype the checkpoint's weights are stored in (`torch_dtype`, or `dtype` in newer configs), as the config spells it. */
  torchDtype?: string;
  /** Each field the config leaves out and the import gave the reference's default (`moec import` prints them). */
  notes: ImportNote[];
}

/** `torch_dtype` (`dtype` since transformers 4.56), when the config names one. */
function torchDtype(cfg: HfConfig): { torchDtype?: string } {
  const key = ['torch_dtype', 'dtype'].find((k) => cfg.has(k) && typeof cfg.raw(k) === 'string');
  return key ? { torchDtype: cfg.str(key) } : {};
}

/** What an import may change: `consts` override the generated text's named constants (`--set`), as for a .moe file. */
export interface ImportOptions {
  consts?: Record<string, number>;
}

/**
 * Imports a config.json's text; `path` is what diagnostics print. Throws MoecError (E8xx) naming
 * the field at fault; an error from `consts` (an unknown name, a size the graph refuses) points
 * at the config field behind the constant.
 */
export function importHfConfig(json: string, path: string, opts: ImportOptions = {}): ImportResult {
  const doc = parseJsonDocument(json, path);
  const cfg = new HfConfig(doc);
  const modelType = cfg.str('model_type');
  const family = FAMILIES.find((f) => Object.hasOwn(f.modelTypes, modelType));
  if (!family)
    fail('E802', `model_type "${modelType}" is not an architecture moec imports`, doc.values.get('model_type'), `moec imports: ${Object.keys(IMPORTABLE).join(', ')}`);
  const architecture = family.modelTypes[modelType];
  // transformers' configuration class of each architecture: FooForCausalLM's is FooConfig.
  cfg.setReference(architecture.replace(/ForCausalLM$/, 'Config'));
  if (cfg.has('architectures')) {
    const archs = cfg.strings('architectures');
    if (archs.length !== 1 || archs[0] !== architecture)
      fail('E802', `architectures ${JSON.stringify(archs)} does not match model_type "${modelType}" (${architecture})`, doc.values.get('architectures'), `a ${modelType} config names ["${architecture}"]`);
  }
  const r = family.read(cfg, modelType);
  const text = renderDecoder(r.spec);
  const moePath = path.replace(/\.json$/, '') + '.moe';
  let module: Module;
  try {
    module = compileMoeText(text, { path: moePath, consts: opts.consts });
  } catch (e) {
    throw e instanceof MoecError ? pointIntoConfig(e, new SourceFile(moePath, text), doc) : e;
  }
  const result: ImportResult = { text, module, modelType, architecture, spec: r.spec, ...(r.quantization ? { quantization: r.quantization } : {}), ...torchDtype(cfg), notes: [...cfg.notes] };
  if (r.mtpLayers) {
    const d = r.spec.hidden;
    // One MoE layer of the graph: every weight stacked under `layers.`, per slice.
    const layer = module.weights.filter((w) => w.name.startsWith('layers.')).reduce((s, w) => s + w.type.shape.slice(1).reduce<number>((a, x) => a * (x as number), 1), 0);
    result.mtp = { layers: r.mtpLayers, params: r.mtpLayers * (layer + 2 * d + 2 * d * d + d) };
  }
  return result;
}
