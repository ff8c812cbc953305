/**
 * The attention kernel of the kernel IR and the KV cache as state the compiled model owns
 * (ir/kernel/attention.ts, compiler/passes/lower-attention.ts): lowering with a context
 * bound turns the cache inputs into state buffers; the kernel interpreter appends each
 * call's keys and values at L..L+T-1, so a prefill then single-token steps equal one
 * prefill of the whole sequence, and equal the graph interpreter given the same cache as an
 * input; the text form round-trips; bad states and overflows are errors.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compile, randomWeights } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { interpret } from '../ir/graph/interp.ts';
import { type AttentionKernel, allocateState, resetState } from '../ir/kernel/attention.ts';
import type { MlaAttentionKernel } from '../ir/kernel/mla.ts';
import type { KBuffer, KProgram } from '../ir/kernel/kernel.ts';
import { PARTIALS_FLOATS, attentionSchedule } from '../compiler/passes/tile-attention.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { parseKernelIR } from '../ir/kernel/kparse.ts';
import { printKernelIR } from '../ir/kernel/kprint.ts';
import { verifyKernelIR } from '../ir/kernel/kverify.ts';
import { forEachKernel } from '../ir/kernel/walk.ts';
import type { Tensor } from '../ir/tensor.ts';

const SRC = readFileSync('test/fixtures/decoder-pair.moe', 'utf8');
const M = compile(SRC, { path: 'test/fixtures/decoder-pair.moe' });
const W = randomWeights(M, 3);
const IDS = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9];
const D = 16;

function program(maxContext?: number, target = 'x86-avx2'): KProgram {
  return runPipeline(M, { target: loadTarget(target), maxTokens: 16, ...(maxContext !== undefined ? { maxContext } : {}), verifyEach: true }).program!;
}

function ids(from: number, to: number): Tensor {
  return { dtype: 'i32', shape: [to - from], data: Int32Array.from(IDS.slice(from, to)) };
}

/** One call: T = to - from new tokens after L = from cached ones; the output rows. */
function step(p: KProgram, state: Record<string, Tensor>, from: number, to: number, f64 = false): number[] {
  return Array.from(interpretKernelIR(p, { bindings: { T: to - from, L: from }, inputs: { ids: ids(from, to) }, weights: W, state, f64 }).y.data);
}

function expectClose(got: number[], want: number[], rel: number): void {
  expect(got.length).toBe(want.length);
  const scale = Math.max(...want.map(Math.abs));
  const worst = Math.max(...got.map((g, i) => Math.abs(g - want[i])));
  expect(worst / scale).toBeLessThanOrEqual(rel);
}

describe('the attention kernel and the KV cache as state', () => {
  it('lowers attention to its kernel; a context bound makes the caches state of CTX positions and drops them from the inputs', () => {
    const plain = program();
    const kinds: string[] = [];
    forEachKernel(plain.steps, (k) => kinds.push(k.kind === 'op' ? k.op : k.kind));
    expect(kinds.filter((k) => k === 'attention')).toHaveLength(2);
    expect(plain.inputs.map((i) => i.name)).toEqual(['ids', 'layers.a.k_cache', 'layers.a.v_cache', 'layers.b.k_cache', 'layers.b.v_cache']);
    const p = program(32);
    expect(p.maxContext).toBe(32);
    expect(p.inputs.map((i) => i.name)).toEqual(['ids']);
    const state = allocateState(p);
    expect(Object.fromEntries(Object.entries(state).map(([n, t]) => [n, t.shape]))).toEqual({
      'layers.a.k_cache': [2, 32, 2, 4],
      'layers.a.v_cache': [2, 32, 2, 4],
      'layers.b.k_cache': [2, 32, 2, 4],
      'layers.b.v_cache': [2, 32, 2, 4],
    });
    const att: AttentionKernel[] = [];
    forEachKernel(p.steps, (k) => k.kind === 'attention' && att.push(k));
    expect(att.map((k) => [k.window, k.sinks !== undefined, k.past, k.schedule])).toEqual([
      [3, true, { terms: [['L', 1]], c: 0 }, { keyTile: expect.any(Number), splits: loadTarget('x86-avx2').cores, queryBlock: 16 }],
      [0, true, { terms: [['L', 1]], c: 0 }, { keyTile: expect.any(Number), splits: loadTarget('x86-avx2').cores, queryBlock: 16 }],
    ]);
  });

  it('the tiler sizes the key tile by the innermost cache and keeps the decode split within the cores and its stack block', () => {
    const k = { kind: 'attention', q: 'q', k: 'k', v: 'v', kCache: 'kc', vCache: 'vc', out: 'o', scale: 1, window: 0, past: 0 } as AttentionKernel;
    const shaped = (heads: number, dk: number, dv: number) => (name: string): KBuffer => ({ name, dtype: 'f32', kind: 'temp', shape: name === 'q' ? [1, heads, dk] : [1, 1, dv] });
    const t = loadTarget('x86-avx2'); // 32 KiB L1, 2 cores
    // C's prefill blocks: 32 query rows (8 queries of 4 heads; 1 of 32), fewer where the block's stack passes 64 KiB
    expect(attentionSchedule(k, t, shaped(4, 8, 8), 64)).toEqual({ keyTile: 256, splits: 2, queryBlock: 8 }); // 16 KiB / 64 B
    expect(attentionSchedule(k, t, shaped(32, 128, 128), 64)).toEqual({ keyTile: 16, splits: 2, queryBlock: 1 }); // 16 KiB / 1 KiB
    expect(attentionSchedule(k, t, shaped(4, 4, 4), 64)).toEqual({ keyTile: 512, splits: 2, queryBlock: 8 }); // capped at 512
    expect(attentionSchedule(k, t, shaped(1, 512, 512), 64).queryBlock).toBe(8); // 512 x 16 + 16 + 8 x 514 floats; 16 queries would pass 16,384
    // Wasm and WGSL have no query block
    expect(attentionSchedule(k, loadTarget('wasm-simd128'), shaped(4, 8, 8), 64).queryBlock).toBeUndefined();
    // One kv head for 128 query heads: a tile's scores for all of them stay within 4096 floats
    expect(attentionSchedule(k, t, shaped(128, 8, 8), 64).keyTile).toBe(32);
    // DeepSeek-V3's MLA: 128 heads reading latents of 512 and rope keys of 64: heads in blocks of 8 (a divisor of 128
    // whose latent queries, accumulators and scores fit 64 KiB), no decode split (128 x 514 floats of partials do not)
    const mla = { kind: 'mla_attention', qNope: 'qn', qPe: 'qp', kv: 'kv', kPe: 'kp', kvCache: 'kc', peCache: 'pc', wkvB: 'w', out: 'o', scale: 1, past: 0 } as MlaAttentionKernel;
    const dims: Record<string, number[]> = { qn: [1, 128, 128], qp: [1, 128, 64], kv: [1, 512], kp: [1, 64], o: [1, 128, 128] };
    const mlaBuf = (name: string): KBuffer => ({ name, dtype: 'f32', kind: 'temp', shape: dims[name] });
    // ... each call in the cheaper form: 16 expanded keys of 128 + 128 and (max, sum) for 64 tokens fit the block
    expect(attentionSchedule(mla, t, mlaBuf, 64)).toEqual({ keyTile: 16, splits: 1, headBlock: 8, form: 'cheaper' });
    // 8192 tokens' (max, sum) pairs do not: the absorbed form always
    expect(attentionSchedule(mla, t, mlaBuf, 8192).form).toBe('absorbed');
    // 128 heads of 128 values: 16,640 floats of partials per part, over the 16,384 of the block: no split (rows suffice)
    expect(attentionSchedule(k, t, shaped(128, 128, 128), 64).splits).toBe(1);
    expect(128 * 130).toBeGreaterThan(PARTIALS_FLOATS);
  });

  it('prints and parses back identically, state buffers and schedules included', () => {
    for (const p of [program(), program(32)]) {
      const text = printKernelIR(p);
      expect(text).toMatch(/attention\(q=.*, k_cache=.*\) -> \(out=.*\) \{scale=0\.5, window=3, past=L\} schedule\(key_tile=\d+, splits=\d+, query_block=\d+\)/);
      expect(printKernelIR(parseKernelIR(text))).toBe(text);
      expect(verifyKernelIR(parseKernelIR(text))).toEqual([]);
    }
    expect(printKernelIR(program(32))).toMatch(/buffer layers\.a\.k_cache: f32\[2, CTX, 2, 4\] state/);
  });

  for (const f64 of [false, true])
    it(`prefill 7 tokens then 8 single-token steps equals one prefill of 15 (${f64 ? 'f64' : 'f32'})`, () => {
      const p = program(32);
      const once = step(p, allocateState(p, { f64 }), 0, 15, f64);
      const state = allocateState(p, { f64 });
      const parts = [step(p, state, 0, 7, f64)];
      for (let t = 7; t < 15; t++) parts.push(step(p, state, t, t + 1, f64));
      expectClose(parts.flat(), once, 1e-5);
      // Every row depends on its position's cache alone: in fact the same numbers.
      expect(parts.flat()).toEqual(once);
    });

  it('a decode step against the state equals the graph interpreter given the same cache as an input', () => {
    const p = program(32);
    const state = allocateState(p);
    step(p, state, 0, 7);
    const got = step(p, state, 7, 10);
    // The graph reads L = 7 cached rows as inputs: the first 7 positions of each state buffer.
    const L = 7;
    const cache = (t: Tensor): Tensor => {
      const [layers, ctx, g, hd] = t.shape;
      const data = new Float32Array(layers * L * g * hd);
      for (let i = 0; i < layers; i++) data.set(t.data.subarray(i * ctx * g * hd, (i * ctx + L) * g * hd), i * L * g * hd);
      return { dtype: 'f32', shape: [layers, L, g, hd], data };
    };
    const inputs = { ids: ids(7, 10), ...Object.fromEntries(Object.entries(state).map(([n, t]) => [n, cache(t)])) };
    const want = interpret(M, { bindings: { T: 3, L }, inputs, weights: W }).y.data;
    expect(got).toEqual(Array.from(want));
    expect(got).toHaveLength(3 * D);
  });

  it('reset empties the state; a new prefill after it (or with L = 0 without it) starts afresh', () => {
    const p = program(32);
    const state = allocateState(p);
    const first = step(p, state, 0, 5);
    step(p, state, 5, 9);
    expect(step(p, state, 0, 5)).toEqual(first);
    resetState(state);
    expect(Object.values(state).every((t) => t.data.every((x) => x === 0))).toBe(true);
    expect(step(p, state, 0, 5)).toEqual(first);
  });

  it('a call past the context bound is E505; a missing or misshapen state is E503 / E504', () => {
    const p = program(8);
    const state = allocateState(p);
    step(p, state, 0, 6);
    expect(() => step(p, state, 6, 9)).toThrow(/E505: attention: L = 6 cached positions and T = 3 new ones do not fit the cache of 8 positions/);
    expect(() => interpretKernelIR(p, { bindings: { T: 1, L: 0 }, inputs: { ids: ids(0, 1) }, weights: W })).toThrow(/E503: missing the state buffer layers\.a\.k_cache/);
    expect(() => interpretKernelIR(p, { bindings: { T: 1 }, inputs: { ids: ids(0, 1) }, weights: W, state })).toThrow(/E505: (attention: no value for L|.*\bL\b)/);
    const small = { ...state, 'layers.a.k_cache': { dtype: 'f32' as const, shape: [2, 4, 2, 4], data: new Float32Array(64) } };
    expect(() => interpretKernelIR(p, { bindings: { T: 1, L: 0 }, inputs: { ids: ids(0, 1) }, weights: W, state: small })).toThrow(/E504: the state buffer layers\.a\.k_cache is f32\[2, 4, 2, 4\], expected f32\[2, 8, 2, 4\]/);
  });

  it('the verifier holds the attention kernel to its contract', () => {
    const p = program(32);
    const text = printKernelIR(p);
    const bad = (from: string | RegExp, to: string): string[] => verifyKernelIR(parseKernelIR(text.replace(from, to)));
    expect(bad('buffer layers.a.k_cache: f32[2, CTX, 2, 4] state', 'buffer layers.a.k_cache: f32[2, CTX, 2, 4] temp').join('\n')).toMatch(/k_cache .* is temp but v_cache .* is state/);
    expect(bad(/(b\.v_cache: f32\[(2, )?CTX, 2, )4\]/g, '$13]').join('\n')).toMatch(/the v_dim of v_cache layers\.layers\.b\.v_cache is 3, but 4 in v/);
    expect(bad('window=3', 'window=-1').join('\n')).toMatch(/window = -1 is not 0 \(none\) or a positive whole number/);
    expect(bad(/schedule\(key_tile=\d+/, 'schedule(key_tile=0').join('\n')).toMatch(/schedule keyTile = 0 is not a positive whole number/);
    expect(bad(/query_block=\d+/, 'query_block=0').join('\n')).toMatch(/schedule queryBlock = 0 is not a positive whole number/);
  });
});
