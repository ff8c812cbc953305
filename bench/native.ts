/**
 * @fileoverview Native (C) limits of this machine, measured in the same run as the cases:
 * `native/limits.c` built with the system compiler (AVX2 + FMA when the CPU has them) and
 * run on the benchmark's thread count. These are the roofs of the C backend and the native
 * peers (OpenBLAS, onnxruntime): FMA peak, STREAM triad and read bandwidth.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../compiler/backends/c/build.ts';
import { makeFileVia } from '../compiler/io/output.ts';
import type { Roof } from './runner.ts';

export interface NativeLimits {
  threads: number;
  /** Peak float32 FMA FLOP/s, all threads, in the widest vectors the CPU has. */
  fmaGflops: number;
  /** Those vectors: AVX-512, AVX2 or scalar. */
  fmaIsa: string;
  /** STREAM triad, GB/s (12 bytes per element), all threads. */
  triadGBps: number;
  /** Streaming read, GB/s, all threads. */
  readGBps: number;
  arrayMiB: number;
  compiler: string;
}

const SOURCE = fileURLToPath(new URL('./native/limits.c', import.meta.url));

/** This CPU has the feature `flag` (as /proc/cpuinfo names it: avx2, avx512f). */
export function cpuHas(flag: string): boolean {
  return spawnSync('grep', ['-qw', flag, '/proc/cpuinfo']).status === 0;
}

/** The C compiler and the flags the benchmark builds native code with. */
export function nativeCompiler(): { cc: string; version: string; flags: string[] } | null {
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  const isa = cpuHas('avx512f') ? ['-mavx512f', '-mavx2', '-mfma'] : cpuHas('avx2') ? ['-mavx2', '-mfma'] : [];
  return { cc, version: r.stdout.split('\n')[0], flags: ['-O3', '-std=c11', ...isa, '-pthread'] };
}

/**
 * The cached limits program for this compiler and these flags: its name carries a hash of
 * the source, the flags and the compiler, so an edited limits.c is built again (a name
 * without the source kept running a binary whose FMA loop gcc had folded into one chain).
 */
export function limitsExeName(c: { version: string; flags: string[] }, source = readFileSync(SOURCE, 'utf8')): string {
  const isa = c.flags.includes('-mavx512f') ? 'avx512' : c.flags.includes('-mavx2') ? 'avx2' : 'portable';
  const key = createHash('sha256').update([source, c.version, ...c.flags].join('\0')).digest('hex').slice(0, 12);
  return `limits-${isa}-${key}`;
}

/** Measures the native limits (or explains why it cannot). */
export function measureNativeLimits(threads: number, reps: number, mib = 256): NativeLimits | string {
  const c = nativeCompiler();
  if (!c) return 'no C compiler (install gcc or clang, or set CC)';
  const dir = cacheDir('bench');
  mkdirSync(dir, { recursive: true });
  const exe = join(dir, limitsExeName(c));
  if (!existsSync(exe)) {
    const failed = makeFileVia(exe, (tmp) => {
      const b = spawnSync(c.cc, [...c.flags, '-o', tmp, SOURCE], { encoding: 'utf8' });
      return b.status !== 0 ? b.stderr.split('\n')[0] : undefined;
    });
    if (failed !== undefined) return `native/limits.c does not build: ${failed}`;
  }
  const r = spawnSync(exe, [String(threads), String(mib), String(reps)], { encoding: 'utf8' });
  if (r.status !== 0) return `native/limits failed (exit ${r.status})`;
  const num = (key: string): number => Number(/^(\S+) (\S+)$/m.test(r.stdout) ? r.stdout.match(new RegExp(`^${key} (\\S+)$`, 'm'))?.[1] : NaN);
  const isa = r.stdout.match(/^fma_isa (.+)$/m)?.[1] ?? 'unknown';
  return { threads, fmaIsa: isa, fmaGflops: num('fma_gflops'), triadGBps: num('triad_gbps'), readGBps: num('read_gbps'), arrayMiB: mib, compiler: c.version };
}

/**
 * The roof of every native runner (the C backend and the native peers): the C limits on the
 * same threads. Its bandwidth is the streaming read: a layer reads its weights and writes
 * little, and a read-only stream runs faster than STREAM's triad (two reads and a write),
 * which is shown beside it.
 */
export function nativeRoof(limits: { native?: NativeLimits | null }): Roof | null {
  const n = limits.native;
  if (!n) return null;
  return {
    gflops: n.fmaGflops,
    gbps: n.readGBps,
    computeFrom: `C ${n.fmaIsa} FMA loop, ${n.threads} threads`,
    bandwidthFrom: `streaming read over ${n.arrayMiB} MiB, ${n.threads} threads (STREAM triad ${n.triadGBps.toFixed(1)} GB/s)`,
  };
}
