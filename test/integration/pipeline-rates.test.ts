/**
 * The pipeline's rates in /v1/stats, through the real handlers on DynamoDB Local and fauxqs: an
 * SQS batch (valid events and a poison message) through the ingest handler, slice changes through
 * the fan-out handler to a subscribed watcher queue, then /v1/stats from the API handler. Each
 * handler adds its invocation's counts to the state table's counter of the minute; the API serves
 * them per second over its windows.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateTopicCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  DynamoDBRecord,
  SQSBatchResponse,
  SQSEvent,
  SQSRecord,
} from "aws-lambda";
import { createPowertools } from "#functions/commons/powertools.ts";
import { createFanoutHandler, type FanoutHandler } from "#functions/fanout/create-handler.ts";
import { ClusterSimulator } from "#scripts/sim/cluster-simulator.ts";
import { DynamoChangeLogWriter } from "#shared/adapters/dynamodb/change-log-writer.ts";
import { pipelineCountsKey } from "#shared/adapters/dynamodb/items.ts";
import { DynamoPipelineCountsRecorder } from "#shared/adapters/dynamodb/pipeline-counts-recorder.ts";
import { SnsChangePublisher } from "#shared/adapters/sns/sns-change-publisher.ts";
import { TopicAudience } from "#shared/adapters/sns/topic-audience.ts";
import { WatcherChannels } from "#shared/adapters/watchers/watcher-channels.ts";
import { ENV } from "#shared/config/resources.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";
import { minuteOf } from "#shared/pipeline/pipeline-counts.ts";
import { type DynamoDbLocal, startDynamoDbLocal } from "#test/support/dynamodb-local.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";
import { lambdaContext, quietPowertools } from "#test/support/lambda.ts";

let dynamo: DynamoDbLocal;
let messaging: FauxqsHandle;
let ingest: (event: SQSEvent, context: unknown) => Promise<SQSBatchResponse>;
let fanout: FanoutHandler;
let objectsFanout: FanoutHandler;
let api: (event: APIGatewayProxyEventV2, context: unknown) => Promise<APIGatewayProxyStructuredResultV2>;
const topicArns: Record<string, string> = {};

before(async () => {
  quietPowertools();
  dynamo = await startDynamoDbLocal({ tablePrefix: "rates-" });
  messaging = await startLocalMessaging();
  const queue = await messaging.sqs.send(new CreateQueueCommand({ QueueName: "rates-dlq" }));
  process.env[ENV.deadLetterQueueUrl] = queue.QueueUrl as string;
  for (const scope of ["EndpointSlice", "EndpointSlice@zone-a", "Cilium"]) {
    const topic = await messaging.sns.send(
      new CreateTopicCommand({ Name: `rates-${scope.replace("@", "-")}` }),
    );
    topicArns[scope] = topic.TopicArn as string;
  }
  process.env[ENV.changeTopicArns] = JSON.stringify(topicArns);
  ({ handler: ingest } = (await import("#functions/ingest/handler.ts")) as never);
  ({ handler: fanout } = (await import("#functions/fanout/handler.ts")) as never);
  // The same handler built from its factory in the other format, one message per change, with
  // the same dependencies as the module's wiring builds (its change log and counters included).
  const documents = DynamoDBDocumentClient.from(dynamo.client);
  const stateTable = process.env[ENV.stateTable] as string;
  objectsFanout = createFanoutHandler({
    format: "objects",
    topicArns,
    publisher: new SnsChangePublisher(messaging.sns, topicArns),
    audience: new TopicAudience(messaging.sns),
    changeLog: new DynamoChangeLogWriter({ documents, stateTable }),
    pipelineCounts: new DynamoPipelineCountsRecorder({ documents, stateTable }),
    ...createPowertools(SERVICE_NAMES.fanout),
  });
  // The API signs continue tokens with a key the stack provides; a fixed one here.
  process.env[ENV.continueTokenKey] = "k".repeat(32);
  ({ handler: api } = (await import("#functions/api/handler.ts")) as never);
});
after(async () => {
  await messaging?.stop();
  await dynamo?.stop();
});

function sqsRecord(messageId: string, body: string): SQSRecord {
  const now = String(Date.now());
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: now,
      SenderId: "producer",
      ApproximateFirstReceiveTimestamp: now,
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:IngestQueue",
    awsRegion: "us-east-1",
  };
}

/** A slice-table stream record of an EndpointSlice written at `resourceVersion` (the fan-out's input). */
function streamRecord(sequence: string, oldVersion: string | undefined, newVersion: string): DynamoDBRecord {
  const image = (resourceVersion: string) =>
    marshall({
      pk: "EndpointSlice#shop",
      sk: "web-abc",
      kind: "EndpointSlice",
      sourceTimeMs: Date.now(),
      object: JSON.stringify({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: "web-abc",
          namespace: "shop",
          labels: { "kubernetes.io/service-name": "web" },
          resourceVersion,
        },
        addressType: "IPv4",
        endpoints: [
          {
            addresses: ["10.1.0.1"],
            conditions: { ready: true, serving: true, terminating: false },
            zone: "zone-a",
            targetRef: { kind: "Pod", namespace: "shop", name: "web-1", uid: "u1" },
          },
        ],
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      }),
    }) as never;
  return {
    eventID: sequence,
    eventName: oldVersion === undefined ? "INSERT" : "MODIFY",
    eventSource: "aws:dynamodb",
    dynamodb: {
      SequenceNumber: sequence,
      ...(oldVersion === undefined ? {} : { OldImage: image(oldVersion) }),
      NewImage: image(newVersion),
      StreamViewType: "NEW_AND_OLD_IMAGES",
    },
  };
}

async function getStats() {
  const event = {
    version: "2.0",
    routeKey: "$default",
    rawPath: "/v1/stats",
    rawQueryString: "",
    headers: {},
    requestContext: { http: { method: "GET" }, requestId: "r1", stage: "$default" },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
  const response = await api(event, lambdaContext("api"));
  assert.equal(response.statusCode, 200, response.body);
  return JSON.parse(response.body ?? "");
}

interface RateWindow {
  window: { from: string; to: string; seconds: number };
  perSecond: Record<string, number>;
}

/** What a window's rate stands for: rate × span, back to a count (rates are rounded to 1/1000). */
function countOver(window: RateWindow, counter: string): number {
  return Math.round((window.perSecond[counter] ?? Number.NaN) * window.window.seconds);
}

describe("/v1/stats pipeline rates, through the ingest and fan-out handlers", () => {
  const sim = new ClusterSimulator();
  const events = [sim.addNode("node-1", "zone-a"), sim.addNamespace("shop")];
  let pipeline: { oneMinute: RateWindow; fiveMinutes: RateWindow; measures: string };
  let startedMs: number;

  before(async () => {
    events.push(
      sim.upsertService({
        namespace: "shop",
        name: "web",
        selector: { app: "web" },
        ports: [{ name: "http", port: 80, targetPort: 8080 }],
      }),
      sim.createPod("shop", "web-1", { app: "web" }, "node-1"),
      sim.startPod("shop", "web-1"),
      sim.setPodReady("shop", "web-1", true),
    );
    startedMs = Date.now();
    const ingested = await ingest(
      {
        Records: [
          sqsRecord("good", JSON.stringify({ events })),
          sqsRecord("poison", "this is not a watch event"),
        ],
      },
      lambdaContext("ingest"),
    );
    assert.deepEqual(ingested.batchItemFailures, [], "the poison message is dead-lettered, not retried");

    const channels = new WatcherChannels(messaging.sqs, messaging.sns, topicArns, "rates-watcher-");
    await channels.open("node-all", ["EndpointSlice"]);
    const fannedOut = await fanout(
      { Records: [streamRecord("1", undefined, "1000"), streamRecord("2", "1000", "1001")] },
      lambdaContext("fanout"),
    );
    assert.deepEqual(fannedOut.batchItemFailures, []);
    const oneByOne = await objectsFanout(
      { Records: [streamRecord("3", "1001", "1002")] },
      lambdaContext("fanout"),
    );
    assert.deepEqual(oneByOne.batchItemFailures, []);

    ({ pipeline } = (await getStats()).rates);
  });

  it("serves ingest rates: the batch's messages and events, and its poison message as rejected", () => {
    for (const window of [pipeline.oneMinute, pipeline.fiveMinutes]) {
      assert.ok(window.perSecond.eventsIn !== undefined && window.perSecond.eventsIn > 0);
      assert.equal(countOver(window, "messagesIn"), 2);
      assert.equal(countOver(window, "eventsIn"), events.length);
      assert.equal(countOver(window, "rejected"), 1);
      assert.equal(countOver(window, "deadLettered"), 0);
      assert.ok(countOver(window, "applied") > 0);
      assert.ok(countOver(window, "objectWrites") > 0);
    }
    assert.match(pipeline.measures, /rejected \(poison/);
  });

  it("serves fan-out rates: stream records, messages published and their deliveries", () => {
    for (const window of [pipeline.oneMinute, pipeline.fiveMinutes]) {
      assert.equal(countOver(window, "streamRecords"), 3);
      // A bundle per scope the first batch reaches (EndpointSlice and EndpointSlice@zone-a), then
      // the third change alone to EndpointSlice (its zone view is the same as before: not sent).
      assert.equal(countOver(window, "messagesPublished"), 3);
      // Only the EndpointSlice topic has a subscriber (the watcher queue): one delivery each time.
      assert.equal(countOver(window, "deliveries"), 2);
      assert.ok((window.perSecond.bytesPublished ?? 0) > 0);
    }
  });

  it("says which span each window averaged: whole minutes and the current one so far, ending now", () => {
    for (const [window, minutes] of [
      [pipeline.oneMinute, 1],
      [pipeline.fiveMinutes, 5],
    ] as const) {
      const from = Date.parse(window.window.from);
      const to = Date.parse(window.window.to);
      assert.equal(from % 60_000, 0);
      assert.ok(to >= startedMs);
      assert.equal(window.window.seconds, (to - from) / 1000);
      assert.ok(window.window.seconds >= minutes * 60 && window.window.seconds < (minutes + 1) * 60);
    }
  });

  it("keeps the counters in the state table, one item per minute, expiring an hour after it", async () => {
    const documents = DynamoDBDocumentClient.from(dynamo.client);
    const minute = minuteOf(Date.parse(pipeline.oneMinute.window.to));
    const items = await Promise.all(
      [minute - 1, minute].map(
        async (m) =>
          (
            await documents.send(
              new GetCommand({ TableName: dynamo.tableNames.StateTable, Key: pipelineCountsKey(m) }),
            )
          ).Item,
      ),
    );
    const stored = items.filter((item) => item !== undefined);
    assert.ok(stored.length >= 1);
    const total = (counter: string) => stored.reduce((sum, item) => sum + Number(item[counter] ?? 0), 0);
    assert.equal(total("eventsIn"), events.length);
    assert.equal(total("rejected"), 1);
    assert.equal(total("streamRecords"), 3);
    for (const item of stored) {
      const minuteEnd = (Number(String(item.pk).slice("stats#".length)) + 1) * 60;
      assert.equal(item.expiresAt, minuteEnd + 3600);
    }
  });
});
