/**
 * Output safety (issue 14, "Nothing lost, nothing hung"): what moec does to the paths it
 * writes. `-o DIR` writes moec's files into DIR and touches nothing else; an output that is
 * an input is refused (exit 2, both paths named); a device node or FIFO is written by
 * opening it, never replaced; temporary files are removed on SIGINT/SIGTERM and swept after
 * a SIGKILL. Each test is named after the defect it reproduces.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileFile, randomInputs, randomWeights } from '../compiler/driver.ts';
import { makeTempDir, removeTemp, sweepStale, writeOutputDir, writeOutputFile } from '../compiler/io/output.ts';
import { writeSafetensors } from '../compiler/io/write-safetensors.ts';
import type { Tensor } from '../ir/tensor.ts';
import { cli } from './capture.ts';

const ROOT = resolve(import.meta.dirname, '..');
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');
const MOEC = join(ROOT, 'test', 'fixtures', 'moec.ts');
const TINY = join(ROOT, 'examples', 'tiny.moe');
const MIXTRAL_CONFIG = join(ROOT, 'examples', 'hf', 'Mixtral-8x7B-v0.1', 'config.json');

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'moec-out-'));
  made.push(dir);
  return dir;
}

/** moec as a process of its own (to send it signals), from the sources. */
function moec(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): ChildProcess {
  return spawn(process.execPath, ['--import', TSX, MOEC, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'ignore', 'pipe'] });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }> {
  let err = '';
  child.stderr?.on('data', (d) => (err += d));
  return new Promise((done) => child.on('exit', (code, signal) => done({ code, signal, err })));
}

async function waitFor(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Every file below `dir` (relative path → bytes), hidden ones included. */
function snapshot(dir: string, base = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(join(dir, base))) {
    const rel = join(base, name);
    const st = lstatSync(join(dir, rel));
    if (st.isDirectory()) for (const [k, v] of snapshot(dir, rel)) out.set(k, v);
    else if (st.isFile()) out.set(rel, readFileSync(join(dir, rel)));
  }
  return out;
}

function expectUnchanged(dir: string, before: Map<string, Buffer>): void {
  const after = snapshot(dir);
  for (const [name, bytes] of before) {
    expect(after.has(name), `${name} still exists`).toBe(true);
    expect(after.get(name)!.equals(bytes), `${name} is byte-identical`).toBe(true);
  }
}

/** Whether process `pid` waits in open() for a FIFO's other end (Linux: /proc/PID/wchan). */
function waitsForWriter(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/wchan`, 'utf8') === 'wait_for_partner';
  } catch {
    return false;
  }
}

/** A PID that ran and has exited (for leftovers of a killed process). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

/** A folder with the user's own files, the tiny model, its weights and inputs, and a Hugging Face config. */
function project(): string {
  const dir = tmp();
  writeFileSync(join(dir, 'notes.txt'), 'my notes\n');
  writeFileSync(join(dir, '.hidden'), 'dot file\n');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'data.bin'), new Uint8Array([1, 2, 3, 255]));
  copyFileSync(TINY, join(dir, 'model.moe'));
  copyFileSync(MIXTRAL_CONFIG, join(dir, 'config.json'));
  const m = compileFile(TINY);
  writeSafetensors(join(dir, 'w.safetensors'), randomWeights(m, 1));
  writeSafetensors(join(dir, 'x.safetensors'), randomInputs(m, { T: 2 }, 1));
  return dir;
}

/** A checkpoint of `n` GEMM weights of 256 x 1024 (1 MiB each): quantizing it takes a while. */
function bigCheckpoint(path: string, n: number): void {
  const t: Record<string, Tensor> = {};
  for (let i = 0; i < n; i++) t[`layers.${i}.mlp.w`] = { dtype: 'f32', shape: [256, 1024], data: new Float32Array(256 * 1024).map((_, j) => Math.sin(j * 0.37 + i)) };
  writeSafetensors(path, t);
}

describe('-o DIR writes into DIR and removes nothing (it replaced the whole directory)', () => {
  it('`cd proj && moec compile model.moe -o .` keeps model.moe and every other file (it deleted them, exit 0)', async () => {
    const dir = project();
    const before = snapshot(dir);
    const r = await exited(moec(['compile', 'model.moe', '--target', 'x86-avx2', '-o', '.'], { cwd: dir }));
    expect(r).toMatchObject({ code: 0, signal: null });
    expectUnchanged(dir, before);
    for (const f of ['tiny.h', 'tiny.c', 'tiny.weights.json']) expect(existsSync(join(dir, f)), f).toBe(true);
  });

  it('-o build keeps what else the user kept in build/ and replaces only moec\'s files', async () => {
    const dir = tmp();
    const build = join(dir, 'build');
    mkdirSync(build);
    writeFileSync(join(build, 'Makefile'), 'all:\n');
    writeFileSync(join(build, 'tiny.kir'), 'an older kernel IR\n');
    expect((await cli('compile', TINY, '--target', 'x86-avx2', '--emit', 'kernel-ir', '-o', build)).code).toBe(0);
    expect(readFileSync(join(build, 'Makefile'), 'utf8')).toBe('all:\n');
    expect(readFileSync(join(build, 'tiny.kir'), 'utf8')).toContain('router(x=x, w=router)');
    expect(readdirSync(build).sort()).toEqual(['Makefile', 'tiny.kir']);
  });

  it('a new output directory gets the mode the umask gives (it came out drwx------)', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'reference'));
    expect((await cli('compile', TINY, '--target', 'x86-avx2', '-o', join(dir, 'out'))).code).toBe(0);
    expect(statSync(join(dir, 'out')).mode & 0o777).toBe(statSync(join(dir, 'reference')).mode & 0o777);
  });

  it('every command that writes, into a folder holding its input and unrelated files, leaves them byte-identical', async () => {
    const dir = project();
    const p = (f: string): string => join(dir, f);
    const before = snapshot(dir);
    const runs = [
      ['compile', p('model.moe'), '--target', 'x86-avx2', '-o', dir],
      ['compile', p('model.moe'), '--target', 'x86-avx2', '--emit', 'kernel-ir', '-o', dir],
      ['pack', p('model.moe'), '--target', 'x86-avx2', '--weights', p('w.safetensors'), '-o', p('w.bin')],
      ['quantize', p('w.safetensors'), '--to', 'i8', '-o', p('w-i8.safetensors')],
      ['import', p('config.json'), '-o', p('mixtral.moe')],
      ['run', p('model.moe'), '--tokens', '2', '--weights', p('w.safetensors'), '--inputs', p('x.safetensors'), '--out', p('y.safetensors')],
      ['analyze', p('model.moe'), '--target', 'x86-avx2', '--svg', p('roofline.svg')],
    ];
    for (const args of runs) expect((await cli(...args)).code, args.join(' ')).toBe(0);
    expectUnchanged(dir, before);
    const outputs = ['tiny.h', 'tiny.c', 'tiny.weights.json', 'tiny.kir', 'w.bin', 'w.bin.json', 'w-i8.safetensors', 'mixtral.moe', 'y.safetensors', 'roofline.svg'];
    for (const f of outputs) expect(existsSync(p(f)), f).toBe(true);
    // Nothing else: no temporary file left behind.
    expect(readdirSync(dir).sort()).toEqual([...before.keys()].filter((k) => !k.includes('/')).concat('sub', ...outputs).sort());
  });

  it('a failure half way leaves the files already there as they were, and no temporary file', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'mine.txt'), 'mine\n');
    writeOutputDir(dir, { 'model.kir': 'old\n' });
    // The second file cannot be written (its directory does not exist) after the first was.
    expect(() => writeOutputDir(dir, { 'a.kir': 'new\n', 'missing/b.kir': 'new\n' })).toThrow(/^E506: cannot write .*missing\/b\.kir: no such directory/);
    expect(readdirSync(dir).sort()).toEqual(['a.kir', 'mine.txt', 'model.kir']);
    expect(readFileSync(join(dir, 'model.kir'), 'utf8')).toBe('old\n');
  });

  it('a write killed half way (SIGKILL) leaves the other files intact; the next write sweeps its temporary files', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'mine.txt'), 'mine\n');
    const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'test/fixtures/write-output-slowly.ts'), dir, '20000'], { stdio: 'ignore' });
    const done = exited(child);
    await waitFor('part of the files', () => readdirSync(dir).length >= 50);
    child.kill('SIGKILL');
    await done;
    expect(readFileSync(join(dir, 'mine.txt'), 'utf8')).toBe('mine\n');
    const left = readdirSync(dir).filter((f) => f.endsWith('.tmp'));
    writeOutputDir(dir, { 'part-0.txt': 'again\n' });
    for (const f of left) expect(existsSync(join(dir, f)), f).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(readFileSync(join(dir, 'mine.txt'), 'utf8')).toBe('mine\n');
  });
});

describe('an output that is an input is refused (it destroyed the input, exit 0)', () => {
  const refused = async (dir: string, args: string[], input: string): Promise<void> => {
    const before = snapshot(dir);
    const r = await cli(...args);
    expect(r.code, args.join(' ')).toBe(2);
    expect(r.err).toContain(`is the input ${input}`);
    expectUnchanged(dir, before);
  };

  it('run --weights w --out w, run --inputs x --out x, quantize w -o w, import c -o c, pack m -o m, analyze m --svg m', async () => {
    const dir = project();
    const p = (f: string): string => join(dir, f);
    await refused(dir, ['run', p('model.moe'), '--tokens', '2', '--weights', p('w.safetensors'), '--out', p('w.safetensors')], p('w.safetensors'));
    await refused(dir, ['run', p('model.moe'), '--tokens', '2', '--inputs', p('x.safetensors'), '--out', p('x.safetensors')], p('x.safetensors'));
    await refused(dir, ['run', p('model.moe'), '--tokens', '2', '--backend', 'c', '--out', p('model.moe')], p('model.moe'));
    await refused(dir, ['quantize', p('w.safetensors'), '--to', 'i8', '-o', p('w.safetensors')], p('w.safetensors'));
    await refused(dir, ['import', p('config.json'), '-o', p('config.json')], p('config.json'));
    await refused(dir, ['pack', p('model.moe'), '--target', 'x86-avx2', '-o', p('model.moe')], p('model.moe'));
    await refused(dir, ['analyze', p('model.moe'), '--target', 'x86-avx2', '--svg', p('model.moe')], p('model.moe'));
    const r = await cli('run', p('model.moe'), '--tokens', '2', '--out', p('model.moe'));
    expect(r.err.split('\n')[0]).toBe(`moec: the output ${p('model.moe')} is the input ${p('model.moe')}: writing it would destroy the input`);
  });

  it('through a symlink, a hard link and a relative path', async () => {
    const dir = project();
    const p = (f: string): string => join(dir, f);
    symlinkSync('config.json', p('link.json'));
    await refused(dir, ['import', p('config.json'), '-o', p('link.json')], p('config.json'));
    await refused(dir, ['import', p('link.json'), '-o', p('config.json')], p('link.json'));
    linkSync(p('w.safetensors'), p('hard.safetensors'));
    await refused(dir, ['quantize', p('w.safetensors'), '--to', 'i8', '-o', p('hard.safetensors')], p('w.safetensors'));
    mkdirSync(p('d'));
    await refused(dir, ['import', p('config.json'), '-o', join(dir, 'd', '..', 'config.json')], p('config.json'));
  });

  it('inside an input directory, a shard of an index.json, pack -o X whose X.json is an input, --target FILE.yaml', async () => {
    const dir = project();
    const p = (f: string): string => join(dir, f);
    mkdirSync(p('ckpt'));
    copyFileSync(p('w.safetensors'), p('ckpt/model.safetensors'));
    const before = snapshot(dir);
    const inside = await cli('quantize', p('ckpt'), '--to', 'i8', '-o', p('ckpt/q.safetensors'));
    expect(inside.code).toBe(2);
    expect(inside.err).toContain(`lies inside the input directory ${p('ckpt')}`);
    expectUnchanged(dir, before);
    writeFileSync(p('model.safetensors.index.json'), JSON.stringify({ weight_map: { router: 'shard-1.safetensors', w_gate: 'shard-2.safetensors' } }));
    copyFileSync(p('w.safetensors'), p('shard-1.safetensors'));
    copyFileSync(p('w.safetensors'), p('shard-2.safetensors'));
    await refused(dir, ['quantize', p('model.safetensors.index.json'), '--to', 'i8', '-o', p('shard-2.safetensors')], p('shard-2.safetensors'));
    await refused(dir, ['run', p('model.moe'), '--tokens', '2', '--weights', p('model.safetensors.index.json'), '--out', p('shard-1.safetensors')], p('shard-1.safetensors'));
    await refused(dir, ['pack', p('model.moe'), '--target', 'x86-avx2', '--weights', p('model.safetensors.index.json'), '-o', p('model.safetensors.index')], p('model.safetensors.index.json'));
    copyFileSync(join(ROOT, 'targets', 'x86-avx2.yaml'), p('chip.yaml'));
    await refused(dir, ['analyze', p('model.moe'), '--target', p('chip.yaml'), '--svg', p('chip.yaml')], p('chip.yaml'));
  });

  it('compile -o DIR where DIR/MODEL.c (or MODEL.kir) would be the input', async () => {
    const dir = tmp();
    copyFileSync(TINY, join(dir, 'tiny.c'));
    await refused(dir, ['compile', join(dir, 'tiny.c'), '--target', 'x86-avx2', '-o', dir], join(dir, 'tiny.c'));
    copyFileSync(TINY, join(dir, 'tiny.kir'));
    await refused(dir, ['compile', join(dir, 'tiny.kir'), '--target', 'x86-avx2', '--emit', 'kernel-ir', '-o', dir], join(dir, 'tiny.kir'));
  });
});

describe('-o a device node or FIFO writes into it (it was renamed over: a regular file in its place)', () => {
  it('-o /dev/null stays the character device', async () => {
    const dir = project();
    for (const args of [
      ['import', join(dir, 'config.json'), '-o', '/dev/null'],
      ['analyze', join(dir, 'model.moe'), '--target', 'x86-avx2', '--svg', '/dev/null'],
      ['run', join(dir, 'model.moe'), '--tokens', '2', '--out', '/dev/null'],
      ['quantize', join(dir, 'w.safetensors'), '--to', 'i8', '-o', '/dev/null'],
    ]) {
      expect((await cli(...args)).code, args.join(' ')).toBe(0);
      expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    }
  });

  it('a FIFO, and a symlink to one, get the bytes and stay a FIFO', async () => {
    const dir = project();
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    symlinkSync('pipe', join(dir, 'pipe-link'));
    for (const target of [fifo, join(dir, 'pipe-link')]) {
      const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
      let got = '';
      reader.stdout.on('data', (d) => (got += d));
      const read = new Promise((r) => reader.on('exit', r));
      // Wait for cat to open its end (it waits there for a writer), so the write finds a reader.
      await waitFor('the reader', () => waitsForWriter(reader.pid!), 20_000);
      expect((await cli('import', join(dir, 'config.json'), '-o', target)).code).toBe(0);
      await read;
      expect(got).toMatch(/^\/\/ .*Mixtral/);
      expect(lstatSync(fifo).isFIFO()).toBe(true);
      expect(lstatSync(join(dir, 'pipe-link')).isSymbolicLink()).toBe(true);
    }
  });

  it('a block device is refused (E506), never written or replaced', async (ctx) => {
    const dir = project();
    const node = join(dir, 'disk');
    // A block device node needs CAP_MKNOD (root outside a restricted container); without it there is nothing to test.
    if (spawnSync('mknod', [node, 'b', '7', '200']).status !== 0) return ctx.skip();
    const r = await cli('import', join(dir, 'config.json'), '-o', node);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot write ${node}: it is a block device`);
    expect(lstatSync(node).isBlockDevice()).toBe(true);
  });

  it('a FIFO nobody reads is an error, not a hang', async () => {
    const dir = project();
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const r = await cli('import', join(dir, 'config.json'), '-o', join(dir, 'pipe'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('no process is reading the FIFO');
    expect(lstatSync(join(dir, 'pipe')).isFIFO()).toBe(true);
  });

  it('a write blocked on a FIFO whose reader stalls still ends on ^C, also after a temporary file came and went', async () => {
    const dir = tmp();
    const wat = join(dir, 'model.wat');
    execFileSync('mkfifo', [wat]);
    // Opens the FIFO and never reads: the writer fills the pipe's buffer (64 KiB; model.wat is larger) and waits.
    const holder = spawn('sh', ['-c', 'exec 3<"$0"; exec sleep 60', wat], { stdio: 'ignore' });
    try {
      await waitFor('the holder', () => waitsForWriter(holder.pid!), 20_000);
      // model.wasm first, through a temporary file (moec listens for signals meanwhile), then model.wat into the FIFO.
      const sizes = 'D=64,F=32,F_DENSE=64,E=16,K=4,GROUPS=4,TOPK_GROUPS=2';
      const child = moec(['compile', join(ROOT, 'examples', 'deepseek-v3.moe'), '--set', sizes, '--target', 'wasm-simd128', '--max-tokens', '64', '-o', dir]);
      const done = exited(child);
      await waitFor('model.wasm', () => existsSync(join(dir, 'model.wasm')), 60_000);
      await new Promise((r) => setTimeout(r, 1000));
      child.kill('SIGINT');
      const r = await Promise.race([done, new Promise<null>((res) => setTimeout(() => res(null), 10_000))]);
      if (r === null) child.kill('SIGKILL');
      expect(r?.signal, 'moec ended of the SIGINT within 10 s').toBe('SIGINT');
      expect(lstatSync(wat).isFIFO()).toBe(true);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('a symlink to a regular file stays a link, its target gets the bytes; an existing file keeps its mode', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'real.txt'), 'old\n');
    chmodSync(join(dir, 'real.txt'), 0o640);
    symlinkSync('real.txt', join(dir, 'link.txt'));
    writeOutputFile(join(dir, 'link.txt'), 'new\n');
    expect(lstatSync(join(dir, 'link.txt')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'real.txt'), 'utf8')).toBe('new\n');
    expect(statSync(join(dir, 'real.txt')).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir).sort()).toEqual(['link.txt', 'real.txt']);
  });
});

describe('temporary files do not leak', () => {
  it('an interrupted moec quantize (SIGTERM, SIGINT) leaves no .OUT.*.tmp and no OUT', async () => {
    const dir = tmp();
    bigCheckpoint(join(dir, 'big.safetensors'), 16);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const out = join(dir, `q-${signal}.safetensors`);
      const child = moec(['quantize', join(dir, 'big.safetensors'), '--to', 'fp8', '-o', out]);
      const done = exited(child);
      await waitFor('the temporary file', () => readdirSync(dir).some((f) => f.startsWith(`.q-${signal}.safetensors.moec-${child.pid}-`)));
      child.kill(signal);
      const r = await done;
      expect(r.signal, r.err).toBe(signal);
      expect(readdirSync(dir)).toEqual(['big.safetensors']);
    }
  });

  it('a killed moec run --backend c leaves no moec-c-*/weights.bin in the temp dir; ^C to the terminal\'s group is not reported as a bug', async () => {
    const dir = tmp();
    // Mixtral's layer at D = 256 makes weights.bin 12 MB; MOEC_FLUSH_MIB makes the runner stream
    // 512 MiB before its forward, so the signal lands while weights.bin exists.
    const env = { TMPDIR: dir, MOEC_CACHE_DIR: join(dir, 'cache'), MOEC_FLUSH_MIB: '512' };
    const args = ['run', join(ROOT, 'examples', 'mixtral.moe'), '--set', 'D=256,F=512', '--tokens', '64', '--max-tokens', '64', '--backend', 'c'];
    // SIGTERM to moec alone; SIGINT to its process group, as ^C in a terminal sends it (the runner gets it too).
    for (const [signal, group] of [['SIGTERM', false], ['SIGINT', true]] as const) {
      const child = spawn(process.execPath, ['--import', TSX, MOEC, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: group });
      const done = exited(child);
      const weights = (): boolean => readdirSync(dir).some((f) => f.startsWith(`moec-c-${child.pid}-`) && existsSync(join(dir, f, 'weights.bin')));
      await waitFor('weights.bin', weights, 120_000);
      process.kill(group ? -child.pid! : child.pid!, signal);
      const r = await done;
      expect(r.signal, r.err).toBe(signal);
      expect(r.err).not.toContain('internal error');
      expect(readdirSync(dir).filter((f) => f.startsWith('moec-c-'))).toEqual([]);
    }
  });

  it('the next run sweeps a dead process\'s leftovers (temp dirs, .OUT.moec-PID-*.tmp, *_main.tmp-PID in the cache) and keeps a live one\'s', async () => {
    const dir = tmp();
    const dead = deadPid();
    const temps = join(dir, 'tmp');
    mkdirSync(temps);
    mkdirSync(join(temps, `moec-c-${dead}-AbC123`));
    writeFileSync(join(temps, `moec-c-${dead}-AbC123`, 'weights.bin'), 'x');
    mkdirSync(join(temps, `moec-c-${process.pid}-XyZ789`));
    mkdirSync(join(temps, 'moec-c-notmine'));
    const old = process.env.TMPDIR;
    process.env.TMPDIR = temps;
    try {
      removeTemp(makeTempDir('moec-c'));
    } finally {
      if (old === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = old;
    }
    expect(readdirSync(temps).sort()).toEqual([`moec-c-${process.pid}-XyZ789`, 'moec-c-notmine']);

    const out = join(dir, 'out');
    mkdirSync(out);
    // Today's names, the names earlier versions left (`.OUT.PID.RANDOM.tmp` of every interrupted quantize,
    // `.OUT.tmp-PID`: swept beside OUT only), a live process's, and names that are not moec's.
    const mine = [`.q.safetensors.moec-${process.pid}-abc123.tmp`, `.q.safetensors.${process.pid}.k3j4h5g6.tmp`, `.other.${dead}.k3j4h5g6.tmp`, '.q.safetensors.tmp', 'q.moec-1-x.tmp'];
    for (const f of [`.q.safetensors.moec-${dead}-abc123.tmp`, `.x.bin.moec-${dead}-abc123.tmp`, `.q.safetensors.${dead}.k3j4h5g6.tmp`, `.q.safetensors.tmp-${dead}`, ...mine]) writeFileSync(join(out, f), 'x');
    writeOutputFile(join(out, 'q.safetensors'), 'new');
    expect(readdirSync(out).sort()).toEqual([...mine, 'q.safetensors'].sort());

    const cache = join(dir, 'cache');
    // The C build cache is MOEC_CACHE_DIR/c (cacheDir('c')).
    mkdirSync(join(cache, 'c', 'tiny-0123'), { recursive: true });
    for (const f of [`tiny_main.tmp-${dead}`, `.tiny_main.moec-${dead}-abc.tmp`, `tiny_main.tmp-${process.pid}`]) writeFileSync(join(cache, 'c', 'tiny-0123', f), 'x');
    const oldCache = process.env.MOEC_CACHE_DIR;
    process.env.MOEC_CACHE_DIR = cache;
    try {
      // An empty cache: the run builds, and a build sweeps the cache.
      expect((await cli('run', TINY, '--tokens', '2', '--backend', 'c')).code).toBe(0);
    } finally {
      if (oldCache === undefined) delete process.env.MOEC_CACHE_DIR;
      else process.env.MOEC_CACHE_DIR = oldCache;
    }
    expect(readdirSync(join(cache, 'c', 'tiny-0123'))).toEqual([`tiny_main.tmp-${process.pid}`]);
  });

  it('sweepStale leaves names that are not its pattern and PIDs that run', () => {
    const dir = tmp();
    const dead = deadPid();
    for (const f of [`.a.moec-${dead}-x1.tmp`, `.a.moec-${process.pid}-x1.tmp`, `a.moec-${dead}-x1.tmp`, `.a.moec-${dead}-x1.tmp.bak`]) writeFileSync(join(dir, f), 'x');
    sweepStale(dir);
    expect(readdirSync(dir).sort()).toEqual([`.a.moec-${process.pid}-x1.tmp`, `.a.moec-${dead}-x1.tmp.bak`, `a.moec-${dead}-x1.tmp`].sort());
  });
});
