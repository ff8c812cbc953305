/**
 * One FLOP count (compiler/cost/op-flops.ts) for `moec analyze`, the cost model and the
 * benchmark: they used to keep two tables (the benchmark counted a cast and a topk, analyze
 * neither, and the benchmark charged glu and the decoder ops nothing).
 */
import { describe, expect, it } from 'vitest';
import { forwardCost } from '../bench/cost.ts';
import { contextBindings, countFlops } from '../compiler/analysis/flops.ts';
import { kernelCost } from '../compiler/cost/cost.ts';
import type { OpSizes } from '../compiler/cost/attention.ts';
import { compileFile } from '../compiler/driver.ts';
import { opFlops } from '../compiler/cost/op-flops.ts';
import { forEachKernel } from '../ir/kernel/walk.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { evalShape } from '../ir/dims.ts';
import { dtypeBytes } from '../ir/types.ts';

const EXAMPLES = ['examples/tiny.moe', 'examples/mixtral.moe', 'examples/switch.moe', 'examples/qwen-moe.moe', 'examples/gpt-oss.moe', 'examples/deepseek-v3.moe', 'bench/models/deepseek-mini.moe'];

function sizes(inputs: number[][], outputs: number[][], attrs: Record<string, unknown> = {}): OpSizes {
  return { inputs, outputs, inputBytes: inputs.map(() => 4), outputBytes: outputs.map(() => 4), attrs };
}

describe('one FLOP count per op', () => {
  it('a cast converts (0 FLOPs); a selection compares every candidate; glu counts its SwiGLU', () => {
    expect(opFlops('cast', sizes([[3, 8]], [[3, 8]]))).toBe(0);
    expect(opFlops('topk', sizes([[3, 8]], [[3, 2], [3, 2]]))).toBe(24);
    expect(opFlops('group_topk', sizes([[3, 8]], [[3, 2], [3, 2]]))).toBe(72);
    expect(opFlops('glu', sizes([[3, 16]], [[3, 8]], { fn: 'swiglu' }))).toBe(6 * 24);
    expect(opFlops('glu', sizes([[3, 16]], [[3, 8]], { fn: 'swiglu_clamped' }))).toBe(10 * 24);
    expect(opFlops('sum', sizes([[3, 8]], [[3]]))).toBe(24);
    expect(opFlops('softmax', sizes([[3, 8]], [[3, 8]]))).toBe(5 * 24);
  });

  it('moec analyze and the benchmark charge every example the same FLOPs', () => {
    for (const file of EXAMPLES) {
      const m = compileFile(file);
      for (const [tokens, cached] of [[1, 15], [7, 0], [5, 9]]) {
        const bindings = contextBindings(m, tokens, cached);
        expect(forwardCost(m, bindings).flops, `${file} T=${tokens}`).toBe(countFlops(m, { bindings }).total);
      }
    }
  });

  it("the cost model charges an op kernel the same count as the graph op's", () => {
    const target = loadTarget('x86-avx2');
    let checked = 0;
    for (const file of ['examples/deepseek-v3.moe', 'examples/gpt-oss.moe', 'examples/mixtral.moe']) {
      const p = runPipeline(compileFile(file), { target, maxTokens: 64 }).program!;
      const buf = (n: string) => p.buffers.find((b) => b.name === n)!;
      const bindings = { T: 5, L: 9 };
      const shape = (n: string): number[] => evalShape(buf(n).shape, bindings);
      forEachKernel(p.steps, (k) => {
        if (k.kind !== 'op') return;
        const s: OpSizes = {
          inputs: k.inputs.map(shape), outputs: k.outputs.map(shape),
          inputBytes: k.inputs.map((n) => dtypeBytes(buf(n).dtype)), outputBytes: k.outputs.map((n) => dtypeBytes(buf(n).dtype)), attrs: k.attrs,
        };
        expect(kernelCost(k, p, target, 5, bindings).flops, `${file} ${k.op}`).toBe(opFlops(k.op, s));
        checked++;
      });
    }
    expect(checked).toBeGreaterThan(0);
  });
});
