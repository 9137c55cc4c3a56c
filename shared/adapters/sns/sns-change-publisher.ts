/**
 * ChangePublisher on SNS: one topic per scope, PublishBatch of up to 10 messages (256 KiB) per call,
 * topics in parallel.
 */
import { PublishBatchCommand, type PublishBatchRequestEntry, type SNSClient } from "@aws-sdk/client-sns";
import {
  type BodiesPublished,
  type ChangePublisher,
  MAX_MESSAGE_BYTES,
  type ScopedBody,
} from "#shared/fanout/change-publisher.ts";

const SNS_BATCH_LIMIT = 10;

/** PublishBatch takes 10 messages and 256 KiB in all: chunks that respect both. */
function publishChunks<T>(items: readonly T[], bytesOf: (item: T) => number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const item of items) {
    const bytes = bytesOf(item);
    if (
      current.length === SNS_BATCH_LIMIT ||
      (current.length > 0 && currentBytes + bytes > MAX_MESSAGE_BYTES)
    ) {
      chunks.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(item);
    currentBytes += bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export class SnsChangePublisher implements ChangePublisher {
  readonly #sns: SNSClient;
  readonly #topicArns: Readonly<Record<string, string>>;

  /** `topicArns`: scope -> topic ARN; messages for a scope without a topic are dropped (no subscribers). */
  constructor(sns: SNSClient, topicArns: Readonly<Record<string, string>>) {
    this.#sns = sns;
    this.#topicArns = topicArns;
  }

  async publishBodies(bodies: readonly ScopedBody[]): Promise<BodiesPublished> {
    const byTopic = new Map<string, number[]>();
    for (const [index, { scope }] of bodies.entries()) {
      const topicArn = this.#topicArns[scope];
      if (topicArn === undefined) continue;
      byTopic.set(topicArn, [...(byTopic.get(topicArn) ?? []), index]);
    }
    const totals = { published: 0, bytes: 0 };
    const perTopic = new Map<string, { published: number; bytes: number }>();
    const failed: number[] = [];
    const errors: string[] = [];
    // Topics in parallel: one invocation publishes to every scope (8 topics with 3 zones), and
    // one PublishBatch after another would add their round trips to every change's latency.
    const publishTopic = async (topicArn: string, indexes: readonly number[]) => {
      const topicTotals = { published: 0, bytes: 0 };
      perTopic.set(topicArn, topicTotals);
      const bodyOf = (index: number) => bodies[index]?.body ?? "";
      for (const chunk of publishChunks(indexes, (index) => Buffer.byteLength(bodyOf(index)))) {
        const entries: PublishBatchRequestEntry[] = chunk.map((index) => ({
          Id: String(index),
          Message: bodyOf(index),
        }));
        let rejected: Set<string>;
        try {
          const result = await this.#sns.send(
            new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: entries }),
          );
          rejected = new Set((result.Failed ?? []).map((f) => f.Id ?? ""));
          for (const f of result.Failed ?? []) errors.push(`${topicArn}: ${f.Code ?? ""} ${f.Message ?? ""}`);
        } catch (error) {
          rejected = new Set(entries.map((e) => e.Id ?? ""));
          errors.push(`${topicArn}: ${(error as Error).message}`);
        }
        for (const index of chunk) {
          if (rejected.has(String(index))) {
            failed.push(index);
            continue;
          }
          const bytes = Buffer.byteLength(bodyOf(index));
          totals.published++;
          totals.bytes += bytes;
          topicTotals.published++;
          topicTotals.bytes += bytes;
        }
      }
    };
    await Promise.all([...byTopic].map(([topicArn, indexes]) => publishTopic(topicArn, indexes)));
    failed.sort((a, b) => a - b);
    return { ...totals, byTopic: perTopic, failed, errors };
  }
}
