/**
 * @fileoverview `moec quantize`: rewrites a checkpoint with its GEMM weights quantized, in
 * the stored forms moec loads (compiler/load-weights.ts), and measures what that costs.
 *
 * Which tensors: every float tensor of two or more dimensions (F32, F64, F16, BF16, or one
 * already quantized: F8_E4M3 with `_scale_inv`, I8 or packed-i4 U8 with `_scale`) whose name
 * does not say it is an embedding or a norm (`embed`, `norm`, `wte`, `wpe`), nor, unless asked
 * (`quantizeRouter`), a router (`ROUTER_PATTERN`): the router's scores choose the experts, and
 * quantizing its small matrix saves little while it changes which experts run (i4 on
 * examples/mixtral.moe at D=512, F=1024, seeded: output relL2 against f32 0.25 with an i4
 * router, 0.12 with an f32 one). The last axis is
 * the reduction axis, as in `nn.Linear`'s [out, in]. Everything else is copied byte for byte.
 *
 * Written forms (`<name>` holds the codes, the scales sit beside it):
 * - i8: I8 [.., N, K] and `<name>_scale` F32 [.., N, 1] (one scale per output channel).
 * - i8g32: I8 [.., N, K] and `<name>_scale` F32 [.., N, K/32].
 * - i4 (groups of g = 32 or 128): U8 [.., N, K/2] (two codes per byte, even index in the low
 *   nibble) and `<name>_scale` F32 [.., N, K/g].
 * A grouped tensor (i8g32, i4) whose K is not a multiple of g is kept as it is, and the
 * report says why. w8a8 is refused: its weights are i8g32's, its activations are rounded
 * only when the model runs (`--quantize w8a8`).
 * - fp8: F8_E4M3 [.., N, K] and `<name>_scale_inv` F32 [.., ceil(N/128), ceil(K/128)], one
 *   scale per 128×128 block, as DeepSeek-V3 ships its weights (scale = amax(block) / 448).
 *
 * The error of each quantized tensor is measured against its values as read (f64): max abs
 * and relL2 = ‖q - w‖₂ / ‖w‖₂, and overall over all quantized elements. The output is
 * written by the streaming atomic writer: one tensor in memory at a time, no half-written
 * file on an error or a kill, and no temporary file left by ^C or SIGTERM (the event loop
 * runs between tensors, so the signal is handled within one tensor).
 */
import { openCheckpoint } from '../../ir/checkpoint.ts';
import {
  FP8_BLOCK,
  QMAX,
  QUANT_SCHEMES,
  type QuantData,
  type QuantScheme,
  blockScalesToGroups,
  dequantize,
  fp8e4m3Encode,
  quantize,
} from '../../ir/quant.ts';
import type { TensorSpec } from '../../ir/safetensors.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { fail } from '../../ir/diagnostics.ts';
import { formatTable } from '../format.ts';
import { FP8_SCALE_SUFFIX, QUANT_SCALE_SUFFIX, readStored } from './load-weights.ts';
import { writeSafetensorsStreaming } from '../io/write-safetensors.ts';

/** Names of tensors that are never quantized even when 2-D: embeddings and norms. */
export const KEEP_PATTERN = /embed|norm|wte|wpe/i;

/**
 * Names of router weights in Hugging Face MoE checkpoints: `mlp.gate.weight` (Qwen-MoE,
 * DeepSeek, OLMoE), `block_sparse_moe.gate.weight` (Mixtral), `mlp.router.weight` (GPT-OSS);
 * not `gate_proj` (an MLP's gate) nor `shared_expert_gate` (a shared expert's scalar gate).
 */
export const ROUTER_PATTERN = /(^|\.)(gate|router)\.weight$/;

export interface QuantizedRow {
  name: string;
  shape: number[];
  /** What the input stored, e.g. `BF16` or `F8_E4M3`. */
  from: string;
  maxAbs: number;
  relL2: number;
}

export interface QuantizeResult {
  scheme: string;
  rows: QuantizedRow[];
  /** Tensors copied as they are, and why ('1-D', 'embeddings or norms', ...). */
  kept: Array<{ name: string; why: string }>;
  overall: { maxAbs: number; relL2: number };
  bytesOut: number;
}

export interface QuantizeOptions {
  /**
   * Called before each tensor is quantized (for a progress line): the stored bytes of the
   * tensors to quantize done so far and in all, and the tensor's name.
   */
  onProgress?: (doneBytes: number, totalBytes: number, name: string) => void;
  /** Quantize router weights too (`--quantize-router`); by default they are copied. */
  quantizeRouter?: boolean;
}

/** Quantizes a checkpoint (`input`: file, index.json or directory) into one safetensors file. */
export async function quantizeCheckpoint(input: string, schemeName: string, output: string, opts: QuantizeOptions = {}): Promise<QuantizeResult> {
  const scheme = Object.hasOwn(QUANT_SCHEMES, schemeName) ? QUANT_SCHEMES[schemeName] : undefined;
  if (!scheme) fail('E309', `unknown quantization scheme '${schemeName}'`, undefined, `use one of ${Object.keys(QUANT_SCHEMES).join(', ')}`);
  // A checkpoint holds weights: rounding activations is how a model runs, not what it stores.
  if (scheme.activations)
    fail('E309', `${schemeName} rounds the activations as the model runs; a checkpoint stores only its weights`, undefined, `quantize the checkpoint --to i8g32 (${schemeName}'s weights), then run it with --quantize ${schemeName}`);
  const file = openCheckpoint(input);
  const names = file.names();
  const present = new Set(names);
  // Scales of tensors already quantized travel with their tensor, never on their own.
  const scaleOf = new Map<string, string>();
  for (const n of names) {
    const st = file.info(n).dtype;
    const s = st === 'F8_E4M3' ? n + FP8_SCALE_SUFFIX : st === 'I8' || st === 'U8' ? n + QUANT_SCALE_SUFFIX : undefined;
    if (s && present.has(s)) scaleOf.set(n, s);
  }
  const consumed = new Set(scaleOf.values());

  const specs: Record<string, TensorSpec> = {};
  const kept: QuantizeResult['kept'] = [];
  const chosen: string[] = [];
  const storedBytes = new Map<string, number>();
  const scaleName = scheme.dtype === 'fp8e4m3' ? FP8_SCALE_SUFFIX : QUANT_SCALE_SUFFIX;
  for (const n of names) {
    if (consumed.has(n)) continue;
    const { dtype: st, shape } = file.info(n);
    const why = keepReason(n, st, shape, scaleOf.has(n), scheme, opts.quantizeRouter === true);
    if (why) {
      kept.push({ name: n, why });
      specs[n] = { stored: st, shape };
      if (scaleOf.has(n)) specs[scaleOf.get(n)!] = { stored: 'F32', shape: file.info(scaleOf.get(n)!).shape };
      continue;
    }
    // i4 codes: the element shape is twice the stored last axis.
    const elems = st === 'U8' ? [...shape.slice(0, -1), shape[shape.length - 1] * 2] : shape;
    chosen.push(n);
    storedBytes.set(n, file.storedBytes(n));
    specs[n] = { dtype: scheme.dtype, shape: elems };
    const scales = n + scaleName;
    if (present.has(scales) && !consumed.has(scales)) {
      fail('E504', `cannot quantize \`${n}\`: the checkpoint already has a tensor \`${scales}\`, where its scales would go`, undefined, 'rename that tensor first');
    }
    specs[scales] = { dtype: 'f32', shape: writtenScaleShape(elems, scheme) };
  }

  const rows: QuantizedRow[] = [];
  const pendingScales = new Map<string, Tensor>();
  let sumSq = 0;
  let sumDiff = 0;
  let maxAbs = 0;
  const isChosen = new Set(chosen);
  const totalBytes = [...storedBytes.values()].reduce((a, b) => a + b, 0);
  let doneBytes = 0;
  const bytesOut = await writeSafetensorsStreaming(
    output,
    specs,
    (n) => {
      const scales = pendingScales.get(n);
      if (scales) {
        pendingScales.delete(n);
        return scales;
      }
      if (!isChosen.has(n)) return file.raw(n);
      opts.onProgress?.(doneBytes, totalBytes, n);
      doneBytes += storedBytes.get(n)!;
      const stored = readStored(file, n, input, { name: n }, true)!;
      const w = stored.slice.kind === 'float' ? stored.slice.values : dequantize(stored.slice.q);
      const { codes, written, values } = quantizeTensor(w, stored.shape, scheme);
      pendingScales.set(n + scaleName, { dtype: 'f32', shape: writtenScaleShape(stored.shape, scheme), data: written });
      let sq = 0;
      let diff = 0;
      let mx = 0;
      for (let i = 0; i < values.length; i++) {
        const d = values[i] - w[i];
        sq += w[i] * w[i];
        diff += d * d;
        mx = Math.max(mx, Math.abs(d));
      }
      sumSq += sq;
      sumDiff += diff;
      maxAbs = Math.max(maxAbs, mx);
      rows.push({ name: n, shape: stored.shape, from: file.info(n).dtype, maxAbs: mx, relL2: sq > 0 ? Math.sqrt(diff / sq) : diff > 0 ? Infinity : 0 });
      return { dtype: scheme.dtype, shape: stored.shape, data: codes };
    },
    { format: 'pt', quantized_by: 'moec quantize', scheme: schemeName },
  );
  return { scheme: schemeName, rows, kept, overall: { maxAbs, relL2: sumSq > 0 ? Math.sqrt(sumDiff / sumSq) : 0 }, bytesOut };
}

/** Why a tensor is copied rather than quantized, or undefined to quantize it. */
function keepReason(name: string, st: string, shape: number[], hasScales: boolean, scheme: QuantScheme, quantizeRouter: boolean): string | undefined {
  const float = st === 'F32' || st === 'F64' || st === 'F16' || st === 'BF16';
  if (!float && !hasScales) return 'not float';
  if (shape.length < 2) return '1-D';
  if (KEEP_PATTERN.test(name)) return 'embeddings or norms';
  if (!quantizeRouter && ROUTER_PATTERN.test(name)) return 'router (--quantize-router quantizes it)';
  const k = shape[shape.length - 1] * (st === 'U8' ? 2 : 1);
  // Grouped i8 and i4 scales are written [.., N, K/g]; fp8's blocks round up (ceil).
  if (scheme.dtype !== 'fp8e4m3' && scheme.group > 0 && k % scheme.group !== 0) return `with K not a multiple of the ${scheme.dtype} group ${scheme.group}`;
  if (k === 0 || shape.some((d) => d === 0)) return 'empty';
  return undefined;
}

/** The scales tensor as written: i8 [.., N, 1], i4 [.., N, K/g], fp8 blocks [.., ceil(N/128), ceil(K/128)]. */
function writtenScaleShape(shape: readonly number[], scheme: QuantScheme): number[] {
  const nd = shape.length;
  if (scheme.dtype === 'fp8e4m3') return [...shape.slice(0, -2), Math.ceil(shape[nd - 2] / FP8_BLOCK), Math.ceil(shape[nd - 1] / FP8_BLOCK)];
  return [...shape.slice(0, -1), scheme.group > 0 ? shape[nd - 1] / scheme.group : 1];
}

/** Quantizes one [.., N, K] tensor: its codes, the scales as written, and its dequantized values. */
function quantizeTensor(w: ArrayLike<number>, shape: number[], scheme: QuantScheme): { codes: Int32Array; written: Float32Array; values: Float32Array } {
  if (scheme.dtype !== 'fp8e4m3') {
    const q = quantize(w, shape, shape.length - 1, scheme);
    return { codes: q.codes, written: q.scales, values: dequantize(q) };
  }
  const blocks = fp8BlockQuantize(w, shape);
  const q: QuantData = { dtype: 'fp8e4m3', shape, axis: shape.length - 1, group: FP8_BLOCK, codes: blocks.codes, scales: blockScalesToGroups(blocks.scales, shape) };
  return { codes: blocks.codes, written: blocks.scales, values: dequantize(q) };
}

/**
 * DeepSeek-V3's fp8 quantization: one scale per 128×128 block of each [N, K] matrix,
 * fround(amax / 448) (1 for an all-zero block), codes the fp8 e4m3fn encoding of w / scale.
 */
export function fp8BlockQuantize(w: ArrayLike<number>, shape: readonly number[]): { codes: Int32Array; scales: Float32Array } {
  const nd = shape.length;
  const n = shape[nd - 2];
  const k = shape[nd - 1];
  const nb = Math.ceil(n / FP8_BLOCK);
  const kb = Math.ceil(k / FP8_BLOCK);
  const outer = shape.slice(0, nd - 2).reduce((a, b) => a * b, 1);
  const codes = new Int32Array(outer * n * k);
  const scales = new Float32Array(outer * nb * kb);
  for (let o = 0; o < outer; o++) {
    for (let bn = 0; bn < nb; bn++) {
      for (let bk = 0; bk < kb; bk++) {
        const rows = [bn * FP8_BLOCK, Math.min(n, (bn + 1) * FP8_BLOCK)];
        const cols = [bk * FP8_BLOCK, Math.min(k, (bk + 1) * FP8_BLOCK)];
        let amax = 0;
        for (let r = rows[0]; r < rows[1]; r++) for (let c = cols[0]; c < cols[1]; c++) amax = Math.max(amax, Math.abs(w[(o * n + r) * k + c]));
        const s = amax > 0 && Number.isFinite(amax) ? Math.fround(amax / QMAX.fp8e4m3) : 1;
        scales[(o * nb + bn) * kb + bk] = s;
        for (let r = rows[0]; r < rows[1]; r++) for (let c = cols[0]; c < cols[1]; c++) codes[(o * n + r) * k + c] = fp8e4m3Encode(w[(o * n + r) * k + c] / s);
      }
    }
  }
  return { codes, scales };
}

/** The report as a table: one row per quantized tensor, then the totals and what was kept. */
export function formatQuantizeReport(r: QuantizeResult, output: string): string {
  const e = (v: number): string => (v === 0 ? '0' : v.toExponential(2));
  const head = ['tensor', 'shape', 'from', 'max abs err', 'relL2'];
  const body = r.rows.map((row) => [row.name, `[${row.shape.join(', ')}]`, row.from, e(row.maxAbs), e(row.relL2)]);
  const lines = [`quantized ${r.rows.length} tensors to ${r.scheme}:`, ...formatTable([head, ...body], { right: (i) => i >= 3 })];
  lines.push(`overall (${r.rows.length} tensors): max abs err ${e(r.overall.maxAbs)}, relL2 ${e(r.overall.relL2)}`);
  const why = new Map<string, number>();
  for (const k of r.kept) why.set(k.why, (why.get(k.why) ?? 0) + 1);
  if (r.kept.length > 0) lines.push(`kept ${r.kept.length} tensors as they are: ${[...why].sort().map(([w, n]) => `${n} ${w}`).join(', ')}`);
  lines.push(`wrote ${output} (${(r.bytesOut / 1e6).toFixed(2)} MB)`);
  return lines.join('\n');
}
