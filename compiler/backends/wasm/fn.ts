/**
 * @fileoverview A thin layer over binaryen's builder for writing kernels: typed locals,
 * counted loops and the few address and constant helpers every kernel needs. It only saves
 * typing; every construct maps one-to-one onto Wasm (a `forRange` is a block around a loop
 * with one `br_if` at the top), so the `.wat` reads like the builder code.
 */
import binaryen from 'binaryen';

export type Expr = binaryen.ExpressionRef;
export type WasmType = binaryen.Type;

/** A local of a function being built: its index and type. */
export interface Local {
  readonly index: number;
  readonly type: WasmType;
}

/**
 * Label numbers, counted per module: the emitted text is then the same however many
 * modules this process built before (a golden `.wat` must not depend on test order).
 */
const labelCounts = new WeakMap<binaryen.Module, number>();

function nextLabel(m: binaryen.Module): number {
  const n = labelCounts.get(m) ?? 0;
  labelCounts.set(m, n + 1);
  return n;
}

/** One function under construction: params first (as Wasm numbers them), then its vars. */
export class FnBuilder {
  private readonly vars: WasmType[] = [];
  readonly params: Local[];

  constructor(
    readonly m: binaryen.Module,
    readonly name: string,
    paramTypes: WasmType[],
    private readonly result: WasmType = binaryen.none,
  ) {
    this.params = paramTypes.map((type, index) => ({ index, type }));
  }

  /** A fresh local of `type`. */
  local(type: WasmType): Local {
    this.vars.push(type);
    return { index: this.params.length + this.vars.length - 1, type };
  }

  i32(): Local {
    return this.local(binaryen.i32);
  }

  f32(): Local {
    return this.local(binaryen.f32);
  }

  f64(): Local {
    return this.local(binaryen.f64);
  }

  v128(): Local {
    return this.local(binaryen.v128);
  }

  get(l: Local): Expr {
    return this.m.local.get(l.index, l.type);
  }

  set(l: Local, v: Expr): Expr {
    return this.m.local.set(l.index, v);
  }

  /**
   * `for (i = from; i < to; i += step) body` with signed i32 bounds (`to` evaluated each
   * iteration); a step that is not a constant comes as a function making its expression (an
   * `Expr` is a number too).
   */
  forRange(i: Local, from: Expr, to: Expr, body: Expr[], step: number | (() => Expr) = 1): Expr {
    const m = this.m;
    const id = nextLabel(m);
    const brk = `brk${id}`;
    const cont = `cont${id}`;
    return m.block(brk, [
      this.set(i, from),
      m.loop(
        cont,
        m.block(null, [
          m.br(brk, m.i32.ge_s(this.get(i), to)),
          ...body,
          this.set(i, m.i32.add(this.get(i), typeof step === 'number' ? m.i32.const(step) : step())),
          m.br(cont),
        ]),
      ),
    ]);
  }

  /** A block that `body` can leave early with `m.br(label)` (a `continue` for a loop body). */
  labelled(body: (label: string) => Expr[]): Expr {
    const label = `skip${nextLabel(this.m)}`;
    return this.m.block(label, body(label));
  }

  /** Adds the function to the module. */
  finish(body: Expr[]): binaryen.FunctionRef {
    const m = this.m;
    return m.addFunction(
      this.name,
      binaryen.createType(this.params.map((p) => p.type)),
      this.result,
      this.vars,
      m.block(null, body, this.result === binaryen.none ? binaryen.none : binaryen.auto),
    );
  }
}

/** i32 constant; addresses above 2^31 are written as their two's complement (Wasm reads them unsigned). */
export function i32c(m: binaryen.Module, n: number): Expr {
  if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 32) throw new Error(`wasm backend: ${n} is not a 32-bit integer`);
  return m.i32.const(n | 0);
}

/**
 * `a · b + c` in one `f32x4.relaxed_madd` (relaxed SIMD): fused or not as the engine's
 * hardware does it, so it rounds once or twice; binaryen's JS API has no wrapper for it.
 */
export function relaxedMadd(m: binaryen.Module, a: Expr, b: Expr, c: Expr): Expr {
  const api = binaryen as unknown as { _BinaryenSIMDTernary(m: number, op: number, a: Expr, b: Expr, c: Expr): Expr; RelaxedMaddVecF32x4: number };
  return api._BinaryenSIMDTernary((m as unknown as { ptr: number }).ptr, api.RelaxedMaddVecF32x4, a, b, c);
}

/** `base + index * stride` in i32 (stride a compile-time constant, folded when 0 or 1). */
export function indexAddr(m: binaryen.Module, base: Expr, index: Expr, stride: number): Expr {
  if (stride === 0) return base;
  const scaled = stride === 1 ? index : m.i32.mul(index, i32c(m, stride));
  return m.i32.add(base, scaled);
}

export const f32load = (m: binaryen.Module, ptr: Expr, offset = 0): Expr => m.f32.load(offset, 4, ptr);
export const f32store = (m: binaryen.Module, ptr: Expr, v: Expr, offset = 0): Expr => m.f32.store(offset, 4, ptr, v);
export const i32load = (m: binaryen.Module, ptr: Expr, offset = 0): Expr => m.i32.load(offset, 4, ptr);
export const i32store = (m: binaryen.Module, ptr: Expr, v: Expr, offset = 0): Expr => m.i32.store(offset, 4, ptr, v);
export const f64load = (m: binaryen.Module, ptr: Expr, offset = 0): Expr => m.f64.load(offset, 8, ptr);
export const f64store = (m: binaryen.Module, ptr: Expr, v: Expr, offset = 0): Expr => m.f64.store(offset, 8, ptr, v);
/** A float32 element widened to float64 (the reference interpreter's arithmetic). */
export const f32to64 = (m: binaryen.Module, ptr: Expr, offset = 0): Expr => m.f64.promote(f32load(m, ptr, offset));
