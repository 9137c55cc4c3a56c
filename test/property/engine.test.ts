/**
 * The whole core against the reference model: random cluster histories, delivered with
 * duplicates, reordering and random batch boundaries, must end in exactly the outputs the
 * reference computes from the final objects.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import { resolveSlicingSettings, type SlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import type { ClusterSimulator, SimEvent } from "#shared/sim/cluster-simulator.ts";
import {
  deliver,
  deliveryArbitrary,
  eventsFor,
  historyArbitrary,
  seededCluster,
} from "#test/support/random-trace.ts";
import {
  canonicalPorts,
  endpointKeyOf,
  expectedCiliumEndpoints,
  expectedEndpoints,
  expectedSecurityLabels,
} from "#test/support/reference-model.ts";

const settingsArbitrary: fc.Arbitrary<SlicingSettings> = fc
  .record({
    maxEndpointsPerSlice: fc.integer({ min: 1, max: 4 }),
    maxEndpointsPerCES: fc.integer({ min: 1, max: 4 }),
    placement: fc.constantFrom("kubernetes" as const, "sliceline" as const),
    cesBatchingMode: fc.constantFrom("fcfs" as const, "identity" as const),
  })
  .map((overrides) => resolveSlicingSettings(overrides));

async function run(settings: SlicingSettings, batches: SimEvent[][]): Promise<MemoryClusterStore> {
  const store = new MemoryClusterStore(settings);
  // A frozen clock: no tombstone or identity expires mid-trace, so the final state is well defined.
  const engine = new SliceEngine({ settings, store, nowMs: () => 1_700_000_000_000 });
  for (const batch of batches) {
    const parsed = parseMessageBody(JSON.stringify({ events: batch }));
    assert.deepEqual(parsed.rejected, []);
    await engine.applyBatch(parsed.events.map((event) => ({ event, sourceTimeMs: 0 })));
  }
  return store;
}

function publishedEndpoints(store: MemoryClusterStore): string[] {
  const published: string[] = [];
  for (const { object } of store.objects("EndpointSlice").values()) {
    const slice = object as EndpointSlice;
    const service = `${slice.metadata.namespace}/${slice.metadata.labels["kubernetes.io/service-name"]}`;
    for (const endpoint of slice.endpoints) {
      for (const address of endpoint.addresses) {
        published.push(
          endpointKeyOf({
            service,
            addressType: slice.addressType,
            ports: canonicalPorts(slice.ports),
            pod: endpoint.targetRef.name,
            address,
            ...endpoint.conditions,
            zone: endpoint.zone,
          }),
        );
      }
    }
  }
  return published;
}

function checkAgainstReference(
  store: MemoryClusterStore,
  sim: ClusterSimulator,
  settings: SlicingSettings,
): void {
  const published = publishedEndpoints(store);
  assert.equal(new Set(published).size, published.length, "an endpoint appears in two slices");
  assert.deepEqual(new Set(published), expectedEndpoints(sim));
  for (const { object } of store.objects("EndpointSlice").values()) {
    const slice = object as EndpointSlice;
    assert.ok(slice.endpoints.length >= 1 && slice.endpoints.length <= settings.maxEndpointsPerSlice);
  }

  const identities = new Map<number, string>();
  for (const { object } of store.objects("CiliumIdentity").values()) {
    const identity = object as CiliumIdentity;
    const id = Number(identity.metadata.name);
    assert.ok(id >= 256 && id <= 65535);
    const labels = Object.entries(identity["security-labels"])
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join(",");
    identities.set(id, labels);
  }
  assert.equal(new Set(identities.values()).size, identities.size, "two identities for one label set");

  const expected = expectedCiliumEndpoints(sim);
  const seen = new Set<string>();
  for (const { object } of store.objects("CiliumEndpointSlice").values()) {
    const ces = object as CiliumEndpointSlice;
    assert.ok(ces.endpoints.length >= 1 && ces.endpoints.length <= settings.maxEndpointsPerCES);
    for (const entry of ces.endpoints) {
      const key = `${ces.namespace}/${entry.name}`;
      assert.ok(!seen.has(key), `${key} in two CiliumEndpointSlices`);
      seen.add(key);
      const want = expected.get(key);
      assert.ok(want !== undefined, `${key} should not have a CiliumEndpointSlice entry`);
      assert.deepEqual(entry.networking.addressing, [
        { ...(want.ipv4 ? { ipv4: want.ipv4 } : {}), ...(want.ipv6 ? { ipv6: want.ipv6 } : {}) },
      ]);
      assert.equal(entry.networking.node, want.node);
      const pod = sim.pods.get(key);
      assert.ok(pod !== undefined);
      assert.equal(identities.get(entry.id), expectedSecurityLabels(sim, pod), `identity of ${key}`);
    }
  }
  assert.deepEqual(seen, new Set(expected.keys()));
}

describe("slice engine against the reference model", () => {
  it("ends in the reference state for any history, duplicates, reordering and batching", async () => {
    await fc.assert(
      fc.asyncProperty(
        settingsArbitrary,
        historyArbitrary(120).chain((ops) => {
          const { sim, events: setup } = seededCluster();
          const events = [...setup, ...eventsFor(sim, ops)];
          return deliveryArbitrary(events.length).map((delivery) => ({ sim, events, delivery }));
        }),
        async (settings, { sim, events, delivery }) => {
          const store = await run(settings, deliver(events, delivery));
          checkAgainstReference(store, sim, settings);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("replaying the whole trace again changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(historyArbitrary(80), async (ops) => {
        const settings = resolveSlicingSettings({ maxEndpointsPerSlice: 3, maxEndpointsPerCES: 2 });
        const { sim, events: setup } = seededCluster();
        const events = [...setup, ...eventsFor(sim, ops)];
        const store = new MemoryClusterStore(settings);
        const engine = new SliceEngine({ settings, store, nowMs: () => 1_700_000_000_000 });
        const parsed = parseMessageBody(JSON.stringify({ events })).events;
        await engine.applyBatch(parsed.map((event) => ({ event, sourceTimeMs: 0 })));
        const replay = await engine.applyBatch(parsed.map((event) => ({ event, sourceTimeMs: 0 })));
        assert.equal(replay.writes.length, 0);
        assert.equal(replay.stale, parsed.length);
        checkAgainstReference(store, sim, settings);
      }),
      { numRuns: 60 },
    );
  });
});
