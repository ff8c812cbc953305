/**
 * @fileoverview The C view of an `attention` kernel (ir/kernel/attention.ts) for
 * `targets/c/attention.c.hbs`: its sizes, schedule (key tile, decode split) and operands.
 * The C backend runs attention against a state cache only (the model owns it; the caller
 * passes its region and L to `forward`): an input cache would make every size depend on L.
 */
import { isSym } from '../../../ir/dims.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { type AttentionKernel, type AttentionSchedule, attentionQueryBlock } from '../../../ir/kernel/attention.ts';
import { type MlaAttentionKernel, mlaFormRule, mlaKernelSizes } from '../../../ir/kernel/mla.ts';
import type { KBuffer, KProgram } from '../../../ir/kernel/kernel.ts';
import type { Isa } from './render.ts';

/** What the renderer lends the view: buffer names to C variables (marking them used), and buffers (slices resolved). */
export interface AttentionViewContext {
  v: (name: string) => string;
  buffer: (name: string) => KBuffer;
  /** f32 lanes of the program's vector ISA (1: none). */
  lanes: number;
  /** The program's vector ISA, for the prefill block's intrinsics (none: portable C only). */
  isa?: Isa;
  /** A C float literal. */
  num: (x: number) => string;
  /** The program's token bound (the naive MLA form keeps a (max, sum) pair per token). */
  maxTokens: number;
}

/** The C parameter of `forward` that holds the cached positions L. */
export const C_PAST = 'L';


/** What both kernels' views start from: the fixed sizes after a buffer's leading axis, and the schedule. */
function common(k: AttentionKernel | MlaAttentionKernel, c: AttentionViewContext): { dims: (name: string) => number[]; schedule: AttentionSchedule } {
  if (!isSym(k.past) || k.past.c !== 0 || k.past.terms.length !== 1 || k.past.terms[0][1] !== 1)
    throw new Error(`C backend: ${k.kind}'s cached positions must be one size (L), not ${JSON.stringify(k.past)}`);
  const dims = (name: string): number[] =>
    c.buffer(name).shape.slice(1).map((d) => {
      if (isSym(d)) throw new Error(`C backend: ${name} has a symbolic size where ${k.kind} needs a fixed one`);
      return d;
    });
  const schedule = k.schedule;
  if (!schedule) fail('E701', `the ${k.kind} writing ${k.out} has no schedule (key tile, decode split)`, undefined, 'run the tile pass for a C target: it records the schedule');
  return { dims, schedule };
}

export function attentionView(k: AttentionKernel, c: AttentionViewContext): [Record<string, unknown>, Array<{ field: string; expr: string }>] {
  const { dims, schedule } = common(k, c);
  const [heads, dk] = dims(k.q);
  const [kvHeads, dv] = dims(k.v);
  const args = [
    { field: 'q', expr: c.v(k.q) },
    { field: 'k', expr: c.v(k.k) },
    { field: 'v', expr: c.v(k.v) },
    { field: 'kc', expr: c.v(k.kCache) },
    { field: 'vc', expr: c.v(k.vCache) },
    ...(k.sinks !== undefined ? [{ field: 'sinks', expr: c.v(k.sinks) }] : []),
    { field: 'out', expr: c.v(k.out) },
    { field: 'T', expr: 'T' },
    { field: 'L', expr: C_PAST },
  ];
  const lanes = Math.max(1, c.lanes);
  const keyTile = schedule.keyTile;
  const perGroup = heads / kvHeads;
  const queryBlock = schedule.queryBlock ?? attentionQueryBlock(perGroup, dk, dv, keyTile);
  // Intrinsics where the accumulator rows split into whole vectors: chunks of at most 8 vectors
  // (scores over keys, sums over value elements), each chunk's sums held in registers.
  const simd = c.isa && dv % lanes === 0 && keyTile % lanes === 0 ? c.isa : undefined;
  const vecs = (n: number): Array<{ v: number; off: number }> => Array.from({ length: n }, (_, v) => ({ v, off: v * lanes }));
  // The tile's maxima and sums in this many partial chains (a divisor of the tile: a schedule set by hand may be any size).
  let tileLanes = Math.min(lanes, keyTile);
  while (keyTile % tileLanes !== 0) tileLanes--;
  // Scores in chunks of whole vectors that divide the tile; a short tile (the last, or a short
  // sequence's only one) is scored up to its chunk's end only.
  let scoreChunk = tileLanes;
  if (simd) for (let w = Math.min(keyTile, 8 * lanes); w >= lanes; w -= lanes) if (keyTile % w === 0) {
    scoreChunk = w;
    break;
  }
  let accVecs = Math.min(8, dv / lanes);
  while (simd && (dv / lanes) % accVecs !== 0) accVecs--;
  const view = {
    attention: true,
    queryBlock,
    blockRows: queryBlock * perGroup,
    simd,
    scoreChunk,
    scoreVecs: vecs(scoreChunk / lanes),
    accChunk: accVecs * lanes,
    accVecs: vecs(accVecs),
    tileLanes,
    summaryLine: `attention, ${heads} heads over ${kvHeads} kv heads of ${dk}${dv !== dk ? ` (values ${dv})` : ''}${k.window > 0 ? `, window ${k.window}` : ''}${k.sinks !== undefined ? ', sinks' : ''}, key tile ${keyTile}, decode split ${schedule.splits}, prefill blocks of ${queryBlock} queries`,
    heads,
    kvHeads,
    perGroup,
    dk,
    dv,
    window: k.window > 0 ? k.window : undefined,
    sinks: k.sinks !== undefined,
    scale: c.num(k.scale),
    keyTile,
    splits: schedule.splits,
    decodeSplit: schedule.splits > 1,
    lanes,
  };
  return [view, args];
}

export function mlaView(k: MlaAttentionKernel, c: AttentionViewContext): [Record<string, unknown>, Array<{ field: string; expr: string }>] {
  const { dims, schedule } = common(k, c);
  const { heads, dn, dr, c: latent, dv, headBlock } = mlaKernelSizes(k, dims, schedule, 'C');
  const form = schedule.form ?? 'absorbed';
  const rule = mlaFormRule({ heads, dn, dr, dv, c: latent });
  const args = [
    { field: 'q_nope', expr: c.v(k.qNope) },
    { field: 'q_pe', expr: c.v(k.qPe) },
    { field: 'kv', expr: c.v(k.kv) },
    { field: 'k_pe', expr: c.v(k.kPe) },
    { field: 'w', expr: c.v(k.wkvB) },
    { field: 'kvc', expr: c.v(k.kvCache) },
    { field: 'pec', expr: c.v(k.peCache) },
    { field: 'out', expr: c.v(k.out) },
    { field: 'T', expr: 'T' },
    { field: 'L', expr: C_PAST },
  ];
  const view = {
    mla: true,
    summaryLine: `latent attention (${form === 'cheaper' ? 'absorbed or naive, the cheaper for each call\'s T and L' : form}), ${heads} heads in blocks of ${headBlock}, latent ${latent} + rope ${dr}, nope ${dn}, values ${dv}, key tile ${schedule.keyTile}, decode split ${schedule.splits}`,
    headBlock,
    blocks: heads / headBlock,
    heads,
    dn,
    dr,
    dv,
    c: latent,
    rowsPerHead: dn + dv,
    naive: form !== 'absorbed',
    cheaper: form === 'cheaper',
    perKey: rule.perKey,
    perCached: rule.perCached,
    maxTokens: c.maxTokens,
    scale: c.num(k.scale),
    keyTile: schedule.keyTile,
    splits: schedule.splits,
    decodeSplit: schedule.splits > 1,
    lanes: Math.max(1, c.lanes),
  };
  return [view, args];
}
