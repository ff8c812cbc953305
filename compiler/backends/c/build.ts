/**
 * @fileoverview Building the C backend's output on this machine: the system C compiler,
 * a content-addressed cache of executables, and running them.
 *
 * The cache key is a hash of the sources, the flags and the compiler's version, so a model
 * compiles once per change (under `cacheDir('c')`, see there). Sources and
 * executables are written under temporary names (compiler/output.ts: with the PID, removed
 * on ^C or SIGTERM) and renamed into place, so a killed build never leaves a half-written
 * one behind for the next run to trust; a build sweeps the cache of killed builds' leftovers.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fail } from '../../../ir/diagnostics.ts';
import { osReason } from '../../../ir/user-file.ts';
import type { TargetCaps } from '../../target/caps.ts';
import { makeFileVia, passOnChildSignal, sweepStale, writeOutputFile } from '../../io/output.ts';
import { StepProgress } from '../../io/progress.ts';
import { type CSources, targetIsa } from './render.ts';

export interface BuildOptions {
  /** The compiler (default `$CC`, else `cc`). */
  cc?: string;
  /** Build with AddressSanitizer and UndefinedBehaviorSanitizer (tests). */
  sanitize?: boolean;
  /** Extra flags (e.g. `-DMOEC_NO_THREADS`). */
  flags?: string[];
}

/** The warnings the generated code must build clean under, with any C11 compiler. */
export const STRICT_FLAGS = ['-std=c11', '-Wall', '-Wextra', '-Wpedantic', '-Werror'];

/** Code-generation flags for a target: its vector ISA, so the intrinsics path is taken. */
export function targetFlags(target: TargetCaps): string[] {
  return targetIsa(target)?.flags ?? [];
}

/**
 * The one place that decides where moec caches things: `kind` (`c` for built executables,
 * `bench` for the benchmark's) under `$MOEC_CACHE_DIR`, else `$XDG_CACHE_HOME/moec`, else
 * `~/.cache/moec`. An empty or relative value does not count (as the XDG spec says): an
 * empty `MOEC_CACHE_DIR` used to put the cache in the working directory.
 */
export function cacheDir(kind: 'c' | 'bench'): string {
  const absolute = (v: string | undefined): string | undefined => (v && isAbsolute(v) ? v : undefined);
  const root = absolute(process.env.MOEC_CACHE_DIR) ?? join(absolute(process.env.XDG_CACHE_HOME) ?? join(homedir(), '.cache'), 'moec');
  return join(root, kind);
}

/** `mkdir -p` of a cache directory, with a user-facing error (E506) when the place is not a writable directory. */
export function makeCacheDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    fail('E506', `cannot create the cache directory ${dir}: ${osReason(e, 'directory')}`, undefined, 'set MOEC_CACHE_DIR (or XDG_CACHE_HOME) to a writable directory');
  }
}

const versions = new Map<string, string>();

function compilerVersion(cc: string): string {
  let v = versions.get(cc);
  if (v !== undefined) return v;
  const r = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) fail('E507', `cannot run the C compiler \`${cc}\``, undefined, 'install gcc or clang, or set CC to a C11 compiler');
  v = r.stdout.split('\n')[0];
  versions.set(cc, v);
  return v;
}

/** Compiles `src` and its runner into an executable (cached); returns its path. */
export function buildExecutable(src: CSources, target: TargetCaps, opts: BuildOptions = {}): string {
  const cc = opts.cc ?? process.env.CC ?? 'cc';
  const flags = [
    ...STRICT_FLAGS,
    ...(opts.sanitize ? ['-O1', '-g', '-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-fno-sanitize-recover=all'] : ['-O3']),
    // IEEE results unchanged; compares may be if-converted, so loops with a select (moec_exp's
    // range checks, masks) vectorise. No kernel reads the floating-point exception flags.
    '-fno-trapping-math',
    ...targetFlags(target),
    ...(opts.flags ?? []),
  ];
  // Files pulled in with -include (a vendor's DMA macros, a test's) are part of what is built.
  const included = flags.flatMap((f, i) => (flags[i - 1] === '-include' ? [readFileSync(f, 'utf8')] : []));
  const key = createHash('sha256')
    .update([compilerVersion(cc), flags.join(' '), src.header, src.source, src.main, ...included].join('\0'))
    .digest('hex')
    .slice(0, 20);
  const dir = join(cacheDir('c'), `${src.file}-${key}`);
  const exe = join(dir, `${src.file}_main`);
  if (existsSync(exe)) return exe;
  sweepCache();
  makeCacheDir(dir);
  // Atomic, so two runs building the same model at once never compile a half-written source.
  writeOutputFile(join(dir, `${src.file}.h`), src.header);
  writeOutputFile(join(dir, `${src.file}.c`), src.source);
  writeOutputFile(join(dir, `${src.file}_main.c`), src.main);
  // Seconds for a large model: say so on a terminal, and how long it took (cached after).
  const step = new StepProgress(`compiling ${src.file}.c with ${cc} (first build of this model; cached after)`);
  const failed = makeFileVia(exe, (tmp) => {
    const r = spawnSync(cc, [...flags, '-o', tmp, join(dir, `${src.file}.c`), join(dir, `${src.file}_main.c`), '-pthread', '-lm'], { encoding: 'utf8' });
    passOnChildSignal(r.signal);
    return r.error || r.status !== 0 ? r.stderr || String(r.error) : undefined;
  });
  // The generated code must compile: a failure is a bug in moec, with the compiler's words.
  step.end(failed === undefined ? `compiled ${src.file}.c with ${cc}` : `${cc} failed on ${src.file}.c`);
  if (failed !== undefined) throw new Error(`C backend: ${cc} failed on the generated code (${dir}):\n${failed.slice(0, 4000)}`);
  return exe;
}

/** Temporaries of killed builds in a cache entry: today's `.NAME.moec-PID-X.tmp`, and the `NAME.tmp-PID` of earlier versions. */
const STALE_BUILD = /^(?:\..*\.moec-(\d+)-[a-z0-9]+\.tmp|.*_main\.tmp-(\d+))$/;

/** Removes killed builds' leftovers from every entry of the cache (only when building: a cache hit costs nothing). */
function sweepCache(): void {
  let entries: string[];
  try {
    entries = readdirSync(cacheDir('c'));
  } catch {
    return;
  }
  for (const e of entries) sweepStale(join(cacheDir('c'), e), STALE_BUILD);
}

export interface ExecResult {
  /** Milliseconds of each forward call, as the runner timed them. */
  times: number[];
  /** A timing build's (-DMOEC_PROFILE) mean milliseconds per call of each kernel, by its C function name, in call order. */
  kernels?: Record<string, number>;
}

/** Runs a built executable: `args` after the executable; throws with its stderr on failure. */
export function runExecutable(exe: string, args: string[], env: Record<string, string> = {}): ExecResult & { stdout: string } {
  const r = spawnSync(exe, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  passOnChildSignal(r.signal);
  if (r.error || r.status !== 0) throw new Error(`C backend: ${exe} ${args.slice(1, 4).join(' ')} exited with ${r.status ?? r.signal ?? r.error}:\n${r.stderr.slice(0, 4000)}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith('time_ms'));
  const times = line ? line.split(' ').slice(1).map(Number) : [];
  const split = r.stdout.split('\n').find((l) => l.startsWith('kernel_ms'));
  const kernels = split ? Object.fromEntries(split.split(' ').slice(1).map((kv) => [kv.slice(0, kv.lastIndexOf('=')), Number(kv.slice(kv.lastIndexOf('=') + 1))])) : undefined;
  return { times, ...(kernels ? { kernels } : {}), stdout: r.stdout };
}
