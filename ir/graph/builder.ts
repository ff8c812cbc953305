/**
 * @fileoverview Building functions of the graph IR: one place that gives values unique
 * names and infers every node's result types through the op catalogue, so anything a
 * builder produces is well typed by construction (the verifier re-checks it).
 */
import type { Span } from '../source.ts';
import type { Attrs, Func, Module, Node } from './graph.ts';
import { Value } from './graph.ts';
import { getOp, inferOp } from './ops.ts';
import type { TensorType } from '../types.ts';

/** Value names are identifiers with optional dotted parts (`top.values`), or numbers. */
export function sanitizeName(hint: string): string {
  const s = hint.replace(/[^A-Za-z0-9_.]/g, '_').replace(/^\.+|\.+$/g, '');
  return s === '' ? 'v' : s;
}

/**
 * A set of names that hands out unused ones: a hint's base itself if free, else the first
 * free `base_1`, `base_2`, ... Per base it remembers where the last search ended, since
 * every suffix below it is taken: rebinding one name n times costs O(n), not O(n^2) (50k
 * rebinds of `h` probed `h_1 ... h_49999` each time: minutes). The names are those the
 * plain search from `_1` would give.
 */
export class UniqueNames {
  private readonly used: Set<string>;
  /** Per base: every `base_i` with 0 < i < this is taken. */
  private readonly nextSuffix = new Map<string, number>();

  constructor(used: Iterable<string> = []) {
    this.used = new Set(used);
  }

  has(name: string): boolean {
    return this.used.has(name);
  }

  /** Takes `base` or the first free `base_i`. `base` is used as given (sanitize it first). */
  take(base: string): string {
    let name = base;
    if (this.used.has(name)) {
      let i = this.nextSuffix.get(base) ?? 1;
      while (this.used.has((name = `${base}_${i}`))) i++;
      this.nextSuffix.set(base, i + 1);
    }
    this.used.add(name);
    return name;
  }

  add(name: string): void {
    this.used.add(name);
  }

  /** Frees a name; a freed `base_i` lowers its base's search start so that it is found again. */
  delete(name: string): void {
    this.used.delete(name);
    const m = /^(.*)_(\d+)$/.exec(name);
    if (m && (this.nextSuffix.get(m[1]) ?? 1) > Number(m[2])) this.nextSuffix.set(m[1], Number(m[2]));
  }
}

export class FuncBuilder {
  readonly func: Func;
  private readonly used = new UniqueNames();
  private counter = 0;

  constructor(
    name: string,
    /** The module the function belongs to (for `weight` and `repeat` inference). */
    readonly module: Module,
    span?: Span,
  ) {
    this.func = { name, params: [], body: [], results: [], span };
  }

  /** A fresh unique name from a hint (`h`, `h_1`, ...) or a number when there is no hint. */
  fresh(hint?: string): string {
    if (hint === undefined || hint === '') {
      while (this.used.has(String(this.counter))) this.counter++;
      const n = String(this.counter++);
      this.used.add(n);
      return n;
    }
    return this.used.take(sanitizeName(hint));
  }

  /** Gives an unnamed (numbered) value a readable name; named values keep theirs. */
  nameValue(v: Value, hint: string): void {
    if (!/^\d+$/.test(v.name)) return;
    this.used.delete(v.name);
    v.name = this.fresh(hint);
  }

  param(hint: string, type: TensorType, span?: Span): Value {
    const v = new Value(this.fresh(hint), type, span);
    this.func.params.push(v);
    return v;
  }

  /**
   * Appends a node, inferring its result types; throws `OpError` when the operands do not
   * fit. `hint` names the results: one name for single-result ops, or a prefix joined to
   * each result name (`top` → `top.values`, `top.indices`).
   */
  add(op: string, inputs: Value[], attrs: Attrs = {}, span?: Span, hint?: string): Value[] {
    const { attrs: full, types } = inferOp(
      op,
      inputs.map((v) => v.type),
      attrs,
      this.module,
    );
    const spec = getOp(op)!;
    const names = types.length === 1 ? [hint] : types.map((_, i) => (hint === undefined ? undefined : `${hint}.${spec.results[i] ?? i}`));
    const outputs = types.map((ty, i) => new Value(this.fresh(names[i]), ty, span));
    const node: Node = { op, inputs, attrs: full, outputs, span };
    this.func.body.push(node);
    return outputs;
  }

  /** Single-result shorthand for `add`. */
  add1(op: string, inputs: Value[], attrs: Attrs = {}, span?: Span, hint?: string): Value {
    return this.add(op, inputs, attrs, span, hint)[0];
  }

  result(name: string, value: Value): void {
    this.func.results.push({ name, value });
  }
}
