/**
 * @fileoverview Pass `quantize`: stores every GEMM weight of the model (router, experts,
 * dense and shared MLPs, shared-expert gates) as quantized codes with f32 scales, in the
 * scheme `--quantize` names (`QUANT_SCHEMES` of ir/quant.ts). Norms, biases, embeddings and
 * anything else that is not read as a GEMM weight stay as they are.
 *
 * A weight is quantized when every use of it, followed through repeat bodies (stacked or
 * loop-invariant operands), is the weight operand of a GEMM — matmul, grouped_matmul, or
 * the fused router and expert ops — and all uses reduce along the same axis (-1 for
 * [out, in] weights, -2 for [in, out]); the type it gets must be valid (i4 needs an even
 * last axis). Its declaration and every value that carries it are retyped; the numbers
 * follow at load time: float weights given for a quantized declaration are quantized by the
 * interpreters and `packWeights` (seeded weights: the f32 values of the same seed).
 *
 * The router's matrix (a GEMM whose result reaches an expert selection) stays f32 unless
 * the scheme says `router: true` (`--quantize-router`).
 *
 * A scheme with `activations: 'q8'` (w8a8) marks each i8 weight whose reduction length is a
 * multiple of 32 `act=q8` (its GEMMs round their activations, quant.ts); a weight of another
 * reduction length is quantized without it, and so is a quantized router's matrix, whose
 * scores would otherwise move with the activations' rounding.
 *
 * Precondition: verified graph IR, before fusion (it runs first). Without a scheme in the
 * context it returns its input unchanged, so f32 programs are exactly what they were.
 */
import { type Func, type Module, type Value, findFunc } from '../../ir/graph/graph.ts';
import { inferOp } from '../../ir/graph/ops.ts';
import { quantTypeProblem, sameQuant, schemeQuant } from '../../ir/quant-type.ts';
import { isFloatDType, type TensorType } from '../../ir/types.ts';
import { shapeEq } from '../../ir/dims.ts';
import { cloneModule } from './clone.ts';
import type { GraphPass } from './pass.ts';

/** The reduction axes a value is read along as a GEMM weight, or 'other' when anything else reads it. */
type Uses = Set<number> | 'other';

function merge(a: Uses, b: Uses): Uses {
  return a === 'other' || b === 'other' ? 'other' : new Set([...a, ...b]);
}

/** How `v` of `f` is used, followed into repeat bodies. */
function usesOf(m: Module, f: Func, v: Value, seen: Set<Value>): Uses {
  if (seen.has(v)) return new Set();
  seen.add(v);
  if (f.results.some((r) => r.value === v)) return 'other';
  let out: Uses = new Set();
  for (const n of f.body)
    n.inputs.forEach((x, i) => {
      if (x !== v || out === 'other') return;
      const tb = n.attrs.transpose_b === true;
      if ((n.op === 'matmul' || n.op === 'grouped_matmul') && i === 1) out.add(tb ? -1 : -2);
      else if (n.op === 'moe_router' && (i === 1 || (n.attrs.has_shared_gate === true && i === n.inputs.length - 1))) out.add(-1);
      else if (n.op === 'moe_experts' && (i === 3 || i === 4)) out.add(tb ? -1 : -2);
      else if (n.op === 'repeat' && i >= (n.attrs.carried as number)) {
        const body = findFunc(m, n.attrs.body as string)!;
        out = merge(out, usesOf(m, body, body.params[i], seen));
      } else out = 'other';
    });
  return out;
}

/** The GEMM reduction axis of each weight that can be quantized. */
function gemmWeights(m: Module): Map<string, number> {
  const uses = new Map<string, Uses>();
  for (const f of m.funcs)
    for (const n of f.body)
      if (n.op === 'weight') {
        const name = n.attrs.name as string;
        uses.set(name, merge(uses.get(name) ?? new Set(), usesOf(m, f, n.outputs[0], new Set())));
      }
  const out = new Map<string, number>();
  for (const [name, u] of uses) if (u !== 'other' && u.size === 1) out.set(name, [...u][0]);
  return out;
}

/** Ops that choose experts: a GEMM whose result reaches one of these is a router. */
const SELECTION_OPS = new Set(['topk', 'group_topk', 'route_capacity', 'moe_router']);
/** Ops a router's scores do not pass through on their way to the selection. */
const GEMM_OPS = new Set(['matmul', 'grouped_matmul', 'moe_experts', 'repeat']);

/** Whether `v` of `f` reaches an expert selection through ops other than GEMMs (a few steps: bias, softmax or sigmoid, correction bias). */
function reachesSelection(f: Func, v: Value): boolean {
  let frontier = [v];
  for (let depth = 0; depth < 8 && frontier.length > 0; depth++) {
    const next: Value[] = [];
    for (const n of f.body) {
      if (!n.inputs.some((x) => frontier.includes(x))) continue;
      if (SELECTION_OPS.has(n.op)) return true;
      if (!GEMM_OPS.has(n.op)) next.push(...n.outputs);
    }
    frontier = next;
  }
  return false;
}

/** The weights `v` of `f` carries: its weight node's name, or through a repeat body's parameter, the weights every caller passes there. */
function weightNames(m: Module, f: Func, v: Value, out: Set<string>): void {
  const node = f.body.find((n) => n.outputs.includes(v));
  if (node?.op === 'weight') out.add(node.attrs.name as string);
  const i = f.params.indexOf(v);
  if (i < 0) return;
  for (const g of m.funcs) for (const r of g.body) if (r.op === 'repeat' && r.attrs.body === f.name && r.inputs[i]) weightNames(m, g, r.inputs[i], out);
}

/** The router weights: a GEMM's weight operand whose result reaches an expert selection, or a fused router's matrix. */
function routerWeights(m: Module): Set<string> {
  const out = new Set<string>();
  for (const f of m.funcs)
    for (const n of f.body) {
      if (n.op === 'moe_router') weightNames(m, f, n.inputs[1], out);
      else if (n.op === 'matmul' && reachesSelection(f, n.outputs[0])) weightNames(m, f, n.inputs[1], out);
    }
  return out;
}

/** Re-infers every node's result types (and repeat bodies' parameter types) after weights were retyped. */
function retype(m: Module): void {
  for (let changed = true, rounds = 0; changed && rounds <= m.funcs.length + 1; rounds++) {
    changed = false;
    const set = (v: Value, t: TensorType): void => {
      if (v.type.dtype === t.dtype && sameQuant(v.type.quant, t.quant) && shapeEq(v.type.shape, t.shape)) return;
      v.type = t;
      changed = true;
    };
    for (const f of m.funcs)
      for (const n of f.body) {
        if (n.op === 'repeat') {
          const body = findFunc(m, n.attrs.body as string)!;
          const fixed = (n.attrs.carried as number) + (n.attrs.invariant as number);
          n.inputs.forEach((x, i) => {
            const t = x.type;
            if (i >= (n.attrs.carried as number)) set(body.params[i], i >= fixed ? { ...t, shape: t.shape.slice(1) } : t);
          });
        }
        const { types } = inferOp(n.op, n.inputs.map((x) => x.type), n.attrs, m);
        n.outputs.forEach((o, i) => set(o, types[i]));
      }
  }
}

export const quantizeWeights: GraphPass = {
  name: 'quantize',
  level: 'graph',
  summary: 'store GEMM weights as i8, i4 or fp8e4m3 codes with f32 scales (--quantize)',
  requires: [],
  run(input, ctx) {
    const scheme = ctx.quantize;
    if (!scheme) return input;
    const m = cloneModule(input);
    const axes = gemmWeights(m);
    const routers = routerWeights(m);
    // A quantized router keeps f32 activations: its logits choose the experts (see QuantScheme.router).
    const routerScheme = { ...scheme, activations: undefined };
    for (const w of m.weights) {
      const axis = routers.has(w.name) && !scheme.router ? undefined : axes.get(w.name);
      if (axis === undefined || w.type.quant || !isFloatDType(w.type.dtype) || w.type.dtype === 'fp8e4m3') continue;
      const type: TensorType = { ...schemeQuant(routers.has(w.name) ? routerScheme : scheme, axis, w.type.shape), shape: w.type.shape };
      if (!quantTypeProblem(type)) w.type = type;
    }
    retype(m);
    return m;
  },
};
