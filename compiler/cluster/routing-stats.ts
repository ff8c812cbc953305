/**
 * @fileoverview Routing statistics: how many tokens each routed expert of each MoE layer got
 * in a run, the file `moec run --record-routing stats.json` writes and `--expert-load
 * stats.json` reads (the placement balances the ranks by these counts; the multi-chip cost
 * model reads them too). The format is in docs/routing-stats.md:
 *
 *   { "format": "moec.routing-stats", "version": 1, "model": "mixtral_moe", "tokens": 512,
 *     "layers": [ { "router": "top.indices", "iteration": 0, "experts": 8, "counts": [..] } ] }
 *
 * One entry per router run, in run order: `router` names the router's `indices` buffer in
 * the kernel IR (so a layer inside a repeat appears once per iteration, `iteration` 0..L-1),
 * `counts[e]` the routed choices (not shared experts, not dropped ones) expert e received
 * over `tokens` tokens. A file is the user's: every mistake in it is E511 at its line:col.
 */
import { fail } from '../../ir/diagnostics.ts';
import type { Span } from '../../ir/source.ts';
import { readUserText } from '../../ir/user-file.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { writeOutputFile } from '../io/output.ts';
import { type JsonDocument, type JsonValue, parseJsonDocument } from '../import/json-source.ts';

export const ROUTING_STATS_FORMAT = 'moec.routing-stats';
export const ROUTING_STATS_VERSION = 1;

export interface RoutingLayer {
  /** The router's `indices` buffer in the kernel IR. */
  router: string;
  /** The repeat iteration (a layer of a loop), absent outside loops. */
  iteration?: number;
  experts: number;
  counts: number[];
}

export interface RoutingStats {
  model: string;
  /** Tokens the counts were gathered over. */
  tokens: number;
  layers: RoutingLayer[];
}

/** The largest statistics file read: 256 experts × 61 layers of counts is ~150 KB. */
const MAX_STATS_CHARS = 16 << 20;

const HINT = 'a routing-statistics file is what `moec run --record-routing FILE` writes (docs/routing-stats.md)';

/** Reads and checks a routing-statistics file (E501 if unreadable, E511 with line:col if malformed). */
export function readRoutingStats(path: string): RoutingStats {
  const text = readUserText(path, { label: `routing statistics ${path}` });
  const doc = parseJsonDocument(text, path, { code: 'E511', name: 'a routing-statistics file', hint: HINT, maxChars: MAX_STATS_CHARS, sizeHint: HINT });
  return checkStats(doc, path);
}

function checkStats(doc: JsonDocument, path: string): RoutingStats {
  const at = (key: string): Span | undefined => doc.values.get(key) ?? doc.keys.get(key);
  const bad = (key: string, message: string, hint = HINT): never => fail('E511', `${path}: ${message}`, at(key) ?? doc.source.span(0, 1), hint);
  const v = doc.value;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return bad('', 'expected one JSON object');
  const obj = v as Record<string, JsonValue>;
  if (obj.format !== ROUTING_STATS_FORMAT) bad('format', `"format" is ${JSON.stringify(obj.format ?? null)}, expected "${ROUTING_STATS_FORMAT}"`);
  if (obj.version !== ROUTING_STATS_VERSION) bad('version', `"version" is ${JSON.stringify(obj.version ?? null)}; this moec reads version ${ROUTING_STATS_VERSION}`, 'write the file again with this moec (moec run --record-routing)');
  const whole = (key: string, x: JsonValue | undefined, what: string, min = 0): number => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > Number.MAX_SAFE_INTEGER) bad(key, `${what} is ${JSON.stringify(x ?? null)}, expected a whole number from ${min}`);
    return x as number;
  };
  if (typeof obj.model !== 'string') bad('model', '"model" must be the model name, a string');
  const tokens = whole('tokens', obj.tokens, '"tokens"', 1);
  if (!Array.isArray(obj.layers) || obj.layers.length === 0) bad('layers', '"layers" must be a non-empty list, one entry per router run');
  const layers = (obj.layers as JsonValue[]).map((l, i): RoutingLayer => {
    const key = `layers.${i}`;
    if (l === null || typeof l !== 'object' || Array.isArray(l)) return bad(key, `layers[${i}] must be an object`);
    const o = l as Record<string, JsonValue>;
    for (const k of Object.keys(o)) if (!['router', 'iteration', 'experts', 'counts'].includes(k)) bad(`${key}.${k}`, `layers[${i}] has the unknown field "${k}"`, 'fields: router, iteration, experts, counts');
    if (typeof o.router !== 'string' || o.router === '') bad(`${key}.router`, `layers[${i}].router must name the router's indices buffer`);
    const experts = whole(`${key}.experts`, o.experts, `layers[${i}].experts`, 1);
    if (!Array.isArray(o.counts) || o.counts.length !== experts) bad(`${key}.counts`, `layers[${i}].counts must list ${experts} counts, one per expert`);
    const counts = (o.counts as JsonValue[]).map((c, e) => whole(`${key}.counts.${e}`, c, `layers[${i}].counts[${e}]`));
    const layer: RoutingLayer = { router: o.router as string, experts, counts };
    if (o.iteration !== undefined) layer.iteration = whole(`${key}.iteration`, o.iteration, `layers[${i}].iteration`);
    return layer;
  });
  return { model: obj.model as string, tokens, layers };
}

/** Writes `stats` (atomically: the user's path is refused if it is an input, by the caller). */
export function writeRoutingStats(path: string, stats: RoutingStats): void {
  const body = {
    format: ROUTING_STATS_FORMAT,
    version: ROUTING_STATS_VERSION,
    model: stats.model,
    tokens: stats.tokens,
    layers: stats.layers.map((l) => ({ router: l.router, ...(l.iteration !== undefined ? { iteration: l.iteration } : {}), experts: l.experts, counts: l.counts })),
  };
  writeOutputFile(path, JSON.stringify(body, null, 1).replace(/\[\n\s+([\d,\n\s]+?)\n\s+\]/g, (_, xs: string) => `[${xs.replace(/\s+/g, ' ').trim()}]`) + '\n');
}

/**
 * The expected load of each routed expert for the placement of the MoE group whose router
 * writes `router`: the counts of every layer recorded for it, summed (a loop's layers share
 * one placement). Undefined when the file has no such router (uniform load then is wrong for
 * the user's intent: the caller says so).
 */
export function loadFor(stats: RoutingStats, router: string, experts: number, path: string): number[] {
  const layers = stats.layers.filter((l) => l.router === router);
  if (layers.length === 0)
    fail('E511', `${path} has no counts for the router ${router}`, undefined, `its routers: ${[...new Set(stats.layers.map((l) => l.router))].join(', ')}; record the statistics with this model (moec run --record-routing)`);
  const out = new Array<number>(experts).fill(0);
  for (const l of layers) {
    if (l.experts !== experts) fail('E511', `${path}: router ${router} has ${l.experts} experts in the file, ${experts} in the model`, undefined, 'record the statistics with this model and its --set sizes');
    l.counts.forEach((c, e) => (out[e]! += c));
  }
  return out;
}

/**
 * Counts each router run's routed choices in a run of the single-chip kernel program (the
 * kernel interpreter's router outputs), one layer per run in run order.
 */
export function recordRouting(program: KProgram, opts: { weights: Record<string, Tensor>; inputs: Record<string, Tensor>; bindings: Record<string, number> }): RoutingStats {
  const layers: RoutingLayer[] = [];
  const runs = new Map<string, number>();
  interpretKernelIR(program, {
    ...opts,
    onRouter: (k, indices) => {
      const counts = new Array<number>(k.experts).fill(0);
      const cols = k.k + k.shared;
      for (let i = 0; i < indices.data.length; i++) {
        const e = indices.data[i]!;
        if (i % cols < k.k && e >= 0 && e < k.experts) counts[e]!++;
      }
      const n = runs.get(k.indices) ?? 0;
      runs.set(k.indices, n + 1);
      layers.push({ router: k.indices, iteration: n, experts: k.experts, counts });
    },
  });
  // A router that ran once is not in a loop: no iteration number.
  for (const l of layers) if (runs.get(l.router) === 1) delete l.iteration;
  return { model: program.name, tokens: opts.bindings.T ?? 1, layers };
}
