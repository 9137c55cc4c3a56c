/**
 * node scripts/bench-fleet-client.ts [queues] [messages per queue]
 *
 * What a fleet agent's SQS calls cost its thread: CPU per ReceiveMessage (one message) +
 * DeleteMessageBatch of a 7 KB body, against fauxqs in its own process, with `queues` agents
 * draining their queues at once; the thin client (scripts/bench/fleet-sqs-client.ts) and the SDK's
 * (as `--fleet-client sdk` builds it). Three rounds each; the first warms up.
 */
import { Agent } from "node:http";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { asSqsClient, createFleetSqsClient } from "#scripts/bench/fleet-sqs-client.ts";
import { startFauxqs } from "#scripts/local/backends.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";

const queues = Number(process.argv[2] ?? 100);
const perQueue = Number(process.argv[3] ?? 20);
const config = { region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" } };
const backend = await startFauxqs(0, { isolated: true });
try {
  const setup = createSqsClient({ endpoint: backend.endpoint, ...config });
  const urls: string[] = [];
  for (let i = 0; i < queues; i++)
    urls.push((await setup.send(new CreateQueueCommand({ QueueName: `fleet-client-${i}` }))).QueueUrl ?? "");
  const body = JSON.stringify({ bundle: 1, changes: [{ pad: "x".repeat(7000) }] });
  const fill = () =>
    Promise.all(
      urls.map(async (QueueUrl) => {
        for (let sent = 0; sent < perQueue; sent += 10) {
          const Entries = Array.from({ length: Math.min(10, perQueue - sent) }, (_, j) => ({
            Id: String(j),
            MessageBody: body,
          }));
          await setup.send(new SendMessageBatchCommand({ QueueUrl, Entries }));
        }
      }),
    );
  const drain = async (client: SQSClient) => {
    let messages = 0;
    const cpu = process.threadCpuUsage();
    await Promise.all(
      urls.map(async (QueueUrl) => {
        for (;;) {
          const received = await client.send(
            new ReceiveMessageCommand({
              QueueUrl,
              MaxNumberOfMessages: 1,
              WaitTimeSeconds: 0,
              MessageSystemAttributeNames: ["SentTimestamp"],
            }),
          );
          const batch = received.Messages ?? [];
          if (batch.length === 0) return;
          messages += batch.length;
          await client.send(
            new DeleteMessageBatchCommand({
              QueueUrl,
              Entries: batch.map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle })),
            }),
          );
        }
      }),
    );
    const used = process.threadCpuUsage(cpu);
    return { messages, usPerMessage: Math.round((used.user + used.system) / Math.max(1, messages)) };
  };
  const clients: Record<string, () => { client: SQSClient; destroy: () => void }> = {
    thin: () => {
      const thin = createFleetSqsClient(backend.endpoint, queues + 64);
      return { client: asSqsClient(thin), destroy: () => thin.destroy() };
    },
    sdk: () => {
      const client = createSqsClient({
        endpoint: backend.endpoint,
        ...config,
        requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: queues + 64 }) },
      });
      return { client, destroy: () => client.destroy() };
    },
  };
  for (let round = 1; round <= 3; round++)
    for (const [name, make] of Object.entries(clients)) {
      const { client, destroy } = make();
      await fill();
      const result = await drain(client);
      destroy();
      console.log(
        `round ${round} ${name}: ${result.messages} receives + deletes, ${result.usPerMessage} µs of this thread's CPU each`,
      );
    }
} finally {
  await backend.stop();
}
