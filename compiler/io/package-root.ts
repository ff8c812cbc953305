/**
 * @fileoverview Where the moec package's own files are (package.json, targets/, the C
 * templates). moec runs from its TypeScript sources (tests, tsx), from `dist/` (the API)
 * and from one bundled file (`dist/bin/moec.mjs`, the CLI: bundling cuts its start-up from
 * ~0.8 s to a fraction, mostly chevrotain's 600 ESM files). Each sits at a different depth,
 * so the root is found by walking up to the package.json named "moec", not by a fixed
 * relative path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The package root (the folder holding moec's package.json). */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'moec') return (root = dir);
      } catch {
        // not ours (or unreadable): keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`moec's package.json was not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** moec's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
