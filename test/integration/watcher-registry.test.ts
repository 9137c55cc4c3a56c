/**
 * Watcher registration end to end on fauxqs + DynamoDB Local: register creates the channel and the
 * record, the channel receives its scopes' changes, re-registration moves the subscriptions,
 * deregistration removes queue, subscriptions and record. Then the hardening (issue 9): injective
 * queue names, ownership and cap enforced by conditional writes, expiry swept with its queue and
 * subscriptions, SQS's refusals answered as Statuses through the router.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateTopicCommand, ListSubscriptionsByTopicCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  GetQueueUrlCommand,
  QueueDeletedRecently,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { SnsChangePublisher } from "#shared/adapters/sns/sns-change-publisher.ts";
import { ChannelWatcherRegistry } from "#shared/adapters/watchers/channel-watcher-registry.ts";
import { WatcherChannels } from "#shared/adapters/watchers/watcher-channels.ts";
import { CachedWatcherCount } from "#shared/adapters/watchers/watcher-count.ts";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { createApiRouter } from "#shared/api/router.ts";
import type { WatcherAuthorizationPolicy, WatcherOwner } from "#shared/api/watcher-authorization.ts";
import { WatcherOwnedElsewhereError } from "#shared/api/watcher-registry.ts";
import type { CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import { publishMessages } from "#shared/fanout/change-publisher.ts";
import { routeChange } from "#shared/fanout/change-routing.ts";
import { apiFixture } from "#test/support/api-fixture.ts";
import { type DynamoDbLocal, startDynamoDbLocal } from "#test/support/dynamodb-local.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";
import { interceptSend } from "#test/support/intercepted-send.ts";

const ANONYMOUS: WatcherOwner = { principal: "anonymous", admin: false, cap: undefined };

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
      { now: () => 1000 },
    );
    const publisher = new SnsChangePublisher(messaging.sns, topicArns);
    const publishBoth = async () => {
      await publishMessages(
        publisher,
        routeChange({ kind: "EndpointSlice", before: undefined, after: slice, sourceTimeMs: 1 }, ["a"]),
      );
      await publishMessages(
        publisher,
        routeChange({ kind: "CiliumIdentity", before: undefined, after: identity, sourceTimeMs: 1 }, ["a"]),
      );
    };

    const registration = await registry.register(
      { node: "node-1.example", zone: "a", kinds: ["EndpointSlice"], zoneOnly: true },
      ANONYMOUS,
    );
    assert.equal(registration.zoneOnly, true);
    assert.deepEqual(await registry.get("node-1.example"), registration);
    assert.equal(await new CachedWatcherCount(documents, table).refreshIfStale(), 1);
    await publishBoth();
    assert.deepEqual(await receiveKinds(registration.queueUrl), ["EndpointSlice/a"]);

    const moved = await registry.register(
      { node: "node-1.example", kinds: ["CiliumEndpointSlice", "CiliumIdentity"] },
      ANONYMOUS,
    );
    assert.equal(moved.queueUrl, registration.queueUrl);
    assert.equal(moved.registeredAtMs, registration.registeredAtMs);
    await publishBoth();
    assert.deepEqual(await receiveKinds(moved.queueUrl), ["CiliumIdentity/-"]);

    assert.equal(await registry.deregister("node-1.example", ANONYMOUS), true);
    assert.equal(await registry.get("node-1.example"), undefined);
    await assert.rejects(
      messaging.sqs.send(new GetQueueUrlCommand({ QueueName: "reg-watcher-node-1_example" })),
    );
    assert.equal(await registry.deregister("node-1.example", ANONYMOUS), false);
  });
});

describe("ChannelWatcherRegistry hardening", () => {
  let clock = 1_000_000;
  let prefixes = 0;
  const documents = () => DynamoDBDocumentClient.from(dynamo.client);
  const table = () => dynamo.tableNames.WatchersTable as string;
  const registryWith = (sqs: SQSClient = messaging.sqs, ttlSeconds = 60) => {
    const prefix = `hard${++prefixes}-`;
    const registry = new ChannelWatcherRegistry(
      new WatcherChannels(sqs, messaging.sns, topicArns, prefix),
      documents(),
      table(),
      { now: () => clock, ttlSeconds },
    );
    return { registry, prefix };
  };
  const owner = (principal: string, cap?: number): WatcherOwner => ({ principal, admin: false, cap });
  const subscribers = async (scope: string) => {
    const listed = await messaging.sns.send(
      new ListSubscriptionsByTopicCommand({ TopicArn: topicArns[scope] as string }),
    );
    return (listed.Subscriptions ?? []).map((s) => s.Endpoint);
  };
  const queueExists = (name: string) =>
    messaging.sqs.send(new GetQueueUrlCommand({ QueueName: name })).then(
      () => true,
      () => false,
    );

  it("gives a.b and a-b their own queues: deregistering one leaves the other working", async () => {
    const { registry, prefix } = registryWith();
    const dotted = await registry.register(
      { node: "ip-10-0-0-1.ec2.internal", kinds: ["CiliumIdentity"] },
      ANONYMOUS,
    );
    const dashed = await registry.register(
      { node: "ip-10-0-0-1-ec2-internal", kinds: ["CiliumIdentity"] },
      ANONYMOUS,
    );
    assert.notEqual(dotted.queueUrl, dashed.queueUrl);
    assert.equal(await registry.deregister("ip-10-0-0-1.ec2.internal", ANONYMOUS), true);
    assert.equal(await queueExists(`${prefix}ip-10-0-0-1-ec2-internal`), true);
    await publishMessages(
      new SnsChangePublisher(messaging.sns, topicArns),
      routeChange({ kind: "CiliumIdentity", before: undefined, after: identity, sourceTimeMs: 1 }, ["a"]),
    );
    assert.deepEqual(await receiveKinds(dashed.queueUrl), ["CiliumIdentity/-"]);
    await registry.deregister("ip-10-0-0-1-ec2-internal", ANONYMOUS);
  });

  it("writes registrations conditionally: another principal's node is refused, concurrent ones do not both win", async () => {
    const { registry } = registryWith();
    const request = { node: "owned-1", kinds: ["CiliumIdentity" as const] };
    await registry.register(request, owner("arn:x"));
    await assert.rejects(registry.register(request, owner("arn:y")), WatcherOwnedElsewhereError);
    await assert.rejects(registry.deregister("owned-1", owner("arn:y")), WatcherOwnedElsewhereError);
    assert.equal((await registry.register(request, owner("arn:x"))).node, "owned-1", "idempotent");
    assert.equal(
      await registry.deregister("owned-1", { principal: "arn:admin", admin: true, cap: undefined }),
      true,
    );

    const racing = await Promise.allSettled(
      ["arn:p", "arn:q", "arn:r"].map((principal) =>
        registry.register({ node: "raced-1", kinds: ["CiliumIdentity"] }, owner(principal)),
      ),
    );
    assert.equal(racing.filter((r) => r.status === "fulfilled").length, 1, JSON.stringify(racing));
    await registry.deregister("raced-1", { principal: "arn:admin", admin: true, cap: undefined });
  });

  it("keeps acknowledgements owner-only, monotonic and across re-registration and heartbeats; concurrent ones do not lose", async () => {
    const { registry } = registryWith();
    const request = { node: "acked-1", kinds: ["CiliumIdentity" as const] };
    const registered = await registry.register(request, owner("arn:x"));
    clock += 1000;
    const first = await registry.acknowledge("acked-1", owner("arn:x"), 900_000);
    assert.deepEqual(first?.acks, [{ appliedThroughMs: 900_000, atMs: clock }]);
    await assert.rejects(
      registry.acknowledge("acked-1", owner("arn:y"), 950_000),
      WatcherOwnedElsewhereError,
    );
    assert.equal(await registry.acknowledge("unknown-1", owner("arn:x"), 1), undefined);
    assert.equal(
      (await registry.acknowledge("acked-1", owner("arn:x"), 800_000))?.acks.length,
      1,
      "not older",
    );
    await registry.refresh("acked-1", owner("arn:x"));
    await registry.register(request, owner("arn:x"));
    const racing = await Promise.allSettled(
      [910_000, 920_000, 930_000].map((through) => registry.acknowledge("acked-1", owner("arn:x"), through)),
    );
    assert.ok(racing.some((result) => result.status === "fulfilled"));
    const [applied] = (await registry.appliedWatermarks()).filter((entry) => entry.node === "acked-1");
    assert.equal(applied?.registeredAtMs, registered.registeredAtMs);
    assert.equal(
      applied?.acks[0]?.appliedThroughMs,
      900_000,
      "re-registration and the heartbeat kept the history",
    );
    assert.ok((applied?.acks.length ?? 0) >= 2);
    const throughs = applied?.acks.map((ack) => ack.appliedThroughMs) ?? [];
    assert.deepEqual(
      throughs,
      [...throughs].sort((a, b) => a - b),
      "monotonic",
    );
    assert.equal(applied?.ackCount, applied?.acks.length);
    await registry.deregister("acked-1", owner("arn:x"));
    assert.deepEqual(
      (await registry.appliedWatermarks()).filter((entry) => entry.node === "acked-1"),
      [],
    );
  });

  it("caps live registrations per principal, atomically, and frees a slot on removal", async () => {
    const { registry } = registryWith();
    const capped = owner("arn:capped", 3);
    const results = await Promise.allSettled(
      [1, 2, 3, 4, 5, 6].map((n) =>
        registry.register({ node: `capped-${n}`, kinds: ["CiliumIdentity"] }, capped),
      ),
    );
    const won = results.filter((r) => r.status === "fulfilled").length;
    assert.equal(won, 3, JSON.stringify(results.map((r) => r.status)));
    const nodes = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.node] : []));
    await registry.deregister(nodes[0] as string, capped);
    await registry.register({ node: "capped-9", kinds: ["CiliumIdentity"] }, capped);
    await assert.rejects(registry.register({ node: "capped-10", kinds: ["CiliumIdentity"] }, capped));
    assert.equal(
      await new CachedWatcherCount(documents(), table()).refreshIfStale(),
      3,
      "counters are not watchers",
    );
    for (const node of [...nodes.slice(1), "capped-9"]) await registry.deregister(node, capped);
  });

  it("sweeps a silent watcher with its queue and subscriptions; the owner's refresh keeps one alive", async () => {
    const { registry, prefix } = registryWith(messaging.sqs, 60);
    const silent = await registry.register(
      { node: "silent-1", zone: "a", kinds: ["EndpointSlice"], zoneOnly: true },
      owner("arn:s", 5),
    );
    await registry.register({ node: "alive-1", kinds: ["CiliumIdentity"] }, owner("arn:s", 5));
    assert.equal(silent.expiresAtMs, clock + 60_000);
    const queueArn = `arn:aws:sqs:${process.env.AWS_REGION ?? "us-east-1"}`;
    assert.ok(
      (await subscribers("EndpointSlice@a")).some(
        (e) => e?.startsWith(queueArn) && e.endsWith(`${prefix}silent-1`),
      ),
    );
    clock += 45_000;
    assert.equal(await registry.sweepExpired(), 0);
    assert.ok(await registry.refresh("alive-1", owner("arn:s", 5)));
    assert.equal(
      await registry.refresh("alive-1", owner("arn:other", 5)).then((r) => r?.expiresAtMs),
      clock + 60_000,
    );
    clock += 30_000;
    assert.equal(await registry.get("silent-1"), undefined, "expired reads as gone");
    assert.equal(await registry.refresh("silent-1", owner("arn:s", 5)), undefined, "no heartbeat revives it");
    assert.equal(await registry.sweepExpired(), 1);
    assert.equal(await queueExists(`${prefix}silent-1`), false);
    assert.ok(!(await subscribers("EndpointSlice@a")).some((e) => e?.endsWith(`${prefix}silent-1`)));
    assert.ok(await registry.get("alive-1"));
    assert.equal(await registry.sweepExpired(), 0);
    // The sweep freed the owner's slot: with a cap of 1 it can register again.
    await registry.deregister("alive-1", owner("arn:s", 5));
    await registry.register({ node: "silent-1", kinds: ["CiliumIdentity"] }, owner("arn:s", 1));
    await registry.deregister("silent-1", owner("arn:s", 1));
  });

  it("answers SQS's refusals through the router as Statuses, never 500", async () => {
    const policy: WatcherAuthorizationPolicy = {
      mode: "none",
      nodePrincipals: [],
      adminPrincipals: [],
      capPerCaller: 0,
    };
    const reader = new MemorySliceReader((await apiFixture()).store);
    const post = (node: string) => ({
      method: "POST",
      path: "/v1/watchers",
      body: JSON.stringify({ node, kinds: ["CiliumIdentity"] }),
    });
    // A queue of the channel's name with other attributes (a stack update changed the topics).
    const { registry, prefix } = registryWith();
    await messaging.sqs.send(
      new CreateQueueCommand({ QueueName: `${prefix}taken-1`, Attributes: { MessageRetentionPeriod: "60" } }),
    );
    const router = createApiRouter({ reader, watchers: registry, watcherAuthorization: policy });
    const taken = await router(post("taken-1"));
    assert.equal(taken.status, 409, taken.body);
    assert.equal(JSON.parse(taken.body).reason, "Conflict");

    // SQS refuses a queue name for 60 s after its deletion (fauxqs does not: injected here).
    const refusing = interceptSend(messaging.sqs, (command, send) => {
      if (command.constructor.name === "CreateQueueCommand")
        return Promise.reject(new QueueDeletedRecently({ message: "deleted recently", $metadata: {} }));
      return send(command);
    });
    const busy = createApiRouter({
      reader,
      watchers: registryWith(refusing).registry,
      watcherAuthorization: policy,
    });
    const response = await busy(post("recent-1"));
    assert.equal(response.status, 429, response.body);
    assert.equal(response.headers["retry-after"], "60");
    assert.equal(JSON.parse(response.body).kind, "Status");
  });
});
