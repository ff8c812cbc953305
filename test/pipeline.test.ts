/**
 * The whole pipeline on every example and target: graph passes → kernel IR → tiling →
 * memory plan. The kernel program must compute what the graph computes (the kernel IR
 * interpreter against the graph interpreter at T = 1, 7 and 300, max |Δ| <= 1e-5 relative
 * to the output's scale), also with every buffer placed in one arena by the memory plan,
 * with the router as one kernel and the experts as moe_align plus two grouped GEMMs; its
 * text form round-trips and matches the golden files.
 */
import { describe, expect, it } from 'vitest';
import { compileFile, randomInputs, randomWeights, run } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { listTargets, loadTarget } from '../compiler/target/load.ts';
import type { KProgram, Kernel, Step } from '../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { parseKernelIR } from '../ir/kernel/kparse.ts';
import { verifyKernelIR } from '../ir/kernel/kverify.ts';
import { printKernelIR } from '../ir/kernel/kprint.ts';
import { SMALL } from './small-sizes.ts';
import { atTokens } from '../ir/kernel/memory.ts';
import type { Dim } from '../ir/dims.ts';


function kernels(steps: Step[]): Kernel[] {
  return steps.flatMap((s) => (s.kind === 'loop' ? kernels(s.body) : [s]));
}

function compileFor(file: string, target: string, consts: Record<string, number>, maxTokens: number): KProgram {
  const m = compileFile(`examples/${file}`, { consts });
  return runPipeline(m, { target: loadTarget(target), maxTokens, verifyEach: true }).program!;
}

describe('pipeline', () => {
  it('ships the targets', () => {
    expect(listTargets()).toEqual(['npu-scratchpad', 'wasm-scalar', 'wasm-simd128', 'webgpu', 'x86-avx2', 'x86-avx512']);
  });

  for (const file of Object.keys(SMALL)) {
    for (const target of listTargets()) {
      it(`${file} on ${target}: one router, align + two grouped GEMMs, same numbers as the graph at T = 1, 7, 300`, () => {
        const tokens = file === 'tiny.moe' ? [1, 7, 64] : [1, 7, 300];
        const p = compileFor(file, target, SMALL[file], Math.max(...tokens));
        expect(verifyKernelIR(p)).toEqual([]);
        const ks = kernels(p.steps);
        expect(ks.filter((k) => k.kind === 'router')).toHaveLength(1);
        expect(ks.filter((k) => k.kind === 'moe_align')).toHaveLength(1);
        expect(ks.filter((k) => k.kind === 'grouped_gemm')).toHaveLength(2);
        for (const k of ks) if (k.kind === 'gemm' || k.kind === 'grouped_gemm') expect(k.tile, k.kind).toBeDefined();
        const bound = Math.max(...tokens);
        expect(atTokens(p.arenaBytes!, bound)).toBeGreaterThan(0);
        expect(atTokens(p.arenaBytes!, bound)).toBeLessThanOrEqual(p.naiveBytes!);
        const m = compileFile(`examples/${file}`, { consts: SMALL[file] });
        const weights = randomWeights(m, 11);
        for (const T of tokens) {
          const inputs = randomInputs(m, { T }, 11);
          const want = run(m, { tokens: T, weights, inputs }).outputs.y.data;
          const got = interpretKernelIR(p, { bindings: { T }, inputs, weights }).y.data;
          // The same program with every buffer at its planned place in one arena: the plan
          // must not let live buffers share bytes, so the numbers must not change at all.
          expect(Array.from(interpretKernelIR(p, { bindings: { T }, inputs, weights, arena: true }).y.data), `arena, T=${T}`).toEqual(Array.from(got));
          let scale = 0;
          let diff = 0;
          for (let i = 0; i < want.length; i++) {
            scale = Math.max(scale, Math.abs(want[i]));
            diff = Math.max(diff, Math.abs(want[i] - got[i]));
          }
          expect(diff, `T=${T}`).toBeLessThanOrEqual(1e-5 * Math.max(1, scale));
        }
      });
    }
  }

  for (const file of Object.keys(SMALL)) {
    it(`${file}: the kernel IR at real sizes round-trips and matches its golden file (x86-avx2)`, async () => {
      const m = compileFile(`examples/${file}`);
      const p = runPipeline(m, { target: loadTarget('x86-avx2'), maxTokens: 256 }).program!;
      const text = printKernelIR(p);
      expect(printKernelIR(parseKernelIR(text, 'golden.kir'))).toBe(text);
      await expect(text).toMatchFileSnapshot(`golden/kernel/${file.replace(/\.moe$/, '')}.x86-avx2.kir`);
    });
  }
});

/**
 * An independent check of the memory plan on real programs: number each access (a loop's
 * init copies, one pass over its body, its carried copies), and require that any two arena
 * buffers in use over intersecting ranges of accesses occupy disjoint bytes. (Carried
 * buffers are accessed at the loop's start and end, so they span its whole body.)
 */
describe('memory plan on the compiled examples', () => {
  function accesses(p: KProgram): Map<string, number[]> {
    const at = new Map<string, number[]>();
    let pos = 0;
    const use = (names: Array<string | undefined>): void => {
      for (const n of names) if (n !== undefined) at.set(n, [...(at.get(n) ?? []), pos]);
      pos++;
    };
    const walk = (steps: Step[]): void => {
      for (const s of steps) {
        if (s.kind !== 'loop') {
          const k = s as Kernel;
          use(Object.values(k).flatMap((v) => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [])));
          if (k.kind === 'gemm' || k.kind === 'grouped_gemm') use(k.epilogue.map((e) => (e.kind === 'bias' ? e.bias : e.kind === 'combine' ? e.weights : undefined)));
          continue;
        }
        use([...(s.init ?? []).flatMap((c) => [c.from, c.to]), ...s.carried.map((c) => c.to)]);
        walk(s.body);
        use(s.carried.flatMap((c) => [c.from, c.to]));
      }
    };
    walk(p.steps);
    use(p.outputs.map((o) => o.buffer));
    return at;
  }

  for (const file of Object.keys(SMALL))
    for (const target of ['x86-avx2', 'webgpu'])
      it(`${file} on ${target}: buffers in use together never share bytes`, () => {
        const p = compileFor(file, target, SMALL[file], 64);
        const at = accesses(p);
        const arena = p.buffers.filter((b) => (b.kind === 'temp' || b.kind === 'output') && b.offset !== undefined && at.has(b.name));
        for (const a of arena)
          for (const b of arena) {
            if (a.name >= b.name) continue;
            const [ua, ub] = [at.get(a.name)!, at.get(b.name)!];
            const together = Math.max(Math.min(...ua), Math.min(...ub)) <= Math.min(Math.max(...ua), Math.max(...ub));
            if (!together) continue;
            for (const T of [1, 32, 64]) {
              const at = (d: Dim | undefined): number => atTokens(d!, T);
              const disjoint = (a.part ?? 0) !== (b.part ?? 0) || at(a.offset) + at(a.bytes) <= at(b.offset) || at(b.offset) + at(b.bytes) <= at(a.offset);
              expect(disjoint, `T = ${T}: ${a.name} [${at(a.offset)}, +${at(a.bytes)}) and ${b.name} [${at(b.offset)}, +${at(b.bytes)})`).toBe(true);
            }
          }
      });
});
