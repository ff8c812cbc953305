/**
 * @fileoverview The benchmark workloads, shared by every backend's benchmark so their
 * numbers compare: one MoE layer each, fp32, with the same shapes in every implementation,
 * run at the token counts of decode (1), small-batch (32) and prefill (256):
 * - `mixtral-mini`: d = 1024, expert ffn 3584, 8 experts, top-2 (examples/mixtral.moe);
 * - `deepseek-mini`: d = 1024, expert ffn 512, 64 experts, top-6, plus a shared expert of
 *   ffn 1024 (bench/models/deepseek-mini.moe).
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
    consts: { D: 1024, F: 3584, E: 8, K: 2 },
    about: 'Mixtral routing (softmax top-2 of 8, renormalised) and SwiGLU experts, hidden 1024, expert intermediate 3584',
  },
  {
    name: 'deepseek-mini',
    file: 'bench/models/deepseek-mini.moe',
    consts: {},
    about: 'softmax top-6 of 64 fine-grained SwiGLU experts of 512, plus a shared SwiGLU expert of 1024, hidden 1024',
  },
];

export const TOKEN_COUNTS = [1, 32, 256];
