/**
 * @fileoverview The tokens of the `.moe` language (docs/language.md, "Lexical structure")
 * and the one lexer built from them.
 *
 * Whitespace and comments are skipped. Keywords take `longer_alt: Identifier`, so
 * `model_dim` is a name, and are listed longest first so that `input` is not read as `in`.
 * Three tokens exist only to make mistakes reportable: an unterminated string (a `StringLit`,
 * so parsing carries on past it), an unterminated block comment (kept out of the token
 * stream, in its own group) and a number run into letters (`3x`, `1e`; a `NumberLit`).
 * `parse.ts` turns them into diagnostics; the grammar never mentions them.
 */
import { createToken, Lexer, type TokenType } from 'chevrotain';

/** The group that holds error tokens kept out of the main token stream. */
export const ERROR_GROUP = 'errors';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\f\v\uFEFF]+/, group: Lexer.SKIPPED });
export const LineComment = createToken({ name: 'LineComment', pattern: /\/\/[^\n\r]*/, group: Lexer.SKIPPED });
export const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[\s\S]*?\*\//, group: Lexer.SKIPPED, line_breaks: true });
/** `/*` without a closing `*\/`: everything to the end of the file. */
export const UnterminatedComment = createToken({
  name: 'UnterminatedComment',
  pattern: /\/\*[\s\S]*/,
  group: ERROR_GROUP,
  line_breaks: true,
});

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: 'an identifier' });

/** Every keyword, dtypes included: none of them can be a name. */
export const Keyword = createToken({ name: 'Keyword', pattern: Lexer.NA });
/** The element types (`f32`, `bf16`, ...), which start a tensor type and are values in `cast(x, bf16)`. */
export const DType = createToken({ name: 'DType', pattern: Lexer.NA, label: 'a dtype' });

function keyword(word: string, ...categories: TokenType[]): TokenType {
  const name = word[0].toUpperCase() + word.slice(1);
  return createToken({
    name: categories.includes(DType) ? `DType_${word}` : name,
    pattern: new RegExp(word),
    longer_alt: Identifier,
    categories: [Keyword, ...categories],
    label: `'${word}'`,
  });
}

export const Model = keyword('model');
export const Block = keyword('block');
export const Dim = keyword('dim');
export const Const = keyword('const');
export const Input = keyword('input');
export const Weight = keyword('weight');
export const Output = keyword('output');
export const Return = keyword('return');
export const Repeat = keyword('repeat');
export const As = keyword('as');
export const From = keyword('from');
/** Reserved: not used by the grammar yet. */
export const In = keyword('in');
export const True = keyword('true');
export const False = keyword('false');
export const Int = keyword('int');
export const Float = keyword('float');

/** The dtype names, in the order of `DTypeName` in ast.ts. */
export const DTYPE_NAMES = ['f32', 'f16', 'bf16', 'f64', 'i32', 'i64', 'i8', 'u8', 'bool', 'fp8e4m3', 'i4'] as const;
export const DTypeTokens: TokenType[] = DTYPE_NAMES.map((d) => keyword(d, DType));

/** Keywords that begin a statement inside a model or block body (for "did you mean" hints). */
export const STATEMENT_KEYWORDS = ['dim', 'const', 'input', 'weight', 'output', 'return'] as const;
/** Keywords that begin a file-level declaration. */
export const FILE_KEYWORDS = ['dim', 'const', 'block', 'model'] as const;

/** Both number tokens: the grammar consumes this category. */
export const NumberLit = createToken({ name: 'NumberLit', pattern: Lexer.NA, label: 'a number' });

const NUMBER = /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const NAME_REST = /[A-Za-z0-9_]*/y;

/** `3x`, `1e`, `2.5f`: a whole number run into letters (a plain regex would backtrack into `1e-6`). */
function matchBadNumber(text: string, offset: number): RegExpExecArray | null {
  NUMBER.lastIndex = offset;
  const num = NUMBER.exec(text);
  if (!num) return null;
  const end = offset + num[0].length;
  if (!/[A-Za-z_]/.test(text.charAt(end))) return null;
  NAME_REST.lastIndex = end;
  const rest = NAME_REST.exec(text);
  const found = [text.slice(offset, end + (rest ? rest[0].length : 0))] as unknown as RegExpExecArray;
  return found;
}

/** A malformed number; listed before `NumberToken` so that it wins. */
export const BadNumber = createToken({
  name: 'BadNumber',
  pattern: matchBadNumber,
  start_chars_hint: [...'0123456789'],
  line_breaks: false,
  categories: [NumberLit],
  label: 'a number',
});
/** `42`, `2.5`, `1e-6`, `1.5E+3`. `0..3` lexes as `0` `..` `3`: a `.` must be followed by a digit. */
export const NumberToken = createToken({
  name: 'NumberToken',
  pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/,
  categories: [NumberLit],
  label: 'a number',
});

/** Both string tokens: the grammar consumes this category. */
export const StringLit = createToken({ name: 'StringLit', pattern: Lexer.NA, label: 'a string' });
export const StringToken = createToken({
  name: 'StringToken',
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*"/,
  categories: [StringLit],
  label: 'a string',
});
/** `"abc` with no closing quote on its line. */
export const UnterminatedString = createToken({
  name: 'UnterminatedString',
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*\\?/,
  categories: [StringLit],
  label: 'a string',
});

export const LCurly = createToken({ name: 'LCurly', pattern: /\{/, label: "'{'" });
export const RCurly = createToken({ name: 'RCurly', pattern: /\}/, label: "'}'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/, label: "']'" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });
export const LessEquals = createToken({ name: 'LessEquals', pattern: /<=/, label: "'<='" });
/** `..` must come before `.`. */
export const DotDot = createToken({ name: 'DotDot', pattern: /\.\./, label: "'..'" });
export const Dot = createToken({ name: 'Dot', pattern: /\./, label: "'.'" });

/** `+` and `-`. */
export const AdditiveOp = createToken({ name: 'AdditiveOp', pattern: Lexer.NA, label: "'+' or '-'" });
/** `*`, `/` and `%`. */
export const MultiplicativeOp = createToken({ name: 'MultiplicativeOp', pattern: Lexer.NA, label: "'*', '/' or '%'" });
export const Plus = createToken({ name: 'Plus', pattern: /\+/, categories: [AdditiveOp], label: "'+'" });
export const Minus = createToken({ name: 'Minus', pattern: /-/, categories: [AdditiveOp], label: "'-'" });
export const Star = createToken({ name: 'Star', pattern: /\*/, categories: [MultiplicativeOp], label: "'*'" });
export const Slash = createToken({ name: 'Slash', pattern: /\//, categories: [MultiplicativeOp], label: "'/'" });
export const Percent = createToken({ name: 'Percent', pattern: /%/, categories: [MultiplicativeOp], label: "'%'" });

const KEYWORDS: TokenType[] = [
  Model, Block, Dim, Const, Input, Weight, Output, Return, Repeat, As, From, In, True, False, Int, Float,
  ...DTypeTokens,
];

/** Keywords longest first: `longer_alt` only helps against identifiers, not shorter keywords. */
const keywordsLongestFirst = [...KEYWORDS].sort(
  (a, b) => String(b.PATTERN).length - String(a.PATTERN).length,
);

/** Every token type, in lexing order; abstract categories included (the parser needs them). */
export const allTokens: TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  UnterminatedComment,
  ...keywordsLongestFirst,
  Identifier,
  BadNumber,
  NumberToken,
  StringToken,
  UnterminatedString,
  LCurly, RCurly, LParen, RParen, LBracket, RBracket,
  Comma, Colon, Equals, LessEquals, DotDot, Dot,
  Plus, Minus, Star, Slash, Percent,
  Keyword, DType, NumberLit, StringLit, AdditiveOp, MultiplicativeOp,
];

/**
 * The lexer. It reports errors instead of throwing, and offsets are all we use. Chevrotain's
 * token-definition checks cost ~65 ms at every start of the CLI, so the lexer in use skips
 * them; test/parser.test.ts builds one with them on (`makeLexer(true)`), so a bad token
 * definition still fails the suite.
 */
export function makeLexer(validate = false): Lexer {
  return new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false, skipValidations: !validate });
}

/** The lexer, built once. */
export const moeLexer = makeLexer();
