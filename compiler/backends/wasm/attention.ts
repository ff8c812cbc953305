/**
 * @fileoverview The Wasm `attention` kernel (ir/kernel/attention.ts) with the KV cache as
 * state in linear memory (`layout.ts`: the caches live between calls, the loader writes the
 * call's L): the port of targets/c/attention.c.hbs.
 *
 * A call first appends its T keys and values to the caches at rows L..L+T-1, then each row
 * (token t, kv head) folds the keys it sees (causal, the window) into the blocks of the heads
 * that read that kv head, in tiles of the schedule's key tile (`online-softmax.ts`: scratch
 * O(heads per group x tile), never O(L)). A single token (T = 1) instead splits its visible keys
 * into at most `splits` ranges (each at least a tile), each a partial softmax of every head in
 * the shared partials, merged by maxima and sums; the ranges depend on the schedule only, so
 * the results do not depend on the thread count. In the threaded build every thread runs the
 * kernel: rows and ranges go round the threads, a barrier after the append and before the merge.
 * SIMD128 for the dot products, the accumulators' rescaling and the value accumulation.
 */
import binaryen from 'binaryen';
import { fail } from '../../../ir/diagnostics.ts';
import { isSym } from '../../../ir/dims.ts';
import type { AttentionKernel, AttentionSchedule } from '../../../ir/kernel/attention.ts';
import type { MlaAttentionKernel } from '../../../ir/kernel/mla.ts';
import { KernelFn, type ProgramEnv, type ProgramShapes } from './env.ts';
import { type Expr, type Local, f32load, f32store, i32c } from './fn.ts';
import { RowOps, blockBytes, buildFold, emptyBlocks, expf, foldScratchBytes, splitRange } from './online-softmax.ts';

const F = 4;

/** The kernel's schedule (E701 when the tiler left none) and the fixed sizes after a buffer's leading axis. */
export function attentionShape(k: AttentionKernel | MlaAttentionKernel, shapes: ProgramShapes): { dims: (name: string) => number[]; schedule: AttentionSchedule } {
  const schedule = k.schedule;
  if (!schedule) fail('E701', `the ${k.kind} writing ${k.out} has no schedule (key tile, decode split)`, undefined, 'run the tile pass for a Wasm target: it records the schedule');
  const dims = (name: string): number[] =>
    shapes.buffers.get(name)!.shape.slice(1).map((d) => {
      if (isSym(d)) throw new Error(`wasm backend: ${name} has a symbolic size where ${k.kind} needs a fixed one`);
      return d;
    });
  return { dims, schedule };
}

function sizes(k: AttentionKernel, shapes: ProgramShapes) {
  const { dims, schedule } = attentionShape(k, shapes);
  const [heads, dk] = dims(k.q);
  const [kvHeads, dv] = dims(k.v);
  return { heads, dk, kvHeads, dv, perGroup: heads / kvHeads, keyTile: schedule.keyTile, splits: schedule.splits };
}

/** Bytes of one thread's scratch: the blocks of a row's heads and the fold's tile. */
export function attentionScratchBytes(shapes: ProgramShapes, k: AttentionKernel): number {
  const s = sizes(k, shapes);
  return s.perGroup * blockBytes(s.dv) + foldScratchBytes(s.perGroup, s.keyTile);
}

/** Bytes the decode split shares between threads: its partials (none without a split). */
export function attentionSharedBytes(shapes: ProgramShapes, k: AttentionKernel): number {
  const s = sizes(k, shapes);
  return s.splits > 1 ? s.splits * s.heads * blockBytes(s.dv) : 0;
}

/** What the attention and MLA kernels' functions share: L, its check, the append. */
export interface CallSetup {
  L: Local;
  /** Appends the call's rows to the caches (thread 0), then syncs; returns early on a bad L. */
  code: Expr[];
}

/**
 * Reads L, refuses L + T past the context (the loader checks first: this only guards
 * memory), appends each [new rows, cache, row bytes] at row L on thread 0, and syncs.
 */
export function callSetup(f: KernelFn, appends: ReadonlyArray<[string, string, number]>): CallSetup {
  const m = f.m;
  const L = f.i32();
  const ctx = f.env.layout.state!.maxContext;
  return {
    L,
    code: [
      f.set(L, f.past()),
      m.if(m.i32.gt_u(m.i32.add(f.get(L), f.T()), i32c(m, ctx)), f.badExpert(m.return())),
      f.onThread0(appends.map(([rows, cache, bytes]) => m.memory.copy(m.i32.add(f.addr(cache), m.i32.mul(f.get(L), i32c(m, bytes))), f.addr(rows), m.i32.mul(f.T(), i32c(m, bytes))))),
      ...f.barrier(),
    ],
  };
}

/** `for (x = tid; x < n; x += nthreads)`: work items round the threads (all of them in the one-thread build). */
export function roundThreads(f: KernelFn, x: Local, n: Expr, body: Expr[]): Expr {
  return f.forRange(x, f.tid(), n, body, () => f.nthreads());
}

export function buildAttention(env: ProgramEnv, k: AttentionKernel, name: string, depth: number): void {
  const m = env.m;
  const s = sizes(k, env);
  const { heads: H, dk, kvHeads: G, dv, perGroup: P, keyTile: KT, splits } = s;
  const BB = blockBytes(dv);
  const fold = `${name}_keys`;
  buildFold(env, {
    name: fold,
    rows: P,
    keyTile: KT,
    width: dv,
    scale: k.scale,
    // Query row r of the group at qa; key j of kv head kvh in the k cache at ca.
    score: (g, r, j, out) =>
      g.ops.dot(out, m.i32.add(g.f.get(g.qa), m.i32.mul(r(), i32c(m, F * dk))), m.i32.add(g.f.get(g.ca), m.i32.mul(m.i32.add(m.i32.mul(j(), i32c(m, G)), g.f.get(g.kvh)), i32c(m, F * dk))), dk),
    value: (g, j) => m.i32.add(g.f.get(g.cb), m.i32.mul(m.i32.add(m.i32.mul(j(), i32c(m, G)), g.f.get(g.kvh)), i32c(m, F * dv))),
  });
  const f = new KernelFn(env, name, depth);
  const ops = new RowOps(f, env.lanes);
  const setup = callSetup(f, [
    [k.k, k.kCache, F * G * dk],
    [k.v, k.vCache, F * G * dv],
  ]);
  const L = setup.L;
  const [r, t, kvh, i, e, part, lo, hi, first, parts, b, o, h, pp] = Array.from({ length: 14 }, () => f.i32());
  const [l, sc, top, sink, c] = Array.from({ length: 5 }, () => f.f32());
  // The first key query t sees: max(0, L + t + 1 - window) (`tt` makes t).
  const firstOf = (tt: () => Expr): Expr => {
    const at = (): Expr => m.i32.sub(m.i32.add(m.i32.add(f.get(L), tt()), m.i32.const(1)), i32c(m, k.window));
    return k.window > 0 ? m.select(m.i32.gt_s(at(), m.i32.const(0)), at(), m.i32.const(0)) : m.i32.const(0);
  };
  const foldCall = (q: Expr, j0: Expr, j1: Expr, blocks: Expr): Expr => m.call(fold, [q, m.i32.const(0), j0, j1, blocks, f.get(kvh), f.addr(k.kCache), f.addr(k.vCache), f.scratch(P * BB)], binaryen.none);
  const sinkOf = (head: Expr): Expr => f32load(m, m.i32.add(f.addr(k.sinks!), m.i32.shl(head, m.i32.const(2))));
  const divide = (at: Local, by: Expr): Expr[] => [f.set(sc, by), f.forRange(e, m.i32.const(0), i32c(m, F * dv), [f32store(m, m.i32.add(f.get(at), f.get(e)), m.f32.div(f32load(m, m.i32.add(f.get(at), f.get(e))), f.get(sc)))], 4)];
  // Rows (t, kv head): a whole softmax each, over keys first(t)..L+t.
  const rows = roundThreads(f, r, m.i32.mul(f.T(), i32c(m, G)), [
    f.set(t, m.i32.div_u(f.get(r), i32c(m, G))),
    f.set(kvh, m.i32.rem_u(f.get(r), i32c(m, G))),
    f.set(b, f.scratch(0)),
    ...emptyBlocks(f, b, P, dv, i),
    // q row and out row of the group's first head: (t * H + kvh * P)
    f.set(h, m.i32.add(m.i32.mul(f.get(t), i32c(m, H)), m.i32.mul(f.get(kvh), i32c(m, P)))),
    foldCall(m.i32.add(f.addr(k.q), m.i32.mul(f.get(h), i32c(m, F * dk))), firstOf(() => f.get(t)), m.i32.add(m.i32.add(f.get(L), f.get(t)), m.i32.const(1)), f.get(b)),
    f.forRange(i, m.i32.const(0), i32c(m, P), [
      f.set(pp, m.i32.add(f.get(b), m.i32.mul(f.get(i), i32c(m, BB)))),
      f.set(o, m.i32.add(f.addr(k.out), m.i32.mul(m.i32.add(f.get(h), f.get(i)), i32c(m, F * dv)))),
      f.set(l, f32load(m, f.get(pp), 4)),
      f.set(c, m.f32.const(1)),
      // the sink joins the denominator only
      ...(k.sinks !== undefined
        ? [
            f.set(sink, sinkOf(m.i32.add(m.i32.mul(f.get(kvh), i32c(m, P)), f.get(i)))),
            f.set(top, m.select(m.f32.gt(f.get(sink), f32load(m, f.get(pp))), f.get(sink), f32load(m, f.get(pp)))),
            f.set(c, expf(env, m.f32.sub(f32load(m, f.get(pp)), f.get(top)))),
            f.set(l, m.f32.add(m.f32.mul(f.get(l), f.get(c)), expf(env, m.f32.sub(f.get(sink), f.get(top))))),
          ]
        : []),
      f.forRange(e, m.i32.const(0), i32c(m, F * dv), [f32store(m, m.i32.add(f.get(o), f.get(e)), m.f32.div(m.f32.mul(f32load(m, m.i32.add(f.get(pp), f.get(e)), 16), f.get(c)), f.get(l)))], 4),
    ]),
  ]);
  const body: Expr[] = [...setup.code];
  if (splits <= 1) body.push(rows);
  else {
    const shared = env.layout.state!.shared;
    const partial = (p: Expr, head: Expr): Expr => m.i32.add(i32c(m, shared), m.i32.mul(m.i32.add(m.i32.mul(p, i32c(m, H)), head), i32c(m, BB)));
    body.push(
      f.set(first, firstOf(() => m.i32.const(0))),
      // the keys one decode part scores: at least a tile, so a part is worth a thread; at most `splits` parts, never the thread count
      f.set(parts, m.i32.div_s(m.i32.add(m.i32.sub(m.i32.add(f.get(L), m.i32.const(1)), f.get(first)), i32c(m, KT - 1)), i32c(m, KT))),
      f.set(parts, m.select(m.i32.gt_s(f.get(parts), i32c(m, splits)), i32c(m, splits), f.get(parts))),
      m.if(
        m.i32.or(m.i32.gt_s(f.T(), m.i32.const(1)), m.i32.lt_s(f.get(parts), m.i32.const(2))),
        rows,
        m.block(null, [
          roundThreads(f, part, f.get(parts), [
            ...splitRange(f, () => m.i32.sub(m.i32.add(f.get(L), m.i32.const(1)), f.get(first)), part, parts, lo, hi),
            f.forRange(kvh, m.i32.const(0), i32c(m, G), [
              f.set(b, partial(f.get(part), m.i32.mul(f.get(kvh), i32c(m, P)))),
              ...emptyBlocks(f, b, P, dv, i),
              foldCall(m.i32.add(f.addr(k.q), m.i32.mul(f.get(kvh), i32c(m, F * P * dk))), m.i32.add(f.get(first), f.get(lo)), m.i32.add(f.get(first), f.get(hi)), f.get(b)),
            ]),
          ]),
          ...f.barrier(),
          // Each head's parts merged by one thread, in part order.
          roundThreads(f, h, i32c(m, H), [
            f.set(top, k.sinks !== undefined ? sinkOf(f.get(h)) : m.f32.const(-Infinity)),
            f.forRange(part, m.i32.const(0), f.get(parts), [f.set(c, f32load(m, partial(f.get(part), f.get(h)))), m.if(m.f32.gt(f.get(c), f.get(top)), f.set(top, f.get(c)))]),
            f.set(l, k.sinks !== undefined ? expf(env, m.f32.sub(sinkOf(f.get(h)), f.get(top))) : m.f32.const(0)),
            f.set(o, m.i32.add(f.addr(k.out), m.i32.mul(f.get(h), i32c(m, F * dv)))),
            m.memory.fill(f.get(o), m.i32.const(0), i32c(m, F * dv)),
            f.forRange(part, m.i32.const(0), f.get(parts), [
              f.set(pp, partial(f.get(part), f.get(h))),
              f.set(c, expf(env, m.f32.sub(f32load(m, f.get(pp)), f.get(top)))),
              f.set(l, m.f32.add(f.get(l), m.f32.mul(f32load(m, f.get(pp), 4), f.get(c)))),
              ...ops.update(f.get(o), dv, null, { at: m.i32.add(f.get(pp), m.i32.const(16)), p: f.get(c) }),
            ]),
            ...divide(o, f.get(l)),
          ]),
        ]),
      ),
    );
  }
  f.finish(body);
}
