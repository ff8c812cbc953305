/**
 * @fileoverview Builds the Wasm module of a planned kernel program with binaryen: one
 * function per kernel instance (`k3_grouped_gemm`), one per loop (`loop0`: its init copies,
 * the iterations calling the body's kernels with the iteration index, the carried copies),
 * and `forward(T)`, which runs the steps in order. Memory follows `layout.ts`; the module
 * exports `memory` and `forward`, imports nothing, validates, and is optimised by binaryen.
 *
 * The build follows the program's vector ISA, which the tiler chose for the target: `simd128`
 * gives SIMD128 kernels, `scalar` the scalar build (the same kernels with float32 locals).
 */
import binaryen from 'binaryen';
import { type Epilogue, type KProgram, type LoopStep, type Step, VECTOR_LANES } from '../../../ir/kernel/kernel.ts';
import { QUANT_DTYPES, isQuantDType } from '../../../ir/quant.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { kernelBuffers } from '../../../ir/kernel/walk.ts';
import { type TargetCaps, programVectorKind } from '../../target/caps.ts';
import { BARRIER, CONTROL, CONTROL_BYTES, KernelFn, NTHREADS, type ProgramEnv, type ProgramShapes, TID, type ThreadLayout, programShapes } from './env.ts';
import { type Expr, FnBuilder, i32c } from './fn.ts';
import { buildGemm, buildGroupedGemm, gemmScratchBytes } from './gemm.ts';
import { MAX_PAGES, type MemoryLayout, planLayout } from './layout.ts';
import type { ManifestWeight, WasmManifest } from './manifest.ts';
import { MathLib } from './math.ts';
import { usesRelaxedSimd } from './features.ts';
import { buildMoeAlign, moeAlignScratchBytes } from './moe-align.ts';
import { buildOp, checkOp } from './ops.ts';
import { buildRouter, routerScratchBytes } from './router.ts';
import { singleChipOnly } from '../../../ir/kernel/ep.ts';
import { refuseInputCaches } from '../state-caches.ts';
import { refuseRoundedActivations } from '../cannot-run.ts';
import { attentionScratchBytes, attentionSharedBytes, buildAttention } from './attention.ts';
import { buildMla, mlaScratchBytes, mlaSharedBytes } from './mla.ts';

export interface BuiltModule {
  binary: Uint8Array;
  /** The optimised module's text form. */
  text: string;
  manifest: WasmManifest;
  layout: MemoryLayout;
}

export interface BuildOptions {
  /** Run binaryen's optimisation passes (default true). */
  optimize?: boolean;
  /** Also export every kernel and loop function by name (for timing kernels one by one). */
  exportKernels?: boolean;
  /**
   * Build for up to this many threads (above 1): shared memory imported as `env.memory`,
   * GEMMs split over threads, a barrier between steps (`threads.ts` runs it). Default 1.
   */
  threads?: number;
}

/** Bytes of scratch the program's kernels need (the largest one: they run one at a time). */
function scratchBytes(shapes: ProgramShapes, steps: readonly Step[]): number {
  let need = 0;
  for (const s of steps) {
    const bytes =
      s.kind === 'loop'
        ? scratchBytes(shapes, s.body)
        : s.kind === 'router'
          ? routerScratchBytes(s)
          : s.kind === 'moe_align'
            ? moeAlignScratchBytes(s)
            : s.kind === 'grouped_gemm' || s.kind === 'gemm'
              ? gemmScratchBytes(shapes, s)
              : s.kind === 'attention'
                ? attentionScratchBytes(shapes, s)
                : s.kind === 'mla_attention'
                  ? mlaScratchBytes(shapes, s)
                  : 0;
    need = Math.max(need, bytes);
  }
  return need;
}

/** Bytes the attention kernels' decode splits share between threads (the largest: they run one at a time). */
function sharedBytes(shapes: ProgramShapes, steps: readonly Step[]): number {
  let need = 0;
  for (const s of steps)
    need = Math.max(need, s.kind === 'loop' ? sharedBytes(shapes, s.body) : s.kind === 'attention' ? attentionSharedBytes(shapes, s) : s.kind === 'mla_attention' ? mlaSharedBytes(shapes, s) : 0);
  return need;
}

/**
 * Everything the backend cannot render is reported before any code is built. Quantized
 * weights are read (and dequantized in registers) only as the `w` of routers and GEMMs and
 * the router's shared-expert gate;
 * their layout is checked where those kernels are built (`quantView`).
 */
function checkSupported(p: KProgram, steps: readonly Step[]): void {
  const buffers = new Map(p.buffers.map((b) => [b.name, b]));
  for (const b of p.buffers)
    if (b.dtype !== 'f32' && b.dtype !== 'i32' && !(isQuantDType(b.dtype) && b.kind === 'weight'))
      fail('E701', `buffer ${b.name} is ${b.dtype}; the wasm backend handles f32 and i32 buffers and quantized (${QUANT_DTYPES.join(', ')}) weights`, undefined, 'compile the model with f32 or quantized weights');
  const walk = (list: readonly Step[]): void => {
    for (const s of list) {
      if (s.kind === 'loop') walk(s.body);
      else if (s.kind === 'op') checkOp(s);
      else if (s.kind === 'grouped_gemm' && s.tile?.qdecode === 'group_sum')
        fail('E701', `the grouped GEMM writing ${s.out} asks for group-sum decoding, which the wasm kernels do not do (they scale each weight)`, undefined, 'tile the program for this target: its quantized decode form is scale_each');
      for (const name of plainOperands(s)) {
        const b = buffers.get(name);
        if (b && isQuantDType(b.dtype))
          fail('E701', `${s.kind === 'op' ? `op kernel ${s.op}` : s.kind} reads the ${b.dtype} weight ${name} as plain values; the wasm backend dequantizes only router and GEMM weights`, undefined, `leave ${name} in f32 (quantize only the GEMM weights)`);
      }
    }
  };
  walk(steps);
}

/** The operands of a step other than a router's or GEMM's weights (those must not be quantized). */
function plainOperands(s: Step): string[] {
  const bias = (chain: readonly Epilogue[]): string[] => chain.flatMap((e) => (e.kind === 'bias' ? [e.bias] : e.kind === 'combine' ? [e.weights] : []));
  switch (s.kind) {
    case 'loop':
      return [];
    case 'op':
      return [...s.inputs, ...s.outputs];
    case 'router':
      return [s.x, s.bias, s.selectBias].filter((x): x is string => x !== undefined);
    case 'gemm':
      return [s.a, s.out, ...bias(s.epilogue)];
    case 'grouped_gemm':
      return [s.a, s.out, ...(s.init ? [s.init] : []), ...bias(s.epilogue)];
    case 'moe_align':
    case 'dispatch':
    case 'ep_combine':
      return [];
    case 'attention':
    case 'mla_attention':
      // Every operand of attention and MLA (MLA's wkv_b included) is read as plain values.
      return kernelBuffers(s).reads.concat(kernelBuffers(s).writes);
  }
}

export function buildModule(p: KProgram, target: TargetCaps, opts: BuildOptions = {}): BuiltModule {
  const isa = programVectorKind(p, target);
  singleChipOnly(p, 'wasm');
  checkSupported(p, p.steps);
  refuseInputCaches(p, 'wasm');
  refuseRoundedActivations(p, 'wasm');
  const shapes = programShapes(p);
  const maxThreads = Math.max(1, Math.floor(opts.threads ?? 1));
  const perThread = scratchBytes(shapes, p.steps);
  const threads: ThreadLayout | undefined = maxThreads > 1 ? { max: maxThreads, stride: Math.ceil(perThread / 64) * 64 } : undefined;
  const layout = planLayout(p, target.alignment, threads ? CONTROL_BYTES + threads.max * threads.stride : perThread, sharedBytes(shapes, p.steps));
  const m = new binaryen.Module();
  try {
    const simd = isa === 'simd128';
    const relaxed = simd && usesRelaxedSimd(target);
    m.setFeatures(
      binaryen.Features.MVP |
        binaryen.Features.BulkMemory |
        binaryen.Features.BulkMemoryOpt |
        binaryen.Features.NontrappingFPToInt |
        binaryen.Features.SignExt |
        binaryen.Features.MutableGlobals |
        (simd ? binaryen.Features.SIMD128 : 0) |
        (relaxed ? binaryen.Features.RelaxedSIMD : 0) |
        (threads ? binaryen.Features.Atomics : 0),
    );
    if (threads) {
      // One memory shared by every thread's instance: imported, shared, and so with a declared
      // maximum (all of wasm32's, so that memory.grow keeps working).
      m.setMemory(layout.initialPages, MAX_PAGES, 'memory', [], true);
      m.addMemoryImport('0', 'env', 'memory', true);
      buildThreadSupport(m, layout.scratchBase);
    } else m.setMemory(layout.initialPages, 65536, 'memory');
    const env: ProgramEnv = { ...shapes, m, program: p, target, layout, math: new MathLib(m), lanes: VECTOR_LANES[isa]!, relaxed, threads };
    const top = renderSteps(env, p.steps, 0, { n: 0 }, opts.exportKernels ?? false);
    const f = new KernelFn(env, 'forward', 0);
    const T = f.params[0];
    // T outside 0..maxTokens traps (the loader checks first and says why).
    f.finish([m.if(m.i32.gt_u(f.get(T), i32c(m, layout.maxTokens)), m.unreachable()), ...sequence(f, p.steps, top, () => [f.get(T)], 'synced')]);
    m.addFunctionExport('forward', 'forward');
    if (!m.validate()) throw new Error(`wasm backend: binaryen rejected the module built for ${p.name}`);
    if (opts.optimize ?? true) {
      binaryen.setOptimizeLevel(3);
      binaryen.setShrinkLevel(0);
      // Kernels stay functions of their own (readable .wat, one per kernel); only helpers inline.
      binaryen.setOneCallerInlineMaxSize(0);
      binaryen.setFlexibleInlineMaxSize(0);
      m.optimize();
      if (!m.validate()) throw new Error(`wasm backend: the optimised module for ${p.name} does not validate`);
    }
    const binary = m.emitBinary();
    const text = m.emitText();
    return { binary, text, manifest: manifestOf(p, target, layout, simd, relaxed, threads), layout };
  } finally {
    m.dispose();
  }
}

/** A call of a rendered step, given the index arguments (T, then the enclosing loops' indices). */
type StepCall = (args: Expr[]) => Expr;

/**
 * Steps every thread runs, each taking its share (GEMMs split over experts, rows or column
 * panels; attention and MLA over rows or decode ranges; a loop, which syncs inside); the rest (router, moe_align, ops, copies) runs on
 * thread 0 alone.
 */
const sharedStep = (s: Step): boolean => s.kind === 'grouped_gemm' || s.kind === 'gemm' || s.kind === 'loop' || s.kind === 'attention' || s.kind === 'mla_attention';

/**
 * The calls of `steps` in order, with what the threaded build needs between them: a barrier
 * after each shared step and before a shared step that follows thread-0 work, thread-0 steps
 * guarded by the thread index. `start`: whether every thread's writes are visible on entry.
 * Always ends synced (a loop ends synced too). The one-thread
 * build gets the calls as they are.
 */
function sequence(f: KernelFn, steps: readonly Step[], calls: StepCall[], args: () => Expr[], start: 'synced' | 'serial'): Expr[] {
  if (!f.env.threads) return calls.map((call) => call(args()));
  const out: Expr[] = [];
  let state = start;
  steps.forEach((s, i) => {
    if (sharedStep(s)) {
      if (state === 'serial') out.push(...f.barrier());
      out.push(calls[i](args()), ...(s.kind === 'loop' ? [] : f.barrier()));
      state = 'synced';
    } else {
      out.push(f.onThread0([calls[i](args())]));
      state = 'serial';
    }
  });
  if (state === 'serial') out.push(...f.barrier());
  return out;
}

/** Spins before a thread sleeps at the barrier: a GEMM share ends within microseconds of another's. */
const BARRIER_SPINS = 4096;

/**
 * The threaded build's globals (`tid`, `nthreads`, set by `set_thread`) and barrier: a count
 * and a generation in the control words at `scratchBase`. The last thread to arrive resets the
 * count, bumps the generation and wakes the sleepers; the others spin on the generation a
 * little, then sleep on it (`memory.atomic.wait32`, which a page's main thread may not do: the
 * browser runs threads from a worker).
 */
function buildThreadSupport(m: binaryen.Module, ctl: number): void {
  m.addGlobal(TID, binaryen.i32, true, m.i32.const(0));
  m.addGlobal(NTHREADS, binaryen.i32, true, m.i32.const(1));
  const set = new FnBuilder(m, 'set_thread', [binaryen.i32, binaryen.i32]);
  set.finish([m.global.set(TID, set.get(set.params[0])), m.global.set(NTHREADS, set.get(set.params[1]))]);
  m.addFunctionExport('set_thread', 'set_thread');
  const f = new FnBuilder(m, BARRIER, []);
  const gen = f.i32();
  const spin = f.i32();
  const n = m.global.get(NTHREADS, binaryen.i32);
  const at = (word: number): Expr => i32c(m, ctl + word);
  const generation = (): Expr => m.i32.atomic.load(0, at(CONTROL.generation));
  f.finish([
    m.if(m.i32.le_s(n, m.i32.const(1)), m.return()),
    f.set(gen, generation()),
    m.if(
      m.i32.eq(m.i32.atomic.rmw.add(0, at(CONTROL.count), m.i32.const(1)), m.i32.sub(m.global.get(NTHREADS, binaryen.i32), m.i32.const(1))),
      m.block(null, [
        m.i32.atomic.store(0, at(CONTROL.count), m.i32.const(0)),
        m.drop(m.i32.atomic.rmw.add(0, at(CONTROL.generation), m.i32.const(1))),
        m.drop(m.memory.atomic.notify(at(CONTROL.generation), m.global.get(NTHREADS, binaryen.i32))),
        m.return(),
      ]),
    ),
    f.forRange(spin, m.i32.const(0), i32c(m, BARRIER_SPINS), [m.if(m.i32.ne(generation(), f.get(gen)), m.return())]),
    m.loop('sleep', m.block(null, [m.drop(m.memory.atomic.wait32(at(CONTROL.generation), f.get(gen), (m.i64.const as unknown as (v: bigint) => Expr)(-1n))), m.br('sleep', m.i32.eq(generation(), f.get(gen)))])),
  ]);
}

/** Renders each step as a function; returns how to call them in order. */
function renderSteps(env: ProgramEnv, steps: readonly Step[], depth: number, counter: { n: number }, exported: boolean): StepCall[] {
  const m = env.m;
  return steps.map((s) => {
    const name = s.kind === 'loop' ? `loop${counter.n++}` : `k${counter.n++}_${s.kind === 'op' ? s.op : s.kind}`;
    if (s.kind === 'loop') renderLoop(env, s, name, depth, counter, exported);
    else if (s.kind === 'router') buildRouter(env, s, name, depth);
    else if (s.kind === 'moe_align') buildMoeAlign(env, s, name, depth);
    else if (s.kind === 'grouped_gemm') buildGroupedGemm(env, s, name, depth);
    else if (s.kind === 'gemm') buildGemm(env, s, name, depth);
    else if (s.kind === 'op') buildOp(env, s, name, depth);
    else if (s.kind === 'attention') buildAttention(env, s, name, depth);
    else if (s.kind === 'mla_attention') buildMla(env, s, name, depth);
    // singleChipOnly stops such programs before they get here.
    else throw new Error(`wasm: the ${s.kind} kernel has no Wasm rendering yet`);
    if (exported) m.addFunctionExport(name, name);
    return (args: Expr[]) => m.call(name, args, binaryen.none);
  });
}

function renderLoop(env: ProgramEnv, l: LoopStep, name: string, depth: number, counter: { n: number }, exported: boolean): void {
  const m = env.m;
  const body = renderSteps(env, l.body, depth + 1, counter, exported);
  // A loop function takes what a kernel at its depth takes: (T, indices of the loops around it).
  const f = new KernelFn(env, name, depth);
  const copies = (pairs: ReadonlyArray<{ from: string; to: string }>, what: string): Expr[] => {
    const froms = new Set(pairs.map((c) => c.from));
    const chained = pairs.find((c) => froms.has(c.to) && c.to !== c.from);
    if (chained) fail('E701', `${name}: the ${what} copy into ${chained.to} overwrites another copy's source; the wasm backend copies one pair at a time`);
    return pairs.filter((c) => c.from !== c.to).map((c) => m.memory.copy(f.addr(c.to), f.addr(c.from), m.i32.shl(f.elements(c.to), m.i32.const(2))));
  };
  const i = f.i32();
  const init = copies(l.init ?? [], 'init');
  const carried = copies(l.carried, 'carried');
  const args = (): Expr[] => [...f.params.map((q) => f.get(q)), f.get(i)];
  // Threads: copies on thread 0; each iteration starts as after thread-0 work (conservative).
  const body0 = sequence(f, l.body, body, args, init.length > 0 || carried.length > 0 ? 'serial' : 'synced');
  f.finish([
    ...(init.length > 0 ? [f.onThread0(init)] : []),
    f.forRange(i, m.i32.const(0), i32c(m, l.count), [...body0, ...(carried.length > 0 ? [f.onThread0(carried)] : [])]),
    ...(env.threads && (init.length > 0 || carried.length > 0) ? f.barrier() : []),
  ]);
}

function manifestOf(p: KProgram, target: TargetCaps, layout: MemoryLayout, simd: boolean, relaxed: boolean, threads: ThreadLayout | undefined): WasmManifest {
  const io = (x: MemoryLayout['inputs'][number]): WasmManifest['inputs'][number] => ({ name: x.name, address: x.address, elements: x.elements, shape: x.shape, ...(x.int ? { int: true as const } : {}) });
  return {
    format: 'moec-wasm',
    version: 2,
    model: p.name,
    target: target.name,
    simd,
    ...(relaxed ? { relaxedSimd: true as const } : {}),
    ...(threads ? { threads: { max: threads.max, control: layout.scratchBase } } : {}),
    maxTokens: layout.maxTokens,
    memory: { initialPages: layout.initialPages, totalPages: layout.totalPages, callBytes: layout.callBytes },
    weights: {
      base: layout.weightsBase,
      bytes: layout.weights.bytes,
      align: layout.weights.align,
      entries: layout.weights.entries.map((e) => {
        const quant = p.buffers.find((b) => b.name === e.name)?.quant;
        return { name: e.name, dtype: e.dtype as ManifestWeight['dtype'], shape: e.shape, offset: e.offset, bytes: e.bytes, ...(quant ? { quant: { ...quant } } : {}) };
      }),
    },
    inputs: layout.inputs.map(io),
    outputs: layout.outputs.map(io),
    ...(layout.state ? { state: { maxContext: layout.state.maxContext, past: layout.state.past, buffers: layout.state.buffers.map((b) => ({ name: b.name, address: b.address, shape: b.shape })) } } : {}),
    arena: { base: layout.arenaBase, bytes: layout.arenaBytes },
    scratch: { base: layout.scratchBase, bytes: layout.scratchBytes },
  };
}
