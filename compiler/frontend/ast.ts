/**
 * @fileoverview The abstract syntax tree of the `.moe` language.
 *
 * The parser (CST) is pure grammar; `cst-to-ast.ts` turns it into these plain objects and
 * `lower.ts` turns them into graph IR. Every node carries a `Span` so that type and shape
 * errors found during lowering point back at the source text.
 */
import type { Span } from '../../ir/source.ts';

/** A whole `.moe` file: file-level constants and dims, reusable blocks, and one model. */
export interface FileAst {
  kind: 'file';
  /** File-level `dim` and `const` declarations, visible in every block and the model. */
  decls: Array<DimDecl | ConstDecl>;
  blocks: BlockDecl[];
  models: ModelDecl[];
  span: Span;
}

/** `model NAME { stmt* }`: the graph that `moec` compiles; its inputs and outputs are the ABI. */
export interface ModelDecl {
  kind: 'model';
  name: Ident;
  body: Stmt[];
  span: Span;
}

/**
 * `block NAME(params) { stmt* }`: a reusable, parameterised sub-graph. Each call site is an
 * instance with its own weights; `repeat(N) NAME(...)` makes N instances whose weights are
 * stacked along a new leading axis, so a 61-layer model is one block and one `repeat`.
 */
export interface BlockDecl {
  kind: 'block';
  name: Ident;
  params: Param[];
  body: Stmt[];
  span: Span;
}

/** A block parameter: a tensor (`x: f32[T, D]`) or a compile-time number (`F: int = 64`). */
export interface Param {
  kind: 'param';
  name: Ident;
  type: TypeExpr | ScalarTypeExpr;
  /** Default value, for `int` and `float` parameters only. */
  default?: Expr;
  span: Span;
}

export type Stmt =
  | DimDecl
  | ConstDecl
  | InputDecl
  | WeightDecl
  | OutputDecl
  | ReturnStmt
  | BindStmt;

/** `dim T` or `dim T <= 4096`: a symbolic size bound at run time, with an optional upper bound. */
export interface DimDecl {
  kind: 'dim';
  name: Ident;
  max?: Expr;
  span: Span;
}

/** `const D = 4096`: a compile-time number (int or float); `--set D=64` overrides file-level ones. */
export interface ConstDecl {
  kind: 'const';
  name: Ident;
  value: Expr;
  span: Span;
}

/** `input x: f32[T, D]` (model only). */
export interface InputDecl {
  kind: 'input';
  name: Ident;
  type: TypeExpr;
  span: Span;
}

/**
 * `weight w: f32[E, F, D] from "model.layers.{i}.mlp.experts.{e}.gate_proj.weight"`.
 * In the checkpoint pattern, `{i}`-style names bound by an enclosing `repeat` take that
 * repeat's index; any other `{name}` indexes the weight's own leading axes, in order.
 */
export interface WeightDecl {
  kind: 'weight';
  name: Ident;
  type: TypeExpr;
  from?: StringLit;
  span: Span;
}

/** `output y = expr`, `output y: f32[T, D] = expr`, or `output y` for an existing binding. */
export interface OutputDecl {
  kind: 'output';
  name: Ident;
  type?: TypeExpr;
  value?: Expr;
  span: Span;
}

/** `return a` or `return a, b` (blocks only). */
export interface ReturnStmt {
  kind: 'return';
  values: Expr[];
  span: Span;
}

/** `y = expr` or `values, indices = topk(p, k=2)`; names may be rebound (later uses see the new value). */
export interface BindStmt {
  kind: 'bind';
  targets: Ident[];
  value: Expr;
  span: Span;
}

/**
 * `f32[T, D]`: an element type and a shape of integer expressions; a quantized weight has
 * its scale group (and axis) after the dtype: `i4(group=32)[E, F, D]`.
 */
export interface TypeExpr {
  kind: 'type';
  dtype: DTypeName;
  dtypeSpan: Span;
  /** `(group=32, axis=-2)`: the arguments and the span of the parenthesised list. */
  quant?: { args: Arg[]; span: Span };
  shape: Expr[];
  span: Span;
}

/** `int` or `float`: the type of a compile-time block parameter. */
export interface ScalarTypeExpr {
  kind: 'scalar_type';
  name: 'int' | 'float';
  span: Span;
}

export type DTypeName = 'f32' | 'f16' | 'bf16' | 'f64' | 'i32' | 'i64' | 'i8' | 'u8' | 'bool' | 'fp8e4m3' | 'i4';

export type Expr =
  | NumberLit
  | StringLit
  | BoolLit
  | DTypeLit
  | ListExpr
  | NameRef
  | MemberExpr
  | CallExpr
  | RepeatExpr
  | BinaryExpr
  | UnaryExpr;

export interface Ident {
  name: string;
  span: Span;
}

/** `3`, `2.5`, `1e-6`. `isInt` is true when the literal has no `.` and no exponent. */
export interface NumberLit {
  kind: 'number';
  value: number;
  isInt: boolean;
  span: Span;
}

export interface StringLit {
  kind: 'string';
  value: string;
  span: Span;
}

export interface BoolLit {
  kind: 'bool';
  value: boolean;
  span: Span;
}

/** A dtype used as a value, as in `cast(x, bf16)`. */
export interface DTypeLit {
  kind: 'dtype';
  value: DTypeName;
  span: Span;
}

/** `[1, 0]` or `[T, 8, D / 8]` (reshape shapes, permutations). */
export interface ListExpr {
  kind: 'list';
  items: Expr[];
  span: Span;
}

export interface NameRef {
  kind: 'name';
  name: string;
  span: Span;
}

/** `sel.values`: a named field of a tuple result. */
export interface MemberExpr {
  kind: 'member';
  object: Expr;
  field: Ident;
  span: Span;
}

/** `softmax(x, axis=-1)`, or a block call `mlp(x, hidden=F) as shared from "mlp.shared_experts"`. */
export interface CallExpr {
  kind: 'call';
  callee: Ident;
  args: Arg[];
  /** `as NAME` on a block call: the instance name, which prefixes the instance's weight names. */
  instance?: Ident;
  /**
   * `from "model.layers.{i}.mlp"` on a block call: a checkpoint-name prefix joined (with `.`)
   * in front of the patterns of every weight inside the instance, nested instances included.
   */
  from?: StringLit;
  span: Span;
}

export interface Arg {
  /** Set for named arguments (`k=2`). */
  name?: Ident;
  value: Expr;
  span: Span;
}

/**
 * `repeat(58) layer(h)` or `repeat(i = 3..61) layer(h)`: call a block `count` times, feeding
 * its results back into its leading arguments. `index` names the iteration variable used in
 * checkpoint patterns (default `i`); `start` offsets it (so `{i}` runs over 3..60 above).
 */
export interface RepeatExpr {
  kind: 'repeat';
  index?: Ident;
  /** Present for the `a..b` form. */
  start?: Expr;
  /** `N` in `repeat(N)`, `b` in `repeat(i = a..b)`. */
  end: Expr;
  call: CallExpr;
  span: Span;
}

export type BinaryOp = '+' | '-' | '*' | '/' | '%';

export interface BinaryExpr {
  kind: 'binary';
  op: BinaryOp;
  left: Expr;
  right: Expr;
  span: Span;
}

export interface UnaryExpr {
  kind: 'unary';
  op: '-';
  operand: Expr;
  span: Span;
}
