/**
 * @fileoverview The transcendental functions kernels need, written in Wasm (float64), so
 * the module imports nothing and runs the same in every engine.
 *
 * - exp: Cody–Waite reduction x = k·ln2 + r (|r| <= ln2/2, ln2 split in a high part with
 *   zero low bits, so k·ln2_hi is exact), the Taylor polynomial of e^r to degree 13
 *   (truncation below 1e-17), then scaling by 2^k in two steps so subnormal results and
 *   k = 1024 stay in range. About 1 ulp of float64: far below the float32 the kernels store.
 * - erfc (for the exact GELU): the reference interpreter's own algorithm (`erf`/`erfc` in
 *   ir/graph/interp-kernels.ts): erf's power series below |x| = 1.5, erfc's continued fraction
 *   above, so both agree to float64 rounding.
 * - the activations as the reference writes them: sigmoid 1/(1+e^-x), silu x/(1+e^-x),
 *   gelu 0.5·x·erfc(-x/√2), gelu_tanh with tanh(y) = 1 - 2/(e^{2y}+1) (odd-symmetric).
 *
 * Functions are added to the module on first use, so a model without GELU carries no erfc.
 */
import binaryen from 'binaryen';
import { type Expr, FnBuilder } from './fn.ts';

const LOG2E = 1.4426950408889634;
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
const EXP_MAX = 709.782712893384;
const EXP_MIN = -745.1332191019412;
const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;
const SQRT_2_OVER_PI = 0.7978845608028654;

export type Activation = 'relu' | 'silu' | 'gelu' | 'gelu_tanh' | 'sigmoid';

export class MathLib {
  private readonly added = new Set<string>();

  constructor(private readonly m: binaryen.Module) {}

  /** e^x in float64. */
  exp(x: Expr): Expr {
    this.need('exp', () => this.buildExp());
    return this.m.call('exp', [x], binaryen.f64);
  }

  /** The natural logarithm in float64 (NaN below 0, -inf at 0). */
  log(x: Expr): Expr {
    this.need('log', () => this.buildLog());
    return this.m.call('log', [x], binaryen.f64);
  }

  /** tanh in float64: sign(y)·(1 - 2/(e^{2|y|}+1)), as gelu_tanh writes it. */
  tanh(x: Expr): Expr {
    this.need('tanh', () => {
      const m = this.m;
      const f = new FnBuilder(m, 'tanh', [binaryen.f64], binaryen.f64);
      const y = (): Expr => f.get(f.params[0]);
      const c = (v: number): Expr => m.f64.const(v);
      f.finish([m.return(m.f64.copysign(m.f64.sub(c(1), m.f64.div(c(2), m.f64.add(this.exp(m.f64.mul(c(2), m.f64.abs(y()))), c(1)))), y()))]);
    });
    return this.m.call('tanh', [x], binaryen.f64);
  }

  /** cos(x) (`which` 'cos') or sin(x) in float64 (rope's angles). */
  trig(which: 'cos' | 'sin', x: Expr): Expr {
    this.need('sincos', () => this.buildTrig());
    return this.m.call(which, [x], binaryen.f64);
  }

  /** An activation of a float64 value, in float64. */
  act(fn: Activation, x: Expr): Expr {
    this.need(`act_${fn}`, () => this.buildAct(fn));
    return this.m.call(`act_${fn}`, [x], binaryen.f64);
  }

  private need(name: string, build: () => void): void {
    if (this.added.has(name)) return;
    this.added.add(name);
    build();
  }

  private buildExp(): void {
    const m = this.m;
    const f = new FnBuilder(m, 'exp', [binaryen.f64], binaryen.f64);
    const [x] = f.params;
    const k = f.f64();
    const r = f.f64();
    const p = f.f64();
    const ki = f.i32();
    const k1 = f.i32();
    const c = (v: number): Expr => m.f64.const(v);
    const pow2 = (e: Expr): Expr => m.f64.reinterpret(m.i64.shl(m.i64.extend_s(m.i32.add(e, m.i32.const(1023))), m.i64.const(52n)));
    // Horner over 1/n! for n = 13 .. 1, then + 1.
    let horner: Expr = c(1 / 6227020800);
    for (let n = 12; n >= 1; n--) {
      let fact = 1;
      for (let j = 2; j <= n; j++) fact *= j;
      horner = m.f64.add(c(1 / fact), m.f64.mul(f.get(r), horner));
    }
    f.finish([
      m.if(m.f64.ne(f.get(x), f.get(x)), m.return(f.get(x))),
      m.if(m.f64.gt(f.get(x), c(EXP_MAX)), m.return(c(Infinity))),
      m.if(m.f64.lt(f.get(x), c(EXP_MIN)), m.return(c(0))),
      f.set(k, m.f64.nearest(m.f64.mul(f.get(x), c(LOG2E)))),
      f.set(r, m.f64.sub(m.f64.sub(f.get(x), m.f64.mul(f.get(k), c(LN2_HI))), m.f64.mul(f.get(k), c(LN2_LO)))),
      f.set(p, m.f64.add(c(1), m.f64.mul(f.get(r), horner))),
      f.set(ki, m.i32.trunc_s.f64(f.get(k))),
      f.set(k1, m.i32.shr_s(f.get(ki), m.i32.const(1))),
      m.return(m.f64.mul(m.f64.mul(f.get(p), pow2(f.get(k1))), pow2(m.i32.sub(f.get(ki), f.get(k1))))),
    ]);
  }

  /**
   * log x = e·ln2 + log m with x = m·2^e, m in [√½, √2) (subnormals scaled by 2^54 first),
   * and log m = 2·atanh(s), s = (m-1)/(m+1), |s| <= 0.172: the odd series to s^27 (below 1e-20).
   */
  private buildLog(): void {
    const m = this.m;
    const f = new FnBuilder(m, 'log', [binaryen.f64], binaryen.f64);
    const x = f.params[0];
    const e = f.i32();
    const bits = f.local(binaryen.i64);
    const mant = f.f64();
    const s = f.f64();
    const s2 = f.f64();
    const c = (v: number): Expr => m.f64.const(v);
    let series: Expr = c(1 / 27);
    for (let k = 12; k >= 0; k--) series = m.f64.add(c(1 / (2 * k + 1)), m.f64.mul(f.get(s2), series));
    f.finish([
      m.if(m.f64.ne(f.get(x), f.get(x)), m.return(f.get(x))),
      m.if(m.f64.lt(f.get(x), c(0)), m.return(c(NaN))),
      m.if(m.f64.eq(f.get(x), c(0)), m.return(c(-Infinity))),
      m.if(m.f64.eq(f.get(x), c(Infinity)), m.return(f.get(x))),
      f.set(e, m.i32.const(0)),
      m.if(m.f64.lt(f.get(x), c(2 ** -1022)), m.block(null, [f.set(x, m.f64.mul(f.get(x), c(2 ** 54))), f.set(e, m.i32.const(-54))])),
      f.set(bits, m.i64.reinterpret(f.get(x))),
      f.set(e, m.i32.add(f.get(e), m.i32.sub(m.i32.wrap(m.i64.shr_u(f.get(bits), m.i64.const(52n))), m.i32.const(1023)))),
      f.set(mant, m.f64.reinterpret(m.i64.or(m.i64.and(f.get(bits), m.i64.const(0xfffffffffffffn)), m.i64.const(0x3ff0000000000000n)))),
      m.if(m.f64.gt(f.get(mant), c(Math.SQRT2)), m.block(null, [f.set(mant, m.f64.mul(f.get(mant), c(0.5))), f.set(e, m.i32.add(f.get(e), m.i32.const(1)))])),
      f.set(s, m.f64.div(m.f64.sub(f.get(mant), c(1)), m.f64.add(f.get(mant), c(1)))),
      f.set(s2, m.f64.mul(f.get(s), f.get(s))),
      m.return(m.f64.add(m.f64.mul(m.f64.convert_s.i32(f.get(e)), c(LN2_HI)), m.f64.add(m.f64.mul(m.f64.convert_s.i32(f.get(e)), c(LN2_LO)), m.f64.mul(m.f64.mul(c(2), f.get(s)), series)))),
    ]);
  }

  /**
   * sin and cos: x = k·π/2 + r with π/2 in three parts (fdlibm's, each with zero low bits, so
   * k·part is exact for |k| < 2^20: angles up to about 1.6e6 reduce to ~1e-16), |r| <= π/4, the
   * Taylor polynomials of sin r and cos r to degree 18 (below 1e-19), then the quadrant k mod 4.
   */
  private buildTrig(): void {
    const m = this.m;
    const c = (v: number): Expr => m.f64.const(v);
    const PIO2_1 = 1.57079632673412561417e0;
    const PIO2_2 = 6.07710050630396597660e-11;
    const PIO2_3 = 2.02226624871116645580e-21;
    for (const which of ['sin', 'cos'] as const) {
      const f = new FnBuilder(m, which, [binaryen.f64], binaryen.f64);
      const x = f.params[0];
      const k = f.f64();
      const r = f.f64();
      const r2 = f.f64();
      const q = f.i32();
      const s = f.f64();
      const co = f.f64();
      // sin r = r Σ (-1)^n r^{2n}/(2n+1)!, cos r = Σ (-1)^n r^{2n}/(2n)!, Horner in r².
      const poly = (odd: boolean): Expr => {
        let acc: Expr = c(0);
        for (let n = 9; n >= 0; n--) {
          let fact = 1;
          for (let j = 2; j <= 2 * n + (odd ? 1 : 0); j++) fact *= j;
          acc = m.f64.add(c((n % 2 === 0 ? 1 : -1) / fact), m.f64.mul(f.get(r2), acc));
        }
        return odd ? m.f64.mul(f.get(r), acc) : acc;
      };
      // The quadrant: sin x = [s, c, -s, -c][q], cos x = [c, -s, -c, s][q].
      const pick = (q0: Expr, q1: Expr, q2: Expr, q3: Expr): Expr =>
        m.select(m.i32.lt_u(f.get(q), m.i32.const(2)), m.select(m.i32.eqz(f.get(q)), q0, q1), m.select(m.i32.eq(f.get(q), m.i32.const(2)), q2, q3));
      f.finish([
        m.if(m.i32.eqz(m.f64.lt(m.f64.abs(f.get(x)), c(Infinity))), m.return(c(NaN))),
        f.set(k, m.f64.nearest(m.f64.mul(f.get(x), c(2 / Math.PI)))),
        f.set(r, m.f64.sub(m.f64.sub(m.f64.sub(f.get(x), m.f64.mul(f.get(k), c(PIO2_1))), m.f64.mul(f.get(k), c(PIO2_2))), m.f64.mul(f.get(k), c(PIO2_3)))),
        f.set(r2, m.f64.mul(f.get(r), f.get(r))),
        f.set(q, m.i32.and(m.i32.wrap(m.i64.trunc_s_sat.f64(f.get(k))), m.i32.const(3))),
        f.set(s, poly(true)),
        f.set(co, poly(false)),
        m.return(which === 'sin' ? pick(f.get(s), f.get(co), m.f64.neg(f.get(s)), m.f64.neg(f.get(co))) : pick(f.get(co), m.f64.neg(f.get(s)), m.f64.neg(f.get(co)), f.get(s))),
      ]);
    }
  }

  private buildAct(fn: Activation): void {
    const m = this.m;
    const f = new FnBuilder(m, `act_${fn}`, [binaryen.f64], binaryen.f64);
    const x = (): Expr => f.get(f.params[0]);
    const c = (v: number): Expr => m.f64.const(v);
    const sigmoidOf = (v: Expr): Expr => m.f64.div(c(1), m.f64.add(c(1), this.exp(m.f64.neg(v))));
    let body: Expr;
    switch (fn) {
      case 'relu': // NaN stays NaN, as in the reference (x <= 0 ? 0 : x)
        body = m.select(m.f64.le(x(), c(0)), c(0), x());
        break;
      case 'sigmoid':
        body = sigmoidOf(x());
        break;
      case 'silu':
        body = m.f64.div(x(), m.f64.add(c(1), this.exp(m.f64.neg(x()))));
        break;
      case 'gelu':
        this.need('erfc', () => this.buildErfc());
        body = m.f64.mul(m.f64.mul(c(0.5), x()), m.call('erfc', [m.f64.mul(m.f64.neg(x()), c(Math.SQRT1_2))], binaryen.f64));
        break;
      case 'gelu_tanh': {
        // tanh(y) = sign(y)·(1 - 2/(e^{2|y|}+1)).
        const y = f.f64();
        const a = f.f64();
        const th = m.f64.copysign(m.f64.sub(c(1), m.f64.div(c(2), m.f64.add(this.exp(m.f64.mul(c(2), f.get(a))), c(1)))), f.get(y));
        body = m.block(null, [
          f.set(y, m.f64.mul(c(SQRT_2_OVER_PI), m.f64.add(x(), m.f64.mul(c(0.044715), m.f64.mul(x(), m.f64.mul(x(), x())))))),
          f.set(a, m.f64.abs(f.get(y))),
          m.f64.mul(m.f64.mul(c(0.5), x()), m.f64.add(c(1), th)),
        ], binaryen.f64);
        break;
      }
    }
    f.finish([m.return(body)]);
  }

  /** erfc as in the reference: series for |x| < 1.5 (1 - erf, 2 - erfc(-x) below -1.5), continued fraction above. */
  private buildErfc(): void {
    const m = this.m;
    const c = (v: number): Expr => m.f64.const(v);
    {
      const f = new FnBuilder(m, 'erf_series', [binaryen.f64], binaryen.f64);
      const x = f.params[0];
      const x2 = f.f64();
      const term = f.f64();
      const sum = f.f64();
      const n = f.i32();
      f.finish([
        f.set(x2, m.f64.mul(f.get(x), f.get(x))),
        f.set(term, f.get(x)),
        f.set(sum, f.get(x)),
        m.block('done', [
          f.forRange(n, m.i32.const(0), m.i32.const(200), [
            f.set(term, m.f64.mul(f.get(term), m.f64.div(m.f64.mul(c(2), f.get(x2)), m.f64.convert_s.i32(m.i32.add(m.i32.mul(f.get(n), m.i32.const(2)), m.i32.const(3)))))),
            f.set(sum, m.f64.add(f.get(sum), f.get(term))),
            m.br('done', m.f64.le(m.f64.abs(f.get(term)), m.f64.mul(c(1e-17), m.f64.abs(f.get(sum))))),
          ]),
        ]),
        m.return(m.f64.mul(m.f64.mul(c(TWO_OVER_SQRT_PI), this.exp(m.f64.neg(f.get(x2)))), f.get(sum))),
      ]);
    }
    {
      // Modified Lentz for e^{-x²}/√π / (x + (1/2)/(x + (2/2)/(x + ...))).
      const f = new FnBuilder(m, 'erfc_cf', [binaryen.f64], binaryen.f64);
      const x = f.params[0];
      const fv = f.f64();
      const cv = f.f64();
      const d = f.f64();
      const a = f.f64();
      const delta = f.f64();
      const n = f.i32();
      const tiny = c(1e-300);
      f.finish([
        f.set(fv, f.get(x)),
        f.set(cv, f.get(x)),
        f.set(d, c(0)),
        m.block('done', [
          f.forRange(n, m.i32.const(1), m.i32.const(500), [
            f.set(a, m.f64.mul(m.f64.convert_s.i32(f.get(n)), c(0.5))),
            f.set(d, m.f64.add(f.get(x), m.f64.mul(f.get(a), f.get(d)))),
            m.if(m.f64.eq(f.get(d), c(0)), f.set(d, tiny)),
            f.set(cv, m.f64.add(f.get(x), m.f64.div(f.get(a), f.get(cv)))),
            m.if(m.f64.eq(f.get(cv), c(0)), f.set(cv, tiny)),
            f.set(d, m.f64.div(c(1), f.get(d))),
            f.set(delta, m.f64.mul(f.get(cv), f.get(d))),
            f.set(fv, m.f64.mul(f.get(fv), f.get(delta))),
            m.br('done', m.f64.lt(m.f64.abs(m.f64.sub(f.get(delta), c(1))), c(1e-16))),
          ]),
        ]),
        m.return(m.f64.div(m.f64.mul(c(ONE_OVER_SQRT_PI), this.exp(m.f64.neg(m.f64.mul(f.get(x), f.get(x))))), f.get(fv))),
      ]);
    }
    const f = new FnBuilder(m, 'erfc', [binaryen.f64], binaryen.f64);
    const x = (): Expr => f.get(f.params[0]);
    f.finish([
      m.if(m.f64.ne(x(), x()), m.return(x())),
      m.if(m.f64.ge(x(), c(1.5)), m.return(m.call('erfc_cf', [x()], binaryen.f64))),
      m.if(m.f64.le(x(), c(-1.5)), m.return(m.f64.sub(c(2), m.call('erfc_cf', [m.f64.neg(x())], binaryen.f64)))),
      m.return(m.f64.sub(c(1), m.call('erf_series', [x()], binaryen.f64))),
    ]);
  }
}
