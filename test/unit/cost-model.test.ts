import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AWS_LIMITS, capacityCheck, DEFAULT_CAPACITY_ASSUMPTIONS } from "#scripts/bench/capacity-model.ts";
import {
  costPerMillionPodChanges,
  idlePollsPerWatcherPerSecond,
  loadPriceBook,
  monthlyCost,
  type PriceBook,
  projectRequests,
  REQUEST_KINDS,
  SECONDS_PER_MONTH,
} from "#scripts/bench/cost-model.ts";

/** Round prices so every expected figure below can be checked by hand. */
const book: PriceBook = {
  region: "test",
  currency: "USD",
  checked: "2026-11-25",
  entries: [
    { id: "sqs.standardRequest", usd: 0.4, perUnits: 1_000_000 },
    { id: "sns.publish", usd: 0.5, perUnits: 1_000_000 },
    { id: "lambda.arm64GbSecond", usd: 0.00001, perUnits: 1 },
    { id: "dynamodb.onDemandWriteRequestUnit", usd: 0.625, perUnits: 1_000_000 },
    { id: "sns.sqsDelivery", usd: 0, perUnits: 1_000_000 },
  ].map((price) => ({ ...price, service: "", description: "", unit: "", status: "verified", sources: [] })),
};

const requests = {
  sqsIngestRequests: 0.01,
  snsPublishes: 2,
  dynamodbWriteUnits: 4,
  lambdaGbSeconds: 0.001,
  sqsWatcherReceives: 10,
  somethingNew: 3,
};

function near(actual: number, expected: number) {
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${actual} ≠ ${expected}`);
}

describe("cost per million pod changes", () => {
  it("prices each kind and sums them", () => {
    const cost = costPerMillionPodChanges(requests, book);
    const byKind = Object.fromEntries(cost.lines.map((line) => [line.kind, line.usdPerMillionPodChanges]));
    near(byKind.sqsIngestRequests ?? Number.NaN, 0.004); // 10,000 requests × $0.40/M
    near(byKind.snsPublishes ?? Number.NaN, 1); // 2M publishes × $0.50/M
    near(byKind.dynamodbWriteUnits ?? Number.NaN, 2.5); // 4M WRU × $0.625/M
    near(byKind.lambdaGbSeconds ?? Number.NaN, 0.01); // 1,000 GB-s × $0.00001
    near(byKind.sqsWatcherReceives ?? Number.NaN, 4); // 10M receives × $0.40/M
    near(cost.usdPerMillionPodChanges, 7.514);
  });

  it("reports kinds it cannot price instead of counting them as free", () => {
    const cost = costPerMillionPodChanges(requests, book);
    assert.deepEqual(cost.unpriced, ["somethingNew"]);
    assert.equal(
      cost.lines.some((line) => line.kind === "somethingNew"),
      false,
    );
  });
});

describe("the strategy models' dotted kind names", () => {
  const dotted = {
    "sns.publish": 2,
    "sns.publish64kChunks": 3,
    "sqs.ingest.sendMessage": 1,
    "sqs.ingest.send64kChunks": 2,
    "sqs.watcher.receive": 10,
    "sqs.watcher.delete": 10,
    "sqs.watcher.deliveries": 10,
    "dynamodb.writeUnits": 4,
  };

  it("bills 64 KB chunks instead of calls when both are reported", () => {
    const cost = costPerMillionPodChanges(dotted, book);
    // 3M chunks × $0.50/M + 2M chunks × $0.40/M + 20M watcher requests × $0.40/M + 0 + 4M WRU × $0.625/M
    near(cost.usdPerMillionPodChanges, 1.5 + 0.8 + 8 + 0 + 2.5);
    assert.deepEqual(cost.countedElsewhere, {
      "sns.publish": "sns.publish64kChunks",
      "sqs.ingest.sendMessage": "sqs.ingest.send64kChunks",
    });
    assert.deepEqual(cost.unpriced, []);
  });

  it("bills calls when no chunk count is reported", () => {
    near(costPerMillionPodChanges({ "sns.publish": 2 }, book).usdPerMillionPodChanges, 1);
  });

  it("feeds the capacity check under either name", () => {
    const check = capacityCheck(projectRequests(dotted, 10, 10), 10, 100);
    const demand = Object.fromEntries(check.rows.map((row) => [row.limit.id, row.demand]));
    assert.equal(demand.snsPublishRate, 200); // publishes (entries), not chunks
    assert.equal(demand.dynamodbTableWrites, 400);
  });

  it("scales the watcher-queue kinds and polls quiet queues", () => {
    assert.equal(projectRequests(dotted, 10, 20)["sqs.watcher.receive"], 20);
    // 10 receives per pod change over 100 watchers at 0.1 pod changes/s: 0.01 receives/s per queue
    const month = monthlyCost(dotted, 100, 100, 0.1, book);
    near(month.idlePollingUsdPerMonth, (0.04 * 100 * SECONDS_PER_MONTH * 0.4) / 1_000_000);
  });
});

describe("projection to another fleet size", () => {
  it("scales per-watcher kinds linearly and leaves the others", () => {
    const projected = projectRequests(requests, 10, 100);
    assert.equal(projected.sqsWatcherReceives, 100);
    assert.equal(projected.snsPublishes, 2);
    assert.equal(projected.dynamodbWriteUnits, 4);
  });

  it("keeps the counts of a run measured without watchers", () => {
    assert.equal(projectRequests(requests, 0, 100).sqsWatcherReceives, 10);
  });
});

describe("monthly cost", () => {
  it("multiplies the projected per-pod-change cost by a 730-hour month of pod changes", () => {
    const month = monthlyCost(requests, 10, 100, 2, book);
    // 0.004 + 1 + 2.5 + 0.01 + 100M receives × $0.40/M = 43.514 per million pod changes
    near(month.usdPerMillionPodChanges, 43.514);
    // 2/s × 2,628,000 s = 5.256M pod changes
    near(month.podChangeUsdPerMonth, 43.514 * 5.256);
    // each queue receives 2 batches a second: no empty polls
    assert.equal(month.idlePollingUsdPerMonth, 0);
    near(month.totalUsdPerMonth, 43.514 * 5.256);
  });

  it("adds the empty long polls of quiet watcher queues", () => {
    const month = monthlyCost(requests, 10, 100, 0.001, book);
    // receives per queue: 100 × 0.001 / 100 = 0.001/s; empty polls: 0.05 − 0.001 = 0.049/s per queue
    const polls = 0.049 * 100 * SECONDS_PER_MONTH; // 12,877,200
    near(month.idlePollingUsdPerMonth, (polls * 0.4) / 1_000_000); // $5.15088
    near(month.idlePollingUsdPerMonth, 5.15088);
  });

  it("has no polling cost for a strategy without watcher queues", () => {
    const month = monthlyCost({ snsPublishes: 1 }, 10, 1000, 0.001, book);
    assert.equal(month.idlePollingUsdPerMonth, 0);
  });

  it("polls an idle queue three times a minute", () => {
    near(idlePollsPerWatcherPerSecond(0) * 60, 3);
    assert.equal(idlePollsPerWatcherPerSecond(1), 0);
  });
});

describe("capacity check", () => {
  const load = { snsPublishes: 2, dynamodbWriteUnits: 4, lambdaGbSeconds: 0.001, apiRequests: 0.5 };

  it("computes each demand from the pod-change rate and the fleet size", () => {
    const check = capacityCheck(load, 5000, 100);
    const demand = Object.fromEntries(check.rows.map((row) => [row.limit.id, row.demand]));
    assert.equal(demand.snsPublishRate, 200);
    assert.equal(demand.snsSubscriptionsPerTopic, 5000);
    near(demand.snsSubscribeRate ?? Number.NaN, 10_000 / 300);
    near(demand.lambdaConcurrency ?? Number.NaN, 0.2); // 0.1 GB-s/s at 0.5 GB
    assert.equal(demand.dynamodbPartitionWrites, 400);
    assert.equal(demand.apiStageRate, 50);
    const queues = check.rows.find((row) => row.limit.id === "sqsQueues");
    assert.equal(queues?.utilization, null);
  });

  it("names the limit with the highest utilization as the first one hit", () => {
    const worstCase = capacityCheck(load, 5000, 100);
    assert.equal(worstCase.firstLimit?.limit.id, AWS_LIMITS.dynamodbPartitionWrites.id); // 400/1000
    const spread = capacityCheck(load, 5000, 100, {
      ...DEFAULT_CAPACITY_ASSUMPTIONS,
      hottestKeyWriteShare: 0.1,
    });
    assert.equal(spread.firstLimit?.limit.id, AWS_LIMITS.snsSubscribeRate.id); // 33.3/100
    assert.equal(spread.firstLimit?.exceeded, false);
    const heavy = capacityCheck(load, 5000, 1000);
    assert.equal(heavy.firstLimit?.exceeded, true); // 4,000 WRU/s on one key
  });

  it("takes the partition-key demand from the busiest key's units when a strategy reports them, unpriced", () => {
    const measured = { ...load, dynamodbBusiestKeyWriteUnits: 0.5 };
    const check = capacityCheck(measured, 5000, 100);
    const partition = check.rows.find((row) => row.limit.id === AWS_LIMITS.dynamodbPartitionWrites.id);
    assert.equal(partition?.demand, 50); // 0.5 × 100/s, not 4 × 100/s
    assert.equal(check.rows.find((row) => row.limit.id === AWS_LIMITS.dynamodbTableWrites.id)?.demand, 400);
    assert.equal(check.firstLimit?.limit.id, AWS_LIMITS.snsSubscribeRate.id);
    const dotted = capacityCheck({ "dynamodb.writeUnits": 4, "dynamodb.busiestKeyWriteUnits": 2 }, 10, 100);
    assert.equal(
      dotted.rows.find((row) => row.limit.id === AWS_LIMITS.dynamodbPartitionWrites.id)?.demand,
      200,
    );
    const book = loadPriceBook();
    const priced = costPerMillionPodChanges(measured, book);
    const alone = costPerMillionPodChanges(load, book);
    assert.equal(priced.usdPerMillionPodChanges, alone.usdPerMillionPodChanges);
    assert.equal(priced.countedElsewhere.dynamodbBusiestKeyWriteUnits, "dynamodbWriteUnits");
  });
});

describe("the price book", () => {
  it("has a price, a status and a source for every request kind", () => {
    const real = loadPriceBook();
    for (const [kind, { priceId }] of Object.entries(REQUEST_KINDS)) {
      const price = real.entries.find((entry) => entry.id === priceId);
      assert.ok(price, `${kind}: no price ${priceId}`);
      assert.ok(price.sources.length > 0, `${priceId}: no source`);
    }
    assert.match(real.checked, /^\d{4}-\d{2}-\d{2}$/);
  });
});
