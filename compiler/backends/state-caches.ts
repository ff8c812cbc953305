/**
 * @fileoverview KV caches given as the graph takes them (inputs [.., L, ..]) turned into the
 * state a compiled model owns ([.., CTX, ..] at the program's context bound): positions
 * 0..L-1 copied, the rest zero. Every backend's `loadCaches` starts here, so `moec run` of a
 * model whose caches are inputs runs the same state kernels as `moec generate`.
 */
import { fail } from '../../ir/diagnostics.ts';
import { dimEq, evalShape, sym } from '../../ir/dims.ts';
import { CONTEXT_DIM } from '../../ir/kernel/attention.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { bufferResolver, forEachKernel, loopSlices } from '../../ir/kernel/walk.ts';
import { type Tensor, numel } from '../../ir/tensor.ts';

/** A state buffer's whole contents at the context bound, f32 (the state dtypes backends run). */
export interface StateContents {
  name: string;
  shape: number[];
  data: Float32Array;
}

/**
 * The program's state buffers with their shapes at the context bound: the stacked ones, not
 * a layer loop's slices of them (views, which hold nothing of their own: allocateState skips them too).
 */
export function stateBuffers(p: KProgram): Array<{ name: string; shape: number[]; axis: number }> {
  const ctx = p.maxContext;
  const slices = loopSlices(p.steps);
  return p.buffers
    .filter((b) => b.kind === 'state' && !slices.has(b.name))
    .map((b) => {
      if (ctx === undefined) throw new Error(`state buffer ${b.name} in a program without a context bound`);
      const axis = b.shape.findIndex((d) => dimEq(d, sym(CONTEXT_DIM)));
      if (axis < 0) throw new Error(`state buffer ${b.name} has no ${CONTEXT_DIM} axis`);
      return { name: b.name, shape: evalShape(b.shape, { [CONTEXT_DIM]: ctx }), axis };
    });
}

/**
 * Each state buffer filled from the cache of the same name (its positions axis L long): the
 * caller's positions 0..L-1 in place, zeros after. A missing cache, a wrong shape or an L
 * past the context bound is the caller's mistake (E503/E504/E505).
 */
export function stateFromCaches(p: KProgram, caches: Record<string, Tensor>, L: number): StateContents[] {
  const ctx = p.maxContext ?? 0;
  if (!Number.isInteger(L) || L < 0 || L > ctx)
    fail('E505', `${L} cached positions do not fit the context bound ${ctx}`, undefined, 'compile with a larger --max-context, or pass fewer cached positions');
  return stateBuffers(p).map(({ name, shape, axis }) => {
    const data = new Float32Array(numel(shape));
    const want = shape.map((d, i) => (i === axis ? L : d));
    const t = caches[name];
    if (t === undefined) {
      if (L === 0) return { name, shape, data };
      fail('E503', `missing the cache '${name}': expected ${want.join('×')} values of positions 0..${L - 1}`);
    }
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i]) || t.data.length !== numel(want))
      fail('E504', `the cache '${name}' is [${t.shape.join(', ')}], expected [${want.join(', ')}] (L = ${L} cached positions)`, undefined, 'give --context the positions the cache holds');
    // Outer index over the axes before the positions; each copies L rows of `inner` values.
    const inner = numel(shape.slice(axis + 1));
    const outer = numel(shape.slice(0, axis));
    for (let o = 0; o < outer; o++) data.set(t.data.subarray(o * L * inner, (o + 1) * L * inner), o * ctx * inner);
    return { name, shape, data };
  });
}

/**
 * Refuses a program whose attention or MLA reads its cache as an input (compiled without a
 * context bound) on a backend that runs them with the caches as state only, before any size
 * that depends on L trips its renderer elsewhere.
 */
export function refuseInputCaches(p: KProgram, backend: string): void {
  const buffer = bufferResolver(p);
  forEachKernel(p.steps, (k) => {
    if (k.kind !== 'attention' && k.kind !== 'mla_attention') return;
    const name = k.kind === 'attention' ? k.kCache : k.kvCache;
    const cache = buffer(name);
    if (cache.kind !== 'state')
      fail('E701', `the ${backend} backend runs ${k.kind} with the KV cache as state the model owns, but ${name} is an ${cache.kind}`, undefined, 'compile it with a context bound (moec compile --max-context N): the caches become state and forward takes L (moec run --context L does so itself)');
  });
}

/**
 * A call of T new positions after L cached ones, checked against the context bound before any
 * backend runs it (E505, the caller's mistake): the one check every backend's forward makes.
 */
export function checkContext(L: number | undefined, T: number, context: number): number {
  if (L === undefined || !Number.isInteger(L) || L < 0 || L + T > context)
    fail('E505', `L = ${L} cached positions and T = ${T} new ones do not fit the context bound ${context}`, undefined, 'give L from 0 (a prefill) to the context bound minus T, compile with a larger --max-context, or start again with L = 0 (reset)');
  return L;
}
