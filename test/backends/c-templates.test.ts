/**
 * The C templates precompiled by the build (dist/c-templates.json, compiler/backends/c/templates.ts):
 * used only where the .hbs still has the hash they were compiled from, and rendering exactly
 * what the templates compiled from their sources render; and they spare a process the
 * Handlebars compile (~0.4 s of CPU) that every first C emit paid.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderC } from '../../compiler/backends/c/render.ts';
import { loadCTemplates, precompileCTemplates } from '../../compiler/backends/c/templates.ts';
import { importHfConfig } from '../../compiler/import/index.ts';
import { runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';

const dir = mkdtempSync(join(tmpdir(), 'moec-c-templates-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ALL = readdirSync('targets/c').filter((f) => f.endsWith('.hbs')).sort();

const cpuMs = (fn: () => void): number => {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};

describe('C templates precompiled at build time', () => {
  const path = precompileCTemplates(join(dir, 'c-templates.json'));

  it('every template is used precompiled while its source is unchanged; an edited one is compiled from its source', () => {
    expect(loadCTemplates(path).precompiled).toEqual(ALL);
    const file = JSON.parse(readFileSync(path, 'utf8')) as { templates: Record<string, { sha256: string }> };
    file.templates['attention.c.hbs'].sha256 = '0'.repeat(64); // as if attention.c.hbs changed after the build
    const stale = join(dir, 'stale.json');
    writeFileSync(stale, JSON.stringify(file));
    expect(loadCTemplates(stale).precompiled).toEqual(ALL.filter((f) => f !== 'attention.c.hbs'));
    expect(loadCTemplates(join(dir, 'absent.json')).precompiled).toEqual([]);
    writeFileSync(join(dir, 'torn.json'), '{"templates": {');
    expect(loadCTemplates(join(dir, 'torn.json')).precompiled).toEqual([]);
  });

  it('render the same C as the templates compiled from their sources (whole models: attention, MLA, rope, a tied embedding)', () => {
    for (const name of ['llama', 'deepseek_v3']) {
      const cfg = `test/fixtures/hf-tiny/${name}.json`;
      const p = runPipeline(importHfConfig(readFileSync(cfg, 'utf8'), cfg).module, { target: loadTarget('x86-avx2'), maxTokens: 16, maxContext: 16 }).program!;
      const pre = renderC(p, loadTarget('x86-avx2'), loadCTemplates(path).templates);
      const src = renderC(p, loadTarget('x86-avx2'), loadCTemplates(null).templates);
      expect(pre.source, name).toBe(src.source);
      expect(pre.header, name).toBe(src.header);
      expect(pre.main, name).toBe(src.main);
    }
  });

  it('loading them precompiled costs a fraction of compiling them (CPU time, the best of three fresh loads)', () => {
    // Handlebars compiles a partial when a template first calls it: render once to pay for all.
    const cfg = 'test/fixtures/hf-tiny/deepseek_v3.json';
    const p = runPipeline(importHfConfig(readFileSync(cfg, 'utf8'), cfg).module, { target: loadTarget('x86-avx2'), maxTokens: 16, maxContext: 16 }).program!;
    const best = (from: string | null): number => Math.min(...[0, 1, 2].map(() => cpuMs(() => renderC(p, loadTarget('x86-avx2'), loadCTemplates(from).templates))));
    const [pre, src] = [best(path), best(null)];
    expect(pre, `precompiled ${pre.toFixed(0)} ms, from the sources ${src.toFixed(0)} ms`).toBeLessThan(src / 2);
  });
});
