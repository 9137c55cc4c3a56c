/**
 * The fault suite (issue 9): seeded runs of a generated trace through the embedded pipeline with
 * faults on (test/support/faulty-pipeline.ts: AWS throttling, 5xx, unanswered calls and resets on
 * the handlers' DynamoDB, SQS and SNS calls; crashed and timed-out invocations; shuffled and
 * duplicated SQS and stream deliveries). Each run must end with the API equal to the reference
 * model, every watcher equal to the API, the three poison messages in the DLQ with their reasons
 * and no other message of the run there, and no fan-out batch given up.
 *
 * `npm test` runs the short form (1 run of ~800 events); `npm run test:faults` the long one
 * (20 runs of ≥ 5,000 events). Parameters:
 *   FAULT_RUNS, FAULT_EVENTS   runs, and events per run (at least);
 *   FAULT_SEED                 run i uses seed FAULT_SEED + i (replay a run: FAULT_SEED=<its seed>
 *                              FAULT_RUNS=1);
 *   FAULT_RATE                 fraction of the handlers' AWS calls faulted (default 0.03);
 *   FAULT_CRASH_RATE           fraction of ingest / fan-out invocations crashed (default 0.05);
 *   FAULT_REDELIVERY_RATE      fraction of SQS / stream batches delivered twice (default 0.1);
 *   FAULT_SETTLE_SECONDS       a run's wait for the pipeline to go idle (default 600);
 *   FAULT_LOG=1                the runner's log (failed invocations and their errors);
 *   FAULT_REPORT               a JSON file for the per-run figures.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { after, before, describe, it } from "node:test";
import { type FaultRunReport, faultTable, problemsOf, runFaultTrace } from "#test/support/fault-run.ts";
import { type FaultyPipeline, startFaultyPipeline } from "#test/support/faulty-pipeline.ts";

const number = (name: string, fallback: number) => {
  const value = process.env[name];
  return value === undefined || value === "" ? fallback : Number(value);
};
const RUNS = number("FAULT_RUNS", 1);
const EVENTS = number("FAULT_EVENTS", 800);
const SEED = number("FAULT_SEED", 9001);
/** How long a run may take to go idle before it counts as stuck. */
const SETTLE_MS = number("FAULT_SETTLE_SECONDS", 600) * 1000;
const SETTINGS = {
  rate: number("FAULT_RATE", 0.03),
  crashRate: number("FAULT_CRASH_RATE", 0.05),
  redeliveryRate: number("FAULT_REDELIVERY_RATE", 0.1),
  ...(process.env.FAULT_LOG === "1" ? { log: (line: string) => console.log(`[runner] ${line}`) } : {}),
};

let pipeline: FaultyPipeline;
const reports: FaultRunReport[] = [];

before(async () => {
  pipeline = await startFaultyPipeline(SETTINGS, SEED);
});
after(async () => {
  await pipeline?.stop();
  console.log(
    `\nfault runs (rate ${SETTINGS.rate}, crash rate ${SETTINGS.crashRate}, redelivery rate ${SETTINGS.redeliveryRate}):\n${faultTable(reports)}`,
  );
  const report = process.env.FAULT_REPORT;
  if (report !== undefined && report !== "") {
    mkdirSync(dirname(report), { recursive: true });
    writeFileSync(report, `${JSON.stringify({ settings: SETTINGS, runs: reports }, null, 2)}\n`);
  }
});

describe(`fault injection: ${RUNS} seeded run(s) of ≥ ${EVENTS} events from seed ${SEED}`, {
  concurrency: false,
}, () => {
  for (let i = 0; i < RUNS; i++) {
    const seed = SEED + i;
    it(`seed ${seed}: the API equals the reference model, watchers converge, only poison in the DLQ`, async () => {
      const report = await runFaultTrace(pipeline, { seed, events: EVENTS, settleTimeoutMs: SETTLE_MS });
      reports.push(report);
      const { faults } = report;
      console.log(
        `seed ${seed}: ${report.events} events in ${report.messages} messages, ${(report.durationMs / 1000).toFixed(1)} s; ` +
          `calls ${JSON.stringify(faults.calls)}; proxy faults ${JSON.stringify(faults.proxy)}; ` +
          `invocations ${JSON.stringify(faults.invocations)}; deliveries ${JSON.stringify(faults.deliveries)}; ` +
          `DLQ poison ${report.poisonLetters}, unexpected ${report.unexpectedLetters.length}; fan-out failures ${report.fanoutFailures}`,
      );
      const injected =
        Object.values(faults.proxy).reduce(
          (sum, kinds) => sum + Object.values(kinds).reduce((a, b) => a + b, 0),
          0,
        ) + Object.values(faults.invocations.crashes).reduce((a, b) => a + b, 0);
      assert.ok(SETTINGS.rate === 0 || injected > 0, "faults were injected");
      assert.deepEqual(problemsOf(report), []);
    });
  }
});
