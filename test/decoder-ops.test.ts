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
import { getBackend } from '../compiler/backends/backend.ts';
import { programCost } from '../compiler/cost.ts';
import { decoderOpCost, visibleKeys } from '../compiler/cost-attention.ts';
import { MoecError } from '../compiler/diagnostics.ts';
import { compile, randomInputs, randomWeights } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target-load.ts';
import { dimToString } from '../ir/dims.ts';
import { checkpointName, mainFunc } from '../ir/graph.ts';
import { interpret } from '../ir/interp.ts';
import { interpretKernelIR } from '../ir/kinterp.ts';
import { parseIR } from '../ir/parse.ts';
import { printIR } from '../ir/print.ts';

const SRC = readFileSync('test/fixtures/decoder-pair.moe', 'utf8');
const M = compile(SRC, { path: 'test/fixtures/decoder-pair.moe' });
const B = { T: 3, L: 5 };
const ids = { dtype: 'i32' as const, shape: [3], data: new Int32Array([1, 9, 0]) };

function inputs(bindings = B) {
  return { ...randomInputs(M, bindings, 1), ids: { ...ids, shape: [bindings.T], data: new Int32Array(bindings.T).map((_, i) => (i * 7) % 10) } };
}

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

  it('compiles for every kind of target; the kernel program computes what the graph computes', () => {
    const weights = randomWeights(M, 2);
    for (const bindings of [B, { T: 1, L: 9 }]) {
      const inp = inputs(bindings);
      const want = interpret(M, { bindings, inputs: inp, weights }).y.data;
      for (const target of ['x86-avx2', 'webgpu', 'npu-scratchpad']) {
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
    for (const [name, target] of [['c', 'x86-avx2'], ['wasm', 'wasm-simd128'], ['wgsl', 'webgpu']] as const) {
      const t = loadTarget(target);
      const p = runPipeline(M, { target: t, maxTokens: 16 }).program!;
      const backend = await getBackend(name);
      expect(() => backend.emit(p, t), name).toThrow(/E701: the \w+ backend cannot run embedding, rope, attention/);
    }
  });
});
