/**
 * The persistent C runner (compiler/backends/c/session.ts, `FILE_main --serve`): one process
 * per loaded model holds the weights, the arena and the KV cache region between calls.
 * A decode loop runs in that one process and matches the kernel interpreter; `loadCaches`
 * and `reset` act on the runner's state; `dispose` ends the process; a runner killed from
 * outside is a clear E513, and a reset starts a new one; an idle runner does not keep Node
 * alive.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CModel, loadC } from '../../compiler/backends/c/index.ts';
import { buildExecutable } from '../../compiler/backends/c/build.ts';
import { cWeightBlob } from '../../compiler/backends/c/layout.ts';
import { renderC } from '../../compiler/backends/c/render.ts';
import { blobSource } from '../../compiler/backends/weights.ts';
import { MoecError } from '../../ir/diagnostics.ts';
import { stateFromCaches } from '../../compiler/backends/state-caches.ts';
import { compile, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import { allocateState } from '../../ir/kernel/attention.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import { interpret } from '../../ir/graph/interp.ts';
import { parseIR } from '../../ir/graph/parse.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { expectAgreement } from '../expect-agreement.ts';
import { Sampler } from '../../compiler/generate/sampling.ts';

const TOL = 1e-5;
const FILE = 'test/fixtures/attention-stack.moe';
const M = compile(readFileSync(FILE, 'utf8'), { path: FILE });
const W = randomWeights(M, 21);
const X86 = loadTarget('x86-avx2');
const P: KProgram = runPipeline(M, { target: X86, maxTokens: 16, maxContext: 40 }).program!;
/** The caches as the graph takes them (inputs [.., L, ..]). */
const CACHES = ['layers.a.k_cache', 'layers.a.v_cache', 'layers.b.k_cache', 'layers.b.v_cache'];

/** The new tokens' inputs at [L, T] (seeded by position, so any split of a sequence sees the same tokens). */
function inputsAt(L: number, T: number): Record<string, Tensor> {
  const rows = Array.from({ length: T }, (_, t) => randomInputs(M, { T: 1, L: 1 }, 300 + L + t));
  const out: Record<string, Tensor> = {};
  for (const name of ['x', 'k', 'v']) {
    const one = rows[0][name];
    const data = new Float32Array(T * one.data.length);
    rows.forEach((r, t) => data.set(r[name].data, t * one.data.length));
    out[name] = { dtype: 'f32', shape: [T, ...one.shape.slice(1)], data };
  }
  return out;
}

/** Whether process `pid` runs: exists and is no zombie (a dead child its parent, or an init that does not reap, has not waited for). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Whether process `pid` is gone within 2 s (polled: a kill takes effect asynchronously). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200 && running(pid); i++) await new Promise((r) => setTimeout(r, 10));
  return !running(pid);
}

describe('C backend: the persistent runner', () => {
  it('a decode loop of 20 steps after a prefill runs in one runner process and matches the kernel interpreter, whatever each call\'s thread count', async () => {
    const model = loadC(P, X86, W);
    model.threads = 2;
    const state = allocateState(P);
    try {
      expect(model.runnerPid).toBeUndefined(); // started by the first call
      const pids = new Set<number | undefined>();
      for (const [L, T] of [[0, 4], ...Array.from({ length: 20 }, (_, i) => [4 + i, 1])]) {
        // The thread count is each request's: one runner serves 1, 2 and 3 in turn.
        model.threads = 1 + (L % 3);
        const inputs = inputsAt(L, T);
        const got = await model.forward(inputs, { T, L });
        pids.add(model.runnerPid);
        const want = interpretKernelIR(P, { bindings: { T, L }, inputs, weights: W, state });
        expectAgreement(got.y, want.y, { maxRel: TOL, relL2: TOL }, `L = ${L}, T = ${T}`);
        expect(model.lastForwardMs).toBeGreaterThan(0);
      }
      expect(pids.size).toBe(1);
      expect([...pids][0]).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  });

  it('loadCaches puts caches as the graph takes them into the runner\'s state (was: E503 asking for the layer loop\'s slices of them): forward then equals the graph interpreter on those caches, and decoding goes on from them', async () => {
    const L = 9;
    const T = 3;
    const model = loadC(P, X86, W);
    model.threads = 2;
    try {
      const given = randomInputs(M, { T, L }, 5);
      const caches = Object.fromEntries(CACHES.map((c) => [c, given[c]]));
      model.loadCaches(caches, L);
      const inputs = inputsAt(L, T);
      const got = await model.forward(inputs, { T, L });
      const want = interpret(M, { bindings: { T, L }, inputs: { ...caches, ...inputs }, weights: W });
      expectAgreement(got.y, want.y, { maxRel: TOL, relL2: TOL }, 'from loaded caches');
      // The next step sees the loaded positions and the 3 the call appended: the interpreter's
      // state after loading the same caches and running the same call.
      const state = Object.fromEntries(stateFromCaches(P, caches, L).map((s): [string, Tensor] => [s.name, { dtype: 'f32', shape: s.shape, data: s.data }]));
      interpretKernelIR(P, { bindings: { T, L }, inputs, weights: W, state });
      const next = inputsAt(L + T, 1);
      const step = await model.forward(next, { T: 1, L: L + T });
      expectAgreement(step.y, interpretKernelIR(P, { bindings: { T: 1, L: L + T }, inputs: next, weights: W, state }).y, { maxRel: TOL, relL2: TOL }, 'a step after');
      // A wrong cache is the caller's mistake, refused before anything is sent.
      expect(() => model.loadCaches({ ...caches, 'layers.a.k_cache': given['layers.a.v_cache'] }, L - 1)).toThrow(/E504: the cache 'layers.a.k_cache' is \[2, 9, 2, 8\], expected \[2, 8, 2, 8\]/);
      expect(() => model.loadCaches({}, 2)).toThrow(/E503: missing the cache 'layers\.a\.k_cache'/);
      expect(() => model.loadCaches(caches, 41)).toThrow(/E505: 41 cached positions do not fit the context bound 40/);
    } finally {
      model.dispose();
    }
  });

  it('calls made without waiting reach the runner in program order, each with its own answer', async () => {
    const model = loadC(P, X86, W);
    try {
      const calls: Array<[number, number]> = [[0, 5], [5, 1], [6, 1], [7, 3]];
      const sequential: number[][] = [];
      for (const [L, T] of calls) sequential.push(Array.from((await model.forward(inputsAt(L, T), { T, L })).y.data));
      model.reset();
      const together = await Promise.all(calls.map(([L, T]) => model.forward(inputsAt(L, T), { T, L })));
      expect(together.map((r) => Array.from(r.y.data))).toEqual(sequential);
      // The answers, split straight out of the pipe's chunks, each own exactly their buffer.
      for (const r of together) expect([r.y.data.byteOffset, (r.y.data.buffer as ArrayBuffer).byteLength]).toEqual([0, r.y.data.byteLength]);
    } finally {
      model.dispose();
    }
  });

  it('greedy answers the argmax of each output\'s last row and, asked, its log-probability, as the sampler gives them from forward\'s outputs, in order with forward calls', async () => {
    const model = loadC(P, X86, W);
    const argmaxLastRow = (t: Tensor): { id: number; logprob: number } => new Sampler().next(t.data.subarray(t.data.length - t.shape[t.shape.length - 1]));
    try {
      const calls: Array<[number, number]> = [[0, 5], [5, 1], [6, 3]];
      const want: Array<{ id: number; logprob: number }> = [];
      for (const [L, T] of calls) want.push(argmaxLastRow((await model.forward(inputsAt(L, T), { T, L })).y));
      model.reset();
      const mixed = await Promise.all(calls.map(([L, T], i) => (i === 1 ? model.forward(inputsAt(L, T), { T, L }).then((o) => argmaxLastRow(o.y)) : model.greedy(inputsAt(L, T), { T, L }, { logprob: true }).then((g) => g.y as { id: number; logprob: number }))));
      expect(mixed.map((c) => c.id)).toEqual(want.map((c) => c.id));
      // the log-probability summed in double in index order, as the sampler: equal to a few ulp (C's exp and V8's)
      mixed.forEach((c, i) => expect(Math.abs(c.logprob - want[i].logprob)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want[i].logprob))));
      expect(model.lastForwardMs).toBeGreaterThanOrEqual(0);
    } finally {
      model.dispose();
    }
    // Ties go to the first; a NaN never wins over an earlier value, and one at the start is never beaten (Sampler.next)
    const m = parseIR(['moec.ir 1', 'model g', 'dim T <= 8', 'func main(%x: f32[T, 8], %i: i32[T, 3]) {', '  %y = gather(%x, %i) {axis=-1} : f32[T, 3]', '  return y = %y', '}'].join('\n'), 'g.ir');
    const gather = loadC(runPipeline(m, { target: X86, maxTokens: 8 }).program!, X86, {});
    try {
      const row = (v: number[]): Tensor => ({ dtype: 'f32', shape: [1, 8], data: Float32Array.from(v) });
      const i: Tensor = { dtype: 'i32', shape: [1, 3], data: Int32Array.from([0, 1, 2]) };
      for (const [v, best] of [[[1, 3, 3], 1], [[Number.NaN, 3, 4], 0], [[1, Number.NaN, 0.5], 0], [[1, Number.NaN, 3], 2], [[-Infinity, -Infinity, -1], 2]] as const) {
        const x = row([...v, 0, 0, 0, 0, 0]);
        const got = (await gather.greedy({ x, i }, { T: 1 }, { logprob: true })).y;
        const want = new Sampler().next((await gather.forward({ x, i }, { T: 1 })).y.data);
        expect(got.id, JSON.stringify(v)).toBe(best);
        expect(want.id).toBe(best);
        if (Number.isNaN(want.logprob)) expect(got.logprob).toBeNaN();
        else expect(Math.abs(got.logprob! - want.logprob)).toBeLessThanOrEqual(1e-12);
      }
      // [1, 3, 3]: the first 3, with log-probability -log(2 + e^-2)
      {
        const got = (await gather.greedy({ x: row([1, 3, 3, 0, 0, 0, 0, 0]), i }, { T: 1 }, { logprob: true })).y;
        expect((await gather.greedy({ x: row([1, 3, 3, 0, 0, 0, 0, 0]), i }, { T: 1 })).y).toEqual({ id: 1 }); // no log-probability unless asked
        expect(got.logprob).toBeCloseTo(-Math.log(2 + Math.exp(-2)), 12);
      }
    } finally {
      gather.dispose();
    }
  });

  it('reset empties the runner\'s cache: a prefill after it equals the first', async () => {
    const model = loadC(P, X86, W);
    model.threads = 2;
    try {
      const first = await model.forward(inputsAt(0, 5), { T: 5, L: 0 });
      await model.forward(inputsAt(5, 1), { T: 1, L: 5 });
      model.reset();
      // After a reset the positions past the new prefill are zero again: a step at L = 5 sees the new keys only.
      const again = await model.forward(inputsAt(0, 5), { T: 5, L: 0 });
      expect(Array.from(again.y.data)).toEqual(Array.from(first.y.data));
    } finally {
      model.dispose();
    }
  });

  it('bad data forward finds is E505 and the runner serves on: the next call on the same process is right', async () => {
    const m = parseIR(['moec.ir 1', 'model g', 'dim T <= 8', 'func main(%x: f32[T, 8], %i: i32[T, 3]) {', '  %y = gather(%x, %i) {axis=-1} : f32[T, 3]', '  return y = %y', '}'].join('\n'), 'g.ir');
    const p = runPipeline(m, { target: X86, maxTokens: 8 }).program!;
    const model = loadC(p, X86, {});
    try {
      const x: Tensor = { dtype: 'f32', shape: [2, 8], data: Float32Array.from({ length: 16 }, (_, i) => i) };
      const ids = (v: number[]): Tensor => ({ dtype: 'i32', shape: [2, 3], data: Int32Array.from(v) });
      await expect(model.forward({ x, i: ids([0, 1, 9, 2, 3, 4]) }, { T: 2 })).rejects.toThrow(/^E505: the C model's forward stopped on bad data: an index out of range/);
      const pid = model.runnerPid;
      const good = await model.forward({ x, i: ids([0, 1, 7, 2, 3, 4]) }, { T: 2 });
      expect(Array.from(good.y.data)).toEqual([0, 1, 7, 10, 11, 12]);
      expect(model.runnerPid).toBe(pid);
    } finally {
      model.dispose();
    }
  });

  it('a kernel that writes past the arena where this call\'s T ends it fails the call with the runner\'s words (a bug: not a MoecError)', async () => {
    const src = renderC(P, X86);
    const PREFIX = src.file.toUpperCase();
    // Sabotage: forward also writes one float just past arena_bytes(T), inside the region allocated at the token bound.
    const bad = { ...src, source: src.source.replace(new RegExp(`\\n {2}return ${PREFIX}_OK;\\n}\\s*$`), `\n  ((float *)A)[${src.file}_arena_bytes(T) / 4] = 1.0f;\n  return ${PREFIX}_OK;\n}\n`) };
    expect(bad.source).not.toEqual(src.source);
    const model = new CModel(bad, buildExecutable(bad, X86), cWeightBlob(src.layout, blobSource(P, W)), P, 1);
    try {
      const err = await model.forward(inputsAt(0, 2), { T: 2, L: 0 }).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(MoecError);
      expect(String(err)).toMatch(/C backend: the C runner of \w+ \(pid \d+\) exited with 4:\n\w+_main: guard after the arena was overwritten/);
    } finally {
      model.dispose();
    }
  });

  it('dispose ends the runner process', async () => {
    const model = loadC(P, X86, W);
    await model.forward(inputsAt(0, 2), { T: 2, L: 0 });
    const pid = model.runnerPid!;
    expect(running(pid)).toBe(true);
    model.dispose();
    expect(await gone(pid)).toBe(true);
  });

  it('a runner killed with SIGKILL is E513 naming it (not a bug, not a hang), every call after too; reset starts a new one', async () => {
    const model = loadC(P, X86, W);
    model.threads = 2;
    try {
      const first = await model.forward(inputsAt(0, 3), { T: 3, L: 0 });
      const pid = model.runnerPid!;
      process.kill(pid, 'SIGKILL');
      expect(await gone(pid)).toBe(true);
      const killed = new RegExp(`E513: the C runner of \\w+ \\(pid ${pid}\\) was killed by SIGKILL`);
      await expect(model.forward(inputsAt(3, 1), { T: 1, L: 3 })).rejects.toThrow(killed);
      // The cache died with it: a later step must not silently run on an empty one.
      await expect(model.forward(inputsAt(3, 1), { T: 1, L: 3 })).rejects.toThrow(killed);
      model.reset();
      const again = await model.forward(inputsAt(0, 3), { T: 3, L: 0 });
      expect(model.runnerPid).not.toBe(pid);
      expect(Array.from(again.y.data)).toEqual(Array.from(first.y.data));
    } finally {
      model.dispose();
    }
  });

  it('a runner killed during a forward rejects that forward with E513', async () => {
    const model = loadC(P, X86, W);
    try {
      await model.forward(inputsAt(0, 1), { T: 1, L: 0 });
      // Stopped, the runner cannot answer before the kill: the forward is surely owed then.
      process.kill(model.runnerPid!, 'SIGSTOP');
      const pending = model.forward(inputsAt(1, 15), { T: 15, L: 1 });
      await new Promise((r) => setTimeout(r, 50));
      process.kill(model.runnerPid!, 'SIGKILL');
      await expect(pending).rejects.toThrow(/E513: .* was killed by SIGKILL/);
    } finally {
      model.dispose();
    }
  });

  it('an idle runner does not keep Node alive: a program that never calls dispose exits, and its runner with it', async () => {
    const script = join(import.meta.dirname, 'fixtures', 'c-runner-no-dispose.ts');
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 120_000 });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const pid = Number(/runner (\d+)/.exec(r.stdout)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(await gone(pid)).toBe(true);
  }, 130_000);

  for (const signal of ['SIGTERM', 'SIGKILL'] as const)
    it(`moec ended by ${signal} takes its runner with it`, async () => {
      const script = join(import.meta.dirname, 'fixtures', 'c-runner-no-dispose.ts');
      const child = spawn(process.execPath, ['--import', 'tsx', script, 'wait'], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        const pid = await new Promise<number>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (b: Buffer) => {
            out += b.toString();
            const m = /runner (\d+)/.exec(out);
            if (m) resolve(Number(m[1]));
          });
          child.on('exit', (code) => reject(new Error(`the script exited with ${code} before starting its runner`)));
        });
        expect(running(pid)).toBe(true);
        const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, s) => resolve(s)));
        child.kill(signal);
        expect(await exited).toBe(signal);
        // SIGKILL leaves no handler to run: the runner sees EOF on its stdin and ends itself.
        expect(await gone(pid)).toBe(true);
      } finally {
        child.kill('SIGKILL');
      }
    }, 130_000);
});

