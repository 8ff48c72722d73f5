/**
 * A dependency-free SVG grouped bar chart: one group per category (e.g. a
 * concurrency level), one bar per series (e.g. a library), each bar labelled
 * with its value and an optional note (e.g. a ratio).
 */

/** One series: a bar in every group. */
export interface BarSeries {
  /** Legend text. */
  readonly name: string;
  /** Fill colour (CSS colour). */
  readonly color: string;
  /** One value per group (NaN draws no bar). */
  readonly values: readonly number[];
  /** Optional second label per group, drawn above the value (e.g. "3.1x"). */
  readonly notes?: readonly (string | undefined)[];
}

/** A grouped bar chart. */
export interface BarChart {
  /** Title line. */
  readonly title: string;
  /** Smaller line under the title. */
  readonly subtitle?: string;
  /** Group labels along the x axis. */
  readonly groups: readonly string[];
  /** The series, drawn left to right within each group. */
  readonly series: readonly BarSeries[];
  /** y axis label. */
  readonly yLabel: string;
  /** Formats a value for bar labels and ticks. */
  readonly format?: (value: number) => string;
}

/** Escapes text for SVG. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Compact number: 1234 -> "1.2k", 1234567 -> "1.23M". */
export function compact(value: number): string {
  if (!Number.isFinite(value)) return '-';
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toFixed(abs >= 1e7 ? 1 : 2)}M`;
  if (abs >= 1e3) return `${(value / 1e3).toFixed(abs >= 1e4 ? 0 : 1)}k`;
  return value.toFixed(abs >= 10 || Number.isInteger(value) ? 0 : 1);
}

/** A round step for about `count` ticks up to `max`. */
function tickStep(max: number, count: number): number {
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

/** Renders the chart as a standalone SVG document. */
export function barChartSvg(chart: BarChart): string {
  const fmt = chart.format ?? compact;
  const width = 820;
  const height = 440;
  const left = 70;
  const right = 20;
  const top = 70;
  const bottom = 80;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const finite = chart.series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)));
  const maxValue = Math.max(1, ...finite);
  const step = tickStep(maxValue * 1.1, 5);
  const yMax = Math.ceil((maxValue * 1.15) / step) * step;
  const y = (v: number): number => top + plotH - (v / yMax) * plotH;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">${esc(chart.title)}</text>`);
  if (chart.subtitle) out.push(`<text x="${width / 2}" y="46" text-anchor="middle" font-size="12" fill="#555">${esc(chart.subtitle)}</text>`);

  for (let v = 0; v <= yMax + step / 2; v += step) {
    const yy = y(v).toFixed(1);
    out.push(`<line x1="${left}" y1="${yy}" x2="${width - right}" y2="${yy}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${left - 6}" y="${yy}" dy="4" text-anchor="end" font-size="11" fill="#444">${esc(fmt(v))}</text>`);
  }
  out.push(`<line x1="${left}" y1="${top + plotH}" x2="${width - right}" y2="${top + plotH}" stroke="#333"/>`);
  out.push(
    `<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#333">${esc(chart.yLabel)}</text>`,
  );

  const groupW = plotW / Math.max(1, chart.groups.length);
  const barW = Math.min(60, (groupW * 0.8) / Math.max(1, chart.series.length));
  chart.groups.forEach((group, g) => {
    const gx = left + g * groupW + (groupW - barW * chart.series.length) / 2;
    chart.series.forEach((s, i) => {
      const v = s.values[g];
      if (v === undefined || !Number.isFinite(v)) return;
      const x = gx + i * barW;
      const yy = y(v);
      out.push(`<rect x="${(x + 2).toFixed(1)}" y="${yy.toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${(top + plotH - yy).toFixed(1)}" fill="${esc(s.color)}"/>`);
      out.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(yy - 5).toFixed(1)}" text-anchor="middle" font-size="11">${esc(fmt(v))}</text>`);
      const note = s.notes?.[g];
      if (note) {
        out.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(yy - 19).toFixed(1)}" text-anchor="middle" font-size="11" font-weight="bold" fill="#222">${esc(note)}</text>`);
      }
    });
    out.push(`<text x="${(left + g * groupW + groupW / 2).toFixed(1)}" y="${top + plotH + 20}" text-anchor="middle" font-size="13">${esc(group)}</text>`);
  });

  const legendY = height - 28;
  let lx = left;
  for (const s of chart.series) {
    out.push(`<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="${esc(s.color)}"/>`);
    out.push(`<text x="${lx + 17}" y="${legendY}" font-size="12">${esc(s.name)}</text>`);
    lx += 30 + s.name.length * 7;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
