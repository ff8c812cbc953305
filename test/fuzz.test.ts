/**
 * Bounded fuzzing in CI: every input kind of `test/fuzz/kinds.ts` for a fixed number of
 * cases from a fixed seed (a few seconds each). The property: moec accepts the input or
 * reports a MoecError/UsageError with its location, within the time bound, and never an
 * internal error. `npm run fuzz` runs the long campaign (see test/fuzz/campaign.ts).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { KIND_NAMES, cleanupScratch, deepRuns, kindByName, makeScratch } from './fuzz/kinds.ts';

/** Cases per kind in CI, and the fixed seed (the long campaign varies it). */
const RUNS: Record<string, number> = { moe: 400, target: 400, 'graph-ir': 400, 'kernel-ir': 300, safetensors: 1500, cli: 150 };
const SEED = 20261129;

describe('fuzzing (bounded, fixed seed)', () => {
  const scratch = makeScratch();
  afterAll(() => cleanupScratch(scratch));
  for (const name of KIND_NAMES) {
    it(`${name}: accepted or a located diagnostic, never an internal error or a hang`, async () => {
      const kind = kindByName(name, scratch);
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
    });
  }
});
