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
 */
import type { Epilogue, GemmKernel, GroupedGemmKernel, KProgram, Step } from '../../../ir/kernel.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { type WeightLayout, weightLayout } from '../weights.ts';

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
}

/** Panels of one matrix. */
export function panelCount(s: PanelSpec): number {
  return Math.ceil((s.glu ? s.n / 2 : s.n) / (s.glu ? s.width / 2 : s.width));
}

/** Floats of one packed matrix. */
export function packedMatrixFloats(s: PanelSpec): number {
  return panelCount(s) * s.kd * s.width;
}

/** Packs `data` (`matrices` matrices, row-major) into panels. */
export function packPanels(data: ArrayLike<number>, s: PanelSpec): Float32Array {
  const panels = panelCount(s);
  const per = packedMatrixFloats(s);
  const out = new Float32Array(s.matrices * per);
  const half = s.width / 2;
  const cols = s.glu ? s.n / 2 : s.n;
  for (let m = 0; m < s.matrices; m++) {
    const src = m * s.n * s.kd;
    for (let p = 0; p < panels; p++)
      for (let v = 0; v < s.width; v++) {
        let col: number;
        if (!s.glu) col = p * s.width + v;
        else {
          const j = p * half + (v < half ? v : v - half);
          if (j >= cols) continue;
          const up = v >= half;
          col = s.glu === 'concat' ? (up ? cols + j : j) : 2 * j + (up ? 1 : 0);
        }
        if (col >= s.n) continue;
        for (let k = 0; k < s.kd; k++) {
          const from = s.transB ? src + col * s.kd + k : src + k * s.n + col;
          out[m * per + (p * s.kd + k) * s.width + v] = data[from];
        }
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

/** The panel width a GEMM kernel's micro-kernel uses: its tile's nr (one vector when untiled). */
export function microWidth(k: GemmKernel | GroupedGemmKernel): number {
  const glu = k.epilogue.some((e) => e.kind === 'glu');
  const nr = k.tile?.nr ?? Math.max(1, k.tile?.vector ?? 8);
  // A GLU tile holds nr/2 gate and nr/2 up columns: nr must be even.
  return glu && nr % 2 === 1 ? nr + 1 : nr;
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
 * for a loop slice). Throws when two kernels would need one buffer packed two ways.
 */
export function panelSpecs(p: KProgram, shapeOf: (name: string) => number[]): Map<string, PanelSpec> {
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
    add(w, { matrices, n, kd, transB: k.transB, width, glu: glu?.kind === 'glu' ? glu.layout : undefined });
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

/** The weights blob of the C backend: panel-packed GEMM weights, the rest row-major, aligned. */
export interface CWeightLayout extends WeightLayout {
  specs: Map<string, PanelSpec>;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

export function cWeightLayout(p: KProgram, align: number): CWeightLayout {
  const plain = weightLayout(p, align);
  const shapes = new Map(plain.entries.map((e) => [e.name, e.shape]));
  const specs = panelSpecs(p, (name) => {
    const s = shapes.get(name);
    if (!s) throw new Error(`C backend: no weight buffer ${name}`);
    return s;
  });
  let at = 0;
  const entries = plain.entries.map((e) => {
    const spec = specs.get(e.name);
    const bytes = spec ? spec.matrices * packedMatrixFloats(spec) * 4 : e.bytes;
    const entry = { ...e, offset: at, bytes };
    at = alignUp(at + bytes, align);
    return entry;
  });
  return { entries, bytes: at, align, specs };
}

/** The weights blob in the C layout, little-endian. */
export function cWeightBlob(layout: CWeightLayout, packed: Record<string, Tensor>): Uint8Array {
  const blob = new Uint8Array(layout.bytes);
  const f32 = new Float32Array(blob.buffer);
  const i32 = new Int32Array(blob.buffer);
  for (const e of layout.entries) {
    const t = packed[e.name];
    if (!t) throw new Error(`C backend: pack produced no ${e.name}`);
    const spec = layout.specs.get(e.name);
    if (spec) f32.set(packPanels(t.data, spec), e.offset / 4);
    else if (e.dtype === 'f32') f32.set(t.data, e.offset / 4);
    else if (e.dtype === 'i32') i32.set(t.data, e.offset / 4);
    else throw new Error(`C backend: weight ${e.name} is ${e.dtype}; f32 and i32 weights only so far`);
  }
  return blob;
}
