/**
 * @fileoverview Typed access to a Hugging Face `config.json`, where every error names the
 * field and points at it (`config.json:12:3: error E803: rope_scaling.type "dynamic" ...`).
 * Families read fields through this class only, so a missing field, a wrong type or a
 * value moec does not implement is always a MoecError with file:line:col and a hint —
 * never a silent default or a guess. A field may be left out only where the reference
 * (the transformers `*Config` class) has a default: the family passes that default, and
 * using it leaves a note (`notes`) that `moec import` prints and the import result carries.
 */
import { fail } from '../../ir/diagnostics.ts';
import type { Span } from '../../ir/source.ts';
import type { JsonDocument, JsonValue } from './json-source.ts';

type JsonObject = { [key: string]: JsonValue };

/** A field the config leaves out (or sets to null) and the import gave a value the reference gives it. */
export interface ImportNote {
  /** Its dotted path (`rope_scaling.truncate`). */
  field: string;
  value: JsonValue;
  /** The line `moec import` prints. */
  message: string;
}

/** What one document's field readers share: the notes of defaults used, and whose defaults they are. */
interface Defaults {
  notes: ImportNote[];
  /** The reference class whose defaults the family passes (`DeepseekV3Config`), once the family is known. */
  reference: string;
}

export class HfConfig {
  private readonly obj: JsonObject;

  constructor(
    readonly doc: JsonDocument,
    /** Dotted path of this object inside the document (`''` for the root). */
    readonly path = '',
    private readonly defaults: Defaults = { notes: [], reference: 'the reference config class' },
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

  /** One line per field left out of the config and given the reference's default. */
  get notes(): readonly ImportNote[] {
    return this.defaults.notes;
  }

  /** Names the reference class whose defaults the family passes, for the notes. */
  setReference(name: string): void {
    this.defaults.reference = name;
  }

  /**
   * Records that `key` is absent (or null) and `value` stands in for it. `how` says where the
   * value comes from when it is not a plain class default (`num_attention_heads, as ... does`).
   */
  noteDefault(key: string, value: JsonValue, how?: string): void {
    const state = Object.hasOwn(this.obj, key) ? 'is null' : 'is not in the config';
    const field = this.full(key);
    this.defaults.notes.push({ field, value, message: `\`${field}\` ${state}: using ${JSON.stringify(value)}, ${how ?? `the default of transformers' ${this.defaults.reference}`}` });
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

  /**
   * The field's value; when it is absent or null, `fallback` (the reference's default, with
   * a note; `how` names its source when it is not the class default) or an E804.
   */
  private get(key: string, kind: string, fallback: JsonValue | undefined, how?: string): JsonValue {
    if (!this.has(key)) {
      if (fallback !== undefined) {
        this.noteDefault(key, fallback, how);
        return fallback;
      }
      this.invalid(key, `the config has no \`${this.full(key)}\``, `give ${kind} \`${this.full(key)}\` (see the model's published config.json)`);
    }
    return this.obj[key];
  }

  /** E804 for NaN or ±Infinity (which JSON.stringify would show as null): they are not JSON numbers. */
  private finite(key: string, v: JsonValue, expected: string): void {
    if (typeof v === 'number' && !Number.isFinite(v))
      this.invalid(key, `expected ${expected}, got ${v}, which is not a JSON number`, 'NaN and Infinity are not JSON (Python\'s json module writes them for float("nan") and float("inf")): give a finite value');
  }

  int(key: string, fallback?: number, min = 0, how?: string): number {
    const v = this.get(key, 'an integer', fallback, how);
    this.finite(key, v, 'an integer');
    if (typeof v !== 'number' || !Number.isInteger(v)) this.invalid(key, `expected an integer, got ${shown(v)}`);
    if ((v as number) < min) this.invalid(key, `expected at least ${min}, got ${v}`);
    return v as number;
  }

  /**
   * A finite number; `range` bounds it where a value outside gives NaN or nonsense downstream
   * (rope_theta 0, a negative eps): `gt` exclusive, `min` inclusive.
   */
  num(key: string, fallback?: number, range: { gt?: number; min?: number; how?: string } = {}): number {
    const v = this.get(key, 'a number', fallback, range.how);
    this.finite(key, v, 'a number');
    if (typeof v !== 'number') this.invalid(key, `expected a number, got ${shown(v)}`);
    if (range.gt !== undefined && !((v as number) > range.gt)) this.invalid(key, `expected a number above ${range.gt}, got ${v}`);
    if (range.min !== undefined && !((v as number) >= range.min)) this.invalid(key, `expected at least ${range.min}, got ${v}`);
    return v as number;
  }

  bool(key: string, fallback?: boolean, how?: string): boolean {
    const v = this.get(key, 'true or false', fallback, how);
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
    return this.has(key) ? new HfConfig(this.doc, this.full(key), this.defaults) : null;
  }

  /**
   * Requires the field to be absent, null or one of the given values (it changes semantics
   * otherwise). `noteDefault`: the reference reads the field, with `allowed[0]` as its
   * default, so leaving it out is noted; without it the field is one the reference does not
   * read at inference (`pretraining_tp`), checked only so that a config relying on it fails.
   */
  expect(key: string, allowed: ReadonlyArray<JsonValue>, what: string, noteDefault = false): void {
    if (!this.has(key)) {
      if (noteDefault) this.noteDefault(key, allowed[0]);
      return;
    }
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
