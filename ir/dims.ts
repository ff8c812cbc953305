/**
 * @fileoverview Symbolic sizes. A `Dim` is a concrete integer or a linear expression over
 * symbolic sizes (`T`, `2*T+1`): linear is enough for MoE graphs (`T*K` token slots, `E+1`
 * offsets) and keeps equality a syntactic check. Canonical form: terms sorted by name, no
 * zero coefficients, and a plain number when there are no terms, so `dimEq` is structural.
 */

/** A linear expression `c + Σ coef·sym`. Never constructed with zero terms (that is a number). */
export interface SymDim {
  readonly terms: ReadonlyArray<readonly [string, number]>;
  readonly c: number;
}

export type Dim = number | SymDim;

/** Thrown for a dim expression that cannot be represented (callers turn it into a diagnostic). */
export class DimError extends Error {}

export function isSym(d: Dim): d is SymDim {
  return typeof d !== 'number';
}

export function sym(name: string): Dim {
  return { terms: [[name, 1]], c: 0 };
}

function make(terms: Map<string, number>, c: number): Dim {
  const list = [...terms.entries()].filter(([, k]) => k !== 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return list.length === 0 ? c : { terms: list, c };
}

function termsOf(d: Dim): Map<string, number> {
  return new Map(isSym(d) ? d.terms : []);
}

function constOf(d: Dim): number {
  return isSym(d) ? d.c : d;
}

export function dimAdd(a: Dim, b: Dim): Dim {
  if (!isSym(a) && !isSym(b)) return a + b;
  const t = termsOf(a);
  for (const [n, k] of termsOf(b)) t.set(n, (t.get(n) ?? 0) + k);
  return make(t, constOf(a) + constOf(b));
}

export function dimNeg(a: Dim): Dim {
  return dimScale(a, -1);
}

export function dimSub(a: Dim, b: Dim): Dim {
  return dimAdd(a, dimNeg(b));
}

function dimScale(a: Dim, k: number): Dim {
  if (!isSym(a)) return a * k;
  const t = new Map<string, number>();
  for (const [n, c] of a.terms) t.set(n, c * k);
  return make(t, a.c * k);
}

/** Product; one side must be a number (shapes stay linear in the symbolic sizes). */
export function dimMul(a: Dim, b: Dim): Dim {
  if (!isSym(a)) return dimScale(b, a);
  if (!isSym(b)) return dimScale(a, b);
  throw new DimError(`the product ${dimToString(a)} * ${dimToString(b)} is not linear in the symbolic sizes`);
}

/** Exact division by a number; throws when the result would not be a whole number. */
export function dimDiv(a: Dim, b: Dim): Dim {
  if (isSym(b)) throw new DimError(`cannot divide by the symbolic size ${dimToString(b)}`);
  if (b === 0) throw new DimError('division by zero');
  if (!isSym(a)) {
    if (a % b !== 0) throw new DimError(`${a} / ${b} is not a whole number`);
    return a / b;
  }
  if (a.c % b !== 0 || a.terms.some(([, k]) => k % b !== 0))
    throw new DimError(`${dimToString(a)} / ${b} is not a whole number for every value of its sizes`);
  return dimScale(a, 1 / b);
}

/** Remainder; only for concrete numbers. */
export function dimMod(a: Dim, b: Dim): Dim {
  if (isSym(a) || isSym(b)) throw new DimError('`%` needs concrete sizes');
  if (b === 0) throw new DimError('division by zero');
  return ((a % b) + b) % b;
}

export function dimEq(a: Dim, b: Dim): boolean {
  if (!isSym(a) || !isSym(b)) return a === b;
  return a.c === b.c && a.terms.length === b.terms.length && a.terms.every(([n, k], i) => b.terms[i][0] === n && b.terms[i][1] === k);
}

export function shapeEq(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => dimEq(d, b[i]));
}

/** Product of all dims (the element count), or a DimError when it is not linear. */
export function dimProduct(shape: readonly Dim[]): Dim {
  let p: Dim = 1;
  for (const d of shape) p = dimMul(p, d);
  return p;
}

/** Canonical text: `T`, `2*T+1`, `-T+4`, `T*0`-free. Parsed back by the IR parser. */
export function dimToString(d: Dim): string {
  if (!isSym(d)) return String(d);
  let s = '';
  for (const [n, k] of d.terms) {
    const mag = Math.abs(k);
    const term = mag === 1 ? n : `${mag}*${n}`;
    s += s === '' ? (k < 0 ? '-' : '') + term : (k < 0 ? '-' : '+') + term;
  }
  if (d.c !== 0) s += d.c < 0 ? String(d.c) : `+${d.c}`;
  return s;
}

export function shapeToString(shape: readonly Dim[]): string {
  return `[${shape.map(dimToString).join(', ')}]`;
}

/** The names of the symbolic sizes a dim uses. */
export function dimSymbols(d: Dim): string[] {
  return isSym(d) ? d.terms.map(([n]) => n) : [];
}

/** Concrete value of a dim under bindings for its symbols; throws DimError for a missing binding. */
export function evalDim(d: Dim, bindings: Readonly<Record<string, number>>): number {
  if (!isSym(d)) return d;
  let v = d.c;
  for (const [n, k] of d.terms) {
    const b = bindings[n];
    if (b === undefined) throw new DimError(`no value for the symbolic size ${n}`);
    v += k * b;
  }
  return v;
}

export function evalShape(shape: readonly Dim[], bindings: Readonly<Record<string, number>>): number[] {
  return shape.map((d) => evalDim(d, bindings));
}
