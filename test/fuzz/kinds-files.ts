/**
 * @fileoverview Fuzz kinds over the file system, through the CLI: where moec reads and where
 * it writes. `outputs` runs every command that writes with its output pointed at the things a
 * user must never lose (an input, through a symlink too, the folder holding the inputs, a
 * device node, a FIFO, a symlink to one, a folder of unrelated files); the property is the
 * exit code and that every file moec did not create for this output is byte-identical
 * afterwards, special files still special, and no temporary file left behind. `inputs` feeds
 * special files (FIFOs, devices, directories, symlink loops, a sparse 64 GiB file, a shard
 * outside its index's folder) wherever moec reads a file; the property is a clear refusal
 * (exit 1 or 2, never a hang) naming the file.
 *
 * Both can block a process on a FIFO if a defect comes back, so the test suite runs them in
 * a child process under the campaign's watchdog (`fuzz.test.ts`), never in its own worker.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync, ftruncateSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import fc from 'fast-check';
import { main } from '../../compiler/cli/cli.ts';
import { compile, randomInputs, randomWeights } from '../../compiler/driver.ts';
import { serializeSafetensors } from '../../ir/safetensors.ts';
import { FuzzFailure, type Outcome, checkCaseAsync } from './outcome.ts';
import type { FuzzKind } from './kinds.ts';

const ROOT = new URL('../../', import.meta.url);
const rootPath = (rel: string): string => new URL(rel, ROOT).pathname;

/** The inputs every case reads, laid out afresh in `dir/in/` (moec's inputs for one case). */
function layInputs(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'in', 'ckpt'), { recursive: true });
  const text = readFileSync(rootPath('examples/tiny.moe'), 'utf8');
  writeFileSync(join(dir, 'in', 'tiny.moe'), text);
  const m = compile(text, { path: 'tiny.moe' });
  writeFileSync(join(dir, 'in', 'w.safetensors'), serializeSafetensors(randomWeights(m, 3), { source: 'fuzz' }));
  writeFileSync(join(dir, 'in', 'x.safetensors'), serializeSafetensors(randomInputs(m, { T: 2 }, 3), { source: 'fuzz' }));
  copyFileSync(join(dir, 'in', 'w.safetensors'), join(dir, 'in', 'ckpt', 'model.safetensors'));
  copyFileSync(rootPath('test/fixtures/hf-tiny/mixtral.json'), join(dir, 'in', 'config.json'));
  copyFileSync(rootPath('targets/x86-avx2.yaml'), join(dir, 'in', 'chip.yaml'));
  writeFileSync(join(dir, 'in', 'notes.txt'), 'the user keeps notes here\n');
  symlinkSync('w.safetensors', join(dir, 'in', 'link-w.safetensors'));
  symlinkSync('tiny.moe', join(dir, 'in', 'link.moe'));
  symlinkSync('/dev/null', join(dir, 'in', 'link-null'));
  execFileSync('mkfifo', [join(dir, 'in', 'fifo')]);
  mkdirSync(join(dir, 'out'));
  writeFileSync(join(dir, 'out', 'keep.txt'), 'an unrelated file in the output folder\n');
}

/** Every file and link under `dir` with what it is and, for regular files, a hash of its bytes. */
function snapshot(dir: string): Map<string, string> {
  const seen = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      const rel = relative(dir, p);
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) seen.set(rel, 'link');
      else if (st.isFIFO()) seen.set(rel, 'fifo');
      else if (st.isFile()) seen.set(rel, createHash('sha1').update(readFileSync(p)).digest('hex'));
      else seen.set(rel, 'other');
    }
  };
  walk(dir);
  return seen;
}

/** Output paths (relative to the case folder, or absolute) a user might type, the dangerous ones first. */
const OUTPUTS = [
  'in/tiny.moe', 'in/w.safetensors', 'in/x.safetensors', 'in/config.json', 'in/chip.yaml', 'in/link-w.safetensors', 'in/link.moe',
  'in/ckpt', 'in/ckpt/model.safetensors', 'in', '.', 'in/fifo', 'in/link-null', '/dev/null', 'in/notes.txt', 'out', 'out/new.bin', 'in/../in/tiny.moe',
];

/** Commands that write, with the output's flag last so the output path can be appended. */
const WRITERS: string[][] = [
  ['compile', 'in/tiny.moe', '--target', 'x86-avx2', '-o'],
  ['compile', 'in/tiny.moe', '--target', 'in/chip.yaml', '-o'],
  ['compile', 'in/tiny.moe', '--target', 'webgpu', '-o'],
  ['compile', 'in/tiny.moe', '--target', 'wasm-simd128', '--emit', 'kernel-ir', '-o'],
  ['pack', 'in/tiny.moe', '--target', 'webgpu', '--weights', 'in/w.safetensors', '-o'],
  ['pack', 'in/link.moe', '--target', 'x86-avx2', '-o'],
  ['quantize', 'in/w.safetensors', '--to', 'i8', '-o'],
  ['quantize', 'in/ckpt', '--to', 'i4', '-o'],
  ['import', 'in/config.json', '-o'],
  ['run', 'in/tiny.moe', '--tokens', '2', '--weights', 'in/link-w.safetensors', '--inputs', 'in/x.safetensors', '--out'],
  ['run', 'in/tiny.moe', '--tokens', '2', '--weights', 'in/ckpt', '--out'],
  ['analyze', 'in/tiny.moe', '--target', 'x86-avx2', '--svg'],
];

/**
 * Whether a command may have changed `path` (as it was before the command ran): only the
 * output it was told to write (pack also writes OUT.json), or where that output links to,
 * and only when that file is a regular file that none of the command's inputs resolves to.
 */
function changeable(dir: string, argv: string[], before: Map<string, string>): Set<string> {
  const abs = (p: string): string => resolve(dir, p);
  const real = (p: string): string => {
    try {
      return realpathSync(abs(p));
    } catch {
      return abs(p);
    }
  };
  const output = argv[argv.length - 1];
  const written = new Set([output, `${output}.json`].flatMap((p) => [abs(p), real(p)]));
  const inputs = argv.slice(0, -2).filter((a) => a.startsWith('in')).map(real);
  const isInput = (p: string): boolean => inputs.some((i) => real(p) === i || real(p).startsWith(`${i}/`));
  const ok = new Set<string>();
  for (const [path, was] of before) {
    if (!written.has(abs(path)) || was === 'fifo' || was === 'other' || isInput(path)) continue;
    if (was === 'link' && !statSync(abs(path), { throwIfNoEntry: false })?.isFile()) continue;
    ok.add(path);
  }
  return ok;
}

/** Runs the CLI in the case folder (relative paths as a user in that folder would type them). */
async function runIn(dir: string, argv: string[]): Promise<{ code: number; err: string }> {
  const cwd = process.cwd();
  const err: string[] = [];
  let code = -1;
  process.chdir(dir);
  try {
    code = await main(argv, { out: () => {}, err: (s) => err.push(s) });
  } finally {
    process.chdir(cwd);
  }
  return { code, err: err.join('\n') };
}

export function outputsKind(scratch: string): FuzzKind<{ writer: number; output: string }> {
  const dir = join(scratch, 'outputs');
  return {
    name: 'outputs',
    arbitrary: fc.record({ writer: fc.nat(WRITERS.length - 1), output: fc.constantFrom(...OUTPUTS) }),
    check: async ({ writer, output }) => {
      layInputs(dir);
      const before = snapshot(dir);
      const argv = [...WRITERS[writer], output];
      const mayChange = changeable(dir, argv, before);
      let res = { code: -1, err: '' };
      const outcome = await checkCaseAsync(async () => {
        res = await runIn(dir, argv);
      }, 10_000);
      const line = `moec ${argv.join(' ')} (in ${dir})`;
      if (res.code < 0 || res.code > 2) throw new FuzzFailure(`${line} exited ${res.code}:\n${res.err}`);
      if (!lstatSync('/dev/null').isCharacterDevice()) throw new FuzzFailure(`${line} replaced /dev/null`);
      const after = snapshot(dir);
      for (const [path, was] of before) {
        const now = after.get(path);
        if (now !== was && !mayChange.has(path)) throw new FuzzFailure(`${line} exited ${res.code} and changed ${path} (${was} -> ${now ?? 'gone'}):\n${res.err}`);
      }
      for (const path of after.keys())
        if (!before.has(path) && /(^|\/)\.[^/]*(tmp|part)/.test(path)) throw new FuzzFailure(`${line} left a temporary file behind: ${path}`);
      return res.code === 0 ? outcome : { ok: false, codes: [`exit ${res.code}`] };
    },
  };
}

/** Special files moec may be handed as an input; each is made once per campaign in `scratch/special/`. */
function laySpecials(dir: string): Record<string, string> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'fifo-dir'), { recursive: true });
  mkdirSync(join(dir, 'index-out'), { recursive: true });
  mkdirSync(join(dir, 'a-dir'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  execFileSync('mkfifo', [join(dir, 'fifo-dir', 'model.safetensors')]);
  symlinkSync('loop-b', join(dir, 'loop-a'));
  symlinkSync('loop-a', join(dir, 'loop-b'));
  symlinkSync('missing-target', join(dir, 'dangling'));
  symlinkSync('fifo', join(dir, 'link-fifo'));
  writeFileSync(join(dir, 'empty'), '');
  // A sparse 64 GiB file: a reader that slurps it is unbounded.
  const fd = openSync(join(dir, 'sparse'), 'w');
  ftruncateSync(fd, 64 * 2 ** 30);
  closeSync(fd);
  const shardIndex = (shard: string): string => JSON.stringify({ metadata: {}, weight_map: { 'moe.w_gate': shard, 'moe.router': shard } });
  writeFileSync(join(dir, 'index-fifo.json'), shardIndex('fifo'));
  writeFileSync(join(dir, 'index-out', 'model.safetensors.index.json'), shardIndex('../../../../../../etc/passwd'));
  writeFileSync(join(dir, 'index-abs.json'), shardIndex('/etc/passwd'));
  writeFileSync(join(dir, 'index-dev.json'), shardIndex('/dev/zero'));
  return {
    fifo: join(dir, 'fifo'),
    'link to a fifo': join(dir, 'link-fifo'),
    'folder whose model.safetensors is a fifo': join(dir, 'fifo-dir'),
    'index whose shard is a fifo': join(dir, 'index-fifo.json'),
    'index whose shard climbs out': join(dir, 'index-out', 'model.safetensors.index.json'),
    'index with an absolute shard': join(dir, 'index-abs.json'),
    'index with a device shard': join(dir, 'index-dev.json'),
    '/dev/zero': '/dev/zero',
    '/dev/null': '/dev/null',
    '/dev/urandom': '/dev/urandom',
    directory: join(dir, 'a-dir'),
    'symlink loop': join(dir, 'loop-a'),
    'dangling symlink': join(dir, 'dangling'),
    'empty file': join(dir, 'empty'),
    'sparse 64 GiB file': join(dir, 'sparse'),
  };
}

/** Where moec reads a file: `@` is replaced by the special file. */
const READERS: string[][] = [
  ['check', '@'],
  ['ir', '@'],
  ['compile', '@', '--target', 'x86-avx2'],
  ['compile', 'examples/tiny.moe', '--target', '@'],
  ['analyze', '@'],
  ['run', 'examples/tiny.moe', '--tokens', '2', '--weights', '@'],
  ['run', 'examples/tiny.moe', '--tokens', '2', '--inputs', '@'],
  ['pack', 'examples/tiny.moe', '--target', 'webgpu', '--weights', '@', '-o', '%/packed.bin'],
  ['quantize', '@', '--to', 'i8', '-o', '%/q.safetensors'],
  ['import', '@'],
];

export function specialInputsKind(scratch: string): FuzzKind<{ reader: number; special: string }> {
  let specials: Record<string, string> | undefined;
  const outDir = join(scratch, 'special-out');
  return {
    name: 'special-inputs',
    arbitrary: fc.record({ reader: fc.nat(READERS.length - 1), special: fc.constantFrom('fifo', 'link to a fifo', 'folder whose model.safetensors is a fifo', 'index whose shard is a fifo', 'index whose shard climbs out', 'index with an absolute shard', 'index with a device shard', '/dev/zero', '/dev/null', '/dev/urandom', 'directory', 'symlink loop', 'dangling symlink', 'empty file', 'sparse 64 GiB file') }),
    check: async ({ reader, special }) => {
      specials ??= laySpecials(join(scratch, 'special'));
      mkdirSync(outDir, { recursive: true });
      const path = specials[special];
      const argv = READERS[reader].map((a) => (a === '@' ? path : a.replace('%', outDir)));
      const err: string[] = [];
      let code = -1;
      const outcome = await checkCaseAsync(async () => {
        code = await main(argv, { out: () => {}, err: (s) => err.push(s) });
      });
      const line = `moec ${argv.join(' ')} (${special})`;
      if (code < 0 || code > 2) throw new FuzzFailure(`${line} exited ${code}:\n${err.join('\n')}`);
      // Nothing here is a usable input: each must be refused, in words that name what was wrong.
      if (code === 0) throw new FuzzFailure(`${line} was accepted`);
      if (!/E\d{3}|moec:/.test(err.join('\n'))) throw new FuzzFailure(`${line} exited ${code} without a diagnostic:\n${err.join('\n')}`);
      return outcome.ok ? { ok: false, codes: [`exit ${code}`] } : outcome;
    },
  };
}
