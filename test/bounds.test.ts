/**
 * Bounds on hostile input (issue 14): each test reproduces a hang, a heap or stack
 * exhaustion or an internal error (exit 3) on bad input, and pins the clear error that
 * replaced it. Time limits here are generous multiples of the fixed cost: what they catch is
 * the quadratic or unbounded behaviour, which took minutes or gigabytes.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../compiler/cli.ts';
import { type Diagnostic, MoecError, didYouMean } from '../compiler/diagnostics.ts';
import { compile } from '../compiler/driver.ts';
import { MAX_SOURCE_CHARS, MAX_TOKENS } from '../compiler/frontend/parse.ts';
import { FuncBuilder, UniqueNames } from '../ir/builder.ts';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The MoecError `f` throws (it must throw one). */
function moecError(f: () => unknown): MoecError {
  try {
    f();
  } catch (e) {
    if (e instanceof MoecError) return e;
    throw e;
  }
  throw new Error('expected a MoecError');
}

function first(f: () => unknown): Diagnostic {
  return moecError(f).diagnostics[0];
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
    const e = moecError(() => compile(text, { path: 'at.moe' }));
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
    const far = moecError(() => compile(`model m {\n  z = ${'x+'.repeat(1000)}@${'+x'.repeat(1000)}\n}`, { path: 'far.moe' })).format();
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


