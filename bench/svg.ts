/**
 * @fileoverview The roofline picture of a run, as a hand-written SVG (no dependencies):
 * log-log, arithmetic intensity (FLOP/byte) across, GFLOP/s up; each runner's measured roof
 * (bandwidth slope, then compute ceiling) as a line in its colour, and one labelled point
 * per case per runner at the case's intensity and the runner's median rate.
 */
import type { BenchRecord } from './record.ts';
import { fmtNumber } from '../compiler/format.ts';
import { FONT, type PlotFrame, coord as f, decades, escapeXml, logPlot, svgAxisTitles, svgGrid, svgHeader, svgText as text } from '../compiler/analysis/roofline-plot.ts';

const FRAME: PlotFrame = { width: 960, height: 620, margin: { left: 80, right: 30, top: 70, bottom: 70 } };
const M = FRAME.margin;
const PLOT_W = FRAME.width - M.left - M.right;
const PLOT_H = FRAME.height - M.top - M.bottom;

/** Colours and dashes by runner order (moec's runners first, peers after). */
const COLOURS = ['#d1495b', '#2e86ab', '#3b9c3b', '#8e5ec4', '#e08e0b', '#555555'];
const DASHES = ['', '8 5', '3 4', '12 4 3 4'];

interface Point {
  runner: number;
  x: number;
  y: number;
  label: string;
}

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export function rooflineSvg(r: BenchRecord): string {
  const runners = r.runners.filter((ru) => ru.roof);
  const points: Point[] = [];
  for (const c of r.cases)
    for (const res of c.results) {
      const i = runners.findIndex((ru) => ru.id === res.runner);
      if (i >= 0 && res.gflops && c.intensity > 0) points.push({ runner: i, x: c.intensity, y: res.gflops, label: `${c.workload} T=${c.tokens}` });
    }
  if (points.length === 0 && runners.length === 0) return emptySvg('no results to draw');

  // Axis ranges: whole decades around the points and the roofs' ridge points.
  const xs = [...points.map((p) => p.x), ...runners.map((ru) => ru.roof!.gflops / ru.roof!.gbps)];
  const ys = [...points.map((p) => p.y), ...runners.map((ru) => ru.roof!.gflops)];
  const plot = logPlot(FRAME, decades(Math.min(...xs), Math.max(...xs), 1.5), decades(Math.min(...ys), Math.max(...ys), 1.5));
  const { sx, sy } = plot;
  const xMin = 10 ** plot.xLo;
  const xMax = 10 ** plot.xHi;
  const yMin = 10 ** plot.yLo;

  const s: string[] = [];
  const title = `moec benchmark roofline${r.quick ? ' (--quick)' : ''}`;
  s.push(...svgHeader(plot, title, `${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.date.slice(0, 10)}. Lines: roofs measured in the same run; points: median of each case.`));
  s.push(...svgGrid(plot, { minor: true, major: 'stroke="#ccc" stroke-width="1"', minorStroke: 'stroke="#eee" stroke-width="1"', tick }));
  s.push(...svgAxisTitles(plot, 'arithmetic intensity (FLOP / byte, counted from the IR)', 'GFLOP/s', 22));

  // Roofs: bandwidth slope up to the ridge, then the compute ceiling, each with its number.
  const taken: Box[] = points.map((p) => ({ x0: sx(p.x) - 6, y0: sy(p.y) - 6, x1: sx(p.x) + 6, y1: sy(p.y) + 6 }));
  runners.forEach((ru, i) => {
    const roof = ru.roof!;
    const colour = COLOURS[i % COLOURS.length];
    const dash = DASHES[i % DASHES.length];
    const ridge = roof.gflops / roof.gbps;
    const pts = [
      [xMin, roof.gbps * xMin],
      [ridge, roof.gflops],
      [xMax, roof.gflops],
    ];
    const d = pts.map(([x, y], j) => `${j ? 'L' : 'M'}${f(sx(x))},${f(sy(y))}`).join(' ');
    s.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} clip-path="url(#plot)"/>`);
    const flat = `${fmtNumber(roof.gflops)} GFLOP/s`;
    const cx = M.left + PLOT_W - 6;
    const cy = sy(roof.gflops) - 6;
    s.push(text(cx, cy, flat, `font-size="11" text-anchor="end" fill="${colour}"`));
    taken.push({ x0: cx - flat.length * 6.1, y0: cy - 11, x1: cx, y1: cy + 2 });
    // The bandwidth number runs along the slope, at the first spot clear of the points.
    const xa = Math.max(xMin, yMin / roof.gbps);
    const xb = Math.min(ridge, xMax);
    if (xb <= xa) return;
    const label = `${fmtNumber(roof.gbps)} GB/s`;
    const angle = Math.atan2(sy(roof.gbps * 10) - sy(roof.gbps), sx(10) - sx(1));
    const len = label.length * 6.1;
    const spots = [0.06, 0.3, 0.55, 0.8, 0.06].map((t) => {
      const xl = xa * (xb / xa) ** t;
      const x0 = sx(xl);
      const y0 = sy(roof.gbps * xl) - 6;
      const x1 = x0 + Math.cos(angle) * len;
      const y1 = y0 + Math.sin(angle) * len;
      return { x: x0, y: y0, box: { x0: Math.min(x0, x1), y0: Math.min(y0, y1) - 10, x1: Math.max(x0, x1), y1: Math.max(y0, y1) } };
    });
    const spot = spots.find((p) => !taken.some((t) => overlaps(p.box, t))) ?? spots[0];
    taken.push(spot.box);
    const deg = f((angle * 180) / Math.PI);
    s.push(text(spot.x, spot.y, label, `font-size="11" fill="${colour}" transform="rotate(${deg} ${f(spot.x)} ${f(spot.y)})"`));
  });

  // Legend, top left of the plot (a roofline's empty corner), saying where each roof comes from.
  runners.forEach((ru, i) => {
    const roof = ru.roof!;
    const y = M.top + 18 + i * 32;
    const colour = COLOURS[i % COLOURS.length];
    const dash = DASHES[i % DASHES.length];
    s.push(`<line x1="${M.left + 12}" y1="${y}" x2="${M.left + 42}" y2="${y}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    s.push(marker(i, M.left + 27, y));
    s.push(text(M.left + 50, y + 4, ru.id, 'font-size="12" font-weight="bold"'));
    const about = `roof: ${roof.computeFrom}, ${roof.bandwidthFrom}`;
    s.push(text(M.left + 50, y + 18, about, 'font-size="11" fill="#444"'));
    taken.push({ x0: M.left + 8, y0: y - 8, x1: M.left + 50 + about.length * 6.1, y1: y + 22 });
  });
  // Points, then their labels placed where they do not collide.
  for (const p of points) s.push(marker(p.runner, sx(p.x), sy(p.y)));
  for (const p of points) {
    const box = placeLabel(sx(p.x), sy(p.y), p.label, taken);
    taken.push(box);
    s.push(text(box.x0, box.y1 - 3, p.label, `font-size="11" fill="${COLOURS[p.runner % COLOURS.length]}"`));
  }

  s.push('</svg>');
  return s.join('\n') + '\n';
}

/** The first candidate spot beside (x, y) whose box overlaps nothing taken, within the plot. */
function placeLabel(x: number, y: number, label: string, taken: Box[]): Box {
  const w = label.length * 6.1;
  const h = 13;
  const candidates: Array<[number, number]> = [
    [8, -h / 2], [8, -h - 4], [8, 4], [-8 - w, -h / 2], [-8 - w, -h - 4], [-8 - w, 4],
    [8, -2 * h - 4], [8, h + 4], [-w / 2, -h - 8], [-w / 2, 8], [8, -3 * h - 4], [8, 2 * h + 4],
  ];
  const boxes = candidates.map(([dx, dy]) => ({ x0: x + dx, y0: y + dy, x1: x + dx + w, y1: y + dy + h }));
  const inside = (b: Box): boolean => b.x0 >= M.left + 2 && b.x1 <= M.left + PLOT_W - 2 && b.y0 >= M.top + 2 && b.y1 <= M.top + PLOT_H - 2;
  const free = (b: Box): boolean => !taken.some((t) => overlaps(b, t));
  return boxes.find((b) => inside(b) && free(b)) ?? boxes.find(inside) ?? boxes[0];
}

function overlaps(a: Box, b: Box): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

function marker(runner: number, x: number, y: number): string {
  const c = COLOURS[runner % COLOURS.length];
  const style = `fill="${c}" fill-opacity="0.85" stroke="white" stroke-width="1"`;
  switch (runner % 4) {
    case 0:
      return `<circle cx="${f(x)}" cy="${f(y)}" r="5" ${style}/>`;
    case 1:
      return `<rect x="${f(x - 4.5)}" y="${f(y - 4.5)}" width="9" height="9" ${style}/>`;
    case 2:
      return `<path d="M${f(x)},${f(y - 6)} L${f(x + 5.5)},${f(y + 4)} L${f(x - 5.5)},${f(y + 4)} Z" ${style}/>`;
    default:
      return `<path d="M${f(x)},${f(y - 6)} L${f(x + 6)},${f(y)} L${f(x)},${f(y + 6)} L${f(x - 6)},${f(y)} Z" ${style}/>`;
  }
}

function tick(e: number): string {
  return e >= 0 ? String(10 ** e) : (10 ** e).toFixed(-e);
}

function emptySvg(message: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="60" ${FONT}><text x="10" y="35" font-size="14">${escapeXml(message)}</text></svg>\n`;
}
