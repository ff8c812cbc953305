// Bundles the browser entry (compiler/browser.ts) and the session worker (compiler/browser/
// worker.ts) for a page: dist/browser/moec.js and moec-worker.js, ES modules sharing their
// common code in chunks/, with dist/browser/size.json saying what the bytes are.
//
// It is also the proof that the browser entry needs no Node: any `node:` import that reaches
// the bundle fails the build, except binaryen's own `import("node:module")`, which its
// Emscripten loader makes only after checking it runs in Node (`globalThis.process.versions
// .node`), so a page never executes it. Listed here by importer, specifier and kind, so any
// other one (a moec module importing node:fs, a static import anywhere) still fails.
//
// Size budget: BUDGET_BYTES for all the JavaScript together (moec.js, the worker and their
// chunks). binaryen (the Wasm module builder: its C++ compiled to Wasm, embedded in its
// JavaScript) is most of it. The one source of the budget: `npm run build` (so `npm ci`, in CI
// too) runs this script, which prints the size against it and fails over it, and
// test/browser-entry.test.ts checks the same constant (and that the README states it).
//
//   node scripts/bundle-browser.mjs [OUTDIR]     (default dist/browser)
import { build } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** All the bundle's JavaScript together may be at most this many bytes (measured: about 15.3 MB). */
export const BUDGET_BYTES = 16.5e6;

/** The `node:` imports a browser bundle may keep: run-time guarded, never reached in a page. */
const ALLOWED_NODE_IMPORTS = [{ importer: 'node_modules/binaryen/index.js', path: 'node:module', kind: 'dynamic-import' }];

/** Who a bundled input belongs to: a package's name, or `moec` for this package's own files. */
function owner(input) {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  return m ? m[1] : 'moec';
}

/**
 * Builds the bundle into `outdir`; returns the size report (also written to size.json).
 * Throws, listing them, when a `node:` import other than the allowed ones is reached.
 */
export async function bundleBrowser(outdir = join(root, 'dist/browser')) {
  const nodeImports = [];
  // The chunks' names carry content hashes: the last build's would pile up beside the new ones.
  rmSync(join(outdir, 'chunks'), { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { moec: 'compiler/browser.ts', 'moec-worker': 'compiler/browser/worker.ts' },
    bundle: true,
    splitting: true,
    platform: 'browser',
    format: 'esm',
    // top-level await (binaryen's loader) and class fields, as every browser with WebGPU has them
    target: 'es2022',
    minify: true,
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    logLevel: 'silent',
    plugins: [
      {
        name: 'record-node-imports',
        setup(b) {
          b.onResolve({ filter: /^node:/ }, (args) => {
            nodeImports.push({ importer: relative(root, args.importer), path: args.path, kind: args.kind });
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  const refused = nodeImports.filter((n) => !ALLOWED_NODE_IMPORTS.some((a) => a.importer === n.importer && a.path === n.path && a.kind === n.kind));
  if (refused.length > 0) throw new Error(`the browser bundle reaches Node built-ins:\n${refused.map((n) => `  ${n.importer}: ${n.kind} ${n.path}`).join('\n')}`);
  const files = {};
  const byOwner = {};
  let total = 0;
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    if (!file.endsWith('.js')) continue;
    files[relative(outdir, join(root, file))] = out.bytes;
    total += out.bytes;
    for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) byOwner[owner(input)] = (byOwner[owner(input)] ?? 0) + bytesInOutput;
  }
  // What a page loads before its first line runs: an entry and its static imports, transitively
  // (the backends' chunks are dynamic imports, loaded on first use).
  const outputs = result.metafile.outputs;
  const upFront = (entry) => {
    const seen = new Set();
    const visit = (file) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const i of outputs[file].imports) if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path);
    };
    visit(entry);
    return [...seen].reduce((n, f) => n + outputs[f].bytes, 0);
  };
  const entryBytes = {};
  for (const file of Object.keys(outputs)) {
    const name = relative(outdir, join(root, file));
    if (name === 'moec.js' || name === 'moec-worker.js') entryBytes[name] = upFront(file);
  }
  const report = {
    totalBytes: total,
    budgetBytes: BUDGET_BYTES,
    entryBytes,
    files,
    byPackage: Object.fromEntries(Object.entries(byOwner).sort((a, b) => b[1] - a[1])),
    nodeImportsAllowed: nodeImports.filter((n) => !refused.includes(n)),
  };
  mkdirSync(outdir, { recursive: true });
  writeFileSync(join(outdir, 'size.json'), `${JSON.stringify(report, null, 1)}\n`);
  return report;
}

/** The report in a few lines: total against the budget, then the biggest contributors. */
export function formatSizeReport(r) {
  const mb = (n) => (n < 1e5 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(2)} MB`);
  const parts = Object.entries(r.byPackage).map(([p, n]) => `${p} ${mb(n)} (${((100 * n) / r.totalBytes).toFixed(1)}%)`);
  const entries = Object.entries(r.entryBytes).map(([f, n]) => `${f} ${mb(n)}`);
  return `browser bundle: ${mb(r.totalBytes)} of a ${mb(r.budgetBytes)} budget; ${parts.join(', ')}; loaded up front (the backends load on first use): ${entries.join(', ')}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const report = await bundleBrowser(process.argv[2] ? join(process.cwd(), process.argv[2]) : undefined);
    console.log(formatSizeReport(report));
    if (report.totalBytes > report.budgetBytes) {
      console.error(`over budget by ${report.totalBytes - report.budgetBytes} bytes`);
      process.exit(1);
    }
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
