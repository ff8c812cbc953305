/**
 * The reference interpreter, op by op: small modules built with FuncBuilder, checked against
 * hand-computed numbers; plus the run-time checks (bindings, inputs, weights, size guard).
 */
import { describe, expect, it } from 'vitest';
import { MoecError } from '../ir/diagnostics.ts';
import { FuncBuilder } from '../ir/graph/builder.ts';
import { type Dim, sym } from '../ir/dims.ts';
import { type Attrs, type Module, Value, type WeightDecl } from '../ir/graph/graph.ts';
import { erf, erfc, expertCapacity, interpret, type InterpretOptions } from '../ir/graph/interp.ts';
import { KERNELS } from '../ir/graph/interp-kernels.ts';
import { getOp, opNames } from '../ir/graph/ops.ts';
import { FUSED_KERNELS } from '../ir/graph/interp-fused.ts';
import type { Tensor } from '../ir/tensor.ts';
import type { DType } from '../ir/types.ts';

// ---------------------------------------------------------------------------------------
// Helpers.

function tensor(shape: number[], values: number[], dtype: DType = 'f32'): Tensor {
  const data = dtype === 'i32' || dtype === 'i8' || dtype === 'u8' || dtype === 'bool' ? Int32Array.from(values) : Float32Array.from(values);
  return { dtype, shape, data };
}

function emptyModule(dims: Module['dims'] = [], weights: WeightDecl[] = []): Module {
  return { name: 'test', dims, weights, funcs: [] };
}

/** Runs one op on concrete inputs (as params of main) and returns its results in order. */
function runOp(op: string, inputs: Tensor[], attrs: Attrs = {}, opts: Partial<InterpretOptions> = {}): Tensor[] {
  const m = emptyModule();
  const b = new FuncBuilder('main', m);
  m.funcs.push(b.func);
  const params = inputs.map((t, i) => b.param(`in${i}`, { dtype: t.dtype, shape: t.shape }));
  const outs = b.add(op, params, attrs);
  const names = getOp(op)!.results;
  outs.forEach((v, i) => b.result(names[i] ?? `r${i}`, v));
  const byName: Record<string, Tensor> = {};
  params.forEach((p, i) => (byName[p.name] = inputs[i]));
  const res = interpret(m, { bindings: {}, inputs: byName, weights: {}, ...opts });
  return outs.map((_, i) => res[names[i] ?? `r${i}`]);
}

function run1(op: string, inputs: Tensor[], attrs: Attrs = {}, opts: Partial<InterpretOptions> = {}): Tensor {
  return runOp(op, inputs, attrs, opts)[0];
}

/** Asserts every element is within `tol` of the expected value (NaN must match NaN). */
function expectClose(got: ArrayLike<number>, want: readonly number[], tol = 1e-6): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) expect(got[i], `element ${i}`).toBeNaN();
    else if (!Number.isFinite(want[i])) expect(got[i], `element ${i}`).toBe(want[i]);
    else expect(Math.abs(got[i] - want[i]), `element ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol);
  }
}

/** The code of the MoecError `fn` throws (fails the test if it throws nothing or something else). */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof MoecError) return e.diagnostics[0].code;
    throw e;
  }
  throw new Error('expected a MoecError, nothing was thrown');
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error, nothing was thrown');
}

const f32 = Math.fround;

it('has a kernel for every op of the catalogue', () => {
  expect(opNames().filter((op) => !(op in KERNELS) && !(op in FUSED_KERNELS))).toEqual([]);
});

// ---------------------------------------------------------------------------------------
// Elementwise.

describe('elementwise ops', () => {
  const xs = [-2, -0.5, 0, 1, 3];
  const x = tensor([5], xs);
  const cases: Array<[string, (v: number) => number]> = [
    ['neg', (v) => -v],
    ['exp', Math.exp],
    ['abs', Math.abs],
    ['sigmoid', (v) => 1 / (1 + Math.exp(-v))],
    ['silu', (v) => v / (1 + Math.exp(-v))],
    ['relu', (v) => Math.max(v, 0)],
    ['tanh', Math.tanh],
  ];
  for (const [op, fn] of cases)
    it(op, () => {
      const out = run1(op, [x]);
      expect(out.data).toBeInstanceOf(Float32Array);
      expect(Array.from(out.data)).toEqual(xs.map((v) => f32(fn(v))));
    });

  it('log, sqrt and rsqrt, with NaN for negative inputs', () => {
    const p = tensor([4], [-1, 0.25, 1, 4]);
    expectClose(run1('log', [p]).data, [NaN, Math.log(0.25), 0, Math.log(4)]);
    expectClose(run1('sqrt', [p]).data, [NaN, 0.5, 1, 2]);
    expectClose(run1('rsqrt', [p]).data, [NaN, 2, 1, 0.5]);
  });

  it('relu keeps NaN', () => {
    expectClose(run1('relu', [tensor([3], [NaN, -1, 2])]).data, [NaN, 0, 2]);
  });

  it('gelu: exact erf and tanh approximation', () => {
    const g = tensor([4], [1, -1, -5, 0.5]);
    expectClose(run1('gelu', [g]).data, [0.8413447460685429, -0.15865525393145707, -1.4332578593959731e-6, 0.34573123063700656], 1e-7);
    const t = tensor([3], [1, -1, -3]);
    expectClose(run1('gelu', [t], { approximate: 'tanh' }).data, [0.8411919906082768, -0.15880800939172324, -0.0036373920817729943], 1e-7);
    // gelu(-5) is tiny: check it relative to its size too.
    const tiny = run1('gelu', [tensor([1], [-5])], {}, { f64: true }).data[0];
    expect(Math.abs(tiny / -1.4332578593959731e-6 - 1)).toBeLessThan(1e-12);
  });

  it('erf and erfc are accurate to 1e-12', () => {
    const refs: Array<[number, number, number]> = [
      // x, erf(x), erfc(x) (Python's math.erf / math.erfc)
      [0.5, 0.5204998778130465, 0.4795001221869535],
      [1, 0.8427007929497149, 0.15729920705028513],
      [2, 0.9953222650189527, 0.004677734981047265],
      [2.5, 0.999593047982555, 0.0004069520174449589],
      [3, 0.9999779095030014, 2.2090496998585438e-5],
      [5, 0.9999999999984626, 1.5374597944280351e-12],
    ];
    for (const [v, e, c] of refs) {
      expect(Math.abs(erf(v) - e)).toBeLessThan(1e-15);
      expect(Math.abs(erf(-v) + e)).toBeLessThan(1e-15);
      expect(Math.abs(erfc(v) / c - 1)).toBeLessThan(1e-12);
      expect(Math.abs(erfc(-v) - (2 - c))).toBeLessThan(1e-15);
    }
    expect(erf(0)).toBe(0);
    expect(erf(30)).toBe(1);
    expect(erf(NaN)).toBeNaN();
  });

  it('clamp with either bound absent', () => {
    const c = tensor([5], [-3, -1, 0, 2, NaN]);
    expectClose(run1('clamp', [c], { min: -1, max: 1 }).data, [-1, -1, 0, 1, NaN]);
    expectClose(run1('clamp', [c], { min: 0 }).data, [0, 0, 0, 2, NaN]);
    expectClose(run1('clamp', [c], { max: 0 }).data, [-3, -1, 0, 0, NaN]);
  });
});

describe('binary ops with broadcasting', () => {
  it('same shape', () => {
    const a = tensor([2, 2], [1, 2, 3, 4]);
    const b = tensor([2, 2], [10, 20, 30, 40]);
    expectClose(run1('add', [a, b]).data, [11, 22, 33, 44]);
    expectClose(run1('sub', [a, b]).data, [-9, -18, -27, -36]);
    expectClose(run1('mul', [a, b]).data, [10, 40, 90, 160]);
    expectClose(run1('div', [a, b]).data, [0.1, 0.1, 0.1, 0.1]);
  });

  it('row broadcast [2, 3] + [3] and [3] + [2, 3]', () => {
    const a = tensor([2, 3], [1, 2, 3, 4, 5, 6]);
    const r = tensor([3], [100, 200, 300]);
    expect(run1('add', [a, r]).shape).toEqual([2, 3]);
    expectClose(run1('add', [a, r]).data, [101, 202, 303, 104, 205, 306]);
    expectClose(run1('sub', [r, a]).data, [99, 198, 297, 96, 195, 294]);
  });

  it('scalar on either side', () => {
    const a = tensor([3], [1, 2, 4]);
    const s = tensor([], [2]);
    expectClose(run1('div', [a, s]).data, [0.5, 1, 2]);
    expectClose(run1('div', [s, a]).data, [2, 1, 0.5]);
    expect(run1('mul', [s, s]).shape).toEqual([]);
    expectClose(run1('mul', [s, s]).data, [4]);
  });

  it('column times row: [2, 1] * [1, 3] is an outer product', () => {
    const col = tensor([2, 1], [1, 2]);
    const row = tensor([1, 3], [1, 10, 100]);
    const out = run1('mul', [col, row]);
    expect(out.shape).toEqual([2, 3]);
    expectClose(out.data, [1, 10, 100, 2, 20, 200]);
  });

  it('[2, 1, 3] - [4, 1] broadcasts to [2, 4, 3]', () => {
    const a = tensor([2, 1, 3], [0, 1, 2, 10, 11, 12]);
    const b = tensor([4, 1], [0, 100, 200, 300]);
    const out = run1('sub', [a, b]);
    expect(out.shape).toEqual([2, 4, 3]);
    const want: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 3; k++) want.push([0, 1, 2, 10, 11, 12][i * 3 + k] - 100 * j);
    expectClose(out.data, want);
  });

  it('maximum and minimum propagate NaN', () => {
    const a = tensor([3], [1, NaN, 5]);
    const b = tensor([3], [2, 0, NaN]);
    expectClose(run1('maximum', [a, b]).data, [2, NaN, NaN]);
    expectClose(run1('minimum', [a, b]).data, [1, NaN, NaN]);
  });
});

// ---------------------------------------------------------------------------------------
// Linear algebra and normalisation.

function naiveMatmul(a: number[], b: number[], m: number, k: number, n: number, transB: boolean, bias?: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += a[i * k + q] * (transB ? b[j * k + q] : b[q * n + j]);
      out.push(f32(s + (bias ? bias[j] : 0)));
    }
  return out;
}

function ramp(n: number, scale = 0.1, offset = 0): number[] {
  return Array.from({ length: n }, (_, i) => f32(Math.sin(i * 1.7 + offset) * scale * (1 + (i % 5))));
}

describe('matmul', () => {
  it('a[2, 3] @ b[3, 2]', () => {
    const out = run1('matmul', [tensor([2, 3], [1, 2, 3, 4, 5, 6]), tensor([3, 2], [7, 8, 9, 10, 11, 12])]);
    expect(out.shape).toEqual([2, 2]);
    expect(Array.from(out.data)).toEqual([58, 64, 139, 154]);
  });

  it('transpose_b with bias (a linear layer)', () => {
    const out = run1('matmul', [tensor([1, 3], [1, 2, 3]), tensor([2, 3], [1, 0, 1, 0, 1, 0]), tensor([2], [0.5, -0.5])], { transpose_b: true });
    expect(Array.from(out.data)).toEqual([4.5, 1.5]);
  });

  it('leading dims flatten to rows, with 4-row blocks and a remainder', () => {
    for (const transB of [false, true]) {
      const [m1, m2, k, n] = [3, 3, 5, 4]; // 9 rows: two blocks of 4 and one more
      const a = ramp(m1 * m2 * k);
      const b = ramp(k * n, 0.3, 1);
      const bias = ramp(n, 1, 2);
      const out = run1('matmul', [tensor([m1, m2, k], a), tensor(transB ? [n, k] : [k, n], b), tensor([n], bias)], { transpose_b: transB });
      expect(out.shape).toEqual([m1, m2, n]);
      expect(Array.from(out.data)).toEqual(naiveMatmul(a, b, m1 * m2, k, n, transB, bias));
    }
  });

  it('rank-1 a', () => {
    const out = run1('matmul', [tensor([2], [1, 2]), tensor([2, 2], [1, 2, 3, 4])]);
    expect(out.shape).toEqual([2]);
    expect(Array.from(out.data)).toEqual([7, 10]);
  });
});

describe('softmax, rmsnorm, reductions', () => {
  it('softmax is stable for logits of magnitude 1e4', () => {
    const out = run1('softmax', [tensor([2, 3], [1e4, 1e4 - 1, -1e4, -1e4, -1e4 + 2, -1e4 + 2])]);
    const e1 = Math.exp(-1);
    const e2 = Math.exp(-2);
    expectClose(out.data, [1 / (1 + e1), e1 / (1 + e1), 0, e2 / (2 + e2), 1 / (2 + e2), 1 / (2 + e2)]);
    for (const v of out.data) expect(Number.isFinite(v)).toBe(true);
  });

  it('softmax along axis 0', () => {
    const out = run1('softmax', [tensor([2, 2], [0, 1, Math.log(3), 1])], { axis: 0 });
    expectClose(out.data, [0.25, 0.5, 0.75, 0.5]);
  });

  it('rmsnorm', () => {
    const out = run1('rmsnorm', [tensor([2, 2], [3, 4, 1, 1]), tensor([2], [1, 2])], { eps: 0 });
    const r = Math.sqrt(12.5);
    expectClose(out.data, [3 / r, 8 / r, 1, 2]);
    const e = run1('rmsnorm', [tensor([1, 2], [0, 0]), tensor([2], [1, 1])], { eps: 1e-6 });
    expectClose(e.data, [0, 0]);
  });

  it('sum, mean and amax along any axis, with keepdim', () => {
    const x = tensor([2, 3], [1, 2, 3, 4, 5, 6]);
    expectClose(run1('sum', [x]).data, [6, 15]);
    expect(run1('sum', [x]).shape).toEqual([2]);
    expectClose(run1('sum', [x], { axis: 0 }).data, [5, 7, 9]);
    const kd = run1('mean', [x], { axis: 0, keepdim: true });
    expect(kd.shape).toEqual([1, 3]);
    expectClose(kd.data, [2.5, 3.5, 4.5]);
    expectClose(run1('amax', [x], { axis: 0 }).data, [4, 5, 6]);
    expectClose(run1('amax', [tensor([2, 2], [-Infinity, -5, NaN, 1])]).data, [-5, NaN]);
  });
});

// ---------------------------------------------------------------------------------------
// Selection and indexing.

describe('topk', () => {
  it('sorts descending; ties go to the lower index', () => {
    const [v, i] = runOp('topk', [tensor([2, 5], [1, 3, 3, 2, 3, 0, 0, -1, 0, 0])], { k: 3 });
    expect(v.shape).toEqual([2, 3]);
    expect(Array.from(v.data)).toEqual([3, 3, 3, 0, 0, 0]);
    expect(Array.from(i.data)).toEqual([1, 2, 4, 0, 1, 3]);
    expect(i.dtype).toBe('i32');
  });

  it('NaN ranks above every number (lower index first)', () => {
    const [v, i] = runOp('topk', [tensor([5], [1, NaN, Infinity, NaN, 3])], { k: 4 });
    expectClose(v.data, [NaN, NaN, Infinity, 3]);
    expect(Array.from(i.data)).toEqual([1, 3, 2, 4]);
  });

  it('rejects k larger than a symbolic axis at run time (E505)', () => {
    const m = emptyModule([{ name: 'T' }]);
    const b = new FuncBuilder('main', m);
    m.funcs.push(b.func);
    const x = b.param('x', { dtype: 'f32', shape: [sym('T'), 2] });
    const [v] = b.add('topk', [x], { k: 3, axis: 0 });
    b.result('v', v);
    const run = (t: number) => () => interpret(m, { bindings: { T: t }, inputs: { x: tensor([t, 2], new Array(2 * t).fill(1)) }, weights: {} });
    expect(codeOf(run(2))).toBe('E505');
    expect(Array.from(run(3)().v.data)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('along axis 0', () => {
    const [v, i] = runOp('topk', [tensor([3, 2], [1, 9, 5, 9, 3, 0])], { k: 2, axis: 0 });
    expect(v.shape).toEqual([2, 2]);
    expect(Array.from(v.data)).toEqual([5, 9, 3, 9]);
    expect(Array.from(i.data)).toEqual([1, 0, 2, 1]);
  });
});

describe('group_topk', () => {
  // 8 experts in 4 groups of 2. Group sums of the top two: -95, -3, -3.1, -110, so groups 1
  // and 2 are kept although all their scores are negative. Expert 0 (score 5) is in a
  // masked group and must never be chosen (a 0.0 fill, as in the Hugging Face port, would
  // also rank the masked experts above the kept ones).
  const scores = [5, -100, -1, -2, -1.5, -1.6, -50, -60];

  it('sum_top2: masked experts are never selected, even when they score higher', () => {
    const [v, i] = runOp('group_topk', [tensor([1, 8], scores)], { k: 3, groups: 4, topk_groups: 2 });
    expect(Array.from(i.data)).toEqual([2, 4, 5]);
    expect(Array.from(v.data)).toEqual([-1, -1.5, -1.6].map(f32));
  });

  it('max: the group score is its best expert', () => {
    const [v, i] = runOp('group_topk', [tensor([1, 8], scores)], { k: 2, groups: 4, topk_groups: 2, group_score: 'max' });
    expect(Array.from(i.data)).toEqual([0, 2]);
    expect(Array.from(v.data)).toEqual([5, -1]);
  });

  it('a kept expert scoring -inf still beats every masked expert', () => {
    const [v, i] = runOp('group_topk', [tensor([1, 4], [-Infinity, 1, 0.5, 0.2])], { k: 2, groups: 2, topk_groups: 1, group_score: 'max' });
    expect(Array.from(i.data)).toEqual([1, 0]);
    expect(Array.from(v.data)).toEqual([1, -Infinity]);
  });

  it('tied groups and tied experts go to the lower index, per token', () => {
    const s = tensor([2, 4], [1, 1, 1, 1, 0, 2, 2, 0]);
    const [, i] = runOp('group_topk', [s], { k: 1, groups: 2, topk_groups: 1 });
    expect(Array.from(i.data)).toEqual([0, 1]);
  });
});

describe('indexing and layout ops', () => {
  it('gather along the last axis and along axis 0', () => {
    const x = tensor([2, 3], [10, 11, 12, 20, 21, 22]);
    expect(Array.from(run1('gather', [x, tensor([2, 2], [2, 0, 1, 1], 'i32')]).data)).toEqual([12, 10, 21, 21]);
    expect(Array.from(run1('gather', [x, tensor([1, 3], [1, 0, 1], 'i32')], { axis: 0 }).data)).toEqual([20, 11, 22]);
  });

  it('gather rejects an out-of-range index (E505, naming the op)', () => {
    const x = tensor([1, 3], [1, 2, 3]);
    expect(codeOf(() => run1('gather', [x, tensor([1, 1], [3], 'i32')]))).toBe('E505');
    expect(messageOf(() => run1('gather', [x, tensor([1, 1], [-1], 'i32')]))).toMatch(/gather: index -1/);
  });

  it('concat along axes 0 and 1', () => {
    const a = tensor([1, 2], [1, 2]);
    const b = tensor([2, 2], [3, 4, 5, 6]);
    expect(Array.from(run1('concat', [a, b], { axis: 0 }).data)).toEqual([1, 2, 3, 4, 5, 6]);
    const c = tensor([2, 1], [7, 8]);
    const out = run1('concat', [b, c, b], { axis: 1 });
    expect(out.shape).toEqual([2, 5]);
    expect(Array.from(out.data)).toEqual([3, 4, 7, 3, 4, 5, 6, 8, 5, 6]);
  });

  it('slice with start, end and step', () => {
    const x = tensor([2, 5], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(run1('slice', [x], { start: 1, step: 2 }).data)).toEqual([1, 3, 6, 8]);
    expect(Array.from(run1('slice', [x], { start: 0, end: 5, step: 2 }).data)).toEqual([0, 2, 4, 5, 7, 9]);
    const r = run1('slice', [x], { axis: 0, start: 1, end: 2 });
    expect(r.shape).toEqual([1, 5]);
    expect(Array.from(r.data)).toEqual([5, 6, 7, 8, 9]);
  });

  it('transpose with a general permutation', () => {
    const vals = Array.from({ length: 24 }, (_, i) => i);
    const out = run1('transpose', [tensor([2, 3, 4], vals)], { perm: [2, 0, 1] });
    expect(out.shape).toEqual([4, 2, 3]);
    const want: number[] = [];
    for (let c = 0; c < 4; c++) for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) want.push(a * 12 + b * 4 + c);
    expect(Array.from(out.data)).toEqual(want);
  });

  it('reshape to a symbolic shape', () => {
    const T = sym('T');
    const m = emptyModule([{ name: 'T' }]);
    const b = new FuncBuilder('main', m);
    m.funcs.push(b.func);
    const x = b.param('x', { dtype: 'f32', shape: [T, 4] });
    b.result('y', b.add1('reshape', [x], { shape: [T, 2, 2] as Dim[] }));
    const out = interpret(m, { bindings: { T: 2 }, inputs: { x: tensor([2, 4], [0, 1, 2, 3, 4, 5, 6, 7]) }, weights: {} }).y;
    expect(out.shape).toEqual([2, 2, 2]);
    expect(Array.from(out.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('cast', () => {
  const x = tensor([7], [-2.7, 2.7, 300, -300, NaN, 0.1, 1e10]);
  it('float to int truncates toward zero, saturating', () => {
    expect(Array.from(run1('cast', [x], { dtype: 'i32' }).data)).toEqual([-2, 2, 300, -300, 0, 0, 2147483647]);
    expect(Array.from(run1('cast', [x], { dtype: 'i8' }).data)).toEqual([-2, 2, 127, -128, 0, 0, 127]);
    expect(Array.from(run1('cast', [x], { dtype: 'u8' }).data)).toEqual([0, 2, 255, 0, 0, 0, 255]);
    expect(Array.from(run1('cast', [x], { dtype: 'bool' }).data)).toEqual([1, 1, 1, 1, 1, 1, 1]);
  });

  it('float to f16 and bf16 rounds to nearest even', () => {
    const v = tensor([4], [0.1, 65519, 65520, 1 + 2 ** -11]); // the last is a tie: rounds to even (1)
    const h = run1('cast', [v], { dtype: 'f16' });
    expect(h.dtype).toBe('f16');
    expect(Array.from(h.data)).toEqual([0.0999755859375, 65504, Infinity, 1]);
    expect(Array.from(run1('cast', [tensor([2], [0.1, 1 + 3 * 2 ** -9])], { dtype: 'bf16' }).data)).toEqual([0.10009765625, 1 + 2 ** -7]);
  });

  it('int to float and int to narrower int (wrapping)', () => {
    const i = tensor([3], [-1, 200, 7], 'i32');
    expect(Array.from(run1('cast', [i], { dtype: 'f32' }).data)).toEqual([-1, 200, 7]);
    expect(Array.from(run1('cast', [i], { dtype: 'i8' }).data)).toEqual([-1, -56, 7]);
    expect(Array.from(run1('cast', [i], { dtype: 'u8' }).data)).toEqual([255, 200, 7]);
  });

  it('const makes scalars of any dtype', () => {
    expect(Array.from(run1('const', [], { value: 0.1, dtype: 'f32' }).data)).toEqual([f32(0.1)]);
    expect(Array.from(run1('const', [], { value: -2.5, dtype: 'i32' }).data)).toEqual([-2]);
  });
});

// ---------------------------------------------------------------------------------------
// MoE primitives.

describe('route_capacity', () => {
  it('computes ceil(cf * T * K / E)', () => {
    expect(expertCapacity(1, 6, 1, 2)).toBe(3);
    expect(expertCapacity(1.25, 8, 2, 4)).toBe(5);
    expect(expertCapacity(0.5, 4, 2, 2)).toBe(2);
    expect(expertCapacity(1, 3, 1, 2)).toBe(2);
  });

  it('K = 1: token order; -1 stays -1 and does not count', () => {
    const out = run1('route_capacity', [tensor([6, 1], [0, 0, 1, 0, 0, 1], 'i32')], { experts: 2, capacity_factor: 1 });
    expect(Array.from(out.data)).toEqual([0, 0, 1, 0, -1, 1]);
    const d = run1('route_capacity', [tensor([6, 1], [-1, 0, 0, 0, 0, 1], 'i32')], { experts: 2, capacity_factor: 1 });
    expect(Array.from(d.data)).toEqual([-1, 0, 0, 0, -1, 1]);
  });

  it('K = 2: choice rank first, then token order', () => {
    // capacity 2. Choice 0: t0, t1 -> e0 admitted, t2 -> e1 admitted, t3 -> e0 dropped;
    // choice 1: t0 -> e1 admitted (e1 now full), t1 -> e1, t2 -> e0, t3 -> e1 all dropped.
    // (Token-major order would instead keep [0,1],[0,1] and drop t2 and t3 entirely.)
    const out = run1('route_capacity', [tensor([4, 2], [0, 1, 0, 1, 1, 0, 0, 1], 'i32')], { experts: 2, capacity_factor: 0.5 });
    expect(Array.from(out.data)).toEqual([0, 1, 0, -1, 1, -1, -1, -1]);
  });

  it('rejects an expert index outside 0..E-1', () => {
    expect(codeOf(() => run1('route_capacity', [tensor([1, 1], [2], 'i32')], { experts: 2, capacity_factor: 1 }))).toBe('E505');
  });
});

describe('moe_permute, moe_dispatch, grouped_matmul, moe_combine', () => {
  it('moe_permute: stable by expert, dropped slots last in slot order', () => {
    const [slots, offsets] = runOp('moe_permute', [tensor([3, 2], [1, 0, 1, -1, 0, 2], 'i32')], { experts: 3 });
    expect(Array.from(slots.data)).toEqual([1, 4, 0, 2, 5, 3]);
    expect(Array.from(offsets.data)).toEqual([0, 2, 4, 5]);
  });

  it('moe_permute rejects indices outside -1..E-1', () => {
    expect(codeOf(() => runOp('moe_permute', [tensor([1, 2], [0, 3], 'i32')], { experts: 3 }))).toBe('E505');
    expect(codeOf(() => runOp('moe_permute', [tensor([1, 2], [-2, 0], 'i32')], { experts: 3 }))).toBe('E505');
  });

  /** permute → dispatch → (identity experts) → combine, as one module. */
  function roundTrip(x: Tensor, idx: Tensor, weights: Tensor, experts: number): { rows: Tensor; out: Tensor } {
    const k = idx.shape[1];
    const m = emptyModule();
    const b = new FuncBuilder('main', m);
    m.funcs.push(b.func);
    const px = b.param('x', { dtype: 'f32', shape: x.shape });
    const pi = b.param('idx', { dtype: 'i32', shape: idx.shape });
    const pw = b.param('w', { dtype: 'f32', shape: weights.shape });
    const [slots, offsets] = b.add('moe_permute', [pi], { experts });
    const rows = b.add1('moe_dispatch', [px, slots, offsets], { k });
    b.result('rows', rows);
    b.result('out', b.add1('moe_combine', [rows, slots, offsets, pw]));
    const res = interpret(m, { bindings: {}, inputs: { x, idx, w: weights }, weights: {} });
    return { rows: res.rows, out: res.out };
  }

  it('combine(dispatch(x)) with weights 1 and identity experts is K * x', () => {
    const x = tensor([3, 2], [1, 2, 3, 4, 5, 6]);
    const idx = tensor([3, 2], [1, 0, 2, 1, 0, 2], 'i32');
    const { rows, out } = roundTrip(x, idx, tensor([3, 2], [1, 1, 1, 1, 1, 1]), 3);
    // slots by expert: e0: 1, 4; e1: 0, 3; e2: 2, 5 -> token rows 0, 2, 0, 1, 1, 2
    expect(Array.from(rows.data)).toEqual([1, 2, 5, 6, 1, 2, 3, 4, 3, 4, 5, 6]);
    expect(Array.from(out.data)).toEqual([2, 4, 6, 8, 10, 12]);
  });

  it('dropped slots dispatch zero rows and add nothing; weights scale each choice', () => {
    const x = tensor([3, 2], [1, 2, 3, 4, 5, 6]);
    const idx = tensor([3, 2], [1, 0, 1, -1, 0, 2], 'i32');
    const { rows, out } = roundTrip(x, idx, tensor([3, 2], [0.5, 0.25, 2, 100, 1, -1]), 3);
    // slots [1, 4, 0, 2, 5, 3], offsets end at 5: row 5 (the dropped slot 3) is zero.
    expect(Array.from(rows.data)).toEqual([1, 2, 5, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
    expect(Array.from(out.data)).toEqual([0.75, 1.5, 6, 8, 0, 0]);
  });

  it('grouped_matmul: per-expert weights and bias; empty experts; rows past offsets[E] are zero', () => {
    const xs = tensor([5, 2], [1, 0, 0, 1, 1, 1, 2, 3, 9, 9]);
    // w[e] is [2, 2]: expert 0 identity, expert 1 (empty) all 7, expert 2 swaps and doubles.
    const w = tensor([3, 2, 2], [1, 0, 0, 1, 7, 7, 7, 7, 0, 2, 2, 0]);
    const bias = tensor([3, 2], [0.5, 0.5, 100, 100, 0, 1]);
    const offsets = tensor([4], [0, 2, 2, 4], 'i32');
    const out = run1('grouped_matmul', [xs, w, offsets, bias]);
    expect(Array.from(out.data)).toEqual([1.5, 0.5, 0.5, 1.5, 2, 3, 6, 5, 0, 0]);
    // transpose_b: w[e] is [N, K]; expert 2 transposed is the same symmetric matrix.
    const wt = tensor([3, 2, 2], [1, 2, 3, 4, 7, 7, 7, 7, 0, 2, 2, 0]);
    const outT = run1('grouped_matmul', [xs, wt, offsets], { transpose_b: true });
    expect(Array.from(outT.data)).toEqual([1, 3, 2, 4, 2, 2, 6, 4, 0, 0]);
    // All experts empty: everything is zero.
    expect(Array.from(run1('grouped_matmul', [xs, w, tensor([4], [0, 0, 0, 0], 'i32')]).data)).toEqual(new Array(10).fill(0));
  });

  it('grouped_matmul rejects decreasing or overlong offsets', () => {
    const xs = tensor([2, 2], [1, 2, 3, 4]);
    const w = tensor([2, 2, 2], [1, 0, 0, 1, 1, 0, 0, 1]);
    expect(codeOf(() => run1('grouped_matmul', [xs, w, tensor([3], [0, 2, 1], 'i32')]))).toBe('E505');
    expect(codeOf(() => run1('grouped_matmul', [xs, w, tensor([3], [0, 1, 3], 'i32')]))).toBe('E505');
  });

  it('moe_combine adds each token\'s choices in k order, whatever the row order', () => {
    // Rows hold slots 2, 1, 0 (choices k = 2, 1, 0 of token 0). In k order, 1 + 1e16 - 1e16 = 0
    // in float64; in row order it would be -1e16 + 1e16 + 1 = 1.
    const ys: Tensor = { dtype: 'f32', shape: [3, 1], data: Float64Array.of(-1e16, 1e16, 1) };
    const w: Tensor = { dtype: 'f32', shape: [1, 3], data: Float64Array.of(1, 1, 1) };
    const out = run1('moe_combine', [ys, tensor([3], [2, 1, 0], 'i32'), tensor([4], [0, 1, 2, 3], 'i32'), w], {}, { f64: true });
    expect(Array.from(out.data)).toEqual([0]);
  });

  it('moe_combine rejects a slot that appears twice', () => {
    const ys = tensor([2, 1], [1, 1]);
    expect(codeOf(() => run1('moe_combine', [ys, tensor([2], [0, 0], 'i32'), tensor([2], [0, 2], 'i32'), tensor([1, 2], [1, 1])]))).toBe('E505');
  });
});

// ---------------------------------------------------------------------------------------
// repeat.

describe('repeat', () => {
  const D = 3;
  const T = sym('T');
  const layers = 3;
  const wAll = ramp(layers * D * D, 0.5, 3);
  const bAll = ramp(layers * D, 0.2, 4);
  const scale = [1, -0.5, 2];
  const x = tensor([2, D], [0.1, -0.2, 0.3, 1, 2, -3]);

  /** One layer: h + silu(h @ w + b) * s. */
  function layer(fb: FuncBuilder, h: Value, w: Value, b: Value, s: Value): Value {
    const z = fb.add1('matmul', [h, w, b]);
    return fb.add1('add', [h, fb.add1('mul', [fb.add1('silu', [z]), s])]);
  }

  it('matches the unrolled computation exactly, with invariant and stacked operands', () => {
    const m = emptyModule(
      [{ name: 'T' }],
      [
        { name: 'layers.w', type: { dtype: 'f32', shape: [layers, D, D] } },
        { name: 'layers.b', type: { dtype: 'f32', shape: [layers, D] } },
      ],
    );
    const body = new FuncBuilder('layer', m);
    m.funcs.push(body.func);
    const h = body.param('h', { dtype: 'f32', shape: [T, D] });
    const s = body.param('s', { dtype: 'f32', shape: [D] });
    const w = body.param('w', { dtype: 'f32', shape: [D, D] });
    const bb = body.param('b', { dtype: 'f32', shape: [D] });
    body.result('h', layer(body, h, w, bb, s));
    const main = new FuncBuilder('main', m);
    m.funcs.push(main.func);
    const px = main.param('x', { dtype: 'f32', shape: [T, D] });
    const ps = main.param('s', { dtype: 'f32', shape: [D] });
    const W = main.add1('weight', [], { name: 'layers.w' });
    const B = main.add1('weight', [], { name: 'layers.b' });
    main.result('y', main.add1('repeat', [px, ps, W, B], { body: 'layer', count: layers, carried: 1, invariant: 1 }));
    const got = interpret(m, {
      bindings: { T: 2 },
      inputs: { x, s: tensor([D], scale) },
      weights: { 'layers.w': tensor([layers, D, D], wAll), 'layers.b': tensor([layers, D], bAll) },
    }).y;

    // The same layers unrolled, each with its own weights.
    const u = emptyModule(
      [{ name: 'T' }],
      Array.from({ length: layers }, (_, i) => [
        { name: `w${i}`, type: { dtype: 'f32' as DType, shape: [D, D] } },
        { name: `b${i}`, type: { dtype: 'f32' as DType, shape: [D] } },
      ]).flat(),
    );
    const ub = new FuncBuilder('main', u);
    u.funcs.push(ub.func);
    let uh = ub.param('x', { dtype: 'f32', shape: [T, D] });
    const us = ub.param('s', { dtype: 'f32', shape: [D] });
    for (let i = 0; i < layers; i++) uh = layer(ub, uh, ub.add1('weight', [], { name: `w${i}` }), ub.add1('weight', [], { name: `b${i}` }), us);
    ub.result('y', uh);
    const weights: Record<string, Tensor> = {};
    for (let i = 0; i < layers; i++) {
      weights[`w${i}`] = tensor([D, D], wAll.slice(i * D * D, (i + 1) * D * D));
      weights[`b${i}`] = tensor([D], bAll.slice(i * D, (i + 1) * D));
    }
    const want = interpret(u, { bindings: { T: 2 }, inputs: { x, s: tensor([D], scale) }, weights }).y;
    expect(got.shape).toEqual([2, D]);
    expect(Array.from(got.data)).toEqual(Array.from(want.data));

    // And against plain float64 arithmetic, to a float32 tolerance.
    let ref = Array.from(x.data);
    for (let i = 0; i < layers; i++) {
      const z = naiveMatmul(ref, wAll.slice(i * D * D), 2, D, D, false, bAll.slice(i * D, (i + 1) * D));
      ref = ref.map((v, j) => f32(v + f32(f32(z[j] / (1 + Math.exp(-z[j]))) * scale[j % D])));
    }
    expectClose(got.data, ref, 1e-5);
  });
});

// ---------------------------------------------------------------------------------------
// Precision.

describe('precision', () => {
  it('f32 mode rounds each result to float32; f64 mode keeps float64', () => {
    const a = tensor([1], [0.1]);
    const b = tensor([1], [0.2]);
    const r32 = run1('add', [a, b]);
    expect(r32.data).toBeInstanceOf(Float32Array);
    expect(r32.data[0]).toBe(f32(f32(0.1) + f32(0.2)));
    const a64: Tensor = { dtype: 'f32', shape: [1], data: Float64Array.of(0.1) };
    const b64: Tensor = { dtype: 'f32', shape: [1], data: Float64Array.of(0.2) };
    const r64 = run1('add', [a64, b64], {}, { f64: true });
    expect(r64.data).toBeInstanceOf(Float64Array);
    expect(r64.data[0]).toBe(0.30000000000000004);
    // Float32Array inputs are accepted in f64 mode, and Float64Array ones in f32 mode.
    expect(run1('add', [a, b], {}, { f64: true }).data[0]).toBe(f32(0.1) + f32(0.2));
    expect(run1('add', [a64, b64]).data[0]).toBe(f32(0.1 + 0.2));
  });

  it('a matmul accumulates in float64 and rounds once', () => {
    // 1 + 2^-30 - 1 in float32 steps would be 0; in float64 it is 2^-30.
    const out = run1('matmul', [tensor([1, 3], [1, 2 ** -30, -1]), tensor([3, 1], [1, 1, 1])]);
    expect(out.data[0]).toBe(2 ** -30);
  });

  it('f16 tensors are rounded on entry and after each op, once from float64', () => {
    const a = tensor([1], [0.1], 'f16');
    const b = tensor([1], [0.2], 'f16');
    // f16(0.1) + f16(0.2) = 0.2999267578125 lies exactly halfway between two halves: ties to even.
    const out = run1('add', [a, b]);
    expect(out.dtype).toBe('f16');
    expect(out.data).toBeInstanceOf(Float32Array);
    expect(out.data[0]).toBe(0.2998046875);
    // In f64 mode nothing is rounded (the inputs hold float32 values here).
    expect(run1('add', [a, b], {}, { f64: true }).data[0]).toBe(f32(0.1) + f32(0.2));
  });

  it('bf16 tensors keep 8 significant bits', () => {
    const out = run1('mul', [tensor([1], [3], 'bf16'), tensor([1], [1 / 3], 'bf16')]);
    // bf16(1/3) = 0.333984375; times 3 = 1.001953125, which rounds to 1 (ties to even).
    expect(out.data[0]).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------
// Run-time checks.

describe('bindings, inputs and weights', () => {
  const T = sym('T');
  function model(): Module {
    const m = emptyModule([{ name: 'T', max: 8 }], [{ name: 'w', type: { dtype: 'f32', shape: [2, 3] } }]);
    const b = new FuncBuilder('main', m);
    m.funcs.push(b.func);
    const x = b.param('x', { dtype: 'f32', shape: [T, 2] });
    b.result('y', b.add1('matmul', [x, b.add1('weight', [], { name: 'w' })]));
    return m;
  }
  const w = tensor([2, 3], [1, 2, 3, 4, 5, 6]);
  const x4 = tensor([4, 2], [1, 0, 0, 1, 1, 1, 0, 0]);

  it('runs with good bindings, inputs and weights', () => {
    const y = interpret(model(), { bindings: { T: 4 }, inputs: { x: x4 }, weights: { w } }).y;
    expect(y.shape).toEqual([4, 3]);
    expect(Array.from(y.data)).toEqual([1, 2, 3, 4, 5, 6, 5, 7, 9, 0, 0, 0]);
  });

  it('takes weights from a function, given the concrete shape', () => {
    const seen: Array<[string, number[]]> = [];
    const y = interpret(model(), {
      bindings: { T: 4 },
      inputs: { x: x4 },
      weights: (decl, shape) => {
        seen.push([decl.name, shape]);
        return w;
      },
    }).y;
    expect(seen).toEqual([['w', [2, 3]]]);
    expect(Array.from(y.data.subarray(0, 3))).toEqual([1, 2, 3]);
  });

  it('rejects bad bindings (E505)', () => {
    const run = (bindings: Record<string, number>) => () => interpret(model(), { bindings, inputs: { x: x4 }, weights: { w } });
    expect(codeOf(run({}))).toBe('E505');
    expect(messageOf(run({}))).toMatch(/no value for the size T/);
    expect(codeOf(run({ T: 9 }))).toBe('E505');
    expect(messageOf(run({ T: 9000 }))).toMatch('T = 9000 is over its bound 8 (dim T <= 8)');
    expect(codeOf(run({ T: 0 }))).toBe('E505');
    expect(messageOf(run({ T: 1.5 }))).toMatch('T = 1.5 is not a positive integer');
  });

  it('rejects missing and mismatched inputs (E503, E504)', () => {
    const run = (inputs: Record<string, Tensor>) => () => interpret(model(), { bindings: { T: 4 }, inputs, weights: { w } });
    expect(codeOf(run({}))).toBe('E503');
    expect(messageOf(run({}))).toMatch("missing input 'x': expected f32[4, 2] (f32[T, 2])");
    expect(codeOf(run({ x: tensor([3, 2], [1, 2, 3, 4, 5, 6]) }))).toBe('E504');
    expect(messageOf(run({ x: tensor([3, 2], [1, 2, 3, 4, 5, 6]) }))).toMatch("input 'x' is f32[3, 2], expected f32[4, 2]");
    expect(codeOf(run({ x: tensor([4, 2], [1, 2, 3, 4, 5, 6, 7, 8], 'i32') }))).toBe('E504');
    expect(codeOf(run({ x: { dtype: 'f32', shape: [4, 2], data: new Float32Array(7) } }))).toBe('E504');
    expect(codeOf(run({ x: { dtype: 'f32', shape: [4, 2], data: new Int32Array(8) } }))).toBe('E504');
  });

  it('rejects missing and mismatched weights (E503, E504)', () => {
    const run = (weights: InterpretOptions['weights']) => () => interpret(model(), { bindings: { T: 4 }, inputs: { x: x4 }, weights });
    expect(codeOf(run({}))).toBe('E503');
    expect(messageOf(run({}))).toMatch("missing weight 'w'");
    expect(codeOf(run({ w: tensor([3, 2], [1, 2, 3, 4, 5, 6]) }))).toBe('E504');
    expect(messageOf(run({ w: tensor([3, 2], [1, 2, 3, 4, 5, 6]) }))).toMatch("weight 'w' is f32[3, 2], expected f32[2, 3]");
    expect(codeOf(run(() => tensor([2, 3], [1, 2, 3, 4, 5, 6], 'bf16')))).toBe('E504');
  });

  it('refuses tensors over maxElements (E307)', () => {
    const run = (maxElements: number) => () => interpret(model(), { bindings: { T: 4 }, inputs: { x: x4 }, weights: { w }, maxElements });
    expect(codeOf(run(11))).toBe('E307'); // the [4, 3] result
    expect(messageOf(run(11))).toMatch(/has 12 elements, too large for the reference interpreter.*bind smaller sizes \(e\.g\. --set D=64\)/);
    expect(codeOf(run(7))).toBe('E307'); // the [4, 2] input
    expect(() => run(12)()).not.toThrow();
  });

  it('an op without a kernel is an internal error, not a MoecError', () => {
    const m = emptyModule();
    const b = new FuncBuilder('main', m);
    m.funcs.push(b.func);
    const x = b.param('x', { dtype: 'f32', shape: [1] });
    const y = new Value('y', { dtype: 'f32', shape: [1] });
    b.func.body.push({ op: 'bogus', inputs: [x], attrs: {}, outputs: [y] });
    b.result('y', y);
    let err: unknown;
    try {
      interpret(m, { bindings: {}, inputs: { x: tensor([1], [1]) }, weights: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(MoecError);
    expect((err as Error).message).toBe('interpreter: no kernel for op bogus');
  });
});
