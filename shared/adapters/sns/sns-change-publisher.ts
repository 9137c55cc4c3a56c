/**
 * ChangePublisher on SNS: one topic per scope, PublishBatch of up to 10 messages per call.
 */
import { PublishBatchCommand, type PublishBatchRequestEntry, type SNSClient } from "@aws-sdk/client-sns";
import { type ChangePublisher, MAX_MESSAGE_BYTES, messageBody } from "#shared/fanout/change-publisher.ts";
import type { RoutedMessage } from "#shared/fanout/change-routing.ts";

const SNS_BATCH_LIMIT = 10;

/** PublishBatch takes 10 messages and 256 KiB in all: chunks that respect both. */
function publishChunks(bodies: readonly string[]): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let currentBytes = 0;
  for (const body of bodies) {
    const bytes = Buffer.byteLength(body);
    if (
      current.length === SNS_BATCH_LIMIT ||
      (current.length > 0 && currentBytes + bytes > MAX_MESSAGE_BYTES)
    ) {
      chunks.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(body);
    currentBytes += bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export class PublishFailedError extends Error {
  override name = "PublishFailedError";
}

export class SnsChangePublisher implements ChangePublisher {
  readonly #sns: SNSClient;
  readonly #topicArns: Readonly<Record<string, string>>;

  /** `topicArns`: scope -> topic ARN; messages for a scope without a topic are dropped (no subscribers). */
  constructor(sns: SNSClient, topicArns: Readonly<Record<string, string>>) {
    this.#sns = sns;
    this.#topicArns = topicArns;
  }

  async publish(messages: readonly RoutedMessage[]): Promise<{
    published: number;
    bytes: number;
    byTopic: Map<string, { published: number; bytes: number }>;
  }> {
    const byTopic = new Map<string, string[]>();
    for (const { scope, message } of messages) {
      const topicArn = this.#topicArns[scope];
      if (topicArn === undefined) continue;
      byTopic.set(topicArn, [...(byTopic.get(topicArn) ?? []), messageBody(message)]);
    }
    let published = 0;
    let bytes = 0;
    const perTopic = new Map<string, { published: number; bytes: number }>();
    for (const [topicArn, bodies] of byTopic) {
      const topicTotals = { published: 0, bytes: 0 };
      perTopic.set(topicArn, topicTotals);
      for (const chunk of publishChunks(bodies)) {
        const entries: PublishBatchRequestEntry[] = chunk.map((Message, i) => ({ Id: String(i), Message }));
        const result = await this.#sns.send(
          new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: entries }),
        );
        if ((result.Failed ?? []).length > 0) {
          throw new PublishFailedError(
            `${result.Failed?.length} messages not published to ${topicArn}: ${result.Failed?.map((f) => f.Message).join("; ")}`,
          );
        }
        const chunkBytes = entries.reduce((sum, e) => sum + Buffer.byteLength(e.Message ?? ""), 0);
        published += entries.length;
        bytes += chunkBytes;
        topicTotals.published += entries.length;
        topicTotals.bytes += chunkBytes;
      }
    }
    return { published, bytes, byTopic: perTopic };
  }
}
