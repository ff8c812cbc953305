/**
 * @fileoverview The tiler on four hand-built capability sheets (x86 AVX2, WebAssembly
 * SIMD128, WebGPU, a scratchpad NPU) and a few GEMM shapes: every chosen tile fits the level
 * it is sized for, its micro-tile fits the registers, NPU tiles are MAC-array multiples,
 * targets get different tiles, moe_align blocks follow the grouped GEMM's m, and every
 * tile explains itself in a note.
 */
import { describe, expect, it } from 'vitest';
import { costLevels, gemmProblem, registerUse } from '../../compiler/cost/cost.ts';
import { blocksBound, microTiles, resizeForBlock, tilePass, tileProgram } from '../../compiler/passes/tile.ts';
import type { TargetCaps } from '../../compiler/target/caps.ts';
import { type Dim, dimToString, sym } from '../../ir/dims.ts';
import type { Module } from '../../ir/graph/graph.ts';
import type { GroupedGemmKernel, KBuffer, KProgram, Kernel, MoeAlignKernel, Tiling } from '../../ir/kernel/kernel.ts';
import type { DType } from '../../ir/types.ts';
import { compile } from '../../compiler/driver.ts';
import { forEachKernel } from '../../ir/kernel/walk.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

export const X86: TargetCaps = {
  name: 'x86-avx2', description: '2-core AVX2 laptop', backend: 'c', vectorBytes: 32, fma: true, cores: 2,
  memory: [
    { name: 'L1d', bytes: 32 * KiB, bandwidth: 200e9, kind: 'cache', shared: false },
    { name: 'L2', bytes: 512 * KiB, bandwidth: 100e9, kind: 'cache', shared: false },
    { name: 'L3', bytes: 32 * MiB, bandwidth: 100e9, kind: 'cache', shared: true },
    { name: 'DRAM', bytes: 16 * 1024 * MiB, bandwidth: 20e9, kind: 'dram', shared: true },
  ],
  peakFlops: { f32: 200e9 }, limits: {}, alignment: 64,
};

export const WASM: TargetCaps = {
  name: 'wasm-simd128', description: 'one browser thread', backend: 'wasm', vectorBytes: 16, fma: false, cores: 1,
  memory: [
    { name: 'L1d', bytes: 32 * KiB, bandwidth: 100e9, kind: 'cache', shared: false },
    { name: 'L2', bytes: 256 * KiB, bandwidth: 50e9, kind: 'cache', shared: false },
    { name: 'DRAM', bytes: 4 * 1024 * MiB, bandwidth: 10e9, kind: 'dram', shared: true },
  ],
  peakFlops: { f32: 25e9 }, limits: {}, alignment: 16,
};

export const WEBGPU: TargetCaps = {
  name: 'webgpu', description: 'a baseline WebGPU device', backend: 'wgsl', vectorBytes: 16, fma: true, cores: 16,
  memory: [
    { name: 'workgroup', bytes: 16 * KiB, bandwidth: 1e11, kind: 'scratchpad', shared: false },
    { name: 'L2', bytes: 4 * MiB, bandwidth: 1e12, kind: 'cache', shared: true },
    { name: 'VRAM', bytes: 4 * 1024 * MiB, bandwidth: 200e9, kind: 'dram', shared: true },
  ],
  peakFlops: { f32: 5e12, f16: 10e12 },
  limits: {
    maxWorkgroupInvocations: 256, maxWorkgroupStorageBytes: 16 * KiB, maxStorageBuffersPerStage: 8,
    minStorageBufferOffsetAlignment: 256, maxComputeWorkgroupsPerDimension: 65535,
  },
  alignment: 256,
};

export const NPU: TargetCaps = {
  name: 'npu-scratchpad', description: '16x16 MAC array with a 1 MiB scratchpad', backend: 'c', vectorBytes: 64, fma: true, cores: 1,
  memory: [
    { name: 'scratchpad', bytes: 1 * MiB, bandwidth: 512e9, kind: 'scratchpad', shared: false },
    { name: 'DRAM', bytes: 2 * 1024 * MiB, bandwidth: 25.6e9, kind: 'dram', shared: true },
  ],
  peakFlops: { f32: 128e9, f16: 512e9, i8: 1024e9 },
  macArray: { rows: 16, cols: 16 }, dma: { bandwidth: 25.6e9, channels: 2 }, limits: {}, alignment: 64,
};

export const TARGETS = [X86, WASM, WEBGPU, NPU];

const MODULE: Module = { name: 'm', dims: [], weights: [], funcs: [] };
const T = sym('T');

function buf(name: string, shape: Dim[], kind: KBuffer['kind'], dtype: DType = 'f32'): KBuffer {
  return { name, dtype, shape, kind };
}

/** A dense GEMM program: out[T, N] = x[T, Kd] @ w[N, Kd]ᵀ. */
export function denseProgram(n: number, depth: number): KProgram {
  return {
    name: 'dense', module: MODULE, pack: 'pack',
    buffers: [buf('x', [T, depth], 'input'), buf('w', [n, depth], 'weight'), buf('y', [T, n], 'output')],
    steps: [{ kind: 'gemm', a: 'x', w: 'w', transB: true, out: 'y', epilogue: [] }],
    inputs: [{ name: 'x', buffer: 'x' }], outputs: [{ name: 'y', buffer: 'y' }],
  };
}

/**
 * One MoE layer as the lowering emits it: router → moe_align → gate/up grouped GEMM with
 * SwiGLU (gathering x) → down grouped GEMM combining into y. `rows` = T·k + E·(block − 1).
 */
export function moeProgram(opts: { d: number; f: number; experts: number; k: number; block?: number; dtype?: DType }): KProgram {
  const { d, f, experts: e, k } = opts;
  const block = opts.block ?? 16;
  const wt = opts.dtype ?? 'f32';
  const rows: Dim = { terms: [['T', k]], c: e * (block - 1) };
  const steps: Kernel[] = [
    {
      kind: 'router', x: 'x', w: 'wr', indices: 'idx', weights: 'rw', experts: e, k, score: 'softmax', select: { kind: 'topk' },
      postSoftmax: true, normalize: true, scale: 1, shared: 0,
    },
    { kind: 'moe_align', indices: 'idx', experts: e, k, block, sorted: 'sorted', blockExpert: 'bexp', count: 'count' },
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
      buf('x', [T, d], 'input'), buf('wr', [e, d], 'weight'), buf('w13', [e, 2 * f, d], 'weight', wt), buf('w2', [e, d, f], 'weight', wt),
      buf('idx', [T, k], 'temp', 'i32'), buf('rw', [T, k], 'temp'), buf('sorted', [rows], 'temp', 'i32'),
      buf('bexp', [{ terms: [['T', k]], c: e }], 'temp', 'i32'), buf('count', [1], 'temp', 'i32'), buf('h', [rows, f], 'temp'),
      buf('y', [T, d], 'output'),
    ],
    steps, inputs: [{ name: 'x', buffer: 'x' }], outputs: [{ name: 'y', buffer: 'y' }],
  };
}

export const SHAPES = {
  mixtral: { d: 4096, f: 14336, experts: 8, k: 2 },
  deepseek: { d: 7168, f: 2048, experts: 256, k: 8 },
  tiny: { d: 8, f: 16, experts: 4, k: 2 },
};

function kernelsOf(p: KProgram): Kernel[] {
  return p.steps.filter((s): s is Kernel => s.kind !== 'loop');
}

/** Element sizes of a tiled kernel's A and B operands. */
function elemSizes(p: KProgram, k: Kernel): { a: number; b: number } {
  const bytes = (n: string): number => ({ f32: 4, f16: 2, bf16: 2, i32: 4 } as Record<string, number>)[p.buffers.find((b) => b.name === n)!.dtype];
  if (k.kind === 'router') return { a: bytes(k.x), b: bytes(k.w) };
  if (k.kind === 'gemm' || k.kind === 'grouped_gemm') return { a: bytes(k.a), b: bytes(k.w) };
  throw new Error('not GEMM-like');
}

/** Checks a tile against the target's limits, recomputing the working sets from scratch. */
function expectFits(target: TargetCaps, p: KProgram, k: Kernel, tile: Tiling): void {
  const { a: ea, b: eb } = elemSizes(p, k);
  const A = tile.m * tile.k * ea;
  const B = tile.k * tile.n * eb;
  const C = tile.m * tile.n * 4;
  expect(tile.m % tile.mr).toBe(0);
  expect(tile.n % tile.nr).toBe(0);
  expect(tile.note).toMatch(/sized for .*; moves .*; AI .* flop\/B; est /);
  if (target === NPU) {
    expect(tile.m % 16).toBe(0);
    expect(tile.n % 16).toBe(0);
    expect([tile.mr, tile.nr]).toEqual([16, 16]);
    expect(2 * (A + B) + C).toBeLessThanOrEqual(1 * MiB);
    expect(tile.note).toContain('2(A+B)+C');
  } else if (target === WEBGPU) {
    expect(tile.vector).toBe(4);
    expect(tile.nr % 4).toBe(0);
    expect((tile.m / tile.mr) * (tile.n / tile.nr)).toBeLessThanOrEqual(256);
    expect(A + B).toBeLessThanOrEqual(16384);
    expect(tile.mr * tile.nr).toBeLessThanOrEqual(64);
  } else {
    const v = target.vectorBytes / 4;
    expect(tile.vector).toBe(v);
    expect(tile.nr % v).toBe(0);
    // the sheet's vector registers (16 unless it says): accumulators + B vectors + one A broadcast
    expect(tile.mr * (tile.nr / v) + tile.nr / v + 1).toBeLessThanOrEqual(target.vectorRegisters ?? 16);
    const l1 = target.memory[0].bytes;
    const l2 = target.memory[1].bytes;
    expect(A + B + C).toBeLessThanOrEqual(l2);
    expect(tile.mr * tile.k * ea + tile.k * tile.nr * eb + tile.mr * tile.nr * 4).toBeLessThanOrEqual(l1);
  }
  const r = registerUse(target, tile.mr, tile.nr, tile.vector);
  expect(r.used).toBeLessThanOrEqual(r.limit);
}

describe('tileProgram', () => {
  for (const target of TARGETS) {
    describe(target.name, () => {
      for (const [shapeName, shape] of Object.entries(SHAPES)) {
        it(`tiles a ${shapeName}-like MoE layer within the target's limits`, () => {
          const p = moeProgram(shape);
          const q = tileProgram(p, target, { maxTokens: 512 });
          const ks = kernelsOf(q);
          const gg = ks.filter((k): k is GroupedGemmKernel => k.kind === 'grouped_gemm');
          for (const k of ks) {
            if (k.kind === 'op' || k.kind === 'moe_align' || k.kind === 'attention' || k.kind === 'mla_attention' || k.kind === 'dispatch' || k.kind === 'ep_combine') continue;
            expect(k.tile, `${k.kind} has a tile`).toBeDefined();
            expectFits(target, q, k, k.tile!);
          }
          // tiles stay inside the problem (rounded to the micro-tile)
          for (const k of gg) {
            const prob = gemmProblem(k, q, { T: 512 });
            expect(k.tile!.n).toBeLessThanOrEqual(Math.ceil(prob.n / k.tile!.nr) * k.tile!.nr);
            expect(k.tile!.k).toBeLessThanOrEqual(Math.ceil(prob.depth / k.tile!.vector) * k.tile!.vector);
          }
          // one m for the gate/up and down GEMMs, and it is the moe_align block
          const align = ks.find((k): k is MoeAlignKernel => k.kind === 'moe_align')!;
          expect(gg[0].tile!.m).toBe(gg[1].tile!.m);
          expect(align.block).toBe(gg[0].tile!.m);
          for (const k of gg) {
            expect(k.sortedFromTokens).toBeGreaterThanOrEqual(1);
            expect(k.tile!.note).toContain(`pads to blocks of ${align.block}`);
          }
          // buffers sized by the block follow it
          const rows = `${shape.k}*T+${shape.experts * (align.block - 1)}`;
          expect(dimToString(q.buffers.find((b) => b.name === 'sorted')!.shape[0])).toBe(rows);
          expect(dimToString(q.buffers.find((b) => b.name === 'h')!.shape[0])).toBe(rows);
          // pure
          expect(p.steps.every((s) => s.kind === 'loop' || !('tile' in s) || s.tile === undefined)).toBe(true);
          expect((p.steps[1] as MoeAlignKernel).block).toBe(16);
        });
      }

      it('tiles dense GEMMs, including ones smaller than a micro-tile', () => {
        for (const [n, depth] of [[16, 8], [2048, 7168], [4096, 4096]]) {
          const q = tileProgram(denseProgram(n, depth), target, { maxTokens: 256 });
          const k = kernelsOf(q)[0];
          if (k.kind !== 'gemm') throw new Error('expected the gemm');
          expectFits(target, q, k, k.tile!);
        }
      });
    });
  }

  it('gives different targets different tiles', () => {
    const tiles = TARGETS.map((t) => {
      const k = kernelsOf(tileProgram(moeProgram(SHAPES.deepseek), t, { maxTokens: 512 }))[2];
      const { m, n, k: kk, mr, nr } = k.kind === 'grouped_gemm' ? k.tile! : ({} as Tiling);
      return JSON.stringify({ m, n, kk, mr, nr });
    });
    expect(new Set(tiles).size).toBe(TARGETS.length);
  });

  it('register model: AVX-512 micro-tiles use its 32 zmm registers (more accumulators than 16 registers hold)', () => {
    // The tiler assumed 16 registers for every SIMD target: AVX-512 got at most 12 accumulators.
    const AVX512: TargetCaps = { ...X86, name: 'x86-avx512', vectorBytes: 64, vectorRegisters: 32 };
    const fits = microTiles(AVX512, 16).map(({ mr, nr }) => `${mr}x${nr}`);
    expect(fits).toContain('8x48'); // 24 accumulators + 3 B vectors + 1 broadcast = 28
    expect(fits).not.toContain('8x64'); // 32 + 4 + 1 = 37
    expect(microTiles({ ...AVX512, vectorRegisters: undefined }, 16).map(({ mr, nr }) => `${mr}x${nr}`)).not.toContain('8x48');
    for (const shape of [SHAPES.mixtral, SHAPES.deepseek]) {
      const k = kernelsOf(tileProgram(moeProgram(shape), AVX512, { maxTokens: 512 }))[2];
      const t = k.kind === 'grouped_gemm' ? k.tile! : ({} as Tiling);
      const r = registerUse(AVX512, t.mr, t.nr, t.vector);
      expect(r.limit).toBe(32);
      expect(t.mr * (t.nr / t.vector), `accumulators of ${t.mr}x${t.nr}`).toBeGreaterThan(12);
      expect(r.used).toBeLessThanOrEqual(32);
    }
  });

  it('register model: a quantized C micro-tile counts a scale vector per B vector (6x64 on AVX-512 needed 33 zmm)', () => {
    const AVX512: TargetCaps = { ...X86, name: 'x86-avx512', vectorBytes: 64, vectorRegisters: 32 };
    expect(registerUse(AVX512, 6, 64, 16)).toEqual({ used: 29, limit: 32 });
    expect(registerUse(AVX512, 6, 64, 16, true)).toEqual({ used: 33, limit: 32 });
    expect(microTiles(AVX512, 16, true).map(({ mr, nr }) => `${mr}x${nr}`)).not.toContain('6x64');
    // other backends' quantized kernels decode differently: unchanged there
    expect(registerUse({ ...WASM }, 2, 16, 4, true).used).toBe(registerUse(WASM, 2, 16, 4).used);
  });

  it('sizes CPU blocks for L2 with the micro-panel in L1, and names the level in the note', () => {
    const k = kernelsOf(tileProgram(denseProgram(4096, 4096), X86, { maxTokens: 1024 }))[0];
    expect(k.kind === 'gemm' && k.tile!.note).toMatch(/^sized for L2: A\+B\+C .* \(L1d panel /);
    expect(costLevels(X86).map((l) => l.name)).toEqual(['L1d', 'L2', 'L3', 'DRAM']);
  });

  it('runs as a kernel pass, at the token bound lowering recorded in the program', () => {
    expect(tilePass.name).toBe('tile');
    expect(tilePass.level).toBe('kernel');
    expect(tilePass.requires).toContain('lower-kernels');
    const q = tilePass.run({ ...moeProgram(SHAPES.tiny), maxTokens: 64 }, { target: X86 });
    expect(kernelsOf(q).every((k) => k.kind === 'moe_align' || k.kind === 'op' || k.kind === 'attention' || k.kind === 'mla_attention' || k.kind === 'dispatch' || k.kind === 'ep_combine' || k.tile !== undefined)).toBe(true);
  });

  it('tiles kernels inside loops', () => {
    const p = denseProgram(256, 256);
    const looped: KProgram = {
      ...p,
      buffers: [...p.buffers, buf('ws', [4, 256, 256], 'weight')].filter((b) => b.name !== 'w'),
      steps: [{ kind: 'loop', count: 4, slices: [{ stacked: 'ws', slice: 'w' }], carried: [], body: p.steps }],
    };
    const q = tileProgram(looped, WEBGPU, { maxTokens: 64 });
    const body = q.steps[0].kind === 'loop' ? q.steps[0].body : [];
    expect(body[0].kind === 'gemm' && body[0].tile).toBeTruthy();
  });
});

describe('moe_align block resizing', () => {
  it('bounds the block count with integer coefficients', () => {
    expect(dimToString(blocksBound({ terms: [['T', 8]], c: 256 * 63 }, 64))).toBe('T+252');
    expect(blocksBound(100, 16)).toBe(7);
  });

  it('resizes the sorted rows and the buffers that share them', () => {
    const p = moeProgram({ ...SHAPES.mixtral, block: 16 });
    const align = p.steps[1] as MoeAlignKernel;
    const out = resizeForBlock(p.buffers, align, 64);
    const shape = (n: string): string => out.find((b) => b.name === n)!.shape.map(dimToString).join(',');
    expect(shape('sorted')).toBe('2*T+504');
    expect(shape('h')).toBe('2*T+504,14336');
    expect(shape('bexp')).toBe('T+8');
    expect(shape('y')).toBe('T,4096');
  });

  it('two MoE layers in one function: each align resizes only its own buffers (they have equal lengths)', () => {
    const src = `dim T <= 64
const D = 8
block moe(x: f32[T, D]) {
  weight router: f32[4, D]
  weight up: f32[4, 16, D]
  weight gate: f32[4, 16, D]
  weight down: f32[4, D, 16]
  top = topk(softmax(linear(x, router)), k=2)
  return x + experts(x, top.indices, top.values, gate=gate, up=up, down=down)
}
block pair(x: f32[T, D]) {
  y = moe(x) as a
  return moe(y) as b
}
model m {
  input x: f32[T, D]
  output y = repeat(2) pair(x)
}`;
    const p = runPipeline(compile(src), { target: loadTarget('x86-avx2'), maxTokens: 64 }).program!;
    const aligns: MoeAlignKernel[] = [];
    forEachKernel(p.steps, (k) => k.kind === 'moe_align' && aligns.push(k));
    expect(aligns).toHaveLength(2);
    for (const a of aligns) {
      const rows = p.buffers.find((b) => b.name === a.sorted)!.shape[0];
      expect(dimToString(rows), a.sorted).toBe(`2*T+${4 * (a.block - 1)}`);
    }
  });
});
