/**
 * The attention scale of an imported model follows its head size under `--set`: the importer
 * writes SCALE as a number (head_dim ** -0.5; MLA's (DN + DR) ** -0.5 x mscale²), so `--set
 * HD=16` alone kept the full-size scale (llama.cpp and the numpy reference then disagreed with
 * moec by 1e-3 at reduced sizes).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { importHfConfig } from '../compiler/import/index.ts';
import type { Module } from '../ir/graph/graph.ts';

function scales(m: Module): number[] {
  return m.funcs.flatMap((f) => f.body.filter((n) => n.op === 'attention' || n.op === 'mla_attention').map((n) => n.attrs.scale as number));
}

const load = (name: string, consts?: Record<string, number>) => {
  const path = `examples/hf/${name}/config.json`;
  return importHfConfig(readFileSync(path, 'utf8'), path, consts ? { consts } : {});
};

describe('the imported attention scale under --set', () => {
  it('follows HD for grouped-query attention, unless SCALE is set too', () => {
    expect(scales(load('Qwen3-30B-A3B').module)[0]).toBeCloseTo(128 ** -0.5, 12);
    expect(scales(load('Qwen3-30B-A3B', { HD: 16 }).module)[0]).toBeCloseTo(16 ** -0.5, 12);
    expect(scales(load('Qwen3-30B-A3B', { HD: 16, SCALE: 0.5 }).module)[0]).toBe(0.5);
    expect(scales(load('Qwen3-30B-A3B', { D: 64 }).module)[0]).toBeCloseTo(128 ** -0.5, 12);
  });

  it('follows DN + DR for MLA, keeping YaRN mscale² (DeepSeek-V3)', () => {
    const full = scales(load('DeepSeek-V3').module)[0];
    const small = scales(load('DeepSeek-V3', { DN: 16, DR: 8 }).module)[0];
    expect(small / full).toBeCloseTo(Math.sqrt((128 + 64) / (16 + 8)), 12);
  });
});
