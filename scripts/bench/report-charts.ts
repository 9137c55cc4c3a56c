/**
 * The report's charts, built from a BenchReport: the same SVG goes inline into the HTML page and
 * onto the PNG summary page.
 */
import type { BenchReport, ScalingPoint } from "./report-document.ts";
import { type Bar, barChart, colorAt, lineChart, type ReferenceLine, type Series } from "./svg-charts.ts";

/** One color per strategy across every chart: its position in the report's strategy list. */
function strategyColor(report: BenchReport, strategy: string): string {
  const index = report.strategies.findIndex((result) => result.strategy === strategy);
  const unknown =
    report.strategies.length + [...new Set(report.scaling.map((p) => p.strategy))].indexOf(strategy);
  return colorAt(index >= 0 ? index : unknown);
}

/** Log axes cannot show 0 ms: faster samples are drawn at this floor (said on the chart). */
export const LATENCY_FLOOR_MS = 0.1;

export function cdfPoints(samples: readonly number[]): [number, number][] {
  const sorted = [...samples].filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.map((value, index) => [Math.max(LATENCY_FLOOR_MS, value), (index + 1) / sorted.length]);
}

export function latencyCdfChart(report: BenchReport, width?: number): string | undefined {
  const series: Series[] = report.strategies
    .filter((result) => result.latencyCdf.length > 0)
    .map((result) => ({
      name: `${result.strategy} (${result.measurement})`,
      color: strategyColor(report, result.strategy),
      points: cdfPoints(result.latencyCdf),
    }));
  if (series.length === 0) return undefined;
  return lineChart({
    title: "Propagation latency CDF",
    xLabel: "latency (ms, log)",
    yLabel: "fraction of deliveries",
    x: "log",
    y: "linear",
    yDomain: [0, 1],
    step: true,
    series,
    note: `samples below ${LATENCY_FLOOR_MS} ms drawn at ${LATENCY_FLOOR_MS} ms`,
    ...(width === undefined ? {} : { width }),
  });
}

/** The 1/20 and 1/5 lines relative to the baseline strategy's value. */
function referenceLines(report: BenchReport, value: (name: string) => number | undefined): ReferenceLine[] {
  if (report.baselineStrategy === undefined) return [];
  const base = value(report.baselineStrategy);
  if (base === undefined || !(base > 0)) return [];
  return [
    { label: `1/5 of ${report.baselineStrategy}`, value: base / 5 },
    { label: `1/20 of ${report.baselineStrategy}`, value: base / 20 },
  ];
}

export function perPodChangeChart(
  report: BenchReport,
  field: "deliveriesPerPodChange" | "bytesPerPodChange",
  width?: number,
): string | undefined {
  if (report.strategies.length === 0) return undefined;
  // Totals per pod change grow with the fleet: a strategy measured at another fleet size says so.
  const bars: Bar[] = report.strategies.map((result) => ({
    label:
      result.watchers === report.scenario.watchers
        ? result.strategy
        : `${result.strategy} (${result.watchers} w)`,
    value: result[field],
    color: strategyColor(report, result.strategy),
  }));
  const lookup = (name: string) => report.strategies.find((result) => result.strategy === name)?.[field];
  const deliveries = field === "deliveriesPerPodChange";
  return barChart({
    title: deliveries ? "Deliveries per pod change" : "Bytes delivered per pod change",
    yLabel: deliveries ? "deliveries (log)" : "bytes (log)",
    y: "log",
    bars,
    references: referenceLines(report, lookup),
    ...(width === undefined ? {} : { width }),
  });
}

export function scalingChart(
  report: BenchReport,
  field: "deliveriesPerPodChange" | "bytesPerPodChange",
  width?: number,
): string | undefined {
  if (report.scaling.length === 0) return undefined;
  const byStrategy = new Map<string, ScalingPoint[]>();
  for (const point of report.scaling) {
    byStrategy.set(point.strategy, [...(byStrategy.get(point.strategy) ?? []), point]);
  }
  const series: Series[] = [...byStrategy].map(([name, points]) => ({
    name,
    color: strategyColor(report, name),
    points: points.map((point) => [point.watchers, point[field]] as const).sort((a, b) => a[0] - b[0]),
  }));
  const deliveries = field === "deliveriesPerPodChange";
  return lineChart({
    title: deliveries
      ? "Deliveries per pod change as watchers grow"
      : "Bytes per pod change as watchers grow",
    xLabel: "watchers (log)",
    yLabel: deliveries ? "deliveries per pod change (log)" : "bytes per pod change (log)",
    x: "log",
    y: "log",
    series,
    ...(width === undefined ? {} : { width }),
  });
}

/** Every chart the report has data for, in page order. */
export function reportCharts(report: BenchReport, width?: number): string[] {
  return [
    latencyCdfChart(report, width),
    perPodChangeChart(report, "deliveriesPerPodChange", width),
    perPodChangeChart(report, "bytesPerPodChange", width),
    scalingChart(report, "deliveriesPerPodChange", width),
    scalingChart(report, "bytesPerPodChange", width),
  ].filter((chart): chart is string => chart !== undefined);
}
