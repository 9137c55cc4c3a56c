import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  COST_FLOOR_GOAL,
  costFloorSection,
  deliveryFloor,
  ETCD_GUIDANCE_TIERS,
  ETCD_INSTANCE_TYPES,
  type EtcdLoad,
  guidanceTier,
  MEASURED_ETCD_DEFAULTS,
  perNodeByService,
  SQS_CHUNK_BYTES,
  sizeEtcdCluster,
} from "#scripts/bench/cost-floor.ts";
import { loadPriceBook, monthlyCost, type PriceBook, SECONDS_PER_MONTH } from "#scripts/bench/cost-model.ts";
import { costFloorHtml, costFloorMarkdown, goalSentence } from "#scripts/bench/report-cost-floor.ts";
import { buildBenchReport } from "#scripts/bench/report-document.ts";
import type { Scenario, StrategyResult } from "#scripts/bench/types.ts";

const scenario: Scenario = {
  name: "cost floor",
  description: "",
  scale: 1,
  nodes: 10,
  zones: ["a"],
  namespaces: 1,
  services: 1,
  pods: 10,
  bigServicePods: 0,
  watchers: 10,
  phases: [{ kind: "churn", podChangesPerSecond: 100, seconds: 1 }],
  seed: 1,
};

/** Round prices so the expected figures can be checked by hand. */
const book: PriceBook = {
  region: "test",
  currency: "USD",
  checked: "2026-12-05",
  entries: [
    { id: "sqs.standardRequest", service: "Amazon SQS", usd: 0.4, perUnits: 1_000_000 },
    { id: "sns.publish", service: "Amazon SNS", usd: 0.5, perUnits: 1_000_000 },
    { id: "sns.sqsDelivery", service: "Amazon SNS", usd: 0, perUnits: 1_000_000 },
    { id: "dynamodb.onDemandWriteRequestUnit", service: "Amazon DynamoDB", usd: 0.625, perUnits: 1_000_000 },
    { id: "ec2.m5.large", service: "Amazon EC2", usd: 0.1, perUnits: 1 },
    { id: "ec2.m5.xlarge", service: "Amazon EC2", usd: 0.2, perUnits: 1 },
    { id: "ec2.m5.2xlarge", service: "Amazon EC2", usd: 0.4, perUnits: 1 },
    { id: "ec2.m5.4xlarge", service: "Amazon EC2", usd: 0.8, perUnits: 1 },
    { id: "ec2.m5.12xlarge", service: "Amazon EC2", usd: 2.4, perUnits: 1 },
    { id: "ebs.gp3GbMonth", service: "Amazon EBS", usd: 0.08, perUnits: 1 },
    { id: "ec2.interAzTransferGb", service: "Amazon EC2", usd: 0.01, perUnits: 1 },
  ].map((price) => ({ ...price, description: "", unit: "", status: "verified", sources: [] })),
};

const HOURS = SECONDS_PER_MONTH / 3600;

function near(actual: number, expected: number, relative = 1e-9) {
  assert.ok(
    Math.abs(actual - expected) <= relative * Math.max(1, Math.abs(expected)),
    `${actual} ≠ ${expected}`,
  );
}

describe("deliveryFloor", () => {
  it("is a receive and a delete per node per window when every window has a change", () => {
    const floor = deliveryFloor({ windowSeconds: 1, podChangesPerSecond: 100, messageBytes: 16_000 }, book);
    near(floor.deliveringWindowShare, 1);
    near(floor.messagesPerNodePerMonth, SECONDS_PER_MONTH);
    near(floor.requestsPerNodePerMonth, 2 * SECONDS_PER_MONTH);
    near(floor.emptyReceivesPerNodePerMonth, 0, 1e-6);
    // 2 × 2,628,000 requests at $0.40 per million
    near(floor.usdPerNodePerMonth, 2.1024, 1e-6);
  });

  it("bills a receive per 64 KB chunk of the message, a delete as one request", () => {
    const floor = deliveryFloor(
      { windowSeconds: 1, podChangesPerSecond: 100, messageBytes: 2 * SQS_CHUNK_BYTES + 1 },
      book,
    );
    near(floor.receiveRequestsPerNodePerMonth, 3 * floor.messagesPerNodePerMonth);
    near(floor.deleteRequestsPerNodePerMonth, floor.messagesPerNodePerMonth);
  });

  it("costs an idle node one empty long poll per 20 s", () => {
    const floor = deliveryFloor({ windowSeconds: 1, podChangesPerSecond: 0, messageBytes: 0 }, book);
    near(floor.messagesPerNodePerMonth, 0);
    near(floor.emptyReceivesPerNodePerMonth, SECONDS_PER_MONTH / 20);
    near(floor.usdPerNodePerMonth, (SECONDS_PER_MONTH / 20) * 0.4e-6);
  });

  it("halves with a window twice as long when every window has a change", () => {
    const one = deliveryFloor({ windowSeconds: 1, podChangesPerSecond: 100, messageBytes: 1 }, book);
    const two = deliveryFloor({ windowSeconds: 2, podChangesPerSecond: 100, messageBytes: 1 }, book);
    near(two.usdPerNodePerMonth, one.usdPerNodePerMonth / 2, 1e-9);
  });

  it("rejects a window of 0 and negative rates", () => {
    assert.throws(() => deliveryFloor({ windowSeconds: 0, podChangesPerSecond: 1, messageBytes: 1 }, book));
    assert.throws(() => deliveryFloor({ windowSeconds: 1, podChangesPerSecond: -1, messageBytes: 1 }, book));
  });

  it("property: at most a chunked receive and a delete per window plus the idle polls, and more messages at a higher rate", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.05, max: 60, noNaN: true }),
        fc.double({ min: 0, max: 10_000, noNaN: true }),
        fc.double({ min: 0, max: 10_000, noNaN: true }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (windowSeconds, rateA, rateB, messageBytes) => {
          const [low, high] = rateA <= rateB ? [rateA, rateB] : [rateB, rateA];
          const a = deliveryFloor({ windowSeconds, podChangesPerSecond: low, messageBytes }, book);
          const b = deliveryFloor({ windowSeconds, podChangesPerSecond: high, messageBytes }, book);
          const windows = SECONDS_PER_MONTH / windowSeconds;
          const chunks = Math.max(1, Math.ceil(messageBytes / SQS_CHUNK_BYTES));
          for (const floor of [a, b]) {
            assert.ok(
              floor.requestsPerNodePerMonth <= windows * (chunks + 1) + SECONDS_PER_MONTH / 20 + 1e-6,
            );
            assert.ok(floor.deliveringWindowShare >= 0 && floor.deliveringWindowShare <= 1);
          }
          // More changes never make delivery cheaper when a message costs at least an empty poll.
          if (windowSeconds <= 20) assert.ok(b.messagesPerNodePerMonth >= a.messagesPerNodePerMonth - 1e-6);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("etcd sizing", () => {
  const load = (nodes: number): EtcdLoad => ({
    nodes,
    podChangesPerSecond: 100,
    keyWritesPerPodChange: 0.3,
    watchEventsPerPodChangePerNode: 0.3,
    bytesPerWatchEvent: 100,
    cpuSecondsPerWatchEvent: 10e-6,
  });

  it("takes etcd's guidance classes by clients and requests", () => {
    assert.equal(guidanceTier(50, 100).name, "small");
    assert.equal(guidanceTier(100, 100).name, "medium");
    assert.equal(guidanceTier(400, 999).name, "medium");
    assert.equal(guidanceTier(400, 1_000).name, "large");
    assert.equal(guidanceTier(1_001, 30).name, "large");
    assert.equal(guidanceTier(5_001, 30).name, "xLarge");
    assert.equal(ETCD_GUIDANCE_TIERS.length, 4);
  });

  it("sizes 1,000 nodes as a large cluster (m5.2xlarge) and 5,000 as xLarge (m5.4xlarge)", () => {
    const small = sizeEtcdCluster(load(1000), book);
    assert.equal(small.tier.name, "large");
    assert.equal(small.instance.name, "m5.2xlarge");
    assert.equal(small.sizedBy, "guidance");
    near(small.instancesUsdPerMonth, 3 * 0.4 * HOURS);
    near(small.volumesUsdPerMonth, 3 * 50 * 0.08);
    const big = sizeEtcdCluster(load(5000), book);
    assert.equal(big.instance.name, "m5.4xlarge");
    near(big.watchEventsPerSecond, 0.3 * 100 * 5000);
    near(big.measuredCpuCores, 150_000 * 10e-6);
  });

  it("prices the watch traffic crossing AZs on both sides, plus Raft replication", () => {
    const cluster = sizeEtcdCluster(load(1000), book, { crossAzShare: 0.5 });
    const watchBytes = 30 * 1000 * 100 * 0.5;
    const raftBytes = 30 * 100 * 2;
    near(cluster.transferGbPerMonth, ((watchBytes + raftBytes) * SECONDS_PER_MONTH) / 1e9);
    near(cluster.transferUsdPerMonth, 2 * 0.01 * cluster.transferGbPerMonth);
    near(
      cluster.totalUsdPerMonth,
      cluster.instancesUsdPerMonth + cluster.volumesUsdPerMonth + cluster.transferUsdPerMonth,
    );
    near(cluster.usdPerNodePerMonth, cluster.totalUsdPerMonth / 1000);
  });

  it("sizes by the measured CPU when the fan-out needs more than the guidance, and flags the largest type", () => {
    const heavy = sizeEtcdCluster({ ...load(5000), cpuSecondsPerWatchEvent: 100e-6 }, book);
    // 150,000 events/s × 100 µs = 15 cores; over 2 surviving members at 50%: 15 vCPUs → still 16
    assert.equal(heavy.instance.name, "m5.4xlarge");
    const heavier = sizeEtcdCluster({ ...load(5000), cpuSecondsPerWatchEvent: 200e-6 }, book);
    assert.equal(heavier.sizedBy, "measured CPU");
    assert.equal(heavier.instance.name, "m5.12xlarge");
    const beyond = sizeEtcdCluster({ ...load(50_000), cpuSecondsPerWatchEvent: 200e-6 }, book);
    assert.equal(beyond.exceedsLargestType, true);
    assert.equal(beyond.instance.name, ETCD_INSTANCE_TYPES.at(-1)?.name);
  });

  it("five members spread the fan-out over four survivors", () => {
    const three = sizeEtcdCluster(load(5000), book, { members: 3 });
    const five = sizeEtcdCluster(load(5000), book, { members: 5 });
    near(five.cpuVcpusPerMember, (three.cpuVcpusPerMember * 2) / 4);
    near(five.instancesUsdPerMonth, (three.instancesUsdPerMonth * 5) / 3);
  });

  it("property: the instance covers the guidance and the measured need unless flagged", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.double({ min: 0, max: 200e-6, noNaN: true }),
        (nodes, watchEventsPerPodChangePerNode, cpuSecondsPerWatchEvent) => {
          const cluster = sizeEtcdCluster(
            { ...load(nodes), watchEventsPerPodChangePerNode, cpuSecondsPerWatchEvent },
            book,
          );
          if (!cluster.exceedsLargestType) {
            assert.ok(cluster.instance.vcpus >= cluster.tier.vcpus);
            assert.ok(cluster.instance.vcpus >= cluster.cpuVcpusPerMember - 1e-9);
            assert.ok(cluster.instance.memoryGiB >= cluster.tier.memoryGiB);
          }
          assert.ok(cluster.totalUsdPerMonth > 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("costFloorSection", () => {
  const requests = {
    "sqs.watcher.receive": 5,
    "sqs.watcher.delete": 5,
    "sqs.ingest.receive": 0.01,
    "sns.publish": 0.5,
    "dynamodb.writeUnits": 4,
  };
  const sizes = [1000, 5000].map((nodes) => monthlyCost(requests, 1000, nodes, 100, book));

  it("puts sliceline per node beside the floor and etcd, and states whether the 5k goal holds", () => {
    const section = costFloorSection(
      {
        strategy: "sliceline-best",
        podChangesPerSecond: 100,
        windowSeconds: 1,
        messageBytes: 10_000,
        sizes,
        etcd: MEASURED_ETCD_DEFAULTS,
      },
      book,
    );
    assert.equal(section.rows.length, 2);
    const [atOneK, atFiveK] = section.rows;
    assert.ok(atOneK !== undefined && atFiveK !== undefined);
    near(atOneK.slicelineUsdPerNodePerMonth, (sizes[0]?.totalUsdPerMonth ?? 0) / 1000);
    near(atFiveK.ratioToFloor, atFiveK.slicelineUsdPerNodePerMonth / section.floor.usdPerNodePerMonth);
    assert.equal(section.goal.nodes, COST_FLOOR_GOAL.nodes);
    assert.equal(section.goal.holds, atFiveK.ratioToFloor <= 2);
    // The per-service breakdown adds up to the per-node total.
    const sum = atFiveK.byService.reduce((total, line) => total + line.usdPerNodePerMonth, 0);
    near(sum, atFiveK.slicelineUsdPerNodePerMonth, 1e-9);
    assert.ok(atFiveK.byService.some((line) => line.service === "Amazon SQS (watcher queues)"));
    assert.ok(atFiveK.byService.some((line) => line.service === "Amazon SQS (ingest, shared)"));
  });

  it("perNodeByService: the per-watcher SQS line is per node, the shared lines shrink with the fleet", () => {
    const [one, five] = sizes.map((monthly) => perNodeByService(monthly, book));
    const line = (lines: typeof one, service: string) =>
      lines?.find((entry) => entry.service === service)?.usdPerNodePerMonth ?? 0;
    near(line(one, "Amazon SQS (watcher queues)"), line(five, "Amazon SQS (watcher queues)"), 1e-9);
    near(line(one, "Amazon DynamoDB"), 5 * line(five, "Amazon DynamoDB"), 1e-9);
  });

  it("the stored price book prices every type the sizing may pick", () => {
    const stored = loadPriceBook();
    for (const type of ETCD_INSTANCE_TYPES)
      assert.ok(
        stored.entries.some((entry) => entry.id === type.priceId && entry.sources.length > 0),
        type.name,
      );
    for (const id of ["ebs.gp3GbMonth", "ec2.interAzTransferGb"])
      assert.ok(stored.entries.some((entry) => entry.id === id));
  });
});

describe("the cost-per-node table", () => {
  const requests = { "sqs.watcher.receive": 5, "sqs.watcher.delete": 5, "dynamodb.writeUnits": 40 };
  const section = (dynamodbWriteUnits: number) =>
    costFloorSection(
      {
        strategy: "sliceline-best",
        podChangesPerSecond: 100,
        windowSeconds: 1,
        messageBytes: 10_000,
        sizes: [1000, 5000].map((nodes) =>
          monthlyCost({ ...requests, "dynamodb.writeUnits": dynamodbWriteUnits }, 1000, nodes, 100, book),
        ),
        firstLimits: [{ what: "busiest partition key", utilization: 2.12 }, undefined],
        others: [
          {
            strategy: "sliceline-live",
            measurement: "live",
            measuredWatchers: 100,
            sizes: [monthlyCost(requests, 100, 1000, 100, book), monthlyCost(requests, 100, 5000, 100, book)],
          },
        ],
        etcd: MEASURED_ETCD_DEFAULTS,
      },
      book,
    );

  it("says the goal holds, or by how much it does not and what dominates", () => {
    const cheap = section(0);
    assert.equal(cheap.goal.holds, true);
    assert.match(goalSentence(cheap), /: holds\.$/);
    const dear = section(400);
    assert.equal(dear.goal.holds, false);
    assert.match(goalSentence(dear), /does not hold, \$[\d.]+ per node per month over 2×/);
    assert.match(goalSentence(dear), /Amazon DynamoDB \$[\d.]+ \(\d+%\)/);
  });

  it("renders the rows, the first limits and the other strategies in markdown and HTML", () => {
    const built = section(40);
    assert.equal(built.others[0]?.rows.length, 2);
    const live = built.others[0]?.rows[1];
    assert.ok(live !== undefined);
    near(live.ratioToFloor, live.usdPerNodePerMonth / built.floor.usdPerNodePerMonth);
    const markdown = costFloorMarkdown(built);
    assert.match(markdown, /\| 1,000 \| \$[\d.]+ \| \$2\.10 \|/);
    assert.match(markdown, /busiest partition key: 212%/);
    assert.match(markdown, /sliceline-live \(live, requests counted at 100 watchers\)/);
    const html = costFloorHtml(built);
    assert.match(html, /<h2>Cost per node per month<\/h2>/);
    assert.match(html, /m5\.4xlarge/);
    assert.equal(costFloorHtml(undefined), "");
  });
});

describe("the report's costFloor", () => {
  const base = {
    description: "",
    eventsIn: 100,
    podChanges: 100,
    peakDeliveriesPerSecond: 1,
    latency: { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 },
    latencyCdf: [],
    convergedWatchers: 10,
    totalWatchers: 10,
  };
  const sliceline: StrategyResult = {
    ...base,
    strategy: "sliceline-best",
    measurement: "model",
    watchers: 10,
    objectWrites: 50,
    deliveries: 100,
    bytesDelivered: 1_000_000,
    deliveriesPerPodChange: 1,
    bytesPerPodChange: 10_000,
    awsRequestsPerPodChange: { "sqs.watcher.receive": 1, "sqs.watcher.delete": 1, "dynamodb.writeUnits": 3 },
  };
  const etcd = {
    ...base,
    strategy: "etcd-kvstore",
    measurement: "live" as const,
    watchers: 10,
    objectWrites: 60,
    deliveries: 300,
    bytesDelivered: 300 * 150,
    deliveriesPerPodChange: 3,
    bytesPerPodChange: 450,
    awsRequestsPerPodChange: {},
    etcd: { etcdCpuSeconds: 0.003 },
  };

  it("sizes etcd from this run's etcd peer when it ran, from the recorded figures otherwise", () => {
    const withEtcd = buildBenchReport({
      scenario,
      strategies: [sliceline, etcd],
      startedAt: new Date(0),
      argv: [],
    });
    const load = withEtcd.costFloor?.etcdLoad;
    assert.ok(load !== undefined);
    near(load.keyWritesPerPodChange, 0.6);
    near(load.watchEventsPerPodChangePerNode, 0.3);
    near(load.bytesPerWatchEvent, 150);
    near(load.cpuSecondsPerWatchEvent, 1e-5);
    assert.match(load.source, /this run's etcd peer/);
    near(withEtcd.costFloor?.floor.messageBytes ?? 0, 10_000);
    const without = buildBenchReport({ scenario, strategies: [sliceline], startedAt: new Date(0), argv: [] });
    assert.equal(without.costFloor?.etcdLoad.source, MEASURED_ETCD_DEFAULTS.source);
    assert.deepEqual(
      without.costFloor?.rows.map((row) => row.nodes),
      [1000, 5000, 50_000],
    );
    assert.ok(without.costFloor?.rows.every((row) => row.firstLimit !== undefined));
  });

  it("is absent when the price book lacks the floor's or etcd's prices", () => {
    const sqsOnly: PriceBook = {
      ...book,
      entries: book.entries.filter((entry) => !entry.id.startsWith("ec2.")),
    };
    const report = buildBenchReport({
      scenario,
      strategies: [sliceline],
      startedAt: new Date(0),
      argv: [],
      cost: { prices: sqsOnly },
    });
    assert.equal(report.costFloor, undefined);
    assert.ok(report.costModel.strategies.length > 0);
  });

  it("is absent without sliceline-best", () => {
    const report = buildBenchReport({ scenario, strategies: [etcd], startedAt: new Date(0), argv: [] });
    assert.equal(report.costFloor, undefined);
  });
});
