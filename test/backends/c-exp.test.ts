/**
 * moec_exp (targets/c/runtime.c.hbs), the f32 e^x that the C attention's softmax and the
 * silu / sigmoid epilogues use so that their loops vectorise: taken from emitted C, built with
 * the flags the C backend builds with (x86-avx2's, where a loop of it becomes vector code, and
 * none, the portable build) and swept over [-110, 90] against e^x in double: within 2 ulp
 * wherever e^x is a normal float, within a denormal's spacing below, 0 at -inf and far below,
 * inf at +inf and past ln(FLT_MAX), NaN for NaN.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STRICT_FLAGS, targetFlags } from '../../compiler/backends/c/build.ts';
import { renderC } from '../../compiler/backends/c/render.ts';
import { compileFile } from '../../compiler/driver.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';

/** The moec_exp function of the C the backend emits for the tiny example (its experts' SwiGLU uses it). */
function moecExpSource(): string {
  const t = loadTarget('x86-avx2');
  const src = renderC(runPipeline(compileFile('examples/tiny.moe'), { target: t, maxTokens: 4 }).program!, t).source;
  const start = src.indexOf('static inline float moec_exp(float x) {');
  expect(start).toBeGreaterThan(0);
  return src.slice(start, src.indexOf('\n}\n', start) + 3);
}

const HARNESS = `
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
EXP
/* A loop of it, as the kernels run it (vectorised where the ISA allows). */
static void exp_all(const float *x, float *y, int n) {
  int i;
  for (i = 0; i < n; i++) y[i] = moec_exp(x[i]);
}
enum { N = 200000 };
static float xs[N], ys[N];
int main(void) {
  double worst_ulp = 0, worst_denormal = 0, worst_at = 0;
  const float special[] = {-INFINITY, -1000.0f, -104.5f, 0.0f, -0.0f, 1.0f, 88.72f, 88.73f, 89.5f, 1000.0f, INFINITY, NAN};
  float out[12];
  int i;
  for (i = 0; i < N; i++) xs[i] = -110.0f + 200.0f * (float)i / N;
  exp_all(xs, ys, N);
  for (i = 0; i < N; i++) {
    const double want = exp((double)xs[i]), err = fabs((double)ys[i] - want);
    if (want >= 1.1754943508222875e-38 && want <= 3.4028234663852886e38) {
      int e;
      frexp(want, &e);
      if (err / ldexp(1.0, e - 24) > worst_ulp) { worst_ulp = err / ldexp(1.0, e - 24); worst_at = xs[i]; }
    } else if (want < 1.1754943508222875e-38 && err > worst_denormal) worst_denormal = err;
  }
  exp_all(special, out, 12);
  printf("%.4f %.6g %.9g\\n", worst_ulp, worst_at, worst_denormal);
  for (i = 0; i < 12; i++) printf("%.9g\\n", out[i]);
  return 0;
}
`;

describe('moec_exp, the C kernels\' vectorisable e^x', () => {
  for (const [label, isa] of [['x86-avx2 flags', targetFlags(loadTarget('x86-avx2'))], ['no vector ISA', []]] as const)
    it(`within 2 ulp of e^x over [-110, 90], exact at the special values (${label})`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'moec-exp-'));
      try {
        writeFileSync(join(dir, 'exp.c'), HARNESS.replace('EXP', moecExpSource()));
        const exe = join(dir, 'exp');
        const cc = spawnSync(process.env.CC ?? 'cc', [...STRICT_FLAGS, '-O3', '-fno-trapping-math', ...isa, '-o', exe, join(dir, 'exp.c'), '-lm'], { encoding: 'utf8' });
        expect(cc.stderr).toBe('');
        const r = spawnSync(exe, [], { encoding: 'utf8' });
        const [head, ...values] = r.stdout.trim().split('\n');
        const [ulp, , denormal] = head.split(' ').map(Number);
        expect(ulp).toBeLessThanOrEqual(2);
        expect(denormal).toBeLessThanOrEqual(1.5e-45); // the spacing of f32's denormals
        // -inf, -1000, -104.5 -> 0; e^0 = e^-0 = 1; past ln(FLT_MAX) = 88.7228 -> inf; NaN stays NaN
        const got = values.map((v) => (v === 'inf' ? Infinity : /nan/.test(v) ? NaN : Number(v)));
        expect([...got.slice(0, 5), ...got.slice(7)]).toEqual([0, 0, 0, 1, 1, Infinity, Infinity, Infinity, Infinity, NaN]);
        expect(Math.abs(got[5] / Math.E - 1)).toBeLessThan(2.4e-7); // e, within 2 ulp
        expect(Math.abs(got[6] / Math.exp(Math.fround(88.72)) - 1)).toBeLessThan(2.4e-7); // just under FLT_MAX
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
});
