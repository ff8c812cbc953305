/**
 * @fileoverview Expert parallelism in the kernel IR: the facts every consumer of a
 * distributed program shares (the kernel interpreter, the verifier, the C/MPI backend, the
 * per-rank weight pack), written once:
 * - how many rows a rank can receive (`epRowsPerToken`);
 * - which rank serves a slot, and as which local expert (`slotRoute`);
 * - what one rank's weight buffers hold (`rankWeights`: its slots of the whole stacks);
 * - the two all-to-alls over every rank's buffers at once (`dispatchAll`, `combineAll`):
 *   the reference the MPI code is held to.
 */
import { fail } from '../diagnostics.ts';
import { type Tensor, type TensorData, numel } from '../tensor.ts';
import type { DispatchKernel, EpCombineKernel, EpPlacement, KProgram, MicroBatch } from './kernel.ts';
import { copyFor, slotOf } from './placement.ts';

/**
 * Rows a rank receives per token of its own, at most: every rank (itself included) may send
 * all its routed choices to it, plus its own tokens' shared-expert choices.
 */
export function epRowsPerToken(ranks: number, routed: number, shared: number): number {
  return ranks * routed + shared;
}

/** The tokens t0 .. t1-1 of a micro-batch of T (all of them without one). */
export function partRange(part: MicroBatch | undefined, T: number): [number, number] {
  if (!part) return [0, T];
  return [Math.floor((part.index * T) / part.of), Math.floor(((part.index + 1) * T) / part.of)];
}

/** Refuses a distributed program in a backend that runs one chip. */
export function singleChipOnly(p: KProgram, backend: string): void {
  if (p.ep && p.ep.ranks > 1)
    fail('E701', `the ${backend} backend runs one chip; this program is spread over ${p.ep.ranks} ranks`, undefined, 'use --backend c for --chips N (MPI), or leave --chips out');
}

/** The placement a dispatch or combine step names (the verifier has checked it exists). */
export function placementNamed(p: KProgram, name: string): EpPlacement {
  const q = p.ep?.placements.find((x) => x.name === name);
  if (!q) throw new Error(`kernel program '${p.name}' has no placement '${name}'`);
  return q;
}

/**
 * Where slot s = t*K + k of a rank's tokens goes: `{ rank, local }` (the serving rank and the
 * expert's index in that rank's weight stacks), or undefined for a dropped choice (-1). A
 * shared expert (E + j) is served by the sending rank itself, as local expert slots + j.
 */
export function slotRoute(q: EpPlacement, self: number, expert: number, slot: number): { rank: number; local: number } | undefined {
  if (expert === -1) return undefined;
  if (!Number.isInteger(expert) || expert < 0 || expert >= q.experts + q.shared)
    fail('E505', `dispatch: expert index ${expert} is outside -1..${q.experts + q.shared - 1} (corrupted routing)`);
  if (expert >= q.experts) return { rank: self, local: q.placement.slotsPerRank + expert - q.experts };
  const rank = copyFor(q.placement, expert, slot);
  return { rank, local: slotOf(q.placement, rank, expert) };
}

/**
 * One rank's part of a whole expert stack (`full`, experts + shared along `axis`): its slots
 * in order (an empty slot zeros), then the shared experts. Quantized stacks keep their
 * scales sliced alike (the expert axis is never the reduction axis).
 */
export function rankSlice(full: Tensor, q: EpPlacement, rank: number, axis: number): Tensor {
  const want = q.experts + q.shared;
  if (full.shape[axis] !== want) throw new Error(`expert parallelism: a stack of ${full.shape[axis]} experts along axis ${axis}, expected ${want}`);
  const pick = [...q.placement.slots[rank]!, ...Array.from({ length: q.shared }, (_, j) => q.experts + j)];
  const take = (data: TensorData, shape: readonly number[]): { data: TensorData; shape: number[] } => {
    const outer = numel(shape.slice(0, axis));
    const inner = numel(shape.slice(axis + 1));
    const out = new (data.constructor as new (n: number) => TensorData)(outer * pick.length * inner);
    for (let o = 0; o < outer; o++)
      pick.forEach((e, j) => {
        if (e >= 0) out.set(data.subarray((o * shape[axis]! + e) * inner, (o * shape[axis]! + e + 1) * inner) as never, (o * pick.length + j) * inner);
      });
    return { data: out, shape: shape.map((d, i) => (i === axis ? pick.length : d)) };
  };
  const { data, shape } = take(full.data, full.shape);
  const t: Tensor = { dtype: full.dtype, shape, data };
  if (full.quant) {
    const s = full.quant.scales;
    const sshape = full.shape.map((d, i) => (i === full.quant!.axis ? s.length / numel(full.shape.filter((_, j) => j !== full.quant!.axis)) : d));
    t.quant = { ...full.quant, scales: take(s, sshape).data as Float32Array };
  }
  return t;
}

/** Rank `rank`'s weight buffers from `pack`'s whole ones (the placed stacks sliced, the rest as they are). */
export function rankWeights(p: KProgram, packed: Record<string, Tensor>, rank: number): Record<string, Tensor> {
  if (!p.ep) return packed;
  const out = { ...packed };
  for (const q of p.ep.placements)
    for (const w of q.weights) if (packed[w.buffer]) out[w.buffer] = rankSlice(packed[w.buffer]!, q, rank, w.axis);
  return out;
}

/** One rank's buffers, as the exchange reads and writes them. */
export type RankBuffers = (name: string) => Tensor;

/**
 * The first all-to-all over every rank at once (rank r's buffers through `bufs[r]`): fills
 * each rank's `rows`, `local`, `rweights` and `plan` as `DispatchKernel` says. Rows from
 * source rank 0 come first, then 1, ...; within a source, in slot order.
 */
export function dispatchAll(k: DispatchKernel, q: EpPlacement, bufs: RankBuffers[]): void {
  const R = bufs.length;
  const K = k.k;
  // Per source rank: the slots it sends to each destination, in slot order.
  const sends = bufs.map((b, src) => {
    const idx = b(k.indices).data;
    const [t0, t1] = partRange(k.part, b(k.indices).shape[0]!);
    const to = Array.from({ length: R }, () => [] as number[]);
    const local: number[] = [];
    for (let s = t0 * K; s < t1 * K; s++) {
      const r = slotRoute(q, src, idx[s]!, s);
      if (!r) continue;
      to[r.rank]!.push(s);
      local[s] = r.local;
    }
    const plan = b(k.plan).data;
    plan.fill(-1, 0, idx.length);
    let pos = 0;
    to.forEach((slots, dst) => {
      for (const s of slots) plan[s] = pos++;
      plan[idx.length + dst] = slots.length;
    });
    return { to, local };
  });
  bufs.forEach((b, dst) => {
    const rows = b(k.rows);
    const D = rows.shape[1]!;
    const loc = b(k.local).data;
    const w = b(k.rweights).data;
    loc.fill(-1);
    w.fill(0);
    rows.data.fill(0);
    let n = 0;
    const plan = b(k.plan).data;
    const T = b(k.indices).shape[0]!;
    sends.forEach((from, src) => {
      const list = from.to[dst]!;
      plan[T * K + R + src] = list.length;
      const xs = bufs[src]!(k.x).data;
      const ws = bufs[src]!(k.weights).data;
      for (const s of list) {
        if (n >= loc.length) fail('E505', `dispatch: rank ${dst} receives more than its ${loc.length} rows (ranks called with different token counts?)`);
        rows.data.set(xs.subarray(Math.floor(s / K) * D, (Math.floor(s / K) + 1) * D), n * D);
        loc[n] = from.local[s]!;
        w[n] = ws[s]!;
        n++;
      }
    });
  });
}

/**
 * The second all-to-all and the combine over every rank at once: each result row returns to
 * the rank and send position it came from; out[t] = init[t] + Σ_k row(t*K + k) in k order
 * (sums in float64, rounded once on store by `store`).
 */
export function combineAll(k: EpCombineKernel, bufs: RankBuffers[], store: (rank: number, i: number, v: number) => void): void {
  const R = bufs.length;
  const K = k.k;
  // Rank r's result rows, by source rank, in the order received: the senders' send order.
  const back = bufs.map((b) => b(k.results));
  const D = back[0]!.shape[1]!;
  bufs.forEach((b, self) => {
    const plan = b(k.plan).data;
    const T = b(k.out).shape[0]!;
    // Where this rank's rows to destination d start in d's received rows: after the rows of lower sources.
    const start = bufs.map((other, d) => {
      let off = 0;
      const op = other(k.plan).data;
      for (let src = 0; src < self; src++) off += op[T * K + R + src]!;
      return off;
    });
    const firstPos: number[] = [];
    let pos = 0;
    for (let d = 0; d < R; d++) {
      firstPos.push(pos);
      pos += plan[T * K + d]!;
    }
    const init = k.init ? b(k.init).data : undefined;
    const dest = (s: number): { d: number; row: number } | undefined => {
      const p = plan[s]!;
      if (p < 0) return undefined;
      let d = R - 1;
      while (firstPos[d]! > p) d--;
      return { d, row: start[d]! + p - firstPos[d]! };
    };
    const [t0, t1] = partRange(k.part, T);
    for (let t = t0; t < t1; t++)
      for (let c = 0; c < D; c++) {
        let acc = 0;
        for (let j = 0; j < K; j++) {
          const at = dest(t * K + j);
          if (at) acc += back[at.d]!.data[at.row * D + c]!;
        }
        store(self, t * D + c, init ? acc + init[t * D + c]! : acc);
      }
  });
}
