// W8A8 (int8 activations for i8 GEMMs): the one definition of the rounding
// (`roundActivationsQ8`, ir/quant.ts) on its edge cases; the `act=q8` type in the .moe
// language, the graph IR text and the kernel IR text, and its well-formedness errors; the
// `w8a8` scheme through the quantize pass.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, diagnostic } from './capture.ts';
import { writeSafetensors } from '../compiler/io/write-safetensors.ts';
import { readSafetensors } from '../ir/safetensors.ts';
import { compile, compileFile, compileForCaps, quantizeModule, randomInputs, randomWeights, run } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import type { KProgram, Kernel, Step } from '../ir/kernel/kernel.ts';
import { interpretKernelIR, interpretKernelIRRanks } from '../ir/kernel/kinterp.ts';
import { parseKernelIR } from '../ir/kernel/kparse.ts';
import { printKernelIR } from '../ir/kernel/kprint.ts';
import { verifyKernelIR } from '../ir/kernel/kverify.ts';
import { parseIR } from '../ir/graph/parse.ts';
import { printIR, printType } from '../ir/graph/print.ts';
import { ACT_BLOCK, QUANT_SCHEMES, roundActivationsQ8 } from '../ir/quant.ts';
import type { Tensor } from '../ir/tensor.ts';

/** One block of 32 activations: `head` first, the rest `fill`. */
function block(head: number[], fill = 0): Float32Array {
  const a = new Float32Array(ACT_BLOCK).fill(fill);
  a.set(head);
  return a;
}

describe('roundActivationsQ8: the reference rounding', () => {
  it('gives an all-zero block zeros (d = 0: q = 0), with no NaN from 0 / 0', () => {
    const out = roundActivationsQ8(new Float32Array(64), 64);
    expect(Array.from(out)).toEqual(new Array(64).fill(0));
  });

  it('rounds a / d half to even: with amax 127 (d = 1), 2.5 -> 2, 3.5 -> 4, -2.5 -> -2, 0.5 -> 0', () => {
    const out = roundActivationsQ8(block([127, 2.5, 3.5, -2.5, 0.5, 1.5, -0.4]), 32);
    expect(Array.from(out.slice(0, 7))).toEqual([127, 2, 4, -2, 0, 2, 0]);
    expect(Object.is(out[6], 0)).toBe(true); // an int8 code has no -0
  });

  it('keeps ±amax at ±127 codes and scales each block by its own amax', () => {
    const a = new Float32Array(64);
    a.set([-3, 1.5, 0.75], 0); // block 0: amax 3
    a.set([1000, -1000, 7.874016], 32); // block 1: amax 1000
    const out = roundActivationsQ8(a, 64);
    const d0 = Math.fround(3 / 127);
    const d1 = Math.fround(1000 / 127);
    expect(out[0]).toBe(Math.fround(-127 * d0));
    expect(out[1]).toBe(Math.fround(Math.round(Math.fround(1.5 / d0)) * d0));
    expect(out[32]).toBe(Math.fround(127 * d1));
    expect(out[33]).toBe(Math.fround(-127 * d1));
    expect(out[34]).toBe(Math.fround(1 * d1)); // 7.874016 / (1000/127) = 1.0000
  });

  it('clamps to ±127 when fround(amax / 127) rounds the scale down', () => {
    // Some amax whose scale rounds down makes amax / d a little over 127: still code 127.
    let amax = 1;
    for (; amax < 2; amax = Math.fround(amax + 2 ** -23)) if (Math.fround(amax / Math.fround(amax / 127)) > 127) break;
    expect(amax).toBeLessThan(2);
    const out = roundActivationsQ8(block([amax, -amax]), 32);
    const d = Math.fround(amax / 127);
    expect(out[0]).toBe(Math.fround(127 * d));
    expect(out[1]).toBe(Math.fround(-127 * d));
  });

  it('makes a block with a NaN or an infinity all NaN, and leaves the other blocks alone', () => {
    const a = new Float32Array(96).fill(1);
    a[40] = NaN;
    a[70] = -Infinity;
    const out = roundActivationsQ8(a, 96);
    expect(out.slice(0, 32).every((v) => v === 1)).toBe(true);
    expect(out.slice(32, 64).every(Number.isNaN)).toBe(true);
    expect(out.slice(64, 96).every(Number.isNaN)).toBe(true);
  });

  it('flushes the small values of a block with one huge value to zero', () => {
    const out = roundActivationsQ8(block([3e38, 1, -1e30, 2e36]), 32);
    const d = Math.fround(3e38 / 127);
    expect(out[0]).toBe(Math.fround(127 * d));
    expect(out[1]).toBe(0);
    expect(out[2]).toBe(0);
    expect(out[3]).toBe(Math.fround(Math.round(2e36 / d) * d));
    expect(out.every(Number.isFinite)).toBe(true);
  });

  it('rounds rows independently (blocks never straddle rows) and refuses rows that are not whole blocks', () => {
    const a = new Float32Array(64);
    a[0] = 100;
    a[1] = 1;
    a[33] = 1; // row 1, where amax is 1: exact
    expect(roundActivationsQ8(a, 32)[33]).toBe(1);
    expect(() => roundActivationsQ8(new Float32Array(48), 48)).toThrow(/multiple of 32/);
  });
});

/** A dense layer whose weight is declared `decl`. */
function dense(decl: string): string {
  return `dim T <= 16\nmodel d {\n  input x: f32[T, 64]\n  weight w: ${decl}\n  output y = linear(x, w)\n}\n`;
}

describe('the act=q8 type', () => {
  it('is written i8(group=32, act=q8)[N, K] in .moe, printed so in the graph IR, and parsed back', () => {
    const m = compile(dense('i8(group=32, act=q8)[16, 64]'), { path: 'd.moe' });
    expect(m.weights[0].type.quant).toEqual({ group: 32, axis: -1, act: 'q8' });
    const text = printIR(m);
    expect(text).toContain('weight w: i8(group=32, act=q8)[16, 64]\n');
    expect(printIR(parseIR(text))).toBe(text);
    expect(parseIR(text).weights[0].type.quant).toEqual({ group: 32, axis: -1, act: 'q8' });
    // With the axis too: act is printed last.
    const mm = compile(`dim T <= 16\nmodel d {\n  input x: f32[T, 64]\n  weight w: i8(group=64, axis=-2, act=q8)[64, 16]\n  output y = matmul(x, w)\n}\n`);
    expect(printIR(mm)).toContain('i8(group=64, axis=-2, act=q8)[64, 16]');
  });

  const errors: Array<[string, string, string, string]> = [
    ['per-channel i8', 'i8(group=channel, act=q8)[16, 64]', 'E312', 'not per channel'],
    ['i4', 'i4(group=32, act=q8)[16, 64]', 'E312', 'act=q8 is for i8 weights, not i4'],
    ['fp8e4m3', 'fp8e4m3(group=128, act=q8)[16, 128]', 'E312', 'act=q8 is for i8 weights, not fp8e4m3'],
    ['a reduction length that is not a multiple of 32', 'i8(group=32, act=q8)[16, 48]', 'E312', 'which is 48 here'],
    ['an unknown rounding', 'i8(group=32, act=q4)[16, 64]', 'E312', 'act must be q8'],
  ];
  for (const [what, decl, code, message] of errors)
    it(`rejects act= on ${what} (${code}) with a span and a hint`, () => {
      const d = diagnostic(() => compile(dense(decl).replace('f32[T, 64]', `f32[T, ${decl.match(/(\d+)\]$/)![1]}]`), { path: 'd.moe' }));
      expect(d.code).toBe(code);
      expect(d.message).toContain(message);
      expect(d.text.length).toBeGreaterThan(0);
      expect(d.hint).toBeTruthy();
    });

  it('survives reshapes that keep whole blocks of 32 along the reduction axis, and refuses others (E311)', () => {
    const model = (to: string, k: number) => `dim T <= 16\nmodel r {\n  input x: f32[T, ${k}]\n  weight w: i8(group=32, act=q8)[4, 64]\n  output y = linear(x, reshape(w, ${to}))\n}\n`;
    expect(printIR(compile(model('[8, 32]', 32)))).toContain('reshape(%w) {shape=[8, 32]} : i8(group=32, act=q8)[8, 32]');
    const d = diagnostic(() => compile(model('[16, 16]', 16), { path: 'r.moe' }));
    expect(d.code).toBe('E311');
    expect(d.message).toContain('into chunks of 16, which cut its act=q8 blocks of 32');
  });

  it('is refused by the graph IR parser on a dtype or length it does not fit, and for an unknown value', () => {
    const ir = (t: string) => `moec.ir 1\nmodel d\ndim T <= 16\nweight w: ${t}\nfunc main(%x: f32[T, 48]) {\n  %w = weight() {name="w"} : ${t}\n  %y = matmul(%x, %w) {transpose_b=true} : f32[T, 16]\n  return y = %y\n}\n`;
    expect(() => parseIR(ir('i8(group=32, act=q8)[16, 48]'))).toThrow(/which is 48 here/);
    expect(() => parseIR(ir('i8(group=32, act=q9)[16, 48]'))).toThrow(/act=q9: no such activation rounding/);
  });
});

describe('act=q8 in the kernel IR', () => {
  /** Mixtral at D = 64, F = 96 under w8a8, lowered and planned: every expert weight says act=q8. */
  const program = () => runPipeline(compileFile('examples/mixtral.moe', { consts: { D: 64, F: 96 } }), { target: loadTarget('x86-avx2'), maxTokens: 16, quantize: QUANT_SCHEMES.w8a8 }).program!;

  it('is printed on the weight buffer and parsed back; an unknown rounding is a parse error', () => {
    const text = printKernelIR(program());
    const line = text.split('\n').find((l) => l.includes('act=q8'))!;
    expect(line).toMatch(/^buffer \S+: i8\[8, \d+, \d+\] weight quant\(scales=\S+, axis=2, group=32, act=q8\)( \+\d+)?$/);
    expect(() => parseKernelIR(text.replace(line, line.replace('act=q8', 'act=q9')))).toThrow(/act=q9: no such activation rounding/);
  });

  it('is verified against the graph type and the rule of the type (i8 in groups, K a multiple of 32)', () => {
    const weight = (p: KProgram) => p.buffers.find((b) => b.quant?.act)!;
    const cases: Array<[(p: KProgram) => void, string]> = [
      [(p) => (weight(p).dtype = 'i4'), 'act=q8 is for i8 weights, not i4'],
      [(p) => (weight(p).quant!.group = 16), 'act=q8 needs i8 in groups of 32, 64 or 128, not 16'],
      [(p) => (weight(p).quant!.act = 'q9' as 'q8'), 'act=q9: no such activation rounding'],
      // Dropping act from a buffer whose pack result says act=q8: the two disagree.
      [(p) => delete weight(p).quant!.act, 'but the buffer is quantized along axis 2 in groups of 32'],
    ];
    for (const [mutate, message] of cases) {
      const p = program();
      mutate(p);
      expect(verifyKernelIR(p).join('\n')).toContain(message);
    }
    expect(verifyKernelIR(program())).toEqual([]);
  });
});

describe('the w8a8 and i8g32 schemes', () => {
  it('are i8 in groups of 32, w8a8 rounding the activations', () => {
    expect(QUANT_SCHEMES.i8g32).toEqual({ dtype: 'i8', group: 32 });
    expect(QUANT_SCHEMES.w8a8).toEqual({ dtype: 'i8', group: 32, activations: 'q8' });
  });

  it('the quantize pass gives act=q8 only where the reduction length is a multiple of 32, and never to a router', () => {
    // Mixtral at D = 64, F = 48: w1 and w3 reduce along D (act), w2 along F = 48 (none).
    const m = compileFile('examples/mixtral.moe', { consts: { D: 64, F: 48 } });
    const types = (scheme: Parameters<typeof quantizeModule>[1]) => Object.fromEntries(quantizeModule(m, scheme).weights.map((w) => [w.name, printType(w.type)]));
    expect(types('w8a8')).toEqual({ router: 'f32[8, 64]', w1: 'i8(group=32, act=q8)[8, 48, 64]', w3: 'i8(group=32, act=q8)[8, 48, 64]', w2: 'i8(group=32)[8, 64, 48]' });
    // --quantize-router: the router is i8 in groups of 32, its activations f32.
    expect(types({ ...QUANT_SCHEMES.w8a8, router: true }).router).toBe('i8(group=32)[8, 64]');
  });
});

/**
 * Models and sizes at which they run here: small, with every reduction length a multiple of
 * 32 (so every GEMM weight but the router gets act=q8). The examples cover the dense MLP
 * (deepseek's first layer), routed experts, shared experts (qwen, deepseek); the language
 * model of test/fixtures a GEMM before attention, the attention output and the LM head.
 */
const W8A8_SIZES: Record<string, Record<string, number>> = {
  'examples/tiny.moe': { D: 32, F: 32 },
  'examples/mixtral.moe': { D: 64, F: 96 },
  'examples/deepseek-v3.moe': { D: 32, F_DENSE: 64, F: 32, E: 16, K: 4, GROUPS: 4, TOPK_GROUPS: 2, DENSE_LAYERS: 1, LAYERS: 3 },
  'examples/qwen-moe.moe': { D: 32, F: 32, FS: 64, E: 12, K: 4 },
  'examples/gpt-oss.moe': { D: 32, F: 32, E: 8, K: 4 },
  'examples/switch.moe': { D: 32, F: 64, E: 8 },
  'test/fixtures/generate-lm.moe': { D: 32, H: 8, HD: 4, F: 32 },
};
/** Names of the routers' matrices, which stay without act=q8. */
const ROUTERS = new Set(['router', 'gate', 'moe.router', 'moe.gate', 'layers.router']);

function kernels(steps: Step[]): Kernel[] {
  return steps.flatMap((s) => (s.kind === 'loop' ? kernels(s.body) : [s]));
}

/** max |got - want| over max |want| (at least 1). */
function relMax(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    diff = Math.max(diff, Math.abs(want[i] - got[i]));
  }
  return diff / Math.max(1, scale);
}

/** The only output of a model's graph run. */
function output(r: { outputs: Record<string, Tensor> }): Tensor {
  const [t] = Object.values(r.outputs);
  return t;
}

describe('--quantize w8a8: graph interpreter == kernel interpreter', () => {
  for (const file of Object.keys(W8A8_SIZES))
    it(`${file}: every GEMM weight but the router says act=q8 through lowering and the kernel IR text; the interpreters agree at T = 1, 7, and differ from i8g32`, () => {
      const m = compileFile(file, { consts: W8A8_SIZES[file] });
      const q = quantizeModule(m, 'w8a8');
      for (const w of q.weights.filter((w) => w.type.quant)) expect(w.type.quant!.act, w.name).toBe(ROUTERS.has(w.name) ? undefined : 'q8');
      expect(q.weights.filter((w) => w.type.quant?.act).length).toBeGreaterThanOrEqual(2);

      const p = runPipeline(m, { target: loadTarget('x86-avx2'), maxTokens: 16, verifyEach: true, quantize: QUANT_SCHEMES.w8a8 }).program!;
      expect(verifyKernelIR(p)).toEqual([]);
      const ktext = printKernelIR(p);
      expect(ktext).toContain('act=q8)');
      expect(printKernelIR(parseKernelIR(ktext))).toBe(ktext);
      const byName = new Map(p.buffers.map((b) => [b.name, b]));
      for (const k of kernels(p.steps)) if (k.kind === 'gemm' || k.kind === 'grouped_gemm') expect(byName.get(k.w)?.quant?.act, `${k.kind} ${k.w}`).toBe('q8');

      const i8 = quantizeModule(m, 'i8g32');
      const weights = randomWeights(m, 5);
      for (const T of [1, 7]) {
        const bindings = { T, L: 3 };
        const inputs = randomInputs(m, bindings, 5);
        const want = output(run(q, { tokens: T, bindings, weights, inputs })).data;
        const got = interpretKernelIR(p, { bindings, inputs, weights });
        // Only the f64 accumulation of fused kernels differs (1e-7 here): no code flips.
        expect(relMax(Object.values(got)[0].data, want), `T=${T}`).toBeLessThanOrEqual(1e-6);
        // The same weights without the rounding are 50 to 10^4 times further: both interpreters round.
        expect(relMax(output(run(i8, { tokens: T, bindings, weights, inputs })).data, want), `T=${T}`).toBeGreaterThan(1e-5);
      }
    });
});

describe('a router declared act=q8 (the quantize pass never makes one)', () => {
  it('rounds its logits GEMM\'s activations alike in both interpreters (the fused router kernel included)', () => {
    const src = readFileSync('examples/tiny.moe', 'utf8');
    const model = (router: string) => compile(src.replace('weight router: f32[E, D]', `weight router: ${router}[E, D]`), { path: 'tiny.moe', consts: { D: 32, F: 32 } });
    const m = model('i8(group=32, act=q8)');
    const p = runPipeline(m, { target: loadTarget('x86-avx2'), maxTokens: 16, verifyEach: true }).program!;
    expect(kernels(p.steps).some((k) => k.kind === 'router' && p.buffers.find((b) => b.name === k.w)?.quant?.act === 'q8')).toBe(true);
    const weights = randomWeights(m, 7);
    const inputs = randomInputs(m, { T: 7 }, 7);
    const want = run(m, { tokens: 7, weights, inputs }).outputs.y.data;
    expect(relMax(interpretKernelIR(p, { bindings: { T: 7 }, inputs, weights }).y.data, want)).toBeLessThanOrEqual(1e-6);
    expect(relMax(run(model('i8(group=32)'), { tokens: 7, weights, inputs }).outputs.y.data, want)).toBeGreaterThan(1e-6);
  });
});

describe('--quantize w8a8 over several chips', () => {
  it('mixtral on 2 ranks: the multi-rank kernel interpreter rounds as one chip does (the experts placed per rank keep act=q8)', () => {
    const m = compileFile('examples/mixtral.moe', { consts: W8A8_SIZES['examples/mixtral.moe'] });
    const target = loadTarget('x86-avx2');
    const one = compileForCaps(m, { target, maxTokens: 16, quantize: 'w8a8' }).program;
    const ep = compileForCaps(m, { target, maxTokens: 16, chips: 2, quantize: 'w8a8' }).program;
    expect(ep.buffers.filter((b) => b.quant?.act === 'q8').length).toBeGreaterThan(0);
    const weights = randomWeights(m, 3);
    const T = 5;
    const inputs = randomInputs(m, { T: 2 * T }, 4);
    const rank = (r: number) => ({ x: { ...inputs.x, shape: [T, inputs.x.shape[1]], data: inputs.x.data.slice(r * T * inputs.x.shape[1], (r + 1) * T * inputs.x.shape[1]) } });
    const outs = interpretKernelIRRanks(ep, { bindings: { T }, weights, inputs: [rank(0), rank(1)] });
    for (const r of [0, 1]) expect(relMax(outs[r]!.y.data, interpretKernelIR(one, { bindings: { T }, weights, inputs: rank(r) }).y.data), `rank ${r}`).toBeLessThanOrEqual(1e-6);
  });
});

describe('w8a8 logits', () => {
  it('differ from i8g32 logits (the rounding is applied) and stay within 2e-2 of the f32 model (test/fixtures/generate-lm.moe)', () => {
    const file = 'test/fixtures/generate-lm.moe';
    const m = compileFile(file, { consts: W8A8_SIZES[file] });
    const weights = randomWeights(m, 11);
    const bindings = { T: 5, L: 4 };
    const inputs = randomInputs(m, bindings, 11);
    const logits = (mm: typeof m) => run(mm, { tokens: 5, bindings, weights, inputs }).outputs.logits.data;
    const f32 = logits(m);
    const i8g32 = logits(quantizeModule(m, 'i8g32'));
    const w8a8 = logits(quantizeModule(m, 'w8a8'));
    // Seed 11: w8a8 - i8g32 3.2e-3, w8a8 - f32 4.3e-3, i8g32 - f32 2.1e-3 of the logits' scale.
    expect(relMax(w8a8, i8g32)).toBeGreaterThan(1e-3);
    expect(relMax(w8a8, f32)).toBeLessThanOrEqual(2e-2);
  });
});

describe('moec --quantize w8a8', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'moec-w8a8-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const mixtral = ['examples/mixtral.moe', '--set', 'D=64,F=96'];

  it('runs examples/mixtral.moe on the reference backend', async () => {
    const r = await cli('run', ...mixtral, '--tokens', '3', '--quantize', 'w8a8');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('output y: f32[3, 64]');
  });

  for (const [target, shown] of [['wasm-simd128', 'wasm'], ['webgpu', 'WGSL']] as const)
    it(`is refused by the ${shown} backend at compile time (E701, exit 1), which compiles --quantize i8g32`, async () => {
      const r = await cli('compile', ...mixtral, '--quantize', 'w8a8', '--target', target, '-o', join(tmp, `w8a8-${target}`));
      expect(r.code, r.err).toBe(1);
      expect(r.err).toContain(`E701: the ${shown} backend cannot run GEMMs that round their activations to int8 (act=q8 on the weight`);
      expect(r.err).toContain('--quantize i8g32 runs here');
      const ok = await cli('compile', ...mixtral, '--quantize', 'i8g32', '--target', target, '-o', join(tmp, `i8g32-${target}`));
      expect(ok.code, ok.err).toBe(0);
    });

  it('moec check --json and moec ir show the weights as i8(group=32, act=q8)', async () => {
    const check = await cli('check', ...mixtral, '--quantize', 'w8a8', '--json');
    expect(check.code, check.err).toBe(0);
    const weights = JSON.parse(check.out).weights as Array<{ name: string; dtype: string }>;
    expect(weights.find((w) => w.name === 'w2')!.dtype).toBe('i8(group=32, act=q8)');
    expect(weights.find((w) => w.name === 'router')!.dtype).toBe('f32');
    const ir = await cli('ir', ...mixtral, '--quantize', 'w8a8');
    expect(ir.code, ir.err).toBe(0);
    expect(ir.out).toContain('weight w1: i8(group=32, act=q8)[8, 96, 64]');
  });

  it('names w8a8 and i8g32 among the schemes of an unknown one', async () => {
    const r = await cli('run', 'examples/tiny.moe', '--quantize', 'w4a4', '--tokens', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/i8g32, w8a8/);
  });
});

describe('moec quantize --to i8g32 / w8a8 (checkpoints)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'moec-w8a8-ckpt-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const input = join(tmp, 'in.safetensors');
  const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) / 4);
  writeSafetensors(input, {
    'a.weight': { dtype: 'f32', shape: [8, 64], data: ramp(8 * 64) },
    'b.weight': { dtype: 'f32', shape: [8, 40], data: ramp(8 * 40) },
  });

  it('i8g32 writes I8 codes with [N, K/32] scales, and keeps a tensor whose K is not a multiple of 32 (was: a fractional scale shape)', async () => {
    const out = join(tmp, 'i8g32.safetensors');
    const r = await cli('quantize', input, '--to', 'i8g32', '-o', out);
    expect(r.code, r.err).toBe(0);
    const f = readSafetensors(out);
    expect(f.info('a.weight')).toEqual({ dtype: 'I8', shape: [8, 64] });
    expect(f.info('a.weight_scale')).toEqual({ dtype: 'F32', shape: [8, 2] });
    expect(f.info('b.weight')).toEqual({ dtype: 'F32', shape: [8, 40] });
    expect(r.out).toContain('with K not a multiple of the i8 group 32');
  });

  it('w8a8 is refused (E309, exit 1, nothing written): a checkpoint holds weights, the hint says --to i8g32 and run with --quantize w8a8', async () => {
    const out = join(tmp, 'w8a8.safetensors');
    const r = await cli('quantize', input, '--to', 'w8a8', '-o', out);
    expect(r.code).toBe(1);
    expect(r.err).toContain('E309');
    expect(r.err).toContain('--to i8g32');
    expect(r.err).toContain('--quantize w8a8');
    expect(existsSync(out)).toBe(false);
  });
});
