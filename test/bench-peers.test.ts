/**
 * @fileoverview The benchmark's native peers compute the same layers as moec: the OpenBLAS
 * C layer and onnxruntime's MoE operator, each on moec's seeded weights and inputs at small
 * sizes, must match the reference interpreter (max rel 1e-4, through the same check the
 * benchmark applies); the ONNX protobuf writer is checked by onnxruntime decoding and
 * running a model it wrote; and a wrong output is caught. Not timed: speed is the bench's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agreement } from '../compiler/compare.ts';
import { bindDims, compileFile, randomInputs, randomWeights } from '../compiler/driver.ts';
import { layerSpec, removeRawCases } from '../bench/peers/layer.ts';
import { graph, model, node, tensor, valueInfo, varint } from '../bench/peers/onnx-proto.ts';
import { type PeerCommand, measureNative } from '../bench/peers/measure.ts';
import { PEER_CHECK_TOKENS, checkAgainstReference, referenceOutput } from '../bench/peers/reference.ts';
import type { BenchCase, Runner } from '../bench/runner.ts';
import { onnxruntimeCommand, onnxruntimeRunner } from '../bench/runners/onnxruntime.ts';
import { openblasCommand, openblasRunner } from '../bench/runners/openblas.ts';
import type { Workload } from '../bench/workloads.ts';
import { skipUnless } from './optional-packages.ts';

/** The benchmark's two workloads at sizes that keep their routing (top-2 of 8 renormalised; top-4 of 16 plus a shared MLP). */
const SMALL: Workload[] = [
  { name: 'mixtral-small', file: 'examples/mixtral.moe', consts: { D: 32, F: 48, E: 8, K: 2 }, about: '' },
  { name: 'deepseek-small', file: 'bench/models/deepseek-mini.moe', consts: { D: 32, F: 16, FS: 48, E: 16, K: 4 }, about: '' },
];

/** A case as bench/run.ts makes it (every constant the peers read is set by the workload). */
function benchCase(w: Workload, tokens: number): BenchCase {
  const module = compileFile(w.file, { consts: w.consts });
  const bindings = bindDims(module, { tokens });
  return { workload: w, module, tokens, bindings, consts: { ...w.consts }, weights: randomWeights(module, 0), weightsKey: '', inputs: randomInputs(module, bindings, 0) };
}

const ONE_RUN = { minSamples: 1, minTimeMs: 0, maxTimeMs: 10_000, maxSamples: 2 };

let savedFlush: string | undefined;
beforeAll(() => {
  savedFlush = process.env.MOEC_BENCH_FLUSH_MIB;
  process.env.MOEC_BENCH_FLUSH_MIB = '0'; // no 1 GiB cache flush in tests
});
afterAll(() => {
  removeRawCases();
  if (savedFlush === undefined) delete process.env.MOEC_BENCH_FLUSH_MIB;
  else process.env.MOEC_BENCH_FLUSH_MIB = savedFlush;
});

describe('native benchmark peers match the reference interpreter', () => {
  const blas = openblasCommand();
  const peers: [string, PeerCommand | string][] = [
    ['openblas', blas],
    ['onnxruntime', onnxruntimeCommand()],
  ];
  // onnxruntime is an npm dependency (always here); OpenBLAS is a system package.
  const skip = skipUnless('libopenblas-dev', typeof blas === 'string' ? blas : null, 'the OpenBLAS peer checks');
  for (const [id, cmd] of peers)
    for (const w of SMALL)
      it.skipIf(id === 'openblas' && skip)(`${id} on ${w.name} at T = 1, 7, ${PEER_CHECK_TOKENS}`, () => {
        if (typeof cmd === 'string') throw new Error(cmd);
        const checks = new Map<string, Agreement | string>();
        for (const tokens of [1, 7, PEER_CHECK_TOKENS]) {
          const c = benchCase(w, tokens);
          const spec = layerSpec(c);
          if (typeof spec === 'string') throw new Error(spec);
          // Throws if the output disagrees with moec-ref (max rel 1e-4).
          const t = measureNative(cmd as PeerCommand, c, spec, ONE_RUN, checks, tokens);
          expect(t.samplesMs.length).toBeGreaterThanOrEqual(1);
          const a = checks.get(w.name);
          expect(typeof a === 'object' && a.maxRel).toBeLessThan(1e-5);
        }
      });

  it('the runners record their check in about()', () => {
    const c = benchCase(SMALL[1], PEER_CHECK_TOKENS);
    for (const runner of [openblasRunner, onnxruntimeRunner]) {
      if (runner.skip(c)) continue;
      runner.measure(c, ONE_RUN);
      expect(runner.about({} as never)).toMatch(/deepseek-small max rel \d/);
    }
  });
});

describe('peer check', () => {
  it('rejects an output that is off by more than 1e-4 of its scale', () => {
    const c = benchCase(SMALL[0], 4);
    const want = referenceOutput(c);
    const dir = mkdtempSync(join(tmpdir(), 'moec-peer-check-'));
    try {
      const file = join(dir, 'y.f32');
      const good = Float32Array.from(want.data);
      writeFileSync(file, new Uint8Array(good.buffer));
      expect(checkAgainstReference(c, file, 'test').maxRel).toBe(0);
      let scale = 0;
      for (const v of good) scale = Math.max(scale, Math.abs(v));
      good[5] += 3e-4 * scale;
      writeFileSync(file, new Uint8Array(good.buffer));
      expect(() => checkAgainstReference(c, file, 'test')).toThrow(/test: output differs from moec-ref at T=4/);
      writeFileSync(file, new Uint8Array(good.buffer, 0, 8));
      expect(() => checkAgainstReference(c, file, 'test')).toThrow(/has 2 values/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Each runner says what the layer lacks before whether its library is here, so this
  // holds on a machine without libopenblas-dev (it failed there with "OpenBLAS not found").
  it('layerSpec names what the peers do not implement, with or without OpenBLAS installed', () => {
    const c = benchCase({ name: 'tiny', file: 'examples/tiny.moe', consts: {}, about: '' }, 2);
    expect(layerSpec(c)).toMatch(/not examples\/tiny\.moe/);
    expect(openblasRunner.skip(c)).toMatch(/tiny\.moe/);
    expect(onnxruntimeRunner.skip(c)).toMatch(/tiny\.moe/);
  });
});

describe('ONNX protobuf writer', () => {
  it('encodes varints', () => {
    expect([...varint(0)]).toEqual([0]);
    expect([...varint(300)]).toEqual([0xac, 0x02]);
    expect([...varint(2 ** 35)]).toEqual([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expect(() => varint(-1)).toThrow();
  });

  it('writes a model onnxruntime decodes and runs: y = Gemm(x, w, transB) + b', async () => {
    const w = Float32Array.from([1, 2, 3, 4, 5, 6]); // [3 out, 2 in]
    const g = graph({
      name: 'g',
      nodes: [node('Gemm', ['x', 'w', 'b'], ['y'], { attributes: { transB: 1, alpha: { float: 0.5 } } })],
      initializers: [tensor('w', [3, 2], w), tensor('b', [3], Float32Array.from([10, 20, 30]))],
      inputs: [valueInfo('x', ['N', 2])],
      outputs: [valueInfo('y', ['N', 3])],
    });
    const session = await ort.InferenceSession.create(model(g, { '': 17 }));
    const r = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 1, 2, 0]), [2, 2]) });
    expect(r.y.dims).toEqual([2, 3]);
    expect([...(r.y.data as Float32Array)]).toEqual([11.5, 23.5, 35.5, 11, 23, 35]);
    await session.release();
  });
});
