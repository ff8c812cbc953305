/**
 * @fileoverview The packed weights every backend reads, and their layout in one blob.
 *
 * A kernel program reads *packed* weights: its `pack` graph function computes them from
 * the module weights (gate and up projections concatenated, shared experts appended as
 * extra experts, ...). Backends run `pack` once at load time with the reference
 * interpreter, so packing is defined once and every backend reads the same numbers.
 *
 * The blob layout is the simplest one that serves C, Wasm and WebGPU alike: the program's
 * weight buffers in declaration order, row-major, each at an offset aligned to `align`
 * bytes (a cache line for CPUs, `minStorageBufferOffsetAlignment` for WebGPU bindings).
 * A backend that wants another layout (pre-transposed panels) builds it from `packWeights`.
 *
 * Quantized weights (`KBuffer.quant`, ir/quant.ts) are two buffers: the codes, packed as
 * they are in memory (i8 and fp8e4m3 one byte each, i4 two per byte along the last axis,
 * even index in the low nibble), and their f32 scales, a weight buffer of its own.
 */
import { evalShape } from '../../ir/dims.ts';
import { interpretFunc } from '../../ir/graph/interp.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { loopSlices } from '../../ir/kernel/walk.ts';
import { packedBuffers } from '../../ir/kernel/kweights.ts';
import { isQuantDType, packCodes } from '../../ir/quant.ts';
import { type Tensor, numel } from '../../ir/tensor.ts';
import { type DType, dtypeBytes } from '../../ir/types.ts';
import type { TargetCaps } from '../target/caps.ts';
import type { WeightManifest } from './backend.ts';
import type { WeightRows } from '../../ir/weight-rows.ts';
import { type QuantRows, packWeightRows, quantizeIntoRows } from './quant-rows.ts';

export interface WeightEntry {
  /** The weight buffer's name in the program. */
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte offset in the blob (a multiple of the layout's alignment). */
  offset: number;
  bytes: number;
  /** A quantized weight: its scales buffer (another entry), reduction axis and group. */
  quant?: { scales: string; axis: number; group: number };
}

export interface WeightLayout {
  entries: WeightEntry[];
  /** Total blob size in bytes (a multiple of the alignment). */
  bytes: number;
  align: number;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Offsets of the program's weight buffers (not loop slices, which are views) in one blob. */
export function weightLayout(p: KProgram, align: number, bindings: Record<string, number> = {}): WeightLayout {
  const slices = loopSlices(p.steps);
  const entries: WeightEntry[] = [];
  let at = 0;
  for (const b of p.buffers) {
    if (b.kind !== 'weight' || slices.has(b.name)) continue;
    const shape = evalShape(b.shape, bindings);
    const bytes = numel(shape) * dtypeBytes(b.dtype);
    entries.push({ name: b.name, dtype: b.dtype, shape, offset: at, bytes, ...(b.quant ? { quant: { ...b.quant } } : {}) });
    at = alignUp(at + bytes, align);
  }
  return { entries, bytes: at, align };
}

/**
 * Runs the program's `pack` function on the module weights: the weight buffers by name,
 * float32; a quantized weight's codes (Int32Array, one per element, with `quant`) and its
 * scales buffer. Weights given as floats for a quantized declaration are quantized here.
 * Weights never depend on the token count, so symbolic sizes are bound to 1 unless given.
 */
export function packWeights(p: KProgram, weights: Record<string, Tensor>, bindings?: Record<string, number>): Record<string, Tensor> {
  const b = bindings ?? Object.fromEntries(p.module.dims.map((d) => [d.name, 1]));
  return packedBuffers(p, interpretFunc(p.module, p.pack, { bindings: b, weights }));
}

/** Blob bytes laid out so far of `total`, and the tensor being laid out (`moec pack`'s progress line). */
export type PackProgress = (done: number, total: number, name: string) => void;

/**
 * Where a blob writer puts its bytes: `bytes` at byte `at` of the blob (`memoryWriter`, or a
 * file as it fills: `moec pack` never holds the blob whole). Regions come in any order,
 * each once; bytes never written are zero. `bytes` may be reused by the caller once it returns.
 */
export type WriteAt = (at: number, bytes: Uint8Array) => void;

/** A `WriteAt` into a blob in memory. */
export function memoryWriter(blob: Uint8Array): WriteAt {
  return (at, bytes) => blob.set(bytes, at);
}

/**
 * What a blob is laid out from: packed tensors by buffer name, the quantized buffers that
 * are still float rows, quantized as they are written, and the f32 buffers that are rows of
 * weights, copied as they are written (quant-rows.ts).
 */
export interface BlobSource {
  packed: Record<string, Tensor>;
  rows: Map<string, QuantRows>;
  floatRows: Map<string, WeightRows>;
}

/**
 * The packed weights of `p` for laying out a blob: the same values as `packWeights`, with
 * buffers that are rows of weights left as rows (so a streamed weight is never held whole).
 */
export function blobSource(p: KProgram, weights: Record<string, Tensor>, bindings?: Record<string, number>): BlobSource {
  return packWeightRows(p, weights, bindings ?? Object.fromEntries(p.module.dims.map((d) => [d.name, 1])));
}

/** A blob writer's source, given as `packWeights`' tensors or as a `BlobSource`. */
export function blobSourceOf(source: Record<string, Tensor> | BlobSource): BlobSource {
  return source.rows instanceof Map && typeof source.packed === 'object' && !('dtype' in source.packed)
    ? (source as BlobSource)
    : { packed: source as Record<string, Tensor>, rows: new Map(), floatRows: new Map() };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes gathered before a write: large enough that a file takes few calls, small beside any bound on memory. */
const WRITE_BLOCK = 1 << 22;

/** The little-endian bytes of `f` (a view where the machine is little-endian). */
export function f32Bytes(f: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  const out = new Uint8Array(f.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < f.length; i++) view.setFloat32(4 * i, f[i], true);
  return out;
}

/**
 * Copies `rows` (count rows of `k` f32) to the blob row-major from byte `at`, a block of
 * rows per write; `onBlock(rowsDone)` after each.
 */
export function writeFloatRows(write: WriteAt, at: number, rows: WeightRows, count: number, k: number, onBlock?: (rowsDone: number) => void): void {
  const per = Math.max(1, Math.floor(WRITE_BLOCK / 4 / Math.max(k, 1)));
  const block = new Float32Array(Math.min(per, count) * k);
  for (let r0 = 0; r0 < count; r0 += per) {
    const n = Math.min(per, count - r0);
    for (let i = 0; i < n; i++) {
      const { data, at: from } = rows.source(r0 + i);
      block.set(data.subarray(from, from + k), i * k);
    }
    write(at + r0 * k * 4, f32Bytes(block.subarray(0, n * k)));
    onBlock?.(r0 + n);
  }
}

/** The little-endian bytes of a packed f32, i32 or quantized tensor laid out row-major (`e`: its entry). */
export function tensorBytes(e: WeightEntry, t: Tensor, what: string): Uint8Array {
  if (t.data.length * dtypeBytes(e.dtype) !== e.bytes) throw new Error(`${what}: ${e.name} holds ${t.data.length} values, its layout ${e.bytes} bytes`);
  if (isQuantDType(e.dtype)) return packCodes(e.dtype, t.data instanceof Int32Array ? t.data : Int32Array.from(t.data));
  if (e.dtype === 'f32') return f32Bytes(t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));
  if (e.dtype === 'i32') {
    const out = new Uint8Array(4 * t.data.length);
    const view = new DataView(out.buffer);
    for (let i = 0; i < t.data.length; i++) view.setInt32(4 * i, t.data[i], true);
    return out;
  }
  throw new Error(`${what}: ${e.name} is ${e.dtype}; only f32, i32 and quantized weights are laid out so far`);
}

/**
 * The packed weights as one little-endian blob in `layout` (f32, i32 and quantized codes),
 * written through `write` tensor by tensor, rows of weights a block at a time; `onProgress`
 * gets the blob bytes done after each tensor and as rows are written.
 */
export function writeWeightBlob(layout: WeightLayout, source: Record<string, Tensor> | BlobSource, write: WriteAt, onProgress?: PackProgress): void {
  const { packed, rows, floatRows } = blobSourceOf(source);
  const byName = new Map(layout.entries.map((e) => [e.name, e]));
  const fromRows = new Set([...rows.keys()].flatMap((n) => [n, byName.get(n)?.quant?.scales ?? n]));
  let done = 0;
  for (const e of layout.entries) {
    const q = rows.get(e.name);
    if (q) {
      const scales = e.quant && byName.get(e.quant.scales);
      if (!scales) throw new Error(`weight blob: quantized ${e.name} has no scales entry`);
      const total = e.bytes + scales.bytes;
      const start = done;
      quantizeIntoRows(write, e.offset, scales.offset, q, (r) => onProgress?.(start + Math.round((total * (r + 1)) / q.rows), layout.bytes, e.name));
      done += total;
      continue;
    }
    if (fromRows.has(e.name)) continue; // the scales of a weight quantized from rows, written with it
    const f = floatRows.get(e.name);
    if (f) {
      const k = e.shape.length === 0 ? 1 : e.shape[e.shape.length - 1];
      const count = k === 0 ? 0 : e.bytes / 4 / k;
      const start = done;
      writeFloatRows(write, e.offset, f, count, k, (r) => onProgress?.(start + r * k * 4, layout.bytes, e.name));
      done += e.bytes;
      continue;
    }
    const t = packed[e.name];
    if (!t) throw new Error(`weight blob: pack produced no ${e.name}`);
    write(e.offset, tensorBytes(e, t, 'weight blob'));
    done += e.bytes;
    onProgress?.(done, layout.bytes, e.name);
  }
}

/** `writeWeightBlob` into a new blob in memory. */
export function weightBlob(layout: WeightLayout, source: Record<string, Tensor> | BlobSource, onProgress?: PackProgress): Uint8Array {
  const blob = new Uint8Array(layout.bytes);
  writeWeightBlob(layout, source, memoryWriter(blob), onProgress);
  return blob;
}

/** How a quantized weight's codes lie in a blob (`moec pack`'s manifest). */
export function codeLayout(dtype: string): string {
  return dtype === 'i4' ? 'row-major codes, two per byte along the last axis, even index in the low nibble' : 'row-major codes, one byte each';
}

/** The manifest of a blob laid out row-major as `layout` (Wasm and WebGPU). */
export function rowMajorManifest(p: KProgram, target: TargetCaps, layout: WeightLayout): WeightManifest {
  return {
    model: p.name,
    target: target.name,
    bytes: layout.bytes,
    align: layout.align,
    tensors: layout.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, offset: e.offset, bytes: e.bytes, layout: e.quant ? codeLayout(e.dtype) : 'row-major', ...(e.quant ? { quant: e.quant } : {}) })),
  };
}

/**
 * `Backend.packWeights` for a backend that reads the blob as `layout` lays it out, row-major
 * (Wasm and WebGPU): the blob and its manifest.
 */
export function rowMajorPack(p: KProgram, target: TargetCaps, layout: WeightLayout, weights: Record<string, Tensor>, onProgress?: PackProgress): { blob: Uint8Array; manifest: WeightManifest } {
  return { blob: weightBlob(layout, blobSource(p, weights), onProgress), manifest: rowMajorManifest(p, target, layout) };
}

/** `Backend.writeWeights` for a row-major blob: written through `write`, its manifest returned. */
export function rowMajorWrite(p: KProgram, target: TargetCaps, layout: WeightLayout, weights: Record<string, Tensor>, write: WriteAt, onProgress?: PackProgress): WeightManifest {
  writeWeightBlob(layout, blobSource(p, weights), write, onProgress);
  return rowMajorManifest(p, target, layout);
}
