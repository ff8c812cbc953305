/**
 * @fileoverview Pass `fuse-dense-mlp`: a dense SwiGLU MLP's gate and up projections
 * become one GEMM over packed gate|up weights followed by `glu`, which the kernel lowering
 * turns into that GEMM's epilogue, so the gate and up activations are never written out.
 *
 * Recognised: mul(silu(matmul(x, G)), matmul(x, U)) (either operand order) with G and U
 * weights of the same shape, both linear layouts (`transpose_b`) and no biases. Runs after
 * `fold-shared-experts`, which needs shared experts in exactly this form.
 *
 * Postcondition: verified; semantics unchanged bit for bit (the packed GEMM computes the
 * same dot products, and `glu` is defined as silu(gate) * up).
 */
import type { Func, Module, Node } from '../../ir/graph/graph.ts';
import { cloneModule } from './clone.ts';
import type { GraphPass } from './pass.ts';
import { UseMap, insertNode, isWeight, packable, removeNodes, replaceUses, rewriteEach, weightTransform } from './rewrite.ts';

function linear(u: UseMap, m: Module, f: Func, n: Node | undefined): n is Node {
  return !!n && n.op === 'matmul' && n.attrs.transpose_b === true && n.inputs.length === 2 && isWeight(m, f, n.inputs[1], u);
}

function fuseOne(m: Module, f: Func, mul: Node, u: UseMap): boolean {
  for (const [a, b] of [mul.inputs, [...mul.inputs].reverse()]) {
    const silu = u.defOp(a, 'silu');
    const gate = silu && u.defOf(silu.inputs[0]);
    const up = u.defOf(b);
    if (!silu || !linear(u, m, f, gate) || !linear(u, m, f, up) || gate.inputs[0] !== up.inputs[0]) continue;
    const [g, w] = [gate.inputs[1], up.inputs[1]];
    if (g.type.shape.length !== 2 || JSON.stringify(g.type.shape) !== JSON.stringify(w.type.shape) || !packable(g, w)) continue;
    const nodes = [mul, silu, gate, up];
    if (![silu.outputs[0], gate.outputs[0], up.outputs[0]].every((v) => u.onlyUsedBy(v, nodes))) continue;
    const out = mul.outputs[0];
    const packed = weightTransform(m, f, [g, w], 'packed.gate_up', (emit, [x, y]) => emit('concat', [x, y], { axis: -2 }), mul);
    const gemm = insertNode(m, f, 'matmul', [gate.inputs[0], packed], { transpose_b: true }, [`${out.name}.gate_up`], mul);
    const glu = insertNode(m, f, 'glu', [gemm.outputs[0]], { fn: 'swiglu', layout: 'concat' }, [out.name], mul);
    removeNodes(f, nodes);
    glu.outputs[0].name = out.name;
    replaceUses(f, out, glu.outputs[0]);
    return true;
  }
  return false;
}

export const fuseDenseMlp: GraphPass = {
  name: 'fuse-dense-mlp',
  level: 'graph',
  summary: "a dense SwiGLU MLP's gate and up projections become one packed GEMM followed by glu",
  requires: ['fold-shared-experts'],
  run(input: Module): Module {
    const m = cloneModule(input);
    for (const f of m.funcs) rewriteEach(f, ['mul'], (n, u) => fuseOne(m, f, n, u));
    return m;
  },
};
