/**
 * @fileoverview `--json` of `moec check` and `moec run`: what they print for people, as data
 * for tools. Field names are stable (docs/json.md); `schema` changes when a field's meaning
 * does. (`moec compile --json` is in report.ts beside the report it mirrors; `moec analyze
 * --json` is the analysis object itself.)
 */
import { dimToString, type Dim } from '../../ir/dims.ts';
import { mainFunc, type Module } from '../../ir/graph/graph.ts';
import { dtypeText } from '../../ir/quant-type.ts';
import type { Tensor } from '../../ir/tensor.ts';
import type { TensorType } from '../../ir/types.ts';
import { summarizeParams } from '../analysis/params.ts';
import type { Agreement } from '../compare.ts';
import { tensorStats } from '../driver.ts';

export const CHECK_SCHEMA = 'moec-check/1';
export const RUN_SCHEMA = 'moec-run/1';

/** A size as JSON: a number, or its symbolic text (`T`, `2*T`). */
const dimJson = (d: Dim): number | string => (typeof d === 'number' ? d : dimToString(d));
const typeJson = (t: TensorType) => ({ dtype: dtypeText(t), shape: t.shape.map(dimJson) });

/** `moec check --json`. */
export function checkJson(m: Module, path: string) {
  const main = mainFunc(m);
  const p = summarizeParams(m);
  return {
    schema: CHECK_SCHEMA,
    model: m.name,
    file: path,
    sizes: m.dims.map((d) => ({ name: d.name, max: d.max ?? null })),
    inputs: main.params.map((v) => ({ name: v.name, ...typeJson(v.type) })),
    weights: p.weights.map((w) => ({ name: w.name, ...typeJson(w.type), params: w.params, activePerToken: w.activePerToken, kind: w.kind })),
    outputs: main.results.map((r) => ({ name: r.name, ...typeJson(r.value.type) })),
    parameters: { total: p.total, activePerToken: p.activePerToken },
  };
}

/** JSON has no NaN or Infinity: a statistic over no finite value is null. */
const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** An output's shape, statistics (of its finite values) and first values (non-finite ones as strings). */
export function outputJson(t: Tensor) {
  const s = tensorStats(t);
  const first = Array.from(t.data.subarray(0, Math.min(6, t.data.length)), (v) => (Number.isFinite(v) ? v : String(v)));
  return { dtype: t.dtype, shape: t.shape, min: finite(s.min), max: finite(s.max), mean: finite(s.mean), std: finite(s.std), nan: s.nan, inf: s.inf, first };
}

export interface RunJsonFacts {
  model: string;
  tokens: number;
  bindings: Record<string, number>;
  backend: string;
  precision: 'float32' | 'float64';
  weights: string;
  inputs: string;
  outputs: Record<string, Tensor>;
  agreement?: Record<string, Agreement>;
  quantError?: Record<string, Agreement>;
  quantize?: string;
  /** What the f32 side of `quantError` ran on. */
  compares?: 'f32 weights' | 'dequantized checkpoint';
  forwardMs: number;
  totalMs: number;
  wrote?: string;
}

/** `moec run --json`. */
export function runJson(f: RunJsonFacts) {
  const agreement = (a: Agreement) => ({ maxAbs: a.maxAbs, maxRel: a.maxRel, relL2: a.relL2, nanMismatch: a.nanMismatch, infMismatch: a.infMismatch });
  return {
    schema: RUN_SCHEMA,
    model: f.model,
    tokens: f.tokens,
    sizes: f.bindings,
    backend: f.backend,
    precision: f.precision,
    weights: f.weights,
    inputs: f.inputs,
    outputs: Object.fromEntries(
      Object.entries(f.outputs).map(([name, t]) => [
        name,
        {
          ...outputJson(t),
          vsReference: f.agreement ? agreement(f.agreement[name]) : null,
          quantizationError: f.quantError ? { scheme: f.quantize ?? null, compares: f.compares ?? 'f32 weights', ...agreement(f.quantError[name]) } : null,
        },
      ]),
    ),
    forwardMs: f.forwardMs,
    totalMs: f.totalMs,
    wrote: f.wrote ?? null,
  };
}
