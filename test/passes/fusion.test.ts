/**
 * The fusion passes: what each fuses (as IR text), what it must leave alone, and that on
 * every example the fused graph computes what the unfused one does (bit for bit for router
 * and expert fusion, whose fused ops are defined as the chains they replace; to float
 * rounding for shared-expert folding, which sums in a different order).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compile, compileFile, run } from '../../compiler/driver.ts';
import { foldSharedExperts } from '../../compiler/passes/fold-shared-experts.ts';
import { fuseDenseMlp } from '../../compiler/passes/fuse-dense-mlp.ts';
import { fuseExperts } from '../../compiler/passes/fuse-experts.ts';
import { fuseRouter } from '../../compiler/passes/fuse-router.ts';
import { canonicalize } from '../../compiler/passes/canonicalize.ts';
import type { Module } from '../../ir/graph/graph.ts';
import { printIR } from '../../ir/graph/print.ts';
import { verify } from '../../ir/graph/verify.ts';
import { SMALL } from '../small-sizes.ts';


const ops = (m: Module): string[] => m.funcs.flatMap((f) => f.body.map((n) => n.op));
const count = (m: Module, op: string): number => ops(m).filter((o) => o === op).length;

function fuseAll(m: Module): Module {
  return foldSharedExperts.run(fuseExperts.run(fuseRouter.run(m, {}), {}), {});
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('fusion on every example', () => {
  for (const [file, consts] of Object.entries(SMALL)) {
    it(`${file}: one router, one experts op, no primitives left; same numbers`, () => {
      const m = compileFile(`examples/${file}`, { consts });
      const r = fuseRouter.run(m, {});
      const e = fuseExperts.run(r, {});
      const s = foldSharedExperts.run(e, {});
      for (const x of [r, e, s]) expect(verify(x)).toEqual([]);
      expect(count(s, 'moe_router')).toBe(1);
      expect(count(s, 'moe_experts')).toBe(1);
      for (const op of ['topk', 'group_topk', 'softmax', 'moe_permute', 'moe_dispatch', 'grouped_matmul', 'moe_combine', 'route_capacity'])
        expect(count(s, op), op).toBe(0);
      for (const tokens of [1, 7]) {
        const want = run(m, { tokens, seed: 5 }).outputs.y.data;
        // Router and expert fusion: bit for bit.
        expect(Array.from(run(e, { tokens, seed: 5 }).outputs.y.data)).toEqual(Array.from(want));
        // Shared-expert folding: to float rounding.
        expect(maxDiff(run(s, { tokens, seed: 5 }).outputs.y.data, want)).toBeLessThan(1e-5);
      }
      // The input module is not modified.
      expect(printIR(m)).toBe(printIR(compileFile(`examples/${file}`, { consts })));
    });
  }

  it('folds shared experts: DeepSeek 1 shared expert, Qwen 48 = 3 x 16 wide with its sigmoid gate', () => {
    const ds = fuseAll(compileFile('examples/deepseek-v3.moe', { consts: SMALL['deepseek-v3.moe'] }));
    const dsRouter = ds.funcs.flatMap((f) => f.body).find((n) => n.op === 'moe_router')!;
    expect(dsRouter.attrs.shared).toBe(1);
    expect(dsRouter.attrs.has_shared_gate).toBe(false);
    const qw = fuseAll(compileFile('examples/qwen-moe.moe', { consts: SMALL['qwen-moe.moe'] }));
    const qwRouter = qw.funcs.flatMap((f) => f.body).find((n) => n.op === 'moe_router')!;
    expect(qwRouter.attrs.shared).toBe(3);
    expect(qwRouter.attrs.has_shared_gate).toBe(true);
    expect(count(qw, 'matmul')).toBe(0);
  });

  it('leaves a shared MLP alone when its output only broadcasts onto the experts\' (found by the moe fuzz kind: the fold crashed)', () => {
    // The shared expert's down projection gives [T, 1], which `+` broadcasts over D: not a
    // slice of the experts' [T, D] output, so it must not fold (it was reshaped to [.., D, S, F]).
    const text = readFileSync('examples/deepseek-v3.moe', 'utf8').replace('weight down: f32[D, hidden]', 'weight down: f32[1, hidden]');
    expect(text).toContain('f32[1, hidden]');
    const m = compile(text, { path: 'broadcast-shared.moe', consts: SMALL['deepseek-v3.moe'] });
    const s = fuseAll(m);
    expect(verify(s)).toEqual([]);
    expect(s.funcs.flatMap((f) => f.body).find((n) => n.op === 'moe_router')!.attrs.shared).toBe(0);
    expect(maxDiff(run(s, { tokens: 3, seed: 5 }).outputs.y.data, run(m, { tokens: 3, seed: 5 }).outputs.y.data)).toBeLessThan(1e-5);
  });

  it('packs stacked weights once in main, not per layer', () => {
    const ds = fuseAll(compileFile('examples/deepseek-v3.moe', { consts: SMALL['deepseek-v3.moe'] }));
    const main = ds.funcs.find((f) => f.name === 'main')!;
    expect(main.body.filter((n) => n.op === 'concat').length).toBeGreaterThan(0);
    const body = ds.funcs.find((f) => f.name === 'moe')!;
    expect(body.body.filter((n) => n.op === 'concat')).toEqual([]);
  });
});

const HEAD = 'dim T <= 64\nconst D = 8\nconst E = 4\n';

describe('fuse-router', () => {
  it('fuses a softmax top-k router with renormalisation, as IR text', () => {
    const m = compile(
      `${HEAD}model m {\n  input x: f32[T, D]\n  weight r: f32[E, D]\n  top = topk(softmax(linear(x, r)), k=2)\n` +
        '  output w = top.values / sum(top.values, axis=-1, keepdim=true)\n  output i = top.indices\n}\n',
    );
    const text = printIR(fuseRouter.run(m, {}));
    expect(text).toContain(
      '  %top.indices, %w = moe_router(%x, %r) {capacity_factor=null, group_score="sum_top2", groups=1, has_bias=false, has_select_bias=false, has_shared_gate=false, k=2, normalize=true, post_softmax=false, scale=1, score="softmax", select="topk", shared=0, topk_groups=1} : i32[T, 2], f32[T, 2]',
    );
    expect(text).not.toContain('topk(');
  });

  it('leaves the chain alone when an intermediate has another consumer', () => {
    const m = compile(
      `${HEAD}model m {\n  input x: f32[T, D]\n  weight r: f32[E, D]\n  probs = softmax(linear(x, r))\n  top = topk(probs, k=2)\n` +
        '  output w = top.values\n  output i = top.indices\n  output p = probs\n}\n',
    );
    expect(printIR(fuseRouter.run(m, {}))).toBe(printIR(m));
  });

  it('puts the router before users of its indices that came before the weights were finished', () => {
    // GPT-OSS-style: the softmax of the top-k values is written after the permutation that reads the indices.
    const m = compile(
      `${HEAD}model m {\n  input x: f32[T, D]\n  weight r: f32[E, D]\n  top = topk(linear(x, r), k=2)\n` +
        '  slots, offsets = moe_permute(top.indices, experts=E)\n  w = softmax(top.values)\n  output y = moe_combine(moe_dispatch(x, slots, offsets, k=2), slots, offsets, w)\n}\n',
    );
    const fused = fuseRouter.run(m, {});
    expect(verify(fused)).toEqual([]);
    expect(ops(fused).slice(0, 3)).toEqual(['weight', 'moe_router', 'moe_permute']);
    const inputs = { x: { dtype: 'f32' as const, shape: [5, 8], data: Float32Array.from({ length: 40 }, (_, i) => Math.sin(i)) } };
    const weights = { r: { dtype: 'f32' as const, shape: [4, 8], data: Float32Array.from({ length: 32 }, (_, i) => Math.cos(i)) } };
    expect(maxDiff(run(fused, { tokens: 5, inputs, weights }).outputs.y.data, run(m, { tokens: 5, inputs, weights }).outputs.y.data)).toBe(0);
  });

  it('leaves a top-k over activations (not a router) alone', () => {
    const m = compile(`${HEAD}model m {\n  input x: f32[T, D]\n  top = topk(x, k=2)\n  output w = top.values\n}\n`);
    expect(count(fuseRouter.run(m, {}), 'moe_router')).toBe(0);
  });
});

describe('fuse-dense-mlp', () => {
  it('packs a dense SwiGLU MLP into one GEMM and a glu, bit for bit', () => {
    const m = compile(
      `${HEAD}model m {\n  input x: f32[T, D]\n  weight g: f32[16, D]\n  weight u: f32[16, D]\n  weight d: f32[D, 16]\n` +
        '  output y = linear(silu(linear(x, g)) * linear(x, u), d)\n}\n',
    );
    const f = fuseDenseMlp.run(m, {});
    expect(verify(f)).toEqual([]);
    const text = printIR(f);
    expect(text).toContain('%packed.gate_up = concat(%g, %u) {axis=-2} : f32[32, 8]');
    expect(text).toContain('= glu(%');
    expect(count(f, 'silu')).toBe(0);
    const want = run(m, { tokens: 5, seed: 2 }).outputs.y.data;
    expect(Array.from(run(f, { tokens: 5, seed: 2 }).outputs.y.data)).toEqual(Array.from(want));
  });

  it('leaves a gated MLP alone when the gate activations are used elsewhere', () => {
    const m = compile(
      `${HEAD}model m {\n  input x: f32[T, D]\n  weight g: f32[16, D]\n  weight u: f32[16, D]\n  a = silu(linear(x, g))\n` +
        '  output y = a * linear(x, u)\n  output z = a\n}\n',
    );
    expect(count(fuseDenseMlp.run(m, {}), 'glu')).toBe(0);
  });
});

describe('fuse-experts', () => {
  const experts = (extra: string) =>
    `${HEAD}model m {\n  input x: f32[T, D]\n  input w: f32[T, 2]\n  input idx: i32[T, 2]\n  weight g: f32[E, 16, D]\n  weight u: f32[E, 16, D]\n  weight d: f32[E, D, 16]\n` +
    `  slots, offsets = moe_permute(idx, experts=E)\n  xs = moe_dispatch(x, slots, offsets, k=2)\n  h = silu(grouped_linear(xs, g, offsets)) * grouped_linear(xs, u, offsets)\n` +
    `  ys = grouped_linear(h, d, offsets)\n  output y = moe_combine(ys, slots, offsets, w)\n${extra}}\n`;

  it('fuses the SwiGLU expert chain written with primitives, packing gate|up', () => {
    const text = printIR(fuseExperts.run(compile(experts('')), {}));
    expect(text).toContain('%packed.gate_up = concat(%g, %u) {axis=-2} : f32[4, 32, 8]');
    expect(text).toContain('%y = moe_experts(%x, %idx, %w, %packed.gate_up, %d) {act="swiglu"');
  });

  it('fuses two clamped-SwiGLU blocks whose scalars canonicalize merged (GPT-OSS as imported)', () => {
    const block =
      'block moe(x: f32[T, D]) {\n  weight router: f32[E, D]\n  weight gate_up: f32[E, D, 2 * D]\n  weight down: f32[E, D, D]\n' +
      '  top = topk(linear(x, router), k=2)\n  slots, offsets = moe_permute(top.indices, experts=E)\n' +
      '  gu = grouped_matmul(moe_dispatch(x, slots, offsets, k=2), gate_up, offsets)\n' +
      '  gate = clamp(slice(gu, axis=-1, start=0, step=2), max=7.0)\n  up = clamp(slice(gu, axis=-1, start=1, step=2), min=-7.0, max=7.0)\n' +
      '  ys = grouped_matmul((up + 1) * gate * sigmoid(gate * 1.702), down, offsets)\n' +
      '  return moe_combine(ys, slots, offsets, softmax(top.values))\n}\n';
    const m = compile(`${HEAD}${block}model m {\n  input x: f32[T, D]\n  y = moe(x) as a\n  output z = moe(y) as b\n}\n`);
    const fused = fuseExperts.run(fuseRouter.run(canonicalize.run(m, {}), {}), {});
    expect(count(fused, 'moe_experts')).toBe(2);
    expect(verify(fused)).toEqual([]);
    expect(maxDiff(run(fused, { tokens: 5 }).outputs.z.data, run(m, { tokens: 5 }).outputs.z.data)).toBeLessThan(1e-5);
  });

  it('leaves it alone when the hidden activations are also an output', () => {
    const m = compile(experts('  output hidden = h\n'));
    expect(count(fuseExperts.run(m, {}), 'moe_experts')).toBe(0);
  });
});
