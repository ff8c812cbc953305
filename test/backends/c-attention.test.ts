/**
 * The C backend's attention kernel (targets/c/attention.c.hbs) and the KV cache as a
 * caller-owned region, against the kernel interpreter: a stack of GQA layers with sinks and
 * a sliding window (test/fixtures/attention-stack.moe) run as a sequence of calls, prefill
 * (L = 0), single-token decode steps and a prefill onto a filled cache, each call's output
 * within 1e-5 of the interpreter's (the C kernel sums in float32 with an online softmax, the
 * interpreter in float64 with a two-pass one). Both the tiler's schedule and a hand-set one
 * (tiles of 16 keys, so the online softmax rescales across tiles, and a decode split over 4
 * threads, so partial softmaxes are merged). The runner keeps the cache between calls; one
 * prefill of 15 equals 7 + 8 steps; forward rejects a bad context; the emitted C is snapshotted.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadC } from '../../compiler/backends/c/index.ts';
import { STRICT_FLAGS, buildExecutable, runExecutable } from '../../compiler/backends/c/build.ts';
import { renderC } from '../../compiler/backends/c/render.ts';
import { getBackend } from '../../compiler/backends/registry.ts';
import { compile, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import type { MoecError } from '../../ir/diagnostics.ts';
import { allocateState } from '../../ir/kernel/attention.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import { mapKernels } from '../../ir/kernel/walk.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { expectAgreement } from '../expect-agreement.ts';
import { skipWithout } from '../optional-packages.ts';
import { cli } from '../capture.ts';
import { cpuHas } from '../../bench/native.ts';

const TOL = 1e-5;
const M = compile(readFileSync('test/fixtures/attention-stack.moe', 'utf8'), { path: 'test/fixtures/attention-stack.moe' });
const W = randomWeights(M, 11);
const CONTEXT = 64;

/** The program for `target`, its caches state of `maxContext` positions (null: inputs, as the graph has them). */
function program(target: string, maxContext: number | null = CONTEXT): KProgram {
  return runPipeline(M, { target: loadTarget(target), maxTokens: 16, ...(maxContext !== null ? { maxContext } : {}) }).program!;
}

/** The program with every attention kernel's schedule set by hand (no query block: the C renderer's own). */
function scheduled(p: KProgram, keyTile: number, splits: number, queryBlock?: number): KProgram {
  return { ...p, steps: mapKernels(p.steps, (k) => (k.kind === 'attention' ? { ...k, schedule: { keyTile, splits, ...(queryBlock ? { queryBlock } : {}) } } : k)) };
}

/** The calls of one sequence: [L, T]: a prefill, single-token steps, a prefill onto the filled cache, more steps. */
const CALLS: Array<[number, number]> = [[0, 7], ...Array.from({ length: 8 }, (_, i): [number, number] => [7 + i, 1]), [15, 16], ...Array.from({ length: 12 }, (_, i): [number, number] => [31 + i, 1])];

/** The inputs of the call at [L, T] (seeded by L, so a prefill and the steps it replaces see the same tokens). */
function inputsAt(L: number, T: number): Record<string, Tensor> {
  const rows = Array.from({ length: T }, (_, t) => randomInputs(M, { T: 1, L: 1 }, 100 + L + t));
  const cat = (name: string): Tensor => {
    const one = rows[0][name];
    const data = new Float32Array(T * one.data.length);
    rows.forEach((r, t) => data.set(r[name].data, t * one.data.length));
    return { dtype: 'f32', shape: [T, ...one.shape.slice(1)], data };
  };
  return { x: cat('x'), k: cat('k'), v: cat('v') };
}

describe('C backend: attention with the KV cache as state', () => {
  // Prefill blocks of 3 queries (2 heads each) against tiles of 4 or 16 keys: a call of 7 or 16
  // tokens has several blocks, the last one short, blocks whose keys cross the window's start,
  // and tiles cut by the causal diagonal; npu-scratchpad has no vector ISA (the portable C path).
  for (const [target, schedule] of [['x86-avx2', undefined], ['x86-avx2', [16, 4]], ['x86-avx2', [4, 3, 3]], ...(cpuHas('avx512f') ? [['x86-avx512', [16, 4, 3]] as const] : []), ['npu-scratchpad', [16, 4]], ['npu-scratchpad', [4, 3, 3]]] as const)
    it(`${target}${schedule ? ` with tiles of ${schedule[0]} keys, a decode split of ${schedule[1]}${schedule[2] ? ` and prefill blocks of ${schedule[2]} queries` : ''}` : ' as tiled'}: every call of a sequence matches the kernel interpreter`, async () => {
      const base = program(target);
      const p = schedule ? scheduled(base, schedule[0], schedule[1], schedule[2]) : base;
      const model = loadC(p, loadTarget(target), W);
      model.threads = 4;
      const state = allocateState(p);
      try {
        for (const [L, T] of CALLS) {
          const inputs = inputsAt(L, T);
          const got = await model.forward(inputs, { T, L });
          const want = interpretKernelIR(p, { bindings: { T, L }, inputs, weights: W, state });
          expectAgreement(got.y, want.y, { maxRel: TOL, relL2: TOL }, `L = ${L}, T = ${T}`);
        }
      } finally {
        model.dispose();
      }
    });

  it('one prefill of 15 tokens equals a prefill of 7 and 8 single-token steps; reset starts afresh', async () => {
    const p = scheduled(program('x86-avx2'), 16, 4);
    const model = loadC(p, loadTarget('x86-avx2'), W);
    model.threads = 4;
    try {
      const steps: number[] = [];
      steps.push(...(await model.forward(inputsAt(0, 7), { T: 7, L: 0 })).y.data);
      for (let L = 7; L < 15; L++) steps.push(...(await model.forward(inputsAt(L, 1), { T: 1, L })).y.data);
      model.reset();
      const once = Array.from((await model.forward(inputsAt(0, 15), { T: 15, L: 0 })).y.data);
      expectAgreement({ dtype: 'f32', shape: [steps.length], data: Float32Array.from(steps) }, { dtype: 'f32', shape: [once.length], data: Float32Array.from(once) }, { maxRel: TOL, relL2: TOL });
      expect(() => model.run(inputsAt(60, 8), 8, 1, 60)).toThrow(/E505: L = 60 cached positions and T = 8 new ones do not fit the context bound 64/);
    } finally {
      model.dispose();
    }
  });

  it('the results do not depend on the thread count (the decode split and the prefill blocks are fixed by the schedule, not the threads)', async () => {
    const p = scheduled(program('x86-avx2'), 16, 4, 3);
    const runs: number[][] = [];
    for (const threads of [1, 3, 4]) {
      const model = loadC(p, loadTarget('x86-avx2'), W);
      model.threads = threads;
      try {
        const out: number[] = [];
        for (const [L, T] of CALLS) out.push(...(await model.forward(inputsAt(L, T), { T, L })).y.data);
        runs.push(out);
      } finally {
        model.dispose();
      }
    }
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
  });

  for (const cc of ['gcc', 'clang'] as const)
    it.skipIf(skipWithout(cc, `the strict ${cc} build`))(`builds with ${cc} under ${STRICT_FLAGS.join(' ')}; forward rejects a bad L, context or cache`, () => {
      const t = loadTarget('x86-avx2');
      const exe = buildExecutable(renderC(scheduled(program('x86-avx2'), 16, 4), t), t, { cc });
      expect(runExecutable(exe, ['--check-args']).stdout).toContain('check-args: ok');
    });

  it('runs clean under AddressSanitizer and UndefinedBehaviorSanitizer, cache guard intact', async () => {
    const p = scheduled(program('x86-avx2'), 16, 4);
    const model = loadC(p, loadTarget('x86-avx2'), W, { sanitize: true });
    model.threads = 4;
    try {
      // the runner exits non-zero on a sanitizer report or a broken guard
      for (const [L, T] of [[0, 16], [16, 16], [32, 16], [48, 15], [63, 1]] as const) await model.forward(inputsAt(L, T), { T, L });
    } finally {
      model.dispose();
    }
  });

  it('refuses a cache that is an input (no context bound) with E701 and a hint, as Wasm and WGSL do', async () => {
    const t = loadTarget('x86-avx2');
    const p = program('x86-avx2', null);
    expect(() => renderC(p, t)).toThrow(/E701: the C backend runs attention with the KV cache as state the model owns, but layers\.layers\.a\.k_cache is an input/);
    try {
      renderC(p, t);
    } catch (e) {
      expect((e as MoecError).diagnostics[0].hint).toMatch(/--max-context/);
    }
    for (const [name, target] of [['wasm', 'wasm-simd128'], ['wgsl', 'webgpu']] as const) {
      const backend = await getBackend(name);
      expect(() => backend.emit(program(target, null), loadTarget(target)), name).toThrow(/E701: the \w+ backend runs attention with the KV cache as state the model owns, but \S+ is an input/);
    }
  });

  it('moec ir and compile take --max-context: the caches become state and the C code takes L and the cache region', async () => {
    const ir = await cli('ir', 'test/fixtures/attention-stack.moe', '--after', 'lower-kernels', '--max-context', '48');
    expect(ir.code).toBe(0);
    expect(ir.out).toContain('max_context 48');
    expect(ir.out).toMatch(/buffer layers\.a\.k_cache: f32\[2, CTX, 2, 8\] state/);
    const without = await cli('ir', 'test/fixtures/attention-stack.moe', '--after', 'lower-kernels');
    expect(without.out).toMatch(/buffer layers\.a\.k_cache: f32\[2, L, 2, 8\] input/);
    const dir = mkdtempSync(join(tmpdir(), 'moec-attn-'));
    try {
      const c = await cli('compile', 'test/fixtures/attention-stack.moe', '--target', 'x86-avx2', '--max-context', '48', '-o', dir);
      expect(c.code, c.err).toBe(0);
      expect(c.out).toMatch(/attention \(online softmax, window 20, sinks\)\n\s+key tile \d+, decode split \d+, prefill in blocks of \d+ queries\n/);
      expect(readFileSync(join(dir, 'm.h'), 'utf8')).toContain('#define M_MAX_CONTEXT 48');
      // Without --max-context compile gives the caches state of the model's bound on L (64) by default
      const byDefault = await cli('compile', 'test/fixtures/attention-stack.moe', '--target', 'x86-avx2', '-o', dir);
      expect(byDefault.code, byDefault.err).toBe(0);
      expect(byDefault.out).toContain('state: KV caches of 64 positions');
      expect(readFileSync(join(dir, 'm.h'), 'utf8')).toContain('#define M_MAX_CONTEXT 64');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const bad = await cli('compile', 'test/fixtures/attention-stack.moe', '--target', 'x86-avx2', '--max-context', '0');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--max-context must be a whole number from 1');
  });

  it('emits the attention kernel and the cache ABI as in the golden files (x86-avx2)', async () => {
    const src = renderC(program('x86-avx2'), loadTarget('x86-avx2'));
    await expect(src.header).toMatchFileSnapshot('../golden/c/attention-stack.h');
    await expect(src.source).toMatchFileSnapshot('../golden/c/attention-stack.c');
  });
});
