import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { type DeadLetter, type DeadLetterSink, ingestBatch } from "#shared/pipeline/ingest-batch.ts";
import { ClusterSimulator } from "#shared/sim/cluster-simulator.ts";

class RecordingSink implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  failFor = new Set<string>();
  async send(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.some((l) => this.failFor.has(l.sourceMessageId))) throw new Error("DLQ unavailable");
    this.letters.push(...letters);
  }
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
      [
        { messageId: "m1", body: JSON.stringify(service), sourceTimeMs: 1 },
        { messageId: "m2", body: "{oops", sourceTimeMs: 1 },
        { messageId: "m3", body: JSON.stringify({ events: [...pod, bad] }), sourceTimeMs: 1 },
      ],
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
    const outcome = await ingestBatch(
      [
        { messageId: "m1", body: JSON.stringify(good), sourceTimeMs: 1 },
        { messageId: "m2", body: "not json", sourceTimeMs: 1 },
      ],
      { engine, deadLetters: sink },
    );
    assert.deepEqual(outcome.failedMessageIds, ["m2"]);
  });

  it("retries every message with valid events when the engine fails, and nothing else", async () => {
    const { sim, sink } = setup();
    const failing = {
      applyBatch: async () => Promise.reject(new Error("DynamoDB unavailable")),
    } as unknown as SliceEngine;
    const outcome = await ingestBatch(
      [
        { messageId: "m1", body: JSON.stringify(sim.addNamespace("a")), sourceTimeMs: 1 },
        { messageId: "m2", body: "[]", sourceTimeMs: 1 },
        { messageId: "m3", body: JSON.stringify({ events: [sim.addNamespace("b")] }), sourceTimeMs: 1 },
      ],
      { engine: failing, deadLetters: sink },
    );
    assert.deepEqual(outcome.failedMessageIds.sort(), ["m1", "m3"]);
    assert.equal(outcome.rejected, 1);
    assert.ok(outcome.error instanceof Error);
  });
});
