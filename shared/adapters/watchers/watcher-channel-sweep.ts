/**
 * Removes every watcher channel at once: the subscriptions of queues named with the channel prefix
 * on the change topics, then the queues themselves. The API creates these queues at run time, so
 * CloudFormation does not know them; the stack runs this when it is deleted (a custom resource,
 * functions/watcher-sweeper) and `npm run sweep-watchers` runs it by hand.
 *
 * Subscriptions first: once a queue is gone, nothing names its subscriptions but the topic's list.
 * Queues are found by ListQueues with the prefix, so a queue whose registration failed half-way
 * (created, never subscribed or recorded) goes too.
 */
import { ListSubscriptionsByTopicCommand, type SNSClient, UnsubscribeCommand } from "@aws-sdk/client-sns";
import {
  DeleteQueueCommand,
  ListQueuesCommand,
  QueueDoesNotExist,
  type SQSClient,
} from "@aws-sdk/client-sqs";

export interface WatcherChannelSweepTarget {
  readonly sqs: SQSClient;
  readonly sns: SNSClient;
  /** Queues whose name starts with this are watcher channels (the API's watcherQueuePrefix). */
  readonly queueNamePrefix: string;
  /** The change topics watcher queues subscribe to. */
  readonly topicArns: readonly string[];
}

export interface WatcherChannelSweep {
  readonly subscriptionsRemoved: number;
  readonly queuesDeleted: number;
}

export class SweepPrefixError extends Error {
  override name = "SweepPrefixError";
}

/** arn:aws:sqs:<region>:<account>:<name> -> name */
function queueNameOfArn(arn: string): string {
  return arn.slice(arn.lastIndexOf(":") + 1);
}

export async function sweepWatcherChannels(target: WatcherChannelSweepTarget): Promise<WatcherChannelSweep> {
  const { sqs, sns, queueNamePrefix, topicArns } = target;
  // An empty prefix would match every queue of the account and region.
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(queueNamePrefix))
    throw new SweepPrefixError(`refusing to sweep queues with prefix "${queueNamePrefix}"`);
  let subscriptionsRemoved = 0;
  for (const topicArn of topicArns) {
    let nextToken: string | undefined;
    do {
      const page = await sns.send(
        new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: nextToken }),
      );
      for (const subscription of page.Subscriptions ?? []) {
        const arn = subscription.SubscriptionArn;
        if (subscription.Protocol !== "sqs" || arn === undefined || !arn.startsWith("arn:")) continue;
        if (!queueNameOfArn(subscription.Endpoint ?? "").startsWith(queueNamePrefix)) continue;
        await sns.send(new UnsubscribeCommand({ SubscriptionArn: arn }));
        subscriptionsRemoved++;
      }
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
  }
  let queuesDeleted = 0;
  let nextToken: string | undefined;
  do {
    const page = await sqs.send(
      new ListQueuesCommand({ QueueNamePrefix: queueNamePrefix, MaxResults: 1000, NextToken: nextToken }),
    );
    for (const queueUrl of page.QueueUrls ?? []) {
      try {
        await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
        queuesDeleted++;
      } catch (error) {
        if (!(error instanceof QueueDoesNotExist)) throw error;
      }
    }
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return { subscriptionsRemoved, queuesDeleted };
}
