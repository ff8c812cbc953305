/**
 * The decoder ops (embedding, rope, attention, mla_attention) in the language and the IR:
 * block inputs become stacked model inputs (KV caches), affine checkpoint placeholders, the
 * IR text round-trip, the kernel program against the graph interpreter on three targets
 * (exactly equal: both run the same reference kernels), the cost formulas at prefill and
 * decode, the KV cache per token read off the graph, E505 for an out-of-range token id and
 * E701 from every backend. (Numbers against an independent implementation: hf-import.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { kvCachePerToken } from '../compiler/analysis/kv-cache.ts';
import { getBackend } from '../compiler/backends/registry.ts';
import { loadC } from '../compiler/backends/c/index.ts';
import { programCost } from '../compiler/cost/cost.ts';
import { decoderOpCost, visibleKeys } from '../compiler/cost/attention.ts';
import { MoecError } from '../ir/diagnostics.ts';
import { compile, randomInputs, randomWeights } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { listTargets, loadTarget } from '../compiler/target/load.ts';
import { dimToString } from '../ir/dims.ts';
import { FuncBuilder } from '../ir/graph/builder.ts';
import { type Module, checkpointName, mainFunc } from '../ir/graph/graph.ts';
import { interpret } from '../ir/graph/interp.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { parseIR } from '../ir/graph/parse.ts';
import { printIR } from '../ir/graph/print.ts';

const SRC = readFileSync('test/fixtures/decoder-pair.moe', 'utf8');
const M = compile(SRC, { path: 'test/fixtures/decoder-pair.moe' });
const B = { T: 3, L: 5 };
const ids = { dtype: 'i32' as const, shape: [3], data: new Int32Array([1, 9, 0]) };

function inputs(bindings = B) {
  return { ...randomInputs(M, bindings, 1), ids: { ...ids, shape: [bindings.T], data: new Int32Array(bindings.T).map((_, i) => (i * 7) % 10) } };
}

/** Runs one op on concrete tensors through the graph interpreter (a one-node main). */
function runOp(op: string, inputs: Array<{ shape: number[]; data: number[]; dtype?: 'f32' | 'i32' }>, attrs: Record<string, unknown>, bindings: Record<string, number> = {}): number[] {
  const m: Module = { name: 't', dims: Object.keys(bindings).map((name) => ({ name })), weights: [], funcs: [] };
  const b = new FuncBuilder('main', m);
  const params = inputs.map((t, i) => b.param(`x${i}`, { dtype: t.dtype ?? 'f32', shape: t.shape }));
  b.result('y', b.add1(op, params, attrs as never));
  m.funcs.push(b.func);
  const tensors = Object.fromEntries(inputs.map((t, i) => [`x${i}`, { dtype: t.dtype ?? 'f32', shape: t.shape, data: t.dtype === 'i32' ? Int32Array.from(t.data) : Float64Array.from(t.data) }]));
  return Array.from(interpret(m, { bindings, inputs: tensors as never, weights: {}, f64: true }).y.data);
}

describe('decoder op semantics on hand-computed cases', () => {
  it('rope: position offset + t, half and interleaved pairs, a partial rotary dim, cos/sin scaled by attention_factor', () => {
    const x = [1, 2, 3, 4];
    const f1 = 1 / 100 ** 0.5; // theta^(-2/4) with theta = 100
    for (const [t, p] of [[0, 5], [1, 6]]) {
      const got = runOp('rope', [{ shape: [2, 1, 4], data: [...x, ...x] }], { theta: 100, offset: [5] }).slice(4 * t, 4 * t + 4);
      // half: pairs (0, 2) and (1, 3), frequencies 1 and f1
      const [c0, s0, c1, s1] = [Math.cos(p), Math.sin(p), Math.cos(p * f1), Math.sin(p * f1)];
      expect(got.map((v) => +v.toFixed(12))).toEqual([1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1].map((v) => +v.toFixed(12)));
    }
    const inter = runOp('rope', [{ shape: [1, 1, 4], data: x }], { theta: 100, offset: [2], layout: 'interleaved', attention_factor: 2 });
    const [c0, s0, c1, s1] = [2 * Math.cos(2), 2 * Math.sin(2), 2 * Math.cos(2 * f1), 2 * Math.sin(2 * f1)];
    expect(inter.map((v) => +v.toFixed(12))).toEqual([1 * c0 - 2 * s0, 2 * c0 + 1 * s0, 3 * c1 - 4 * s1, 4 * c1 + 3 * s1].map((v) => +v.toFixed(12)));
    const partial = runOp('rope', [{ shape: [1, 1, 4], data: x }], { theta: 100, offset: [3], rotary_dim: 2 });
    expect(partial.map((v) => +v.toFixed(12))).toEqual([Math.cos(3) - 2 * Math.sin(3), 2 * Math.cos(3) + Math.sin(3), 3, 4].map((v) => +v.toFixed(12)));
  });

  it('rope scaling: llama3 bands and YaRN frequencies follow their formulas', () => {
    // One pair, rd = 2: f = 1 (wavelength 2π). llama3 with original 64, low 1, high 4: 2π < 16 keeps f.
    const one = runOp('rope', [{ shape: [1, 1, 2], data: [1, 0] }], { theta: 10, offset: [1], scaling: 'llama3', factor: 8, original_max_position: 64 });
    expect(one[0]).toBeCloseTo(Math.cos(1), 12);
    // original 2: low wavelength 2 < 2π, so f is divided by the factor.
    const low = runOp('rope', [{ shape: [1, 1, 2], data: [1, 0] }], { theta: 10, offset: [1], scaling: 'llama3', factor: 8, original_max_position: 2 });
    expect(low[0]).toBeCloseTo(Math.cos(1 / 8), 12);
    // YaRN, rd = 2: correction dims clamp to [0, 1]; the ramp at pair 0 is 0, so f stays extrapolated (f = 1).
    const yarn = runOp('rope', [{ shape: [1, 1, 2], data: [1, 0] }], { theta: 10000, offset: [3], scaling: 'yarn', factor: 40, original_max_position: 4096 });
    expect(yarn[0]).toBeCloseTo(Math.cos(3), 12);
  });

  it('attention: causal over cache + new keys, GQA head mapping, the sliding window and sinks', () => {
    // H = 2 query heads over G = 1 kv head, dk = dv = 1, scale 1; cache of 1, T = 2.
    const q = { shape: [2, 2, 1], data: [1, 2, 1, 2] };
    const k = { shape: [2, 1, 1], data: [0, 1] };
    const v = { shape: [2, 1, 1], data: [10, 20] };
    const kc = { shape: [1, 1, 1], data: [1] };
    const vc = { shape: [1, 1, 1], data: [5] };
    const soft = (s: number[], vs: number[], sink?: number): number => {
      const m = Math.max(...s, sink ?? -Infinity);
      const e = s.map((x) => Math.exp(x - m));
      const d = e.reduce((a, b) => a + b, 0) + (sink === undefined ? 0 : Math.exp(sink - m));
      return e.reduce((a, x, j) => a + x * vs[j], 0) / d;
    };
    const full = runOp('attention', [q, k, v, kc, vc], { scale: 1, window: 0 });
    // token 0 (position 1) sees keys [1 (cache), 0]; token 1 (position 2) sees [1, 0, 1]
    expect(full.map((x) => +x.toFixed(12))).toEqual([soft([1, 0], [5, 10]), soft([2, 0], [5, 10]), soft([1, 0, 1], [5, 10, 20]), soft([2, 0, 2], [5, 10, 20])].map((x) => +x.toFixed(12)));
    const win = runOp('attention', [q, k, v, kc, vc], { scale: 1, window: 2 });
    expect(win.map((x) => +x.toFixed(12))).toEqual([soft([1, 0], [5, 10]), soft([2, 0], [5, 10]), soft([0, 1], [10, 20]), soft([0, 2], [10, 20])].map((x) => +x.toFixed(12)));
    const sinks = runOp('attention', [q, k, v, kc, vc, { shape: [2], data: [0.5, -1] }], { scale: 1, window: 0 });
    expect(sinks[3]).toBeCloseTo(soft([2, 0, 2], [5, 10, 20], -1), 12);
  });
});

describe('decoder ops in the language and the IR', () => {
  it('block inputs become model inputs stacked along the repeat; the body reads slice i', () => {
    const main = mainFunc(M);
    expect(main.params.map((p) => `${p.name}: ${p.type.shape.map(dimToString).join('x')}`)).toEqual([
      'ids: T',
      'layers.a.k_cache: 2xLx2x4',
      'layers.a.v_cache: 2xLx2x4',
      'layers.b.k_cache: 2xLx2x4',
      'layers.b.v_cache: 2xLx2x4',
    ]);
  });

  it('affine placeholders name layers 2i and 2i+1 of a repeated pair', () => {
    const a = M.weights.find((w) => w.name === 'layers.a.wq')!.source!;
    const b = M.weights.find((w) => w.name === 'layers.b.wq')!.source!;
    expect([0, 1].map((i) => checkpointName(a, [i]))).toEqual(['model.layers.0.self_attn.q_proj.weight', 'model.layers.2.self_attn.q_proj.weight']);
    expect([0, 1].map((i) => checkpointName(b, [i]))).toEqual(['model.layers.1.self_attn.q_proj.weight', 'model.layers.3.self_attn.q_proj.weight']);
    expect(() => compile(SRC.replace('{2*i+1}', '{2*+1}'))).toThrow(/malformed placeholder/);
  });

  it('prints and parses back identically', () => {
    const text = printIR(M);
    expect(text).toContain('rope(%1) {attention_factor=1');
    expect(text).toContain('offset=[L]');
    expect(printIR(parseIR(text))).toBe(text);
  });

  it('compiles for every target; the kernel program computes what the graph computes', () => {
    const weights = randomWeights(M, 2);
    for (const bindings of [B, { T: 1, L: 9 }]) {
      const inp = inputs(bindings);
      const want = interpret(M, { bindings, inputs: inp, weights }).y.data;
      for (const target of listTargets()) {
        const p = runPipeline(M, { target: loadTarget(target), maxTokens: 16, verifyEach: true }).program!;
        expect(Array.from(interpretKernelIR(p, { bindings, inputs: inp, weights, arena: true }).y.data), target).toEqual(Array.from(want));
      }
    }
  });

  it('costs count each query against the keys it sees, at prefill and at decode', () => {
    expect(visibleKeys(3, 5, 0)).toBe(6 + 7 + 8);
    expect(visibleKeys(3, 5, 3)).toBe(9);
    expect(visibleKeys(1, 4096, 128)).toBe(128);
    const target = loadTarget('x86-avx2');
    const p = runPipeline(M, { target, maxTokens: 16 }).program!;
    const [H, G, HD] = [4, 2, 4];
    for (const [T, L] of [[3, 5], [1, 20]]) {
      const c = programCost(p, target, T, { T, L });
      const att = c.perKernel.filter((k) => k.label.startsWith('attention:'));
      // Per layer: H heads × visible keys × (2·HD for q·k, 5 for the softmax, 2·HD for Σ p·v); 2 repeats.
      let full = 0;
      let win = 0;
      for (let t = 0; t < T; t++) {
        full += L + t + 1;
        win += Math.min(L + t + 1, 3);
      }
      expect(att.map((k) => k.flops)).toEqual([2 * H * win * (4 * HD + 5), 2 * H * full * (4 * HD + 5)]);
      // Bytes moved (before the cache model of cost.ts): q, k, v, the cache rows read (the
      // window reads its last 2 only), sinks, result.
      const f32 = [4, 4, 4, 4, 4, 4];
      const sizes = (window: number) => ({
        inputs: [[T, H, HD], [T, G, HD], [T, G, HD], [L, G, HD], [L, G, HD], [H]],
        outputs: [[T, H, HD]], inputBytes: f32, outputBytes: [4], attrs: { window },
      });
      const io = (T * H * HD + 2 * T * G * HD + T * H * HD) * 4 + H * 4;
      expect(decoderOpCost('attention', sizes(3))!.bytes).toBe(io + Math.min(L, 2) * G * 2 * HD * 4);
      expect(decoderOpCost('attention', sizes(0))!.bytes).toBe(io + L * G * 2 * HD * 4);
      const rope = c.perKernel.filter((k) => k.label.startsWith('rope:'));
      expect(rope.map((k) => k.flops)).toEqual([2 * 3 * T * H * HD, 2 * 3 * T * G * HD, 2 * 3 * T * H * HD, 2 * 3 * T * G * HD]);
    }
  });

  it("MLA costs the cheaper of DeepSeek's two forms: absorbed for a decode step, naive (latents expanded once) for a long prompt", () => {
    const [H, Dn, Dr, C, Dv] = [128, 128, 64, 512, 128];
    const mla = (T: number, L: number) => decoderOpCost('mla_attention', {
      inputs: [[T, H, Dn], [T, H, Dr], [T, C], [T, Dr], [L, C], [L, Dr], [H * (Dn + Dv), C]],
      outputs: [[T, H, Dv]], inputBytes: [2, 2, 2, 2, 2, 2, 2], outputBytes: [2], attrs: { scale: 1 },
    })!.flops;
    const absorbed = (T: number, L: number) => T * H * (2 * Dn * C + 2 * C * Dv) + H * visibleKeys(T, L, 0) * (2 * (C + Dr) + 5 + 2 * C);
    const naive = (T: number, L: number) => (L + T) * H * 2 * C * (Dn + Dv) + H * visibleKeys(T, L, 0) * (2 * (Dn + Dr) + 5 + 2 * Dv);
    expect(mla(1, 4095)).toBe(absorbed(1, 4095));
    expect(absorbed(1, 4095)).toBeLessThan(naive(1, 4095) / 10);
    expect(mla(4096, 0)).toBe(naive(4096, 0));
    expect(naive(4096, 0)).toBeLessThan(absorbed(4096, 0) / 2.5);
  });

  it('reports the KV cache per token from the graph: 4 layers × 2 kv heads × (4 + 4) values', () => {
    const kv = kvCachePerToken(M);
    expect(kv).toMatchObject({ values: 4 * 2 * 8, bytes: 4 * 2 * 8 * 4, layers: 4 });
  });

  it('an out-of-range token id is a run-time error naming the op (E505)', () => {
    const weights = randomWeights(M, 2);
    const bad = { ...inputs(), ids: { ...ids, data: new Int32Array([1, 10, 0]) } };
    expect(() => interpret(M, { bindings: B, inputs: bad, weights })).toThrow(MoecError);
    expect(() => interpret(M, { bindings: B, inputs: bad, weights })).toThrow(/embedding: token id 10 .* outside the vocabulary 0\.\.9/);
  });

  it('every backend refuses the decoder ops with E701 before rendering anything', async () => {
    // Embedding and rope have kernels everywhere; every backend runs attention with the caches
    // as state (compiled with --max-context: test/backends/{c,wasm,wgsl}-attention.test.ts) and
    // refuses a program whose caches are inputs.
    const refusals = [
      ['c', 'x86-avx2', /E701: the C backend runs attention with the KV cache as state the model owns, but \S+ is an input/],
      ['wasm', 'wasm-simd128', /E701: the wasm backend runs attention with the KV cache as state the model owns, but \S+ is an input/],
      ['wgsl', 'webgpu', /E701: the WGSL backend runs attention with the KV cache as state the model owns, but \S+ is an input/],
    ] as const;
    for (const [name, target, refusal] of refusals) {
      const t = loadTarget(target);
      const p = runPipeline(M, { target: t, maxTokens: 16 }).program!;
      const backend = await getBackend(name);
      expect(() => backend.emit(p, t), name).toThrow(refusal);
    }
  });

  it('a backend checks token ids before a forward (E505, as the interpreter), and the C kernel guards its memory itself', async () => {
    const m = compile('dim T <= 8\nmodel e {\n  input ids: i32[T]\n  weight table: f32[10, 4]\n  output y = relu(embedding(ids, table))\n}\n');
    const weights = randomWeights(m, 1);
    const bad = { ids: { dtype: 'i32' as const, shape: [3], data: Int32Array.of(1, 10, 0) } };
    for (const [name, target] of [['c', 'x86-avx2'], ['wasm', 'wasm-simd128']] as const) {
      const t = loadTarget(target);
      const p = runPipeline(m, { target: t, maxTokens: 8 }).program!;
      const loaded = await (await getBackend(name)).load(p, t, weights);
      try {
        await expect(loaded.forward(bad, { T: 3 }), name).rejects.toThrow(/E505: embedding: token id 10 \(at 1\) is outside the vocabulary 0\.\.9/);
        const good = { ids: { ...bad.ids, data: Int32Array.of(9, 0, 3) } };
        expect(Array.from((await loaded.forward(good, { T: 3 })).y.data), name).toEqual(Array.from(interpret(m, { bindings: { T: 3 }, inputs: good, weights }).y.data));
      } finally {
        loaded.dispose();
      }
    }
    // Past the host's check (the generated library called directly), forward returns ERR_TOKEN_ID: E505.
    const t = loadTarget('x86-avx2');
    const raw = loadC(runPipeline(m, { target: t, maxTokens: 8 }).program!, t, weights);
    try {
      expect(() => raw.run(bad, 3, 1)).toThrow(/E505: the C model's forward stopped on bad data: a token id outside the embedding table/);
    } finally {
      raw.dispose();
    }
  }, 60_000);
});
