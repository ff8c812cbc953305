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
 * 2. Sizes: each buffer's bytes as an affine upper bound a·T + b over T in 1..maxTokens
 *    (`affineBytes`; exact for the usual one-T-dim shapes; other symbolic sizes from
 *    `bindings`).
 * 3. Placement: greedy, largest at the bound first (ties: earlier interval, then name), each
 *    at an affine offset o·T + c, both coefficients `alignment`-aligned (so aligned at every
 *    T), clear at T = 1 and at T = maxTokens (hence at every T between) of every placed
 *    buffer whose interval intersects its own: the lowest at the bound of the candidates 0,
 *    the top of each such buffer, and the coefficient-wise maximum of their tops (always
 *    clear). With `maxBinding` (WebGPU), a buffer goes to the first arena part where its
 *    end at the bound stays within it, a new part if none.
 *
 * Inputs and weights are not in the arena. `naiveBytes` is the sum of the arena buffers'
 * aligned sizes at the bound (what one allocation per buffer would take).
 *
 * Precondition: every buffer a kernel names exists (or is a loop's slice view), and every
 * temp/output shape evaluates under {T, ...bindings}; run after `tile`, which may resize
 * buffers sized by a moe_align block. Postcondition: a new program (the input is not
 * mutated) where each temp and output has affine `bytes` and `offset` (and a `part` when
 * split), any two in one part whose intervals intersect occupy disjoint
 * [offset(T), offset(T) + bytes(T)) at every T in 1..maxTokens, inputs and weights have
 * `bytes` where their shapes evaluate, and `arenaBytes` bounds every part's end at every T.
 */
import { evalShape } from '../../ir/dims.ts';
import type { KBuffer, KProgram } from '../../ir/kernel/kernel.ts';
import { type LiveInterval, affine, atTokens, bufferBytes, intervalsIntersect, liveIntervals } from '../../ir/kernel/memory.ts';
import { dtypeBytes } from '../../ir/types.ts';
import { TOKENS } from '../cost/cost.ts';
import { type KernelPass, passTarget } from './pass.ts';
import { formatBytes } from '../../ir/kernel/kprint.ts';
import { fail } from '../../ir/diagnostics.ts';
import type { TargetCaps } from '../target/caps.ts';

export interface PlanMemoryOptions {
  /** The token count to plan for; by default the program's token bound (`maxTokens`, recorded by lowering). */
  maxTokens?: number;
  /** Offset alignment in bytes (≥ 1). */
  alignment: number;
  /** Values of symbolic sizes other than T (a `T` here is the bound to plan for). */
  bindings?: Readonly<Record<string, number>>;
  /**
   * Bytes one arena part may take at the bound (WebGPU's storage binding size): past it the
   * arena is split into parts (`KProgram.arenaParts`). Absent: one part.
   */
  maxBinding?: number;
}

export { liveIntervals, intervalsIntersect, bufferBytes, type LiveInterval };

export const planMemoryPass: KernelPass = {
  name: 'plan-memory',
  summary: 'liveness-based static offsets for temps and outputs in one arena',
  level: 'kernel',
  requires: ['lower-kernels', 'tile'],
  essential: 'every backend places each buffer at its planned offset in the arena',
  run: (p, ctx) => {
    const target = passTarget(ctx, 'plan-memory');
    const alignment = Math.max(1, target.alignment, target.limits.minStorageBufferOffsetAlignment ?? 1);
    const maxBinding = target.backend === 'wgsl' ? target.limits.maxStorageBufferBindingBytes : undefined;
    return checkFitsMemory(planMemory(p, { alignment, bindings: ctx.bindings, ...(maxBinding !== undefined ? { maxBinding } : {}) }), target);
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
  const bytes = p.arenaBytes === undefined || p.maxTokens === undefined ? undefined : atTokens(p.arenaBytes, p.maxTokens);
  if (main && bytes !== undefined && bytes > main.bytes)
    fail(
      'E307',
      `the arena for T = ${p.maxTokens} needs ${formatBytes(bytes)}, more than ${target.name}'s ${main.name} (${formatBytes(main.bytes)})`,
      undefined,
      'lower --max-tokens (or the bound on T in the model)',
    );
  return p;
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** Steps per stretch of the index of placed buffers in `planMemory`. */
const PLAN_STRETCH = 64;

/** a·T + b as a pair, the planner's working form of an affine dim. */
type Lin = readonly [number, number];

const linAt = (l: Lin, T: number): number => l[0] * T + l[1];
const linAdd = (x: Lin, y: Lin): Lin => [x[0] + y[0], x[1] + y[1]];
const linAlign = (l: Lin, a: number): Lin => [alignUp(l[0], a), alignUp(l[1], a)];
const linMax = (x: Lin, y: Lin): Lin => [Math.max(x[0], y[0]), Math.max(x[1], y[1])];

/**
 * An affine upper bound a·T + b of a buffer's bytes for T in 1..maxTokens, exact when one
 * dim holds T linearly (every MoE activation: [T, D], [T*K + c]). A shape is a product of
 * dims linear in T, so with every dim non-decreasing in T the size is convex in T and its
 * chord from T = 1 to maxTokens bounds it; with a dim that shrinks as T grows, the constant
 * product of each dim's largest value does.
 */
export function affineBytes(b: KBuffer, bindings: Readonly<Record<string, number>>, maxTokens: number): Lin {
  const dimsAt = (T: number): number[] => evalShape(b.shape, { ...bindings, [TOKENS]: T });
  const bytes = (dims: readonly number[]): number => Math.ceil(dims.reduce((s, d) => s * d, 1) * dtypeBytes(b.dtype));
  const lo = dimsAt(1);
  if (maxTokens <= 1) return [0, bytes(lo)];
  const [next, top] = [dimsAt(2), dimsAt(maxTokens)];
  if (next.some((d, i) => d < lo[i])) return [0, bytes(lo.map((d, i) => Math.max(d, top[i])))];
  const slope = Math.ceil((bytes(top) - bytes(lo)) / (maxTokens - 1));
  return [slope, bytes(lo) - slope];
}

/**
 * Plans the arena of `p` (see the file header). Pure: returns a copy.
 *
 * Why offsets affine in T rather than one plan per power-of-two bucket of T: one plan serves
 * every T, so renderers print each offset once as `a*T + b` (C and Wasm compute it from T,
 * WGSL passes it as a parameter), and the bytes a call touches follow T exactly instead of
 * rounding up to the bucket (up to 2x); buckets would need a table of offsets per bucket in
 * every backend. The price: a buffer's slope is aligned too (so it stays aligned at every
 * T), and placement compares candidates at both ends of 1..maxTokens.
 */
export function planMemory(p: KProgram, opts: PlanMemoryOptions): KProgram {
  // At least the largest element (sizes are powers of two): backends view each buffer as an
  // array of its elements, at every T.
  const alignment = Math.max(1, Math.floor(opts.alignment), ...p.buffers.map((b) => Math.ceil(dtypeBytes(b.dtype))));
  const { [TOKENS]: boundT, ...bindings } = opts.bindings ?? {};
  const maxTokens = opts.maxTokens ?? boundT ?? p.maxTokens;
  if (maxTokens === undefined) throw new Error(`plan-memory: program ${p.name} has no token bound (lower it with one, or pass maxTokens)`);
  const maxBinding = opts.maxBinding ?? Infinity;
  const { intervals, slices } = liveIntervals(p);
  const inArena = (b: KBuffer): boolean => (b.kind === 'temp' || b.kind === 'output') && !slices.has(b.name);
  // Both ends of the range: affine placements ordered at both are ordered at every T between.
  const ends = [1, maxTokens];

  interface Item {
    name: string;
    bytes: Lin;
    iv: LiveInterval;
    offset: Lin;
    part: number;
    /** Its aligned end, once placed. */
    top?: Lin;
  }
  const items: Item[] = p.buffers.filter(inArena).map((b) => ({
    name: b.name,
    bytes: affineBytes(b, bindings, maxTokens),
    iv: intervals.get(b.name) ?? { start: 1, end: 0 },
    offset: [0, 0],
    part: 0,
  }));
  const top = (it: Item): Lin => (it.top ??= linAlign(linAdd(it.offset, it.bytes), alignment));
  const order = [...items].sort((a, b) => linAt(b.bytes, maxTokens) - linAt(a.bytes, maxTokens) || a.iv.start - b.iv.start || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Placed items of each part by the stretch of steps they live in, so that finding the ones
  // an item overlaps looks at its neighbours in time, not at everything placed (a scan of
  // all made planning 80,000 buffers quadratic: seconds, minutes at the lowering limit).
  const parts: Array<Map<number, Item[]>> = [new Map()];
  // Each part's furthest end at T = 1 and at the bound (its size is the chord between them).
  const partEnds: Array<[number, number]> = [[0, 0]];
  const stretches = (iv: LiveInterval): number[] => {
    const out: number[] = [];
    for (let k = Math.floor(iv.start / PLAN_STRETCH); k <= Math.floor(iv.end / PLAN_STRETCH); k++) out.push(k);
    return out;
  };
  /** The lowest offset (at maxTokens, then at 1) in `part` clear of every live overlapping item. */
  const lowest = (it: Item, part: Map<number, Item[]>, lives: boolean): Lin => {
    const found = new Set<Item>();
    if (lives) for (const k of stretches(it.iv)) for (const q of part.get(k) ?? []) if (intervalsIntersect(q.iv, it.iv)) found.add(q);
    const conflicts = [...found];
    const clear = (o: Lin): boolean =>
      conflicts.every((q) => ends.every((T) => linAt(o, T) + linAt(it.bytes, T) <= linAt(q.offset, T)) || ends.every((T) => linAt(top(q), T) <= linAt(o, T)));
    // Above every conflict at every T: always clear, so a placement always exists.
    const above = conflicts.reduce<Lin>((m, q) => linMax(m, top(q)), [0, 0]);
    const candidates: Lin[] = [[0, 0], ...conflicts.map(top), above];
    let best = above;
    for (const c of candidates) if (clear(c) && (linAt(c, maxTokens) < linAt(best, maxTokens) || (linAt(c, maxTokens) === linAt(best, maxTokens) && linAt(c, 1) < linAt(best, 1)))) best = c;
    return best;
  };
  for (const it of order) {
    const lives = linAt(it.bytes, maxTokens) > 0 && it.iv.start <= it.iv.end;
    // First part where it fits the binding size at the bound; a new part takes anything (a
    // buffer over the size alone: the backend says which T it cannot bind).
    for (let k = 0; ; k++) {
      if (k === parts.length) {
        parts.push(new Map());
        partEnds.push([0, 0]);
      }
      const o = lowest(it, parts[k], lives);
      const empty = partEnds[k][0] === 0 && partEnds[k][1] === 0;
      if (!empty && linAt(o, maxTokens) + linAt(it.bytes, maxTokens) > maxBinding) continue;
      it.offset = o;
      it.part = k;
      break;
    }
    const [e1, eM] = partEnds[it.part];
    partEnds[it.part] = [Math.max(e1, linAt(top(it), 1)), Math.max(eM, linAt(top(it), maxTokens))];
    // Only items that take space and live somewhere can conflict with a later one.
    if (lives) {
      for (const k of stretches(it.iv)) {
        const list = parts[it.part].get(k);
        if (list) list.push(it);
        else parts[it.part].set(k, [it]);
      }
    }
  }

  const split = partEnds.length > 1;
  const byName = new Map(items.map((it) => [it.name, it]));
  const buffers = p.buffers.map((b): KBuffer => {
    const it = byName.get(b.name);
    const { offset: _o, bytes: _b, part: _p, ...rest } = b;
    if (it) return { ...rest, shape: [...b.shape], ...(split ? { part: it.part } : {}), offset: affine(...it.offset), bytes: affine(...it.bytes) };
    let bytes: Lin | undefined;
    try {
      bytes = affineBytes(b, bindings, maxTokens);
    } catch {
      bytes = undefined;
    }
    return bytes === undefined ? { ...rest, shape: [...b.shape] } : { ...rest, shape: [...b.shape], bytes: affine(...bytes) };
  });
  // The furthest end over T is convex (a maximum of affine ends), so the chord between its
  // values at T = 1 and at the bound lies above it: each part's size, affine in T.
  const chord = ([e1, eM]: [number, number]): Lin => {
    if (maxTokens <= 1) return [0, eM];
    const a = alignUp(Math.ceil((eM - e1) / (maxTokens - 1)), alignment);
    return [a, alignUp(e1 - a, alignment)];
  };
  const partSizes = partEnds.map(chord);
  const total = partSizes.reduce<Lin>((s, t) => linAdd(s, t), [0, 0]);
  const naiveBytes = items.reduce((s, it) => s + linAt(linAlign(it.bytes, alignment), maxTokens), 0);
  const { arenaParts: _a, ...program } = p;
  return { ...program, buffers, maxTokens, arenaBytes: affine(...total), naiveBytes, ...(split ? { arenaParts: partSizes.map((t) => affine(...t)) } : {}) };
}
