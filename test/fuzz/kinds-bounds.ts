/**
 * @fileoverview Fuzz kinds for bounded work and for Hugging Face configs.
 *
 * `bounds`: inputs built to be large or deep at the sizes where a parser or a checker stops
 * being linear or blows the stack (a `.moe` with a million-term sum, parentheses 100k deep, a
 * name rebound 50k times, a YAML sheet with 200k keys or 100k levels, a config.json 100k
 * levels deep, a 16 MiB line), each given to the CLI as a file. The property: accepted or a
 * located diagnostic within the CPU bound, never an internal error (a stack overflow, a heap
 * blow-up) or a hang.
 *
 * `hf-config`: the shipped configs with fields deleted or set to awkward values (zero,
 * negative, huge, NaN, the wrong type), imported; an accepted tiny config (the hf-tiny
 * fixtures) is also run by the interpreter on seeded weights, and its logits must be finite:
 * a config the importer accepts must not give NaN.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { main } from '../../compiler/cli/cli.ts';
import { run } from '../../compiler/driver.ts';
import { importHfConfig } from '../../compiler/import/index.ts';
import { analyzeModel } from '../../compiler/analysis/analyze.ts';
import { FuzzFailure, checkCase, checkCaseAsync } from './outcome.ts';
import type { FuzzKind } from './kinds.ts';

/** How a large input is built: its file kind, its shape and a size. */
type Shape =
  | 'moe-sum' | 'moe-parens' | 'moe-rebind' | 'moe-long-name' | 'moe-huge-dim' | 'moe-many-consts'
  | 'yaml-keys' | 'yaml-deep' | 'yaml-long'
  | 'json-deep' | 'json-array' | 'json-long';

const SHAPES: Shape[] = ['moe-sum', 'moe-parens', 'moe-rebind', 'moe-long-name', 'moe-huge-dim', 'moe-many-consts', 'yaml-keys', 'yaml-deep', 'yaml-long', 'json-deep', 'json-array', 'json-long'];
/** Sizes around where work stops being linear; the largest are past any sane cap. */
const SIZES = [1, 10, 1000, 20_000, 50_000, 100_000, 200_000, 1_000_000, 5_000_000];

const TINY_BODY = `model tiny
dim T <= 64
const D = 16
input x: f32[T, D]
weight w: f32[D, D]
fn main(x) {
  y = matmul(x, w)
  return y
}
`;

/** The text of one large input (the file name's extension says what reads it). */
export function largeInput(shape: Shape, n: number): { file: string; text: string } {
  switch (shape) {
    case 'moe-sum':
      return { file: 'big.moe', text: `const A = ${Array(n).fill('1').join('+')}\n${TINY_BODY}` };
    case 'moe-parens':
      return { file: 'big.moe', text: `const A = ${'('.repeat(n)}1${')'.repeat(n)}\n${TINY_BODY}` };
    case 'moe-rebind':
      return { file: 'big.moe', text: TINY_BODY.replace('  y = matmul(x, w)\n', `  y = matmul(x, w)\n${'  y = y + y\n'.repeat(n)}`) };
    case 'moe-long-name':
      return { file: 'big.moe', text: TINY_BODY.replace(/\by\b/g, `y${'y'.repeat(n)}`) };
    case 'moe-huge-dim':
      return { file: 'big.moe', text: TINY_BODY.replace('const D = 16', `const D = ${n}`).replace('weight w: f32[D, D]', `weight w: f32[D, D]\n${'weight v: f32[D, D]\n'.replace('v', `v${n % 7}`)}`) };
    case 'moe-many-consts':
      return { file: 'big.moe', text: `${Array.from({ length: n }, (_, i) => `const C${i} = ${i}`).join('\n')}\n${TINY_BODY}` };
    case 'yaml-keys':
      return { file: 'big.yaml', text: `${BASE_YAML}${Array.from({ length: n }, (_, i) => `k${i}: ${i}`).join('\n')}\n` };
    case 'yaml-deep':
      return { file: 'big.yaml', text: `${BASE_YAML}extra: ${'['.repeat(n)}${']'.repeat(n)}\n` };
    case 'yaml-long':
      return { file: 'big.yaml', text: `${BASE_YAML}# ${'x'.repeat(n * 16)}\n` };
    case 'json-deep':
      return { file: 'config.json', text: `{"model_type": "mixtral", "x": ${'['.repeat(n)}${']'.repeat(n)}}` };
    case 'json-array':
      return { file: 'config.json', text: `{"model_type": "mixtral", "x": [${Array(n).fill('0').join(',')}]}` };
    case 'json-long':
      return { file: 'config.json', text: `{"model_type": "mixtral", "x": "${'x'.repeat(n * 16)}"}` };
  }
}

const BASE_YAML = readFileSync(new URL('../../targets/x86-avx2.yaml', import.meta.url), 'utf8');

export function boundsKind(scratch: string): FuzzKind<{ shape: Shape; n: number }> {
  const dir = join(scratch, 'bounds');
  return {
    name: 'bounds',
    arbitrary: fc.record({ shape: fc.constantFrom(...SHAPES), n: fc.constantFrom(...SIZES) }),
    check: async ({ shape, n }) => {
      mkdirSync(dir, { recursive: true });
      const { file, text } = largeInput(shape, n);
      const path = join(dir, file);
      writeFileSync(path, text);
      const argv = file.endsWith('.moe') ? ['check', path] : file.endsWith('.yaml') ? ['compile', 'examples/tiny.moe', '--target', path] : ['analyze', path];
      let code = -1;
      const err: string[] = [];
      // Bounded: a refusal of a 80 MB input must not first build its whole tree.
      const outcome = await checkCaseAsync(async () => {
        code = await main(argv, { out: () => {}, err: (s) => err.push(s) });
      }, 5000);
      if (code < 0 || code > 2) throw new FuzzFailure(`moec ${argv.join(' ')} (${shape}, n = ${n}) exited ${code}:\n${err.join('\n').slice(0, 2000)}`);
      return code === 0 ? outcome : { ok: false, codes: [`exit ${code}`] };
    },
  };
}

// ---------------------------------------------------------------------------------------
// Hugging Face configs.

const HF_ROOT = new URL('../../examples/hf/', import.meta.url);
const TINY_ROOT = new URL('../fixtures/hf-tiny/', import.meta.url);
interface ConfigSeed {
  name: string;
  value: Record<string, unknown>;
  tiny: boolean;
}
const CONFIGS: ConfigSeed[] = [
  ...readdirSync(HF_ROOT).map((d) => ({ name: `examples/hf/${d}/config.json`, value: JSON.parse(readFileSync(new URL(`${d}/config.json`, HF_ROOT), 'utf8')), tiny: false })),
  ...readdirSync(TINY_ROOT)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ name: `test/fixtures/hf-tiny/${f}`, value: JSON.parse(readFileSync(new URL(f, TINY_ROOT), 'utf8')), tiny: true })),
];

/** Values a field may be set to: zero, signs, huge, fractions, the wrong JSON type. */
const AWKWARD_VALUES: unknown[] = [0, -1, 1, 2, 3, 0.5, -0.5, 1e-300, 1e300, 2 ** 31, 2 ** 53, null, true, '', 'x', 'silu', [], {}, [1, 2], { type: 'yarn', factor: 0 }, { rope_type: 'llama3', factor: -1 }];
/** Textual replacements JSON.stringify cannot produce: Python's json writes NaN and Infinity. */
const RAW_VALUES = ['NaN', 'Infinity', '-Infinity', '1e400'];

type ConfigEdit = { op: 'delete'; key: number } | { op: 'set'; key: number; value: number } | { op: 'raw'; key: number; raw: number };
const configEdit: fc.Arbitrary<ConfigEdit> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), key: fc.nat() }),
  fc.record({ op: fc.constant('set' as const), key: fc.nat(), value: fc.nat(AWKWARD_VALUES.length - 1) }),
  fc.record({ op: fc.constant('raw' as const), key: fc.nat(), raw: fc.nat(RAW_VALUES.length - 1) }),
);

/** The seed's JSON text after the edits (keys by index into the object's own, nested objects included one level down). */
export function editedConfig(seed: ConfigSeed, edits: ConfigEdit[]): string {
  const value = structuredClone(seed.value);
  const raws: Array<[string, string]> = [];
  for (const e of edits) {
    const paths = Object.entries(value).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? [[k], ...Object.keys(v).map((c) => [k, c])] : [[k]]));
    if (paths.length === 0) break;
    const path = paths[e.key % paths.length];
    const holder = (path.length === 1 ? value : value[path[0]]) as Record<string, unknown>;
    const key = path[path.length - 1];
    if (e.op === 'delete') delete holder[key];
    else if (e.op === 'set') holder[key] = structuredClone(AWKWARD_VALUES[e.value]);
    else {
      const marker = `@@raw${raws.length}@@`;
      holder[key] = marker;
      raws.push([`"${marker}"`, RAW_VALUES[e.raw]]);
    }
  }
  return raws.reduce((t, [m, r]) => t.replace(m, r), JSON.stringify(value, null, 1));
}

/**
 * Edits that set a field to 1e300 or 2^53: a scale that large (mscale, routed_scaling_factor)
 * overflows float32 in the reference code too, so such configs are held only to importing
 * cleanly, not to finite logits.
 */
function overflows(edits: ConfigEdit[]): boolean {
  return edits.some((e) => e.op === 'set' && typeof AWKWARD_VALUES[e.value] === 'number' && Math.abs(AWKWARD_VALUES[e.value] as number) >= 1e15);
}

/** Largest tiny model the fuzzer runs through the interpreter (weights, in elements). */
const RUN_PARAMS = 2 ** 20;

export const hfConfigKind: FuzzKind<{ seed: number; edits: ConfigEdit[] }> = {
  name: 'hf-config',
  arbitrary: fc.record({ seed: fc.nat(CONFIGS.length - 1), edits: fc.array(configEdit, { minLength: 1, maxLength: 3 }) }),
  check: ({ seed, edits }) => {
    const s = CONFIGS[seed];
    const text = editedConfig(s, edits);
    let total = 0;
    let outputs: Record<string, { data: ArrayLike<number> }> = {};
    const outcome = checkCase(() => {
      const r = importHfConfig(text, s.name);
      total = analyzeModel(r.module, {}).params.total;
      if (s.tiny && total <= RUN_PARAMS && !overflows(edits)) outputs = run(r.module, { tokens: 2, bindings: { L: 2 }, seed: 1 }).outputs;
    }, 5000);
    const what = `${s.name} with ${JSON.stringify(edits)} was imported`;
    if (outcome.ok && !(Number.isFinite(total) && total > 0)) throw new FuzzFailure(`${what}, with ${total} parameters:\n${text}`);
    for (const [name, t] of Object.entries(outputs))
      if (Array.prototype.some.call(t.data, (v: number) => !Number.isFinite(v))) throw new FuzzFailure(`${what}, and its output ${name} holds NaN or Inf:\n${text}`);
    if (Object.keys(outputs).length > 0) hfRuns.count++;
    return outcome;
  },
};

/** Accepted tiny configs that the interpreter ran (so a test can see the deep check is reached). */
export const hfRuns = { count: 0 };
