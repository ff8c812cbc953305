/**
 * @fileoverview The frame of a log-log roofline chart as hand-written SVG (no dependencies):
 * decade axes, the header, the grid with its tick labels, the plot box and the axis titles.
 * `moec analyze --svg` (`svg.ts`: a target's roofs and a model's kernels) and the
 * benchmark (`bench/svg.ts`: each runner's measured roofs and its cases) draw their roofs and
 * points into it; what they draw differs, the chart around it is this one.
 */

export const FONT = 'font-family="Helvetica, Arial, sans-serif"';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A coordinate to one decimal, no trailing zeros. */
export function coord(x: number): string {
  return (Math.round(x * 10) / 10).toString();
}

/** The whole decades around [low / padLow, high × padHigh], as powers of ten. */
export function decades(low: number, high: number, padLow: number, padHigh = padLow): [number, number] {
  return [Math.floor(Math.log10(low / padLow)), Math.ceil(Math.log10(high * padHigh))];
}

export interface PlotFrame {
  /** The whole picture. */
  width: number;
  height: number;
  /** Space around the plot area. */
  margin: { left: number; right: number; top: number; bottom: number };
}

/** A plot area with log axes: decades x in [xLo, xHi], y in [yLo, yHi]. */
export interface LogPlot extends PlotFrame {
  plotWidth: number;
  plotHeight: number;
  xLo: number;
  xHi: number;
  yLo: number;
  yHi: number;
  sx(x: number): number;
  sy(y: number): number;
}

export function logPlot(frame: PlotFrame, [xLo, xHi]: [number, number], [yLo, yHi]: [number, number]): LogPlot {
  const M = frame.margin;
  const plotWidth = frame.width - M.left - M.right;
  const plotHeight = frame.height - M.top - M.bottom;
  return {
    ...frame, plotWidth, plotHeight, xLo, xHi, yLo, yHi,
    sx: (x) => M.left + ((Math.log10(x) - xLo) / (xHi - xLo)) * plotWidth,
    sy: (y) => M.top + plotHeight - ((Math.log10(y) - yLo) / (yHi - yLo)) * plotHeight,
  };
}

/** `<text x y attrs>s</text>`, the text escaped. */
export function svgText(x: number, y: number, s: string, attrs: string): string {
  return `<text x="${coord(x)}" y="${coord(y)}" ${attrs}>${escapeXml(s)}</text>`;
}

/**
 * The opening of the picture: the svg element (a standalone file adds the XML declaration
 * and a <title>), a white background, the plot area's clip path, the title and a subtitle.
 */
export function svgHeader(p: LogPlot, title: string, subtitle: string, standalone = false): string[] {
  const M = p.margin;
  const s: string[] = [];
  if (standalone) s.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  s.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${p.width}" height="${p.height}" viewBox="0 0 ${p.width} ${p.height}" ${FONT}>`);
  if (standalone) s.push(`<title>${escapeXml(title)}</title>`);
  s.push(`<rect width="${p.width}" height="${p.height}" fill="white"/>`);
  s.push(`<defs><clipPath id="plot"><rect x="${M.left}" y="${M.top}" width="${p.plotWidth}" height="${p.plotHeight}"/></clipPath></defs>`);
  s.push(svgText(M.left, 28, title, 'font-size="18" font-weight="bold"'));
  s.push(svgText(M.left, 48, subtitle, 'font-size="12" fill="#444"'));
  return s;
}

export interface GridStyle {
  /** Lines at 2..9 × each decade too. */
  minor: boolean;
  /** The stroke attributes of a decade line and of a minor line. */
  major: string;
  minorStroke?: string;
  /** The label of the tick at 10^e. */
  tick(e: number): string;
}

/** Grid lines and tick labels on both axes, then the plot box. */
export function svgGrid(p: LogPlot, g: GridStyle): string[] {
  const M = p.margin;
  const s: string[] = [];
  const line = (x1: number, y1: number, x2: number, y2: number, stroke: string): string =>
    `<line x1="${coord(x1)}" y1="${coord(y1)}" x2="${coord(x2)}" y2="${coord(y2)}" ${stroke}/>`;
  const ks = (e: number, hi: number): number[] => (g.minor && e < hi ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : [1]);
  for (let e = p.xLo; e <= p.xHi; e++) {
    for (const k of ks(e, p.xHi)) s.push(line(p.sx(k * 10 ** e), M.top, p.sx(k * 10 ** e), M.top + p.plotHeight, k === 1 ? g.major : g.minorStroke ?? g.major));
    s.push(svgText(p.sx(10 ** e), M.top + p.plotHeight + 18, g.tick(e), 'font-size="12" text-anchor="middle"'));
  }
  for (let e = p.yLo; e <= p.yHi; e++) {
    for (const k of ks(e, p.yHi)) s.push(line(M.left, p.sy(k * 10 ** e), M.left + p.plotWidth, p.sy(k * 10 ** e), k === 1 ? g.major : g.minorStroke ?? g.major));
    s.push(svgText(M.left - 8, p.sy(10 ** e) + 4, g.tick(e), 'font-size="12" text-anchor="end"'));
  }
  s.push(`<rect x="${M.left}" y="${M.top}" width="${p.plotWidth}" height="${p.plotHeight}" fill="none" stroke="#888"/>`);
  return s;
}

/** The axis titles: x centred under the plot, y turned up along its left side, `gap` from the picture's edges. */
export function svgAxisTitles(p: LogPlot, x: string, y: string, gap: number): string[] {
  const M = p.margin;
  const midY = M.top + p.plotHeight / 2;
  return [
    svgText(M.left + p.plotWidth / 2, p.height - gap, x, 'font-size="13" text-anchor="middle"'),
    svgText(gap, midY, y, `font-size="13" text-anchor="middle" transform="rotate(-90 ${gap} ${midY})"`),
  ];
}
