/**
 * @fileoverview Where the WGSL model keeps its state (the KV caches) on the device.
 *
 * Each state buffer of the program (a cache stacked over a layer loop, [layers, CTX, ...], or a
 * single cache [CTX, ...]) at the context bound is cut at layer boundaries into GPU buffers of
 * at most the device's buffer size (WebGPU's default 256 MiB: a stacked cache of a real model
 * at a real context is larger), and a kernel binds only the range of its layer (at most the
 * storage binding size, 128 MiB by default: one layer's cache must fit it). The state buffer
 * is an arena part of the kernels (`part`), so the shaders see one more read-write binding;
 * which GPU buffer and range it is comes with each dispatch (`StateRange`). Nothing here
 * resizes: the state is made once, zeroed, at load.
 */
import { evalShape } from '../../../ir/dims.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { CONTEXT_DIM } from '../../../ir/kernel/attention.ts';
import type { KBuffer, KProgram } from '../../../ir/kernel/kernel.ts';
import { numel } from '../../../ir/tensor.ts';

/** A state buffer: its name, the arena part the kernels bind it as, its bytes and its GPU buffers. */
export interface StateBuffer {
  name: string;
  part: number;
  bytes: number;
  /** Its GPU buffers, in order: byte ranges of the whole (whole layers each); `gpu` indexes all state GPU buffers. */
  chunks: Array<{ gpu: number; offset: number; bytes: number }>;
}

/** What one dispatch binds for a state part: a range of one state GPU buffer. */
export interface StateRange {
  part: number;
  gpu: number;
  offset: number;
  bytes: number;
}

/** Storage bindings start at multiples of this (WebGPU's minStorageBufferOffsetAlignment). */
const BIND_ALIGN = 256;

/**
 * The program's state buffers (not a loop's slices of them) at its context bound, as arena
 * parts `firstPart`, `firstPart + 1`, ...; E505 when one layer's cache passes the binding size.
 */
export function stateLayout(p: KProgram, stateBufs: readonly KBuffer[], firstPart: number, limits: { maxBinding: number; maxBuffer: number }, targetName: string): StateBuffer[] {
  const at = { [CONTEXT_DIM]: p.maxContext ?? 0 };
  let gpu = 0;
  return stateBufs.map((b, k) => {
    if (b.dtype !== 'f32') fail('E309', `the WGSL backend keeps f32 KV caches, not ${b.name}: ${b.dtype}`);
    const shape = evalShape(b.shape, at);
    const bytes = numel(shape) * 4;
    // A stacked cache's leading axis is its layers; a single cache is one layer.
    const layers = typeof b.shape[0] === 'number' ? shape[0] : 1;
    const layerBytes = bytes / Math.max(1, layers);
    if (layerBytes + BIND_ALIGN > limits.maxBinding)
      fail('E505', `one layer of the KV cache ${b.name} takes ${layerBytes} bytes at the context bound ${p.maxContext}, over ${targetName}'s ${limits.maxBinding}-byte storage binding`, undefined, 'compile with a smaller --max-context');
    const perBuffer = Math.max(1, Math.floor(limits.maxBuffer / layerBytes));
    const chunks: StateBuffer['chunks'] = [];
    for (let l = 0; l < Math.max(1, layers); l += perBuffer) {
      const n = Math.min(perBuffer, Math.max(1, layers) - l);
      chunks.push({ gpu: gpu++, offset: l * layerBytes, bytes: n * layerBytes });
    }
    return { name: b.name, part: firstPart + k, bytes, chunks };
  });
}

/**
 * The binding of `bytes` at byte `offset` of a state buffer: its GPU buffer, the range bound
 * (from the offset rounded down to the binding alignment) and the operand's element offset in it.
 */
export function stateRange(s: StateBuffer, offset: number, bytes: number): { range: StateRange; element: number } {
  const c = s.chunks.find((x) => offset >= x.offset && offset + bytes <= x.offset + x.bytes);
  if (!c) throw new Error(`wgsl: bytes ${offset}..${offset + bytes} of the state ${s.name} straddle its GPU buffers`);
  const rel = offset - c.offset;
  const from = Math.floor(rel / BIND_ALIGN) * BIND_ALIGN;
  return { range: { part: s.part, gpu: c.gpu, offset: from, bytes: rel - from + bytes }, element: (rel - from) / 4 };
}
