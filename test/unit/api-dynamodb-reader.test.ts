import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { KIND_INDEX_SHARDS } from "#shared/adapters/dynamodb/items.ts";
import { DynamoSliceReader } from "#shared/adapters/dynamodb/slice-reader.ts";
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
        // Two keys on every index shard (BatchGetItem finds no items for them).
        return {
          Items: [
            { pk: "p", sk: "1" },
            { pk: "p", sk: "2" },
          ],
          Responses: {},
        };
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
    // Each of a kind's index shards answered two keys.
    const perKind = 2 * KIND_INDEX_SHARDS;
    assert.deepEqual(stats.counts, {
      EndpointSlice: perKind,
      CiliumEndpointSlice: perKind,
      CiliumIdentity: perKind,
    });
  });
});

describe("DynamoDB reader stats", () => {
  const NOW = Date.UTC(2026, 0, 1);

  /**
   * Answers the cursor GetItem, each kind's index query (keys: 900 EndpointSlices and 10 of each
   * other kind, all on shard 0), the BatchGetItem of their resourceVersions (30 EndpointSlices
   * written in the window) and that of the pipeline's counters (from `counterItems`, keys left
   * unprocessed `unprocessedRounds` times); records what was asked.
   */
  function recordingDocuments(
    allocated: number | undefined,
    counterItems: Record<string, unknown>[] = [],
    unprocessedRounds = 0,
  ) {
    const inputs: Record<string, unknown>[] = [];
    let rounds = 0;
    const documents = {
      send: async (command: { input: Record<string, unknown> }) => {
        inputs.push(command.input);
        const slices = (command.input.RequestItems as Record<string, { Keys: { pk: string; sk: string }[] }>)
          ?.slices;
        if (slices !== undefined) {
          const recent = String((NOW - 60_000) * 1000);
          const items = slices.Keys.map((key) => ({
            ...key,
            resourceVersion: key.pk === "EndpointSlice" && Number(key.sk) < 30 ? recent : "1000",
          }));
          return { Responses: { slices: items } };
        }
        if (command.input.RequestItems !== undefined) {
          const { Keys } = (command.input.RequestItems as Record<string, { Keys: { pk: string }[] }>)
            .state as { Keys: { pk: string }[] };
          if (rounds++ < unprocessedRounds)
            return { Responses: { state: [] }, UnprocessedKeys: { state: { Keys } } };
          const asked = new Set(Keys.map((key) => key.pk));
          return { Responses: { state: counterItems.filter((item) => asked.has(String(item.pk))) } };
        }
        if (command.input.Key !== undefined)
          return { Item: allocated === undefined ? undefined : { allocated } };
        // Each kind's objects all on its shard 0, as if their names hashed alike.
        const shard = (command.input.ExpressionAttributeValues as Record<string, string>)[":shard"] ?? "";
        const kind = shard.slice(0, shard.indexOf("#"));
        const count = shard === "EndpointSlice#0" ? 900 : shard.endsWith("#0") ? 10 : 0;
        return { Items: Array.from({ length: count }, (_, i) => ({ pk: kind, sk: String(i) })) };
      },
    } as unknown as DynamoDBDocumentClient;
    const reader = new DynamoSliceReader({
      documents,
      slicesTable: "slices",
      stateTable: "state",
      identitiesTable: "identities",
      now: () => NOW,
    });
    return { inputs, reader };
  }

  it("reads identity range use from the allocation cursor in one GetItem", async () => {
    const { inputs, reader } = recordingDocuments(52_224);
    const stats = await reader.stats();
    assert.deepEqual(stats.identities, {
      inUse: 52_224,
      rangeMin: 256,
      rangeMax: 65_535,
      rangeSize: 65_280,
      usedPercent: 80,
    });
    const gets = inputs.filter((input) => input.Key !== undefined);
    assert.deepEqual(gets, [
      { TableName: "identities", Key: { pk: "#cursor", sk: "#cursor" }, ProjectionExpression: "allocated" },
    ]);
  });

  it("counts an empty identities table as none in use", async () => {
    const { reader } = recordingDocuments(undefined);
    assert.equal((await reader.stats()).identities.inUse, 0);
  });

  it("counts all objects from the index's keys and those written in the last 5 minutes from the table", async () => {
    const { inputs, reader } = recordingDocuments(0);
    const stats = await reader.stats();
    assert.deepEqual(stats.counts, { EndpointSlice: 900, CiliumEndpointSlice: 10, CiliumIdentity: 10 });
    assert.equal(stats.rates.windowSeconds, 300);
    assert.deepEqual(stats.rates.objectsWrittenPerSecond, {
      EndpointSlice: 0.1,
      CiliumEndpointSlice: 0,
      CiliumIdentity: 0,
    });
    const queries = inputs.filter((input) => input.Key === undefined && input.RequestItems === undefined);
    assert.equal(queries.length, 3 * KIND_INDEX_SHARDS, "one keys query per shard of each kind");
    for (const query of queries) assert.equal(query.IndexName, "byKindShardKeys");
    const reads = inputs.filter(
      (input) => (input.RequestItems as Record<string, unknown>)?.slices !== undefined,
    );
    assert.equal(reads.length, 9 + 1 + 1, "resourceVersions read 100 keys at a time");
    for (const read of reads) {
      const request = (read.RequestItems as Record<string, { ProjectionExpression?: string }>).slices;
      assert.equal(request?.ProjectionExpression, "pk, sk, resourceVersion");
    }
  });

  it("serves the pipeline's rates from its last six minutes' counters, read in one BatchGetItem", async () => {
    const minute = Math.floor(NOW / 60_000);
    const { inputs, reader } = recordingDocuments(0, [
      { pk: `stats#${minute - 1}`, sk: "#counts", eventsIn: 120, rejected: 6, expiresAt: 1 },
      { pk: `stats#${minute - 5}`, sk: "#counts", eventsIn: 180, deliveries: 600 },
      { pk: `stats#${minute - 6}`, sk: "#counts", eventsIn: 1_000_000 },
    ]);
    const { pipeline } = (await reader.stats()).rates;
    const batchGets = inputs.filter(readsState);
    assert.equal(batchGets.length, 1);
    const requested = (batchGets[0]?.RequestItems ?? {}) as Record<string, { Keys: unknown[] }>;
    const keys = requested.state?.Keys;
    assert.deepEqual(
      keys,
      [5, 4, 3, 2, 1, 0].map((ago) => ({ pk: `stats#${minute - ago}`, sk: "#counts" })),
    );
    // NOW is on a minute boundary: the windows are exactly one and five whole minutes.
    assert.equal(pipeline.oneMinute.window.seconds, 60);
    assert.equal(pipeline.oneMinute.perSecond.eventsIn, 2);
    assert.equal(pipeline.oneMinute.perSecond.rejected, 0.1);
    assert.equal(pipeline.fiveMinutes.window.seconds, 300);
    assert.equal(pipeline.fiveMinutes.perSecond.eventsIn, 1);
    assert.equal(pipeline.fiveMinutes.perSecond.deliveries, 2);
  });

  it("asks again for counters left unprocessed, and answers 429 when they stay so", async () => {
    const minute = Math.floor(NOW / 60_000);
    const items = [{ pk: `stats#${minute}`, sk: "#counts", eventsIn: 60 }];
    const once = recordingDocuments(0, items, 1);
    assert.equal((await once.reader.stats()).rates.pipeline.oneMinute.perSecond.eventsIn, 1);

    const always = recordingDocuments(0, items, 3);
    const route = createApiRouter({ reader: always.reader, onError: assert.fail });
    const response = await route({ method: "GET", path: "/v1/stats" });
    assert.equal(response.status, 429);
    assert.equal(always.inputs.filter(readsState).length, 3);
  });
});

/** A BatchGetItem of the state table (the pipeline's counters), not of the slices' versions. */
function readsState(input: Record<string, unknown>): boolean {
  return (input.RequestItems as Record<string, unknown> | undefined)?.state !== undefined;
}
