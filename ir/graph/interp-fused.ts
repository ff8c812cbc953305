/**
 * @fileoverview Reference semantics of the fused MoE ops (`moe_router`, `moe_experts`):
 * each runs exactly the chain of primitive kernels it stands for, in the same order, so a
 * fusion pass can be checked against the unfused graph bit for bit. (The kernel IR's own
 * interpreter implements them as fused loops, and is compared with tolerances.)
 */
import type { Attrs, Node } from './graph.ts';
import { type Kernel, type KernelContext, KERNELS } from './interp-kernels.ts';
import type { Tensor } from '../tensor.ts';
import { type EwExpr, parseEw } from './elementwise.ts';

function k1(op: string, ctx: KernelContext, inputs: Tensor[], attrs: Attrs, node: Node): Tensor {
  return KERNELS[op](ctx, inputs, attrs, node)[0];
}

function scalar(ctx: KernelContext, value: number, like: Tensor, node: Node): Tensor {
  return k1('const', ctx, [], { value, dtype: like.dtype }, node);
}

/** Appends `shared` columns to every row: expert E+s with weight 1 or sigmoid(x · gate). */
function appendShared(ctx: KernelContext, idx: Tensor, w: Tensor, shared: number, experts: number, gate: Tensor | null, x: Tensor, node: Node): Tensor[] {
  const [t, k] = idx.shape;
  const cols = k + shared;
  const idx2 = ctx.alloc('i32', [t, cols]);
  const w2 = ctx.alloc(w.dtype, [t, cols]);
  const g = gate ? k1('sigmoid', ctx, [k1('matmul', ctx, [x, gate], { transpose_b: true }, node)], {}, node) : null;
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < k; j++) {
      idx2.data[i * cols + j] = idx.data[i * k + j];
      w2.data[i * cols + j] = w.data[i * k + j];
    }
    for (let s = 0; s < shared; s++) {
      idx2.data[i * cols + k + s] = experts + s;
      w2.data[i * cols + k + s] = g ? g.data[i] : 1;
    }
  }
  return [idx2, w2];
}

const moeRouterKernel: Kernel = (ctx, inputs, attrs, node) => {
  const [x, w] = inputs;
  let next = 2;
  const bias = attrs.has_bias ? inputs[next++] : undefined;
  const selectBias = attrs.has_select_bias ? inputs[next++] : undefined;
  const sharedGate = attrs.has_shared_gate ? inputs[next++] : null;
  const logits = k1('matmul', ctx, bias ? [x, w, bias] : [x, w], { transpose_b: true }, node);
  const scores = attrs.score === 'softmax' ? k1('softmax', ctx, [logits], { axis: -1 }, node) : attrs.score === 'sigmoid' ? k1('sigmoid', ctx, [logits], {}, node) : logits;
  const selectOn = selectBias ? k1('add', ctx, [scores, selectBias], {}, node) : scores;
  const [values, indices] =
    attrs.select === 'group_topk'
      ? KERNELS.group_topk(ctx, [selectOn], { k: attrs.k, groups: attrs.groups, topk_groups: attrs.topk_groups, group_score: attrs.group_score }, node)
      : KERNELS.topk(ctx, [selectOn], { k: attrs.k, axis: -1 }, node);
  let weights = selectBias ? k1('gather', ctx, [scores, indices], { axis: -1 }, node) : values;
  if (attrs.post_softmax) weights = k1('softmax', ctx, [weights], { axis: -1 }, node);
  if (attrs.normalize) weights = k1('div', ctx, [weights, k1('sum', ctx, [weights], { axis: -1, keepdim: true }, node)], {}, node);
  if (attrs.scale !== 1) weights = k1('mul', ctx, [weights, scalar(ctx, attrs.scale as number, weights, node)], {}, node);
  const experts = w.shape[0];
  const kept = attrs.capacity_factor !== null ? k1('route_capacity', ctx, [indices], { experts, capacity_factor: attrs.capacity_factor }, node) : indices;
  const shared = attrs.shared as number;
  return shared > 0 ? appendShared(ctx, kept, weights, shared, experts, sharedGate, x, node) : [kept, weights];
};

/** The expert activation on the first grouped GEMM's output. */
function activate(ctx: KernelContext, g: Tensor, attrs: Attrs, node: Node): Tensor {
  const act = attrs.act as string;
  if (act === 'none') return g;
  if (act === 'gelu' || act === 'gelu_tanh') return k1('gelu', ctx, [g], { approximate: act === 'gelu' ? 'none' : 'tanh' }, node);
  if (act !== 'swiglu' && act !== 'swiglu_clamped') return k1(act, ctx, [g], {}, node);
  const n = g.shape[1];
  const half = n / 2;
  const [gateAt, upAt] =
    attrs.glu_layout === 'interleaved'
      ? [{ start: 0, end: null, step: 2 }, { start: 1, end: null, step: 2 }]
      : [{ start: 0, end: half, step: 1 }, { start: half, end: null, step: 1 }];
  let gate = k1('slice', ctx, [g], { axis: -1, ...gateAt }, node);
  let up = k1('slice', ctx, [g], { axis: -1, ...upAt }, node);
  if (act === 'swiglu') return k1('mul', ctx, [k1('silu', ctx, [gate], {}, node), up], {}, node);
  // GPT-OSS: (clamp(up) + 1) * min(gate, limit) * sigmoid(alpha * min(gate, limit)).
  gate = k1('clamp', ctx, [gate], { min: null, max: attrs.limit }, node);
  up = k1('clamp', ctx, [up], { min: -(attrs.limit as number), max: attrs.limit }, node);
  const upPlus1 = k1('add', ctx, [up, scalar(ctx, 1, up, node)], {}, node);
  const glu = k1('sigmoid', ctx, [k1('mul', ctx, [gate, scalar(ctx, attrs.alpha as number, gate, node)], {}, node)], {}, node);
  return k1('mul', ctx, [k1('mul', ctx, [upPlus1, gate], {}, node), glu], {}, node);
}

const moeExpertsKernel: Kernel = (ctx, inputs, attrs, node) => {
  const [x, indices, weights, wIn, wOut] = inputs;
  let next = 5;
  const bIn = attrs.has_in_bias ? inputs[next++] : undefined;
  const bOut = attrs.has_out_bias ? inputs[next++] : undefined;
  const tb = { transpose_b: attrs.transpose_b };
  const [slots, offsets] = KERNELS.moe_permute(ctx, [indices], { experts: wIn.shape[0] }, node);
  const xs = k1('moe_dispatch', ctx, [x, slots, offsets], { k: indices.shape[1] }, node);
  const g = k1('grouped_matmul', ctx, bIn ? [xs, wIn, offsets, bIn] : [xs, wIn, offsets], tb, node);
  const h = activate(ctx, g, attrs, node);
  const ys = k1('grouped_matmul', ctx, bOut ? [h, wOut, offsets, bOut] : [h, wOut, offsets], tb, node);
  return [k1('moe_combine', ctx, [ys, slots, offsets, weights], {}, node)];
};

/** `glu` is the gated half of `activate`, on a dense GEMM's output (any leading dims). */
const gluKernel: Kernel = (ctx, [x], attrs, node) => {
  const cols = x.shape[x.shape.length - 1];
  const rows = x.data.length / Math.max(cols, 1);
  const flat = { ...x, shape: [rows, cols] };
  const h = activate(ctx, flat, { act: attrs.fn, glu_layout: attrs.layout, limit: attrs.limit, alpha: attrs.alpha }, node);
  return [{ ...h, shape: [...x.shape.slice(0, -1), cols / 2] }];
};

/**
 * A fused elementwise chain: each step runs as the op it stands for (broadcasting, and the
 * rounding of its stored result, included), so the chain equals the unfused graph exactly.
 */
const elementwiseKernel: Kernel = (ctx, inputs, attrs, node) => {
  const dtype = inputs[0]?.dtype ?? 'f32';
  const run = (e: EwExpr): Tensor => {
    switch (e.kind) {
      case 'input':
        return inputs[e.index];
      case 'const':
        return scalar(ctx, e.value, { dtype } as Tensor, node);
      case 'unary':
        return e.fn === 'gelu' || e.fn === 'gelu_tanh' ? k1('gelu', ctx, [run(e.x)], { approximate: e.fn === 'gelu' ? 'none' : 'tanh' }, node) : k1(e.fn, ctx, [run(e.x)], {}, node);
      case 'binary':
        return k1(e.fn, ctx, [run(e.a), run(e.b)], {}, node);
    }
  };
  const out = run(parseEw(attrs.expr as string));
  // A chain that only broadcasts or copies an operand still gets a tensor of its own.
  const shape = inputs.reduce<number[]>((s, t) => broadcastTo(s, t.shape), []);
  if (!inputs.includes(out) && out.shape.length === shape.length && out.shape.every((d, i) => d === shape[i])) return [out];
  const ones = ctx.alloc(dtype, shape);
  ones.data.fill(1);
  return [k1('mul', ctx, [out, ones], {}, node)]; // x * 1 is x exactly (-0 and NaN included)
};

/** NumPy broadcasting of two concrete shapes (already checked by type inference). */
function broadcastTo(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const da = a[i - (n - a.length)] ?? 1;
    const db = b[i - (n - b.length)] ?? 1;
    return da === 1 ? db : da;
  });
}

/** Kernels of the fused ops, looked up after the primitive ones. */
export const FUSED_KERNELS: Readonly<Record<string, Kernel>> = {
  elementwise: elementwiseKernel,
  moe_router: moeRouterKernel,
  moe_experts: moeExpertsKernel,
  glu: gluKernel,
};
