/**
 * The C backend's dense GEMM at one row (the LM head at T = 1): the decode path the tile
 * records (`streams`, and for quantized weights `qdecode`/`prefetch`), which reads `streams`
 * panels at once through the one-row kernel's several-panel form, as the grouped GEMM's
 * decode path does. Against the reference interpreter at T = 1 (and T = 3, the ordinary
 * path) for f32, i8 and i4 weights, with N not a multiple of streams x panel width (a window
 * that moves back over panels it does not store, a partial last panel), on 1 and 2 threads,
 * on x86-avx2, x86-avx512 (where the CPU has it) and npu-scratchpad (portable C, stores by
 * a deferred-copy DMA engine). Tolerance as the quantized parity tests (1e-5). Results do
 * not depend on the thread count.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadC } from '../../compiler/backends/c/index.ts';
import { renderC } from '../../compiler/backends/c/render.ts';
import { compile, compileFile, quantizeModule, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import { interpret } from '../../ir/graph/interp.ts';
import type { GemmKernel, Step } from '../../ir/kernel/kernel.ts';
import { QUANT_SCHEMES } from '../../ir/quant.ts';
import { cpuHas } from '../../bench/native.ts';
import { expectAgreement } from '../expect-agreement.ts';

const TOL = 1e-5;
const hasAvx512 = cpuHas('avx512f');
/** Output columns: 200 is no multiple of 4 panels of 8, 16 or 32 columns, and ends in a partial panel. */
const N = 200;

function denseGemms(steps: readonly Step[]): GemmKernel[] {
  return steps.flatMap((s) => (s.kind === 'loop' ? denseGemms(s.body) : s.kind === 'gemm' ? [s] : []));
}

/** y = relu(x w + b), w [256, N] of `dtype` (quantized along the depth, groups that a 256 depth holds several of). */
function lmHead(dtype: string) {
  return compile(`dim T <= 16\nmodel head {\n  input x: f32[T, 256]\n  weight w: ${dtype}[256, ${N}]\n  weight b: f32[${N}]\n  output y = relu(matmul(x, w, b))\n}\n`);
}

describe('C backend, a dense GEMM of one row (the decode path)', () => {
  const targets = ['x86-avx2', ...(hasAvx512 ? ['x86-avx512'] : []), 'npu-scratchpad'];
  for (const target of targets)
    for (const dtype of ['f32', 'i8(group=32, axis=-2)', 'i4(group=32, axis=-2)'])
      it(`${dtype} on ${target}: streams panels at a time, the reference's numbers at T = 1 on 1 and 2 threads, the same bits on 1, 2 and 3`, async () => {
        const m = lmHead(dtype);
        const caps = loadTarget(target);
        const p = runPipeline(m, { target: caps, maxTokens: 16 }).program!;
        const [k] = denseGemms(p.steps);
        const streams = k.tile!.streams!;
        expect(streams).toBe(4);
        const src = renderC(p, caps);
        const spec = src.layout.specs.get('w')!;
        const panels = Math.ceil(N / spec.width);
        // leftover panels: the last window moves back over panels the thread has stored already
        expect(panels % streams, `${panels} panels of ${spec.width}`).not.toBe(0);
        const q = dtype === 'f32' ? '' : `${dtype.slice(0, 2)}_`;
        expect(src.source).toContain(`if (g->rows == 1) {`);
        expect(src.source).toContain(`moec_micro_${q}1x${spec.width}_x${streams}(a, g->w + (size_t)s0 * `);
        // x86 vectors sum each scale group and scale it once, as the grouped decode path does
        if (q && target !== 'npu-scratchpad') expect(k.tile!.qdecode).toBe('group_sum');
        const dma = target === 'npu-scratchpad';
        const weights = randomWeights(m, 5);
        const model = loadC(p, caps, weights, dma ? { flags: ['-include', join(import.meta.dirname, 'fixtures', 'dma-deferred.h')] } : {});
        try {
          for (const T of [1, 3]) {
            const inputs = randomInputs(m, { T }, 11 + T);
            const want = interpret(m, { bindings: { T }, inputs, weights }).y;
            const runs: Float32Array[] = [];
            // the deferred DMA engine's queue is global: one thread there
            for (const threads of dma ? [1] : [1, 2, 3]) {
              model.threads = threads;
              const got = (await model.forward(inputs, { T })).y;
              expectAgreement(got, want, { maxRel: TOL, relL2: TOL }, `T = ${T}, ${threads} threads`);
              runs.push(got.data as Float32Array);
            }
            for (const r of runs.slice(1)) expect(Array.from(r), `T = ${T}: threads change the bits`).toEqual(Array.from(runs[0]));
          }
        } finally {
          model.dispose();
        }
      });

  it('fewer panels than a window: one panel at a time (and the reference\'s numbers)', async () => {
    const m = compile(`dim T <= 16\nmodel head {\n  input x: f32[T, 64]\n  weight w: i8(group=32, axis=-2)[64, 24]\n  output y = matmul(x, w)\n}\n`);
    const caps = loadTarget('x86-avx2');
    const p = runPipeline(m, { target: caps, maxTokens: 16 }).program!;
    const src = renderC(p, caps);
    expect(Math.ceil(24 / src.layout.specs.get('w')!.width)).toBeLessThan(4);
    expect(src.source).toContain('/* fewer panels than a window: one at a time */');
    const weights = randomWeights(m, 6);
    const model = loadC(p, caps, weights);
    try {
      const inputs = randomInputs(m, { T: 1 }, 2);
      expectAgreement((await model.forward(inputs, { T: 1 })).y, interpret(m, { bindings: { T: 1 }, inputs, weights }).y, { maxRel: TOL, relL2: TOL });
    } finally {
      model.dispose();
    }
  });

  it('a kernel IR without streams on its dense GEMM (written before the decode path) renders the ordinary path only', () => {
    const m = lmHead('i8(group=32, axis=-2)');
    const caps = loadTarget('x86-avx2');
    const p = runPipeline(m, { target: caps, maxTokens: 16 }).program!;
    const strip = (steps: readonly Step[]): Step[] =>
      steps.map((s) => (s.kind === 'loop' ? { ...s, body: strip(s.body) } : s.kind === 'gemm' ? { ...s, tile: { ...s.tile!, streams: undefined, qdecode: undefined, prefetch: undefined } } : s));
    const src = renderC({ ...p, steps: strip(p.steps) }, caps).source;
    expect(src).not.toContain('if (g->rows == 1)');
    expect(src).not.toMatch(/_x4\(/);
    // streams but no scale form: refused, as a grouped GEMM's
    const half = (steps: readonly Step[]): Step[] => steps.map((s) => (s.kind === 'gemm' ? { ...s, tile: { ...s.tile!, qdecode: undefined, prefetch: undefined } } : s));
    expect(() => renderC({ ...p, steps: half(p.steps) }, caps)).toThrow(/E701: the GEMM writing \S+ has no decode path in its tile \(qdecode\)/);
  });
});

describe('C backend, the grouped GEMM decode path (T = 1): the same bits on any thread count', () => {
  // Its leftover panels (an expert's panels not a multiple of the window) went one at a time
  // through the one-panel kernel, which rounds a quantized group otherwise than the four-panel
  // one: on 2 or 3 threads, other columns fell into the leftovers and their last bits moved.
  for (const target of ['x86-avx2', ...(hasAvx512 ? ['x86-avx512'] : [])])
    it(`mixtral i8g32 experts with panels not a multiple of the window on ${target}`, async () => {
      const m = quantizeModule(compileFile('examples/mixtral.moe', { consts: { D: 64, F: 120 } }), QUANT_SCHEMES.i8g32);
      const caps = loadTarget(target);
      const p = runPipeline(m, { target: caps, maxTokens: 16 }).program!;
      const src = renderC(p, caps);
      expect(src.source).toContain('const int s0 = p < ');
      const weights = randomWeights(m, 6);
      const model = loadC(p, caps, weights);
      try {
        const inputs = randomInputs(m, { T: 1 }, 7);
        const want = interpret(m, { bindings: { T: 1 }, inputs, weights }).y;
        const runs: Float32Array[] = [];
        for (const threads of [1, 2, 3]) {
          model.threads = threads;
          const got = (await model.forward(inputs, { T: 1 })).y;
          expectAgreement(got, want, { maxRel: TOL, relL2: TOL }, `${threads} threads`);
          runs.push(got.data as Float32Array);
        }
        for (const r of runs.slice(1)) expect(Array.from(r), 'threads change the bits').toEqual(Array.from(runs[0]));
      } finally {
        model.dispose();
      }
    });
});
