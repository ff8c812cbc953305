/**
 * @fileoverview Opening a user's file for reading: the one way every reader does it (`.moe`
 * files, target YAML, config.json, checkpoint indexes, safetensors files and their shards).
 *
 * Only a regular file is read. A FIFO would block the open, or the read, forever; a device
 * such as /dev/zero never ends; a directory or a socket cannot be read as a file. Each is a
 * MoecError E501 that says what the path is, as is a symlink loop or a dangling symlink. The
 * type is checked before opening (so a device is never opened, with whatever that does), and
 * again on the open descriptor: the open is non-blocking, so a path swapped for a FIFO in
 * between cannot hang moec either.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, readlinkSync, type Stats, statSync } from 'node:fs';
import { fail } from './diagnostics.ts';

/** How the messages name a file and what they add (`cannot read shard a.safetensors: ...`). */
export interface FileRole {
  /** What to call the file (default: its path), e.g. "target file `x.yaml`". */
  label?: string;
  /** Said after the reason in parentheses, e.g. which index needs this shard. */
  detail?: string;
  /** The hint when the file does not exist (default: check the path). */
  missingHint?: string;
}

/**
 * The largest text file moec reads (a `.moe`, YAML, config.json or index): real ones are
 * kilobytes (an index of 100k tensors is ~10 MB), and a string cannot hold much more than
 * half a gigabyte, so a bigger one is refused before it is read.
 */
export const MAX_TEXT_BYTES = 64 * 1024 * 1024;

// O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer.
// (Windows has no such flag, and no FIFOs that `open` would block on.)
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** Opens a regular file for reading, with its size; E501 saying why for anything else. */
export function openUserFile(path: string, role: FileRole = {}): { fd: number; size: number } {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    return cannotRead(path, role, err);
  }
  if (!st.isFile()) notRegular(path, role, st);
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    return cannotRead(path, role, err);
  }
  try {
    const now = fstatSync(fd);
    if (!now.isFile()) notRegular(path, role, now);
    return { fd, size: now.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Reads a regular file as UTF-8 text (at most `maxBytes`, default `MAX_TEXT_BYTES`); E501 otherwise. */
export function readUserText(path: string, role: FileRole & { maxBytes?: number } = {}): string {
  const max = role.maxBytes ?? MAX_TEXT_BYTES;
  const { fd, size } = openUserFile(path, role);
  try {
    const tooBig = (n: number): never =>
      fail('E501', `cannot read ${role.label ?? path}: it is ${n} bytes, more than the ${max} bytes moec reads from a text file`, undefined, 'is this the right file? moec reads .moe, YAML and JSON files of at most a few megabytes');
    if (size > max) tooBig(size);
    // Read to the end rather than trusting the size: files in /proc report 0 bytes.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // One byte past what is expected (or past the limit), so the end or an overrun shows.
      const chunk = Buffer.allocUnsafe(Math.min(Math.max(size - total + 1, 64 * 1024), max - total + 1));
      const n = readOrFail(path, role, () => readSync(fd, chunk, 0, chunk.length, null));
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > max) tooBig(total);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Runs a read call, turning an OS error into E501 naming the file (anything else goes on as it is). */
export function readOrFail<T>(path: string, role: FileRole, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (!isOsError(err)) throw err;
    return cannotRead(path, role, err);
  }
}

/** An error from the operating system (it carries an errno code such as ENOENT), not from moec or V8. */
export function isOsError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).errno === 'number' && typeof (err as NodeJS.ErrnoException).code === 'string';
}

function cannotRead(path: string, role: FileRole, err: unknown): never {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'ENOENT' ? (danglingLink(path) ?? 'no such file') : osReason(err, 'file');
  const hint =
    code === 'ENOENT' ? (role.missingHint ?? 'check the path') :
    code === 'ELOOP' ? 'a symlink on the path points back at itself, directly or through others; fix the link' :
    code === 'EACCES' || code === 'EPERM' ? 'check the permissions of the file and of its directories' :
    'check the path and that the file is readable';
  return fail('E501', `cannot read ${role.label ?? path}: ${reason}${role.detail ? ` (${role.detail})` : ''}`, undefined, hint);
}

function notRegular(path: string, role: FileRole, st: Stats): never {
  const kind = st.isDirectory() ? 'a directory'
    : st.isFIFO() ? 'a FIFO (named pipe)'
    : st.isCharacterDevice() ? 'a character device'
    : st.isBlockDevice() ? 'a block device'
    : st.isSocket() ? 'a socket'
    : 'not a regular file';
  const hint = st.isDirectory()
    ? 'give the path of a file in it'
    : 'moec reads only regular files (a pipe would wait for a writer, a device may never end): save the data to a file and give its path';
  return fail('E501', `cannot read ${role.label ?? path}: it is ${kind}, not a regular file${role.detail ? ` (${role.detail})` : ''}`, undefined, hint);
}

/** "it is a symlink to X, which does not exist", when the path itself is a dangling symlink. */
function danglingLink(path: string): string | undefined {
  try {
    if (lstatSync(path).isSymbolicLink()) return `it is a symlink to ${readlinkSync(path)}, which does not exist`;
  } catch {
    // The path itself is missing (or unreadable): the plain reason says so.
  }
  return undefined;
}

/** A short OS reason for a failed file operation ("no such file", "permission denied"). */
export function osReason(err: unknown, missing: 'file' | 'directory'): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return `no such ${missing}`;
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a parent of the path is not a directory';
    case 'ELOOP':
      return 'it is a symlink loop (too many levels of symbolic links)';
    case 'ENAMETOOLONG':
      return 'the path is too long';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EROFS':
      return 'read-only file system';
    case 'EPIPE':
      return 'the reading process closed the pipe';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}
