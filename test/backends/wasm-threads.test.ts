/**
 * Multi-threaded Wasm: the threaded build (shared memory imported as env.memory, every thread
 * an instance running forward(T), a barrier in shared memory between steps) gives the output
 * of the one-thread build bit for bit: GEMMs are split over routed slots, sorted blocks, row
 * sets or whole column panels, so every element is computed by one thread with the same code
 * in the same order. Node's worker_threads here; test/browser.test.ts runs Web Workers.
 */
import { describe, expect, it } from 'vitest';
import { loadWasm } from '../../compiler/backends/wasm/index.ts';
import { buildModule } from '../../compiler/backends/wasm/module.ts';
import { linearAt } from '../../compiler/backends/wasm/layout.ts';
import { atTokens } from '../../ir/kernel/memory.ts';
import { CONTROL } from '../../compiler/backends/wasm/env.ts';
import { compileFile, compileModel, randomInputs, randomWeights } from '../../compiler/driver.ts';
import type { GroupedGemmKernel, Step } from '../../ir/kernel/kernel.ts';
import { SMALL } from '../small-sizes.ts';

const same = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('threaded wasm build', () => {
  for (const file of Object.keys(SMALL))
    it(`${file}: 2 and 3 threads give the one-thread output bit for bit at T = 1, 7 and 300`, async () => {
      const m = compileFile(`examples/${file}`, { consts: SMALL[file] });
      const { program, target } = compileModel(m, { target: 'wasm-simd128', maxTokens: 300 });
      const weights = randomWeights(m, 11);
      const one = await loadWasm(program, target, weights);
      const two = await loadWasm(program, target, weights, { threads: 2 });
      const three = await loadWasm(program, target, weights, { threads: 3 });
      try {
        expect([one.model.threads, two.model.threads, three.model.threads]).toEqual([1, 2, 3]);
        expect(two.built.text).toContain('memory.atomic.wait32');
        expect(two.built.manifest.threads).toEqual({ max: 2, control: two.built.manifest.scratch.base });
        for (const T of [1, 7, 300]) {
          const inputs = randomInputs(m, { T }, 11);
          const want = await one.forward(inputs, { T });
          for (const got of [await two.forward(inputs, { T }), await three.forward(inputs, { T })])
            for (const o of program.outputs) expect(same(got[o.name].data as Float32Array, want[o.name].data as Float32Array), `${o.name} at T=${T}`).toBe(true);
        }
      } finally {
        for (const x of [one, two, three]) x.dispose();
      }
    }, 60_000);

  it('the shared memory declares wasm32\'s maximum and still grows', async () => {
    const m = compileFile('examples/tiny.moe');
    const { program, target } = compileModel(m, { target: 'wasm-simd128', maxTokens: 16 });
    const loaded = await loadWasm(program, target, randomWeights(m, 1), { threads: 2 });
    try {
      const mem = loaded.model.memory;
      expect(mem.buffer).toBeInstanceOf(SharedArrayBuffer);
      const before = mem.buffer.byteLength;
      mem.grow(1);
      expect(mem.buffer.byteLength).toBe(before + 65536);
      const inputs = randomInputs(m, { T: 4 }, 1);
      expect((await loaded.forward(inputs, { T: 4 })).y.data.length).toBe(32);
    } finally {
      loaded.dispose();
    }
  });

  it('an expert index outside 0..E-1 in a thread: recorded in the control words and skipped (a trap would leave the other threads at a barrier); the one-thread build traps', () => {
    const m = compileFile('examples/tiny.moe');
    const { program, target } = compileModel(m, { target: 'wasm-simd128', maxTokens: 16 });
    const gemm = program.steps.find((s: Step): s is GroupedGemmKernel => s.kind === 'grouped_gemm')!;
    const kernelName = (built: ReturnType<typeof buildModule>): string => built.text.match(/\(export "(k\d+_grouped_gemm)"/)![1];
    // (the arena's base and its offsets are affine in the tokens of the call: one token here)
    const indicesAt = (built: ReturnType<typeof buildModule>): number => linearAt(built.manifest.arena.base, 1) + atTokens(program.buffers.find((b) => b.name === gemm.indices)!.offset!, 1);
    // One token on the decode path, its routed slots naming expert 99.
    const threaded = buildModule(program, target, { threads: 2, exportKernels: true });
    const memory = new WebAssembly.Memory({ initial: threaded.manifest.memory.totalPages, maximum: 65536, shared: true });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(threaded.binary as Uint8Array<ArrayBuffer>), { env: { memory } });
    (inst.exports.set_thread as (t: number, n: number) => void)(0, 1);
    new Int32Array(memory.buffer, indicesAt(threaded), gemm.k).fill(99);
    (inst.exports[kernelName(threaded)] as (T: number) => void)(1);
    expect(new Int32Array(memory.buffer, threaded.manifest.threads!.control + CONTROL.error, 1)[0]).toBe(1);
    const single = buildModule(program, target, { exportKernels: true });
    const one = new WebAssembly.Instance(new WebAssembly.Module(single.binary as Uint8Array<ArrayBuffer>), {});
    const mem1 = one.exports.memory as WebAssembly.Memory;
    mem1.grow(single.manifest.memory.totalPages - mem1.buffer.byteLength / 65536);
    new Int32Array(mem1.buffer, indicesAt(single), gemm.k).fill(99);
    expect(() => (one.exports[kernelName(single)] as (T: number) => void)(1)).toThrow(WebAssembly.RuntimeError);
  });
});
