/**
 * @fileoverview Text mutation for fuzzing: split a seed text (a `.moe` example, a target
 * sheet, IR text) into tokens and apply a short list of edits — delete, insert, swap,
 * duplicate, replace a number with an awkward one. Edits are plain data drawn by
 * fast-check, so a failing case shrinks to the fewest, simplest edits and replays from
 * its seed and path.
 */
import fc from 'fast-check';

/**
 * Words (with dotted and `%`/`@` forms, as in IR text), numbers, strings, comments,
 * whitespace runs, and any other single character. Joining the tokens gives the text back.
 */
const TOKEN = /\/\/[^\n]*|#[^\n]*|"(?:[^"\\\n]|\\.)*"|[%@]?[A-Za-z_][A-Za-z0-9_.]*|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\s+|[^]/g;

export function tokenize(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

/** Numbers that break arithmetic: zero, signs, powers of two around 32/53-bit limits, floats, overflow. */
export const AWKWARD_NUMBERS = [
  '0', '1', '-1', '2', '3', '7', '64', '65', '255', '256', '65536', '2147483647', '2147483648', '4294967296',
  '1099511627776', '9007199254740993', '99999999999999999999999', '1e308', '1e999', '1e-400', '0.5', '-0', '1.5e3',
];

/** Tokens worth inserting into any of the text formats: brackets, operators, YAML and IR punctuation. */
export const PUNCTUATION = ['(', ')', '[', ']', '{', '}', ',', ':', '=', '-', '+', '*', '/', '..', '<=', '"', '\n', '  ', '&a', '*a', '!!str', '|', '>', '%0', '@0', '?', '~', ';', '\t', '\u00e9', '\u0000'];

export type Edit =
  | { op: 'delete'; at: number; len: number }
  | { op: 'insert'; at: number; token: number }
  | { op: 'swap'; at: number; with: number }
  | { op: 'duplicate'; at: number; len: number }
  | { op: 'number'; at: number; value: string };

export const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), token: fc.nat() }),
  fc.record({ op: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ op: fc.constant('number' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(...AWKWARD_NUMBERS), fc.integer({ min: -3, max: 5000 }).map(String)) }),
);

/** Applies the edits in order to the non-blank tokens of `text`; positions wrap around. */
export function mutate(text: string, edits: readonly Edit[]): string {
  const toks = tokenize(text);
  const pool = [...new Set(toks.filter((t) => t.trim() !== ''))].concat(PUNCTUATION);
  for (const e of edits) {
    const solid = toks.flatMap((t, i) => (t.trim() === '' ? [] : [i]));
    if (solid.length === 0) {
      if (e.op === 'insert') toks.push(pool[e.token % pool.length]);
      continue;
    }
    const i = solid[e.at % solid.length];
    switch (e.op) {
      case 'delete':
        toks.splice(i, Math.min(e.len, toks.length - i));
        break;
      case 'insert':
        toks.splice(i, 0, pool[e.token % pool.length], ' ');
        break;
      case 'swap': {
        const j = solid[e.with % solid.length];
        [toks[i], toks[j]] = [toks[j], toks[i]];
        break;
      }
      case 'duplicate':
        toks.splice(i, 0, ...toks.slice(i, i + e.len));
        break;
      case 'number': {
        const nums = solid.filter((k) => /^\d/.test(toks[k]));
        if (nums.length > 0) toks[nums[e.at % nums.length]] = e.value;
        else toks.splice(i, 0, e.value, ' ');
        break;
      }
    }
  }
  return toks.join('');
}

/** A seed text from `seeds`, with one to four edits. */
export function mutatedText(seeds: readonly { name: string; text: string }[]): fc.Arbitrary<{ name: string; text: string }> {
  return fc
    .record({ seed: fc.constantFrom(...seeds), edits: fc.array(editArb, { minLength: 1, maxLength: 4 }) })
    .map(({ seed, edits }) => ({ name: seed.name, text: mutate(seed.text, edits) }));
}

/** Text made of tokens drawn from the seeds' vocabulary, the awkward numbers and punctuation: mostly nonsense that must still be rejected cleanly. */
export function randomTokens(seeds: readonly { text: string }[]): fc.Arbitrary<string> {
  const vocab = [...new Set(seeds.flatMap((s) => tokenize(s.text)).filter((t) => t.trim() !== ''))].concat(PUNCTUATION, AWKWARD_NUMBERS);
  return fc.array(fc.constantFrom(...vocab), { maxLength: 60 }).chain((toks) => fc.array(fc.constantFrom(' ', '\n', ''), { minLength: toks.length, maxLength: toks.length }).map((seps) => toks.map((t, i) => t + seps[i]).join('')));
}
