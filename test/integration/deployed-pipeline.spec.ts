/**
 * The target-agnostic end-to-end checks against a pipeline running elsewhere, found through its
 * description (SLICELINE_TARGET, default .sliceline/local.json):
 *
 *   npm run localstack:deploy && npm run test:localstack     the CDK app deployed to LocalStack
 *   npm run local -- --no-demo   (then, in another shell)  npm run test:localstack
 *
 * Not part of `npm test` (named .spec.ts; it needs a pipeline already running), but type-checked
 * with the rest. The checks are the ones test/integration/local-runner.test.ts runs in-process;
 * the runner-specific ones (crash mid-batch, TTL sweeper, stream emulation) stay there.
 * SLICELINE_TARGET_LAG_MS (default 120000) bounds how long results may trail the drained queues;
 * SLICELINE_TARGET_SETTLE_MS (default 300000) how long the ingest queues may take to drain.
 */
import { after, before, describe, it } from "node:test";
import { checkTraceWithPoison, checkWatcher, TraceRun } from "#test/support/pipeline-checks.ts";
import { describedTarget, type PipelineTarget } from "#test/support/pipeline-target.ts";

const path = process.env.SLICELINE_TARGET ?? ".sliceline/local.json";
const settleMs = Number(process.env.SLICELINE_TARGET_SETTLE_MS ?? 300_000);
const lagMs = Number(process.env.SLICELINE_TARGET_LAG_MS ?? 120_000);
let target: PipelineTarget;
const run = new TraceRun();

before(() => {
  target = describedTarget(path, { lagMs });
  console.log(
    `target ${path}: API ${target.config.api}, ingest ${target.config.sqs.ingestQueueUrl}, run ${run.tag}`,
  );
});
after(() => target?.close());

describe(`described pipeline (${path})`, { concurrency: false }, () => {
  it("serves the reference model's EndpointSlices after a trace with duplicates, reordering and malformed messages", async () => {
    await checkTraceWithPoison(target, run, settleMs);
  });

  it("delivers every later change of its scope to a watcher registered through POST /v1/watchers", async () => {
    await checkWatcher(target, run, settleMs);
  });
});
