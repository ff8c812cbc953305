/**
 * @fileoverview Visits every op of a model's graph once per execution: `repeat` bodies are
 * visited once, with their run count (nested counts multiplied), not unrolled, so a
 * 61-layer model costs one body's visit. The one repeat walker of the analysis, the KV-cache
 * count and the benchmark's cost.
 */
import { type Func, type Module, type Node, findFunc, mainFunc } from '../../ir/graph/graph.ts';

/**
 * Calls `visit(node, times, func)` for every node but the repeats, in program order;
 * `enter(repeat, body)` runs before a repeat's body is walked (to map its arguments onto the
 * body's parameters).
 */
export function forEachNode(
  m: Module,
  visit: (n: Node, times: number, f: Func) => void,
  enter?: (repeat: Node, body: Func) => void,
  f: Func = mainFunc(m),
  times = 1,
): void {
  for (const n of f.body) {
    if (n.op === 'repeat') {
      const body = findFunc(m, n.attrs.body as string);
      if (!body) continue;
      enter?.(n, body);
      forEachNode(m, visit, enter, body, times * Number(n.attrs.count));
    } else visit(n, times, f);
  }
}
