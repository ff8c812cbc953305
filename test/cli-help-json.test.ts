/**
 * `moec COMMAND --help`, unknown options pointing at that help, and `--json` on check,
 * compile and run (the fields docs/json.md lists).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, OPTIONS } from '../compiler/cli/help.ts';
import { cli } from './capture.ts';

describe('moec COMMAND --help', () => {
  it.each(Object.keys(COMMANDS))('moec %s --help: its usage, only its options, an example that parses', async (name) => {
    const r = await cli(name, '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^Usage: moec ${name} `));
    expect(r.out).toContain('Example:\n  moec ' + name);
    const listed = [...r.out.matchAll(/^ {2}(?:-o, )?(--[a-z0-9-]+)/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...COMMANDS[name].options, 'debug'].map((o) => `--${o}`).sort());
    expect((await cli('help', name)).out).toBe(r.out);
  });

  it('every option of the parser is in the help table, and every option a command lists exists', async () => {
    for (const c of Object.values(COMMANDS)) for (const o of c.options) expect(OPTIONS).toHaveProperty(o);
    const overview = (await cli('--help')).out;
    for (const o of Object.values(OPTIONS)) expect(overview).toContain(o.form);
    for (const name of Object.keys(COMMANDS)) expect(overview).toContain(`moec ${name} `);
  });

  it('an option means what it means in that command (--tokens of run and of analyze)', async () => {
    expect((await cli('run', '--help')).out).toMatch(/--tokens N +the token count T \(default: from --inputs/);
    expect((await cli('analyze', '--help')).out).toMatch(/--tokens N +the batch N/);
  });

  it('a command takes exactly the options its help lists (was: --target on check, --set on quantize silently ignored)', async () => {
    const r = await cli('check', 'examples/tiny.moe', '--target', 'x86-avx2');
    expect(r.code).toBe(2);
    expect(r.err).toContain('moec: --target is an option of `moec ir`, `moec compile`, `moec run`, `moec pack`, `moec generate` and `moec analyze`, not `moec check`');
    expect(r.err).toContain('hint: moec check --help lists its options');
    const q = await cli('quantize', 'w.safetensors', '--to', 'i8', '-o', 'q.safetensors', '--set', 'D=4');
    expect(q.code).toBe(2);
    expect(q.err).toContain('--set is an option of');
    // and every option a command's help lists gets past this check
    for (const [name, c] of Object.entries(COMMANDS))
      for (const o of c.options) {
        const argv = [name, 'no/such/file', `--${o}`, ...(o === 'quantize-router' && name !== 'quantize' ? ['--quantize', 'i8'] : [])];
        if (!['json', 'f64', 'check', 'print-after-all', 'verify-each', 'quantize-router'].includes(o)) argv.splice(3, 0, 'x');
        expect((await cli(...argv)).err, argv.join(' ')).not.toContain('is an option of');
      }
  });

  it('help for an unknown command is a usage error', async () => {
    const r = await cli('help', 'frobnicate');
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown command 'frobnicate'");
  });

  it('an unknown option names the command\'s help; the hint comes from that command\'s options', async () => {
    const r = await cli('run', 'examples/tiny.moe', '--bogus');
    expect(r.code).toBe(2);
    expect(r.err).toBe('moec: unknown option --bogus (see moec run --help)');
    // --svg exists, but not in `moec run`: the nearest of run's options is suggested instead
    expect((await cli('compile', 'examples/tiny.moe', '--emitt', 'kernel-ir')).err).toContain('hint: did you mean `--emit`?');
  });
});

describe('--json on check, compile and run', () => {
  it('check --json: sizes, inputs, weights with parameters, outputs', async () => {
    const r = await cli('check', 'examples/mixtral.moe', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.schema).toBe('moec-check/1');
    expect(j.model).toBe('mixtral_moe');
    expect(j.inputs[0]).toEqual({ name: 'x', dtype: 'f32', shape: ['T', 4096] });
    const w1 = j.weights.find((w: { name: string }) => w.name === 'w1');
    expect(w1).toMatchObject({ dtype: 'f32', shape: [8, 14336, 4096], params: 8 * 14336 * 4096, activePerToken: 2 * 14336 * 4096, kind: 'routed' });
    expect(j.parameters.total).toBe(3 * 8 * 14336 * 4096 + 8 * 4096);
  });

  it('compile --json: kernels (loops nested), tiles, arena, estimates; with -o what it wrote, and nothing else on stdout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-json-'));
    const r = await cli('compile', 'examples/deepseek-v3.moe', '--target', 'x86-avx2', '--max-tokens', '64', '--json', '-o', join(dir, 'out'));
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ schema: 'moec-compile/1', model: 'deepseek_v3', target: 'x86-avx2', backend: 'c', maxTokens: 64 });
    expect(j.kernels[0].loop).toBe(3);
    const text = (await cli('compile', 'examples/deepseek-v3.moe', '--target', 'x86-avx2', '--max-tokens', '64')).out;
    expect(text).toContain(`kernels (${j.kernelCount}):`);
    const routed = j.kernels.find((k: { loop?: number }) => k.loop === 58).body;
    expect(routed.map((k: { kind: string }) => k.kind)).toEqual(['op', 'router', 'moe_align', 'grouped_gemm', 'grouped_gemm']);
    expect(routed[3].tile.sortedFromTokens).toBeGreaterThan(0);
    expect(j.arena.bytes).toBeLessThan(j.arena.naiveBytes);
    expect(j.estimate.points.map((p: { tokens: number }) => p.tokens)).toEqual([1, 64]);
    expect(j.wrote).toContain('deepseek_v3.c');
  });

  it('run --json: outputs with statistics, and with --check the agreement; NaN-free JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-json-'));
    const out = join(dir, 'y.safetensors');
    const r = await cli('run', 'examples/tiny.moe', '--tokens', '3', '--json', '--out', out);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ schema: 'moec-run/1', model: 'tiny', tokens: 3, sizes: { T: 3 }, backend: 'ref', precision: 'float32', weights: 'seeded (seed 0)', wrote: out });
    expect(j.outputs.y.shape).toEqual([3, 8]);
    expect(j.outputs.y.first).toHaveLength(6);
    expect(j.outputs.y.vsReference).toBeNull();
    expect(readFileSync(out).length).toBeGreaterThan(0);
    const text = (await cli('run', 'examples/tiny.moe', '--tokens', '3')).out;
    expect(text).toContain(`min ${j.outputs.y.min.toFixed(4)}`);
  });

  it('run --json --backend wasm --check gives the agreement per output', async () => {
    const r = await cli('run', 'examples/tiny.moe', '--tokens', '3', '--backend', 'wasm', '--check', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.outputs.y.vsReference.relL2).toBeLessThan(1e-5);
    expect(j.outputs.y.vsReference.nanMismatch).toBe(0);
  });

  it('--json is refused where a command has no JSON form', async () => {
    const r = await cli('ir', 'examples/tiny.moe', '--json');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--json is an option of `moec check`, `moec compile`, `moec run`, `moec generate` and `moec analyze`');
  });
});
