/**
 * Label selectors look at an object's own labels only: `constructor`, `toString`, `__proto__` and
 * the rest of Object.prototype are not labels (issue 9 item 6). A stored `__proto__` label (JSON
 * keeps it as an own property) survives the reader and the router.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { matchesLabels } from "#shared/api/label-selector.ts";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { type ApiRouter, createApiRouter } from "#shared/api/router.ts";
import type { OutputObject } from "#shared/core/output-changes.ts";
import { type ApiFixture, apiFixture } from "#test/support/api-fixture.ts";

let fixture: ApiFixture;
let router: ApiRouter;

before(async () => {
  fixture = await apiFixture();
  router = createApiRouter({ reader: new MemorySliceReader(fixture.store) });
});

async function listNames(kindPath: string, labelSelector: string): Promise<string[]> {
  const response = await router({
    method: "GET",
    path: kindPath,
    query: new URLSearchParams({ labelSelector }),
  });
  assert.equal(response.status, 200, response.body);
  return (JSON.parse(response.body) as { items: OutputObject[] }).items.map((o) => o.metadata.name);
}

const INHERITED = ["constructor", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf"];
const PATHS = [
  "/apis/discovery.k8s.io/v1/endpointslices",
  "/apis/cilium.io/v2alpha1/ciliumendpointslices",
  "/apis/cilium.io/v2/ciliumidentities",
];

describe("label selectors match own labels only", () => {
  for (const path of PATHS) {
    it(`does not see Object.prototype members as labels on ${path}`, async () => {
      const all = await listNames(path, "");
      assert.ok(all.length > 0);
      for (const key of INHERITED) {
        assert.deepEqual(await listNames(path, key), [], `${key} exists`);
        assert.deepEqual(await listNames(path, `!${key}`), all, `!${key}`);
        assert.deepEqual(await listNames(path, `${key} notin (x)`), all, `${key} notin`);
        assert.deepEqual(await listNames(path, `${key}!=x`), all, `${key}!=`);
      }
    });
  }

  it("treats __proto__ as a key like any other in the matcher", () => {
    const exists = {
      text: "__proto__",
      requirements: [{ key: "__proto__", operator: "exists", values: [] }],
    } as const;
    const equals = {
      text: "__proto__=x",
      requirements: [{ key: "__proto__", operator: "=", values: ["x"] }],
    } as const;
    assert.equal(matchesLabels(exists, { app: "web" }), false);
    const own = JSON.parse('{"__proto__":"x","app":"web"}') as Record<string, string>;
    assert.equal(matchesLabels(exists, own), true);
    assert.equal(matchesLabels(equals, own), true);
    // A label map without a prototype (Object.create(null)) is matched the same way.
    const bare = Object.assign(Object.create(null) as Record<string, string>, { app: "web" });
    assert.equal(matchesLabels(exists, bare), false);
  });

  it("keeps a stored __proto__ label in what it serves", async () => {
    const [key, stored] = [...fixture.store.objects("CiliumIdentity")][0] as [
      string,
      { object: OutputObject },
    ];
    const object = JSON.parse(
      JSON.stringify(stored.object).replace('"labels":{', '"labels":{"__proto__":"kept",'),
    ) as OutputObject;
    assert.ok(Object.hasOwn(object.metadata.labels ?? {}, "__proto__"));
    const objects = fixture.store.objects("CiliumIdentity") as Map<
      string,
      { object: OutputObject; sourceTimeMs: number }
    >;
    const previous = objects.get(key);
    objects.set(key, { object, sourceTimeMs: 0 });
    try {
      for (const path of [
        "/apis/cilium.io/v2/ciliumidentities",
        `/apis/cilium.io/v2/ciliumidentities/${object.metadata.name}`,
      ]) {
        const response = await router({ method: "GET", path });
        assert.match(response.body, /"__proto__":"kept"/, path);
      }
    } finally {
      if (previous !== undefined) objects.set(key, previous);
    }
  });
});
