/**
 * @fileoverview The C backend's expert-parallel kernels (`dispatch`, `ep_combine`: MPI
 * all-to-alls, `targets/c/ep_*.c.hbs`) and the placement tables they read, as template
 * views. Beside `render.ts`, which calls these for the two kernel kinds; nothing here decides
 * where an expert lives: the placement comes from the kernel IR (`KProgram.ep`).
 */
import type { Dim } from '../../../ir/dims.ts';
import { placementNamed } from '../../../ir/kernel/ep.ts';
import type { DispatchKernel, EpCombineKernel, KProgram } from '../../../ir/kernel/kernel.ts';
import { slotOf } from '../../../ir/kernel/placement.ts';

/** What the renderer lends: a buffer's C variable (marking it used) and a buffer's shape. */
export interface EpRenderContext {
  p: KProgram;
  v: (name: string) => string;
  shape: (name: string) => readonly Dim[];
  /** A dim as a C expression in the token count `t`. */
  dim: (d: Dim, t: string) => string;
}

type View = [Record<string, unknown>, Array<{ field: string; expr: string }>];

/**
 * The fields both exchange kernels share: the micro-batch, which halves of the exchange this
 * step runs (start posts it, finish waits; both without a phase) and the name of the static
 * state that carries it from one to the other.
 */
function exchangeView(k: DispatchKernel | EpCombineKernel, what: 'd' | 'c'): Record<string, unknown> {
  return {
    state: `moec_${k.placement.replace(/[^A-Za-z0-9_]/g, '_')}_p${k.part?.index ?? 0}_${what}`,
    parts: k.part?.of,
    part: k.part?.index ?? 0,
    start: k.phase !== 'finish',
    finish: k.phase !== 'start',
    phaseName: k.phase,
  };
}

function width(ctx: EpRenderContext, name: string): number {
  const d = ctx.shape(name).at(-1);
  if (typeof d !== 'number') throw new Error(`C backend: ${name} has no fixed row width`);
  return d;
}

/** The dispatch kernel: its placement as three tables (each expert's first copy, the copies' ranks and slots). */
export function dispatchView(ctx: EpRenderContext, k: DispatchKernel): View {
  const q = placementNamed(ctx.p, k.placement);
  const pl = q.placement;
  const first: number[] = [0];
  const rank: number[] = [];
  const slot: number[] = [];
  pl.copies.forEach((ranks, e) => {
    for (const r of ranks) {
      rank.push(r);
      slot.push(slotOf(pl, r, e));
    }
    first.push(rank.length);
  });
  const rowsPerToken = tokenCount(ctx, k.local).perT;
  if (rowsPerToken < 1) throw new Error(`C backend: ${k.rows} is not sized by T`);
  const view = {
    ...exchangeView(k, 'd'),
    epDispatch: true,
    summaryLine: `dispatch: all-to-all of token rows to the experts' ranks (${k.placement})`,
    placement: k.placement,
    experts: q.experts,
    experts1: q.experts + 1,
    shared: q.shared,
    ranks: pl.ranks,
    slots: pl.slotsPerRank,
    k: k.k,
    d: width(ctx, k.x),
    rowsPerToken,
    first: first.join(', '),
    copiesLen: rank.length,
    copyRank: rank.join(', '),
    copySlot: slot.join(', '),
  };
  const args = [
    { field: 'x', expr: ctx.v(k.x) },
    { field: 'weights', expr: ctx.v(k.weights) },
    { field: 'indices', expr: ctx.v(k.indices) },
    { field: 'rows', expr: ctx.v(k.rows) },
    { field: 'rweights', expr: ctx.v(k.rweights) },
    { field: 'local', expr: ctx.v(k.local) },
    { field: 'plan', expr: ctx.v(k.plan) },
    { field: 'T', expr: 'T' },
  ];
  return [view, args];
}

export function epCombineView(ctx: EpRenderContext, k: EpCombineKernel): View {
  const q = placementNamed(ctx.p, k.placement);
  const view = {
    ...exchangeView(k, 'c'),
    epCombine: true,
    summaryLine: `combine: all-to-all of the expert rows back, summed per token (${k.placement})`,
    placement: k.placement,
    ranks: q.placement.ranks,
    k: k.k,
    d: width(ctx, k.out),
    init: k.init !== undefined,
  };
  const args = [
    { field: 'results', expr: ctx.v(k.results) },
    { field: 'plan', expr: ctx.v(k.plan) },
    ...(k.init !== undefined ? [{ field: 'init', expr: ctx.v(k.init) }] : []),
    { field: 'out', expr: ctx.v(k.out) },
    { field: 'T', expr: 'T' },
  ];
  return [view, args];
}

/**
 * The token count a moe_align or grouped GEMM runs over, as C: its `indices` rows (T, or
 * M*T received rows after a dispatch), and `T` back from that count (for sizes in T).
 */
export function tokenCount(ctx: EpRenderContext, indices: string): { expr: string; perT: number } {
  const d = ctx.shape(indices)[0]!;
  if (typeof d === 'number') return { expr: String(d), perT: 0 };
  const perT = d.terms.length === 1 && d.terms[0]![0] === 'T' && d.c === 0 ? d.terms[0]![1] : 1;
  return { expr: perT === 1 ? 'T' : `${perT} * T`, perT };
}
