/**
 * @fileoverview Target capability sheets: the typed form of `targets/*.yaml`. The tiler,
 * the memory planner and the cost model read only this, never a target's name.
 * (The loader and schema validation live in `target-load.ts`.)
 */
import type { KProgram, VectorKind } from '../../ir/kernel/kernel.ts';
import { fail } from '../../ir/diagnostics.ts';

export type Backend = 'c' | 'wasm' | 'wgsl';

/** One level of the memory hierarchy, innermost first. */
export interface MemoryLevel {
  name: string;
  /** Capacity in bytes (per core for private caches; see `shared`). */
  bytes: number;
  /**
   * Sustained bandwidth into the next inner level (or the compute), bytes/second: per core for
   * a private level, for the whole chip for a shared one (like `bytes`).
   */
  bandwidth: number;
  /** `cache` is managed by hardware; `scratchpad` is software-managed (explicit DMA). */
  kind: 'cache' | 'scratchpad' | 'dram';
  /** Shared by all cores (L3, DRAM) rather than private to one. */
  shared: boolean;
}

export interface TargetCaps {
  name: string;
  description: string;
  backend: Backend;
  /** SIMD width in bytes (32 for AVX2, 16 for SIMD128, 0 for scalar). */
  vectorBytes: number;
  /** Fused multiply-add available. */
  fma: boolean;
  /**
   * Architectural vector registers a micro-kernel's accumulators, B vectors and broadcast may
   * occupy (absent: 16, the smaller file of x86 AVX2 and what Wasm engines map v128 to).
   */
  vectorRegisters?: number;
  /** Cores (CPU) or compute units (GPU) that run in parallel. */
  cores: number;
  /** Innermost first; the last level is main memory. */
  memory: MemoryLevel[];
  /** Peak FLOP/s per dtype for the whole chip (e.g. { f32: 1.6e11 }). */
  peakFlops: Partial<Record<'f32' | 'f16' | 'bf16' | 'i8' | 'fp8e4m3', number>>;
  /** A matrix unit (MAC array) of this shape, if any (the NPU's 16x16). */
  macArray?: { rows: number; cols: number };
  /** DMA engine for scratchpad targets. */
  dma?: { bandwidth: number; channels: number };
  /**
   * Backend limits (WebGPU's, for `wgsl`; absent when not applicable). The YAML spells them as
   * WebGPU's `GPUSupportedLimits` does (`maxComputeInvocationsPerWorkgroup`, …).
   */
  limits: {
    maxWorkgroupInvocations?: number;
    /** Largest workgroup size per dimension (WebGPU default 256 × 256 × 64). */
    maxWorkgroupSizeX?: number;
    maxWorkgroupSizeY?: number;
    maxWorkgroupSizeZ?: number;
    maxWorkgroupStorageBytes?: number;
    maxStorageBuffersPerStage?: number;
    /** Largest single storage-buffer binding, bytes (WebGPU default 128 MiB): caps one arena binding. */
    maxStorageBufferBindingBytes?: number;
    /** Largest buffer, bytes (WebGPU default 256 MiB). */
    maxBufferBytes?: number;
    minStorageBufferOffsetAlignment?: number;
    maxComputeWorkgroupsPerDimension?: number;
    shaderF16?: boolean;
  };
  /** Alignment of buffers in the arena, bytes. */
  alignment: number;
}

/**
 * The vector instruction set a target's kernels can be written in, from its capabilities:
 * a C target that is a cache-based CPU (no scratchpad, no MAC array) with FMA and 32- or
 * 64-byte vectors has AVX2 or AVX-512 (the x86 vector extensions of those widths), any
 * other C target (the NPU's control core, a scalar profile) gets portable C, which its own
 * compiler vectorises; Wasm has SIMD128 from 16-byte vectors (else the scalar build); WGSL
 * has vec4. The tiler records it in the kernel program (`KProgram.isa`); a renderer checks
 * that the program it is given was tiled for what its target offers.
 */
export function vectorKindOf(t: TargetCaps): VectorKind {
  if (t.backend === 'wgsl') return 'vec4';
  if (t.backend === 'wasm') return t.vectorBytes >= 16 ? 'simd128' : 'scalar';
  const cpu = !t.macArray && !t.memory.some((l) => l.kind === 'scratchpad');
  if (!cpu || !t.fma) return 'portable';
  return t.vectorBytes === 32 ? 'avx2' : t.vectorBytes === 64 ? 'avx512' : 'portable';
}

/**
 * The vector ISA a kernel program was tiled for, refused (E701) when it is not what the
 * target offers: a program tiled for another target's vectors, whose tiles would not fit
 * this one's registers. Every renderer asks this before printing.
 */
export function programVectorKind(p: Pick<KProgram, 'isa'>, t: TargetCaps): VectorKind {
  if (p.isa === undefined) fail('E701', `the kernel program has no vector ISA: it was not tiled, and the ${t.backend} backend prints the tiler's schedule`, undefined, 'keep the tile pass when emitting code');
  const offered = vectorKindOf(t);
  if (p.isa !== offered) fail('E701', `the kernel program was tiled for ${p.isa} vectors, but target '${t.name}' offers ${offered}`, undefined, 'tile the program for the target it is rendered for');
  return p.isa;
}
