/**
 * @fileoverview `moec analyze --svg`: the roofline of a model on a target as a standalone
 * SVG. Log-log: arithmetic intensity (FLOP per byte from main memory) across, attained
 * FLOP/s (the cost model's FLOPs / predicted time) up. The target's compute roof is the
 * flat line; each memory level's bandwidth is a sloped roof (main memory solid, inner
 * levels dashed and lighter). Each kernel is a point labelled with its name, coloured by
 * what bounds it and sized by its share of the predicted time; kernels that read nothing
 * from main memory sit at the right edge.
 */
import type { KernelAnalysis } from './kernels.ts';
import { fmtSI } from '../format.ts';
import { type PlotFrame, coord as n, decades, escapeXml as esc, logPlot, svgAxisTitles, svgGrid, svgHeader } from './roofline-plot.ts';

const FRAME: PlotFrame = { width: 900, height: 600, margin: { left: 90, right: 40, top: 64, bottom: 64 } };
const M = FRAME.margin;
const PW = FRAME.width - M.left - M.right;
const PH = FRAME.height - M.top - M.bottom;
/** Labels drawn at most (the groups of points with the largest share of the time). */
const MAX_LABELS = 12;
const BOUND_COLOUR = { compute: '#d1495b', memory: '#2e86ab' };

export interface RooflinePoint {
  label: string;
  x: number;
  y: number;
  bound: 'compute' | 'memory';
  /** No bytes from main memory: drawn at the right edge. */
  offscale: boolean;
  /** Share of the forward pass's predicted time (sets the point's size). */
  share: number;
}

/** The points the chart draws, one per kernel that does any arithmetic. */
export function rooflinePoints(k: KernelAnalysis): RooflinePoint[] {
  const withFlops = k.kernels.filter((r) => r.flops > 0 && r.seconds > 0);
  const finite = withFlops.filter((r) => r.intensity !== null).map((r) => r.intensity!);
  const right = Math.max(k.roofs.ridge * 10, ...finite.map((x) => x * 2));
  return withFlops.map((r) => ({
    label: r.label, x: r.intensity ?? right, y: r.flopsPerSecond, bound: r.bound, offscale: r.intensity === null,
    share: k.total.seconds > 0 ? r.seconds / k.total.seconds : 0,
  }));
}

/** Axis ticks at powers of ten: 0.01, 1, 100, 10K, 1G. */
function tick(v: number): string {
  if (v < 1) return String(Number(v.toPrecision(1)));
  return fmtSI(v, '').replace(/\.0+ | /g, '');
}

export function rooflineSvg(k: KernelAnalysis, title: string): string {
  const pts = rooflinePoints(k);
  const peak = k.roofs.peakFlops;
  const bws = k.roofs.bandwidths;
  const mainBw = bws[bws.length - 1]?.bytesPerSecond ?? peak;
  // whole decades around the points, the ridge and the compute roof
  const xs = [...pts.map((p) => p.x), k.roofs.ridge];
  const ys = [...pts.map((p) => p.y), peak, mainBw * Math.min(...xs)];
  const plot = logPlot(FRAME, decades(Math.min(...xs), Math.max(...xs), 2), decades(Math.min(...ys), peak, 2, 3));
  const { sx, sy } = plot;
  const s: string[] = [];
  s.push(...svgHeader(plot, title, 'Roofs: the target sheet. Points: kernels at FLOPs / predicted time, area ~ share of time; red compute-, blue memory-bound.', true));
  s.push(...svgGrid(plot, { minor: false, major: 'stroke="#ddd"', tick: (e) => tick(10 ** e) }));
  s.push(...svgAxisTitles(plot, 'arithmetic intensity (FLOP / byte from main memory)', 'FLOP/s', 20));
  // roofs: each bandwidth slope up to where it meets the compute roof, then the compute roof
  const xMin = 10 ** plot.xLo;
  const xMax = 10 ** plot.xHi;
  bws.forEach((b, i) => {
    const isMain = i === bws.length - 1;
    const ridge = peak / b.bytesPerSecond;
    const d = `M${n(sx(xMin))},${n(sy(b.bytesPerSecond * xMin))} L${n(sx(Math.min(ridge, xMax)))},${n(sy(b.bytesPerSecond * Math.min(ridge, xMax)))}`;
    s.push(`<path class="roof bandwidth" d="${d}" fill="none" stroke="${isMain ? '#333' : '#999'}" stroke-width="${isMain ? 2 : 1}"${isMain ? '' : ' stroke-dasharray="6 4"'} clip-path="url(#plot)"/>`);
    // legend, top left of the plot (a roofline's empty corner), main memory first
    const y = M.top + 18 + (bws.length - 1 - i) * 16;
    s.push(`<line x1="${M.left + 10}" y1="${y - 4}" x2="${M.left + 40}" y2="${y - 4}" stroke="${isMain ? '#333' : '#999'}" stroke-width="${isMain ? 2 : 1}"${isMain ? '' : ' stroke-dasharray="6 4"'}/>`);
    s.push(`<text x="${M.left + 46}" y="${y}" font-size="11" fill="${isMain ? '#333' : '#777'}">${esc(`${b.level} ${fmtSI(b.bytesPerSecond, 'B/s')}${isMain ? ' (main memory: the x axis counts its bytes)' : ''}`)}</text>`);
  });
  s.push(`<path class="roof compute" d="M${n(sx(peak / mainBw))},${n(sy(peak))} L${n(sx(xMax))},${n(sy(peak))}" fill="none" stroke="#333" stroke-width="2" clip-path="url(#plot)"/>`);
  s.push(`<text x="${M.left + PW - 6}" y="${n(sy(peak) - 6)}" font-size="11" text-anchor="end">${esc(`peak ${fmtSI(peak, 'FLOP/s')}`)}</text>`);
  // kernels: every point drawn; points that coincide share one label (the largest kernel's
  // name and how many more), and only the MAX_LABELS groups with the most time are labelled
  const groups = new Map<string, RooflinePoint[]>();
  for (const p of pts) {
    const key = `${Math.round(sx(p.x) / 4)},${Math.round(sy(p.y) / 4)}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  const labelled = [...groups.values()]
    .map((g) => g.sort((a, b) => b.share - a.share))
    .sort((a, b) => b.reduce((x, p) => x + p.share, 0) - a.reduce((x, p) => x + p.share, 0))
    .slice(0, MAX_LABELS);
  for (const p of pts) {
    const r = 4 + 12 * Math.sqrt(p.share);
    s.push(`<circle class="kernel" data-label="${esc(p.label)}" cx="${n(sx(p.x))}" cy="${n(sy(p.y))}" r="${n(r)}" fill="${BOUND_COLOUR[p.bound]}" fill-opacity="0.85" stroke="white"/>`);
  }
  const placed: Array<{ x: number; y: number }> = [];
  for (const g of labelled) {
    const p = g[0];
    const cx = sx(p.x);
    const cy = sy(p.y);
    const r = 4 + 12 * Math.sqrt(p.share);
    let ly = cy + 4;
    while (placed.some((q) => Math.abs(q.x - cx) < 140 && Math.abs(q.y - ly) < 13)) ly += 13;
    if (ly > M.top + PH - 4) continue;
    placed.push({ x: cx, y: ly });
    const text = p.label + (g.length > 1 ? ` +${g.length - 1} more` : '') + (p.offscale ? ' (no main-memory bytes)' : '');
    // labels of points near the right edge go to their left
    const left = cx + r + 4 + text.length * 6 > M.left + PW;
    s.push(`<text x="${n(left ? cx - r - 4 : cx + r + 4)}" y="${n(ly)}" font-size="11" fill="${BOUND_COLOUR[p.bound]}"${left ? ' text-anchor="end"' : ''}>${esc(text)}</text>`);
  }
  s.push('</svg>');
  return s.join('\n') + '\n';
}
