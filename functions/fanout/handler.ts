/**
 * Fan-out: the slices table's stream in, change messages out to the watchers' topics. The handler
 * is createFanoutHandler (create-handler.ts); this module wires its production dependencies once
 * per container: environment, SDK clients, Powertools, publisher, change log, counters.
 */

import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { readFanoutEnvironment } from "#functions/commons/environment.ts";
import { createPowertools } from "#functions/commons/powertools.ts";
import { HANDLER_REQUEST_TIMEOUTS } from "#shared/adapters/aws/handler-request-timeouts.ts";
import { DynamoChangeLogWriter } from "#shared/adapters/dynamodb/change-log-writer.ts";
import { DynamoPipelineCountsRecorder } from "#shared/adapters/dynamodb/pipeline-counts-recorder.ts";
import { SnsChangePublisher } from "#shared/adapters/sns/sns-change-publisher.ts";
import { TopicAudience } from "#shared/adapters/sns/topic-audience.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";
import { createFanoutHandler } from "./create-handler.ts";

const { logger, metrics, tracer } = createPowertools(SERVICE_NAMES.fanout);

const environment = readFanoutEnvironment();
const { stateTable } = environment;
const sns = tracer.captureAWSv3Client(new SNSClient(HANDLER_REQUEST_TIMEOUTS));

/** A document client over its own DynamoDB client (the SDK's options differ per use). */
function documentsWith(options: { maxAttempts?: number } = {}) {
  return DynamoDBDocumentClient.from(
    tracer.captureAWSv3Client(new DynamoDBClient({ ...options, ...HANDLER_REQUEST_TIMEOUTS })),
  );
}

export const handler = createFanoutHandler({
  format: environment.format,
  topicArns: environment.topicArns,
  publisher: new SnsChangePublisher(sns, environment.topicArns),
  audience: new TopicAudience(sns),
  // The watch's change log, in the state table; without the variable nothing is logged.
  changeLog:
    stateTable === undefined
      ? undefined
      : new DynamoChangeLogWriter({ documents: documentsWith(), stateTable }),
  // The counters /v1/stats serves rates from, in the state table the stack names (granted
  // UpdateItem alone). Their own client with few retries: the counts are advisory and must not
  // hold the shard up.
  pipelineCounts:
    stateTable === undefined
      ? undefined
      : new DynamoPipelineCountsRecorder({ documents: documentsWith({ maxAttempts: 2 }), stateTable }),
  logger,
  metrics,
  tracer,
});
