/**
 * The API function's entries around its dependencies: the API Gateway handler (which also runs the
 * scheduled watcher sweep), the streaming handler the local HTTP API uses, and the function URL's
 * streaming entry. handler.ts wires the production dependencies once per container; tests build
 * the entries around their own (an in-memory reader, a local DynamoDB).
 */
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import type { Powertools } from "#functions/commons/powertools.ts";
import { createApiRouter } from "#shared/api/router.ts";
import type { SliceReader } from "#shared/api/slice-reader.ts";
import type { ChangeLogReader } from "#shared/api/watch-stream.ts";
import { isWatcherSweepEvent } from "#shared/api/watcher-registry.ts";
import { METRIC } from "#shared/config/metric-names.ts";
import { createApiHandler, createApiStreamHandler } from "./create-handler.ts";
import { createFunctionUrlHandler, type FunctionUrlHandlerParts } from "./function-url-handler.ts";
import type { StreamingHandler } from "./lambda-streaming.ts";
import type { WatcherRegistryChoice } from "./watcher-registry-factory.ts";

export interface ApiFunctionDeps extends Powertools {
  readonly reader: SliceReader;
  /** The watcher registry, or why there is none (createWatcherRegistry). */
  readonly watchers: WatcherRegistryChoice;
  /** The fan-out's change log the Kubernetes watch reads (docs/watch.md). */
  readonly changeLog: ChangeLogReader;
  /** `awslambda.HttpResponseStream.from` for the function URL entry. */
  readonly httpResponseStream: FunctionUrlHandlerParts["httpResponseStream"];
}

export interface ApiFunction {
  /** Behind API Gateway (a watch is a long poll); the scheduled rule's WATCHER_SWEEP_EVENT sweeps. */
  readonly handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;
  /** The same API on a connection that may stay open: the local HTTP API streams watches with it. */
  readonly streamHandler: ReturnType<typeof createApiStreamHandler>;
  /** The function URL's entry, before the runtime's streamifyResponse (handler.ts applies it). */
  readonly functionUrlHandler: StreamingHandler<APIGatewayProxyEventV2>;
}

export function createApiFunction(deps: ApiFunctionDeps): ApiFunction {
  const { watchers, logger, metrics, tracer } = deps;
  if (watchers.problem !== undefined) {
    logger.warn("watcher registry not configured: watcher routes answer 500", { reason: watchers.problem });
  }
  if (watchers.authorizationProblem !== undefined) {
    logger.warn("watcher authorization not configured: watcher routes answer 403", {
      reason: watchers.authorizationProblem,
    });
  }
  const router = createApiRouter({
    reader: deps.reader,
    watchers: watchers.registry,
    watcherAuthorization: watchers.authorization,
    onWatcherApplied: (_node, lagMs) =>
      metrics.addMetric(METRIC.watcherAppliedLag, MetricUnit.Milliseconds, Math.max(0, lagMs)),
    watch: { log: deps.changeLog },
    onError: (error, route) => logger.error("unexpected error", { route, error }),
  });
  const apiHandler = createApiHandler({ router, logger, tracer, metrics });

  async function sweepWatchers(): Promise<{ swept: number }> {
    if (watchers.registry === undefined) return { swept: 0 };
    const swept = await watchers.registry.sweepExpired();
    metrics.addMetric(METRIC.watchersExpired, MetricUnit.Count, swept);
    metrics.publishStoredMetrics();
    if (swept > 0) logger.info("expired watchers removed", { swept });
    return { swept };
  }

  return {
    handler: (event, context) => (isWatcherSweepEvent(event) ? sweepWatchers() : apiHandler(event, context)),
    streamHandler: createApiStreamHandler({ router, logger }),
    functionUrlHandler: createFunctionUrlHandler({
      router,
      logger,
      metrics,
      httpResponseStream: deps.httpResponseStream,
    }),
  };
}
