/**
 * The fan-out handler around its dependencies: adapt the slices table's stream records, call the
 * pipeline (shared/pipeline/fanout-batch.ts: change log, routing, publishing, counts, in either
 * format), report partial failures, metrics and logs. handler.ts wires the production
 * dependencies once per container; tests build one around their own.
 */

import { FullBatchFailureError } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import middy from "@middy/core";
import type {
  Context,
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  StreamRecord,
} from "aws-lambda";
import { addLatencies, type Powertools } from "#functions/commons/powertools.ts";
import { METRIC } from "#shared/config/metric-names.ts";
import type { FanoutFormat } from "#shared/config/resources.ts";
import type { ChangeLogWriter } from "#shared/fanout/change-log.ts";
import type { ChangePublisher } from "#shared/fanout/change-publisher.ts";
import type { SliceItemImage } from "#shared/fanout/stored-change.ts";
import {
  type FanoutOutcome,
  type FanoutRecord,
  fanOutBatch,
  type TopicSubscribers,
} from "#shared/pipeline/fanout-batch.ts";
import type { PipelineCountsRecorder } from "#shared/pipeline/pipeline-counts.ts";

export interface FanoutHandlerDeps extends Powertools {
  readonly format: FanoutFormat;
  /** Scope -> topic ARN: the scopes that have a topic, and the zones of the EndpointSlice@<zone> ones. */
  readonly topicArns: Readonly<Record<string, string>>;
  readonly publisher: ChangePublisher;
  /** How many subscribers a topic has, for the delivery metrics. */
  readonly audience: TopicSubscribers;
  /** The watch's change log; absent: nothing is logged. */
  readonly changeLog?: ChangeLogWriter | undefined;
  /** The counters /v1/stats serves rates from; absent (a test driving publishing alone): not counted. */
  readonly pipelineCounts?: PipelineCountsRecorder | undefined;
}

export type FanoutHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;

export function createFanoutHandler(deps: FanoutHandlerDeps): FanoutHandler {
  const { format, logger, metrics, tracer } = deps;
  const scopes = new Set(Object.keys(deps.topicArns));
  const zones = [...scopes]
    .filter((scope) => scope.startsWith("EndpointSlice@"))
    .map((scope) => scope.slice("EndpointSlice@".length));

  async function fanOut(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
    const outcome = await fanOutBatch(event.Records.map(toFanoutRecord), {
      format,
      publisher: deps.publisher,
      changeLog: deps.changeLog,
      audience: deps.audience,
      pipelineCounts: deps.pipelineCounts,
      zones,
      scopes,
      now: Date.now,
    });
    report(outcome);
    const failed = outcome.failedSequenceNumbers;
    // "objects" keeps the Powertools batch processor's convention: a batch that failed whole throws.
    if (format === "objects" && failed.length > 0 && failed.length === event.Records.length) {
      throw new FullBatchFailureError(outcome.problems.map(problemError));
    }
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  }

  function report(outcome: FanoutOutcome): void {
    if (outcome.logged > 0) metrics.addMetric(METRIC.changeLogEntries, MetricUnit.Count, outcome.logged);
    metrics.addMetric(METRIC.messagesPublished, MetricUnit.Count, outcome.published);
    metrics.addMetric(METRIC.bytesPublished, MetricUnit.Bytes, outcome.bytes);
    if (outcome.delivered !== undefined) {
      metrics.addMetric(METRIC.deliveries, MetricUnit.Count, outcome.delivered.deliveries);
      metrics.addMetric(METRIC.bytesDelivered, MetricUnit.Bytes, outcome.delivered.bytes);
    }
    if (outcome.bundled !== undefined)
      metrics.addMetric(METRIC.changesBundled, MetricUnit.Count, outcome.bundled);
    // Source event to publish; watchers time the last hop (queue to applied) themselves.
    addLatencies(
      metrics,
      METRIC.propagationLatency,
      outcome.sent.map((change) => change.sourceTimeMs),
    );
    for (const problem of outcome.problems) {
      switch (problem.kind) {
        case "malformed record":
          // Later records wait for this one: Lambda retries from it, then bisects it away.
          logger.error("malformed stream record", {
            sequenceNumber: problem.sequenceNumber,
            error: problem.error,
          });
          break;
        case "record failed":
          logger.error("stream record not fanned out", {
            sequenceNumber: problem.sequenceNumber,
            error: problem.error,
          });
          break;
        case "bundles not published":
          logger.error("bundles not published", { errors: problem.errors });
          break;
        case "deliveries not counted":
          logger.warn("delivery metrics not recorded", { error: problem.error });
          break;
        case "pipeline counts not recorded":
          logger.warn("pipeline counts not recorded", { error: problem.error });
          break;
      }
    }
  }

  return middy(fanOut)
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics)) as unknown as FanoutHandler;
}

function toFanoutRecord(record: DynamoDBRecord): FanoutRecord {
  return {
    sequenceNumber: record.dynamodb?.SequenceNumber ?? "",
    recordTimeMs: recordTimeMs(record),
    images: () => ({ old: imageOf(record.dynamodb?.OldImage), new: imageOf(record.dynamodb?.NewImage) }),
  };
}

/** When the stream saw the record (whole seconds): a deletion's version is minted from it. */
function recordTimeMs(record: DynamoDBRecord): number {
  const seconds = record.dynamodb?.ApproximateCreationDateTime;
  return typeof seconds === "number" && Number.isFinite(seconds) ? seconds * 1000 : Date.now();
}

/** aws-lambda's AttributeValue type is not the SDK's, though the wire format is the same. */
function imageOf(image: StreamRecord["NewImage"]): SliceItemImage | undefined {
  return image === undefined
    ? undefined
    : (unmarshall(image as Parameters<typeof unmarshall>[0]) as SliceItemImage);
}

function problemError(problem: FanoutOutcome["problems"][number]): Error {
  const cause = "error" in problem ? problem.error : problem.errors.join("; ");
  return cause instanceof Error ? cause : new Error(String(cause));
}
