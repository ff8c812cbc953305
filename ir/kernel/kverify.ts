/**
 * @fileoverview Checks a kernel program's well-formedness (`verifyKernelIR`), so lowering
 * output, every kernel pass's result, hand-written kernel tests and parsed dumps are held to
 * one set of rules. It reports problems as messages and never throws: an invalid program can
 * still be printed and diagnosed.
 *
 * Verifier invariants (`verifyKernelIR`, one message per problem, in this order):
 *
 *  1. Buffers: unique names, a known kind (a `state` buffer counts as written from the start), sizes that are declared dims of the module;
 *     an offset only on temps and outputs (the plan itself: 1b). A quantized
 *     weight (dtype i8, i4, fp8e4m3) has `quant(scales=.., axis=.., group=..)` and nothing
 *     else does: the axis within its rank, a positive group, an even last axis for i4, and
 *     a scales buffer declared as an f32 weight of the weight's shape with that axis
 *     replaced by ceil(size / group); `act=q8` only where the graph type allows it (i8 in
 *     groups of 32, 64 or 128, a reduction length a multiple of 32: `actProblem`). Only GEMM
 *     weight roles (w, shared_gate) read it.
 *  2. Inputs and outputs: each names a declared buffer of kind `input` (resp. `output`),
 *     and every input (output) buffer is named by exactly one of them.
 *  3. Pack: a function of the module without parameters whose results are named after the
 *     weight buffers with their exact types, one per weight buffer (loop slices declared as
 *     buffers are views, not packed; a quantized result is codes and scales in one value,
 *     so scales buffers are not results of their own).
 *  4. Steps: every buffer a step names is declared (or a slice of an enclosing loop);
 *     results go to temps or outputs, weights roles read weights; no step reads a temp or
 *     output before some earlier step wrote it; every output is written by the end.
 *  5. Kernel contracts, where sizes can be compared symbolically: dtypes (i32 indices,
 *     float data), ranks and shapes (router indices/weights [T, k + shared], moe_align's
 *     sorted rows >= T*K + E*(block-1), GEMM widths through the epilogue chain, combine
 *     last, `init` only with combine, tile.m == the align block, a grouped GEMM reading
 *     another's rows uses the same sorted buffer and decode threshold), and `op` kernels
 *     re-infer to their output buffers' types through the op catalogue; `attention` as
 *     `checkAttention` (attention.ts) says, `mla_attention` as `checkMla` (mla.ts).
 *     Schedules: tile sizes, `rows`, `kc`, `panels`, `streams`, `prefetch` and `threads`
 *     min_elems positive, a `threads` workgroup a power of two; the micro-tile divides the
 *     tile (m % mr, n % nr), nr even under a glu on the C backend's vector kinds, the
 *     tile's vector a whole number of the program `isa`'s lanes, `rows` whole micro-tiles
 *     (a grouped GEMM's = m), `streams` only on a GEMM (grouped or dense), `stage` only with `kc`,
 *     `qdecode` only on a GEMM with a quantized weight, `prefetch` only with
 *     `qdecode="group_sum"`.
 *  6. Loops: a positive count; slices of declared buffers whose leading dim is the count; a
 *     slice is either not declared, or declared with exactly the slice's type and the
 *     stacked buffer's kind (a view either way, named only inside its loop), and never the
 *     name of an enclosing loop's slice (a quantized slice is declared, quantized like its
 *     stacked buffer, and its scales are the slice of the stacked scales); `init` and `carried` pairs join buffers of one type and write temps or outputs;
 *     `init` reads what was written before the loop, `carried` what the body writes.
 * Plus the graph module's own verifier (`verify.ts`), its messages prefixed `graph: `.
 *
 *  1b. The memory plan (`checkMemoryPlan`): affine offsets and sizes within their arena
 *     part, no two live buffers overlapping at any T in 1..maxTokens.
 */
import { didYouMean } from '../diagnostics.ts';
import { type Dim, DimError, dimAdd, dimEq, dimMul, dimSub, dimSymbols, dimToString, isSym, shapeEq, shapeToString } from '../dims.ts';
import { type Module, findFunc } from '../graph/graph.ts';
import { KERNELS } from '../graph/interp-kernels.ts';
import { FUSED_KERNELS } from '../graph/interp-fused.ts';
import { ACT_FNS, BUFFER_KINDS, type BufferKind, type DispatchKernel, type EpCombineKernel, type Epilogue, GLU_FNS, GLU_LAYOUTS, GLU_PAIRED_KINDS, type GroupedGemmKernel, type KBuffer, type KProgram, type Kernel, type KernelThreads, type LoopStep, type MoeAlignKernel, type OpKernel, QUANT_DECODE_FORMS, type RouterKernel, type Step, type Tiling, VECTOR_KINDS, VECTOR_LANES } from './kernel.ts';
import { TILE_SCHEDULE_KEYS } from './kprint.ts';
import { OpError, getOp, inferOp } from '../graph/ops.ts';
import { printType } from '../graph/print.ts';
import { isQuantDType } from '../quant.ts';
import { actProblem, resolveQuant } from '../quant-type.ts';
import { type DType, type TensorType, dtypeBytes, isDType, isFloatDType } from '../types.ts';
import { verify } from '../graph/verify.ts';
import { loopSlices } from './walk.ts';
import { checkAttention } from './attention.ts';
import { checkMla } from './mla.ts';
import { placementProblem } from './placement.ts';
import { type LiveInterval, affineParts, atTokens, bufferBytes, liveIntervals } from './memory.ts';

/** What a step may name: a declared buffer, or a loop slice (a view with the stacked buffer's kind). */
interface BufInfo {
  name: string;
  dtype: DType;
  shape: Dim[];
  kind: BufferKind;
  quant?: KBuffer['quant'];
  /** The stacked buffer, for a loop slice. */
  sliceOf?: string;
}

/** Static facts gathered before checking steps: which step writes each align and GEMM result. */
interface Producers {
  align: Map<string, MoeAlignKernel>;
  gemm: Map<string, GroupedGemmKernel>;
}

/** Every problem of the program (invariants in the file header), as messages; empty when valid. */
export function verifyKernelIR(p: KProgram): string[] {
  const out: string[] = [];
  const report = (m: string): void => void out.push(m);
  const scope = checkBuffers(p, report);
  checkBoundaries(p, scope, report);
  checkPack(p, scope, loopSlices(p.steps), report);
  checkExpertParallel(p, scope, report);
  const producers: Producers = { align: new Map(), gemm: new Map() };
  collectProducers(p.steps, producers);
  const written = new Set<string>();
  // A state buffer holds what earlier calls wrote (a KV cache): readable from the start.
  for (const b of scope.values()) if (b.kind === 'input' || b.kind === 'weight' || b.kind === 'state') written.add(b.name);
  if (p.isa !== undefined && !VECTOR_KINDS.includes(p.isa)) report(`program: unknown vector kind isa ${p.isa} (${VECTOR_KINDS.join(', ')})`);
  new StepChecker(p.module, producers, loopSlices(p.steps), report, p.isa).steps(p.steps, scope, written, '');
  for (const o of p.outputs) if (scope.get(o.buffer)?.kind === 'output' && !written.has(o.buffer)) report(`output ${o.name}: no step writes its buffer ${o.buffer}`);
  for (const d of verify(p.module)) report(`graph: ${d.message}`);
  return out;
}

function typeStr(t: { dtype: DType; shape: readonly Dim[] }): string {
  return `${t.dtype}${shapeToString(t.shape)}`;
}

/** 1. Buffer declarations; returns the buffers by name (first declaration wins). */
function checkBuffers(p: KProgram, report: (m: string) => void): Map<string, BufInfo> {
  const scope = new Map<string, BufInfo>();
  const dims = new Set(p.module.dims.map((d) => d.name));
  for (const b of p.buffers) {
    const where = `buffer ${b.name}`;
    if (scope.has(b.name)) report(`${where} is declared twice`);
    else scope.set(b.name, { name: b.name, dtype: b.dtype, shape: b.shape, kind: b.kind, ...(b.quant ? { quant: b.quant } : {}) });
    checkQuantBuffer(p, b, report);
    if (!BUFFER_KINDS.includes(b.kind)) report(`${where} has the unknown kind '${b.kind}' (kinds are ${BUFFER_KINDS.join(', ')})`);
    if (!isDType(b.dtype)) report(`${where} has the unknown dtype '${b.dtype}'`);
    for (const d of b.shape) {
      if (!isSym(d) && !(Number.isInteger(d) && d >= 0)) report(`${where}: the size ${d} is not a whole number >= 0`);
      for (const s of dimSymbols(d)) if (!dims.has(s)) report(`${where}: ${typeStr(b)} uses the size ${s}, which the module does not declare`);
    }
    if (b.offset !== undefined && b.kind !== 'temp' && b.kind !== 'output') report(`${where}: a${b.kind === 'input' ? 'n' : ''} ${b.kind} buffer has no arena offset (only temps and outputs live in the arena)`);
  }
  checkMemoryPlan(p, report);
  return scope;
}

/**
 * 1b. The memory plan: offsets and sizes affine in T (`memory.ts`), whole and >= 0 at every
 * T in 1..maxTokens, an offset a multiple of the element size at every T, each buffer
 * within its arena part, sizes at least the shape's bytes at the bucket edges (1, 2, 4, ...,
 * maxTokens), the parts adding up to the arena, and no two buffers of one part that are
 * live together overlapping at any T (affine ranges ordered at both ends of 1..maxTokens
 * are ordered at every T between).
 */
function checkMemoryPlan(p: KProgram, report: (m: string) => void): void {
  const maxT = Math.max(1, p.maxTokens ?? 1);
  const ends = maxT === 1 ? [1] : [1, maxT];
  const edges: number[] = [];
  for (let t = 1; t < maxT; t *= 2) edges.push(t);
  edges.push(maxT);
  const parts = p.arenaParts;
  const partSize = (k: number): Dim | undefined => (parts ? parts[k] : p.arenaBytes);
  const lin = (d: Dim, what: string): [number, number] | undefined => {
    if (typeof d === 'number' && Number.isInteger(d) && d >= 0) return [0, d];
    try {
      const ab = affineParts(d);
      if (ab.every(Number.isInteger) && ends.every((T) => atTokens(d, T) >= 0)) return ab;
    } catch {
      // reported below
    }
    report(`${what} ${dimToString(d)} is not a whole number >= 0 of the form a*T+b at every T in 1..${maxT}`);
    return undefined;
  };
  if (p.arenaBytes !== undefined) lin(p.arenaBytes, 'program: arena');
  if (parts) {
    if (parts.length < 2) report(`program: an arena split into ${parts.length} part${parts.length === 1 ? '' : 's'} (a split arena has two or more)`);
    parts.forEach((d, k) => lin(d, `program: arena part ${k}`));
    if (p.arenaBytes !== undefined && ends.some((T) => parts.reduce<number>((s, d) => s + atTokens(d, T), 0) !== atTokens(p.arenaBytes!, T)))
      report(`program: the arena parts (${parts.map(dimToString).join(', ')}) do not add up to the arena ${dimToString(p.arenaBytes)}`);
  }
  const placed: Array<{ b: KBuffer; o: [number, number]; s: [number, number]; part: number }> = [];
  for (const b of p.buffers) {
    const where = `buffer ${b.name}`;
    const o = b.offset === undefined ? undefined : lin(b.offset, `${where}: @offset`);
    const s = b.bytes === undefined ? undefined : lin(b.bytes, `${where}: +bytes`);
    if (b.part !== undefined && (!parts || !Number.isInteger(b.part) || b.part < 0 || b.part >= parts.length))
      report(`${where}: part ${b.part} is not one of the arena's ${parts ? parts.length : 'unsplit (one)'} parts`);
    if (parts && b.offset !== undefined && b.part === undefined) report(`${where}: the arena is split into parts; its offset names none (part N)`);
    // Backends and the arena interpreter view the arena as typed arrays at these offsets.
    if (o && isDType(b.dtype) && o.some((c) => c % dtypeBytes(b.dtype) !== 0))
      report(`${where}: @offset ${dimToString(b.offset!)} is not a multiple of ${dtypeBytes(b.dtype)} bytes, the size of its ${b.dtype} elements, at every T`);
    if (!o || !s) continue;
    const part = b.part ?? 0;
    const size = partSize(part);
    if (size !== undefined)
      for (const T of ends) {
        const [from, to, cap] = [o[0] * T + o[1], o[0] * T + o[1] + s[0] * T + s[1], atTokens(size, T)];
        if (to > cap) {
          report(`${where}: bytes ${from}..${to} run past the end of the ${cap}-byte arena${parts ? ` part ${part}` : ''} at T = ${T}`);
          break;
        }
      }
    // A shape with one dim in T has bytes affine in T: checking the two ends covers every T.
    const inT = b.shape.filter((d) => dimSymbols(d).includes('T')).length;
    if (isDType(b.dtype))
      for (const T of inT <= 1 ? ends : edges) {
        let need: number;
        try {
          need = Math.ceil(bufferBytes(b, { T }));
        } catch {
          break; // sizes other than T: the planner's bindings, not known here
        }
        if (need > s[0] * T + s[1]) {
          report(`${where}: +bytes ${dimToString(b.bytes!)} is ${s[0] * T + s[1]} at T = ${T}, less than its ${typeStr(b)} takes (${need})`);
          break;
        }
      }
    placed.push({ b, o, s, part });
  }
  if (placed.length < 2) return;
  const { intervals } = liveIntervals(p);
  const live = placed
    .map((x) => ({ ...x, iv: intervals.get(x.b.name) }))
    .filter((x): x is typeof x & { iv: LiveInterval } => x.iv !== undefined && x.iv.start <= x.iv.end && ends.some((T) => x.s[0] * T + x.s[1] > 0))
    .sort((x, y) => x.iv.start - y.iv.start);
  const at = (l: [number, number], T: number): number => l[0] * T + l[1];
  const before = (x: (typeof live)[number], y: (typeof live)[number]): boolean => ends.every((T) => at(x.o, T) + at(x.s, T) <= at(y.o, T));
  // A sweep over start times: `active` holds the buffers whose interval is still open.
  let active: typeof live = [];
  for (const x of live) {
    if (active.some((y) => y.iv.end < x.iv.start)) active = active.filter((y) => y.iv.end >= x.iv.start);
    for (const y of active)
      if (y.part === x.part && !before(x, y) && !before(y, x))
        report(`buffer ${x.b.name}: its bytes (@${dimToString(x.b.offset!)} +${dimToString(x.b.bytes!)}) overlap ${y.b.name}'s (@${dimToString(y.b.offset!)} +${dimToString(y.b.bytes!)}) at some T in 1..${maxT}, and both are live at kernel ${Math.max(x.iv.start, y.iv.start)}`);
    active.push(x);
  }
}

/** 2. Program inputs and outputs. */
function checkBoundaries(p: KProgram, scope: Map<string, BufInfo>, report: (m: string) => void): void {
  for (const [list, kind] of [
    [p.inputs, 'input'],
    [p.outputs, 'output'],
  ] as const) {
    const names = new Set<string>();
    const buffers = new Map<string, string>();
    for (const e of list) {
      if (names.has(e.name)) report(`${kind} ${e.name} is listed twice`);
      names.add(e.name);
      const b = scope.get(e.buffer);
      if (!b) report(`${kind} ${e.name}: no buffer named ${e.buffer}${hintName(e.buffer, scope)}`);
      else if (b.kind !== kind) report(`${kind} ${e.name}: buffer ${e.buffer} is a ${b.kind} buffer, expected kind ${kind}`);
      const other = buffers.get(e.buffer);
      if (other !== undefined) report(`${kind}s ${other} and ${e.name} both use buffer ${e.buffer}`);
      buffers.set(e.buffer, e.name);
    }
    // A loop slice of a stacked input (a layer's KV cache) is a view, named by its stack's line.
    const slices = loopSlices(p.steps);
    for (const b of scope.values())
      if (b.kind === kind && !buffers.has(b.name) && !slices.has(b.name)) report(`buffer ${b.name} is an ${kind} buffer but no ${kind} line names it`);
  }
}

/** The shape `pack` returns for a weight buffer: a placed expert stack whole (every expert), the rest as declared. */
function packedShape(p: KProgram, b: BufInfo): Dim[] {
  for (const q of p.ep?.placements ?? []) {
    const w = q.weights.find((x) => x.buffer === b.name);
    if (w) return b.shape.map((d, i) => (i === w.axis ? q.experts + q.shared : d));
  }
  return b.shape;
}

/**
 * 3b. Expert parallelism: every placement is consistent (`placementProblem`), its stacks are
 * weights holding one rank's slots plus the shared experts along their axis, and every
 * dispatch and combine step names a placement.
 */
function checkExpertParallel(p: KProgram, scope: Map<string, BufInfo>, report: (m: string) => void): void {
  const names = new Set<string>();
  if (p.ep) {
    if (!(Number.isInteger(p.ep.ranks) && p.ep.ranks >= 1)) report(`ranks ${p.ep.ranks} is not a whole number >= 1`);
    for (const q of p.ep.placements) {
      const where = `placement ${q.name}`;
      if (names.has(q.name)) report(`${where} is declared twice`);
      names.add(q.name);
      if (q.placement.ranks !== p.ep.ranks) report(`${where} is for ${q.placement.ranks} ranks, the program for ${p.ep.ranks}`);
      const problem = placementProblem(q.placement, q.experts);
      if (problem) report(`${where}: ${problem}`);
      if (!(Number.isInteger(q.shared) && q.shared >= 0)) report(`${where}: shared = ${q.shared} is not a whole number >= 0`);
      for (const w of q.weights) {
        const b = scope.get(w.buffer);
        if (!b) report(`${where}: no buffer named ${w.buffer}${hintName(w.buffer, scope)}`);
        else if (b.kind !== 'weight') report(`${where}: ${w.buffer} is a ${b.kind} buffer, not a weight`);
        else if (!(Number.isInteger(w.axis) && w.axis >= 0 && w.axis < b.shape.length)) report(`${where}: axis ${w.axis} is not an axis of ${w.buffer} ${typeStr(b)}`);
        else if (!dimEq(b.shape[w.axis]!, q.placement.slotsPerRank + q.shared))
          report(`${where}: ${w.buffer} ${typeStr(b)} holds ${shapeToString([b.shape[w.axis]!])} experts along axis ${w.axis}, expected ${q.placement.slotsPerRank} slots + ${q.shared} shared`);
      }
    }
  }
  const walk = (steps: readonly Step[]): void => {
    // An exchange started must finish later in the same step list (loop body), and only one started may finish.
    const open = new Set<string>();
    for (const s of steps) {
      if (s.kind === 'loop') walk(s.body);
      else if (s.kind === 'dispatch' || s.kind === 'ep_combine') {
        if (!names.has(s.placement)) report(`${s.kind} names the placement ${s.placement}, which the program does not declare${p.ep ? '' : ' (it has no ranks line)'}`);
        const key = `${s.kind} of ${s.placement}${s.part ? `, part ${s.part.index} of ${s.part.of}` : ''}`;
        if (s.phase === 'start' && open.has(key)) report(`${key} starts again before it finishes`);
        if (s.phase === 'start') open.add(key);
        if (s.phase === 'finish' && !open.delete(key)) report(`${key} finishes an exchange it never started`);
        if (s.phase === undefined && open.has(key)) report(`${key} runs whole while its started exchange has not finished`);
      }
    }
    for (const key of open) report(`${key} starts an exchange that never finishes`);
  };
  walk(p.steps);
}

/** 3. The pack function computes exactly the weight buffers. */
function checkPack(p: KProgram, scope: Map<string, BufInfo>, slices: Set<string>, report: (m: string) => void): void {
  const f = findFunc(p.module, p.pack);
  if (!f) return report(`pack: the module has no function named ${p.pack}${didYouMean(p.pack, p.module.funcs.map((g) => g.name)) ? ` (${didYouMean(p.pack, p.module.funcs.map((g) => g.name))})` : ''}`);
  if (f.params.length > 0) report(`pack: func ${f.name} takes ${f.params.length} parameters; the pack function reads only module weights`);
  const results = new Set<string>();
  for (const r of f.results) {
    results.add(r.name);
    const b = scope.get(r.name);
    if (!b) report(`pack: func ${f.name} returns ${r.name}, but no buffer has that name`);
    else if (b.kind !== 'weight') report(`pack: func ${f.name} returns ${r.name}, which is a ${b.kind} buffer, not a weight`);
    else if (r.value && (r.value.type.dtype !== b.dtype || !shapeEq(r.value.type.shape, packedShape(p, b))))
      report(`pack: func ${f.name} returns ${r.name} as ${typeStr(r.value.type)}, but the buffer is ${typeStr(b)}`);
    else if (r.value && !packedQuantMatches(r.value.type, b))
      report(`pack: func ${f.name} returns ${r.name} as ${printType(r.value.type)}, but the buffer is ${b.quant ? `quantized along axis ${b.quant.axis} in groups of ${b.quant.group}${b.quant.act ? `, act=${b.quant.act}` : ''}` : 'not quantized'}`);
  }
  // A quantized weight's scales come with its codes (`packedBuffers`): pack returns the pair as one value.
  const scales = new Set([...scope.values()].flatMap((b) => (b.quant ? [b.quant.scales] : [])));
  for (const b of scope.values()) if (b.kind === 'weight' && !results.has(b.name) && !slices.has(b.name) && !scales.has(b.name)) report(`buffer ${b.name} is a weight but func ${f.name} (pack) does not return it`);
}

/** A pack result's graph type agrees with its buffer on quantization (axis and group, resolved). */
function packedQuantMatches(t: TensorType, b: BufInfo): boolean {
  if (!t.quant || !b.quant) return !t.quant && !b.quant;
  if (t.shape.some(isSym)) return true; // reported elsewhere: weights have constant sizes
  const r = resolveQuant(t.quant, t.shape as number[]);
  return r.axis === b.quant.axis && r.group === b.quant.group && t.quant.act === b.quant.act;
}

/**
 * 1, for quantized weights: `quant` only on weight buffers of a quantized dtype (and every
 * such buffer has one), an axis within the rank, a positive group, an even last axis for
 * i4, and a scales buffer that is an f32 weight of the scales' shape.
 */
function checkQuantBuffer(p: KProgram, b: KBuffer, report: (m: string) => void): void {
  const where = `buffer ${b.name}`;
  if (!b.quant) {
    if (isQuantDType(b.dtype)) report(`${where} is ${typeStr(b)} but has no quant(scales=..., axis=..., group=...)`);
    return;
  }
  const q = b.quant;
  if (!isQuantDType(b.dtype)) return report(`${where} is ${typeStr(b)}; only i8, i4 and fp8e4m3 weights are quantized`);
  if (b.kind !== 'weight') report(`${where} is a quantized ${b.kind} buffer; only weights are quantized`);
  if (!(Number.isInteger(q.axis) && q.axis >= 0 && q.axis < b.shape.length)) return report(`${where}: quant axis ${q.axis} is not an axis of ${typeStr(b)}`);
  if (!(Number.isInteger(q.group) && q.group >= 1)) return report(`${where}: quant group ${q.group} is not a positive whole number`);
  const last = b.shape[b.shape.length - 1];
  if (b.dtype === 'i4' && typeof last === 'number' && last % 2 !== 0) report(`${where}: i4 codes pack two per byte along the last axis, which is ${last} (odd)`);
  const act = q.act && actProblem(b, { group: q.group, axis: q.axis - b.shape.length, act: q.act });
  if (act) report(`${where}: ${act.message}`);
  const s = p.buffers.find((x) => x.name === q.scales);
  if (!s) return report(`${where}: its scales buffer ${q.scales} is not declared`);
  if (s.dtype !== 'f32' || s.kind !== 'weight') report(`${where}: its scales ${s.name} are ${typeStr(s)} ${s.kind}, expected an f32 weight`);
  const r = b.shape[q.axis];
  if (typeof r === 'number') {
    const want = b.shape.map((d, i) => (i === q.axis ? Math.ceil(r / q.group) : d));
    if (!shapeEq(s.shape, want)) report(`${where}: its scales ${s.name} are ${typeStr(s)}, expected f32${shapeToString(want)} (one per ${q.group} along axis ${q.axis})`);
  }
}

function hintName(name: string, scope: Map<string, BufInfo>): string {
  const guess = didYouMean(name, scope.keys());
  return guess ? ` (${guess})` : '';
}

function collectProducers(steps: readonly Step[], into: Producers): void {
  for (const s of steps) {
    if (s.kind === 'loop') collectProducers(s.body, into);
    else if (s.kind === 'moe_align') into.align.set(s.sorted, s);
    else if (s.kind === 'grouped_gemm' && !s.epilogue.some((e) => e.kind === 'combine')) into.gemm.set(s.out, s);
  }
}

/** A dim that is a whole number >= 0 for every value >= 1 of its sizes (a cheap, sufficient test). */
function nonNegative(d: Dim): boolean | undefined {
  if (!isSym(d)) return d >= 0;
  if (d.terms.some(([, k]) => k < 0)) return undefined;
  return d.terms.reduce((acc, [, k]) => acc + k, d.c) >= 0;
}

/** 4–6. Steps, with the buffers in scope and the set of buffers written so far. */
class StepChecker {
  constructor(
    private readonly module: Module,
    private readonly producers: Producers,
    /** Every loop's slice names: a declared buffer among them is a view, bound only inside its loop. */
    readonly slices: Set<string>,
    private readonly report: (m: string) => void,
    /** The program's vector instruction set, which every tile's vector must be made of. */
    readonly isa?: KProgram['isa'],
  ) {}

  steps(steps: readonly Step[], scope: Map<string, BufInfo>, written: Set<string>, prefix: string): void {
    steps.forEach((s, i) => {
      const where = `step ${prefix}${i + 1} (${s.kind === 'loop' ? 'loop' : s.kind === 'op' ? `op ${s.op}` : s.kind})`;
      if (s.kind === 'loop') this.loop(s, scope, written, `${prefix}${i + 1}.`, where);
      else new KernelCheck(this, s, scope, written, where).run();
    });
  }

  private loop(l: LoopStep, outer: Map<string, BufInfo>, written: Set<string>, prefix: string, where: string): void {
    if (!(Number.isInteger(l.count) && l.count >= 1)) this.report(`${where}: the count ${l.count} is not a positive whole number`);
    for (const c of l.init ?? []) {
      const from = outer.get(c.from);
      const to = outer.get(c.to);
      if (!from) this.report(`${where}: init from ${c.from}, which is not a buffer${hintName(c.from, outer)}`);
      else if (!written.has(c.from)) this.report(`${where}: init reads ${c.from} before any step writes it`);
      this.pair('init', c, from, to, where);
    }
    for (const c of l.init ?? []) written.add(c.to);
    const scope = new Map(outer);
    const names = new Set<string>();
    for (const s of l.slices) {
      const st = outer.get(s.stacked);
      if (!st) {
        this.report(`${where}: slices ${s.stacked}, which is not a buffer${hintName(s.stacked, outer)}`);
        continue;
      }
      if (st.shape.length === 0 || !dimEq(st.shape[0], l.count))
        this.report(`${where}: ${s.stacked} is ${typeStr(st)}, but slicing it needs a leading size equal to the loop count ${l.count}`);
      const view: BufInfo = { name: s.slice, dtype: st.dtype, shape: st.shape.slice(1), kind: st.kind, sliceOf: s.stacked };
      const declared = outer.get(s.slice);
      if (st.quant) {
        // A quantized slice is declared, with the stacked scales sliced alongside it.
        const sq = declared?.quant;
        const pair = l.slices.find((x) => x.stacked === st.quant!.scales);
        if (!sq || sq.axis !== st.quant.axis - 1 || sq.group !== st.quant.group || sq.act !== st.quant.act || !pair || pair.slice !== sq.scales)
          this.report(`${where}: ${s.slice} slices the quantized ${s.stacked}, so it must be declared quantized along axis ${st.quant.axis - 1} in groups of ${st.quant.group}${st.quant.act ? ` with act=${st.quant.act}` : ''}, with ${st.quant.scales} sliced to its scales`);
        else view.quant = sq;
      }
      if (names.has(s.slice)) this.report(`${where}: the slice name ${s.slice} is given twice`);
      else if (declared?.sliceOf !== undefined) this.report(`${where}: the slice name ${s.slice} is already a slice of an enclosing loop`);
      else if (declared && (declared.dtype !== view.dtype || !shapeEq(declared.shape, view.shape) || declared.kind !== view.kind))
        this.report(`${where}: buffer ${s.slice} is declared ${typeStr(declared)} ${declared.kind}, but as a slice of ${s.stacked} it is ${typeStr(view)} ${view.kind}`);
      names.add(s.slice);
      scope.set(s.slice, view);
      if (written.has(s.stacked)) written.add(s.slice);
    }
    for (const c of l.carried) {
      const from = scope.get(c.from);
      if (!from) this.report(`${where}: carried from ${c.from}, which is not a buffer${hintName(c.from, scope)}`);
      this.pair('carried', c, from, outer.get(c.to), where);
    }
    this.steps(l.body, scope, written, prefix);
    for (const c of l.carried) {
      if (scope.has(c.from) && !written.has(c.from)) this.report(`${where}: carried ${c.from} -> ${c.to}, but the body never writes ${c.from}`);
      written.add(c.to);
    }
    for (const s of l.slices) written.delete(s.slice);
  }

  /** An `init` or `carried` copy: `to` exists, is a temp or output, and has `from`'s type. */
  private pair(what: string, c: { from: string; to: string }, from: BufInfo | undefined, to: BufInfo | undefined, where: string): void {
    if (!to) return this.report(`${where}: ${what} to ${c.to}, which is not a buffer of the enclosing scope`);
    if (from && (from.dtype !== to.dtype || !shapeEq(from.shape, to.shape)))
      this.report(`${where}: ${what} ${c.from} -> ${c.to} joins ${typeStr(from)} and ${typeStr(to)}; they must have the same type`);
    if (to.kind !== 'temp' && to.kind !== 'output') this.report(`${where}: ${what} ${c.from} -> ${c.to} writes a${to.kind === 'input' ? 'n' : ''} ${to.kind} buffer`);
  }

  problem(m: string): void {
    this.report(m);
  }

  align(sorted: string): MoeAlignKernel | undefined {
    return this.producers.align.get(sorted);
  }

  producerGemm(buffer: string): GroupedGemmKernel | undefined {
    return this.producers.gemm.get(buffer);
  }

  get graph(): Module {
    return this.module;
  }
}

type Role = 'read' | 'weight' | 'write';

/** The checks of one kernel. */
class KernelCheck {
  private readonly writes: string[] = [];

  constructor(
    private readonly c: StepChecker,
    private readonly k: Kernel,
    private readonly scope: Map<string, BufInfo>,
    private readonly written: Set<string>,
    private readonly where: string,
  ) {}

  private bad(m: string): void {
    this.c.problem(`${this.where}: ${m}`);
  }

  /** Looks a buffer up for a role; reports undeclared names, wrong kinds and reads before writes. */
  private use(role: string, name: string | undefined, how: Role): BufInfo | undefined {
    if (name === undefined) return undefined;
    const b = this.scope.get(name);
    if (!b) {
      this.bad(`${role} ${name} is not a declared buffer${hintName(name, this.scope)}`);
      return undefined;
    }
    if (b.sliceOf === undefined && this.c.slices.has(name)) {
      this.bad(`${role} ${name} is a loop's slice, bound only inside that loop`);
      return undefined;
    }
    if (how === 'write') {
      if (b.kind === 'input' || b.kind === 'weight') this.bad(`${role} ${name} is a${b.kind === 'input' ? 'n' : ''} ${b.kind} buffer; results go to temps or outputs`);
      this.writes.push(b.name);
    } else {
      if (how === 'weight' && b.kind !== 'weight') this.bad(`${role} ${name} is a ${b.kind} buffer, expected a weight`);
      if (!this.written.has(b.name)) this.bad(`${role} ${name} is read before any step writes it`);
    }
    return b;
  }

  /** A float buffer; for a GEMM weight role (w, shared_gate) also a quantized one. */
  private float(role: string, b: BufInfo | undefined): void {
    if (b?.quant && (role === 'w' || role === 'shared_gate')) return;
    if (b?.quant) return this.bad(`${role} ${b.name} is a quantized weight; only GEMM weights (w, shared_gate) are read dequantized`);
    if (b && !isFloatDType(b.dtype)) this.bad(`${role} ${b.name} is ${typeStr(b)}, expected a float tensor`);
  }

  private i32(role: string, b: BufInfo | undefined): void {
    if (b && b.dtype !== 'i32') this.bad(`${role} ${b.name} is ${typeStr(b)}, expected i32`);
  }

  /** Checks rank and the given dims (undefined: any). */
  private shape(role: string, b: BufInfo | undefined, want: Array<Dim | undefined>): boolean {
    if (!b) return false;
    const ok = b.shape.length === want.length && want.every((d, i) => d === undefined || dimEq(d, b.shape[i]));
    if (!ok) this.bad(`${role} ${b.name} is ${typeStr(b)}, expected ${b.dtype}[${want.map((d) => (d === undefined ? '_' : shapeToString([d]).slice(1, -1))).join(', ')}]`);
    return ok;
  }

  private positive(what: string, v: number): void {
    if (!(Number.isInteger(v) && v >= 1)) this.bad(`${what} = ${v} is not a positive whole number`);
  }

  run(): void {
    switch (this.k.kind) {
      case 'router':
        this.router(this.k);
        break;
      case 'moe_align':
        this.moeAlign(this.k);
        break;
      case 'grouped_gemm':
        this.groupedGemm(this.k);
        break;
      case 'gemm':
        this.gemm(this.k);
        break;
      case 'op':
        this.op(this.k);
        break;
      case 'attention': {
        const k = this.k;
        const roles = { q: k.q, k: k.k, v: k.v, k_cache: k.kCache, v_cache: k.vCache, sinks: k.sinks };
        const infos = Object.fromEntries(Object.entries(roles).map(([role, name]) => [role, this.use(role, name, 'read')]));
        checkAttention(k, { ...infos, out: this.use('out', k.out, 'write') }, (m) => this.bad(m));
        break;
      }
      case 'mla_attention': {
        const k = this.k;
        const roles = { q_nope: k.qNope, q_pe: k.qPe, kv: k.kv, k_pe: k.kPe, kv_cache: k.kvCache, pe_cache: k.peCache, wkv_b: k.wkvB };
        const infos = Object.fromEntries(Object.entries(roles).map(([role, name]) => [role, this.use(role, name, role === 'wkv_b' ? 'weight' : 'read')]));
        checkMla(k, { ...infos, out: this.use('out', k.out, 'write') }, (m) => this.bad(m));
        break;
      }
      case 'dispatch':
        this.dispatch(this.k);
        break;
      case 'ep_combine':
        this.epCombine(this.k);
        break;
      default:
        this.bad(`unknown kernel kind '${(this.k as { kind: string }).kind}'`);
    }
    if ('tile' in this.k && this.k.tile) this.tiling(this.k, this.k.tile);
    const th = this.k.threads;
    if (th?.minElems !== undefined) this.positive('threads min_elems', th.minElems);
    if (th?.workgroup !== undefined && !(Number.isInteger(th.workgroup) && th.workgroup >= 1 && (th.workgroup & (th.workgroup - 1)) === 0))
      this.bad(`threads workgroup = ${th.workgroup} is not a power of two`);
    for (const w of this.writes) this.written.add(w);
  }

  /** Sizes positive; the schedule consistent with the kernel and the program's vector kind. */
  private tiling(k: Kernel, t: Tiling): void {
    for (const key of ['m', 'n', 'k', 'mr', 'nr', 'vector', ...TILE_SCHEDULE_KEYS] as const) if (t[key] !== undefined) this.positive(`tile ${key}`, t[key]);
    if (t.m % t.mr !== 0 || t.n % t.nr !== 0) this.bad(`the micro-tile ${t.mr}x${t.nr} does not divide the tile ${t.m}x${t.n}`);
    const glu = 'epilogue' in k && k.epilogue.some((e) => e.kind === 'glu');
    if (glu && t.nr % 2 !== 0 && this.c.isa && GLU_PAIRED_KINDS.has(this.c.isa)) this.bad(`tile nr = ${t.nr} is odd, but an ${this.c.isa} glu micro-tile holds gate and up columns in pairs`);
    const lanes = this.c.isa && VECTOR_LANES[this.c.isa];
    if (lanes !== undefined && t.vector % lanes !== 0) this.bad(`tile vector = ${t.vector} is not a whole number of ${this.c.isa}'s ${lanes} lanes`);
    if (t.rows !== undefined && t.rows % t.mr !== 0) this.bad(`tile rows = ${t.rows} is not a whole number of mr = ${t.mr} rows`);
    if (t.streams !== undefined && k.kind !== 'grouped_gemm' && k.kind !== 'gemm') this.bad('tile streams is for a GEMM\'s decode path only');
    if (t.pass !== undefined && (k.kind !== 'grouped_gemm' || t.pass % t.m !== 0)) this.bad(`tile pass = ${t.pass} is for a grouped GEMM, in whole padding blocks of m = ${t.m} rows`);
    if (t.rows !== undefined && k.kind === 'grouped_gemm' && t.rows !== t.m) this.bad(`tile rows = ${t.rows}: a grouped GEMM passes over one padding block of m = ${t.m} rows`);
    if (t.stage !== undefined && t.kc === undefined) this.bad(`tile stage = ${t.stage} stages kc-deep chunks, but the tile has no kc`);
    const quantW = (k.kind === 'gemm' || k.kind === 'grouped_gemm') && this.scope.get(k.w)?.quant !== undefined;
    if (t.qdecode !== undefined && !quantW) this.bad(`tile qdecode = ${t.qdecode}, but the kernel's weight is not quantized`);
    if (t.prefetch !== undefined) {
      this.positive('tile prefetch', t.prefetch);
      if (t.qdecode !== 'group_sum') this.bad('tile prefetch is for the group_sum decode path only');
    }
  }

  private router(k: RouterKernel): void {
    const x = this.use('x', k.x, 'read');
    const w = this.use('w', k.w, 'weight');
    const bias = this.use('bias', k.bias, 'weight');
    const sb = this.use('select_bias', k.selectBias, 'weight');
    const gate = this.use('shared_gate', k.sharedGate, 'weight');
    const idx = this.use('indices', k.indices, 'write');
    const wts = this.use('weights', k.weights, 'write');
    this.positive('experts', k.experts);
    this.positive('k', k.k);
    if (k.k > k.experts) this.bad(`k = ${k.k} is more than the ${k.experts} experts`);
    if (!(Number.isInteger(k.shared) && k.shared >= 0)) this.bad(`shared = ${k.shared} is not a whole number >= 0`);
    if (k.sharedGate !== undefined && k.shared === 0) this.bad('a shared_gate without shared experts');
    if (k.capacityFactor !== undefined && !(k.capacityFactor > 0)) this.bad(`capacity_factor = ${k.capacityFactor} is not positive`);
    if (!Number.isFinite(k.scale)) this.bad(`scale = ${k.scale} is not a finite number`);
    if (k.select.kind === 'group_topk') {
      const { groups, topkGroups, groupScore } = k.select;
      this.positive('groups', groups);
      this.positive('topk_groups', topkGroups);
      if (k.experts % groups !== 0) this.bad(`${k.experts} experts do not split into ${groups} equal groups`);
      else {
        const per = k.experts / groups;
        if (topkGroups > groups) this.bad(`topk_groups = ${topkGroups} is more than groups = ${groups}`);
        if (k.k > topkGroups * per) this.bad(`k = ${k.k} is more than the ${topkGroups * per} experts of ${topkGroups} kept groups`);
        if (groupScore === 'sum_top2' && per < 2) this.bad(`group_score sum_top2 needs 2 experts per group, got ${per}`);
      }
    }
    for (const [r, b] of [
      ['x', x],
      ['w', w],
      ['bias', bias],
      ['select_bias', sb],
      ['shared_gate', gate],
      ['weights', wts],
    ] as const)
      this.float(r, b);
    this.i32('indices', idx);
    const t = x && this.shape('x', x, [undefined, undefined]) ? x.shape[0] : undefined;
    const d = x?.shape[1];
    this.shape('w', w, [k.experts, d]);
    this.shape('bias', bias, [k.experts]);
    this.shape('select_bias', sb, [k.experts]);
    this.shape('shared_gate', gate, [1, d]);
    this.shape('indices', idx, [t, k.k + k.shared]);
    this.shape('weights', wts, [t, k.k + k.shared]);
  }

  private moeAlign(k: MoeAlignKernel): void {
    const idx = this.use('indices', k.indices, 'read');
    const sorted = this.use('sorted', k.sorted, 'write');
    const be = this.use('block_expert', k.blockExpert, 'write');
    const count = this.use('count', k.count, 'write');
    this.positive('experts', k.experts);
    this.positive('k', k.k);
    this.positive('block', k.block);
    for (const [r, b] of [
      ['indices', idx],
      ['sorted', sorted],
      ['block_expert', be],
      ['count', count],
    ] as const)
      this.i32(r, b);
    this.shape('count', count, [1]);
    if (!this.shape('indices', idx, [undefined, k.k]) || !this.shape('sorted', sorted, [undefined]) || !this.shape('block_expert', be, [undefined])) return;
    const need = dimAdd(dimMul(idx!.shape[0], k.k), k.experts * (k.block - 1));
    if (nonNegative(dimSub(sorted!.shape[0], need)) === false)
      this.bad(`sorted ${sorted!.name} has ${shapeToString(sorted!.shape)} rows, fewer than T*K + E*(block-1) = ${shapeToString([need])}`);
    if (nonNegative(dimSub(dimMul(be!.shape[0], k.block), sorted!.shape[0])) === false)
      this.bad(`block_expert ${be!.name} ${shapeToString(be!.shape)} has fewer entries than the ${shapeToString(sorted!.shape)} sorted rows have blocks of ${k.block}`);
  }

  private groupedGemm(k: GroupedGemmKernel): void {
    const a = this.use('a', k.a, 'read');
    const w = this.use('w', k.w, 'weight');
    const idx = this.use('indices', k.indices, 'read');
    const sorted = this.use('sorted', k.sorted, 'read');
    const be = this.use('block_expert', k.blockExpert, 'read');
    const count = this.use('count', k.count, 'read');
    const init = this.use('init', k.init, 'read');
    const combine = this.epilogueUses(k.epilogue, true);
    const out = this.use('out', k.out, 'write');
    this.positive('k', k.k);
    if (!(Number.isInteger(k.sortedFromTokens) && k.sortedFromTokens >= 0)) this.bad(`sorted_from_tokens = ${k.sortedFromTokens} is not a whole number >= 0`);
    this.float('a', a);
    this.float('w', w);
    this.float('out', out);
    for (const [r, b] of [
      ['indices', idx],
      ['sorted', sorted],
      ['block_expert', be],
      ['count', count],
    ] as const)
      this.i32(r, b);
    const align = this.c.align(k.sorted);
    if (!align) this.bad(`sorted ${k.sorted} is not written by a moe_align step`);
    else {
      if (align.indices !== k.indices) this.bad(`indices ${k.indices} differ from the ${align.indices} that moe_align sorted into ${k.sorted}`);
      if (align.blockExpert !== k.blockExpert || align.count !== k.count)
        this.bad(`block_expert and count must be the ${align.blockExpert} and ${align.count} that moe_align wrote with ${k.sorted}`);
      if (align.k !== k.k) this.bad(`k = ${k.k}, but moe_align sorted ${align.k} choices per token`);
      if (k.tile && k.tile.m !== align.block) this.bad(`tile m = ${k.tile.m} differs from the moe_align block ${align.block}`);
      if (w && w.shape.length === 3 && !dimEq(w.shape[0], align.experts)) this.bad(`w ${w.name} has ${shapeToString([w.shape[0]])} experts, moe_align has ${align.experts}`);
    }
    if (!k.gather) {
      const prev = this.c.producerGemm(k.a);
      if (prev && (prev.sorted !== k.sorted || prev.sortedFromTokens !== k.sortedFromTokens))
        this.bad(`a ${k.a} holds rows laid out by another grouped_gemm (sorted ${prev.sorted}, sorted_from_tokens ${prev.sortedFromTokens}); this one must use the same`);
    }
    if (!w || !this.shape('w', w, [undefined, undefined, undefined])) return;
    const [n0, kd] = k.transB ? [w.shape[1], w.shape[2]] : [w.shape[2], w.shape[1]];
    const t = idx && this.shape('indices', idx, [undefined, k.k]) ? idx.shape[0] : undefined;
    const rows = sorted && this.shape('sorted', sorted, [undefined]) ? sorted.shape[0] : undefined;
    this.shape('a', a, [k.gather ? t : rows, kd]);
    const n = this.epilogueWidths(k.epilogue, n0, w.shape[0], t, k.k);
    if (combine) {
      this.shape('out', out, [t, n]);
      if (init && out && (init.dtype !== out.dtype || !shapeEq(init.shape, out.shape))) this.bad(`init ${init.name} is ${typeStr(init)}, out ${out.name} is ${typeStr(out)}; they must match`);
    } else {
      this.shape('out', out, [rows, n]);
      if (k.init !== undefined) this.bad('init is only for a grouped_gemm with a combine epilogue');
    }
  }

  private dispatch(k: DispatchKernel): void {
    const x = this.use('x', k.x, 'read');
    const idx = this.use('indices', k.indices, 'read');
    const wts = this.use('weights', k.weights, 'read');
    const rows = this.use('rows', k.rows, 'write');
    const local = this.use('local', k.local, 'write');
    const rw = this.use('rweights', k.rweights, 'write');
    const plan = this.use('plan', k.plan, 'write');
    this.positive('k', k.k);
    if (!(Number.isInteger(k.routed) && k.routed >= 0 && k.routed <= k.k)) this.bad(`routed = ${k.routed} is not a whole number in 0..k`);
    for (const [r, b] of [['x', x], ['weights', wts], ['rows', rows], ['rweights', rw]] as const) if (b && b.dtype !== 'f32') this.bad(`${r} ${b.name} is ${typeStr(b)}, expected f32`);
    for (const [r, b] of [['indices', idx], ['local', local], ['plan', plan]] as const) this.i32(r, b);
    if (!x || !this.shape('x', x, [undefined, undefined])) return;
    this.shape('indices', idx, [x.shape[0], k.k]);
    this.shape('weights', wts, [x.shape[0], k.k]);
    if (this.shape('rows', rows, [undefined, x.shape[1]])) {
      this.shape('local', local, [rows!.shape[0], 1]);
      this.shape('rweights', rw, [rows!.shape[0], 1]);
    }
    this.shape('plan', plan, [undefined]);
    this.exchange(k);
  }

  /** A micro-batch index below its count; a known phase. */
  private exchange(k: DispatchKernel | EpCombineKernel): void {
    if (k.part && !(Number.isInteger(k.part.of) && k.part.of >= 1 && Number.isInteger(k.part.index) && k.part.index >= 0 && k.part.index < k.part.of))
      this.bad(`part ${k.part.index} of ${k.part.of} is not a micro-batch (0 <= part < parts)`);
    if (k.phase !== undefined && k.phase !== 'start' && k.phase !== 'finish') this.bad(`phase "${k.phase}" is not start or finish`);
  }

  private epCombine(k: EpCombineKernel): void {
    const res = this.use('results', k.results, 'read');
    this.i32('plan', this.use('plan', k.plan, 'read'));
    const init = this.use('init', k.init, 'read');
    const out = this.use('out', k.out, 'write');
    this.positive('k', k.k);
    for (const [r, b] of [['results', res], ['init', init], ['out', out]] as const) if (b && b.dtype !== 'f32') this.bad(`${r} ${b.name} is ${typeStr(b)}, expected f32`);
    if (res && out && this.shape('out', out, [undefined, undefined])) this.shape('results', res, [undefined, out.shape[1]]);
    if (init && out && !shapeEq(init.shape, out.shape)) this.bad(`init ${init.name} is ${typeStr(init)}, out ${out.name} is ${typeStr(out)}; they must match`);
    this.exchange(k);
  }

  private gemm(k: Extract<Kernel, { kind: 'gemm' }>): void {
    const a = this.use('a', k.a, 'read');
    const w = this.use('w', k.w, 'weight');
    this.epilogueUses(k.epilogue, false);
    const out = this.use('out', k.out, 'write');
    this.float('a', a);
    this.float('w', w);
    this.float('out', out);
    if (!a || !w || a.shape.length < 1 || !this.shape('w', w, [undefined, undefined])) {
      if (a && a.shape.length < 1) this.bad(`a ${a.name} is a scalar`);
      return;
    }
    const [n0, kd] = k.transB ? [w.shape[0], w.shape[1]] : [w.shape[1], w.shape[0]];
    this.shape('a', a, [...a.shape.slice(0, -1), kd]);
    const n = this.epilogueWidths(k.epilogue, n0, undefined, undefined, 0);
    this.shape('out', out, [...a.shape.slice(0, -1), n]);
  }

  /** Reads of the epilogue buffers; whether there is a combine (it must be last, once). */
  private epilogueUses(eps: readonly Epilogue[], grouped: boolean): boolean {
    eps.forEach((e, i) => {
      if (e.kind === 'bias') this.float('bias', this.use('bias', e.bias, 'weight'));
      if (e.kind === 'combine') {
        this.float('combine weights', this.use('combine weights', e.weights, 'read'));
        if (i !== eps.length - 1) this.bad('combine must be the last epilogue');
      }
      if (e.kind === 'act' && !ACT_FNS.includes(e.fn)) this.bad(`unknown activation '${e.fn}'`);
      if (e.kind === 'glu') {
        if (!GLU_FNS.includes(e.fn) || !GLU_LAYOUTS.includes(e.layout)) this.bad(`unknown gated unit glu(${e.fn}, ${e.layout})`);
        if (e.fn === 'swiglu_clamped' && (e.limit === undefined || e.alpha === undefined)) this.bad('glu(swiglu_clamped) needs limit and alpha');
        if (e.fn === 'swiglu' && (e.limit !== undefined || e.alpha !== undefined)) this.bad('glu(swiglu) takes no limit or alpha');
      }
    });
    const combines = eps.filter((e) => e.kind === 'combine').length;
    if (combines > 1) this.bad('more than one combine epilogue');
    if (combines > 0 && !grouped) this.bad('a dense gemm has no combine epilogue (it has no token slots)');
    return combines > 0;
  }

  /** The output width after the epilogue chain; checks bias and combine weight shapes on the way. */
  private epilogueWidths(eps: readonly Epilogue[], n0: Dim, experts: Dim | undefined, t: Dim | undefined, k: number): Dim {
    let n = n0;
    for (const e of eps) {
      if (e.kind === 'bias') this.shape('bias', this.scope.get(e.bias), experts === undefined ? [n] : [experts, n]);
      if (e.kind === 'combine') this.shape('combine weights', this.scope.get(e.weights), [t, k]);
      if (e.kind === 'glu') {
        if (isSym(n) || n % 2 !== 0) this.bad(`glu needs an even, concrete width, got ${shapeToString([n])}`);
        else n = n / 2;
      }
    }
    return n;
  }

  private op(k: Extract<Kernel, { kind: 'op' }>): void {
    const ins = k.inputs.map((name, i) => this.use(`input ${i + 1}`, name, 'read'));
    const outs = k.outputs.map((name, i) => this.use(`output ${i + 1}`, name, 'write'));
    if (!(KERNELS[k.op] ?? FUSED_KERNELS[k.op]) || k.op === 'weight' || k.op === 'repeat' || !getOp(k.op)) {
      this.bad(
        k.op === 'weight' || k.op === 'repeat'
          ? `${k.op} is not a kernel (weights are buffers, repeats are loops)`
          : `unknown op '${k.op}'${didYouMean(k.op, Object.keys(KERNELS)) ? ` (${didYouMean(k.op, Object.keys(KERNELS))})` : ''}`,
      );
      return;
    }
    if (ins.some((b) => !b) || outs.some((b) => !b)) return;
    const q = ins.find((b) => b!.quant);
    if (q) return this.bad(`op ${k.op} reads the quantized weight ${q.name}; only GEMM and router kernels dequantize`);
    let types: TensorType[];
    try {
      types = inferOp(k.op, ins.map((b) => ({ dtype: b!.dtype, shape: b!.shape })), k.attrs, this.c.graph).types;
    } catch (e) {
      if (e instanceof OpError || e instanceof DimError) return this.bad(e.message);
      throw e;
    }
    if (types.length !== outs.length) return this.bad(`${k.op} gives ${types.length} results but ${outs.length} output buffers are named`);
    types.forEach((t, i) => {
      const b = outs[i]!;
      if (t.dtype !== b.dtype || !shapeEq(t.shape, b.shape)) this.bad(`output ${b.name} is ${typeStr(b)} but ${k.op} gives ${typeStr(t)}`);
    });
  }
}
