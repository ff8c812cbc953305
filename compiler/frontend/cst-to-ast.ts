/**
 * @fileoverview Turns the parser's concrete syntax tree into the AST of `ast.ts`: plain
 * objects, each with the span of its source text (first token's start to last token's end).
 *
 * Only called on trees that parsed without errors (`parse.ts` makes sure). A missing child or
 * a node patched up by error recovery is an internal error, never a half-built AST.
 */
import type { CstElement, CstNode, IToken } from 'chevrotain';
import type { SourceFile, Span } from '../../ir/source.ts';
import type * as A from './ast.ts';
import { moeParser } from './parser.ts';

/** The children of a CST node, by token type or rule name. */
type Ctx = Record<string, CstElement[] | undefined>;

const BaseVisitor = moeParser.getBaseCstVisitorConstructor<undefined, unknown>();

function isToken(e: CstElement): e is IToken {
  return 'image' in e;
}

function tokensOf(ctx: Ctx, name: string): IToken[] {
  return (ctx[name] ?? []).filter(isToken);
}

function nodesOf(ctx: Ctx, name: string): CstNode[] {
  return (ctx[name] ?? []).filter((e): e is CstNode => !isToken(e));
}

function broken(what: string): never {
  throw new Error(`internal error: incomplete syntax tree at ${what}`);
}

function token(ctx: Ctx, name: string): IToken {
  return tokensOf(ctx, name)[0] ?? broken(name);
}

function node(ctx: Ctx, name: string): CstNode {
  return nodesOf(ctx, name)[0] ?? broken(name);
}

/** The CST → AST visitor. One instance; `cstToAst` sets the file before each use. */
class AstBuilder extends BaseVisitor {
  /** The file path that spans name (not `file`: that is the visit method of the `file` rule). */
  path = '';

  constructor() {
    super();
    this.validateVisitor();
  }

  private tokenSpan(t: IToken): Span {
    return { file: this.path, start: t.startOffset, end: t.startOffset + t.image.length };
  }

  private ident(t: IToken): A.Ident {
    return { name: t.image, span: this.tokenSpan(t) };
  }

  /** Visits a child rule, refusing trees that error recovery patched up. */
  private sub<R>(n: CstNode): R {
    if (n.recoveredNode) broken(n.name);
    return this.visit(n) as R;
  }

  file(ctx: Ctx): Omit<A.FileAst, 'span'> {
    const decls: A.FileAst['decls'] = [];
    const blocks: A.BlockDecl[] = [];
    const models: A.ModelDecl[] = [];
    // Children are grouped by kind; source order is restored from their offsets.
    const items = ['dimDecl', 'constDecl', 'block', 'model']
      .flatMap((rule) => nodesOf(ctx, rule).map((n) => this.sub<A.DimDecl | A.ConstDecl | A.BlockDecl | A.ModelDecl>(n)))
      .sort((a, b) => a.span.start - b.span.start);
    for (const item of items) {
      if (item.kind === 'block') blocks.push(item);
      else if (item.kind === 'model') models.push(item);
      else decls.push(item);
    }
    return { kind: 'file', decls, blocks, models };
  }

  model(ctx: Ctx): A.ModelDecl {
    return {
      kind: 'model',
      name: this.ident(token(ctx, 'Identifier')),
      body: nodesOf(ctx, 'stmt').map((s) => this.sub<A.Stmt>(s)),
      span: this.spanOfCtx(ctx, 'Model', 'RCurly'),
    };
  }

  block(ctx: Ctx): A.BlockDecl {
    return {
      kind: 'block',
      name: this.ident(token(ctx, 'Identifier')),
      params: nodesOf(ctx, 'param').map((p) => this.sub<A.Param>(p)),
      body: nodesOf(ctx, 'stmt').map((s) => this.sub<A.Stmt>(s)),
      span: this.spanOfCtx(ctx, 'Block', 'RCurly'),
    };
  }

  param(ctx: Ctx): A.Param {
    const name = this.ident(token(ctx, 'Identifier'));
    const type = this.sub<A.TypeExpr | A.ScalarTypeExpr>(node(ctx, 'paramType'));
    const value = nodesOf(ctx, 'expr')[0];
    const def = value ? this.sub<A.Expr>(value) : undefined;
    const end = def ? def.span.end : type.span.end;
    return { kind: 'param', name, type, ...(def ? { default: def } : {}), span: this.join(name.span, end) };
  }

  paramType(ctx: Ctx): A.TypeExpr | A.ScalarTypeExpr {
    const type = nodesOf(ctx, 'type')[0];
    if (type) return this.sub<A.TypeExpr>(type);
    const scalar = tokensOf(ctx, 'Int')[0] ?? token(ctx, 'Float');
    return { kind: 'scalar_type', name: scalar.image as 'int' | 'float', span: this.tokenSpan(scalar) };
  }

  stmt(ctx: Ctx): A.Stmt {
    const [only] = Object.values(ctx).flatMap((c) => c ?? []);
    if (!only || isToken(only)) broken('stmt');
    return this.sub<A.Stmt>(only);
  }

  dimDecl(ctx: Ctx): A.DimDecl {
    const max = nodesOf(ctx, 'expr')[0];
    const maxAst = max ? this.sub<A.Expr>(max) : undefined;
    const name = this.ident(token(ctx, 'Identifier'));
    return {
      kind: 'dim',
      name,
      ...(maxAst ? { max: maxAst } : {}),
      span: this.join(this.tokenSpan(token(ctx, 'Dim')), (maxAst ?? name).span.end),
    };
  }

  constDecl(ctx: Ctx): A.ConstDecl {
    const value = this.sub<A.Expr>(node(ctx, 'expr'));
    return {
      kind: 'const',
      name: this.ident(token(ctx, 'Identifier')),
      value,
      span: this.join(this.tokenSpan(token(ctx, 'Const')), value.span.end),
    };
  }

  inputDecl(ctx: Ctx): A.InputDecl {
    const type = this.sub<A.TypeExpr>(node(ctx, 'type'));
    return {
      kind: 'input',
      name: this.ident(token(ctx, 'Identifier')),
      type,
      span: this.join(this.tokenSpan(token(ctx, 'Input')), type.span.end),
    };
  }

  weightDecl(ctx: Ctx): A.WeightDecl {
    const type = this.sub<A.TypeExpr>(node(ctx, 'type'));
    const from = tokensOf(ctx, 'StringLit')[0];
    const fromAst = from ? this.string(from) : undefined;
    return {
      kind: 'weight',
      name: this.ident(token(ctx, 'Identifier')),
      type,
      ...(fromAst ? { from: fromAst } : {}),
      span: this.join(this.tokenSpan(token(ctx, 'Weight')), (fromAst ?? type).span.end),
    };
  }

  outputDecl(ctx: Ctx): A.OutputDecl {
    const name = this.ident(token(ctx, 'Identifier'));
    const typeNode = nodesOf(ctx, 'type')[0];
    const type = typeNode ? this.sub<A.TypeExpr>(typeNode) : undefined;
    const valueNode = nodesOf(ctx, 'expr')[0];
    const value = valueNode ? this.sub<A.Expr>(valueNode) : undefined;
    return {
      kind: 'output',
      name,
      ...(type ? { type } : {}),
      ...(value ? { value } : {}),
      span: this.join(this.tokenSpan(token(ctx, 'Output')), (value ?? type ?? name).span.end),
    };
  }

  returnStmt(ctx: Ctx): A.ReturnStmt {
    const values = nodesOf(ctx, 'expr').map((e) => this.sub<A.Expr>(e));
    const last = values[values.length - 1] ?? broken('returnStmt');
    return { kind: 'return', values, span: this.join(this.tokenSpan(token(ctx, 'Return')), last.span.end) };
  }

  bind(ctx: Ctx): A.BindStmt {
    const targets = tokensOf(ctx, 'Identifier').map((t) => this.ident(t));
    const value = this.sub<A.Expr>(node(ctx, 'expr'));
    const first = targets[0] ?? broken('bind');
    return { kind: 'bind', targets, value, span: this.join(first.span, value.span.end) };
  }

  type(ctx: Ctx): A.TypeExpr {
    const dtype = token(ctx, 'DType');
    const args = nodesOf(ctx, 'arg').map((a) => this.sub<A.Arg>(a));
    const open = tokensOf(ctx, 'LParen')[0];
    return {
      kind: 'type',
      dtype: dtype.image as A.DTypeName,
      dtypeSpan: this.tokenSpan(dtype),
      ...(open ? { quant: { args, span: this.join(this.tokenSpan(open), this.tokenSpan(token(ctx, 'RParen')).end) } } : {}),
      shape: nodesOf(ctx, 'expr').map((e) => this.sub<A.Expr>(e)),
      span: this.spanOfCtx(ctx, 'DType', 'RBracket'),
    };
  }

  expr(ctx: Ctx): A.Expr {
    return this.binaryChain(nodesOf(ctx, 'multiplicative'), tokensOf(ctx, 'AdditiveOp'));
  }

  multiplicative(ctx: Ctx): A.Expr {
    return this.binaryChain(nodesOf(ctx, 'unary'), tokensOf(ctx, 'MultiplicativeOp'));
  }

  /** `a - b + c` is `(a - b) + c`. */
  private binaryChain(operands: CstNode[], ops: IToken[]): A.Expr {
    let result = this.sub<A.Expr>(operands[0] ?? broken('operand'));
    for (let i = 0; i < ops.length; i++) {
      const right = this.sub<A.Expr>(operands[i + 1] ?? broken('operand'));
      const op = ops[i].image as A.BinaryOp;
      result = { kind: 'binary', op, left: result, right, span: this.join(result.span, right.span.end) };
    }
    return result;
  }

  /** `- - x` is `-(-x)`. */
  unary(ctx: Ctx): A.Expr {
    let result = this.sub<A.Expr>(node(ctx, 'postfix'));
    for (const minus of tokensOf(ctx, 'Minus').reverse()) {
      result = { kind: 'unary', op: '-', operand: result, span: this.join(this.tokenSpan(minus), result.span.end) };
    }
    return result;
  }

  postfix(ctx: Ctx): A.Expr {
    let result = this.sub<A.Expr>(node(ctx, 'primary'));
    for (const field of tokensOf(ctx, 'Identifier')) {
      const f = this.ident(field);
      result = { kind: 'member', object: result, field: f, span: this.join(result.span, f.span.end) };
    }
    return result;
  }

  primary(ctx: Ctx): A.Expr {
    const tok = (name: string) => tokensOf(ctx, name)[0];
    let t: IToken | undefined;
    if ((t = tok('NumberLit'))) {
      return { kind: 'number', value: Number(t.image), isInt: /^\d+$/.test(t.image), span: this.tokenSpan(t) };
    }
    if ((t = tok('StringLit'))) return this.string(t);
    if ((t = tok('True') ?? tok('False'))) return { kind: 'bool', value: t.image === 'true', span: this.tokenSpan(t) };
    if ((t = tok('DType'))) return { kind: 'dtype', value: t.image as A.DTypeName, span: this.tokenSpan(t) };
    // `(e)` is `e`, with a span that takes in the parentheses.
    const inner = nodesOf(ctx, 'expr')[0];
    if (inner) return { ...this.sub<A.Expr>(inner), span: this.spanOfCtx(ctx, 'LParen', 'RParen') };
    const sub = nodesOf(ctx, 'list')[0] ?? nodesOf(ctx, 'repeat')[0] ?? nodesOf(ctx, 'call')[0];
    if (sub) return this.sub<A.Expr>(sub);
    const name = token(ctx, 'Identifier');
    return { kind: 'name', name: name.image, span: this.tokenSpan(name) };
  }

  list(ctx: Ctx): A.ListExpr {
    return {
      kind: 'list',
      items: nodesOf(ctx, 'expr').map((e) => this.sub<A.Expr>(e)),
      span: this.spanOfCtx(ctx, 'LBracket', 'RBracket'),
    };
  }

  call(ctx: Ctx): A.CallExpr {
    const names = tokensOf(ctx, 'Identifier');
    const callee = this.ident(names[0] ?? broken('call'));
    const as = tokensOf(ctx, 'As')[0];
    const instance = as ? this.ident(names[1] ?? broken('call')) : undefined;
    const fromTok = tokensOf(ctx, 'StringLit')[0];
    const from = fromTok ? this.string(fromTok) : undefined;
    const end = (from ?? instance)?.span.end ?? this.tokenSpan(token(ctx, 'RParen')).end;
    return {
      kind: 'call',
      callee,
      args: nodesOf(ctx, 'arg').map((a) => this.sub<A.Arg>(a)),
      ...(instance ? { instance } : {}),
      ...(from ? { from } : {}),
      span: this.join(callee.span, end),
    };
  }

  arg(ctx: Ctx): A.Arg {
    const nameTok = tokensOf(ctx, 'Identifier')[0];
    const value = this.sub<A.Expr>(node(ctx, 'expr'));
    if (!nameTok) return { value, span: value.span };
    const name = this.ident(nameTok);
    return { name, value, span: this.join(name.span, value.span.end) };
  }

  repeat(ctx: Ctx): A.RepeatExpr {
    const range = this.sub<{ index?: A.Ident; start?: A.Expr; end: A.Expr }>(node(ctx, 'repeatRange'));
    const call = this.sub<A.CallExpr>(node(ctx, 'call'));
    return { kind: 'repeat', ...range, call, span: this.join(this.tokenSpan(token(ctx, 'Repeat')), call.span.end) };
  }

  repeatRange(ctx: Ctx): { index?: A.Ident; start?: A.Expr; end: A.Expr } {
    const exprs = nodesOf(ctx, 'expr').map((e) => this.sub<A.Expr>(e));
    const index = tokensOf(ctx, 'Identifier')[0];
    if (!index) return { end: exprs[0] ?? broken('repeatRange') };
    return { index: this.ident(index), start: exprs[0] ?? broken('repeatRange'), end: exprs[1] ?? broken('repeatRange') };
  }

  /** `"a\"b"` → `a"b`. Only `\"` and `\\` are escapes; `parse.ts` has rejected any other. */
  private string(t: IToken): A.StringLit {
    const value = t.image.slice(1, -1).replace(/\\(.)/g, '$1');
    return { kind: 'string', value, span: this.tokenSpan(t) };
  }

  private spanOfCtx(ctx: Ctx, first: string, last: string): Span {
    const a = token(ctx, first);
    const b = tokensOf(ctx, last).at(-1) ?? broken(last);
    return { file: this.path, start: a.startOffset, end: b.startOffset + b.image.length };
  }

  private join(start: Span, end: number): Span {
    return { file: this.path, start: start.start, end };
  }
}

const builder = new AstBuilder();

/** The AST of a file's CST, which must have parsed without errors. */
export function cstToAst(cst: CstNode, src: SourceFile): A.FileAst {
  builder.path = src.path;
  const file = builder.visit(cst) as Omit<A.FileAst, 'span'>;
  return { ...file, span: src.span(0, src.text.length) };
}
