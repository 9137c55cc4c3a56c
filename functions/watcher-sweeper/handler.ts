/**
 * The watcher-channel sweeper, a custom resource of the stack (create-handler.ts says what it
 * does). This module wires its production dependencies once per container.
 */

import { SNSClient } from "@aws-sdk/client-sns";
import { createPowertools } from "#functions/commons/powertools.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";
import { createWatcherSweeperHandler } from "./create-handler.ts";

const { logger } = createPowertools(SERVICE_NAMES.watcherSweeper);

export const handler = createWatcherSweeperHandler({
  sqs: createSqsClient(),
  sns: new SNSClient({}),
  logger,
  put: fetch,
});
