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
  QueueDeletedRecently,
  QueueDoesNotExist,
  QueueNameExists,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import {
  QUEUE_NAME_REUSE_SECONDS,
  WATCHER_QUEUE_RETENTION_SECONDS,
  WatcherBusyError,
  WatcherChannelConflictError,
} from "#shared/api/watcher-registry.ts";

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

/**
 * The node's queue name, injective on node names (RFC 1123 subdomains: [a-z0-9.-]): "." becomes
 * "_", which no node name holds, so `a.b` and `a-b` never share a queue. A name that would pass
 * SQS's 80 characters keeps a readable head and ends in "-H" and 20 hex digits of the exact node
 * name's SHA-256: "H" is upper case, which no short form holds, so long and short forms never meet,
 * and two long forms meet only on an 80-bit hash collision.
 */
export function queueNameFor(prefix: string, node: string): string {
  const name = `${prefix}${node.replaceAll(".", "_")}`;
  if (name.length <= MAX_QUEUE_NAME) return name;
  const digest = createHash("sha256").update(node).digest("hex").slice(0, 20);
  const suffix = `-H${digest}`;
  return `${name.slice(0, MAX_QUEUE_NAME - suffix.length)}${suffix}`;
}

const MAX_QUEUE_NAME = 80;

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

  /**
   * Creates (or reuses) the node's queue and subscribes it to exactly `scopes`. A queue deleted
   * less than 60 s ago is WatcherBusyError; one of the same name with other attributes (a stack
   * update changed the topics) is WatcherChannelConflictError.
   */
  async open(node: string, scopes: readonly string[], previous?: WatcherChannel): Promise<WatcherChannel> {
    for (const scope of scopes) {
      if (this.#topicArns[scope] === undefined)
        throw new UnknownScopeError(`no change topic for scope ${scope}`);
    }
    const queueName = queueNameFor(this.#queuePrefix, node);
    // A channel named by an older naming rule is another queue: retire it whole.
    if (previous !== undefined && previous.queueName !== queueName) {
      await this.close(previous);
      previous = undefined;
    }
    const queueUrl = await this.#createQueue(queueName);
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

  async #createQueue(queueName: string): Promise<string> {
    // All change topics, whatever the scopes: the same attributes on every call keep CreateQueue
    // idempotent when a watcher re-registers with other scopes.
    const topicArns = Object.values(this.#topicArns).sort();
    try {
      const created = await this.#sqs.send(
        new CreateQueueCommand({
          QueueName: queueName,
          Attributes: {
            SqsManagedSseEnabled: "true",
            MessageRetentionPeriod: String(WATCHER_QUEUE_RETENTION_SECONDS),
            Policy: JSON.stringify(queuePolicy(topicArns)),
          },
        }),
      );
      return created.QueueUrl as string;
    } catch (error) {
      if (error instanceof QueueDeletedRecently || sqsErrorIs(error, "QueueDeletedRecently"))
        throw new WatcherBusyError(
          `the watcher's queue ${queueName} was deleted less than ${QUEUE_NAME_REUSE_SECONDS} s ago; SQS refuses its name until then`,
          QUEUE_NAME_REUSE_SECONDS,
        );
      if (error instanceof QueueNameExists || sqsErrorIs(error, "QueueNameExists"))
        throw new WatcherChannelConflictError(
          `a queue named ${queueName} exists with other attributes; deregister the watcher and register again`,
        );
      throw error;
    }
  }

  /** Unsubscribes and deletes the queue; a queue already gone is fine. */
  async close(channel: WatcherChannel): Promise<void> {
    for (const subscriptionArn of Object.values(channel.subscriptions)) {
      try {
        await this.#sns.send(new UnsubscribeCommand({ SubscriptionArn: subscriptionArn }));
      } catch (error) {
        // A sweep that crashed half-way repeats: a subscription already gone is fine.
        if ((error as Error).name !== "NotFoundException" && (error as Error).name !== "NotFound")
          throw error;
      }
    }
    try {
      const { QueueUrl } = await this.#sqs.send(new GetQueueUrlCommand({ QueueName: channel.queueName }));
      await this.#sqs.send(new DeleteQueueCommand({ QueueUrl }));
    } catch (error) {
      if (!(error instanceof QueueDoesNotExist)) throw error;
    }
  }
}

/** An SQS error by code, as the JSON protocol names it or the query protocol ("AWS.SimpleQueueService.<code>"). */
function sqsErrorIs(error: unknown, code: string): boolean {
  const name = (error as Error | undefined)?.name ?? "";
  return name === code || name.endsWith(`.${code}`);
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
