/**
 * @fileoverview Checkpoints as Hugging Face ships them: one `.safetensors` file, or shards
 * named by `model.safetensors.index.json` (`{"weight_map": {tensor: shard file}}`), or a
 * directory holding either. `openCheckpoint` gives all three the `SafetensorsFile` face, so
 * loaders look tensors up by name and never care which shard holds them.
 *
 * Shards are opened when a tensor in them is first asked for (only their headers are read
 * then; tensors are read one by one, see safetensors.ts). Errors: E501 for a path or shard
 * that cannot be read (naming the index and a tensor that needs it), E508 for a malformed
 * index, E503 for a tensor the index names but its shard lacks.
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { didYouMean, fail } from './diagnostics.ts';
import { MAX_JSON_DEPTH, jsonStructureProblem } from './json-structure.ts';
import { openGgufCheckpoint } from './gguf-checkpoint.ts';
import { looksLikeGguf } from './gguf.ts';
import { type SafetensorsFile, readSafetensors } from './safetensors.ts';
import { readUserText } from './user-file.ts';

/** The index file name Hugging Face's `save_pretrained` writes beside the shards. */
export const INDEX_NAME = 'model.safetensors.index.json';
const SINGLE_NAME = 'model.safetensors';

/** A checkpoint: the tensors of one file, or of every shard an index names. */
export interface Checkpoint extends SafetensorsFile {
  /** The file that holds `name` (for messages). */
  fileOf(name: string): string;
}

/** Opens a `.safetensors` file, an index `.json`, or a directory holding either. */
export function openCheckpoint(path: string): Checkpoint {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // readSafetensors reports the missing path with the OS reason.
  }
  // The file found in a directory is read as it is (one level: a directory there is an error).
  const file = isDir ? findInDirectory(path) : path;
  if (file.endsWith('.json')) return openIndex(file);
  if (file.endsWith('.gguf') || looksLikeGguf(file)) return openGgufCheckpoint(file);
  const st = readSafetensors(file);
  return { ...st, fileOf: () => file };
}

/** The checkpoint file in a directory: the index, else model.safetensors, else the only candidate. */
function findInDirectory(dir: string): string {
  // By name, whatever the entry is: one that cannot be read (a FIFO, a broken link) is
  // reported as such, never passed over for another file.
  const entries = readdirSync(dir);
  for (const name of [INDEX_NAME, SINGLE_NAME]) if (entries.includes(name)) return join(dir, name);
  const indexes = entries.filter((f) => f.endsWith('.safetensors.index.json'));
  if (indexes.length === 1) return join(dir, indexes[0]);
  const files = entries.filter((f) => f.endsWith('.safetensors'));
  if (indexes.length === 0 && files.length === 1) return join(dir, files[0]);
  const found = [...indexes, ...files];
  return fail(
    'E501',
    `cannot tell which checkpoint in ${dir} to read: ${found.length === 0 ? 'it holds no .safetensors file or index' : `it holds ${found.join(', ')}`}`,
    undefined,
    `name the file itself, or put ${INDEX_NAME} (sharded) or ${SINGLE_NAME} there`,
  );
}

/** Reads and checks an index; E508 if it is malformed. */
function readWeightMap(path: string): Map<string, string> {
  const text = readUserText(path);
  const HINT = `an index is {"metadata": {...}, "weight_map": {"tensor name": "shard.safetensors", ...}}, as save_pretrained writes it`;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail('E508', `${path} is not valid JSON (${(err as Error).message})`, undefined, HINT);
  }
  const problem = jsonStructureProblem(text);
  if (problem?.kind === 'too-deep') fail('E508', `${path} nests deeper than ${MAX_JSON_DEPTH} levels`, undefined, HINT);
  if (problem?.kind === 'duplicate') {
    const where = problem.path.length === 0 ? 'at the top level' : `in "${problem.path.join('.')}"`;
    fail('E508', `${path} gives "${problem.key}" twice ${where}`, undefined, 'each tensor is named once, beside the one shard that holds it; regenerate the index');
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof json !== 'object' || json === null || Array.isArray(json) || typeof map !== 'object' || map === null || Array.isArray(map)) {
    fail('E508', `${path} has no "weight_map" object`, undefined, HINT);
  }
  const out = new Map<string, string>();
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    if (!isShardName(shard)) {
      fail('E508', `${path}: "weight_map" entry '${name}' must name a shard file beside the index, but it is ${typeof shard === 'string' ? JSON.stringify(shard.slice(0, 200)) : shard === null || typeof shard !== 'object' ? String(shard) : Array.isArray(shard) ? 'an array' : 'an object'}`, undefined,
        `${HINT}; a shard is a plain file name, never a path (so an index cannot make moec read files elsewhere)`);
    }
    out.set(name, shard);
  }
  return out;
}

/** A file name beside the index: no directory part, no `..`, nothing absolute. */
function isShardName(shard: unknown): shard is string {
  return typeof shard === 'string' && shard !== '' && shard !== '.' && shard !== '..' && !/[/\\\0]/.test(shard) && !isAbsolute(shard);
}

function openIndex(path: string): Checkpoint {
  const map = readWeightMap(path);
  const dir = dirname(path);
  const shards = new Map<string, SafetensorsFile>();
  const names = [...map.keys()].sort();
  const shardFor = (name: string): SafetensorsFile => {
    const shard = map.get(name);
    if (shard === undefined) {
      fail('E503', `${path} names no tensor '${name}'`, undefined, didYouMean(name, map.keys()) ?? `the index names ${names.length} tensors`);
    }
    let file = shards.get(shard);
    if (!file) {
      const shardPath = join(dir, shard);
      file = readSafetensors(shardPath, { label: `shard ${shardPath}`, detail: `${path} puts '${name}' there`, missingHint: 'download every shard the index names into the same directory' });
      shards.set(shard, file);
    }
    if (!file.has(name)) {
      fail('E503', `${file.path} has no tensor '${name}', though ${path} says it does`, undefined, 'the index and its shards disagree: re-download the checkpoint or regenerate the index');
    }
    return file;
  };
  return {
    path,
    metadata: {},
    names: () => [...names],
    has: (name) => map.has(name),
    info: (name) => shardFor(name).info(name),
    storedBytes: (name) => shardFor(name).storedBytes(name),
    get: (name, opts) => shardFor(name).get(name, opts),
    raw: (name) => shardFor(name).raw(name),
    readRange: (name, begin, length, into) => {
      const shard = shardFor(name);
      if (!shard.readRange) throw new Error(`checkpoint: ${shard.path} cannot be read by range`);
      return shard.readRange(name, begin, length, into);
    },
    fileOf: (name) => shardFor(name).path,
  };
}

/**
 * The files and directories a checkpoint path reads: the path itself, and for an index every
 * shard it names, so that no output of moec can be one of them (compiler/output.ts).
 */
export function checkpointFiles(path: string): string[] {
  if (!path.endsWith('.json')) return [path];
  return [path, ...[...new Set(readWeightMap(path).values())].map((shard) => join(dirname(path), shard))];
}
