/**
 * @fileoverview The C text of a fused elementwise chain (`elementwise` op kernels, and the
 * strided copies reshape, transpose and slice: ir/graph/elementwise.ts): one statement per
 * step in double, each result rounded to float as the op it stands for stores it (so + - * /
 * and sqrt are the reference's bit for bit), each operand read at its index map.
 */
import type { Dim } from '../../../ir/dims.ts';
import { type EwStep, type IndexMap, chainView, ewSteps } from '../../../ir/graph/elementwise.ts';
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { cannotRun } from '../cannot-run.ts';
import { concatPieces } from '../../../ir/graph/concat-pieces.ts';

/** A double literal that reads back exactly (C has no inf/nan literals: math.h's macros). */
function cLit(v: number): string {
  if (Number.isNaN(v)) return '(double)NAN';
  if (!Number.isFinite(v)) return v > 0 ? '(double)INFINITY' : '(-(double)INFINITY)';
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** An operand's index map as a C expression in the output's flat index i (a size_t). */
export function cIndex(map: IndexMap): string {
  const parts = map.terms.map((t) => `${t.div === 1 ? 'i' : `i / ${t.div}`}${t.mod !== undefined ? ` % ${t.mod}` : ''}${t.mul === 1 ? '' : ` * ${t.mul}`}`);
  if (map.base !== 0 || parts.length === 0) parts.push(String(map.base));
  return parts.join(' + ');
}

function cStep(s: EwStep, v: (i: number) => string, load: (operand: number) => string): string {
  switch (s.kind) {
    case 'input':
      return load(s.index);
    case 'const':
      return cLit(s.value);
    case 'unary': {
      const a = v(s.x);
      const body: Record<typeof s.fn, string> = {
        neg: `-${a}`,
        exp: `exp(${a})`,
        log: `log(${a})`,
        sqrt: `sqrt(${a})`,
        rsqrt: `1.0 / sqrt(${a})`,
        abs: `fabs(${a})`,
        sigmoid: `1.0 / (1.0 + exp(-${a}))`,
        silu: `${a} / (1.0 + exp(-${a}))`,
        relu: `${a} <= 0 ? 0.0 : ${a}`, // NaN stays NaN, as in the reference
        tanh: `tanh(${a})`,
        gelu: `0.5 * ${a} * erfc(-${a} * 0.70710678118654752440)`,
        gelu_tanh: `0.5 * ${a} * (1.0 + tanh(0.79788456080286535588 * (${a} + 0.044715 * ${a} * ${a} * ${a})))`,
      };
      return body[s.fn];
    }
    case 'binary': {
      const [a, b] = [v(s.a), v(s.b)];
      // maximum and minimum propagate NaN (fmax/fmin would drop it).
      const body: Record<typeof s.fn, string> = {
        add: `${a} + ${b}`,
        sub: `${a} - ${b}`,
        mul: `${a} * ${b}`,
        div: `${a} / ${b}`,
        maximum: `${a} != ${a} || ${b} != ${b} ? ${a} + ${b} : fmax(${a}, ${b})`,
        minimum: `${a} != ${a} || ${b} != ${b} ? ${a} + ${b} : fmin(${a}, ${b})`,
      };
      return body[s.fn];
    }
  }
}

/**
 * The template view of an elementwise kernel: `fields` (the argument struct's operand
 * pointers) and `body` (the statements computing `g->out[i]`).
 */
export function cElementwise(k: OpKernel, shapeOf: (buffer: string) => readonly Dim[]): { expr: string; fields: string; body: string } {
  const view = chainView(k.op, k.attrs, k.inputs.map(shapeOf), shapeOf(k.outputs[0])) ?? cannotRun('c', k.op, `of ${k.inputs.join(', ')}: a size after the first axis depends on the token count`);
  const expr = k.op === 'elementwise' ? (k.attrs.expr as string) : k.op === 'glu' ? `glu ${String(k.attrs.fn)} (${String(k.attrs.layout)})` : `${k.op}: a strided copy`;
  const steps = ewSteps(view.expr);
  const v = (i: number): string => `v${i}`;
  const load = (j: number): string => `(double)g->x${view.operands[j].input}[${cIndex(view.operands[j].map)}]`;
  const lines = steps.map((s, i) => `    const float v${i} = (float)(${cStep(s, v, load)});`);
  lines.push(`    g->out[i] = v${steps.length - 1};`);
  const fields = k.inputs.length ? `  const float ${k.inputs.map((_, i) => `*x${i}`).join(', ')};\n` : '';
  return { expr, fields, body: lines.join('\n') };
}

/** The template view of a concat (drawn by the elementwise template): the input picked by the axis coordinate. */
export function cConcat(k: OpKernel, shapeOf: (buffer: string) => readonly Dim[]): { expr: string; fields: string; body: string } {
  const c = concatPieces(k.inputs.map(shapeOf), k.attrs.axis as number) ?? cannotRun('c', 'concat', 'along an axis whose size depends on the token count');
  const lines = [`    const size_t o = i / ${c.total * c.inner}, c = i / ${c.inner} % ${c.total}, q = i % ${c.inner};`];
  c.pieces.forEach((p, j) => {
    const read = `g->out[i] = g->x${j}[o * ${p.size * c.inner} + (c - ${p.start}) * ${c.inner} + q];`;
    lines.push(j === c.pieces.length - 1 ? `    else ${read}` : `    ${j === 0 ? 'if' : 'else if'} (c < ${p.start + p.size}) ${read}`);
  });
  if (c.pieces.length === 1) lines[1] = lines[1].replace('    else ', '    ');
  return { expr: `concat of ${k.inputs.length} along an axis of ${c.total}`, fields: `  const float ${k.inputs.map((_, i) => `*x${i}`).join(', ')};\n`, body: lines.join('\n') };
}
