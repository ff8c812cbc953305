/**
 * @fileoverview The memory plan's facts, shared by the planner (`compiler/passes/plan-memory.ts`),
 * the verifier, the kernel interpreter and the backends: buffer liveness, offsets and sizes
 * as affine functions of the token count T, and the bytes a call with T tokens touches.
 *
 * A planned temp or output has `offset` and `bytes`, each a `Dim` of the form a·T + b (only
 * the symbol `T`): the plan holds for every T in 1..maxTokens, and at a given T the buffer
 * occupies [offset(T), offset(T) + bytes(T)) of its arena part. Two affine functions that are
 * ordered at T = 1 and at T = maxTokens are ordered at every T between (their difference is
 * affine), so the checks below evaluate the two ends only.
 */
import { type Dim, DimError, dimAdd, dimMul, dimSymbols, evalDim, evalShape, isSym, sym } from '../dims.ts';
import { dtypeBytes } from '../types.ts';
import type { KBuffer, KProgram, LoopStep, Step } from './kernel.ts';
import { kernelBuffers } from './walk.ts';

/** The token-count symbol, the only one a planned offset or size may use. */
export const TOKEN_SYMBOL = 'T';

/** a·T + b as a dim. */
export function affine(a: number, b: number): Dim {
  return dimAdd(dimMul(a, sym(TOKEN_SYMBOL)), b);
}

/** [a, b] of an affine dim a·T + b; throws DimError for any other symbol. */
export function affineParts(d: Dim): [number, number] {
  if (!isSym(d)) return [0, d];
  const other = dimSymbols(d).find((s) => s !== TOKEN_SYMBOL);
  if (other !== undefined) throw new DimError(`a planned offset or size depends only on ${TOKEN_SYMBOL}, not on ${other}`);
  return [d.terms[0]?.[1] ?? 0, d.c];
}

/** The value of an affine dim at T tokens. */
export function atTokens(d: Dim, T: number): number {
  return evalDim(d, { [TOKEN_SYMBOL]: T });
}

/** A live interval over kernel numbers, inclusive; `start > end` when never used. */
export interface LiveInterval {
  start: number;
  end: number;
}

export function intervalsIntersect(a: LiveInterval, b: LiveInterval): boolean {
  return a.start <= a.end && b.start <= b.end && a.start <= b.end && b.start <= a.end;
}

interface LoopInfo {
  loop: LoopStep;
  start: number;
  end: number;
}

/**
 * Live intervals of every buffer a kernel of `p` names, over kernel numbers. Kernels are
 * numbered in execution order, loop bodies once (a loop covers the range of its body's
 * numbers). A buffer used inside a loop and also outside it, a carried buffer (either side
 * of a pair) and a stacked buffer viewed through a slice are live across the whole loop, and
 * both sides of a loop's `init` copies are in use at its first kernel; program outputs live
 * to the end (the caller reads them). Slice views are folded into their stacked buffer.
 * Also returns the number of kernels and the slice names.
 */
export function liveIntervals(p: KProgram): { intervals: Map<string, LiveInterval>; kernels: number; slices: Set<string> } {
  const uses = new Map<string, number[]>();
  const loops: LoopInfo[] = [];
  const sliceOf = new Map<string, string>();
  let pos = 0;
  const use = (name: string, at: number): void => {
    const list = uses.get(name);
    if (list) list.push(at);
    else uses.set(name, [at]);
  };
  const walk = (steps: readonly Step[]): void => {
    for (const s of steps) {
      if (s.kind === 'loop') {
        for (const sl of s.slices) sliceOf.set(sl.slice, sl.stacked);
        const start = pos;
        // The init copies run before the body's first kernel: both sides are in use there.
        for (const c of s.init ?? []) for (const name of [c.from, c.to]) use(name, pos);
        walk(s.body);
        loops.push({ loop: s, start, end: pos - 1 });
        continue;
      }
      const { reads, writes } = kernelBuffers(s);
      for (const name of [...reads, ...writes]) {
        let n = name;
        for (let d = 0; d < 16 && sliceOf.has(n); d++) n = sliceOf.get(n)!;
        use(n, pos);
      }
      pos++;
    }
  };
  walk(p.steps);
  const intervals = new Map<string, LiveInterval>();
  for (const [name, u] of uses) intervals.set(name, { start: Math.min(...u), end: Math.max(...u) });
  const extend = (name: string, l: LoopInfo): void => {
    const iv = intervals.get(name) ?? { start: l.start, end: l.end };
    intervals.set(name, { start: Math.min(iv.start, l.start), end: Math.max(iv.end, l.end) });
  };
  for (const l of loops) {
    if (l.start > l.end) continue;
    for (const [name, u] of uses) {
      const inside = u.some((x) => x >= l.start && x <= l.end);
      const outside = u.some((x) => x < l.start || x > l.end);
      if (inside && outside) extend(name, l);
    }
    for (const c of l.loop.carried) for (const n of [c.from, c.to]) extend(n, l);
    for (const sl of l.loop.slices) extend(sl.stacked, l);
  }
  for (const o of p.outputs) {
    const iv = intervals.get(o.buffer);
    intervals.set(o.buffer, { start: iv ? iv.start : 0, end: Math.max(pos - 1, iv ? iv.end : 0) });
  }
  return { intervals, kernels: pos, slices: new Set(sliceOf.keys()) };
}

/** Size in bytes of a buffer's shape under the bindings (what a call at those sizes touches). */
export function bufferBytes(b: KBuffer, bindings: Readonly<Record<string, number>>): number {
  return evalShape(b.shape, bindings).reduce((s, d) => s * d, 1) * dtypeBytes(b.dtype);
}

/** The planned buffers (offset set) of arena part `part` (0 when the program is not split). */
export function partBuffers(p: KProgram, part: number): KBuffer[] {
  return p.buffers.filter((b) => b.offset !== undefined && (b.part ?? 0) === part);
}

/** Number of arena parts: one unless the planner split the arena over bindings. */
export function arenaPartCount(p: KProgram): number {
  return p.arenaParts?.length ?? 1;
}

/**
 * Bytes of arena part `part` that a call with T tokens touches: the furthest end of a planned
 * buffer at T, each buffer counted at its shape's size at T (other sizes from `bindings`).
 * Monotone in T when every planned size is. 0 for an arena with nothing planned.
 */
export function arenaBytesAt(p: KProgram, T: number, bindings: Readonly<Record<string, number>> = {}, part = 0): number {
  const at = { ...bindings, [TOKEN_SYMBOL]: T };
  let end = 0;
  for (const b of partBuffers(p, part)) end = Math.max(end, atTokens(b.offset!, T) + bufferBytes(b, at));
  return end;
}
