/**
 * `moec import` never fills a missing field with a value of its own: every field of every
 * shipped config (examples/hf), deleted in turn, is either an E804 naming it, or the
 * reference's own default (the transformers `*Config` class, transcribed below by hand)
 * with a note naming it, and the model is the one the config would give with that value
 * written out. The fields moec does not read (training and tokenizer settings) change
 * nothing; the optional ones (None in the reference) import as if they were null.
 * The same file checks that values which would give NaN logits are E804s at their field.
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../compiler/cli/cli.ts';
import { MoecError } from '../ir/diagnostics.ts';
import { compile } from '../compiler/driver.ts';
import { pointIntoConfig } from '../compiler/import/config-spans.ts';
import { importHfConfig } from '../compiler/import/index.ts';
import { parseJsonDocument } from '../compiler/import/json-source.ts';
import { SourceFile } from '../ir/source.ts';

type Cfg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SHIPPED = readdirSync('examples/hf').sort();

/** A reference default: a value, or one derived from the config as the class's __post_init__ does. */
type Default = unknown | ((c: Cfg) => unknown);
const derivedHeadDim = (c: Cfg): number => c.hidden_size / c.num_attention_heads;
const derivedKvHeads = (c: Cfg): number => c.num_attention_heads;
const YARN = { 'rope_scaling.beta_fast': 32, 'rope_scaling.beta_slow': 1, 'rope_scaling.truncate': true };
const COMMON = { tie_word_embeddings: false, hidden_act: 'silu' };

/** Each class's defaults for the fields moec may fill in (transformers configuration_*.py). */
const REFERENCE_DEFAULTS: Record<string, Record<string, Default>> = {
  deepseek_v3: {
    ...COMMON, ...YARN, attention_bias: false, first_k_dense_replace: 3, q_lora_rank: 1536, n_group: 8, topk_group: 4,
    n_shared_experts: 1, norm_topk_prob: true, routed_scaling_factor: 2.5, num_nextn_predict_layers: 0,
  },
  deepseek_v2: {
    ...COMMON, ...YARN, attention_bias: false, mlp_bias: false, first_k_dense_replace: 0, q_lora_rank: 1536, n_shared_experts: 2,
    norm_topk_prob: false, routed_scaling_factor: 1.0, topk_method: 'greedy',
  },
  llama: { ...COMMON, attention_bias: false, mlp_bias: false, num_key_value_heads: derivedKvHeads, head_dim: derivedHeadDim },
  mixtral: { ...COMMON, num_key_value_heads: 8, head_dim: derivedHeadDim },
  olmoe: { ...COMMON, attention_bias: false, norm_topk_prob: false, num_key_value_heads: derivedKvHeads, head_dim: derivedHeadDim },
  qwen2_moe: {
    ...COMMON, decoder_sparse_step: 1, use_sliding_window: false, norm_topk_prob: false, shared_expert_intermediate_size: 5632,
    qkv_bias: true, num_key_value_heads: 16, head_dim: derivedHeadDim,
  },
  qwen3_moe: {
    ...COMMON, decoder_sparse_step: 1, use_sliding_window: false, norm_topk_prob: false, attention_bias: false,
    num_key_value_heads: 4, head_dim: derivedHeadDim,
  },
  gpt_oss: {
    ...COMMON, ...YARN, attention_bias: true, swiglu_limit: 7.0, num_key_value_heads: 8, head_dim: 64,
    rope_scaling: { rope_type: 'yarn', factor: 32, beta_fast: 32, beta_slow: 1, truncate: false, original_max_position_embeddings: 4096 },
  },
};

/** Fields the reference does not read at inference (or, marked, that this architecture's graph does not use). */
const NOT_READ = new Set([
  'architectures', 'attention_dropout', 'auto_map', 'aux_loss_alpha', 'bos_token_id', 'eos_token_id', 'pad_token_id',
  'initializer_range', 'torch_dtype', 'transformers_version', 'use_cache', 'output_router_logits', 'router_aux_loss_coef',
  'seq_aux', 'ep_size', 'experts_per_token', 'initial_context_length', 'pretraining_tp',
  'quantization_config', // reported, not applied
]);
const NOT_READ_BY: Record<string, string[]> = {
  // transformers hard-codes DeepSeek's routing functions and builds every layer past the dense ones as MoE.
  deepseek_v3: ['scoring_func', 'topk_method', 'moe_layer_freq', 'num_key_value_heads'],
  deepseek_v2: ['scoring_func', 'moe_layer_freq', 'num_key_value_heads'],
  // use_sliding_window = false: no window; no mlp_only_layers: no dense MLP of intermediate_size.
  qwen2_moe: ['sliding_window', 'max_window_layers', 'intermediate_size'],
  qwen3_moe: ['sliding_window', 'max_window_layers', 'intermediate_size'],
};
/** Fields whose reference default is None (absent means "none"): deleting one is the same as null. */
const OPTIONAL: Record<string, string[]> = {
  deepseek_v3: ['rope_scaling', 'rope_scaling.mscale', 'rope_scaling.mscale_all_dim'],
  deepseek_v2: ['rope_scaling', 'rope_scaling.mscale', 'rope_scaling.mscale_all_dim', 'n_group', 'topk_group'],
  llama: ['rope_scaling'],
  mixtral: ['sliding_window'],
  olmoe: ['rope_scaling', 'clip_qkv'],
  qwen3_moe: ['rope_scaling', 'mlp_only_layers'],
  gpt_oss: ['layer_types'],
};

const load = (name: string): Cfg => JSON.parse(readFileSync(`examples/hf/${name}/config.json`, 'utf8')) as Cfg;
const text = (c: Cfg): string => importHfConfig(JSON.stringify(c, null, 2), 'config.json').text;

/** Sets (value) or deletes (undefined) a dotted field of a copy of c. */
function edited(c: Cfg, field: string, value?: unknown): Cfg {
  const copy = structuredClone(c);
  const path = field.split('.');
  const parent = path.slice(0, -1).reduce((o, k) => o[k], copy);
  if (value === undefined) delete parent[path[path.length - 1]];
  else parent[path[path.length - 1]] = value;
  return copy;
}

describe('moec import: a field left out is an E804 or the reference default with a note', () => {
  for (const name of SHIPPED)
    it(`${name}: each field deleted in turn`, () => {
      const c = load(name);
      const type = c.model_type as string;
      const defaults = REFERENCE_DEFAULTS[type];
      const original = text(c);
      const fields = Object.keys(c).flatMap((k) => (c[k] && typeof c[k] === 'object' && !Array.isArray(c[k]) && k !== 'auto_map' && k !== 'quantization_config' ? [k, ...Object.keys(c[k]).map((s) => `${k}.${s}`)] : [k]));
      const seen: string[] = [];
      for (const field of fields) {
        const cfg = edited(c, field);
        const json = JSON.stringify(cfg, null, 2);
        let r;
        try {
          r = importHfConfig(json, 'config.json');
        } catch (e) {
          if (!(e instanceof MoecError)) throw e;
          const d = e.diagnostics[0];
          // A rope_scaling without its type is named by the current key, rope_type (`type` is the older one).
          const named = field === 'rope_scaling.type' ? 'rope_scaling.rope_type' : field;
          expect(`${d.code} ${d.message}`, field).toMatch(new RegExp(`^E804 ${named.replace('.', '\\.')}: `));
          seen.push(`${field}: E804`);
          continue;
        }
        const notes = r.notes.filter((n) => n.field === field);
        if (Object.hasOwn(defaults, field)) {
          const d = defaults[field];
          const want = typeof d === 'function' ? d(c) : d;
          expect(notes.map((n) => n.value), `${field}: one note with the reference default`).toEqual([want]);
          expect(notes[0].message).toContain(`\`${field}\` is not in the config: using ${JSON.stringify(want)}`);
          // The default is what the model uses: the same model as the value written out.
          expect(r.text, field).toBe(text(edited(c, field, want)));
          seen.push(`${field}: default`);
        } else if (NOT_READ.has(field) || (NOT_READ_BY[type] ?? []).includes(field)) {
          expect(notes, field).toEqual([]);
          expect(r.text, `${field} is not read: nothing changes`).toBe(original);
        } else if ((OPTIONAL[type] ?? []).includes(field)) {
          expect(notes, field).toEqual([]);
          expect(r.text, `${field} left out is ${field} = null`).toBe(text(edited(c, field, null)));
        } else throw new Error(`${name}: \`${field}\` deleted imports without an E804 or a note (given: ${JSON.stringify(r.notes)})`);
      }
      // Every config exercises both outcomes.
      expect(seen.some((s) => s.endsWith('E804'))).toBe(true);
      expect(seen.some((s) => s.endsWith('default'))).toBe(true);
    });

  it('the DeepSeek-V3 routing fields take DeepseekV3Config defaults (8, 4, 2.5, true, 1, 3), not 1, 1, 1.0, false, 0, 0', () => {
    const c = load('DeepSeek-V3');
    for (const f of ['n_group', 'topk_group', 'routed_scaling_factor', 'norm_topk_prob', 'n_shared_experts', 'first_k_dense_replace']) delete c[f];
    const r = importHfConfig(JSON.stringify(c, null, 2), 'config.json');
    expect(Object.fromEntries(r.notes.map((n) => [n.field, n.value]))).toMatchObject({
      n_group: 8, topk_group: 4, routed_scaling_factor: 2.5, norm_topk_prob: true, n_shared_experts: 1, first_k_dense_replace: 3,
    });
    expect(r.text).toBe(text(load('DeepSeek-V3'))); // the shipped config holds exactly those values
    expect(r.notes[0].message).toMatch(/the default of transformers' DeepseekV3Config$/);
  });
});

/** The E804 for an edited config: `CODE line:col message`, the position where the diagnostic points. */
function importError(name: string, edit: (c: Cfg) => void): string {
  const c = load(name);
  edit(c);
  const json = JSON.stringify(c, null, 2);
  try {
    importHfConfig(json, 'config.json');
  } catch (e) {
    if (!(e instanceof MoecError)) throw e;
    const d = e.diagnostics[0];
    const p = new SourceFile('config.json', json).position(d.span!.start);
    return `${d.code} ${p.line}:${p.col} ${d.message}`;
  }
  throw new Error('expected an import error');
}

/** line:col of `"key": value` in the edited config (the value's first character). */
function valueAt(name: string, edit: (c: Cfg) => void, key: string): string {
  const c = load(name);
  edit(c);
  const json = JSON.stringify(c, null, 2);
  const at = json.indexOf(`"${key}": `) + key.length + 4;
  const p = new SourceFile('config.json', json).position(at);
  return `${p.line}:${p.col}`;
}

describe('moec import: values that would give NaN logits are E804 at their field', () => {
  const cases: Array<[string, string, (c: Cfg) => void, string, RegExp]> = [
    ['rope_theta 0', 'Mixtral-8x7B-v0.1', (c) => (c.rope_theta = 0), 'rope_theta', /rope_theta: expected a number above 0, got 0/],
    ['rope_theta negative', 'Llama-3.1-8B', (c) => (c.rope_theta = -10000), 'rope_theta', /rope_theta: expected a number above 0/],
    ['rope_theta 1 under YaRN (found by the hf-config fuzzer: log(theta) = 0 made gpt-oss all NaN)', 'gpt-oss-20b', (c) => (c.rope_theta = 1), 'rope_theta', /rope_theta: expected a number above 1 with YaRN rope scaling, got 1/],
    ['num_hidden_layers 2^31 (found by the hf-config fuzzer: GPT-OSS built a 2^31-entry layer list and ran out of heap)', 'gpt-oss-20b', (c) => (c.num_hidden_layers = 2 ** 31), 'num_hidden_layers', /num_hidden_layers: expected at most 65536 layers, got 2147483648/],
    ['rms_norm_eps negative', 'Qwen3-30B-A3B', (c) => (c.rms_norm_eps = -1e-6), 'rms_norm_eps', /rms_norm_eps: expected at least 0, got -0\.000001/],
    ['rope_scaling.factor 0', 'DeepSeek-V3', (c) => (c.rope_scaling.factor = 0), 'factor', /rope_scaling\.factor: expected a number above 0, got 0/],
    ['rope_scaling.factor negative (llama3)', 'Llama-3.1-8B', (c) => (c.rope_scaling.factor = -8), 'factor', /rope_scaling\.factor: expected a number above 0/],
    ['llama3 bands that do not ramp', 'Llama-3.1-8B', (c) => (c.rope_scaling.high_freq_factor = 1), 'high_freq_factor', /rope_scaling\.high_freq_factor: expected more than low_freq_factor \(1\), got 1/],
    ['yarn beta_fast 0', 'gpt-oss-20b', (c) => (c.rope_scaling.beta_fast = 0), 'beta_fast', /rope_scaling\.beta_fast: expected a number above 0/],
    ['head_dim 0', 'Qwen3-30B-A3B', (c) => (c.head_dim = 0), 'head_dim', /head_dim: expected at least 1, got 0/],
    ['an odd head_dim', 'gpt-oss-20b', (c) => (c.head_dim = 63), 'head_dim', /head_dim: the head dim 63 is odd/],
    ['an odd MLA rope dim', 'DeepSeek-V3', (c) => (c.qk_rope_head_dim = 63), 'qk_rope_head_dim', /qk_rope_head_dim: 63 is odd/],
    ['num_experts_per_tok > num_experts', 'Qwen3-30B-A3B', (c) => (c.num_experts_per_tok = 129), 'num_experts_per_tok', /num_experts_per_tok: 129 experts per token, but there are only 128 experts \(num_experts\)/],
    ['num_experts_per_tok > n_routed_experts', 'DeepSeek-V2-Lite', (c) => (c.num_experts_per_tok = 65), 'num_experts_per_tok', /num_experts_per_tok: 65 experts per token, but there are only 64/],
    ['clip_qkv 0', 'OLMoE-1B-7B-0924', (c) => (c.clip_qkv = 0), 'clip_qkv', /clip_qkv: expected a number above 0/],
    ['swiglu_limit 0', 'gpt-oss-20b', (c) => (c.swiglu_limit = 0), 'swiglu_limit', /swiglu_limit: expected a number above 0/],
    ['mscale_all_dim that zeroes the scale', 'DeepSeek-V3', (c) => Object.assign(c.rope_scaling, { mscale: 1, mscale_all_dim: -1 / (0.1 * Math.log(40)) }), 'mscale_all_dim', /rope_scaling\.mscale_all_dim: gives a YaRN attention factor of -/],
  ];
  for (const [what, name, edit, key, want] of cases)
    it(what, () => {
      const got = importError(name, edit);
      expect(got).toMatch(new RegExp(`^E804 \\d+:\\d+ ${want.source}`));
      expect(got.split(' ')[1], 'points at the value').toBe(valueAt(name, edit, key));
    });
});

describe('moec import: errors in what the config implies point into the config, not a generated .moe', () => {
  // Before: `config.moe:73:47: E304 group_topk: 256 experts do not split into 7 equal groups` (no such file).
  const cases: Array<[string, string, (c: Cfg) => void, string, RegExp]> = [
    ['experts that do not split into n_group groups', 'DeepSeek-V3', (c) => (c.n_group = 7), 'n_group', /n_group: 256 routed experts \(n_routed_experts\) do not split into 7 equal groups/],
    ['topk_group > n_group', 'DeepSeek-V3', (c) => (c.topk_group = 9), 'topk_group', /topk_group: 9 groups kept, but there are only 8 \(n_group\)/],
    ['fewer experts in the kept groups than num_experts_per_tok', 'DeepSeek-V3', (c) => Object.assign(c, { n_group: 64, topk_group: 1 }), 'num_experts_per_tok', /num_experts_per_tok: 8 experts per token, but the 1 kept groups \(topk_group\) hold 4/],
    ['one expert per group with sum_top2 group scores', 'DeepSeek-V3', (c) => Object.assign(c, { n_group: 256, topk_group: 8 }), 'n_group', /n_group: 1 expert per group: DeepSeek-V3 scores a group by its two best experts/],
    ['V2 group_limited_greedy without n_group', 'DeepSeek-V2-Lite', (c) => Object.assign(c, { topk_method: 'group_limited_greedy', n_group: null }), 'n_group', /n_group: the config has no `n_group`/],
  ];
  for (const [what, name, edit, key, want] of cases)
    it(what, () => {
      const got = importError(name, edit);
      expect(got).toMatch(new RegExp(`^E804 \\d+:\\d+ ${want.source}`));
      expect(got.split(' ')[1]).toBe(valueAt(name, edit, key));
    });
});

describe('moec import: a frontend error in the generated .moe is pointed into the config', () => {
  it('an error at a constant moves to the config field the constant comes from, with the generated line in the hint', () => {
    const json = readFileSync('examples/hf/DeepSeek-V3/config.json', 'utf8');
    const doc = parseJsonDocument(json, 'ds.json');
    // What the importer would generate were its own group checks missing: 7 groups.
    const generated = new SourceFile('ds.moe', importHfConfig(json, 'ds.json').text.replace(/^const GROUPS = 8 /m, 'const GROUPS = 7 '));
    let err: MoecError | undefined;
    try {
      compile(generated.text, { path: generated.path });
    } catch (e) {
      err = e as MoecError;
    }
    expect(err?.diagnostics[0].span?.file).toBe('ds.moe');
    const moved = pointIntoConfig(err!, generated, doc).diagnostics[0];
    expect(moved.code).toBe('E304');
    expect(moved.message).toBe('n_group: group_topk: 256 experts do not split into 7 equal groups');
    expect(moved.span).toEqual(doc.values.get('n_group'));
    expect(moved.hint).toMatch(/of the \.moe text moec generates from this config \(`moec import ds\.json` prints it\): `sel = group_topk\(/);
    const printed = pointIntoConfig(err!, generated, doc).format();
    expect(printed).toMatch(/^ds\.json:\d+:\d+: error E304/);
    expect(printed).not.toContain('ds.moe:');
  });
});

describe('moec import / analyze print the defaults they used', () => {
  it('one `note:` line per defaulted field on stderr; stdout stays the .moe text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-defaults-'));
    const c = load('DeepSeek-V3');
    delete c.n_group;
    delete c.routed_scaling_factor;
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify(c, null, 2));
    for (const argv of [['import', path], ['analyze', path]]) {
      const out: string[] = [];
      const err: string[] = [];
      expect(await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) }), argv[0]).toBe(0);
      expect(err, argv[0]).toEqual([
        "note: `rope_scaling.truncate` is not in the config: using true, as transformers' _compute_yarn_parameters does",
        "note: `n_group` is not in the config: using 8, the default of transformers' DeepseekV3Config",
        "note: `routed_scaling_factor` is not in the config: using 2.5, the default of transformers' DeepseekV3Config",
      ]);
      expect(out.join('\n')).not.toContain('note:');
    }
  });
});
