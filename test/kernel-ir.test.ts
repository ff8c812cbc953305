/**
 * @fileoverview Tests for the kernel IR's text form and verifier: hand-built programs with
 * every kernel kind, every epilogue and a loop print, parse back to the same program and
 * re-print to the identical text; malformed text is E401 at the right `line:col`; and
 * `verifyKernelIR` names each kind of problem.
 */
import { describe, expect, it } from 'vitest';
import { MoecError } from '../ir/diagnostics.ts';
import { FuncBuilder } from '../ir/graph/builder.ts';
import { errorOf } from './capture.ts';
import { dimAdd, dimMul, sym } from '../ir/dims.ts';
import type { Module } from '../ir/graph/graph.ts';
import type { KBuffer, KProgram, Kernel, LoopStep } from '../ir/kernel/kernel.ts';
import { parseKernelIR } from '../ir/kernel/kparse.ts';
import { verifyKernelIR } from '../ir/kernel/kverify.ts';
import { printKernelIR } from '../ir/kernel/kprint.ts';
import { affine } from '../ir/kernel/memory.ts';
import type { DType, TensorType } from '../ir/types.ts';

const T = sym('T');
const ty = (dtype: DType, ...shape: TensorType['shape']): TensorType => ({ dtype, shape });
const buf = (name: string, t: TensorType, kind: KBuffer['kind'], offset?: number, bytes?: number): KBuffer => {
  const b: KBuffer = { name, dtype: t.dtype, shape: t.shape, kind };
  if (offset !== undefined) b.offset = offset;
  if (bytes !== undefined) b.bytes = bytes;
  return b;
};

/**
 * The graph module: checkpoint weights, a trivial main, and `pack`, which returns one
 * result per weight buffer (gate and up concatenated into `w_in`).
 */
function graphModule(): Module {
  const m: Module = {
    name: 'tiny',
    dims: [{ name: 'T', max: 64 }],
    weights: [
      { name: 'router', type: ty('f32', 4, 8) },
      { name: 'router_bias', type: ty('f32', 4) },
      { name: 'e_bias', type: ty('f32', 4) },
      { name: 'shared_gate', type: ty('f32', 1, 8) },
      { name: 'moe.gate', type: ty('f32', 5, 8, 8) },
      { name: 'moe.up', type: ty('f32', 5, 8, 8) },
      { name: 'moe.down', type: ty('f32', 5, 8, 8) },
      { name: 'b_in', type: ty('f32', 5, 16) },
      { name: 'norm', type: ty('f32', 8) },
      { name: 'dense', type: ty('f32', 16, 8) },
      { name: 'dense_b', type: ty('f32', 16) },
      { name: 'layers.norm', type: ty('f32', 3, 8) },
      { name: 'layers.dense', type: ty('f32', 3, 16, 8) },
    ],
    funcs: [],
  };
  const main = new FuncBuilder('main', m);
  main.result('y', main.param('x', ty('f32', T, 8)));
  m.funcs.push(main.func);
  const pack = new FuncBuilder('pack', m);
  const w = (name: string) => pack.add1('weight', [], { name }, undefined, name);
  pack.result('w_in', pack.add1('concat', [w('moe.gate'), w('moe.up')], { axis: 1 }, undefined, 'w_in'));
  for (const name of ['router', 'router_bias', 'e_bias', 'shared_gate', 'moe.down', 'b_in', 'norm', 'dense', 'dense_b', 'layers.norm', 'layers.dense'])
    pack.result(name === 'moe.down' ? 'w_out' : name, w(name));
  m.funcs.push(pack.func);
  return m;
}

/**
 * Every kernel kind, every epilogue kind and a loop, with planned offsets on some buffers.
 * The router picks 2 of 4 experts and appends 1 shared expert (expert 4), so the align and
 * the grouped GEMMs see K = 3 choices of E = 5 experts.
 */
function fullProgram(): KProgram {
  const rows = dimAdd(dimMul(T, 3), 15); // T*K + E*(block-1), block 4
  const buffers: KBuffer[] = [
    buf('x', ty('f32', T, 8), 'input'),
    buf('y', ty('f32', T, 8), 'output'),
    buf('z', ty('f32', T, 8), 'output'),
    buf('router', ty('f32', 4, 8), 'weight'),
    buf('router_bias', ty('f32', 4), 'weight'),
    buf('e_bias', ty('f32', 4), 'weight'),
    buf('shared_gate', ty('f32', 1, 8), 'weight'),
    buf('w_in', ty('f32', 5, 16, 8), 'weight'),
    buf('w_out', ty('f32', 5, 8, 8), 'weight'),
    buf('b_in', ty('f32', 5, 16), 'weight'),
    buf('norm', ty('f32', 8), 'weight'),
    buf('dense', ty('f32', 16, 8), 'weight'),
    buf('dense_b', ty('f32', 16), 'weight'),
    buf('layers.norm', ty('f32', 3, 8), 'weight'),
    buf('layers.dense', ty('f32', 3, 16, 8), 'weight'),
    buf('dense_i', ty('f32', 16, 8), 'weight'), // a loop slice declared as a buffer (a view)
    buf('xn', ty('f32', T, 8), 'temp', 0, 2048),
    buf('idx', ty('i32', T, 3), 'temp', 2048, 768),
    buf('rw', ty('f32', T, 3), 'temp', 2816, 768),
    buf('sorted', ty('i32', rows), 'temp'),
    buf('be', ty('i32', dimAdd(T, 4)), 'temp'),
    buf('cnt', ty('i32', 1), 'temp'),
    buf('h', ty('f32', rows, 8), 'temp'),
    buf('d', ty('f32', T, 8), 'temp'),
    buf('r', ty('f32', T, 8), 'temp'),
  ];
  const router: Kernel = {
    kind: 'router',
    x: 'xn',
    w: 'router',
    bias: 'router_bias',
    selectBias: 'e_bias',
    sharedGate: 'shared_gate',
    indices: 'idx',
    weights: 'rw',
    experts: 4,
    k: 2,
    score: 'sigmoid',
    select: { kind: 'group_topk', groups: 2, topkGroups: 1, groupScore: 'sum_top2' },
    postSoftmax: false,
    normalize: true,
    scale: 2.5,
    capacityFactor: 1.25,
    shared: 1,
    tile: { m: 16, n: 4, k: 8, mr: 4, nr: 4, vector: 4, note: 'router: 4 experts fit one tile; "x" is read once' },
  };
  const align: Kernel = { kind: 'moe_align', indices: 'idx', experts: 5, k: 3, block: 4, sorted: 'sorted', blockExpert: 'be', count: 'cnt' };
  const up: Kernel = {
    kind: 'grouped_gemm',
    a: 'xn',
    gather: true,
    w: 'w_in',
    transB: true,
    sorted: 'sorted',
    blockExpert: 'be',
    count: 'cnt',
    k: 3,
    out: 'h',
    epilogue: [{ kind: 'bias', bias: 'b_in' }, { kind: 'glu', fn: 'swiglu_clamped', layout: 'interleaved', limit: 7, alpha: 1.702 }],
    sortedFromTokens: 4,
    indices: 'idx',
    tile: { m: 4, n: 16, k: 8, mr: 4, nr: 8, vector: 4 },
  };
  const down: Kernel = {
    kind: 'grouped_gemm',
    a: 'h',
    gather: false,
    w: 'w_out',
    transB: true,
    sorted: 'sorted',
    blockExpert: 'be',
    count: 'cnt',
    k: 3,
    out: 'y',
    init: 'x',
    epilogue: [{ kind: 'combine', weights: 'rw' }],
    sortedFromTokens: 4,
    indices: 'idx',
  };
  const dense: Kernel = {
    kind: 'gemm',
    a: 'y',
    w: 'dense',
    transB: true,
    out: 'd',
    epilogue: [{ kind: 'bias', bias: 'dense_b' }, { kind: 'act', fn: 'gelu_tanh' }, { kind: 'glu', fn: 'swiglu', layout: 'concat' }],
  };
  const loop: LoopStep = {
    kind: 'loop',
    count: 3,
    init: [{ from: 'r', to: 'z' }],
    slices: [
      { stacked: 'layers.norm', slice: 'norm_i' },
      { stacked: 'layers.dense', slice: 'dense_i' },
    ],
    carried: [{ from: 'd', to: 'z' }],
    body: [
      { kind: 'op', op: 'rmsnorm', attrs: { eps: 1e-6 }, inputs: ['z', 'norm_i'], outputs: ['d'] },
      { kind: 'gemm', a: 'd', w: 'dense_i', transB: true, out: 'd', epilogue: [{ kind: 'act', fn: 'relu' }, { kind: 'glu', fn: 'swiglu', layout: 'concat' }] },
    ],
  };
  return {
    name: 'tiny',
    module: graphModule(),
    pack: 'pack',
    buffers,
    steps: [
      { kind: 'op', op: 'rmsnorm', attrs: { eps: 1e-6 }, inputs: ['x', 'norm'], outputs: ['xn'] },
      router,
      align,
      up,
      down,
      dense,
      { kind: 'op', op: 'reshape', attrs: { shape: [T, 8] }, inputs: ['d'], outputs: ['r'] },
      loop,
    ],
    inputs: [{ name: 'x', buffer: 'x' }],
    outputs: [
      { name: 'y', buffer: 'y' },
      { name: 'z', buffer: 'z' },
    ],
    maxTokens: 64,
    arenaBytes: 1258496,
    naiveBytes: 3565568,
  };
}

/** A deep copy without spans and undefined fields, so built and parsed programs compare equal. */
function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k, x]) => k !== 'span' && x !== undefined)
      .map(([k, x]) => [k, strip(x)]),
  );
}

// ---------------------------------------------------------------------------------------

describe('text form', () => {
  it('the full program verifies', () => {
    expect(verifyKernelIR(fullProgram())).toEqual([]);
  });

  it('round-trips: print → parse → print is identical, and the parse equals the program', () => {
    const p = fullProgram();
    const text = printKernelIR(p);
    const back = parseKernelIR(text, 'full.kir');
    expect(printKernelIR(back)).toBe(text);
    expect(strip(back)).toEqual(strip(p));
    expect(verifyKernelIR(back)).toEqual([]);
  });

  it('prints every field in a fixed order', () => {
    const text = printKernelIR(fullProgram());
    const lines = text.split('\n');
    expect(lines.slice(0, 7)).toEqual([
      'moec.kernel-ir 1',
      'program tiny max_tokens 64 arena 1258496 naive 3565568  // arena 1.2 MiB, naive 3.4 MiB',
      'pack pack',
      'input x -> x',
      'output y -> y',
      'output z -> z',
      '',
    ]);
    expect(text).toContain('\nbuffer idx: i32[T, 3] temp @2048 +768\n');
    expect(text).toContain('\nbuffer sorted: i32[3*T+15] temp\n');
    expect(text).toContain('\nbuffer layers.norm: f32[3, 8] weight\n');
    expect(text).toContain(
      '\nrouter(x=xn, w=router, bias=router_bias, select_bias=e_bias, shared_gate=shared_gate) -> (indices=idx, weights=rw) ' +
        '{experts=4, k=2, score="sigmoid", select="group_topk", groups=2, topk_groups=1, group_score="sum_top2", post_softmax=false, ' +
        'normalize=true, scale=2.5, capacity_factor=1.25, shared=1} ' +
        'tile(m=16, n=4, k=8, mr=4, nr=4, vector=4, note="router: 4 experts fit one tile; \\"x\\" is read once")\n',
    );
    expect(text).toContain('\nmoe_align(indices=idx) -> (sorted=sorted, block_expert=be, count=cnt) {experts=5, k=3, block=4}\n');
    expect(text).toContain(
      '\ngrouped_gemm(a=xn, w=w_in, indices=idx, sorted=sorted, block_expert=be, count=cnt) -> (out=h) ' +
        '{gather=true, trans_b=true, k=3, sorted_from_tokens=4} epilogue[bias(b_in), glu(swiglu_clamped, interleaved, limit=7, alpha=1.702)] ' +
        'tile(m=4, n=16, k=8, mr=4, nr=8, vector=4)\n',
    );
    expect(text).toContain(
      '\ngrouped_gemm(a=h, w=w_out, indices=idx, sorted=sorted, block_expert=be, count=cnt, init=x) -> (out=y) ' +
        '{gather=false, trans_b=true, k=3, sorted_from_tokens=4} epilogue[combine(rw)]\n',
    );
    expect(text).toContain('\ngemm(a=y, w=dense) -> (out=d) {trans_b=true} epilogue[bias(dense_b), act(gelu_tanh), glu(swiglu, concat)]\n');
    expect(text).toContain('\nop rmsnorm(x, norm) -> (xn) {eps=0.000001}\n');
    expect(text).toContain('\nop reshape(d) -> (r) {shape=[T, 8]}\n');
    expect(text).toContain(
      '\nloop 3 init(r -> z) slices(layers.norm -> norm_i, layers.dense -> dense_i) carried(d -> z) {\n' +
        '  op rmsnorm(z, norm_i) -> (d) {eps=0.000001}\n' +
        '  gemm(a=d, w=dense_i) -> (out=d) {trans_b=true} epilogue[act(relu), glu(swiglu, concat)]\n' +
        '}\n\n-- graph --\nmoec.ir 1\nmodel tiny\n',
    );
    expect(text).toContain('\nfunc pack() {\n');
    expect(text.endsWith('}\n')).toBe(true);
  });

  it('round-trips a memory plan affine in T, split into parts', () => {
    const p = fullProgram();
    p.arenaBytes = affine(2048, 1024);
    p.arenaParts = [affine(1024, 512), affine(1024, 512)];
    for (const b of p.buffers.filter((x) => x.offset !== undefined)) b.part = 1;
    const y = p.buffers.find((b) => b.name === 'y')!;
    y.part = 1;
    y.offset = affine(256, 0);
    y.bytes = affine(32, 0);
    const text = printKernelIR(p);
    expect(text.split('\n')[1]).toBe('program tiny max_tokens 64 arena 2048*T+1024 parts(1024*T+512, 1024*T+512) naive 3565568  // arena 129.0 KiB at T = 64, naive 3.4 MiB');
    expect(text).toContain('buffer y: f32[T, 8] output part 1 @(256*T) +(32*T)');
    const back = parseKernelIR(text);
    expect(printKernelIR(back)).toBe(text);
    expect(back.arenaParts).toEqual(p.arenaParts);
    expect(back.buffers.find((b) => b.name === 'y')).toMatchObject({ part: 1, offset: affine(256, 0), bytes: affine(32, 0) });
  });

  it('leaves out what is not set', () => {
    const p = fullProgram();
    delete p.maxTokens;
    delete p.arenaBytes;
    delete p.naiveBytes;
    const r = p.steps[1] as Extract<Kernel, { kind: 'router' }>;
    delete r.bias;
    delete r.selectBias;
    delete r.sharedGate;
    delete r.capacityFactor;
    delete r.tile;
    r.shared = 0;
    r.select = { kind: 'topk' };
    const text = printKernelIR(p);
    expect(text.split('\n')[1]).toBe('program tiny');
    expect(text).toContain('\nrouter(x=xn, w=router) -> (indices=idx, weights=rw) {experts=4, k=2, score="sigmoid", select="topk", post_softmax=false, normalize=true, scale=2.5, shared=0}\n');
    expect(printKernelIR(parseKernelIR(text))).toBe(text);
  });

  it('quotes names that are not dotted identifiers, and round-trips odd numbers', () => {
    const p = fullProgram();
    p.name = 'my program';
    p.buffers.find((b) => b.name === 'xn')!.name = 'x n';
    (p.steps[0] as Extract<Kernel, { kind: 'op' }>).outputs[0] = 'x n';
    (p.steps[3] as Extract<Kernel, { kind: 'grouped_gemm' }>).a = 'x n';
    const r = p.steps[1] as Extract<Kernel, { kind: 'router' }>;
    r.x = 'x n';
    r.scale = 1e-7;
    r.capacityFactor = 0.1 + 0.2;
    const text = printKernelIR(p);
    expect(text).toContain('program "my program"');
    expect(text).toContain('buffer "x n": f32[T, 8] temp @0 +2048');
    expect(text).toContain('router(x="x n"');
    expect(text).toContain('scale=1e-7, capacity_factor=0.30000000000000004');
    const back = parseKernelIR(text);
    expect(printKernelIR(back)).toBe(text);
    expect(strip(back)).toEqual(strip(p));
    expect(verifyKernelIR(back)).toEqual([]);
  });

  it('reads hand-written text leniently: comments, line breaks, any operand and attribute order', () => {
    const text = printKernelIR(fullProgram());
    const loose = text
      .replace(
        'moe_align(indices=idx) -> (sorted=sorted, block_expert=be, count=cnt) {experts=5, k=3, block=4}',
        '// sort the slots\nmoe_align(indices = idx)\n  -> (count=cnt, sorted=sorted, block_expert=be)\n  {block=4, k=3, experts=5}  // blocks of 4',
      )
      .replace('gemm(a=y, w=dense) -> (out=d) {trans_b=true}', 'gemm(w=dense, a=y) -> (out=d) { trans_b = true }');
    expect(loose).not.toBe(text);
    expect(printKernelIR(parseKernelIR(loose))).toBe(text);
  });
});

describe('parse errors are E401 at line:col', () => {
  const text = printKernelIR(fullProgram());
  const lineOf = (needle: string): number => text.slice(0, text.indexOf(needle)).split('\n').length;

  function formatted(bad: string): string {
    const e = errorOf(() => parseKernelIR(bad, 'k.kir'));
    return e.format();
  }

  it('an unknown step', () => {
    const bad = text.replace('moe_align(indices=idx)', 'moe_allign(indices=idx)');
    const out = formatted(bad);
    expect(out).toContain(`k.kir:${lineOf('moe_align(')}:1: error E401: expected a step (router, moe_align, grouped_gemm, gemm, attention, mla_attention, op, loop, dispatch, ep_combine), found 'moe_allign'`);
    expect(out).toContain('hint: did you mean `moe_align`?');
  });

  it('an unknown or missing attribute, an unknown operand', () => {
    const line = lineOf('moe_align(');
    const col = text.split('\n')[line - 1].indexOf('block=') + 1;
    expect(formatted(text.replace('block=4}', 'blocks=4}'))).toContain(`k.kir:${line}:${col}: error E401: moe_align has no attribute 'blocks'`);
    expect(formatted(text.replace(', block=4}', '}'))).toContain(`k.kir:${line}:1: error E401: moe_align needs the attribute 'block'`);
    expect(formatted(text.replace('moe_align(indices=idx)', 'moe_align(indices=idx, x=y)'))).toContain(`k.kir:${line}:24: error E401: moe_align has no operand 'x'`);
    expect(formatted(text.replace('{experts=5, k=3, block=4}', '{experts=5, k=3, block=true}'))).toContain("moe_align: 'block' must be a number");
  });

  it('a bad epilogue, a bad tile, a missing brace', () => {
    expect(formatted(text.replace('act(gelu_tanh)', 'act(gelu_tan)'))).toContain("expected an activation (relu, silu, gelu, gelu_tanh, sigmoid), found 'gelu_tan'");
    expect(formatted(text.replace('mr=4, nr=8, vector=4)', 'mr=4, nr=8)'))).toContain("tile needs the attribute 'vector'");
    const noClose = text.replace('epilogue[act(relu), glu(swiglu, concat)]\n}', 'epilogue[act(relu), glu(swiglu, concat)]\n');
    expect(formatted(noClose)).toContain("error E401: expected '}' to close the loop, found the '-- graph --' section");
  });

  it('a planned offset in parentheses left open', () => {
    const line = printKernelIR(fullProgram()).split('\n').find((l) => / @\d+ \+\d+$/.test(l))!;
    const open = line.replace(/ @(\d+) /, ' @(2*T+$1 ');
    expect(formatted(text.replace(line, open))).toContain("error E401: expected ')' to close the arena offset in bytes");
  });

  it('a missing graph section, and the wrong header', () => {
    expect(formatted(text.slice(0, text.indexOf('-- graph --')))).toContain("error E401: expected a '-- graph --' line followed by the graph module");
    expect(formatted(text.replace('moec.kernel-ir 1', 'moec.kernel-ir 2'))).toContain('k.kir:1:16: error E401: unsupported kernel IR format version 2');
    expect(formatted(text.replace('moec.kernel-ir 1', 'moec.ir 1'))).toContain("k.kir:1:1: error E401: expected 'moec.kernel-ir' at the start of kernel IR text, found 'moec.ir'");
  });

  it('errors in the graph section point into the whole text', () => {
    const bad = text.replace('func pack() {', 'func pack() {\n  %oops = softmaxx(%x) : f32[T, 8]');
    const line = lineOf('func pack() {') + 1;
    const e = errorOf(() => parseKernelIR(bad, 'k.kir'));
    expect(e.format()).toContain(`k.kir:${line}:20: error E401: undefined value %x in func pack`);
    expect(e.format()).toContain(`${line} |   %oops = softmaxx(%x) : f32[T, 8]`);
  });
});

// ---------------------------------------------------------------------------------------

describe('verifyKernelIR', () => {
  /** The problems after `edit` changes a fresh copy of the full program. */
  function problems(edit: (p: KProgram) => void): string[] {
    const p = fullProgram();
    edit(p);
    return verifyKernelIR(p);
  }
  const step = <K extends Kernel['kind']>(p: KProgram, i: number, kind: K): Extract<Kernel, { kind: K }> => {
    const s = p.steps[i];
    if (s.kind !== kind) throw new Error(`step ${i} is ${s.kind}`);
    return s as Extract<Kernel, { kind: K }>;
  };
  const bufferOf = (p: KProgram, name: string): KBuffer => p.buffers.find((b) => b.name === name)!;

  it('a buffer referenced but not declared', () => {
    expect(problems((p) => (step(p, 3, 'grouped_gemm').w = 'w_inn'))).toEqual(['step 4 (grouped_gemm): w w_inn is not a declared buffer (did you mean `w_in`?)']);
  });

  it('declarations: duplicates, undeclared dims, offsets on weights', () => {
    const out = problems((p) => {
      p.buffers.push(buf('cnt', ty('i32', 1), 'temp'));
      bufferOf(p, 'd').shape = [sym('S'), 8];
      bufferOf(p, 'norm').offset = 64;
      bufferOf(p, 'x').bytes = 64; // sizes are fine on any buffer
    });
    expect(out).toContain('buffer cnt is declared twice');
    expect(out).toContain('buffer d: f32[S, 8] uses the size S, which the module does not declare');
    expect(out).toContain('buffer norm: a weight buffer has no arena offset (only temps and outputs live in the arena)');
  });

  it('memory plans: affine in T only, within a part, no two live buffers overlapping at any T', () => {
    const y = (p: KProgram): KBuffer => bufferOf(p, 'y');
    expect(problems((p) => (y(p).offset = dimAdd(sym('L'), 0)))).toContain('buffer y: @offset L is not a whole number >= 0 of the form a*T+b at every T in 1..64');
    expect(problems((p) => (y(p).part = 2))).toContain('buffer y: part 2 is not one of the arena\'s unsplit (one) parts');
    expect(problems((p) => (y(p).offset = affine(2, 0)))).toContain('buffer y: @offset 2*T is not a multiple of 4 bytes, the size of its f32 elements, at every T');
    expect(problems((p) => (bufferOf(p, 'xn').bytes = affine(16, 0)))).toContain('buffer xn: +bytes 16*T is 16 at T = 1, less than its f32[T, 8] takes (32)');
    // xn (rmsnorm's result) and idx (the router's, which reads xn) are live together.
    expect(problems((p) => (bufferOf(p, 'idx').offset = affine(16, 0)))).toContain(
      "buffer idx: its bytes (@16*T +768) overlap xn's (@0 +2048) at some T in 1..64, and both are live at kernel 1",
    );
  });

  it('inputs, outputs and pack', () => {
    expect(problems((p) => (p.inputs[0].buffer = 'xn'))).toEqual([
      'input x: buffer xn is a temp buffer, expected kind input',
      'buffer x is an input buffer but no input line names it',
    ]);
    expect(problems((p) => (p.pack = 'pak'))).toEqual(['pack: the module has no function named pak (did you mean `pack`?)']);
    expect(problems((p) => p.module.funcs[1].results.splice(0, 1))).toEqual(['buffer w_in is a weight but func pack (pack) does not return it']);
    expect(problems((p) => (bufferOf(p, 'norm').shape = [16]))).toContain('pack: func pack returns norm as f32[8], but the buffer is f32[16]');
  });

  it('wrong buffer kinds for roles', () => {
    expect(problems((p) => (step(p, 0, 'op').outputs = ['norm']))).toContain('step 1 (op rmsnorm): output 1 norm is a weight buffer; results go to temps or outputs');
    expect(problems((p) => (step(p, 1, 'router').w = 'xn'))).toContain('step 2 (router): w xn is a temp buffer, expected a weight');
    expect(problems((p) => (step(p, 1, 'router').indices = 'x'))).toContain('step 2 (router): indices x is an input buffer; results go to temps or outputs');
  });

  it('reads before writes, and outputs never written', () => {
    const out = problems((p) => {
      p.steps.splice(0, 1); // nothing writes xn any more
      p.steps.splice(-2, 2); // nor z
    });
    expect(out).toContain('step 1 (router): x xn is read before any step writes it');
    expect(out).toContain('output z: no step writes its buffer z');
  });

  it('router contract: indices and weights are [T, k + shared], indices i32', () => {
    expect(problems((p) => (bufferOf(p, 'idx').shape = [T, 2]))).toContain('step 2 (router): indices idx is i32[T, 2], expected i32[T, 3]');
    expect(problems((p) => (bufferOf(p, 'rw').dtype = 'i32'))).toContain('step 2 (router): weights rw is i32[T, 3], expected a float tensor');
    expect(problems((p) => (step(p, 1, 'router').experts = 5))).toContain('step 2 (router): w router is f32[4, 8], expected f32[5, 8]');
    const out = problems((p) => {
      const r = step(p, 1, 'router');
      r.select = { kind: 'group_topk', groups: 3, topkGroups: 4, groupScore: 'max' };
      r.k = 5;
    });
    expect(out).toContain('step 2 (router): k = 5 is more than the 4 experts');
    expect(out).toContain('step 2 (router): 4 experts do not split into 3 equal groups');
  });

  it('moe_align contract: enough sorted rows and blocks', () => {
    expect(problems((p) => (bufferOf(p, 'sorted').shape = [dimAdd(dimMul(T, 3), 14)]))).toContain(
      'step 3 (moe_align): sorted sorted has [3*T+14] rows, fewer than T*K + E*(block-1) = [3*T+15]',
    );
    expect(problems((p) => (bufferOf(p, 'be').shape = [dimAdd(T, 3)]))).toContain(
      'step 3 (moe_align): block_expert be [T+3] has fewer entries than the [3*T+15] sorted rows have blocks of 4',
    );
    expect(problems((p) => (step(p, 2, 'moe_align').k = 2))).toContain('step 3 (moe_align): indices idx is i32[T, 3], expected i32[_, 2]');
  });

  it('grouped_gemm contract: widths through the epilogues, combine last, init, align and tile', () => {
    expect(problems((p) => (bufferOf(p, 'h').shape = [dimAdd(dimMul(T, 3), 15), 16]))).toContain(
      'step 4 (grouped_gemm): out h is f32[3*T+15, 16], expected f32[3*T+15, 8]',
    );
    expect(problems((p) => (bufferOf(p, 'b_in').shape = [5, 8]))).toContain('step 4 (grouped_gemm): bias b_in is f32[5, 8], expected f32[5, 16]');
    expect(problems((p) => step(p, 4, 'grouped_gemm').epilogue.push({ kind: 'act', fn: 'silu' }))).toContain('step 5 (grouped_gemm): combine must be the last epilogue');
    expect(problems((p) => (step(p, 3, 'grouped_gemm').init = 'x'))).toContain('step 4 (grouped_gemm): init is only for a grouped_gemm with a combine epilogue');
    expect(problems((p) => (step(p, 3, 'grouped_gemm').sorted = 'be'))).toContain('step 4 (grouped_gemm): sorted be is not written by a moe_align step');
    expect(problems((p) => (step(p, 3, 'grouped_gemm').tile!.m = 8))).toContain('step 4 (grouped_gemm): tile m = 8 differs from the moe_align block 4');
    expect(problems((p) => (step(p, 4, 'grouped_gemm').sortedFromTokens = 8))).toContain(
      'step 5 (grouped_gemm): a h holds rows laid out by another grouped_gemm (sorted sorted, sorted_from_tokens 4); this one must use the same',
    );
    expect(problems((p) => (step(p, 3, 'grouped_gemm').epilogue[1] = { kind: 'glu', fn: 'swiglu_clamped', layout: 'interleaved' }))).toContain(
      'step 4 (grouped_gemm): glu(swiglu_clamped) needs limit and alpha',
    );
  });

  it('gemm and op contracts', () => {
    expect(problems((p) => step(p, 5, 'gemm').epilogue.push({ kind: 'combine', weights: 'rw' }))).toContain(
      'step 6 (gemm): a dense gemm has no combine epilogue (it has no token slots)',
    );
    expect(problems((p) => (step(p, 5, 'gemm').transB = false))).toContain('step 6 (gemm): a y is f32[T, 8], expected f32[T, 16]');
    expect(problems((p) => (bufferOf(p, 'xn').shape = [T, 4]))).toContain('step 1 (op rmsnorm): output xn is f32[T, 4] but rmsnorm gives f32[T, 8]');
    expect(problems((p) => (step(p, 0, 'op').op = 'rmsnrm'))).toContain("step 1 (op rmsnrm): unknown op 'rmsnrm' (did you mean `rmsnorm`?)");
  });

  it('loops: slices of stacked buffers with the loop count as leading dim; carried pairs', () => {
    const loop = (p: KProgram): LoopStep => p.steps[7] as LoopStep;
    expect(problems((p) => (loop(p).count = 4))).toContain(
      'step 8 (loop): layers.norm is f32[3, 8], but slicing it needs a leading size equal to the loop count 4',
    );
    expect(problems((p) => (loop(p).slices[0].stacked = 'layers.nrm'))).toContain('step 8 (loop): slices layers.nrm, which is not a buffer (did you mean `layers.norm`?)');
    const renamed = (p: KProgram, name: string): void => {
      loop(p).slices[0].slice = name;
      (loop(p).body[0] as Extract<Kernel, { kind: 'op' }>).inputs[1] = name;
    };
    // `norm` has the slice's type, so inside the loop it is the view; but step 1 reads it as a packed weight.
    expect(problems((p) => renamed(p, 'norm'))).toEqual(['step 1 (op rmsnorm): input 2 norm is a loop\'s slice, bound only inside that loop']);
    expect(problems((p) => (loop(p).slices[0].slice = 'dense'))).toContain(
      'step 8 (loop): buffer dense is declared f32[16, 8] weight, but as a slice of layers.norm it is f32[8] weight',
    );
    expect(problems((p) => (loop(p).slices[1].slice = 'norm_i'))).toContain('step 8 (loop): the slice name norm_i is given twice');
    expect(problems((p) => (loop(p).init![0].from = 'z'))).toContain('step 8 (loop): init reads z before any step writes it');
    expect(problems((p) => (loop(p).init![0].to = 'rw'))).toContain('step 8 (loop): init r -> rw joins f32[T, 8] and f32[T, 3]; they must have the same type');
    expect(problems((p) => (loop(p).carried[0].to = 'xn'))).toEqual([]);
    expect(problems((p) => (loop(p).carried[0].to = 'idx'))).toContain('step 8 (loop): carried d -> idx joins f32[T, 8] and i32[T, 3]; they must have the same type');
    expect(problems((p) => (loop(p).carried[0].to = 'norm'))).toContain('step 8 (loop): carried d -> norm writes a weight buffer');
    expect(problems((p) => (loop(p).body[1] as Extract<Kernel, { kind: 'gemm' }>).w = 'dense')).toEqual([]);
    const inner = problems((p) => ((loop(p).body[1] as Extract<Kernel, { kind: 'gemm' }>).w = 'norm_i'));
    expect(inner).toContain('step 8.2 (gemm): w norm_i is f32[8], expected f32[_, _]');
  });

  it('the graph module is verified too', () => {
    expect(problems((p) => (p.module.funcs[0].name = 'entry'))).toContain('graph: module tiny has no function named main');
  });
});
