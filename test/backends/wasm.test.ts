/**
 * The wasm backend against the kernel IR's reference interpreter: every example at
 * T = 1, 7 and 300 (tiny: 1, 7, 64), on the SIMD128 and the scalar build, the same seeded
 * weights and inputs. Tolerance: max |Δ| <= 2e-6 relative to the output's scale and no NaN
 * mismatch (measured: at most 3.3e-7; the kernels accumulate in float32 where the reference
 * uses float64, and add combine rows in sorted order). Also: the module rejects T over its
 * bound, writes nothing outside its buffers (canaries), and the tiny model's `.wat` is a
 * golden file.
 */
import { expectAgreement } from '../expect-agreement.ts';
import { describe, expect, it } from 'vitest';
import { loadWasm } from '../../compiler/backends/wasm/index.ts';
import { compileFile, compileModel, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { MoecError } from '../../ir/diagnostics.ts';
import { evalShape } from '../../ir/dims.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import { loopSlices } from '../../ir/kernel/walk.ts';
import { atTokens } from '../../ir/kernel/memory.ts';
import { linearAt } from '../../compiler/backends/wasm/layout.ts';
import { loadWasmModel } from '../../compiler/backends/wasm/loader.ts';
import { SMALL } from '../small-sizes.ts';
import { emitWasm } from '../../compiler/backends/wasm/index.ts';
import { getBackend } from '../../compiler/backends/registry.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../compiler/cli/cli.ts';
import { writeSafetensors } from '../../compiler/io/write-safetensors.ts';
import { agreement } from '../../compiler/compare.ts';
import { interpret } from '../../ir/graph/interp.ts';

const TOLERANCE = 2e-6;

function compileExample(file: string, target: string, maxTokens: number) {
  const m = compileFile(`examples/${file}`, { consts: SMALL[file] });
  return { m, ...compileModel(m, { target, maxTokens }) };
}

describe('wasm backend parity', () => {
  for (const target of ['wasm-simd128', 'wasm-scalar'])
    for (const file of Object.keys(SMALL)) {
      const tokens = file === 'tiny.moe' ? [1, 7, 64] : [1, 7, 300];
      it(`${file} on ${target} matches the kernel interpreter at T = ${tokens.join(', ')}`, async () => {
        const { m, program, target: caps } = compileExample(file, target, Math.max(...tokens));
        const weights = randomWeights(m, 11);
        const loaded = await loadWasm(program, caps, weights);
        for (const T of tokens) {
          const inputs = randomInputs(m, { T }, 11);
          const want = interpretKernelIR(program, { bindings: { T }, inputs, weights });
          const got = await loaded.forward(inputs, { T });
          for (const o of program.outputs) {
            expect(got[o.name].shape).toEqual(want[o.name].shape);
            expectAgreement(got[o.name], want[o.name], { maxRel: TOLERANCE }, `${o.name} at T=${T}`);
          }
        }
      });
    }
});

describe('wasm backend contract', () => {
  it('is registered and rejects T over the compiled bound with a clear error', async () => {
    const backend = await getBackend('wasm');
    const { m, program, target } = compileExample('tiny.moe', 'wasm-simd128', 16);
    const loaded = await backend.load(program, target, randomWeights(m, 1));
    await expect(loaded.forward(randomInputs(m, { T: 17 }, 1), { T: 17 })).rejects.toThrow(MoecError);
    await expect(loaded.forward(randomInputs(m, { T: 17 }, 1), { T: 17 })).rejects.toThrow('E505: T = 17 is outside 1..16, the token counts the program was compiled for');
    const direct = await loadWasm(program, target, randomWeights(m, 1));
    // The loader (what a web page runs) says it in the same words, through the same check.
    expect(() => direct.model.forward(new Float32Array(17 * 8), 17)).toThrow('E505: T = 17 is outside 1..16, the token counts the program was compiled for');
    expect(() => direct.model.forward(new Float32Array(0), 0)).toThrow('T = 0 is outside 1..16');
    expect(() => direct.model.forward(new Float32Array(5), 1)).toThrow(/takes 8/);
  });

  it('reports a model over 4 GiB of linear memory as E702', () => {
    const m = compileFile('examples/mixtral.moe');
    const { program, target } = compileModel(m, { target: 'wasm-simd128', maxTokens: 16 });
    expect(() => emitWasm(program, target)).toThrow(/E702: .*wasm32 addresses at most 4 GiB/);
  });

  /**
   * Fills everything below the weights (inputs, arena, scratch, the null guard) with a
   * canary byte, runs, and requires every byte outside the planned buffers at this T (and
   * the scratch region) to still hold it, and the weights to be unchanged.
   */
  for (const file of ['deepseek-v3.moe', 'gpt-oss.moe', 'switch.moe'])
    it(`${file}: writes nothing outside its buffers at T = 1 and T = bound`, async () => {
      const bound = 40;
      const { m, program, target } = compileExample(file, 'wasm-simd128', bound);
      const loaded = await loadWasm(program, target, randomWeights(m, 5));
      const { manifest } = loaded.built;
      const slices = loopSlices(program.steps);
      for (const T of [1, bound]) {
        const x = randomInputs(m, { T }, 5).x.data as Float32Array;
        loaded.model.forward(x, T); // memory grows for T on the first call
        const mem = new Uint8Array(loaded.model.memory.buffer);
        const [wBase, wEnd] = [manifest.weights.base, manifest.weights.base + manifest.weights.bytes];
        const weightsBefore = mem.slice(wBase, wEnd);
        mem.fill(0xa5, 0, wBase);
        mem.fill(0xa5, wEnd);
        const allowed: Array<[number, number]> = [[manifest.scratch.base, manifest.scratch.base + manifest.scratch.bytes]];
        for (const b of program.buffers) {
          if (b.kind === 'weight' || slices.has(b.name)) continue;
          const bytes = 4 * evalShape(b.shape, { T }).reduce((p, d) => p * d, 1);
          const at = b.kind === 'input' ? linearAt(manifest.inputs.find((i) => program.inputs.some((pi) => pi.buffer === b.name && pi.name === i.name))!.address, T) : linearAt(manifest.arena.base, T) + atTokens(b.offset!, T);
          allowed.push([at, at + bytes]);
        }
        loaded.model.forward(x, T);
        const after = new Uint8Array(loaded.model.memory.buffer);
        let stray = -1;
        for (let i = 0; i < after.length && stray < 0; i++) if ((i < wBase || i >= wEnd) && after[i] !== 0xa5 && !allowed.some(([lo, hi]) => i >= lo && i < hi)) stray = i;
        expect(stray, `first byte written outside a buffer at T=${T}`).toBe(-1);
        expect(after.slice(wBase, wEnd)).toEqual(weightsBefore);
      }
    });

  it('memory grows on demand: a small T needs pages for its tokens only, a large T grows the memory before its call (was: initial memory reserved for the token bound)', async () => {
    const bound = 4096;
    const { m, program, target } = compileExample('mixtral.moe', 'wasm-simd128', bound);
    const loaded = await loadWasm(program, target, randomWeights(m, 5));
    const { manifest } = loaded.built;
    const pages = (): number => loaded.model.memory.buffer.byteLength / 65536;
    // The module declares the scratch only; the weights come in at load.
    expect(manifest.memory.initialPages).toBeLessThan(8);
    expect(pages()).toBe(manifest.memory.totalPages);
    const small = randomInputs(m, { T: 2 }, 5).x.data as Float32Array;
    const y2 = loaded.model.forward(small, 2);
    const afterSmall = pages();
    expect(afterSmall).toBe(Math.max(manifest.memory.totalPages, Math.ceil(linearAt(manifest.memory.callBytes, 2) / 65536)));
    const atBound = Math.ceil(linearAt(manifest.memory.callBytes, bound) / 65536);
    expect(atBound - afterSmall, 'the bound needs many more pages than T = 2').toBeGreaterThan(50);
    loaded.model.forward(randomInputs(m, { T: bound }, 5).x.data as Float32Array, bound);
    expect(pages()).toBe(atBound);
    // Memory never shrinks; a small call after the large one gives the same numbers.
    expect(loaded.model.forward(small, 2)).toEqual(y2);
    expect(pages()).toBe(atBound);
  });

  it('emits model.wasm, model.wat, the manifest and the relaxed SIMD build; the tiny model .wat matches its golden file', async () => {
    const { program, target } = compileExample('tiny.moe', 'wasm-simd128', 64);
    const files = emitWasm(program, target);
    expect(Object.keys(files).sort()).toEqual(['model.json', 'model.relaxed.wasm', 'model.wasm', 'model.wat']);
    expect(WebAssembly.validate(files['model.wasm'] as Uint8Array<ArrayBuffer>)).toBe(true);
    const manifest = JSON.parse(files['model.json'] as string);
    expect(manifest).toMatchObject({ format: 'moec-wasm', version: 2, model: 'tiny', target: 'wasm-simd128', simd: true, maxTokens: 64 });
    await expect(files['model.wat']).toMatchFileSnapshot('../golden/wasm/tiny.wasm-simd128.wat');
    // A version 1 manifest (fixed addresses, memory reserved for the bound) is refused with what to do.
    await expect(loadWasmModel(files['model.wasm'] as Uint8Array<ArrayBuffer>, { ...manifest, version: 1 }, new Uint8Array(manifest.weights.bytes))).rejects.toThrow(
      'not a moec-wasm version 2 manifest (format moec-wasm, version 1); compile the model again with this moec',
    );
  });
});

describe('wasm backend numerics', () => {
  // The epilogue ran in float64, so (up + 1) · gate past float32's range stayed finite and
  // times sigmoid's 0 gave 0, where the reference, C and WGSL (float32) give Inf · 0 = NaN.
  it('epilogue overflow is float32 overflow: gpt-oss with a row of 1e38 gives the reference NaNs', async () => {
    const m = compileFile('examples/gpt-oss.moe', { consts: { D: 16, F: 16 } });
    const { program, target } = compileModel(m, { target: 'wasm-simd128', maxTokens: 4 });
    const weights = randomWeights(m, 0);
    const inputs = randomInputs(m, { T: 4 }, 0);
    (inputs.x.data as Float32Array).fill(1e38, 0, 16);
    const want = interpret(m, { bindings: { T: 4 }, inputs, weights }).y;
    const got = (await (await loadWasm(program, target, weights)).forward(inputs, { T: 4 })).y;
    expect(Array.from(want.data).filter(Number.isNaN).length, 'the reference overflows to NaN on the big row').toBeGreaterThan(0);
    const a = agreement(got, want);
    expect({ nan: a.nanMismatch, inf: a.infMismatch }).toEqual({ nan: 0, inf: 0 });
    expect(a.maxRel).toBeLessThanOrEqual(TOLERANCE);
  });

  it('moec run --check on that input: the NaNs agree, no mismatch is printed, exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-wasm-nan-'));
    const x = new Float32Array(4 * 16).map((_, i) => Math.sin(i));
    x.fill(1e38, 0, 16);
    writeSafetensors(join(dir, 'x.safetensors'), { x: { dtype: 'f32', shape: [4, 16], data: x } });
    const out: string[] = [];
    const code = await main(['run', 'examples/gpt-oss.moe', '--tokens', '4', '--set', 'D=16,F=16', '--inputs', join(dir, 'x.safetensors'), '--backend', 'wasm', '--check'], { out: (s) => out.push(s), err: (s) => out.push(s) });
    expect(code, out.join('\n')).toBe(0);
    expect(out.join('\n')).toMatch(/NaN 16/);
    expect(out.join('\n')).toMatch(/vs reference interpreter: max\|Δ\| \S+ \(rel \S+\), relL2 \S+$/m);
    expect(out.join('\n')).not.toContain('mismatch');
  });
});
