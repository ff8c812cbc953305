/**
 * @fileoverview Part of `lower-kernels`: the elementwise op kernels left after fusion become
 * `elementwise` kernels (ir/graph/elementwise.ts), one per chain: an elementwise kernel whose
 * result only the next elementwise kernel of the chain reads is folded into it as a
 * subexpression, so the intermediate is never written out. Every backend renders the one
 * generic kernel; none needs a kernel per op.
 *
 * A producer folds in when its result is read once, is no program output, and has the
 * consumer's shape (a smaller one would be recomputed per broadcast element), or when it
 * reads nothing (a constant). A lone same-shape `add` (a residual) keeps its own vectorised
 * kernel in every backend. Chains are f32 (the renderers' element type); other dtypes stay
 * op kernels.
 */
import type { Dim } from '../../ir/dims.ts';
import { type EwExpr, ELEMENTWISE_GRAPH_OPS, opAsEw, printEw, substitute } from '../../ir/graph/elementwise.ts';
import type { KProgram, OpKernel, Step } from '../../ir/kernel/kernel.ts';

interface Chain {
  step: OpKernel;
  expr: EwExpr;
  inputs: string[];
}

const sameShape = (a: readonly Dim[], b: readonly Dim[]): boolean => a.length === b.length && a.every((d, i) => JSON.stringify(d) === JSON.stringify(b[i]));

/** Rewrites `p`'s elementwise op kernels into fused `elementwise` kernels; `reads` counts each buffer's readers. */
export function fuseElementwiseChains(p: KProgram, reads: ReadonlyMap<string, number>): void {
  const outputs = new Set(p.outputs.map((o) => o.buffer));
  const byName = new Map(p.buffers.map((b) => [b.name, b]));
  const dropped = new Set<string>();
  const f32 = (buf: string): boolean => byName.get(buf)?.dtype === 'f32';

  const walk = (steps: Step[]): Step[] => {
    const chains = new Map<string, Chain>();
    const out: Step[] = [];
    for (const s of steps) {
      if (s.kind === 'loop') {
        s.body = walk(s.body);
        out.push(s);
        continue;
      }
      if (s.kind !== 'op' || !ELEMENTWISE_GRAPH_OPS.has(s.op) || ![...s.inputs, ...s.outputs].every(f32) || !byName.has(s.outputs[0])) {
        out.push(s);
        continue;
      }
      const outShape = byName.get(s.outputs[0])!.shape;
      const inputs: string[] = [];
      const take = (buf: string): number => (inputs.includes(buf) ? inputs.indexOf(buf) : inputs.push(buf) - 1);
      let folded = false;
      const leaf = (buf: string): EwExpr => {
        const c = chains.get(buf);
        const foldable = c && reads.get(buf) === 1 && !outputs.has(buf) && (c.inputs.length === 0 || sameShape(byName.get(buf)!.shape, outShape));
        if (!foldable) return { kind: 'input', index: take(buf) };
        folded = true;
        out.splice(out.indexOf(c.step), 1);
        chains.delete(buf);
        dropped.add(buf);
        return substitute(c.expr, (i) => ({ kind: 'input', index: take(c.inputs[i]) }));
      };
      const expr = substitute(opAsEw(s.op, s.attrs), (i) => leaf(s.inputs[i]));
      const lone = s.op === 'add' && !folded && sameShape(byName.get(s.inputs[0])!.shape, byName.get(s.inputs[1])!.shape);
      const step: OpKernel = lone ? s : { kind: 'op', op: 'elementwise', attrs: { expr: printEw(expr) }, inputs, outputs: [...s.outputs] };
      chains.set(s.outputs[0], { step, expr, inputs });
      out.push(step);
    }
    return out;
  };
  p.steps = walk(p.steps);
  p.buffers = p.buffers.filter((b) => !dropped.has(b.name));
}
