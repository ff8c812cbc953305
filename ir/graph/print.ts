/**
 * @fileoverview The canonical text form of the graph IR, for dumps between passes, pass
 * tests written as before/expected text, and golden files. `parse.ts` reads it back, and
 * `printIR(parseIR(printIR(m))) === printIR(m)` holds for every valid module.
 *
 * Format (one declaration or node per line, a blank line before each function, a trailing
 * newline):
 *
 *     moec.ir 1
 *     model tiny
 *     dim T <= 64
 *     weight router: f32[4, 8] from "mlp.gate.weight"
 *     weight moe.w_gate: f32[58, 256, 2048, 7168] from "model.layers.{i}.mlp.experts.{e}.gate_proj.weight" axes(i=3, e=0)
 *
 *     func moe_layer(%x: f32[T, 8], %norm: f32[8]) {
 *       %h = rmsnorm(%x, %norm) {eps=0.000001} : f32[T, 8]
 *       return r0 = %h
 *     }
 *
 * - Header: `moec.ir 1` (the format version), then `model NAME`.
 * - Declarations, in module order: every `dim` (with `<= max` when it has one), then every
 *   `weight` (`from "pattern"` when it has a source, `axes(name=start, ...)` when the
 *   source has placeholder axes, in axis order).
 * - Functions, in module order. A node is `%out, ... = op(%in, ...) {attrs} : types`;
 *   `{attrs}` is left out when the node has none, and a node without outputs (a `repeat`
 *   carrying nothing) is just `op(...) {attrs}`. The body ends with
 *   `return name = %value, ...` (a bare `return` when the function has no results).
 * - Attributes: all of them (nodes carry their defaults), sorted by key. Values: numbers
 *   as JavaScript's shortest round-tripping form (`0.000001`, `1e-7`, `-7.5`, plus `-0`,
 *   `Infinity`, `-Infinity`, `NaN`), strings JSON-escaped, `true`/`false`/`null`, lists
 *   `[1, 0]`, symbolic sizes as dim expressions (`[T, 8, 2*T+1]`).
 * - Types: `dtype[d0, d1, ...]` with dims in the canonical form of `dimToString`; a
 *   scalar is `f32[]`; a quantized weight has its group (and its reduction axis unless
 *   it is -1) after the dtype: `i4(group=32)[4, 16, 8]`, `i8(group=channel, axis=-2)[..]`.
 * - Names: a value is `%` plus its name when that is made of letters, digits, `_` and
 *   `.` (`%0`, `%top.values`); model, dim, weight, function and result names are bare
 *   when they are dotted identifiers (`moe.w_gate`). Any other name is written as a JSON
 *   string (`%"a b"`, `func "my-func"`), so every name survives the round trip.
 */
import { dimToString, isSym } from '../dims.ts';
import type { AttrValue, Attrs, DimDecl, Func, Module, Node, Value, WeightDecl } from './graph.ts';
import { dtypeText } from '../quant-type.ts';
import type { TensorType } from '../types.ts';

/** The format version written on the first line; the parser refuses any other. */
export const IR_VERSION = 1;

/** Dotted identifiers print bare; `parse.ts` lexes exactly these as one name token. */
export const BARE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;
/** Value names print bare after `%` when they use only these characters. */
export const BARE_VALUE_NAME = /^[A-Za-z0-9_.]+$/;

/** The canonical text of a whole module. */
export function printIR(m: Module): string {
  const lines = [`moec.ir ${IR_VERSION}`, `model ${printName(m.name)}`];
  for (const d of m.dims) lines.push(printDimDecl(d));
  for (const w of m.weights) lines.push(printWeightDecl(w));
  for (const f of m.funcs) lines.push('', ...printFuncLines(f));
  return lines.join('\n') + '\n';
}

/** One function, with its closing brace, without a trailing newline. */
export function printFunc(f: Func): string {
  return printFuncLines(f).join('\n');
}

function printFuncLines(f: Func): string[] {
  const params = f.params.map((p) => `${printValue(p)}: ${printType(p.type)}`).join(', ');
  const results = f.results.map((r) => `${printName(r.name)} = ${printValue(r.value)}`).join(', ');
  return [
    `func ${printName(f.name)}(${params}) {`,
    ...f.body.map((n) => `  ${printNode(n)}`),
    `  return${results === '' ? '' : ` ${results}`}`,
    '}',
  ];
}

/** `dim T <= 64` */
export function printDimDecl(d: DimDecl): string {
  return `dim ${printName(d.name)}${d.max === undefined ? '' : ` <= ${printNumber(d.max)}`}`;
}

/** `weight name: type from "pattern" axes(i=3, e=0)` */
export function printWeightDecl(w: WeightDecl): string {
  let s = `weight ${printName(w.name)}: ${printType(w.type)}`;
  if (w.source) {
    s += ` from ${JSON.stringify(w.source.pattern)}`;
    if (w.source.axes.length > 0)
      s += ` axes(${w.source.axes.map((a) => `${printName(a.name)}=${printNumber(a.start)}`).join(', ')})`;
  }
  return s;
}

/** One node as it appears in a function body (also used by the verifier's messages). */
export function printNode(n: Node): string {
  const outs = n.outputs.map(printValue).join(', ');
  const call = `${n.op}(${n.inputs.map(printValue).join(', ')})${printAttrs(n.attrs)}`;
  if (n.outputs.length === 0) return call;
  return `${outs} = ${call} : ${n.outputs.map((v) => printType(v.type)).join(', ')}`;
}

/** ` {a=1, b="x"}` with keys sorted, or `''` when there are none. */
export function printAttrs(attrs: Attrs): string {
  const keys = Object.keys(attrs).sort();
  if (keys.length === 0) return '';
  return ` {${keys.map((k) => `${printName(k)}=${printAttrValue(attrs[k])}`).join(', ')}}`;
}

/** An attribute value: number, string, bool, null, symbolic size or list of those. */
export function printAttrValue(v: AttrValue): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return printNumber(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(printAttrValue).join(', ')}]`;
  return dimToString(v);
}

/**
 * A number that parses back to the identical double. `String` already gives the shortest
 * round-tripping digits; only `-0` needs help, since `String(-0)` is `"0"`.
 */
export function printNumber(x: number): string {
  return Object.is(x, -0) ? '-0' : String(x);
}

/** `f32[T, 8]`; a scalar is `f32[]`; a quantized weight `i4(group=32)[4, 16, 8]` (see quant-type.ts). */
export function printType(t: TensorType): string {
  return `${dtypeText(t)}[${t.shape.map((d) => (isSym(d) ? dimToString(d) : printNumber(d))).join(', ')}]`;
}

/** `%name`, quoted when the name has characters the lexer would not take as part of it. */
export function printValue(v: Value): string {
  return `%${BARE_VALUE_NAME.test(v.name) ? v.name : JSON.stringify(v.name)}`;
}

/** A module, dim, weight, function, result or attribute name: bare when a dotted identifier. */
export function printName(name: string): string {
  return BARE_NAME.test(name) ? name : JSON.stringify(name);
}
