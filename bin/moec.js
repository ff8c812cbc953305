#!/usr/bin/env node
// The `moec` command: runs the compiled CLI in dist/ (built by `npm install` / `npm ci`).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/compiler/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('moec: dist/ is missing; run `npm ci` (or `npm run build`) in the moec directory first');
  process.exit(2);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
