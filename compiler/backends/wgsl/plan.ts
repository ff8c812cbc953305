/**
 * @fileoverview Renders a planned kernel program into WGSL kernels and the schedule of one
 * forward: which pipeline runs with which parameter record and grid, and which copies run
 * between them, as a function of the token count.
 *
 * Memory, all sized by the T of the call (the runtime grows the buffers when a larger T
 * comes): one GPU buffer per arena part of the memory plan (temps and outputs at its
 * offsets, affine in T; one part unless the arena passes the storage binding size at the
 * bound), then one more for the model inputs and this backend's scratch (combine rows by
 * slot; a capacity-limited router's raw choices), at offsets affine in T too; the packed
 * weights are further buffers (`weightLayout`, 256-byte aligned, in chunks). The state (KV
 * caches, at the context bound) is arena parts after those, on GPU buffers of whole layers
 * that never resize (`state.ts`); a dispatch binds its layer's range. A kernel binds the
 * arena buffers its operands live in (`arenaParts`). Offsets reach the kernels as
 * parameters, so a loop iteration binds its slices by moving them and a plan's offsets move
 * with T; parameters that depend on other sizes (the cached positions L) are late, filled in
 * per call, so one schedule serves every L.
 *
 * Nothing here reads GPU memory: the grouped GEMM's sorted path runs a grid sized for the
 * most blocks T tokens can need, and each workgroup exits past the used rows that
 * moe_align counted on the GPU; which path (decode or sorted) runs follows from T alone.
 */
import { type Dim, dimAdd, dimMul, dimProduct, dimSymbols, dimToString, evalShape } from '../../../ir/dims.ts';
import { TOKEN_SYMBOL, affine, affineParts, arenaBytesAt, arenaPartCount, atTokens } from '../../../ir/kernel/memory.ts';
import { expertCapacity } from '../../../ir/graph/interp-kernels.ts';
import type { GroupedGemmKernel, GemmKernel, KBuffer, KProgram, MoeAlignKernel, OpKernel, RouterKernel, Step } from '../../../ir/kernel/kernel.ts';
import { alignsBySorted, loopSlices } from '../../../ir/kernel/walk.ts';
import type { QuantDType } from '../../../ir/quant.ts';
import { isIntDType, numel } from '../../../ir/tensor.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { type TargetCaps, programVectorKind } from '../../target/caps.ts';
import { type WeightLayout, weightLayout } from '../weights.ts';
import { alignShader } from './align.ts';
import { EXPERT_RANGE, type GemmSpec, combinePass, decodeGemm, gemmOperands, tileCols, tiledGemm } from './gemm.ts';
import { addShader, checkOp, rmsnormShader } from './ops.ts';
import { capacityShader, routerShader } from './router.ts';
import { type Chunk, type WeightRange, bindingOf, expertGroups, weightChunks as chunksOf } from './chunks.ts';
import { checkQuantized, elementBytes } from './quant.ts';
import { type Operand, PARAM_SLOTS, type ShaderEntry, type Space, arenaParts, workgroupOf } from './shader.ts';
import { singleChipOnly } from '../../../ir/kernel/ep.ts';
import { castShader, concatShader, elementwiseShader } from './elementwise.ts';
import { concatPieces } from '../../../ir/graph/concat-pieces.ts';
import { CHAIN_OPS } from '../../../ir/graph/elementwise.ts';
import { AXIS_OPS, axisLoop } from '../../../ir/graph/axis-ops.ts';
import { axisOpShader, groupTopkShader, topkShader } from './axis-ops.ts';
import { combineShader, dispatchShader, embeddingShader, gatherShader, groupedMatmulShader, ropeShader, routingShader } from './decoder.ts';
import { ropeGeometry } from '../../../ir/graph/rope-geometry.ts';
import { ropeFrequencies } from '../../../ir/graph/interp-attention.ts';
import { cannotRun, refuseRoundedActivations } from '../cannot-run.ts';
import { refuseInputCaches } from '../state-caches.ts';
import { type AttentionKernel, CONTEXT_DIM } from '../../../ir/kernel/attention.ts';
import type { MlaAttentionKernel } from '../../../ir/kernel/mla.ts';
import { type StateBuffer, type StateRange, stateLayout, stateRange } from './state.ts';
import { type CoreSpec, appendShader, attentionFeatures, mergeShader, mlaFeatures, mlaProjectShader, partialFloats, rowsShader, splitShader, wgslKeyTile } from './attention.ts';

export type { WeightRange } from './chunks.ts';
export type { StateBuffer } from './state.ts';

/** One pipeline: a kernel step's entry point (a step may have several: decode, sorted, combine). */
export interface WgslKernel {
  /** Unique name: the step's output buffer and the variant. */
  name: string;
  shader: ShaderEntry;
  operands: Operand[];
  /** Names of the parameters after T and the operand offsets. */
  extras: string[];
  /** Grid in workgroups as text in the program's sizes (`T`), for the manifest. */
  grid: string[];
  /** Token counts this variant runs at (the decode/sorted split), for the manifest. */
  runsWhen?: string;
}

export type Command =
  /**
   * `late`: parameters after `params` that depend on sizes other than T (the cached positions
   * L, a rope's first position): evaluated per call from its bindings, so a schedule (and its
   * bind groups) serves every L at one T.
   */
  | { kind: 'dispatch'; kernel: number; params: number[]; late?: Dim[]; grid: [number, number, number]; weights: WeightRange[]; state?: StateRange[] }
  /** Arena byte ranges (in arena buffer `part`) copied through the staging buffer: all sources read before any write. */
  | { kind: 'copy'; pairs: Array<{ from: ArenaPlace; to: ArenaPlace; bytes: number }> };

/** A byte offset in one of the arena buffers. */
export interface ArenaPlace {
  part: number;
  offset: number;
}

export interface Region {
  name: string;
  buffer: string;
  /** The arena buffer it lives in, and its byte offset there (affine in T). */
  part: number;
  offset: Dim;
  shape: Dim[];
  int: boolean;
}

export interface WgslPlan {
  program: KProgram;
  kernels: WgslKernel[];
  maxTokens: number;
  /**
   * Bytes of each arena buffer at these sizes: the memory plan's parts (the inputs and the
   * scratch after one of them), then a buffer of their own if they have one. Each a whole
   * number of words, at least one.
   */
  arenaBytes(bindings: Record<string, number>): number[];
  inputs: Region[];
  outputs: Region[];
  /** The scratch region: in the last arena buffer, at an offset affine in T; `bytes` at the bound. */
  scratch: { part: number; offset: Dim; bytes: number };
  /** Bytes of scratch the kernels use at these sizes (the guard test checks nothing writes past them). */
  scratchUsed(bindings: Record<string, number>): number;
  weights: WeightLayout;
  /**
   * The weights blob cut into GPU buffers at tensor boundaries, each at most the target's
   * storage binding size (so every range of one is bindable): blob byte ranges.
   */
  weightChunks: Chunk[];
  /** Bytes of the staging buffer the loop copies go through: at the bound, and at these sizes. */
  stagingBytes: number;
  stagingAt(bindings: Record<string, number>): number;
  /** The kernels (indices into `kernels`) each kernel step renders to. */
  stepKernels: Map<Step, number[]>;
  /** The commands of one forward at these sizes. */
  schedule(bindings: Record<string, number>): Command[];
  /** What a schedule depends on (T and any size a buffer's shape has; not L or CTX, which reach the kernels as late parameters): schedules with one key are one. */
  scheduleKey(bindings: Record<string, number>): string;
  /** Arena buffers (`arenaBytes`); the state buffers are the arena parts after them. */
  arenaCount: number;
  /** The state (KV caches, at the context bound): arena parts on GPU buffers of their own, never resized (state.ts). */
  state: StateBuffer[];
}

const ALIGN = 256;
const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;
const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/** The grid of a shader with one invocation per item (n items, W per workgroup): x up to 65535 workgroups, then y. */
function flatGrid(n: number, W: number): [number, number, number] {
  const groups = ceilDiv(n, W);
  const x = Math.min(groups, 65535);
  return [x, ceilDiv(groups, x), 1];
}

/** `ceil(d / by)` as text. */
function ceilText(d: Dim, by: number): string {
  const s = dimToString(d);
  return by === 1 ? s : typeof d === 'number' ? String(ceilDiv(d, by)) : `ceil((${s})/${by})`;
}

/** Where a buffer is at run time: its space and byte offset (in arena buffer `part`, or in the weights blob). */
interface Loc {
  space: Space;
  offset: number;
  part: number;
}

/** Where a buffer is, for every T: its byte offset affine in T. */
interface StaticLoc {
  space: Space;
  offset: Dim;
  part: number;
}

type Emit = (bindings: Record<string, number>, loc: (name: string) => Loc, out: Command[]) => void;

/** Byte ranges (from the tensor's start) that weight operands bind instead of all of it, by role. */
type Parts = Record<string, { offset: number; bytes: number }>;

export function planWgsl(p: KProgram, target: TargetCaps): WgslPlan {
  if (p.arenaBytes === undefined || p.maxTokens === undefined) throw new Error('wgsl: the program is not planned (run the pipeline to plan-memory)');
  singleChipOnly(p, 'WGSL');
  refuseInputCaches(p, 'WGSL');
  refuseRoundedActivations(p, 'wgsl');
  programVectorKind(p, target);
  const maxB = { T: p.maxTokens };
  const byName = new Map(p.buffers.map((b) => [b.name, b]));
  const slices = loopSlices(p.steps);
  for (const b of p.buffers) {
    checkQuantized(b, byName);
    if (b.dtype !== 'f32' && !isIntDType(b.dtype) && !b.quant) fail('E309', `the WGSL backend stores f32 and i32 buffers, not ${b.name}: ${b.dtype}`, undefined, 'WebGPU has no f16 without the shader-f16 feature');
  }
  const weights = weightLayout(p, target.alignment > 0 ? Math.max(target.alignment, 4) : ALIGN);
  const bytesAt = (b: KBuffer, bindings: Record<string, number>): number => numel(evalShape(b.shape, bindings)) * elementBytes(b.dtype);
  const maxBinding = target.limits.maxStorageBufferBindingBytes ?? 2 ** 27;
  const maxStorage = target.limits.maxStorageBuffersPerStage ?? 8;
  const weightChunks = chunksOf(weights, maxBinding);

  // The inputs and the scratch (after the inputs) follow the smallest part of the plan, or
  // take a buffer of their own when that would pass the binding size at the bound; all at
  // offsets affine in T (both coefficients aligned, so aligned at every T).
  const alignAffine = (d: Dim): Dim => {
    const [a, c] = affineParts(d);
    return affine(alignUp(a, ALIGN), alignUp(c, ALIGN));
  };
  const parts = arenaPartCount(p);
  const partSizes: Dim[] = p.arenaParts ?? [p.arenaBytes];
  const smallest = partSizes.reduce<number>((best, d, k) => (atTokens(d, p.maxTokens!) < atTokens(partSizes[best], p.maxTokens!) ? k : best), 0);
  const ioBytesAtBound = p.inputs.reduce((n, i) => n + alignUp(bytesAt(byName.get(i.buffer)!, maxB), ALIGN), 0);
  const own = parts > 1 && atTokens(partSizes[smallest], p.maxTokens) + ioBytesAtBound > maxBinding;
  const io = own ? parts : smallest;
  let at: Dim = own ? 0 : alignAffine(partSizes[smallest]);
  const staticLoc = new Map<string, StaticLoc>();
  const inputs: Region[] = [];
  for (const i of p.inputs) {
    const b = byName.get(i.buffer)!;
    inputs.push({ name: i.name, buffer: b.name, part: io, offset: at, shape: b.shape, int: isIntDType(b.dtype) });
    staticLoc.set(b.name, { space: 'arena', part: io, offset: at });
    at = alignAffine(dimAdd(at, dimMul(dimProduct(b.shape), elementBytes(b.dtype))));
  }
  for (const b of p.buffers) {
    if (b.kind === 'weight' && !slices.has(b.name)) staticLoc.set(b.name, { space: 'weights', part: -1, offset: weights.entries.find((e) => e.name === b.name)!.offset });
    else if ((b.kind === 'temp' || b.kind === 'output') && !slices.has(b.name)) {
      if (b.offset === undefined) throw new Error(`wgsl: ${b.name} has no planned offset`);
      staticLoc.set(b.name, { space: 'arena', part: b.part ?? 0, offset: b.offset });
    }
  }
  // The state (KV caches) at the context bound: arena parts after the arena's buffers.
  const arenaCount = own ? parts + 1 : parts;
  const ctxB = { [CONTEXT_DIM]: p.maxContext ?? 0 };
  const state = stateLayout(p, p.buffers.filter((b) => b.kind === 'state' && !slices.has(b.name)), arenaCount, { maxBinding, maxBuffer: target.limits.maxBufferBytes ?? 2 ** 28 }, target.name);
  for (const st of state) staticLoc.set(st.name, { space: 'arena', part: st.part, offset: 0 });
  const scratchOffset = at;
  let scratchBytes = 4;
  let stagingBytes = 4;
  const stagingUses: Array<(b: Record<string, number>) => number> = [];
  const scratchUses: Array<(b: Record<string, number>) => number> = [];
  const outputs: Region[] = p.outputs.map((o) => {
    const b = byName.get(o.buffer)!;
    const l = staticLoc.get(b.name)!;
    return { name: o.name, buffer: b.name, part: l.part, offset: l.offset, shape: b.shape, int: isIntDType(b.dtype) };
  });

  // Static spaces and arena buffers (slices take their stacked buffer's) for the shaders.
  const space = new Map<string, Space>();
  for (const [n, l] of staticLoc) space.set(n, l.space);
  const partOf = (n: string): number => {
    const st = sliceOf.get(n);
    return st !== undefined ? partOf(st) : staticLoc.get(n)?.part ?? 0;
  };
  const sliceOf = new Map<string, string>();
  const walkSlices = (steps: readonly Step[]): void => {
    for (const s of steps)
      if (s.kind === 'loop') {
        for (const sl of s.slices) sliceOf.set(sl.slice, sl.stacked);
        walkSlices(s.body);
      }
  };
  walkSlices(p.steps);
  const spaceOf = (n: string): Space => {
    const st = sliceOf.get(n);
    return st !== undefined ? spaceOf(st) : space.get(n) ?? 'arena';
  };
  const operand = (role: string, buffer: string, write = false): Operand => {
    const b = byName.get(buffer);
    if (!b) throw new Error(`wgsl: no buffer ${buffer}`);
    const sp = spaceOf(buffer);
    if (write && sp !== 'arena') throw new Error(`wgsl: kernel writes the weight ${buffer}`);
    if (!b.quant) return { role, buffer, space: sp, int: isIntDType(b.dtype), write, ...(sp === 'arena' ? { part: partOf(buffer) } : {}) };
    const { scales, axis, group } = b.quant;
    return { role, buffer, space: sp, int: false, quant: { dtype: b.dtype as QuantDType, scales: `${role}_scale`, scalesBuffer: scales, shape: b.shape.map(staticDim), axis, group } };
  };
  /** The operand list with each quantized weight's scales right after it (its own binding and offset). */
  const withScales = (ops: Operand[]): Operand[] => ops.flatMap((o) => (o.quant ? [o, operand(o.quant.scales, o.quant.scalesBuffer)] : [o]));
  const scratchOp = (role: string, int: boolean, scratchAt?: Dim): Operand => ({ role, buffer: '<scratch>', space: 'arena', part: io, int, write: true, ...(scratchAt !== undefined ? { scratchAt } : {}) });
  const shapeOf = (n: string): Dim[] => byName.get(n)!.shape;
  const staticDim = (d: Dim): number => evalShape([d], maxB)[0];
  const lastDim = (n: string): number => staticDim(shapeOf(n)[shapeOf(n).length - 1]);

  const kernels: WgslKernel[] = [];
  const stepKernels = new Map<Step, number[]>();
  let current: number[] = [];
  const addKernel = (k: WgslKernel): number => {
    current.push(kernels.length);
    if (k.extras.length + k.operands.length + 1 > PARAM_SLOTS) throw new Error(`wgsl: ${k.name} needs more than ${PARAM_SLOTS} parameters`);
    const storage = arenaParts(k.operands).length + k.operands.filter((o) => o.space === 'weights').length;
    if (storage > maxStorage)
      fail('E505', `the WGSL kernel ${k.name} binds ${storage} storage buffers (${arenaParts(k.operands).length} arena parts and its weights), over ${target.name}'s ${maxStorage} per shader stage`, undefined, 'lower --max-tokens, so that the arena splits into fewer parts');
    kernels.push(k);
    return kernels.length - 1;
  };
  // Arena operands: their element offset. Weight operands: bound at their offset rounded
  // down to the binding alignment, the rest as the element offset.
  // (A quantized weight's offset counts codes: it may start inside a word.) `parts` bind a
  // byte range of some weight operands (by role) instead of the whole tensor.
  const operandPlaces = (ops: Operand[], loc: (n: string) => Loc, b: Record<string, number>, parts: Parts = {}): { params: number[]; weights: WeightRange[]; state: StateRange[] } => {
    const weightsOut: WeightRange[] = [];
    const stateOut: StateRange[] = [];
    const params = ops.map((o) => {
      if (o.buffer === '<scratch>') return (atTokens(scratchOffset, b.T) + atTokens(o.scratchAt ?? 0, b.T)) / 4;
      const l = loc(o.buffer);
      if (l.space === 'arena' && l.part >= arenaCount) {
        // A state operand: its layer's range of the state's GPU buffers.
        const { range, element } = stateRange(state[l.part - arenaCount], l.offset, bytesAt(byName.get(o.buffer)!, b));
        stateOut.push(range);
        return element;
      }
      if (l.space === 'arena') return l.offset / 4;
      const part = Object.hasOwn(parts, o.role) ? parts[o.role] : undefined;
      const buf = byName.get(o.buffer)!;
      const start = l.offset + (part?.offset ?? 0);
      const bytes = part?.bytes ?? bytesAt(buf, b);
      const range = bindingOf(weightChunks, start, bytes);
      if (!range) throw new Error(`wgsl: ${o.buffer} (${bytes} bytes) straddles two weight buffers`);
      weightsOut.push(range);
      return (start - weightChunks[range.chunk].offset - range.offset) / elementBytes(buf.dtype);
    });
    return { params, weights: weightsOut, state: stateOut };
  };
  const dispatch = (
    out: Command[],
    kernel: number,
    b: Record<string, number>,
    ops: Operand[],
    loc: (n: string) => Loc,
    extras: number[],
    grid: [number, number, number],
    parts?: Parts,
    late: Dim[] = [],
  ): void => {
    const T = b.T;
    for (const g of grid)
      if (g > 65535) fail('E505', `the WGSL kernel ${kernels[kernel].name} needs a grid of ${grid.join(' x ')} workgroups at T = ${T}, over WebGPU's 65535 per dimension`);
    if (grid.some((g) => g === 0)) return;
    const placed = operandPlaces(ops, loc, b, parts);
    out.push({ kind: 'dispatch', kernel, params: [T, ...placed.params, ...extras], ...(late.length > 0 ? { late } : {}), grid, weights: placed.weights, ...(placed.state.length > 0 ? { state: placed.state } : {}) });
  };
  const aligns = alignsBySorted(p.steps);

  const router = (k: RouterKernel): Emit => {
    const cap = k.capacityFactor !== undefined;
    const list = [operand('x', k.x), operand('w', k.w)];
    if (k.bias) list.push(operand('bias', k.bias));
    if (k.selectBias) list.push(operand('sel', k.selectBias));
    if (k.sharedGate) list.push(operand('gate', k.sharedGate));
    list.push(operand('idx', k.indices, true));
    if (cap) list.push(scratchOp('raw', true));
    list.push(operand('wout', k.weights, true));
    const ops = withScales(list);
    const T = shapeOf(k.x)[0];
    const r = addKernel({ name: `${k.indices}.router`, shader: routerShader(k, lastDim(k.x), ops), operands: ops, extras: [], grid: [dimToString(T), '1', '1'] });
    let c = -1;
    const cops = [scratchOp('raw', true), operand('idx', k.indices, true)];
    if (cap) {
      scratchBytes = Math.max(scratchBytes, staticDim(T) * k.k * 4);
      scratchUses.push((b) => evalShape([T], b)[0] * k.k * 4);
      c = addKernel({ name: `${k.indices}.capacity`, shader: capacityShader(k, cops), operands: cops, extras: ['capacity'], grid: [ceilText(dimMul(T, k.k), workgroupOf(k)), '1', '1'] });
    }
    return (b, loc, out) => {
      const t = evalShape([T], b)[0];
      dispatch(out, r, b, ops, loc, [], [t, 1, 1]);
      if (cap) dispatch(out, c, b, cops, loc, [expertCapacity(k.capacityFactor!, t, k.k, k.experts)], [ceilDiv(t * k.k, workgroupOf(k)), 1, 1]);
    };
  };

  const align = (k: MoeAlignKernel): Emit => {
    const ops = [operand('idx', k.indices), operand('sorted', k.sorted, true), operand('bexp', k.blockExpert, true), operand('cnt', k.count, true)];
    const i = addKernel({ name: `${k.sorted}.align`, shader: alignShader(k, ops), operands: ops, extras: ['nslots', 'sortedLen', 'blocksLen'], grid: ['1', '1', '1'] });
    return (b, loc, out) => {
      const n = (x: string): number => numel(evalShape(shapeOf(x), b));
      dispatch(out, i, b, ops, loc, [n(k.indices), n(k.sorted), n(k.blockExpert)], [1, 1, 1]);
    };
  };

  const gemmSpec = (k: GroupedGemmKernel | GemmKernel, grouped: boolean, kChoices: number): GemmSpec => {
    const ws = shapeOf(k.w).map(staticDim);
    const [rowsAx, colsAx] = grouped ? [1, 2] : [0, 1];
    const n = k.transB ? ws[rowsAx] : ws[colsAx];
    const chain = k.epilogue.filter((e) => e.kind !== 'combine');
    const outN = chain.some((e) => e.kind === 'glu') ? n / 2 : n;
    if (!k.tile) throw new Error(`wgsl: ${k.out} has no tile (run the tiler)`);
    const q = byName.get(k.w)!.quant;
    // The GEMM computes scale indices along Kd; scales along another axis are not a GEMM's.
    const kAxis = (grouped ? 1 : 0) + (k.transB ? 1 : 0);
    if (q && q.axis !== kAxis) fail('E701', `the WGSL backend reads GEMM weight scales along the reduction axis (${kAxis}); ${k.w}'s run along axis ${q.axis}`, undefined, 'quantize with --quantize (scales along the reduction axis, as ir/quant.ts defines)');
    return { kd: lastDim(k.a), n, outN, transB: k.transB, gather: 'gather' in k ? k.gather : false, k: kChoices, grouped, chain, combine: chain.length !== k.epilogue.length, tile: k.tile, ...(q ? { quant: { dtype: byName.get(k.w)!.dtype as QuantDType, group: q.group } } : {}) };
  };
  const biasOps = (k: GroupedGemmKernel | GemmKernel): Operand[] =>
    k.epilogue.flatMap((e) => (e.kind === 'bias' ? [e.bias] : [])).map((bn, i) => operand(`bias${i}`, bn));

  const grouped = (k: GroupedGemmKernel): Emit => {
    const spec = gemmSpec(k, true, k.k);
    const al = aligns.get(k.sorted);
    if (!al) throw new Error(`wgsl: no moe_align writes ${k.sorted}`);
    if (al.block !== spec.tile.m) throw new Error(`wgsl: ${k.out}: tile.m ${spec.tile.m} is not the align block ${al.block}`);
    if (spec.tile.qdecode === 'group_sum')
      fail('E701', `the grouped GEMM writing ${k.out} asks for group-sum decoding, which the WGSL kernels do not do (they scale each weight)`, undefined, 'tile the program for this target: its quantized decode form is scale_each');
    const wg = workgroupOf(k);
    const dest = spec.combine ? scratchOp('scr', false) : operand('out', k.out, true);
    const bufs = {
      a: operand('a', k.a),
      w: operand('w', k.w),
      dest,
      idx: operand('idx', k.indices),
      sorted: operand('sorted', k.sorted),
      bexp: operand('bexp', k.blockExpert),
      cnt: operand('cnt', k.count),
      biases: biasOps(k),
    };
    const T = shapeOf(k.indices)[0];
    const slotsDim = dimMul(T, k.k);
    const tn = tileCols(spec);
    const dOps = withScales(gemmOperands('decode', bufs));
    const sOps = withScales(gemmOperands('sorted', bufs));
    const when = `T < ${k.sortedFromTokens}`;
    const dk = addKernel({ name: `${k.out}.decode`, shader: decodeGemm(spec, dOps, wg), operands: dOps, extras: EXPERT_RANGE, grid: [dimToString(slotsDim), ceilText(spec.outN, wg), '1'], runsWhen: when });
    const bexp = shapeOf(k.blockExpert)[0];
    const sk = addKernel({ name: `${k.out}.sorted`, shader: tiledGemm(spec, 'sorted', sOps), operands: sOps, extras: EXPERT_RANGE, grid: [dimToString(bexp), ceilText(spec.outN, tn), '1'], runsWhen: `T >= ${k.sortedFromTokens}` });
    let ck = -1;
    const last = k.epilogue.at(-1);
    const cOps: Operand[] = [];
    if (last?.kind === 'combine') {
      cOps.push(operand('idx', k.indices), operand('cw', last.weights), scratchOp('scr', false));
      if (k.init) cOps.push(operand('init', k.init));
      cOps.push(operand('out', k.out, true));
      scratchBytes = Math.max(scratchBytes, staticDim(slotsDim) * spec.outN * 4);
      scratchUses.push((b) => evalShape([slotsDim], b)[0] * spec.outN * 4);
      ck = addKernel({ name: `${k.out}.combine`, shader: combinePass(spec.outN, k.k, cOps, k.init !== undefined, wg), operands: cOps, extras: [], grid: [dimToString(T), ceilText(spec.outN, wg), '1'] });
    }
    // Expert groups whose weights (codes and scales) each fit one storage binding (one
    // group unless they do not all fit).
    const experts = staticDim(shapeOf(k.w)[0]);
    const stacked = sOps.filter((o) => o.role === 'w' || o.role === bufs.w.quant?.scales);
    const rowBytes = (o: Operand): number => bytesAt(byName.get(o.buffer)!, maxB) / experts;
    return (b, loc, out) => {
      const t = evalShape([T], b)[0];
      for (const [lo, hi] of expertGroups(weightChunks, experts, stacked.map((o) => ({ start: loc(o.buffer).offset, rowBytes: rowBytes(o) })), maxBinding)) {
        const parts = Object.fromEntries(stacked.map((o) => [o.role, { offset: lo * rowBytes(o), bytes: (hi - lo) * rowBytes(o) }]));
        if (t < k.sortedFromTokens) dispatch(out, dk, b, dOps, loc, [lo, hi], [t * k.k, ceilDiv(spec.outN, wg), 1], parts);
        else dispatch(out, sk, b, sOps, loc, [lo, hi], [evalShape([bexp], b)[0], ceilDiv(spec.outN, tn), 1], parts);
      }
      if (spec.combine) dispatch(out, ck, b, cOps, loc, [], [t, ceilDiv(spec.outN, wg), 1]);
    };
  };

  const dense = (k: GemmKernel): Emit => {
    const spec = gemmSpec(k, false, 1);
    if (spec.combine) throw new Error('wgsl: a dense GEMM has no combine');
    const ops = withScales(gemmOperands('dense', { a: operand('a', k.a), w: operand('w', k.w), dest: operand('out', k.out, true), biases: biasOps(k) }));
    const rowsDim = shapeOf(k.a).slice(0, -1).reduce<Dim>((x, d) => dimMul(x, d), 1);
    const tn = tileCols(spec);
    const i = addKernel({ name: `${k.out}.gemm`, shader: tiledGemm(spec, 'dense', ops), operands: ops, extras: ['rows'], grid: [ceilText(rowsDim, spec.tile.m), ceilText(spec.outN, tn), '1'] });
    return (b, loc, out) => {
      const rows = numel(evalShape(shapeOf(k.a), b)) / spec.kd;
      dispatch(out, i, b, ops, loc, [rows], [ceilDiv(rows, spec.tile.m), ceilDiv(spec.outN, tn), 1]);
    };
  };

  const op = (k: OpKernel): Emit => {
    checkOp(k);
    if (k.op === 'rmsnorm') {
      const ops = withScales([operand('x', k.inputs[0]), operand('w', k.inputs[1]), operand('out', k.outputs[0], true)]);
      const d = lastDim(k.inputs[0]);
      const rowsDim = shapeOf(k.inputs[0]).slice(0, -1).reduce<Dim>((x, dd) => dimMul(x, dd), 1);
      const i = addKernel({ name: `${k.outputs[0]}.rmsnorm`, shader: rmsnormShader(d, (k.attrs.eps as number | undefined) ?? 1e-6, ops, workgroupOf(k)), operands: ops, extras: [], grid: [dimToString(rowsDim), '1', '1'] });
      return (b, loc, out) => dispatch(out, i, b, ops, loc, [], [numel(evalShape(shapeOf(k.inputs[0]), b)) / d, 1, 1]);
    }
    if (AXIS_OPS.has(k.op) || k.op === 'topk') {
      const loop = axisLoop(shapeOf(k.inputs[0]), k.attrs.axis as number) ?? cannotRun('wgsl', k.op, 'along an axis whose size depends on the token count');
      const ops = k.op === 'topk' ? [operand('x', k.inputs[0]), operand('values', k.outputs[0], true), operand('indices', k.outputs[1], true)] : [operand('x', k.inputs[0]), operand('out', k.outputs[0], true)];
      const lanesDim = dimMul(loop.outer, loop.inner);
      const shader = k.op === 'topk' ? topkShader(k.attrs.k as number, loop, ops, workgroupOf(k)) : axisOpShader(k.op, loop, ops, workgroupOf(k));
      const i = addKernel({ name: `${k.outputs[0]}.${k.op}`, shader, operands: ops, extras: ['lanes'], grid: [ceilText(lanesDim, workgroupOf(k)), '1', '1'] });
      return (b, loc, out) => {
        const lanes = evalShape([lanesDim], b)[0];
        dispatch(out, i, b, ops, loc, [lanes], flatGrid(lanes, workgroupOf(k)));
      };
    }
    if (k.op === 'group_topk') {
      const experts = staticDim(shapeOf(k.inputs[0])[1]);
      const ops = [operand('s', k.inputs[0]), operand('values', k.outputs[0], true), operand('indices', k.outputs[1], true)];
      const spec = { experts, groups: k.attrs.groups as number, keep: k.attrs.topk_groups as number, k: k.attrs.k as number, sumTop2: k.attrs.group_score === 'sum_top2' };
      const rowsDim = shapeOf(k.inputs[0])[0];
      const i = addKernel({ name: `${k.outputs[0]}.group_topk`, shader: groupTopkShader(spec, ops, workgroupOf(k)), operands: ops, extras: ['rows'], grid: [ceilText(rowsDim, workgroupOf(k)), '1', '1'] });
      return (b, loc, out) => {
        const rows = evalShape([rowsDim], b)[0];
        dispatch(out, i, b, ops, loc, [rows], flatGrid(rows, workgroupOf(k)));
      };
    }
    if (k.op === 'moe_combine') {
      const [rowsDim, dd] = shapeOf(k.inputs[0]);
      const kk = staticDim(shapeOf(k.inputs[3])[1]);
      const ops = [operand('ys', k.inputs[0]), operand('slots', k.inputs[1]), operand('offsets', k.inputs[2]), operand('weights', k.inputs[3]), operand('out', k.outputs[0], true)];
      const shader = combineShader(kk, staticDim(dd), staticDim(shapeOf(k.inputs[2])[0]) - 1, ops, workgroupOf(k));
      const tokensDim = shapeOf(k.inputs[3])[0];
      const i = addKernel({ name: `${k.outputs[0]}.moe_combine`, shader, operands: ops, extras: ['rows', 'ntok'], grid: [ceilText(tokensDim, workgroupOf(k)), '1', '1'] });
      return (b, loc, out) => {
        const ntok = evalShape([tokensDim], b)[0];
        dispatch(out, i, b, ops, loc, [evalShape([rowsDim], b)[0], ntok], flatGrid(ntok, workgroupOf(k)));
      };
    }
    if (k.op === 'route_capacity' || k.op === 'moe_permute') {
      const experts = k.attrs.experts as number;
      const kk = staticDim(shapeOf(k.inputs[0])[1]);
      const ops = k.op === 'route_capacity' ? [operand('indices', k.inputs[0]), operand('out', k.outputs[0], true)] : [operand('indices', k.inputs[0]), operand('slots', k.outputs[0], true), operand('offsets', k.outputs[1], true)];
      const ntokDim = shapeOf(k.inputs[0])[0];
      const i = addKernel({ name: `${k.outputs[0]}.${k.op}`, shader: routingShader(k.op, experts, kk, ops), operands: ops, extras: k.op === 'route_capacity' ? ['ntok', 'capacity'] : ['ntok'], grid: ['1', '1', '1'] });
      return (b, loc, out) => {
        const ntok = evalShape([ntokDim], b)[0];
        dispatch(out, i, b, ops, loc, k.op === 'route_capacity' ? [ntok, expertCapacity(k.attrs.capacity_factor as number, ntok, kk, experts)] : [ntok], [1, 1, 1]);
      };
    }
    if (k.op === 'rope') {
      const g = ropeGeometry(k.attrs, shapeOf(k.inputs[0]));
      const ops = [operand('x', k.inputs[0]), operand('out', k.outputs[0], true)];
      const rowsDim = dimMul(shapeOf(k.inputs[0])[0], g.heads);
      const offset = (k.attrs.offset as Dim[])[0];
      const shader = ropeShader(g, ropeFrequencies(k.attrs, g.rd), k.attrs.attention_factor as number, ops, workgroupOf(k));
      const i = addKernel({ name: `${k.outputs[0]}.rope`, shader, operands: ops, extras: ['rows', 'pos0'], grid: [ceilText(rowsDim, workgroupOf(k)), '1', '1'] });
      return (b, loc, out) => {
        const rows = evalShape([rowsDim], b)[0];
        dispatch(out, i, b, ops, loc, [rows], flatGrid(rows, workgroupOf(k)), undefined, [offset]);
      };
    }
    // One invocation per output element: an add, a fused elementwise chain, an embedding row.
    const o = shapeOf(k.outputs[0]);
    let ops: Operand[];
    let shader: ShaderEntry;
    // Sizes a shader takes after `count`: moe_dispatch's token rows.
    let more: Dim[] = [];
    if (k.op === 'grouped_matmul') {
      const transB = k.attrs.transpose_b as boolean;
      const w = shapeOf(k.inputs[1]).map(staticDim);
      const [experts, n, kd] = transB ? w : [w[0], w[2], w[1]];
      const bias = k.inputs[3] !== undefined;
      ops = withScales([operand('xs', k.inputs[0]), operand('w', k.inputs[1]), operand('offsets', k.inputs[2]), ...(bias ? [operand('bias', k.inputs[3])] : []), operand('out', k.outputs[0], true)]);
      shader = groupedMatmulShader({ experts, n, kd, transB, bias }, ops, workgroupOf(k));
    } else if (k.op === 'moe_dispatch') {
      const d = staticDim(shapeOf(k.inputs[0])[1]);
      ops = [operand('x', k.inputs[0]), operand('slots', k.inputs[1]), operand('offsets', k.inputs[2]), operand('out', k.outputs[0], true)];
      shader = dispatchShader(k.attrs.k as number, d, staticDim(shapeOf(k.inputs[2])[0]) - 1, ops, workgroupOf(k));
      more = [shapeOf(k.inputs[0])[0]];
    } else if (k.op === 'gather') {
      const xs = shapeOf(k.inputs[0]);
      const ax = (k.attrs.axis as number) < 0 ? (k.attrs.axis as number) + xs.length : (k.attrs.axis as number);
      // Along the leading axis (rows of tokens, as last-logits gathers) only the bound depends on T: the extra `ntok`.
      const lead = ax === 0 && typeof xs[0] !== 'number' && xs.slice(1).every((d) => typeof d === 'number');
      if ((!lead && xs.slice(ax).some((d) => typeof d !== 'number')) || byName.get(k.inputs[0])!.dtype !== 'f32') cannotRun('wgsl', 'gather', 'of an i32 tensor, or along an axis other than the first whose size depends on the token count');
      const inner = (xs.slice(ax + 1) as number[]).reduce((a, b) => a * b, 1);
      ops = [operand('x', k.inputs[0]), operand('indices', k.inputs[1]), operand('out', k.outputs[0], true)];
      shader = gatherShader(lead ? undefined : (xs[ax] as number), shapeOf(k.inputs[1])[ax] as number, inner, ops, workgroupOf(k));
      if (lead) more = [xs[0]];
    } else if (k.op === 'cast') {
      const [from, to] = [byName.get(k.inputs[0])!.dtype, byName.get(k.outputs[0])!.dtype];
      if (![from, to].every((d) => d === 'f32' || d === 'i32')) cannotRun('wgsl', 'cast', `from ${from} to ${to} (it casts between f32 and i32)`);
      ops = [operand('x', k.inputs[0]), operand('out', k.outputs[0], true)];
      shader = castShader(from, to, ops, workgroupOf(k));
    } else if (k.op === 'embedding') {
      const [vocab, d] = shapeOf(k.inputs[1]).map(staticDim);
      ops = [operand('ids', k.inputs[0]), operand('table', k.inputs[1]), operand('out', k.outputs[0], true)];
      shader = embeddingShader(vocab, d, ops, workgroupOf(k));
    } else if (CHAIN_OPS.has(k.op) || k.op === 'concat') {
      const odd = [...k.inputs, ...k.outputs].find((b) => byName.get(b)!.dtype !== 'f32');
      if (odd) cannotRun('wgsl', k.op, `of the ${byName.get(odd)!.dtype} tensor ${odd}`);
      ops = withScales([...k.inputs.map((x, j) => operand(`x${j}`, x)), operand('out', k.outputs[0], true)]);
      if (k.op !== 'concat') shader = elementwiseShader(k, shapeOf, ops, workgroupOf(k));
      else {
        const pieces = concatPieces(k.inputs.map(shapeOf), k.attrs.axis as number) ?? cannotRun('wgsl', 'concat', 'along an axis whose size depends on the token count');
        shader = concatShader(pieces, ops, workgroupOf(k));
      }
    } else {
      const [a, bb] = k.inputs.map(shapeOf);
      const trailing = a.slice(a.length - bb.length);
      if (bb.length > a.length || trailing.some((d, j) => dimToString(d) !== dimToString(bb[j])) || k.inputs.length !== 2)
        cannotRun('wgsl', 'add', `of [${a.map(dimToString)}] and [${bb.map(dimToString)}] (${k.outputs[0]})`, 'it adds equal shapes or a trailing broadcast; run this model with --backend ref');
      ops = withScales([operand('a', k.inputs[0]), operand('b', k.inputs[1]), operand('out', k.outputs[0], true)]);
      shader = addShader(numel(evalShape(bb, maxB)), ops, workgroupOf(k));
    }
    const countDim = o.reduce<Dim>((x, d) => dimMul(x, d), 1);
    const i = addKernel({ name: `${k.outputs[0]}.${k.op}`, shader, operands: ops, extras: ['count', ...more.map(() => 'ntok')], grid: [ceilText(countDim, workgroupOf(k)), '1', '1'] });
    return (b, loc, out) => {
      const n = numel(evalShape(o, b));
      dispatch(out, i, b, ops, loc, [n, ...evalShape(more, b)], flatGrid(n, workgroupOf(k)));
    };
  };

  /**
   * attention and mla_attention (attention.ts): the append, MLA's absorb, then the rows
   * kernel or (T = 1 with a decode split) split and merge, then MLA's expand. The caches are
   * state (their GPU buffers); L reaches every kernel as a late parameter.
   */
  const attention = (k: AttentionKernel | MlaAttentionKernel): Emit => {
    const W = workgroupOf(k);
    const sched = k.schedule ?? fail('E701', `the ${k.kind} writing ${k.out} has no schedule (key tile, decode split)`, undefined, 'run the tile pass for a WGSL target: it records the schedule');
    const mla = k.kind === 'mla_attention';
    const dims = (n: string): number[] => shapeOf(n).slice(1).map(staticDim);
    const [heads, dq0] = dims(mla ? k.qNope : k.q);
    const dvOut = dims(k.out)[1];
    const c = mla ? dims(k.kv)[0] : 0;
    const dr = mla ? dims(k.qPe)[1] : 0;
    const rows = mla ? (sched.headBlock ?? 1) : heads / dims(k.k)[0];
    const base = {
      rows,
      groups: heads / rows,
      dq: mla ? c + dr : dq0,
      dv: mla ? c : dvOut,
      valueInKey: mla,
      keyTile: sched.keyTile,
      splits: sched.splits,
      scale: k.scale,
      window: mla ? 0 : k.window,
      sinks: !mla && k.sinks !== undefined,
      W,
    };
    const wgBytes = target.limits.maxWorkgroupStorageBytes ?? 16384;
    const fit = wgslKeyTile(base, wgBytes) ?? fail('E505', `the WGSL ${k.kind} writing ${k.out} cannot hold one key of ${base.dq} features for ${rows} query rows in ${target.name}'s ${wgBytes} bytes of workgroup memory`, undefined, 'run it on a target with more workgroup memory');
    const s: CoreSpec = { ...base, ...fit };
    const T = shapeOf(mla ? k.qNope : k.q)[0];
    const L: Dim[] = [k.past];
    const feats = mla ? mlaFeatures(s, heads, c, dr) : attentionFeatures(s, heads);
    // Scratch: the decode partials, then MLA's q_abs and latent mix (each [T, H, C]).
    const partBytes = s.splits * heads * partialFloats(s) * 4;
    const mixBytes = (t: Dim): Dim => dimMul(t, heads * c * 4);
    const qabsAt: Dim = partBytes;
    const xAt: Dim = dimAdd(partBytes, mixBytes(T));
    scratchBytes = Math.max(scratchBytes, partBytes + 2 * staticDim(mixBytes(T)));
    scratchUses.push((b) => partBytes + 2 * evalShape([mixBytes(T)], b)[0]);
    const part = scratchOp('part', false);
    const [newA, newB, cacheA, cacheB] = mla ? [k.kv, k.kPe, k.kvCache, k.peCache] : [k.k, k.v, k.kCache, k.vCache];
    const appendOps = [operand('a', newA), operand('b', newB), operand('ac', cacheA, true), operand('bc', cacheB, true)];
    const [wa, wb] = [newA, newB].map((n) => dims(n).reduce((x, y) => x * y, 1));
    const ap = addKernel({ name: `${k.out}.append`, shader: appendShader(wa, wb, appendOps, W), operands: appendOps, extras: ['count', 'L'], grid: [ceilText(dimMul(T, Math.max(wa, wb)), W), '1', '1'] });
    const sinks = !mla && k.sinks !== undefined ? [operand('sinks', k.sinks)] : [];
    const keyOps = mla ? [scratchOp('qabs', false, qabsAt), operand('q_pe', k.qPe), operand('kvc', k.kvCache), operand('pec', k.peCache)] : [operand('q', k.q), operand('kc', k.kCache), operand('vc', k.vCache)];
    const dest = mla ? scratchOp('out', false, xAt) : operand('out', k.out, true);
    const rowOps = [...keyOps, ...sinks, dest];
    const grid = (rowsText: string): string[] => [String(s.groups), rowsText, '1'];
    const decode = s.splits > 1;
    const rk = addKernel({ name: `${k.out}.attend`, shader: rowsShader(s, feats, rowOps, heads), operands: rowOps, extras: ['L'], grid: grid(dimToString(T)), ...(decode ? { runsWhen: 'T > 1' } : {}) });
    const splitOps = [...keyOps, part];
    const mergeOps = [part, ...sinks, dest];
    const sk = decode ? addKernel({ name: `${k.out}.split`, shader: splitShader(s, feats, splitOps, heads), operands: splitOps, extras: ['L'], grid: grid(String(s.splits)), runsWhen: 'T = 1' }) : -1;
    const mk = decode ? addKernel({ name: `${k.out}.merge`, shader: mergeShader(s, mergeOps, heads), operands: mergeOps, extras: ['L'], grid: [String(ceilDiv(heads * s.dv, W)), '1', '1'], runsWhen: 'T = 1' }) : -1;
    const g = { heads, dn: dq0, dv: dvOut, c };
    const absorbOps = mla ? withScales([operand('x', k.qNope), operand('w', k.wkvB), scratchOp('y', false, qabsAt)]) : [];
    const expandOps = mla ? withScales([scratchOp('x', false, xAt), operand('w', k.wkvB), operand('y', k.out, true)]) : [];
    const ab = mla ? addKernel({ name: `${k.out}.absorb`, shader: mlaProjectShader('absorb', g, absorbOps, W), operands: absorbOps, extras: ['count'], grid: [ceilText(dimMul(T, heads * c), W), '1', '1'] }) : -1;
    const ex = mla ? addKernel({ name: `${k.out}.expand`, shader: mlaProjectShader('expand', g, expandOps, W), operands: expandOps, extras: ['count'], grid: [ceilText(dimMul(T, heads * dvOut), W), '1', '1'] }) : -1;
    return (b, loc, out) => {
      const t = evalShape([T], b)[0];
      const count = t * Math.max(wa, wb);
      dispatch(out, ap, b, appendOps, loc, [count], flatGrid(count, W), undefined, L);
      if (mla) dispatch(out, ab, b, absorbOps, loc, [t * heads * c], flatGrid(t * heads * c, W));
      if (decode && t === 1) {
        dispatch(out, sk, b, splitOps, loc, [], [s.groups, s.splits, 1], undefined, L);
        dispatch(out, mk, b, mergeOps, loc, [], [ceilDiv(heads * s.dv, W), 1, 1], undefined, L);
      } else dispatch(out, rk, b, rowOps, loc, [], [s.groups, t, 1], undefined, L);
      if (mla) dispatch(out, ex, b, expandOps, loc, [t * heads * dvOut], flatGrid(t * heads * dvOut, W));
    };
  };

  const steps = (list: readonly Step[]): Emit[] =>
    list.map((s): Emit => {
      if (s.kind !== 'loop') stepKernels.set(s, (current = []));
      switch (s.kind) {
        case 'router':
          return router(s);
        case 'moe_align':
          return align(s);
        case 'grouped_gemm':
          return grouped(s);
        case 'gemm':
          return dense(s);
        case 'op':
          return op(s);
        case 'attention':
        case 'mla_attention':
          return attention(s);
        case 'dispatch':
        case 'ep_combine':
          throw new Error(`wgsl: no ${s.kind} kernel (singleChipOnly refused the program)`);
        case 'loop': {
          const body = steps(s.body);
          const copyBytes = (pairs: ReadonlyArray<{ from: string; to: string }>, b: Record<string, number>): number => pairs.reduce((n, c) => n + bytesAt(byName.get(c.from)!, b), 0);
          stagingBytes = Math.max(stagingBytes, copyBytes(s.init ?? [], maxB), copyBytes(s.carried, maxB));
          stagingUses.push((b) => Math.max(copyBytes(s.init ?? [], b), copyBytes(s.carried, b)));
          const copies = (pairs: ReadonlyArray<{ from: string; to: string }>, b: Record<string, number>, loc: (n: string) => Loc, out: Command[]): void => {
            if (pairs.length === 0) return;
            out.push({
              kind: 'copy',
              pairs: pairs.map((c) => {
                const [f, t] = [loc(c.from), loc(c.to)];
                if (f.space !== 'arena' || t.space !== 'arena') throw new Error(`wgsl: loop copy ${c.from} -> ${c.to} outside the arena`);
                return { from: { part: f.part, offset: f.offset }, to: { part: t.part, offset: t.offset }, bytes: bytesAt(byName.get(c.from)!, b) };
              }),
            });
          };
          return (b, loc, out) => {
            copies(s.init ?? [], b, loc, out);
            for (let it = 0; it < s.count; it++) {
              const inner = (n: string): Loc => {
                const sl = s.slices.find((x) => x.slice === n);
                if (!sl) return loc(n);
                const st = loc(sl.stacked);
                const stacked = byName.get(sl.stacked)!;
                return { space: st.space, part: st.part, offset: st.offset + (it * bytesAt(stacked, b)) / evalShape([stacked.shape[0]], b)[0] };
              };
              for (const e of body) e(b, inner, out);
              copies(s.carried, b, inner, out);
            }
          };
        }
      }
    });
  const top = steps(p.steps);
  const shapeSymbols = new Set([TOKEN_SYMBOL, ...p.buffers.flatMap((b) => b.shape.flatMap(dimSymbols))].filter((n) => n !== CONTEXT_DIM));
  const rootLoc =
    (bindings: Record<string, number>) =>
    (n: string): Loc => {
      const l = staticLoc.get(n);
      if (!l) throw new Error(`wgsl: ${n} has no place in memory`);
      return { space: l.space, part: l.part, offset: atTokens(l.offset, bindings.T) };
    };
  const scratchUsed = (b: Record<string, number>): number => Math.max(0, ...scratchUses.map((f) => f(b)));
  const words = (n: number): number => Math.max(4, alignUp(n, 4));
  return {
    program: p,
    kernels,
    stepKernels,
    maxTokens: p.maxTokens,
    arenaBytes: (b) => {
      const sizes = Array.from({ length: own ? parts + 1 : parts }, (_, k) => arenaBytesAt(p, b.T, b, k));
      sizes[io] = Math.max(sizes[io], atTokens(scratchOffset, b.T) + scratchUsed(b));
      return sizes.map(words);
    },
    inputs,
    outputs,
    scratch: { part: io, offset: scratchOffset, bytes: scratchBytes },
    weights,
    weightChunks,
    stagingBytes,
    stagingAt: (b) => words(Math.max(0, ...stagingUses.map((f) => f(b)))),
    scratchUsed,
    schedule(bindings) {
      const out: Command[] = [];
      const b = { ...bindings, ...ctxB };
      const loc = rootLoc(b);
      for (const e of top) e(b, loc, out);
      return out;
    },
    scheduleKey: (b) => [...shapeSymbols].map((n) => `${n}=${b[n]}`).join(','),
    arenaCount,
    state,
  };
}
