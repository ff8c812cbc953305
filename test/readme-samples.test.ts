/**
 * The README's sample outputs are what the commands print (they once showed 11 kernels and a
 * 68.0 MiB arena where `moec compile` printed 9 and 64.1 MiB). Each block after an
 * `<!-- sample: ... -->` comment starts with `$ npx moec ARGS`; the test runs those arguments
 * and finds the block's lines in the output in order. A line `...` stands for lines left out,
 * a line ending in `...` (or `(...)`) for the rest of that line; times (`compiled in 433 ms`) are ignored.
 * The quick start's command runs with every backend as written.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cli } from './capture.ts';
import { missingAdapter } from './backends/wgsl-harness.ts';

interface Sample {
  args: string[];
  lines: string[];
}

function samples(readme: string): Sample[] {
  const out: Sample[] = [];
  for (const m of readme.matchAll(/<!-- sample:[^>]*-->\n```[a-z]*\n([\s\S]*?)\n```/g)) {
    const [command, ...lines] = m[1].split('\n');
    const args = /^\$ npx moec (.*)$/.exec(command)?.[1].split(/\s+/);
    if (!args) throw new Error(`a README sample must start with "$ npx moec ...", not: ${command}`);
    out.push({ args, lines });
  }
  return out;
}

/** Times vary run to run: `in 433 ms` compares as `in N ms`. */
const stable = (line: string): string => line.replace(/\bin \d+(\.\d+)? ms\b/g, 'in N ms');

/** The sample lines missing from the output (in order), as `line` for a report. */
function missing(sample: string[], output: string[]): string[] {
  const got = output.map(stable);
  const lost: string[] = [];
  let at = 0;
  for (const raw of sample) {
    if (raw.trim() === '...') continue;
    const line = stable(raw);
    const prefix = /\.\.\.\)?$/.test(line) ? line.replace(/\s*\(?\.\.\.\)?$/, '') : undefined;
    const i = got.findIndex((g, j) => j >= at && (prefix !== undefined ? g.startsWith(prefix) : g === line));
    if (i < 0) lost.push(raw);
    else at = i + 1;
  }
  return lost;
}

const noAdapter = await missingAdapter('the README quick start on WebGPU');

describe('README samples', () => {
  const list = samples(readFileSync('README.md', 'utf8'));

  it('the README has samples to check', () => {
    expect(list.map((s) => s.args[0])).toEqual(['check', 'generate', 'analyze', 'compile']);
  });

  it.each(list.map((s) => [s.args.join(' '), s] as const))('moec %s prints what the README shows', async (_name, s) => {
    const r = await cli(...s.args);
    expect(r.code, r.err).toBe(0);
    expect(missing(s.lines, r.out.split('\n'))).toEqual([]);
  });

  it('the comparison finds a wrong number (the old 11 kernels, 68.0 MiB)', () => {
    const output = ['kernels (9):', 'arena: 64.1 MiB for T = 256; naive sum of buffers 103.1 MiB (1.6× smaller)'];
    expect(missing(['kernels (11):', '...', 'arena: 68.0 MiB for T = 256; naive ...'], output)).toEqual(['kernels (11):', 'arena: 68.0 MiB for T = 256; naive ...']);
    expect(missing(['kernels (9):', '...', 'arena: 64.1 MiB for T = 256; naive ...'], output)).toEqual([]);
  });

  // The quick start runs as written with every backend, with no --max-tokens: memory is sized
  // by the tokens run (was: E505 with --backend wgsl, the arena planned for mixtral.moe's
  // declared 32,768 tokens over WebGPU's 128 MiB binding).
  const quick = /npm ci && npx moec (run [^\n]*--backend c --check)\n/.exec(readFileSync('README.md', 'utf8'));
  it('the README has a quick start that runs with --backend c and no --max-tokens', () => {
    expect(quick?.[1]).toBeDefined();
    expect(quick![1]).not.toContain('--max-tokens');
  });
  for (const backend of ['c', 'wasm', 'wgsl'])
    it.skipIf(backend === 'wgsl' && noAdapter !== null)(`the quick start runs with --backend ${backend} and agrees with the reference interpreter`, async () => {
      const r = await cli(...quick![1].replace('--backend c', `--backend ${backend}`).split(/\s+/));
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/vs reference interpreter: max\|Δ\| /);
    });
  it('the quick start runs with --backend ref (the reference interpreter: nothing to --check against)', async () => {
    const r = await cli(...quick![1].replace('--backend c --check', '--backend ref').split(/\s+/));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^output y: f32\[8, 512\]/m);
  });

  it('links only to files inside the package (was: ../shared/DESIGN.md)', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).not.toContain('../shared');
    for (const [, target] of readme.matchAll(/\]\(([^)#]+)\)/g)) if (!/^https?:/.test(target)) expect(() => readFileSync(target), target).not.toThrow();
  });
});
