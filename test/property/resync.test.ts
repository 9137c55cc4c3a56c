/**
 * The SYNC input event (docs/input-events.md) against the reference model: a history, then a gap
 * in which every deletion (and some other events) is lost, then what a bridge sends after a 410
 * or a restart (the re-listed objects and SYNC chunks of every kind) must end in exactly the
 * state the full history ends in. Chunks arrive shuffled and duplicated; later changes overtake
 * them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ClusterSimulator, SimEvent } from "#scripts/sim/cluster-simulator.ts";
import type { BridgeKind } from "#shared/bridge/contract-object.ts";
import { type SyncChunk, sortedNames, syncChunksCutAt } from "#shared/bridge/resync-chunks.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import { resolveSlicingSettings, type SlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import {
  type Delivery,
  deliver,
  deliveryArbitrary,
  eventsFor,
  historyArbitrary,
  seededCluster,
} from "#test/support/random-trace.ts";
import { checkAgainstReference } from "#test/support/reference-check.ts";

const NOW_MS = 1_700_000_000_000;

/** Extra objects the gap may delete: a namespace with a pod and a Service, and a node. */
function addExtras(sim: ClusterSimulator): SimEvent[] {
  return [
    sim.addNode("n9", "zone-9"),
    sim.addNamespace("gamma", { env: "dev" }),
    sim.upsertService({ namespace: "gamma", name: "svc-a", selector: { app: "web" }, ports: [{ port: 80 }] }),
    sim.createPod("gamma", "g0", { app: "web" }, "n0"),
    sim.startPod("gamma", "g0"),
    sim.setPodReady("gamma", "g0", true),
  ];
}

/** Deletes the extras in the simulator only: their events are lost in the gap. */
function deleteExtras(sim: ClusterSimulator, dropNamespace: boolean, dropNode: boolean): void {
  if (dropNamespace) {
    if (sim.pods.has("gamma/g0")) sim.deletePod("gamma", "g0");
    if (sim.services.has("gamma/svc-a")) sim.deleteService("gamma", "svc-a");
    sim.namespaces.delete("gamma");
  }
  if (dropNode) sim.nodes.delete("n9");
}

/** The objects a re-list returns: the newest event of each object still present in the simulator. */
function relist(sim: ClusterSimulator, history: readonly SimEvent[]): SimEvent[] {
  const newest = new Map<string, SimEvent>();
  for (const event of history) {
    const metadata = event.object.metadata as { namespace?: string; name: string };
    newest.set(`${String(event.object.kind)}/${metadata.namespace ?? ""}/${metadata.name}`, event);
  }
  const present = (event: SimEvent): boolean => {
    const metadata = event.object.metadata as { namespace?: string; name: string };
    const key = `${metadata.namespace}/${metadata.name}`;
    switch (event.object.kind) {
      case "Pod":
        return sim.pods.has(key);
      case "Service":
        return sim.services.has(key);
      case "Namespace":
        return sim.namespaces.has(metadata.name);
      default:
        return sim.nodes.has(metadata.name);
    }
  };
  return [...newest.values()].filter(present).map((event) => ({ type: "ADDED", object: event.object }));
}

/** The bridge's SYNC chunks of a list, cut at arbitrary places rather than by message size. */
function syncChunks(
  kind: BridgeKind,
  namespace: string | undefined,
  names: readonly string[],
  resourceVersion: string,
  cuts: readonly number[],
): SyncChunk[] {
  const sorted = sortedNames(names);
  const starts = [...new Set(cuts.map((cut) => cut % (sorted.length + 1)))]
    .filter((cut) => cut > 0 && cut < sorted.length)
    .sort((a, b) => a - b);
  return syncChunksCutAt(kind, namespace, sorted, resourceVersion, starts);
}

/** What a bridge sends for a completed list of every kind at the simulator's current revision. */
function resyncOf(sim: ClusterSimulator, cuts: readonly number[]): SyncChunk[] {
  const resourceVersion = String(sim.revision);
  const chunks: SyncChunk[] = [
    ...syncChunks("Namespace", undefined, [...sim.namespaces.keys()], resourceVersion, cuts),
    ...syncChunks("Node", undefined, [...sim.nodes.keys()], resourceVersion, cuts),
  ];
  for (const namespace of sim.namespaces.keys()) {
    const pods = [...sim.pods.values()].filter((p) => p.namespace === namespace).map((p) => p.name);
    const services = [...sim.services.values()].filter((s) => s.namespace === namespace).map((s) => s.name);
    chunks.push(...syncChunks("Pod", namespace, pods, resourceVersion, cuts));
    chunks.push(...syncChunks("Service", namespace, services, resourceVersion, cuts));
  }
  return chunks;
}

async function applyBatches(engine: SliceEngine, batches: readonly unknown[][]): Promise<void> {
  for (const batch of batches) {
    const parsed = parseMessageBody(JSON.stringify({ events: batch }));
    assert.deepEqual(parsed.rejected, []);
    await engine.applyBatch(parsed.accepted.map(({ event }) => ({ event, sourceTimeMs: 0 })));
  }
}

const settingsArbitrary: fc.Arbitrary<SlicingSettings> = fc
  .record({
    maxEndpointsPerSlice: fc.integer({ min: 1, max: 4 }),
    maxEndpointsPerCES: fc.integer({ min: 1, max: 4 }),
  })
  .map((overrides) => resolveSlicingSettings(overrides));

const scenarioArbitrary = fc.record({
  before: historyArbitrary(60),
  gap: historyArbitrary(60),
  after: historyArbitrary(20),
  /** Per gap event: whether a non-deletion is lost too. */
  lost: fc.array(fc.boolean(), { maxLength: 80 }),
  dropNamespace: fc.boolean(),
  dropNode: fc.boolean(),
  cuts: fc.array(fc.nat({ max: 12 }), { maxLength: 4 }),
  /** Sync chunk order (a permutation key each) and which ones arrive twice. */
  chunkOrder: fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
  chunkDuplicates: fc.array(fc.nat({ max: 63 }), { maxLength: 8 }),
  seed: fc.nat(),
});

describe("SYNC against the reference model", () => {
  it("a gap whose deletions are lost, then a resync, ends where the full history ends", async () => {
    await fc.assert(
      fc.asyncProperty(
        settingsArbitrary,
        scenarioArbitrary,
        fc.infiniteStream(deliveryArbitrary(400)),
        async (settings, scenario, deliveries) => {
          const { sim, events: setup } = seededCluster();
          const beforeEvents = [...setup, ...addExtras(sim), ...eventsFor(sim, scenario.before)];
          const gapEvents = eventsFor(sim, scenario.gap);
          deleteExtras(sim, scenario.dropNamespace, scenario.dropNode);
          const kept = gapEvents.filter((event, i) => event.type !== "DELETED" && !scenario.lost[i]);
          const history = [...beforeEvents, ...gapEvents];
          const relisted = relist(sim, history);
          const chunks = resyncOf(sim, scenario.cuts);
          const shuffled = chunks
            .map((chunk, i) => ({ chunk, key: scenario.chunkOrder[i % 64] ?? 0 }))
            .sort((a, b) => a.key - b.key)
            .map(({ chunk }) => chunk);
          for (const i of scenario.chunkDuplicates) {
            const chunk = chunks[i % chunks.length];
            if (chunk !== undefined) shuffled.splice(i % (shuffled.length + 1), 0, chunk);
          }
          const afterEvents = eventsFor(sim, scenario.after);

          const store = new MemoryClusterStore(settings);
          const engine = new SliceEngine({ settings, store, nowMs: () => NOW_MS });
          const next = (): Delivery => deliveries.next().value as Delivery;
          await applyBatches(engine, deliver<unknown>(beforeEvents, next()));
          await applyBatches(engine, deliver<unknown>(kept, next()));
          // The re-list and its chunks, with the changes after the list racing them.
          await applyBatches(engine, deliver<unknown>([...relisted, ...shuffled, ...afterEvents], next()));

          checkAgainstReference(store, sim, settings);
          assert.equal((await store.loadNode("n9"))?.record !== undefined, sim.nodes.has("n9"));
          const gamma = await store.loadGroup("gamma");
          assert.equal(gamma.namespaceEntry?.record !== undefined, sim.namespaces.has("gamma"));
          const livePods = [...gamma.pods].filter(([, entry]) => entry.record !== undefined).map(([n]) => n);
          assert.deepEqual(
            livePods,
            [...sim.pods.values()].filter((p) => p.namespace === "gamma").map((p) => p.name),
          );
        },
      ),
      { numRuns: 120 },
    );
  });

  it("a chunk deletes only what its range covers, and nothing newer than its list", async () => {
    const settings = resolveSlicingSettings({});
    const { sim, events } = seededCluster();
    const store = new MemoryClusterStore(settings);
    const engine = new SliceEngine({ settings, store, nowMs: () => NOW_MS });
    await applyBatches(engine, [events]);
    const listVersion = String(sim.revision);
    const late = sim.createPod("alpha", "p9", { app: "web" }, "n0");
    await applyBatches(engine, [[late]]);
    // Lists nothing in [p1, p3): p1 and p2 go; p0, p3 (outside) and p9 (newer than the list) stay.
    await applyBatches(engine, [
      [
        {
          type: "SYNC",
          kind: "Pod",
          namespace: "alpha",
          resourceVersion: listVersion,
          names: [],
          range: { from: "p1", to: "p3" },
        },
      ],
    ]);
    const group = await store.loadGroup("alpha");
    const live = [...group.pods].filter(([, entry]) => entry.record !== undefined).map(([name]) => name);
    assert.deepEqual(live.sort(), ["p0", "p3", "p9"]);
    assert.equal(group.pods.get("p1")?.resourceVersion, listVersion, "tombstoned at the list's version");
  });
});
