/**
 * @fileoverview Atomic output directories: `-o DIR` is written into a fresh temporary
 * directory beside DIR and renamed into place, so an error or a kill half way leaves the
 * previous DIR intact and never a half-written one.
 *
 * A kill (SIGKILL, power loss) cannot clean up: it leaves the hidden temporary directory,
 * and a kill in the instant between the two renames leaves DIR's previous contents in
 * `.DIR.tmp-XXXXXX.old` and no DIR. The next write to DIR puts such contents back and removes
 * the leftovers before it starts (two moec runs writing one DIR at once are not supported:
 * one of them fails with E506, neither leaves a mixed DIR).
 */
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fail } from '../../ir/diagnostics.ts';

/** Writes `files` (name → text or bytes) as the directory `dir`, replacing it atomically; returns the paths written. */
export function writeOutputDir(dir: string, files: Record<string, string | Uint8Array>): string {
  const target = resolve(dir);
  const parent = dirname(target);
  if (!existsSync(parent)) fail('E506', `cannot write ${dir}: the directory ${parent} does not exist`, undefined, 'create it first');
  if (existsSync(target) && !statSync(target).isDirectory()) fail('E506', `cannot write ${dir}: it exists and is not a directory`);
  let tmp: string | undefined;
  let old: string | undefined;
  try {
    recoverKilledRun(parent, basename(target));
    tmp = mkdtempSync(join(parent, `.${basename(target)}.tmp-`));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(tmp, name), text);
    if (existsSync(target)) {
      old = `${tmp}.old`;
      renameSync(target, old);
    }
    renameSync(tmp, target);
    tmp = undefined;
    if (old) rmSync(old, { recursive: true, force: true });
  } catch (e) {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (old && !existsSync(target)) renameSync(old, target);
    fail('E506', `cannot write ${dir}: ${(e as Error).message}`);
  }
  return Object.keys(files)
    .map((f) => join(dir, f))
    .join(', ');
}

/** Writes one file atomically: a temporary file beside it, renamed into place. */
export function writeOutputFile(path: string, data: string | Uint8Array): void {
  const target = resolve(path);
  const parent = dirname(target);
  if (!existsSync(parent)) fail('E506', `cannot write ${path}: the directory ${parent} does not exist`, undefined, 'create it first');
  if (existsSync(target) && statSync(target).isDirectory()) fail('E506', `cannot write ${path}: it is a directory`);
  const tmp = join(parent, `.${basename(target)}.tmp-${process.pid}`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    fail('E506', `cannot write ${path}: ${(e as Error).message}`);
  }
}

/** Restores DIR from a killed run's `.DIR.tmp-*.old` if DIR is missing, and removes its other leftovers. */
function recoverKilledRun(parent: string, name: string): void {
  const prefix = `.${name}.tmp-`;
  const left = readdirSync(parent).filter((f) => f.startsWith(prefix));
  const target = join(parent, name);
  for (const f of left) {
    const path = join(parent, f);
    if (f.endsWith('.old') && !existsSync(target)) renameSync(path, target);
    else rmSync(path, { recursive: true, force: true });
  }
}
