/**
 * @fileoverview Choosing the next token from a row of logits: greedy (the argmax) at
 * temperature 0, else a draw from softmax(logits / temperature) cut to the `topK` most likely
 * tokens and then to the smallest set whose probability reaches `topP` (nucleus sampling),
 * renormalised. The draws come from the seeded counter-based generator of `ir/random.ts`
 * (draw i of seed s is a pure function of (s, i)), so a generation is the same for a seed on
 * every backend and every run.
 */
import { seededValue } from '../../ir/random.ts';
import { UsageError } from '../usage-error.ts';

export interface SamplingOptions {
  /** 0 (default): greedy. Otherwise logits are divided by it before the softmax. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or absent: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or absent: all). */
  topP?: number;
  /** Seed of the draws (default 0). */
  seed?: number;
}

export interface Choice {
  id: number;
  /** The model's log-probability of the token: log softmax of the raw logits (before temperature, top-k, top-p). */
  logprob: number;
}

/** Checks sampling options (a UsageError naming the option) and returns them with defaults. */
export function samplingOptions(o: SamplingOptions): Required<SamplingOptions> {
  const temperature = o.temperature ?? 0;
  const topK = o.topK ?? 0;
  const topP = o.topP ?? 1;
  const seed = o.seed ?? 0;
  if (!(Number.isFinite(temperature) && temperature >= 0)) throw new UsageError(`--temperature must be a number of at least 0, got ${temperature}`, '0 is greedy; 0.7 is a common choice');
  if (!(Number.isSafeInteger(topK) && topK >= 0)) throw new UsageError(`--top-k must be a whole number of at least 0, got ${topK}`, '0 keeps every token');
  if (!(topP > 0 && topP <= 1)) throw new UsageError(`--top-p must be a probability, 0 < p <= 1, got ${topP}`, '1 keeps every token; 0.9 is a common choice');
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new UsageError(`--seed must be a whole number from 0 to 4294967295, got ${seed}`);
  return { temperature, topK, topP, seed };
}

/**
 * The greedy pick: the index of the largest logit, the first of equal ones; a NaN never wins
 * over an earlier value (and one at index 0 is never beaten). The C runner's GREEDY answer
 * (main.c.hbs `greedy_pick`) follows the same rule.
 */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** The stream name the draws are keyed by (with the seed). */
const STREAM = 'moec.generate.sample';

/** Picks tokens one row of logits at a time; draw i uses the i-th value of the seed's stream. */
export class Sampler {
  private readonly o: Required<SamplingOptions>;
  private draws = 0;

  constructor(opts: SamplingOptions = {}) {
    this.o = samplingOptions(opts);
  }

  next(logits: ArrayLike<number>): Choice {
    const n = logits.length;
    const best = argmax(logits);
    // log softmax's normaliser, from the largest logit (no overflow).
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(logits[i] - logits[best]);
    const logprob = (id: number): number => logits[id] - logits[best] - Math.log(sum);
    if (this.o.temperature === 0) return { id: best, logprob: logprob(best) };
    const { id } = this.draw(logits);
    return { id, logprob: logprob(id) };
  }

  /** The candidates after temperature, top-k and top-p, most likely first, with their renormalised probabilities. */
  candidates(logits: ArrayLike<number>): Array<{ id: number; p: number }> {
    const { temperature, topK, topP } = this.o;
    const n = logits.length;
    // Only top-k and top-p need the tokens in order, and top-k only its k (a vocabulary of
    // 150k sorted every step would cost more than a small model's decode step).
    const kept = topK > 0 && topK < n ? largest(logits, topK) : topP < 1 ? largest(logits, n) : Array.from({ length: n }, (_, i) => i);
    let top = -Infinity;
    for (const i of kept) top = Math.max(top, logits[i]);
    const w = kept.map((i) => Math.exp((logits[i] - top) / temperature));
    const total = w.reduce((a, b) => a + b, 0);
    const out: Array<{ id: number; p: number }> = [];
    let mass = 0;
    for (let j = 0; j < kept.length; j++) {
      out.push({ id: kept[j], p: w[j] / total });
      mass += w[j] / total;
      if (mass >= topP) break;
    }
    const norm = out.reduce((a, c) => a + c.p, 0);
    return out.map((c) => ({ id: c.id, p: c.p / norm }));
  }

  private draw(logits: ArrayLike<number>): { id: number } {
    const cands = this.candidates(logits);
    // seededValue is in [-1, 1): a uniform u in [0, 1).
    const u = (seededValue(STREAM, this.o.seed, this.draws++) + 1) / 2;
    let acc = 0;
    for (const c of cands) {
      acc += c.p;
      if (u < acc) return { id: c.id };
    }
    return { id: cands[cands.length - 1].id };
  }
}

/** The ids of the k largest logits, most likely first; a tie puts the lower id first, as the argmax does. */
function largest(logits: ArrayLike<number>, k: number): number[] {
  const before = (a: number, b: number): boolean => logits[a] > logits[b] || (logits[a] === logits[b] && a < b);
  if (k >= logits.length) return Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  const out: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    if (out.length === k && !before(i, out[k - 1])) continue;
    // Binary search for i's place among the kept, then drop the smallest past k.
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(out[mid], i)) lo = mid + 1;
      else hi = mid;
    }
    out.splice(lo, 0, i);
    if (out.length > k) out.pop();
  }
  return out;
}
