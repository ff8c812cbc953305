/**
 * @fileoverview JSON with positions: a small JSON reader that also records where every key
 * and value starts, so an import error can point at `config.json:41:3` (the field at fault)
 * instead of naming a field somewhere in a 60-line file. `JSON.parse` gives values only.
 *
 * Accepts strict JSON (RFC 8259) plus `NaN`/`Infinity`, which Python's json module writes
 * into some published configs. Malformed text is a MoecError E801 at the offending character,
 * and so is nesting deeper than `MAX_JSON_DEPTH` (the reader recurses once per level).
 */
import { type DiagnosticCode, fail } from '../../ir/diagnostics.ts';
import { type Span, SourceFile } from '../../ir/source.ts';
import { MAX_JSON_DEPTH } from '../../ir/json-structure.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A parsed JSON document: its value and the span of each key (by dotted path) and value. */
export interface JsonDocument {
  source: SourceFile;
  value: JsonValue;
  /** `rope_scaling.type` → span of the key `"type"` inside `rope_scaling`. */
  keys: Map<string, Span>;
  /** Same paths → span of the value. */
  values: Map<string, Span>;
}

/**
 * Largest config.json read: published ones are 1-5 KiB. The reader records a span per value,
 * so a 10 MB array would cost seconds and hundreds of MB before any field is checked.
 */
export const MAX_CONFIG_CHARS = 1 << 20;

/** Which kind of JSON file is read, for its errors (default: a Hugging Face config.json, E801). */
export interface JsonFileKind {
  code: DiagnosticCode;
  /** What the file is, e.g. `a config.json`. */
  name: string;
  /** The hint for malformed text. */
  hint: string;
  maxChars: number;
  /** The hint for a file over `maxChars`. */
  sizeHint: string;
}

const CONFIG_JSON: JsonFileKind = {
  code: 'E801',
  name: 'a config.json',
  hint: 'a Hugging Face config.json is one JSON object',
  maxChars: MAX_CONFIG_CHARS,
  sizeHint: "a Hugging Face config.json holds a few KiB of hyperparameters; check that this is the model's config.json",
};

export function parseJsonDocument(text: string, path: string, kind: JsonFileKind = CONFIG_JSON): JsonDocument {
  const source = new SourceFile(path, text);
  if (text.length > kind.maxChars) fail(kind.code, `${path} is ${text.length} characters, over the ${kind.maxChars} ${kind.name} may have`, source.span(0, 1), kind.sizeHint);
  const keys = new Map<string, Span>();
  const values = new Map<string, Span>();
  let at = 0;
  const bad = (what: string): never => fail(kind.code, `${path} is not valid JSON: ${what}`, source.span(at, at + 1), kind.hint);
  const ws = (): void => {
    while (at < text.length && ' \t\r\n'.includes(text[at])) at++;
  };
  const expect = (c: string): void => {
    if (text[at] !== c) bad(`expected '${c}' but found ${at < text.length ? `'${text[at]}'` : 'the end of the file'}`);
    at++;
  };
  const string = (): string => {
    const start = at;
    expect('"');
    let out = '';
    for (;;) {
      if (at >= text.length) {
        at = start;
        bad('unterminated string');
      }
      const c = text[at++];
      if (c === '"') return out;
      if (c === '\\') {
        const e = text[at++];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e in simple) out += simple[e];
        else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(at, at + 4))) {
          out += String.fromCharCode(parseInt(text.slice(at, at + 4), 16));
          at += 4;
        } else bad(`bad escape '\\${e ?? ''}'`);
      } else out += c;
    }
  };
  // Objects and arrays open around the current value; capped, since value() recurses per level.
  let depth = 0;
  const enter = (): void => {
    if (++depth > MAX_JSON_DEPTH) bad(`objects and arrays nest deeper than ${MAX_JSON_DEPTH} levels`);
  };
  const value = (path: string): JsonValue => {
    ws();
    const start = at;
    let v: JsonValue;
    const c = text[at];
    if (c === '{') {
      enter();
      at++;
      const obj: { [key: string]: JsonValue } = {};
      ws();
      if (text[at] === '}') at++;
      else
        for (;;) {
          ws();
          const keyStart = at;
          const key = string();
          const child = path ? `${path}.${key}` : key;
          if (Object.hasOwn(obj, key)) {
            at = keyStart;
            bad(`the key "${key}" is given twice`);
          }
          keys.set(child, source.span(keyStart, at));
          ws();
          expect(':');
          obj[key] = value(child);
          ws();
          if (text[at] === ',') {
            at++;
            continue;
          }
          expect('}');
          break;
        }
      v = obj;
      depth--;
    } else if (c === '[') {
      enter();
      at++;
      const arr: JsonValue[] = [];
      ws();
      if (text[at] === ']') at++;
      else
        for (;;) {
          arr.push(value(`${path}[${arr.length}]`));
          ws();
          if (text[at] === ',') {
            at++;
            continue;
          }
          expect(']');
          break;
        }
      v = arr;
      depth--;
    } else if (c === '"') v = string();
    else {
      const m = /^(?:true|false|null|NaN|-?Infinity|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(at, at + 64));
      if (!m) bad(at < text.length ? `unexpected '${text[at]}'` : 'unexpected end of file');
      const word = m![0];
      at += word.length;
      v = word === 'true' ? true : word === 'false' ? false : word === 'null' ? null : Number(word);
    }
    values.set(path, source.span(start, at));
    return v;
  };
  const doc = value('');
  ws();
  if (at < text.length) bad(`unexpected '${text[at]}' after the end of the JSON value`);
  return { source, value: doc, keys, values };
}
