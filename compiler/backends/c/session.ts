/**
 * @fileoverview The persistent C runner (`FILE_main --serve WEIGHTS`, targets/c/main.c.hbs):
 * one child process per loaded model that reads the weights once, keeps the arena and the KV
 * cache region, and answers requests over its stdin and stdout. A decode step (T = 1) then
 * costs a pipe round trip, not a process start and a read of the whole weights file.
 *
 * Requests go out in order and only FORWARD is answered (with an answer of a size known
 * when it is sent), so `reset` and `loadCaches` are plain writes and need no wait, and
 * forwards called concurrently each get their own answer. The child is started on the first request, killed by
 * `close` and, through `trackChild`, when moec exits or dies of a signal; an idle child does
 * not keep Node's event loop alive (a program that forgets `dispose` still exits).
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { fail } from '../../../ir/diagnostics.ts';
import { trackChild } from '../../io/output.ts';

/** The request codes of `serve` in main.c.hbs. */
export const REQUEST = { forward: 1, reset: 2, cache: 3, greedy: 4, greedyLogprob: 5 } as const;

/** Piped stdio are sockets: `ref`/`unref` let an idle runner not hold the event loop. */
type Child = ChildProcessByStdio<Writable, Socket, Socket>;

/** Signals that come from outside (an operator, the out-of-memory killer), not from a bug in the runner. */
const KILLED = new Set(['SIGKILL', 'SIGTERM', 'SIGHUP', 'SIGINT']);

export class CRunnerSession {
  private child?: Child;
  private untrack?: () => void;
  private chunks: Buffer[] = [];
  private have = 0;
  /** Answers owed, in the order their requests went out (each of a size known when it was sent). */
  private waiting: Array<{ parts: number[]; bytes: number; resolve: (b: ArrayBuffer[]) => void; reject: (e: Error) => void }> = [];
  private stderr = '';
  /** Why the last child ended while requests were owed; every request fails with it until `restart`. */
  private dead?: () => never;

  constructor(
    private readonly exe: string,
    private readonly weightsPath: string,
    /** What the runner is, for messages (`the C runner of MODEL`). */
    private readonly what: string,
    private readonly env: () => Record<string, string>,
  ) {}

  /** The running child's process id (undefined before the first request and after `close`). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Sends one request: a header of int32s and raw payloads, in order after any earlier one. */
  send(header: number[], payloads: Uint8Array[] = []): void {
    const c = this.running();
    c.stdin.write(new Uint8Array(Int32Array.from(header).buffer));
    for (const p of payloads) c.stdin.write(p);
  }

  /**
   * Sends a request whose answer is parts of the given byte sizes, and the answer: one
   * ArrayBuffer a part, of exactly its size. Called in the order the requests are to go out
   * (synchronously), so concurrent callers each get their own answer.
   */
  ask(header: number[], payloads: Uint8Array[], parts: number[]): Promise<ArrayBuffer[]> {
    this.send(header, payloads);
    const c = this.running();
    return new Promise<ArrayBuffer[]>((resolve, reject) => {
      this.waiting.push({ parts, bytes: parts.reduce((a, b) => a + b, 0), resolve, reject });
      // Keep the event loop alive for the answers only; an idle runner must not hold moec up.
      c.stdout.ref();
      this.deliver();
    });
  }

  /**
   * Forgets a runner that died, so the next request starts a new one (with an empty cache:
   * only after `reset` or a load of the whole cache is that the state the caller expects).
   */
  restart(): void {
    this.dead = undefined;
  }

  /** Ends the child (SIGKILL: its state is not wanted any more) and stops tracking it. */
  close(): void {
    const c = this.child;
    this.child = undefined;
    this.untrack?.();
    this.untrack = undefined;
    if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }

  private running(): Child {
    if (this.dead) this.dead();
    if (this.child) return this.child;
    const c = spawn(this.exe, ['--serve', this.weightsPath], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...this.env() } }) as unknown as Child;
    this.child = c;
    this.chunks = [];
    this.have = 0;
    this.stderr = '';
    this.untrack = trackChild(c);
    // A write to a runner that just died is EPIPE: the exit handler reports why it died.
    c.stdin.on('error', () => {});
    c.stdout.on('data', (b: Buffer) => {
      this.chunks.push(b);
      this.have += b.length;
      this.deliver();
    });
    c.stderr.on('data', (b: Buffer) => {
      if (this.stderr.length < 8000) this.stderr += b.toString('utf8');
    });
    c.on('error', (e) => this.ended(c, null, null, e));
    c.on('close', (code, signal) => this.ended(c, code, signal));
    c.unref();
    c.stdout.unref();
    c.stderr.unref();
    (c.stdin as Writable & { unref?: () => void }).unref?.();
    return c;
  }

  private deliver(): void {
    while (this.waiting.length > 0 && this.have >= this.waiting[0].bytes) {
      const w = this.waiting.shift()!;
      // Each part copied once, straight from the pipe's chunks: a prefill's answer is all its
      // logits (33 MB at T = 256, V = 32000), and a concatenation and then a copy per output
      // took ~35 ms of a ~60 ms round trip besides the forward.
      const out = w.parts.map((n) => new Uint8Array(n));
      let p = 0;
      let at = 0;
      while (p < out.length) {
        if (at === out[p].length) {
          p++;
          at = 0;
          continue;
        }
        const c = this.chunks[0];
        const n = Math.min(c.length, out[p].length - at);
        out[p].set(c.subarray(0, n), at);
        at += n;
        if (n === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(n);
      }
      this.have -= w.bytes;
      w.resolve(out.map((u) => u.buffer as ArrayBuffer));
    }
    if (this.waiting.length === 0) this.child?.stdout.unref();
  }

  /** The child ended: fine after `close`; otherwise every owed and later answer fails with why. */
  private ended(c: Child, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    if (this.child !== c) return; // closed on purpose, or an earlier child
    this.close();
    const pid = c.pid;
    const stderr = this.stderr.trim();
    const why = (): never => {
      if (error) fail('E507', `cannot start ${this.what} (${this.exe}): ${error.message}`, undefined, 'the executable in the build cache is gone or not runnable: remove the cache directory and run again');
      if (signal !== null && KILLED.has(signal))
        fail('E513', `${this.what} (pid ${pid}) was killed by ${signal}`, undefined, 'something outside moec ended it (kill, the out-of-memory killer); its KV cache is lost: reset the model (or load the caches again) to start a new runner');
      // A crash, a failed guard or a sanitizer's report: a bug in the generated code.
      throw new Error(`C backend: ${this.what} (pid ${pid}) ${signal !== null ? `died of ${signal}` : `exited with ${code}`}${stderr ? `:\n${stderr.slice(0, 4000)}` : ''}`);
    };
    // No passOnChildSignal: a ^C at the terminal reaches moec too, whose own handler ends it;
    // a signal sent to the runner alone is reported like a kill.
    this.dead = why;
    const owed = this.waiting;
    this.waiting = [];
    for (const w of owed) {
      try {
        why();
      } catch (e) {
        w.reject(e as Error);
      }
    }
  }
}
