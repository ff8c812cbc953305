/**
 * @fileoverview moec's reference interpreter as a benchmark runner: `interpret` on the
 * compiled module with fixed weights and inputs (float32 storage, float64 accumulation, one
 * thread). Bounded by what scalar JS can do, so it is judged against the JS limits.
 */
import { jsRoof } from '../limits.ts';
import { interpret } from '../../ir/graph/interp.ts';
import { forwardCost } from '../cost.ts';
import type { Runner } from '../runner.ts';
import { sample } from '../stats.ts';

export const moecRef: Runner = {
  id: 'moec-ref',
  about: () => `moec reference interpreter (ir/graph/interp.ts): float32 storage, float64 accumulation, 1 thread, Node ${process.version}`,
  roof: jsRoof,
  // A correctness reference, not a contender: past a few GFLOP one run takes many seconds.
  skip: (c) => {
    const gflop = forwardCost(c.module, c.bindings).flops / 1e9;
    return gflop > 4 ? `${gflop.toFixed(1)} GFLOP: too slow for the interpreter (over 10 s a run)` : null;
  },
  measure: (c, plan) => sample(() => interpret(c.module, { bindings: c.bindings, inputs: c.inputs, weights: c.weights }), plan),
};
