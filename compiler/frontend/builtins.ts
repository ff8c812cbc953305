/**
 * @fileoverview The built-in calls of the `.moe` language and how each maps onto an IR op:
 * which arguments are tensors (operands) and which are compile-time attributes, in
 * positional order. Kept as data so the lowering has one generic path for all of them and
 * so error messages can list a call's parameters.
 */
import type { AttrKind } from '../../ir/graph/ops.ts';

export interface BuiltinParam {
  name: string;
  /** `tensor` is an operand; anything else is an attribute of that kind. */
  kind: 'tensor' | AttrKind;
  optional?: boolean;
}

export interface Builtin {
  /** The IR op it becomes. */
  op: string;
  params: BuiltinParam[];
  /** Attributes fixed by the builtin (`linear` is `matmul` with `transpose_b`). */
  fixed?: Record<string, boolean | string | number>;
  /** Takes any number of leading tensors (concat). */
  variadic?: boolean;
}

const x: BuiltinParam = { name: 'x', kind: 'tensor' };
const axis: BuiltinParam = { name: 'axis', kind: 'int', optional: true };

function unary(op: string): Builtin {
  return { op, params: [x] };
}

export const BUILTINS: Record<string, Builtin> = {
  neg: unary('neg'),
  exp: unary('exp'),
  log: unary('log'),
  sqrt: unary('sqrt'),
  rsqrt: unary('rsqrt'),
  abs: unary('abs'),
  sigmoid: unary('sigmoid'),
  silu: unary('silu'),
  relu: unary('relu'),
  tanh: unary('tanh'),
  gelu: { op: 'gelu', params: [x, { name: 'approximate', kind: 'string', optional: true }] },
  clamp: { op: 'clamp', params: [x, { name: 'min', kind: 'float', optional: true }, { name: 'max', kind: 'float', optional: true }] },
  maximum: { op: 'maximum', params: [{ name: 'a', kind: 'tensor' }, { name: 'b', kind: 'tensor' }] },
  minimum: { op: 'minimum', params: [{ name: 'a', kind: 'tensor' }, { name: 'b', kind: 'tensor' }] },
  linear: {
    op: 'matmul',
    params: [x, { name: 'w', kind: 'tensor' }, { name: 'bias', kind: 'tensor', optional: true }],
    fixed: { transpose_b: true },
  },
  matmul: { op: 'matmul', params: [{ name: 'a', kind: 'tensor' }, { name: 'b', kind: 'tensor' }, { name: 'bias', kind: 'tensor', optional: true }] },
  softmax: { op: 'softmax', params: [x, axis] },
  rmsnorm: { op: 'rmsnorm', params: [x, { name: 'w', kind: 'tensor' }, { name: 'eps', kind: 'float', optional: true }] },
  sum: { op: 'sum', params: [x, axis, { name: 'keepdim', kind: 'bool', optional: true }] },
  mean: { op: 'mean', params: [x, axis, { name: 'keepdim', kind: 'bool', optional: true }] },
  amax: { op: 'amax', params: [x, axis, { name: 'keepdim', kind: 'bool', optional: true }] },
  topk: { op: 'topk', params: [x, { name: 'k', kind: 'int' }, axis] },
  group_topk: {
    op: 'group_topk',
    params: [
      { name: 's', kind: 'tensor' },
      { name: 'k', kind: 'int' },
      { name: 'groups', kind: 'int' },
      { name: 'topk_groups', kind: 'int' },
      { name: 'group_score', kind: 'string', optional: true },
    ],
  },
  gather: { op: 'gather', params: [x, { name: 'indices', kind: 'tensor' }, axis] },
  concat: { op: 'concat', params: [axis], variadic: true },
  slice: {
    op: 'slice',
    params: [x, axis, { name: 'start', kind: 'int', optional: true }, { name: 'end', kind: 'int', optional: true }, { name: 'step', kind: 'int', optional: true }],
  },
  reshape: { op: 'reshape', params: [x, { name: 'shape', kind: 'dims' }] },
  transpose: { op: 'transpose', params: [x, { name: 'perm', kind: 'ints' }] },
  cast: { op: 'cast', params: [x, { name: 'dtype', kind: 'dtype' }] },
  route_capacity: {
    op: 'route_capacity',
    params: [{ name: 'indices', kind: 'tensor' }, { name: 'experts', kind: 'int' }, { name: 'capacity_factor', kind: 'float' }],
  },
  moe_permute: { op: 'moe_permute', params: [{ name: 'indices', kind: 'tensor' }, { name: 'experts', kind: 'int' }] },
  moe_dispatch: {
    op: 'moe_dispatch',
    params: [x, { name: 'slots', kind: 'tensor' }, { name: 'offsets', kind: 'tensor' }, { name: 'k', kind: 'int' }],
  },
  grouped_linear: {
    op: 'grouped_matmul',
    params: [{ name: 'xs', kind: 'tensor' }, { name: 'w', kind: 'tensor' }, { name: 'offsets', kind: 'tensor' }, { name: 'bias', kind: 'tensor', optional: true }],
    fixed: { transpose_b: true },
  },
  grouped_matmul: {
    op: 'grouped_matmul',
    params: [{ name: 'xs', kind: 'tensor' }, { name: 'w', kind: 'tensor' }, { name: 'offsets', kind: 'tensor' }, { name: 'bias', kind: 'tensor', optional: true }],
  },
  moe_combine: {
    op: 'moe_combine',
    params: [{ name: 'ys', kind: 'tensor' }, { name: 'slots', kind: 'tensor' }, { name: 'offsets', kind: 'tensor' }, { name: 'weights', kind: 'tensor' }],
  },
  embedding: { op: 'embedding', params: [{ name: 'ids', kind: 'tensor' }, { name: 'table', kind: 'tensor' }] },
  rope: {
    op: 'rope',
    params: [
      x,
      ...(['offset:dims', 'theta:float', 'rotary_dim:int', 'layout:string', 'scaling:string', 'factor:float', 'original_max_position:int', 'beta_fast:float',
        'beta_slow:float', 'truncate:bool', 'low_freq_factor:float', 'high_freq_factor:float', 'attention_factor:float'] as const).map((p) => {
        const [name, kind] = p.split(':') as [string, BuiltinParam['kind']];
        return { name, kind, optional: true };
      }),
    ],
  },
  attention: {
    op: 'attention',
    params: [
      ...['q', 'k', 'v', 'k_cache', 'v_cache'].map((name): BuiltinParam => ({ name, kind: 'tensor' })),
      { name: 'sinks', kind: 'tensor', optional: true },
      { name: 'scale', kind: 'float' },
      { name: 'window', kind: 'int', optional: true },
    ],
  },
  mla_attention: {
    op: 'mla_attention',
    params: [...['q_nope', 'q_pe', 'kv', 'k_pe', 'kv_cache', 'pe_cache', 'wkv_b'].map((name): BuiltinParam => ({ name, kind: 'tensor' })), { name: 'scale', kind: 'float' }],
  },
};

/**
 * `experts(x, indices, weights, up=, down=, gate=?, act=)`: a convenience call that the
 * lowering expands into moe_permute → moe_dispatch → grouped GEMMs with the activation →
 * moe_combine, so the IR holds only primitives (and fusion must recognise the pattern).
 */
export const EXPERTS_PARAMS: BuiltinParam[] = [
  { name: 'x', kind: 'tensor' },
  { name: 'indices', kind: 'tensor' },
  { name: 'weights', kind: 'tensor' },
  { name: 'up', kind: 'tensor' },
  { name: 'down', kind: 'tensor' },
  { name: 'gate', kind: 'tensor', optional: true },
  { name: 'act', kind: 'string', optional: true },
];

/** Activations `experts(..., act=)` accepts; `swiglu` needs `gate=`, the others must not have it. */
export const EXPERT_ACTIVATIONS = ['swiglu', 'relu', 'gelu', 'silu'] as const;

export function builtinSignature(name: string, params: BuiltinParam[], variadic = false): string {
  const ps = params.map((p) => (p.optional ? `${p.name}=?` : p.name));
  return `${name}(${variadic ? ['xs...', ...ps].join(', ') : ps.join(', ')})`;
}
