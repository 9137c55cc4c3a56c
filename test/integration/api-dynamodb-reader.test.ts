/**
 * The HTTP API over DynamoDB Local: the DynamoDB reader must answer exactly what the in-memory
 * reader answers for the same objects (lists, pages, selectors, gets, stats), and the real Lambda
 * handler must serve them from the tables named in its environment.
 *
 * Items are written by hand, following the layout documented in shared/config/table-schemas.ts,
 * so this test checks the reader against that layout, independently of the writer. Not ipcache:
 * its index keys are the writer's to fill, so test/integration/ipcache-ingest.test.ts checks it
 * through the real ingest handler.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BatchWriteCommand, DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import fc from "fast-check";
import { encodeContinueToken, queryFingerprint } from "#shared/api/continue-token.ts";
import { DynamoSliceReader } from "#shared/api/dynamodb-reader.ts";
import { parseLabelSelector } from "#shared/api/label-selector.ts";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { type ApiRouter, createApiRouter } from "#shared/api/router.ts";
import { listKey } from "#shared/api/slice-reader.ts";
import { apiFixture, FIXTURE_TIME_MS } from "#shared/api/testing.ts";
import { ENV } from "#shared/config/resources.ts";
import { SLICES_TABLE } from "#shared/config/table-schemas.ts";
import type { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumIdentity } from "#shared/core/model.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import { createTable, type DynamoDbLocal, startDynamoDbLocal } from "#test/support/dynamodb-local.ts";

const KINDS: readonly OutputKind[] = ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"];
const NOW = FIXTURE_TIME_MS + 60_000;

let local: DynamoDbLocal;
let documents: DynamoDBDocumentClient;
let store: MemoryClusterStore;
let memory: ApiRouter;
let dynamo: ApiRouter;
let tables: { slicesTable: string; stateTable: string; identitiesTable: string };

before(async () => {
  local = await startDynamoDbLocal({ tablePrefix: "api-reader-" });
  documents = DynamoDBDocumentClient.from(local.client, { marshallOptions: { removeUndefinedValues: true } });
  tables = {
    slicesTable: process.env[ENV.slicesTable] as string,
    stateTable: process.env[ENV.stateTable] as string,
    identitiesTable: process.env[ENV.identitiesTable] as string,
  };
  store = (await apiFixture()).store;
  await seed(store, tables.slicesTable, tables.stateTable, tables.identitiesTable);
  memory = createApiRouter({ reader: new MemorySliceReader(store), now: () => NOW });
  dynamo = createApiRouter({ reader: new DynamoSliceReader({ documents, ...tables }), now: () => NOW });
});

after(async () => {
  await local?.stop();
});

function sliceItem(object: OutputObject, sourceTimeMs: number): Record<string, unknown> {
  const namespace = object.kind === "EndpointSlice" ? object.metadata.namespace : "-";
  return {
    pk: `${object.kind}#${namespace}`,
    sk: object.metadata.name,
    kind: object.kind,
    nsName: listKey(object),
    resourceVersion: object.metadata.resourceVersion,
    object: JSON.stringify(object),
    sourceTimeMs,
  };
}

async function putAll(table: string, items: readonly Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    await documents.send(
      new BatchWriteCommand({
        RequestItems: { [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
      }),
    );
  }
}

async function seed(
  from: MemoryClusterStore,
  slices: string,
  state: string,
  identities: string,
): Promise<void> {
  const sliceItems = KINDS.flatMap((kind) =>
    [...from.objects(kind).values()].map(({ object, sourceTimeMs }) => sliceItem(object, sourceTimeMs)),
  );
  await putAll(slices, sliceItems);
  const podItems: Record<string, unknown>[] = [];
  for (const group of from.groups()) {
    for (const [name, entry] of group.pods) {
      const pod = entry.record;
      if (pod === undefined) continue;
      podItems.push({
        pk: `group#${group.name}`,
        sk: `pod#${name}`,
        resourceVersion: entry.resourceVersion,
        record: pod,
        identity: group.podIdentities.get(name),
        ...(pod.nodeName ? { nodeName: pod.nodeName, podKey: `${group.name}/${name}` } : {}),
      });
    }
  }
  await putAll(state, podItems);
  const identityItems = [...from.objects("CiliumIdentity").values()].map(({ object }) => ({
    pk: `id#${object.metadata.name}`,
    sk: "#identity",
    id: Number(object.metadata.name),
    labels: (object as CiliumIdentity)["security-labels"],
    resourceVersion: object.metadata.resourceVersion,
  }));
  await putAll(identities, identityItems);
}

type Json = Record<string, unknown> & {
  metadata: { continue?: string; resourceVersion: string };
  items: Array<{ metadata: { name: string; namespace?: string } }>;
};

async function getJson(router: ApiRouter, path: string, query: Record<string, string> = {}) {
  const response = await router({ method: "GET", path, query: new URLSearchParams(query) });
  return { status: response.status, body: JSON.parse(response.body) as Json };
}

async function allPages(router: ApiRouter, path: string, query: Record<string, string>): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const { status, body } = await getJson(
      router,
      path,
      token === undefined ? query : { ...query, continue: token },
    );
    assert.equal(status, 200, JSON.stringify(body));
    assert.ok(body.items.length <= Number(query.limit ?? Number.POSITIVE_INFINITY));
    names.push(...body.items.map((i) => `${i.metadata.namespace ?? ""}/${i.metadata.name}`));
    token = body.metadata.continue;
  } while (token !== undefined);
  return names;
}

const LISTS = [
  "/apis/discovery.k8s.io/v1/endpointslices",
  "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices",
  "/apis/discovery.k8s.io/v1/namespaces/payments/endpointslices",
  "/apis/discovery.k8s.io/v1/namespaces/nobody/endpointslices",
  "/apis/cilium.io/v2alpha1/ciliumendpointslices",
  "/apis/cilium.io/v2/ciliumidentities",
];

describe("DynamoDB reader on DynamoDB Local", () => {
  it("lists exactly what the in-memory reader lists, with the same resourceVersion", async () => {
    for (const path of LISTS) {
      for (const labelSelector of ["", "app=web", "app!=web", "tier", "!tier"]) {
        const expected = await getJson(memory, path, { labelSelector });
        const actual = await getJson(dynamo, path, { labelSelector });
        assert.equal(actual.status, 200);
        assert.deepEqual(actual.body, expected.body, `${path} ${labelSelector}`);
      }
    }
  });

  it("pages every list with every limit to the same items, each exactly once", async () => {
    for (const path of LISTS) {
      const full = await allPages(memory, path, {});
      for (const limit of [1, 2, 3, 5]) {
        for (const labelSelector of ["", "app=web"]) {
          const expected = await allPages(memory, path, { labelSelector });
          const paged = await allPages(dynamo, path, { limit: String(limit), labelSelector });
          assert.deepEqual(paged, expected, `${path} limit=${limit} ${labelSelector}`);
        }
      }
      assert.equal(new Set(full).size, full.length);
    }
  });

  it("fills filtered pages by reading on past non-matching items", async () => {
    const reader = new DynamoSliceReader({ documents, ...tables, filteredReadSize: 1 });
    const selector = parseLabelSelector("kubernetes.io/service-name=ledger");
    const first = await reader.list("EndpointSlice", undefined, { limit: 1, labelSelector: selector });
    assert.deepEqual(
      first.items.map((o) => o.metadata.name),
      ["ledger-00001"],
    );
    assert.ok(first.continueToken);
    const second = await reader.list("EndpointSlice", undefined, {
      limit: 5,
      labelSelector: selector,
      continueToken: first.continueToken,
    });
    assert.deepEqual(
      second.items.map((o) => o.metadata.name),
      ["ledger-00002"],
    );
    assert.equal(second.continueToken, undefined);
  });

  it("refuses foreign, forged and malformed continue tokens with 410 Expired", async () => {
    const path = "/apis/discovery.k8s.io/v1/endpointslices";
    const memoryToken = (await getJson(memory, path, { limit: "2" })).body.metadata.continue as string;
    const shopToken = (
      await getJson(dynamo, "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", { limit: "1" })
    ).body.metadata.continue as string;
    // The right fingerprint for this query, but a start key in another partition.
    const fingerprint = queryFingerprint(["dynamodb", "EndpointSlice", undefined, "byKind", "", ""]);
    const ownToken = (await getJson(dynamo, path, { limit: "2" })).body.metadata.continue as string;
    assert.equal(JSON.parse(Buffer.from(ownToken, "base64url").toString()).q, fingerprint);
    const forged = encodeContinueToken(fingerprint, {
      kind: "CiliumIdentity",
      nsName: "256",
      pk: "x",
      sk: "y",
    });
    const extraKey = encodeContinueToken(fingerprint, {
      kind: "EndpointSlice",
      nsName: "a/b",
      pk: "p",
      sk: "s",
      z: "",
    });
    for (const token of [memoryToken, shopToken, forged, extraKey, "%%%", "e30"]) {
      const { status, body } = await getJson(dynamo, path, { limit: "2", continue: token });
      assert.equal(status, 410, token);
      assert.equal(body.reason, "Expired");
    }
  });

  it("gets each object as stored and 404s the rest", async () => {
    for (const kind of KINDS) {
      for (const { object } of store.objects(kind).values()) {
        const reader = new DynamoSliceReader({ documents, ...tables });
        const got = await reader.get(kind, object.metadata.namespace, object.metadata.name);
        assert.deepEqual(got, object);
      }
    }
    const missing = await getJson(
      dynamo,
      "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/ledger-00001",
    );
    assert.equal(missing.status, 404);
    assert.equal(missing.body.message, 'endpointslices.discovery.k8s.io "ledger-00001" not found');
  });

  it("counts per kind, knows namespaces, and serves stats from a short cache", async () => {
    const stats = (await getJson(dynamo, "/v1/stats")).body as unknown as { counts: Record<string, number> };
    assert.deepEqual(stats.counts, { EndpointSlice: 7, CiliumEndpointSlice: 4, CiliumIdentity: 3 });
    let now = 0;
    const reader = new DynamoSliceReader({ documents, ...tables, now: () => now, statsCacheMs: 1000 });
    const first = await reader.stats();
    now = 500;
    assert.equal(await reader.stats(), first);
    now = 1500;
    assert.notEqual(await reader.stats(), first);
    assert.equal(await reader.namespaceExists("shop"), true);
    assert.equal(await reader.namespaceExists("kube-system"), true, "a namespace with pods but no slices");
    assert.equal(await reader.namespaceExists("nobody"), false);
  });
});

describe("DynamoDB reader property", () => {
  it("for random objects, limits and selectors, DynamoDB pages equal the in-memory list", async () => {
    let run = 0;
    const objectArbitrary = fc.record({
      kind: fc.constantFrom<OutputKind>("EndpointSlice", "CiliumIdentity"),
      namespace: fc.constantFrom("a", "a-b", "b"),
      name: fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,4}[a-z0-9])?$/),
      app: fc.constantFrom("x", "y", undefined),
      rv: fc.integer({ min: 1, max: 1_000_000 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(objectArbitrary, { maxLength: 25 }),
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom("", "app=x", "!app"),
        async (specs, limit, selector) => {
          const table = `api-reader-prop-${run++}`;
          await createTable(local.client, table, SLICES_TABLE);
          const objects = new Map<string, OutputObject>();
          for (const spec of specs) {
            const labels: Record<string, string> = spec.app === undefined ? {} : { app: spec.app };
            const metadata = {
              name: spec.name,
              labels,
              resourceVersion: String(spec.rv),
            };
            const object: OutputObject =
              spec.kind === "EndpointSlice"
                ? {
                    apiVersion: "discovery.k8s.io/v1",
                    kind: "EndpointSlice",
                    metadata: { ...metadata, namespace: spec.namespace },
                    addressType: "IPv4",
                    endpoints: [],
                    ports: [],
                  }
                : { apiVersion: "cilium.io/v2", kind: "CiliumIdentity", metadata, "security-labels": {} };
            objects.set(`${object.kind}/${listKey(object)}`, object);
          }
          await putAll(
            table,
            [...objects.values()].map((o) => sliceItem(o, 0)),
          );
          const reader = new DynamoSliceReader({
            documents,
            ...tables,
            slicesTable: table,
            filteredReadSize: 2,
          });
          const labelSelector = parseLabelSelector(selector);
          for (const [kind, namespace] of [
            ["EndpointSlice", undefined],
            ["EndpointSlice", "a"],
            ["CiliumIdentity", undefined],
          ] as const) {
            const expected = [...objects.values()]
              .filter(
                (o) => o.kind === kind && (namespace === undefined || o.metadata.namespace === namespace),
              )
              .filter(
                (o) =>
                  selector === "" ||
                  (selector === "app=x" ? o.metadata.labels?.app === "x" : !o.metadata.labels?.app),
              )
              .map(listKey)
              .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
            const seen: string[] = [];
            let token: string | undefined;
            do {
              const page = await reader.list(kind, namespace, { limit, labelSelector, continueToken: token });
              assert.ok(page.items.length <= limit);
              seen.push(...page.items.map(listKey));
              token = page.continueToken;
            } while (token !== undefined);
            assert.deepEqual(seen, expected);
          }
        },
      ),
      { numRuns: 12 },
    );
  });
});

describe("the real API handler on DynamoDB Local", () => {
  function event(rawPath: string, rawQueryString = "", accept = "application/json"): APIGatewayProxyEventV2 {
    return {
      version: "2.0",
      routeKey: "$default",
      rawPath,
      rawQueryString,
      headers: {
        accept,
        host: "127.0.0.1",
        "user-agent": "kubectl/v1.20.2 (linux/amd64) kubernetes/faecb19",
      },
      requestContext: {
        accountId: "123456789012",
        apiId: "local",
        domainName: "127.0.0.1",
        domainPrefix: "local",
        http: {
          method: "GET",
          path: rawPath,
          protocol: "HTTP/1.1",
          sourceIp: "127.0.0.1",
          userAgent: "kubectl",
        },
        requestId: "local-request-1",
        routeKey: "$default",
        stage: "$default",
        time: "25/Nov/2026:12:01:00 +0000",
        timeEpoch: NOW,
      },
      isBase64Encoded: false,
    };
  }
  const context = {
    functionName: "sliceline-api",
    awsRequestId: "local-invocation",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:sliceline-api",
    memoryLimitInMB: "512",
    getRemainingTimeInMillis: () => 10_000,
  } as unknown as Context;

  it("serves lists, gets and stats from the tables in its environment", async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = "true";
    process.env.POWERTOOLS_LOG_LEVEL = "WARN";
    const { handler } = await import("#functions/api/handler.ts");
    const invoke = async (...args: Parameters<typeof event>) =>
      (await handler(event(...args), context)) as APIGatewayProxyStructuredResultV2;

    const list = await invoke("/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", "limit=2");
    assert.equal(list.statusCode, 200);
    const body = JSON.parse(list.body ?? "");
    assert.equal(body.kind, "EndpointSliceList");
    assert.deepEqual(
      body.items.map((i: { metadata: { name: string } }) => i.metadata.name),
      ["cart-00001", "cart-00002"],
    );
    assert.ok(body.metadata.continue);

    const table = await invoke(
      "/apis/cilium.io/v2/ciliumidentities",
      "",
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    );
    assert.deepEqual(
      JSON.parse(table.body ?? "").rows.map((r: { cells: unknown[] }) => r.cells.slice(0, 2)),
      [
        ["256", "shop"],
        ["257", "shop"],
        ["258", "payments"],
      ],
    );
    const identity = await invoke("/apis/cilium.io/v2/ciliumidentities/258");
    assert.equal(JSON.parse(identity.body ?? "").metadata.labels.app, "ledger");
    const stats = await invoke("/v1/stats");
    assert.equal(JSON.parse(stats.body ?? "").counts.EndpointSlice, 7);
    const missing = await invoke("/apis/cilium.io/v2alpha1/ciliumendpointslices/nope");
    assert.equal(missing.statusCode, 404);
  });
});
