/**
 * @fileoverview Drives the NumPy peer (`numpy_moe.py`) through `python3`: one JSON request on
 * stdin, one JSON reply on stdout, per call. Python or NumPy missing makes the peer
 * unavailable with a reason, never an error of the whole benchmark.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./numpy_moe.py', import.meta.url));

/** The interpreter to run; `MOEC_BENCH_PYTHON` overrides `python3`. */
const PYTHON = process.env.MOEC_BENCH_PYTHON ?? 'python3';

let probed: string | null | undefined;

/** Why the NumPy peer cannot run (no python3, no numpy), or null when it can. Probed once. */
export function numpyUnavailable(): string | null {
  if (probed !== undefined) return probed;
  const r = spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) probed = `${PYTHON} not found (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`;
  else if (r.status !== 0) probed = `${PYTHON} cannot import numpy: ${lastLine(r.stderr)}`;
  else probed = null;
  return probed;
}

/** Sends one request to numpy_moe.py and returns its JSON reply; throws with Python's last error line. */
export function callNumpy<T>(request: object, timeoutMs = 300_000): T {
  const r = spawnSync(PYTHON, [SCRIPT], { input: JSON.stringify(request), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`numpy peer: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`numpy peer exited with ${r.status ?? r.signal}: ${lastLine(r.stderr)}`);
  return JSON.parse(r.stdout) as T;
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}
