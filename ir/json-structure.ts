/**
 * @fileoverview What `JSON.parse` lets through in a file moec reads: a key given twice in one
 * object (it silently keeps the last, so a safetensors header listing a tensor twice would
 * read as one of them) and nesting deeper than any real file has (what reads the value
 * afterwards may recurse, and a message that prints it would overflow the stack).
 */

/**
 * How deep JSON moec reads may nest. Real files are shallow: a safetensors header is three
 * levels, an index two, a Hugging Face config.json four or five.
 */
export const MAX_JSON_DEPTH = 64;

export type JsonStructureProblem =
  /** `key` is given twice in the object at `path` (the keys leading to it; [] for the top level). */
  | { kind: 'duplicate'; key: string; path: string[] }
  /** Objects and arrays nest deeper than `MAX_JSON_DEPTH`. */
  | { kind: 'too-deep' };

/**
 * The first duplicate key or excess nesting in `text`, which must be valid JSON (call it
 * after `JSON.parse` succeeds). One pass with an explicit stack, so any input takes linear
 * time and no recursion.
 */
export function jsonStructureProblem(text: string): JsonStructureProblem | undefined {
  // One level per open object ({keys seen, the last key}) or array (null).
  const stack: Array<{ keys: Set<string>; last: string } | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { kind: 'duplicate', key, path: stack.map((s) => s?.last ?? '').slice(0, -1) };
        top.keys.add(key);
        top.last = key;
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      stack.push(c === 0x7b ? { keys: new Set(), last: '' } : null);
      if (stack.length > MAX_JSON_DEPTH) return { kind: 'too-deep' };
      expectKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] !== null;
    }
  }
  return undefined;
}
