/**
 * @fileoverview The model a command is given, whatever its form: a `.moe` file, a Hugging
 * Face config.json, a model directory as Hugging Face lays one out (its config.json), or a
 * llama.cpp `.gguf` file (its metadata). Every command that takes a model reads it here, so
 * `moec compile config.json` works as `moec analyze config.json` always did, and `--set`
 * overrides the imported model's named constants as it does a `.moe` file's (the importer
 * writes `.moe` text with them; an error they cause points into the config).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from '../ir/graph/graph.ts';
import { fail } from '../ir/diagnostics.ts';
import { readUserText } from '../ir/user-file.ts';
import { type CompileOptions, compile, quantizeModule } from './driver-core.ts';
import { importGguf } from './import/gguf.ts';
import { type ImportResult, importHfConfig } from './import/index.ts';

export interface ModelFile {
  /** The graph IR (quantized with `quantize`). */
  module: Module;
  /** The file the model was read from: the path given, or a directory's config.json. */
  path: string;
  /** For a config.json or .gguf: what the importer reports beside the graph (its notes, MTP layers, dtype). */
  imported?: ImportResult;
}

/** Reads and compiles a model given in any of the forms above; `consts` (`--set`) apply to an imported model's constants too. */
export function loadModelFile(given: string, opts: Omit<CompileOptions, 'path'> = {}): ModelFile {
  const path = isDirectory(given) ? modelDirConfig(given) : given;
  if (!path.endsWith('.json') && !path.endsWith('.gguf')) return { module: compile(readUserText(path), { ...opts, path }), path };
  const imported = path.endsWith('.gguf') ? importGguf(path, { consts: opts.consts }) : importHfConfig(readUserText(path), path, { consts: opts.consts });
  return { module: opts.quantize ? quantizeModule(imported.module, opts.quantize) : imported.module, path, imported };
}

/** Whether `path` is a directory; anything stat cannot say (a symlink loop, no permission) is left to the reader, which says why it cannot read it. */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch {
    return false;
  }
}

/** A Hugging Face model directory's config.json (E501 when it has none). */
function modelDirConfig(dir: string): string {
  const config = join(dir, 'config.json');
  if (!existsSync(config)) fail('E501', `${dir} is a directory without a config.json`, undefined, 'give a .moe file, a Hugging Face config.json, a .gguf file, or a model directory holding a config.json');
  return config;
}
