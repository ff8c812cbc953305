/**
 * @fileoverview The WGSL shader of a fused elementwise chain (`elementwise` op kernels,
 * ir/graph/elementwise.ts): one invocation per output element, one f32 statement per op of
 * the chain, each operand read at its broadcast index of the output's flat index. WGSL has
 * no f64: exp, log and the activations are the GPU's f32 functions, within the tolerance
 * the WGSL tests hold every kernel to.
 */
import { type ChainView, type EwStep, type IndexMap, chainView, ewSteps } from '../../../ir/graph/elementwise.ts';
import type { Dim } from '../../../ir/dims.ts';
import type { OpKernel } from '../../../ir/kernel/kernel.ts';
import { cannotRun } from '../cannot-run.ts';
import type { ConcatPieces } from '../../../ir/graph/concat-pieces.ts';
import { ACTIVATIONS, type Operand, PRELUDE, type ShaderEntry, accessors, f32Lit } from './shader.ts';

/**
 * A literal for any f32: infinities and NaN from their bit patterns through `ew_bits`, at run
 * time (WGSL has no literal for them, and a constant expression that makes one is an error).
 */
function lit(v: number): string {
  if (Number.isNaN(v)) return 'ew_bits(0x7fc00000u)';
  if (!Number.isFinite(v)) return `ew_bits(${v > 0 ? '0x7f800000u' : '0xff800000u'})`;
  return f32Lit(v);
}

function index(map: IndexMap): string {
  const parts = map.terms.map((t) => `${t.div === 1 ? 'i' : `i / ${t.div}u`}${t.mod !== undefined ? ` % ${t.mod}u` : ''}${t.mul === 1 ? '' : ` * ${t.mul}u`}`);
  if (map.base !== 0 || parts.length === 0) parts.push(`${map.base}u`);
  return parts.join(' + ');
}

function step(s: EwStep, operands: ChainView['operands']): string {
  const v = (j: number): string => `v${j}`;
  switch (s.kind) {
    case 'input':
      return `ld_x${operands[s.index].input}(${index(operands[s.index].map)})`;
    case 'const':
      return lit(s.value);
    case 'unary': {
      const a = v(s.x);
      const body: Record<typeof s.fn, string> = {
        neg: `-${a}`,
        exp: `exp(${a})`,
        log: `log(${a})`,
        sqrt: `sqrt(${a})`,
        rsqrt: `1.0 / sqrt(${a})`,
        abs: `abs(${a})`,
        sigmoid: `act_sigmoid(${a})`,
        silu: `act_silu(${a})`,
        relu: `select(${a}, 0.0, ${a} <= 0.0)`, // NaN stays NaN, as in the reference
        tanh: `ew_tanh(${a})`,
        gelu: `act_gelu(${a})`,
        gelu_tanh: `act_gelu_tanh(${a})`,
      };
      return body[s.fn];
    }
    case 'binary': {
      const [a, b] = [v(s.a), v(s.b)];
      const nan = `${a} != ${a} || ${b} != ${b}`;
      const body: Record<typeof s.fn, string> = {
        add: `${a} + ${b}`,
        sub: `${a} - ${b}`,
        mul: `${a} * ${b}`,
        div: `${a} / ${b}`,
        maximum: `select(max(${a}, ${b}), ${a} + ${b}, ${nan})`,
        minimum: `select(min(${a}, ${b}), ${a} + ${b}, ${nan})`,
      };
      return body[s.fn];
    }
  }
}

/**
 * The chain's shader over operands x0.. and out (in that order in `ops`); extra `count`
 * (elements of out). The grid is as wide as the add shader's (x up to 65535 workgroups, then y).
 */
export function elementwiseShader(k: OpKernel, shapeOf: (buffer: string) => readonly Dim[], ops: Operand[], W: number): ShaderEntry {
  const view = chainView(k.op, k.attrs, k.inputs.map(shapeOf), shapeOf(k.outputs[0])) ?? cannotRun('wgsl', k.op, `of ${k.inputs.join(', ')}: a size after the first axis depends on the token count`);
  const steps = ewSteps(view.expr);
  const body = steps.map((s, j) => `  let v${j}: f32 = ${step(s, view.operands)};`).join('\n');
  const code = `${PRELUDE}${accessors(ops, ['count'])}${ACTIVATIONS}fn ew_tanh(x: f32) -> f32 { return sign(x) * (1.0 - 2.0 / (exp(2.0 * abs(x)) + 1.0)); }
fn ew_bits(b: u32) -> f32 { var v = b; return bitcast<f32>(v); }
// ${k.op === 'elementwise' ? (k.attrs.expr as string) : k.op}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${W}u;
  if (i >= count()) { return; }
${body}
  st_out(i, v${steps.length - 1});
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/** A concat over operands x0.. and out; extra `count`: each output element from the input its axis coordinate falls in. */
export function concatShader(c: ConcatPieces, ops: Operand[], W: number): ShaderEntry {
  const read = (j: number): string => {
    const p = c.pieces[j];
    return `st_out(i, ld_x${j}(o * ${p.size * c.inner}u + (a - ${p.start}u) * ${c.inner}u + q));`;
  };
  const pick = c.pieces.map((p, j) => (j === c.pieces.length - 1 ? `{ ${read(j)} }` : `if (a < ${p.start + p.size}u) { ${read(j)} }`)).join(' else ');
  const code = `${PRELUDE}${accessors(ops, ['count'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${W}u;
  if (i >= count()) { return; }
  let o = i / ${c.total * c.inner}u;
  let a = i / ${c.inner}u % ${c.total}u;
  let q = i % ${c.inner}u;
  ${pick}
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}

/**
 * A cast between f32 and i32 over operands x, out; extra `count`. WGSL's float-to-int
 * conversion truncates, but saturates at the largest f32 below 2^31 and leaves NaN
 * indeterminate: 2^31 and up is 2147483647 and NaN 0 here, as in the interpreter.
 */
export function castShader(from: string, to: string, ops: Operand[], W: number): ShaderEntry {
  const toInt = 'select(select(i32(ld_x(i)), 2147483647, ld_x(i) >= 2147483648.0), 0, ld_x(i) != ld_x(i))';
  const value = from === to ? 'ld_x(i)' : to === 'i32' ? toInt : 'f32(ld_x(i))';
  const code = `${PRELUDE}${accessors(ops, ['count'])}
@compute @workgroup_size(${W})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${W}u;
  if (i >= count()) { return; }
  st_out(i, ${value});
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 0 };
}
