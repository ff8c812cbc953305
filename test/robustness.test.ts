/**
 * Robustness: regression tests for what the fuzzers found (each with its exact message),
 * the limits that keep hostile inputs from exhausting memory or stack (each with its
 * message; others live beside their component: dims and element counts in lower.test.ts,
 * expression nesting in parser.test.ts, YAML aliases in targets.test.ts, safetensors
 * headers in safetensors.test.ts). Output under errors and kills: output-safety.test.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../compiler/cli/cli.ts';
import { MoecError } from '../ir/diagnostics.ts';
import { compile, compileModel, randomWeights } from '../compiler/driver.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { parseKernelIR } from '../ir/kernel/kparse.ts';
import { verifyKernelIR } from '../ir/kernel/kverify.ts';
import { printKernelIR } from '../ir/kernel/kprint.ts';
import { printIR } from '../ir/graph/print.ts';
import { writeOutputDir } from '../compiler/io/output.ts';
import { parseTarget } from '../compiler/target/load.ts';
import { parseIR } from '../ir/graph/parse.ts';
import { dimToString } from '../ir/dims.ts';
import { atTokens } from '../ir/kernel/memory.ts';
import { cli } from './capture.ts';

/** The formatted diagnostics `f` throws (it must throw a MoecError). */
function formatted(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof MoecError) return e.format();
    throw e;
  }
  throw new Error('expected a MoecError');
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'moec-robust-'));
}

describe('fuzzer finds (regressions)', () => {
  it('an error at the end of the text has its span inside the text (.moe, graph IR, target YAML)', () => {
    // Found by the fuzzer: the one-character span at end of file ran one past the text.
    const moe = 'dim T\nmodel m {\n  input x: f32[T, 4]\n  output y = relu(x';
    try {
      compile(moe, { path: 'eof.moe' });
    } catch (e) {
      expect((e as MoecError).diagnostics[0].span).toEqual({ file: 'eof.moe', start: moe.length, end: moe.length });
    }
    expect(formatted(() => compile(moe, { path: 'eof.moe' }))).toBe(
      ["eof.moe:4:20: error E102: expected ')' but found end of file", ' 4 |   output y = relu(x', '   |                    ^', '  hint: the `(` opened at line 4 is not closed'].join('\n'),
    );
    expect(formatted(() => parseIR('moec.ir 1\nmodel m\nfunc main(%x: f32[4]) {\n  %y = relu(', 'eof.ir'))).toBe(
      ['eof.ir:4:13: error E401: expected a value (%name), found the end of the text', ' 4 |   %y = relu(', '   |             ^'].join('\n'),
    );
    expect(formatted(() => parseTarget('name: x\nlist: [1, 2', 'eof.yaml'))).toBe(
      [
        'eof.yaml:2:12: error E601: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
        ' 2 | list: [1, 2',
        '   |            ^',
      ].join('\n'),
    );
  });

  it('seeded weights too large to run are refused before allocating (was: an internal error from a 256 GiB tensor)', async () => {
    const r = await cli('run', 'examples/tiny.moe', '--set', 'F=2147483647', '--tokens', '3');
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      [
        'examples/tiny.moe:13:3: error E307: `w_gate` is [4, 2147483647, 8], 68719476704 elements, too large to run (at most 268435456 per tensor)',
        ' 13 |   weight w_gate: f32[E, F, D] from "mlp.experts.{e}.gate_proj.weight"',
        '    |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^',
        '  hint: bind smaller sizes (e.g. --set D=64)',
      ].join('\n'),
    );
    // The model's real sizes are too large for the reference interpreter too: refused, not allocated.
    const big = await cli('run', 'examples/mixtral.moe', '--tokens', '3');
    expect(big.code).toBe(1);
    expect(big.err.split('\n')[0]).toBe('examples/mixtral.moe:13:3: error E307: `w1` is [8, 14336, 4096], 469762048 elements, too large to run (at most 268435456 per tensor)');
  });

  it('negating an integer tensor is a located E302 (was: an internal error from the op catalogue)', () => {
    const src = 'dim T\nmodel m {\n  input x: f32[T, 4]\n  top = topk(x, k=2)\n  output y = - top.indices\n}\n';
    expect(formatted(() => compile(src, { path: 'neg.moe' }))).toBe(
      ['neg.moe:5:16: error E302: neg needs a float tensor, got i32[T, 2]', ' 5 |   output y = - top.indices', '   |                ^^^^^^^^^^^', '  hint: cast it with cast(x, f32)'].join('\n'),
    );
  });

  it('an output that is a weight, an input or another output unchanged is a located E207 at compile time (was: an internal error in lower-kernels)', async () => {
    const dir = tmp();
    const file = join(dir, 'passthrough.moe');
    writeFileSync(file, 'dim T <= 8\nmodel m {\n  input x: f32[T, 4]\n  weight w: f32[4, 4]\n  output w\n  output y = relu(x)\n}\n');
    const r = await cli('compile', file, '--target', 'x86-avx2');
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      [
        `${file}:4:3: error E207: output \`w\` is a weight, unchanged: a compiled model's outputs must each be computed`,
        ' 4 |   weight w: f32[4, 4]',
        '   |   ^^^^^^^^^^^^^^^^^^^',
        '  hint: compute it (or copy it outside the model); the reference interpreter (moec run) accepts such models',
      ].join('\n'),
    );
    writeFileSync(file, 'dim T <= 8\nmodel m {\n  input x: f32[T, 4]\n  output y = x\n}\n');
    expect((await cli('compile', file, '--target', 'x86-avx2')).err.split('\n')[0]).toBe(`${file}:3:3: error E207: output \`y\` is an input, unchanged: a compiled model's outputs must each be computed`);
    writeFileSync(file, 'dim T <= 8\nmodel m {\n  input x: f32[T, 4]\n  a = relu(x)\n  output p = a\n  output q = a\n}\n');
    expect((await cli('compile', file, '--target', 'x86-avx2')).err.split('\n')[0]).toBe(`${file}:4:7: error E207: output \`q\` is the same value as output \`p\`: a compiled model's outputs must each be computed`);
    // The reference interpreter runs such a model.
    expect((await cli('run', file, '--tokens', '2')).code).toBe(0);
  });

  it('a kernel program with an arena offset that is not a multiple of its element size, or runs past the arena, is invalid (E402; was a RangeError in arena mode)', () => {
    const { program } = compileModel(compile(readFileSync('examples/tiny.moe', 'utf8'), { path: 'tiny.moe' }), { target: 'npu-scratchpad', maxTokens: 16 });
    const text = printKernelIR(program);
    const offset = /buffer top\.indices: i32\[T, 2\] temp @(\S+) \+(\S+)/.exec(text)!;
    const skewed = parseKernelIR(text.replace(offset[0], `buffer top.indices: i32[T, 2] temp @1 +${offset[2]}`), 'skewed.kir');
    expect(verifyKernelIR(skewed)).toContain('buffer top.indices: @offset 1 is not a multiple of 4 bytes, the size of its i32 elements, at every T');
    const arena = program.arenaBytes!;
    const past = parseKernelIR(text.replace(offset[0], `buffer top.indices: i32[T, 2] temp @(${dimToString(arena)}) +${offset[2]}`), 'past.kir');
    const [from, bytes] = [atTokens(arena, 1), atTokens(parseKernelIR(text, 'x.kir').buffers.find((b) => b.name === 'top.indices')!.bytes!, 1)];
    expect(verifyKernelIR(past)).toContain(`buffer top.indices: bytes ${from}..${from + bytes} run past the end of the ${from}-byte arena at T = 1`);
    const x = { dtype: 'f32' as const, shape: [2, 8], data: new Float32Array(16) };
    expect(() => interpretKernelIR(skewed, { bindings: { T: 2 }, inputs: { x }, weights: randomWeights(program.module, 1), arena: true })).toThrow(
      'E402: buffer top.indices: @offset 1 is not a multiple of 4 bytes, the size of its i32 elements, at every T',
    );
  });

  it('a weight whose size depends on T is refused when lowering (E303) and by the IR verifier (E402) (was: an internal error when seeding weights)', () => {
    expect(formatted(() => compile('dim T <= 8\nconst D = T\nmodel m {\n  input x: f32[T, 4]\n  weight w: f32[4, D]\n  output y = relu(x)\n}\n', { path: 'sym.moe' }))).toBe(
      [
        'sym.moe:5:13: error E303: weight `w` has the size `T`, which varies at run time; a weight\'s sizes must be constants',
        ' 5 |   weight w: f32[4, D]',
        '   |             ^^^^^^^^^',
        '  hint: use a `const` (sizes that vary with the input belong to inputs)',
      ].join('\n'),
    );
    expect(formatted(() => parseIR('moec.ir 1\nmodel m\ndim T <= 8\nweight w: f32[T]\n\nfunc main(%x: f32[T]) {\n  %y = relu(%x) : f32[T]\n  return y = %y\n}\n', 'sym.ir')).split('\n')[0]).toBe(
      "sym.ir:4:1: error E402: weight w has type f32[T], but a weight's sizes must be constants",
    );
  });

  it('IR text giving moe_router a router bias of the wrong rank is E402 (was: a TypeError in the op catalogue)', () => {
    const m = compile(readFileSync('examples/gpt-oss.moe', 'utf8'), { path: 'gpt-oss.moe', consts: { D: 32, F: 24, E: 8, K: 4 } });
    const fused = printIR(compileModel(m, { target: 'x86-avx2', maxTokens: 16 }).graph);
    expect(fused).toContain('moe_router(%x, %router, %router_bias)');
    const bad = fused.replaceAll(/(router_bias.*): f32\[8\]/g, '$1: f32[]');
    const err = formatted(() => parseIR(bad, 'fused.ir')).split('\n')[0];
    expect(err).toMatch(/^fused\.ir:\d+:3: error E402: in func main: %top\.indices, %weights = moe_router\(.*: moe_router: the router bias must have rank 1, got f32\[\]$/);
  });

  it('a target whose smallest tile does not fit its own memory is an input error (was: an internal error)', async () => {
    const dir = tmp();
    const sheet = join(dir, 'big-mac.yaml');
    writeFileSync(sheet, readFileSync('targets/npu-scratchpad.yaml', 'utf8').replace(/^ {2}rows: 16$/m, '  rows: 4096').replace(/^ {2}cols: 16$/m, '  cols: 4096'));
    const r = await cli('compile', 'examples/tiny.moe', '--target', sheet);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      "error E612: no tiling of a 64x4x8 router fits target 'npu-scratchpad'\n" +
        "  hint: even the smallest tile needs more than the memory it is placed in: check the sheet's macArray, memory sizes, vectorWidth and workgroup limits",
    );
  });
});

describe('limits, with their messages', () => {
  it('blocks nested more than 64 deep (E210), without overflowing the stack', () => {
    const blocks = Array.from({ length: 70 }, (_, i) => `block b${i}(h: f32[T, 4]) {\n  return ${i === 69 ? 'h' : `b${i + 1}(h)`}\n}\n`).join('');
    expect(formatted(() => compile(`dim T\n${blocks}model m {\n  input x: f32[T, 4]\n  output y = b0(x)\n}\n`, { path: 'deep.moe' })).split('\n')[0]).toBe(
      'deep.moe:192:10: error E210: blocks are nested more than 64 deep',
    );
  });

  it('a size of 2^40 through --set, and a product of sizes past 2^48 elements (E307)', () => {
    const src = 'dim T\nconst D = 8\nmodel m {\n  input x: f32[T, D]\n  output y = relu(x)\n}\n';
    expect(formatted(() => compile(src, { path: 'big.moe', consts: { D: 2 ** 40 } })).split('\n')[0]).toBe('big.moe:4:19: error E307: size 1099511627776 is out of range');
    const prod = 'dim T\nmodel m {\n  weight w: f32[2147483647, 2147483647, 2147483647]\n  input x: f32[T, 4]\n  output y = relu(x)\n}\n';
    expect(formatted(() => compile(prod, { path: 'prod.moe' })).split('\n')[0]).toBe(
      'prod.moe:3:13: error E307: f32[2147483647, 2147483647, 2147483647] has 9.904e+27 elements, more than any target can address',
    );
  });

  it('--tokens past what an unbounded model can run (E307 before allocating the inputs)', async () => {
    const dir = tmp();
    const file = join(dir, 'wide.moe');
    writeFileSync(file, 'dim T\nmodel wide {\n  input x: f32[T, 4096]\n  output y = relu(x)\n}\n');
    const r = await cli('run', file, '--tokens', '2147483647');
    expect(r.code).toBe(1);
    expect(r.err.split('\n')[0]).toBe(`${file}:3:3: error E307: \`x\` is [2147483647, 4096], 8796093018112 elements, too large to run (at most 268435456 per tensor)`);
  });
});

describe('the arena must fit the target memory', () => {
  it('an arena over the main memory of the target is E307 (wasm32: 4 GiB), not a plan that cannot load; --max-tokens 2147483647 compiles in seconds (the decode threshold scanned every token count: hours)', async () => {
    const dir = tmp();
    const file = join(dir, 'unbounded.moe');
    writeFileSync(file, readFileSync('examples/tiny.moe', 'utf8').replace('dim T <= 64', 'dim T'));
    const r = await cli('compile', file, '--target', 'wasm-simd128', '--max-tokens', '2147483647');
    expect(r.code).toBe(1);
    expect(r.err).toBe("error E307: the arena for T = 2147483647 needs 896.0 GiB, more than wasm-simd128's linear memory (4.0 GiB)\n  hint: lower --max-tokens (or the bound on T in the model)");
    // Mixtral's own bound (T <= 32768) needs a 4.1 GiB arena: more than a browser's WebGPU device memory.
    const mix = await cli('compile', 'examples/mixtral.moe', '--target', 'webgpu');
    expect(mix.err.split('\n')[0]).toBe("error E307: the arena for T = 32768 needs 4.1 GiB, more than webgpu's device memory (2.0 GiB)");
    expect((await cli('compile', 'examples/mixtral.moe', '--target', 'webgpu', '--max-tokens', '8192')).code).toBe(0);
  });
});
