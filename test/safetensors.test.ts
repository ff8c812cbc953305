/**
 * @fileoverview Tests for safetensors reading and writing and the float16/bfloat16
 * conversions: round trips of every dtype, rounding edge cases checked exhaustively against
 * independent references, every malformed-file error, atomic writes, and a fixture written
 * by Python rather than by us.
 */
import { closeSync, mkdtempSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoecError } from '../ir/diagnostics.ts';
import { bf16ToF32, f16ToF32, f32ToBf16Bits, f32ToF16Bits, roundToBf16, roundToF16 } from '../ir/float16.ts';
import { parseSafetensors, readSafetensors, serializeSafetensors } from '../ir/safetensors.ts';
import { writeSafetensors } from '../compiler/io/write-safetensors.ts';
import type { Tensor } from '../ir/tensor.ts';
import { seededValue } from '../ir/random.ts';
import { fp8e4m3Decode } from '../ir/quant.ts';

const FIXTURE = new URL('./fixtures/python-written.safetensors', import.meta.url);

/** Builds a file from a header object (or raw header text) and a data section. */
function file(header: unknown, data: number[] | Uint8Array = [], rawHeaderLen?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, rawHeaderLen ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Runs `f`, expecting a MoecError with `code` whose message contains `text`; returns it. */
function expectError(f: () => unknown, code: string, text: string): MoecError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(MoecError);
    const d = (err as MoecError).diagnostics[0];
    expect(d.code).toBe(code);
    expect(d.message).toContain(text);
    expect(d.hint).toBeTruthy();
    return err as MoecError;
  }
  throw new Error(`expected ${code} containing '${text}', but nothing was thrown`);
}

/** Parses and decodes every tensor, as a loader would. */
function parseAll(bytes: Uint8Array): void {
  const f = parseSafetensors(bytes, 'bad.safetensors');
  for (const n of f.names()) f.get(n);
}

const roundTrip = (tensors: Record<string, Tensor>, f64 = false): Record<string, Tensor> => {
  const f = parseSafetensors(serializeSafetensors(tensors), 'mem');
  return Object.fromEntries(f.names().map((n) => [n, f.get(n, { f64 })]));
};

describe('round trips', () => {
  const tensors: Record<string, Tensor> = {
    f32: { dtype: 'f32', shape: [2, 3], data: new Float32Array([1.5, -2, 0.1, 3.4e38, -1e-45, -0]) },
    f64: { dtype: 'f64', shape: [3], data: new Float64Array([0.1, -1e300, 5e-324]) },
    i32: { dtype: 'i32', shape: [4], data: new Int32Array([-(2 ** 31), -1, 0, 2 ** 31 - 1]) },
    i64: { dtype: 'i64', shape: [2, 2], data: new Int32Array([-(2 ** 31), -1, 0, 2 ** 31 - 1]) },
    i8: { dtype: 'i8', shape: [3], data: new Int32Array([-128, 0, 127]) },
    u8: { dtype: 'u8', shape: [3], data: new Int32Array([0, 1, 255]) },
    bool: { dtype: 'bool', shape: [4], data: new Int32Array([1, 0, 0, 1]) },
    f16: { dtype: 'f16', shape: [6], data: new Float32Array([1, -65504, 2 ** -24, 2 ** -14, Infinity, -0]) },
    bf16: { dtype: 'bf16', shape: [5], data: new Float32Array([3.140625, -(2 ** -133), 2 ** 127, -Infinity, 0]) },
    scalar: { dtype: 'f32', shape: [], data: new Float32Array([7]) },
    empty: { dtype: 'f32', shape: [0, 3], data: new Float32Array(0) },
  };

  it('keeps every dtype, shape and value', () => {
    const back = roundTrip(tensors);
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(back[name].dtype, name).toBe(t.dtype);
      expect(back[name].shape, name).toEqual(t.shape);
      expect(back[name].data.constructor, name).toBe(t.data.constructor);
      // Object.is, so -0 and 0 are told apart.
      Array.from(t.data).forEach((v, i) => expect(Object.is(back[name].data[i], v), `${name}[${i}]`).toBe(true));
    }
  });

  it('decodes floats into Float64Array when asked, with the same values', () => {
    const back = roundTrip(tensors, true);
    for (const name of ['f32', 'f64', 'f16', 'bf16']) {
      expect(back[name].data).toBeInstanceOf(Float64Array);
      expect(Array.from(back[name].data)).toEqual(Array.from(tensors[name].data));
    }
    expect(back.i32.data).toBeInstanceOf(Int32Array);
  });

  it('rounds on write: f32 from doubles, f16/bf16 to nearest even', () => {
    const back = roundTrip({
      a: { dtype: 'f32', shape: [1], data: new Float64Array([0.1]) },
      h: { dtype: 'f16', shape: [3], data: new Float64Array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.1]) },
      b: { dtype: 'bf16', shape: [2], data: new Float64Array([1 + 2 ** -8, 1 + 3 * 2 ** -8]) },
    });
    expect(back.a.data[0]).toBe(Math.fround(0.1));
    expect(Array.from(back.h.data)).toEqual([1, 1 + 2 * 2 ** -10, roundToF16(0.1)]);
    expect(Array.from(back.b.data)).toEqual([1, 1 + 2 * 2 ** -7]);
  });

  it('keeps NaN', () => {
    const back = roundTrip({
      h: { dtype: 'f16', shape: [1], data: new Float32Array([NaN]) },
      b: { dtype: 'bf16', shape: [1], data: new Float32Array([NaN]) },
      f: { dtype: 'f32', shape: [1], data: new Float32Array([NaN]) },
    });
    for (const t of Object.values(back)) expect(t.data[0]).toBeNaN();
  });

  it('reads tensors at unaligned offsets', () => {
    const back = roundTrip({
      a: { dtype: 'u8', shape: [1], data: new Int32Array([9]) },
      b: { dtype: 'f64', shape: [2], data: new Float64Array([Math.PI, -Math.E]) },
      c: { dtype: 'i64', shape: [1], data: new Int32Array([-5]) },
    });
    expect(Array.from(back.b.data)).toEqual([Math.PI, -Math.E]);
    expect(Array.from(back.c.data)).toEqual([-5]);
  });

  it('keeps metadata, including awkward keys', () => {
    const metadata = { format: 'pt', note: 'ünïcode "quoted"', __proto__x: 'p' };
    const bytes = serializeSafetensors({ a: tensors.f32 }, metadata);
    expect(parseSafetensors(bytes, 'mem').metadata).toEqual(metadata);
    expect(parseSafetensors(serializeSafetensors({ a: tensors.f32 }), 'mem').metadata).toEqual({});
  });

  it('rejects integer values that the dtype cannot hold', () => {
    expectError(() => serializeSafetensors({ x: { dtype: 'i8', shape: [1], data: new Int32Array([200]) } }), 'E504', '200');
    expectError(() => serializeSafetensors({ x: { dtype: 'f32', shape: [3], data: new Float32Array(2) } }), 'E504', '3 elements');
  });
});

describe('serialized layout', () => {
  const a: Tensor = { dtype: 'f32', shape: [2], data: new Float32Array([1, 2]) };
  const b: Tensor = { dtype: 'f16', shape: [3], data: new Float32Array([1, 2, 3]) };
  const c: Tensor = { dtype: 'u8', shape: [1], data: new Int32Array([4]) };

  it('is deterministic and independent of key order', () => {
    const one = serializeSafetensors({ b, a, c, '10': c, '9': c }, { z: '1', y: '2' });
    const two = serializeSafetensors({ '9': c, c, a, '10': c, b }, { y: '2', z: '1' });
    expect(Buffer.from(one).equals(Buffer.from(two))).toBe(true);
  });

  it('pads the header with spaces to a multiple of 8 and packs tensors in name order', () => {
    const bytes = serializeSafetensors({ c, b, a }, { k: 'v' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd().length).toBeLessThanOrEqual(n);
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    const header = JSON.parse(text);
    expect(Object.keys(header)).toEqual(['__metadata__', 'a', 'b', 'c']);
    expect(header.a.data_offsets).toEqual([0, 8]);
    expect(header.b.data_offsets).toEqual([8, 14]);
    expect(header.c.data_offsets).toEqual([14, 15]);
    expect(bytes.length).toBe(8 + n + 15);
  });
});

describe('float16 and bfloat16', () => {
  it('every finite f16 and bf16 value converts back to its own bits', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const h = f16ToF32(bits);
      if (Number.isNaN(h)) expect((bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0).toBe(true);
      else if (f32ToF16Bits(h) !== bits) throw new Error(`f16 ${bits.toString(16)} -> ${h} -> ${f32ToF16Bits(h).toString(16)}`);
      const b = bf16ToF32(bits);
      if (!Number.isNaN(b) && f32ToBf16Bits(b) !== bits) throw new Error(`bf16 ${bits.toString(16)} mismatch`);
    }
  });

  it('midpoints round to even and anything past them rounds away', () => {
    // Positive finite f16 bit patterns are increasing in value, so neighbours are bits, bits+1.
    for (let bits = 0; bits < 0x7bff; bits++) {
      const lo = f16ToF32(bits);
      const hi = f16ToF32(bits + 1);
      const mid = (lo + hi) / 2; // exact in a double
      const even = bits % 2 === 0 ? bits : bits + 1;
      if (f32ToF16Bits(mid) !== even || f32ToF16Bits(-mid) !== (even | 0x8000)) throw new Error(`f16 tie at ${bits}`);
      const eps = (hi - lo) * 2 ** -20;
      if (f32ToF16Bits(mid - eps) !== bits || f32ToF16Bits(mid + eps) !== bits + 1) throw new Error(`f16 near tie at ${bits}`);
    }
    for (let bits = 0; bits < 0x7f7f; bits++) {
      const lo = bf16ToF32(bits);
      const mid = (lo + bf16ToF32(bits + 1)) / 2;
      const even = bits % 2 === 0 ? bits : bits + 1;
      if (f32ToBf16Bits(mid) !== even) throw new Error(`bf16 tie at ${bits}`);
    }
  });

  it('decodes known float16 bit patterns', () => {
    expect([0x3c00, 0xc000, 0x3555, 0x7bff, 0x0400, 0x03ff, 0x0001, 0x7c00, 0xfc00].map(f16ToF32)).toEqual([
      1, -2, 0.333251953125, 65504, 2 ** -14, 1023 * 2 ** -24, 2 ** -24, Infinity, -Infinity,
    ]);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect([0x3f80, 0xc049, 0x7f7f, 0x0001].map(bf16ToF32)).toEqual([1, -3.140625, (2 - 2 ** -7) * 2 ** 127, 2 ** -133]);
  });

  it('f16 rounding agrees with a brute-force nearest-value search on arbitrary doubles', () => {
    // Positive finite float16 values in increasing order, indexed by their bits.
    const values = Array.from({ length: 0x7c00 }, (_, b) => f16ToF32(b));
    for (let i = 0; i < 50_000; i++) {
      const x = seededValue('f16-oracle', 0, i) * 2 ** Math.floor((seededValue('f16-oracle', 1, i) + 1) * 24 - 30);
      const a = Math.abs(x);
      let lo = 0;
      let hi = values.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (values[mid] <= a) lo = mid;
        else hi = mid - 1;
      }
      // Past the largest value, the next step up is 2^16, which rounds to Infinity (bits 0x7c00).
      const below = values[lo];
      const above = lo + 1 < values.length ? values[lo + 1] : 65536;
      const d = a - below - (above - a);
      const bits = d < 0 || (d === 0 && lo % 2 === 0) ? lo : lo + 1;
      const want = (x < 0 || Object.is(x, -0) ? 0x8000 : 0) | bits;
      if (f32ToF16Bits(x) !== want) throw new Error(`f16 of ${x}: got ${f32ToF16Bits(x).toString(16)}, want ${want.toString(16)}`);
    }
  });

  it('agrees with the bit-twiddling float32 -> bfloat16 reference on float32 inputs', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let i = 0; i < 200_000; i++) {
      // Arbitrary float32 bit patterns, from our own generator.
      u[0] = ((seededValue('bf16', 0, i) + 1) * 2 ** 23) * 512 + ((seededValue('bf16', 1, i) + 1) * 2 ** 23) % 512;
      if (Number.isNaN(f[0])) continue;
      const want = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16) & 0xffff;
      if (f32ToBf16Bits(f[0]) !== want) throw new Error(`bf16 of ${f[0]} (0x${u[0].toString(16)})`);
    }
  });

  it('handles the edges: subnormals, overflow, signed zero, infinities, NaN', () => {
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal: even is 0
    expect(f32ToF16Bits(2 ** -25 * 1.0001)).toBe(0x0001);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 units: even is 2
    expect(f32ToF16Bits(2 ** -14 - 2 ** -26)).toBe(0x0400); // rounds up out of the subnormals
    expect(f32ToF16Bits(1e-30)).toBe(0);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65519.99)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00);
    expect(f32ToF16Bits(-1e10)).toBe(0xfc00);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00);
    expect(f16ToF32(f32ToF16Bits(NaN))).toBeNaN();
    expect(f32ToBf16Bits(2 ** -133)).toBe(0x0001);
    expect(f32ToBf16Bits(2 ** -134)).toBe(0x0000);
    expect(f32ToBf16Bits(3.4e38)).toBe(0x7f80); // above (2 - 2^-8) * 2^127, so Infinity
    expect(f32ToBf16Bits(3.39e38)).toBe(0x7f7f); // the largest bf16 is (2 - 2^-7) * 2^127 ~ 3.3895e38
    expect(f32ToBf16Bits(-0)).toBe(0x8000);
    expect(bf16ToF32(f32ToBf16Bits(NaN))).toBeNaN();
  });

  it('rounds a double once, not via float32', () => {
    // Just above the f16 midpoint between 1 and 1 + 2^-10, but within half a float32 ulp of
    // it: a float32 detour would land on the midpoint and round down to 1.
    const x = 1 + 2 ** -11 + 2 ** -40;
    expect(Math.fround(x)).toBe(1 + 2 ** -11);
    expect(roundToF16(x)).toBe(1 + 2 ** -10);
    expect(roundToBf16(1 + 2 ** -8 + 2 ** -40)).toBe(1 + 2 ** -7);
  });

  it('roundToF16 and roundToBf16 return representable values', () => {
    expect(roundToF16(0.1)).toBe(0.0999755859375);
    expect(roundToBf16(0.1)).toBe(0.10009765625);
    expect(roundToF16(1e6)).toBe(Infinity);
    expect(roundToBf16(-1e39)).toBe(-Infinity);
    expect(Object.is(roundToF16(-1e-10), -0)).toBe(true);
  });
});

describe('malformed files', () => {
  const f32x2 = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it.each([
    ['shorter than 8 bytes', new Uint8Array([1, 2, 3]), 'too short'],
    ['header length past the end', file(f32x2, new Uint8Array(8), 1000n), 'header claims 1000 bytes but the file has only'],
    ['absurd header length', file(f32x2, [], 2n ** 40n), 'absurd'],
    ['header length beyond u64 that JS can count', file(f32x2, [], 2n ** 64n - 1n), 'absurd'],
    ['bad JSON', file('{"a": {', []), 'not valid JSON'],
    ['invalid UTF-8', file('{"\xff"}', []).map((b, i) => (i === 10 ? 0xff : b)), 'not valid UTF-8'],
    ['header that is not an object', file([1, 2]), 'must be a JSON object, but it is an array'],
    ['entry that is not an object', file({ a: 3 }), "tensor 'a' must be described by an object"],
    ['missing dtype', file({ a: { shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8)), 'has no "dtype"'],
    ['shape not an array', file({ a: { dtype: 'F32', shape: 2, data_offsets: [0, 8] } }, new Uint8Array(8)), 'non-array "shape"'],
    ['missing data_offsets', file({ a: { dtype: 'F32', shape: [2] } }, new Uint8Array(8)), 'has no "data_offsets"'],
    ['negative dimension', file({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, new Uint8Array(8)), 'non-negative integers'],
    ['fractional dimension', file({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, new Uint8Array(8)), 'non-negative integers'],
    ['reversed offsets', file({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, new Uint8Array(8)), '0 <= begin <= end'],
    ['three offsets', file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8, 9] } }, new Uint8Array(9)), 'data_offsets [0,8,9]'],
    ['size mismatch', file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), '(12 bytes) but its data_offsets 0..8 span 8 bytes'],
    ['offsets out of range', file({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)), "tensor 'a' claims bytes 0..16 but the data section has 8 bytes"],
    [
      'overlapping tensors',
      file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)),
      "tensors 'a' (bytes 0..8) and 'b' (bytes 4..12) overlap",
    ],
    ['element count overflow', file({ a: { dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, new Uint8Array(8)), 'too many elements'],
    ['byte count overflow', file({ a: { dtype: 'F64', shape: [2 ** 52], data_offsets: [0, 8] } }, new Uint8Array(8)), 'too many bytes'],
    ['non-string metadata', file({ __metadata__: { epoch: 3 }, ...f32x2 }, new Uint8Array(8)), `"__metadata__" entry 'epoch' must be a string`],
    ['metadata not an object', file({ __metadata__: 'x', ...f32x2 }, new Uint8Array(8)), '"__metadata__" must be an object'],
  ])('%s', (_what, bytes, text) => {
    const err = expectError(() => parseAll(bytes), 'E502', text);
    expect(err.diagnostics[0].message).toContain('bad.safetensors');
  });

  it('a truncated data section', () => {
    const good = serializeSafetensors({ w: { dtype: 'f32', shape: [4], data: new Float32Array(4) } });
    expectError(() => parseAll(good.subarray(0, good.length - 4)), 'E502', "tensor 'w' claims bytes 0..16 but the data section has 12 bytes");
  });

  it('unsupported dtypes fail only when the tensor is read, naming it and its dtype', () => {
    const bytes = file(
      {
        q: { dtype: 'F8_E5M2', shape: [2], data_offsets: [0, 2] },
        s: { dtype: 'I16', shape: [1], data_offsets: [2, 4] },
        w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
        p: { dtype: 'toString', shape: [1], data_offsets: [8, 8] },
      },
      new Uint8Array(8),
    );
    const f = parseSafetensors(bytes, 'mixed.safetensors');
    expect(f.get('w').data[0]).toBe(0);
    expect(f.info('q')).toEqual({ dtype: 'F8_E5M2', shape: [2] });
    expectError(() => f.get('q'), 'E502', "tensor 'q' has dtype F8_E5M2, which moec cannot read");
    expectError(() => f.get('s'), 'E502', "tensor 's' has dtype I16");
    expectError(() => f.get('p'), 'E502', "tensor 'p' has dtype toString");
  });

  it('I64 values outside the int32 range', () => {
    const data = new Uint8Array(16);
    new DataView(data.buffer).setBigInt64(8, 2n ** 31n, true);
    const bytes = file({ idx: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, data);
    expectError(() => parseAll(bytes), 'E502', "tensor 'idx' (I64) holds 2147483648 at element 1");
  });

  it('a missing tensor is E503 with a suggestion', () => {
    const f = parseSafetensors(serializeSafetensors({ 'layer.weight': { dtype: 'f32', shape: [1], data: new Float32Array(1) } }), 'm.safetensors');
    const err = expectError(() => f.get('layer.weigth'), 'E503', "no tensor named 'layer.weigth'");
    expect(err.diagnostics[0].hint).toContain('layer.weight');
    expectError(() => f.info('zzz'), 'E503', 'zzz');
  });

  it('no corruption or truncation escapes as anything but a MoecError', () => {
    const good = serializeSafetensors(
      {
        a: { dtype: 'f16', shape: [3], data: new Float32Array([1, 2, 3]) },
        b: { dtype: 'i64', shape: [2], data: new Int32Array([1, -1]) },
        c: { dtype: 'f32', shape: [2, 1], data: new Float32Array([5, 6]) },
      },
      { k: 'v' },
    );
    const attempt = (bytes: Uint8Array) => {
      try {
        parseAll(bytes);
      } catch (err) {
        if (!(err instanceof MoecError)) throw err;
      }
    };
    for (let len = 0; len < good.length; len++) attempt(good.subarray(0, len));
    for (let i = 0; i < good.length; i++) {
      for (const v of [0x00, 0x22, 0x2d, 0x39, 0x5b, 0x7d, 0xff]) {
        const bad = good.slice();
        bad[i] = v;
        attempt(bad);
      }
    }
  });
});

describe('a file written by Python', () => {
  // test/fixtures/python-written.safetensors was written by this numpy-free snippet (Python
  // 3), so that our reader is checked against an independent writer. Its header is not
  // padded, so the tensors sit at unaligned offsets, and entries are not in name order.
  //
  //   import json, struct
  //   tensors = [  # (name, dtype, shape, little-endian bytes), deliberately not in name order
  //       ("i32", "I32", [3], struct.pack("<3i", -2147483648, 7, 2147483647)),
  //       ("w", "F32", [2, 3], struct.pack("<6f", 1.5, -2.25, 0.1, 3e38, -1e-45, 0.0)),
  //       ("h", "F16", [2], struct.pack("<2e", -65504.0, 2.0**-24)),
  //       ("b", "BF16", [2], struct.pack("<f", 3.140625)[2:] + struct.pack("<f", -(2.0**-133))[2:]),
  //   ]
  //   header, data = {"__metadata__": {"format": "pt", "writer": "python struct"}}, b""
  //   for name, dtype, shape, raw in tensors:
  //       header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
  //       data += raw
  //   h = json.dumps(header).encode()
  //   open("test/fixtures/python-written.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + data)
  it('reads exactly the values Python wrote', () => {
    const f = readSafetensors(fileURLToPath(FIXTURE));
    expect(f.metadata).toEqual({ format: 'pt', writer: 'python struct' });
    expect(f.names()).toEqual(['b', 'h', 'i32', 'w']);
    expect(f.info('w')).toEqual({ dtype: 'F32', shape: [2, 3] });
    const w = f.get('w');
    expect(w.dtype).toBe('f32');
    expect(w.shape).toEqual([2, 3]);
    expect(Array.from(w.data)).toEqual([1.5, -2.25, 0.1, 3e38, -1e-45, 0].map(Math.fround));
    expect(f.get('i32')).toEqual({ dtype: 'i32', shape: [3], data: new Int32Array([-(2 ** 31), 7, 2 ** 31 - 1]) });
    expect(f.get('h')).toEqual({ dtype: 'f16', shape: [2], data: new Float32Array([-65504, 2 ** -24]) });
    expect(f.get('b')).toEqual({ dtype: 'bf16', shape: [2], data: new Float32Array([3.140625, -(2 ** -133)]) });
  });
});

describe('files on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'moec-st-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const t: Tensor = { dtype: 'bf16', shape: [2], data: new Float32Array([1, -2]) };

  it('writes atomically and reads back, replacing an existing file', () => {
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, { t }, { step: '1' });
    writeSafetensors(path, { t, u: t }, { step: '2' });
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
    const f = readSafetensors(path);
    expect(f.metadata).toEqual({ step: '2' });
    expect(f.names()).toEqual(['t', 'u']);
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(serializeSafetensors({ t, u: t }, { step: '2' })))).toBe(true);
  });

  it('a missing directory is E506 and leaves nothing behind', () => {
    expectError(() => writeSafetensors(join(dir, 'nope', 'm.safetensors'), { t }), 'E506', 'no such directory');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a failed rename removes the temp file', () => {
    // The target is a non-empty directory, so the temp file is written but cannot replace it.
    const target = join(dir, 'm.safetensors');
    mkdirSync(join(target, 'inside'), { recursive: true });
    expectError(() => writeSafetensors(target, { t }), 'E506', target);
    expect(readdirSync(dir)).toEqual(['m.safetensors']);
  });

  it('an unreadable file is E501 with the reason', () => {
    expectError(() => readSafetensors(join(dir, 'missing.safetensors')), 'E501', 'no such file');
    expectError(() => readSafetensors(dir), 'E501', 'is a directory');
  });
});

describe('quantized codes', () => {
  it('F8_E4M3 reads and writes the code bytes, one per element', () => {
    // Independent encoding: 1.0 is exponent 7 (0x38), -448 is 0xfe, the smallest subnormal 0x01.
    const bytes = file({ q: { dtype: 'F8_E4M3', shape: [2, 2], data_offsets: [0, 4] } }, [0x38, 0xfe, 0x01, 0x7f]);
    const q = parseSafetensors(bytes, 'fp8.safetensors').get('q');
    expect(q).toEqual({ dtype: 'fp8e4m3', shape: [2, 2], data: new Int32Array([0x38, 0xfe, 0x01, 0x7f]) });
    expect(Array.from(q.data, fp8e4m3Decode).slice(0, 3)).toEqual([1, -448, 2 ** -9]);
    const back = serializeSafetensors({ q });
    expect(Buffer.from(back).equals(Buffer.from(serializeSafetensors({ q: { ...q } })))).toBe(true);
    const again = parseSafetensors(back, 'mem');
    expect(again.info('q')).toEqual({ dtype: 'F8_E4M3', shape: [2, 2] });
    expect(again.get('q')).toEqual(q);
    expectError(() => serializeSafetensors({ q: { dtype: 'fp8e4m3', shape: [1], data: new Int32Array([256]) } }), 'E504', '256');
  });

  it('i4 is written as U8 [.., K/2], even index in the low nibble, and read back with packedI4', () => {
    const codes = new Int32Array([1, -1, 7, -8, 0, 3, -2, 5]);
    const bytes = serializeSafetensors({ w: { dtype: 'i4', shape: [2, 4], data: codes } });
    const f = parseSafetensors(bytes, 'i4.safetensors');
    expect(f.info('w')).toEqual({ dtype: 'U8', shape: [2, 2] });
    // Hand-packed: (1, -1) -> 0xf1, (7, -8) -> 0x87, (0, 3) -> 0x30, (-2, 5) -> 0x5e.
    expect(Array.from(f.get('w').data)).toEqual([0xf1, 0x87, 0x30, 0x5e]);
    expect(f.get('w', { packedI4: true })).toEqual({ dtype: 'i4', shape: [2, 4], data: codes });
    expectError(() => serializeSafetensors({ w: { dtype: 'i4', shape: [3], data: new Int32Array(3) } }), 'E504', 'even last axis');
    expectError(() => serializeSafetensors({ w: { dtype: 'i4', shape: [2], data: new Int32Array([8, 0]) } }), 'E504', 'holds 8');
  });

  it('F8_E4M3 offsets are checked at one byte per element', () => {
    const bytes = file({ q: { dtype: 'F8_E4M3', shape: [2, 2], data_offsets: [0, 8] } }, new Uint8Array(8));
    expectError(() => parseAll(bytes), 'E502', "tensor 'q' is F8_E4M3 [2, 2] (4 bytes) but its data_offsets 0..8 span 8 bytes");
  });

  it('packedI4 on a tensor that is not U8 is E502, naming it', () => {
    const f = parseSafetensors(serializeSafetensors({ w: { dtype: 'f32', shape: [2], data: new Float32Array(2) } }), 'x.safetensors');
    expectError(() => f.get('w', { packedI4: true }), 'E502', "tensor 'w' should hold packed i4 codes (U8 [.., K/2]) but it is F32 [2]");
  });
});

describe('reading from disk by offset', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'moec-st-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a tensor past 2 GiB of a sparse 3 GB file without reading the rest', () => {
    // The padding tensor is never written: the file is sparse, so this costs no disk.
    const pad = 3_000_000_000;
    const header = JSON.stringify({
      pad: { dtype: 'U8', shape: [pad], data_offsets: [0, pad] },
      w: { dtype: 'F32', shape: [2], data_offsets: [pad, pad + 8] },
    });
    const json = new TextEncoder().encode(header);
    const path = join(dir, 'big.safetensors');
    const head = new Uint8Array(8 + json.length);
    new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
    head.set(json, 8);
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, head, 0, head.length, 0);
      writeSync(fd, new Uint8Array(new Float32Array([1.5, -2]).buffer), 0, 8, head.length + pad);
    } finally {
      closeSync(fd);
    }
    expect(statSync(path).size).toBe(head.length + pad + 8);
    const f = readSafetensors(path);
    expect(f.info('pad')).toEqual({ dtype: 'U8', shape: [pad] });
    expect(f.get('w')).toEqual({ dtype: 'f32', shape: [2], data: new Float32Array([1.5, -2]) });
  });

  it('checks the header against the file size, not against what was read', () => {
    const path = join(dir, 'short.safetensors');
    writeFileSync(path, file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8), 1000n));
    expectError(() => readSafetensors(path), 'E502', 'header claims 1000 bytes but the file has only');
    writeFileSync(path, file({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)));
    expectError(() => readSafetensors(path), 'E502', "tensor 'a' claims bytes 0..16 but the data section has 8 bytes");
    writeFileSync(path, new Uint8Array(5));
    expectError(() => readSafetensors(path), 'E502', 'file is 5 bytes, too short');
    writeFileSync(path, file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)));
    expectError(() => readSafetensors(path), 'E502', 'overlap');
  });

  it('a file truncated after its header was read is E501 when a tensor is read, not a short tensor', () => {
    const path = join(dir, 'm.safetensors');
    writeSafetensors(path, { w: { dtype: 'f32', shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
    const f = readSafetensors(path);
    truncateSync(path, statSync(path).size - 4);
    expectError(() => f.get('w'), 'E501', 'the file ended at byte');
  });
});
