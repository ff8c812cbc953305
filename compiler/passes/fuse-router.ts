/**
 * @fileoverview Pass `fuse-router`: the whole routing chain becomes one `moe_router` op.
 *
 * Recognised, around each `topk` / `group_topk` over [T, E] scores:
 *   logits = matmul(x, w (, b)) {transpose_b}        w, b weights
 *   scores = softmax(logits) | sigmoid(logits) | logits
 *   select = scores (+ select_bias)                   select_bias a weight [E]
 *   values, indices = topk | group_topk(select)
 *   weights = values | gather(scores, indices)
 *     (softmax)? → (/ sum(·, keepdim))? → (* const)?
 *   indices → (route_capacity)?
 * It covers every router style of the examples (Mixtral, DeepSeek-V3, Qwen, GPT-OSS,
 * Switch) and the same chains written out by hand or by an importer.
 *
 * Precondition: verified graph IR. Postcondition: verified; each matched chain is one
 * `moe_router` whose results replace the chain's final indices and weights; the chain is
 * left alone when any intermediate has a use outside it (e.g. the scores feed something
 * else), since the fused op does not expose intermediates. Semantics are unchanged bit for
 * bit (`moe_router` is defined as this chain).
 */
import type { Func, Module, Node, Value } from '../../ir/graph/graph.ts';
import { cloneModule } from './clone.ts';
import type { GraphPass } from './pass.ts';
import { UseMap, defineBeforeUse, insertNode, isWeight, removeNodes, replaceUses, rewriteEach } from './rewrite.ts';

interface RouterMatch {
  nodes: Node[];
  operands: Value[];
  attrs: Record<string, number | string | boolean | null>;
  indices: Value;
  weights: Value;
}

/** A scalar `const` value, or undefined. */
function constValue(u: UseMap, v: Value): number | undefined {
  const d = u.defOp(v, 'const');
  return d && v.type.shape.length === 0 ? (d.attrs.value as number) : undefined;
}

/** Follows the weights chain after selection: softmax, normalisation by the sum, scaling. */
function weightsChain(u: UseMap, start: Value, nodes: Node[], attrs: RouterMatch['attrs']): Value {
  let cur = start;
  let stage = 0; // 0: softmax allowed, 1: normalize allowed, 2: scale allowed, 3: done
  for (;;) {
    const users = u.usersOf(cur);
    const sm = users.length === 1 ? users[0] : undefined;
    if (stage === 0 && sm?.op === 'softmax' && sm.attrs.axis === -1 && u.onlyUsedBy(cur, [sm])) {
      attrs.post_softmax = true;
      nodes.push(sm);
      cur = sm.outputs[0];
      stage = 1;
      continue;
    }
    if (stage <= 1 && users.length === 2) {
      const sum = users.find((n) => n.op === 'sum' && n.attrs.axis === -1 && n.attrs.keepdim === true);
      const div = users.find((n) => n.op === 'div' && n.inputs[0] === cur && sum && n.inputs[1] === sum.outputs[0]);
      if (sum && div && u.onlyUsedBy(sum.outputs[0], [div])) {
        attrs.normalize = true;
        nodes.push(sum, div);
        cur = div.outputs[0];
        stage = 2;
        continue;
      }
    }
    if (stage <= 2 && sm?.op === 'mul' && u.onlyUsedBy(cur, [sm])) {
      const other = sm.inputs[0] === cur ? sm.inputs[1] : sm.inputs[0];
      const c = constValue(u, other);
      if (c !== undefined && u.onlyUsedBy(other, [sm])) {
        attrs.scale = c;
        nodes.push(sm, u.defOf(other)!);
        cur = sm.outputs[0];
        stage = 3;
        continue;
      }
    }
    return cur;
  }
}

function matchRouter(m: Module, f: Func, u: UseMap, sel: Node): RouterMatch | undefined {
  if (sel.op === 'topk' && (sel.attrs.axis !== -1 || sel.inputs[0].type.shape.length !== 2)) return undefined;
  const nodes: Node[] = [sel];
  const attrs: RouterMatch['attrs'] = { k: sel.attrs.k as number };
  if (sel.op === 'group_topk') {
    Object.assign(attrs, { select: 'group_topk', groups: sel.attrs.groups, topk_groups: sel.attrs.topk_groups, group_score: sel.attrs.group_score });
  }
  // Backwards: selection input, scores, logits.
  let scores = sel.inputs[0];
  let selectBias: Value | undefined;
  const add = u.defOp(scores, 'add');
  if (add && u.onlyUsedBy(scores, [sel])) {
    const [a, b] = add.inputs;
    const biasAt = [b, a].find((v) => v.type.shape.length === 1 && isWeight(m, f, v, u));
    if (biasAt) {
      selectBias = biasAt;
      scores = biasAt === b ? a : b;
      nodes.push(add);
    }
  }
  const scoreNode = u.defOf(scores);
  let logits = scores;
  attrs.score = 'none';
  if (scoreNode && (scoreNode.op === 'sigmoid' || (scoreNode.op === 'softmax' && scoreNode.attrs.axis === -1))) {
    attrs.score = scoreNode.op;
    logits = scoreNode.inputs[0];
    nodes.push(scoreNode);
  }
  const mm = u.defOp(logits, 'matmul');
  if (!mm || mm.attrs.transpose_b !== true || !isWeight(m, f, mm.inputs[1], u)) return undefined;
  if (mm.inputs[2] && !isWeight(m, f, mm.inputs[2], u)) return undefined;
  nodes.push(mm);
  const [x, w, bias] = mm.inputs;
  // Forwards: where the chosen weights come from.
  const [values, rawIndices] = sel.outputs;
  let weightsStart = values;
  const gather = u.usersOf(rawIndices).find((n) => n.op === 'gather' && n.inputs[0] === scores && n.attrs.axis === -1);
  if (gather) {
    if (u.usersOf(values).length > 0) return undefined;
    weightsStart = gather.outputs[0];
    nodes.push(gather);
  } else if (selectBias) return undefined; // values would carry the bias: not the router's semantics
  const weights = weightsChain(u, weightsStart, nodes, attrs);
  let indices = rawIndices;
  const cap = u.usersOf(rawIndices).find((n) => n.op === 'route_capacity');
  if (cap) {
    attrs.capacity_factor = cap.attrs.capacity_factor as number;
    nodes.push(cap);
    indices = cap.outputs[0];
  }
  // Every intermediate must stay inside the chain.
  const inside = (v: Value): boolean => u.onlyUsedBy(v, nodes);
  const intermediates = nodes.flatMap((n) => n.outputs).filter((v) => v !== weights && v !== indices);
  if (!intermediates.every(inside)) return undefined;
  if (logits !== scores && !inside(logits)) return undefined;
  const operands = [x, w];
  if (bias) {
    operands.push(bias);
    attrs.has_bias = true;
  }
  if (selectBias) {
    operands.push(selectBias);
    attrs.has_select_bias = true;
  }
  return { nodes, operands, attrs, indices, weights };
}

function fuseIn(m: Module, f: Func): number {
  return rewriteEach(f, ['topk', 'group_topk'], (sel, u) => {
    const match = matchRouter(m, f, u, sel);
    if (!match) return false;
    const last = f.body.reduce((acc, n, i) => (match.nodes.includes(n) ? i : acc), -1);
    const at = f.body[last + 1];
    const node = insertNode(m, f, 'moe_router', match.operands, match.attrs, [match.indices.name, match.weights.name], at);
    removeNodes(f, match.nodes);
    // Take over the chain's result names, now that the chain is gone.
    node.outputs[0].name = match.indices.name;
    node.outputs[1].name = match.weights.name;
    replaceUses(f, match.indices, node.outputs[0]);
    replaceUses(f, match.weights, node.outputs[1]);
    // The router sits where the chain ended, but a user of the indices may come before the
    // weights were finished (moe_permute before the softmax of GPT-OSS's top-k values).
    defineBeforeUse(f);
    return true;
  });
}

export const fuseRouter: GraphPass = {
  name: 'fuse-router',
  level: 'graph',
  summary: 'the routing chain (linear, scores, bias, top-k, weights, normalisation, scale, capacity) becomes one moe_router',
  requires: [],
  run(input: Module): Module {
    const m = cloneModule(input);
    for (const f of m.funcs) fuseIn(m, f);
    return m;
  },
};
