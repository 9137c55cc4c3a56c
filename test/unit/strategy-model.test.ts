import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { generateTrace } from "#scripts/bench/load-generator.ts";
import { loadScenario } from "#scripts/bench/scenario.ts";
import { type ModelPass, modelStrategies } from "#scripts/bench/strategy-model.ts";
import type { StrategyResult, Trace } from "#scripts/bench/types.ts";

/** The steady scenario at reduced scale: 4,000 pods, 100 watchers, 100 pod changes/s for 15 s. */
let trace: Trace;
let pass: ModelPass;
const byName = (name: string): StrategyResult => {
  const result = pass.results.find((r) => r.strategy === name);
  assert.ok(result, `no result for ${name}`);
  return result;
};

before(async () => {
  trace = generateTrace(loadScenario("steady", { scale: 0.02, seconds: 15 }));
  pass = await modelStrategies(trace);
});

describe("strategy model on a small steady trace", () => {
  it("per-endpoint: one CiliumEndpoint event per pod change, to every watcher", () => {
    const result = byName("per-endpoint");
    assert.equal(trace.scenario.watchers, 100);
    assert.ok(trace.podChanges >= 1500);
    // Steady churn keeps every label set: no identity is created or collected.
    assert.equal(result.objectWrites, trace.podChanges);
    assert.equal(result.deliveries, trace.podChanges * trace.scenario.watchers);
    assert.equal(result.deliveriesPerPodChange, trace.scenario.watchers);
  });

  it("per-endpoint-changed: fewer writes (readiness flips change no CiliumEndpoint), each to every watcher", () => {
    const result = byName("per-endpoint-changed");
    assert.ok(result.objectWrites > 0 && result.objectWrites < trace.podChanges);
    assert.equal(result.deliveries, result.objectWrites * trace.scenario.watchers);
  });

  it("broadcast strategies deliver every write to every watcher", () => {
    for (const name of ["per-service", "endpointslice-100"]) {
      const result = byName(name);
      assert.ok(result.objectWrites > 0, name);
      assert.equal(result.deliveries, result.objectWrites * trace.scenario.watchers, name);
    }
  });

  it("ces: the operator's queue coalesces, never above its rate limit", () => {
    for (const name of ["ces-50", "ces-100"]) {
      const result = byName(name);
      const endpointWrites = byName("per-endpoint-changed").objectWrites;
      const cesWrites = result.objectWrites - endpointWrites;
      assert.ok(cesWrites > 0, name);
      // Every CES write goes to every watcher, every CiliumEndpoint write to the operator only.
      assert.equal(result.deliveries, cesWrites * trace.scenario.watchers + endpointWrites, name);
      // 10 writes/s with a burst of 20, plus the operator's CiliumEndpoint events.
      assert.ok(result.peakDeliveriesPerSecond <= 30 * trace.scenario.watchers + 200, name);
      assert.ok(result.latency.p50Ms > 0, name);
    }
  });

  it("sliceline-best: at most one message per watcher per stream batch, latency within the window", () => {
    const result = byName("sliceline-best");
    assert.ok(result.objectWrites > 0);
    assert.ok(result.latency.maxMs <= 1000);
    const fanouts = (result.awsRequestsPerPodChange["lambda.fanout.invocations"] ?? 0) * trace.podChanges;
    // One scope per watcher (its zone's Agent@<zone>), one bundle per fan-out invocation.
    assert.ok(
      result.deliveries <= Math.round(fanouts) * trace.scenario.watchers,
      `${result.deliveries} deliveries, ${Math.round(fanouts)} fan-out invocations`,
    );
    assert.ok((result.awsRequestsPerPodChange["sqs.ingest.sendMessage"] ?? 0) > 0);
    assert.ok((result.awsRequestsPerPodChange["dynamodb.writeUnits"] ?? 0) > 0);
  });

  it("sliceline-best: every scope with a topic is a billed publish, subscribed or not", () => {
    const requests = byName("sliceline-best").awsRequestsPerPodChange;
    const publishes = Math.round((requests["sns.publish"] ?? 0) * trace.podChanges);
    const fanouts = Math.round((requests["lambda.fanout.invocations"] ?? 0) * trace.podChanges);
    // The agent scopes alone publish at most one bundle per zone per invocation (nothing here
    // nears 256 KiB); the fan-out also publishes to the EndpointSlice, Cilium and zone topics.
    assert.ok(
      publishes > fanouts * trace.scenario.zones.length,
      `${publishes} publishes, ${fanouts} fan-out invocations`,
    );
  });

  it("sliceline-best delivers at most 1/20 of per-endpoint's deliveries per pod change", () => {
    const best = byName("sliceline-best");
    const perEndpoint = byName("per-endpoint");
    assert.ok(
      best.deliveriesPerPodChange * 20 <= perEndpoint.deliveriesPerPodChange,
      `${best.deliveriesPerPodChange} vs ${perEndpoint.deliveriesPerPodChange} deliveries per pod change`,
    );
  });

  // Holds since EndpointSlice zone views travel as patches on their base's content digest
  // (slice-delta.ts); while they travelled whole they were ~90% of sliceline-best's bytes.
  it("sliceline-best delivers at most 1/5 of per-endpoint's bytes per pod change", (t) => {
    const best = byName("sliceline-best");
    const perEndpoint = byName("per-endpoint");
    t.diagnostic(
      `bytes per pod change: sliceline-best ${Math.round(best.bytesPerPodChange)}, per-endpoint ${Math.round(perEndpoint.bytesPerPodChange)}`,
    );
    assert.ok(
      best.bytesPerPodChange * 5 <= perEndpoint.bytesPerPodChange,
      `${Math.round(best.bytesPerPodChange)} vs ${Math.round(perEndpoint.bytesPerPodChange)} bytes per pod change`,
    );
  });

  it("sliceline-best-all-zones: agents at the baselines' scope take two bundles per stream batch, whole slices", () => {
    const best = byName("sliceline-best");
    const allZones = byName("sliceline-best-all-zones");
    assert.equal(allZones.objectWrites, best.objectWrites, "the same pipeline writes");
    const fanouts = Math.round(
      (allZones.awsRequestsPerPodChange["lambda.fanout.invocations"] ?? 0) * trace.podChanges,
    );
    // The Cilium and EndpointSlice scopes, at most one bundle each per invocation, to every watcher.
    assert.ok(allZones.deliveries <= 2 * fanouts * trace.scenario.watchers);
    assert.ok(allZones.deliveries > best.deliveries, `${allZones.deliveries} vs ${best.deliveries}`);
    // A zone-only agent's bundles carry a third of each slice (3 zones); whole slices weigh more.
    assert.ok(allZones.bytesPerPodChange > best.bytesPerPodChange);
    assert.ok(allZones.deliveriesPerPodChange * 20 <= byName("per-endpoint").deliveriesPerPodChange);
  });

  it("scaling: broadcast figures are linear in the fleet, read off the same pass", () => {
    const points = pass.scaling([300, 600]);
    for (const name of ["per-endpoint", "endpointslice-100", "sliceline-best"]) {
      const [small, large] = points.filter((p) => p.strategy === name);
      assert.ok(small && large, name);
      assert.ok(Math.abs(large.deliveriesPerPodChange - 2 * small.deliveriesPerPodChange) < 0.01, name);
      assert.ok(Math.abs(large.bytesPerPodChange - 2 * small.bytesPerPodChange) < 1, name);
    }
    const atFleet = pass.scaling([trace.scenario.watchers]).find((p) => p.strategy === "per-service");
    assert.equal(atFleet?.deliveriesPerPodChange, byName("per-service").deliveriesPerPodChange);
  });
});
