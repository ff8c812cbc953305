/**
 * The Wasm SIMD pack-time quantizer (compiler/backends/quant-simd.ts) against the JS loops
 * it replaces (ir/quant.ts's `quantizeRow`, the definition): the very same blob bytes, codes
 * and scales, for i8, i4 and fp8 rows and C panels, on random rows and on the edges (zero
 * rows, NaN and infinities, denormals whose scale rounds to 0, exact ties, ±0, the last
 * ulp either side of a tie, rows not a multiple of 16, a short last group), and for every
 * example, target and scheme through the backends' `packWeights`. Engine `wasm` refuses to
 * fall back, so each of these comparisons really ran the Wasm module.
 */
import { describe, expect, it } from 'vitest';
import { compileFile, quantScheme, randomWeights } from '../compiler/driver.ts';
import { getBackend } from '../compiler/backends/registry.ts';
import { type QuantEngine, quantizerModule, setQuantEngine, simdQuantizerFor } from '../compiler/backends/quant-simd.ts';
import { type QuantRows, quantizeIntoRows } from '../compiler/backends/quant-rows.ts';
import { memoryWriter } from '../compiler/backends/weights.ts';
import { type PanelSpec, packedMatrixBytes, packedMatrixFloats, quantizeIntoPanels } from '../compiler/backends/c/layout.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { QMAX, type QuantDType, fp8e4m3Decode } from '../ir/quant.ts';
import { seededValue } from '../ir/random.ts';

function withEngine<T>(e: QuantEngine, f: () => T): T {
  const old = setQuantEngine(e);
  try {
    return f();
  } finally {
    setQuantEngine(old);
  }
}

/** The float just above (+1) or below (-1) `x` in f32. */
function nextF32(x: number, dir: 1 | -1): number {
  const b = new Float32Array([x]);
  const i = new Int32Array(b.buffer);
  i[0] += x >= 0 ? dir : -dir;
  return b[0];
}

/**
 * `rows` rows of `k` floats: the first ones are the edge cases, the rest random over many
 * magnitudes (seeded). In a ties row the scale is exact (amax = qmax / 8, scale 1/8, or 448,
 * scale 1 for fp8), so each value is an exact half of a code step (fp8: a midpoint between
 * two codes), or one ulp either side of one.
 */
function edgeRows(dtype: QuantDType, rows: number, k: number, seed: number): Float32Array {
  const a = new Float32Array(rows * k);
  for (let i = 0; i < a.length; i++) a[i] = seededValue('value', seed, i) * 10 ** Math.round(6 * seededValue('magnitude', seed, i));
  const row = (r: number, f: (j: number) => number): void => {
    if (r < rows) for (let j = 0; j < k; j++) a[r * k + j] = f(j);
  };
  const qmax = QMAX[dtype];
  const fp8Mid = (j: number): number => {
    const c = j % 126;
    return (fp8e4m3Decode(c) + fp8e4m3Decode(c + 1)) / 2;
  };
  const tie = (j: number): number => (dtype === 'fp8e4m3' ? fp8Mid(j) : (((j % (2 * qmax)) - qmax + 0.5) / 8));
  const sign = (j: number): number => (j % 3 === 0 ? -1 : 1);
  row(0, () => 0);
  row(1, (j) => (j === 5 ? NaN : j - 3));
  row(2, (j) => (j === 1 ? Infinity : j === 9 ? -Infinity : 0.25 * j));
  row(3, (j) => sign(j) * (j % 7) * 2 ** -149); // amax 6 · 2^-149: its scale rounds to 0
  row(4, (j) => sign(j) * 2 ** -140 * (j + 1)); // denormals, a denormal (nonzero) scale
  row(5, (j) => (j === 0 ? (dtype === 'fp8e4m3' ? 448 : qmax / 8) : sign(j) * tie(j)));
  row(6, (j) => (j === 0 ? (dtype === 'fp8e4m3' ? 448 : qmax / 8) : nextF32(sign(j) * tie(j), j % 2 ? 1 : -1)));
  row(7, (j) => (j % 2 ? -0 : 0));
  row(8, (j) => (j === 3 ? 3e38 : sign(j) * j * 1e-3));
  row(9, (j) => sign(j) * (j + 1) * 1e-7); // all small, as a layer norm's near-zero row
  return a;
}

function rowsOf(dtype: QuantDType, data: Float32Array, rows: number, k: number, group: number): QuantRows {
  return { dtype, shape: [rows, k], rows, k, group, source: (r) => ({ data, at: r * k }) };
}

/** Codes then scales, row-major, as `quantizeIntoRows` writes them under engine `e`. */
function rowBlob(e: QuantEngine, q: QuantRows): Uint8Array {
  const codeBytes = q.dtype === 'i4' ? (q.rows * q.k) / 2 : q.rows * q.k;
  const blob = new Uint8Array(codeBytes + 4 * q.rows * Math.ceil(q.k / q.group) + 3);
  // the scales at an odd offset: the JS writes them through a DataView, the Wasm as bytes
  withEngine(e, () => quantizeIntoRows(memoryWriter(blob), 0, codeBytes + 3, q, () => {}));
  return blob;
}

const DTYPES: QuantDType[] = ['i8', 'i4', 'fp8e4m3'];
/** [k, group]: per channel (a multiple of 16 or not), groups of 16, 32 and 128, a short last group. */
const SHAPES: Array<[number, number]> = [
  [64, 64],
  [72, 72],
  [38, 38],
  [256, 32],
  [200, 32],
  [96, 16],
  [384, 128],
  [130, 128],
];

describe('the Wasm quantizer gives the JS quantizer\'s bytes', () => {
  for (const dtype of DTYPES)
    it(`${dtype}: rows, random and edge cases, every group shape`, () => {
      for (const [k, group] of SHAPES) {
        const rows = 40;
        const q = rowsOf(dtype, edgeRows(dtype, rows, k, k + group), rows, k, group);
        const js = rowBlob('js', q);
        const wasm = rowBlob('wasm', q);
        expect(js.some((b) => b !== 0)).toBe(true);
        expect(Buffer.from(wasm).equals(Buffer.from(js)), `${dtype} k=${k} group=${group}`).toBe(true);
      }
    });

  // the C panels: GLU-paired or plain columns, padding lanes, i4 nibble runs of 2 and 8
  const panelCases: Array<{ glu?: 'concat' | 'interleaved'; width: number; span: number }> = [
    { width: 8, span: 8 },
    { glu: 'concat', width: 8, span: 2 },
    { glu: 'interleaved', width: 16, span: 8 },
  ];
  for (const dtype of DTYPES)
    it(`${dtype}: C panels (plain and GLU columns, padded panels, i4 nibble runs)`, () => {
      for (const pc of panelCases)
        for (const [k, group] of [SHAPES[0], SHAPES[3], SHAPES[7]]) {
          const n = 20;
          const matrices = 2;
          const spec: PanelSpec = { matrices, n, kd: k, transB: true, width: pc.width, ...(pc.glu ? { glu: pc.glu } : {}), codes: { dtype, span: pc.span } };
          const scaleSpec: PanelSpec = { matrices, n, kd: Math.ceil(k / group), transB: true, width: pc.width, ...(pc.glu ? { glu: pc.glu } : {}) };
          const q = rowsOf(dtype, edgeRows(dtype, matrices * n, k, 3 * k + group), matrices * n, k, group);
          const codes = matrices * packedMatrixBytes(spec);
          const blob = (e: QuantEngine): Uint8Array => {
            const out = new Uint8Array(codes + 4 * matrices * packedMatrixFloats(scaleSpec));
            withEngine(e, () => quantizeIntoPanels(memoryWriter(out), 0, codes, spec, scaleSpec, q));
            return out;
          };
          expect(Buffer.from(blob('wasm')).equals(Buffer.from(blob('js'))), `${dtype} ${JSON.stringify(pc)} k=${k} group=${group}`).toBe(true);
        }
    });

  it('the module validates and stays under the 4 KB a page\'s main thread may compile synchronously', () => {
    const bytes = quantizerModule();
    expect(WebAssembly.validate(bytes)).toBe(true);
    expect(bytes.length).toBeLessThanOrEqual(4096);
  });

  it('rows whose groups it cannot walk (not whole multiples of 16) stay with the JS loops; engine wasm says so', () => {
    const q = rowsOf('i8', edgeRows('i8', 4, 48, 1), 4, 48, 24);
    expect(simdQuantizerFor(q)).toBeUndefined();
    expect(() => rowBlob('wasm', q)).toThrow(/cannot take i8 rows of 48 in groups of 24/);
    expect(simdQuantizerFor(rowsOf('i8', edgeRows('i8', 4, 48, 1), 4, 48, 48))).toBeDefined();
    expect(withEngine('js', () => simdQuantizerFor(rowsOf('i8', edgeRows('i8', 4, 48, 1), 4, 48, 48)))).toBeUndefined();
  });
});

describe('packWeights with the Wasm quantizer equals packWeights with the JS one', () => {
  const shapes: Record<string, Record<string, number>> = {
    'examples/mixtral.moe': { D: 64, F: 96 },
    'examples/deepseek-v3.moe': { D: 128, F_DENSE: 128, F: 64, E: 8, GROUPS: 4, TOPK_GROUPS: 2, LAYERS: 3, DENSE_LAYERS: 1, K: 2 },
    'examples/qwen-moe.moe': { D: 128, F: 64, FS: 128, E: 4 },
  };
  for (const file of Object.keys(shapes))
    it(`${file}: every target, i8, i4 and fp8`, async () => {
      for (const t of ['x86-avx2', 'x86-avx512', 'wasm-simd128', 'webgpu']) {
        const target = loadTarget(t);
        const backend = await getBackend(target.backend);
        for (const scheme of ['i8', 'i4', 'fp8']) {
          const m = compileFile(file, { consts: shapes[file] });
          const program = runPipeline(m, { target, quantize: quantScheme(scheme), maxTokens: 16 }).program!;
          const weights = randomWeights(m, 11);
          const pack = (e: QuantEngine): Buffer => Buffer.from(withEngine(e, () => backend.packWeights!(program, target, weights).blob));
          expect(pack('wasm').equals(pack('js')), `${t} ${scheme}`).toBe(true);
        }
      }
    });
});
