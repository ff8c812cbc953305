/**
 * @fileoverview The benchmark's MoE layer as an ONNX model for onnxruntime, built around its
 * `com.microsoft` `MoE` contrib operator (CPU kernel):
 *
 *   logits = MatMul(x, routerᵀ)                         [T, E]
 *   y      = MoE(x, logits, fc1, "", fc2)               softmax, top-k, SwiGLU experts
 *   y     += shared SwiGLU MLP (MatMul, Sigmoid, Mul)   deepseek-mini only
 *
 * The operator takes router logits and does the softmax and top-k itself
 * (`normalize_routing_weights` = renormalise the top-k). Its CPU kernel accepts SwiGLU only
 * fused into fc1 with gate and up rows INTERLEAVED (`swiglu_fusion=1`): fc1 is
 * [E, 2F, D] with row 2i = gate row i and row 2i+1 = up row i, and it computes
 * gate·σ(alpha·gate)·(up + beta) with both clamped to `swiglu_limit`; alpha 1, beta 0 and a
 * limit of 1e30 make that plain SiLU(gate)·up. fc2 is [E, D, F] (moec's down layout). MatMul
 * weights are stored transposed, [in, out], as exporters write nn.Linear.
 */
import { type Message, graph, model, node, tensor, valueInfo } from './onnx-proto.ts';
import type { LayerSpec } from './layer.ts';

/** The raw weights of a layer by role file name (`router.f32`, `gate.f32`, ...). */
export type LayerWeights = Record<string, Float32Array>;

/** The ONNX model (ModelProto bytes) of `spec` with weights `w`; the token count is symbolic (`T`). */
export function moeModel(spec: LayerSpec, w: LayerWeights): Uint8Array {
  const { D, F, E, K, FS } = spec;
  const initializers: Message[] = [
    tensor('router_t', [D, E], transpose(w['router.f32'], E, D)),
    tensor('fc1', [E, 2 * F, D], interleave(w['gate.f32'], w['up.f32'], E, F, D)),
    tensor('fc2', [E, D, F], w['down.f32']),
  ];
  const nodes: Message[] = [
    node('MatMul', ['x', 'router_t'], ['logits'], { name: 'router' }),
    node('MoE', ['x', 'logits', 'fc1', '', 'fc2'], [FS > 0 ? 'routed' : 'y'], {
      name: 'moe',
      domain: 'com.microsoft',
      attributes: {
        k: K,
        activation_type: 'swiglu',
        swiglu_fusion: 1,
        activation_alpha: { float: 1 },
        activation_beta: { float: 0 },
        swiglu_limit: { float: 1e30 },
        normalize_routing_weights: spec.renorm ? 1 : 0,
      },
    }),
  ];
  if (FS > 0) {
    initializers.push(
      tensor('shared_gate_t', [D, FS], transpose(w['shared_gate.f32'], FS, D)),
      tensor('shared_up_t', [D, FS], transpose(w['shared_up.f32'], FS, D)),
      tensor('shared_down_t', [FS, D], transpose(w['shared_down.f32'], D, FS)),
    );
    nodes.push(
      node('MatMul', ['x', 'shared_gate_t'], ['sg']),
      node('Sigmoid', ['sg'], ['sg_sig']),
      node('Mul', ['sg', 'sg_sig'], ['sg_silu']),
      node('MatMul', ['x', 'shared_up_t'], ['su']),
      node('Mul', ['sg_silu', 'su'], ['sh']),
      node('MatMul', ['sh', 'shared_down_t'], ['shared']),
      node('Add', ['routed', 'shared'], ['y']),
    );
  }
  const g = graph({ name: 'moe_layer', nodes, initializers, inputs: [valueInfo('x', ['T', D])], outputs: [valueInfo('y', ['T', D])] });
  return model(g, { '': 17, 'com.microsoft': 1 });
}

/** [rows, cols] → [cols, rows]. */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/** gate, up [E, F, D] → fc1 [E, 2F, D] with gate row i at 2i and up row i at 2i + 1. */
function interleave(gate: Float32Array, up: Float32Array, E: number, F: number, D: number): Float32Array {
  const out = new Float32Array(2 * E * F * D);
  for (let e = 0; e < E; e++)
    for (let i = 0; i < F; i++) {
      const src = (e * F + i) * D;
      const dst = (e * 2 * F + 2 * i) * D;
      out.set(gate.subarray(src, src + D), dst);
      out.set(up.subarray(src, src + D), dst + D);
    }
  return out;
}
