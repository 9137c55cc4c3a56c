/**
 * A namespace group rebuilt from storage between any two commits (a cold Lambda) must name new
 * slices exactly as the long-lived group (a warm one) does. Names are what a reload used to lose:
 * the long-lived group never hands a deleted slice's name out again, so the counter the names
 * come from is stored with the group (shared/core/slice-name-counter.ts).
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

const NOW = 1_700_000_000_000;

function createdNames(writes: readonly ObjectWrite[]): string[] {
  return writes.filter((w) => w.op === "create").map((w) => `${w.kind} ${w.object.metadata.name}`);
}

/**
 * The writes as they bear on what either group holds next. Not creationTimestamp, which only a
 * reloaded group has (from storage), nor the byte counts it adds to.
 */
function heldAfter(writes: readonly ObjectWrite[]): string {
  return JSON.stringify(
    writes.map(({ op, kind, expectedResourceVersion, object }) => {
      const { creationTimestamp: _, ...metadata } = object.metadata;
      return { op, kind, expectedResourceVersion, object: { ...object, metadata } };
    }),
  );
}

describe("a group reloaded from storage against a long-lived one", () => {
  it("names new slices identically, whichever loads are cold", async () => {
    /** Batches that created slices in a group just reloaded: what the property is about. */
    let createsAfterReload = 0;
    await fc.assert(
      fc.asyncProperty(
        slicingSettingsArbitrary,
        historyArbitrary(100).chain((ops) => {
          const { sim, events: setup } = seededCluster();
          const events = [...setup, ...eventsFor(sim, ops)];
          return deliveryArbitrary(events.length).map((delivery) => deliver(events, delivery));
        }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
        async (settings, batches, coldPattern) => {
          let load = 0;
          const reloaded = new ColdReloadStore(
            settings,
            () => coldPattern[load++ % coldPattern.length] === true,
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
            assert.deepEqual(createdNames(got), createdNames(expected), `batch ${index}`);
            if (reloaded.coldLoads > coldLoadsBefore && createdNames(got).length > 0) createsAfterReload++;
            // Once a reloaded group filled another slice than the long-lived one, the two hold
            // different slices and their later names compare nothing. Both packers now choose
            // among equally suitable slices by name, so this should not happen; that the writes
            // stay identical, whatever order a reload lists the slices in, is
            // cold-reload-order.test.ts's property, not this one's.
            if (heldAfter(got) !== heldAfter(expected)) return;
          }
        },
      ),
      { numRuns: 150 },
    );
    assert.ok(createsAfterReload > 150, `only ${createsAfterReload} batches created slices after a reload`);
  });
});
