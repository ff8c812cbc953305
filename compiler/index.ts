/**
 * @fileoverview The public API of moec: `import { compile, run, ... } from 'moec'`.
 * Everything the CLI does is available here as plain functions.
 */
export { compile, compileFile, parse, run, randomInputs, randomWeights, weightsFromSafetensors, inputsFromSafetensors, bindDims, tensorStats } from './driver.ts';
export { compileModel } from './driver.ts';
export { openCheckpoint } from '../ir/checkpoint.ts';
export type { Checkpoint } from '../ir/checkpoint.ts';
export { quantizeCheckpoint } from './checkpoint/quantize.ts';
export type { QuantizeResult } from './checkpoint/quantize.ts';
export { quantizeModule, quantScheme } from './driver.ts';
export { QUANT_SCHEMES, quantize, dequantize, packCodes, unpackCodes } from '../ir/quant.ts';
export type { QuantScheme, QuantDType, QuantData } from '../ir/quant.ts';
export type { CompileOptions, RunOptions, RunResult, TargetCompileOptions } from './driver.ts';
export { runPipeline, pipelineSteps } from './pipeline.ts';
export type { PipelineOptions, PipelineResult } from './pipeline.ts';
export { loadTarget, parseTarget, listTargets } from './target/load.ts';
export type { TargetCaps, MemoryLevel, Backend } from './target/caps.ts';
export { programCost } from './cost/cost.ts';
export { compileReport } from './cli/report.ts';
export { printKernelIR } from '../ir/kernel/kprint.ts';
export { parseKernelIR } from '../ir/kernel/kparse.ts';
export { verifyKernelIR } from '../ir/kernel/kverify.ts';
export { interpretKernelIR } from '../ir/kernel/kinterp.ts';
export type { KProgram, Kernel, Step, KBuffer, Tiling, Epilogue } from '../ir/kernel/kernel.ts';
export { main as cli } from './cli/cli.ts';
export { checkSummary } from './cli/cli.ts';
export { summarizeParams } from './analysis/params.ts';
export { formatCount } from './format.ts';
export { importHfConfig, IMPORTABLE } from './import/index.ts';
export { importGguf } from './import/gguf.ts';
export type { ImportResult } from './import/index.ts';
export type { ImportNote } from './import/config.ts';
export { kvCachePerToken } from './analysis/kv-cache.ts';
export type { KvCacheSummary } from './analysis/kv-cache.ts';
export type { ParamSummary, WeightSummary } from './analysis/params.ts';
export { analyzeModel, ANALYSIS_SCHEMA } from './analysis/analyze.ts';
export type { Analysis, AnalyzeOptions } from './analysis/analyze.ts';
export { renderAnalysis } from './analysis/render.ts';
export { rooflineSvg } from './analysis/svg.ts';
export { MoecError, formatDiagnostic, DIAGNOSTICS } from '../ir/diagnostics.ts';
export { UsageError } from './usage-error.ts';
export type { Diagnostic, DiagnosticCode } from '../ir/diagnostics.ts';
export { SourceFile } from '../ir/source.ts';
export type { Span } from '../ir/source.ts';
export type * as ast from './frontend/ast.ts';

export { printIR } from '../ir/graph/print.ts';
export { parseIR } from '../ir/graph/parse.ts';
export { verify, verifyOrThrow } from '../ir/graph/verify.ts';
export { interpret } from '../ir/graph/interp.ts';
export type { InterpretOptions } from '../ir/graph/interp.ts';
export type { Module, Func, Node, Value, WeightDecl, DimDecl, Attrs, AttrValue } from '../ir/graph/graph.ts';
export type { Tensor } from '../ir/tensor.ts';
export type { DType, TensorType, TypeQuant } from '../ir/types.ts';
export type { Dim } from '../ir/dims.ts';
export { getOp, opNames } from '../ir/graph/ops.ts';
export { randomUniform, initScale } from '../ir/random.ts';
export { readSafetensors, parseSafetensors, serializeSafetensors } from '../ir/safetensors.ts';
export { writeSafetensors } from './io/write-safetensors.ts';
export type { SafetensorsFile } from '../ir/safetensors.ts';

// Generating tokens (moec generate): an async iterator of tokens, the stats at its end.
export { generate } from './generate/generate.ts';
export type { GenerateOptions, GeneratedToken, GenerateStats, Generation } from './generate/generate.ts';
export { Sampler } from './generate/sampling.ts';
export type { SamplingOptions } from './generate/sampling.ts';
export { loadTokenizer } from './generate/tokenizer.ts';
export type { TextTokenizer } from './generate/tokenizer.ts';

// Backends: emit code for a target, load and run it here, pack weights for it.
export { forwardRun, runContextBound, runOnBackend } from './driver.ts';
export type { BackendRunOptions, BackendRunResult } from './driver.ts';
export { getBackend, availableBackends, DEFAULT_TARGET } from './backends/registry.ts';
export type { Backend as CompilerBackend, LoadedModel, EmittedFiles, WeightManifest } from './backends/backend.ts';
export { packWeights, weightLayout, weightBlob } from './backends/weights.ts';
export { agreement, formatAgreement } from './compare.ts';
export type { Agreement } from './compare.ts';
export { planWgsl } from './backends/wgsl/plan.ts';
export { loadWgsl } from './backends/wgsl/runtime.ts';
export { BROWSER_GPU, NoAdapterError } from './backends/wgsl/gpu.ts';
export type { GpuHost } from './backends/wgsl/gpu.ts';
export { NODE_GPU } from './backends/wgsl/node-gpu.ts';
export type { WgslModel, WgslLoadOptions } from './backends/wgsl/runtime.ts';
