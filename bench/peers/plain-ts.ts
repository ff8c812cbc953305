/**
 * @fileoverview The floor: the benchmark's MoE layer as plain TypeScript over Float32Arrays,
 * written the obvious way (token by token; for each chosen expert, gate and up dot products,
 * SiLU, the down projection, weighted into the output), single-threaded, no SIMD, no
 * blocking. What a web page computes with no compiler at all.
 */
import type { LayerSpec } from './layer.ts';

/** Weights by role (`router`, `gate`, `up`, `down`, `shared_gate`, ...) as in `LayerSpec.files`. */
export type LayerWeights = Record<string, Float32Array>;

/** y = layer(x) for T tokens of width D. */
export function plainLayer(s: LayerSpec, w: LayerWeights, x: Float32Array, T: number): Float32Array {
  const { D, F, E, K, FS } = s;
  const y = new Float32Array(T * D);
  const probs = new Float32Array(E);
  const h = new Float32Array(Math.max(F, FS));
  const chosen = new Int32Array(K);
  // One SwiGLU MLP (gate/up [hid, D], down [D, hid] at their offsets) on row xr, scaled into yr.
  const mlp = (xr: number, gate: Float32Array, up: Float32Array, down: Float32Array, off: number, hid: number, scale: number, yr: number): void => {
    for (let f = 0; f < hid; f++) {
      let g = 0;
      let u = 0;
      const wr = (off * hid + f) * D;
      for (let d = 0; d < D; d++) {
        g += x[xr + d] * gate[wr + d];
        u += x[xr + d] * up[wr + d];
      }
      h[f] = (g / (1 + Math.exp(-g))) * u;
    }
    for (let d = 0; d < D; d++) {
      let acc = 0;
      const wr = (off * D + d) * hid;
      for (let f = 0; f < hid; f++) acc += h[f] * down[wr + f];
      y[yr + d] += scale * acc;
    }
  };
  for (let t = 0; t < T; t++) {
    const xr = t * D;
    let max = -Infinity;
    for (let e = 0; e < E; e++) {
      let acc = 0;
      for (let d = 0; d < D; d++) acc += x[xr + d] * w.router[e * D + d];
      probs[e] = acc;
      max = Math.max(max, acc);
    }
    let sum = 0;
    for (let e = 0; e < E; e++) sum += probs[e] = Math.exp(probs[e] - max);
    for (let e = 0; e < E; e++) probs[e] /= sum;
    // Top-K by repeated selection (ties: lower index).
    let picked = 0;
    for (let j = 0; j < K; j++) {
      let best = -1;
      for (let e = 0; e < E; e++) if (!chosen.subarray(0, j).includes(e) && (best < 0 || probs[e] > probs[best])) best = e;
      chosen[j] = best;
      picked += probs[best];
    }
    for (let j = 0; j < K; j++) mlp(xr, w.gate, w.up, w.down, chosen[j], F, s.renorm ? probs[chosen[j]] / picked : probs[chosen[j]], xr);
    if (FS > 0) mlp(xr, w.shared_gate, w.shared_up, w.shared_down, 0, FS, 1, xr);
  }
  return y;
}
