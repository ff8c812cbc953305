/**
 * @fileoverview Pass `fuse-experts`: the expert computation becomes one `moe_experts` op
 * with its gate and up projections packed into one weight, so the kernel lowering emits one
 * grouped GEMM with a gated epilogue for them and one with the weighted combine for down.
 *
 * Recognised, around each `moe_combine(ys, slots, offsets, weights)`:
 *   slots, offsets = moe_permute(indices)
 *   xs = moe_dispatch(x, slots, offsets)
 *   h  = one of
 *        mul(silu(gmm(xs, Wg)), gmm(xs, Wu))                       → swiglu, Wg|Wu packed
 *        GPT-OSS: g = clamp(slice(gu, 0::2), max=L), u = clamp(slice(gu, 1::2), ±L),
 *                 mul(mul(add(u, 1), g), sigmoid(mul(g, alpha)))    → swiglu_clamped, interleaved
 *        relu | silu | sigmoid | gelu (gmm(xs, Wu))                 → that activation
 *        gmm(xs, Wu)                                                → none
 *   ys = gmm(h, Wd)
 * where gmm is grouped_matmul over `offsets` (all with the same transpose_b) and W* are
 * weights. Packing Wg|Wu is a weight transform: in `main`, or hoisted into the caller of a
 * `repeat` body so it happens once for the stacked weights of all layers.
 *
 * Precondition: verified graph IR. Postcondition: verified; semantics unchanged bit for bit
 * (`moe_experts` is defined as this chain; a packed GEMM computes the same dot products).
 * A chain whose intermediates are used elsewhere is left alone.
 */
import type { Func, Module, Node, Value } from '../../ir/graph/graph.ts';
import { cloneModule } from './clone.ts';
import type { GraphPass } from './pass.ts';
import { UseMap, insertNode, isWeight, packable, removeNodes, replaceUses, rewriteEach, weightTransform } from './rewrite.ts';

interface Gmm {
  node: Node;
  w: Value;
  bias?: Value;
}

interface Activation {
  act: string;
  layout?: 'concat' | 'interleaved';
  limit?: number;
  alpha?: number;
  /** The first-layer GEMMs: one, or gate then up when they are to be packed. */
  gmms: Gmm[];
  nodes: Node[];
  /** Scalar constants the chain reads; CSE may share them with other chains, so they go only if nothing else reads them. */
  consts?: Node[];
}

function scalarConst(u: UseMap, v: Value): number | undefined {
  const d = u.defOp(v, 'const');
  return d && v.type.shape.length === 0 ? (d.attrs.value as number) : undefined;
}

/** A grouped_matmul over `xs` with `offsets` and the expected layout, reading weights. */
function gmmOf(m: Module, f: Func, u: UseMap, v: Value, xs: Value, offsets: Value, tb: boolean): Gmm | undefined {
  const n = u.defOp(v, 'grouped_matmul');
  if (!n || n.inputs[0] !== xs || n.inputs[2] !== offsets || n.attrs.transpose_b !== tb) return undefined;
  if (!isWeight(m, f, n.inputs[1], u) || (n.inputs[3] && !isWeight(m, f, n.inputs[3], u))) return undefined;
  return { node: n, w: n.inputs[1], bias: n.inputs[3] };
}

function matchSwiglu(m: Module, f: Func, u: UseMap, h: Node, xs: Value, off: Value, tb: boolean): Activation | undefined {
  if (h.op !== 'mul') return undefined;
  for (const [a, b] of [h.inputs, [...h.inputs].reverse()]) {
    const silu = u.defOp(a, 'silu');
    if (!silu) continue;
    const gate = gmmOf(m, f, u, silu.inputs[0], xs, off, tb);
    const up = gmmOf(m, f, u, b, xs, off, tb);
    if (!gate || !up || !!gate.bias !== !!up.bias || !packable(gate.w, up.w)) continue;
    return { act: 'swiglu', layout: 'concat', gmms: [gate, up], nodes: [h, silu, gate.node, up.node] };
  }
  return undefined;
}

/** GPT-OSS's clamped SwiGLU over interleaved columns, in the form the example writes it. */
function matchClamped(m: Module, f: Func, u: UseMap, h: Node, xs: Value, off: Value, tb: boolean): Activation | undefined {
  if (h.op !== 'mul') return undefined;
  const left = u.defOp(h.inputs[0], 'mul');
  const sig = u.defOp(h.inputs[1], 'sigmoid');
  if (!left || !sig) return undefined;
  const plus = u.defOp(left.inputs[0], 'add');
  const gate = left.inputs[1];
  const scaled = u.defOp(sig.inputs[0], 'mul');
  if (!plus || !scaled || scaled.inputs[0] !== gate || scalarConst(u, plus.inputs[1]) !== 1) return undefined;
  const alpha = scalarConst(u, scaled.inputs[1]);
  const gClamp = u.defOp(gate, 'clamp');
  const uClamp = u.defOp(plus.inputs[0], 'clamp');
  if (alpha === undefined || !gClamp || !uClamp) return undefined;
  const limit = gClamp.attrs.max as number | null;
  if (limit === null || gClamp.attrs.min !== null || uClamp.attrs.max !== limit || uClamp.attrs.min !== -limit) return undefined;
  const gSlice = u.defOp(gClamp.inputs[0], 'slice');
  const uSlice = u.defOp(uClamp.inputs[0], 'slice');
  const interleaved = (s: Node | undefined, start: number): boolean => !!s && s.attrs.axis === -1 && s.attrs.start === start && s.attrs.step === 2 && s.attrs.end === null;
  if (!interleaved(gSlice, 0) || !interleaved(uSlice, 1) || gSlice!.inputs[0] !== uSlice!.inputs[0]) return undefined;
  const gu = gmmOf(m, f, u, gSlice!.inputs[0], xs, off, tb);
  if (!gu) return undefined;
  const consts = [plus.inputs[1], scaled.inputs[1]].map((v) => u.defOf(v)!);
  return {
    act: 'swiglu_clamped',
    layout: 'interleaved',
    limit,
    alpha,
    gmms: [gu],
    nodes: [h, left, sig, plus, scaled, gClamp, uClamp, gSlice!, uSlice!, gu.node],
    consts,
  };
}

function matchActivation(m: Module, f: Func, u: UseMap, h: Value, xs: Value, off: Value, tb: boolean): Activation | undefined {
  const plain = gmmOf(m, f, u, h, xs, off, tb);
  if (plain) return { act: 'none', gmms: [plain], nodes: [plain.node] };
  const n = u.defOf(h);
  if (!n) return undefined;
  if (['relu', 'silu', 'sigmoid', 'gelu'].includes(n.op)) {
    const g = gmmOf(m, f, u, n.inputs[0], xs, off, tb);
    if (!g) return undefined;
    const act = n.op === 'gelu' && n.attrs.approximate === 'tanh' ? 'gelu_tanh' : n.op;
    return { act, gmms: [g], nodes: [n, g.node] };
  }
  return matchSwiglu(m, f, u, n, xs, off, tb) ?? matchClamped(m, f, u, n, xs, off, tb);
}

function fuseOne(m: Module, f: Func, combine: Node, u: UseMap): boolean {
  const [ys, slots, offsets, weights] = combine.inputs;
  const perm = u.defOp(slots, 'moe_permute');
  const down = u.defOp(ys, 'grouped_matmul');
  if (!perm || perm.outputs[1] !== offsets || !down || down.inputs[2] !== offsets) return false;
  const tb = down.attrs.transpose_b as boolean;
  if (!isWeight(m, f, down.inputs[1], u) || (down.inputs[3] && !isWeight(m, f, down.inputs[3], u))) return false;
  const dispatchUser = u.usersOf(slots).find((n) => n.op === 'moe_dispatch' && n.inputs[2] === offsets);
  if (!dispatchUser) return false;
  const xs = dispatchUser.outputs[0];
  const act = matchActivation(m, f, u, down.inputs[0], xs, offsets, tb);
  if (!act) return false;
  const nodes = [combine, down, perm, dispatchUser, ...act.nodes];
  const intermediates = nodes.flatMap((n) => n.outputs).filter((v) => v !== combine.outputs[0]);
  if (!intermediates.every((v) => u.onlyUsedBy(v, nodes))) return false;

  // Pack gate|up into one weight (and bias) along the output-column axis.
  let wIn = act.gmms[0].w;
  let bIn = act.gmms[0].bias;
  if (act.gmms.length === 2) {
    const [g, up] = act.gmms;
    const nAxis = tb ? -2 : -1;
    wIn = weightTransform(m, f, [g.w, up.w], 'packed.gate_up', (emit, [a, b]) => emit('concat', [a, b], { axis: nAxis }), combine);
    if (g.bias && up.bias) bIn = weightTransform(m, f, [g.bias, up.bias], 'packed.gate_up_bias', (emit, [a, b]) => emit('concat', [a, b], { axis: -1 }), combine);
  }
  const operands = [dispatchUser.inputs[0], perm.inputs[0], weights, wIn, down.inputs[1]];
  const attrs: Record<string, string | number | boolean> = { act: act.act, transpose_b: tb };
  if (act.layout) attrs.glu_layout = act.layout;
  if (act.limit !== undefined) attrs.limit = act.limit;
  if (act.alpha !== undefined) attrs.alpha = act.alpha;
  if (bIn) {
    operands.push(bIn);
    attrs.has_in_bias = true;
  }
  if (down.inputs[3]) {
    operands.push(down.inputs[3]);
    attrs.has_out_bias = true;
  }
  const out = combine.outputs[0];
  const node = insertNode(m, f, 'moe_experts', operands, attrs, [out.name], combine);
  const unshared = (act.consts ?? []).filter((c) => c.outputs.every((v) => u.onlyUsedBy(v, nodes)));
  removeNodes(f, [...nodes, ...unshared]);
  node.outputs[0].name = out.name;
  replaceUses(f, out, node.outputs[0]);
  return true;
}

export const fuseExperts: GraphPass = {
  name: 'fuse-experts',
  level: 'graph',
  summary: 'permute, dispatch, the grouped GEMMs with their activation, and combine become one moe_experts (gate|up packed)',
  requires: [],
  run(input: Module): Module {
    const m = cloneModule(input);
    for (const f of m.funcs) rewriteEach(f, ['moe_combine'], (n, u) => fuseOne(m, f, n, u));
    return m;
  },
};
