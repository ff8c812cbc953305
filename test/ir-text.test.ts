/**
 * @fileoverview Tests for the IR text form: modules built with FuncBuilder print, parse back
 * to structurally identical modules and re-print to the identical text; hand-written text
 * is read leniently (comments, omitted defaults); malformed or invalid text is reported as
 * E401/E402 at the right `line:col`, and never escapes as a raw exception.
 */
import { describe, expect, it } from 'vitest';
import { type Diagnostic, MoecError, formatDiagnostic } from '../ir/diagnostics.ts';
import { SourceFile } from '../ir/source.ts';
import { FuncBuilder } from '../ir/graph/builder.ts';
import { dimAdd, dimMul, sym } from '../ir/dims.ts';
import type { Module } from '../ir/graph/graph.ts';
import { parseIR } from '../ir/graph/parse.ts';
import { printIR } from '../ir/graph/print.ts';
import type { TensorType } from '../ir/types.ts';
import { verify } from '../ir/graph/verify.ts';

const T = sym('T');
const f32 = (...shape: TensorType['shape']): TensorType => ({ dtype: 'f32', shape });

/**
 * A small MoE-shaped model: a router, top-k, a permute over T*2 slots, and a `repeat`
 * over a body function with weights stacked along the layer axis.
 */
function moeModel(): Module {
  const m: Module = {
    name: 'tiny',
    dims: [{ name: 'T', max: 64 }],
    weights: [
      { name: 'router', type: f32(4, 8), source: { pattern: 'mlp.gate.weight', axes: [] } },
      { name: 'moe.norm', type: f32(3, 8), source: { pattern: 'model.layers.{i}.norm.weight', axes: [{ name: 'i', start: 3 }] } },
      {
        name: 'moe.w_gate',
        type: f32(3, 4, 16, 8),
        source: { pattern: 'model.layers.{i}.mlp.experts.{e}.gate_proj.weight', axes: [{ name: 'i', start: 3 }, { name: 'e', start: 0 }] },
      },
      { name: 'scale', type: f32(8) },
    ],
    funcs: [],
  };
  const body = new FuncBuilder('moe_layer', m);
  const x = body.param('x', f32(T, 8));
  const norm = body.param('norm', f32(8));
  body.param('w_gate', f32(4, 16, 8)); // one layer's slice of the stacked moe.w_gate
  const h = body.add1('rmsnorm', [x, norm], {}, undefined, 'h');
  body.add1('const', [], { value: 0, dtype: 'i32' }, undefined, 'zero');
  const [, top] = body.add('topk', [body.add1('softmax', [h])], { k: 2 }, undefined, 'top');
  const perm = body.add('moe_permute', [top], { experts: 4 }, undefined, 'perm');
  const rows = body.add1('moe_dispatch', [h, perm[0], perm[1]], { k: 2 }, undefined, 'rows');
  body.result('r0', body.add1('add', [h, body.add1('sum', [rows], { axis: 0, keepdim: true })]));
  m.funcs.push(body.func);

  const main = new FuncBuilder('main', m);
  const mx = main.param('x', f32(T, 8));
  const router = main.add1('weight', [], { name: 'router' }, undefined, 'router');
  const logits = main.add1('matmul', [mx, router], { transpose_b: true });
  const probs = main.add1('softmax', [logits], {}, undefined, 'probs');
  main.add('topk', [probs], { k: 2 }, undefined, 'top');
  const n = main.add1('weight', [], { name: 'moe.norm' }, undefined, 'moe.norm');
  const w = main.add1('weight', [], { name: 'moe.w_gate' }, undefined, 'moe.w_gate');
  const y = main.add1('repeat', [mx, n, w], { body: 'moe_layer', count: 3, carried: 1 }, undefined, 'h');
  main.result('y', y);
  main.result('logits', logits);
  m.funcs.push(main.func);
  return m;
}

/** Symbolic sizes, a dims attribute, null attributes, awkward strings and numbers. */
function oddModel(): Module {
  const m: Module = {
    name: 'odd-model v2',
    dims: [{ name: 'T', max: 4096 }, { name: 'S' }],
    weights: [{ name: 'we"ird\\name', type: f32(8) }],
    funcs: [],
  };
  const b = new FuncBuilder('main', m);
  const x = b.param('x', f32(dimMul(T, 2), 8));
  const s = b.param('in_put', f32(sym('S')));
  s.name = 'in put'; // the builder sanitises names; passes may not, and printing must cope
  const cat = b.add1('concat', [x, x], { axis: 0 }, undefined, 'cat'); // [4*T, 8]
  const r = b.add1('reshape', [cat], { shape: [T, dimAdd(dimMul(T, 0), 4), 8] }); // [T, 4, 8]
  const r2 = b.add1('reshape', [r], { shape: [dimMul(T, 4), 8] });
  const c = b.add1('clamp', [r2], { max: 6 }, undefined, 'clamped');
  const sl = b.add1('slice', [c], { axis: 1, start: 1, step: 2 });
  const w = b.add1('weight', [], { name: 'we"ird\\name' });
  const k1 = b.add1('const', [], { value: 1e-6 });
  const k2 = b.add1('const', [], { value: -7.5 });
  const k3 = b.add1('const', [], { value: 1e21, dtype: 'f64' });
  const k4 = b.add1('const', [], { value: -0 });
  const k5 = b.add1('const', [], { value: -Infinity });
  const k6 = b.add1('const', [], { value: 0.1 + 0.2 });
  const g = b.add1('gelu', [s], { approximate: 'tanh' });
  b.add1('rmsnorm', [c, w], { eps: 1e-7 });
  b.result('y', sl);
  b.result('neg', b.add1('add', [k1, b.add1('mul', [k2, b.add1('sub', [k4, k5])])]));
  b.result('k3', k3);
  b.result('k6', k6);
  b.result('g', g);
  m.funcs.push(b.func);
  return m;
}

/** A deep copy without spans, so modules from the builder and the parser compare equal. */
function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k, x]) => k !== 'span' && x !== undefined)
      .map(([k, x]) => [k, strip(x)]),
  );
}

function diagnosticsOf(text: string, path = 'tiny.ir'): Diagnostic[] {
  try {
    parseIR(text, path);
  } catch (e) {
    if (e instanceof MoecError) return e.diagnostics;
    throw e;
  }
  throw new Error('expected parseIR to fail');
}

/** The first diagnostic as the CLI prints it (`path:line:col: error CODE: message`, line, caret, hint). */
function firstError(text: string): string {
  const d = diagnosticsOf(text)[0];
  return formatDiagnostic(d, (p) => new SourceFile(p, text));
}

describe('round trip', () => {
  for (const [name, build] of [
    ['moe model with a repeat', moeModel],
    ['odd names, sizes and numbers', oddModel],
  ] as const) {
    it(`${name}: print(parse(print(m))) === print(m), structurally identical`, () => {
      const m = build();
      expect(verify(m)).toEqual([]);
      const text = printIR(m);
      const back = parseIR(text, 'm.ir');
      expect(printIR(back)).toBe(text);
      expect(strip(back)).toEqual(strip(m));
    });
  }

  it('prints the documented canonical form', () => {
    expect(printIR(moeModel())).toBe(`moec.ir 1
model tiny
dim T <= 64
weight router: f32[4, 8] from "mlp.gate.weight"
weight moe.norm: f32[3, 8] from "model.layers.{i}.norm.weight" axes(i=3)
weight moe.w_gate: f32[3, 4, 16, 8] from "model.layers.{i}.mlp.experts.{e}.gate_proj.weight" axes(i=3, e=0)
weight scale: f32[8]

func moe_layer(%x: f32[T, 8], %norm: f32[8], %w_gate: f32[4, 16, 8]) {
  %h = rmsnorm(%x, %norm) {eps=0.000001} : f32[T, 8]
  %zero = const() {dtype="i32", value=0} : i32[]
  %0 = softmax(%h) {axis=-1} : f32[T, 8]
  %top.values, %top.indices = topk(%0) {axis=-1, k=2} : f32[T, 2], i32[T, 2]
  %perm.slots, %perm.offsets = moe_permute(%top.indices) {experts=4} : i32[2*T], i32[5]
  %rows = moe_dispatch(%h, %perm.slots, %perm.offsets) {k=2} : f32[2*T, 8]
  %1 = sum(%rows) {axis=0, keepdim=true} : f32[1, 8]
  %2 = add(%h, %1) : f32[T, 8]
  return r0 = %2
}

func main(%x: f32[T, 8]) {
  %router = weight() {name="router"} : f32[4, 8]
  %0 = matmul(%x, %router) {transpose_b=true} : f32[T, 4]
  %probs = softmax(%0) {axis=-1} : f32[T, 4]
  %top.values, %top.indices = topk(%probs) {axis=-1, k=2} : f32[T, 2], i32[T, 2]
  %moe.norm = weight() {name="moe.norm"} : f32[3, 8]
  %moe.w_gate = weight() {name="moe.w_gate"} : f32[3, 4, 16, 8]
  %h = repeat(%x, %moe.norm, %moe.w_gate) {body="moe_layer", carried=1, count=3, invariant=0} : f32[T, 8]
  return y = %h, logits = %0
}
`);
  });

  it('writes odd names, sizes, null and numbers so they read back exactly', () => {
    const text = printIR(oddModel());
    expect(text).toContain('model "odd-model v2"\ndim T <= 4096\ndim S\n');
    expect(text).toContain('weight "we\\"ird\\\\name": f32[8]\n');
    expect(text).toContain('func main(%x: f32[2*T, 8], %"in put": f32[S]) {');
    expect(text).toContain('%0 = reshape(%cat) {shape=[T, 4, 8]} : f32[T, 4, 8]');
    expect(text).toContain('%clamped = clamp(%1) {max=6, min=null} : f32[4*T, 8]');
    expect(text).toContain('slice(%clamped) {axis=1, end=null, start=1, step=2} : f32[4*T, 4]');
    expect(text).toContain('weight() {name="we\\"ird\\\\name"} : f32[8]');
    for (const v of ['value=0.000001', 'value=-7.5', 'value=1e+21', 'value=-0', 'value=-Infinity', 'value=0.30000000000000004', 'eps=1e-7'])
      expect(text).toContain(v);
    const back = parseIR(text);
    const consts = back.funcs[0].body.filter((n) => n.op === 'const').map((n) => n.attrs.value);
    expect(consts).toEqual([1e-6, -7.5, 1e21, -0, -Infinity, 0.1 + 0.2]);
    expect(Object.is(consts[3], -0)).toBe(true);
  });

  it('links uses to the very Value objects their definitions create', () => {
    const m = parseIR(printIR(moeModel()));
    const main = m.funcs[1];
    expect(main.body[1].inputs[0]).toBe(main.params[0]);
    expect(main.body[1].inputs[1]).toBe(main.body[0].outputs[0]);
    expect(main.results[1].value).toBe(main.body[1].outputs[0]);
  });

  it('gives every declaration, function, node and value a span into the text', () => {
    const text = printIR(moeModel());
    const m = parseIR(text, 'm.ir');
    const src = new SourceFile('m.ir', text);
    const main = m.funcs[1];
    expect(src.position(m.weights[1].span!.start)).toEqual({ line: 5, col: 1 });
    expect(src.position(main.span!.start)).toEqual({ line: 21, col: 6 });
    expect(src.position(main.body[1].span!.start)).toEqual({ line: 23, col: 3 });
    expect(text.slice(main.body[1].span!.start, main.body[1].span!.end)).toBe('%0 = matmul(%x, %router) {transpose_b=true} : f32[T, 4]');
    expect(text.slice(main.params[0].span!.start, main.params[0].span!.end)).toBe('%x');
    expect(main.params[0].span!.file).toBe('m.ir');
  });
});

describe('hand-written text', () => {
  it('accepts comments and free layout, fills omitted defaults and canonicalises sizes', () => {
    const m = parseIR(`moec.ir 1 // format version
model hand
dim T
func main(%x: f32[T*2, 8]) {
  // defaults (axis=-1) are filled in, as the builder does
  %p = softmax(%x) : f32[T*2, 8]
  %q = reshape(%p) {shape=[T, 16]} : f32[T, 16]
  return out = %q
}
`);
    expect(m.funcs[0].body[0].attrs).toEqual({ axis: -1 });
    expect(printIR(m)).toContain('%p = softmax(%x) {axis=-1} : f32[2*T, 8]');
  });

  it('reads functions in any order (a repeat body may come after its caller)', () => {
    const text = printIR(moeModel());
    const [head, body, main] = text.split('\n\n');
    const swapped = `${head}\n\n${main}\n${body}\n`;
    const m = parseIR(swapped);
    expect(m.funcs.map((f) => f.name)).toEqual(['main', 'moe_layer']);
    expect(strip(m.funcs[0])).toEqual(strip(moeModel().funcs[1]));
  });
});

describe('malformed and invalid text', () => {
  const good = printIR(moeModel());
  const edit = (from: string, to: string): string => {
    expect(good).toContain(from);
    return good.replace(from, to);
  };

  it('an unknown op is E402 at the node, with a suggestion', () => {
    const out = firstError(edit('%probs = softmax(%0)', '%probs = softmaxx(%0)'));
    expect(out).toContain("tiny.ir:24:3: error E402: in func main: %probs = softmaxx(%0) {axis=-1} : f32[T, 4]: unknown op 'softmaxx'");
    expect(out).toContain('hint: did you mean `softmax`?');
  });

  it('a missing `:` before the result types is E401 where the `:` should be', () => {
    const out = firstError(edit('{transpose_b=true} : f32[T, 4]', '{transpose_b=true} f32[T, 4]'));
    expect(out).toContain("tiny.ir:23:47: error E401: expected ':' and the result types after the operands and attributes of matmul, found 'f32'");
    expect(out).toContain('hint: a node with results ends with `: type, ...`, one type per result');
  });

  it('a printed type that differs from the inferred one is E402', () => {
    const out = firstError(edit('{transpose_b=true} : f32[T, 4]', '{transpose_b=true} : f32[T, 5]'));
    expect(out).toContain('tiny.ir:23:3: error E402: in func main: %0 = matmul(%x, %router) {transpose_b=true} : f32[T, 5]: %0 is recorded as f32[T, 5] but matmul gives f32[T, 4]');
  });

  it('an unterminated string is E401 at its opening quote', () => {
    const out = firstError(edit('{name="router"}', '{name="router}'));
    expect(out).toContain('tiny.ir:22:28: error E401: unterminated string');
  });

  it('errors carry the IR text, so they format with line, column and caret', () => {
    const err = (() => {
      try {
        parseIR(edit('{name="router"}', '{name="router}'), 'tiny.ir');
      } catch (e) {
        return e as MoecError;
      }
    })();
    expect(err?.format()).toContain('tiny.ir:22:28: error E401: unterminated string\n 22 |   %router = weight() {name="router} : f32[4, 8]\n    |                            ^');
  });

  it('an undefined value is E401 at the reference, with a suggestion', () => {
    const out = firstError(edit('softmax(%0)', 'softmax(%routr)'));
    expect(out).toContain('tiny.ir:24:20: error E401: undefined value %routr in func main');
    expect(out).toContain('hint: did you mean `%router`? a value is defined by a parameter or an earlier node before it is used');
  });

  it('a value used above its definition is undefined where it is used', () => {
    const text = 'moec.ir 1\nmodel m\nfunc main(%x: f32[4]) {\n  %a = neg(%b) : f32[4]\n  %b = neg(%x) : f32[4]\n  return y = %a\n}\n';
    expect(firstError(text)).toContain('tiny.ir:4:12: error E401: undefined value %b in func main');
  });

  it('a value defined twice is E401 at the second definition', () => {
    const text = 'moec.ir 1\nmodel m\nfunc main(%x: f32[4]) {\n  %x = neg(%x) : f32[4]\n  return y = %x\n}\n';
    const out = firstError(text);
    expect(out).toContain('tiny.ir:4:3: error E401: %x is defined twice in func main');
    expect(out).toContain('its first definition is at 3:11');
  });

  it('reports header, dtype, number and count mistakes as E401 with positions', () => {
    expect(firstError('model m\n')).toContain("tiny.ir:1:1: error E401: expected 'moec.ir' at the start of IR text, found 'model'");
    expect(firstError('moec.ir 2\nmodel m\n')).toContain('tiny.ir:1:9: error E401: unsupported IR format version 2');
    expect(firstError(edit('func main(%x: f32[T, 8])', 'func main(%x: f33[T, 8])'))).toContain("tiny.ir:21:15: error E401: unknown dtype 'f33'");
    expect(firstError(edit('dim T <= 64', 'dim T <= 64x'))).toContain("tiny.ir:3:10: error E401: a number cannot run into a name: '64x'");
    expect(firstError(edit(': f32[T, 2], i32[T, 2]\n  %moe.norm', ': f32[T, 2]\n  %moe.norm'))).toContain('tiny.ir:25:61: error E401: 2 result values but 1 type');
    expect(firstError(edit('  return y = %h, logits = %0\n', ''))).toContain("error E401: expected 'return' before the end of func main");
    expect(firstError(edit('{name="router"}', '{name="rou\\qter"}'))).toContain('tiny.ir:22:28: error E401: invalid escape in string');
  });

  it('reports every problem once, at its cause, not at every later use', () => {
    const bad = edit('{name="router"}', '{name="nope"}').replace('{transpose_b=true} : f32[T, 4]', '{transpose_b=true} : f32[T, 5]');
    const ds = diagnosticsOf(bad);
    expect(ds.map((d) => d.code)).toEqual(['E402', 'E402']);
    expect(ds[0].message).toContain("no weight named 'nope'");
  });

  it('never throws anything but a MoecError, for any prefix of valid text', () => {
    const texts = [good, printIR(oddModel())];
    for (const text of texts)
      for (let n = 0; n < text.length; n += 3) {
        try {
          parseIR(text.slice(0, n));
        } catch (e) {
          if (!(e instanceof MoecError)) throw new Error(`prefix of ${n} chars threw ${String(e)}`);
          expect(['E401', 'E402']).toContain(e.diagnostics[0].code);
        }
      }
  });
});
