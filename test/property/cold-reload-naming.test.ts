/**
 * A namespace group rebuilt from storage between any two commits (a cold Lambda) must name new
 * slices exactly as the long-lived group (a warm one) does. Names are what a reload used to lose:
 * the long-lived group never hands a deleted slice's name out again, so the counter the names
 * come from is stored with the group (shared/core/slice-name-counter.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ObjectWrite } from "#shared/core/output-changes.ts";
import { ColdReloadStore, heldAfter, replayWarmAndCold } from "#test/support/cold-reload-store.ts";
import { deliveredBatchesArbitrary, slicingSettingsArbitrary } from "#test/support/random-trace.ts";

const NOW = 1_700_000_000_000;

function createdNames(writes: readonly ObjectWrite[]): string[] {
  return writes.filter((w) => w.op === "create").map((w) => `${w.kind} ${w.object.metadata.name}`);
}

describe("a group reloaded from storage against a long-lived one", () => {
  it("names new slices identically, whichever loads are cold", async () => {
    /** Batches that created slices in a group just reloaded: what the property is about. */
    let createsAfterReload = 0;
    await fc.assert(
      fc.asyncProperty(
        slicingSettingsArbitrary,
        deliveredBatchesArbitrary(100),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
        async (settings, batches, coldPattern) => {
          let load = 0;
          const reloaded = new ColdReloadStore(
            settings,
            () => coldPattern[load++ % coldPattern.length] === true,
          );
          await replayWarmAndCold(settings, reloaded, batches, NOW, (index, expected, got, coldLoaded) => {
            assert.deepEqual(createdNames(got), createdNames(expected), `batch ${index}`);
            if (coldLoaded && createdNames(got).length > 0) createsAfterReload++;
            // Once a reloaded group filled another slice than the long-lived one, the two hold
            // different slices and their later names compare nothing. Both packers now choose
            // among equally suitable slices by name, so this should not happen; that the writes
            // stay identical, whatever order a reload lists the slices in, is
            // cold-reload-order.test.ts's property, not this one's.
            return JSON.stringify(heldAfter(got)) === JSON.stringify(heldAfter(expected));
          });
        },
      ),
      { numRuns: 150 },
    );
    assert.ok(createsAfterReload > 150, `only ${createsAfterReload} batches created slices after a reload`);
  });
});
