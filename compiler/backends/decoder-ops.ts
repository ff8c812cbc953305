/**
 * @fileoverview The decoder ops no backend renders yet, refused before a backend emits or
 * loads a program that has them (for the registry in Node and the browser entry alike); and
 * the token ids of a loaded program's embeddings, checked before each forward.
 */
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { cannotRun } from './cannot-run.ts';
import { fail } from '../../ir/diagnostics.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { forEachKernel } from '../../ir/kernel/walk.ts';
import type { Backend } from './backend.ts';

/**
 * The decoder ops that only the reference interpreters run so far: attention and MLA (issue
 * 16). (embedding and rope have kernels on every backend.)
 */
export const DECODER_OPS = ['attention', 'mla_attention'] as const;

/**
 * A program with decoder ops (an imported whole model) gets E701 from every backend before
 * it renders anything, instead of whatever its renderer trips over first (an unbound cache
 * length, a missing kernel). A backend that renders them lists them in `decoderOps`.
 */
export function withDecoderOpsRefused(b: Backend): Backend {
  const check = (p: KProgram): void => {
    const ops = new Set<string>();
    forEachKernel(p.steps, (k) => {
      // Attention is a kernel of its own (ir/kernel/attention.ts); the others are op kernels.
      const op = k.kind === 'attention' || k.kind === 'mla_attention' ? k.kind : k.kind === 'op' ? k.op : undefined;
      if (op !== undefined && (DECODER_OPS as readonly string[]).includes(op) && !b.decoderOps?.includes(op)) ops.add(op);
    });
    if (ops.size > 0) cannotRun(b.name, [...ops].join(', '), '(an imported whole model)');
  };
  return {
    ...b,
    emit: (p, t, o) => (check(p), b.emit(p, t, o)),
    load: async (p, t, w, o) => {
      check(p);
      const loaded = await b.load(p, t, w, o);
      const checkIds = tokenIdCheck(p);
      const forward = loaded.forward.bind(loaded);
      return Object.assign(loaded, { forward: async (inputs: Record<string, Tensor>, bindings: Record<string, number>) => (checkIds(inputs), forward(inputs, bindings)) });
    },
  };
}

/**
 * The token ids each embedding reads from a model input, checked against its table before a
 * backend runs (E505, as the reference interpreter says it): the kernels only guard their
 * memory (C returns ERR_TOKEN_ID, Wasm traps, WGSL writes nothing), and say less.
 */
function tokenIdCheck(p: KProgram): (inputs: Record<string, Tensor>) => void {
  const byBuffer = new Map(p.inputs.map((i) => [i.buffer, i.name]));
  const lookups: Array<{ input: string; vocab: number }> = [];
  forEachKernel(p.steps, (k) => {
    const input = k.kind === 'op' && k.op === 'embedding' ? byBuffer.get(k.inputs[0]) : undefined;
    if (input !== undefined && k.kind === 'op') lookups.push({ input, vocab: p.buffers.find((b) => b.name === k.inputs[1])!.shape[0] as number });
  });
  return (inputs) => {
    for (const { input, vocab } of lookups) {
      const ids = inputs[input]?.data ?? [];
      for (let i = 0; i < ids.length; i++)
        if (!(ids[i] >= 0 && ids[i] < vocab)) fail('E505', `embedding: token id ${ids[i]} (at ${i}) is outside the vocabulary 0..${vocab - 1}`, undefined, 'check the token ids against vocab_size');
    }
  };
}
