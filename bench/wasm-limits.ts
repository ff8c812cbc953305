/**
 * @fileoverview What WebAssembly can do on this machine, one thread, measured in the same run
 * as the Wasm runners it judges (a module built with binaryen, run by this Node):
 * - SIMD128 multiply-add: twelve independent v128 chains of `a = a*m + c` (f32x4.mul then
 *   f32x4.add: SIMD128 has no fused multiply-add), 96 FLOPs an iteration;
 * - scalar multiply-add: the same with twelve f32 chains (the scalar build's ceiling);
 * - streaming: a sum over 256 MiB of linear memory with eight v128 accumulators, eight
 *   16-byte loads per iteration (what a kernel streaming weights can reach).
 * Each is the best of `reps` after a warmup.
 */
import binaryen from 'binaryen';

export interface WasmLimits {
  simdGflops: number;
  scalarGflops: number;
  streamGBps: number;
  streamMiB: number;
}

const CHAINS = 12;
const STREAM_MIB = 256;

function buildProbe(): Uint8Array {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128);
  m.setMemory((STREAM_MIB * 2 ** 20) / 65536 + 1, 65536, 'memory');
  const { i32, f32, v128 } = binaryen;
  const madd = (name: string, vec: boolean): void => {
    const t = vec ? v128 : f32;
    const vars = [i32, ...Array.from({ length: CHAINS + 2 }, () => t)];
    const acc = (j: number): number => 2 + j;
    const [mul, add] = [CHAINS + 2, CHAINS + 3];
    const get = (j: number): binaryen.ExpressionRef => m.local.get(j, t);
    const konst = (x: number): binaryen.ExpressionRef => (vec ? m.f32x4.splat(m.f32.const(x)) : m.f32.const(x));
    const step = Array.from({ length: CHAINS }, (_, j) =>
      m.local.set(acc(j), vec ? m.f32x4.add(m.f32x4.mul(get(acc(j)), get(mul)), get(add)) : m.f32.add(m.f32.mul(get(acc(j)), get(mul)), get(add))),
    );
    let sum: binaryen.ExpressionRef = get(acc(0));
    for (let j = 1; j < CHAINS; j++) sum = vec ? m.f32x4.add(sum, get(acc(j))) : m.f32.add(sum, get(acc(j)));
    m.addFunction(name, binaryen.createType([i32]), f32, vars, m.block(null, [
      ...Array.from({ length: CHAINS }, (_, j) => m.local.set(acc(j), konst(1 + j / 10))),
      m.local.set(mul, konst(0.9999999)),
      m.local.set(add, konst(1e-7)),
      m.local.set(1, m.i32.const(0)),
      m.loop('l', m.block(null, [...step, m.local.set(1, m.i32.add(m.local.get(1, i32), m.i32.const(1))), m.br('l', m.i32.lt_u(m.local.get(1, i32), m.local.get(0, i32)))])),
      m.return(vec ? m.f32x4.extract_lane(sum, 0) : sum),
    ]));
    m.addFunctionExport(name, name);
  };
  madd('simd', true);
  madd('scalar', false);
  // stream(bytes): Σ over [0, bytes) in eight v128 accumulators.
  const accs = Array.from({ length: 8 }, (_, j) => 2 + j);
  const g = (j: number): binaryen.ExpressionRef => m.local.get(j, v128);
  let total: binaryen.ExpressionRef = g(accs[0]);
  for (let j = 1; j < 8; j++) total = m.f32x4.add(total, g(accs[j]));
  m.addFunction('stream', binaryen.createType([i32]), f32, [i32, ...accs.map(() => v128)], m.block(null, [
    m.local.set(1, m.i32.const(0)),
    m.loop('l', m.block(null, [
      ...accs.map((a, j) => m.local.set(a, m.f32x4.add(g(a), m.v128.load(16 * j, 16, m.local.get(1, i32))))),
      m.local.set(1, m.i32.add(m.local.get(1, i32), m.i32.const(128))),
      m.br('l', m.i32.lt_u(m.local.get(1, i32), m.local.get(0, i32))),
    ])),
    m.return(m.f32x4.extract_lane(total, 0)),
  ]));
  m.addFunctionExport('stream', 'stream');
  if (!m.validate()) throw new Error('wasm limits: the probe module does not validate');
  const bytes = m.emitBinary();
  m.dispose();
  return bytes;
}

export function measureWasmLimits(reps: number): WasmLimits {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(buildProbe() as Uint8Array<ArrayBuffer>), {});
  const x = inst.exports as { simd(n: number): number; scalar(n: number): number; stream(bytes: number): number; memory: WebAssembly.Memory };
  new Float32Array(x.memory.buffer).fill(1); // touch every page before timing
  const best = (fn: () => number): number => {
    let sink = 0;
    let ms = Infinity;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      sink += fn();
      ms = Math.min(ms, performance.now() - t0);
    }
    if (!Number.isFinite(sink)) throw new Error('wasm limits: a probe diverged');
    return ms;
  };
  const n = 5_000_000;
  x.simd(10_000);
  x.scalar(10_000);
  x.stream(1 << 20);
  const bytes = STREAM_MIB * 2 ** 20;
  return {
    simdGflops: (CHAINS * 2 * 4 * n) / (best(() => x.simd(n)) / 1e3) / 1e9,
    scalarGflops: (CHAINS * 2 * n) / (best(() => x.scalar(n)) / 1e3) / 1e9,
    streamGBps: bytes / (best(() => x.stream(bytes)) / 1e3) / 1e9,
    streamMiB: STREAM_MIB,
  };
}
