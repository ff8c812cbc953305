/**
 * @fileoverview The onnxruntime peer as a benchmark runner: onnxruntime-node's CPU session
 * running the layer with its own fused `com.microsoft` MoE operator (`peers/onnx-moe.ts`,
 * 2 intra-op threads), in a child process (`peers/onnxruntime_moe.ts`: `session.run` is
 * asynchronous) that times itself with the caches flushed before every run, on moec's own
 * weights and inputs. At PEER_CHECK_TOKENS its output is checked against moec's reference
 * interpreter; a disagreement, or the operator rejecting the model, is that case's error.
 */
import { nativeRoof } from '../native.ts';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Agreement } from '../../compiler/compare.ts';
import { PEER_THREADS, flushMiB, layerSpec } from '../peers/layer.ts';
import { type PeerCommand, lastLine, measureNative } from '../peers/measure.ts';
import { describeChecks } from '../peers/reference.ts';
import type { Runner } from '../runner.ts';

const SCRIPT = fileURLToPath(new URL('../peers/onnxruntime_moe.ts', import.meta.url));

/** node with tsx's loader, so the child runs TypeScript like the harness. */
function childArgs(): string[] {
  return ['--import', import.meta.resolve('tsx'), SCRIPT];
}

const checks = new Map<string, Agreement | string>();
let probed: { version: string } | string | undefined;

/** onnxruntime-node's version, or why it does not load. Probed once. */
function onnxruntime(): { version: string } | string {
  if (probed !== undefined) return probed;
  const r = spawnSync(process.execPath, [...childArgs(), '--info'], { encoding: 'utf8', timeout: 120_000 });
  if (r.error || r.status !== 0) probed = `onnxruntime-node does not load (npm install --ignore-scripts): ${lastLine(r.stderr || String(r.error))}`;
  else probed = { version: r.stdout.match(/^version (\S+)/m)?.[1] ?? 'unknown' };
  return probed;
}

/** How to run the peer (node with tsx on onnxruntime_moe.ts). */
export function onnxruntimeCommand(): PeerCommand {
  return { who: 'onnxruntime', command: process.execPath, args: childArgs(), env: {} };
}

export const onnxruntimeRunner: Runner = {
  id: 'onnxruntime',
  about: () => {
    const o = onnxruntime();
    if (typeof o === 'string') return `onnxruntime peer: unavailable (${o})`;
    return `onnxruntime-node ${o.version}, CPU execution provider, com.microsoft MoE operator (SwiGLU interleaved, swiglu_fusion=1) + MatMul router and shared MLP, ${PEER_THREADS} intra-op threads, caches flushed (${flushMiB()} MiB) before each run; ${describeChecks(checks)}`;
  },
  roof: nativeRoof,
  // What the layer needs first: it does not depend on this machine, onnxruntime loading does.
  skip: (c) => {
    const spec = layerSpec(c);
    if (typeof spec === 'string') return spec;
    const o = onnxruntime();
    return typeof o === 'string' ? o : null;
  },
  measure: (c, plan) => {
    const spec = layerSpec(c);
    if (typeof spec === 'string') throw new Error('onnxruntime: measure called on a case it skips');
    return measureNative(onnxruntimeCommand(), c, spec, plan, checks);
  },
};
