/**
 * Sizes at which tests run each example (its real sizes are far too large for an
 * interpreter): `--set` overrides that keep every model's shape and routing structure.
 */
export const SMALL: Record<string, Record<string, number>> = {
  'tiny.moe': {},
  'mixtral.moe': { D: 32, F: 48 },
  'deepseek-v3.moe': { D: 32, F_DENSE: 64, F: 16, E: 16, K: 4, GROUPS: 4, TOPK_GROUPS: 2, DENSE_LAYERS: 1, LAYERS: 3 },
  'qwen-moe.moe': { D: 32, F: 16, FS: 48, E: 12, K: 4 },
  'gpt-oss.moe': { D: 32, F: 24, E: 8, K: 4 },
  'switch.moe': { D: 32, F: 48, E: 8 },
};
