/**
 * @fileoverview Reading a `.moe` file: lex, parse, build the AST, and turn every lexical and
 * syntax error into a diagnostic with a precise span and, where one helps, a hint.
 *
 * All errors of a file are reported together, in source order, as one `MoecError`. Syntax
 * errors are found one statement at a time: after each, the broken statement is dropped and
 * the rest parsed again (see `recoveryRegion`), so every report comes from a parser that was
 * in step with the text. No input makes this throw anything but a `MoecError`.
 */
import { EOF, tokenMatcher, type CstNode, type IToken, type TokenType } from 'chevrotain';
import { didYouMean, MAX_DIAGNOSTICS, MoecError, type Diagnostic } from '../../ir/diagnostics.ts';
import { SourceFile, type Span } from '../../ir/source.ts';
import type { FileAst } from './ast.ts';
import { cstToAst } from './cst-to-ast.ts';
import { parseTokens, type SyntaxErrorInfo } from './parser.ts';
import * as T from './tokens.ts';

/**
 * The deepest nesting of parentheses, brackets and unary minus accepted. chevrotain
 * recurses through every expression rule at each bracket and takes about 4 KB of stack per
 * level, so with Node's default stack it overflows somewhere past 200 levels (fewer before
 * the JIT warms up); 100 leaves room for the caller and for passes that recurse over the
 * AST. No real model comes close.
 */
export const MAX_NESTING = 100;

/**
 * The most text a `.moe` file may hold, in characters. Real models are a few KB (an
 * imported 61-layer decoder is under 10 KB: layers are a `repeat`, not copies); parsing
 * takes about 1 KB of memory per token, so an unbounded file (10 MB of `1+1+...`) ran the
 * heap out. This and `MAX_TOKENS` keep the worst case near a second and 200 MB.
 */
export const MAX_SOURCE_CHARS = 1 << 20;
/** The most tokens a `.moe` file may hold (see `MAX_SOURCE_CHARS`). */
export const MAX_TOKENS = 200_000;

/** Syntax errors reported per file before giving up. */
const MAX_SYNTAX_ERRORS = 20;

/** Parses a `.moe` source file into its AST, or throws one `MoecError` with every error found. */
export function parseSource(src: SourceFile): FileAst {
  if (src.text.length > MAX_SOURCE_CHARS) {
    throw new MoecError({
      code: 'E104',
      message: `the file is ${src.text.length} characters long; a .moe file holds at most ${MAX_SOURCE_CHARS}`,
      span: src.span(MAX_SOURCE_CHARS, MAX_SOURCE_CHARS + 1),
      hint: 'write repeated layers once, as a `block` called by `repeat(N)`',
    });
  }
  const lexed = T.moeLexer.tokenize(src.text);
  const over = lexed.tokens[MAX_TOKENS];
  if (over) {
    throw new MoecError({
      code: 'E104',
      message: `more than ${MAX_TOKENS} tokens in one .moe file`,
      span: tokenSpan(src, over),
      hint: 'write repeated layers once, as a `block` called by `repeat(N)`',
    });
  }
  const unterminated = lexed.groups[T.ERROR_GROUP] ?? [];
  const diagnostics = lexicalDiagnostics(src, lexed.tokens, lexed.errors, unterminated);
  const echoes = { dropped: lexed.errors.map((e) => e.offset), unterminatedComment: unterminated.length > 0 };
  const cst = new SyntaxPass(src, lexed.tokens, diagnostics, echoes).run();
  if (diagnostics.length > 0) {
    diagnostics.sort((a, b) => (a.span?.start ?? Infinity) - (b.span?.start ?? Infinity));
    throw new MoecError(diagnostics.slice(0, MAX_DIAGNOSTICS));
  }
  if (!cst) throw new Error('internal error: no syntax tree and no diagnostics');
  try {
    return cstToAst(cst, src);
  } catch (e) {
    if (e instanceof RangeError) throw new MoecError(tooDeep(src, lexed.tokens));
    throw e;
  }
}

/** `parseSource` for text in memory. */
export function parseText(path: string, text: string): FileAst {
  return parseSource(new SourceFile(path, text));
}

// ---------------------------------------------------------------------------------------
// Lexical errors

interface LexError {
  offset: number;
  length: number;
}

/** Diagnostics for characters that lex as nothing, unterminated strings and comments, bad escapes and numbers. */
function lexicalDiagnostics(src: SourceFile, tokens: IToken[], errors: LexError[], errorTokens: IToken[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const e of errors) {
    const chars = src.text.slice(e.offset, e.offset + e.length);
    // A run of a million bad characters is named by its start, not copied into the message.
    const shown = [...chars.slice(0, 2 * MAX_SHOWN_CHARS)];
    const named = shown.length > MAX_SHOWN_CHARS ? `${describeChars(shown.slice(0, MAX_SHOWN_CHARS).join(''))}...` : describeChars(chars);
    out.push({
      code: 'E101',
      message: `unexpected character${shown.length > 1 ? 's' : ''} ${named}`,
      span: src.span(e.offset, e.offset + e.length),
      hint: charHint(chars),
    });
  }
  for (const t of errorTokens) {
    // The only token in the error group: a block comment that never ends.
    out.push({
      code: 'E103',
      message: 'unterminated block comment',
      span: src.span(t.startOffset, t.startOffset + 2),
      hint: 'close it with `*/`',
    });
  }
  for (const t of tokens) {
    if (t.tokenType === T.UnterminatedString) {
      out.push({
        code: 'E103',
        message: 'unterminated string',
        span: tokenSpan(src, t),
        hint: 'a string ends with `"` on the same line',
      });
    } else if (t.tokenType === T.StringToken) {
      for (const m of t.image.matchAll(/\\(.)/g)) {
        if (m[1] === '"' || m[1] === '\\') continue;
        const start = t.startOffset + (m.index ?? 0);
        out.push({
          code: 'E101',
          message: `unknown escape '${m[0]}' in a string`,
          span: src.span(start, start + m[0].length),
          hint: 'the only escapes are `\\"` and `\\\\`',
        });
      }
    } else if (t.tokenType === T.BadNumber) {
      out.push({
        code: 'E102',
        message: `malformed number '${t.image}'`,
        span: tokenSpan(src, t),
        hint: /^[\d.]+[eE]/.test(t.image)
          ? 'an exponent needs digits, as in `1e-6`'
          : 'a name cannot start with a digit; to multiply, write `2 * x`',
      });
    }
  }
  return out;
}

/** How many of a run of unexpected characters a message shows. */
const MAX_SHOWN_CHARS = 16;

/** `'@'`, `'é' (U+00E9)`, `U+0000`. */
function describeChars(chars: string): string {
  if (/^[\x21-\x7e]+$/.test(chars)) return `'${chars}'`;
  const codes = [...chars].map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`);
  const visible = /^[\p{L}\p{N}\p{P}\p{S}]+$/u.test(chars);
  return visible ? `'${chars}' (${codes.join(' ')})` : codes.join(' ');
}

function charHint(chars: string): string | undefined {
  const c = chars[0];
  if (c === ';') return 'statements need no separator; remove the `;`';
  if (c === '@') return 'write a matrix product as `matmul(a, b)`';
  if (c === '#') return 'comments start with `//`';
  if (c === "'") return 'strings use double quotes';
  if (c === '<') return 'the only comparison is `<=`, in `dim T <= N`';
  if ('>!&|^~?'.includes(c)) return '`.moe` has no comparison, logical or bitwise operators';
  if (/\p{L}/u.test(c)) return 'names use only ASCII letters, digits and `_`';
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Syntax errors

/** Token types a statement or file-level declaration can begin with. */
const STATEMENT_STARTS: TokenType[] = [T.Dim, T.Const, T.Input, T.Weight, T.Output, T.Return, T.Block, T.Model];
/** Token types that can begin an expression (for "is a `,` missing?"). */
const EXPRESSION_STARTS: TokenType[] = [
  T.Identifier, T.NumberLit, T.StringLit, T.True, T.False, T.DType, T.LParen, T.LBracket, T.Repeat, T.Minus,
];
const FILE_LEVEL_STARTS: TokenType[] = [T.Dim, T.Const, T.Block, T.Model];
const OPENERS = new Map<TokenType, TokenType>([[T.LParen, T.RParen], [T.LBracket, T.RBracket], [T.LCurly, T.RCurly]]);

function isA(t: IToken | undefined, types: TokenType[]): boolean {
  return t !== undefined && types.some((type) => tokenMatcher(t, type));
}

function tokenSpan(src: SourceFile, t: IToken): Span {
  return src.span(t.startOffset, t.startOffset + t.image.length);
}

/**
 * Finds syntax errors one at a time. Each parse stops at its first error; the statement
 * holding it is then cut out of the token list and the rest is parsed again, so a later
 * error is reported only if it is a mistake of its own.
 */
class SyntaxPass {
  constructor(
    private readonly src: SourceFile,
    private readonly lexed: IToken[],
    /** Diagnostics so far; syntax errors are added here. */
    private readonly out: Diagnostic[],
    /** Lexical errors that leave echoes: the offsets of dropped characters, and a comment that ate the rest. */
    private readonly echoes: { dropped: number[]; unterminatedComment: boolean },
  ) {}

  /** The CST when the file parses cleanly (lexical errors aside). */
  run(): CstNode | undefined {
    const deep = findTooDeep(this.lexed);
    if (deep) {
      this.out.push(tooDeep(this.src, this.lexed, deep));
      return undefined;
    }
    let tokens = this.lexed;
    let lastError: IToken | undefined;
    for (let round = 0; round < MAX_SYNTAX_ERRORS; round++) {
      let parsed: ReturnType<typeof parseTokens>;
      try {
        parsed = parseTokens(tokens);
      } catch (e) {
        // A backstop: `findTooDeep` should have caught any input this deep.
        if (!(e instanceof RangeError)) throw e;
        this.out.push(tooDeep(this.src, this.lexed));
        return undefined;
      }
      const error = parsed.error;
      if (!error) return round === 0 ? parsed.cst : undefined;
      const isEof = error.token.tokenType === EOF;
      const index = isEof ? tokens.length : tokens.indexOf(error.token);
      if (index < 0 || error.token === lastError) return undefined;
      lastError = error.token;
      const ctx = new ErrorContext(this.src, tokens, index, error);
      if (!this.isEcho(ctx)) this.out.push(ctx.diagnostic());
      if (isEof) return undefined;
      const [from, to] = ctx.recoveryRegion();
      tokens = [...tokens.slice(0, from), ...tokens.slice(to)];
    }
    return undefined;
  }

  /** Whether a syntax error is a consequence of a lexical one (a dropped character, a comment that ate the rest). */
  private isEcho(ctx: ErrorContext): boolean {
    if (ctx.isEof && this.echoes.unterminatedComment) return true;
    const start = ctx.tokens[ctx.statementStart()]?.startOffset ?? 0;
    const end = ctx.isEof ? Infinity : ctx.token.startOffset + ctx.token.image.length;
    return this.echoes.dropped.some((offset) => offset >= start && offset <= end);
  }
}

/** A syntax error in the token list it was found in, with the reasoning about hints and recovery. */
class ErrorContext {
  readonly token: IToken;
  readonly isEof: boolean;
  /** Depth of `(` and `[` at each token, restarting at braces and at statement keywords. */
  private readonly depth: number[];

  constructor(
    private readonly src: SourceFile,
    readonly tokens: IToken[],
    /** Index of the offending token (`tokens.length` at the end of the input). */
    readonly index: number,
    private readonly error: SyntaxErrorInfo,
  ) {
    this.token = error.token;
    this.isEof = index >= tokens.length;
    this.depth = [];
    let d = 0;
    tokens.forEach((t, i) => {
      if (isA(t, [T.LCurly, T.RCurly]) || (this.firstOnLine(i) && isA(t, STATEMENT_STARTS))) d = 0;
      this.depth.push(d);
      if (isA(t, [T.LParen, T.LBracket])) d++;
      else if (isA(t, [T.RParen, T.RBracket])) d = Math.max(0, d - 1);
    });
  }

  private firstOnLine(i: number): boolean {
    const prev = this.tokens[i - 1];
    return !prev || (prev.endLine ?? 0) < (this.tokens[i].startLine ?? 0);
  }

  private lastOnLine(i: number): boolean {
    const next = this.tokens[i + 1];
    return !next || (next.startLine ?? 0) > (this.tokens[i].endLine ?? 0);
  }

  /** Where the offending token is, or, at the end of the input, just after the last token. */
  private span(): Span {
    if (!this.isEof) return tokenSpan(this.src, this.token);
    const last = this.tokens[this.tokens.length - 1];
    const end = last ? last.startOffset + last.image.length : this.src.text.length;
    return this.src.span(end, end + 1);
  }

  diagnostic(): Diagnostic {
    // `wieght w: f32[E]` parses as the start of a binding `wieght = ...`: say what it likely is.
    const start = this.statementStart();
    const first = this.tokens[start];
    if (this.rule() === 'bind' && this.index === start + 1 && first && !isA(this.token, [T.Equals, T.Comma])) {
      const hint = didYouMean(first.image, T.STATEMENT_KEYWORDS);
      if (hint) return { code: 'E102', message: `unknown statement '${first.image}'`, span: tokenSpan(this.src, first), hint };
    }
    const hint = this.hint();
    return { code: 'E102', message: this.error.message, span: this.span(), ...(hint ? { hint } : {}) };
  }

  /** The innermost rule being parsed; `file` when the error is between declarations. */
  private rule(): string {
    return this.error.ruleStack[this.error.ruleStack.length - 1] ?? 'file';
  }

  private expects(type: TokenType): boolean {
    return this.error.expected.includes(type);
  }

  private hint(): string | undefined {
    const t = this.token;
    const prev = this.tokens[this.index - 1];
    const next = this.tokens[this.index + 1];
    if (this.isEof) return this.unclosedHint();
    const keywordHint = `\`${t.image}\` is a keyword; pick another name`;
    if (isA(t, [T.Keyword])) {
      if (this.expects(T.Identifier) && this.error.expected.length === 1) return keywordHint;
      if (isA(next, [T.Equals, T.Comma]) && (this.atBoundary() || this.rule() === 'primary')) return keywordHint;
      if (this.rule() === 'primary' && prev && prev.startLine === t.startLine) return keywordHint;
    }
    if (this.rule() === 'file' && isA(t, [T.Identifier])) return didYouMean(t.image, T.FILE_KEYWORDS);
    if (isA(t, [T.Equals]) && (isA(prev, [T.Equals]) || isA(next, [T.Equals]))) {
      return '`.moe` has no `==`; a binding is written with a single `=`';
    }
    if (this.expects(T.RParen) || this.expects(T.RBracket)) {
      if (prev && prev.startLine === t.startLine && isA(t, EXPRESSION_STARTS)) {
        return `is a \`,\` missing before \`${t.image}\`?`;
      }
      return this.unclosedHint();
    }
    if (this.atBoundary()) {
      if (isA(t, [T.Model, T.Block])) return this.unclosedHint();
      const opener = { '}': '{', ')': '(', ']': '[' }[t.image];
      if (opener && !this.unclosedOpener()) return `this \`${t.image}\` has no matching \`${opener}\``;
    }
    return undefined;
  }

  /** `the '{' opened at line 3 is not closed`, for the innermost bracket still open. */
  private unclosedHint(): string | undefined {
    const open = this.unclosedOpener();
    if (!open) return undefined;
    const { line } = this.src.position(open.startOffset);
    return `the \`${open.image}\` opened at line ${line} is not closed`;
  }

  private unclosedOpener(): IToken | undefined {
    const stack: IToken[] = [];
    for (const t of this.tokens.slice(0, this.index)) {
      if (OPENERS.has(t.tokenType)) stack.push(t);
      else if (isA(t, [T.RParen, T.RBracket, T.RCurly])) {
        let i = stack.length - 1;
        while (i >= 0 && OPENERS.get(stack[i].tokenType) !== t.tokenType) i--;
        if (i >= 0) stack.length = i;
      }
    }
    return stack[stack.length - 1];
  }

  /** Whether the error is between statements or declarations, not inside one. */
  private atBoundary(): boolean {
    const rule = this.rule();
    return rule === 'file' || ((rule === 'model' || rule === 'block') && this.expects(T.RCurly));
  }

  /**
   * Whether token `i` can start a statement (or end a body). Statements are written one per
   * line, so: first on its line, a keyword that starts a statement; or, also outside
   * brackets, a name followed by `=`, `,` or another name (a misspelt keyword), or a keyword
   * misused as such a name. A `}` counts unless more follows it on its line (then it is a
   * stray one inside a statement), and so do the end of the input and, anywhere, the start
   * of a model or block (`model NAME {`, `block NAME(`).
   */
  private startsStatement(i: number): boolean {
    const t = this.tokens[i];
    if (!t) return true;
    if (isA(t, [T.RCurly])) return this.firstOnLine(i) || this.lastOnLine(i);
    const next = this.tokens[i + 1];
    if (isA(t, [T.Model, T.Block]) && isA(next, [T.Identifier]) && isA(this.tokens[i + 2], [T.LCurly, T.LParen])) {
      return true;
    }
    if (!this.firstOnLine(i)) return false;
    if (isA(t, STATEMENT_STARTS)) return true;
    if (this.depth[i] !== 0) return false;
    if (isA(t, [T.Identifier])) return isA(next, [T.Equals, T.Comma, T.Identifier]);
    return isA(t, [T.Keyword]) && isA(next, [T.Equals, T.Comma]);
  }

  /** The index of the first token of the statement holding the error. */
  statementStart(): number {
    if (this.atBoundary()) return this.index;
    // Not before the innermost open `{`: the statement is inside that body.
    let floor = -1;
    for (let i = this.index - 1; i >= 0; i--) {
      if (isA(this.tokens[i], [T.LCurly])) {
        floor = i;
        break;
      }
      if (isA(this.tokens[i], [T.RCurly])) break;
    }
    for (let i = this.index - 1; i > floor; i--) if (this.startsStatement(i)) return i;
    return floor + 1;
  }

  /**
   * The tokens `[from, to)` to cut before parsing again: from the start of the broken
   * statement to the next statement start. If the error is at a statement start, the
   * statement before it was left unfinished and is cut alone. A broken `model` or `block`
   * header takes its whole body with it, which would otherwise read as file-level text.
   */
  recoveryRegion(): [number, number] {
    const from = this.statementStart();
    if (this.rule() === 'file') return [from, this.nextDeclaration(from)];
    let to = this.index;
    if (this.atBoundary() || !this.startsStatement(this.index)) {
      to = this.index + 1;
      while (to < this.tokens.length && !this.startsStatement(to)) to++;
    }
    if (!this.atBoundary() && isA(this.tokens[from], [T.Model, T.Block])) to = Math.max(to, this.itemEnd(from));
    return [from, Math.max(to, from + 1)];
  }

  /**
   * The index just past the `model` or `block` starting at `start`: past the `}` matching
   * its first `{`, or, if no body opens first, at the next declaration that starts a line.
   */
  private itemEnd(start: number): number {
    let braces = 0;
    for (let i = start + 1; i < this.tokens.length; i++) {
      const t = this.tokens[i];
      if (isA(t, [T.LCurly])) braces++;
      else if (isA(t, [T.RCurly]) && braces > 0 && --braces === 0) return i + 1;
      else if (braces === 0 && isA(t, FILE_LEVEL_STARTS) && this.firstOnLine(i)) return i;
    }
    return this.tokens.length;
  }

  /** After junk between declarations: the next `dim`, `const`, `block` or `model` outside braces. */
  private nextDeclaration(start: number): number {
    let braces = 0;
    for (let i = start + 1; i < this.tokens.length; i++) {
      const t = this.tokens[i];
      if (isA(t, [T.LCurly])) braces++;
      else if (isA(t, [T.RCurly])) braces = Math.max(0, braces - 1);
      else if (braces === 0 && isA(t, FILE_LEVEL_STARTS)) return i;
    }
    return this.tokens.length;
  }
}

// ---------------------------------------------------------------------------------------
// Nesting depth

/**
 * The first token nested deeper than `MAX_NESTING` levels, if any. A level is a `(` or `[`,
 * a unary `-` in a run of them, or a `.field` in a chain of them (the parser loops over
 * those, but the AST nests, and so does any pass that recurses over it: `x.a.a...` 10,000
 * long overflowed the stack in lowering). Braces do not nest in the grammar.
 */
function findTooDeep(tokens: IToken[]): IToken | undefined {
  let depth = 0;
  let minusRun = 0;
  let memberRun = 0;
  let prev: IToken | undefined;
  for (const t of tokens) {
    minusRun = isA(t, [T.Minus]) ? minusRun + 1 : 0;
    if (isA(t, [T.Dot])) memberRun++;
    else if (!(isA(t, [T.Identifier]) && isA(prev, [T.Dot]))) memberRun = 0;
    prev = t;
    if (isA(t, [T.LCurly, T.RCurly])) depth = 0;
    else if (isA(t, [T.LParen, T.LBracket])) depth++;
    else if (isA(t, [T.RParen, T.RBracket])) depth = Math.max(0, depth - 1);
    if (depth + minusRun + memberRun > MAX_NESTING) return t;
  }
  return undefined;
}

/** The diagnostic for nesting too deep, at `at` or else at the deepest-nested bracket. */
function tooDeep(src: SourceFile, tokens: IToken[], at?: IToken): Diagnostic {
  let where = at;
  if (!where) {
    let depth = 0;
    let best = -1;
    for (const t of tokens) {
      if (isA(t, [T.LCurly, T.RCurly])) depth = 0;
      else if (isA(t, [T.LParen, T.LBracket]) && ++depth > best) {
        best = depth;
        where = t;
      } else if (isA(t, [T.RParen, T.RBracket])) depth = Math.max(0, depth - 1);
    }
  }
  return {
    code: 'E102',
    message: 'expression nested too deeply',
    ...(where ? { span: tokenSpan(src, where) } : {}),
    hint: `at most ${MAX_NESTING} levels of parentheses, brackets, unary minus and \`.field\` are allowed; name the parts with bindings`,
  };
}
