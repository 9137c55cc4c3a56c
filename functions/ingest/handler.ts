/**
 * Ingest: an SQS batch of Kubernetes watch events in, slices and identities in DynamoDB out.
 * The handler is createIngestHandler (create-handler.ts); this module wires its production
 * dependencies once per container: environment, SDK clients, Powertools, store, engine.
 */

import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { readIngestEnvironment } from "#functions/commons/environment.ts";
import { createPowertools } from "#functions/commons/powertools.ts";
import { HANDLER_REQUEST_TIMEOUTS } from "#shared/adapters/aws/handler-request-timeouts.ts";
import { createDynamoClusterStore } from "#shared/adapters/dynamodb/create-store.ts";
import { CachedIdentityRangeUse } from "#shared/adapters/dynamodb/identity-range-reader.ts";
import { DynamoPipelineCountsRecorder } from "#shared/adapters/dynamodb/pipeline-counts-recorder.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { SqsDeadLetterSink } from "#shared/adapters/sqs/sqs-dead-letters.ts";
import { CachedWatcherCount } from "#shared/adapters/watchers/watcher-count.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { BudgetedWriteGate, rateStepsFor } from "#shared/pipeline/write-budget.ts";
import { createIngestHandler } from "./create-handler.ts";

const { logger, metrics, tracer } = createPowertools(SERVICE_NAMES.ingest);

const environment = readIngestEnvironment();
const { settings } = environment;
const dynamodb = tracer.captureAWSv3Client(
  new DynamoDBClient({ maxAttempts: 8, ...HANDLER_REQUEST_TIMEOUTS }),
);
const documents = DynamoDBDocumentClient.from(dynamodb);
const sqs = tracer.captureAWSv3Client(createSqsClient(HANDLER_REQUEST_TIMEOUTS));

/**
 * The write budget, when SLICELINE_WRITE_BUDGET sets one: scaled down as watchers grow, waiting
 * up to 5 s for room and otherwise handing the commit's messages back to the queue to be coalesced
 * later (a commit too large to ever fit goes in debt instead).
 */
const budgetWatchers =
  environment.writeBudget === undefined
    ? undefined
    : new CachedWatcherCount(documents, environment.writeBudget.watchersTable);
const writeGate =
  environment.writeBudget === undefined || budgetWatchers === undefined
    ? undefined
    : new BudgetedWriteGate({
        steps: rateStepsFor(environment.writeBudget.baseWritesPerSecond),
        watchers: () => budgetWatchers.current(),
        maxWaitMs: 5_000,
      });

/**
 * A batch's namespace groups reconciled at once, in waves of this many: each group's commit is a
 * few sequential round trips (its meta, the zone epoch, its transaction), and one after another
 * they were most of an ingest invocation's time; the groups are independent units. A wave commits
 * together, so the fewer waves a batch takes, the fewer stream polls (fan-out invocations, and
 * deliveries to every watcher) its commits straddle.
 */
const GROUP_CONCURRENCY = 8;

export const handler = createIngestHandler({
  engine: new SliceEngine({
    settings,
    store: createDynamoClusterStore(dynamodb, environment.tables, settings),
    writeGate,
    groupConcurrency: GROUP_CONCURRENCY,
  }),
  deadLetters: new SqsDeadLetterSink(sqs, environment.deadLetterQueueUrl),
  tombstoneRetentionMs: settings.tombstoneRetentionMs,
  budgetWatchers,
  identityRange: new CachedIdentityRangeUse(documents, environment.tables.identitiesTable),
  // The counters /v1/stats serves rates from. Their own client with few retries: the counts are
  // advisory, and a throttled counter item must not hold the batch up.
  pipelineCounts: new DynamoPipelineCountsRecorder({
    documents: DynamoDBDocumentClient.from(
      tracer.captureAWSv3Client(new DynamoDBClient({ maxAttempts: 2, ...HANDLER_REQUEST_TIMEOUTS })),
    ),
    stateTable: environment.tables.stateTable,
  }),
  logger,
  metrics,
  tracer,
});
