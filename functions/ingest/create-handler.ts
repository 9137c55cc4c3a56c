/**
 * The ingest handler around its dependencies: adapt the SQS event, call the pipeline
 * (shared/pipeline/ingest-batch.ts), report partial failures, metrics and logs. handler.ts wires
 * the production dependencies once per container; tests build one around their own.
 */

import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { parser } from "@aws-lambda-powertools/parser/middleware";
import { SqsSchema } from "@aws-lambda-powertools/parser/schemas";
import type { SqsEvent, SqsRecord } from "@aws-lambda-powertools/parser/types";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import middy from "@middy/core";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { addLatencies, type Powertools } from "#functions/commons/powertools.ts";
import { METRIC } from "#shared/config/metric-names.ts";
import type { IdentityRangeUse } from "#shared/core/identity/identity-range-use.ts";
import type { SliceEngine } from "#shared/core/slice-engine.ts";
import { type DeadLetterSink, type IngestRecord, ingestBatch } from "#shared/pipeline/ingest-batch.ts";
import {
  ingestCounts,
  type PipelineCountsRecorder,
  recordPipelineCountsAdvisory,
} from "#shared/pipeline/pipeline-counts.ts";
import { sentTimeOf, sourceTimeOf } from "#shared/pipeline/source-time.ts";

export interface IngestHandlerDeps extends Powertools {
  readonly engine: SliceEngine;
  readonly deadLetters: DeadLetterSink;
  /** The engine's tombstone retention: older events are refused, stamps older than it distrusted. */
  readonly tombstoneRetentionMs: number;
  /** The watcher count the write budget scales with, refreshed before each batch; absent: no budget. */
  readonly budgetWatchers?: { refreshIfStale(): Promise<unknown> } | undefined;
  /** How much of the identity range is in use, for its metrics; absent or undefined: not emitted. */
  readonly identityRange?: { current(): Promise<IdentityRangeUse | undefined> } | undefined;
  /** The counters /v1/stats serves rates from; absent: not counted. */
  readonly pipelineCounts?: PipelineCountsRecorder | undefined;
}

export type IngestHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export function createIngestHandler(deps: IngestHandlerDeps): IngestHandler {
  const { logger, metrics, tracer } = deps;

  async function ingest(event: SqsEvent): Promise<SQSBatchResponse> {
    await deps.budgetWatchers?.refreshIfStale();
    const nowMs = Date.now();
    const outcome = await ingestBatch(
      event.Records.map((record) => toIngestRecord(record, nowMs, deps.tombstoneRetentionMs)),
      { engine: deps.engine, deadLetters: deps.deadLetters, maxEventAgeMs: deps.tombstoneRetentionMs },
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
      addLatencies(
        metrics,
        METRIC.ingestLatency,
        report.writes.map((write) => write.sourceTimeMs),
      );
    }
    const [identities] = await Promise.all([
      deps.identityRange?.current(),
      recordPipelineCountsAdvisory(
        deps.pipelineCounts,
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
  return middy(ingest)
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(parser({ schema: SqsSchema })) as unknown as IngestHandler;
}

/**
 * A producer may stamp when it saw the change; otherwise (or when the stamp is not a sane time)
 * the time SQS accepted the message.
 */
function toIngestRecord(record: SqsRecord, nowMs: number, tombstoneRetentionMs: number): IngestRecord {
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
      tombstoneRetentionMs,
    ),
    sentTimeMs,
    receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
  };
}
