/**
 * @fileoverview A model's weights from a checkpoint, streamed: nothing is read up front, and
 * a weight is read a few rows at a time as a blob writer lays it out (ir/weight-rows.ts).
 *
 * `moec pack` and the backends' loaders take this road, so a checkpoint of any size packs
 * in bounded memory: a stacked [E, F, D] weight is never built, each of its checkpoint
 * tensors (`experts.{e}...`) is read in chunks of rows when the blob reaches them, converted
 * to f32 and let go. The values are those `weightsFromSafetensors` gives (f16/bf16 widened
 * exactly, f64 rounded), so the blob is the same bytes.
 *
 * What streams: weights whose every checkpoint tensor is F32, F16, BF16 or F64, F8_E4M3
 * with its 128x128 block scales (DeepSeek-V3's), or i8/i4 codes with their `_scale` groups
 * (moec quantize's), of the slice shape, in a file read by position (safetensors; a GGUF
 * file, whose blocks are reordered, is loaded whole); codes are dequantized a row at a
 * time, or copied as they are when they are the weight's own scheme (as the eager loader
 * keeps them). An integer weight and any `pack` step that is not a move of whole rows read
 * the whole weight, as the eager loader does, once.
 * Checks that need only headers (a missing tensor, a shape or dtype that does not fit) are
 * made for every weight before any data is read.
 */
import type { Module, WeightDecl } from '../../ir/graph/graph.ts';
import { FP8_BLOCK, type QuantDType, effectiveGroup, fp8e4m3Table } from '../../ir/quant.ts';
import { FLOAT_DTYPE_BYTES, type SafetensorsFile, decodeFloatsInto } from '../../ir/safetensors.ts';
import { type Tensor, isIntDType, numel } from '../../ir/tensor.ts';
import { type WeightRows, streamedWeight } from '../../ir/weight-rows.ts';
import {
  type LoadOptions,
  FLOAT_ST,
  checkFp8Scales,
  checkpointSlices,
  concreteShape,
  conversionNote,
  describeScheme,
  fp8BlockScales,
  intCodesForm,
  loadWeight,
  sliceChecks,
  weightFormat,
  weightsFromSafetensors,
} from './load-weights.ts';

/** f32 elements decoded per read: 4 MiB of f32 (2 MiB of bf16 read), whole rows (at least one). */
const CHUNK_ELEMENTS = 1 << 20;

/** Decoded chunks kept: rows a panel pairs (GLU gate and up, shared and routed experts) come from a few tensors at once. */
const CACHED_CHUNKS = 8;

/** Takes the model's weights from a checkpoint as streamed tensors (see the file comment). */
export function streamWeightsFromCheckpoint(m: Module, file: SafetensorsFile, path: string, opts: Pick<LoadOptions, 'note' | 'onProgress'> = {}): Record<string, Tensor> {
  // A file that cannot be read by position (GGUF) is loaded whole, under the eager loader's bounds.
  if (!file.readRange) return weightsFromSafetensors(m, file, path, opts);
  const chunks = new ChunkCache(file, opts.onProgress);
  const out: Record<string, Tensor> = {};
  for (const w of m.weights) {
    const plan = checkpointSlices(w, file, path, false);
    const format = weightFormat(w, plan.shape);
    const k = plan.shape.length === 0 ? 1 : plan.shape[plan.shape.length - 1];
    // The whole weight, read as the eager loader reads it (and refused as it refuses one too large to hold).
    let noted = false;
    const load = (): Tensor => {
      concreteShape(w.type.shape, {}, w);
      return loadWeight(w, plan, file, path, noted ? { ...opts, note: undefined } : opts);
    };
    // Codes of the weight's own scheme are kept as they are (the eager loader's `assemble`): those are read whole.
    const keeps = (dtype: string, group: number): boolean =>
      format.quant !== undefined && format.quant.dtype === dtype && format.quant.axis === plan.shape.length - 1 && effectiveGroup(format.quant, k) === group;
    // The quantized schemes the slices hold, and whether each is the weight's own.
    const schemes = new Set<string>();
    let kept = 0;
    const rowForm = (n: string): boolean => {
      const st = file.info(n).dtype;
      if (FLOAT_ST.has(st)) return true;
      const codes = st === 'F8_E4M3' ? (plan.inner.length >= 2 ? { dtype: 'fp8e4m3', group: FP8_BLOCK } : undefined) : intCodesForm(file, n, path, w, sliceChecks(w, format, n, plan.inner).checkShape);
      if (!codes) return false;
      schemes.add(describeScheme(codes.dtype as QuantDType, codes.group, k));
      if (keeps(codes.dtype, codes.group)) kept++;
      return true;
    };
    const byRows = !(isIntDType(format.dtype) && !format.quant) && plan.names.every(rowForm);
    // Every slice in the weight's own scheme: its codes go to the blob as they are, as the eager
    // loader keeps them (no note); otherwise all are dequantized (and requantized), as there.
    const asCodes = byRows && kept === plan.names.length;
    if (byRows) {
      for (const n of plan.names) {
        const { dtype: st, shape } = file.info(n);
        if (FLOAT_ST.has(st) || st === 'F8_E4M3') sliceChecks(w, format, n, plan.inner).checkShape(shape, `${st} [${shape.join(', ')}]`);
        if (st === 'F8_E4M3') checkFp8Scales(file, n, shape, w, path);
      }
      // As the eager loader says it: once per weight, before its values are read.
      noted = schemes.size > 0 && !asCodes; // not again if a `pack` step reads it whole
      if (noted) opts.note?.(conversionNote(w, format, plan.shape, schemes, plan.names));
    }
    const dtype = format.quant ? format.quant.dtype : format.dtype;
    if (!byRows) {
      out[w.name] = streamedWeight(dtype, plan.shape, format.quant !== undefined, undefined, load);
      continue;
    }
    for (const n of plan.names) chunks.total += file.storedBytes(n);
    const perSlice = k === 0 ? 0 : numel(plan.inner) / k;
    const rows: WeightRows = {
      shape: plan.shape,
      source(r) {
        const s = Math.floor(r / perSlice);
        return chunks.row(plan.names[s], r - s * perSlice, k, w, path);
      },
      ...(asCodes && {
        codes(r: number, codes: Int32Array, scales: Float32Array) {
          const s = Math.floor(r / perSlice);
          chunks.codeRow(plan.names[s], r - s * perSlice, k, w, path, codes, scales);
        },
      }),
    };
    out[w.name] = streamedWeight(dtype, plan.shape, format.quant !== undefined, rows, load);
  }
  return out;
}

/**
 * The last few chunks read (rows of one checkpoint tensor, decoded to f32), most recent
 * last; a row is served from its chunk, read when missing into the buffers of the chunk it
 * replaces (fresh arrays for every chunk of a 3 GB checkpoint cost more in page faults and
 * garbage collection than the conversion itself).
 */
class ChunkCache {
  private readonly chunks: Array<{ name: string; first: number; data: Float32Array }> = [];
  private spare: Float32Array | undefined;
  private raw = new Uint8Array(0);
  /** Stored bytes of the streamed tensors, and read so far (a chunk read again counts again, so at most the total is shown). */
  total = 0;
  private done = 0;
  constructor(
    private readonly file: SafetensorsFile,
    private readonly onProgress?: LoadOptions['onProgress'],
  ) {}

  private readonly codeChunks: Array<{ name: string; first: number; data: Int32Array }> = [];

  /** Row `r` of a codes checkpoint tensor (i8, i4, fp8) as its codes and group scales, as stored. */
  codeRow(name: string, r: number, k: number, who: WeightDecl, path: string, codes: Int32Array, scales: Float32Array): void {
    const rowsPer = Math.max(1, Math.floor(CHUNK_ELEMENTS / Math.max(k, 1)));
    const first = r - (r % rowsPer);
    let c = this.codeChunks.find((x) => x.name === name && x.first === first);
    if (!c) {
      const { dtype, raw, n } = this.readRaw(name, first, rowsPer, k);
      const data = new Int32Array(n);
      // fp8: the byte (as the eager reader gives it); i8: sign-extended; i4: the nibble, even index low
      if (dtype === 'U8') for (let e = 0; e < n; e++) data[e] = (((raw[e >> 1] >> ((e & 1) * 4)) & 0xf) ^ 8) - 8;
      else if (dtype === 'I8') for (let e = 0; e < n; e++) data[e] = (raw[e] << 24) >> 24;
      else data.set(raw.subarray(0, n));
      c = { name, first, data };
      this.codeChunks.push(c);
      if (this.codeChunks.length > CACHED_CHUNKS) this.codeChunks.shift();
    }
    codes.set(c.data.subarray((r - first) * k, (r - first + 1) * k));
    const { dtype, shape } = this.file.info(name);
    if (dtype === 'F8_E4M3') {
      const blocks = this.blockScales(name, shape, who, path);
      const nRows = shape[shape.length - 2];
      const kb = Math.ceil(k / FP8_BLOCK);
      const matrix = Math.floor(r / nRows);
      const row = (matrix * Math.ceil(nRows / FP8_BLOCK) + Math.floor((r - matrix * nRows) / FP8_BLOCK)) * kb;
      scales.set(blocks.subarray(row, row + kb));
    } else {
      const form = this.codeScales(name, who, path);
      const groups = k / form.group;
      scales.set(form.scales.subarray(r * groups, (r + 1) * groups));
    }
  }

  /** The stored bytes of rows first.. (at most `count`) of a checkpoint tensor, into the reused buffer; `n`: elements. */
  private readRaw(name: string, first: number, count: number, k: number): { dtype: string; shape: number[]; raw: Uint8Array; n: number } {
    const { dtype, shape: stored } = this.file.info(name);
    // element shape: packed i4 holds two codes per stored byte
    const shape = dtype === 'U8' ? [...stored.slice(0, -1), stored[stored.length - 1] * 2] : stored;
    const rows = k === 0 ? 0 : numel(shape) / k;
    const n = Math.min(count, rows - first) * k;
    // Stored bytes per element (packed i4: two codes a byte, and a row is whole bytes).
    const size = dtype === 'F8_E4M3' || dtype === 'I8' ? 1 : dtype === 'U8' ? 0.5 : FLOAT_DTYPE_BYTES[dtype];
    if (this.raw.length < n * size) this.raw = new Uint8Array(Math.max(n, CHUNK_ELEMENTS) * 8);
    const raw = this.file.readRange!(name, first * k * size, n * size, this.raw);
    this.done += n * size;
    this.onProgress?.(Math.min(this.done, this.total), this.total, name);
    return { dtype, shape, raw, n };
  }

  row(name: string, r: number, k: number, who: WeightDecl, path: string): { data: Float32Array; at: number } {
    const rowsPer = Math.max(1, Math.floor(CHUNK_ELEMENTS / Math.max(k, 1)));
    const first = r - (r % rowsPer);
    let c = this.chunks.find((x) => x.name === name && x.first === first);
    if (!c) {
      c = { name, first, data: this.read(name, first, rowsPer, k, who, path) };
      this.chunks.push(c);
      if (this.chunks.length > CACHED_CHUNKS) this.spare = this.chunks.shift()!.data;
    }
    return { data: c.data, at: (r - first) * k };
  }

  /** Rows first.. (at most `count`) of a float or fp8 checkpoint tensor as f32. */
  private read(name: string, first: number, count: number, k: number, who: WeightDecl, path: string): Float32Array {
    const { dtype, shape, raw, n } = this.readRaw(name, first, count, k);
    const fp8 = dtype === 'F8_E4M3';
    const codes = dtype === 'I8' || dtype === 'U8';
    // Buffers of at least a whole chunk, so one serves any tensor's chunks.
    const want = Math.max(n, CHUNK_ELEMENTS);
    const reuse = this.spare && this.spare.buffer.byteLength >= 4 * want ? this.spare : undefined;
    this.spare = undefined;
    const out = new Float32Array(reuse ? reuse.buffer : new ArrayBuffer(4 * want), 0, n);
    if (codes) {
      // code x its group's scale, rounded to f32: what `dequantize` gives the whole tensor
      const form = this.codeScales(name, who, path);
      const groups = k / form.group;
      const i4 = dtype === 'U8';
      for (let i = 0; i * k < n; i++) {
        const s0 = (first + i) * groups;
        for (let j = 0; j < k; j++) {
          const e = i * k + j;
          const c = i4 ? (((raw[e >> 1] >> ((e & 1) * 4)) & 0xf) ^ 8) - 8 : (raw[e] << 24) >> 24;
          out[e] = Math.fround(c * form.scales[s0 + Math.floor(j / form.group)]);
        }
      }
    } else if (!fp8) decodeFloatsInto(dtype, raw, out, 0);
    else {
      // code x its 128x128 block's scale, rounded to f32: what `dequantize` gives the whole tensor
      const scales = this.blockScales(name, shape, who, path);
      const nRows = shape[shape.length - 2];
      const blockCols = Math.ceil(k / FP8_BLOCK);
      for (let i = 0; i * k < n; i++) {
        const r = first + i;
        const matrix = Math.floor(r / nRows);
        const row = (matrix * Math.ceil(nRows / FP8_BLOCK) + Math.floor((r - matrix * nRows) / FP8_BLOCK)) * blockCols;
        for (let j = 0; j < k; j++) out[i * k + j] = Math.fround(FP8[raw[i * k + j]] * scales[row + Math.floor(j / FP8_BLOCK)]);
      }
    }
    return out;
  }

  private codeForm: { name: string; group: number; scales: Float32Array } | undefined;

  /** The group and scales of i8/i4 checkpoint tensor `name`, the last tensor's kept. */
  private codeScales(name: string, who: WeightDecl, path: string): { group: number; scales: Float32Array } {
    if (this.codeForm?.name !== name) {
      const form = intCodesForm(this.file, name, path, who)!;
      this.codeForm = { name, group: form.group, scales: this.file.get(form.scaleName).data as Float32Array };
    }
    return this.codeForm;
  }

  private scales: { name: string; data: Float32Array } | undefined;

  /** The block scales of fp8 tensor `name`, the last tensor's kept (its rows are read a chunk at a time). */
  private blockScales(name: string, shape: readonly number[], who: WeightDecl, path: string): Float32Array {
    if (this.scales?.name !== name) this.scales = { name, data: fp8BlockScales(this.file, name, shape, who, path) };
    return this.scales.data;
  }
}

const FP8 = fp8e4m3Table();
