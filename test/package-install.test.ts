/**
 * The package as another project gets it: `npm pack` of this repository, installed from the
 * tarball into a fresh project outside it (its own package.json, typescript and @types/node
 * beside), where the README's API example ("## The API", taken from the README so the test
 * keeps the README honest) runs with node and type-checks with `tsc --noEmit` against the
 * declarations the package ships. A wrong call in the same place must fail to type-check, so
 * the check cannot pass on `any`.
 *
 * It needs npm's registry or its cache (`--prefer-offline`): outside CI it skips, saying why,
 * when neither has the packages; under CI it must run. The tarball is packed with
 * --ignore-scripts from the dist/ that `npm ci` built (its `prepare`): rebuilding dist/ here
 * would rewrite files that test files running beside this one import.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { skipUnless } from './optional-packages.ts';

/** The code of the README's "## The API" section (its first ```ts block), verbatim. */
function readmeApiExample(readme: string): string {
  const section = readme.split(/^## /m).find((s) => s.startsWith('The API\n'));
  if (section === undefined) throw new Error('README.md has no "## The API" section');
  const code = /^```ts\n([\s\S]*?)^```$/m.exec(section);
  if (!code) throw new Error('the README\'s "## The API" section has no ```ts block');
  return code[1];
}

/** npm's words for "the registry cannot be reached and the cache lacks the package". */
const OFFLINE = /ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|network|offline/i;

function npm(args: string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

describe('the packed package in an outside project', () => {
  it('the README\'s "## The API" section has the example this test installs and runs', () => {
    const code = readmeApiExample(readFileSync('README.md', 'utf8'));
    expect(code).toContain("from 'moec'");
    expect(code).toContain('compileFile(');
  });

  it('installs from the tarball; the README\'s API example runs with node and type-checks with tsc --noEmit', { timeout: 120_000 }, (ctx) => {
    expect(existsSync('dist/compiler/index.js'), 'dist/ is built by `npm ci` (prepare) or `npm run build`').toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'moec-outside-'));
    const packed = npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], process.cwd());
    expect(packed.status, packed.out).toBe(0);
    const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);

    const project = join(dir, 'project');
    mkdirSync(join(project, 'examples'), { recursive: true });
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'outside', private: true, type: 'module' }));
    const versions = pkg.devDependencies;
    const installed = npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `typescript@${versions.typescript}`, `@types/node@${versions['@types/node']}`], project);
    if (installed.status !== 0 && OFFLINE.test(installed.out)) {
      if (skipUnless('the npm registry or cache', installed.out.split('\n').find((l) => OFFLINE.test(l))?.trim() ?? 'offline', 'the outside-project install test')) return ctx.skip();
    }
    expect(installed.status, installed.out).toBe(0);
    expect(JSON.parse(readFileSync(join(project, 'node_modules/moec/package.json'), 'utf8')).version).toBe(pkg.version);

    // The example reads examples/tiny.moe from where it runs: the user's copy of the shipped one.
    copyFileSync(join(project, 'node_modules/moec/examples/tiny.moe'), join(project, 'examples/tiny.moe'));
    const code = readmeApiExample(readFileSync('README.md', 'utf8'));
    writeFileSync(join(project, 'api.mjs'), code);
    const ran = spawnSync(process.execPath, ['api.mjs'], { cwd: project, encoding: 'utf8', timeout: 30_000 });
    expect(ran.stderr).toBe('');
    expect(ran.status).toBe(0);
    expect(ran.stdout).toContain('model tiny');
    expect(ran.stdout).toMatch(/\[ 4, 8 \]/); // outputs.y.shape at 4 tokens

    writeFileSync(join(project, 'api.ts'), code);
    writeFileSync(join(project, 'wrong.ts'), `${code}\nrun(model, { tokens: 'four' });\n`);
    const tsconfig = (files: string[]) => JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'] }, files });
    const tsc = (files: string[]) => {
      writeFileSync(join(project, 'tsconfig.json'), tsconfig(files));
      return spawnSync(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8', timeout: 60_000 });
    };
    const checked = tsc(['api.ts']);
    expect(`${checked.stdout}${checked.stderr}`).toBe('');
    expect(checked.status).toBe(0);
    const wrong = tsc(['wrong.ts']);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stdout).toMatch(/wrong\.ts\(\d+,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
  });
});
