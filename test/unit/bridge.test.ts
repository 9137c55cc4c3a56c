/**
 * The bridge with a scripted cluster source and a recording transport: what it sends for changes
 * and lists, where it routes them, and how it behaves when SQS fails (bounded memory, newest
 * state kept, re-list of what the full queue refused, retries until SQS answers again).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Bridge } from "#shared/bridge/bridge.ts";
import { type BridgeKind, contractObject, type KubeObject } from "#shared/bridge/contract-object.ts";
import type { ClusterSource, SourceSink } from "#shared/bridge/kube-source.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import { RecordingTransport } from "#test/support/bridge-harness.ts";

/** A source the test drives by hand; `relist` is recorded and answered by the test. */
class ScriptedSource implements ClusterSource {
  sink: SourceSink | undefined;
  readonly relisted: BridgeKind[] = [];

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
  }

  relist(kind: BridgeKind): void {
    this.relisted.push(kind);
  }

  async stop(): Promise<void> {}
}

function pod(namespace: string, name: string, resourceVersion: number): KubeObject {
  return {
    metadata: { namespace, name, resourceVersion: String(resourceVersion), labels: { app: "web" } },
    spec: { nodeName: "n1", containers: [{ ports: [{ name: "http", containerPort: 80 }] }] },
    status: { podIP: "10.0.0.1", phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
  };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

describe("bridge", () => {
  it("sends contract events ingest accepts: kind and apiVersion filled, dates as strings", () => {
    const object = contractObject("Pod", {
      ...pod("web", "a", 3),
      metadata: { ...pod("web", "a", 3).metadata, deletionTimestamp: new Date(Date.UTC(2026, 0, 2)) },
    });
    assert.equal(object.kind, "Pod");
    assert.equal(object.apiVersion, "v1");
    assert.equal(object.metadata.deletionTimestamp, "2026-01-02T00:00:00.000Z");
    const parsed = parseMessageBody(JSON.stringify({ type: "MODIFIED", object }));
    assert.deepEqual(parsed.rejected, []);
    assert.equal(parsed.events[0]?.object.kind, "Pod");
  });

  it("routes priority namespaces to the priority queue, and a list to SYNC chunks for every known namespace", async () => {
    const source = new ScriptedSource();
    const transport = new RecordingTransport();
    const bridge = new Bridge({ source, transport, priorityNamespaces: ["kube-system"], retryBaseMs: 1 });
    await bridge.start();
    const sink = source.sink as SourceSink;
    sink.listed(
      "Namespace",
      [{ metadata: { name: "kube-system" } }, { metadata: { name: "web" } }, { metadata: { name: "empty" } }],
      "10",
    );
    sink.listed("Pod", [pod("kube-system", "dns", 4), pod("web", "a", 5)], "12");
    sink.change("Pod", "ADDED", pod("kube-system", "dns", 4));
    sink.change("Pod", "ADDED", pod("web", "a", 5));
    await until(() => bridge.pending === 0);
    await bridge.stop(1000);
    const routed = transport.batches.flatMap((batch) =>
      batch.bodies.flatMap((body) =>
        parseMessageBody(body.body).accepted.map(({ event }) => [batch.route, event] as const),
      ),
    );
    const syncs = routed.filter(([, event]) => event.type === "SYNC");
    assert.deepEqual(
      syncs
        .map(([route, event]) => [
          route,
          event.type === "SYNC" ? `${event.kind}/${event.namespace ?? ""}:${event.names.join(",")}` : "",
        ])
        .sort(),
      [
        ["ingest", "Namespace/:empty,kube-system,web"],
        ["ingest", "Pod/empty:"],
        ["ingest", "Pod/web:a"],
        ["priority", "Pod/kube-system:dns"],
      ],
    );
    const changes = routed.filter(([, event]) => event.type !== "SYNC");
    assert.deepEqual(
      changes
        .map(([route, event]) => [route, event.type === "SYNC" ? "" : event.object.metadata.name])
        .sort(),
      [
        ["ingest", "a"],
        ["priority", "dns"],
      ],
    );
  });

  it("holds at most its bound while SQS fails, keeps each object's newest state, re-lists what it refused, and sends it all once SQS is back", async () => {
    const source = new ScriptedSource();
    const transport = new RecordingTransport();
    transport.failing = true;
    const maxQueueEvents = 50;
    const bridge = new Bridge({
      source,
      transport,
      priorityNamespaces: [],
      maxQueueEvents,
      retryBaseMs: 1,
      retryMaxMs: 2,
      senders: 2,
    });
    await bridge.start();
    const sink = source.sink as SourceSink;
    let peak = 0;
    // 40 pods change 100 times each, then 200 new pods appear: far more than the bound.
    for (let round = 1; round <= 100; round++) {
      for (let i = 0; i < 40; i++) {
        sink.change("Pod", "MODIFIED", pod("web", `p${i}`, round * 1000 + i));
        peak = Math.max(peak, bridge.pending);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (let i = 40; i < 240; i++) {
      sink.change("Pod", "ADDED", pod("web", `p${i}`, 200_000 + i));
      peak = Math.max(peak, bridge.pending);
    }
    assert.ok(peak <= maxQueueEvents, `peak ${peak} over the bound`);
    assert.ok(bridge.metrics.counters.eventsRefused > 0);
    assert.ok(bridge.metrics.counters.eventsCoalesced >= 40 * 99 - maxQueueEvents);
    await until(() => transport.calls > 5);

    transport.failing = false;
    await until(() => bridge.pending === 0 && source.relisted.length > 0);
    assert.deepEqual(source.relisted, ["Pod"]);
    const sent = new Map<string, number>();
    for (const event of transport.events()) {
      const object = event.object as { metadata: { name: string; resourceVersion: string } };
      sent.set(
        object.metadata.name,
        Math.max(sent.get(object.metadata.name) ?? 0, Number(object.metadata.resourceVersion)),
      );
    }
    for (let i = 0; i < 40; i++) assert.equal(sent.get(`p${i}`), 100_000 + i, `newest state of p${i}`);
    assert.ok(bridge.metrics.counters.sqsRetries > 0);
    assert.deepEqual(await bridge.stop(1000), { drained: true, left: 0 });
  });

  it("puts back the entries SQS refused for now, drops those it refuses for good", async () => {
    const source = new ScriptedSource();
    let calls = 0;
    const sentBodies: string[] = [];
    const bridge = new Bridge({
      source,
      priorityNamespaces: [],
      retryBaseMs: 1,
      retryMaxMs: 2,
      senders: 1,
      maxBodyBytes: 600,
      transport: {
        async send(batch) {
          calls++;
          if (calls === 1)
            return batch.bodies.map((_, index) => ({ index, retryable: index !== 0, reason: "Throttled" }));
          sentBodies.push(...batch.bodies.map((body) => body.body));
          return [];
        },
      },
    });
    await bridge.start();
    for (let i = 0; i < 3; i++) source.sink?.change("Pod", "ADDED", pod("web", `p${i}`, 10 + i));
    await until(() => bridge.pending === 0);
    await bridge.stop(1000);
    assert.equal(bridge.metrics.counters.eventsFailed, 1);
    const names = sentBodies.flatMap((body) =>
      parseMessageBody(body).events.map((event) => event.object.metadata.name),
    );
    assert.deepEqual(names.sort(), ["p1", "p2"]);
  });
});
