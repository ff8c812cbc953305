/**
 * @fileoverview The `attention` kernel of the kernel IR and the KV cache as state: its
 * record, its reference semantics (run by `kinterp.ts`) and its contract (checked by
 * `kverify.ts`). The math is the graph op's (`attention` in `ops.ts`, run by
 * `interp-attention.ts`): causal grouped-query attention over L cached positions and T new
 * ones, with an optional sliding window and per-head sinks.
 *
 * The cache comes in two forms, told apart by the kind of the `k_cache` buffer:
 * - `input`: the graph op's operands as they are: the caller passes the L cached rows in
 *   every call, and the new keys and values are not kept (what the graph IR says);
 * - `state`: the compiled model owns the cache (`BufferKind` `state`): a buffer of
 *   `CTX` rows (the context bound, `KProgram.maxContext`) per layer that lives between
 *   calls. A call with L = `past` positions already cached first writes the new keys and
 *   values into rows L..L+T-1, then attends over rows 0..L+T-1. Prefill (L = 0) and decode
 *   (T = 1) are the same call; L is the caller's, so `reset` is a call with L = 0, and rows
 *   at L and beyond are never read before the call writes them.
 *
 * The schedule (set by the tiler; renderers print it) is the key tile (keys whose scores a
 * row of queries holds at once: the online softmax's scratch is one tile, not L), the decode
 * split (for T = 1, the visible keys are split into at most `splits` ranges, each a partial
 * softmax, merged by their maxima and sums; threads take the ranges in turn, so the results do
 * not depend on the thread count) and, for MLA, the head block.
 */
import { fail } from '../diagnostics.ts';
import { type Dim, DimError, dimEq, evalDim, evalShape, isSym, shapeToString } from '../dims.ts';
import { attendRow } from '../graph/interp-attention.ts';
import { type Tensor, numel } from '../tensor.ts';
import { type DType, dtypeBytes } from '../types.ts';
import type { KProgram, KernelThreads } from './kernel.ts';
import { loopSlices } from './walk.ts';

/** The symbolic size of a state cache's positions: bound by the context bound, given per call by the caller. */
export const CONTEXT_DIM = 'CTX';

/** How an attention kernel walks its keys (see the file header). */
export interface AttentionSchedule {
  /** Keys per tile of the online softmax. */
  keyTile: number;
  /** Ranges at most (each of at least a tile of keys) into which a decode call (T = 1) splits the visible keys. */
  splits: number;
  /**
   * MLA: query heads scored together against each key, a divisor of the heads (every head
   * reads the one latent cache, so a block reads each key once). Attention's heads go
   * together by kv head, which the model fixes.
   */
  headBlock?: number;
  /**
   * MLA: the form it runs (mla.ts `MlaForm`), or `cheaper`: per call the form `mlaForm` picks
   * for its T and L, as the cost model counts. Absent: absorbed.
   */
  form?: 'absorbed' | 'naive' | 'cheaper';
  /**
   * Attention on C: queries a prefill block holds, each with the heads of its kv head, scored
   * together against a tile of keys that is transposed once for the block. Absent: the C
   * renderer picks it as the tiler would (`attentionQueryBlock`).
   */
  queryBlock?: number;
}

/** Floats a kernel's scratch on a C thread's stack keeps within (64 KiB: the C GEMMs' stack block too). */
export const STACK_BLOCK_FLOATS = 16384;

/**
 * Queries in one block of C's prefill attention (`AttentionSchedule.queryBlock`): about 32 query
 * rows (queries x the `perGroup` heads of a kv head), halved while its stack (the tile of keys
 * transposed, a row of scores, the rows' accumulators, maxima and sums) would pass
 * `STACK_BLOCK_FLOATS`.
 */
export function attentionQueryBlock(perGroup: number, dk: number, dv: number, keyTile: number): number {
  const floats = (qb: number): number => dk * keyTile + keyTile + qb * perGroup * (dv + 2);
  let qb = Math.max(1, Math.floor(32 / perGroup));
  while (qb > 1 && floats(qb) > STACK_BLOCK_FLOATS) qb = Math.floor(qb / 2);
  return qb;
}

/** The values of `AttentionSchedule.form`. */
export const MLA_SCHEDULE_FORMS = ['absorbed', 'naive', 'cheaper'] as const;

/**
 * out[T, H, Dv] = attention(q[T, H, Dk], keys and values of the cache then of k[T, G, Dk],
 * v[T, G, Dv]): query t (position past + t) sees key j when j <= past + t and, with
 * window W > 0, past + t - j < W; s_j = scale * q·k_j; with `sinks` [H] the softmax's
 * denominator also has exp(sinks[h]). Head h reads kv head h / (H / G).
 */
export interface AttentionKernel {
  kind: 'attention';
  q: string;
  k: string;
  v: string;
  /** [past, G, Dk] (an input cache) or [CTX, G, Dk] (a state cache, appended to). */
  kCache: string;
  vCache: string;
  sinks?: string;
  out: string;
  scale: number;
  /** 0: no window. */
  window: number;
  /** Positions already in the cache: an input cache's rows, or the caller's L for a state cache. */
  past: Dim;
  schedule?: AttentionSchedule;
  threads?: KernelThreads;
}

/** A buffer as the interpreter holds it: the tensor and how a value is stored into it (rounded to its dtype). */
export interface AttentionOperand {
  t: Tensor;
  store: (i: number, v: number) => void;
}

/**
 * Runs one attention kernel (the reference for every backend): with a state cache, writes
 * the new keys and values at rows past..past+T-1 first; then each (token, head) row of the
 * output as the graph interpreter computes it (float64 scores, max and sum, the weighted
 * values summed in key order, one rounding on store).
 */
export function runAttention(
  k: AttentionKernel,
  ops: { q: Tensor; k: Tensor; v: Tensor; kCache: AttentionOperand; vCache: AttentionOperand; sinks?: Tensor; out: AttentionOperand },
  state: boolean,
  bindings: Readonly<Record<string, number>>,
): void {
  const { q, k: kn, v } = ops;
  const [tokens, heads, dk] = q.shape;
  const groups = kn.shape[1];
  const dv = v.shape[2];
  const perGroup = heads / groups;
  const past = pastOf(k, bindings);
  const kc = ops.kCache.t.data;
  const vc = ops.vCache.t.data;
  // With a state cache every key is a cache row; else the new ones follow the cached rows.
  const cachedRows = appendToCaches(k, past, tokens, [[ops.kCache, kn], [ops.vCache, v]], state);
  const keyData = (j: number): [ArrayLike<number>, number] => (j < cachedRows ? [kc, j * groups] : [kn.data, (j - cachedRows) * groups]);
  const valueData = (j: number): [ArrayLike<number>, number] => (j < cachedRows ? [vc, j * groups] : [v.data, (j - cachedRows) * groups]);
  const out = new Float64Array(tokens * heads * dv);
  for (let t = 0; t < tokens; t++) {
    const keys = past + t + 1;
    const first = k.window > 0 ? Math.max(0, keys - k.window) : 0;
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / perGroup);
      const qo = (t * heads + h) * dk;
      const score = (j: number): number => {
        const [kd, row] = keyData(j);
        const ko = (row + g) * dk;
        let acc = 0;
        for (let e = 0; e < dk; e++) acc += q.data[qo + e] * kd[ko + e];
        return acc * k.scale;
      };
      const value = (j: number, e: number): number => {
        const [vd, row] = valueData(j);
        return vd[(row + g) * dv + e];
      };
      attendRow(keys, first, score, ops.sinks ? ops.sinks.data[h] : undefined, dv, value, out, (t * heads + h) * dv);
    }
  }
  for (let i = 0; i < out.length; i++) ops.out.store(i, out[i]);
}

/** The cached positions of a call (E505 when the caller gave no value for them). */
export function pastOf(k: { kind: string; past: Dim }, bindings: Readonly<Record<string, number>>): number {
  try {
    return evalDim(k.past, bindings);
  } catch (e) {
    if (!(e instanceof DimError)) throw e;
    const name = shapeToString([k.past]).slice(1, -1);
    return fail('E505', `${k.kind}: no value for ${name}, the positions already in the KV cache`, undefined, `bind ${name} (0 for a prefill into an empty cache)`);
  }
}

/**
 * The cache rows that hold keys: with state, the call's rows first written at
 * past..past+T-1 (E505 when they do not fit) and all past + T rows; an input cache must hold
 * exactly `past` rows, the new keys following them.
 */
export function appendToCaches(k: { kind: string; past: Dim }, past: number, tokens: number, caches: ReadonlyArray<[AttentionOperand, Tensor]>, state: boolean): number {
  const rows = caches[0][0].t.shape[0];
  if (!state) {
    if (past !== rows) throw new Error(`kernel interpreter: ${k.kind} past = ${past}, but its cache has ${rows} rows`);
    return past;
  }
  if (!Number.isInteger(past) || past < 0 || past + tokens > rows)
    fail('E505', `${k.kind}: ${shapeToString([k.past]).slice(1, -1)} = ${past} cached positions and T = ${tokens} new ones do not fit the cache of ${rows} positions`, undefined, 'give a larger context bound (--max-context), or start again with L = 0');
  for (const [cache, rowsOf] of caches) {
    const width = rowsOf.data.length / tokens;
    for (let i = 0; i < rowsOf.data.length; i++) cache.store(past * width + i, rowsOf.data[i]);
  }
  return past + tokens;
}

/** What the verifier knows of a buffer an attention kernel names. */
export interface AttentionBufferInfo {
  name: string;
  dtype: DType;
  shape: Dim[];
  kind: string;
}

/**
 * The attention kernel's contract (kverify's invariant 5): ranks and the dims the operands
 * share, a state cache of `CTX` rows, the window and the schedule. `bad` reports a problem.
 */
export function checkAttention(k: AttentionKernel, b: Partial<Record<'q' | 'k' | 'v' | 'k_cache' | 'v_cache' | 'sinks' | 'out', AttentionBufferInfo>>, bad: (m: string) => void): void {
  const show = (x: AttentionBufferInfo): string => `${x.dtype}${shapeToString(x.shape)}`;
  const { q, k: kn, v, k_cache: kc, v_cache: vc, out } = b;
  if (kc && vc && kc.kind !== vc.kind) bad(`k_cache ${kc.name} is ${kc.kind} but v_cache ${vc.name} is ${vc.kind}`);
  if (kc && kc.kind !== 'state' && kc.kind !== 'input' && kc.kind !== 'temp') bad(`k_cache ${kc.name} is a ${kc.kind} buffer; a cache is an input or state`);
  for (const [role, x] of Object.entries(b)) {
    if (!x) continue;
    if (x.dtype !== 'f32' && x.dtype !== 'f64' && x.dtype !== 'f16' && x.dtype !== 'bf16') bad(`${role} ${x.name} is ${show(x)}, expected a float tensor`);
    if (role !== 'sinks' && x.shape.length !== 3) bad(`${role} ${x.name} is ${show(x)}, expected rank 3`);
  }
  if (!q || !kn || !v || !kc || !vc || !out || [q, kn, v, kc, vc, out].some((x) => x.shape.length !== 3)) return;
  // Each operand's dims by name, as the graph op spells them; a name in two operands is one size.
  const dims: Array<[string, AttentionBufferInfo, string[]]> = [
    ['q', q, ['tokens', 'heads', 'head_dim']],
    ['k', kn, ['tokens', 'kv_heads', 'head_dim']],
    ['v', v, ['tokens', 'kv_heads', 'v_dim']],
    ['k_cache', kc, ['rows', 'kv_heads', 'head_dim']],
    ['v_cache', vc, ['rows', 'kv_heads', 'v_dim']],
    ['out', out, ['tokens', 'heads', 'v_dim']],
  ];
  checkNamedDims(dims, bad);
  const [h, g] = [q.shape[1], kn.shape[1]];
  if (isSym(h) || isSym(g) || g < 1 || h % g !== 0) bad(`${size(h)} query heads do not split over ${size(g)} kv heads`);
  if (b.sinks && !(b.sinks.shape.length === 1 && dimEq(b.sinks.shape[0], h))) bad(`sinks ${b.sinks.name} is ${show(b.sinks)}, expected one per query head`);
  if (!Number.isInteger(k.window) || k.window < 0) bad(`window = ${k.window} is not 0 (none) or a positive whole number`);
  if (k.schedule?.form !== undefined) bad(`schedule form = ${k.schedule.form}: only MLA has forms to choose from`);
  checkCacheAndSchedule(k, kc, bad);
}

function size(d: Dim): string {
  return shapeToString([d]).slice(1, -1);
}

/** Operands' dims by name (`[role, buffer, names]`): a name in two operands must be one size. */
export function checkNamedDims(dims: ReadonlyArray<[string, AttentionBufferInfo, string[]]>, bad: (m: string) => void): void {
  const seen = new Map<string, { dim: Dim; role: string }>();
  for (const [role, x, names] of dims)
    names.forEach((name, axis) => {
      const first = seen.get(name);
      if (!first) seen.set(name, { dim: x.shape[axis], role });
      else if (!dimEq(first.dim, x.shape[axis])) bad(`the ${name} of ${role} ${x.name} is ${size(x.shape[axis])}, but ${size(first.dim)} in ${first.role}`);
    });
}

/**
 * What attention and MLA kernels share: a state cache has `CTX` rows, an input cache `past`;
 * the scale is finite and the schedule's sizes positive.
 */
export function checkCacheAndSchedule(k: { past: Dim; scale: number; schedule?: AttentionSchedule }, cache: AttentionBufferInfo, bad: (m: string) => void): void {
  if (cache.kind === 'state') {
    const d = cache.shape[0];
    if (!(isSym(d) && d.c === 0 && d.terms.length === 1 && d.terms[0][0] === CONTEXT_DIM && d.terms[0][1] === 1))
      bad(`the state cache ${cache.name} is ${cache.dtype}${shapeToString(cache.shape)}; its rows are the context ${CONTEXT_DIM}`);
  } else if (!dimEq(k.past, cache.shape[0])) bad(`past = ${size(k.past)}, but the input cache ${cache.name} has ${size(cache.shape[0])} rows`);
  if (!Number.isFinite(k.scale)) bad(`scale = ${k.scale} is not a finite number`);
  for (const key of ['keyTile', 'splits', 'headBlock', 'queryBlock'] as const) {
    const x = k.schedule?.[key];
    if (x !== undefined && !(Number.isInteger(x) && x >= 1)) bad(`schedule ${key} = ${x} is not a positive whole number`);
  }
  const form = k.schedule?.form;
  if (form !== undefined && !(MLA_SCHEDULE_FORMS as readonly string[]).includes(form)) bad(`schedule form = ${form} is not one of ${MLA_SCHEDULE_FORMS.join(', ')}`);
}

/**
 * Zeroed state buffers (the KV caches) of a program at its context bound, by buffer name:
 * what `interpretKernelIR` takes as `state`, and what the caller keeps between calls.
 */
export function allocateState(p: KProgram, opts: { f64?: boolean } = {}): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const { name, dtype, shape } of stateShapes(p)) out[name] = { dtype, shape, data: opts.f64 ? new Float64Array(numel(shape)) : new Float32Array(numel(shape)) };
  return out;
}

/** The program's state buffers (not their loop slices, views of them) at its context bound. */
function stateShapes(p: KProgram): Array<{ name: string; dtype: DType; shape: number[] }> {
  const slices = loopSlices(p.steps);
  return p.buffers.filter((b) => b.kind === 'state' && !slices.has(b.name)).map((b) => ({ name: b.name, dtype: b.dtype, shape: evalShape(b.shape, { [CONTEXT_DIM]: p.maxContext ?? 0 }) }));
}

/** What a program's state costs at its context bound: bytes (at the buffers' dtypes) and buffers; 0 and 0 without state. */
export function stateBytes(p: KProgram): { bytes: number; buffers: number } {
  const state = stateShapes(p);
  return { bytes: state.reduce((sum, b) => sum + numel(b.shape) * dtypeBytes(b.dtype), 0), buffers: state.length };
}

/** Empties the state (zeroes it). Not needed for correctness (a call with L = 0 starts afresh); it makes a state's bytes reproducible. */
export function resetState(state: Record<string, Tensor>): void {
  for (const t of Object.values(state)) t.data.fill(0);
}
