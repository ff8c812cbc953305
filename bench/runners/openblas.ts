/**
 * @fileoverview The OpenBLAS peer as a benchmark runner: `peers/openblas_moe.c` (a
 * straightforward C layer calling cblas_sgemm per active expert on gathered tokens, 2 BLAS
 * threads) on moec's own weights and inputs, timed by itself with the caches flushed before
 * every run. At PEER_CHECK_TOKENS its output is checked against moec's reference
 * interpreter; a disagreement is that case's error. Judged against the native limits (C FMA
 * loop, STREAM triad), like the C backend.
 */
import { nativeRoof } from '../native.ts';
import type { Agreement } from '../../compiler/compare.ts';
import { PEER_THREADS, flushMiB, layerSpec } from '../peers/layer.ts';
import { type PeerCommand, measureNative } from '../peers/measure.ts';
import { openblasPeer } from '../peers/openblas.ts';
import { describeChecks } from '../peers/reference.ts';
import type { Runner } from '../runner.ts';

const checks = new Map<string, Agreement | string>();

/** How to run the peer, or why it cannot run. */
export function openblasCommand(): PeerCommand | string {
  const p = openblasPeer();
  return typeof p === 'string' ? p : { who: 'openblas', command: p.exe, args: [], env: p.env };
}

export const openblasRunner: Runner = {
  id: 'openblas',
  about: () => {
    const p = openblasPeer();
    if (typeof p === 'string') return `OpenBLAS peer: unavailable (${p})`;
    return `C + ${p.config.split(' ').slice(0, 2).join(' ')} cblas_sgemm per active expert on gathered tokens (bench/peers/openblas_moe.c, ${p.cc}, -O3 -march=native), core ${p.core} (${p.coreNote}), ${PEER_THREADS} threads, caches flushed (${flushMiB()} MiB) before each run; ${describeChecks(checks)}`;
  },
  roof: nativeRoof,
  // What the layer needs first: it does not depend on this machine, OpenBLAS being here does.
  skip: (c) => {
    const spec = layerSpec(c);
    if (typeof spec === 'string') return spec;
    const p = openblasPeer();
    return typeof p === 'string' ? p : null;
  },
  measure: (c, plan) => {
    const p = openblasCommand();
    const spec = layerSpec(c);
    if (typeof p === 'string' || typeof spec === 'string') throw new Error('openblas: measure called on a case it skips');
    return measureNative(p, c, spec, plan, checks);
  },
};
