/**
 * @fileoverview The onnxruntime peer's child process (onnxruntime-node's `session.run` is
 * asynchronous, the harness's runners are not): builds the layer's ONNX model with the
 * `com.microsoft` MoE operator (onnx-moe.ts) from raw weight files, opens a CPU session
 * with 2 intra-op threads, and times `session.run` itself. Same command line and output as
 * openblas_moe.c:
 *
 *   onnxruntime_moe.ts --info
 *   onnxruntime_moe.ts DIR T D F E K RENORM FS MIN_SAMPLES MIN_MS MAX_MS MAX_SAMPLES [OUT]
 *
 * prints `warmup_ms W` and `samples_ms S1 S2 ...`, and with OUT writes the output [T, D].
 * Sampling and the cache flush before every run are the harness's (`stats.ts`
 * `sampleAsync`): MOEC_BENCH_FLUSH_MIB (default 1024 MiB; 0 disables), counted towards the
 * plan's time budgets, not towards the samples.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PEER_THREADS } from './layer.ts';
import { moeModel } from './onnx-moe.ts';
import { sampleAsync } from '../stats.ts';

function readF32(path: string, count: number): Float32Array {
  const b = readFileSync(path);
  if (b.byteLength !== count * 4) throw new Error(`${path}: ${b.byteLength} bytes, expected ${count * 4}`);
  // A copy into its own buffer: small Buffers share a pool at offsets not aligned to 4.
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--info') {
    process.stdout.write(`version ${ort.env.versions.node ?? ort.env.versions.common}\n`);
    return;
  }
  if (argv.length !== 12 && argv.length !== 13) throw new Error('usage: onnxruntime_moe.ts DIR T D F E K RENORM FS MIN_SAMPLES MIN_MS MAX_MS MAX_SAMPLES [OUT]');
  const [dir, ...rest] = argv;
  const [T, D, F, E, K, renorm, FS, minSamples, minMs, maxMs, maxSamples] = rest.slice(0, 11).map(Number);
  const out = argv[12];
  const files: Record<string, number> = { 'router.f32': E * D, 'gate.f32': E * F * D, 'up.f32': E * F * D, 'down.f32': E * D * F };
  if (FS > 0) Object.assign(files, { 'shared_gate.f32': FS * D, 'shared_up.f32': FS * D, 'shared_down.f32': D * FS });
  const w: Record<string, Float32Array> = {};
  for (const [f, n] of Object.entries(files)) w[f] = readF32(join(dir, f), n);
  const spec = { D, F, E, K, renorm: renorm === 1, FS, files: {} };
  const bytes = moeModel(spec, w);
  for (const f of Object.keys(w)) delete w[f]; // the model holds its own copy
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: PEER_THREADS,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = { x: new ort.Tensor('float32', readF32(join(dir, `x-${T}.f32`), T * D), [T, D]) };

  let result: ort.InferenceSession.OnnxValueMapType | undefined;
  // The harness's sampler: the plan, and the cache flush before every run (budgeted, untimed).
  const timing = await sampleAsync(async () => {
    result = await session.run(feeds);
  }, { minSamples, minTimeMs: minMs, maxTimeMs: maxMs, maxSamples });
  process.stdout.write(`warmup_ms ${timing.warmupMs}\nsamples_ms ${timing.samplesMs.join(' ')}\n`);
  if (out) {
    const y = result!.y.data as Float32Array;
    writeFileSync(out, new Uint8Array(y.buffer, y.byteOffset, y.byteLength));
  }
  await session.release();
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`onnxruntime_moe: ${(e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ')}\n`);
  process.exit(1);
});
