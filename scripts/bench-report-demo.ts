/**
 * LAYOUT FIXTURE ONLY. Builds a benchmark report from fabricated numbers so the HTML and PNG
 * layout can be looked at without running the benchmark. Nothing here is measured; the scenario
 * is named "layout-fixture" and every strategy says so, so the output can never pass for a result.
 *
 *   node scripts/bench-report-demo.ts [--out bench-results/layout-fixture]
 */
import { parseArgs } from "node:util";
import {
  buildBenchReport,
  ratioCheck,
  type ScalingPoint,
  writeBenchReport,
} from "#scripts/bench/report-document.ts";
import type { Scenario, StrategyResult } from "#scripts/bench/types.ts";

const { values } = parseArgs({
  options: { out: { type: "string", default: "bench-results/layout-fixture" } },
});

const FABRICATED = "LAYOUT FIXTURE: fabricated numbers, not measured";

const scenario: Scenario = {
  name: "layout-fixture",
  description: FABRICATED,
  scale: 0.01,
  nodes: 50,
  zones: ["zone-a", "zone-b", "zone-c"],
  namespaces: 10,
  services: 100,
  pods: 3000,
  bigServicePods: 1000,
  watchers: 50,
  phases: [
    { kind: "churn", podChangesPerSecond: 100, seconds: 60 },
    { kind: "rolling-update", podChangesPerSecond: 200, fraction: 0.25 },
    {
      kind: "watcher-restart",
      fraction: 0.2,
      backoffBaseMs: 500,
      backoffCapMs: 30_000,
      podChangesPerSecond: 100,
      seconds: 30,
    },
  ],
  seed: 1,
};

/** A smooth made-up latency curve: `count` samples between roughly `low` and `high` ms. */
function fakeLatencies(count: number, low: number, high: number): number[] {
  return Array.from({ length: count }, (_, index) => low * (high / low) ** ((index / count) ** 2));
}

function fakeStrategy(
  strategy: string,
  measurement: "model" | "live",
  deliveriesPerPodChange: number,
  bytesPerDelivery: number,
  aws: Record<string, number>,
  latency?: readonly [number, number],
): StrategyResult {
  const podChanges = 6000;
  const deliveries = deliveriesPerPodChange * podChanges;
  const samples = latency ? fakeLatencies(200, latency[0], latency[1]) : [];
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
  return {
    strategy,
    description: FABRICATED,
    measurement,
    watchers: 50,
    eventsIn: 9000,
    podChanges,
    objectWrites: podChanges / 4,
    deliveries,
    bytesDelivered: deliveries * bytesPerDelivery,
    deliveriesPerPodChange,
    bytesPerPodChange: deliveriesPerPodChange * bytesPerDelivery,
    peakDeliveriesPerSecond: deliveriesPerPodChange * 200,
    latency: {
      count: samples.length,
      p50Ms: at(0.5),
      p90Ms: at(0.9),
      p99Ms: at(0.99),
      maxMs: samples.at(-1) ?? 0,
    },
    latencyCdf: samples,
    convergedWatchers: 50,
    totalWatchers: 50,
    awsRequestsPerPodChange: aws,
    notes: [FABRICATED],
  };
}

const strategies = [
  fakeStrategy("per-endpoint", "model", 50, 900, {}),
  fakeStrategy("per-service", "model", 50, 40_000, {}),
  fakeStrategy("etcd-peer", "model", 50, 1200, {}, [2, 80]),
  fakeStrategy(
    "sliceline",
    "live",
    2,
    3000,
    {
      sqsIngestRequests: 0.01,
      lambdaInvocations: 0.02,
      lambdaGbSeconds: 0.002,
      dynamodbWriteUnits: 3,
      dynamodbReadUnits: 1,
      snsPublishes: 0.3,
      snsSqsDeliveries: 15,
      sqsWatcherReceives: 5,
      sqsWatcherDeletes: 5,
      streamReads: 0.01,
    },
    [40, 1500],
  ),
];

const scaling: ScalingPoint[] = [10, 100, 1000].flatMap((watchers) => [
  {
    strategy: "per-endpoint",
    watchers,
    deliveriesPerPodChange: watchers,
    bytesPerPodChange: watchers * 900,
    peakDeliveriesPerSecond: watchers * 200,
  },
  {
    strategy: "sliceline",
    watchers,
    deliveriesPerPodChange: watchers / 25,
    bytesPerPodChange: (watchers / 25) * 3000,
    peakDeliveriesPerSecond: (watchers / 25) * 200,
  },
]);

const startedAt = new Date();
const report = buildBenchReport({
  scenario,
  strategies,
  scaling,
  startedAt,
  finishedAt: new Date(startedAt.getTime() + 95_000),
  live: {
    notes: [FABRICATED],
    lambdaSamples: [{ function: "IngestFunction", durationMs: 120, memoryMb: 1024 }],
  },
  acceptance: [
    ratioCheck(
      strategies,
      "sliceline",
      "per-endpoint",
      "deliveriesPerPodChange",
      1 / 20,
      "deliveries ≤ 1/20 of per-endpoint",
    ),
    ratioCheck(
      strategies,
      "sliceline",
      "per-endpoint",
      "bytesPerPodChange",
      1 / 5,
      "bytes ≤ 1/5 of per-endpoint",
    ),
  ],
  notes: [FABRICATED],
});
const written = writeBenchReport(report, values.out);
console.log(`${FABRICATED}\n${written.json}\n${written.html}\n${written.png}`);
