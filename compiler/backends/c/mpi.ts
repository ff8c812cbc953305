/**
 * @fileoverview Running an expert-parallel C program (`KProgram.ep`) as an MPI job here:
 * built with `mpicc` (`$MPICC`), launched with `mpirun -np N --oversubscribe` (`$MPIRUN`),
 * each rank with its own weight blob (its experts' slots only: `rankWeightBlobs`) and its
 * share of the tokens. The job has a deadline: a rank that dies or hangs ends it with an
 * error naming the rank (E512), never a hang.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../../ir/diagnostics.ts';
import { rankWeights } from '../../../ir/kernel/ep.ts';
import type { KProgram } from '../../../ir/kernel/kernel.ts';
import { packedBuffers } from '../../../ir/kernel/kweights.ts';
import { checkTokenCount } from '../../../ir/kernel/token-bound.ts';
import { interpretFunc } from '../../../ir/graph/interp.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { osReason } from '../../../ir/user-file.ts';
import type { TargetCaps } from '../../target/caps.ts';
import { letSignalsIn, makeTempDir, passOnChildSignal, removeTemp } from '../../io/output.ts';
import type { LoadedModel } from '../backend.ts';
import { type BuildOptions, buildExecutable } from './build.ts';
import { cWeightBlob } from './layout.ts';
import { type CSources, renderC } from './render.ts';

/** The MPI launcher and compiler wrapper (OpenMPI's by default). */
export const MPIRUN = (): string => process.env.MPIRUN ?? 'mpirun';
export const MPICC = (): string => process.env.MPICC ?? 'mpicc';

/** Seconds a rank waits for the others in an all-to-all before it ends the job (MOEC_EP_TIMEOUT_S). */
export function epTimeoutSeconds(): number {
  const v = Number(process.env.MOEC_EP_TIMEOUT_S);
  return Number.isFinite(v) && v > 0 ? v : 30;
}

/** Each rank's weight blob: `pack`'s results with the placed expert stacks cut to the rank's slots. */
export function rankWeightBlobs(program: KProgram, src: CSources, weights: Record<string, Tensor>): Uint8Array[] {
  const ranks = program.ep?.ranks ?? 1;
  const bindings = Object.fromEntries(program.module.dims.map((d) => [d.name, 1]));
  const whole = interpretFunc(program.module, program.pack, { bindings, weights });
  return Array.from({ length: ranks }, (_, r) => cWeightBlob(src.layout, packedBuffers(program, rankWeights(program, whole, r))));
}

/** A model built for N ranks: `forward` splits the T tokens evenly over the ranks (T / N each) and joins their outputs. */
export class CMpiModel implements LoadedModel {
  private readonly dir: string;
  readonly ranks: number;
  env: Record<string, string> = {};
  lastForwardMs?: number;
  /** Bytes of token rows that crossed a link in the last run (every rank's sends), as the runner counted them. */
  lastExchangeBytes?: number;

  constructor(
    readonly src: CSources,
    readonly exe: string,
    blobs: Uint8Array[],
    private readonly maxTokens: number,
    public threads: number,
  ) {
    this.ranks = blobs.length;
    this.dir = makeTempDir('moec-mpi');
    try {
      blobs.forEach((b, r) => writeFileSync(join(this.dir, `weights.${r}.bin`), b));
    } catch (e) {
      removeTemp(this.dir);
      fail('E506', `cannot write the ranks' weights to ${this.dir}: ${osReason(e, 'directory')}`, undefined, 'free space in the temporary directory, or point TMPDIR at another one');
    }
  }

  async forward(inputs: Record<string, Tensor>, bindings: Record<string, number>): Promise<Record<string, Tensor>> {
    await letSignalsIn();
    const { outputs, times } = this.run(inputs, bindings.T, 1);
    this.lastForwardMs = times[0];
    return outputs;
  }

  /** Runs forward `repeat` times on every rank; the joined outputs of the last run and each run's time (ms). */
  run(inputs: Record<string, Tensor>, total: number, repeat: number): { outputs: Record<string, Tensor>; times: number[] } {
    const R = this.ranks;
    if (total % R !== 0) fail('E504', `${total} tokens do not split evenly over ${R} chips`, undefined, `give --tokens a multiple of ${R} (each rank runs T / ${R} tokens)`);
    const T = total / R;
    checkTokenCount(T, this.maxTokens);
    const args = [join(this.dir, 'weights.%d.bin'), String(T), String(this.threads), String(repeat)];
    for (const [i, x] of this.src.inputs.entries()) {
      const t = inputs[x.name];
      if (!t) fail('E503', `missing input '${x.name}'`);
      if (t.data.length !== x.floats(total)) fail('E504', `input '${x.name}' holds ${t.data.length} values, expected ${x.floats(total)} at T = ${total}`);
      const per = x.floats(T);
      for (let r = 0; r < R; r++) writeFileSync(join(this.dir, `in.${i}.${r}.f32`), new Uint8Array(Float32Array.from(t.data.subarray(r * per, (r + 1) * per)).buffer));
      args.push(join(this.dir, `in.${i}.%d.f32`));
    }
    args.push(...this.src.outputs.map((_, i) => join(this.dir, `out.${i}.%d.f32`)));
    const stdout = runMpiJob(this.exe, R, args, this.env);
    const times = (stdout.split('\n').find((l) => l.startsWith('time_ms')) ?? '').split(' ').slice(1).map(Number);
    const bytes = /^ep_bytes (\d+)$/m.exec(stdout);
    this.lastExchangeBytes = bytes ? Number(bytes[1]) : undefined;
    const outputs: Record<string, Tensor> = {};
    this.src.outputs.forEach((o, i) => {
      const data = new Float32Array(o.floats(total));
      const per = o.floats(T);
      for (let r = 0; r < R; r++) {
        const b = readFileSync(join(this.dir, `out.${i}.${r}.f32`));
        data.set(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), r * per);
      }
      outputs[o.name] = { dtype: 'f32', shape: o.shape(total), data };
    });
    return { outputs, times };
  }

  dispose(): void {
    removeTemp(this.dir);
  }
}

/**
 * `mpirun -np R --oversubscribe EXE ARGS`, with a deadline: the ranks' own timeout
 * (MOEC_EP_TIMEOUT_S) plus slack for start-up. A failed job is E512 naming the rank that
 * failed, from the ranks' messages or mpirun's ("process rank 1 ... exited on signal 9").
 */
export function runMpiJob(exe: string, ranks: number, args: string[], env: Record<string, string> = {}, timeoutS = epTimeoutSeconds() * 4 + 30): string {
  // OpenMPI refuses root without these (CI containers run as root); and in a container its
  // shared-memory transport's single-copy mode (CMA) is often not permitted: plain copies
  // work everywhere. Either can be overridden from the environment.
  const rootOk = process.getuid?.() === 0 ? { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' } : {};
  const r = spawnSync(MPIRUN(), ['-np', String(ranks), '--oversubscribe', exe, ...args], {
    encoding: 'utf8',
    env: { OMPI_MCA_btl_vader_single_copy_mechanism: 'none', ...rootOk, ...process.env, ...env },
    maxBuffer: 1 << 26,
    timeout: timeoutS * 1000,
    killSignal: 'SIGKILL',
  });
  passOnChildSignal(r.signal === 'SIGKILL' ? null : r.signal);
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT')
    fail('E507', `cannot run \`${MPIRUN()}\` for --chips ${ranks}`, undefined, 'install OpenMPI (Debian: apt-get install openmpi-bin libopenmpi-dev), or set MPIRUN');
  if (r.error || r.status !== 0) fail('E512', mpiFailure(r.stderr ?? '', r.status, r.error ? `no result within ${timeoutS} s` : undefined), undefined, 'the other ranks were stopped; see the message of the failed rank above');
  return r.stdout;
}

/** One line for a failed job: the first rank named by the ranks or by mpirun, and what happened to it. */
export function mpiFailure(stderr: string, status: number | null, timedOut?: string): string {
  const own = /moec: rank (\d+): (.*)/.exec(stderr) ?? /_main: rank (\d+): (.*)/.exec(stderr);
  if (own) return `rank ${own[1]} of the MPI job failed: ${own[2]}`;
  const killed = /process rank (\d+) with PID \d+ on node \S+ exited on signal (\d+) \(([^)]+)\)/.exec(stderr);
  if (killed) return `rank ${killed[1]} of the MPI job died (signal ${killed[2]}, ${killed[3]}); the job was ended`;
  const exited = /process rank (\d+) with PID \d+ on node \S+ exited[^\n]*/.exec(stderr);
  if (exited) return `rank ${exited[1]} of the MPI job failed: ${exited[0]}`;
  if (timedOut) return `the MPI job gave no result: ${timedOut}`;
  return `the MPI job failed (exit ${status}): ${stderr.trim().split('\n').slice(0, 6).join(' | ').slice(0, 600)}`;
}

/** Renders, builds (mpicc) and loads an expert-parallel program. */
export function loadCMpi(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>, opts: BuildOptions = {}): CMpiModel {
  const src = renderC(program, target);
  const exe = buildExecutable(src, target, { ...opts, cc: opts.cc ?? MPICC() });
  return new CMpiModel(src, exe, rankWeightBlobs(program, src, weights), program.maxTokens!, 1);
}
