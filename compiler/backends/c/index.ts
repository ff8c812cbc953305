/**
 * @fileoverview The C backend: `MODEL.h` + `MODEL.c` (C11, any compiler), rendered from
 * the kernel IR by `render.ts` with the templates in `targets/c/`, and a runtime that
 * builds them with the system compiler and runs them here (`moec run --backend c`, the
 * parity tests, the benchmark).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KProgram } from '../../../ir/kernel/kernel.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { MoecError, fail } from '../../../ir/diagnostics.ts';
import { checkTokenCount } from '../../../ir/kernel/token-bound.ts';
import type { TargetCaps } from '../../target/caps.ts';
import { isOsError, osReason } from '../../../ir/user-file.ts';
import { fillNewFile, letSignalsIn, makeTempDir, removeTemp } from '../../io/output.ts';
import type { Backend, EmittedFiles, LoadedModel, WeightManifest } from '../backend.ts';
import { type WriteAt, blobSource } from '../weights.ts';
import { type BuildOptions, buildExecutable, runExecutable } from './build.ts';
import { type CWeightLayout, cWeightBlob, cWeightLayout, panelCount, writeCWeightBlob } from './layout.ts';
import { type CSources, programIsa, renderC } from './render.ts';
import { loadCMpi, rankWeightBlobs } from './mpi.ts';

/**
 * A model built as an executable, with its weights blob written once into a private
 * temporary directory (`moec-c-PID-XXXXXX`, removed by `dispose`, by ^C or SIGTERM, or by
 * the next run after a SIGKILL: compiler/output.ts).
 */
export class CModel implements LoadedModel {
  private readonly dir: string;
  private readonly weightsPath: string;
  /** The KV cache region between calls (a model with state): the runner reads and writes it back. */
  private readonly cachePath: string;
  /** Environment of the runner program (e.g. MOEC_FLUSH_MIB for the benchmark). */
  env: Record<string, string> = {};

  constructor(
    readonly src: CSources,
    readonly exe: string,
    /** The weights blob, or what writes it (streamed weights: into the runner's file as it fills, never whole in memory). */
    blob: Uint8Array | ((write: WriteAt) => void),
    private readonly maxTokens: number,
    /** Threads forward uses (default: the target's cores). */
    public threads: number,
  ) {
    this.dir = makeTempDir('moec-c');
    this.weightsPath = join(this.dir, 'weights.bin');
    this.cachePath = join(this.dir, 'cache.bin');
    try {
      if (blob instanceof Uint8Array) writeFileSync(this.weightsPath, blob);
      else fillNewFile(this.weightsPath, (write) => (blob(write), src.layout.bytes));
    } catch (e) {
      removeTemp(this.dir);
      if (e instanceof MoecError || !isOsError(e)) throw e;
      fail('E506', `cannot write the weights for the C runner to ${this.weightsPath}: ${osReason(e, 'directory')}`, undefined, 'free space in the temporary directory, or point TMPDIR at another one');
    }
  }

  lastForwardMs?: number;

  async forward(inputs: Record<string, Tensor>, bindings: Record<string, number>): Promise<Record<string, Tensor>> {
    // A ^C during the build or the weights' write ends moec here, before the runner starts.
    await letSignalsIn();
    const { outputs, times } = this.run(inputs, bindings.T, 1, bindings.L);
    this.lastForwardMs = times[0];
    return outputs;
  }

  /**
   * Runs forward `repeat` times in one process; the outputs of the last run, each run's time
   * (ms) and, from a timing build (`-DMOEC_PROFILE`), each kernel's mean time per run. With
   * state, `L` is the positions already cached: the call appends T more.
   */
  run(inputs: Record<string, Tensor>, T: number, repeat: number, L?: number): { outputs: Record<string, Tensor>; times: number[]; kernels?: Record<string, number> } {
    checkTokenCount(T, this.maxTokens);
    const args = [this.weightsPath, String(T), String(this.threads), String(repeat)];
    const context = this.src.maxContext;
    if (context !== undefined) {
      if (L === undefined || !Number.isInteger(L) || L < 0 || L + T > context)
        fail('E505', `L = ${L} cached positions and T = ${T} new ones do not fit the context bound ${context}`, undefined, 'give L from 0 (a prefill) to the context bound minus T, or compile with a larger --max-context');
      args.push(this.cachePath, String(L), String(context));
    }
    for (const [i, x] of this.src.inputs.entries()) {
      const t = inputs[x.name];
      if (!t) fail('E503', `missing input '${x.name}'`);
      if (t.data.length !== x.floats(T)) fail('E504', `input '${x.name}' holds ${t.data.length} values, expected ${x.floats(T)} at T = ${T}`);
      // Files by position, not name: a long input name would pass the file system's limit.
      const path = join(this.dir, `in.${i}.f32`);
      writeFileSync(path, new Uint8Array((x.int ? Int32Array : Float32Array).from(t.data).buffer));
      args.push(path);
    }
    const outPaths = this.src.outputs.map((_, i) => join(this.dir, `out.${i}.f32`));
    args.push(...outPaths);
    const { times, kernels } = withDataErrors(() => runExecutable(this.exe, args, this.env));
    const outputs: Record<string, Tensor> = {};
    this.src.outputs.forEach((o, i) => {
      const bytes = readFileSync(outPaths[i]);
      const raw = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      outputs[o.name] = o.int ? { dtype: 'i32', shape: o.shape(T), data: new Int32Array(raw) } : { dtype: 'f32', shape: o.shape(T), data: new Float32Array(raw) };
    });
    return { outputs, times, ...(kernels ? { kernels } : {}) };
  }

  /** Empties the KV cache (the next call should then be a prefill, L = 0). */
  reset(): void {
    rmSync(this.cachePath, { force: true });
  }

  dispose(): void {
    removeTemp(this.dir);
  }
}

/**
 * Renders, builds and loads a planned program with the given module weights (one chip; `mpi.ts`
 * loads an expert-parallel one). `opts.blob`: how to get the packed blob given the function that
 * makes it (the benchmark reads it from its cache instead when it can).
 */
export function loadC(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>, opts: BuildOptions & { blob?: (make: () => Uint8Array) => Uint8Array } = {}): CModel {
  const src = renderC(program, target);
  const exe = buildExecutable(src, target, opts);
  const make = (): Uint8Array => cWeightBlob(src.layout, blobSource(program, weights));
  const blob = opts.blob ? opts.blob(make) : (write: WriteAt) => writeCWeightBlob(src.layout, blobSource(program, weights), write);
  return new CModel(src, exe, blob, program.maxTokens!, target.cores);
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

/**
 * The error codes forward returns for bad data (an index the program computed, or was given,
 * out of range) as E505 naming what was wrong; anything else stays the build's own error.
 */
function withDataErrors<R>(run: () => R): R {
  try {
    return run();
  } catch (e) {
    const rc = /forward returned (\d+)/.exec((e as Error).message)?.[1];
    const what: Record<string, string> = {
      '5': 'an expert index outside 0..E-1 (corrupted routing)',
      '6': 'a token id outside the embedding table',
      '7': 'an index out of range (a gather index, a slot or offsets of the unfused MoE ops)',
    };
    if (rc !== undefined && what[rc]) fail('E505', `the C model's forward stopped on bad data: ${what[rc]}`, undefined, 'check the inputs (the reference interpreter, --backend ref, names the op and the value)');
    throw e;
  }
}
