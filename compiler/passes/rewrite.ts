/**
 * @fileoverview Small tools for rewriting graph IR in place (on a clone a pass owns): who
 * defines and uses a value, replacing uses, inserting typed nodes, telling weights from
 * activations, and building weight transforms (packing) where the weights live — in
 * `main` for plain weights, or hoisted into the caller for the stacked weights a `repeat`
 * body receives, so packing happens once for all layers, not per iteration.
 */
import { sanitizeName, UniqueNames } from '../../ir/graph/builder.ts';
import { type Dim } from '../../ir/dims.ts';
import { type Attrs, type Func, type Module, type Node, Value, findFunc } from '../../ir/graph/graph.ts';
import { inferOp } from '../../ir/graph/ops.ts';
import { sameQuant, withQuant } from '../../ir/quant-type.ts';

/**
 * Offers each node of `f` whose op is one of `ops` to `rewrite`, in order, skipping nodes an
 * earlier rewrite removed; returns how many it rewrote. The use map is built once, and
 * again only after a rewrite changed the body: a pass that built it (and searched the body)
 * for every candidate was quadratic, minutes for a model of 20,000 additions.
 */
export function rewriteEach(f: Func, ops: readonly string[], rewrite: (n: Node, uses: UseMap) => boolean): number {
  let uses: UseMap | undefined;
  let live: Set<Node> | undefined;
  let count = 0;
  for (const n of [...f.body]) {
    if (!ops.includes(n.op)) continue;
    live ??= new Set(f.body);
    if (!live.has(n)) continue;
    uses ??= new UseMap(f);
    if (!rewrite(n, uses)) continue;
    count++;
    uses = undefined;
    live = undefined;
  }
  return count;
}

/** Uses of each value in a function: nodes that read it, and whether a result returns it. */
export class UseMap {
  private readonly uses = new Map<Value, Node[]>();
  private readonly results = new Set<Value>();
  readonly def = new Map<Value, Node>();

  constructor(readonly func: Func) {
    for (const n of func.body) {
      for (const o of n.outputs) this.def.set(o, n);
      for (const i of n.inputs) {
        const list = this.uses.get(i);
        if (list) list.push(n);
        else this.uses.set(i, [n]);
      }
    }
    for (const r of func.results) this.results.add(r.value);
  }

  usersOf(v: Value): Node[] {
    return this.uses.get(v) ?? [];
  }

  /** Used by exactly these nodes (each possibly several times) and not returned. */
  onlyUsedBy(v: Value, nodes: Node[]): boolean {
    return !this.results.has(v) && this.usersOf(v).every((n) => nodes.includes(n));
  }

  defOf(v: Value): Node | undefined {
    return this.def.get(v);
  }

  /** The defining node if it has the given op. */
  defOp(v: Value, op: string): Node | undefined {
    const n = this.def.get(v);
    return n && n.op === op ? n : undefined;
  }
}

/** Replaces every use of `from` by `to` in a function (operands and results). */
export function replaceUses(f: Func, from: Value, to: Value): void {
  for (const n of f.body) n.inputs = n.inputs.map((v) => (v === from ? to : v));
  for (const r of f.results) if (r.value === from) r.value = to;
}

/** Removes nodes from a function body. */
export function removeNodes(f: Func, nodes: Node[]): void {
  const drop = new Set(nodes);
  f.body = f.body.filter((n) => !drop.has(n));
}

/** Names used by values of a function, to keep new names unique. */
function usedNames(f: Func): UniqueNames {
  const s = new UniqueNames(f.params.map((p) => p.name));
  for (const n of f.body) for (const o of n.outputs) s.add(o.name);
  return s;
}

export function freshName(f: Func, hint: string): string {
  return usedNames(f).take(sanitizeName(hint));
}

/**
 * Builds a typed node (types inferred through the op catalogue) and inserts it into `f`
 * before `at` (or at the end). `names` names its results (each made unique).
 */
export function insertNode(m: Module, f: Func, op: string, inputs: Value[], attrs: Attrs, names: string[], at?: Node): Node {
  const { attrs: full, types } = inferOp(
    op,
    inputs.map((v) => v.type),
    attrs,
    m,
  );
  const node: Node = { op, inputs, attrs: full, outputs: [], span: at?.span };
  const taken = usedNames(f);
  node.outputs = types.map((t, i) => new Value(taken.take(sanitizeName(names[i] ?? names[0] ?? 'v')), t, at?.span));
  const idx = at ? f.body.indexOf(at) : -1;
  if (idx < 0) f.body.push(node);
  else f.body.splice(idx, 0, node);
  return node;
}

/**
 * Reorders `f.body` so every value is defined before its uses, moving as little as possible:
 * nodes keep their order, except that a node's not-yet-placed definitions are placed just
 * before it. For rewrites that insert a node after some of its future users.
 */
export function defineBeforeUse(f: Func): void {
  const defOf = new Map<Value, Node>();
  for (const n of f.body) for (const o of n.outputs) defOf.set(o, n);
  const placed = new Set<Node>();
  const order: Node[] = [];
  const place = (n: Node): void => {
    if (placed.has(n)) return;
    placed.add(n);
    for (const v of n.inputs) {
      const d = defOf.get(v);
      if (d) place(d);
    }
    order.push(n);
  };
  for (const n of f.body) place(n);
  f.body = order;
}

/** The `repeat` node that calls `body`, and the function it is in (one caller per body). */
export function callerOf(m: Module, body: Func): { func: Func; node: Node } | undefined {
  for (const f of m.funcs)
    for (const n of f.body) if (n.op === 'repeat' && n.attrs.body === body.name) return { func: f, node: n };
  return undefined;
}

/**
 * Whether `v` holds weights: the result of a `weight` node, a weight transform of weights,
 * or (in a `repeat` body) a parameter fed with stacked weights (not a stacked input).
 */
/** Weights that can be packed into one (concatenated): the same dtype and quantization. */
export function packable(...ws: Value[]): boolean {
  return ws.every((w) => w.type.dtype === ws[0].type.dtype && sameQuant(w.type.quant, ws[0].type.quant));
}

export function isWeight(m: Module, f: Func, v: Value, uses = new UseMap(f)): boolean {
  const d = uses.defOf(v);
  if (d) return d.op === 'weight' || (['concat', 'reshape', 'transpose', 'slice'].includes(d.op) && d.inputs.every((i) => isWeight(m, f, i, uses)));
  const pi = f.params.indexOf(v);
  if (pi < 0) return false;
  const caller = callerOf(m, f);
  if (!caller) return false;
  const fixed = (caller.node.attrs.carried as number) + (caller.node.attrs.invariant as number);
  // Stacked operands are weights, or per-layer model inputs (a block's `input`, e.g. a KV cache).
  return pi >= fixed && isWeight(m, caller.func, caller.node.inputs[pi]);
}

/**
 * Makes a weight transform of `inputs` (weights of `f`) available in `f`. The transform is
 * built by `build` in the function that owns the weights: directly in `f` when `f` is not
 * a repeat body, else in the caller on the stacked weights (with `lead` extra leading axes,
 * so `build` must use negative axes and prefix reshape shapes with `leadDims`), passed into
 * the repeat as a new stacked operand, and received by `f` as a new parameter.
 */
export function weightTransform(
  m: Module,
  f: Func,
  inputs: Value[],
  hint: string,
  build: (emit: (op: string, ins: Value[], attrs: Attrs) => Value, ins: Value[], leadDims: Dim[]) => Value,
  at?: Node,
): Value {
  const caller = callerOf(m, f);
  const allNodes = inputs.every((v) => f.params.indexOf(v) < 0);
  if (!caller || allNodes) {
    const emit = (op: string, ins: Value[], attrs: Attrs): Value => insertNode(m, f, op, ins, attrs, [hint], at).outputs[0];
    return build(emit, inputs, []);
  }
  const stacked = inputs.map((v) => {
    const pi = f.params.indexOf(v);
    if (pi < 0) throw new Error(`rewrite: ${v.name} is not a parameter of ${f.name}; cannot hoist its transform`);
    return caller.node.inputs[pi];
  });
  const count = caller.node.attrs.count as number;
  const outer = weightTransform(
    m,
    caller.func,
    stacked,
    hint,
    (emit, ins, lead) => build(emit, ins, [...lead, count]),
    caller.node,
  );
  const param = new Value(freshName(f, hint), withQuant(outer.type, outer.type.dtype, outer.type.shape.slice(1)));
  f.params.push(param);
  caller.node.inputs.push(outer);
  return param;
}

/** The function object for a `repeat` node's body. */
export function bodyOf(m: Module, n: Node): Func | undefined {
  return findFunc(m, n.attrs.body as string);
}
