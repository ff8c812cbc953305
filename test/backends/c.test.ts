/**
 * The C backend against the reference interpreter: every example at T = 1, 7 and 300
 * (tiny: 1, 7, 64) on x86-avx2 (AVX2 micro-kernels, 2 threads) and npu-scratchpad (the
 * portable C path), the same seeded weights and inputs. Tolerance: max |Δ| <= 1e-5 of the
 * output's scale and relL2 <= 1e-5 (measured: <= 3.4e-7 and <= 2.5e-7; the C GEMMs sum in
 * float32 where the interpreter sums in float64). The code builds clean under gcc and clang
 * with -std=c11 -Wall -Wextra -Wpedantic -Werror, and under ASan + UBSan at T = 1 and the
 * bound with guard bytes after every region; results do not depend on the thread count;
 * forward rejects bad arguments with its error codes. The emitted C is snapshotted.
 */
import { spawnSync } from 'node:child_process';
import { skipWithout } from '../optional-packages.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectAgreement } from '../expect-agreement.ts';
import { describe, expect, it } from 'vitest';
import { loadC } from '../../compiler/backends/c/index.ts';
import { STRICT_FLAGS, buildExecutable, runExecutable, targetFlags } from '../../compiler/backends/c/build.ts';
import { renderC } from '../../compiler/backends/c/render.ts';
import { agreement } from '../../compiler/compare.ts';
import { compile, compileFile, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import type { Module } from '../../ir/graph/graph.ts';
import { interpret } from '../../ir/graph/interp.ts';
import type { KProgram, Tiling } from '../../ir/kernel/kernel.ts';
import { arenaBytesAt } from '../../ir/kernel/memory.ts';
import { forEachKernel } from '../../ir/kernel/walk.ts';
import { SMALL } from '../small-sizes.ts';
import { cpuHas } from '../../bench/native.ts';

const TOL = 1e-5;

function compileFor(file: string, target: string, consts: Record<string, number>, maxTokens: number): { m: Module; p: KProgram } {
  const m = compileFile(`examples/${file}`, { consts });
  return { m, p: runPipeline(m, { target: loadTarget(target), maxTokens }).program! };
}

/** AVX-512 code runs only on a CPU that has it (the CI machines do; others skip it). */
const hasAvx512 = cpuHas('avx512f');

describe('C backend', () => {
  for (const file of Object.keys(SMALL)) {
    const tokens = file === 'tiny.moe' ? [1, 7, 64] : [1, 7, 300];
    for (const target of ['x86-avx2', 'x86-avx512', 'npu-scratchpad']) {
      it.skipIf(target === 'x86-avx512' && !hasAvx512)(`${file} on ${target} matches the reference interpreter at T = ${tokens.join(', ')}`, async () => {
        const { m, p } = compileFor(file, target, SMALL[file], Math.max(...tokens));
        const weights = randomWeights(m, 1);
        const model = loadC(p, loadTarget(target), weights);
        try {
          for (const T of tokens) {
            const inputs = randomInputs(m, { T }, T);
            const got = await model.forward(inputs, { T });
            const want = interpret(m, { bindings: { T }, inputs, weights });
            for (const [name, t] of Object.entries(want)) {
              expect(got[name].shape).toEqual(t.shape);
              expectAgreement(got[name], t, { maxRel: TOL, relL2: TOL }, `${name} at T = ${T}`);
            }
          }
        } finally {
          model.dispose();
        }
      });
    }
  }

  it('cache blocking (depth chunks of tile.k, groups of tile.n / nr panels) keeps the sums: mixtral at D = 256, F = 640', async () => {
    const { m, p } = compileFor('mixtral.moe', 'x86-avx2', { D: 256, F: 640 }, 64);
    const src = renderC(p, loadTarget('x86-avx2')).source;
    expect(src).toContain('chunks = (640 + 32 - 1) / 32 * np;'); // the down projection's depth in chunks of 32
    const weights = randomWeights(m, 6);
    const model = loadC(p, loadTarget('x86-avx2'), weights);
    try {
      for (const T of [1, 2, 64]) {
        const inputs = randomInputs(m, { T }, 7);
        const a = agreement((await model.forward(inputs, { T })).y, interpret(m, { bindings: { T }, inputs, weights }).y);
        expect(a.maxRel, `T = ${T}`).toBeLessThanOrEqual(TOL);
      }
    } finally {
      model.dispose();
    }
  });

  it('npu-scratchpad stages weight tiles by DMA, double-buffered: right with a deferred-copy DMA engine', async () => {
    // The test engine copies only at DMA_WAIT, so using a tile before waiting for it (or
    // reusing a buffer whose store is in flight) gives wrong numbers.
    const target = loadTarget('npu-scratchpad');
    for (const [file, consts] of [['deepseek-v3.moe', SMALL['deepseek-v3.moe']], ['mixtral.moe', { D: 256, F: 640 }]] as const) {
      const { m, p } = compileFor(file, 'npu-scratchpad', consts, 64);
      expect(renderC(p, target).source).toContain('DMA_LOAD(stage[(i + 1) & 1]');
      const weights = randomWeights(m, 8);
      const model = loadC(p, target, weights, { flags: ['-include', join(import.meta.dirname, 'fixtures', 'dma-deferred.h')] });
      model.threads = 1;
      try {
        for (const T of [1, 64]) {
          const inputs = randomInputs(m, { T }, 9);
          const a = agreement((await model.forward(inputs, { T })).y, interpret(m, { bindings: { T }, inputs, weights }).y);
          expect(a.maxRel, `${file} at T = ${T}`).toBeLessThanOrEqual(TOL);
        }
      } finally {
        model.dispose();
      }
    }
  });

  it('thread per kernel call: the worker threads start once and are kept across kernels and calls', () => {
    // Starting threads for every parallel kernel cost ~30 us each; the runtime keeps a pool.
    const { m, p } = compileFor('mixtral.moe', 'x86-avx2', SMALL['mixtral.moe'], 16);
    const model = loadC(p, loadTarget('x86-avx2'), randomWeights(m, 3), { flags: ['-include', join(import.meta.dirname, 'fixtures', 'count-threads.h')] });
    const dir = mkdtempSync(join(tmpdir(), 'moec-threads-'));
    try {
      const inputs = randomInputs(m, { T: 16 }, 4);
      const single = model.run(inputs, 16, 1).outputs.y;
      for (const threads of [2, 3]) {
        const file = join(dir, `started-${threads}`);
        model.threads = threads;
        model.env = { MOEC_TEST_THREADS_FILE: file };
        // several calls of a program with several parallel kernels (two grouped GEMMs at least)
        const { outputs } = model.run(inputs, 16, 5);
        expect(readFileSync(file, 'utf8').trim(), `threads started for ${threads} threads`).toBe(String(threads - 1));
        expect(outputs.y.data).toEqual(single.data);
      }
    } finally {
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a timing build (-DMOEC_PROFILE) reports each kernel\'s time per run, in call order, with the same outputs', () => {
    const { m, p } = compileFor('mixtral.moe', 'x86-avx2', SMALL['mixtral.moe'], 16);
    const target = loadTarget('x86-avx2');
    const weights = randomWeights(m, 5);
    const plain = loadC(p, target, weights);
    const timed = loadC(p, target, weights, { flags: ['-DMOEC_PROFILE'] });
    try {
      const inputs = randomInputs(m, { T: 16 }, 6);
      const a = plain.run(inputs, 16, 1);
      const b = timed.run(inputs, 16, 4);
      expect(a.kernels).toBeUndefined();
      expect(b.outputs.y.data).toEqual(a.outputs.y.data);
      const fns = [...renderC(p, target).source.matchAll(/^ \*   (k\d+_\w+):/gm)].map((x) => x[1]);
      expect(fns).toEqual(['k0_router', 'k1_moe_align', 'k2_grouped_gemm', 'k3_grouped_gemm']);
      expect(Object.keys(b.kernels!)).toEqual(fns);
      const sum = Object.values(b.kernels!).reduce((x, y) => x + y, 0);
      for (const ms of Object.values(b.kernels!)) expect(ms).toBeGreaterThanOrEqual(0);
      // the mean per run: the kernels together take no longer than the median whole call (and something)
      expect(sum).toBeGreaterThan(0);
      expect(sum).toBeLessThanOrEqual(Math.max(...b.times) * 1.01);
    } finally {
      plain.dispose();
      timed.dispose();
    }
  });

  it('padding rows: a grouped GEMM tile runs the micro-kernel of its live rows, not all mr (and the parity holds at T = 3)', async () => {
    // An expert's last block ends in padding rows: the tile computed all mr rows on copies of a
    // real row (deepseek-mini i8 at T = 32: 23.4 -> 16.4 ms on one core once it did not).
    const { m, p } = compileFor('mixtral.moe', 'x86-avx512', SMALL['mixtral.moe'], 16);
    const target = loadTarget('x86-avx512');
    const src = renderC(p, target).source;
    const grouped: Tiling[] = [];
    forEachKernel(p.steps, (k) => k.kind === 'grouped_gemm' && grouped.push(k.tile!));
    const { mr, nr } = grouped[0];
    expect(mr).toBeGreaterThan(1);
    const w = nr;
    expect(src).toContain(`= { NULL, ${Array.from({ length: mr }, (_, i) => `moec_micro_${i + 1}x${w}`).join(', ')} };`);
    expect(src).toContain('if (live[t]) micro[live[t]](a + t *');
    if (!hasAvx512) return;
    const weights = randomWeights(m, 11);
    const model = loadC(p, target, weights);
    try {
      for (const T of [3, 16]) {
        const inputs = randomInputs(m, { T }, 12);
        const a = agreement((await model.forward(inputs, { T })).y, interpret(m, { bindings: { T }, inputs, weights }).y);
        expect(a.maxRel, `T = ${T}`).toBeLessThanOrEqual(TOL);
      }
    } finally {
      model.dispose();
    }
  });

  it('router logits a block of tokens at a time (one vector lane per token): the same choices and weights as token by token', () => {
    // Per token, the router read all its weights again for each token (deepseek-mini T = 256:
    // 4% of the layer on one core); a block of 4 (AVX2) or 8 (AVX-512) tokens shares the reads.
    for (const name of hasAvx512 ? ['x86-avx2', 'x86-avx512'] : ['x86-avx2']) {
      const { m, p } = compileFor('deepseek-v3.moe', name, SMALL['deepseek-v3.moe'], 40);
      const target = loadTarget(name);
      expect(renderC(p, target).source).toMatch(/if \(\(t - t0\) % MOEC_LOGIT_TOKENS == 0\) moec_logits_tokens\(x, /);
      const weights = randomWeights(m, 13);
      const blocked = loadC(p, target, weights);
      // the same program computing the logits token by token (moec_logits per token)
      const plain = loadC(p, target, weights, { flags: ['-DMOEC_LOGIT_TOKENS=1'] });
      try {
        for (const T of [1, 5, 13, 40]) {
          const inputs = randomInputs(m, { T }, 14);
          expect(blocked.run(inputs, T, 1).outputs.y.data, `${name} T = ${T}`).toEqual(plain.run(inputs, T, 1).outputs.y.data);
        }
      } finally {
        blocked.dispose();
        plain.dispose();
      }
    }
  });

  it('numerics as the reference: logits of 1e4 stay finite, a NaN token stays NaN and alone, router ties pick the lower expert', async () => {
    const { m, p } = compileFor('mixtral.moe', 'x86-avx2', SMALL['mixtral.moe'], 16);
    const weights = randomWeights(m, 10);
    // Ties: experts 0..3 share one router row, so their logits are equal and top-2 must take 0 and 1.
    const router = Float32Array.from(weights.router.data);
    const d = weights.router.shape[1];
    for (let e = 1; e < 4; e++) router.copyWithin(e * d, 0, d);
    const tied = { ...weights, router: { ...weights.router, data: router } };
    const model = loadC(p, loadTarget('x86-avx2'), tied);
    try {
      const inputs = randomInputs(m, { T: 16 }, 11);
      const x = Float32Array.from(inputs.x.data);
      for (let i = 0; i < d; i++) x[3 * d + i] *= 1e4; // token 3: router logits around 1e4
      x[5 * d + 7] = NaN; // token 5: a NaN feature
      const hostile = { x: { ...inputs.x, data: x } };
      const got = (await model.forward(hostile, { T: 16 })).y;
      const want = interpret(m, { bindings: { T: 16 }, inputs: hostile, weights: tied }).y;
      const a = agreement(got, want);
      expect(a.nanMismatch).toBe(0);
      expect(a.maxRel).toBeLessThanOrEqual(TOL);
      const cols = got.shape[1];
      const nanRows = [...new Set([...got.data.keys()].filter((i) => Number.isNaN(got.data[i])).map((i) => Math.floor(i / cols)))];
      expect(nanRows).toEqual([5]);
      for (let j = 0; j < cols; j++) expect(Number.isFinite(got.data[3 * cols + j])).toBe(true);
    } finally {
      model.dispose();
    }
  });

  for (const cc of ['gcc', 'clang'] as const)
    it.skipIf(skipWithout(cc, `the strict ${cc} build`))(`a model whose kernels all run on one thread (an embedding alone) builds under ${cc} -Werror (was: the unused thread helpers failed it)`, () => {
      const m = compile('dim T <= 8\nmodel e {\n  input ids: i32[T]\n  weight table: f32[10, 4]\n  output y = embedding(ids, table)\n}\n');
      const target = loadTarget('x86-avx2');
      const p = runPipeline(m, { target, maxTokens: 8 }).program!;
      const exe = buildExecutable(renderC(p, target), target, { cc });
      expect(runExecutable(exe, ['--check-args']).stdout).toContain('check-args: ok');
    });

  it('gives bit-identical results on 1, 2 and 3 threads (threads split output columns)', async () => {
    const { m, p } = compileFor('deepseek-v3.moe', 'x86-avx2', SMALL['deepseek-v3.moe'], 64);
    const weights = randomWeights(m, 2);
    const inputs = randomInputs(m, { T: 37 }, 3);
    const model = loadC(p, loadTarget('x86-avx2'), weights);
    try {
      const runs = [1, 2, 3].map((threads) => {
        model.threads = threads;
        return model.run(inputs, 37, 1).outputs.y.data;
      });
      expect(Array.from(runs[1])).toEqual(Array.from(runs[0]));
      expect(Array.from(runs[2])).toEqual(Array.from(runs[0]));
    } finally {
      model.dispose();
    }
  });

  for (const cc of ['gcc', 'clang'] as const)
    it.skipIf(skipWithout(cc, `the strict ${cc} build`))(`every example builds with ${cc} under ${STRICT_FLAGS.join(' ')}, and forward rejects bad arguments`, () => {
      for (const file of Object.keys(SMALL)) {
        const { p } = compileFor(file, 'x86-avx2', SMALL[file], 64);
        const exe = buildExecutable(renderC(p, loadTarget('x86-avx2')), loadTarget('x86-avx2'), { cc });
        expect(runExecutable(exe, ['--check-args']).stdout).toContain('check-args: ok');
      }
    });

  it('runs clean under AddressSanitizer and UndefinedBehaviorSanitizer at T = 1 and the bound, guards intact', async () => {
    for (const file of Object.keys(SMALL)) {
      const bound = 40;
      const { m, p } = compileFor(file, 'x86-avx2', SMALL[file], bound);
      const target = loadTarget('x86-avx2');
      const weights = randomWeights(m, 4);
      const model = loadC(p, target, weights, { sanitize: true });
      try {
        for (const T of [1, bound]) {
          const inputs = randomInputs(m, { T }, 5);
          const got = await model.forward(inputs, { T }); // the runner exits non-zero on a sanitizer report or a broken guard
          const want = interpret(m, { bindings: { T }, inputs, weights });
          expect(agreement(got.y, want.y).maxRel, `${file} at T = ${T}`).toBeLessThanOrEqual(TOL);
        }
        expect(() => model.run(randomInputs(m, { T: bound }, 5), bound + 1, 1)).toThrow(/outside 1\.\.40/);
      } finally {
        model.dispose();
      }
    }
  });

  it('<model>_arena_bytes(T) is what a T-token call touches: far below the bound at T = 8, monotone, the planned bytes at T (was: 340,627,584 bytes at every T)', () => {
    // The issue's case: mixtral.moe at D = 512, F = 1024 and its declared bound of 32,768 tokens.
    const { p } = compileFor('mixtral.moe', 'x86-avx2', { D: 512, F: 1024 }, 32768);
    const target = loadTarget('x86-avx2');
    const src = renderC(p, target);
    const Ts = [1, 2, 8, 100, 1000, 32768];
    const main = `#include <stdio.h>\n#include "${src.file}.h"\nint main(void) {\n${Ts.map((T) => `  printf("%zu\\n", mixtral_moe_arena_bytes(${T}));`).join('\n')}\n  return 0;\n}\n`;
    const r = spawnSync(buildExecutable({ ...src, main }, target), [], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const bytes = r.stdout.trim().split('\n').map(Number);
    const align = (n: number): number => Math.ceil(n / target.alignment) * target.alignment;
    // What the plan says a call with T tokens touches (the furthest end of a buffer at T).
    expect(bytes).toEqual(Ts.map((T) => align(arenaBytesAt(p, T))));
    const [, , at8, , , atBound] = bytes;
    expect(at8 * 40, `${at8} bytes at T = 8 against ${atBound} at the bound`).toBeLessThan(atBound);
    for (let i = 1; i < bytes.length; i++) expect(bytes[i]).toBeGreaterThanOrEqual(bytes[i - 1]);
    // The harness allocates arena_bytes(T) for the T it runs (ASan and guard bytes catch any overrun).
  });

  it('a runner that writes past the arena is caught by the guard bytes', () => {
    const { p } = compileFor('tiny.moe', 'x86-avx2', {}, 8);
    const target = loadTarget('x86-avx2');
    const src = renderC(p, target);
    // Sabotage: forward also writes one float just past the end of its arena.
    const bad = { ...src, source: src.source.replace(/\n {2}return TINY_OK;\n}\s*$/, `\n  ((float *)A)[tiny_arena_bytes(T) / 4] = 1.0f;\n  return TINY_OK;\n}\n`) };
    expect(bad.source).not.toEqual(src.source);
    const exe = buildExecutable(bad, target);
    const dir = mkdtempSync(join(tmpdir(), 'moec-guard-'));
    try {
      const w = join(dir, 'w.bin');
      writeFileSync(w, new Uint8Array(src.layout.bytes));
      writeFileSync(join(dir, 'x.f32'), new Uint8Array(4 * 8 * 8));
      const r = spawnSync(exe, [w, '8', '1', '1', join(dir, 'x.f32'), join(dir, 'y.f32')], { encoding: 'utf8' });
      expect(r.status).toBe(4);
      expect(r.stderr).toContain('guard after the arena');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('emitted C for every example at its real sizes matches the golden files (x86-avx2)', async () => {
    for (const file of Object.keys(SMALL)) {
      const m = compileFile(`examples/${file}`);
      const p = runPipeline(m, { target: loadTarget('x86-avx2'), maxTokens: 256 }).program!;
      const src = renderC(p, loadTarget('x86-avx2'));
      const stem = file.replace(/\.moe$/, '');
      await expect(src.header).toMatchFileSnapshot(`../golden/c/${stem}.h`);
      await expect(src.source).toMatchFileSnapshot(`../golden/c/${stem}.c`);
    }
  });

  it('the target decides the ISA: AVX2 + FMA for x86-avx2, AVX-512F for x86-avx512, portable C for the NPU', () => {
    expect(targetFlags(loadTarget('x86-avx2'))).toEqual(['-mavx2', '-mfma']);
    expect(targetFlags(loadTarget('x86-avx512'))).toEqual(['-mavx512f', '-mavx2', '-mfma']);
    expect(targetFlags(loadTarget('npu-scratchpad'))).toEqual([]);
    const source = (target: string): string => renderC(compileFor('mixtral.moe', target, { D: 64, F: 128 }, 32).p, loadTarget(target)).source;
    expect(source('x86-avx2')).toContain('_mm256_fmadd_ps');
    expect(source('x86-avx512')).toContain('_mm512_fmadd_ps');
    expect(source('npu-scratchpad')).not.toContain('_mm');
  });
});
