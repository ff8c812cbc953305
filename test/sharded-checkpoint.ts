/**
 * @fileoverview Test support: a sharded bf16 checkpoint of any size for a model's `from`
 * patterns, written shard by shard and tensor by tensor (the writer holds one tensor at a
 * time), with values a cheap function of the tensor's name and the element's index, so a
 * test can check any packed element against the checkpoint without reading it back.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { evalShape } from '../ir/dims.ts';
import type { Module } from '../ir/graph/graph.ts';
import { sliceNames } from '../compiler/checkpoint/load-weights.ts';
import { safetensorsChunks } from '../ir/safetensors.ts';
import { numel } from '../ir/tensor.ts';

/** A checkpoint tensor: its name and shape, and the weight and the slice of it that it is. */
export interface CheckpointTensor {
  name: string;
  shape: number[];
  weight: string;
  slice: number;
}

/** The checkpoint tensors of a module's weights (each `from` slice, or the weight under its own name). */
export function checkpointTensors(m: Module): CheckpointTensor[] {
  const out: CheckpointTensor[] = [];
  for (const w of m.weights) {
    const shape = evalShape(w.type.shape, {});
    const names = w.source ? [...sliceNames(w, shape)] : [w.name];
    const inner = shape.slice(w.source ? w.source.axes.length : 0);
    names.forEach((name, slice) => out.push({ name, shape: inner, weight: w.name, slice }));
  }
  return out;
}

/** A 32-bit hash of a tensor name (FNV-1a), the seed of its values. */
export function nameSeed(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** 65536 bf16 values, ±[2^-7, 2^-5) (never zero, Inf or NaN), from a fixed hash: what every tensor's elements are drawn from. */
const TABLE = (() => {
  const t = new Uint16Array(2 * 65536);
  for (let j = 0; j < 65536; j++) {
    let x = Math.imul(j, 0x9e3779b1);
    x ^= x >>> 15;
    x = Math.imul(x, 0x85ebca6b);
    x ^= x >>> 13;
    t[j] = 0x3c00 | (x & 0x80ff);
  }
  t.copyWithin(65536, 0, 65536); // twice, so any 65536 in a row are one slice
  return t;
})();

/** The bf16 bits of element `i` of the tensor seeded `seed`: the table, rotated by the seed (so a tensor is copies of it, fast to write). */
export function bf16Bits(seed: number, i: number): number {
  return TABLE[(i + seed) & 0xffff];
}

/** Element `i` of checkpoint tensor `name` as f32 (the exact value of its bf16 bits). */
export function valueAt(name: string, i: number): number {
  return new Float32Array(new Uint32Array([bf16Bits(nameSeed(name), i) << 16]).buffer)[0];
}

/** The bf16 bits of a tensor of `n` elements seeded `seed`. */
function tensorBits(seed: number, n: number): Uint16Array {
  const bits = new Uint16Array(n);
  const start = seed & 0xffff;
  for (let j = 0; j < n; j += 65536) bits.set(TABLE.subarray(start, start + Math.min(65536, n - j)), j);
  return bits;
}

/**
 * Writes the checkpoint of `tensors` into `dir`: shards of about `shardBytes`
 * (model-0000i-of-0000n.safetensors) and model.safetensors.index.json. Returns the bytes
 * of tensor data written.
 */
export function writeShardedBf16(dir: string, tensors: CheckpointTensor[], shardBytes: number): number {
  const shards: CheckpointTensor[][] = [[]];
  let size = 0;
  let total = 0;
  for (const t of tensors) {
    const bytes = numel(t.shape) * 2;
    if (size > 0 && size + bytes > shardBytes) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(t);
    size += bytes;
    total += bytes;
  }
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const specs = Object.fromEntries(shard.map((t) => [t.name, { stored: 'BF16', shape: t.shape }]));
    const produce = (name: string): Uint8Array => new Uint8Array(tensorBits(nameSeed(name), numel(specs[name].shape)).buffer);
    // Plain writes: a test's scratch files need no fsync (each would flush half a gigabyte).
    const fd = openSync(join(dir, file), 'w');
    try {
      for (const c of safetensorsChunks(specs, produce, { format: 'pt' }).chunks) writeSync(fd, c);
    } finally {
      closeSync(fd);
    }
    for (const t of shard) weightMap[t.name] = file;
  });
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  return total;
}
