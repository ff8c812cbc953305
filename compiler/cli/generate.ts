/**
 * @fileoverview `moec generate`: its options read and checked, the tokens printed as they
 * stream from `generate` (compiler/generate/), then the speeds; or with `--json`, one object
 * at the end (schema `moec-generate/1`, docs/json.md).
 */
import type { QuantScheme } from '../../ir/quant.ts';
import { formatBytes } from '../../ir/kernel/kprint.ts';
import { type GeneratedToken, generate } from '../generate/generate.ts';
import { UsageError } from '../usage-error.ts';
import type { CliIO } from './cli.ts';
import { parseInt32 } from './int-option.ts';

export const GENERATE_SCHEMA = 'moec-generate/1';

type Values = Record<string, string | boolean | string[] | undefined>;

/** `--prompt-ids 1,2,3`: whole numbers (the vocabulary is checked against the model). */
function promptIds(s: string): number[] {
  const parts = s.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || !Number.isSafeInteger(Number(p)))) throw new UsageError(`--prompt-ids expects token ids separated by commas, got '${s}'`, 'e.g. --prompt-ids 1,2,3');
  return parts.map(Number);
}

/** A real-valued option (`--temperature 0.7`), range-checked by the sampler. */
function realOption(name: string, s: unknown): number | undefined {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (typeof s !== 'string' || s.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got '${String(s)}'`);
  return v;
}

export async function generateCommand(path: string, values: Values, model: { consts: Record<string, number>; quantize?: QuantScheme }, io: CliIO, note: (message: string) => void): Promise<number> {
  if (values['max-new-tokens'] === undefined) throw new UsageError('`moec generate` needs --max-new-tokens N', `moec generate ${path} --prompt-ids 1,2,3 --max-new-tokens 8`);
  if ((values.prompt === undefined) === (values['prompt-ids'] === undefined)) throw new UsageError('`moec generate` needs the prompt once: --prompt-ids 1,2,3 or --prompt TEXT');
  const seed = parseInt32('seed', values.seed, 0, 2 ** 32 - 1);
  const gen = generate(path, {
    maxNewTokens: parseInt32('max-new-tokens', values['max-new-tokens'], 1, 2 ** 31 - 1)!,
    ...(values['prompt-ids'] !== undefined ? { promptIds: promptIds(values['prompt-ids'] as string) } : { prompt: values.prompt as string }),
    backend: (values.backend as string | undefined) ?? 'ref',
    ...(values.target !== undefined ? { target: values.target as string } : {}),
    ...(values.weights !== undefined ? { weights: values.weights as string } : {}),
    ...(values['max-context'] !== undefined ? { maxContext: parseInt32('max-context', values['max-context'], 1, 2 ** 31 - 1) } : {}),
    temperature: realOption('temperature', values.temperature),
    topK: parseInt32('top-k', values['top-k'], 0, 2 ** 31 - 1),
    topP: realOption('top-p', values['top-p']),
    seed,
    consts: model.consts,
    quantize: model.quantize,
    note,
  });
  const tokens: GeneratedToken[] = [];
  for await (const t of gen) {
    tokens.push(t);
    if (!values.json) io.out(`token ${tokens.length}: ${t.id}  logprob ${t.logprob.toFixed(4)}${t.text !== undefined ? `  ${JSON.stringify(t.text)}` : ''}`);
  }
  const s = gen.stats!;
  if (values.json) {
    io.out(JSON.stringify({ schema: GENERATE_SCHEMA, file: path, weights: (values.weights as string | undefined) ?? `seeded (seed ${seed ?? 0})`, tokens, ...s }, null, 1));
    return 0;
  }
  if (s.text !== undefined) io.out(`text: ${JSON.stringify(s.text)}`);
  const rate = (v: number | null): string => (v === null ? 'n/a' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
  io.out(`${s.model} on ${s.backend} (${s.target}): prompt ${s.promptIds.length} tokens, ${s.ids.length} new, context bound ${s.maxContext}`);
  io.out(`prefill: ${s.promptIds.length} tokens in ${s.prefillMs.toFixed(1)} ms, ${rate(s.prefillTokensPerSecond)} tokens/s`);
  io.out(
    s.decodeSteps > 0
      ? `decode: ${s.decodeSteps} steps in ${s.decodeMs.toFixed(1)} ms, ${rate(s.decodeTokensPerSecond)} tokens/s; ${formatBytes(s.weightBytesPerStep)} of weights per step: ${rate(s.decodeGBPerSecond)} GB/s`
      : `decode: no step (the prefill gave the one new token); ${formatBytes(s.weightBytesPerStep)} of weights per step`,
  );
  return 0;
}
