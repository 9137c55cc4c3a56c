/**
 * Which AWS quota or limit a fleet size reaches first. Demands come from a strategy's requests per
 * pod change (projected to the size) and the pod-change rate; limits are the defaults researched in
 * docs/aws.md (with their verification status) and the stack's own settings (infra/settings.ts).
 */
import { type CapacityMeasure, capacityMeasures } from "./cost-model.ts";

export interface AwsLimit {
  readonly id: string;
  readonly what: string;
  /** null: no documented limit found. */
  readonly value: number | null;
  readonly unit: string;
  readonly status: "verified" | "partly verified" | "unverified" | "setting";
  readonly source: string;
}

export const AWS_LIMITS = {
  snsPublishRate: {
    id: "snsPublishRate",
    what: "SNS publishes per second, us-east-1 (each PublishBatch entry counts)",
    value: 30_000,
    unit: "publishes/s",
    status: "unverified",
    source: "docs/aws.md (commonly cited us-east-1 value; the per-entry counting is verified)",
  },
  snsSubscriptionsPerTopic: {
    id: "snsSubscriptionsPerTopic",
    what: "subscriptions on the EndpointSlice topic (one per watcher queue)",
    value: 12_500_000,
    unit: "subscriptions",
    status: "unverified",
    source: "docs/aws.md",
  },
  snsSubscribeRate: {
    id: "snsSubscribeRate",
    what: "Subscribe calls per second to (re)register the whole fleet within the registration window",
    value: 100,
    unit: "calls/s",
    status: "verified",
    source: "docs/aws.md (SNS API Reference, Subscribe)",
  },
  sqsQueues: {
    id: "sqsQueues",
    what: "watcher SQS queues (one per watcher)",
    value: null,
    unit: "queues",
    status: "unverified",
    source: "docs/aws.md (no documented per-account limit found)",
  },
  lambdaConcurrency: {
    id: "lambdaConcurrency",
    what: "Lambda concurrent executions per region",
    value: 1_000,
    unit: "executions",
    status: "verified",
    source: "docs/aws.md (Lambda Developer Guide, Lambda quotas)",
  },
  dynamodbPartitionWrites: {
    id: "dynamodbPartitionWrites",
    what: "write request units per second on the busiest partition key",
    value: 1_000,
    unit: "WRU/s",
    status: "verified",
    source: "docs/aws.md (AWS Knowledge Center, on-demand table throttling)",
  },
  dynamodbTableWrites: {
    id: "dynamodbTableWrites",
    what: "write request units per second per on-demand table",
    value: 40_000,
    unit: "WRU/s",
    status: "verified",
    source: "docs/aws.md (Quotas in Amazon DynamoDB)",
  },
  dynamodbTableReads: {
    id: "dynamodbTableReads",
    what: "read request units per second per on-demand table",
    value: 40_000,
    unit: "RRU/s",
    status: "verified",
    source: "docs/aws.md (Quotas in Amazon DynamoDB)",
  },
  streamReadersPerShard: {
    id: "streamReadersPerShard",
    what: "processes reading one DynamoDB Streams shard (the fan-out trigger is the only one)",
    value: 2,
    unit: "readers",
    status: "partly verified",
    source: "docs/aws.md (DynamoDB Developer Guide note, found quoted)",
  },
  apiStageRate: {
    id: "apiStageRate",
    what: "HTTP API $default stage throttling (apiRateLimit setting, default)",
    value: 200,
    unit: "requests/s",
    status: "setting",
    source: "infra/settings.ts apiRateLimit (raise with -c apiRateLimit=N up to the account limit)",
  },
  apiAccountRate: {
    id: "apiAccountRate",
    what: "API Gateway requests per second per account and region, all APIs",
    value: 10_000,
    unit: "requests/s",
    status: "verified",
    source: "docs/aws.md (Amazon API Gateway quotas)",
  },
} as const satisfies Record<string, AwsLimit>;

/** Limits that do not depend on load: listed, never the one "hit first". */
const FIXED_LIMITS: ReadonlySet<string> = new Set([AWS_LIMITS.streamReadersPerShard.id]);

/** What the demand side assumes where a StrategyResult does not say; every value is printed in the report. */
export interface CapacityAssumptions {
  /** Memory of the functions, to turn GB-seconds into seconds of concurrency (lowest configured: no underestimate). */
  readonly lambdaMemoryMb: number;
  /**
   * Share of write units landing on the busiest partition key (1 = all on one key: worst case),
   * for strategies that do not report their busiest key's units (dynamodbBusiestKeyWriteUnits).
   */
  readonly hottestKeyWriteShare: number;
  /** Subscriptions each watcher makes (EndpointSlice or its zone topic, plus Cilium). */
  readonly subscriptionsPerWatcher: number;
  /** Time in which the whole fleet re-registers after, say, a control-plane restart. */
  readonly registrationWindowSeconds: number;
  /** HTTP API requests per watcher per second outside pod changes (re-lists, heartbeats). */
  readonly apiRequestsPerWatcherPerSecond: number;
}

export const DEFAULT_CAPACITY_ASSUMPTIONS: CapacityAssumptions = {
  lambdaMemoryMb: 512,
  hottestKeyWriteShare: 1,
  subscriptionsPerWatcher: 2,
  registrationWindowSeconds: 300,
  apiRequestsPerWatcherPerSecond: 0,
};

export interface CapacityRow {
  readonly limit: AwsLimit;
  readonly demand: number;
  /** demand / limit; null when the limit is unknown. */
  readonly utilization: number | null;
  readonly exceeded: boolean;
}

export interface CapacityCheck {
  readonly watchers: number;
  readonly podChangesPerSecond: number;
  readonly rows: readonly CapacityRow[];
  /** The known limit with the highest utilization: the one hit first as load grows. */
  readonly firstLimit: CapacityRow | undefined;
}

function row(limit: AwsLimit, demand: number): CapacityRow {
  const utilization = limit.value === null ? null : demand / limit.value;
  return { limit, demand, utilization, exceeded: utilization !== null && utilization > 1 };
}

/** `requests` are per pod change, already projected to `watchers` (cost-model projectRequests). */
export function capacityCheck(
  requests: Readonly<Record<string, number>>,
  watchers: number,
  podChangesPerSecond: number,
  assumptions: CapacityAssumptions = DEFAULT_CAPACITY_ASSUMPTIONS,
): CapacityCheck {
  const measures = capacityMeasures(requests);
  const rate = (measure: CapacityMeasure) => measures[measure] * podChangesPerSecond;
  const memoryGb = assumptions.lambdaMemoryMb / 1024;
  const apiRate = rate("apiRequests") + watchers * assumptions.apiRequestsPerWatcherPerSecond;
  const rows = [
    row(AWS_LIMITS.snsPublishRate, rate("snsPublishes")),
    row(AWS_LIMITS.snsSubscriptionsPerTopic, watchers),
    row(
      AWS_LIMITS.snsSubscribeRate,
      (watchers * assumptions.subscriptionsPerWatcher) / assumptions.registrationWindowSeconds,
    ),
    row(AWS_LIMITS.sqsQueues, watchers),
    row(AWS_LIMITS.lambdaConcurrency, rate("lambdaGbSeconds") / memoryGb),
    row(
      AWS_LIMITS.dynamodbPartitionWrites,
      measures.dynamodbBusiestKeyWriteUnits > 0
        ? rate("dynamodbBusiestKeyWriteUnits")
        : rate("dynamodbWriteUnits") * assumptions.hottestKeyWriteShare,
    ),
    row(AWS_LIMITS.dynamodbTableWrites, rate("dynamodbWriteUnits")),
    row(AWS_LIMITS.dynamodbTableReads, rate("dynamodbReadUnits")),
    row(AWS_LIMITS.streamReadersPerShard, 1),
    row(AWS_LIMITS.apiStageRate, apiRate),
    row(AWS_LIMITS.apiAccountRate, apiRate),
  ];
  let firstLimit: CapacityRow | undefined;
  for (const candidate of rows) {
    if (candidate.utilization === null || FIXED_LIMITS.has(candidate.limit.id)) continue;
    if (firstLimit === undefined || candidate.utilization > (firstLimit.utilization ?? 0))
      firstLimit = candidate;
  }
  return { watchers, podChangesPerSecond, rows, firstLimit };
}
