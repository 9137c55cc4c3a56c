/**
 * The dead-letter sink on SQS: each poison event becomes one message on the ingest DLQ, its body
 * the event as received and its reason in message attributes, so an operator can read why and
 * redrive after fixing the producer. The event's source time and the time its message first
 * entered the pipeline ride along, so a redriven event keeps its age (and is refused when older
 * than tombstones last).
 */
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { DeadLetter, DeadLetterSink } from "#shared/pipeline/ingest-batch.ts";

/** SQS message attributes allow 256 KiB in all; a reason never needs more than this. */
const MAX_REASON_LENGTH = 4096;
const SQS_BATCH_LIMIT = 10;

export class DeadLetterSendError extends Error {
  override name = "DeadLetterSendError";
}

export class SqsDeadLetterSink implements DeadLetterSink {
  readonly #sqs: SQSClient;
  readonly #queueUrl: string;

  constructor(sqs: SQSClient, queueUrl: string) {
    this.#sqs = sqs;
    this.#queueUrl = queueUrl;
  }

  async send(letters: readonly DeadLetter[]): Promise<void> {
    for (let start = 0; start < letters.length; start += SQS_BATCH_LIMIT) {
      const chunk = letters.slice(start, start + SQS_BATCH_LIMIT);
      const result = await this.#sqs.send(
        new SendMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: chunk.map(toEntry) }),
      );
      const failed = result.Failed ?? [];
      if (failed.length > 0) {
        throw new DeadLetterSendError(
          `${failed.length} dead letters not accepted: ${failed.map((f) => `${f.Code}: ${f.Message}`).join("; ")}`,
        );
      }
    }
  }
}

function toEntry(letter: DeadLetter, position: number): SendMessageBatchRequestEntry {
  return {
    Id: String(position),
    MessageBody: letter.body.length > 0 ? letter.body : "(empty body)",
    MessageAttributes: {
      reason: { DataType: "String", StringValue: letter.reason.slice(0, MAX_REASON_LENGTH) },
      sourceMessageId: { DataType: "String", StringValue: letter.sourceMessageId },
      // Read back by ingest if the letter is redriven: the same name producers stamp.
      sourceTimeMs: { DataType: "Number", StringValue: String(letter.sourceTimeMs) },
      firstSentTimestamp: { DataType: "Number", StringValue: String(letter.sentTimeMs) },
      ...(letter.index === undefined
        ? {}
        : { index: { DataType: "Number", StringValue: String(letter.index) } }),
    },
  };
}
