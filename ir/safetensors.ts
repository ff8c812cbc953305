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
 * Reading parses only the header up front; each tensor is read from its own position in the
 * file when asked for, so files over 2 GiB work and a loader reads only what it needs.
 * Quantized codes: F8_E4M3 tensors are read and written as their bytes (dtype fp8e4m3), and
 * i4 codes as U8 [.., K/2], two per byte along the last axis, even index in the low nibble
 * (`packedI4`; see ir/quant.ts). Their scales are ordinary F32 tensors beside them.
 *
 * Reading checks everything a corrupt or hostile file could get wrong and reports it as
 * a MoecError E502 that says what is wrong, so a bad checkpoint never surfaces as a
 * RangeError deep inside a typed-array constructor. Writing is deterministic (same tensors,
 * same bytes); the bytes go to disk through compiler/write-safetensors.ts (atomic, and never
 * over an input), so this module does no writing of its own.
 */
import { closeSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MoecError, didYouMean, fail } from './diagnostics.ts';
import type { DType } from './types.ts';
import { numel, type Tensor } from './tensor.ts';
import { bf16ToF32, f16ToF32, f32ToBf16Bits, f32ToF16Bits } from './float16.ts';
import { packCodes, unpackCodes } from './quant.ts';
import { MAX_JSON_DEPTH, jsonStructureProblem } from './json-structure.ts';
import { withMemoryFor } from './out-of-memory.ts';
import { type FileRole, isOsError, openUserFile, osReason, readOrFail } from './user-file.ts';

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
  /** A tensor's size as stored, in bytes (for progress lines). */
  storedBytes(name: string): number;
  /** Whether the file holds a tensor of that name. */
  has(name: string): boolean;
  /** Reads and decodes a tensor (see `GetOptions`). */
  get(name: string, opts?: GetOptions): Tensor;
  /** A tensor's bytes exactly as stored (any dtype, even one moec cannot decode), to copy it. */
  raw(name: string): Uint8Array;
  /**
   * Bytes `begin..begin + length` of a tensor as stored, read from the file at their position
   * (a streaming loader reads a tensor a few rows at a time, never whole). Absent where the
   * stored bytes are not the tensor's (a GGUF file's are blocks, reordered). `into`: a
   * buffer to read into (the result is a view of it), so a loader reuses one.
   */
  readRange?(name: string, begin: number, length: number, into?: Uint8Array): Uint8Array;
}

export interface GetOptions {
  /** Floats go to Float64Array (F64 always does). */
  f64?: boolean;
  /**
   * The tensor is U8 [.., K/2] holding packed i4 codes (two per byte along the last axis,
   * even index in the low nibble, two's complement): decode it as i4 [.., K], one code each.
   */
  packedI4?: boolean;
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

/**
 * The safetensors dtypes moec reads, and the moec dtype each becomes. F8_E4M3 is read as
 * its codes (one byte each, `fp8e4m3` in ir/quant.ts); its scales are separate tensors.
 */
const READABLE: Record<string, DType> = {
  F64: 'f64', F32: 'f32', F16: 'f16', BF16: 'bf16', I64: 'i64', I32: 'i32', I8: 'i8', U8: 'u8', BOOL: 'bool',
  F8_E4M3: 'fp8e4m3',
};

/**
 * The safetensors dtype each writable moec dtype is stored as. Quantized tensors are written
 * as their codes: fp8e4m3 one byte each (F8_E4M3), i4 packed two per byte (U8 [.., K/2]).
 */
const WRITTEN_AS: Partial<Record<DType, string>> = {
  f64: 'F64', f32: 'F32', f16: 'F16', bf16: 'BF16', i64: 'I64', i32: 'I32', i8: 'I8', u8: 'U8', bool: 'BOOL',
  fp8e4m3: 'F8_E4M3', i4: 'U8',
};

/** Bytes per read call: readSync takes at most 2 GiB at once. */
const READ_CHUNK = 1 << 30;

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

/**
 * Opens a safetensors file and parses its header; tensors are read later, each from its own
 * offset, so a file of any size works (over 2 GiB too) and only the tensors asked for are
 * read. E501 if it cannot be read, E502 if it is malformed.
 */
export function readSafetensors(path: string, role: FileRole = {}): SafetensorsFile {
  let size: number;
  let head: Uint8Array;
  const opened = openUserFile(path, role);
  try {
    size = opened.size;
    head = readOrFail(path, role, () => {
      let bytes = readAt(opened.fd, 0, Math.min(size, 8));
      if (size >= 8) {
        const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
        // Only a plausible header is read; parseHeader reports the rest.
        if (n <= BigInt(MAX_HEADER_BYTES) && 8 + Number(n) <= size) bytes = readAt(opened.fd, 0, 8 + Number(n));
      }
      return bytes;
    });
  } finally {
    closeSync(opened.fd);
  }
  const changed: FileRole = { ...role, missingHint: 'the file changed or vanished since moec opened it; check it' };
  const read = (begin: number, length: number, into?: Uint8Array): Uint8Array => {
    const { fd } = openUserFile(path, changed);
    try {
      const bytes = readOrFail(path, changed, () => readAt(fd, begin, length, into));
      if (bytes.length < length) {
        fail('E501', `cannot read ${role.label ?? path}: the file ended at byte ${begin + bytes.length}`, undefined, 'the file changed since moec opened it; check it');
      }
      return bytes;
    } finally {
      closeSync(fd);
    }
  };
  return parseHeader(head, size, read, path);
}

/** Reads `length` bytes at `position` (fewer at end of file), in chunks each read call can take, into `into` if given. */
function readAt(fd: number, position: number, length: number, into?: Uint8Array): Uint8Array {
  const out = into ? into.subarray(0, length) : new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, Math.min(length - done, READ_CHUNK), position + done);
    if (n === 0) return out.subarray(0, done);
    done += n;
  }
  return out;
}

/** Parses safetensors bytes held in memory (`path` is only for messages); E502 if they are malformed. */
export function parseSafetensors(bytes: Uint8Array, path: string): SafetensorsFile {
  // A fresh copy, so the typed arrays made from it are aligned whatever the offset.
  return parseHeader(bytes, bytes.length, (begin, length, into) => {
    const part = bytes.subarray(begin, begin + length);
    if (!into) return new Uint8Array(part);
    into.set(part);
    return into.subarray(0, length);
  }, path);
}

/**
 * Parses the header at the start of `head` (which holds at least the first 8 + N bytes of a
 * well-formed file of `size` bytes) and checks every entry against the data section; `read`
 * fetches the bytes of a tensor (file positions) when it is asked for.
 */
function parseHeader(head: Uint8Array, size: number, read: (begin: number, length: number, into?: Uint8Array) => Uint8Array, path: string): SafetensorsFile {
  const bad: Bad = (message, hint) => fail('E502', `${path}: ${message}`, undefined, hint);
  const REEXPORT = 'the file may be truncated or corrupt; re-export it with safetensors (e.g. safetensors.torch.save_file)';

  if (size < 8) {
    bad(`file is ${size} bytes, too short to hold the 8-byte header length`, REEXPORT);
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    bad(
      `header length ${headerLen} bytes is absurd (the limit is ${MAX_HEADER_BYTES})`,
      'this is probably not a safetensors file, or its first 8 bytes are damaged',
    );
  }
  const n = Number(headerLen);
  if (8 + n > size) {
    bad(`header claims ${n} bytes but the file has only ${size - 8} after the 8-byte length`, REEXPORT);
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(8, 8 + n));
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
  const problem = jsonStructureProblem(text);
  if (problem?.kind === 'duplicate') {
    bad(
      problem.path.length === 0 ? `tensor '${problem.key}' is listed twice in the header` : `tensor '${problem.path[0]}' gives "${problem.key}" twice in the header`,
      'a header gives each tensor, and each field of its entry, once (JSON readers disagree on which of two counts); re-export the file',
    );
  }
  if (problem?.kind === 'too-deep') bad(`header nests deeper than ${MAX_JSON_DEPTH} levels`, REEXPORT);

  const dataStart = 8 + n;
  const dataLen = size - dataStart;
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
    has: (name) => entries.has(name),
    info: (name) => {
      const e = lookup(name);
      return { dtype: e.dtype, shape: [...e.shape] };
    },
    storedBytes: (name) => {
      const e = lookup(name);
      return e.end - e.begin;
    },
    raw: (name) => {
      const e = lookup(name);
      return withMemoryFor(describeEntry(e), () => read(dataStart + e.begin, e.end - e.begin));
    },
    readRange: (name, begin, length, into) => {
      const e = lookup(name);
      if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(length) || begin < 0 || length < 0 || begin + length > e.end - e.begin) {
        throw new Error(`safetensors: bytes ${begin}..${begin + length} are outside ${describeEntry(e)}`);
      }
      if (into && into.length < length) throw new Error(`safetensors: a buffer of ${into.length} bytes cannot take ${length}`);
      return read(dataStart + e.begin + begin, length, into);
    },
    get: (name, opts) => {
      const e = lookup(name);
      checkReadable(e, opts?.packedI4 ?? false, bad);
      return withMemoryFor(describeEntry(e), () => decodeTensor(e, read(dataStart + e.begin, e.end - e.begin), opts ?? {}, bad));
    },
  };
}

type Bad = (message: string, hint: string) => never;

/** "tensor 'w' (F32 [4096, 4096], 67108864 bytes)", for messages about its size. */
function describeEntry(e: Entry): string {
  return `tensor '${e.name}' (${e.dtype} [${e.shape.join(', ')}], ${e.end - e.begin} bytes)`;
}

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
      bad(`tensor '${name}' has shape ${showList(shape)}; dimensions must be non-negative integers`, hint);
    }
  }
  if (
    offsets.length !== 2 ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    bad(`tensor '${name}' has data_offsets ${showList(offsets)}; expected [begin, end] with 0 <= begin <= end`, hint);
  }
  const [begin, end] = offsets as number[];
  let count = 1;
  for (const d of shape as number[]) {
    count *= d;
    if (!Number.isSafeInteger(count)) bad(`tensor '${name}' has shape ${showList(shape)}, too many elements to address`, hint);
  }
  const size = lookupOwn(ST_DTYPE_BYTES, dtype);
  // Sub-byte and unknown dtypes cannot be size-checked here; get() rejects them.
  if (size !== undefined) {
    const want = count * size;
    if (!Number.isSafeInteger(want)) bad(`tensor '${name}' has shape ${showList(shape)}, too many bytes to address`, hint);
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

/** Refuses, before any bytes are read, a tensor whose dtype moec cannot decode. */
function checkReadable(e: Entry, packedI4: boolean, bad: Bad): void {
  if (lookupOwn(READABLE, e.dtype) === undefined) {
    bad(
      `tensor '${e.name}' has dtype ${e.dtype}, which moec cannot read`,
      `moec reads ${Object.keys(READABLE).join(', ')}; convert the tensor (e.g. to F32 or BF16) before compiling`,
    );
  }
  if (packedI4 && (e.dtype !== 'U8' || e.shape.length === 0)) {
    bad(
      `tensor '${e.name}' should hold packed i4 codes (U8 [.., K/2]) but it is ${e.dtype} [${e.shape.join(', ')}]`,
      'i4 weights are stored as U8 with two codes per byte along the last axis (moec quantize --to i4 writes them)',
    );
  }
}

/** Bytes per element of the float dtypes `decodeFloatsInto` converts. */
export const FLOAT_DTYPE_BYTES: Readonly<Record<string, number>> = { F64: 8, F32: 4, F16: 2, BF16: 2 };

/**
 * Converts stored float elements (`raw`: a fresh, aligned copy, which may be changed in
 * place; F32, F16, BF16 or F64, little-endian) into `out` from `at`, as f32: the values
 * `get` gives, for a loader that reads a tensor a chunk at a time (f16 and bf16 exactly,
 * f64 rounded to nearest).
 */
export function decodeFloatsInto(stDtype: string, raw: Uint8Array, out: Float32Array, at: number): void {
  const size = FLOAT_DTYPE_BYTES[stDtype];
  if (size === undefined || raw.byteOffset % size !== 0 || raw.length % size !== 0) throw new Error(`safetensors: cannot decode ${raw.length} bytes of ${stDtype} as floats`);
  if (!LITTLE_ENDIAN) byteSwap(raw, size);
  const n = raw.length / size;
  if (stDtype === 'F32') out.set(new Float32Array(raw.buffer, raw.byteOffset, n), at);
  else if (stDtype === 'F64') out.set(new Float64Array(raw.buffer, raw.byteOffset, n), at);
  else if (stDtype === 'BF16') {
    // bf16 is a float32's top half: shifting the bits up is the exact value.
    const bits = new Uint16Array(raw.buffer, raw.byteOffset, n);
    const words = new Uint32Array(out.buffer, out.byteOffset + 4 * at, n);
    for (let i = 0; i < n; i++) words[i] = bits[i] << 16;
  } else {
    const bits = new Uint16Array(raw.buffer, raw.byteOffset, n);
    for (let i = 0; i < n; i++) out[at + i] = f16ToF32(bits[i]);
  }
}

/** Decodes a tensor's bytes (`raw`: a fresh, aligned copy, which may be changed in place). */
function decodeTensor(e: Entry, raw: Uint8Array, opts: GetOptions, bad: Bad): Tensor {
  const dtype = READABLE[e.dtype];
  const f64 = opts.f64 ?? false;
  if (opts.packedI4) {
    const shape = [...e.shape];
    shape[shape.length - 1] *= 2;
    return { dtype: 'i4', shape, data: unpackCodes('i4', raw, numel(shape)) };
  }
  const shape = [...e.shape];
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
    case 'F8_E4M3':
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
 * What a file will hold for one tensor, known before its values: a moec dtype and shape, or
 * (`stored`) a safetensors dtype whose bytes are copied as they are.
 */
export type TensorSpec = { dtype: DType; shape: number[] } | { stored: string; shape: number[] };

interface PlannedEntry {
  name: string;
  spec: TensorSpec;
  stDtype: string;
  begin: number;
  end: number;
}

/**
 * Lays a file out: tensors in sorted name order, packed back to back; the header padded
 * with spaces to a multiple of 8 bytes; metadata keys sorted.
 */
function planFile(specs: Record<string, TensorSpec>, metadata?: Record<string, string>): { header: Uint8Array; entries: PlannedEntry[]; size: number } {
  const names = Object.keys(specs).sort();
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
  const entries: PlannedEntry[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') {
      fail('E506', `cannot write a tensor named '__metadata__'`, undefined, 'the name is reserved by safetensors; rename the tensor');
    }
    const spec = specs[name];
    const stDtype = 'stored' in spec ? spec.stored : WRITTEN_AS[spec.dtype];
    if (stDtype === undefined || lookupOwn(ST_DTYPE_BYTES, stDtype) === undefined) {
      fail('E309', `cannot write tensor '${name}' of dtype ${'stored' in spec ? spec.stored : spec.dtype} to safetensors`, undefined, 'convert it to f32, f16 or bf16 first');
    }
    const last = spec.shape[spec.shape.length - 1];
    if ('dtype' in spec && spec.dtype === 'i4' && (last === undefined || last % 2 !== 0)) {
      fail('E504', `i4 tensor '${name}' has shape [${spec.shape.join(', ')}]; packing two codes per byte needs an even last axis`,
        undefined, 'use i8, or a group and shape with an even reduction length');
    }
    // i4: stored as its bytes, U8 [.., K/2].
    const shape = 'dtype' in spec && spec.dtype === 'i4' ? [...spec.shape.slice(0, -1), last / 2] : spec.shape;
    const bytes = numel(shape) * ST_DTYPE_BYTES[stDtype];
    entries.push({ name, spec, stDtype, begin: offset, end: offset + bytes });
    fields.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype: stDtype, shape, data_offsets: [offset, offset + bytes] })}`);
    offset += bytes;
  }
  const json = utf8Encode(`{${fields.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + headerLen).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(headerLen), true);
  header.set(json, 8);
  return { header, entries, size: header.length + offset };
}

/** The bytes of one planned tensor (a Tensor, or bytes to copy), checked against its plan. */
function encodeEntry(e: PlannedEntry, t: Tensor | Uint8Array): Uint8Array {
  if ('stored' in e.spec || t instanceof Uint8Array) {
    if (!('stored' in e.spec) || !(t instanceof Uint8Array) || t.length !== e.end - e.begin) {
      throw new Error(`tensor '${e.name}': raw bytes and a planned dtype must go together, at the planned size`);
    }
    return t;
  }
  const n = numel(t.shape);
  if (t.dtype !== e.spec.dtype || t.shape.length !== e.spec.shape.length || t.shape.some((d, i) => d !== e.spec.shape[i])) {
    throw new Error(`tensor '${e.name}' is ${t.dtype}[${t.shape.join(', ')}], not the ${e.spec.dtype}[${e.spec.shape.join(', ')}] planned`);
  }
  if (t.data.length !== n) {
    fail('E504', `tensor '${e.name}' has shape [${t.shape.join(', ')}] (${n} elements) but ${t.data.length} values`,
      undefined, 'the data must hold one value per element, row-major');
  }
  return encodeData(e.name, t, e.stDtype, n);
}

/**
 * Encodes tensors as safetensors bytes (layout: `planFile`). Floats are rounded to the
 * stored dtype with round-to-nearest-even; fp8e4m3 and i4 tensors hold codes.
 */
export function serializeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const { header, entries, size } = planFile(tensors, metadata);
  const out = new Uint8Array(size);
  out.set(header, 0);
  for (const e of entries) out.set(encodeEntry(e, tensors[e.name]), header.length + e.begin);
  return out;
}

/**
 * Encodes a safetensors file one tensor at a time, for a writer (compiler/write-safetensors.ts)
 * to stream to disk: the layout comes from the specs, and `produce(name)` is called for each
 * tensor in file order as `chunks` is consumed, so only one tensor's values need be in
 * memory at once (a checkpoint larger than memory can be rewritten). The chunks are the
 * file's bytes in order; `size` is its length.
 */
export function safetensorsChunks(
  specs: Record<string, TensorSpec>,
  produce: (name: string) => Tensor | Uint8Array,
  metadata?: Record<string, string>,
): { size: number; chunks: Iterable<Uint8Array> } {
  const { header, entries, size } = planFile(specs, metadata);
  function* chunks(): Generator<Uint8Array> {
    yield header;
    for (const e of entries) yield withMemoryFor(`tensor '${e.name}' (${e.stDtype} [${e.spec.shape.join(', ')}])`, () => encodeEntry(e, produce(e.name)));
  }
  return { size, chunks: chunks() };
}

function encodeData(name: string, t: Tensor, stDtype: string, n: number): Uint8Array {
  const d = t.data;
  if (t.dtype === 'i4') {
    for (let i = 0; i < n; i++) intValue(name, d[i], i, -8, 7);
    return packCodes('i4', Int32Array.from(d));
  }
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
    case 'U8':
    case 'F8_E4M3': {
      // fp8e4m3 tensors hold their codes, the bytes themselves.
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

/**
 * A header list for a message, as JSON shows it but bounded: its first entries, each a
 * number, a short string or the kind of value it is (JSON.stringify of a list nested
 * thousands deep would overflow the stack, and of a long one flood the terminal).
 */
function showList(list: unknown[]): string {
  const shown = list.slice(0, 8).map((v) => (typeof v === 'number' ? String(v) : typeof v === 'string' ? JSON.stringify(v.slice(0, 20)) : describeJson(v)));
  return `[${shown.join(',')}${list.length > 8 ? `,... (${list.length} entries)` : ''}]`;
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
