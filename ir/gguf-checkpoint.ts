/**
 * @fileoverview A GGUF file as a checkpoint under Hugging Face names, so `--weights
 * model.gguf` goes through the same loader (compiler/checkpoint/load-weights.ts) and the same
 * `from` patterns as a safetensors checkpoint of the model `moec import` builds.
 *
 * Names: llama.cpp's (`blk.3.ffn_gate_exps.weight`) mapped to transformers' (`model.layers.3.
 * block_sparse_moe.experts.{e}.w1.weight`); a stacked expert tensor [E, F, D] (ne = [D, F, E])
 * is offered as E tensors [F, D], each read from its own rows. For the `llama` architecture
 * (Mixtral), llama.cpp's converter reorders the rows of q and k within each head from the
 * half-split rope layout to the interleaved one (convert_hf_to_gguf.py `LlamaModel.permute`);
 * the rows are put back here, so the model keeps Hugging Face's layout. Qwen MoE files are
 * not reordered (llama.cpp runs them with NeoX rope).
 *
 * Types: F32, F16, BF16 as floats; Q8_0 as I8 codes with `<name>_scale` F32 [N, K/32] beside
 * them and Q4_0 as packed i4 (U8 [N, K/2], moec's nibble order) with its scales: moec's own
 * i8 / i4 group-32 layout, which the loader takes as it is (or dequantizes, with a note, for
 * a float model). Only the bytes of the tensors asked for are read.
 */
import { didYouMean, fail } from './diagnostics.ts';
import { type GgufFile, type GgufTensor, GGML_TYPES, decodeBlocks, decodeFloats, ggmlTypeName, readGguf } from './gguf.ts';
import { packCodes } from './quant.ts';
import type { GetOptions, SafetensorsFile } from './safetensors.ts';
import type { Tensor } from './tensor.ts';

/** One checkpoint tensor: rows `row0..row0+rows` of a GGUF tensor, maybe reordered. */
interface Source {
  t: GgufTensor;
  /** numpy-order shape of what is offered ([N, K] or [K]). */
  shape: number[];
  row0: number;
  /** Heads whose rows llama.cpp interleaved (q: head_count, k: head_count_kv), or 0. */
  unpermuteHeads: number;
  /** The `<name>_scale` tensor of a quantized one. */
  scale?: boolean;
}

/** What a GGUF architecture's MoE block is called in its transformers checkpoints, and its expert projections. */
export const GGUF_LAYOUT: Record<string, { moe: string; experts: [string, string, string]; permuteQk: boolean }> = {
  llama: { moe: 'block_sparse_moe', experts: ['w1', 'w3', 'w2'], permuteQk: true },
  qwen2moe: { moe: 'mlp', experts: ['gate_proj', 'up_proj', 'down_proj'], permuteQk: false },
  qwen3moe: { moe: 'mlp', experts: ['gate_proj', 'up_proj', 'down_proj'], permuteQk: false },
};

/** The GGUF architectures whose tensors moec names (their metadata is mapped in compiler/import/gguf.ts). */
export const GGUF_ARCHITECTURES = Object.keys(GGUF_LAYOUT);

/** llama.cpp's names of the tensors outside the layers, and the Hugging Face names they stand for. */
export const GGUF_TOP_NAMES: Readonly<Record<string, string>> = { 'token_embd.weight': 'model.embed_tokens.weight', 'output_norm.weight': 'model.norm.weight', 'output.weight': 'lm_head.weight' };

/**
 * llama.cpp's per-layer tensor names (`blk.N.<name>.weight|bias`) and the Hugging Face names
 * under `model.layers.N.` they stand for; `moe` is the MoE block's name (`mlp`, `block_sparse_moe`).
 */
export function ggufLayerNames(moe: string): Readonly<Record<string, string>> {
  return {
    attn_norm: 'input_layernorm',
    ffn_norm: 'post_attention_layernorm',
    attn_q: 'self_attn.q_proj',
    attn_k: 'self_attn.k_proj',
    attn_v: 'self_attn.v_proj',
    attn_output: 'self_attn.o_proj',
    attn_q_norm: 'self_attn.q_norm',
    attn_k_norm: 'self_attn.k_norm',
    ffn_gate_inp: `${moe}.gate`,
    ffn_gate: 'mlp.gate_proj',
    ffn_up: 'mlp.up_proj',
    ffn_down: 'mlp.down_proj',
    ffn_gate_shexp: 'mlp.shared_expert.gate_proj',
    ffn_up_shexp: 'mlp.shared_expert.up_proj',
    ffn_down_shexp: 'mlp.shared_expert.down_proj',
    ffn_gate_inp_shexp: 'mlp.shared_expert_gate',
  };
}

/** A GGUF string or integer metadata value, or undefined. */
export function ggufMeta(f: GgufFile, key: string): string | number | boolean | undefined {
  const v = f.metadata.get(key);
  if (typeof v === 'bigint') return Number(v);
  return typeof v === 'object' ? undefined : v;
}

/** Opens a GGUF file as a checkpoint with Hugging Face tensor names. */
export function openGgufCheckpoint(path: string): SafetensorsFile & { fileOf(name: string): string } {
  const f = readGguf(path);
  const arch = ggufMeta(f, 'general.architecture');
  const layout = typeof arch === 'string' ? GGUF_LAYOUT[arch] : undefined;
  if (!layout)
    fail('E510', `${path}: GGUF architecture ${JSON.stringify(arch ?? null)} is not one whose tensors moec names`, undefined, `moec reads GGUF weights of: ${GGUF_ARCHITECTURES.join(', ')}`);
  const heads = Number(ggufMeta(f, `${arch}.attention.head_count`) ?? 0);
  const kvHeads = Number(ggufMeta(f, `${arch}.attention.head_count_kv`) ?? heads);
  const map = new Map<string, Source>();
  const add = (name: string, s: Omit<Source, 'shape' | 'row0' | 'unpermuteHeads'> & Partial<Source>): void => {
    const shape = s.shape ?? [...s.t.ne].reverse();
    map.set(name, { row0: 0, unpermuteHeads: 0, ...s, shape });
    if (GGML_TYPES[s.t.type]?.block === 32) map.set(name + '_scale', { row0: 0, unpermuteHeads: 0, ...s, shape, scale: true });
  };
  const PER_LAYER = ggufLayerNames(layout.moe);
  const EXPERTS: Record<string, string> = { ffn_gate: layout.experts[0], ffn_up: layout.experts[1], ffn_down: layout.experts[2] };
  for (const t of f.tensors.values()) {
    const top = GGUF_TOP_NAMES[t.name];
    if (top) {
      add(top, { t });
      continue;
    }
    const m = /^blk\.(\d+)\.(\w+?)(?:\.(\d+))?\.(weight|bias)$/.exec(t.name);
    if (!m) continue;
    const [, layer, part, expert, kind] = m;
    const prefix = `model.layers.${layer}`;
    const stacked = /^(ffn_gate|ffn_up|ffn_down)_exps$/.exec(part);
    if (stacked) {
      // [E, R, C] → E tensors [R, C].
      const shape = [...t.ne].reverse();
      for (let e = 0; e < shape[0]; e++) add(`${prefix}.${layout.moe}.experts.${e}.${EXPERTS[stacked[1]]}.${kind}`, { t, shape: shape.slice(1), row0: e * shape[1] });
    } else if (expert !== undefined && EXPERTS[part]) {
      // Files converted before mid-2024 keep each expert apart: blk.0.ffn_gate.3.weight.
      add(`${prefix}.${layout.moe}.experts.${expert}.${EXPERTS[part]}.${kind}`, { t });
    } else if (expert === undefined && PER_LAYER[part]) {
      const name = `${prefix}.${PER_LAYER[part]}.${kind}`;
      // The shared expert's gate is one row [1, D]; llama.cpp may store it as a vector [D].
      const shape = part === 'ffn_gate_inp_shexp' ? [1, t.ne[0]] : undefined;
      const unpermuteHeads = layout.permuteQk && kind === 'weight' ? (part === 'attn_q' ? heads : part === 'attn_k' ? kvHeads : 0) : 0;
      add(name, { t, ...(shape ? { shape } : {}), unpermuteHeads });
    }
  }
  const names = [...map.keys()].sort();
  const source = (name: string): Source => {
    const s = map.get(name);
    if (!s) fail('E503', `${path} has no tensor that moec reads as '${name}'`, undefined, didYouMean(name, map.keys()) ?? `${path} offers ${names.length} tensors under Hugging Face names (llama.cpp's names mapped)`);
    return s;
  };
  const info = (name: string): { dtype: string; shape: number[] } => {
    const s = source(name);
    const g = GGML_TYPES[s.t.type];
    if (!g) return { dtype: `GGUF ${ggmlTypeName(s.t.type)}`, shape: s.shape };
    const k = s.shape[s.shape.length - 1];
    if (s.scale) return { dtype: 'F32', shape: [...s.shape.slice(0, -1), k / 32] };
    if (g.name === 'Q8_0') return { dtype: 'I8', shape: s.shape };
    if (g.name === 'Q4_0') return { dtype: 'U8', shape: [...s.shape.slice(0, -1), k / 2] };
    // F16 and BF16 are widened as they are read (exactly), so they are offered as F32.
    return { dtype: 'F32', shape: s.shape };
  };
  /** The source's bytes, rows back in Hugging Face order. */
  const bytesOf = (s: Source): Uint8Array => {
    const g = GGML_TYPES[s.t.type];
    if (!g) fail('E504', `${path}: tensor "${s.t.name}" is ggml ${ggmlTypeName(s.t.type)}, which moec does not read`, undefined, 'moec reads GGUF tensors of F32, F16, BF16, Q8_0 and Q4_0; requantize the model with llama-quantize (e.g. to Q8_0)');
    const k = s.shape[s.shape.length - 1];
    const rows = s.shape.length > 1 ? s.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
    const rowBytes = (k / g.block) * g.bytes;
    const raw = f.read(s.t.offset + s.row0 * rowBytes, rows * rowBytes);
    if (s.unpermuteHeads <= 0) return raw;
    const hd = rows / s.unpermuteHeads;
    if (!Number.isInteger(hd) || hd % 2 !== 0) fail('E510', `${path}: "${s.t.name}" has ${rows} rows, which ${s.unpermuteHeads} heads cannot split into even head dimensions`, undefined, 'the head counts in the metadata and the tensor disagree');
    // llama.cpp's permute sends row h*hd + s*hd/2 + j (half-split) to h*hd + 2j + s.
    const out = new Uint8Array(raw.length);
    for (let h = 0; h < s.unpermuteHeads; h++)
      for (let half = 0; half < 2; half++)
        for (let j = 0; j < hd / 2; j++) {
          const to = h * hd + half * (hd / 2) + j;
          const from = h * hd + 2 * j + half;
          out.set(raw.subarray(from * rowBytes, (from + 1) * rowBytes), to * rowBytes);
        }
    return out;
  };
  const get = (name: string, opts: GetOptions = {}): Tensor => {
    const s = source(name);
    const { dtype, shape } = info(name);
    const raw = bytesOf(s);
    const g = GGML_TYPES[s.t.type];
    if (g.block === 1) {
      const v = decodeFloats(s.t.type, raw);
      return { dtype: 'f32', shape, data: opts.f64 ? Float64Array.from(v) : v };
    }
    const { codes, scales } = decodeBlocks(s.t.type, raw);
    if (s.scale) return { dtype: 'f32', shape, data: opts.f64 ? Float64Array.from(scales) : scales };
    if (dtype === 'U8' && !opts.packedI4) return { dtype: 'u8', shape, data: Int32Array.from(packCodes('i4', codes)) };
    return { dtype: g.name === 'Q8_0' ? 'i8' : 'i4', shape: s.shape, data: codes };
  };
  const raw = (name: string): Uint8Array => {
    const s = source(name);
    const t = get(name);
    if (s.scale || GGML_TYPES[s.t.type].block === 1) return new Uint8Array(Float32Array.from(t.data).buffer);
    return t.dtype === 'i4' ? packCodes('i4', t.data as Int32Array) : packCodes('i8', t.data as Int32Array);
  };
  /** The bytes the tensor's rows take in the file (a quantized weight's scales share its blocks), for progress lines. */
  const storedBytes = (name: string): number => {
    const s = source(name);
    const g = GGML_TYPES[s.t.type];
    if (!g || s.scale) return 0;
    const k = s.shape[s.shape.length - 1];
    return (s.shape.slice(0, -1).reduce((a, b) => a * b, 1) * k * g.bytes) / g.block;
  };
  return { path, metadata: {}, names: () => [...names], has: (n) => map.has(n), info, storedBytes, get, raw, fileOf: () => path };
}
