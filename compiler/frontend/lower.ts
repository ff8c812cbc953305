/**
 * @fileoverview Lowering: `.moe` AST → graph IR, with constant evaluation, block
 * instantiation, repetition and shape/type checking. Every error points at the source span
 * of the expression or argument at fault.
 *
 * How the language's structure maps onto the IR:
 * - A block call is inlined: a fresh scope, its weights named `INSTANCE.WEIGHT`.
 * - `repeat(N) blk(...)` becomes one body function and one `repeat` node: nothing unrolls.
 *   The body's weights become module weights with a leading axis of size N, which the
 *   body receives sliced as parameters (nested repeats stack further axes).
 * - `experts(...)` expands into the MoE primitives (permute, dispatch, grouped GEMMs,
 *   combine), the same pattern a user could write by hand.
 */
import { FuncBuilder, sanitizeName, UniqueNames } from '../../ir/graph/builder.ts';
import { type Dim, DimError, dimAdd, dimDiv, dimMod, dimMul, dimNeg, dimSub, dimToString, isSym, shapeEq, sym } from '../../ir/dims.ts';
import { type AttrValue, type Attrs, type DimDecl, type Module, type Value, type WeightDecl, placeholdersOf } from '../../ir/graph/graph.ts';
import { OpError, formatType, getOp } from '../../ir/graph/ops.ts';
import { ACT_QUANTS, type ActQuant, isQuantDType } from '../../ir/quant.ts';
import { quantTypeProblem, sameQuant, withQuant } from '../../ir/quant-type.ts';
import type { DType, TensorType, TypeQuant } from '../../ir/types.ts';
import { type Diagnostic, MoecError, didYouMean, fail } from '../../ir/diagnostics.ts';
import type { Span } from '../../ir/source.ts';
import type * as A from './ast.ts';
import { BUILTINS, type BuiltinParam, EXPERTS_PARAMS, EXPERT_ACTIVATIONS, builtinSignature } from './builtins.ts';

/** Options for lowering. */
export interface LowerOptions {
  /** Overrides for file-level constants (`--set D=64`), applied before anything uses them. */
  consts?: Record<string, number>;
}

/** Largest single dimension accepted (a bound, not a promise that anything this big runs). */
const MAX_DIM = 2 ** 31 - 1;
/** Largest element count of one tensor: beyond it no backend can address the data. */
const MAX_ELEMENTS = 2 ** 48;
/** Deepest nesting of block calls (guards against runaway recursion through blocks). */
const MAX_BLOCK_DEPTH = 64;
/**
 * The most operations a module lowers to. Blocks are inlined at each call, so 40 blocks
 * that each call the one before twice are 2^40 operations (a hang, then the heap);
 * `repeat` does not unroll, and real models lower to a few thousand.
 */
export const MAX_NODES = 200_000;
/**
 * The most iterations of a `repeat`, nested ones multiplied: the interpreters and backends
 * run every one (`repeat(2147483647)` compiled, then ran for hours). Models have at most a
 * few hundred layers.
 */
export const MAX_REPEAT = 65_536;

// ---------------------------------------------------------------------------------------
// Values of the language during lowering.

type LVal =
  | { kind: 'int'; value: Dim } // a size: a concrete integer or a symbolic linear expression
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'dtype'; value: DType }
  | { kind: 'list'; items: LVal[] }
  | { kind: 'tensor'; value: Value }
  | { kind: 'tuple'; fields: string[]; values: Value[] }
  /** The value of a statement that failed: using it stays silent (its error is reported once). */
  | { kind: 'error' };

/** Thrown when an expression uses a value whose own statement already failed. */
class Poisoned extends Error {}

/** At most this many errors are reported for one file. */
const MAX_ERRORS = 50;

function describe(v: LVal): string {
  switch (v.kind) {
    case 'error':
      throw new Poisoned();
    case 'int':
      return isSym(v.value) ? `the size ${dimToString(v.value)}` : `the integer ${v.value}`;
    case 'float':
      return `the number ${v.value}`;
    case 'string':
      return `the string "${v.value}"`;
    case 'bool':
      return `${v.value}`;
    case 'dtype':
      return `the dtype ${v.value}`;
    case 'list':
      return 'a list';
    case 'tensor':
      return `a tensor ${formatType(v.value.type)}`;
    case 'tuple':
      return `a tuple (${v.fields.join(', ')})`;
  }
}

/** A lexical scope: names bound by declarations, bindings and block parameters. */
class Scope {
  private readonly names = new Map<string, { value: LVal; span: Span }>();
  constructor(readonly parent?: Scope) {}
  lookup(name: string): LVal | undefined {
    const v = this.names.get(name)?.value ?? this.parent?.lookup(name);
    if (v?.kind === 'error') throw new Poisoned();
    return v;
  }
  has(name: string): boolean {
    return this.names.has(name);
  }
  set(name: string, value: LVal, span: Span): void {
    this.names.set(name, { value, span });
  }
  all(): string[] {
    return [...this.names.keys(), ...(this.parent?.all() ?? [])];
  }
}

/** One level of `repeat` around the code being lowered. */
interface StackLevel {
  count: number;
  index: string;
  start: number;
}

/**
 * The function being built and how it gets weights: `main` reads them with `weight`
 * nodes; a repeat body receives slices as parameters from its caller, recursively.
 */
class FuncContext {
  readonly builder: FuncBuilder;
  /** Weight or block-input name → the value that holds it (a `weight` node, a main input or a body parameter). */
  private readonly weightValues = new Map<string, Value>();
  /** In a body: the stacked values it takes (weights and block inputs), in parameter order. */
  readonly weightParams: Stacked[] = [];

  constructor(
    name: string,
    module: Module,
    readonly parent: FuncContext | undefined,
    /** The repeat levels enclosing this function (empty for main). */
    readonly stack: StackLevel[],
    span?: Span,
  ) {
    this.builder = new FuncBuilder(name, module, span);
  }

  weightValue(w: WeightDecl, span?: Span): Value {
    return this.stackedValue({ kind: 'weight', decl: w }, span);
  }

  /** The value of a weight or block input here: read in main, received sliced in a body. */
  stackedValue(s: Stacked, span?: Span): Value {
    const w = s.decl;
    const have = this.weightValues.get(w.name);
    if (have) return have;
    let v: Value;
    if (!this.parent) {
      v = s.kind === 'weight' ? this.builder.add1('weight', [], { name: w.name }, span, w.name) : this.builder.param(w.name, w.type, span);
    } else {
      const shape = w.type.shape.slice(this.stack.length);
      v = this.builder.param(w.name, withQuant(w.type, w.type.dtype, shape), span);
      this.weightParams.push(s);
    }
    this.weightValues.set(w.name, v);
    return v;
  }
}

/** A value a repeat body receives stacked: a module weight, or an input a block declares. */
type Stacked = { kind: 'weight'; decl: WeightDecl } | { kind: 'input'; decl: { name: string; type: TensorType; span?: Span } };

/** State shared across the lowering of one file. */
class Lowering {
  readonly module: Module;
  readonly blocks = new Map<string, A.BlockDecl>();
  readonly fileScope = new Scope();
  private readonly funcNames = new UniqueNames();
  private readonly blockStack: string[] = [];
  /** Errors collected so far (lowering goes on after an error; see `recover`). */
  private readonly errors: Diagnostic[] = [];
  /** Names of the model inputs that blocks declared (`input` in a block). */
  private readonly blockInputs = new Set<string>();
  /** Operations added so far, across all functions (see `MAX_NODES`). */
  private nodes = 0;

  constructor(private readonly file: A.FileAst, private readonly opts: LowerOptions) {
    this.module = { name: 'model', dims: [], weights: [], funcs: [] };
  }

  run(): Module {
    const overrides = new Map(Object.entries(this.opts.consts ?? {}));
    for (const b of this.file.blocks) {
      if (this.blocks.has(b.name.name)) fail('E203', `block \`${b.name.name}\` is declared twice`, b.name.span);
      if (BUILTINS[b.name.name] || b.name.name === 'experts')
        fail('E203', `block \`${b.name.name}\` has the name of a built-in operation`, b.name.span, 'pick another name');
      this.blocks.set(b.name.name, b);
    }
    for (const d of this.file.decls) this.recover(d, this.fileScope, () => this.declare(d, this.fileScope, overrides));
    if (overrides.size > 0) {
      const [name] = overrides.keys();
      const consts = this.file.decls.filter((d) => d.kind === 'const').map((d) => d.name.name);
      fail('E211', `--set ${name}: the file has no file-level constant \`${name}\``, undefined, didYouMean(name, consts) ?? `its constants are: ${consts.join(', ') || 'none'}`);
    }
    if (this.file.models.length === 0)
      fail('E208', 'the file declares no model', this.file.span, 'add `model NAME { input ... output ... }`');
    if (this.file.models.length > 1) fail('E203', 'a file holds one model; this is the second', this.file.models[1].name.span);
    const model = this.file.models[0];
    this.module.name = model.name.name;
    const ctx = new FuncContext(this.funcName('main'), this.module, undefined, [], model.span);
    const scope = new Scope(this.fileScope);
    let outputs = 0;
    for (const st of model.body) {
      if (st.kind === 'return') fail('E207', '`return` belongs in a block; a model names its results with `output`', st.span, 'write `output y = ...`');
      if (st.kind === 'output') outputs++;
      this.recover(st, scope, () => this.statement(st, scope, ctx, { prefix: '', patternPrefix: undefined }, overrides));
    }
    if (this.errors.length > 0) throw new MoecError(this.errors);
    if (outputs === 0) fail('E205', `model \`${model.name.name}\` has no output`, model.name.span, 'add `output y = ...`');
    this.module.funcs.push(ctx.builder.func);
    return this.module;
  }

  private funcName(hint: string): string {
    return this.funcNames.take(sanitizeName(hint).replace(/\./g, '_'));
  }

  // -------------------------------------------------------------------------------------
  // Declarations and statements.

  private declare(d: A.DimDecl | A.ConstDecl, scope: Scope, overrides?: Map<string, number>): void {
    if (scope.has(d.name.name)) fail('E203', `\`${d.name.name}\` is declared twice`, d.name.span);
    if (d.kind === 'dim') {
      if (this.module.dims.some((x) => x.name === d.name.name)) fail('E203', `dim \`${d.name.name}\` is declared twice`, d.name.span);
      const decl: DimDecl = { name: d.name.name, span: d.span };
      if (d.max) decl.max = this.concreteInt(d.max, scope, 'the bound of a dim', 1);
      this.module.dims.push(decl);
      scope.set(d.name.name, { kind: 'int', value: sym(d.name.name) }, d.name.span);
      return;
    }
    let value = this.compileTime(d.value, scope);
    const o = overrides?.get(d.name.name);
    if (o !== undefined) {
      overrides!.delete(d.name.name);
      if (value.kind === 'int' && !Number.isInteger(o))
        fail('E304', `--set ${d.name.name}=${o}: \`${d.name.name}\` is an integer constant`, d.span, 'give a whole number');
      value = value.kind === 'int' ? { kind: 'int', value: o } : { kind: 'float', value: o };
    }
    scope.set(d.name.name, value, d.name.span);
  }

  private statement(st: A.Stmt, scope: Scope, ctx: FuncContext, inst: Instance, overrides?: Map<string, number>): void {
    switch (st.kind) {
      case 'dim':
      case 'const':
        if (st.kind === 'dim' && ctx.parent) fail('E207', 'a `dim` cannot be declared inside a repeated block', st.span, 'declare it at file level');
        this.declare(st, scope, overrides);
        return;
      case 'input': {
        const type = this.type(st.type, scope);
        if (type.quant) fail('E312', `input \`${st.name.name}\` is quantized`, st.type.quant!.span, 'inputs are activations; only weights are quantized (`weight w: i8(group=channel)[N, K]`)');
        if (ctx.parent || inst.prefix !== '') {
          this.bindNew(scope, st.name, { kind: 'tensor', value: this.blockInput(st, type, ctx, inst) });
          return;
        }
        this.bindNew(scope, st.name, { kind: 'tensor', value: ctx.builder.param(st.name.name, type, st.span) });
        return;
      }
      case 'weight':
        if (scope.has(st.name.name)) fail('E203', `\`${st.name.name}\` is declared twice`, st.name.span);
        this.bindNew(scope, st.name, { kind: 'tensor', value: this.weight(st, scope, ctx, inst) });
        return;
      case 'output': {
        if (inst.prefix !== '' || ctx.parent) fail('E207', '`output` belongs in the model; a block ends with `return`', st.span);
        let v: LVal | undefined;
        if (st.value) v = this.expr(st.value, scope, ctx, inst, st.name.name);
        else {
          v = scope.lookup(st.name.name);
          if (!v) fail('E201', `\`output ${st.name.name}\` names nothing`, st.name.span, `bind it first, or write \`output ${st.name.name} = ...\``);
        }
        const value = this.tensor(v, st.value?.span ?? st.name.span, 'an output');
        if (st.type) this.checkType(value.type, this.type(st.type, scope), st.type.span, `output \`${st.name.name}\``);
        if (ctx.builder.func.results.some((r) => r.name === st.name.name)) fail('E203', `output \`${st.name.name}\` is declared twice`, st.name.span);
        ctx.builder.result(st.name.name, value);
        scope.set(st.name.name, { kind: 'tensor', value }, st.name.span);
        return;
      }
      case 'bind': {
        const v = this.expr(st.value, scope, ctx, inst, st.targets.length === 1 ? st.targets[0].name : undefined);
        if (st.targets.length === 1) {
          scope.set(st.targets[0].name, v, st.targets[0].span);
          return;
        }
        if (v.kind !== 'tuple')
          fail('E308', `${st.targets.length} names but the right side is ${describe(v)}`, st.value.span, 'only calls with several results (topk, moe_permute, ...) can be unpacked');
        if (v.values.length !== st.targets.length)
          fail('E308', `${st.targets.length} names but the call has ${v.values.length} results (${v.fields.join(', ')})`, st.span);
        st.targets.forEach((t, i) => {
          ctx.builder.nameValue(v.values[i], t.name);
          scope.set(t.name, { kind: 'tensor', value: v.values[i] }, t.span);
        });
        return;
      }
      case 'return':
        fail('E207', '`return` must be the last statement of a block', st.span);
    }
  }

  /**
   * Lowers one statement; on a user error records it, binds what the statement would have
   * bound to a poison value, and goes on, so one run reports every independent error.
   */
  private recover(st: A.Stmt, scope: Scope, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof MoecError) {
        for (const d of e.diagnostics)
          if (!this.errors.some((x) => x.code === d.code && x.message === d.message && x.span?.start === d.span?.start)) this.errors.push(d);
        if (this.errors.length >= MAX_ERRORS) throw new MoecError(this.errors);
      } else if (!(e instanceof Poisoned)) throw e;
      const names = st.kind === 'bind' ? st.targets : 'name' in st ? [st.name] : [];
      for (const n of names) scope.set(n.name, { kind: 'error' }, n.span);
    }
  }

  private bindNew(scope: Scope, name: A.Ident, v: LVal): void {
    if (scope.has(name.name)) fail('E203', `\`${name.name}\` is declared twice`, name.span);
    scope.set(name.name, v, name.span);
  }

  /**
   * `input NAME: TYPE` in a block: per-instance state the caller supplies, such as a layer's
   * KV cache. It becomes the model input `INSTANCE.NAME`, stacked along the enclosing repeats
   * like a weight (layer i reads slice i), so 61 layers' caches stay one symbolic input.
   */
  private blockInput(st: A.InputDecl, type: TensorType, ctx: FuncContext, inst: Instance): Value {
    const name = inst.prefix + st.name.name;
    let main = ctx;
    while (main.parent) main = main.parent;
    if (main.builder.func.params.some((p) => p.name === name) || this.blockInputs.has(name))
      fail('E203', `input \`${name}\` is declared twice`, st.name.span, 'give each instance of a block its own name with `as NAME`');
    const decl = { name, type: { dtype: type.dtype, shape: [...ctx.stack.map((s) => s.count), ...type.shape] }, span: st.span };
    this.blockInputs.add(name);
    return ctx.stackedValue({ kind: 'input', decl }, st.span);
  }

  /** Declares a module weight for `weight NAME: TYPE from "..."` in the current instance. */
  private weight(st: A.WeightDecl, scope: Scope, ctx: FuncContext, inst: Instance): Value {
    const type = this.type(st.type, scope);
    const name = inst.prefix + st.name.name;
    if (this.module.weights.some((w) => w.name === name))
      fail('E203', `weight \`${name}\` is declared twice`, st.name.span, 'give each instance of a block its own name with `as NAME`');
    const stack = ctx.stack;
    const decl: WeightDecl = {
      name,
      type: withQuant(type, type.dtype, [...stack.map((s) => s.count), ...type.shape]),
      span: st.span,
    };
    // Weights are loaded before any input is seen, so their sizes cannot depend on `T`.
    const varying = type.shape.find(isSym);
    if (varying !== undefined)
      fail('E303', `weight \`${name}\` has the size \`${dimToString(varying)}\`, which varies at run time; a weight's sizes must be constants`, st.type.span, 'use a `const` (sizes that vary with the input belong to inputs)');
    if (st.from) decl.source = this.weightSource(st.from, inst.patternPrefix, stack, type);
    this.checkSize(decl.type, st.type.span);
    this.module.weights.push(decl);
    return ctx.weightValue(decl, st.span);
  }

  private weightSource(from: A.StringLit, prefix: string | undefined, stack: StackLevel[], type: TensorType): WeightDecl['source'] {
    const pattern = prefix ? `${prefix}.${from.value}` : from.value;
    const found = placeholdersOf(pattern);
    const stray = pattern.replace(/\{[^{}]*\}/g, '');
    if (/[{}]/.test(stray) || found.some((h) => h.placeholder === undefined))
      fail('E310', `checkpoint pattern "${pattern}" has a malformed placeholder`, from.span, 'placeholders look like {i} or {e}, or {2*i+1} for an affine layer index');
    const holes = found.map((h) => h.placeholder!.name);
    const axes = stack.map((s) => ({ name: s.index, start: s.start }));
    const own: string[] = [];
    for (const h of holes) if (!axes.some((a) => a.name === h) && !own.includes(h)) own.push(h);
    if (own.length > type.shape.length)
      fail('E310', `checkpoint pattern "${pattern}" has ${own.length} placeholders for a weight of rank ${type.shape.length}`, from.span, 'each placeholder indexes one leading axis of the weight');
    own.forEach((h, j) => {
      if (isSym(type.shape[j])) fail('E310', `placeholder {${h}} would index the symbolic axis ${dimToString(type.shape[j])}`, from.span);
      axes.push({ name: h, start: 0 });
    });
    const unused = stack.filter((s) => !holes.includes(s.index));
    if (unused.length > 0)
      fail('E310', `checkpoint pattern "${pattern}" does not use the repeat index {${unused[0].index}}, so every layer would read the same tensor`, from.span, `add {${unused[0].index}} to the pattern (e.g. "model.layers.{${unused[0].index}}...")`);
    return { pattern, axes };
  }

  // -------------------------------------------------------------------------------------
  // Types and compile-time values.

  private type(t: A.TypeExpr, scope: Scope): TensorType {
    const shape = t.shape.map((e) => {
      const v = this.compileTime(e, scope);
      if (v.kind !== 'int') fail('E306', `a size must be an integer, got ${describe(v)}`, e.span);
      if (!isSym(v.value) && (v.value < 0 || v.value > MAX_DIM))
        fail('E307', `size ${v.value} is out of range`, e.span, `sizes are whole numbers from 0 to ${MAX_DIM}`);
      return v.value;
    });
    const type: TensorType = { dtype: t.dtype, shape };
    if (t.quant) type.quant = this.quant(t, scope);
    const bad = quantTypeProblem(type);
    if (bad) fail('E312', bad.message, t.quant?.span ?? t.span, bad.hint);
    this.checkSize(type, t.span);
    return type;
  }

  /**
   * `(group=32, axis=-2, act=q8)` of a quantized weight type; `group=channel` is one scale
   * per output channel, `act=q8` rounds the activations of its GEMMs (ir/quant.ts).
   */
  private quant(t: A.TypeExpr, scope: Scope): TypeQuant {
    const q = t.quant!;
    const hint = 'a quantized weight is written i8(group=channel)[..], i4(group=32)[..] or fp8e4m3(group=128)[..], with axis=-2 for [in, out] weights';
    if (!isQuantDType(t.dtype)) fail('E312', `${t.dtype} cannot be quantized`, t.dtypeSpan, 'quantized weights are i8, i4 or fp8e4m3');
    let group: number | undefined;
    let axis = -1;
    let act: ActQuant | undefined;
    const seen = new Set<string>();
    for (const a of q.args) {
      if (!a.name) fail('E204', 'the quantization of a type takes named arguments (group=, axis=, act=)', a.span, hint);
      const key = a.name.name;
      if (seen.has(key)) fail('E206', `\`${key}\` is given twice`, a.span);
      seen.add(key);
      if (key === 'group' && a.value.kind === 'name' && a.value.name === 'channel') group = 0;
      else if (key === 'act') {
        const name = a.value.kind === 'name' ? a.value.name : '';
        if (!ACT_QUANTS.includes(name as ActQuant)) fail('E312', `act must be ${ACT_QUANTS.join(' or ')}`, a.value.span, 'act=q8 rounds the activations of the GEMMs reading this i8 weight to int8 blocks of 32');
        act = name as ActQuant;
      } else if (key === 'group' || key === 'axis') {
        const v = this.compileTime(a.value, scope);
        if (v.kind !== 'int' || isSym(v.value)) fail('E306', `${key} must be a whole number${key === 'group' ? ' or channel' : ''}, got ${describe(v)}`, a.value.span, hint);
        if (key === 'group') {
          if (v.value < 1) fail('E312', `group=${v.value}: a group is a positive number of elements, or channel`, a.value.span, hint);
          group = v.value;
        } else axis = v.value;
      } else fail('E204', `a quantized type has no argument \`${key}\``, a.name.span, 'its arguments are group=, axis= and act=');
    }
    if (group === undefined) fail('E205', `the quantized ${t.dtype} needs its group`, q.span, hint);
    return act ? { group, axis, act } : { group, axis };
  }

  private checkSize(type: TensorType, span: Span): void {
    let n = 1;
    for (const d of type.shape) n *= isSym(d) ? 1 : d;
    if (n > MAX_ELEMENTS) fail('E307', `${formatType(type)} has ${n.toExponential(3)} elements, more than any target can address`, span, 'check the sizes for a typo');
  }

  private concreteInt(e: A.Expr, scope: Scope, what: string, min: number): number {
    const v = this.compileTime(e, scope);
    if (v.kind !== 'int' || isSym(v.value)) fail('E306', `${what} must be a concrete integer, got ${describe(v)}`, e.span);
    if (v.value < min || v.value > MAX_DIM) fail('E307', `${what} is ${v.value}, expected ${min} to ${MAX_DIM}`, e.span);
    return v.value;
  }

  /** Evaluates an expression that must be known at compile time (no tensors). */
  private compileTime(e: A.Expr, scope: Scope): LVal {
    const v = this.expr(e, scope, undefined, undefined);
    if (v.kind === 'tensor' || v.kind === 'tuple') fail('E303', `expected a compile-time value, got ${describe(v)}`, e.span);
    return v;
  }

  // -------------------------------------------------------------------------------------
  // Expressions. `ctx` is absent in compile-time positions (sizes, constants), where
  // tensors are not allowed.

  private expr(e: A.Expr, scope: Scope, ctx: FuncContext | undefined, inst: Instance | undefined, hint?: string): LVal {
    switch (e.kind) {
      case 'number':
        return e.isInt ? { kind: 'int', value: e.value } : { kind: 'float', value: e.value };
      case 'string':
        return { kind: 'string', value: e.value };
      case 'bool':
        return { kind: 'bool', value: e.value };
      case 'dtype':
        return { kind: 'dtype', value: e.value };
      case 'list':
        return { kind: 'list', items: e.items.map((i) => this.expr(i, scope, ctx, inst)) };
      case 'name': {
        const v = scope.lookup(e.name);
        if (!v) fail('E201', `\`${e.name}\` is not defined`, e.span, didYouMean(e.name, scope.all()));
        return v;
      }
      case 'member': {
        const obj = this.expr(e.object, scope, ctx, inst);
        if (obj.kind !== 'tuple') fail('E209', `\`.${e.field.name}\` needs a tuple, but this is ${describe(obj)}`, e.field.span);
        const i = obj.fields.indexOf(e.field.name);
        if (i < 0) fail('E209', `the tuple has no field \`${e.field.name}\``, e.field.span, didYouMean(e.field.name, obj.fields) ?? `its fields are: ${obj.fields.join(', ')}`);
        return { kind: 'tensor', value: obj.values[i] };
      }
      case 'unary': {
        const v = this.expr(e.operand, scope, ctx, inst);
        if (v.kind === 'int') return { kind: 'int', value: dimNeg(v.value) };
        if (v.kind === 'float') return { kind: 'float', value: -v.value };
        if (v.kind === 'tensor') return { kind: 'tensor', value: this.addNode(this.needCtx(ctx, e.span), 'neg', [v.value], {}, e.span, [e.operand.span], hint)[0] };
        fail('E303', `cannot negate ${describe(v)}`, e.span);
      }
      // eslint-disable-next-line no-fallthrough
      case 'binary':
        return this.binary(e, scope, ctx, inst, hint);
      case 'call':
        return this.call(e, scope, this.needCtx(ctx, e.span), inst!, hint);
      case 'repeat':
        return this.repeat(e, scope, this.needCtx(ctx, e.span), inst!, hint);
    }
  }

  private needCtx(ctx: FuncContext | undefined, span: Span): FuncContext {
    if (!ctx) fail('E303', 'expected a compile-time value here, not a computation on tensors', span);
    return ctx;
  }

  /**
   * A chain `a + b - c ...` parses left-nested, as deep as it is long, so it is walked
   * iteratively (a 10,000-term sum must not overflow the stack).
   */
  private binary(e: A.BinaryExpr, scope: Scope, ctx: FuncContext | undefined, inst: Instance | undefined, hint?: string): LVal {
    const chain: A.BinaryExpr[] = [];
    let cur: A.Expr = e;
    for (; cur.kind === 'binary'; cur = cur.left) chain.push(cur);
    let acc = this.expr(cur, scope, ctx, inst);
    for (let i = chain.length - 1; i >= 0; i--) {
      const r = this.expr(chain[i].right, scope, ctx, inst);
      acc = this.combine(chain[i], acc, r, ctx, i === 0 ? hint : undefined);
    }
    return acc;
  }

  private combine(e: A.BinaryExpr, l: LVal, r: LVal, ctx: FuncContext | undefined, hint?: string): LVal {
    if (l.kind === 'tensor' || r.kind === 'tensor') return this.tensorBinary(e, l, r, this.needCtx(ctx, e.span), hint);
    if (l.kind === 'int' && r.kind === 'int') {
      try {
        switch (e.op) {
          case '+':
            return { kind: 'int', value: dimAdd(l.value, r.value) };
          case '-':
            return { kind: 'int', value: dimSub(l.value, r.value) };
          case '*':
            return { kind: 'int', value: dimMul(l.value, r.value) };
          case '/':
            return { kind: 'int', value: dimDiv(l.value, r.value) };
          case '%':
            return { kind: 'int', value: dimMod(l.value, r.value) };
        }
      } catch (err) {
        if (err instanceof DimError) fail('E306', err.message, e.span, e.op === '/' ? 'sizes divide exactly; check the constants' : undefined);
        throw err;
      }
    }
    const num = (v: LVal, span: Span): number => {
      if (v.kind === 'float') return v.value;
      if (v.kind === 'int' && !isSym(v.value)) return v.value;
      fail('E303', `expected a number, got ${describe(v)}`, span);
    };
    const a = num(l, e.left.span);
    const b = num(r, e.right.span);
    const value = e.op === '+' ? a + b : e.op === '-' ? a - b : e.op === '*' ? a * b : e.op === '/' ? a / b : a % b;
    return { kind: 'float', value };
  }

  private tensorBinary(e: A.BinaryExpr, l: LVal, r: LVal, ctx: FuncContext, hint?: string): LVal {
    const op = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': '' }[e.op];
    if (!op) fail('E303', '`%` is not defined on tensors', e.span);
    const like = (l.kind === 'tensor' ? l : (r as { value: Value })).value as Value;
    const operand = (v: LVal, span: Span): Value => {
      if (v.kind === 'tensor') return v.value;
      if (v.kind === 'float' || (v.kind === 'int' && !isSym(v.value)))
        return this.addNode(ctx, 'const', [], { value: v.value as number, dtype: like.type.dtype }, span, [])[0];
      fail('E303', `cannot combine a tensor with ${describe(v)}`, span);
    };
    const a = operand(l, e.left.span);
    const b = operand(r, e.right.span);
    return { kind: 'tensor', value: this.addNode(ctx, op, [a, b], {}, e.span, [e.left.span, e.right.span], hint)[0] };
  }

  /** Adds a node, turning inference errors into diagnostics at the argument at fault. */
  private addNode(ctx: FuncContext, op: string, inputs: Value[], attrs: Attrs, span: Span, argSpans: Array<Span | undefined>, hint?: string, attrSpans?: Record<string, Span>): Value[] {
    if (++this.nodes > MAX_NODES)
      fail('E307', `the model lowers to more than ${MAX_NODES} operations`, span, 'a block is copied at every call: write repeated layers as `repeat(N) block(...)`, which is not copied');
    try {
      return ctx.builder.add(op, inputs, attrs, span, hint);
    } catch (err) {
      if (err instanceof OpError) {
        const at = (err.attr !== undefined ? attrSpans?.[err.attr] : undefined) ?? (err.operand !== undefined ? argSpans[err.operand] : undefined) ?? span;
        fail(err.code, err.message, at, err.hint);
      }
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------
  // Calls.

  private call(e: A.CallExpr, scope: Scope, ctx: FuncContext, inst: Instance, hint?: string): LVal {
    const name = e.callee.name;
    const block = this.blocks.get(name);
    if (block) {
      const results = this.inlineBlock(block, e, scope, ctx, inst);
      return results.length === 1 ? { kind: 'tensor', value: results[0] } : { kind: 'tuple', fields: results.map((_, i) => `r${i}`), values: results };
    }
    if (e.instance || e.from) fail('E207', '`as` and `from` name instances of blocks, not built-in operations', (e.instance ?? e.from)!.span);
    if (name === 'experts') return { kind: 'tensor', value: this.experts(e, scope, ctx, inst, hint) };
    const b = BUILTINS[name];
    if (!b) {
      const known = [...Object.keys(BUILTINS), 'experts', ...this.blocks.keys()];
      fail('E202', `unknown operation or block \`${name}\``, e.callee.span, didYouMean(name, known) ?? 'see the built-in operations in docs/language.md');
    }
    const args = this.bindArgs(e, b.params, scope, ctx, inst, builtinSignature(name, b.params, b.variadic), b.variadic);
    const inputs: Value[] = [];
    const argSpans: Array<Span | undefined> = [];
    const attrs: Attrs = { ...(b.fixed ?? {}) };
    const attrSpans: Record<string, Span> = {};
    for (const v of args.variadic) {
      inputs.push(this.tensor(v.value, v.span, 'an operand'));
      argSpans.push(v.span);
    }
    for (const p of b.params) {
      const a = args.named.get(p.name);
      if (p.kind === 'tensor') {
        if (a) {
          inputs.push(this.tensor(a.value, a.span, `\`${p.name}\``));
          argSpans.push(a.span);
        }
        continue;
      }
      if (!a) continue;
      attrs[p.name] = this.attr(a.value, p, a.span);
      attrSpans[p.name] = a.span;
    }
    const spec = getOp(b.op)!;
    const outs = this.addNode(ctx, b.op, inputs, attrs, e.span, argSpans, hint, attrSpans);
    return outs.length === 1 ? { kind: 'tensor', value: outs[0] } : { kind: 'tuple', fields: spec.results, values: outs };
  }

  /** Matches call arguments to parameters: positional first, then named. */
  private bindArgs(
    e: A.CallExpr,
    params: BuiltinParam[],
    scope: Scope,
    ctx: FuncContext,
    inst: Instance,
    signature: string,
    variadic = false,
  ): { named: Map<string, { value: LVal; span: Span }>; variadic: Array<{ value: LVal; span: Span }> } {
    const named = new Map<string, { value: LVal; span: Span }>();
    const rest: Array<{ value: LVal; span: Span }> = [];
    let seenNamed = false;
    let pos = 0;
    for (const a of e.args) {
      if (a.name) {
        seenNamed = true;
        const p = params.find((q) => q.name === a.name!.name);
        if (!p) fail('E204', `\`${e.callee.name}\` has no argument \`${a.name.name}\``, a.name.span, didYouMean(a.name.name, params.map((q) => q.name)) ?? signature);
        if (named.has(p.name)) fail('E206', `argument \`${p.name}\` is given twice`, a.span);
        named.set(p.name, { value: this.expr(a.value, scope, ctx, inst), span: a.value.span });
        continue;
      }
      if (seenNamed) fail('E204', 'a positional argument cannot follow a named one', a.span, signature);
      const value = this.expr(a.value, scope, ctx, inst);
      if (variadic && value.kind === 'tensor') {
        rest.push({ value, span: a.value.span });
        continue;
      }
      const p = params[pos++];
      if (!p) fail('E204', `too many arguments for \`${e.callee.name}\``, a.span, signature);
      named.set(p.name, { value, span: a.value.span });
    }
    for (const p of params)
      if (!p.optional && !named.has(p.name)) fail('E205', `\`${e.callee.name}\` needs the argument \`${p.name}\``, e.span, signature);
    if (variadic && rest.length === 0) fail('E205', `\`${e.callee.name}\` needs at least one tensor`, e.span, signature);
    return { named, variadic: rest };
  }

  private tensor(v: LVal, span: Span, what: string): Value {
    if (v.kind === 'tensor') return v.value;
    if (v.kind === 'tuple')
      fail('E303', `${what} must be a tensor, got ${describe(v)}`, span, `pick one result, e.g. \`.${v.fields[0]}\``);
    fail('E303', `${what} must be a tensor, got ${describe(v)}`, span);
  }

  /** Converts a compile-time value into an attribute of the parameter's kind. */
  private attr(v: LVal, p: BuiltinParam, span: Span): AttrValue {
    const bad = (want: string): never => fail('E304', `\`${p.name}\` must be ${want}, got ${describe(v)}`, span);
    switch (p.kind) {
      case 'int':
        if (v.kind !== 'int' || isSym(v.value)) bad('an integer');
        return (v as { value: number }).value;
      case 'float':
        if (v.kind === 'float') return v.value;
        if (v.kind === 'int' && !isSym(v.value)) return v.value;
        return bad('a number');
      case 'bool':
        if (v.kind !== 'bool') bad('true or false');
        return (v as { value: boolean }).value;
      case 'string':
        if (v.kind !== 'string') bad('a string');
        return (v as { value: string }).value;
      case 'dtype':
        if (v.kind !== 'dtype') bad('a dtype such as f32');
        return (v as { value: string }).value;
      case 'ints':
      case 'dims': {
        // A single size stands for a one-element list (`rope(q, offset=L)`).
        if (p.kind === 'dims' && v.kind === 'int') return [v.value];
        if (v.kind !== 'list') bad('a list such as [1, 0]');
        return (v as { items: LVal[] }).items.map((i) => {
          if (i.kind !== 'int' || (p.kind === 'ints' && isSym(i.value))) bad(p.kind === 'ints' ? 'a list of integers' : 'a list of sizes');
          return (i as { value: Dim }).value;
        });
      }
      default:
        return bad('a tensor');
    }
  }

  /** `experts(...)`: expands into permute → dispatch → grouped GEMMs + activation → combine. */
  private experts(e: A.CallExpr, scope: Scope, ctx: FuncContext, inst: Instance, hint?: string): Value {
    const sig = builtinSignature('experts', EXPERTS_PARAMS);
    const args = this.bindArgs(e, EXPERTS_PARAMS, scope, ctx, inst, sig).named;
    const get = (n: string): Value | undefined => {
      const a = args.get(n);
      return a ? this.tensor(a.value, a.span, `\`${n}\``) : undefined;
    };
    const span = (n: string): Span => args.get(n)?.span ?? e.span;
    const act = args.get('act') ? this.attr(args.get('act')!.value, { name: 'act', kind: 'string' }, span('act')) : 'swiglu';
    if (!(EXPERT_ACTIVATIONS as readonly string[]).includes(act as string))
      fail('E304', `unknown expert activation "${String(act)}"`, span('act'), didYouMean(String(act), EXPERT_ACTIVATIONS) ?? `one of: ${EXPERT_ACTIVATIONS.join(', ')}`);
    const x = get('x')!;
    const idx = get('indices')!;
    const weights = get('weights')!;
    const up = get('up')!;
    const down = get('down')!;
    const gate = get('gate');
    if (act === 'swiglu' && !gate) fail('E205', '`experts(..., act="swiglu")` needs `gate=`', e.span, sig);
    if (act !== 'swiglu' && gate) fail('E204', `\`gate=\` is only for act="swiglu", not "${String(act)}"`, span('gate'));
    if (up.type.shape.length !== 3) fail('E301', `\`up\` must be a stacked expert weight [E, F, D], got ${formatType(up.type)}`, span('up'));
    const experts = up.type.shape[0];
    if (isSym(experts)) fail('E301', 'the expert count must be a concrete size', span('up'));
    if (idx.type.shape.length !== 2) fail('E301', `\`indices\` must be [T, K], got ${formatType(idx.type)}`, span('indices'));
    const k = idx.type.shape[1];
    if (isSym(k)) fail('E301', 'the experts per token must be a concrete size', span('indices'));
    const h = hint ?? 'experts';
    const add = (op: string, inputs: Value[], attrs: Attrs, spans: Array<Span | undefined>, name?: string): Value[] =>
      this.addNode(ctx, op, inputs, attrs, e.span, spans, name === undefined ? undefined : `${h}.${name}`);
    const [slots, offsets] = add('moe_permute', [idx], { experts }, [span('indices')], 'perm');
    const xs = add('moe_dispatch', [x, slots, offsets], { k }, [span('x')], 'xs')[0];
    const gl = (inp: Value, w: Value, wname: string): Value => add('grouped_matmul', [inp, w, offsets], { transpose_b: true }, [undefined, span(wname)])[0];
    let hidden: Value;
    if (act === 'swiglu') hidden = add('mul', [add('silu', [gl(xs, gate!, 'gate')], {}, [])[0], gl(xs, up, 'up')], {}, [], 'act')[0];
    else hidden = add(act as string, [gl(xs, up, 'up')], {}, [], 'act')[0];
    const ys = gl(hidden, down, 'down');
    return this.addNode(ctx, 'moe_combine', [ys, slots, offsets, weights], {}, e.span, [undefined, undefined, undefined, span('weights')], hint)[0];
  }

  // -------------------------------------------------------------------------------------
  // Blocks and repetition.

  /** Binds a block's parameters to call arguments; returns the tensor args in order. */
  private blockArgs(block: A.BlockDecl, e: A.CallExpr, scope: Scope, ctx: FuncContext, inst: Instance, bodyScope: Scope): Array<{ value: Value; span: Span; param: A.Param; type: TensorType }> {
    const params: BuiltinParam[] = block.params.map((p) => ({ name: p.name.name, kind: p.type.kind === 'type' ? 'tensor' : p.type.name, optional: p.default !== undefined }));
    const sig = builtinSignature(block.name.name, params);
    const args = this.bindArgs(e, params, scope, ctx, inst, sig).named;
    const tensors: Array<{ value: Value; span: Span; param: A.Param; type: TensorType }> = [];
    for (const p of block.params) {
      const a = args.get(p.name.name);
      if (p.type.kind === 'scalar_type') {
        const v = a ? a.value : this.compileTime(p.default!, bodyScope);
        const span = a?.span ?? p.default!.span;
        if (p.type.name === 'int' && (v.kind !== 'int' || isSym(v.value))) fail('E304', `\`${p.name.name}\` must be an integer, got ${describe(v)}`, span);
        if (p.type.name === 'float' && v.kind !== 'float' && !(v.kind === 'int' && !isSym(v.value)))
          fail('E304', `\`${p.name.name}\` must be a number, got ${describe(v)}`, span);
        const value: LVal = p.type.name === 'float' && v.kind === 'int' ? { kind: 'float', value: v.value as number } : v;
        bodyScope.set(p.name.name, value, p.name.span);
      }
    }
    // Tensor parameter types may use the block's int parameters, so check them second.
    for (const p of block.params) {
      if (p.type.kind !== 'type') continue;
      if (p.default) fail('E304', 'only `int` and `float` parameters can have defaults', p.default.span);
      const a = args.get(p.name.name)!;
      const value = this.tensor(a.value, a.span, `argument \`${p.name.name}\``);
      const type = this.type(p.type, bodyScope);
      this.checkType(value.type, type, a.span, `argument \`${p.name.name}\` of \`${block.name.name}\``);
      tensors.push({ value, span: a.span, param: p, type });
    }
    return tensors;
  }

  private checkType(got: TensorType, want: TensorType, span: Span, what: string): void {
    if (got.dtype !== want.dtype || !sameQuant(got.quant, want.quant)) fail('E302', `${what} is ${formatType(got)}, declared ${formatType(want)}`, span);
    if (!shapeEq(got.shape, want.shape)) fail('E301', `${what} is ${formatType(got)}, declared ${formatType(want)}`, span);
  }

  private enterBlock(block: A.BlockDecl, span: Span): void {
    if (this.blockStack.includes(block.name.name))
      fail('E210', `block \`${block.name.name}\` calls itself (${[...this.blockStack, block.name.name].join(' → ')})`, span, 'use `repeat(N)` for repetition');
    if (this.blockStack.length >= MAX_BLOCK_DEPTH) fail('E210', `blocks are nested more than ${MAX_BLOCK_DEPTH} deep`, span);
    this.blockStack.push(block.name.name);
  }

  private childInstance(e: A.CallExpr, block: A.BlockDecl, inst: Instance): Instance {
    const name = e.instance?.name ?? block.name.name;
    const pattern = e.from ? (inst.patternPrefix ? `${inst.patternPrefix}.${e.from.value}` : e.from.value) : inst.patternPrefix;
    return { prefix: `${inst.prefix}${name}.`, patternPrefix: pattern };
  }

  /** Lowers a block body in `bodyScope` into `ctx`; returns its `return` values. */
  private blockBody(block: A.BlockDecl, bodyScope: Scope, ctx: FuncContext, inst: Instance): Value[] {
    const body = block.body;
    const last = body[body.length - 1];
    if (!last || last.kind !== 'return') fail('E205', `block \`${block.name.name}\` does not end with \`return\``, block.name.span, 'end it with `return VALUE`');
    const before = this.errors.length;
    for (const st of body.slice(0, -1)) this.recover(st, bodyScope, () => this.statement(st, bodyScope, ctx, inst));
    if (this.errors.length > before) throw new Poisoned();
    const ret = last as A.ReturnStmt;
    return ret.values.map((v, i) => this.tensor(this.expr(v, bodyScope, ctx, inst, `${inst.prefix}r${i}`), v.span, 'a block result'));
  }

  private inlineBlock(block: A.BlockDecl, e: A.CallExpr, scope: Scope, ctx: FuncContext, inst: Instance): Value[] {
    const bodyScope = new Scope(this.fileScope);
    // Arguments first: `b(b(x) as p)` calls b twice in sequence, which is not recursion.
    const args = this.blockArgs(block, e, scope, ctx, inst, bodyScope);
    this.enterBlock(block, e.callee.span);
    args.forEach((a) => bodyScope.set(a.param.name.name, { kind: 'tensor', value: a.value }, a.param.name.span));
    const results = this.blockBody(block, bodyScope, ctx, this.childInstance(e, block, inst));
    this.blockStack.pop();
    return results;
  }

  private repeat(e: A.RepeatExpr, scope: Scope, ctx: FuncContext, inst: Instance, hint?: string): LVal {
    const block = this.blocks.get(e.call.callee.name);
    if (!block) {
      const known = [...this.blocks.keys()];
      fail('E202', `\`repeat\` needs a block, and \`${e.call.callee.name}\` is not one`, e.call.callee.span, didYouMean(e.call.callee.name, known) ?? 'declare it with `block NAME(...) { ... }`');
    }
    const start = e.start ? this.concreteInt(e.start, scope, 'the first repeat index', 0) : 0;
    const end = this.concreteInt(e.end, scope, e.start ? 'the end of the repeat range' : 'the repeat count', e.start ? 0 : 1);
    const count = end - start;
    if (count < 1) fail('E307', `repeat range ${start}..${end} is empty`, e.end.span, 'the end is exclusive: `repeat(i = 3..61)` runs 58 times');
    const total = ctx.stack.reduce((n, s) => n * s.count, count);
    if (total > MAX_REPEAT) {
      const nested = total === count ? '' : ` (${total} with the repeats around it)`;
      fail('E307', `repeat count ${count}${nested} is over ${MAX_REPEAT}`, e.end.span, 'a model has at most a few hundred layers; check the count');
    }
    const index = e.index?.name ?? 'i';
    if (ctx.stack.some((s) => s.index === index))
      fail('E203', `repeat index \`${index}\` is already used by an enclosing repeat`, e.index?.span ?? e.span, 'name this one differently, e.g. `repeat(j = 0..N)`');
    this.enterBlock(block, e.call.callee.span);
    const child = this.childInstance(e.call, block, inst);
    const body = new FuncContext(this.funcName(child.prefix.slice(0, -1)), this.module, ctx, [...ctx.stack, { count, index, start }], block.span);
    const bodyScope = new Scope(this.fileScope);
    const args = this.blockArgs(block, e.call, scope, ctx, inst, bodyScope);
    // Body parameters: carried and invariant values first (weights are appended as used).
    for (const a of args) bodyScope.set(a.param.name.name, { kind: 'tensor', value: body.builder.param(a.param.name.name, a.type, a.span) }, a.param.name.span);
    const results = this.blockBody(block, bodyScope, body, child);
    this.blockStack.pop();
    const carried = results.length;
    if (args.length < carried)
      fail('E308', `\`${block.name.name}\` returns ${carried} values, so its first ${carried} arguments are carried from one repeat to the next, but it takes ${args.length} tensors`, e.call.span);
    results.forEach((r, i) => this.checkType(r.type, args[i].type, e.call.args[i]?.span ?? e.span, `the carried value \`${args[i].param.name.name}\` (result ${i + 1} of \`${block.name.name}\`)`));
    results.forEach((r, i) => body.builder.result(`r${i}`, r));
    this.module.funcs.push(body.builder.func);
    const stacked = body.weightParams.map((w) => ctx.stackedValue(w, w.decl.span));
    const outs = this.addNode(
      ctx,
      'repeat',
      [...args.map((a) => a.value), ...stacked],
      { body: body.builder.func.name, count, carried, invariant: args.length - carried },
      e.span,
      args.map((a) => a.span),
      hint,
    );
    return outs.length === 1 ? { kind: 'tensor', value: outs[0] } : { kind: 'tuple', fields: outs.map((_, i) => `r${i}`), values: outs };
  }
}

/** Where the code being lowered sits: its weight-name prefix and checkpoint-name prefix. */
interface Instance {
  /** `''` in the model, `moe.` inside instance `moe`, `moe.shared.` nested. */
  prefix: string;
  patternPrefix: string | undefined;
}

/** Lowers a parsed file to a graph IR module. Throws MoecError for the first error found. */
export function lowerFile(file: A.FileAst, opts: LowerOptions = {}): Module {
  return new Lowering(file, opts).run();
}
