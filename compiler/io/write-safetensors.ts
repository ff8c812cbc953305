/**
 * @fileoverview Safetensors files on disk: ir/safetensors.ts encodes the bytes, and
 * compiler/output.ts writes them the one way moec writes any output (atomically, following
 * symlinks, into a device or FIFO by opening it, its temporary file removed on a signal).
 */
import { type TensorSpec, safetensorsChunks } from '../../ir/safetensors.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { writeOutputFile, writeOutputFileAsync } from './output.ts';

/** Writes tensors as a safetensors file (deterministic bytes; see `serializeSafetensors`). */
export function writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  writeOutputFile(path, safetensorsChunks(tensors, (name) => tensors[name], metadata).chunks);
}

/**
 * Writes a safetensors file one tensor at a time (`produce` is called for each in file
 * order), letting the event loop run between tensors so that ^C or SIGTERM stops a long
 * write promptly and removes its temporary file. Returns the file's size.
 */
export async function writeSafetensorsStreaming(
  path: string,
  specs: Record<string, TensorSpec>,
  produce: (name: string) => Tensor | Uint8Array,
  metadata?: Record<string, string>,
): Promise<number> {
  const { size, chunks } = safetensorsChunks(specs, produce, metadata);
  await writeOutputFileAsync(path, chunks);
  return size;
}
