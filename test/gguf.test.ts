/**
 * GGUF (llama.cpp's format), against fixtures written by the `gguf` Python package
 * (test/fixtures/gen_gguf_fixtures.py):
 * - `moec import model.gguf` builds the same decoder as the config.json it was converted from
 *   (the hf-tiny configs for Mixtral, Qwen2-MoE, Qwen3-MoE, and a D = F = 32 Mixtral).
 * - `--weights model.gguf` with F32 tensors gives exactly the logits of the safetensors
 *   fixture of the same weights (so the stacked experts, the names and llama.cpp's q/k row
 *   order are all undone right), and those match the numpy reference within 1e-5.
 * - Q8_0 and Q4_0 files give exactly the logits of the same weights dequantized by gguf-py
 *   (interpreter); a Q4_0 file into an i4 (groups of 32) model takes its codes as they are.
 * - Hostile files (truncated, lengths past the end, huge counts, unknown types) are E510 (or
 *   E504 for a tensor type moec does not read) in bounded time, never a crash or a hang.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../compiler/cli/cli.ts';
import { inputsFromSafetensors, randomInputs, weightsFromSafetensors } from '../compiler/driver.ts';
import { quantizeModule } from '../compiler/driver-core.ts';
import { importGguf } from '../compiler/import/gguf.ts';
import { importHfConfig } from '../compiler/import/index.ts';
import { renderDecoder } from '../compiler/import/decoder.ts';
import { openCheckpoint } from '../ir/checkpoint.ts';
import { MoecError } from '../ir/diagnostics.ts';
import { roundToBf16, roundToF16 } from '../ir/float16.ts';
import { readGguf } from '../ir/gguf.ts';
import { interpret } from '../ir/graph/interp.ts';
import { readSafetensors } from '../ir/safetensors.ts';

const G = 'test/fixtures/gguf';
const TINY = 'test/fixtures/hf-tiny';

/** The decoder an import builds, without the header lines that name the file it came from. */
const body = (r: { spec: Parameters<typeof renderDecoder>[0] }): string => renderDecoder({ ...r.spec, doc: [] });

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('moec import model.gguf', () => {
  for (const [gguf, json] of [['mixtral-f32', 'hf-tiny/mixtral'], ['qwen2_moe-f32', 'hf-tiny/qwen2_moe'], ['qwen3_moe-f32', 'hf-tiny/qwen3_moe'], ['mixtral32-q8_0', 'gguf/mixtral32']])
    it(`${gguf}.gguf imports to the same decoder as ${json}.json`, () => {
      const fromGguf = importGguf(`${G}/${gguf}.gguf`);
      const path = `test/fixtures/${json}.json`;
      const fromJson = importHfConfig(readFileSync(path, 'utf8'), path);
      expect(body(fromGguf)).toBe(body(fromJson));
      expect(fromGguf.architecture).toBe(fromJson.architecture);
      expect(fromGguf.text).toContain(`imported from ${G}/${gguf}.gguf by moec import`);
    });

  it('an architecture moec does not import is E802 naming it', () => {
    const bytes = Buffer.from(readFileSync(`${G}/mixtral-f32.gguf`));
    const at = bytes.indexOf('llama');
    bytes.write('gemma', at, 'latin1');
    const path = join(mkdtempSync(join(tmpdir(), 'moec-gguf-')), 'gemma.gguf');
    writeFileSync(path, bytes);
    expect(() => importGguf(path)).toThrow(/E802: .*GGUF architecture "gemma" is not an architecture moec imports/);
  });
});

describe('--weights model.gguf', () => {
  for (const name of ['mixtral', 'qwen2_moe', 'qwen3_moe'])
    it(`${name}: F32 GGUF weights give exactly the logits of the safetensors fixture (and the numpy reference within 1e-5)`, () => {
      const fx = `${TINY}/${name}-t3.safetensors`;
      const file = readSafetensors(fx);
      const m = importGguf(`${G}/${name}-f32.gguf`).module;
      const bindings = { T: 3, L: Number(file.metadata.cache) };
      const inputs = inputsFromSafetensors(m, file, fx);
      const fromGguf = interpret(m, { bindings, inputs, weights: weightsFromSafetensors(m, openCheckpoint(`${G}/${name}-f32.gguf`), 'x.gguf') }).logits.data;
      const fromSt = interpret(m, { bindings, inputs, weights: weightsFromSafetensors(m, file, fx) }).logits.data;
      expect(Array.from(fromGguf)).toEqual(Array.from(fromSt));
      expect(maxAbs(fromGguf, file.get('logits').data)).toBeLessThan(1e-5);
    });

  for (const [gguf, name, round] of [['mixtral-f16-split', 'mixtral', roundToF16], ['qwen3_moe-bf16', 'qwen3_moe', roundToBf16]] as const)
    it(`${gguf}.gguf: every weight is the safetensors fixture's rounded to ${gguf.split('-')[1].toUpperCase()} (matrices) or as it is`, () => {
      const fx = `${TINY}/${name}-t3.safetensors`;
      const file = readSafetensors(fx);
      const m = importGguf(`${G}/${gguf}.gguf`).module;
      const got = weightsFromSafetensors(m, openCheckpoint(`${G}/${gguf}.gguf`), 'x.gguf');
      const want = weightsFromSafetensors(m, file, fx);
      for (const [k, t] of Object.entries(want)) {
        const matrix = !/(ln\d|norm)$/.test(k);
        expect(Array.from(got[k].data), k).toEqual(Array.from(t.data, (v) => (matrix ? round(v) : v)));
      }
      const bindings = { T: 3, L: Number(file.metadata.cache) };
      const logits = interpret(m, { bindings, inputs: inputsFromSafetensors(m, file, fx), weights: got }).logits.data;
      expect(maxAbs(logits, file.get('logits').data)).toBeLessThan(0.05);
    });

  for (const q of ['q8_0', 'q4_0'])
    it(`${q.toUpperCase()}: the model run on the GGUF file equals the same weights dequantized by gguf-py, exactly`, () => {
      const m = importGguf(`${G}/mixtral32-${q}.gguf`).module;
      const bindings = { T: 4, L: 3 };
      const inputs = randomInputs(m, bindings, 7);
      const notes: string[] = [];
      const w = weightsFromSafetensors(m, openCheckpoint(`${G}/mixtral32-${q}.gguf`), 'x.gguf', { note: (s) => notes.push(s) });
      const deq = weightsFromSafetensors(m, readSafetensors(`${G}/mixtral32-${q}-deq.safetensors`), 'deq');
      for (const k of Object.keys(deq)) expect(Array.from(w[k].data), k).toEqual(Array.from(deq[k].data));
      expect(notes.length).toBeGreaterThan(0);
      const a = interpret(m, { bindings, inputs, weights: w }).logits.data;
      const b = interpret(m, { bindings, inputs, weights: deq }).logits.data;
      expect(Array.from(a)).toEqual(Array.from(b));
    });

  it('Q4_0 into an i4 model (groups of 32) takes the codes and scales as they are, and computes the dequantized values', () => {
    const f32 = importGguf(`${G}/mixtral32-q4_0.gguf`).module;
    const m = quantizeModule(f32, 'i4');
    const notes: string[] = [];
    const w = weightsFromSafetensors(m, openCheckpoint(`${G}/mixtral32-q4_0.gguf`), 'x.gguf', { note: (s) => notes.push(s) });
    const quantized = Object.values(w).filter((t) => t.quant);
    expect(quantized.length).toBeGreaterThan(0);
    for (const t of quantized) expect(t.quant!.group).toBe(32);
    // Codes down to -8 (Q4_0's range) survive: nothing was requantized.
    expect(quantized.some((t) => (t.data as Int32Array).includes(-8))).toBe(true);
    expect(notes.filter((n) => /requantiz/.test(n))).toEqual([]);
    const bindings = { T: 2, L: 1 };
    const inputs = randomInputs(f32, bindings, 3);
    const a = interpret(m, { bindings, inputs, weights: w }).logits.data;
    const deq = weightsFromSafetensors(f32, readSafetensors(`${G}/mixtral32-q4_0-deq.safetensors`), 'deq');
    const b = interpret(f32, { bindings, inputs, weights: deq }).logits.data;
    expect(maxAbs(a, b)).toBeLessThan(1e-4);
  });

  it('the CLI: moec import x.gguf -o m.moe, then moec run m.moe --weights x.gguf', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-gguf-'));
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    expect(await main(['import', `${G}/mixtral32-q8_0.gguf`, '-o', join(dir, 'm.moe')], io)).toBe(0);
    expect(out.join('\n')).toMatch(/wrote .*m\.moe: MixtralForCausalLM, 1 layers/);
    expect(await main(['run', join(dir, 'm.moe'), '--weights', `${G}/mixtral32-q8_0.gguf`, '--tokens', '2', '--context', '1'], io)).toBe(0);
    expect(out.join('\n')).toContain('logits');
  });
});

// ---------------------------------------------------------------------------------------

/** Writes bytes to a fresh file and returns the error reading it as a checkpoint gives. */
function hostile(bytes: Uint8Array): MoecError {
  const path = join(mkdtempSync(join(tmpdir(), 'moec-gguf-')), 'bad.gguf');
  writeFileSync(path, bytes);
  const t0 = Date.now();
  try {
    const ck = openCheckpoint(path);
    for (const n of ck.names()) ck.get(n);
  } catch (e) {
    expect(Date.now() - t0).toBeLessThan(2000);
    if (!(e instanceof MoecError)) throw e;
    return e;
  }
  throw new Error('no error');
}

/** A GGUF header by hand: the fields in order (u32/u64/strings as given), then `pad` zero bytes. */
type Part = ['u32' | 'u64' | 'f32', number | bigint] | ['str', string];
function header(parts: Part[], pad = 0): Uint8Array {
  const chunks: Buffer[] = [Buffer.from('GGUF', 'latin1')];
  for (const [kind, v] of parts) {
    if (kind === 'str') {
      const s = Buffer.from(v as string);
      const n = Buffer.alloc(8);
      n.writeBigUInt64LE(BigInt(s.length));
      chunks.push(n, s);
    } else {
      const b = Buffer.alloc(kind === 'u64' ? 8 : 4);
      if (kind === 'u32') b.writeUInt32LE(Number(v));
      else if (kind === 'f32') b.writeFloatLE(Number(v));
      else b.writeBigUInt64LE(BigInt(v));
      chunks.push(b);
    }
  }
  chunks.push(Buffer.alloc(pad));
  return Buffer.concat(chunks);
}

describe('hostile GGUF files', () => {
  const good = readFileSync(`${G}/mixtral32-q8_0.gguf`);
  const f = readGguf(`${G}/mixtral32-q8_0.gguf`);

  it('a file cut short anywhere is an error naming what it ended in', () => {
    const dataStart = Math.min(...[...f.tensors.values()].map((t) => t.offset));
    for (const cut of [0, 3, 6, 20, 100, 1000, dataStart - 5, dataStart + 7, good.length - 1]) {
      const e = hostile(good.subarray(0, cut));
      expect(['E510', 'E501'], `cut at ${cut}: ${e.message}`).toContain(e.diagnostics[0].code);
    }
    expect(hostile(good.subarray(0, good.length - 1)).message).toMatch(/E510: .*past the end of the file/);
  });

  it('a huge tensor or metadata count, a string past the end, an unknown value type, version 1: E510 at once', () => {
    expect(hostile(header([['u32', 3], ['u64', 2n ** 52n], ['u64', 0]])).message).toMatch(/E510: .*the tensor count is 4503599627370496, but the 8 bytes left/);
    expect(hostile(header([['u32', 3], ['u64', 0], ['u64', 2n ** 63n]])).message).toMatch(/E510: .*the metadata count is 9223372036854775808, larger than any file/);
    expect(hostile(header([['u32', 3], ['u64', 0], ['u64', 1], ['u64', 1n << 40n]], 64)).message).toMatch(/E510: .*metadata key 0 at byte 24 is 1099511627776 bytes long/);
    expect(hostile(header([['u32', 3], ['u64', 0], ['u64', 1], ['str', 'k'], ['u32', 99], ['u64', 0]], 64)).message).toMatch(/E510: .*"k" has value type 99, which is not a GGUF type/);
    expect(hostile(header([['u32', 3], ['u64', 0], ['u64', 1], ['str', 'k'], ['u32', 9], ['u32', 8], ['u64', 2n ** 40n]], 64)).message).toMatch(/E510: .*the length of "k" is 1099511627776, but the 64 bytes left/);
    expect(hostile(header([['u32', 1], ['u64', 0], ['u64', 0]])).message).toMatch(/E510: .*GGUF version 1 is not supported/);
    expect(hostile(Buffer.from('GGML and more bytes')).message).toMatch(/E510: .*not a GGUF file/);
  });

  it('a tensor of a type moec does not read is E504 naming it; a tensor past the end or overlapping another is E510', () => {
    const base: Part[] = [['u32', 3], ['u64', 1], ['u64', 1], ['str', 'general.architecture'], ['u32', 8], ['str', 'llama']];
    const tensor = (type: number, offset: number, ne = 32): Part[] => [['str', 'output_norm.weight'], ['u32', 1], ['u64', ne], ['u32', type], ['u64', offset]];
    const pad = (h: Uint8Array, data: number): Uint8Array => Buffer.concat([h, Buffer.alloc((32 - (h.length % 32)) % 32 + data)]);
    expect(hostile(pad(header([...base, ...tensor(12, 0)]), 256)).message).toMatch(/E504: .*"output_norm.weight" is ggml type 12, which moec does not read/);
    expect(hostile(pad(header([...base, ...tensor(0, 0)]), 64)).message).toMatch(/E510: .*"output_norm.weight" needs bytes \d+\.\.\d+, past the end of the file/);
    expect(hostile(pad(header([...base, ...tensor(0, 2 ** 50)]), 64)).message).toMatch(/E510: .*past the end of the file/);
    expect(hostile(pad(header([...base, ...tensor(0, 3)]), 256)).message).toMatch(/E510: .*not a multiple of the alignment 32/);
    const dims = (ne: Array<number | bigint>): Part[] => [['str', 'output_norm.weight'], ['u32', ne.length], ...ne.map((d): Part => ['u64', d]), ['u32', 0], ['u64', 0]];
    expect(hostile(pad(header([...base, ...dims([2n ** 40n, 2n ** 40n])]), 64)).message).toMatch(/E510: .*"output_norm.weight" has dims \[1099511627776, 1099511627776\], 1.21e\+24 elements, more than any file holds/);
    expect(hostile(pad(header([...base, ...dims([1, 1, 1, 1, 1])]), 64)).message).toMatch(/E510: .*"output_norm.weight" has 5 dimensions; ggml tensors have 1 to 4/);
    expect(hostile(pad(header([...base, ...tensor(8, 0, 33)]), 256)).message).toMatch(/E510: .*is Q8_0 with rows of 33 elements, not a multiple of its block of 32/);
  });

  it('a tokenizer of 300 000 strings is walked, not kept, in bounded time; one string cut short is E510', () => {
    const n = 300_000;
    const item = Buffer.alloc(8 + 6);
    item.writeBigUInt64LE(6n);
    item.write('<tok_>', 8);
    const tokens = Buffer.concat([header([['u32', 3], ['u64', 0], ['u64', 1], ['str', 'tokenizer.ggml.tokens'], ['u32', 9], ['u32', 8], ['u64', n]]), Buffer.alloc(item.length * n, item)]);
    const path = join(mkdtempSync(join(tmpdir(), 'moec-gguf-')), 'tok.gguf');
    writeFileSync(path, tokens);
    const t0 = Date.now();
    expect(readGguf(path).metadata.get('tokenizer.ggml.tokens')).toEqual({ array: 8, count: n });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(hostile(tokens.subarray(0, tokens.length - 3)).message).toMatch(/E510: .*item 299999 of "tokenizer.ggml.tokens" at byte \d+ needs 6 bytes, but the file ends/);
  });

  it('metadata that is missing a key is E804 naming it; a rope_freqs tensor (Llama 3 rope scaling) is E803, not ignored; one whose config fails shows that config line, not the binary file', async () => {
    const kv = (key: string, type: number, v: Part): Part[] => [['str', key], ['u32', type], v];
    const meta = (heads: number): Part[] => [
      ...kv('general.architecture', 8, ['str', 'qwen3moe']),
      ...kv('qwen3moe.block_count', 4, ['u32', 1]),
      ...kv('qwen3moe.embedding_length', 4, ['u32', 16]),
      ...kv('qwen3moe.context_length', 4, ['u32', 64]),
      ...kv('qwen3moe.attention.layer_norm_rms_epsilon', 6, ['f32', 1e-6]),
      ...kv('qwen3moe.expert_count', 4, ['u32', 4]),
      ...kv('qwen3moe.expert_used_count', 4, ['u32', 2]),
      ...kv('qwen3moe.expert_feed_forward_length', 4, ['u32', 8]),
      ...kv('qwen3moe.vocab_size', 4, ['u32', 32]),
      ...(heads > 0 ? kv('qwen3moe.attention.head_count', 4, ['u32', heads]) : []),
    ];
    const dir = mkdtempSync(join(tmpdir(), 'moec-gguf-'));
    // Each kv above is a key string plus one value; the architecture's value is a string too.
    const count = (heads: number): number => meta(heads).length / 3;
    const file = (name: string, heads: number): string => {
      writeFileSync(join(dir, name), header([['u32', 3], ['u64', 0], ['u64', count(heads)], ...meta(heads)]));
      return join(dir, name);
    };
    const ropeFreqs = join(dir, 'rope_freqs.gguf');
    writeFileSync(ropeFreqs, Buffer.concat([header([['u32', 3], ['u64', 1], ['u64', 1], ['str', 'general.architecture'], ['u32', 8], ['str', 'llama'], ['str', 'rope_freqs.weight'], ['u32', 1], ['u64', 8], ['u32', 0], ['u64', 0]]), Buffer.alloc(96)]));
    expect(() => importGguf(ropeFreqs)).toThrow(/E803: .*scales rope by a rope_freqs tensor \(Llama 3 style\)/);
    expect(() => importGguf(file('noheads.gguf', 0))).toThrow(/E804: .*the GGUF metadata has no `qwen3moe.attention.head_count`/);
    const err: string[] = [];
    expect(await main(['import', file('heads3.gguf', 3)], { out: () => {}, err: (s) => err.push(s) })).toBe(1);
    expect(err.join('\n')).toContain('error E804: num_attention_heads: hidden_size 16 does not split into 3 heads');
    expect(err.join('\n')).toContain('"num_attention_heads": 3,');
    expect(err.join('\n')).toContain("GGUF metadata as the config.json moec imports");
    expect(err.join('\n')).not.toContain('GGUF\u0003');
  });
});
