/**
 * @fileoverview The one signature every pass has. A pass is a pure function from a module
 * to a module (it never mutates its input), declared with a name, what it requires to have
 * run before it, and a doc comment stating its pre- and postconditions.
 */
import type { Module } from '../../ir/graph/graph.ts';
import type { QuantScheme } from '../../ir/quant.ts';
import type { TargetCaps } from '../target.ts';

export interface PassContext {
  /** The chip being compiled for (absent for target-independent runs such as `moec ir`). */
  target?: TargetCaps;
  /** Largest token count the compiled program must handle (`--max-tokens`). */
  maxTokens?: number;
  /** `--quantize`: the scheme the `quantize` pass stores GEMM weights in (absent: f32 stays). */
  quantize?: QuantScheme;
}

export interface GraphPass {
  /** kebab-case, the file name: `fuse-router`. */
  name: string;
  /** One line: what it does. */
  summary: string;
  /** Passes that must have run before this one. */
  requires: string[];
  run(m: Module, ctx: PassContext): Module;
}
