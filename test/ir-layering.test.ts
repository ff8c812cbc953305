/**
 * @fileoverview The layering of `ir/`, read from the sources: `ir/` is the ground floor and
 * imports nothing outside itself (only Node built-ins), and inside it the layers are
 * root (shared: diagnostics, spans, types, dims, tensors, quantization, files) <- `graph/`
 * <- `kernel/`: a file imports only from its own layer or the ones below it. An import that
 * crosses a boundary fails here, naming the file and the import.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const IR = join(ROOT, 'ir');

/** Every .ts file below `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The module specifiers a file imports or re-exports (static and dynamic). */
function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** 0 for ir/ itself, 1 for ir/graph/, 2 for ir/kernel/: a file may import from its own layer and below. */
function layer(file: string): number {
  const top = relative(IR, file).split(sep)[0];
  return top === 'kernel' ? 2 : top === 'graph' ? 1 : 0;
}

describe('ir/ layering', () => {
  const files = sources(IR);

  it('finds the sources and their imports', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(importsOf("import { a } from './x.ts';\nimport type { B } from '../y.ts';\nexport { c } from 'node:fs';\nconst m = await import('./z.ts');")).toEqual(['./x.ts', '../y.ts', 'node:fs', './z.ts']);
  });

  it('ir/ imports nothing outside ir/ but Node built-ins', () => {
    const bad: string[] = [];
    for (const f of files)
      for (const spec of importsOf(readFileSync(f, 'utf8'))) {
        const inside = spec.startsWith('.') && !relative(IR, resolve(dirname(f), spec)).startsWith('..');
        if (!inside && !spec.startsWith('node:')) bad.push(`${relative(ROOT, f)} imports ${spec}`);
      }
    expect(bad).toEqual([]);
  });

  it('the shared root imports neither IR level, and the graph IR does not import the kernel IR', () => {
    const bad: string[] = [];
    for (const f of files)
      for (const spec of importsOf(readFileSync(f, 'utf8'))) {
        if (!spec.startsWith('.')) continue;
        const target = resolve(dirname(f), spec);
        if (layer(target) > layer(f)) bad.push(`${relative(ROOT, f)} imports ${spec}`);
      }
    expect(bad).toEqual([]);
  });
});
