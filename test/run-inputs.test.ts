/**
 * `moec run` on inputs as people have them: token ids saved by torch (int64), sizes taken
 * from the --inputs file, a mismatch naming the flag and the tensor, a note past the model's
 * positions, and the language reference binding L the way the CLI does.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../compiler/io/write-safetensors.ts';
import { readSafetensors } from '../ir/safetensors.ts';
import { cli } from './capture.ts';

const FIXTURE = 'test/fixtures/hf-tiny/llama-t3.safetensors'; // ids i32[3], caches with L = 5

/** A tiny Llama decoder (.moe from moec import) and its inputs, the token ids as I64. */
async function decoder(): Promise<{ dir: string; moe: string; i64: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'moec-inputs-'));
  const moe = join(dir, 'llama.moe');
  expect((await cli('import', 'test/fixtures/hf-tiny/llama.json', '-o', moe)).code).toBe(0);
  const f = readSafetensors(FIXTURE);
  const inputs = Object.fromEntries(['ids', 'dense.self_attn.k_cache', 'dense.self_attn.v_cache'].map((n) => [n, f.get(n)]));
  inputs.ids = { ...inputs.ids, dtype: 'i64' };
  const i64 = join(dir, 'inputs-i64.safetensors');
  writeSafetensors(i64, inputs);
  expect(readSafetensors(i64).info('ids').dtype).toBe('I64');
  return { dir, moe, i64 };
}

describe('moec run --inputs', () => {
  it('token ids as I64 (torch\'s default) run like I32; --tokens and --context come from the file', async () => {
    const { moe, i64 } = await decoder();
    const explicit = await cli('run', moe, '--inputs', FIXTURE, '--tokens', '3', '--context', '5');
    expect(explicit.code).toBe(0);
    const inferred = await cli('run', moe, '--inputs', i64);
    expect(inferred.err).toBe('');
    expect(inferred.code).toBe(0);
    const outputs = (s: string) => s.split('\n').filter((l) => /^output|first values/.test(l.trim()));
    expect(outputs(inferred.out)).toEqual(outputs(explicit.out));
    expect(inferred.out).toContain('T=3');
  });

  it('a flag that disagrees with the inputs file is E504 naming the flag, the tensor and the axis', async () => {
    const { moe } = await decoder();
    const t = await cli('run', moe, '--inputs', FIXTURE, '--tokens', '4');
    expect(t.code).toBe(1);
    expect(t.err).toContain(`E504: --tokens 4 sets T = 4, but ${FIXTURE}: \`ids\` has 3 along axis 0, its size T`);
    expect(t.err).toContain('hint: pass --tokens 3, or leave --tokens out to take T from the inputs file');
    const l = await cli('run', moe, '--inputs', FIXTURE, '--context', '4');
    expect(l.code).toBe(1);
    expect(l.err).toContain('E504: --context 4 sets L = 4, but');
    expect(l.err).toContain('`dense.self_attn.k_cache` has 5 along axis 1, its size L');
  });

  it('two inputs of one file that disagree on a size are E504 naming both', async () => {
    const { dir, moe } = await decoder();
    const f = readSafetensors(FIXTURE);
    const k = f.get('dense.self_attn.k_cache');
    const short = { ...k, shape: [2, 4, 1, 8], data: k.data.subarray(0, 2 * 4 * 8) };
    const bad = join(dir, 'bad.safetensors');
    writeSafetensors(bad, { ids: f.get('ids'), 'dense.self_attn.k_cache': k, 'dense.self_attn.v_cache': short });
    const r = await cli('run', moe, '--inputs', bad);
    expect(r.code).toBe(1);
    expect(r.err).toContain('`dense.self_attn.k_cache` has 5 along axis 1 and `dense.self_attn.v_cache` 4 along axis 1, but both are the size L');
  });

  it('without --tokens or --inputs, run still asks for --tokens', async () => {
    const r = await cli('run', 'examples/tiny.moe');
    expect(r.code).toBe(2);
    expect(r.err).toContain('needs --tokens N');
  });

  it('notes when T + L passes the positions the model was made for (dim L <= max_position_embeddings)', async () => {
    const { moe } = await decoder();
    const over = await cli('run', moe, '--tokens', '40', '--context', '30');
    expect(over.code).toBe(0);
    expect(over.err).toBe('note: T + L = 40 + 30 = 70 positions, past the 64 the model was made for (dim L <= 64: max_position_embeddings for a model from moec import); positions beyond it are extrapolated');
    const within = await cli('run', moe, '--tokens', '4', '--context', '60');
    expect(within.err).toBe('');
  });

  it('docs/language.md binds L with --context, which works (was: --set L=..., refused with E211)', async () => {
    const doc = readFileSync('docs/language.md', 'utf8');
    expect(doc).not.toContain('--set L=');
    expect(doc).toContain('`moec run` binds it with `--context L`');
    const { moe } = await decoder();
    expect((await cli('run', moe, '--tokens', '2', '--context', '3')).code).toBe(0);
    expect((await cli('run', moe, '--tokens', '2', '--set', 'L=3')).code).not.toBe(0);
  });
});

describe('moec run --f64', () => {
  /** The fixture's inputs with the KV caches stored as F64 (the same values, widened exactly). */
  async function f64Caches(): Promise<{ dir: string; moe: string; inputs: string }> {
    const { dir, moe } = await decoder();
    const f = readSafetensors(FIXTURE);
    const wide = (n: string) => ({ ...f.get(n), dtype: 'f64' as const, data: Float64Array.from(f.get(n).data) });
    const inputs = join(dir, 'caches-f64.safetensors');
    writeSafetensors(inputs, { ids: f.get('ids'), 'dense.self_attn.k_cache': wide('dense.self_attn.k_cache'), 'dense.self_attn.v_cache': wide('dense.self_attn.v_cache') });
    expect(readSafetensors(inputs).info('dense.self_attn.k_cache').dtype).toBe('F64');
    return { dir, moe, inputs };
  }

  it('takes float64 inputs and caches and writes F64 outputs with --out (was: E504 on an f64 cache, and F32 written)', async () => {
    const { dir, moe, inputs } = await f64Caches();
    const out64 = join(dir, 'y64.safetensors');
    const r = await cli('run', moe, '--inputs', inputs, '--f64', '-o', out64);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // The same run on the F32 file (the same values) gives the same float64 outputs.
    const outRef = join(dir, 'yref.safetensors');
    expect((await cli('run', moe, '--inputs', FIXTURE, '--f64', '-o', outRef)).code).toBe(0);
    const got = readSafetensors(out64);
    const ref = readSafetensors(outRef);
    expect(got.names()).toEqual(ref.names());
    for (const n of got.names()) {
      expect(got.info(n).dtype).toBe('F64');
      const data = got.get(n, { f64: true }).data;
      expect(data).toEqual(ref.get(n, { f64: true }).data);
      // float64 values, not f32 ones widened
      expect(Array.from(data).some((v) => v !== Math.fround(v))).toBe(true);
    }
  });

  it('without --f64, an F64 input is E504 at its declaration, with the flag that takes it', async () => {
    const { moe, inputs } = await f64Caches();
    const r = await cli('run', moe, '--inputs', inputs);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/llama\.moe:\d+:\d+: error E504: .*caches-f64\.safetensors: input `dense\.self_attn\.k_cache` is f64\[2, 5, 1, 8\], but the model declares it f32/);
    expect(r.err).toContain('hint: pass --f64');
  });

  it('an f32 run writes F32 outputs, as before', async () => {
    const { dir, moe } = await decoder();
    const out = join(dir, 'y32.safetensors');
    expect((await cli('run', moe, '--inputs', FIXTURE, '-o', out)).code).toBe(0);
    const f = readSafetensors(out);
    for (const n of f.names()) expect(f.info(n).dtype).toBe('F32');
  });
});
