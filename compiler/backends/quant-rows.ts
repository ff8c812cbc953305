/**
 * @fileoverview Quantizing float weights straight into a blob, row by row.
 *
 * `packWeights` defines packed weights by interpreting the program's `pack` function, which
 * quantizes each float weight on loading (one Int32Array code per element), then moves the
 * codes (GLU gate and up concatenated), and the backend lays them out. For a 50 MB i8 blob
 * that is 200 MB of codes made, copied and re-read. Most quantized packed weights are
 * simpler than that: weights quantized along their last axis, moved only in whole rows (or
 * rows cut into whole scale groups): concatenated along another axis (GLU gate and up,
 * shared experts appended), reshaped, transposed with the last axis kept last. Each row of
 * such a buffer is (part of) a row of one float weight, and its scale groups are runs of
 * that row, so quantizing the row where it lands gives the same codes and scales as
 * quantizing the weight and then moving it. Those buffers are described here as `QuantRows`
 * (where each row comes from) and every other result still comes from the interpreter, run
 * on a `pack` pruned to them. The rows are quantized by the Wasm SIMD quantizer where it
 * applies (quant-simd.ts), else by ir/quant.ts's JS loops, which define the result.
 *
 * f32 packed buffers made the same way (moves of whole rows of f32 weights) are described
 * alike, so a blob writer copies each row where it lands. That is how a streamed weight
 * (ir/weight-rows.ts: a checkpoint read a few rows at a time) is packed without ever being
 * held whole, and it spares an in-memory weight the interpreter's copies.
 */
import { evalShape } from '../../ir/dims.ts';
import type { Func, Module, Node, Value } from '../../ir/graph/graph.ts';
import { interpretFunc } from '../../ir/graph/interp.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { packedBuffers } from '../../ir/kernel/kweights.ts';
import { type QuantDType, isQuantDType, packCodes, quantizeRow } from '../../ir/quant.ts';
import { resolveQuant } from '../../ir/quant-type.ts';
import { type SimdQuantizer, paddedRow, simdQuantizerFor } from './quant-simd.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { type WeightRows, weightRows } from '../../ir/weight-rows.ts';
import type { WriteAt } from './weights.ts';

/** A quantized packed buffer whose rows (all axes but the last, row-major) are rows of float weights. */
export interface QuantRows {
  dtype: QuantDType;
  /** The packed shape; the last axis, `k` long, is the reduction axis. */
  shape: number[];
  rows: number;
  k: number;
  group: number;
  /** The float weight holding row `r`, and where in it the row starts. */
  source(r: number): { data: Float32Array; at: number };
  /** Rows that are codes of this scheme already (a quantized checkpoint's): copied, not quantized. */
  codes?(r: number, codes: Int32Array, scales: Float32Array): void;
}

/**
 * Quantizes row `r` of `q` into scratch `codes` (k long) and `scales` (ceil(k / group)):
 * the codes and scales the interpreter's quantize-then-move would give it.
 */
export function quantizeRowOf(q: QuantRows, r: number, codes: Int32Array, scales: Float32Array): void {
  if (q.codes) return q.codes(r, codes, scales);
  const { data, at } = q.source(r);
  quantizeRow(data, at, q.k, q.group, q.dtype, codes, scales);
}

/**
 * Quantizes `q`'s rows into a blob row-major, through `write`: codes at `codesAt` (i4 two per
 * byte, even index in the low nibble), f32 scales [rows, groups] at `scalesAt`
 * (little-endian). In Wasm SIMD where it applies (quant-simd.ts), a batch of rows at a time;
 * else in JS, a block of rows per write. Rows that are codes already are copied.
 */
export function quantizeIntoRows(write: WriteAt, codesAt: number, scalesAt: number, q: QuantRows, onRow: (r: number) => void): void {
  const simd = q.codes ? undefined : simdQuantizerFor(q);
  if (simd) return quantizeIntoRowsSimd(simd, write, codesAt, scalesAt, q, onRow);
  const groups = Math.ceil(q.k / q.group);
  const codes = new Int32Array(q.k);
  const scales = new Float32Array(groups);
  const rowBytes = q.dtype === 'i4' ? q.k / 2 : q.k;
  const per = Math.max(1, Math.floor(ROW_BLOCK_BYTES / Math.max(rowBytes, 1)));
  const codeBlock = new Uint8Array(Math.min(per, q.rows) * rowBytes);
  const scaleBlock = new Uint8Array(Math.min(per, q.rows) * groups * 4);
  const view = new DataView(scaleBlock.buffer);
  for (let r0 = 0; r0 < q.rows; r0 += per) {
    const n = Math.min(per, q.rows - r0);
    for (let i = 0; i < n; i++) {
      const r = r0 + i;
      quantizeRowOf(q, r, codes, scales);
      packCodes(q.dtype, codes, codeBlock.subarray(i * rowBytes, (i + 1) * rowBytes));
      for (let g = 0; g < groups; g++) view.setFloat32(4 * (i * groups + g), scales[g], true);
      onRow(r);
    }
    write(codesAt + r0 * rowBytes, codeBlock.subarray(0, n * rowBytes));
    write(scalesAt + r0 * groups * 4, scaleBlock.subarray(0, n * groups * 4));
  }
}

/** Bytes of codes gathered before a write. */
const ROW_BLOCK_BYTES = 1 << 20;

/** `quantizeIntoRows` by the Wasm quantizer: rows staged in batches, codes and scales copied out whole. */
function quantizeIntoRowsSimd(simd: SimdQuantizer, write: WriteAt, codesAt: number, scalesAt: number, q: QuantRows, onRow: (r: number) => void): void {
  const i4 = q.dtype === 'i4';
  const rowBytes = i4 ? q.k / 2 : q.k;
  const per = simd.batchRows(q);
  for (let r0 = 0; r0 < q.rows; r0 += per) {
    const n = Math.min(per, q.rows - r0);
    const s = simd.quantize(q, n, (i) => r0 + i, i4 ? (n * paddedRow(q.k)) / 2 : 0);
    const codes = i4 ? simd.packI4(s) : simd.codeBytes(s);
    const stride = i4 ? s.kp / 2 : s.kp;
    if (stride === rowBytes) write(codesAt + r0 * rowBytes, codes.subarray(0, n * rowBytes));
    else for (let i = 0; i < n; i++) write(codesAt + (r0 + i) * rowBytes, codes.subarray(i * stride, i * stride + rowBytes));
    // Wasm memory is little-endian, as the blob is: the scales' bytes go over as they are
    write(scalesAt + 4 * r0 * s.groups, new Uint8Array(s.scales.buffer, s.scales.byteOffset, 4 * n * s.groups));
    for (let i = 0; i < n; i++) onRow(r0 + i);
  }
}

/** Values of a `pack` function that are rows of float weights: their shape and where row r lies. */
type Rows = WeightRows;

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Row `r` of `shape` (all axes but the last) as its index along each of those axes. */
function rowIndex(shape: readonly number[], r: number, into: number[]): void {
  for (let i = shape.length - 2; i >= 0; i--) {
    into[i] = r % shape[i];
    r = (r - into[i]) / shape[i];
  }
}

/**
 * `concat` of row sources along `axis` (not the last): row r comes from the piece holding
 * its index along the axis.
 */
function concatOf(shape: number[], axis: number, pieces: Rows[]): Rows {
  const outer = product(shape.slice(0, axis));
  const rowsAfter = product(shape.slice(axis + 1, -1));
  const along = shape[axis];
  const pieceAt = new Int32Array(along);
  const startOf = new Int32Array(pieces.length);
  for (let j = 0, a = 0; j < pieces.length; j++) {
    startOf[j] = a;
    for (let i = 0; i < pieces[j].shape[axis]; i++) pieceAt[a++] = j;
  }
  return mappedRows(shape, pieces, (r) => {
    const inner = r % rowsAfter;
    const rest = (r - inner) / rowsAfter;
    const a = rest % along;
    const j = pieceAt[a];
    return [pieces[j], (((rest - a) / along) * pieces[j].shape[axis] + (a - startOf[j])) * rowsAfter + inner];
  });
}

/** Rows of `shape` each of which is a row of one of `from` (`locate(r)`: which, and its row there); codes when all have them. */
function mappedRows(shape: number[], from: Rows[], locate: (r: number) => [Rows, number]): Rows {
  return {
    shape,
    source(r) {
      const [x, row] = locate(r);
      return x.source(row);
    },
    ...(from.every((x) => x.codes) && {
      codes(r: number, codes: Int32Array, scales: Float32Array) {
        const [x, row] = locate(r);
        x.codes!(row, codes, scales);
      },
    }),
  };
}

/** `transpose` of a row source by `perm`, which keeps the last axis last. */
function transposeOf(shape: number[], perm: readonly number[], x: Rows): Rows {
  const lead = shape.length - 1;
  const strides = new Array<number>(lead);
  for (let i = lead - 1, s = 1; i >= 0; i--) {
    strides[i] = s;
    s *= x.shape[i];
  }
  const idx = new Array<number>(lead).fill(0);
  return mappedRows(shape, [x], (r) => {
    rowIndex(shape, r, idx);
    let from = 0;
    for (let i = 0; i < lead; i++) from += idx[i] * strides[perm[i]];
    return [x, from];
  });
}

/** The node that makes each value of `f`. */
function producers(f: Func): Map<Value, Node> {
  const out = new Map<Value, Node>();
  for (const n of f.body) for (const v of n.outputs) out.set(v, n);
  return out;
}

/**
 * The packed weights of `p`, with the quantized buffers that are rows of float weights as
 * `QuantRows` and the rest as `packWeights` makes them (the interpreter on `pack`, pruned to
 * those). Rows of float weights: a weight quantized along its last axis, and what `reshape`
 * (keeping the last axis, or cutting it into whole groups), `transpose` (keeping it last) and `concat` (along another axis)
 * make of such values: moves of whole rows, which take each scale group along. Anything
 * else (weights given as codes, another dtype or group, shapes that differ from the
 * declaration, which the interpreter then reports) goes through the interpreter.
 */
export function packWeightRows(p: KProgram, weights: Record<string, Tensor>, bindings: Record<string, number>): { rows: Map<string, QuantRows>; floatRows: Map<string, WeightRows>; packed: Record<string, Tensor> } {
  const pack = p.module.funcs.find((f) => f.name === p.pack);
  if (!pack) throw new Error(`packed weights: no function named '${p.pack}'`);
  const made = producers(pack);
  const buffers = new Map(p.buffers.map((b) => [b.name, b]));
  const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
  /** Rows of `v`, a value of `dtype` (quantized along its last axis in groups of `group`, or f32 with `group` undefined). */
  const rowsOf = (v: Value, dtype: QuantDType | 'f32', group: number | undefined): Rows | undefined => {
    const n = made.get(v);
    const t = v.type;
    if (!n || t.dtype !== dtype || (group === undefined) !== (t.quant === undefined)) return undefined;
    const shape = evalShape(t.shape, bindings);
    const rank = shape.length;
    if (rank === 0) return undefined;
    if (t.quant) {
      const q = resolveQuant(t.quant, shape);
      if (q.axis !== rank - 1 || q.group !== group) return undefined;
    }
    if (n.op === 'weight') {
      const name = n.attrs.name as string;
      const w = Object.hasOwn(weights, name) ? weights[name] : undefined;
      if (!w) return undefined;
      // A streamed weight is read row by row; asking for its data would read it whole.
      const streamed = weightRows(w);
      if (streamed) return sameShape(streamed.shape, shape) ? streamed : undefined;
      if (w.quant || !(w.data instanceof Float32Array) || !sameShape(w.shape, shape) || w.data.length !== product(shape)) return undefined;
      const data = w.data;
      const k = shape[rank - 1];
      return { shape, source: (r) => ({ data, at: r * k }) };
    }
    const xs = n.inputs.map((x) => rowsOf(x, dtype, group));
    if (xs.length === 0 || xs.some((x) => x === undefined)) return undefined;
    const x0 = xs[0]!;
    const k = shape[rank - 1];
    const k0 = x0.shape[x0.shape.length - 1];
    if (n.op === 'reshape' && product(x0.shape) === product(shape) && k0 % k === 0 && (group === undefined || k % group === 0)) {
      // the same rows, or each cut into k0 / k rows of whole groups
      if (k0 === k) return { ...x0, shape };
      const cut = k0 / k;
      const whole = x0.codes && group !== undefined ? { codes: new Int32Array(k0), scales: new Float32Array(k0 / group) } : undefined;
      return {
        shape,
        source(r) {
          const part = r % cut;
          const { data, at } = x0.source((r - part) / cut);
          return { data, at: at + part * k };
        },
        ...(whole && {
          codes(r: number, codes: Int32Array, scales: Float32Array) {
            const part = r % cut;
            x0.codes!((r - part) / cut, whole.codes, whole.scales);
            codes.set(whole.codes.subarray(part * k, (part + 1) * k));
            scales.set(whole.scales.subarray((part * k) / group!, ((part + 1) * k) / group!));
          },
        }),
      };
    }
    const perm = n.attrs.perm as number[] | undefined;
    if (n.op === 'transpose' && perm?.length === rank && perm[rank - 1] === rank - 1) return transposeOf(shape, perm, x0);
    if (n.op === 'concat') {
      const axis = (((n.attrs.axis as number) % rank) + rank) % rank;
      const ok = axis !== rank - 1 && xs.every((x) => x!.shape.length === rank && x!.shape.every((d, i) => i === axis || d === shape[i])) && xs.reduce((a, x) => a + x!.shape[axis], 0) === shape[axis];
      return ok ? concatOf(shape, axis, xs as Rows[]) : undefined;
    }
    return undefined;
  };
  const rows = new Map<string, QuantRows>();
  const floatRows = new Map<string, WeightRows>();
  for (const r of pack.results) {
    const buf = buffers.get(r.name);
    if (!buf) continue;
    const shape = evalShape(buf.shape, bindings);
    if (buf.dtype === 'f32' && !buf.quant) {
      const found = rowsOf(r.value, 'f32', undefined);
      if (found && sameShape(found.shape, shape)) floatRows.set(r.name, found);
      continue;
    }
    if (!buf.quant || !isQuantDType(buf.dtype)) continue;
    if (buf.quant.axis !== shape.length - 1) continue;
    const found = rowsOf(r.value, buf.dtype, buf.quant.group);
    if (!found || !sameShape(found.shape, shape)) continue;
    const k = shape[shape.length - 1];
    rows.set(r.name, { dtype: buf.dtype, shape, rows: product(shape) / k, k, group: buf.quant.group, source: found.source, ...(found.codes && { codes: found.codes }) });
  }
  const rest = pack.results.filter((r) => !rows.has(r.name) && !floatRows.has(r.name));
  if (rest.length === 0) return { rows, floatRows, packed: {} };
  const pruned: Module = { ...p.module, funcs: [prune(pack, rest, made)] };
  return { rows, floatRows, packed: packedBuffers(p, interpretFunc(pruned, pack.name, { bindings, weights })) };
}

/** `f` returning only `results`, without the nodes they do not need (so their weights are not loaded). */
function prune(f: Func, results: Func['results'], made: Map<Value, Node>): Func {
  const keep = new Set<Node>();
  const visit = (v: Value): void => {
    const n = made.get(v);
    if (!n || keep.has(n)) return;
    keep.add(n);
    n.inputs.forEach(visit);
  };
  results.forEach((r) => visit(r.value));
  return { ...f, body: f.body.filter((n) => keep.has(n)), results };
}
