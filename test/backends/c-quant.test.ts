/**
 * The C backend with quantized weights (issue 8) against the reference interpreter's
 * quantized semantics (ir/quant.ts: each weight fround(decode(code) * scale), then f32):
 * every example × i8 (per channel), i4 (groups of 32) and fp8 (groups of 128) on x86-avx2 at
 * T = 1 (the decode path) and T = 16 (the sorted path); i4 in groups of 128 and i8 where
 * the reduction dims hold several groups, a partial one and depth chunks that cut groups,
 * on x86-avx2, x86-avx512 (where the CPU has it) and npu-scratchpad (portable C, weight
 * tiles staged by a deferred-copy DMA engine); every fp8 code including subnormals, ±448
 * and NaN, i8 -128 and i4 -8. Tolerance as the f32 parity tests: max |Δ| <= 1e-5 of the
 * output's scale and relL2 <= 1e-5 (measured: <= 4.2e-7 and <= 2.7e-7; the dequantized
 * weights are bit-identical, only the f32 accumulation order differs). Quantized builds
 * are clean under clang -Werror (gcc: every build here) and ASan + UBSan; the panel byte
 * order is pinned; a quantized weight the kernels cannot read is E701; one quantized emitted
 * file (tiny, i4) is a golden snapshot.
 */
import { skipWithout } from '../optional-packages.ts';
import { join } from 'node:path';
import { expectAgreement } from '../expect-agreement.ts';
import { describe, expect, it } from 'vitest';
import { loadC } from '../../compiler/backends/c/index.ts';
import { buildExecutable, runExecutable } from '../../compiler/backends/c/build.ts';
import { type PanelSpec, packCodePanels } from '../../compiler/backends/c/layout.ts';
import { renderC } from '../../compiler/backends/c/render.ts';
import { agreement } from '../../compiler/compare.ts';
import { MoecError } from '../../ir/diagnostics.ts';
import { compile, compileFile, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import type { Module } from '../../ir/graph/graph.ts';
import { interpret } from '../../ir/graph/interp.ts';
import type { KProgram, Step } from '../../ir/kernel/kernel.ts';
import { QUANT_SCHEMES, quantize } from '../../ir/quant.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { cpuHas } from '../../bench/native.ts';
import { SMALL } from '../small-sizes.ts';
import { withRouter } from '../quant-router-too.ts';

const TOL = 1e-5;
const hasAvx512 = cpuHas('avx512f');

function compileQ(file: string, scheme: string, target: string, consts: Record<string, number>, maxTokens: number): { m: Module; p: KProgram } {
  const m = compileFile(`examples/${file}`, { consts, quantize: withRouter(scheme) });
  return { m, p: runPipeline(m, { target: loadTarget(target), maxTokens }).program! };
}

/** The token count from which each grouped GEMM takes the sorted path. */
function sortedFrom(steps: readonly Step[]): number[] {
  return steps.flatMap((s) => (s.kind === 'loop' ? sortedFrom(s.body) : s.kind === 'grouped_gemm' ? [s.sortedFromTokens] : []));
}

/** Runs the quantized program on C and the graph interpreter (which quantizes the same seeded weights), output by output. */
async function expectParity(m: Module, p: KProgram, target: string, tokens: number[], opts: { weights?: Record<string, Tensor>; flags?: string[]; sanitize?: boolean; threads?: number } = {}): Promise<void> {
  const weights = opts.weights ?? randomWeights(m, 1);
  const model = loadC(p, loadTarget(target), weights, { flags: opts.flags, sanitize: opts.sanitize });
  if (opts.threads) model.threads = opts.threads;
  try {
    for (const T of tokens) {
      const inputs = randomInputs(m, { T }, T);
      const got = await model.forward(inputs, { T });
      const want = interpret(m, { bindings: { T }, inputs, weights });
      for (const [name, t] of Object.entries(want)) {
        expectAgreement(got[name], t, { maxRel: TOL, relL2: TOL }, `${name} at T = ${T}`);
      }
    }
  } finally {
    model.dispose();
  }
}

describe('C backend, quantized weights', () => {
  for (const file of Object.keys(SMALL))
    for (const scheme of ['i8', 'i4', 'fp8'])
      it(`${file} × ${scheme} on x86-avx2 matches the quantized reference at T = 1 (decode path) and 16 (sorted path)`, async () => {
        const { m, p } = compileQ(file, scheme, 'x86-avx2', SMALL[file], 16);
        const from = sortedFrom(p.steps);
        expect(Math.max(...from)).toBeLessThanOrEqual(16);
        expect(Math.min(...from)).toBeGreaterThan(1);
        // The kernels read codes: the quantized micro-kernels and router are what runs.
        const src = renderC(p, loadTarget('x86-avx2')).source;
        expect(src).toMatch(/moec_micro_(i8|i4|fp8)_\d+x\d+\(/);
        expect(src).toMatch(/moec_logits_(i8|i4|fp8)\(x, g->w, g->ws/);
        await expectParity(m, p, 'x86-avx2', [1, 16]);
      });

  // D = 256, F = 192: groups of 128 give the down projection 1.5 groups (a partial one), and the tiles' depth chunks (16 to 64) run across group ends.
  const big = { D: 256, F: 192 };
  for (const [target, scheme] of [
    ['x86-avx2', 'i4g128'],
    ['x86-avx512', 'fp8'],
    ['npu-scratchpad', 'i4g128'],
  ] as const)
    it.skipIf(target === 'x86-avx512' && !hasAvx512)(`mixtral at D = 256, F = 192 × ${scheme} on ${target}: two groups, a partial one, depth chunks across group ends`, async () => {
      const { m, p } = compileQ('mixtral.moe', scheme, target, big, 16);
      const dma = target === 'npu-scratchpad';
      if (dma) expect(renderC(p, loadTarget(target)).source).toContain('MOEC_SCRATCHPAD unsigned char stage[2]');
      // The test DMA engine copies only at DMA_WAIT, so a code tile used before its wait gives wrong numbers.
      await expectParity(m, p, target, [1, 16], dma ? { flags: ['-include', join(import.meta.dirname, 'fixtures', 'dma-deferred.h')], threads: 1 } : {});
    });

  it('a dense matmul weight [in, out] quantized along axis -2 (scales per column and group, panels not transposed) on x86-avx2 and the NPU', async () => {
    for (const [dtype, target] of [
      ['i4(group=32, axis=-2)', 'x86-avx2'],
      ['i8(group=channel, axis=-2)', 'npu-scratchpad'],
    ] as const) {
      const m = compile(`dim T <= 16\nmodel mm {\n  input x: f32[T, 80]\n  weight w: ${dtype}[80, 48]\n  weight b: f32[48]\n  output y = relu(matmul(x, w, b))\n}\n`);
      const p = runPipeline(m, { target: loadTarget(target), maxTokens: 16 }).program!;
      expect(p.buffers.find((b) => b.name === 'w')!.quant).toMatchObject({ axis: 0 });
      await expectParity(m, p, target, [1, 5, 16]);
    }
  });

  it('decodes every fp8 e4m3fn code (subnormals, ±448, NaN), i8 -128 and i4 -8 as the reference does', async () => {
    for (const scheme of ['fp8', 'i8', 'i4']) {
      const { m, p } = compileQ('tiny.moe', scheme, 'x86-avx2', {}, 16); // the parity test's build
      const weights = randomWeights(m, 3);
      // The seeded weights quantized (so the scales and groups are the declared ones), then codes of our choosing.
      const codes = (t: Tensor, f: (i: number) => number): Tensor => {
        const q = quantize(t.data, t.shape, t.shape.length - 1, QUANT_SCHEMES[scheme]);
        return { dtype: q.dtype, shape: t.shape, data: Int32Array.from(q.codes, (_, i) => f(i)), quant: { axis: q.axis, group: q.group, scales: q.scales } };
      };
      // fp8: every byte but the two NaNs through the router and gate; one NaN in expert 2's down projection.
      const cycle = (i: number): number => (scheme === 'fp8' ? [0x7f, 0xff].includes(i % 256) ? 0 : i % 256 : scheme === 'i8' ? (i % 256) - 128 : (i % 16) - 8);
      const given = {
        ...weights,
        router: codes(weights.router, cycle),
        w_gate: codes(weights.w_gate, (i) => cycle(i + 17)),
        w_up: codes(weights.w_up, (i) => cycle(3 * i + 5)),
        w_down: codes(weights.w_down, (i) => (scheme === 'fp8' && i === 2 * 8 * 16 + 5 ? 0x7f : cycle(i + 101))),
      };
      const model = loadC(p, loadTarget('x86-avx2'), given);
      try {
        for (const T of [1, 16]) {
          const inputs = randomInputs(m, { T }, 2);
          const got = (await model.forward(inputs, { T })).y;
          const want = interpret(m, { bindings: { T }, inputs, weights: given }).y;
          const a = agreement(got, want);
          expect(a.nanMismatch, `${scheme} T = ${T}`).toBe(0);
          expect(a.maxRel, `${scheme} T = ${T}`).toBeLessThanOrEqual(TOL);
          if (scheme === 'fp8' && T === 16) expect(want.data.some(Number.isNaN), 'the NaN code reaches the output').toBe(true);
          expect(want.data.some(Number.isFinite)).toBe(true);
        }
      } finally {
        model.dispose();
      }
    }
  });

  it('runs clean under AddressSanitizer and UndefinedBehaviorSanitizer (deepseek-v3 × i4: loops, dense and grouped GEMMs; tiny × fp8)', async () => {
    for (const [file, scheme] of [
      ['deepseek-v3.moe', 'i4'],
      ['tiny.moe', 'fp8'],
    ] as const) {
      const { m, p } = compileQ(file, scheme, 'x86-avx2', SMALL[file], 16);
      await expectParity(m, p, 'x86-avx2', [1, 16], { sanitize: true });
    }
  });

  it.skipIf(skipWithout('clang', 'the clang -Werror build of quantized kernels'))('quantized builds are clean under clang -Werror (AVX2, AVX-512F and portable code)', () => {
    for (const [file, scheme, target] of [
      ['qwen-moe.moe', 'i8', 'x86-avx512'],
      ['deepseek-v3.moe', 'i4', 'x86-avx512'],
      ['gpt-oss.moe', 'fp8', 'npu-scratchpad'],
    ] as const) {
      const { p } = compileQ(file, scheme, target, SMALL[file], 16);
      const exe = buildExecutable(renderC(p, loadTarget(target)), loadTarget(target), { cc: 'clang' });
      expect(runExecutable(exe, ['--check-args']).stdout).toContain('check-args: ok');
    }
  });

  it('i4 panels: runs of `span` columns, byte j = column j (low nibble) | column j + span/2 (high); i8/fp8 one byte per code', () => {
    // Two matrices [n = 4, kd = 2] stored [n, kd]: code = 10·col + k wrapped into -8..7.
    const codes = Array.from({ length: 16 }, (_, i) => ((i % 8 >> 1) * 2 + (i % 2) + 8 * Math.floor(i / 8)) - 8);
    const spec: PanelSpec = { matrices: 2, n: 4, kd: 2, transB: true, width: 4, codes: { dtype: 'i4', span: 4 } };
    // Matrix 0: col c, depth k holds 2c + k - 8. Panel row k: columns 0..3 -> bytes [col0 | col2 << 4, col1 | col3 << 4].
    const bytes = Array.from(packCodePanels(codes, spec));
    const nib = (c: number): number => c & 0xf;
    const m0 = (c: number, k: number): number => 2 * c + k - 8;
    expect(bytes.slice(0, 4)).toEqual([nib(m0(0, 0)) | (nib(m0(2, 0)) << 4), nib(m0(1, 0)) | (nib(m0(3, 0)) << 4), nib(m0(0, 1)) | (nib(m0(2, 1)) << 4), nib(m0(1, 1)) | (nib(m0(3, 1)) << 4)]);
    expect(bytes.length).toBe(8);
    // span 2 is the plain order: even column low, odd high.
    expect(Array.from(packCodePanels(codes, { ...spec, codes: { dtype: 'i4', span: 2 } })).slice(0, 2)).toEqual([nib(m0(0, 0)) | (nib(m0(1, 0)) << 4), nib(m0(2, 0)) | (nib(m0(3, 0)) << 4)]);
    expect(Array.from(packCodePanels([-128, 127, -1, 0], { matrices: 1, n: 2, kd: 2, transB: true, width: 2, codes: { dtype: 'i8', span: 2 } }))).toEqual([0x80, 0xff, 0x7f, 0x00]);
  });

  it('a quantized weight the kernels cannot read is E701 with a hint: scales along the output axis, a quantized rmsnorm weight', () => {
    const { p } = compileQ('mixtral.moe', 'i8', 'x86-avx2', SMALL['mixtral.moe'], 16);
    const w = p.buffers.find((b) => b.quant && b.shape.length === 3)!;
    const bad: KProgram = { ...p, buffers: p.buffers.map((b) => (b === w ? { ...b, quant: { ...b.quant!, axis: 1 } } : b)) };
    let err: unknown;
    try {
      renderC(bad, loadTarget('x86-avx2'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MoecError);
    expect(String(err)).toMatch(/E701.*reduction axis 2, but they run along axis 1/);
    expect((err as MoecError).diagnostics[0].hint).toMatch(/quantize GEMM weights along K/);
    // A quantized weight read by an op kernel (an rmsnorm's): the C kernels dequantize only in GEMMs and the router.
    const d = compileQ('deepseek-v3.moe', 'i8', 'x86-avx2', SMALL['deepseek-v3.moe'], 16).p;
    const norm = (function find(steps: readonly Step[]): string | undefined {
      for (const s of steps) {
        const x = s.kind === 'loop' ? find(s.body) : s.kind === 'op' && s.op === 'rmsnorm' ? s.inputs[1] : undefined;
        if (x) return x;
      }
      return undefined;
    })(d.steps)!;
    const nw = d.buffers.find((b) => b.name === norm)!;
    nw.dtype = 'i8';
    nw.quant = { scales: d.buffers.find((b) => b.quant)!.quant!.scales, axis: nw.shape.length - 1, group: 0 };
    expect(() => renderC(d, loadTarget('x86-avx2'))).toThrow(/E701: the C backend dequantizes weights only inside GEMMs and the router, but `rmsnorm` reads the quantized/);
  });

  // The defect: a quantized GEMM decoded and scaled each weight vector once per row tile
  // (3 to 5 rows), as many instructions as its FMAs: i8 prefill ran slower than f32.
  it('a quantized GEMM pass of several row tiles decodes each weight chunk once (dense and grouped), with the same bits', async () => {
    const targets = ['x86-avx2', ...(hasAvx512 ? ['x86-avx512'] : [])];
    for (const target of targets) {
      for (const scheme of ['i8', 'i4', 'fp8']) {
        // Dense: rows of a T = 32 pass (chunks decoded once) equal the same rows run alone (T = 1, the direct kernel), bit for bit.
        const dtype = scheme === 'fp8' ? 'fp8e4m3(group=128, axis=-2)' : `${scheme}(group=32, axis=-2)`;
        const m = compile(`dim T <= 32\nmodel mm {\n  input x: f32[T, 256]\n  weight w: ${dtype}[256, 48]\n  weight b: f32[48]\n  output y = relu(matmul(x, w, b))\n}\n`);
        const p = runPipeline(m, { target: loadTarget(target), maxTokens: 32 }).program!;
        expect(renderC(p, loadTarget(target)).source, `${scheme} ${target}`).toMatch(new RegExp(`moec_dequant_${scheme}_\\d+\\(panel, g->ws`));
        const weights = randomWeights(m, 4);
        const model = loadC(p, loadTarget(target), weights);
        try {
          const all = randomInputs(m, { T: 32 }, 9);
          const got = (await model.forward(all, { T: 32 })).y.data as Float32Array;
          expectAgreement({ dtype: 'f32', shape: [32, 48], data: got }, interpret(m, { bindings: { T: 32 }, inputs: all, weights }).y, { maxRel: TOL, relL2: TOL }, `${scheme} ${target}`);
          for (const r of [0, 9, 31]) {
            const one = { x: { dtype: 'f32' as const, shape: [1, 256], data: all.x.data.slice(r * 256, (r + 1) * 256) } };
            expect(Array.from((await model.forward(one, { T: 1 })).y.data), `${scheme} ${target} row ${r}`).toEqual(Array.from(got.subarray(r * 48, (r + 1) * 48)));
          }
        } finally {
          model.dispose();
        }
      }
      // Grouped: blocks of 10 rows in tiles of 5 (qwen-moe at D = 256): the chunk decoder runs, parity at T = 1, 16, 64.
      const { m, p } = compileQ('qwen-moe.moe', 'i8', target, { D: 256, F: 128 }, 64);
      const source = renderC(p, loadTarget(target)).source;
      expect(source).toMatch(/moec_dequant_i8_\d+\(panel, g->ws \+ \(\(size_t\)e/);
      // The direct one-row kernel (a pass's one-row tile; T = 1 of a dense GEMM narrower than a decode window) prefetches its panel stream as the decode path does.
      const direct = /static void moec_micro_i8_1x\d+\(const float \*const \*a, int koff[\s\S]*?\n}\n/.exec(source)![0];
      expect(direct).toContain('_mm_prefetch((const char *)(b + MOEC_QPREFETCH), _MM_HINT_T0);');
      await expectParity(m, p, target, [1, 16, 64]);
    }
  });

  it('emitted C for tiny × i4 matches the golden file (x86-avx2)', async () => {
    const { p } = compileQ('tiny.moe', 'i4', 'x86-avx2', {}, 64);
    await expect(renderC(p, loadTarget('x86-avx2')).source).toMatchFileSnapshot('../golden/c/tiny-i4.c');
  });
});
