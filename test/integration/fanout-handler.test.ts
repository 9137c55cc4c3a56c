/**
 * The fan-out handler (createFanoutHandler) over fauxqs' SNS: stream records in, watcher queues receive the changes of
 * their scopes.
 *   - "bundles" (default): one message per scope for the whole batch, whose replay over the
 *     watcher's previous copy yields the stored object; a malformed record fails with every record
 *     after it, and a message that cannot be published fails the batch from its first record.
 *     A zone-only node agent's queue (scope Agent@<zone>) gets one message per batch holding both
 *     the Cilium changes and its zone's EndpointSlice views.
 *   - "objects": one message per change and scope; a malformed record fails alone.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateTopicCommand } from "@aws-sdk/client-sns";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { createPowertools } from "#functions/commons/powertools.ts";
import { createFanoutHandler, type FanoutHandler } from "#functions/fanout/create-handler.ts";
import { SnsChangePublisher } from "#shared/adapters/sns/sns-change-publisher.ts";
import { TopicAudience } from "#shared/adapters/sns/topic-audience.ts";
import { WatcherChannels } from "#shared/adapters/watchers/watcher-channels.ts";
import type { FanoutFormat } from "#shared/config/resources.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";
import type { CiliumEndpointSlice, Endpoint, EndpointSlice } from "#shared/core/model.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import type { ChangeBundle } from "#shared/fanout/change-bundle.ts";
import { type ChangeMessage, scopesForWatcher } from "#shared/fanout/change-routing.ts";
import { applyBundledChange } from "#shared/fanout/slice-delta.ts";
import { zoneViewDigest } from "#shared/fanout/zone-view-sum.ts";
import { parseBundle } from "#test/support/bundles.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";
import { lambdaContext, quietPowertools } from "#test/support/lambda.ts";

let messaging: FauxqsHandle;
type Handler = FanoutHandler;
let handler: Handler;
let objectsHandler: Handler;
let brokenCiliumHandler: Handler;
const topicArns: Record<string, string> = {};

/** The handler in `format`, publishing to `arns` (no change log, no pipeline counts). */
function fanoutHandler(format: FanoutFormat, arns: Record<string, string>): Handler {
  return createFanoutHandler({
    format,
    topicArns: arns,
    publisher: new SnsChangePublisher(messaging.sns, arns),
    audience: new TopicAudience(messaging.sns),
    ...createPowertools(SERVICE_NAMES.fanout),
  });
}

before(async () => {
  quietPowertools();
  messaging = await startLocalMessaging();
  for (const scope of [
    "EndpointSlice",
    "EndpointSlice@zone-a",
    "EndpointSlice@zone-b",
    "Cilium",
    "Agent@zone-a",
    "Agent@zone-b",
  ]) {
    const topic = await messaging.sns.send(
      new CreateTopicCommand({ Name: `fanout-${scope.replace("@", "-")}` }),
    );
    topicArns[scope] = topic.TopicArn as string;
  }
  handler = fanoutHandler("bundles", topicArns);
  objectsHandler = fanoutHandler("objects", topicArns);
  const missingTopic = (topicArns.Cilium as string).replace(/:[^:]+$/, ":no-such-topic");
  brokenCiliumHandler = fanoutHandler("bundles", { ...topicArns, Cilium: missingTopic });
});
after(async () => messaging.stop());

function endpoint(index: number, zone: string, ready = true): Endpoint {
  return {
    addresses: [`10.1.${index >> 8}.${index & 255}`],
    conditions: { ready, serving: ready, terminating: false },
    zone,
    targetRef: { kind: "Pod", namespace: "shop", name: `web-${index}`, uid: `u${index}` },
  };
}

function slice(rv: string, zone: string, endpoints: Endpoint[] = [endpoint(1, zone)]): EndpointSlice {
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
    endpoints,
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}

function ces(rv: string): CiliumEndpointSlice {
  return {
    apiVersion: "cilium.io/v2alpha1",
    kind: "CiliumEndpointSlice",
    metadata: { name: "ces-1", resourceVersion: rv },
    namespace: "shop",
    endpoints: [{ name: "web-1", id: 1001, networking: { addressing: [{ ipv4: "10.1.0.1" }] } }],
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

async function receiveBodies(queueUrl: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const result = await messaging.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const batch = (result.Messages ?? []).map((m) => m.Body ?? "{}");
    if (batch.length === 0) return bodies;
    bodies.push(...batch);
  }
}

async function receive(queueUrl: string): Promise<ChangeMessage[]> {
  return (await receiveBodies(queueUrl)).map((body) => JSON.parse(body) as ChangeMessage);
}

async function receiveBundles(queueUrl: string): Promise<ChangeBundle[]> {
  return (await receiveBodies(queueUrl)).map((body) => {
    const bundle = parseBundle(body);
    assert.ok(bundle !== undefined, `not a bundle: ${body.slice(0, 100)}`);
    return bundle;
  });
}

/** What a watcher holds after replaying a bundle over `held`; a gap here is a failure. */
function replay(held: OutputObject | undefined, bundle: ChangeBundle): OutputObject | undefined {
  let current = held;
  for (const change of bundle.changes) {
    const result = applyBundledChange(current, change);
    assert.equal(result.outcome, "applied", JSON.stringify(result));
    if (result.outcome === "applied") current = result.object;
  }
  return current;
}

const ids = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ itemIdentifier: String(from + i) }));

describe("fan-out handler, bundles (default)", () => {
  it("delivers N changes to one slice as one message per scope that replays to the stored object", async (t) => {
    const channels = new WatcherChannels(messaging.sqs, messaging.sns, topicArns, "fanout-bundle-");
    const all = await channels.open("node-all", ["EndpointSlice"]);
    const zoneA = await channels.open("node-a", ["EndpointSlice@zone-a"]);
    const zoneOf = (i: number) => (i % 2 === 0 ? "zone-a" : "zone-b");
    let endpoints = Array.from({ length: 100 }, (_, i) => endpoint(i, zoneOf(i)));
    const versions = [slice("1000", "", endpoints)];
    // 20 writes: readiness flips, a pod replaced (one out, one in), one endpoint moving zones.
    for (let n = 1; n <= 20; n++) {
      if (n === 7)
        endpoints = [...endpoints.filter((e) => e.targetRef.uid !== "u3"), endpoint(300, "zone-a")];
      else if (n === 13)
        endpoints = endpoints.map((e) => (e.targetRef.uid === "u5" ? endpoint(5, "zone-a") : e));
      else
        endpoints = endpoints.map((e) =>
          e.targetRef.uid === `u${n}` ? endpoint(n, zoneOf(n), n % 3 !== 0) : e,
        );
      versions.push(slice(String(1000 + n), "", endpoints));
    }
    const records = versions.slice(1).map((after, i) => record(String(500 + i), versions[i], after));
    const response = await handler({ Records: records }, lambdaContext("fanout"));
    assert.deepEqual(response.batchItemFailures, []);

    const stored = versions.at(-1) as EndpointSlice;
    const full = await receiveBundles(all.queueUrl);
    assert.equal(full.length, 1, "one message for the EndpointSlice scope");
    assert.equal(full[0]?.scope, "EndpointSlice");
    assert.deepEqual(replay(versions[0], full[0] as ChangeBundle), stored);
    const change = full[0]?.changes[0];
    assert.ok(change?.patch !== undefined, "item-only changes travel as a patch");
    assert.equal(change.previousResourceVersion, "1000");
    assert.equal(change.sourceTimeMs, 1234);
    const bundleBytes = Buffer.byteLength(JSON.stringify(full[0]));
    const sliceBytes = Buffer.byteLength(JSON.stringify(stored));
    t.diagnostic(
      `20 writes of a 100-endpoint slice: one ${bundleBytes} B bundle; one whole slice is ${sliceBytes} B`,
    );
    assert.ok(bundleBytes * 4 < sliceBytes);

    const zoneView = (s: EndpointSlice): EndpointSlice => ({
      ...s,
      endpoints: s.endpoints.filter((e) => e.zone === "zone-a"),
    });
    const zoned = await receiveBundles(zoneA.queueUrl);
    assert.equal(zoned.length, 1, "one message for the zone scope");
    assert.deepEqual(
      replay(zoneView(versions[0] as EndpointSlice), zoned[0] as ChangeBundle),
      zoneView(stored),
    );
    assert.equal(zoned[0]?.changes[0]?.zone, "zone-a");
    await channels.close(all);
    await channels.close(zoneA);
  });

  it("sends each zone's node agent one message per batch with the Cilium changes and its zone's views", async () => {
    const channels = new WatcherChannels(messaging.sqs, messaging.sns, topicArns, "fanout-agent-");
    const kinds = ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"] as const;
    const agents = {
      "zone-a": await channels.open("agent-a", scopesForWatcher(kinds, "zone-a", true)),
      "zone-b": await channels.open("agent-b", scopesForWatcher(kinds, "zone-b", true)),
    };
    assert.deepEqual(Object.keys(agents["zone-a"].subscriptions), ["Agent@zone-a"]);
    const cilium = await channels.open("cilium-only", ["Cilium"]);
    const zoneOf = (i: number) => (i % 2 === 0 ? "zone-a" : "zone-b");
    const v1 = slice(
      "10",
      "",
      Array.from({ length: 10 }, (_, i) => endpoint(i, zoneOf(i))),
    );
    const v2 = slice(
      "11",
      "",
      v1.endpoints.map((e, i) => (i === 2 ? endpoint(2, "zone-a", false) : e)),
    );
    const v3 = slice(
      "12",
      "",
      v2.endpoints.map((e, i) => (i === 3 ? endpoint(3, "zone-b", false) : e)),
    );
    const identity = {
      apiVersion: "cilium.io/v2",
      kind: "CiliumIdentity",
      metadata: { name: "70001", labels: { "k8s:app": "web" }, resourceVersion: "3" },
      "security-labels": { "k8s:app": "web" },
    };
    const event: DynamoDBStreamEvent = {
      Records: [
        record("300", v1, v2),
        record("301", ces("5"), ces("6"), "CiliumEndpointSlice"),
        record("302", undefined, identity, "CiliumIdentity"),
        record("303", v2, v3),
      ],
    };
    const response = await handler(event, lambdaContext("fanout"));
    assert.deepEqual(response.batchItemFailures, []);

    const [ciliumBundle, ...moreCilium] = await receiveBundles(cilium.queueUrl);
    assert.equal(moreCilium.length, 0);
    assert.deepEqual(
      ciliumBundle?.changes.map((c) => [c.kind, c.type]),
      [
        ["CiliumEndpointSlice", "MODIFIED"],
        ["CiliumIdentity", "ADDED"],
      ],
    );
    for (const [zone, agent] of Object.entries(agents)) {
      const bundles = await receiveBundles(agent.queueUrl);
      assert.equal(bundles.length, 1, `one message for the ${zone} agent`);
      const bundle = bundles[0] as ChangeBundle;
      assert.equal(bundle.scope, `Agent@${zone}`);
      const [sliceChange, ...ciliumChanges] = bundle.changes;
      assert.deepEqual(ciliumChanges, ciliumBundle?.changes, "the Cilium scope's changes, once each");
      const zoneView = (s: EndpointSlice): EndpointSlice => ({
        ...s,
        endpoints: s.endpoints.filter((e) => e.zone === zone),
      });
      assert.equal(sliceChange?.zone, zone);
      assert.ok(sliceChange?.patch !== undefined, "the zone view travels as a patch");
      assert.equal(sliceChange.baseDigest, zoneViewDigest(zoneView(v1)));
      const held = new Map<string, OutputObject | undefined>([
        ["EndpointSlice", zoneView(v1)],
        ["CiliumEndpointSlice", ces("5")],
        ["CiliumIdentity", undefined],
      ]);
      for (const change of bundle.changes) {
        const result = applyBundledChange(held.get(change.kind), change);
        assert.equal(result.outcome, "applied", JSON.stringify(result));
        if (result.outcome === "applied") held.set(change.kind, result.object);
      }
      assert.deepEqual(held.get("EndpointSlice"), zoneView(v3));
      assert.deepEqual(held.get("CiliumEndpointSlice"), ces("6"));
      assert.deepEqual(held.get("CiliumIdentity"), identity);
    }
    for (const channel of [...Object.values(agents), cilium]) await channels.close(channel);
  });

  it("fails a malformed record and every record after it, publishing those before it", async () => {
    const channels = new WatcherChannels(messaging.sqs, messaging.sns, topicArns, "fanout-bundle-");
    const all = await channels.open("node-all-2", ["EndpointSlice"]);
    const zoneA = await channels.open("node-a-2", ["EndpointSlice@zone-a"]);
    const event: DynamoDBStreamEvent = {
      Records: [
        record("100", undefined, slice("1", "zone-a")),
        record("101", undefined, { nonsense: true }),
        record("102", slice("1", "zone-a"), slice("2", "zone-b")),
      ],
    };
    const response = await handler(event, lambdaContext("fanout"));
    assert.deepEqual(response.batchItemFailures, ids(101, 102));
    const full = await receiveBundles(all.queueUrl);
    assert.deepEqual(
      full.flatMap((b) => b.changes.map((c) => [c.type, c.resourceVersion, c.sourceTimeMs])),
      [["ADDED", "1", 1234]],
    );
    const zoned = await receiveBundles(zoneA.queueUrl);
    assert.deepEqual(
      zoned.flatMap((b) => b.changes.map((c) => c.type)),
      ["ADDED"],
    );
    await channels.close(all);
    await channels.close(zoneA);
  });

  it("fails the batch from the first record of a message that could not be published", async () => {
    const channels = new WatcherChannels(messaging.sqs, messaging.sns, topicArns, "fanout-bundle-");
    const all = await channels.open("node-all-3", ["EndpointSlice"]);
    const event: DynamoDBStreamEvent = {
      Records: [
        record("200", undefined, slice("1", "zone-a")),
        record("201", undefined, ces("5"), "CiliumEndpointSlice"),
        record("202", slice("1", "zone-a"), slice("2", "zone-a")),
        record("203", ces("5"), ces("6"), "CiliumEndpointSlice"),
      ],
    };
    const response = await brokenCiliumHandler(event, lambdaContext("fanout"));
    assert.deepEqual(response.batchItemFailures, ids(201, 203));
    // The EndpointSlice bundle went out (both changes, merged); the retry from 201 repeats it, harmlessly.
    const full = await receiveBundles(all.queueUrl);
    assert.equal(full.length, 1);
    assert.deepEqual(replay(undefined, full[0] as ChangeBundle), slice("2", "zone-a"));
    await channels.close(all);
  });
});

describe("fan-out handler, objects", () => {
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
    const response = await objectsHandler(event, lambdaContext("fanout"));
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
