/**
 * Watcher registration end to end on fauxqs + DynamoDB Local: register creates the channel and the
 * record, the channel receives its scopes' changes, re-registration moves the subscriptions,
 * deregistration removes queue, subscriptions and record.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateTopicCommand } from "@aws-sdk/client-sns";
import { GetQueueUrlCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { SnsChangePublisher } from "#shared/adapters/sns/sns-change-publisher.ts";
import { ChannelWatcherRegistry } from "#shared/adapters/watchers/channel-watcher-registry.ts";
import { WatcherChannels } from "#shared/adapters/watchers/watcher-channels.ts";
import { CachedWatcherCount } from "#shared/adapters/watchers/watcher-count.ts";
import type { CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import { routeChange } from "#shared/fanout/change-routing.ts";
import { type DynamoDbLocal, startDynamoDbLocal } from "#test/support/dynamodb-local.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";

let dynamo: DynamoDbLocal;
let messaging: FauxqsHandle;
const topicArns: Record<string, string> = {};

before(async () => {
  dynamo = await startDynamoDbLocal();
  messaging = await startLocalMessaging();
  for (const scope of ["EndpointSlice", "EndpointSlice@a", "Cilium"]) {
    const topic = await messaging.sns.send(
      new CreateTopicCommand({ Name: `registry-${scope.replace("@", "-")}` }),
    );
    topicArns[scope] = topic.TopicArn as string;
  }
});
after(async () => {
  await messaging?.stop();
  await dynamo?.stop();
});

const slice: EndpointSlice = {
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: "web-1", namespace: "shop", labels: {}, resourceVersion: "5" },
  addressType: "IPv4",
  endpoints: [
    {
      addresses: ["10.0.0.1"],
      conditions: { ready: true, serving: true, terminating: false },
      zone: "a",
      targetRef: { kind: "Pod", namespace: "shop", name: "p", uid: "u" },
    },
  ],
  ports: [],
};
const identity: CiliumIdentity = {
  apiVersion: "cilium.io/v2",
  kind: "CiliumIdentity",
  metadata: { name: "300", labels: {}, resourceVersion: "6" },
  "security-labels": { "k8s:app": "web" },
};

async function receiveKinds(queueUrl: string): Promise<string[]> {
  const result = await messaging.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  return (result.Messages ?? []).map(
    (m) => `${JSON.parse(m.Body ?? "{}").kind}/${JSON.parse(m.Body ?? "{}").zone ?? "-"}`,
  );
}

describe("ChannelWatcherRegistry", () => {
  it("registers, delivers, moves and removes a watcher's channel", async () => {
    const documents = DynamoDBDocumentClient.from(dynamo.client);
    const table = dynamo.tableNames.WatchersTable as string;
    const registry = new ChannelWatcherRegistry(
      new WatcherChannels(messaging.sqs, messaging.sns, topicArns, "reg-watcher-"),
      documents,
      table,
      () => 1000,
    );
    const publisher = new SnsChangePublisher(messaging.sns, topicArns);
    const publishBoth = async () => {
      await publisher.publish(
        routeChange({ kind: "EndpointSlice", before: undefined, after: slice, sourceTimeMs: 1 }, ["a"]),
      );
      await publisher.publish(
        routeChange({ kind: "CiliumIdentity", before: undefined, after: identity, sourceTimeMs: 1 }, ["a"]),
      );
    };

    const registration = await registry.register({
      node: "node-1.example",
      zone: "a",
      kinds: ["EndpointSlice"],
      zoneOnly: true,
    });
    assert.equal(registration.zoneOnly, true);
    assert.deepEqual(await registry.get("node-1.example"), registration);
    assert.equal(await new CachedWatcherCount(documents, table).refreshIfStale(), 1);
    await publishBoth();
    assert.deepEqual(await receiveKinds(registration.queueUrl), ["EndpointSlice/a"]);

    const moved = await registry.register({
      node: "node-1.example",
      kinds: ["CiliumEndpointSlice", "CiliumIdentity"],
    });
    assert.equal(moved.queueUrl, registration.queueUrl);
    assert.equal(moved.registeredAtMs, registration.registeredAtMs);
    await publishBoth();
    assert.deepEqual(await receiveKinds(moved.queueUrl), ["CiliumIdentity/-"]);

    assert.equal(await registry.deregister("node-1.example"), true);
    assert.equal(await registry.get("node-1.example"), undefined);
    await assert.rejects(
      messaging.sqs.send(new GetQueueUrlCommand({ QueueName: "reg-watcher-node-1-example" })),
    );
    assert.equal(await registry.deregister("node-1.example"), false);
  });
});
