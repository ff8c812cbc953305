/**
 * `moec run --backend wasm --threads N` (issue 18): the threaded Wasm build on N threads
 * from the command line (it was reachable only through the API), its output the one-thread
 * output bit for bit; --threads on another backend, or outside 1..64, is a usage error.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../ir/safetensors.ts';
import { cli } from './capture.ts';

describe('moec run --threads', () => {
  it('runs the wasm backend on N threads, with the one-thread output bit for bit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moec-threads-'));
    const outputs: Buffer[] = [];
    for (const n of ['1', '3']) {
      const out = join(dir, `y${n}.safetensors`);
      const r = await cli('run', 'examples/mixtral.moe', '--set', 'D=64,F=96', '--backend', 'wasm', '--threads', n, '--tokens', '9', '--out', out);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(n === '1' ? 'backend=wasm  ' : 'backend=wasm (3 threads)');
      const y = readSafetensors(out).get('y');
      outputs.push(Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
    }
    expect(outputs[1].equals(outputs[0])).toBe(true);
  });

  it('is a usage error on another backend and outside 1..64, and moec run --help lists it', async () => {
    const c = await cli('run', 'examples/tiny.moe', '--backend', 'c', '--threads', '2');
    expect(c.code).toBe(2);
    expect(c.err).toContain("--threads 2 runs the wasm backend's threaded build");
    expect(c.err).toContain('pass --backend wasm');
    for (const bad of ['0', '65', '2.5']) {
      const r = await cli('run', 'examples/tiny.moe', '--backend', 'wasm', '--threads', bad);
      expect(r.code).toBe(2);
      expect(r.err).toContain('--threads must be a whole number from 1 to 64');
    }
    expect((await cli('run', '--help')).out).toContain('--threads N');
  });
});
