/**
 * @fileoverview The canonical text form of the kernel IR (`kernel.ts`), for dumps after
 * lowering, hand-written kernel tests and golden files. `kparse.ts` reads it back, and
 * `printKernelIR(parseKernelIR(t)) === t` for every printed program.
 *
 * Format (one declaration or step per line, a trailing newline):
 *
 *     moec.kernel-ir 1
 *     program mixtral max_tokens 256 isa avx2 arena 4864*T+4096 naive 3565568  // arena 1.2 MiB at T = 256, naive 3.4 MiB
 *     pack pack
 *     input x -> x
 *     output y -> y
 *
 *     buffer x: f32[T, 64] input
 *     buffer w_in: f32[8, 256, 64] weight
 *     buffer idx: i32[T, 2] temp @0 +(64*T)
 *     buffer w_q: i4[8, 256, 64] weight quant(scales=w_q.scales, axis=2, group=32)
 *     buffer w_a: i8[8, 256, 64] weight quant(scales=w_a.scales, axis=2, group=32, act=q8)
 *
 *     router(x=x, w=router) -> (indices=idx, weights=rw) {experts=8, k=2, score="softmax", select="topk", post_softmax=false, normalize=true, scale=1, shared=0}
 *     moe_align(indices=idx) -> (sorted=sorted, block_expert=be, count=cnt) {experts=8, k=2, block=16}
 *     grouped_gemm(a=x, w=w_in, indices=idx, sorted=sorted, block_expert=be, count=cnt) -> (out=h) {gather=true, trans_b=true, k=2, sorted_from_tokens=4} epilogue[glu(swiglu, concat)] tile(m=16, n=64, k=64, mr=4, nr=8, vector=8, note="...")
 *     grouped_gemm(a=h, w=w_out, indices=idx, sorted=sorted, block_expert=be, count=cnt, init=x) -> (out=y) {gather=false, trans_b=true, k=2, sorted_from_tokens=4} epilogue[combine(rw)]
 *     op rmsnorm(x, norm) -> (hn) {eps=0.000001}
 *     loop 3 slices(moe.w -> w_i) carried(h2 -> h) {
 *       gemm(a=h, w=w_i) -> (out=h2) {trans_b=true} epilogue[bias(b), act(silu)]
 *     }
 *
 *     -- graph --
 *     moec.ir 1
 *     ...the graph module (weights and the `pack` function), as printed by `printIR`
 *
 * - Header: `moec.kernel-ir 1`, then `program NAME` with `max_tokens N`, `max_context N` (the
 *   context bound of state caches), `isa KIND` (the
 *   vector instruction set, `VectorKind`), `arena BYTES` (affine in T: `a*T+b`), `parts(BYTES,
 *   ...)` when the arena is split over bindings, and `naive BYTES` (at the bound) when set (the
 *   `//` comment after them is derived, for people, and ignored by the parser), then `pack FUNC`, then one `input GRAPH_NAME -> BUFFER` per model input
 *   and one `output GRAPH_NAME -> BUFFER` per model output, in program order.
 * - Buffers, in program order: `buffer NAME: TYPE KIND`, KIND one of input, output, weight,
 *   temp, state, then `part N` (a split arena's part), `@OFFSET` and `+BYTES` when the memory planner
 *   has set them: numbers, or `(a*T+b)` when they depend on the token count.
 * - Steps, in program order. A kernel is `KIND(role=buffer, ...) -> (role=buffer, ...)
 *   {attrs}`, then `epilogue[...]` when it has epilogues and `tile(...)` when it is tiled.
 *   Operands come in a fixed order per kind; optional operands (router `bias`,
 *   `select_bias`, `shared_gate`; grouped_gemm `init`) appear only when set. Attributes
 *   are in a fixed order per kind; optional ones (router `capacity_factor`, and `groups`,
 *   `topk_groups`, `group_score` of a `group_topk` selection) appear only when set:
 *   - router: experts, k, score, select, [groups, topk_groups, group_score], post_softmax,
 *     normalize, scale, [capacity_factor], shared
 *   - moe_align: experts, k, block
 *   - grouped_gemm: gather, trans_b, k, sorted_from_tokens
 *   - gemm: trans_b
 *   - attention (`attention.ts`): scale, window, past (a size: the cached positions), then
 *     `schedule(key_tile=N, splits=N)` when the tiler has set it
 *   - mla_attention (`mla.ts`): scale, past, then the schedule as for attention, with
 *     `head_block=N` and `form="absorbed"|"naive"|"cheaper"` when set
 * - Epilogues, in order: `bias(BUFFER)`, `act(FN)`, `glu(FN, LAYOUT)` plus `, limit=X` and
 *   `, alpha=X` when set, `combine(WEIGHTS)`.
 * - Tiling: `tile(m=, n=, k=, mr=, nr=, vector=)`, then the schedule fields that are set:
 *   `rows=, kc=, panels=` (CPU cache blocking), `streams=` (decode-path panel streams),
 *   `pass=` (a Wasm grouped GEMM's rows of one expert per pass over its weights),
 *   `stage="dma"` (scratchpad staging),
 *   `qdecode="group_sum"|"scale_each"` and
 *   `prefetch=BYTES` (a quantized weight's decode path), then `note="..."`.
 * - Any other op: `op NAME(in, ...) -> (out, ...) {attrs}` with the graph op's attributes as
 *   `printAttrs` prints them (all of them, sorted; left out when there are none).
 * - Any kernel ends with `threads(min_elems=N, workgroup=W)` (the fields set) when it has a
 *   thread split (`KernelThreads`).
 * - A loop: `loop COUNT init(FROM -> TO, ...) slices(STACKED -> SLICE, ...)
 *   carried(FROM -> TO, ...) {`, its body indented by two spaces, then `}`; each of the
 *   three lists is left out when empty (or, for `init`, absent).
 * - The graph module follows a `-- graph --` line, printed by `printIR`.
 * - Names (program, buffers, roles' buffers, inputs, outputs, pack) are bare when dotted
 *   identifiers, else JSON strings, as in the graph IR; numbers print as in the graph IR.
 */
import { type Dim, dimToString, evalDim, isSym } from '../dims.ts';
import type { AttrValue, Attrs } from '../graph/graph.ts';
import type { AttentionSchedule } from './attention.ts';
import type { Epilogue, ExpertParallel, KBuffer, KProgram, Kernel, LoopStep, Step, Tiling, KernelThreads } from './kernel.ts';
import { printAttrValue, printAttrs, printIR, printName, printNumber, printType } from '../graph/print.ts';

/** The format version on the first line; the parser refuses any other. */
export const KERNEL_IR_VERSION = 1;

/** The optional whole-number schedule fields of a tiling after `vector`, in print order (`kparse.ts` reads the same list). */
export const TILE_SCHEDULE_KEYS = ['rows', 'kc', 'panels', 'streams', 'pass'] as const;

/** The line between the kernel program and its graph module. */
export const GRAPH_SECTION = '-- graph --';

/** The canonical text of a whole kernel program, graph module included. */
export function printKernelIR(p: KProgram): string {
  const lines = [`moec.kernel-ir ${KERNEL_IR_VERSION}`, printProgramLine(p), `pack ${printName(p.pack)}`];
  for (const i of p.inputs) lines.push(`input ${printName(i.name)} -> ${printName(i.buffer)}`);
  for (const o of p.outputs) lines.push(`output ${printName(o.name)} -> ${printName(o.buffer)}`);
  if (p.ep) lines.push(...printExpertParallel(p.ep));
  lines.push('');
  for (const b of p.buffers) lines.push(printBuffer(b));
  lines.push('');
  lines.push(...printSteps(p.steps, ''));
  lines.push('', GRAPH_SECTION);
  return lines.join('\n') + '\n' + printIR(p.module);
}

/**
 * `ranks R` and one line per placement:
 * `placement NAME {experts=E, shared=S} slots([0, 2], [1, 3]) weights(BUFFER@AXIS, ...)`
 * (the copies of each expert follow from the slots).
 */
function printExpertParallel(ep: ExpertParallel): string[] {
  return [
    `ranks ${printNumber(ep.ranks)}`,
    ...ep.placements.map(
      (q) =>
        `placement ${printName(q.name)} {experts=${q.experts}, shared=${q.shared}} slots(${q.placement.slots.map((s) => `[${s.join(', ')}]`).join(', ')}) weights(${q.weights.map((w) => `${printName(w.buffer)}@${w.axis}`).join(', ')})`,
    ),
  ];
}

function printProgramLine(p: KProgram): string {
  let s = `program ${printName(p.name)}`;
  if (p.maxTokens !== undefined) s += ` max_tokens ${printNumber(p.maxTokens)}`;
  if (p.maxContext !== undefined) s += ` max_context ${printNumber(p.maxContext)}`;
  if (p.isa !== undefined) s += ` isa ${p.isa}`;
  if (p.arenaBytes !== undefined) s += ` arena ${printDim(p.arenaBytes)}`;
  if (p.arenaParts !== undefined) s += ` parts(${p.arenaParts.map(printDim).join(', ')})`;
  if (p.naiveBytes !== undefined) s += ` naive ${printNumber(p.naiveBytes)}`;
  const notes: string[] = [];
  if (p.arenaBytes !== undefined) notes.push(`arena ${formatBytes(evalDim(p.arenaBytes, { T: p.maxTokens ?? 1 }))}${isSym(p.arenaBytes) ? ` at T = ${p.maxTokens ?? 1}` : ''}`);
  if (p.naiveBytes !== undefined) notes.push(`naive ${formatBytes(p.naiveBytes)}`);
  return notes.length > 0 ? `${s}  // ${notes.join(', ')}` : s;
}

/** A planned size: a number, or `a*T+b` (the parser reads it back with the dim rule). */
function printDim(d: Dim): string {
  return isSym(d) ? dimToString(d) : printNumber(d);
}

/** A buffer's planned offset or size: parenthesised when symbolic, as `+` would continue it. */
function printPlanned(d: Dim): string {
  return isSym(d) ? `(${dimToString(d)})` : printNumber(d);
}

/** `1.2 MiB`, for the header comment. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** `buffer idx: i32[T, 2] temp @0 +2048` */
export function printBuffer(b: KBuffer): string {
  let s = `buffer ${printName(b.name)}: ${printType({ dtype: b.dtype, shape: b.shape })} ${b.kind}`;
  if (b.quant) s += ` quant(scales=${printName(b.quant.scales)}, axis=${b.quant.axis}, group=${b.quant.group}${b.quant.act ? `, act=${b.quant.act}` : ''})`;
  if (b.part !== undefined) s += ` part ${b.part}`;
  if (b.offset !== undefined) s += ` @${printPlanned(b.offset)}`;
  if (b.bytes !== undefined) s += ` +${printPlanned(b.bytes)}`;
  return s;
}

function printSteps(steps: readonly Step[], indent: string): string[] {
  const out: string[] = [];
  for (const s of steps) {
    if (s.kind === 'loop') out.push(...printLoop(s, indent));
    else out.push(indent + printKernel(s));
  }
  return out;
}

function printLoop(l: LoopStep, indent: string): string[] {
  let head = `loop ${printNumber(l.count)}`;
  if (l.init && l.init.length > 0) head += ` init(${l.init.map((c) => `${printName(c.from)} -> ${printName(c.to)}`).join(', ')})`;
  if (l.slices.length > 0) head += ` slices(${l.slices.map((s) => `${printName(s.stacked)} -> ${printName(s.slice)}`).join(', ')})`;
  if (l.carried.length > 0) head += ` carried(${l.carried.map((c) => `${printName(c.from)} -> ${printName(c.to)}`).join(', ')})`;
  return [`${indent}${head} {`, ...printSteps(l.body, indent + '  '), `${indent}}`];
}

type Roles = Array<[string, string | undefined]>;
type AttrList = Array<[string, AttrValue | undefined]>;

/** One kernel as its one line (also used by the verifier's messages). */
export function printKernel(k: Kernel): string {
  switch (k.kind) {
    case 'router': {
      const sel = k.select;
      const attrs: AttrList = [
        ['experts', k.experts],
        ['k', k.k],
        ['score', k.score],
        ['select', sel.kind],
        ['groups', sel.kind === 'group_topk' ? sel.groups : undefined],
        ['topk_groups', sel.kind === 'group_topk' ? sel.topkGroups : undefined],
        ['group_score', sel.kind === 'group_topk' ? sel.groupScore : undefined],
        ['post_softmax', k.postSoftmax],
        ['normalize', k.normalize],
        ['scale', k.scale],
        ['capacity_factor', k.capacityFactor],
        ['shared', k.shared],
      ];
      const ins: Roles = [
        ['x', k.x],
        ['w', k.w],
        ['bias', k.bias],
        ['select_bias', k.selectBias],
        ['shared_gate', k.sharedGate],
      ];
      return call('router', ins, [['indices', k.indices], ['weights', k.weights]], attrs, [], k.tile) + printThreads(k.threads);
    }
    case 'moe_align':
      return call(
        'moe_align',
        [['indices', k.indices]],
        [['sorted', k.sorted], ['block_expert', k.blockExpert], ['count', k.count]],
        [['experts', k.experts], ['k', k.k], ['block', k.block]],
        [],
      ) + printThreads(k.threads);
    case 'grouped_gemm': {
      const ins: Roles = [
        ['a', k.a],
        ['w', k.w],
        ['indices', k.indices],
        ['sorted', k.sorted],
        ['block_expert', k.blockExpert],
        ['count', k.count],
        ['init', k.init],
      ];
      const attrs: AttrList = [
        ['gather', k.gather],
        ['trans_b', k.transB],
        ['k', k.k],
        ['sorted_from_tokens', k.sortedFromTokens],
      ];
      return call('grouped_gemm', ins, [['out', k.out]], attrs, k.epilogue, k.tile) + printThreads(k.threads);
    }
    case 'gemm':
      return call('gemm', [['a', k.a], ['w', k.w]], [['out', k.out]], [['trans_b', k.transB]], k.epilogue, k.tile) + printThreads(k.threads);
    case 'attention': {
      const ins: Roles = [['q', k.q], ['k', k.k], ['v', k.v], ['k_cache', k.kCache], ['v_cache', k.vCache], ['sinks', k.sinks]];
      return call('attention', ins, [['out', k.out]], [['scale', k.scale], ['window', k.window], ['past', k.past]], []) + printSchedule(k.schedule) + printThreads(k.threads);
    }
    case 'mla_attention': {
      const ins: Roles = [['q_nope', k.qNope], ['q_pe', k.qPe], ['kv', k.kv], ['k_pe', k.kPe], ['kv_cache', k.kvCache], ['pe_cache', k.peCache], ['wkv_b', k.wkvB]];
      return call('mla_attention', ins, [['out', k.out]], [['scale', k.scale], ['past', k.past]], []) + printSchedule(k.schedule) + printThreads(k.threads);
    }
    case 'op':
      return `op ${printName(k.op)}(${k.inputs.map(printName).join(', ')}) -> (${k.outputs.map(printName).join(', ')})${printAttrs(k.attrs as Attrs)}${printThreads(k.threads)}`;
    case 'dispatch':
      return call(
        'dispatch',
        [['x', k.x], ['indices', k.indices], ['weights', k.weights]],
        [['rows', k.rows], ['local', k.local], ['rweights', k.rweights], ['plan', k.plan]],
        [['placement', k.placement], ['k', k.k], ['routed', k.routed], ['part', k.part?.index], ['parts', k.part?.of], ['phase', k.phase]],
        [],
      ) + printThreads(k.threads);
    case 'ep_combine':
      return call('ep_combine', [['results', k.results], ['plan', k.plan], ['init', k.init]], [['out', k.out]], [['placement', k.placement], ['k', k.k], ['part', k.part?.index], ['parts', k.part?.of], ['phase', k.phase]], []) + printThreads(k.threads);
  }
}

function call(kind: string, ins: Roles, outs: Roles, attrs: AttrList, epilogue: readonly Epilogue[], tile?: Tiling): string {
  const roles = (rs: Roles): string =>
    rs
      .filter(([, b]) => b !== undefined)
      .map(([r, b]) => `${r}=${printName(b!)}`)
      .join(', ');
  const a = attrs
    .filter(([, v]) => v !== undefined)
    .map(([key, v]) => `${key}=${printAttrValue(v!)}`)
    .join(', ');
  let s = `${kind}(${roles(ins)}) -> (${roles(outs)}) {${a}}`;
  if (epilogue.length > 0) s += ` epilogue[${epilogue.map(printEpilogue).join(', ')}]`;
  if (tile) s += ` ${printTiling(tile)}`;
  return s;
}

/** ` schedule(key_tile=256, splits=2)` of an attention or MLA kernel, or nothing. */
function printSchedule(s: AttentionSchedule | undefined): string {
  return s ? ` schedule(key_tile=${printNumber(s.keyTile)}, splits=${printNumber(s.splits)}${s.headBlock !== undefined ? `, head_block=${printNumber(s.headBlock)}` : ''}${s.form !== undefined ? `, form=${JSON.stringify(s.form)}` : ''}${s.queryBlock !== undefined ? `, query_block=${printNumber(s.queryBlock)}` : ''})` : '';
}

/** ` threads(min_elems=16384)`, ` threads(workgroup=64)`: the fields set, or nothing. */
function printThreads(t: KernelThreads | undefined): string {
  const parts = [];
  if (t?.minElems !== undefined) parts.push(`min_elems=${printNumber(t.minElems)}`);
  if (t?.workgroup !== undefined) parts.push(`workgroup=${printNumber(t.workgroup)}`);
  return parts.length > 0 ? ` threads(${parts.join(', ')})` : '';
}

/** `glu(swiglu_clamped, interleaved, limit=7, alpha=1.702)` */
export function printEpilogue(e: Epilogue): string {
  switch (e.kind) {
    case 'bias':
      return `bias(${printName(e.bias)})`;
    case 'act':
      return `act(${e.fn})`;
    case 'glu': {
      let s = `glu(${e.fn}, ${e.layout}`;
      if (e.limit !== undefined) s += `, limit=${printNumber(e.limit)}`;
      if (e.alpha !== undefined) s += `, alpha=${printNumber(e.alpha)}`;
      return s + ')';
    }
    case 'combine':
      return `combine(${printName(e.weights)})`;
  }
}

/** `tile(m=16, n=64, k=64, mr=4, nr=8, vector=8, rows=16, kc=64, panels=4, streams=4, qdecode="group_sum", prefetch=4096, note="...")` */
export function printTiling(t: Tiling): string {
  const parts = [`m=${printNumber(t.m)}`, `n=${printNumber(t.n)}`, `k=${printNumber(t.k)}`, `mr=${printNumber(t.mr)}`, `nr=${printNumber(t.nr)}`, `vector=${printNumber(t.vector)}`];
  for (const key of TILE_SCHEDULE_KEYS) if (t[key] !== undefined) parts.push(`${key}=${printNumber(t[key])}`);
  if (t.stage !== undefined) parts.push(`stage=${JSON.stringify(t.stage)}`);
  if (t.qdecode !== undefined) parts.push(`qdecode=${JSON.stringify(t.qdecode)}`);
  if (t.prefetch !== undefined) parts.push(`prefetch=${printNumber(t.prefetch)}`);
  if (t.note !== undefined) parts.push(`note=${JSON.stringify(t.note)}`);
  return `tile(${parts.join(', ')})`;
}
