/**
 * @fileoverview The one signature of passes over the kernel IR (`KProgram`), the
 * counterpart of `GraphPass` (`pass.ts`) one level down: a pure function from a program to
 * a program (it never mutates its input), declared with a name, what must have run before
 * it and a doc comment stating its pre- and postconditions. The walkers kernel passes use
 * (`mapKernels`, `forEachKernel`, `kernelBuffers`) are the IR's: `ir/kernel/walk.ts`.
 */
import type { KProgram } from '../../ir/kernel/kernel.ts';
import type { TargetCaps } from '../target.ts';

export interface KernelPassContext {
  /** The chip being compiled for: the tiler and the planner read only its caps. */
  target: TargetCaps;
  /** Largest token count the program must handle (`--max-tokens`): `T`'s bound. */
  maxTokens: number;
  /** Values for symbolic sizes other than `T` (the planner needs every dim bound). */
  bindings?: Readonly<Record<string, number>>;
}

export interface KernelPass {
  /** kebab-case, the file name: `plan-memory`. */
  name: string;
  /** One line: what it does. */
  summary: string;
  /** Passes (graph or kernel) that must have run before this one. */
  requires: string[];
  run(p: KProgram, ctx: KernelPassContext): KProgram;
}
