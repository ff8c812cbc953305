/**
 * @fileoverview A one-off sanity check that the NumPy peer computes the same layers as moec,
 * so its speed is a fair comparison: moec's weights and input go to NumPy through a temporary
 * safetensors file, and NumPy's output must match the reference interpreter's within
 * TOLERANCE (absolute, elementwise). Not a test of moec: the tests hold the interpreter to
 * its own contract; this only keeps the peer honest.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { interpret } from '../ir/graph/interp.ts';
import { mainFunc } from '../ir/graph/graph.ts';
import { writeSafetensors } from '../compiler/io/write-safetensors.ts';
import { makeTempDir, removeTemp } from '../compiler/io/output.ts';
import { callNumpy, numpyUnavailable } from './peers/numpy.ts';
import type { BenchCase } from './runner.ts';
import { numpyModel } from './runners/numpy.ts';

/** Largest allowed |numpy − moec| of any output element. */
export const TOLERANCE = 1e-4;

export interface CheckResult {
  workload: string;
  tokens: number;
  status: 'PASS' | 'FAIL' | 'SKIP';
  /** Largest |numpy − moec|, and the largest |moec| for scale. */
  maxAbsErr?: number;
  maxAbs?: number;
  tolerance: number;
  note?: string;
}

/** Runs case `c` on moec and on NumPy with moec's weights and inputs, and compares the outputs. */
export function checkNumpy(c: BenchCase): CheckResult {
  const base = { workload: c.workload.name, tokens: c.tokens, tolerance: TOLERANCE };
  const why = numpyUnavailable() ?? (numpyModel(c.workload.file) ? null : `numpy_moe.py has no implementation of ${c.workload.file}`);
  if (why) return { ...base, status: 'SKIP', note: why };
  const main = mainFunc(c.module);
  if (main.results.length !== 1) return { ...base, status: 'SKIP', note: 'the check compares a single output' };
  const dir = makeTempDir('moec-bench');
  try {
    const want = interpret(c.module, { bindings: c.bindings, inputs: c.inputs, weights: c.weights })[main.results[0].name];
    const tensors = join(dir, 'tensors.safetensors');
    const out = join(dir, 'y.f32');
    writeSafetensors(tensors, { ...c.weights, ...c.inputs });
    const r = callNumpy<{ shape: number[] }>({ mode: 'check', model: numpyModel(c.workload.file), consts: c.consts, tensors, out });
    if (r.shape.join(',') !== want.shape.join(','))
      return { ...base, status: 'FAIL', note: `NumPy's output is [${r.shape.join(', ')}], moec's [${want.shape.join(', ')}]` };
    const bytes = readFileSync(out);
    const got = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    let maxAbsErr = 0;
    let maxAbs = 0;
    for (let i = 0; i < got.length; i++) {
      const err = Math.abs(got[i] - want.data[i]);
      // NaN anywhere is a failure: `err > maxAbsErr` is false for NaN, so record it explicitly.
      maxAbsErr = Number.isNaN(err) ? NaN : Math.max(maxAbsErr, err);
      maxAbs = Math.max(maxAbs, Math.abs(want.data[i]));
    }
    return { ...base, status: maxAbsErr <= TOLERANCE ? 'PASS' : 'FAIL', maxAbsErr, maxAbs };
  } catch (e) {
    return { ...base, status: 'FAIL', note: (e as Error).message };
  } finally {
    removeTemp(dir);
  }
}
