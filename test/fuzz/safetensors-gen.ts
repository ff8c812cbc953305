/**
 * @fileoverview Safetensors inputs for fuzzing: headers built from awkward parts (wrong
 * dtypes, shapes with huge or negative dims, offsets out of range, overlapping or reversed,
 * a header length past the end of the file or absurdly large, non-JSON, non-objects, a
 * tensor named twice) and
 * byte-level mutations of a valid file (flips, truncation, extension, a rewritten length).
 */
import fc from 'fast-check';

const DTYPES = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I8', 'U8', 'BOOL', 'U16', 'C64', 'F8_E4M3', 'F4', 'f32', '', 'F32 '];
const AWKWARD_INTS = [0, 1, 2, 3, 4, 7, 8, 16, 255, 256, 65536, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 53 + 2, -1, 1.5, 1e308];

const awkwardInt = fc.oneof(fc.constantFrom(...AWKWARD_INTS), fc.integer({ min: 0, max: 300 }));
const jsonish: fc.Arbitrary<unknown> = fc.oneof(awkwardInt, fc.string({ maxLength: 4 }), fc.constant(null), fc.boolean(), fc.array(awkwardInt, { maxLength: 3 }));

const entry = fc.record(
  {
    dtype: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...DTYPES) }, { weight: 1, arbitrary: jsonish }),
    shape: fc.oneof({ weight: 5, arbitrary: fc.array(awkwardInt, { maxLength: 4 }) }, { weight: 1, arbitrary: jsonish }),
    data_offsets: fc.oneof({ weight: 5, arbitrary: fc.tuple(awkwardInt, awkwardInt) }, { weight: 1, arbitrary: jsonish }),
  },
  { requiredKeys: [] },
);

/** Names from the model under test (so decoding and weight lookup are reached) and odd ones. */
function nameArb(names: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(fc.constantFrom(...names), fc.constantFrom('__proto__', 'constructor', '', 'a', 'mlp.experts.0.gate_proj.weight', 'mlp.experts.9.up_proj.weight', 'mlp.gate.weight'));
}

/** A file from a generated header: tensors, metadata, a data section, and a length field that may lie. */
function builtFile(names: readonly string[]): fc.Arbitrary<Uint8Array> {
  return fc
    .record({
      tensors: fc.array(fc.tuple(nameArb(names), entry), { maxLength: 5 }),
      metadata: fc.option(fc.oneof(fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }), { maxKeys: 2 }), jsonish)),
      raw: fc.option(fc.oneof(fc.constantFrom('', '[]', 'null', '{', '"x"', '{"a":1}', '\u00ff'), fc.string({ maxLength: 12 }))),
      dataLen: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(256, 1024)),
      duplicate: fc.boolean(),
      lengthField: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }, { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }) }),
    })
    .map(({ tensors, metadata, raw, duplicate, dataLen, lengthField }) => {
      const header: Record<string, unknown> = {};
      if (metadata !== null) header.__metadata__ = metadata;
      for (const [n, e] of tensors) Object.defineProperty(header, n, { value: e, enumerable: true, writable: true, configurable: true });
      // A tensor named twice: JSON.parse keeps the last silently, a reader must refuse it.
      const json = JSON.stringify(header);
      const first = tensors[0];
      const twice = duplicate && first && json.length > 2 ? `{${JSON.stringify(first[0])}:${JSON.stringify(first[1])},${json.slice(1)}` : json;
      const text = new TextEncoder().encode(raw ?? twice);
      const data = new Uint8Array(dataLen).map((_, i) => (i * 37) & 255);
      const out = new Uint8Array(8 + text.length + data.length);
      const claimed = lengthField === undefined ? BigInt(text.length) : typeof lengthField === 'bigint' ? lengthField : BigInt(Math.max(0, text.length + lengthField));
      new DataView(out.buffer).setBigUint64(0, claimed, true);
      out.set(text, 8);
      out.set(data, 8 + text.length);
      return out;
    });
}

/** A valid file with a few bytes changed, cut short or extended. */
function mutatedFile(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x22, 0x7b, 0x7d, 0x2c, 0x30, 0x39, 0x2d)) }),
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('extend' as const), by: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ op: fc.constant('digit' as const), at: fc.nat(), byte: fc.integer({ min: 0x30, max: 0x39 }) }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    let b = new Uint8Array(valid);
    const headerEnd = 8 + Number(new DataView(valid.buffer, valid.byteOffset).getBigUint64(0, true));
    for (const e of edits) {
      if (b.length === 0) break;
      if (e.op === 'set') b[e.at % b.length] = e.byte;
      else if (e.op === 'truncate') b = b.slice(0, e.at % b.length);
      else if (e.op === 'extend') b = Uint8Array.from([...b, ...new Uint8Array(e.by)]);
      else {
        // A digit inside the header: a shape or an offset changes value.
        const digits = [];
        for (let i = 8; i < Math.min(headerEnd, b.length); i++) if (b[i] >= 0x30 && b[i] <= 0x39) digits.push(i);
        if (digits.length > 0) b[digits[e.at % digits.length]] = e.byte;
      }
    }
    return b;
  });
}

export function safetensorsBytes(valid: Uint8Array, names: readonly string[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(builtFile(names), mutatedFile(valid), fc.uint8Array({ maxLength: 24 }));
}
