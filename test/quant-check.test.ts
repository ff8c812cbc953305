// `moec run --quantize S --check` and `runOnBackend({ quantize, check })`: the backend is
// compared with the QUANTIZED reference, and the quantized reference with the f32 one (the
// quantization error of the model). The backend here is the kernel IR interpreter standing
// in for `c` (vi.mock), so this checks the driver's plumbing without depending on a code
// generator's support for quantized kernels (each backend's own tests do that).
import { describe, expect, it, vi } from 'vitest';
import type { Backend } from '../compiler/backends/backend.ts';
import { main } from '../compiler/cli/cli.ts';
import { compileFile, runOnBackend } from '../compiler/driver.ts';
import { interpretKernelIR } from '../ir/kernel/kinterp.ts';
import { SMALL } from './small-sizes.ts';

vi.mock('../compiler/backends/registry.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../compiler/backends/registry.ts')>();
  const kernelInterpreter: Backend = {
    name: 'c',
    emit: () => ({}),
    load: async (program, _target, weights) => ({
      forward: async (inputs, bindings) => interpretKernelIR(program, { bindings, inputs, weights }),
      dispose: () => {},
    }),
  };
  return { ...real, getBackend: async (name: string) => (name === 'c' ? kernelInterpreter : real.getBackend(name)) };
});

describe('run --quantize --check', () => {
  const m = compileFile('examples/mixtral.moe', { consts: SMALL['mixtral.moe'] });

  it('compares the backend with the quantized reference and reports the quantization error against f32', async () => {
    const r = await runOnBackend(m, { backend: 'c', tokens: 7, maxTokens: 64, check: true, quantize: 'i8' });
    expect(r.agreement!.y.maxAbs).toBeLessThan(1e-6); // same dequantized weights: only roundings differ
    const q = r.quantError!.y;
    expect(q.relL2).toBeGreaterThan(1e-4); // i8 per channel really is not f32...
    expect(q.relL2).toBeLessThan(1e-2); // ...but close to it
    expect((await runOnBackend(m, { backend: 'c', tokens: 7, maxTokens: 64, check: true })).quantError).toBeUndefined();
  });

  it('prints both lines', async () => {
    const out: string[] = [];
    const code = await main(['run', 'examples/mixtral.moe', '--set', 'D=32,F=48', '--tokens', '4', '--backend', 'c', '--max-tokens', '64', '--check', '--quantize', 'fp8'], {
      out: (s) => out.push(s),
      err: (s) => out.push(s),
    });
    expect(code, out.join('\n')).toBe(0);
    expect(out.join('\n')).toMatch(/vs reference interpreter: max\|Δ\| [\d.e+-]+ \(rel [\d.e+-]+\), relL2/);
    expect(out.join('\n')).toMatch(/quantization error \(fp8 reference vs f32 reference\): max\|Δ\| [\d.e+-]+ \(rel [\d.e+-]+\), relL2 [\d.e+-]+/);
  });
});
