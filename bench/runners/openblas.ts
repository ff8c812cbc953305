/**
 * @fileoverview The OpenBLAS peer as a benchmark runner: `peers/openblas_moe.c` (a
 * straightforward C layer calling cblas_sgemm per active expert on gathered tokens, 2 BLAS
 * threads) on moec's own weights and inputs, timed by itself with caches flushed before
 * every run. At PEER_CHECK_TOKENS its output is checked against moec's reference
 * interpreter; a disagreement is that case's error. No roof of its own yet: the native
 * machine limits will bound it.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Agreement } from '../../compiler/compare.ts';
import { flushMiB, lastLine, layerSpec, parseTiming, planArgs, rawCaseDir } from '../peers/layer.ts';
import { OPENBLAS_THREADS, openblasPeer } from '../peers/openblas.ts';
import { PEER_CHECK_TOKENS, checkAgainstReference, describeChecks } from '../peers/reference.ts';
import type { Runner } from '../runner.ts';

const checks = new Map<string, Agreement | string>();

export const openblasRunner: Runner = {
  id: 'openblas',
  about: () => {
    const p = openblasPeer();
    if (typeof p === 'string') return `OpenBLAS peer: unavailable (${p})`;
    return `C + ${p.config.split(' ').slice(0, 2).join(' ')} cblas_sgemm per active expert on gathered tokens (bench/peers/openblas_moe.c, ${p.cc}, -O3 -march=native), core ${p.core} (${p.coreNote}), ${OPENBLAS_THREADS} threads, caches flushed (${flushMiB()} MiB) before each run; ${describeChecks(checks)}`;
  },
  roof: () => null,
  skip: (c) => {
    const p = openblasPeer();
    if (typeof p === 'string') return p;
    const spec = layerSpec(c);
    return typeof spec === 'string' ? spec : null;
  },
  measure: (c, plan) => {
    const p = openblasPeer();
    const spec = layerSpec(c);
    if (typeof p === 'string' || typeof spec === 'string') throw new Error('openblas: measure called on a skipped case');
    const dir = rawCaseDir(c, spec);
    const check = c.tokens === PEER_CHECK_TOKENS;
    const out = join(dir, `openblas-y-${c.tokens}.f32`);
    const sizes = [c.tokens, spec.D, spec.F, spec.E, spec.K, spec.renorm ? 1 : 0, spec.FS];
    const r = spawnSync(p.exe, [dir, ...sizes.map(String), ...planArgs(plan), ...(check ? [out] : [])], {
      encoding: 'utf8',
      env: { ...process.env, ...p.env, MOEC_BENCH_FLUSH_MIB: String(flushMiB()) },
      timeout: plan.maxTimeMs + 120_000,
    });
    if (r.error) throw new Error(`openblas peer: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`openblas peer exited with ${r.status ?? r.signal}: ${lastLine(r.stderr)}`);
    const timing = parseTiming(r.stdout, 'openblas peer');
    if (check) {
      try {
        checks.set(c.workload.name, checkAgainstReference(c, out, 'openblas'));
      } catch (e) {
        checks.set(c.workload.name, (e as Error).message);
        throw e;
      }
    }
    return timing;
  },
};
