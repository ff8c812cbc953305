/**
 * @fileoverview The Wasm `mla_attention` kernel (ir/kernel/mla.ts): DeepSeek's latent
 * attention in the absorbed form, the latent and rope-key caches as state in linear memory;
 * the port of targets/c/mla.c.hbs.
 *
 * With wkv_b as [H][Dn + Dv][C] (W_UK, then W_UV), a query row is first mapped into the latent
 * space, q_abs = q_nope W_UK (Dn -> C, in the thread's scratch); key j scores
 * (q_abs . c_j + q_pe . r_j) * scale against its cached latent c_j and rope key r_j; the
 * softmax-weighted latents are summed by the online softmax (`online-softmax.ts`, tiles of the
 * key tile) and mapped out through W_UV (C -> Dv). No key is ever expanded, and the cache holds
 * only C + Dr values a position. Heads go in blocks of the schedule's head block, each key
 * read once per block; rows (t, block) go round the threads. A single token (T = 1) splits its
 * keys into at most `splits` ranges of every head's partials (the latent queries of every head
 * and the partials shared between threads), merged by maxima and sums per head, so the results
 * do not depend on the thread count.
 */
import binaryen from 'binaryen';
import { type MlaAttentionKernel, mlaKernelSizes } from '../../../ir/kernel/mla.ts';
import { KernelFn, type ProgramEnv, type ProgramShapes } from './env.ts';
import { type Expr, type Local, f32load, f32store, i32c } from './fn.ts';
import { RowOps, blockBytes, buildFold, emptyBlocks, expf, foldScratchBytes, splitRange } from './online-softmax.ts';
import { attentionShape, callSetup, roundThreads } from './attention.ts';

const F = 4;

function sizes(k: MlaAttentionKernel, shapes: ProgramShapes) {
  const { dims, schedule } = attentionShape(k, shapes);
  return { ...mlaKernelSizes(k, dims, schedule, 'wasm'), keyTile: schedule.keyTile, splits: schedule.splits };
}

/** Bytes of one thread's scratch: a block's latent queries, its (m, l, acc) blocks and the fold's tile. */
export function mlaScratchBytes(shapes: ProgramShapes, k: MlaAttentionKernel): number {
  const s = sizes(k, shapes);
  return F * s.headBlock * Math.ceil(s.c / 4) * 4 + s.headBlock * blockBytes(s.c) + foldScratchBytes(s.headBlock, s.keyTile);
}

/** Bytes the decode split shares between threads: every head's latent query and the partials. */
export function mlaSharedBytes(shapes: ProgramShapes, k: MlaAttentionKernel): number {
  const s = sizes(k, shapes);
  return s.splits > 1 ? F * s.heads * Math.ceil(s.c / 4) * 4 + s.splits * s.heads * blockBytes(s.c) : 0;
}

export function buildMla(env: ProgramEnv, k: MlaAttentionKernel, name: string, depth: number): void {
  const m = env.m;
  const { heads: H, dn, dr, c: C, dv, headBlock: HB, keyTile: KT, splits } = sizes(k, env);
  const BB = blockBytes(C);
  const QA = F * Math.ceil(C / 4) * 4;
  const rowsPerHead = dn + dv;
  const fold = `${name}_keys`;
  buildFold(env, {
    name: fold,
    rows: HB,
    keyTile: KT,
    width: C,
    scale: k.scale,
    // Latent query row r at qa (stride QA), rope query at qb (stride Dr); key j's latent in the cache at ca, its rope key at cb.
    score: (g, r, j, out) => [
      ...g.ops.dot(out, m.i32.add(g.f.get(g.qa), m.i32.mul(r(), i32c(m, QA))), m.i32.add(g.f.get(g.ca), m.i32.mul(j(), i32c(m, F * C))), C),
      g.f.set(g.tmp, g.f.get(out)),
      ...g.ops.dot(out, m.i32.add(g.f.get(g.qb), m.i32.mul(r(), i32c(m, F * dr))), m.i32.add(g.f.get(g.cb), m.i32.mul(j(), i32c(m, F * dr))), dr),
      g.f.set(out, m.f32.add(g.f.get(g.tmp), g.f.get(out))),
    ],
    value: (g, j) => m.i32.add(g.f.get(g.ca), m.i32.mul(j(), i32c(m, F * C))),
  });
  const f = new KernelFn(env, name, depth);
  const ops = new RowOps(f, env.lanes);
  const setup = callSetup(f, [
    [k.kv, k.kvCache, F * C],
    [k.kPe, k.peCache, F * dr],
  ]);
  const L = setup.L;
  const [r, t, h0, i, d, part, lo, hi, parts, b, qa, o, h, pp, wr] = Array.from({ length: 15 }, () => f.i32());
  const [l, top, cc, x] = Array.from({ length: 4 }, () => f.f32());
  // Row `wrow` of head `head`'s block of wkv_b.
  const w = (head: Expr, wrow: Expr): Expr => m.i32.add(f.addr(k.wkvB), m.i32.mul(m.i32.add(m.i32.mul(head, i32c(m, rowsPerHead)), wrow), i32c(m, F * C)));
  // q_abs (at `into`) = q_nope row of head `head` (at `qn`) times W_UK[head], summed over d in order.
  const absorb = (qn: Expr, head: Expr, into: Local): Expr[] => [
    m.memory.fill(f.get(into), m.i32.const(0), i32c(m, F * C)),
    f.set(pp, qn),
    f.forRange(d, m.i32.const(0), i32c(m, dn), [...ops.update(f.get(into), C, null, { at: w(head, f.get(d)), p: f32load(m, m.i32.add(f.get(pp), m.i32.shl(f.get(d), m.i32.const(2)))) })]),
  ];
  // out row at `o` = (acc at `acc` . W_UV[head]) / l.
  const expand = (head: Expr, acc: Expr, by: Expr): Expr[] => [
    f.set(l, by),
    f.set(pp, acc),
    f.forRange(d, m.i32.const(0), i32c(m, dv), [...ops.dot(x, f.get(pp), w(head, m.i32.add(f.get(d), i32c(m, dn))), C), f32store(m, m.i32.add(f.get(o), m.i32.shl(f.get(d), m.i32.const(2))), m.f32.div(f.get(x), f.get(l)))]),
  ];
  const foldCall = (q: Expr, qp: Expr, j0: Expr, j1: Expr, blocks: Expr, scratch: Expr): Expr => m.call(fold, [q, qp, j0, j1, blocks, m.i32.const(0), f.addr(k.kvCache), f.addr(k.peCache), scratch], binaryen.none);
  // Per thread: [q_abs of a block][its blocks][the fold's tile].
  const blocks = QA * HB;
  const rows = roundThreads(f, r, m.i32.mul(f.T(), i32c(m, H / HB)), [
    f.set(t, m.i32.div_u(f.get(r), i32c(m, H / HB))),
    f.set(h0, m.i32.mul(m.i32.rem_u(f.get(r), i32c(m, H / HB)), i32c(m, HB))),
    // the row of head h0 of token t
    f.set(h, m.i32.add(m.i32.mul(f.get(t), i32c(m, H)), f.get(h0))),
    f.forRange(i, m.i32.const(0), i32c(m, HB), [
      f.set(qa, m.i32.add(f.scratch(0), m.i32.mul(f.get(i), i32c(m, QA)))),
      ...absorb(m.i32.add(f.addr(k.qNope), m.i32.mul(m.i32.add(f.get(h), f.get(i)), i32c(m, F * dn))), m.i32.add(f.get(h0), f.get(i)), qa),
    ]),
    f.set(b, f.scratch(blocks)),
    ...emptyBlocks(f, b, HB, C, i),
    foldCall(f.scratch(0), m.i32.add(f.addr(k.qPe), m.i32.mul(f.get(h), i32c(m, F * dr))), m.i32.const(0), m.i32.add(m.i32.add(f.get(L), f.get(t)), m.i32.const(1)), f.get(b), f.scratch(blocks + HB * BB)),
    f.forRange(i, m.i32.const(0), i32c(m, HB), [
      f.set(o, m.i32.add(f.addr(k.out), m.i32.mul(m.i32.add(f.get(h), f.get(i)), i32c(m, F * dv)))),
      f.set(b, m.i32.add(f.scratch(blocks), m.i32.mul(f.get(i), i32c(m, BB)))),
      ...expand(m.i32.add(f.get(h0), f.get(i)), m.i32.add(f.get(b), m.i32.const(16)), f32load(m, f.get(b), 4)),
    ]),
  ]);
  const body: Expr[] = [...setup.code];
  if (splits <= 1) body.push(rows);
  else {
    const shared = env.layout.state!.shared;
    const qAbs = (head: Expr): Expr => m.i32.add(i32c(m, shared), m.i32.mul(head, i32c(m, QA)));
    const partials = shared + H * QA;
    const partial = (p: Expr, head: Expr): Expr => m.i32.add(i32c(m, partials), m.i32.mul(m.i32.add(m.i32.mul(p, i32c(m, H)), head), i32c(m, BB)));
    body.push(
      // the keys one decode part scores: at least a tile; at most `splits` parts, never the thread count
      f.set(parts, m.i32.div_s(m.i32.add(m.i32.add(f.get(L), m.i32.const(1)), i32c(m, KT - 1)), i32c(m, KT))),
      f.set(parts, m.select(m.i32.gt_s(f.get(parts), i32c(m, splits)), i32c(m, splits), f.get(parts))),
      m.if(
        m.i32.or(m.i32.gt_s(f.T(), m.i32.const(1)), m.i32.lt_s(f.get(parts), m.i32.const(2))),
        rows,
        m.block(null, [
          roundThreads(f, h, i32c(m, H), [f.set(qa, qAbs(f.get(h))), ...absorb(m.i32.add(f.addr(k.qNope), m.i32.mul(f.get(h), i32c(m, F * dn))), f.get(h), qa)]),
          ...f.barrier(),
          roundThreads(f, part, f.get(parts), [
            ...splitRange(f, () => m.i32.add(f.get(L), m.i32.const(1)), part, parts, lo, hi),
            f.forRange(
              h0,
              m.i32.const(0),
              i32c(m, H),
              [
                f.set(b, partial(f.get(part), f.get(h0))),
                ...emptyBlocks(f, b, HB, C, i),
                foldCall(qAbs(f.get(h0)), m.i32.add(f.addr(k.qPe), m.i32.mul(f.get(h0), i32c(m, F * dr))), f.get(lo), f.get(hi), f.get(b), f.scratch(blocks + HB * BB)),
              ],
              HB,
            ),
          ]),
          ...f.barrier(),
          // Each head's parts merged by one thread, in part order, into its accumulator in the thread's scratch.
          roundThreads(f, h, i32c(m, H), [
            f.set(top, m.f32.const(-Infinity)),
            f.forRange(part, m.i32.const(0), f.get(parts), [f.set(cc, f32load(m, partial(f.get(part), f.get(h)))), m.if(m.f32.gt(f.get(cc), f.get(top)), f.set(top, f.get(cc)))]),
            f.set(b, f.scratch(blocks)),
            m.memory.fill(f.get(b), m.i32.const(0), i32c(m, BB)),
            f.forRange(part, m.i32.const(0), f.get(parts), [
              f.set(wr, partial(f.get(part), f.get(h))),
              f.set(cc, expf(env, m.f32.sub(f32load(m, f.get(wr)), f.get(top)))),
              f32store(m, f.get(b), m.f32.add(f32load(m, f.get(b), 4), m.f32.mul(f32load(m, f.get(wr), 4), f.get(cc))), 4),
              ...ops.update(m.i32.add(f.get(b), m.i32.const(16)), C, null, { at: m.i32.add(f.get(wr), m.i32.const(16)), p: f.get(cc) }),
            ]),
            f.set(o, m.i32.add(f.addr(k.out), m.i32.mul(f.get(h), i32c(m, F * dv)))),
            ...expand(f.get(h), m.i32.add(f.get(b), m.i32.const(16)), f32load(m, f.get(b), 4)),
          ]),
        ]),
      ),
    );
  }
  f.finish(body);
}
