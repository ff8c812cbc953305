/**
 * `moec analyze` and the analysis API. Every expected count is computed here from the
 * model's sizes with the formula written out (never copied from the output): parameters
 * by component, FLOPs and bytes per token of the tiny model by hand, weight memory with
 * quantization scales, the per-kernel roofline's invariants, the JSON field names, the SVG
 * (well-formed XML, one point per kernel) and the command line's errors.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { analyzeModel } from '../compiler/analysis/analyze.ts';
import { weightTraffic } from '../compiler/analysis/bytes.ts';
import { memoryTable } from '../compiler/analysis/memory.ts';
import { summarizeParams } from '../compiler/analysis/params.ts';
import { formatCount } from '../compiler/format.ts';
import { rooflinePoints, rooflineSvg } from '../compiler/analysis/svg.ts';
import { main } from '../compiler/cli/cli.ts';
import { compileFile } from '../compiler/driver.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { importHfConfig } from '../compiler/import/index.ts';
import type { Module } from '../ir/graph/graph.ts';
import { cli } from './capture.ts';

/** Expected experts hit by N tokens picking K of E uniformly: E·(1 − (1 − K/E)^N). */
function eAct(e: number, k: number, n: number): number {
  return e * (1 - (1 - k / e) ** n);
}

describe('parameters by component', () => {
  it('DeepSeek-V3 FFN stack (examples/deepseek-v3.moe): 3 dense layers, 58 MoE layers with a shared expert', () => {
    const [D, FD, F, E, K, dense, moe] = [7168, 18432, 2048, 256, 8, 3, 58];
    const p = summarizeParams(compileFile('examples/deepseek-v3.moe'));
    const by = Object.fromEntries(p.components.map((c) => [c.component, c]));
    expect(by.norm.params).toBe((dense + moe) * D);
    expect(by.router.params).toBe(moe * (E * D + E)); // gate weight + correction bias
    expect(by.dense_mlp.params).toBe(dense * 3 * FD * D);
    expect(by.shared_experts.params).toBe(moe * 3 * F * D);
    expect(by.routed_experts.params).toBe(moe * 3 * E * F * D);
    expect(by.routed_experts.activePerToken).toBe(moe * 3 * K * F * D);
    const dense_ = (dense + moe) * D + moe * (E * D + E) + dense * 3 * FD * D + moe * 3 * F * D;
    expect(p.total).toBe(dense_ + moe * 3 * E * F * D);
    expect(p.activePerToken).toBe(dense_ + moe * 3 * K * F * D);
    expect(Object.keys(by)).toEqual(['norm', 'router', 'dense_mlp', 'shared_experts', 'routed_experts']);
  });

  it('Mixtral layer, Qwen (gated shared expert) and GPT-OSS (biases, matmul-layout experts)', () => {
    const mix = summarizeParams(compileFile('examples/mixtral.moe'));
    expect(mix.components.map((c) => [c.component, c.params, c.activePerToken])).toEqual([
      ['router', 8 * 4096, 8 * 4096],
      ['routed_experts', 3 * 8 * 14336 * 4096, 3 * 2 * 14336 * 4096],
    ]);
    const oss = summarizeParams(compileFile('examples/gpt-oss.moe'));
    const [D, F, E, K] = [2880, 2880, 32, 4];
    const routed = E * (D * 2 * F + 2 * F + F * D + D);
    expect(oss.components.find((c) => c.component === 'routed_experts')).toEqual({ component: 'routed_experts', params: routed, activePerToken: (routed * K) / E });
    expect(oss.components.find((c) => c.component === 'router')?.params).toBe(E * D + E);
    // gate_up is [E, in, out]: its reduction axis is the second-last
    expect(oss.weights.find((w) => w.name === 'gate_up')?.reduceAxisFromEnd).toBe(2);
    expect(summarizeParams(compileFile('examples/qwen-moe.moe')).components.map((c) => c.component)).toEqual(['router', 'shared_experts', 'routed_experts']);
  });
});

/** A shipped config and the model moec imports from it. */
function hf(name: string): { cfg: Record<string, number>; m: Module } {
  const path = `examples/hf/${name}/config.json`;
  const text = readFileSync(path, 'utf8');
  return { cfg: JSON.parse(text) as Record<string, number>, m: importHfConfig(text, path).module };
}

describe('whole models from their configs: counts as the papers give them', () => {
  it('Mixtral-8x7B: 46.7B total, 12.9B active', () => {
    const { cfg, m } = hf('Mixtral-8x7B-v0.1');
    const [V, D, F, L, H, G, E, K] = [cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.num_local_experts, cfg.num_experts_per_tok];
    const hd = D / H;
    const attn = D * H * hd + 2 * D * G * hd + H * hd * D; // q, k, v, o
    const expected = { embedding: V * D, lm_head: V * D, attention: L * attn, norm: L * 2 * D + D, router: L * E * D, routed_experts: L * 3 * E * D * F };
    const p = summarizeParams(m);
    expect(Object.fromEntries(p.components.map((c) => [c.component, c.params]))).toEqual(expected);
    const total = Object.values(expected).reduce((a, b) => a + b, 0);
    const active = total - L * 3 * (E - K) * D * F;
    expect(p.total).toBe(total);
    expect(p.activePerToken).toBe(active);
    expect(total / 1e9).toBeCloseTo(46.7, 1);
    expect(active / 1e9).toBeCloseTo(12.9, 1);
    // KV cache: keys and values of G heads per layer
    const a = analyzeModel(m, { context: 1000, dtype: 'bf16' });
    expect(a.bytes.kvCache).toMatchObject({ layers: L, elementsPerToken: L * 2 * G * hd, bytesPerToken: L * 2 * G * hd * 2, bytesForContext: 1000 * L * 2 * G * hd * 2 });
  });

  it('DeepSeek-V3: 671B in the main model (MTP reported apart), about 37B active', () => {
    const { cfg, m } = hf('DeepSeek-V3');
    const [V, D, L, dense, H] = [cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers, cfg.first_k_dense_replace, cfg.num_attention_heads];
    const [qr, kvr, nope, rope, vd] = [cfg.q_lora_rank, cfg.kv_lora_rank, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim];
    const [Fd, F, E, K, S] = [cfg.intermediate_size, cfg.moe_intermediate_size, cfg.n_routed_experts, cfg.num_experts_per_tok, cfg.n_shared_experts];
    const moe = L - dense;
    // MLA: q down (+ its norm), q up to every head's nope+rope dims, kv down to the latent and
    // the shared rope key (+ the latent's norm), kv up to every head's key and value, output
    const attnProj = D * qr + qr * H * (nope + rope) + D * (kvr + rope) + kvr * H * (nope + vd) + H * vd * D;
    const expected = {
      embedding: V * D,
      attention: L * attnProj,
      norm: L * (2 * D + qr + kvr) + D,
      router: moe * (E * D + E),
      dense_mlp: dense * 3 * D * Fd,
      shared_experts: moe * 3 * S * D * F,
      routed_experts: moe * 3 * E * D * F,
      lm_head: V * D,
    };
    const p = summarizeParams(m);
    expect(Object.fromEntries(p.components.map((c) => [c.component, c.params]))).toEqual(expected);
    const total = Object.values(expected).reduce((a, b) => a + b, 0);
    expect(p.total).toBe(total);
    expect(p.activePerToken).toBe(total - moe * 3 * (E - K) * D * F);
    expect(Math.round(total / 1e9)).toBe(671);
    expect(p.activePerToken / 1e9).toBeGreaterThan(36.5);
    expect(p.activePerToken / 1e9).toBeLessThan(38);
    // MLA caches the latent and the rope key per layer
    expect(analyzeModel(m).bytes.kvCache.elementsPerToken).toBe(L * (kvr + rope));
  });

  it('a dense Llama: every parameter is active; decode FLOPs ≈ 2 per weight used plus attention', () => {
    const { cfg, m } = hf('Llama-3.1-8B');
    const [V, D, F, L, H, G] = [cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads];
    const hd = D / H;
    const total = 2 * V * D + D + L * (2 * D + D * H * hd + 2 * D * G * hd + H * hd * D + 3 * D * F);
    const p = summarizeParams(m);
    expect(p.total).toBe(total);
    expect(p.activePerToken).toBe(total);
    expect(p.components.map((c) => c.component)).toEqual(['embedding', 'attention', 'norm', 'dense_mlp', 'lm_head']);
    const ctx = 2048;
    const a = analyzeModel(m, { context: ctx });
    expect(a.flops.saving).toBe(0);
    // every weight but the embedding table is one multiply-add per token; each head scores
    // and sums the ctx visible keys (2·hd each way, 5 for the softmax)
    const gemm = 2 * (total - V * D - (L * 2 * D + D));
    const attention = L * H * ctx * (4 * hd + 5);
    expect(a.flops.decodeByKind.gemm).toBe(gemm);
    expect(a.flops.decodeByKind.attention).toBe(attention);
    expect(a.flops.decode / (gemm + attention)).toBeCloseTo(1, 3); // norms, rope, SwiGLU: under 0.1%
    // prefill: query t sees t + 1 keys, on average (ctx + 1) / 2
    expect(a.flops.prefill - a.flops.decode).toBeCloseTo(L * H * (4 * hd + 5) * ((ctx + 1) / 2 - ctx), 0);
  });

  it('GPT-OSS: a sliding-window layer caches at most its window', () => {
    const { cfg, m } = hf('gpt-oss-20b');
    const [L, G, hd, W] = [cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.head_dim, cfg.sliding_window];
    const perLayer = 2 * G * hd;
    const kv = analyzeModel(m, { context: 4096, dtype: 'bf16' }).bytes.kvCache;
    expect(kv.elementsPerToken).toBe(L * perLayer);
    expect(kv.bytesForContext).toBe(2 * perLayer * ((L / 2) * 4096 + (L / 2) * W)); // alternating sliding / full
  });

  it('every shipped config analyzes on a target (graph and kernel FLOPs agree); the README table lists what moec reports', () => {
    const readme = readFileSync('README.md', 'utf8');
    const gpu = loadTarget('webgpu');
    for (const dir of readdirSync('examples/hf').sort()) {
      const { m } = hf(dir);
      const p = summarizeParams(m);
      expect(readme, dir).toContain(`| ${dir} | ${formatCount(p.total)} | ${formatCount(p.activePerToken)} |`);
      // two independent counts agree: the graph walk and the compiled kernels' cost model
      // (one decoded token on a GPU: no padded rows, unlike a 16-row MAC array; the fused
      // kernels count their epilogues slightly differently)
      const a = analyzeModel(m, { target: gpu, context: 512 });
      expect(a.kernels!.perToken.flops / a.flops.decode, dir).toBeGreaterThan(0.98);
      expect(a.kernels!.perToken.flops / a.flops.decode, dir).toBeLessThan(1.02);
    }
  });
});

describe('FLOPs and bytes of the tiny model, by hand', () => {
  // tiny: D = 8, F = 16, E = 4 experts, K = 2 per token, softmax router, SwiGLU experts
  const [D, F, E, K] = [8, 16, 4, 2];
  const m = compileFile('examples/tiny.moe');

  it('FLOPs per token: every op of the graph', () => {
    const router = 2 * E * D + 5 * E; // logits GEMM, softmax (5 per element)
    const select = E; // top-K of the E scores: a comparison per candidate (compiler/cost/op-flops.ts)
    const norm = K + K; // sum of the K values (per input element), then the divide
    const gemms = 3 * 2 * K * F * D; // gate, up, down over the K routed rows
    const glue = 5 * K * F + K * F + 2 * K * D; // silu, gate*up, the weighted combine
    const decode = router + select + norm + gemms + glue;
    const a = analyzeModel(m, { context: 16 });
    expect(a.flops.decode).toBe(decode);
    expect(a.flops.prefill).toBe(decode); // no attention: the context changes nothing
    const dense = decode - gemms + (gemms * E) / K;
    expect(a.flops.denseEquivalent).toBe(dense);
    expect(a.flops.saving).toBeCloseTo(1 - decode / dense, 12);
    expect(a.flops.decodeByKind).toMatchObject({ gemm: 2 * E * D, routed: gemms, attention: 0 });
  });

  it('weight bytes a batch touches under uniform routing', () => {
    const w = summarizeParams(m).weights;
    const expert = 3 * F * D * 4; // one expert's three f32 matrices
    const router = E * D * 4;
    for (const n of [1, 2, 3, 64]) {
      const t = weightTraffic(w, n, 'f32');
      expect(t.batch).toBeCloseTo(router + eAct(E, K, n) * expert, 9);
      expect(t.perToken).toBeCloseTo((router + eAct(E, K, n) * expert) / n, 9);
      expect(t.total).toBe(router + E * expert);
    }
    expect(weightTraffic(w, 1, 'f32').batch).toBe(router + K * expert); // one token: its K experts
  });

  it('weight memory per dtype counts codes and f32 scales along the reduction axis', () => {
    const rows = Object.fromEntries(memoryTable(summarizeParams(m).weights, undefined, 0).map((r) => [r.dtype, r]));
    const params = E * D + 3 * E * F * D;
    expect(rows.f32.bytes).toBe(4 * params);
    expect(rows.bf16.bytes).toBe(2 * params);
    // i8: one scale per output row; fp8: groups of 128 (one group: the rows are shorter)
    const rowsOut = E + E * F + E * F + E * D; // router [E, D], gate/up [E, F, D], down [E, D, F]
    expect(rows.i8).toMatchObject({ bytes: params + 4 * rowsOut, scaleBytes: 4 * rowsOut });
    expect(rows.fp8).toMatchObject({ bytes: params + 4 * rowsOut, scaleBytes: 4 * rowsOut });
    // i4: half a byte per code, groups of 32 (again one per row here)
    expect(rows.i4).toMatchObject({ bytes: params / 2 + 4 * rowsOut, scaleBytes: 4 * rowsOut });
  });

  it('chips: weights against the target memory', () => {
    const t = loadTarget('webgpu');
    const cap = t.memory[t.memory.length - 1].bytes;
    const ds = summarizeParams(compileFile('examples/deepseek-v3.moe'));
    for (const r of memoryTable(ds.weights, t, 0)) expect(r.chips).toBe(Math.ceil(r.bytes / cap));
    const f32 = memoryTable(ds.weights, t, cap)[0];
    expect(f32.chipsWithKv).toBe(Math.ceil((f32.bytes + cap) / cap));
  });
});

describe('per-kernel roofline on a target', () => {
  it('every kernel obeys its roofs; the totals add up; per token = total / N', () => {
    for (const name of ['x86-avx2', 'webgpu', 'npu-scratchpad']) {
      const t = loadTarget(name);
      const a = analyzeModel(compileFile('examples/mixtral.moe'), { target: t, tokens: 32 });
      const k = a.kernels!;
      const main = k.roofs.bandwidths[k.roofs.bandwidths.length - 1].bytesPerSecond;
      expect(k.kernels.map((r) => r.kind)).toEqual(expect.arrayContaining(['router', 'grouped_gemm']));
      for (const r of k.kernels) {
        expect(r.seconds).toBeGreaterThanOrEqual((r.flops / k.roofs.peakFlops) * (1 - 1e-12));
        expect(r.seconds).toBeGreaterThanOrEqual((r.bytes / main) * (1 - 1e-12));
        expect(r.bound === 'compute').toBe(r.boundBy === 'compute');
        if (r.intensity !== null) expect(r.intensity).toBeCloseTo(r.flops / r.bytes, 9);
        expect(r.usefulFlops).toBeLessThanOrEqual(r.flops * (1 + 1e-12));
      }
      const sum = (f: (r: (typeof k.kernels)[number]) => number): number => k.kernels.reduce((s, r) => s + f(r), 0);
      expect(k.total.seconds).toBeCloseTo(sum((r) => r.seconds), 12);
      expect(k.total.flops).toBeCloseTo(sum((r) => r.flops), 0);
      expect(k.perToken.seconds).toBeCloseTo(k.total.seconds / 32, 15);
      expect(k.roofs.ridge).toBeCloseTo(k.roofs.peakFlops / main, 9);
      // the GEMMs do at least the graph's routed and router FLOPs (padding adds, never removes)
      expect(k.perToken.flops).toBeGreaterThanOrEqual(a.flops.decodeByKind.routed + a.flops.decodeByKind.gemm);
    }
  });

  it('a batch whose arena would not fit the chip is still analysed (memory planning is not needed for costs)', () => {
    const a = analyzeModel(compileFile('examples/deepseek-v3.moe'), { target: loadTarget('webgpu'), tokens: 16384 });
    expect(a.kernels!.total.seconds).toBeGreaterThan(0);
  });
});

describe('JSON and SVG', () => {
  const target = loadTarget('x86-avx2');
  const a = analyzeModel(compileFile('examples/deepseek-v3.moe'), { target, tokens: 4 });

  it('the JSON field names (documented in docs/analyze.md) are stable', () => {
    const j = JSON.parse(JSON.stringify(a));
    expect(Object.keys(j)).toEqual(['schema', 'model', 'options', 'imported', 'params', 'flops', 'bytes', 'memory', 'kernels', 'cluster', 'training']);
    expect([j.cluster, j.training]).toEqual([null, null]); // no --chips, no --train-tokens
    expect(j.imported).toBeNull(); // a .moe file
    expect(j.schema).toBe('moec-analyze/1');
    expect(Object.keys(j.options)).toEqual(['target', 'tokens', 'context', 'dtype']);
    expect(Object.keys(j.params)).toEqual(['total', 'activePerToken', 'activeFraction', 'components', 'weights']);
    expect(Object.keys(j.params.components[0])).toEqual(['component', 'params', 'activePerToken']);
    expect(Object.keys(j.params.weights.find((w: { name: string }) => w.name === 'moe.w_up'))).toEqual([
      'name', 'component', 'dtype', 'shape', 'params', 'activePerToken', 'experts', 'k',
    ]);
    expect(Object.keys(j.flops)).toEqual(['decode', 'prefill', 'denseEquivalent', 'saving', 'decodeByKind']);
    expect(Object.keys(j.bytes)).toEqual(['dtype', 'weights', 'kvCache']);
    expect(Object.keys(j.bytes.weights)).toEqual(['tokens', 'batch', 'perToken', 'total']);
    expect(Object.keys(j.bytes.kvCache)).toEqual(['layers', 'elementsPerToken', 'bytesPerToken', 'bytesForContext', 'elementBytes']);
    expect(Object.keys(j.memory)).toEqual(['capacityBytes', 'rows']);
    expect(j.memory.rows.map((r: { dtype: string }) => r.dtype)).toEqual(['f32', 'bf16', 'fp8', 'i8', 'i4']);
    expect(Object.keys(j.memory.rows[0])).toEqual(['dtype', 'bytes', 'scaleBytes', 'chips', 'chipsWithKv']);
    expect(Object.keys(j.kernels)).toEqual(['target', 'tokens', 'dtype', 'kernels', 'total', 'perToken', 'roofs']);
    expect(Object.keys(j.kernels.kernels[0])).toEqual(['label', 'kind', 'what', 'times', 'flops', 'usefulFlops', 'bytes', 'intensity', 'bound', 'boundBy', 'seconds', 'flopsPerSecond']);
    expect(Object.keys(j.kernels.roofs)).toEqual(['peakFlops', 'bandwidths', 'ridge']);
  });

  it('the SVG is well-formed XML with one labelled point per kernel that computes, and the roofs', () => {
    const svg = rooflineSvg(a.kernels!, 'deepseek_v3 on x86-avx2');
    expect(XMLValidator.validate(svg)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, isArray: (name) => ['circle', 'path', 'text', 'line'].includes(name) }).parse(svg);
    const circles = (doc.svg.circle as Array<Record<string, string>>).filter((c) => c['@_class'] === 'kernel');
    const computing = a.kernels!.kernels.filter((r) => r.flops > 0);
    expect(circles.map((c) => c['@_data-label'])).toEqual(computing.map((r) => r.label));
    expect(rooflinePoints(a.kernels!)).toHaveLength(computing.length);
    const roofs = (doc.svg.path as Array<Record<string, string>>).map((p) => p['@_class']);
    expect(roofs.filter((c) => c === 'roof bandwidth')).toHaveLength(a.kernels!.roofs.bandwidths.length);
    expect(roofs.filter((c) => c === 'roof compute')).toHaveLength(1);
    // every point is inside the drawing
    for (const c of circles) {
      expect(Number(c['@_cx'])).toBeGreaterThan(0);
      expect(Number(c['@_cx'])).toBeLessThan(900);
      expect(Number(c['@_cy'])).toBeGreaterThan(0);
      expect(Number(c['@_cy'])).toBeLessThan(600);
    }
  });
});

describe('moec analyze (command line)', () => {
  it('prints the table; --json prints what the API returns', async () => {
    const r = await cli('analyze', 'examples/mixtral.moe', '--target', 'x86-avx2', '--tokens', '8');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/routed experts\s+1\.41B\s+352\.3M/);
    expect(r.out).toContain('saved by routing');
    const ds = await cli('analyze', 'examples/hf/DeepSeek-V3/config.json');
    expect(ds.code).toBe(0);
    expect(ds.out).toMatch(/all\s+671\.0B\s+37\.55B/);
    expect(ds.out).toMatch(/\(DeepseekV3ForCausalLM; 1 multi-token-prediction layer left out of the main model: [\d.]+B parameters of their own; checkpoint stored as fp8\)/);
    expect(r.out).toContain('kernels on x86-avx2 at T = 8, weights in f32 as compiled');
    const j = await cli('analyze', 'examples/mixtral.moe', '--target', 'x86-avx2', '--tokens', '8', '--json', '--dtype', 'bf16');
    expect(j.code).toBe(0);
    const parsed = JSON.parse(j.out);
    const direct = JSON.parse(JSON.stringify(analyzeModel(compileFile('examples/mixtral.moe'), { target: loadTarget('x86-avx2'), tokens: 8, dtype: 'bf16' })));
    expect(parsed).toEqual(direct);
    expect(parsed.bytes.weights.perToken).toBeCloseTo((8 * 4096 * 2 + eAct(8, 2, 8) * 3 * 14336 * 4096 * 2) / 8, 3);
  });

  it('--svg writes the chart; a failing run leaves no file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-analyze-'));
    const file = join(dir, 'roof.svg');
    const ok = await cli('analyze', 'examples/tiny.moe', '--target', 'webgpu', '--svg', file);
    expect(ok.code).toBe(0);
    expect(XMLValidator.validate(readFileSync(file, 'utf8'))).toBe(true);
    const bad = join(dir, 'bad.svg');
    expect((await cli('analyze', 'examples/tiny.moe', '--target', 'webgpu', '--tokens', '65', '--svg', bad)).code).toBe(2);
    expect(existsSync(bad)).toBe(false);
  });

  it('bad flags: exit 2 with a hint', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--dtype', 'f16'], /--dtype f16: not a storage dtype[\s\S]*hint: /],
      [['--dtype', 'i44'], /hint: did you mean `i4`/],
      [['--context', '0'], /--context must be a whole number from 1/],
      [['--tokens', 'many'], /--tokens must be a whole number/],
      [['--svg', 'x.svg'], /--svg [\s\S]*needs --target[\s\S]*hint: targets: /],
      [['--tokens', '65'], /--tokens 65 is over the model's bound T <= 64/],
      [['--emit', 'kernel-ir'], /--emit is an option of `moec compile`/],
    ];
    for (const [flags, msg] of cases) {
      const r = await cli('analyze', 'examples/tiny.moe', ...flags);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
    }
    const missing = await cli('analyze', 'no/such/config.json');
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no/such/config.json');
    expect((await cli('check', 'examples/tiny.moe', '--context', '5')).code).toBe(2);
    expect((await cli('analyze', 'examples/tiny.moe', '--target', 'no-such-chip')).code).not.toBe(0);
  });
});

describe('moec analyze of a Hugging Face model directory', () => {
  it('reads DIR/config.json, and its torch_dtype (bfloat16) is the default --dtype (was: E501 "it is a directory", then f32)', async () => {
    const dir = await cli('analyze', 'examples/hf/Mixtral-8x7B-v0.1', '--json');
    expect(dir.code).toBe(0);
    const a = JSON.parse(dir.out);
    expect(a.options.dtype).toBe('bf16');
    expect(a.imported.torchDtype).toBe('bfloat16');
    // The same analysis as of the config.json with the dtype given
    const file = await cli('analyze', 'examples/hf/Mixtral-8x7B-v0.1/config.json', '--json', '--dtype', 'bf16');
    expect(JSON.parse(file.out)).toEqual(a);
    // --dtype still decides
    expect(JSON.parse((await cli('analyze', 'examples/hf/Mixtral-8x7B-v0.1', '--json', '--dtype', 'f32')).out).options.dtype).toBe('f32');
  });

  it('torch_dtype float32 (or `dtype`, as newer configs name it) gives f32; none leaves the graph\'s dtype', async () => {
    const base = JSON.parse(readFileSync('examples/hf/Mixtral-8x7B-v0.1/config.json', 'utf8'));
    const dtypeOf = async (cfg: Record<string, unknown>): Promise<string> => {
      const d = mkdtempSync(join(tmpdir(), 'moec-hfdir-'));
      writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
      const r = await cli('analyze', d, '--json');
      expect(r.code).toBe(0);
      return JSON.parse(r.out).options.dtype;
    };
    const { torch_dtype: _, ...none } = base;
    expect(await dtypeOf({ ...base, torch_dtype: 'float32' })).toBe('f32');
    expect(await dtypeOf({ ...none, dtype: 'bfloat16' })).toBe('bf16');
    expect(await dtypeOf(none)).toBe('f32');
  });

  it('a directory without a config.json is E501 with a hint', async () => {
    const r = await cli('analyze', mkdtempSync(join(tmpdir(), 'moec-hfdir-')));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error E501: .* is a directory without a config\.json\n\s*hint: give a \.moe file, a Hugging Face config\.json, a \.gguf file, or a model directory holding a config\.json/);
  });
});
