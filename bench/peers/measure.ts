/**
 * @fileoverview Runs one native peer's child process on one case and reads its timing: the
 * same command line for both (`DIR T D F E K RENORM FS` + the sampling plan + an output file
 * at the check's token count), the same `warmup_ms` / `samples_ms` lines back, and the
 * output checked against moec's reference interpreter at PEER_CHECK_TOKENS.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Agreement } from '../../compiler/compare.ts';
import type { BenchCase } from '../runner.ts';
import { type SamplePlan, type Timing, summarize } from '../stats.ts';
import { type LayerSpec, flushMiB, rawCaseDir } from './layer.ts';
import { PEER_CHECK_TOKENS, checkAgainstReference } from './reference.ts';

export interface PeerCommand {
  /** Short name for messages and output files: `openblas`. */
  who: string;
  /** The program and the arguments before the case's. */
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * Times case `c` on a peer; at the check's token count (`checkAt`) also checks its output,
 * recording the agreement (or the failure) in `checks` by workload, and throws on a
 * disagreement.
 */
export function measureNative(
  peer: PeerCommand,
  c: BenchCase,
  spec: LayerSpec,
  plan: SamplePlan,
  checks: Map<string, Agreement | string>,
  checkAt = PEER_CHECK_TOKENS,
): Timing {
  const dir = rawCaseDir(c, spec);
  const check = c.tokens === checkAt;
  const out = join(dir, `${peer.who}-y-${c.tokens}.f32`);
  const sizes = [c.tokens, spec.D, spec.F, spec.E, spec.K, spec.renorm ? 1 : 0, spec.FS].map(String);
  const r = spawnSync(peer.command, [...peer.args, dir, ...sizes, ...planArgs(plan), ...(check ? [out] : [])], {
    encoding: 'utf8',
    env: { ...process.env, ...peer.env, MOEC_BENCH_FLUSH_MIB: String(flushMiB()) },
    // Loading the weights and the flush buffer comes on top of the plan's time.
    timeout: plan.maxTimeMs + 180_000,
    maxBuffer: 16 << 20,
  });
  if (r.error) throw new Error(`${peer.who} peer: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${peer.who} peer exited with ${r.status ?? r.signal}: ${lastLine(r.stderr)}`);
  const timing = parseTiming(r.stdout, `${peer.who} peer`);
  if (check) {
    try {
      checks.set(c.workload.name, checkAgainstReference(c, out, peer.who));
    } catch (e) {
      checks.set(c.workload.name, (e as Error).message);
      throw e;
    }
  }
  return timing;
}

/** The plan as the peers' four arguments: min samples, min ms, max ms, max samples. */
export function planArgs(plan: SamplePlan): string[] {
  return [plan.minSamples, plan.minTimeMs, plan.maxTimeMs, plan.maxSamples].map(String);
}

/** Reads a peer's `warmup_ms W` and `samples_ms S1 S2 ...` lines. */
export function parseTiming(stdout: string, who: string): Timing {
  const line = (key: string): number[] | undefined =>
    stdout.split('\n').find((l) => l.startsWith(key + ' ') || l === key)?.split(' ').slice(1).map(Number);
  const warmup = line('warmup_ms');
  const samples = line('samples_ms');
  if (!warmup || !samples || samples.length === 0 || samples.some((s) => !Number.isFinite(s)))
    throw new Error(`${who}: no timing in its output: ${stdout.slice(0, 200)}`);
  return summarize(samples, warmup[0]);
}

/** The last non-empty line of a child's stderr, for error messages. */
export function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}
