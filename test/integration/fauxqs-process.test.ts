/**
 * fauxqs in its own process (the live benchmark's emulator): it answers SQS and SNS on the endpoint
 * it reports, and stop() ends the process, so nothing listens there afterwards.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CreateTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { startFauxqs } from "#scripts/local/backends.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";

const clientConfig = (endpoint: string) => ({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "local", secretAccessKey: "local" },
  maxAttempts: 1,
});

describe("fauxqs in a child process", () => {
  it("serves SQS and SNS on its endpoint until stopped", async () => {
    const backend = await startFauxqs(0, { isolated: true });
    const sqs = createSqsClient(clientConfig(backend.endpoint));
    const sns = new SNSClient(clientConfig(backend.endpoint));
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "isolated" }));
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "hello" }));
      const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
      assert.deepEqual(
        received.Messages?.map((message) => message.Body),
        ["hello"],
      );
      const topic = await sns.send(new CreateTopicCommand({ Name: "isolated" }));
      assert.match(topic.TopicArn ?? "", /:isolated$/);
    } finally {
      await backend.stop();
    }
    await assert.rejects(sqs.send(new CreateQueueCommand({ QueueName: "after-stop" })));
    sqs.destroy();
    sns.destroy();
  });
});
