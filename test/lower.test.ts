/**
 * Lowering `.moe` → graph IR: structure of the result (blocks inline, repeats become one
 * body function with stacked weights, `experts(...)` becomes primitives) and every class
 * of type, shape and name error with its exact code, message and location.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compile } from '../compiler/driver.ts';
import { MoecError } from '../ir/diagnostics.ts';
import { SourceFile } from '../ir/source.ts';
import { findWeight, mainFunc } from '../ir/graph/graph.ts';
import { dimToString } from '../ir/dims.ts';
import { errorOf } from './capture.ts';

const HEAD = 'dim T <= 128\nconst D = 8\nconst E = 4\n';

/** Compiles, expecting failure; returns `CODE line:col message` of the first diagnostic. */
function err(text: string, consts?: Record<string, number>): string {
  try {
    compile(text, { path: 't.moe', consts });
  } catch (e) {
    if (!(e instanceof MoecError)) throw e;
    const d = e.diagnostics[0];
    const pos = d.span ? new SourceFile('t.moe', text).position(d.span.start) : undefined;
    return `${d.code} ${pos ? `${pos.line}:${pos.col}` : '-'} ${d.message}${d.hint ? ` | ${d.hint}` : ''}`;
  }
  throw new Error('expected an error');
}

/** `CODE message` of the first diagnostic of a file that must fail. */
function errOf(text: string): string {
  const d = errorOf(() => compile(text, { path: 'decoder-pair.moe' })).diagnostics[0];
  return `${d.code} ${d.message}`;
}

function model(body: string, extra = ''): string {
  return `${HEAD}${extra}model m {\n  input x: f32[T, D]\n${body}\n}\n`;
}

describe('lowering', () => {
  it('lowers experts(...) into MoE primitives', () => {
    const m = compile(
      model(
        '  weight r: f32[E, D]\n  weight g: f32[E, 16, D]\n  weight u: f32[E, 16, D]\n  weight d: f32[E, D, 16]\n' +
          '  top = topk(softmax(linear(x, r)), k=2)\n  output y = experts(x, top.indices, top.values, gate=g, up=u, down=d)',
      ),
    );
    const ops = mainFunc(m).body.map((n) => n.op);
    expect(ops).toEqual([
      'weight', 'weight', 'weight', 'weight', 'matmul', 'softmax', 'topk',
      'moe_permute', 'moe_dispatch', 'grouped_matmul', 'silu', 'grouped_matmul', 'mul', 'grouped_matmul', 'moe_combine',
    ]);
    const xs = mainFunc(m).body.find((n) => n.op === 'moe_dispatch')!.outputs[0];
    expect(dimToString(xs.type.shape[0])).toBe('2*T');
  });

  it('stacks the weights of a repeat and keeps one body function', () => {
    const m = compile(
      `${HEAD}block layer(h: f32[T, D]) {\n  weight w: f32[D, D] from "mlp.w"\n  return h + linear(h, w)\n}\n` +
        'model m {\n  input x: f32[T, D]\n  output y = repeat(i = 2..7) layer(x) as layers from "model.layers.{i}"\n}\n',
    );
    expect(m.funcs.map((f) => f.name)).toEqual(['layers', 'main']);
    const w = findWeight(m, 'layers.w')!;
    expect(w.type.shape).toEqual([5, 8, 8]);
    expect(w.source).toEqual({ pattern: 'model.layers.{i}.mlp.w', axes: [{ name: 'i', start: 2 }] });
    const rep = mainFunc(m).body.find((n) => n.op === 'repeat')!;
    expect(rep.attrs).toEqual({ body: 'layers', count: 5, carried: 1, invariant: 0 });
  });

  it('names block instances and composes checkpoint prefixes', () => {
    const m = compile(
      `${HEAD}block mlp(x: f32[T, D], hidden: int = 4) {\n  weight up: f32[hidden, D] from "up.weight"\n  return linear(x, up)\n}\n` +
        'model m {\n  input x: f32[T, D]\n  a = mlp(x) as first from "model.a"\n  b = mlp(x, hidden=6)\n  output y = concat(a, b)\n}\n',
    );
    expect(m.weights.map((w) => `${w.name} ${w.type.shape.join('x')} ${w.source?.pattern}`)).toEqual(['first.up 4x8 model.a.up.weight', 'mlp.up 6x8 up.weight']);
  });

  it('applies --set overrides before anything uses the constants', () => {
    const m = compile(model('  output y = x * 2'), { consts: { D: 64 } });
    expect(mainFunc(m).params[0].type.shape[1]).toBe(64);
  });

  it('walks long operator chains without overflowing the stack', () => {
    const m = compile(model(`  output y = ${Array(20000).fill('x').join(' + ')}`));
    expect(mainFunc(m).body.filter((n) => n.op === 'add').length).toBe(19999);
  });

  it('reports every independent error in one run, without cascades', () => {
    const text = model(
      '  a = softmx(x)\n' + // E202
        '  b = a * 2\n' + // uses the failed `a`: no second report
        '  c = topk(x, k=99).values\n' + // E304
        '  weight w: f32[D / 3]\n' + // E306
        '  output y = x + b + c',
    );
    try {
      compile(text, { path: 't.moe' });
      throw new Error('expected errors');
    } catch (e) {
      expect(e).toBeInstanceOf(MoecError);
      const src = new SourceFile('t.moe', text);
      expect((e as MoecError).diagnostics.map((d) => `${d.code} ${src.position(d.span!.start).line}`)).toEqual(['E202 6', 'E304 8', 'E306 9']);
    }
  });

  describe('errors', () => {
    it('E201 unknown name, with did-you-mean', () => {
      expect(err(model('  output y = softmax(xx)'))).toBe('E201 6:22 `xx` is not defined | did you mean `x`?');
    });
    it('E202 unknown operation', () => {
      expect(err(model('  output y = softmx(x)'))).toBe('E202 6:14 unknown operation or block `softmx` | did you mean `softmax`?');
    });
    it('E203 duplicate declaration', () => {
      expect(err(model('  weight w: f32[D]\n  weight w: f32[D]\n  output y = x'))).toBe('E203 7:10 `w` is declared twice');
    });
    it('E204 unknown argument and positional after named', () => {
      expect(err(model('  output y = softmax(x, axes=-1)'))).toBe('E204 6:25 `softmax` has no argument `axes` | did you mean `axis`?');
      expect(err(model('  output y = topk(x, k=2, -1).values'))).toMatch(/^E204 6:27 a positional argument cannot follow a named one/);
    });
    it('E205 missing argument', () => {
      expect(err(model('  output y = topk(x).values'))).toBe('E205 6:14 `topk` needs the argument `k` | topk(x, k, axis=?)');
    });
    it('E206 argument given twice', () => {
      expect(err(model('  output y = softmax(x, axis=1, axis=0)'))).toMatch(/^E206 6:33 argument `axis` is given twice/);
    });
    it('E207 statement in the wrong place', () => {
      expect(err(model('  return x'))).toMatch(/^E207 6:3 `return` belongs in a block/);
      // (`input` in a block is per-instance state, e.g. a KV cache: see decoder-ops.test.ts.)
      expect(err(`${HEAD}block b(h: f32[T, D]) {\n  output z = h\n  return h\n}\nmodel m {\n  input x: f32[T, D]\n  output y = b(x)\n}\n`)).toMatch(/^E207 5:3 `output` belongs in the model/);
    });
    it('E208 no model', () => {
      expect(err(HEAD)).toMatch(/^E208 .* the file declares no model/);
    });
    it('E209 unknown tuple field', () => {
      expect(err(model('  output y = topk(x, k=2).value'))).toBe('E209 6:27 the tuple has no field `value` | did you mean `values`?');
    });
    it('a block call as the argument of a call to the same block is not recursion', () => {
      const m = compile(`${HEAD}block b(h: f32[T, D]) {\n  weight w: f32[D, D]\n  return linear(h, w)\n}\nmodel m {\n  input x: f32[T, D]\n  output y = b(b(x) as p) as q\n}\n`);
      expect(m.weights.map((w) => w.name)).toEqual(['p.w', 'q.w']);
    });
    it('E210 recursive block', () => {
      expect(err(`${HEAD}block b(h: f32[T, D]) {\n  return b(h)\n}\nmodel m {\n  input x: f32[T, D]\n  output y = b(x)\n}\n`)).toMatch(/^E210 5:10 block `b` calls itself \(b → b\)/);
    });
    it('E211 unknown --set constant', () => {
      expect(err(model('  output y = x'), { DD: 3 })).toBe('E211 - --set DD: the file has no file-level constant `DD` | did you mean `D`?');
    });
    it('E301 shape mismatch, at the argument', () => {
      expect(err(model('  weight w: f32[E, 3]\n  output y = linear(x, w)'))).toBe(
        'E301 7:24 matmul: inner sizes differ: f32[T, 8] and f32[4, 3] (weight is [out, in]): 8 vs 3 | a linear weight is [out_features, in_features]',
      );
      expect(err(model('  weight w: f32[3]\n  output y = x + w'))).toMatch(/^E301 7:18 add: shapes \[T, 8\] and \[3\] do not broadcast/);
    });
    it('E301 block argument of the wrong shape', () => {
      expect(err(`${HEAD}block b(h: f32[T, E]) {\n  return h\n}\nmodel m {\n  input x: f32[T, D]\n  output y = b(x)\n}\n`)).toBe(
        'E301 9:16 argument `h` of `b` is f32[T, 8], declared f32[T, 4]',
      );
    });
    it('E302 dtype mismatch', () => {
      expect(err(model('  output y = x + topk(x, k=2).indices'))).toMatch(/^E302 6:18 add needs a float tensor, got i32\[T, 2\]/);
    });
    it('E303 wrong kind of value', () => {
      expect(err(model('  output y = topk(x, k=2)'))).toMatch(/^E303 6:14 an output must be a tensor, got a tuple \(values, indices\) \| pick one result/);
      expect(err(model('  output y = softmax(x, axis=x)'))).toMatch(/^E304 6:30 `axis` must be an integer, got a tensor/);
    });
    it('E304 invalid attribute value', () => {
      expect(err(model('  output y = topk(x, k=9).values'))).toMatch(/^E304 6:24 topk: k = 9 is larger than the axis size 8/);
      expect(err(model('  output y = gelu(x, approximate="fast")'))).toMatch(/^E304 6:34 gelu: 'approximate' must be one of "none", "tanh"/);
    });
    // These were accepted and gave all-NaN outputs.
    it('E304 values that make rmsnorm or rope NaN', () => {
      expect(err(model('  weight w: f32[D]\n  output y = rmsnorm(x, w, eps=-0.001)'))).toMatch(/^E304 7:32 rmsnorm: eps must be at least 0, got -0\.001/);
      const rope = (attrs: string): string => err(model(`  output y = reshape(rope(reshape(x, [T, 2, 4]), offset=[0]${attrs}), [T, D])`));
      expect(rope(', theta=0')).toMatch(/^E304 6:\d+ rope: theta must be above 0, got 0/);
      expect(rope(', theta=-10000.0')).toMatch(/rope: theta must be above 0, got -10000/);
      expect(rope(', scaling="yarn", factor=0.0, original_max_position=16')).toMatch(/rope: factor must be above 0, got 0/);
      expect(rope(', scaling="yarn", factor=4.0, original_max_position=16, beta_slow=0.0')).toMatch(/rope: beta_slow must be above 0/);
      expect(rope(', scaling="llama3", factor=8.0, original_max_position=16, low_freq_factor=4.0, high_freq_factor=4.0')).toMatch(/rope: high_freq_factor must be above 4, got 4/);
      expect(rope(', attention_factor=0.0')).toMatch(/rope: attention_factor must be above 0/);
      expect(rope(', theta=1.0, scaling="yarn", factor=4.0, original_max_position=16')).toMatch(/rope: theta must be above 1, got 1/);
      expect(() => compile(model('  output y = reshape(rope(reshape(x, [T, 2, 4]), offset=[0], scaling="yarn", factor=4.0, original_max_position=16), [T, D])'), { path: 't.moe' })).not.toThrow();
    });
    it('E301 attention operands whose named dims disagree (kv heads of the cache, cache lengths)', () => {
      const pair = readFileSync('test/fixtures/decoder-pair.moe', 'utf8');
      const heads = pair.replace('input v_cache: f32[L, G, HD]', 'input v_cache: f32[L, H, HD]');
      expect(errOf(heads)).toMatch(/^E301 attention: the kv_heads of v_cache \(as in k\) is 4, expected 2/);
      const length = pair.replace('input v_cache: f32[L, G, HD]', 'input v_cache: f32[T, G, HD]');
      expect(errOf(length)).toMatch(/^E301 attention: the cache of v_cache \(as in k_cache\) is T, expected L/);
      expect(() => compile(pair, { path: 'decoder-pair.moe' })).not.toThrow();
    });
    it('E305 axis out of range', () => {
      expect(err(model('  output y = softmax(x, axis=2)'))).toMatch(/^E305 6:30 softmax: axis 2 is out of range for rank 2/);
    });
    it('E306 sizes that are not whole numbers', () => {
      expect(err(model('  weight w: f32[D / 3]\n  output y = x'))).toMatch(/^E306 6:17 8 \/ 3 is not a whole number/);
      expect(err(model('  weight w: f32[2.5]\n  output y = x'))).toMatch(/^E306 6:17 a size must be an integer, got the number 2.5/);
      expect(err(model('  weight w: f32[T * T]\n  output y = x'))).toMatch(/^E306 6:17 the product T \* T is not linear/);
    });
    it('E307 absurd sizes', () => {
      expect(err(model('  weight w: f32[99999999999]\n  output y = x'))).toMatch(/^E307 6:17 size 99999999999 is out of range/);
      expect(err(model('  weight w: f32[65536, 65536, 65536, 65536]\n  output y = x'))).toMatch(/^E307 6:13 f32\[65536, 65536, 65536, 65536\] has 1\.845e\+19 elements/);
      expect(err(model('  output y = x'), { D: -4 })).toMatch(/^E307 5:19 size -4 is out of range/);
    });
    it('E308 wrong number of values', () => {
      expect(err(model('  a, b, c = topk(x, k=2)\n  output y = a'))).toMatch(/^E308 6:3 3 names but the call has 2 results \(values, indices\)/);
    });
    it('E310 checkpoint patterns', () => {
      expect(err(model('  weight w: f32[E, D] from "experts.{e}.{f}.{g}"\n  output y = x'))).toMatch(/^E310 6:28 checkpoint pattern "experts.\{e\}.\{f\}.\{g\}" has 3 placeholders for a weight of rank 2/);
      expect(
        err(`${HEAD}block l(h: f32[T, D]) {\n  weight w: f32[D] from "norm"\n  return h * w\n}\nmodel m {\n  input x: f32[T, D]\n  output y = repeat(3) l(x)\n}\n`),
      ).toMatch(/does not use the repeat index \{i\}/);
    });
    it('repeat of a non-block, empty ranges, and carried types', () => {
      expect(err(model('  output y = repeat(3) softmax(x)'))).toMatch(/^E202 6:24 `repeat` needs a block, and `softmax` is not one/);
      expect(err(`${HEAD}block l(h: f32[T, D]) {\n  return h\n}\nmodel m {\n  input x: f32[T, D]\n  output y = repeat(i = 4..4) l(x)\n}\n`)).toMatch(/^E307 .* repeat range 4\.\.4 is empty/);
      expect(
        err(`${HEAD}block l(h: f32[T, D]) {\n  return sum(h)\n}\nmodel m {\n  input x: f32[T, D]\n  output y = repeat(2) l(x)\n}\n`),
      ).toMatch(/^E301 .* the carried value `h` \(result 1 of `l`\) is f32\[T\], declared f32\[T, 8\]/);
    });
  });
});
