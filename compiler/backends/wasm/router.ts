/**
 * @fileoverview The router kernel in Wasm: per token, logits, scores, selection, chosen
 * weights; then Switch's capacity drops over all tokens.
 *
 * It computes in float64 exactly as the reference interpreter does (the dot products in d
 * order, the same softmax and selection code paths), so the chosen experts are the
 * reference's even where two scores are close: a different expert would be an O(1) error
 * in the output, not a rounding. The router is a T × E × D dot product, small next to the
 * expert GEMMs, so float64 costs little here. Only exp differs (ours, ~1 ulp of float64).
 *
 * Selection is one helper function (`select_topk`, the reference's `selectTopK`): the k
 * best of n float64 values, best first, ties to the lower index, NaN above every number,
 * optionally only from kept groups.
 */
import binaryen from 'binaryen';
import type { RouterKernel } from '../../../ir/kernel/kernel.ts';
import type { ProgramEnv } from './env.ts';
import { KernelFn } from './env.ts';
import { type Expr, FnBuilder, f32load, f32to64, f64load, f64store, i32c, i32load, i32store } from './fn.ts';
import { Decoder, quantView } from './quant.ts';

/** Scratch offsets of the router's float64 rows (bytes from the scratch base). */
function scratchPlan(k: RouterKernel): Record<'logits' | 'scores' | 'sel' | 'gscore' | 'kept' | 'vals' | 'idxs' | 'wts' | 'best' | 'bestIdx' | 'gvals' | 'gidx' | 'counts' | 'end', number> {
  const E = k.experts;
  const G = k.select.kind === 'group_topk' ? k.select.groups : 1;
  const plan = { logits: 0, scores: 8 * E, sel: 16 * E, gscore: 24 * E } as Record<string, number>;
  let at = 24 * E + 8 * G;
  const take = (name: string, bytes: number): void => {
    plan[name] = at;
    at += Math.ceil(bytes / 8) * 8;
  };
  take('kept', 4 * G);
  take('vals', 8 * k.k);
  take('idxs', 4 * k.k);
  take('wts', 8 * k.k);
  take('best', 16);
  take('bestIdx', 8);
  take('gvals', 8 * G);
  take('gidx', 4 * G);
  take('counts', 4 * E);
  plan.end = at;
  return plan as ReturnType<typeof scratchPlan>;
}

export function routerScratchBytes(k: RouterKernel): number {
  return scratchPlan(k).end;
}

/** `select_topk(x, n, k, vals, idxs, kept, per) -> count`: the reference's selectTopK on float64 rows (kept = 0: all). */
function addSelectTopK(m: binaryen.Module): void {
  if (m.getFunction('select_topk')) return;
  const i32 = binaryen.i32;
  const f = new FnBuilder(m, 'select_topk', [i32, i32, i32, i32, i32, i32, i32], i32);
  const [x, n, k, vals, idxs, kept, per] = f.params;
  const count = f.i32();
  const i = f.i32();
  const p = f.i32();
  const v = f.f64();
  const g = (l: typeof x): Expr => f.get(l);
  const valAt = (j: Expr): Expr => f64load(m, m.i32.add(g(vals), m.i32.shl(j, m.i32.const(3))));
  const idxAt = (j: Expr): Expr => m.i32.add(g(idxs), m.i32.shl(j, m.i32.const(2)));
  // better(v, w) = v > w || (v is NaN && w is not)
  const better = (a: Expr, b: () => Expr): Expr => m.i32.or(m.f64.gt(a, b()), m.i32.and(m.f64.ne(f.get(v), f.get(v)), m.f64.eq(b(), b())));
  const pm1 = (): Expr => m.i32.sub(g(p), m.i32.const(1));
  f.finish([
    f.set(count, m.i32.const(0)),
    f.forRange(i, m.i32.const(0), g(n), [
      f.labelled((next) => [
        // Nested ifs: i32.and would evaluate (load) both sides even without a kept table.
        m.if(m.i32.ne(g(kept), m.i32.const(0)), m.if(m.i32.eqz(i32load(m, m.i32.add(g(kept), m.i32.shl(m.i32.div_u(g(i), g(per)), m.i32.const(2))))), m.br(next))),
        f.set(v, f64load(m, m.i32.add(g(x), m.i32.shl(g(i), m.i32.const(3))))),
        m.if(m.i32.and(m.i32.eq(g(count), g(k)), m.i32.eqz(better(f.get(v), () => valAt(m.i32.sub(g(k), m.i32.const(1)))))), m.br(next)),
        m.if(
          m.i32.lt_s(g(count), g(k)),
          m.block(null, [f.set(p, g(count)), f.set(count, m.i32.add(g(count), m.i32.const(1)))]),
          f.set(p, m.i32.sub(g(k), m.i32.const(1))),
        ),
        m.block('shifted', [
          m.loop(
            'shift',
            m.block(null, [
              m.br('shifted', m.i32.le_s(g(p), m.i32.const(0))),
              m.br('shifted', m.i32.eqz(better(f.get(v), () => valAt(pm1())))),
              f64store(m, m.i32.add(g(vals), m.i32.shl(g(p), m.i32.const(3))), valAt(pm1())),
              i32store(m, idxAt(g(p)), i32load(m, idxAt(pm1()))),
              f.set(p, pm1()),
              m.br('shift'),
            ]),
          ),
        ]),
        f64store(m, m.i32.add(g(vals), m.i32.shl(g(p), m.i32.const(3))), f.get(v)),
        i32store(m, idxAt(g(p)), g(i)),
      ]),
    ]),
    m.return(g(count)),
  ]);
}

export function buildRouter(env: ProgramEnv, k: RouterKernel, name: string, depth: number): void {
  const m = env.m;
  addSelectTopK(m);
  const f = new KernelFn(env, name, depth);
  const E = k.experts;
  const D = Number(f.buffer(k.x).shape[1]);
  const cols = k.k + k.shared;
  const plan = scratchPlan(k);
  const S = (off: number): Expr => f.scratch(off);
  const at8 = (base: number, j: Expr): Expr => m.i32.add(S(base), m.i32.shl(j, m.i32.const(3)));
  const at4 = (base: number, j: Expr): Expr => m.i32.add(S(base), m.i32.shl(j, m.i32.const(2)));
  const c64 = (v: number): Expr => m.f64.const(v);
  const t = f.i32();
  const e = f.i32();
  const d = f.i32();
  const j = f.i32();
  const xrow = f.i32();
  const acc = f.f64();
  const mx = f.f64();
  const sum = f.f64();
  const v = f.f64();
  const selectTopK = (x: Expr, n: Expr, kk: number, vals: number, idxs: number, kept: Expr, per: number): Expr =>
    m.call('select_topk', [x, n, i32c(m, kk), S(vals), S(idxs), kept, i32c(m, per)], binaryen.i32);

  /** dot(x row, w row `row` of length D) in float64, in d order. */
  const dot = (w: Expr): Expr[] => [
    f.set(acc, c64(0)),
    f.forRange(d, m.i32.const(0), i32c(m, D), [
      f.set(acc, m.f64.add(f.get(acc), m.f64.mul(f32to64(m, m.i32.add(f.get(xrow), m.i32.shl(f.get(d), m.i32.const(2)))), f32to64(m, m.i32.add(w, m.i32.shl(f.get(d), m.i32.const(2))))))),
    ]),
  ];
  const wq = f.f32();
  /**
   * dot(x row, row `e` of weight `w`), in d order; a quantized weight's values are each
   * fround(decode(code) · scale), then the same float64 dot.
   */
  const dotRow = (w: string, e: () => Expr): Expr[] => {
    const q = quantView(f.buffer(w), f.buffer(w).shape.length - 1, `router ${k.indices}`);
    if (!q) return dot(m.i32.add(f.addr(w), m.i32.mul(e(), i32c(m, 4 * D))));
    const dec = new Decoder(f, q.dtype);
    const groups = Math.ceil(D / q.group);
    const codes = m.i32.add(f.addr(w), dec.byteOf(m.i32.mul(e(), i32c(m, D))));
    const scale = f32load(m, m.i32.add(f.addr(q.scales), m.i32.shl(m.i32.add(m.i32.mul(e(), i32c(m, groups)), m.i32.div_u(f.get(d), i32c(m, q.group))), m.i32.const(2))));
    return [
      f.set(acc, c64(0)),
      f.forRange(d, m.i32.const(0), i32c(m, D), [
        ...dec.scalar(codes, () => f.get(d), wq),
        f.set(acc, m.f64.add(f.get(acc), m.f64.mul(f32to64(m, m.i32.add(f.get(xrow), m.i32.shl(f.get(d), m.i32.const(2)))), m.f64.promote(m.f32.mul(f.get(wq), scale))))),
      ]),
    ];
  };
  /** Softmax in place over n float64 values at scratch `base` (max subtracted; NaN propagates). */
  const softmax = (base: number, n: number, from: number): Expr[] => [
    f.set(mx, c64(-Infinity)),
    f.forRange(j, m.i32.const(0), i32c(m, n), [
      f.set(v, f64load(m, at8(from, f.get(j)))),
      m.if(m.i32.or(m.f64.gt(f.get(v), f.get(mx)), m.f64.ne(f.get(v), f.get(v))), f.set(mx, f.get(v))),
    ]),
    f.set(sum, c64(0)),
    f.forRange(j, m.i32.const(0), i32c(m, n), [
      f.set(v, env.math.exp(m.f64.sub(f64load(m, at8(from, f.get(j))), f.get(mx)))),
      f64store(m, at8(base, f.get(j)), f.get(v)),
      f.set(sum, m.f64.add(f.get(sum), f.get(v))),
    ]),
    f.forRange(j, m.i32.const(0), i32c(m, n), [f64store(m, at8(base, f.get(j)), m.f64.div(f64load(m, at8(base, f.get(j))), f.get(sum)))]),
  ];

  const scoresAt = k.score === 'none' ? plan.logits : plan.scores;
  const selAt = k.selectBias ? plan.sel : scoresAt;
  const perToken: Expr[] = [f.set(xrow, m.i32.add(f.addr(k.x), m.i32.mul(f.get(t), i32c(m, 4 * D))))];
  // 1. logits = x · wᵀ (+ bias)
  perToken.push(
    f.forRange(e, m.i32.const(0), i32c(m, E), [
      ...dotRow(k.w, () => f.get(e)),
      ...(k.bias ? [f.set(acc, m.f64.add(f.get(acc), f32to64(m, m.i32.add(f.addr(k.bias), m.i32.shl(f.get(e), m.i32.const(2))))))] : []),
      f64store(m, at8(plan.logits, f.get(e)), f.get(acc)),
    ]),
  );
  // 2. scores
  if (k.score === 'softmax') perToken.push(...softmax(plan.scores, E, plan.logits));
  else if (k.score === 'sigmoid')
    perToken.push(
      f.forRange(e, m.i32.const(0), i32c(m, E), [
        f64store(m, at8(plan.scores, f.get(e)), m.f64.div(c64(1), m.f64.add(c64(1), env.math.exp(m.f64.neg(f64load(m, at8(plan.logits, f.get(e)))))))),
      ]),
    );
  // 3. what selection ranks: scores (+ select bias)
  if (k.selectBias)
    perToken.push(
      f.forRange(e, m.i32.const(0), i32c(m, E), [
        f64store(m, at8(plan.sel, f.get(e)), m.f64.add(f64load(m, at8(scoresAt, f.get(e))), f32to64(m, m.i32.add(f.addr(k.selectBias), m.i32.shl(f.get(e), m.i32.const(2)))))),
      ]),
    );
  // 4. selection
  const sel = k.select;
  if (sel.kind === 'topk') perToken.push(m.drop(selectTopK(S(selAt), i32c(m, E), k.k, plan.vals, plan.idxs, m.i32.const(0), 1)));
  else {
    const per = E / sel.groups;
    const two = sel.groupScore === 'sum_top2';
    const g = f.i32();
    perToken.push(
      f.forRange(g, m.i32.const(0), i32c(m, sel.groups), [
        m.drop(selectTopK(m.i32.add(S(selAt), m.i32.mul(f.get(g), i32c(m, 8 * per))), i32c(m, per), two ? 2 : 1, plan.best, plan.bestIdx, m.i32.const(0), 1)),
        f64store(m, at8(plan.gscore, f.get(g)), two ? m.f64.add(f64load(m, S(plan.best)), f64load(m, S(plan.best + 8))) : f64load(m, S(plan.best))),
        i32store(m, at4(plan.kept, f.get(g)), m.i32.const(0)),
      ]),
      m.drop(selectTopK(S(plan.gscore), i32c(m, sel.groups), sel.topkGroups, plan.gvals, plan.gidx, m.i32.const(0), 1)),
      f.forRange(j, m.i32.const(0), i32c(m, sel.topkGroups), [i32store(m, at4(plan.kept, i32load(m, at4(plan.gidx, f.get(j)))), m.i32.const(1))]),
      // Fewer than k experts in the kept groups cannot happen in a verified program (k <= topk_groups · per).
      m.drop(selectTopK(S(selAt), i32c(m, E), k.k, plan.vals, plan.idxs, S(plan.kept), per)),
    );
  }
  // 5. the chosen weights: the scores at the chosen experts (never the select bias)
  perToken.push(
    f.forRange(j, m.i32.const(0), i32c(m, k.k), [
      f64store(m, at8(plan.wts, f.get(j)), k.selectBias ? f64load(m, at8(scoresAt, i32load(m, at4(plan.idxs, f.get(j))))) : f64load(m, at8(plan.vals, f.get(j)))),
    ]),
  );
  if (k.postSoftmax) perToken.push(...softmax(plan.wts, k.k, plan.wts));
  if (k.normalize)
    perToken.push(
      f.set(sum, c64(0)),
      f.forRange(j, m.i32.const(0), i32c(m, k.k), [f.set(sum, m.f64.add(f.get(sum), f64load(m, at8(plan.wts, f.get(j)))))]),
      f.forRange(j, m.i32.const(0), i32c(m, k.k), [f64store(m, at8(plan.wts, f.get(j)), m.f64.div(f64load(m, at8(plan.wts, f.get(j))), f.get(sum)))]),
    );
  // 6. store: indices and weights · scale, then the shared experts
  const slot = (col: Expr): Expr => m.i32.shl(m.i32.add(m.i32.mul(f.get(t), i32c(m, cols)), col), m.i32.const(2));
  perToken.push(
    f.forRange(j, m.i32.const(0), i32c(m, k.k), [
      i32store(m, m.i32.add(f.addr(k.indices), slot(f.get(j))), i32load(m, at4(plan.idxs, f.get(j)))),
      m.f32.store(0, 4, m.i32.add(f.addr(k.weights), slot(f.get(j))), m.f32.demote(m.f64.mul(f64load(m, at8(plan.wts, f.get(j))), c64(k.scale)))),
    ]),
  );
  if (k.shared > 0) {
    let gate: Expr = m.f32.const(1);
    if (k.sharedGate) {
      perToken.push(...dotRow(k.sharedGate, () => m.i32.const(0)));
      gate = m.f32.demote(m.f64.div(c64(1), m.f64.add(c64(1), env.math.exp(m.f64.neg(f.get(acc))))));
    }
    const gv = f.f32();
    perToken.push(f.set(gv, gate));
    for (let s = 0; s < k.shared; s++)
      perToken.push(i32store(m, m.i32.add(f.addr(k.indices), slot(i32c(m, k.k + s))), i32c(m, E + s)), m.f32.store(0, 4, m.i32.add(f.addr(k.weights), slot(i32c(m, k.k + s))), f.get(gv)));
  }
  const body: Expr[] = [f.forRange(t, m.i32.const(0), f.T(), perToken)];
  // 7. Switch capacity: admit by choice rank, then token order; a slot past capacity becomes -1.
  if (k.capacityFactor !== undefined) {
    const cap = f.i32();
    const c = f.i32();
    const p = f.i32();
    const ex = f.i32();
    body.push(
      // ceil(cf · T · K / E), left to right in float64 like the reference's expertCapacity
      f.set(cap, m.i32.trunc_s.f64(m.f64.ceil(m.f64.div(m.f64.mul(m.f64.mul(c64(k.capacityFactor), m.f64.convert_s.i32(f.T())), c64(k.k)), c64(E))))),
      m.memory.fill(S(plan.counts), m.i32.const(0), i32c(m, 4 * E)),
      f.forRange(c, m.i32.const(0), i32c(m, k.k), [
        f.forRange(t, m.i32.const(0), f.T(), [
          f.set(p, m.i32.add(f.addr(k.indices), slot(f.get(c)))),
          f.set(ex, i32load(m, f.get(p))),
          m.if(
            m.i32.ne(f.get(ex), m.i32.const(-1)),
            m.if(
              m.i32.lt_s(i32load(m, at4(plan.counts, f.get(ex))), f.get(cap)),
              i32store(m, at4(plan.counts, f.get(ex)), m.i32.add(i32load(m, at4(plan.counts, f.get(ex))), m.i32.const(1))),
              i32store(m, f.get(p), m.i32.const(-1)),
            ),
          ),
        ]),
      ]),
    );
  }
  f.finish(body);
}
