import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoSliceReader } from "#shared/api/dynamodb-reader.ts";
import { createApiRouter } from "#shared/api/router.ts";

function failingDocuments(name: string): DynamoDBDocumentClient {
  return {
    send: async () => {
      const error = new Error(`${name}: simulated`);
      error.name = name;
      throw error;
    },
  } as unknown as DynamoDBDocumentClient;
}

function router(errorName: string) {
  const reported: unknown[] = [];
  const reader = new DynamoSliceReader({
    documents: failingDocuments(errorName),
    slicesTable: "slices",
    stateTable: "state",
    identitiesTable: "identities",
  });
  return { reported, route: createApiRouter({ reader, onError: (error) => reported.push(error) }) };
}

describe("DynamoDB reader errors", () => {
  for (const name of [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
  ]) {
    it(`answers ${name} with 429 TooManyRequests and Retry-After`, async () => {
      const { route, reported } = router(name);
      for (const path of [
        "/apis/discovery.k8s.io/v1/endpointslices",
        "/apis/cilium.io/v2/ciliumidentities/256",
        "/v1/ipcache/10.0.0.1",
        "/v1/stats",
      ]) {
        const response = await route({ method: "GET", path });
        assert.equal(response.status, 429, path);
        assert.equal(response.headers["retry-after"], "1");
        assert.equal(JSON.parse(response.body).reason, "TooManyRequests");
      }
      assert.deepEqual(reported, []);
    });
  }

  it("answers other store failures with a bare 500 and reports them", async () => {
    const { route, reported } = router("ResourceNotFoundException");
    const response = await route({ method: "GET", path: "/apis/cilium.io/v2alpha1/ciliumendpointslices" });
    assert.equal(response.status, 500);
    assert.doesNotMatch(response.body, /ResourceNotFound|simulated/);
    assert.equal(reported.length, 1);
  });

  it("does not keep a failed stats query in its cache", async () => {
    let calls = 0;
    const documents = {
      send: async () => {
        calls++;
        if (calls <= 3) throw new Error("transient");
        return { Count: 2 };
      },
    } as unknown as DynamoDBDocumentClient;
    const reader = new DynamoSliceReader({
      documents,
      slicesTable: "s",
      stateTable: "t",
      identitiesTable: "i",
    });
    await assert.rejects(reader.stats());
    const stats = await reader.stats();
    assert.deepEqual(stats.counts, { EndpointSlice: 2, CiliumEndpointSlice: 2, CiliumIdentity: 2 });
  });
});
