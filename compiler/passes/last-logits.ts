/**
 * @fileoverview Pass `last-logits` (only when asked: the pipeline option `lastLogits`): the
 * model's `logits` output `linear(x, W)` over every position, x [T, D], becomes the logits of
 * one position, `linear(gather(x, last_row, axis=0), W)` [1, V], with a new model input
 * `last_row: i32[1, D]` that the caller fills with the row to keep (T - 1 for generation).
 *
 * Why: a generation step needs the last position's logits only, and the LM head over every
 * position is most of a prefill's GEMM work on a small model (vocab 32000 against D 1024) and
 * T x V floats sent back per call. `gather` is take_along_axis, which every backend runs, so
 * no new op is needed; the index is an input (not T - 1 in the graph) because T is a size the
 * graph cannot compute with.
 *
 * A model whose output is not of that form is left as it was: `rewriteLastLogits` says
 * whether it rewrote, and callers tell by the program's `last_row` input (`LAST_ROW`).
 *
 * Postcondition: verified; the one row equals row `last_row` of the full logits bit for bit
 * (the same dot products, in the same order).
 */
import { type Module, Value, mainFunc } from '../../ir/graph/graph.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { cloneModule } from './clone.ts';
import type { GraphPass } from './pass.ts';
import { UseMap, insertNode, isWeight, removeNodes, replaceUses } from './rewrite.ts';

/** The model input the rewritten model takes: the row of x whose logits it returns, repeated over D. */
export const LAST_ROW = 'last_row';

/** The output the pass rewrites: `logits`, or the one output where there is only one. */
const LOGITS = 'logits';

export interface LastLogitsResult {
  module: Module;
  rewrote: boolean;
  /** Why the module was left alone (absent when it was rewritten). */
  why?: string;
}

/** The rewrite (see the file header) on a copy; `input` is not changed. */
export function rewriteLastLogits(input: Module): LastLogitsResult {
  const leave = (why: string): LastLogitsResult => ({ module: input, rewrote: false, why });
  const m = cloneModule(input);
  const main = mainFunc(m);
  const result = main.results.length === 1 ? main.results[0] : main.results.find((r) => r.name === LOGITS);
  if (!result) return leave(`the model has no output named ${LOGITS}`);
  if (main.params.some((p) => p.name === LAST_ROW)) return leave(`the model already has an input named ${LAST_ROW}`);
  const u = new UseMap(main);
  const head = u.defOf(result.value);
  if (!head || head.op !== 'matmul' || head.attrs.transpose_b !== true || head.inputs.length !== 2) return leave(`output ${result.name} is not linear(x, W)`);
  const [x, w] = head.inputs;
  if (x.type.shape.length !== 2 || w.type.shape.length !== 2 || !isWeight(m, main, w, u)) return leave(`output ${result.name} is not linear(x, W) of x [T, D] and a weight W`);
  // Another result or node reading the full logits still needs them: nothing to save.
  if (u.usersOf(result.value).length > 0 || main.results.filter((r) => r.value === result.value).length > 1) return leave(`output ${result.name} is read elsewhere in the model`);
  const lastRow = new Value(LAST_ROW, { dtype: 'i32', shape: [1, x.type.shape[1]] });
  main.params.push(lastRow);
  const row = insertNode(m, main, 'gather', [x, lastRow], { axis: 0 }, [`${x.name}.last`], head);
  const logits = insertNode(m, main, 'matmul', [row.outputs[0], w], { ...head.attrs }, [`${result.value.name}.last`], head);
  removeNodes(main, [head]);
  replaceUses(main, result.value, logits.outputs[0]);
  return { module: m, rewrote: true };
}

export const lastLogits: GraphPass = {
  name: 'last-logits',
  level: 'graph',
  summary: 'the logits output linear(x, W) over every position becomes that of the row last_row only',
  requires: [],
  run: (m) => rewriteLastLogits(m).module,
};

/**
 * The inputs a call of `T` tokens adds for the row it wants (the last: T - 1): `{ last_row }`
 * for a program the pass rewrote, none for one it left alone, so one call site serves both.
 */
export function lastRowInputs(p: KProgram, T: number): Record<string, Tensor> {
  const input = p.inputs.find((i) => i.name === LAST_ROW);
  if (!input) return {};
  const D = p.buffers.find((b) => b.name === input.buffer)?.shape[1];
  if (typeof D !== 'number') throw new Error(`the ${LAST_ROW} input of ${p.module.name} has no fixed width`);
  return { [LAST_ROW]: { dtype: 'i32', shape: [1, D], data: new Int32Array(D).fill(T - 1) } };
}
