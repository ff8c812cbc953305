/**
 * The backends whose attention and MLA kernels run with the KV cache as state, for the
 * whole-model tests (whole-model.test.ts, whole-model-compile.test.ts): a refusal (E701)
 * from one of these fails; the others skip, with the refusal as the reason, until they are
 * listed here. All four run them now. And each shipped config (examples/hf) at reduced sizes.
 */
export const RUNS_ATTENTION: readonly string[] = ['ref', 'c', 'wasm', 'wgsl'];

/** Each shipped config at a size that compiles in a moment (the consts its import names, for --set): whole-model-compile and generate. */
export const REDUCED: Record<string, string> = {
  'DeepSeek-V2-Lite': 'V=256,D=64,LAYERS=3,H=4,C=32,DN=16,DR=16,DV=16,F_DENSE=96,E=8,K=2,F=32,FS=64',
  'DeepSeek-V3': 'V=256,D=64,LAYERS=5,H=4,QL=32,C=32,DN=16,DR=16,DV=16,F_DENSE=96,E=16,K=4,F=32,GROUPS=4,TOPK_GROUPS=2,FS=32',
  'Llama-3.1-8B': 'V=256,D=64,LAYERS=2,H=4,G=2,HD=16,F_DENSE=128',
  'Mixtral-8x7B-v0.1': 'V=256,D=64,LAYERS=2,H=4,G=2,HD=16,E=4,K=2,F=128',
  'OLMoE-1B-7B-0924': 'V=256,D=64,LAYERS=2,H=4,G=4,HD=16,E=8,K=2,F=32',
  'Qwen1.5-MoE-A2.7B': 'V=256,D=64,LAYERS=2,H=4,G=4,HD=16,E=8,K=2,F=32,FS=128',
  'Qwen3-30B-A3B': 'V=256,D=64,LAYERS=2,H=4,G=2,HD=16,E=8,K=2,F=32',
  'gpt-oss-20b': 'V=256,D=64,LAYERS=2,H=4,G=2,HD=16,WINDOW=8,E=4,K=2,F=64',
};
