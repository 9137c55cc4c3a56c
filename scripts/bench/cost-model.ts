/**
 * What a strategy's AWS requests cost: per million pod changes, and per month at a fleet size
 * and pod-change rate. Inputs are the request counts per pod change a strategy reports
 * (StrategyResult.awsRequestsPerPodChange) and the price book (bench/aws-prices.json). Free tiers
 * are ignored: at the sizes modelled they are noise, and leaving them out keeps costs linear.
 */
import { readFileSync } from "node:fs";

export type PriceStatus = "verified" | "third-party" | "unverified";

export interface PriceEntry {
  readonly id: string;
  readonly service: string;
  readonly description: string;
  readonly usd: number;
  /** `usd` is the price of this many units (1,000,000 for "per million requests"). */
  readonly perUnits: number;
  readonly unit: string;
  readonly status: PriceStatus;
  readonly sources: readonly string[];
  readonly note?: string;
}

export interface PriceBook {
  readonly region: string;
  readonly currency: string;
  readonly checked: string;
  readonly howChecked?: string;
  readonly entries: readonly PriceEntry[];
}

export class PriceBookError extends Error {
  override name = "PriceBookError";
}

export const DEFAULT_PRICE_BOOK_PATH = new URL("../../bench/aws-prices.json", import.meta.url);

export function loadPriceBook(path: string | URL = DEFAULT_PRICE_BOOK_PATH): PriceBook {
  const book = JSON.parse(readFileSync(path, "utf8")) as PriceBook;
  for (const entry of book.entries) {
    if (!(Number.isFinite(entry.usd) && entry.usd >= 0 && entry.perUnits > 0)) {
      throw new PriceBookError(`price ${entry.id}: usd must be ≥ 0 and perUnits > 0`);
    }
  }
  return book;
}

/** Quantities the capacity check reads, whatever name a strategy reported them under. */
export type CapacityMeasure =
  | "snsPublishes"
  | "lambdaGbSeconds"
  | "dynamodbWriteUnits"
  | "dynamodbBusiestKeyWriteUnits"
  | "dynamodbReadUnits"
  | "apiRequests";

export interface RequestKind {
  readonly priceId: string;
  /** The count per pod change grows with the watcher count (one copy per watcher queue). */
  readonly perWatcher: boolean;
  readonly what: string;
  /** Billed through this other kind when the strategy reports it too (e.g. 64 KB chunks). */
  readonly billedBy?: string;
  readonly capacity?: CapacityMeasure;
}

const sqs = "sqs.standardRequest";

/**
 * The request kinds strategies report, the price each is billed at, and how it scales. Two naming
 * styles are in use (camelCase from the live pass, dotted from the strategy models); both are here.
 */
export const REQUEST_KINDS: Readonly<Record<string, RequestKind>> = {
  // camelCase
  sqsIngestRequests: {
    priceId: sqs,
    perWatcher: false,
    what: "SQS requests on the ingest queues, in 64 KB chunks",
  },
  sqsPipelineRequests: { priceId: sqs, perWatcher: false, what: "SQS requests made by the pipeline" },
  sqsRequests: { priceId: sqs, perWatcher: false, what: "other SQS requests" },
  sqsWatcherReceives: {
    priceId: sqs,
    perWatcher: true,
    what: "ReceiveMessage on watcher queues that returned messages",
  },
  sqsWatcherDeletes: { priceId: sqs, perWatcher: true, what: "DeleteMessage(Batch) on watcher queues" },
  sqsWatcherRequests: { priceId: sqs, perWatcher: true, what: "receives and deletes on watcher queues" },
  snsPublishes: {
    priceId: "sns.publish",
    perWatcher: false,
    what: "SNS publishes (each PublishBatch entry), in 64 KB chunks",
    capacity: "snsPublishes",
  },
  snsPublishRequests: {
    priceId: "sns.publish",
    perWatcher: false,
    what: "SNS Publish/PublishBatch calls (a PublishBatch is billed per entry: this undercounts batches)",
    capacity: "snsPublishes",
  },
  snsSqsDeliveries: {
    priceId: "sns.sqsDelivery",
    perWatcher: true,
    what: "SNS deliveries to watcher queues",
  },
  lambdaInvocations: { priceId: "lambda.request", perWatcher: false, what: "Lambda invocations" },
  lambdaGbSeconds: {
    priceId: "lambda.arm64GbSecond",
    perWatcher: false,
    what: "Lambda GB-seconds (arm64)",
    capacity: "lambdaGbSeconds",
  },
  dynamodbWriteUnits: {
    priceId: "dynamodb.onDemandWriteRequestUnit",
    perWatcher: false,
    what: "DynamoDB write request units",
    capacity: "dynamodbWriteUnits",
  },
  dynamodbBusiestKeyWriteUnits: {
    priceId: "dynamodb.onDemandWriteRequestUnit",
    perWatcher: false,
    what: "DynamoDB write request units landing on the busiest partition key (table or index), part of dynamodbWriteUnits",
    billedBy: "dynamodbWriteUnits",
    capacity: "dynamodbBusiestKeyWriteUnits",
  },
  dynamodbReadUnits: {
    priceId: "dynamodb.onDemandReadRequestUnit",
    perWatcher: false,
    what: "DynamoDB read request units",
    capacity: "dynamodbReadUnits",
  },
  streamReads: {
    priceId: "dynamodbStreams.lambdaGetRecords",
    perWatcher: false,
    what: "DynamoDB Streams GetRecords by the fan-out trigger",
  },
  apiRequests: {
    priceId: "apiGateway.httpRequest",
    perWatcher: false,
    what: "HTTP API requests",
    capacity: "apiRequests",
  },
  cloudwatchLogGb: {
    priceId: "cloudwatch.logsIngestGb",
    perWatcher: false,
    what: "CloudWatch Logs GB ingested",
  },
  // dotted
  "sqs.ingest.send64kChunks": {
    priceId: sqs,
    perWatcher: false,
    what: "ingest SendMessage, billed 64 KB chunks",
  },
  "sqs.ingest.sendMessage": {
    priceId: sqs,
    perWatcher: false,
    what: "ingest SendMessage calls",
    billedBy: "sqs.ingest.send64kChunks",
  },
  "sqs.ingest.receive": {
    priceId: sqs,
    perWatcher: false,
    what: "ingest ReceiveMessage by the Lambda poller",
  },
  "sqs.ingest.deleteBatch": { priceId: sqs, perWatcher: false, what: "ingest DeleteMessageBatch" },
  "sqs.watcher.receive": { priceId: sqs, perWatcher: true, what: "ReceiveMessage on watcher queues" },
  "sqs.watcher.delete": { priceId: sqs, perWatcher: true, what: "DeleteMessage on watcher queues" },
  "sqs.watcher.deliveries": {
    priceId: "sns.sqsDelivery",
    perWatcher: true,
    what: "SNS deliveries to watcher queues",
  },
  "sns.publish64kChunks": {
    priceId: "sns.publish",
    perWatcher: false,
    what: "SNS publishes, billed 64 KB chunks",
  },
  "sns.publish": {
    priceId: "sns.publish",
    perWatcher: false,
    what: "SNS publishes (PublishBatch entries)",
    billedBy: "sns.publish64kChunks",
    capacity: "snsPublishes",
  },
  "lambda.ingest.invocations": { priceId: "lambda.request", perWatcher: false, what: "ingest invocations" },
  "lambda.fanout.invocations": { priceId: "lambda.request", perWatcher: false, what: "fan-out invocations" },
  "lambda.gbSeconds": {
    priceId: "lambda.arm64GbSecond",
    perWatcher: false,
    what: "Lambda GB-seconds (arm64)",
    capacity: "lambdaGbSeconds",
  },
  "dynamodb.writeUnits": {
    priceId: "dynamodb.onDemandWriteRequestUnit",
    perWatcher: false,
    what: "DynamoDB write request units",
    capacity: "dynamodbWriteUnits",
  },
  "dynamodb.busiestKeyWriteUnits": {
    priceId: "dynamodb.onDemandWriteRequestUnit",
    perWatcher: false,
    what: "DynamoDB write request units landing on the busiest partition key (table or index), part of dynamodb.writeUnits",
    billedBy: "dynamodb.writeUnits",
    capacity: "dynamodbBusiestKeyWriteUnits",
  },
  "dynamodb.readUnits": {
    priceId: "dynamodb.onDemandReadRequestUnit",
    perWatcher: false,
    what: "DynamoDB read request units",
    capacity: "dynamodbReadUnits",
  },
  "dynamodb.streamGetRecords": {
    priceId: "dynamodbStreams.lambdaGetRecords",
    perWatcher: false,
    what: "DynamoDB Streams GetRecords by the fan-out trigger",
  },
  "api.requests": {
    priceId: "apiGateway.httpRequest",
    perWatcher: false,
    what: "HTTP API requests",
    capacity: "apiRequests",
  },
};

/** Per pod change, summed over every kind that measures the same quantity. */
export function capacityMeasures(
  requestsPerPodChange: Readonly<Record<string, number>>,
): Record<CapacityMeasure, number> {
  const totals: Record<CapacityMeasure, number> = {
    snsPublishes: 0,
    lambdaGbSeconds: 0,
    dynamodbWriteUnits: 0,
    dynamodbBusiestKeyWriteUnits: 0,
    dynamodbReadUnits: 0,
    apiRequests: 0,
  };
  for (const [kind, quantity] of Object.entries(requestsPerPodChange)) {
    const measure = REQUEST_KINDS[kind]?.capacity;
    if (measure !== undefined) totals[measure] += quantity;
  }
  return totals;
}

/** Watcher-queue receives per pod change (what replaces empty long polls); undefined without watcher queues. */
function watcherReceives(requestsPerPodChange: Readonly<Record<string, number>>): number | undefined {
  if (requestsPerPodChange.sqsWatcherReceives !== undefined) return requestsPerPodChange.sqsWatcherReceives;
  if (requestsPerPodChange["sqs.watcher.receive"] !== undefined)
    return requestsPerPodChange["sqs.watcher.receive"];
  // receives and deletes together: half are receives
  if (requestsPerPodChange.sqsWatcherRequests !== undefined)
    return requestsPerPodChange.sqsWatcherRequests / 2;
  return undefined;
}

/** AWS pricing pages' month: 730 hours. */
export const SECONDS_PER_MONTH = 730 * 3600;

/** A long poll with the maximum 20 s wait returns at least every 20 s: 3 ReceiveMessage a minute. */
export const LONG_POLL_WAIT_SECONDS = 20;

export interface CostLine {
  readonly kind: string;
  readonly priceId: string;
  readonly quantityPerPodChange: number;
  readonly usdPerMillionPodChanges: number;
}

export interface CostBreakdown {
  readonly usdPerMillionPodChanges: number;
  readonly lines: readonly CostLine[];
  /** Kinds left out because another reported kind bills the same requests (kind → billed by). */
  readonly countedElsewhere: Readonly<Record<string, string>>;
  /** Kinds the price book has no price for: left out of the total, and shown in the report. */
  readonly unpriced: readonly string[];
}

function priceOf(book: PriceBook, id: string): PriceEntry | undefined {
  return book.entries.find((entry) => entry.id === id);
}

/** USD for `quantity` units of the price `id`. */
export function usdFor(book: PriceBook, id: string, quantity: number): number {
  const price = priceOf(book, id);
  if (price === undefined) throw new PriceBookError(`no price ${id} in the price book`);
  return (quantity * price.usd) / price.perUnits;
}

export function costPerMillionPodChanges(
  requestsPerPodChange: Readonly<Record<string, number>>,
  book: PriceBook,
): CostBreakdown {
  const lines: CostLine[] = [];
  const unpriced: string[] = [];
  const countedElsewhere: Record<string, string> = {};
  let total = 0;
  for (const [kind, quantity] of Object.entries(requestsPerPodChange)) {
    const known = REQUEST_KINDS[kind];
    if (known === undefined || priceOf(book, known.priceId) === undefined) {
      unpriced.push(kind);
      continue;
    }
    if (known.billedBy !== undefined && requestsPerPodChange[known.billedBy] !== undefined) {
      countedElsewhere[kind] = known.billedBy;
      continue;
    }
    const usd = usdFor(book, known.priceId, quantity * 1_000_000);
    total += usd;
    lines.push({
      kind,
      priceId: known.priceId,
      quantityPerPodChange: quantity,
      usdPerMillionPodChanges: usd,
    });
  }
  return { usdPerMillionPodChanges: total, lines, unpriced, countedElsewhere };
}

/**
 * Request counts per pod change at another fleet size: per-watcher kinds scale linearly with the
 * watcher count (every watcher queue gets its copy), the others do not depend on it. A linear
 * projection from the measured size, labelled as such in the report.
 */
export function projectRequests(
  requestsPerPodChange: Readonly<Record<string, number>>,
  measuredWatchers: number,
  targetWatchers: number,
): Record<string, number> {
  const projected: Record<string, number> = {};
  for (const [kind, quantity] of Object.entries(requestsPerPodChange)) {
    // Without a measured fleet there is nothing to scale from: keep the count.
    const scales = REQUEST_KINDS[kind]?.perWatcher === true && measuredWatchers > 0;
    projected[kind] = scales ? (quantity * targetWatchers) / measuredWatchers : quantity;
  }
  return projected;
}

/**
 * Empty long polls per watcher queue per second on top of the receives that returned messages: a
 * poll returns when messages arrive or after the wait, so a queue receiving at least one batch
 * per wait period polls no extra time, and an idle one polls once per wait period.
 */
export function idlePollsPerWatcherPerSecond(receivesPerWatcherPerSecond: number): number {
  return Math.max(0, 1 / LONG_POLL_WAIT_SECONDS - receivesPerWatcherPerSecond);
}

export interface MonthlyCost {
  readonly watchers: number;
  readonly podChangesPerSecond: number;
  /** Per million pod changes at this size (projected request counts). */
  readonly usdPerMillionPodChanges: number;
  readonly podChangeUsdPerMonth: number;
  /** Empty long polls of the watcher queues; 0 when the strategy has no watcher queues. */
  readonly idlePollingUsdPerMonth: number;
  readonly totalUsdPerMonth: number;
  readonly projected: Readonly<Record<string, number>>;
}

export function monthlyCost(
  requestsPerPodChange: Readonly<Record<string, number>>,
  measuredWatchers: number,
  watchers: number,
  podChangesPerSecond: number,
  book: PriceBook,
): MonthlyCost {
  const projected = projectRequests(requestsPerPodChange, measuredWatchers, watchers);
  const perMillion = costPerMillionPodChanges(projected, book).usdPerMillionPodChanges;
  const podChangesPerMonth = podChangesPerSecond * SECONDS_PER_MONTH;
  const podChangeUsdPerMonth = (perMillion * podChangesPerMonth) / 1_000_000;
  let idlePollingUsdPerMonth = 0;
  const receives = watcherReceives(projected);
  if (receives !== undefined && watchers > 0) {
    const receivesPerWatcherPerSecond = (receives * podChangesPerSecond) / watchers;
    const idlePolls =
      idlePollsPerWatcherPerSecond(receivesPerWatcherPerSecond) * watchers * SECONDS_PER_MONTH;
    idlePollingUsdPerMonth = usdFor(book, "sqs.standardRequest", idlePolls);
  }
  return {
    watchers,
    podChangesPerSecond,
    usdPerMillionPodChanges: perMillion,
    podChangeUsdPerMonth,
    idlePollingUsdPerMonth,
    totalUsdPerMonth: podChangeUsdPerMonth + idlePollingUsdPerMonth,
    projected,
  };
}
