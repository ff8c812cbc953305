/**
 * @fileoverview Where everything lives in the module's linear memory.
 *
 *   [0, 64)                     never used: a null pointer reads nothing a kernel wrote
 *   inputs                      each model input at its `maxTokens` size, aligned
 *   arena                       the memory plan's arena: buffer b at arenaBase + b.offset
 *   scratch                     per-kernel working rows (router scores, a GEMM's row tile),
 *                               one region reused by every kernel (kernels run one at a time)
 *   weights                     `weightLayout(program, alignment)` at weightsBase
 *
 * Everything below `weightsBase` is the module's initial memory; the loader grows memory by
 * the weights' pages and copies the blob in, so the module carries no data segment and a
 * large model is not held twice while instantiating. wasm32 addresses 4 GiB at most
 * (65536 pages): a model whose weights and arena do not fit is a compile error (E702);
 * memory64 is not used because browsers do not ship it by default yet.
 */
import { cannotRun } from '../cannot-run.ts';
import { type Dim, dimProduct, dimToString, evalShape, isSym } from '../../../ir/dims.ts';
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
  address: number;
  /** Element count as c + t·T. */
  elements: TokenLinear;
  /** Shape with `T` left symbolic (a number or a linear form). */
  shape: Array<number | TokenLinear>;
  /** An i32 tensor (token ids, expert indices): int32 in memory; absent for f32. */
  int?: true;
}

export interface MemoryLayout {
  inputs: IoSlot[];
  outputs: IoSlot[];
  arenaBase: number;
  arenaBytes: number;
  scratchBase: number;
  scratchBytes: number;
  weightsBase: number;
  weights: WeightLayout;
  /** Pages of the module's own memory (everything below the weights). */
  initialPages: number;
  /** Pages once the weights are in. */
  totalPages: number;
  maxTokens: number;
}

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

export function planLayout(p: KProgram, alignment: number, scratchBytes: number): MemoryLayout {
  const maxTokens = p.maxTokens;
  if (maxTokens === undefined || p.arenaBytes === undefined) throw new Error('wasm backend: the program has no memory plan (run the tile and plan-memory passes)');
  const align = wasmAlign(alignment);
  let at = NULL_GUARD;
  const slot = (name: string, buffer: string): Omit<IoSlot, 'address'> => {
    const b = p.buffers.find((x) => x.name === buffer)!;
    if (b.dtype !== 'f32' && b.dtype !== 'i32') cannotRun('wasm', `the ${b.dtype} model input or output ${name}`, undefined, 'the wasm backend takes and returns f32 and i32 tensors; run it with --backend c or ref');
    return { name, buffer, elements: bufferElements(b), shape: b.shape.map((d) => (isSym(d) ? tokenLinear(d, `buffer ${b.name}`) : d)), ...(b.dtype === 'i32' ? { int: true as const } : {}) };
  };
  const inputs: IoSlot[] = p.inputs.map((i) => {
    const s = slot(i.name, i.buffer);
    const address = at;
    at = alignUp(at + 4 * (s.elements.c + s.elements.t * maxTokens), align);
    return { ...s, address };
  });
  const arenaBase = at;
  at = alignUp(at + p.arenaBytes, align);
  const outputs: IoSlot[] = p.outputs.map((o) => {
    const b = p.buffers.find((x) => x.name === o.buffer)!;
    if (b.offset === undefined) throw new Error(`wasm backend: output ${o.name} has no arena offset`);
    return { ...slot(o.name, o.buffer), address: arenaBase + b.offset };
  });
  const scratchBase = at;
  at = alignUp(at + scratchBytes, PAGE);
  const weightsBase = at;
  const weights = wasmWeightLayout(p, alignment);
  const end = weightsBase + weights.bytes;
  const totalPages = Math.ceil(end / PAGE);
  if (totalPages > MAX_PAGES) {
    const gib = (n: number): string => `${(n / 2 ** 30).toFixed(2)} GiB`;
    fail('E702', `${p.name} needs ${gib(end)} of linear memory (weights ${gib(weights.bytes)}, arena ${gib(p.arenaBytes)}); wasm32 addresses at most 4 GiB`, undefined, 'compile smaller sizes (--set), a lower --max-tokens, or use the c backend');
  }
  return { inputs, outputs, arenaBase, arenaBytes: p.arenaBytes, scratchBase, scratchBytes, weightsBase, weights, initialPages: weightsBase / PAGE, totalPages, maxTokens };
}

/** Bytes of a concrete (token-independent) buffer: loop slices of weights. */
export function concreteBytes(b: KBuffer): number {
  return numel(evalShape(b.shape, {})) * dtypeBytes(b.dtype);
}
