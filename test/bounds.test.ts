/**
 * Bounds on hostile input (issue 14): each test reproduces a hang, a heap or stack
 * exhaustion or an internal error (exit 3) on bad input, and pins the clear error that
 * replaced it. Time limits here are generous multiples of the fixed cost: what they catch is
 * the quadratic or unbounded behaviour, which took minutes or gigabytes.
 */
import { describe, expect, it } from 'vitest';
import { type Diagnostic, MoecError, didYouMean } from '../ir/diagnostics.ts';
import { compile, compileModel } from '../compiler/driver.ts';
import { MAX_SOURCE_CHARS, MAX_TOKENS } from '../compiler/frontend/parse.ts';
import { MAX_NODES, MAX_REPEAT } from '../compiler/frontend/lower.ts';
import { MAX_TARGET_CHARS, parseTarget } from '../compiler/target/load.ts';
import { MAX_RUN_BYTES } from '../compiler/checkpoint/load-weights.ts';
import { cacheDir } from '../compiler/backends/c/build.ts';
import { homedir } from 'node:os';
import { FuncBuilder, UniqueNames } from '../ir/graph/builder.ts';
import { writeSafetensors } from '../compiler/io/write-safetensors.ts';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, errorOf } from './capture.ts';
import { atTokens } from '../ir/kernel/memory.ts';


function first(f: () => unknown): Diagnostic {
  return errorOf(f).diagnostics[0];
}

/** A model around file-level `consts` and model `body` lines. */
function model(consts: string, body = ''): string {
  return `dim T <= 4\n${consts}\nmodel m {\n  input x: f32[T, 4]\n${body}  output y = relu(x)\n}\n`;
}

function timed<T>(f: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = f();
  return { value, ms: performance.now() - t0 };
}

describe('.moe source size and depth', () => {
  it('a 10 MB one-line sum is refused before lexing (E104; was: 4.4 GB of heap, then a crash)', () => {
    const text = model(`const A = ${Array(5_000_000).fill('1').join('+')}`);
    const { value: d, ms } = timed(() => first(() => compile(text, { path: 'big.moe' })));
    expect(d.code).toBe('E104');
    expect(d.message).toBe(`the file is ${text.length} characters long; a .moe file holds at most ${MAX_SOURCE_CHARS}`);
    expect(d.span?.start).toBe(MAX_SOURCE_CHARS);
    expect(d.hint).toBe('write repeated layers once, as a `block` called by `repeat(N)`');
    expect(ms).toBeLessThan(2000);
  });

  it('a line of more than MAX_TOKENS tokens is E104 at the first token past the cap (was: seconds and gigabytes)', () => {
    const text = model(`const A = ${Array(MAX_TOKENS).fill('1').join('+')}`);
    const d = first(() => compile(text, { path: 'long.moe' }));
    expect(d.code).toBe('E104');
    expect(d.message).toBe(`more than ${MAX_TOKENS} tokens in one .moe file`);
    // Seven tokens come before the sum (`dim T <= 4 const A =`), whose tokens are one character each.
    expect(d.span!.start).toBe(text.indexOf('= 1') + 2 + (MAX_TOKENS - 7));
  });

  it('a chain of 10,000 `.field` is "nested too deeply" (E102; was: an internal error, stack overflow in lowering)', () => {
    const d = first(() => compile(model('', `  z = x${'.a'.repeat(10_000)}\n`), { path: 'dots.moe' }));
    expect(d.code).toBe('E102');
    expect(d.message).toBe('expression nested too deeply');
    expect(d.hint).toContain('`.field`');
    // A chain at the limit still gets to lowering, which names the real mistake.
    expect(first(() => compile(model('', `  z = x${'.a'.repeat(100)}\n`))).code).toBe('E209');
  });

  it('nested parentheses and brackets 90k deep are E102 at once (no stack overflow)', () => {
    for (const [open, close] of [['(', ')'], ['[', ']']]) {
      const text = model('', `  z = ${open.repeat(90_000)}x${close.repeat(90_000)}\n`);
      const { value: d, ms } = timed(() => first(() => compile(text)));
      expect(d.message).toBe('expression nested too deeply');
      expect(ms).toBeLessThan(3000);
    }
  });

  it('a diagnostic on a megabyte-long line prints a window around the error, not the whole line (was: 40 MB of output)', async () => {
    const text = `${'@ '.repeat(400_000)}\n`;
    const e = errorOf(() => compile(text, { path: 'at.moe' }));
    expect(e.diagnostics).toHaveLength(50);
    const out = e.format();
    expect(out.length).toBeLessThan(50 * 500);
    const [d3] = out.split('\n\n').slice(2);
    expect(d3).toBe(
      [
        "at.moe:1:5: error E101: unexpected character '@'",
        ` 1 | ${'@ '.repeat(80)}...`,
        '   |     ^',
        '  hint: write a matrix product as `matmul(a, b)`',
      ].join('\n'),
    );
    // Far into the line: cut on both sides, the caret under the same character.
    const far = errorOf(() => compile(`model m {\n  z = ${'x+'.repeat(1000)}@${'+x'.repeat(1000)}\n}`, { path: 'far.moe' })).format();
    const [, shown, caret] = far.split('\n');
    expect(shown).toBe(` 2 | ...${'x+'.repeat(30)}@${'+x'.repeat(49)}+...`);
    expect(caret.indexOf('^')).toBe(shown.indexOf('@'));
  });

  it('a run of a million unexpected characters is named by its first 16 (was: the whole run in the message)', () => {
    const d = first(() => compile('@'.repeat(1_000_000)));
    expect(d.message).toBe(`unexpected characters '${'@'.repeat(16)}'...`);
  });

  it('did-you-mean over a megabyte-long name returns at once (was: edit distance of a megabyte by every candidate)', () => {
    const { value, ms } = timed(() => didYouMean('x'.repeat(1_000_000), Array.from({ length: 200 }, (_, i) => `name${i}`)));
    expect(value).toBeUndefined();
    expect(ms).toBeLessThan(500);
    expect(didYouMean('sofmax', ['softmax', 'relu'])).toBe('did you mean `softmax`?');
  });
});

describe('lowering', () => {
  it('blocks that each call the one before twice are refused at MAX_NODES operations (E307; was: 2^40 inlined operations, a hang)', () => {
    const blocks = ['block b0(x: f32[T, 4]) {\n  return relu(x)\n}'];
    for (let i = 1; i < 40; i++) blocks.push(`block b${i}(x: f32[T, 4]) {\n  return b${i - 1}(b${i - 1}(x))\n}`);
    const text = `dim T <= 4\n${blocks.join('\n')}\nmodel m {\n  input x: f32[T, 4]\n  output y = b39(x)\n}\n`;
    const { value: d, ms } = timed(() => first(() => compile(text)));
    expect(d.code).toBe('E307');
    expect(d.message).toBe(`the model lowers to more than ${MAX_NODES} operations`);
    expect(d.hint).toBe('a block is copied at every call: write repeated layers as `repeat(N) block(...)`, which is not copied');
    expect(ms).toBeLessThan(15_000);
  });

  it('a repeat count over MAX_REPEAT, alone or multiplied by the repeats around it, is E307 (was: compiled, then ran for hours)', () => {
    const text = (outer: string, inner: string) =>
      `dim T <= 4\nblock b0(x: f32[T, 4]) {\n  return relu(x)\n}\nblock b1(x: f32[T, 4]) {\n  return repeat(j = 0..${inner}) b0(x)\n}\nmodel m {\n  input x: f32[T, 4]\n  output y = repeat(${outer}) b1(x)\n}\n`;
    expect(first(() => compile(text('2147483647', '1'))).message).toBe(`repeat count 2147483647 is over ${MAX_REPEAT}`);
    const nested = first(() => compile(text('1000', '1000')));
    expect(nested.message).toBe(`repeat count 1000 (1000000 with the repeats around it) is over ${MAX_REPEAT}`);
    expect(compile(text('256', '256')).funcs).toHaveLength(3);
  });
});

describe('compiling long programs', () => {
  it('a chain of 7,000 `h = h * h + h` compiles for a target in seconds (was: a use map rebuilt per add and per mul, a buffer lookup per kernel cost, every placed buffer scanned per buffer: minutes)', () => {
    const text = model('', `  h = x\n${'  h = h * h + h\n'.repeat(7000)}  z = relu(h)\n`).replace('output y = relu(x)', 'output y = relu(z)');
    const m = compile(text);
    const { value, ms } = timed(() => compileModel(m, { target: 'x86-avx2' }));
    expect(atTokens(value.program.arenaBytes!, value.maxTokens)).toBeGreaterThan(0);
    expect(ms).toBeLessThan(15_000);
  });
});

describe('unique value names', () => {
  it('rebinding one name 50,000 times names values in linear time (was: h_1, h_2, ... probed each time: minutes)', () => {
    const m = { name: 'm', dims: [], weights: [], funcs: [] };
    const b = new FuncBuilder('main', m);
    const { value: last, ms } = timed(() => {
      let name = '';
      for (let i = 0; i < 50_000; i++) name = b.fresh('h');
      return name;
    });
    expect(last).toBe('h_49999');
    expect(ms).toBeLessThan(1500);
  });

  it('names are those of the plain search from _1: a taken `h_2` is skipped, a freed `h_1` is found again', () => {
    const names = new UniqueNames(['h_2']);
    expect([names.take('h'), names.take('h'), names.take('h'), names.take('h_1')]).toEqual(['h', 'h_1', 'h_3', 'h_1_1']);
    names.delete('h_1');
    expect(names.take('h')).toBe('h_1');
    expect(names.take('h')).toBe('h_4');
  });

  it('the .moe text rebinding `h = h + h` 20,000 times checks in seconds (was: 12 s)', async () => {
    const text = model('', `  h = x\n${'  h = h + h\n'.repeat(20_000)}`);
    const { value: m, ms } = timed(() => compile(text));
    expect(m.funcs[0].body.at(-1)?.outputs[0].name).toBe('y');
    expect(m.funcs[0].body.at(-2)?.outputs[0].name).toBe('h_19999');
    expect(ms).toBeLessThan(8000);
  });
});



describe('target sheets', () => {
  const sheet = readFileSync('targets/x86-avx2.yaml', 'utf8');
  /** The shipped sheet with the line starting `key:` replaced. */
  const edit = (key: string, line: string): string => sheet.replace(new RegExp(`^( *)${key}:.*$`, 'm'), `$1${line}`);
  const errors = (text: string): string[] =>
    errorOf(() => parseTarget(text, 't.yaml')).diagnostics.map((d) => {
      const { line, col } = (() => {
        const before = text.slice(0, d.span?.start ?? 0).split('\n');
        return { line: before.length, col: before[before.length - 1].length + 1 };
      })();
      return `${d.code} ${line}:${col} ${d.message}`;
    });

  it('`cores: 2147483648` is out of range (E610; was: accepted, then the C runner failed with an internal error)', () => {
    expect(errors(edit('cores', 'cores: 2147483648'))).toEqual(['E610 17:8 `cores` must be at most 4096, got `2147483648`']);
    expect(parseTarget(edit('cores', 'cores: 4096'), 't.yaml').cores).toBe(4096);
  });

  it('absurd magnitudes of FLOP/s, bandwidth and size are E610 (was: `5e-324 FLOP/s` estimated "Infinity s")', () => {
    expect(errors(edit('f32', 'f32: 5e-324 FLOP/s'))).toEqual(['E610 23:8 `peakFlops.f32` must be at least 1 MFLOP/s, got `5e-324 FLOP/s`']);
    expect(errors(edit('f32', 'f32: 1e30 PFLOP/s'))).toEqual(['E610 23:8 `peakFlops.f32` must be at most 1000 PFLOP/s, got `1e30 PFLOP/s`']);
    const bw = sheet.replace('bandwidth: 192 GB/s', 'bandwidth: 0.001 B/s');
    expect(errors(bw)).toEqual(['E610 31:16 `memory[0].bandwidth` must be at least 1 MB/s, got `0.001 B/s`']);
    const big = sheet.replace('size: 24 GiB', 'size: 4096 TiB');
    expect(errors(big)).toEqual(['E610 45:11 `memory[3].size` must be at most 1024 TiB, got `4096 TiB`']);
    expect(errors(edit('vectorWidth', 'vectorWidth: 1 MiB'))).toEqual(['E610 15:14 `vectorWidth` must be at most 4 KiB, got `1 MiB`']);
    expect(errors(edit('alignment', 'alignment: 1 GiB'))).toEqual(['E610 18:12 `alignment` must be at most 64 KiB, got `1 GiB`']);
  });

  it('a sheet of 200,000 unknown keys is refused by size at once (E601; was: over a minute in the duplicate-key check)', () => {
    const text = `name: x\n${Array.from({ length: 200_000 }, (_, i) => `k${i}: 1`).join('\n')}\n`;
    const { value, ms } = timed(() => errors(text));
    expect(value).toHaveLength(1);
    expect(value[0]).toMatch(new RegExp(`^E601 \\d+:\\d+ the target file is ${text.length} characters long; a sheet holds at most ${MAX_TARGET_CHARS}$`));
    expect(ms).toBeLessThan(1000);
  });

  it('keys up to the size cap are checked in linear time, with at most 50 diagnostics; a key given twice is still E602', () => {
    const keys = Array.from({ length: 7000 }, (_, i) => `k${i}: 1`);
    const text = `${sheet}\n${keys.join('\n')}\nk3: 2\n`;
    expect(text.length).toBeLessThan(MAX_TARGET_CHARS);
    const { value, ms } = timed(() => errorOf(() => parseTarget(text, 't.yaml')).diagnostics);
    expect(value).toHaveLength(1);
    expect(value[0]).toMatchObject({ code: 'E602', message: 'key `k3` is given twice' });
    expect(value[0].hint).toMatch(/^first given on line \d+; remove one$/);
    const unknown = errorOf(() => parseTarget(`${sheet}\n${keys.join('\n')}\n`, 't.yaml')).diagnostics;
    expect(unknown).toHaveLength(50);
    expect(unknown[0]).toMatchObject({ code: 'E605', message: 'unknown key `k0`' });
    expect(ms).toBeLessThan(3000);
  });

  it('YAML nested 10,000 deep is "nested too deeply" with a position (E601; was: "Maximum call stack size exceeded")', () => {
    const text = `name: x\nfoo: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`;
    const e = errorOf(() => parseTarget(text, 'deep.yaml'));
    expect(e.diagnostics.map((d) => [d.code, d.message, d.hint])).toEqual([['E601', 'the YAML is nested too deeply', 'a target sheet nests a few levels at most']]);
    expect(e.format()).toMatch(/^deep\.yaml:2:\d+: error E601: the YAML is nested too deeply\n/);
  });
});

describe('memory a run allocates', () => {
  it('ten f32[16384, 16384] seeded weights are refused before allocating, naming the sizes (E307; was: 6.3 GB allocated, then exit 3)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-bounds-'));
    const file = join(dir, 'ten.moe');
    const weights = Array.from({ length: 10 }, (_, i) => `  weight w${i}: f32[N, N]\n`).join('');
    writeFileSync(file, model('const N = 16384', weights));
    const run = await cli('run', file, '--tokens', '1');
    expect(run.code).toBe(1);
    expect(run.err).toBe(
      [
        `${file}:5:3: error E307: this run needs 10.0 GiB of weights and inputs (weights 10.0 GiB, inputs 16 B), more than the 4.00 GiB a run may hold; the largest weight is \`w0\` [16384, 16384], 1.00 GiB`,
        ' 5 |   weight w0: f32[N, N]',
        '   |   ^^^^^^^^^^^^^^^^^^^^',
        '  hint: bind smaller sizes (e.g. --set D=64)',
      ].join('\n'),
    );
    const pack = await cli('pack', file, '--target', 'x86-avx2', '-o', join(dir, 'w.bin'));
    expect(pack.code).toBe(1);
    expect(pack.err).toContain('error E307: this run needs 10.0 GiB of weights, more than the 4.00 GiB a run may hold');
    expect(MAX_RUN_BYTES).toBe(4 * 2 ** 30);
  });
});

/** Runs `f` with environment variables set (undefined: unset), restoring them after. */
async function withEnv<T>(vars: Record<string, string | undefined>, f: () => Promise<T> | T): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  set(vars);
  try {
    return await f();
  } finally {
    set(saved);
  }
}

describe('the C build cache and temporary files', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'moec-bounds-cache-'));
  const aFile = join(scratch, 'a-file');
  writeFileSync(aFile, '');

  it('one function decides the cache directory: MOEC_CACHE_DIR, else XDG_CACHE_HOME/moec, else ~/.cache/moec; empty or relative values do not count (was: MOEC_CACHE_DIR="" cached in the working directory)', async () => {
    await withEnv({ MOEC_CACHE_DIR: '/var/cache/m', XDG_CACHE_HOME: '/x' }, () => expect(cacheDir('c')).toBe('/var/cache/m/c'));
    await withEnv({ MOEC_CACHE_DIR: '', XDG_CACHE_HOME: '/x' }, () => expect(cacheDir('c')).toBe('/x/moec/c'));
    await withEnv({ MOEC_CACHE_DIR: 'rel', XDG_CACHE_HOME: 'rel' }, () => expect(cacheDir('bench')).toBe(join(homedir(), '.cache', 'moec', 'bench')));
    await withEnv({ MOEC_CACHE_DIR: undefined, XDG_CACHE_HOME: undefined }, () => expect(cacheDir('c')).toBe(join(homedir(), '.cache', 'moec', 'c')));
  });

  it('MOEC_CACHE_DIR at a file is E506 with a hint (was: ENOTDIR, an internal error)', async () => {
    const r = await withEnv({ MOEC_CACHE_DIR: aFile }, () => cli('run', 'examples/tiny.moe', '--tokens', '3', '--backend', 'c'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^error E506: cannot create the cache directory ${aFile}/c/tiny-[0-9a-f]{20}: a parent of the path is not a directory\n  hint: set MOEC_CACHE_DIR \\(or XDG_CACHE_HOME\\) to a writable directory$`));
  });

  it('TMPDIR at a file is E506 with a hint (was: ENOTDIR, an internal error)', async () => {
    const r = await withEnv({ MOEC_CACHE_DIR: join(scratch, 'cache'), TMPDIR: aFile }, () => cli('run', 'examples/tiny.moe', '--tokens', '3', '--backend', 'c'));
    expect(r.err).toBe(`error E506: cannot create a temporary directory in ${aFile}: a parent of the path is not a directory\n  hint: set TMPDIR to a writable directory`);
    expect(r.code).toBe(1);
  });

  it('a 240-character model name builds and runs on the C backend (was: ENAMETOOLONG creating the cache directory)', async () => {
    const name = 'm'.repeat(240);
    const file = join(scratch, 'long.moe');
    writeFileSync(file, readFileSync('examples/tiny.moe', 'utf8').replace('model tiny {', `model ${name} {`));
    const r = await withEnv({ MOEC_CACHE_DIR: join(scratch, 'cache') }, () => cli('run', file, '--tokens', '3', '--backend', 'c'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const [dir] = readdirSync(join(scratch, 'cache', 'c')).filter((d) => d.startsWith('mmm'));
    expect(dir).toMatch(/^m{39}_[0-9a-f]{8}-[0-9a-f]{20}$/);
  });
});

describe('WebAssembly memory the environment refuses', () => {
  it('under `ulimit -v` the wasm backend is E509 with a hint, for binaryen and for the model alike (was: an internal error)', () => {
    // A limit is per process: the built CLI runs in a shell that sets one (tsx itself needs Wasm memory).
    if (!existsSync('dist/compiler/cli.js')) execFileSync('npm', ['run', 'build'], { stdio: 'ignore' });
    const hint = '  hint: V8 reserves about 10 GiB of address space for each WebAssembly memory: raise or lift the virtual-memory limit (`ulimit -v`), or run with --backend c or ref';
    // 12 GB: binaryen gets its memory, the model's module does not; 3 GB: binaryen does not either.
    for (const [kib, what] of [['12000000', 'WebAssembly.Instance()'], ['3000000', 'RangeError: WebAssembly.instantiate()']]) {
      const r = spawnSync('bash', ['-c', `ulimit -v ${kib} && exec "${process.execPath}" bin/moec.js run examples/tiny.moe --tokens 3 --backend wasm`], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`error E509: this environment cannot give WebAssembly the memory it needs (${what}: Out of memory: Cannot allocate Wasm memory for new instance)\n${hint}`);
    }
  });
});

describe('command line', () => {
  it('`--set __proto__=5` is E211 with the file\'s constants (was: ignored, exit 0)', async () => {
    const r = await cli('check', 'examples/tiny.moe', '--set', '__proto__=5');
    expect(r.code).toBe(1);
    expect(r.err).toBe('error E211: --set __proto__: the file has no file-level constant `__proto__`\n  hint: its constants are: D, F, E, K');
    const typo = await cli('check', 'examples/tiny.moe', '--set', 'constructor=5,DD=3');
    expect(typo.code).toBe(1);
    expect(typo.err).toContain('--set constructor: the file has no file-level constant `constructor`');
  });

  it('an unknown option is `moec: unknown option --foo (see moec CMD --help)` with a did-you-mean hint (was: Node\'s text, ending on an unbalanced quote)', async () => {
    const r = await cli('run', 'examples/tiny.moe', '--tokns', '3');
    expect(r.code).toBe(2);
    expect(r.err).toBe('moec: unknown option --tokns (see moec run --help)\n  hint: did you mean `--tokens`?');
    const far = await cli('check', 'examples/tiny.moe', '--frobnicate');
    expect(far.err).toBe('moec: unknown option --frobnicate (see moec check --help)');
    // Before the command, or with none: the overview's help.
    expect((await cli('--frobnicate')).err).toBe('moec: unknown option --frobnicate (see moec --help)');
    const missing = await cli('run', 'examples/tiny.moe', '--tokens');
    expect(missing.code).toBe(2);
    expect(missing.err).toBe("moec: option '-T, --tokens <value>' argument missing\n  (moec --help lists the commands and options)");
  });

  it('an all-NaN output prints its NaN count and n/a statistics (was: `min Infinity max -Infinity`); infinities are counted apart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-bounds-nan-'));
    const file = join(dir, 'm.moe');
    writeFileSync(file, 'dim T <= 4\nmodel m {\n  input x: f32[T, 2]\n  output y = x * 1\n}\n');
    const inputs = join(dir, 'x.safetensors');
    writeSafetensors(inputs, { x: { dtype: 'f32', shape: [2, 2], data: new Float32Array([NaN, NaN, NaN, NaN]) } });
    const nan = await cli('run', file, '--tokens', '2', '--inputs', inputs);
    expect(nan.code).toBe(0);
    expect(nan.out).toContain('output y: f32[2, 2]  min n/a  max n/a  mean n/a  std n/a  NaN 4\n  first values: [NaN, NaN, NaN, NaN]');
    writeSafetensors(inputs, { x: { dtype: 'f32', shape: [2, 2], data: new Float32Array([1, Infinity, NaN, 3]) } });
    const mixed = await cli('run', file, '--tokens', '2', '--inputs', inputs);
    expect(mixed.out).toContain('output y: f32[2, 2]  min 1.0000  max 3.0000  mean 2.0000  std 1.0000  NaN 1  Inf 1');
  });
});
