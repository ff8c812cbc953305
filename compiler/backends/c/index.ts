/**
 * @fileoverview The C backend: `MODEL.h` + `MODEL.c` (C11, any compiler), rendered from
 * the kernel IR by `render.ts` with the templates in `targets/c/`, and a runtime that
 * builds them with the system compiler and runs them here (`moec run --backend c`, the
 * parity tests, the benchmark).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KProgram } from '../../../ir/kernel/kernel.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { MoecError, fail } from '../../../ir/diagnostics.ts';
import { checkTokenCount } from '../../../ir/kernel/token-bound.ts';
import { stateBytes } from '../../../ir/kernel/attention.ts';
import { atTokens } from '../../../ir/kernel/memory.ts';
import { formatBytes } from '../../../ir/kernel/kprint.ts';
import type { TargetCaps } from '../../target/caps.ts';
import { isOsError, osReason } from '../../../ir/user-file.ts';
import { fillNewFile, letSignalsIn, makeTempDir, removeTemp } from '../../io/output.ts';
import type { Backend, EmittedFiles, LoadedModel, WeightManifest } from '../backend.ts';
import { type WriteAt, blobSource } from '../weights.ts';
import { stateFromCaches, checkContext } from '../state-caches.ts';
import { CRunnerSession, REQUEST } from './session.ts';
import { type BuildOptions, buildExecutable, runExecutable } from './build.ts';
import { type CWeightLayout, cWeightBlob, cWeightLayout, panelCount, writeCWeightBlob } from './layout.ts';
import { type CSources, programIsa, renderC } from './render.ts';
import { loadCMpi, rankWeightBlobs } from './mpi.ts';

/**
 * A model built as an executable, with its weights blob written once into a private
 * temporary directory (`moec-c-PID-XXXXXX`, removed by `dispose`, by ^C or SIGTERM, or by
 * the next run after a SIGKILL: compiler/io/output.ts). `forward`, `reset` and `loadCaches`
 * go to one persistent runner process (session.ts) that holds the weights, the arena and
 * the KV cache region between calls; `run` (the benchmark's repeated, profiled runs) starts
 * the runner once per call.
 */
export class CModel implements LoadedModel {
  private readonly dir: string;
  private readonly weightsPath: string;
  private readonly session: CRunnerSession;
  private readonly maxTokens: number;
  /** Environment of the runner program (e.g. MOEC_FLUSH_MIB for the benchmark). */
  env: Record<string, string> = {};

  constructor(
    readonly src: CSources,
    readonly exe: string,
    /** The weights blob, or what writes it (streamed weights: into the runner's file as it fills, never whole in memory). */
    blob: Uint8Array | ((write: WriteAt) => void),
    /** The program built: its token bound, and its state buffers for `loadCaches`. */
    private readonly program: KProgram,
    /** Threads forward uses (default: the target's cores). */
    public threads: number,
  ) {
    this.maxTokens = program.maxTokens!;
    this.dir = makeTempDir('moec-c');
    this.weightsPath = join(this.dir, 'weights.bin');
    try {
      if (blob instanceof Uint8Array) writeFileSync(this.weightsPath, blob);
      else fillNewFile(this.weightsPath, (write) => (blob(write), src.layout.bytes));
    } catch (e) {
      removeTemp(this.dir);
      if (e instanceof MoecError || !isOsError(e)) throw e;
      fail('E506', `cannot write the weights for the C runner to ${this.weightsPath}: ${osReason(e, 'directory')}`, undefined, 'free space in the temporary directory, or point TMPDIR at another one');
    }
    this.session = new CRunnerSession(exe, this.weightsPath, `the C runner of ${src.file}`, () => this.env);
  }

  lastForwardMs?: number;

  /** The persistent runner's process id, once a call started it (tests: that dispose ends it). */
  get runnerPid(): number | undefined {
    return this.session.pid;
  }

  async forward(inputs: Record<string, Tensor>, bindings: Record<string, number>): Promise<Record<string, Tensor>> {
    const T = bindings.T;
    // Each output, in its own buffer.
    const outs = await this.call(REQUEST.forward, inputs, bindings, this.src.outputs.map((o) => o.floats(T) * 4));
    return Object.fromEntries(this.src.outputs.map((o, i) => [o.name, outputTensor(o, T, outs[i])]));
  }

  async greedy(inputs: Record<string, Tensor>, bindings: Record<string, number>, opts: { logprob?: boolean } = {}): Promise<Record<string, { id: number; logprob?: number }>> {
    // Per output an int32 (the index) and, asked, a float64 (its log-probability).
    const outs = await this.call(opts.logprob ? REQUEST.greedyLogprob : REQUEST.greedy, inputs, bindings, this.src.outputs.map(() => (opts.logprob ? 12 : 4)));
    return Object.fromEntries(this.src.outputs.map((o, i) => {
      const d = new DataView(outs[i]);
      return [o.name, { id: d.getInt32(0, true), ...(opts.logprob ? { logprob: d.getFloat64(4, true) } : {}) }];
    }));
  }

  /**
   * One FORWARD or GREEDY request: the answer's parts after its head (int32 rc, float64 ms),
   * of the given sizes. Sent at the call, so calls (and reset and loadCaches) reach the runner
   * in program order.
   */
  private async call(code: number, inputs: Record<string, Tensor>, bindings: Record<string, number>, parts: number[]): Promise<ArrayBuffer[]> {
    const T = bindings.T;
    const L = this.checkCall(T, bindings.L);
    const answer = this.session.ask([code, T, L, this.threads], this.inputBytes(inputs, T), [12, ...parts]);
    // A ^C during the build or the weights' write ends moec here.
    await letSignalsIn();
    const [head, ...outs] = await answer;
    const h = new DataView(head);
    withDataErrors(h.getInt32(0, true));
    this.lastForwardMs = h.getFloat64(4, true);
    return outs;
  }

  /**
   * Runs forward `repeat` times in one process started for this call; the outputs of the last
   * run, each run's time (ms) and, from a timing build (`-DMOEC_PROFILE`), each kernel's mean
   * time per run. With state, the process's cache region starts empty and each run appends
   * at `L`: a timing of a step at context L (the cached values do not change its cost); the
   * persistent runner's state is not touched.
   */
  run(inputs: Record<string, Tensor>, T: number, repeat: number, L?: number): { outputs: Record<string, Tensor>; times: number[]; kernels?: Record<string, number> } {
    const past = this.checkCall(T, L);
    const args = [this.weightsPath, String(T), String(this.threads), String(repeat)];
    if (this.src.maxContext !== undefined) args.push(String(past), String(this.src.maxContext));
    this.inputBytes(inputs, T).forEach((bytes, i) => {
      // Files by position, not name: a long input name would pass the file system's limit.
      const path = join(this.dir, `in.${i}.f32`);
      writeFileSync(path, bytes);
      args.push(path);
    });
    const outPaths = this.src.outputs.map((_, i) => join(this.dir, `out.${i}.f32`));
    args.push(...outPaths);
    const { times, kernels } = oneShot(() => runExecutable(this.exe, args, this.env));
    const outputs: Record<string, Tensor> = {};
    this.src.outputs.forEach((o, i) => {
      const bytes = readFileSync(outPaths[i]);
      outputs[o.name] = outputTensor(o, T, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    });
    return { outputs, times, ...(kernels ? { kernels } : {}) };
  }

  /** Empties the KV cache (the next call should then be a prefill, L = 0); after a killed runner, the next call starts a new one. */
  reset(): void {
    this.session.restart();
    // A runner not started (or just forgotten) starts with an empty cache anyway.
    if (this.session.pid !== undefined) this.session.send([REQUEST.reset, 0, 0, 0]);
  }

  /** Fills positions 0..L-1 of the runner's cache region from caches as the graph takes them (state-caches.ts). */
  loadCaches(caches: Record<string, Tensor>, L: number): void {
    if (this.src.maxContext === undefined) throw new Error('loadCaches: this C model has no state (compiled without a context bound)');
    const states = stateFromCaches(this.program, caches, L);
    const byName = new Map(states.map((s) => [s.name, s]));
    // The region as model.c.hbs lays it out: the state buffers in render order, each aligned.
    const align = this.src.layout.align;
    const region = new Uint8Array(this.src.stateRegions.reduce((at, name) => at + Math.ceil((byName.get(name)!.data.byteLength) / align) * align, 0));
    let at = 0;
    for (const name of this.src.stateRegions) {
      const s = byName.get(name);
      if (!s) throw new Error(`loadCaches: no state buffer ${name} in the program`);
      region.set(new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength), at);
      at += Math.ceil(s.data.byteLength / align) * align;
    }
    this.session.restart();
    this.session.send([REQUEST.cache, 0, 0, 0], [region]);
  }

  dispose(): void {
    this.session.close();
    removeTemp(this.dir);
  }

  /** Checks T against the token bound and, with state, L + T against the context bound; the L to pass (0 without state). */
  private checkCall(T: number, L: number | undefined): number {
    checkTokenCount(T, this.maxTokens);
    const context = this.src.maxContext;
    if (context === undefined) return 0;
    return checkContext(L, T, context);
  }

  /** Each input's bytes at T, in forward's order (int32 for i32 inputs, float32 else). */
  private inputBytes(inputs: Record<string, Tensor>, T: number): Uint8Array[] {
    return this.src.inputs.map((x) => {
      const t = inputs[x.name];
      if (!t) fail('E503', `missing input '${x.name}'`);
      if (t.data.length !== x.floats(T)) fail('E504', `input '${x.name}' holds ${t.data.length} values, expected ${x.floats(T)} at T = ${T}`);
      return new Uint8Array((x.int ? Int32Array : Float32Array).from(t.data).buffer);
    });
  }
}

function outputTensor(o: CSources['outputs'][number], T: number, raw: ArrayBuffer): Tensor {
  return o.int ? { dtype: 'i32', shape: o.shape(T), data: new Int32Array(raw) } : { dtype: 'f32', shape: o.shape(T), data: new Float32Array(raw) };
}

/**
 * Renders, builds and loads a planned program with the given module weights (one chip; `mpi.ts`
 * loads an expert-parallel one). `opts.blob`: how to get the packed blob given the function that
 * makes it (the benchmark reads it from its cache instead when it can).
 */
export function loadC(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>, opts: BuildOptions & { blob?: (make: () => Uint8Array) => Uint8Array } = {}): CModel {
  checkStateFits(program, target);
  const src = renderC(program, target);
  const exe = buildExecutable(src, target, opts);
  const make = (): Uint8Array => cWeightBlob(src.layout, blobSource(program, weights));
  const blob = opts.blob ? opts.blob(make) : (write: WriteAt) => writeCWeightBlob(src.layout, blobSource(program, weights), write);
  return new CModel(src, exe, blob, program, target.cores);
}

/**
 * The KV caches (state at the context bound) and the arena must fit the target's main memory,
 * as Wasm's linear memory (wasm/layout.ts) and WebGPU's bindings are checked: a --max-context
 * of 2e9 gave a C runner that died 'out of memory' (exit 3), or emitted code for 476 GiB.
 */
function checkStateFits(p: KProgram, target: TargetCaps): void {
  const main = target.memory?.at(-1);
  const state = stateBytes(p).bytes;
  const arena = p.arenaBytes !== undefined && p.maxTokens !== undefined ? atTokens(p.arenaBytes, p.maxTokens) : 0;
  if (main && state > 0 && state + arena > main.bytes)
    fail('E702', `${p.name}'s KV caches need ${formatBytes(state)} at ${p.maxContext} positions (with the arena's ${formatBytes(arena)}), more than ${target.name}'s ${main.name} (${formatBytes(main.bytes)})`, undefined, 'compile with a lower --max-context');
}

/** What each weight's bytes are, for the manifest. */
function weightManifest(program: KProgram, target: TargetCaps, layout: CWeightLayout): WeightManifest {
  return {
    model: program.name,
    target: target.name,
    bytes: layout.bytes,
    align: layout.align,
    tensors: layout.entries.map((e) => {
      const s = layout.specs.get(e.name);
      const how = s
        ? `panels: ${s.matrices} matrices of ${s.n} columns x ${s.kd} deep, each as ${panelCount(s)} panels of [${s.kd}][${s.width}]${s.glu ? ` pairing ${s.width / 2} gate and ${s.width / 2} up columns (from the ${s.glu} layout)` : ''}, zero-padded`
        : 'row-major';
      return { name: e.name, dtype: e.dtype, shape: e.shape, offset: e.offset, bytes: e.bytes, layout: how };
    }),
  };
}

export const cBackend: Backend = {
  name: 'c',
  decoderOps: ['attention', 'mla_attention'],
  emit(program: KProgram, target: TargetCaps): EmittedFiles {
    checkStateFits(program, target);
    const src = renderC(program, target);
    return {
      [`${src.file}.h`]: src.header,
      [`${src.file}.c`]: src.source,
      [`${src.file}.weights.json`]: JSON.stringify(weightManifest(program, target, src.layout), null, 1) + '\n',
      // Over several chips, the MPI runner too: what mpirun starts on a cluster (docs/multi-chip.md).
      ...(program.ep ? { [`${src.file}_main.c`]: src.main } : {}),
    };
  },
  packRankWeights(program, target, weights) {
    const src = renderC(program, target);
    return { blobs: rankWeightBlobs(program, src, weights), manifest: weightManifest(program, target, src.layout) };
  },
  packWeights(program, target, weights, opts) {
    const layout = cWeightLayout(program, target.alignment, programIsa(program, target)?.lanes ?? 1);
    return { blob: cWeightBlob(layout, blobSource(program, weights), opts?.onProgress), manifest: weightManifest(program, target, layout) };
  },
  writeWeights(program, target, weights, write, opts) {
    const layout = cWeightLayout(program, target.alignment, programIsa(program, target)?.lanes ?? 1);
    writeCWeightBlob(layout, blobSource(program, weights), write, opts?.onProgress);
    return weightManifest(program, target, layout);
  },
  async load(program, target, weights) {
    // An expert-parallel program runs as an MPI job of its ranks.
    return program.ep && program.ep.ranks > 1 ? loadCMpi(program, target, weights) : loadC(program, target, weights);
  },
};

/** The codes forward returns for bad data (an index the program computed, or was given, out of range), as E505 says them. */
const DATA_ERRORS: Record<number, string> = {
  5: 'an expert index outside 0..E-1 (corrupted routing)',
  6: 'a token id outside the embedding table',
  7: 'an index out of range (a gather index, a slot or offsets of the unfused MoE ops)',
};

/** forward's return code: 0 passes, a bad-data code is E505 naming what was wrong, anything else a bug. */
function withDataErrors(rc: number): void {
  if (rc === 0) return;
  if (DATA_ERRORS[rc]) fail('E505', `the C model's forward stopped on bad data: ${DATA_ERRORS[rc]}`, undefined, 'check the inputs (the reference interpreter, --backend ref, names the op and the value)');
  throw new Error(`C backend: forward returned ${rc}`);
}

/** A one-shot run (`run`): the runner's `forward returned N` exit as `withDataErrors` says it; anything else stays the build's own error. */
function oneShot<R>(run: () => R): R {
  try {
    return run();
  } catch (e) {
    const rc = /forward returned (\d+)/.exec((e as Error).message)?.[1];
    if (rc !== undefined && DATA_ERRORS[Number(rc)]) withDataErrors(Number(rc));
    throw e;
  }
}
