/**
 * Hostile input files (issue 14, "nothing lost, nothing hung"): every reader of a user's
 * file (.moe, target YAML, config.json, checkpoints, their indexes and shards, --inputs,
 * `moec quantize`'s input) reads only regular files, through ir/user-file.ts, and turns
 * every malformed or absurd file into a clear error in bounded time and memory. Each test is
 * named after the defect it reproduces.
 *
 * FIFOs: a reader that blocks on one would hang this test file for ever (the read is
 * synchronous, so no timeout could stop it). Each FIFO therefore gets a feeder, a shell that
 * writes a few bytes into it for every reader: a reader that opens the FIFO gets those bytes
 * and fails on them (the test fails, it does not hang); a reader that refuses the FIFO never
 * opens it, and the feeder, still waiting for a reader, is killed afterwards.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { constants } from 'node:buffer';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, errorOf } from './capture.ts';
import { compileFile, randomWeights } from '../compiler/driver.ts';
import { importHfConfig } from '../compiler/import/index.ts';
import { openCheckpoint } from '../ir/checkpoint.ts';
import { jsonStructureProblem } from '../ir/json-structure.ts';
import { readSafetensors } from '../ir/safetensors.ts';
import { writeSafetensors, writeSafetensorsStreaming } from '../compiler/io/write-safetensors.ts';
import { MoecError } from '../ir/diagnostics.ts';

// FIFOs, /dev/zero, Unix sockets and symlinks as the tests make them are POSIX things.
const POSIX_ONLY = process.platform === 'win32';
const TINY = 'examples/tiny.moe';
let dir: string;
let weights: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'moec-hostile-'));
  weights = join(dir, 'w.safetensors');
  writeSafetensors(weights, randomWeights(compileFile(TINY), 1));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A safetensors file whose header is `json` as written (duplicate keys survive), with `data` bytes after it. */
function rawSafetensors(name: string, json: string, data = 0): string {
  const header = Buffer.from(json);
  const bytes = Buffer.alloc(8 + header.length + data);
  bytes.writeBigUInt64LE(BigInt(header.length));
  header.copy(bytes, 8);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe.skipIf(POSIX_ONLY)('a FIFO (or a symlink to one) is refused, never waited on', () => {
  const feeders: ChildProcess[] = [];
  afterEach(() => {
    for (const f of feeders.splice(0)) f.kill('SIGKILL');
  });
  /** A FIFO in a fresh directory, with a feeder (see the file comment); its path. */
  const fifo = (name: string, sub = mkdtempSync(join(dir, 'fifo-'))): string => {
    const path = join(sub, name);
    execFileSync('mkfifo', [path]);
    // In a loop: without the fix, the CLI reads a config.json twice (again for its error's source line).
    feeders.push(spawn('sh', ['-c', 'while :; do printf "not a regular file" > "$0"; done', path], { stdio: 'ignore' }));
    return path;
  };
  const refused = (r: { code: number; err: string }, path: string): void => {
    expect(r.err).toContain(`E501: cannot read`);
    expect(r.err).toContain(`${path}: it is a FIFO (named pipe), not a regular file`);
    expect(r.err).toContain('hint: moec reads only regular files');
    expect(r.code).toBe(1);
  };

  it('a FIFO as the .moe file (check, run)', async () => {
    const p = fifo('model.moe');
    refused(await cli('check', p), p);
    const q = fifo('model.moe');
    refused(await cli('run', q, '--tokens', '2'), q);
  });

  it('a FIFO as --weights, directly and through a symlink', async () => {
    const p = fifo('w.safetensors');
    refused(await cli('run', TINY, '--tokens', '2', '--weights', p), p);
    const link = join(dir, 'link-to-fifo.safetensors');
    symlinkSync(fifo('w.safetensors'), link);
    refused(await cli('run', TINY, '--tokens', '2', '--weights', link), link);
  });

  it('a FIFO as model.safetensors in a --weights directory', async () => {
    const p = fifo('model.safetensors');
    refused(await cli('run', TINY, '--tokens', '2', '--weights', join(p, '..')), p);
  });

  it('a FIFO as a shard of an index, and as the index itself', async () => {
    const sub = mkdtempSync(join(dir, 'sharded-'));
    const shard = fifo('model-00001.safetensors', sub);
    writeFileSync(join(sub, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { router: 'model-00001.safetensors', w_gate: 'model-00001.safetensors', w_up: 'model-00001.safetensors', w_down: 'model-00001.safetensors' } }));
    const r = await cli('run', TINY, '--tokens', '2', '--weights', sub);
    refused(r, `shard ${shard}`);
    expect(r.err).toContain("model.safetensors.index.json puts 'router' there");
    const index = fifo('model.safetensors.index.json');
    refused(await cli('run', TINY, '--tokens', '2', '--weights', index), index);
  });

  it('a FIFO as --inputs', async () => {
    const p = fifo('x.safetensors');
    refused(await cli('run', TINY, '--tokens', '2', '--inputs', p), p);
  });

  it('a FIFO as a target YAML', async () => {
    const p = fifo('chip.yaml');
    const r = await cli('compile', TINY, '--target', p);
    refused(r, `target file \`${p}\``);
  });

  it('a FIFO as config.json (import, analyze)', async () => {
    const p = fifo('config.json');
    refused(await cli('import', p), p);
    const q = fifo('config.json');
    refused(await cli('analyze', q), q);
  });

  it('a FIFO as the input of moec quantize', async () => {
    const p = fifo('w.safetensors');
    refused(await cli('quantize', p, '--to', 'i8', '-o', join(dir, 'q-fifo.safetensors')), p);
  });
});

describe.skipIf(POSIX_ONLY)('other files that are not regular files', () => {
  let server: Server | undefined;
  afterAll(() => server?.close());

  // /dev/null, not /dev/zero, for the text readers: without the fix they would read /dev/zero
  // until memory runs out; /dev/null makes them fail on empty text instead.
  it('a character device such as /dev/zero (endless) as .moe, --weights and config.json', async () => {
    for (const [device, argv] of [['/dev/null', ['check', '/dev/null']], ['/dev/zero', ['run', TINY, '--tokens', '2', '--weights', '/dev/zero']], ['/dev/null', ['import', '/dev/null']]] as const) {
      const r = await cli(...argv);
      expect(r.err).toContain(`E501: cannot read ${device}: it is a character device, not a regular file`);
      expect(r.code).toBe(1);
    }
  });

  it('a directory where a file is wanted', async () => {
    // A model given as a directory is a Hugging Face model directory: its config.json
    const r = await cli('check', dir);
    expect(r.err).toContain(`E501: ${dir} is a directory without a config.json`);
    const t = await cli('compile', TINY, '--target', join(dir, '/'));
    expect(t.err).toContain('it is a directory');
  });

  it('a socket', async () => {
    const path = join(dir, 'sock.moe');
    server = createServer();
    await new Promise<void>((resolve) => server!.listen(path, resolve));
    const r = await cli('check', path);
    expect(r.err).toContain(`E501: cannot read ${path}: it is a socket, not a regular file`);
    expect(r.code).toBe(1);
  });
});

describe.skipIf(POSIX_ONLY)('symlinks that lead nowhere', () => {
  it('a symlink loop reads "no such file": say it is a symlink loop (.moe, --weights, a shard, a target)', async () => {
    const a = join(dir, 'loop-a.moe');
    const b = join(dir, 'loop-b.moe');
    symlinkSync(b, a);
    symlinkSync(a, b);
    const r = await cli('check', a);
    expect(r.err).toContain(`E501: cannot read ${a}: it is a symlink loop (too many levels of symbolic links)`);
    expect(r.err).toContain('hint: a symlink on the path points back at itself');
    const w = await cli('run', TINY, '--tokens', '2', '--weights', a);
    expect(w.err).toContain('it is a symlink loop');
    symlinkSync(join(dir, 'loop-b.yaml'), join(dir, 'loop-a.yaml'));
    symlinkSync(join(dir, 'loop-a.yaml'), join(dir, 'loop-b.yaml'));
    const t = await cli('compile', TINY, '--target', join(dir, 'loop-a.yaml'));
    expect(t.err).toContain(`E501: cannot read target file \`${join(dir, 'loop-a.yaml')}\`: it is a symlink loop`);

    const sub = mkdtempSync(join(dir, 'loop-shard-'));
    symlinkSync(join(sub, 's2.safetensors'), join(sub, 's1.safetensors'));
    symlinkSync(join(sub, 's1.safetensors'), join(sub, 's2.safetensors'));
    writeFileSync(join(sub, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { router: 's1.safetensors' } }));
    expect(errorOf(() => openCheckpoint(sub).get('router')).diagnostics[0].message).toBe(
      `cannot read shard ${join(sub, 's1.safetensors')}: it is a symlink loop (too many levels of symbolic links) (${join(sub, 'model.safetensors.index.json')} puts 'router' there)`,
    );
  });

  it('a dangling symlink says where it points', async () => {
    const link = join(dir, 'dangling.moe');
    symlinkSync('gone.moe', link);
    const r = await cli('check', link);
    expect(r.err).toContain(`E501: cannot read ${link}: it is a symlink to gone.moe, which does not exist`);
  });

  it('a symlink loop named model.safetensors.index.json is reported, not passed over for model.safetensors', () => {
    const sub = mkdtempSync(join(dir, 'loop-index-'));
    symlinkSync(join(sub, 'model.safetensors.index.json'), join(sub, 'model.safetensors.index.json'));
    writeFileSync(join(sub, 'model.safetensors'), readFileSync(weights));
    expect(errorOf(() => openCheckpoint(sub)).diagnostics[0].message).toContain('model.safetensors.index.json: it is a symlink loop');
  });
});

describe('checkpoint indexes', () => {
  const index = (weightMap: unknown, text?: string): string => {
    const sub = mkdtempSync(join(dir, 'index-'));
    writeFileSync(join(sub, 'w.safetensors'), readFileSync(weights));
    writeFileSync(join(sub, 'model.safetensors.index.json'), text ?? JSON.stringify({ weight_map: weightMap }));
    return sub;
  };

  it.each([['../../etc/passwd'], ['sub/w.safetensors'], ['..'], ['.'], ['a\\b.safetensors'], ['w.safetensors\u0000x']])(
    'an index.json entry %j is opened although absolute paths are refused: a shard must be a plain file name beside the index',
    (shard) => {
      const e = errorOf(() => openCheckpoint(index({ router: shard })));
      expect(e.diagnostics[0].code).toBe('E508');
      expect(e.diagnostics[0].message).toContain(`"weight_map" entry 'router' must name a shard file beside the index, but it is ${JSON.stringify(shard)}`);
      expect(e.diagnostics[0].hint).toContain('a shard is a plain file name, never a path');
    },
  );

  it('a tensor listed twice in an index (JSON.parse keeps the last) is E508', () => {
    const e = errorOf(() => openCheckpoint(index(undefined, '{"weight_map": {"router": "w.safetensors", "router": "other.safetensors"}}')));
    expect(e.diagnostics[0].code).toBe('E508');
    expect(e.diagnostics[0].message).toContain('gives "router" twice in "weight_map"');
  });

  it('an index nested thousands deep is E508, not a stack overflow', () => {
    const deep = '['.repeat(100000) + ']'.repeat(100000);
    const e = errorOf(() => openCheckpoint(index(undefined, `{"metadata": ${deep}, "weight_map": {}}`)));
    expect(e.diagnostics[0].code).toBe('E508');
    expect(e.diagnostics[0].message).toContain('nests deeper than 64 levels');
  });
});

describe('what JSON.parse lets through (ir/json-structure.ts)', () => {
  it.each([
    ['{"a":"b","b":"a"}', undefined],
    ['{"x":["a","a"],"y":{"x":1}}', undefined],
    ['{"a\\"":1,"a\\"":2}', { kind: 'duplicate', key: 'a"', path: [] }],
    ['{"k":"\\\\","k":0}', { kind: 'duplicate', key: 'k', path: [] }],
    ['{"t":{"u":[{"v":1,"v":2}]}}', { kind: 'duplicate', key: 'v', path: ['t', 'u', ''] }],
    ['{"a":1, "b" : {"c":2} , "a":3}', { kind: 'duplicate', key: 'a', path: [] }],
    [`${'['.repeat(64)}${']'.repeat(64)}`, undefined],
    [`${'['.repeat(65)}${']'.repeat(65)}`, { kind: 'too-deep' }],
  ])('%s', (text, problem) => {
    JSON.parse(text); // the precondition: valid JSON
    expect(jsonStructureProblem(text)).toEqual(problem);
  });
});

describe('safetensors headers', () => {
  const F32 = (begin: number) => `{"dtype":"F32","shape":[1],"data_offsets":[${begin},${begin + 4}]}`;

  it('a tensor listed twice in a safetensors header silently keeps the last: reject', () => {
    const path = rawSafetensors('dup.safetensors', `{"w":${F32(0)},"w":${F32(4)}}`, 8);
    const e = errorOf(() => readSafetensors(path));
    expect(e.diagnostics[0]).toMatchObject({ code: 'E502', message: `${path}: tensor 'w' is listed twice in the header` });
    const field = rawSafetensors('dup-field.safetensors', '{"w":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}', 4);
    expect(errorOf(() => readSafetensors(field)).diagnostics[0].message).toBe(`${field}: tensor 'w' gives "dtype" twice in the header`);
    // Equal keys written differently are still the same key.
    const escaped = rawSafetensors('dup-escaped.safetensors', `{"w":${F32(0)},"\\u0077":${F32(4)}}`, 8);
    expect(errorOf(() => readSafetensors(escaped)).diagnostics[0].message).toContain("tensor 'w' is listed twice");
    // Keys that only look alike are not.
    const fine = rawSafetensors('not-dup.safetensors', `{"w":${F32(0)},"w ":${F32(4)},"__metadata__":{"w":"x"}}`, 8);
    expect(readSafetensors(fine).names()).toEqual(['w', 'w ']);
  });

  it('a shape nested thousands deep is E502, not a stack overflow (exit 3)', async () => {
    const deep = '['.repeat(100000) + ']'.repeat(100000);
    const path = rawSafetensors('deep.safetensors', `{"w":{"dtype":"F32","shape":${deep},"data_offsets":[0,4]}}`, 4);
    const r = await cli('quantize', path, '--to', 'i8', '-o', join(dir, 'q-deep.safetensors'));
    expect(r.err).toContain(`E502: ${path}: header nests deeper than 64 levels`);
    expect(r.code).toBe(1);
  });

  it('a shape of a million entries is shown cut short in the message', () => {
    const path = rawSafetensors('long-shape.safetensors', `{"w":{"dtype":"F32","shape":[${Array(1e6).fill('-1').join(',')}],"data_offsets":[0,4]}}`, 4);
    const { message } = errorOf(() => readSafetensors(path)).diagnostics[0];
    expect(message).toBe(`${path}: tensor 'w' has shape [-1,-1,-1,-1,-1,-1,-1,-1,... (1000000 entries)]; dimensions must be non-negative integers`);
  });

  it.each([
    ['a header length field of 2^60', () => rawSafetensorsLength('h60.safetensors', 2n ** 60n), 'E502', 'header length 1152921504606846976 bytes is absurd'],
    ['a shape whose product overflows', () => rawSafetensors('ovf.safetensors', '{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}', 4), 'E502', 'too many elements to address'],
    ['data offsets past the end', () => rawSafetensors('past.safetensors', '{"w":{"dtype":"F32","shape":[1000],"data_offsets":[0,4000]}}', 4), 'E502', 'claims bytes 0..4000 but the data section has 4 bytes'],
    ['an empty file', () => rawBytes('empty.safetensors', Buffer.alloc(0)), 'E502', 'file is 0 bytes'],
    ['a file cut inside its header', () => rawBytes('cut.safetensors', readFileSync(weights).subarray(0, 40)), 'E502', 'header claims'],
  ])('%s is a clear error from quantize and run --weights', async (_, make, code, text) => {
    const path = make();
    for (const argv of [['quantize', path, '--to', 'i8', '-o', join(dir, 'q-bad.safetensors')], ['run', TINY, '--tokens', '2', '--weights', path]]) {
      const r = await cli(...argv);
      expect(r.err).toContain(`error ${code}: ${path}: `);
      expect(r.err).toContain(text);
      expect(r.code).toBe(1);
    }
  });

  function rawSafetensorsLength(name: string, length: bigint): string {
    const bytes = Buffer.alloc(16);
    bytes.writeBigUInt64LE(length);
    return rawBytes(name, bytes);
  }
  function rawBytes(name: string, bytes: Uint8Array): string {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  }
});

describe('running out of memory', () => {
  it('Array buffer allocation failed comes out as E506 with the hint "check that the directory exists"', async () => {
    const out = join(dir, 'oom.safetensors');
    const produce = (): never => {
      throw new RangeError('Array buffer allocation failed');
    };
    const e = (await writeSafetensorsStreaming(out, { w: { dtype: 'f32', shape: [4] } }, produce).then(() => undefined, (x: unknown) => x)) as MoecError;
    expect(e).toBeInstanceOf(MoecError);
    expect(e.diagnostics[0]).toMatchObject({ code: 'E509', message: "not enough memory for tensor 'w' (F32 [4]): Array buffer allocation failed" });
    expect(e.diagnostics[0].hint).not.toContain('directory');
  });

  // Where typed arrays can be larger (newer Node), reading this tensor would really allocate 4 GiB.
  it.skipIf(constants.MAX_LENGTH > 2 ** 32)('a tensor larger than a typed array can hold (a sparse 4 GiB file) is E509 from quantize, not an I/O error', async () => {
    const rows = 2 ** 30 + 2;
    const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [rows, 1], data_offsets: [0, rows * 4] } }));
    const path = join(dir, 'huge.safetensors');
    const fd = openSync(path, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeSync(fd, len);
    writeSync(fd, header);
    ftruncateSync(fd, 8 + header.length + rows * 4); // sparse: no disk, no memory
    closeSync(fd);
    const r = await cli('quantize', path, '--to', 'i8', '-o', join(dir, 'q-huge.safetensors'));
    expect(r.err).toContain(`E509: not enough memory for tensor 'w' (F32 [${rows}, 1], ${rows * 4} bytes): more than one array can hold in this Node.js`);
    expect(r.code).toBe(1);
  });
});

describe('text files', () => {
  // A config.json, whose reader fails at the first byte without the fix (a .moe's lexer would
  // scan all 65 MiB first); every text reader shares the limit (ir/user-file.ts).
  it('a text file of 65 MiB (sparse) is refused before it is read', async () => {
    const path = join(dir, 'huge.json');
    const fd = openSync(path, 'w');
    ftruncateSync(fd, 65 * 1024 ** 2);
    closeSync(fd);
    const r = await cli('import', path);
    expect(r.err).toContain(`E501: cannot read ${path}: it is 68157440 bytes, more than the 67108864 bytes moec reads from a text file`);
    expect(r.code).toBe(1);
  });
});

describe('config.json', () => {
  const mixtral = readFileSync('examples/hf/Mixtral-8x7B-v0.1/config.json', 'utf8');

  it('config.json nested 5000 deep: stack overflow (exit 3) in json-source.ts', async () => {
    const path = join(dir, 'deep-config.json');
    writeFileSync(path, `{"model_type": "mixtral", "x": ${'['.repeat(5000)}${']'.repeat(5000)}}`);
    const r = await cli('import', path);
    expect(r.err).toContain(`${path}:1:`);
    expect(r.err).toContain('E801: ');
    expect(r.err).toContain('is not valid JSON: objects and arrays nest deeper than 64 levels');
    expect(r.code).toBe(1);
  });

  it('a 10 MB config.json (a 5M-element array) took 9 s of CPU before any field was read (found by the bounds fuzz kind)', async () => {
    const path = join(dir, 'huge-config.json');
    writeFileSync(path, `{"model_type": "mixtral", "x": [${Array(5_000_000).fill('0').join(',')}]}`);
    const t0 = performance.now();
    const r = await cli('analyze', path);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(r.err).toContain(`${path}:1:1: error E801: ${path} is 10000033 characters, over the 1048576 a config.json may have`);
    expect(r.code).toBe(1);
  });

  it.each([['NaN'], ['Infinity'], ['-Infinity']])('%s in config.json reads "expected a number, got null": say it is not a JSON number, at the field', async (bad) => {
    const path = join(dir, `config-${bad}.json`);
    writeFileSync(path, mixtral.replace('"rms_norm_eps": 1e-05', `"rms_norm_eps": ${bad}`));
    const r = await cli('import', path);
    expect(r.err).toContain(`${path}:20:19: error E804: rms_norm_eps: expected a number, got ${bad}, which is not a JSON number`);
    expect(r.err).toContain('hint: NaN and Infinity are not JSON');
    expect(r.code).toBe(1);
    const int = errorOf(() => importHfConfig(mixtral.replace('"num_local_experts": 8', `"num_local_experts": ${bad}`), 'config.json'));
    expect(int.diagnostics[0].message).toBe(`num_local_experts: expected an integer, got ${bad}, which is not a JSON number`);
  });
});

describe('a tensor the checkpoint lacks', () => {
  it('E503 (tensor not found in the checkpoint) names the nearest checkpoint names', async () => {
    const m = compileFile(TINY);
    const w = randomWeights(m, 1);
    const path = join(dir, 'renamed.safetensors');
    writeSafetensors(path, { routers: w.router, w_gate: w.w_gate, w_up: w.w_up, w_down: w.w_down, 'lm_head.weight': w.router });
    const r = await cli('run', TINY, '--tokens', '2', '--weights', path);
    expect(r.err).toContain(`E503: ${path} has neither \`router\` nor the checkpoint tensor \`mlp.gate.weight\``);
    expect(r.err).toContain('hint: nearest in the checkpoint: `lm_head.weight`, `w_gate`, `routers`; check the `from` pattern');
    const inputs = await cli('run', TINY, '--tokens', '2', '--inputs', path);
    expect(inputs.err).toContain('has no input tensor `x`');
    expect(inputs.err).toContain('hint: nearest in the checkpoint: `w_up`,');
  });
});

// Make sure a directory named like a checkpoint file inside a --weights directory is reported, not recursed into.
describe('directories inside checkpoint directories', () => {
  it('a directory named model.safetensors is "a directory", read once', () => {
    const sub = mkdtempSync(join(dir, 'nested-'));
    mkdirSync(join(sub, 'model.safetensors'));
    expect(errorOf(() => openCheckpoint(sub)).diagnostics[0].message).toBe(`cannot read ${join(sub, 'model.safetensors')}: it is a directory, not a regular file`);
  });
});
