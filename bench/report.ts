/**
 * @fileoverview The text report: machine and limits, the peer check, the work per case,
 * and the results table (medians, spread, rates, fractions of each runner's measured limits
 * and ratios against the peers), in plain aligned columns that read well in a terminal, a
 * log or a commit message.
 */
import { fmtNumber, formatTable } from '../compiler/format.ts';
import type { BenchRecord, CaseRecord } from './record.ts';
import { packHeading, packTable } from './pack-throughput.ts';

function pct(x: number | undefined): string {
  if (x === undefined) return '';
  const p = x * 100;
  return p >= 10 ? `${p.toFixed(0)}%` : p >= 1 ? `${p.toFixed(1)}%` : `${p.toFixed(2)}%`;
}

/** Aligned columns under a header and a rule: numbers right-aligned, text left-aligned. */
function table(header: string[], rows: string[][], rightAligned: boolean[]): string {
  return formatTable([header, ...rows], { right: (i) => rightAligned[i], rule: true }).join('\n');
}

/** The whole report, ending with a newline. */
export function formatReport(r: BenchRecord, written: string[]): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`moec benchmark${r.quick ? ' (--quick)' : ''}, ${m.date}`);
  out.push(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}; load average ${m.loadBefore.toFixed(2)} before, ${m.loadAfter.toFixed(2)} after`);
  out.push('');
  out.push('limits of this machine, measured at the start and the end of this run (each the best of a few repetitions; the better one counts):');
  const rows: string[][] = [];
  const row = (what: string, pick: (l: BenchRecord['limits']) => number | undefined): void => {
    rows.push([what, fmtNumber(pick(r.limits)), fmtNumber(pick(r.limitsStart)), fmtNumber(pick(r.limitsEnd))]);
  };
  const js = r.limits.js;
  row('JS scalar multiply-add loop, GFLOP/s', (l) => l.js.scalarGflops);
  row(`JS streaming sum over ${js.arrayMiB} MiB Float32Array, GB/s`, (l) => l.js.streamGBps);
  row('JS TypedArray#set copy (read + write), GB/s', (l) => l.js.copyGBps);
  const np = r.limits.numpy;
  if (np) {
    row(`NumPy sgemm ${np.sgemmN}³, GFLOP/s`, (l) => l.numpy?.sgemmGflops);
    row('NumPy sum over 256 MiB float32, GB/s', (l) => l.numpy?.sumGBps);
    row('NumPy copyto 256 MiB (read + write), GB/s', (l) => l.numpy?.copyGBps);
  }
  const nat = r.limits.native;
  if (nat) {
    row(`C ${nat.fmaIsa} FMA loop, ${nat.threads} threads, GFLOP/s`, (l) => l.native?.fmaGflops);
    row(`C STREAM triad 3 x ${nat.arrayMiB} MiB, ${nat.threads} threads, GB/s`, (l) => l.native?.triadGBps);
    row(`C streaming read ${nat.arrayMiB} MiB, ${nat.threads} threads, GB/s`, (l) => l.native?.readGBps);
  }
  out.push(indent(table(['limit', 'best', 'start', 'end'], rows, [false, true, true, true])));
  if (!np) out.push(`  NumPy: not measured: ${r.limits.numpyError ?? 'unavailable'}`);
  if (!r.limits.native) out.push(`  native: not measured: ${r.limits.nativeError ?? 'unavailable'}`);
  out.push('');
  out.push('runners (% FLOP and % BW below are fractions of the runner\'s own roof; % roof = the roofline minimum, max(FLOPs / peak, weight bytes / bandwidth), over the median):');
  for (const ru of r.runners) {
    out.push(`  ${ru.id.padEnd(9)} ${ru.about}`);
    if (ru.roof) out.push(`  ${''.padEnd(9)} roof: ${fmtNumber(ru.roof.gflops)} GFLOP/s (${ru.roof.computeFrom}), ${fmtNumber(ru.roof.gbps)} GB/s (${ru.roof.bandwidthFrom})`);
  }
  out.push('');
  if (r.checks.length) {
    out.push(`peer check: NumPy vs moec-ref on the same weights and input, |difference| <= ${r.checks[0].tolerance} everywhere:`);
    for (const c of r.checks) {
      const detail = c.maxAbsErr !== undefined ? `max |diff| ${c.maxAbsErr.toExponential(1)} (max |y| ${fmtNumber(c.maxAbs)})` : '';
      out.push(`  ${c.workload.padEnd(14)} T=${String(c.tokens).padEnd(4)} ${c.status}  ${[detail, c.note].filter(Boolean).join('; ')}`);
    }
    out.push('');
  }
  out.push('work per forward, counted from the IR (conventions in bench/README.md):');
  out.push(
    indent(
      table(
        ['workload', 'T', 'GFLOP', 'MB', 'weights MB', 'activations MB', 'FLOP/B'],
        r.cases.map((c) => [c.workload, String(c.tokens), fmtNumber(c.cost.flops / 1e9), fmtNumber(c.cost.bytes / 1e6), fmtNumber(c.cost.weightBytes / 1e6), fmtNumber(c.cost.activationBytes / 1e6), fmtNumber(c.intensity)]),
        [false, true, true, true, true, true, true],
      ),
    ),
  );
  out.push('');
  out.push(`results: median of n timed runs after one warmup; IQR = first to third quartile; x${r.peers.join(', x')} = this median / the peer's median`);
  out.push(indent(resultsTable(r)));
  const variants = variantRows(r);
  if (variants.length) {
    out.push('');
    out.push('runners with their own weights (quantized: charged their codes + scales), against the runner each is a variant of, in this run:');
    out.push(indent(table(['workload', 'T', 'impl', 'weights MB', 'median ms', 'GB/s', '% BW', '% roof', 'speed-up'], variants, [false, true, false, true, true, true, true, true, true])));
  }
  const splits = splitRows(r);
  if (splits.length) {
    out.push('');
    out.push('C per-kernel split: each kernel\'s mean ms per run in a timing build (the same code with a clock read around each kernel; caches flushed before each run), and its share of their sum:');
    out.push(...splits.map((l) => `  ${l}`));
  }
  if (r.pack) {
    out.push('');
    out.push(packHeading(r.pack));
    out.push(...packTable(r.pack).map((l) => `  ${l}`));
  }
  const problems = r.cases.flatMap((c) => c.results.filter((x) => x.skipped || x.error).map((x) => `  ${c.workload} T=${c.tokens} ${x.runner}: ${x.skipped ? `skipped: ${x.skipped}` : `error: ${x.error}`}`));
  if (problems.length || r.errors.length) {
    out.push('');
    out.push('not measured:');
    out.push(...r.errors.map((e) => `  ${e}`), ...dedupe(problems));
  }
  out.push('');
  out.push(`${r.wallSeconds.toFixed(0)} s in all${written.length ? `; wrote ${written.join(', ')}` : ''}`);
  return out.join('\n') + '\n';
}

function resultsTable(r: BenchRecord): string {
  const header = ['workload', 'T', 'impl', 'n', 'median ms', 'IQR ms', 'min-max ms', 'GFLOP/s', 'GB/s', '% FLOP', '% BW', '% roof', ...r.peers.map((p) => `x${p}`)];
  const rows = r.cases.flatMap((c) => caseRows(c, r.peers));
  return table(header, rows, header.map((_, i) => i >= 3 || i === 1));
}

function caseRows(c: CaseRecord, peers: string[]): string[][] {
  return c.results.map((x) => {
    const t = x.timing;
    const head = [c.workload, String(c.tokens), x.runner];
    if (!t) return [...head, '', x.skipped ? 'skipped' : 'error'];
    return [
      ...head,
      String(t.samplesMs.length),
      fmtNumber(t.medianMs),
      `${fmtNumber(t.q1Ms)}-${fmtNumber(t.q3Ms)}`,
      `${fmtNumber(t.minMs)}-${fmtNumber(t.maxMs)}`,
      fmtNumber(x.gflops),
      fmtNumber(x.gbps),
      pct(x.fracCompute),
      pct(x.fracBandwidth),
      pct(x.fracRoofline),
      ...peers.map((p) => (p === x.runner || x.ratios?.[p] === undefined ? '' : fmtNumber(x.ratios[p]))),
    ];
  });
}

/** One row per result with its own cost (a quantized runner): its weight bytes, rates and speed-up over its baseline. */
function variantRows(r: BenchRecord): string[][] {
  const baselines = new Map(r.runners.map((ru) => [ru.id, ru.baseline]));
  return r.cases.flatMap((c) =>
    c.results
      .filter((x) => x.cost && x.timing)
      .map((x) => [c.workload, String(c.tokens), x.runner, fmtNumber(x.cost!.weightBytes / 1e6), fmtNumber(x.timing!.medianMs), fmtNumber(x.gbps), pct(x.fracBandwidth), pct(x.fracRoofline), x.speedup === undefined ? '' : `${fmtNumber(x.speedup)}x ${baselines.get(x.runner)}`]),
  );
}

/** One line per case and runner with a per-kernel split (`Timing.kernelsMs`). */
function splitRows(r: BenchRecord): string[] {
  return r.cases.flatMap((c) =>
    c.results
      .filter((x) => x.timing?.kernelsMs)
      .map((x) => {
        const ks = Object.entries(x.timing!.kernelsMs!);
        const sum = ks.reduce((a, [, ms]) => a + ms, 0);
        const parts = ks.map(([k, ms]) => `${k} ${fmtNumber(ms)} (${sum > 0 ? ((100 * ms) / sum).toFixed(0) : '0'}%)`);
        return `${c.workload.padEnd(14)} T=${String(c.tokens).padEnd(4)} ${x.runner.padEnd(10)} ${parts.join(', ')}`;
      }),
  );
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

function dedupe(lines: string[]): string[] {
  return [...new Set(lines)];
}
