/**
 * @fileoverview FLOPs of one op at concrete sizes: the one count that `moec analyze`
 * (`analysis/flops.ts`), the cost model (`cost.ts`: op kernels and GEMM epilogues) and the
 * benchmark (`bench/cost.ts`) charge, so their FLOP/s and intensities compare.
 *
 * Conventions (per element of the result unless said otherwise; one multiply-add = 2):
 * - matmul: 2·M·K·N, plus M·N for a bias. grouped_matmul: 2·rows·K·N over the rows it is
 *   given (T·k token slots; capacity drops are not modelled), plus rows·N for a bias.
 * - add, sub, mul, div, maximum, minimum, neg, abs, relu: 1. clamp: 2 (a max and a min).
 * - Transcendentals (exp, log, sqrt, rsqrt, tanh) count 1, like an add, and the functions
 *   built from them count their parts: sigmoid 4 (neg, exp, add, div), silu 5 (sigmoid,
 *   mul), gelu 8 (erf or tanh plus its polynomial), softmax 5 (max, sub, exp, sum, div),
 *   rmsnorm 4 (square, sum, scale, weight), layernorm 7 (rmsnorm's plus the mean).
 * - A comparison is a floating-point operation, as `maximum` and `amax` count it: sum, mean,
 *   amax and topk count 1 per input element (topk at least compares every candidate);
 *   group_topk 3 per input element (group scores, group selection, expert selection), the
 *   figure the fused router's selection counts.
 * - glu: swiglu 6 (silu 5, the product 1), swiglu_clamped 10 (two clamps, the scaled
 *   sigmoid, the products).
 * - moe_combine: 2 per (token, choice, feature): a multiply-add.
 * - cast counts 0: a conversion changes how a value is stored, not its value's arithmetic;
 *   like the data movement ops (weight, reshape, slice, concat, transpose, gather,
 *   moe_permute, moe_dispatch, route_capacity) it moves bytes and does no FLOPs.
 * - The decoder ops (embedding, rope, attention, mla_attention) count what
 *   `attention.ts` says.
 * - The fused ops count the chains they replace: an elementwise chain the ops in it (per
 *   element of its result, which every folded op shares); moe_router its GEMM plus 8 per logit
 *   (scoring 5, selection 3); moe_experts per routed slot its two GEMMs, the activation
 *   per hidden element and the weighted combine.
 */
import { type Dim, evalShape } from '../../ir/dims.ts';
import type { Node } from '../../ir/graph/graph.ts';
import { numel } from '../../ir/tensor.ts';
import { dtypeBytes } from '../../ir/types.ts';
import { type OpSizes, decoderOpCost } from './attention.ts';
import { type EwExpr, parseEw } from '../../ir/graph/elementwise.ts';

/** FLOPs per result element of the elementwise and normalising ops. */
const PER_ELEMENT: Readonly<Record<string, number>> = {
  add: 1, sub: 1, mul: 1, div: 1, maximum: 1, minimum: 1, neg: 1, abs: 1, relu: 1, clamp: 2,
  exp: 1, log: 1, sqrt: 1, rsqrt: 1, tanh: 1,
  sigmoid: 4, silu: 5, gelu: 8, gelu_tanh: 8, softmax: 5, rmsnorm: 4, layernorm: 7,
};

/** FLOPs per input element of the reductions and selections. */
const PER_INPUT: Readonly<Record<string, number>> = { sum: 1, mean: 1, amax: 1, topk: 1, group_topk: 3 };

/** FLOPs per element of an activation (GEMM epilogues, fused experts). */
export const ACT_FLOPS: Readonly<Record<string, number>> = { relu: 1, sigmoid: 4, silu: 5, gelu: 8, gelu_tanh: 8 };

/** FLOPs per output element of a gated linear unit. */
export const GLU_FLOPS: Readonly<Record<string, number>> = { swiglu: 6, swiglu_clamped: 10 };

/** Per element of the fused router's logits: scoring (softmax-like, 5) and selection (3). */
export const ROUTER_PER_LOGIT = 8;

export interface FlopOptions {
  /** moe_experts: every token uses every expert (the dense equivalent). */
  allExperts?: boolean;
}

/** FLOPs of one run of `op` at the concrete sizes `s` (0 for data movement and unknown ops). */
export function opFlops(op: string, s: OpSizes, o: FlopOptions = {}): number {
  const out = s.outputs[0] ? numel(s.outputs[0]) : 0;
  const inN = s.inputs[0] ? numel(s.inputs[0]) : 0;
  switch (op) {
    case 'matmul': {
      const a = s.inputs[0];
      return 2 * out * a[a.length - 1] + (s.inputs[2] ? out : 0);
    }
    case 'grouped_matmul': {
      const [rows, depth] = s.inputs[0];
      const n = s.outputs[0][1];
      return 2 * rows * depth * n + (s.inputs[3] ? rows * n : 0);
    }
    case 'moe_combine':
      return 2 * inN;
    case 'glu':
      return out * (GLU_FLOPS[String(s.attrs.fn)] ?? GLU_FLOPS.swiglu);
    case 'elementwise':
      return out * chainFlops(parseEw(String(s.attrs.expr)));
    case 'moe_router': {
      const [rows] = s.inputs[0];
      const [experts, depth] = s.inputs[1];
      return 2 * rows * experts * depth + rows * experts * ROUTER_PER_LOGIT;
    }
    case 'moe_experts': {
      const [tokens, k] = s.inputs[1];
      const win = s.inputs[3];
      const wout = s.inputs[4];
      const act = String(s.attrs.act);
      const hidden = (wout[1] * wout[2]) / s.outputs[0][1];
      const perSlot = 2 * (win[1] * win[2] + wout[1] * wout[2]) + hidden * (GLU_FLOPS[act] ?? ACT_FLOPS[act] ?? 0) + 2 * s.outputs[0][1];
      return tokens * (o.allExperts ? win[0] : k) * perSlot;
    }
  }
  const decoder = decoderOpCost(op, s);
  if (decoder) return decoder.flops;
  if (op in PER_INPUT) return PER_INPUT[op] * inN;
  return (PER_ELEMENT[op] ?? 0) * out;
}

/** FLOPs per element of a fused elementwise chain: those of the ops it stands for (constants and operands 0). */
function chainFlops(e: EwExpr): number {
  switch (e.kind) {
    case 'input':
    case 'const':
      return 0;
    case 'unary':
      return PER_ELEMENT[e.fn] + chainFlops(e.x);
    case 'binary':
      return PER_ELEMENT[e.fn] + chainFlops(e.a) + chainFlops(e.b);
  }
}

/** The concrete sizes of a graph node's operands and results under `bindings`. */
export function nodeSizes(n: Node, bindings: Readonly<Record<string, number>>): OpSizes {
  const shape = (d: readonly Dim[]): number[] => evalShape(d, bindings);
  return {
    inputs: n.inputs.map((v) => shape(v.type.shape)),
    outputs: n.outputs.map((v) => shape(v.type.shape)),
    inputBytes: n.inputs.map((v) => dtypeBytes(v.type.dtype)),
    outputBytes: n.outputs.map((v) => dtypeBytes(v.type.dtype)),
    attrs: n.attrs,
  };
}
