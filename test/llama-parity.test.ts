/**
 * moec against llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU build) on one reduced
 * random-weight Qwen3-MoE written by moec (bench/llama/workload.ts: safetensors for moec,
 * GGUF by moec's own writer for llama.cpp): a prefill of 7 prompt ids and 8 greedy steps,
 * with the KV cache as state (compiled with a context bound; forward {T, L}), on the kernel
 * interpreter and on C.
 * - F32: every position's next-token distribution within 1e-5 of the logits' scale, greedy
 *   tokens identical.
 * - Q8_0 against moec's i8 groups of 32 holding the same codes and scales (moec reads the
 *   Q8_0 file itself): llama.cpp also rounds each activation row to Q8_0 before its dot
 *   products (moec keeps activations in f32), so rows agree to a tolerance of 2e-2 of the
 *   logits' scale (measured: below 1e-2) over the rows computed from the same tokens, and
 *   the greedy tokens may part only at a near tie: where moec's top two lie within that
 *   tolerance (parity.ts compareGenerations).
 * Skips with the reason where node-llama-cpp cannot load (under CI it must).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getBackend } from '../compiler/backends/registry.ts';
import { quantizeModule, weightsFromSafetensors } from '../compiler/driver.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { openCheckpoint } from '../ir/checkpoint.ts';
import { type Generation, TOLERANCE, backendStep, compareGenerations, generateLlama, generateMoec, interpreterStep } from '../bench/llama/parity.ts';
import { type LlamaPeer, isUnavailable, openLlamaPeer } from '../bench/llama/peer.ts';
import { I8_GROUP32, type Qwen3Sizes, writeLlamaWorkload } from '../bench/llama/workload.ts';
import { skipUnless } from './optional-packages.ts';

// H * HD = 128, not D: llama.cpp must be told the head size (attention.key_length; its default is D / H).
const SIZES: Qwen3Sizes = { V: 288, D: 64, LAYERS: 2, H: 4, G: 2, HD: 32, E: 8, K: 2, F: 32 };
const PROMPT = [5, 17, 100, 3, 250, 42, 7];
const STEPS = 8;
const CONTEXT = 32;
const F32_TOL = TOLERANCE.f32;
const Q8_TOL = TOLERANCE.q8;

const dir = mkdtempSync(join(tmpdir(), 'moec-llama-'));
const w = writeLlamaWorkload(dir, SIZES, 3);
const peers: LlamaPeer[] = [];
const open = async (gguf: string): Promise<LlamaPeer | string> => {
  const p = await openLlamaPeer(gguf, { threads: 1, contextSize: CONTEXT, vocab: SIZES.V });
  if (isUnavailable(p)) return p.unavailable;
  peers.push(p);
  return p;
};
const f32Peer = await open(w.ggufF32);
const skip = skipUnless('node-llama-cpp', typeof f32Peer === 'string' ? f32Peer : null, 'the llama.cpp parity tests');

afterAll(async () => {
  for (const p of peers) await p.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const target = loadTarget('x86-avx2');
const program = (m = w.module) => runPipeline(m, { target, maxTokens: 16, maxContext: CONTEXT }).program!;

/** moec's generation on the interpreter or on C. */
async function moec(backend: 'ref' | 'c', m = w.module, weights = w.weights): Promise<Generation> {
  const p = program(m);
  if (backend === 'ref') return generateMoec(interpreterStep(p, weights), PROMPT, STEPS, SIZES.V);
  const model = await (await getBackend('c')).load(p, target, weights);
  try {
    return await generateMoec(backendStep(model), PROMPT, STEPS, SIZES.V);
  } finally {
    model.dispose();
  }
}

describe.skipIf(skip)('moec against llama.cpp on a random-weight Qwen3-MoE', () => {
  let llamaF32: Generation;
  const llama = async (): Promise<Generation> => (llamaF32 ??= await generateLlama(f32Peer as LlamaPeer, PROMPT, STEPS));

  it('moec reads the F32 GGUF it wrote as the weights of its safetensors', () => {
    for (const path of [w.safetensors, w.ggufF32]) {
      const got = weightsFromSafetensors(w.module, openCheckpoint(path), path);
      for (const [name, t] of Object.entries(w.weights)) expect(got[name].data, `${path}: ${name}`).toEqual(t.data);
    }
  });

  for (const backend of ['ref', 'c'] as const)
    it(`F32 on ${backend === 'ref' ? 'the kernel interpreter' : 'C (x86-avx2; rope at offset L, the cached positions, which C refused with E701)'}: the prompt's and 8 greedy steps' logits within ${F32_TOL} of their scale, the same tokens`, async () => {
      const want = await llama();
      const got = await moec(backend);
      const a = compareGenerations(got, want, PROMPT.length);
      expect(got.logProbs).toHaveLength(PROMPT.length + STEPS);
      expect(a.worst, `worst at row ${a.worstRow}`).toBeLessThan(F32_TOL);
      expect(got.tokens).toEqual(want.tokens);
    });

  it(`Q8_0 against moec i8 groups of 32 (the same codes): within ${Q8_TOL} of the logits' scale, the same tokens up to a near tie`, async () => {
    const q8 = await open(w.ggufQ8);
    if (typeof q8 === 'string') throw new Error(q8);
    const qm = quantizeModule(w.module, I8_GROUP32);
    const weights = weightsFromSafetensors(qm, openCheckpoint(w.ggufQ8), w.ggufQ8);
    // The codes are llama.cpp's: moec's i8 weights are the Q8_0 file's blocks, not its own rounding.
    expect(weights['layers.moe.w_gate'].dtype).toBe('i8');
    const want = await generateLlama(q8, PROMPT, STEPS);
    for (const backend of ['ref', 'c'] as const) {
      const got = await moec(backend, qm, weights);
      const a = compareGenerations(got, want, PROMPT.length);
      expect(a.worst, `${backend}: worst at row ${a.worstRow}`).toBeLessThan(Q8_TOL);
      // Tokens may part only where moec's top two were within the tolerance (a near tie).
      if (!a.tokensEqual) expect(a.tieMargin, `${backend}: tokens differ from step ${a.firstDiff}`).toBeLessThan(Q8_TOL);
    }
  });
});

describe('the C backend on the imported whole model, without llama.cpp', () => {
  it('runs rope at offset L (the cached positions; C refused it with E701) and matches the kernel interpreter over a prefill and 8 steps', async () => {
    const ref = await moec('ref');
    const c = await moec('c');
    const a = compareGenerations(c, ref, PROMPT.length);
    expect(a.perRow).toHaveLength(PROMPT.length + STEPS);
    expect(a.worst, `worst at row ${a.worstRow}`).toBeLessThan(F32_TOL);
    expect(c.tokens).toEqual(ref.tokens);
  });
});
