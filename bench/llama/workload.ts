/**
 * @fileoverview The llama.cpp comparison's workload: a reduced Qwen3-MoE (the importer's
 * graph of examples/hf/Qwen3-30B-A3B/config.json with smaller sizes, as `--set` gives them)
 * with moec's seeded weights, written three ways from the same numbers:
 * - `model.safetensors` under the Hugging Face names, for moec (`--weights`);
 * - `model-f32.gguf`, every tensor F32, for llama.cpp;
 * - `model-q8_0.gguf`: the weights moec quantizes (`--quantize`, every GEMM weight but the
 *   router's) as Q8_0, the rest F32. moec reads this file as i8 groups of 32 holding the
 *   very codes and scales llama.cpp runs (ir/gguf-checkpoint.ts), so the two quantized
 *   models are one model.
 * The GGUF files carry a small byte-level `gpt2` tokenizer (the 256 byte tokens, a few
 * merges, unused fillers up to the vocabulary size): llama.cpp needs one to load a model;
 * the comparison feeds token ids, never text.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile, quantizeModule, randomWeights, weightsFromSafetensors } from '../../compiler/driver.ts';
import { openCheckpoint } from '../../ir/checkpoint.ts';
import { importHfConfig } from '../../compiler/import/index.ts';
import { writeOutputFile } from '../../compiler/io/output.ts';
import { type Module, type WeightDecl, checkpointName } from '../../ir/graph/graph.ts';
import { GGUF_LAYOUT, GGUF_TOP_NAMES, ggufLayerNames } from '../../ir/gguf-checkpoint.ts';
import { type GgufWriteTensor, type GgufWriteValue, ggufChunks } from '../../ir/gguf-write.ts';
import { QUANT_SCHEMES, type QuantScheme } from '../../ir/quant.ts';
import { safetensorsChunks } from '../../ir/safetensors.ts';
import type { Tensor } from '../../ir/tensor.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const QWEN3_CONFIG = join(ROOT, 'examples', 'hf', 'Qwen3-30B-A3B', 'config.json');
const ARCH = 'qwen3moe';

/** The reduced model's sizes: the importer's constants (`--set`). */
export interface Qwen3Sizes {
  V: number;
  D: number;
  LAYERS: number;
  H: number;
  G: number;
  HD: number;
  E: number;
  K: number;
  F: number;
}

/** The benchmark's model (issue 16): D = 1024, 4 layers, 32 experts top-4, vocabulary 32000; heads and expert width as Qwen3-30B-A3B's in proportion. */
export const BENCH_SIZES: Qwen3Sizes = { V: 32000, D: 1024, LAYERS: 4, H: 16, G: 4, HD: 64, E: 32, K: 4, F: 384 };

/** Q8_0's weights in moec: i8 codes with one scale per 32 along the reduction axis (`--quantize i8g32`). */
export const I8_GROUP32: QuantScheme = QUANT_SCHEMES.i8g32;

/** The reduced Qwen3-MoE graph. */
export function qwen3Module(sizes: Qwen3Sizes): Module {
  const { text } = importHfConfig(readFileSync(QWEN3_CONFIG, 'utf8'), QWEN3_CONFIG);
  // The importer writes the attention scale as a number (head_dim ** -0.5 of the config's
  // head_dim), which a new HD does not change: it is set with it.
  return compile(text, { path: QWEN3_CONFIG, consts: { ...sizes, SCALE: 1 / Math.sqrt(sizes.HD) } });
}

/** One slice of a moec weight (fixed indices on its leading source axes) and its checkpoint name. */
interface Slice {
  w: WeightDecl;
  /** Leading source axes fixed by this slice. */
  index: number[];
  name: string;
  shape: number[];
  offset: number;
}

/**
 * The slices of every weight that make one checkpoint tensor each: `keep` of the source axes
 * (the experts axis, for GGUF's stacked experts) stay inside the tensor.
 */
function slices(m: Module, weights: Record<string, Tensor>, keepExperts: boolean): Slice[] {
  const out: Slice[] = [];
  for (const w of m.weights) {
    const shape = weights[w.name].shape;
    const axes = w.source!.axes;
    const fixed = keepExperts && axes.length > 0 && axes[axes.length - 1].name === 'e' ? axes.length - 1 : axes.length;
    const lead = shape.slice(0, fixed);
    const inner = shape.slice(fixed);
    const size = inner.reduce((a, b) => a * b, 1);
    const count = lead.reduce((a, b) => a * b, 1);
    for (let s = 0; s < count; s++) {
      const index: number[] = [];
      let r = s;
      for (let j = lead.length - 1; j >= 0; j--) {
        index.unshift(r % lead[j]);
        r = Math.floor(r / lead[j]);
      }
      const full = [...index, ...Array(axes.length - fixed).fill(0)];
      out.push({ w, index, name: checkpointName(w.source!, full), shape: inner, offset: s * size });
    }
  }
  return out;
}

/** llama.cpp's name of a Hugging Face tensor (experts: the stacked `_exps` tensor of expert 0's name). */
function ggufName(hf: string): string {
  for (const [g, h] of Object.entries(GGUF_TOP_NAMES)) if (h === hf) return g;
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hf);
  if (m) {
    const [, layer, part, kind] = m;
    const layout = GGUF_LAYOUT[ARCH];
    const e = new RegExp(`^${layout.moe}\\.experts\\.0\\.(\\w+)$`).exec(part);
    if (e) {
      const which = ['ffn_gate', 'ffn_up', 'ffn_down'][layout.experts.indexOf(e[1])];
      if (which) return `blk.${layer}.${which}_exps.${kind}`;
    }
    for (const [g, h] of Object.entries(ggufLayerNames(layout.moe))) if (h === part) return `blk.${layer}.${g}.${kind}`;
  }
  throw new Error(`llama workload: no llama.cpp name for ${hf}`);
}

/** A byte-level gpt2 vocabulary of `size` tokens: GPT-2's 256 byte characters, a few merges, unused fillers. */
export function byteVocab(size: number): { tokens: string[]; types: number[]; merges: string[] } {
  // GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for 256 + n.
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const tokens: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) tokens.push(String.fromCodePoint(printable(b) ? b : 256 + n++));
  const merges: string[] = [];
  for (const [a, b] of [['Ġ', 't'], ['h', 'e'], ['i', 'n'], ['Ġt', 'he'], ['e', 'r'], ['o', 'n']]) {
    if (tokens.length >= size) break;
    merges.push(`${a} ${b}`);
    tokens.push(a + b);
  }
  const types = tokens.map(() => 1);
  while (tokens.length < size) {
    tokens.push(`<unused${tokens.length}>`);
    types.push(5);
  }
  if (tokens.length > size) throw new Error(`llama workload: a byte-level vocabulary needs at least 256 tokens, not ${size}`);
  return { tokens, types, merges };
}

/** The GGUF metadata of the reduced Qwen3-MoE (llama.cpp's keys, gguf-py `Keys`). */
function ggufMetadata(sizes: Qwen3Sizes, config: Record<string, number>): Array<[string, GgufWriteValue]> {
  const u32 = (value: number): GgufWriteValue => ({ type: 'u32', value });
  const f32 = (value: number): GgufWriteValue => ({ type: 'f32', value });
  const vocab = byteVocab(sizes.V);
  return [
    ['general.architecture', { type: 'string', value: ARCH }],
    ['general.name', { type: 'string', value: 'moec reduced Qwen3-MoE' }],
    [`${ARCH}.block_count`, u32(sizes.LAYERS)],
    [`${ARCH}.context_length`, u32(config.max_position_embeddings)],
    [`${ARCH}.embedding_length`, u32(sizes.D)],
    [`${ARCH}.feed_forward_length`, u32(sizes.F)],
    [`${ARCH}.attention.head_count`, u32(sizes.H)],
    [`${ARCH}.attention.head_count_kv`, u32(sizes.G)],
    [`${ARCH}.attention.key_length`, u32(sizes.HD)],
    [`${ARCH}.attention.value_length`, u32(sizes.HD)],
    [`${ARCH}.attention.layer_norm_rms_epsilon`, f32(config.rms_norm_eps)],
    [`${ARCH}.rope.freq_base`, f32(config.rope_theta)],
    // Rotary dimensions: the whole head (llama.cpp's default too; written as its converter does).
    [`${ARCH}.rope.dimension_count`, u32(sizes.HD)],
    [`${ARCH}.expert_count`, u32(sizes.E)],
    [`${ARCH}.expert_used_count`, u32(sizes.K)],
    [`${ARCH}.expert_feed_forward_length`, u32(sizes.F)],
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: 'default' }],
    ['tokenizer.ggml.tokens', { type: 'array', item: 'string', value: vocab.tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', item: 'i32', value: vocab.types }],
    ['tokenizer.ggml.merges', { type: 'array', item: 'string', value: vocab.merges }],
    ['tokenizer.ggml.bos_token_id', u32(sizes.V - 1)],
    ['tokenizer.ggml.eos_token_id', u32(sizes.V - 1)],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: false }],
  ];
}

export interface LlamaWorkload {
  sizes: Qwen3Sizes;
  module: Module;
  /** The seeded f32 weights, by moec name. */
  weights: Record<string, Tensor>;
  safetensors: string;
  ggufF32: string;
  ggufQ8: string;
}

/**
 * Seeds the reduced model's weights and writes them to `dir` (safetensors, F32 GGUF, Q8_0
 * GGUF), each file atomically; returns the paths and the weights.
 */
export function writeLlamaWorkload(dir: string, sizes: Qwen3Sizes, seed = 1): LlamaWorkload {
  const m = qwen3Module(sizes);
  const weights = randomWeights(m, seed);
  const paths = workloadPaths(dir);
  const config = JSON.parse(readFileSync(QWEN3_CONFIG, 'utf8')) as Record<string, number>;
  const values = (s: Slice): Float32Array => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    return (weights[s.w.name].data as Float32Array).subarray(s.offset, s.offset + n);
  };

  const hf = slices(m, weights, false);
  const byHf = new Map(hf.map((s) => [s.name, s]));
  const { safetensors, ggufF32, ggufQ8 } = paths;
  const st = safetensorsChunks(Object.fromEntries(hf.map((s) => [s.name, { dtype: 'f32', shape: s.shape }])), (name) => ({ dtype: 'f32', shape: byHf.get(name)!.shape, data: values(byHf.get(name)!) }));
  writeOutputFile(safetensors, st.chunks);

  const quantized = new Set(quantizeModule(m, I8_GROUP32).weights.filter((w) => w.type.dtype === 'i8').map((w) => w.name));
  const gg = slices(m, weights, true).map((s) => ({ ...s, gguf: ggufName(s.name) }));
  const byGguf = new Map(gg.map((s) => [s.gguf, s]));
  const meta = ggufMetadata(sizes, config);
  const write = (path: string, q8: boolean): void => {
    const tensors: GgufWriteTensor[] = gg.map((s) => ({ name: s.gguf, shape: s.shape, type: q8 && quantized.has(s.w.name) ? 'Q8_0' : 'F32' }));
    writeOutputFile(path, ggufChunks(meta, tensors, (name) => values(byGguf.get(name)!)).chunks);
  };
  write(ggufF32, false);
  write(ggufQ8, true);
  return { sizes, module: m, weights, safetensors, ggufF32, ggufQ8 };
}

function workloadPaths(dir: string): { safetensors: string; ggufF32: string; ggufQ8: string } {
  return { safetensors: join(dir, 'model.safetensors'), ggufF32: join(dir, 'model-f32.gguf'), ggufQ8: join(dir, 'model-q8_0.gguf') };
}

/**
 * The workload in `dir` if an earlier run wrote it there (its weights read back from the
 * safetensors file, as moec's users load theirs), else written now. The directory's name
 * must say the sizes and seed (the caller's cache key): the files are written atomically
 * and last, so all three present means complete.
 */
export function cachedLlamaWorkload(dir: string, sizes: Qwen3Sizes, seed = 1): LlamaWorkload {
  const paths = workloadPaths(dir);
  if (!Object.values(paths).every((p) => existsSync(p))) {
    mkdirSync(dir, { recursive: true });
    return writeLlamaWorkload(dir, sizes, seed);
  }
  const m = qwen3Module(sizes);
  return { sizes, module: m, weights: weightsFromSafetensors(m, openCheckpoint(paths.safetensors), paths.safetensors), ...paths };
}
