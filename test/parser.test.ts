/**
 * @fileoverview Tests of the `.moe` front end's first half: lexer, parser and CST → AST.
 * Every example parses to the expected structure with exact spans, and every class of
 * lexical and syntax error gives its code, message, hint and `line:col`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic, MoecError, type Diagnostic } from '../ir/diagnostics.ts';
import type { BindStmt, CallExpr, Expr, FileAst, RepeatExpr } from '../compiler/frontend/ast.ts';
import { MAX_NESTING, parseSource, parseText } from '../compiler/frontend/parse.ts';
import { MoeParser } from '../compiler/frontend/parser.ts';
import { makeLexer } from '../compiler/frontend/tokens.ts';
import { SourceFile, type Span } from '../ir/source.ts';

const EXAMPLES = join(import.meta.dirname, '..', 'examples');

function example(name: string): { src: SourceFile; ast: FileAst } {
  const src = new SourceFile(`examples/${name}`, readFileSync(join(EXAMPLES, name), 'utf8'));
  return { src, ast: parseSource(src) };
}

/** The diagnostics `text` is rejected with. Fails the test if it parses or throws anything else. */
function errorsOf(text: string): Diagnostic[] {
  try {
    parseText('t.moe', text);
  } catch (e) {
    if (e instanceof MoecError) return e.diagnostics;
    throw e;
  }
  throw new Error('expected a MoecError, but the text parsed');
}

/** `code line:col message` of each diagnostic, with `| hint` if there is one. */
function summary(text: string): string[] {
  const src = new SourceFile('t.moe', text);
  return errorsOf(text).map((d) => {
    const at = d.span ? src.position(d.span.start) : undefined;
    const where = at ? `${at.line}:${at.col}` : '-';
    return `${d.code} ${where} ${d.message}${d.hint ? ` | ${d.hint}` : ''}`;
  });
}

/** The source text a span covers. */
function textOf(src: SourceFile, span: Span): string {
  expect(span.file).toBe(src.path);
  return src.text.slice(span.start, span.end);
}

function bind(ast: FileAst, target: string): BindStmt {
  for (const body of [...ast.models.map((m) => m.body), ...ast.blocks.map((b) => b.body)]) {
    for (const s of body) if (s.kind === 'bind' && s.targets[0].name === target) return s;
  }
  throw new Error(`no binding of ${target}`);
}

describe('grammar', () => {
  // The CLI's lexer and parser skip chevrotain's definition checks to start fast; these
  // run them, so an ambiguous rule or a bad token definition fails here.
  it('passes chevrotain\'s token and grammar validations', () => {
    expect(() => makeLexer(true)).not.toThrow();
    expect(() => new MoeParser(true)).not.toThrow();
  });
});

describe('examples', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.moe'));

  it('finds the examples', () => {
    expect(files).toEqual(
      expect.arrayContaining(['deepseek-v3.moe', 'gpt-oss.moe', 'mixtral.moe', 'qwen-moe.moe', 'switch.moe', 'tiny.moe']),
    );
  });

  it.each(files)('%s parses to one model', (name) => {
    const { ast } = example(name);
    expect(ast.kind).toBe('file');
    expect(ast.models).toHaveLength(1);
    expect(ast.decls[0].kind).toBe('dim');
    expect(ast.decls[0].name.name).toBe('T');
  });

  it('tiny.moe: declarations, statements and expressions', () => {
    const { src, ast } = example('tiny.moe');
    expect(ast.decls.map((d) => `${d.kind} ${d.name.name}`)).toEqual(['dim T', 'const D', 'const F', 'const E', 'const K']);
    const dim = ast.decls[0];
    expect(dim.kind === 'dim' && dim.max).toMatchObject({ kind: 'number', value: 64, isInt: true });
    const model = ast.models[0];
    expect(model.name.name).toBe('tiny');
    expect(model.body.map((s) => s.kind)).toEqual([
      'input', 'weight', 'weight', 'weight', 'weight',
      'bind', 'bind', 'bind', 'bind', 'bind', 'bind', 'bind', 'output',
    ]);
    const input = model.body[0];
    expect(input.kind === 'input' && input.type).toMatchObject({
      kind: 'type',
      dtype: 'f32',
      shape: [{ kind: 'name', name: 'T' }, { kind: 'name', name: 'D' }],
    });
    const weight = model.body[1];
    expect(weight.kind === 'weight' && weight.from).toMatchObject({ kind: 'string', value: 'mlp.gate.weight' });

    // `top.values / sum(top.values, axis=-1, keepdim=true)`
    const w = bind(ast, 'weights').value;
    expect(w).toMatchObject({
      kind: 'binary',
      op: '/',
      left: { kind: 'member', object: { kind: 'name', name: 'top' }, field: { name: 'values' } },
      right: { kind: 'call', callee: { name: 'sum' } },
    });
    const sum = (w as Extract<Expr, { kind: 'binary' }>).right as CallExpr;
    expect(sum.args.map((a) => a.name?.name)).toEqual([undefined, 'axis', 'keepdim']);
    expect(sum.args[1].value).toMatchObject({ kind: 'unary', op: '-', operand: { kind: 'number', value: 1 } });
    expect(sum.args[2].value).toEqual({ kind: 'bool', value: true, span: sum.args[2].value.span });
    expect(textOf(src, sum.args[1].span)).toBe('axis=-1');

    // `slots, offsets = moe_permute(...)`
    expect(bind(ast, 'slots').targets.map((t) => t.name)).toEqual(['slots', 'offsets']);
    const out = model.body[12];
    expect(out.kind === 'output' && out.value).toMatchObject({ kind: 'call', callee: { name: 'moe_combine' } });
  });

  it('deepseek-v3.moe: three blocks and repeats with an index, start, end, `as` and `from`', () => {
    const { src, ast } = example('deepseek-v3.moe');
    expect(ast.blocks.map((b) => b.name.name)).toEqual(['swiglu_mlp', 'dense_layer', 'moe_layer']);
    const mlp = ast.blocks[0];
    expect(mlp.params.map((p) => [p.name.name, p.type.kind])).toEqual([['x', 'type'], ['hidden', 'scalar_type']]);
    expect(mlp.body.at(-1)?.kind).toBe('return');
    expect(ast.decls.find((d) => d.name.name === 'SCALE')).toMatchObject({ value: { kind: 'number', value: 2.5, isInt: false } });
    expect(ast.decls.find((d) => d.name.name === 'EPS')).toMatchObject({ value: { kind: 'number', value: 1e-6, isInt: false } });

    const model = ast.models[0];
    expect(model.name.name).toBe('deepseek_v3');
    expect(model.body.map((s) => s.kind)).toEqual(['input', 'bind', 'bind', 'output']);
    const [dense, moe] = [model.body[1], model.body[2]].map((s) => (s as BindStmt).value as RepeatExpr);
    expect(dense.kind).toBe('repeat');
    expect(dense.index?.name).toBe('i');
    expect(dense.start).toMatchObject({ kind: 'number', value: 0 });
    expect(dense.end).toMatchObject({ kind: 'name', name: 'DENSE_LAYERS' });
    expect(dense.call.callee.name).toBe('dense_layer');
    expect(dense.call.instance?.name).toBe('dense');
    expect(dense.call.from?.value).toBe('model.layers.{i}');
    expect(moe.start).toMatchObject({ kind: 'name', name: 'DENSE_LAYERS' });
    expect(moe.end).toMatchObject({ kind: 'name', name: 'LAYERS' });
    expect(moe.call.instance?.name).toBe('moe');
    expect(textOf(src, moe.span)).toBe('repeat(i = DENSE_LAYERS..LAYERS) moe_layer(h) as moe from "model.layers.{i}"');

    // `x + swiglu_mlp(...) as mlp from "mlp"`: `as` and `from` belong to the call.
    const ret = ast.blocks[1].body[1];
    expect(ret.kind === 'return' && ret.values[0]).toMatchObject({
      kind: 'binary',
      op: '+',
      right: { kind: 'call', callee: { name: 'swiglu_mlp' }, instance: { name: 'mlp' }, from: { value: 'mlp' } },
    });
  });

  it('a repeat without a range has only an end', () => {
    const ast = parseText('r.moe', 'model m { h = repeat(61) layer(h) }');
    expect(bind(ast, 'h').value).toMatchObject({ kind: 'repeat', end: { kind: 'number', value: 61 }, call: { callee: { name: 'layer' } } });
    expect((bind(ast, 'h').value as RepeatExpr).index).toBeUndefined();
  });
});

describe('spans', () => {
  it('point at the right line and column', () => {
    const { src, ast } = example('deepseek-v3.moe');
    const at = (span: Span) => src.position(span.start);
    const lines = src.text.split('\n');
    const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
    const model = ast.models[0];
    expect(at(model.span)).toEqual({ line: lineOf('model deepseek_v3 {'), col: 1 });
    expect(textOf(src, model.name.span)).toBe('deepseek_v3');
    expect(src.text.slice(model.span.end - 1, model.span.end)).toBe('}');
    const moe = ast.blocks[2];
    expect(at(moe.span)).toEqual({ line: lineOf('block moe_layer('), col: 1 });
    const sel = bind(ast, 'sel');
    expect(at(sel.span)).toEqual({ line: lineOf('sel = group_topk('), col: 3 });
    expect(textOf(src, sel.span)).toBe(
      'sel = group_topk(scores + bias, k=K, groups=GROUPS, topk_groups=TOPK_GROUPS, group_score="sum_top2")',
    );
    const call = sel.value as CallExpr;
    expect(textOf(src, call.args[0].value.span)).toBe('scores + bias');
    expect(at(call.args[4].span)).toEqual({ line: lineOf('sel = group_topk('), col: 80 });
    expect(textOf(src, call.args[4].span)).toBe('group_score="sum_top2"');
  });

  it('cover parentheses, fields, types and statements exactly', () => {
    const text = [
      'dim T <= 8',
      'model m {',
      '  input x: f32[T, 4]',
      '  y = (x + 1) * -x',
      '  z = topk(y, k=2).values',
      '  output o: f32[T, 4] = z',
      '}',
    ].join('\n');
    const src = new SourceFile('s.moe', text);
    const ast = parseSource(src);
    expect(textOf(src, ast.decls[0].span)).toBe('dim T <= 8');
    const [input, y, z, out] = ast.models[0].body;
    expect(textOf(src, input.span)).toBe('input x: f32[T, 4]');
    expect(input.kind === 'input' && textOf(src, input.type.span)).toBe('f32[T, 4]');
    expect(input.kind === 'input' && textOf(src, input.type.dtypeSpan)).toBe('f32');
    const prod = (y as BindStmt).value;
    expect(textOf(src, prod.span)).toBe('(x + 1) * -x');
    expect(prod.kind === 'binary' && textOf(src, prod.left.span)).toBe('(x + 1)');
    expect(prod.kind === 'binary' && textOf(src, prod.right.span)).toBe('-x');
    expect(textOf(src, (z as BindStmt).value.span)).toBe('topk(y, k=2).values');
    expect(textOf(src, out.span)).toBe('output o: f32[T, 4] = z');
    expect(ast.span).toEqual({ file: 's.moe', start: 0, end: text.length });
  });
});

describe('lexical structure', () => {
  it('reads keywords inside names as names, and `0..3` as a range', () => {
    const ast = parseText('k.moe', 'const model_dim = 3\nconst input2 = f32x\nmodel m { h = repeat(i = 0..3) f(h) }');
    expect(ast.decls.map((d) => d.name.name)).toEqual(['model_dim', 'input2']);
    expect(ast.decls[1]).toMatchObject({ value: { kind: 'name', name: 'f32x' } });
    expect(bind(ast, 'h').value).toMatchObject({ start: { value: 0, isInt: true }, end: { value: 3, isInt: true } });
  });

  it('reads numbers, strings, dtypes and comments', () => {
    const ast = parseText(
      'n.moe',
      'const A = 1.5E+3 /* block\ncomment */ const B = 42 // line\nmodel m { s = f("a\\"b\\\\c", bf16, false) }',
    );
    expect(ast.decls[0]).toMatchObject({ value: { kind: 'number', value: 1500, isInt: false } });
    expect(ast.decls[1]).toMatchObject({ value: { kind: 'number', value: 42, isInt: true } });
    expect((bind(ast, 's').value as CallExpr).args.map((a) => a.value)).toMatchObject([
      { kind: 'string', value: 'a"b\\c' },
      { kind: 'dtype', value: 'bf16' },
      { kind: 'bool', value: false },
    ]);
  });

  it('accepts an empty file and a file of comments, with no models', () => {
    for (const text of ['', '  \n', '// only a comment\n/* and\n a block */\n']) {
      const ast = parseText('e.moe', text);
      expect(ast).toMatchObject({ kind: 'file', decls: [], blocks: [], models: [] });
    }
  });
});

describe('errors', () => {
  it('E101: an unexpected character', () => {
    expect(summary('model m {\n  y = x @ w\n}')).toEqual([
      "E101 2:9 unexpected character '@' | write a matrix product as `matmul(a, b)`",
    ]);
    expect(summary('model m {\n  y = x;\n}')).toEqual([
      "E101 2:8 unexpected character ';' | statements need no separator; remove the `;`",
    ]);
  });

  it('E103: an unterminated string', () => {
    expect(summary('model m {\n  weight w: f32[4] from "abc\n}')).toEqual([
      'E103 2:25 unterminated string | a string ends with `"` on the same line',
    ]);
    const [d] = errorsOf('model m {\n  weight w: f32[4] from "abc\n}');
    expect(d.span).toEqual({ file: 't.moe', start: 34, end: 38 });
  });

  it('E103: an unterminated block comment, without echoes at the end of the file', () => {
    expect(summary('model m {\n  y = x\n/* oops\n}')).toEqual(['E103 3:1 unterminated block comment | close it with `*/`']);
  });

  it('E102: a missing `)`', () => {
    expect(summary('model m {\n  y = topk(x k=2)\n}')).toEqual([
      "E102 2:14 expected ')' but found 'k' | is a `,` missing before `k`?",
    ]);
    expect(summary('model m {\n  y = softmax(x\n  z = y\n}')).toEqual([
      "E102 3:3 expected ')' but found 'z' | the `(` opened at line 2 is not closed",
    ]);
  });

  it('E102: a missing `}` at the end of the file', () => {
    expect(summary('model m {\n  input x: f32[4]\n  y = x\n')).toEqual([
      "E102 3:8 expected a statement or '}' but found end of file | the `{` opened at line 1 is not closed",
    ]);
  });

  it('E102: a keyword used as a name', () => {
    expect(summary('model m {\n  input model: f32[4]\n}')).toEqual([
      "E102 2:9 expected an identifier but found 'model' | `model` is a keyword; pick another name",
    ]);
    expect(summary('model m {\n  in = 3\n}')).toEqual([
      "E102 2:3 expected a statement or '}' but found 'in' | `in` is a keyword; pick another name",
    ]);
  });

  it('E102: a misspelt statement keyword, with a did-you-mean hint', () => {
    expect(summary('model m {\n  wieght w: f32[4]\n}')).toEqual([
      "E102 2:3 unknown statement 'wieght' | did you mean `weight`?",
    ]);
    expect(summary('model m {\n  ouput y = x\n}')).toEqual(["E102 2:3 unknown statement 'ouput' | did you mean `output`?"]);
    expect(summary('mode m {\n  y = x\n}')).toEqual([
      "E102 1:1 expected 'dim', 'const', 'block' or 'model' but found 'mode' | did you mean `model`?",
    ]);
  });

  it('E102: garbage in an expression', () => {
    expect(summary('model m {\n  y = * x\n}')).toEqual(["E102 2:7 expected an expression but found '*'"]);
    expect(summary('model m {\n  y = x == 2\n}')).toEqual([
      "E102 2:9 expected a statement or '}' but found '=' | `.moe` has no `==`; a binding is written with a single `=`",
    ]);
  });

  it('E102: a number run into a name', () => {
    expect(summary('const A = 3x\nconst B = 1e')).toEqual([
      "E102 1:11 malformed number '3x' | a name cannot start with a digit; to multiply, write `2 * x`",
      "E102 2:11 malformed number '1e' | an exponent needs digits, as in `1e-6`",
    ]);
  });

  it('reports every broken statement once, in source order', () => {
    const text = [
      'model m {',
      '  input x: f32[4]',
      '  wieght w: f32[4]',
      '  y = * x',
      '  z = f(x k=2)',
      '  ok = x',
      '  bad = x @ w',
      '}',
    ].join('\n');
    expect(summary(text)).toEqual([
      "E102 3:3 unknown statement 'wieght' | did you mean `weight`?",
      "E102 4:7 expected an expression but found '*'",
      "E102 5:11 expected ')' but found 'k' | is a `,` missing before `k`?",
      "E101 7:11 unexpected character '@' | write a matrix product as `matmul(a, b)`",
    ]);
  });

  it('E102: nesting too deep, without overflowing the stack', () => {
    const deep = `model m {\n  y = ${'('.repeat(10_000)}x${')'.repeat(10_000)}\n}`;
    const [d, ...rest] = errorsOf(deep);
    expect(rest).toEqual([]);
    expect(d.code).toBe('E102');
    expect(d.message).toBe('expression nested too deeply');
    const src = new SourceFile('t.moe', deep);
    expect(src.position(d.span!.start)).toEqual({ line: 2, col: 7 + MAX_NESTING });
    expect(errorsOf(`model m { y = ${'-'.repeat(10_000)}x }`).map((e) => e.message)).toEqual(['expression nested too deeply']);
    // At the limit it still parses.
    const ok = parseText('t.moe', `model m { y = ${'('.repeat(MAX_NESTING)}x${')'.repeat(MAX_NESTING)} }`);
    expect(bind(ok, 'y').value).toMatchObject({ kind: 'name', name: 'x' });
  });

  it('never throws anything but a MoecError', () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pieces = ['(', ')', '[', ']', '{', '}', ',', ':', '=', '..', '.', '-', '*', '<=', '"', '/*', '@', '\n', ' '];
    const words = ['model', 'block', 'dim', 'const', 'input', 'weight', 'output', 'return', 'repeat', 'as', 'from', 'x', '1', 'f32'];
    const inputs = ['\u0000\uffff\ud800', '}}}}', '"', '/*', 'model', 'model m {', 'block b(', 'repeat'];
    for (let i = 0; i < 300; i++) {
      let s = '';
      for (let k = random(60); k > 0; k--) s += random(2) ? pieces[random(pieces.length)] : ` ${words[random(words.length)]} `;
      inputs.push(s);
    }
    for (const text of inputs) {
      try {
        parseText('f.moe', text);
      } catch (e) {
        expect(e).toBeInstanceOf(MoecError);
        for (const d of (e as MoecError).diagnostics) expect(d.code).toMatch(/^E10[123]$/);
      }
    }
  });
});

describe('formatDiagnostic', () => {
  it('prints file:line:col, the source line and a caret', () => {
    const text = 'model m {\n  y = topk(x k=2)\n}';
    const src = new SourceFile('t.moe', text);
    const [d] = errorsOf(text);
    expect(formatDiagnostic(d, () => src)).toBe(
      [
        "t.moe:2:14: error E102: expected ')' but found 'k'",
        ' 2 |   y = topk(x k=2)',
        '   |              ^',
        '  hint: is a `,` missing before `k`?',
      ].join('\n'),
    );
  });
});
