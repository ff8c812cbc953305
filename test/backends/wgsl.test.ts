/**
 * The WGSL backend, run for real on a WebGPU adapter (here: Dawn's OpenGL ES backend over
 * Mesa's software rasteriser). Every example at T = 1, 7 and 300 (tiny: 1, 7, 64) against
 * the kernel-IR reference interpreter on the same seeded weights and inputs:
 * max |Δ| <= 2e-6 of the output's scale (max |want|, at least 1) and relL2 <= 2e-6 (f32
 * accumulation against the reference's float64; measured: <= 3e-7), no NaN mismatch.
 * With the arena filled with a canary before the forward, no kernel writes outside the
 * buffers live at that token count (T = 1 and T = the bound). Every shader compiles
 * without messages, also at real sizes on a device with default limits. Also: a NaN token,
 * concurrent forwards, weights split over many buffers and expert-group dispatches (a
 * 2 KiB binding limit), the binding-limit error. Without an adapter these tests skip,
 * saying why, unless CI is set: then they fail, since CI must run them.
 *
 * Adapter-free: every kernel fits WebGPU's default limits; an unsupported op is a clear
 * compile error; every example's WGSL and manifest (at the test sizes) match their golden files.
 */
import { describe, expect, it } from 'vitest';
import { agreement } from '../../compiler/compare.ts';
import { MoecError } from '../../ir/diagnostics.ts';
import { compileFile, compileModel, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { packWeights, weightBlob } from '../../compiler/backends/weights.ts';
import { getDevice } from '../../compiler/backends/wgsl/gpu.ts';
import { kernelFile, manifest, wgslBackendOn } from '../../compiler/backends/wgsl/index.ts';
import { NODE_GPU } from '../../compiler/backends/wgsl/node-gpu.ts';

const wgslBackend = wgslBackendOn(NODE_GPU);
import { planWgsl } from '../../compiler/backends/wgsl/plan.ts';
import { loadWgsl } from '../../compiler/backends/wgsl/runtime.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import type { KProgram, Step } from '../../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import { SMALL } from '../small-sizes.ts';
import { expectPipelines, missingAdapter, strayWrites } from './wgsl-harness.ts';
import { arenaParts } from '../../compiler/backends/wgsl/shader.ts';
import { atTokens } from '../../ir/kernel/memory.ts';
import { verifyKernelIR } from '../../ir/kernel/kverify.ts';

const target = loadTarget('webgpu');

const missing = await missingAdapter('the WGSL execution tests');

const tokensFor = (file: string): number[] => (file === 'tiny.moe' ? [1, 7, 64] : [1, 7, 300]);

function compileFor(file: string, maxTokens: number): { program: KProgram; m: ReturnType<typeof compileFile> } {
  const m = compileFile(`examples/${file}`, { consts: SMALL[file] });
  return { program: compileModel(m, { target, maxTokens }).program, m };
}

describe.skipIf(missing !== null)('wgsl backend on a WebGPU adapter', () => {
  for (const file of Object.keys(SMALL)) {
    it(`${file}: matches the kernel interpreter at T = ${tokensFor(file).join(', ')}, writes only its buffers, compiles cleanly`, async () => {
      const tokens = tokensFor(file);
      const bound = Math.max(...tokens);
      const { program, m } = compileFor(file, bound);
      const weights = randomWeights(m, 11);
      const plan = planWgsl(program, target);
      const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(program, weights, { T: bound })), { gpu: NODE_GPU, guard: true });
      try {
        for (const [name, msgs] of Object.entries(model.messages)) expect(msgs, name).toEqual([]);
        for (const T of tokens) {
          const inputs = randomInputs(m, { T }, 11);
          const got = (await model.forward(inputs, { T })).y;
          const want = interpretKernelIR(program, { bindings: { T }, inputs, weights }).y;
          const a = agreement(got, want);
          expect(a.nanMismatch, `T=${T}`).toBe(0);
          expect(a.maxAbs, `T=${T}`).toBeLessThanOrEqual(2e-6 * Math.max(1, a.maxAbs / Math.max(a.maxRel, 1e-30)));
          expect(a.relL2, `T=${T}`).toBeLessThanOrEqual(2e-6);
          if (T === 1 || T === bound) {
            expect(strayWrites(program, plan, T, model.lastArena!), `bytes written outside every buffer at T=${T}`).toEqual([]);
          }
        }
      } finally {
        model.dispose();
      }
    });
  }

  it('every kernel of every example at real sizes compiles cleanly and makes a pipeline on a device with default limits', async () => {
    const { device } = await getDevice(NODE_GPU);
    try {
      for (const file of Object.keys(SMALL)) {
        const plan = planWgsl(compileModel(compileFile(`examples/${file}`), { target, maxTokens: 256 }).program, target);
        await expectPipelines(device, plan.kernels, file);
      }
    } finally {
      device.destroy();
    }
  });

  it('an arena over the storage binding limit is a clear error, not a device loss', async () => {
    const { program } = compileFor('tiny.moe', 64);
    const plan = planWgsl(program, target);
    const model = await loadWgsl({ ...plan, arenaBytes: () => [2 ** 30, 4] }, new Uint8Array(plan.weights.bytes), { gpu: NODE_GPU });
    try {
      await expect(model.forward(randomInputs(compileFor('tiny.moe', 64).m, { T: 2 }, 1), { T: 2 })).rejects.toThrow(/arena part 0 takes 1073741824 bytes at T = 2, over this device's \d+-byte storage binding limit/);
    } finally {
      model.dispose();
    }
  });

  it('an arena over the storage binding size: planned in parts, each its own buffer and binding, same numbers (was: E505 for the whole arena)', async () => {
    for (const file of ['mixtral.moe', 'deepseek-v3.moe']) {
      const m = compileFile(`examples/${file}`, { consts: SMALL[file] });
      const whole = compileModel(m, { target, maxTokens: 64 }).program;
      const atBound = atTokens(whole.arenaBytes!, 64);
      // A binding a third of the arena at the bound: the plan splits it (the device's own limit is larger).
      const limit = Math.ceil(atBound / 3 / 256) * 256;
      const small = { ...target, limits: { ...target.limits, maxStorageBufferBindingBytes: limit } };
      const { program } = compileModel(m, { target: small, maxTokens: 64 });
      expect(program.arenaParts?.length ?? 1, file).toBeGreaterThanOrEqual(2);
      expect(verifyKernelIR(program), file).toEqual([]);
      const plan = planWgsl(program, small);
      expect(plan.kernels.some((k) => arenaParts(k.operands).length > 1), `${file}: some kernel binds two arena parts`).toBe(true);
      const weights = randomWeights(m, 3);
      const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(program, weights)), { gpu: NODE_GPU, guard: true });
      try {
        for (const T of [1, 7, 64]) {
          const inputs = randomInputs(m, { T }, 3);
          const want = interpretKernelIR(program, { bindings: { T }, inputs, weights }).y;
          expect(agreement((await model.forward(inputs, { T })).y, want).maxRel, `${file} T=${T}`).toBeLessThanOrEqual(2e-6);
          expect(strayWrites(program, plan, T, model.lastArena!), `${file} T=${T}`).toEqual([]);
          // The split plan also holds in the interpreter's arena mode (every part its own buffer, sized for T).
          expect(agreement(interpretKernelIR(program, { bindings: { T }, inputs, weights, arena: true }).y, want).maxRel).toBeLessThanOrEqual(1e-6);
        }
      } finally {
        model.dispose();
      }
    }
  });

  it('weights over the binding size: split into buffers by rows and dispatched by expert groups, same numbers', async () => {
    // A 2 KiB storage binding makes every example's expert weights span several buffers
    // and several dispatches per grouped GEMM (one expert per group where one is bigger).
    const small = { ...target, limits: { ...target.limits, maxStorageBufferBindingBytes: 2048 } };
    for (const file of Object.keys(SMALL)) {
      const { program, m } = compileFor(file, 64);
      const plan = planWgsl(program, small);
      expect(plan.weightChunks.length, file).toBeGreaterThan(planWgsl(program, target).weightChunks.length);
      const weights = randomWeights(m, 5);
      const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(program, weights)), { gpu: NODE_GPU });
      try {
        for (const T of [1, 64]) {
          const inputs = randomInputs(m, { T }, 5);
          const a = agreement((await model.forward(inputs, { T })).y, interpretKernelIR(program, { bindings: { T }, inputs, weights }).y);
          expect(a.maxRel, `${file} T=${T}`).toBeLessThanOrEqual(2e-6);
        }
      } finally {
        model.dispose();
      }
    }
  });

  it('a NaN in one token routes and propagates as in the reference: that row NaN, every other row unchanged', async () => {
    for (const file of Object.keys(SMALL)) {
      const { program, m } = compileFor(file, 64);
      const weights = randomWeights(m, 1);
      const inputs = randomInputs(m, { T: 20 }, 1);
      inputs.x.data[3 * inputs.x.shape[1] + 2] = NaN;
      const model = await wgslBackend.load(program, target, weights);
      try {
        const got = (await model.forward(inputs, { T: 20 })).y;
        const want = interpretKernelIR(program, { bindings: { T: 20 }, inputs, weights }).y;
        expect([...want.data].filter(Number.isNaN).length, file).toBe(want.shape[1]);
        const a = agreement(got, want);
        expect(a.nanMismatch, file).toBe(0);
        expect(a.maxRel, file).toBeLessThanOrEqual(2e-6);
      } finally {
        model.dispose();
      }
    }
  });

  it('backend.load (moec run --backend wgsl): concurrent forwards, and T over the bound is an error', async () => {
    const { program, m } = compileFor('tiny.moe', 64);
    const weights = randomWeights(m, 3);
    const inputs = randomInputs(m, { T: 65 }, 3);
    const model = await wgslBackend.load(program, target, weights);
    try {
      // Forwards started together run one after another (they share the arena): each gets its own numbers.
      const tokens = [5, 64, 1];
      const all = tokens.map((T) => randomInputs(m, { T }, T));
      const outs = await Promise.all(tokens.map((T, i) => model.forward(all[i], { T })));
      tokens.forEach((T, i) => expect(agreement(outs[i].y, interpretKernelIR(program, { bindings: { T }, inputs: all[i], weights }).y).maxRel, `T=${T}`).toBeLessThan(2e-6));
      await expect(model.forward(inputs, { T: 65 })).rejects.toThrow('E505: T = 65 is outside 1..64, the token counts the program was compiled for');
    } finally {
      model.dispose();
    }
  });
});

describe('wgsl backend without an adapter', () => {
  for (const file of Object.keys(SMALL))
    it(`${file}: every kernel fits WebGPU's default limits, at test and at real sizes`, () => {
      const real = compileModel(compileFile(`examples/${file}`), { target, maxTokens: 256 }).program;
      for (const plan of [planWgsl(compileFor(file, 300).program, target), planWgsl(real, target)])
        for (const k of plan.kernels) {
          const [x, y, z] = k.shader.workgroup;
          expect(x * y * z, k.name).toBeLessThanOrEqual(256);
          expect(x, k.name).toBeLessThanOrEqual(256);
          expect(k.shader.workgroupBytes, k.name).toBeLessThanOrEqual(16384);
          // The arena and one binding per weight operand, of the 8 storage buffers allowed.
          expect(k.shader.code.match(/var<storage/g)!.length, k.name).toBeLessThanOrEqual(8);
          expect(k.shader.code, k.name).not.toMatch(/\bf16\b/);
        }
    });

  it('an op kernel it has no shader for is E701 naming the op (it was E202, the frontend\'s unknown-operation code, with an internal id)', () => {
    const { program } = compileFor('deepseek-v3.moe', 16);
    const rename = (steps: Step[]): Step[] => steps.map((s) => (s.kind === 'loop' ? { ...s, body: rename(s.body) } : s.kind === 'op' && s.op === 'add' ? { ...s, op: 'no_such_op' } : s));
    const bad = { ...program, steps: rename(program.steps) };
    expect(() => planWgsl(bad, target)).toThrow(MoecError);
    expect(() => planWgsl(bad, target)).toThrow(/^E701: the WGSL backend cannot run no_such_op yet$/m);
  });

  it('emits one module per kernel and a manifest; tiny.moe matches its golden files', async () => {
    const { program } = compileFor('tiny.moe', 64);
    const files = wgslBackend.emit(program, target);
    const plan = planWgsl(program, target);
    expect(Object.keys(files).sort()).toEqual([...plan.kernels.map((_, i) => kernelFile(plan, i)), 'manifest.json'].sort());
    expect(JSON.parse(files['manifest.json'] as string)).toEqual(JSON.parse(JSON.stringify(manifest(plan, target))));
    // `moec pack --target webgpu`: the weights buffer, at the offsets the manifest gives.
    const packed = wgslBackend.packWeights!(program, target, randomWeights(compileFile('examples/tiny.moe'), 0));
    expect(packed.blob.byteLength).toBe(plan.weights.bytes);
    expect(packed.manifest.tensors.map((t) => [t.name, t.offset])).toEqual(plan.weights.entries.map((e) => [e.name, e.offset]));
    // Every kernel belongs to exactly one step of the manifest.
    const listed = (steps: Array<{ kernels?: string[]; body?: unknown[] }>): string[] =>
      steps.flatMap((st) => [...(st.kernels ?? []), ...listed((st.body ?? []) as typeof steps)]);
    expect(listed(JSON.parse(files['manifest.json'] as string).steps).sort()).toEqual(plan.kernels.map((_, i) => kernelFile(plan, i)).sort());
    const wgsl = plan.kernels.map((k, i) => `// ==== ${kernelFile(plan, i)} ====\n${k.shader.code}`).join('\n');
    await expect(wgsl).toMatchFileSnapshot('../golden/wgsl/tiny.wgsl');
    await expect(files['manifest.json']).toMatchFileSnapshot('../golden/wgsl/tiny.manifest.json');
  });

  it('the other examples (at the test sizes) match their golden WGSL and manifests', async () => {
    for (const file of Object.keys(SMALL).filter((f) => f !== 'tiny.moe')) {
      const { program } = compileFor(file, 64);
      const files = wgslBackend.emit(program, target);
      const plan = planWgsl(program, target);
      const stem = file.replace(/\.moe$/, '');
      const wgsl = plan.kernels.map((k, i) => `// ==== ${kernelFile(plan, i)} ====\n${k.shader.code}`).join('\n');
      await expect(wgsl).toMatchFileSnapshot(`../golden/wgsl/${stem}.wgsl`);
      await expect(files['manifest.json']).toMatchFileSnapshot(`../golden/wgsl/${stem}.manifest.json`);
    }
  });
});
