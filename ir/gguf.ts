/**
 * @fileoverview A bounded reader of GGUF files (llama.cpp's model format, versions 2 and 3):
 *
 *     "GGUF" u32 version, u64 tensor_count, u64 kv_count,
 *     kv_count × (string key, u32 value type, value),
 *     tensor_count × (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset),
 *     padding to `general.alignment` (default 32), then the data section.
 *
 * Strings are a u64 byte length and UTF-8 bytes; an array is a u32 item type, a u64 count and
 * the items. Dims are listed fastest-first (ne[0] is the row length), the reverse of numpy's
 * shape. Why our own reader and not `@huggingface/gguf`: that package reads a local file in
 * Node (`allowLocalFile`) but only through an async API, while moec's import and checkpoint
 * loading are synchronous throughout (as the safetensors path is), and it parses the header
 * only; the tensor data, its conversion and the E-codes for a malformed file are moec's to
 * write either way, and the format is small enough that one bounded reader is simpler.
 *
 * Only the header is read up front, through a window that grows as it goes; each tensor's
 * bytes are read from their own offset when asked for. Every count is checked against the
 * bytes left in the file before anything loops over it or allocates for it, so a hostile
 * header (a count of 2^60, a length past the end) is an E510 at once, never a hang or a
 * RangeError. Arrays (the tokenizer's 150 000 strings) are walked, not kept: only their item
 * type and count are.
 */
import { closeSync, readSync } from 'node:fs';
import { fail } from './diagnostics.ts';
import { bf16ToF32, f16ToF32 } from './float16.ts';
import { type FileRole, openUserFile, readOrFail } from './user-file.ts';

/** GGUF metadata value types (gguf.h `gguf_type`). */
const KV = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;
/** Bytes of each fixed-size metadata type. */
const KV_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** The ggml tensor types moec reads: block size (elements) and bytes per block. */
export const GGML_TYPES: Record<number, { name: string; block: number; bytes: number }> = {
  0: { name: 'F32', block: 1, bytes: 4 },
  1: { name: 'F16', block: 1, bytes: 2 },
  2: { name: 'Q4_0', block: 32, bytes: 18 },
  8: { name: 'Q8_0', block: 32, bytes: 34 },
  30: { name: 'BF16', block: 1, bytes: 2 },
};

/** An array in the metadata: its item type and count (the items are not kept). */
export interface GgufArray {
  array: number;
  count: number;
}
export type GgufValue = number | bigint | boolean | string | GgufArray;

export interface GgufTensor {
  name: string;
  /** ne, fastest first (ne[0] is the row length). */
  ne: number[];
  /** The ggml type (a key of GGML_TYPES). */
  type: number;
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  /** Bytes of data. */
  bytes: number;
}

export interface GgufFile {
  readonly path: string;
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** In the file's order. */
  readonly tensors: ReadonlyMap<string, GgufTensor>;
  /** `length` bytes of the data at absolute `offset` (one read, checked). */
  read(offset: number, length: number): Uint8Array;
}

/** The first four bytes of every GGUF file. */
export const GGUF_MAGIC = 'GGUF';
/** The longest string (key, name, value) a header may hold: real ones are under a kilobyte. */
const MAX_STRING = 1 << 20;
/** Most dimensions a ggml tensor has (GGML_MAX_DIMS). */
const MAX_DIMS = 4;
const DEFAULT_ALIGNMENT = 32;
const WINDOW = 1 << 20;

const HINT = 'the file may be truncated or corrupt; re-download it or write it again with the gguf package (gguf-py) or llama.cpp';

/** Whether the file starts with the GGUF magic (false for anything unreadable or shorter). */
export function looksLikeGguf(path: string): boolean {
  try {
    const { fd, size } = openUserFile(path);
    try {
      if (size < 4) return false;
      const b = Buffer.alloc(4);
      readSync(fd, b, 0, 4, 0);
      return b.toString('latin1') === GGUF_MAGIC;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** Opens a GGUF file and parses its header (E501 if it cannot be read, E510 if it is malformed). */
export function readGguf(path: string, role: FileRole = {}): GgufFile {
  const { fd, size } = openUserFile(path, role);
  try {
    return parseHeader(fd, size, path, role);
  } finally {
    closeSync(fd);
  }
}

/** Reads the header through a window of the file, every length checked against `size`. */
function parseHeader(fd: number, size: number, path: string, role: FileRole): GgufFile {
  const bad = (message: string, hint = HINT): never => fail('E510', `${path}: ${message}`, undefined, hint);
  let winStart = 0;
  let win = new Uint8Array(0);
  let pos = 0;
  /** Makes bytes pos..pos+n readable from `win`, or E510 naming `what` if the file ends first. */
  const need = (n: number, what: string): DataView => {
    if (pos + n > size) bad(`${what} at byte ${pos} needs ${n} bytes, but the file ends at byte ${size}`);
    if (pos < winStart || pos + n > winStart + win.length) {
      const length = Math.min(size - pos, Math.max(n, WINDOW));
      win = new Uint8Array(length);
      const got = readOrFail(path, role, () => readSync(fd, win, 0, length, pos));
      if (got < n) bad(`the file ended at byte ${pos + got} while reading ${what}`);
      winStart = pos;
    }
    return new DataView(win.buffer, pos - winStart, n);
  };
  const u32 = (what: string): number => {
    const v = need(4, what).getUint32(0, true);
    pos += 4;
    return v;
  };
  /** A u64 that must fit in a double exactly (every count and length in a real file does). */
  const u64 = (what: string): number => {
    const v = need(8, what).getBigUint64(0, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad(`${what} is ${v}, larger than any file`);
    return Number(v);
  };
  /** A string; `skip`: only checked and passed over (the tokenizer's 150 000 are never used). */
  const str = (what: string, skip = false): string => {
    const n = u64(`the length of ${what}`);
    if (n > MAX_STRING) bad(`${what} at byte ${pos - 8} is ${n} bytes long, more than the ${MAX_STRING} bytes moec accepts in a header string`);
    if (skip) {
      if (pos + n > size) bad(`${what} at byte ${pos} needs ${n} bytes, but the file ends at byte ${size}`);
      pos += n;
      return '';
    }
    const v = need(n, what);
    pos += n;
    return Buffer.from(v.buffer, v.byteOffset, n).toString('utf8');
  };
  /** A count of items each at least `min` bytes long, which must fit in the rest of the file. */
  const count = (what: string, min: number): number => {
    const n = u64(what);
    if (n * min > size - pos) bad(`${what} is ${n}, but the ${size - pos} bytes left in the file hold at most ${Math.floor((size - pos) / min)}`);
    return n;
  };
  const scalar = (type: number, what: string): number | bigint | boolean | string => {
    if (type === KV.STRING) return str(what);
    const n = KV_BYTES[type];
    if (n === undefined) bad(`${what} has value type ${type}, which is not a GGUF type`, `GGUF value types are 0..12; ${HINT}`);
    const v = need(n, what);
    pos += n;
    switch (type) {
      case KV.U8: return v.getUint8(0);
      case KV.I8: return v.getInt8(0);
      case KV.U16: return v.getUint16(0, true);
      case KV.I16: return v.getInt16(0, true);
      case KV.U32: return v.getUint32(0, true);
      case KV.I32: return v.getInt32(0, true);
      case KV.F32: return shortestF32(v.getFloat32(0, true));
      case KV.BOOL: return v.getUint8(0) !== 0;
      case KV.U64: return v.getBigUint64(0, true);
      case KV.I64: return v.getBigInt64(0, true);
      default: return v.getFloat64(0, true);
    }
  };

  const magic = need(4, 'the magic number');
  if (Buffer.from(magic.buffer, magic.byteOffset, 4).toString('latin1') !== GGUF_MAGIC) bad('this is not a GGUF file (it does not start with "GGUF")', 'give a .gguf file written by llama.cpp or the gguf package');
  pos = 4;
  const version = u32('the version');
  if (version !== 2 && version !== 3) bad(`GGUF version ${version} is not supported`, 'moec reads GGUF versions 2 and 3 (llama.cpp has written version 3 since 2023); convert the file again with a current llama.cpp');
  // The smallest tensor info is 8 (name length) + 4 + 4 + 8 bytes; the smallest pair 8 + 4 + 1.
  const nTensors = count('the tensor count', 24);
  const nKv = count('the metadata count', 13);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = str(`metadata key ${i}`);
    if (metadata.has(key)) bad(`metadata key "${key}" is given twice`);
    const type = u32(`the type of "${key}"`);
    if (type === KV.ARRAY) {
      const item = u32(`the item type of "${key}"`);
      if (item === KV.ARRAY) bad(`"${key}" is an array of arrays, which moec does not read`);
      const min = item === KV.STRING ? 8 : KV_BYTES[item];
      if (min === undefined) bad(`"${key}" is an array of value type ${item}, which is not a GGUF type`, `GGUF value types are 0..12; ${HINT}`);
      const n = count(`the length of "${key}"`, min);
      if (item === KV.STRING) for (let j = 0; j < n; j++) str(`item ${j} of "${key}"`, true);
      else pos += n * min;
      metadata.set(key, { array: item, count: n });
    } else metadata.set(key, scalar(type, `"${key}"`));
  }

  const align = metadata.get('general.alignment') ?? DEFAULT_ALIGNMENT;
  if (typeof align !== 'number' || !Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) bad(`general.alignment is ${String(align)}, not a power of two`);
  const infos: Array<Omit<GgufTensor, 'offset' | 'bytes'> & { rel: number }> = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = str(`the name of tensor ${i}`);
    if (names.has(name)) bad(`tensor "${name}" is listed twice`);
    names.add(name);
    const nDims = u32(`the dimension count of "${name}"`);
    if (nDims < 1 || nDims > MAX_DIMS) bad(`tensor "${name}" has ${nDims} dimensions; ggml tensors have 1 to ${MAX_DIMS}`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(u64(`dimension ${d} of "${name}"`));
    const type = u32(`the type of "${name}"`);
    const rel = u64(`the offset of "${name}"`);
    infos.push({ name, ne, type, rel });
  }
  const dataStart = Math.ceil(pos / Number(align)) * Number(align);
  const tensors = new Map<string, GgufTensor>();
  for (const t of infos) {
    const g = GGML_TYPES[t.type];
    // Sizes are checked against the file even for types moec does not decode (where each
    // element takes at least one byte... or a few bits: checked when the tensor is read).
    const elements = t.ne.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(elements)) bad(`tensor "${t.name}" has dims [${t.ne.join(', ')}], ${elements.toExponential(2)} elements, more than any file holds`);
    let bytes = 0;
    if (g) {
      if (t.ne[0] % g.block !== 0) bad(`tensor "${t.name}" is ${g.name} with rows of ${t.ne[0]} elements, not a multiple of its block of ${g.block}`);
      bytes = (elements / g.block) * g.bytes;
    }
    const offset = dataStart + t.rel;
    if (t.rel % Number(align) !== 0) bad(`tensor "${t.name}" starts at data offset ${t.rel}, not a multiple of the alignment ${align}`);
    if (offset + bytes > size) bad(`tensor "${t.name}" needs bytes ${offset}..${offset + bytes}, past the end of the file (${size} bytes)`);
    tensors.set(t.name, { name: t.name, ne: t.ne, type: t.type, offset, bytes });
  }
  checkOverlaps([...tensors.values()], bad);

  const changed: FileRole = { ...role, missingHint: 'the file changed or vanished since moec opened it; check it' };
  const read = (offset: number, length: number): Uint8Array => {
    const { fd: f } = openUserFile(path, changed);
    try {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readOrFail(path, changed, () => readSync(f, out, done, Math.min(length - done, 1 << 30), offset + done));
        if (n === 0) fail('E501', `cannot read ${path}: the file ended at byte ${offset + done}`, undefined, 'the file changed since moec opened it; check it');
        done += n;
      }
      return out;
    } finally {
      closeSync(f);
    }
  };
  return { path, version, metadata, tensors, read };
}

/** Two tensors whose bytes overlap: a hostile file could make one write show through another. */
function checkOverlaps(ts: GgufTensor[], bad: (m: string) => never): void {
  const sorted = ts.filter((t) => t.bytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    if (b.offset < a.offset + a.bytes) bad(`tensors "${a.name}" and "${b.name}" overlap (bytes ${b.offset}..${a.offset + a.bytes})`);
  }
}

/**
 * The shortest decimal that rounds to the f32 `x`: llama.cpp stores a config's floats as f32
 * (rms_norm_eps 1e-6 becomes 9.99999997e-7), and the decimal is the value the config gave.
 */
function shortestF32(x: number): number {
  for (let p = 1; p < 17; p++) {
    const v = Number(x.toPrecision(p));
    if (Math.fround(v) === x) return v;
  }
  return x;
}

/** A tensor's ggml type name (`Q8_0`), or `type N` for one moec does not read. */
export function ggmlTypeName(type: number): string {
  return GGML_TYPES[type]?.name ?? `type ${type}`;
}

/** F32, F16 or BF16 bytes as f32 values. */
export function decodeFloats(type: number, raw: Uint8Array): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const name = GGML_TYPES[type].name;
  const n = raw.byteLength / (name === 'F32' ? 4 : 2);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = name === 'F32' ? view.getFloat32(4 * i, true) : name === 'F16' ? f16ToF32(view.getUint16(2 * i, true)) : bf16ToF32(view.getUint16(2 * i, true));
  return out;
}

/**
 * Q8_0 or Q4_0 blocks as moec codes (one per element, in element order) and one f32 scale per
 * block of 32. Q8_0: an f16 scale d and 32 int8 codes. Q4_0: an f16 scale d and 16 bytes,
 * byte j holding element j in its low nibble and element j + 16 in its high one, each the
 * value q - 8 (so -8..7). Either way the value is code × d, which is moec's i8 / i4 group
 * semantics with a group of 32 (ir/quant.ts).
 */
export function decodeBlocks(type: number, raw: Uint8Array): { codes: Int32Array; scales: Float32Array } {
  const g = GGML_TYPES[type];
  const blocks = raw.byteLength / g.bytes;
  const codes = new Int32Array(blocks * 32);
  const scales = new Float32Array(blocks);
  const q4 = g.name === 'Q4_0';
  for (let b = 0; b < blocks; b++) {
    const at = b * g.bytes;
    scales[b] = f16ToF32(raw[at] | (raw[at + 1] << 8));
    const c = b * 32;
    if (q4) {
      for (let j = 0; j < 16; j++) {
        const byte = raw[at + 2 + j];
        codes[c + j] = (byte & 0xf) - 8;
        codes[c + j + 16] = (byte >> 4) - 8;
      }
    } else for (let j = 0; j < 32; j++) codes[c + j] = (raw[at + 2 + j] << 24) >> 24;
  }
  return { codes, scales };
}
