/**
 * The `moec` command line: output and exit codes (0 ok, 1 input error, 2 usage error),
 * in-process through `main`, plus the installed bin end to end.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASSES } from '../compiler/pipeline.ts';
import { readSafetensors } from '../ir/safetensors.ts';
import { cli } from './capture.ts';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'moec-cli-'));
}

describe('moec CLI', () => {
  it('--help and --version', async () => {
    const h = await cli('--help');
    expect(h.code).toBe(0);
    expect(h.out).toContain('moec run FILE [--tokens N]');
    const v = await cli('--version');
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^moec \d+\.\d+\.\d+$/);
  });

  it('check prints inputs, weights with total and active parameters, outputs', async () => {
    const r = await cli('check', 'examples/mixtral.moe');
    expect(r.code).toBe(0);
    expect(r.out).toContain('model mixtral_moe');
    expect(r.out).toMatch(/x\s+f32\[T, 4096\]/);
    expect(r.out).toMatch(/w1\s+f32\[8, 14336, 4096\]\s+469\.8M\s+117\.4M \(routed\)/);
    // 3 × 8 × 14336 × 4096 + 8 × 4096 = 1.409B; active 2 of 8 experts + router = 352.4M
    expect(r.out).toContain('parameters: 1.41B total, 352.4M active per token (25.0%)');
  });

  it('ir prints the graph IR', async () => {
    const r = await cli('ir', 'examples/tiny.moe');
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe('moec.ir 1');
    expect(r.out).toContain('moe_permute(');
  });

  it('run prints shapes and statistics, and writes --out', async () => {
    const dir = tmp();
    const out = join(dir, 'y.safetensors');
    const r = await cli('run', 'examples/tiny.moe', '--tokens', '5', '--seed', '3', '--out', out);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/output y: f32\[5, 8\]\s+min -?\d/);
    const y = readSafetensors(out).get('y');
    expect(y.shape).toEqual([5, 8]);
    // The same seed gives the same numbers.
    const again = await cli('run', 'examples/tiny.moe', '--tokens', '5', '--seed', '3');
    expect(again.out.split('\n')[1]).toBe(r.out.split('\n')[1]);
  });

  it('run reads weights and inputs from safetensors', async () => {
    const f = 'test/fixtures/tiny-t7.safetensors';
    const r = await cli('run', 'examples/tiny.moe', '--tokens', '7', '--weights', f, '--inputs', f);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`weights: ${f}`);
  });

  it('a syntax error exits 1 with file:line:col, the line, a caret', async () => {
    const dir = tmp();
    const file = join(dir, 'bad.moe');
    writeFileSync(file, 'model m {\n  input x: f32[4, 4]\n  output y = softmx(x)\n}\n');
    const r = await cli('check', file);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}:3:14: error E202: unknown operation or block \`softmx\``);
    expect(r.err).toContain('  output y = softmx(x)');
    expect(r.err).toContain('^^^^^^');
    expect(r.err).toContain('hint: did you mean `softmax`?');
    expect(r.err).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });

  it('usage errors exit 2', async () => {
    expect((await cli()).code).toBe(2);
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('run', 'examples/tiny.moe')).err).toContain('needs --tokens N');
    expect((await cli('run', 'examples/tiny.moe', '--tokens', 'x')).code).toBe(2);
    expect((await cli('run', 'examples/tiny.moe', '--tokens', '0')).code).toBe(2);
    expect((await cli('check', 'examples/tiny.moe', '--bogus')).code).toBe(2);
    expect((await cli('check', 'examples/tiny.moe', '--set', 'D')).code).toBe(2);
    expect((await cli('check', 'examples/tiny.moe', '--tokens', '3')).code).toBe(2);
    expect((await cli('run', 'examples/tiny.moe', '--tokens', '3', '--backend', 'cuda')).code).toBe(2);
  });

  it('input errors exit 1: missing file, unknown --set constant, T over its bound', async () => {
    const missing = await cli('check', 'no/such.moe');
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('E501: cannot read no/such.moe: no such file');
    const set = await cli('check', 'examples/tiny.moe', '--set', 'DD=3');
    expect(set.code).toBe(1);
    expect(set.err).toContain('did you mean `D`?');
    const big = await cli('run', 'examples/tiny.moe', '--tokens', '65');
    expect(big.code).toBe(1);
    expect(big.err).toContain('65');
  });

  it('a failed --out leaves no file behind', async () => {
    const dir = tmp();
    const r = await cli('run', 'examples/tiny.moe', '--tokens', '2', '--out', join(dir, 'missing-dir', 'y.safetensors'));
    expect(r.code).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('compile prints kernels, tiles, arena and estimated time, and writes -o DIR (each file atomically)', async () => {
    const dir = tmp();
    const out = join(dir, 'build');
    const r = await cli('compile', 'examples/deepseek-v3.moe', '--target', 'x86-avx2', '--max-tokens', '64', '-o', out);
    expect(r.code).toBe(0);
    expect(r.out).toContain('deepseek_v3 → x86-avx2 (c), up to 64 tokens');
    expect(r.out).toMatch(/router: linear → sigmoid → \+correction bias \(selection only\) → group-limited top-8 of 256/);
    expect(r.out).toContain('grouped GEMM over token rows gathered by expert → SwiGLU (concat)');
    expect(r.out).toContain('grouped GEMM over expert rows → weighted combine → +residual');
    expect(r.out).toMatch(/arena: .* for T = 64 \(\d+\*T\+\d+ bytes for T tokens\); naive sum of buffers/);
    expect(r.out).toMatch(/estimated on x86-avx2: T=1: /);
    expect(readdirSync(out)).toEqual(['deepseek_v3.c', 'deepseek_v3.h', 'deepseek_v3.weights.json']);
    expect(readdirSync(dir)).toEqual(['build']); // no temporary directory left behind
    // A failing compile leaves the previous output as it was.
    const bad = await cli('compile', 'examples/deepseek-v3.moe', '--target', 'x86-avx3', '-o', out);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('did you mean `x86-avx2`?');
    expect(readdirSync(out)).toEqual(['deepseek_v3.c', 'deepseek_v3.h', 'deepseek_v3.weights.json']);
    // --emit kernel-ir writes the kernel IR instead, beside the files already there (moec removes no file).
    expect((await cli('compile', 'examples/deepseek-v3.moe', '--target', 'x86-avx2', '--max-tokens', '64', '--emit', 'kernel-ir', '-o', out)).code).toBe(0);
    expect(readdirSync(out)).toEqual(['deepseek_v3.c', 'deepseek_v3.h', 'deepseek_v3.kir', 'deepseek_v3.weights.json']);
  });

  it('run --backend c compiles, builds and runs the C code; --check compares it with the interpreter', async () => {
    const r = await cli('run', 'examples/mixtral.moe', '--set', 'D=32,F=48', '--tokens', '5', '--backend', 'c', '--check');
    expect(r.code).toBe(0);
    expect(r.out).toContain('mixtral_moe  T=5  backend=c');
    expect(r.out).toMatch(/output y: f32\[5, 32\]/);
    const rel = Number(/vs reference interpreter: max\|Δ\| \S+ \(rel (\S+)\)/.exec(r.out)![1]);
    expect(rel).toBeLessThan(1e-5);
    expect((await cli('run', 'examples/tiny.moe', '--tokens', '2', '--backend', 'cuda')).err).toContain("unknown backend 'cuda'");
    expect((await cli('run', 'examples/tiny.moe', '--tokens', '2', '--check')).code).toBe(2);
    expect((await cli('run', 'examples/tiny.moe', '--tokens', '9', '--backend', 'c', '--max-tokens', '8')).err).toContain('E505: T = 9 is outside 1..8, the token counts the program was compiled for');
    expect((await cli('run', 'examples/tiny.moe', '--tokens', '2', '--backend', 'c', '--target', 'webgpu')).err).toContain('is for the wgsl backend, not c');
  });

  it('pack writes the weights blob the generated code reads, with its manifest, atomically', async () => {
    const dir = tmp();
    const out = join(dir, 'tiny.bin');
    const r = await cli('pack', 'examples/tiny.moe', '--target', 'x86-avx2', '--seed', '3', '-o', out);
    expect(r.code).toBe(0);
    const manifest = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as { bytes: number; tensors: Array<{ name: string; offset: number; layout: string }> };
    expect(statSync(out).size).toBe(manifest.bytes);
    expect(manifest.tensors.map((t) => t.name)).toEqual(['router', 'packed.gate_up', 'w_down']);
    expect(manifest.tensors[1].layout).toContain('pairing');
    expect(readdirSync(dir).sort()).toEqual(['tiny.bin', 'tiny.bin.json']);
    expect((await cli('pack', 'examples/tiny.moe', '--target', 'x86-avx2')).err).toContain('needs -o');
    expect((await cli('pack', 'examples/tiny.moe', '--target', 'x86-avx2', '-o', join(dir, 'no', 'x.bin'))).code).toBe(1);
  });

  it('compile usage errors exit 2', async () => {
    expect((await cli('compile', 'examples/tiny.moe')).err).toContain('needs --target');
    expect((await cli('compile', 'examples/tiny.moe', '--target', 'webgpu', '--emit', 'wgsl')).code).toBe(2);
    expect((await cli('compile', 'examples/tiny.moe', '--target', 'webgpu', '--max-tokens', '65')).err).toContain("over the model's bound T <= 64");
    expect((await cli('compile', 'examples/tiny.moe', '--target', 'webgpu', '--disable', 'fuse-routr')).err).toContain('did you mean `fuse-router`?');
  });

  it('--disable skips each optional pass (and the passes that require it), and nothing else', async () => {
    const optional = PASSES.filter((p) => !p.essential);
    expect(optional.map((p) => p.name)).toEqual(['quantize', 'canonicalize', 'fuse-router', 'fuse-experts', 'fold-shared-experts', 'fuse-dense-mlp', 'cleanup']);
    for (const pass of optional) {
      // The pass and, transitively, every pass that requires it.
      const off = new Set([pass.name]);
      for (const p of PASSES) if (p.requires.some((r) => off.has(r))) off.add(p.name);
      // Quantized weights only where quantize is the pass under test: unfused GEMMs take f32 weights only (E311).
      const quantize = pass.name === 'quantize' ? ['--quantize', 'i8'] : [];
      const r = await cli('ir', 'examples/tiny.moe', ...quantize, '--print-after-all', '--disable', [...off].join(','));
      expect(r.code, pass.name).toBe(0);
      const ran = [...r.out.matchAll(/^\/\/ after (\S+)$/gm)].map((m) => m[1]);
      const listed = PASSES.map((p) => p.name).filter((n) => quantize.length > 0 || n !== 'quantize');
      expect(ran, pass.name).toEqual(listed.filter((n) => !off.has(n)));
    }
    // What disabling does shows in the code: without the router fusion there is no router kernel.
    const fused = await cli('ir', 'examples/tiny.moe', '--after', 'lower-kernels');
    const unfused = await cli('ir', 'examples/tiny.moe', '--after', 'lower-kernels', '--disable', 'fuse-router,fuse-experts,fold-shared-experts,fuse-dense-mlp,cleanup');
    expect(fused.out).toMatch(/^router\(/m);
    expect(unfused.out).not.toMatch(/^router\(/m);
  });

  it('--disable of a pass the code needs is refused up front, saying why (exit 2)', async () => {
    for (const pass of PASSES.filter((p) => p.essential)) {
      const r = await cli('compile', 'examples/tiny.moe', '--target', 'x86-avx2', '--disable', pass.name);
      expect(r.code, pass.name).toBe(2);
      expect(r.err, pass.name).toContain(`cannot disable ${pass.name}: ${pass.essential}`);
      expect(r.out, pass.name).toBe('');
    }
    expect(PASSES.filter((p) => p.essential).map((p) => p.name)).toEqual(['lower-kernels', 'tile', 'plan-memory']);
    const stop = await cli('ir', 'examples/tiny.moe', '--after', 'cleanup', '--disable', 'cleanup');
    expect([stop.code, stop.err]).toEqual([2, expect.stringContaining('--after cleanup: that pass is disabled')]);
    // Without --quantize there is no quantize pass: disabling it changes nothing, dumping after it is refused.
    expect((await cli('ir', 'examples/tiny.moe', '--after', 'cleanup', '--disable', 'quantize')).out).toBe((await cli('ir', 'examples/tiny.moe', '--after', 'cleanup')).out);
    const q = await cli('ir', 'examples/tiny.moe', '--after', 'quantize');
    expect([q.code, q.err]).toEqual([2, expect.stringContaining('--after quantize: the quantize pass runs only with --quantize')]);
    const needed = await cli('ir', 'examples/tiny.moe', '--print-after-all', '--disable', 'fuse-router');
    expect(needed.code).toBe(2);
    expect(needed.err).toContain('cannot disable fuse-router: pass fold-shared-experts requires it');
  });

  it('ir --after STEP dumps the graph or kernel IR after a pipeline step', async () => {
    const g = await cli('ir', 'examples/mixtral.moe', '--after', 'fuse-experts');
    expect(g.code).toBe(0);
    expect(g.out.split('\n')[0]).toBe('// after fuse-experts');
    expect(g.out).toContain('moe_experts(');
    const k = await cli('ir', 'examples/mixtral.moe', '--after', 'tile', '--target', 'webgpu');
    expect(k.code).toBe(0);
    expect(k.out).toContain('// after tile');
    expect(k.out).toContain('moec.kernel-ir 1');
    const all = await cli('ir', 'examples/tiny.moe', '--print-after-all', '--verify-each');
    expect(all.out.match(/^\/\/ after /gm)).toHaveLength(9);
    expect((await cli('ir', 'examples/tiny.moe', '--after', 'fuse')).code).toBe(2);
  });

  it('the installed bin runs end to end', () => {
    if (!existsSync('dist/compiler/cli.js')) execFileSync('npm', ['run', 'build'], { stdio: 'ignore' });
    const r = spawnSync(process.execPath, ['bin/moec.js', 'run', 'examples/mixtral.moe', '--tokens', '3', '--set', 'D=64,F=96'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('output y: f32[3, 64]');
    const bad = spawnSync(process.execPath, ['bin/moec.js', 'check', 'examples/nope.moe'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('E501');
  });
});
