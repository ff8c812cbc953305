/**
 * @fileoverview The floor plan (DESIGN.md "Layout" and "Principles"), read from the import
 * graph of the sources:
 * - `ir/` is the ground floor: it imports nothing outside `ir/` but Node built-ins, and inside
 *   it the layers are root (diagnostics, spans, types, tensors, quantization, files) <-
 *   `graph/` <- `kernel/`;
 * - a pass never imports a backend; a backend never imports a pass or another backend;
 * - the frontend and the importers import no pass and no backend;
 * - only the registry (`compiler/backends/registry.ts`) imports a backend (and the public API,
 *   `compiler/index.ts`, re-exports their runtimes; the browser entry, `compiler/browser.ts`,
 *   and its engine, which picks the browser's backends, do the same for a page), and no
 *   backend imports the registry (the interface, `backend.ts`, sits apart from it);
 * - only the CLI and the public API import the driver (it sits on top: the importer compiles
 *   through the frontend, not the driver; the browser entry through driver-core.ts);
 * - compiler/ and ir/ import nothing from bench/ or test/;
 * - nothing the browser entry (`compiler/browser.ts`, and the session worker) reaches imports
 *   a Node built-in or a Node-only package (scripts/bundle-browser.mjs checks the bundle too).
 * The rules are a function over an import graph, so the last test feeds it the real graph
 * with one deliberate violation of each rule added, and sees each caught.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The module specifiers a file imports or re-exports (static, side-effect and dynamic). */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** The text without its `import type` / `export type ... from` statements (erased when compiled) when `drop`. */
function withoutTypeImports(text: string, drop: boolean): string {
  return drop ? text.replace(/^\s*(?:import|export)\s+type\b[^;]*;/gm, '') : text;
}

/** Every source file under the folders (path from the repository root) → what it imports: repository paths for relative specifiers, package names otherwise. */
function importGraph(folders = ['ir', 'compiler', 'bench'], valuesOnly = false): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const rel = join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (/\.m?ts$/.test(e.name) && !e.name.endsWith('.d.ts'))
        graph.set(rel, importsOf(withoutTypeImports(readFileSync(join(ROOT, rel), 'utf8'), valuesOnly)).map((s) => (s.startsWith('.') ? normalize(join(dir, s)) : s)));
    }
  };
  for (const f of folders) walk(f);
  return graph;
}

const under = (path: string, folder: string): boolean => path === folder || path.startsWith(`${folder}/`);
const isPackage = (spec: string): boolean => !spec.includes('/') || !/^(ir|compiler|bench|test|targets|examples)\//.test(spec);
/** 0 for ir/'s root, 1 for ir/graph/, 2 for ir/kernel/. */
const irLayer = (path: string): number => (under(path, 'ir/kernel') ? 2 : under(path, 'ir/graph') ? 1 : 0);
/** `compiler/backends/c/render.ts` → `c`; the shared files of compiler/backends/ → undefined. */
const backendOf = (path: string): string | undefined => /^compiler\/backends\/([^/]+)\//.exec(path)?.[1];
const REGISTRY = 'compiler/backends/registry.ts';
/** The public API re-exports each backend's runtime for library users (`loadWgsl`, ...): a façade, not a user. */
const PUBLIC_API = 'compiler/index.ts';
/** The browser's API and its registry of the two backends a page has (Wasm, WGSL on navigator.gpu). */
const BROWSER_API = ['compiler/browser.ts', 'compiler/browser/engine.ts'];

interface Rule {
  name: string;
  breaks: (from: string, to: string) => boolean;
}

export const RULES: Rule[] = [
  { name: 'ir/ imports nothing outside ir/ but Node built-ins', breaks: (from, to) => under(from, 'ir') && (isPackage(to) ? !to.startsWith('node:') : !under(to, 'ir')) },
  { name: 'ir/: root <- graph/ <- kernel/', breaks: (from, to) => under(from, 'ir') && under(to, 'ir') && irLayer(to) > irLayer(from) },
  { name: 'a pass does not import a backend', breaks: (from, to) => under(from, 'compiler/passes') && under(to, 'compiler/backends') },
  { name: 'a backend does not import a pass', breaks: (from, to) => under(from, 'compiler/backends') && under(to, 'compiler/passes') },
  { name: 'a backend does not import another backend', breaks: (from, to) => backendOf(from) !== undefined && backendOf(to) !== undefined && backendOf(from) !== backendOf(to) },
  { name: 'a backend does not import the registry', breaks: (from, to) => backendOf(from) !== undefined && to === REGISTRY },
  {
    name: 'only the registry (and the public API) imports a backend from outside it',
    breaks: (from, to) => under(from, 'compiler') && backendOf(to) !== undefined && backendOf(from) === undefined && from !== REGISTRY && from !== PUBLIC_API && !BROWSER_API.includes(from),
  },
  {
    name: 'the frontend and the importers import no pass and no backend',
    breaks: (from, to) => (under(from, 'compiler/frontend') || under(from, 'compiler/import')) && (under(to, 'compiler/passes') || under(to, 'compiler/backends')),
  },
  {
    name: 'only the CLI and the public API import the driver (the importer compiles through the frontend)',
    breaks: (from, to) => to === 'compiler/driver.ts' && under(from, 'compiler') && !under(from, 'compiler/cli') && from !== PUBLIC_API,
  },
  { name: 'compiler/ and ir/ import nothing from bench/ or test/', breaks: (from, to) => (under(from, 'compiler') || under(from, 'ir')) && (under(to, 'bench') || under(to, 'test')) },
];

/** Every import that breaks a rule, as `rule: from -> to`. */
function violations(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [from, tos] of graph) for (const to of tos) for (const r of RULES) if (r.breaks(from, to)) out.push(`${r.name}: ${from} -> ${to}`);
  return out;
}

/** Packages that run only in Node: the browser entry must not reach them. */
const NODE_ONLY = ['webgpu', 'handlebars'];
const BROWSER_ENTRIES = ['compiler/browser.ts', 'compiler/browser/worker.ts'];

/** Imports of Node built-ins or Node-only packages by modules the browser entries reach, as `from -> to`. */
function nodeReachedFromBrowser(graph: Map<string, string[]>): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const queue = [...BROWSER_ENTRIES];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const to of graph.get(file) ?? []) {
      if (to.startsWith('node:') || NODE_ONLY.includes(to)) out.push(`${file} -> ${to}`);
      else if (graph.has(to)) queue.push(to);
    }
  }
  return out;
}

describe('architecture', () => {
  const graph = importGraph();

  it('reads the sources and their imports', () => {
    expect(graph.size).toBeGreaterThan(150);
    expect(importsOf("import { a } from './x.ts';\nimport type { B } from '../y.ts';\nexport { c } from 'node:fs';\nimport './side.ts';\nconst m = await import('./z.ts');")).toEqual([
      './x.ts',
      '../y.ts',
      'node:fs',
      './side.ts',
      './z.ts',
    ]);
    expect(graph.get('compiler/backends/registry.ts')).toContain('compiler/backends/c/index.ts');
  });

  it('the import graph keeps the floor plan', () => {
    expect(violations(graph)).toEqual([]);
  });

  // What a bundle loads: value imports (type-only ones are erased).
  const values = importGraph(['ir', 'compiler'], true);

  it('the browser entry reaches no Node built-in and no Node-only package', () => {
    expect(values.get('compiler/browser.ts')).toContain('compiler/browser/session.ts');
    expect(values.get('compiler/checkpoint/load-weights.ts')).not.toContain('ir/safetensors.ts');
    expect(nodeReachedFromBrowser(values)).toEqual([]);
  });

  it('a Node import where the browser entry reaches is caught, and one where it does not reach is not', () => {
    const g = new Map(values);
    g.set('ir/dims.ts', [...g.get('ir/dims.ts')!, 'node:fs']);
    g.set('compiler/backends/wgsl/gpu.ts', [...g.get('compiler/backends/wgsl/gpu.ts')!, 'webgpu']);
    expect(nodeReachedFromBrowser(g)).toEqual(expect.arrayContaining(['ir/dims.ts -> node:fs', 'compiler/backends/wgsl/gpu.ts -> webgpu']));
    expect(nodeReachedFromBrowser(g)).toHaveLength(2);
    // node-gpu.ts imports webgpu (through dawn.ts, which says how to install it when missing), the
    // C backend node:child_process: neither is reachable from a page
    expect(g.get('compiler/backends/wgsl/node-gpu.ts')).toContain('compiler/backends/wgsl/dawn.ts');
    expect(g.get('compiler/backends/wgsl/dawn.ts')).toContain('webgpu');
  });

  it('a deliberate violation of each rule is caught, and only by its rule', () => {
    const bad: Array<[string, string, string]> = [
      ['ir/graph/verify.ts', 'compiler/cli/cli.ts', RULES[0].name],
      ['ir/tensor.ts', 'yaml', RULES[0].name],
      ['ir/graph/graph.ts', 'ir/kernel/kernel.ts', RULES[1].name],
      ['compiler/passes/tile.ts', 'compiler/backends/backend.ts', RULES[2].name],
      ['compiler/backends/backend.ts', 'compiler/passes/tile.ts', RULES[3].name],
      ['compiler/backends/wasm/gemm.ts', 'compiler/backends/c/layout.ts', RULES[4].name],
      ['compiler/backends/wgsl/plan.ts', REGISTRY, RULES[5].name],
      ['compiler/driver.ts', 'compiler/backends/wgsl/runtime.ts', RULES[6].name],
      ['compiler/frontend/lower.ts', 'compiler/passes/canonicalize.ts', RULES[7].name],
      ['compiler/import/index.ts', 'compiler/driver.ts', RULES[8].name],
      ['compiler/cost/cost.ts', 'bench/cost.ts', RULES[9].name],
    ];
    for (const [from, to, rule] of bad) {
      const g = new Map(graph);
      g.set(from, [...(g.get(from) ?? []), to]);
      expect(violations(g), `${from} -> ${to}`).toEqual([`${rule}: ${from} -> ${to}`]);
    }
  });
});
