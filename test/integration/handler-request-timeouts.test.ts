/**
 * A handler's SDK client with HANDLER_REQUEST_TIMEOUTS gives up on a server that accepts the
 * connection and never answers, as a TimeoutError its retry strategy and ingest's failure classes
 * treat as transient; the SDK's default client would wait on it for as long as the socket lives.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { HANDLER_REQUEST_TIMEOUTS } from "#shared/adapters/aws/handler-request-timeouts.ts";
import { classifyFailure } from "#shared/pipeline/failure-class.ts";

describe("handler request timeouts", () => {
  let server: Server;
  let endpoint: string;
  let requests = 0;
  before(async () => {
    server = createServer(() => {
      requests++; // never answered
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it("a call to a silent server fails as a transient TimeoutError instead of hanging", {
    timeout: 60_000,
  }, async () => {
    const client = new DynamoDBClient({
      ...HANDLER_REQUEST_TIMEOUTS,
      requestHandler: { ...HANDLER_REQUEST_TIMEOUTS.requestHandler, requestTimeout: 300 },
      endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "a", secretAccessKey: "b" },
      maxAttempts: 2,
    });
    const error = await client.send(new GetItemCommand({ TableName: "t", Key: { pk: { S: "k" } } })).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof Error, "the call must fail");
    assert.equal(error.name, "TimeoutError");
    assert.equal(classifyFailure(error), "transient");
    assert.equal(requests, 2, "the SDK retried the timed-out call once (maxAttempts 2)");
  });
});
