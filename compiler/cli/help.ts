/**
 * @fileoverview What `moec --help` and `moec COMMAND --help` print, from one table of
 * commands and one of options: the overview lists every command and option, a command's
 * help only its own options (in its own words where an option means something else there)
 * and an example. Unknown options are matched against the same table.
 */

interface CommandHelp {
  /** The usage line(s) after `moec `. */
  usage: string;
  /** What it does, a few lines. */
  about: string;
  /** Its options, in the order shown; names of OPTIONS. */
  options: string[];
  /** A command line that works from the package's root. */
  example: string;
}

interface OptionHelp {
  /** The option as written in usage, e.g. `--tokens N`. */
  form: string;
  /** What it does, for the overview (may name the commands it belongs to). */
  text: string;
  /** What it does in a given command's help, where that differs from `text`. */
  per?: Record<string, string>;
}

export const COMMANDS: Record<string, CommandHelp> = {
  check: {
    usage: 'check FILE [--json] [--quantize SCHEME] [--set NAME=VALUE,...]',
    about: 'Parse, lower and verify; print inputs, weights (total and per-token active\nparameters) and outputs.',
    options: ['json', 'quantize', 'quantize-router', 'set'],
    example: 'moec check examples/mixtral.moe --set D=512,F=1024',
  },
  ir: {
    usage: 'ir FILE [--after STEP | --print-after-all] [--verify-each] [--target T] [--set ...]',
    about:
      'Print the graph IR, or the IR (graph or kernel) after a pipeline step:\n(quantize, with --quantize,) canonicalize, fuse-router, fuse-experts,\nfold-shared-experts, fuse-dense-mlp, cleanup, lower-kernels, tile, (place-experts,\nwith --chips N,) plan-memory.',
    options: ['after', 'print-after-all', 'verify-each', 'target', 'max-tokens', 'max-context', 'disable', 'quantize', 'quantize-router', 'set', 'chips', 'redundant-experts', 'expert-load'],
    example: 'moec ir examples/tiny.moe --after fuse-experts',
  },
  compile: {
    usage: 'compile FILE --target NAME|FILE.yaml [--max-tokens N] [--max-context N] [-o DIR] [--emit kernel-ir]\n[--weights W.safetensors | --seed S] [--threads N] [--verify-each] [--disable PASS,...] [--json] [--set ...]',
    about:
      "Fuse, tile and plan the model for a target; print the kernels, their tiles, the\narena size and the estimated time. -o DIR writes the target backend's files\n(or DIR/MODEL.kir, the kernel IR, with --emit kernel-ir or while the target's\nbackend is missing) into DIR, creating it if needed; other files in DIR are kept.\nWith --weights or --seed also DIR/weights.bin, the packed weights its loader\nreads (as moec pack writes them), and weights.bin.json. A decoder's KV caches\nbecome state the compiled model keeps, of min(its bound on L, 4096) positions\n(--max-context N), its token bound then at most 512 (--max-tokens N).",
    options: ['target', 'max-tokens', 'max-context', 'out', 'emit', 'weights', 'seed', 'threads', 'verify-each', 'disable', 'quantize', 'quantize-router', 'json', 'set', 'chips', 'redundant-experts', 'expert-load'],
    example: 'moec compile examples/mixtral.moe --target x86-avx2 --max-tokens 64 -o out/',
  },
  run: {
    usage:
      'run FILE [--tokens N] [--context L] [--seed S] [--weights W.safetensors] [--inputs X.safetensors]\n[--out Y.safetensors] [--backend ref|c|wasm|wgsl] [--target T]\n[--max-tokens N] [--max-context N] [--threads N] [--check] [--f64] [--json] [--set NAME=VALUE,...]',
    about:
      'Run the model and print the shape and statistics of each output. Weights and\ninputs are seeded random numbers unless read from safetensors files. A backend\nother than ref compiles the model for its target and runs the generated code;\n--check also runs the reference interpreter and prints the difference.',
    options: ['tokens', 'context', 'seed', 'weights', 'inputs', 'out', 'backend', 'target', 'max-tokens', 'max-context', 'threads', 'check', 'quantize', 'quantize-router', 'f64', 'json', 'set', 'chips', 'redundant-experts', 'expert-load', 'record-routing'],
    example: 'moec run examples/mixtral.moe --tokens 8 --set D=512,F=1024 --backend c --check',
  },
  pack: {
    usage: 'pack FILE --target NAME|FILE.yaml -o OUT.bin [--weights W.safetensors | --seed S]\n[--max-tokens N] [--set ...]',
    about: "Write the weights in the layout the target backend's code reads (one aligned blob,\nGEMM weights pre-packed) and OUT.bin.json, where each tensor lies.",
    options: ['target', 'out', 'weights', 'seed', 'max-tokens', 'max-context', 'verify-each', 'disable', 'quantize', 'quantize-router', 'set', 'chips', 'redundant-experts', 'expert-load'],
    example: 'moec pack examples/tiny.moe --target x86-avx2 -o tiny.bin --seed 0',
  },
  generate: {
    usage:
      'generate MODEL (--prompt-ids 1,2,3 | --prompt TEXT) --max-new-tokens N [--weights W]\n[--backend ref|c|wasm|wgsl] [--target T] [--temperature F] [--top-k K] [--top-p P] [--seed S]\n[--max-context N] [--json] [--set ...]',
    about:
      'Generate tokens: compile the decoder with its KV caches as state of --max-context\npositions (default: prompt + N), prefill the prompt, then decode one token at a time,\nprinting each as it comes (with its text, when a tokenizer.json lies beside the model),\nthen prefill and decode tokens/s and the GB/s of weights a decode step reads. Greedy at\ntemperature 0 (default); otherwise sampled, the same for the same --seed. MODEL is a\n.moe file, a config.json, a model directory or a .gguf (docs/generate.md).',
    options: ['prompt-ids', 'prompt', 'max-new-tokens', 'weights', 'seed', 'backend', 'target', 'max-context', 'temperature', 'top-k', 'top-p', 'quantize', 'quantize-router', 'json', 'set'],
    example: 'moec generate examples/hf/Qwen3-30B-A3B/config.json --set V=64,D=16,LAYERS=2,E=4,K=2,F=8,H=2,G=1,HD=8 --prompt-ids 1,2,3 --max-new-tokens 8',
  },
  import: {
    usage: 'import CONFIG.json|MODEL.gguf [-o MODEL.moe]',
    about:
      'Write the whole decoder of a Hugging Face config.json (Mixtral, Qwen2-MoE, Qwen3-MoE,\nDeepSeek-V2/V3, OLMoE, GPT-OSS, Llama) as a .moe file (to stdout without -o);\nor of a llama.cpp .gguf file, from its metadata (llama/Mixtral, qwen2moe, qwen3moe;\nrun it with --weights MODEL.gguf).',
    options: ['out'],
    example: 'moec import examples/hf/Mixtral-8x7B-v0.1/config.json -o mixtral.moe',
  },
  quantize: {
    usage: 'quantize IN -o OUT.safetensors --to i8|i8g32|i4|i4g32|i4g128|fp8 [--quantize-router]',
    about:
      "Quantize a checkpoint's GEMM weights: every float tensor of 2 or more dimensions\nexcept embeddings, norms (names with embed, norm, wte, wpe) and, unless\n--quantize-router, the router (mlp.gate, block_sparse_moe.gate, router); the last\naxis is the reduction axis. IN is a .safetensors file, a model.safetensors.index.json\nor a directory. Writes codes and scales: i8 per output channel (NAME_scale [.., N, 1]),\ni8g32 and i4 in groups (U8 two codes per byte, NAME_scale [.., N, K/g]), fp8 e4m3 with\nDeepSeek 128x128 block scales (NAME_scale_inv); copies the rest. Prints the error\nagainst the input per tensor and overall (max abs, relL2).",
    options: ['to', 'out', 'quantize-router'],
    example: 'moec quantize model.safetensors --to i8 -o model-i8.safetensors',
  },
  analyze: {
    usage: 'analyze FILE|CONFIG.json|DIR [--target NAME|FILE.yaml] [--tokens N] [--context L] [--dtype D]\n[--chips N [--cluster NAME|FILE.yaml] [--redundant-experts R] [--expert-load FILE]] [--train-tokens N --mfu F]\n[--json] [--svg FILE] [--set ...]',
    about:
      'What the model costs: total and active parameters by component, FLOPs per token\n(decode, prefill, dense equivalent), weight bytes per token for a batch of N and the\nKV cache, weight memory at f32/bf16/fp8/i8/i4 and chips of the target, and with\n--target each kernel\'s FLOPs, bytes, intensity, bound and predicted time. With\n--chips N, the model over N chips of a cluster with expert parallelism: all-to-all\nbytes and time per MoE layer, compute, what two-micro-batch overlap hides, load\nimbalance, tokens/s per chip. With --train-tokens, training FLOPs and chip-hours.',
    options: ['target', 'tokens', 'context', 'dtype', 'chips', 'cluster', 'redundant-experts', 'expert-load', 'train-tokens', 'mfu', 'json', 'svg', 'set'],
    example: 'moec analyze examples/hf/Mixtral-8x7B-v0.1/config.json --target x86-avx2 --dtype bf16',
  },
};

export const OPTIONS: Record<string, OptionHelp> = {
  set: { form: '--set NAME=VALUE,...', text: 'override file-level constants (e.g. --set D=64,E=16)' },
  tokens: {
    form: '--tokens N',
    text: 'the token count T (moec analyze: the batch N, default 1)',
    per: {
      run: 'the token count T (default: from --inputs, when given)',
      analyze: 'the batch N: tokens per forward pass (default 1: decode)',
    },
  },
  context: {
    form: '--context L',
    text: 'moec run: positions already in the KV cache (decoder models from\nmoec import); moec analyze: the context length L (default 4096)',
    per: {
      run: 'positions already in the KV cache, the size L of a decoder model from\nmoec import; 0: an empty cache, a prefill (default: from --inputs, when given)',
      analyze: 'the context length L (default 4096)',
    },
  },
  dtype: { form: '--dtype D', text: "moec analyze: weight storage dtype for bytes per token: f32, bf16,\nfp8, i8, i4 (default: the model's; a config's torch_dtype)" },
  json: {
    form: '--json',
    text: 'print the result as JSON (check, compile, run, analyze; fields: docs/json.md)',
    per: { analyze: 'print the analysis as JSON (fields: docs/analyze.md)' },
  },
  svg: { form: '--svg FILE', text: 'moec analyze: write the roofline chart (needs --target), or with\n--chips the time per token against the number of chips' },
  cluster: { form: '--cluster C', text: 'moec analyze: a shipped cluster (targets/clusters/) or a cluster\n.yaml file (default h800)' },
  'train-tokens': { form: '--train-tokens N', text: 'moec analyze: training tokens; reports training FLOPs (3x the\nforward pass at the context L) and chip-hours (needs --mfu)' },
  mfu: { form: '--mfu F', text: 'moec analyze --train-tokens: model FLOPs utilisation, 0 < F <= 1,\nof the chip\'s bf16 peak' },
  seed: {
    form: '--seed S',
    text: 'seed for random weights and inputs (0..4294967295, default 0)',
    per: { generate: 'seed of the random weights (without --weights) and of the sampling\n(0..4294967295, default 0)' },
  },
  weights: {
    form: '--weights FILE|DIR',
    text: 'weights by moec name, or by checkpoint name through `from` patterns:\na .safetensors file, a model.safetensors.index.json (shards), or a\ndirectory holding either; F32/F16/BF16, fp8 with _scale_inv, i8/i4\nwith _scale (converted to the model\'s dtypes)',
  },
  inputs: { form: '--inputs FILE', text: 'inputs by name from a safetensors file (token ids I32 or I64)' },
  out: {
    form: '-o, --out FILE',
    text: 'where to write: run the outputs (safetensors), compile a directory,\npack the blob, import the .moe, quantize the checkpoint',
    per: {
      run: 'write the outputs to a safetensors file',
      compile: "write the target backend's files (or the kernel IR) into this directory",
      pack: 'the packed weights blob (and OUT.bin.json beside it)',
      import: 'write the .moe file here instead of to stdout',
      quantize: 'the quantized checkpoint (.safetensors)',
    },
  },
  backend: { form: '--backend NAME', text: 'ref (the reference interpreter, default), c, wasm or wgsl' },
  check: {
    form: '--check',
    text: "compare a backend's outputs with the reference interpreter's\n(with --quantize, also the quantized model's error against f32)",
  },
  quantize: {
    form: '--quantize SCHEME',
    text: 'store GEMM weights quantized: i8 (per channel), i4 (groups of 32),\ni4g32, i4g128, fp8 (e4m3, groups of 128), i8g32 (i8, groups of 32),\nw8a8 (i8g32 whose GEMMs round their activations to int8: C and ref);\nrun, compile, pack, ir, check. The router stays f32 unless\n--quantize-router',
  },
  'quantize-router': {
    form: '--quantize-router',
    text: 'quantize the router weights too (with --quantize, or moec quantize):\nexpert choices then follow the quantized scores',
  },
  to: { form: '--to SCHEME', text: 'moec quantize: the scheme: i8, i8g32, i4, i4g32, i4g128, fp8', per: { quantize: 'the scheme: i8, i8g32, i4, i4g32, i4g128, fp8' } },
  f64: { form: '--f64', text: 'compute in float64 instead of float32 (the reference interpreter):\nF64 inputs and caches are taken as they are, --out writes F64' },
  target: {
    form: '--target NAME|FILE',
    text: 'target capability sheet (x86-avx2, x86-avx512, wasm-simd128, wasm-scalar,\nwebgpu, npu-scratchpad) or a .yaml file',
  },
  'max-tokens': { form: '--max-tokens N', text: "largest token count the compiled program handles (default: T's bound)" },
  threads: {
    form: '--threads N',
    text: 'moec run --backend wasm: run the threaded build on N threads (this one and\nN - 1 workers sharing its memory; the output is the one-thread output bit for bit)',
    per: { compile: 'a Wasm target: also write the threaded build for up to N threads\n(model.threads.wasm and model.threads.json, reading the same weights.bin)' },
  },
  'max-context': {
    form: '--max-context N',
    text: 'keep the KV caches in the compiled model, as state of up to N positions\n(cached and new): each call takes L, the positions already cached, and appends\nits tokens (compile and pack: default min(the bound on L, 4096) for a decoder;\nir: the caches stay inputs of every call without it; moec run on a backend loads\nthe --context L caches into that state, default N = L + T)',
    per: { generate: 'the positions the KV caches hold, prompt and new tokens\n(default: their sum)' },
  },
  'prompt-ids': { form: '--prompt-ids 1,2,3', text: 'moec generate: the prompt as token ids' },
  prompt: { form: '--prompt TEXT', text: "moec generate: the prompt as text, encoded with the tokenizer.json beside\nthe model (E520 without one)" },
  'max-new-tokens': { form: '--max-new-tokens N', text: 'moec generate: how many tokens to generate' },
  temperature: { form: '--temperature F', text: 'moec generate: 0 (default) picks the most likely token; above 0 samples\nfrom softmax(logits / F)' },
  'top-k': { form: '--top-k K', text: 'moec generate: sample among the K most likely tokens (0, default: all)' },
  'top-p': { form: '--top-p P', text: 'moec generate: sample among the fewest most likely tokens whose\nprobability reaches P (0 < P <= 1, default 1: all)' },
  after: { form: '--after STEP', text: 'print the IR after a pipeline step (moec ir)' },
  'print-after-all': { form: '--print-after-all', text: 'print the IR after every step (moec ir)' },
  'verify-each': { form: '--verify-each', text: 'verify the IR (graph or kernel) around every pass' },
  disable: { form: '--disable PASS,...', text: 'skip passes (all but lower-kernels, tile and plan-memory)' },
  emit: { form: '--emit kernel-ir', text: "moec compile -o writes the kernel IR instead of the backend's code" },
  debug: { form: '--debug', text: 'print the stack trace of an internal error' },
  // Expert parallelism (compiler/cli/chips.ts).
  chips: {
    form: '--chips N',
    text: "spread each MoE layer's routed experts over N chips (expert parallelism; C\nbackend over MPI: moec run launches mpirun -np N, --tokens split evenly;\nmoec pack writes OUT.0.bin .. OUT.N-1.bin, each rank's experts only)",
    per: { analyze: 'spread the experts over N chips of the cluster and cost it\n(--tokens is then the micro-batch per chip)' },
  },
  'redundant-experts': {
    form: '--redundant-experts R',
    text: 'with --chips: up to R extra copies of the hottest experts per layer,\nkept where they lower the busiest chip\'s load',
    per: { analyze: 'with --chips: redundant expert copies allowed (default: the free\nexpert slots, at most one per expert)' },
  },
  'expert-load': { form: '--expert-load FILE', text: 'with --chips: balance the chips by the token counts per expert in FILE\n(what --record-routing writes; docs/routing-stats.md)' },
  'record-routing': { form: '--record-routing FILE', text: 'moec run: also write how many tokens each expert of each layer got\n(the kernel interpreter\'s router outputs), for --expert-load' },
};

const COLUMN = 24;

function optionLines(name: string, command?: string): string[] {
  const o = OPTIONS[name];
  const text = (command !== undefined ? o.per?.[command] : undefined) ?? o.text;
  const [first, ...rest] = text.split('\n');
  const head = `  ${o.form}`;
  const pad = head.length + 2 <= COLUMN ? head.padEnd(COLUMN) : `${head}\n${' '.repeat(COLUMN)}`;
  return [`${pad}${first}`, ...rest.map((l) => `${' '.repeat(COLUMN)}${l}`)];
}

const indent = (text: string, by: string): string => text.replace(/^/gm, by);

/** `moec CMD ...usage`, continuation lines under the first argument; `lead` is what precedes it on the first line. */
function usageText(command: string, lead: string): string {
  const [first, ...rest] = COMMANDS[command].usage.split('\n');
  const under = ' '.repeat(lead.length + `moec ${command} `.length);
  return [`${lead}moec ${first}`, ...rest.map((l) => under + l)].join('\n');
}

/** `moec --help`: every command and every option. */
export function overviewHelp(): string {
  const commands = Object.entries(COMMANDS).map(([name, c]) => `${usageText(name, '  ')}\n${indent(c.about, '      ')}`);
  return [
    'moec — a compiler for Mixture-of-Experts models',
    '',
    'Usage:',
    ...commands,
    '  moec COMMAND --help   the options of one command, with an example',
    '  moec --help | --version',
    '',
    'Options:',
    ...Object.keys(OPTIONS).flatMap((n) => optionLines(n)),
    '',
    'Outputs are written atomically (a temporary file renamed into place), never over an input',
    '(refused: exit 2); -o /dev/null or a FIFO is written, not replaced.',
    '',
    'Exit codes: 0 ok, 1 error in the input, 2 bad command line, 3 internal error (a bug).',
    'Language reference: docs/language.md',
  ].join('\n');
}

/** `moec COMMAND --help`: its usage, what it does, its options and an example. */
export function commandHelp(command: string): string {
  const c = COMMANDS[command];
  return [
    usageText(command, 'Usage: '),
    '',
    c.about,
    '',
    'Options:',
    ...[...c.options, 'debug'].flatMap((n) => optionLines(n, command)),
    '',
    'Example:',
    `  ${c.example}`,
    '',
    'moec --help lists every command.',
  ].join('\n');
}

/** The options a command's help lists (what an unknown option is matched against). */
export function commandOptions(command: string | undefined): string[] {
  const names = command !== undefined && Object.hasOwn(COMMANDS, command) ? [...COMMANDS[command].options, 'debug'] : Object.keys(OPTIONS);
  return names.map((n) => `--${n}`);
}
