/**
 * Quantized weights in the WGSL backend, on a real WebGPU adapter (skipped without one,
 * failing under CI=true, as test/backends/wgsl.test.ts).
 *
 * - Every example (test sizes) x --quantize i8, i4 (groups of 32) and fp8, at T = 1
 *   (the decode path) and T = the bound, 80 (tiny: 64) (the sorted path, asserted), against the kernel-IR
 *   reference interpreter on the same seeded weights (quantized by the pipeline) and inputs:
 *   max |Δ| <= 2e-6 of the output's scale (max |want|, at least 1) and relL2 <= 2e-6, no
 *   NaN mismatch (dequantized values are bit-identical, so this is the f32 tolerance: only
 *   the f32 accumulation order differs from the reference's float64; measured <= 5e-7).
 *   Every router and GEMM weight operand is bound as quantized codes, every shader compiles
 *   without messages, and with the arena canary-filled no kernel writes outside its buffers.
 *   Groups of 128 (i4g128, fp8) also over a reduction of 256 (mixtral at D = 256): at the
 *   test sizes every reduction is under 128, so those are one group per row there (F = 16 keeps it quick).
 *   Dense GEMMs over a quantized [in, out] matmul weight (scales per column group) and
 *   [out, in] linear weight, at T = 1 and 40.
 * - The same with a 2 KiB binding limit (weights split into whole-word chunks and expert
 *   groups that keep codes and scales each in one binding), i8 and i4, T = 1 and 64.
 * - The WGSL decoders, run on the GPU, give every i8 and fp8 e4m3fn byte and every i4 nibble
 *   in every position of a word exactly the value ir/quant.ts defines (bit for bit: -0,
 *   the fp8 subnormals; NaN for 0x7f and 0xff).
 *
 * - Every quantized kernel of every example at real sizes (bound 256) compiles without
 *   messages and makes a pipeline on a device with WebGPU's default limits (one scheme per
 *   example, each scheme twice: llvmpipe takes about a second a plan).
 *
 * Adapter-free: tiny.moe --quantize i4 matches its golden WGSL and manifest
 * (test/golden/wgsl/tiny-i4.*); every quantized kernel at real sizes fits the default limits (256
 * invocations, 16 KiB of workgroup memory with the W tile staged as codes, 8 storage
 * buffers with the scales bindings); weights over the binding size are cut into whole-word chunks even where a
 * quantized row ends inside a word, and every expert group binds codes within one chunk.
 */
import { describe, expect, it } from 'vitest';
import { MoecError } from '../../ir/diagnostics.ts';
import { agreement } from '../../compiler/compare.ts';
import { compile, compileFile, compileModel, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { packWeights, weightBlob } from '../../compiler/backends/weights.ts';
import { loadWgsl } from '../../compiler/backends/wgsl/runtime.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import { SMALL } from '../small-sizes.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import type { KProgram, Step } from '../../ir/kernel/kernel.ts';
import { BINDING_ALIGN, bindingOf, expertGroups, weightChunks } from '../../compiler/backends/wgsl/chunks.ts';
import { getDevice } from '../../compiler/backends/wgsl/gpu.ts';
import { kernelFile, wgslBackendOn } from '../../compiler/backends/wgsl/index.ts';
import { NODE_GPU } from '../../compiler/backends/wgsl/node-gpu.ts';

const wgslBackend = wgslBackendOn(NODE_GPU);
import { planWgsl } from '../../compiler/backends/wgsl/plan.ts';
import { decoders } from '../../compiler/backends/wgsl/quant.ts';
import { codeLayout } from '../../compiler/backends/weights.ts';
import { QUANT_SCHEMES, type QuantDType, fp8e4m3Decode, packCodes, scaleShape } from '../../ir/quant.ts';
import { missingAdapter, strayWrites } from './wgsl-harness.ts';
import { withRouter } from '../quant-router-too.ts';

const missing = await missingAdapter('the WGSL quantized tests');

const target = loadTarget('webgpu');
const SCHEMES = ['i8', 'i4', 'fp8'] as const;
/** The token bound, and the sorted-path T: every quantized example's sorted path starts at or below it (asserted; tiny declares T <= 64). */
const boundFor = (file: string): number => (file === 'tiny.moe' ? 64 : 80);

function compileQuant(file: string, scheme: string, maxTokens: number, consts = SMALL[file]): { program: KProgram; m: ReturnType<typeof compileFile> } {
  const m = compileFile(`examples/${file}`, { consts });
  return { program: compileModel(m, { target, maxTokens, quantize: withRouter(scheme) }).program, m };
}

/** The plan of an example at its real sizes (bound 256 tokens), quantized. */
function realPlan(file: string, scheme: string): ReturnType<typeof planWgsl> {
  return planWgsl(compileModel(compileFile(`examples/${file}`), { target, maxTokens: 256, quantize: withRouter(scheme) }).program, target);
}

/** The grouped GEMMs' decode/sorted threshold, over every loop body. */
function sortedFrom(steps: readonly Step[]): number[] {
  return steps.flatMap((s) => (s.kind === 'loop' ? sortedFrom(s.body) : s.kind === 'grouped_gemm' ? [s.sortedFromTokens] : []));
}

/** The backend against the kernel interpreter at T: max |Δ| relative to the output's scale, relL2, NaN mismatches. */
async function parity(model: Awaited<ReturnType<typeof loadWgsl>>, program: KProgram, m: ReturnType<typeof compileFile>, weights: ReturnType<typeof randomWeights>, T: number, seed: number) {
  const inputs = randomInputs(m, { T }, seed);
  const a = agreement((await model.forward(inputs, { T })).y, interpretKernelIR(program, { bindings: { T }, inputs, weights }).y);
  const scale = Math.max(1, a.maxAbs / Math.max(a.maxRel, 1e-30));
  return { ...a, absOfScale: a.maxAbs / scale };
}

/** Runs `code_<dtype>` on every code of `words` on the GPU: the f32 bits of each value. */
async function decodeOnGpu(dtype: QuantDType, words: Uint32Array, count: number): Promise<Uint32Array> {
  const { device } = await getDevice(NODE_GPU);
  try {
    const per = dtype === 'i4' ? 8 : 4;
    const code = `@group(0) @binding(0) var<storage, read> codes: array<u32>;
@group(0) @binding(1) var<storage, read_write> vals: array<u32>;
${decoders([{ dtype, scales: '', scalesBuffer: '', shape: [], axis: 0, group: 1 }])}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  if (i >= ${count}u) { return; }
  vals[i] = bitcast<u32>(code_${dtype}(codes[i / ${per}u], i % ${per}u));
}
`;
    const module = device.createShaderModule({ code });
    expect((await module.getCompilationInfo()).messages.map((m) => m.message)).toEqual([]);
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const U = GPUBufferUsage;
    const inBuf = device.createBuffer({ size: words.byteLength, usage: U.STORAGE | U.COPY_DST });
    device.queue.writeBuffer(inBuf, 0, words);
    const outBuf = device.createBuffer({ size: count * 4, usage: U.STORAGE | U.COPY_SRC });
    const read = device.createBuffer({ size: count * 4, usage: U.MAP_READ | U.COPY_DST });
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: inBuf } }, { binding: 1, resource: { buffer: outBuf } }] });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(Math.ceil(count / 64));
    pass.end();
    enc.copyBufferToBuffer(outBuf, 0, read, 0, count * 4);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    return new Uint32Array(read.getMappedRange().slice(0));
  } finally {
    device.destroy();
  }
}

/** The f32 bits of `v`, or null for a NaN (any NaN). */
const bits = (v: number): number | null => (Number.isNaN(v) ? null : new Uint32Array(Float32Array.of(v).buffer)[0]);
const gpuBits = (b: number): number | null => (Number.isNaN(new Float32Array(Uint32Array.of(b).buffer)[0]) ? null : b);

describe.skipIf(missing !== null)('quantized WGSL on a WebGPU adapter', () => {
  /** One example under one scheme at T = 1 and the bound, in guard mode. */
  async function check(file: string, scheme: string, consts = SMALL[file]): Promise<void> {
    const what = `${file} --quantize ${scheme}`;
    const bound = boundFor(file);
    const { program, m } = compileQuant(file, scheme, bound, consts);
    const plan = planWgsl(program, target);
    // Every router and GEMM reads its weight as codes of the scheme's dtype.
    const wOps = plan.kernels.filter((k) => /\.(router|decode|sorted|gemm)$/.test(k.name)).map((k) => k.operands.find((o) => o.role === 'w')!);
    expect(wOps.length, what).toBeGreaterThanOrEqual(3);
    for (const o of wOps) expect(o.quant?.dtype, `${what} ${o.buffer}`).toBe(QUANT_SCHEMES[scheme].dtype);
    const thresholds = sortedFrom(program.steps);
    expect(Math.min(...thresholds), what).toBeGreaterThan(1);
    expect(Math.max(...thresholds), what).toBeLessThanOrEqual(bound);
    const weights = randomWeights(m, 11);
    const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(program, weights)), { gpu: NODE_GPU, guard: true });
    try {
      for (const [name, msgs] of Object.entries(model.messages)) expect(msgs, `${what} ${name}`).toEqual([]);
      for (const T of [1, bound]) {
        const a = await parity(model, program, m, weights, T, 11);
        expect(a.nanMismatch, `${what} T=${T}`).toBe(0);
        expect(a.absOfScale, `${what} T=${T}`).toBeLessThanOrEqual(2e-6);
        expect(a.relL2, `${what} T=${T}`).toBeLessThanOrEqual(2e-6);
        expect(strayWrites(program, plan, T, model.lastArena!), `${what}: bytes written outside every buffer at T=${T}`).toEqual([]);
      }
    } finally {
      model.dispose();
    }
  }

  for (const file of Object.keys(SMALL))
    it(`${file} x ${SCHEMES.join(', ')}: matches the kernel interpreter on the decode and sorted paths, writes only its buffers, compiles cleanly`, async () => {
      for (const scheme of SCHEMES) await check(file, scheme);
    });

  it('groups of 128 over a longer reduction (mixtral at D = 256, F = 16: two groups per row of the gate/up and router weights) x i4g128, fp8', async () => {
    for (const scheme of ['i4g128', 'fp8']) await check('mixtral.moe', scheme, { ...SMALL['mixtral.moe'], D: 256, F: 16 });
  });

  it('dense GEMMs: a matmul weight [in, out] quantized along axis -2 (i4, two groups of 32) and a linear weight [out, in] (i8 per channel), decode-sized and tiled', async () => {
    const src = `dim T <= 40
model dense {
  input x: f32[T, 64]
  weight w: i4(group=32, axis=-2)[64, 48]
  weight b: f32[48]
  weight v: i8(group=channel)[40, 48]
  output y = linear(relu(matmul(x, w, b)), v)
}
`;
    const m = compile(src);
    const { program } = compileModel(m, { target, maxTokens: 40 });
    const plan = planWgsl(program, target);
    const gemms = plan.kernels.filter((k) => k.name.endsWith('.gemm'));
    expect(gemms.map((k) => k.operands.find((o) => o.role === 'w')!.quant?.dtype)).toEqual(['i4', 'i8']);
    const weights = randomWeights(m, 2);
    const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(program, weights)), { gpu: NODE_GPU, guard: true });
    try {
      for (const T of [1, 40]) {
        const a = await parity(model, program, m, weights, T, 2);
        expect(a.absOfScale, `T=${T}`).toBeLessThanOrEqual(2e-6);
        expect(a.relL2, `T=${T}`).toBeLessThanOrEqual(2e-6);
        expect(strayWrites(program, plan, T, model.lastArena!), `T=${T}`).toEqual([]);
      }
    } finally {
      model.dispose();
    }
  });

  it('every quantized kernel of every example at real sizes compiles cleanly and makes a pipeline on a device with default limits (one scheme per example, each scheme twice)', async () => {
    const { device } = await getDevice(NODE_GPU);
    try {
      for (const [i, file] of Object.keys(SMALL).entries()) {
        const scheme = SCHEMES[i % SCHEMES.length];
        device.pushErrorScope('validation');
        for (const k of realPlan(file, scheme).kernels) {
          const module = device.createShaderModule({ code: k.shader.code });
          expect((await module.getCompilationInfo()).messages.map((m) => m.message), `${file} ${scheme} ${k.name}`).toEqual([]);
          device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: k.shader.entry } });
        }
        expect((await device.popErrorScope())?.message, `${file} ${scheme}`).toBeUndefined();
      }
    } finally {
      device.destroy();
    }
  });

  it('weights over a 2 KiB binding limit: quantized codes and scales split into whole-word chunks and expert groups, same numbers', async () => {
    const small = { ...target, limits: { ...target.limits, maxStorageBufferBindingBytes: 2048 } };
    for (const file of Object.keys(SMALL))
      for (const scheme of ['i8', 'i4']) {
        const what = `${file} --quantize ${scheme}`;
        const { program, m } = compileQuant(file, scheme, 64);
        const plan = planWgsl(program, small);
        if (plan.weights.bytes > 2 * 2048) expect(plan.weightChunks.length, what).toBeGreaterThan(planWgsl(program, target).weightChunks.length);
        const weights = randomWeights(m, 5);
        const model = await loadWgsl(plan, weightBlob(plan.weights, packWeights(program, weights)), { gpu: NODE_GPU });
        try {
          for (const T of [1, 64]) expect((await parity(model, program, m, weights, T, 5)).maxRel, `${what} T=${T}`).toBeLessThanOrEqual(2e-6);
        } finally {
          model.dispose();
        }
      }
  });

  it('the decoders: i8, i4 and fp8 e4m3fn: every code in every position of a word decodes exactly as ir/quant.ts says', async () => {
    // i8 and fp8: the 256 bytes, each in all four positions of a word (256 words x 4 rotations).
    const bytes = new Uint8Array(1024);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 256; c++) bytes[r * 256 + ((c + r) % 256)] = c;
    const words = new Uint32Array(bytes.buffer);
    for (const dtype of ['i8', 'fp8e4m3'] as const) {
      const got = [...(await decodeOnGpu(dtype, words, bytes.length))].map(gpuBits);
      const want = [...bytes].map((c) => bits(dtype === 'i8' ? (c << 24) >> 24 : fp8e4m3Decode(c)));
      expect(got, dtype).toEqual(want);
    }
    // i4: the 16 codes, each in all eight positions of a word.
    const codes = Int32Array.from({ length: 16 * 8 }, (_, i) => ((i + Math.floor(i / 16)) % 16) - 8);
    const packed = packCodes('i4', codes);
    const got = [...(await decodeOnGpu('i4', new Uint32Array(packed.buffer), codes.length))].map(gpuBits);
    expect(got).toEqual([...codes].map(bits));
    // The fp8 values cover the cases of the format: subnormals, -0, the largest, NaN.
    expect([0x01, 0x80, 0x7e, 0xfe].map(fp8e4m3Decode)).toEqual([2 ** -9, -0, 448, -448]);
    expect(Number.isNaN(fp8e4m3Decode(0x7f)) && Number.isNaN(fp8e4m3Decode(0xff))).toBe(true);
  });
});

describe('WGSL weight chunks of quantized rows', () => {
  it('cut at whole words, each row range bindable from one chunk, expert groups within the binding size', () => {
    // Stacked expert codes of 6, 7 (i4: 14 codes), 9 and 16 bytes a row after a 100-byte tensor.
    for (const [dtype, rowBytes] of [['i8', 6], ['i4', 7], ['fp8e4m3', 9], ['i8', 16]] as const)
      for (const maxBinding of [8, 20, 64, 4096]) {
        const rows = 10;
        const layout = {
          align: 256,
          bytes: 512,
          entries: [
            { name: 'norm', dtype: 'f32' as const, shape: [25], offset: 0, bytes: 100 },
            { name: 'w', dtype, shape: [rows, 1, rowBytes * 2], offset: 256, bytes: rows * rowBytes },
          ],
        };
        const chunks = weightChunks(layout, maxBinding);
        const what = `${dtype} rows of ${rowBytes} bytes, binding ${maxBinding}`;
        for (const c of chunks) {
          expect(c.offset % 4, what).toBe(0);
          expect(c.bytes % 4, what).toBe(0);
          expect(c.bytes <= maxBinding || c.bytes <= Math.ceil(rowBytes / 4) * 4 + 4, what).toBe(true);
        }
        const groups = expertGroups(chunks, rows, [{ start: 256, rowBytes }], maxBinding);
        expect(groups[0][0], what).toBe(0);
        expect(groups.at(-1)![1], what).toBe(rows);
        groups.forEach(([lo, hi], i) => {
          if (i > 0) expect(lo, what).toBe(groups[i - 1][1]);
          const b = bindingOf(chunks, 256 + lo * rowBytes, (hi - lo) * rowBytes);
          expect(b, `${what}: experts ${lo}..${hi}`).toBeDefined();
          expect(b!.offset % BINDING_ALIGN).toBe(0);
          expect(b!.bytes % 4).toBe(0);
          if (hi - lo > 1) expect(b!.bytes, what).toBeLessThanOrEqual(maxBinding);
          // The bound range holds the rows: it starts at or before them and ends at or after them.
          const start = 256 + lo * rowBytes - chunks[b!.chunk].offset;
          expect(b!.offset <= start && start + (hi - lo) * rowBytes <= b!.offset + b!.bytes, what).toBe(true);
        });
        if (maxBinding >= 4096) expect(groups, what).toEqual([[0, rows]]);
      }
  });
});

describe('quantized WGSL kernels without an adapter', () => {
  it('tiny.moe --quantize i4 matches its golden WGSL and manifest', async () => {
    const { program } = compileQuant('tiny.moe', 'i4', 64);
    const plan = planWgsl(program, target);
    const files = wgslBackend.emit(program, target);
    const wgsl = plan.kernels.map((k, i) => `// ==== ${kernelFile(plan, i)} ====\n${k.shader.code}`).join('\n');
    expect(wgsl).toContain('fn code_i4(');
    // `moec pack --target webgpu --quantize i4`: codes two per byte at the offsets the manifest gives.
    const packed = wgslBackend.packWeights!(program, target, randomWeights(compileFile('examples/tiny.moe'), 0));
    expect(packed.blob.byteLength).toBe(plan.weights.bytes);
    const codes = packed.manifest.tensors.filter((t) => t.dtype === 'i4');
    expect(codes.map((t) => [t.name, t.bytes, t.layout])).toEqual(plan.weights.entries.filter((e) => e.dtype === 'i4').map((e) => [e.name, e.shape.reduce((a, b) => a * b, 1) / 2, codeLayout('i4')]));
    await expect(wgsl).toMatchFileSnapshot('../golden/wgsl/tiny-i4.wgsl');
    await expect(files['manifest.json']).toMatchFileSnapshot('../golden/wgsl/tiny-i4.manifest.json');
  });

  for (const file of Object.keys(SMALL))
    it(`${file} x ${SCHEMES.join(', ')}: every kernel fits WebGPU's default limits at real sizes, scales bindings included`, () => {
      for (const scheme of SCHEMES)
        for (const k of realPlan(file, scheme).kernels) {
          const what = `${file} ${scheme} ${k.name}`;
          expect(k.shader.workgroup[0] * k.shader.workgroup[1] * k.shader.workgroup[2], what).toBeLessThanOrEqual(256);
          expect(k.shader.workgroupBytes, what).toBeLessThanOrEqual(16384);
          expect(k.shader.code.match(/var<storage/g)!.length, what).toBeLessThanOrEqual(8);
          expect(k.shader.code, what).not.toMatch(/\bf16\b/);
        }
    });
});

describe('WGSL quantized buffers it cannot read', () => {
  const tiny = (): KProgram => compileModel(compileFile('examples/tiny.moe'), { target, maxTokens: 16 }).program;
  /** tiny's program with w_down ([4, 8, 16], reduction axis 2) made i8 with scales along `axis`. */
  const withQuant = (p: KProgram, name: string, axis: number): KProgram => {
    const w = p.buffers.find((b) => b.name === name)!;
    const scales = { name: `${name}.scales`, dtype: 'f32' as const, shape: scaleShape(w.shape as number[], axis, w.shape[axis] as number), kind: 'weight' as const };
    return { ...p, buffers: [...p.buffers.map((b) => (b === w ? { ...b, dtype: 'i8' as const, quant: { scales: scales.name, axis, group: w.shape[axis] as number } } : b)), scales] };
  };
  const e701 = (p: KProgram, why: RegExp): void => {
    let err: unknown;
    try {
      planWgsl(p, target);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MoecError);
    const [d] = (err as MoecError).diagnostics;
    expect(d.code).toBe('E701');
    expect(d.message).toMatch(why);
    expect(d.hint).toBeTruthy();
  };

  it('E701 with a hint, not a crash: scales off the reduction axis, no scales, a quantized temp, scales of the wrong shape', () => {
    const p = tiny();
    expect(() => planWgsl(withQuant(p, 'w_down', 2), target)).not.toThrow();
    e701(withQuant(p, 'w_down', 1), /reduction axis \(2\); w_down's run along axis 1/);
    e701({ ...p, buffers: p.buffers.map((b) => (b.name === 'w_down' ? { ...b, dtype: 'i4' as const } : b)) }, /w_down \(i4\): it has no scales/);
    const temp = p.buffers.find((b) => b.kind === 'temp')!;
    e701({ ...p, buffers: p.buffers.map((b) => (b === temp ? { ...b, dtype: 'fp8e4m3' as const } : b)) }, /only weights are quantized, this is a temp buffer/);
    const q = withQuant(p, 'w_down', 2);
    e701({ ...q, buffers: q.buffers.map((b) => (b.name === 'w_down.scales' ? { ...b, shape: [4, 8, 2] } : b)) }, /scales w_down.scales are \[4, 8, 2\], not \[4, 8, 1\]/);
  });
});
