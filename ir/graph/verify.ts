/**
 * @fileoverview The graph-IR verifier: checks that a module is well formed, so a pass that
 * breaks the IR is caught right after it runs (tests verify around every pass), and so IR
 * text read by `parse.ts` is held to the same rules as IR built in memory.
 *
 * Invariants, in the order they are checked (test/verify.test.ts is grouped by number):
 *
 *  1. Exactly one function is named `main`; function, weight and dim names are unique; a
 *     dim is named by a (dotted) identifier other than true, false, null, Infinity and NaN,
 *     so sizes print and parse as expressions; a dim's `max`, when given, is a positive
 *     whole number.
 *  2. Every value is defined exactly once — as a parameter or as one output of one node,
 *     in one function — and its name is unique within its function.
 *  3. Every operand and function result refers to a value defined in the SAME function,
 *     and an operand to one defined EARLIER (a parameter or an output of an earlier node).
 *     Use before definition, a value of another function and a dangling reference (a
 *     value no parameter or node defines, say of a removed node) each get their own
 *     message.
 *  4. Every op is in the catalogue, has an allowed number of operands, carries every
 *     attribute of its op (defaults included: the printed form is canonical) with the
 *     right kinds, and re-inferring its result types gives exactly the recorded dtypes
 *     and shapes.
 *  5. A `weight` node names a weight of the module; a `repeat` body is a function of the
 *     module other than `main`, and repeat bodies never form a cycle.
 *  6. Every symbolic size in any type (weights, parameters, node outputs) is a declared dim;
 *     weights have none (their sizes are constants).
 *  7. A weight's source has no more placeholder axes than the weight has dimensions, with
 *     distinct names and whole, non-negative starts; each axis appears in the pattern as
 *     `{name}`, and every `{name}` in the pattern has an axis.
 *  8. A node has as many output values as its op gives results.
 *  9. Quantized types (`quant-type.ts`) are well formed: a quantized dtype with an allowed
 *     group, the reduction axis within the rank, an even last axis for i4; `main` takes no
 *     quantized inputs. Where quantized values may flow (GEMM weights, weight packing) is
 *     checked by inference (invariant 4), whose errors are E311.
 *
 * All findings are E402 diagnostics that name the function, show the offending node as
 * printed, carry its span (into `.moe` or IR text) when it has one, and say what was
 * expected. Problems are reported, not thrown: a value that is missing, misplaced or from
 * another function, an unknown op or attribute, or a wrong type each become a diagnostic.
 */
import { type Diagnostic, MoecError, didYouMean } from '../diagnostics.ts';
import type { Span } from '../source.ts';
import { DimError, dimSymbols, isSym, shapeEq } from '../dims.ts';
import { type Func, type Module, type Node, Value, placeholdersOf } from './graph.ts';
import { OpError, checkArity, getOp, opNames, resolveAttrs } from './ops.ts';
import { BARE_NAME, printAttrValue, printNode, printType } from './print.ts';
import { quantTypeProblem, sameQuant } from '../quant-type.ts';
import type { TensorType } from '../types.ts';

/** Every violated invariant of the module, as E402 diagnostics; empty when it is valid. */
export function verify(m: Module): Diagnostic[] {
  const out: Diagnostic[] = [];
  const report = (message: string, span?: Span, hint?: string): void => {
    out.push({ code: 'E402', message, span, hint });
  };
  checkNames(m, report);
  const owners = valueOwners(m, report);
  for (const f of m.funcs) {
    const defs = checkDefinitions(f, report);
    checkUses(f, defs, owners, report);
    const inferred = new Map<Value, TensorType>();
    f.body.forEach((n) => checkNode(m, f, n, inferred, report));
  }
  checkCallGraph(m, report);
  checkDims(m, report);
  checkWeightSources(m, report);
  checkQuantTypes(m, report);
  return out;
}

/**
 * Throws a `MoecError` with every E402 diagnostic when the module is invalid. `stage`
 * (e.g. `after fuse`) prefixes each message, so a pass that breaks the IR is named.
 */
export function verifyOrThrow(m: Module, stage?: string): void {
  const problems = verify(m);
  if (problems.length === 0) return;
  throw new MoecError(stage ? problems.map((d) => ({ ...d, message: `${stage}: ${d.message}` })) : problems);
}

/** Words the IR text reads as attribute values, so they cannot name a size. */
const RESERVED_DIM_NAMES = new Set(['true', 'false', 'null', 'Infinity', 'NaN']);

type Report = (message: string, span?: Span, hint?: string) => void;

/** A node as printed, for messages; a node too corrupted to print shows as `op(...)`. */
function show(n: Node): string {
  try {
    return printNode(n);
  } catch {
    return `${String(n.op)}(...)`;
  }
}

function at(f: Func, n: Node): string {
  return `in func ${f.name}: ${show(n)}`;
}

// ---------------------------------------------------------------------------------------
// 1. Module-level names.

function checkNames(m: Module, report: Report): void {
  const mains = m.funcs.filter((f) => f.name === 'main');
  if (mains.length === 0) report(`module ${m.name} has no function named main`, undefined, 'the entry function must be called main');
  if (mains.length > 1) report(`module ${m.name} has ${mains.length} functions named main`, mains[1].span, 'exactly one function is the entry');
  const unique = (kind: string, items: ReadonlyArray<{ name: string; span?: Span }>, skip?: string): void => {
    const seen = new Set<string>();
    for (const it of items) {
      if (seen.has(it.name) && it.name !== skip) report(`${kind} ${it.name} is declared twice`, it.span, `${kind} names must be unique`);
      seen.add(it.name);
    }
  };
  unique('function', m.funcs, 'main');
  unique('weight', m.weights);
  unique('dim', m.dims);
  for (const d of m.dims) {
    if (!BARE_NAME.test(d.name) || RESERVED_DIM_NAMES.has(d.name))
      report(`dim ${JSON.stringify(d.name)} is not a valid size name`, d.span, 'dims are named by identifiers such as T or seq_len');
    if (d.max !== undefined && !(Number.isInteger(d.max) && d.max > 0))
      report(`dim ${d.name} has max ${d.max}`, d.span, 'a dim bound is a positive whole number');
  }
}

// ---------------------------------------------------------------------------------------
// 2. Definitions.

/** Which function defines each value; a value defined in two functions is reported. */
function valueOwners(m: Module, report: Report): Map<Value, string> {
  const owners = new Map<Value, string>();
  for (const f of m.funcs)
    for (const v of definedValues(f)) {
      const other = owners.get(v);
      if (other !== undefined && other !== f.name)
        report(`%${v.name} is defined in both func ${other} and func ${f.name}`, v.span, 'each function defines its own values; create a new Value');
      else owners.set(v, f.name);
    }
  return owners;
}

function definedValues(f: Func): Value[] {
  return [...f.params, ...f.body.flatMap((n) => n.outputs)].filter((v) => v instanceof Value);
}

/** Position of each value's definition: -1 for a parameter, else the index of its node. */
function checkDefinitions(f: Func, report: Report): Map<Value, number> {
  const defs = new Map<Value, number>();
  const byName = new Map<string, Value>();
  const define = (v: Value, index: number, where: string, span?: Span): void => {
    if (!(v instanceof Value)) return report(`${where}: an output is not a Value`, span);
    const prev = defs.get(v);
    if (prev !== undefined) {
      const first = prev < 0 ? 'a parameter' : `an output of ${show(f.body[prev])}`;
      report(`${where}: %${v.name} is defined twice (it is already ${first})`, span ?? v.span, 'every value is defined once; create a new Value');
      return;
    }
    defs.set(v, index);
    const named = byName.get(v.name);
    if (named) report(`${where}: two values are named %${v.name}`, span ?? v.span, 'value names are unique within a function; rename one');
    else byName.set(v.name, v);
  };
  f.params.forEach((p) => define(p, -1, `in func ${f.name}: parameter %${p?.name}`, p?.span));
  f.body.forEach((n, i) => n.outputs.forEach((v) => define(v, i, at(f, n), n.span)));
  return defs;
}

// ---------------------------------------------------------------------------------------
// 3. Uses.

function checkUses(f: Func, defs: Map<Value, number>, owners: Map<Value, string>, report: Report): void {
  f.body.forEach((n, i) =>
    n.inputs.forEach((v, k) => {
      const where = at(f, n);
      if (!(v instanceof Value)) return report(`${where}: operand ${k + 1} is not a Value`, n.span);
      const d = defs.get(v);
      if (d === undefined) return reportUndefined(f, v, owners, where, n.span, report);
      if (d === i) report(`${where}: %${v.name} is an operand of the node that defines it`, n.span, 'a node cannot use its own result');
      else if (d > i)
        report(`${where}: %${v.name} is used before its definition by ${show(f.body[d])}`, n.span, 'nodes must come after the nodes that define their operands');
    }),
  );
  for (const r of f.results) {
    const where = `in func ${f.name}: return ${r.name} = %${r.value?.name}`;
    if (!(r.value instanceof Value)) report(`${where}: the result is not a Value`, f.span);
    else if (!defs.has(r.value)) reportUndefined(f, r.value, owners, where, f.span, report);
  }
}

function reportUndefined(f: Func, v: Value, owners: Map<Value, string>, where: string, span: Span | undefined, report: Report): void {
  const owner = owners.get(v);
  if (owner !== undefined)
    report(`${where}: %${v.name} belongs to func ${owner}, not func ${f.name}`, span, 'values cannot cross functions; pass it in as a parameter or a repeat operand');
  else
    report(
      `${where}: %${v.name} is a dangling reference: no parameter or node of func ${f.name} defines it`,
      span,
      'was the node that defined it removed? replace its uses first',
    );
}

// ---------------------------------------------------------------------------------------
// 4, 5 and 8. Ops, attributes, references to the module, and types.

/**
 * Checks one node. Operand types come from `inferred` where an earlier node's types were
 * re-inferred, so one wrong recorded type is reported once, not again at every use.
 */
function checkNode(m: Module, f: Func, n: Node, inferred: Map<Value, TensorType>, report: Report): void {
  const where = at(f, n);
  const spec = getOp(n.op);
  if (!spec) return report(`${where}: unknown op '${n.op}'`, n.span, didYouMean(n.op, opNames()) ?? 'see the op catalogue in ir/graph/ops.ts');
  let attrs;
  try {
    checkArity(spec, n.inputs.length);
    attrs = resolveAttrs(spec, n.attrs);
  } catch (e) {
    if (e instanceof OpError) return report(`${where}: ${e.message}`, n.span, e.hint);
    throw e;
  }
  for (const key of Object.keys(attrs))
    if (!Object.hasOwn(n.attrs, key))
      report(`${where}: attribute '${key}' is not recorded`, n.span, `nodes carry every attribute; add ${key}=${printAttrValue(attrs[key])} (its default)`);
  if (!checkModuleRefs(m, where, n, report)) return;
  if (!n.inputs.every((v) => v instanceof Value)) return; // reported under invariant 3
  let types: TensorType[];
  try {
    types = spec.infer({ op: n.op, inputs: n.inputs.map((v) => inferred.get(v) ?? v.type), attrs, module: m });
  } catch (e) {
    if (e instanceof OpError || e instanceof DimError) return report(`${where}: ${e.message}`, n.span, e instanceof OpError ? e.hint : undefined);
    throw e;
  }
  if (types.length !== n.outputs.length)
    return report(`${where}: ${n.op} gives ${types.length} result${types.length === 1 ? '' : 's'} but the node has ${n.outputs.length} output value${n.outputs.length === 1 ? '' : 's'}`, n.span, 'give the node one output value per result');
  types.forEach((want, k) => {
    if (n.outputs[k] instanceof Value) inferred.set(n.outputs[k], want);
    const got = n.outputs[k]?.type;
    if (got && (got.dtype !== want.dtype || !sameQuant(got.quant, want.quant) || !shapeEq(got.shape, want.shape)))
      report(`${where}: %${n.outputs[k].name} is recorded as ${printType(got)} but ${n.op} gives ${printType(want)}`, n.span, `the recorded type must be ${printType(want)}`);
  });
}

/** Invariant 5 for one node; false when inference cannot run because the target is missing. */
function checkModuleRefs(m: Module, where: string, n: Node, report: Report): boolean {
  if (n.op === 'weight') {
    const name = String(n.attrs.name);
    if (m.weights.some((w) => w.name === name)) return true;
    report(`${where}: no weight named '${name}' in the module`, n.span, didYouMean(name, m.weights.map((w) => w.name)) ?? 'declare the weight in the module');
    return false;
  }
  if (n.op === 'repeat') {
    const body = String(n.attrs.body);
    if (body === 'main') report(`${where}: main cannot be a repeat body`, n.span, 'main is the entry; repeat another function');
    if (m.funcs.some((g) => g.name === body)) return true;
    report(`${where}: the repeat body '${body}' is not a function of the module`, n.span, didYouMean(body, m.funcs.map((g) => g.name)) ?? 'add the body function to the module');
    return false;
  }
  return true;
}

/** Invariant 5: repeat bodies form no cycle (each cycle is reported once). */
function checkCallGraph(m: Module, report: Report): void {
  const calls = new Map<string, Array<{ body: string; node: Node }>>();
  for (const f of m.funcs)
    calls.set(
      f.name,
      f.body.filter((n) => n.op === 'repeat' && typeof n.attrs.body === 'string').map((n) => ({ body: n.attrs.body as string, node: n })),
    );
  const done = new Set<string>();
  const stack: string[] = [];
  const visit = (name: string): void => {
    stack.push(name);
    for (const { body, node } of calls.get(name) ?? []) {
      const onStack = stack.indexOf(body);
      if (onStack >= 0) {
        const cycle = [...stack.slice(onStack), body].join(' -> ');
        report(`in func ${name}: ${show(node)}: repeat bodies form a cycle: ${cycle}`, node.span, 'a function cannot repeat itself, directly or through other bodies');
      } else if (!done.has(body) && calls.has(body)) visit(body);
    }
    stack.pop();
    done.add(name);
  };
  for (const f of m.funcs) if (!done.has(f.name)) visit(f.name);
}

// ---------------------------------------------------------------------------------------
// 6. Symbolic sizes.

function checkDims(m: Module, report: Report): void {
  const declared = new Set(m.dims.map((d) => d.name));
  const reported = new Set<string>();
  const check = (type: TensorType | undefined, where: string, span?: Span): void => {
    for (const d of type?.shape ?? [])
      for (const s of dimSymbols(d))
        if (!declared.has(s) && !reported.has(s)) {
          reported.add(s);
          report(`${where} has type ${printType(type!)}, which uses the size ${s}, but no dim ${s} is declared`, span, `declare it (dim ${s} <= max) or use a declared size`);
        }
  };
  for (const w of m.weights) {
    check(w.type, `weight ${w.name}`, w.span);
    // Weights are packed and loaded before any input is seen: no size of theirs can vary.
    if (w.type.shape.some(isSym)) report(`weight ${w.name} has type ${printType(w.type)}, but a weight's sizes must be constants`, w.span);
  }
  for (const f of m.funcs) {
    f.params.forEach((p) => check(p?.type, `in func ${f.name}: parameter %${p?.name}`, p?.span));
    f.body.forEach((n) => n.outputs.forEach((v) => check(v?.type, `${at(f, n)}: %${v?.name}`, n.span)));
  }
}

// ---------------------------------------------------------------------------------------
// 7. Weight sources.

function checkWeightSources(m: Module, report: Report): void {
  for (const w of m.weights) {
    const src = w.source;
    if (!src) continue;
    const where = `weight ${w.name} from ${JSON.stringify(src.pattern)}`;
    const rank = w.type.shape.length;
    if (src.axes.length > rank)
      report(`${where}: ${src.axes.length} placeholder axes but the weight has only ${rank} dimension${rank === 1 ? '' : 's'}`, w.span, 'each axis indexes one leading dimension of the weight');
    const names = new Set<string>();
    for (const a of src.axes) {
      if (names.has(a.name)) report(`${where}: the axis {${a.name}} is given twice`, w.span, 'each placeholder indexes one axis');
      names.add(a.name);
      if (!placeholdersOf(src.pattern).some((x) => x.placeholder?.name === a.name))
        report(`${where}: the axis ${a.name} does not appear in the pattern as {${a.name}}`, w.span, `put {${a.name}} where the index goes in the checkpoint name`);
      if (!(Number.isInteger(a.start) && a.start >= 0))
        report(`${where}: the axis ${a.name} starts at ${a.start}`, w.span, 'an axis start is a whole number >= 0');
    }
    const placeholders = new Set(placeholdersOf(src.pattern).map((x) => x.placeholder?.name ?? x.text));
    for (const name of placeholders)
      if (!names.has(name)) report(`${where}: the placeholder {${name}} has no axis`, w.span, `add an axis ${name}=start, or remove {${name}} from the pattern`);
  }
}

// ---------------------------------------------------------------------------------------
// 9. Quantized types.

function checkQuantTypes(m: Module, report: Report): void {
  const check = (type: TensorType | undefined, where: string, span?: Span): void => {
    const bad = type && quantTypeProblem(type);
    if (bad) report(`${where} has type ${printType(type!)}: ${bad.message}`, span, bad.hint);
  };
  for (const w of m.weights) check(w.type, `weight ${w.name}`, w.span);
  for (const f of m.funcs) {
    f.params.forEach((p) => {
      check(p?.type, `in func ${f.name}: parameter %${p?.name}`, p?.span);
      if (f.name === 'main' && p?.type.quant)
        report(`in func main: the input %${p.name} is quantized (${printType(p.type)})`, p.span, 'model inputs are activations; only weights are quantized');
    });
    f.body.forEach((n) => n.outputs.forEach((v) => check(v?.type, `${at(f, n)}: %${v?.name}`, n.span)));
  }
}
