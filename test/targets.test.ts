/**
 * @fileoverview Tests of target capability sheets: every shipped `targets/*.yaml` loads with
 * sane values (WebGPU's default limits exactly), and every class of mistake in a sheet is
 * reported with its code, message and `line:col`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Diagnostic, MoecError } from '../ir/diagnostics.ts';
import { listTargets, loadTarget, MAX_ALIAS_COUNT, parseTarget } from '../compiler/target/load.ts';
import { SourceFile } from '../ir/source.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A valid sheet to break one line at a time. Line numbers below refer to this text. */
const GOOD = `name: tiny
description: a test chip
backend: c
vectorWidth: 16 B
fma: true
cores: 2
alignment: 64 B
peakFlops:
  f32: 10 GFLOP/s
memory:
  - name: L1
    kind: cache
    size: 32 KiB
    bandwidth: 100 GB/s
    shared: false
  - name: DRAM
    kind: dram
    size: 1 GiB
    bandwidth: 10 GB/s
    shared: true
`;

/** The text of a shipped sheet, to break in tests. */
function loadTargetText(name: string): string {
  return readFileSync(join(import.meta.dirname, '..', 'targets', `${name}.yaml`), 'utf8');
}

/** GOOD with line `line` (1-based) replaced by `text` (which may hold several lines, or none). */
function edit(line: number, text: string | null): string {
  const lines = GOOD.split('\n');
  lines.splice(line - 1, 1, ...(text === null ? [] : [text]));
  return lines.join('\n');
}

/** The diagnostics `text` is rejected with. Fails the test if it loads or throws anything else. */
function errorsOf(text: string): Diagnostic[] {
  try {
    parseTarget(text, 't.yaml');
  } catch (e) {
    if (e instanceof MoecError) return e.diagnostics;
    throw e;
  }
  throw new Error('expected a MoecError, but the sheet loaded');
}

/** `code line:col message` of each diagnostic, with `| hint` if there is one. */
function summary(text: string): string[] {
  const src = new SourceFile('t.yaml', text);
  return errorsOf(text).map((d) => {
    const at = d.span ? src.position(d.span.start) : undefined;
    const where = at ? `${at.line}:${at.col}` : '-';
    return `${d.code} ${where} ${d.message}${d.hint ? ` | ${d.hint}` : ''}`;
  });
}

describe('shipped targets', () => {
  it('lists the shipped sheets', () => {
    expect(listTargets()).toEqual(['npu-scratchpad', 'wasm-scalar', 'wasm-simd128', 'webgpu', 'x86-avx2', 'x86-avx512']);
  });

  it.each(['npu-scratchpad', 'wasm-scalar', 'wasm-simd128', 'webgpu', 'x86-avx2', 'x86-avx512'])('%s loads with sane values', (name) => {
    const t = loadTarget(name);
    expect(t.name).toBe(name);
    expect(t.description.length).toBeGreaterThan(10);
    expect(t.cores).toBeGreaterThanOrEqual(1);
    expect(t.peakFlops.f32).toBeGreaterThan(1e9);
    expect(t.memory.at(-1)?.kind).toBe('dram');
    for (let i = 1; i < t.memory.length; i++) expect(t.memory[i].bytes).toBeGreaterThan(t.memory[i - 1].bytes);
    for (const level of t.memory) expect(level.bandwidth).toBeGreaterThan(1e9);
    expect(Number.isInteger(Math.log2(t.alignment))).toBe(true);
  });

  it('x86-avx2 is a 2-core AVX2 CPU with 32 KiB L1d and 512 KiB L2', () => {
    const t = loadTarget('x86-avx2');
    expect(t).toMatchObject({ backend: 'c', vectorBytes: 32, fma: true, cores: 2, alignment: 64, limits: {} });
    expect(t.memory.map((l) => [l.name, l.kind, l.bytes, l.shared])).toEqual([
      ['L1d', 'cache', 32 * KiB, false],
      ['L2', 'cache', 512 * KiB, false],
      ['L3', 'cache', 32 * MiB, true],
      ['DRAM', 'dram', 24 * 1024 * MiB, true],
    ]);
    // 2 cores × 2 FMA ports × 8 lanes × 2 flops × 3 GHz.
    expect(t.peakFlops.f32).toBe(192e9);
    expect(t.memory[3].bandwidth).toBe(20e9);
  });

  it('wasm-simd128 has 16-byte vectors, no FMA, one thread and at most 4 GiB', () => {
    const t = loadTarget('wasm-simd128');
    expect(t).toMatchObject({ backend: 'wasm', vectorBytes: 16, fma: false, cores: 1, alignment: 64 });
    expect(t.memory.at(-1)?.bytes).toBe(4 * 1024 * MiB);
  });

  it('wasm-scalar is the wasm backend without vectors (its scalar build)', () => {
    expect(loadTarget('wasm-scalar')).toMatchObject({ backend: 'wasm', vectorBytes: 0, fma: false, cores: 1, alignment: 64 });
  });

  it('webgpu asks for exactly the WebGPU default limits', () => {
    const t = loadTarget('webgpu');
    expect(t).toMatchObject({ backend: 'wgsl', vectorBytes: 16, alignment: 256 });
    expect(t.limits).toEqual({
      maxWorkgroupInvocations: 256,
      maxWorkgroupSizeX: 256,
      maxWorkgroupSizeY: 256,
      maxWorkgroupSizeZ: 64,
      maxWorkgroupStorageBytes: 16384,
      maxComputeWorkgroupsPerDimension: 65535,
      maxStorageBuffersPerStage: 8,
      maxStorageBufferBindingBytes: 134217728,
      maxBufferBytes: 268435456,
      minStorageBufferOffsetAlignment: 256,
      shaderF16: false,
    });
    // Workgroup memory is its software-managed level, as big as the limit allows.
    expect(t.memory[0]).toMatchObject({ kind: 'scratchpad', bytes: 16 * KiB, shared: false });
    expect(t.peakFlops.f16).toBeUndefined();
  });

  it('npu-scratchpad has a 1 MiB scratchpad, a DMA engine and a 16x16 MAC array', () => {
    const t = loadTarget('npu-scratchpad');
    expect(t.memory[0]).toMatchObject({ name: 'scratchpad', kind: 'scratchpad', bytes: MiB });
    expect(t.memory.some((l) => l.kind === 'cache')).toBe(false);
    expect(t.dma).toEqual({ bandwidth: 25.6e9, channels: 2 });
    expect(t.macArray).toEqual({ rows: 16, cols: 16 });
    // 16 × 16 MACs × 2 flops × 1 GHz.
    expect(t.peakFlops.f32).toBe(512e9);
    expect(t.peakFlops.bf16).toBeCloseTo(1.024e12);
  });
});

describe('loading', () => {
  const dir = mkdtempSync(join(tmpdir(), 'moec-targets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a sheet by path', () => {
    const file = join(dir, 'mine.yaml');
    writeFileSync(file, GOOD);
    expect(loadTarget(file)).toMatchObject({ name: 'tiny', vectorBytes: 16, cores: 2 });
  });

  it('parses a good sheet into exact numbers', () => {
    const t = parseTarget(GOOD, 't.yaml');
    expect(t).toEqual({
      name: 'tiny',
      description: 'a test chip',
      backend: 'c',
      vectorBytes: 16,
      fma: true,
      cores: 2,
      alignment: 64,
      peakFlops: { f32: 10e9 },
      memory: [
        { name: 'L1', kind: 'cache', bytes: 32 * KiB, bandwidth: 100e9, shared: false },
        { name: 'DRAM', kind: 'dram', bytes: 1024 * MiB, bandwidth: 10e9, shared: true },
      ],
      limits: {},
    });
  });

  it('reads vectorRegisters (x86-avx512: 32), absent when a sheet does not say, and refuses a count out of range', () => {
    expect(loadTarget('x86-avx512').vectorRegisters).toBe(32);
    expect(loadTarget('x86-avx2').vectorRegisters).toBeUndefined();
    expect(parseTarget(GOOD.replace('fma: true\n', 'fma: true\nvectorRegisters: 32\n'), 't.yaml').vectorRegisters).toBe(32);
    expect(summary(GOOD.replace('fma: true\n', 'fma: true\nvectorRegisters: 2\n'))).toEqual(['E610 6:18 `vectorRegisters` must be at least 4, got `2`']);
  });

  it('accepts units without a space, decimals and exponents', () => {
    const t = parseTarget(edit(13, '    size: 0.5KiB').replace('10 GFLOP/s', '1.5e1 GFLOP/s'), 't.yaml');
    expect(t.memory[0].bytes).toBe(512);
    expect(t.peakFlops.f32).toBe(15e9);
  });

  it('rejects an unknown target name with did-you-mean', () => {
    expect(() => loadTarget('x86-avx')).toThrow(MoecError);
    try {
      loadTarget('x86-avx');
    } catch (e) {
      expect((e as MoecError).diagnostics[0]).toMatchObject({
        code: 'E604',
        message: 'unknown target `x86-avx`',
        hint: 'did you mean `x86-avx2`?',
      });
    }
  });

  it('lists the shipped targets when nothing is close', () => {
    expect(() => loadTarget('tpu')).toThrow(/unknown target `tpu`/);
    try {
      loadTarget('tpu');
    } catch (e) {
      expect((e as MoecError).diagnostics[0].hint).toBe(
        'shipped targets: `npu-scratchpad`, `wasm-scalar`, `wasm-simd128`, `webgpu`, `x86-avx2`, `x86-avx512`; or give the path of a .yaml sheet',
      );
    }
  });

  it('rejects a missing file with E501', () => {
    try {
      loadTarget(join(dir, 'nope.yaml'));
      expect.unreachable();
    } catch (e) {
      expect((e as MoecError).diagnostics[0].code).toBe('E501');
      expect((e as MoecError).diagnostics[0].message).toContain('no such file');
    }
  });
});

describe('schema errors', () => {
  it('unknown key, with did-you-mean', () => {
    expect(summary(edit(6, 'cors: 2'))).toEqual([
      'E605 6:1 unknown key `cors` | did you mean `cores`?',
      'E606 1:1 missing required field `cores` | `cores`: cores (CPU) or compute units (GPU) that run in parallel',
    ]);
    expect(summary(edit(13, '    sise: 32 KiB'))).toEqual([
      'E605 13:5 unknown key `sise` in `memory[0]` | did you mean `size`?',
      'E606 11:5 missing required field `size` in `memory[0]` | `size`: capacity, such as `32 KiB` (per core unless shared)',
    ]);
  });

  it('unknown key with nothing close lists the known keys', () => {
    expect(summary(edit(9, '  f32: 10 GFLOP/s\n  zzzzzz: 1 GFLOP/s'))[0]).toBe(
      'E605 10:3 unknown key `zzzzzz` in `peakFlops` | known keys in `peakFlops`: `f32`, `f16`, `bf16`, `i8`, `fp8e4m3`',
    );
  });

  it('missing field points at the parent mapping', () => {
    expect(summary(edit(2, null))).toEqual([
      'E606 1:1 missing required field `description` | `description`: one line saying what chip this is',
    ]);
    expect(summary(edit(9, '  f16: 10 GFLOP/s'))).toEqual([
      'E606 8:1 missing required field `f32` in `peakFlops` | `f32`: peak f32 rate of the whole chip, such as `192 GFLOP/s`',
    ]);
  });

  it('a number where a size belongs is a missing unit', () => {
    expect(summary(edit(13, '    size: 32'))).toEqual([
      'E608 13:11 expected a size such as `32 KiB`, got `32` | add a unit: `32 B`, or one of `B`, `KiB`, `MiB`, `GiB`, `TiB`',
    ]);
  });

  it('wrong unit', () => {
    // Decimal size units are refused on purpose, with the reason.
    expect(summary(edit(13, '    size: 32 KB'))).toEqual([
      'E608 13:14 expected a size such as `32 KiB`, got `32 KB` | write `KiB`: sizes use binary units (1 KiB = 1024 B)',
    ]);
    // A unit of another quantity says which.
    expect(summary(edit(14, '    bandwidth: 100 GiB'))[0]).toBe(
      'E608 14:20 expected a bandwidth such as `20 GB/s`, got `100 GiB` | `GiB` is a unit of a size, not a bandwidth; use one of `B/s`, `KB/s`, `MB/s`, `GB/s`, `TB/s`, `KiB/s`, `MiB/s`, `GiB/s`, `TiB/s`',
    );
    expect(summary(edit(9, '  f32: 10 GFLOPS'))).toEqual([
      'E608 9:11 expected a FLOP/s rate such as `150 GFLOP/s`, got `10 GFLOPS` | did you mean `GFLOP/s`?',
    ]);
    expect(summary(edit(4, 'vectorWidth: "16"'))[0]).toMatch(/^E608 4:14 expected a size such as `32 KiB`, got `16` \| add a unit/);
  });

  it('unparsable number', () => {
    expect(summary(edit(13, '    size: 3..2 KiB'))).toEqual([
      'E609 13:11 cannot read `3..2` as a number in `memory[0].size` | expected a size such as `32 KiB`',
    ]);
    expect(summary(edit(14, '    bandwidth: lots GB/s'))[0]).toBe(
      'E609 14:16 cannot read `lots` as a number in `memory[0].bandwidth` | expected a bandwidth such as `20 GB/s`',
    );
  });

  it('wrong type', () => {
    expect(summary(edit(5, 'fma: yes'))).toEqual(['E607 5:6 `fma` must be `true` or `false`, got `yes`']);
    expect(summary(edit(6, 'cores: two'))).toEqual(['E607 6:8 `cores` must be a whole number, got `two`']);
    expect(summary(edit(6, 'cores: "2"'))).toEqual(['E607 6:8 `cores` must be a whole number, got `"2"` | remove the quotes']);
    expect(summary(GOOD.replace(/memory:[^]*$/, 'memory: 4\n'))).toEqual(['E607 10:9 `memory` must be a list, got `4`']);
    expect(summary(edit(8, 'peakFlops: 10 GFLOP/s\nx: 1').replace('  f32: 10 GFLOP/s\n', ''))[0]).toBe(
      'E607 8:12 `peakFlops` must be a mapping of `f32`, `f16`, `bf16`, `i8`, `fp8e4m3`, got `10 GFLOP/s`',
    );
    expect(summary(edit(1, 'name:'))).toEqual(['E607 1:1 `name` has no value | expected text']);
    expect(summary(edit(6, 'cores: ~'))).toEqual(['E607 6:8 `cores` has no value | expected a whole number']);
  });

  it('values out of range', () => {
    expect(summary(edit(6, 'cores: 0'))).toEqual(['E610 6:8 `cores` must be at least 1, got `0`']);
    expect(summary(edit(6, 'cores: 1.5'))).toEqual(['E610 6:8 `cores` must be a whole number, got `1.5`']);
    expect(summary(edit(13, '    size: -32 KiB'))).toEqual([
      'E610 13:11 `memory[0].size` must be greater than zero, got `-32 KiB`',
    ]);
    expect(summary(edit(13, '    size: 0 KiB'))[0]).toBe('E610 13:11 `memory[0].size` must be greater than zero, got `0 KiB`');
    expect(summary(edit(13, '    size: 1.5 B'))[0]).toBe(
      'E610 13:11 `memory[0].size` must be a whole number of bytes, got `1.5 B`',
    );
    expect(summary(edit(4, 'vectorWidth: -16 B'))).toEqual(['E610 4:14 `vectorWidth` must not be negative, got `-16 B`']);
    expect(summary(edit(4, 'vectorWidth: 24 B'))[0]).toBe(
      'E610 4:14 `vectorWidth` must be a power of two (or `0 B` for scalar), got 24 B',
    );
    expect(summary(edit(7, 'alignment: 48 B'))).toEqual(['E610 7:12 `alignment` must be a power of two, got 48 B']);
    expect(summary(edit(1, 'name: Tiny Chip'))).toEqual([
      'E610 1:7 `name` must be lower-case letters, digits and `-`, got `Tiny Chip`',
    ]);
  });

  it('bad backend, with did-you-mean', () => {
    expect(summary(edit(3, 'backend: WGSL'))).toEqual([
      'E611 3:10 `backend` must be one of `c`, `wasm`, `wgsl`, got `WGSL` | did you mean `wgsl`?',
    ]);
    expect(summary(edit(3, 'backend: wasm32'))[0]).toMatch(/got `wasm32` \| did you mean `wasm`\?$/);
    expect(summary(edit(3, 'backend: cuda'))).toEqual(['E611 3:10 `backend` must be one of `c`, `wasm`, `wgsl`, got `cuda`']);
    expect(summary(edit(12, '    kind: sram'))[0]).toBe(
      'E611 12:11 `memory[0].kind` must be one of `cache`, `scratchpad`, `dram`, got `sram` | on-chip SRAM is `scratchpad` if software-managed, `cache` if hardware-managed',
    );
  });

  it('memory levels must grow outward, and end in DRAM', () => {
    expect(summary(edit(18, '    size: 16 KiB'))).toEqual([
      'E612 18:11 memory level `DRAM` (16 KiB) must be larger than `L1` (32 KiB), the level inside it | list levels innermost first; each must be larger than the one before',
    ]);
    expect(summary(edit(17, '    kind: cache'))).toEqual([
      'E612 17:11 the outermost memory level, `DRAM`, must be `kind: dram` | list main memory last',
    ]);
    expect(summary(edit(12, '    kind: dram'))[0]).toBe(
      'E612 12:11 `L1` is main memory (`kind: dram`) but is not the last level | list levels innermost first',
    );
  });

  it('memory level names are unique', () => {
    expect(summary(edit(16, '  - name: L1'))[0]).toBe('E612 16:11 memory level `L1` is listed twice | the first is `memory[0]`');
  });

  it('the whole file must be a mapping with plain keys', () => {
    expect(summary('- name: x\n')).toEqual([
      'E607 1:1 a target sheet must be a mapping of `name`, `description`, `backend`, `vectorWidth`, `fma`, `vectorRegisters`, `cores`, `alignment`, `peakFlops`, `memory`, `macArray`, `dma`, `limits`, got a list',
    ]);
    expect(summary(`${GOOD}[a, b]: 1\n`)[0]).toBe('E607 21:1 keys must be plain names');
  });

  it('WebGPU limits apply only to, and are required by, the wgsl backend', () => {
    expect(summary(`${GOOD}limits:\n  maxStorageBuffersPerShaderStage: 8\n`)).toEqual([
      'E612 22:3 `maxStorageBuffersPerShaderStage` applies only to backend `wgsl`, not `c`',
    ]);
    const wgsl = edit(3, 'backend: wgsl').replace('alignment: 64 B', 'alignment: 256 B');
    expect(summary(wgsl)).toEqual([
      "E606 1:1 missing required field `limits` (backend `wgsl` needs it) | `limits`: backend limits: WebGPU's `GPUSupportedLimits` for `wgsl`",
    ]);
    // A WebGPU limit written without its unit, as the spec's table gives it.
    const webgpu = loadTargetText('webgpu').replace('maxComputeWorkgroupStorageSize: 16 KiB', 'maxComputeWorkgroupStorageSize: 16384');
    expect(summary(webgpu)[0]).toMatch(/^E608 \d+:\d+ expected a size such as `32 KiB`, got `16384` \| add a unit: `16384 B`/);
    // Workgroup memory cannot be larger than the workgroup storage limit.
    expect(summary(loadTargetText('webgpu').replace('size: 16 KiB ', 'size: 32 KiB '))[0]).toMatch(
      /^E612 \d+:11 scratchpad `workgroup` \(32 KiB\) is larger than `maxComputeWorkgroupStorageSize` \(16 KiB\)$/,
    );
    // The arena alignment must honour the binding offset alignment.
    expect(summary(loadTargetText('webgpu').replace('alignment: 256 B', 'alignment: 64 B'))[0]).toMatch(
      /^E612 \d+:12 `alignment` \(64 B\) must be a multiple of `minStorageBufferOffsetAlignment` \(256 B\)/,
    );
  });

  it('reports every problem at once', () => {
    const text = edit(6, 'cors: 2').replace('fma: true', 'fma: 1').replace('size: 32 KiB', 'size: 32 kb');
    expect(errorsOf(text).map((d) => d.code)).toEqual(['E607', 'E605', 'E608', 'E606']);
  });
});

describe('YAML errors', () => {
  it('syntax error', () => {
    expect(summary(edit(9, '  f32: [10 GFLOP/s'))).toEqual([
      // The yaml package reports an unclosed flow sequence where it gave up: the next line.
      'E601 10:1 invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    expect(summary('name: a: b\n')[0]).toBe('E601 1:7 invalid YAML: Nested mappings are not allowed in compact mappings');
  });

  it('duplicate key, pointing at the second and naming the first', () => {
    expect(summary(edit(6, 'cores: 2\ncores: 4'))).toEqual([
      'E602 7:1 key `cores` is given twice | first given on line 6; remove one',
    ]);
    expect(summary(edit(13, '    size: 32 KiB\n    size: 64 KiB'))).toEqual([
      'E602 14:5 key `size` is given twice | first given on line 13; remove one',
    ]);
  });

  it('empty file, several documents, unknown tag', () => {
    expect(summary('# nothing here\n')).toEqual(['E601 1:1 the target file is empty']);
    expect(summary(`${GOOD}---\nname: other\n`)[0]).toMatch(/^E601 21:1 a target file holds one YAML document/);
    expect(summary(edit(6, 'cores: !big 2'))).toEqual(['E601 6:8 invalid YAML: Unresolved tag: !big']);
  });

  it('aliases are resolved, and an unknown alias is an error', () => {
    const aliased = edit(14, '    bandwidth: &fast 100 GB/s').replace('bandwidth: 10 GB/s', 'bandwidth: *fast');
    expect(parseTarget(aliased, 't.yaml').memory[1].bandwidth).toBe(100e9);
    expect(summary(edit(6, 'cores: *many'))).toEqual([
      'E601 6:8 unknown alias `*many` | define the anchor `&name` before using it',
    ]);
  });

  it('an alias bomb ("billion laughs") is refused quickly', () => {
    const lines = ['lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < 12; i++) lines.push(`lol${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(', ')}]`);
    const bomb = `${GOOD}${lines.join('\n')}\n`;
    const start = Date.now();
    const d = errorsOf(bomb);
    expect(Date.now() - start).toBeLessThan(2000);
    expect(summary(bomb)).toEqual([
      `E603 22:12 too many YAML aliases: expanding them would exceed ${MAX_ALIAS_COUNT} (a "billion laughs" document?) | a target sheet needs few aliases; write the values out`,
    ]);
    expect(d).toHaveLength(1);
    // So is a file with more alias nodes than the limit, before any is resolved.
    const many = `${GOOD}x: &x 1\ny: [${Array(MAX_ALIAS_COUNT + 1).fill('*x').join(', ')}]\n`;
    expect(errorsOf(many)[0].code).toBe('E603');
  });
});

describe('formatting', () => {
  it('points at the offending text with file:line:col and a caret', () => {
    try {
      parseTarget(edit(13, '    size: 32 KB'), 'targets/tiny.yaml');
      expect.unreachable();
    } catch (e) {
      expect((e as MoecError).format()).toBe(
        [
          'targets/tiny.yaml:13:14: error E608: expected a size such as `32 KiB`, got `32 KB`',
          ' 13 |     size: 32 KB',
          '    |              ^^',
          '  hint: write `KiB`: sizes use binary units (1 KiB = 1024 B)',
        ].join('\n'),
      );
    }
  });
});
