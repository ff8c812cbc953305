/**
 * @fileoverview `npm run fuzz`: the long fuzzing campaign, outside the test suite.
 *
 *     npm run fuzz -- [--runs N] [--seed S] [--kind moe,target,...] [--stall-s 300]
 *
 * Each kind runs in a child process (so a hang is caught: a child that reports no progress
 * for `--stall-s` seconds is killed and reported with its seed and case number). Default:
 * 100,000 cases per kind, a seed from the clock (printed, so a run can be replayed). Prints
 * progress on a terminal, nothing but the summary when piped; exits 1 if any kind failed.
 * A failure prints fast-check's counterexample with its seed and path: replay it with
 * `fc.assert(prop, { seed, path })`, or rerun the kind with `--seed S --runs N`.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { KIND_NAMES, type KindName, cleanupScratch, kindByName, makeScratch } from './kinds.ts';

const PROGRESS_EVERY = 100;

/** In the child: runs one kind and prints `progress N` lines, then one `result {json}` line. */
async function worker(name: KindName, seed: number, runs: number): Promise<void> {
  const scratch = makeScratch();
  const kind = kindByName(name, scratch);
  await kind.prepare?.();
  let ran = 0;
  let ok = 0;
  let lastReport = Date.now();
  const t0 = performance.now();
  const details = await fc.check(
    fc.asyncProperty(kind.arbitrary, async (input) => {
      const o = await kind.check(input);
      if (o.ok) ok++;
      // Every PROGRESS_EVERY cases, and at least once a second for kinds whose cases are slow (so the watchdog sees them alive).
      if (++ran % PROGRESS_EVERY === 0 || Date.now() - lastReport > 1000) {
        lastReport = Date.now();
        process.stdout.write(`progress ${ran}\n`);
      }
    }),
    { seed, numRuns: runs },
  );
  cleanupScratch(scratch);
  const result = {
    kind: name,
    seed,
    cases: details.numRuns,
    accepted: ok,
    seconds: (performance.now() - t0) / 1000,
    failed: details.failed,
    counterexample: details.failed ? JSON.stringify(details.counterexample)?.slice(0, 4000) : undefined,
    path: details.counterexamplePath,
    error: details.failed ? String((details.errorInstance as Error)?.message ?? details.errorInstance).slice(0, 4000) : undefined,
  };
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
}

interface Result {
  kind: string;
  seed: number;
  cases: number;
  accepted?: number;
  seconds?: number;
  failed: boolean;
  counterexample?: string;
  path?: string | null;
  error?: string;
}

/** In the parent: runs one kind's child, watching for stalls. */
function runKind(name: KindName, seed: number, runs: number, stallMs: number, progress: (name: string, n: number) => void): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, '--worker', name, '--seed', String(seed), '--runs', String(runs)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let last = Date.now();
    let done = 0;
    let result: Result | undefined;
    let buf = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('progress ')) {
          done = Number(line.slice(9));
          last = Date.now();
          progress(name, done);
        } else if (line.startsWith('result ')) result = JSON.parse(line.slice(7)) as Result;
      }
    });
    const watch = setInterval(() => {
      if (Date.now() - last > stallMs) {
        clearInterval(watch);
        child.kill('SIGKILL');
        resolve({ kind: name, seed, cases: done, failed: true, error: `no progress for ${stallMs / 1000} s after case ${done}: a hang (replay with --kind ${name} --seed ${seed} --runs ${done + PROGRESS_EVERY})` });
      }
    }, 1000);
    child.on('exit', (code, signal) => {
      clearInterval(watch);
      resolve(result ?? { kind: name, seed, cases: done, failed: true, error: `the worker exited with ${signal ?? `code ${code}`} after about ${done} cases (out of memory?)` });
    });
  });
}

async function campaign(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '100000' },
      seed: { type: 'string' },
      kind: { type: 'string' },
      'stall-s': { type: 'string', default: '300' },
      worker: { type: 'string' },
    },
  });
  const runs = Number(values.runs);
  const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
  if (values.worker) {
    await worker(values.worker as KindName, seed, runs);
    return 0;
  }
  const kinds = (values.kind?.split(',') ?? [...KIND_NAMES]) as KindName[];
  for (const k of kinds) if (!KIND_NAMES.includes(k)) throw new Error(`unknown kind ${k}; kinds: ${KIND_NAMES.join(', ')}`);
  const tty = process.stdout.isTTY === true;
  console.log(`moec fuzz: ${runs} cases per kind, seed ${seed}, kinds ${kinds.join(', ')}`);
  const progress = (name: string, n: number): void => {
    if (tty) process.stdout.write(`\r  ${name}: ${n} / ${runs}`);
  };
  let failures = 0;
  for (const k of kinds) {
    const r = await runKind(k, seed, runs, Number(values['stall-s']) * 1000, progress);
    if (tty) process.stdout.write('\r\x1b[K');
    const rate = r.seconds ? ` in ${r.seconds.toFixed(0)} s` : '';
    const acc = r.accepted !== undefined ? `, ${r.accepted} accepted` : '';
    console.log(`${k}: ${r.cases} cases${acc}${rate}: ${r.failed ? 'FAILED' : 'ok'} (seed ${r.seed})`);
    if (r.failed) {
      failures++;
      console.log(`  ${r.error}`);
      if (r.counterexample) console.log(`  counterexample: ${r.counterexample}\n  replay: seed ${r.seed}, path "${r.path}"`);
    }
  }
  console.log(failures === 0 ? 'no failures' : `${failures} kind(s) failed`);
  return failures === 0 ? 0 : 1;
}

process.exitCode = await campaign();
