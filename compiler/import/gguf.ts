/**
 * @fileoverview `moec import model.gguf`: a llama.cpp GGUF file's metadata read as the
 * Hugging Face config.json it was converted from, then imported exactly as that config is
 * (index.ts), so a GGUF model and its config.json give the same `.moe` and the same graph.
 *
 * The metadata keys are llama.cpp's (gguf-py `constants.py` `Keys`, each `{arch}.` prefixed):
 * block_count, embedding_length, feed_forward_length, expert_count, expert_used_count,
 * expert_feed_forward_length, expert_shared_feed_forward_length, attention.head_count(_kv),
 * attention.key_length, attention.layer_norm_rms_epsilon, rope.freq_base, context_length.
 * What llama.cpp does not store is read off the tensors (vocabulary size, tied embeddings,
 * attention biases, the shared expert's size) or is fixed by its architecture (llama.cpp
 * renormalises the top-k weights for Qwen3-MoE, not for Qwen2-MoE). Architectures:
 * `llama` with experts is Mixtral (without, Llama), `qwen2moe`, `qwen3moe`; any other is E802.
 */
import { MoecError, fail } from '../../ir/diagnostics.ts';
import { SourceFile } from '../../ir/source.ts';
import { type GgufFile, readGguf } from '../../ir/gguf.ts';
import { ggufMeta } from '../../ir/gguf-checkpoint.ts';
import { type ImportOptions, type ImportResult, importHfConfig } from './index.ts';

/** The GGUF architectures moec imports and the transformers model_type each was converted from. */
const MODEL_TYPES: Record<string, (f: GgufFile) => string> = {
  llama: (f) => ((num(f, 'llama.expert_count', 0) ?? 0) > 0 ? 'mixtral' : 'llama'),
  qwen2moe: () => 'qwen2_moe',
  qwen3moe: () => 'qwen3_moe',
};

const ARCHITECTURES: Record<string, string> = {
  mixtral: 'MixtralForCausalLM',
  llama: 'LlamaForCausalLM',
  qwen2_moe: 'Qwen2MoeForCausalLM',
  qwen3_moe: 'Qwen3MoeForCausalLM',
};

/** A numeric metadata value; `fallback` when absent (undefined: E804 naming the key). */
function num(f: GgufFile, key: string, fallback?: number): number | undefined {
  const v = ggufMeta(f, key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    fail('E804', `${f.path}: the GGUF metadata has no \`${key}\``, undefined, 'llama.cpp\'s converter writes it; convert the model again with a current llama.cpp');
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) fail('E804', `${f.path}: GGUF metadata \`${key}\` is ${JSON.stringify(v)}, not a number`);
  return v;
}

/** The numpy-order shape of a tensor, or undefined when the file lacks it. */
function shapeOf(f: GgufFile, name: string): number[] | undefined {
  const t = f.tensors.get(name);
  return t ? [...t.ne].reverse() : undefined;
}

/** The config.json (as an object) that the GGUF metadata describes. */
export function ggufConfig(f: GgufFile): Record<string, unknown> {
  const arch = ggufMeta(f, 'general.architecture');
  if (typeof arch !== 'string' || !Object.hasOwn(MODEL_TYPES, arch))
    fail('E802', `${f.path}: GGUF architecture ${JSON.stringify(arch ?? null)} is not an architecture moec imports`, undefined, `moec imports GGUF files of: ${Object.keys(MODEL_TYPES).join(', ')} (llama with experts is Mixtral)`);
  // Llama 3.x files carry their rope scaling as per-frequency factors (a `rope_freqs` tensor),
  // not as metadata: imported without it, every position would be rotated wrongly.
  if (f.tensors.has('rope_freqs.weight'))
    fail('E803', `${f.path}: the GGUF file scales rope by a rope_freqs tensor (Llama 3 style), which moec does not read from GGUF`, undefined, 'import the model\'s config.json instead (moec import config.json), which states rope_scaling in full');
  const modelType = MODEL_TYPES[arch](f);
  const k = (key: string, fallback?: number): number => num(f, `${arch}.${key}`, fallback) as number;
  const heads = k('attention.head_count');
  const embed = shapeOf(f, 'token_embd.weight');
  const tokens = f.metadata.get('tokenizer.ggml.tokens');
  // The vocabulary: `{arch}.vocab_size` where written, else the tokenizer's list, else the embedding's rows.
  const vocab = ggufMeta(f, `${arch}.vocab_size`) ?? (typeof tokens === 'object' ? tokens.count : embed?.[0]);
  if (typeof vocab !== 'number') fail('E804', `${f.path}: the GGUF file gives no vocabulary size (no ${arch}.vocab_size, tokenizer.ggml.tokens or token_embd.weight)`);
  const cfg: Record<string, unknown> = {
    architectures: [ARCHITECTURES[modelType]],
    model_type: modelType,
    hidden_act: 'silu',
    vocab_size: vocab,
    hidden_size: k('embedding_length'),
    num_hidden_layers: k('block_count'),
    num_attention_heads: heads,
    num_key_value_heads: k('attention.head_count_kv', heads),
    rms_norm_eps: k('attention.layer_norm_rms_epsilon'),
    max_position_embeddings: k('context_length'),
    // llama.cpp's default when the key is absent (llama_model_loader: rope_freq_base_train).
    rope_theta: k('rope.freq_base', 10000),
    // No output.weight: llama.cpp ties the LM head to the embedding.
    tie_word_embeddings: !f.tensors.has('output.weight'),
  };
  const scaling = ggufMeta(f, `${arch}.rope.scaling.type`);
  if (scaling !== undefined && scaling !== 'none')
    fail('E803', `${f.path}: GGUF metadata \`${arch}.rope.scaling.type\` is ${JSON.stringify(scaling)}: rope scaling from GGUF metadata is not implemented`, undefined, 'import the model\'s config.json instead (moec import config.json), which states the scaling in full');
  const headDim = ggufMeta(f, `${arch}.attention.key_length`);
  if (headDim !== undefined) cfg.head_dim = headDim;
  const bias = f.tensors.has('blk.0.attn_q.bias');
  if (modelType === 'mixtral') {
    Object.assign(cfg, { num_local_experts: k('expert_count'), num_experts_per_tok: k('expert_used_count'), intermediate_size: k('feed_forward_length') });
  } else if (modelType === 'llama') {
    Object.assign(cfg, { intermediate_size: k('feed_forward_length'), attention_bias: bias });
  } else {
    const shared = shapeOf(f, 'blk.0.ffn_gate_shexp.weight');
    Object.assign(cfg, {
      num_experts: k('expert_count'),
      num_experts_per_tok: k('expert_used_count'),
      moe_intermediate_size: k('expert_feed_forward_length'),
      decoder_sparse_step: 1,
      use_sliding_window: false,
      // llama.cpp's build_moe_ffn: weights renormalised for Qwen3-MoE, not for Qwen2-MoE.
      norm_topk_prob: modelType === 'qwen3_moe',
    });
    if (modelType === 'qwen2_moe') {
      Object.assign(cfg, { qkv_bias: bias, shared_expert_intermediate_size: k('expert_shared_feed_forward_length', shared?.[0] ?? 0) });
      if (f.tensors.has('blk.0.ffn_gate_inp.weight') && !shared) fail('E804', `${f.path}: a qwen2moe GGUF file without blk.0.ffn_gate_shexp.weight (the shared expert)`, undefined, 'Qwen2-MoE has a shared expert in every layer');
    } else cfg.attention_bias = bias;
    if (ggufMeta(f, `${arch}.feed_forward_length`) !== undefined) cfg.intermediate_size = k('feed_forward_length');
  }
  return cfg;
}

/**
 * Imports a GGUF file's metadata (only its header is read). The config it stands for goes
 * through the ordinary importer under `path`, so notes and the `.moe` header name the GGUF file.
 */
export function importGguf(path: string, opts: ImportOptions = {}): ImportResult & { config: Record<string, unknown> } {
  const f = readGguf(path);
  const config = ggufConfig(f);
  const text = JSON.stringify(config, null, 2);
  try {
    return { ...importHfConfig(text, path, opts), config };
  } catch (e) {
    // A field error points into the config the metadata stands for: show that text, never the binary file.
    if (e instanceof MoecError) {
      e.addSource(new SourceFile(path, text));
      for (const d of e.diagnostics) if (d.span?.file === path) d.hint = `${d.hint ? `${d.hint}; ` : ''}the lines shown are ${path}'s GGUF metadata as the config.json moec imports`;
    }
    throw e;
  }
}
