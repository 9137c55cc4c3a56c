/**
 * Acceptance for the sliceline placement: ten rolling updates of a 10,000-pod Deployment behind one
 * Service (max 100 per slice), fed as SQS-sized batches of 100 watch events. sliceline must end near
 * the minimum slice count without writing more than the Kubernetes controller's placement.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ServiceSlices } from "#shared/core/endpointslice/service-slices.ts";
import type { EndpointSlicePlacement } from "#shared/core/endpointslice/settings.ts";
import {
  endpointLines,
  expectedEndpointLines,
  serviceRecord,
  sliceViolations,
} from "#test/support/endpointslice-fixtures.ts";
import { type RollingUpdateTrace, rollingUpdateTrace } from "#test/support/rolling-update-trace.ts";

const REPLICAS = 10_000;
const MAX_PER_SLICE = 100;
const MINIMUM_SLICES = Math.ceil(REPLICAS / MAX_PER_SLICE);

interface ChurnOutcome {
  /** Creates + updates + deletes during the rollouts (the initial fill is the same for both). */
  readonly writes: number;
  readonly slicesAfterEachRound: number[];
  readonly largestBatchWrites: number;
}

function replay(trace: RollingUpdateTrace, placement: EndpointSlicePlacement): ChurnOutcome {
  const service = serviceRecord({
    ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP", appProtocol: undefined }],
  });
  const slices = new ServiceSlices("default", "web", { maxEndpointsPerSlice: MAX_PER_SLICE, placement });
  for (const batch of trace.initial) slices.reconcile(service, batch, trace.zoneOf);
  assert.equal(slices.slices().length, MINIMUM_SLICES);

  let writes = 0;
  let largestBatchWrites = 0;
  const slicesAfterEachRound: number[] = [];
  for (const round of trace.rounds) {
    for (const batch of round) {
      const changes = slices.reconcile(service, batch, trace.zoneOf);
      const batchWrites = changes.creates.length + changes.updates.length + changes.deletes.length;
      writes += batchWrites;
      largestBatchWrites = Math.max(largestBatchWrites, batchWrites);
    }
    slicesAfterEachRound.push(slices.slices().length);
  }
  const final = slices.slices();
  assert.deepEqual(sliceViolations(final, MAX_PER_SLICE), []);
  assert.deepEqual(endpointLines(final), expectedEndpointLines(service, trace.finalPods, trace.zoneOf));
  return { writes, slicesAfterEachRound, largestBatchWrites };
}

describe("EndpointSlice placement under rolling updates", () => {
  it("sliceline ends within 5% of the minimum slice count and writes no more than the controller", (t) => {
    // Deployment defaults: maxSurge 25%, maxUnavailable 25%.
    const trace = rollingUpdateTrace({
      namespace: "default",
      appLabel: "web",
      replicas: REPLICAS,
      rounds: 10,
      maxSurge: REPLICAS / 4,
      maxUnavailable: REPLICAS / 4,
      batchSize: 100,
      nodes: 200,
      seed: 20_240_601,
    });
    const batches = trace.rounds.reduce((sum, round) => sum + round.length, 0);
    const kubernetes = replay(trace, "kubernetes");
    const sliceline = replay(trace, "sliceline");

    t.diagnostic(`trace: ${REPLICAS} pods, 10 rollouts, ${batches} batches of <= 100 watch events`);
    for (const [name, outcome] of [
      ["kubernetes", kubernetes],
      ["sliceline", sliceline],
    ] as const) {
      t.diagnostic(
        `${name}: ${outcome.writes} slice writes, final ${outcome.slicesAfterEachRound.at(-1)} slices ` +
          `(minimum ${MINIMUM_SLICES}; after each rollout ${outcome.slicesAfterEachRound.join(",")}; ` +
          `largest batch ${outcome.largestBatchWrites} writes)`,
      );
    }

    const finalSlices = sliceline.slicesAfterEachRound.at(-1) ?? Number.POSITIVE_INFINITY;
    assert.ok(finalSlices <= 1.05 * MINIMUM_SLICES, `sliceline ended with ${finalSlices} slices`);
    assert.ok(
      sliceline.writes <= kubernetes.writes,
      `sliceline wrote ${sliceline.writes} > ${kubernetes.writes}`,
    );
  });
});
