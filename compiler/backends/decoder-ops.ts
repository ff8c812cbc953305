/**
 * @fileoverview The decoder ops no backend renders yet, refused before a backend emits or
 * loads a program that has them (for the registry in Node and the browser entry alike).
 */
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { fail } from '../../ir/diagnostics.ts';
import { forEachKernel } from '../../ir/kernel/walk.ts';
import type { Backend } from './backend.ts';

/** The decoder ops (embedding, rope, attention, MLA) that only the reference interpreters run so far. */
export const DECODER_OPS = ['embedding', 'rope', 'attention', 'mla_attention'] as const;

/**
 * A program with decoder ops (an imported whole model) gets E701 from every backend before
 * it renders anything, instead of whatever its renderer trips over first (an unbound cache
 * length, a missing kernel). A backend that renders them lists them in `decoderOps`.
 */
export function withDecoderOpsRefused(b: Backend): Backend {
  const check = (p: KProgram): void => {
    const ops = new Set<string>();
    forEachKernel(p.steps, (k) => {
      if (k.kind === 'op' && (DECODER_OPS as readonly string[]).includes(k.op) && !b.decoderOps?.includes(k.op)) ops.add(k.op);
    });
    if (ops.size > 0)
      fail('E701', `the ${b.name} backend cannot run ${[...ops].join(', ')} yet (an imported whole model)`, undefined, 'run it with --backend ref (the reference interpreter), or analyze it');
  };
  return {
    ...b,
    emit: (p, t) => (check(p), b.emit(p, t)),
    load: async (p, t, w, o) => (check(p), b.load(p, t, w, o)),
  };
}
