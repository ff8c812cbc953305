/**
 * @fileoverview Parameter counts: total, and active per token, as MoE papers count them,
 * split by component (embedding, attention, dense MLP, router, shared experts, routed
 * experts, norms, LM head).
 *
 * A weight is *active* for a token when the token's computation reads it. Dense weights
 * (embeddings, attention, router, norms, shared experts, LM head) count whole, as model
 * papers count them (Mixtral's 12.9B and DeepSeek-V3's 37B include the embedding table
 * although a token reads one row of it). A stacked expert weight used by a grouped GEMM is
 * read only for the K experts a token selects, so each token reads a fraction K/E of it;
 * K comes from the GEMM's row count (`K*T` token slots) and E from the weight's expert
 * axis. Weights passed into a `repeat` body are followed to their uses.
 *
 * Components come from how a weight is used (the graph), and only where the graph cannot
 * tell (a shared expert and a dense MLP are the same ops; so are an attention projection
 * and an MLP projection) from its moec or checkpoint name.
 */
import { type Dim, isSym } from '../../ir/dims.ts';
import { type Func, type Module, type Node, type Value, findFunc, mainFunc } from '../../ir/graph/graph.ts';
import type { DType, TensorType } from '../../ir/types.ts';

export const COMPONENTS = ['embedding', 'attention', 'norm', 'router', 'dense_mlp', 'shared_experts', 'routed_experts', 'lm_head', 'other'] as const;
export type Component = (typeof COMPONENTS)[number];

export interface WeightSummary {
  name: string;
  type: TensorType;
  /** Number of elements. */
  params: number;
  /** Elements one token reads (params × K/E for routed experts). */
  activePerToken: number;
  /** `routed` when read through a grouped GEMM, else `dense`. */
  kind: 'routed' | 'dense';
  component: Component;
  /** Routed weights: experts in the weight and experts each token picks from it. */
  experts?: number;
  k?: number;
  /**
   * GEMM weights: the reduction axis counted from the end (1: the last axis, a `linear`
   * weight [.., N, K]; 2: the second-last, a `matmul` weight [.., K, N]). Quantized
   * weights carry their scales along it (`ir/quant.ts`). Absent for norms, biases, tables.
   */
  reduceAxisFromEnd?: 1 | 2;
}

export interface ComponentSummary {
  component: Component;
  params: number;
  activePerToken: number;
}

export interface ParamSummary {
  weights: WeightSummary[];
  /** Non-empty components, in `COMPONENTS` order. */
  components: ComponentSummary[];
  total: number;
  activePerToken: number;
  dtypes: DType[];
}

/** One use of a value: the node and the operand position. */
interface Use {
  node: Node;
  index: number;
  func: Func;
}

/** Uses of `v` in `f`, following it into `repeat` bodies (where it is a body parameter). */
function usesOf(m: Module, f: Func, v: Value, seen: Set<Func> = new Set()): Use[] {
  const out: Use[] = [];
  for (const node of f.body)
    node.inputs.forEach((inp, index) => {
      if (inp !== v) return;
      if (node.op === 'repeat') {
        const body = findFunc(m, node.attrs.body as string);
        if (body && !seen.has(body)) {
          seen.add(body);
          out.push(...usesOf(m, body, body.params[index], seen));
          seen.delete(body);
        }
      } else out.push({ node, index, func: f });
    });
  return out;
}

/** Ops a value passes through unchanged in kind on its way to a selection (elementwise glue). */
const GLUE = new Set(['add', 'sub', 'mul', 'div', 'sigmoid', 'softmax', 'neg', 'cast', 'reshape', 'exp', 'tanh']);

/** Whether a value feeds an expert selection (topk, group_topk) through glue ops only: router logits, scores, biases. */
function feedsSelection(m: Module, f: Func, v: Value, depth = 0): boolean {
  if (depth > 8) return false;
  return usesOf(m, f, v).some(({ node, func }) => {
    if (node.op === 'topk' || node.op === 'group_topk' || node.op === 'moe_router') return true;
    return GLUE.has(node.op) && node.outputs.some((o) => feedsSelection(m, func, o, depth + 1));
  });
}

/** Routed use: a grouped GEMM's weight or bias, or a fused moe_experts' weights and biases. Returns E and K. */
function routedUse(u: Use): { experts: number; k: number | undefined } | undefined {
  const { node, index } = u;
  if (node.op === 'grouped_matmul' && (index === 1 || index === 3)) {
    const rows = node.inputs[0].type.shape[0];
    // Rows are K*T token slots: K is the coefficient of the (single) symbolic size.
    const k = isSym(rows) && rows.terms.length === 1 && rows.c === 0 ? rows.terms[0][1] : undefined;
    return { experts: concrete(node.inputs[1].type.shape[0]), k };
  }
  if (node.op === 'moe_experts' && index >= 3) {
    const k = node.inputs[1].type.shape[1];
    return { experts: concrete(node.inputs[3].type.shape[0]), k: isSym(k) ? undefined : k };
  }
  return undefined;
}

function concrete(d: Dim): number {
  return isSym(d) ? 0 : d;
}

/** The reduction axis (from the end) of a GEMM weight use, if it is one. */
function gemmAxis(u: Use): 1 | 2 | undefined {
  const { node, index } = u;
  const tb = node.attrs.transpose_b === true;
  if ((node.op === 'matmul' || node.op === 'grouped_matmul') && index === 1) return tb ? 1 : 2;
  if (node.op === 'moe_experts' && (index === 3 || index === 4)) return tb || node.attrs.transpose_b === undefined ? 1 : 2;
  if (node.op === 'moe_router' && (index === 1 || (index === node.inputs.length - 1 && node.attrs.has_shared_gate === true))) return 1;
  return undefined;
}

/** Attention ops (the importer's): a weight they read directly is attention. */
const ATTENTION_OPS = /attention|attn|mla|rope/;

/** Name patterns, for what the ops cannot tell apart. Checked against the moec name and the checkpoint name. */
const NAMES: Array<[Component, RegExp]> = [
  ['shared_experts', /shared/],
  ['lm_head', /lm_head|(^|\.)output(\.weight)?$/],
  ['embedding', /embed|wte|tok_emb/],
  ['attention', /attn|attention|(^|[._])(q|k|v|o|qkv|q_a|q_b|kv_a|kv_b|wq|wk|wv|wo)(_proj)?([._]|$)|sinks/],
];

function classify(m: Module, name: string, uses: Use[], routed: boolean, value: Value | undefined, f: Func | undefined): Component {
  if (routed) return 'routed_experts';
  if (uses.some((u) => u.node.op === 'moe_router')) return 'router';
  if (uses.some((u) => (u.node.op === 'rmsnorm' || u.node.op === 'layernorm') && u.index > 0)) return 'norm';
  if (uses.some((u) => u.node.op === 'embedding' && u.index === 1)) return 'embedding';
  if (uses.some((u) => ATTENTION_OPS.test(u.node.op))) return 'attention';
  // router: the weight's GEMM output (or the weight itself, a bias) feeds a selection
  if (value && f && (feedsSelection(m, f, value) || uses.some((u) => u.node.op === 'matmul' && feedsSelection(m, u.func, u.node.outputs[0])))) return 'router';
  const decl = m.weights.find((w) => w.name === name);
  const names = [name, decl?.source?.pattern ?? ''].map((s) => s.toLowerCase());
  for (const [c, re] of NAMES) if (names.some((n) => re.test(n))) return c;
  if (uses.some((u) => u.node.op === 'gather' && u.index === 0)) return 'embedding'; // a table written with gather
  if (uses.some((u) => gemmAxis(u) !== undefined)) return 'dense_mlp';
  return 'other';
}

/** Counts each weight's elements and the part one token reads, by component. */
export function summarizeParams(m: Module): ParamSummary {
  const main = mainFunc(m);
  const weights: WeightSummary[] = m.weights.map((w) => {
    const params = w.type.shape.reduce<number>((a, d) => a * (isSym(d) ? 0 : d), 1);
    const node = main.body.find((n) => n.op === 'weight' && n.attrs.name === w.name);
    const value = node?.outputs[0];
    const uses = value ? usesOf(m, main, value) : [];
    let fraction = 0;
    let routedInfo: { experts: number; k: number } | undefined;
    for (const u of uses) {
      const r = routedUse(u);
      if (r) {
        const frac = r.k !== undefined && r.experts > 0 ? Math.min(1, r.k / r.experts) : 1;
        fraction = Math.max(fraction, frac);
        routedInfo = { experts: r.experts, k: r.k ?? r.experts };
      } else fraction = 1;
    }
    const axis = uses.map(gemmAxis).find((a) => a !== undefined);
    const component = classify(m, w.name, uses, routedInfo !== undefined, value, value ? main : undefined);
    return {
      name: w.name, type: w.type, params, activePerToken: params * fraction, kind: routedInfo ? 'routed' : 'dense', component,
      ...(routedInfo ? { experts: routedInfo.experts, k: routedInfo.k } : {}),
      ...(axis !== undefined ? { reduceAxisFromEnd: axis } : {}),
    };
  });
  const components = COMPONENTS.map((component) => {
    const ws = weights.filter((w) => w.component === component);
    return { component, params: ws.reduce((a, w) => a + w.params, 0), activePerToken: ws.reduce((a, w) => a + w.activePerToken, 0), n: ws.length };
  })
    .filter((c) => c.n > 0)
    .map(({ component, params, activePerToken }) => ({ component, params, activePerToken }));
  const total = weights.reduce((a, w) => a + w.params, 0);
  const activePerToken = weights.reduce((a, w) => a + w.activePerToken, 0);
  return { weights, components, total, activePerToken, dtypes: [...new Set(m.weights.map((w) => w.type.dtype))] };
}
