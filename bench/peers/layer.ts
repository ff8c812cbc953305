/**
 * @fileoverview What the native peers (OpenBLAS, onnxruntime) share: the benchmark's MoE
 * layer described by sizes and moec weight names (`layerSpec`), moec's weights and inputs
 * written as raw float32 files they read (`rawCaseDir`), the size of the cache flush and
 * their thread count. The peers run in child processes (measure.ts), time themselves and
 * never see moec's module: only these files.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { makeTempDir, removeTemp } from '../../compiler/io/output.ts';
import type { Tensor } from '../../ir/tensor.ts';
import type { BenchCase } from '../runner.ts';

/**
 * One MoE layer as the peers compute it: softmax router over E experts, top-K (divided by
 * their sum when `renorm`), SwiGLU experts of F, plus a shared SwiGLU MLP of FS when FS > 0.
 */
export interface LayerSpec {
  D: number;
  F: number;
  E: number;
  K: number;
  renorm: boolean;
  FS: number;
  /** moec weight name of each raw file (`router.f32` ← `router`, `gate.f32` ← `w1`, ...). */
  files: Record<string, string>;
}

/** The workload files the peers implement, with their routing and moec weight names. */
const MODELS: Record<string, { renorm: boolean; shared: boolean; names: Record<string, string> }> = {
  'mixtral.moe': { renorm: true, shared: false, names: { router: 'router', gate: 'w1', up: 'w3', down: 'w2' } },
  'deepseek-mini.moe': {
    renorm: false,
    shared: true,
    names: {
      router: 'router', gate: 'w_gate', up: 'w_up', down: 'w_down',
      shared_gate: 'shared.gate', shared_up: 'shared.up', shared_down: 'shared.down',
    },
  },
};

/** The layer of case `c`, or why the peers cannot run it (another model, unexpected weights). */
export function layerSpec(c: BenchCase): LayerSpec | string {
  const m = MODELS[basename(c.workload.file)];
  if (!m) return `the native peers implement ${Object.keys(MODELS).join(' and ')}, not ${c.workload.file}`;
  const { D, F, E, K } = c.consts;
  const FS = m.shared ? c.consts.FS : 0;
  if (![D, F, E, K, FS].every((v) => Number.isInteger(v))) return `${c.workload.file}: constants D, F, E, K${m.shared ? ', FS' : ''} must be integers`;
  const want: Record<string, number[]> = {
    router: [E, D], gate: [E, F, D], up: [E, F, D], down: [E, D, F],
    shared_gate: [FS, D], shared_up: [FS, D], shared_down: [D, FS],
  };
  const files: Record<string, string> = {};
  for (const [role, name] of Object.entries(m.names)) {
    const w = c.weights[name];
    if (!w || w.dtype !== 'f32' || w.shape.join(',') !== want[role].join(','))
      return `${c.workload.file}: weight ${name} is ${w ? `${w.dtype}[${w.shape}]` : 'missing'}, the peers expect f32[${want[role]}]`;
    files[`${role}.f32`] = name;
  }
  const x = c.inputs.x;
  if (!x || x.dtype !== 'f32' || x.shape.join(',') !== `${c.tokens},${D}`) return `${c.workload.file}: the peers expect one input x: f32[T, ${D}]`;
  return { D, F, E, K, renorm: m.renorm, FS, files };
}

/** Threads of every native peer (BLAS threads, intra-op threads), as for moec's 2-thread runners. */
export const PEER_THREADS = 2;

let root: string | undefined;
let dirs = 0;
let written = new WeakMap<Record<string, Tensor>, string>();

/**
 * A directory holding case `c`'s weights (each role's raw file) and its input as
 * `x-T.f32`. Weights are written once per workload (per weights object) into a temporary
 * directory that is removed when the process exits.
 */
export function rawCaseDir(c: BenchCase, spec: LayerSpec): string {
  if (!root) {
    root = makeTempDir('moec-bench-peers');
    process.once('exit', removeRawCases);
  }
  let dir = written.get(c.weights);
  if (!dir) {
    dir = join(root, `weights-${++dirs}`);
    mkdirSync(dir);
    for (const [file, name] of Object.entries(spec.files)) writeRaw(join(dir, file), c.weights[name]);
    written.set(c.weights, dir);
  }
  const x = join(dir, `x-${c.tokens}.f32`);
  if (!existsSync(x)) writeRaw(x, c.inputs.x);
  return dir;
}

/** Removes every directory `rawCaseDir` made (at exit, or sooner: tests' workers may not see `exit`). */
export function removeRawCases(): void {
  if (root) removeTemp(root);
  root = undefined;
  written = new WeakMap();
}

function writeRaw(path: string, t: Tensor): void {
  const f32 = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
  writeFileSync(path, new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength));
}

/**
 * MiB of the buffer streamed before each timed run to evict the caches (this machine's L3
 * is 300 MiB), from `MOEC_BENCH_FLUSH_MIB`; 0 disables. Both peers read it the same way.
 */
export function flushMiB(): number {
  const v = process.env.MOEC_BENCH_FLUSH_MIB;
  const n = v === undefined || v === '' ? 1024 : Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`MOEC_BENCH_FLUSH_MIB must be a whole number of MiB, not ${JSON.stringify(v)}`);
  return n;
}
