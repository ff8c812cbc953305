/**
 * @fileoverview The benchmark workloads, shared by every backend's benchmark so their
 * numbers compare: real example files at reduced sizes (the shapes keep the models'
 * proportions), run at the token counts of decode (1), small-batch (32) and prefill (256).
 */
export interface Workload {
  name: string;
  /** The example file. */
  file: string;
  /** Constant overrides (`--set`). */
  consts: Record<string, number>;
  about: string;
}

export const WORKLOADS: Workload[] = [
  {
    name: 'mixtral-mini',
    file: 'examples/mixtral.moe',
    consts: { D: 512, F: 1792, E: 8, K: 2 },
    about: 'Mixtral routing (softmax top-2 of 8) and SwiGLU experts, hidden 512, intermediate 1792 (Mixtral proportions / 8)',
  },
  {
    name: 'deepseek-mini',
    file: 'examples/deepseek-v3.moe',
    consts: { D: 512, F_DENSE: 1280, F: 256, E: 64, K: 6, GROUPS: 8, TOPK_GROUPS: 4, DENSE_LAYERS: 1, LAYERS: 2 },
    about: 'DeepSeek-V3 routing (sigmoid, bias, group-limited top-6 of 64 in 8 groups) + shared expert, after one dense layer',
  },
];

export const TOKEN_COUNTS = [1, 32, 256];
