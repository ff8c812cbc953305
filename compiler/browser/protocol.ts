/**
 * @fileoverview The messages between a page's `InferenceSession` and the session worker
 * (`worker.ts`). Every request carries an id that its one reply repeats; replies carry
 * plain data only (errors as name and message, a MoecError with its diagnostics), and the
 * page transfers input buffers, the worker output buffers, so nothing large is copied twice.
 *
 *   page → worker   { id, op: 'create', source, provider, threads }
 *                   { id, op: 'run', feeds, T, L? }
 *                   { id, op: 'reset' }
 *                   { id, op: 'release' }
 *   worker → page   { id, ok: true, result }     result: EngineInfo | RunResult | null
 *                   { id, ok: false, error: { name, message, diagnostics? } }
 */
import type { Diagnostic } from '../../ir/diagnostics.ts';
import type { Engine, ExecutionProvider, SessionSource } from './engine.ts';

export type Request =
  | { id: number; op: 'create'; source: SessionSource; provider: ExecutionProvider; threads?: number }
  | { id: number; op: 'run'; feeds: Record<string, Float32Array>; T: number; L?: number }
  | { id: number; op: 'reset' }
  | { id: number; op: 'release' };

/** A request before the session numbers it. */
export type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

/** An engine as data: everything but its functions. */
export type EngineInfo = Pick<Engine, 'provider' | 'description' | 'threads' | 'maxTokens' | 'maxContext' | 'inputs' | 'outputs'>;

export interface RunResult {
  outputs: Record<string, Float32Array>;
  /** The forward's time in the worker, ms (no messaging). */
  ms: number;
}

export interface WireError {
  name: string;
  message: string;
  /** A MoecError's diagnostics (plain data: codes, messages, spans, hints). */
  diagnostics?: Diagnostic[];
}

export type Reply = { id: number; ok: true; result: EngineInfo | RunResult | null } | { id: number; ok: false; error: WireError };

/** The buffers of a record of arrays, to transfer instead of copy. */
export function buffersOf(arrays: Record<string, Float32Array>): ArrayBuffer[] {
  return [...new Set(Object.values(arrays).map((a) => a.buffer as ArrayBuffer))];
}
