/**
 * @fileoverview Deep copies of graph IR modules, so a pass can copy its input and then edit
 * the copy freely without breaking the rule that a pass never mutates its input.
 *
 * The copy is structural, not a re-validation: every `Value` is replaced by a fresh one,
 * consistently across the whole module, so the value graph (who defines and who uses what)
 * is the same as the original's — including the breakage of an invalid module, which the
 * verifier will then report on the copy just as it would on the original.
 */
import type { Dim } from '../../ir/dims.ts';
import { type AttrValue, type Attrs, type DimDecl, type Func, type Module, type Node, Value, type WeightDecl } from '../../ir/graph/graph.ts';
import type { TensorType } from '../../ir/types.ts';

/**
 * A deep copy of `m`: new funcs, nodes, values, attribute lists, weights and dims. Spans
 * and symbolic `Dim` objects are shared, since both are immutable.
 */
export function cloneModule(m: Module): Module {
  const values = new ValueCopier();
  return {
    name: m.name,
    dims: m.dims.map(cloneDimDecl),
    weights: m.weights.map(cloneWeightDecl),
    funcs: m.funcs.map((f) => cloneFunc(f, values)),
  };
}

/**
 * Maps each original `Value` to its one copy. Shared by all functions of a module, so a
 * value that (wrongly) crosses functions still crosses them in the copy.
 */
class ValueCopier {
  private readonly copies = new Map<Value, Value>();

  copy(v: Value): Value {
    // Anything that is not a Value (a corrupted module) is kept as is for the verifier to report.
    if (!(v instanceof Value)) return v;
    let c = this.copies.get(v);
    if (!c) {
      c = new Value(v.name, cloneType(v.type), v.span);
      this.copies.set(v, c);
    }
    return c;
  }
}

function cloneFunc(f: Func, values: ValueCopier): Func {
  return {
    name: f.name,
    params: f.params.map((p) => values.copy(p)),
    body: f.body.map((n) => cloneNode(n, values)),
    results: f.results.map((r) => ({ name: r.name, value: values.copy(r.value) })),
    span: f.span,
  };
}

function cloneNode(n: Node, values: ValueCopier): Node {
  return {
    op: n.op,
    inputs: n.inputs.map((v) => values.copy(v)),
    attrs: cloneAttrs(n.attrs),
    outputs: n.outputs.map((v) => values.copy(v)),
    span: n.span,
  };
}

/** A copy of a node's attributes (lists copied; numbers, strings and `Dim`s are immutable). */
export function cloneAttrs(attrs: Attrs): Attrs {
  const out: Attrs = {};
  for (const [k, v] of Object.entries(attrs)) out[k] = cloneAttrValue(v);
  return out;
}

function cloneAttrValue(v: AttrValue): AttrValue {
  return Array.isArray(v) ? v.map(cloneAttrValue) : v;
}

export function cloneType(t: TensorType): TensorType {
  // A corrupted value may lack a type; the copy keeps it missing rather than crashing here.
  if (!t) return t;
  const copy: TensorType = { dtype: t.dtype, shape: [...t.shape] as Dim[] };
  if (t.quant) copy.quant = { ...t.quant };
  return copy;
}

function cloneDimDecl(d: DimDecl): DimDecl {
  return { ...d };
}

function cloneWeightDecl(w: WeightDecl): WeightDecl {
  const copy: WeightDecl = { name: w.name, type: cloneType(w.type), span: w.span };
  if (w.source) copy.source = { pattern: w.source.pattern, axes: w.source.axes.map((a) => ({ ...a })) };
  return copy;
}
