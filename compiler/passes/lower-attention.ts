/**
 * @fileoverview Lowering of the graph's `attention` op to the kernel IR's `attention` kernel
 * (ir/kernel/attention.ts), and of its KV caches to state the compiled model owns.
 *
 * A graph model takes its caches as inputs ([L, G, Dk] per layer, stacked [LAYERS, L, G, Dk]
 * into a repeat) and never writes them back. Given a context bound (`maxContext`), every
 * model input that only attention kernels read as a cache becomes a `state` buffer of
 * `CTX` positions ([LAYERS, CTX, G, Dk]) that the attention kernels append to, and leaves
 * the model's inputs: the caller then passes L (the positions already cached) and owns the
 * state between calls. Without a bound the caches stay inputs, as the graph says.
 */
import { sym } from '../../ir/dims.ts';
import { fail } from '../../ir/diagnostics.ts';
import type { Node, Value } from '../../ir/graph/graph.ts';
import { type AttentionKernel, CONTEXT_DIM } from '../../ir/kernel/attention.ts';
import type { KBuffer, KProgram, Step } from '../../ir/kernel/kernel.ts';
import { forEachKernel, kernelBuffers } from '../../ir/kernel/walk.ts';

/** The attention kernel of a graph `attention` node (`name`: a value's buffer). */
export function lowerAttention(n: Node, name: (v: Value) => string): AttentionKernel {
  const [q, k, v, kCache, vCache, sinks] = n.inputs;
  return {
    kind: 'attention',
    q: name(q),
    k: name(k),
    v: name(v),
    kCache: name(kCache),
    vCache: name(vCache),
    ...(sinks ? { sinks: name(sinks) } : {}),
    out: name(n.outputs[0]),
    scale: n.attrs.scale as number,
    window: n.attrs.window as number,
    past: kCache.type.shape[0],
  };
}

function inputsOf(p: KProgram): Set<string> {
  return new Set(p.inputs.map((i) => i.buffer));
}

/** Loop slice → the buffer it slices, for every loop. */
function stackedOf(steps: readonly Step[], into = new Map<string, string>()): Map<string, string> {
  for (const s of steps)
    if (s.kind === 'loop') {
      for (const sl of s.slices) into.set(sl.slice, sl.stacked);
      stackedOf(s.body, into);
    }
  return into;
}

/**
 * Turns the cache inputs of the program's attention kernels into state buffers of
 * `maxContext` positions (see the file header); records the bound as `maxContext` and the
 * context size `CTX` as a dim of the module. A cache input something else also reads stays
 * an input. Mutates `p` (lowering's own program).
 */
export function cachesToState(p: KProgram, maxContext: number): void {
  if (!Number.isSafeInteger(maxContext) || maxContext < 1) throw new Error(`the context bound must be a whole number of at least 1, got ${maxContext}`);
  const stacked = stackedOf(p.steps);
  const root = (name: string): string => {
    for (let n = name, i = 0; i < 64; i++) {
      const up = stacked.get(n);
      if (up === undefined) return n;
      n = up;
    }
    return name;
  };
  // Every buffer read as a cache, by root; and every root something else reads.
  const caches = new Set<string>();
  const otherReads = new Set<string>();
  forEachKernel(p.steps, (k) => {
    const cacheRoles = k.kind === 'attention' ? [k.kCache, k.vCache] : [];
    for (const c of cacheRoles) caches.add(root(c));
    for (const r of kernelBuffers(k).reads) if (!cacheRoles.includes(r)) otherReads.add(root(r));
  });
  // The keys and values of one kernel are state together or not at all.
  forEachKernel(p.steps, (k) => {
    if (k.kind !== 'attention') return;
    const pair = [root(k.kCache), root(k.vCache)];
    if (pair.some((c) => otherReads.has(c) || !inputsOf(p).has(c))) pair.forEach((c) => otherReads.add(c));
  });
  const convert = [...caches].filter((c) => inputsOf(p).has(c) && !otherReads.has(c));
  if (convert.length === 0) return;
  if (p.module.dims.some((d) => d.name === CONTEXT_DIM))
    fail('E203', `the model declares a size named ${CONTEXT_DIM}, the name compiled models give their context bound`, p.module.dims.find((d) => d.name === CONTEXT_DIM)!.span, `rename the size, or compile without a context bound`);
  const byName = new Map(p.buffers.map((b) => [b.name, b]));
  const toState = (b: KBuffer): void => {
    // The positions axis is the third from the end ([.., positions, kv_heads, head_dim]).
    const axis = b.shape.length - 3;
    b.kind = 'state';
    b.shape = b.shape.map((d, i) => (i === axis ? sym(CONTEXT_DIM) : d));
  };
  const converted = new Set(convert);
  for (const c of convert) toState(byName.get(c)!);
  for (const [slice] of stacked) if (converted.has(root(slice)) && byName.has(slice)) toState(byName.get(slice)!);
  p.inputs = p.inputs.filter((i) => !converted.has(i.buffer));
  p.module = { ...p.module, dims: [...p.module.dims, { name: CONTEXT_DIM, max: maxContext }] };
  p.maxContext = maxContext;
}
