/**
 * Streaming a checkpoint into a packed blob (compiler/checkpoint/stream-weights.ts,
 * ir/weight-rows.ts, the blob writers through `WriteAt`, compiler/io/output.ts
 * `writeOutputFileAt`): the blob `moec pack` writes from a sharded bf16 checkpoint, read a
 * few rows at a time and written to the file as it fills, is the very bytes of the eager
 * route (every weight loaded whole, `pack` interpreted, the blob built in memory), for every
 * example shape (GLU concats, shared experts, gpt-oss's untransposed experts and biases,
 * an imported Mixtral's per-expert tensors stacked over layers, a DeepSeek-V3 fp8 checkpoint)
 * on every backend's layout, f32 and quantized; backend runs load the same way; the real-size
 * DeepSeek-V3 is no longer refused by the interpreter's element limit. The ~3 GB peak-RSS
 * test is test/stream-pack-rss.test.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileFile, quantScheme, quantizeModule, runOnBackend, weightsFromSafetensors } from '../compiler/driver.ts';
import { getBackend } from '../compiler/backends/registry.ts';
import { blobSource, packWeights, weightBlob } from '../compiler/backends/weights.ts';
import { cWeightBlob, cWeightLayout } from '../compiler/backends/c/layout.ts';
import { programIsa } from '../compiler/backends/c/render.ts';
import { wasmWeightLayout } from '../compiler/backends/wasm/layout.ts';
import { planWgsl } from '../compiler/backends/wgsl/plan.ts';
import { streamWeightsFromCheckpoint } from '../compiler/checkpoint/stream-weights.ts';
import { writeOutputFileAt } from '../compiler/io/output.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { openCheckpoint } from '../ir/checkpoint.ts';
import type { Module } from '../ir/graph/graph.ts';
import type { KProgram } from '../ir/kernel/kernel.ts';
import type { Tensor } from '../ir/tensor.ts';
import type { TargetCaps } from '../compiler/target/caps.ts';
import { cli } from './capture.ts';
import { checkpointTensors, writeShardedBf16 } from './sharded-checkpoint.ts';
import { DS_SIZES, deepseekCheckpoint, writeRaw } from './hf-checkpoint.ts';

const dir = mkdtempSync(join(tmpdir(), 'moec-stream-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The reference route: every weight whole, `packWeights` (the interpreter), the backend's layout built in memory. */
function eagerBlob(program: KProgram, target: TargetCaps, weights: Record<string, Tensor>): Uint8Array {
  const packed = packWeights(program, weights);
  if (target.backend === 'c') return cWeightBlob(cWeightLayout(program, target.alignment, programIsa(program, target)?.lanes ?? 1), packed);
  const layout = target.backend === 'wgsl' ? planWgsl(program, target).weights : wasmWeightLayout(program, target.alignment);
  return weightBlob(layout, packed);
}

/** A model at small sizes with its sharded bf16 checkpoint (shards of ~64 KB, so weights span several). */
function withCheckpoint(name: string, m: Module): string {
  const ck = join(dir, name.replace(/\W/g, '_'));
  mkdirSync(ck);
  writeShardedBf16(ck, checkpointTensors(m), 64 * 1024);
  return ck;
}

/**
 * Checkpoint `ck` packed for C and Wasm from streamed weights gives the eager route's bytes
 * and notes, for each scheme (undefined: f32, where nothing is left to the interpreter).
 */
async function expectStreamedAsEager(m: Module, ck: string, what: string, schemes: Array<string | undefined>, own?: string): Promise<void> {
  for (const t of ['x86-avx2', 'wasm-simd128'])
    for (const scheme of schemes) {
      const target = loadTarget(t);
      const program = runPipeline(m, { target, quantize: scheme === undefined ? undefined : quantScheme(scheme), maxTokens: 16 }).program!;
      const declared = scheme === undefined ? m : quantizeModule(m, scheme);
      const eagerNotes: string[] = [];
      const want = eagerBlob(program, target, weightsFromSafetensors(declared, openCheckpoint(ck), ck, { note: (n) => eagerNotes.push(n) }));
      const notes: string[] = [];
      const streamed = streamWeightsFromCheckpoint(declared, openCheckpoint(ck), ck, { note: (n) => notes.push(n) });
      const blob = new Uint8Array(want.length);
      (await getBackend(target.backend)).writeWeights!(program, target, streamed, (at, bytes) => blob.set(bytes, at));
      const label = `${what} into ${t} ${scheme ?? 'f32'}`;
      expect(Buffer.from(blob).equals(Buffer.from(want)), label).toBe(true);
      expect(notes.sort(), label).toEqual(eagerNotes.sort());
      if (scheme === undefined) expect(Object.keys(blobSource(program, streamed).packed), label).toEqual([]);
      // the checkpoint's own scheme: the experts' codes go to the blob as they are, row by row (never the stack whole)
      if (scheme === own) expect(blobSource(program, streamed).rows.get('packed.gate_up_1')?.codes, label).toBeDefined();
    }
}

const EXAMPLES: Record<string, Record<string, number>> = {
  'examples/mixtral.moe': { D: 64, F: 96 },
  'examples/deepseek-v3.moe': { D: 128, F_DENSE: 128, F: 64, E: 8, GROUPS: 4, TOPK_GROUPS: 2, LAYERS: 3, DENSE_LAYERS: 1, K: 2 },
  'examples/qwen-moe.moe': { D: 128, F: 64, FS: 128, E: 4 },
  // experts stored [E, D, 2F] (not transposed) with biases: the panels gathered a matrix at a time
  'examples/gpt-oss.moe': { D: 64, F: 64, E: 8, K: 2 },
};

describe('moec pack streams a sharded checkpoint into the blob: the same bytes as loading it whole', () => {
  for (const [file, consts] of Object.entries(EXAMPLES))
    it(`${file} for every target, f32, i8, i4 and fp8`, async () => {
      const m = compileFile(file, { consts });
      const ck = withCheckpoint(file, m);
      for (const t of ['x86-avx2', 'wasm-simd128', 'webgpu']) {
        const target = loadTarget(t);
        const backend = await getBackend(target.backend);
        for (const scheme of [undefined, 'i8', 'i4', 'fp8']) {
          const program = runPipeline(m, { target, quantize: scheme === undefined ? undefined : quantScheme(scheme), maxTokens: 16 }).program!;
          const declared = scheme === undefined ? m : quantizeModule(m, scheme);
          const want = eagerBlob(program, target, weightsFromSafetensors(declared, openCheckpoint(ck), ck));
          const streamed = streamWeightsFromCheckpoint(declared, openCheckpoint(ck), ck);
          const out = join(dir, 'blob.bin');
          writeOutputFileAt(out, (write) => backend.writeWeights!(program, target, streamed, write).bytes);
          expect(Buffer.from(readFileSync(out)).equals(Buffer.from(want)), `${t} ${scheme ?? 'f32'}`).toBe(true);
          // f32: every packed buffer came as rows, nothing was left to the interpreter (which reads
          // weights whole). Quantized, a few are not rows (gpt-oss's experts quantized along an
          // axis that is not their last, per-channel scales over rows a reshape cuts): read whole.
          if (scheme === undefined) expect(Object.keys(blobSource(program, streamed).packed), t).toEqual([]);
        }
      }
    });

  it('an imported Mixtral (experts.{e}.w1 stacked over layers.{i}) through `moec pack`, byte for byte', async () => {
    const moe = join(dir, 'mixtral-hf.moe');
    expect((await cli('import', 'examples/hf/Mixtral-8x7B-v0.1/config.json', '-o', moe)).code).toBe(0);
    const set = 'V=256,D=64,F=96,LAYERS=2,H=4,G=2,HD=16';
    const consts = Object.fromEntries(set.split(',').map((kv) => [kv.split('=')[0], Number(kv.split('=')[1])]));
    const m = compileFile(moe, { consts });
    const ck = withCheckpoint('mixtral-hf', m);
    for (const t of ['x86-avx2', 'wasm-simd128'])
      for (const scheme of [undefined, 'i4']) {
        const out = join(dir, `mix-${t}.bin`);
        const r = await cli('pack', moe, '--set', set, '--target', t, '--max-context', '64', '--weights', ck, '-o', out, ...(scheme ? ['--quantize', scheme] : []));
        expect(r.code, r.err).toBe(0);
        const target = loadTarget(t);
        const declared = scheme === undefined ? m : quantizeModule(m, scheme);
        // as moec pack compiles a decoder with a context bound: tokens bounded by it too
        const program = runPipeline(m, { target, quantize: scheme === undefined ? undefined : quantScheme(scheme), maxContext: 64, maxTokens: 64 }).program!;
        const want = eagerBlob(program, target, weightsFromSafetensors(declared, openCheckpoint(ck), ck));
        expect(Buffer.from(readFileSync(out)).equals(Buffer.from(want)), `${t} ${scheme ?? 'f32'}`).toBe(true);
      }
  });

  it('moec compile -o DIR --weights streams DIR/weights.bin the same way: the bytes and manifest moec pack writes', async () => {
    const m = compileFile('examples/mixtral.moe', { consts: { D: 64, F: 96 } });
    const ck = withCheckpoint('compile-mixtral', m);
    const packed = join(dir, 'compile-mixtral.bin');
    const outDir = join(dir, 'compiled');
    const args = ['examples/mixtral.moe', '--set', 'D=64,F=96', '--target', 'x86-avx2', '--weights', ck];
    expect((await cli('pack', ...args, '-o', packed)).code).toBe(0);
    const c = await cli('compile', ...args, '-o', outDir);
    expect(c.code, c.err).toBe(0);
    expect(c.out).toContain(`wrote ${join(outDir, 'weights.bin')}, ${outDir}/`);
    expect(readFileSync(join(outDir, 'weights.bin')).equals(readFileSync(packed))).toBe(true);
    expect(readFileSync(join(outDir, 'weights.bin.json'), 'utf8')).toBe(readFileSync(`${packed}.json`, 'utf8'));
  });

  it('moec run --backend c|wasm --weights CKPT streams it into the runner\'s weights: the outputs of the weights loaded whole, exactly', async () => {
    const m = compileFile('examples/mixtral.moe', { consts: { D: 64, F: 96 } });
    const ck = withCheckpoint('run-mixtral', m);
    const eager = weightsFromSafetensors(m, openCheckpoint(ck), ck);
    for (const backend of ['c', 'wasm']) {
      for (const quantize of [undefined, 'i8']) {
        const streamed = await runOnBackend(m, { backend, tokens: 5, weights: ck, seed: 3, quantize });
        const whole = await runOnBackend(m, { backend, tokens: 5, weights: quantize ? weightsFromSafetensors(quantizeModule(m, quantize), openCheckpoint(ck), ck) : eager, seed: 3, quantize });
        for (const [name, t] of Object.entries(whole.outputs)) expect(Buffer.from(streamed.outputs[name].data.buffer).equals(Buffer.from(t.data.buffer)), `${backend} ${quantize ?? 'f32'} ${name}`).toBe(true);
      }
    }
  });

  it('reports its progress as the blob fills, a matrix or a block of rows at a time, to the blob\'s size (the TTY progress line of moec pack), and the checkpoint\'s bytes as they are read (moec run\'s)', async () => {
    const m = compileFile('examples/mixtral.moe', { consts: { D: 64, F: 96 } });
    const ck = withCheckpoint('progress-mixtral', m);
    for (const t of ['x86-avx2', 'wasm-simd128']) {
      const target = loadTarget(t);
      const program = runPipeline(m, { target, maxTokens: 16 }).program!;
      const seen: number[] = [];
      const totals = new Set<number>();
      const read: Array<[number, number]> = [];
      const streamed = streamWeightsFromCheckpoint(m, openCheckpoint(ck), ck, { onProgress: (done, total) => read.push([done, total]) });
      const manifest = (await getBackend(target.backend)).writeWeights!(program, target, streamed, () => {}, {
        onProgress: (done, total) => {
          totals.add(total);
          seen.push(done);
        },
      });
      expect([...totals]).toEqual([manifest.bytes]);
      // C: a report per expert matrix of its panels; row-major: per block of 4 MiB (one here)
      if (target.backend === 'c') expect(seen.length).toBeGreaterThan(manifest.tensors.length);
      else expect(seen.length).toBe(manifest.tensors.length);
      expect(seen.every((d, i) => i === 0 || d >= seen[i - 1])).toBe(true);
      expect(seen[seen.length - 1]).toBe(manifest.bytes);
      // and the checkpoint's bytes as they are read (moec run's "loading weights" line): all of them, once
      const stored = checkpointTensors(m).reduce((a, x) => a + 2 * x.shape.reduce((p, d) => p * d, 1), 0);
      expect(read.length).toBeGreaterThan(0);
      expect(read.every(([, total]) => total === stored)).toBe(true);
      expect(read[read.length - 1][0]).toBe(stored);
    }
  });

  it('a DeepSeek-V3 fp8 checkpoint (F8_E4M3 with 128x128 block scales) streams too, dequantized a row at a time, or copied as fp8: the same bytes, the same notes', async () => {
    const m = compileFile('examples/deepseek-v3.moe', { consts: DS_SIZES });
    const ck = join(dir, 'deepseek-fp8.safetensors');
    writeRaw(ck, deepseekCheckpoint(m).raws);
    await expectStreamedAsEager(m, ck, 'fp8 checkpoint', [undefined, 'i8', 'fp8'], 'fp8');
  });

  it('a checkpoint of i8 or i4 codes (moec quantize) streams too, dequantized a row at a time, or copied in its own scheme: the same bytes, the same notes', async () => {
    const m = compileFile('examples/deepseek-v3.moe', { consts: EXAMPLES['examples/deepseek-v3.moe'] });
    const bf16 = withCheckpoint('ds-for-quantize', m);
    for (const [to, own] of [['i8', 'i8'], ['i4g32', 'i4']]) {
      const ck = join(dir, `ds-${to}.safetensors`);
      const q = await cli('quantize', bf16, '-o', ck, '--to', to);
      expect(q.code, q.err).toBe(0);
      await expectStreamedAsEager(m, ck, to, [undefined, 'i8', 'i4', 'fp8'], own);
    }
  });

  it('moec pack of the real-size DeepSeek-V3 reads its checkpoint instead of refusing it (was: E307, `embed` too large to run, from the interpreter\'s element limit)', async () => {
    const moe = join(dir, 'deepseek-v3-hf.moe');
    expect((await cli('import', 'examples/hf/DeepSeek-V3/config.json', '-o', moe)).code).toBe(0);
    // a checkpoint holding another tensor only: the first weight it lacks is the error
    const ck = join(dir, 'other.safetensors');
    writeRaw(ck, [{ name: 'other', dtype: 'F32', shape: [1], bytes: new Uint8Array(4) }]);
    const r = await cli('pack', moe, '--target', 'x86-avx2', '--max-tokens', '64', '--max-context', '4096', '--weights', ck, '-o', join(dir, 'ds.bin'));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`error E503: ${ck} has neither \`embed\` nor the checkpoint tensor \`model.embed_tokens.weight\``);
    expect(existsSync(join(dir, 'ds.bin'))).toBe(false);
  });
});

describe('writeOutputFileAt: an output filled region by region', () => {
  it('takes regions in any order, leaves the rest zero, and replaces the file only when complete', () => {
    const sub = join(dir, 'fill');
    mkdirSync(sub);
    const out = join(sub, 'blob.bin');
    writeOutputFileAt(out, (write) => {
      write(6, Uint8Array.of(7, 8));
      write(0, Uint8Array.of(1, 2));
      return 10;
    });
    expect([...readFileSync(out)]).toEqual([1, 2, 0, 0, 0, 0, 7, 8, 0, 0]);
    // A failure of the filling itself goes on as it is (an internal error stays one); the old file stays, no temporary is left.
    expect(() =>
      writeOutputFileAt(out, (write) => {
        write(0, Uint8Array.of(9));
        throw new Error('layout bug');
      }),
    ).toThrow(/^layout bug$/);
    expect([...readFileSync(out)]).toEqual([1, 2, 0, 0, 0, 0, 7, 8, 0, 0]);
    expect(readdirSync(sub)).toEqual(['blob.bin']);
    // A device takes the bytes in order (made in a temporary directory first).
    writeOutputFileAt('/dev/null', (write) => (write(3, Uint8Array.of(1)), 4));
  });
});
