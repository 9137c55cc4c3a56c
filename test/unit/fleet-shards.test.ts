/**
 * The live fleet split over workers is reported as one fleet: shard sizes, merged settle reports
 * (counts add, latencies merge as histograms, messages per second add second by second), and the
 * CPU accounting's arithmetic.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CpuSample, cpuBetween, processTreeCpuMs } from "#scripts/bench/cpu-accounting.ts";
import { mergeSettleReports, shardSizes } from "#scripts/bench/fleet-shards.ts";
import type { ShardSettleReport } from "#scripts/bench/fleet-worker.ts";
import { LatencyRecorder } from "#shared/watcher/latency-recorder.ts";

function shard(latenciesMs: readonly number[], perSecond: Record<number, number>): ShardSettleReport {
  const latency = new LatencyRecorder();
  for (const value of latenciesMs) latency.record(value);
  const stage = new LatencyRecorder();
  stage.record(1);
  return {
    converged: latenciesMs.length,
    total: latenciesMs.length + 1,
    settleMs: latenciesMs.length * 10,
    messages: 5,
    bytes: 500,
    objectsRead: 1,
    bytesRead: 100,
    messagesPerSecond: perSecond,
    gapsRefetched: 2,
    pollErrors: 0,
    queueRequests: { receives: 4, deletes: 1 },
    latency: latency.snapshot(),
    stages: { toQueue: stage.snapshot(), inQueue: stage.snapshot(), apply: stage.snapshot() },
    heapUsedMb: 10,
  };
}

describe("fleet shards", () => {
  it("splits agents as evenly as they go, never into more shards than agents", () => {
    assert.deepEqual(shardSizes(1000, 4), [250, 250, 250, 250]);
    assert.deepEqual(shardSizes(10, 4), [3, 3, 2, 2]);
    assert.deepEqual(shardSizes(2, 4), [1, 1]);
    assert.deepEqual(shardSizes(5, 0), [5]);
  });

  it("merges shards' reports as one fleet's", () => {
    const merged = mergeSettleReports([
      shard([100, 200, 300], { 1000: 4, 1001: 1 }),
      shard([4000], { 1001: 6, 1002: 2 }),
    ]);
    assert.equal(merged.converged, 4);
    assert.equal(merged.total, 6);
    assert.equal(merged.settleMs, 30);
    assert.equal(merged.messages, 10);
    assert.equal(merged.bytesRead, 200);
    assert.equal(merged.gapsRefetched, 4);
    assert.equal(merged.heapUsedMb, 20);
    assert.deepEqual(merged.queueRequests, { receives: 8, deletes: 2 });
    assert.equal(merged.peakMessagesPerSecond, 7, "second 1001: 1 + 6");
    assert.equal(merged.latency.count, 4);
    assert.ok(Math.abs(merged.latency.maxMs - 4000) <= 4, String(merged.latency.maxMs));
    assert.ok(Math.abs(merged.latency.p50Ms - 200) <= 1, String(merged.latency.p50Ms));
    assert.equal(merged.stages.apply.count, 2);
  });
});

describe("CPU accounting", () => {
  it("splits the runner process into its thread, the fleet and the rest, and leaves the machine's remainder to others", () => {
    const before: CpuSample = {
      atMs: 0,
      processUs: 0,
      mainThreadUs: 0,
      fleetUs: 0,
      children: { fauxqs: 100 },
      machineBusyMs: 1000,
    };
    const after: CpuSample = {
      atMs: 10_000,
      processUs: 9_000_000,
      mainThreadUs: 2_000_000,
      fleetUs: 5_000_000,
      children: { fauxqs: 3100 },
      machineBusyMs: 17_000,
    };
    const share = cpuBetween(before, after);
    assert.equal(share.wallMs, 10_000);
    assert.equal(share.pipelineThreadMs, 2000);
    assert.equal(share.fleetWorkersMs, 5000);
    assert.equal(share.runnerOtherThreadsMs, 2000);
    assert.deepEqual(share.children, { fauxqs: 3000 });
    assert.equal(share.otherProcessesMs, 16_000 - 9000 - 3000);
  });

  it("reads a process's CPU time from /proc where there is one", {
    skip: process.platform !== "linux",
  }, () => {
    const ms = processTreeCpuMs(process.pid);
    assert.ok(ms !== undefined && ms > 0, String(ms));
    assert.equal(processTreeCpuMs(2 ** 22 + 1), undefined, "no such process");
  });
});
