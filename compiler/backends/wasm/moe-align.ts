/**
 * @fileoverview moe_align in Wasm: a counting sort of the token slots by expert into
 * blocks, exactly the reference's (experts in order, each expert's slots in slot order,
 * padding -1, unused rows and blocks -1). An expert index outside -1..E-1 traps (the loader
 * reports it as a data error).
 */
import type { MoeAlignKernel } from '../../../ir/kernel/kernel.ts';
import { KernelFn, type ProgramEnv } from './env.ts';
import { type Expr, i32c, i32load, i32store } from './fn.ts';

export function moeAlignScratchBytes(k: MoeAlignKernel): number {
  return 8 * k.experts;
}

export function buildMoeAlign(env: ProgramEnv, k: MoeAlignKernel, name: string, depth: number): void {
  const m = env.m;
  const f = new KernelFn(env, name, depth);
  const E = k.experts;
  const count = (e: Expr): Expr => m.i32.add(f.scratch(0), m.i32.shl(e, m.i32.const(2)));
  const next = (e: Expr): Expr => m.i32.add(f.scratch(4 * E), m.i32.shl(e, m.i32.const(2)));
  const at = (base: string, i: Expr): Expr => m.i32.add(f.addr(base), m.i32.shl(i, m.i32.const(2)));
  const s = f.i32();
  const e = f.i32();
  const n = f.i32();
  const slots = f.i32();
  const rows = f.i32();
  const blocks = f.i32();
  const b = f.i32();
  f.finish([
    f.set(slots, f.elements(k.indices)),
    m.memory.fill(f.scratch(0), m.i32.const(0), i32c(m, 4 * E)),
    f.forRange(s, m.i32.const(0), f.get(slots), [
      f.set(e, i32load(m, at(k.indices, f.get(s)))),
      m.if(
        m.i32.ne(f.get(e), m.i32.const(-1)),
        m.block(null, [
          m.if(m.i32.ge_u(f.get(e), i32c(m, E)), m.unreachable()),
          i32store(m, count(f.get(e)), m.i32.add(i32load(m, count(f.get(e))), m.i32.const(1))),
        ]),
      ),
    ]),
    // sorted and block_expert start as -1 (all bytes 0xff)
    m.memory.fill(f.addr(k.sorted), m.i32.const(0xff), m.i32.shl(f.elements(k.sorted), m.i32.const(2))),
    m.memory.fill(f.addr(k.blockExpert), m.i32.const(0xff), m.i32.shl(f.elements(k.blockExpert), m.i32.const(2))),
    f.set(rows, m.i32.const(0)),
    f.set(blocks, m.i32.const(0)),
    f.forRange(e, m.i32.const(0), i32c(m, E), [
      i32store(m, next(f.get(e)), f.get(rows)),
      f.set(n, m.i32.div_u(m.i32.add(i32load(m, count(f.get(e))), i32c(m, k.block - 1)), i32c(m, k.block))),
      f.forRange(b, f.get(blocks), m.i32.add(f.get(blocks), f.get(n)), [i32store(m, at(k.blockExpert, f.get(b)), f.get(e))]),
      f.set(blocks, m.i32.add(f.get(blocks), f.get(n))),
      f.set(rows, m.i32.add(f.get(rows), m.i32.mul(f.get(n), i32c(m, k.block)))),
    ]),
    f.forRange(s, m.i32.const(0), f.get(slots), [
      f.set(e, i32load(m, at(k.indices, f.get(s)))),
      m.if(
        m.i32.ne(f.get(e), m.i32.const(-1)),
        m.block(null, [
          i32store(m, at(k.sorted, i32load(m, next(f.get(e)))), f.get(s)),
          i32store(m, next(f.get(e)), m.i32.add(i32load(m, next(f.get(e))), m.i32.const(1))),
        ]),
      ),
    ]),
    i32store(m, f.addr(k.count), f.get(rows)),
  ]);
}
