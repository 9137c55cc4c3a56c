/**
 * A message whose events span namespace groups comes back when one group failed transiently,
 * though the other groups' events were already committed. On DynamoDB Local: the retry must leave
 * the committed groups exactly as they were (the events are stale now, nothing is rewritten) and
 * complete the group that failed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ClusterSimulator } from "#scripts/sim/cluster-simulator.ts";
import { DynamoClusterStore } from "#shared/adapters/dynamodb/cluster-store.ts";
import { documentClient } from "#shared/adapters/dynamodb/create-store.ts";
import type { ClusterStore } from "#shared/core/cluster-store.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { type DeadLetter, type IngestRecord, ingestBatch } from "#shared/pipeline/ingest-batch.ts";
import { type DynamoDbLocal, startDynamoDbLocal, storedObjects } from "#test/support/dynamodb-local.ts";

let local: DynamoDbLocal;
before(async () => {
  local = await startDynamoDbLocal();
});
after(async () => {
  await local?.stop();
});

/** The DynamoDB store, whose commits of one namespace are throttled while `throttle` says so. */
function throttling(store: DynamoClusterStore, namespace: string, throttle: () => boolean): ClusterStore {
  return {
    loadGroup: (name) => store.loadGroup(name),
    commitGroup: async (group, writes) => {
      if (group.name === namespace && throttle()) {
        throw Object.assign(new Error("Rate of requests exceeds the allowed throughput."), {
          name: "ProvisionedThroughputExceededException",
          $fault: "client",
          $metadata: {},
        });
      }
      return store.commitGroup(group, writes);
    },
    commitClusterWrites: (writes) => store.commitClusterWrites(writes),
    loadNode: (name) => store.loadNode(name),
    commitNode: (name, entry, expected) => store.commitNode(name, entry, expected),
    zonesOf: (names, namespace) => store.zonesOf(names, namespace),
    podsOnNode: (name) => store.podsOnNode(name),
    knownNames: (kind, range) => store.knownNames(kind, range),
    identities: store.identities,
  };
}

describe("a retried message whose other groups already committed", () => {
  it("changes nothing in the committed groups and completes the one that failed", async () => {
    const settings = resolveSlicingSettings();
    const tables = await local.freshTables();
    let throttled = true;
    const store = throttling(
      new DynamoClusterStore(documentClient(local.client), tables, settings),
      "busy",
      () => throttled,
    );
    const engine = new SliceEngine({ settings, store });
    const letters: DeadLetter[] = [];
    const deadLetters = { send: async (sent: readonly DeadLetter[]) => void letters.push(...sent) };
    const sim = new ClusterSimulator();
    const events = ["calm", "busy"].flatMap((namespace) => [
      sim.addNamespace(namespace),
      sim.upsertService({
        namespace,
        name: "web",
        selector: { app: "web" },
        ports: [{ name: "http", port: 80, targetPort: 8080 }],
      }),
      sim.createPod(namespace, "a", { app: "web" }, "node-1"),
      sim.startPod(namespace, "a"),
      sim.setPodReady(namespace, "a", true),
    ]);
    const now = Date.now();
    const message = (receiveCount: number): IngestRecord => ({
      messageId: "m1",
      body: JSON.stringify({ events }),
      sourceTimeMs: now,
      sentTimeMs: now,
      receiveCount,
    });
    const slices = async () =>
      [...(await storedObjects(local.client, tables.slices)).EndpointSlice.values()] as EndpointSlice[];

    const first = await ingestBatch([message(1)], { engine, deadLetters });
    assert.deepEqual(first.failedMessageIds, ["m1"]);
    assert.equal(first.failures[0]?.failureClass, "transient");
    const calmAfterFirst = (await slices()).filter((s) => s.metadata.namespace === "calm");
    assert.equal(calmAfterFirst.length, 1);

    throttled = false;
    const retry = await ingestBatch([message(2)], { engine, deadLetters });
    assert.deepEqual(retry.failedMessageIds, []);
    assert.equal(retry.report?.stale, 5, "the committed group's events are stale on the retry");
    const rewritten = (retry.report?.writes ?? [])
      .filter((w) => w.kind === "EndpointSlice")
      .map((w) => (w.object as EndpointSlice).metadata.namespace);
    assert.deepEqual([...new Set(rewritten)], ["busy"]);
    const after = await slices();
    assert.deepEqual(
      after.filter((s) => s.metadata.namespace === "calm"),
      calmAfterFirst,
      "the committed group is byte for byte what it was, resourceVersions included",
    );
    assert.deepEqual(
      after
        .filter((s) => s.metadata.namespace === "busy")
        .flatMap((s) => s.endpoints.map((e) => e.targetRef.name)),
      ["a"],
    );
    assert.deepEqual(letters, []);
  });

  it("re-applies a Node's zone to its pods when their group failed after the Node was committed", async () => {
    const settings = resolveSlicingSettings();
    const tables = await local.freshTables();
    let throttled = false;
    const store = throttling(
      new DynamoClusterStore(documentClient(local.client), tables, settings),
      "busy",
      () => throttled,
    );
    const engine = new SliceEngine({ settings, store });
    const deadLetters = { send: async () => {} };
    const sim = new ClusterSimulator();
    const now = Date.now();
    const message = (messageId: string, events: unknown[], receiveCount = 1): IngestRecord => ({
      messageId,
      body: JSON.stringify({ events }),
      sourceTimeMs: now,
      sentTimeMs: now,
      receiveCount,
    });
    const seed = message("m1", [
      sim.addNode("node-1", "zone-a"),
      sim.addNamespace("busy"),
      sim.upsertService({ namespace: "busy", name: "web", selector: { app: "web" }, ports: [{ port: 80 }] }),
      sim.createPod("busy", "a", { app: "web" }, "node-1"),
      sim.startPod("busy", "a"),
      sim.setPodReady("busy", "a", true),
    ]);
    assert.deepEqual((await ingestBatch([seed], { engine, deadLetters })).failedMessageIds, []);
    const zones = async () =>
      (
        [...(await storedObjects(local.client, tables.slices)).EndpointSlice.values()] as EndpointSlice[]
      ).flatMap((s) => s.endpoints.map((e) => e.zone));
    assert.deepEqual(await zones(), ["zone-a"]);

    // The Node commits, the group of its pod is throttled: the message must come back...
    throttled = true;
    const move = sim.moveNodeToZone("node-1", "zone-b");
    const first = await ingestBatch([message("m2", [move])], { engine, deadLetters });
    assert.deepEqual(first.failedMessageIds, ["m2"]);
    assert.deepEqual(await zones(), ["zone-a"]);
    // ...and when it does, the Node event is stale but its pods still move.
    throttled = false;
    const retry = await ingestBatch([message("m2", [move], 2)], { engine, deadLetters });
    assert.deepEqual(retry.failedMessageIds, []);
    assert.deepEqual(await zones(), ["zone-b"]);
  });
});
