/**
 * The injected faults look like AWS's to the SDK: through the fault proxy in front of DynamoDB
 * Local and fauxqs, each kind of fault on a DynamoDB, SQS and SNS call is classified as retryable
 * by the SDK's own retry strategy (the call succeeds on its second attempt), and a throttle or 5xx
 * surfaces, when retries are off, as the error AWS's wire format names. The invocation hook: a
 * call the proxy never answers ends in the function's timeout; a crashed invocation makes no more
 * calls. The delivery hooks of the emulated event sources: an SQS batch shuffled and delivered
 * again (deleted once), a stream batch delivered twice in a row, in order.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import { CreateTopicCommand, PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { isThrottlingError, isTransientError } from "@smithy/core/retry";
import type { Context } from "aws-lambda";
import { type CountingProxy, startCountingProxy } from "#scripts/bench/request-counter.ts";
import { type Backend, startDynamoDbLocal, startFauxqs } from "#scripts/local/backends.ts";
import type { FaultKind, ProxyFault } from "#scripts/local/fault-proxy.ts";
import { lambdaContext, sendBodies } from "#scripts/local/runner.ts";
import { SqsEventSource } from "#scripts/local/sqs-event-source.ts";
import { StreamEventSource } from "#scripts/local/stream-event-source.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { InvocationFaults, InvocationTimeoutError } from "#test/support/invocation-faults.ts";
import { SeededRandom } from "#test/support/seeded-random.ts";

/** Faults the next calls with the queued faults, then lets calls through. */
const queued: ProxyFault[] = [];
const injector = { decide: () => queued.shift() };
const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const region = "us-east-1";
let dynamodbBackend: Backend;
let sqsBackend: Backend;
let dynamodbProxy: CountingProxy;
let sqsProxy: CountingProxy;
/** Clients retrying once (maxAttempts 2), timing out held calls after 1 s, as a test may configure. */
let dynamodb: DynamoDBClient;
let sqs: ReturnType<typeof createSqsClient>;
let sns: SNSClient;

before(async () => {
  dynamodbBackend = await startDynamoDbLocal();
  sqsBackend = await startFauxqs();
  dynamodbProxy = await startCountingProxy(dynamodbBackend.endpoint, { faults: injector });
  sqsProxy = await startCountingProxy(sqsBackend.endpoint, { faults: injector });
  const common = {
    region,
    credentials,
    maxAttempts: 2,
    requestHandler: { requestTimeout: 1_000, throwOnRequestTimeout: true },
  };
  dynamodb = new DynamoDBClient({ ...common, endpoint: dynamodbProxy.endpoint });
  sqs = createSqsClient({ ...common, endpoint: sqsProxy.endpoint });
  sns = new SNSClient({ ...common, endpoint: sqsProxy.endpoint });
  await dynamodb.send(
    new CreateTableCommand({
      TableName: "wire",
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
    }),
  );
});
after(async () => {
  for (const client of [dynamodb, sqs, sns]) client?.destroy();
  for (const service of [dynamodbProxy, sqsProxy, dynamodbBackend, sqsBackend]) await service?.stop();
});

const FAULTS: ProxyFault[] = [
  { kind: "throttle", afterForward: false, variant: 0 },
  { kind: "throttle", afterForward: false, variant: 1 },
  { kind: "serverError", afterForward: false, variant: 0 },
  { kind: "serverError", afterForward: true, variant: 1 },
  { kind: "reset", afterForward: false, variant: 0 },
  { kind: "reset", afterForward: true, variant: 0 },
  { kind: "timeout", afterForward: false, variant: 0 },
  { kind: "timeout", afterForward: true, variant: 0 },
];

const label = (fault: ProxyFault) =>
  `${fault.kind}${fault.kind === "throttle" || fault.kind === "serverError" ? ` #${fault.variant}` : ""} ${fault.afterForward ? "after" : "before"} forwarding`;

async function assertRetried(fault: ProxyFault, call: () => Promise<{ $metadata: { attempts?: number } }>) {
  queued.length = 0;
  queued.push(fault);
  const result = await call();
  assert.equal(queued.length, 0, "the fault was injected");
  assert.equal(result.$metadata.attempts, 2, "the SDK retried once");
}

describe("injected faults, as the SDK sees them", { concurrency: false }, () => {
  for (const fault of FAULTS) {
    it(`DynamoDB PutItem: ${label(fault)} is retried`, async () => {
      const pk = `${fault.kind}-${fault.variant}-${fault.afterForward}`;
      await assertRetried(fault, () =>
        dynamodb.send(new PutItemCommand({ TableName: "wire", Item: { pk: { S: pk } } })),
      );
      const read = await dynamodb.send(new GetItemCommand({ TableName: "wire", Key: { pk: { S: pk } } }));
      assert.equal(read.Item?.pk?.S, pk);
    });
    it(`SQS SendMessage: ${label(fault)} is retried`, async () => {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "wire" }));
      await assertRetried(fault, () => sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "x" })));
    });
    it(`SNS Publish: ${label(fault)} is retried`, async () => {
      const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: "wire" }));
      await assertRetried(fault, () => sns.send(new PublishCommand({ TopicArn, Message: "x" })));
    });
  }

  const expected: Array<[string, FaultKind, number, string, number]> = [
    ["dynamodb", "throttle", 0, "ProvisionedThroughputExceededException", 400],
    ["dynamodb", "throttle", 1, "ThrottlingException", 400],
    ["dynamodb", "serverError", 0, "InternalServerError", 500],
    ["dynamodb", "serverError", 1, "ServiceUnavailableException", 503],
    ["sqs", "throttle", 0, "RequestThrottled", 403],
    ["sqs", "serverError", 0, "InternalFailure", 500],
    ["sns", "throttle", 0, "ThrottledException", 429],
    ["sns", "serverError", 0, "InternalErrorException", 500],
  ];
  for (const [service, kind, variant, name, status] of expected) {
    it(`${service}: a ${kind} answer without retries is ${name} (${status}), classified ${kind === "throttle" ? "throttling" : "transient"}`, async () => {
      const once = { region, credentials, maxAttempts: 1 };
      const call =
        service === "dynamodb"
          ? () => {
              const client = new DynamoDBClient({ ...once, endpoint: dynamodbProxy.endpoint });
              return client
                .send(new GetItemCommand({ TableName: "wire", Key: { pk: { S: "x" } } }))
                .finally(() => client.destroy());
            }
          : service === "sqs"
            ? async () => {
                const client = createSqsClient({ ...once, endpoint: sqsProxy.endpoint });
                const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: "wire" }));
                queued.push({ kind, afterForward: false, variant });
                return client
                  .send(new SendMessageCommand({ QueueUrl, MessageBody: "x" }))
                  .finally(() => client.destroy());
              }
            : async () => {
                const client = new SNSClient({ ...once, endpoint: sqsProxy.endpoint });
                const { TopicArn } = await client.send(new CreateTopicCommand({ Name: "wire" }));
                queued.push({ kind, afterForward: false, variant });
                return client
                  .send(new PublishCommand({ TopicArn, Message: "x" }))
                  .finally(() => client.destroy());
              };
      queued.length = 0;
      if (service === "dynamodb") queued.push({ kind, afterForward: false, variant });
      await assert.rejects(call(), (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(error.name, name);
        assert.equal(error.$metadata?.httpStatusCode, status);
        assert.ok(kind === "throttle" ? isThrottlingError(error as never) : isTransientError(error as never));
        return true;
      });
    });
  }
});

describe("invocation faults", () => {
  it("ends an invocation whose call is never answered at the function's timeout", async () => {
    const faults = new InvocationFaults({
      random: new SeededRandom(1),
      crashRate: 0,
      functions: new Set(["Fn"]),
    });
    queued.length = 0;
    queued.push({ kind: "timeout", afterForward: false, variant: 0 });
    const client = new DynamoDBClient({ region, credentials, endpoint: dynamodbProxy.endpoint });
    try {
      const handler = faults.wrap("Fn", async () =>
        client.send(new GetItemCommand({ TableName: "wire", Key: { pk: { S: "x" } } })),
      ) as (event: unknown, context: Context) => Promise<unknown>;
      const started = Date.now();
      await assert.rejects(handler({}, lambdaContext("Fn", 1)), InvocationTimeoutError);
      assert.ok(Date.now() - started >= 900, "not before the function's timeout");
      assert.equal(faults.counts.timeouts, 1);
    } finally {
      faults.dispose();
      client.destroy();
    }
  });

  it("crashes every invocation at a seeded point when the crash rate is 1, and nothing after the crash is sent", async () => {
    const faults = new InvocationFaults({
      random: new SeededRandom(7),
      crashRate: 1,
      functions: new Set(["Fn"]),
    });
    const client = new DynamoDBClient({
      region,
      credentials,
      endpoint: dynamodbProxy.endpoint,
      maxAttempts: 1,
    });
    try {
      for (let i = 0; i < 12; i++) {
        let finished = 0;
        const handler = faults.wrap("Fn", async () => {
          for (let call = 0; call < 8; call++) {
            await client.send(
              new PutItemCommand({ TableName: "wire", Item: { pk: { S: `crash-${i}-${call}` } } }),
            );
            finished++;
          }
        }) as (event: unknown, context: Context) => Promise<unknown>;
        await assert.rejects(handler({}, lambdaContext("Fn", 10)), /crashed/);
        await new Promise((resolve) => setTimeout(resolve, 50));
        const frozenAt = finished;
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(finished, frozenAt, "a crashed invocation makes no more calls");
        assert.ok(finished < 8 || faults.counts.crashes.end > 0);
      }
      const { crashes } = faults.counts;
      assert.equal(crashes.start + crashes.beforeCall + crashes.afterCall + crashes.end, 12);
      assert.ok(crashes.beforeCall > 0 && crashes.afterCall > 0, JSON.stringify(crashes));
    } finally {
      faults.dispose();
      client.destroy();
    }
  });
});

describe("delivery faults of the emulated event sources", () => {
  it("SQS: hands a batch over in the hook's order, then once more later; deletes its messages once", async () => {
    const direct = createSqsClient({ region, credentials, endpoint: sqsBackend.endpoint });
    const { QueueUrl } = await direct.send(new CreateQueueCommand({ QueueName: "delivery-faults" }));
    const batches: string[][] = [];
    const source = new SqsEventSource({
      name: "delivery-faults",
      sqs: direct,
      region,
      context: () => lambdaContext("delivery-faults", 3),
      handler: async (event) => {
        batches.push(event.Records.map((record) => record.body));
        return undefined;
      },
      settings: {
        queueUrl: QueueUrl as string,
        queueArn: "",
        batchSize: 10,
        maximumBatchingWindowInSeconds: 1,
        reportBatchItemFailures: true,
        maximumConcurrency: 1,
      },
      deliveryFaults: {
        order: (count) => Array.from({ length: count }, (_, i) => count - 1 - i),
        redeliveryDelayMs: () => 50,
      },
    });
    try {
      await sendBodies(direct, QueueUrl as string, ["a", "b", "c", "d"]);
      source.start();
      const deadline = Date.now() + 15_000;
      while (batches.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(batches.length, 2, JSON.stringify(batches));
      assert.deepEqual(batches[0], [...(batches[0] ?? [])].sort().reverse(), "in the hook's order");
      assert.deepEqual([...(batches[1] ?? [])].sort(), ["a", "b", "c", "d"]);
      assert.equal(await source.isIdle(), true);
      const { Attributes } = await direct.send(
        new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }),
      );
      assert.equal(Attributes?.ApproximateNumberOfMessages, "0");
    } finally {
      await source.stop();
      direct.destroy();
    }
  });

  it("stream: delivers a batch twice in a row, keeping the shard's order", async () => {
    const direct = new DynamoDBClient({ region, credentials, endpoint: dynamodbBackend.endpoint });
    const streams = new DynamoDBStreamsClient({ region, credentials, endpoint: dynamodbBackend.endpoint });
    await direct.send(
      new CreateTableCommand({
        TableName: "delivery-faults",
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
      }),
    );
    const { Table } = await direct.send(new DescribeTableCommand({ TableName: "delivery-faults" }));
    for (const pk of ["r0", "r1", "r2"])
      await direct.send(new PutItemCommand({ TableName: "delivery-faults", Item: { pk: { S: pk } } }));
    const delivered: string[][] = [];
    const failures = createSqsClient({ region, credentials, endpoint: sqsBackend.endpoint });
    const source = new StreamEventSource({
      name: "delivery-faults",
      streams,
      sqs: failures,
      region,
      context: () => lambdaContext("delivery-faults", 3),
      handler: async (event) => {
        delivered.push(event.Records.map((record) => String(record.dynamodb?.Keys?.pk?.S)));
        return undefined;
      },
      settings: {
        streamArn: Table?.LatestStreamArn as string,
        batchSize: 10,
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 2,
        maximumRecordAgeInSeconds: 3600,
        reportBatchItemFailures: true,
        onFailureQueueUrl: undefined,
        functionArn: "arn:aws:lambda:us-east-1:000000000000:function:delivery-faults",
      },
      deliveryFaults: { redeliver: () => true },
    });
    source.start();
    try {
      const deadline = Date.now() + 15_000;
      while (delivered.flat().length < 6 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const flat = delivered.flat();
      assert.equal(flat.length, 6, JSON.stringify(delivered));
      assert.equal(delivered.length % 2, 0);
      for (let i = 0; i < delivered.length; i += 2) assert.deepEqual(delivered[i], delivered[i + 1]);
      assert.deepEqual([...new Set(flat)], ["r0", "r1", "r2"], "the shard's order");
    } finally {
      await source.stop();
      direct.destroy();
      streams.destroy();
      failures.destroy();
    }
  });
});
