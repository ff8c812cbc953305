/**
 * Prefill from an empty cache (issue 16): L = 0 runs in the graph and kernel interpreters,
 * through the API and `moec run --context 0` (it was refused: "L = 0 is not a positive
 * integer", "--context must be a whole number from 1"). Attention then sees only the T new
 * tokens, causally, so a prefill's first rows are the prefill of the first tokens alone.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../compiler/cli/cli.ts';
import { compile, randomInputs, randomWeights, run } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { importHfConfig } from '../compiler/import/index.ts';
import { loadTarget } from '../compiler/target/load.ts';
import type { Module } from '../ir/graph/graph.ts';
import { interpret } from '../ir/graph/interp.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import type { Tensor } from '../ir/tensor.ts';

const PAIR = compile(readFileSync('test/fixtures/decoder-pair.moe', 'utf8'), { path: 'test/fixtures/decoder-pair.moe' });
const IDS = [3, 1, 4, 1, 5];

function inputsAt(m: Module, T: number): Record<string, Tensor> {
  return { ...randomInputs(m, { T, L: 0 }, 1), ids: { dtype: 'i32', shape: [T], data: Int32Array.from(IDS.slice(0, T)) } };
}

/** Each row of the first `rows` rows of a [T, ...] output. */
function leadingRows(t: Tensor, rows: number): number[] {
  const per = t.data.length / t.shape[0];
  return Array.from(t.data.subarray(0, rows * per));
}

describe('prefill from an empty cache (L = 0)', () => {
  it('the graph interpreter runs it, and token t sees tokens 0..t only (the first 3 of 5 are the prefill of 3)', () => {
    const weights = randomWeights(PAIR, 2);
    const five = interpret(PAIR, { bindings: { T: 5, L: 0 }, inputs: inputsAt(PAIR, 5), weights }).y;
    const three = interpret(PAIR, { bindings: { T: 3, L: 0 }, inputs: inputsAt(PAIR, 3), weights }).y;
    expect(five.shape[0]).toBe(5);
    expect(leadingRows(five, 3)).toEqual(Array.from(three.data));
    // The last tokens see the earlier ones: row 4 is not what token 4 alone gives.
    const alone = interpret(PAIR, { bindings: { T: 1, L: 0 }, inputs: { ...inputsAt(PAIR, 1), ids: { dtype: 'i32', shape: [1], data: Int32Array.of(IDS[4]) } }, weights }).y;
    expect(Array.from(five.data.subarray(4 * alone.data.length))).not.toEqual(Array.from(alone.data));
  });

  it('attention with an empty cache and one token is its value row (softmax over one key)', () => {
    const m = compile(
      'dim T <= 4\ndim L <= 4\nmodel a {\n  input q: f32[T, 2, 2]\n  input k: f32[T, 1, 2]\n  input v: f32[T, 1, 3]\n  input kc: f32[L, 1, 2]\n  input vc: f32[L, 1, 3]\n' +
        '  output y = attention(q, k, v, kc, vc, scale=0.5)\n}\n',
    );
    const v = Float32Array.of(0.25, -2, 7);
    const out = run(m, { bindings: { T: 1, L: 0 }, inputs: { ...randomInputs(m, { T: 1, L: 0 }, 3), v: { dtype: 'f32', shape: [1, 1, 3], data: v } } }).outputs.y;
    expect(Array.from(out.data)).toEqual([...v, ...v]);
  });

  it('the kernel interpreter runs the compiled program at L = 0 as the graph interpreter does', () => {
    const weights = randomWeights(PAIR, 2);
    const inputs = inputsAt(PAIR, 4);
    const want = interpret(PAIR, { bindings: { T: 4, L: 0 }, inputs, weights }).y;
    const p = runPipeline(PAIR, { target: loadTarget('x86-avx2'), maxTokens: 16 }).program!;
    expect(Array.from(interpretKernelIR(p, { bindings: { T: 4, L: 0 }, inputs, weights, arena: true }).y.data)).toEqual(Array.from(want.data));
  });

  it('an imported DeepSeek-V3 (MLA) prefills through the API', () => {
    const m = importHfConfig(readFileSync('test/fixtures/hf-tiny/deepseek_v3.json', 'utf8'), 'deepseek_v3.json').module;
    const out = run(m, { tokens: 3, bindings: { L: 0 } }).outputs.logits;
    expect(out.shape).toEqual([3, 32]);
    expect(Array.from(out.data).every(Number.isFinite)).toBe(true);
  });

  it('T = 0 is still refused: a forward pass has at least one token', () => {
    expect(() => interpret(PAIR, { bindings: { T: 0, L: 0 }, inputs: inputsAt(PAIR, 0), weights: randomWeights(PAIR, 2) })).toThrow('T = 0 is not a positive integer');
    expect(() => interpret(PAIR, { bindings: { T: 1, L: -1 }, inputs: inputsAt(PAIR, 1), weights: randomWeights(PAIR, 2) })).toThrow('L = -1 is not a whole number (0 or more)');
  });
});

describe('moec run --context 0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'moec-prefill-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prefills an imported model', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    const file = join(dir, 'q.moe');
    expect(await main(['import', 'test/fixtures/hf-tiny/qwen3_moe.json', '-o', file], io)).toBe(0);
    expect(await main(['run', file, '--tokens', '3', '--context', '0'], io), err.join('\n')).toBe(0);
    expect(out.join('\n')).toMatch(/output logits: f32\[3, \d+\]/);
    expect(await main(['run', file, '--tokens', '3', '--context', '-1'], io)).toBe(2);
  });
});
