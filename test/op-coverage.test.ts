/**
 * Every graph-IR op on every backend (issue 16): one case per op of the catalogue
 * (`ir/graph/ops.ts`), each a small graph around the op whose operands are model inputs or
 * weights (so no fusion pass rewrites it into something else), all the cases in one model
 * that is compiled and run on C, Wasm and WGSL and compared output by output with the
 * reference interpreter within stated tolerances.
 *
 * There is no exclusion list: every op runs on every backend. The cases take their KV caches
 * as inputs; a backend run compiles them as state of L + T positions and loads the caches into
 * it (the driver's `runContextBound` and `forwardRun`, as `moec run --context L` does).
 */
import { describe, expect, it } from 'vitest';
import { agreement, nonFiniteMismatches } from '../compiler/compare.ts';
import { getBackend } from '../compiler/backends/registry.ts';
import { compileModel, forwardRun, randomInputs, randomWeights, runContextBound } from '../compiler/driver.ts';
import { opNames } from '../ir/graph/ops.ts';
import { parseIR } from '../ir/graph/parse.ts';
import { interpret } from '../ir/graph/interp.ts';
import type { Tensor } from '../ir/tensor.ts';
import { missingAdapter } from './backends/wgsl-harness.ts';

/** A case: extra parameters of main, body lines (IR text) and the results it returns. */
interface Case {
  params?: string[];
  body: string[];
  results: string[];
  /** Other functions the case needs (repeat's body). */
  funcs?: string[];
}

const T = 5;
const L = 3;

/** Operands shared by the cases: x, y f32[T, 8]; p positive f32[T, 8]; c f32[T, 1]; row f32[8]. */
const SHARED = ['%x: f32[T, 8]', '%y: f32[T, 8]', '%p: f32[T, 8]', '%c: f32[T, 1]', '%row: f32[8]'];

const WEIGHTS = [
  'weight b: f32[8]',
  'weight w: f32[8, 6]',
  'weight nw: f32[8]',
  'weight table: f32[10, 8]',
  'weight wexp: f32[4, 8, 8]',
  'weight bexp: f32[4, 8]',
  'weight router: f32[4, 8]',
  'weight e_in: f32[4, 12, 8]',
  'weight e_out: f32[4, 8, 6]',
  'weight stack: f32[2, 8]',
  'weight wkv_b: f32[12, 4]',
];

const unary = (op: string, x = '%x'): Case => ({ body: [`%${op} = ${op}(${x}) : f32[T, 8]`], results: [op] });
const binary = (op: string, a: string, b: string): Case => ({ body: [`%${op} = ${op}(${a}, ${b}) : f32[T, 8]`], results: [op] });

const CASES: Record<string, Case> = {
  const: { body: ['%const = const() {dtype="f32", value=2.5} : f32[]'], results: ['const'] },
  weight: { body: ['%wb = weight() {name="b"} : f32[8]', '%weight = add(%x, %wb) : f32[T, 8]'], results: ['weight'] },
  neg: unary('neg'),
  exp: unary('exp'),
  log: unary('log', '%p'),
  sqrt: unary('sqrt', '%p'),
  rsqrt: unary('rsqrt', '%p'),
  abs: unary('abs'),
  sigmoid: unary('sigmoid'),
  silu: unary('silu'),
  relu: unary('relu'),
  tanh: unary('tanh'),
  gelu: { body: ['%gelu = gelu(%x) {approximate="none"} : f32[T, 8]', '%gelu_tanh = gelu(%y) {approximate="tanh"} : f32[T, 8]'], results: ['gelu', 'gelu_tanh'] },
  clamp: { body: ['%clamp = clamp(%x) {max=0.2, min=-0.1} : f32[T, 8]', '%clamp_lo = clamp(%y) {min=0} : f32[T, 8]'], results: ['clamp', 'clamp_lo'] },
  add: binary('add', '%x', '%row'),
  sub: binary('sub', '%x', '%y'),
  mul: binary('mul', '%x', '%c'),
  div: binary('div', '%x', '%p'),
  maximum: binary('maximum', '%x', '%y'),
  minimum: binary('minimum', '%c', '%x'),
  elementwise: { body: ['%elementwise = elementwise(%x, %c, %row) {expr="add(mul(silu(x0), add(x1, 1.5)), maximum(tanh(x2), -inf))"} : f32[T, 8]'], results: ['elementwise'] },
  matmul: { body: ['%wm = weight() {name="w"} : f32[8, 6]', '%matmul = matmul(%x, %wm) {transpose_b=false} : f32[T, 6]'], results: ['matmul'] },
  softmax: { params: ['%x4s: f32[T, 3, 4]'], body: ['%softmax = softmax(%x) {axis=-1} : f32[T, 8]', '%softmax_mid = softmax(%x4s) {axis=1} : f32[T, 3, 4]'], results: ['softmax', 'softmax_mid'] },
  rmsnorm: { body: ['%nw = weight() {name="nw"} : f32[8]', '%rmsnorm = rmsnorm(%y, %nw) {eps=0.000001} : f32[T, 8]'], results: ['rmsnorm'] },
  sum: { body: ['%sum = sum(%x) {axis=-1, keepdim=false} : f32[T]'], results: ['sum'] },
  mean: { body: ['%mean = mean(%x) {axis=-1, keepdim=true} : f32[T, 1]'], results: ['mean'] },
  amax: { params: ['%x4a: f32[T, 3, 4]'], body: ['%amax = amax(%y) {axis=-1, keepdim=false} : f32[T]', '%amax_mid = amax(%x4a) {axis=1, keepdim=true} : f32[T, 1, 4]'], results: ['amax', 'amax_mid'] },
  topk: {
    params: ['%x4k: f32[T, 3, 4]', '%ties: f32[T, 6]'],
    body: [
      '%topk.values, %topk.indices = topk(%x) {axis=-1, k=3} : f32[T, 3], i32[T, 3]',
      '%tk.values, %tk.indices = topk(%x4k) {axis=1, k=2} : f32[T, 2, 4], i32[T, 2, 4]',
      '%tt.values, %tt.indices = topk(%ties) {axis=-1, k=3} : f32[T, 3], i32[T, 3]',
    ],
    results: ['topk.values', 'topk.indices', 'tk.values', 'tk.indices', 'tt.values', 'tt.indices'],
  },
  group_topk: {
    body: [
      '%gt.values, %gt.indices = group_topk(%y) {group_score="max", groups=4, k=2, topk_groups=2} : f32[T, 2], i32[T, 2]',
      '%gs.values, %gs.indices = group_topk(%x) {group_score="sum_top2", groups=2, k=3, topk_groups=1} : f32[T, 3], i32[T, 3]',
    ],
    results: ['gt.values', 'gt.indices', 'gs.values', 'gs.indices'],
  },
  gather: {
    params: ['%gi: i32[T, 3]', '%x4g: f32[T, 3, 4]', '%gi3: i32[T, 2, 4]'],
    body: ['%gather = gather(%x, %gi) {axis=-1} : f32[T, 3]', '%gather_mid = gather(%x4g, %gi3) {axis=1} : f32[T, 2, 4]'],
    results: ['gather', 'gather_mid'],
  },
  concat: {
    params: ['%x4c: f32[T, 3, 4]'],
    body: ['%concat = concat(%x, %c) {axis=-1} : f32[T, 9]', '%concat_mid = concat(%x4c, %x4c, %x4c) {axis=1} : f32[T, 9, 4]'],
    results: ['concat', 'concat_mid'],
  },
  slice: {
    params: ['%x4: f32[T, 3, 4]'],
    body: ['%slice = slice(%x) {axis=-1, end=7, start=1, step=2} : f32[T, 3]', '%slice_mid = slice(%x4) {axis=1, start=1} : f32[T, 2, 4]'],
    results: ['slice', 'slice_mid'],
  },
  reshape: { body: ['%reshape = reshape(%y) {shape=[T, 2, 4]} : f32[T, 2, 4]'], results: ['reshape'] },
  transpose: { params: ['%x3: f32[T, 2, 4]'], body: ['%transpose = transpose(%x3) {perm=[0, 2, 1]} : f32[T, 4, 2]'], results: ['transpose'] },
  cast: {
    params: ['%big: f32[T, 4]', '%gi2: i32[T, 3]'],
    body: ['%cast = cast(%x) {dtype="i32"} : i32[T, 8]', '%cast_sat = cast(%big) {dtype="i32"} : i32[T, 4]', '%cast_f = cast(%gi2) {dtype="f32"} : f32[T, 3]'],
    results: ['cast', 'cast_sat', 'cast_f'],
  },
  route_capacity: { params: ['%ri: i32[T, 2]'], body: ['%route_capacity = route_capacity(%ri) {capacity_factor=0.8, experts=4} : i32[T, 2]'], results: ['route_capacity'] },
  moe_permute: { params: ['%pi: i32[T, 2]'], body: ['%perm.slots, %perm.offsets = moe_permute(%pi) {experts=4} : i32[2*T], i32[5]'], results: ['perm.slots', 'perm.offsets'] },
  moe_dispatch: {
    params: ['%slots: i32[2*T]', '%offsets: i32[5]', '%dropped: i32[5]'],
    body: ['%moe_dispatch = moe_dispatch(%x, %slots, %offsets) {k=2} : f32[2*T, 8]', '%dispatch_dropped = moe_dispatch(%y, %slots, %dropped) {k=2} : f32[2*T, 8]'],
    results: ['moe_dispatch', 'dispatch_dropped'],
  },
  grouped_matmul: {
    params: ['%xs: f32[2*T, 8]', '%goff: i32[5]', '%gdrop: i32[5]'],
    body: [
      '%wexp = weight() {name="wexp"} : f32[4, 8, 8]',
      '%bexp = weight() {name="bexp"} : f32[4, 8]',
      '%grouped_matmul = grouped_matmul(%xs, %wexp, %goff) {transpose_b=true} : f32[2*T, 8]',
      '%gmm_kn = grouped_matmul(%xs, %wexp, %gdrop, %bexp) {transpose_b=false} : f32[2*T, 8]',
    ],
    results: ['grouped_matmul', 'gmm_kn'],
  },
  moe_combine: {
    params: ['%ys: f32[2*T, 8]', '%cslots: i32[2*T]', '%coff: i32[5]', '%cw: f32[T, 2]', '%cdrop: i32[5]'],
    body: ['%moe_combine = moe_combine(%ys, %cslots, %coff, %cw) : f32[T, 8]', '%combine_dropped = moe_combine(%ys, %cslots, %cdrop, %cw) : f32[T, 8]'],
    results: ['moe_combine', 'combine_dropped'],
  },
  moe_router: {
    body: ['%router = weight() {name="router"} : f32[4, 8]', '%mr.indices, %mr.weights = moe_router(%x, %router) {k=2, normalize=true, score="softmax"} : i32[T, 2], f32[T, 2]'],
    results: ['mr.indices', 'mr.weights'],
  },
  moe_experts: {
    params: ['%ei: i32[T, 2]', '%ew: f32[T, 2]'],
    body: [
      '%e_in = weight() {name="e_in"} : f32[4, 12, 8]',
      '%e_out = weight() {name="e_out"} : f32[4, 8, 6]',
      '%moe_experts = moe_experts(%y, %ei, %ew, %e_in, %e_out) {act="swiglu"} : f32[T, 8]',
    ],
    results: ['moe_experts'],
  },
  glu: {
    body: ['%glu = glu(%y) {fn="swiglu", layout="concat"} : f32[T, 4]', '%glu_clamped = glu(%x) {alpha=1.702, fn="swiglu_clamped", layout="interleaved", limit=0.3} : f32[T, 4]'],
    results: ['glu', 'glu_clamped'],
  },
  embedding: { params: ['%ids: i32[T]'], body: ['%table = weight() {name="table"} : f32[10, 8]', '%embedding = embedding(%ids, %table) : f32[T, 8]'], results: ['embedding'] },
  // Every variant the importer emits: half and interleaved pairs, a partial rotary dim, YaRN, llama3.
  rope: {
    params: ['%q: f32[T, 2, 8]'],
    body: [
      '%rope = rope(%q) {offset=[3], theta=100} : f32[T, 2, 8]',
      '%rope_yarn = rope(%q) {attention_factor=1.3465735902799727, beta_fast=32, beta_slow=1, factor=40, layout="interleaved", offset=[7], original_max_position=64, rotary_dim=4, scaling="yarn", theta=10000, truncate=false} : f32[T, 2, 8]',
      '%rope_llama3 = rope(%q) {factor=8, high_freq_factor=4, low_freq_factor=1, offset=[2], original_max_position=16, scaling="llama3", theta=500000} : f32[T, 2, 8]',
    ],
    results: ['rope', 'rope_yarn', 'rope_llama3'],
  },
  attention: {
    params: ['%aq: f32[T, 2, 4]', '%ak: f32[T, 1, 4]', '%av: f32[T, 1, 4]', '%akc: f32[L, 1, 4]', '%avc: f32[L, 1, 4]'],
    body: ['%attention = attention(%aq, %ak, %av, %akc, %avc) {scale=0.5, window=0} : f32[T, 2, 4]'],
    results: ['attention'],
  },
  mla_attention: {
    params: ['%qn: f32[T, 2, 2]', '%qp: f32[T, 2, 2]', '%lkv: f32[T, 4]', '%kpe: f32[T, 2]', '%kvc: f32[L, 4]', '%pec: f32[L, 2]'],
    body: ['%wkv_b = weight() {name="wkv_b"} : f32[12, 4]', '%mla_attention = mla_attention(%qn, %qp, %lkv, %kpe, %kvc, %pec, %wkv_b) {scale=0.5} : f32[T, 2, 4]'],
    results: ['mla_attention'],
  },
  repeat: {
    body: ['%stack = weight() {name="stack"} : f32[2, 8]', '%repeat = repeat(%x, %stack) {body="layer", carried=1, count=2, invariant=0} : f32[T, 8]'],
    results: ['repeat'],
    funcs: ['func layer(%h: f32[T, 8], %s: f32[8]) {', '  %0 = mul(%h, %s) : f32[T, 8]', '  %1 = sigmoid(%0) : f32[T, 8]', '  return out = %1', '}'],
  },
};

/** The model of the given cases, every result a model output. */
function model(ops: readonly string[]): string {
  const cases = ops.map((op) => CASES[op]);
  const params = [...SHARED, ...cases.flatMap((c) => c.params ?? [])];
  const results = cases.flatMap((c) => c.results);
  return [
    'moec.ir 1',
    'model ops',
    'dim T <= 16',
    'dim L <= 8',
    ...WEIGHTS,
    '',
    ...cases.flatMap((c) => c.funcs ?? []),
    `func main(${params.join(', ')}) {`,
    ...cases.flatMap((c) => c.body.map((l) => `  ${l}`)),
    `  return ${results.map((r) => `${r.replace('.', '_')} = %${r}`).join(', ')}`,
    '}',
  ].join('\n');
}

/** Inputs the ops can take: random floats (p positive), and valid indices, slots and offsets. */
function inputsFor(m: ReturnType<typeof parseIR>): Record<string, Tensor> {
  const base = randomInputs(m, { T, L }, 3);
  const i32 = (shape: number[], f: (i: number) => number): Tensor => ({ dtype: 'i32', shape, data: Int32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i)) });
  // Two choices per token over 4 experts, distinct per token; slots sorted by expert with their offsets.
  const choices = Array.from({ length: T * 2 }, (_, s) => ((s >> 1) + (s & 1) * 2 + (s >> 2)) % 4);
  const slots = [...choices.keys()].sort((a, b) => choices[a] - choices[b] || a - b);
  const offsets = [0, 1, 2, 3, 4].map((e) => choices.filter((c) => c < e).length);
  const fixed: Record<string, Tensor> = {
    p: { ...base.p, data: Float32Array.from(base.p.data, (v) => Math.abs(v) + 0.1) },
    gi: i32([T, 3], (i) => (i * 5) % 8),
    gi3: i32([T, 2, 4], (i) => (i * 7) % 3),
    ri: i32([T, 2], (i) => choices[i]), // capacity 2 of 3 for experts 0 and 2: a slot of each dropped
    pi: i32([T, 2], (i) => (i === 3 ? -1 : choices[i])), // a dropped slot sorts last
    ei: i32([T, 2], (i) => choices[i]),
    slots: i32([2 * T], (i) => slots[i]),
    offsets: i32([5], (i) => offsets[i]),
    // Rows past offsets[E] (slots a capacity limit dropped) are zero.
    dropped: i32([5], (i) => Math.min(offsets[i], 6)),
    gdrop: i32([5], (i) => Math.min(offsets[i], 6)),
    cdrop: i32([5], (i) => Math.min(offsets[i], 6)),
    cslots: i32([2 * T], (i) => slots[i]),
    coff: i32([5], (i) => offsets[i]),
    goff: i32([5], (i) => offsets[i]),
    ids: i32([T], (i) => (i * 3) % 10),
    // Truncation toward zero, saturation at the int32 range, NaN to 0.
    big: { dtype: 'f32', shape: [T, 4], data: Float32Array.from({ length: T * 4 }, (_, i) => [-2.7, 3e9, -3e9, NaN][i % 4] * (1 + (i >> 2))) },
    gi2: i32([T, 3], (i) => (i - 7) * 123457),
    // Ties go to the lower index; NaN ranks above every number (row 1), -inf below (row 2).
    ties: { dtype: 'f32', shape: [T, 6], data: Float32Array.from({ length: T * 6 }, (_, i) => [[1, 2, 2, 0, 2, 1], [0.5, NaN, 3, NaN, 3, 1], [-Infinity, -1, -Infinity, -2, -1, -3]][(i / 6 | 0) % 3][i % 6]) },
  };
  return Object.fromEntries(Object.entries(base).map(([k, v]) => [k, fixed[k] ?? v]));
}

/** Largest difference allowed, relative to each output's largest magnitude (f32 math; WGSL's exp and erf are the GPU's). */
const TOLERANCE: Record<string, number> = { c: 1e-6, wasm: 1e-6, wgsl: 2e-5 };


describe('the op-coverage cases', () => {
  it('cover every op of the catalogue, and only those', () => {
    expect(Object.keys(CASES).sort()).toEqual(opNames().sort());
  });

  it('each case parses, verifies and runs on the reference interpreter', () => {
    for (const op of opNames()) {
      const m = parseIR(model([op]), `${op}.ir`);
      const out = interpret(m, { bindings: { T, L }, inputs: inputsFor(m), weights: randomWeights(m, 1) });
      expect(Object.keys(out).length, op).toBe(CASES[op].results.length);
    }
  });
});

const wgslMissing = await missingAdapter('op coverage on WGSL');

describe.each(['c', 'wasm', 'wgsl'])('every op on the %s backend', (name) => {
  it.skipIf(name === 'wgsl' && wgslMissing !== null)('runs each op and matches the reference interpreter', async () => {
    const m = parseIR(model(opNames()), 'ops.ir');
    const backend = await getBackend(name);
    const { program, target } = compileModel(m, { target: { c: 'x86-avx2', wasm: 'wasm-simd128', wgsl: 'webgpu' }[name]!, maxTokens: 16, runTokens: T, maxContext: runContextBound({ T, L }) });
    const weights = randomWeights(m, 1);
    const inputs = inputsFor(m);
    const loaded = await backend.load(program, target, weights);
    try {
      const got = await forwardRun(loaded, program, name, inputs, { T, L });
      const want = interpret(m, { bindings: { T, L }, inputs, weights });
      for (const [out, w] of Object.entries(want)) {
        const g = got[out];
        expect(g, `${name}: output ${out}`).toBeDefined();
        if (w.dtype === 'i32') expect(Array.from(g.data), `${name}: ${out}`).toEqual(Array.from(w.data));
        else {
          const a = agreement(g, w);
          expect(nonFiniteMismatches(a), `${name}: ${out} NaN/inf`).toBe(0);
          expect(a.maxRel, `${name}: ${out}`).toBeLessThanOrEqual(TOLERANCE[name]);
        }
      }
    } finally {
      loaded.dispose();
    }
  }, 120_000);
});

describe('bad indices computed or given at run time', () => {
  it.each(['c', 'wasm'])('a gather index out of range stops the %s forward with E505, as the interpreter', async (name) => {
    const m = parseIR(model(['gather', 'exp']), 'gather.ir');
    const backend = await getBackend(name);
    const { program, target } = compileModel(m, { target: { c: 'x86-avx2', wasm: 'wasm-simd128' }[name]!, maxTokens: 16, runTokens: T });
    const weights = randomWeights(m, 1);
    const inputs = inputsFor(m);
    const bad = { ...inputs, gi: { ...inputs.gi, data: Int32Array.from(inputs.gi.data, (v, i) => (i === 4 ? 8 : v)) } };
    expect(() => interpret(m, { bindings: { T, L }, inputs: bad, weights })).toThrow(/E505: gather: index 8 is out of range/);
    const loaded = await backend.load(program, target, weights);
    try {
      await expect(loaded.forward(bad, { T, L })).rejects.toThrow(/^E505: /);
    } finally {
      loaded.dispose();
    }
  }, 60_000);
});
