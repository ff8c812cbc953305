/** The roofline chart frame shared by `moec analyze --svg` and the benchmark's picture. */
import { describe, expect, it } from 'vitest';
import { decades, escapeXml, logPlot, svgGrid } from '../compiler/analysis/roofline-plot.ts';

const FRAME = { width: 900, height: 600, margin: { left: 90, right: 40, top: 64, bottom: 64 } };

describe('roofline plot frame', () => {
  it('whole decades around the padded range', () => {
    expect(decades(0.3, 42, 2)).toEqual([-1, 2]);
    expect(decades(1.2, 1e9, 2, 3)).toEqual([-1, 10]);
  });

  it('maps the decades onto the plot area, y upwards', () => {
    const p = logPlot(FRAME, [-1, 3], [0, 2]);
    expect(p.sx(0.1)).toBe(90);
    expect(p.sx(1000)).toBe(860);
    expect(p.sy(1)).toBe(536);
    expect(p.sy(100)).toBe(64);
    expect(p.sy(10)).toBe(300);
  });

  it('draws one grid line per decade, or nine with minor lines, and escapes text', () => {
    const p = logPlot(FRAME, [0, 2], [0, 1]);
    const lines = (minor: boolean): number => svgGrid(p, { minor, major: 'stroke="#ddd"', minorStroke: 'stroke="#eee"', tick: String }).filter((l) => l.startsWith('<line')).length;
    expect(lines(false)).toBe(3 + 2);
    expect(lines(true)).toBe(9 + 9 + 1 + (9 + 1));
    expect(escapeXml('a<b & "c">')).toBe('a&lt;b &amp; &quot;c&quot;&gt;');
  });
});
