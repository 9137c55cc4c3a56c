/**
 * The watcher-channel sweeper, a custom resource of the stack: on Delete (stack deletion, or a
 * replacement after the queue prefix changed) it removes every watcher queue named with the
 * prefix and its subscriptions to the change topics (shared/adapters/watchers/watcher-channel-sweep.ts),
 * so `cdk destroy` leaves no queue behind. Create and Update do nothing but answer.
 *
 * Properties: QueueNamePrefix, TopicArns (the values the resource was created with, so a
 * replacement sweeps the old prefix). A failed sweep answers FAILED with the reason: the
 * stack's deletion stops there rather than leave queues behind silently.
 *
 * The handler around its dependencies; handler.ts wires the production ones.
 */

import type { Logger } from "@aws-lambda-powertools/logger";
import type { SNSClient } from "@aws-sdk/client-sns";
import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import {
  type CustomResourceOutcome,
  type PutRequest,
  sendResponse,
} from "#shared/adapters/cloudformation/custom-resource.ts";
import type { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { sweepWatcherChannels } from "#shared/adapters/watchers/watcher-channel-sweep.ts";

export interface WatcherSweeperHandlerDeps {
  readonly sqs: ReturnType<typeof createSqsClient>;
  readonly sns: SNSClient;
  readonly logger: Logger;
  /** PUTs the answer to the request's pre-signed ResponseURL (fetch). */
  readonly put: PutRequest;
}

export type WatcherSweeperHandler = (event: CloudFormationCustomResourceEvent) => Promise<void>;

interface SweeperProperties {
  readonly QueueNamePrefix?: unknown;
  readonly TopicArns?: unknown;
}

async function outcomeOf(
  event: CloudFormationCustomResourceEvent,
  deps: WatcherSweeperHandlerDeps,
): Promise<CustomResourceOutcome> {
  const { sqs, sns, logger } = deps;
  const properties = event.ResourceProperties as SweeperProperties;
  const prefix = String(properties.QueueNamePrefix ?? "");
  const physicalResourceId = `watcher-channels:${prefix}`;
  if (event.RequestType !== "Delete")
    return { status: "SUCCESS", reason: "nothing to create", physicalResourceId };
  try {
    const topicArns = Array.isArray(properties.TopicArns) ? properties.TopicArns.map(String) : [];
    const swept = await sweepWatcherChannels({ sqs, sns, queueNamePrefix: prefix, topicArns });
    logger.info("watcher channels swept", { prefix, ...swept });
    return {
      status: "SUCCESS",
      reason: `deleted ${swept.queuesDeleted} queues, ${swept.subscriptionsRemoved} subscriptions`,
      // On Delete, the id CloudFormation knows (the one being deleted).
      physicalResourceId: event.PhysicalResourceId,
      data: { ...swept },
    };
  } catch (error) {
    logger.error("watcher channel sweep failed", { prefix, error: error as Error });
    return {
      status: "FAILED",
      reason: `sweeping watcher queues '${prefix}*' failed (${(error as Error).name}: ${(error as Error).message}); run npm run sweep-watchers, then retry the deletion`,
      physicalResourceId: event.PhysicalResourceId,
    };
  }
}

export function createWatcherSweeperHandler(deps: WatcherSweeperHandlerDeps): WatcherSweeperHandler {
  return async (event) => sendResponse(event, await outcomeOf(event, deps), deps.put);
}
