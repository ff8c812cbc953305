/**
 * @fileoverview The memory planner. Property tests over a few hundred seeded random kernel
 * programs (chains of `op` kernels over random temps, with loops, nested loops, carried
 * pairs and slices) check the placement against an independent reference: the program is
 * executed symbolically with every loop unrolled, and each value a buffer holds lives from
 * its write to its last read; any two buffers holding live values at the same moment must
 * occupy disjoint bytes. Also: aligned offsets, arena ≤ naive sum, purity, and small
 * hand-written cases (a chain takes two buffers, not four).
 */
import { describe, expect, it } from 'vitest';
import { liveIntervals, planMemory, planMemoryPass } from '../../compiler/passes/plan-memory.ts';
import type { TargetCaps } from '../../compiler/target/caps.ts';
import { type Dim, dimToString, sym } from '../../ir/dims.ts';
import { readFileSync } from 'node:fs';
import { importHfConfig } from '../../compiler/import/index.ts';
import { compileModel } from '../../compiler/driver.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import type { Module } from '../../ir/graph/graph.ts';
import type { KBuffer, KProgram, OpKernel, Step } from '../../ir/kernel/kernel.ts';
import type { DType } from '../../ir/types.ts';
import { affine, atTokens } from '../../ir/kernel/memory.ts';
import { verifyKernelIR } from '../../ir/kernel/kverify.ts';

const MODULE: Module = { name: 'm', dims: [], weights: [], funcs: [] };
const T = sym('T');

/** mulberry32: a small seeded generator in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function op(inputs: string[], outputs: string[], name = 'add'): OpKernel {
  return { kind: 'op', op: name, attrs: {}, inputs, outputs };
}

/** A random program: chains of ops over fresh or rewritten temps, loops up to two deep. */
function randomProgram(seed: number): KProgram {
  const r = rng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(r() * xs.length)];
  const buffers: KBuffer[] = [
    { name: 'x', dtype: 'f32', shape: [T, 4], kind: 'input' },
    { name: 'w', dtype: 'f32', shape: [8, 16], kind: 'weight' },
  ];
  const dtypes: DType[] = ['f32', 'f16', 'i32', 'u8'];
  const defined: string[] = ['x'];
  let n = 0;
  let loops = 0;
  const newTemp = (): string => {
    const name = `t${n++}`;
    const c = int(1, 64);
    const shape: Dim[] = pick([[T, c], [c], [c, int(1, 9)], [{ terms: [['T', 2]], c: int(0, 5) }]]);
    buffers.push({ name, dtype: pick(dtypes), shape, kind: 'temp' });
    return name;
  };
  const temps = (): string[] => defined.filter((d) => d !== 'x');
  const genSteps = (depth: number, count: number, sliceNames: string[]): Step[] => {
    const steps: Step[] = [];
    for (let i = 0; i < count; i++) {
      if (depth < 2 && r() < 0.18) {
        const id = loops++;
        const slices: Array<{ stacked: string; slice: string }> = [];
        const inner: string[] = [...sliceNames];
        if (r() < 0.5) {
          // a stacked weight, or a stacked temp defined before the loop, read through a slice
          const ts = temps();
          const stacked = ts.length > 0 && r() < 0.5 ? pick(ts) : 'w';
          slices.push({ stacked, slice: `s${id}` });
          inner.push(`s${id}`);
        }
        const before = temps();
        const body = genSteps(depth + 1, int(1, 5), inner);
        const carried: Array<{ from: string; to: string }> = [];
        const bodyDefs = temps().filter((t) => !before.includes(t));
        if (before.length > 0 && bodyDefs.length > 0 && r() < 0.5) carried.push({ from: pick(bodyDefs), to: pick(before) });
        steps.push({ kind: 'loop', count: int(1, 4), slices, carried, body });
        continue;
      }
      const pool = [...defined.slice(-4), ...defined.slice(-4), ...defined, ...sliceNames];
      const inputs = Array.from({ length: int(1, 2) }, () => pick(pool));
      const ts = temps();
      const out = ts.length > 0 && r() < 0.15 ? pick(ts) : newTemp();
      if (!defined.includes(out)) defined.push(out);
      steps.push(op(inputs, [out]));
    }
    return steps;
  };
  const steps = genSteps(0, int(2, 14), []);
  const outs = new Set<string>();
  const ts = temps();
  if (ts.length > 0) outs.add(ts[ts.length - 1]);
  if (ts.length > 1 && r() < 0.4) outs.add(pick(ts));
  for (const b of buffers) if (outs.has(b.name)) b.kind = 'output';
  return {
    name: `random${seed}`, module: MODULE, pack: 'pack', buffers, steps,
    inputs: [{ name: 'x', buffer: 'x' }], outputs: [...outs].map((o) => ({ name: o, buffer: o })),
  };
}

/**
 * The reference: runs `p` with loops unrolled (carried copies between iterations, outputs
 * read at the end) and returns, per buffer, the [write, last read] span of every value it
 * held. Slice views read their stacked buffer.
 */
function valueLifetimes(p: KProgram): Map<string, Array<[number, number]>> {
  const spans = new Map<string, Array<[number, number]>>();
  const cur = new Map<string, [number, number]>();
  const sliceOf = new Map<string, string>();
  let time = 0;
  const close = (b: string): void => {
    const c = cur.get(b);
    if (c) spans.set(b, [...(spans.get(b) ?? []), c]);
    cur.delete(b);
  };
  const read = (name: string): void => {
    const b = sliceOf.get(name) ?? name;
    const c = cur.get(b);
    if (c) c[1] = time;
  };
  const write = (b: string): void => {
    close(b);
    cur.set(b, [time, time]);
  };
  const run = (steps: readonly Step[]): void => {
    for (const s of steps) {
      if (s.kind === 'loop') {
        for (const sl of s.slices) sliceOf.set(sl.slice, sl.stacked);
        for (let it = 0; it < s.count; it++) {
          run(s.body);
          if (it < s.count - 1 && s.carried.length > 0) {
            for (const c of s.carried) read(c.from);
            for (const c of s.carried) write(c.to);
            time++;
          }
        }
        continue;
      }
      const k = s as OpKernel;
      k.inputs.forEach(read);
      k.outputs.forEach(write);
      time++;
    }
  };
  run(p.steps);
  for (const o of p.outputs) read(o.buffer);
  for (const b of [...cur.keys()]) close(b);
  return spans;
}

function checkPlan(p: KProgram, alignment: number, maxTokens: number): void {
  const before = JSON.stringify(p);
  const q = planMemory(p, { maxTokens, alignment });
  expect(JSON.stringify(p), 'planMemory must not mutate its input').toBe(before);
  const arena = q.buffers.filter((b) => b.kind === 'temp' || b.kind === 'output');
  for (const b of q.buffers.filter((x) => x.kind === 'input' || x.kind === 'weight')) expect(b.offset).toBeUndefined();
  expect(verifyKernelIR(q).filter((m) => /overlap|arena|bytes|offset/.test(m)), 'the verifier accepts the plan').toEqual([]);
  const spans = valueLifetimes(p);
  const live = (n: string): Array<[number, number]> => spans.get(n) ?? [];
  // The plan holds at every T in 1..maxTokens: checked at both ends and between.
  for (const T of new Set([1, Math.ceil(maxTokens / 2), maxTokens])) {
    const at = (d: Dim | undefined): number => atTokens(d!, T);
    for (const b of arena) {
      expect(at(b.offset) % alignment, `${b.name} aligned at T = ${T}`).toBe(0);
      expect(at(b.offset) + at(b.bytes)).toBeLessThanOrEqual(at(q.arenaBytes));
    }
    expect(at(q.arenaBytes) % alignment).toBe(0);
    for (let i = 0; i < arena.length; i++)
      for (let j = i + 1; j < arena.length; j++) {
        const a = arena[i];
        const b = arena[j];
        if (at(a.bytes) === 0 || at(b.bytes) === 0) continue;
        const together = live(a.name).some(([s0, e0]) => live(b.name).some(([s1, e1]) => s0 <= e1 && s1 <= e0));
        if (!together) continue;
        const disjoint = at(a.offset) + at(a.bytes) <= at(b.offset) || at(b.offset) + at(b.bytes) <= at(a.offset);
        expect(disjoint, `${p.name} at T = ${T}: ${a.name} [${at(a.offset)}, +${at(a.bytes)}) and ${b.name} [${at(b.offset)}, +${at(b.bytes)}) are live together`).toBe(true);
      }
  }
}

describe('planMemory properties', () => {
  it('never overlaps buffers that are live together, over 400 random programs', () => {
    let shared = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const p = randomProgram(seed);
      const alignment = [1, 4, 16, 64, 256][seed % 5];
      checkPlan(p, alignment, 1 + (seed % 50));
      const q = planMemory(p, { maxTokens: 16, alignment });
      if (atTokens(q.arenaBytes!, 16) < q.naiveBytes!) shared++;
    }
    // the generator is not degenerate: most programs do reuse memory
    expect(shared).toBeGreaterThan(200);
  });
});

const chain = (n: number, dtype: DType = 'f32'): KProgram => {
  const names = Array.from({ length: n }, (_, i) => `b${i}`);
  return {
    name: 'chain', module: MODULE, pack: 'pack',
    buffers: [
      { name: 'x', dtype, shape: [T, 64], kind: 'input' },
      ...names.map((nm, i): KBuffer => ({ name: nm, dtype, shape: [T, 64], kind: i === n - 1 ? 'output' : 'temp' })),
    ],
    steps: names.map((nm, i) => op([i === 0 ? 'x' : names[i - 1]], [nm])),
    inputs: [{ name: 'x', buffer: 'x' }], outputs: [{ name: names[n - 1], buffer: names[n - 1] }],
  };
};

describe('planMemory cases', () => {

  it('fits a straight chain a→b→c→d in two buffers, not four', () => {
    const q = planMemory(chain(4), { maxTokens: 32, alignment: 256 });
    const one = 32 * 64 * 4;
    expect(q.naiveBytes).toBe(4 * one);
    expect(atTokens(q.arenaBytes!, 32)).toBe(2 * one);
    expect(q.buffers.map((b) => b.offset && atTokens(b.offset, 32))).toEqual([undefined, 0, one, 0, one]);
    expect(atTokens(q.buffers.find((b) => b.name === 'x')!.bytes!, 32)).toBe(one);
    expect(q.maxTokens).toBe(32);
  });

  it('keeps a buffer defined before a loop and read inside it live across the whole loop', () => {
    const p: KProgram = {
      name: 'loop', module: MODULE, pack: 'pack',
      buffers: [
        { name: 'x', dtype: 'f32', shape: [16], kind: 'input' },
        { name: 'a', dtype: 'f32', shape: [16], kind: 'temp' },
        { name: 'b', dtype: 'f32', shape: [16], kind: 'temp' },
        { name: 'c', dtype: 'f32', shape: [16], kind: 'temp' },
        { name: 'y', dtype: 'f32', shape: [16], kind: 'output' },
      ],
      steps: [
        op(['x'], ['a']),
        { kind: 'loop', count: 3, slices: [], carried: [], body: [op(['a'], ['b']), op(['b'], ['c']), op(['c', 'a'], ['b'])] },
        op(['b'], ['y']),
      ],
      inputs: [{ name: 'x', buffer: 'x' }], outputs: [{ name: 'y', buffer: 'y' }],
    };
    const { intervals } = liveIntervals(p);
    expect(intervals.get('a')).toEqual({ start: 0, end: 3 });
    expect(intervals.get('c')).toEqual({ start: 2, end: 3 });
    checkPlan(p, 4, 1);
  });

  it('reuses the offsets of body-local temps in every iteration', () => {
    const body = chain(6).steps;
    const p: KProgram = { ...chain(6), steps: [{ kind: 'loop', count: 10, slices: [], carried: [], body }] };
    const q = planMemory(p, { maxTokens: 8, alignment: 64 });
    expect(atTokens(q.arenaBytes!, 8)).toBe(2 * 8 * 64 * 4);
  });

  it('keeps both sides of a carried pair for the whole loop', () => {
    const p: KProgram = {
      name: 'carry', module: MODULE, pack: 'pack',
      buffers: [
        { name: 'x', dtype: 'f32', shape: [16], kind: 'input' },
        { name: 'h', dtype: 'f32', shape: [16], kind: 'temp' },
        { name: 'u', dtype: 'f32', shape: [16], kind: 'temp' },
        { name: 'v', dtype: 'f32', shape: [16], kind: 'temp' },
        { name: 'y', dtype: 'f32', shape: [16], kind: 'output' },
      ],
      steps: [
        op(['x'], ['h']),
        { kind: 'loop', count: 4, slices: [], carried: [{ from: 'v', to: 'h' }], body: [op(['h'], ['u']), op(['u'], ['v'])] },
        op(['v'], ['y']),
      ],
      inputs: [{ name: 'x', buffer: 'x' }], outputs: [{ name: 'y', buffer: 'y' }],
    };
    const { intervals } = liveIntervals(p);
    expect(intervals.get('h')).toEqual({ start: 0, end: 2 });
    expect(intervals.get('v')).toEqual({ start: 1, end: 3 });
    checkPlan(p, 16, 1);
    const q = planMemory(p, { maxTokens: 1, alignment: 16 });
    const at = (n: string): number => atTokens(q.buffers.find((b) => b.name === n)!.offset!, 1);
    expect(at('h')).not.toBe(at('v'));
  });

  it('sizes buffers at maxTokens with other dims from bindings, and throws for an unbound one', () => {
    const p = chain(2);
    p.buffers[2] = { ...p.buffers[2], shape: [T, sym('D')] };
    const q = planMemory(p, { maxTokens: 10, alignment: 1, bindings: { D: 3 } });
    expect(atTokens(q.buffers.find((b) => b.name === 'b1')!.bytes!, 10)).toBe(10 * 3 * 4);
    expect(() => planMemory(p, { maxTokens: 10, alignment: 1 })).toThrow(/D/);
  });

  it('runs as a kernel pass aligned for the target', () => {
    const target = { alignment: 64, limits: { minStorageBufferOffsetAlignment: 256 } } as TargetCaps;
    const q = planMemoryPass.run({ ...chain(3), maxTokens: 3 }, { target });
    expect(q.maxTokens).toBe(3);
    expect(q.buffers.every((b) => b.offset === undefined || [1, 2, 3].every((t) => atTokens(b.offset!, t) % 256 === 0))).toBe(true);
    expect(planMemoryPass.requires).toEqual(['lower-kernels', 'tile']);
  });
});

describe('loop init copies', () => {
  it('keep the copied-from buffer apart from the loop buffer it initialises', () => {
    // a is last used by the loop's init copy into b; without counting that copy a's interval
    // would end before the loop and a and b could share bytes (a copy onto itself, or worse).
    const buf = (name: string): KBuffer => ({ name, dtype: 'f32', shape: [T, 64], kind: 'temp' });
    const loop: Step = { kind: 'loop', count: 3, slices: [], init: [{ from: 'a', to: 'b' }], carried: [{ from: 'c', to: 'b' }], body: [op(['b'], ['c'], 'relu')] };
    const p: KProgram = {
      name: 'init', module: MODULE, pack: 'pack', inputs: [{ name: 'x', buffer: 'x' }], outputs: [{ name: 'y', buffer: 'c' }],
      buffers: [{ name: 'x', dtype: 'f32', shape: [T, 64], kind: 'input' }, buf('a'), buf('b'), buf('c')],
      steps: [op(['x'], ['a'], 'relu'), loop],
    };
    const planned = planMemory(p, { maxTokens: 4, alignment: 64 });
    const [a, b] = ['a', 'b'].map((n) => planned.buffers.find((x) => x.name === n)!);
    for (const t of [1, 4]) {
      const at = (d: Dim | undefined): number => atTokens(d!, t);
      expect(at(a.offset) + at(a.bytes) <= at(b.offset) || at(b.offset) + at(b.bytes) <= at(a.offset)).toBe(true);
    }
  });
});

describe('arena parts (WebGPU binding size)', () => {
  it('DeepSeek-V3 (the whole decoder from its config) at bound 256 splits into parts below 128 MiB each (was: one 146 MiB arena over the binding)', () => {
    const path = 'examples/hf/DeepSeek-V3/config.json';
    const m = importHfConfig(readFileSync(path, 'utf8'), path).module;
    const target = loadTarget('webgpu');
    const limit = target.limits.maxStorageBufferBindingBytes!;
    expect(limit).toBe(128 * 2 ** 20);
    const { program } = compileModel(m, { target, maxTokens: 256 });
    const parts = program.arenaParts!;
    expect(parts.length).toBeGreaterThanOrEqual(2);
    // Over the binding in one piece, within it in each part, at the bound.
    expect(atTokens(program.arenaBytes!, 256)).toBeGreaterThan(limit);
    for (const d of parts) expect(atTokens(d, 256)).toBeLessThanOrEqual(limit);
    for (const b of program.buffers.filter((x) => x.offset !== undefined)) expect(b.part, b.name).toBeDefined();
    expect(verifyKernelIR(program)).toEqual([]);
    // The same plan for a CPU target stays in one part.
    expect(compileModel(m, { target: 'x86-avx2', maxTokens: 256 }).program.arenaParts).toBeUndefined();
  });

  it('the verifier finds two live buffers of one part whose affine ranges cross between T = 1 and the bound', () => {
    const p = planMemory(chain(2), { maxTokens: 64, alignment: 4 });
    // (This file's programs are sketches, not whole modules: only the memory plan's messages matter here.)
    const memory = (q: KProgram): string[] => verifyKernelIR(q).filter((msg) => /@offset|\+bytes|overlap|arena/.test(msg));
    expect(memory(p)).toEqual([]);
    // b0 grows with T from 0, b1 sits at a fixed offset: apart at T = 1, overlapping by the bound.
    expect(p.buffers.map((b) => (b.offset === undefined ? undefined : dimToString(b.offset)))).toEqual([undefined, '0', '256*T']);
    const crossed: KProgram = { ...p, arenaBytes: affine(256, 2048), buffers: p.buffers.map((b) => (b.name === 'b1' ? { ...b, offset: 2048 } : b)) };
    expect(memory(crossed)).toEqual([`buffer b1: its bytes (@2048 +256*T) overlap b0's (@0 +256*T) at some T in 1..64, and both are live at kernel 1`]);
  });
});
