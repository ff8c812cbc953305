/**
 * The C backend's MLA kernel (targets/c/mla.c.hbs: DeepSeek's absorbed form and the naive one
 * that expands the latents, the latent and rope-key caches in the caller's region) against
 * the kernel interpreter over a sequence of calls (prefill, single-token steps, a prefill onto
 * the filled cache), as tiled and with 16-key tiles and a 4-way decode split, in each form and
 * in the cheaper one per call (which must be the form ir/kernel/mla.ts mlaForm picks); strict
 * builds, ASan + UBSan; the emitted kernel snapshotted.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadC } from '../../compiler/backends/c/index.ts';
import { STRICT_FLAGS, buildExecutable, runExecutable } from '../../compiler/backends/c/build.ts';
import { renderC } from '../../compiler/backends/c/render.ts';
import { compile, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import { type AttentionSchedule, allocateState } from '../../ir/kernel/attention.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import { forEachKernel, mapKernels } from '../../ir/kernel/walk.ts';
import { mlaForm } from '../../ir/kernel/mla.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { expectAgreement } from '../expect-agreement.ts';
import { skipWithout } from '../optional-packages.ts';

const TOL = 1e-5;
const M = compile(readFileSync('test/fixtures/mla-stack.moe', 'utf8'), { path: 'test/fixtures/mla-stack.moe' });
const W = randomWeights(M, 13);

/** The program for `target`, as tiled or with a hand-set schedule [key tile, splits, head block, form (absent: absorbed)]. */
function program(target: string, schedule?: readonly [number, number, number, AttentionSchedule['form']?]): KProgram {
  const p = runPipeline(M, { target: loadTarget(target), maxTokens: 16, maxContext: 64 }).program!;
  if (!schedule) return p;
  const form = schedule[3] !== undefined ? { form: schedule[3] } : {};
  return { ...p, steps: mapKernels(p.steps, (k) => (k.kind === 'mla_attention' ? { ...k, schedule: { keyTile: schedule[0], splits: schedule[1], headBlock: schedule[2], ...form } } : k)) };
}

const CALLS: Array<[number, number]> = [[0, 7], ...Array.from({ length: 8 }, (_, i): [number, number] => [7 + i, 1]), [15, 16], ...Array.from({ length: 10 }, (_, i): [number, number] => [31 + i, 1])];

function inputsAt(L: number, T: number): Record<string, Tensor> {
  const rows = Array.from({ length: T }, (_, t) => randomInputs(M, { T: 1, L: 1 }, 70 + L + t));
  const out: Record<string, Tensor> = {};
  for (const name of ['q_nope', 'q_pe', 'kv', 'k_pe']) {
    const one = rows[0][name];
    const data = new Float32Array(T * one.data.length);
    rows.forEach((r, t) => data.set(r[name].data, t * one.data.length));
    out[name] = { dtype: 'f32', shape: [T, ...one.shape.slice(1)], data };
  }
  return out;
}

describe('C backend: DeepSeek MLA (absorbed) with the latent cache as state', () => {
  for (const [target, schedule] of [
    ['x86-avx2', undefined],
    ['x86-avx2', [16, 4, 2]],
    ['x86-avx2', [16, 4, 2, 'naive']],
    ['x86-avx2', [16, 4, 2, 'cheaper']],
    ['npu-scratchpad', [16, 4, 1]],
    ['npu-scratchpad', [16, 4, 1, 'naive']],
  ] as const)
    it(`${target}${schedule ? ` with tiles of ${schedule[0]} keys, a decode split of ${schedule[1]}, heads in blocks of ${schedule[2]}, ${schedule[3] ?? 'absorbed'} form` : ' as tiled'}: every call of a sequence matches the kernel interpreter`, async () => {
      const p = program(target, schedule);
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

  it('the tiler schedules the cheaper form per call; each call runs the form mlaForm picks for its T and L, bit for bit', async () => {
    const tiled = program('x86-avx2');
    forEachKernel(tiled.steps, (k) => k.kind === 'mla_attention' && expect(k.schedule?.form).toBe('cheaper'));
    const sizes = { heads: 4, dn: 8, dr: 4, dv: 8, c: 16 };
    const runs: Record<string, number[][]> = {};
    for (const form of ['absorbed', 'naive', 'cheaper'] as const) {
      const model = loadC(program('x86-avx2', [16, 4, 2, form]), loadTarget('x86-avx2'), W);
      try {
        runs[form] = [];
        for (const [L, T] of CALLS) runs[form].push(Array.from((await model.forward(inputsAt(L, T), { T, L })).y.data));
      } finally {
        model.dispose();
      }
    }
    const picked = CALLS.map(([L, T]) => mlaForm(T, L, sizes));
    // The sequence has calls of both forms, and the forms round differently: the test can tell them apart.
    expect(new Set(picked)).toEqual(new Set(['absorbed', 'naive']));
    expect(runs.naive).not.toEqual(runs.absorbed);
    CALLS.forEach(([L, T], i) => expect(runs.cheaper[i], `L = ${L}, T = ${T}: ${picked[i]}`).toEqual(runs[picked[i]][i]));
  });

  it('the results do not depend on the thread count (the decode split is fixed by the schedule, not the threads)', async () => {
    const p = program('x86-avx2', [16, 4, 2, 'cheaper']);
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
    it.skipIf(skipWithout(cc, `the strict ${cc} build`))(`builds with ${cc} under ${STRICT_FLAGS.join(' ')}`, () => {
      const t = loadTarget('x86-avx2');
      const exe = buildExecutable(renderC(program('x86-avx2', [16, 4, 2, 'cheaper']), t), t, { cc });
      expect(runExecutable(exe, ['--check-args']).stdout).toContain('check-args: ok');
    });

  it('runs clean under AddressSanitizer and UndefinedBehaviorSanitizer, cache guard intact', async () => {
    // the cheaper form: the calls of 16 tokens run naive, the last (T = 1 at L = 63) absorbed
    const model = loadC(program('x86-avx2', [16, 4, 2, 'cheaper']), loadTarget('x86-avx2'), W, { sanitize: true });
    model.threads = 4;
    try {
      for (const [L, T] of [[0, 16], [16, 16], [32, 16], [48, 15], [63, 1]] as const) await model.forward(inputsAt(L, T), { T, L });
    } finally {
      model.dispose();
    }
  });

  it('emits the MLA kernel as in the golden files (x86-avx2)', async () => {
    const src = renderC(program('x86-avx2'), loadTarget('x86-avx2'));
    await expect(src.source).toMatchFileSnapshot('../golden/c/mla-stack.c');
  });
});
