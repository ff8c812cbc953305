/**
 * @fileoverview The `moec` command line. Each command is a thin layer over the driver;
 * this file owns argument parsing, printing and exit codes:
 *   0 success, 1 an error in the user's input, 2 a bad command line, 3 a bug in moec.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { shapeToString } from '../../ir/dims.ts';
import { mainFunc, type Module } from '../../ir/graph/graph.ts';
import { printIR } from '../../ir/graph/print.ts';
import { writeSafetensors } from '../io/write-safetensors.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { dtypeText } from '../../ir/quant-type.ts';
import { type TensorType, isFloatDType } from '../../ir/types.ts';
import { summarizeParams } from '../analysis/params.ts';
import { kvCachePerToken } from '../analysis/kv-cache.ts';
import { MoecError, didYouMean, fail } from '../../ir/diagnostics.ts';
import { UsageError } from '../usage-error.ts';
import { quantScheme, quantizeModule, randomWeights, readText, run, runOnBackend, sizesFromInputs, tensorStats } from '../driver.ts';
import { readSafetensors } from '../../ir/safetensors.ts';
import { type ImportResult, importHfConfig } from '../import/index.ts';
import { importGguf } from '../import/gguf.ts';
import { type ModelFile, loadModelFile } from '../model-file.ts';
import { availableBackends, getBackend } from '../backends/registry.ts';
import type { Backend as CompilerBackend, WeightManifest } from '../backends/backend.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { type Agreement, failOnNonFiniteMismatch, formatAgreement } from '../compare.ts';
import { printKernelIR } from '../../ir/kernel/kprint.ts';
import { type PipelineOptions, checkDisabled, checkStepName, runPipeline } from '../pipeline.ts';
import { formatCount, formatTable } from '../format.ts';
import { compileJson, compileReport } from './report.ts';
import { MAX_LOCAL_RANKS, chipsOptions, expertParallelValues, packRanks, placementReport, recordRoutingRun } from './chips.ts';
import { parseInt32 } from './int-option.ts';
import { DEFAULT_MAX_TOKENS } from '../../ir/kernel/token-bound.ts';
import { MAX_WASM_THREADS } from '../backends/backend.ts';
import { writeRoutingStats } from '../cluster/routing-stats.ts';
import { checkJson, runJson } from './json.ts';
import { generateCommand } from './generate.ts';
import { COMMANDS, commandHelp, commandOptions, overviewHelp } from './help.ts';
import { SourceFile } from '../../ir/source.ts';
import { packageVersion } from '../io/package-root.ts';
import { progressCallback } from '../io/progress.ts';
import { QUANT_SCHEMES, type QuantScheme } from '../../ir/quant.ts';
import { formatQuantizeReport, quantizeCheckpoint } from '../checkpoint/quantize.ts';
import { streamWeightsFromCheckpoint } from '../checkpoint/stream-weights.ts';
import { type AnalyzeOptions, DEFAULT_CONTEXT, type ImportedFrom, importedFrom, DEFAULT_TOKENS, MAX_CONTEXT, analyzeModel } from '../analysis/analyze.ts';
import { STORAGE_DTYPES, type StorageDType } from '../analysis/memory.ts';
import { renderAnalysis } from '../analysis/render.ts';
import { rooflineSvg } from '../analysis/svg.ts';
import { checkpointFiles, openCheckpoint } from '../../ir/checkpoint.ts';
import { isTargetPath, listTargets, loadCluster, loadTarget } from '../target/load.ts';
import { clusterChips } from '../target/cluster.ts';
import { scalingSvg } from '../analysis/cluster.ts';
import { refuseInputOverwrite, writeOutputDir, writeOutputFile, writeOutputFileAt } from '../io/output.ts';

/** Where the CLI writes; tests pass buffers. */
export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
}


function parseConsts(values: string[] | undefined): Record<string, number> {
  // No prototype: `--set __proto__=5` must be a key like any other (and be refused by
  // lowering as no constant of the file), not a prototype assignment that drops it.
  const out: Record<string, number> = Object.create(null);
  for (const item of (values ?? []).flatMap((v) => v.split(','))) {
    if (item.trim() === '') continue;
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(-?[0-9.eE+-]+)\s*$/.exec(item);
    const v = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(v)) throw new UsageError(`--set expects NAME=NUMBER, got '${item}'`, 'e.g. --set D=64,E=16');
    out[m[1]] = v;
  }
  return out;
}

function fileArg(positionals: string[], command: string): string {
  if (positionals.length === 0) throw new UsageError(`\`moec ${command}\` needs a model: a .moe file, a Hugging Face config.json or model directory, or a .gguf file`, `moec ${command} examples/tiny.moe`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
  return positionals[0];
}

function typeText(t: TensorType): string {
  return `${dtypeText(t)}${shapeToString(t.shape)}`;
}

/** The one-screen summary of `moec check`. */
export function checkSummary(m: Module, path: string): string {
  const main = mainFunc(m);
  const p = summarizeParams(m);
  const lines = [`model ${m.name}  (${path})`];
  lines.push(`sizes:    ${m.dims.map((d) => `${d.name}${d.max !== undefined ? ` <= ${d.max}` : ''}`).join(', ') || 'none'}`);
  lines.push('inputs:');
  lines.push(...formatTable(main.params.map((v) => ['  ' + v.name, typeText(v.type)])));
  lines.push(`weights:  ${m.weights.length} tensors`);
  if (m.weights.length > 0)
    lines.push(
      ...formatTable([
        ['  name', 'type', 'params', 'active/token'],
        ...p.weights.map((w) => ['  ' + w.name, typeText(w.type), formatCount(w.params), w.kind === 'routed' ? `${formatCount(w.activePerToken)} (routed)` : formatCount(w.activePerToken)]),
      ]),
    );
  lines.push('outputs:');
  lines.push(...formatTable(main.results.map((r) => ['  ' + r.name, typeText(r.value.type)])));
  const pct = p.total > 0 ? ` (${((100 * p.activePerToken) / p.total).toFixed(1)}%)` : '';
  lines.push(`parameters: ${formatCount(p.total)} total, ${formatCount(p.activePerToken)} active per token${pct}`);
  return lines.join('\n');
}

function fmtNum(v: number): string {
  return Number.isFinite(v) ? (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4)) : String(v);
}

function outputLine(name: string, t: Tensor): string[] {
  const s = tensorStats(t);
  const first = Array.from(t.data.subarray(0, Math.min(6, t.data.length)), (v) => fmtNum(v));
  // Statistics are of the finite values; with none there are none to print.
  const stat = (v: number) => (Number.isNaN(v) ? 'n/a' : fmtNum(v));
  return [
    `output ${name}: ${t.dtype}[${t.shape.join(', ')}]  min ${stat(s.min)}  max ${stat(s.max)}  mean ${stat(s.mean)}  std ${stat(s.std)}${s.nan ? `  NaN ${s.nan}` : ''}${s.inf ? `  Inf ${s.inf}` : ''}`,
    `  first values: [${first.join(', ')}${t.data.length > first.length ? ', ...' : ''}]`,
  ];
}

/** Every option of every command, as node:util's parseArgs reads them. */
const PARSE_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  debug: { type: 'boolean' },
  set: { type: 'string', multiple: true },
  tokens: { type: 'string', short: 'T' },
  context: { type: 'string' },
  seed: { type: 'string' },
  weights: { type: 'string' },
  inputs: { type: 'string' },
  out: { type: 'string', short: 'o' },
  backend: { type: 'string' },
  f64: { type: 'boolean' },
  target: { type: 'string' },
  'max-tokens': { type: 'string' },
  'max-context': { type: 'string' },
  after: { type: 'string' },
  'print-after-all': { type: 'boolean' },
  'verify-each': { type: 'boolean' },
  disable: { type: 'string', multiple: true },
  emit: { type: 'string' },
  check: { type: 'boolean' },
  quantize: { type: 'string' },
  to: { type: 'string' },
  dtype: { type: 'string' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
  cluster: { type: 'string' },
  'train-tokens': { type: 'string' },
  mfu: { type: 'string' },
  'quantize-router': { type: 'boolean' },
  chips: { type: 'string' },
  'redundant-experts': { type: 'string' },
  'expert-load': { type: 'string' },
  'record-routing': { type: 'string' },
  threads: { type: 'string' },
  'prompt-ids': { type: 'string' },
  prompt: { type: 'string' },
  'max-new-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
} as const;

async function command(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: PARSE_OPTIONS,
  });
  if (values.version) {
    io.out(`moec ${packageVersion()}`);
    return 0;
  }
  const [cmd, ...rest] = positionals;
  // `moec run --help` and `moec help run`: that command's help; otherwise the overview.
  const helpFor = cmd === 'help' ? rest[0] : cmd;
  if (values.help || cmd === undefined || cmd === 'help') {
    if (helpFor !== undefined && !Object.hasOwn(COMMANDS, helpFor)) throw new UsageError(`unknown command '${helpFor}'`, `commands: ${Object.keys(COMMANDS).join(', ')}`);
    io.out(helpFor !== undefined ? commandHelp(helpFor) : overviewHelp());
    return cmd === undefined && !values.help ? 2 : 0;
  }
  const consts = parseConsts(values.set);
  const quantize = quantizeOption(values);
  // Each command takes the options its help lists (help.ts): one table says both.
  if (Object.hasOwn(COMMANDS, cmd))
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined || k === 'debug' || COMMANDS[cmd].options.includes(k)) continue;
      const owners = Object.keys(COMMANDS).filter((c) => COMMANDS[c].options.includes(k)).map((c) => `\`moec ${c}\``);
      const list = owners.length > 1 ? `${owners.slice(0, -1).join(', ')} and ${owners[owners.length - 1]}` : owners[0];
      throw new UsageError(`--${k} is an option of ${list}, not \`moec ${cmd}\``, `moec ${cmd} --help lists its options`);
    }
  if (values['quantize-router'] && values.quantize === undefined && cmd !== 'quantize') throw new UsageError('--quantize-router quantizes the router along with the other GEMM weights: it needs --quantize SCHEME', 'e.g. --quantize i8 --quantize-router');
  switch (cmd) {
    case 'check': {
      const path = fileArg(rest, cmd);
      const m = readModel(path, { consts, quantize }, io).module;
      io.out(values.json ? JSON.stringify(checkJson(m, path), null, 1) : checkSummary(m, path));
      return 0;
    }
    case 'ir': {
      const path = fileArg(rest, cmd);
      const m = readModel(path, { consts, quantize }, io).module;
      if (values.after === undefined && !values['print-after-all'] && !values['verify-each']) {
        io.out(printIR(m).trimEnd());
        return 0;
      }
      if (values.after !== undefined) checkStepName(values.after, '--after');
      const pipe = pipelineOptions(m, values);
      runPipeline(m, {
        ...pipe,
        printAfter: values['print-after-all'] ? 'all' : values.after !== undefined ? [values.after] : [],
        stopAfter: values['print-after-all'] ? undefined : values.after,
        onDump: (step, text) => io.out(`// after ${step}\n${text.trimEnd()}`),
      });
      return 0;
    }
    case 'compile': {
      const path = fileArg(rest, cmd);
      if (values.target === undefined) throw new UsageError('`moec compile` needs --target', `targets: ${listTargets().join(', ')} (or a .yaml file)`);
      if (values.emit !== undefined && values.emit !== 'kernel-ir') throw new UsageError(`--emit ${values.emit}: the only other form is kernel-ir`, 'without --emit, -o writes the target backend\'s files');
      const withWeights = values.weights !== undefined || values.seed !== undefined;
      if (withWeights && (values.out === undefined || values.emit !== undefined))
        throw new UsageError('--weights and --seed with `moec compile` write DIR/weights.bin beside the backend\'s files: give -o DIR (and no --emit)');
      const threads = parseInt32('threads', values.threads, 1, MAX_WASM_THREADS);
      if (threads !== undefined && (values.out === undefined || values.emit !== undefined))
        throw new UsageError('--threads with `moec compile` writes the threaded Wasm build beside model.wasm: give -o DIR (and no --emit)');
      const m = readModel(path, { consts }, io).module;
      const pipe = pipelineOptions(m, values, { stateByDefault: true });
      if (threads !== undefined && pipe.target.backend !== 'wasm') throw new UsageError(`--threads ${threads} writes a threaded Wasm build; target ${pipe.target.name} is for the ${pipe.target.backend} backend`, 'use --target wasm-simd128 or wasm-scalar');
      const t0 = performance.now();
      const { program } = runPipeline(m, pipe);
      const ms = performance.now() - t0;
      if (!values.json) io.out(compileReport(program!, pipe.target, program!.maxTokens!, ms));
      if (!values.json && program!.ep) io.out(placementReport(program!, pipe.expertLoad));
      let wrote: string | undefined;
      if (values.out !== undefined) {
        const backendFiles = values.emit === undefined && availableBackends().includes(pipe.target.backend);
        const backend = backendFiles ? await getBackend(pipe.target.backend) : undefined;
        const files = backend ? backend.emit(program!, pipe.target, threads !== undefined ? { threads } : undefined) : { [`${m.name}.kir`]: printKernelIR(program!) };
        const bin = withWeights ? ['weights.bin', 'weights.bin.json'] : [];
        refuseInputOverwrite([values.out, ...[...Object.keys(files), ...bin].map((f) => join(values.out!, f))], inputPaths(values, path));
        if (withWeights) {
          if (!backend) throw new UsageError(`the ${pipe.target.backend} backend is not built yet: it has no weights layout to write`);
          // The blob streamed into DIR/weights.bin as moec pack writes it, then the other files and its manifest.
          writeOutputDir(values.out, {});
          files['weights.bin.json'] = packedWeights(m, pipe, program!, backend, values, io, join(values.out, 'weights.bin')).json;
        }
        wrote = [...(withWeights ? [join(values.out, 'weights.bin')] : []), writeOutputDir(values.out, files)].join(', ');
        const missing = !backendFiles && values.emit === undefined ? `(the ${pipe.target.backend} backend is not built yet: wrote the kernel IR)` : undefined;
        if (!values.json) io.out(`wrote ${wrote}`);
        if (missing) (values.json ? io.err : io.out)(missing);
      }
      if (values.json) io.out(JSON.stringify(compileJson(program!, pipe.target, program!.maxTokens!, ms, wrote), null, 1));
      return 0;
    }
    case 'run': {
      const path = fileArg(rest, cmd);
      const seed = parseInt32('seed', values.seed, 0, 2 ** 32 - 1) ?? 0;
      const backend = values.backend ?? 'ref';
      const src = (file: string | undefined): string => (file ? file : `seeded (seed ${seed})`);
      refuseInputOverwrite([values.out, values['record-routing']], inputPaths(values, path));
      const chips = chipsOptions(values);
      if ((chips.chips ?? 1) > 1 && backend !== 'c') throw new UsageError(`--chips ${chips.chips} runs the C backend over MPI`, 'pass --backend c');
      if ((chips.chips ?? 1) > MAX_LOCAL_RANKS)
        throw new UsageError(`--chips ${chips.chips}: moec run starts every rank on this machine (mpirun --oversubscribe), at most ${MAX_LOCAL_RANKS}`, 'on a cluster, run the MPI runner `moec compile --chips N -o DIR` writes with mpirun and a host file (docs/multi-chip.md)');
      const threads = parseInt32('threads', values.threads, 1, MAX_WASM_THREADS);
      if (threads !== undefined && backend !== 'wasm') throw new UsageError(`--threads ${threads} runs the wasm backend's threaded build`, 'pass --backend wasm');
      if (backend === 'ref') {
        if (values.check) throw new UsageError('--check compares a backend with the reference interpreter', 'pass --backend c, wasm or wgsl');
        if (values.target !== undefined || values['max-tokens'] !== undefined || values['max-context'] !== undefined)
          throw new UsageError('--target, --max-tokens and --max-context choose what a backend compiles for; the reference interpreter runs the graph', 'pass --backend c, wasm or wgsl');
      } else {
        if (values.f64) throw new UsageError('--f64 is a mode of the reference interpreter; the backends compute in float32');
        await getBackend(backend); // a usage error for an unknown name, before any work
      }
      const m = readModel(path, { consts, quantize: backend === 'ref' ? quantize : undefined }, io).module;
      const { tokens, bindings } = runSizes(m, values, path, noteTo(io));
      const maxTokens = backend === 'ref' ? undefined : maxTokensOption(m, values);
      const maxContext = parseInt32('max-context', values['max-context'] as string | undefined, 1, 2 ** 31 - 1);
      const t0 = performance.now();
      const loading = progressCallback('loading weights');
      const res = await (async () => {
        try {
          return backend === 'ref'
            ? { ...run(m, { tokens, bindings, seed, weights: values.weights, inputs: values.inputs, f64: values.f64, backend: 'ref', note: noteTo(io), onLoadProgress: loading.onProgress }), forwardMs: undefined }
            : await runOnBackend(m, { tokens, bindings, seed, weights: values.weights, inputs: values.inputs, backend, target: values.target, maxTokens, maxContext, check: values.check, quantize, note: noteTo(io), onLoadProgress: loading.onProgress, ...chips, ...(threads ? { threads } : {}) });
        } finally {
          loading.end();
        }
      })();
      const ms = performance.now() - t0;
      if (values.out) writeSafetensors(values.out, values.f64 ? asF64(res.outputs) : res.outputs, { model: m.name, tokens: String(tokens), backend });
      if (values['record-routing'] !== undefined) {
        const stats = recordRoutingRun(m, values, res.inputs, res.bindings, seed, noteTo(io));
        writeRoutingStats(values['record-routing'], stats);
        if (!values.json) io.out(`wrote ${values['record-routing']} (${stats.layers.length} router run${stats.layers.length === 1 ? '' : 's'} over ${stats.tokens} tokens)`);
      }
      const agreement = 'agreement' in res ? res.agreement : undefined;
      const quantError = 'quantError' in res ? res.quantError : undefined;
      if (values.json) {
        const facts = { model: m.name, tokens, bindings: res.bindings, backend, precision: values.f64 ? 'float64' : 'float32', weights: src(values.weights), inputs: src(values.inputs) } as const;
        const compares = 'quantErrorBase' in res && res.quantErrorBase === 'dequantized' ? 'dequantized checkpoint' : 'f32 weights';
        io.out(JSON.stringify(runJson({ ...facts, outputs: res.outputs, agreement, quantError, quantize: values.quantize, compares, forwardMs: res.forwardMs ?? ms, totalMs: ms, wrote: values.out }), null, 1));
      } else {
        const ran = 'threads' in res ? res.threads : undefined;
        const mode = backend === 'ref' ? `ref (${values.f64 ? 'float64' : 'float32'})` : ran !== undefined && ran > 1 ? `${backend} (${ran} threads)` : backend;
        io.out(`${m.name}  T=${tokens}  backend=${mode}  weights: ${src(values.weights)}  inputs: ${src(values.inputs)}`);
        for (const [name, t] of Object.entries(res.outputs)) {
          io.out(outputLine(name, t).join('\n'));
          if (agreement) io.out(`  vs reference interpreter: ${formatAgreement(agreement[name])}`);
          if (quantError) io.out(`  ${quantErrorText(values.quantize as string, quantError[name], 'quantErrorBase' in res ? res.dequantizedWeights : undefined)}`);
        }
        if (values.out) io.out(`wrote ${values.out}`);
        io.out(res.forwardMs === undefined ? `ran in ${ms.toFixed(1)} ms` : `forward ${res.forwardMs.toFixed(2)} ms (compile, build and load included: ${ms.toFixed(1)} ms)`);
      }
      if (agreement) failOnNonFiniteMismatch(backend, agreement);
      return 0;
    }
    case 'pack': {
      const path = fileArg(rest, cmd);
      if (values.target === undefined) throw new UsageError('`moec pack` needs --target', `targets: ${listTargets().join(', ')} (or a .yaml file)`);
      if (values.out === undefined) throw new UsageError('`moec pack` needs -o OUT.bin');
      refuseInputOverwrite([values.out, `${values.out}.json`], inputPaths(values, path));
      const m = readModel(path, { consts }, io).module;
      const pipe = pipelineOptions(m, values, { stateByDefault: true });
      const backend = await getBackend(pipe.target.backend);
      const { program } = runPipeline(m, pipe);
      if (program!.ep) {
        // One blob per rank (each holds only its experts), then the manifest they share.
        const { weights, source } = packInputWeights(m, pipe, values, io);
        const { blobs, json, paths } = packRanks(backend, program!, pipe.target, weights, source, values.out);
        refuseInputOverwrite(paths, inputPaths(values, path));
        blobs.forEach((b, r) => writeOutputFile(paths[r]!, b));
        writeOutputFile(`${values.out}.json`, json);
        io.out(`wrote ${paths.join(', ')} (${blobs[0]!.byteLength} bytes each, one per rank: its experts only) and ${values.out}.json`);
        return 0;
      }
      // The blob goes to the file as it is laid out (streamed weights: never whole in memory);
      // the manifest last: one on disk never describes an older blob.
      const { manifest, json } = packedWeights(m, pipe, program!, backend, values, io, values.out);
      writeOutputFile(`${values.out}.json`, json);
      io.out(`wrote ${values.out} (${manifest.bytes} bytes, ${manifest.tensors.length} tensors for ${pipe.target.name}) and ${values.out}.json`);
      return 0;
    }
    case 'generate':
      return generateCommand(fileArg(rest, cmd), values, { consts, quantize }, io, noteTo(io));
    case 'import': {
      if (rest.length !== 1) throw new UsageError(rest.length === 0 ? '`moec import` needs a config.json or a .gguf file' : `unexpected argument '${rest[1]}'`, 'moec import examples/hf/Mixtral-8x7B-v0.1/config.json -o mixtral.moe');
      if (Object.keys(consts).length > 0) throw new UsageError('--set is not an option of `moec import`', 'import first, then `moec check MODEL.moe --set ...`');
      refuseInputOverwrite([values.out], [rest[0]]);
      const r = importModel(rest[0]);
      for (const n of r.notes) noteTo(io)(n.message);
      if (values.out === undefined) {
        io.out(r.text.trimEnd());
        return 0;
      }
      writeOutputFile(values.out, r.text);
      const p = summarizeParams(r.module);
      const extra = [r.mtp ? `${r.mtp.layers} MTP layer(s) left out (${formatCount(r.mtp.params)} parameters)` : '', r.quantization ? `checkpoint stored as ${r.quantization}` : ''].filter(Boolean);
      io.out(`wrote ${values.out}: ${r.architecture}, ${r.spec.layers} layers, ${formatCount(p.total)} parameters (${formatCount(p.activePerToken)} active per token)${extra.length ? `; ${extra.join('; ')}` : ''}`);
      return 0;
    }
    case 'quantize': {
      if (rest.length !== 1) throw new UsageError(rest.length === 0 ? '`moec quantize` needs a checkpoint: a .safetensors file, an index.json or a directory' : `unexpected argument '${rest[1]}'`, 'moec quantize model.safetensors --to i8 -o model-i8.safetensors');
      const input = rest[0];
      if (values.quantize !== undefined) throw new UsageError('`moec quantize` takes the scheme as --to SCHEME', '--quantize quantizes a model as it compiles or runs');
      if (values.to === undefined) throw new UsageError('`moec quantize` needs --to SCHEME', `schemes: ${Object.keys(QUANT_SCHEMES).join(', ')}`);
      if (!Object.hasOwn(QUANT_SCHEMES, values.to)) throw new UsageError(`--to ${values.to}: unknown scheme`, `schemes: ${Object.keys(QUANT_SCHEMES).join(', ')}`);
      if (values.out === undefined) throw new UsageError('`moec quantize` needs -o OUT.safetensors');
      refuseInputOverwrite([values.out], checkpointFiles(input));
      // Progress only on a terminal (ByteProgress): piped output stays the table alone.
      const bar = progressCallback(`quantizing to ${values.to}`);
      let result: Awaited<ReturnType<typeof quantizeCheckpoint>>;
      try {
        result = await quantizeCheckpoint(input, values.to, values.out, { onProgress: bar.onProgress, quantizeRouter: values['quantize-router'] });
      } finally {
        bar.end();
      }
      io.out(formatQuantizeReport(result, values.out));
      return 0;
    }
    case 'analyze': {
      const opts = analyzeOptions(values);
      const path = fileArg(rest, cmd);
      refuseInputOverwrite([values.svg], inputPaths(values, path));
      const { module: m, imported: r } = readModel(path, { consts }, io);
      const imported = r ? importedFrom(r) : undefined;
      const bound = m.dims.find((d) => d.name === 'T')?.max;
      if (bound !== undefined && opts.tokens > bound) throw new UsageError(`--tokens ${opts.tokens} is over the model's bound T <= ${bound}`);
      const a = analyzeModel(m, { ...opts, ...(imported ? { imported } : {}) });
      if (values.svg !== undefined && a.cluster) writeOutputFile(values.svg, scalingSvg(a.cluster, `${m.name} on ${a.cluster.cluster}: time per token against chips`));
      else if (values.svg !== undefined) writeOutputFile(values.svg, rooflineSvg(a.kernels!, `${m.name} on ${a.kernels!.target}: roofline at T = ${opts.tokens}`));
      io.out(values.json ? JSON.stringify(a, null, 1) : renderAnalysis(a));
      if (values.svg !== undefined && !values.json) io.out(`wrote ${values.svg}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command '${cmd}'`, 'commands: check, ir, compile, run, pack, generate, import, quantize, analyze (see moec --help)');
  }
}

type Values = Record<string, string | boolean | string[] | undefined>;

/**
 * The quantization error line of `moec run --check --quantize`. Against f32 weights it is the
 * error of quantizing; a checkpoint already quantized gives the f32 model only its dequantized
 * values, so the line says that it measures requantizing (0 for the same scheme), not
 * quantizing: printed bare, a 0 would read as lossless.
 */
function quantErrorText(scheme: string, a: Agreement, dequantized: string[] | undefined): string {
  if (dequantized === undefined || dequantized.length === 0) return `quantization error (${scheme} reference vs f32 reference): ${formatAgreement(a)}`;
  const which = `${dequantized.slice(0, 3).map((w) => `\`${w}\``).join(', ')}${dequantized.length > 3 ? `, ... (${dequantized.length} weights)` : ''}`;
  return `requantization error (${scheme} reference vs the checkpoint's own values): ${formatAgreement(a)}; the checkpoint is already quantized (${which}), so this is not the error of quantizing, which needs the original f32 checkpoint`;
}

/**
 * Float outputs of an `--f64` run as F64 tensors: the interpreter computed them in float64,
 * and writing them as F32 would throw away what the flag was for.
 */
function asF64(outputs: Record<string, Tensor>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, isFloatDType(t.dtype) ? { ...t, dtype: 'f64', data: t.data instanceof Float64Array ? t.data : Float64Array.from(t.data) } : t]));
}

/** `--quantize SCHEME`, with the router too under `--quantize-router` (by default it stays f32). */
function quantizeOption(values: Values): QuantScheme | undefined {
  if (values.quantize === undefined) return undefined;
  const scheme = quantScheme(values.quantize as string);
  return values['quantize-router'] ? { ...scheme, router: true } : scheme;
}

/** `--dtype` spellings: the table's names, and the quantized dtypes' full names. */
const DTYPE_ALIASES: Record<string, StorageDType> = { fp8e4m3: 'fp8' };

/** The options of `moec analyze`, checked before any work. */
function analyzeOptions(values: Values): AnalyzeOptions & { tokens: number } {
  const tokens = parseInt32('tokens', values.tokens as string | undefined, 1, 2 ** 31 - 1) ?? DEFAULT_TOKENS;
  const context = parseInt32('context', values.context as string | undefined, 1, MAX_CONTEXT) ?? DEFAULT_CONTEXT;
  const d = values.dtype as string | undefined;
  const dtype = d === undefined ? undefined : ((STORAGE_DTYPES as readonly string[]).includes(d) ? (d as StorageDType) : DTYPE_ALIASES[d]);
  if (d !== undefined && dtype === undefined) throw new UsageError(`--dtype ${d}: not a storage dtype`, didYouMean(d, STORAGE_DTYPES) ?? `one of ${STORAGE_DTYPES.join(', ')}`);
  // the same --chips, --redundant-experts and --expert-load as compile and run read (chips.ts)
  const { chips, redundantExperts: redundant, expertLoad } = expertParallelValues(values, 1);
  if (chips === undefined) {
    if (values.cluster !== undefined && values['train-tokens'] === undefined) throw new UsageError('--cluster needs --chips N (or --train-tokens, for its chip-hours)', 'e.g. --chips 32 --cluster h800');
  }
  if (values.target !== undefined && values.cluster !== undefined) throw new UsageError('--cluster names its own chip: leave out --target');
  if (chips !== undefined && values.target !== undefined) throw new UsageError('--chips costs the cluster\'s own chip: leave out --target', 'the cluster file names its chip (`chip:`)');
  if (values.svg !== undefined && values.target === undefined && chips === undefined) throw new UsageError('--svg draws the kernels against a target\'s roofs: it needs --target (or --chips N for time against chips)', `targets: ${listTargets().join(', ')} (or a .yaml file)`);
  if (values.svg === '') throw new UsageError('--svg needs a file name', 'e.g. --svg roofline.svg');
  const trainTokens = trainTokensOption(values['train-tokens'] as string | undefined);
  const mfu = mfuOption(values.mfu as string | undefined);
  if ((trainTokens === undefined) !== (mfu === undefined)) throw new UsageError(trainTokens === undefined ? '--mfu needs --train-tokens N' : '--train-tokens needs --mfu F (the share of the chip\'s peak training reaches)', 'e.g. --train-tokens 14.8e12 --mfu 0.4');
  if (trainTokens !== undefined && values.target === undefined && values.cluster === undefined && chips === undefined) throw new UsageError('--train-tokens counts chip-hours: give --cluster C (with --chips) or --target', 'e.g. --train-tokens 14.8e12 --mfu 0.4 --target x86-avx2');
  const cluster = chips !== undefined || (trainTokens !== undefined && values.target === undefined) ? loadCluster((values.cluster as string | undefined) ?? DEFAULT_CLUSTER) : undefined;
  if (cluster && chips !== undefined && chips > clusterChips(cluster)) throw new UsageError(`--chips ${chips} is more than cluster \`${cluster.name}\` has (${cluster.nodes} nodes of ${cluster.chipsPerNode}: ${clusterChips(cluster)} chips)`);
  const target = values.target !== undefined ? loadTarget(values.target as string) : cluster?.chip;
  return {
    tokens, context, ...(dtype ? { dtype } : {}), ...(target ? { target } : {}), ...(cluster && chips !== undefined ? { cluster, chips } : {}),
    ...(redundant !== undefined ? { redundant } : {}), ...(trainTokens !== undefined ? { train: { tokens: trainTokens, mfu: mfu! } } : {}),
    ...(expertLoad ? { expertLoad } : {}),
    ...(values.svg !== undefined && chips !== undefined ? { scaling: true } : {}),
  };
}

/** The cluster `--chips` costs on without `--cluster`: the one the issue plans DeepSeek-V3 for. */
const DEFAULT_CLUSTER = 'h800';

/** `--train-tokens N`: a whole number, written plainly or as `14.8e12`. */
function trainTokensOption(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (!/^\s*[0-9.]+(e[0-9]+)?\s*$/i.test(s) || !Number.isFinite(v) || v < 1 || v > 1e18) throw new UsageError(`--train-tokens must be a token count from 1 to 1e18, got '${s}'`, 'e.g. --train-tokens 14.8e12');
  return v;
}

/** `--mfu F`: a share of the peak, 0 < F <= 1. */
function mfuOption(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (!/^\s*[0-9.]+(e-?[0-9]+)?\s*$/i.test(s) || !(v > 0 && v <= 1)) throw new UsageError(`--mfu must be a share of the peak, 0 < F <= 1, got '${s}'`, 'e.g. --mfu 0.4');
  return v;
}

/** A Hugging Face config.json, or a llama.cpp .gguf file through its metadata. */
function importModel(path: string): ImportResult {
  return path.endsWith('.gguf') ? importGguf(path) : importHfConfig(readText(path), path);
}

/**
 * The model of a command: a .moe file, or a Hugging Face config.json, model directory or
 * llama.cpp .gguf through the importer (model-file.ts), with `--set` applied either way; the
 * importer's notes (fields the config leaves out) go to stderr.
 */
function readModel(path: string, opts: { consts: Record<string, number>; quantize?: QuantScheme }, io: CliIO): ModelFile {
  const r = loadModelFile(path, opts);
  for (const n of r.imported?.notes ?? []) noteTo(io)(n.message);
  return r;
}

/** The flag that sets each size of a run (the others are `--set` constants or have none). */
const SIZE_FLAGS: Record<string, string> = { T: '--tokens', L: '--context' };

/**
 * `T` and the cache length `L` of a decoder model (`moec import`) for `moec run`: from
 * --tokens and --context, else read off the --inputs file (the shapes of the inputs declared
 * with them). A flag that disagrees with the file is E504 naming the flag, the tensor and the
 * axis. Warns (a note) when T + L passes the positions the model was made for.
 */
function runSizes(m: Module, values: Values, path: string, note: (message: string) => void): { tokens: number; bindings: Record<string, number> } {
  const inputs = values.inputs as string | undefined;
  const fromFile = inputs !== undefined ? sizesFromInputs(m, readSafetensors(inputs), inputs) : {};
  const given: Record<string, number | undefined> = {
    T: parseInt32('tokens', values.tokens as string | undefined, 1, 2 ** 31 - 1),
    L: parseInt32('context', values.context as string | undefined, 0, 2 ** 31 - 1), // 0: an empty cache, a prefill
  };
  const hasL = m.dims.some((d) => d.name === 'L');
  if (given.L !== undefined && !hasL) throw new UsageError('--context binds the cache length L, and this model has no `dim L`');
  for (const [dim, flag] of Object.entries(SIZE_FLAGS)) {
    const f = fromFile[dim];
    if (f === undefined || given[dim] === undefined || given[dim] === f.value) continue;
    fail('E504', `${flag} ${given[dim]} sets ${dim} = ${given[dim]}, but ${inputs}: \`${f.tensor}\` has ${f.value} along axis ${f.axis}, its size ${dim}`, undefined, `pass ${flag} ${f.value}, or leave ${flag} out to take ${dim} from the inputs file`);
  }
  const tokens = given.T ?? fromFile.T?.value;
  if (tokens === undefined) throw new UsageError('`moec run` needs --tokens N (or --inputs FILE, whose inputs give T)', `moec run ${path} --tokens 8`);
  const context = given.L ?? fromFile.L?.value;
  if (hasL && context === undefined) throw new UsageError('this model has a KV cache: `moec run` needs --context L (positions already cached)', 'e.g. --context 16');
  const positions = m.dims.find((d) => d.name === 'L')?.max;
  if (context !== undefined && positions !== undefined && tokens + context > positions)
    note(`T + L = ${tokens} + ${context} = ${tokens + context} positions, past the ${positions} the model was made for (dim L <= ${positions}: max_position_embeddings for a model from moec import); positions beyond it are extrapolated`);
  return { tokens, bindings: context !== undefined ? { L: context } : {} };
}

/** The files a command reads: FILE, the checkpoint (an index with its shards), --inputs, a --target or --cluster .yaml, --expert-load. */
function inputPaths(values: Values, file: string): Array<string | undefined> {
  const target = values.target as string | undefined;
  const cluster = values.cluster as string | undefined;
  const weights = values.weights as string | undefined;
  return [
    file, ...(weights !== undefined ? checkpointFiles(weights) : []), values.inputs as string | undefined,
    target !== undefined && isTargetPath(target) ? target : undefined, cluster !== undefined && isTargetPath(cluster) ? cluster : undefined,
    values['expert-load'] as string | undefined,
  ];
}

/** Loading notes (an fp8 checkpoint dequantized, ...) go to stderr, so piped outputs stay clean. */
const noteTo = (io: CliIO) => (message: string): void => io.err(`note: ${message}`);

/** `--max-tokens N` as given, at most the model's bound on `T` (absent: the pipeline's default, see `resolveMaxTokens`). */
function maxTokensOption(m: Module, values: Values): number | undefined {
  const maxTokens = parseInt32('max-tokens', values['max-tokens'] as string | undefined, 1, 2 ** 31 - 1);
  const bound = m.dims.find((d) => d.name === 'T')?.max;
  if (maxTokens !== undefined && bound !== undefined && maxTokens > bound) throw new UsageError(`--max-tokens ${maxTokens} is over the model's bound T <= ${bound}`);
  return maxTokens;
}

/**
 * The packed weights `moec pack` writes, and `moec compile -o DIR` with `--weights` or
 * `--seed` (DIR/weights.bin): the target backend's blob, and its manifest (where each tensor
 * lies) with where the weights came from, as JSON. With `out`, the blob is written to that
 * file as it is laid out (and not returned), so a checkpoint's weights stream from its
 * files to the blob.
 */
function packedWeights(m: Module, pipe: PipelineOptions, program: KProgram, backend: CompilerBackend, values: Values, io: CliIO, out: string | undefined): { blob?: Uint8Array; manifest: WeightManifest; json: string } {
  if (!backend.packWeights || !backend.writeWeights) throw new UsageError(`the ${backend.name} backend has no packed weight layout`);
  if (program.ep) throw new UsageError(`a program over ${program.ep.ranks} chips has one weight blob per rank`, `write them with moec pack --chips ${program.ep.ranks}`);
  const { weights, source } = packInputWeights(m, pipe, values, io);
  // One synchronous call that reports as the blob fills, tensor by tensor and row by row: the
  // progress line is redrawn from inside it (a terminal's stderr is written synchronously).
  const packing = progressCallback(`packing weights for ${pipe.target!.name}`);
  let blob: Uint8Array | undefined;
  let manifest: WeightManifest | undefined;
  try {
    if (out === undefined) ({ blob, manifest } = backend.packWeights(program, pipe.target!, weights, { onProgress: packing.onProgress }));
    else writeOutputFileAt(out, (write) => (manifest = backend.writeWeights!(program, pipe.target!, weights, write, { onProgress: packing.onProgress })).bytes);
  } finally {
    packing.end();
  }
  return { blob, manifest: manifest!, json: JSON.stringify({ ...manifest!, weights: source }, null, 1) + '\n' };
}

/**
 * The module weights `moec pack` (and `compile -o --seed`) packs: a checkpoint's, streamed
 * (read as the blob is laid out), or seeded; and where they came from.
 */
function packInputWeights(m: Module, pipe: PipelineOptions, values: Values, io: CliIO): { weights: Record<string, Tensor>; source: string } {
  if (values.weights !== undefined && values.seed !== undefined) throw new UsageError('--weights and --seed both choose the weights: give one');
  const seed = parseInt32('seed', values.seed as string | undefined, 0, 2 ** 32 - 1) ?? 0;
  const path = values.weights as string | undefined;
  // A checkpoint loads into the quantized declarations, so codes of the same scheme are used as they are.
  const weights = path !== undefined ? streamWeightsFromCheckpoint(pipe.quantize ? quantizeModule(m, pipe.quantize) : m, openCheckpoint(path), path, { note: noteTo(io) }) : randomWeights(m, seed);
  return { weights, source: path ?? `seeded (seed ${seed})` };
}

/**
 * Target, token bound and pass options shared by `moec ir`, `moec compile` and `moec pack`.
 * The pipeline checks each `--disable` name again, with the passes' own reasons, before
 * any pass runs.
 */
function pipelineOptions(m: Module, values: Values, opts: { stateByDefault?: boolean } = {}): PipelineOptions {
  const target = loadTarget((values.target as string | undefined) ?? 'x86-avx2');
  const disabled = ((values.disable as string[] | undefined) ?? []).flatMap((d) => d.split(',')).filter(Boolean);
  checkDisabled(disabled);
  const quantize = quantizeOption(values);
  const maxContext = parseInt32('max-context', values['max-context'] as string | undefined, 1, 2 ** 31 - 1) ?? (opts.stateByDefault ? defaultContext(m) : undefined);
  // A decoder with state prefills a long prompt in chunks (each call appends after L): by
  // default its token bound is at most DEFAULT_MAX_TOKENS and the context bound, not the
  // positions it was made for (163,840 for DeepSeek-V3: an 83 GiB arena).
  const bound = m.dims.find((d) => d.name === 'T')?.max;
  const maxTokens = maxTokensOption(m, values) ?? (maxContext !== undefined && hasCaches(m) ? Math.min(bound ?? DEFAULT_MAX_TOKENS, maxContext, DEFAULT_MAX_TOKENS) : undefined);
  return { target, maxTokens, ...(maxContext !== undefined && { maxContext }), verifyEach: values['verify-each'] === true ? true : undefined, disabled, quantize, ...chipsOptions(values) };
}

/**
 * The context bound `moec compile` and `moec pack` give a decoder model's caches without
 * `--max-context`: its bound on L (the positions it was made for), at most
 * DEFAULT_MAX_CONTEXT, so a compiled decoder owns its KV cache and can generate. A model
 * without attention caches takes no state from it (the pass converts none).
 */
function defaultContext(m: Module): number | undefined {
  if (!hasCaches(m)) return undefined;
  return Math.min(m.dims.find((d) => d.name === 'L')?.max ?? DEFAULT_MAX_CONTEXT, DEFAULT_MAX_CONTEXT);
}

/** Whether the model has attention caches (a decoder: compiled, they can be state). */
function hasCaches(m: Module): boolean {
  return kvCachePerToken(m).layers > 0;
}

/** The largest context bound compile and pack give by default: what a state of that many positions costs is in the report. */
const DEFAULT_MAX_CONTEXT = 4096;

/**
 * Errors raised after compiling (a weight too large to run, a missing checkpoint tensor)
 * point into the .moe file, but only the parser had its text: read it again, so they print
 * `file:line:col` and the line too.
 */
function attachSources(e: MoecError): void {
  for (const d of e.diagnostics) {
    if (!d.span || e.sources.has(d.span.file)) continue;
    try {
      e.addSource(new SourceFile(d.span.file, readText(d.span.file)));
    } catch {
      // not a readable file (e.g. `<input>`, or a FIFO since): printed as `file: error ...` without the line
    }
  }
}

/** The command an argv names (its first positional), whatever options it also holds. */
function commandOf(argv: string[]): string | undefined {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: false, options: PARSE_OPTIONS }).positionals[0];
  } catch {
    return undefined;
  }
}

/**
 * A parseArgs error in moec's words. Node's own text for an unknown option is long and
 * ends on an unbalanced quote (`... as in '-- "--foo"`); this names the option, the help
 * that lists the real ones (the command's, when the command is known) and the nearest.
 */
function parseArgsMessage(e: Error, argv: string[]): string {
  const unknown = /^Unknown option '([^']*)'/.exec(e.message)?.[1];
  if (unknown === undefined) return `${e.message.replace(/^Option/, 'option')}\n  (moec --help lists the commands and options)`;
  const cmd = commandOf(argv);
  const known = cmd !== undefined && Object.hasOwn(COMMANDS, cmd);
  const hint = didYouMean(unknown.replace(/=.*$/, ''), commandOptions(known ? cmd : undefined));
  return `unknown option ${unknown} (see moec ${known ? `${cmd} ` : ''}--help)${hint ? `\n  hint: ${hint}` : ''}`;
}

/** Runs the CLI and returns the exit code; never throws. */
export async function main(argv: string[], io: CliIO = { out: (s) => console.log(s), err: (s) => console.error(s) }): Promise<number> {
  try {
    return await command(argv, io);
  } catch (e) {
    if (e instanceof MoecError) {
      attachSources(e);
      io.err(e.format());
      return 1;
    }
    if (e instanceof UsageError) {
      io.err(`moec: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}\n  (moec --help lists the commands and options)`);
      return 2;
    }
    // node:util parseArgs reports unknown or malformed options with these codes.
    const code = (e as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      io.err(`moec: ${parseArgsMessage(e as Error, argv)}`);
      return 2;
    }
    const debug = argv.includes('--debug');
    io.err(
      `moec: internal error: ${(e as Error)?.message ?? String(e)}\n` +
        '  This is a bug in moec, not in your input. Please report it with the command and input files that caused it.' +
        (debug ? `\n${(e as Error)?.stack ?? ''}` : '\n  (run with --debug for the stack trace)'),
    );
    return 3;
  }
}
