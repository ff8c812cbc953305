/**
 * @fileoverview The fused elementwise chain: the graph op `elementwise` (one kernel for a
 * chain of elementwise ops, its operands broadcast NumPy-style) and what every renderer
 * needs to print it: the expression tree, its text form, and each operand's index as a
 * function of the output's flat index.
 *
 * Why an expression in an attribute, not a new kernel record: the chain is data the
 * kernel IR's text form, verifier, memory planner and cost model already carry for an op
 * kernel (inputs, outputs, attributes); only the renderers and the interpreters look
 * inside. The text is `mul(silu(x0), x1)`: `xN` is operand N, numbers are constants
 * (`inf`, `-inf`, `nan` included), every other name is one of `EW_UNARY` or `EW_BINARY`.
 */
import { type Dim, isSym } from '../dims.ts';

/** One-operand functions of a chain: the graph's unary ops, plus both GELU forms. */
export const EW_UNARY = ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sigmoid', 'silu', 'relu', 'tanh', 'gelu', 'gelu_tanh'] as const;
/** Two-operand functions (NumPy broadcasting). */
export const EW_BINARY = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const;

export type EwUnary = (typeof EW_UNARY)[number];
export type EwBinary = (typeof EW_BINARY)[number];

export type EwExpr =
  | { kind: 'input'; index: number }
  | { kind: 'const'; value: number }
  | { kind: 'unary'; fn: EwUnary; x: EwExpr }
  | { kind: 'binary'; fn: EwBinary; a: EwExpr; b: EwExpr };

/** The graph ops a chain can take in (`const`, `clamp` and `gelu` included). */
export const ELEMENTWISE_GRAPH_OPS: ReadonlySet<string> = new Set([...EW_UNARY.filter((f) => f !== 'gelu_tanh'), ...EW_BINARY, 'clamp', 'const']);

/** Deepest nesting a chain's text may have (bounds the parser's recursion on hostile input). */
const MAX_DEPTH = 256;

export class EwSyntaxError extends Error {}

/** Parses a chain's text; throws `EwSyntaxError` with what is wrong. */
export function parseEw(text: string): EwExpr {
  const tokens = text.match(/\s*([A-Za-z_][A-Za-z_0-9]*|[-+]?(?:inf|nan|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|[(),]|\S)/g) ?? [];
  let pos = 0;
  const peek = (): string | undefined => tokens[pos]?.trim();
  const expect = (t: string): void => {
    if (peek() !== t) throw new EwSyntaxError(`expected '${t}' at token ${pos + 1} of "${text}", got ${peek() === undefined ? 'the end' : `'${peek()}'`}`);
    pos++;
  };
  const expr = (depth: number): EwExpr => {
    if (depth > MAX_DEPTH) throw new EwSyntaxError(`the chain nests deeper than ${MAX_DEPTH}`);
    const t = peek();
    if (t === undefined) throw new EwSyntaxError(`"${text}" ends early`);
    pos++;
    const input = /^x(\d+)$/.exec(t);
    if (input) return { kind: 'input', index: Number(input[1]) };
    if (/^[-+]?(inf|nan|\d|\.)/.test(t)) return { kind: 'const', value: t.endsWith('nan') ? NaN : t.endsWith('inf') ? (t.startsWith('-') ? -Infinity : Infinity) : Number(t) };
    const unary = (EW_UNARY as readonly string[]).includes(t);
    if (!unary && !(EW_BINARY as readonly string[]).includes(t)) throw new EwSyntaxError(`'${t}' is not an elementwise function (${[...EW_UNARY, ...EW_BINARY].join(', ')})`);
    expect('(');
    const x = expr(depth + 1);
    if (unary) {
      expect(')');
      return { kind: 'unary', fn: t as EwUnary, x };
    }
    expect(',');
    const b = expr(depth + 1);
    expect(')');
    return { kind: 'binary', fn: t as EwBinary, a: x, b };
  };
  const e = expr(0);
  if (pos !== tokens.length) throw new EwSyntaxError(`unexpected '${peek()}' after the chain in "${text}"`);
  return e;
}

/** The text form of a chain (parses back to the same tree; constants exactly). */
export function printEw(e: EwExpr): string {
  switch (e.kind) {
    case 'input':
      return `x${e.index}`;
    case 'const':
      return Number.isNaN(e.value) ? 'nan' : e.value === Infinity ? 'inf' : e.value === -Infinity ? '-inf' : String(e.value);
    case 'unary':
      return `${e.fn}(${printEw(e.x)})`;
    case 'binary':
      return `${e.fn}(${printEw(e.a)}, ${printEw(e.b)})`;
  }
}

/** The highest operand index a chain reads, or -1. */
export function maxInput(e: EwExpr): number {
  switch (e.kind) {
    case 'input':
      return e.index;
    case 'const':
      return -1;
    case 'unary':
      return maxInput(e.x);
    case 'binary':
      return Math.max(maxInput(e.a), maxInput(e.b));
  }
}

/** `e` with each operand leaf replaced by `leaf(index)` (renumbering, or inlining a producer's chain). */
export function substitute(e: EwExpr, leaf: (i: number) => EwExpr): EwExpr {
  switch (e.kind) {
    case 'input':
      return leaf(e.index);
    case 'const':
      return e;
    case 'unary':
      return { ...e, x: substitute(e.x, leaf) };
    case 'binary':
      return { ...e, a: substitute(e.a, leaf), b: substitute(e.b, leaf) };
  }
}

/**
 * One graph op (an element of `ELEMENTWISE_GRAPH_OPS`) as a chain over its operands x0, x1:
 * `clamp` is maximum then minimum with its bounds (NaN stays NaN, as in the op), gelu's tanh
 * form is `gelu_tanh`, and a `const` is its value rounded as it is stored (f32).
 */
export function opAsEw(op: string, attrs: Readonly<Record<string, unknown>>): EwExpr {
  const x0: EwExpr = { kind: 'input', index: 0 };
  const x1: EwExpr = { kind: 'input', index: 1 };
  if (op === 'const') return { kind: 'const', value: Math.fround(attrs.value as number) };
  if (op === 'gelu') return { kind: 'unary', fn: attrs.approximate === 'tanh' ? 'gelu_tanh' : 'gelu', x: x0 };
  if (op === 'clamp') {
    let e: EwExpr = x0;
    if (attrs.min !== null && attrs.min !== undefined) e = { kind: 'binary', fn: 'maximum', a: e, b: { kind: 'const', value: Math.fround(attrs.min as number) } };
    if (attrs.max !== null && attrs.max !== undefined) e = { kind: 'binary', fn: 'minimum', a: e, b: { kind: 'const', value: Math.fround(attrs.max as number) } };
    return e;
  }
  if ((EW_UNARY as readonly string[]).includes(op)) return { kind: 'unary', fn: op as EwUnary, x: x0 };
  if ((EW_BINARY as readonly string[]).includes(op)) return { kind: 'binary', fn: op as EwBinary, a: x0, b: x1 };
  throw new Error(`elementwise: ${op} is not an elementwise op`);
}

/**
 * One term of an operand's index: `floor(i / div) % mod * mul` of the output's flat index i
 * (`mod` absent on the leading axis, whose size may be symbolic).
 */
export interface IndexTerm {
  div: number;
  mod?: number;
  mul: number;
}

/** An operand's flat index: `base` plus its terms of the output's flat index. */
export interface IndexMap {
  terms: IndexTerm[];
  base: number;
}

/**
 * The index map of an operand of shape `inShape` read at output axis d from its axis
 * `source[d]` (-1: not at all, a broadcast) stepping `scale[d]` elements, from `base`: every
 * strided view (broadcast, transpose, slice) is one. Adjacent axes that step together merge,
 * so a same-shape operand is one term `i` and a trailing row one `i % n`. Every axis after
 * the first, of both shapes, must be a fixed size (`undefined` if not).
 */
export function stridedIndex(outShape: readonly Dim[], inShape: readonly Dim[], source: readonly number[], scale: readonly number[] = [], base = 0): IndexMap | undefined {
  if (outShape.slice(1).some(isSym) || inShape.slice(1).some(isSym)) return undefined;
  const inStride = inShape.map((_, k) => (inShape.slice(k + 1) as number[]).reduce((a, b) => a * b, 1));
  const terms: IndexTerm[] = [];
  let outStride = 1;
  for (let d = outShape.length - 1; d >= 0; d--) {
    const od = outShape[d];
    if (od !== 1 && source[d] >= 0) {
      const mul = inStride[source[d]] * (scale[d] ?? 1);
      const prev = terms[terms.length - 1];
      // Merges with the axis after it when they step through the operand contiguously.
      if (prev && prev.mod !== undefined && prev.div * prev.mod === outStride && prev.mul * prev.mod === mul)
        terms[terms.length - 1] = { div: prev.div, ...(d > 0 ? { mod: prev.mod * (od as number) } : {}), mul: prev.mul };
      else terms.push({ div: outStride, ...(d > 0 ? { mod: od as number } : {}), mul });
    }
    if (d > 0) outStride *= od as number;
  }
  return { terms: terms.reverse(), base };
}

/**
 * An operand broadcast (right-aligned, sizes 1 repeat) to `outShape`, NumPy-style; a size
 * after the first axis that depends on the token count gives `undefined`.
 */
export function broadcastIndex(outShape: readonly Dim[], inShape: readonly Dim[]): IndexTerm[] | undefined {
  const lead = outShape.length - inShape.length;
  const source = outShape.map((od, d) => (d >= lead && !(inShape[d - lead] === 1 && od !== 1) ? d - lead : -1));
  return stridedIndex(outShape, inShape, source)?.terms;
}

/** The ops every renderer draws as an elementwise chain over strided operands (data movement is a chain `x0`). */
export const CHAIN_OPS: ReadonlySet<string> = new Set(['elementwise', 'reshape', 'transpose', 'slice', 'glu']);

/** What a renderer draws for a `CHAIN_OPS` kernel: the chain, and for each of its operands the kernel input and index map. */
export interface ChainView {
  expr: EwExpr;
  operands: Array<{ input: number; map: IndexMap }>;
}

/**
 * A `CHAIN_OPS` kernel as its chain: the fused chain over broadcast operands; the identity
 * `x0` read through a reshape (the same flat index), a transpose (permuted strides) or a
 * slice (strided along its axis, from its start); glu as its gate and up halves of the one
 * input, read as two operands. `undefined`: a shape this form cannot index (a symbolic size
 * after the first axis).
 */
export function chainView(op: string, attrs: Readonly<Record<string, unknown>>, inShapes: ReadonlyArray<readonly Dim[]>, outShape: readonly Dim[]): ChainView | undefined {
  const x0: EwExpr = { kind: 'input', index: 0 };
  const one = (m: IndexMap | undefined): ChainView | undefined => (m ? { expr: x0, operands: [{ input: 0, map: m }] } : undefined);
  const [x] = inShapes;
  switch (op) {
    case 'elementwise': {
      const maps = inShapes.map((s) => broadcastIndex(outShape, s));
      if (maps.some((m) => m === undefined)) return undefined;
      return { expr: parseEw(attrs.expr as string), operands: maps.map((terms, input) => ({ input, map: { terms: terms!, base: 0 } })) };
    }
    case 'reshape':
      return one({ terms: [{ div: 1, mul: 1 }], base: 0 });
    case 'transpose':
      return one(stridedIndex(outShape, x, attrs.perm as number[]));
    case 'slice': {
      const axis = (attrs.axis as number) < 0 ? (attrs.axis as number) + x.length : (attrs.axis as number);
      const source = x.map((_, d) => d);
      const scale = x.map((_, d) => (d === axis ? (attrs.step as number) : 1));
      const stride = (x.slice(axis + 1) as number[]).reduce((a, b) => a * b, 1);
      return one(stridedIndex(outShape, x, source, scale, (attrs.start as number) * stride));
    }
    case 'glu': {
      // Output [.., H] from x [.., 2H]: gate column j at j (concat) or 2j (interleaved), up at H + j or 2j + 1.
      const h = outShape[outShape.length - 1] as number;
      const last = outShape.length - 1;
      const interleaved = attrs.layout === 'interleaved';
      const scale = outShape.map((_, d) => (d === last && interleaved ? 2 : 1));
      const source = outShape.map((_, d) => d);
      const gate = stridedIndex(outShape, x, source, scale, 0);
      const up = stridedIndex(outShape, x, source, scale, interleaved ? 1 : h);
      if (!gate || !up) return undefined;
      return { expr: gluExpr(attrs), operands: [{ input: 0, map: gate }, { input: 0, map: up }] };
    }
    default:
      throw new Error(`chainView: ${op} is not drawn as a chain`);
  }
}

/** glu over gate x0 and up x1: swiglu silu(g) * u; swiglu_clamped (u' + 1) * g' * sigmoid(alpha * g'), g' = min(g, limit), u' = clamp(u, ±limit). */
function gluExpr(attrs: Readonly<Record<string, unknown>>): EwExpr {
  if (attrs.fn !== 'swiglu_clamped') return parseEw('mul(silu(x0), x1)');
  const limit = attrs.limit as number;
  const g = `minimum(x0, ${limit})`;
  return parseEw(`mul(mul(add(maximum(minimum(x1, ${limit}), ${-limit}), 1), ${g}), sigmoid(mul(${attrs.alpha as number}, ${g})))`);
}

/** One step of a chain flattened for a renderer; operands name earlier steps by position. */
export type EwStep =
  | { kind: 'input'; index: number }
  | { kind: 'const'; value: number }
  | { kind: 'unary'; fn: EwUnary; x: number }
  | { kind: 'binary'; fn: EwBinary; a: number; b: number };

/**
 * A chain as a list of steps in evaluation order (operands left to right), the last one the
 * result; each operand is loaded once however often the chain reads it. Renderers print one
 * statement per step, each rounding its result to f32 as the op it stands for stores it.
 */
export function ewSteps(e: EwExpr): EwStep[] {
  const steps: EwStep[] = [];
  const loaded = new Map<number, number>();
  const visit = (x: EwExpr): number => {
    switch (x.kind) {
      case 'input': {
        const have = loaded.get(x.index);
        if (have !== undefined) return have;
        loaded.set(x.index, steps.push(x) - 1);
        return steps.length - 1;
      }
      case 'const':
        return steps.push(x) - 1;
      case 'unary': {
        const a = visit(x.x);
        return steps.push({ kind: 'unary', fn: x.fn, x: a }) - 1;
      }
      case 'binary': {
        const a = visit(x.a);
        const b = visit(x.b);
        return steps.push({ kind: 'binary', fn: x.fn, a, b }) - 1;
      }
    }
  };
  visit(e);
  return steps;
}
