/**
 * How many subscriptions each change topic has, so the fan-out can count deliveries (one publish
 * reaches every subscribed watcher queue): read from GetTopicAttributes at most once per refresh
 * interval per topic, since watchers come and go slowly.
 */
import { GetTopicAttributesCommand, type SNSClient } from "@aws-sdk/client-sns";

export class TopicAudience {
  readonly #sns: SNSClient;
  readonly #refreshMs: number;
  readonly #counts = new Map<string, { subscribers: number; readAtMs: number }>();

  constructor(sns: SNSClient, refreshMs = 60_000) {
    this.#sns = sns;
    this.#refreshMs = refreshMs;
  }

  async subscribers(topicArn: string, nowMs = Date.now()): Promise<number> {
    const cached = this.#counts.get(topicArn);
    if (cached !== undefined && nowMs - cached.readAtMs < this.#refreshMs) return cached.subscribers;
    const attributes = await this.#sns.send(new GetTopicAttributesCommand({ TopicArn: topicArn }));
    const subscribers = Number(attributes.Attributes?.SubscriptionsConfirmed ?? 0);
    this.#counts.set(topicArn, { subscribers, readAtMs: nowMs });
    return subscribers;
  }
}
