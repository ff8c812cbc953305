/**
 * @fileoverview Builds and drives the OpenBLAS peer (`openblas_moe.c`): compiled with the
 * system C compiler against Debian's libopenblas-dev into a content-addressed cache
 * (`cacheDir('bench')`: `$MOEC_CACHE_DIR/bench`, else `~/.cache/moec/bench`), run with 2 BLAS threads.
 *
 * Debian's OpenBLAS 0.3.21 does not know recent Xeons (family 6, model 207 here) and falls
 * back to its Prescott (SSE3) kernels, several times slower than the machine allows. A
 * careful engineer notices and sets OPENBLAS_CORETYPE; so does this driver, by the CPU's
 * flags (AVX-512 → SkylakeX, AVX2 + FMA → Haswell), unless the caller set it already.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../../compiler/backends/c/build.ts';
import { makeFileVia } from '../../compiler/io/output.ts';
import { PEER_THREADS } from './layer.ts';
import { lastLine } from './measure.ts';

const SOURCE = fileURLToPath(new URL('./openblas_moe.c', import.meta.url));
const FLAGS = ['-O3', '-march=native', '-std=c11'];

export interface OpenblasPeer {
  exe: string;
  /** Environment for every run: thread count and, where needed, the core type. */
  env: Record<string, string>;
  /** `OpenBLAS 0.3.21 ... SkylakeX ...`, the core it runs and why. */
  config: string;
  core: string;
  coreNote: string;
  cc: string;
}

let probed: OpenblasPeer | string | undefined;

/** The built peer, or why it cannot be built (no compiler, no libopenblas-dev). Probed once. */
export function openblasPeer(): OpenblasPeer | string {
  if (probed === undefined) probed = probe();
  return probed;
}

function probe(): OpenblasPeer | string {
  const cc = process.env.CC ?? 'cc';
  const version = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) return `no C compiler (\`${cc}\`): install gcc, or set CC`;
  const source = readFileSync(SOURCE, 'utf8');
  const key = createHash('sha256').update([version.stdout.split('\n')[0], FLAGS.join(' '), source].join('\0')).digest('hex').slice(0, 20);
  const base = cacheDir('bench');
  const dir = join(base, `openblas_moe-${key}`);
  const exe = join(dir, 'openblas_moe');
  if (!existsSync(exe)) {
    mkdirSync(dir, { recursive: true });
    const failed = makeFileVia(exe, (tmp) => {
      const r = spawnSync(cc, [...FLAGS, '-o', tmp, SOURCE, '-lopenblas', '-lm'], { encoding: 'utf8' });
      return r.error || r.status !== 0 ? r.stderr || String(r.error) : undefined;
    });
    if (failed !== undefined) {
      const why = lastLine(failed);
      return /cblas\.h|lopenblas/.test(failed) ? `OpenBLAS not found: install Debian's libopenblas-dev (${why})` : `${cc} failed on openblas_moe.c: ${why}`;
    }
  }
  const env: Record<string, string> = { OPENBLAS_NUM_THREADS: String(PEER_THREADS) };
  let info = runInfo(exe, env);
  if (typeof info === 'string') return info;
  let coreNote = process.env.OPENBLAS_CORETYPE ? 'OPENBLAS_CORETYPE set by the caller' : 'detected by OpenBLAS';
  const better = process.env.OPENBLAS_CORETYPE ? undefined : coreFor(info.core);
  if (better) {
    env.OPENBLAS_CORETYPE = better;
    const again = runInfo(exe, env);
    if (typeof again === 'string') return again;
    coreNote = `OPENBLAS_CORETYPE=${better}: OpenBLAS detected ${info.core} on this CPU`;
    info = again;
  }
  return { exe, env, config: info.config, core: info.core, coreNote, cc: version.stdout.split('\n')[0] };
}

function runInfo(exe: string, env: Record<string, string>): { config: string; core: string } | string {
  const r = spawnSync(exe, ['--info'], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.error || r.status !== 0) return `openblas_moe --info failed: ${lastLine(r.stderr || String(r.error))}`;
  const field = (k: string): string => r.stdout.split('\n').find((l) => l.startsWith(k + ' '))?.slice(k.length + 1) ?? 'unknown';
  return { config: field('config'), core: field('core') };
}

/** A better core type than OpenBLAS's fallback for an unrecognised CPU, from /proc/cpuinfo's flags. */
function coreFor(detected: string): string | undefined {
  if (!/^(Prescott|Core2|Penryn|Dunnington|Nehalem|Katmai|Coppermine|Northwood|Banias|Atom)$/i.test(detected)) return undefined;
  let flags: Set<string>;
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    flags = new Set(line?.split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return undefined;
  }
  if (flags.has('avx512f') && flags.has('avx512bw') && flags.has('avx512vl')) return 'SkylakeX';
  if (flags.has('avx2') && flags.has('fma')) return 'Haswell';
  return undefined;
}
