// Quantized weights in the language, the graph IR and the kernel IR (issue 8, core): the
// `.moe` syntax (`i4(group=32)[..]`) and its errors with spans and hints; the graph IR text
// round trip and the verifier's rules (quantized values only as GEMM weights or moved by
// packing ops); the `quantize` pass's choice of weights and axes; the interpreters' loading
// of given codes and scales (and their errors) and f64 mode; the kernel IR's quantized
// buffers in text and in its verifier.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diagnostic } from './capture.ts';
import { compile, compileFile, quantizeModule, randomInputs, randomWeights, run } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { parseKernelIR } from '../ir/kernel/kparse.ts';
import { verifyKernelIR } from '../ir/kernel/kverify.ts';
import { printKernelIR } from '../ir/kernel/kprint.ts';
import { parseIR } from '../ir/graph/parse.ts';
import { printIR } from '../ir/graph/print.ts';
import { QUANT_SCHEMES, dequantize, quantize } from '../ir/quant.ts';
import { writeSafetensors } from '../compiler/io/write-safetensors.ts';
import type { Tensor } from '../ir/tensor.ts';
import { SMALL } from './small-sizes.ts';
import { withRouter } from './quant-router-too.ts';

/** The tiny layer with its expert weights declared as given. */
function tiny(wGate: string, extra = ''): string {
  return `dim T <= 64
const D = 8
const F = 16
const E = 4
model q {
  input x: f32[T, D]
  weight router: i8(group=channel)[E, D]
  weight w_gate: ${wGate}
  weight w_up: i4(group=32)[E, F, D]
  weight w_down: fp8e4m3(group=128)[E, D, F]
  ${extra}
  top = topk(softmax(linear(x, router)), k=2)
  slots, offsets = moe_permute(top.indices, experts=E)
  xs = moe_dispatch(x, slots, offsets, k=2)
  h = silu(grouped_linear(xs, w_gate, offsets)) * grouped_linear(xs, w_up, offsets)
  output y = moe_combine(grouped_linear(h, w_down, offsets), slots, offsets, top.values)
}
`;
}

describe('the .moe language', () => {
  it('declares quantized weights with their group (and axis), which the graph IR prints and parses back', () => {
    const m = compile(tiny('i4(group=32)[E, F, D]'), { path: 'q.moe' });
    expect(m.weights.map((w) => [w.name, w.type.dtype, w.type.quant])).toEqual([
      ['router', 'i8', { group: 0, axis: -1 }],
      ['w_gate', 'i4', { group: 32, axis: -1 }],
      ['w_up', 'i4', { group: 32, axis: -1 }],
      ['w_down', 'fp8e4m3', { group: 128, axis: -1 }],
    ]);
    const text = printIR(m);
    expect(text).toContain('weight router: i8(group=channel)[4, 8]\n');
    expect(text).toContain('weight w_down: fp8e4m3(group=128)[4, 8, 16]\n');
    expect(printIR(parseIR(text))).toBe(text);
    // Seeded f32 weights are quantized when loaded; the model runs.
    const y = run(m, { tokens: 3 }).outputs.y;
    expect(y.data.every(Number.isFinite)).toBe(true);
  });

  const errors: Array<[string, string, string, string, string]> = [
    ['a float dtype', 'f32(group=32)[E, F, D]', '', 'E312', 'f32 cannot be quantized'],
    ['a group the dtype does not take', 'i4(group=16)[E, F, D]', '', 'E312', 'i4 does not take group=16'],
    ['no group', 'i4(axis=-1)[E, F, D]', '', 'E205', 'needs its group'],
    ['an odd last axis for i4', 'i4(group=32)[E, F, 7]', '', 'E312', 'which is 7 here (odd)'],
    ['int8 activations (act=q8) on i4', 'i4(group=32, act=q8)[E, F, D]', '', 'E312', 'act=q8 is for i8 weights, not i4'],
    ['an unknown argument', 'i4(grp=32)[E, F, D]', '', 'E204', 'no argument `grp`'],
    ['a positional argument', 'i4(32)[E, F, D]', '', 'E204', 'named arguments'],
    ['an axis the GEMM does not reduce', 'i4(group=32, axis=-2)[E, F, D]', '', 'E311', 'quantized along axis -2, but this grouped_matmul reduces along axis -1'],
    ['a quantized weight read by elementwise math', 'i4(group=32)[E, F, D]', 'z = w_up + 1', 'E311', 'add cannot read the quantized weight'],
    ['a quantized input', 'i4(group=32)[E, F, D]', 'input x2: i8(group=channel)[T, D]', 'E312', 'input `x2` is quantized'],
  ];
  for (const [what, decl, extra, code, message] of errors)
    it(`rejects ${what} (${code}) with a span and a hint`, () => {
      const d = diagnostic(() => compile(tiny(decl, extra), { path: 'q.moe' }));
      expect(d.code).toBe(code);
      expect(d.message).toContain(message);
      expect(d.text.length).toBeGreaterThan(0);
      if (code !== 'E204' || what.includes('positional')) expect(d.hint).toBeTruthy();
    });
});

describe('graph IR', () => {
  const header = 'moec.ir 1\nmodel m\ndim T <= 8\n';
  it('round-trips packing ops on quantized weights: concat, reshape that splits the reduction axis, transpose', () => {
    const text =
      header +
      'weight a: i8(group=channel)[2, 6, 8]\n' +
      'weight b: i4(group=32, axis=-2)[64, 6]\n' +
      '\n' +
      'func main(%x: f32[T, 8]) {\n' +
      '  %a = weight() {name="a"} : i8(group=channel)[2, 6, 8]\n' +
      '  %cat = concat(%a, %a) {axis=-2} : i8(group=channel)[2, 12, 8]\n' +
      '  %r = reshape(%cat) {shape=[2, 12, 2, 4]} : i8(group=channel)[2, 12, 2, 4]\n' +
      '  %t = transpose(%r) {perm=[0, 2, 1, 3]} : i8(group=channel)[2, 2, 12, 4]\n' +
      '  %b = weight() {name="b"} : i4(group=32, axis=-2)[64, 6]\n' +
      '  return t = %t, b = %b\n' +
      '}\n';
    expect(printIR(parseIR(text))).toBe(text);
  });

  it('refuses a concat along the reduction axis and a misrecorded quantized type (E402)', () => {
    const bad = (node: string): string =>
      header + 'weight a: i8(group=channel)[6, 8]\n\nfunc main(%x: f32[T, 8]) {\n  %a = weight() {name="a"} : i8(group=channel)[6, 8]\n' + node + '  return r = %r\n}\n';
    const e1 = diagnostic(() => parseIR(bad('  %r = concat(%a, %a) {axis=-1} : i8(group=channel)[6, 16]\n')));
    expect(e1.code).toBe('E402');
    expect(e1.message).toContain('would split scale groups');
    const e2 = diagnostic(() => parseIR(bad('  %r = concat(%a, %a) {axis=0} : i8[12, 8]\n')));
    expect(e2.message).toContain('is recorded as i8[12, 8] but concat gives i8(group=channel)[12, 8]');
    const e3 = diagnostic(() => parseIR(header + 'weight a: i8(group=7)[6, 8]\n\nfunc main() {\n  return\n}\n'));
    expect(e3.message).toContain('i8 does not take group=7');
    const e4 = diagnostic(() => parseIR(header + 'weight a: i8(size=7)[6, 8]\n\nfunc main() {\n  return\n}\n'));
    expect(e4.code).toBe('E401');
  });
});

describe('the quantize pass', () => {
  it('quantizes GEMM weights along the axis their GEMM reduces, and nothing else (the router too, asked with router: true)', () => {
    const gpt = quantizeModule(compileFile('examples/gpt-oss.moe', { consts: SMALL['gpt-oss.moe'] }), withRouter('i8'));
    const types = Object.fromEntries(gpt.weights.map((w) => [w.name, w.type.quant]));
    expect(types).toEqual({
      router: { group: 0, axis: -1 },
      router_bias: undefined,
      gate_up: { group: 0, axis: -2 }, // input-major [E, in, out] expert weights (grouped_matmul)
      gate_up_bias: undefined,
      down: { group: 0, axis: -2 },
      down_bias: undefined,
    });
    const ds = quantizeModule(compileFile('examples/deepseek-v3.moe', { consts: SMALL['deepseek-v3.moe'] }), withRouter('fp8'));
    for (const w of ds.weights) expect(w.type.quant !== undefined, w.name).toBe(w.type.shape.length >= 3 && !w.name.endsWith('bias'));
  });

  it('leaves a weight that is also read as a plain tensor in f32', () => {
    const m = quantizeModule(compile(tiny('f32[E, F, D]', 'w_sum = sum(w_gate, axis=-1)').replace(/i8\(group=channel\)|i4\(group=32\)|fp8e4m3\(group=128\)/g, 'f32')), 'i4');
    expect(m.weights.find((w) => w.name === 'w_gate')!.type).toEqual({ dtype: 'f32', shape: [4, 16, 8] });
    expect(m.weights.find((w) => w.name === 'w_up')!.type.dtype).toBe('i4');
  });
});

describe('fusion with quantized weights', () => {
  const agree = (m: ReturnType<typeof compileFile>, scheme: string | undefined): { gemms: number; grouped: number } => {
    const p = runPipeline(m, { target: loadTarget('x86-avx2'), maxTokens: 64, verifyEach: true, ...(scheme ? { quantize: QUANT_SCHEMES[scheme] } : {}) }).program!;
    const q = scheme ? quantizeModule(m, scheme) : m;
    const weights = randomWeights(m, 8);
    const inputs = randomInputs(m, { T: 6 }, 8);
    const want = run(q, { tokens: 6, weights, inputs }).outputs.y.data;
    const got = interpretKernelIR(p, { bindings: { T: 6 }, inputs, weights }).y.data;
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5);
    const ks = JSON.stringify(p.steps);
    return { gemms: ks.split('"kind":"gemm"').length - 1, grouped: ks.split('"kind":"grouped_gemm"').length - 1 };
  };

  it('keeps a shared expert whose split into experts would cut i4 groups as its own MLP (qwen, F = 24 of 72)', () => {
    const m = compileFile('examples/qwen-moe.moe', { consts: { D: 32, F: 24, FS: 72, E: 12, K: 4 } });
    expect(agree(m, undefined)).toEqual({ gemms: 0, grouped: 2 }); // f32: folded into the experts
    expect(agree(m, 'i4')).toEqual({ gemms: 3, grouped: 2 }); // i4 groups of 32 across chunks of 24: not folded (gate|up, down, gate)
    expect(agree(m, 'i8')).toEqual({ gemms: 0, grouped: 2 }); // per-channel scales split anywhere
  });

  it('packs gate and up only when they are quantized alike, and says so when that leaves a GEMM unfused (E311)', () => {
    expect(agree(compile(tiny('i4(group=32)[E, F, D]')), undefined)).toEqual({ gemms: 0, grouped: 2 });
    const mixed = compile(tiny('i8(group=channel)[E, F, D]'), { path: 'q.moe' }); // i8 gate, i4 up: no packed gate|up
    expect(run(mixed, { tokens: 2 }).outputs.y.data.every(Number.isFinite)).toBe(true); // the graph itself is fine
    const d = diagnostic(() => runPipeline(mixed, { target: loadTarget('x86-avx2'), maxTokens: 64 }));
    expect(d.code).toBe('E311');
    expect(d.message).toContain('grouped_matmul reads the quantized weight %w_gate');
  });
});

describe('interpreters', () => {
  const m = compileFile('examples/mixtral.moe', { consts: SMALL['mixtral.moe'] });
  const q = quantizeModule(m, 'i4g128');
  const weights = randomWeights(m, 21);
  const inputs = randomInputs(m, { T: 5 }, 21);

  it('take codes and scales as given, the same as float weights quantized on loading', () => {
    const given: Record<string, Tensor> = {};
    for (const w of q.weights) {
      const t = weights[w.name];
      if (!w.type.quant) given[w.name] = t;
      else {
        const qd = quantize(t.data, t.shape, t.shape.length - 1, QUANT_SCHEMES.i4g128);
        given[w.name] = { dtype: 'i4', shape: t.shape, data: qd.codes, quant: { axis: qd.axis, group: qd.group, scales: qd.scales } };
      }
    }
    expect(Array.from(run(q, { tokens: 5, weights: given, inputs }).outputs.y.data)).toEqual(Array.from(run(q, { tokens: 5, weights, inputs }).outputs.y.data));
  });

  it('quantize f32 checkpoint tensors assembled per expert through `from` patterns', () => {
    const t = compileFile('examples/tiny.moe');
    const w = randomWeights(t, 3);
    const file: Record<string, Tensor> = { 'mlp.gate.weight': w.router };
    for (const [name, ck] of [['w_gate', 'gate_proj'], ['w_up', 'up_proj'], ['w_down', 'down_proj']] as const) {
      const per = w[name].shape.slice(1);
      const size = per[0] * per[1];
      for (let e = 0; e < 4; e++) file[`mlp.experts.${e}.${ck}.weight`] = { dtype: 'f32', shape: per, data: w[name].data.slice(e * size, (e + 1) * size) };
    }
    const dir = mkdtempSync(join(tmpdir(), 'moec-quant-'));
    writeSafetensors(join(dir, 'w.safetensors'), file);
    const qt = quantizeModule(t, 'fp8');
    const x = randomInputs(t, { T: 4 }, 3);
    expect(Array.from(run(qt, { tokens: 4, weights: join(dir, 'w.safetensors'), inputs: x }).outputs.y.data)).toEqual(Array.from(run(qt, { tokens: 4, weights: w, inputs: x }).outputs.y.data));
  });

  it('refuse codes out of range, scales of the wrong count or axis, and codes without scales (E504)', () => {
    const t = weights.w2;
    const qd = quantize(t.data, t.shape, 2, QUANT_SCHEMES.i4g128);
    const base = { dtype: 'i4' as const, shape: t.shape, data: qd.codes, quant: { axis: 2, group: 128, scales: qd.scales } };
    const cases: Array<[Tensor, string]> = [
      [{ ...base, data: qd.codes.map((c, i) => (i === 3 ? 9 : c)) }, 'code 9 at element 3 is outside -8..7'],
      [{ ...base, quant: { ...base.quant, scales: qd.scales.subarray(1) } }, 'scales, expected'],
      [{ ...base, quant: { ...base.quant, axis: 1 } }, 'is scaled along axis 1'],
      [{ dtype: 'i4', shape: t.shape, data: qd.codes }, 'without scales'],
    ];
    for (const [w2, message] of cases) {
      const d = diagnostic(() => run(q, { tokens: 5, weights: { ...weights, w2 }, inputs }));
      expect(d.code).toBe('E504');
      expect(d.message).toContain(message);
    }
  });

  it('in f64 mode read the same dequantized values, so kernel and graph interpreters agree closely', () => {
    const p = runPipeline(m, { target: loadTarget('x86-avx2'), maxTokens: 64, quantize: QUANT_SCHEMES.i4g128 }).program!;
    const want = run(q, { tokens: 5, weights, inputs, f64: true }).outputs.y.data;
    const got = interpretKernelIR(p, { bindings: { T: 5 }, inputs, weights, f64: true }).y.data;
    expect(got).toBeInstanceOf(Float64Array);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-12);
    // And the f64 run differs from the f32 run by f32 roundings only: the weights are the same.
    const f32 = run(q, { tokens: 5, weights, inputs }).outputs.y.data;
    for (let i = 0; i < want.length; i++) expect(Math.abs(f32[i] - want[i])).toBeLessThan(1e-5);
  });

  it('dequantize exactly as ir/quant.ts: one f32 multiply of code and group scale', () => {
    const qd = quantize(Float32Array.of(0.5, -1, 0.25, 3, 0, 0), [2, 3], 1, QUANT_SCHEMES.i8);
    expect(Array.from(qd.scales)).toEqual([Math.fround(1 / 127), Math.fround(3 / 127)]);
    expect(Array.from(qd.codes)).toEqual([64, -127, 32, 127, 0, 0]); // 63.5 rounds to even 64
    expect(Array.from(dequantize(qd))).toEqual([64, -127, 32].map((c) => Math.fround(c * Math.fround(1 / 127))).concat([127, 0, 0].map((c) => Math.fround(c * Math.fround(3 / 127)))));
  });
});

describe('kernel IR', () => {
  const program = (): ReturnType<typeof parseKernelIR> => {
    const m = compileFile('examples/tiny.moe');
    return runPipeline(m, { target: loadTarget('x86-avx2'), maxTokens: 64, quantize: QUANT_SCHEMES.i4 }).program!;
  };

  it('prints quantized buffers with their scales, axis and group, and parses them back', () => {
    const text = printKernelIR(program());
    expect(text).toContain('\nbuffer w_down: i4[4, 8, 16] weight quant(scales=w_down.scales, axis=2, group=32) +256\n');
    expect(text).toContain('\nbuffer w_down.scales: f32[4, 8, 1] weight +128\n');
    expect(printKernelIR(parseKernelIR(text))).toBe(text);
  });

  it('lowers a dense matmul weight [in, out] quantized along axis -2 (scales per column group) and computes it as the graph does', () => {
    const m = compile('dim T <= 16\nmodel mm {\n  input x: f32[T, 64]\n  weight w: i4(group=32, axis=-2)[64, 48]\n  weight b: f32[48]\n  output y = relu(matmul(x, w, b))\n}\n');
    const p = runPipeline(m, { target: loadTarget('x86-avx2'), maxTokens: 16, verifyEach: true }).program!;
    const w = p.buffers.find((b) => b.name === 'w')!;
    expect(w.quant).toEqual({ scales: 'w.scales', axis: 0, group: 32 });
    expect(p.buffers.find((b) => b.name === 'w.scales')!.shape).toEqual([2, 48]);
    const weights = randomWeights(m, 1);
    const inputs = randomInputs(m, { T: 5 }, 1);
    const want = run(m, { tokens: 5, weights, inputs }).outputs.y.data;
    const got = interpretKernelIR(p, { bindings: { T: 5 }, inputs, weights }).y.data;
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want[i])));
  });

  it('verifies quantized buffers: dtype, kind, scales buffer and shape, and who may read them', () => {
    const cases: Array<[(p: ReturnType<typeof program>) => void, string]> = [
      [(p) => delete p.buffers.find((b) => b.name === 'w_down')!.quant, 'w_down is i4[4, 8, 16] but has no quant'],
      [(p) => (p.buffers.find((b) => b.name === 'w_down')!.quant!.scales = 'nope'), 'its scales buffer nope is not declared'],
      [(p) => (p.buffers.find((b) => b.name === 'w_down.scales')!.shape = [4, 8, 2]), 'expected f32[4, 8, 1]'],
      [(p) => (p.buffers.find((b) => b.name === 'w_down')!.quant!.axis = 3), 'quant axis 3 is not an axis'],
      [
        (p) => {
          const align = p.steps.find((s) => s.kind === 'moe_align')!;
          p.steps.splice(p.steps.indexOf(align), 0, { kind: 'op', op: 'neg', attrs: {}, inputs: ['w_down'], outputs: ['x'] });
        },
        'reads the quantized weight w_down',
      ],
    ];
    for (const [mutate, message] of cases) {
      const p = program();
      mutate(p);
      expect(verifyKernelIR(p).join('\n')).toContain(message);
    }
  });
});
