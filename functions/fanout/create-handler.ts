/**
 * Fan-out: the slices table's stream in, change messages out to the watchers' topics, in one of
 * two formats (SLICELINE_FANOUT_FORMAT):
 *   - "bundles" (default): the whole stream batch at once, one ChangeBundle of deltas per scope
 *     (shared/fanout/change-bundle.ts). Stream batches are ordered, so failures are reported from
 *     the first record that could not go out (a malformed one, or the first carried by a message
 *     that failed to publish) to the end: Lambda retries from there, bisecting on repeat.
 *   - "objects": one message per change and scope; records are processed one by one with partial
 *     batch failures, so a bad record is retried (then bisected, then sent to the failure queue)
 *     without holding up the shard.
 * Either way every record is first appended to the change log the Kubernetes watch reads
 * (shared/fanout/change-log.ts, docs/watch.md); a batch whose log write fails is retried whole.
 *
 * The handler around its dependencies; handler.ts wires the production ones once per container,
 * tests build one around their own.
 */

import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import type { Tracer } from "@aws-lambda-powertools/tracer";
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
import { METRIC } from "#shared/config/metric-names.ts";
import type { FanoutFormat } from "#shared/config/resources.ts";
import { type ChangeLogWriter, changeLogEntry } from "#shared/fanout/change-log.ts";
import { type ChangePublisher, publishMessages } from "#shared/fanout/change-publisher.ts";
import { type ObjectChange, routeChange } from "#shared/fanout/change-routing.ts";
import { objectChangeFromImages, type SliceItemImage } from "#shared/fanout/stored-change.ts";
import { fanOutBundleBatch } from "#shared/pipeline/fanout-batch.ts";
import {
  fanoutCounts,
  type PipelineCountsRecorder,
  recordPipelineCountsAdvisory,
} from "#shared/pipeline/pipeline-counts.ts";

export interface FanoutHandlerDeps {
  readonly format: FanoutFormat;
  /** Scope -> topic ARN: the scopes that have a topic, and the zones of the EndpointSlice@<zone> ones. */
  readonly topicArns: Readonly<Record<string, string>>;
  readonly publisher: ChangePublisher;
  /** How many subscribers a topic has, for the delivery metrics. */
  readonly audience: { subscribers(topicArn: string): Promise<number> };
  /** The watch's change log; absent: nothing is logged. */
  readonly changeLog?: ChangeLogWriter | undefined;
  /** The counters /v1/stats serves rates from; absent (a test driving publishing alone): not counted. */
  readonly pipelineCounts?: PipelineCountsRecorder | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
}

export type FanoutHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;

/** What one invocation published, for its pipeline counts. */
interface BatchTotals {
  published: number;
  bytes: number;
  deliveries: number;
}

export function createFanoutHandler(deps: FanoutHandlerDeps): FanoutHandler {
  const { format, publisher, audience, changeLog, pipelineCounts, logger, metrics, tracer } = deps;
  const zones = Object.keys(deps.topicArns)
    .filter((scope) => scope.startsWith("EndpointSlice@"))
    .map((scope) => scope.slice("EndpointSlice@".length));
  const scopes = new Set(Object.keys(deps.topicArns));
  const processor = new BatchProcessor(EventType.DynamoDBStreams);

  async function logChanges(
    changes: ReadonlyArray<{ change: ObjectChange; record: DynamoDBRecord | undefined }>,
  ) {
    if (changeLog === undefined || changes.length === 0) return;
    const entries = changes.map(({ change, record }) => changeLogEntry(change, recordTimeMs(record)));
    await changeLog.append(entries, Date.now());
    metrics.addMetric(METRIC.changeLogEntries, MetricUnit.Count, entries.length);
  }

  async function recordBatchCounts(streamRecords: number, totals: BatchTotals): Promise<void> {
    await recordPipelineCountsAdvisory(
      pipelineCounts,
      Date.now(),
      fanoutCounts({ streamRecords, ...totals }),
      (error) => logger.warn("pipeline counts not recorded", { error }),
    );
  }

  /** Publish totals to metrics; deliveries are publishes times each topic's subscribers (returned). */
  async function recordPublished(totals: {
    published: number;
    bytes: number;
    byTopic: Map<string, { published: number; bytes: number }>;
  }): Promise<number> {
    let deliveries = 0;
    let bytesDelivered = 0;
    for (const [topicArn, topic] of totals.byTopic) {
      const subscribers = await audience.subscribers(topicArn);
      deliveries += topic.published * subscribers;
      bytesDelivered += topic.bytes * subscribers;
    }
    metrics.addMetric(METRIC.messagesPublished, MetricUnit.Count, totals.published);
    metrics.addMetric(METRIC.bytesPublished, MetricUnit.Bytes, totals.bytes);
    metrics.addMetric(METRIC.deliveries, MetricUnit.Count, deliveries);
    metrics.addMetric(METRIC.bytesDelivered, MetricUnit.Bytes, bytesDelivered);
    return deliveries;
  }

  /** Source event to publish; watchers time the last hop (queue to applied) themselves. */
  function recordLatency(sourceTimeMs: number): void {
    metrics.addMetric(
      METRIC.propagationLatency,
      MetricUnit.Milliseconds,
      Math.max(0, Date.now() - sourceTimeMs),
    );
  }

  async function fanOutRecord(record: DynamoDBRecord, totals: BatchTotals): Promise<void> {
    const change = changeOf(record);
    await logChanges([{ change, record }]);
    const published = await publishMessages(publisher, routeChange(change, zones));
    totals.published += published.published;
    totals.bytes += published.bytes;
    totals.deliveries += await recordPublished(published);
    recordLatency(change.sourceTimeMs);
  }

  async function fanOutObjects(event: DynamoDBStreamEvent) {
    const totals: BatchTotals = { published: 0, bytes: 0, deliveries: 0 };
    try {
      return await processPartialResponse(
        event,
        (record: DynamoDBRecord) => fanOutRecord(record, totals),
        processor,
      );
    } finally {
      // Also when every record failed (the processor throws): what went out before still counts.
      await recordBatchCounts(event.Records.length, totals);
    }
  }

  async function fanOutBundles(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
    const result = await fanOutBundleBatch(
      event.Records.map((record) => ({
        sequenceNumber: sequenceOf(record),
        recordTimeMs: recordTimeMs(record),
        images: () => ({ old: imageOf(record.dynamodb?.OldImage), new: imageOf(record.dynamodb?.NewImage) }),
      })),
      {
        publisher,
        changeLog,
        zones,
        scopes,
        now: Date.now,
        // Later records wait for this one: Lambda retries from it, then bisects it away.
        onMalformed: (sequenceNumber, error) =>
          logger.error("malformed stream record", { sequenceNumber, error }),
      },
    );
    const { published } = result;
    if (result.logged > 0) metrics.addMetric(METRIC.changeLogEntries, MetricUnit.Count, result.logged);
    if (published.failed.length > 0) logger.error("bundles not published", { errors: published.errors });
    let deliveries = 0;
    try {
      deliveries = await recordPublished(published);
    } catch (error) {
      // The messages are out: failing the batch for a metric would only deliver them again.
      logger.warn("delivery metrics not recorded", { error });
    }
    await recordBatchCounts(event.Records.length, {
      published: published.published,
      bytes: published.bytes,
      deliveries,
    });
    for (const { change, delivered } of result.changes) if (delivered) recordLatency(change.sourceTimeMs);
    metrics.addMetric(METRIC.changesBundled, MetricUnit.Count, result.bundled);
    return { batchItemFailures: result.failedSequenceNumbers.map((itemIdentifier) => ({ itemIdentifier })) };
  }

  async function fanOut(event: DynamoDBStreamEvent) {
    return format === "bundles" ? fanOutBundles(event) : fanOutObjects(event);
  }

  return middy(fanOut)
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics)) as unknown as FanoutHandler;
}

/** When the stream saw the record (whole seconds): a deletion's version is minted from it. */
function recordTimeMs(record: DynamoDBRecord | undefined): number {
  const seconds = record?.dynamodb?.ApproximateCreationDateTime;
  return typeof seconds === "number" && Number.isFinite(seconds) ? seconds * 1000 : Date.now();
}

/** aws-lambda's AttributeValue type is not the SDK's, though the wire format is the same. */
function imageOf(image: StreamRecord["NewImage"]): SliceItemImage | undefined {
  return image === undefined
    ? undefined
    : (unmarshall(image as Parameters<typeof unmarshall>[0]) as SliceItemImage);
}

function changeOf(record: DynamoDBRecord) {
  return objectChangeFromImages(imageOf(record.dynamodb?.OldImage), imageOf(record.dynamodb?.NewImage));
}

function sequenceOf(record: DynamoDBRecord): string {
  return record.dynamodb?.SequenceNumber ?? "";
}
