/**
 * @fileoverview Visits every op of a model's graph once per execution: `repeat` bodies are
 * visited once, with their run count (nested counts multiplied), not unrolled, so a
 * 61-layer model costs one body's visit.
 */
import { type Func, type Module, type Node, findFunc, mainFunc } from '../../ir/graph/graph.ts';

export function forEachNode(m: Module, visit: (n: Node, times: number) => void, f: Func = mainFunc(m), times = 1): void {
  for (const n of f.body) {
    if (n.op === 'repeat') {
      const body = findFunc(m, n.attrs.body as string);
      if (body) forEachNode(m, visit, body, times * Number(n.attrs.count));
    } else visit(n, times);
  }
}
