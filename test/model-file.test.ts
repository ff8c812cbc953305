/**
 * Every command that takes a model takes it in any form (compiler/model-file.ts): a
 * .moe file, a Hugging Face config.json, a model directory, a .gguf file; `--set` overrides an
 * imported model's constants as a .moe file's, its errors pointing into the config; and
 * `moec compile` / `moec pack` give a decoder's caches a context bound by default, reporting
 * what that state costs.
 */
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/driver.ts';
import { cli } from './capture.ts';

const QWEN3 = 'examples/hf/Qwen3-30B-A3B/config.json';
/** Qwen3-30B-A3B's shape at sizes an interpreter runs. */
const SMALL_QWEN3 = 'D=16,LAYERS=2,E=4,K=2,F=8,V=32,H=2,G=1,HD=8';

describe('a config.json, a model directory or a .gguf as the model of every command', () => {
  it('moec compile of the DeepSeek-V3 config.json compiles, its caches state of 4096 positions (was: E102, the JSON parsed as .moe)', async () => {
    const r = await cli('compile', 'examples/hf/DeepSeek-V3/config.json', '--target', 'x86-avx2');
    expect(r.err).not.toMatch(/error/);
    expect(r.code).toBe(0);
    // 61 layers x 4096 positions x (512 latent + 64 rope key) floats
    expect(r.out).toContain(`state: KV caches of 4096 positions, ${((61 * 4096 * 576 * 4) / 2 ** 20).toFixed(1)} MiB in 4 buffers`);
    // The token bound is the default's, not the 163,840 positions (an 83 GiB arena: E307); L at most the state's bound
    expect(r.out).toMatch(/up to 512 tokens/);
    expect(r.out).toMatch(/estimated on x86-avx2 with L = 3584, CTX = 4096/); // L at most CTX - 512
  });

  it('every shipped config compiles by default for every target kind, WebGPU\'s 2 GiB included (was: E307, the arena at T = 4096)', async () => {
    for (const c of ['DeepSeek-V3', 'gpt-oss-20b', 'Qwen3-30B-A3B'])
      for (const t of ['webgpu', 'wasm-simd128', 'npu-scratchpad']) {
        const r = await cli('compile', `examples/hf/${c}/config.json`, '--target', t, '--json');
        expect(r.code, `${c} ${t}: ${r.err}`).toBe(0);
        expect(JSON.parse(r.out)).toMatchObject({ maxTokens: 512, state: { maxContext: 4096 } });
      }
  });

  it('a state that cannot fit is refused before anything runs, on every backend (was: the C runner died \'out of memory\', exit 3)', async () => {
    const huge = ['test/fixtures/hf-tiny/qwen3_moe.json', '--max-context', '2000000000'];
    // compile reports what the state would cost; writing the C for it is E702
    const report = await cli('compile', ...huge, '--target', 'x86-avx2');
    expect(report.out).toContain('state: KV caches of 2000000000 positions, 476.8 GiB in 2 buffers');
    const c = await cli('compile', ...huge, '--target', 'x86-avx2', '-o', mkdtempSync(join(tmpdir(), 'moec-huge-')));
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/E702: qwen3_moe's KV caches need 476\.8 GiB at 2000000000 positions \(with the arena's .*\), more than x86-avx2's DRAM \(24\.0 GiB\)\n\s*hint: compile with a lower --max-context/);
    for (const backend of ['c', 'wasm']) {
      const g = await cli('generate', ...huge, '--prompt-ids', '1', '--max-new-tokens', '3', '--backend', backend);
      expect(g.code, `${backend}: ${g.err}`).toBe(1);
      expect(g.err, backend).toMatch(/E702: .*KV caches/);
    }
    // Within the target but past what the interpreter holds
    const ref = await cli('generate', 'test/fixtures/hf-tiny/qwen3_moe.json', '--prompt-ids', '1', '--max-new-tokens', '3', '--max-context', '100000000');
    expect(ref.code).toBe(1);
    expect(ref.err).toMatch(/E307: the KV caches of 100000000 positions need 23\.8 GiB, more than the 4\.0 GiB a run of the reference interpreter may hold/);
  });

  it('--max-context sets the state; --json reports it; a model without caches has none', async () => {
    const r = await cli('compile', QWEN3, '--target', 'x86-avx2', '--set', SMALL_QWEN3, '--max-context', '64', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    // 2 layers x 64 positions x (k + v) of 1 kv head of 8
    expect(j.state).toEqual({ maxContext: 64, bytes: 2 * 64 * 2 * 8 * 4 });
    const ffn = JSON.parse((await cli('compile', 'examples/tiny.moe', '--target', 'x86-avx2', '--json')).out);
    expect(ffn.state).toBeNull();
  });

  it('--set overrides an imported model\'s constants in check, compile, run and analyze (analyze refused it)', async () => {
    const check = await cli('check', QWEN3, '--set', SMALL_QWEN3);
    expect(check.code).toBe(0);
    expect(check.out).toMatch(/logits\s+f32\[T, 32\]/);
    expect(compileFile(QWEN3, { consts: { V: 32, D: 16, LAYERS: 2, E: 4, K: 2, F: 8, H: 2, G: 1, HD: 8 } }).weights.find((w) => w.name === 'embed')!.type.shape).toEqual([32, 16]);
    const analyze = await cli('analyze', QWEN3, '--set', SMALL_QWEN3, '--json');
    expect(analyze.code).toBe(0);
    expect(JSON.parse(analyze.out).params.total).toBeLessThan(10_000);
    const run = await cli('run', QWEN3, '--set', SMALL_QWEN3, '--tokens', '3', '--context', '0');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/output logits: f32\[3, 32\]/);
  });

  it('an error a --set value causes points at the config field behind the constant; an unknown name lists the constants', async () => {
    const bad = await cli('check', QWEN3, '--set', 'K=300');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/Qwen3-30B-A3B\/config\.json:\d+:\d+: error E304: num_experts_per_tok: topk: k = 300/);
    const unknown = await cli('check', QWEN3, '--set', 'NOPE=3');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/E211: --set NOPE[\s\S]*hint: its constants are: V, D, LAYERS/);
  });

  it('a model directory is its config.json; one without is E501', async () => {
    const d = mkdtempSync(join(tmpdir(), 'moec-modeldir-'));
    writeFileSync(join(d, 'config.json'), readFileSync('test/fixtures/hf-tiny/qwen3_moe.json'));
    const r = await cli('ir', d);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/%logits = matmul\(%0, %lm_head\) {transpose_b=true} : f32\[T, 32\]/);
    const empty = await cli('check', mkdtempSync(join(tmpdir(), 'moec-modeldir-')));
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/E501: .* is a directory without a config\.json/);
  });

  it('a symlink loop as the model is E501 saying so, in analyze and generate too (was: exit 3, ELOOP from the directory test)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'moec-loop-'));
    const [a, b] = [join(d, 'a'), join(d, 'b')];
    symlinkSync(b, a);
    symlinkSync(a, b);
    for (const args of [['analyze', a], ['generate', a, '--prompt-ids', '1', '--max-new-tokens', '1']]) {
      const r = await cli(...args);
      expect(r.err).toMatch(/E501: cannot read .*: it is a symlink loop/);
      expect(r.code).toBe(1);
    }
  });

  it('moec pack of a config.json writes the packed weights', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'moec-pack-')), 'w.bin');
    const r = await cli('pack', 'test/fixtures/hf-tiny/qwen3_moe.json', '--target', 'x86-avx2', '-o', out, '--seed', '1');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote .*w\.bin \(\d+ bytes/);
  });
});
