/**
 * Packing quantized weights fast (compiler/backends/quant-rows.ts): float weights quantized
 * row by row straight into the blob give the very bytes of the reference route (the `pack`
 * function interpreted, quantizing on load, then laid out), for every backend, scheme and
 * example shape (GLU concat, shared experts reshaped and transposed, stacked layers); the
 * blob reports its progress while it fills; and the quantizer's fast loops equal their
 * definitions (round half to even of x / s, fp8 by nearest value).
 */
import { describe, expect, it } from 'vitest';
import { compileFile, quantScheme, randomWeights } from '../compiler/driver.ts';
import { getBackend } from '../compiler/backends/registry.ts';
import { blobSource, packWeights, weightBlob } from '../compiler/backends/weights.ts';
import { cWeightBlob, cWeightLayout } from '../compiler/backends/c/layout.ts';
import { programIsa } from '../compiler/backends/c/render.ts';
import { wasmWeightLayout } from '../compiler/backends/wasm/layout.ts';
import { planWgsl } from '../compiler/backends/wgsl/plan.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { progressCallback } from '../compiler/io/progress.ts';
import { fp8e4m3Decode, fp8e4m3Encode, quantize } from '../ir/quant.ts';
import type { KProgram } from '../ir/kernel/kernel.ts';
import type { TargetCaps } from '../compiler/target/caps.ts';
import type { Tensor } from '../ir/tensor.ts';

const SHAPES: Record<string, Record<string, number>> = {
  'examples/mixtral.moe': { D: 64, F: 96 },
  'examples/deepseek-v3.moe': { D: 128, F_DENSE: 128, F: 64, E: 8, GROUPS: 4, TOPK_GROUPS: 2, LAYERS: 3, DENSE_LAYERS: 1, K: 2 },
  'examples/qwen-moe.moe': { D: 128, F: 64, FS: 128, E: 4 },
};

function programFor(file: string, target: TargetCaps, scheme: string | undefined): { program: KProgram; weights: Record<string, Tensor> } {
  const m = compileFile(file, { consts: SHAPES[file] });
  const program = runPipeline(m, { target, quantize: scheme === undefined ? undefined : quantScheme(scheme), maxTokens: 16 }).program!;
  return { program, weights: randomWeights(m, 7) };
}

/** The reference route: `packWeights` (the interpreter quantizes on load) laid out by the backend's blob writer. */
function referenceBlob(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>): Uint8Array {
  const packed = packWeights(program, weights);
  if (target.backend === 'c') return cWeightBlob(cWeightLayout(program, target.alignment, programIsa(program, target)?.lanes ?? 1), packed);
  const layout = target.backend === 'wgsl' ? planWgsl(program, target).weights : wasmWeightLayout(program, target.alignment);
  return weightBlob(layout, packed);
}

describe('quantized weights packed row by row into the blob', () => {
  for (const file of Object.keys(SHAPES))
    for (const t of ['x86-avx2', 'x86-avx512', 'wasm-simd128', 'webgpu'])
      it(`${file} for ${t}: the same bytes as quantize-then-pack, i8, i4, fp8 and f32`, async () => {
        const target = loadTarget(t);
        const backend = await getBackend(target.backend);
        for (const scheme of ['i8', 'i4', 'fp8', undefined]) {
          const { program, weights } = programFor(file, target, scheme);
          const fast = backend.packWeights!(program, target, weights).blob;
          expect(Buffer.from(fast).equals(Buffer.from(referenceBlob(program, target, weights))), `${scheme ?? 'f32'}`).toBe(true);
        }
      });

  it('takes the row route for GLU concats, reshaped and transposed shared experts (else the test above compares a path with itself)', () => {
    const { program, weights } = programFor('examples/deepseek-v3.moe', loadTarget('x86-avx2'), 'i4');
    const src = blobSource(program, weights);
    expect([...src.rows.keys()].sort()).toEqual(['dense.mlp.down', 'packed.gate_up_1', 'packed.shared_down_2', 'packed.shared_gate_up_3']);
    // what is not quantized is copied row by row too: nothing is left to the interpreter
    expect([...src.floatRows.keys()].sort()).toEqual(['dense.norm', 'moe.bias', 'moe.norm', 'moe.router']);
    expect(Object.keys(src.packed)).toEqual([]);
    const qwen = programFor('examples/qwen-moe.moe', loadTarget('x86-avx2'), 'i4');
    // shared.down [D, FS] reshaped to [D, 2, F] (its rows cut in whole groups) and transposed
    expect(blobSource(qwen.program, qwen.weights).rows.has('packed.shared_down_2')).toBe(true);
  });

  it('weights given as codes (a quantized checkpoint) go through the interpreter, unchanged', () => {
    const target = loadTarget('x86-avx2');
    const { program, weights } = programFor('examples/mixtral.moe', target, 'i8');
    const w1 = weights.w1;
    const q = quantize(w1.data, w1.shape, 2, quantScheme('i8'));
    const given = { ...weights, w1: { dtype: 'i8', shape: w1.shape, data: q.codes, quant: { axis: 2, group: q.group, scales: q.scales } } as Tensor };
    const src = blobSource(program, given);
    expect(src.rows.has('packed.gate_up')).toBe(false);
    expect(src.rows.has('w2')).toBe(true);
    expect(Buffer.from(cWeightBlob(cWeightLayout(program, target.alignment, 8), src)).equals(Buffer.from(referenceBlob(program, target, given)))).toBe(true);
  });
});

describe('moec pack reports progress while the blob fills (was: one synchronous call, no line until the end)', () => {
  for (const t of ['x86-avx2', 'wasm-simd128', 'webgpu'])
    it(`${t}: blob bytes rising to the total, row by row within a quantized tensor`, async () => {
      const target = loadTarget(t);
      const backend = await getBackend(target.backend);
      const { program, weights } = programFor('examples/mixtral.moe', target, 'i8');
      const calls: Array<[number, number, string]> = [];
      const { blob } = backend.packWeights!(program, target, weights, { onProgress: (d, n, name) => void calls.push([d, n, name]) });
      expect(calls.every((c) => c[1] === blob.byteLength)).toBe(true);
      for (let i = 1; i < calls.length; i++) expect(calls[i][0]).toBeGreaterThanOrEqual(calls[i - 1][0]);
      expect(calls[calls.length - 1][0]).toBe(blob.byteLength);
      // each expert weight row by row: many reports while w2 is written, not one at its end
      expect(calls.filter((c) => c[2] === 'w2').length).toBeGreaterThan(100);
    });

  it('on a terminal the line is redrawn during the one packWeights call, with bytes, rate and ETA', async () => {
    const target = loadTarget('x86-avx2');
    const backend = await getBackend(target.backend);
    const { program, weights } = programFor('examples/mixtral.moe', target, 'i4');
    const chunks: string[] = [];
    let t = 0;
    // every reading of the clock is 30 ms later: the 100 ms redraw throttle lets some through
    const bar = progressCallback('packing weights', { stream: { isTTY: true, columns: 200, write: (s: string) => chunks.push(s) }, now: () => (t += 30) });
    backend.packWeights!(program, target, weights, { onProgress: bar.onProgress });
    const draws = chunks.filter((c) => c.includes('packing weights'));
    expect(draws.length).toBeGreaterThan(3);
    expect(draws[0]).toMatch(/packing weights {2}[\d.]+ (B|KiB|MiB) \/ [\d.]+ (KiB|MiB) {2}\d+% {2}[\d.]+ (B|KiB|MiB)\/s {2}ETA \d+ s/);
    bar.end();
    expect(chunks[chunks.length - 1]).toBe('\r\x1b[2K');
  });

  it('piped: nothing is written', async () => {
    const target = loadTarget('wasm-simd128');
    const backend = await getBackend(target.backend);
    const { program, weights } = programFor('examples/mixtral.moe', target, 'i8');
    const chunks: string[] = [];
    const bar = progressCallback('packing weights', { stream: { write: (s: string) => chunks.push(s) } });
    backend.packWeights!(program, target, weights, { onProgress: bar.onProgress });
    bar.end();
    expect(chunks).toEqual([]);
  });
});

describe('the quantizer fast loops equal their definitions', () => {
  it('fp8e4m3Encode (exponent bits and one midpoint comparison) picks the nearest value, ties to the even code', () => {
    const values = Array.from({ length: 127 }, (_, c) => fp8e4m3Decode(c));
    const nearest = (a: number): number => {
      if (a >= 448) return 126;
      let best = 0;
      for (let c = 1; c < 127; c++) {
        const d = Math.abs(values[c] - a);
        const bd = Math.abs(values[best] - a);
        if (d < bd || (d === bd && c % 2 === 0)) best = c;
      }
      return best;
    };
    const f = new Float64Array(1);
    const u = new BigUint64Array(f.buffer);
    const probes: number[] = [0, 2 ** -10, 2 ** -9, 2 ** -6, 500, 1e30, Number.MIN_VALUE];
    for (let c = 0; c < 126; c++) {
      const mid = (values[c] + values[c + 1]) / 2;
      for (const x of [values[c], mid]) {
        probes.push(x);
        for (const step of [-1n, 1n]) {
          f[0] = x;
          u[0] += step;
          if (f[0] > 0) probes.push(f[0]);
        }
      }
    }
    for (let i = 0; i < 2000; i++) probes.push(2 ** (Math.random() * 20 - 11));
    for (const a of probes) {
      expect(fp8e4m3Encode(a), `${a}`).toBe(nearest(a));
      expect(fp8e4m3Encode(-a), `${-a}`).toBe(0x80 | nearest(a));
    }
    expect(fp8e4m3Encode(NaN)).toBe(0x7f);
    expect(fp8e4m3Encode(-Infinity)).toBe(0xfe);
  });

  it('i8/i4 codes are round-half-even of x / s even where x * (1 / s) would round the other way', () => {
    // values next to k + 0.5 of the scale the group gets, for both signs
    const s = Math.fround(10 / 127);
    const xs = Float32Array.from({ length: 128 }, (_, i) => (i === 0 ? 10 : Math.fround((i % 2 ? 1 : -1) * ((i % 120) + 0.5) * s)));
    const q = quantize(xs, [1, 128], 1, { dtype: 'i8', group: 0 });
    expect(q.scales[0]).toBe(s);
    for (let i = 1; i < xs.length; i++) {
      const v = xs[i] / s;
      const r = Math.round(v);
      const want = Math.max(-127, Math.min(127, r - v === 0.5 && r % 2 !== 0 ? r - 1 : r));
      expect(q.codes[i], `x=${xs[i]} x/s=${v}`).toBe(want === 0 ? 0 : want);
    }
  });
});
