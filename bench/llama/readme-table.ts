/**
 * @fileoverview The llama.cpp comparison as the README shows it: one Markdown table from one
 * run of the section (bench/results/llama.json), the parity line under it and the rows that
 * did not run, with why. `npx tsx bench/llama/readme-table.ts [llama.json]` prints it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LlamaRecord, LlamaRow } from './bench.ts';
import { TOLERANCE } from './parity.ts';

const fmt = (x: number | undefined, digits = 1): string => (x === undefined ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(digits));
const pct = (x: number | undefined): string => (x === undefined ? '—' : `${(100 * x).toFixed(0)}%`);
const PRECISION = { f32: 'F32', q8: 'Q8_0' } as const;
/** The weights column: llama.cpp's precision, and at Q8_0 moec's scheme (w8a8: int8 activations too, as Q8_0; i8g32: f32 activations). */
const weightsOf = (r: { precision: LlamaRow['precision']; scheme?: string; impl?: string }): string => (r.precision === 'q8' && r.impl !== 'llama.cpp' ? `Q8_0 / ${r.scheme ?? 'i8g32'}` : PRECISION[r.precision]);

/** How the rows were measured in rounds (llama.cpp and moec C in turn), when they were. */
function roundsText(rec: LlamaRecord): string {
  const n = Math.max(0, ...rec.rows.map((r) => r.rounds ?? 0));
  return n > 1 ? ` over ${n} rounds (llama.cpp and moec C measured in turn, one precision at a time; a row's number is the median of its rounds' medians; Wasm and WGSL in the first round only)` : '';
}

/** moec's ratio to llama.cpp at the same precision and threads (× faster), or —. */
function ratio(r: LlamaRow, rows: LlamaRow[], key: 'prefillTps' | 'decodeTps'): string {
  if (r.impl === 'llama.cpp') return '';
  const peer = rows.find((x) => x.impl === 'llama.cpp' && x.precision === r.precision && x.threads === r.threads && x[key] !== undefined);
  return peer && r[key] !== undefined ? ` (${(r[key]! / peer[key]!).toFixed(2)}×)` : '';
}

export function formatLlamaTable(rec: LlamaRecord): string {
  const s = rec.sizes;
  const lines: string[] = [];
  lines.push(
    `Reduced Qwen3-MoE (D = ${s.D}, ${s.LAYERS} layers, ${s.E} experts top-${s.K}, expert width ${s.F}, ${s.H}/${s.G} heads of ${s.HD}, vocabulary ${s.V}), seeded random weights; ` +
      `${rec.machine.cpu}, ${rec.machine.cores} cores, ${rec.machine.date.slice(0, 10)}${rec.quick ? ' (quick run)' : ''}. ` +
      `Prefill: T = ${rec.prefillTokens} from an empty cache, after one untimed prefill; decode: single-token steps; medians${roundsText(rec)}. ` +
      `A decode step reads ${(rec.decodeBytes.f32 / 1e6).toFixed(0)} MB of F32 weights (${(rec.decodeBytes.q8 / 1e6).toFixed(0)} MB quantized); ` +
      `streaming-read limit ${Object.entries(rec.readGBps).map(([t, g]) => `${g.toFixed(1)} GB/s on ${t} thread${t === '1' ? '' : 's'}`).join(', ')}. (×: against llama.cpp at the same precision and threads.)`,
    '',
  );
  const ran = rec.rows.filter((r) => !r.skipped);
  // While moec C's runner is a process per call, its own forward time differs from the wall time: shown beside.
  const own = ran.some((r) => r.decodeTpsForward !== undefined && r.decodeTps !== undefined && r.decodeTpsForward > 1.5 * r.decodeTps);
  lines.push(
    `| implementation | weights | threads | prefill tok/s | decode tok/s | decode GB/s | of read limit |${own ? ' forward alone: prefill / decode tok/s |' : ''}`,
    `| --- | --- | ---: | ---: | ---: | ---: | ---: |${own ? ' ---: |' : ''}`,
  );
  for (const r of ran)
    lines.push(
      `| ${r.impl} | ${weightsOf(r)} | ${r.threads} | ${fmt(r.prefillTps)}${ratio(r, ran, 'prefillTps')} | ${fmt(r.decodeTps, 2)}${ratio(r, ran, 'decodeTps')} | ${fmt(r.decodeGBps, 2)} | ${pct(r.decodeFracRead)} |` +
        (own ? ` ${r.decodeTpsForward !== undefined ? `${fmt(r.prefillTpsForward)} / ${fmt(r.decodeTpsForward, 2)}` : ''} |` : ''),
    );
  if (own) lines.push('', "moec C's runner is still a process per call that reads every weight each time: its wall-clock tokens/s are that process's; \"forward alone\" is its forward pass as it times it.");
  lines.push('');
  for (const p of rec.parity) {
    const tie = p.tieMargin !== undefined && p.tieMargin < TOLERANCE[p.precision] ? 'a near tie' : 'NOT a near tie: a disagreement';
    const tokens = p.tokensEqual ? 'the greedy tokens identical' : `the greedy tokens identical up to step ${p.firstDiff}, where moec's top two were ${p.tieMargin!.toExponential(1)} of the scale apart (${tie})`;
    const within = p.worst < TOLERANCE[p.precision] ? 'within' : 'OUTSIDE the tolerance:';
    lines.push(`Parity, ${p.against} against llama.cpp, ${weightsOf(p)}: next-token distributions ${within} ${p.worst.toExponential(1)} of the logits' scale over a 7-token prompt and the greedy steps both took from the same tokens (${p.rows} positions), ${tokens}.`);
  }
  if (rec.parity.length === 0) lines.push('Parity: not measured in this run (llama.cpp or moec C did not run).');
  const skipped = rec.rows.filter((r) => r.skipped);
  if (skipped.length) {
    lines.push('', 'Not run:');
    for (const r of skipped) lines.push(`- ${r.impl}, ${weightsOf(r)}, ${r.threads} thread${r.threads === 1 ? '' : 's'}: ${r.skipped}`);
  }
  return lines.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const path = process.argv[2] ?? fileURLToPath(new URL('../results/llama.json', import.meta.url));
  process.stdout.write(formatLlamaTable(JSON.parse(readFileSync(path, 'utf8')) as LlamaRecord));
}
