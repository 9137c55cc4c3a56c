import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ClusterSimulator } from "#scripts/sim/cluster-simulator.ts";
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

/** true when the gate lets the writes through, false when it hands them back. */
async function admits(gate: BudgetedWriteGate, writes: number): Promise<boolean> {
  try {
    await gate.admit(writes);
    return true;
  } catch (error) {
    if (error instanceof WriteBudgetExceededError) return false;
    throw error;
  }
}

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
    // 15 writes would wait 3 s (rate 5/s), over the 2 s limit: handed back, to be retried.
    await assert.rejects(gate.admit(15), WriteBudgetExceededError);
    await gate.admit(5);
    assert.deepEqual(slept, [1000, 1000]);
  });

  it("admits a commit larger than burst + the longest wait of rate, in debt paid by the commits after it", async () => {
    let now = 0;
    const gate = new BudgetedWriteGate({
      watchers: () => 0,
      maxWaitMs: 5000,
      nowMs: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    // 10 writes/s, burst 20: at most 70 writes fit within a 5 s wait; 500 never would.
    await gate.admit(500);
    // The debt (480 writes, 48 s) refuses what follows until it is nearly paid...
    await assert.rejects(gate.admit(1), WriteBudgetExceededError);
    await assert.rejects(gate.admit(500), WriteBudgetExceededError);
    now += 44_000;
    // ...then the next one waits out the rest, and the average rate holds: 501 writes in 48.1 s.
    await gate.admit(1);
    assert.equal(now, 48_100);
  });

  it("eventually admits any commit under steady small traffic, and never lets more through than the rate", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 71, max: 5000 }),
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 50 }),
        async (big, smalls) => {
          let now = 0;
          const gate = new BudgetedWriteGate({
            watchers: () => 0,
            maxWaitMs: 5000,
            nowMs: () => now,
            sleep: async (ms) => {
              now += ms;
            },
          });
          let admitted = 0;
          let bigAdmitted = false;
          // Small commits keep coming every 100 ms; the big one is retried each time it is refused.
          for (let round = 0; round < 10_000 && !bigAdmitted; round++) {
            for (const writes of smalls) {
              now += 100;
              if (await admits(gate, writes)) admitted += writes;
            }
            if (await admits(gate, big)) {
              admitted += big;
              bigAdmitted = true;
            }
          }
          assert.ok(bigAdmitted);
          // Debt is allowed only for the one commit that could never fit.
          assert.ok(admitted <= 20 + big + (now / 1000) * 10 + 1e-9);
        },
      ),
      { numRuns: 30 },
    );
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
