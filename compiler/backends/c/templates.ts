/**
 * @fileoverview The C backend's Handlebars templates (targets/c/*.hbs), compiled once per
 * process; and their precompiled form, which `npm run build` writes to dist/c-templates.json
 * (scripts/precompile-c-templates.mjs calls `precompileCTemplates`).
 *
 * Why precompiled: Handlebars parsing and generating the code of the ~110 KB of templates
 * costs ~0.4 s of CPU on the first C emit of a process, which is every `moec compile
 * --target x86-*`: more than the whole pipeline of a small model, and a third of the
 * real-size DeepSeek-V3's. Each precompiled template carries the sha256 of its source and is
 * used only while the .hbs beside it still has that hash; any other is compiled from its
 * source as before, so an edited template (or no dist/ at all: tests, tsx) never runs stale.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { packageRoot } from '../../io/package-root.ts';

export interface CTemplates {
  header: HandlebarsTemplateDelegate;
  source: HandlebarsTemplateDelegate;
  main: HandlebarsTemplateDelegate;
  mpiMain: HandlebarsTemplateDelegate;
}

/** The top-level templates; every other `*.c.hbs` is a partial of the same name. */
const TOP = { header: 'model.h.hbs', source: 'model.c.hbs', main: 'main.c.hbs', mpiMain: 'mpi_main.c.hbs' } as const;

const OPTIONS = { noEscape: true, strict: false };

/** Where the build writes the precompiled templates. */
const precompiledPath = (): string => join(packageRoot(), 'dist', 'c-templates.json');

interface Precompiled {
  /** By file name: the sha256 of the source it was compiled from, and Handlebars' template spec (JavaScript). */
  templates: Record<string, { sha256: string; spec: string }>;
}

function templatesDir(): string {
  const dir = join(packageRoot(), 'targets', 'c');
  if (existsSync(dir) && readdirSync(dir).includes(TOP.source)) return dir;
  throw new Error('C backend: the templates (targets/c/*.hbs) are missing from this installation');
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The template files and their sources. */
function sources(): Map<string, string> {
  const dir = templatesDir();
  return new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith('.hbs'))
      .sort()
      .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
  );
}

/** What the build wrote, or nothing (running from the TypeScript sources, or a file that does not parse). */
function readPrecompiled(path: string | null): Precompiled['templates'] {
  if (path === null || !existsSync(path)) return {};
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as Precompiled).templates ?? {};
  } catch {
    return {};
  }
}

/**
 * The templates compiled, from the precompiled specs at `precompiled` (null: none) where
 * their sources are unchanged, the others from their sources; and which files came precompiled.
 */
export function loadCTemplates(precompiled: string | null): { templates: CTemplates; precompiled: string[] } {
  const hb = Handlebars.create();
  const pre = readPrecompiled(precompiled);
  const used: string[] = [];
  const template = (file: string, text: string): HandlebarsTemplateDelegate => {
    const p = pre[file];
    if (!p || p.sha256 !== sha256(text)) return hb.compile(text, OPTIONS);
    used.push(file);
    // The JavaScript that Handlebars.precompile wrote from this very source (the same hash).
    return hb.template(new Function(`return ${p.spec}`)() as TemplateSpecification);
  };
  const all = sources();
  const top = new Set<string>(Object.values(TOP));
  for (const [f, text] of all) if (f.endsWith('.c.hbs') && !top.has(f)) hb.registerPartial(f.slice(0, -'.c.hbs'.length), template(f, text));
  const get = (f: string): HandlebarsTemplateDelegate => template(f, all.get(f)!);
  return { templates: { header: get(TOP.header), source: get(TOP.source), main: get(TOP.main), mpiMain: get(TOP.mpiMain) }, precompiled: used.sort() };
}

let compiled: CTemplates | undefined;

/** The templates, compiled once per process (from the build's precompiled specs where they are current). */
export function cTemplates(): CTemplates {
  return (compiled ??= loadCTemplates(precompiledPath()).templates);
}

/** Writes every template precompiled, with the hash of its source, to `path` (`npm run build`: dist/c-templates.json). */
export function precompileCTemplates(path = precompiledPath()): string {
  const templates: Precompiled['templates'] = {};
  for (const [f, text] of sources()) templates[f] = { sha256: sha256(text), spec: Handlebars.precompile(text, OPTIONS) as string };
  writeFileSync(path, JSON.stringify({ templates } satisfies Precompiled));
  return path;
}
