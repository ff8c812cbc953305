/**
 * @fileoverview Target capability sheets: the typed form of `targets/*.yaml`. The tiler,
 * the memory planner and the cost model read only this, never a target's name.
 * (The loader and schema validation live in `target-load.ts`.)
 */

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
