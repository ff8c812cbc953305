/**
 * @fileoverview Reads the canonical IR text of `print.ts` (the format is documented there)
 * back into a `Module`, so pass tests can be written as before/expected text and dumps can
 * be reloaded. A hand-written lexer and recursive-descent parser: the format is small and
 * line-shaped, and exact positions matter more than grammar tooling.
 *
 * Two kinds of error, both `MoecError`s with a span into the IR text:
 * - E401 (malformed IR text): the text does not describe a module at all — a lexical or
 *   syntax error, an unknown dtype, a `%value` that is not defined above its use, or one
 *   defined twice (a reference could not be resolved).
 * - E402 (invalid IR): the text describes a module that breaks an invariant of
 *   `verify.ts`. Every parsed module is verified, which re-infers every node's result
 *   types through the op catalogue and checks they equal the printed ones.
 *
 * Leniency for hand-written text: `//` comments, free line breaks, and attributes left at
 * their defaults may be omitted (they are filled in, as the builder does).
 */
import { MoecError, didYouMean, fail } from './diagnostics.ts';
import { SourceFile, type Span } from './source.ts';
import { type Dim, dimAdd, dimMul, dimNeg, sym } from './dims.ts';
import type { AttrValue, Attrs, DimDecl, Func, FuncResult, Module, Node, WeightDecl, WeightSource } from './graph.ts';
import { Value } from './graph.ts';
import { OpError, getOp, resolveAttrs } from './ops.ts';
import { IR_VERSION } from './print.ts';
import { quantFromPairs } from './quant-type.ts';
import { DTYPES, type TensorType, type TypeQuant, isDType } from './types.ts';
import { verify } from './verify.ts';

/**
 * Parses IR text, verifies the module and returns it; throws `MoecError` (E401, E402) with
 * the text attached, so `err.format()` shows `path:line:col` and the offending line.
 */
export function parseIR(text: string, path = '<ir>'): Module {
  try {
    const m = new IrParser(text, path).module();
    const problems = verify(m);
    if (problems.length > 0) throw new MoecError(problems);
    return m;
  } catch (e) {
    if (e instanceof MoecError) e.addSource(new SourceFile(path, text));
    throw e;
  }
}

// ---------------------------------------------------------------------------------------
// Lexer.

type TokKind = 'name' | 'value' | 'number' | 'string' | 'punct' | 'eof';

interface Tok {
  kind: TokKind;
  /** Source text for names, numbers and punctuation; the decoded name or string otherwise. */
  text: string;
  start: number;
  end: number;
}

const NAME_RE = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*/y;
const VALUE_NAME_RE = /[A-Za-z0-9_.]+/y;
const NUMBER_RE = /[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const PUNCT = ['<=', '(', ')', '[', ']', '{', '}', ',', ':', '=', '*', '+', '-'];

function lex(text: string, path: string): Tok[] {
  const toks: Tok[] = [];
  const span = (start: number, end: number): Span => ({ file: path, start, end });
  let i = 0;
  const match = (re: RegExp, at: number): string | undefined => {
    re.lastIndex = at;
    return re.exec(text)?.[0];
  };
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (text.startsWith('//', i)) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '"') {
      const s = lexString(text, i, span);
      toks.push({ kind: 'string', text: s.value, start: i, end: s.end });
      i = s.end;
    } else if (c === '%') {
      const bare = match(VALUE_NAME_RE, i + 1);
      if (bare !== undefined) {
        toks.push({ kind: 'value', text: bare, start: i, end: i + 1 + bare.length });
        i += 1 + bare.length;
      } else if (text[i + 1] === '"') {
        const s = lexString(text, i + 1, span);
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
      const p = PUNCT.find((q) => text.startsWith(q, i));
      if (p === undefined) fail('E401', `unexpected character '${c}'`, span(i, i + 1));
      toks.push({ kind: 'punct', text: p, start: i, end: i + p.length });
      i += p.length;
    }
  }
  toks.push({ kind: 'eof', text: '', start: text.length, end: text.length });
  return toks;
}

/** A JSON string literal starting at `start` (the opening quote); it may not span lines. */
function lexString(text: string, start: number, span: (s: number, e: number) => Span): { value: string; end: number } {
  let i = start + 1;
  while (i < text.length && text[i] !== '"' && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
  if (i >= text.length || text[i] !== '"') {
    const lineEnd = text.indexOf('\n', start);
    fail('E401', 'unterminated string', span(start, lineEnd < 0 ? text.length : lineEnd), 'close it with `"` on the same line');
  }
  const literal = text.slice(start, i + 1);
  try {
    return { value: JSON.parse(literal) as string, end: i + 1 };
  } catch {
    return fail('E401', `invalid escape in string ${literal}`, span(start, i + 1), 'strings use JSON escapes: \\" \\\\ \\n \\t \\uXXXX');
  }
}

// ---------------------------------------------------------------------------------------
// Parser.

/** Identifiers that are attribute values, not symbolic sizes. */
const VALUE_WORDS = new Map<string, AttrValue>([
  ['true', true],
  ['false', false],
  ['null', null],
  ['Infinity', Infinity],
  ['NaN', NaN],
]);

class IrParser {
  private readonly toks: Tok[];
  private readonly source: SourceFile;
  private pos = 0;

  constructor(
    text: string,
    private readonly path: string,
  ) {
    this.source = new SourceFile(path, text);
    this.toks = lex(text, path);
  }

  // --- token helpers --------------------------------------------------------------------

  private get tok(): Tok {
    return this.toks[this.pos];
  }

  private next(): Tok {
    const t = this.toks[this.pos];
    if (t.kind !== 'eof') this.pos++;
    return t;
  }

  private span(start: number, end = this.toks[this.pos - 1]?.end ?? start): Span {
    return this.source.span(start, end);
  }

  private isPunct(p: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === p;
  }

  private isWord(w: string): boolean {
    return this.tok.kind === 'name' && this.tok.text === w;
  }

  private accept(p: string): boolean {
    if (!this.isPunct(p)) return false;
    this.pos++;
    return true;
  }

  private expect(p: string, context: string, hint?: string): Tok {
    if (!this.isPunct(p)) this.error(`expected '${p}' ${context}, found ${describe(this.tok)}`, hint);
    return this.next();
  }

  private expectWord(w: string, context: string, hint?: string): Tok {
    if (!this.isWord(w)) this.error(`expected '${w}' ${context}, found ${describe(this.tok)}`, hint);
    return this.next();
  }

  private error(message: string, hint?: string, tok = this.tok): never {
    return fail('E401', message, this.span(tok.start, Math.max(tok.end, tok.start + 1)), hint);
  }

  /** `line:col` of an offset, for hints that point at a second place. */
  private where(offset: number): string {
    const { line, col } = this.source.position(offset);
    return `${line}:${col}`;
  }

  /** A declaration name: a dotted identifier or a quoted string. */
  private name(what: string): Tok {
    if (this.tok.kind !== 'name' && this.tok.kind !== 'string') this.error(`expected ${what}, found ${describe(this.tok)}`);
    return this.next();
  }

  private integer(what: string): number {
    const neg = this.accept('-');
    if (this.tok.kind !== 'number') this.error(`expected ${what}, found ${describe(this.tok)}`);
    const t = this.next();
    const v = Number(t.text) * (neg ? -1 : 1);
    if (!Number.isInteger(v)) this.error(`${what} must be a whole number, got ${t.text}`, undefined, t);
    return v;
  }

  // --- module ---------------------------------------------------------------------------

  module(): Module {
    this.header();
    const m: Module = { name: this.name('the model name after `model`').text, dims: [], weights: [], funcs: [] };
    while (this.tok.kind !== 'eof') {
      if (this.isWord('dim')) m.dims.push(this.dimDecl());
      else if (this.isWord('weight')) m.weights.push(this.weightDecl());
      else if (this.isWord('func')) m.funcs.push(this.func());
      else this.error(`expected 'dim', 'weight' or 'func', found ${describe(this.tok)}`);
    }
    return m;
  }

  private header(): void {
    const hint = `IR text starts with 'moec.ir ${IR_VERSION}' and then 'model NAME'`;
    this.expectWord('moec.ir', 'at the start of IR text', hint);
    if (this.tok.kind !== 'number') this.error(`expected the format version after 'moec.ir', found ${describe(this.tok)}`, hint);
    const v = this.next();
    if (Number(v.text) !== IR_VERSION) this.error(`unsupported IR format version ${v.text}`, `this moec reads version ${IR_VERSION}`, v);
    this.expectWord('model', "after 'moec.ir'", hint);
  }

  /** `dim T <= 64` */
  private dimDecl(): DimDecl {
    const start = this.next().start;
    const d: DimDecl = { name: this.name('a dim name').text };
    if (this.accept('<=')) d.max = this.integer('the largest value of the dim');
    d.span = this.span(start);
    return d;
  }

  /** `weight name: type [from "pattern" [axes(i=3, e=0)]]` */
  private weightDecl(): WeightDecl {
    const start = this.next().start;
    const name = this.name('a weight name').text;
    this.expect(':', 'and a type after the weight name');
    const w: WeightDecl = { name, type: this.type() };
    if (this.isWord('from')) {
      this.next();
      if (this.tok.kind !== 'string') this.error(`expected the checkpoint name pattern (a string) after 'from', found ${describe(this.tok)}`);
      const source: WeightSource = { pattern: this.next().text, axes: [] };
      if (this.isWord('axes')) {
        this.next();
        this.expect('(', "after 'axes'");
        do {
          const axis = this.name('a placeholder name').text;
          this.expect('=', 'after the placeholder name', 'axes are written name=start, e.g. axes(i=3, e=0)');
          source.axes.push({ name: axis, start: this.integer('the index of the first slice') });
        } while (this.accept(','));
        this.expect(')', 'to close the axes list');
      }
      w.source = source;
    }
    w.span = this.span(start);
    return w;
  }

  // --- functions ------------------------------------------------------------------------

  /** `func name(%p: type, ...) { nodes... return r = %v, ... }` */
  private func(): Func {
    this.next();
    const nameTok = this.name('a function name');
    const f: Func = { name: nameTok.text, params: [], body: [], results: [], span: this.span(nameTok.start, nameTok.end) };
    const scope = new Map<string, Value>();
    this.expect('(', 'after the function name');
    if (!this.isPunct(')'))
      do {
        const v = this.valueName('a parameter');
        this.expect(':', 'and a type after the parameter name');
        f.params.push(this.define(scope, v, this.type(), f.name));
      } while (this.accept(','));
    this.expect(')', 'to close the parameter list');
    this.expect('{', 'to open the function body');
    while (!this.isWord('return')) {
      if (this.isPunct('}') || this.tok.kind === 'eof') this.error(`expected 'return' before the end of func ${f.name}`, 'every function ends with `return name = %value, ...` (or a bare `return`)');
      f.body.push(this.node(scope, f.name));
    }
    this.next();
    f.results = this.results(scope, f.name);
    this.expect('}', `after the return of func ${f.name}`, '`return` is the last statement of a function');
    return f;
  }

  private results(scope: Map<string, Value>, func: string): FuncResult[] {
    const out: FuncResult[] = [];
    if (this.isPunct('}')) return out;
    do {
      const name = this.name('a result name').text;
      this.expect('=', 'after the result name', 'results are written `return name = %value`');
      out.push({ name, value: this.use(scope, func) });
    } while (this.accept(','));
    return out;
  }

  /** `%a, %b = op(%x, ...) {k=v, ...} : type, type` or, without outputs, `op(...) {...}`. */
  private node(scope: Map<string, Value>, func: string): Node {
    const start = this.tok.start;
    const outNames: Tok[] = [];
    if (this.tok.kind === 'value') {
      do outNames.push(this.valueName('a result value'));
      while (this.accept(','));
      this.expect('=', 'after the result values', 'a node is written `%out = op(%in, ...) {attrs} : type`');
    }
    if (this.tok.kind !== 'name') this.error(`expected an op name, found ${describe(this.tok)}`);
    const op = this.next().text;
    const inputs = this.operands(scope, func);
    const attrs = this.isPunct('{') ? this.attrs() : {};
    const types = this.resultTypes(op, outNames.length);
    const span = this.span(start);
    const outputs = outNames.map((t, i) => this.define(scope, t, types[i], func));
    return { op, inputs, attrs: withDefaults(op, attrs), outputs, span };
  }

  private operands(scope: Map<string, Value>, func: string): Value[] {
    this.expect('(', 'after the op name', 'a node is written `%out = op(%in, ...) {attrs} : type`');
    const inputs: Value[] = [];
    if (!this.isPunct(')'))
      do inputs.push(this.use(scope, func));
      while (this.accept(','));
    this.expect(')', 'to close the operand list');
    return inputs;
  }

  private resultTypes(op: string, count: number): TensorType[] {
    if (count === 0) return [];
    this.expect(':', `and the result types after the operands and attributes of ${op}`, 'a node with results ends with `: type, ...`, one type per result');
    const start = this.tok;
    const types: TensorType[] = [];
    do types.push(this.type());
    while (this.accept(','));
    if (types.length !== count)
      this.error(`${count} result value${count === 1 ? '' : 's'} but ${types.length} type${types.length === 1 ? '' : 's'}`, 'give one type per result value', start);
    return types;
  }

  /** `{key=value, ...}` */
  private attrs(): Attrs {
    this.next();
    const attrs: Attrs = {};
    if (!this.isPunct('}'))
      do {
        const key = this.name('an attribute name');
        if (Object.hasOwn(attrs, key.text)) this.error(`attribute '${key.text}' is given twice`, undefined, key);
        this.expect('=', 'after the attribute name', 'attributes are written {name=value, ...}');
        // defineProperty, so even a key like `__proto__` is stored as a plain attribute.
        Object.defineProperty(attrs, key.text, { value: this.attrValue(), enumerable: true, writable: true, configurable: true });
      } while (this.accept(','));
    this.expect('}', 'to close the attributes');
    return attrs;
  }

  private attrValue(): AttrValue {
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
    return this.error(`expected an attribute value, found ${describe(t)}`, 'values are numbers, "strings", true, false, null, sizes like 2*T+1, or [lists]');
  }

  // --- types and sizes ------------------------------------------------------------------

  /** `f32[T, 8]` */
  private type(): TensorType {
    const t = this.tok;
    if (t.kind !== 'name') this.error(`expected a type such as f32[T, 8], found ${describe(t)}`);
    if (!isDType(t.text)) this.error(`unknown dtype '${t.text}'`, didYouMean(t.text, DTYPES) ?? `dtypes are ${DTYPES.join(', ')}`);
    this.next();
    const quant = this.isPunct('(') ? this.quant() : undefined;
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
      const key = this.name('group= or axis=').text;
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
  private dim(wholeOnly: boolean): Dim {
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
    if (this.tok.kind !== 'name' || VALUE_WORDS.has(this.tok.text)) this.error(`expected a size (a number or a dim name), found ${describe(this.tok)}`);
    return this.next().text;
  }

  // --- values ---------------------------------------------------------------------------

  private valueName(what: string): Tok {
    if (this.tok.kind !== 'value') this.error(`expected ${what} (%name), found ${describe(this.tok)}`);
    return this.next();
  }

  /** Defines a value in the function's scope; a second definition of a name is an error. */
  private define(scope: Map<string, Value>, t: Tok, type: TensorType, func: string): Value {
    const prev = scope.get(t.text);
    if (prev) this.error(`%${t.text} is defined twice in func ${func}`, `its first definition is at ${this.where(prev.span!.start)}; rename one of them`, t);
    const v = new Value(t.text, type, this.span(t.start, t.end));
    scope.set(t.text, v);
    return v;
  }

  /** A reference to a value defined above it in the same function. */
  private use(scope: Map<string, Value>, func: string): Value {
    const t = this.valueName('a value');
    const v = scope.get(t.text);
    if (!v) {
      const guess = didYouMean(t.text, scope.keys());
      this.error(
        `undefined value %${t.text} in func ${func}`,
        `${guess ? `${guess.replace('`', '`%')} ` : ''}a value is defined by a parameter or an earlier node before it is used`,
        t,
      );
    }
    return v;
  }
}

/** Fills attributes left at their defaults, as the builder does; bad ones stay for the verifier. */
function withDefaults(op: string, attrs: Attrs): Attrs {
  const spec = getOp(op);
  if (!spec) return attrs;
  try {
    return resolveAttrs(spec, attrs);
  } catch (e) {
    if (e instanceof OpError) return attrs;
    throw e;
  }
}

function describe(t: Tok): string {
  switch (t.kind) {
    case 'eof':
      return 'the end of the text';
    case 'value':
      return `%${t.text}`;
    case 'string':
      return JSON.stringify(t.text);
    default:
      return `'${t.text}'`;
  }
}
