/**
 * `moec run --context L` of a model whose KV caches are inputs (a decoder from `moec import`)
 * on a backend: compiled with the caches as state of L + T positions (or `--max-context`),
 * the seeded caches loaded into it (`loadCaches`), forward with { T, L }; the same outputs as
 * the reference interpreter (--check), for a prefill (L = 0) and onto a cache, for GQA
 * attention (Qwen3-MoE) and DeepSeek MLA (DeepSeek-V3).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile, runOnBackend } from '../compiler/driver.ts';
import { cli } from './capture.ts';

const QWEN3 = 'V=64,D=32,LAYERS=2,H=4,G=2,HD=8,E=4,K=2,F=16';
const DEEPSEEK = 'V=64,D=32,LAYERS=5,H=4,QL=16,C=16,DN=8,DR=4,DV=8,F_DENSE=32,E=8,K=2,F=16,GROUPS=2,TOPK_GROUPS=1,FS=16';
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'moec-run-caches-'));
  for (const [name, config] of [['qwen3', 'Qwen3-30B-A3B'], ['deepseek', 'DeepSeek-V3']])
    expect((await cli('import', `examples/hf/${config}/config.json`, '-o', join(dir, `${name}.moe`))).code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The relative max |Δ| `moec run --check` printed for the output. */
function relError(out: string): number {
  const m = /vs reference interpreter: max\|Δ\| \S+ \(rel (\S+)\)/.exec(out);
  if (!m) throw new Error(`no agreement line in:\n${out}`);
  return Number(m[1]);
}

describe('moec run --context L on the C backend (caches as inputs, run through the state)', () => {
  for (const [name, set] of [['qwen3', QWEN3], ['deepseek', DEEPSEEK]] as const)
    for (const L of [0, 5])
      it(`${name}: --context ${L} --check agrees with the reference interpreter`, async () => {
        const r = await cli('run', join(dir, `${name}.moe`), '--set', set, '--tokens', '3', '--context', String(L), '--backend', 'c', '--check');
        expect(r.err).toBe('');
        expect(r.code).toBe(0);
        expect(relError(r.out)).toBeLessThan(1e-5);
      }, 60_000);

  it('--max-context N compiles a larger state; one that cannot hold L + T is E505', async () => {
    const file = join(dir, 'qwen3.moe');
    const ok = await cli('run', file, '--set', QWEN3, '--tokens', '3', '--context', '5', '--max-context', '32', '--backend', 'c', '--check');
    expect(ok.code).toBe(0);
    expect(relError(ok.out)).toBeLessThan(1e-5);
    const small = await cli('run', file, '--set', QWEN3, '--tokens', '3', '--context', '5', '--max-context', '7', '--backend', 'c');
    expect(small.code).toBe(1);
    expect(small.err).toContain('E505: --max-context 7 cannot hold L + T = 5 + 3 = 8 positions');
    const ref = await cli('run', file, '--set', QWEN3, '--tokens', '3', '--context', '5', '--max-context', '32');
    expect(ref.code).toBe(2);
    expect(ref.err).toContain('--max-context choose what a backend compiles for');
  }, 60_000);

  it('the API: runOnBackend with given caches returns what the interpreter does on them', async () => {
    const m = compileFile(join(dir, 'qwen3.moe'), { consts: { V: 64, D: 32, LAYERS: 2, H: 4, G: 2, HD: 8, E: 4, K: 2, F: 16 } });
    const r = await runOnBackend(m, { backend: 'c', tokens: 2, bindings: { L: 6 }, seed: 3, check: true });
    expect(Object.keys(r.inputs).filter((n) => n.endsWith('_cache')).length).toBeGreaterThan(0);
    for (const a of Object.values(r.agreement!)) expect(a.maxRel).toBeLessThan(1e-5);
  }, 60_000);
});
