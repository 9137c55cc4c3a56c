/**
 * A namespace group rebuilt from storage (a cold Lambda) must end in the same state as the
 * long-lived group (a warm one), whatever order the reload hands it the stored slices in:
 * DynamoDB returns them in key order, a warm group holds them in the order it created and
 * rewrote them, and neither order may decide which slice an endpoint goes to. Here every cold
 * load presents the stored slices shuffled, and every batch must write exactly what the
 * long-lived group writes (same objects, names, endpoints, resourceVersions, in the same order).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { ObjectWrite } from "#shared/core/output-changes.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import { ColdReloadStore } from "#test/support/cold-reload-store.ts";
import {
  deliver,
  deliveryArbitrary,
  eventsFor,
  historyArbitrary,
  seededCluster,
  slicingSettingsArbitrary,
} from "#test/support/random-trace.ts";
import { SeededRandom } from "#test/support/seeded-random.ts";

const NOW = 1_700_000_000_000;
/** Property runs; SLICELINE_COLD_ORDER_RUNS=1000 for a longer hunt. */
const RUNS = Number(process.env.SLICELINE_COLD_ORDER_RUNS ?? 150);
/** Random seeds, as for any property; SLICELINE_COLD_ORDER_SEED=<number> replays one. */
const SEED =
  process.env.SLICELINE_COLD_ORDER_SEED === undefined
    ? {}
    : { seed: Number(process.env.SLICELINE_COLD_ORDER_SEED) };

/**
 * The writes as they bear on what either group holds next. Not creationTimestamp, which only a
 * reloaded group has (from storage), nor the byte counts it adds to.
 */
function heldAfter(writes: readonly ObjectWrite[]): string[] {
  return writes.map(({ op, kind, expectedResourceVersion, object }) => {
    const { creationTimestamp: _, ...metadata } = object.metadata;
    return JSON.stringify({ op, kind, expectedResourceVersion, object: { ...object, metadata } });
  });
}

describe("a group reloaded from storage in any order against a long-lived one", () => {
  it("writes exactly what the long-lived group writes, whatever order the reload lists the slices in", async () => {
    /** Batches that wrote EndpointSlices in a group just reloaded: what the property is about. */
    let sliceWritesAfterReload = 0;
    await fc.assert(
      fc.asyncProperty(
        slicingSettingsArbitrary,
        historyArbitrary(100).chain((ops) => {
          const { sim, events: setup } = seededCluster();
          const events = [...setup, ...eventsFor(sim, ops)];
          return deliveryArbitrary(events.length).map((delivery) => deliver(events, delivery));
        }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
        fc.integer(),
        async (settings, batches, coldPattern, shuffleSeed) => {
          let load = 0;
          const random = new SeededRandom(shuffleSeed);
          const reloaded = new ColdReloadStore(
            settings,
            () => coldPattern[load++ % coldPattern.length] === true,
            (_kind, slices) => random.permutation(slices.length).map((i) => slices[i] as (typeof slices)[0]),
          );
          const longLived = new SliceEngine({
            settings,
            store: new MemoryClusterStore(settings),
            nowMs: () => NOW,
          });
          const cold = new SliceEngine({ settings, store: reloaded, nowMs: () => NOW });
          for (const [index, batch] of batches.entries()) {
            const parsed = parseMessageBody(JSON.stringify({ events: batch }));
            assert.deepEqual(parsed.rejected, []);
            const events = parsed.events.map((event) => ({ event, sourceTimeMs: NOW - 1000 }));
            const expected = (await longLived.applyBatch(events)).writes;
            const coldLoadsBefore = reloaded.coldLoads;
            const got = (await cold.applyBatch(events)).writes;
            assert.deepEqual(heldAfter(got), heldAfter(expected), `batch ${index}`);
            if (reloaded.coldLoads > coldLoadsBefore && got.some((w) => w.kind === "EndpointSlice")) {
              sliceWritesAfterReload++;
            }
          }
        },
      ),
      { numRuns: RUNS, ...SEED },
    );
    assert.ok(
      sliceWritesAfterReload > RUNS,
      `only ${sliceWritesAfterReload} batches wrote EndpointSlices after a reload`,
    );
  });
});
