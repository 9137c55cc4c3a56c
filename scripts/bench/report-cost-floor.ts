/**
 * The "cost per node per month" table (cost-floor.ts) as HTML for the report and as a markdown table
 * for the console and docs/benchmark.md.
 */
import type { CostFloorRow, CostFloorSection } from "./cost-floor.ts";
import { fmtCount, fmtPercent, fmtRatio, fmtUsd } from "./report-format.ts";
import { escapeXml } from "./svg-charts.ts";

const esc = (value: unknown) => escapeXml(String(value));

/** Dollars per node per month: cents matter here, so two decimals down to $0.01, then 2 digits. */
export function fmtUsdPerNode(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value !== 0 && Math.abs(value) < 0.01) return `$${Number(value.toPrecision(2))}`;
  return `$${value.toFixed(2)}`;
}

function etcdCell(row: CostFloorRow): string {
  const { etcd } = row;
  return `${etcd.members} × ${etcd.instance.name}${etcd.exceedsLargestType ? " (measured need exceeds it)" : ""}`;
}

function firstLimitCell(row: CostFloorRow): string {
  return row.firstLimit === undefined
    ? "–"
    : `${row.firstLimit.what}: ${fmtPercent(row.firstLimit.utilization)}`;
}

/** The services making up at least 1% of sliceline's per-node cost, largest first. */
function topServices(row: CostFloorRow): string {
  const total = row.slicelineUsdPerNodePerMonth;
  return row.byService
    .filter((line) => total > 0 && line.usdPerNodePerMonth / total >= 0.01)
    .map(
      (line) =>
        `${line.service} ${fmtUsdPerNode(line.usdPerNodePerMonth)} (${Math.round((line.usdPerNodePerMonth / total) * 100)}%)`,
    )
    .join("; ");
}

/** One sentence: does sliceline at 5,000 nodes stay within 2× the floor, and by how much not. */
export function goalSentence(section: CostFloorSection): string {
  const { goal } = section;
  const row = section.rows.find((entry) => entry.nodes === goal.nodes);
  if (row === undefined || goal.ratio === undefined)
    return `Goal (${section.strategy} at ${fmtCount(goal.nodes)} nodes ≤ ${goal.maxRatio}× the floor): not evaluated, no ${fmtCount(goal.nodes)}-node size in this report.`;
  const head = `Goal: ${section.strategy} at ${fmtCount(goal.nodes)} nodes ≤ ${goal.maxRatio}× the delivery floor: ${fmtUsdPerNode(row.slicelineUsdPerNodePerMonth)} vs ${fmtUsdPerNode(row.floorUsdPerNodePerMonth)} per node per month, ${fmtRatio(goal.ratio)}×`;
  if (goal.holds) return `${head}: holds.`;
  const over = row.slicelineUsdPerNodePerMonth - goal.maxRatio * row.floorUsdPerNodePerMonth;
  return `${head}: does not hold, ${fmtUsdPerNode(over)} per node per month over ${goal.maxRatio}× (${fmtRatio(goal.ratio / goal.maxRatio)}× the target); by service: ${topServices(row)}.`;
}

export function costFloorMarkdown(section: CostFloorSection): string {
  const lines = [
    `| nodes | ${section.strategy} (model) | delivery floor | etcd cluster (kvstore) | etcd machines | ${section.strategy} ÷ floor | ${section.strategy} by service | first limit (capacity model) |`,
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...section.rows.map(
      (row) =>
        `| ${fmtCount(row.nodes)} | ${fmtUsdPerNode(row.slicelineUsdPerNodePerMonth)} | ${fmtUsdPerNode(row.floorUsdPerNodePerMonth)} | ${fmtUsdPerNode(row.etcdUsdPerNodePerMonth)} | ${etcdCell(row)} | ${fmtRatio(row.ratioToFloor)} | ${topServices(row)} | ${firstLimitCell(row)} |`,
    ),
  ];
  if (section.others.length > 0) {
    const sizes = section.rows.map((row) => row.nodes);
    lines.push(
      "",
      `| other priced strategies, per node per month (÷ floor) | ${sizes.map((nodes) => `${fmtCount(nodes)} nodes`).join(" | ")} |`,
      `| --- | ${sizes.map(() => "---").join(" | ")} |`,
      ...section.others.map(
        (other) =>
          `| ${other.strategy} (${other.measurement}, requests counted at ${fmtCount(other.measuredWatchers)} watchers) | ${other.rows.map((row) => `${fmtUsdPerNode(row.usdPerNodePerMonth)} (${fmtRatio(row.ratioToFloor)}×)`).join(" | ")} |`,
      ),
    );
  }
  return lines.join("\n");
}

/** Console lines: the table and the goal. */
export function costFloorConsole(section: CostFloorSection): string[] {
  return [
    `\ncost per node per month at ${fmtCount(section.podChangesPerSecond)} pod changes/s (${section.floor.windowSeconds} s batching window):`,
    costFloorMarkdown(section),
    goalSentence(section),
  ];
}

function table(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  textColumns: number,
): string {
  const cell = (tag: string, index: number, content: string) =>
    `<${tag}${index < textColumns ? ' class="text"' : ""}>${content}</${tag}>`;
  const head = headers.map((header, index) => cell("th", index, esc(header))).join("");
  const body = rows.map(
    (row) => `<tr>${row.map((content, index) => cell("td", index, content)).join("")}</tr>`,
  );
  return `<table><thead><tr>${head}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

export function costFloorHtml(section: CostFloorSection | undefined): string {
  if (section === undefined) return "";
  const { floor } = section;
  const rows = section.rows.map((row) => [
    fmtCount(row.nodes),
    `<b>${fmtUsdPerNode(row.slicelineUsdPerNodePerMonth)}</b>`,
    fmtUsdPerNode(row.floorUsdPerNodePerMonth),
    fmtUsdPerNode(row.etcdUsdPerNodePerMonth),
    `<span class="${row.ratioToFloor <= section.goal.maxRatio ? "pass" : "fail"}">${fmtRatio(row.ratioToFloor)}×</span>`,
    esc(topServices(row)),
    esc(firstLimitCell(row)),
  ]);
  const otherRows = section.others.map((other) => [
    `${esc(other.strategy)} <span class="muted">(${esc(other.measurement)}, requests counted at ${fmtCount(other.measuredWatchers)} watchers)</span>`,
    ...other.rows.map((row) => `${fmtUsdPerNode(row.usdPerNodePerMonth)} (${fmtRatio(row.ratioToFloor)}×)`),
  ]);
  const etcdRows = section.rows.map((row) => [
    fmtCount(row.nodes),
    esc(etcdCell(row)),
    esc(`${row.etcd.tier.name} (${row.etcd.tier.awsExample})`),
    esc(row.etcd.sizedBy),
    fmtCount(row.etcd.watchEventsPerSecond),
    fmtRatio(row.etcd.measuredCpuCores),
    fmtUsd(row.etcd.instancesUsdPerMonth),
    fmtUsd(row.etcd.volumesUsdPerMonth),
    `${fmtCount(row.etcd.transferGbPerMonth)} GB, ${fmtUsd(row.etcd.transferUsdPerMonth)}`,
    `<b>${fmtUsd(row.etcd.totalUsdPerMonth)}</b>`,
  ]);
  const load = section.etcdLoad;
  return (
    `<h2>Cost per node per month</h2>` +
    `<p>At ${fmtCount(section.podChangesPerSecond)} pod changes/s. ${esc(goalSentence(section))}</p>` +
    table(
      [
        "nodes",
        `${section.strategy} (model)`,
        "delivery floor",
        "etcd cluster (kvstore)",
        `${section.strategy} ÷ floor`,
        `${section.strategy} by service`,
        "first limit (capacity model)",
      ],
      rows,
      0,
    ) +
    (otherRows.length === 0
      ? ""
      : `<p>Every other priced strategy, per node per month (÷ the floor):</p>${table(
          ["strategy", ...section.rows.map((row) => `${fmtCount(row.nodes)} nodes`)],
          otherRows,
          1,
        )}`) +
    `<p class="muted">Delivery floor: ${fmtCount(floor.messagesPerNodePerMonth)} messages per node per month (${floor.windowSeconds} s window, ${fmtRatio(floor.deliveringWindowShare * 100)}% of windows with a change, ${fmtCount(floor.messageBytes)} B each), ${fmtCount(floor.requestsPerNodePerMonth)} SQS requests.</p>` +
    `<h3>etcd cluster</h3>` +
    table(
      [
        "nodes",
        "members",
        "etcd guide class",
        "sized by",
        "watch events/s",
        "measured cores",
        "instances $/month",
        "gp3 $/month",
        "cross-AZ transfer",
        "total $/month",
      ],
      etcdRows,
      4,
    ) +
    `<p class="muted">From ${esc(load.source)}: ${fmtRatio(load.keyWritesPerPodChange)} key writes per pod change, ${fmtRatio(load.watchEventsPerPodChangePerNode)} watch events per pod change per node, ${fmtCount(load.bytesPerWatchEvent)} B per watch event, ${fmtRatio(load.cpuSecondsPerWatchEvent * 1e6)} µs of etcd CPU per watch event.</p>` +
    `<ul>${section.assumptions.map((line) => `<li>${esc(line)}</li>`).join("")}</ul>`
  );
}
