/**
 * Where packed batches go: SendMessageBatch on the ingest or the priority queue. Failed entries
 * come back with whether retrying can help (SQS's SenderFault: a malformed or oversized entry
 * never will).
 */
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { PackedBatch } from "./message-packer.ts";

export interface FailedEntry {
  /** Position in the batch's bodies. */
  readonly index: number;
  readonly retryable: boolean;
  readonly reason: string;
}

export interface BatchTransport {
  /** Resolves with the entries SQS refused; throws when the call itself failed (all to retry). */
  send(batch: PackedBatch): Promise<readonly FailedEntry[]>;
}

export interface QueueUrls {
  readonly ingest: string;
  /** Without one, priority events go to the ingest queue. */
  readonly priority?: string | undefined;
}

export class SqsBatchTransport implements BatchTransport {
  readonly #sqs: SQSClient;
  readonly #queues: QueueUrls;

  constructor(sqs: SQSClient, queues: QueueUrls) {
    this.#sqs = sqs;
    this.#queues = queues;
  }

  async send(batch: PackedBatch): Promise<readonly FailedEntry[]> {
    const queueUrl =
      batch.route === "priority" ? (this.#queues.priority ?? this.#queues.ingest) : this.#queues.ingest;
    const result = await this.#sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: batch.bodies.map((body, index) => ({
          Id: String(index),
          MessageBody: body.body,
          MessageAttributes: {
            sourceTimeMs: { DataType: "Number", StringValue: String(body.sourceTimeMs) },
          },
        })),
      }),
    );
    return (result.Failed ?? []).map((failed) => ({
      index: Number(failed.Id),
      retryable: failed.SenderFault !== true,
      reason: `${failed.Code ?? "error"}: ${failed.Message ?? ""}`,
    }));
  }
}
