import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import {
  BudgetedWriteGate,
  InvalidRateStepsError,
  rateFor,
  TokenBucket,
  validateRateSteps,
  WriteBudgetExceededError,
} from "#shared/pipeline/write-budget.ts";
import { ClusterSimulator } from "#shared/sim/cluster-simulator.ts";

describe("write budget", () => {
  it("lowers the rate as the audience grows, like Cilium's ces-rate-limits", () => {
    assert.equal(rateFor(0).writesPerSecond, 10);
    assert.equal(rateFor(99).writesPerSecond, 10);
    assert.equal(rateFor(100).writesPerSecond, 7);
    assert.equal(rateFor(5000).writesPerSecond, 5);
    assert.throws(
      () => validateRateSteps([{ watchers: 5, writesPerSecond: 1, burst: 1 }]),
      InvalidRateStepsError,
    );
    assert.throws(
      () => validateRateSteps([{ watchers: 0, writesPerSecond: 2, burst: 1 }]),
      InvalidRateStepsError,
    );
  });

  it("never lets more than burst + rate x elapsed writes through without waiting", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gapMs: fc.nat({ max: 3000 }), writes: fc.integer({ min: 1, max: 8 }) }), {
          maxLength: 60,
        }),
        (requests) => {
          const step = { watchers: 0, writesPerSecond: 5, burst: 10 };
          let now = 0;
          let clock = 0;
          const bucket = new TokenBucket(step, 0);
          let admitted = 0;
          for (const { gapMs, writes } of requests) {
            now += gapMs;
            const wait = bucket.take(writes, Math.max(now, clock));
            clock = Math.max(now, clock) + wait;
            admitted += writes;
            assert.ok(admitted <= step.burst + (clock / 1000) * step.writesPerSecond + 1e-9);
          }
        },
      ),
    );
  });

  it("waits within the limit and gives the batch back beyond it", async () => {
    let now = 0;
    const slept: number[] = [];
    const gate = new BudgetedWriteGate({
      watchers: () => 1000,
      maxWaitMs: 2000,
      nowMs: () => now,
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    });
    await gate.admit(10);
    assert.deepEqual(slept, []);
    await gate.admit(5);
    assert.deepEqual(slept, [1000]);
    await assert.rejects(gate.admit(50), WriteBudgetExceededError);
    await gate.admit(5);
    assert.deepEqual(slept, [1000, 1000]);
  });
});

describe("the engine and the write gate", () => {
  it("asks the gate before each commit that writes, with the number of writes", async () => {
    const settings = resolveSlicingSettings();
    const asked: number[] = [];
    const engine = new SliceEngine({
      settings,
      store: new MemoryClusterStore(settings),
      writeGate: { admit: async (writes) => void asked.push(writes) },
    });
    const sim = new ClusterSimulator();
    const events = [
      sim.addNamespace("shop"),
      sim.upsertService({ namespace: "shop", name: "web", selector: { app: "web" }, ports: [{ port: 80 }] }),
      sim.createPod("shop", "a", { app: "web" }, "n1"),
      sim.startPod("shop", "a"),
    ];
    const report = await engine.applyBatch(
      parseMessageBody(JSON.stringify({ events })).events.map((event) => ({ event, sourceTimeMs: 0 })),
    );
    assert.deepEqual(asked, [report.writes.length]);
    await engine.applyBatch(
      parseMessageBody(JSON.stringify(sim.annotatePod("shop", "a"))).events.map((event) => ({
        event,
        sourceTimeMs: 0,
      })),
    );
    assert.equal(asked.length, 1);
  });
});
