/**
 * The watcher-channel sweeper, a custom resource of the stack: on Delete (stack deletion, or a
 * replacement after the queue prefix changed) it removes every watcher queue named with the
 * prefix and its subscriptions to the change topics (shared/adapters/watchers/watcher-channel-sweep.ts),
 * so `cdk destroy` leaves no queue behind. Create and Update do nothing but answer.
 *
 * Properties: QueueNamePrefix, TopicArns (the values the resource was created with, so a
 * replacement sweeps the old prefix). A failed sweep answers FAILED with the reason: the
 * stack's deletion stops there rather than leave queues behind silently.
 */

import { SNSClient } from "@aws-sdk/client-sns";
import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import { createPowertools } from "#functions/commons/powertools.ts";
import { type CustomResourceOutcome, sendResponse } from "#shared/adapters/cloudformation/custom-resource.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { sweepWatcherChannels } from "#shared/adapters/watchers/watcher-channel-sweep.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";

const { logger } = createPowertools(SERVICE_NAMES.watcherSweeper);
const sqs = createSqsClient();
const sns = new SNSClient({});

interface SweeperProperties {
  readonly QueueNamePrefix?: unknown;
  readonly TopicArns?: unknown;
}

async function outcomeOf(event: CloudFormationCustomResourceEvent): Promise<CustomResourceOutcome> {
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

export async function handler(event: CloudFormationCustomResourceEvent): Promise<void> {
  await sendResponse(event, await outcomeOf(event), fetch);
}
