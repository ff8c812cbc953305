/**
 * Quantized weights on the wasm backend (issue 8) against the kernel interpreter's quantized
 * semantics: every example (test sizes) × --quantize i8, i4 (groups of 32), i4g128 and fp8
 * at T = 1 (the direct decode path) and five tokens past the sorted path's threshold, the
 * same seeded weights and inputs. The SIMD128 build runs every scheme;
 * the scalar build i4 and fp8 (the two with the most decode code). Mixtral at D = 256,
 * F = 160 adds reductions long enough for several groups of 128, and a partial one.
 *
 * Tolerance, as the f32 parity tests: max |Δ| <= 2e-6 relative to the output's scale,
 * relL2 <= 1e-6, no NaN mismatch. The kernels form each weight value exactly as the
 * interpreter does (fround(decode · scale)); only the f32 accumulation order differs.
 * Measured: max |Δ| / scale <= 2.9e-7 and relL2 <= 2.3e-7 over all of these.
 *
 * Also: the codes are what sits in linear memory (the weights region is the codes and
 * scales, memory never grows while running, so no dequantized copy exists), the loader takes
 * codes by name, what the kernels cannot decode is E701 with a hint, and the tiny model's
 * i8 `.wat` is a golden file.
 */
import { expectAgreement } from '../expect-agreement.ts';
import { describe, expect, it } from 'vitest';
import { emitWasm, loadWasm } from '../../compiler/backends/wasm/index.ts';
import { loadWasmModel } from '../../compiler/backends/wasm/loader.ts';
import { packWeights, weightBlob } from '../../compiler/backends/weights.ts';
import { MoecError } from '../../ir/diagnostics.ts';
import { compile, compileFile, compileModel, randomInputs, randomWeights } from '../../compiler/driver.ts';
import type { KProgram, Step } from '../../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import { type QuantDType, codeBytes, isQuantDType, packCodes } from '../../ir/quant.ts';
import { SMALL } from '../small-sizes.ts';
import { withRouter } from '../quant-router-too.ts';
import { linearAt } from '../../compiler/backends/wasm/layout.ts';

const MAX_REL = 2e-6;
const REL_L2 = 1e-6;
const BOUND = 40;

function compileQuant(file: string, consts: Record<string, number>, scheme: string, target: string) {
  const m = compileFile(`examples/${file}`, { consts });
  return { m, ...compileModel(m, { target, maxTokens: BOUND, quantize: withRouter(scheme) }) };
}

/** T = 1 (the direct path) and a T a few tokens into the sorted path of every grouped GEMM. */
function tokensOf(p: KProgram): number[] {
  const from = Math.max(1, ...walk(p.steps).map((s) => (s.kind === 'grouped_gemm' ? s.sortedFromTokens : 1)));
  return [1, Math.min(BOUND, from + 5)];
}

async function expectParity(file: string, consts: Record<string, number>, scheme: string, target: string): Promise<void> {
  const { m, program, target: caps } = compileQuant(file, consts, scheme, target);
  expect(program.buffers.some((b) => isQuantDType(b.dtype)), 'the program has quantized weights').toBe(true);
  const weights = randomWeights(m, 11);
  const loaded = await loadWasm(program, caps, weights);
  const pages = loaded.model.memory.buffer.byteLength;
  for (const T of tokensOf(program)) {
    const inputs = randomInputs(m, { T }, 11);
    const want = interpretKernelIR(program, { bindings: { T }, inputs, weights });
    const got = await loaded.forward(inputs, { T });
    for (const o of program.outputs) {
      expectAgreement(got[o.name], want[o.name], { maxRel: MAX_REL, relL2: REL_L2 }, `${o.name} at T=${T}`);
    }
  }
  // Memory grows as a call needs it (its inputs and arena after the weights), never past what the largest T run needs.
  const need = Math.ceil(linearAt(loaded.built.manifest.memory.callBytes, Math.max(...tokensOf(program))) / 65536) * 65536;
  expect(loaded.model.memory.buffer.byteLength, 'memory grows to what the largest call needs, no more').toBe(Math.max(pages, need));
}

describe('wasm backend with quantized weights', () => {
  for (const file of Object.keys(SMALL))
    it(`${file} --quantize i8, i4, i4g128, fp8 on wasm-simd128 matches the kernel interpreter at T = 1 and on the sorted path`, async () => {
      for (const scheme of ['i8', 'i4', 'i4g128', 'fp8']) await expectParity(file, SMALL[file], scheme, 'wasm-simd128');
    });

  for (const file of Object.keys(SMALL))
    it(`${file} --quantize i4, fp8 on wasm-scalar matches the kernel interpreter at T = 1 and on the sorted path`, async () => {
      for (const scheme of ['i4', 'fp8']) await expectParity(file, SMALL[file], scheme, 'wasm-scalar');
    });

  for (const target of ['wasm-simd128', 'wasm-scalar'])
    it(`dense GEMMs over weights declared quantized in the model: [in, out] i4 scaled along axis -2, [out, in] i8 per channel, fp8 (${target})`, async () => {
      const m = compile(DENSE);
      const { program, target: caps } = compileModel(m, { target, maxTokens: 16 });
      const gemms = walk(program.steps).filter((s) => s.kind === 'gemm');
      expect(gemms.map((g) => program.buffers.find((b) => b.name === (g.kind === 'gemm' ? g.w : ''))!.dtype)).toEqual(['i4', 'i8', 'fp8e4m3']);
      const weights = randomWeights(m, 2);
      const loaded = await loadWasm(program, caps, weights);
      for (const T of [1, 5, 16]) {
        const inputs = randomInputs(m, { T }, 2);
        expectAgreement((await loaded.forward(inputs, { T })).y, interpretKernelIR(program, { bindings: { T }, inputs, weights }).y, { maxRel: MAX_REL, relL2: REL_L2 }, `T=${T}`);
      }
    });

  it('mixtral.moe at D = 256, F = 160 (several groups of 128, a partial one) --quantize i4g128, fp8 on wasm-simd128', async () => {
    for (const scheme of ['i4g128', 'fp8']) await expectParity('mixtral.moe', { D: 256, F: 160 }, scheme, 'wasm-simd128');
  });
});

const DENSE = `dim T <= 16
model dense {
  input x: f32[T, 64]
  weight w: i4(group=32, axis=-2)[64, 48]
  weight b: f32[48]
  weight w2: i8(group=channel)[40, 48]
  weight w3: fp8e4m3(group=128)[24, 40]
  output y = linear(relu(linear(relu(matmul(x, w, b)), w2)), w3)
}
`;

function walk(steps: readonly Step[]): Step[] {
  return steps.flatMap((s) => (s.kind === 'loop' ? walk(s.body) : [s]));
}

describe('wasm backend quantized weights in memory', () => {
  it('the weights region holds codes and f32 scales, the manifest describes them, and the loader takes codes by name', async () => {
    const { m, program, target } = compileQuant('mixtral.moe', SMALL['mixtral.moe'], 'i4', 'wasm-simd128');
    const f32 = compileModel(m, { target: 'wasm-simd128', maxTokens: 40 }).program;
    const weights = randomWeights(m, 3);
    const loaded = await loadWasm(program, target, weights);
    const { manifest } = loaded.built;
    const byName = new Map(program.buffers.map((b) => [b.name, b]));
    let codes = 0;
    for (const e of manifest.weights.entries) {
      const b = byName.get(e.name)!;
      if (!isQuantDType(b.dtype)) continue;
      expect(e).toMatchObject({ dtype: 'i4', quant: b.quant, bytes: codeBytes('i4', e.shape) });
      expect(manifest.weights.entries.find((s) => s.name === b.quant!.scales)).toMatchObject({ dtype: 'f32' });
      codes += e.bytes;
    }
    expect(codes).toBeGreaterThan(0);
    // Every router and GEMM weight is quantized; the blob is far smaller than the f32 one.
    for (const s of walk(program.steps)) if (s.kind === 'router' || s.kind === 'gemm' || s.kind === 'grouped_gemm') expect(byName.get(s.w)!.dtype).toBe('i4');
    const f32Bytes = emitWasm(f32, target)['model.json'] as string;
    expect(manifest.weights.bytes).toBeLessThan(JSON.parse(f32Bytes).weights.bytes / 4);

    // The same model from the packed tensors by name: codes as bytes, scales as f32.
    const packed = packWeights(program, weights);
    const byTensor: Record<string, Float32Array | Uint8Array> = {};
    for (const e of manifest.weights.entries) {
      const t = packed[e.name];
      byTensor[e.name] = isQuantDType(e.dtype) ? packCodes(e.dtype as QuantDType, t.data as Int32Array) : Float32Array.from(t.data);
    }
    const fromNames = await loadWasmModel(loaded.built.binary, manifest, byTensor);
    const fromBlob = await loadWasmModel(loaded.built.binary, manifest, weightBlob(loaded.built.layout.weights, packed));
    const x = randomInputs(m, { T: 3 }, 3).x.data as Float32Array;
    expect(Array.from(fromNames.forward(x, 3))).toEqual(Array.from(fromBlob.forward(x, 3)));
    // Codes given as floats are refused with what the entry takes.
    const name = manifest.weights.entries.find((e) => isQuantDType(e.dtype))!.name;
    await expect(loadWasmModel(loaded.built.binary, manifest, { ...byTensor, [name]: new Float32Array(byTensor[name].length / 4) })).rejects.toThrow(/as a Uint8Array of codes/);
  });

  it('the tiny model --quantize i8 .wat matches its golden file', async () => {
    const { program, target } = compileQuant('tiny.moe', {}, 'i8', 'wasm-simd128');
    const files = emitWasm(program, target);
    expect(WebAssembly.validate(files['model.wasm'] as Uint8Array<ArrayBuffer>)).toBe(true);
    await expect(files['model.wat']).toMatchFileSnapshot('../golden/wasm/tiny.i8.wasm-simd128.wat');
  });
});

describe('wasm backend quantized weights it cannot read', () => {
  /** The i8 (or i4) program for switch with one change made to it. */
  function altered(scheme: string, change: (p: KProgram) => void): () => unknown {
    const { program, target } = compileQuant('switch.moe', SMALL['switch.moe'], scheme, 'wasm-simd128');
    change(program);
    return () => emitWasm(program, target);
  }
  const quantBuffer = (p: KProgram) => p.buffers.find((b) => isQuantDType(b.dtype) && walk(p.steps).some((s) => s.kind === 'grouped_gemm' && s.w === b.name))!;

  it('scales along another axis than the reduction: E701 with a hint', () => {
    const build = altered('i8', (p) => (quantBuffer(p).quant!.axis = 1));
    expect(build).toThrow(MoecError);
    expect(build).toThrow(/E701: .*scaled along axis 1, but the kernel reduces along axis 2/);
  });

  it('an i4 weight with an odd group: E701', () => {
    expect(altered('i4', (p) => (quantBuffer(p).quant!.group = 3))).toThrow(/E701: .*i4 weight .* group 3: .* must be even/);
  });

  it('a quantized weight read as plain values by another kernel: E701', () => {
    const build = altered('i8', (p) => {
      const router = walk(p.steps).find((s) => s.kind === 'router')!;
      if (router.kind !== 'router') throw new Error('no router');
      router.bias = quantBuffer(p).name;
    });
    expect(build).toThrow(/E701: router reads the i8 weight .* as plain values/);
  });
});
