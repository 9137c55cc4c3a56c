import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import {
  BenchReportError,
  buildBenchReport,
  evaluateAcceptance,
  ratioCheck,
  shellLine,
  writeBenchReport,
} from "#scripts/bench/report-document.ts";
import type { Scenario, StrategyResult } from "#scripts/bench/types.ts";

const scenario: Scenario = {
  name: "unit <report>",
  description: "report test input",
  scale: 1,
  nodes: 4,
  zones: ["a"],
  namespaces: 1,
  services: 2,
  pods: 10,
  bigServicePods: 0,
  watchers: 4,
  phases: [
    { kind: "churn", podChangesPerSecond: 5, seconds: 10 },
    { kind: "namespace-label-flip", namespaces: 1 },
    { kind: "node-heartbeats", heartbeatsPerSecond: 2, seconds: 3 },
  ],
  seed: 7,
};

function result(
  strategy: string,
  deliveriesPerPodChange: number,
  aws: Record<string, number>,
): StrategyResult {
  return {
    strategy,
    description: `${strategy} test strategy`,
    measurement: "model",
    watchers: 4,
    eventsIn: 20,
    podChanges: 10,
    objectWrites: 5,
    deliveries: deliveriesPerPodChange * 10,
    bytesDelivered: deliveriesPerPodChange * 1000,
    deliveriesPerPodChange,
    bytesPerPodChange: deliveriesPerPodChange * 100,
    peakDeliveriesPerSecond: 3,
    latency: { count: 3, p50Ms: 2, p90Ms: 3, p99Ms: 3, maxMs: 3 },
    latencyCdf: [1, 2, 3],
    convergedWatchers: 4,
    totalWatchers: 4,
    awsRequestsPerPodChange: aws,
  };
}

const strategies = [
  result("per-endpoint", 4, {}),
  result("sliceline", 0.1, { snsPublishes: 1, sqsWatcherReceives: 4 }),
];

function build() {
  return buildBenchReport({
    scenario,
    strategies,
    scaling: [
      {
        strategy: "per-endpoint",
        watchers: 4,
        deliveriesPerPodChange: 4,
        bytesPerPodChange: 400,
        peakDeliveriesPerSecond: 3,
      },
      {
        strategy: "per-endpoint",
        watchers: 40,
        deliveriesPerPodChange: 40,
        bytesPerPodChange: 4000,
        peakDeliveriesPerSecond: 30,
      },
    ],
    startedAt: "2026-11-25T10:00:00.000Z",
    finishedAt: "2026-11-25T10:01:30.500Z",
    argv: ["node", "scripts/bench.ts", "--scenario", "a b"],
    acceptance: [
      ratioCheck(
        strategies,
        "sliceline",
        "per-endpoint",
        "deliveriesPerPodChange",
        1 / 20,
        "deliveries ≤ 1/20",
      ),
      { name: "converged", value: 3, threshold: 4, direction: "atLeast" },
    ],
  });
}

describe("buildBenchReport", () => {
  const report = build();

  it("records times, command, machine and scenario totals", () => {
    assert.equal(report.durationSeconds, 90.5);
    assert.equal(report.command.line, "node scripts/bench.ts --scenario 'a b'");
    assert.ok(report.machine.cores > 0 && report.machine.memoryBytes > 0);
    assert.equal(report.machine.loadAverage.length, 3);
    assert.deepEqual(report.scenarioTotals, { phaseSeconds: 13, maxPodChangesPerSecond: 5 });
    assert.equal(report.baselineStrategy, "per-endpoint");
  });

  it("prices only strategies that report AWS requests", () => {
    const [perEndpoint, sliceline] = report.strategies;
    assert.equal(perEndpoint?.costPerMillionPodChangesUsd, undefined);
    // 1M publishes × $0.50/M + 4M receives × $0.40/M with the project's price book
    assert.ok(Math.abs((sliceline?.costPerMillionPodChangesUsd ?? 0) - 2.1) < 1e-9);
    assert.deepEqual(
      report.costModel.strategies.map((entry) => entry.strategy),
      ["sliceline"],
    );
    assert.deepEqual(
      report.costModel.strategies[0]?.sizes.map((size) => size.nodes),
      [1000, 5000, 50_000],
    );
  });

  it("decides acceptance from the values, not from the caller", () => {
    assert.deepEqual(
      report.acceptance.map((check) => [check.name, check.value, check.pass]),
      [
        ["deliveries ≤ 1/20", 0.025, true],
        ["converged", 3, false],
      ],
    );
    assert.equal(
      evaluateAcceptance({ name: "nan", value: Number.NaN, threshold: 1, direction: "atMost" }).pass,
      false,
    );
  });

  it("refuses a ratio check against a strategy that did not run", () => {
    assert.throws(
      () => ratioCheck(strategies, "sliceline", "etcd", "bytesPerPodChange", 0.2, "x"),
      BenchReportError,
    );
  });

  it("quotes shell arguments", () => {
    assert.equal(shellLine(["a", "it's"]), `a 'it'\\''s'`);
  });
});

describe("writeBenchReport", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-report-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const written = writeBenchReport(build(), dir);

  it("writes JSON, HTML and PNG named after the scenario and start time", () => {
    assert.equal(path.basename(written.json), "unit_report_-2026-11-25T10-00-00-000Z.json");
    const json = JSON.parse(readFileSync(written.json, "utf8")) as { strategies: { strategy: string }[] };
    assert.deepEqual(
      json.strategies.map((entry) => entry.strategy),
      ["per-endpoint", "sliceline"],
    );
    const png = readFileSync(written.png);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok(png.readUInt32BE(16) >= 1000, "PNG width");
  });

  it("writes a self-contained HTML page", () => {
    const html = readFileSync(written.html, "utf8");
    assert.doesNotMatch(html, /<script|<link|<img|src=|url\(/i);
    assert.ok(html.includes("unit &lt;report&gt;"));
    assert.ok(html.includes("Propagation latency CDF"));
    assert.ok(html.includes("1/20 of per-endpoint"));
    assert.ok(html.includes("as watchers grow"));
    assert.ok(html.includes("$ node scripts/bench.ts --scenario &#39;a b&#39;"));
    assert.match(html, /class="fail">FAIL/);
  });
});
