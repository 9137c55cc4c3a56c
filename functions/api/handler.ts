/**
 * The HTTP API function (docs/contract.md §3 and §4): Kubernetes-compatible reads of EndpointSlices,
 * CiliumEndpointSlices and CiliumIdentities from DynamoDB, ipcache, stats, watcher registration.
 * The entries are createApiFunction's (create-function.ts); this module wires their production
 * dependencies once per container: environment, SDK clients, Powertools, reader, watcher registry.
 *
 * The same function sweeps expired watcher registrations when its scheduled rule invokes it with
 * WATCHER_SWEEP_EVENT: it already holds every grant a sweep needs (the watchers table, the queue
 * lifecycle, the subscriptions).
 *
 * Two entries: `handler` behind API Gateway (a watch is a long poll), and `functionUrlHandler`, the
 * same API behind a Lambda function URL with response streaming (a watch streams until the
 * function's time is nearly up): the ApiWatchFunction runs this module with that entry.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { readApiEnvironment } from "#functions/commons/environment.ts";
import { createPowertools } from "#functions/commons/powertools.ts";
import { DynamoChangeLogReader } from "#shared/adapters/dynamodb/change-log-reader.ts";
import { DynamoSliceReader } from "#shared/adapters/dynamodb/slice-reader.ts";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { SERVICE_NAMES } from "#shared/config/service-names.ts";
import { loadContinueTokens } from "./continue-token-key.ts";
import { createApiFunction } from "./create-function.ts";
import { searchDottedPath } from "./create-handler.ts";
import { httpResponseStream, streamifyResponse } from "./lambda-streaming.ts";
import { SecretsManagerSecrets } from "./secret-value.ts";
import { createWatcherRegistry } from "./watcher-registry-factory.ts";

// The stack names each function's service (sliceline-api, sliceline-api-watch) in its environment.
const SERVICE =
  process.env.POWERTOOLS_SERVICE_NAME === SERVICE_NAMES.apiWatch ? SERVICE_NAMES.apiWatch : SERVICE_NAMES.api;

const { logger, metrics, tracer } = createPowertools(SERVICE, { correlationIdSearchFn: searchDottedPath });

const environment = readApiEnvironment();
const documents = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})));

// One key for every container (the stack's secret), read before the first request.
const continueTokens = await loadContinueTokens(
  environment.continueTokenKey,
  () => new SecretsManagerSecrets(tracer.captureAWSv3Client(new SecretsManagerClient({}))),
);

const api = createApiFunction({
  reader: new DynamoSliceReader({
    documents,
    continueTokens,
    slicesTable: environment.slicesTable,
    stateTable: environment.stateTable,
    identitiesTable: environment.identitiesTable,
  }),
  watchers: createWatcherRegistry(environment, {
    documents,
    sqs: () => tracer.captureAWSv3Client(createSqsClient()),
    sns: () => tracer.captureAWSv3Client(new SNSClient({})),
  }),
  // The fan-out's change log, in the state table (docs/watch.md).
  changeLog: new DynamoChangeLogReader({ documents, stateTable: environment.stateTable }),
  logger,
  metrics,
  tracer,
  httpResponseStream,
});

export const handler = api.handler;

/** The same API on a connection that may stay open: the local HTTP API streams watches with it. */
export const streamHandler = api.streamHandler;

/**
 * The function URL's entry (InvokeMode RESPONSE_STREAM): wrapped by the runtime's
 * awslambda.streamifyResponse at load, as the runtime requires (functions/api/lambda-streaming.ts).
 */
export const functionUrlHandler = streamifyResponse(api.functionUrlHandler);
