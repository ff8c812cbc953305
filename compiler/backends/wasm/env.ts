/**
 * @fileoverview What a kernel function sees of the program: every buffer's address as an
 * expression (constants from the memory layout; a loop slice is its stacked buffer plus the
 * iteration index times the slice's bytes), sizes as expressions in the token count `T`,
 * and the scratch region.
 *
 * Every kernel function takes `(T, i0, i1, ...)`: the token count, then the iteration
 * index of each loop it sits in, outermost first.
 */
import binaryen from 'binaryen';
import { type Dim, isSym } from '../../../ir/dims.ts';
import type { KBuffer, KProgram, MoeAlignKernel, Step } from '../../../ir/kernel/kernel.ts';
import type { TargetCaps } from '../../target/caps.ts';
import { type Expr, FnBuilder, i32c } from './fn.ts';
import { type MemoryLayout, type TokenLinear, bufferElements, concreteBytes, tokenLinear } from './layout.ts';
import type { MathLib } from './math.ts';
import { CONTROL, CONTROL_BYTES } from './threads.ts';

export { CONTROL, CONTROL_BYTES } from './threads.ts';

/** The program's buffers and loop structure: what sizes the scratch region before the layout exists. */
export interface ProgramShapes {
  buffers: Map<string, KBuffer>;
  /** Loop slice name → its stacked buffer and the depth of the loop that binds it. */
  slices: Map<string, { stacked: string; depth: number }>;
  /** `sorted` buffer → the moe_align that writes it (for its block size). */
  aligns: Map<string, MoeAlignKernel>;
}

export interface ProgramEnv extends ProgramShapes {
  m: binaryen.Module;
  program: KProgram;
  target: TargetCaps;
  layout: MemoryLayout;
  math: MathLib;
  /** Lanes of f32 per vector (4 for SIMD128, 1 for the scalar build). */
  lanes: number;
  /** The GEMM micro-kernels multiply-add with relaxed SIMD's `f32x4.relaxed_madd` (the caps say fma). */
  relaxed: boolean;
  /** The threaded build's shared-memory layout (absent: the one-thread build). */
  threads?: ThreadLayout;
}

/**
 * The threaded build (`threads.ts`): every thread runs `forward(T)` on its own instance of the
 * module over one shared memory; its globals `tid` and `nthreads` say which share of each
 * GEMM it computes. The scratch region starts with the control words (barrier, job, error),
 * then one scratch area per thread, `stride` bytes apart.
 */
export interface ThreadLayout {
  /** Most threads the scratch region has room for. */
  max: number;
  /** Bytes from one thread's scratch area to the next. */
  stride: number;
}

/** The symbolic size of the positions already cached, which forward takes as `bindings.L`. */
export const PAST = 'L';

/** The globals of the threaded build. */
export const TID = 'tid';
export const NTHREADS = 'nthreads';

export function programShapes(program: KProgram): ProgramShapes {
  const slices = new Map<string, { stacked: string; depth: number }>();
  const aligns = new Map<string, MoeAlignKernel>();
  const walk = (steps: readonly Step[], depth: number): void => {
    for (const s of steps) {
      if (s.kind === 'loop') {
        for (const sl of s.slices) slices.set(sl.slice, { stacked: sl.stacked, depth });
        walk(s.body, depth + 1);
      } else if (s.kind === 'moe_align') aligns.set(s.sorted, s);
    }
  };
  walk(program.steps, 0);
  return { buffers: new Map(program.buffers.map((b) => [b.name, b])), slices, aligns };
}

/** A kernel's function under construction: the builder plus the program's addresses. */
export class KernelFn extends FnBuilder {
  constructor(
    readonly env: ProgramEnv,
    name: string,
    /** Loops around the kernel. */
    readonly depth: number,
  ) {
    super(env.m, name, [binaryen.i32, ...Array.from({ length: depth }, () => binaryen.i32)]);
  }

  /** The token count. */
  T(): Expr {
    return this.get(this.params[0]);
  }

  buffer(name: string): KBuffer {
    const b = this.env.buffers.get(name);
    if (!b) throw new Error(`wasm backend: no buffer ${name}`);
    return b;
  }

  /** The address of a buffer's first element. */
  addr(name: string): Expr {
    const m = this.m;
    const { layout } = this.env;
    const slice = this.env.slices.get(name);
    if (slice) {
      const bytes = concreteBytes(this.buffer(name), this.env.program.maxContext);
      return m.i32.add(this.addr(slice.stacked), m.i32.mul(this.get(this.params[1 + slice.depth]), i32c(m, bytes)));
    }
    const b = this.buffer(name);
    if (b.kind === 'weight') {
      const e = layout.weights.entries.find((w) => w.name === name);
      if (!e) throw new Error(`wasm backend: weight ${name} is not in the weight layout`);
      return i32c(m, layout.weightsBase + e.offset);
    }
    if (b.kind === 'input') return this.linear(layout.inputs.find((i) => i.buffer === name)!.address);
    if (b.kind === 'state') {
      const slot = layout.state?.buffers.find((s) => s.name === name);
      if (!slot) throw new Error(`wasm backend: state buffer ${name} is not in the state region`);
      return i32c(m, slot.address);
    }
    if (b.offset === undefined) throw new Error(`wasm backend: ${name} has no arena offset`);
    // Inputs and the arena follow the weights at addresses affine in T (`layout.ts`).
    const off = tokenLinear(b.offset, `${name}'s arena offset`);
    return this.linear({ c: layout.arenaBase.c + off.c, t: layout.arenaBase.t + off.t });
  }

  /**
   * A size as an i32 expression in T; in a model with state also in L, the positions already
   * cached (rope's offset, L + t), read from the word the loader writes before each call.
   */
  dim(d: Dim, what = 'a size'): Expr {
    const past = isSym(d) && this.env.layout.state ? d.terms.find(([n]) => n === PAST) : undefined;
    if (!past || !isSym(d)) return this.linear(tokenLinear(d, what));
    const rest = d.terms.filter(([n]) => n !== PAST);
    const scaled = past[1] === 1 ? this.past() : this.m.i32.mul(this.past(), i32c(this.m, past[1]));
    return this.m.i32.add(scaled, this.linear(tokenLinear(rest.length > 0 ? { terms: rest, c: d.c } : d.c, what)));
  }

  /** c + t·T as an i32 expression. */
  linear({ c, t }: TokenLinear): Expr {
    const m = this.m;
    if (t === 0) return i32c(m, c);
    const scaled = t === 1 ? this.T() : m.i32.mul(this.T(), i32c(m, t));
    return c === 0 ? scaled : m.i32.add(scaled, i32c(m, c));
  }

  /** Element count of a buffer at this T. */
  elements(name: string): Expr {
    return this.linear(bufferElements(this.buffer(name)));
  }

  /** The positions already cached (L), which the loader writes before each call of a model with state. */
  past(): Expr {
    const state = this.env.layout.state;
    if (!state) throw new Error('wasm backend: L read in a program without state');
    return this.m.i32.load(0, 4, i32c(this.m, state.past));
  }

  /** This thread's scratch area plus `offset` bytes (the region's base in the one-thread build). */
  scratch(offset = 0): Expr {
    const { threads, layout } = this.env;
    if (!threads) return i32c(this.m, layout.scratchBase + offset);
    return this.m.i32.add(this.m.i32.mul(this.tid(), i32c(this.m, threads.stride)), i32c(this.m, layout.scratchBase + CONTROL_BYTES + offset));
  }

  /** This thread's index (0 in the one-thread build). */
  tid(): Expr {
    return this.env.threads ? this.m.global.get(TID, binaryen.i32) : this.m.i32.const(0);
  }

  /** Threads running this forward (1 in the one-thread build). */
  nthreads(): Expr {
    return this.env.threads ? this.m.global.get(NTHREADS, binaryen.i32) : this.m.i32.const(1);
  }

  /** Waits until every thread got here (nothing in the one-thread build). */
  barrier(): Expr[] {
    return this.env.threads ? [this.m.call(BARRIER, [], binaryen.none)] : [];
  }

  /** `code` on thread 0 only. */
  onThread0(code: Expr[]): Expr {
    return this.env.threads ? this.m.if(this.m.i32.eqz(this.tid()), this.m.block(null, code)) : this.m.block(null, code);
  }

  /**
   * What a kernel does with an expert index outside 0..E-1 (bad routing data): the one-thread
   * build traps (the loader reports it); a thread must not (the others would wait at the next
   * barrier forever), so it records the error for the loader and skips the row (`skip`).
   */
  badExpert(skip: Expr): Expr {
    const m = this.m;
    if (!this.env.threads) return m.unreachable();
    return m.block(null, [m.i32.atomic.store(0, i32c(m, this.env.layout.scratchBase + CONTROL.error), m.i32.const(1)), skip]);
  }
}

/** The threaded build's barrier function (see `threads.ts`). */
export const BARRIER = 'barrier';
