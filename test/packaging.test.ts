/**
 * What a user of the package gets: the LICENSE that package.json names, package.json itself
 * importable, and `webgpu` (Dawn) as an optional dependency: without it a WGSL run in Node says what to
 * install (E507), instead of Node's module-resolution error or a moec internal error.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importDawn } from '../compiler/backends/wgsl/dawn.ts';
import pkg from '../package.json' with { type: 'json' };
import { errorOf } from './capture.ts';

/**
 * Node's own failure to import `webgpu` from a folder with no node_modules above it, as in a
 * project installed with --omit=optional (taken from a child Node: vitest's import() resolves
 * bare names from this project's root).
 */
function importFromNowhere(): Promise<never> {
  const dir = mkdtempSync(join(tmpdir(), 'moec-nodawn-'));
  const probe = "import('webgpu').then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })))";
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: dir, encoding: 'utf8' });
  const { code, message } = JSON.parse(r.stdout) as { code?: string; message?: string };
  if (code === undefined) throw new Error(`webgpu resolved from ${dir}: the simulation needs a folder without it`);
  return Promise.reject(Object.assign(new Error(message), { code }));
}

describe('the package', () => {
  it('LICENSE is the full Apache License 2.0 that package.json names', () => {
    expect(pkg.license).toBe('Apache-2.0');
    const text = readFileSync('LICENSE', 'utf8');
    expect(text).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(text).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(text).toContain('END OF TERMS AND CONDITIONS');
  });

  it('exports ./package.json (tools read the version through it)', () => {
    // Node's own resolution of the package by its name, from inside it (self-reference).
    const probe = "import('moec/package.json', { with: { type: 'json' } }).then((m) => console.log(m.default.version))";
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(pkg.version);
  });
});

describe('webgpu is optional', () => {
  it('package.json lists webgpu as optional, not as a dependency', () => {
    expect(pkg.optionalDependencies).toHaveProperty('webgpu');
    expect(pkg.dependencies).not.toHaveProperty('webgpu');
  });

  it('a missing webgpu package is E507 naming the package and how to install it', async () => {
    const e = await importDawn(importFromNowhere).then(
      () => undefined,
      (err: unknown) => err,
    );
    const moec = errorOf(() => {
      throw e;
    });
    expect(moec.diagnostics[0].code).toBe('E507');
    const text = moec.format();
    expect(text).toContain('the WGSL backend needs the `webgpu` package');
    expect(text).toContain('npm install webgpu');
    expect(text).toContain('C and Wasm backends run without it');
  });

  it('any other failure to load Dawn goes on as it was (not reported as a missing package)', async () => {
    const dlopen = Object.assign(new Error('libdawn.so: cannot open shared object file'), { code: 'ERR_DLOPEN_FAILED' });
    await expect(importDawn(() => Promise.reject(dlopen))).rejects.toBe(dlopen);
  });

  it('an installed webgpu loads through the same path', async () => {
    const m = await importDawn();
    expect(typeof m.create).toBe('function');
  });
});
