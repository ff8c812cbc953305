/**
 * @fileoverview Pass `lower-kernels`: fused graph IR → kernel IR.
 *
 * - Weight-only computation (reading weights, packing them: concat, reshape, transpose) in
 *   `main` moves into the graph function `pack`, run once at load time; each packed or raw
 *   weight a kernel reads becomes a `weight` buffer.
 * - `moe_router` → one `router` kernel. `moe_experts` → `moe_align` (group token slots by
 *   expert into blocks) + a grouped GEMM over gathered token rows with the activation (or
 *   gated unit) as epilogue + a grouped GEMM whose epilogue is the weighted combine.
 * - `matmul` → a dense `gemm` (bias as epilogue); `attention` → an `attention` kernel, its
 *   cache inputs turned into state with a context bound (`lower-attention.ts`); every other
 *   op → an `op` kernel, and the elementwise ones left after the tails fuse into GEMMs →
 *   `elementwise` chains (`elementwise-chains.ts`).
 * - `repeat` → a `loop` over the body's kernels with stacked weights sliced per layer.
 * - A quantized weight (`TensorType.quant`) becomes a buffer of its codes whose `quant`
 *   names an f32 weight buffer of its scales, with the concrete axis and group; a stacked
 *   one's scales are sliced per layer alongside it. `pack` returns the quantized values
 *   and `packedBuffers` (ir/kweights.ts) splits them into the two buffers.
 *
 * Precondition: verified graph IR (normally after the fusion passes). Postcondition: a
 * kernel program whose interpretation equals the graph's (`kinterp.ts`), untiled and
 * unplanned: `tile` and `plan-memory` run next. Block sizes of `moe_align` start at 16 and
 * the tiler resizes them with `resizeAlignBuffers`.
 */
import { type Dim, dimAdd, dimMul } from '../../ir/dims.ts';
import { type Func, type Module, type Node, type Value, findFunc, mainFunc } from '../../ir/graph/graph.ts';
import type { Epilogue, KBuffer, KProgram, Step } from '../../ir/kernel/kernel.ts';
import { scaleShape } from '../../ir/quant.ts';
import { actOf, resolveQuant } from '../../ir/quant-type.ts';
import type { TensorType } from '../../ir/types.ts';
import { cloneModule } from './clone.ts';
import { fuseElementwiseChains } from './elementwise-chains.ts';
import type { Pass } from './pass.ts';
import { fail } from '../../ir/diagnostics.ts';
import { kernelBuffers } from '../../ir/kernel/walk.ts';
import { cachesToState, lowerAttention, lowerMla } from './lower-attention.ts';

/** The padding block `moe_align` starts with, before the tiler picks the GEMM's tile height. */
export const DEFAULT_BLOCK = 16;

/** Ops that only rearrange weights; in `main` they run once, at load time. */
const PACK_OPS = new Set(['weight', 'concat', 'reshape', 'transpose', 'slice']);

class Lowerer {
  readonly buffers = new Map<string, KBuffer>();
  /** Graph value → buffer name. */
  private readonly bufferOf = new Map<Value, string>();

  constructor(readonly m: Module) {}

  private unique(hint: string): string {
    let name = hint;
    for (let i = 1; this.buffers.has(name); i++) name = `${hint}_${i}`;
    return name;
  }

  /**
   * Declares a buffer for a value (once) and returns its name. A quantized weight gets a
   * second, f32 weight buffer for its scales (`<name>.scales`), which its `quant` names.
   */
  buffer(v: Value, kind: KBuffer['kind'], prefix = ''): string {
    const have = this.bufferOf.get(v);
    if (have) return have;
    const name = this.unique(prefix + v.name);
    const b: KBuffer = { name, dtype: v.type.dtype, shape: v.type.shape, kind };
    this.buffers.set(name, b);
    if (v.type.quant) {
      const shape = v.type.shape as number[];
      const { axis, group } = resolveQuant(v.type.quant, shape);
      const scales = this.unique(`${name}.scales`);
      this.buffers.set(scales, { name: scales, dtype: 'f32', shape: scaleShape(shape, axis, group), kind: 'weight' });
      b.quant = { scales, axis, group, ...actOf(v.type.quant) };
    }
    this.bufferOf.set(v, name);
    return name;
  }

  /** A buffer that no graph value names (kernel-internal intermediates). */
  temp(hint: string, type: TensorType): string {
    const name = this.unique(hint);
    this.buffers.set(name, { name, dtype: type.dtype, shape: type.shape, kind: 'temp' });
    return name;
  }

  alias(v: Value, name: string): void {
    this.bufferOf.set(v, name);
  }

  /** The buffer of a value, if it has one (weights that no kernel reads have none). */
  lookup(v: Value): string | undefined {
    return this.bufferOf.get(v);
  }

  name(v: Value): string {
    const n = this.bufferOf.get(v);
    if (!n) throw new Error(`lower-kernels: %${v.name} has no buffer`);
    return n;
  }

  /** Lowers the nodes of a function (not its weight packing) into steps. */
  steps(nodes: Node[], prefix: string): Step[] {
    const out: Step[] = [];
    for (const n of nodes) {
      for (const o of n.outputs) if (n.op !== 'repeat') this.buffer(o, 'temp', prefix);
      out.push(...this.node(n, prefix));
    }
    return out;
  }

  private node(n: Node, prefix: string): Step[] {
    const b = (v: Value): string => this.name(v);
    switch (n.op) {
      case 'moe_router':
        return [this.router(n)];
      case 'moe_experts':
        return this.experts(n, prefix);
      case 'matmul': {
        const epilogue: Epilogue[] = n.inputs[2] ? [{ kind: 'bias', bias: b(n.inputs[2]) }] : [];
        return [{ kind: 'gemm', a: b(n.inputs[0]), w: b(n.inputs[1]), transB: n.attrs.transpose_b as boolean, out: b(n.outputs[0]), epilogue }];
      }
      case 'repeat':
        return [this.loop(n)];
      case 'attention':
        return [lowerAttention(refuseQuantized(n), b)];
      case 'mla_attention':
        return [lowerMla(refuseQuantized(n), b)];
      default:
        refuseQuantized(n);
        return [{ kind: 'op', op: n.op, attrs: n.attrs, inputs: n.inputs.map(b), outputs: n.outputs.map(b) }];
    }
  }

  private router(n: Node): Step {
    const a = n.attrs;
    const [x, w, ...rest] = n.inputs.map((v) => this.name(v));
    const take = (flag: string): string | undefined => (a[flag] ? rest.shift() : undefined);
    const bias = take('has_bias');
    const selectBias = take('has_select_bias');
    const sharedGate = take('has_shared_gate');
    return {
      kind: 'router',
      x,
      w,
      ...(bias ? { bias } : {}),
      ...(selectBias ? { selectBias } : {}),
      ...(sharedGate ? { sharedGate } : {}),
      indices: this.name(n.outputs[0]),
      weights: this.name(n.outputs[1]),
      experts: n.inputs[1].type.shape[0] as number,
      k: a.k as number,
      score: a.score as 'softmax' | 'sigmoid' | 'none',
      select:
        a.select === 'group_topk'
          ? { kind: 'group_topk', groups: a.groups as number, topkGroups: a.topk_groups as number, groupScore: a.group_score as 'sum_top2' | 'max' }
          : { kind: 'topk' },
      postSoftmax: a.post_softmax as boolean,
      normalize: a.normalize as boolean,
      scale: a.scale as number,
      ...(a.capacity_factor !== null ? { capacityFactor: a.capacity_factor as number } : {}),
      shared: a.shared as number,
    };
  }

  private experts(n: Node, prefix: string): Step[] {
    const a = n.attrs;
    const [x, indices, weights, wIn, wOut] = n.inputs;
    const experts = wIn.type.shape[0] as number;
    const k = indices.type.shape[1] as number;
    const tokens = x.type.shape[0];
    const hint = prefix + n.outputs[0].name;
    const rows = paddedRows(tokens, k, experts, DEFAULT_BLOCK);
    const sorted = this.temp(`${hint}.sorted`, { dtype: 'i32', shape: [rows] });
    const blockExpert = this.temp(`${hint}.block_expert`, { dtype: 'i32', shape: [blockCount(tokens, k, experts)] });
    const count = this.temp(`${hint}.count`, { dtype: 'i32', shape: [1] });
    const tb = a.transpose_b as boolean;
    const nIn = (tb ? wIn.type.shape[1] : wIn.type.shape[2]) as number;
    const gated = a.act === 'swiglu' || a.act === 'swiglu_clamped';
    const hidden = this.temp(`${hint}.hidden`, { dtype: x.type.dtype, shape: [rows, gated ? nIn / 2 : nIn] });
    const first: Epilogue[] = [];
    const second: Epilogue[] = [];
    let next = 5;
    if (a.has_in_bias) first.push({ kind: 'bias', bias: this.name(n.inputs[next++]) });
    if (a.has_out_bias) second.push({ kind: 'bias', bias: this.name(n.inputs[next++]) });
    if (gated)
      first.push({
        kind: 'glu',
        fn: a.act as 'swiglu' | 'swiglu_clamped',
        layout: a.glu_layout as 'concat' | 'interleaved',
        ...(a.act === 'swiglu_clamped' ? { limit: a.limit as number, alpha: a.alpha as number } : {}),
      });
    else if (a.act !== 'none') first.push({ kind: 'act', fn: a.act as 'relu' | 'silu' | 'gelu' | 'gelu_tanh' | 'sigmoid' });
    second.push({ kind: 'combine', weights: this.name(weights) });
    const idx = this.name(indices);
    const common = { sorted, blockExpert, count, k, transB: tb, sortedFromTokens: 1, indices: idx };
    return [
      { kind: 'moe_align', indices: idx, experts, k, block: DEFAULT_BLOCK, sorted, blockExpert, count },
      { kind: 'grouped_gemm', a: this.name(x), gather: true, w: this.name(wIn), out: hidden, epilogue: first, ...common },
      { kind: 'grouped_gemm', a: hidden, gather: false, w: this.name(wOut), out: this.name(n.outputs[0]), epilogue: second, ...common },
    ];
  }

  private loop(n: Node): Step {
    const body = findFunc(this.m, n.attrs.body as string)!;
    const carried = n.attrs.carried as number;
    const fixed = carried + (n.attrs.invariant as number);
    const inner = `${body.name}.`;
    const slices: Array<{ stacked: string; slice: string }> = [];
    const init: Array<{ from: string; to: string }> = [];
    body.params.forEach((p, i) => {
      const outer = this.name(n.inputs[i]);
      if (i >= fixed) {
        // A slice is what its stack is: a layer's weights, or its part of a stacked input (a KV cache).
        const slice = this.buffer(p, this.buffers.get(outer)!.kind === 'input' ? 'input' : 'weight', inner);
        slices.push({ stacked: outer, slice });
        // A quantized weight's scales are stacked alike, and sliced with it.
        const q = this.buffers.get(slice)!.quant;
        if (q) slices.push({ stacked: this.buffers.get(outer)!.quant!.scales, slice: q.scales });
      }
      // A carried value gets its own buffer, filled from the caller's value before the loop.
      else if (i < carried) init.push({ from: outer, to: this.buffer(p, 'temp', inner) });
      else this.alias(p, outer);
    });
    const steps = this.steps(body.body, inner);
    const carriedPairs = body.results.map((r, i) => ({ from: this.name(r.value), to: this.name(body.params[i]) }));
    // After the loop the caller reads each carried value from the body's last result.
    n.outputs.forEach((o, i) => this.alias(o, this.name(body.results[i].value)));
    return { kind: 'loop', count: n.attrs.count as number, slices, carried: carriedPairs, init, body: steps };
  }
}

/** Only the GEMM and router kernels dequantize: any other kernel would read codes as values (E311). */
function refuseQuantized(n: Node): Node {
  const q = n.inputs.find((v) => v.type.quant);
  if (q)
    fail(
      'E311',
      `${n.op} reads the quantized weight %${q.name}, but only the fused GEMM and router kernels dequantize, and this ${n.op} was not fused`,
      n.span,
      'quantize the weights of one expert MLP alike (gate and up with the same dtype and group), or keep this weight f32',
    );
  return n;
}

/** How many times each buffer is read, anywhere in the program (loops and outputs included). */
function readCounts(p: { steps: Step[]; outputs: Array<{ buffer: string }> }): Map<string, number> {
  const counts = new Map<string, number>();
  const read = (b: string | undefined): void => {
    if (b !== undefined) counts.set(b, (counts.get(b) ?? 0) + 1);
  };
  const walk = (steps: Step[]): void => {
    for (const s of steps) {
      if (s.kind === 'loop') {
        s.carried.forEach((c) => read(c.from));
        s.init?.forEach((c) => read(c.from));
        s.slices.forEach((c) => read(c.stacked));
        walk(s.body);
        continue;
      }
      if (s.kind === 'op') s.inputs.forEach(read);
      else if (s.kind === 'gemm' || s.kind === 'grouped_gemm') {
        read(s.a);
        read(s.w);
        if (s.kind === 'grouped_gemm') [s.sorted, s.blockExpert, s.count, s.indices, s.init].forEach(read);
        for (const e of s.epilogue) read(e.kind === 'bias' ? e.bias : e.kind === 'combine' ? e.weights : undefined);
      } else if (s.kind === 'router') [s.x, s.w, s.bias, s.selectBias, s.sharedGate].forEach(read);
      else if (s.kind === 'moe_align') read(s.indices);
      else if (s.kind === 'attention' || s.kind === 'mla_attention') kernelBuffers(s).reads.forEach(read);
    }
  };
  walk(p.steps);
  p.outputs.forEach((o) => read(o.buffer));
  return counts;
}

const EPILOGUE_ACTS: Record<string, 'relu' | 'silu' | 'sigmoid' | 'gelu' | 'gelu_tanh'> = { relu: 'relu', silu: 'silu', sigmoid: 'sigmoid' };

/**
 * Elementwise tails fuse into the kernel that produces their input: an activation after a
 * GEMM becomes its epilogue, and a residual added to a combined expert output becomes the
 * combine's starting value, so neither intermediate is written out.
 */
function fuseTails(p: KProgram): void {
  const reads = readCounts(p);
  const outputs = new Set(p.outputs.map((o) => o.buffer));
  const walk = (steps: Step[]): Step[] => {
    const out: Step[] = [];
    for (const s of steps) {
      if (s.kind === 'loop') {
        s.body = walk(s.body);
        out.push(s);
        continue;
      }
      const prev = out[out.length - 1];
      const fusable = (buf: string): boolean => reads.get(buf) === 1 && !outputs.has(buf);
      if (s.kind === 'op' && prev && (prev.kind === 'gemm' || prev.kind === 'grouped_gemm')) {
        if (s.op === 'glu' && prev.kind === 'gemm' && s.inputs[0] === prev.out && fusable(prev.out)) {
          const fn = s.attrs.fn as 'swiglu' | 'swiglu_clamped';
          const clamp = fn === 'swiglu_clamped' ? { limit: s.attrs.limit as number, alpha: s.attrs.alpha as number } : {};
          prev.epilogue.push({ kind: 'glu', fn, layout: s.attrs.layout as 'concat' | 'interleaved', ...clamp });
          p.buffers = p.buffers.filter((b) => b.name !== prev.out);
          prev.out = s.outputs[0];
          continue;
        }
        const act = s.op === 'gelu' ? (s.attrs.approximate === 'tanh' ? 'gelu_tanh' : 'gelu') : EPILOGUE_ACTS[s.op];
        const combined = prev.kind === 'grouped_gemm' && prev.epilogue.some((e) => e.kind === 'combine');
        if (act && s.inputs[0] === prev.out && fusable(prev.out) && !combined) {
          prev.epilogue.push({ kind: 'act', fn: act });
          p.buffers = p.buffers.filter((b) => b.name !== prev.out);
          prev.out = s.outputs[0];
          continue;
        }
        if (s.op === 'add' && combined && prev.kind === 'grouped_gemm' && prev.init === undefined && s.inputs.includes(prev.out) && fusable(prev.out)) {
          const residual = s.inputs[0] === prev.out ? s.inputs[1] : s.inputs[0];
          const rb = p.buffers.find((b) => b.name === residual);
          const ob = p.buffers.find((b) => b.name === s.outputs[0]);
          if (rb && ob && rb.shape.length === ob.shape.length && rb.shape.every((d, i) => JSON.stringify(d) === JSON.stringify(ob.shape[i]))) {
            prev.init = residual;
            p.buffers = p.buffers.filter((b) => b.name !== prev.out);
            prev.out = s.outputs[0];
            continue;
          }
        }
      }
      out.push(s);
    }
    return out;
  };
  p.steps = walk(p.steps);
}

/** Rows of the aligned token-slot list: each active expert pads its slots up to a block. */
export function paddedRows(tokens: Dim, k: number, experts: number, block: number): Dim {
  return dimAdd(dimMul(tokens, k), experts * (block - 1));
}

/** An upper bound on the number of blocks: at most one partial block per expert. */
export function blockCount(tokens: Dim, k: number, experts: number): Dim {
  return dimAdd(dimMul(tokens, k), experts);
}

/**
 * The weight packing of `main`: the weight-only nodes (weight reads and rearrangements of
 * weights), and the values among them that kernels or repeats read.
 */
function splitPacking(main: Func): { pack: Node[]; rest: Node[] } {
  const packed = new Set<Value>();
  const pack: Node[] = [];
  const rest: Node[] = [];
  for (const n of main.body) {
    if (PACK_OPS.has(n.op) && n.inputs.every((v) => packed.has(v))) {
      pack.push(n);
      n.outputs.forEach((o) => packed.add(o));
    } else rest.push(n);
  }
  return { pack, rest };
}

/**
 * Drops the stacked-weight parameters a repeat body no longer reads (the originals of
 * weights that fusion packed), and the operands that fed them, so no kernel program carries
 * weights it never reads.
 */
function pruneUnusedWeightParams(m: Module): void {
  for (const f of m.funcs)
    for (const n of f.body) {
      if (n.op !== 'repeat') continue;
      const body = findFunc(m, n.attrs.body as string)!;
      const fixed = (n.attrs.carried as number) + (n.attrs.invariant as number);
      const used = new Set(body.body.flatMap((b) => b.inputs));
      const keep = body.params.map((p, i) => i < fixed || used.has(p));
      body.params = body.params.filter((_, i) => keep[i]);
      n.inputs = n.inputs.filter((_, i) => keep[i]);
    }
}

/**
 * Every output of a kernel program is a buffer some kernel writes, once. A model that
 * returns a weight or an input unchanged, or one value as two outputs, has nothing to
 * compute for it: an input error (it was an internal error: no buffer, or one buffer twice).
 */
function checkComputedOutput(main: Func, i: number, buffer: string | undefined, buffers: Map<string, KBuffer>): void {
  const r = main.results[i];
  const earlier = main.results.slice(0, i).find((o) => o.value === r.value);
  const kind = buffer === undefined ? 'weight' : buffers.get(buffer)!.kind;
  const what = earlier ? `the same value as output \`${earlier.name}\`` : kind === 'weight' ? 'a weight, unchanged' : kind === 'input' ? 'an input, unchanged' : undefined;
  if (what) fail('E207', `output \`${r.name}\` is ${what}: a compiled model's outputs must each be computed`, r.value.span, 'compute it (or copy it outside the model); the reference interpreter (moec run) accepts such models');
}

/** The pass from graph IR to kernel IR (`lowerToKernels`), recording the pipeline's token bound in the program. */
export const lowerKernelsPass: Pass<'graph', 'kernel'> = {
  name: 'lower-kernels',
  summary: 'lower the fused graph to a kernel program over named buffers, one kernel per fused region',
  level: 'graph',
  lowersTo: 'kernel',
  requires: [],
  essential: 'the tiler, the memory planner and every backend work on the kernel program it produces',
  run: (m, ctx) => lowerToKernels(m, ctx.maxTokens, ctx.maxContext),
};

/**
 * Lowers a (fused) graph module into a kernel program; `maxTokens`, the token bound (worked
 * out once, by `resolveMaxTokens`), becomes the program's `maxTokens`, which the tiler, the
 * planner and the backends read.
 */
export function lowerToKernels(input: Module, maxTokens?: number, maxContext?: number): KProgram {
  const m = cloneModule(input);
  // Inner bodies first, so a nested body's pruned operands are not counted as uses above.
  for (let i = 0; i < m.funcs.length; i++) pruneUnusedWeightParams(m);
  const main = mainFunc(m);
  const lw = new Lowerer(m);
  const { pack, rest } = splitPacking(main);
  const inputs = main.params.map((p) => ({ name: p.name, buffer: lw.buffer(p, 'input') }));
  const packedValues = new Set(pack.flatMap((n) => n.outputs));
  const readByKernels = new Set(rest.flatMap((n) => n.inputs).filter((v) => packedValues.has(v)));
  for (const v of readByKernels) lw.buffer(v, 'weight');
  const steps = lw.steps(rest, '');
  const outputs = main.results.map((r, i) => {
    checkComputedOutput(main, i, lw.lookup(r.value), lw.buffers);
    const name = lw.name(r.value);
    const buf = lw.buffers.get(name)!;
    if (buf.kind === 'temp') buf.kind = 'output';
    return { name: r.name, buffer: name };
  });
  // The pack function: the weight-only nodes of main, returning what kernels read.
  const packFunc: Func = {
    name: uniqueFuncName(m, 'pack'),
    params: [],
    body: pack,
    results: [...readByKernels].map((v) => ({ name: lw.name(v), value: v })),
  };
  m.funcs = [...m.funcs.filter((f) => f !== main), packFunc];
  // Main is no longer needed by the kernel program, but the module keeps a trivial one so it
  // stays a valid graph module (weights, bodies and pack are what matter).
  m.funcs.push({ name: 'main', params: [], body: [], results: [] });
  const program: KProgram = { name: m.name, module: m, pack: packFunc.name, buffers: [...lw.buffers.values()], steps, inputs, outputs, ...(maxTokens !== undefined && { maxTokens }) };
  fuseTails(program);
  fuseElementwiseChains(program, readCounts(program));
  if (maxContext !== undefined) cachesToState(program, maxContext);
  return program;
}

function uniqueFuncName(m: Module, hint: string): string {
  let name = hint;
  for (let i = 1; m.funcs.some((f) => f.name === name); i++) name = `${hint}_${i}`;
  return name;
}
