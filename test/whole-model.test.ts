/**
 * Whole models, step by step, on every backend (issue 16): each tiny architecture in
 * test/fixtures/hf-tiny is imported from its config, compiled with a context bound (the KV
 * caches become state the loaded model owns), loaded with the weights of its numpy fixture
 * (`<name>-gen.safetensors`, gen_hf_fixtures.py: an independent float64 implementation) and
 * run as a generation: a prefill of 7 tokens from an empty cache, then 8 single-token steps
 * through `LoadedModel.forward(inputs, { T, L })`. Every step's logits are within 1e-4 of
 * numpy's, relative to their scale; after `reset`, one prefill of all 15 tokens equals the
 * 7 + 8 steps within the same tolerance.
 *
 * The backends: `ref` (the kernel interpreter with its state), c, wasm and wgsl, compiled
 * for their default targets. A backend in `RUNS_ATTENTION` (whole-model-backends.ts) must
 * run every architecture; any other one that refuses attention (E701) skips its cases with
 * that refusal as the reason, and one that loads the model is held to the same tolerances.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LoadedModel } from '../compiler/backends/backend.ts';
import { renderC } from '../compiler/backends/c/render.ts';
import { getBackend } from '../compiler/backends/registry.ts';
import { weightsFromSafetensors } from '../compiler/driver.ts';
import { importHfConfig } from '../compiler/import/index.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { MoecError } from '../ir/diagnostics.ts';
import type { Module } from '../ir/graph/graph.ts';
import { allocateState, resetState } from '../ir/kernel/attention.ts';
import type { KProgram } from '../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { mapKernels } from '../ir/kernel/walk.ts';
import { type SafetensorsFile, readSafetensors } from '../ir/safetensors.ts';
import type { Tensor } from '../ir/tensor.ts';
import { missingAdapter } from './backends/wgsl-harness.ts';
import { expectAgreement } from './expect-agreement.ts';
import { RUNS_ATTENTION } from './whole-model-backends.ts';

const BACKENDS = ['ref', 'c', 'wasm', 'wgsl'] as const;
type BackendRow = (typeof BACKENDS)[number];
const TARGET: Record<BackendRow, string> = { ref: 'x86-avx2', c: 'x86-avx2', wasm: 'wasm-simd128', wgsl: 'webgpu' };

/** One per architecture moec imports, plus DeepSeek-V2's group-limited routing (deepseek_v2_grouped). */
const ARCHS = ['mixtral', 'qwen2_moe', 'qwen3_moe', 'deepseek_v2', 'deepseek_v2_grouped', 'deepseek_v3', 'olmoe', 'gpt_oss', 'llama'];

const TOL = 1e-4;
/** Room for the 15 positions of a generation. */
const CONTEXT = 16;

interface Generation {
  module: Module;
  file: SafetensorsFile;
  path: string;
  ids: Int32Array;
  /** numpy's logits, one row per position [15, V]: rows 0..6 from the prefill, then one per step. */
  want: Tensor;
  prefill: number;
  steps: number;
}

/** The imported tiny model and its multi-step fixture. */
function generation(name: string): Generation {
  const cfgPath = `test/fixtures/hf-tiny/${name}.json`;
  const path = `test/fixtures/hf-tiny/${name}-gen.safetensors`;
  const file = readSafetensors(path);
  const logits = file.get('logits');
  return {
    module: importHfConfig(readFileSync(cfgPath, 'utf8'), cfgPath).module,
    file,
    path,
    ids: file.get('ids').data as Int32Array,
    want: { dtype: 'f32', shape: logits.shape, data: Float32Array.from(logits.data) },
    prefill: Number(file.metadata!.prefill),
    steps: Number(file.metadata!.steps),
  };
}

/** The kernel program with the caches as state of CONTEXT positions. */
function stateProgram(m: Module, target: string): KProgram {
  return runPipeline(m, { target: loadTarget(target), maxTokens: CONTEXT, maxContext: CONTEXT }).program!;
}

/** The kernel interpreter as a loaded model: its state allocated once and kept between calls. */
function refModel(p: KProgram, weights: Record<string, Tensor>): LoadedModel {
  const state = allocateState(p);
  return {
    forward: async (inputs, bindings) => interpretKernelIR(p, { bindings, inputs, weights, state }),
    reset: () => resetState(state),
    dispose: () => {},
  };
}

/** Loads the program on a backend, or says why that backend cannot run it (an E701 refusal, no WebGPU adapter). */
async function load(row: BackendRow, p: KProgram, weights: Record<string, Tensor>): Promise<LoadedModel | string> {
  if (row === 'ref') return refModel(p, weights);
  try {
    return await (await getBackend(row)).load(p, loadTarget(TARGET[row]), weights);
  } catch (e) {
    if (e instanceof MoecError && e.diagnostics[0]?.code === 'E701' && !RUNS_ATTENTION.includes(row)) return e.message;
    throw e;
  }
}

const ids = (g: Generation, from: number, to: number): Record<string, Tensor> => ({ ids: { dtype: 'i32', shape: [to - from], data: g.ids.slice(from, to) } });

/** Rows from..to-1 of a [positions, V] tensor. */
function rows(t: Tensor, from: number, to: number): Tensor {
  const v = t.shape[1];
  return { dtype: 'f32', shape: [to - from, v], data: Float32Array.from(t.data.subarray(from * v, to * v)) };
}

/** Runs the generation: the prefill, then single-token steps; each call's logits against numpy's; all of them as one [15, V] tensor. */
async function generate(model: LoadedModel, g: Generation, label: string): Promise<Tensor> {
  const v = g.want.shape[1];
  const all = new Float32Array(g.want.data.length);
  const calls: Array<[number, number]> = [[0, g.prefill], ...Array.from({ length: g.steps }, (_, s): [number, number] => [g.prefill + s, 1])];
  for (const [L, T] of calls) {
    const got = (await model.forward(ids(g, L, L + T), { T, L })).logits;
    expect(got.shape, `${label}, L = ${L}`).toEqual([T, v]);
    expectAgreement(got, rows(g.want, L, L + T), { maxRel: TOL }, `${label}: logits at L = ${L}, T = ${T} against numpy`);
    all.set(got.data, L * v);
  }
  return { dtype: 'f32', shape: g.want.shape, data: all };
}

describe('whole models: a prefill of 7 then 8 single-token steps on every backend, against the numpy fixtures', () => {
  let noAdapter: string | null = null;
  beforeAll(async () => {
    noAdapter = await missingAdapter('the WGSL rows of the whole-model matrix');
  });

  for (const name of ARCHS) {
    describe(name, () => {
      const g = generation(name);
      const weights = weightsFromSafetensors(g.module, g.file, g.path);
      // The ref and C rows share one x86-avx2 program; one build per architecture and backend.
      const programs = new Map<string, KProgram>();
      const programFor = (target: string): KProgram => programs.get(target) ?? (programs.set(target, stateProgram(g.module, target)), programs.get(target)!);

      for (const row of BACKENDS)
        it(`${row}: every step's logits within ${TOL} of numpy's; after reset, one prefill of 15 equals 7 + 8 steps`, async (ctx) => {
          if (row === 'wgsl' && noAdapter !== null) ctx.skip(`no WebGPU adapter: ${noAdapter}`);
          const loaded = await load(row, programFor(TARGET[row]), weights);
          if (typeof loaded === 'string') {
            console.warn(`skipping ${name} on ${row}: ${loaded}`);
            return ctx.skip(loaded);
          }
          const model = loaded;
          try {
            const stepped = await generate(model, g, `${name} on ${row}`);
            model.reset!();
            const once = (await model.forward(ids(g, 0, g.prefill + g.steps), { T: g.prefill + g.steps, L: 0 })).logits;
            expectAgreement(once, stepped, { maxRel: TOL }, `${name} on ${row}: one prefill of 15 against 7 + 8 steps`);
            expectAgreement(once, g.want, { maxRel: TOL }, `${name} on ${row}: one prefill of 15 against numpy`);
          } finally {
            model.dispose();
          }
        });
    });
  }
});

describe('C: whole models with hand-set attention schedules', () => {
  // The tiler gives these tiny models one key tile and the target's split; tiles of 4 keys make
  // the online softmax rescale across tiles (and across the window and the sinks), and a
  // decode split of 3 merges partial softmaxes of uneven key ranges, at every step.
  for (const name of ['gpt_oss', 'deepseek_v3'])
    it(`${name}: tiles of 4 keys and a decode split of 3, every step within ${TOL} of numpy's`, async () => {
      const g = generation(name);
      const base = stateProgram(g.module, 'x86-avx2');
      const p = { ...base, steps: mapKernels(base.steps, (k) => (k.kind === 'attention' || k.kind === 'mla_attention' ? { ...k, schedule: { ...k.schedule!, keyTile: 4, splits: 3 } } : k)) };
      const model = await (await getBackend('c')).load(p, loadTarget('x86-avx2'), weightsFromSafetensors(g.module, g.file, g.path));
      try {
        await generate(model, g, `${name} on c, key tile 4, split 3`);
      } finally {
        model.dispose();
      }
    });
});

describe('C: what the matrix found', () => {
  /** The C source of an imported tiny model compiled with state. */
  const source = (name: string): string => renderC(stateProgram(generation(name).module, 'x86-avx2'), loadTarget('x86-avx2')).source;

  it("rope's offset in a model with state is forward's L, the positions already cached (every imported model was refused: 'the C backend binds only the token count T')", () => {
    const src = source('mixtral');
    expect(src).toMatch(/g\.pos0 = \(\(size_t\)\(L\)\);/);
  });

  it('a tied embedding table (llama: the LM head GEMM packs it into panels) is read through its panels, not as rows (the logits were off by 1.35 of their scale)', () => {
    expect(source('llama')).toMatch(/embedding: rows of a \[32, 16\] table by token id, the table in the LM head's 8-wide panels/);
    // An untied table stays rows, copied whole.
    const untied = source('mixtral');
    expect(untied).toContain('memcpy(g->out + i * 16, g->table + (size_t)id * 16, 16 * sizeof(float));');
    expect(untied).not.toContain('LM head\'s');
  });
});
