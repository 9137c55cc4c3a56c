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
import { createHmac } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { BatchWriteCommand, DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import fc from "fast-check";
import { sliceItem } from "#shared/adapters/dynamodb/items.ts";
import { DynamoSliceReader } from "#shared/adapters/dynamodb/slice-reader.ts";
import { upgradeSlicesLayout } from "#shared/adapters/dynamodb/slices-layout-upgrade.ts";
import { ContinueTokens, queryFingerprint } from "#shared/api/continue-token.ts";
import { parseLabelSelector } from "#shared/api/label-selector.ts";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { DEFAULT_PAGE_BUDGET } from "#shared/api/page-budget.ts";
import { type ApiRouter, createApiRouter } from "#shared/api/router.ts";
import { listKey } from "#shared/api/slice-reader.ts";
import { ENV } from "#shared/config/resources.ts";
import { SLICES_TABLE } from "#shared/config/table-schemas.ts";
import type { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumIdentity } from "#shared/core/model.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import { apiFixture, FIXTURE_TIME_MS } from "#test/support/api-fixture.ts";
import { createTable, type DynamoDbLocal, startDynamoDbLocal } from "#test/support/dynamodb-local.ts";

const KINDS: readonly OutputKind[] = ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"];
const NOW = FIXTURE_TIME_MS + 60_000;

let local: DynamoDbLocal;
let documents: DynamoDBDocumentClient;
let store: MemoryClusterStore;
let memory: ApiRouter;
let dynamo: ApiRouter;
let tables: { slicesTable: string; stateTable: string; identitiesTable: string };
const tokens = ContinueTokens.withRandomKey();

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
  dynamo = createApiRouter({
    reader: new DynamoSliceReader({ documents, ...tables, continueTokens: tokens }),
    now: () => NOW,
  });
});

after(async () => {
  await local?.stop();
});

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

  it("refuses foreign, forged, tampered, truncated and malformed continue tokens with 410 Expired", async () => {
    const path = "/apis/discovery.k8s.io/v1/endpointslices";
    const memoryToken = (await getJson(memory, path, { limit: "2" })).body.metadata.continue as string;
    const shopToken = (
      await getJson(dynamo, "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", { limit: "1" })
    ).body.metadata.continue as string;
    // The right fingerprint for this query, but a start key in another partition.
    const fingerprint = queryFingerprint(["dynamodb", "EndpointSlice", undefined, "byKindShard", "", ""]);
    const ownToken = (await getJson(dynamo, path, { limit: "2" })).body.metadata.continue as string;
    const [ownPayload = "", ownSignature = ""] = ownToken.split(".");
    assert.equal(JSON.parse(Buffer.from(ownPayload, "base64url").toString()).q, fingerprint);
    // Signed with this server's key, but a start key in another partition.
    const forged = tokens.encode(fingerprint, {
      kind: "CiliumIdentity",
      nsName: "256",
      pk: "x",
      sk: "y",
    });
    const extraKey = tokens.encode(fingerprint, {
      kind: "EndpointSlice",
      nsName: "a/b",
      pk: "p",
      sk: "s",
      z: "",
    });
    // The right query and a plausible start key, signed with another key, an empty key, or not at all.
    const payload = Buffer.from(
      JSON.stringify({ v: 2, q: fingerprint, k: { kind: "EndpointSlice", nsName: "a/b", pk: "p", sk: "s" } }),
    ).toString("base64url");
    const otherKey = ContinueTokens.withRandomKey().encode(fingerprint, {
      kind: "EndpointSlice",
      nsName: "shop/web-00001",
      pk: "EndpointSlice#shop",
      sk: "web-00001",
    });
    const emptyKey = `${payload}.${createHmac("sha256", "").update(payload).digest("base64url")}`;
    const tampered = `${ownPayload.slice(0, -2)}${ownPayload.endsWith("A") ? "B" : "A"}${ownPayload.slice(-1)}.${ownSignature}`;
    const truncated = ownToken.slice(0, -1);
    const unsigned = ownPayload;
    for (const token of [
      memoryToken,
      shopToken,
      forged,
      extraKey,
      otherKey,
      emptyKey,
      tampered,
      truncated,
      unsigned,
      "%%%",
      "e30",
      "e30.",
      ".",
      "x".repeat(5000),
    ]) {
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

describe("a slices table written by the earlier layout", () => {
  /** An item as written before the kind index was sharded and objects compressed. */
  const legacyItem = (object: OutputObject, sourceTimeMs: number) => {
    const { kindShard: _shard, objectBr: _compressed, ...keys } = sliceItem(object, sourceTimeMs);
    return { ...keys, object: JSON.stringify(object) };
  };

  it("serves legacy items where it reads them by key, and after the upgrade serves every list as before", async () => {
    const table = "api-reader-legacy-layout";
    await createTable(local.client, table, SLICES_TABLE);
    const legacy = KINDS.flatMap((kind) =>
      [...store.objects(kind).values()].map(({ object, sourceTimeMs }) => legacyItem(object, sourceTimeMs)),
    );
    await putAll(table, legacy);
    const router = createApiRouter({
      reader: new DynamoSliceReader({ documents, ...tables, slicesTable: table }),
      now: () => NOW,
    });
    const shop = "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices";
    assert.deepEqual((await getJson(router, shop)).body, (await getJson(memory, shop)).body);
    // Not in the sharded index yet: what the upgrade is for.
    assert.deepEqual((await getJson(router, "/apis/cilium.io/v2/ciliumidentities")).body.items, []);

    assert.deepEqual(await upgradeSlicesLayout(documents, table, { dryRun: true }), {
      scanned: legacy.length,
      upgraded: legacy.length,
      changedMeanwhile: 0,
    });
    assert.deepEqual(await upgradeSlicesLayout(documents, table), {
      scanned: legacy.length,
      upgraded: legacy.length,
      changedMeanwhile: 0,
    });
    assert.equal((await upgradeSlicesLayout(documents, table)).upgraded, 0, "a second run has nothing to do");
    for (const path of LISTS)
      assert.deepEqual((await getJson(router, path)).body, (await getJson(memory, path)).body, path);
  });

  it("leaves an item rewritten between the scan and the put as the writer left it", async () => {
    const table = "api-reader-legacy-race";
    await createTable(local.client, table, SLICES_TABLE);
    const [first] = [...store.objects("CiliumIdentity").values()];
    assert.ok(first !== undefined);
    await putAll(table, [legacyItem(first.object, first.sourceTimeMs)]);
    const newer = { ...first.object, metadata: { ...first.object.metadata, resourceVersion: "999999999" } };
    // A document client whose scan answers with the legacy item after ingest rewrote it.
    const racing = {
      send: async (command: { constructor: { name: string } }) => {
        const output = await documents.send(command as never);
        if (command.constructor.name === "ScanCommand")
          await putAll(table, [sliceItem(newer as OutputObject, 1)]);
        return output;
      },
    } as unknown as DynamoDBDocumentClient;
    assert.deepEqual(await upgradeSlicesLayout(racing, table), {
      scanned: 1,
      upgraded: 0,
      changedMeanwhile: 1,
    });
  });
});

describe("DynamoDB reader property", () => {
  it("for random objects, limits, selectors and page budgets, DynamoDB pages equal the in-memory list", async () => {
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
        fc.option(
          fc.record({
            maxLimit: fc.integer({ min: 1, max: 6 }),
            maxItemsScanned: fc.integer({ min: 1, max: 8 }),
            maxPageBytes: fc.integer({ min: 1, max: 3000 }),
          }),
          { nil: undefined },
        ),
        async (specs, limit, selector, pageBudget) => {
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
            ...(pageBudget === undefined ? {} : { pageBudget }),
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
      { numRuns: 20 },
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
    process.env[ENV.continueTokenKey] = "k".repeat(32);
    const { handler } = await import("#functions/api/handler.ts");
    const invoke = async (...args: Parameters<typeof event>) =>
      (await handler(event(...args), context)) as APIGatewayProxyStructuredResultV2;

    const list = await invoke("/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", "limit=2");
    assert.equal(list.statusCode, 200);
    const body = JSON.parse(list.body ?? "");
    assert.equal(body.kind, "EndpointSliceList");
    assert.deepEqual(
      body.items.map((i: { metadata: { name: string } }) => i.metadata.name),
      ["cart-00004", "cart-00005"],
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

describe("DynamoDB reader budgets (issue 9 item 5)", () => {
  /** A document client that counts the items each Query read (ScannedCount). */
  function counting(): { documents: DynamoDBDocumentClient; scanned: () => number; reset: () => void } {
    let scanned = 0;
    const counted = {
      send: async (command: unknown) => {
        const output = (await documents.send(command as never)) as { ScannedCount?: number };
        scanned += output.ScannedCount ?? 0;
        return output;
      },
    } as unknown as DynamoDBDocumentClient;
    return { documents: counted, scanned: () => scanned, reset: () => (scanned = 0) };
  }

  it("reads at most maxItemsScanned items per request: a selector matching nothing pages on", async () => {
    const table = "api-reader-budget-scan";
    await createTable(local.client, table, SLICES_TABLE);
    const count = DEFAULT_PAGE_BUDGET.maxItemsScanned + 100;
    const items = Array.from({ length: count }, (_, i) =>
      sliceItem(
        {
          apiVersion: "cilium.io/v2",
          kind: "CiliumIdentity",
          metadata: { name: String(1000 + i), labels: { app: "x" }, resourceVersion: String(i + 1) },
          "security-labels": {},
        },
        0,
      ),
    );
    await Promise.all(
      Array.from({ length: 4 }, (_, part) =>
        putAll(
          table,
          items.filter((_, i) => i % 4 === part),
        ),
      ),
    );
    const { documents: counted, scanned, reset } = counting();
    const router = createApiRouter({
      reader: new DynamoSliceReader({ documents: counted, ...tables, slicesTable: table }),
    });
    const reads: number[] = [];
    const sizes: number[] = [];
    let token: string | undefined;
    do {
      reset();
      const { status, body } = await getJson(router, "/apis/cilium.io/v2/ciliumidentities", {
        labelSelector: "app=none",
        limit: "1",
        ...(token === undefined ? {} : { continue: token }),
      });
      assert.equal(status, 200);
      reads.push(scanned());
      sizes.push(body.items.length);
      token = body.metadata.continue;
    } while (token !== undefined && reads.length < 10);
    // The identities spread over the kind index's shards: a request stops at the budget, and the
    // items it read past the last one it consumed (the other shards' heads) are read again next.
    assert.equal(reads[0], DEFAULT_PAGE_BUDGET.maxItemsScanned);
    assert.equal(reads.length, 2);
    assert.ok(
      (reads[1] ?? 0) >= 100 && (reads[1] ?? 0) <= DEFAULT_PAGE_BUDGET.maxItemsScanned,
      `${reads[1]}`,
    );
    assert.deepEqual(sizes, [0, 0], "pages with no items carry the continue token");
  });

  it("ends a page before Lambda's 6 MB response limit, and the pages hold everything", async () => {
    const table = "api-reader-budget-bytes";
    await createTable(local.client, table, SLICES_TABLE);
    // 20 identities of ~330 KB each (DynamoDB items are at most 400 KB): ~6.6 MB in all.
    const items = Array.from({ length: 20 }, (_, i) =>
      sliceItem(
        {
          apiVersion: "cilium.io/v2",
          kind: "CiliumIdentity",
          metadata: { name: String(2000 + i), labels: { app: "x" }, resourceVersion: String(i + 1) },
          "security-labels": Object.fromEntries(
            Array.from({ length: 5000 }, (_, j) => [`k8s:label-${j}`, "v".repeat(40)]),
          ),
        },
        0,
      ),
    );
    await putAll(table, items.slice(0, 10));
    await putAll(table, items.slice(10));
    const router = createApiRouter({
      reader: new DynamoSliceReader({ documents, ...tables, slicesTable: table }),
    });
    let token: string | undefined;
    const names: string[] = [];
    let pages = 0;
    do {
      const response = await router({
        method: "GET",
        path: "/apis/cilium.io/v2/ciliumidentities",
        query: new URLSearchParams(token === undefined ? {} : { continue: token }),
      });
      assert.equal(response.status, 200);
      const envelope = JSON.stringify({ statusCode: 200, headers: response.headers, body: response.body });
      assert.ok(Buffer.byteLength(envelope) < 6 * 1024 * 1024, `page of ${envelope.length} bytes`);
      const body = JSON.parse(response.body) as Json;
      names.push(...body.items.map((i) => i.metadata.name));
      token = body.metadata.continue;
      pages++;
    } while (token !== undefined && pages < 10);
    assert.ok(pages >= 2);
    assert.deepEqual(
      names,
      items.map((i) => i.sk),
    );
  });

  it("answers a 2,100-character name or namespace with 400, not a store error", async () => {
    const long = "a".repeat(2100);
    for (const path of [
      `/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/${long}`,
      `/apis/discovery.k8s.io/v1/namespaces/${long}/endpointslices`,
      `/apis/cilium.io/v2alpha1/ciliumendpointslices/${long}`,
      `/apis/cilium.io/v2/ciliumidentities/${"9".repeat(2100)}`,
      `/api/v1/namespaces/${long}`,
    ]) {
      const { status, body } = await getJson(dynamo, path);
      assert.equal(status, 400, path.slice(0, 80));
      assert.equal(body.kind, "Status");
    }
  });
});

describe("DynamoDB reader selectors (issue 9 item 6)", () => {
  it("matches own labels only: constructor and toString are not labels", async () => {
    for (const path of LISTS) {
      const all = (await getJson(dynamo, path)).body.items.length;
      for (const key of ["constructor", "toString", "hasOwnProperty"]) {
        assert.equal(
          (await getJson(dynamo, path, { labelSelector: key })).body.items.length,
          0,
          `${path} ${key}`,
        );
        assert.equal((await getJson(dynamo, path, { labelSelector: `!${key}` })).body.items.length, all);
      }
    }
  });
});
