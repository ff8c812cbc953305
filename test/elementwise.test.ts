/**
 * Fused elementwise chains (issue 16): the `elementwise` op's text form and type inference,
 * broadcast indexing, the lowering that folds chains into one kernel, the kernel
 * interpreter against the graph interpreter, and the Qwen2-MoE case that had no kernel for
 * `mul` on every backend.
 */
import { describe, expect, it } from 'vitest';
import { compileFile, compileModel, randomInputs, randomWeights, runOnBackend } from '../compiler/driver.ts';
import { MoecError } from '../ir/diagnostics.ts';
import { broadcastIndex, ewSteps, parseEw, printEw } from '../ir/graph/elementwise.ts';
import { interpret } from '../ir/graph/interp.ts';
import { inferOp } from '../ir/graph/ops.ts';
import { opFlops } from '../compiler/cost/op-flops.ts';
import { parseIR } from '../ir/graph/parse.ts';
import type { OpKernel } from '../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { forEachKernel } from '../ir/kernel/walk.ts';
import { missingAdapter } from './backends/wgsl-harness.ts';

describe('the elementwise chain text', () => {
  it('round-trips, constants exactly (inf, -inf, nan and negative numbers included)', () => {
    for (const text of ['mul(silu(x0), x1)', 'add(x0, 0.1)', 'maximum(minimum(x0, -inf), nan)', 'div(gelu_tanh(x2), -1.5e-7)', 'x0', '2.5', 'sub(inf, x0)'])
      expect(printEw(parseEw(text))).toBe(text);
    expect(parseEw('add(x0, 0.30000000000000004)')).toEqual({ kind: 'binary', fn: 'add', a: { kind: 'input', index: 0 }, b: { kind: 'const', value: 0.30000000000000004 } });
  });

  it('bad text is E304 on the expr attribute, and operands must match what it reads (E308)', () => {
    const x = { dtype: 'f32' as const, shape: [4] };
    for (const [expr, msg] of [
      ['mul(x0)', "expected ','"],
      ['frobnicate(x0)', "'frobnicate' is not an elementwise function"],
      ['add(x0, x0) x0', 'unexpected'],
      ['exp(', 'ends early'],
      ['exp('.repeat(300) + 'x0' + ')'.repeat(300), 'nests deeper than 256'],
    ])
      expect(() => inferOp('elementwise', [x], { expr })).toThrow(msg);
    expect(() => inferOp('elementwise', [x], { expr: 'add(x0, x1)' })).toThrow('the chain reads 2 operands, got 1');
  });

  it('infers the broadcast shape of all operands', () => {
    const r = inferOp('elementwise', [{ dtype: 'f32', shape: [{ terms: [['T', 1]], c: 0 }, 1] }, { dtype: 'f32', shape: [8] }], { expr: 'mul(x0, x1)' });
    expect(r.types[0].shape).toEqual([{ terms: [['T', 1]], c: 0 }, 8]);
  });

  it('flattens to steps that load each operand once', () => {
    expect(ewSteps(parseEw('mul(x0, add(x0, 1))'))).toEqual([
      { kind: 'input', index: 0 },
      { kind: 'const', value: 1 },
      { kind: 'binary', fn: 'add', a: 0, b: 1 },
      { kind: 'binary', fn: 'mul', a: 0, b: 2 },
    ]);
  });
});

describe('broadcast indexing', () => {
  const T = { terms: [['T', 1]], c: 0 } as never;
  /** Every output index's operand index by the terms, against NumPy's rule computed directly. */
  function check(out: number[], inn: number[]): void {
    const terms = broadcastIndex(out, inn)!;
    const n = out.reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) {
      let r = i;
      const coord = out.map(() => 0);
      for (let d = out.length - 1; d >= 0; d--) {
        coord[d] = r % out[d];
        r = Math.floor(r / out[d]);
      }
      let want = 0;
      for (let d = 0; d < inn.length; d++) want = want * inn[d] + (inn[d] === 1 ? 0 : coord[d + out.length - inn.length]);
      const got = terms.reduce((s, t) => s + ((t.mod === undefined ? Math.floor(i / t.div) : Math.floor(i / t.div) % t.mod) * t.mul), 0);
      expect(got, `[${out}] <- [${inn}] at ${i}`).toBe(want);
    }
  }

  it('matches NumPy broadcasting for suffixes, size-1 axes and scalars', () => {
    for (const [out, inn] of [[[3, 4], [3, 4]], [[3, 4], [4]], [[3, 4], [3, 1]], [[3, 4], []], [[2, 3, 4], [3, 1]], [[2, 3, 4], [2, 1, 4]], [[2, 3, 4], [1, 3, 4]], [[5, 1, 4], [4]]])
      check(out, inn);
  });

  it('merges axes that step together: same shape is i, a trailing row i % n', () => {
    expect(broadcastIndex([T, 2, 4], [T, 2, 4])).toEqual([{ div: 1, mul: 1 }]);
    expect(broadcastIndex([T, 8], [8])).toEqual([{ div: 1, mod: 8, mul: 1 }]);
    expect(broadcastIndex([T, 8], [T, 1])).toEqual([{ div: 8, mul: 1 }]);
  });

  it('refuses a size after the first axis that depends on T', () => {
    expect(broadcastIndex([2, T], [2, T])).toBeUndefined();
  });
});

/** The elementwise kernels of a module's kernel program. */
function chains(ir: string): OpKernel[] {
  const { program } = compileModel(parseIR(ir), { target: 'x86-avx2', maxTokens: 16 });
  const out: OpKernel[] = [];
  forEachKernel(program.steps, (k) => {
    if (k.kind === 'op' && k.op !== 'rmsnorm') out.push(k);
  });
  return out;
}

const HEAD = 'moec.ir 1\nmodel m\ndim T <= 16\n\n';

describe('lowering folds elementwise chains', () => {
  it('a chain whose intermediates are read once is one kernel', () => {
    const ks = chains(
      HEAD +
        'func main(%x: f32[T, 8], %c: f32[T, 1]) {\n  %0 = neg(%x) : f32[T, 8]\n  %1 = const() {value=0.5} : f32[]\n  %2 = mul(%0, %1) : f32[T, 8]\n' +
        '  %3 = clamp(%2) {min=-1} : f32[T, 8]\n  %4 = add(%3, %c) : f32[T, 8]\n  return y = %4\n}\n',
    );
    expect(ks.map((k) => [k.op, k.attrs.expr, k.inputs])).toEqual([['elementwise', 'add(maximum(mul(neg(x0), 0.5), -1), x1)', ['x', 'c']]]);
  });

  it('a value read twice, or a program output, stays a kernel of its own; a lone same-shape add keeps its kernel', () => {
    const ks = chains(
      HEAD +
        'func main(%x: f32[T, 8], %y: f32[T, 8]) {\n  %0 = exp(%x) : f32[T, 8]\n  %1 = mul(%0, %0) : f32[T, 8]\n  %2 = add(%x, %y) : f32[T, 8]\n  %3 = tanh(%1) : f32[T, 8]\n' +
        '  return a = %1, b = %2, c = %3\n}\n',
    );
    expect(ks.map((k) => [k.op, k.attrs.expr ?? ''])).toEqual([
      ['elementwise', 'exp(x0)'],
      ['elementwise', 'mul(x0, x0)'],
      ['add', ''],
      ['elementwise', 'tanh(x0)'],
    ]);
  });

  it('a folded chain costs the FLOPs of the ops it stands for', () => {
    const sizes = { inputs: [[4, 8], [4, 1]], outputs: [[4, 8]], inputBytes: [4, 4], outputBytes: [4], attrs: { expr: 'add(maximum(mul(neg(x0), 0.5), -1), x1)' } };
    // neg 1, mul 1, maximum (the clamp's lower bound) 1, add 1 per element.
    expect(opFlops('elementwise', sizes)).toBe(4 * 32);
    expect(opFlops('elementwise', { ...sizes, attrs: { expr: 'mul(silu(x0), gelu_tanh(x1))' } })).toBe((5 + 8 + 1) * 32);
  });

  it('the kernel interpreter runs a folded chain exactly as the graph interpreter runs the ops', () => {
    const m = parseIR(
      HEAD +
        'func main(%x: f32[T, 8], %c: f32[T, 1]) {\n  %0 = silu(%x) : f32[T, 8]\n  %1 = gelu(%0) {approximate="tanh"} : f32[T, 8]\n  %2 = div(%1, %c) : f32[T, 8]\n' +
        '  %3 = log(%c) : f32[T, 1]\n  %4 = sub(%2, %3) : f32[T, 8]\n  return y = %4\n}\n',
    );
    const { program } = compileModel(m, { target: 'x86-avx2', maxTokens: 16 });
    const inputs = randomInputs(m, { T: 7 }, 2);
    const want = interpret(m, { bindings: { T: 7 }, inputs, weights: {} }).y;
    const got = interpretKernelIR(program, { bindings: { T: 7 }, inputs, weights: {} }).y;
    expect(Array.from(got.data)).toEqual(Array.from(want.data));
  });
});

const wgslMissing = await missingAdapter('the Qwen2-MoE elementwise case on WGSL');

describe('Qwen2-MoE with a shared expert width that is not a multiple of the experts\' (was E701/E202: no kernel for mul)', () => {
  const m = compileFile('examples/qwen-moe.moe', { consts: { D: 64, F: 48, FS: 128, E: 16, K: 4 } });
  it.each(['c', 'wasm', 'wgsl'])('runs on %s and matches the reference interpreter', async (backend) => {
    if (backend === 'wgsl' && wgslMissing !== null) return;
    const r = await runOnBackend(m, { backend, tokens: 5, check: true, weights: randomWeights(m, 4) });
    expect(r.agreement!.y.maxRel).toBeLessThan(backend === 'wgsl' ? 2e-5 : 1e-6);
  }, 120_000);
});
