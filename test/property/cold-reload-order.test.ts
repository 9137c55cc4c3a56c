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
import { ColdReloadStore, heldAfter, replayWarmAndCold } from "#test/support/cold-reload-store.ts";
import { deliveredBatchesArbitrary, slicingSettingsArbitrary } from "#test/support/random-trace.ts";
import { SeededRandom } from "#test/support/seeded-random.ts";

const NOW = 1_700_000_000_000;
/** Property runs; SLICELINE_COLD_ORDER_RUNS=1000 for a longer hunt. */
const RUNS = Number(process.env.SLICELINE_COLD_ORDER_RUNS ?? 150);
/** Random seeds, as for any property; SLICELINE_COLD_ORDER_SEED=<number> replays one. */
const SEED =
  process.env.SLICELINE_COLD_ORDER_SEED === undefined
    ? {}
    : { seed: Number(process.env.SLICELINE_COLD_ORDER_SEED) };

describe("a group reloaded from storage in any order against a long-lived one", () => {
  it("writes exactly what the long-lived group writes, whatever order the reload lists the slices in", async () => {
    /** Batches that wrote EndpointSlices in a group just reloaded: what the property is about. */
    let sliceWritesAfterReload = 0;
    await fc.assert(
      fc.asyncProperty(
        slicingSettingsArbitrary,
        deliveredBatchesArbitrary(100),
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
          await replayWarmAndCold(settings, reloaded, batches, NOW, (index, expected, got, coldLoaded) => {
            assert.deepEqual(heldAfter(got), heldAfter(expected), `batch ${index}`);
            if (coldLoaded && got.some((w) => w.kind === "EndpointSlice")) sliceWritesAfterReload++;
            return true;
          });
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
