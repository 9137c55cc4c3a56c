import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ReplayBatch } from "#scripts/bench/model/core-replay.ts";
import { cesRateLimitFor, ciliumEndpointSlices } from "#scripts/bench/strategies/ces.ts";
import type { Scenario, Trace } from "#scripts/bench/types.ts";
import type { ObjectWrite } from "#shared/core/output-changes.ts";

const scenario: Scenario = {
  name: "tiny",
  description: "",
  scale: 1,
  nodes: 3,
  zones: ["a"],
  namespaces: 1,
  services: 1,
  pods: 1,
  bigServicePods: 0,
  watchers: 3,
  phases: [],
  seed: 1,
};
const trace: Trace = { scenario, events: [], measuredFrom: 0, podChanges: 1 };

function cesWrite(name: string, op: ObjectWrite["op"], bytes: number): ObjectWrite {
  return {
    kind: "CiliumEndpointSlice",
    op,
    object: { metadata: { name } } as ObjectWrite["object"],
    expectedResourceVersion: undefined,
    bytes,
    sourceTimeMs: 0,
  };
}

function batch(atMs: number, measured: boolean, writes: ObjectWrite[]): ReplayBatch {
  const report = {
    eventsIn: 1,
    applied: 1,
    stale: 0,
    unchanged: 0,
    writes,
    conflictRetries: 0,
    failures: [],
  };
  return { atMs, from: 0, to: 0, measured, report, baselineWrites: [], commits: [] };
}

describe("CES operator queue model", () => {
  it("coalesces the changes a CES collects while it waits for the rate limiter", () => {
    const model = ciliumEndpointSlices(trace, 50, () => undefined, { writesPerSecond: 1, burst: 1 });
    model.onBatch(batch(0, false, [cesWrite("ces-1", "create", 100)]));
    // The first change takes the only token; the next four wait for the next one, at 1 s.
    for (const [i, at] of [0, 10, 20, 30, 40].entries()) {
      model.onBatch(batch(at, true, [cesWrite("ces-1", "update", 200 + i)]));
    }
    model.finish();
    const { tally } = model.run;
    assert.equal(tally.objectWrites, 2);
    assert.deepEqual(tally.figures(3), { deliveries: 6, bytes: 3 * (200 + 204), peakDeliveriesPerSecond: 3 });
    // Each write's delay from its first queued change, plus 3 events in the API server's queue.
    assert.deepEqual(
      tally.latencies.map((ms) => Math.round(ms * 100) / 100),
      [0.03, 990.03],
    );
  });

  it("never writes a CES that was created and emptied while queued", () => {
    const model = ciliumEndpointSlices(trace, 50, () => undefined, { writesPerSecond: 1, burst: 1 });
    model.onBatch(batch(0, true, [cesWrite("ces-1", "create", 100)]));
    model.onBatch(batch(5, true, [cesWrite("ces-2", "create", 100)]));
    model.onBatch(batch(6, true, [cesWrite("ces-2", "delete", 100)]));
    model.finish();
    assert.equal(model.run.tally.objectWrites, 1);
  });

  it("takes the rate limit tier of the cluster's size, capped at the operator's maxima", () => {
    assert.deepEqual(cesRateLimitFor(5000), { writesPerSecond: 10, burst: 20 });
    const tiers = [
      { nodes: 0, limit: 10, burst: 20 },
      { nodes: 1000, limit: 30, burst: 60 },
      { nodes: 4000, limit: 80, burst: 200 },
    ];
    assert.deepEqual(cesRateLimitFor(999, tiers), { writesPerSecond: 10, burst: 20 });
    assert.deepEqual(cesRateLimitFor(1000, tiers), { writesPerSecond: 30, burst: 60 });
    assert.deepEqual(cesRateLimitFor(5000, tiers), { writesPerSecond: 50, burst: 100 });
  });
});
