/**
 * Issue 9 item 5 on the router and the in-memory reader: a list answers in bounded pages whatever
 * the caller asks (limit clamped, bytes per page under Lambda's 6 MB response limit), continue
 * tokens are signed (forged, tampered, truncated or empty-key tokens are 410 Expired), and names
 * are checked before any read (a 2,100-character name is a 400, not a store error).
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import fc from "fast-check";
import { DynamoSliceReader } from "#shared/adapters/dynamodb/slice-reader.ts";
import { queryFingerprint } from "#shared/api/continue-token.ts";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { DEFAULT_PAGE_BUDGET } from "#shared/api/page-budget.ts";
import { type ApiResponse, type ApiRouter, createApiRouter } from "#shared/api/router.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";

/** Lambda's limit on a synchronous invocation's response (the API Gateway result as JSON). */
const LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024;
const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

function identity(id: number, app: string): OutputObject {
  return {
    apiVersion: "cilium.io/v2",
    kind: "CiliumIdentity",
    metadata: { name: String(id), labels: { app }, resourceVersion: String(id) },
    "security-labels": { "k8s:app": app },
  };
}

/** An EndpointSlice of `endpoints` endpoints: about 120 bytes of JSON each. */
function bigSlice(index: number, endpoints: number): OutputObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `big-${String(index).padStart(4, "0")}`,
      namespace: "bulk",
      labels: { "kubernetes.io/service-name": "big" },
      resourceVersion: String(index + 1),
    },
    addressType: "IPv4",
    endpoints: Array.from({ length: endpoints }, (_, i) => ({
      addresses: [`10.${index % 250}.${Math.floor(i / 250)}.${i % 250}`],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${i % 97}`,
      zone: "zone-a",
      targetRef: { kind: "Pod", namespace: "bulk", name: `pod-${index}-${i}` },
    })),
    ports: [{ name: "http", port: 80, protocol: "TCP" }],
  } as unknown as OutputObject;
}

async function storeOf(objects: readonly OutputObject[]): Promise<MemoryClusterStore> {
  const store = new MemoryClusterStore(resolveSlicingSettings());
  await store.commitClusterWrites(
    objects.map((object) => ({
      kind: object.kind,
      op: "create" as const,
      object,
      expectedResourceVersion: undefined,
      bytes: 0,
      sourceTimeMs: 0,
    })),
  );
  return store;
}

async function get(router: ApiRouter, path: string, query: Record<string, string> = {}, accept?: string) {
  return router({
    method: "GET",
    path,
    query: new URLSearchParams(query),
    ...(accept === undefined ? {} : { headers: { accept } }),
  });
}

function lambdaResponseBytes(response: ApiResponse): number {
  return Buffer.byteLength(
    JSON.stringify({ statusCode: response.status, headers: response.headers, body: response.body }),
  );
}

type ListBody = { metadata: { continue?: string }; items?: unknown[]; rows?: unknown[] };

async function walk(
  router: ApiRouter,
  path: string,
  query: Record<string, string>,
  accept?: string,
): Promise<{ pages: ListBody[]; largest: number }> {
  const pages: ListBody[] = [];
  let largest = 0;
  let token: string | undefined;
  do {
    const response = await get(
      router,
      path,
      token === undefined ? query : { ...query, continue: token },
      accept,
    );
    assert.equal(response.status, 200, response.body.slice(0, 300));
    largest = Math.max(largest, lambdaResponseBytes(response));
    const body = JSON.parse(response.body) as ListBody;
    pages.push(body);
    token = body.metadata.continue;
  } while (token !== undefined && pages.length < 100);
  return { pages, largest };
}

describe("bounded pages", () => {
  it("clamps a huge limit, and a missing one, to the maximum page size", async () => {
    const count = DEFAULT_PAGE_BUDGET.maxLimit + 150;
    const router = createApiRouter({
      reader: new MemorySliceReader(
        await storeOf(Array.from({ length: count }, (_, i) => identity(i + 1, "a"))),
      ),
    });
    for (const query of [{ limit: "999999999999999" }, {}] as Record<string, string>[]) {
      const { pages } = await walk(router, "/apis/cilium.io/v2/ciliumidentities", query);
      assert.deepEqual(
        pages.map((p) => p.items?.length),
        [DEFAULT_PAGE_BUDGET.maxLimit, 150],
        JSON.stringify(query),
      );
    }
  });

  it("keeps every page, JSON or Table, under Lambda's 6 MB response limit, and loses nothing", async () => {
    // 60 slices of ~100 KB: about 6 MB of objects in one namespace.
    const objects = Array.from({ length: 60 }, (_, i) => bigSlice(i, 800));
    const total = objects.reduce((sum, o) => sum + JSON.stringify(o).length, 0);
    assert.ok(total > LAMBDA_RESPONSE_LIMIT, `fixture too small: ${total}`);
    const router = createApiRouter({ reader: new MemorySliceReader(await storeOf(objects)) });
    for (const path of [
      "/apis/discovery.k8s.io/v1/endpointslices",
      "/apis/discovery.k8s.io/v1/namespaces/bulk/endpointslices",
    ]) {
      for (const [query, accept] of [
        [{}, undefined],
        [{ limit: "500" }, undefined],
        [{ includeObject: "Object" }, TABLE_ACCEPT],
      ] as const) {
        const { pages, largest } = await walk(router, path, query, accept);
        assert.ok(largest < LAMBDA_RESPONSE_LIMIT, `${path}: a page of ${largest} bytes`);
        assert.ok(pages.length >= 2, `${path}: ${pages.length} page(s)`);
        const seen = pages.flatMap((p) => p.items ?? p.rows ?? []);
        assert.equal(seen.length, objects.length);
      }
    }
  });
});

describe("signed continue tokens", () => {
  it("answers a token this server did not sign with 410 Expired, never 500", async () => {
    const router = createApiRouter({
      reader: new MemorySliceReader(await storeOf(Array.from({ length: 5 }, (_, i) => identity(i + 1, "a")))),
    });
    const path = "/apis/cilium.io/v2/ciliumidentities";
    const own = JSON.parse((await get(router, path, { limit: "2" })).body).metadata.continue as string;
    assert.ok(own);
    const [payload = "", signature = ""] = own.split(".");
    // What an unsigned token of this query looked like: base64url JSON naming where to start.
    const fingerprint = queryFingerprint(["memory", "CiliumIdentity", undefined, "", ""]);
    const forgedPayload = Buffer.from(JSON.stringify({ v: 2, q: fingerprint, k: { after: "3" } })).toString(
      "base64url",
    );
    const legacy = Buffer.from(JSON.stringify({ v: 1, q: fingerprint, k: { after: "3" } })).toString(
      "base64url",
    );
    const emptyKey = `${forgedPayload}.${createHmac("sha256", "").update(forgedPayload).digest("base64url")}`;
    const withOwnSignature = `${forgedPayload}.${signature}`;
    const tampered = `${payload}.${signature.slice(0, 5)}${signature[5] === "A" ? "B" : "A"}${signature.slice(6)}`;
    // The same signature bytes spelled with other padding bits in the last character (a 32-byte
    // HMAC is 43 characters, the last one's two low bits unused).
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const respelled = `${payload}.${signature.slice(0, -1)}${alphabet[alphabet.indexOf(signature.at(-1) ?? "A") + 1]}`;
    assert.deepEqual(
      Buffer.from(respelled.split(".")[1] ?? "", "base64url"),
      Buffer.from(signature, "base64url"),
    );
    for (const token of [
      legacy,
      emptyKey,
      withOwnSignature,
      tampered,
      respelled,
      own.slice(0, -3),
      payload,
      `${own}x`,
    ]) {
      const response = await get(router, path, { limit: "2", continue: token });
      assert.equal(response.status, 410, `${token}: ${response.body}`);
      const status = JSON.parse(response.body);
      assert.equal(status.kind, "Status");
      assert.equal(status.reason, "Expired");
      assert.equal(status.code, 410);
    }
    assert.equal((await get(router, path, { limit: "2", continue: own })).status, 200);
  });
});

describe("names checked before any read", () => {
  function countingRouter(): { router: ApiRouter; reads: () => number; errors: unknown[] } {
    let reads = 0;
    const errors: unknown[] = [];
    // DynamoDB refuses keys over 1,024 bytes with a ValidationException (a 500 if it gets there).
    const documents = {
      send: async () => {
        reads++;
        const error = new Error("One or more parameter values were invalid: key too long");
        error.name = "ValidationException";
        throw error;
      },
    } as unknown as DynamoDBDocumentClient;
    const reader = new DynamoSliceReader({
      documents,
      slicesTable: "s",
      stateTable: "t",
      identitiesTable: "i",
    });
    return {
      router: createApiRouter({ reader, onError: (e) => errors.push(e) }),
      reads: () => reads,
      errors,
    };
  }

  it("answers invalid names and namespaces with a 400 Status without reading", async () => {
    const { router, reads, errors } = countingRouter();
    const long = "a".repeat(2100);
    for (const path of [
      `/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/${long}`,
      `/apis/discovery.k8s.io/v1/namespaces/${long}/endpointslices/web`,
      `/apis/discovery.k8s.io/v1/namespaces/${long}/endpointslices`,
      `/apis/cilium.io/v2alpha1/ciliumendpointslices/${long}`,
      `/apis/cilium.io/v2/ciliumidentities/${long}`,
      "/apis/cilium.io/v2/ciliumidentities/0",
      "/apis/cilium.io/v2/ciliumidentities/99999999",
      "/apis/cilium.io/v2/ciliumidentities/web",
      "/apis/discovery.k8s.io/v1/namespaces/Shop/endpointslices",
      "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/Web_1",
      `/api/v1/namespaces/${"n".repeat(64)}`,
      `/api/v1/namespaces/${encodeURIComponent("a/b")}`,
    ]) {
      const response = await router({ method: "GET", path });
      assert.equal(response.status, 400, `${path.slice(0, 120)}: ${response.body.slice(0, 200)}`);
      const status = JSON.parse(response.body);
      assert.equal(status.kind, "Status");
      assert.equal(status.reason, "BadRequest");
      assert.ok(response.body.length < 1000, "the name is cut short in the message");
    }
    assert.equal(reads(), 0);
    assert.deepEqual(errors, []);
  });
});

describe("bounded pages property", () => {
  it("for any budget, the pages concatenated are the full list, each item once, each page within budget", async () => {
    const objectsArbitrary = fc.uniqueArray(
      fc.record({
        id: fc.integer({ min: 1, max: 400 }),
        app: fc.constantFrom("x", "y"),
      }),
      { selector: (o) => o.id, maxLength: 30 },
    );
    const budgetArbitrary = fc.record({
      maxLimit: fc.integer({ min: 1, max: 6 }),
      maxItemsScanned: fc.integer({ min: 1, max: 8 }),
      maxPageBytes: fc.integer({ min: 1, max: 3000 }),
    });
    await fc.assert(
      fc.asyncProperty(
        objectsArbitrary,
        budgetArbitrary,
        fc.constantFrom("", "app=x", "app=none"),
        fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
        async (specs, budget, selector, limit) => {
          const store = await storeOf(specs.map((s) => identity(s.id, s.app)));
          const full = createApiRouter({ reader: new MemorySliceReader(store) });
          const bounded = createApiRouter({ reader: new MemorySliceReader(store, { pageBudget: budget }) });
          const path = "/apis/cilium.io/v2/ciliumidentities";
          const expected = (
            JSON.parse((await get(full, path, { labelSelector: selector })).body) as {
              items: OutputObject[];
            }
          ).items.map((o) => o.metadata.name);
          const seen: string[] = [];
          let token: string | undefined;
          let pages = 0;
          do {
            const query: Record<string, string> = { labelSelector: selector };
            if (limit !== undefined) query.limit = String(limit);
            if (token !== undefined) query.continue = token;
            const response = await get(bounded, path, query);
            assert.equal(response.status, 200, response.body);
            const body = JSON.parse(response.body) as {
              items: OutputObject[];
              metadata: { continue?: string };
            };
            assert.ok(body.items.length <= Math.min(limit ?? budget.maxLimit, budget.maxLimit));
            seen.push(...body.items.map((o) => o.metadata.name));
            token = body.metadata.continue;
            pages++;
            assert.ok(pages <= specs.length + 1, "every page makes progress");
          } while (token !== undefined);
          assert.deepEqual(seen, expected);
        },
      ),
      { numRuns: 150 },
    );
  });
});
