/**
 * The HTTP API function (docs/contract.md §3 and §4): Kubernetes-compatible reads of EndpointSlices,
 * CiliumEndpointSlices and CiliumIdentities from DynamoDB, ipcache, stats, watcher registration.
 * Everything is built once per container: environment, SDK clients, Powertools, reader, router.
 *
 * The same function sweeps expired watcher registrations when its scheduled rule invokes it with
 * WATCHER_SWEEP_EVENT: it already holds every grant a sweep needs (the watchers table, the queue
 * lifecycle, the subscriptions).
 *
 * Two entries: `handler` behind API Gateway (a watch is a long poll), and `functionUrlHandler`, the
 * same API behind a Lambda function URL with response streaming (a watch streams until the
 * function's time is nearly up): the ApiWatchFunction runs this module with that entry.
 */
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { createPowertools } from "#functions/commons/powertools.ts";
import { DynamoChangeLogReader } from "#shared/adapters/dynamodb/change-log-reader.ts";
import { DynamoSliceReader } from "#shared/adapters/dynamodb/slice-reader.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { createApiRouter } from "#shared/api/router.ts";
import { isWatcherSweepEvent } from "#shared/api/watcher-registry.ts";
import { METRIC } from "#shared/config/metric-names.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";
import { loadContinueTokens } from "./continue-token-key.ts";
import { createApiHandler, createApiStreamHandler, searchDottedPath } from "./create-handler.ts";
import { readApiEnvironment } from "./environment.ts";
import { createFunctionUrlHandler } from "./function-url-handler.ts";
import { httpResponseStream, streamifyResponse } from "./lambda-streaming.ts";
import { SecretsManagerSecrets } from "./secret-value.ts";
import { createWatcherRegistry } from "./watcher-registry-factory.ts";

// The stack names each function's service (sliceline-api, sliceline-api-watch) in its environment.
const SERVICE =
  process.env.POWERTOOLS_SERVICE_NAME === SERVICE_NAMES.apiWatch ? SERVICE_NAMES.apiWatch : SERVICE_NAMES.api;

const { logger, metrics, tracer } = createPowertools(SERVICE, { correlationIdSearchFn: searchDottedPath });

const environment = readApiEnvironment();
const dynamodb = new DynamoDBClient({});
const documents = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(dynamodb));

// One key for every container (the stack's secret), read before the first request.
const continueTokens = await loadContinueTokens(
  process.env,
  () => new SecretsManagerSecrets(tracer.captureAWSv3Client(new SecretsManagerClient({}))),
);

const reader = new DynamoSliceReader({
  documents,
  continueTokens,
  slicesTable: environment.slicesTable,
  stateTable: environment.stateTable,
  identitiesTable: environment.identitiesTable,
});

const watchers = createWatcherRegistry(process.env, {
  documents,
  sqs: () => tracer.captureAWSv3Client(createSqsClient()),
  sns: () => tracer.captureAWSv3Client(new SNSClient({})),
});
if (watchers.problem !== undefined) {
  logger.warn("watcher registry not configured: watcher routes answer 500", { reason: watchers.problem });
}
if (watchers.authorizationProblem !== undefined) {
  logger.warn("watcher authorization not configured: watcher routes answer 403", {
    reason: watchers.authorizationProblem,
  });
}

const router = createApiRouter({
  reader,
  watchers: watchers.registry,
  watcherAuthorization: watchers.authorization,
  onWatcherApplied: (_node, lagMs) =>
    metrics.addMetric(METRIC.watcherAppliedLag, MetricUnit.Milliseconds, Math.max(0, lagMs)),
  // The fan-out's change log, in the state table (docs/watch.md).
  watch: { log: new DynamoChangeLogReader({ documents, stateTable: environment.stateTable }) },
  onError: (error, route) => logger.error("unexpected error", { route, error }),
});

const apiHandler = createApiHandler({ router, logger, tracer, metrics });

/** The same API on a connection that may stay open: the local HTTP API streams watches with it. */
export const streamHandler = createApiStreamHandler({ router, logger });

/**
 * The function URL's entry (InvokeMode RESPONSE_STREAM): wrapped by the runtime's
 * awslambda.streamifyResponse at load, as the runtime requires (functions/api/lambda-streaming.ts).
 */
export const functionUrlHandler = streamifyResponse(
  createFunctionUrlHandler({ router, logger, metrics, httpResponseStream }),
);

async function sweepWatchers(): Promise<{ swept: number }> {
  if (watchers.registry === undefined) return { swept: 0 };
  const swept = await watchers.registry.sweepExpired();
  metrics.addMetric(METRIC.watchersExpired, MetricUnit.Count, swept);
  metrics.publishStoredMetrics();
  if (swept > 0) logger.info("expired watchers removed", { swept });
  return { swept };
}

export const handler = (event: APIGatewayProxyEventV2, context: Context) =>
  isWatcherSweepEvent(event) ? sweepWatchers() : apiHandler(event, context);
