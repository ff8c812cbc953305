/**
 * @fileoverview The work of one forward pass, counted from the graph IR: FLOPs and bytes at a
 * binding of the symbolic sizes. Every implementation of a workload (moec's backends and the
 * peers) is charged the same count, so GFLOP/s and GB/s compare directly.
 *
 * FLOPs: the one per-op count moec analyze and the cost model charge too
 * (`compiler/cost/op-flops.ts`, conventions there); `repeat` bodies count `count` times (walked,
 * never unrolled). grouped_matmul counts the rows actually routed (T·K token slots; capacity
 * drops are not modelled, so this is an upper bound when `route_capacity` drops slots).
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
import type { Func, Module, Node, Value } from '../ir/graph/graph.ts';
import { numel } from '../ir/tensor.ts';
import { type QuantDType, quantizedBytes } from '../ir/quant.ts';
import { resolveQuant } from '../ir/quant-type.ts';
import { dtypeBytes } from '../ir/types.ts';
import { forEachNode } from '../compiler/analysis/walk.ts';
import { expectedActiveExperts } from '../compiler/cost/cost.ts';
import { nodeSizes, opFlops } from '../compiler/cost/op-flops.ts';

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

/** Ops that only name or reshape existing data: no FLOPs, no traffic. */
const VIEWS = new Set(['weight', 'reshape', 'const']);

/** Counts one forward pass of `m` under `bindings` (which must bind `T` for routed experts). */
export function forwardCost(m: Module, bindings: Record<string, number>): Cost {
  const cost: Cost = { flops: 0, bytes: 0, weightBytes: 0, activationBytes: 0, byOp: {} };
  // the values that are weights: read from `weight` nodes, views of them, and the repeat
  // bodies' parameters bound to them (stacked weights sliced per iteration)
  const weights = new Set<Value>();
  const enter = (repeat: Node, body: Func): void => repeat.inputs.forEach((v, i) => weights.has(v) && weights.add(body.params[i]));
  forEachNode(m, (node, times) => countNode(node, times, bindings, weights, cost), enter);
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

/** Adds `times` × the cost of one node (not a repeat) to `cost`. */
function countNode(node: Node, times: number, bindings: Record<string, number>, weights: Set<Value>, cost: Cost): void {
  const { op } = node;
  if (op === 'weight') {
    weights.add(node.outputs[0]);
    return;
  }
  if (VIEWS.has(op)) {
    if (node.inputs.some((v) => weights.has(v))) node.outputs.forEach((v) => weights.add(v));
    return;
  }
  // Traffic: activations read once and results written once; weights where they are read.
  node.inputs.forEach((v, i) => {
    if (!weights.has(v)) cost.activationBytes += bytesOf(v, bindings) * times;
    else if (op === 'grouped_matmul' && i === 1) cost.weightBytes += routedWeightBytes(node.inputs[0], v, bindings) * times;
    else cost.weightBytes += bytesOf(v, bindings) * times;
  });
  for (const v of node.outputs) cost.activationBytes += bytesOf(v, bindings) * times;
  const flops = opFlops(op, nodeSizes(node, bindings)) * times;
  cost.flops += flops;
  cost.byOp[op] = (cost.byOp[op] ?? 0) + flops;
}

/** Bytes of a stacked expert weight that a grouped_matmul over `xs` reads (experts hit only). */
function routedWeightBytes(xs: Value, w: Value, bindings: Record<string, number>): number {
  const tokens = bindings.T;
  const rows = shapeOf(xs, bindings)[0];
  const experts = shapeOf(w, bindings)[0];
  const full = bytesOf(w, bindings);
  if (tokens === undefined || rows % tokens !== 0) return full;
  return (full / experts) * expectedActiveExperts(experts, rows / tokens, tokens);
}

/** Arithmetic intensity in FLOP per byte. */
export function intensity(c: Cost): number {
  return c.bytes > 0 ? c.flops / c.bytes : 0;
}
