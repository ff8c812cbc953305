/**
 * @fileoverview The kernel interpreter against the graph interpreter: for each kernel kind,
 * a hand-built kernel program and the unfused graph it stands for (built from primitive ops
 * in the same module's `main`) run on the same seeded inputs and weights, and must agree to
 * 1e-5 in float32 and 1e-12 in float64. Every program also goes through its text form
 * (print → parse) before it runs, so the text keeps the semantics. The grouped GEMM's decode
 * and sorted paths must agree bit for bit; padding rows (poisoned with NaN) must never reach
 * an output; dropped slots (-1) must add nothing.
 */
import { describe, expect, it } from 'vitest';
import { MoecError } from '../ir/diagnostics.ts';
import { FuncBuilder } from '../ir/graph/builder.ts';
import { type Dim, sym } from '../ir/dims.ts';
import type { Module, Value } from '../ir/graph/graph.ts';
import { interpret } from '../ir/graph/interp.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import type { KProgram, Kernel, RouterKernel } from '../ir/kernel/kernel.ts';
import { parseKernelIR } from '../ir/kernel/kparse.ts';
import { printKernelIR } from '../ir/kernel/kprint.ts';
import { printIR } from '../ir/graph/print.ts';
import { randomUniform } from '../ir/random.ts';
import type { Tensor } from '../ir/tensor.ts';
import type { DType, TensorType } from '../ir/types.ts';

const T = sym('T');
const ty = (dtype: DType, ...shape: Dim[]): TensorType => ({ dtype, shape });
const F32_TOL = 1e-5;
const F64_TOL = 1e-12;

// ---------------------------------------------------------------------------------------
// Helpers.

/** A module with `T` and the given weights; `main` and `pack` are added by the builders. */
function newModule(weights: Record<string, TensorType>): Module {
  return { name: 'test', dims: [{ name: 'T', max: 64 }], weights: Object.entries(weights).map(([name, type]) => ({ name, type })), funcs: [] };
}

/** Adds `main` (the unfused reference graph). */
function addMain(m: Module, build: (b: FuncBuilder, w: (name: string) => Value) => void): void {
  const b = new FuncBuilder('main', m);
  build(b, (name) => b.add1('weight', [], { name }, undefined, name));
  m.funcs.push(b.func);
}

/** Adds `pack`; by default it returns every weight unchanged, under its own name. */
function addPack(m: Module, build?: (b: FuncBuilder, w: (name: string) => Value) => void): void {
  const b = new FuncBuilder('pack', m);
  const w = (name: string): Value => b.add1('weight', [], { name }, undefined, name);
  if (build) build(b, w);
  else for (const d of m.weights) b.result(d.name, w(d.name));
  m.funcs.push(b.func);
}

/** A kernel program from the text of its kernel part and its module. */
function program(kernelText: string, m: Module): KProgram {
  return parseKernelIR(`moec.kernel-ir 1\nprogram test\npack pack\n${kernelText.trim()}\n\n-- graph --\n${printIR(m)}`, 'test.kir');
}

/** Seeded weights of every module weight, scaled so activations stay near 1. */
function seededWeights(m: Module, seed: number, bindings: Record<string, number>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const w of m.weights) {
    const shape = w.type.shape.map((d) => (typeof d === 'number' ? d : bindings.T));
    out[w.name] = randomUniform(w.name, seed, shape, shape.length >= 2 ? 0.7 : 0.5);
  }
  return out;
}

/** Distinct experts per token (k of e), with every `dropEvery`-th slot dropped (-1). */
function routing(tokens: number, k: number, e: number, seed: number, dropEvery = 0): Tensor {
  const u = randomUniform('routing', seed, [tokens, e], 1).data;
  const data = new Int32Array(tokens * k);
  for (let t = 0; t < tokens; t++) {
    const order = [...Array(e).keys()].sort((a, b) => u[t * e + a] - u[t * e + b]);
    for (let j = 0; j < k; j++) data[t * k + j] = dropEvery > 0 && (t * k + j) % dropEvery === 0 ? -1 : order[j];
  }
  return { dtype: 'i32', shape: [tokens, k], data };
}

interface Runs {
  graph: Record<string, Tensor>;
  kernel: Record<string, Tensor>;
}

/** Runs `main` with the graph interpreter and the program (after a text round trip) with the kernel interpreter. */
function runBoth(m: Module, p: KProgram, tokens: number, inputs: Record<string, Tensor>, f64: boolean, seed = 1): Runs {
  const bindings = { T: tokens };
  const weights = seededWeights(m, seed, bindings);
  const text = printKernelIR(p);
  const back = parseKernelIR(text, 'roundtrip.kir');
  expect(printKernelIR(back)).toBe(text);
  return {
    graph: interpret(m, { bindings, inputs, weights, f64 }),
    kernel: interpretKernelIR(back, { bindings, inputs, weights, f64 }),
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN wins
  }
  return m;
}

function expectClose(got: Tensor, want: Tensor, tol: number): void {
  expect(got.shape).toEqual(want.shape);
  expect(got.data.every((v) => Number.isFinite(v))).toBe(true);
  expect(maxAbsDiff(got.data, want.data)).toBeLessThanOrEqual(tol);
}

/** Columns `from..to-1` of a [rows, cols] tensor, as a flat list. */
function columns(t: Tensor, from: number, to: number): number[] {
  const [rows, cols] = t.shape;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) for (let c = from; c < to; c++) out.push(t.data[r * cols + c]);
  return out;
}

function bits(t: Tensor): number[] {
  return Array.from(t.data);
}

// ---------------------------------------------------------------------------------------
// router

interface RouterCase {
  name: string;
  experts: number;
  k: number;
  score: RouterKernel['score'];
  select: RouterKernel['select'];
  postSoftmax?: boolean;
  normalize?: boolean;
  scale?: number;
  capacity?: number;
  shared?: number;
  bias?: boolean;
  selectBias?: boolean;
  gate?: boolean;
}

const ROUTER_CASES: RouterCase[] = [
  { name: 'mixtral: softmax, top-2, normalised', experts: 8, k: 2, score: 'softmax', select: { kind: 'topk' }, normalize: true },
  { name: 'qwen: softmax, top-4, a gated shared expert', experts: 8, k: 4, score: 'softmax', select: { kind: 'topk' }, shared: 1, gate: true },
  {
    name: 'deepseek-v3: sigmoid, selection bias, group top-k (sum_top2), normalised, scaled, 2 shared experts',
    experts: 16,
    k: 4,
    score: 'sigmoid',
    select: { kind: 'group_topk', groups: 4, topkGroups: 2, groupScore: 'sum_top2' },
    selectBias: true,
    normalize: true,
    scale: 2.5,
    shared: 2,
  },
  { name: 'group top-k scored by max', experts: 8, k: 3, score: 'softmax', select: { kind: 'group_topk', groups: 4, topkGroups: 3, groupScore: 'max' } },
  { name: 'gpt-oss: raw logits with bias, top-4, softmax over the chosen', experts: 8, k: 4, score: 'none', select: { kind: 'topk' }, bias: true, postSoftmax: true },
  { name: 'switch: top-1 with capacity (drops slots)', experts: 4, k: 1, score: 'softmax', select: { kind: 'topk' }, capacity: 1 },
];

/** The router as a kernel program, and `main` as the unfused chain of primitives. */
function routerCase(c: RouterCase): { m: Module; p: KProgram } {
  const D = 8;
  const E = c.experts;
  const S = c.shared ?? 0;
  const weights: Record<string, TensorType> = { router: ty('f32', E, D) };
  if (c.bias) weights.router_bias = ty('f32', E);
  if (c.selectBias) weights.e_bias = ty('f32', E);
  if (c.gate) weights.shared_gate = ty('f32', 1, D);
  const m = newModule(weights);
  addMain(m, (b, w) => {
    const x = b.param('x', ty('f32', T, D));
    const logits = b.add1('matmul', c.bias ? [x, w('router'), w('router_bias')] : [x, w('router')], { transpose_b: true });
    const scores = c.score === 'softmax' ? b.add1('softmax', [logits]) : c.score === 'sigmoid' ? b.add1('sigmoid', [logits]) : logits;
    const selectOn = c.selectBias ? b.add1('add', [scores, w('e_bias')]) : scores;
    const sel = c.select;
    const [values, indices] =
      sel.kind === 'topk'
        ? b.add('topk', [selectOn], { k: c.k })
        : b.add('group_topk', [selectOn], { k: c.k, groups: sel.groups, topk_groups: sel.topkGroups, group_score: sel.groupScore });
    let rw = c.selectBias ? b.add1('gather', [scores, indices], { axis: -1 }) : values;
    if (c.postSoftmax) rw = b.add1('softmax', [rw]);
    if (c.normalize) rw = b.add1('div', [rw, b.add1('sum', [rw], { axis: -1, keepdim: true })]);
    if (c.scale !== undefined) rw = b.add1('mul', [rw, b.add1('const', [], { value: c.scale })]);
    b.result('indices', c.capacity !== undefined ? b.add1('route_capacity', [indices], { experts: E, capacity_factor: c.capacity }) : indices);
    b.result('weights', rw);
    if (c.gate) b.result('gate', b.add1('sigmoid', [b.add1('matmul', [x, w('shared_gate')], { transpose_b: true })]));
  });
  addPack(m);
  const kernel: RouterKernel = {
    kind: 'router',
    x: 'x',
    w: 'router',
    indices: 'idx',
    weights: 'rw',
    experts: E,
    k: c.k,
    score: c.score,
    select: c.select,
    postSoftmax: c.postSoftmax ?? false,
    normalize: c.normalize ?? false,
    scale: c.scale ?? 1,
    shared: S,
    tile: { m: 16, n: E, k: D, mr: 4, nr: 4, vector: 4, note: 'one tile of experts' },
  };
  if (c.bias) kernel.bias = 'router_bias';
  if (c.selectBias) kernel.selectBias = 'e_bias';
  if (c.gate) kernel.sharedGate = 'shared_gate';
  if (c.capacity !== undefined) kernel.capacityFactor = c.capacity;
  const p: KProgram = {
    name: 'router',
    module: m,
    pack: 'pack',
    buffers: [
      { name: 'x', dtype: 'f32', shape: [T, D], kind: 'input' },
      ...Object.entries(weights).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, kind: 'weight' as const })),
      { name: 'idx', dtype: 'i32', shape: [T, c.k + S], kind: 'output' },
      { name: 'rw', dtype: 'f32', shape: [T, c.k + S], kind: 'output' },
    ],
    steps: [kernel],
    inputs: [{ name: 'x', buffer: 'x' }],
    outputs: [
      { name: 'indices', buffer: 'idx' },
      { name: 'weights', buffer: 'rw' },
    ],
  };
  return { m, p };
}

describe('router', () => {
  for (const c of ROUTER_CASES)
    for (const f64 of [false, true])
      it(`${c.name} (${f64 ? 'f64' : 'f32'})`, () => {
        const tokens = 13;
        const { m, p } = routerCase(c);
        const x = randomUniform('x', 7, [tokens, 8], 2, f64);
        const { graph, kernel } = runBoth(m, p, tokens, { x }, f64);
        const S = c.shared ?? 0;
        const cols = c.k + S;
        expect(kernel.indices.shape).toEqual([tokens, cols]);
        expect(columns(kernel.indices, 0, c.k)).toEqual(bits(graph.indices));
        expect(maxAbsDiff(columns(kernel.weights, 0, c.k), graph.weights.data)).toBeLessThanOrEqual(f64 ? F64_TOL : F32_TOL);
        for (let s = 0; s < S; s++) {
          expect(columns(kernel.indices, c.k + s, c.k + s + 1)).toEqual(Array(tokens).fill(c.experts + s));
          const want = c.gate ? bits(graph.gate) : Array(tokens).fill(1);
          expect(maxAbsDiff(columns(kernel.weights, c.k + s, c.k + s + 1), want)).toBeLessThanOrEqual(f64 ? F64_TOL : F32_TOL);
        }
        if (c.capacity !== undefined) expect(bits(kernel.indices)).toContain(-1); // the case does drop slots
      });
});

// ---------------------------------------------------------------------------------------
// moe_align

describe('moe_align', () => {
  const E = 5;
  const K = 3;
  const B = 4;

  function alignRun(idx: Tensor): { sorted: number[]; blockExpert: number[]; count: number; slots: number[]; offsets: number[] } {
    const tokens = idx.shape[0];
    const m = newModule({});
    addMain(m, (b) => {
      const i = b.param('idx', ty('i32', T, K));
      const [slots, offsets] = b.add('moe_permute', [i], { experts: E });
      b.result('slots', slots);
      b.result('offsets', offsets);
    });
    addPack(m);
    const p = program(
      `
      input idx -> idx
      output sorted -> sorted
      output block_expert -> be
      output count -> cnt
      buffer idx: i32[T, ${K}] input
      buffer sorted: i32[${K}*T+${E * (B - 1)}] output
      buffer be: i32[T+${E}] output
      buffer cnt: i32[1] output
      moe_align(indices=idx) -> (sorted=sorted, block_expert=be, count=cnt) {experts=${E}, k=${K}, block=${B}}
      `,
      m,
    );
    const { graph, kernel } = runBoth(m, p, tokens, { idx }, false);
    return { sorted: bits(kernel.sorted), blockExpert: bits(kernel.block_expert), count: kernel.count.data[0], slots: bits(graph.slots), offsets: bits(graph.offsets) };
  }

  for (const [name, tokens, dropEvery] of [
    ['13 tokens', 13, 0],
    ['13 tokens, some slots dropped', 13, 4],
    ['1 token (experts without tokens get no block)', 1, 0],
  ] as const)
    it(`groups slots by expert in padded blocks, like moe_permute: ${name}`, () => {
      const idx = routing(tokens, K, E - 1, 3, dropEvery); // expert E-1 is never chosen
      const r = alignRun(idx);
      const perExpert = new Map<number, number[]>();
      const blocks = r.count / B;
      expect(Number.isInteger(blocks)).toBe(true);
      for (let b = 0; b < blocks; b++) {
        const e = r.blockExpert[b];
        expect(e).toBeGreaterThanOrEqual(0);
        const rows = r.sorted.slice(b * B, (b + 1) * B);
        const used = rows.filter((s) => s !== -1);
        expect(rows).toEqual([...used, ...Array(B - used.length).fill(-1)]); // padding at the end of a block
        perExpert.set(e, [...(perExpert.get(e) ?? []), ...used]);
      }
      // Each expert's rows are moe_permute's slots for it, in the same (slot) order; no block for unchosen experts.
      for (let e = 0; e < E; e++) {
        const want = r.slots.slice(r.offsets[e], r.offsets[e + 1]);
        expect(perExpert.get(e) ?? []).toEqual(want);
        if (want.length === 0) expect(perExpert.has(e)).toBe(false);
        else expect(r.blockExpert.filter((x) => x === e).length).toBe(Math.ceil(want.length / B));
      }
      expect(r.count).toBe([...perExpert.values()].reduce((acc, s) => acc + Math.ceil(s.length / B) * B, 0));
      expect(r.sorted.slice(r.count).every((s) => s === -1)).toBe(true);
      expect(r.blockExpert.slice(blocks).every((e) => e === -1)).toBe(true);
      expect(r.sorted.filter((s) => s !== -1).length).toBe(bits(idx).filter((e) => e !== -1).length); // dropped slots are left out
    });

  it('rejects an expert index outside -1..E-1 (E505)', () => {
    const idx = routing(2, K, E, 3);
    idx.data[1] = E;
    let code = '';
    try {
      alignRun(idx);
    } catch (e) {
      code = e instanceof MoecError ? e.diagnostics[0].code : String(e);
    }
    expect(code).toBe('E505');
  });
});

// ---------------------------------------------------------------------------------------
// grouped_gemm with epilogues

interface ExpertCase {
  name: string;
  /** `swiglu`/`swiglu_clamped` gate the first GEMM's output; the others apply an activation. */
  act: 'swiglu' | 'swiglu_clamped' | 'gelu' | 'relu';
  layout?: 'concat' | 'interleaved';
  transB: boolean;
  biases?: boolean;
  residual: boolean;
  dropEvery?: number;
}

const EXPERT_CASES: ExpertCase[] = [
  { name: 'swiglu (concat), combine onto a residual', act: 'swiglu', layout: 'concat', transB: true, residual: true },
  { name: 'swiglu (interleaved), combine from zero, dropped slots', act: 'swiglu', layout: 'interleaved', transB: true, residual: false, dropEvery: 3 },
  { name: 'swiglu_clamped (interleaved) with biases (gpt-oss)', act: 'swiglu_clamped', layout: 'interleaved', transB: true, biases: true, residual: true },
  { name: 'swiglu_clamped (concat) with biases, dropped slots', act: 'swiglu_clamped', layout: 'concat', transB: true, biases: true, residual: false, dropEvery: 4 },
  { name: 'gelu, weights [E, in, out], biases', act: 'gelu', transB: false, biases: true, residual: true },
  { name: 'relu, weights [E, in, out]', act: 'relu', transB: false, residual: false, dropEvery: 5 },
];

const E = 4;
const D = 8;
const F = 6;
const K = 3;
const LIMIT = 0.9; // small, so the clamps bite
const ALPHA = 1.702;

/** The experts as moe_align → grouped_gemm (+ epilogues) → grouped_gemm (+ combine), and `main` unfused. */
function expertCase(c: ExpertCase, sortedFromTokens: number, hOutput = false): { m: Module; p: KProgram } {
  const gated = c.act === 'swiglu' || c.act === 'swiglu_clamped';
  const wIn = (n: number): TensorType => (c.transB ? ty('f32', E, n, D) : ty('f32', E, D, n));
  const wOut = c.transB ? ty('f32', E, D, F) : ty('f32', E, F, D);
  const weights: Record<string, TensorType> = gated ? { w_gate: wIn(F), w_up: wIn(F), w_down: wOut } : { w1: wIn(F), w_down: wOut };
  if (c.biases) Object.assign(weights, gated ? { b_gate: ty('f32', E, F), b_up: ty('f32', E, F) } : { b1: ty('f32', E, F) }, { b_down: ty('f32', E, D) });
  const m = newModule(weights);
  addMain(m, (b, w) => {
    const x = b.param('x', ty('f32', T, D));
    const idx = b.param('idx', ty('i32', T, K));
    const rw = b.param('rw', ty('f32', T, K));
    const [slots, offsets] = b.add('moe_permute', [idx], { experts: E });
    const xs = b.add1('moe_dispatch', [x, slots, offsets], { k: K });
    const tb = { transpose_b: c.transB };
    const gmm = (a: Value, wname: string, bname: string): Value => b.add1('grouped_matmul', c.biases ? [a, w(wname), offsets, w(bname)] : [a, w(wname), offsets], tb);
    let h: Value;
    if (c.act === 'swiglu') h = b.add1('mul', [b.add1('silu', [gmm(xs, 'w_gate', 'b_gate')]), gmm(xs, 'w_up', 'b_up')]);
    else if (c.act === 'swiglu_clamped') {
      const g = b.add1('clamp', [gmm(xs, 'w_gate', 'b_gate')], { max: LIMIT });
      const u = b.add1('clamp', [gmm(xs, 'w_up', 'b_up')], { min: -LIMIT, max: LIMIT });
      const one = b.add1('const', [], { value: 1 });
      const alpha = b.add1('const', [], { value: ALPHA });
      h = b.add1('mul', [b.add1('mul', [b.add1('add', [u, one]), g]), b.add1('sigmoid', [b.add1('mul', [g, alpha])])]);
    } else h = b.add1(c.act, [gmm(xs, 'w1', 'b1')]);
    const combined = b.add1('moe_combine', [gmm(h, 'w_down', 'b_down'), slots, offsets, rw]);
    b.result('y', c.residual ? b.add1('add', [x, combined]) : combined);
  });
  // pack: gate and up become one matrix (and one bias), side by side or interleaved per column.
  const axis = c.transB ? 1 : 2;
  addPack(m, (b, w) => {
    const join = (g: Value, u: Value, rowAxis: number, shape: Dim[]): Value => {
      if (c.layout === 'concat') return b.add1('concat', [g, u], { axis: rowAxis });
      const split = (v: Value): Value => b.add1('reshape', [v], { shape: [...shape.slice(0, rowAxis), F, 1, ...shape.slice(rowAxis + 1)] });
      const both = b.add1('concat', [split(g), split(u)], { axis: rowAxis + 1 });
      return b.add1('reshape', [both], { shape: [...shape.slice(0, rowAxis), 2 * F, ...shape.slice(rowAxis + 1)] });
    };
    if (gated) {
      b.result('w_in', join(w('w_gate'), w('w_up'), axis, wIn(F).shape));
      if (c.biases) b.result('b_in', join(w('b_gate'), w('b_up'), 1, [E, F]));
    } else {
      b.result('w_in', w('w1'));
      if (c.biases) b.result('b_in', w('b1'));
    }
    b.result('w_out', w('w_down'));
    if (c.biases) b.result('b_out', w('b_down'));
  });
  const n = gated ? 2 * F : F;
  const rows = `${K}*T+${E * 3}`; // T*K + E*(block-1), block 4
  const first = [c.biases ? 'bias(b_in)' : '', gated ? `glu(${c.act}, ${c.layout}${c.act === 'swiglu_clamped' ? `, limit=${LIMIT}, alpha=${ALPHA}` : ''})` : `act(${c.act})`];
  const second = [c.biases ? 'bias(b_out)' : '', 'combine(rw)'];
  const list = (xs: string[]): string => xs.filter((s) => s !== '').join(', ');
  const align = 'indices=idx, sorted=sorted, block_expert=be, count=cnt';
  const attrs = (gather: boolean): string => `{gather=${gather}, trans_b=${c.transB}, k=${K}, sorted_from_tokens=${sortedFromTokens}}`;
  const p = program(
    `
    input x -> x
    input idx -> idx
    input rw -> rw
    output y -> y
    ${hOutput ? 'output h -> h' : ''}
    buffer x: f32[T, ${D}] input
    buffer idx: i32[T, ${K}] input
    buffer rw: f32[T, ${K}] input
    buffer y: f32[T, ${D}] output
    buffer w_in: f32[${(c.transB ? [E, n, D] : [E, D, n]).join(', ')}] weight
    buffer w_out: f32[${wOut.shape.join(', ')}] weight
    ${c.biases ? `buffer b_in: f32[${E}, ${n}] weight\n    buffer b_out: f32[${E}, ${D}] weight` : ''}
    buffer sorted: i32[${rows}] temp
    buffer be: i32[T+${E}] temp
    buffer cnt: i32[1] temp
    buffer h: f32[${rows}, ${F}] ${hOutput ? 'output' : 'temp'}

    moe_align(indices=idx) -> (sorted=sorted, block_expert=be, count=cnt) {experts=${E}, k=${K}, block=4}
    grouped_gemm(a=x, w=w_in, ${align}) -> (out=h) ${attrs(true)} epilogue[${list(first)}] tile(m=4, n=${Math.ceil(n / 4) * 4}, k=${D}, mr=4, nr=4, vector=4)
    grouped_gemm(a=h, w=w_out, ${align}${c.residual ? ', init=x' : ''}) -> (out=y) ${attrs(false)} epilogue[${list(second)}]
    `,
    m,
  );
  return { m, p };
}

describe('grouped_gemm: expert GEMMs with epilogues, against moe_permute → dispatch → grouped_matmul → act → grouped_matmul → combine', () => {
  for (const c of EXPERT_CASES)
    for (const tokens of [1, 13])
      for (const f64 of [false, true])
        it(`${c.name}, T=${tokens} (${f64 ? 'f64' : 'f32'})`, () => {
          const x = randomUniform('x', 5, [tokens, D], 1, f64);
          const idx = routing(tokens, K, E, 9, c.dropEvery);
          const rw = randomUniform('rw', 5, [tokens, K], 1, f64);
          const inputs = { x, idx, rw };
          // Decode path (T < sorted_from_tokens) and sorted path (T >= it, 0 here).
          const decode = runBoth(...Object.values(expertCase(c, 1000)) as [Module, KProgram], tokens, inputs, f64);
          const sorted = runBoth(...Object.values(expertCase(c, 0)) as [Module, KProgram], tokens, inputs, f64);
          // In float64 nothing is rounded and the kernels sum in the graph's order (dot products
          // over k, then bias; combine over choices 0..K-1, then the residual), so the results
          // are not just within 1e-12 but identical.
          const tol = f64 ? 0 : F32_TOL;
          expectClose(sorted.kernel.y, sorted.graph.y, tol);
          expectClose(decode.kernel.y, decode.graph.y, tol);
          expect(bits(decode.kernel.y)).toEqual(bits(sorted.kernel.y));
        });

  it('padding rows are poisoned (NaN) and never reach the output; a token with every slot dropped gets only its residual', () => {
    const tokens = 5;
    const c = EXPERT_CASES[0];
    const x = randomUniform('x', 5, [tokens, D], 1);
    const idx = routing(tokens, K, E, 9);
    idx.data.fill(-1, 2 * K, 3 * K); // token 2 loses every choice
    const rw = randomUniform('rw', 5, [tokens, K], 1);
    const { m, p } = expertCase(c, 0, true);
    const { graph, kernel } = runBoth(m, p, tokens, { x, idx, rw }, false);
    const h = kernel.h;
    const paddedRows = [...Array(h.shape[0]).keys()].filter((r) => Number.isNaN(h.data[r * F]));
    expect(paddedRows.length).toBeGreaterThan(0); // 12 slots in blocks of 4 over 4 experts: padding exists
    expectClose(kernel.y, graph.y, F32_TOL);
    expect(bits(kernel.y).slice(2 * D, 3 * D)).toEqual(bits(x).slice(2 * D, 3 * D)); // exactly x[2]: nothing added
  });

  it('in the decode path, non-combine rows are slots (row t*K + k)', () => {
    const tokens = 3;
    const c = EXPERT_CASES[0];
    const x = randomUniform('x', 5, [tokens, D], 1);
    const idx = routing(tokens, K, E, 9);
    idx.data[4] = -1;
    const rw = randomUniform('rw', 5, [tokens, K], 1);
    const { m, p } = expertCase(c, 1000, true);
    const { kernel } = runBoth(m, p, tokens, { x, idx, rw }, false);
    const written = [...Array(kernel.h.shape[0]).keys()].filter((r) => !Number.isNaN(kernel.h.data[r * F]));
    expect(written).toEqual([0, 1, 2, 3, 5, 6, 7, 8]); // slot 4 was dropped; rows past T*K untouched
  });
});

// ---------------------------------------------------------------------------------------
// gemm

describe('gemm against matmul (+ bias) and the elementwise ops', () => {
  const cases: Array<{ name: string; transB: boolean; epilogue: string; build: (b: FuncBuilder, w: (n: string) => Value, x: Value) => Value; out: number; weights: Record<string, TensorType>; pack?: 'concat' }> = [
    {
      name: 'bias + gelu, weight [out, in]',
      transB: true,
      epilogue: 'epilogue[bias(b), act(gelu)]',
      weights: { w: ty('f32', 12, D), b: ty('f32', 12) },
      out: 12,
      build: (b, w, x) => b.add1('gelu', [b.add1('matmul', [x, w('w'), w('b')], { transpose_b: true })]),
    },
    {
      name: 'gelu_tanh then sigmoid, weight [in, out]',
      transB: false,
      epilogue: 'epilogue[act(gelu_tanh), act(sigmoid)]',
      weights: { w: ty('f32', D, 12) },
      out: 12,
      build: (b, w, x) => b.add1('sigmoid', [b.add1('gelu', [b.add1('matmul', [x, w('w')])], { approximate: 'tanh' })]),
    },
    {
      name: 'no epilogue',
      transB: true,
      epilogue: '',
      weights: { w: ty('f32', 5, D) },
      out: 5,
      build: (b, w, x) => b.add1('matmul', [x, w('w')], { transpose_b: true }),
    },
    {
      name: 'swiglu over concatenated gate and up (a dense shared expert)',
      transB: true,
      epilogue: 'epilogue[glu(swiglu, concat)]',
      weights: { w_gate: ty('f32', F, D), w_up: ty('f32', F, D) },
      out: F,
      pack: 'concat',
      build: (b, w, x) => b.add1('mul', [b.add1('silu', [b.add1('matmul', [x, w('w_gate')], { transpose_b: true })]), b.add1('matmul', [x, w('w_up')], { transpose_b: true })]),
    },
  ];
  for (const c of cases)
    for (const f64 of [false, true])
      it(`${c.name} (${f64 ? 'f64' : 'f32'})`, () => {
        const m = newModule(c.weights);
        addMain(m, (b, w) => b.result('y', c.build(b, w, b.param('x', ty('f32', T, D)))));
        addPack(m, c.pack ? (b, w) => b.result('w', b.add1('concat', [w('w_gate'), w('w_up')], { axis: 0 })) : undefined);
        const wShape = c.pack ? [2 * F, D] : c.weights.w.shape;
        const p = program(
          `
          input x -> x
          output y -> y
          buffer x: f32[T, ${D}] input
          buffer y: f32[T, ${c.out}] output
          buffer w: f32[${wShape.join(', ')}] weight
          ${c.weights.b ? 'buffer b: f32[12] weight' : ''}
          gemm(a=x, w=w) -> (out=y) {trans_b=${c.transB}} ${c.epilogue} tile(m=4, n=4, k=8, mr=2, nr=2, vector=1, note="tiny")
          `,
          m,
        );
        const tokens = 7;
        const { graph, kernel } = runBoth(m, p, tokens, { x: randomUniform('x', 2, [tokens, D], 1, f64) }, f64);
        expectClose(kernel.y, graph.y, f64 ? F64_TOL : F32_TOL);
      });
});

// ---------------------------------------------------------------------------------------
// op

describe('op kernels run the graph kernel', () => {
  it('rmsnorm, softmax and reshape agree bit for bit; f16 buffers are rounded like the graph', () => {
    for (const dtype of ['f32', 'f16'] as const) {
      const m = newModule({ norm: ty(dtype, D) });
      addMain(m, (b, w) => {
        const x = b.param('x', ty(dtype, T, D));
        const n = b.add1('rmsnorm', [x, w('norm')], { eps: 1e-5 });
        b.result('y', b.add1('reshape', [b.add1('softmax', [n], { axis: -1 })], { shape: [D, T] }));
      });
      addPack(m);
      const p = program(
        `
        input x -> x
        output y -> y
        buffer x: ${dtype}[T, ${D}] input
        buffer norm: ${dtype}[${D}] weight
        buffer n: ${dtype}[T, ${D}] temp
        buffer s: ${dtype}[T, ${D}] temp
        buffer y: ${dtype}[${D}, T] output
        op rmsnorm(x, norm) -> (n) {eps=0.00001}
        op softmax(n) -> (s)
        op reshape(s) -> (y) {shape=[${D}, T]}
        `,
        m,
      );
      const tokens = 3;
      const x = { ...randomUniform('x', 4, [tokens, D], 3), dtype };
      const weights = { norm: { ...randomUniform('norm', 4, [D], 1), dtype } };
      const graph = interpret(m, { bindings: { T: tokens }, inputs: { x }, weights });
      const kernel = interpretKernelIR(p, { bindings: { T: tokens }, inputs: { x }, weights });
      expect(kernel.y.shape).toEqual([D, tokens]);
      expect(bits(kernel.y)).toEqual(bits(graph.y));
    }
  });
});

// ---------------------------------------------------------------------------------------
// loop

describe('loop: a stack of MoE layers against repeat', () => {
  const L = 3;

  function layers(sortedFromTokens: number, declared: boolean): { m: Module; p: KProgram } {
    const m = newModule({
      norm: ty('f32', L, D),
      router: ty('f32', L, E, D),
      w_gate: ty('f32', L, E, F, D),
      w_up: ty('f32', L, E, F, D),
      w_down: ty('f32', L, E, D, F),
    });
    // The body: rmsnorm → router (softmax, top-2, normalised) → experts (swiglu) → + residual.
    const body = new FuncBuilder('layer', m);
    const h = body.param('h', ty('f32', T, D));
    const [norm, router, wg, wu, wd] = [
      ['norm', [D]],
      ['router', [E, D]],
      ['wg', [E, F, D]],
      ['wu', [E, F, D]],
      ['wd', [E, D, F]],
    ].map(([name, shape]) => body.param(name as string, ty('f32', ...(shape as number[]))));
    const hn = body.add1('rmsnorm', [h, norm], { eps: 1e-6 });
    const [values, indices] = body.add('topk', [body.add1('softmax', [body.add1('matmul', [hn, router], { transpose_b: true })])], { k: K });
    const rw = body.add1('div', [values, body.add1('sum', [values], { axis: -1, keepdim: true })]);
    const [slots, offsets] = body.add('moe_permute', [indices], { experts: E });
    const xs = body.add1('moe_dispatch', [hn, slots, offsets], { k: K });
    const gmm = (a: Value, w: Value): Value => body.add1('grouped_matmul', [a, w, offsets], { transpose_b: true });
    const act = body.add1('mul', [body.add1('silu', [gmm(xs, wg)]), gmm(xs, wu)]);
    body.result('h', body.add1('add', [h, body.add1('moe_combine', [gmm(act, wd), slots, offsets, rw])]));
    m.funcs.push(body.func);
    addMain(m, (b, w) => {
      const x = b.param('x', ty('f32', T, D));
      b.result('y', b.add1('repeat', [x, w('norm'), w('router'), w('w_gate'), w('w_up'), w('w_down')], { body: 'layer', count: L, carried: 1 }));
    });
    addPack(m, (b, w) => {
      b.result('norm', w('norm'));
      b.result('router', w('router'));
      b.result('w_in', b.add1('concat', [w('w_gate'), w('w_up')], { axis: 2 }));
      b.result('w_out', w('w_down'));
    });
    // Two spellings of the same loop: slices as undeclared views with the carried value in
    // the output buffer, or (as lower-kernels writes it) every body buffer declared under a
    // `layer.` prefix, slices included, the carried value filled by `init` and the output
    // read from the body's last result.
    const n = (name: string): string => (declared ? `layer.${name}` : name);
    const carriedH = declared ? 'layer.h' : 'y';
    const slice = (name: string): string => (declared ? `layer.${name}` : `${name}_i`);
    const rows = `${K}*T+${E * 3}`;
    const align = `indices=${n('idx')}, sorted=${n('sorted')}, block_expert=${n('be')}, count=${n('cnt')}`;
    const decls = declared
      ? `buffer layer.h: f32[T, ${D}] temp
      buffer layer.norm: f32[${D}] weight
      buffer layer.router: f32[${E}, ${D}] weight
      buffer layer.w_in: f32[${E}, ${2 * F}, ${D}] weight
      buffer layer.w_out: f32[${E}, ${D}, ${F}] weight
      buffer layer.h2: f32[T, ${D}] output`
      : `buffer y: f32[T, ${D}] output
      buffer h2: f32[T, ${D}] temp`;
    const p = program(
      `
      input x -> x
      output y -> ${declared ? 'layer.h2' : 'y'}
      buffer x: f32[T, ${D}] input
      buffer norm: f32[${L}, ${D}] weight
      buffer router: f32[${L}, ${E}, ${D}] weight
      buffer w_in: f32[${L}, ${E}, ${2 * F}, ${D}] weight
      buffer w_out: f32[${L}, ${E}, ${D}, ${F}] weight
      ${decls}
      buffer ${n('hn')}: f32[T, ${D}] temp
      buffer ${n('idx')}: i32[T, ${K}] temp
      buffer ${n('rw')}: f32[T, ${K}] temp
      buffer ${n('sorted')}: i32[${rows}] temp
      buffer ${n('be')}: i32[T+${E}] temp
      buffer ${n('cnt')}: i32[1] temp
      buffer ${n('mid')}: f32[${rows}, ${F}] temp

      ${declared ? '' : `op reshape(x) -> (y) {shape=[T, ${D}]}`}
      loop ${L} ${declared ? 'init(x -> layer.h) ' : ''}slices(norm -> ${slice('norm')}, router -> ${slice('router')}, w_in -> ${slice('w_in')}, w_out -> ${slice('w_out')}) carried(${n('h2')} -> ${carriedH}) {
        op rmsnorm(${carriedH}, ${slice('norm')}) -> (${n('hn')}) {eps=0.000001}
        router(x=${n('hn')}, w=${slice('router')}) -> (indices=${n('idx')}, weights=${n('rw')}) {experts=${E}, k=${K}, score="softmax", select="topk", post_softmax=false, normalize=true, scale=1, shared=0}
        moe_align(indices=${n('idx')}) -> (sorted=${n('sorted')}, block_expert=${n('be')}, count=${n('cnt')}) {experts=${E}, k=${K}, block=4}
        grouped_gemm(a=${n('hn')}, w=${slice('w_in')}, ${align}) -> (out=${n('mid')}) {gather=true, trans_b=true, k=${K}, sorted_from_tokens=${sortedFromTokens}} epilogue[glu(swiglu, concat)]
        grouped_gemm(a=${n('mid')}, w=${slice('w_out')}, ${align}, init=${carriedH}) -> (out=${n('h2')}) {gather=false, trans_b=true, k=${K}, sorted_from_tokens=${sortedFromTokens}} epilogue[combine(${n('rw')})]
      }
      `,
      m,
    );
    return { m, p };
  }

  for (const declared of [false, true])
    for (const f64 of [false, true])
      it(`3 layers with stacked weights sliced per iteration, carried residual${declared ? ', declared slices and init' : ''} (${f64 ? 'f64' : 'f32'})`, () => {
        const tokens = 11;
        const x = randomUniform('x', 8, [tokens, D], 1, f64);
        const sorted = runBoth(...(Object.values(layers(0, declared)) as [Module, KProgram]), tokens, { x }, f64);
        const decode = runBoth(...(Object.values(layers(64, declared)) as [Module, KProgram]), tokens, { x }, f64);
        expectClose(sorted.kernel.y, sorted.graph.y, f64 ? 0 : F32_TOL);
        expect(bits(decode.kernel.y)).toEqual(bits(sorted.kernel.y));
      });
});

// ---------------------------------------------------------------------------------------
// Run-time checks.

describe('run-time checks', () => {
  function tiny(): { m: Module; p: KProgram } {
    const m = newModule({ w: ty('f32', 4, D) });
    addMain(m, (b) => b.result('y', b.param('x', ty('f32', T, D))));
    addPack(m);
    const p = program(
      `
      input x -> x
      output y -> y
      buffer x: f32[T, ${D}] input
      buffer w: f32[4, ${D}] weight
      buffer y: f32[T, 4] output
      gemm(a=x, w=w) -> (out=y) {trans_b=true}
      `,
      m,
    );
    return { m, p };
  }
  const codeOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      if (e instanceof MoecError) return `${e.diagnostics[0].code}: ${e.diagnostics[0].message}`;
      throw e;
    }
    return 'nothing thrown';
  };
  const w = { w: randomUniform('w', 1, [4, D], 1) };

  it('refuses an invalid program (E402), a missing or mismatched input (E503, E504), a bad binding (E505)', () => {
    const { p } = tiny();
    (p.steps[0] as Extract<Kernel, { kind: 'gemm' }>).w = 'ww';
    expect(codeOf(() => interpretKernelIR(p, { bindings: { T: 2 }, inputs: {}, weights: w }))).toBe('E402: step 1 (gemm): w ww is not a declared buffer (did you mean `w`?)');
    const ok = tiny().p;
    expect(codeOf(() => interpretKernelIR(ok, { bindings: { T: 2 }, inputs: {}, weights: w }))).toBe("E503: missing input 'x': expected f32[2, 8]");
    expect(codeOf(() => interpretKernelIR(ok, { bindings: { T: 2 }, inputs: { x: randomUniform('x', 1, [3, D], 1) }, weights: w }))).toBe(
      "E504: input 'x' is f32[3, 8], expected f32[2, 8]",
    );
    expect(codeOf(() => interpretKernelIR(ok, { bindings: { T: 65 }, inputs: {}, weights: w }))).toContain('E505: T = 65 is over its bound 64');
    expect(codeOf(() => interpretKernelIR(ok, { bindings: { T: 2 }, inputs: { x: randomUniform('x', 1, [2, D], 1) }, weights: {} }))).toContain("E503: missing weight 'w'");
  });
});
