/**
 * @fileoverview The benchmark's native limits program (bench/native/limits.c) measures what
 * it claims: its FMA loop really runs twelve independent chains after the compiler is done
 * with it, and the cached binary is rebuilt when the source changes.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { arch } from 'node:os';
import { describe, expect, it } from 'vitest';
import { limitsExeName, nativeCompiler } from '../bench/native.ts';

const SOURCE = new URL('../bench/native/limits.c', import.meta.url);
const cc = nativeCompiler();
const x86 = arch() === 'x64';

/** FMA instructions on registers only (the FMA loop's; the triad's take a memory operand) in the assembly of limits.c built with `flags`. */
function registerFmas(flags: string[]): number {
  const r = spawnSync(cc!.cc, ['-O3', '-std=c11', ...flags, '-S', '-o', '-', SOURCE.pathname], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => /vfmadd\d+ps\s+%([yz])mm\d+, %\1mm\d+, %\1mm\d+/.test(l)).length;
}

describe.skipIf(!cc || !x86)('native limits: the FMA peak', () => {
  // Twelve chains that started from one value computed the same numbers, and gcc -O3 kept one
  // FMA an iteration: the reported peak was twelve times what ran (694 GFLOP/s on 2 Zen 4
  // cores whose peak is ~235); clang computed the whole loop at compile time.
  it('fma loop is not folded into one chain (AVX2 and AVX-512 builds keep at least 12 FMAs)', () => {
    expect(registerFmas(['-mavx2', '-mfma'])).toBeGreaterThanOrEqual(12);
    expect(registerFmas(['-mavx512f', '-mavx2', '-mfma'])).toBeGreaterThanOrEqual(12);
  });
});

describe('native limits: the cached program', () => {
  it('stale limits binary: the cached name changes with the source, the flags and the compiler', () => {
    const c = { version: 'cc 1', flags: ['-O3', '-mavx2'] };
    const src = readFileSync(SOURCE, 'utf8');
    const name = limitsExeName(c, src);
    expect(name).toMatch(/^limits-avx2-[0-9a-f]{12}$/);
    expect(limitsExeName(c, `${src}\n`)).not.toBe(name);
    expect(limitsExeName({ ...c, flags: ['-O2', '-mavx2'] }, src)).not.toBe(name);
    expect(limitsExeName({ ...c, version: 'cc 2' }, src)).not.toBe(name);
  });
});
