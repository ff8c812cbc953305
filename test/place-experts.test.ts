/**
 * Expert placement (compiler/passes/place-experts.ts): every expert on some rank, slot limits
 * kept, no rank holding an expert twice, and redundant copies only where they lower the
 * busiest rank's load.
 */
import { describe, expect, it } from 'vitest';
import { placementImbalance, planPlacement } from '../compiler/passes/place-experts.ts';
import { copyFor, placementProblem, rankLoads } from '../ir/kernel/placement.ts';
import { MoecError } from '../ir/diagnostics.ts';

describe('expert placement', () => {
  it('uniform load and no replicas: expert e on rank e mod ranks, empty slots last', () => {
    const p = planPlacement({ experts: 8, ranks: 3 });
    expect(p.slots).toEqual([
      [0, 3, 6],
      [1, 4, 7],
      [2, 5, -1],
    ]);
    expect(p.copies).toEqual([[0], [1], [2], [0], [1], [2], [0], [1]]);
  });

  it('one hot expert (60% of the tokens) gets copies that bring the busiest rank to the mean', () => {
    const load = [60, 5, 5, 5, 5, 5, 10, 5];
    const plain = planPlacement({ experts: 8, ranks: 4, load });
    const replicated = planPlacement({ experts: 8, ranks: 4, load, redundant: 4 });
    expect(placementImbalance(plain, load)).toBeCloseTo(2.6, 6); // two slots per rank: the hot expert (60) and a light one (5) on one rank, of 100 / 4
    expect(replicated.copies[0]).toEqual([0, 1, 2, 3]);
    expect(placementImbalance(replicated, load)).toBeCloseTo(1, 6);
    // The hot expert's choices take turns over its copies.
    expect([0, 1, 2, 3, 4].map((c) => copyFor(replicated, 0, c))).toEqual([0, 1, 2, 3, 0]);
  });

  it('copies that do not lower the max rank load are not made (uniform load keeps one copy each)', () => {
    const p = planPlacement({ experts: 8, ranks: 4, redundant: 4 });
    expect(p.copies.every((c) => c.length === 1)).toBe(true);
  });

  it("DeepSeek-V3's decode deployment: 256 experts + 64 redundant on 320 ranks of one slot", () => {
    const load = Array.from({ length: 256 }, (_, e) => (e < 10 ? 50 : 10));
    const p = planPlacement({ experts: 256, ranks: 320, slotsPerRank: 1, redundant: 64, load });
    expect(placementProblem(p, 256)).toBeUndefined();
    expect(rankLoads(p, load).reduce((a, b) => a + b, 0)).toBeCloseTo(load.reduce((a, b) => a + b, 0), 6);
    expect(placementImbalance(p, load)).toBeLessThan(placementImbalance(planPlacement({ experts: 256, ranks: 320, slotsPerRank: 1, load }), load));
  });

  it('is always consistent and deterministic over many shapes and loads', () => {
    for (let s = 0; s < 300; s++) {
      const E = 1 + ((s * 7) % 40);
      const R = 1 + ((s * 13) % 9);
      const load = Array.from({ length: E }, (_, i) => ((i * 31 + s) % 17) ** 2);
      const req = { experts: E, ranks: R, load, redundant: s % 6 };
      const p = planPlacement(req);
      expect(placementProblem(p, E)).toBeUndefined();
      expect(planPlacement(req)).toEqual(p);
    }
  });

  it('refuses experts that do not fit the slots, with the numbers', () => {
    expect(() => planPlacement({ experts: 9, ranks: 2, slotsPerRank: 4 })).toThrow(MoecError);
    expect(() => planPlacement({ experts: 9, ranks: 2, slotsPerRank: 4 })).toThrow(/9 experts do not fit 2 ranks of 4 expert slots each \(8 slots\)/);
    expect(() => planPlacement({ experts: 4, ranks: 0 })).toThrow(/whole number of ranks/);
    expect(() => planPlacement({ experts: 2, ranks: 2, load: [1, Number.NaN] })).toThrow(/load of expert 1/);
  });
});
