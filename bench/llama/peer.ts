/**
 * @fileoverview llama.cpp as a peer, through node-llama-cpp (pinned 3.21.1, a dev dependency):
 * its prebuilt CPU binaries come in its optional platform packages (`@node-llama-cpp/linux-x64`
 * and the like), installed by `npm ci` with install scripts denied. Nothing may download or
 * build at run time: `build: 'never'`, `skipDownload`, no GPU.
 *
 * What was found to matter for exact agreement (issue 16): logits read through
 * `controlledEvaluate` with `probabilities` at temperature 0 (llama.cpp's softmax of the raw
 * logits; the logits are their logarithms up to one constant per position); the KV cache in
 * F32 and flash attention off (F16 caches or flash attention differ by ~1e-3); a fixed thread
 * count (on 2 cores, 2 threads decode 20-40x slower than 1: both are timed).
 */
import { cpus } from 'node:os';

/** The peer could not be loaded here, and why (a test skips with it, the bench prints it). */
export interface Unavailable {
  unavailable: string;
}

type NodeLlamaCpp = typeof import('node-llama-cpp');
type Llama = Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
type LlamaModel = Awaited<ReturnType<Llama['loadModel']>>;

let llama: Promise<Llama | Unavailable> | undefined;

/** llama.cpp's bindings, loaded once per process from the prebuilt binaries (never downloaded or built). */
export function loadLlama(): Promise<Llama | Unavailable> {
  llama ??= (async () => {
    // Read by node-llama-cpp when it is imported: no download of binaries or sources, ever.
    process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = 'true';
    let mod: NodeLlamaCpp;
    try {
      mod = await import('node-llama-cpp');
    } catch (e) {
      return { unavailable: `node-llama-cpp is not installed (${(e as Error).message.split('\n')[0]}); run npm ci` };
    }
    try {
      return await mod.getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, progressLogs: false, logLevel: mod.LlamaLogLevel.error, maxThreads: cpus().length });
    } catch (e) {
      return { unavailable: `node-llama-cpp's prebuilt llama.cpp binaries do not load on this machine (${(e as Error).message.split('\n')[0]})` };
    }
  })();
  return llama;
}

export function isUnavailable(x: unknown): x is Unavailable {
  return typeof x === 'object' && x !== null && 'unavailable' in x;
}

/** One loaded GGUF model and a context of `contextSize` positions on `threads` threads. */
export interface LlamaPeer {
  /** The next-token log-probabilities after each position of `tokens` (appended to what the sequence holds). */
  logProbs(tokens: number[]): Promise<Float64Array[]>;
  /** Evaluates `tokens` (appended), no outputs read: for timing. */
  evaluate(tokens: number[]): Promise<void>;
  /** Empties the sequence (the KV cache). */
  reset(): Promise<void>;
  dispose(): Promise<void>;
  vocab: number;
}

/** Loads `gguf` (a vocabulary of `vocab` tokens) with the settings that make llama.cpp comparable (see the file comment). */
export async function openLlamaPeer(gguf: string, opts: { threads: number; contextSize: number; vocab: number; batchSize?: number }): Promise<LlamaPeer | Unavailable> {
  const l = await loadLlama();
  if (isUnavailable(l)) return l;
  let model: LlamaModel;
  try {
    model = await l.loadModel({ modelPath: gguf, gpuLayers: 0, useMmap: true });
  } catch (e) {
    return { unavailable: `llama.cpp cannot load ${gguf}: ${(e as Error).message.split('\n')[0]}` };
  }
  let context: Awaited<ReturnType<LlamaModel['createContext']>>;
  try {
    context = await model.createContext({
      contextSize: opts.contextSize,
      batchSize: opts.batchSize ?? opts.contextSize,
      sequences: 1,
      threads: { ideal: opts.threads, min: opts.threads },
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
    });
  } catch (e) {
    await model.dispose();
    return { unavailable: `llama.cpp cannot make a context of ${opts.contextSize} positions for ${gguf}: ${(e as Error).message.split('\n')[0]}` };
  }
  const sequence = context.getSequence();
  const vocab = opts.vocab;
  return {
    vocab,
    async logProbs(tokens) {
      const items = tokens.map((t) => [t, { generateNext: { probabilities: true, options: { temperature: 0 } } }]);
      const res = await sequence.controlledEvaluate(items as never);
      return res.map((r, i) => {
        const probs = r?.next?.probabilities;
        if (!probs) throw new Error(`llama.cpp gave no probabilities for position ${i}`);
        const out = new Float64Array(vocab).fill(-Infinity);
        for (const [tok, p] of probs) out[tok] = Math.log(p);
        return out;
      });
    },
    async evaluate(tokens) {
      // The last position's next-token output is asked for, as a generation step would.
      const items: unknown[] = tokens.slice(0, -1);
      items.push([tokens[tokens.length - 1], { generateNext: { token: true, options: { temperature: 0 } } }]);
      await sequence.controlledEvaluate(items as never);
    },
    async reset() {
      await sequence.clearHistory();
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}
