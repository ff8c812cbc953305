/**
 * @fileoverview Lowering of the graph's `attention` and `mla_attention` ops to the kernel
 * IR's kernels (ir/kernel/attention.ts, mla.ts), and of their KV caches to state the
 * compiled model owns.
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
import type { KBuffer, KProgram, Kernel, Step } from '../../ir/kernel/kernel.ts';
import type { MlaAttentionKernel } from '../../ir/kernel/mla.ts';
import { forEachKernel, kernelBuffers, sliceStacks } from '../../ir/kernel/walk.ts';

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

/** The MLA kernel of a graph `mla_attention` node (`name`: a value's buffer). */
export function lowerMla(n: Node, name: (v: Value) => string): MlaAttentionKernel {
  const [qNope, qPe, kv, kPe, kvCache, peCache, wkvB] = n.inputs;
  return {
    kind: 'mla_attention',
    qNope: name(qNope),
    qPe: name(qPe),
    kv: name(kv),
    kPe: name(kPe),
    kvCache: name(kvCache),
    peCache: name(peCache),
    wkvB: name(wkvB),
    out: name(n.outputs[0]),
    scale: n.attrs.scale as number,
    past: kvCache.type.shape[0],
  };
}

/**
 * The caches a kernel reads (none for most), each with its positions axis counted from the
 * end: attention's [.., positions, kv_heads, head_dim], MLA's [.., positions, width].
 */
function cachesOf(k: Kernel): Array<{ name: string; fromEnd: number }> {
  if (k.kind === 'attention') return [k.kCache, k.vCache].map((name) => ({ name, fromEnd: 3 }));
  if (k.kind === 'mla_attention') return [k.kvCache, k.peCache].map((name) => ({ name, fromEnd: 2 }));
  return [];
}

/**
 * Turns the cache inputs of the program's attention kernels into state buffers of
 * `maxContext` positions (see the file header); records the bound as `maxContext` and the
 * context size `CTX` as a dim of the module. A cache input something else also reads stays
 * an input. Mutates `p` (lowering's own program).
 */
export function cachesToState(p: KProgram, maxContext: number): void {
  if (!Number.isSafeInteger(maxContext) || maxContext < 1) throw new Error(`the context bound must be a whole number of at least 1, got ${maxContext}`);
  const stacked = sliceStacks(p.steps);
  const root = (name: string): string => {
    for (let n = name, i = 0; i < 64; i++) {
      const up = stacked.get(n);
      if (up === undefined) return n;
      n = up;
    }
    return name;
  };
  // Every buffer read as a cache, by root, with its positions axis; and every root something else reads.
  const caches = new Map<string, number>();
  const otherReads = new Set<string>();
  forEachKernel(p.steps, (k) => {
    const cacheRoles = cachesOf(k);
    for (const c of cacheRoles) caches.set(root(c.name), c.fromEnd);
    for (const r of kernelBuffers(k).reads) if (!cacheRoles.some((c) => c.name === r)) otherReads.add(root(r));
  });
  // The two caches of one kernel are state together or not at all.
  forEachKernel(p.steps, (k) => {
    const pair = cachesOf(k).map((c) => root(c.name));
    if (pair.some((c) => otherReads.has(c) || !inputsOf(p).has(c))) pair.forEach((c) => otherReads.add(c));
  });
  const convert = [...caches.keys()].filter((c) => inputsOf(p).has(c) && !otherReads.has(c));
  if (convert.length === 0) return;
  if (p.module.dims.some((d) => d.name === CONTEXT_DIM))
    fail('E203', `the model declares a size named ${CONTEXT_DIM}, the name compiled models give their context bound`, p.module.dims.find((d) => d.name === CONTEXT_DIM)!.span, `rename the size, or compile without a context bound`);
  const byName = new Map(p.buffers.map((b) => [b.name, b]));
  const toState = (b: KBuffer, fromEnd: number): void => {
    const axis = b.shape.length - fromEnd;
    b.kind = 'state';
    b.shape = b.shape.map((d, i) => (i === axis ? sym(CONTEXT_DIM) : d));
  };
  const converted = new Set(convert);
  for (const c of convert) toState(byName.get(c)!, caches.get(c)!);
  for (const [slice] of stacked) if (converted.has(root(slice)) && byName.has(slice)) toState(byName.get(slice)!, caches.get(root(slice))!);
  p.inputs = p.inputs.filter((i) => !converted.has(i.buffer));
  p.module = { ...p.module, dims: [...p.module.dims, { name: CONTEXT_DIM, max: maxContext }] };
  p.maxContext = maxContext;
}
