/**
 * The local runner's HTTP front (scripts/local/http-api.ts): whatever the request target, the
 * request reaches the API function as API Gateway would pass it, and never becomes a 500 of the
 * server itself. Found by the HTTP API fuzz: a malformed percent-encoding in a path parameter
 * (URIError) and a path starting with "//" (parsed as a host) answered 500 {"message":...}.
 * Also: a result over Lambda's 6 MB response limit fails as it would on AWS.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import {
  type HttpApiServer,
  LAMBDA_RESPONSE_LIMIT_BYTES,
  matchRoute,
  parseRouteKeys,
  startHttpApi,
} from "#scripts/local/http-api.ts";

const ROUTE_KEYS = [
  "GET /apis/{group}/{version}/{resource}/{name}",
  "GET /v1/ipcache/{ip}",
  "GET /healthz",
  "$default",
];

let server: HttpApiServer;
const events: APIGatewayProxyEventV2[] = [];
let nextBody = "{}";

before(async () => {
  server = await startHttpApi({
    port: 0,
    routeKeys: ROUTE_KEYS,
    handler: async (event) => {
      events.push(event);
      return { statusCode: 200, headers: { "content-type": "application/json" }, body: nextBody };
    },
    context: () => ({}) as Context,
    apiId: "test",
  });
});
after(async () => server?.stop());

function raw(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: "127.0.0.1", port: server.port, method: "GET", path },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    outgoing.on("error", reject);
    outgoing.end();
  });
}

describe("local HTTP API front", () => {
  it("keeps a path parameter that is not valid percent-encoding as it came", () => {
    const { routes } = parseRouteKeys(ROUTE_KEYS);
    assert.deepEqual(matchRoute(routes, "GET", "/v1/ipcache/%zz"), {
      routeKey: "GET /v1/ipcache/{ip}",
      pathParameters: { ip: "%zz" },
    });
    assert.deepEqual(matchRoute(routes, "GET", "/v1/ipcache/%E0%A4")?.pathParameters, { ip: "%E0%A4" });
  });

  it("passes malformed, '//' and dot-segment paths to the function instead of failing", async () => {
    for (const path of [
      "/v1/ipcache/%zz",
      "//v1/ipcache/x",
      "//",
      "/apis/%E0%A4/v1/x/y",
      "/./healthz",
      "/a/../healthz",
    ]) {
      events.length = 0;
      const response = await raw(path);
      assert.equal(response.status, 200, `${path}: ${response.body}`);
      assert.equal(events.length, 1, path);
      assert.equal(events[0]?.rawPath, path, path);
    }
  });

  it("answers a function result over Lambda's 6 MB response limit as API Gateway does", async () => {
    nextBody = JSON.stringify({ data: "x".repeat(LAMBDA_RESPONSE_LIMIT_BYTES) });
    try {
      const response = await raw("/healthz");
      assert.equal(response.status, 500);
      assert.deepEqual(JSON.parse(response.body), { message: "Internal Server Error" });
    } finally {
      nextBody = "{}";
    }
  });
});
