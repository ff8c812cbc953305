/**
 * @fileoverview Loading a model's weights from a checkpoint (one safetensors file or the
 * shards of an index, see ir/checkpoint.ts), converting what the checkpoint stores into what
 * the model declares.
 *
 * Names: a weight is taken by its moec name (`moe.w_gate`) when the checkpoint has it, else
 * assembled from the checkpoint tensors its `from` pattern names, one per index of its
 * leading axes (`model.layers.{i}.mlp.experts.{e}.gate_proj.weight`), stacked.
 *
 * What each checkpoint tensor may be (per slice, `[.., N, K]`, reduction along the last axis
 * as in Hugging Face's `nn.Linear` layout):
 * - F32, F64, F16, BF16: floats (f16/bf16 widened exactly).
 * - F8_E4M3 with `<name>_scale_inv` F32 [.., ceil(N/128), ceil(K/128)]: DeepSeek-V3 fp8, one
 *   scale per 128×128 block, expanded to per-row groups of 128 (`blockScalesToGroups`).
 * - I8 with `<name>_scale` F32 [.., N, G]: i8 codes, G scales per row (G = 1: per channel).
 * - U8 [.., N, K/2] with `<name>_scale` F32 [.., N, G]: packed i4 codes (two per byte, even
 *   index in the low nibble), group K/G.
 *
 * Into what the model declares: a float weight takes floats as they are and dequantizes
 * quantized codes (with a note: the model computes in f32 but the checkpoint was quantized);
 * a quantized weight takes codes and scales as they are when the scheme matches, quantizes
 * floats (ir/quant.ts `quantize`), and requantizes a different scheme (with a note). Every
 * mismatch (a missing tensor or scale, a shape or dtype that does not fit) is E503 or E504
 * naming the tensor, what was expected and what was found: never a silent zero.
 */
import { evalShape } from '../../ir/dims.ts';
import { type WeightDecl, type Module, checkpointName, mainFunc } from '../../ir/graph/graph.ts';
import { MAX_INTERP_ELEMENTS } from '../../ir/graph/interp.ts';
import { fmtBytes as formatBytes } from '../format.ts';
import {
  FP8_BLOCK,
  type QuantData,
  type QuantDType,
  blockScalesToGroups,
  dequantize,
  effectiveGroup,
  isQuantDType,
  quantize,
} from '../../ir/quant.ts';
import type { SafetensorsFile } from '../../ir/safetensors.ts';
import { type Tensor, isIntDType, numel } from '../../ir/tensor.ts';
import type { TensorType } from '../../ir/types.ts';
import { resolveQuant } from '../../ir/quant-type.ts';
import { fail, nearestNames } from '../../ir/diagnostics.ts';
import type { Span } from '../../ir/source.ts';

/** Checkpoint float dtypes a float weight takes directly. */
export const FLOAT_ST = new Set(['F32', 'F64', 'F16', 'BF16']);

/** Suffix of DeepSeek-V3's fp8 block scales, and of moec's i8/i4 group scales. */
export const FP8_SCALE_SUFFIX = '_scale_inv';
export const QUANT_SCALE_SUFFIX = '_scale';

export interface LoadOptions {
  /** Float weights in Float64Array (the interpreter's float64 mode). */
  f64?: boolean;
  /** Told once per weight about a lossy or notable conversion (fp8 dequantized, requantized). */
  note?: (message: string) => void;
  /** Called before each checkpoint tensor is read (for a progress line): stored bytes read so far and in all, and its name. */
  onProgress?: (doneBytes: number, totalBytes: number, name: string) => void;
}

/**
 * Concrete shape of a declared type under the run-time bindings, refused (E307) before
 * anything is allocated when it holds more elements than the reference interpreter would
 * accept: `--set F=2147483647` must be an error, not a 256 GiB allocation.
 */
export function concreteShape(shape: Parameters<typeof evalShape>[0], bindings: Record<string, number>, what: { name: string; span?: Span }, hint = SMALLER): number[] {
  const dims = evalShape(shape, bindings);
  const n = numel(dims);
  if (n > MAX_INTERP_ELEMENTS)
    fail('E307', `\`${what.name}\` is [${dims.join(', ')}], ${n} elements, too large to run (at most ${MAX_INTERP_ELEMENTS} per tensor)`, what.span, hint);
  return dims;
}

const SMALLER = 'bind smaller sizes (e.g. --set D=64)';

/** The E307 hint for weights a run would hold whole from a checkpoint: a backend streams them instead. */
const STREAM_HINT = `${SMALLER}, or run it on a backend (--backend c, without --check), which streams the checkpoint into its weights instead of holding it`;

/**
 * What a run holds of its weights (`checkRunBytes`): `seeded` or `checkpoint` weights held
 * whole (the interpreter's), or `streamed` ones (a backend's, read as its blob is laid out:
 * not counted).
 */
export type HeldWeights = 'seeded' | 'checkpoint' | 'streamed';

/**
 * The most bytes of weights and inputs one run holds. Each tensor is capped by
 * `concreteShape`, but ten f32[16384, 16384] weights are 10 GiB between them: that
 * allocated 6.3 GB and then died. The interpreter's intermediates come on top.
 */
export const MAX_RUN_BYTES = 4 * 2 ** 30;

/**
 * Refuses (E307), before anything is allocated, a run whose weights, and inputs when
 * `bindings` are given, pass `MAX_RUN_BYTES` in memory (4 bytes an element, 8 with `f64`:
 * seeded and loaded tensors are held as floats).
 */
export function checkRunBytes(m: Module, bindings?: Record<string, number>, f64 = false, held: HeldWeights = 'seeded'): void {
  const per = f64 ? 8 : 4;
  let weights = 0;
  let largest: { w: WeightDecl; shape: number[]; bytes: number } | undefined;
  const hint = held === 'checkpoint' ? STREAM_HINT : SMALLER;
  for (const w of held === 'streamed' ? [] : m.weights) {
    const shape = concreteShape(w.type.shape, {}, w, hint);
    const bytes = numel(shape) * per;
    weights += bytes;
    if (!largest || bytes > largest.bytes) largest = { w, shape, bytes };
  }
  let inputs = 0;
  if (bindings) for (const p of mainFunc(m).params) inputs += numel(concreteShape(p.type.shape, bindings, p)) * per;
  if (weights + inputs <= MAX_RUN_BYTES) return;
  const parts = bindings ? ` (weights ${formatBytes(weights)}, inputs ${formatBytes(inputs)})` : '';
  const biggest = largest ? `; the largest weight is \`${largest.w.name}\` [${largest.shape.join(', ')}], ${formatBytes(largest.bytes)}` : '';
  fail(
    'E307',
    `this run needs ${formatBytes(weights + inputs)} of weights${bindings ? ' and inputs' : ''}${parts}, more than the ${formatBytes(MAX_RUN_BYTES)} a run may hold${biggest}`,
    largest?.w.span,
    hint,
  );
}

/** What a weight is declared as: its dtype and, when quantized, the scheme and reduction axis. */
export interface WeightFormat {
  dtype: TensorType['dtype'];
  quant?: { dtype: QuantDType; group: number; axis: number };
}

/** The declared format of a weight: its dtype and, when quantized, its scheme and concrete axis (ir/quant-type.ts). */
export function weightFormat(w: WeightDecl, shape: readonly number[]): WeightFormat {
  const dtype = w.type.dtype;
  if (!isQuantDType(dtype) || !w.type.quant) return { dtype };
  return { dtype, quant: { dtype, group: w.type.quant.group, axis: resolveQuant(w.type.quant, shape).axis } };
}

/** Takes the model's weights from a checkpoint (see the file comment). */
export function weightsFromSafetensors(m: Module, file: SafetensorsFile, path: string, f64OrOpts: boolean | LoadOptions = false): Record<string, Tensor> {
  const opts: LoadOptions = typeof f64OrOpts === 'boolean' ? { f64: f64OrOpts } : f64OrOpts;
  checkRunBytes(m, undefined, opts.f64, 'checkpoint');
  const out: Record<string, Tensor> = {};
  // Every weight's checkpoint tensors first (headers only), so that a missing one fails
  // before any data is read and the progress line knows the bytes to come.
  const plans = m.weights.map((w) => ({ w, ...checkpointSlices(w, file, path) }));
  const bytesOf = (name: string): number => file.storedBytes(name);
  const total = plans.reduce((a, p) => a + p.names.reduce((b, n) => b + bytesOf(n), 0), 0);
  let done = 0;
  const progress = opts.onProgress ? (name: string): void => {
    opts.onProgress!(done, total, name);
    done += bytesOf(name);
  } : undefined;
  for (const p of plans) out[p.w.name] = loadWeight(p.w, p, file, path, opts, progress);
  return out;
}

/** The hint for a tensor the checkpoint lacks: the checkpoint's names nearest to it, then `advice`. */
export function missingTensorHint(file: SafetensorsFile, name: string, advice: string): string {
  const near = nearestNames(name, file.names());
  return `${near.length === 0 ? 'the checkpoint holds no tensors' : `nearest in the checkpoint: ${near.map((n) => `\`${n}\``).join(', ')}`}; ${advice}`;
}

/** One checkpoint tensor as read: floats, or quantized codes with per-row group scales. */
export type Slice = { kind: 'float'; values: ArrayLike<number> } | { kind: 'quant'; q: QuantData };

/** A weight's concrete shape, the shape of each checkpoint tensor it is read from, and their names in order. */
export interface WeightPlan {
  shape: number[];
  inner: number[];
  names: string[];
}

/**
 * The checkpoint tensors a weight is read from, in order: the whole weight under its own
 * name, or one slice per index of the `from` axes (E503 for one the checkpoint lacks, or for
 * a weight it lacks that has no `from`).
 */
export function checkpointSlices(w: WeightDecl, file: SafetensorsFile, path: string, bounded = true): WeightPlan {
  if (!file.has(w.name) && !w.source) {
    fail('E503', `${path} has no tensor \`${w.name}\``, w.span, missingTensorHint(file, w.name, 'name tensors after the weights (`moec check` lists them), or give the weight a `from "..."` checkpoint name'));
  }
  // Streamed (`bounded` false), a weight is never held whole: the checkpoint's own tensors bound it.
  const shape = bounded ? concreteShape(w.type.shape, {}, w) : evalShape(w.type.shape, {});
  const direct = file.has(w.name);
  const leadDims = direct ? 0 : w.source!.axes.length;
  const names: string[] = [];
  // One at a time: the first the checkpoint lacks stops `--set E=2000000000` before it names them all.
  for (const name of direct ? [w.name] : sliceNames(w, shape)) {
    if (!file.has(name)) fail('E503', `${path} has neither \`${w.name}\` nor the checkpoint tensor \`${name}\``, w.span, missingTensorHint(file, name, 'check the `from` pattern against the checkpoint\'s tensor names'));
    names.push(name);
  }
  return { shape, inner: shape.slice(leadDims), names };
}

/** The checkpoint names of a weight's `from` slices (of concrete `shape`), one per index of its pattern's axes, row-major. */
export function* sliceNames(w: WeightDecl, shape: readonly number[]): Generator<string> {
  const lead = shape.slice(0, w.source!.axes.length);
  const index = lead.map(() => 0);
  for (let s = 0; s < numel(lead); s++) {
    let r = s;
    for (let j = lead.length - 1; j >= 0; j--) {
      index[j] = r % lead[j];
      r = Math.floor(r / lead[j]);
    }
    yield checkpointName(w.source!, index);
  }
}

export function loadWeight(w: WeightDecl, { shape, inner, names }: WeightPlan, file: SafetensorsFile, path: string, opts: LoadOptions, progress?: (name: string) => void): Tensor {
  const format = weightFormat(w, shape);
  const slices = names.map((name) => {
    progress?.(name);
    return readSlice(w, format, file, name, inner, path, opts.f64 ?? false);
  });
  return assemble(w, format, shape, slices, names, opts);
}

/** The E504 for checkpoint tensor `name` read into `w` (one slice of `inner`), and the check of its shape. */
export function sliceChecks(w: WeightDecl, format: WeightFormat, name: string, inner: readonly number[]): { mismatch: (what: string, hint: string) => never; checkShape: (got: readonly number[], what: string) => void } {
  const mismatch = (what: string, hint: string): never =>
    fail('E504', `checkpoint tensor \`${name}\` is ${what}, but \`${w.name}\` is ${format.dtype}[${inner.join(', ')}]${inner.length < w.type.shape.length ? ' per slice' : ''}`, w.span, hint);
  const checkShape = (got: readonly number[], what: string): void => {
    if (got.length !== inner.length || got.some((d, i) => d !== inner[i])) mismatch(what, 'the checkpoint was saved for other sizes: check the model\'s constants (--set) against its config');
  };
  return { mismatch, checkShape };
}

/** Reads one checkpoint tensor (and its scales), checking its dtype and shape against `inner`. */
function readSlice(w: WeightDecl, format: WeightFormat, file: SafetensorsFile, name: string, inner: number[], path: string, f64: boolean): Slice {
  const st = file.info(name).dtype;
  const { mismatch, checkShape } = sliceChecks(w, format, name, inner);
  if (isIntDType(format.dtype) && !format.quant) {
    if (FLOAT_ST.has(st) || st === 'F8_E4M3') mismatch(st, 'an integer weight needs an integer tensor');
    checkShape(file.info(name).shape, `${st} [${file.info(name).shape.join(', ')}]`);
    return { kind: 'float', values: file.get(name).data };
  }
  const stored = readStored(file, name, path, w, f64, checkShape);
  if (!stored) {
    return mismatch(st, `\`${w.name}\` takes F32, F16, BF16, F64, F8_E4M3 (with ${FP8_SCALE_SUFFIX}) or I8/packed-i4 U8 (with ${QUANT_SCALE_SUFFIX})`);
  }
  return stored.slice;
}

/** A checkpoint tensor decoded: floats, or codes with per-row group scales; its scales' names. */
export interface StoredTensor {
  /** Element shape (i4: codes, twice the stored last axis). */
  shape: number[];
  slice: Slice;
  /** The scales tensors read with it. */
  scaleNames: string[];
}

/**
 * Reads a checkpoint tensor as stored (see the file comment for the forms): undefined if it
 * is not a float or quantized form. `check(shape, what)` sees its element shape before any
 * data is read; scales are checked against that shape (E503 missing, E504 wrong), naming
 * `who` (the weight, or the tensor itself) in messages.
 */
export function readStored(
  file: SafetensorsFile,
  name: string,
  path: string,
  who: { name: string; span?: Span },
  f64: boolean,
  check: (shape: number[], what: string) => void = () => {},
): StoredTensor | undefined {
  const { dtype: st, shape: stShape } = file.info(name);
  const what = `${st} [${stShape.join(', ')}]`;
  if (FLOAT_ST.has(st)) {
    check(stShape, what);
    return { shape: stShape, slice: { kind: 'float', values: file.get(name, { f64 }).data }, scaleNames: [] };
  }
  const k = stShape[stShape.length - 1];
  if (st === 'F8_E4M3' && stShape.length >= 2) {
    check(stShape, what);
    const scaleName = name + FP8_SCALE_SUFFIX;
    const blocks = fp8BlockScales(file, name, stShape, who, path);
    const codes = file.get(name).data as Int32Array;
    const q: QuantData = { dtype: 'fp8e4m3', shape: stShape, axis: stShape.length - 1, group: FP8_BLOCK, codes, scales: blockScalesToGroups(blocks, stShape) };
    return { shape: stShape, slice: { kind: 'quant', q }, scaleNames: [scaleName] };
  }
  const form = intCodesForm(file, name, path, who, check);
  if (!form) return undefined;
  const scales = file.get(form.scaleName).data as Float32Array;
  const codes = file.get(name, { packedI4: form.dtype === 'i4' }).data as Int32Array;
  const q: QuantData = { dtype: form.dtype, shape: form.shape, axis: form.shape.length - 1, group: form.group, codes, scales };
  return { shape: form.shape, slice: { kind: 'quant', q }, scaleNames: [form.scaleName] };
}

/**
 * An I8 or packed-i4 U8 checkpoint tensor with its `_scale` beside it, from headers alone:
 * its codes' element shape, group and scales' name (E503 without scales, E504 for scales of
 * another shape; `check` sees the element shape first); undefined for any other dtype.
 */
export function intCodesForm(
  file: SafetensorsFile,
  name: string,
  path: string,
  who: { name: string; span?: Span },
  check: (shape: number[], what: string) => void = () => {},
): { dtype: 'i8' | 'i4'; shape: number[]; group: number; scaleName: string } | undefined {
  const { dtype: st, shape: stShape } = file.info(name);
  if (st !== 'I8' && st !== 'U8') return undefined;
  const scaleName = name + QUANT_SCALE_SUFFIX;
  if (stShape.length < 1 || !file.has(scaleName)) {
    return fail('E503', `${path} has no scales \`${scaleName}\` for the ${st} checkpoint tensor \`${name}\``, who.span,
      `quantized weights need their scales beside them (${scaleName}: F32 [.., N, G]); moec quantize writes both`);
  }
  const i4 = st === 'U8';
  const k = stShape[stShape.length - 1];
  const shape = i4 ? [...stShape.slice(0, -1), k * 2] : stShape;
  check(shape, i4 ? `packed i4 (U8 [${stShape.join(', ')}], ${shape[shape.length - 1]} codes per row)` : `${st} [${stShape.join(', ')}]`);
  const kk = shape[shape.length - 1];
  const sInfo = file.info(scaleName);
  const g = sInfo.shape[sInfo.shape.length - 1];
  const groups = g !== undefined && g > 0 && kk % g === 0 ? g : -1;
  checkScales(file, scaleName, [...shape.slice(0, -1), groups], who, path, `${i4 ? 'i4' : 'i8'} scales are F32 [.., N, G] with G dividing K (G = 1: one scale per output channel)`);
  return { dtype: i4 ? 'i4' : 'i8', shape, group: kk / groups, scaleName };
}

/** The fp8 block scales of checkpoint tensor `name` (F8_E4M3 `shape`), checked against it: F32 [.., ceil(N/128), ceil(K/128)]. */
export function fp8BlockScales(file: SafetensorsFile, name: string, shape: readonly number[], who: { name: string; span?: Span }, path: string): Float32Array {
  checkFp8Scales(file, name, shape, who, path);
  return file.get(name + FP8_SCALE_SUFFIX).data as Float32Array;
}

/** `fp8BlockScales`' checks, on headers only (E503 missing, E504 of another dtype or shape). */
export function checkFp8Scales(file: SafetensorsFile, name: string, shape: readonly number[], who: { name: string; span?: Span }, path: string): void {
  const k = shape[shape.length - 1];
  checkScales(file, name + FP8_SCALE_SUFFIX, [...shape.slice(0, -2), Math.ceil(shape[shape.length - 2] / FP8_BLOCK), Math.ceil(k / FP8_BLOCK)], who, path, FP8_SCALE_HINT);
}

const FP8_SCALE_HINT = 'fp8 (F8_E4M3) weights carry one F32 scale per 128×128 block, as DeepSeek-V3 checkpoints do';

/** Checks an F32 scales tensor against `want` (a -1 entry never matches) on its header. */
function checkScales(file: SafetensorsFile, name: string, want: number[], who: { name: string; span?: Span }, path: string, hint: string): void {
  if (!file.has(name)) fail('E503', `${path} has no scales \`${name}\` (needed by \`${who.name}\`)`, who.span, hint);
  const { dtype, shape } = file.info(name);
  if (dtype !== 'F32' || shape.length !== want.length || shape.some((d, i) => d !== want[i])) {
    fail('E504', `scales \`${name}\` are ${dtype} [${shape.join(', ')}], but \`${who.name}\` needs F32 [${want.map((d) => (d < 0 ? 'G' : d)).join(', ')}]`, who.span, hint);
  }
}

/** Stacks the slices into the declared weight, converting to its dtype. */
function assemble(w: WeightDecl, format: WeightFormat, shape: number[], slices: Slice[], names: string[], opts: LoadOptions): Tensor {
  const n = numel(shape);
  const per = slices.length > 0 ? n / slices.length : 0;
  const target = format.quant;
  const want = target ? { dtype: target.dtype, group: effectiveGroup(target, shape[target.axis]) } : undefined;
  // Checkpoints scale along their last axis; a weight reduced along another is requantized.
  const same = (q: QuantData): boolean => want !== undefined && q.dtype === want.dtype && q.group === want.group && target!.axis === shape.length - 1;
  // Every slice already in the declared scheme: stack codes and scales as they are.
  if (target && slices.length > 0 && slices.every((s) => s.kind === 'quant' && same(s.q))) {
    const codes = new Int32Array(n);
    const perScales = (slices[0] as { q: QuantData }).q.scales.length;
    const scales = new Float32Array(perScales * slices.length);
    slices.forEach((s, i) => {
      const q = (s as { q: QuantData }).q;
      codes.set(q.codes, i * per);
      scales.set(q.scales, i * perScales);
    });
    return { dtype: target.dtype, shape, data: codes, quant: { axis: target.axis, group: want!.group, scales } };
  }
  // Otherwise: f32 (or f64) values, then quantized if the weight is.
  const values = opts.f64 && !target ? new Float64Array(n) : new Float32Array(n);
  const quantized = new Set<string>();
  slices.forEach((s, i) => {
    if (s.kind === 'float') values.set(s.values, i * per);
    else {
      values.set(dequantize(s.q), i * per);
      quantized.add(describeScheme(s.q.dtype, s.q.group, s.q.shape[s.q.axis]));
    }
  });
  if (quantized.size > 0) opts.note?.(conversionNote(w, format, shape, quantized, names));
  if (!target) return { dtype: format.dtype, shape, data: values };
  const q = quantize(values, shape, target.axis, target);
  return { dtype: target.dtype, shape, data: q.codes, quant: { axis: q.axis, group: q.group, scales: q.scales } };
}

/** The note for a weight whose checkpoint tensors (`names`) hold quantized `schemes`: dequantized, or requantized to its own. */
export function conversionNote(w: WeightDecl, format: WeightFormat, shape: readonly number[], schemes: Set<string>, names: readonly string[]): string {
  const from = [...schemes].join(', ');
  const target = format.quant;
  const which = `${names[0]}${names.length > 1 ? ', ...' : ''}`;
  return target
    ? `\`${w.name}\`: the checkpoint holds ${from} (${which}); requantized to ${describeScheme(target.dtype, effectiveGroup(target, shape[target.axis]), shape[target.axis])}, which adds error`
    : `\`${w.name}\`: the checkpoint holds ${from} (${which}); dequantized to ${format.dtype} (exact values, more memory than the quantized weights)`;
}

/** How a scheme reads in notes. */
export function describeScheme(dtype: QuantDType, group: number, reduction: number): string {
  if (dtype === 'fp8e4m3') return 'fp8e4m3 (128×128 block scales)';
  return group === reduction ? `${dtype} (per-channel scales)` : `${dtype} (groups of ${group})`;
}
