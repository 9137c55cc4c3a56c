import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClusterSimulator } from "#scripts/sim/cluster-simulator.ts";
import type { ClusterStore, IdentityStore } from "#shared/core/cluster-store.ts";
import { IdentityExhaustedError } from "#shared/core/identity/identity-allocator.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { NodeRecord } from "#shared/core/model.ts";
import type { Versioned } from "#shared/core/object-versions.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import {
  type DeadLetter,
  type DeadLetterSink,
  type IngestRecord,
  ingestBatch,
} from "#shared/pipeline/ingest-batch.ts";

class RecordingSink implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  failFor = new Set<string>();
  async send(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.some((l) => this.failFor.has(l.sourceMessageId))) throw new Error("DLQ unavailable");
    this.letters.push(...letters);
  }
}

/** A message as SQS hands it over: sent just now, received once. */
function record(messageId: string, body: unknown): IngestRecord {
  const now = Date.now();
  return {
    messageId,
    body: typeof body === "string" ? body : JSON.stringify(body),
    sourceTimeMs: now,
    sentTimeMs: now,
    receiveCount: 1,
  };
}

function setup() {
  const settings = resolveSlicingSettings();
  const store = new MemoryClusterStore(settings);
  const engine = new SliceEngine({ settings, store });
  const sim = new ClusterSimulator();
  const sink = new RecordingSink();
  return { store, engine, sim, sink };
}

describe("ingestBatch", () => {
  it("sends poison events to the dead-letter sink with reasons and applies the rest of the batch", async () => {
    const { store, engine, sim, sink } = setup();
    const service = sim.upsertService({
      namespace: "shop",
      name: "web",
      selector: { app: "web" },
      ports: [{ name: "http", port: 80, targetPort: 8080 }],
    });
    const pod = [
      sim.createPod("shop", "a", { app: "web" }, "n1"),
      sim.startPod("shop", "a"),
      sim.setPodReady("shop", "a", true),
    ];
    const bad = {
      type: "ADDED",
      object: { kind: "Pod", metadata: { namespace: "shop", name: "x", resourceVersion: "v1" } },
    };
    const outcome = await ingestBatch(
      [record("m1", JSON.stringify(service)), record("m2", "{oops"), record("m3", { events: [...pod, bad] })],
      { engine, deadLetters: sink },
    );
    assert.deepEqual(outcome.failedMessageIds, []);
    assert.equal(outcome.rejected, 2);
    assert.deepEqual(
      sink.letters.map((l) => [l.sourceMessageId, l.index]),
      [
        ["m2", undefined],
        ["m3", 3],
      ],
    );
    assert.match(sink.letters[0]?.reason ?? "", /^invalid JSON/);
    assert.match(sink.letters[1]?.reason ?? "", /resourceVersion: must be a decimal integer string/);
    assert.equal(sink.letters[0]?.body, "{oops");
    assert.equal(store.objects("EndpointSlice").size, 1);
  });

  it("retries only the message whose dead letters could not be stored", async () => {
    const { engine, sim, sink } = setup();
    sink.failFor.add("m2");
    const good = sim.addNamespace("shop");
    const outcome = await ingestBatch([record("m1", JSON.stringify(good)), record("m2", "not json")], {
      engine,
      deadLetters: sink,
    });
    assert.deepEqual(outcome.failedMessageIds, ["m2"]);
  });

  it("retries every message with valid events when the engine fails, and nothing else", async () => {
    const { sim, sink } = setup();
    const failing = {
      applyBatch: async () => Promise.reject(new Error("DynamoDB unavailable")),
    } as unknown as SliceEngine;
    const outcome = await ingestBatch(
      [
        record("m1", JSON.stringify(sim.addNamespace("a"))),
        record("m2", "[]"),
        record("m3", { events: [sim.addNamespace("b")] }),
      ],
      { engine: failing, deadLetters: sink },
    );
    assert.deepEqual(outcome.failedMessageIds.sort(), ["m1", "m3"]);
    assert.equal(outcome.rejected, 1);
    assert.ok(outcome.error instanceof Error);
  });
});

/**
 * A memory store whose identity allocation or group commits fail on demand, for one namespace:
 * the failures real storage has (a full identity range, throttling) without real storage.
 */
function failingStore(
  inner: MemoryClusterStore,
  failures: {
    acquire?: (labels: Record<string, string>) => Error | undefined;
    commit?: (namespace: string) => Error | undefined;
  },
): ClusterStore {
  const identities: IdentityStore = {
    acquire: async (labels, nowMs) => {
      const error = failures.acquire?.(labels);
      if (error !== undefined) throw error;
      return inner.identities.acquire(labels, nowMs);
    },
    release: (id, nowMs) => inner.identities.release(id, nowMs),
    collectGarbage: (nowMs) => inner.identities.collectGarbage(nowMs),
  };
  return {
    loadGroup: (namespace) => inner.loadGroup(namespace),
    commitGroup: async (group, writes) => {
      const error = failures.commit?.(group.name);
      if (error !== undefined) throw error;
      return inner.commitGroup(group, writes);
    },
    commitClusterWrites: (writes) => inner.commitClusterWrites(writes),
    loadNode: (name) => inner.loadNode(name),
    commitNode: (name, entry, expected) => inner.commitNode(name, entry, expected),
    zonesOf: (names) => inner.zonesOf(names),
    podsOnNode: (name) => inner.podsOnNode(name),
    knownNames: (kind, range) => inner.knownNames(kind, range),
    identities,
  };
}

function throttled(): Error {
  const error = new Error("Rate of requests exceeds the allowed throughput.");
  error.name = "ProvisionedThroughputExceededException";
  return Object.assign(error, { $fault: "client", $metadata: {} });
}

/** A namespace with one Service and one ready pod, as events. */
function namespaceWithPod(sim: ClusterSimulator, namespace: string, labels: Record<string, string>) {
  return [
    sim.addNamespace(namespace),
    sim.upsertService({
      namespace,
      name: "web",
      selector: labels,
      ports: [{ name: "http", port: 80, targetPort: 8080 }],
    }),
    sim.createPod(namespace, "a", labels, "n1"),
    sim.startPod(namespace, "a"),
    sim.setPodReady(namespace, "a", true),
  ];
}

const slicesOf = (store: MemoryClusterStore, namespace: string) =>
  [...store.objects("EndpointSlice").keys()].filter((key) => key.startsWith(`${namespace}/`));

describe("ingestBatch: one failing namespace group costs only its own events", () => {
  it("dead-letters a group whose identities are exhausted, with the reason, and commits the other namespaces", async () => {
    const settings = resolveSlicingSettings({ identityGcGraceMs: 0 });
    const memory = new MemoryClusterStore(settings);
    let now = 1_700_000_000_000;
    const store = failingStore(memory, {
      acquire: (labels) =>
        labels["k8s:app"] === "poison"
          ? new IdentityExhaustedError("all 65280 identities are in use")
          : undefined,
    });
    const engine = new SliceEngine({ settings, store, nowMs: () => now });
    const sim = new ClusterSimulator();
    const sink = new RecordingSink();
    // An identity that falls out of use in this batch, to see garbage collection still run.
    await ingestBatch([record("m0", { events: namespaceWithPod(sim, "old", { app: "old" }) })], {
      engine,
      deadLetters: sink,
      nowMs: () => now,
    });
    now += 1;
    const outcome = await ingestBatch(
      [
        record("m1", { events: namespaceWithPod(sim, "good", { app: "good" }) }),
        record("m2", { events: namespaceWithPod(sim, "bad", { app: "poison" }) }),
        record("m3", sim.deletePod("old", "a")),
      ],
      { engine, deadLetters: sink, nowMs: () => now },
    );
    assert.deepEqual(outcome.failedMessageIds, []);
    assert.equal(outcome.deadLettered, 5);
    assert.deepEqual(
      sink.letters.map((l) => [l.sourceMessageId, l.index]),
      [0, 1, 2, 3, 4].map((i) => ["m2", i]),
    );
    for (const letter of sink.letters) {
      assert.match(
        letter.reason,
        /^namespace bad failed \(deterministic\): IdentityExhaustedError: all 65280 identities/,
      );
      assert.equal(
        JSON.parse(letter.body).object.metadata.namespace ?? JSON.parse(letter.body).object.metadata.name,
        "bad",
      );
    }
    assert.equal(slicesOf(memory, "good").length, 1);
    assert.equal(slicesOf(memory, "bad").length, 0);
    // The "old" identity was released in this batch and collected at its end (grace 0).
    assert.ok(outcome.report?.writes.some((w) => w.kind === "CiliumIdentity" && w.op === "delete"));
  });

  it("retries only the messages of a group that failed transiently, without dead-lettering them", async () => {
    const settings = resolveSlicingSettings();
    const memory = new MemoryClusterStore(settings);
    const store = failingStore(memory, {
      commit: (namespace) => (namespace === "busy" ? throttled() : undefined),
    });
    const engine = new SliceEngine({ settings, store });
    const sim = new ClusterSimulator();
    const sink = new RecordingSink();
    const busy = namespaceWithPod(sim, "busy", { app: "busy" });
    const outcome = await ingestBatch(
      [
        record("m1", { events: namespaceWithPod(sim, "good", { app: "good" }) }),
        record("m2", { events: busy.slice(0, 2) }),
        record("m3", { events: busy.slice(2) }),
      ],
      { engine, deadLetters: sink },
    );
    assert.deepEqual(outcome.failedMessageIds.sort(), ["m2", "m3"]);
    assert.equal(sink.letters.length, 0);
    assert.equal(outcome.deadLettered, 0);
    assert.equal(slicesOf(memory, "good").length, 1);
    assert.equal(outcome.failures[0]?.failureClass, "transient");
  });

  it("retries a message spanning groups when one failed transiently, and dead-letters the events of a group that failed for good", async () => {
    const settings = resolveSlicingSettings();
    const memory = new MemoryClusterStore(settings);
    const store = failingStore(memory, {
      commit: (namespace) => (namespace === "busy" ? throttled() : undefined),
      acquire: (labels) => (labels["k8s:app"] === "poison" ? new IdentityExhaustedError("full") : undefined),
    });
    const engine = new SliceEngine({ settings, store });
    const sim = new ClusterSimulator();
    const sink = new RecordingSink();
    const mixed = [
      ...namespaceWithPod(sim, "good", { app: "good" }),
      ...namespaceWithPod(sim, "busy", { app: "busy" }),
    ];
    const poisoned = [...namespaceWithPod(sim, "bad", { app: "poison" }), sim.addNamespace("fine")];
    const outcome = await ingestBatch([record("m1", { events: mixed }), record("m2", { events: poisoned })], {
      engine,
      deadLetters: sink,
    });
    assert.deepEqual(outcome.failedMessageIds, ["m1"]);
    assert.deepEqual(
      sink.letters.map((l) => [l.sourceMessageId, l.index]),
      [0, 1, 2, 3, 4].map((i) => ["m2", i]),
    );
    assert.equal(slicesOf(memory, "good").length, 1);
  });

  it("applies a Node event on its own: a Node that fails does not fail the batch", async () => {
    const settings = resolveSlicingSettings();
    const memory = new MemoryClusterStore(settings);
    const store: ClusterStore = Object.assign(failingStore(memory, {}), {
      commitNode: async (
        name: string,
        entry: Versioned<NodeRecord>,
        expected: Versioned<NodeRecord> | undefined,
      ) => {
        if (name === "broken") throw new TypeError("cannot read properties of undefined");
        return memory.commitNode(name, entry, expected);
      },
    });
    const engine = new SliceEngine({ settings, store });
    const sim = new ClusterSimulator();
    const sink = new RecordingSink();
    const outcome = await ingestBatch(
      [
        record("m1", { events: [sim.addNode("broken", "zone-a"), sim.addNode("n1", "zone-b")] }),
        record("m2", { events: namespaceWithPod(sim, "good", { app: "good" }) }),
      ],
      { engine, deadLetters: sink },
    );
    assert.deepEqual(outcome.failedMessageIds, []);
    assert.deepEqual(
      sink.letters.map((l) => [l.sourceMessageId, l.index]),
      [["m1", 0]],
    );
    assert.match(sink.letters[0]?.reason ?? "", /^node broken failed \(deterministic\): TypeError/);
    assert.equal(slicesOf(memory, "good").length, 1);
    assert.equal((await memory.loadNode("n1"))?.record?.zone, "zone-b");
  });

  it("retries an unclassified failure, and dead-letters it with its reason once the message came back often enough", async () => {
    const settings = resolveSlicingSettings();
    // A fresh store per delivery: the retry sees the group as stored, as it would on DynamoDB.
    const engineFailing = () =>
      new SliceEngine({
        settings,
        store: failingStore(new MemoryClusterStore(settings), { commit: () => new Error("something odd") }),
      });
    const sim = new ClusterSimulator();
    const sink = new RecordingSink();
    const body = { events: namespaceWithPod(sim, "odd", { app: "odd" }) };
    const first = await ingestBatch([{ ...record("m1", body), receiveCount: 1 }], {
      engine: engineFailing(),
      deadLetters: sink,
    });
    assert.deepEqual(first.failedMessageIds, ["m1"]);
    assert.equal(sink.letters.length, 0);
    const last = await ingestBatch([{ ...record("m1", body), receiveCount: 4 }], {
      engine: engineFailing(),
      deadLetters: sink,
    });
    assert.deepEqual(last.failedMessageIds, []);
    assert.equal(sink.letters.length, 5);
    assert.match(
      sink.letters[0]?.reason ?? "",
      /^namespace odd failed \(unclassified, receive 4\): Error: something odd/,
    );
  });

  it("refuses, with a reason, an event sent longer ago than tombstones last", async () => {
    const { store, engine, sim, sink } = setup();
    const now = 1_700_000_000_000;
    const retention = resolveSlicingSettings().tombstoneRetentionMs;
    const outcome = await ingestBatch(
      [
        {
          ...record("m1", sim.addNamespace("stale")),
          sentTimeMs: now - retention - 1,
          sourceTimeMs: now - retention - 1,
        },
        {
          ...record("m2", sim.addNamespace("fresh")),
          sentTimeMs: now - retention,
          sourceTimeMs: now - retention,
        },
      ],
      { engine, deadLetters: sink, nowMs: () => now, maxEventAgeMs: retention },
    );
    assert.deepEqual(outcome.failedMessageIds, []);
    assert.equal(outcome.rejected, 1);
    assert.deepEqual(
      sink.letters.map((l) => l.sourceMessageId),
      ["m1"],
    );
    assert.match(
      sink.letters[0]?.reason ?? "",
      /^too old: sent .* ago, longer than deleted objects' tombstones last/,
    );
    assert.ok((await store.loadGroup("fresh")).namespaceEntry !== undefined);
    assert.equal((await store.loadGroup("stale")).namespaceEntry, undefined);
  });
});
