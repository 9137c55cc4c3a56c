/**
 * The local runner: the whole pipeline on one machine, built from the synthesized CDK template.
 *
 *   backends     DynamoDB Local + fauxqs on 127.0.0.1 (or given endpoints: another runner's, LocalStack)
 *   resources    the template's AWS::SQS::Queue, AWS::DynamoDB::Table, AWS::SNS::Topic
 *   functions    the real handlers, imported in-process with the environment of their
 *                AWS::Lambda::Function (Ref / GetAtt / Join / Sub resolved to local values)
 *   event sources one emulated mapping per AWS::Lambda::EventSourceMapping (SQS or DynamoDB Streams)
 *   HTTP API     127.0.0.1, routes of the AWS::ApiGatewayV2::Route resources, payload 2.0 events
 *   function URL 127.0.0.1, one per AWS::Lambda::Url with InvokeMode RESPONSE_STREAM: the function's
 *                streaming export (its template Handler) under a shim of the runtime's `awslambda`
 *   TTL          a sweeper for the tables whose TimeToLiveSpecification is enabled
 *   schedules    the template's rate() AWS::Events::Rule resources invoke their function targets
 *
 * startLocalRunner runs these in phases, one function each: read the template, start the backends,
 * create the resources, load the functions, wire the event sources, serve the HTTP API and the
 * function URLs, start the TTL sweeper and the schedules, describe the run; the runner it returns
 * stops them in reverse.
 *
 * IAM is not emulated: the runner synthesizes with `watcherAuthorization=none` unless the context
 * says otherwise; with `-c watcherAuthorization=principal` the local HTTP API takes the caller's
 * principal from the LOCAL_CALLER_HEADER request header (docs/aws.md "Watcher authorization").
 *
 * Handlers reach the backends only through AWS_ENDPOINT_URL_DYNAMODB / _DYNAMODB_STREAMS / _SQS /
 * _SNS, set here before they are imported (they read their environment at module load, so one
 * process holds one set of handlers: a second runner in the same process must use the same
 * template and endpoints, as a restart on the same backends does).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import { SNSClient } from "@aws-sdk/client-sns";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Context } from "aws-lambda";
import { createSqsClient } from "#shared/adapters/sqs/sqs-client.ts";
import { ENV, LOGICAL_IDS } from "#shared/config/resources.ts";
import { type Backend, startDynamoDbLocal, startFauxqs } from "./backends.ts";
import { type ApiHandler, type ApiStreamHandler, type HttpApiServer, startHttpApi } from "./http-api.ts";
import { installLambdaStreamingShim, isStreamified, startFunctionUrl } from "./lambda-streaming-shim.ts";
import { LOCAL_ACCOUNT, LOCAL_REGION, type Provisioned, provision } from "./provision.ts";
import { type ScheduledHandler, ScheduledRule, scheduledRules } from "./scheduled-rules.ts";
import { type SqsDeliveryFaults, SqsEventSource, type SqsHandler, sleep } from "./sqs-event-source.ts";
import { type StreamDeliveryFaults, StreamEventSource, type StreamHandler } from "./stream-event-source.ts";
import { type LoadedTemplate, loadTemplate, resourcesOfType, type TemplateResource } from "./template.ts";
import { TtlSweeper } from "./ttl-sweeper.ts";

/**
 * The in-process module of each function of the template, by logical id; the export it runs is the
 * one the template's Handler names (`index.<export>`).
 */
export const FUNCTION_MODULES: Readonly<Record<string, string>> = {
  [LOGICAL_IDS.ingestFunction]: "#functions/ingest/handler.ts",
  [LOGICAL_IDS.fanoutFunction]: "#functions/fanout/handler.ts",
  [LOGICAL_IDS.apiFunction]: "#functions/api/handler.ts",
  [LOGICAL_IDS.apiWatchFunction]: "#functions/api/handler.ts",
};

/**
 * The continue-token key of a local run: the one this process already uses (a runner restarted in
 * the same process keeps its handlers, so it keeps their key), else the caller's
 * SLICELINE_CONTINUE_TOKEN_KEY, else a random one.
 */
function localContinueTokenKey(): string {
  return process.env[ENV.continueTokenKey] || randomBytes(32).toString("base64url");
}

/** Variables a function's template environment sets that mean nothing in-process. */
const IGNORED_VARIABLES = new Set(["NODE_OPTIONS", "POWERTOOLS_SERVICE_NAME"]);

export interface LocalRunnerOptions {
  /** 0 (default): a free port. */
  readonly apiPort?: number;
  /** The watch function URL's port; 0 (default): a free port. */
  readonly watchPort?: number;
  readonly dynamodbPort?: number;
  readonly sqsPort?: number;
  /** Use these backends instead of starting DynamoDB Local / fauxqs (SQS and SNS share one endpoint). */
  readonly dynamodbEndpoint?: string;
  readonly sqsEndpoint?: string;
  readonly snsEndpoint?: string;
  /** Read the template from this cdk.out instead of synthesizing the app. */
  readonly cdkOut?: string;
  /** CDK context for the in-process synth (e.g. { ingestTimeoutSeconds: 1 }). */
  readonly context?: Record<string, unknown>;
  /** Where an in-process synth writes its cloud assembly (default: a temporary directory). */
  readonly outdir?: string;
  /** Upper bound on pollers per SQS mapping (the template's MaximumConcurrency is used below it). */
  readonly maxPollersPerQueue?: number;
  /** Powertools log level of the handlers (default WARN; tests: SILENT). */
  readonly logLevel?: string;
  readonly ttlSweepIntervalMs?: number;
  /** Run every scheduled rule at this interval instead of its rate (tests); 0: only on fire(). */
  readonly scheduleIntervalMs?: number;
  readonly log?: (line: string) => void;
  /** Test hook: wraps a function's handler (fault injection, pausing mid-batch); not a streaming one. */
  readonly wrapHandler?: (logicalId: string, handler: (...args: never[]) => Promise<unknown>) => unknown;
  /** Test hooks (the fault suite): seeded reordering and duplicate deliveries of the event sources. */
  readonly deliveryFaults?: { readonly sqs?: SqsDeliveryFaults; readonly stream?: StreamDeliveryFaults };
}

/** Where a running pipeline is (docs/contract.md §5): what the local runner and a deployed stack both describe. */
export interface PipelineEndpoints {
  readonly api: string;
  /** The streaming watch function URL (docs/watch.md), when the pipeline has one. */
  readonly watchUrl?: string;
  readonly region: string;
  readonly sqs: {
    readonly endpoint: string;
    readonly ingestQueueUrl: string;
    readonly priorityIngestQueueUrl?: string;
    readonly deadLetterQueueUrl?: string;
    readonly fanoutFailureQueueUrl?: string;
    readonly queues: Record<string, string>;
  };
  readonly sns: { readonly endpoint: string; readonly topics: Record<string, string> };
  readonly dynamodb: {
    readonly endpoint: string;
    readonly tables: Record<string, string>;
    readonly streams: Record<string, string>;
  };
}

export interface LocalConfig extends PipelineEndpoints {
  readonly template: string;
  readonly pid: number;
  readonly startedAt: string;
}

export interface Counters {
  ingestInvocations: number;
  ingestFailedMessages: number;
  fanoutInvocations: number;
  fanoutFailedBatches: number;
  fanoutFailuresSent: number;
  apiRequests: number;
  functionUrlRequests: number;
}

export interface LocalRunner {
  readonly config: LocalConfig;
  readonly template: LoadedTemplate;
  readonly resources: Provisioned;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  readonly sqsSources: readonly SqsEventSource[];
  readonly streamSources: readonly StreamEventSource[];
  readonly sweeper: TtlSweeper;
  /** The template's scheduled rules (the watcher sweep); `fire()` runs one now. */
  readonly schedules: readonly ScheduledRule[];
  readonly counters: Counters;
  /** Resolves once nothing is in flight, the polled queues are empty and the streams drained. */
  whenIdle(options?: { timeoutMs?: number }): Promise<void>;
  /** Producer-style: SendMessageBatch of {"events": [...]} bodies, `perMessage` events each. */
  sendEvents(queueUrl: string, events: readonly unknown[], perMessage?: number): Promise<number>;
  writeConfig(path: string): void;
  /**
   * Stops pollers, the HTTP server, the sweeper, then the backends this runner started (unless
   * keepBackends). In-flight invocations are abandoned: their messages come back after the
   * visibility timeout.
   */
  stop(options?: { keepBackends?: boolean }): Promise<void>;
  /** The backends this runner started (to hand to the next runner after stop({ keepBackends })). */
  readonly backends: { dynamodb?: Backend; sqs?: Backend };
}

export async function startLocalRunner(options: LocalRunnerOptions = {}): Promise<LocalRunner> {
  const log = options.log ?? (() => {});
  const backends = new StartedBackends();
  try {
    const templatePromise = readTemplate(options);
    const endpoints = await startBackends(options, backends, log);
    const template = await templatePromise;
    log(`template: ${template.source} (stack ${template.stackName})`);
    const clients = createClients();
    const resources = await createResources(template, clients, log);
    const functions = await loadFunctions(template, resources, options, log);
    const counters = newCounters();
    const sources = wireEventSources(template, resources, functions, clients, counters, options, log);
    const api = await serveHttpApi(template, functions, counters, options, log);
    const functionUrls = await serveFunctionUrls(template, functions, counters, options, log).catch(
      async (error: unknown) => {
        await api.stop();
        throw error;
      },
    );
    const sweeper = startTtlSweeper(template, resources, clients.dynamodb, options);
    const schedules = startSchedules(template, functions, options, log);
    for (const source of sources.sqsSources) source.start();
    for (const source of sources.streamSources) source.start();
    const config = describeRun(template, resources, endpoints, api, functionUrls);
    return runnerOf({
      config,
      template,
      resources,
      clients,
      sources,
      sweeper,
      schedules,
      counters,
      backends,
      stopServers: async () => {
        await api.stop();
        for (const server of functionUrls.values()) await server.stop();
      },
    });
  } catch (error) {
    await backends.stop();
    throw error;
  }
}

/** The backends this runner started, stopped in reverse order. */
class StartedBackends {
  dynamodb: Backend | undefined;
  sqs: Backend | undefined;
  readonly #started: Backend[] = [];

  add(kind: "dynamodb" | "sqs", backend: Backend): void {
    this[kind] = backend;
    this.#started.push(backend);
  }

  get any(): boolean {
    return this.#started.length > 0;
  }

  async stop(): Promise<void> {
    for (const backend of this.#started.reverse()) await backend.stop().catch(() => {});
  }
}

interface Endpoints {
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
  readonly snsEndpoint: string;
}

interface Clients {
  readonly sqs: SQSClient;
  readonly sns: SNSClient;
  readonly dynamodb: DynamoDBClient;
  readonly streams: DynamoDBStreamsClient;
}

/** The template's functions, imported in-process: what each runs and how long it may. */
interface LoadedFunctions {
  readonly functions: Array<[string, TemplateResource]>;
  readonly handlers: Map<string, unknown>;
  /** A module's streaming entry, when it has one (the API's: watches stream locally). */
  readonly streamHandlers: Map<string, ApiStreamHandler>;
  readonly timeouts: Map<string, number>;
  readonly contextFor: (id: string) => () => Context;
}

interface EventSources {
  readonly sqsSources: SqsEventSource[];
  readonly streamSources: StreamEventSource[];
}

/** Phase 1: the template, from cdk.out or synthesized in-process (started, not awaited). */
function readTemplate(options: LocalRunnerOptions): Promise<LoadedTemplate> {
  return loadTemplate({
    ...(options.cdkOut === undefined ? {} : { cdkOut: options.cdkOut }),
    // No IAM locally: watcher routes are open unless the caller asks for principal mode.
    context: { watcherAuthorization: "none", ...options.context },
    ...(options.outdir === undefined ? {} : { outdir: options.outdir }),
  });
}

/** Phase 2: DynamoDB Local and fauxqs, unless given endpoints; the SDK pointed at them. */
async function startBackends(
  options: LocalRunnerOptions,
  backends: StartedBackends,
  log: (line: string) => void,
): Promise<Endpoints> {
  if (options.dynamodbEndpoint === undefined) {
    backends.add("dynamodb", await startDynamoDbLocal(options.dynamodbPort ?? 0));
    log(`DynamoDB Local on ${(backends.dynamodb as Backend).endpoint}`);
  }
  if (options.sqsEndpoint === undefined) {
    backends.add("sqs", await startFauxqs(options.sqsPort ?? 0));
    log(`fauxqs (SQS + SNS) on ${(backends.sqs as Backend).endpoint}`);
  }
  const dynamodbEndpoint = options.dynamodbEndpoint ?? (backends.dynamodb as Backend).endpoint;
  const sqsEndpoint = options.sqsEndpoint ?? (backends.sqs as Backend).endpoint;
  const snsEndpoint = options.snsEndpoint ?? sqsEndpoint;
  const endpoints = { dynamodbEndpoint, sqsEndpoint, snsEndpoint };
  setSdkEnvironment(endpoints, backends.any);
  return endpoints;
}

function createClients(): Clients {
  return {
    sqs: createSqsClient(),
    sns: new SNSClient({}),
    dynamodb: new DynamoDBClient({}),
    streams: new DynamoDBStreamsClient({}),
  };
}

/** Phase 3: the template's queues, tables and topics. */
async function createResources(
  template: LoadedTemplate,
  clients: Clients,
  log: (line: string) => void,
): Promise<Provisioned> {
  const resources = await provision(template, clients);
  log(
    `created from the template: ${resources.queues.size} queues, ${resources.tables.size} tables, ${resources.topics.size} topics`,
  );
  return resources;
}

/** Phase 4: each function's environment set, then its module imported (it reads it at load). */
async function loadFunctions(
  template: LoadedTemplate,
  resources: Provisioned,
  options: LocalRunnerOptions,
  log: (line: string) => void,
): Promise<LoadedFunctions> {
  const functions = resourcesOfType(template.template, "AWS::Lambda::Function");
  setFunctionEnvironment(functions, resources, options);
  const handlers = new Map<string, unknown>();
  const streamHandlers = new Map<string, ApiStreamHandler>();
  const timeouts = new Map<string, number>();
  // Response-streaming exports call awslambda.streamifyResponse when their module loads.
  installLambdaStreamingShim();
  for (const [id, resource] of functions) {
    const module = FUNCTION_MODULES[id];
    if (module === undefined) {
      log(`function ${id}: no local module, not run`);
      continue;
    }
    const imported = (await import(module)) as Record<string, unknown> & {
      streamHandler?: ApiStreamHandler;
    };
    const exportName = handlerExport(id, resource);
    const handler = imported[exportName] as ((...args: never[]) => Promise<unknown>) | undefined;
    if (typeof handler !== "function") throw new Error(`${id}: ${module} exports no ${exportName}`);
    // A streaming export keeps the runtime's calling convention: hooks do not wrap it.
    handlers.set(id, isStreamified(handler) ? handler : (options.wrapHandler?.(id, handler) ?? handler));
    if (imported.streamHandler !== undefined) streamHandlers.set(id, imported.streamHandler);
    timeouts.set(id, Number(resource.Properties?.Timeout ?? 3));
  }
  const functionName = (id: string) => `${template.stackName}-${id}`;
  const contextFor = (id: string) => () => lambdaContext(functionName(id), timeouts.get(id) ?? 3);
  return { functions, handlers, streamHandlers, timeouts, contextFor };
}

/** Each function's environment, resolved; the handlers share one process.env. */
function setFunctionEnvironment(
  functions: Array<[string, TemplateResource]>,
  resources: Provisioned,
  options: LocalRunnerOptions,
): void {
  const merged = new Map<string, { value: string; from: string }>();
  for (const [id, resource] of functions) {
    const variables = (resource.Properties?.Environment as { Variables?: Record<string, unknown> })
      ?.Variables;
    for (const [name, raw] of Object.entries(variables ?? {})) {
      if (IGNORED_VARIABLES.has(name)) continue;
      if (name === ENV.continueTokenKeySecret) {
        // Secrets Manager is not emulated: the API gets the key itself instead of the secret's ARN.
        merged.set(ENV.continueTokenKey, { value: localContinueTokenKey(), from: id });
        continue;
      }
      const value = resources.resolver.resolveString(raw, `${id}.Environment.${name}`);
      const previous = merged.get(name);
      if (previous !== undefined && previous.value !== value)
        throw new Error(`${name} differs between ${previous.from} and ${id}: cannot run both in one process`);
      merged.set(name, { value, from: id });
    }
  }
  for (const [name, { value }] of merged) process.env[name] = value;
  process.env.POWERTOOLS_TRACE_ENABLED = "false";
  // With tracing off, the X-Ray SDK (loaded by Powertools' Tracer) would still enable its
  // continuation-local storage as it loads: an async hook with destroy tracking on every promise of
  // this process (handlers, event sources, HTTP API, the benchmark's proxies), for segments never
  // recorded. Manual mode loads it without the hook; set before the handlers' modules are imported.
  process.env.AWS_XRAY_MANUAL_MODE ??= "true";
  process.env.POWERTOOLS_METRICS_DISABLED = "true";
  process.env.POWERTOOLS_LOG_LEVEL = options.logLevel ?? "WARN";
  process.env.AWS_LAMBDA_LOG_LEVEL = options.logLevel === "SILENT" ? "FATAL" : "WARN";
}

function newCounters(): Counters {
  return {
    ingestInvocations: 0,
    ingestFailedMessages: 0,
    fanoutInvocations: 0,
    fanoutFailedBatches: 0,
    fanoutFailuresSent: 0,
    apiRequests: 0,
    functionUrlRequests: 0,
  };
}

/** Phase 5: one emulated mapping per AWS::Lambda::EventSourceMapping (created, not started). */
function wireEventSources(
  template: LoadedTemplate,
  resources: Provisioned,
  loaded: LoadedFunctions,
  clients: Clients,
  counters: Counters,
  options: LocalRunnerOptions,
  log: (line: string) => void,
): EventSources {
  const sources: EventSources = { sqsSources: [], streamSources: [] };
  for (const [id, resource] of resourcesOfType(template.template, "AWS::Lambda::EventSourceMapping")) {
    const mapping = resource.Properties ?? {};
    if (mapping.Enabled === false) continue;
    const target = functionOf(mapping, loaded.functions);
    const handler = loaded.handlers.get(target);
    if (handler === undefined) throw new Error(`${id}: function ${target} is not run locally`);
    if (mapping.FilterCriteria !== undefined) throw new Error(`${id}: FilterCriteria is not emulated`);
    const sourceArn = resources.resolver.resolveString(mapping.EventSourceArn, `${id}.EventSourceArn`);
    const mappingOf = { id, mapping, target, handler, sourceArn };
    const queue = resources.queueByArn(sourceArn);
    if (queue !== undefined)
      sources.sqsSources.push(sqsEventSource(mappingOf, queue, loaded, clients, counters, options, log));
    else
      sources.streamSources.push(
        streamEventSource(mappingOf, resources, loaded, clients, counters, options, log),
      );
  }
  return sources;
}

/** An event source mapping as read from the template. */
interface MappingOf {
  readonly id: string;
  readonly mapping: Record<string, unknown>;
  readonly target: string;
  readonly handler: unknown;
  readonly sourceArn: string;
}

function responseTypesOf(mapping: Record<string, unknown>): string[] {
  return (mapping.FunctionResponseTypes as string[] | undefined) ?? [];
}

function sqsEventSource(
  { mapping, target, handler }: MappingOf,
  queue: NonNullable<ReturnType<Provisioned["queueByArn"]>>,
  loaded: LoadedFunctions,
  clients: Clients,
  counters: Counters,
  options: LocalRunnerOptions,
  log: (line: string) => void,
): SqsEventSource {
  const maximumConcurrency =
    (mapping.ScalingConfig as { MaximumConcurrency?: number } | undefined)?.MaximumConcurrency ?? 1000;
  return new SqsEventSource({
    name: `${target} <- ${queue.logicalId}`,
    sqs: clients.sqs,
    region: LOCAL_REGION,
    handler: handler as SqsHandler,
    context: loaded.contextFor(target),
    settings: {
      queueUrl: queue.url,
      queueArn: queue.arn,
      batchSize: Number(mapping.BatchSize ?? 10),
      maximumBatchingWindowInSeconds: Number(mapping.MaximumBatchingWindowInSeconds ?? 0),
      reportBatchItemFailures: responseTypesOf(mapping).includes("ReportBatchItemFailures"),
      maximumConcurrency: Math.min(maximumConcurrency, options.maxPollersPerQueue ?? maximumConcurrency),
    },
    onInvocation: (report) => {
      counters.ingestInvocations++;
      counters.ingestFailedMessages += report.failed;
      if (report.error !== undefined) log(`${target} <- ${queue.logicalId}: ${String(report.error)}`);
    },
    ...(options.deliveryFaults?.sqs === undefined ? {} : { deliveryFaults: options.deliveryFaults.sqs }),
  });
}

function streamEventSource(
  { id, mapping, target, handler, sourceArn }: MappingOf,
  resources: Provisioned,
  loaded: LoadedFunctions,
  clients: Clients,
  counters: Counters,
  options: LocalRunnerOptions,
  log: (line: string) => void,
): StreamEventSource {
  const table = [...resources.tables.values()].find((t) => t.streamArn === sourceArn);
  if (table === undefined) throw new Error(`${id}: event source ${sourceArn} is no local queue or stream`);
  const position = String(mapping.StartingPosition ?? "TRIM_HORIZON");
  if (position !== "TRIM_HORIZON") log(`${id}: StartingPosition ${position} read as TRIM_HORIZON`);
  if (Number(mapping.ParallelizationFactor ?? 1) > 1)
    log(`${id}: ParallelizationFactor ${String(mapping.ParallelizationFactor)} runs as 1`);
  const destination = (mapping.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)
    ?.OnFailure?.Destination;
  const destinationArn =
    destination === undefined
      ? undefined
      : resources.resolver.resolveString(destination, `${id}.DestinationConfig`);
  const failureQueue = destinationArn === undefined ? undefined : resources.queueByArn(destinationArn);
  if (destinationArn !== undefined && failureQueue === undefined)
    throw new Error(`${id}: on-failure destination ${destinationArn} is not a local queue`);
  return new StreamEventSource({
    name: `${target} <- ${table.logicalId} stream`,
    streams: clients.streams,
    sqs: clients.sqs,
    region: LOCAL_REGION,
    handler: handler as StreamHandler,
    context: loaded.contextFor(target),
    settings: {
      streamArn: sourceArn,
      batchSize: Number(mapping.BatchSize ?? 100),
      maximumBatchingWindowInSeconds: Number(mapping.MaximumBatchingWindowInSeconds ?? 0),
      bisectBatchOnFunctionError: mapping.BisectBatchOnFunctionError === true,
      maximumRetryAttempts: Number(mapping.MaximumRetryAttempts ?? -1),
      maximumRecordAgeInSeconds: Number(mapping.MaximumRecordAgeInSeconds ?? -1),
      reportBatchItemFailures: responseTypesOf(mapping).includes("ReportBatchItemFailures"),
      onFailureQueueUrl: failureQueue?.url,
      functionArn: resources.resolver.resolveString({ "Fn::GetAtt": [target, "Arn"] }),
    },
    onInvocation: (report) => {
      if (report.records > 0) counters.fanoutInvocations++;
      if (report.failed) counters.fanoutFailedBatches++;
      if (report.error !== undefined) log(`${target} stream: ${String(report.error)}`);
    },
    onFailure: () => {
      counters.fanoutFailuresSent++;
    },
    onPollError: (error) => log(`${table.logicalId} stream: ${String(error)}`),
    ...(options.deliveryFaults?.stream === undefined
      ? {}
      : { deliveryFaults: options.deliveryFaults.stream }),
  });
}

/** Phase 6a: the HTTP API; the function its integration targets is the API function, routes from the template. */
async function serveHttpApi(
  template: LoadedTemplate,
  loaded: LoadedFunctions,
  counters: Counters,
  options: LocalRunnerOptions,
  log: (line: string) => void,
): Promise<HttpApiServer> {
  const routeKeys = resourcesOfType(template.template, "AWS::ApiGatewayV2::Route").map(([, route]) =>
    String(route.Properties?.RouteKey),
  );
  const apiHandler = loaded.handlers.get(LOGICAL_IDS.apiFunction) as ApiHandler | undefined;
  if (apiHandler === undefined) throw new Error(`${LOGICAL_IDS.apiFunction}: not in the template`);
  const api = await startHttpApi({
    port: options.apiPort ?? 0,
    routeKeys,
    handler: async (event, context) => {
      counters.apiRequests++;
      return apiHandler(event, context);
    },
    streamHandler: loaded.streamHandlers.get(LOGICAL_IDS.apiFunction),
    context: loaded.contextFor(LOGICAL_IDS.apiFunction),
    apiId: "local",
  });
  log(`HTTP API on ${api.url} (${routeKeys.length} routes)`);
  return api;
}

/** Phase 6b: function URLs, the function's export the template names behind a local URL each. */
async function serveFunctionUrls(
  template: LoadedTemplate,
  loaded: LoadedFunctions,
  counters: Counters,
  options: LocalRunnerOptions,
  log: (line: string) => void,
): Promise<Map<string, HttpApiServer>> {
  const functionUrls = new Map<string, HttpApiServer>();
  try {
    for (const [id, resource] of resourcesOfType(template.template, "AWS::Lambda::Url")) {
      const target = functionOf({ FunctionName: resource.Properties?.TargetFunctionArn }, loaded.functions);
      const invokeMode = String(resource.Properties?.InvokeMode ?? "BUFFERED");
      if (invokeMode !== "RESPONSE_STREAM") {
        log(`function URL ${id}: InvokeMode ${invokeMode} is not emulated, not served`);
        continue;
      }
      const handler = loaded.handlers.get(target);
      if (!isStreamified(handler))
        throw new Error(
          `${id}: InvokeMode RESPONSE_STREAM, but ${target}'s handler is not wrapped in awslambda.streamifyResponse` +
            " (was its module imported before the runner installed the shim?)",
        );
      const server = await startFunctionUrl({
        port: id === LOGICAL_IDS.watchFunctionUrl ? (options.watchPort ?? 0) : 0,
        handler,
        context: loaded.contextFor(target),
        timeoutMs: (loaded.timeouts.get(target) ?? 3) * 1000,
        urlId: id.toLowerCase(),
        log,
        onRequest: () => {
          counters.functionUrlRequests++;
        },
      });
      functionUrls.set(id, server);
      log(
        `function URL ${id} (${target}, ${String(resource.Properties?.AuthType)} not enforced) on ${server.url}`,
      );
    }
  } catch (error) {
    for (const server of functionUrls.values()) await server.stop();
    throw error;
  }
  return functionUrls;
}

/** Phase 7a: the TTL sweeper, for the tables whose TimeToLiveSpecification is enabled. */
function startTtlSweeper(
  template: LoadedTemplate,
  resources: Provisioned,
  dynamodb: DynamoDBClient,
  options: LocalRunnerOptions,
): TtlSweeper {
  const sweeper = new TtlSweeper(
    dynamodb,
    [...resources.tables.values()].flatMap((table) => {
      if (table.timeToLiveAttribute === undefined) return [];
      const keySchema = (template.template.Resources[table.logicalId]?.Properties?.KeySchema ?? []) as Array<{
        AttributeName: string;
      }>;
      return [
        {
          name: table.name,
          timeToLiveAttribute: table.timeToLiveAttribute,
          keyAttributes: keySchema.map((key) => key.AttributeName),
        },
      ];
    }),
  );
  sweeper.start(options.ttlSweepIntervalMs ?? 60_000);
  return sweeper;
}

/** Phase 7b: the template's rate() rules invoke their function targets. */
function startSchedules(
  template: LoadedTemplate,
  loaded: LoadedFunctions,
  options: LocalRunnerOptions,
  log: (line: string) => void,
): ScheduledRule[] {
  const schedules = scheduledRules(template.template).map(
    (definition) =>
      new ScheduledRule(
        definition,
        loaded.handlers as Map<string, ScheduledHandler>,
        (id) => loaded.contextFor(id)(),
        (error) => log(`schedule ${definition.logicalId}: ${String(error)}`),
      ),
  );
  for (const schedule of schedules)
    if (options.scheduleIntervalMs !== 0) schedule.start(options.scheduleIntervalMs);
  return schedules;
}

/** Phase 8: where the running pipeline is (docs/contract.md §5). */
function describeRun(
  template: LoadedTemplate,
  resources: Provisioned,
  endpoints: Endpoints,
  api: HttpApiServer,
  functionUrls: ReadonlyMap<string, HttpApiServer>,
): LocalConfig {
  const queueUrl = (id: string) => resources.queues.get(id)?.url;
  const ingestQueueUrl = queueUrl(LOGICAL_IDS.ingestQueue);
  if (ingestQueueUrl === undefined) throw new Error(`${LOGICAL_IDS.ingestQueue}: not in the template`);
  const watchUrl = functionUrls.get(LOGICAL_IDS.watchFunctionUrl)?.url;
  return {
    api: api.url,
    ...(watchUrl === undefined ? {} : { watchUrl }),
    region: LOCAL_REGION,
    sqs: {
      endpoint: endpoints.sqsEndpoint,
      ingestQueueUrl,
      priorityIngestQueueUrl: queueUrl(LOGICAL_IDS.priorityIngestQueue),
      deadLetterQueueUrl: queueUrl(LOGICAL_IDS.deadLetterQueue),
      fanoutFailureQueueUrl: queueUrl(LOGICAL_IDS.fanoutFailureQueue),
      queues: Object.fromEntries([...resources.queues].map(([id, queue]) => [id, queue.url])),
    },
    sns: {
      endpoint: endpoints.snsEndpoint,
      topics: Object.fromEntries([...resources.topics].map(([id, topic]) => [id, topic.arn])),
    },
    dynamodb: {
      endpoint: endpoints.dynamodbEndpoint,
      tables: Object.fromEntries([...resources.tables].map(([id, table]) => [id, table.name])),
      streams: Object.fromEntries(
        [...resources.tables].flatMap(([id, table]) =>
          table.streamArn === undefined ? [] : [[id, table.streamArn]],
        ),
      ),
    },
    template: template.source,
    pid: process.pid,
    startedAt: new Date().toISOString(),
  };
}

/** The running pipeline's handle: waiting for idle, sending events, stopping everything (phase 9). */
function runnerOf(parts: {
  readonly config: LocalConfig;
  readonly template: LoadedTemplate;
  readonly resources: Provisioned;
  readonly clients: Clients;
  readonly sources: EventSources;
  readonly sweeper: TtlSweeper;
  readonly schedules: ScheduledRule[];
  readonly counters: Counters;
  readonly backends: StartedBackends;
  readonly stopServers: () => Promise<void>;
}): LocalRunner {
  const { config, clients, sources, sweeper, schedules, backends } = parts;
  const { sqsSources, streamSources } = sources;
  let stopped = false;
  return {
    config,
    template: parts.template,
    resources: parts.resources,
    sqs: clients.sqs,
    dynamodb: clients.dynamodb,
    sqsSources,
    streamSources,
    sweeper,
    schedules,
    counters: parts.counters,
    backends: {
      ...(backends.dynamodb === undefined ? {} : { dynamodb: backends.dynamodb }),
      ...(backends.sqs === undefined ? {} : { sqs: backends.sqs }),
    },
    whenIdle: (whenIdleOptions) => whenIdle(sources, whenIdleOptions),
    async sendEvents(url, events, perMessage = 25) {
      const bodies: string[] = [];
      for (let i = 0; i < events.length; i += perMessage)
        bodies.push(JSON.stringify({ events: events.slice(i, i + perMessage) }));
      await sendBodies(clients.sqs, url, bodies);
      return bodies.length;
    },
    writeConfig(path) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
    },
    async stop({ keepBackends = false } = {}) {
      if (stopped) return;
      stopped = true;
      await Promise.all([
        ...sqsSources.map((source) => source.stop()),
        ...streamSources.map((source) => source.stop()),
      ]);
      await parts.stopServers();
      await sweeper.stop();
      await Promise.all(schedules.map((schedule) => schedule.stop()));
      clients.sqs.destroy();
      clients.sns.destroy();
      clients.dynamodb.destroy();
      clients.streams.destroy();
      if (!keepBackends) await backends.stop();
    },
  };
}

/** Resolves once nothing is in flight, the polled queues are empty and the streams drained (twice in a row). */
async function whenIdle(sources: EventSources, { timeoutMs = 120_000 } = {}): Promise<void> {
  const { sqsSources, streamSources } = sources;
  const deadline = Date.now() + timeoutMs;
  let streak = 0;
  while (streak < 2) {
    const since = Date.now();
    await sleep(600); // longer than a shard's poll interval and the shard discovery
    const queuesIdle = (await Promise.all(sqsSources.map((source) => source.isIdle()))).every(Boolean);
    const streamsIdle = streamSources.every((source) => source.isIdle(since));
    streak = queuesIdle && streamsIdle ? streak + 1 : 0;
    if (streak < 2 && Date.now() > deadline) {
      const busy = [
        ...(await Promise.all(sqsSources.map(async (s) => ((await s.isIdle()) ? [] : [s.name])))).flat(),
        ...streamSources.filter((s) => !s.isIdle(since)).map((s) => s.name),
      ];
      throw new Error(`pipeline not idle after ${timeoutMs} ms: ${busy.join(", ")}`);
    }
  }
}

/** SendMessageBatch, ten bodies a request, failing loudly on any refused entry. */
export async function sendBodies(sqs: SQSClient, queueUrl: string, bodies: readonly string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    const chunk = bodies.slice(i, i + 10);
    const result = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((body, j) => ({ Id: String(j), MessageBody: body })),
      }),
    );
    if ((result.Failed ?? []).length > 0)
      throw new Error(`SendMessageBatch: ${JSON.stringify(result.Failed)}`);
  }
}

/** The export a function runs: its template Handler, `index.<export>` (NodejsFunction's bundle). */
function handlerExport(id: string, resource: TemplateResource): string {
  const handler = String(resource.Properties?.Handler ?? "index.handler");
  const exportName = handler.slice(handler.lastIndexOf(".") + 1);
  if (exportName === "") throw new Error(`${id}: Handler ${handler} names no export`);
  return exportName;
}

function functionOf(mapping: Record<string, unknown>, functions: Array<[string, TemplateResource]>): string {
  const name = mapping.FunctionName as { Ref?: string; "Fn::GetAtt"?: [string, string] } | string;
  const id = typeof name === "string" ? name : (name.Ref ?? name["Fn::GetAtt"]?.[0]);
  if (id === undefined || !functions.some(([fid]) => fid === id))
    throw new Error(`event source mapping for ${JSON.stringify(name)}: no such function in the template`);
  return id;
}

function setSdkEnvironment(
  endpoints: { dynamodbEndpoint: string; sqsEndpoint: string; snsEndpoint: string },
  dummyCredentials: boolean,
): void {
  process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoints.dynamodbEndpoint;
  process.env.AWS_ENDPOINT_URL_DYNAMODB_STREAMS = endpoints.dynamodbEndpoint;
  process.env.AWS_ENDPOINT_URL_SQS = endpoints.sqsEndpoint;
  process.env.AWS_ENDPOINT_URL_SNS = endpoints.snsEndpoint;
  process.env.AWS_REGION = LOCAL_REGION;
  if (dummyCredentials || process.env.AWS_ACCESS_KEY_ID === undefined) {
    process.env.AWS_ACCESS_KEY_ID = "local";
    process.env.AWS_SECRET_ACCESS_KEY = "local";
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
  }
}

export function lambdaContext(functionName: string, timeoutSeconds: number): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: "1024",
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
