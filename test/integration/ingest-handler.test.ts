/**
 * The real ingest handler on DynamoDB Local + fauxqs: a batch with poison events sends each of them
 * to the dead-letter queue with its reason and applies the rest; a replay of the batch changes nothing.
 * A namespace group that cannot be committed costs only its own events; an absurd producer time
 * stamp costs nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSMessageAttribute, SQSRecord } from "aws-lambda";
import { ClusterSimulator } from "#scripts/sim/cluster-simulator.ts";
import { ENV } from "#shared/config/resources.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import { type DynamoDbLocal, startDynamoDbLocal, storedObjects } from "#test/support/dynamodb-local.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";
import { lambdaContext, quietPowertools } from "#test/support/lambda.ts";

let dynamo: DynamoDbLocal;
let messaging: FauxqsHandle;
let deadLetterQueueUrl: string;
let handler: (event: SQSEvent, context: unknown) => Promise<SQSBatchResponse>;

before(async () => {
  quietPowertools();
  dynamo = await startDynamoDbLocal();
  messaging = await startLocalMessaging();
  const queue = await messaging.sqs.send(new CreateQueueCommand({ QueueName: "ingest-dlq" }));
  deadLetterQueueUrl = queue.QueueUrl as string;
  process.env[ENV.deadLetterQueueUrl] = deadLetterQueueUrl;
  ({ handler } = (await import("#functions/ingest/handler.ts")) as never);
});
after(async () => {
  await messaging?.stop();
  await dynamo?.stop();
});

function sqsRecord(
  messageId: string,
  body: string,
  messageAttributes: SQSRecord["messageAttributes"] = {},
): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: String(Date.now()),
      SenderId: "producer",
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes,
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:IngestQueue",
    awsRegion: "us-east-1",
  };
}

describe("ingest handler", () => {
  it("dead-letters each poison event with its reason and applies the rest of the batch", async () => {
    const sim = new ClusterSimulator();
    const setup = [
      sim.addNode("node-1", "zone-a"),
      sim.addNamespace("shop"),
      sim.upsertService({
        namespace: "shop",
        name: "web",
        selector: { app: "web" },
        ports: [{ name: "http", port: 80, targetPort: 8080 }],
      }),
    ];
    const pods = ["a", "b", "c"].flatMap((name) => [
      sim.createPod("shop", name, { app: "web" }, "node-1"),
      sim.startPod("shop", name),
      sim.setPodReady("shop", name, true),
    ]);
    const unknownKind = {
      type: "ADDED",
      object: { kind: "Deployment", metadata: { name: "x", resourceVersion: "1" } },
    };
    const badVersion = {
      type: "ADDED",
      object: { kind: "Pod", metadata: { namespace: "shop", name: "z", resourceVersion: "latest" } },
    };
    const event: SQSEvent = {
      Records: [
        sqsRecord("m1", JSON.stringify({ events: setup })),
        sqsRecord("m2", "{ this is not json"),
        sqsRecord("m3", JSON.stringify({ events: [...pods.slice(0, 4), badVersion, ...pods.slice(4)] })),
        sqsRecord("m4", JSON.stringify(unknownKind)),
      ],
    };

    const response = await handler(event, lambdaContext("ingest"));
    assert.deepEqual(response.batchItemFailures, []);

    const received = await messaging.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: deadLetterQueueUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ["All"],
      }),
    );
    const letters = (received.Messages ?? [])
      .map((m) => ({
        source: m.MessageAttributes?.sourceMessageId?.StringValue,
        index: m.MessageAttributes?.index?.StringValue,
        reason: m.MessageAttributes?.reason?.StringValue ?? "",
        body: m.Body,
      }))
      .sort((x, y) => String(x.source).localeCompare(String(y.source)));
    assert.deepEqual(
      letters.map((l) => [l.source, l.index]),
      [
        ["m2", undefined],
        ["m3", "4"],
        ["m4", undefined],
      ],
    );
    assert.match(letters[0]?.reason ?? "", /^invalid JSON/);
    assert.equal(letters[0]?.body, "{ this is not json");
    assert.match(
      letters[1]?.reason ?? "",
      /object\.metadata\.resourceVersion: must be a decimal integer string/,
    );
    assert.match(letters[2]?.reason ?? "", /unknown kind "Deployment"/);

    const objects = await storedObjects(dynamo.client, dynamo.tableNames.SlicesTable as string);
    const slices = [...objects.EndpointSlice.values()] as EndpointSlice[];
    assert.equal(slices.length, 1);
    assert.deepEqual(slices[0]?.endpoints.map((e) => e.targetRef.name).sort(), ["a", "b", "c"]);
    assert.ok(slices[0]?.endpoints.every((e) => e.conditions.ready && e.zone === "zone-a"));
    assert.equal(objects.CiliumEndpointSlice.size, 1);
    assert.equal(objects.CiliumIdentity.size, 1);

    // SQS delivers at least once: the same batch again changes nothing (dead letters aside).
    const before = JSON.stringify([...objects.EndpointSlice.values()]);
    const replay = await handler(event, lambdaContext("ingest"));
    assert.deepEqual(replay.batchItemFailures, []);
    const again = await storedObjects(dynamo.client, dynamo.tableNames.SlicesTable as string);
    assert.equal(JSON.stringify([...again.EndpointSlice.values()]), before);
  });

  it("dead-letters a namespace group that can never be committed, with its reason, and commits the other namespace of the batch", async () => {
    const sim = new ClusterSimulator();
    const service = (namespace: string) =>
      sim.upsertService({
        namespace,
        name: "web",
        selector: { app: "web" },
        ports: [{ name: "http", port: 80, targetPort: 8080 }],
      });
    const good = [
      sim.addNamespace("calm"),
      service("calm"),
      sim.createPod("calm", "a", { app: "web" }, "node-1"),
      sim.startPod("calm", "a"),
      sim.setPodReady("calm", "a", true),
    ];
    // Valid pods, each under the event size limit, whose named ports add up to a
    // CiliumEndpointSlice over DynamoDB's 400 KB item limit even compressed (objects are stored
    // Brotli-compressed: every port name is random and distinct, ~9 bytes of entropy each): the
    // group fails on every attempt.
    let seed = 12_345;
    const portName = () => {
      let name = "";
      for (let k = 0; k < 15; k++) {
        seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
        name += String.fromCharCode(97 + ((seed >>> 16) % 26));
      }
      return name;
    };
    const crowded = Array.from({ length: 16 }, (_, i) => `p${i}`);
    const huge = crowded.map((name) => [
      sim.createPod("crowded", name, { app: "web" }, "node-1", {
        ports: Array.from({ length: 3500 }, (_, i) => ({
          name: portName(),
          containerPort: 1024 + i,
          protocol: "TCP",
        })),
      }),
      sim.startPod("crowded", name),
    ]);
    const event: SQSEvent = {
      Records: [
        sqsRecord("g1", JSON.stringify({ events: good })),
        ...huge.map((events, i) => sqsRecord(`h${i}`, JSON.stringify({ events }))),
      ],
    };
    const response = await handler(event, lambdaContext("ingest"));
    assert.deepEqual(response.batchItemFailures, []);

    const letters = (await receiveDeadLetters()).filter((letter) => letter.source?.startsWith("h"));
    assert.deepEqual(
      letters.map((l) => `${l.source}#${l.index}`).sort(),
      crowded.flatMap((_, i) => [`h${i}#0`, `h${i}#1`]).sort(),
    );
    for (const letter of letters) {
      assert.match(letter.reason, /^namespace crowded failed \(deterministic\): ItemTooLargeError: /);
      assert.equal(JSON.parse(letter.body ?? "").object.metadata.namespace, "crowded");
    }
    const objects = await storedObjects(dynamo.client, dynamo.tableNames.SlicesTable as string);
    const slicesOf = (namespace: string) =>
      ([...objects.EndpointSlice.values()] as EndpointSlice[]).filter(
        (s) => s.metadata.namespace === namespace,
      );
    assert.deepEqual(
      slicesOf("calm").flatMap((s) => s.endpoints.map((e) => e.targetRef.name)),
      ["a"],
    );
    assert.deepEqual(slicesOf("crowded"), []);
  });

  it("falls back to SentTimestamp for an absurd sourceTimeMs stamp instead of failing the batch", async () => {
    const sim = new ClusterSimulator();
    const events = [
      sim.addNamespace("stamped"),
      sim.upsertService({
        namespace: "stamped",
        name: "web",
        selector: { app: "web" },
        ports: [{ name: "http", port: 80, targetPort: 8080 }],
      }),
      sim.createPod("stamped", "a", { app: "web" }, "node-1"),
      sim.startPod("stamped", "a"),
    ];
    const before = Date.now();
    const response = await handler(
      {
        Records: [
          sqsRecord("s1", JSON.stringify({ events }), {
            sourceTimeMs: { stringValue: "1e20", dataType: "Number" } as SQSMessageAttribute,
          }),
        ],
      },
      lambdaContext("ingest"),
    );
    assert.deepEqual(response.batchItemFailures, []);
    const objects = await storedObjects(dynamo.client, dynamo.tableNames.SlicesTable as string);
    const slice = ([...objects.EndpointSlice.values()] as EndpointSlice[]).find(
      (s) => s.metadata.namespace === "stamped",
    );
    const created = Date.parse(String(slice?.metadata.creationTimestamp));
    assert.ok(
      created >= before - 60_000 && created <= Date.now(),
      `creationTimestamp ${slice?.metadata.creationTimestamp}`,
    );
  });

  it("refuses an event older than tombstones last, and again when its dead letter is redriven", async () => {
    const sim = new ClusterSimulator();
    const day = 24 * 60 * 60 * 1000;
    const old = sqsRecord("old1", JSON.stringify(sim.addNamespace("ancient")));
    old.attributes.SentTimestamp = String(Date.now() - 24 * day);
    const response = await handler({ Records: [old] }, lambdaContext("ingest"));
    assert.deepEqual(response.batchItemFailures, []);
    const letter = (await receiveDeadLetters()).find((l) => l.source === "old1");
    assert.match(
      letter?.reason ?? "",
      /^too old: sent 576 h ago, longer than deleted objects' tombstones last \(552 h\)/,
    );
    assert.equal(letter?.firstSent, old.attributes.SentTimestamp);

    // An operator redrives it: a new message, sent now, with the attributes the dead letter had.
    const redriven = sqsRecord("old2", letter?.body ?? "", {
      firstSentTimestamp: { stringValue: letter?.firstSent, dataType: "Number" } as SQSMessageAttribute,
    });
    assert.deepEqual((await handler({ Records: [redriven] }, lambdaContext("ingest"))).batchItemFailures, []);
    const again = (await receiveDeadLetters()).filter((l) => l.source?.startsWith("old"));
    assert.deepEqual(
      again.map((l) => l.source),
      ["old2"],
    );
    assert.match(again[0]?.reason ?? "", /^too old: sent 576 h ago/);
  });
});

/** Everything on the dead-letter queue now (deleted as read), with the attributes ingest sets. */
async function receiveDeadLetters(): Promise<
  {
    source: string | undefined;
    index: string | undefined;
    reason: string;
    body: string | undefined;
    firstSent: string | undefined;
  }[]
> {
  const letters = [];
  for (;;) {
    const received = await messaging.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: deadLetterQueueUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ["All"],
      }),
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) return letters;
    for (const m of messages) {
      letters.push({
        source: m.MessageAttributes?.sourceMessageId?.StringValue,
        index: m.MessageAttributes?.index?.StringValue,
        reason: m.MessageAttributes?.reason?.StringValue ?? "",
        body: m.Body,
        firstSent: m.MessageAttributes?.firstSentTimestamp?.StringValue,
      });
      await messaging.sqs.send(
        new DeleteMessageCommand({ QueueUrl: deadLetterQueueUrl, ReceiptHandle: m.ReceiptHandle }),
      );
    }
  }
}
