/**
 * Every example parses, lowers, verifies and round-trips through the IR text form at its
 * real sizes (the IR never unrolls experts or layers, so this is cheap), and runs in the
 * interpreter at small sizes.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileFile, run } from '../compiler/driver.ts';
import { summarizeParams } from '../compiler/analysis/params.ts';
import { printIR } from '../ir/graph/print.ts';
import { parseIR } from '../ir/graph/parse.ts';
import { verify } from '../ir/graph/verify.ts';
import { SMALL } from './small-sizes.ts';

const examples = readdirSync('examples').filter((f) => f.endsWith('.moe')).sort();


describe('examples', () => {
  it('covers every example file', () => {
    expect(examples).toEqual(Object.keys(SMALL).sort());
  });

  for (const file of examples) {
    describe(file, () => {
      const path = `examples/${file}`;
      it('lowers and verifies at its real sizes', () => {
        const m = compileFile(path);
        expect(verify(m)).toEqual([]);
        expect(summarizeParams(m).total).toBeGreaterThan(0);
      });
      it('matches its golden IR (test/golden/ir; update on purpose with npm run test:update)', async () => {
        await expect(printIR(compileFile(path))).toMatchFileSnapshot(`golden/ir/${file.replace(/\.moe$/, '.ir')}`);
      });
      it('round-trips through the IR text form', () => {
        const text = printIR(compileFile(path));
        expect(printIR(parseIR(text, `${file}.ir`))).toBe(text);
      });
      it('runs in the interpreter at small sizes (T = 1, 7)', () => {
        const m = compileFile(path, { consts: SMALL[file] });
        for (const tokens of [1, 7]) {
          const { outputs } = run(m, { tokens, seed: 1 });
          const y = outputs.y;
          expect(y.shape[0]).toBe(tokens);
          expect(Array.from(y.data).every(Number.isFinite)).toBe(true);
          expect(Math.max(...Array.from(y.data, Math.abs))).toBeGreaterThan(0);
        }
      });
    });
  }

  it('a 256-expert, 58-layer stack is as small an IR as an 8-expert, 1-layer one', () => {
    const big = printIR(compileFile('examples/deepseek-v3.moe'));
    const small = printIR(compileFile('examples/deepseek-v3.moe', { consts: { E: 8, GROUPS: 4, TOPK_GROUPS: 2, K: 2, LAYERS: 4 } }));
    expect(big.split('\n').length).toBe(small.split('\n').length);
  });

  it('counts DeepSeek-V3 parameters as the model card does (FFN stack only)', () => {
    const p = summarizeParams(compileFile('examples/deepseek-v3.moe'));
    // 58 MoE layers × (256 + 1 shared experts × 3 × 7168 × 2048 + router 256 × 7168 + bias + norm)
    // + 3 dense layers × (3 × 7168 × 18432 + norm)
    const moeLayer = 257 * 3 * 7168 * 2048 + 256 * 7168 + 256 + 7168;
    const denseLayer = 3 * 7168 * 18432 + 7168;
    expect(p.total).toBe(58 * moeLayer + 3 * denseLayer);
    // Active: 8 of 256 routed experts, everything else dense.
    const activeMoe = (8 / 256) * 256 * 3 * 7168 * 2048 + 3 * 7168 * 2048 + 256 * 7168 + 256 + 7168;
    expect(p.activePerToken).toBeCloseTo(58 * activeMoe + 3 * denseLayer, -3);
  });
});
