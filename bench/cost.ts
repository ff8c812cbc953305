/**
 * @fileoverview The work of one forward pass, counted from the graph IR: FLOPs and bytes at a
 * binding of the symbolic sizes. Every implementation of a workload (moec's backends and the
 * peers) is charged the same count, so GFLOP/s and GB/s compare directly.
 *
 * FLOP conventions (per element of the result unless said otherwise):
 * - matmul: 2·M·K·N, plus M·N for a bias. grouped_matmul: 2·rows·K·N over the rows actually
 *   routed (T·K token slots; capacity drops are not modelled, so this is an upper bound
 *   when `route_capacity` drops slots), plus rows·N for a bias.
 * - add, sub, mul, div, maximum, minimum, neg, abs, relu, cast: 1. clamp: 2.
 * - Transcendentals (exp, log, sqrt, rsqrt, tanh) count 1, like an add, and the functions
 *   built from them count their parts: sigmoid 4 (neg, exp, add, div), silu 5 (sigmoid,
 *   mul), gelu 8 (erf or tanh plus its polynomial), softmax 5 (max, sub, exp, sum, div),
 *   rmsnorm 4 (square, sum, scale, weight).
 * - sum, mean, amax: 1 per input element. topk: 1 comparison per input element;
 *   group_topk: 3 (group scores, group selection, expert selection).
 * - moe_combine: 2 per (token, choice, feature): a multiply-add.
 * - Data movement (weight, reshape, slice, concat, transpose, gather, moe_permute,
 *   moe_dispatch, route_capacity) counts no FLOPs.
 * - repeat: the body's count times `count` (the body is walked, never unrolled).
 *
 * Byte conventions: the traffic of running the graph op by op, nothing kept in cache
 * between ops (what the reference interpreter and a NumPy program do; a fusing backend moves
 * less and is still charged this, so its GB/s is an "effective" bandwidth):
 * - every op reads each activation operand once and writes each result once, at its dtype's
 *   size (integer index tensors included);
 * - weights are charged where an op reads them, fully, except routed expert weights: a
 *   grouped_matmul reads only the experts that receive at least one token. We do not know
 *   the routing of a run from the IR, so we take the expected number of distinct experts
 *   hit when each of T tokens picks K distinct experts uniformly at random:
 *   E·(1 − (1 − K/E)^T). (Group-limited routing is not uniform, but close enough at these
 *   sizes; the exact count would need the run's routing.)
 * - views (weight, reshape) move nothing.
 * - a quantized weight (`--quantize`) is its codes (i4: half a byte each) plus its f32
 *   scales, so a quantized module's GB/s is the effective rate over the bytes it stores.
 */
import { evalShape } from '../ir/dims.ts';
import { type Func, type Module, type Value, findFunc, mainFunc } from '../ir/graph/graph.ts';
import { numel } from '../ir/tensor.ts';
import { type QuantDType, quantizedBytes } from '../ir/quant.ts';
import { resolveQuant } from '../ir/quant-type.ts';
import { dtypeBytes } from '../ir/types.ts';

/** The counted work of one forward pass. */
export interface Cost {
  flops: number;
  /** weightBytes + activationBytes. */
  bytes: number;
  /** Weight bytes read (routed experts: expected experts hit only). */
  weightBytes: number;
  /** Activation and index bytes read and written, op by op. */
  activationBytes: number;
  /** FLOPs by op name, for the report's breakdown. */
  byOp: Record<string, number>;
}

/** Expected distinct experts hit when `tokens` tokens each pick `k` of `experts` uniformly. */
export function expectedExpertsHit(experts: number, k: number, tokens: number): number {
  if (k >= experts) return experts;
  return experts * (1 - Math.pow(1 - k / experts, tokens));
}

/** FLOPs per result element of the elementwise and normalising ops (see the file header). */
const FLOPS_PER_ELEMENT: Record<string, number> = {
  add: 1, sub: 1, mul: 1, div: 1, maximum: 1, minimum: 1,
  neg: 1, abs: 1, relu: 1, cast: 1, clamp: 2,
  exp: 1, log: 1, sqrt: 1, rsqrt: 1, tanh: 1,
  sigmoid: 4, silu: 5, gelu: 8, softmax: 5, rmsnorm: 4,
};

/** Ops that only name or reshape existing data: no FLOPs, no traffic. */
const VIEWS = new Set(['weight', 'reshape', 'const']);

/** Counts one forward pass of `m` under `bindings` (which must bind `T` for routed experts). */
export function forwardCost(m: Module, bindings: Record<string, number>): Cost {
  const cost: Cost = { flops: 0, bytes: 0, weightBytes: 0, activationBytes: 0, byOp: {} };
  walk(m, mainFunc(m), bindings, 1, new Set(), cost);
  cost.bytes = cost.weightBytes + cost.activationBytes;
  return cost;
}

function shapeOf(v: Value, bindings: Record<string, number>): number[] {
  return evalShape(v.type.shape, bindings);
}

/** Bytes of a value; a quantized weight is its codes plus its f32 scales (ir/quant.ts). */
function bytesOf(v: Value, bindings: Record<string, number>): number {
  const shape = shapeOf(v, bindings);
  if (!v.type.quant) return numel(shape) * dtypeBytes(v.type.dtype);
  const { axis, group } = resolveQuant(v.type.quant, shape);
  const { codes, scales } = quantizedBytes(v.type.dtype as QuantDType, shape, axis, group);
  return codes + scales;
}

/**
 * Adds `times` × the cost of `f` to `cost`. `weights` holds the values of `f` that are
 * weights (read from `weight` nodes, or passed in as a repeat's stacked weight slices).
 */
function walk(m: Module, f: Func, bindings: Record<string, number>, times: number, weights: Set<Value>, cost: Cost): void {
  const add = (op: string, flops: number): void => {
    cost.flops += flops * times;
    cost.byOp[op] = (cost.byOp[op] ?? 0) + flops * times;
  };
  for (const node of f.body) {
    const { op } = node;
    if (op === 'weight') {
      weights.add(node.outputs[0]);
      continue;
    }
    if (op === 'repeat') {
      const body = findFunc(m, node.attrs.body as string);
      if (!body) throw new Error(`cost: no function named '${String(node.attrs.body)}'`);
      const inner = new Set<Value>();
      node.inputs.forEach((v, i) => weights.has(v) && inner.add(body.params[i]));
      walk(m, body, bindings, times * (node.attrs.count as number), inner, cost);
      continue;
    }
    if (VIEWS.has(op)) {
      if (node.inputs.some((v) => weights.has(v))) node.outputs.forEach((v) => weights.add(v));
      continue;
    }
    // Traffic: activations read once and results written once; weights where they are read.
    node.inputs.forEach((v, i) => {
      if (!weights.has(v)) cost.activationBytes += bytesOf(v, bindings) * times;
      else if (op === 'grouped_matmul' && i === 1) cost.weightBytes += routedWeightBytes(node.inputs[0], v, bindings) * times;
      else cost.weightBytes += bytesOf(v, bindings) * times;
    });
    for (const v of node.outputs) cost.activationBytes += bytesOf(v, bindings) * times;
    add(op, nodeFlops(op, node.inputs, node.outputs, bindings));
  }
}

/** Bytes of a stacked expert weight that a grouped_matmul over `xs` reads (experts hit only). */
function routedWeightBytes(xs: Value, w: Value, bindings: Record<string, number>): number {
  const tokens = bindings.T;
  const rows = shapeOf(xs, bindings)[0];
  const experts = shapeOf(w, bindings)[0];
  const full = bytesOf(w, bindings);
  if (tokens === undefined || rows % tokens !== 0) return full;
  return (full / experts) * expectedExpertsHit(experts, rows / tokens, tokens);
}

function nodeFlops(op: string, inputs: Value[], outputs: Value[], bindings: Record<string, number>): number {
  const outN = numel(shapeOf(outputs[0], bindings));
  const inN = inputs.length ? numel(shapeOf(inputs[0], bindings)) : 0;
  switch (op) {
    case 'matmul': {
      const a = shapeOf(inputs[0], bindings);
      const kd = a[a.length - 1];
      return 2 * outN * kd + (inputs[2] ? outN : 0);
    }
    case 'grouped_matmul': {
      // Every row of xs is a routed token slot (T·K of them); rows dropped by capacity are not modelled.
      const [rows, kd] = shapeOf(inputs[0], bindings);
      const n = shapeOf(outputs[0], bindings)[1];
      return 2 * rows * kd * n + (inputs[3] ? rows * n : 0);
    }
    case 'sum':
    case 'mean':
    case 'amax':
    case 'topk':
      return inN;
    case 'group_topk':
      return 3 * inN;
    case 'moe_combine': {
      const [tokens, k] = shapeOf(inputs[3], bindings);
      return 2 * tokens * k * shapeOf(outputs[0], bindings)[1];
    }
    default:
      return (FLOPS_PER_ELEMENT[op] ?? 0) * outN;
  }
}

/** Arithmetic intensity in FLOP per byte. */
export function intensity(c: Cost): number {
  return c.bytes > 0 ? c.flops / c.bytes : 0;
}
