/**
 * `moec import`: Hugging Face configs → whole decoders.
 * - Every shipped config (examples/hf) imports and verifies; its total parameter count
 *   equals a formula written here from the config fields (per architecture), and is within
 *   0.5% of the figure each model's publisher states.
 * - The tiny configs (test/fixtures/hf-tiny, real fields at small sizes) run end to end in
 *   the graph interpreter, with weights loaded by their checkpoint names, and match the logits
 *   of an independent float64 numpy implementation (gen_hf_fixtures.py) within max |Δ| <=
 *   1e-5 and 1e-5 relative to the logits' scale (float32 runs measure ~1e-7). Changing a
 *   field the fixture depends on (sliding window, rope scaling, clip_qkv, group-limited
 *   routing) moves the logits
 *   by far more than that, so the comparison is sensitive to each.
 * - The imported tiny models compile for three targets with every MoE layer fused (router,
 *   moe_align, grouped GEMMs) and the kernel program matches the fixtures too; the KV cache
 *   per token is read off the graph.
 * - Configs that moec does not implement get a MoecError naming the field at file:line:col.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kvCachePerToken } from '../compiler/analysis/kv-cache.ts';
import { summarizeParams } from '../compiler/analysis/params.ts';
import { main } from '../compiler/cli/cli.ts';
import { MoecError } from '../ir/diagnostics.ts';
import { inputsFromSafetensors, weightsFromSafetensors } from '../compiler/driver.ts';
import { importHfConfig } from '../compiler/import/index.ts';
import { forEachKernel } from '../ir/kernel/walk.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { SourceFile } from '../ir/source.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { interpret } from '../ir/graph/interp.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { parseKernelIR } from '../ir/kernel/kparse.ts';
import { verifyKernelIR } from '../ir/kernel/kverify.ts';
import { printKernelIR } from '../ir/kernel/kprint.ts';
import { parseIR } from '../ir/graph/parse.ts';
import { printIR } from '../ir/graph/print.ts';
import { readSafetensors } from '../ir/safetensors.ts';

type Cfg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SHIPPED = readdirSync('examples/hf').sort();

/** Total parameters of a decoder, from its config fields, as each architecture's modeling code builds it. */
function expectedParams(c: Cfg): number {
  const D = c.hidden_size;
  const V = c.vocab_size;
  const N = c.num_hidden_layers;
  const H = c.num_attention_heads;
  const G = c.num_key_value_heads ?? H;
  const hd = c.head_dim ?? D / H;
  const swiglu = (f: number): number => 3 * D * f;
  const embeddings = V * D * (c.tie_word_embeddings ? 1 : 2) + D; // + the final norm
  const perLayerNorms = 2 * D;
  const gqa = (qkvBias: boolean, oBias: boolean): number =>
    2 * D * H * hd + 2 * D * G * hd + (qkvBias ? H * hd + 2 * G * hd : 0) + (oBias ? D : 0);
  const mla = (): number => {
    const [ql, C, dn, dr, dv] = [c.q_lora_rank, c.kv_lora_rank, c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim];
    const q = ql ? D * ql + ql + ql * H * (dn + dr) : D * H * (dn + dr);
    return q + D * (C + dr) + C + C * H * (dn + dv) + H * dv * D;
  };
  let layer: (i: number) => number;
  switch (c.model_type) {
    case 'llama':
      layer = () => gqa(false, false) + swiglu(c.intermediate_size);
      break;
    case 'mixtral':
      layer = () => gqa(false, false) + c.num_local_experts * (swiglu(c.intermediate_size) + D);
      break;
    case 'qwen2_moe':
      layer = () => gqa(true, false) + c.num_experts * (swiglu(c.moe_intermediate_size) + D) + swiglu(c.shared_expert_intermediate_size) + D;
      break;
    case 'qwen3_moe':
      layer = () => gqa(false, false) + 2 * hd + c.num_experts * (swiglu(c.moe_intermediate_size) + D);
      break;
    case 'olmoe':
      layer = () => gqa(false, false) + H * hd + G * hd + c.num_experts * (swiglu(c.intermediate_size) + D);
      break;
    case 'gpt_oss': {
      const [E, F] = [c.num_local_experts, c.intermediate_size];
      layer = () => gqa(true, true) + H + E * (D + 1) + E * (D * 2 * F + 2 * F) + E * (F * D + D);
      break;
    }
    case 'deepseek_v2':
    case 'deepseek_v3': {
      const [E, F] = [c.n_routed_experts, c.moe_intermediate_size];
      const moe = E * swiglu(F) + E * D + (c.model_type === 'deepseek_v3' ? E : 0) + swiglu(F * c.n_shared_experts);
      layer = (i) => mla() + (i < c.first_k_dense_replace ? swiglu(c.intermediate_size) : moe);
      break;
    }
    default:
      throw new Error(`no formula for ${c.model_type}`);
  }
  let total = embeddings;
  for (let i = 0; i < N; i++) total += perLayerNorms + layer(i);
  return total;
}

/** What each model's publisher states as its total parameter count (model cards and papers). */
const PUBLISHED: Record<string, number> = {
  'Mixtral-8x7B-v0.1': 46.7e9,
  'Qwen1.5-MoE-A2.7B': 14.3e9,
  'Qwen3-30B-A3B': 30.5e9,
  'DeepSeek-V2-Lite': 15.7e9,
  'DeepSeek-V3': 671e9,
  'OLMoE-1B-7B-0924': 6.92e9,
  'gpt-oss-20b': 20.9e9,
  'Llama-3.1-8B': 8.03e9,
};

function importFile(path: string) {
  return importHfConfig(readFileSync(path, 'utf8'), path);
}

describe('moec import: the shipped configs', () => {
  it('ships the eight public configs', () => {
    expect(SHIPPED).toEqual(Object.keys(PUBLISHED).sort());
  });

  for (const name of SHIPPED) {
    it(`${name}: imports, verifies, and has the parameters its config fields give`, () => {
      const path = `examples/hf/${name}/config.json`;
      const cfg = JSON.parse(readFileSync(path, 'utf8')) as Cfg;
      const r = importFile(path);
      expect(r.modelType).toBe(cfg.model_type);
      const total = summarizeParams(r.module).total;
      expect(total).toBe(expectedParams(cfg));
      expect(Math.abs(total / PUBLISHED[name] - 1)).toBeLessThan(0.005);
      // 61 layers stay two repeats: nothing unrolls.
      expect(r.module.funcs.length).toBeLessThanOrEqual(5);
    });
  }

  it('DeepSeek-V3: the multi-token-prediction layer is left out of the graph and reported with its size', () => {
    const r = importFile('examples/hf/DeepSeek-V3/config.json');
    const c = JSON.parse(readFileSync('examples/hf/DeepSeek-V3/config.json', 'utf8')) as Cfg;
    const D = c.hidden_size;
    const moeLayer = (expectedParams(c) - expectedParams({ ...c, num_hidden_layers: c.num_hidden_layers - 1 }));
    expect(r.mtp).toEqual({ layers: 1, params: moeLayer + 2 * D + 2 * D * D + D });
    expect(r.text).toContain('Left out of the graph: 1 multi-token-prediction layer (model.layers.61');
    expect(r.quantization).toBe('fp8');
  });

  it('the KV cache per token is read off the graph: GQA 2·G·HD, MLA kv_lora_rank + rope dim, per layer', () => {
    const cache = (name: string): number => kvCachePerToken(importFile(`examples/hf/${name}/config.json`).module).values;
    expect(cache('Mixtral-8x7B-v0.1')).toBe(32 * 2 * 8 * 128);
    expect(cache('DeepSeek-V3')).toBe(61 * (512 + 64));
    expect(cache('gpt-oss-20b')).toBe(24 * 2 * 8 * 64);
  });

  it('checkpoint names are the Hugging Face ones', () => {
    const r = importFile('examples/hf/gpt-oss-20b/config.json');
    expect(r.module.weights.map((w) => w.source?.pattern)).toEqual(
      expect.arrayContaining([
        'model.embed_tokens.weight',
        'model.layers.{2*i}.self_attn.sinks',
        'model.layers.{2*i+1}.mlp.experts.gate_up_proj',
        'model.layers.{2*i+1}.mlp.router.bias',
        'lm_head.weight',
      ]),
    );
  });
});

// ---------------------------------------------------------------------------------------

const FIXTURES: Array<[string, number]> = [
  ['mixtral', 3], ['qwen2_moe', 3], ['qwen3_moe', 3], ['deepseek_v2', 3], ['deepseek_v2_grouped', 3], ['deepseek_v3', 3], ['olmoe', 3], ['gpt_oss', 3], ['gpt_oss', 1], ['llama', 3],
];

function fixture(name: string, T: number) {
  const path = `test/fixtures/hf-tiny/${name}-t${T}.safetensors`;
  const file = readSafetensors(path);
  return { path, file, T, L: Number(file.metadata!.cache), want: file.get('logits').data };
}

function error(got: ArrayLike<number>, want: ArrayLike<number>): { abs: number; rel: number } {
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    abs = Math.max(abs, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return { abs, rel: abs / scale };
}

function runTiny(name: string, T: number, edit?: (c: Cfg) => void): { abs: number; rel: number } {
  const cfgPath = `test/fixtures/hf-tiny/${name}.json`;
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Cfg;
  edit?.(cfg);
  const r = importHfConfig(JSON.stringify(cfg, null, 2), cfgPath);
  const fx = fixture(name, T);
  const weights = weightsFromSafetensors(r.module, fx.file, fx.path);
  const inputs = inputsFromSafetensors(r.module, fx.file, fx.path);
  return error(interpret(r.module, { bindings: { T, L: fx.L }, inputs, weights }).logits.data, fx.want);
}

describe('moec import: tiny models against the numpy fixtures', () => {
  for (const [name, T] of FIXTURES)
    it(`${name} at T = ${T} after a cache of ${fixture(name, T).L}: logits within 1e-5 (abs and relative)`, () => {
      const e = runTiny(name, T);
      expect(e.abs).toBeLessThan(1e-5);
      expect(e.rel).toBeLessThan(1e-5);
    });

  it('the fixtures depend on the sliding window, rope scaling, clip_qkv and group-limited routing (changing one moves the logits)', () => {
    expect(runTiny('gpt_oss', 3, (c) => (c.sliding_window = 64)).rel).toBeGreaterThan(1e-3);
    expect(runTiny('deepseek_v3', 3, (c) => (c.rope_scaling = null)).rel).toBeGreaterThan(1e-3);
    expect(runTiny('llama', 3, (c) => (c.rope_scaling = null)).rel).toBeGreaterThan(1e-3);
    expect(runTiny('olmoe', 3, (c) => (c.clip_qkv = null)).rel).toBeGreaterThan(1e-3);
    expect(runTiny('deepseek_v2_grouped', 3, (c) => (c.topk_method = 'greedy')).rel).toBeGreaterThan(1e-3);
  });

  for (const name of ['deepseek_v3', 'gpt_oss'])
    it(`${name}: the imported .moe text matches its golden file (test/golden/import; update on purpose with npm run test:update)`, async () => {
      await expect(importFile(`test/fixtures/hf-tiny/${name}.json`).text).toMatchFileSnapshot(`golden/import/${name}.moe`);
    });

  it('imported models print and parse back identically, as graph IR and as kernel IR', () => {
    for (const name of ['deepseek_v3', 'gpt_oss']) {
      const r = importFile(`test/fixtures/hf-tiny/${name}.json`);
      const text = printIR(r.module);
      expect(printIR(parseIR(text)), name).toBe(text);
      const k = printKernelIR(runPipeline(r.module, { target: loadTarget('x86-avx2'), maxTokens: 8 }).program!);
      const back = parseKernelIR(k);
      expect(verifyKernelIR(back)).toEqual([]);
      expect(printKernelIR(back), name).toBe(k);
    }
  });

  for (const target of ['x86-avx2', 'webgpu', 'npu-scratchpad'])
    it(`the imported tiny models compile for ${target}, and the kernel programs match the fixtures`, () => {
      for (const [name, T] of [['mixtral', 3], ['deepseek_v3', 3], ['gpt_oss', 3], ['qwen2_moe', 3]] as const) {
        const r = importFile(`test/fixtures/hf-tiny/${name}.json`);
        const fx = fixture(name, T);
        const p = runPipeline(r.module, { target: loadTarget(target), maxTokens: 8, verifyEach: true }).program!;
        // Every MoE layer of the body fused: one router and one moe_align each (GPT-OSS has two per pair).
        const kinds: string[] = [];
        forEachKernel(p.steps, (k) => kinds.push(k.kind === 'op' ? k.op : k.kind));
        const moeLayers = name === 'gpt_oss' ? 2 : 1;
        expect(kinds.filter((k) => k === 'moe_align'), name).toHaveLength(moeLayers);
        expect(kinds.filter((k) => k === 'router'), name).toHaveLength(moeLayers);
        expect(kinds, name).not.toContain('moe_permute');
        const weights = weightsFromSafetensors(r.module, fx.file, fx.path);
        const inputs = inputsFromSafetensors(r.module, fx.file, fx.path);
        const e = error(interpretKernelIR(p, { bindings: { T, L: fx.L }, inputs, weights }).logits.data, fx.want);
        expect(e.rel, name).toBeLessThan(1e-5);
      }
    });
});

// ---------------------------------------------------------------------------------------

/** Imports edited config text and returns the diagnostic as `CODE line:col message`. */
function importError(base: string, edit: (c: Cfg) => void): string {
  const c = JSON.parse(readFileSync(`examples/hf/${base}/config.json`, 'utf8')) as Cfg;
  edit(c);
  const text = JSON.stringify(c, null, 2);
  try {
    importHfConfig(text, 'config.json');
  } catch (e) {
    if (!(e instanceof MoecError)) throw e;
    const d = e.diagnostics[0];
    const pos = d.span ? new SourceFile('config.json', text).position(d.span.start) : undefined;
    return `${d.code} ${pos ? `${pos.line}:${pos.col}` : '-'} ${d.message}${d.hint ? ` | ${d.hint}` : ''}`;
  }
  throw new Error('expected an import error');
}

/** line:col of the first occurrence of `needle` in the edited config's text, `skip` characters in. */
function where(base: string, edit: (c: Cfg) => void, needle: string, skip: number): string {
  const c = JSON.parse(readFileSync(`examples/hf/${base}/config.json`, 'utf8')) as Cfg;
  edit(c);
  const text = JSON.stringify(c, null, 2);
  const at = text.indexOf(needle) + skip;
  const p = new SourceFile('config.json', text).position(at);
  return `${p.line}:${p.col}`;
}

describe('moec import: configs moec does not implement name the field', () => {
  // [what, config, edit, where the error points: the first occurrence of this text, plus an offset into it, the expected message]
  const cases: Array<[string, string, (c: Cfg) => void, [string, number], RegExp]> = [
    ['unknown model_type', 'Mixtral-8x7B-v0.1', (c) => (c.model_type = 'jamba'), ['"jamba"', 0], /^E802 .* model_type "jamba" is not an architecture moec imports \| moec imports: mixtral, qwen2_moe/],
    ['architectures that disagree', 'Mixtral-8x7B-v0.1', (c) => (c.architectures = ['MistralForCausalLM']), ['"architectures": [', 17], /^E802 .* does not match model_type "mixtral"/],
    ['an unknown rope_scaling type', 'Llama-3.1-8B', (c) => (c.rope_scaling.rope_type = 'dynamic'), ['"dynamic"', 0], /^E803 .* rope_scaling\.rope_type: rope scaling "dynamic" is not implemented/],
    ['rope_scaling on a model without it', 'Mixtral-8x7B-v0.1', (c) => (c.rope_scaling = { type: 'linear', factor: 2 }), ['"linear"', 0], /^E803 .* rope_scaling\.type: rope scaling "linear"/],
    ['an unknown scoring_func', 'DeepSeek-V3', (c) => (c.scoring_func = 'softplus'), ['"softplus"', 0], /^E803 .* scoring_func: "softplus" is not implemented for DeepSeek-V3/],
    ['an unknown topk_method', 'DeepSeek-V2-Lite', (c) => (c.topk_method = 'noaux_tc'), ['"noaux_tc"', 0], /^E803 .* topk_method: "noaux_tc" is not implemented for DeepSeek-V2/],
    ['a different activation', 'OLMoE-1B-7B-0924', (c) => (c.hidden_act = 'gelu'), ['"gelu"', 0], /^E803 .* hidden_act: "gelu" is not supported: the MLPs are SwiGLU/],
    ['attention biases on MLA', 'DeepSeek-V3', (c) => (c.attention_bias = true), ['"attention_bias": true', 18], /^E803 .* attention_bias: true is not supported/],
    ['sliding windows in Qwen', 'Qwen1.5-MoE-A2.7B', (c) => (c.use_sliding_window = true), ['"use_sliding_window": true', 22], /^E803 .* use_sliding_window: true is not supported/],
    ['GPT-OSS layer types out of order', 'gpt-oss-20b', (c) => (c.layer_types = [...c.layer_types].reverse()), ['"layer_types": [', 15], /^E803 .* layer_types: moec imports GPT-OSS with sliding and full attention alternating/],
    ['a missing size', 'Qwen3-30B-A3B', (c) => delete c.moe_intermediate_size, ['{', 0], /^E804 .* moe_intermediate_size: the config has no `moe_intermediate_size`/],
    ['a size of the wrong type', 'Qwen3-30B-A3B', (c) => (c.num_experts = '128'), ['"128"', 0], /^E804 .* num_experts: expected an integer, got "128"/],
  ];
  for (const [what, base, edit, [needle, skip], want] of cases)
    it(what, () => {
      const got = importError(base, edit);
      expect(got).toMatch(want);
      expect(got.split(' ')[1]).toBe(where(base, edit, needle, skip));
    });

  it('malformed JSON is E801 at the character', () => {
    expect(() => importHfConfig('{\n  "model_type": "llama",\n  "hidden_size": 4096,,\n}', 'config.json')).toThrow(/E801: config.json is not valid JSON: expected '"' but found ','/);
    try {
      importHfConfig('{\n  "model_type": "llama",\n  "hidden_size": 4096,,\n}', 'config.json');
    } catch (e) {
      expect((e as MoecError).diagnostics[0].span!.start).toBe('{\n  "model_type": "llama",\n  "hidden_size": 4096,'.length);
    }
  });
});

describe('moec import on the command line', () => {
  it('writes the .moe file, which moec check reads; errors exit with 1 and point into the config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-import-'));
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    expect(await main(['import', 'examples/hf/Mixtral-8x7B-v0.1/config.json', '-o', join(dir, 'mixtral.moe')], io)).toBe(0);
    expect(out.join('\n')).toMatch(/^wrote .*mixtral\.moe: MixtralForCausalLM, 32 layers, 46\.70B parameters \(12\.88B active per token\)$/);
    expect(await main(['check', join(dir, 'mixtral.moe')], io)).toBe(0);
    expect(out.join('\n')).toContain('layers.self_attn.k_cache');
    expect(await main(['import', 'test/fixtures/hf-tiny/llama.json'], io)).toBe(0);
    expect(out[out.length - 1]).toContain('model llama {');
    expect(await main(['import', 'examples/tiny.moe'], io)).toBe(1);
    expect(err.join('\n')).toMatch(/examples\/tiny\.moe:1:1: error E801: examples\/tiny\.moe is not valid JSON/);
    expect(await main(['import'], io)).toBe(2);
  });

  it('moec run binds the cache length with --context; the C backend runs the caches through its state (was: E701)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-import-'));
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    const file = join(dir, 'ds.moe');
    expect(await main(['import', 'test/fixtures/hf-tiny/deepseek_v3.json', '-o', file], io)).toBe(0);
    expect(out[0]).toContain('1 MTP layer(s) left out');
    expect(await main(['run', file, '--tokens', '3', '--context', '4'], io)).toBe(0);
    expect(out.join('\n')).toMatch(/output logits: f32\[3, 32\]/);
    expect(await main(['run', file, '--tokens', '3'], io)).toBe(2);
    expect(err.join('\n')).toContain('needs --context L');
    expect(await main(['run', file, '--tokens', '3', '--context', '4', '--backend', 'c', '--check'], io)).toBe(0);
    expect(out.join('\n')).toMatch(/T=3  backend=c[\s\S]*vs reference interpreter: max\|Δ\| \S+ \(rel \d\.\de-[6-9]\)/);
    expect(await main(['run', 'examples/tiny.moe', '--tokens', '3', '--context', '4'], io)).toBe(2);
  });
});
