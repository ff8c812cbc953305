/**
 * @fileoverview What the two IR text parsers share: one lexer and one base class with the
 * token helpers and the reading rules both formats have in common (names, whole numbers,
 * attribute values, types and linear size expressions), so the graph IR (`parse.ts`) and
 * the kernel IR (`../kernel/kparse.ts`) spell a value, a type or a size the same way and
 * report the same mistake with the same words. It lives with the graph IR because the
 * kernel IR builds on the graph IR (its text ends with a graph module), never the reverse.
 *
 * Each format says what is its own: its punctuation, the `%value` references of the graph
 * IR, the kernel IR's header word `moec.kernel-ir` and where its text ends (its graph
 * section), whether a type may carry a quantization (`i4(group=32)[...]`, graph IR only),
 * and how the end of its text is named in messages.
 */
import { didYouMean, fail } from '../diagnostics.ts';
import { type Dim, dimAdd, dimMul, dimNeg, sym } from '../dims.ts';
import type { AttrValue } from './graph.ts';
import { quantFromPairs } from '../quant-type.ts';
import { SourceFile, type Span } from '../source.ts';
import { DTYPES, type TensorType, type TypeQuant, isDType } from '../types.ts';

// ---------------------------------------------------------------------------------------
// Lexer.

export type TokKind = 'name' | 'value' | 'number' | 'string' | 'punct' | 'eof';

export interface Tok {
  kind: TokKind;
  /** Source text for names, numbers and punctuation; the decoded name or string otherwise. */
  text: string;
  start: number;
  end: number;
}

/** What one format's lexer knows beyond the common names, numbers, strings and comments. */
export interface LexOptions {
  /** Punctuation; where one is a prefix of another, the longer comes first (`->` before `-`). */
  punct: readonly string[];
  /** Words read as one name though they hold characters names do not (`moec.kernel-ir`). */
  words?: readonly string[];
  /** `%name` and `%"quoted name"` value references (the graph IR). */
  values?: boolean;
  /** Where the text to read ends (the kernel IR stops at its graph section); default the end. */
  end?: number;
}

const NAME_RE = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*/y;
const VALUE_NAME_RE = /[A-Za-z0-9_.]+/y;
const NUMBER_RE = /[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** The tokens of `text` up to `opts.end`, ending with an `eof` token there. */
export function lex(text: string, path: string, opts: LexOptions): Tok[] {
  const end = opts.end ?? text.length;
  const toks: Tok[] = [];
  const span = (s: number, e: number): Span => ({ file: path, start: s, end: e });
  const match = (re: RegExp, at: number): string | undefined => {
    re.lastIndex = at;
    const m = re.exec(text);
    return m && at + m[0].length <= end ? m[0] : undefined;
  };
  let i = 0;
  while (i < end) {
    const c = text[i];
    const word = opts.words?.find((w) => text.startsWith(w, i));
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (text.startsWith('//', i)) {
      while (i < end && text[i] !== '\n') i++;
    } else if (word !== undefined) {
      toks.push({ kind: 'name', text: word, start: i, end: i + word.length });
      i += word.length;
    } else if (c === '"') {
      const s = lexString(text, i, end, span);
      toks.push({ kind: 'string', text: s.value, start: i, end: s.end });
      i = s.end;
    } else if (c === '%' && opts.values) {
      const bare = match(VALUE_NAME_RE, i + 1);
      if (bare !== undefined) {
        toks.push({ kind: 'value', text: bare, start: i, end: i + 1 + bare.length });
        i += 1 + bare.length;
      } else if (text[i + 1] === '"') {
        const s = lexString(text, i + 1, end, span);
        toks.push({ kind: 'value', text: s.value, start: i, end: s.end });
        i = s.end;
      } else {
        fail('E401', "expected a value name after '%'", span(i, i + 1), 'value names are letters, digits, `_` and `.`, or a quoted string');
      }
    } else if (/[0-9]/.test(c)) {
      const num = match(NUMBER_RE, i)!;
      const after = match(NAME_RE, i + num.length);
      if (after !== undefined)
        fail('E401', `a number cannot run into a name: '${num}${after}'`, span(i, i + num.length + after.length), `write ${num}*${after} for a multiple of a size`);
      toks.push({ kind: 'number', text: num, start: i, end: i + num.length });
      i += num.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const name = match(NAME_RE, i)!;
      toks.push({ kind: 'name', text: name, start: i, end: i + name.length });
      i += name.length;
    } else {
      const p = opts.punct.find((q) => text.startsWith(q, i));
      if (p === undefined) fail('E401', `unexpected character '${c}'`, span(i, i + 1));
      toks.push({ kind: 'punct', text: p, start: i, end: i + p.length });
      i += p.length;
    }
  }
  toks.push({ kind: 'eof', text: '', start: end, end });
  return toks;
}

/** A JSON string literal starting at `start` (the opening quote); it may not span lines. */
function lexString(text: string, start: number, end: number, span: (s: number, e: number) => Span): { value: string; end: number } {
  let i = start + 1;
  while (i < end && text[i] !== '"' && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
  if (i >= end || text[i] !== '"') {
    const lineEnd = text.indexOf('\n', start);
    fail('E401', 'unterminated string', span(start, lineEnd < 0 || lineEnd > end ? end : lineEnd), 'close it with `"` on the same line');
  }
  const literal = text.slice(start, i + 1);
  try {
    return { value: JSON.parse(literal) as string, end: i + 1 };
  } catch {
    return fail('E401', `invalid escape in string ${literal}`, span(start, i + 1), 'strings use JSON escapes: \\" \\\\ \\n \\t \\uXXXX');
  }
}

// ---------------------------------------------------------------------------------------
// Reading rules.

/** Identifiers that are attribute values, not symbolic sizes. */
const VALUE_WORDS = new Map<string, AttrValue>([
  ['true', true],
  ['false', false],
  ['null', null],
  ['Infinity', Infinity],
  ['NaN', NaN],
]);

/** How one format is read: its lexer, whether types carry a quantization, the name of its end. */
export interface ReaderOptions {
  lex: LexOptions;
  /** `i4(group=32)[...]`: a quantized type (graph IR); the kernel IR puts it on the buffer. */
  quantTypes: boolean;
  /** How messages name the end of the text (`the end of the text`). */
  eof: string;
}

/**
 * A recursive-descent reader over the tokens of one IR text: the token helpers and the
 * rules both formats share. Every error is E401 with a span into the text.
 */
export class TextReader {
  protected readonly toks: Tok[];
  protected readonly source: SourceFile;
  protected pos = 0;

  constructor(
    text: string,
    path: string,
    private readonly opts: ReaderOptions,
  ) {
    this.source = new SourceFile(path, text);
    this.toks = lex(text, path, opts.lex);
  }

  // --- token helpers --------------------------------------------------------------------

  protected get tok(): Tok {
    return this.toks[this.pos];
  }

  protected next(): Tok {
    const t = this.toks[this.pos];
    if (t.kind !== 'eof') this.pos++;
    return t;
  }

  /** A span of the text from `start` to the end of the last token read (by default). */
  protected span(start: number, end = this.toks[this.pos - 1]?.end ?? start): Span {
    return this.source.span(start, end);
  }

  /** How a message names a token. */
  protected describe(t: Tok): string {
    switch (t.kind) {
      case 'eof':
        return this.opts.eof;
      case 'value':
        return `%${t.text}`;
      case 'string':
        return JSON.stringify(t.text);
      default:
        return `'${t.text}'`;
    }
  }

  protected isPunct(p: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === p;
  }

  protected isWord(w: string): boolean {
    return this.tok.kind === 'name' && this.tok.text === w;
  }

  protected accept(p: string): boolean {
    if (!this.isPunct(p)) return false;
    this.pos++;
    return true;
  }

  protected expect(p: string, context: string, hint?: string): Tok {
    if (!this.isPunct(p)) this.error(`expected '${p}' ${context}, found ${this.describe(this.tok)}`, hint);
    return this.next();
  }

  protected expectWord(w: string, context: string, hint?: string): Tok {
    if (!this.isWord(w)) this.error(`expected '${w}' ${context}, found ${this.describe(this.tok)}`, hint);
    return this.next();
  }

  protected error(message: string, hint?: string, tok = this.tok): never {
    return fail('E401', message, this.span(tok.start, Math.max(tok.end, tok.start + 1)), hint);
  }

  // --- names and numbers ----------------------------------------------------------------

  /** A declaration name: a dotted identifier or a quoted string. */
  protected nameTok(what: string): Tok {
    if (this.tok.kind !== 'name' && this.tok.kind !== 'string') this.error(`expected ${what}, found ${this.describe(this.tok)}`);
    return this.next();
  }

  protected name(what: string): string {
    return this.nameTok(what).text;
  }

  /** One of `words`, bare. */
  protected word<W extends string>(words: readonly W[], what: string): W {
    const t = this.tok;
    if (t.kind !== 'name' || !(words as readonly string[]).includes(t.text))
      this.error(`expected ${what} (${words.join(', ')}), found ${this.describe(t)}`, t.kind === 'name' ? didYouMean(t.text, words) : undefined);
    return this.next().text as W;
  }

  protected integer(what: string): number {
    const neg = this.accept('-');
    if (this.tok.kind !== 'number') this.error(`expected ${what}, found ${this.describe(this.tok)}`);
    const t = this.next();
    const v = Number(t.text) * (neg ? -1 : 1);
    if (!Number.isInteger(v)) this.error(`${what} must be a whole number, got ${t.text}`, undefined, t);
    return v;
  }

  // --- values, types and sizes ----------------------------------------------------------

  /** An attribute value: a number, size, string, `true`/`false`/`null`, `±Infinity`, `NaN` or a `[list]`. */
  protected attrValue(): AttrValue {
    const t = this.tok;
    if (t.kind === 'string') return this.next().text;
    if (t.kind === 'name' && VALUE_WORDS.has(t.text)) {
      this.next();
      return VALUE_WORDS.get(t.text)!;
    }
    if (this.isPunct('-') && this.toks[this.pos + 1].kind === 'name' && this.toks[this.pos + 1].text === 'Infinity') {
      this.pos += 2;
      return -Infinity;
    }
    if (this.accept('[')) {
      const list: AttrValue[] = [];
      if (!this.isPunct(']'))
        do list.push(this.attrValue());
        while (this.accept(','));
      this.expect(']', 'to close the list');
      return list;
    }
    if (t.kind === 'number' || t.kind === 'name' || this.isPunct('-')) return this.dim(false);
    return this.error(`expected an attribute value, found ${this.describe(t)}`, 'values are numbers, "strings", true, false, null, sizes like 2*T+1, or [lists]');
  }

  /** `f32[T, 8]`, and where the format allows it `i4(group=32)[64, 64]`. */
  protected type(): TensorType {
    const t = this.tok;
    if (t.kind !== 'name') this.error(`expected a type such as f32[T, 8], found ${this.describe(t)}`);
    if (!isDType(t.text)) this.error(`unknown dtype '${t.text}'`, didYouMean(t.text, DTYPES) ?? `dtypes are ${DTYPES.join(', ')}`);
    this.next();
    const quant = this.opts.quantTypes && this.isPunct('(') ? this.quant() : undefined;
    this.expect('[', `after the dtype ${t.text}`, 'a scalar is written f32[]');
    const shape: Dim[] = [];
    if (!this.isPunct(']'))
      do shape.push(this.dim(true));
      while (this.accept(','));
    this.expect(']', 'to close the shape');
    return quant ? { dtype: t.text, shape, quant } : { dtype: t.text, shape };
  }

  /** `(group=32)`, `(group=channel, axis=-2)` after a quantized dtype (see quant-type.ts). */
  private quant(): TypeQuant {
    const open = this.expect('(', 'before the quantization');
    const pairs: Array<{ key: string; value: string | number }> = [];
    do {
      const key = this.name('group= or axis=');
      this.expect('=', `after ${key}`);
      pairs.push({ key, value: this.tok.kind === 'name' ? this.next().text : this.integer(`the ${key}`) });
    } while (this.accept(','));
    this.expect(')', 'to close the quantization', 'a quantized type is written i4(group=32)[...]');
    const q = quantFromPairs(pairs);
    if (typeof q === 'string') this.error(q, undefined, open);
    return q;
  }

  /**
   * A linear size expression: `8`, `T`, `2*T+1`, `-T+4`, `T*2`. Outside shapes the same
   * rule reads plain numbers (`-7.5`, `1e-7`), which must then be returned unchanged.
   */
  protected dim(wholeOnly: boolean): Dim {
    const neg = this.accept('-');
    let acc = this.dimTerm(wholeOnly);
    if (neg) acc = dimNeg(acc);
    while (this.isPunct('+') || this.isPunct('-')) {
      const minus = this.next().text === '-';
      const term = this.dimTerm(wholeOnly);
      acc = dimAdd(acc, minus ? dimNeg(term) : term);
    }
    return acc;
  }

  /** `8`, `T`, `2*T` or `T*2`. */
  private dimTerm(wholeOnly: boolean): Dim {
    const t = this.tok;
    if (t.kind === 'number') {
      this.next();
      const k = Number(t.text);
      if (this.accept('*')) {
        const name = this.symbol();
        if (!Number.isInteger(k)) this.error(`the coefficient ${t.text} of ${name} must be a whole number`, undefined, t);
        return dimMul(k, sym(name));
      }
      if (wholeOnly && !Number.isInteger(k)) this.error(`a size must be a whole number, got ${t.text}`, undefined, t);
      return k;
    }
    const name = this.symbol();
    if (!this.accept('*')) return sym(name);
    return dimMul(sym(name), this.integer(`the coefficient of ${name}`));
  }

  private symbol(): string {
    if (this.tok.kind !== 'name' || VALUE_WORDS.has(this.tok.text)) this.error(`expected a size (a number or a dim name), found ${this.describe(this.tok)}`);
    return this.next().text;
  }
}
