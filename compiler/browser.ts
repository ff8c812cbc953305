/**
 * @fileoverview moec in a web page (`import ... from 'moec/browser'`): everything from a
 * `.moe` text to outputs with no Node built-in: parse and compile the model, compile it for
 * a browser target (`wasm-simd128`, `wasm-scalar`, `webgpu`: the shipped sheets are bundled
 * as data, or give a sheet's YAML text), emit the Wasm module or the WGSL kernels, pack
 * seeded weights, load and run, analyze (per-kernel roofline and its SVG), and the
 * ORT-web-style `InferenceSession`, in the page or in a Web Worker. The backends load on first
 * use (`await browserBackend('wasm' | 'webgpu')`: `emit`, `load`, `packWeights`), so binaryen
 * (most of the bundle's bytes) stays out of a page until it builds a Wasm module.
 *
 * What needs Node stays behind `moec` (compiler/index.ts): the C backend and its builds,
 * files, checkpoints, the build cache, target sheets on disk, the `webgpu` package.
 * scripts/bundle-browser.mjs proves it: an esbuild browser bundle of this file that fails on
 * any `node:` import.
 */
export { InferenceSession } from './browser/session.ts';
export type { Feed, OutputTensor, SessionOptions } from './browser/session.ts';
export { DEFAULT_BROWSER_TARGET, browserBackend, browserTarget, dimsAt } from './browser/engine.ts';
export type { ExecutionProvider, IoInfo, MoeSource, SessionSource, WasmFilesSource } from './browser/engine.ts';

export { bindDims, compile, compileForCaps, parse, quantScheme, quantizeModule, randomInputs, randomWeights, tensorStats } from './driver-core.ts';
export type { CapsCompileOptions, CompileOptions } from './driver-core.ts';
export { parseTarget } from './target/parse.ts';
export { SHIPPED_SHEETS } from './target/sheets.ts';
export type { TargetCaps } from './target/caps.ts';
export { interpret } from '../ir/graph/interp.ts';
export { agreement } from './compare.ts';
export type { Agreement } from './compare.ts';

export { packWeights, weightBlob, weightLayout } from './backends/weights.ts';
export { MoecWasmModel, instantiateWasmModel, loadWasmModel } from './backends/wasm/loader.ts';
export type { WasmManifest, WasmWeights } from './backends/wasm/loader.ts';
export type { WgslModel } from './backends/wgsl/runtime.ts';
export { BROWSER_GPU, NoAdapterError, getDevice } from './backends/wgsl/gpu.ts';
export type { GpuHost } from './backends/wgsl/gpu.ts';

export { analyzeModel } from './analysis/analyze.ts';
export type { Analysis } from './analysis/analyze.ts';
export { renderAnalysis } from './analysis/render.ts';
export { rooflineSvg } from './analysis/svg.ts';
export { compileReport } from './cli/report.ts';
export { printKernelIR } from '../ir/kernel/kprint.ts';

export { MoecError, formatDiagnostic } from '../ir/diagnostics.ts';
export type { Diagnostic } from '../ir/diagnostics.ts';
export type { Module } from '../ir/graph/graph.ts';
export type { Tensor } from '../ir/tensor.ts';
export type { KProgram } from '../ir/kernel/kernel.ts';
