/**
 * The local runner end to end, started in-process (--no-demo) with its own DynamoDB Local and
 * fauxqs, from a template synthesized with short SQS settings (ingestTimeoutSeconds 3, so the
 * queues' visibility timeout is 18 s; a 1 s batching window over batches of up to 50):
 *   - the target-agnostic checks of test/support/pipeline-checks.ts (also run against a described
 *     pipeline by `npm run test:localstack`): a generated trace with duplicates, reordering and
 *     malformed messages; the reference model served by the API; poison in the dead-letter queue
 *     with reasons; a watcher registered through POST /v1/watchers that misses no later change;
 *   - runner-specific: fauxqs redrive, stream emulation (order, bisect, failure description), the
 *     TTL sweeper, and stopping the runner in the middle of a batch then starting another on the
 *     same backends, which loses nothing (the abandoned messages come back after the visibility
 *     timeout).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  CreateTableCommand,
  DescribeTableCommand,
  PutItemCommand,
  QueryCommand,
} from "@aws-sdk/client-dynamodb";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { type LocalRunner, lambdaContext, sendBodies, startLocalRunner } from "#scripts/local/runner.ts";
import { SqsEventSource } from "#scripts/local/sqs-event-source.ts";
import { StreamEventSource } from "#scripts/local/stream-event-source.ts";
import {
  assertServesReference,
  checkTraceWithPoison,
  checkWatcher,
  drain as drainQueue,
  TraceRun,
} from "#test/support/pipeline-checks.ts";
import type { PipelineTarget } from "#test/support/pipeline-target.ts";

const CONTEXT = { ingestTimeoutSeconds: 3, ingestBatchWindowSeconds: 1, ingestBatchSize: 50 };
let outdir: string;
let runner: LocalRunner;
const run = new TraceRun();

/** The runner as the shared checks see it: settled when whenIdle says so, no lag after that. */
/** A one-key table with a NEW_AND_OLD_IMAGES stream on the runner's DynamoDB; its stream ARN. */
async function createStreamTable(table: string): Promise<string> {
  await runner.dynamodb.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
    }),
  );
  const described = await runner.dynamodb.send(new DescribeTableCommand({ TableName: table }));
  return described.Table?.LatestStreamArn as string;
}

function embedded(r: LocalRunner): PipelineTarget {
  return {
    config: {
      api: r.config.api,
      region: r.config.region,
      sqs: { ...r.config.sqs, deadLetterQueueUrl: r.config.sqs.deadLetterQueueUrl as string },
    },
    sqs: r.sqs,
    lagMs: 0,
    settle: (timeoutMs) => r.whenIdle({ timeoutMs }),
    close: () => {},
  };
}

before(async () => {
  outdir = mkdtempSync(join(tmpdir(), "sliceline-local-"));
  runner = await startLocalRunner({ context: CONTEXT, outdir, logLevel: "SILENT", maxPollersPerQueue: 4 });
});
after(async () => {
  await runner?.stop();
  if (outdir !== undefined) rmSync(outdir, { recursive: true, force: true });
});

const drain = (queueUrl: string) => drainQueue(runner.sqs, queueUrl);

describe("local runner", { concurrency: false }, () => {
  it("serves the reference model's EndpointSlices after a trace with duplicates, reordering and malformed messages", async () => {
    await checkTraceWithPoison(embedded(runner), run);
  });

  it("delivers every later change of its scope to a watcher registered through POST /v1/watchers", async () => {
    await checkWatcher(embedded(runner), run);
  });

  it("moves a message that keeps failing to the dead-letter queue by the queue's own RedrivePolicy (fauxqs)", async () => {
    const dlq = await runner.sqs.send(new CreateQueueCommand({ QueueName: "redrive-test-dlq" }));
    const dlqUrl = dlq.QueueUrl as string;
    const { Attributes } = await runner.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] }),
    );
    const source = await runner.sqs.send(
      new CreateQueueCommand({
        QueueName: "redrive-test",
        Attributes: {
          VisibilityTimeout: "1",
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes?.QueueArn, maxReceiveCount: 2 }),
        },
      }),
    );
    let calls = 0;
    const events = new SqsEventSource({
      name: "redrive-test",
      sqs: runner.sqs,
      region: "us-east-1",
      context: () => lambdaContext("redrive-test", 3),
      handler: async () => {
        calls++;
        throw new Error("always fails");
      },
      settings: {
        queueUrl: source.QueueUrl as string,
        queueArn: "",
        batchSize: 10,
        maximumBatchingWindowInSeconds: 0,
        reportBatchItemFailures: true,
        maximumConcurrency: 1,
      },
    });
    events.start();
    try {
      await sendBodies(runner.sqs, source.QueueUrl as string, ["poison"]);
      const deadline = Date.now() + 20_000;
      let moved: string[] = [];
      while (moved.length === 0 && Date.now() < deadline) moved = (await drain(dlqUrl)).map((m) => m.body);
      assert.deepEqual(moved, ["poison"]);
      assert.equal(calls, 2, "handled maxReceiveCount times, then moved on the next receive");
    } finally {
      await events.stop();
    }
  });

  it("stream emulation: per-shard order, bisects a failing batch, describes the poison record on the failure queue", async () => {
    const table = "stream-emulation-test";
    const streamArn = await createStreamTable(table);
    const failures = await runner.sqs.send(new CreateQueueCommand({ QueueName: "stream-failures-test" }));
    for (let i = 0; i < 8; i++)
      await runner.dynamodb.send(
        new PutItemCommand({ TableName: table, Item: { pk: { S: i === 5 ? "bad" : `item-${i}` } } }),
      );
    const delivered: string[] = [];
    const batchSizes: number[] = [];
    const streams = new DynamoDBStreamsClient({});
    const source = new StreamEventSource({
      name: "stream-test",
      streams,
      sqs: runner.sqs,
      region: "us-east-1",
      context: () => lambdaContext("stream-test", 3),
      retryDelayMs: 10,
      handler: async (event) => {
        batchSizes.push(event.Records.length);
        const keys = event.Records.map((record) => String(record.dynamodb?.Keys?.pk?.S));
        if (keys.includes("bad")) throw new Error("poison record");
        delivered.push(...keys);
        return undefined;
      },
      settings: {
        streamArn,
        batchSize: 8,
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 5, // each bisection counts as a retry: 8 -> 4 -> 2 -> 1 takes 3
        maximumRecordAgeInSeconds: 3600,
        reportBatchItemFailures: true,
        onFailureQueueUrl: failures.QueueUrl,
        functionArn: "arn:aws:lambda:us-east-1:000000000000:function:stream-test",
      },
    });
    source.start();
    try {
      const deadline = Date.now() + 20_000;
      let letters: string[] = [];
      while (letters.length === 0 && Date.now() < deadline) {
        letters = (await drain(failures.QueueUrl as string)).map((m) => m.body);
        if (letters.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      while (delivered.length < 7 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(delivered, ["item-0", "item-1", "item-2", "item-3", "item-4", "item-6", "item-7"]);
      assert.equal(batchSizes[0], 8);
      assert.equal(letters.length, 1);
      const letter = JSON.parse(letters[0] as string) as {
        requestContext: { condition: string };
        DDBStreamBatchInfo: { batchSize: number; startSequenceNumber: string; endSequenceNumber: string };
      };
      assert.equal(letter.requestContext.condition, "RetryAttemptsExhausted");
      assert.equal(letter.DDBStreamBatchInfo.batchSize, 1);
      assert.equal(
        letter.DDBStreamBatchInfo.startSequenceNumber,
        letter.DDBStreamBatchInfo.endSequenceNumber,
      );
    } finally {
      await source.stop();
      streams.destroy();
    }
  });

  it("stream emulation: a batching window gathers records written over time into one invocation", async () => {
    const table = "stream-window-test";
    const streamArn = await createStreamTable(table);
    const batches: string[][] = [];
    const streams = new DynamoDBStreamsClient({});
    const source = new StreamEventSource({
      name: "stream-window-test",
      streams,
      sqs: runner.sqs,
      region: "us-east-1",
      context: () => lambdaContext("stream-window-test", 3),
      handler: async (event) => {
        batches.push(event.Records.map((record) => String(record.dynamodb?.Keys?.pk?.S)));
        return undefined;
      },
      settings: {
        streamArn,
        batchSize: 100,
        maximumBatchingWindowInSeconds: 2,
        bisectBatchOnFunctionError: false,
        maximumRetryAttempts: 0,
        maximumRecordAgeInSeconds: -1,
        reportBatchItemFailures: false,
        onFailureQueueUrl: undefined,
        functionArn: "arn:aws:lambda:us-east-1:000000000000:function:stream-window-test",
      },
    });
    source.start();
    try {
      // Six writes 150 ms apart: without the window, 250 ms polls would split them over several batches.
      for (let i = 0; i < 6; i++) {
        await runner.dynamodb.send(
          new PutItemCommand({ TableName: table, Item: { pk: { S: `item-${i}` } } }),
        );
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      const deadline = Date.now() + 20_000;
      while (batches.flat().length < 6 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(batches, [["item-0", "item-1", "item-2", "item-3", "item-4", "item-5"]]);
    } finally {
      await source.stop();
      streams.destroy();
    }
  });

  it("sweeps expired TTL items and keeps the others", async () => {
    const table = runner.config.dynamodb.tables.StateTable as string;
    const now = Math.floor(Date.now() / 1000);
    const put = (sk: string, expiresAt: number) =>
      runner.dynamodb.send(
        new PutItemCommand({
          TableName: table,
          Item: { pk: { S: "ttl-test" }, sk: { S: sk }, expiresAt: { N: String(expiresAt) } },
        }),
      );
    await put("expired", now - 10);
    await put("alive", now + 3600);
    assert.ok((await runner.sweeper.sweep(now)) >= 1);
    const left = await runner.dynamodb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": { S: "ttl-test" } },
      }),
    );
    assert.deepEqual(
      (left.Items ?? []).map((item) => item.sk?.S),
      ["alive"],
    );
  });

  it("loses nothing when stopped in the middle of a batch and restarted on the same backends", async () => {
    // The first runner's ingest handler, wrapped: the test learns when a batch is under way.
    let batchStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      batchStarted = resolve;
    });
    let armed = false;
    const wrapHandler = (id: string, handler: (...args: never[]) => Promise<unknown>) =>
      id !== "IngestFunction"
        ? handler
        : (...args: never[]) => {
            const running = handler(...args);
            if (armed) batchStarted();
            return running;
          };
    // A runner of its own on the same backends (the shared one's handlers are not wrapped).
    const first = runner;
    await first.stop({ keepBackends: true });
    const interrupted = await startLocalRunner({
      cdkOut: outdir, // the assembly the first runner synthesized
      logLevel: "SILENT",
      maxPollersPerQueue: 4,
      dynamodbEndpoint: first.config.dynamodb.endpoint,
      sqsEndpoint: first.config.sqs.endpoint,
      wrapHandler,
    });
    armed = true;
    await sendBodies(interrupted.sqs, interrupted.config.sqs.ingestQueueUrl, run.bodies(9001, 250));
    await started;
    const ingest = interrupted.sqsSources.find(
      (source) => source.settings.queueUrl === interrupted.config.sqs.ingestQueueUrl,
    );
    assert.ok(ingest !== undefined && ingest.held > 0, "no batch in flight to interrupt");
    await interrupted.stop({ keepBackends: true });
    const { dynamodb, sqs } = first.backends;
    runner = await startLocalRunner({
      cdkOut: outdir, // the assembly the first runner synthesized
      logLevel: "SILENT",
      maxPollersPerQueue: 4,
      dynamodbEndpoint: first.config.dynamodb.endpoint,
      sqsEndpoint: first.config.sqs.endpoint,
    });
    try {
      await runner.whenIdle({ timeoutMs: 120_000 });
      await assertServesReference(embedded(runner), run);
    } finally {
      // The new runner did not start the backends: stop the first runner's now.
      await runner.stop();
      await sqs?.stop();
      await dynamodb?.stop();
    }
  });
});
