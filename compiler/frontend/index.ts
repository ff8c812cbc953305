/**
 * @fileoverview The frontend's entry: `.moe` text to its AST, or to a verified graph IR
 * module. Errors carry the source text, so they print `file:line:col` with the line. The
 * driver (the API) and the importer (which compiles the `.moe` text it writes) both come
 * here; nothing in the frontend imports the driver.
 */
import { MoecError } from '../../ir/diagnostics.ts';
import type { Module } from '../../ir/graph/graph.ts';
import { verifyOrThrow } from '../../ir/graph/verify.ts';
import { SourceFile } from '../../ir/source.ts';
import type { FileAst } from './ast.ts';
import { lowerFile } from './lower.ts';
import { parseSource } from './parse.ts';

/** Runs `fn`, attaching `src` to any MoecError so it can print source lines. */
function withSource<T>(src: SourceFile, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MoecError) e.addSource(src);
    throw e;
  }
}

/** Parses `.moe` text into its AST (syntax errors only). */
export function parseMoeText(text: string, path = '<input>'): FileAst {
  const src = new SourceFile(path, text);
  return withSource(src, () => parseSource(src));
}

/** Parses, lowers and verifies `.moe` text into a graph IR module; `consts` override the file's constants. */
export function compileMoeText(text: string, opts: { path?: string; consts?: Record<string, number> } = {}): Module {
  const src = new SourceFile(opts.path ?? '<input>', text);
  return withSource(src, () => {
    const m = lowerFile(parseSource(src), { consts: opts.consts });
    verifyOrThrow(m, 'after lowering');
    return m;
  });
}
