/**
 * The human report: one self-contained HTML file (inline CSS, inline SVG charts, no scripts, nothing
 * fetched), readable offline and attachable to an issue as is.
 */
import { reportCharts } from "./report-charts.ts";
import { costFloorHtml } from "./report-cost-floor.ts";
import type { BenchReport, StrategyCost } from "./report-document.ts";
import { fmtBytes, fmtCount, fmtMs, fmtPercent, fmtRatio, fmtUsd } from "./report-format.ts";
import { escapeXml } from "./svg-charts.ts";

const CSS = `
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; vertical-align: top; }
th { background: #f5f5f5; } td.text, th.text { text-align: left; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #cf222e; font-weight: bold; }
.warn { color: #9a6700; } .muted { color: #666; font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.charts svg { border: 1px solid #eee; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; font-size: 12px; }
details { margin: 6px 0; }
`;

function esc(value: unknown): string {
  return escapeXml(String(value));
}

function table(headers: readonly string[], rows: readonly (readonly string[])[], textColumns = 1): string {
  const head = headers
    .map((header, index) => `<th${index < textColumns ? ' class="text"' : ""}>${esc(header)}</th>`)
    .join("");
  const body = rows
    .map(
      (row) =>
        `<tr>${row.map((cell, index) => `<td${index < textColumns ? ' class="text"' : ""}>${cell}</td>`).join("")}</tr>`,
    )
    .join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function scenarioSection(report: BenchReport): string {
  const { scenario } = report;
  const rows: string[][] = [
    ["name", esc(scenario.name)],
    ["description", esc(scenario.description)],
    ["scale", esc(scenario.scale)],
    ["nodes / watchers", `${fmtCount(scenario.nodes)} / ${fmtCount(scenario.watchers)}`],
    ["zones", esc(scenario.zones.join(", "))],
    [
      "namespaces / services / pods",
      `${fmtCount(scenario.namespaces)} / ${fmtCount(scenario.services)} / ${fmtCount(scenario.pods)}`,
    ],
    ["pods of the big Service", fmtCount(scenario.bigServicePods)],
    ["peak churn", `${fmtCount(report.scenarioTotals.maxPodChangesPerSecond)} pod changes/s`],
    ["timed phases", `${fmtCount(report.scenarioTotals.phaseSeconds)} s`],
    ["seed", esc(scenario.seed)],
  ];
  const phases = scenario.phases.map((phase, index) => [
    esc(index),
    esc(phase.kind),
    `<code>${esc(JSON.stringify(phase))}</code>`,
  ]);
  return `<h2>Scenario</h2>${table(["parameter", "value"], rows, 2)}${table(["phase", "kind", "parameters"], phases, 3)}`;
}

function summarySection(report: BenchReport): string {
  const rows = report.strategies.map((result) => {
    const latency = result.latency.count > 0;
    return [
      `<b>${esc(result.strategy)}</b><div class="muted">${esc(result.description)}</div>`,
      esc(result.measurement),
      fmtCount(result.watchers),
      fmtCount(result.eventsIn),
      fmtCount(result.podChanges),
      fmtCount(result.objectWrites),
      fmtCount(result.deliveries),
      fmtBytes(result.bytesDelivered),
      fmtRatio(result.deliveriesPerPodChange),
      fmtBytes(result.bytesPerPodChange),
      fmtCount(result.peakDeliveriesPerSecond),
      latency ? fmtMs(result.latency.p50Ms) : "–",
      latency ? fmtMs(result.latency.p90Ms) : "–",
      latency ? fmtMs(result.latency.p99Ms) : "–",
      latency ? fmtMs(result.latency.maxMs) : "–",
      `${fmtCount(result.convergedWatchers)} / ${fmtCount(result.totalWatchers)}`,
      Object.keys(result.awsRequestsPerPodChange).length > 0
        ? fmtUsd(result.costPerMillionPodChangesUsd)
        : "n/a (not AWS)",
    ];
  });
  const notes = report.strategies
    .filter((result) => (result.notes ?? []).length > 0)
    .map(
      (result) =>
        `<p><b>${esc(result.strategy)}</b>: ${(result.notes ?? []).map((note) => esc(note)).join("<br>")}</p>`,
    )
    .join("");
  return `<h2>Strategies</h2>${table(
    [
      "strategy",
      "figures",
      "watchers",
      "events in",
      "pod changes",
      "object writes",
      "deliveries",
      "bytes delivered",
      "deliveries / pod change",
      "bytes / pod change",
      "peak deliveries/s",
      "p50",
      "p90",
      "p99",
      "max",
      "converged / total",
      "$ per M pod changes",
    ],
    rows,
  )}<p class="muted">figures: <i>model</i> = counted by a model over the trace; <i>live</i> = measured through the running pipeline.</p>${notes}`;
}

function chartsSection(report: BenchReport): string {
  const charts = reportCharts(report);
  if (charts.length === 0) return "";
  const reference =
    report.baselineStrategy === undefined
      ? ""
      : `<p class="muted">Dashed lines: 1/5 and 1/20 of ${esc(report.baselineStrategy)}.</p>`;
  return `<h2>Charts</h2>${reference}<div class="charts">${charts.join("")}</div>`;
}

function strategyCostDetails(entry: StrategyCost, report: BenchReport): string {
  const lines = entry.breakdown.lines.map((line) => [
    esc(line.kind),
    esc(line.priceId),
    fmtRatio(line.quantityPerPodChange),
    fmtUsd(line.usdPerMillionPodChanges),
  ]);
  const elsewhere = Object.entries(entry.breakdown.countedElsewhere);
  const unpriced =
    (entry.breakdown.unpriced.length === 0
      ? ""
      : `<p class="warn">Not priced (left out of the total): ${esc(entry.breakdown.unpriced.join(", "))}</p>`) +
    (elsewhere.length === 0
      ? ""
      : `<p class="muted">Billed through another kind: ${elsewhere.map(([kind, by]) => `${esc(kind)} (as ${esc(by)})`).join(", ")}</p>`);
  const sizes = entry.sizes.map((size) => {
    const first = size.capacity.firstLimit;
    return [
      fmtCount(size.nodes),
      fmtCount(size.monthly.podChangesPerSecond),
      fmtUsd(size.monthly.usdPerMillionPodChanges),
      fmtUsd(size.monthly.podChangeUsdPerMonth),
      fmtUsd(size.monthly.idlePollingUsdPerMonth),
      `<b>${fmtUsd(size.monthly.totalUsdPerMonth)}</b>`,
      first === undefined
        ? "–"
        : `<span class="${first.exceeded ? "fail" : ""}">${esc(first.limit.what)}: ${fmtPercent(first.utilization)}</span>`,
    ];
  });
  const capacity = entry.sizes
    .map((size) => {
      const rows = size.capacity.rows.map((row) => [
        esc(row.limit.what),
        fmtRatio(row.demand),
        row.limit.value === null ? "none documented" : fmtCount(row.limit.value),
        esc(row.limit.unit),
        `<span class="${row.exceeded ? "fail" : ""}">${fmtPercent(row.utilization)}</span>`,
        esc(row.limit.status),
      ]);
      return `<details><summary>Capacity at ${fmtCount(size.nodes)} nodes</summary>${table(
        ["limit", "demand", "limit value", "unit", "used", "status"],
        rows,
      )}</details>`;
    })
    .join("");
  return (
    `<h3>${esc(entry.strategy)} <span class="muted">(${esc(entry.measurement)}, measured at ${fmtCount(entry.measuredWatchers)} watchers)</span></h3>` +
    table(["request kind", "price", "per pod change", "$ per M pod changes"], lines, 2) +
    unpriced +
    `<p>Per month at ${fmtCount(report.costModel.podChangesPerSecond)} pod changes/s (projected from the measured size):</p>` +
    table(
      [
        "nodes",
        "pod changes/s",
        "$ per M pod changes",
        "pod changes $/month",
        "empty polls $/month",
        "total $/month",
        "first limit reached",
      ],
      sizes,
      0,
    ) +
    capacity
  );
}

function costSection(report: BenchReport): string {
  const model = report.costModel;
  const method = `<ul>${model.method.map((line) => `<li>${esc(line)}</li>`).join("")}</ul>`;
  const assumptions = `<p class="muted">Assumptions: ${esc(JSON.stringify(model.assumptions))}</p>`;
  const strategies =
    model.strategies.length === 0
      ? "<p>No strategy reported AWS requests.</p>"
      : model.strategies.map((entry) => strategyCostDetails(entry, report)).join("");
  const prices = model.prices.entries.map((entry) => [
    esc(entry.service),
    `${esc(entry.id)}<div class="muted">${esc(entry.description)}</div>`,
    `$${esc(entry.usd)} per ${fmtCount(entry.perUnits)} ${esc(entry.unit)}`,
    `<span class="${entry.status === "unverified" ? "warn" : ""}">${esc(entry.status)}</span>`,
    `${entry.sources.map((source) => esc(source)).join("<br>")}${entry.note ? `<div class="warn">${esc(entry.note)}</div>` : ""}`,
  ]);
  return (
    `<h2>AWS cost and capacity model</h2>${method}${assumptions}${strategies}` +
    `<h3>Prices (${esc(model.prices.region)}, checked ${esc(model.prices.checked)})</h3>` +
    (model.prices.howChecked ? `<p class="muted">${esc(model.prices.howChecked)}</p>` : "") +
    table(["service", "price", "unit price", "status", "sources"], prices, 2)
  );
}

function acceptanceSection(report: BenchReport): string {
  if (report.acceptance.length === 0) return "<h2>Acceptance checks</h2><p>None given.</p>";
  const rows = report.acceptance.map((check) => [
    esc(check.name),
    fmtRatio(check.value),
    `${check.direction === "atMost" ? "≤" : "≥"} ${fmtRatio(check.threshold)}${check.unit ? ` ${esc(check.unit)}` : ""}`,
    `<span class="${check.pass ? "pass" : "fail"}">${check.pass ? "pass" : "FAIL"}</span>`,
    esc(check.note ?? ""),
  ]);
  return `<h2>Acceptance checks</h2>${table(["check", "value", "threshold", "result", "note"], rows, 1)}`;
}

function liveSection(report: BenchReport): string {
  const live = report.live;
  if (live === undefined) return "";
  const { notes, lambdaSamples, ...rest } = live;
  const parts = ["<h2>Live pass</h2>"];
  if (notes && notes.length > 0)
    parts.push(`<ul>${notes.map((note) => `<li>${esc(note)}</li>`).join("")}</ul>`);
  if (lambdaSamples && lambdaSamples.length > 0) {
    parts.push(
      table(
        ["function", "duration", "memory", "max memory used"],
        lambdaSamples.map((sample) => [
          esc(sample.function),
          fmtMs(sample.durationMs),
          `${fmtCount(sample.memoryMb)} MB`,
          sample.maxMemoryUsedMb === undefined ? "–" : `${fmtCount(sample.maxMemoryUsedMb)} MB`,
        ]),
      ),
    );
  }
  if (Object.keys(rest).length > 0) parts.push(`<pre>${esc(JSON.stringify(rest, null, 2))}</pre>`);
  return parts.join("");
}

function machineSection(report: BenchReport): string {
  const { machine } = report;
  const rows = [
    ["CPU", `${esc(machine.cpuModel)} × ${fmtCount(machine.cores)}`],
    ["memory", fmtBytes(machine.memoryBytes)],
    ["OS", `${esc(machine.os)} (${esc(machine.arch)})`],
    ["Node.js", esc(machine.node)],
    ["load average (1/5/15 min)", esc(machine.loadAverage.join(" / "))],
    [
      "started / finished",
      `${esc(report.startedAt)} / ${esc(report.finishedAt)} (${fmtCount(report.durationSeconds)} s)`,
    ],
    ["tool", `${esc(report.tool.name)} ${esc(report.tool.version)}`],
    ["working directory", esc(report.command.cwd)],
  ];
  return `<h2>Machine and command</h2>${table(["", ""], rows, 2)}<pre>$ ${esc(report.command.line)}</pre>`;
}

export function renderReportHtml(report: BenchReport): string {
  const notes =
    report.notes.length === 0
      ? ""
      : `<ul>${report.notes.map((note) => `<li>${esc(note)}</li>`).join("")}</ul>`;
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>sliceline benchmark: ${esc(report.scenario.name)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>sliceline benchmark: ${esc(report.scenario.name)}</h1>`,
    `<p class="muted">${esc(report.startedAt)} · ${fmtCount(report.durationSeconds)} s · ${esc(report.tool.name)} ${esc(report.tool.version)}</p>`,
    notes,
    summarySection(report),
    acceptanceSection(report),
    chartsSection(report),
    scenarioSection(report),
    costFloorHtml(report.costFloor),
    costSection(report),
    liveSection(report),
    machineSection(report),
    "</body></html>\n",
  ].join("\n");
}
