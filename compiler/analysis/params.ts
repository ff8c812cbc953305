/**
 * @fileoverview Parameter counts: total, and active per token, as MoE papers count them.
 *
 * A weight is *active* for a token when the token's computation reads it. Dense weights
 * (router, norms, shared experts) are read by every token. A stacked expert weight used by
 * a grouped GEMM is read only for the K experts a token selects, so each token reads a
 * fraction K/E of it; K comes from the GEMM's row count (`K*T` token slots) and E from the
 * weight's expert axis. Weights passed into a `repeat` body are followed to their uses.
 */
import { isSym } from '../../ir/dims.ts';
import { type Func, type Module, type Value, findFunc, mainFunc } from '../../ir/graph.ts';
import type { DType, TensorType } from '../../ir/types.ts';

export interface WeightSummary {
  name: string;
  type: TensorType;
  /** Number of elements. */
  params: number;
  /** Elements one token reads (params × K/E for routed experts). */
  activePerToken: number;
  /** `routed` when read through a grouped GEMM, else `dense`. */
  kind: 'routed' | 'dense';
}

export interface ParamSummary {
  weights: WeightSummary[];
  total: number;
  activePerToken: number;
  dtypes: DType[];
}

/** Fraction of a value (a weight or a slice of one) that one token reads, by its uses in `f`. */
function fractionRead(m: Module, f: Func, v: Value, seen: Set<Func>): { fraction: number; routed: boolean } {
  let fraction = 0;
  let routed = false;
  let used = false;
  for (const n of f.body) {
    n.inputs.forEach((inp, i) => {
      if (inp !== v) return;
      used = true;
      if (n.op === 'grouped_matmul' && (i === 1 || i === 3)) {
        const experts = n.inputs[1].type.shape[0];
        const rows = n.inputs[0].type.shape[0];
        // Rows are K*T token slots: K is the coefficient of the (single) symbolic size.
        const k = isSym(rows) && rows.terms.length === 1 && rows.c === 0 ? rows.terms[0][1] : undefined;
        const frac = k !== undefined && !isSym(experts) && experts > 0 ? Math.min(1, k / experts) : 1;
        fraction = Math.max(fraction, frac);
        routed = true;
      } else if (n.op === 'repeat') {
        const body = findFunc(m, n.attrs.body as string);
        if (body && !seen.has(body)) {
          seen.add(body);
          const r = fractionRead(m, body, body.params[i], seen);
          seen.delete(body);
          fraction = Math.max(fraction, r.fraction);
          routed ||= r.routed;
        }
      } else {
        fraction = 1;
      }
    });
  }
  return used ? { fraction, routed } : { fraction: 0, routed: false };
}

/** Counts each weight's elements and the part one token reads. */
export function summarizeParams(m: Module): ParamSummary {
  const main = mainFunc(m);
  const weights: WeightSummary[] = m.weights.map((w) => {
    const params = w.type.shape.reduce<number>((a, d) => a * (isSym(d) ? 0 : d), 1);
    const node = main.body.find((n) => n.op === 'weight' && n.attrs.name === w.name);
    const { fraction, routed } = node ? fractionRead(m, main, node.outputs[0], new Set()) : { fraction: 0, routed: false };
    return { name: w.name, type: w.type, params, activePerToken: params * fraction, kind: routed ? 'routed' : 'dense' };
  });
  const total = weights.reduce((a, w) => a + w.params, 0);
  const activePerToken = weights.reduce((a, w) => a + w.activePerToken, 0);
  return { weights, total, activePerToken, dtypes: [...new Set(m.weights.map((w) => w.type.dtype))] };
}

/** `1.23B`, `45.6M`, `7.2K`, `12`: parameter counts the way model cards write them. */
export function formatCount(n: number): string {
  const units: Array<[number, string]> = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [v, u] of units) if (n >= v) return `${(n / v).toFixed(n / v >= 100 ? 1 : 2)}${u}`;
  return String(Math.round(n));
}
