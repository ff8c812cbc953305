/**
 * @fileoverview Tests for the graph-IR verifier: a valid module verifies clean, and for each
 * numbered invariant of ir/graph/verify.ts a good module is corrupted the way a buggy pass might
 * (reordered, dropped or retyped nodes, values from another function, bad names) and the
 * specific message is asserted.
 */
import { describe, expect, it } from 'vitest';
import { MoecError } from '../ir/diagnostics.ts';
import { FuncBuilder } from '../ir/graph/builder.ts';
import { sym } from '../ir/dims.ts';
import { type Module, Value } from '../ir/graph/graph.ts';
import type { TensorType } from '../ir/types.ts';
import { verify, verifyOrThrow } from '../ir/graph/verify.ts';

const T = sym('T');
const f32 = (...shape: TensorType['shape']): TensorType => ({ dtype: 'f32', shape });

/**
 * main(%x) { %router = weight(router); %0 = matmul(%x, %router); %top = topk(%0);
 *            %norm = weight(layers.norm); %h = repeat(%x, %norm) over layer }
 */
function good(): Module {
  const m: Module = {
    name: 'good',
    dims: [{ name: 'T', max: 16 }],
    weights: [
      { name: 'router', type: f32(4, 8), source: { pattern: 'gate.weight', axes: [] } },
      { name: 'layers.norm', type: f32(2, 8), source: { pattern: 'layers.{i}.norm', axes: [{ name: 'i', start: 0 }] } },
    ],
    funcs: [],
  };
  const body = new FuncBuilder('layer', m);
  const bx = body.param('x', f32(T, 8));
  const bn = body.param('norm', f32(8));
  body.result('r0', body.add1('rmsnorm', [bx, bn], {}, undefined, 'h'));
  m.funcs.push(body.func);

  const b = new FuncBuilder('main', m);
  const x = b.param('x', f32(T, 8));
  const router = b.add1('weight', [], { name: 'router' }, undefined, 'router');
  const logits = b.add1('matmul', [x, router], { transpose_b: true });
  b.add('topk', [logits], { k: 2 }, undefined, 'top');
  const norm = b.add1('weight', [], { name: 'layers.norm' }, undefined, 'norm');
  b.result('y', b.add1('repeat', [x, norm], { body: 'layer', count: 2, carried: 1 }, undefined, 'h'));
  b.result('logits', logits);
  m.funcs.push(b.func);
  return m;
}

const main = (m: Module) => m.funcs.find((f) => f.name === 'main')!;
const layer = (m: Module) => m.funcs.find((f) => f.name === 'layer')!;

/** The messages of all diagnostics, after checking they are all E402. */
function problems(m: Module): string[] {
  const ds = verify(m);
  for (const d of ds) expect(d.code).toBe('E402');
  return ds.map((d) => d.message);
}

/** Asserts that some message contains each of the substrings. */
function expectProblem(m: Module, ...parts: string[]): void {
  const msgs = problems(m);
  expect(msgs.some((msg) => parts.every((p) => msg.includes(p))), `no message with ${JSON.stringify(parts)} in:\n${msgs.join('\n')}`).toBe(true);
}

describe('valid modules', () => {
  it('a module built with FuncBuilder verifies clean', () => {
    expect(verify(good())).toEqual([]);
    expect(() => verifyOrThrow(good(), 'after fuse')).not.toThrow();
  });
});

describe('1. one main; unique function, weight and dim names', () => {
  it('no main', () => {
    const m = good();
    main(m).name = 'entry';
    expectProblem(m, 'module good has no function named main');
  });
  it('two functions named main', () => {
    const m = good();
    layer(m).name = 'main';
    expectProblem(m, 'module good has 2 functions named main');
  });
  it('duplicate function, weight and dim names', () => {
    const m = good();
    m.funcs.push({ ...layer(m) });
    m.weights.push({ ...m.weights[0] });
    m.dims.push({ name: 'T' });
    expectProblem(m, 'function layer is declared twice');
    expectProblem(m, 'weight router is declared twice');
    expectProblem(m, 'dim T is declared twice');
  });
  it('a dim bound that is not a positive whole number', () => {
    const m = good();
    m.dims[0].max = 0;
    expectProblem(m, 'dim T has max 0');
  });
  it('a dim name that cannot be read back as a size', () => {
    const m = good();
    m.dims.push({ name: 'seq-len' }, { name: 'null' });
    expectProblem(m, 'dim "seq-len" is not a valid size name');
    expectProblem(m, 'dim "null" is not a valid size name');
  });
});

describe('2. every value defined once, names unique in a function', () => {
  it('two values with the same name', () => {
    const m = good();
    main(m).body[1].outputs[0].name = 'x';
    expectProblem(m, 'in func main: %x = matmul(%x, %router) {transpose_b=true} : f32[T, 4]: two values are named %x');
  });
  it('one Value object defined twice', () => {
    const m = good();
    const f = main(m);
    f.body[1].outputs = [f.body[0].outputs[0]];
    expectProblem(m, 'in func main: %router = matmul(%x, %router)', '%router is defined twice (it is already an output of %router = weight() {name="router"} : f32[4, 8])');
  });
  it('one Value object defined in two functions', () => {
    const m = good();
    layer(m).params[0] = main(m).params[0];
    expectProblem(m, '%x is defined in both func layer and func main');
  });
});

describe('3. operands and results defined earlier in the same function', () => {
  it('use before definition (swapped nodes)', () => {
    const m = good();
    const body = main(m).body;
    [body[0], body[1]] = [body[1], body[0]];
    expectProblem(m, 'in func main: %0 = matmul(%x, %router) {transpose_b=true} : f32[T, 4]: %router is used before its definition by %router = weight()');
  });
  it('a node using its own result', () => {
    const m = good();
    const n = main(m).body[1];
    n.inputs[0] = n.outputs[0];
    expectProblem(m, '%0 is an operand of the node that defines it');
  });
  it('a dangling reference (the defining node was dropped)', () => {
    const m = good();
    main(m).body.splice(0, 1);
    expectProblem(m, 'in func main: %0 = matmul(%x, %router)', '%router is a dangling reference: no parameter or node of func main defines it');
  });
  it('a value of another function', () => {
    const m = good();
    main(m).body[1].inputs[0] = layer(m).params[0];
    expectProblem(m, 'in func main: %0 = matmul(%x, %router)', '%x belongs to func layer, not func main');
  });
  it('a result that no node defines', () => {
    const m = good();
    main(m).results[1].value = new Value('gone', f32(T, 4));
    expectProblem(m, 'in func main: return logits = %gone: %gone is a dangling reference');
  });
});

describe('4. ops in the catalogue, arity, attributes and types', () => {
  it('unknown op', () => {
    const m = good();
    main(m).body[1].op = 'matmull';
    expectProblem(m, "in func main: %0 = matmull(%x, %router) {transpose_b=true} : f32[T, 4]: unknown op 'matmull'");
    expect(verify(m).find((d) => d.message.includes('matmull'))?.hint).toBe('did you mean `matmul`?');
  });
  it('wrong number of operands', () => {
    const m = good();
    main(m).body[1].inputs.pop();
    expectProblem(m, 'in func main: %0 = matmul(%x) {transpose_b=true}', 'matmul takes 2 to 3 operands, got 1');
  });
  it('unknown attribute', () => {
    const m = good();
    main(m).body[1].attrs.transpose = true;
    expectProblem(m, "matmul has no attribute 'transpose'");
  });
  it('attribute of the wrong kind', () => {
    const m = good();
    main(m).body[2].attrs.k = 'two';
    expectProblem(m, `topk: 'k' must be an integer, got "two"`);
  });
  it('attribute left out instead of carrying its default', () => {
    const m = good();
    delete main(m).body[2].attrs.axis;
    expectProblem(m, "topk(%0) {k=2}", "attribute 'axis' is not recorded");
    expect(verify(m)[0].hint).toBe('nodes carry every attribute; add axis=-1 (its default)');
  });
  it('a recorded type that differs from the inferred one', () => {
    const m = good();
    main(m).body[1].outputs[0].type = f32(T, 5);
    expectProblem(m, 'in func main: %0 = matmul(%x, %router) {transpose_b=true} : f32[T, 5]: %0 is recorded as f32[T, 5] but matmul gives f32[T, 4]');
  });
  it('a shape mismatch between operands, reported once at its cause', () => {
    const m = good();
    m.weights[0].type = f32(4, 9);
    const msgs = problems(m);
    expect(msgs).toEqual([
      'in func main: %router = weight() {name="router"} : f32[4, 8]: %router is recorded as f32[4, 8] but weight gives f32[4, 9]',
      'in func main: %0 = matmul(%x, %router) {transpose_b=true} : f32[T, 4]: matmul: inner sizes differ: f32[T, 8] and f32[4, 9] (weight is [out, in]): 8 vs 9',
    ]);
  });
  it('diagnostics carry the span of the offending node', () => {
    const m = good();
    const n = main(m).body[1];
    n.span = { file: 'tiny.moe', start: 10, end: 20 };
    n.op = 'nope';
    expect(verify(m)[0].span).toEqual({ file: 'tiny.moe', start: 10, end: 20 });
  });
});

describe('5. weights, repeat bodies and the call graph', () => {
  it('a weight node naming no weight', () => {
    const m = good();
    main(m).body[0].attrs.name = 'routr';
    expectProblem(m, `in func main: %router = weight() {name="routr"} : f32[4, 8]: no weight named 'routr' in the module`);
    expect(verify(m)[0].hint).toBe('did you mean `router`?');
  });
  it('a repeat body that is not a function', () => {
    const m = good();
    main(m).body[4].attrs.body = 'layr';
    expectProblem(m, "the repeat body 'layr' is not a function of the module");
  });
  it('main as a repeat body', () => {
    const m = good();
    main(m).body[4].attrs.body = 'main';
    expectProblem(m, 'main cannot be a repeat body');
  });
  it('repeat bodies that form a cycle', () => {
    const m = good();
    const f = layer(m);
    // Built by hand, as a buggy pass would: layer repeats itself once.
    const norms = new Value('norms', f32(1, 8));
    f.params.push(norms);
    f.body.push({
      op: 'repeat',
      inputs: [f.params[0], f.params[1], norms],
      attrs: { body: 'layer', count: 1, carried: 1, invariant: 1 },
      outputs: [new Value('again', f32(T, 8))],
    });
    expectProblem(m, 'in func layer: %again = repeat(%x, %norm, %norms)', 'repeat bodies form a cycle: layer -> layer');
  });
  it('a cycle through two functions is reported once', () => {
    const m = good();
    const a = { name: 'a', params: [], body: [], results: [] } as Module['funcs'][number];
    const b = { name: 'b', params: [], body: [], results: [] } as Module['funcs'][number];
    a.body.push({ op: 'repeat', inputs: [], attrs: { body: 'b', count: 1, carried: 0, invariant: 0 }, outputs: [] });
    b.body.push({ op: 'repeat', inputs: [], attrs: { body: 'a', count: 1, carried: 0, invariant: 0 }, outputs: [] });
    m.funcs.push(a, b);
    const cycles = problems(m).filter((msg) => msg.includes('cycle'));
    expect(cycles).toEqual(['in func b: repeat() {body="a", carried=0, count=1, invariant=0}: repeat bodies form a cycle: a -> b -> a']);
  });
});

describe('6. symbolic sizes are declared dims', () => {
  it('an undeclared dim, reported once at its first use', () => {
    const m = good();
    m.dims = [];
    const msgs = problems(m).filter((msg) => msg.includes('no dim T'));
    expect(msgs).toEqual(['in func layer: parameter %x has type f32[T, 8], which uses the size T, but no dim T is declared']);
  });
  it('an undeclared dim in a node output', () => {
    const m = good();
    main(m).body[1].outputs[0].type = f32(sym('U'), 4);
    expectProblem(m, 'in func main: %0 = matmul(%x, %router) {transpose_b=true} : f32[U, 4]: %0 has type f32[U, 4], which uses the size U');
  });
});

describe('7. weight sources', () => {
  it('more placeholder axes than dimensions', () => {
    const m = good();
    m.weights[0].source = { pattern: 'l.{i}.e.{e}.x.{j}', axes: ['i', 'e', 'j'].map((name) => ({ name, start: 0 })) };
    expectProblem(m, 'weight router from "l.{i}.e.{e}.x.{j}": 3 placeholder axes but the weight has only 2 dimensions');
  });
  it('an axis missing from the pattern', () => {
    const m = good();
    m.weights[1].source!.pattern = 'layers.norm';
    expectProblem(m, 'weight layers.norm from "layers.norm": the axis i does not appear in the pattern as {i}');
  });
  it('a placeholder without an axis', () => {
    const m = good();
    m.weights[0].source!.pattern = 'gate.{e}.weight';
    expectProblem(m, 'weight router from "gate.{e}.weight": the placeholder {e} has no axis');
  });
  it('a repeated axis and a negative start', () => {
    const m = good();
    m.weights[1].source!.axes = [{ name: 'i', start: -1 }, { name: 'i', start: 0 }];
    expectProblem(m, 'the axis {i} is given twice');
    expectProblem(m, 'the axis i starts at -1');
  });
});

describe('8. output values match the results of the op', () => {
  it('a topk node with one output value', () => {
    const m = good();
    main(m).body[2].outputs.pop();
    expectProblem(m, 'in func main: %top.values = topk(%0) {axis=-1, k=2} : f32[T, 2]: topk gives 2 results but the node has 1 output value');
  });
});

describe('verifyOrThrow', () => {
  it('throws one MoecError with every E402 diagnostic, naming the stage', () => {
    const m = good();
    main(m).body[1].op = 'matmull';
    main(m).body[0].attrs.name = 'routr';
    let err: unknown;
    try {
      verifyOrThrow(m, 'after fuse');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MoecError);
    const ds = (err as MoecError).diagnostics;
    expect(ds.map((d) => d.code)).toEqual(['E402', 'E402']);
    expect(ds.every((d) => d.message.startsWith('after fuse: in func main: '))).toBe(true);
    expect((err as MoecError).message).toContain("E402: after fuse: in func main: %0 = matmull(%x, %router)");
  });
  it('without a stage, messages are unprefixed', () => {
    const m = good();
    main(m).body[1].op = 'matmull';
    expect(() => verifyOrThrow(m)).toThrow(/^E402: in func main: %0 = matmull/);
  });
});
