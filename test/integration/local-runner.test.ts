/**
 * The local runner end to end, started in-process (--no-demo) with its own DynamoDB Local and
 * fauxqs, from a template synthesized with short SQS settings (ingestTimeoutSeconds 3, so the
 * queues' visibility timeout is 18 s; a 1 s batching window over batches of up to 50):
 *   - a generated trace with duplicates, reordering and malformed messages, sent to the ingest
 *     queue as a producer would: once idle, the HTTP API serves exactly the reference model's
 *     EndpointSlice membership, and the dead-letter queue holds the malformed events with reasons;
 *   - a watcher registered through POST /v1/watchers then receives every later change of its
 *     scope: its list plus its queue's messages, applied by resourceVersion, equal the final list;
 *   - stopping the runner in the middle of a batch and starting another on the same backends
 *     loses nothing: the abandoned messages come back after the visibility timeout.
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
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
} from "@aws-sdk/client-sqs";
import fc from "fast-check";
import { type LocalRunner, lambdaContext, sendBodies, startLocalRunner } from "#scripts/local/runner.ts";
import { SqsEventSource } from "#scripts/local/sqs-event-source.ts";
import { StreamEventSource } from "#scripts/local/stream-event-source.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import type { ChangeMessage } from "#shared/fanout/change-routing.ts";
import type { ClusterSimulator, SimEvent } from "#shared/sim/cluster-simulator.ts";
import {
  deliver,
  deliveryArbitrary,
  eventsFor,
  opArbitrary,
  seededCluster,
} from "#test/support/random-trace.ts";
import { canonicalPorts, endpointKeyOf, expectedEndpoints } from "#test/support/reference-model.ts";

const CONTEXT = { ingestTimeoutSeconds: 3, ingestBatchWindowSeconds: 1, ingestBatchSize: 50 };
let outdir: string;
let runner: LocalRunner;
let sim: ClusterSimulator;

before(async () => {
  outdir = mkdtempSync(join(tmpdir(), "sliceline-local-"));
  runner = await startLocalRunner({ context: CONTEXT, outdir, logLevel: "SILENT", maxPollersPerQueue: 4 });
});
after(async () => {
  await runner?.stop();
  if (outdir !== undefined) rmSync(outdir, { recursive: true, force: true });
});

/** Random operations on the simulator, delivered with duplicates and reordering, one message per batch. */
function traceBodies(seed: number, operations: number): string[] {
  const events: SimEvent[] = [];
  if (sim === undefined) {
    const seeded = seededCluster();
    sim = seeded.sim;
    events.push(...seeded.events);
  }
  const [ops] = fc.sample(fc.array(opArbitrary, { minLength: operations / 2, maxLength: operations }), {
    seed,
    numRuns: 1,
  });
  events.push(...eventsFor(sim, ops ?? []));
  const [delivery] = fc.sample(deliveryArbitrary(events.length), { seed: seed + 1, numRuns: 1 });
  return deliver(events, delivery as never).map((batch) => JSON.stringify({ events: batch }));
}

async function listSlices(pageSize = 3): Promise<EndpointSlice[]> {
  const slices: EndpointSlice[] = [];
  let token = "";
  do {
    const url = `${runner.config.api}/apis/discovery.k8s.io/v1/endpointslices?limit=${pageSize}${token === "" ? "" : `&continue=${encodeURIComponent(token)}`}`;
    const response = await fetch(url);
    assert.equal(response.status, 200, url);
    const list = (await response.json()) as { items: EndpointSlice[]; metadata: { continue?: string } };
    slices.push(...list.items);
    token = list.metadata.continue ?? "";
  } while (token !== "");
  return slices;
}

function endpointKeys(slices: readonly EndpointSlice[]): string[] {
  return slices.flatMap((slice) =>
    slice.endpoints.flatMap((endpoint) =>
      endpoint.addresses.map((address) =>
        endpointKeyOf({
          service: `${slice.metadata.namespace}/${slice.metadata.labels["kubernetes.io/service-name"]}`,
          addressType: slice.addressType,
          ports: canonicalPorts(slice.ports),
          pod: endpoint.targetRef.name,
          address,
          ...endpoint.conditions,
          zone: endpoint.zone,
        }),
      ),
    ),
  );
}

async function assertServesReference(): Promise<EndpointSlice[]> {
  const slices = await listSlices();
  const published = endpointKeys(slices);
  assert.equal(new Set(published).size, published.length, "an endpoint appears in two slices");
  assert.deepEqual(new Set(published), expectedEndpoints(sim));
  return slices;
}

async function drain(queueUrl: string): Promise<Array<{ body: string; attributes: Record<string, string> }>> {
  const messages: Array<{ body: string; attributes: Record<string, string> }> = [];
  for (let empty = 0; empty < 2; ) {
    const result = await runner.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ["All"],
        WaitTimeSeconds: 0,
      }),
    );
    const batch = result.Messages ?? [];
    if (batch.length === 0) {
      empty++;
      continue;
    }
    for (const message of batch) {
      const attributes: Record<string, string> = {};
      for (const [name, value] of Object.entries(message.MessageAttributes ?? {}))
        attributes[name] = value.StringValue ?? "";
      messages.push({ body: message.Body ?? "", attributes });
    }
    await runner.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: batch.map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle })),
      }),
    );
  }
  return messages;
}

describe("local runner", { concurrency: false }, () => {
  it("serves the reference model's EndpointSlices after a trace with duplicates, reordering and malformed messages", async () => {
    const bodies = traceBodies(4242, 250);
    const malformed = [
      "{ this is not json",
      JSON.stringify({
        type: "ADDED",
        object: { kind: "Pod", metadata: { namespace: "alpha", name: "z", resourceVersion: "latest" } },
      }),
      JSON.stringify({
        type: "ADDED",
        object: { kind: "Deployment", metadata: { name: "d", resourceVersion: "1" } },
      }),
    ];
    const mixed = [...bodies];
    malformed.forEach((body, i) => {
      mixed.splice(Math.floor(((i + 1) * mixed.length) / 4), 0, body);
    });
    await sendBodies(runner.sqs, runner.config.sqs.ingestQueueUrl, mixed);
    await runner.whenIdle({ timeoutMs: 120_000 });

    await assertServesReference();

    // At least once: a redelivered batch dead-letters its poison again, under the same source id.
    const letters = await drain(runner.config.sqs.deadLetterQueueUrl as string);
    const distinct = new Map(letters.map((letter) => [letter.attributes.sourceMessageId, letter]));
    const reasons = [...distinct.values()].map((letter) => letter.attributes.reason ?? "");
    assert.equal(distinct.size, 3, JSON.stringify(letters));
    assert.match(reasons.find((r) => r.startsWith("invalid JSON")) ?? "", /^invalid JSON/);
    assert.ok(
      reasons.some((r) => /object\.metadata\.resourceVersion: must be a decimal integer string/.test(r)),
    );
    assert.ok(reasons.some((r) => /unknown kind "Deployment"/.test(r)));
    assert.ok(letters.some((letter) => letter.body === "{ this is not json"));
  });

  it("delivers every later change of its scope to a watcher registered through POST /v1/watchers", async () => {
    const response = await fetch(`${runner.config.api}/v1/watchers`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ node: "watcher-1", kinds: ["EndpointSlice"] }),
    });
    assert.equal(response.status, 201);
    const { queueUrl } = (await response.json()) as { queueUrl: string };
    // List after registering (list-then-watch): the watcher's starting state.
    const view = new Map<string, { rv: bigint; slice: EndpointSlice | undefined }>();
    for (const slice of await listSlices(50))
      view.set(`${slice.metadata.namespace}/${slice.metadata.name}`, {
        rv: BigInt(slice.metadata.resourceVersion ?? "0"),
        slice,
      });

    await sendBodies(runner.sqs, runner.config.sqs.ingestQueueUrl, traceBodies(777, 200));
    await runner.whenIdle({ timeoutMs: 120_000 });
    const final = await assertServesReference();

    // Standard SNS and SQS are unordered: apply by resourceVersion, deletions leave a tombstone.
    const messages = (await drain(queueUrl)).map((m) => JSON.parse(m.body) as ChangeMessage);
    assert.ok(messages.length > 0, "the watcher received nothing");
    for (const message of messages) {
      assert.equal(message.kind, "EndpointSlice");
      const slice = message.object as EndpointSlice;
      const key = `${slice.metadata.namespace}/${slice.metadata.name}`;
      const rv = BigInt(message.resourceVersion);
      const known = view.get(key);
      if (message.type === "DELETED") {
        if (known === undefined || rv >= known.rv) view.set(key, { rv, slice: undefined });
      } else if (known === undefined || rv > known.rv) view.set(key, { rv, slice });
    }
    const watched = [...view.values()].flatMap((entry) => (entry.slice === undefined ? [] : [entry.slice]));
    const summary = (slices: EndpointSlice[]) =>
      slices.map((s) => `${s.metadata.namespace}/${s.metadata.name}@${s.metadata.resourceVersion}`).sort();
    assert.deepEqual(summary(watched), summary(final));
    assert.deepEqual(new Set(endpointKeys(watched)), expectedEndpoints(sim));
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
        streamArn: described.Table?.LatestStreamArn as string,
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
    await sendBodies(interrupted.sqs, interrupted.config.sqs.ingestQueueUrl, traceBodies(9001, 250));
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
      await assertServesReference();
    } finally {
      // The new runner did not start the backends: stop the first runner's now.
      await runner.stop();
      await sqs?.stop();
      await dynamodb?.stop();
    }
  });
});
