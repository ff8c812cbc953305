/**
 * Tests that need a system package moec itself does not (clang, gcc by that name, Debian's
 * libopenblas-dev, Mesa's EGL/Vulkan drivers for a WebGPU adapter, python3 with numpy,
 * Debian's chromium for the browser test): `npm ci && npm test` must pass on a machine with
 * only Node and `cc`. Outside CI such a test skips, and says why in one line; under CI (`CI`
 * set, e.g. `CI=true`) it must run, so a missing package fails the test file instead of quietly dropping its tests.
 */
import { spawnSync } from 'node:child_process';

/** Whether this run is CI, where every optional package must be installed. */
export function inCI(): boolean {
  return ![undefined, '', '0', 'false'].includes(process.env.CI);
}

const runs = (cmd: string, args: string[]): string | null => {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error ? `\`${cmd}\` not found` : r.status !== 0 ? `\`${cmd} ${args.join(' ')}\` exited with ${r.status}` : null;
};

/** The packages a probe here can check (the others are probed by the code that uses them). */
const PROBES = {
  clang: () => runs('clang', ['--version']),
  gcc: () => runs('gcc', ['--version']),
  cc: () => runs('cc', ['--version']),
  'python3 numpy': () => runs('python3', ['-c', 'import numpy']),
  // Debian's chromium, for the browser test (test/browser.test.ts drives it with puppeteer-core)
  chromium: () => runs('/usr/bin/chromium', ['--version']),
  // Debian's openmpi-bin and libopenmpi-dev, for the multi-chip (--chips N) tests
  openmpi: () => runs('mpicc', ['--version']) ?? runs('mpirun', ['--version']),
} satisfies Record<string, () => string | null>;

const probed = new Map<string, string | null>();

/**
 * For `it.skipIf` / `describe.skipIf`: true when `pkg` is missing (`missing` says why; null:
 * it is here) and this is not CI, after printing `skipping TESTS: PKG is missing (WHY)`.
 * Under CI a missing package throws, failing the file that needs it.
 */
export function skipUnless(pkg: string, missing: string | null, tests: string): boolean {
  if (missing === null) return false;
  if (inCI()) throw new Error(`CI is set, so ${tests} must run, but ${pkg} is missing: ${missing}`);
  console.warn(`skipping ${tests}: ${pkg} is missing (${missing}); with CI=true they run and fail`);
  return true;
}

/** `skipUnless` for a package probed here, once per test file. */
export function skipWithout(pkg: keyof typeof PROBES, tests: string): boolean {
  if (!probed.has(pkg)) probed.set(pkg, PROBES[pkg]());
  return skipUnless(pkg, probed.get(pkg)!, tests);
}
