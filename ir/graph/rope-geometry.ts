/**
 * @fileoverview What a rope kernel's loops need from the op (the same for every renderer):
 * heads and head dim of x [T, H, Dh], the rotary width and the pair layout. A pair i is
 * features (a, b) = (2i, 2i+1) interleaved, (i, i + rd/2) in HF's rotate_half layout; the
 * features past rd pass through.
 */
import type { Dim } from '../dims.ts';
import type { Attrs } from './graph.ts';

export interface RopeGeometry {
  heads: number;
  dh: number;
  rd: number;
  half: number;
  interleaved: boolean;
  /** Feature b of pair i is a + this (1 interleaved, rd/2 half); a is i times `aStride`. */
  bOffset: number;
  aStride: number;
}

export function ropeGeometry(attrs: Attrs, xShape: readonly Dim[]): RopeGeometry {
  const heads = xShape[1] as number;
  const dh = xShape[2] as number;
  const rd = (attrs.rotary_dim as number) || dh;
  const interleaved = attrs.layout === 'interleaved';
  return { heads, dh, rd, half: rd / 2, interleaved, bOffset: interleaved ? 1 : rd / 2, aStride: interleaved ? 2 : 1 };
}
