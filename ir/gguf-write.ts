/**
 * @fileoverview A GGUF writer, the counterpart of the reader in gguf.ts (the layout is
 * described there): version 3, metadata, tensor infos, the data section aligned to
 * `general.alignment` (32), each tensor's data padded to the alignment.
 *
 * It exists so moec can hand llama.cpp the very weights it runs itself (the llama.cpp peer of
 * the benchmark and the parity test) without the Python `gguf` package, which CI cannot
 * install. Tensors are F32 or Q8_0; Q8_0 is quantized exactly as llama.cpp's reference
 * quantizer does (`quantize_row_q8_0_ref`), so the blocks are bit-identical to what
 * `llama-quantize` or gguf-py would write, and `q8_0Blocks` gives the same codes and scales
 * as moec i8 groups of 32 (what the GGUF checkpoint reader decodes them to).
 *
 * Like `safetensorsChunks`, the file comes as a size and lazy chunks: `produce(name)` is
 * called for one tensor at a time as the chunks are consumed, so a writer can stream a model
 * larger than memory to disk (compiler/io/output.ts writes chunks atomically).
 */
import { f16ToF32, f32ToF16Bits } from './float16.ts';

/** A metadata value with its GGUF type (gguf.h `gguf_type`). */
export type GgufWriteValue =
  | { type: 'u32' | 'i32' | 'f32' | 'u64' | 'i64'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; item: 'string'; value: readonly string[] }
  | { type: 'array'; item: 'i32' | 'u32' | 'f32'; value: ArrayLike<number> };

/** One tensor to write: numpy-order shape (the file stores it reversed, fastest first). */
export interface GgufWriteTensor {
  name: string;
  shape: readonly number[];
  type: 'F32' | 'Q8_0';
}

const TYPE_IDS = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11 } as const;
const GGML = { F32: 0, Q8_0: 8 } as const;
const ALIGN = 32;
/** Q8_0: 32 elements per block, an f16 scale and 32 int8 codes. */
export const Q8_0_BLOCK = 32;
const Q8_0_BYTES = 34;

/** Little-endian bytes, appended as they come. */
class ByteSink {
  private parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  fixed(n: number, set: (v: DataView) => void): void {
    const b = new Uint8Array(n);
    set(new DataView(b.buffer));
    this.push(b);
  }
  u32(v: number): void {
    this.fixed(4, (d) => d.setUint32(0, v, true));
  }
  u64(v: number): void {
    this.fixed(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(new Uint8Array(b.buffer, b.byteOffset, b.length));
  }
  scalar(type: 'u32' | 'i32' | 'f32' | 'u64' | 'i64' | 'bool' | 'string', v: number | boolean | string): void {
    switch (type) {
      case 'u32': return this.u32(v as number);
      case 'i32': return this.fixed(4, (d) => d.setInt32(0, v as number, true));
      case 'f32': return this.fixed(4, (d) => d.setFloat32(0, v as number, true));
      case 'u64': return this.u64(v as number);
      case 'i64': return this.fixed(8, (d) => d.setBigInt64(0, BigInt(v as number), true));
      case 'bool': return this.fixed(1, (d) => d.setUint8(0, v ? 1 : 0));
      default: return this.str(v as string);
    }
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** Bytes of a tensor's data (unpadded). */
export function ggufTensorBytes(t: GgufWriteTensor): number {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.type === 'F32') return 4 * n;
  const row = t.shape[t.shape.length - 1];
  if (row % Q8_0_BLOCK !== 0) throw new Error(`GGUF writer: Q8_0 tensor ${t.name} has rows of ${row}, not a multiple of ${Q8_0_BLOCK}`);
  return (n / Q8_0_BLOCK) * Q8_0_BYTES;
}

const pad = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/**
 * A GGUF file as its size and its bytes in order. `produce(name)` gives a tensor's values
 * (row-major, numpy order), called once per tensor in the order of `tensors` as the chunks
 * are consumed.
 */
export function ggufChunks(
  metadata: ReadonlyArray<[string, GgufWriteValue]>,
  tensors: readonly GgufWriteTensor[],
  produce: (name: string) => ArrayLike<number>,
): { size: number; chunks: Iterable<Uint8Array> } {
  const h = new ByteSink();
  h.push(Uint8Array.from(Buffer.from('GGUF', 'latin1')));
  h.u32(3);
  h.u64(tensors.length);
  h.u64(metadata.length + 1);
  h.str('general.alignment');
  h.u32(TYPE_IDS.u32);
  h.u32(ALIGN);
  for (const [key, v] of metadata) {
    if (key === 'general.alignment') throw new Error('GGUF writer: general.alignment is the writer\'s own (32)');
    h.str(key);
    h.u32(TYPE_IDS[v.type]);
    if (v.type === 'array') {
      h.u32(TYPE_IDS[v.item]);
      h.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) h.scalar(v.item, v.value[i]);
    } else h.scalar(v.type, v.value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    h.str(t.name);
    h.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) h.u64(t.shape[d]);
    h.u32(GGML[t.type]);
    h.u64(offset);
    offsets.push(offset);
    offset += pad(ggufTensorBytes(t));
  }
  const header = h.bytes();
  const headerPadded = pad(header.length);
  function* chunks(): Generator<Uint8Array> {
    yield header;
    yield new Uint8Array(headerPadded - header.length);
    for (const t of tensors) {
      const v = produce(t.name);
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (v.length !== n) throw new Error(`GGUF writer: tensor ${t.name} [${t.shape.join(', ')}] was given ${v.length} values, not ${n}`);
      const data = t.type === 'F32' ? new Uint8Array(Float32Array.from(v).buffer) : q8_0Bytes(v);
      yield data;
      yield new Uint8Array(pad(data.length) - data.length);
    }
  }
  return { size: headerPadded + offset, chunks: chunks() };
}

/**
 * Values quantized to Q8_0 as llama.cpp's reference quantizer does, in float32 throughout:
 * d = amax / 127, id = 1 / d (0 for an all-zero block), code = roundf(x * id) (half away from
 * zero), the scale stored as d rounded to float16. (moec's own quantizer keeps d in float32
 * and rounds half to even, so `--quantize` of the same floats differs in the last bit of some
 * scales and in ties: the parity test feeds moec these blocks instead.)
 */
export function q8_0Blocks(v: ArrayLike<number>): { codes: Int8Array; scales: Float32Array } {
  const blocks = v.length / Q8_0_BLOCK;
  const codes = new Int8Array(v.length);
  const scales = new Float32Array(blocks);
  const f = Math.fround;
  for (let b = 0; b < blocks; b++) {
    const at = b * Q8_0_BLOCK;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(v[at + j]));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const x = f(v[at + j] * id);
      codes[at + j] = Math.sign(x) * Math.round(Math.abs(x));
    }
    scales[b] = f16ToF32(f32ToF16Bits(d));
  }
  return { codes, scales };
}

/** Q8_0 blocks as GGUF stores them: per block the f16 scale, then the 32 codes. */
function q8_0Bytes(v: ArrayLike<number>): Uint8Array {
  if (v.length % Q8_0_BLOCK !== 0) throw new Error(`GGUF writer: ${v.length} values are not whole Q8_0 blocks`);
  const { codes, scales } = q8_0Blocks(v);
  const out = new Uint8Array(scales.length * Q8_0_BYTES);
  for (let b = 0; b < scales.length; b++) {
    const at = b * Q8_0_BYTES;
    const bits = f32ToF16Bits(scales[b]);
    out[at] = bits & 0xff;
    out[at + 1] = bits >> 8;
    out.set(new Uint8Array(codes.buffer, b * Q8_0_BLOCK, Q8_0_BLOCK), at + 2);
  }
  return out;
}
