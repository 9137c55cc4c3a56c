import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateTopicCommand } from "@aws-sdk/client-sns";
import { GetQueueUrlCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { SnsChangePublisher } from "#shared/adapters/sns/sns-change-publisher.ts";
import { queueNameFor, WatcherChannels } from "#shared/adapters/watchers/watcher-channels.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import { publishMessages } from "#shared/fanout/change-publisher.ts";
import { type ChangeMessage, routeChange, scopesForWatcher } from "#shared/fanout/change-routing.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";

let messaging: FauxqsHandle;
const topicArns: Record<string, string> = {};

before(async () => {
  messaging = await startLocalMessaging();
  for (const scope of ["EndpointSlice", "EndpointSlice@a", "EndpointSlice@b", "Cilium"]) {
    const name = `sliceline-changes-${scope.replace("@", "-zone-")}`;
    const topic = await messaging.sns.send(new CreateTopicCommand({ Name: name }));
    topicArns[scope] = topic.TopicArn as string;
  }
});
after(async () => messaging.stop());

function slice(rv: string, zone: string): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "web-1", namespace: "shop", labels: {}, resourceVersion: rv },
    addressType: "IPv4",
    endpoints: [
      {
        addresses: ["10.0.0.1"],
        conditions: { ready: true, serving: true, terminating: false },
        zone,
        targetRef: { kind: "Pod", namespace: "shop", name: "p", uid: "u" },
      },
    ],
    ports: [],
  };
}

async function drain(queueUrl: string): Promise<ChangeMessage[]> {
  const received = await messaging.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  return (received.Messages ?? []).map((m) => JSON.parse(m.Body ?? "{}") as ChangeMessage);
}

describe("watcher channels on SQS + SNS (fauxqs)", () => {
  it("delivers each scope's changes to the watchers subscribed to it, raw, and stops after close", async () => {
    const channels = new WatcherChannels(messaging.sqs, messaging.sns, topicArns, "sliceline-watcher-");
    const everywhere = await channels.open("node-1.example", scopesForWatcher(["EndpointSlice"], "a", false));
    const zoneA = await channels.open("node-2", scopesForWatcher(["EndpointSlice"], "a", true));
    const zoneB = await channels.open("node-3", scopesForWatcher(["EndpointSlice"], "b", true));
    const cilium = await channels.open("node-4", scopesForWatcher(["CiliumEndpointSlice"], "a", false));
    assert.equal(everywhere.queueName, "sliceline-watcher-node-1_example");

    const publisher = new SnsChangePublisher(messaging.sns, topicArns);
    const routed = routeChange(
      { kind: "EndpointSlice", before: undefined, after: slice("7", "a"), sourceTimeMs: 3 },
      ["a", "b"],
    );
    assert.deepEqual(await publishMessages(publisher, routed).then((r) => r.published), 2);

    const [full] = await drain(everywhere.queueUrl);
    assert.equal(full?.type, "ADDED");
    assert.equal(full?.resourceVersion, "7");
    assert.equal(full?.sourceTimeMs, 3);
    const [view] = await drain(zoneA.queueUrl);
    assert.equal(view?.zone, "a");
    assert.deepEqual(await drain(zoneB.queueUrl), []);
    assert.deepEqual(await drain(cilium.queueUrl), []);

    await channels.close(zoneA);
    await publishMessages(
      publisher,
      routeChange(
        { kind: "EndpointSlice", before: slice("7", "a"), after: slice("8", "b"), sourceTimeMs: 4 },
        ["a", "b"],
      ),
    );
    assert.equal((await drain(everywhere.queueUrl))[0]?.type, "MODIFIED");
    assert.equal((await drain(zoneB.queueUrl))[0]?.type, "ADDED");
    await channels.close(zoneA);
  });

  it("moves a re-registered watcher's subscriptions to its new scopes", async () => {
    const channels = new WatcherChannels(messaging.sqs, messaging.sns, topicArns, "sliceline-watcher-");
    const first = await channels.open("node-9", ["EndpointSlice@a"]);
    const second = await channels.open("node-9", ["EndpointSlice@b"], first);
    assert.equal(second.queueUrl, first.queueUrl);
    assert.deepEqual(Object.keys(second.subscriptions), ["EndpointSlice@b"]);
    const publisher = new SnsChangePublisher(messaging.sns, topicArns);
    await publishMessages(
      publisher,
      routeChange({ kind: "EndpointSlice", before: undefined, after: slice("1", "a"), sourceTimeMs: 1 }, [
        "a",
        "b",
      ]),
    );
    assert.deepEqual(await drain(second.queueUrl), []);
    assert.equal(queueNameFor("p-", "x".repeat(200)).length, 80);
    await channels.close(second);
  });

  it("retires a channel named by the old, non-injective rule when its watcher registers again", async () => {
    const channels = new WatcherChannels(messaging.sqs, messaging.sns, topicArns, "legacy-");
    // What the old rule ("." -> "-") named node-7.example's queue: node-7-example's name today.
    const legacy = await channels.open("node-7-example", ["EndpointSlice@a"]);
    const reopened = await channels.open("node-7.example", ["EndpointSlice@a"], legacy);
    assert.equal(reopened.queueName, "legacy-node-7_example");
    assert.notEqual(reopened.queueUrl, legacy.queueUrl);
    assert.notDeepEqual(reopened.subscriptions, legacy.subscriptions);
    await assert.rejects(messaging.sqs.send(new GetQueueUrlCommand({ QueueName: "legacy-node-7-example" })));
    await channels.close(reopened);
  });
});
