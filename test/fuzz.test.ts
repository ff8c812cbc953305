/**
 * Bounded fuzzing in CI: every input kind of `test/fuzz/kinds.ts` for a fixed number of
 * cases from a fixed seed (a few seconds each). The property: moec accepts the input or
 * reports a MoecError/UsageError with its location, within the time bound, and never an
 * internal error or a hang; the file-system kinds also check that no file moec did not
 * create changed. `npm run fuzz` runs the long campaign (see test/fuzz/campaign.ts).
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CHILD_KINDS, KIND_NAMES, cleanupScratch, deepRuns, kindByName, makeScratch } from './fuzz/kinds.ts';
import { hfRuns } from './fuzz/kinds-bounds.ts';

/** Cases per kind in CI, and the fixed seed (the long campaign varies it). */
const RUNS: Record<string, number> = { moe: 400, target: 400, 'graph-ir': 400, 'kernel-ir': 300, safetensors: 1500, cli: 150, 'hf-config': 400, bounds: 60, outputs: 150, 'special-inputs': 150 };
const SEED = 20261129;

describe('fuzzing (bounded, fixed seed)', () => {
  const scratch = makeScratch();
  afterAll(() => cleanupScratch(scratch));
  for (const name of KIND_NAMES.filter((k) => !CHILD_KINDS.includes(k))) {
    it(`${name}: accepted or a located diagnostic, never an internal error or a hang`, async () => {
      const kind = kindByName(name, scratch);
      await kind.prepare?.();
      const seen = { ok: 0, refused: 0 };
      await fc.assert(
        fc.asyncProperty(kind.arbitrary, async (input) => {
          const o = await kind.check(input);
          seen[o.ok ? 'ok' : 'refused']++;
        }),
        { seed: SEED, numRuns: RUNS[name] },
      );
      // Both sides of the property are exercised: some inputs get through, most are refused.
      expect(seen.refused).toBeGreaterThan(0);
      expect(seen.ok).toBeGreaterThan(0);
      if (name in deepRuns) expect(deepRuns[name], 'some accepted inputs reach the pipeline or an interpreter').toBeGreaterThan(0);
      if (name === 'hf-config') expect(hfRuns.count, 'some accepted tiny configs run through the interpreter').toBeGreaterThan(0);
    }, 300_000);
  }
  // FIFOs can block a process for good if a defect comes back: these kinds run in a child under the campaign's watchdog.
  for (const name of CHILD_KINDS) {
    it(`${name}: refused or written safely, every other file intact, never a hang (in a child process)`, () => {
      const campaign = new URL('./fuzz/campaign.ts', import.meta.url).pathname;
      const r = spawnSync(process.execPath, ['--import', 'tsx', campaign, '--kind', name, '--runs', String(RUNS[name]), '--seed', String(SEED), '--stall-s', '60'], { encoding: 'utf8', timeout: 280_000 });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`${name}: ${RUNS[name]} cases`);
    }, 300_000);
  }
});
