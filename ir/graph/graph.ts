/**
 * @fileoverview The graph IR: a module of functions in SSA form over typed tensor values.
 *
 * - A `Module` has symbolic sizes (`dims`), global `weights` (each with its checkpoint
 *   name pattern), and functions; `main` is the entry, its params are the model's inputs
 *   and its results the model's outputs.
 * - A `Func` is a straight-line list of `Node`s; every `Value` is defined once (a param or
 *   a node output) before it is used. Repetition (`repeat`) calls another function as its
 *   body, so layers never unroll.
 * - Nodes and values carry the source `Span` they came from, so passes and the verifier
 *   can point back at the `.moe` text.
 */
import type { Span } from '../source.ts';
import type { Dim } from '../dims.ts';
import type { TensorType } from '../types.ts';

/** An attribute value. `Dim` appears in `reshape` shapes, which may be symbolic. */
export type AttrValue = number | string | boolean | null | Dim | AttrValue[];
export type Attrs = Record<string, AttrValue>;

/** An SSA value: a function parameter or one output of a node. */
export class Value {
  constructor(
    /** Unique within its function; printed as `%name`. */
    public name: string,
    public type: TensorType,
    public span?: Span,
  ) {}
}

export interface Node {
  op: string;
  inputs: Value[];
  attrs: Attrs;
  outputs: Value[];
  span?: Span;
}

export interface FuncResult {
  name: string;
  value: Value;
}

export interface Func {
  name: string;
  params: Value[];
  body: Node[];
  results: FuncResult[];
  span?: Span;
}

/**
 * Where a weight comes from in a checkpoint: a name pattern such as
 * `model.layers.{i}.mlp.experts.{e}.gate_proj.weight` and, for each leading axis of the
 * weight in order, the placeholder that indexes it and the value of its index 0 (so
 * `{i}` of a `repeat(i = 3..61)` has start 3).
 */
export interface WeightSource {
  pattern: string;
  axes: Array<{ name: string; start: number }>;
}

export interface WeightDecl {
  /** Dotted instance path, e.g. `moe.shared.gate`. */
  name: string;
  type: TensorType;
  source?: WeightSource;
  span?: Span;
}

export interface DimDecl {
  name: string;
  /** Largest value the size may take at run time (backends size buffers from it). */
  max?: number;
  span?: Span;
}

export interface Module {
  name: string;
  dims: DimDecl[];
  weights: WeightDecl[];
  /** All functions; the entry is the one named `main`. */
  funcs: Func[];
}

export function mainFunc(m: Module): Func {
  const f = m.funcs.find((g) => g.name === 'main');
  if (!f) throw new Error('module has no main function');
  return f;
}

export function findFunc(m: Module, name: string): Func | undefined {
  return m.funcs.find((g) => g.name === name);
}

export function findWeight(m: Module, name: string): WeightDecl | undefined {
  return m.weights.find((w) => w.name === name);
}

/** A placeholder's text: `i`, or affine in the index, `2*i`, `i+1`, `2*i+1` (layer 2i and 2i+1 of a pair). */
export interface Placeholder {
  name: string;
  scale: number;
  offset: number;
}

/** Parses the text between `{` and `}`; undefined if it is not a placeholder. */
export function parsePlaceholder(text: string): Placeholder | undefined {
  const m = /^(?:(\d+)\*)?([A-Za-z_][A-Za-z0-9_]*)(?:\+(\d+))?$/.exec(text);
  return m ? { name: m[2], scale: m[1] === undefined ? 1 : Number(m[1]), offset: m[3] === undefined ? 0 : Number(m[3]) } : undefined;
}

/** The placeholders of a pattern, in order of appearance (unparsable ones as undefined). */
export function placeholdersOf(pattern: string): Array<{ text: string; placeholder: Placeholder | undefined }> {
  return [...pattern.matchAll(/\{([^{}]*)\}/g)].map((m) => ({ text: m[1], placeholder: parsePlaceholder(m[1]) }));
}

/**
 * The checkpoint tensor name of one slice of a weight: `index` gives a value for each
 * placeholder axis (0-based along the axis; the axis start is added, then the placeholder's
 * scale and offset apply: `{2*i+1}` at i = 3 is 7).
 */
export function checkpointName(src: WeightSource, index: readonly number[]): string {
  return src.pattern.replace(/\{([^{}]*)\}/g, (whole, text: string) => {
    const p = parsePlaceholder(text);
    const j = p ? src.axes.findIndex((a) => a.name === p.name) : -1;
    return p && j >= 0 ? String(p.scale * (src.axes[j].start + index[j]) + p.offset) : whole;
  });
}
