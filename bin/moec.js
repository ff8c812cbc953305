#!/usr/bin/env node
// The `moec` command: runs the bundled CLI in dist/bin/ (built by `npm install` / `npm ci`:
// one file loads ~5x faster than the ~600 modules it is made of), or the unbundled
// dist/compiler/cli/cli.js when only `tsc` has run.
import { existsSync } from 'node:fs';

const bundled = new URL('../dist/bin/moec.js', import.meta.url);
const cli = existsSync(bundled) ? bundled : new URL('../dist/compiler/cli/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('moec: dist/ is missing; run `npm ci` (or `npm run build`) in the moec directory first');
  process.exit(2);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
