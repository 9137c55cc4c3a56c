import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { createApiHandler, searchDottedPath, toApiRequest } from "#functions/api/create-handler.ts";
import { createWatcherRegistry } from "#functions/api/watcher-registry-factory.ts";
import {
  EnvironmentError,
  readApiEnvironment,
  readWatcherEnvironment,
} from "#functions/commons/environment.ts";
import { MemoryChangeLog } from "#shared/api/memory-change-log.ts";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { createApiRouter } from "#shared/api/router.ts";
import { ENV } from "#shared/config/resources.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import { changeLogEntry } from "#shared/fanout/change-log.ts";
import { apiFixture } from "#test/support/api-fixture.ts";

const KUBECTL_ACCEPT =
  "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/** An HTTP API (payload 2.0) event as API Gateway sends it for a kubectl request. */
function apiGatewayEvent(
  method: string,
  rawPath: string,
  rawQueryString = "",
  extra: Partial<APIGatewayProxyEventV2> = {},
): APIGatewayProxyEventV2 {
  const query = new URLSearchParams(rawQueryString);
  return {
    version: "2.0",
    routeKey: `${method} /apis/{group}/{version}/namespaces/{namespace}/{resource}`,
    rawPath,
    rawQueryString,
    headers: {
      accept: KUBECTL_ACCEPT,
      "accept-encoding": "gzip",
      "content-length": "0",
      host: "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
      "user-agent": "kubectl/v1.20.2 (linux/amd64) kubernetes/faecb19",
      "x-amzn-trace-id": "Root=1-67443c2a-0d8a5e3b4f5a6b7c8d9e0f1a",
      "x-forwarded-for": "203.0.113.7",
      "x-forwarded-port": "443",
      "x-forwarded-proto": "https",
    },
    ...(rawQueryString === "" ? {} : { queryStringParameters: Object.fromEntries(query) }),
    requestContext: {
      accountId: "123456789012",
      apiId: "a1b2c3d4e5",
      domainName: "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
      domainPrefix: "a1b2c3d4e5",
      http: {
        method,
        path: rawPath,
        protocol: "HTTP/1.1",
        sourceIp: "203.0.113.7",
        userAgent: "kubectl/v1.20.2 (linux/amd64) kubernetes/faecb19",
      },
      requestId: "Jk3xYhTZoAMEb9Q=",
      routeKey: `${method} /apis/{group}/{version}/namespaces/{namespace}/{resource}`,
      stage: "$default",
      time: "25/Nov/2026:12:03:07 +0000",
      timeEpoch: 1_795_608_187_000,
    },
    isBase64Encoded: false,
    ...extra,
  };
}

const context: Context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: "sliceline-api",
  functionVersion: "$LATEST",
  invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:sliceline-api",
  memoryLimitInMB: "512",
  awsRequestId: "6f1c8d2e-1111-4c3b-9a7e-0123456789ab",
  logGroupName: "/aws/lambda/sliceline-api",
  logStreamName: "2026/11/25/[$LATEST]abcdef",
  getRemainingTimeInMillis: () => 10_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};

/**
 * Runs fn with stdout and stderr captured (Powertools writes EMF and INFO logs to stdout, WARN and
 * ERROR logs to stderr), one JSON document per line.
 */
async function capturingOutput<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; lines: Array<Record<string, unknown>> }> {
  const chunks: string[] = [];
  const streams = [process.stdout, process.stderr] as const;
  const writes = streams.map((stream) => stream.write);
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array) => {
      chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
      return true;
    }) as typeof stream.write;
  }
  try {
    const result = await fn();
    return {
      result,
      lines: chunks
        .join("")
        .split("\n")
        .filter((line) => line.trim().startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    };
  } finally {
    streams.forEach((stream, i) => {
      stream.write = writes[i] as typeof stream.write;
    });
  }
}

async function inMemoryHandler() {
  const fixture = await apiFixture();
  const logger = new Logger({ serviceName: "sliceline-api", correlationIdSearchFn: searchDottedPath });
  const router = createApiRouter({ reader: new MemorySliceReader(fixture.store) });
  return createApiHandler({
    router,
    logger,
    tracer: new Tracer({ serviceName: "sliceline-api", enabled: false }),
    metrics: new Metrics({ namespace: "Sliceline", serviceName: "sliceline-api" }),
  });
}

describe("API function handler", () => {
  it("answers a kubectl request arriving as an API Gateway v2 event, with metrics and correlated logs", async () => {
    const handler = await inMemoryHandler();
    const event = apiGatewayEvent(
      "GET",
      "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices",
      "labelSelector=kubernetes.io%2Fservice-name%3Dweb&limit=500",
    );
    const { result, lines } = await capturingOutput(
      () => handler(event, context) as Promise<APIGatewayProxyStructuredResultV2>,
    );
    assert.equal(result.statusCode, 200);
    assert.equal(result.isBase64Encoded, false);
    assert.equal(result.headers?.["content-type"], "application/json");
    const table = JSON.parse(result.body ?? "");
    assert.equal(table.kind, "Table");
    assert.deepEqual(
      table.rows.map((row: { cells: string[] }) => row.cells[0]),
      ["web-00001", "web-00002", "web-00003"],
    );

    const emf = lines.find((line) => line._aws !== undefined);
    assert.ok(emf, "an EMF document is printed");
    const metadata = emf._aws as { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> };
    assert.equal(metadata.CloudWatchMetrics[0]?.Namespace, "Sliceline");
    assert.ok(metadata.CloudWatchMetrics[0]?.Dimensions[0]?.includes("route"));
    assert.ok(metadata.CloudWatchMetrics[0]?.Dimensions[0]?.includes("status"));
    assert.equal(emf.route, "GET /apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices");
    assert.equal(emf.status, "200");
    assert.equal(emf.ApiRequests, 1);
    assert.equal(typeof emf.ApiLatency, "number");

    const log = lines.find((line) => line.message === "request");
    assert.ok(log, "one request log line");
    assert.equal(log.correlation_id, "Jk3xYhTZoAMEb9Q=");
    assert.equal(log.function_request_id, context.awsRequestId);
    assert.equal(log.status, 200);
  });

  it("maps errors to Status bodies with their code, and logs 5xx as errors", async () => {
    const handler = await inMemoryHandler();
    const { result: missing } = await capturingOutput(
      () =>
        handler(
          apiGatewayEvent("GET", "/apis/cilium.io/v2/ciliumidentities/4242"),
          context,
        ) as Promise<APIGatewayProxyStructuredResultV2>,
    );
    assert.equal(missing.statusCode, 404);
    assert.equal(JSON.parse(missing.body ?? "").reason, "NotFound");

    const { result, lines } = await capturingOutput(
      () =>
        handler(
          apiGatewayEvent("POST", "/v1/watchers", "", {
            body: Buffer.from(JSON.stringify({ node: "node-a", kinds: ["EndpointSlice"] })).toString(
              "base64",
            ),
            isBase64Encoded: true,
          }),
          context,
        ) as Promise<APIGatewayProxyStructuredResultV2>,
    );
    assert.equal(result.statusCode, 500);
    assert.equal(
      JSON.parse(result.body ?? "").message,
      "Internal error occurred: watcher registry not configured",
    );
    assert.equal(lines.find((line) => line.message === "request failed")?.level, "ERROR");
  });

  it("reads path, query, headers and body from the event, without a non-default stage prefix", () => {
    const request = toApiRequest(
      apiGatewayEvent("POST", "/prod/v1/watchers", "a=1&a=2&b=%2C", {
        body: Buffer.from('{"node":"n"}').toString("base64"),
        isBase64Encoded: true,
        requestContext: { ...apiGatewayEvent("GET", "/").requestContext, stage: "prod" },
      }),
    );
    assert.equal(request.path, "/v1/watchers");
    assert.equal(request.body, '{"node":"n"}');
    assert.ok(request.query instanceof URLSearchParams);
    assert.equal(request.query.get("a"), "1");
    assert.equal(request.query.get("b"), ",");
    assert.equal(request.headers?.host, "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com");
    assert.equal(toApiRequest(apiGatewayEvent("GET", "/healthz")).path, "/healthz");
    assert.equal(
      searchDottedPath("requestContext.requestId", apiGatewayEvent("GET", "/")),
      "Jk3xYhTZoAMEb9Q=",
    );
    assert.equal(searchDottedPath("requestContext.nothing.here", apiGatewayEvent("GET", "/")), undefined);
  });

  it("takes the caller from the IAM authorizer's context, never from a header", () => {
    const userArn = "arn:aws:sts::123456789012:assumed-role/sliceline-node/node-a";
    const base = apiGatewayEvent("GET", "/v1/watchers/node-a");
    const signed = toApiRequest({
      ...base,
      requestContext: {
        ...base.requestContext,
        authorizer: { iam: { userArn, callerId: "AROAEXAMPLE:node-a", accountId: "123456789012" } },
      } as typeof base.requestContext,
    });
    assert.equal(signed.callerArn, userArn);
    const spoofed = toApiRequest({
      ...base,
      headers: { ...base.headers, "x-sliceline-caller-arn": userArn },
    });
    assert.equal(spoofed.callerArn, undefined);
  });

  it("is the real handler module: environment read once, watcher routes 500 until configured", async () => {
    process.env[ENV.slicesTable] = "sliceline-slices";
    process.env[ENV.stateTable] = "sliceline-state";
    process.env[ENV.identitiesTable] = "sliceline-identities";
    process.env[ENV.continueTokenKey] = "k".repeat(32);
    process.env.AWS_REGION ??= "eu-west-1";
    process.env.POWERTOOLS_TRACE_ENABLED = "false";
    delete process.env[ENV.changeTopicArns];
    const { result, lines } = await capturingOutput(async () => {
      const { handler } = await import("#functions/api/handler.ts");
      const health = (await handler(
        apiGatewayEvent("GET", "/healthz"),
        context,
      )) as APIGatewayProxyStructuredResultV2;
      const watchers = (await handler(
        apiGatewayEvent("GET", "/v1/watchers/node-a"),
        context,
      )) as APIGatewayProxyStructuredResultV2;
      return { health, watchers };
    });
    assert.equal(result.health.statusCode, 200);
    assert.equal(result.health.body, "ok");
    assert.equal(result.watchers.statusCode, 500);
    assert.equal(
      JSON.parse(result.watchers.body ?? "").message,
      "Internal error occurred: watcher registry not configured",
    );
    const warning = lines.find((line) => String(line.message).startsWith("watcher registry not configured"));
    assert.match(String(warning?.reason), /SLICELINE_CHANGE_TOPIC_ARNS/);
  });

  it("answers a watch as a long poll: what arrived, in one body, ended before the function's time is up", async () => {
    const fixture = await apiFixture();
    const log = new MemoryChangeLog();
    const listed = (await new MemorySliceReader(fixture.store).list("EndpointSlice", "shop")).items;
    const slice = listed[0] as EndpointSlice;
    const from = String(Date.now() * 1000);
    const after = {
      ...slice,
      metadata: { ...slice.metadata, resourceVersion: String(Date.now() * 1000 + 1_000) },
    };
    await log.append(
      [changeLogEntry({ kind: "EndpointSlice", before: slice, after, sourceTimeMs: 0 }, 0)],
      Date.now(),
    );
    const router = createApiRouter({
      reader: new MemorySliceReader(fixture.store),
      watch: { log, pollIntervalMs: 20 },
    });
    const handler = createApiHandler({
      router,
      logger: new Logger({ serviceName: "sliceline-api" }),
      tracer: new Tracer({ serviceName: "sliceline-api", enabled: false }),
      metrics: new Metrics({ namespace: "Sliceline", serviceName: "sliceline-api" }),
    });
    const ask = async (namespace: string, query: string) => {
      const path = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`;
      const event = { ...apiGatewayEvent("GET", path, query), headers: { accept: "application/json" } };
      // 2.2 s left: the watch must end 2 s before, 200 ms from now.
      const result = (await handler(event, {
        ...context,
        getRemainingTimeInMillis: () => 2_200,
      })) as APIGatewayProxyStructuredResultV2;
      assert.equal(result.statusCode, 200);
      return String(result.body)
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as { type: string; object: { metadata: { resourceVersion: string } } });
    };
    const events = await ask("shop", `watch=true&allowWatchBookmarks=true&resourceVersion=${from}`);
    assert.deepEqual(
      events.map((e) => [e.type, e.object.metadata.resourceVersion]),
      [
        ["MODIFIED", after.metadata.resourceVersion],
        ["BOOKMARK", after.metadata.resourceVersion],
      ],
    );
    // Nothing for another namespace: the poll ends at the deadline with a bookmark past what it read.
    const quiet = await ask("payments", `watch=true&allowWatchBookmarks=true&resourceVersion=${from}`);
    assert.deepEqual(
      quiet.map((e) => [e.type, e.object.metadata.resourceVersion]),
      [["BOOKMARK", after.metadata.resourceVersion]],
    );
  });
});

describe("API function environment", () => {
  it("names every missing or malformed table variable", () => {
    assert.throws(
      () => readApiEnvironment({ [ENV.slicesTable]: "ok-table", [ENV.stateTable]: "bad name!" }),
      (error: unknown) =>
        error instanceof EnvironmentError &&
        error.message.includes(ENV.stateTable) &&
        error.message.includes(ENV.identitiesTable) &&
        !error.message.includes(ENV.slicesTable),
    );
    const environment = readApiEnvironment({
      [ENV.slicesTable]: "s-table",
      [ENV.stateTable]: "st-table",
      [ENV.identitiesTable]: "i-table",
      [ENV.continueTokenKeySecret]: "arn:aws:secretsmanager:eu-west-1:1:secret:k",
    });
    assert.deepEqual(
      {
        slicesTable: environment.slicesTable,
        stateTable: environment.stateTable,
        identitiesTable: environment.identitiesTable,
        continueTokenKey: environment.continueTokenKey,
      },
      {
        slicesTable: "s-table",
        stateTable: "st-table",
        identitiesTable: "i-table",
        continueTokenKey: { secretId: "arn:aws:secretsmanager:eu-west-1:1:secret:k" },
      },
    );
    assert.throws(
      () =>
        readApiEnvironment({
          [ENV.slicesTable]: "s-table",
          [ENV.stateTable]: "st-table",
          [ENV.identitiesTable]: "i-table",
        }),
      (error: unknown) =>
        error instanceof EnvironmentError && error.message.includes(ENV.continueTokenKeySecret),
    );
  });

  it("builds the channel watcher registry only when fully configured, turning unknown scopes into 400s", async () => {
    const sent: string[] = [];
    const documents = {
      send: async (command: { constructor: { name: string } }) => {
        sent.push(command.constructor.name);
        return {};
      },
    } as unknown as DynamoDBDocumentClient;
    const clients = {
      documents,
      sqs: () => {
        throw new Error("no SQS client is needed before a scope is known");
      },
      sns: () => {
        throw new Error("no SNS client is needed before a scope is known");
      },
    };
    const none = createWatcherRegistry(readWatcherEnvironment({ [ENV.watchersTable]: "w" }), clients);
    assert.equal(none.registry, undefined);
    assert.match(String(none.problem), /SLICELINE_CHANGE_TOPIC_ARNS/);

    const environment = {
      [ENV.watchersTable]: "watchers",
      [ENV.changeTopicArns]: JSON.stringify({ EndpointSlice: "arn:aws:sns:eu-west-1:123456789012:changes" }),
      SLICELINE_WATCHER_QUEUE_PREFIX: "sliceline-watcher-",
      [ENV.watcherAuthorization]: JSON.stringify({ mode: "none" }),
    };
    const lazy = { documents, sqs: () => ({}) as never, sns: () => ({}) as never };
    const unguarded = createWatcherRegistry(
      readWatcherEnvironment({ ...environment, [ENV.watcherAuthorization]: "" }),
      lazy,
    );
    assert.equal(unguarded.problem, undefined);
    assert.match(
      String(unguarded.authorizationProblem),
      /missing SLICELINE_WATCHER_AUTHORIZATION: every caller is denied/,
    );
    assert.deepEqual(unguarded.authorization.nodePrincipals, []);
    assert.equal(unguarded.authorization.mode, "principal");
    const badPolicy = createWatcherRegistry(
      readWatcherEnvironment({ ...environment, [ENV.watcherAuthorization]: '{"mode":1}' }),
      lazy,
    );
    assert.match(String(badPolicy.authorizationProblem), /is invalid/);
    const badJson = createWatcherRegistry(
      readWatcherEnvironment({ ...environment, [ENV.changeTopicArns]: "{" }),
      clients,
    );
    assert.equal(badJson.registry, undefined);
    assert.match(String(badJson.problem), /not JSON/);

    const lazyClients = { documents, sqs: () => ({}) as never, sns: () => ({}) as never };
    const configured = createWatcherRegistry(readWatcherEnvironment(environment), lazyClients);
    assert.equal(configured.problem, undefined);
    assert.ok(configured.registry);
    const router = createApiRouter({
      reader: new MemorySliceReader((await apiFixture()).store),
      watchers: configured.registry,
    });
    const response = await router({
      method: "POST",
      path: "/v1/watchers",
      body: JSON.stringify({ node: "node-a", zone: "zone-z", kinds: ["EndpointSlice"], zoneOnly: true }),
    });
    assert.equal(response.status, 400, response.body);
    assert.match(JSON.parse(response.body).message, /no change topic for scope/);
    assert.deepEqual(sent, ["GetCommand"]);
  });
});
