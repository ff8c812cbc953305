/**
 * @fileoverview `canonicalize`: the clean-up every later pass may assume. It removes
 * computation that cannot change an output and merges computation done twice, using only
 * rewrites that are exact in floating point, so the reference interpreter's outputs stay
 * bit-identical (in its float32 and its f64 mode alike).
 *
 * Precondition: a valid module (`verify` reports nothing). No other pass is required.
 *
 * Postconditions (each function, `main` and repeat bodies alike):
 * - Exact simplifications are applied (see `RULES`):
 *   - constant folding: `add`/`sub`/`mul`/`div`/`maximum`/`minimum` of two `const`s and
 *     `neg` of a `const` become one `const`, when the operands are exactly representable in
 *     their dtype and the result is not NaN (see `foldable`);
 *   - `x * 1`, `1 * x` and `x / 1` become `x`; `x + 0` stays (it turns -0 into +0);
 *   - a `reshape` of a `reshape` becomes one `reshape`; a `reshape` to the operand's own
 *     shape is removed;
 *   - a `transpose` of a `transpose` becomes one with the composed permutation, removed
 *     when that is the identity;
 *   - a `slice` with start 0, step 1 and end null or the axis size is removed;
 *   - a `cast` to the operand's own dtype is removed.
 * - No two nodes have the same op, the same operands (the same `Value`s) and equal
 *   attributes (common subexpressions are merged into the first; this includes `weight`
 *   nodes reading the same weight and equal `const`s). Functions are never merged across.
 * - Every node contributes to a function result (dead nodes are removed, including
 *   `repeat`s whose results are unused), and a function that was a repeat body and is no
 *   longer repeated anywhere is removed from the module.
 * - Unchanged: weight and dim declarations (an unused weight stays declared: the
 *   declarations are the checkpoint's contract), every function's params and result names,
 *   the names of all values that remain, and the order of the nodes that remain. A
 *   rewritten node keeps its output value's name, so the pass introduces no new names and
 *   its output prints deterministically.
 * - Idempotent: running it on its own output changes nothing.
 *
 * Each function is simplified in one walk in definition order: a node's operands are
 * already in final form when it is visited, so rewrites that look through an operand
 * (reshape of reshape) see canonical operands, and one walk reaches the fixed point.
 */
import { shapeEq } from '../../ir/dims.ts';
import type { Attrs, Func, Module, Node, Value } from '../../ir/graph/graph.ts';
import { roundToBf16, roundToF16 } from '../../ir/float16.ts';
import { inferOp } from '../../ir/graph/ops.ts';
import { sameQuant } from '../../ir/quant-type.ts';
import { printAttrs, printNode, printType } from '../../ir/graph/print.ts';
import type { DType, TensorType } from '../../ir/types.ts';
import { cloneModule } from './clone.ts';
import type { GraphPass } from './pass.ts';

export const canonicalize: GraphPass = {
  name: 'canonicalize',
  level: 'graph',
  summary: 'Folds constants, applies exact algebraic identities, merges common subexpressions and removes dead nodes.',
  requires: [],
  run: (m) => canonicalizeModule(m),
};

/** The pass itself: a rewritten copy of `m` (which is left untouched). */
export function canonicalizeModule(m: Module): Module {
  const out = cloneModule(m);
  for (const f of out.funcs) simplifyFunc(out, f);
  for (const f of out.funcs) removeDeadNodes(f);
  out.funcs = withoutUnusedBodies(out.funcs, repeatBodies(m.funcs));
  return out;
}

// ---------------------------------------------------------------------------------------
// The walk: rewrites and common-subexpression elimination.

/** What the walk knows about the function so far, for rules that look at operands. */
interface WalkState {
  module: Module;
  /** The node that defines each value of the new body (params are absent). */
  defs: Map<Value, Node>;
}

/**
 * Rewrites `f` in place (it is the pass's private copy). Each node, with its operands
 * already substituted, is simplified, then merged into an equal earlier node if there is
 * one; a node that is replaced or merged leaves the body and its outputs are substituted
 * in every later use and in the results.
 */
function simplifyFunc(m: Module, f: Func): void {
  const subst = new Map<Value, Value>();
  const state: WalkState = { module: m, defs: new Map() };
  const cse = new CseTable();
  const body: Node[] = [];
  for (const node of f.body) {
    // Replacements are always final values (an operand or an output kept in `body`), so one lookup suffices.
    node.inputs = node.inputs.map((v) => subst.get(v) ?? v);
    const replacement = simplifyNode(node, state);
    if (replacement) {
      subst.set(node.outputs[0], replacement);
      continue;
    }
    const prior = cse.lookupOrAdd(node);
    if (prior) {
      node.outputs.forEach((v, i) => subst.set(v, prior.outputs[i]));
      continue;
    }
    body.push(node);
    for (const v of node.outputs) state.defs.set(v, node);
  }
  f.body = body;
  f.results = f.results.map((r) => ({ name: r.name, value: subst.get(r.value) ?? r.value }));
}

/**
 * Nodes by a key of op, operand identities and printed attributes. `printAttrs` is the
 * canonical text form, so it equates exactly the attribute sets that print alike: sorted
 * keys, numbers in round-tripping form (`-0` distinct from `0`), dims canonical.
 */
class CseTable {
  private readonly ids = new Map<Value, number>();
  private readonly nodes = new Map<string, Node>();

  /** The earlier node equal to `node`, or undefined after recording `node` as the first. */
  lookupOrAdd(node: Node): Node | undefined {
    const key = `${node.op}(${node.inputs.map((v) => this.id(v)).join(',')})${printAttrs(node.attrs)}`;
    const prior = this.nodes.get(key);
    if (prior) return prior;
    this.nodes.set(key, node);
    return undefined;
  }

  private id(v: Value): number {
    let id = this.ids.get(v);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(v, id);
    }
    return id;
  }
}

// ---------------------------------------------------------------------------------------
// Rewrite rules.

/** A rule's verdict: use an existing value instead of the node, or rebuild the node. */
type Rewrite = { replaceWith: Value } | { op: string; inputs: Value[]; attrs: Attrs };

/** A rule looks at one node (operands already final) and may propose a rewrite. */
type Rule = (node: Node, state: WalkState) => Rewrite | undefined;

/**
 * Applies the rules to `node` until none fires. Returns the value that replaces the
 * node's single output, or undefined when the node stays (possibly rebuilt in place,
 * keeping its output value and so its name).
 */
function simplifyNode(node: Node, state: WalkState): Value | undefined {
  for (;;) {
    const rewrite = firstRewrite(node, state);
    if (!rewrite) return undefined;
    if ('replaceWith' in rewrite) {
      assertSameType(node, rewrite.replaceWith.type, node.outputs[0].type);
      return rewrite.replaceWith;
    }
    rebuild(node, rewrite, state.module);
  }
}

function firstRewrite(node: Node, state: WalkState): Rewrite | undefined {
  for (const rule of RULES[node.op] ?? []) {
    const r = rule(node, state);
    if (r) return r;
  }
  return undefined;
}

/**
 * Turns `node` into `rewrite`'s op, operands and attributes, re-inferring its type through
 * the op catalogue: a rule that changed the type would be a bug in the rule, not in the
 * user's model, so it throws a plain Error.
 */
function rebuild(node: Node, rewrite: { op: string; inputs: Value[]; attrs: Attrs }, m: Module): void {
  const { attrs, types } = inferOp(rewrite.op, rewrite.inputs.map((v) => v.type), rewrite.attrs, m);
  if (types.length !== 1 || node.outputs.length !== 1) throw new Error(`canonicalize: a rewrite of ${printNode(node)} changed its result count`);
  assertSameType(node, types[0], node.outputs[0].type);
  node.op = rewrite.op;
  node.inputs = rewrite.inputs;
  node.attrs = attrs;
}

function assertSameType(node: Node, got: TensorType, want: TensorType): void {
  if (!sameType(got, want)) throw new Error(`canonicalize: a rewrite of ${printNode(node)} gives ${printType(got)}, not ${printType(want)}`);
}

function sameType(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && sameQuant(a.quant, b.quant) && shapeEq(a.shape, b.shape);
}

/** The rules for each op, tried in order. */
const RULES: Record<string, Rule[]> = {
  add: [foldBinary],
  sub: [foldBinary],
  mul: [foldBinary, mulByOne],
  div: [foldBinary, divByOne],
  maximum: [foldBinary],
  minimum: [foldBinary],
  neg: [foldNeg],
  reshape: [reshapeToSameShape, reshapeOfReshape],
  transpose: [identityTranspose, transposeOfTranspose],
  slice: [fullSlice],
  cast: [castToSameDType],
};

// --- constant folding ---------------------------------------------------------------------

/**
 * Each binary op as the interpreter computes it (`binaryRow` in `ir/graph/interp-kernels.ts`):
 * in float64 on the stored operands, rounded once when stored. `Math.max`/`Math.min`
 * propagate NaN and order -0 below +0, exactly as the kernel does.
 */
const BINARY_FOLDS: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  maximum: (a, b) => Math.max(a, b),
  minimum: (a, b) => Math.min(a, b),
};

/** `a ∘ b` of two constants → one constant. */
function foldBinary(node: Node, state: WalkState): Rewrite | undefined {
  const a = constValue(node.inputs[0], state);
  const b = constValue(node.inputs[1], state);
  if (!a || !b) return undefined;
  return foldedConst(a.dtype, [a.value, b.value], BINARY_FOLDS[node.op](a.value, b.value));
}

/** `-c` → one constant. */
function foldNeg(node: Node, state: WalkState): Rewrite | undefined {
  const a = constValue(node.inputs[0], state);
  return a ? foldedConst(a.dtype, [a.value], -a.value) : undefined;
}

function foldedConst(dtype: DType, operands: number[], result: number): Rewrite | undefined {
  if (!foldable(dtype, operands, result)) return undefined;
  return { op: 'const', inputs: [], attrs: { dtype, value: result } };
}

/**
 * Whether folding is exact in every interpreter mode. A `const` node stores its value
 * rounded to its dtype in float32 runs but unrounded in f64 runs, so an operand that its
 * dtype cannot represent exactly has two different values and no single folded constant
 * matches both; when both operands are exact, the unrounded result `r` is right for both
 * (f64 runs keep `r`; float32 runs round `r` once on storing the folded constant, just as
 * they round the op's result). NaN results are left alone: a `const` cannot hold NaN.
 */
function foldable(dtype: DType, operands: number[], result: number): boolean {
  const round = ROUND[dtype];
  return round !== undefined && operands.every((x) => Object.is(round(x), x)) && !Number.isNaN(result);
}

/** Rounding to each float dtype the interpreter supports (fp8 is not, so it never folds). */
const ROUND: Partial<Record<DType, (x: number) => number>> = {
  f32: Math.fround,
  f64: (x) => x,
  f16: roundToF16,
  bf16: roundToBf16,
};

/** The value and dtype of `v` when a `const` node defines it. */
function constValue(v: Value, state: WalkState): { value: number; dtype: DType } | undefined {
  const def = state.defs.get(v);
  if (def?.op !== 'const') return undefined;
  return { value: def.attrs.value as number, dtype: def.attrs.dtype as DType };
}

// --- algebraic identities -----------------------------------------------------------------

/** Whether `v` is a `const` whose value is exactly `x`. */
function isConst(v: Value, x: number, state: WalkState): boolean {
  const c = constValue(v, state);
  return c !== undefined && Object.is(c.value, x);
}

/**
 * `x` as the replacement of `node` when it has the node's type. Broadcasting could make a
 * `mul` by a constant larger than `x`; then `x` is not a replacement and the node stays.
 */
function replaceIfSameType(node: Node, x: Value): Rewrite | undefined {
  return sameType(x.type, node.outputs[0].type) ? { replaceWith: x } : undefined;
}

/** `x * 1` and `1 * x` → `x`: exact for every float, -0, infinities and NaN included. */
function mulByOne(node: Node, state: WalkState): Rewrite | undefined {
  const [a, b] = node.inputs;
  if (isConst(b, 1, state)) return replaceIfSameType(node, a);
  if (isConst(a, 1, state)) return replaceIfSameType(node, b);
  return undefined;
}

/** `x / 1` → `x` (exact). `1 / x` is a reciprocal and stays. */
function divByOne(node: Node, state: WalkState): Rewrite | undefined {
  const [a, b] = node.inputs;
  return isConst(b, 1, state) ? replaceIfSameType(node, a) : undefined;
}

/** `reshape(x)` to the shape `x` already has → `x`. */
function reshapeToSameShape(node: Node): Rewrite | undefined {
  const x = node.inputs[0];
  return shapeEq(x.type.shape, node.outputs[0].type.shape) ? { replaceWith: x } : undefined;
}

/** `reshape(reshape(x))` → `reshape(x)`: both are row-major, so only the last shape matters. */
function reshapeOfReshape(node: Node, state: WalkState): Rewrite | undefined {
  const inner = state.defs.get(node.inputs[0]);
  if (inner?.op !== 'reshape') return undefined;
  return { op: 'reshape', inputs: [inner.inputs[0]], attrs: { shape: node.attrs.shape } };
}

/** A `transpose` whose permutation is the identity → its operand. */
function identityTranspose(node: Node): Rewrite | undefined {
  const perm = node.attrs.perm as number[];
  return perm.every((p, i) => p === i) ? { replaceWith: node.inputs[0] } : undefined;
}

/**
 * `transpose(transpose(x, p1), p2)` → `transpose(x, q)`: out axis i of the outer is axis
 * p2[i] of the inner, which is axis p1[p2[i]] of x, so q[i] = p1[p2[i]]. An identity `q`
 * is then removed by `identityTranspose`.
 */
function transposeOfTranspose(node: Node, state: WalkState): Rewrite | undefined {
  const inner = state.defs.get(node.inputs[0]);
  if (inner?.op !== 'transpose') return undefined;
  const p1 = inner.attrs.perm as number[];
  const p2 = node.attrs.perm as number[];
  return { op: 'transpose', inputs: [inner.inputs[0]], attrs: { perm: p2.map((p) => p1[p]) } };
}

/** `x[0:end:1]` along an axis with `end` null or the axis size → `x`. */
function fullSlice(node: Node): Rewrite | undefined {
  const x = node.inputs[0];
  const { start, end, step, axis } = node.attrs as { start: number; end: number | null; step: number; axis: number };
  const rank = x.type.shape.length;
  const size = x.type.shape[axis < 0 ? axis + rank : axis];
  if (start !== 0 || step !== 1 || (end !== null && end !== size)) return undefined;
  return { replaceWith: x };
}

/** `cast(x)` to the dtype `x` already has → `x`. */
function castToSameDType(node: Node): Rewrite | undefined {
  const x = node.inputs[0];
  return x.type.dtype === node.attrs.dtype ? { replaceWith: x } : undefined;
}

// ---------------------------------------------------------------------------------------
// Dead code.

/**
 * Keeps only the nodes some function result depends on. Every op is pure, so a node whose
 * outputs are all unused (a `repeat` included) can go; a body's params stay, as they are
 * its interface to the `repeat` that calls it.
 */
function removeDeadNodes(f: Func): void {
  const live = new Set<Value>(f.results.map((r) => r.value));
  const kept: Node[] = [];
  for (let i = f.body.length - 1; i >= 0; i--) {
    const node = f.body[i];
    if (!node.outputs.some((v) => live.has(v))) continue;
    kept.push(node);
    for (const v of node.inputs) live.add(v);
  }
  f.body = kept.reverse();
}

/** Names of the functions some `repeat` in `funcs` calls. */
function repeatBodies(funcs: readonly Func[]): Set<string> {
  const names = new Set<string>();
  for (const f of funcs) for (const n of f.body) if (n.op === 'repeat') names.add(n.attrs.body as string);
  return names;
}

/**
 * Drops the functions that were repeat bodies in the input but are no longer repeated by
 * any remaining function. Repeated until stable, since dropping a body can orphan the
 * bodies it repeated. Functions that were never bodies are left alone: the pass only
 * cleans up after itself.
 */
function withoutUnusedBodies(funcs: Func[], wereBodies: Set<string>): Func[] {
  let kept = funcs;
  for (;;) {
    const called = repeatBodies(kept);
    const next = kept.filter((f) => f.name === 'main' || !wereBodies.has(f.name) || called.has(f.name));
    if (next.length === kept.length) return kept;
    kept = next;
  }
}
