/**
 * `stateFromCaches` (compiler/backends/state-caches.ts): caches as the graph takes them into
 * the state a model compiled with a context bound owns, for every backend's loadCaches.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stateFromCaches } from '../compiler/backends/state-caches.ts';
import { compile, randomInputs } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';

const M = compile(readFileSync('test/fixtures/attention-stack.moe', 'utf8'), { path: 'test/fixtures/attention-stack.moe' });
const P = runPipeline(M, { target: loadTarget('wasm-simd128'), maxTokens: 16, maxContext: 12 }).program!;

describe('stateFromCaches', () => {
  it("a stacked model's caches fill its stacked state buffers only, not a loop's slices of them (was: E503 missing 'layers.layers.a.k_cache')", () => {
    const L = 5;
    const caches = randomInputs(M, { T: 1, L }, 3);
    const state = stateFromCaches(P, caches, L);
    expect(state.map((s) => s.name)).toEqual(['layers.a.k_cache', 'layers.a.v_cache', 'layers.b.k_cache', 'layers.b.v_cache']);
    // [layers, CTX, G, HD]: each layer's positions 0..L-1 copied, the rest zero.
    const s = state[0];
    const given = caches['layers.a.k_cache'];
    expect(s.shape).toEqual([2, 12, 2, 8]);
    const row = 2 * 8;
    for (let layer = 0; layer < 2; layer++) {
      expect(Array.from(s.data.subarray(layer * 12 * row, layer * 12 * row + L * row))).toEqual(Array.from(given.data.subarray(layer * L * row, (layer + 1) * L * row)));
      expect(s.data.subarray(layer * 12 * row + L * row, (layer + 1) * 12 * row).every((x) => x === 0)).toBe(true);
    }
  });

  it('an L past the context bound is E505, a missing cache E503', () => {
    expect(() => stateFromCaches(P, {}, 13)).toThrow(/E505: 13 cached positions do not fit the context bound 12/);
    expect(() => stateFromCaches(P, {}, 2)).toThrow(/E503: missing the cache 'layers.a.k_cache'/);
    expect(stateFromCaches(P, {}, 0).every((s) => s.data.every((x) => x === 0))).toBe(true);
  });
});
