/**
 * @fileoverview Where everything lives in the module's linear memory.
 *
 *   [0, 64)                     never used: a null pointer reads nothing a kernel wrote
 *   scratch                     per-kernel working rows (router scores, a GEMM's row tile),
 *                               one region reused by every kernel (kernels run one at a time)
 *   weights                     `weightLayout(program, alignment)` at weightsBase
 *   state                       a model with KV caches (`state` buffers): the word that holds
 *                               the call's L, each cache at the context bound, and the
 *                               attention kernels' shared decode partials; between calls
 *   inputs                      each model input at its size for the T of the call, aligned
 *   arena                       the memory plan's arena: buffer b at arenaBase + b.offset
 *
 * Everything below `weightsBase` is the module's initial memory (a page or two); the loader
 * grows memory by the weights' and the state's pages and copies the blob in, so the module carries no data
 * segment and a large model is not held twice while instantiating. What a call needs past
 * the weights grows with its T: the inputs and the arena come last, at addresses affine in T
 * (`TokenLinear`, as the plan's offsets are), and the loader grows memory to
 * `callBytes(T)` before a call that needs more (never shrinks: Wasm memory cannot). wasm32
 * addresses 4 GiB at most (65536 pages): a model whose weights and arena at the token bound
 * do not fit is a compile error (E702); memory64 is not used because browsers do not ship it
 * by default yet. The state lies below everything a call's T moves, so growing memory for a
 * larger call (which never moves or clears a byte) keeps the caches.
 */
import { cannotRun } from '../cannot-run.ts';
import { type Dim, dimProduct, dimToString, evalShape, isSym } from '../../../ir/dims.ts';
import { CONTEXT_DIM } from '../../../ir/kernel/attention.ts';
import { loopSlices } from '../../../ir/kernel/walk.ts';
import type { KBuffer, KProgram } from '../../../ir/kernel/kernel.ts';
import { numel } from '../../../ir/tensor.ts';
import { dtypeBytes } from '../../../ir/types.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { type WeightLayout, weightLayout } from '../weights.ts';
import type { TokenLinear } from './manifest.ts';

export const PAGE = 65536;
export const MAX_PAGES = 65536;
const NULL_GUARD = 64;

export type { TokenLinear };

export interface IoSlot {
  /** Graph name. */
  name: string;
  buffer: string;
  /** Byte address at token count T: c + t·T. */
  address: TokenLinear;
  /** Element count as c + t·T. */
  elements: TokenLinear;
  /** Shape with `T` left symbolic (a number or a linear form). */
  shape: Array<number | TokenLinear>;
  /** An i32 tensor (token ids, expert indices): int32 in memory; absent for f32. */
  int?: true;
}

/** A state buffer (a KV cache) at its fixed address, its shape at the context bound. */
export interface StateSlot {
  name: string;
  address: number;
  shape: number[];
  bytes: number;
}

/** The state region of a model with KV caches (`layout.ts` header). */
export interface StateLayout {
  /** The context bound: positions each cache holds. */
  maxContext: number;
  /** The i32 word the loader writes the call's L into (the positions already cached). */
  past: number;
  buffers: StateSlot[];
  /** The attention kernels' decode partials, written by every thread, merged by one (`sharedBytes`). */
  shared: number;
  /** From `past` to the end of the shared partials. */
  bytes: number;
}

export interface MemoryLayout {
  inputs: IoSlot[];
  outputs: IoSlot[];
  /** Where the arena starts and its bytes, at token count T. */
  arenaBase: TokenLinear;
  arenaBytes: TokenLinear;
  scratchBase: number;
  scratchBytes: number;
  weightsBase: number;
  weights: WeightLayout;
  /** Pages of the module's own memory (everything below the weights). */
  initialPages: number;
  /** The KV caches and the call's L (a model with state only). */
  state?: StateLayout;
  /** Pages once the weights (and the state) are in. */
  totalPages: number;
  /** Bytes of memory a call with T tokens needs: the end of its arena. */
  callBytes: TokenLinear;
  maxTokens: number;
}

/** c + t·T at T. */
export const linearAt = (l: TokenLinear, T: number): number => l.c + l.t * T;
const linearAdd = (x: TokenLinear, y: TokenLinear): TokenLinear => ({ c: x.c + y.c, t: x.t + y.t });

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** A dim as c + t·T; any other symbolic size is a compile error (the module takes T only). */
export function tokenLinear(d: Dim, what: string): TokenLinear {
  if (!isSym(d)) return { c: d, t: 0 };
  const other = d.terms.find(([n]) => n !== 'T');
  if (other) fail('E701', `${what} depends on the size \`${other[0]}\`; the wasm backend binds only the token count T at run time`, undefined, 'give the other sizes concrete values with --set');
  return { c: d.c, t: d.terms[0]?.[1] ?? 0 };
}

/** Element count of a buffer as c + t·T. */
export function bufferElements(b: KBuffer): TokenLinear {
  return tokenLinear(dimProduct(b.shape), `buffer ${b.name} (${b.shape.map(dimToString).join(', ')})`);
}

/** The alignment of everything in linear memory: the target's, and at least a v128. */
const wasmAlign = (alignment: number): number => Math.max(16, alignment);

/** Where the packed weights lie in their blob (placed at `weightsBase`): what `moec pack --target wasm-*` writes. */
export function wasmWeightLayout(p: KProgram, alignment: number): WeightLayout {
  return weightLayout(p, wasmAlign(alignment));
}

/**
 * `sharedBytes`: what the attention kernels' decode split shares between threads (their
 * partials), placed after the state; 0 without attention.
 */
export function planLayout(p: KProgram, alignment: number, scratchBytes: number, sharedBytes = 0): MemoryLayout {
  const maxTokens = p.maxTokens;
  if (maxTokens === undefined || p.arenaBytes === undefined) throw new Error('wasm backend: the program has no memory plan (run the tile and plan-memory passes)');
  const align = wasmAlign(alignment);
  const scratchBase = NULL_GUARD;
  const weightsBase = alignUp(scratchBase + scratchBytes, PAGE);
  const weights = wasmWeightLayout(p, alignment);
  // Past the weights, addresses are affine in T; aligning both coefficients keeps every
  // address aligned at every T.
  let at: TokenLinear = { c: alignUp(weightsBase + weights.bytes, align), t: 0 };
  const step = (bytes: TokenLinear): TokenLinear => ({ c: alignUp(at.c + bytes.c, align), t: alignUp(at.t + bytes.t, align) });
  const state = planState(p, at.c, align, sharedBytes);
  if (state) at = { c: alignUp(state.past + state.bytes, align), t: 0 };
  const slot = (name: string, buffer: string): Omit<IoSlot, 'address'> => {
    const b = p.buffers.find((x) => x.name === buffer)!;
    if (b.dtype !== 'f32' && b.dtype !== 'i32') cannotRun('wasm', `the ${b.dtype} model input or output ${name}`, undefined, 'the wasm backend takes and returns f32 and i32 tensors; run it with --backend c or ref');
    return { name, buffer, elements: bufferElements(b), shape: b.shape.map((d) => (isSym(d) ? tokenLinear(d, `buffer ${b.name}`) : d)), ...(b.dtype === 'i32' ? { int: true as const } : {}) };
  };
  const inputs: IoSlot[] = p.inputs.map((i) => {
    const s = slot(i.name, i.buffer);
    const address = at;
    at = step({ c: 4 * s.elements.c, t: 4 * s.elements.t });
    return { ...s, address };
  });
  const arenaBase = at;
  const arenaBytes = tokenLinear(p.arenaBytes, 'the arena');
  const callBytes = linearAdd(arenaBase, arenaBytes);
  const outputs: IoSlot[] = p.outputs.map((o) => {
    const b = p.buffers.find((x) => x.name === o.buffer)!;
    if (b.offset === undefined) throw new Error(`wasm backend: output ${o.name} has no arena offset`);
    return { ...slot(o.name, o.buffer), address: linearAdd(arenaBase, tokenLinear(b.offset, `output ${o.name}'s offset`)) };
  });
  const end = linearAt(callBytes, maxTokens);
  if (Math.ceil(end / PAGE) > MAX_PAGES) {
    const gib = (n: number): string => `${(n / 2 ** 30).toFixed(2)} GiB`;
    const caches = state ? `, KV caches ${gib(state.bytes)} at ${state.maxContext} positions` : '';
    fail('E702', `${p.name} needs ${gib(end)} of linear memory at T = ${maxTokens} (weights ${gib(weights.bytes)}${caches}, arena ${gib(linearAt(arenaBytes, maxTokens))}); wasm32 addresses at most 4 GiB`, undefined, `compile smaller sizes (--set), a lower --max-tokens${state ? ' or --max-context' : ''}, or use the c backend`);
  }
  const totalPages = Math.ceil((state ? state.past + state.bytes : weightsBase + weights.bytes) / PAGE);
  return { inputs, outputs, arenaBase, arenaBytes, scratchBase, scratchBytes, weightsBase, weights, ...(state ? { state } : {}), initialPages: weightsBase / PAGE, totalPages, callBytes, maxTokens };
}

/** The state region at `base` (the L word, each whole state buffer, the shared partials); none without state. */
function planState(p: KProgram, base: number, align: number, sharedBytes: number): StateLayout | undefined {
  const sliced = loopSlices(p.steps);
  const whole = p.buffers.filter((b) => b.kind === 'state' && !sliced.has(b.name));
  if (whole.length === 0) return undefined;
  const maxContext = p.maxContext;
  if (maxContext === undefined) throw new Error('wasm backend: a program with state buffers has no context bound');
  let at = alignUp(base + 4, align);
  const buffers: StateSlot[] = whole.map((b) => {
    const shape = evalShape(b.shape, { [CONTEXT_DIM]: maxContext });
    const slot = { name: b.name, address: at, shape, bytes: numel(shape) * dtypeBytes(b.dtype) };
    at = alignUp(at + slot.bytes, align);
    return slot;
  });
  const shared = at;
  return { maxContext, past: base, buffers, shared, bytes: shared + sharedBytes - base };
}

/** Bytes of a concrete (token-independent) buffer: loop slices of weights, and of state at the context bound. */
export function concreteBytes(b: KBuffer, maxContext = 0): number {
  return numel(evalShape(b.shape, { [CONTEXT_DIM]: maxContext })) * dtypeBytes(b.dtype);
}
