/**
 * An internal error (a bug in moec, here simulated by a compile report that throws) is
 * reported as one: exit code 3, a message asking for a bug report with the input, and the
 * stack trace only with --debug. Its own file because it replaces a module with vi.mock.
 */
import { describe, expect, it, vi } from 'vitest';
import { cli } from './capture.ts';

vi.mock('../compiler/cli/report.ts', () => ({
  compileReport: () => {
    throw new TypeError("Cannot read properties of undefined (reading 'bytes')");
  },
}));

describe('internal errors', () => {
  it('exit 3 with a bug-report message and no stack trace', async () => {
    const r = await cli('compile', 'examples/tiny.moe', '--target', 'x86-avx2');
    expect(r.code).toBe(3);
    expect(r.err).toBe(
      "moec: internal error: Cannot read properties of undefined (reading 'bytes')\n" +
        '  This is a bug in moec, not in your input. Please report it with the command and input files that caused it.\n' +
        '  (run with --debug for the stack trace)',
    );
  });

  it('--debug adds the stack trace', async () => {
    const r = await cli('compile', 'examples/tiny.moe', '--target', 'x86-avx2', '--debug');
    expect(r.code).toBe(3);
    const lines = r.err.split('\n');
    expect(lines[0]).toBe("moec: internal error: Cannot read properties of undefined (reading 'bytes')");
    expect(lines[2]).toBe("TypeError: Cannot read properties of undefined (reading 'bytes')");
    expect(lines[3]).toMatch(/^\s+at compileReport .*cli-internal-error\.test\.ts/);
    expect(r.err).not.toContain('run with --debug');
  });
});
