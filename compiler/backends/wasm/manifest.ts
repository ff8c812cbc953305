/**
 * @fileoverview The JSON manifest that travels with `model.wasm`: everything the loader
 * needs to place weights and inputs and read outputs, with no knowledge of moec's IR. It is
 * plain data, so a page can `fetch` it next to the module.
 */

/** A size linear in the token count: c + t·T. */
export interface TokenLinear {
  c: number;
  t: number;
}

export interface ManifestTensor {
  /** Graph name of the model input or output. */
  name: string;
  /** Byte address in linear memory at token count T: c + t·T (inputs and the arena follow the weights, sized by T). */
  address: TokenLinear;
  /** Number of float32 elements at token count T: c + t·T. */
  elements: TokenLinear;
  /** Shape, each dim a number or c + t·T. */
  shape: Array<number | TokenLinear>;
  /** An int32 tensor (token ids, expert indices); absent: float32. */
  int?: true;
}

export interface ManifestWeight {
  /** The packed weight buffer's name (`packWeights` gives it by this name). */
  name: string;
  /**
   * `i8`, `i4` and `fp8e4m3` are quantized weights: their codes as bytes (i4: two per
   * byte along the last axis, even index in the low nibble), with f32 scales in the weight
   * named by `quant.scales`. The kernels dequantize them as they read them.
   */
  dtype: 'f32' | 'i32' | 'i8' | 'i4' | 'fp8e4m3';
  shape: number[];
  /**
   * A quantized weight's scales: element value = f32(decode(code) · scales[.., r / group, ..])
   * with r the index along `axis` (the reduction axis); `scales` has the weight's shape with
   * that axis replaced by ceil(R / group).
   */
  quant?: { scales: string; axis: number; group: number };
  /** Byte offset inside the weights blob (the blob goes at `weights.base`). */
  offset: number;
  bytes: number;
}

export interface WasmManifest {
  format: 'moec-wasm';
  /** 2 since addresses, the arena and `memory.callBytes` are affine in T (memory grown per call); a version 1 loader would misread them. */
  version: 2;
  model: string;
  target: string;
  /** Whether the module uses SIMD128 (the loader reports a clear error when the engine lacks it). */
  simd: boolean;
  /** The module multiplies-adds with relaxed SIMD (`f32x4.relaxed_madd`): only engines that offer it compile it. */
  relaxedSimd?: true;
  /**
   * The file beside this module (`moec compile` writes `model.relaxed.wasm` for a SIMD128
   * target) with the same layout and relaxed SIMD micro-kernels: the loader's
   * `wasmModuleFile(manifest)` names it where the engine offers relaxed SIMD.
   */
  relaxedSimdModule?: string;
  /**
   * The threaded build (`threads.ts`): up to `max` threads share the module's memory, which it
   * imports as `env.memory` (shared, maximum 65536 pages); its control words (barrier, job,
   * error) are at byte `control`.
   */
  threads?: { max: number; control: number };
  /**
   * The threaded build beside this module (`moec compile --threads N` writes
   * `model.threads.wasm` and its own manifest `model.threads.json`, for up to `max` threads),
   * which reads the same weights blob: load it with `loadWasmModel(.., { threads })` in a
   * context that can run threads (`canRunThreads`).
   */
  threadedModule?: { module: string; manifest: string; max: number };
  /** Largest token count the module was planned for; `forward` rejects more. */
  maxTokens: number;
  memory: {
    /** Pages (64 KiB) the module declares; the loader grows memory to `totalPages` for the weights. */
    initialPages: number;
    totalPages: number;
    /** Bytes of memory a call with T tokens needs (its inputs and arena after the weights): the loader grows to them before the call. */
    callBytes: TokenLinear;
  };
  weights: { base: number; bytes: number; align: number; entries: ManifestWeight[] };
  inputs: ManifestTensor[];
  outputs: ManifestTensor[];
  /**
   * A model with KV caches: they live in linear memory between calls, after the weights (so
   * growing memory for a call keeps them). Before each call the loader writes the positions
   * already cached, L, as an i32 at byte `past`; the call appends its T positions at L..L+T-1,
   * and L + T must not pass `maxContext`. Each cache is `shape` float32s at `address`
   * (`reset` zeroes them; a caller may fill rows 0..L-1 to resume a generation).
   */
  state?: { maxContext: number; past: number; buffers: Array<{ name: string; address: number; shape: number[] }> };
  /** Where the arena and the scratch region lie at token count T (for tools that check memory use). */
  arena: { base: TokenLinear; bytes: TokenLinear };
  scratch: { base: number; bytes: number };
}
