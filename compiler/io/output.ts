/**
 * @fileoverview How moec writes: the one place that decides what happens to a path it is
 * asked to write, so that nothing of the user's is lost and nothing of moec's is left behind.
 *
 * - An output that is an input is refused before any work (`refuseInputOverwrite`, exit 2):
 *   the same file through any symlink or hard link, a file inside an input directory, a
 *   shard an input index names.
 * - A regular file is written atomically (`writeOutputFile`): a temporary file beside it,
 *   renamed over it when complete, keeping the permissions the old file had. A symlink is
 *   followed, so the link stays and its target gets the new bytes.
 * - A character device or a FIFO (`-o /dev/null`, `-o /dev/stdout`, a named pipe) is opened
 *   and written, never renamed over: that would put a regular file in place of a system
 *   node. A FIFO nobody reads is an error, not a hang. A block device or socket is refused.
 * - `-o DIR` (`writeOutputDir`) writes moec's files into DIR, creating it (with the mode the
 *   umask gives) if needed, each file atomically, in the order given: a backend puts its
 *   manifest last, so a manifest on disk never describes files older than itself. Nothing
 *   else in DIR is touched: moec never removes a file it did not write.
 * - Temporary files and directories carry the PID of the process that made them. While they
 *   exist they are registered, and SIGINT, SIGTERM or SIGHUP removes them before the process
 *   dies of the signal (long writes let the event loop run between chunks, so that happens
 *   promptly: `letSignalsIn`); a SIGKILL cannot be caught, so the next write into the same
 *   place (`sweepStale`) removes the leftovers of processes that no longer run.
 * - Long-lived children (the C runner of a loaded model) are registered too (`trackChild`)
 *   and killed on exit or on such a signal.
 */
import { closeSync, constants, fchmodSync, fsyncSync, ftruncateSync, readSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, writeSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { osReason } from '../../ir/user-file.ts';
import { MoecError, fail } from '../../ir/diagnostics.ts';
import { UsageError } from '../usage-error.ts';

/** What an output file holds: text, bytes, or bytes in chunks (written as they come). */
export type OutputData = string | Uint8Array | Iterable<Uint8Array>;

// ---------------------------------------------------------------------------------------
// Outputs are never inputs.

/** Where a path leads: its real path (through symlinks, dangling ones included) and, if it exists, its file. */
function locate(path: string): { real: string; stat?: Stats } {
  let p = resolve(path);
  // Follow a chain of links by hand: realpath fails on a dangling one, whose target a write would create.
  for (let hops = 0; hops < 40; hops++) {
    let l: Stats;
    try {
      l = lstatSync(p);
    } catch {
      break;
    }
    if (!l.isSymbolicLink()) break;
    p = resolve(dirname(p), readlinkSync(p));
  }
  let stat: Stats | undefined;
  try {
    stat = statSync(p);
    return { real: realpathSync(p), stat };
  } catch {
    // Missing: the real path of its directory (which may itself be a link), and its name.
    try {
      return { real: join(realpathSync(dirname(p)), basename(p)), stat };
    } catch {
      return { real: p, stat };
    }
  }
}

/**
 * Refuses (a usage error, exit 2) any output that would write over an input: the same file
 * (by real path, or by device and inode for a hard link), or a path inside an input
 * directory. Character devices and FIFOs may be both (`import /dev/stdin -o /dev/stdout`):
 * writing to them destroys nothing. Inputs that do not exist are skipped (reading them fails).
 */
export function refuseInputOverwrite(outputs: Array<string | undefined>, inputs: Array<string | undefined>): void {
  const ins = inputs.filter((i): i is string => i !== undefined).map((path) => ({ path, ...locate(path) })).filter((i) => i.stat && (i.stat.isFile() || i.stat.isDirectory()));
  for (const out of outputs) {
    if (out === undefined) continue;
    const o = locate(out);
    for (const i of ins) {
      const same = o.real === i.real || (o.stat !== undefined && o.stat.dev === i.stat!.dev && o.stat.ino === i.stat!.ino);
      if (same) throw new UsageError(`the output ${out} is the input ${i.path}${o.real !== resolve(i.path) ? ` (${o.real})` : ''}: writing it would destroy the input`, 'write the output to another path');
      if (i.stat!.isDirectory() && o.real.startsWith(i.real.endsWith(sep) ? i.real : i.real + sep)) {
        throw new UsageError(`the output ${out} lies inside the input directory ${i.path}: writing it would change the input`, 'write the output outside that directory');
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Temporary files: registered while they exist, removed on a signal, swept after a kill.

const live = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let exitHook = false;

/** Child processes that live as long as an object of moec's (the C runner): ended with moec. */
const children = new Set<{ kill(signal?: NodeJS.Signals): boolean }>();

/**
 * Registers a long-lived child process to be killed when moec ends (exit, or SIGINT, SIGTERM
 * or SIGHUP, as temporaries are removed); returns the function that unregisters it. A child
 * sees EOF on its stdin when moec dies of SIGKILL, which ends a runner that reads requests.
 */
export function trackChild(child: { kill(signal?: NodeJS.Signals): boolean }): () => void {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', removeLive);
  }
  children.add(child);
  return () => void children.delete(child);
}

function removeLive(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  for (const p of live) {
    try {
      rmSync(p, { recursive: true, force: true });
    } catch {
      // Nothing more to do while dying; the next run's sweep tries again.
    }
  }
  live.clear();
}

let listening = false;
let idleCheck = false;

function listen(on: boolean): void {
  if (on === listening) return;
  listening = on;
  for (const s of SIGNALS) {
    if (on) process.on(s, endBySignal);
    else process.removeListener(s, endBySignal);
  }
}

/**
 * Removes moec's temporaries and ends the process of `signal`, as if moec had never listened
 * (the shell then sees 130 for ^C, 143 for TERM) — unless an application using the API
 * listens to it too: then it decides what the signal means.
 */
export function endBySignal(signal: NodeJS.Signals): void {
  removeLive();
  listen(false);
  if (process.listenerCount(signal) > 0) return;
  process.kill(process.pid, signal);
}

/**
 * A child (the C compiler, the C runner) that died of ^C or SIGTERM got it with moec, or for
 * moec: end moec of it too, rather than report the child's failure as a bug.
 */
export function passOnChildSignal(signal: NodeJS.Signals | null): void {
  if (signal !== null && (SIGNALS as readonly string[]).includes(signal)) endBySignal(signal);
}

/**
 * Registers a temporary path (file or directory) for removal on SIGINT/SIGTERM/SIGHUP or
 * exit; returns the function that unregisters it (once renamed into place, or removed).
 *
 * moec listens to the signals only while it has temporaries (and one turn of the event loop
 * after, so that a signal that came during synchronous work is still handled, not lost):
 * Node runs a listener only from the event loop, and without one a signal ends moec at once,
 * which is what a write blocked on a FIFO whose reader stalls needs.
 */
export function trackTemp(path: string): () => void {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', removeLive);
  }
  listen(true);
  live.add(path);
  return () => untrack(path);
}

function untrack(path: string): void {
  if (!live.delete(path) || live.size > 0 || idleCheck) return;
  idleCheck = true;
  setImmediate(() => {
    idleCheck = false;
    if (live.size === 0) listen(false);
  });
}

/** Whether process `pid` still runs (EPERM: it does, as another user). */
function running(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temporary files beside an output: `.NAME.moec-PID-RANDOM.tmp`. */
const TEMP_FILE = /^\..*\.moec-(\d+)-[a-z0-9]+\.tmp$/;

/**
 * Removes from `dir` the temporary files (or directories) named by `pattern` (the PID in
 * its first group that matched) whose process no longer runs: the leftovers of a killed moec. A live
 * process's temporaries are left alone, so two moec runs never remove each other's.
 */
export function sweepStale(dir: string, pattern: RegExp = TEMP_FILE): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = pattern.exec(name);
    const pid = Number(m?.slice(1).find((g) => g !== undefined));
    if (!Number.isSafeInteger(pid) || pid <= 0 || running(pid)) continue;
    try {
      rmSync(join(dir, name), { recursive: true, force: true });
    } catch {
      // Not ours to fight over (permissions): leave it.
    }
  }
}

/**
 * A fresh private directory in the system's temporary directory, `PREFIX-PID-XXXXXX`,
 * registered for removal on a signal; the leftovers of killed processes with the same
 * prefix are swept first. Remove it with `removeTemp`.
 */
export function makeTempDir(prefix: string): string {
  if (!/^[a-z][a-z0-9-]*$/.test(prefix)) throw new Error(`makeTempDir: prefix '${prefix}' must be lower-case letters, digits and dashes`);
  sweepStale(tmpdir(), new RegExp(`^${prefix}-(\\d+)-[A-Za-z0-9]{6}$`));
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), `${prefix}-${process.pid}-`));
  } catch (e) {
    // TMPDIR at a file (ENOTDIR), unwritable or full: the environment's doing, not a bug.
    fail('E506', `cannot create a temporary directory in ${tmpdir()}: ${osReason(e, 'directory')}`, undefined, 'set TMPDIR to a writable directory');
  }
  trackTemp(dir);
  return dir;
}

/** Removes a temporary path made by `makeTempDir` (or tracked) and unregisters it. */
export function removeTemp(path: string): void {
  rmSync(path, { recursive: true, force: true });
  untrack(path);
}

/**
 * The temporaries earlier versions of moec left beside an output NAME when killed:
 * `.NAME.PID.RANDOM.tmp` (safetensors, `moec quantize`) and `.NAME.tmp-PID` (other files).
 * Their names are less distinctive than today's, so they are swept only beside NAME itself.
 */
function earlierTemps(name: string): RegExp {
  const n = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\.${n}\\.(?:(\\d+)\\.[a-z0-9]{1,8}\\.tmp|tmp-(\\d+))$`);
}

/** A temporary name beside `path` for this process, which `sweepStale` recognises. */
export function tempBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.moec-${process.pid}-${Math.random().toString(36).slice(2, 8)}.tmp`);
}

// ---------------------------------------------------------------------------------------
// Writing.

function* chunksOf(data: OutputData): Iterable<Uint8Array> {
  if (typeof data === 'string') yield new TextEncoder().encode(data);
  else if (data instanceof Uint8Array) yield data;
  else yield* data;
}

/** Writes all of `bytes` at the file position; a non-blocking FIFO that is full is waited for. */
function writeAll(fd: number, bytes: Uint8Array): void {
  const CHUNK = 1 << 24;
  for (let done = 0; done < bytes.length; ) {
    try {
      done += writeSync(fd, bytes, done, Math.min(bytes.length - done, CHUNK));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
}

/** Where the bytes for `path` go: a stream to open (character device, FIFO), or a regular file (its real path). */
function destination(path: string): { stream: true } | { stream: false; file: string; mode?: number } {
  const { real, stat } = locate(path);
  if (stat) {
    if (stat.isCharacterDevice() || stat.isFIFO()) return { stream: true };
    if (stat.isDirectory()) fail('E506', `cannot write ${path}: it is a directory`, undefined, 'name a file');
    if (!stat.isFile()) fail('E506', `cannot write ${path}: it is a ${stat.isBlockDevice() ? 'block device' : 'socket'}`, undefined, 'moec writes regular files, character devices (/dev/null) and FIFOs');
    return { stream: false, file: real, mode: stat.mode & 0o7777 };
  }
  const parent = dirname(real);
  let p: Stats | undefined;
  try {
    p = statSync(parent);
  } catch {
    // reported below
  }
  if (!p?.isDirectory()) fail('E506', `cannot write ${path}: no such directory ${dirname(resolve(path))}`, undefined, 'create it first');
  return { stream: false, file: real };
}

/**
 * The steps of writing one output; `yield` marks a point between chunks where the async
 * writer lets the event loop run (and with it a signal's handler). One body for both writers.
 */
function* writeSteps(path: string, data: OutputData): Generator<void, void, void> {
  const dest = destination(path);
  if (dest.stream) {
    let fd: number;
    // Writing may block on a reader that stalls: let ^C end moec then (nothing to remove).
    if (live.size === 0) listen(false);
    try {
      // Non-blocking, so a FIFO without a reader is ENXIO instead of a hang.
      fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return fail('E506', `cannot write ${path}: ${code === 'ENXIO' ? 'no process is reading the FIFO' : osReason(e, 'directory')}`, undefined, code === 'ENXIO' ? 'start the reader first' : undefined);
    }
    try {
      for (const c of chunksOf(data)) {
        writeAll(fd, c);
        yield;
      }
    } catch (e) {
      if (e instanceof MoecError) throw e;
      fail('E506', `cannot write ${path}: ${osReason(e, 'directory')}`);
    } finally {
      closeSync(fd);
    }
    return;
  }
  yield* writeRegular(path, dest, function* (fd) {
    for (const c of chunksOf(data)) {
      writeAll(fd, c);
      yield;
    }
  });
}

/**
 * Makes the regular file `dest.file` (`path` as given, for messages): `body(fd)` writes a
 * temporary beside it, which is renamed into place when complete (removed on an error or a
 * signal), keeping the mode the old file had.
 */
function* writeRegular(path: string, dest: { file: string; mode?: number }, body: (fd: number) => Generator<void, void, void>): Generator<void, void, void> {
  const dir = dirname(dest.file);
  sweepStale(dir);
  sweepStale(dir, earlierTemps(basename(dest.file)));
  const tmp = tempBeside(dest.file);
  const release = trackTemp(tmp);
  let created = false;
  try {
    const fd = openSync(tmp, 'wx');
    created = true;
    try {
      if (dest.mode !== undefined) fchmodSync(fd, dest.mode);
      yield* body(fd);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, dest.file);
    created = false;
  } catch (e) {
    if (e instanceof MoecError) throw e;
    if (e instanceof FillFailed) throw e.cause;
    fail('E506', `cannot write ${path}: ${osReason(e, 'directory')}`, undefined, 'check that the directory exists and is writable');
  } finally {
    if (created) rmSync(tmp, { force: true });
    release();
  }
}

/** An error of a `FillAt` itself (not of writing): passed on as it is, never reported as a write failure. */
class FillFailed {
  constructor(readonly cause: unknown) {}
}

/** Writes all of `bytes` at byte `position` of a regular file. */
function writeAllAt(fd: number, bytes: Uint8Array, position: number): void {
  const CHUNK = 1 << 24;
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, CHUNK), position + done);
}

/**
 * Fills a new file: `fill` puts bytes at positions, in any order, and returns the file's
 * size (bytes never put are zero, holes where the file system allows).
 */
function fillFile(fd: number, fill: FillAt, path: string): void {
  let size: number;
  try {
    size = fill((at, bytes) => {
      try {
        writeAllAt(fd, bytes, at);
      } catch (e) {
        fail('E506', `cannot write ${path}: ${osReason(e, 'directory')}`, undefined, 'check that the disk has room for it and is writable');
      }
    });
  } catch (e) {
    throw e instanceof MoecError ? e : new FillFailed(e);
  }
  ftruncateSync(fd, size);
}

/**
 * Makes the new file `path` (one of moec's own, in its temporary directory: no rename, no
 * fsync) by `fill`, as `writeOutputFileAt` does: E506 if it cannot be written.
 */
export function fillNewFile(path: string, fill: FillAt): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    return fail('E506', `cannot write ${path}: ${osReason(e, 'directory')}`, undefined, 'free space in the temporary directory, or point TMPDIR at another one');
  }
  try {
    fillFile(fd, fill, path);
  } catch (e) {
    throw e instanceof FillFailed ? e.cause : e;
  } finally {
    closeSync(fd);
  }
}

/** An output made by putting bytes at positions (`moec pack`'s blob, region by region): returns its size. */
export type FillAt = (write: (at: number, bytes: Uint8Array) => void) => number;

/**
 * Writes one output whose bytes come in any order (`fill`, see `FillAt`), as it fills, so it
 * is never held in memory: atomic for a regular file, as `writeOutputFile`; a device or FIFO
 * takes bytes in order, so for one the file is made in a temporary directory first, then copied.
 */
export function writeOutputFileAt(path: string, fill: FillAt): void {
  const dest = destination(path);
  if (!dest.stream) {
    const steps = writeRegular(path, dest, function* (fd) {
      fillFile(fd, fill, path);
    });
    while (!steps.next().done);
    return;
  }
  const dir = makeTempDir('moec-out');
  try {
    const file = join(dir, 'out');
    fillNewFile(file, fill);
    writeOutputFile(path, fileChunks(file));
  } finally {
    removeTemp(dir);
  }
}

/** A file's bytes, a chunk at a time. */
function* fileChunks(file: string): Generator<Uint8Array> {
  const fd = openSync(file, 'r');
  try {
    const buf = new Uint8Array(1 << 24);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) yield buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes the file `path` by a program that writes a path it is given (a C compiler's `-o`):
 * `make(tmp)` writes a temporary beside `path` and returns undefined, or why it failed. On
 * success the temporary is renamed into place; on failure, an exception or a signal it is
 * removed. Returns why it failed, or undefined.
 */
export function makeFileVia(path: string, make: (tmp: string) => string | undefined): string | undefined {
  sweepStale(dirname(path));
  const tmp = tempBeside(path);
  const release = trackTemp(tmp);
  try {
    const why = make(tmp);
    if (why === undefined) renameSync(tmp, path);
    return why;
  } finally {
    rmSync(tmp, { force: true });
    release();
  }
}

/** Writes one output file (see the file comment: atomic for a regular file, opened for a device or FIFO). */
export function writeOutputFile(path: string, data: OutputData): void {
  const steps = writeSteps(path, data);
  while (!steps.next().done);
}

/**
 * Lets the event loop run once. Node runs a signal's listener only from the event loop, so
 * long synchronous work calls this between its steps for ^C or SIGTERM to be handled then
 * (temporaries removed, the process ended) rather than after all of it.
 */
export function letSignalsIn(): Promise<void> {
  return new Promise<void>((r) => setImmediate(r));
}

/** `writeOutputFile` for long writes: a signal is handled within one chunk, not at the end. */
export async function writeOutputFileAsync(path: string, data: OutputData): Promise<void> {
  const steps = writeSteps(path, data);
  while (!steps.next().done) await letSignalsIn();
}

/**
 * Writes `files` (name → text or bytes, in order) into the directory `dir`, creating it if
 * needed; other files in it are left as they are. Returns the paths written, for messages.
 */
export function writeOutputDir(dir: string, files: Record<string, OutputData>): string {
  const { stat } = locate(dir);
  if (stat && !stat.isDirectory()) fail('E506', `cannot write ${dir}: it exists and is not a directory`, undefined, 'name a directory');
  if (!stat) {
    try {
      mkdirSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      fail('E506', `cannot write ${dir}: ${code === 'ENOENT' ? `no such directory ${dirname(resolve(dir))}` : osReason(e, 'directory')}`, undefined, code === 'ENOENT' ? 'create it first' : undefined);
    }
  }
  for (const [name, data] of Object.entries(files)) writeOutputFile(join(dir, name), data);
  return Object.keys(files)
    .map((f) => join(dir, f))
    .join(', ');
}
