/**
 * @fileoverview Reads the canonical IR text of `print.ts` (the format is documented there)
 * back into a `Module`, so pass tests can be written as before/expected text and dumps can
 * be reloaded. A hand-written recursive-descent parser on the lexer and reading rules it
 * shares with the kernel IR (`text-reader.ts`): the format is small and line-shaped, and
 * exact positions matter more than grammar tooling.
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
import { MoecError, didYouMean } from '../diagnostics.ts';
import { SourceFile } from '../source.ts';
import type { Attrs, DimDecl, Func, FuncResult, Module, Node, WeightDecl, WeightSource } from './graph.ts';
import { Value } from './graph.ts';
import { OpError, getOp, resolveAttrs } from './ops.ts';
import { IR_VERSION } from './print.ts';
import type { TensorType } from '../types.ts';
import { TextReader, type Tok } from './text-reader.ts';
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
// Parser.

const PUNCT = ['<=', '(', ')', '[', ']', '{', '}', ',', ':', '=', '*', '+', '-'];

class IrParser extends TextReader {
  constructor(text: string, path: string) {
    super(text, path, { lex: { punct: PUNCT, values: true }, quantTypes: true, eof: 'the end of the text' });
  }

  /** `line:col` of an offset, for hints that point at a second place. */
  private where(offset: number): string {
    const { line, col } = this.source.position(offset);
    return `${line}:${col}`;
  }

  // --- module ---------------------------------------------------------------------------

  module(): Module {
    this.header();
    const m: Module = { name: this.name('the model name after `model`'), dims: [], weights: [], funcs: [] };
    while (this.tok.kind !== 'eof') {
      if (this.isWord('dim')) m.dims.push(this.dimDecl());
      else if (this.isWord('weight')) m.weights.push(this.weightDecl());
      else if (this.isWord('func')) m.funcs.push(this.func());
      else this.error(`expected 'dim', 'weight' or 'func', found ${this.describe(this.tok)}`);
    }
    return m;
  }

  private header(): void {
    const hint = `IR text starts with 'moec.ir ${IR_VERSION}' and then 'model NAME'`;
    this.expectWord('moec.ir', 'at the start of IR text', hint);
    if (this.tok.kind !== 'number') this.error(`expected the format version after 'moec.ir', found ${this.describe(this.tok)}`, hint);
    const v = this.next();
    if (Number(v.text) !== IR_VERSION) this.error(`unsupported IR format version ${v.text}`, `this moec reads version ${IR_VERSION}`, v);
    this.expectWord('model', "after 'moec.ir'", hint);
  }

  /** `dim T <= 64` */
  private dimDecl(): DimDecl {
    const start = this.next().start;
    const d: DimDecl = { name: this.name('a dim name') };
    if (this.accept('<=')) d.max = this.integer('the largest value of the dim');
    d.span = this.span(start);
    return d;
  }

  /** `weight name: type [from "pattern" [axes(i=3, e=0)]]` */
  private weightDecl(): WeightDecl {
    const start = this.next().start;
    const name = this.name('a weight name');
    this.expect(':', 'and a type after the weight name');
    const w: WeightDecl = { name, type: this.type() };
    if (this.isWord('from')) {
      this.next();
      if (this.tok.kind !== 'string') this.error(`expected the checkpoint name pattern (a string) after 'from', found ${this.describe(this.tok)}`);
      const source: WeightSource = { pattern: this.next().text, axes: [] };
      if (this.isWord('axes')) {
        this.next();
        this.expect('(', "after 'axes'");
        do {
          const axis = this.name('a placeholder name');
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
    const nameTok = this.nameTok('a function name');
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
      const name = this.name('a result name');
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
    if (this.tok.kind !== 'name') this.error(`expected an op name, found ${this.describe(this.tok)}`);
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
        const key = this.nameTok('an attribute name');
        if (Object.hasOwn(attrs, key.text)) this.error(`attribute '${key.text}' is given twice`, undefined, key);
        this.expect('=', 'after the attribute name', 'attributes are written {name=value, ...}');
        // defineProperty, so even a key like `__proto__` is stored as a plain attribute.
        Object.defineProperty(attrs, key.text, { value: this.attrValue(), enumerable: true, writable: true, configurable: true });
      } while (this.accept(','));
    this.expect('}', 'to close the attributes');
    return attrs;
  }

  // --- values ---------------------------------------------------------------------------

  private valueName(what: string): Tok {
    if (this.tok.kind !== 'value') this.error(`expected ${what} (%name), found ${this.describe(this.tok)}`);
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
