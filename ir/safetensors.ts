/**
 * @fileoverview Reading and writing checkpoints in the safetensors format, and the
 * float16/bfloat16 conversions that both it and the interpreter's f16/bf16 emulation need.
 *
 * The format (https://github.com/huggingface/safetensors, "Format"): an 8-byte
 * little-endian u64 N; N bytes of UTF-8 JSON mapping each tensor name to
 * `{dtype, shape, data_offsets: [begin, end]}`, plus an optional `"__metadata__"` object of
 * string to string; then the data section, where each tensor is its row-major,
 * little-endian elements at bytes begin..end, counted from the start of the data section.
 *
 * Reading checks everything a corrupt or hostile file could get wrong and reports it as
 * a MoecError E502 that says what is wrong, so a bad checkpoint never surfaces as a
 * RangeError deep inside a typed-array constructor. Writing is deterministic (same tensors,
 * same bytes) and atomic (a temp file renamed into place).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { didYouMean, fail } from '../compiler/diagnostics.ts';
import type { DType } from './types.ts';
import { numel, type Tensor } from './tensor.ts';
import { bf16ToF32, f16ToF32, f32ToBf16Bits, f32ToF16Bits } from './float16.ts';

/** A parsed safetensors file; tensors are decoded only when asked for. */
export interface SafetensorsFile {
  /** The path the bytes came from, for messages. */
  readonly path: string;
  /** The `__metadata__` object, or {} if the file has none. */
  readonly metadata: Record<string, string>;
  /** Tensor names, sorted. */
  names(): string[];
  /** A tensor's safetensors dtype (e.g. 'BF16') and shape, without decoding it. */
  info(name: string): { dtype: string; shape: number[] };
  /** Decodes a tensor; floats go to Float64Array when `f64` is set (F64 always does). */
  get(name: string, opts?: { f64?: boolean }): Tensor;
}

/** The largest header we accept; real headers are kilobytes, even for thousands of tensors. */
const MAX_HEADER_BYTES = 100 * 1000 * 1000;

/** Bytes per element of every whole-byte safetensors dtype, so offsets can be checked. */
const ST_DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8, C64: 8,
};

/** The safetensors dtypes moec reads, and the moec dtype each becomes. */
const READABLE: Record<string, DType> = {
  F64: 'f64', F32: 'f32', F16: 'f16', BF16: 'bf16', I64: 'i64', I32: 'i32', I8: 'i8', U8: 'u8', BOOL: 'bool',
};

/** The safetensors dtype each writable moec dtype is stored as. */
const WRITTEN_AS: Partial<Record<DType, string>> = {
  f64: 'F64', f32: 'F32', f16: 'F16', bf16: 'BF16', i64: 'I64', i32: 'I32', i8: 'I8', u8: 'U8', bool: 'BOOL',
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/** Reads and parses a safetensors file; E501 if it cannot be read, E502 if it is malformed. */
export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    fail('E501', `cannot read ${path}: ${osReason(err, 'file')}`, undefined, 'check the path and that the file is readable');
  }
  return parseSafetensors(bytes, path);
}

/** Parses safetensors bytes (`path` is only for messages); E502 if they are malformed. */
export function parseSafetensors(bytes: Uint8Array, path: string): SafetensorsFile {
  const bad: Bad = (message, hint) => fail('E502', `${path}: ${message}`, undefined, hint);
  const REEXPORT = 'the file may be truncated or corrupt; re-export it with safetensors (e.g. safetensors.torch.save_file)';

  if (bytes.length < 8) {
    bad(`file is ${bytes.length} bytes, too short to hold the 8-byte header length`, REEXPORT);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    bad(
      `header length ${headerLen} bytes is absurd (the limit is ${MAX_HEADER_BYTES})`,
      'this is probably not a safetensors file, or its first 8 bytes are damaged',
    );
  }
  const n = Number(headerLen);
  if (8 + n > bytes.length) {
    bad(`header claims ${n} bytes but the file has only ${bytes.length - 8} after the 8-byte length`, REEXPORT);
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return bad('header is not valid UTF-8', REEXPORT);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return bad(`header is not valid JSON (${(err as Error).message})`, REEXPORT);
  }
  if (!isPlainObject(header)) {
    bad(`header must be a JSON object, but it is ${describeJson(header)}`, REEXPORT);
  }

  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries = new Map<string, Entry>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(raw, bad);
      continue;
    }
    const entry = parseEntry(name, raw, bad);
    if (entry.end > dataLen) {
      bad(`tensor '${name}' claims bytes ${entry.begin}..${entry.end} but the data section has ${dataLen} bytes`, REEXPORT);
    }
    entries.set(name, entry);
  }
  checkNoOverlap([...entries.values()], bad);

  const sortedNames = [...entries.keys()].sort();
  const lookup = (name: string): Entry => {
    const e = entries.get(name);
    if (!e) {
      fail('E503', `${path} has no tensor named '${name}'`, undefined,
        didYouMean(name, entries.keys()) ?? `it holds ${sortedNames.length} tensors; list them with names()`);
    }
    return e;
  };
  return {
    path,
    metadata,
    names: () => [...sortedNames],
    info: (name) => {
      const e = lookup(name);
      return { dtype: e.dtype, shape: [...e.shape] };
    },
    get: (name, opts) => decodeTensor(lookup(name), bytes.subarray(dataStart), opts?.f64 ?? false, bad),
  };
}

type Bad = (message: string, hint: string) => never;

function parseMetadata(raw: unknown, bad: Bad): Record<string, string> {
  const hint = 'safetensors metadata must map strings to strings; re-export the file with string metadata';
  if (!isPlainObject(raw)) bad(`"__metadata__" must be an object, but it is ${describeJson(raw)}`, hint);
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') bad(`"__metadata__" entry '${k}' must be a string, but it is ${describeJson(v)}`, hint);
  }
  // Object.fromEntries defines own properties, so a key such as "__proto__" stays data.
  return Object.fromEntries(Object.entries(raw as Record<string, string>));
}

function parseEntry(name: string, raw: unknown, bad: Bad): Entry {
  const hint = 'each tensor entry must be {"dtype": string, "shape": [ints], "data_offsets": [begin, end]}';
  if (!isPlainObject(raw)) bad(`tensor '${name}' must be described by an object, but it is ${describeJson(raw)}`, hint);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') bad(`tensor '${name}' has ${dtype === undefined ? 'no' : 'a non-string'} "dtype"`, hint);
  if (!Array.isArray(shape)) bad(`tensor '${name}' has ${shape === undefined ? 'no' : 'a non-array'} "shape"`, hint);
  if (!Array.isArray(offsets)) {
    bad(`tensor '${name}' has ${offsets === undefined ? 'no' : 'a non-array'} "data_offsets"`, hint);
  }
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      bad(`tensor '${name}' has shape ${JSON.stringify(shape)}; dimensions must be non-negative integers`, hint);
    }
  }
  if (
    offsets.length !== 2 ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    bad(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with 0 <= begin <= end`, hint);
  }
  const [begin, end] = offsets as number[];
  let count = 1;
  for (const d of shape as number[]) {
    count *= d;
    if (!Number.isSafeInteger(count)) bad(`tensor '${name}' has shape ${JSON.stringify(shape)}, too many elements to address`, hint);
  }
  const size = lookupOwn(ST_DTYPE_BYTES, dtype);
  // Sub-byte and unknown dtypes cannot be size-checked here; get() rejects them.
  if (size !== undefined) {
    const want = count * size;
    if (!Number.isSafeInteger(want)) bad(`tensor '${name}' has shape ${JSON.stringify(shape)}, too many bytes to address`, hint);
    if (end - begin !== want) {
      bad(
        `tensor '${name}' is ${dtype} [${shape.join(', ')}] (${want} bytes) but its data_offsets ` +
          `${begin}..${end} span ${end - begin} bytes`,
        'the header and data disagree; re-export the file',
      );
    }
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

function checkNoOverlap(entries: Entry[], bad: Bad): void {
  // Empty tensors occupy no bytes, so they cannot overlap anything.
  const byStart = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1];
    const cur = byStart[i];
    if (cur.begin < prev.end) {
      bad(
        `tensors '${prev.name}' (bytes ${prev.begin}..${prev.end}) and '${cur.name}' (bytes ${cur.begin}..${cur.end}) overlap`,
        'each tensor must have its own bytes; re-export the file',
      );
    }
  }
}

function decodeTensor(e: Entry, data: Uint8Array, f64: boolean, bad: Bad): Tensor {
  const dtype = lookupOwn(READABLE, e.dtype);
  if (dtype === undefined) {
    bad(
      `tensor '${e.name}' has dtype ${e.dtype}, which moec cannot read`,
      `moec reads ${Object.keys(READABLE).join(', ')}; convert the tensor (e.g. to F32 or BF16) before compiling`,
    );
  }
  const shape = [...e.shape];
  // A fresh copy is aligned for any typed array, whatever the tensor's offset in the file.
  // (new Uint8Array(view) rather than .slice(): Buffer.slice does not copy.)
  const raw = new Uint8Array(data.subarray(e.begin, e.end));
  if (!LITTLE_ENDIAN) byteSwap(raw, ST_DTYPE_BYTES[e.dtype]);
  const buf = raw.buffer;
  const n = numel(shape);
  switch (e.dtype) {
    case 'F64':
      return { dtype, shape, data: new Float64Array(buf) };
    case 'F32':
      return { dtype, shape, data: f64 ? Float64Array.from(new Float32Array(buf)) : new Float32Array(buf) };
    case 'F16':
    case 'BF16': {
      const bits = new Uint16Array(buf);
      const out = f64 ? new Float64Array(n) : new Float32Array(n);
      const decode = e.dtype === 'F16' ? f16ToF32 : bf16ToF32;
      for (let i = 0; i < n; i++) out[i] = decode(bits[i]);
      return { dtype, shape, data: out };
    }
    case 'I64': {
      const words = new Int32Array(buf);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = words[2 * i];
        const hi = words[2 * i + 1];
        // In int32 range exactly when the high word is the sign extension of the low word.
        if (hi !== lo >> 31) {
          const value = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
          bad(
            `tensor '${e.name}' (I64) holds ${value} at element ${i}, outside the int32 range moec computes in`,
            'indices and sizes must fit in 32 bits; check the tensor or store it as I32',
          );
        }
        out[i] = lo;
      }
      return { dtype, shape, data: out };
    }
    case 'I32':
      return { dtype, shape, data: new Int32Array(buf) };
    case 'I8':
      return { dtype, shape, data: Int32Array.from(new Int8Array(buf)) };
    case 'U8':
      return { dtype, shape, data: Int32Array.from(raw) };
    default: {
      // BOOL: any non-zero byte is true.
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = raw[i] !== 0 ? 1 : 0;
      return { dtype, shape, data: out };
    }
  }
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/**
 * Encodes tensors as safetensors bytes: tensors in sorted name order, packed back to back;
 * the header padded with spaces to a multiple of 8 bytes; metadata keys sorted. Floats are
 * rounded to the stored dtype with round-to-nearest-even.
 */
export function serializeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  // The header is assembled as text, not JSON.stringify'd from an object, because objects
  // put integer-like keys ("0", "10") first; this way the order is exactly the sorted one.
  const fields: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const pairs = Object.keys(metadata)
      .sort()
      .map((k) => {
        if (typeof metadata[k] !== 'string') throw new TypeError(`metadata '${k}' must be a string`);
        return `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`;
      });
    fields.push(`"__metadata__":{${pairs.join(',')}}`);
  }
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') {
      fail('E506', `cannot write a tensor named '__metadata__'`, undefined, 'the name is reserved by safetensors; rename the tensor');
    }
    const t = tensors[name];
    const stDtype = WRITTEN_AS[t.dtype];
    if (stDtype === undefined) {
      fail('E309', `cannot write tensor '${name}' of dtype ${t.dtype} to safetensors`, undefined, 'convert it to f32, f16 or bf16 first');
    }
    const n = numel(t.shape);
    if (t.data.length !== n) {
      fail('E504', `tensor '${name}' has shape [${t.shape.join(', ')}] (${n} elements) but ${t.data.length} values`,
        undefined, 'the data must hold one value per element, row-major');
    }
    const blob = encodeData(name, t, stDtype, n);
    const entry = { dtype: stDtype, shape: t.shape, data_offsets: [offset, offset + blob.length] };
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    blobs.push(blob);
    offset += blob.length;
  }
  const json = utf8Encode(`{${fields.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const b of blobs) {
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}

/**
 * Writes a safetensors file atomically: the bytes go to a temp file in the same directory,
 * which is renamed over `path` only once complete, so readers never see half a file; on
 * failure the temp file is removed and E506 reports why.
 */
export function writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  const bytes = serializeSafetensors(tensors, metadata);
  // Same directory, so the rename cannot cross file systems and stays atomic.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let created = false;
  try {
    const fd = openSync(tmp, 'wx');
    created = true;
    try {
      writeFileSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    if (created) {
      try {
        unlinkSync(tmp);
      } catch {
        // Already gone or never renamed away: nothing more we can do.
      }
    }
    fail('E506', `cannot write ${path}: ${osReason(err, 'directory')}`, undefined, 'check that the directory exists and is writable');
  }
}

function encodeData(name: string, t: Tensor, stDtype: string, n: number): Uint8Array {
  const d = t.data;
  switch (stDtype) {
    case 'F64':
      return bytesOf(d instanceof Float64Array ? d.slice() : Float64Array.from(d));
    case 'F32':
      return bytesOf(Float32Array.from(d));
    case 'F16':
    case 'BF16': {
      const out = new Uint16Array(n);
      const encode = stDtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
      for (let i = 0; i < n; i++) out[i] = encode(d[i]);
      return bytesOf(out);
    }
    case 'I64': {
      const out = new Int32Array(2 * n);
      for (let i = 0; i < n; i++) {
        const v = intValue(name, d[i], i, -(2 ** 31), 2 ** 31 - 1);
        out[2 * i] = v;
        out[2 * i + 1] = v >> 31;
      }
      return bytesOf(out);
    }
    case 'I32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = intValue(name, d[i], i, -(2 ** 31), 2 ** 31 - 1);
      return bytesOf(out);
    }
    case 'I8': {
      const out = new Int8Array(n);
      for (let i = 0; i < n; i++) out[i] = intValue(name, d[i], i, -128, 127);
      return bytesOf(out);
    }
    case 'U8': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = intValue(name, d[i], i, 0, 255);
      return out;
    }
    default: {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = d[i] !== 0 ? 1 : 0;
      return out;
    }
  }
}

function intValue(name: string, v: number, i: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    fail('E504', `tensor '${name}' holds ${v} at element ${i}, which its integer dtype cannot store`,
      undefined, `values must be integers in ${lo}..${hi}`);
  }
  return v;
}

/** The little-endian bytes of a typed array (which it may swap in place). */
function bytesOf(a: Float64Array | Float32Array | Int32Array | Uint16Array | Int8Array): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (!LITTLE_ENDIAN) byteSwap(bytes, a.BYTES_PER_ELEMENT);
  return bytes;
}

function byteSwap(bytes: Uint8Array, size: number): void {
  if (size <= 1) return;
  for (let i = 0; i + size <= bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/** `table[key]` for own keys only, so a dtype such as "toString" finds nothing. */
function lookupOwn<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'missing';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

function utf8Encode(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** A short OS reason for a failed file operation ("no such file", "permission denied"). */
function osReason(err: unknown, missing: 'file' | 'directory'): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return `no such ${missing}`;
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a parent of the path is not a directory';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EROFS':
      return 'read-only file system';
    case 'ERR_FS_FILE_TOO_LARGE':
      return 'file is too large to read into memory (over 2 GiB)';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}
