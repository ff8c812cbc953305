/**
 * @fileoverview Pass `fold-shared-experts`: a shared expert (a dense SwiGLU MLP every token
 * runs, added to the routed output, optionally scaled by sigmoid(x · g)) becomes extra
 * experts of the `moe_experts` op that every token selects, so it runs inside the same two
 * grouped GEMMs instead of as a separate MLP.
 *
 * A shared MLP of width Fs = S × F (F the routed experts' width) becomes S experts: its
 * gate/up rows and down columns split into S slices of F (exact: the MLP's output is the
 * sum over any split of its hidden units). The router appends experts E..E+S-1 to every
 * token, with weight 1 or the sigmoid gate (`moe_router`'s `shared`, `has_shared_gate`).
 *
 * Recognised: add(P, Q) where Q = mlp(x) or mul(sigmoid(matmul(x, g)), mlp(x)) with
 * mlp(x) = matmul(mul(silu(matmul(x, Gs)), matmul(x, Us)), Ds), and P is the output of a
 * `moe_experts` over the same x (or P = add(r, that output)), whose indices and weights
 * come straight from a `moe_router`. Requires `fuse-router` and `fuse-experts`.
 *
 * Postcondition: verified; the shared MLP nodes are gone. Numerics: the same products,
 * summed in a different order (routed and shared outputs are accumulated together), so
 * results agree to float rounding, not bit for bit.
 */
import type { Attrs, Func, Module, Node, Value } from '../../ir/graph/graph.ts';
import { type Dim, isSym, shapeEq } from '../../ir/dims.ts';
import { cloneModule } from './clone.ts';
import type { GraphPass } from './pass.ts';
import { splitKeepsGroups } from '../../ir/quant-type.ts';
import { UseMap, insertNode, isWeight, packable, removeNodes, replaceUses, rewriteEach, weightTransform } from './rewrite.ts';

interface SharedMlp {
  x: Value;
  gate: Value;
  up: Value;
  down: Value;
  /** The sigmoid gate weight [1, D], if the output is gated. */
  sharedGate?: Value;
  nodes: Node[];
}

function linearOf(m: Module, f: Func, u: UseMap, v: Value): Node | undefined {
  const n = u.defOp(v, 'matmul');
  return n && n.attrs.transpose_b === true && n.inputs.length === 2 && isWeight(m, f, n.inputs[1], u) ? n : undefined;
}

function matchMlp(m: Module, f: Func, u: UseMap, v: Value): SharedMlp | undefined {
  const down = linearOf(m, f, u, v);
  const mul = down && u.defOp(down.inputs[0], 'mul');
  if (!down || !mul) return undefined;
  for (const [a, b] of [mul.inputs, [...mul.inputs].reverse()]) {
    const silu = u.defOp(a, 'silu');
    const g = silu && linearOf(m, f, u, silu.inputs[0]);
    const up = linearOf(m, f, u, b);
    if (!silu || !g || !up || g.inputs[0] !== up.inputs[0]) continue;
    return { x: g.inputs[0], gate: g.inputs[1], up: up.inputs[1], down: down.inputs[1], nodes: [down, mul, silu, g, up] };
  }
  return undefined;
}

function matchShared(m: Module, f: Func, u: UseMap, q: Value): SharedMlp | undefined {
  const plain = matchMlp(m, f, u, q);
  if (plain) return plain;
  const mul = u.defOp(q, 'mul');
  if (!mul) return undefined;
  for (const [a, b] of [mul.inputs, [...mul.inputs].reverse()]) {
    const sig = u.defOp(a, 'sigmoid');
    const lin = sig && linearOf(m, f, u, sig.inputs[0]);
    const mlp = matchMlp(m, f, u, b);
    if (!sig || !lin || !mlp || lin.inputs[0] !== mlp.x || lin.inputs[1].type.shape[0] !== 1) continue;
    return { ...mlp, sharedGate: lin.inputs[1], nodes: [...mlp.nodes, mul, sig, lin] };
  }
  return undefined;
}

function foldOne(m: Module, f: Func, add: Node, u: UseMap): boolean {
  for (const [p, q] of [add.inputs, [...add.inputs].reverse()]) {
    const shared = matchShared(m, f, u, q);
    if (!shared) continue;
    // P is the experts' output, or add(r, experts output).
    let experts = u.defOp(p, 'moe_experts');
    let inner: Node | undefined;
    if (!experts) {
      inner = u.defOp(p, 'add');
      if (!inner || !u.onlyUsedBy(p, [add])) continue;
      experts = inner.inputs.map((v) => u.defOp(v, 'moe_experts')).find((n) => n !== undefined);
    }
    if (!experts || experts.attrs.act !== 'swiglu' || experts.attrs.glu_layout !== 'concat' || experts.attrs.transpose_b !== true) continue;
    if (experts.attrs.has_in_bias || experts.attrs.has_out_bias || experts.inputs[0] !== shared.x) continue;
    const router = u.defOp(experts.inputs[1], 'moe_router');
    if (!router || router.outputs[1] !== experts.inputs[2] || !u.onlyUsedBy(router.outputs[0], [experts]) || !u.onlyUsedBy(router.outputs[1], [experts])) continue;
    if (router.attrs.shared !== 0 || !u.onlyUsedBy(experts.outputs[0], [inner ?? add])) continue;
    const sharedNodes = shared.nodes;
    if (!sharedNodes.flatMap((n) => n.outputs).every((v) => v === q || u.onlyUsedBy(v, sharedNodes))) continue;
    if (!u.onlyUsedBy(q, [add])) continue;
    const wIn = experts.inputs[3];
    const wOut = experts.inputs[4];
    const width = wIn.type.shape[1];
    const fs = shared.gate.type.shape[0];
    if (isSym(width) || isSym(fs) || fs % (width / 2) !== 0) continue;
    const F = width / 2;
    const S = fs / F;
    // Quantized weights pack only with their like, and the down projection's scale groups must survive the split into experts.
    if (!packable(wIn, shared.gate, shared.up) || !packable(wOut, shared.down) || !splitKeepsGroups(shared.down.type.quant, F)) continue;
    const D = shared.x.type.shape[1];
    // The fold splits gate/up into [S, F, D] rows and down into [D, S, F] columns: only an MLP
    // of exactly those shapes, whose output adds to the experts' without broadcasting, folds.
    if (!shapesFold(shared, fs, D) || !shapeEq(q.type.shape, p.type.shape)) continue;
    return rewrite(m, f, { add, p, inner, experts, router, shared, S, F, D });
  }
  return false;
}

/** gate and up are [Fs, D] and down is [D, Fs] (their last two dims; stacked weights lead). */
function shapesFold(shared: SharedMlp, fs: number, D: Dim): boolean {
  const last2 = (v: Value): readonly Dim[] => v.type.shape.slice(-2);
  return [shared.gate, shared.up].every((w) => shapeEq(last2(w), [fs, D])) && shapeEq(last2(shared.down), [D, fs]);
}

function rewrite(
  m: Module,
  f: Func,
  r: { add: Node; p: Value; inner?: Node; experts: Node; router: Node; shared: SharedMlp; S: number; F: number; D: number | Value['type']['shape'][number] },
): boolean {
  const { experts, router, shared, S, F, D } = r;
  // w_in: [E, 2F, D] ++ S experts of [gate rows | up rows]; w_out: [E, D, F] ++ S column slices of down.
  const wIn = weightTransform(
    m,
    f,
    [experts.inputs[3], shared.gate, shared.up],
    'packed.shared_gate_up',
    (emit, [w, g, up], lead) => {
      const rows = (v: Value): Value => emit('reshape', [v], { shape: [...lead, S, F, D] });
      return emit('concat', [w, emit('concat', [rows(g), rows(up)], { axis: -2 })], { axis: -3 });
    },
    r.add,
  );
  const wOut = weightTransform(
    m,
    f,
    [experts.inputs[4], shared.down],
    'packed.shared_down',
    (emit, [w, d], lead) => {
      const split = emit('reshape', [d], { shape: [...lead, D, S, F] });
      const n = lead.length;
      const perm = [...lead.map((_, i) => i), n + 1, n, n + 2];
      return emit('concat', [w, emit('transpose', [split], { perm })], { axis: -3 });
    },
    r.add,
  );
  const routerOps = [...router.inputs];
  const routerAttrs: Attrs = { ...router.attrs, shared: S };
  if (shared.sharedGate) {
    routerOps.push(shared.sharedGate);
    routerAttrs.has_shared_gate = true;
  }
  const [idxName, wName, outName] = [router.outputs[0].name, router.outputs[1].name, experts.outputs[0].name];
  // The new nodes go where the final add was: the shared MLP's weights may be read late.
  const newRouter = insertNode(m, f, 'moe_router', routerOps, routerAttrs, [idxName, wName], r.add);
  const newExperts = insertNode(m, f, 'moe_experts', [experts.inputs[0], newRouter.outputs[0], newRouter.outputs[1], wIn, wOut], experts.attrs, [outName], r.add);
  removeNodes(f, [router, experts, ...shared.nodes]);
  if (r.inner) {
    // add(r, experts) now has to follow the new experts node.
    removeNodes(f, [r.inner]);
    f.body.splice(f.body.indexOf(r.add), 0, r.inner);
  }
  removeNodes(f, [r.add]);
  newRouter.outputs[0].name = idxName;
  newRouter.outputs[1].name = wName;
  newExperts.outputs[0].name = outName;
  replaceUses(f, experts.outputs[0], newExperts.outputs[0]);
  // add(P, shared) is now just P (which includes the shared experts).
  replaceUses(f, r.add.outputs[0], r.p === experts.outputs[0] ? newExperts.outputs[0] : r.p);
  return true;
}

export const foldSharedExperts: GraphPass = {
  name: 'fold-shared-experts',
  level: 'graph',
  summary: 'shared experts (dense SwiGLU MLPs, optionally sigmoid-gated) become extra experts every token selects',
  requires: ['fuse-router', 'fuse-experts'],
  run(input: Module): Module {
    const m = cloneModule(input);
    for (const f of m.funcs) rewriteEach(f, ['add'], (n, u) => foldOne(m, f, n, u));
    return m;
  },
};
