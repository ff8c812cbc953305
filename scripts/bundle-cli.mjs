// Bundles the CLI (compiler/cli/cli.ts and what it imports) into dist/bin/moec.js.
//
// Why: unbundled, every `moec` command spent ~0.6 s of its start-up loading chevrotain's
// ~600 ESM files (lodash-es) one by one; bundled, the whole CLI loads in ~0.1 s, which is
// what lets `moec analyze` of DeepSeek-V3 answer in well under a second. The API
// (dist/compiler/*.js, from tsc) stays unbundled for library users.
//
// - `splitting`: the backends are loaded with import() when used; as chunks they stay out
//   of start-up (without splitting esbuild would hoist binaryen's import to the top).
// - binaryen and webgpu stay external: large, loaded only by the backends that need them.
// - CommonJS dependencies (handlebars) call require(): the banner gives each chunk one.
import { build } from 'esbuild';

await build({
  entryPoints: { moec: 'compiler/cli/cli.ts' },
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: 'dist/bin',
  chunkNames: 'chunks/[name]-[hash]',
  external: ['binaryen', 'webgpu'],
  banner: { js: "import { createRequire as __moecRequire } from 'node:module'; const require = __moecRequire(import.meta.url);" },
  logLevel: 'warning',
});
