// Serves the browser demo on 127.0.0.1 (`npm run demo`, after scripts/bundle-browser.mjs):
// a static server for examples/ (the page and the .moe models) and dist/browser/ (the
// bundle), plus examples/list.json, the models the page offers. Nothing else of the
// package is served; it listens on the loopback interface only.
//
//   node scripts/serve-demo.mjs [--port N]      (default 8719; 0 picks a free port)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SERVED = ['examples', join('dist', 'browser')];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
  '.moe': 'text/plain; charset=utf-8',
  '.yaml': 'text/plain; charset=utf-8',
};

/**
 * Cross-origin isolation: the page gets fine-grained timers (performance.now() is coarsened
 * to 100 µs without it, too coarse for a small model's forward) and SharedArrayBuffer. Every
 * resource is same-origin, so nothing else changes.
 */
const ISOLATED = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** The `.moe` models under examples/, sorted. */
function exampleList() {
  return readdirSync(join(root, 'examples'))
    .filter((f) => f.endsWith('.moe'))
    .sort();
}

/** The file a URL path names, when it lies in a served folder; else undefined. */
function fileFor(urlPath) {
  let rel;
  try {
    rel = normalize(decodeURIComponent(urlPath)).replace(/^[/\\]+/, '');
  } catch {
    return undefined;
  }
  if (rel.split(sep).includes('..') || !SERVED.some((d) => rel === d || rel.startsWith(d + sep))) return undefined;
  let file = join(root, rel);
  try {
    if (statSync(file).isDirectory()) file = join(file, 'index.html');
    return statSync(file).isFile() ? file : undefined;
  } catch {
    return undefined;
  }
}

function handle(req, res) {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (path === '/') {
    res.writeHead(302, { location: '/examples/web/' }).end();
    return;
  }
  if (path === '/examples/list.json') {
    res.writeHead(200, { 'content-type': TYPES['.json'], 'cache-control': 'no-store', ...ISOLATED }).end(JSON.stringify(exampleList()));
    return;
  }
  const file = fileFor(path);
  if (!file) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...ISOLATED });
  res.end(req.method === 'HEAD' ? undefined : readFileSync(file));
}

/** Starts the server; resolves to its demo URL and a close function. */
export function serveDemo(port = 8719) {
  const server = createServer(handle);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address();
      resolve({ url: `http://127.0.0.1:${bound}/examples/web/`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--port');
  const port = at >= 0 ? Number(process.argv[at + 1]) : 8719;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve-demo: --port takes 0..65535, not ${process.argv[at + 1]}`);
    process.exit(2);
  }
  try {
    const { url } = await serveDemo(port);
    console.log(`moec demo: ${url}  (Ctrl-C stops it)`);
  } catch (e) {
    console.error(`serve-demo: cannot listen on 127.0.0.1:${port}: ${e.message}${e.code === 'EADDRINUSE' ? ' (give another with --port N)' : ''}`);
    process.exit(1);
  }
}
