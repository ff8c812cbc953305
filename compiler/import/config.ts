/**
 * @fileoverview Typed access to a Hugging Face `config.json`, where every error names the
 * field and points at it (`config.json:12:3: error E803: rope_scaling.type "dynamic" ...`).
 * Families read fields through this class only, so a missing field, a wrong type or a
 * value moec does not implement is always a MoecError with file:line:col and a hint —
 * never a silent default or a guess.
 */
import { fail } from '../diagnostics.ts';
import type { Span } from '../source.ts';
import type { JsonDocument, JsonValue } from './json-source.ts';

type JsonObject = { [key: string]: JsonValue };

export class HfConfig {
  private readonly obj: JsonObject;

  constructor(
    readonly doc: JsonDocument,
    /** Dotted path of this object inside the document (`''` for the root). */
    readonly path = '',
  ) {
    const v = path === '' ? doc.value : (this.lookup(doc.value, path) as JsonValue);
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      fail('E801', path === '' ? `${doc.source.path} is not a JSON object` : `\`${path}\` must be an object`, this.valueSpan(path) ?? doc.source.span(0, 1), 'a Hugging Face config.json is one JSON object of fields');
    this.obj = v as JsonObject;
  }

  private lookup(root: JsonValue, path: string): JsonValue | undefined {
    let v: JsonValue | undefined = root;
    for (const k of path.split('.')) v = v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, k) ? (v as JsonObject)[k] : undefined;
    return v;
  }

  full(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** Where the key is written (or its value, or the enclosing object). */
  span(key: string): Span | undefined {
    return this.doc.keys.get(this.full(key)) ?? this.valueSpan(this.path);
  }

  private valueSpan(path: string): Span | undefined {
    return this.doc.values.get(path);
  }

  /** The field is present and not null. */
  has(key: string): boolean {
    return Object.hasOwn(this.obj, key) && this.obj[key] !== null;
  }

  raw(key: string): JsonValue | undefined {
    return Object.hasOwn(this.obj, key) ? this.obj[key] : undefined;
  }

  /** A MoecError E803 at the field: a value whose semantics moec does not implement. */
  unsupported(key: string, message: string, hint?: string): never {
    fail('E803', `${this.full(key)}: ${message}`, this.doc.keys.has(this.full(key)) ? this.doc.values.get(this.full(key)) : this.span(key), hint);
  }

  /** A MoecError E804 at the field (or the object, when it is missing). */
  invalid(key: string, message: string, hint?: string): never {
    fail('E804', `${this.full(key)}: ${message}`, this.doc.values.get(this.full(key)) ?? this.span(key), hint);
  }

  private get(key: string, kind: string, fallback: JsonValue | undefined): JsonValue {
    if (!this.has(key)) {
      if (fallback !== undefined) return fallback;
      this.invalid(key, `the config has no \`${this.full(key)}\``, `give ${kind} \`${this.full(key)}\` (see the model's published config.json)`);
    }
    return this.obj[key];
  }

  /** E804 for NaN or ±Infinity (which JSON.stringify would show as null): they are not JSON numbers. */
  private finite(key: string, v: JsonValue, expected: string): void {
    if (typeof v === 'number' && !Number.isFinite(v))
      this.invalid(key, `expected ${expected}, got ${v}, which is not a JSON number`, 'NaN and Infinity are not JSON (Python\'s json module writes them for float("nan") and float("inf")): give a finite value');
  }

  int(key: string, fallback?: number, min = 0): number {
    const v = this.get(key, 'an integer', fallback);
    this.finite(key, v, 'an integer');
    if (typeof v !== 'number' || !Number.isInteger(v)) this.invalid(key, `expected an integer, got ${shown(v)}`);
    if ((v as number) < min) this.invalid(key, `expected at least ${min}, got ${v}`);
    return v as number;
  }

  num(key: string, fallback?: number): number {
    const v = this.get(key, 'a number', fallback);
    this.finite(key, v, 'a number');
    if (typeof v !== 'number') this.invalid(key, `expected a number, got ${shown(v)}`);
    return v as number;
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.get(key, 'true or false', fallback);
    if (typeof v !== 'boolean') this.invalid(key, `expected true or false, got ${shown(v)}`);
    return v as boolean;
  }

  str(key: string, fallback?: string): string {
    const v = this.get(key, 'a string', fallback);
    if (typeof v !== 'string') this.invalid(key, `expected a string, got ${shown(v)}`);
    return v as string;
  }

  strings(key: string): string[] {
    const v = this.get(key, 'a list of strings', undefined);
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) this.invalid(key, 'expected a list of strings');
    return v as string[];
  }

  /** The object field `key` (null when absent or null). */
  object(key: string): HfConfig | null {
    return this.has(key) ? new HfConfig(this.doc, this.full(key)) : null;
  }

  /** Requires the field to be absent, null or one of the given values (it changes semantics otherwise). */
  expect(key: string, allowed: ReadonlyArray<JsonValue>, what: string): void {
    if (!this.has(key)) return;
    const v = this.obj[key];
    if (!allowed.some((a) => JSON.stringify(a) === JSON.stringify(v)))
      this.unsupported(key, `${shown(v)} is not supported: ${what}`, `moec implements ${allowed.map((a) => JSON.stringify(a)).join(' or ')}`);
  }
}

/** A config value in a message: NaN and Infinity by name (JSON.stringify would say null), a long value cut short. */
function shown(v: JsonValue): string {
  if (typeof v === 'number') return String(v);
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
