/**
 * Watcher channels on SQS and SNS: one queue per watcher node, subscribed (raw delivery, no
 * filter policy) to the change topics of the scopes it asked for.
 *
 * Registration subscribes before it answers, so a watcher that lists after registering misses
 * nothing: a change landing between subscription and list shows up in both, and the watcher drops
 * the older copy by resourceVersion.
 */

import { createHash } from "node:crypto";
import { type SNSClient, SubscribeCommand, UnsubscribeCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  type SQSClient,
} from "@aws-sdk/client-sqs";

export interface WatcherChannel {
  readonly queueName: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  /** scope -> subscription ARN */
  readonly subscriptions: Readonly<Record<string, string>>;
}

export class UnknownScopeError extends Error {
  override name = "UnknownScopeError";
}

/** SQS queue names: letters, digits, - and _, at most 80 characters. */
export function queueNameFor(prefix: string, node: string): string {
  const cleaned = node.replace(/[^A-Za-z0-9_-]/g, "-");
  const name = `${prefix}${cleaned}`;
  if (name.length <= 80) return name;
  const digest = createHash("sha256").update(node).digest("hex").slice(0, 10);
  return `${name.slice(0, 80 - 11)}-${digest}`;
}

export class WatcherChannels {
  readonly #sqs: SQSClient;
  readonly #sns: SNSClient;
  readonly #topicArns: Readonly<Record<string, string>>;
  readonly #queuePrefix: string;

  constructor(
    sqs: SQSClient,
    sns: SNSClient,
    topicArns: Readonly<Record<string, string>>,
    queuePrefix: string,
  ) {
    this.#sqs = sqs;
    this.#sns = sns;
    this.#topicArns = topicArns;
    this.#queuePrefix = queuePrefix;
  }

  /** Creates (or reuses) the node's queue and subscribes it to exactly `scopes`. */
  async open(node: string, scopes: readonly string[], previous?: WatcherChannel): Promise<WatcherChannel> {
    for (const scope of scopes) {
      if (this.#topicArns[scope] === undefined)
        throw new UnknownScopeError(`no change topic for scope ${scope}`);
    }
    const queueName = queueNameFor(this.#queuePrefix, node);
    // All change topics, whatever the scopes: the same attributes on every call keep CreateQueue
    // idempotent when a watcher re-registers with other scopes.
    const topicArns = Object.values(this.#topicArns).sort();
    const created = await this.#sqs.send(
      new CreateQueueCommand({
        QueueName: queueName,
        Attributes: {
          SqsManagedSseEnabled: "true",
          MessageRetentionPeriod: String(24 * 3600),
          Policy: JSON.stringify(queuePolicy(topicArns)),
        },
      }),
    );
    const queueUrl = created.QueueUrl as string;
    const attributes = await this.#sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
    );
    const queueArn = attributes.Attributes?.QueueArn as string;
    const subscriptions: Record<string, string> = {};
    for (const scope of scopes) {
      const existing = previous?.subscriptions[scope];
      if (existing !== undefined) {
        subscriptions[scope] = existing;
        continue;
      }
      const subscribed = await this.#sns.send(
        new SubscribeCommand({
          TopicArn: this.#topicArns[scope],
          Protocol: "sqs",
          Endpoint: queueArn,
          Attributes: { RawMessageDelivery: "true" },
          ReturnSubscriptionArn: true,
        }),
      );
      subscriptions[scope] = subscribed.SubscriptionArn as string;
    }
    for (const [scope, subscriptionArn] of Object.entries(previous?.subscriptions ?? {})) {
      if (!scopes.includes(scope))
        await this.#sns.send(new UnsubscribeCommand({ SubscriptionArn: subscriptionArn }));
    }
    return { queueName, queueUrl, queueArn, subscriptions };
  }

  /** Unsubscribes and deletes the queue; a queue already gone is fine. */
  async close(channel: WatcherChannel): Promise<void> {
    for (const subscriptionArn of Object.values(channel.subscriptions)) {
      await this.#sns.send(new UnsubscribeCommand({ SubscriptionArn: subscriptionArn }));
    }
    try {
      const { QueueUrl } = await this.#sqs.send(new GetQueueUrlCommand({ QueueName: channel.queueName }));
      await this.#sqs.send(new DeleteQueueCommand({ QueueUrl }));
    } catch (error) {
      if (!(error instanceof QueueDoesNotExist)) throw error;
    }
  }
}

/** Only the change topics may send to a watcher's queue. */
function queuePolicy(topicArns: readonly string[]) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ChangeTopicsOnly",
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: "*",
        Condition: { ArnEquals: { "aws:SourceArn": topicArns } },
      },
    ],
  };
}
