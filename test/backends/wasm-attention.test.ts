/**
 * The Wasm backend's attention and MLA kernels (compiler/backends/wasm/attention.ts, mla.ts)
 * with the KV caches as state in linear memory, against the kernel interpreter: the GQA stack
 * with sinks and a sliding window (test/fixtures/attention-stack.moe) and DeepSeek's latent
 * attention (test/fixtures/mla-stack.moe) run as a sequence of calls: a prefill (L = 0),
 * single-token steps, a prefill onto the filled cache, more steps, each call's output within
 * 1e-5 (max |Δ| relative to the output's scale, and relL2) of the interpreter's (the kernels sum
 * in float32 with an online softmax, the interpreter in float64 with a two-pass one). As tiled,
 * and with tiles of 16 keys (the online softmax rescales across tiles) and a decode split of 4
 * (the steps past 16 keys merge partial softmaxes), on SIMD128 and the scalar build. Also: a
 * prefill onto caches given from outside (loadCaches) against the graph interpreter with those
 * caches as inputs; one prefill of 15 equals 7 + 8 steps; 2 and 3 threads give the one-thread
 * output bit for bit; memory grown for a larger call keeps the caches; bad L; input caches
 * refused; the emitted kernels snapshotted.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getBackend } from '../../compiler/backends/registry.ts';
import { type WasmLoaded, loadWasm } from '../../compiler/backends/wasm/index.ts';
import { buildModule } from '../../compiler/backends/wasm/module.ts';
import { canRunThreads } from '../../compiler/backends/wasm/threads.ts';
import { compile, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import type { MoecError } from '../../ir/diagnostics.ts';
import { interpret } from '../../ir/graph/interp.ts';
import { allocateState } from '../../ir/kernel/attention.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import { mapKernels } from '../../ir/kernel/walk.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { expectAgreement } from '../expect-agreement.ts';

const TOL = 1e-5;
const CONTEXT = 64;

/** A fixture: the model, its weights and the names of its per-token inputs. */
interface Fixture {
  file: string;
  kernel: 'attention' | 'mla_attention';
  inputs: string[];
  seed: number;
}

const FIXTURES: Fixture[] = [
  { file: 'test/fixtures/attention-stack.moe', kernel: 'attention', inputs: ['x', 'k', 'v'], seed: 11 },
  { file: 'test/fixtures/mla-stack.moe', kernel: 'mla_attention', inputs: ['q_nope', 'q_pe', 'kv', 'k_pe'], seed: 13 },
];

/** The calls of one sequence: [L, T]: a prefill, single-token steps, a prefill onto the filled cache, more steps. */
const CALLS: Array<[number, number]> = [[0, 7], ...Array.from({ length: 8 }, (_, i): [number, number] => [7 + i, 1]), [15, 16], ...Array.from({ length: 12 }, (_, i): [number, number] => [31 + i, 1])];

for (const fx of FIXTURES) {
  const M = compile(readFileSync(fx.file, 'utf8'), { path: fx.file });
  const W = randomWeights(M, fx.seed);

  /** The program for `target` with its caches as state, as tiled or with a hand-set schedule [key tile, splits, head block]. */
  const program = (target: string, schedule?: readonly [number, number, number], maxContext: number | null = CONTEXT): KProgram => {
    const p = runPipeline(M, { target: loadTarget(target), maxTokens: 16, ...(maxContext !== null ? { maxContext } : {}) }).program!;
    if (!schedule) return p;
    const [keyTile, splits, headBlock] = schedule;
    return { ...p, steps: mapKernels(p.steps, (k) => (k.kind === fx.kernel ? { ...k, schedule: { keyTile, splits, ...(k.kind === 'mla_attention' ? { headBlock } : {}) } } : k)) };
  };

  /** The per-token inputs of the call at [L, T] (seeded by position, so a prefill and the steps it replaces see the same tokens). */
  const inputsAt = (L: number, T: number): Record<string, Tensor> => {
    const rows = Array.from({ length: T }, (_, t) => randomInputs(M, { T: 1, L: 1 }, 100 + L + t));
    const out: Record<string, Tensor> = {};
    for (const name of fx.inputs) {
      const one = rows[0][name];
      const data = new Float32Array(T * one.data.length);
      rows.forEach((r, t) => data.set(r[name].data, t * one.data.length));
      out[name] = { dtype: 'f32', shape: [T, ...one.shape.slice(1)], data };
    }
    return out;
  };

  /** Runs the calls on a loaded model; returns every output, concatenated. */
  const runCalls = async (model: WasmLoaded, calls: ReadonlyArray<[number, number]>): Promise<number[]> => {
    const out: number[] = [];
    for (const [L, T] of calls) out.push(...(await model.forward(inputsAt(L, T), { T, L })).y.data);
    return out;
  };

  describe(`Wasm backend: ${fx.kernel} with the KV cache as state in linear memory (${fx.file})`, () => {
    for (const [target, schedule] of [
      ['wasm-simd128', undefined],
      ['wasm-simd128', [16, 4, 2]],
      ['wasm-scalar', [16, 4, 1]],
    ] as const)
      it(`${target}${schedule ? ` with tiles of ${schedule[0]} keys and a decode split of ${schedule[1]}` : ' as tiled'}: every call of a sequence matches the kernel interpreter; growing memory keeps the caches`, async () => {
        const p = program(target, schedule);
        const model = await loadWasm(p, loadTarget(target), W);
        const state = allocateState(p);
        try {
          for (const [L, T] of CALLS) {
            const inputs = inputsAt(L, T);
            // Memory grown between calls (as a larger T grows it) moves nothing and keeps the caches.
            if (L === 15) model.model.memory.grow(1);
            const got = await model.forward(inputs, { T, L });
            const want = interpretKernelIR(p, { bindings: { T, L }, inputs, weights: W, state });
            expectAgreement(got.y, want.y, { maxRel: TOL, relL2: TOL }, `L = ${L}, T = ${T}`);
          }
          // The caches lie below everything a call's T moves, within the pages the loader grows to at load.
          const { state: slots, inputs, memory } = model.built.manifest;
          for (const b of slots!.buffers) expect(b.address + 4 * b.shape.reduce((x, y) => x * y, 1)).toBeLessThanOrEqual(Math.min(inputs[0].address.c, memory.totalPages * 65536));
          for (const [name, t] of Object.entries(state)) expectAgreement({ dtype: 'f32', shape: t.shape, data: model.model.cache(name) }, t, { maxRel: 0 }, name);
        } finally {
          model.dispose();
        }
      });

    it('a prefill onto caches given from outside (loadCaches) matches the graph interpreter with those caches as inputs', async () => {
      const p = program('wasm-simd128', [16, 4, 2]);
      const model = await loadWasm(p, loadTarget('wasm-simd128'), W);
      try {
        for (const [L, T] of [[20, 5], [40, 1], [0, 3]] as const) {
          const inputs = randomInputs(M, { T, L }, 7 + L);
          model.loadCaches!(inputs, L);
          const got = await model.forward(inputs, { T, L });
          const want = interpret(M, { bindings: { T, L }, inputs, weights: W });
          expectAgreement(got.y, want.y, { maxRel: TOL, relL2: TOL }, `L = ${L}, T = ${T}`);
        }
      } finally {
        model.dispose();
      }
    });

    it('one prefill of 15 tokens equals a prefill of 7 and 8 single-token steps; reset empties the caches; a bad L is E505', async () => {
      const p = program('wasm-simd128', [4, 4, 2]);
      const model = await loadWasm(p, loadTarget('wasm-simd128'), W);
      try {
        const steps = await runCalls(model, [[0, 7], ...Array.from({ length: 8 }, (_, i): [number, number] => [7 + i, 1])]);
        model.reset!();
        for (const name of Object.keys(allocateState(p))) expect(model.model.cache(name).every((x) => x === 0), name).toBe(true);
        const once = await runCalls(model, [[0, 15]]);
        expectAgreement({ dtype: 'f32', shape: [steps.length], data: Float32Array.from(steps) }, { dtype: 'f32', shape: [once.length], data: Float32Array.from(once) }, { maxRel: TOL, relL2: TOL });
        await expect(model.forward(inputsAt(60, 8), { T: 8, L: 60 })).rejects.toThrow(/E505: L = 60 cached positions and T = 8 new ones do not fit the context bound 64/);
        await expect(model.forward(inputsAt(0, 1), { T: 1 })).rejects.toThrow(/E505: forward: no value for L, the positions already in the KV cache/);
        expect(() => model.model.forwardAll(Object.fromEntries(Object.entries(inputsAt(0, 1)).map(([n, t]) => [n, t.data as Float32Array])), 1, -1)).toThrow(/L = -1 cached positions/);
      } finally {
        model.dispose();
      }
    });

    it.skipIf(!canRunThreads())('2 and 3 threads give the one-thread output bit for bit (the decode ranges are the schedule\'s, not the threads\')', async () => {
      const p = program('wasm-simd128', [16, 4, 2]);
      const runs: number[][] = [];
      for (const threads of [1, 2, 3]) {
        const model = await loadWasm(p, loadTarget('wasm-simd128'), W, { threads });
        try {
          expect(model.model.threads).toBe(threads);
          runs.push(await runCalls(model, CALLS));
        } finally {
          model.dispose();
        }
      }
      expect(runs[1]).toEqual(runs[0]);
      expect(runs[2]).toEqual(runs[0]);
    });

    it('refuses caches that are inputs (no context bound) with E701 and a hint', async () => {
      const backend = await getBackend('wasm');
      const p = program('wasm-simd128', undefined, null);
      let err: unknown;
      try {
        backend.emit(p, loadTarget('wasm-simd128'));
      } catch (e) {
        err = e;
      }
      expect((err as Error).message).toMatch(new RegExp(`E701: the wasm backend runs ${fx.kernel} with the KV cache as state the model owns, but \\S+ is an input`));
      expect((err as MoecError).diagnostics[0].hint).toMatch(/--max-context/);
    });

    it('emits the kernels as in the golden file (wasm-simd128, tiles of 16 keys, a decode split of 4)', async () => {
      const built = buildModule(program('wasm-simd128', [16, 4, 2]), loadTarget('wasm-simd128'));
      // The kernel functions of the first layer's kernel (and its fold) in the module's text.
      const fns = built.text.split(/\n(?= \(func )/).filter((f) => new RegExp(`^ \\(func \\$k\\d+_${fx.kernel}(_keys)? `).test(f));
      expect(fns.length).toBeGreaterThanOrEqual(2);
      const name = fx.file.replace(/^.*\/|\.moe$/g, '');
      await expect(`${fns.slice(0, 2).join('\n')}\n`).toMatchFileSnapshot(`../golden/wasm/${name}.kernels.wat`);
    });
  });
}

describe('the browser session (InferenceSession, here in Node) keeps the KV caches between runs', () => {
  const file = 'test/fixtures/attention-stack.moe';
  const M = compile(readFileSync(file, 'utf8'), { path: file });
  const rows = (L: number, T: number): Record<string, Float32Array> => {
    const all = Array.from({ length: T }, (_, t) => randomInputs(M, { T: 1, L: 1 }, 100 + L + t));
    return Object.fromEntries(['x', 'k', 'v'].map((n) => [n, Float32Array.from(all.flatMap((r) => Array.from(r[n].data)))]));
  };

  it('a .moe text with maxContext, and the files moec compile wrote: prefill 7 then 8 single-token runs equal one run of 15 after reset', async () => {
    const { InferenceSession, browserBackend } = await import('../../compiler/browser.ts');
    const fromText = await InferenceSession.create({ moe: readFileSync(file, 'utf8'), seed: 5, maxContext: 32 });
    const p = program32();
    const wasm = await browserBackend('wasm');
    const files = wasm.emit(p, loadTarget('wasm-simd128'));
    const fromFiles = await InferenceSession.create({ wasm: files['model.wasm'] as Uint8Array<ArrayBuffer>, manifest: JSON.parse(files['model.json'] as string), weights: wasm.packWeights!(p, loadTarget('wasm-simd128'), randomWeights(M, 5)).blob });
    try {
      for (const s of [fromText, fromFiles]) {
        expect(s.maxContext).toBe(32);
        const steps: number[] = [...(await s.run(rows(0, 7))).y.data];
        for (let L = 7; L < 15; L++) steps.push(...(await s.run(rows(L, 1))).y.data);
        expect(s.position).toBe(15);
        await s.reset();
        expect(s.position).toBe(0);
        const once = Array.from((await s.run(rows(0, 15))).y.data);
        expectAgreement({ dtype: 'f32', shape: [steps.length], data: Float32Array.from(steps) }, { dtype: 'f32', shape: [once.length], data: Float32Array.from(once) }, { maxRel: TOL, relL2: TOL });
        // An explicit L replaces what the session counted; past the context bound is refused before the run.
        expect((await s.run(rows(3, 2), { L: 3 })).y.dims).toEqual([2, 4, 8]);
        expect(s.position).toBe(5);
        await expect(s.run(rows(30, 4), { L: 30 })).rejects.toThrow('L = 30: this session holds 5 cached positions of at most 32');
      }
      expect(Array.from((await fromFiles.run(rows(5, 3))).y.data)).toEqual(Array.from((await fromText.run(rows(5, 3))).y.data));
    } finally {
      await fromText.release();
      await fromFiles.release();
    }
  });

  function program32(): KProgram {
    return runPipeline(M, { target: loadTarget('wasm-simd128'), maxTokens: 16, maxContext: 32 }).program!;
  }
});

describe('the state in wasm32', () => {
  it('KV caches that do not fit 4 GiB at the context bound are E702 naming them, with --max-context in the hint', async () => {
    const file = 'test/fixtures/attention-stack.moe';
    const M = compile(readFileSync(file, 'utf8'), { path: file });
    const p = runPipeline(M, { target: loadTarget('wasm-simd128'), maxTokens: 16, maxContext: 100_000_000 }).program!;
    let err: unknown;
    try {
      (await getBackend('wasm')).emit(p, loadTarget('wasm-simd128'));
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toMatch(/^E702: m needs 47\.68 GiB of linear memory at T = 16 \(weights 0\.00 GiB, KV caches 47\.68 GiB at 100000000 positions, arena 0\.00 GiB\)/);
    expect((err as MoecError).diagnostics[0].hint).toContain('--max-context');
  });
});

/**
 * Whole imported models at reduced sizes (rope with L as its offset, attention or MLA, the MoE
 * layers, the LM head) compiled with a context bound: each call's logits match the graph
 * interpreter's with the same caches as inputs (given through loadCaches), and one prefill of
 * 15 tokens equals 7 + 8 single-token steps on the state the model keeps.
 */
describe('whole imported models on Wasm with the caches as state', () => {
  const REDUCED: Record<string, Record<string, unknown>> = {
    'Qwen3-30B-A3B': { hidden_size: 64, head_dim: 16, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, num_experts: 8, num_experts_per_tok: 2, moe_intermediate_size: 32, intermediate_size: 64, vocab_size: 100 },
    'DeepSeek-V2-Lite': { hidden_size: 64, num_attention_heads: 4, num_hidden_layers: 2, n_routed_experts: 8, num_experts_per_tok: 2, moe_intermediate_size: 32, intermediate_size: 64, vocab_size: 100, kv_lora_rank: 16, qk_nope_head_dim: 8, qk_rope_head_dim: 4, v_head_dim: 8, n_shared_experts: 1, first_k_dense_replace: 1 },
    'gpt-oss-20b': { hidden_size: 64, head_dim: 16, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, num_local_experts: 8, num_experts_per_tok: 2, intermediate_size: 32, vocab_size: 100, sliding_window: 6, layer_types: ['sliding_attention', 'full_attention'] },
  };
  for (const [name, over] of Object.entries(REDUCED))
    it(`${name}: logits as the graph interpreter's (1e-5), and 7 + 8 steps = one prefill of 15`, async () => {
      const { importHfConfig } = await import('../../compiler/import/index.ts');
      const cfg = { ...JSON.parse(readFileSync(`examples/hf/${name}/config.json`, 'utf8')), ...over };
      const m = importHfConfig(JSON.stringify(cfg), 'config.json').module;
      const p = runPipeline(m, { target: loadTarget('wasm-simd128'), maxTokens: 16, maxContext: 32 }).program!;
      const weights = randomWeights(m, 1);
      const model = await loadWasm(p, loadTarget('wasm-simd128'), weights);
      try {
        for (const [L, T] of [[0, 5], [5, 1], [6, 3], [20, 1]] as const) {
          const inputs = randomInputs(m, { T, L }, L);
          model.loadCaches!(inputs, L);
          const got = await model.forward(inputs, { T, L });
          const want = interpret(m, { bindings: { T, L }, inputs, weights });
          for (const out of Object.keys(want)) expectAgreement(got[out], want[out], { maxRel: TOL, relL2: TOL }, `${out} at L = ${L}, T = ${T}`);
        }
        // The token ids of 15 positions; a call at [L, T] takes rows L..L+T-1 of each per-token input.
        const all = randomInputs(m, { T: 15, L: 0 }, 99);
        const at = (L: number, T: number): Record<string, Tensor> =>
          Object.fromEntries(
            p.inputs.map(({ name: n }) => {
              const t = all[n];
              const per = t.data.length / 15;
              return [n, { ...t, shape: [T, ...t.shape.slice(1)], data: t.data.slice(L * per, (L + T) * per) } as Tensor];
            }),
          );
        model.reset!();
        const steps: number[] = [];
        const logits = (o: Record<string, Tensor>): number[] => Array.from(o[Object.keys(o)[0]].data);
        steps.push(...logits(await model.forward(at(0, 7), { T: 7, L: 0 })));
        for (let L = 7; L < 15; L++) steps.push(...logits(await model.forward(at(L, 1), { T: 1, L })));
        model.reset!();
        const once = logits(await model.forward(at(0, 15), { T: 15, L: 0 }));
        expectAgreement({ dtype: 'f32', shape: [steps.length], data: Float32Array.from(steps) }, { dtype: 'f32', shape: [once.length], data: Float32Array.from(once) }, { maxRel: TOL, relL2: TOL });
      } finally {
        model.dispose();
      }
    }, 120_000);
});
