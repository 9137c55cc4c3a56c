/**
 * The API function's Lambda handler around a router: API Gateway HTTP API (payload 2.0) events
 * in, the router's answer out, with Powertools around it (Logger with the request id as
 * correlation id, Tracer, Metrics in EMF: requests and latency by route and status).
 *
 * create-function.ts builds the function's entries around it; tests build one around an
 * in-memory reader with exactly the same middleware.
 */

import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import middy from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import type { Powertools } from "#functions/commons/powertools.ts";
import type { ApiRequest, ApiResponse, ApiRouter } from "#shared/api/router.ts";
import { METRIC } from "#shared/config/metric-names.ts";

export const CORRELATION_ID_PATH = "requestContext.requestId";

export interface ApiHandlerParts extends Powertools {
  readonly router: ApiRouter;
}

export type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

export function createApiHandler(parts: ApiHandlerParts): ApiHandler {
  const { router, logger, tracer, metrics } = parts;

  async function handle(
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    const started = performance.now();
    const request = {
      ...toApiRequest(event),
      watchMode: "long-poll" as const,
      deadlineMs: deadlineOf(context),
    };
    // A watch behind API Gateway is a long poll: what arrived until it ended, in one body.
    const response = await drained(await router(request));
    const latencyMs = performance.now() - started;
    metrics.addDimensions({ route: response.route, status: String(response.status) });
    metrics.addMetric(METRIC.apiRequests, MetricUnit.Count, 1);
    metrics.addMetric(METRIC.apiLatency, MetricUnit.Milliseconds, latencyMs);
    tracer.putAnnotation("route", response.route);
    tracer.putAnnotation("status", response.status);
    const fields = {
      method: request.method,
      path: request.path,
      route: response.route,
      status: response.status,
      latencyMs: Math.round(latencyMs * 10) / 10,
    };
    if (response.status >= 500) logger.error("request failed", fields);
    else logger.info("request", fields);
    return toResult(response);
  }

  return middy(handle)
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { correlationIdPath: CORRELATION_ID_PATH, resetKeys: true }))
    .use(logMetrics(metrics)) as unknown as ApiHandler;
}

/** What a streamed response is, answered at once: the router's body and every chunk after it. */
async function drained(response: ApiResponse): Promise<ApiResponse> {
  if (response.chunks === undefined) return response;
  let body = response.body;
  for await (const chunk of response.chunks) body += chunk;
  return { ...response, body, chunks: undefined };
}

/** Leave the function 2 s to answer before it times out. */
export function deadlineOf(context: Context | undefined): number | undefined {
  const remaining = context?.getRemainingTimeInMillis?.();
  return remaining === undefined ? undefined : Date.now() + remaining - 2_000;
}

export interface StreamedApiResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Body chunks after `body`, written as they come (a watch). */
  readonly chunks?: AsyncIterable<string> | undefined;
}

/**
 * The API for a connection that can stay open (the local HTTP API's watches): a watch streams its
 * events until its timeout instead of long-polling. The function URL has its own entry, which
 * writes to Lambda's response stream (function-url-handler.ts).
 */
export function createApiStreamHandler(parts: Pick<ApiHandlerParts, "router" | "logger">) {
  return async (event: APIGatewayProxyEventV2): Promise<StreamedApiResult> => {
    const request = { ...toApiRequest(event), watchMode: "stream" as const };
    const response = await parts.router(request);
    parts.logger.info("streamed request", {
      method: request.method,
      path: request.path,
      route: response.route,
      status: response.status,
    });
    return {
      statusCode: response.status,
      headers: response.headers,
      body: response.body,
      chunks: response.chunks,
    };
  };
}

/** The router's view of an HTTP API v2 event: method, path (stage prefix removed), query, headers, body. */
export function toApiRequest(event: APIGatewayProxyEventV2): ApiRequest {
  const stage = event.requestContext?.stage;
  let path = event.rawPath ?? "/";
  if (
    stage !== undefined &&
    stage !== "$default" &&
    (path === `/${stage}` || path.startsWith(`/${stage}/`))
  ) {
    path = path.slice(stage.length + 1) || "/";
  }
  const query =
    event.rawQueryString !== undefined
      ? new URLSearchParams(event.rawQueryString)
      : new URLSearchParams(
          Object.entries(event.queryStringParameters ?? {}).flatMap(([key, value]) =>
            value === undefined ? [] : [[key, value] as [string, string]],
          ),
        );
  const body =
    event.body === undefined
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(event.body, "base64").toString("utf8")
        : event.body;
  return {
    method: event.requestContext.http.method,
    path,
    query,
    headers: event.headers ?? {},
    body,
    callerArn: callerArnOf(event),
  };
}

/**
 * The caller as API Gateway's IAM authorizer established it (payload 2.0:
 * requestContext.authorizer.iam.userArn). Never from a header: a client can send any header.
 */
function callerArnOf(event: APIGatewayProxyEventV2): string | undefined {
  const authorizer = (event.requestContext as { authorizer?: { iam?: { userArn?: unknown } } }).authorizer;
  const userArn = authorizer?.iam?.userArn;
  return typeof userArn === "string" && userArn !== "" ? userArn : undefined;
}

export function toResult(response: ApiResponse): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: response.status,
    headers: response.headers,
    body: response.body,
    isBase64Encoded: false,
  };
}

/**
 * Logger's correlationIdSearchFn: a dotted path into the event ("requestContext.requestId").
 * Powertools' JMESPath search would need @aws-lambda-powertools/jmespath, which is not installed,
 * and a plain path is all a request id needs.
 */
export function searchDottedPath(expression: string, data: unknown): unknown {
  let value: unknown = data;
  for (const part of expression.split(".")) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}
