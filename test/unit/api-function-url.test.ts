/**
 * The API's function URL entry (functions/api/function-url-handler.ts) on a fake response stream:
 * the runtime's HttpResponseStream byte format (JSON prelude, 8 NUL bytes, body) as the local shim
 * writes it, watch events as separate writes while the watch runs, a clean end before the
 * function's time is up, a client that goes away, an error mid-watch as an ERROR event, and a
 * client that stops reading.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { createFunctionUrlHandler } from "#functions/api/function-url-handler.ts";
import type { HttpResponseMetadata } from "#functions/api/lambda-streaming.ts";
import { httpResponseStream, streamifyResponse } from "#functions/api/lambda-streaming.ts";
import {
  installLambdaStreamingShim,
  isStreamified,
  LocalResponseStream,
  splitPrelude,
} from "#scripts/local/lambda-streaming-shim.ts";
import { MemoryChangeLog } from "#shared/api/memory-change-log.ts";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { createApiRouter } from "#shared/api/router.ts";
import type { ChangeLogReader } from "#shared/api/watch-stream.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import { changeLogEntry } from "#shared/fanout/change-log.ts";
import { apiFixture } from "#test/support/api-fixture.ts";

/** A function URL event (payload 2.0) as Lambda sends it for an IAM-signed GET. */
function urlEvent(rawPath: string, rawQueryString = ""): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString,
    headers: { accept: "application/json", host: "abcdefghij.lambda-url.eu-west-1.on.aws" },
    requestContext: {
      accountId: "123456789012",
      apiId: "abcdefghij",
      authorizer: {
        iam: {
          accessKey: "ASIAEXAMPLE",
          accountId: "123456789012",
          callerId: "AROAEXAMPLE:ip-10-0-0-1.ec2.internal",
          cognitoIdentity: null,
          principalOrgId: null,
          userArn: "arn:aws:sts::123456789012:assumed-role/sliceline-node/ip-10-0-0-1.ec2.internal",
          userId: "AROAEXAMPLE:ip-10-0-0-1.ec2.internal",
        },
      },
      domainName: "abcdefghij.lambda-url.eu-west-1.on.aws",
      domainPrefix: "abcdefghij",
      http: {
        method: "GET",
        path: rawPath,
        protocol: "HTTP/1.1",
        sourceIp: "203.0.113.7",
        userAgent: "kubectl/v1.20.2",
      },
      requestId: "5f3c2b1a-0000-4000-8000-000000000001",
      routeKey: "$default",
      stage: "$default",
      time: "25/Nov/2026:12:03:07 +0000",
      timeEpoch: 1_795_608_187_000,
    },
    isBase64Encoded: false,
  } as APIGatewayProxyEventV2;
}

function contextWith(remainingMs: number): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: "sliceline-api-watch",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:sliceline-api-watch",
    memoryLimitInMB: "512",
    awsRequestId: "6f1c8d2e-1111-4c3b-9a7e-0123456789ab",
    logGroupName: "/aws/lambda/sliceline-api-watch",
    logStreamName: "2026/11/25/[$LATEST]abcdef",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** What a fake client received: every write's bytes and when, and whether the stream finished. */
interface Received {
  readonly writes: Array<{ atMs: number; bytes: Buffer }>;
  finishedAtMs: number | undefined;
}

/** A response stream whose bytes a fake client takes (`sink` decides how fast). */
function fakeStream(sink?: (bytes: Buffer) => Promise<void>): {
  stream: LocalResponseStream;
  received: Received;
} {
  const received: Received = { writes: [], finishedAtMs: undefined };
  const stream = new LocalResponseStream(
    async (bytes) => {
      received.writes.push({ atMs: Date.now(), bytes });
      await sink?.(bytes);
    },
    async () => {
      received.finishedAtMs = Date.now();
    },
  );
  return { stream, received };
}

/** The received bytes as the function URL reads them: prelude, then body. */
function decoded(received: Received): { metadata: HttpResponseMetadata; body: string } {
  const split = splitPrelude(Buffer.concat(received.writes.map((w) => w.bytes)));
  assert.ok(split !== undefined, "a prelude and its delimiter");
  return { metadata: split.metadata, body: split.rest.toString("utf8") };
}

function lines(body: string): Array<{ type: string; object: Record<string, unknown> }> {
  return body
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as { type: string; object: Record<string, unknown> });
}

const quietLogger = () => new Logger({ serviceName: "sliceline-api-watch", logLevel: "SILENT" });

let log: MemoryChangeLog;
let reader: MemorySliceReader;
let slice: EndpointSlice;
let from: string;

before(async () => {
  installLambdaStreamingShim();
  const fixture = await apiFixture();
  reader = new MemorySliceReader(fixture.store);
  slice = (await reader.list("EndpointSlice", "shop")).items[0] as EndpointSlice;
  log = new MemoryChangeLog();
  from = String(Date.now() * 1000);
  const after = {
    ...slice,
    metadata: { ...slice.metadata, resourceVersion: String(Date.now() * 1000 + 1_000) },
  };
  await log.append(
    [changeLogEntry({ kind: "EndpointSlice", before: slice, after, sourceTimeMs: 0 }, 0)],
    Date.now(),
  );
});

function handlerWith(changeLog: ChangeLogReader = log) {
  const router = createApiRouter({ reader, watch: { log: changeLog, pollIntervalMs: 20 } });
  return createFunctionUrlHandler({ router, logger: quietLogger(), httpResponseStream });
}

const WATCH_PATH = "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices";

describe("function URL handler (response streaming)", () => {
  it("answers a list through the stream: status and headers in the prelude, then the body, then the end", async () => {
    const { stream, received } = fakeStream();
    await handlerWith()(urlEvent(WATCH_PATH), stream, contextWith(30_000));
    const { metadata, body } = decoded(received);
    assert.equal(metadata.statusCode, 200);
    assert.equal(metadata.headers?.["content-type"], "application/json");
    const list = JSON.parse(body) as { kind: string; items: unknown[] };
    assert.equal(list.kind, "EndpointSliceList");
    assert.ok(list.items.length > 0);
    assert.ok(received.finishedAtMs !== undefined, "ended");
    assert.equal(stream.contentType, "application/vnd.awslambda.http-integration-response");
  });

  it("answers an error as a Kubernetes Status, with its code in the prelude", async () => {
    const { stream, received } = fakeStream();
    await handlerWith()(
      urlEvent("/apis/discovery.k8s.io/v1/namespaces/shop/widgets"),
      stream,
      contextWith(30_000),
    );
    const { metadata, body } = decoded(received);
    assert.equal(metadata.statusCode, 404);
    const status = JSON.parse(body) as { kind: string; code: number; reason: string };
    assert.deepEqual([status.kind, status.code, status.reason], ["Status", 404, "NotFound"]);
  });

  it("streams a watch's events as they come and ends it cleanly 2 s before the function's time is up", async () => {
    const { stream, received } = fakeStream();
    const started = Date.now();
    // 2.6 s left: the watch must end by 0.6 s from now.
    await handlerWith()(
      urlEvent(WATCH_PATH, `watch=true&allowWatchBookmarks=true&resourceVersion=${from}`),
      stream,
      contextWith(2_600),
    );
    const returnedAfterMs = Date.now() - started;
    const { metadata, body } = decoded(received);
    assert.equal(metadata.statusCode, 200);
    assert.deepEqual(
      lines(body).map((line) => line.type),
      ["MODIFIED", "BOOKMARK"],
    );
    // The prelude went out with the first write, the event right after, long before the end.
    const firstEvent = received.writes.find((w) => w.bytes.includes("MODIFIED"));
    assert.ok(firstEvent !== undefined && firstEvent.atMs - started < 300, "the event was not held back");
    assert.ok(
      received.finishedAtMs !== undefined && received.finishedAtMs - started >= 500,
      "ran to its deadline",
    );
    assert.ok(
      returnedAfterMs < 2_000,
      `returned after ${returnedAfterMs} ms, before the function's time is up`,
    );
  });

  it("stops a watch as soon as the client goes away", async () => {
    const { stream, received } = fakeStream();
    const started = Date.now();
    const running = handlerWith()(
      urlEvent(WATCH_PATH, `watch=true&resourceVersion=${from}`),
      stream,
      contextWith(60_000),
    );
    while (!received.writes.some((w) => w.bytes.includes("MODIFIED"))) {
      assert.ok(Date.now() - started < 5_000, "the first event arrives");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    stream.destroy();
    await running;
    assert.ok(Date.now() - started < 1_000, "did not poll on until its deadline");
    assert.equal(received.finishedAtMs, undefined, "nothing ended on a stream that is gone");
  });

  it("reports a failure in the middle of a watch as an ERROR event with a Status, then ends", async () => {
    let reads = 0;
    const failing: ChangeLogReader = {
      async readSince(kind, after) {
        if (++reads > 1) throw new Error("ProvisionedThroughputExceededException");
        return log.readSince(kind, after);
      },
    };
    const { stream, received } = fakeStream();
    await handlerWith(failing)(
      urlEvent(WATCH_PATH, `watch=true&resourceVersion=${from}`),
      stream,
      contextWith(30_000),
    );
    const events = lines(decoded(received).body);
    assert.deepEqual(
      events.map((line) => line.type),
      ["MODIFIED", "ERROR"],
    );
    assert.deepEqual(
      [events[1]?.object.kind, events[1]?.object.code, events[1]?.object.reason],
      ["Status", 500, "InternalError"],
    );
    assert.ok(received.finishedAtMs !== undefined, "ended");
    assert.ok(!JSON.stringify(events[1]).includes("Provisioned"), "no internals in the body");
  });

  it("never waits for a client that stopped reading past the function's time", async () => {
    // The client takes the first bytes and then nothing: writes fill the stream's buffer.
    let taken = 0;
    const { stream } = fakeStream(() => (taken++ === 0 ? Promise.resolve() : new Promise(() => {})));
    const started = Date.now();
    // Watch from 0: the initial state as ADDED events, more than the stream's buffer holds.
    const bigLog = new MemoryChangeLog();
    const router = createApiRouter({ reader, watch: { log: bigLog, pollIntervalMs: 20 } });
    const handler = createFunctionUrlHandler({ router, logger: quietLogger(), httpResponseStream });
    await handler(urlEvent(WATCH_PATH, "watch=true&resourceVersion=0&timeoutSeconds=60"), stream, {
      ...contextWith(2_300),
    });
    // Deadline 0.3 s from now, then at most 1.5 s to end: back before the 2.3 s are up.
    assert.ok(Date.now() - started < 2_100, `returned after ${Date.now() - started} ms`);
  });
});

describe("awslambda.streamifyResponse", () => {
  it("marks the handler for the runtime (here: the local shim) at module load", () => {
    const streamified = streamifyResponse(async () => {});
    assert.ok(isStreamified(streamified));
  });
});
