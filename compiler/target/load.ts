/**
 * @fileoverview Loads a target capability sheet from disk: a shipped sheet by name
 * (`targets/NAME.yaml` in the package) or any `.yaml` file by path. The checking is
 * `parse.ts`, which needs no Node and serves the browser entry too.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { didYouMean, MoecError } from '../../ir/diagnostics.ts';
import { readUserText } from '../../ir/user-file.ts';
import { packageRoot } from '../io/package-root.ts';
import type { TargetCaps } from './caps.ts';
import { type Cluster, parseCluster } from './cluster.ts';
import { parseTarget } from './parse.ts';

export { MAX_ALIAS_COUNT, MAX_TARGET_CHARS, parseTarget } from './parse.ts';

/**
 * Where the shipped sheets are. From source this module is `compiler/target-load.ts`, built it
 * is `dist/compiler/target-load.js`; `targets/` sits at the package root, so it is `../targets`
 * or `../../targets`. `dist/targets/` may exist too (compiled backend code), so a folder only
 * counts if it holds sheets.
 */
function shippedDir(sub = 'targets'): string | undefined {
  const dir = join(packageRoot(), sub);
  return existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).some((f) => f.endsWith('.yaml')) ? dir : undefined;
}

/** The `.yaml` files of a shipped folder, by name, sorted. */
function yamlNames(dir: string | undefined): string[] {
  if (!dir) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/** Names of the shipped targets (`targets/*.yaml`), sorted. */
export function listTargets(): string[] {
  return yamlNames(shippedDir());
}

const CLUSTERS = join('targets', 'clusters');

/** Names of the shipped clusters (`targets/clusters/*.yaml`), sorted. */
export function listClusters(): string[] {
  return yamlNames(shippedDir(CLUSTERS));
}

/**
 * Loads a cluster file: a bare name is a shipped cluster (`targets/clusters/NAME.yaml`), a
 * `.yaml` or a path a file. Its `chip:` is a shipped target, or a sheet's path relative to the
 * cluster file. Throws E613 for an unknown name, E501 for an unreadable file, and the schema
 * errors of the cluster and of its chip's sheet.
 */
export function loadCluster(nameOrPath: string): Cluster {
  let file = nameOrPath;
  if (!isTargetPath(nameOrPath)) {
    const names = listClusters();
    const dir = shippedDir(CLUSTERS);
    if (!dir || !names.includes(nameOrPath)) {
      throw new MoecError({
        code: 'E613',
        message: `unknown cluster \`${nameOrPath}\``,
        hint: didYouMean(nameOrPath, names) ?? `shipped clusters: ${names.map((n) => `\`${n}\``).join(', ')}; or give the path of a cluster .yaml file`,
      });
    }
    file = join(dir, `${nameOrPath}.yaml`);
  }
  const text = readUserText(file, { label: `cluster file \`${file}\`` });
  return parseCluster(text, displayPath(file), (chip) => loadTarget(isTargetPath(chip) && !isAbsolute(chip) ? join(dirname(file), chip) : chip));
}

/** Whether `--target` names a file (a .yaml, or anything with a slash) rather than a shipped target. */
export function isTargetPath(nameOrPath: string): boolean {
  return /\.ya?ml$/i.test(nameOrPath) || /[/\\]/.test(nameOrPath);
}

/**
 * Loads a target: a bare name (`x86-avx2`) is a shipped sheet; anything ending in `.yaml` or
 * `.yml`, or containing a path separator, is read as a file. Throws `MoecError` E604 for an
 * unknown name, E501 for an unreadable file, and the `parseTarget` errors for a bad sheet.
 */
export function loadTarget(nameOrPath: string): TargetCaps {
  const isPath = isTargetPath(nameOrPath);
  let file: string;
  if (isPath) {
    file = nameOrPath;
  } else {
    const names = listTargets();
    const dir = shippedDir();
    if (!dir || !names.includes(nameOrPath)) {
      const list = names.map((n) => `\`${n}\``).join(', ');
      throw new MoecError({
        code: 'E604',
        message: `unknown target \`${nameOrPath}\``,
        hint:
          didYouMean(nameOrPath, names) ??
          (names.length > 0 ? `shipped targets: ${list}; or give the path of a .yaml sheet` : 'give the path of a .yaml sheet'),
      });
    }
    file = join(dir, `${nameOrPath}.yaml`);
  }
  return parseTarget(readUserText(file, { label: `target file \`${file}\`` }), displayPath(file));
}

/** A shipped sheet's path relative to the working directory when it is inside it (`targets/x86-avx2.yaml`). */
function displayPath(file: string): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(process.cwd(), resolve(file));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}
