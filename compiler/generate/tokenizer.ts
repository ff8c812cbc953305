/**
 * @fileoverview Text in and out of `moec generate`: the `tokenizer.json` (and, when present,
 * `tokenizer_config.json`) beside a model's config, run by `@huggingface/tokenizers`, the
 * Hugging Face tokenizers' own pure-JS port (no dependencies, no install scripts, nothing
 * fetched: it is given the parsed files). Loaded on first use, so commands that never see
 * text never load it.
 *
 * Generated ids are decoded as they stream: a token can end inside a UTF-8 character (byte-
 * level BPE), so `TextStream` decodes the whole sequence each time and hands out only the new
 * text, holding back a trailing replacement character until the next token completes it.
 */
import { existsSync } from 'node:fs';
import { isDirectory } from '../model-file.ts';
import { dirname, join } from 'node:path';
import { fail } from '../../ir/diagnostics.ts';
import { readUserText } from '../../ir/user-file.ts';

/** What generation needs of a tokenizer. */
export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

/** The directory a model's tokenizer files lie in: the model directory itself, or the one holding its config.json / .moe / .gguf. */
function modelDir(model: string): string {
  return isDirectory(model) ? model : dirname(model);
}

/** The `tokenizer.json` beside a model (E520 when there is none). */
export function tokenizerPath(model: string): string {
  const path = join(modelDir(model), 'tokenizer.json');
  if (!existsSync(path))
    fail('E520', `no tokenizer.json beside ${model}: --prompt TEXT needs one to turn the text into token ids`, undefined, 'give the prompt as ids (--prompt-ids 1,2,3), or put the model\'s tokenizer.json in its directory');
  return path;
}

function parseJson(path: string): unknown {
  const text = readUserText(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    fail('E521', `${path} is not valid JSON: ${(e as Error).message}`, undefined, 'a Hugging Face tokenizer.json, as the model\'s repository has it');
  }
}

/** Loads the tokenizer beside `model` (a config.json, a model directory, a .moe or .gguf file). */
export async function loadTokenizer(model: string): Promise<TextTokenizer> {
  const path = tokenizerPath(model);
  const json = parseJson(path);
  const configPath = join(dirname(path), 'tokenizer_config.json');
  const config = existsSync(configPath) ? parseJson(configPath) : {};
  if (typeof json !== 'object' || json === null || typeof (json as { model?: unknown }).model !== 'object')
    fail('E521', `${path} has no tokenizer model (a "model" object with its vocab)`, undefined, 'a Hugging Face tokenizer.json, as the model\'s repository has it');
  const { Tokenizer } = await import('@huggingface/tokenizers');
  let tok: InstanceType<typeof Tokenizer>;
  try {
    tok = new Tokenizer(json as object, config as object);
  } catch (e) {
    fail('E521', `${path} is not a tokenizer @huggingface/tokenizers can run: ${(e as Error).message}`, undefined, 'a Hugging Face tokenizer.json, as the model\'s repository has it');
  }
  return {
    encode: (text) => {
      try {
        return tok.encode(text).ids;
      } catch (e) {
        fail('E521', `${path} could not encode the prompt: ${(e as Error).message}`);
      }
    },
    decode: (ids) => tok.decode([...ids]),
  };
}

/** Decodes generated ids as they come: `push` returns the text the new id adds (maybe '' while a character is incomplete). */
export class TextStream {
  private readonly ids: number[] = [];
  private emitted = 0;

  constructor(private readonly tok: TextTokenizer) {}

  push(id: number): string {
    this.ids.push(id);
    const text = this.tok.decode(this.ids);
    // An incomplete UTF-8 sequence decodes to U+FFFD: wait for the token that completes it.
    const ready = text.endsWith('\uFFFD') ? text.slice(0, -1) : text;
    if (ready.length <= this.emitted) return '';
    const out = ready.slice(this.emitted);
    this.emitted = ready.length;
    return out;
  }

  /** Whatever is held back (a trailing incomplete character), at the end. */
  flush(): string {
    const text = this.tok.decode(this.ids);
    const out = text.slice(this.emitted);
    this.emitted = text.length;
    return out;
  }
}
