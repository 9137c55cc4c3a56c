/**
 * /v1/stats through the whole path: watch events go through the real ingest handler into DynamoDB
 * Local, then the real API handler answers /v1/stats from the tables: identity range use from
 * what the allocator recorded, and the objects just written inside the rate window.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  SQSBatchResponse,
  SQSEvent,
} from "aws-lambda";
import { ClusterSimulator } from "#scripts/sim/cluster-simulator.ts";
import { ENV } from "#shared/config/resources.ts";
import { type DynamoDbLocal, startDynamoDbLocal } from "#test/support/dynamodb-local.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";
import { lambdaContext, quietPowertools } from "#test/support/lambda.ts";

let dynamo: DynamoDbLocal;
let messaging: FauxqsHandle;
let ingest: (event: SQSEvent, context: unknown) => Promise<SQSBatchResponse>;
let api: (event: APIGatewayProxyEventV2, context: unknown) => Promise<APIGatewayProxyStructuredResultV2>;

before(async () => {
  quietPowertools();
  dynamo = await startDynamoDbLocal({ tablePrefix: "stats-" });
  messaging = await startLocalMessaging();
  const queue = await messaging.sqs.send(new CreateQueueCommand({ QueueName: "stats-dlq" }));
  process.env[ENV.deadLetterQueueUrl] = queue.QueueUrl as string;
  ({ handler: ingest } = (await import("#functions/ingest/handler.ts")) as never);
  // The API signs continue tokens with a key the stack provides; a fixed one here.
  process.env[ENV.continueTokenKey] = "k".repeat(32);
  ({ handler: api } = (await import("#functions/api/handler.ts")) as never);
});
after(async () => {
  await messaging?.stop();
  await dynamo?.stop();
});

function ingestEvent(events: unknown[]): SQSEvent {
  const now = String(Date.now());
  return {
    Records: [
      {
        messageId: "m1",
        receiptHandle: "rh-m1",
        body: JSON.stringify({ events }),
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
      },
    ],
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

describe("/v1/stats after ingest", () => {
  it("shows the identities the allocator recorded against the range, and the write rates", async () => {
    const sim = new ClusterSimulator();
    const events = [sim.addNode("node-1", "zone-a"), sim.addNamespace("shop"), sim.addNamespace("pay")];
    events.push(
      sim.upsertService({
        namespace: "shop",
        name: "web",
        selector: { app: "web" },
        ports: [{ name: "http", port: 80, targetPort: 8080 }],
      }),
    );
    // Three identity-relevant label sets: shop/app=web (two pods), shop/app=db, pay/app=web.
    for (const [namespace, name, app] of [
      ["shop", "web-1", "web"],
      ["shop", "web-2", "web"],
      ["shop", "db-1", "db"],
      ["pay", "web-1", "web"],
    ] as const) {
      events.push(
        sim.createPod(namespace, name, { app }, "node-1"),
        sim.startPod(namespace, name),
        sim.setPodReady(namespace, name, true),
      );
    }
    const response = await ingest(ingestEvent(events), lambdaContext("ingest"));
    assert.deepEqual(response.batchItemFailures, []);

    const stats = await getStats();
    assert.equal(stats.counts.CiliumIdentity, 3);
    assert.deepEqual(stats.identities, {
      inUse: 3,
      rangeMin: 256,
      rangeMax: 65535,
      rangeSize: 65280,
      usedPercent: 0,
    });
    assert.equal(stats.rates.windowSeconds, 300);
    // Everything was written just now: every stored object counts in the window.
    for (const kind of ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"]) {
      assert.ok(stats.counts[kind] > 0, kind);
      assert.equal(
        stats.rates.objectsWrittenPerSecond[kind],
        Math.round((stats.counts[kind] / 300) * 1000) / 1000,
        kind,
      );
    }
  });
});
