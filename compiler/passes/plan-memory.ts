/**
 * @fileoverview Kernel pass `plan-memory`: static offsets for every temp and output buffer
 * in one arena, reusing memory between buffers that are never live at the same time.
 *
 * 1. Liveness. Kernels are numbered in execution order, loop bodies once (a loop covers the
 *    range of its body's numbers). A buffer's interval is [first use, last use]. A buffer
 *    used inside a loop and also outside it, a carried buffer (either side of a pair) and a
 *    stacked buffer viewed through a slice are live across the whole loop (each iteration
 *    needs them), and both sides of a loop's `init` copies are in use at its first kernel;
 *    a buffer used only inside a body is live only between its uses there, and
 *    its one offset is reused by every iteration. Program outputs live to the end (the
 *    caller reads them). Slice views get no storage of their own.
 * 2. Sizes: each buffer's bytes at T = maxTokens (other symbolic sizes from `bindings`).
 * 3. Placement: greedy, largest first (ties: earlier interval, then name), each at the
 *    lowest `alignment`-aligned offset that overlaps no placed buffer whose interval
 *    intersects its own.
 *
 * Inputs and weights are not in the arena. `naiveBytes` is the sum of the arena buffers'
 * sizes, each rounded up to `alignment` (what one allocation per buffer would take); the
 * placement never needs more (a buffer can always go at the current end).
 *
 * Precondition: every buffer a kernel names exists (or is a loop's slice view), and every
 * temp/output shape evaluates under {T: maxTokens, ...bindings}; run after `tile`, which
 * may resize buffers sized by a moe_align block. Postcondition: a new program (the input is
 * not mutated) where each temp and output has `bytes` and an aligned `offset`, any two
 * whose intervals intersect occupy disjoint [offset, offset + bytes), inputs and weights
 * have `bytes` where their shapes evaluate, and `arenaBytes` ≤ `naiveBytes`.
 */
import { evalShape } from '../../ir/dims.ts';
import type { KBuffer, KProgram, LoopStep, Step } from '../../ir/kernel/kernel.ts';
import { dtypeBytes } from '../../ir/types.ts';
import { TOKENS } from '../cost/cost.ts';
import { kernelBuffers } from '../../ir/kernel/walk.ts';
import { type KernelPass, passTarget } from './pass.ts';
import { formatBytes } from '../../ir/kernel/kprint.ts';
import { fail } from '../../ir/diagnostics.ts';
import type { TargetCaps } from '../target/caps.ts';

export interface PlanMemoryOptions {
  /** The token count to plan for; by default the program's token bound (`maxTokens`, recorded by lowering). */
  maxTokens?: number;
  /** Offset alignment in bytes (≥ 1). */
  alignment: number;
  /** Values of symbolic sizes; `T` defaults to maxTokens. */
  bindings?: Readonly<Record<string, number>>;
}

export const planMemoryPass: KernelPass = {
  name: 'plan-memory',
  summary: 'liveness-based static offsets for temps and outputs in one arena',
  level: 'kernel',
  requires: ['lower-kernels', 'tile'],
  essential: 'every backend places each buffer at its planned offset in the arena',
  run: (p, ctx) => {
    const target = passTarget(ctx, 'plan-memory');
    const alignment = Math.max(1, target.alignment, target.limits.minStorageBufferOffsetAlignment ?? 1);
    return checkFitsMemory(planMemory(p, { alignment, bindings: ctx.bindings }), target);
  },
};

/**
 * The arena (every intermediate, live at once) must fit the target's main memory, the last
 * level of its sheet (wasm32's 4 GiB linear memory, say): a plan for `--max-tokens
 * 2147483647` is an input error here, not a failed allocation when the program loads.
 * Weights are not counted: a loader may stream or map them.
 */
function checkFitsMemory(p: KProgram, target: TargetCaps): KProgram {
  const main = target.memory?.at(-1); // (hand-made test targets may list no memory)
  if (main && p.arenaBytes !== undefined && p.arenaBytes > main.bytes)
    fail(
      'E307',
      `the arena for T = ${p.maxTokens} needs ${formatBytes(p.arenaBytes)}, more than ${target.name}'s ${main.name} (${formatBytes(main.bytes)})`,
      undefined,
      'lower --max-tokens (or the bound on T in the model)',
    );
  return p;
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
 * Live intervals of every buffer a kernel of `p` names, over kernel numbers (see the file
 * header); slice views are folded into their stacked buffer. Also returns the number of
 * kernels.
 */
export function liveIntervals(p: KProgram): { intervals: Map<string, LiveInterval>; kernels: number; slices: Set<string> } {
  const uses = new Map<string, number[]>();
  const loops: LoopInfo[] = [];
  const sliceOf = new Map<string, string>();
  let pos = 0;
  const walk = (steps: readonly Step[]): void => {
    for (const s of steps) {
      if (s.kind === 'loop') {
        for (const sl of s.slices) sliceOf.set(sl.slice, sl.stacked);
        const start = pos;
        // The init copies run before the body's first kernel: both sides are in use there.
        for (const c of s.init ?? []) for (const name of [c.from, c.to]) uses.set(name, [...(uses.get(name) ?? []), pos]);
        walk(s.body);
        loops.push({ loop: s, start, end: pos - 1 });
        continue;
      }
      const { reads, writes } = kernelBuffers(s);
      for (const name of [...reads, ...writes]) {
        let n = name;
        for (let d = 0; d < 16 && sliceOf.has(n); d++) n = sliceOf.get(n)!;
        uses.set(n, [...(uses.get(n) ?? []), pos]);
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

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** Size in bytes of a buffer under the bindings. */
export function bufferBytes(b: KBuffer, bindings: Readonly<Record<string, number>>): number {
  return evalShape(b.shape, bindings).reduce((s, d) => s * d, 1) * dtypeBytes(b.dtype);
}

/** Plans the arena of `p` (see the file header). Pure: returns a copy. */
/** Steps per stretch of the index of placed buffers in `planMemory`. */
const PLAN_STRETCH = 64;

export function planMemory(p: KProgram, opts: PlanMemoryOptions): KProgram {
  const alignment = Math.max(1, Math.floor(opts.alignment));
  const maxTokens = opts.maxTokens ?? p.maxTokens;
  if (maxTokens === undefined) throw new Error(`plan-memory: program ${p.name} has no token bound (lower it with one, or pass maxTokens)`);
  const bindings = { [TOKENS]: maxTokens, ...opts.bindings };
  const { intervals, slices } = liveIntervals(p);
  const inArena = (b: KBuffer): boolean => (b.kind === 'temp' || b.kind === 'output') && !slices.has(b.name);

  interface Item {
    name: string;
    bytes: number;
    iv: LiveInterval;
    offset: number;
  }
  const items: Item[] = p.buffers.filter(inArena).map((b) => ({
    name: b.name,
    bytes: bufferBytes(b, bindings),
    iv: intervals.get(b.name) ?? { start: 1, end: 0 },
    offset: 0,
  }));
  const order = [...items].sort((a, b) => b.bytes - a.bytes || a.iv.start - b.iv.start || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Placed items by the stretch of steps they live in, so that finding the ones an item
  // overlaps looks at its neighbours in time, not at everything placed (a scan of all made
  // planning 80,000 buffers quadratic: seconds, minutes at the lowering limit).
  const placed = new Map<number, Item[]>();
  const stretches = (iv: LiveInterval): number[] => {
    const out: number[] = [];
    for (let k = Math.floor(iv.start / PLAN_STRETCH); k <= Math.floor(iv.end / PLAN_STRETCH); k++) out.push(k);
    return out;
  };
  for (const it of order) {
    const found = new Set<Item>();
    const lives = it.bytes > 0 && it.iv.start <= it.iv.end;
    if (lives) for (const k of stretches(it.iv)) for (const q of placed.get(k) ?? []) if (intervalsIntersect(q.iv, it.iv)) found.add(q);
    const conflicts = [...found];
    const candidates = [0, ...conflicts.map((q) => alignUp(q.offset + q.bytes, alignment))].sort((a, b) => a - b);
    it.offset = candidates.find((o) => conflicts.every((q) => o + it.bytes <= q.offset || q.offset + q.bytes <= o))!;
    // Only items that take space and live somewhere can conflict with a later one.
    if (lives) {
      for (const k of stretches(it.iv)) {
        const list = placed.get(k);
        if (list) list.push(it);
        else placed.set(k, [it]);
      }
    }
  }

  const byName = new Map(items.map((it) => [it.name, it]));
  const buffers = p.buffers.map((b): KBuffer => {
    const it = byName.get(b.name);
    if (it) return { ...b, shape: [...b.shape], bytes: it.bytes, offset: it.offset };
    let bytes: number | undefined;
    try {
      bytes = bufferBytes(b, bindings);
    } catch {
      bytes = b.bytes;
    }
    return bytes === undefined ? { ...b, shape: [...b.shape] } : { ...b, shape: [...b.shape], bytes };
  });
  const arenaBytes = alignUp(items.reduce((m, it) => Math.max(m, it.offset + it.bytes), 0), alignment);
  const naiveBytes = items.reduce((s, it) => s + alignUp(it.bytes, alignment), 0);
  return { ...p, buffers, maxTokens, arenaBytes, naiveBytes };
}
