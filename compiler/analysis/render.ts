/**
 * @fileoverview The terminal form of an `Analysis`: one screen, sections in the order a
 * reader asks (how big, how much work per token, how many bytes, does it fit, what bounds
 * each kernel).
 */
import { fmtBytes, fmtSI, fmtSeconds, formatCount, formatTable } from '../format.ts';
import type { Analysis } from './analyze.ts';
import { renderCluster } from './cluster.ts';
import type { TrainingCost } from './train.ts';

/** Kernels below this share of the time are summed into one row of the table. */
const MINOR_SHARE = 0.001;

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** Left-aligned first column, right-aligned numbers. */
function grid(rows: string[][]): string[] {
  return formatTable(rows, { right: (i) => i > 0, indent: '  ' });
}

export function renderAnalysis(a: Analysis): string {
  const { tokens, context, dtype } = a.options;
  const out: string[] = [];
  out.push(`model ${a.model}${a.options.target ? `  on ${a.options.target}` : ''}  (N = ${tokens} token${tokens === 1 ? '' : 's'} per pass, context L = ${context}, weights in ${dtype})`);
  out.push('');
  out.push('parameters');
  out.push(
    ...grid([
      ['component', 'total', 'active/token'],
      ...a.params.components.map((c) => [c.component.replace('_', ' '), formatCount(c.params), formatCount(c.activePerToken)]),
      ['all', formatCount(a.params.total), `${formatCount(a.params.activePerToken)} (${pct(a.params.activeFraction)})`],
    ]),
  );
  const imp = a.imported;
  if (imp)
    out.push(
      `  (${imp.architecture}${imp.mtp ? `; ${imp.mtp.layers} multi-token-prediction layer${imp.mtp.layers === 1 ? '' : 's'} left out of the main model: ${formatCount(imp.mtp.params)} parameters of their own` : ''}` +
        `${imp.quantization ? `; checkpoint stored as ${imp.quantization}` : ''})`,
    );
  out.push('');
  const f = a.flops;
  out.push('FLOPs per token');
  out.push(
    ...grid([
      [`decode (token ${context} of its context)`, fmtSI(f.decode, 'FLOP')],
      [`prefill (each of ${context} tokens)`, fmtSI(f.prefill, 'FLOP')],
      ['dense equivalent (every expert active)', fmtSI(f.denseEquivalent, 'FLOP')],
      ['saved by routing', pct(f.saving)],
    ]),
  );
  out.push('');
  const w = a.bytes.weights;
  const kv = a.bytes.kvCache;
  out.push(`bytes per token (${dtype})`);
  out.push(
    ...grid([
      [`weights touched (batch of ${tokens}, uniform routing)`, `${fmtBytes(w.perToken)}  (batch ${fmtBytes(w.batch)} of ${fmtBytes(w.total)})`],
      [
        `KV cache (${kv.layers} layers, ${kv.elementBytes}-byte values)`,
        kv.layers > 0 ? `${fmtBytes(kv.bytesPerToken)} per token, ${fmtBytes(kv.bytesForContext)} for L = ${context}` : 'none (no attention)',
      ],
    ]),
  );
  out.push('');
  const cap = a.memory.capacityBytes;
  out.push(cap !== null ? `weight memory (${a.options.target}: ${fmtBytes(cap)} per chip)` : 'weight memory (give --target for chips)');
  out.push(
    ...grid([
      ['dtype', 'weights', 'of which scales', ...(cap !== null ? ['chips', `chips with KV (L = ${context})`] : [])],
      ...a.memory.rows.map((r) => [
        r.dtype === dtype ? `${r.dtype} *` : r.dtype, fmtBytes(r.bytes), r.scaleBytes > 0 ? fmtBytes(r.scaleBytes) : '-',
        ...(cap !== null ? [String(r.chips), String(r.chipsWithKv)] : []),
      ]),
    ]),
  );
  const k = a.kernels;
  if (k) {
    out.push('');
    out.push(`kernels on ${k.target} at T = ${k.tokens}, weights in ${k.dtype} as compiled (cost model: roofline per memory level; peak ${fmtSI(k.roofs.peakFlops, 'FLOP/s')}, ` +
      `${k.roofs.bandwidths.map((b) => `${b.level} ${fmtSI(b.bytesPerSecond, 'B/s')}`).join(', ')}; ridge ${k.roofs.ridge.toFixed(1)} FLOP/B)`);
    const total = k.total.seconds;
    // kernels under 0.1% of the time (reshapes, slices, norms at decode) are one summed row
    // here; --json lists every kernel
    const shown = k.kernels.filter((r) => total === 0 || r.seconds >= MINOR_SHARE * total);
    const minor = k.kernels.filter((r) => !shown.includes(r));
    const sum = (rs: typeof minor, f: (r: (typeof minor)[number]) => number): number => rs.reduce((a, r) => a + f(r), 0);
    const intensity = (flops: number, bytes: number): string => (bytes > 0 ? (flops / bytes).toFixed(1) : '-');
    out.push(
      ...grid([
        ['kernel', 'runs', 'FLOPs', 'bytes', 'FLOP/B', 'bound', 'time', 'share'],
        ...shown.map((r) => [
          r.label + (r.path ? ` (${r.path})` : ''), String(r.times), fmtSI(r.flops, ''), fmtBytes(r.bytes), intensity(r.flops, r.bytes),
          r.bound === 'compute' ? 'compute' : `memory (${r.boundBy})`, fmtSeconds(r.seconds), total > 0 ? pct(r.seconds / total) : '-',
        ]),
        ...(minor.length > 0
          ? [[`${minor.length} more under ${pct(MINOR_SHARE)} each`, '', fmtSI(sum(minor, (r) => r.flops), ''), fmtBytes(sum(minor, (r) => r.bytes)), '', '', fmtSeconds(sum(minor, (r) => r.seconds)), pct(sum(minor, (r) => r.seconds) / total)]]
          : []),
        ['total', '', fmtSI(k.total.flops, ''), fmtBytes(k.total.bytes), intensity(k.total.flops, k.total.bytes), '', fmtSeconds(total), ''],
      ]),
    );
    out.push(`  per token: ${fmtSI(k.perToken.flops, 'FLOP')}, ${fmtBytes(k.perToken.bytes)} from ${k.roofs.bandwidths[k.roofs.bandwidths.length - 1]?.level ?? 'memory'}, ${fmtSeconds(k.perToken.seconds)} predicted`);
  }
  if (a.cluster) out.push('', ...renderCluster(a.cluster));
  if (a.training) out.push('', ...renderTraining(a.training));
  return out.join('\n');
}

function renderTraining(t: TrainingCost): string[] {
  const f = t.forwardPerToken;
  return [
    `training on ${formatCount(t.tokens)} tokens at context ${t.context} on ${t.chip} (MFU ${t.mfu} of the ${t.peakDType} peak ${fmtSI(t.peakFlops, 'FLOP/s')})`,
    ...grid([
      ['forward per token', `${fmtSI(f.total, 'FLOP')}  (GEMMs ${fmtSI(f.gemm, 'FLOP')}, attention ${fmtSI(f.attention, 'FLOP')}, rest ${fmtSI(f.other, 'FLOP')})`],
      ['forward + backward per token (3x)', fmtSI(t.flopsPerToken, 'FLOP')],
      ['training FLOPs', t.flops.toExponential(3)],
      ['chip-hours', `${formatCount(t.chipHours)}`],
    ]),
  ];
}
