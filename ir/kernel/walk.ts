/**
 * @fileoverview Walkers over a kernel program's steps, the one place that knows how loops
 * nest kernels and slice buffers: passes, the verifier, the interpreter, the cost model and
 * the backends all walk a program through these, so a new step kind or loop feature is
 * taught to them once.
 */
import type { KBuffer, KProgram, Kernel, LoopStep, MoeAlignKernel, Step } from './kernel.ts';

/** A copy of `steps` with `fn` applied to every kernel, loop bodies included (loops are copied). */
export function mapKernels(steps: readonly Step[], fn: (k: Kernel) => Kernel): Step[] {
  return steps.map((s) => (s.kind === 'loop' ? { ...s, body: mapKernels(s.body, fn) } : fn(s)));
}

/** Calls `fn` on every kernel in execution order with how many times it runs (loop counts multiplied). */
export function forEachKernel(steps: readonly Step[], fn: (k: Kernel, times: number, loops: LoopStep[]) => void, times = 1, loops: LoopStep[] = []): void {
  for (const s of steps) {
    if (s.kind === 'loop') forEachKernel(s.body, fn, times * s.count, [...loops, s]);
    else fn(s, times, loops);
  }
}

/** Names of the buffers a kernel reads and writes (optional operands only when present). */
export function kernelBuffers(k: Kernel): { reads: string[]; writes: string[] } {
  const present = (xs: Array<string | undefined>): string[] => xs.filter((x): x is string => x !== undefined);
  const epilogueReads = (k.kind === 'gemm' || k.kind === 'grouped_gemm' ? k.epilogue : []).flatMap((e) =>
    e.kind === 'bias' ? [e.bias] : e.kind === 'combine' ? [e.weights] : [],
  );
  switch (k.kind) {
    case 'router':
      return { reads: present([k.x, k.w, k.bias, k.selectBias, k.sharedGate]), writes: [k.indices, k.weights] };
    case 'moe_align':
      return { reads: [k.indices], writes: [k.sorted, k.blockExpert, k.count] };
    case 'grouped_gemm':
      return {
        reads: present([k.a, k.w, k.sorted, k.blockExpert, k.count, k.indices, k.init, ...epilogueReads]),
        writes: [k.out],
      };
    case 'gemm':
      return { reads: [k.a, k.w, ...epilogueReads], writes: [k.out] };
    case 'op':
      return { reads: [...k.inputs], writes: [...k.outputs] };
    case 'attention':
      // A state cache is also written (appended to), but it is state, not arena memory: its
      // writes matter to no liveness.
      return { reads: present([k.q, k.k, k.v, k.kCache, k.vCache, k.sinks]), writes: [k.out] };
    case 'mla_attention':
      return { reads: [k.qNope, k.qPe, k.kv, k.kPe, k.kvCache, k.peCache, k.wkvB], writes: [k.out] };
    case 'dispatch':
      return { reads: [k.x, k.indices, k.weights], writes: [k.rows, k.local, k.rweights, k.plan] };
    case 'ep_combine':
      return { reads: present([k.results, k.plan, k.init]), writes: [k.out] };
  }
}

/**
 * Looks buffers up by name, including a loop's per-iteration slice views (which are not
 * buffers of their own): a slice resolves to its stacked buffer without the leading axis.
 */
export function bufferResolver(p: KProgram): (name: string) => KBuffer {
  const byName = new Map(p.buffers.map((b) => [b.name, b]));
  const slices = sliceStacks(p.steps);
  const resolve = (name: string, depth = 0): KBuffer => {
    const b = byName.get(name);
    if (b) return b;
    const stacked = slices.get(name);
    if (stacked !== undefined && depth < 16) {
      const s = resolve(stacked, depth + 1);
      return { ...s, name, shape: s.shape.slice(1) };
    }
    throw new Error(`kernel program '${p.name}' has no buffer '${name}'`);
  };
  return (name) => resolve(name);
}

/** Each loop slice (of every loop, nested ones too) → the buffer it slices, one level up. */
export function sliceStacks(steps: readonly Step[], into = new Map<string, string>()): Map<string, string> {
  for (const s of steps)
    if (s.kind === 'loop') {
      for (const sl of s.slices) into.set(sl.slice, sl.stacked);
      sliceStacks(s.body, into);
    }
  return into;
}

/** The outermost stacked buffer `name` is a (nested) slice of; `name` itself when it is no slice. */
export function stackRoot(stacks: ReadonlyMap<string, string>, name: string): string {
  let n = name;
  for (let depth = 0; depth < 16 && stacks.has(n); depth++) n = stacks.get(n)!;
  return n;
}

/** The slice names of every loop (declared as buffers or not). */
export function loopSlices(steps: readonly Step[], into = new Set<string>()): Set<string> {
  for (const s of steps)
    if (s.kind === 'loop') {
      for (const sl of s.slices) into.add(sl.slice);
      loopSlices(s.body, into);
    }
  return into;
}

/** Each `moe_align` by the `sorted` buffer it writes (grouped GEMMs find their block size through it). */
export function alignsBySorted(steps: readonly Step[]): Map<string, MoeAlignKernel> {
  const out = new Map<string, MoeAlignKernel>();
  forEachKernel(steps, (k) => {
    if (k.kind === 'moe_align') out.set(k.sorted, k);
  });
  return out;
}
