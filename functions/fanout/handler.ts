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
 */

import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import middy from "@middy/core";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent, StreamRecord } from "aws-lambda";
import { createPowertools } from "#functions/commons/powertools.ts";
import { HANDLER_REQUEST_TIMEOUTS } from "#shared/adapters/aws/handler-request-timeouts.ts";
import { DynamoChangeLogWriter } from "#shared/adapters/dynamodb/change-log-writer.ts";
import { DynamoPipelineCountsRecorder } from "#shared/adapters/dynamodb/pipeline-counts-recorder.ts";
import { SnsChangePublisher } from "#shared/adapters/sns/sns-change-publisher.ts";
import { TopicAudience } from "#shared/adapters/sns/topic-audience.ts";
import { changeTopicArnsFromEnvironment, fanoutFormatFromEnvironment } from "#shared/config/environment.ts";
import { METRIC } from "#shared/config/metric-names.ts";
import { ENV } from "#shared/config/resources.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";
import { changeLogEntry } from "#shared/fanout/change-log.ts";
import { publishMessages } from "#shared/fanout/change-publisher.ts";
import { type ObjectChange, routeChange } from "#shared/fanout/change-routing.ts";
import { objectChangeFromImages, type SliceItemImage } from "#shared/fanout/stored-change.ts";
import { fanOutBundleBatch } from "#shared/pipeline/fanout-batch.ts";
import { fanoutCounts, recordPipelineCountsAdvisory } from "#shared/pipeline/pipeline-counts.ts";

const { logger, metrics, tracer } = createPowertools(SERVICE_NAMES.fanout);

const topicArns = changeTopicArnsFromEnvironment();
const format = fanoutFormatFromEnvironment();
const zones = Object.keys(topicArns)
  .filter((scope) => scope.startsWith("EndpointSlice@"))
  .map((scope) => scope.slice("EndpointSlice@".length));
const scopes = new Set(Object.keys(topicArns));
const sns = tracer.captureAWSv3Client(new SNSClient(HANDLER_REQUEST_TIMEOUTS));
const publisher = new SnsChangePublisher(sns, topicArns);
const audience = new TopicAudience(sns);
const processor = new BatchProcessor(EventType.DynamoDBStreams);
const pipelineCounts = pipelineCountsFromEnvironment();
const changeLog = changeLogFromEnvironment();

/** The watch's change log, in the state table; without the variable nothing is logged. */
function changeLogFromEnvironment(): DynamoChangeLogWriter | undefined {
  const stateTable = process.env[ENV.stateTable];
  if (stateTable === undefined || stateTable === "") return undefined;
  const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient(HANDLER_REQUEST_TIMEOUTS));
  return new DynamoChangeLogWriter({ documents: DynamoDBDocumentClient.from(dynamodb), stateTable });
}

/** When the stream saw the record (whole seconds): a deletion's version is minted from it. */
function recordTimeMs(record: DynamoDBRecord | undefined): number {
  const seconds = record?.dynamodb?.ApproximateCreationDateTime;
  return typeof seconds === "number" && Number.isFinite(seconds) ? seconds * 1000 : Date.now();
}

async function logChanges(
  changes: ReadonlyArray<{ change: ObjectChange; record: DynamoDBRecord | undefined }>,
) {
  if (changeLog === undefined || changes.length === 0) return;
  const entries = changes.map(({ change, record }) => changeLogEntry(change, recordTimeMs(record)));
  await changeLog.append(entries, Date.now());
  metrics.addMetric(METRIC.changeLogEntries, MetricUnit.Count, entries.length);
}

/**
 * The counters /v1/stats serves rates from, in the state table the stack names (granted UpdateItem
 * alone). Without the variable (a test driving publishing alone) nothing is counted. Their own
 * client with few retries: the counts are advisory and must not hold the shard up.
 */
function pipelineCountsFromEnvironment(): DynamoPipelineCountsRecorder | undefined {
  const stateTable = process.env[ENV.stateTable];
  if (stateTable === undefined || stateTable === "") return undefined;
  const dynamodb = tracer.captureAWSv3Client(
    new DynamoDBClient({ maxAttempts: 2, ...HANDLER_REQUEST_TIMEOUTS }),
  );
  return new DynamoPipelineCountsRecorder({ documents: DynamoDBDocumentClient.from(dynamodb), stateTable });
}

/** What one invocation published, for its pipeline counts. */
interface BatchTotals {
  published: number;
  bytes: number;
  deliveries: number;
}

async function recordBatchCounts(streamRecords: number, totals: BatchTotals): Promise<void> {
  await recordPipelineCountsAdvisory(
    pipelineCounts,
    Date.now(),
    fanoutCounts({ streamRecords, ...totals }),
    (error) => logger.warn("pipeline counts not recorded", { error }),
  );
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

function sequenceOf(record: DynamoDBRecord): string {
  return record.dynamodb?.SequenceNumber ?? "";
}

async function fanOut(event: DynamoDBStreamEvent) {
  return format === "bundles" ? fanOutBundles(event) : fanOutObjects(event);
}

export const handler = middy(fanOut)
  .use(captureLambdaHandler(tracer))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
