/**
 * @fileoverview Parses the text of a target capability sheet (`targets/*.yaml`) into a `TargetCaps`, checking
 * it against a declarative schema so that every mistake in a hand-written sheet is reported
 * with `file:line:col`: YAML syntax, duplicate keys, alias bombs, unknown keys (with "did you
 * mean"), missing fields, wrong types, wrong or missing units, and values that are out of range
 * or inconsistent with each other (memory levels must grow outward).
 *
 * Quantities are written with units as strings (`32 KiB`, `20 GB/s`, `1.2 TFLOP/s`) so a sheet
 * reads like a data sheet and a bare `32` can never be silently taken as bytes instead of KiB.
 *
 * Text in, caps out, nothing read from disk: the browser entry parses sheets with it too.
 * Finding a sheet by name or path (Node) is `load.ts`.
 */
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type Node as YamlNode,
  parseDocument,
  type Scalar,
  visit,
  type YAMLError,
} from 'yaml';
import { type Diagnostic, type DiagnosticCode, didYouMean, MAX_DIAGNOSTICS, MoecError } from '../../ir/diagnostics.ts';
import { SourceFile, type Span } from '../../ir/source.ts';
import type { Backend, MemoryLevel, TargetCaps } from './caps.ts';

// ---------------------------------------------------------------------------------------------
// Units

/** The kinds of quantity a sheet writes with a unit. */
type Quantity = 'size' | 'bandwidth' | 'flops' | 'time';

interface QuantityInfo {
  /** For messages: "expected a size such as `32 KiB`". */
  what: string;
  example: string;
  /** Unit → multiplier to bytes, bytes/second or FLOP/s. Case-sensitive. */
  units: Readonly<Record<string, number>>;
  /** Units people write that we refuse on purpose, with why and what to write instead. */
  refused?: Readonly<Record<string, string>>;
  /**
   * The physically sensible range, with a unit to print it in. A value outside it is a typo
   * or a hostile sheet, and would turn into nonsense downstream (`5e-324 FLOP/s` made every
   * estimate "Infinity s"; sizes past 2^53 lose their last bytes).
   */
  range: { min: number; max: number; minText: string; maxText: string };
}

const KI = 1024;
const QUANTITIES: Readonly<Record<Quantity, QuantityInfo>> = {
  size: {
    what: 'a size',
    example: '32 KiB',
    units: { B: 1, KiB: KI, MiB: KI ** 2, GiB: KI ** 3, TiB: KI ** 4 },
    // Cache and memory sizes are binary; accepting `KB` as 1000 B would turn "32 KB of L1" into
    // 32000 bytes and tiles that overflow it, and accepting it as 1024 B would make `KB` mean
    // different things in sizes and bandwidths. So sizes only take IEC units.
    refused: {
      KB: 'write `KiB`: sizes use binary units (1 KiB = 1024 B)',
      kB: 'write `KiB`: sizes use binary units (1 KiB = 1024 B)',
      MB: 'write `MiB`: sizes use binary units (1 MiB = 1024 KiB)',
      GB: 'write `GiB`: sizes use binary units (1 GiB = 1024 MiB)',
      TB: 'write `TiB`: sizes use binary units (1 TiB = 1024 GiB)',
    },
    // Up to 1 PiB: a whole cluster's memory, far below where byte counts stop being exact.
    range: { min: 1, max: KI ** 5, minText: '1 B', maxText: '1024 TiB' },
  },
  bandwidth: {
    what: 'a bandwidth',
    example: '20 GB/s',
    // Vendors quote bandwidth in decimal units (DDR4-3200 × 8 B = 25.6 GB/s), so both are taken.
    units: {
      'B/s': 1,
      'KB/s': 1e3,
      'MB/s': 1e6,
      'GB/s': 1e9,
      'TB/s': 1e12,
      'KiB/s': KI,
      'MiB/s': KI ** 2,
      'GiB/s': KI ** 3,
      'TiB/s': KI ** 4,
    },
    // 1 MB/s (a slow flash part) to 1 PB/s (beyond any chip's on-die SRAM today).
    range: { min: 1e6, max: 1e15, minText: '1 MB/s', maxText: '1000 TB/s' },
  },
  flops: {
    what: 'a FLOP/s rate',
    example: '150 GFLOP/s',
    units: { 'FLOP/s': 1, 'MFLOP/s': 1e6, 'GFLOP/s': 1e9, 'TFLOP/s': 1e12, 'PFLOP/s': 1e15 },
    // 1 MFLOP/s (a microcontroller) to 1 EFLOP/s (a thousand of today's largest accelerators).
    range: { min: 1e6, max: 1e18, minText: '1 MFLOP/s', maxText: '1000 PFLOP/s' },
  },
  time: {
    what: 'a time',
    example: '5 us',
    // `us` and `µs` both: the micro sign is hard to type, and link data sheets write either.
    units: { s: 1, ms: 1e-3, us: 1e-6, 'µs': 1e-6, ns: 1e-9 },
    refused: { sec: 'write `s`', msec: 'write `ms`', usec: 'write `us`', nsec: 'write `ns`' },
    // A link's latency: 1 ns (on-die) to 1 s (nothing a cluster's interconnect should take).
    range: { min: 1e-9, max: 1, minText: '1 ns', maxText: '1 s' },
  },
};

/** A decimal number at the start of a quantity (`25.6`, `1e3`, `-4`). */
const NUMBER_PREFIX = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/;

/** `1048576` → `1 MiB`, for messages about sizes. */
function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (i < units.length - 1 && n >= KI && n % KI === 0) {
    n /= KI;
    i++;
  }
  return `${n} ${units[i]}`;
}

// ---------------------------------------------------------------------------------------------
// Schema

/** What a field's value must be. `map` and `list` nest. */
export type FieldType =
  | { kind: 'string'; pattern?: RegExp; patternDoc?: string }
  | { kind: 'enum'; values: readonly string[]; hints?: Readonly<Record<string, string>> }
  | { kind: 'bool' }
  | { kind: 'count'; min: number; max: number }
  | { kind: 'quantity'; quantity: Quantity; allowZero?: boolean; max?: number }
  | { kind: 'map'; fields: readonly FieldSpec<Record<string, unknown>>[] }
  | { kind: 'list'; item: FieldType; minItems: number };

/**
 * One key of a mapping in the sheet. `field` is the property of the typed object it fills
 * (checked against `T` at compile time); `key` is its YAML spelling when that differs.
 */
export interface FieldSpec<T> {
  field: keyof T & string;
  key?: string;
  type: FieldType;
  /** Required (on the backends in `onlyFor`, if given). */
  required: boolean;
  /** Required for these backends even though `required` is false. */
  requiredFor?: readonly Backend[];
  /** Meaningful only on these backends: an error elsewhere. */
  onlyFor?: readonly Backend[];
  /** Value when the key is absent and not required. */
  default?: unknown;
  /** One line for people: shown as the hint when the field is missing. */
  doc: string;
}

const keyOf = (f: { field: string; key?: string }): string => f.key ?? f.field;
/** A size; `max` narrows the quantity's range (`QUANTITIES.size.range`) for fields with a small physical bound. */
const size = (allowZero = false, max?: number): FieldType => ({ kind: 'quantity', quantity: 'size', allowZero, ...(max ? { max } : {}) });
export const bandwidth: FieldType = { kind: 'quantity', quantity: 'bandwidth' };
const flops: FieldType = { kind: 'quantity', quantity: 'flops' };
/** A time, such as a link's latency (`5 us`); zero allowed (an ideal link). */
export const time: FieldType = { kind: 'quantity', quantity: 'time', allowZero: true };
/**
 * A whole number; the default bound is what a 32-bit signed integer holds, since the
 * generated C and Wasm read these as `int` (`cores: 2147483648` reached the C runner as a
 * negative thread count).
 */
export const count = (min = 1, max = 2 ** 31 - 1): FieldType => ({ kind: 'count', min, max });
/** Cores, MAC-array rows and columns, DMA channels: each becomes threads or loops of the generated code. */
const MAX_UNITS = 4096;
export const mapOf = <T>(fields: readonly FieldSpec<T>[]): Extract<FieldType, { kind: 'map' }> => ({
  kind: 'map',
  fields: fields as readonly FieldSpec<Record<string, unknown>>[],
});

const BACKENDS: readonly Backend[] = ['c', 'wasm', 'wgsl'];
const MEMORY_KINDS: readonly MemoryLevel['kind'][] = ['cache', 'scratchpad', 'dram'];

const MEMORY_LEVEL: readonly FieldSpec<MemoryLevel>[] = [
  { field: 'name', type: { kind: 'string' }, required: true, doc: 'the level\'s name, such as `L1d` or `DRAM`' },
  {
    field: 'kind',
    type: {
      kind: 'enum',
      values: MEMORY_KINDS,
      // Edit distance would suggest `dram` for `sram`, which is the opposite of what is meant.
      hints: {
        sram: 'on-chip SRAM is `scratchpad` if software-managed, `cache` if hardware-managed',
        memory: 'main memory is `dram`',
        hbm: 'HBM is main memory: `dram`',
      },
    },
    required: true,
    doc: '`cache` (hardware-managed), `scratchpad` (software-managed) or `dram` (main memory)',
  },
  { field: 'bytes', key: 'size', type: size(), required: true, doc: 'capacity, such as `32 KiB` (per core unless shared)' },
  { field: 'bandwidth', type: bandwidth, required: true, doc: 'sustained bandwidth inward, such as `20 GB/s`' },
  { field: 'shared', type: { kind: 'bool' }, required: true, doc: '`true` if all cores share it (L3, DRAM)' },
];

type Limits = TargetCaps['limits'];
/** WebGPU limits, spelled as `GPUSupportedLimits` spells them so a sheet can be checked against the spec. */
const LIMITS: readonly FieldSpec<Limits>[] = [
  ['maxWorkgroupInvocations', 'maxComputeInvocationsPerWorkgroup', count(), 'invocations per workgroup (default 256)'],
  ['maxWorkgroupSizeX', 'maxComputeWorkgroupSizeX', count(), 'workgroup size in x (default 256)'],
  ['maxWorkgroupSizeY', 'maxComputeWorkgroupSizeY', count(), 'workgroup size in y (default 256)'],
  ['maxWorkgroupSizeZ', 'maxComputeWorkgroupSizeZ', count(), 'workgroup size in z (default 64)'],
  ['maxWorkgroupStorageBytes', 'maxComputeWorkgroupStorageSize', size(), 'workgroup storage (default `16 KiB`)'],
  ['maxComputeWorkgroupsPerDimension', undefined, count(), 'workgroups per dispatch dimension (default 65535)'],
  ['maxStorageBuffersPerStage', 'maxStorageBuffersPerShaderStage', count(), 'storage buffers per shader stage (default 8)'],
  ['maxStorageBufferBindingBytes', 'maxStorageBufferBindingSize', size(), 'largest storage binding (default `128 MiB`)'],
  ['maxBufferBytes', 'maxBufferSize', size(), 'largest buffer (default `256 MiB`)'],
  ['minStorageBufferOffsetAlignment', undefined, size(), 'storage binding offset alignment (default `256 B`)'],
  ['shaderF16', undefined, { kind: 'bool' }, 'whether the `shader-f16` feature is required and granted'],
].map(([field, key, type, doc]) => ({
  field: field as keyof Limits,
  key: key as string | undefined,
  type: type as FieldType,
  required: true,
  onlyFor: ['wgsl'] as const,
  doc: doc as string,
}));

const PEAK_FLOPS: readonly FieldSpec<TargetCaps['peakFlops']>[] = [
  { field: 'f32', type: flops, required: true, doc: 'peak f32 rate of the whole chip, such as `192 GFLOP/s`' },
  { field: 'f16', type: flops, required: false, doc: 'peak f16 rate, if f16 arithmetic is native' },
  { field: 'bf16', type: flops, required: false, doc: 'peak bf16 rate, if native' },
  { field: 'i8', type: flops, required: false, doc: 'peak int8 rate (operations per second)' },
  { field: 'fp8e4m3', type: flops, required: false, doc: 'peak fp8 (e4m3) rate, if native' },
];

/** The whole sheet. Order is the order missing-field errors are reported in. */
const TARGET: readonly FieldSpec<TargetCaps>[] = [
  {
    field: 'name',
    type: { kind: 'string', pattern: /^[a-z0-9][a-z0-9-]*$/, patternDoc: 'lower-case letters, digits and `-`' },
    required: true,
    doc: 'the target\'s name, as given to `--target` (such as `x86-avx2`)',
  },
  { field: 'description', type: { kind: 'string' }, required: true, doc: 'one line saying what chip this is' },
  { field: 'backend', type: { kind: 'enum', values: BACKENDS }, required: true, doc: '`c`, `wasm` or `wgsl`' },
  {
    field: 'vectorBytes',
    key: 'vectorWidth',
    type: size(true, 4 * KI),
    required: true,
    doc: 'SIMD width, such as `32 B` for AVX2 (`0 B` for scalar)',
  },
  { field: 'fma', type: { kind: 'bool' }, required: true, doc: '`true` if fused multiply-add is available' },
  {
    field: 'vectorRegisters',
    type: count(4, 256),
    required: false,
    doc: 'architectural vector registers the micro-kernels may hold (default 16: AVX2\'s ymm0-15; AVX-512 has 32)',
  },
  { field: 'cores', type: count(1, MAX_UNITS), required: true, doc: 'cores (CPU) or compute units (GPU) that run in parallel' },
  { field: 'alignment', type: size(false, 64 * KI), required: true, doc: 'buffer alignment in the arena, such as `64 B`' },
  { field: 'peakFlops', type: mapOf(PEAK_FLOPS), required: true, doc: 'peak FLOP/s per dtype, at least `f32`' },
  {
    field: 'memory',
    type: { kind: 'list', item: mapOf(MEMORY_LEVEL), minItems: 1 },
    required: true,
    doc: 'the memory hierarchy, innermost level first, main memory last',
  },
  {
    field: 'macArray',
    type: mapOf<NonNullable<TargetCaps['macArray']>>([
      { field: 'rows', type: count(1, MAX_UNITS), required: true, doc: 'rows of the MAC array' },
      { field: 'cols', type: count(1, MAX_UNITS), required: true, doc: 'columns of the MAC array' },
    ]),
    required: false,
    doc: 'a matrix unit (MAC array) of this shape',
  },
  {
    field: 'dma',
    type: mapOf<NonNullable<TargetCaps['dma']>>([
      { field: 'bandwidth', type: bandwidth, required: true, doc: 'all channels together, such as `25.6 GB/s`' },
      { field: 'channels', type: count(1, MAX_UNITS), required: true, doc: 'transfers that can run at once' },
    ]),
    required: false,
    doc: 'the DMA engine that fills a scratchpad',
  },
  {
    field: 'limits',
    type: mapOf(LIMITS),
    required: false,
    requiredFor: ['wgsl'],
    default: {},
    doc: 'backend limits: WebGPU\'s `GPUSupportedLimits` for `wgsl`',
  },
];

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * Aliases allowed in one sheet. A sheet needs few or none; the yaml package refuses to expand
 * more than this, which stops "billion laughs" documents (nested aliases that expand
 * exponentially) before they eat memory.
 */
export const MAX_ALIAS_COUNT = 100;

/**
 * The most text a sheet may hold, in characters. Shipped sheets are under 3 KiB; the cap
 * bounds the work of parsing and checking a hostile one (200k unknown keys took over a
 * minute) and the number of diagnostics it can cause.
 */
export const MAX_TARGET_CHARS = 64 * KI;

/** The typed value of a mapping, with where each of its values was written. */
export type Checked = Record<string, unknown>;

/**
 * What kind of file a schema checks, for messages: target sheets and cluster files are read by
 * the same checker (`parseSheet`), so both report mistakes alike.
 */
export interface SheetKind {
  /** `target file`, `cluster file`. */
  file: string;
  /** `target sheet`: what the whole document is. */
  sheet: string;
  /** `describes one chip in a few dozen lines`: the hint for a file past the size cap. */
  scope: string;
}

const TARGET_KIND: SheetKind = { file: 'target file', sheet: 'target sheet', scope: 'describes one chip in a few dozen lines' };

/** Walks the YAML tree against the schema, collecting every diagnostic rather than stopping at one. */
export class SheetChecker {
  readonly diagnostics: Diagnostic[] = [];
  /** Where each value of each checked mapping came from, for the cross-field checks. */
  readonly spans = new WeakMap<Checked, Record<string, Span>>();
  /** The sheet's backend once known: some fields depend on it. */
  backend: Backend | undefined;

  constructor(
    private readonly doc: Document,
    private readonly src: SourceFile,
    private readonly kind: SheetKind = TARGET_KIND,
  ) {}

  report(code: DiagnosticCode, message: string, span: Span, hint?: string): undefined {
    this.diagnostics.push(hint === undefined ? { code, message, span } : { code, message, span, hint });
    return undefined;
  }

  spanOf(node: YamlNode): Span {
    const [start, end] = node.range ?? [0, 0];
    return this.src.span(start, end);
  }

  /** What the user wrote, for "got `…`". */
  textOf(node: YamlNode): string {
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a list';
    const [start, end] = node.range ?? [0, 0];
    const text = this.src.text.slice(start, end).trim();
    return text === '' ? 'nothing' : `\`${text.length > 40 ? `${text.slice(0, 37)}...` : text}\``;
  }

  /**
   * Checks one value. `node` is null for `key:` with nothing after it; `at` is where to point
   * when the value has no position of its own (the key). The schema is finite and not
   * recursive, so even an alias that refers to its own ancestor cannot make this loop.
   */
  value(node: YamlNode | null, type: FieldType, at: Span, path: string): unknown {
    let here = node ? this.spanOf(node) : at;
    if (node && isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) {
        return this.report('E601', `unknown alias \`*${node.source}\``, here, 'define the anchor `&name` before using it');
      }
      node = target;
      // Point at the alias for scalar mistakes; a collection's children still carry their own spans.
      if (!isScalar(target)) here = this.spanOf(target);
    }
    if (node === null || (isScalar(node) && node.value === null)) {
      // `key:` with nothing after it has an empty range just past the colon; point at the key instead.
      const range = node?.range;
      const written = range !== undefined && range !== null && range[0] < range[1];
      return this.report('E607', `\`${path}\` has no value`, written ? here : at, `expected ${this.expected(type)}`);
    }
    switch (type.kind) {
      case 'map':
        // Missing fields are reported at the key that holds the mapping (`limits:`), not its first line.
        return this.map(node, type.fields, at, path);
      case 'list': {
        if (!isSeq(node)) return this.report('E607', `\`${path}\` must be a list, got ${this.textOf(node)}`, here);
        if (node.items.length < type.minItems) {
          return this.report('E606', `\`${path}\` needs at least ${type.minItems} entry`, here);
        }
        const out: unknown[] = [];
        node.items.forEach((item, i) => {
          const itemNode = item as YamlNode | null;
          out.push(this.value(itemNode, type.item, itemNode ? this.spanOf(itemNode) : here, `${path}[${i}]`));
        });
        return out;
      }
      default:
        if (!isScalar(node)) {
          return this.report('E607', `\`${path}\` must be ${this.expected(type)}, got ${this.textOf(node)}`, here);
        }
        return this.scalar(node, type, here, path);
    }
  }

  /** A short phrase for what a type wants: "a size such as `32 KiB`". */
  expected(type: FieldType): string {
    switch (type.kind) {
      case 'string':
        return 'text';
      case 'enum':
        return `one of ${type.values.map((v) => `\`${v}\``).join(', ')}`;
      case 'bool':
        return '`true` or `false`';
      case 'count':
        return 'a whole number';
      case 'quantity': {
        const q = QUANTITIES[type.quantity];
        return `${q.what} such as \`${q.example}\``;
      }
      case 'map':
        return `a mapping of ${type.fields.map((f) => `\`${keyOf(f)}\``).join(', ')}`;
      case 'list':
        return 'a list';
    }
  }

  /** Checks a mapping against `fields`; `at` is where a missing field is reported. */
  map(node: YamlNode, fields: readonly FieldSpec<Record<string, unknown>>[], at: Span, path: string): Checked | undefined {
    if (!isMap(node)) {
      const expected = this.expected({ kind: 'map', fields });
      const what = path === '' ? `a ${this.kind.sheet}` : `\`${path}\``;
      return this.report('E607', `${what} must be ${expected}, got ${this.textOf(node)}`, this.spanOf(node));
    }
    const where = path === '' ? '' : ` in \`${path}\``;
    const out: Checked = {};
    const spans: Record<string, Span> = {};
    const seen = new Set<string>();
    const byKey = new Map(fields.map((f) => [keyOf(f), f]));
    // The backend decides which fields apply, so read it before the rest.
    if (path === '') {
      const b = node.items.find((p) => isScalar(p.key) && p.key.value === 'backend');
      if (b && isScalar(b.value) && BACKENDS.includes(b.value.value as Backend)) this.backend = b.value.value as Backend;
    }
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode | null;
      if (!keyNode || !isScalar(keyNode)) {
        this.report('E607', `keys must be plain names${where}`, keyNode ? this.spanOf(keyNode) : at);
        continue;
      }
      const key = String(keyNode.value);
      const keySpan = this.spanOf(keyNode);
      // The yaml package has already reported a repeated key (E602); check the first only.
      if (seen.has(key)) continue;
      seen.add(key);
      const spec = byKey.get(key);
      if (!spec) {
        const known = fields.map(keyOf);
        this.report(
          'E605',
          `unknown key \`${key}\`${where}`,
          keySpan,
          didYouMean(key, known) ?? `known keys${where}: ${known.map((k) => `\`${k}\``).join(', ')}`,
        );
        continue;
      }
      if (spec.onlyFor && this.backend && !spec.onlyFor.includes(this.backend)) {
        this.report(
          'E612',
          `\`${key}\` applies only to backend ${spec.onlyFor.map((b) => `\`${b}\``).join(', ')}, not \`${this.backend}\``,
          keySpan,
        );
        continue;
      }
      const childPath = path === '' ? key : `${path}.${key}`;
      const v = this.value(pair.value as YamlNode | null, spec.type, keySpan, childPath);
      if (v !== undefined) {
        out[spec.field] = v;
        spans[spec.field] = pair.value ? this.spanOf(pair.value as YamlNode) : keySpan;
      }
    }
    for (const spec of fields) {
      const key = keyOf(spec);
      if (seen.has(key)) continue;
      const applies = !spec.onlyFor || (this.backend !== undefined && spec.onlyFor.includes(this.backend));
      const needed =
        (spec.required && applies) || (this.backend !== undefined && (spec.requiredFor ?? []).includes(this.backend));
      if (needed) {
        const why = spec.requiredFor && !spec.required ? ` (backend \`${this.backend}\` needs it)` : '';
        this.report('E606', `missing required field \`${key}\`${where}${why}`, at, `\`${key}\`: ${spec.doc}`);
      } else if (spec.default !== undefined) {
        out[spec.field] = structuredClone(spec.default);
      }
    }
    this.spans.set(out, spans);
    return out;
  }

  scalar(node: Scalar, type: Exclude<FieldType, { kind: 'map' | 'list' }>, at: Span, path: string): unknown {
    const v = node.value;
    const got = this.textOf(node);
    switch (type.kind) {
      case 'string':
        if (typeof v !== 'string') return this.report('E607', `\`${path}\` must be text, got ${got}`, at, 'put it in quotes');
        if (type.pattern && !type.pattern.test(v)) {
          return this.report('E610', `\`${path}\` must be ${type.patternDoc}, got ${got}`, at);
        }
        return v;
      case 'enum':
        if (typeof v === 'string' && type.values.includes(v)) return v;
        return this.report(
          'E611',
          `\`${path}\` must be ${this.expected(type)}, got ${got}`,
          at,
          typeof v === 'string' ? (type.hints?.[v.toLowerCase()] ?? didYouMean(v, type.values)) : undefined,
        );
      case 'bool':
        if (typeof v === 'boolean') return v;
        return this.report('E607', `\`${path}\` must be \`true\` or \`false\`, got ${got}`, at);
      case 'count':
        if (typeof v !== 'number') {
          const hint = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? 'remove the quotes' : undefined;
          return this.report('E607', `\`${path}\` must be a whole number, got ${got}`, at, hint);
        }
        if (!Number.isSafeInteger(v)) return this.report('E610', `\`${path}\` must be a whole number, got ${got}`, at);
        if (v < type.min) return this.report('E610', `\`${path}\` must be at least ${type.min}, got ${got}`, at);
        if (v > type.max) return this.report('E610', `\`${path}\` must be at most ${type.max}, got ${got}`, at);
        return v;
      case 'quantity':
        return this.quantity(node, type.quantity, type.allowZero ?? false, at, path, type.max);
    }
  }

  /** `32 KiB` → 32768. Points at the number or the unit alone when the value is written plain. */
  quantity(node: Scalar, quantity: Quantity, allowZero: boolean, at: Span, path: string, max?: number): number | undefined {
    const q = QUANTITIES[quantity];
    const wanted = `${q.what} such as \`${q.example}\``;
    const expected = `expected ${wanted}`;
    const unitList = Object.keys(q.units).map((u) => `\`${u}\``).join(', ');
    const v = node.value;
    if (typeof v === 'number') {
      // YAML read `32` as a number: the unit is what is missing.
      const firstUnit = Object.keys(q.units).find((u) => q.units[u] === 1);
      const hint = `add a unit: \`${v} ${firstUnit}\`, or one of ${unitList}`;
      return this.report('E608', `${expected}, got \`${node.source ?? v}\``, at, hint);
    }
    if (typeof v !== 'string') return this.report('E607', `\`${path}\` must be ${wanted}, got ${this.textOf(node)}`, at);
    // Offsets into the value are offsets into the file only when the scalar is written unquoted
    // right here (not quoted, and not reached through an alias).
    const plain = node.type === 'PLAIN' && node.range?.[0] === at.start && at.end - at.start === v.length;
    const sub = (from: number, to: number): Span => (plain ? this.src.span(at.start + from, at.start + to) : at);
    const lead = v.length - v.trimStart().length;
    const text = v.trim();
    const num = NUMBER_PREFIX.exec(text)?.[0];
    const after = num === undefined ? '' : text.slice(num.length);
    if (num === undefined || (after !== '' && !/^\s|^[A-Za-z]/.test(after))) {
      const token = text.split(/\s+/)[0];
      return this.report(
        'E609',
        `cannot read \`${token}\` as a number in \`${path}\``,
        sub(lead, lead + token.length),
        `${expected}`,
      );
    }
    const unit = after.trim();
    const unitStart = lead + text.length - unit.length;
    if (unit === '') {
      return this.report('E608', `${expected}, got \`${text}\``, at, `add a unit: one of ${unitList}`);
    }
    const factor = q.units[unit];
    if (factor === undefined) {
      const other = (Object.keys(QUANTITIES) as Quantity[]).find((k) => k !== quantity && unit in QUANTITIES[k].units);
      const hint =
        q.refused?.[unit] ??
        (other ? `\`${unit}\` is a unit of ${QUANTITIES[other].what}, not ${q.what}; use one of ${unitList}` : undefined) ??
        didYouMean(unit, Object.keys(q.units)) ??
        `use one of ${unitList}`;
      return this.report('E608', `${expected}, got \`${text}\``, sub(unitStart, unitStart + unit.length), hint);
    }
    const n = Number(num);
    const value = n * factor;
    if (!Number.isFinite(value)) return this.report('E610', `\`${path}\` is too large: \`${text}\``, at);
    if (n < 0 || (n === 0 && !allowZero)) {
      const bound = allowZero ? 'must not be negative' : 'must be greater than zero';
      return this.report('E610', `\`${path}\` ${bound}, got \`${text}\``, at);
    }
    if (quantity === 'size' && !Number.isSafeInteger(value)) {
      const bytes = factor === 1 ? '' : ` (= ${value} B)`;
      return this.report('E610', `\`${path}\` must be a whole number of bytes, got \`${text}\`${bytes}`, at);
    }
    const { range } = q;
    if (value > Math.min(range.max, max ?? Infinity)) {
      const bound = max !== undefined && max < range.max ? formatBytes(max) : range.maxText;
      return this.report('E610', `\`${path}\` must be at most ${bound}, got \`${text}\``, at, 'check the unit and the number against the data sheet');
    }
    if (value < range.min && value !== 0) {
      return this.report('E610', `\`${path}\` must be at least ${range.minText}, got \`${text}\``, at, 'check the unit and the number against the data sheet');
    }
    return value;
  }
}

/** YAML-level problems (syntax, duplicate keys, unknown tags, several documents) as diagnostics. */
function yamlDiagnostics(doc: Document, src: SourceFile, kind: SheetKind): Diagnostic[] {
  const toDiagnostic = (e: YAMLError): Diagnostic => {
    const [start, end] = e.pos;
    const span = src.span(start, Math.max(end, start + 1));
    if (e.code === 'RESOURCE_EXHAUSTION') {
      // The yaml package's parser recurses per level and reports its stack overflow here.
      return { code: 'E601', message: 'the YAML is nested too deeply', span, hint: `a ${kind.sheet} nests a few levels at most` };
    }
    if (e.code === 'MULTIPLE_DOCS') {
      return { code: 'E601', message: `a ${kind.file} holds one YAML document, but this one has a second (\`---\`)`, span };
    }
    return { code: 'E601', message: `invalid YAML: ${e.message}`, span };
  };
  // Warnings (an unknown `!tag`, say) are errors here: a sheet should mean exactly what it says.
  const errors = [...doc.errors, ...doc.warnings];
  const tooDeep = errors.some((e) => e.code === 'RESOURCE_EXHAUSTION');
  return [...errors.map(toDiagnostic), ...(tooDeep ? [] : duplicateKeys(doc, src))];
}

/**
 * Keys given twice in a mapping (E602), found with one set per mapping: the yaml package's
 * own check (`uniqueKeys`) compares every key with every other, minutes for 200k keys.
 */
function duplicateKeys(doc: Document, src: SourceFile): Diagnostic[] {
  const out: Diagnostic[] = [];
  visit(doc, {
    Map(_, map) {
      const first = new Map<unknown, number>();
      for (const { key } of map.items) {
        if (!isScalar(key) || !key.range) continue;
        const at = first.get(key.value);
        if (at === undefined) {
          first.set(key.value, key.range[0]);
          continue;
        }
        out.push({
          code: 'E602',
          message: `key \`${String(key.value)}\` is given twice`,
          span: src.span(key.range[0], key.range[1]),
          hint: `first given on line ${src.position(at).line}; remove one`,
        });
      }
    },
  });
  return out;
}

/**
 * Refuses alias bombs before anything walks the tree: too many aliases, an alias to no anchor,
 * or aliases that expand past `MAX_ALIAS_COUNT` nodes (checked by the yaml package itself).
 */
function checkAliases(doc: Document, src: SourceFile, kind: SheetKind): void {
  const aliases: { source: string; range: [number, number] }[] = [];
  visit(doc, {
    Alias(_, a) {
      aliases.push({ source: a.source, range: [a.range?.[0] ?? 0, a.range?.[1] ?? 0] });
      // Stop counting early: resolving each alias scans the document.
      return aliases.length > MAX_ALIAS_COUNT ? visit.BREAK : undefined;
    },
  });
  if (aliases.length === 0) return;
  const bomb = (at: { range: [number, number] }): never => {
    throw new MoecError({
      code: 'E603',
      message: `too many YAML aliases: expanding them would exceed ${MAX_ALIAS_COUNT} (a "billion laughs" document?)`,
      span: src.span(at.range[0], at.range[1]),
      hint: `a ${kind.sheet} needs few aliases; write the values out`,
    }).addSource(src);
  };
  if (aliases.length > MAX_ALIAS_COUNT) bomb(aliases[0]);
  visit(doc, {
    Alias(_, a) {
      if (a.resolve(doc)) return undefined;
      const [start, end] = a.range ?? [0, 0];
      throw new MoecError({
        code: 'E601',
        message: `unknown alias \`*${a.source}\``,
        span: src.span(start, end),
        hint: 'define the anchor `&name` before using it',
      }).addSource(src);
    },
  });
  try {
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    // The yaml package says this with a ReferenceError; anything else is a bug, so rethrow.
    if (e instanceof ReferenceError && /alias count/i.test(e.message)) bomb(aliases[0]);
    throw e;
  }
}

/** Checks that hold between fields: the hierarchy grows outward, alignments agree, and so on. */
function checkConsistency(caps: TargetCaps, c: SheetChecker): void {
  const top = c.spans.get(caps as unknown as Checked) ?? {};
  const levelSpans = (i: number): Record<string, Span> => c.spans.get(caps.memory[i] as unknown as Checked) ?? {};
  const names = new Map<string, number>();
  caps.memory.forEach((level, i) => {
    const s = levelSpans(i);
    const last = i === caps.memory.length - 1;
    if (names.has(level.name)) {
      const first = `the first is \`memory[${names.get(level.name)}]\``;
      c.report('E612', `memory level \`${level.name}\` is listed twice`, s.name, first);
    }
    names.set(level.name, i);
    if (last && level.kind !== 'dram') {
      const message = `the outermost memory level, \`${level.name}\`, must be \`kind: dram\``;
      c.report('E612', message, s.kind, 'list main memory last');
    } else if (!last && level.kind === 'dram') {
      const message = `\`${level.name}\` is main memory (\`kind: dram\`) but is not the last level`;
      c.report('E612', message, s.kind, 'list levels innermost first');
    }
    const inner = caps.memory[i - 1];
    if (inner && level.bytes <= inner.bytes) {
      c.report(
        'E612',
        `memory level \`${level.name}\` (${formatBytes(level.bytes)}) must be larger than ` +
          `\`${inner.name}\` (${formatBytes(inner.bytes)}), the level inside it`,
        s.bytes,
        'list levels innermost first; each must be larger than the one before',
      );
    }
  });
  const powerOfTwo = (n: number): boolean => n > 0 && Number.isInteger(Math.log2(n));
  if (!powerOfTwo(caps.alignment)) {
    c.report('E610', `\`alignment\` must be a power of two, got ${formatBytes(caps.alignment)}`, top.alignment);
  }
  if (caps.vectorBytes !== 0 && !powerOfTwo(caps.vectorBytes)) {
    const message = `\`vectorWidth\` must be a power of two (or \`0 B\` for scalar), got ${formatBytes(caps.vectorBytes)}`;
    c.report('E610', message, top.vectorBytes);
  }
  const { minStorageBufferOffsetAlignment: minOffset, maxWorkgroupStorageBytes: maxShared } = caps.limits;
  // A WGSL arena binds sub-ranges of one buffer, and WebGPU's createBindGroup rejects a storage
  // binding whose offset is not a multiple of minStorageBufferOffsetAlignment.
  if (minOffset !== undefined && caps.alignment % minOffset !== 0) {
    c.report(
      'E612',
      `\`alignment\` (${formatBytes(caps.alignment)}) must be a multiple of ` +
        `\`minStorageBufferOffsetAlignment\` (${formatBytes(minOffset)})`,
      top.alignment,
      'arena buffers are bound at their offsets, which WebGPU requires to be aligned',
    );
  }
  if (maxShared !== undefined) {
    caps.memory.forEach((level, i) => {
      if (level.kind === 'scratchpad' && level.bytes > maxShared) {
        c.report(
          'E612',
          `scratchpad \`${level.name}\` (${formatBytes(level.bytes)}) is larger than ` +
            `\`maxComputeWorkgroupStorageSize\` (${formatBytes(maxShared)})`,
          levelSpans(i).bytes,
        );
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points

/**
 * Reads YAML text against a schema: size cap, YAML errors, alias bombs, then every field
 * (`fields`), then `consistency` (cross-field checks, run only when every field has its type,
 * since otherwise they cascade). Throws a `MoecError` (with the source attached, so `format()`
 * shows lines and carets) listing every problem found; returns the typed value.
 */
export function parseSheet<T>(
  text: string,
  path: string,
  kind: SheetKind,
  fields: readonly FieldSpec<T>[],
  consistency?: (value: T, checker: SheetChecker) => void,
): T {
  const src = new SourceFile(path, text);
  if (text.length > MAX_TARGET_CHARS) {
    throw new MoecError({
      code: 'E601',
      message: `the ${kind.file} is ${text.length} characters long; a sheet holds at most ${MAX_TARGET_CHARS}`,
      span: src.span(MAX_TARGET_CHARS, MAX_TARGET_CHARS + 1),
      hint: `a ${kind.sheet} ${kind.scope}`,
    }).addSource(src);
  }
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: false });
  const yamlErrors = yamlDiagnostics(doc, src, kind);
  if (yamlErrors.length > 0) throw new MoecError(yamlErrors.slice(0, MAX_DIAGNOSTICS)).addSource(src);
  if (doc.contents === null) {
    throw new MoecError({ code: 'E601', message: `the ${kind.file} is empty`, span: src.span(0, 0) }).addSource(src);
  }
  checkAliases(doc, src, kind);

  const checker = new SheetChecker(doc, src, kind);
  const root = doc.contents as YamlNode;
  const value = checker.map(root, mapOf(fields).fields, checker.spanOf(root), '');
  if (value && checker.diagnostics.length === 0) consistency?.(value as unknown as T, checker);
  if (checker.diagnostics.length > 0) throw new MoecError(checker.diagnostics.slice(0, MAX_DIAGNOSTICS)).addSource(src);
  // The schema table is typed against T field by field, and every required field was present.
  return value as unknown as T;
}

/**
 * Parses and validates the text of a target sheet. `path` is used in diagnostics only.
 * Throws a `MoecError` listing every problem found.
 */
export function parseTarget(text: string, path: string): TargetCaps {
  return parseSheet(text, path, TARGET_KIND, TARGET, checkConsistency);
}
