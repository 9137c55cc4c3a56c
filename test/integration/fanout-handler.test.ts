/**
 * The real fan-out handler on fauxqs: stream records in, watcher queues receive the changes of
 * their scopes; a malformed record fails alone (partial batch response), the others go out.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateTopicCommand } from "@aws-sdk/client-sns";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { WatcherChannels } from "#shared/adapters/watchers/watcher-channels.ts";
import { ENV } from "#shared/config/resources.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import type { ChangeMessage } from "#shared/fanout/change-routing.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";
import { lambdaContext, quietPowertools } from "#test/support/lambda.ts";

let messaging: FauxqsHandle;
let handler: (
  event: DynamoDBStreamEvent,
  context: unknown,
) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;
const topicArns: Record<string, string> = {};

before(async () => {
  quietPowertools();
  messaging = await startLocalMessaging();
  for (const scope of ["EndpointSlice", "EndpointSlice@zone-a", "Cilium"]) {
    const topic = await messaging.sns.send(
      new CreateTopicCommand({ Name: `fanout-${scope.replace("@", "-")}` }),
    );
    topicArns[scope] = topic.TopicArn as string;
  }
  process.env[ENV.changeTopicArns] = JSON.stringify(topicArns);
  ({ handler } = (await import("#functions/fanout/handler.ts")) as never);
});
after(async () => messaging.stop());

function slice(rv: string, zone: string): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "web-abc",
      namespace: "shop",
      labels: { "kubernetes.io/service-name": "web" },
      resourceVersion: rv,
    },
    addressType: "IPv4",
    endpoints: [
      {
        addresses: ["10.1.0.1"],
        conditions: { ready: true, serving: true, terminating: false },
        zone,
        targetRef: { kind: "Pod", namespace: "shop", name: "web-1", uid: "u1" },
      },
    ],
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}

function record(
  sequence: string,
  oldObject: unknown,
  newObject: unknown,
  kind = "EndpointSlice",
): DynamoDBRecord {
  const image = (object: unknown) =>
    object === undefined
      ? undefined
      : (marshall({
          pk: `${kind}#shop`,
          sk: "web-abc",
          kind,
          object: JSON.stringify(object),
          sourceTimeMs: 1234,
        }) as never);
  return {
    eventID: sequence,
    eventName: oldObject === undefined ? "INSERT" : newObject === undefined ? "REMOVE" : "MODIFY",
    eventSource: "aws:dynamodb",
    dynamodb: {
      SequenceNumber: sequence,
      OldImage: image(oldObject),
      NewImage: image(newObject),
      StreamViewType: "NEW_AND_OLD_IMAGES",
    },
  };
}

async function receive(queueUrl: string): Promise<ChangeMessage[]> {
  const result = await messaging.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  return (result.Messages ?? []).map((m) => JSON.parse(m.Body ?? "{}") as ChangeMessage);
}

describe("fan-out handler", () => {
  it("publishes each stream record to its scopes and fails only the malformed one", async () => {
    const channels = new WatcherChannels(messaging.sqs, messaging.sns, topicArns, "fanout-watcher-");
    const all = await channels.open("node-all", ["EndpointSlice"]);
    const zoneA = await channels.open("node-a", ["EndpointSlice@zone-a"]);
    const event: DynamoDBStreamEvent = {
      Records: [
        record("100", undefined, slice("1", "zone-a")),
        { ...record("101", undefined, { nonsense: true }, "Pod") },
        record("102", slice("1", "zone-a"), slice("2", "zone-b")),
      ],
    };
    const response = await handler(event, lambdaContext("fanout"));
    assert.deepEqual(response.batchItemFailures, [{ itemIdentifier: "101" }]);
    const full = await receive(all.queueUrl);
    assert.deepEqual(full.map((m) => [m.type, m.resourceVersion, m.sourceTimeMs]).sort(), [
      ["ADDED", "1", 1234],
      ["MODIFIED", "2", 1234],
    ]);
    const zoned = await receive(zoneA.queueUrl);
    assert.deepEqual(zoned.map((m) => m.type).sort(), ["ADDED", "DELETED"]);
    await channels.close(all);
    await channels.close(zoneA);
  });
});
