/**
 * The WGSL backend's attention and MLA kernels (compiler/backends/wgsl/attention.ts) with the
 * KV cache as state in GPU buffers, against the kernel interpreter (float64, two-pass softmax)
 * over sequences of calls: a prefill (L = 0), single-token decode steps (the decode split with
 * its merge pass), a prefill onto the filled cache, more steps. Each call's output within 1e-5
 * (max relative and relative L2, as the C kernels: f32 online softmax against float64). The
 * fixtures: test/fixtures/attention-stack.moe (GQA 4 over 2 kv heads, sinks and a window of 20
 * on one layer of each pair, plain causal on the other) and mla-stack.moe (DeepSeek's absorbed
 * MLA). As tiled for webgpu and with a hand-set schedule (16-key tiles, so the online softmax
 * rescales across tiles, and a 4-way decode split, so long-L decode steps merge partials).
 * Also: loadCaches (L > 0 from caches as the graph takes them), one prefill of 15 = 7 + 8 steps
 * (1e-5), reset, a bad L (E505), guard mode (no stray arena writes), a whole decoder
 * (test/fixtures/decoder-pair.moe: embedding, rope at offset L, attention) over a sequence,
 * rope at far positions (2e-6 up to L = 500000), input caches refused (E701), and the emitted
 * attention and MLA WGSL as golden files.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE_GPU } from '../../compiler/backends/wgsl/node-gpu.ts';
import { kernelFile, wgslBackendOn } from '../../compiler/backends/wgsl/index.ts';
import { planWgsl } from '../../compiler/backends/wgsl/plan.ts';
import { type WgslModel, loadWgsl } from '../../compiler/backends/wgsl/runtime.ts';
import { packWeights, weightBlob } from '../../compiler/backends/weights.ts';
import { compile, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import { allocateState } from '../../ir/kernel/attention.ts';
import { stateBuffers, stateFromCaches } from '../../compiler/backends/state-caches.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import { mapKernels } from '../../ir/kernel/walk.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { expectAgreement } from '../expect-agreement.ts';
import { missingAdapter, strayWrites } from './wgsl-harness.ts';

const TOL = 1e-5;
const CONTEXT = 64;
const target = loadTarget('webgpu');
const missing = await missingAdapter('the WGSL attention tests');

interface Fixture {
  file: string;
  kind: 'attention' | 'mla_attention';
  seed: number;
  names: string[];
}
const FIXTURES: Fixture[] = [
  { file: 'test/fixtures/attention-stack.moe', kind: 'attention', seed: 11, names: ['x', 'k', 'v'] },
  { file: 'test/fixtures/mla-stack.moe', kind: 'mla_attention', seed: 13, names: ['q_nope', 'q_pe', 'kv', 'k_pe'] },
];
const modules = new Map(FIXTURES.map((f) => [f.file, compile(readFileSync(f.file, 'utf8'), { path: f.file })]));

/** The program of a fixture, as tiled or with a hand-set schedule [key tile, splits, MLA head block]. */
function program(f: Fixture, schedule?: readonly [number, number, number], maxContext: number | null = CONTEXT): KProgram {
  const p = runPipeline(modules.get(f.file)!, { target, maxTokens: 16, ...(maxContext !== null ? { maxContext } : {}) }).program!;
  if (!schedule) return p;
  const [keyTile, splits, headBlock] = schedule;
  return { ...p, steps: mapKernels(p.steps, (k) => (k.kind === f.kind ? { ...k, schedule: { keyTile, splits, ...(k.kind === 'mla_attention' ? { headBlock } : {}) } } : k)) };
}

/** The inputs of the call at [L, T], seeded by position, so a prefill and the steps it replaces see the same tokens. */
function inputsAt(f: Fixture, L: number, T: number): Record<string, Tensor> {
  const m = modules.get(f.file)!;
  const rows = Array.from({ length: T }, (_, t) => randomInputs(m, { T: 1, L: 1 }, 100 + L + t));
  const out: Record<string, Tensor> = {};
  for (const name of f.names) {
    const one = rows[0][name];
    const data = new Float32Array(T * one.data.length);
    rows.forEach((r, t) => data.set(r[name].data, t * one.data.length));
    out[name] = { dtype: 'f32', shape: [T, ...one.shape.slice(1)], data };
  }
  return out;
}

/** The first L positions of each state cache of the interpreter: caches as the graph takes them, by name. */
function cachesOf(p: KProgram, state: Record<string, Tensor>, L: number, context = CONTEXT): Record<string, Tensor> {
  const caches: Record<string, Tensor> = {};
  for (const { name, shape, axis } of stateBuffers(p)) {
    const inner = shape.slice(axis + 1).reduce((a, c) => a * c, 1);
    const outer = shape.slice(0, axis).reduce((a, c) => a * c, 1);
    const data = new Float32Array(outer * L * inner);
    for (let o = 0; o < outer; o++) data.set(state[name].data.subarray(o * context * inner, o * context * inner + L * inner), o * L * inner);
    caches[name] = { dtype: 'f32', shape: shape.map((d, i) => (i === axis ? L : d)), data };
  }
  return caches;
}

async function load(f: Fixture, p: KProgram, guard = false): Promise<WgslModel> {
  const plan = planWgsl(p, target);
  return loadWgsl(plan, weightBlob(plan.weights, packWeights(p, randomWeights(modules.get(f.file)!, f.seed))), { gpu: NODE_GPU, guard });
}

/** A prefill, 8 steps, a prefill onto the filled cache, then steps up to L = 50 (the split cuts 51 keys into 4 parts of 16-key tiles). */
const CALLS: Array<[number, number]> = [[0, 7], ...Array.from({ length: 8 }, (_, i): [number, number] => [7 + i, 1]), [15, 16], ...Array.from({ length: 20 }, (_, i): [number, number] => [31 + i, 1])];

describe.skipIf(missing !== null)('WGSL backend: attention and MLA with the KV cache in GPU buffers', () => {
  for (const f of FIXTURES)
    for (const schedule of [undefined, [16, 4, 2]] as const)
      it(`${f.kind}${schedule ? ` with 16-key tiles and a 4-way decode split` : ' as tiled'}: every call of a sequence matches the kernel interpreter; shaders compile cleanly`, async () => {
        const p = program(f, schedule);
        const model = await load(f, p);
        const state = allocateState(p);
        const W = randomWeights(modules.get(f.file)!, f.seed);
        try {
          for (const [name, msgs] of Object.entries(model.messages)) expect(msgs, name).toEqual([]);
          for (const [L, T] of CALLS) {
            const inputs = inputsAt(f, L, T);
            const got = await model.forward(inputs, { T, L });
            const want = interpretKernelIR(p, { bindings: { T, L }, inputs, weights: W, state });
            expectAgreement(got.y, want.y, { maxRel: TOL, relL2: TOL }, `L = ${L}, T = ${T}`);
          }
        } finally {
          model.dispose();
        }
      }, 120_000);

  for (const f of FIXTURES)
    it(`${f.kind}: more query rows in a group than invocations in a workgroup (a workgroup of 1), and query rows read from the arena (no room to stage them in workgroup memory): the same numbers`, async () => {
      const W = randomWeights(modules.get(f.file)!, f.seed);
      const base = program(f, [16, 4, 4]);
      const p = { ...base, steps: mapKernels(base.steps, (k) => (k.kind === f.kind ? { ...k, threads: { ...k.threads, workgroup: 1 } } : k)) };
      // Room for a 16-key tile, its scores and the rows' max and sum, not for the query rows too.
      const t = { ...target, limits: { ...target.limits, maxWorkgroupStorageBytes: f.kind === 'attention' ? 1200 : 1600 } };
      const plan = planWgsl(p, t);
      const attend = plan.kernels.filter((k) => k.name.endsWith('.attend'));
      expect(attend.map((k) => [k.shader.code.includes('var<workgroup> qs'), k.shader.code.includes('jt += 16u')])).toEqual(attend.map(() => [false, true]));
      const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(p, W)), { gpu: NODE_GPU });
      const state = allocateState(p);
      try {
        for (const [L, T] of CALLS.slice(0, 12)) {
          const inputs = inputsAt(f, L, T);
          const got = await model.forward(inputs, { T, L });
          expectAgreement(got.y, interpretKernelIR(p, { bindings: { T, L }, inputs, weights: W, state }).y, { maxRel: TOL, relL2: TOL }, `L = ${L}, T = ${T}`);
        }
      } finally {
        model.dispose();
      }
    }, 120_000);

  for (const f of FIXTURES)
    it(`${f.kind}: the state cut into GPU buffers of one layer each (a 4 KiB buffer limit), and layer slices off the 256-byte binding alignment (a context of 62): the same numbers`, async () => {
      const W = randomWeights(modules.get(f.file)!, f.seed);
      for (const [ctx, limits] of [[CONTEXT, { maxBufferBytes: 4096 }], [62, {}]] as const) {
        const p = program(f, [16, 4, 2], ctx);
        const t = { ...target, limits: { ...target.limits, ...limits } };
        const plan = planWgsl(p, t);
        // A cache of two layers over 4 KiB: a GPU buffer per layer.
        if (ctx === CONTEXT) expect(plan.state.map((st) => st.chunks.length), 'GPU buffers per cache').toEqual(plan.state.map((st) => (st.bytes > 4096 ? 2 : 1)));
        else expect(plan.schedule({ T: 1, L: 0 }).flatMap((c) => (c.kind === 'dispatch' ? c.state ?? [] : [])).some((r) => r.offset % 256 === 0 && r.bytes % 256 !== 0), 'a layer bound off the alignment').toBe(true);
        const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(p, W)), { gpu: NODE_GPU });
        const state = allocateState(p);
        try {
          for (const [L, T] of CALLS) {
            const inputs = inputsAt(f, L, T);
            const got = await model.forward(inputs, { T, L });
            const want = interpretKernelIR(p, { bindings: { T, L }, inputs, weights: W, state });
            expectAgreement(got.y, want.y, { maxRel: TOL, relL2: TOL }, `context ${ctx}: L = ${L}, T = ${T}`);
          }
          // loadCaches writes every GPU buffer of the state: resume from the interpreter's caches.
          model.reset!();
          model.loadCaches!(cachesOf(p, state, 51, ctx), 51);
          const inputs = inputsAt(f, 51, 2);
          const got = await model.forward(inputs, { T: 2, L: 51 });
          expectAgreement(got.y, interpretKernelIR(p, { bindings: { T: 2, L: 51 }, inputs, weights: W, state }).y, { maxRel: TOL, relL2: TOL }, `context ${ctx}: after loadCaches`);
        } finally {
          model.dispose();
        }
      }
    }, 120_000);

  for (const f of FIXTURES)
    it(`${f.kind}: loadCaches resumes at L > 0 from caches as the graph takes them (prefill and decode after it); one prefill of 15 equals 7 + 8 steps; reset; a bad L is E505`, async () => {
      const p = program(f, [16, 4, 2]);
      const W = randomWeights(modules.get(f.file)!, f.seed);
      // The interpreter's state after a prefill of 16 and 4 more, cut to its 20 positions: the caches a caller holds.
      const state = allocateState(p);
      interpretKernelIR(p, { bindings: { T: 16, L: 0 }, inputs: inputsAt(f, 0, 16), weights: W, state });
      interpretKernelIR(p, { bindings: { T: 4, L: 16 }, inputs: inputsAt(f, 16, 4), weights: W, state });
      const caches = cachesOf(p, state, 20);
      const model = await load(f, p);
      try {
        for (const [L, T] of [[20, 5], [25, 1], [26, 1]] as const) {
          if (L === 20) model.loadCaches!(caches, 20);
          const inputs = inputsAt(f, L, T);
          const pending = model.forward(inputs, { T, L });
          // A reset asked for while the forward waits its turn comes after it (it cleared the caches under it).
          if (L === 26) model.reset!();
          const want = interpretKernelIR(p, { bindings: { T, L }, inputs, weights: W, state });
          expectAgreement((await pending).y, want.y, { maxRel: TOL, relL2: TOL }, `after loadCaches: L = ${L}, T = ${T}`);
        }
        const steps: number[] = [];
        steps.push(...(await model.forward(inputsAt(f, 0, 7), { T: 7, L: 0 })).y.data);
        for (let L = 7; L < 15; L++) steps.push(...(await model.forward(inputsAt(f, L, 1), { T: 1, L })).y.data);
        model.reset!();
        const once = (await model.forward(inputsAt(f, 0, 15), { T: 15, L: 0 })).y.data;
        expectAgreement({ dtype: 'f32', shape: [steps.length], data: Float32Array.from(steps) }, { dtype: 'f32', shape: [once.length], data: Float32Array.from(once) }, { maxRel: TOL, relL2: TOL }, '15 = 7 + 8');
        await expect(model.forward(inputsAt(f, 60, 8), { T: 8, L: 60 })).rejects.toThrow(/E505: L = 60 cached positions and T = 8 new ones do not fit the context bound 64/);
        await expect(model.forward(inputsAt(f, 0, 1), { T: 1 })).rejects.toThrow(/E505: L = undefined cached positions/);
      } finally {
        model.dispose();
      }
    }, 120_000);

  for (const f of FIXTURES)
    it(`${f.kind}: in guard mode no kernel writes outside its arena buffers (prefill at the bound, a split decode step)`, async () => {
      const p = program(f, [16, 4, 2]);
      const plan = planWgsl(p, target);
      const model = await load(f, p, true);
      try {
        for (const [L, T] of [[0, 16], [16, 16], [32, 1], [33, 16], [49, 1]] as const) {
          await model.forward(inputsAt(f, L, T), { T, L });
          expect(strayWrites(p, plan, T, model.lastArena!), `L = ${L}, T = ${T}`).toEqual([]);
        }
      } finally {
        model.dispose();
      }
    }, 120_000);
});

describe.skipIf(missing !== null)('WGSL backend: a whole decoder (embedding, rmsnorm, rope at offset L, GQA attention with sinks and a window)', () => {
  it('test/fixtures/decoder-pair.moe: every call of a sequence matches the kernel interpreter (rope and attention take the call\'s L from the parameter record, not from a schedule cached by T)', async () => {
    const file = 'test/fixtures/decoder-pair.moe';
    const m = compile(readFileSync(file, 'utf8'), { path: file });
    const p = runPipeline(m, { target, maxTokens: 16, maxContext: 32 }).program!;
    const W = randomWeights(m, 5);
    const plan = planWgsl(p, target);
    const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(p, W)), { gpu: NODE_GPU });
    const state = allocateState(p);
    try {
      // Steps of one token at L = 4..9 share one schedule (T = 1); the two prefills at T = 4 another.
      for (const [L, T] of [[0, 4], [4, 1], [5, 1], [6, 1], [7, 1], [8, 1], [9, 1], [10, 4], [14, 4]] as const) {
        const ids: Tensor = { dtype: 'i32', shape: [T], data: Int32Array.from({ length: T }, (_, t) => ((L + t) * 7) % 10) };
        const got = await model.forward({ ids }, { T, L });
        const want = interpretKernelIR(p, { bindings: { T, L }, inputs: { ids }, weights: W, state });
        expectAgreement(got.y, want.y, { maxRel: TOL, relL2: TOL }, `L = ${L}, T = ${T}`);
      }
    } finally {
      model.dispose();
    }
  }, 120_000);
});

describe.skipIf(missing !== null)('WGSL backend: a long context', () => {
  it('the whole decoder after 4090 cached positions (loadCaches): decode steps split 8 ways by the tiler\'s schedule, and a prefill onto them, within 1e-5 of the kernel interpreter (measured: 2e-7)', async () => {
    const file = 'test/fixtures/decoder-pair.moe';
    const m = compile(readFileSync(file, 'utf8').replace('dim L <= 32', 'dim L <= 8192'), { path: file });
    const p = runPipeline(m, { target, maxTokens: 16, maxContext: 4104 }).program!;
    const W = randomWeights(m, 5);
    const plan = planWgsl(p, target);
    const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(p, W)), { gpu: NODE_GPU });
    const L0 = 4090;
    // Seeded caches of L0 positions, as a caller would hold them.
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const caches: Record<string, Tensor> = {};
    for (const { name, shape, axis } of stateBuffers(p)) {
      const dims = shape.map((d, i) => (i === axis ? L0 : d));
      caches[name] = { dtype: 'f32', shape: dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, rand) };
    }
    const state = Object.fromEntries(stateFromCaches(p, caches, L0).map((c) => [c.name, { dtype: 'f32' as const, shape: c.shape, data: c.data }]));
    try {
      model.loadCaches!(caches, L0);
      for (const [L, T] of [[L0, 1], [L0 + 1, 1], [L0 + 2, 8], [L0 + 10, 1]] as const) {
        const ids: Tensor = { dtype: 'i32', shape: [T], data: Int32Array.from({ length: T }, (_, t) => ((L + t) * 7) % 10) };
        const got = await model.forward({ ids }, { T, L });
        const want = interpretKernelIR(p, { bindings: { T, L }, inputs: { ids }, weights: W, state });
        expectAgreement(got.y, want.y, { maxRel: TOL, relL2: TOL }, `L = ${L}, T = ${T}`);
      }
    } finally {
      model.dispose();
    }
  }, 120_000);
});

describe.skipIf(missing !== null)('WGSL backend: rope at far positions', () => {
  it('the angle reduced with the position split in two: max relative error <= 2e-6 of the float64 interpreter up to L = 500000 (the f32 angle p * f was 9e-5 off at L = 4090, 9e-3 at 500000)', async () => {
    const m = compile('dim T <= 16\ndim L <= 1000000\nmodel r {\n  input x: f32[T, 4, 64]\n  output y = rope(x, offset=L, theta=10000.0)\n}\n');
    const p = runPipeline(m, { target, maxTokens: 16 }).program!;
    const plan = planWgsl(p, target);
    const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(p, {})), { gpu: NODE_GPU });
    try {
      for (const L of [0, 100, 4090, 32768, 500000]) {
        const x = randomInputs(m, { T: 4, L }, 1);
        const got = await model.forward(x, { T: 4, L });
        expectAgreement(got.y, interpretKernelIR(p, { bindings: { T: 4, L }, inputs: x, weights: {} }).y, { maxRel: 2e-6, relL2: 2e-6 }, `L = ${L}`);
      }
    } finally {
      model.dispose();
    }
  }, 60_000);
});

describe('WGSL backend: attention programs, adapter-free', () => {
  const backend = wgslBackendOn(NODE_GPU);
  it('stateFromCaches takes the stacked caches only, not a layer loop\'s slices of them (it asked for a cache of every slice too)', () => {
    const p = program(FIXTURES[0]);
    const caches = cachesOf(p, allocateState(p), 5);
    expect(Object.keys(caches).sort()).toEqual(['layers.a.k_cache', 'layers.a.v_cache', 'layers.b.k_cache', 'layers.b.v_cache']);
    expect(stateFromCaches(p, caches, 5).map((c) => c.shape)).toEqual(Array(4).fill([2, CONTEXT, 2, 8]));
  });

  it('refuses caches that are inputs (no context bound) with E701 and a hint', () => {
    for (const f of FIXTURES) expect(() => backend.emit(program(f, undefined, null), target)).toThrow(new RegExp(`E701: the WGSL backend runs ${f.kind} with the KV cache as state the model owns, but \\S+ is an input`));
  });

  it('a context bound whose one layer of cache passes the storage binding size is E505 with a hint, before any GPU work', () => {
    const p = program(FIXTURES[0], undefined, 2 ** 22);
    expect(() => planWgsl(p, target)).toThrow(/E505: one layer of the KV cache layers\.a\.k_cache takes 268435456 bytes at the context bound 4194304, over webgpu's 134217728-byte storage binding/);
  });

  it('every attention and MLA shader fits the default limits (16 KiB of workgroup memory, 8 storage buffers)', () => {
    for (const f of FIXTURES) {
      const plan = planWgsl(program(f), target);
      for (const k of plan.kernels) expect(k.shader.workgroupBytes, k.name).toBeLessThanOrEqual(16384);
    }
  });

  it('emits the attention and MLA kernels as in the golden files (webgpu)', async () => {
    for (const [f, stem] of [[FIXTURES[0], 'attention-stack'], [FIXTURES[1], 'mla-stack']] as const) {
      const p = program(f);
      const plan = planWgsl(p, target);
      const files = backend.emit(p, target);
      const text = plan.kernels.map((_, i) => kernelFile(plan, i)).map((n) => `// ---- ${n}\n${files[n] as string}`).join('\n');
      await expect(text).toMatchFileSnapshot(`../golden/wgsl/${stem}.wgsl`);
      await expect(files['manifest.json']).toMatchFileSnapshot(`../golden/wgsl/${stem}.manifest.json`);
    }
  });
});
