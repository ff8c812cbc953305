/**
 * @fileoverview The session worker: a module Web Worker that holds one engine and answers
 * `protocol.ts`'s requests, so a page compiles and runs a model without blocking. Bundled as
 * `moec-worker.js` (scripts/bundle-browser.mjs); a page starts it through
 * `InferenceSession.create(source, { worker: 'moec-worker.js' })`.
 */
import { MoecError } from '../../ir/diagnostics.ts';
import type { Engine } from './engine.ts';
import { type Reply, type Request, type WireError, buffersOf } from './protocol.ts';

// The engine is imported on the first request, not here: a module worker delivers messages
// once its script has run, before a top-level await settles (binaryen's loader has one, behind
// the engine), so the listener goes in first and nothing it needs may await at load. The
// worker starts fast too: 3 kB before the first request.
const engines = () => import('./engine.ts');

let engine: Engine | undefined;

function toWire(e: unknown): WireError {
  if (e instanceof MoecError) return { name: e.name, message: e.message, diagnostics: e.diagnostics };
  return e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
}

async function answer(req: Request): Promise<[Reply, Transferable[]]> {
  switch (req.op) {
    case 'create': {
      engine?.release();
      engine = await (await engines()).createEngine(req.source, req.provider, { threads: req.threads });
      const { run: _run, reset: _reset, release: _release, ...info } = engine;
      return [{ id: req.id, ok: true, result: info }, []];
    }
    case 'run': {
      if (!engine) throw new Error('the worker has no model: create the session first');
      const t0 = performance.now();
      const outputs = await engine.run(req.feeds, req.T, req.L);
      return [{ id: req.id, ok: true, result: { outputs, ms: performance.now() - t0 } }, buffersOf(outputs)];
    }
    case 'reset':
      engine?.reset();
      return [{ id: req.id, ok: true, result: null }, []];
    case 'release':
      engine?.release();
      engine = undefined;
      return [{ id: req.id, ok: true, result: null }, []];
  }
}

const scope = globalThis as unknown as { addEventListener(type: 'message', f: (ev: MessageEvent<Request>) => void): void; postMessage(m: Reply, transfer: Transferable[]): void };
scope.addEventListener('message', (ev) => {
  answer(ev.data).then(
    ([reply, transfer]) => scope.postMessage(reply, transfer),
    (e: unknown) => scope.postMessage({ id: ev.data.id, ok: false, error: toWire(e) }, []),
  );
});
