/**
 * The whole core against the reference model: random cluster histories, delivered with
 * duplicates, reordering and random batch boundaries, must end in exactly the outputs the
 * reference computes from the final objects.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import { resolveSlicingSettings, type SlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import {
  deliver,
  deliveryArbitrary,
  eventsFor,
  historyArbitrary,
  seededCluster,
  slicingSettingsArbitrary,
} from "#test/support/random-trace.ts";
import { checkAgainstReference } from "#test/support/reference-check.ts";

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

describe("slice engine against the reference model", () => {
  it("ends in the reference state for any history, duplicates, reordering and batching", async () => {
    await fc.assert(
      fc.asyncProperty(
        slicingSettingsArbitrary,
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
