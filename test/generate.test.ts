/**
 * `moec generate` and `generate(model, opts)` (compiler/generate/): greedy generation with the
 * KV cache as state (prefill, then one token per call) picks, step by step, the argmax of the
 * graph interpreter's full recomputation without a cache (the prompt and everything generated
 * so far, L = 0), for imported Qwen3-MoE and DeepSeek-V3 (MLA) models; C, Wasm and WGSL, their
 * state in the loaded model, give the same tokens as the reference; sampling is the same for
 * a seed and keeps to top-k / top-p; text prompts go through the tokenizer.json beside the
 * model and the generated text streams whole characters; bad input is a clear error.
 */
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate as generateFromIndex } from '../compiler/index.ts';
import { compile, compileFile, randomWeights } from '../compiler/driver.ts';
import { type GenerateOptions, type GeneratedToken, generate } from '../compiler/generate/generate.ts';
import { Sampler } from '../compiler/generate/sampling.ts';
import { concreteShape } from '../compiler/checkpoint/load-weights.ts';
import { mainFunc, type Module } from '../ir/graph/graph.ts';
import { interpret } from '../ir/graph/interp.ts';
import type { Tensor } from '../ir/tensor.ts';
import { cli } from './capture.ts';
import { missingAdapter } from './backends/wgsl-harness.ts';
import { REDUCED } from './whole-model-backends.ts';

const QWEN3_TINY = 'test/fixtures/hf-tiny/qwen3_moe.json';
const DEEPSEEK_TINY = 'test/fixtures/hf-tiny/deepseek_v3.json';
/** A decoder without rope (test/fixtures/generate-lm.moe): dim T <= 16, vocab 40. */
const LM = 'test/fixtures/generate-lm.moe';
/** A tiny Qwen3-MoE config with a byte-level BPE tokenizer.json beside it (vocab 263 of 264). */
const WITH_TOKENIZER = 'test/fixtures/hf-tokenizer';

async function collect(model: Module | string, opts: GenerateOptions): Promise<{ tokens: GeneratedToken[]; stats: NonNullable<ReturnType<typeof generate>['stats']> }> {
  const gen = generate(model, opts);
  const tokens: GeneratedToken[] = [];
  for await (const t of gen) tokens.push(t);
  return { tokens, stats: gen.stats! };
}

/** The graph interpreter on the whole sequence from an empty cache: the last row of the logits. */
function recompute(m: Module, weights: Record<string, Tensor>, ids: number[]): Float32Array {
  const main = mainFunc(m);
  const bindings = { T: ids.length, L: 0 };
  const inputs: Record<string, Tensor> = {};
  for (const p of main.params) {
    const shape = concreteShape(p.type.shape, bindings, p);
    inputs[p.name] = p.type.dtype === 'i32' ? { dtype: 'i32', shape, data: Int32Array.from(ids) } : { dtype: 'f32', shape, data: new Float32Array(0) };
  }
  const logits = interpret(m, { bindings, inputs, weights }).logits;
  const V = logits.shape[1];
  return Float32Array.from(logits.data.subarray((ids.length - 1) * V));
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

function logSoftmax(row: Float32Array, id: number): number {
  const max = Math.max(...row);
  return row[id] - max - Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
}

describe('greedy generation with the KV cache as state', () => {
  const cases: Array<[string, string, Record<string, number>]> = [
    ['Qwen3-MoE (tiny config)', QWEN3_TINY, {}],
    ['DeepSeek-V3 with MLA (tiny config)', DEEPSEEK_TINY, {}],
    ['Qwen3-30B-A3B\'s config at --set sizes', 'examples/hf/Qwen3-30B-A3B/config.json', { V: 48, D: 16, LAYERS: 2, E: 4, K: 2, F: 8, H: 2, G: 1, HD: 8 }],
  ];
  for (const [what, path, consts] of cases)
    it(`${what}: each token is the argmax of the interpreter's full recomputation without a cache`, async () => {
      const m = compileFile(path, { consts });
      const weights = randomWeights(m, 5);
      const prompt = [1, 7, 3, 12];
      const { tokens, stats } = await collect(path, { promptIds: prompt, maxNewTokens: 6, weights, consts });
      expect(tokens).toHaveLength(6);
      const seq = [...prompt];
      for (const t of tokens) {
        const row = recompute(m, weights, seq);
        expect(t.id).toBe(argmax(row));
        expect(t.logprob).toBeCloseTo(logSoftmax(row, t.id), 4);
        seq.push(t.id);
      }
      // Not one token repeated: the cache must carry the sequence for this to hold
      expect(new Set(tokens.map((t) => t.id)).size).toBeGreaterThan(1);
      expect(stats).toMatchObject({ backend: 'ref', promptIds: prompt, ids: tokens.map((t) => t.id), maxContext: 10, decodeSteps: 5 });
      expect(stats.prefillTokensPerSecond).toBeGreaterThan(0);
      expect(stats.decodeGBPerSecond).toBeGreaterThan(0);
    });

  it('a prompt longer than the token bound prefills in chunks, each after the last: the same tokens as one prefill (was: E505)', async () => {
    const text = readFileSync(LM, 'utf8');
    const m16 = compile(text, { path: LM }); // dim T <= 16: 20 prompt tokens prefill as 16 + 4
    const m64 = compile(text.replace('dim T <= 16', 'dim T <= 64'), { path: LM }); // one call of 20
    const prompt = Array.from({ length: 20 }, (_, i) => (i * 7) % 40);
    const opts = { promptIds: prompt, maxNewTokens: 5, temperature: 1, seed: 4 };
    const chunked = await collect(m16, opts);
    const whole = await collect(m64, opts);
    expect(chunked.tokens.map((t) => t.id)).toEqual(whole.tokens.map((t) => t.id));
    chunked.tokens.forEach((t, i) => expect(t.logprob).toBeCloseTo(whole.tokens[i].logprob, 5));
  });

  it('the weights one decode step reads are the active weights of one token, as moec analyze counts them', async () => {
    const { stats } = await collect(LM, { promptIds: [1, 2], maxNewTokens: 3 });
    // embed + norm + lm_head + per layer: 2 norms, q/k/v/o, router, and 2 of the 4 experts' three matrices
    const perLayer = 2 * 16 + (16 * 16 + 8 * 16 * 2 + 16 * 16) + 4 * 16 + (2 / 4) * 4 * 3 * 8 * 16;
    expect(stats.weightBytesPerStep).toBe(4 * (40 * 16 + 16 + 40 * 16 + 2 * perLayer));
    expect(stats.decodeGBPerSecond).toBeCloseTo(stats.weightBytesPerStep / (stats.decodeMs / 1e3 / 2) / 1e9, 9);
  });

  it('is exported from the package entry', () => {
    expect(generateFromIndex).toBe(generate);
  });
});

describe('generation on C, Wasm and WGSL, the state kept by the loaded model', () => {
  // Probed at the first WGSL test (a probe at load would reject unawaited when -t leaves them out)
  let adapter: Promise<string | null> | undefined;
  const noAdapter = (): Promise<string | null> => (adapter ??= missingAdapter('moec generate on WGSL'));
  const cases: Array<[string, string]> = [
    ['a rope-free decoder', LM],
    ['Qwen3-MoE (tiny config; rope at offset L)', QWEN3_TINY],
    ['DeepSeek-V3 with MLA (tiny config)', DEEPSEEK_TINY],
  ];
  for (const backend of ['c', 'wasm', 'wgsl'])
    for (const [what, path] of cases)
      it(`${backend}, ${what}: the reference's tokens, greedy and sampled, with the same log-probabilities`, async (ctx) => {
        if (backend === 'wgsl' && (await noAdapter()) !== null) return ctx.skip();
        for (const sampling of [{}, { temperature: 1, seed: 9 }]) {
          const opts = { promptIds: [1, 2, 3, 4], maxNewTokens: 6, seed: 2, ...sampling };
          const ref = await collect(path, opts);
          const got = await collect(path, { ...opts, backend });
          expect(got.tokens.map((t) => t.id)).toEqual(ref.tokens.map((t) => t.id));
          got.tokens.forEach((t, i) => expect(Math.abs(t.logprob - ref.tokens[i].logprob)).toBeLessThan(1e-4));
          expect(got.stats.backend).toBe(backend);
        }
      }, 120_000);
});

describe('moec generate of every shipped config (examples/hf) at reduced sizes, on every backend', () => {
  let adapter: Promise<string | null> | undefined;
  for (const name of Object.keys(REDUCED))
    it(`${name}: the same tokens on ref, c, wasm and wgsl`, async () => {
      const args = ['generate', `examples/hf/${name}/config.json`, '--set', REDUCED[name], '--prompt-ids', '5,17,200', '--max-new-tokens', '3', '--temperature', '0.8', '--seed', '1', '--json'];
      const backends = ['ref', 'c', 'wasm', ...((await (adapter ??= missingAdapter('moec generate on WGSL'))) === null ? ['wgsl'] : [])];
      const ids: Record<string, number[]> = {};
      for (const b of backends) {
        const r = await cli(...args, '--backend', b);
        expect(r.code, `${b}: ${r.err}`).toBe(0);
        ids[b] = JSON.parse(r.out).ids;
      }
      for (const b of backends) expect(ids[b], b).toEqual(ids.ref);
    }, 300_000);
});

describe('sampling', () => {
  const logits = Float32Array.from([2, 1.5, 1, 0.5, 0, -1]);

  it('is greedy at temperature 0 whatever the seed, and the same for the same seed otherwise', () => {
    for (const seed of [0, 1, 2]) expect(new Sampler({ seed }).next(logits).id).toBe(0);
    const draw = (seed: number) => {
      const s = new Sampler({ temperature: 1, seed });
      return Array.from({ length: 40 }, () => s.next(logits).id);
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('draws in proportion to softmax(logits / temperature), only among the top k, only within top p', () => {
    const freq = (opts: ConstructorParameters<typeof Sampler>[0], n = 20_000): number[] => {
      const s = new Sampler(opts);
      const counts = new Array(logits.length).fill(0);
      for (let i = 0; i < n; i++) counts[s.next(logits).id]++;
      return counts.map((c) => c / n);
    };
    const softmax = (xs: number[]): number[] => {
      const e = xs.map((x) => Math.exp(x));
      const sum = e.reduce((a, b) => a + b, 0);
      return e.map((x) => x / sum);
    };
    // all tokens at temperature 1: within 0.015 of the softmax (20,000 draws: sd < 0.004)
    freq({ temperature: 1, seed: 3 }).forEach((f, i) => expect(Math.abs(f - softmax([...logits])[i])).toBeLessThan(0.015));
    // temperature 0.5 sharpens: softmax of 2x the logits
    freq({ temperature: 0.5, seed: 3 }).forEach((f, i) => expect(Math.abs(f - softmax([...logits].map((x) => 2 * x))[i])).toBeLessThan(0.015));
    // top-k 2: the two most likely, renormalised
    const k2 = freq({ temperature: 1, topK: 2, seed: 4 });
    expect(k2.slice(2).every((f) => f === 0)).toBe(true);
    expect(Math.abs(k2[0] - softmax([2, 1.5])[0])).toBeLessThan(0.015);
    // top-p 0.6: softmax is [0.39, 0.24, 0.14, ...]: the first two reach 0.6, so only they are drawn
    const p = freq({ temperature: 1, topP: 0.6, seed: 5 });
    expect(p.slice(2).every((f) => f === 0)).toBe(true);
    expect(Math.abs(p[0] - softmax([2, 1.5])[0])).toBeLessThan(0.015);
    // top-k 1 is greedy
    expect(freq({ temperature: 1, topK: 1, seed: 6 }, 100)[0]).toBe(1);
  });

  it('top-k over a vocabulary of 151,936 keeps the k largest logits in order, ties to the lower id', () => {
    const V = 151_936;
    const big = Float32Array.from({ length: V }, (_, i) => Math.round(Math.sin(i * 12.9898) * 437.5) / 100);
    const byLogit = Array.from({ length: V }, (_, i) => i).sort((a, b) => big[b] - big[a] || a - b);
    const got = new Sampler({ temperature: 0.7, topK: 50 }).candidates(big).map((c) => c.id);
    expect(got).toEqual(byLogit.slice(0, 50));
    // top-p alone orders the whole vocabulary the same way
    const nucleus = new Sampler({ temperature: 0.7, topP: 0.5 }).candidates(big).map((c) => c.id);
    expect(nucleus).toEqual(byLogit.slice(0, nucleus.length));
  });

  it('a sampled generation is the same for a seed, and another for another seed', async () => {
    const run = async (seed: number) => (await collect(QWEN3_TINY, { promptIds: [3, 4], maxNewTokens: 8, temperature: 1.5, topP: 0.95, seed })).tokens.map((t) => t.id);
    expect(await run(11)).toEqual(await run(11));
    expect(await run(11)).not.toEqual(await run(12));
  });
});

describe('text prompts through the tokenizer.json beside the model', () => {
  it('moec generate --prompt encodes with the byte-level BPE, streams each token\'s text, and prints the whole text', async () => {
    const r = await cli('generate', WITH_TOKENIZER, '--prompt', 'hello world', '--max-new-tokens', '4', '--temperature', '1', '--seed', '3');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.match(/^token \d: \d+ {2}logprob -?\d+\.\d{4} {2}".*"$/gm)).toHaveLength(4);
    expect(r.out).toMatch(/^text: ".*"$/m);
    expect(r.out).toMatch(/prompt 5 tokens, 4 new/); // hell, o, Ġwor, l, d
    const json = JSON.parse((await cli('generate', WITH_TOKENIZER, '--prompt', 'hello world', '--max-new-tokens', '4', '--temperature', '1', '--seed', '3', '--json')).out);
    expect(json.schema).toBe('moec-generate/1');
    expect(json.promptIds).toEqual([258, 111, 261, 108, 100]);
    expect(json.text).toBe(json.tokens.map((t: GeneratedToken) => t.text).join(''));
  });

  it('a character split over byte tokens streams once whole, not as a replacement character', async () => {
    const { TextStream, loadTokenizer } = await import('../compiler/generate/tokenizer.ts');
    const tok = await loadTokenizer(WITH_TOKENIZER);
    const s = new TextStream(tok);
    // é is the bytes 0xC3 0xA9: token ids 195 and 169 of the byte-level vocabulary
    expect([104, 195, 169].map((id) => s.push(id))).toEqual(['h', '', 'é']);
    expect(s.flush()).toBe('');
  });

  it('the API takes a graph module with any { encode, decode } as its tokenizer; a text prompt without one is E520', async () => {
    const m = compileFile(LM);
    // A toy tokenizer: one id per letter a..z, as 1..26
    const tokenizer = { encode: (t: string) => [...t].map((c) => c.charCodeAt(0) - 96), decode: (ids: readonly number[]) => ids.map((i) => String.fromCharCode(96 + (i % 27))).join('') };
    const { tokens, stats } = await collect(m, { prompt: 'abc', tokenizer, maxNewTokens: 3 });
    expect(stats.promptIds).toEqual([1, 2, 3]);
    expect(stats.text).toBe(tokenizer.decode(stats.ids));
    expect(tokens.map((t) => t.text).join('')).toBe(stats.text);
    await expect(collect(m, { prompt: 'abc', maxNewTokens: 3 })).rejects.toThrow(/E520: a text prompt needs a tokenizer/);
  });

  it('--prompt without a tokenizer.json is E520 (hint: --prompt-ids), exit 1; a malformed one is E521', async () => {
    const r = await cli('generate', QWEN3_TINY, '--prompt', 'hi', '--max-new-tokens', '2');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error E520: no tokenizer\.json beside .*qwen3_moe\.json[\s\S]*hint: give the prompt as ids \(--prompt-ids 1,2,3\)/);
    const dir = mkdtempSync(join(tmpdir(), 'moec-tok-'));
    cpSync(join(WITH_TOKENIZER, 'config.json'), join(dir, 'config.json'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'tokenizer.json'), '{"model": ');
    const bad = await cli('generate', dir, '--prompt', 'hi', '--max-new-tokens', '2');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/error E521: .*tokenizer\.json is not valid JSON/);
  });
});

describe('bad input to moec generate', () => {
  it('is a clear error with exit 1 (the model\'s limits) or 2 (the command line)', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['--prompt-ids', '1,40', '--max-new-tokens', '2'], 1, /E505: prompt token id 40 \(at 1\) is outside the vocabulary 0\.\.39/],
      [['--prompt-ids', '1,2', '--max-new-tokens', '5', '--max-context', '6'], 1, /E505: the prompt \(2 tokens\) and 5 new tokens need 7 positions, over the context bound 6[\s\S]*hint: raise --max-context/],
      [['--prompt-ids', '1,2', '--max-new-tokens', '70'], 1, /E505: .* over the model's bound L <= 64/],
      [['--prompt-ids', '1,x', '--max-new-tokens', '2'], 2, /--prompt-ids expects token ids separated by commas/],
      [['--prompt-ids', '1'], 2, /needs --max-new-tokens N/],
      [['--max-new-tokens', '2'], 2, /needs the prompt once/],
      [['--prompt-ids', '1', '--prompt', 'a', '--max-new-tokens', '2'], 2, /needs the prompt once/],
      [['--prompt-ids', '1', '--max-new-tokens', '0'], 2, /--max-new-tokens must be a whole number from 1/],
      [['--prompt-ids', '1', '--max-new-tokens', '2', '--temperature=-1'], 2, /--temperature must be a number of at least 0/],
      [['--prompt-ids', '1', '--max-new-tokens', '2', '--top-p', '1.5'], 2, /--top-p must be a probability/],
      [['--prompt-ids', '1', '--max-new-tokens', '2', '--backend', 'cuda'], 2, /unknown backend 'cuda'/],
      [['--prompt-ids', '1', '--max-new-tokens', '2', '--tokens', '3'], 2, /--tokens is an option of/],
    ];
    for (const [flags, code, msg] of cases) {
      const r = await cli('generate', LM, ...flags);
      expect(r.err, flags.join(' ')).toMatch(msg);
      expect(r.code, flags.join(' ')).toBe(code);
      expect(r.out, flags.join(' ')).toBe('');
    }
    const ffn = await cli('generate', 'examples/tiny.moe', '--prompt-ids', '1', '--max-new-tokens', '2');
    expect(ffn.code).toBe(1);
    expect(ffn.err).toMatch(/E522: tiny is not a language model generate can run: it needs one token-id input i32\[T\] \(has 0\)/);
  });
});
