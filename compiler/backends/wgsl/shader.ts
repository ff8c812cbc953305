/**
 * @fileoverview What every moec WGSL kernel shares: its bindings, its parameter record and
 * the accessor functions of its operands.
 *
 * Why a small WGSL builder (TypeScript functions returning text) rather than Handlebars
 * templates: every kernel is assembled from conditional pieces that depend on the kernel's
 * data (an epilogue chain, a gather or not, a weight or an arena operand, glu pairs) and
 * most lines carry numbers computed here (tile sizes, strides, parameter slots); as
 * templates those become helpers and precomputed view models that say the same thing less
 * directly. Each kernel kind is one function in its own file, and this file is the only
 * place that knows the binding layout.
 *
 * The binding layout (one for every pipeline, so one bind group serves all dispatches):
 * - binding 0: the first arena buffer the kernel's operands live in, `array<u32>`,
 *   read_write; bindings ARENA_BINDING + 1, + 2, ...: the others (`arenaParts`: a split
 *   memory plan's parts, and the buffer of the model inputs and this backend's scratch:
 *   combine rows, the raw choices of a capacity-limited router). One u32 array per buffer
 *   because WebGPU forbids two writable bindings of one buffer in a dispatch; floats and
 *   ints are bitcast on access.
 * - binding 1: the dispatch's parameter record, a uniform with a dynamic offset: slot 0 is
 *   the token count T, then one element offset per operand (a loop iteration moves a slice's
 *   offset, so offsets are parameters, not constants), then kernel-specific sizes at T.
 * - bindings 2, 3, ...: each weight operand, `array<f32>`, read-only, bound at its tensor
 *   (rounded down to the 256-byte offset alignment; the rest is its offset parameter). A
 *   quantized weight is `array<u32>` codes (offset parameter in codes) followed by its f32
 *   scales as one more weight operand (`quant.ts`). Per
 *   tensor, not one binding for all weights: a model's weights pass WebGPU's 128 MiB binding
 *   and 256 MiB buffer limits long before one tensor does.
 * At most 5 storage buffers per stage (the router: arena, w, bias, select bias, shared
 * gate), 7 with quantized w and gate (their scales), inside WebGPU's default 8 with one
 * arena buffer; a split arena adds its parts (the plan checks the target's limit).
 */

import type { Dim } from '../../../ir/dims.ts';
import type { Kernel } from '../../../ir/kernel/kernel.ts';
import { fail } from '../../../ir/diagnostics.ts';
import { type OperandQuant, decoders, quantAccessor } from './quant.ts';

/** Bytes between parameter records (WebGPU's minUniformBufferOffsetAlignment default). */
/**
 * Invocations per workgroup of a kernel's row-, slot- or token-wise shaders: the tiler's
 * choice, recorded in the kernel IR (`threads(workgroup=W)`), never made here.
 */
export function workgroupOf(k: Kernel): number {
  const w = k.threads?.workgroup;
  if (w === undefined) fail('E701', `the ${k.kind === 'op' ? `op ${k.op}` : k.kind} kernel has no workgroup size`, undefined, 'tile the program for a WGSL target: the tiler records threads(workgroup=W)');
  return w;
}

export const PARAM_STRIDE = 256;
/** u32 slots in one parameter record. */
export const PARAM_SLOTS = PARAM_STRIDE / 4;

export type Space = 'arena' | 'weights';

/** The binding of a kernel's first weight operand (the next ones follow in operand order). */
export const WEIGHT_BINDING = 2;

/** Bindings of a kernel's second, third, ... arena buffer: ARENA_BINDING + 1, + 2, ... (after any weights). */
export const ARENA_BINDING = 16;

/** The arena buffers a kernel binds, in binding order: its operands' parts, first use first. */
export function arenaParts(ops: readonly Operand[]): number[] {
  const parts: number[] = [];
  for (const o of ops) if (o.space === 'arena' && !parts.includes(o.part ?? 0)) parts.push(o.part ?? 0);
  return parts.length > 0 ? parts : [0];
}

/** The binding of the j-th arena buffer of a kernel (`arenaParts`). */
export function arenaBinding(j: number): number {
  return j === 0 ? 0 : ARENA_BINDING + j;
}

/** The WGSL variable of the j-th arena buffer of a kernel. */
const arenaVar = (j: number): string => (j === 0 ? 'arena' : `arena${j}`);

/** An operand of a kernel: the role name its accessors use, where it lives, its element type. */
export interface Operand {
  role: string;
  buffer: string;
  space: Space;
  int: boolean;
  /** Written by the kernel (only arena operands can be). */
  write?: boolean;
  /** The arena buffer an arena operand lives in (the plan's part, or the inputs-and-scratch buffer). */
  part?: number;
  /** A quantized weight: u32 codes, dequantized with its scales operand (`quant.ts`). */
  quant?: OperandQuant;
  /** A scratch operand: its byte offset in this backend's scratch region (affine in T; absent: 0). */
  scratchAt?: Dim;
}

/** A compute entry point of a kernel, with what the manifest says about it. */
export interface ShaderEntry {
  entry: string;
  code: string;
  workgroup: [number, number, number];
  /** Bytes of `var<workgroup>` storage it declares. */
  workgroupBytes: number;
}

export const PRELUDE = `@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<uniform> prm: array<vec4<u32>, ${PARAM_SLOTS / 4}>;
fn P(i: u32) -> u32 { return prm[i / 4u][i % 4u]; }
fn tokens() -> u32 { return P(0u); }
`;

/**
 * Accessor functions `ld_ROLE(i)` (and `st_ROLE(i, v)` for written operands), element `i`
 * from the operand's offset (parameter slot 1 + its index); then `extra` parameter getters
 * named by the following slots. Returns the WGSL text.
 */
export function accessors(ops: readonly Operand[], extra: readonly string[] = []): string {
  const lines: string[] = [];
  const parts = arenaParts(ops);
  parts.forEach((_, j) => j > 0 && lines.push(`@group(0) @binding(${arenaBinding(j)}) var<storage, read_write> ${arenaVar(j)}: array<u32>;`));
  let binding = WEIGHT_BINDING;
  ops.forEach((o, i) => {
    const slot = `P(${i + 1}u)`;
    const ty = o.int ? 'i32' : 'f32';
    if (o.quant) lines.push(...quantAccessor(o.role, o.quant, binding++, slot));
    else if (o.space === 'weights') {
      if (o.int) throw new Error(`wgsl: integer weight ${o.buffer} (weights are f32)`);
      lines.push(`@group(0) @binding(${binding++}) var<storage, read> w_${o.role}: array<f32>;`);
      lines.push(`fn ld_${o.role}(i: u32) -> f32 { return w_${o.role}[${slot} + i]; }`);
    } else {
      const arena = arenaVar(parts.indexOf(o.part ?? 0));
      lines.push(`fn ld_${o.role}(i: u32) -> ${ty} { return bitcast<${ty}>(${arena}[${slot} + i]); }`);
      if (o.write) lines.push(`fn st_${o.role}(i: u32, v: ${ty}) { ${arena}[${slot} + i] = bitcast<u32>(v); }`);
    }
  });
  extra.forEach((name, j) => lines.push(`fn ${name}() -> u32 { return P(${ops.length + 1 + j}u); }`));
  return decoders(ops.flatMap((o) => (o.quant ? [o.quant] : []))) + lines.join('\n') + '\n';
}

/** A WGSL float literal that reads back as exactly `x` in f32 (no `inf`/`nan` literals exist). */
export function f32Lit(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`wgsl: ${x} has no WGSL literal`);
  const s = String(Math.fround(x));
  return /[.eE]/.test(s) ? s.replace(/e\+?/, 'e') : `${s}.0`;
}

/** WGSL activation functions (erf has no builtin: Abramowitz-Stegun 7.1.26, |error| < 1.5e-7). */
export const ACTIVATIONS = `fn act_relu(x: f32) -> f32 { return max(x, 0.0); }
fn act_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn act_silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn erf_(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, x >= 0.0);
}
fn act_gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_(x * 0.70710678118654752)); }
fn act_gelu_tanh(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x))); }
`;
