/**
 * @fileoverview The input kinds moec is fuzzed on, each a fast-check arbitrary of inputs and
 * a `run` that feeds one input through moec as far as it goes: `.moe` sources (compiled,
 * and for small models tiled for a target and run), target sheets (parsed, and sometimes
 * used to compile the tiny model), graph and kernel IR text (parsed, verified, printed
 * back), safetensors bytes (parsed, every tensor decoded, the tiny model's weights taken
 * from them) and CLI command lines. The property each must keep is in `outcome.ts`.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { main } from '../../compiler/cli/cli.ts';
import { availableBackends, getBackend } from '../../compiler/backends/registry.ts';
import { makeTempDir, removeTemp } from '../../compiler/io/output.ts';
import { compile, compileModel, inputsFromSafetensors, randomInputs, randomWeights, run, weightsFromSafetensors } from '../../compiler/driver.ts';
import { parseTarget } from '../../compiler/target/load.ts';
import { evalShape } from '../../ir/dims.ts';
import { type Module, mainFunc } from '../../ir/graph/graph.ts';
import { interpretKernelIR } from '../../ir/kernel/kinterp.ts';
import { randomUniform } from '../../ir/random.ts';
import { parseKernelIR } from '../../ir/kernel/kparse.ts';
import { verifyKernelIR } from '../../ir/kernel/kverify.ts';
import { printKernelIR } from '../../ir/kernel/kprint.ts';
import { atTokens } from '../../ir/kernel/memory.ts';
import { parseIR } from '../../ir/graph/parse.ts';
import { printIR } from '../../ir/graph/print.ts';
import { parseSafetensors, serializeSafetensors } from '../../ir/safetensors.ts';
import { numel } from '../../ir/tensor.ts';
import { SMALL } from '../small-sizes.ts';
import { FuzzFailure, type Outcome, checkCase, checkCaseAsync } from './outcome.ts';
import { mutatedText, randomTokens } from './mutate.ts';
import { safetensorsBytes } from './safetensors-gen.ts';
import { boundsKind, hfConfigKind } from './kinds-bounds.ts';
import { outputsKind, specialInputsKind } from './kinds-files.ts';

export interface FuzzKind<T> {
  name: string;
  arbitrary: fc.Arbitrary<T>;
  /** Runs one input through moec and checks the property; throws `FuzzFailure` if it breaks. */
  check: (input: T) => Outcome | Promise<Outcome>;
  /**
   * Loads what the cases use once, before the first case: the CPU bound is per case, and the
   * first case that compiles for Wasm would otherwise also pay for loading binaryen (~5 s).
   */
  prepare?: () => Promise<void>;
}

/** Cases that got through to the deep check of their kind (pipeline, interpreters), so a test can see it is reached. */
export const deepRuns: Record<string, number> = { moe: 0, target: 0, 'kernel-ir': 0 };

interface Seed {
  name: string;
  text: string;
}

const ROOT = new URL('../../', import.meta.url);
const read = (rel: string): string => readFileSync(new URL(rel, ROOT), 'utf8');
const EXAMPLES: Seed[] = readdirSync(new URL('examples/', ROOT))
  .filter((f) => f.endsWith('.moe'))
  .sort()
  .map((f) => ({ name: `examples/${f}`, text: read(`examples/${f}`) }));
/** The examples at the test sizes of small-sizes.ts, written into their `const` lines: cheap enough to tile and run every accepted mutant. */
const SMALL_EXAMPLES: Seed[] = EXAMPLES.map(({ name, text }) => ({
  name: name.replace(/\.moe$/, '.small.moe'),
  text: Object.entries(SMALL[name.slice('examples/'.length)] ?? {}).reduce((t, [k, v]) => t.replace(new RegExp(`^const ${k} = [^ \n]+`, 'm'), `const ${k} = ${v}`), text),
}));
const TARGETS: Seed[] = readdirSync(new URL('targets/', ROOT))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => ({ name: `targets/${f}`, text: read(`targets/${f}`) }));

/** The fuzzer's own allocation bound: a case runs the interpreters only on models this small. */
const RUN_ELEMENTS = 2 ** 20;

function elementsAt(m: Module, bindings: Record<string, number>): number {
  let n = 0;
  for (const w of m.weights) n += numel(evalShape(w.type.shape, {}));
  for (const p of mainFunc(m).params) n += numel(evalShape(p.type.shape, bindings));
  return n;
}

/** Binds every dim of the module to 2 (T is the token count). */
function smallBindings(m: Module): Record<string, number> {
  return Object.fromEntries(m.dims.map((d) => [d.name, Math.min(2, d.max ?? 2)]));
}

let tinyCache: Module | undefined;
function tiny(): Module {
  tinyCache ??= compile(read('examples/tiny.moe'), { path: 'examples/tiny.moe' });
  return tinyCache;
}

// ---------------------------------------------------------------------------------------

const PIPELINE_TARGETS = ['x86-avx2', 'wasm-simd128', 'webgpu', 'npu-scratchpad'];

/**
 * Mutated examples (and token soup): compile. Mutants of the small-size examples that
 * compile are also tiled for a target (through every fusion pass) and run by the reference
 * interpreter.
 */
export const moeKind: FuzzKind<{ name: string; text: string; target: string }> = {
  name: 'moe',
  arbitrary: fc
    .tuple(
      fc.oneof(
        { weight: 4, arbitrary: mutatedText(EXAMPLES) },
        { weight: 5, arbitrary: mutatedText(SMALL_EXAMPLES) },
        { weight: 1, arbitrary: randomTokens(EXAMPLES).map((text) => ({ name: 'random.moe', text })) },
      ),
      fc.constantFrom(...PIPELINE_TARGETS),
    )
    .map(([t, target]) => ({ ...t, target })),
  check: ({ name, text, target }) =>
    checkCase(() => {
      const m = compile(text, { path: name });
      const bindings = smallBindings(m);
      if (elementsAt(m, bindings) > RUN_ELEMENTS || !name.endsWith('.small.moe')) return;
      compileModel(m, { target, maxTokens: 8 });
      run(m, { bindings, seed: 1 });
      deepRuns.moe++;
    }),
};

/** Mutated target sheets: parse; one in eight accepted sheets also compiles the tiny model. */
export const targetKind: FuzzKind<{ name: string; text: string; deep: boolean }> = {
  name: 'target',
  arbitrary: fc
    .tuple(fc.oneof({ weight: 9, arbitrary: mutatedText(TARGETS) }, { weight: 1, arbitrary: randomTokens(TARGETS).map((text) => ({ name: 'random.yaml', text })) }), fc.nat(7))
    .map(([t, k]) => ({ ...t, deep: k === 0 })),
  check: ({ name, text, deep }) =>
    checkCase(() => {
      const caps = parseTarget(text, name);
      if (!deep) return;
      compileModel(tiny(), { target: caps, maxTokens: 16 });
      deepRuns.target++;
    }),
};

let graphSeeds: Seed[] | undefined;
function graphIrSeeds(): Seed[] {
  graphSeeds ??= EXAMPLES.map((s) => ({ name: s.name.replace(/\.moe$/, '.ir'), text: printIR(compile(s.text, { path: s.name, consts: SMALL[s.name.slice('examples/'.length)] })) }));
  return graphSeeds;
}

/** Mutated graph IR text: parse (which verifies); what parses must print and parse back the same. */
export function graphIrKind(): FuzzKind<{ name: string; text: string }> {
  return {
    name: 'graph-ir',
    arbitrary: mutatedText(graphIrSeeds()),
    check: ({ name, text }) => {
      let printed = '';
      const outcome = checkCase(() => {
        printed = printIR(parseIR(text, name));
      });
      if (outcome.ok) {
        const again = printIR(parseIR(printed, `${name} (printed)`));
        if (again !== printed) throw new FuzzFailure(`printing is not stable:\n${printed}\n---\n${again}`);
      }
      return outcome;
    },
  };
}

let kernelSeeds: Seed[] | undefined;
function kernelIrSeeds(): Seed[] {
  const targets = ['x86-avx2', 'webgpu', 'npu-scratchpad'];
  kernelSeeds ??= EXAMPLES.map((s, i) => {
    const m = compile(s.text, { path: s.name, consts: SMALL[s.name.slice('examples/'.length)] });
    const { program } = compileModel(m, { target: targets[i % targets.length], maxTokens: 16 });
    return { name: s.name.replace(/\.moe$/, '.kir'), text: printKernelIR(program) };
  });
  return kernelSeeds;
}

/** Mutated kernel IR text: parse, verify; a valid, small program is also run by the kernel interpreter at T = 2. */
export function kernelIrKind(): FuzzKind<{ name: string; text: string; deep: boolean }> {
  return {
    name: 'kernel-ir',
    arbitrary: fc.tuple(mutatedText(kernelIrSeeds()), fc.nat(3)).map(([t, k]) => ({ ...t, deep: k === 0 })),
    check: ({ name, text, deep }) =>
      checkCase(() => {
        const p = parseKernelIR(text, name);
        if (verifyKernelIR(p).length > 0 || !deep) return;
        const bindings = smallBindings(p.module);
        const buffers = new Map(p.buffers.map((b) => [b.name, b]));
        const elements = p.buffers.reduce((n, b) => n + numel(evalShape(b.shape, bindings)), 0) + p.module.weights.reduce((n, w) => n + numel(evalShape(w.type.shape, {})), 0);
        const arenaAt = p.arenaBytes === undefined ? 0 : atTokens(p.arenaBytes, bindings.T ?? 1);
        if (elements > RUN_ELEMENTS || arenaAt > 4 * RUN_ELEMENTS) return;
        // The program's inputs are its `input` buffers (its graph module holds only weights and `pack`).
        const inputs = Object.fromEntries(p.inputs.map((io) => [io.name, randomUniform(io.name, 1, evalShape(buffers.get(io.buffer)!.shape, bindings), 1)]));
        interpretKernelIR(p, { bindings, inputs, weights: randomWeights(p.module, 1), arena: arenaAt > 0 });
        deepRuns['kernel-ir']++;
      }),
  };
}

/** Safetensors bytes, generated and mutated: parse, decode every tensor, take the tiny model's weights and inputs. */
export function safetensorsKind(): FuzzKind<Uint8Array> {
  const m = tiny();
  const valid = serializeSafetensors({ ...randomWeights(m, 1), ...randomInputs(m, { T: 3 }, 1) }, { source: 'fuzz' });
  return {
    name: 'safetensors',
    arbitrary: safetensorsBytes(valid, m.weights.map((w) => w.name).concat(mainFunc(m).params.map((p) => p.name))),
    check: (bytes) =>
      checkCase(() => {
        const file = parseSafetensors(bytes, 'fuzz.safetensors');
        for (const n of file.names()) {
          file.info(n);
          file.get(n);
        }
        weightsFromSafetensors(m, file, 'fuzz.safetensors');
        inputsFromSafetensors(m, file, 'fuzz.safetensors');
      }),
  };
}

// ---------------------------------------------------------------------------------------
// Command lines.

/** Values for each option: good ones, and ones that must be refused (out of range, not numbers, unknown names). */
const OPTION_VALUES: Record<string, string[]> = {
  '--tokens': ['1', '2', '7', '64', '65', '0', '-1', '2147483648', 'abc', '1e3', ''],
  '--seed': ['0', '1', '4294967295', '4294967296', '-1', 'x'],
  '--set': ['D=16', 'E=2,K=2', 'K=9', 'D=0', 'F=2147483647', 'D=1e9', 'T=3', 'DD=3', 'D=', 'K=-1', 'E=1'],
  '--target': ['x86-avx2', 'webgpu', 'wasm-simd128', 'npu-scratchpad', 'x86-avx3', 'targets/webgpu.yaml', 'examples/tiny.moe', 'missing.yaml'],
  '--max-tokens': ['1', '16', '64', '65', '0', 'lots'],
  '--after': ['fuse-router', 'tile', 'plan-memory', 'canonicalize', 'fuse'],
  '--disable': ['fuse-router', 'fuse-experts,cleanup', 'fuse-routr'],
  '--emit': ['kernel-ir', 'wgsl'],
  '--backend': ['ref', 'nope'],
  '--weights': ['missing.safetensors', 'examples/tiny.moe'],
  '--inputs': ['missing.safetensors', 'targets'],
};
const SWITCHES = ['--f64', '--check', '--verify-each', '--print-after-all', '--debug', '--bogus', '-h', '--version'];

/** Command lines over the tiny model (and a missing file, a directory): commands with options, mostly well formed; files go to a scratch directory. */
export function cliKind(scratch: string): FuzzKind<string[]> {
  const files = ['examples/tiny.moe', 'examples/tiny.moe', 'examples/tiny.moe', join(scratch, 'missing.moe'), scratch, 'targets/webgpu.yaml'];
  const option = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...Object.keys(OPTION_VALUES)).chain((flag) => fc.constantFrom(...OPTION_VALUES[flag]).map((v) => [flag, v])) },
    { weight: 1, arbitrary: fc.constantFrom(...SWITCHES).map((f) => [f]) },
    { weight: 1, arbitrary: fc.constantFrom(join(scratch, 'out'), join(scratch, 'y.safetensors'), join(scratch, 'no', 'dir'), join(scratch, 'README')).chain((p) => fc.constantFrom('-o', '--out').map((f) => [f, p])) },
    { weight: 1, arbitrary: fc.constantFrom('extra', '--tokens', '-T3', '--set=D=8').map((w) => [w]) },
  );
  const command = fc.constantFrom('check', 'ir', 'run', 'run', 'run', 'compile', 'bogus');
  const argv = fc.tuple(command, fc.constantFrom(...files), fc.array(option, { maxLength: 4 })).map(([c, f, opts]) => {
    const more = opts.flat();
    // `run` without --tokens and `compile` without --target are usage errors; give most cases one.
    if (c === 'run' && !more.includes('--tokens')) more.push('--tokens', '3');
    if (c === 'compile' && !more.includes('--target') && f.length % 2 === 0) more.push('--target', 'webgpu');
    return [c, f, ...more];
  });
  return {
    name: 'cli',
    prepare: async () => {
      for (const b of availableBackends()) await getBackend(b);
    },
    arbitrary: argv,
    check: async (argv) => {
      let code = -1;
      const err: string[] = [];
      const outcome = await checkCaseAsync(async () => {
        code = await main(argv, { out: () => {}, err: (s) => err.push(s) });
      });
      if (code === 3 || code < 0 || code > 3) throw new FuzzFailure(`moec ${argv.join(' ')} exited ${code}:\n${err.join('\n')}`);
      return code === 0 ? outcome : { ok: false, codes: [`exit ${code}`] };
    },
  };
}

/** A scratch directory for the CLI kind (removed by `cleanupScratch`). */
export function makeScratch(): string {
  const dir = makeTempDir('moec-fuzz');
  writeFileSync(join(dir, 'README'), 'scratch directory of the moec fuzzer\n');
  return dir;
}

export function cleanupScratch(dir: string): void {
  removeTemp(dir);
}

export const KIND_NAMES = ['moe', 'target', 'graph-ir', 'kernel-ir', 'safetensors', 'cli', 'hf-config', 'bounds', 'outputs', 'special-inputs'] as const;
/** Kinds that touch the file system with FIFOs: a regression would block the process, so tests run them in a child under the watchdog. */
export const CHILD_KINDS: readonly KindName[] = ['outputs', 'special-inputs'];
export type KindName = (typeof KIND_NAMES)[number];

/** Builds a kind by name (the IR seeds are compiled on first use). */
export function kindByName(name: KindName, scratch: string): FuzzKind<any> {
  switch (name) {
    case 'moe':
      return moeKind;
    case 'target':
      return targetKind;
    case 'graph-ir':
      return graphIrKind();
    case 'kernel-ir':
      return kernelIrKind();
    case 'safetensors':
      return safetensorsKind();
    case 'cli':
      return cliKind(scratch);
    case 'hf-config':
      return hfConfigKind;
    case 'bounds':
      return boundsKind(scratch);
    case 'outputs':
      return outputsKind(scratch);
    case 'special-inputs':
      return specialInputsKind(scratch);
  }
}
