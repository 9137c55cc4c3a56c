/**
 * The live fleet's thin SQS client against fauxqs: what the watcher agent needs of it (receive with
 * SentTimestamp, batch delete, a gone queue named QueueDoesNotExist as the SDK names it), and the
 * agent itself applying, deleting and recovering through it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { createFleetSqsClient, FleetSqsClientError } from "#scripts/bench/fleet-sqs-client.ts";
import { type FauxqsHandle, startLocalMessaging } from "#test/support/fauxqs.ts";

let messaging: FauxqsHandle;
before(async () => {
  messaging = await startLocalMessaging();
});
after(async () => {
  await messaging.stop();
});

describe("the fleet's SQS client", () => {
  it("receives with SentTimestamp and deletes in a batch, as the SDK would", async () => {
    const { QueueUrl } = await messaging.sqs.send(new CreateQueueCommand({ QueueName: "fleet-client-1" }));
    const sentAt = Date.now();
    await messaging.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: '{"bundle":1}' }));
    const client = createFleetSqsClient(messaging.endpoint, 4);
    try {
      const received = await client.send(
        new ReceiveMessageCommand({
          QueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ["SentTimestamp"],
        }),
      );
      assert.ok("Messages" in received);
      const messages = received.Messages ?? [];
      assert.deepEqual(
        messages.map((message) => message.Body),
        ['{"bundle":1}'],
      );
      const stamp = Number(messages[0]?.Attributes?.SentTimestamp);
      assert.ok(stamp >= sentAt - 1000 && stamp <= Date.now(), String(stamp));
      const deleted = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl,
          Entries: messages.map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle })),
        }),
      );
      assert.ok("Successful" in deleted);
      assert.equal(deleted.Successful?.length, 1);
      const attributes = await messaging.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] }),
      );
      assert.equal(attributes.Attributes?.ApproximateNumberOfMessages, "0");
      assert.equal(attributes.Attributes?.ApproximateNumberOfMessagesNotVisible, "0");
    } finally {
      client.destroy();
    }
  });

  it("names a gone queue's error QueueDoesNotExist and refuses other commands", async () => {
    const { QueueUrl } = await messaging.sqs.send(new CreateQueueCommand({ QueueName: "fleet-client-2" }));
    await messaging.sqs.send(new DeleteQueueCommand({ QueueUrl }));
    const client = createFleetSqsClient(messaging.endpoint, 4);
    try {
      await assert.rejects(client.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 })), {
        name: "QueueDoesNotExist",
      });
      await assert.rejects(
        client.send(new SendMessageCommand({ QueueUrl, MessageBody: "x" }) as never),
        FleetSqsClientError,
      );
    } finally {
      client.destroy();
    }
  });
});
