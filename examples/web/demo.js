// The demo page's script: everything runs here, through the browser bundle (`npm run demo`
// builds it and serves this folder; scripts/serve-demo.mjs). The query string can preset the
// form and start a run, e.g. `?model=tiny.moe&T=7&seed=3&run=1` (the browser test does).
// `window.moecDemo` holds the last run's results for scripts: per provider the outputs (as
// arrays), their statistics, the time per forward, or the error.
import { InferenceSession, MoecError, analyzeModel, browserTarget, compile, randomInputs, rooflineSvg, tensorStats, DEFAULT_BROWSER_TARGET } from '../../dist/browser/moec.js';

const $ = (id) => document.getElementById(id);
const PROVIDERS = ['wasm', 'webgpu'];
/** Forwards are timed in a batch of at least this many, lasting at least TIME_MS (timers are coarse in a page). */
const MIN_RUNS = 3;
const TIME_MS = 200;

const state = { status: 'idle', results: {} };
window.moecDemo = state;

function parseConsts(text) {
  const consts = {};
  for (const part of text.split(/[,\s]+/).filter(Boolean)) {
    const m = /^([A-Za-z_]\w*)=(\d+)$/.exec(part);
    if (!m) throw new Error(`sizes: '${part}' is not NAME=NUMBER`);
    consts[m[1]] = Number(m[2]);
  }
  return consts;
}

const fmt = (v, digits = 4) => (Number.isFinite(v) ? Number(v.toPrecision(digits)).toString() : String(v));

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, attrs);
  for (const c of children) e.append(c);
  return e;
}

function table(head, rows) {
  const t = el('table');
  t.append(el('tr', {}, ...head.map((h) => el('th', { textContent: h }))));
  for (const r of rows) t.append(el('tr', {}, ...r.map((c, i) => el('td', { textContent: c, className: i === 1 && head[1] === 'what' ? 'what' : '' }))));
  return t;
}

function errorText(e) {
  return e instanceof MoecError ? e.format() : `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
}

/** Compiles and runs the source on one provider; renders its section and returns its result. */
async function runOn(provider, { text, path, consts, T, seed, worker }, section) {
  const session = await InferenceSession.create({ moe: text, path, consts, seed }, { executionProvider: provider, ...(worker ? { worker: new URL('../../dist/browser/moec-worker.js', import.meta.url) } : {}) });
  try {
    const m = compile(text, { path, consts });
    const inputs = randomInputs(m, { T }, seed);
    const feeds = Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, { data: t.data, dims: t.shape }]));
    const outputs = await session.run(feeds);
    let runs = 0;
    let forward = 0;
    const t0 = performance.now();
    while (runs < MIN_RUNS || performance.now() - t0 < TIME_MS) {
      await session.run(feeds);
      forward += session.lastRunMs;
      runs++;
    }
    const ms = (performance.now() - t0) / runs;
    const stats = Object.fromEntries(Object.entries(outputs).map(([name, o]) => [name, tensorStats({ dtype: 'f32', shape: o.dims, data: o.data })]));
    section.append(
      el('p', { className: 'ok', textContent: `${session.description}: ${fmt(ms, 3)} ms per forward at T = ${T} (mean of ${runs}, feeds and read-back included; the forward alone ${fmt(forward / runs, 3)} ms)` }),
      table(
        ['output', 'dims', 'min', 'max', 'mean', 'std', 'NaN', '±Inf'],
        Object.entries(stats).map(([name, s]) => [name, `[${outputs[name].dims.join(', ')}]`, fmt(s.min), fmt(s.max), fmt(s.mean), fmt(s.std), String(s.nan), String(s.inf)]),
      ),
    );
    const target = browserTarget(DEFAULT_BROWSER_TARGET[provider]);
    const k = analyzeModel(m, { target, tokens: T }).kernels;
    section.append(
      el('h3', { textContent: `kernels on ${k.target} at T = ${T} (cost model)` }),
      table(
        ['kernel', 'what', 'runs', 'MFLOP', 'KiB moved', 'FLOP/B', 'bound', 'µs'],
        k.kernels.map((r) => [r.label, r.what, String(r.times), fmt(r.flops / 1e6), fmt(r.bytes / 1024), r.intensity === null ? '-' : fmt(r.intensity, 3), `${r.bound} (${r.boundBy})`, fmt(r.seconds * 1e6, 3)]),
      ),
    );
    const svg = el('div');
    svg.innerHTML = rooflineSvg(k, `${m.name} on ${k.target}: roofline at T = ${T}`);
    section.append(svg);
    return {
      ok: true,
      description: session.description,
      msPerForward: ms,
      forwardMs: forward / runs,
      runs,
      stats,
      outputs: Object.fromEntries(Object.entries(outputs).map(([name, o]) => [name, { dims: o.dims, data: Array.from(o.data) }])),
    };
  } finally {
    await session.release();
  }
}

async function runAll() {
  const button = $('run');
  button.disabled = true;
  state.status = 'running';
  state.results = {};
  $('status').textContent = 'compiling…';
  const results = $('results');
  results.replaceChildren();
  try {
    const opts = {
      text: $('source').value,
      path: $('example').value || '<typed>',
      consts: parseConsts($('consts').value),
      T: Number($('tokens').value),
      seed: Number($('seed').value),
      worker: $('worker').checked,
    };
    for (const provider of PROVIDERS) {
      const section = el('section', { className: 'provider' }, el('h2', { textContent: provider === 'wasm' ? 'WebAssembly (SIMD128)' : 'WebGPU (WGSL)' }));
      results.append(section);
      $('status').textContent = `running on ${provider}…`;
      try {
        state.results[provider] = await runOn(provider, opts, section);
      } catch (e) {
        section.append(el('p', { className: 'error', textContent: errorText(e) }));
        state.results[provider] = { ok: false, error: errorText(e) };
      }
    }
    state.status = 'done';
    $('status').textContent = 'done';
  } catch (e) {
    results.append(el('p', { className: 'error', textContent: errorText(e) }));
    state.status = 'error';
    state.error = errorText(e);
    $('status').textContent = 'error';
  } finally {
    button.disabled = false;
  }
}

async function loadExample(name) {
  const r = await fetch(`../${name}`);
  if (!r.ok) throw new Error(`cannot fetch ${name}: ${r.status}`);
  $('source').value = await r.text();
}

async function start() {
  const q = new URLSearchParams(location.search);
  const list = await fetch('../list.json').then((r) => r.json());
  for (const name of list) $('example').append(el('option', { value: name, textContent: name }));
  $('example').value = q.get('model') ?? (list.includes('tiny.moe') ? 'tiny.moe' : list[0]);
  for (const [param, id] of [['set', 'consts'], ['T', 'tokens'], ['seed', 'seed']]) if (q.has(param)) $(id).value = q.get(param);
  $('worker').checked = q.get('worker') === '1';
  await loadExample($('example').value);
  $('example').addEventListener('change', () => loadExample($('example').value));
  $('run').addEventListener('click', runAll);
  if (q.get('run') === '1') await runAll();
}

start().catch((e) => {
  state.status = 'error';
  state.error = errorText(e);
  $('status').textContent = `error: ${state.error}`;
});
