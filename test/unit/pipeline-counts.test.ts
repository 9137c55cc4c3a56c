/**
 * The pipeline's per-minute counters: what an ingest or fan-out invocation counts, the in-memory
 * adapter, advisory recording (a failure never reaches the batch), and the rate math /v1/stats
 * serves from them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { createApiRouter } from "#shared/api/router.ts";
import { PIPELINE_RATE_WINDOWS, pipelineRateMinutes, pipelineRates } from "#shared/api/stats-rates.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import { DEFAULT_SLICING_SETTINGS } from "#shared/core/settings.ts";
import type { BatchReport } from "#shared/core/slice-engine.ts";
import type { IngestOutcome } from "#shared/pipeline/ingest-batch.ts";
import { MemoryPipelineCounts } from "#shared/pipeline/memory-pipeline-counts.ts";
import {
  fanoutCounts,
  ingestCounts,
  MINUTE_MS,
  minuteOf,
  PIPELINE_COUNTERS,
  type PipelineCounts,
  recordPipelineCountsAdvisory,
  sumCounts,
} from "#shared/pipeline/pipeline-counts.ts";

function outcome(report: Partial<BatchReport> | undefined, rejected = 0, deadLettered = 0): IngestOutcome {
  return {
    failedMessageIds: [],
    rejected,
    ignored: 0,
    deadLettered,
    report:
      report === undefined
        ? undefined
        : {
            eventsIn: 0,
            applied: 0,
            stale: 0,
            unchanged: 0,
            writes: [],
            conflictRetries: 0,
            failures: [],
            ...report,
          },
    failures: [],
    error: undefined,
  };
}

describe("what an invocation counts", () => {
  it("ingest: messages, events by fate, poison, dead letters and object writes", () => {
    const counts = ingestCounts(
      3,
      outcome(
        {
          eventsIn: 10,
          applied: 6,
          stale: 1,
          unchanged: 2,
          writes: [{}, {}, {}, {}] as unknown as BatchReport["writes"],
        },
        2,
        1,
      ),
    );
    assert.deepEqual(counts, {
      messagesIn: 3,
      rejected: 2,
      deadLettered: 1,
      eventsIn: 10,
      applied: 6,
      stale: 1,
      unchanged: 2,
      objectWrites: 4,
    });
  });

  it("ingest: an engine that failed as a whole counts messages and poison only", () => {
    assert.deepEqual(ingestCounts(2, outcome(undefined, 1)), { messagesIn: 2, rejected: 1, deadLettered: 0 });
  });

  it("fan-out: stream records, messages published, deliveries and bytes", () => {
    assert.deepEqual(fanoutCounts({ streamRecords: 5, published: 3, deliveries: 12, bytes: 900 }), {
      streamRecords: 5,
      messagesPublished: 3,
      deliveries: 12,
      bytesPublished: 900,
    });
  });
});

describe("MemoryPipelineCounts", () => {
  it("adds each minute's counts and answers only the minutes asked that hold some", async () => {
    const counts = new MemoryPipelineCounts();
    await counts.recordPipelineCounts(100, { eventsIn: 3, rejected: 1 });
    await counts.recordPipelineCounts(100, { eventsIn: 4, deliveries: 2 });
    await counts.recordPipelineCounts(101, { messagesIn: 1, stale: 0 });
    await counts.recordPipelineCounts(102, { stale: 0 });
    const read = await counts.pipelineCountsOf([99, 100, 101, 102]);
    assert.deepEqual(
      [...read],
      [
        [100, { eventsIn: 7, rejected: 1, deliveries: 2 }],
        [101, { messagesIn: 1 }],
      ],
    );
  });

  it("hands out copies: what a reader does with them changes nothing stored", async () => {
    const counts = new MemoryPipelineCounts();
    await counts.recordPipelineCounts(7, { eventsIn: 1 });
    const first = (await counts.pipelineCountsOf([7])).get(7) as PipelineCounts;
    first.eventsIn = 1000;
    assert.deepEqual((await counts.pipelineCountsOf([7])).get(7), { eventsIn: 1 });
  });
});

describe("recordPipelineCountsAdvisory", () => {
  it("records under the minute of the time given", async () => {
    const counts = new MemoryPipelineCounts();
    const errors: unknown[] = [];
    await recordPipelineCountsAdvisory(counts, 5 * MINUTE_MS + 59_999, { eventsIn: 2 }, (e) =>
      errors.push(e),
    );
    assert.deepEqual([...(await counts.pipelineCountsOf([4, 5, 6]))], [[5, { eventsIn: 2 }]]);
    assert.deepEqual(errors, []);
  });

  it("reports a failure to record instead of throwing it", async () => {
    const failure = new Error("throttled");
    const errors: unknown[] = [];
    await recordPipelineCountsAdvisory(
      { recordPipelineCounts: async () => Promise.reject(failure) },
      0,
      { eventsIn: 1 },
      (error) => errors.push(error),
    );
    assert.deepEqual(errors, [failure]);
  });

  it("sends nothing when every count is zero, or when there is nowhere to record", async () => {
    let calls = 0;
    const recorder = {
      recordPipelineCounts: async () => {
        calls++;
      },
    };
    await recordPipelineCountsAdvisory(recorder, 0, { eventsIn: 0, rejected: 0 }, (error) =>
      assert.fail(String(error)),
    );
    await recordPipelineCountsAdvisory(undefined, 0, { eventsIn: 1 }, (error) => assert.fail(String(error)));
    assert.equal(calls, 0);
  });
});

describe("pipeline rates", () => {
  const NOW = Date.parse("2026-12-05T12:34:15.000Z");
  const current = minuteOf(NOW);

  it("reads the current minute and the five before it", () => {
    assert.deepEqual(pipelineRateMinutes(NOW), [
      current - 5,
      current - 4,
      current - 3,
      current - 2,
      current - 1,
      current,
    ]);
  });

  it("averages the last whole minutes and the current one so far, and says which span", () => {
    const byMinute = new Map<number, PipelineCounts>([
      [current - 6, { eventsIn: 100_000 }], // before every window
      [current - 5, { eventsIn: 30 }],
      [current - 1, { eventsIn: 60, rejected: 3 }],
      [current, { eventsIn: 15, deliveries: 75 }],
    ]);
    const rates = pipelineRates(NOW, byMinute);
    assert.deepEqual(rates.oneMinute.window, {
      from: "2026-12-05T12:33:00.000Z",
      to: "2026-12-05T12:34:15.000Z",
      seconds: 75,
    });
    assert.equal(rates.oneMinute.perSecond.eventsIn, 1); // (60 + 15) / 75
    assert.equal(rates.oneMinute.perSecond.rejected, 0.04); // 3 / 75
    assert.equal(rates.oneMinute.perSecond.deliveries, 1);
    assert.deepEqual(rates.fiveMinutes.window, {
      from: "2026-12-05T12:29:00.000Z",
      to: "2026-12-05T12:34:15.000Z",
      seconds: 315,
    });
    assert.equal(rates.fiveMinutes.perSecond.eventsIn, 0.333); // (30 + 60 + 15) / 315
    assert.equal(rates.fiveMinutes.perSecond.streamRecords, 0);
    assert.match(rates.measures, /per-minute counters/);
  });

  it("is zero for every counter when nothing was recorded", () => {
    const rates = pipelineRates(NOW, new Map());
    for (const window of [rates.oneMinute, rates.fiveMinutes]) {
      assert.deepEqual(Object.keys(window.perSecond).sort(), [...PIPELINE_COUNTERS].sort());
      assert.ok(Object.values(window.perSecond).every((rate) => rate === 0));
    }
  });

  it("each window's rate times its span is what its minutes counted, and nothing outside them", () => {
    const counter = fc.constantFrom(...PIPELINE_COUNTERS);
    fc.assert(
      fc.property(
        fc.integer({ min: 10 * MINUTE_MS, max: 2 ** 41 }),
        fc.array(fc.tuple(fc.integer({ min: -8, max: 2 }), counter, fc.integer({ min: 1, max: 10_000 }))),
        (nowMs, recorded) => {
          const now = minuteOf(nowMs);
          const byMinute = new Map<number, PipelineCounts>();
          for (const [offset, name, value] of recorded) {
            const counts = byMinute.get(now + offset) ?? {};
            counts[name] = (counts[name] ?? 0) + value;
            byMinute.set(now + offset, counts);
          }
          const rates = pipelineRates(nowMs, byMinute);
          for (const [key, wholeMinutes] of Object.entries(PIPELINE_RATE_WINDOWS)) {
            const window = rates[key as keyof typeof PIPELINE_RATE_WINDOWS];
            const { seconds } = window.window;
            assert.ok(
              seconds >= wholeMinutes * 60 && seconds < (wholeMinutes + 1) * 60,
              `${key}: ${seconds}`,
            );
            assert.equal(Date.parse(window.window.to), nowMs);
            assert.equal(Date.parse(window.window.from), nowMs - seconds * 1000);
            const inWindow = sumCounts(
              [...byMinute]
                .filter(([minute]) => minute >= now - wholeMinutes && minute <= now)
                .map(([, c]) => c),
            );
            for (const name of PIPELINE_COUNTERS) {
              // Rounded to three decimals: within half a thousandth per second of the exact rate.
              assert.ok(
                Math.abs(window.perSecond[name] * seconds - inWindow[name]) <= 0.0005 * seconds + 1e-9,
              );
            }
          }
        },
      ),
    );
  });
});

describe("/v1/stats from the in-memory reader", () => {
  it("serves the rates of the counters it is given next to the object write rates", async () => {
    const NOW = Date.parse("2026-12-05T12:34:30.000Z");
    const counts = new MemoryPipelineCounts();
    await counts.recordPipelineCounts(minuteOf(NOW), { eventsIn: 45, rejected: 9 });
    await counts.recordPipelineCounts(minuteOf(NOW) - 1, { deliveries: 90 });
    const store = new MemoryClusterStore(DEFAULT_SLICING_SETTINGS);
    const route = createApiRouter({
      reader: new MemorySliceReader(store, { now: () => NOW, pipelineCounts: counts }),
    });
    const stats = JSON.parse((await route({ method: "GET", path: "/v1/stats" })).body);
    assert.equal(stats.rates.windowSeconds, 300);
    assert.deepEqual(stats.rates.pipeline.oneMinute.window, {
      from: "2026-12-05T12:33:00.000Z",
      to: "2026-12-05T12:34:30.000Z",
      seconds: 90,
    });
    assert.equal(stats.rates.pipeline.oneMinute.perSecond.eventsIn, 0.5);
    assert.equal(stats.rates.pipeline.oneMinute.perSecond.rejected, 0.1);
    assert.equal(stats.rates.pipeline.oneMinute.perSecond.deliveries, 1);
    assert.equal(stats.rates.pipeline.fiveMinutes.window.seconds, 330);
  });

  it("serves zeros when nothing records counters", async () => {
    const store = new MemoryClusterStore(DEFAULT_SLICING_SETTINGS);
    const route = createApiRouter({ reader: new MemorySliceReader(store) });
    const stats = JSON.parse((await route({ method: "GET", path: "/v1/stats" })).body);
    assert.ok(Object.values(stats.rates.pipeline.fiveMinutes.perSecond).every((rate) => rate === 0));
  });
});
