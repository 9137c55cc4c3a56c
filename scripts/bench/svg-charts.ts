/**
 * Small self-contained SVG charts for the benchmark report: line charts and bar charts with axes,
 * ticks, a legend, linear or log scales. Strings in, an <svg> string out; nothing is loaded from
 * anywhere, so the same markup goes inline into the HTML report and through resvg into the PNG.
 */
export type ScaleKind = "linear" | "log";

export interface Series {
  readonly name: string;
  /** Default: the palette color at the series' index. */
  readonly color?: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly x: ScaleKind;
  readonly y: ScaleKind;
  readonly series: readonly Series[];
  /** Draw steps (for CDFs) instead of straight segments. */
  readonly step?: boolean;
  /** Fixed y range (e.g. [0, 1] for a CDF); otherwise from the data. */
  readonly yDomain?: readonly [number, number];
  readonly width?: number;
  readonly height?: number;
  readonly note?: string;
}

export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly color?: string;
}

export interface ReferenceLine {
  readonly label: string;
  readonly value: number;
}

export interface BarChartSpec {
  readonly title: string;
  readonly yLabel: string;
  readonly y: ScaleKind;
  readonly bars: readonly Bar[];
  readonly references?: readonly ReferenceLine[];
  readonly width?: number;
  readonly height?: number;
  readonly note?: string;
}

export const FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif";
export const PALETTE = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#7f7f7f",
  "#bcbd22",
] as const;

const MARGIN = { top: 34, right: 16, bottom: 46, left: 64 } as const;
const LEGEND_ROW = 16;

export function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

export function colorAt(index: number): string {
  return PALETTE[index % PALETTE.length] ?? "#000";
}

/** Short tick text: 1.5k, 2M, 0.01, 1e-5. */
export function formatTick(value: number): string {
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${trim(value / 1e9)}G`;
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e3) return `${trim(value / 1e3)}k`;
  if (abs >= 0.01) return trim(value);
  return value.toExponential(0);
}

function trim(value: number): string {
  return String(Number(value.toPrecision(3)));
}

interface Domain {
  readonly min: number;
  readonly max: number;
}

/** The data range widened to whole decades (log) or nice steps (linear). */
export function niceDomain(kind: ScaleKind, values: readonly number[]): Domain {
  const usable = kind === "log" ? values.filter((value) => value > 0) : values;
  if (usable.length === 0) return kind === "log" ? { min: 1, max: 10 } : { min: 0, max: 1 };
  let min = Math.min(...usable);
  let max = Math.max(...usable);
  if (kind === "log") {
    const floor = 10 ** Math.floor(Math.log10(min));
    // Data sitting exactly on a decade would hug the axis: give it one decade of room.
    min = floor === min ? floor / 10 : floor;
    max = 10 ** Math.ceil(Math.log10(max));
    if (max <= min) max = min * 10;
    return { min, max };
  }
  min = Math.min(0, min);
  if (max <= min) max = min + 1;
  const step = linearStep(min, max);
  return { min: Math.floor(min / step) * step, max: Math.ceil(max / step) * step };
}

function linearStep(min: number, max: number): number {
  const raw = (max - min) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / magnitude;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude;
}

/** Tick values inside the domain: decades for log scales, nice steps for linear ones. */
export function ticks(kind: ScaleKind, domain: Domain): number[] {
  const values: number[] = [];
  if (kind === "log") {
    const first = Math.round(Math.log10(domain.min));
    const last = Math.round(Math.log10(domain.max));
    const stride = Math.max(1, Math.ceil((last - first) / 8));
    for (let exponent = first; exponent <= last; exponent += stride) values.push(10 ** exponent);
    return values;
  }
  const step = linearStep(domain.min, domain.max);
  for (let value = domain.min; value <= domain.max + step / 1e6; value += step) {
    values.push(Number(value.toPrecision(12)));
  }
  return values;
}

function scale(kind: ScaleKind, domain: Domain, from: number, to: number) {
  if (kind === "log") {
    const low = Math.log10(domain.min);
    const span = Math.log10(domain.max) - low;
    return (value: number) => from + ((Math.log10(value) - low) / span) * (to - from);
  }
  const span = domain.max - domain.min;
  return (value: number) => from + ((value - domain.min) / span) * (to - from);
}

function fmt(value: number): string {
  return String(Math.round(value * 10) / 10);
}

interface Frame {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

function frame(width: number, height: number, legendRows: number): Frame {
  return {
    width,
    height,
    left: MARGIN.left,
    right: width - MARGIN.right,
    top: MARGIN.top,
    bottom: height - MARGIN.bottom - legendRows * LEGEND_ROW,
  };
}

function open(title: string, box: Frame): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${box.width}" height="${box.height}" viewBox="0 0 ${box.width} ${box.height}" font-family="${FONT_FAMILY}" font-size="11">`,
    `<rect class="background" x="0" y="0" width="${box.width}" height="${box.height}" fill="#ffffff"/>`,
    `<text class="title" x="${box.width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
  ].join("");
}

function axisLines(box: Frame): string {
  return `<path class="axis-lines" d="M${box.left},${box.top}V${box.bottom}H${box.right}" fill="none" stroke="#333" stroke-width="1"/>`;
}

function yAxis(
  kind: ScaleKind,
  domain: Domain,
  y: (value: number) => number,
  box: Frame,
  label: string,
): string {
  const parts = ticks(kind, domain).map((value) => {
    const at = fmt(y(value));
    return (
      `<line class="grid" x1="${box.left}" x2="${box.right}" y1="${at}" y2="${at}" stroke="#e5e5e5"/>` +
      `<text class="tick y-tick" x="${box.left - 6}" y="${at}" text-anchor="end" dominant-baseline="middle">${escapeXml(formatTick(value))}</text>`
    );
  });
  const middle = fmt((box.top + box.bottom) / 2);
  parts.push(
    `<text class="axis-label y-label" x="14" y="${middle}" text-anchor="middle" transform="rotate(-90 14 ${middle})">${escapeXml(label)}</text>`,
  );
  return `<g class="y-axis">${parts.join("")}</g>`;
}

function xAxis(
  kind: ScaleKind,
  domain: Domain,
  x: (value: number) => number,
  box: Frame,
  label: string,
): string {
  const parts = ticks(kind, domain).map((value) => {
    const at = fmt(x(value));
    return (
      `<line class="grid" x1="${at}" x2="${at}" y1="${box.top}" y2="${box.bottom}" stroke="#f0f0f0"/>` +
      `<text class="tick x-tick" x="${at}" y="${box.bottom + 14}" text-anchor="middle">${escapeXml(formatTick(value))}</text>`
    );
  });
  parts.push(
    `<text class="axis-label x-label" x="${fmt((box.left + box.right) / 2)}" y="${box.bottom + 30}" text-anchor="middle">${escapeXml(label)}</text>`,
  );
  return `<g class="x-axis">${parts.join("")}</g>`;
}

function legend(entries_: readonly { name: string; color: string }[], box: Frame, columns: number): string {
  const columnWidth = (box.right - box.left) / columns;
  const entries = entries_.map(({ name, color }, index) => {
    const x = box.left + (index % columns) * columnWidth;
    const y = box.bottom + 40 + Math.floor(index / columns) * LEGEND_ROW;
    return (
      `<g class="legend-entry">` +
      `<rect x="${fmt(x)}" y="${fmt(y)}" width="10" height="10" fill="${color}"/>` +
      `<text x="${fmt(x + 14)}" y="${fmt(y + 9)}">${escapeXml(name)}</text></g>`
    );
  });
  return `<g class="legend">${entries.join("")}</g>`;
}

function noteText(note: string | undefined, box: Frame): string {
  if (note === undefined) return "";
  return `<text class="note" x="${box.right}" y="${box.top - 4}" text-anchor="end" font-size="9" fill="#666">${escapeXml(note)}</text>`;
}

/** As many legend columns as the longest name allows (at most 3). */
function legendColumns(names: readonly string[], width: number): number {
  const longest = Math.max(1, ...names.map((name) => name.length));
  const fit = Math.floor((width - MARGIN.left - MARGIN.right) / (longest * 6.6 + 24));
  return Math.max(1, Math.min(3, fit));
}

export function lineChart(spec: LineChartSpec): string {
  const width = spec.width ?? 560;
  const columns = legendColumns(
    spec.series.map((series) => series.name),
    width,
  );
  const legendRows = Math.ceil(spec.series.length / columns);
  const box = frame(width, (spec.height ?? 320) + legendRows * LEGEND_ROW, legendRows);
  const usable = (kind: ScaleKind) => (value: number) =>
    Number.isFinite(value) && (kind === "linear" || value > 0);
  const keep = spec.series.map((series, index) => ({
    name: series.name,
    color: series.color ?? colorAt(index),
    points: series.points.filter(([px, py]) => usable(spec.x)(px) && usable(spec.y)(py)),
  }));
  const xs = keep.flatMap((series) => series.points.map(([px]) => px));
  const ys = keep.flatMap((series) => series.points.map(([, py]) => py));
  const xDomain = niceDomain(spec.x, xs);
  const yDomain = spec.yDomain ? { min: spec.yDomain[0], max: spec.yDomain[1] } : niceDomain(spec.y, ys);
  const x = scale(spec.x, xDomain, box.left, box.right);
  const y = scale(spec.y, yDomain, box.bottom, box.top);
  const paths = keep.map((series) => {
    const coords = series.points.map(([px, py]) => [fmt(x(px)), fmt(y(py))] as const);
    // A step curve rises from the x axis at its first point (a CDF starts at 0).
    const start =
      spec.step && coords[0] !== undefined ? `M${coords[0][0]},${fmt(box.bottom)}V${coords[0][1]}` : "";
    const d = coords
      .map(([cx, cy], at) => {
        if (at === 0) return start === "" ? `M${cx},${cy}` : start;
        return spec.step ? `H${cx}V${cy}` : `L${cx},${cy}`;
      })
      .join("");
    const marks =
      series.points.length <= 12
        ? coords.map(([cx, cy]) => `<circle cx="${cx}" cy="${cy}" r="2.5" fill="${series.color}"/>`).join("")
        : "";
    return (
      `<g class="series" data-name="${escapeXml(series.name)}" data-points="${series.points.length}">` +
      `<path d="${d}" fill="none" stroke="${series.color}" stroke-width="1.8"/>${marks}</g>`
    );
  });
  return [
    open(spec.title, box),
    yAxis(spec.y, yDomain, y, box, spec.yLabel),
    xAxis(spec.x, xDomain, x, box, spec.xLabel),
    axisLines(box),
    `<g class="plot">${paths.join("")}</g>`,
    legend(keep, box, columns),
    noteText(spec.note, box),
    "</svg>",
  ].join("");
}

export function barChart(spec: BarChartSpec): string {
  const width = spec.width ?? 560;
  const longest = Math.max(0, ...spec.bars.map((bar) => bar.label.length));
  const slotGuess = (width - MARGIN.left - MARGIN.right) / Math.max(1, spec.bars.length);
  // Labels wider than their slot are turned 30° and get room below the axis.
  const rotate = longest * 6.2 > slotGuess;
  const extraRows = rotate ? Math.ceil((longest * 6.2 * 0.5) / LEGEND_ROW) : 0;
  const box = frame(width, (spec.height ?? 320) + extraRows * LEGEND_ROW, extraRows);
  const references = spec.references ?? [];
  const values = [...spec.bars.map((bar) => bar.value), ...references.map((line) => line.value)];
  const domain = niceDomain(spec.y, values);
  const y = scale(spec.y, domain, box.bottom, box.top);
  const slot = (box.right - box.left) / Math.max(1, spec.bars.length);
  const barWidth = Math.min(60, slot * 0.6);
  const bars = spec.bars.map((bar, index) => {
    const center = box.left + slot * (index + 0.5);
    const drawable = Number.isFinite(bar.value) && (spec.y === "linear" || bar.value > 0);
    const top = drawable ? y(Math.min(bar.value, domain.max)) : box.bottom;
    const rect = drawable
      ? `<rect x="${fmt(center - barWidth / 2)}" y="${fmt(top)}" width="${fmt(barWidth)}" height="${fmt(box.bottom - top)}" fill="${bar.color ?? colorAt(index)}"/>`
      : "";
    return (
      `<g class="bar" data-label="${escapeXml(bar.label)}" data-value="${bar.value}">${rect}` +
      `<text class="value" x="${fmt(center)}" y="${fmt(top - 4)}" text-anchor="middle" font-size="10">${escapeXml(formatTick(bar.value))}</text>` +
      (rotate
        ? `<text class="tick x-tick" x="${fmt(center)}" y="${box.bottom + 12}" text-anchor="end" transform="rotate(-30 ${fmt(center)} ${box.bottom + 12})">${escapeXml(bar.label)}</text></g>`
        : `<text class="tick x-tick" x="${fmt(center)}" y="${box.bottom + 14}" text-anchor="middle">${escapeXml(bar.label)}</text></g>`)
    );
  });
  const lines = references
    .filter((line) => Number.isFinite(line.value) && (spec.y === "linear" || line.value > 0))
    .map((line) => {
      const at = fmt(y(line.value));
      return (
        `<g class="reference" data-label="${escapeXml(line.label)}" data-value="${line.value}">` +
        `<line x1="${box.left}" x2="${box.right}" y1="${at}" y2="${at}" stroke="#555" stroke-dasharray="5 4"/>` +
        `<text x="${box.right - 2}" y="${fmt(Number(at) - 3)}" text-anchor="end" font-size="10" fill="#444" stroke="#ffffff" stroke-width="3" paint-order="stroke">${escapeXml(line.label)}</text></g>`
      );
    });
  return [
    open(spec.title, box),
    yAxis(spec.y, domain, y, box, spec.yLabel),
    axisLines(box),
    `<g class="plot">${bars.join("")}${lines.join("")}</g>`,
    noteText(spec.note, box),
    "</svg>",
  ].join("");
}

export interface Panel {
  readonly svg: string;
  readonly x: number;
  readonly y: number;
}

/** Charts placed on one page (nested <svg> elements), for the PNG summary. */
export function composeSvg(width: number, height: number, panels: readonly Panel[], header = ""): string {
  const placed = panels.map((panel) =>
    panel.svg.replace("<svg ", `<svg x="${fmt(panel.x)}" y="${fmt(panel.y)}" `),
  );
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT_FAMILY}">` +
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>${header}${placed.join("")}</svg>`
  );
}

/** Height an <svg> string declares (to stack panels). */
export function svgHeight(svg: string): number {
  const match = /height="([\d.]+)"/.exec(svg);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}
