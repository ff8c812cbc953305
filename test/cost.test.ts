/**
 * @fileoverview The cost model: FLOP counts, the expected-experts formula, the per-level
 * roofline (compute- vs bandwidth-bound), traffic of the blocked GEMM model, the decode
 * threshold of grouped GEMMs and whole-program sums.
 */
import { describe, expect, it } from 'vitest';
import {
  activeExperts,
  costLevels,
  decodePathCosts,
  decodeThreshold,
  directDecodeCost,
  expectedActiveExperts,
  gemmCost,
  gemmProblem,
  programCost,
} from '../compiler/cost/cost.ts';
import { tileProgram } from '../compiler/passes/tile.ts';
import type { TargetCaps } from '../compiler/target/caps.ts';
import { type Dim, sym } from '../ir/dims.ts';
import type { Module } from '../ir/graph/graph.ts';
import type { GroupedGemmKernel, KBuffer, KProgram, Kernel, Tiling } from '../ir/kernel/kernel.ts';
import type { DType } from '../ir/types.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

const X86: TargetCaps = {
  name: 'x86-avx2', description: '2-core AVX2', backend: 'c', vectorBytes: 32, fma: true, cores: 2,
  memory: [
    { name: 'L1d', bytes: 32 * KiB, bandwidth: 200e9, kind: 'cache', shared: false },
    { name: 'L2', bytes: 512 * KiB, bandwidth: 100e9, kind: 'cache', shared: false },
    { name: 'L3', bytes: 32 * MiB, bandwidth: 100e9, kind: 'cache', shared: true },
    { name: 'DRAM', bytes: 16 * 1024 * MiB, bandwidth: 20e9, kind: 'dram', shared: true },
  ],
  peakFlops: { f32: 200e9 }, limits: {}, alignment: 64,
};

const NPU: TargetCaps = {
  name: 'npu-scratchpad', description: '16x16 MAC array', backend: 'c', vectorBytes: 64, fma: true, cores: 1,
  memory: [
    { name: 'scratchpad', bytes: 1 * MiB, bandwidth: 512e9, kind: 'scratchpad', shared: false },
    { name: 'DRAM', bytes: 2 * 1024 * MiB, bandwidth: 25.6e9, kind: 'dram', shared: true },
  ],
  peakFlops: { f32: 128e9, f16: 512e9 }, macArray: { rows: 16, cols: 16 }, dma: { bandwidth: 25.6e9, channels: 2 },
  limits: {}, alignment: 64,
};

const MODULE: Module = { name: 'm', dims: [], weights: [], funcs: [] };
const T = sym('T');

function buf(name: string, shape: Dim[], kind: KBuffer['kind'], dtype: DType = 'f32'): KBuffer {
  return { name, dtype, shape, kind };
}

function dense(n: number, depth: number): KProgram {
  return {
    name: 'dense', module: MODULE, pack: 'pack',
    buffers: [buf('x', [T, depth], 'input'), buf('w', [n, depth], 'weight'), buf('y', [T, n], 'output')],
    steps: [{ kind: 'gemm', a: 'x', w: 'w', transB: true, out: 'y', epilogue: [] }],
    inputs: [{ name: 'x', buffer: 'x' }], outputs: [{ name: 'y', buffer: 'y' }],
  };
}

/** Router → moe_align → gate/up (SwiGLU) → down (combine), Mixtral-like by default. */
function moe(d = 4096, f = 14336, e = 8, k = 2): KProgram {
  const rows: Dim = { terms: [['T', k]], c: e * 15 };
  const steps: Kernel[] = [
    {
      kind: 'router', x: 'x', w: 'wr', indices: 'idx', weights: 'rw', experts: e, k, score: 'softmax', select: { kind: 'topk' },
      postSoftmax: true, normalize: true, scale: 1, shared: 0,
    },
    { kind: 'moe_align', indices: 'idx', experts: e, k, block: 16, sorted: 'sorted', blockExpert: 'bexp', count: 'count' },
    {
      kind: 'grouped_gemm', a: 'x', gather: true, w: 'w13', transB: true, sorted: 'sorted', blockExpert: 'bexp', count: 'count', k,
      out: 'h', epilogue: [{ kind: 'glu', fn: 'swiglu', layout: 'concat' }], sortedFromTokens: 1, indices: 'idx',
    },
    {
      kind: 'grouped_gemm', a: 'h', gather: false, w: 'w2', transB: true, sorted: 'sorted', blockExpert: 'bexp', count: 'count', k,
      out: 'y', epilogue: [{ kind: 'combine', weights: 'rw' }], sortedFromTokens: 1, indices: 'idx',
    },
  ];
  return {
    name: 'moe', module: MODULE, pack: 'pack',
    buffers: [
      buf('x', [T, d], 'input'), buf('wr', [e, d], 'weight'), buf('w13', [e, 2 * f, d], 'weight'), buf('w2', [e, d, f], 'weight'),
      buf('idx', [T, k], 'temp', 'i32'), buf('rw', [T, k], 'temp'), buf('sorted', [rows], 'temp', 'i32'),
      buf('bexp', [{ terms: [['T', k]], c: e }], 'temp', 'i32'), buf('count', [1], 'temp', 'i32'), buf('h', [rows, f], 'temp'),
      buf('y', [T, d], 'output'),
    ],
    steps, inputs: [{ name: 'x', buffer: 'x' }], outputs: [{ name: 'y', buffer: 'y' }],
  };
}

const TILE: Tiling = { m: 24, n: 256, k: 256, mr: 6, nr: 16, vector: 8 };

describe('FLOPs', () => {
  it('counts 2·M·N·K for a dense GEMM', () => {
    const p = dense(4096, 1024);
    const prob = gemmProblem(p.steps[0] as Kernel, p, { T: 100 });
    expect([prob.rows, prob.n, prob.depth]).toEqual([100, 4096, 1024]);
    const c = gemmCost(prob, TILE, X86);
    expect(c.usefulFlops).toBe(2 * 100 * 4096 * 1024);
    expect(c.flops).toBe(c.usefulFlops);
  });

  it('counts T·k rows for a grouped GEMM, plus the padding rows the blocks compute', () => {
    const p = moe();
    const gate = p.steps[2] as GroupedGemmKernel;
    const prob = gemmProblem(gate, p, { T: 64 });
    expect([prob.rows, prob.n, prob.depth, prob.outCols, prob.experts]).toEqual([128, 2 * 14336, 4096, 14336, 8]);
    const c = gemmCost(prob, { ...TILE, m: 64, mr: 4, nr: 16 }, X86);
    const gemm = 2 * 128 * 28672 * 4096;
    expect(c.usefulFlops).toBeCloseTo(gemm + 128 * 14336 * 6, -3);
    // 128 rows over ~8 experts: 16 each, padded to 64
    const act = activeExperts(prob);
    expect(c.flops).toBeGreaterThan(c.usefulFlops * 3);
    expect(c.flops).toBeCloseTo(act * 2 * 64 * 28672 * 4096 + 128 * 14336 * 6, -6);
  });

  it('sums a program, loop bodies times their count', () => {
    const body = dense(512, 512);
    const looped: KProgram = { ...body, steps: [{ kind: 'loop', count: 3, slices: [], carried: [], body: body.steps }] };
    const once = programCost(body, X86, 32);
    const thrice = programCost(looped, X86, 32);
    expect(once.flops).toBe(2 * 32 * 512 * 512);
    expect(thrice.flops).toBe(3 * once.flops);
    expect(thrice.seconds).toBeCloseTo(3 * once.seconds, 12);
    expect(thrice.perKernel).toEqual([expect.objectContaining({ kind: 'gemm', times: 3, label: 'gemm:y' })]);
    expect(thrice.levels).toEqual(['L1d', 'L2', 'L3', 'DRAM']);
  });
});

describe('expected active experts', () => {
  it('is E·(1 − (1 − K/E)^T)', () => {
    expect(expectedActiveExperts(8, 2, 1)).toBeCloseTo(2, 12);
    expect(expectedActiveExperts(8, 2, 2)).toBeCloseTo(8 * (1 - 0.75 ** 2), 12);
    expect(expectedActiveExperts(256, 8, 10)).toBeCloseTo(256 * (1 - (1 - 8 / 256) ** 10), 9);
    expect(expectedActiveExperts(8, 2, 0)).toBe(0);
    expect(expectedActiveExperts(4, 4, 3)).toBe(4);
  });

  it('grows with T, never past E or T·K', () => {
    let prev = 0;
    for (let t = 1; t <= 2000; t *= 2) {
      const a = expectedActiveExperts(256, 8, t);
      expect(a).toBeGreaterThan(prev);
      expect(a).toBeLessThanOrEqual(Math.min(256, 8 * t) + 1e-9);
      prev = a;
    }
    expect(expectedActiveExperts(256, 8, 4096)).toBeCloseTo(256, 6);
  });

  it('streams weights only for the active experts', () => {
    const p = moe();
    const prob = gemmProblem(p.steps[2] as Kernel, p, { T: 1 });
    const c = gemmCost(prob, { ...TILE, m: 6, mr: 6 }, X86);
    const expert = 28672 * 4096 * 4;
    // one token, two choices: two experts' weights from DRAM (plus small A and C traffic)
    expect(c.bytes[c.bytes.length - 1]).toBeGreaterThanOrEqual(2 * expert);
    expect(c.bytes[c.bytes.length - 1]).toBeLessThan(2.01 * expert);
    // the direct path reads one expert per (token, choice) pair
    const d = directDecodeCost({ ...prob, tokens: 3, rows: 6 }, TILE, X86);
    expect(d.bytes[d.bytes.length - 1]).toBeGreaterThanOrEqual(6 * expert);
  });
});

describe('roofline', () => {
  it('finds a decode GEMV bound by DRAM and a large GEMM bound by compute', () => {
    const p = dense(4096, 4096);
    const gemv = gemmCost(gemmProblem(p.steps[0] as Kernel, p, { T: 1 }), { ...TILE, m: 6 }, X86);
    expect(gemv.bound).toBe('DRAM');
    expect(gemv.seconds).toBeCloseTo(gemv.levelSeconds[3], 15);
    expect(gemv.intensity).toBeLessThan(1);
    const big = gemmCost(gemmProblem(p.steps[0] as Kernel, p, { T: 4096 }), TILE, X86);
    expect(big.bound).toBe('compute');
    expect(big.seconds).toBe(big.computeSeconds);
    expect(big.intensity).toBeGreaterThan(10);
    expect(big.seconds).toBeGreaterThanOrEqual(Math.max(...big.levelSeconds));
  });

  it('charges poor micro-tiles lower efficiency', () => {
    const p = dense(4096, 4096);
    const prob = gemmProblem(p.steps[0] as Kernel, p, { T: 4096 });
    const good = gemmCost(prob, TILE, X86);
    const thin = gemmCost(prob, { ...TILE, m: 8, mr: 1, nr: 8 }, X86);
    expect(thin.efficiency).toBeLessThan(good.efficiency);
    expect(thin.seconds).toBeGreaterThan(good.seconds);
  });

  it('adds private bandwidths over the cores and clamps the scratchpad feed to the DMA', () => {
    expect(costLevels(X86).map((l) => l.bandwidth)).toEqual([400e9, 200e9, 100e9, 20e9]);
    expect(costLevels(X86)[2].tileCapacity).toBe(16 * MiB);
    expect(costLevels(NPU)[1].bandwidth).toBe(25.6e9);
  });
});

describe('decodeThreshold', () => {
  it('is small for a Mixtral-like layer, and at least 1', () => {
    const p = tileProgram(moe(), X86, { maxTokens: 512 });
    for (const k of p.steps.filter((s): s is GroupedGemmKernel => s.kind === 'grouped_gemm')) {
      const th = decodeThreshold(k, X86, p, { cap: 512 });
      expect(th).toBeGreaterThanOrEqual(2);
      expect(th).toBeLessThan(100);
      expect(k.sortedFromTokens).toBe(th);
      // the direct path wins just below the threshold, the sorted path from it on
      const prob = gemmProblem(k, p, { T: 1 });
      const at = (n: number): { sorted: number; direct: number } => decodePathCosts({ ...prob, tokens: n, rows: n * prob.slots }, k.tile!, X86);
      expect(at(th - 1).sorted).toBeGreaterThanOrEqual(at(th - 1).direct);
      for (const n of [th, th + 1, 2 * th, 256]) expect(at(n).sorted).toBeLessThan(at(n).direct);
    }
  });

  it('stays ≥ 1 on other targets and shapes, untiled too', () => {
    const p = moe(7168, 2048, 256, 8);
    for (const target of [X86, NPU]) {
      const th = decodeThreshold(p.steps[2] as GroupedGemmKernel, target, p, { cap: 256 });
      expect(th).toBeGreaterThanOrEqual(1);
      expect(th).toBeLessThanOrEqual(257);
    }
  });

  it('selects the path in programCost', () => {
    const p = tileProgram(moe(), X86, { maxTokens: 512 });
    const th = (p.steps[2] as GroupedGemmKernel).sortedFromTokens;
    const below = programCost(p, X86, th - 1);
    const above = programCost(p, X86, th);
    expect(below.perKernel.filter((e) => e.kind === 'grouped_gemm').map((e) => e.path)).toEqual(['direct', 'direct']);
    expect(below.perKernel.some((e) => e.kind === 'moe_align')).toBe(false);
    expect(above.perKernel.filter((e) => e.kind === 'grouped_gemm').map((e) => e.path)).toEqual(['sorted', 'sorted']);
    expect(above.perKernel.some((e) => e.kind === 'moe_align')).toBe(true);
    expect(above.seconds).toBeCloseTo(above.perKernel.reduce((s, e) => s + e.seconds, 0), 12);
  });
});
