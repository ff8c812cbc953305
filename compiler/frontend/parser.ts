/**
 * @fileoverview The grammar of `.moe` (docs/language.md, "Grammar") as a chevrotain
 * `CstParser`: grammar only, no semantics. It builds a concrete syntax tree that
 * `cst-to-ast.ts` turns into the AST. One parser instance is built, when this module loads,
 * and reused for every file (`parser.input = tokens`). Error messages are worded here, by
 * an `errorMessageProvider`; hints and multi-error recovery are `parse.ts`'s business.
 */
import {
  CstParser,
  EOF,
  type CstNode,
  type IParserErrorMessageProvider,
  type IToken,
  type TokenType,
} from 'chevrotain';
import * as T from './tokens.ts';

/** How a token type is named in a message: `')'`, `an identifier`, `end of file`. */
export function describeTokenType(type: TokenType): string {
  if (type === EOF) return 'end of file';
  return type.LABEL ?? type.name;
}

/** How a token found in the input is named in a message: `'k'`, `"abc"`, `end of file`. */
export function describeToken(token: IToken): string {
  if (token.tokenType === EOF) return 'end of file';
  const image = token.image.length > 24 ? `${token.image.slice(0, 21)}...` : token.image;
  return token.tokenType === T.StringToken || token.tokenType === T.UnterminatedString ? image : `'${image}'`;
}

/** What each rule expects, where "one of these tokens" would be a long and unhelpful list. */
const RULE_EXPECTS: Record<string, string> = {
  file: "'dim', 'const', 'block' or 'model'",
  stmt: 'a statement',
  paramType: "a type, 'int' or 'float'",
  primary: 'an expression',
  returnStmt: 'an expression',
  repeatRange: 'a count or a range',
};

function orList(items: string[]): string {
  const unique = [...new Set(items)];
  if (unique.length <= 1) return unique[0] ?? 'something else';
  return `${unique.slice(0, -1).join(', ')} or ${unique[unique.length - 1]}`;
}

/** What the parser wanted where it failed: the token types it would have accepted, and the rule. */
interface FailureContext {
  expected: TokenType[];
  ruleName: string;
}

/**
 * Messages in moec's style (`expected ')' but found 'k'`). It also notes what was expected at
 * each failing token, which `parseTokens` hands on so that `parse.ts` can choose hints.
 */
class MoeErrorMessages implements IParserErrorMessageProvider {
  /** Keyed by the offending token; cleared before each parse, first failure wins. */
  readonly failures = new Map<IToken, FailureContext>();

  private note(token: IToken, expected: TokenType[], ruleName: string): void {
    if (!this.failures.has(token)) this.failures.set(token, { expected, ruleName });
  }

  buildMismatchTokenMessage({ expected, actual, ruleName }: { expected: TokenType; actual: IToken; ruleName: string }): string {
    this.note(actual, [expected], ruleName);
    // A body ends with `}` and a file with its end, but what is most likely missing is a statement.
    let what = describeTokenType(expected);
    if (expected === T.RCurly && (ruleName === 'model' || ruleName === 'block')) what = "a statement or '}'";
    if (expected === EOF) what = RULE_EXPECTS.file;
    return `expected ${what} but found ${describeToken(actual)}`;
  }

  buildNotAllInputParsedMessage({ firstRedundant, ruleName }: { firstRedundant: IToken; ruleName: string }): string {
    this.note(firstRedundant, [EOF], ruleName);
    return `expected ${RULE_EXPECTS.file} but found ${describeToken(firstRedundant)}`;
  }

  buildNoViableAltMessage({ expectedPathsPerAlt, actual, ruleName }: {
    expectedPathsPerAlt: TokenType[][][];
    actual: IToken[];
    ruleName: string;
  }): string {
    const firsts = expectedPathsPerAlt.flat().map((path) => path[0]);
    this.note(actual[0], firsts, ruleName);
    const what = RULE_EXPECTS[ruleName] ?? orList(firsts.map(describeTokenType));
    return `expected ${what} but found ${describeToken(actual[0])}`;
  }

  buildEarlyExitMessage({ expectedIterationPaths, actual, ruleName }: {
    expectedIterationPaths: TokenType[][];
    actual: IToken[];
    ruleName: string;
  }): string {
    const firsts = expectedIterationPaths.map((path) => path[0]);
    this.note(actual[0], firsts, ruleName);
    const what = RULE_EXPECTS[ruleName] ?? orList(firsts.map(describeTokenType));
    return `expected ${what} but found ${describeToken(actual[0])}`;
  }
}

const messages = new MoeErrorMessages();

/** The `.moe` grammar. Rule names are those of docs/language.md where they exist. */
export class MoeParser extends CstParser {
  constructor() {
    super(T.allTokens, {
      // Off on purpose. Token-level recovery re-syncs on the next identifier, which in a
      // language without statement separators is usually mid-statement, so one mistake
      // echoes as several errors (`ouput y = x` gave five), and re-syncing inside deep
      // nesting overflows the stack (unclosed parentheses 100 deep). `parse.ts` recovers
      // at statement level instead: it drops the broken statement and parses again.
      recoveryEnabled: false,
      errorMessageProvider: messages,
      maxLookahead: 3,
    });
    this.performSelfAnalysis();
  }

  /** file := (dimDecl | constDecl | block | model)* */
  file = this.RULE('file', () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.dimDecl) },
        { ALT: () => this.SUBRULE(this.constDecl) },
        { ALT: () => this.SUBRULE(this.block) },
        { ALT: () => this.SUBRULE(this.model) },
      ]);
    });
  });

  /** model := 'model' IDENT '{' stmt* '}' */
  model = this.RULE('model', () => {
    this.CONSUME(T.Model);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.stmt));
    this.CONSUME(T.RCurly);
  });

  /** block := 'block' IDENT '(' (param (',' param)*)? ')' '{' stmt* '}' */
  block = this.RULE('block', () => {
    this.CONSUME(T.Block);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.param) });
    this.CONSUME(T.RParen);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.stmt));
    this.CONSUME(T.RCurly);
  });

  /** param := IDENT ':' paramType ('=' expr)? */
  param = this.RULE('param', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.paramType);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expr);
    });
  });

  /** paramType := type | 'int' | 'float' */
  paramType = this.RULE('paramType', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.type) },
      { ALT: () => this.CONSUME(T.Int) },
      { ALT: () => this.CONSUME(T.Float) },
    ]);
  });

  /** stmt := dimDecl | constDecl | inputDecl | weightDecl | outputDecl | returnStmt | bind */
  stmt = this.RULE('stmt', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.dimDecl) },
      { ALT: () => this.SUBRULE(this.constDecl) },
      { ALT: () => this.SUBRULE(this.inputDecl) },
      { ALT: () => this.SUBRULE(this.weightDecl) },
      { ALT: () => this.SUBRULE(this.outputDecl) },
      { ALT: () => this.SUBRULE(this.returnStmt) },
      { ALT: () => this.SUBRULE(this.bind) },
    ]);
  });

  /** dimDecl := 'dim' IDENT ('<=' expr)? */
  dimDecl = this.RULE('dimDecl', () => {
    this.CONSUME(T.Dim);
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.LessEquals);
      this.SUBRULE(this.expr);
    });
  });

  /** constDecl := 'const' IDENT '=' expr */
  constDecl = this.RULE('constDecl', () => {
    this.CONSUME(T.Const);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  /** inputDecl := 'input' IDENT ':' type */
  inputDecl = this.RULE('inputDecl', () => {
    this.CONSUME(T.Input);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.type);
  });

  /** weightDecl := 'weight' IDENT ':' type ('from' STRING)? */
  weightDecl = this.RULE('weightDecl', () => {
    this.CONSUME(T.Weight);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.type);
    this.OPTION(() => {
      this.CONSUME(T.From);
      this.CONSUME(T.StringLit);
    });
  });

  /** outputDecl := 'output' IDENT (':' type)? ('=' expr)? */
  outputDecl = this.RULE('outputDecl', () => {
    this.CONSUME(T.Output);
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.SUBRULE(this.type);
    });
    this.OPTION2(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expr);
    });
  });

  /** returnStmt := 'return' expr (',' expr)* */
  returnStmt = this.RULE('returnStmt', () => {
    this.CONSUME(T.Return);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expr) });
  });

  /** bind := IDENT (',' IDENT)* '=' expr */
  bind = this.RULE('bind', () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Identifier) });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  /** type := DTYPE '[' (expr (',' expr)*)? ']' */
  type = this.RULE('type', () => {
    this.CONSUME(T.DType);
    // A quantized weight's scale group and axis: `i4(group=32)[...]` (see ir/quant-type.ts).
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) });
      this.CONSUME(T.RParen);
    });
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expr) });
    this.CONSUME(T.RBracket);
  });

  /**
   * expr := additive; additive := multiplicative (('+' | '-') multiplicative)*
   * One rule for both: every level of parentheses recurses through each expression rule,
   * and chevrotain's rules take a lot of stack (see `MAX_NESTING` in parse.ts).
   */
  expr = this.RULE('expr', () => {
    this.SUBRULE(this.multiplicative);
    this.MANY(() => {
      this.CONSUME(T.AdditiveOp);
      this.SUBRULE2(this.multiplicative);
    });
  });

  /** multiplicative := unary (('*' | '/' | '%') unary)* */
  multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary);
    this.MANY(() => {
      this.CONSUME(T.MultiplicativeOp);
      this.SUBRULE2(this.unary);
    });
  });

  /** unary := '-' unary | postfix, written as a loop: `- - x` nests without recursing. */
  unary = this.RULE('unary', () => {
    this.MANY(() => this.CONSUME(T.Minus));
    this.SUBRULE(this.postfix);
  });

  /** postfix := primary ('.' IDENT)* */
  postfix = this.RULE('postfix', () => {
    this.SUBRULE(this.primary);
    this.MANY(() => {
      this.CONSUME(T.Dot);
      this.CONSUME(T.Identifier);
    });
  });

  /** primary := NUMBER | STRING | 'true' | 'false' | DTYPE | list | '(' expr ')' | repeat | call | IDENT */
  primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLit) },
      { ALT: () => this.CONSUME(T.StringLit) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.CONSUME(T.DType) },
      { ALT: () => this.SUBRULE(this.list) },
      {
        // Inlined rather than a rule of its own: each level of parentheses costs stack.
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expr);
          this.CONSUME(T.RParen);
        },
      },
      { ALT: () => this.SUBRULE(this.repeat) },
      // `f(` is a call, a lone `f` a name: the longer alternative goes first.
      { ALT: () => this.SUBRULE(this.call) },
      { ALT: () => this.CONSUME(T.Identifier) },
    ]);
  });

  /** list := '[' (expr (',' expr)*)? ']' */
  list = this.RULE('list', () => {
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expr) });
    this.CONSUME(T.RBracket);
  });

  /** call := IDENT '(' (arg (',' arg)*)? ')' ('as' IDENT)? ('from' STRING)? */
  call = this.RULE('call', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) });
    this.CONSUME(T.RParen);
    this.OPTION(() => {
      this.CONSUME(T.As);
      this.CONSUME2(T.Identifier);
    });
    this.OPTION2(() => {
      this.CONSUME(T.From);
      this.CONSUME(T.StringLit);
    });
  });

  /** arg := (IDENT '=')? expr */
  arg = this.RULE('arg', () => {
    this.OPTION(() => {
      this.CONSUME(T.Identifier);
      this.CONSUME(T.Equals);
    });
    this.SUBRULE(this.expr);
  });

  /** repeat := 'repeat' '(' repeatRange ')' call */
  repeat = this.RULE('repeat', () => {
    this.CONSUME(T.Repeat);
    this.CONSUME(T.LParen);
    this.SUBRULE(this.repeatRange);
    this.CONSUME(T.RParen);
    this.SUBRULE(this.call);
  });

  /** repeatRange := IDENT '=' expr '..' expr | expr */
  repeatRange = this.RULE('repeatRange', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.CONSUME(T.Equals);
          this.SUBRULE(this.expr);
          this.CONSUME(T.DotDot);
          this.SUBRULE2(this.expr);
        },
      },
      { ALT: () => this.SUBRULE3(this.expr) },
    ]);
  });
}

/** The one parser instance (building one runs a grammar analysis; reuse is the fast path). */
export const moeParser = new MoeParser();

/** The first syntax error of a parse, with what was expected there. */
export interface SyntaxErrorInfo {
  /** The offending token; its type is chevrotain's `EOF` at the end of the input. */
  token: IToken;
  /** Worded by the message provider above: `expected ')' but found 'k'`. */
  message: string;
  /** The rules being parsed, outermost first (`file`, `model`, `stmt`, `bind`, ...). */
  ruleStack: string[];
  /** The token types that would have been accepted instead. */
  expected: TokenType[];
}

/**
 * Parses a whole file, stopping at the first syntax error. The CST is complete exactly
 * when there is no error.
 */
export function parseTokens(tokens: IToken[]): { cst?: CstNode; error?: SyntaxErrorInfo } {
  messages.failures.clear();
  moeParser.input = tokens;
  const cst = moeParser.file();
  // Without recovery the parser stops at its first error.
  const [first] = moeParser.errors;
  if (!first) {
    if (!cst) throw new Error('internal error: the parser returned no tree and no error');
    return { cst };
  }
  const failure = messages.failures.get(first.token);
  return {
    error: {
      token: first.token,
      message: first.message,
      ruleStack: first.context.ruleStack,
      expected: failure?.expected ?? [],
    },
  };
}
