/**
 * @fileoverview How the C backend lays out weights: GEMM weights pre-packed into panels.
 *
 * The register-blocked micro-kernel computes an `mr × nr` tile of accumulators and, per
 * step k of the reduction, loads `nr` consecutive weights. So each GEMM weight is stored as
 * panels: for expert e and panel p, `panel[k][v]` (k < Kd, v < nr) holds column
 * `col(p, v)` of the weight at depth k, contiguous. One panel is read as one stream, for one
 * token (decode) as for a block of them, whatever the weight's original orientation.
 *
 * With a gated-linear-unit epilogue the panel pairs gate and up columns: v < nr/2 are gate
 * columns p·nr/2 + v and v >= nr/2 the matching up columns, from either GLU layout
 * (`concat`: gate j, up F + j; `interleaved`: gate 2j, up 2j + 1), so the GLU of a tile
 * needs no column shuffles. A bias read before the GLU is packed the same way (as a
 * weight of depth 1); a bias after it, or without one, in plain panel order.
 * Columns past the matrix are zero in the last panel and never stored.
 *
 * Loop-stacked weights (a `repeat`'s [L, ...] buffers) pack each layer in turn, so a
 * layer's slice is one contiguous stride.
 *
 * Quantized weights (ir/quant.ts) keep the same panels with codes in place of floats, so a
 * panel is still one stream, 1/4 (i8, fp8) or 1/8 (i4) of the f32 bytes: a panel row holds
 * `width` bytes (i8: two's complement, fp8: the e4m3fn byte) or `width / 2` (i4). The i4
 * nibble order is chosen for the SIMD unpack: the row is cut into runs of `span` columns
 * (the ISA's lanes, 2 without one), and byte j of a run holds column j of the run in its
 * low nibble and column j + span/2 in its high nibble. So one vector of `span` columns is
 * span/2 bytes, broadcast, zero-extended to 32-bit lanes and shifted per lane (left by 28
 * in the low half, 24 in the high half, then arithmetic right by 28): no shuffles. Scales
 * are their own weight buffer packed as panels of the same columns (GLU-paired alike),
 * `ceil(kd / group)` deep: row g of a scale panel is one vector of the `width` columns'
 * scales for reduction group g.
 */
import type { Epilogue, GemmKernel, GroupedGemmKernel, KBuffer, KProgram, Step } from '../../../ir/kernel/kernel.ts';
import { type QuantDType, codeBytes, isQuantDType, packCodes } from '../../../ir/quant.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { fail } from '../../../ir/diagnostics.ts';
import type { WeightRows } from '../../../ir/weight-rows.ts';
import { type BlobSource, type PackProgress, type WeightLayout, type WriteAt, blobSourceOf, f32Bytes, memoryWriter, tensorBytes, weightLayout, writeFloatRows } from '../weights.ts';
import { type QuantRows, quantizeIntoRows, quantizeRowOf } from '../quant-rows.ts';
import { type SimdQuantizer, simdQuantizerFor } from '../quant-simd.ts';

/** How one weight buffer is packed into panels. */
export interface PanelSpec {
  /** Matrices in the buffer (layers × experts), packed one after another. */
  matrices: number;
  /** Columns (output features before any GLU) and reduction depth of one matrix. */
  n: number;
  kd: number;
  /** The matrix is stored [n, kd] (transposed B, as `linear` weights are) rather than [kd, n]. */
  transB: boolean;
  /** Panel width in floats (the micro-kernel's nr). */
  width: number;
  /** Pair gate and up columns (see the file comment), or plain column order. */
  glu?: 'concat' | 'interleaved';
  /** Quantized codes instead of f32 (see the file comment); `span`: the i4 nibble run. */
  codes?: { dtype: QuantDType; span: number };
}

/** Elements (f32) or bytes (codes) of one panel row: what a step of k advances. */
export function panelRowElems(s: PanelSpec): number {
  return s.codes?.dtype === 'i4' ? s.width / 2 : s.width;
}

/** Bytes of one packed matrix. */
export function packedMatrixBytes(s: PanelSpec): number {
  return panelCount(s) * s.kd * panelRowElems(s) * (s.codes ? 1 : 4);
}

/** Panels of one matrix. */
export function panelCount(s: PanelSpec): number {
  return Math.ceil((s.glu ? s.n / 2 : s.n) / (s.glu ? s.width / 2 : s.width));
}

/** Floats of one packed matrix. */
export function packedMatrixFloats(s: PanelSpec): number {
  return panelCount(s) * s.kd * s.width;
}

/** The column of a matrix that lane `v` of panel `p` holds, or -1 (padding, past the matrix). */
export function panelColumn(s: PanelSpec, p: number, v: number): number {
  if (!s.glu) return p * s.width + v < s.n ? p * s.width + v : -1;
  const half = s.width / 2;
  const cols = s.n / 2;
  const j = p * half + (v < half ? v : v - half);
  if (j >= cols) return -1;
  const up = v >= half;
  const col = s.glu === 'concat' ? (up ? cols + j : j) : 2 * j + (up ? 1 : 0);
  return col < s.n ? col : -1;
}

/**
 * Packs `data` (`matrices` matrices, row-major) into panels, one value per element, into
 * `out` (f32 by default; codes go into bytes, see `packCodePanels`), which may be a view of
 * the blob itself.
 */
export function packPanels<T extends Float32Array | Int8Array = Float32Array>(data: ArrayLike<number>, s: PanelSpec, out: T = new Float32Array(s.matrices * packedMatrixFloats(s)) as T): T {
  const panels = panelCount(s);
  const per = packedMatrixFloats(s);
  for (let m = 0; m < s.matrices; m++) {
    const src = m * s.n * s.kd;
    for (let p = 0; p < panels; p++)
      for (let v = 0; v < s.width; v++) {
        const col = panelColumn(s, p, v);
        if (col < 0) continue;
        const to = m * per + p * s.kd * s.width + v;
        if (s.transB) for (let k = 0, from = src + col * s.kd; k < s.kd; k++) out[to + k * s.width] = data[from + k];
        else for (let k = 0, from = src + col; k < s.kd; k++) out[to + k * s.width] = data[from + k * s.n];
      }
  }
  return out;
}

function gemmKernels(steps: readonly Step[], stackedOf: Map<string, string>, into: Array<{ k: GemmKernel | GroupedGemmKernel; w: string }>): void {
  for (const s of steps) {
    if (s.kind === 'loop') {
      const inner = new Map(stackedOf);
      for (const sl of s.slices) inner.set(sl.slice, stackedOf.get(sl.stacked) ?? sl.stacked);
      gemmKernels(s.body, inner, into);
    } else if (s.kind === 'gemm' || s.kind === 'grouped_gemm') into.push({ k: s, w: stackedOf.get(s.w) ?? s.w });
  }
}

/**
 * Panel-ordered codes (`packPanels` of the codes) as bytes: i8/fp8 one per byte, i4 two per
 * byte in the nibble order of the file comment, into `out` (zeroed; a view of the blob
 * itself when laying one out). Padding codes are 0 (the value 0 in every scheme).
 */
export function packCodePanels(codes: ArrayLike<number>, s: PanelSpec, out = new Uint8Array(s.matrices * packedMatrixBytes(s))): Uint8Array {
  if (!s.codes) throw new Error('C backend: packCodePanels of an f32 panel spec');
  // An i8 code or an fp8 byte stored into an Int8Array keeps its low 8 bits, the byte the kernel reads.
  if (s.codes.dtype !== 'i4') packPanels(codes, s, new Int8Array(out.buffer, out.byteOffset, out.length));
  else {
    const panels = panelCount(s);
    const per = packedMatrixBytes(s);
    for (let m = 0; m < s.matrices; m++)
      for (let p = 0; p < panels; p++)
        for (let v = 0; v < s.width; v++) {
          const col = panelColumn(s, p, v);
          if (col < 0) continue;
          const step = s.transB ? 1 : s.n;
          writeI4Column(out, m * per + p * s.kd * panelRowElems(s), s, v, codes, m * s.n * s.kd + (s.transB ? col * s.kd : col), step);
        }
  }
  return out;
}

/**
 * Lane `v`'s codes of one i4 panel, codes[from + k * step] for k < kd, into the panel at
 * `out[at..]`: byte j % (span/2) of the lane's run of `span` columns, low nibble for the
 * run's first half (see the file comment). The bytes start zeroed; two lanes share each.
 */
function writeI4Column(out: Uint8Array, at: number, s: PanelSpec, v: number, codes: ArrayLike<number>, from: number, step: number): void {
  const span = s.codes!.span;
  const half = span / 2;
  const j = v % span;
  const byte = at + (v - j) / 2 + (j % half);
  const shift = j >= half ? 4 : 0;
  const rowBytes = s.width / 2;
  for (let k = 0; k < s.kd; k++) out[byte + k * rowBytes] |= (codes[from + k * step] & 0xf) << shift;
}

/**
 * Quantizes `q`'s rows (the matrix columns, `spec.transB`) straight into their panels, through
 * `write` a panel at a time: the codes at `codesAt` as `spec` packs them, the scales at
 * `scalesAt` as f32 panels `ceil(kd / group)` deep (`scaleSpec`). `onRow(r)` after each row,
 * for progress.
 */
export function quantizeIntoPanels(write: WriteAt, codesAt: number, scalesAt: number, spec: PanelSpec, scaleSpec: PanelSpec, q: QuantRows, onRow?: (r: number) => void): void {
  if (!spec.codes || !spec.transB || spec.kd !== q.k || spec.matrices * spec.n !== q.rows) throw new Error('C backend: quantized rows that do not match their panel layout');
  // (the Wasm panel pairs i4 lanes by whole nibble runs; a width that is not a number of runs stays with the JS)
  // (rows that are codes already are copied, by the JS loop)
  const simd = !q.codes && (spec.codes.dtype !== 'i4' || spec.width % spec.codes.span === 0) ? simdQuantizerFor(q) : undefined;
  if (simd) return quantizeIntoPanelsSimd(simd, write, codesAt, scalesAt, spec, scaleSpec, q, onRow);
  const groups = scaleSpec.kd;
  const codes = new Int32Array(q.k);
  const scales = new Float32Array(groups);
  const per = packedMatrixBytes(spec);
  const perScales = packedMatrixFloats(scaleSpec);
  const rowElems = panelRowElems(spec);
  const panels = panelCount(spec);
  const w = spec.width;
  // One panel of codes and one of scales at a time: padding lanes stay zero.
  const codePanel = new Uint8Array(spec.kd * rowElems);
  const bytes = new Int8Array(codePanel.buffer);
  const scalePanel = new Float32Array(groups * w);
  for (let m = 0, r = 0; m < spec.matrices; m++)
    for (let p = 0; p < panels; p++) {
      codePanel.fill(0);
      scalePanel.fill(0);
      for (let v = 0; v < w; v++) {
        const col = panelColumn(spec, p, v);
        if (col < 0) continue;
        quantizeRowOf(q, m * spec.n + col, codes, scales);
        if (spec.codes.dtype === 'i4') writeI4Column(codePanel, 0, spec, v, codes, 0, 1);
        else for (let k = 0; k < q.k; k++) bytes[k * w + v] = codes[k];
        for (let g = 0; g < groups; g++) scalePanel[g * w + v] = scales[g];
        onRow?.(r++);
      }
      write(codesAt + m * per + p * spec.kd * rowElems, codePanel);
      write(scalesAt + 4 * (m * perScales + p * groups * w), f32Bytes(scalePanel));
    }
}

/**
 * Copies the f32 rows of a weight buffer into its panels, through `write` from byte `at`:
 * with the matrix stored [n, kd] in rows of kd (`transB`, as `linear` weights are), a panel
 * at a time from the rows its lanes are; otherwise (a [kd, n] matrix, a bias) a matrix at a
 * time, gathered and packed as `packPanels` packs it. `onMatrix(m)` after each matrix.
 */
export function rowsIntoPanels(write: WriteAt, at: number, spec: PanelSpec, rows: WeightRows, k: number, onMatrix?: (m: number) => void): void {
  if (spec.codes) throw new Error('C backend: f32 rows into a panel spec of codes');
  const perFloats = packedMatrixFloats(spec);
  const panels = panelCount(spec);
  const w = spec.width;
  if (spec.transB && k === spec.kd) {
    const panel = new Float32Array(spec.kd * w);
    for (let m = 0; m < spec.matrices; m++) {
      for (let p = 0; p < panels; p++) {
        panel.fill(0);
        for (let v = 0; v < w; v++) {
          const col = panelColumn(spec, p, v);
          if (col < 0) continue;
          const { data, at: from } = rows.source(m * spec.n + col);
          for (let j = 0; j < spec.kd; j++) panel[j * w + v] = data[from + j];
        }
        write(at + 4 * (m * perFloats + p * spec.kd * w), f32Bytes(panel));
      }
      onMatrix?.(m);
    }
    return;
  }
  const one = { ...spec, matrices: 1 };
  const size = spec.n * spec.kd;
  const matrix = new Float32Array(size);
  for (let m = 0; m < spec.matrices; m++) {
    // Elements m*size .. (m+1)*size of the buffer, row-major, from the rows (k long) holding them.
    for (let i = 0; i < size; ) {
      const flat = m * size + i;
      const r = Math.floor(flat / k);
      const off = flat - r * k;
      const n = Math.min(k - off, size - i);
      const { data, at: from } = rows.source(r);
      matrix.set(data.subarray(from + off, from + off + n), i);
      i += n;
    }
    write(at + 4 * m * perFloats, f32Bytes(packPanels(matrix, one)));
    onMatrix?.(m);
  }
}

/**
 * `quantizeIntoPanels` by the Wasm quantizer: a panel's columns staged as rows (padding
 * columns as zeros, whose codes are the 0 bytes the panel holds there), quantized and
 * transposed into the panel in linear memory, written whole, then its scales' panel.
 */
function quantizeIntoPanelsSimd(simd: SimdQuantizer, write: WriteAt, codesAt: number, scalesAt: number, spec: PanelSpec, scaleSpec: PanelSpec, q: QuantRows, onRow?: (r: number) => void): void {
  const w = spec.width;
  const i4 = spec.codes!.dtype === 'i4';
  // i4: byte b of a panel row pairs the run's column j (low nibble) with column j + span / 2 (see the file comment)
  const nb = i4 ? w / 2 : w;
  const half = spec.codes!.span / 2;
  const lo = Int32Array.from({ length: nb }, (_, b) => (i4 ? Math.floor(b / half) * 2 * half + (b % half) : b));
  const hi = i4 ? lo.map((v) => v + half) : undefined;
  const groups = scaleSpec.kd;
  const scalePanel = new Float32Array(groups * w);
  const per = packedMatrixBytes(spec);
  const perScales = packedMatrixFloats(scaleSpec);
  const panels = panelCount(spec);
  const cols = new Int32Array(w);
  for (let m = 0, r = 0; m < spec.matrices; m++)
    for (let p = 0; p < panels; p++) {
      for (let v = 0; v < w; v++) cols[v] = panelColumn(spec, p, v);
      const s = simd.quantize(q, w, (v) => (cols[v] < 0 ? -1 : m * spec.n + cols[v]), spec.kd * nb, 2 * nb);
      write(codesAt + m * per + p * spec.kd * nb, simd.panel(s, spec.kd, lo, hi));
      scalePanel.fill(0);
      for (let v = 0; v < w; v++) {
        if (cols[v] < 0) continue;
        for (let g = 0; g < groups; g++) scalePanel[g * w + v] = s.scales[v * s.groups + g];
        onRow?.(r++);
      }
      write(scalesAt + 4 * (m * perScales + p * groups * w), f32Bytes(scalePanel));
    }
}

/** The panel width a GEMM kernel's micro-kernel uses: its tile's nr (even under a GLU: the tiler and the verifier see to it). */
export function microWidth(k: GemmKernel | GroupedGemmKernel): number {
  if (!k.tile) fail('E701', `the ${k.kind} writing ${k.out} is not tiled`, undefined, 'run the tile pass for this target before rendering C');
  return k.tile.nr;
}

/** The bias epilogues of a kernel with whether each is read before a GLU. */
function biases(chain: readonly Epilogue[]): Array<{ name: string; preGlu: boolean }> {
  const out: Array<{ name: string; preGlu: boolean }> = [];
  let glu = false;
  for (const e of chain) {
    if (e.kind === 'glu') glu = true;
    if (e.kind === 'bias') out.push({ name: e.bias, preGlu: !glu && chain.some((x) => x.kind === 'glu') });
  }
  return out;
}

/**
 * The panel spec of every weight buffer a GEMM reads (by buffer name: the stacked buffer
 * for a loop slice), and of the scales of the quantized ones. `lanes`: the target ISA's
 * vector lanes (1 without one), the i4 nibble run. Throws when two kernels would need one
 * buffer packed two ways.
 */
export function panelSpecs(p: KProgram, shapeOf: (name: string) => number[], lanes = 1): Map<string, PanelSpec> {
  const uses: Array<{ k: GemmKernel | GroupedGemmKernel; w: string }> = [];
  gemmKernels(p.steps, new Map(), uses);
  const stacked = new Map<string, string>();
  (function walk(steps: readonly Step[]): void {
    for (const s of steps)
      if (s.kind === 'loop') {
        for (const sl of s.slices) stacked.set(sl.slice, stacked.get(sl.stacked) ?? sl.stacked);
        walk(s.body);
      }
  })(p.steps);
  const buffers = new Map(p.buffers.map((b) => [b.name, b]));
  const specs = new Map<string, PanelSpec>();
  const add = (name: string, spec: PanelSpec): void => {
    const old = specs.get(name);
    if (old && JSON.stringify(old) !== JSON.stringify(spec)) throw new Error(`C backend: weight ${name} is read by two GEMMs that want different panel layouts`);
    specs.set(name, spec);
  };
  for (const { k, w } of uses) {
    const shape = shapeOf(w);
    const mat = k.kind === 'grouped_gemm' ? 3 : 2;
    const [r, c] = shape.slice(-2);
    const matrices = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    const n = k.transB ? r : c;
    const kd = k.transB ? c : r;
    if (shape.length < mat) throw new Error(`C backend: weight ${w} of ${k.kind} has rank ${shape.length}`);
    const glu = k.epilogue.find((e) => e.kind === 'glu');
    const width = microWidth(k);
    const gluLayout = glu?.kind === 'glu' ? glu.layout : undefined;
    const buf = buffers.get(w);
    const q = buf && isQuantDType(buf.dtype) ? checkQuant(buf, shape.length - (k.transB ? 1 : 2), width) : undefined;
    add(w, { matrices, n, kd, transB: k.transB, width, glu: gluLayout, ...(q ? { codes: { dtype: q.dtype, span: lanes > 1 && width % lanes === 0 ? lanes : 2 } } : {}) });
    if (q) add(q.scales, { matrices, n, kd: Math.ceil(kd / q.group), transB: k.transB, width, glu: gluLayout });
    for (const b of biases(k.epilogue)) {
      const name = stacked.get(b.name) ?? b.name;
      const bs = shapeOf(name);
      const bn = bs[bs.length - 1];
      const bm = bs.slice(0, -1).reduce((a, x) => a * x, 1);
      add(name, { matrices: bm, n: bn, kd: 1, transB: true, width: b.preGlu ? width : glu ? width / 2 : width, glu: b.preGlu && glu?.kind === 'glu' ? glu.layout : undefined });
    }
  }
  return specs;
}

/**
 * The quantization of a GEMM or router weight buffer (`q`: its own, or a loop slice's),
 * checked against what the C kernels read: scales along the reduction axis, a positive
 * group, i4 in an even panel width.
 */
export function checkQuant(buf: KBuffer, reductionAxis: number, width: number, q = buf.quant): { dtype: QuantDType; scales: string; group: number } {
  const dtype = buf.dtype as QuantDType;
  if (!q) fail('E701', `the quantized weight ${buf.name} (${dtype}) names no scales buffer`, undefined, 'quantize the program with --quantize, which gives every quantized weight its scales');
  if (q.axis !== reductionAxis) fail('E701', `the C backend reads the scales of ${buf.name} along its reduction axis ${reductionAxis}, but they run along axis ${q.axis}`, undefined, 'quantize GEMM weights along K (ir/quant.ts), as --quantize does');
  if (!Number.isInteger(q.group) || q.group < 1) fail('E701', `the quantized weight ${buf.name} has scale groups of ${q.group}`, undefined, 'groups are a positive number of reduction elements (32 or 128 for i4, 128 for fp8, the whole axis for i8)');
  if (dtype === 'i4' && width % 2 !== 0) fail('E701', `the C backend packs i4 codes two per byte, but ${buf.name}'s GEMM tile is ${width} columns wide`, undefined, 'use a target whose tiles have an even nr, or quantize to i8');
  return { dtype, scales: q.scales, group: q.group };
}

/** The weights blob of the C backend: panel-packed GEMM weights, the rest row-major, aligned. */
export interface CWeightLayout extends WeightLayout {
  specs: Map<string, PanelSpec>;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** `lanes`: the target ISA's vector lanes (1 for portable C), which orders i4 nibbles. */
export function cWeightLayout(p: KProgram, align: number, lanes = 1): CWeightLayout {
  const plain = weightLayout(p, align);
  const shapes = new Map(plain.entries.map((e) => [e.name, e.shape]));
  const specs = panelSpecs(
    p,
    (name) => {
      const s = shapes.get(name);
      if (!s) throw new Error(`C backend: no weight buffer ${name}`);
      return s;
    },
    lanes,
  );
  let at = 0;
  const entries = plain.entries.map((e) => {
    const spec = specs.get(e.name);
    const bytes = spec ? spec.matrices * packedMatrixBytes(spec) : isQuantDType(e.dtype) ? codeBytes(e.dtype, e.shape) : e.bytes;
    const entry = { ...e, offset: at, bytes };
    at = alignUp(at + bytes, align);
    return entry;
  });
  return { entries, bytes: at, align, specs };
}

/**
 * The weights blob in the C layout, little-endian, written through `write`. A quantized
 * weight's codes come from its packed tensor (one code per element, `packWeights`), or are
 * quantized here from float rows (`blobSource`); its scales are a packed f32 buffer. An f32
 * weight is a packed tensor or rows of weights (streamed ones, read as they are written).
 * `onProgress` gets the blob bytes laid out so far.
 */
export function writeCWeightBlob(layout: CWeightLayout, source: Record<string, Tensor> | BlobSource, write: WriteAt, onProgress?: PackProgress): void {
  const { packed, rows, floatRows } = blobSourceOf(source);
  const byName = new Map(layout.entries.map((e) => [e.name, e]));
  const fromRows = new Set([...rows.keys()].flatMap((n) => [n, byName.get(n)?.quant?.scales ?? n]));
  let done = 0;
  for (const e of layout.entries) {
    const spec = layout.specs.get(e.name);
    const q = rows.get(e.name);
    if (q) {
      const scales = e.quant && byName.get(e.quant.scales);
      if (!scales) throw new Error(`C backend: quantized weight ${e.name} has no scales entry`);
      const scaleSpec = layout.specs.get(scales.name);
      const total = e.bytes + scales.bytes;
      const start = done;
      const onRow = (r: number): void => onProgress?.(start + Math.round((total * (r + 1)) / q.rows), layout.bytes, e.name);
      // GEMM weights in panels; any other (read row by row) row-major, codes and scales alike
      if (spec && scaleSpec) quantizeIntoPanels(write, e.offset, scales.offset, spec, scaleSpec, q, onRow);
      else if (!spec && !scaleSpec) quantizeIntoRows(write, e.offset, scales.offset, q, onRow);
      else throw new Error(`C backend: quantized weight ${e.name} has a panel layout for its codes or its scales, not both`);
      done += total;
      continue;
    }
    if (fromRows.has(e.name)) continue; // the scales of a weight quantized from rows, written with it
    const f = floatRows.get(e.name);
    if (f) {
      if (e.dtype !== 'f32') throw new Error(`C backend: weight ${e.name} is ${e.dtype}, but its rows are f32`);
      const k = e.shape.length === 0 ? 1 : e.shape[e.shape.length - 1];
      const start = done;
      if (spec) rowsIntoPanels(write, e.offset, spec, f, k, (m) => onProgress?.(start + Math.round((e.bytes * (m + 1)) / spec.matrices), layout.bytes, e.name));
      else writeFloatRows(write, e.offset, f, k === 0 ? 0 : e.bytes / 4 / k, k, (r) => onProgress?.(start + r * k * 4, layout.bytes, e.name));
      done += e.bytes;
      continue;
    }
    const t = packed[e.name];
    if (!t) throw new Error(`C backend: pack produced no ${e.name}`);
    if (isQuantDType(e.dtype) !== isQuantDType(t.dtype)) throw new Error(`C backend: weight ${e.name} is ${e.dtype}, but pack produced ${t.dtype}`);
    if (spec?.codes) write(e.offset, packCodePanels(t.data, spec));
    else if (spec) write(e.offset, f32Bytes(packPanels(t.data, spec)));
    else if (isQuantDType(e.dtype) || e.dtype === 'f32' || e.dtype === 'i32') write(e.offset, tensorBytes(e, t, 'C backend'));
    else throw new Error(`C backend: weight ${e.name} is ${e.dtype}; f32, i32 and quantized (i8, i4, fp8e4m3) weights only`);
    done += e.bytes;
    onProgress?.(done, layout.bytes, e.name);
  }
}

/** `writeCWeightBlob` into a new blob in memory. */
export function cWeightBlob(layout: CWeightLayout, source: Record<string, Tensor> | BlobSource, onProgress?: PackProgress): Uint8Array {
  const blob = new Uint8Array(layout.bytes);
  writeCWeightBlob(layout, source, memoryWriter(blob), onProgress);
  return blob;
}
