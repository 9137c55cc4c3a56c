/**
 * One SVG page summarizing a run: header, a per-strategy table, the charts in two columns, and the
 * acceptance checks. Rendered to the report's PNG.
 */
import { reportCharts } from "./report-charts.ts";
import type { BenchReport } from "./report-document.ts";
import { fmtBytes, fmtCount, fmtMs, fmtPercent, fmtRatio, fmtUsd } from "./report-format.ts";
import { composeSvg, escapeXml, type Panel, svgHeight } from "./svg-charts.ts";

const PAGE_WIDTH = 1200;
const COLUMN_WIDTH = 590;
const ROW = 16;

function text(x: number, y: number, content: string, attributes = ""): string {
  return `<text x="${x}" y="${y}" ${attributes}>${escapeXml(content)}</text>`;
}

function clip(content: string, length: number): string {
  return content.length <= length ? content : `${content.slice(0, length - 1)}…`;
}

const COLUMNS = [
  { title: "strategy", x: 20 },
  { title: "figures", x: 230 },
  { title: "deliveries/pod change", x: 300 },
  { title: "bytes/pod change", x: 450 },
  { title: "p50", x: 580 },
  { title: "p99", x: 660 },
  { title: "max", x: 740 },
  { title: "converged", x: 820 },
  { title: "$/M pod changes", x: 920 },
] as const;

function summaryTable(report: BenchReport, top: number): { svg: string; height: number } {
  const parts = COLUMNS.map((column) =>
    text(column.x, top, column.title, 'font-size="11" font-weight="bold"'),
  );
  report.strategies.forEach((result, index) => {
    const y = top + ROW * (index + 1);
    const cells = [
      clip(
        result.watchers === report.scenario.watchers
          ? result.strategy
          : `${result.strategy} (${result.watchers} watchers)`,
        30,
      ),
      result.measurement,
      fmtRatio(result.deliveriesPerPodChange),
      fmtBytes(result.bytesPerPodChange),
      result.latency.count > 0 ? fmtMs(result.latency.p50Ms) : "–",
      result.latency.count > 0 ? fmtMs(result.latency.p99Ms) : "–",
      result.latency.count > 0 ? fmtMs(result.latency.maxMs) : "–",
      `${result.convergedWatchers}/${result.totalWatchers}`,
      fmtUsd(result.costPerMillionPodChangesUsd),
    ];
    cells.forEach((cell, column) => {
      parts.push(text(COLUMNS[column]?.x ?? 0, y, cell, 'font-size="11"'));
    });
  });
  return {
    svg: `<g class="summary-table">${parts.join("")}</g>`,
    height: ROW * (report.strategies.length + 1),
  };
}

function acceptanceLines(report: BenchReport, top: number): { svg: string; height: number } {
  if (report.acceptance.length === 0) return { svg: "", height: 0 };
  const parts = [text(20, top, "Acceptance checks", 'font-size="13" font-weight="bold"')];
  report.acceptance.forEach((check, index) => {
    const sign = check.direction === "atMost" ? "≤" : "≥";
    const line = `${check.pass ? "PASS" : "FAIL"}  ${check.name}: ${fmtRatio(check.value)} ${sign} ${fmtRatio(check.threshold)}${check.unit ? ` ${check.unit}` : ""}`;
    parts.push(
      text(20, top + ROW * (index + 1), line, `font-size="11" fill="${check.pass ? "#1a7f37" : "#cf222e"}"`),
    );
  });
  return {
    svg: `<g class="acceptance">${parts.join("")}</g>`,
    height: ROW * (report.acceptance.length + 1) + 8,
  };
}

function costLines(report: BenchReport, top: number): { svg: string; height: number } {
  const model = report.costModel;
  if (model.strategies.length === 0) return { svg: "", height: 0 };
  const parts = [
    text(
      20,
      top,
      `AWS cost model (${model.prices.region} prices checked ${model.prices.checked}; ${fmtCount(model.podChangesPerSecond)} pod changes/s; larger sizes projected)`,
      'font-size="13" font-weight="bold"',
    ),
  ];
  let row = 1;
  for (const entry of model.strategies) {
    const head = `${entry.strategy} (${entry.measurement}, measured at ${fmtCount(entry.measuredWatchers)} watchers): ${fmtUsd(entry.breakdown.usdPerMillionPodChanges)} per M pod changes`;
    parts.push(text(20, top + ROW * row, head, 'font-size="11" font-weight="bold"'));
    row += 1;
    for (const size of entry.sizes) {
      const first = size.capacity.firstLimit;
      const limit =
        first === undefined
          ? ""
          : ` · first limit: ${first.limit.what} at ${fmtPercent(first.utilization)}${first.exceeded ? " (EXCEEDED)" : ""}`;
      const line = `${fmtCount(size.nodes)} nodes: ${fmtUsd(size.monthly.totalUsdPerMonth)}/month (${fmtUsd(size.monthly.usdPerMillionPodChanges)} per M pod changes, empty polls ${fmtUsd(size.monthly.idlePollingUsdPerMonth)})${limit}`;
      parts.push(text(36, top + ROW * row, clip(line, 200), 'font-size="11"'));
      row += 1;
    }
  }
  return { svg: `<g class="cost">${parts.join("")}</g>`, height: ROW * row + 8 };
}

export function renderSummarySvg(report: BenchReport): string {
  const { scenario, machine } = report;
  const header = [
    text(20, 28, `sliceline benchmark: ${scenario.name}`, 'font-size="18" font-weight="bold"'),
    text(
      20,
      48,
      `${scenario.nodes.toLocaleString("en-US")} nodes, ${scenario.watchers.toLocaleString("en-US")} watchers, ${scenario.pods.toLocaleString("en-US")} pods, ${scenario.services.toLocaleString("en-US")} services, scale ${scenario.scale}, peak ${report.scenarioTotals.maxPodChangesPerSecond} pod changes/s, ${report.scenarioTotals.phaseSeconds} s of phases`,
      'font-size="12"',
    ),
    text(
      20,
      66,
      `${report.startedAt} · ${report.durationSeconds} s · ${machine.cpuModel} × ${machine.cores} · ${Math.round(machine.memoryBytes / 2 ** 30)} GiB · ${machine.os} · Node ${machine.node}`,
      'font-size="11" fill="#555"',
    ),
    text(
      20,
      82,
      clip(`$ ${report.command.line}`, 180),
      'font-size="10" fill="#555" font-family="DejaVu Sans Mono, monospace"',
    ),
  ];
  const table = summaryTable(report, 110);
  let y = 110 + table.height + 10;
  const checks = acceptanceLines(report, y + 6);
  y += checks.height + 10;
  const cost = costLines(report, y + 6);
  y += cost.height + 10;
  const panels: Panel[] = [];
  const charts = reportCharts(report, COLUMN_WIDTH);
  for (let index = 0; index < charts.length; index += 2) {
    const left = charts[index] ?? "";
    const right = charts[index + 1];
    panels.push({ svg: left, x: 5, y });
    if (right !== undefined) panels.push({ svg: right, x: 5 + COLUMN_WIDTH + 10, y });
    y += Math.max(svgHeight(left), right === undefined ? 0 : svgHeight(right)) + 10;
  }
  return composeSvg(PAGE_WIDTH, y + 10, panels, header.join("") + table.svg + checks.svg + cost.svg);
}
