/**
 * @fileoverview The C body of the axis ops (`softmax`, `sum`, `mean`, `amax`; the loop in
 * ir/graph/axis-ops.ts): each lane walks its axis in double, in the interpreter's order.
 * softmax takes the max (a NaN makes the row NaN), sums exp(x - max), then writes
 * exp(x - max) / sum, recomputing the exponentials rather than keeping a row of them.
 */
import type { Dim } from '../../../ir/dims.ts';
import { axisLoop } from '../../../ir/graph/axis-ops.ts';
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { cannotRun } from '../cannot-run.ts';

export function cAxisOp(k: OpKernel, shapeOf: (b: string) => readonly Dim[]): Record<string, unknown> {
  const loop = axisLoop(shapeOf(k.inputs[0]), k.attrs.axis as number) ?? cannotRun('c', k.op, 'along an axis whose size depends on the token count');
  const { n, inner } = loop;
  const at = (i: string): string => `g->x[base + (size_t)${i} * ${inner}]`;
  const max = [
    `    double m = -INFINITY;`,
    `    for (i = 0; i < ${n}; i++) {`,
    `      const double v = ${at('i')};`,
    `      if (v > m || v != v) m = v;`,
    `      if (m != m) break;`,
    `    }`,
  ];
  const body: Record<string, string[]> = {
    softmax: [
      ...max,
      `    for (i = 0; i < ${n}; i++) s += exp(${at('i')} - m);`,
      `    for (i = 0; i < ${n}; i++) g->out[base + (size_t)i * ${inner}] = (float)(exp(${at('i')} - m) / s);`,
    ],
    sum: [`    for (i = 0; i < ${n}; i++) s += ${at('i')};`, `    g->out[l] = (float)s;`],
    mean: [`    for (i = 0; i < ${n}; i++) s += ${at('i')};`, `    g->out[l] = (float)(s / ${n});`],
    amax: [
      `    double r = -INFINITY;`,
      `    for (i = 0; i < ${n}; i++) {`,
      `      const double v = ${at('i')};`,
      `      if (v != v) { r = v; break; }`,
      `      if (v > r) r = v;`,
      `    }`,
      `    g->out[l] = (float)r;`,
    ],
  };
  return {
    axisOp: true,
    axisBody: body[k.op].join('\n'),
    n,
    inner,
    summaryLine: `${k.op} along an axis of ${n}${inner > 1 ? ` (stride ${inner})` : ''}`,
  };
}
