/**
 * Ingest: an SQS batch of Kubernetes watch events in, slices and identities in DynamoDB out.
 * Thin on purpose: adapt the SQS event, call the pipeline, report partial failures and metrics.
 */

import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { parser } from "@aws-lambda-powertools/parser/middleware";
import { SqsSchema } from "@aws-lambda-powertools/parser/schemas";
import type { SqsEvent, SqsRecord } from "@aws-lambda-powertools/parser/types";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import middy from "@middy/core";
import type { SQSBatchResponse } from "aws-lambda";
import { createPowertools } from "#functions/commons/powertools.ts";
import { HANDLER_REQUEST_TIMEOUTS } from "#shared/adapters/aws/handler-request-timeouts.ts";
import { createDynamoClusterStore } from "#shared/adapters/dynamodb/create-store.ts";
import { CachedIdentityRangeUse } from "#shared/adapters/dynamodb/identity-range-reader.ts";
import { DynamoPipelineCountsRecorder } from "#shared/adapters/dynamodb/pipeline-counts-recorder.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { SqsDeadLetterSink } from "#shared/adapters/sqs/sqs-dead-letters.ts";
import { CachedWatcherCount } from "#shared/adapters/watchers/watcher-count.ts";
import {
  EnvironmentError,
  requireEnvironment,
  slicingSettingsFromEnvironment,
} from "#shared/config/environment.ts";
import { METRIC } from "#shared/config/metric-names.ts";
import { ENV } from "#shared/config/resources.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { type IngestRecord, ingestBatch } from "#shared/pipeline/ingest-batch.ts";
import { ingestCounts, recordPipelineCountsAdvisory } from "#shared/pipeline/pipeline-counts.ts";
import { sentTimeOf, sourceTimeOf } from "#shared/pipeline/source-time.ts";
import { BudgetedWriteGate, rateStepsFor } from "#shared/pipeline/write-budget.ts";

const { logger, metrics, tracer } = createPowertools(SERVICE_NAMES.ingest);

const environment = requireEnvironment([
  "stateTable",
  "slicesTable",
  "identitiesTable",
  "deadLetterQueueUrl",
]);
const settings = slicingSettingsFromEnvironment();
const dynamodb = tracer.captureAWSv3Client(
  new DynamoDBClient({ maxAttempts: 8, ...HANDLER_REQUEST_TIMEOUTS }),
);
const sqs = tracer.captureAWSv3Client(createSqsClient(HANDLER_REQUEST_TIMEOUTS));
const store = createDynamoClusterStore(dynamodb, environment, settings);
const budget = writeBudgetFromEnvironment(dynamodb);
const engine = new SliceEngine({ settings, store, writeGate: budget?.gate });
const deadLetters = new SqsDeadLetterSink(sqs, environment.deadLetterQueueUrl);
const identityRange = new CachedIdentityRangeUse(
  DynamoDBDocumentClient.from(dynamodb),
  environment.identitiesTable,
);
// The counters /v1/stats serves rates from. Their own client with few retries: the counts are
// advisory, and a throttled counter item must not hold the batch up.
const pipelineCounts = new DynamoPipelineCountsRecorder({
  documents: DynamoDBDocumentClient.from(
    tracer.captureAWSv3Client(new DynamoDBClient({ maxAttempts: 2, ...HANDLER_REQUEST_TIMEOUTS })),
  ),
  stateTable: environment.stateTable,
});

/**
 * A producer may stamp when it saw the change; otherwise (or when the stamp is not a sane time)
 * the time SQS accepted the message.
 */
function toIngestRecord(record: SqsRecord, nowMs: number): IngestRecord {
  const sentTimeMs = sentTimeOf(
    record.attributes.SentTimestamp,
    nowMs,
    record.messageAttributes.firstSentTimestamp?.stringValue ?? undefined,
  );
  return {
    messageId: record.messageId,
    body: record.body,
    sourceTimeMs: sourceTimeOf(
      record.messageAttributes.sourceTimeMs?.stringValue ?? undefined,
      sentTimeMs,
      nowMs,
      settings.tombstoneRetentionMs,
    ),
    sentTimeMs,
    receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
  };
}

/**
 * The write budget, when SLICELINE_WRITE_BUDGET sets one: scaled down as watchers grow, waiting
 * up to 5 s for room and otherwise handing the commit's messages back to the queue to be coalesced
 * later (a commit too large to ever fit goes in debt instead).
 */
function writeBudgetFromEnvironment(client: DynamoDBClient) {
  const base = process.env[ENV.writeBudget];
  if (base === undefined || base === "") return undefined;
  const baseWritesPerSecond = Number(base);
  if (!(baseWritesPerSecond > 0)) throw new EnvironmentError(`${ENV.writeBudget} must be a positive number`);
  const { watchersTable } = requireEnvironment(["watchersTable"]);
  const watchers = new CachedWatcherCount(DynamoDBDocumentClient.from(client), watchersTable);
  const gate = new BudgetedWriteGate({
    steps: rateStepsFor(baseWritesPerSecond),
    watchers: () => watchers.current(),
    maxWaitMs: 5_000,
  });
  return { gate, watchers };
}

async function ingest(event: SqsEvent): Promise<SQSBatchResponse> {
  await budget?.watchers.refreshIfStale();
  const nowMs = Date.now();
  const outcome = await ingestBatch(
    event.Records.map((record) => toIngestRecord(record, nowMs)),
    { engine, deadLetters, maxEventAgeMs: settings.tombstoneRetentionMs },
  );
  const report = outcome.report;
  metrics.addMetric(METRIC.messagesIn, MetricUnit.Count, event.Records.length);
  metrics.addMetric(METRIC.eventsRejected, MetricUnit.Count, outcome.rejected);
  metrics.addMetric(METRIC.eventsDeadLettered, MetricUnit.Count, outcome.deadLettered);
  metrics.addMetric(METRIC.ingestMessagesFailed, MetricUnit.Count, outcome.failedMessageIds.length);
  if (report !== undefined) {
    metrics.addMetric(METRIC.eventsIn, MetricUnit.Count, report.eventsIn);
    metrics.addMetric(METRIC.eventsStale, MetricUnit.Count, report.stale);
    metrics.addMetric(METRIC.eventsUnchanged, MetricUnit.Count, report.unchanged);
    metrics.addMetric(METRIC.sliceWrites, MetricUnit.Count, report.writes.length);
    metrics.addMetric(METRIC.groupConflictRetries, MetricUnit.Count, report.conflictRetries);
    const now = Date.now();
    for (const write of report.writes) {
      metrics.addMetric(METRIC.ingestLatency, MetricUnit.Milliseconds, Math.max(0, now - write.sourceTimeMs));
    }
  }
  const [identities] = await Promise.all([
    identityRange.current(),
    recordPipelineCountsAdvisory(
      pipelineCounts,
      Date.now(),
      ingestCounts(event.Records.length, outcome),
      (error) => logger.warn("pipeline counts not recorded", { error: error as Error }),
    ),
  ]);
  if (identities !== undefined) {
    metrics.addMetric(METRIC.identitiesInUse, MetricUnit.Count, identities.inUse);
    metrics.addMetric(METRIC.identityRangeUsedPercent, MetricUnit.Percent, identities.usedPercent);
  }
  if (outcome.rejected > 0)
    logger.warn("poison events sent to the dead-letter queue", { count: outcome.rejected });
  for (const failure of outcome.failures) {
    const log = failure.failureClass === "deterministic" ? logger.warn : logger.error;
    log.call(logger, `${failure.unit} not applied (${failure.failureClass})`, {
      events: failure.events.length,
      error: failure.error as Error,
    });
  }
  if (outcome.error !== undefined) {
    logger.error("batch not applied; its messages will be retried", { error: outcome.error as Error });
  }
  return { batchItemFailures: outcome.failedMessageIds.map((itemIdentifier) => ({ itemIdentifier })) };
}

// The envelope is checked by Powertools' parser (a wrong trigger fails loudly); message bodies are
// checked per event by the watch-event schemas, so a bad event costs only itself.
export const handler = middy(ingest)
  .use(captureLambdaHandler(tracer))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .use(parser({ schema: SqsSchema }));
