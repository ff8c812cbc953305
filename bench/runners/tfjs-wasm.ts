/**
 * @fileoverview The TensorFlow.js peer: `@tensorflow/tfjs-core` on `@tensorflow/tfjs-backend-wasm`
 * (XNNPACK kernels, SIMD128, one thread: Node gets the non-threaded build), computing the
 * same layers with the same weights: router logits with `matMul`, routing on the host (as
 * Hugging Face's implementations do on the CPU), then per active expert a gather of its tokens,
 * SwiGLU through `matMul` and a weighted `scatterND` into the output; DeepSeek's dense layers,
 * RMSNorm, shared expert and residuals as tf ops. The module's .wasm files ship in the package
 * and are loaded from node_modules (nothing is downloaded). Each workload's first case is
 * checked against moec's reference interpreter (max |Δ| <= 1e-3 of the output's scale).
 */
import { fileURLToPath } from 'node:url';
import { agreement } from '../../compiler/compare.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { interpret } from '../../ir/graph/interp.ts';
import { mainFunc } from '../../ir/graph/graph.ts';
import type { BenchCase, Runner } from '../runner.ts';
import { sample } from '../stats.ts';
import { initWasmLimits, wasmLimits } from './moec-wasm.ts';

type Tf = typeof import('@tensorflow/tfjs-core');
type TfTensor = import('@tensorflow/tfjs-core').Tensor;
let tf: Tf | undefined;
let version = '';

async function init(): Promise<void> {
  await initWasmLimits();
  const core = await import('@tensorflow/tfjs-core');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(fileURLToPath(new URL('../../node_modules/@tensorflow/tfjs-backend-wasm/dist/', import.meta.url)));
  if (!(await core.setBackend('wasm'))) throw new Error('tfjs: the wasm backend did not initialise');
  await core.ready();
  tf = core;
  version = `${core.version_core}, SIMD ${core.env().getBool('WASM_HAS_SIMD_SUPPORT')}, threads ${core.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')}`;
}

/** The k best of `v` (ties to the lower index), best first. */
function topk(v: ArrayLike<number>, k: number, eligible: (i: number) => boolean = () => true): number[] {
  const idx: number[] = [];
  for (let i = 0; i < v.length; i++) {
    if (!eligible(i)) continue;
    let p = idx.length;
    while (p > 0 && v[i] > v[idx[p - 1]]) p--;
    if (p < k) {
      idx.splice(p, 0, i);
      if (idx.length > k) idx.pop();
    }
  }
  return idx;
}

interface Routing {
  /** Per token, the chosen experts and their weights. */
  experts: number[][];
  weights: number[][];
}

/** A layer's weights as tf tensors, sliced per stacked layer and expert once. */
class Weights {
  private readonly cache = new Map<string, TfTensor>();
  constructor(private readonly w: Record<string, Tensor>) {}
  get(name: string, ...index: number[]): TfTensor {
    const key = `${name}[${index.join(',')}]`;
    let t = this.cache.get(key);
    if (!t) {
      const src = this.w[name];
      const shape = src.shape.slice(index.length);
      const size = shape.reduce((p, d) => p * d, 1);
      let off = 0;
      for (let i = 0; i < index.length; i++) off = off * src.shape[i] + index[i];
      // kept: made on first use inside a forward's tidy, they must outlive it
      t = tf!.keep(tf!.tensor((src.data as Float32Array).subarray(off * size, (off + 1) * size), shape, 'float32'));
      this.cache.set(key, t);
    }
    return t;
  }
  /** A [out, in] weight as [in, out], transposed once: the layout tfjs's matMul reads without a per-call transpose. */
  lin(name: string, ...index: number[]): TfTensor {
    const key = `${name}[${index.join(',')}]ᵀ`;
    let t = this.cache.get(key);
    if (!t) {
      t = tf!.keep(tf!.transpose(this.get(name, ...index)));
      this.cache.set(key, t);
    }
    return t;
  }
  dispose(): void {
    for (const t of this.cache.values()) t.dispose();
  }
}

const linear = (x: TfTensor, wT: TfTensor): TfTensor => tf!.matMul(x, wT);
const swiglu = (x: TfTensor, g: TfTensor, u: TfTensor, d: TfTensor): TfTensor => {
  const a = linear(x, g);
  return linear(tf!.mul(tf!.mul(a, tf!.sigmoid(a)), linear(x, u)), d);
};

/** Σ over experts of w · expert(x rows routed to it), scattered back to [T, D]. */
function experts(x: TfTensor, r: Routing, expert: (e: number, xe: TfTensor) => TfTensor, E: number): TfTensor {
  const [T, D] = x.shape as [number, number];
  const rows: number[][] = Array.from({ length: E }, () => []);
  const wts: number[][] = Array.from({ length: E }, () => []);
  r.experts.forEach((es, t) => es.forEach((e, j) => (rows[e].push(t), wts[e].push(r.weights[t][j]))));
  let out = tf!.zeros([T, D]);
  for (let e = 0; e < E; e++) {
    if (rows[e].length === 0) continue;
    const idx = tf!.tensor1d(rows[e], 'int32');
    const y = tf!.mul(expert(e, tf!.gather(x, idx)), tf!.tensor2d(wts[e], [wts[e].length, 1]));
    out = tf!.add(out, tf!.scatterND(tf!.reshape(idx, [-1, 1]), y, [T, D]));
  }
  return out;
}

/** Softmax over each token's router logits, top-K, the chosen probabilities (divided by their sum when `renorm`). */
function softmaxTopk(x: TfTensor, router: TfTensor, K: number, renorm: boolean): Routing {
  const logits = linear(x, router).arraySync() as number[][];
  const r: Routing = { experts: [], weights: [] };
  for (const l of logits) {
    const m = Math.max(...l);
    const p = l.map((v) => Math.exp(v - m));
    const s = p.reduce((a, b) => a + b, 0);
    const top = topk(p.map((v) => v / s), K);
    const w = top.map((e) => p[e] / s);
    const sum = renorm ? w.reduce((a, b) => a + b, 0) : 1;
    r.experts.push(top);
    r.weights.push(w.map((v) => v / sum));
  }
  return r;
}

/** examples/mixtral.moe: softmax top-K, renormalised, SwiGLU experts. */
function mixtral(c: BenchCase, W: Weights, x: TfTensor): TfTensor {
  const r = softmaxTopk(x, W.lin('router'), c.consts.K, true);
  return experts(x, r, (e, xe) => swiglu(xe, W.lin('w1', e), W.lin('w3', e), W.lin('w2', e)), c.consts.E);
}

/** bench/models/deepseek-mini.moe: softmax top-K without renormalisation, SwiGLU experts, plus a shared SwiGLU MLP. */
function deepseekMini(c: BenchCase, W: Weights, x: TfTensor): TfTensor {
  const r = softmaxTopk(x, W.lin('router'), c.consts.K, false);
  const routed = experts(x, r, (e, xe) => swiglu(xe, W.lin('w_gate', e), W.lin('w_up', e), W.lin('w_down', e)), c.consts.E);
  return tf!.add(routed, swiglu(x, W.lin('shared.gate'), W.lin('shared.up'), W.lin('shared.down')));
}

const LAYERS: Record<string, (c: BenchCase, W: Weights, x: TfTensor) => TfTensor> = {
  'examples/mixtral.moe': mixtral,
  'bench/models/deepseek-mini.moe': deepseekMini,
};

let weights: { workload: string; w: Weights } | undefined;
const checked = new Set<string>();

export const tfjsWasm: Runner = {
  id: 'tfjs-wasm',
  init,
  about: () => (tf ? `TensorFlow.js ${version} (tfjs-backend-wasm: XNNPACK), matMul per active expert, routing on the host` : 'TensorFlow.js wasm backend: not loaded'),
  roof: () => {
    const l = wasmLimits();
    return l ? { gflops: l.simdGflops, gbps: l.streamGBps, computeFrom: 'Wasm SIMD128 multiply-add loop', bandwidthFrom: `Wasm v128.load streaming sum over ${l.streamMiB} MiB` } : null;
  },
  skip: (c) => (LAYERS[c.workload.file] ? null : `no tfjs implementation of ${c.workload.file}`),
  measure: (c, plan) => {
    if (weights?.workload !== c.workload.name) {
      weights?.w.dispose();
      weights = { workload: c.workload.name, w: new Weights(c.weights) };
    }
    const W = weights.w;
    const input = c.inputs[mainFunc(c.module).params[0].name];
    const x = tf!.tensor(input.data as Float32Array, input.shape, 'float32');
    const run = (): Float32Array => {
      const y = tf!.tidy(() => LAYERS[c.workload.file](c, W, x));
      const data = y.dataSync() as Float32Array;
      y.dispose();
      return data;
    };
    if (!checked.has(c.workload.name)) {
      const want = Object.values(interpret(c.module, { bindings: c.bindings, inputs: c.inputs, weights: c.weights }))[0];
      const a = agreement({ dtype: 'f32', shape: want.shape, data: run() }, want);
      if (!(a.maxRel <= 1e-3) || a.nanMismatch > 0) throw new Error(`tfjs layer does not match moec-ref: max rel ${a.maxRel.toExponential(1)}, ${a.nanMismatch} NaN mismatches`);
      checked.add(c.workload.name);
    }
    try {
      return sample(() => void run(), plan);
    } finally {
      x.dispose();
    }
  },
};
