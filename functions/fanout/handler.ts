/**
 * Fan-out: the slices table's stream in, one message per change and scope out to the watchers'
 * topics. Records are processed one by one with partial batch failures, so a bad record is
 * retried (then bisected, then sent to the failure queue) without holding up the shard.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { Tracer } from "@aws-lambda-powertools/tracer";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import { SNSClient } from "@aws-sdk/client-sns";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import middy from "@middy/core";
import type { DynamoDBRecord, DynamoDBStreamEvent, StreamRecord } from "aws-lambda";
import { SnsChangePublisher } from "#shared/adapters/sns/sns-change-publisher.ts";
import { TopicAudience } from "#shared/adapters/sns/topic-audience.ts";
import { changeTopicArnsFromEnvironment } from "#shared/config/environment.ts";
import { routeChange } from "#shared/fanout/change-routing.ts";
import { objectChangeFromImages, type SliceItemImage } from "#shared/fanout/stored-change.ts";

const logger = new Logger({ serviceName: "sliceline-fanout" });
const metrics = new Metrics({ namespace: "Sliceline", serviceName: "sliceline-fanout" });
const tracer = new Tracer({ serviceName: "sliceline-fanout" });

const topicArns = changeTopicArnsFromEnvironment();
const zones = Object.keys(topicArns)
  .filter((scope) => scope.startsWith("EndpointSlice@"))
  .map((scope) => scope.slice("EndpointSlice@".length));
const sns = tracer.captureAWSv3Client(new SNSClient({}));
const publisher = new SnsChangePublisher(sns, topicArns);
const audience = new TopicAudience(sns);
const processor = new BatchProcessor(EventType.DynamoDBStreams);

/** aws-lambda's AttributeValue type is not the SDK's, though the wire format is the same. */
function imageOf(image: StreamRecord["NewImage"]): SliceItemImage | undefined {
  return image === undefined
    ? undefined
    : (unmarshall(image as Parameters<typeof unmarshall>[0]) as SliceItemImage);
}

async function fanOutRecord(record: DynamoDBRecord): Promise<void> {
  const change = objectChangeFromImages(
    imageOf(record.dynamodb?.OldImage),
    imageOf(record.dynamodb?.NewImage),
  );
  const { published, bytes, byTopic } = await publisher.publish(routeChange(change, zones));
  let deliveries = 0;
  let bytesDelivered = 0;
  for (const [topicArn, totals] of byTopic) {
    const subscribers = await audience.subscribers(topicArn);
    deliveries += totals.published * subscribers;
    bytesDelivered += totals.bytes * subscribers;
  }
  metrics.addMetric("MessagesPublished", MetricUnit.Count, published);
  metrics.addMetric("BytesPublished", MetricUnit.Bytes, bytes);
  metrics.addMetric("Deliveries", MetricUnit.Count, deliveries);
  metrics.addMetric("BytesDelivered", MetricUnit.Bytes, bytesDelivered);
  // Source event to publish; watchers time the last hop (queue to applied) themselves.
  metrics.addMetric(
    "PropagationLatency",
    MetricUnit.Milliseconds,
    Math.max(0, Date.now() - change.sourceTimeMs),
  );
}

async function fanOut(event: DynamoDBStreamEvent) {
  return processPartialResponse(event, fanOutRecord, processor);
}

export const handler = middy(fanOut)
  .use(captureLambdaHandler(tracer))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
