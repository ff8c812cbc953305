/**
 * @fileoverview The shared builder of `moec import`: a decoder described as data
 * (`DecoderSpec`: sizes, attention, rope, which layers are dense, the MoE block) rendered as
 * `.moe` text. Families (one file each under `families/`) read a config into a spec; this
 * file alone decides how a decoder is written, so every imported model has the same shape:
 *
 *     ids → embedding → [dense layers] → MoE layers → final rmsnorm → LM head → logits
 *
 * with pre-norm residual layers (`x + attn(rmsnorm(x))`, then `h + mlp(rmsnorm(h))`), each
 * layer a `repeat` over its checkpoint index (nothing unrolls), checkpoint names as in the
 * Hugging Face checkpoints, and each layer's KV cache a block input (`docs/language.md`).
 */

/** rope attributes (see the `rope` op); `undefined` fields keep the op's defaults. */
export interface RopeSpec {
  theta: number;
  layout: 'half' | 'interleaved';
  scaling: 'none' | 'yarn' | 'llama3';
  factor?: number;
  originalMax?: number;
  betaFast?: number;
  betaSlow?: number;
  truncate?: boolean;
  lowFreq?: number;
  highFreq?: number;
  attentionFactor?: number;
}

export interface GqaSpec {
  kind: 'gqa';
  heads: number;
  kvHeads: number;
  headDim: number;
  qkvBias: boolean;
  oBias: boolean;
  /** Qwen3: rmsnorm of each head (after the reshape); OLMoE: of the whole projection. */
  qkNorm: 'none' | 'head' | 'projection';
  /** OLMoE clip_qkv: q, k, v clamped to ±clip. */
  clip?: number;
  sinks: boolean;
  scale: number;
  scaleDoc: string;
}

export interface MlaSpec {
  kind: 'mla';
  heads: number;
  /** null: a plain q_proj (DeepSeek-V2-Lite). */
  qLoraRank: number | null;
  kvLoraRank: number;
  nopeDim: number;
  ropeDim: number;
  vDim: number;
  scale: number;
  scaleDoc: string;
}

/** The MoE feed-forward block: its constants, weights (checkpoint names relative to `prefix`) and body. */
export interface MoeSpec {
  /** Checkpoint prefix of the block inside a layer: `mlp` or `block_sparse_moe`. */
  prefix: string;
  consts: Array<[string, number | string, string]>;
  weights: Array<[string, string, string]>;
  /** Lines computing `ffn` from the normalised input `h`; may call `swiglu_mlp`. */
  body: string[];
  doc: string[];
}

export interface DecoderSpec {
  /** The model's name in the .moe file (an identifier). */
  name: string;
  /** Header lines: where it came from and the semantics worth stating. */
  doc: string[];
  vocab: number;
  hidden: number;
  layers: number;
  eps: number;
  maxPositions: number;
  tied: boolean;
  attention: GqaSpec | MlaSpec;
  rope: RopeSpec;
  /** Sliding window: none, every layer, or alternating (layer 2i sliding, 2i+1 full; GPT-OSS). */
  window: { kind: 'none' } | { kind: 'all'; size: number } | { kind: 'alternate'; size: number };
  /** The first `denseLayers` layers use a dense SwiGLU MLP of `denseHidden` (all of them without `moe`). */
  denseLayers: number;
  denseHidden?: number;
  moe?: MoeSpec;
}

/** A float literal the .moe lexer reads back exactly (`1000000.0`, `0.08838834764831845`, `1e-06`). */
export function floatLit(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return `${x}.0`;
  return String(x);
}

function ropeArgs(r: RopeSpec): string {
  const args = [`offset=L`, `theta=THETA`];
  if (r.layout !== 'half') args.push(`layout="${r.layout}"`);
  if (r.scaling !== 'none') args.push(`scaling="${r.scaling}"`);
  const f = (name: string, v: number | undefined, int = false): void => {
    if (v !== undefined) args.push(`${name}=${int ? String(v) : floatLit(v)}`);
  };
  f('factor', r.factor);
  f('original_max_position', r.originalMax, true);
  f('beta_fast', r.betaFast);
  f('beta_slow', r.betaSlow);
  if (r.truncate !== undefined) args.push(`truncate=${r.truncate}`);
  f('low_freq_factor', r.lowFreq);
  f('high_freq_factor', r.highFreq);
  f('attention_factor', r.attentionFactor);
  return args.join(', ');
}

function gqaBlock(a: GqaSpec, rope: string): string[] {
  const w = (name: string, shape: string, from: string): string => `  weight ${name}: f32[${shape}] from "${from}"`;
  const out = [
    `// Grouped-query attention: H query heads over G kv heads of HD, rope, causal over the cache.`,
    `block self_attention(x: f32[T, D], window: int) {`,
    `  input k_cache: f32[L, G, HD]`,
    `  input v_cache: f32[L, G, HD]`,
    w('wq', 'H * HD, D', 'q_proj.weight'),
    w('wk', 'G * HD, D', 'k_proj.weight'),
    w('wv', 'G * HD, D', 'v_proj.weight'),
    w('wo', 'D, H * HD', 'o_proj.weight'),
  ];
  if (a.qkvBias) out.push(w('bq', 'H * HD', 'q_proj.bias'), w('bk', 'G * HD', 'k_proj.bias'), w('bv', 'G * HD', 'v_proj.bias'));
  if (a.oBias) out.push(w('bo', 'D', 'o_proj.bias'));
  if (a.qkNorm === 'head') out.push(w('q_norm', 'HD', 'q_norm.weight'), w('k_norm', 'HD', 'k_norm.weight'));
  if (a.qkNorm === 'projection') out.push(w('q_norm', 'H * HD', 'q_norm.weight'), w('k_norm', 'G * HD', 'k_norm.weight'));
  if (a.sinks) out.push(w('sinks', 'H', 'sinks'));
  const b = (n: string): string => (a.qkvBias ? `, b${n}` : '');
  out.push(`  q = linear(x, wq${b('q')})`, `  k = linear(x, wk${b('k')})`, `  v = linear(x, wv${b('v')})`);
  if (a.qkNorm === 'projection') out.push(`  q = rmsnorm(q, q_norm, eps=EPS)`, `  k = rmsnorm(k, k_norm, eps=EPS)`);
  if (a.clip !== undefined) for (const n of ['q', 'k', 'v']) out.push(`  ${n} = clamp(${n}, min=-CLIP, max=CLIP)`);
  out.push(`  q = reshape(q, [T, H, HD])`, `  k = reshape(k, [T, G, HD])`, `  v = reshape(v, [T, G, HD])`);
  if (a.qkNorm === 'head') out.push(`  q = rmsnorm(q, q_norm, eps=EPS)`, `  k = rmsnorm(k, k_norm, eps=EPS)`);
  out.push(`  q = rope(q, ${rope})`, `  k = rope(k, ${rope})`);
  out.push(`  a = attention(q, k, v, k_cache, v_cache${a.sinks ? ', sinks=sinks' : ''}, scale=SCALE, window=window)`);
  out.push(`  return linear(reshape(a, [T, H * HD]), wo${a.oBias ? ', bo' : ''})`, `}`);
  return out;
}

function mlaBlock(a: MlaSpec, rope: string): string[] {
  const w = (name: string, shape: string, from: string): string => `  weight ${name}: f32[${shape}] from "${from}"`;
  const out = [
    `// Multi-head latent attention: the cache holds each token's normalised latent (C) and rope key (DR).`,
    `block self_attention(x: f32[T, D], window: int) {`,
    `  input kv_cache: f32[L, C]`,
    `  input pe_cache: f32[L, DR]`,
  ];
  if (a.qLoraRank === null) out.push(w('wq', 'H * (DN + DR), D', 'q_proj.weight'));
  else out.push(w('wq_a', 'QL, D', 'q_a_proj.weight'), w('q_norm', 'QL', 'q_a_layernorm.weight'), w('wq_b', 'H * (DN + DR), QL', 'q_b_proj.weight'));
  out.push(
    w('wkv_a', 'C + DR, D', 'kv_a_proj_with_mqa.weight'),
    w('kv_norm', 'C', 'kv_a_layernorm.weight'),
    w('wkv_b', 'H * (DN + DV), C', 'kv_b_proj.weight'),
    w('wo', 'D, H * DV', 'o_proj.weight'),
  );
  out.push(a.qLoraRank === null ? `  q = reshape(linear(x, wq), [T, H, DN + DR])` : `  q = reshape(linear(rmsnorm(linear(x, wq_a), q_norm, eps=LORA_EPS), wq_b), [T, H, DN + DR])`);
  out.push(
    `  q_nope = slice(q, axis=-1, start=0, end=DN)`,
    `  q_pe = rope(slice(q, axis=-1, start=DN), ${rope})`,
    `  kva = linear(x, wkv_a)`,
    `  kv = rmsnorm(slice(kva, axis=-1, start=0, end=C), kv_norm, eps=LORA_EPS)`,
    `  k_pe = reshape(rope(reshape(slice(kva, axis=-1, start=C), [T, 1, DR]), ${rope}), [T, DR])`,
    `  a = mla_attention(q_nope, q_pe, kv, k_pe, kv_cache, pe_cache, wkv_b, scale=SCALE)`,
    `  return linear(reshape(a, [T, H * DV]), wo)`,
    `}`,
  );
  return out;
}

/** Renders the spec as a `.moe` file. */
export function renderDecoder(s: DecoderSpec): string {
  const lines: string[] = [...s.doc.map((d) => `// ${d}`.trimEnd()), ''];
  const c = (name: string, v: number | string, doc: string): void => {
    lines.push(`const ${name} = ${typeof v === 'number' ? String(v) : v}`.padEnd(34) + `// ${doc}`);
  };
  lines.push(`dim T <= ${s.maxPositions}`.padEnd(34) + '// new tokens in this forward pass');
  lines.push(`dim L <= ${s.maxPositions}`.padEnd(34) + '// positions already in the KV cache (token t is at L + t)');
  c('V', s.vocab, 'vocab_size');
  c('D', s.hidden, 'hidden_size');
  c('LAYERS', s.layers, 'num_hidden_layers');
  c('EPS', floatLit(s.eps), 'rms_norm_eps');
  c('THETA', floatLit(s.rope.theta), 'rope_theta');
  const a = s.attention;
  if (a.kind === 'gqa') {
    c('H', a.heads, 'num_attention_heads');
    c('G', a.kvHeads, 'num_key_value_heads');
    c('HD', a.headDim, 'head_dim');
    if (a.clip !== undefined) c('CLIP', floatLit(a.clip), 'clip_qkv');
  } else {
    c('H', a.heads, 'num_attention_heads');
    if (a.qLoraRank !== null) c('QL', a.qLoraRank, 'q_lora_rank');
    c('C', a.kvLoraRank, 'kv_lora_rank');
    c('DN', a.nopeDim, 'qk_nope_head_dim');
    c('DR', a.ropeDim, 'qk_rope_head_dim');
    c('DV', a.vDim, 'v_head_dim');
    c('LORA_EPS', floatLit(1e-6), 'q_a_layernorm / kv_a_layernorm eps (the modules\' default)');
  }
  c('SCALE', floatLit(a.scale), a.scaleDoc);
  if (s.window.kind !== 'none') c('WINDOW', s.window.size, 'sliding_window');
  if (s.denseHidden !== undefined) c('F_DENSE', s.denseHidden, 'intermediate_size (dense MLP)');
  if (s.moe) for (const [n, v, d] of s.moe.consts) c(n, v, d);
  lines.push('');
  const rope = ropeArgs(s.rope);
  lines.push(...(a.kind === 'gqa' ? gqaBlock(a, rope) : mlaBlock(a, rope)), '');
  // The dense MLP block, for the dense layers and shared experts (GPT-OSS has neither).
  if (s.denseLayers > 0 || s.moe?.body.some((l) => l.includes('swiglu_mlp(')))
    lines.push(
      '// A dense SwiGLU MLP: down(silu(gate x) * up x).',
      'block swiglu_mlp(x: f32[T, D], hidden: int) {',
      '  weight gate: f32[hidden, D] from "gate_proj.weight"',
      '  weight up: f32[hidden, D] from "up_proj.weight"',
      '  weight down: f32[D, hidden] from "down_proj.weight"',
      '  return linear(silu(linear(x, gate)) * linear(x, up), down)',
      '}',
      '',
    );
  const layer = (name: string, ffn: string): void => {
    lines.push(
      `block ${name}(x: f32[T, D], window: int) {`,
      '  weight ln1: f32[D] from "input_layernorm.weight"',
      '  weight ln2: f32[D] from "post_attention_layernorm.weight"',
      '  h = x + self_attention(rmsnorm(x, ln1, eps=EPS), window=window) as self_attn from "self_attn"',
      `  return h + ${ffn}`,
      '}',
      '',
    );
  };
  if (s.denseLayers > 0) layer('dense_layer', 'swiglu_mlp(rmsnorm(h, ln2, eps=EPS), hidden=F_DENSE) as mlp from "mlp"');
  if (s.moe) {
    lines.push(...s.moe.doc.map((d) => `// ${d}`.trimEnd()), 'block moe_ffn(h: f32[T, D]) {');
    for (const [n, shape, from] of s.moe.weights) lines.push(`  weight ${n}: f32[${shape}] from "${from}"`);
    lines.push(...s.moe.body.map((l) => `  ${l}`), '  return ffn', '}', '');
    layer('moe_layer', `moe_ffn(rmsnorm(h, ln2, eps=EPS)) as moe from "${s.moe.prefix}"`);
  }
  const win = s.window.kind === 'all' ? 'WINDOW' : '0';
  const kind = s.moe ? 'moe_layer' : 'dense_layer';
  if (s.window.kind === 'alternate') {
    lines.push(
      `// Layer 2i attends within a sliding window, layer 2i+1 to everything (layer_types).`,
      `block layer_pair(x: f32[T, D]) {`,
      `  y = ${kind}(x, window=WINDOW) as sliding from "model.layers.{2*i}"`,
      `  return ${kind}(y, window=0) as full from "model.layers.{2*i+1}"`,
      '}',
      '',
    );
  }
  lines.push(
    `model ${s.name} {`,
    '  input ids: i32[T]',
    '  weight embed: f32[V, D] from "model.embed_tokens.weight"',
    '  weight norm: f32[D] from "model.norm.weight"',
  );
  if (!s.tied) lines.push('  weight lm_head: f32[V, D] from "lm_head.weight"');
  lines.push('  h = embedding(ids, embed)');
  const moeStart = s.moe ? s.denseLayers : s.layers;
  if (s.window.kind === 'alternate') lines.push(`  h = repeat(${s.layers / 2}) layer_pair(h) as layers`);
  else {
    if (moeStart > 0) lines.push(`  h = repeat(i = 0..${moeStart === s.layers ? 'LAYERS' : moeStart}) dense_layer(h, window=${win}) as dense from "model.layers.{i}"`);
    if (s.moe) lines.push(`  h = repeat(i = ${moeStart}..LAYERS) moe_layer(h, window=${win}) as layers from "model.layers.{i}"`);
  }
  lines.push(`  output logits = linear(rmsnorm(h, norm, eps=EPS), ${s.tied ? 'embed' : 'lm_head'})`, '}', '');
  return lines.join('\n');
}
