import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { namespaceProblem } from "#shared/api/object-names.ts";
import { createApiRouter } from "#shared/api/router.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";

/** Namespaces whose "<ns>/<name>" keys sort differently from (ns, name) pairs: "a-b/x" < "a/x". */
const NAMESPACES = ["a", "a-b", "a.b", "b"];
const LABEL_VALUES = ["x", "y", "z"];

interface Spec {
  kind: OutputKind;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  resourceVersion: number;
}

const specArbitrary: fc.Arbitrary<Spec> = fc.record({
  kind: fc.constantFrom<OutputKind>("EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"),
  namespace: fc.constantFrom(...NAMESPACES),
  name: fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,5}[a-z0-9])?$/),
  labels: fc.dictionary(
    fc.constantFrom("app", "tier", "example.com/team"),
    fc.constantFrom(...LABEL_VALUES),
    {
      maxKeys: 3,
    },
  ),
  resourceVersion: fc.integer({ min: 1, max: 1_000_000 }),
});

function objectOf(spec: Spec): OutputObject {
  const metadata = { name: spec.name, labels: spec.labels, resourceVersion: String(spec.resourceVersion) };
  switch (spec.kind) {
    case "EndpointSlice":
      return {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { ...metadata, namespace: spec.namespace },
        addressType: "IPv4",
        endpoints: [],
        ports: [],
      };
    case "CiliumEndpointSlice":
      return {
        apiVersion: "cilium.io/v2alpha1",
        kind: "CiliumEndpointSlice",
        metadata,
        namespace: spec.namespace,
        endpoints: [],
      };
    case "CiliumIdentity":
      return { apiVersion: "cilium.io/v2", kind: "CiliumIdentity", metadata, "security-labels": {} };
  }
}

async function storeWith(specs: readonly Spec[]): Promise<MemoryClusterStore> {
  const store = new MemoryClusterStore(resolveSlicingSettings());
  const seen = new Set<string>();
  for (const spec of specs) {
    const key =
      spec.kind === "EndpointSlice"
        ? `${spec.kind}/${spec.namespace}/${spec.name}`
        : `${spec.kind}/${spec.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    await store.commitClusterWrites([
      {
        kind: spec.kind,
        op: "create",
        object: objectOf(spec),
        expectedResourceVersion: undefined,
        bytes: 0,
        sourceTimeMs: 0,
      },
    ]);
  }
  return store;
}

const LISTS = [
  "/apis/discovery.k8s.io/v1/endpointslices",
  // "a.b" is stored (ordering) but is no namespace name a path may ask for (a 400).
  ...NAMESPACES.filter((ns) => namespaceProblem(ns) === undefined).map(
    (ns) => `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
  ),
  "/apis/cilium.io/v2alpha1/ciliumendpointslices",
  "/apis/cilium.io/v2/ciliumidentities",
];
const SELECTORS = ["", "app=x", "app!=y", "tier", "!tier", "app in (x,z),example.com/team"];

type ListBody = {
  metadata: { resourceVersion: string; continue?: string };
  items: Array<{ metadata: { name: string; namespace?: string; resourceVersion: string } }>;
};

describe("paging property", () => {
  it("for any data, limit and selector, the pages concatenated are the full list, each item once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(specArbitrary, { maxLength: 40 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom(...LISTS),
        fc.constantFrom(...SELECTORS),
        async (specs, limit, path, selector) => {
          const router = createApiRouter({ reader: new MemorySliceReader(await storeWith(specs)) });
          const get = async (query: URLSearchParams): Promise<ListBody> => {
            const response = await router({ method: "GET", path, query });
            assert.equal(response.status, 200, response.body);
            return JSON.parse(response.body) as ListBody;
          };
          const key = (item: ListBody["items"][number]) =>
            `${item.metadata.namespace ?? ""}/${item.metadata.name}`;
          const full = await get(new URLSearchParams({ labelSelector: selector }));
          assert.equal(full.metadata.continue, undefined);

          const paged: string[] = [];
          let token: string | undefined;
          let pages = 0;
          do {
            const query = new URLSearchParams({ labelSelector: selector, limit: String(limit) });
            if (token !== undefined) query.set("continue", token);
            const page = await get(query);
            assert.ok(page.items.length <= limit);
            // Every page but an empty list's only one has items: no empty trailing page.
            if (full.items.length > 0) assert.ok(page.items.length > 0);
            const highest = page.items.reduce(
              (max, i) => Math.max(max, Number(i.metadata.resourceVersion)),
              0,
            );
            assert.equal(page.metadata.resourceVersion, String(highest));
            paged.push(...page.items.map(key));
            token = page.metadata.continue;
            pages++;
            assert.ok(pages <= full.items.length + 1, "paging terminates");
          } while (token !== undefined);

          assert.deepEqual(paged, full.items.map(key));
          assert.equal(new Set(paged).size, paged.length);
          assert.equal(pages, Math.max(1, Math.ceil(full.items.length / limit)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("orders by the storage key as DynamoDB does (UTF-8 bytes of <namespace>/<name>)", async () => {
    const store = await storeWith([
      { kind: "EndpointSlice", namespace: "a", name: "z", labels: {}, resourceVersion: 1 },
      { kind: "EndpointSlice", namespace: "a-b", name: "a", labels: {}, resourceVersion: 2 },
      { kind: "EndpointSlice", namespace: "a.b", name: "a", labels: {}, resourceVersion: 3 },
    ]);
    const list = await new MemorySliceReader(store).list("EndpointSlice", undefined);
    assert.deepEqual(
      list.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
      ["a-b/a", "a.b/a", "a/z"],
    );
    assert.equal(list.resourceVersion, "3");
  });
});
