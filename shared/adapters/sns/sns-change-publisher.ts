/**
 * ChangePublisher on SNS: one topic per scope, PublishBatch of up to 10 messages per call; single
 * change messages (publish) or prepared delivery bundles (publishBodies).
 */
import { PublishBatchCommand, type PublishBatchRequestEntry, type SNSClient } from "@aws-sdk/client-sns";
import { type ChangePublisher, MAX_MESSAGE_BYTES, messageBody } from "#shared/fanout/change-publisher.ts";
import type { RoutedMessage } from "#shared/fanout/change-routing.ts";

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

/** What publishing a set of prepared bodies achieved: totals of what went out, and what did not. */
export interface BodiesPublished {
  readonly published: number;
  readonly bytes: number;
  readonly byTopic: Map<string, { published: number; bytes: number }>;
  /** Indexes (into the input) of bodies not published: rejected entries, or calls that threw. */
  readonly failed: number[];
  readonly errors: string[];
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
      for (const chunk of publishChunks(bodies, (body) => Buffer.byteLength(body))) {
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

  /**
   * Prepared bodies (delivery bundles), each to its scope's topic. Unlike publish() it does not stop
   * at the first failure: every body is attempted and the caller learns which did not go out, so a
   * stream batch can be failed from the earliest record an unpublished body carries.
   */
  async publishBodies(bodies: readonly { scope: string; body: string }[]): Promise<BodiesPublished> {
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
