import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { MemorySliceReader } from "#shared/api/memory-reader.ts";
import { type ApiRequest, type ApiResponse, type ApiRouter, createApiRouter } from "#shared/api/router.ts";
import { API_ROUTE_KEYS, API_ROUTES } from "#shared/api/routes.ts";
import type { SliceReader } from "#shared/api/slice-reader.ts";
import { tooManyRequests } from "#shared/api/status.ts";
import type { WatcherAuthorizationPolicy } from "#shared/api/watcher-authorization.ts";
import {
  MemoryWatcherRegistry,
  WatcherBusyError,
  WatcherChannelConflictError,
  type WatcherRegistry,
} from "#shared/api/watcher-registry.ts";
import { type ApiFixture, apiFixture, FIXTURE_TIME_MS } from "#test/support/api-fixture.ts";

const KUBECTL_TABLE_ACCEPT =
  "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
const NOW = FIXTURE_TIME_MS + (3 * 60 + 7) * 1000; // 3m7s after the objects were written

let fixture: ApiFixture;
let router: ApiRouter;
let watchers: MemoryWatcherRegistry;
let clock = 1_000;

before(async () => {
  fixture = await apiFixture();
  watchers = new MemoryWatcherRegistry({ now: () => clock });
  router = createApiRouter({
    reader: new MemorySliceReader(fixture.store, { now: () => NOW }),
    watchers,
    now: () => NOW,
  });
});

async function call(path: string, init: Partial<ApiRequest> = {}): Promise<ApiResponse> {
  const url = new URL(path, "http://api.test");
  return router({ method: "GET", path: url.pathname, query: url.searchParams, ...init });
}

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies are inspected freely in tests
async function body(path: string, init: Partial<ApiRequest> = {}): Promise<any> {
  const response = await call(path, init);
  assert.equal(response.headers["content-type"], "application/json");
  return JSON.parse(response.body);
}

function names(list: { items: Array<{ metadata: { name: string; namespace?: string } }> }): string[] {
  return list.items.map(
    (item) => (item.metadata.namespace ? `${item.metadata.namespace}/` : "") + item.metadata.name,
  );
}

function assertStatus(response: ApiResponse, code: number, reason: string): Record<string, unknown> {
  assert.equal(response.status, code, response.body);
  const status = JSON.parse(response.body);
  assert.equal(status.kind, "Status");
  assert.equal(status.apiVersion, "v1");
  assert.equal(status.status, "Failure");
  assert.equal(status.reason, reason);
  assert.equal(status.code, code);
  assert.equal(typeof status.message, "string");
  assert.doesNotMatch(response.body, /at .*\.ts:\d+|Error:|stack/);
  return status;
}

describe("discovery", () => {
  it("advertises no core version (kubectl 1.3x fails on a v1 with no resources) and keeps /api/v1 answering", async () => {
    const versions = await body("/api", { headers: { Host: "api.test" } });
    assert.equal(versions.kind, "APIVersions");
    assert.deepEqual(versions.versions, []);
    assert.deepEqual(versions.serverAddressByClientCIDRs, [
      { clientCIDR: "0.0.0.0/0", serverAddress: "api.test" },
    ]);
    assert.deepEqual(await body("/api/v1"), { kind: "APIResourceList", groupVersion: "v1", resources: [] });
  });

  it("lists discovery.k8s.io/v1 and both cilium.io versions in /apis", async () => {
    const groups = await body("/apis");
    assert.equal(groups.kind, "APIGroupList");
    assert.equal(groups.apiVersion, "v1");
    assert.deepEqual(groups.groups, [
      {
        name: "discovery.k8s.io",
        versions: [{ groupVersion: "discovery.k8s.io/v1", version: "v1" }],
        preferredVersion: { groupVersion: "discovery.k8s.io/v1", version: "v1" },
      },
      {
        name: "cilium.io",
        versions: [
          { groupVersion: "cilium.io/v2", version: "v2" },
          { groupVersion: "cilium.io/v2alpha1", version: "v2alpha1" },
        ],
        preferredVersion: { groupVersion: "cilium.io/v2", version: "v2" },
      },
    ]);
    const group = await body("/apis/cilium.io");
    assert.equal(group.kind, "APIGroup");
    assert.equal(group.preferredVersion.version, "v2");
  });

  it("describes each resource with its scope, kind, verbs and short names", async () => {
    const discovery = await body("/apis/discovery.k8s.io/v1");
    assert.equal(discovery.kind, "APIResourceList");
    assert.equal(discovery.groupVersion, "discovery.k8s.io/v1");
    assert.deepEqual(discovery.resources, [
      {
        name: "endpointslices",
        singularName: "endpointslice",
        namespaced: true,
        kind: "EndpointSlice",
        verbs: ["get", "list", "watch"],
      },
    ]);
    const v2alpha1 = await body("/apis/cilium.io/v2alpha1");
    assert.deepEqual(v2alpha1.resources, [
      {
        name: "ciliumendpointslices",
        singularName: "ciliumendpointslice",
        namespaced: false,
        kind: "CiliumEndpointSlice",
        verbs: ["get", "list", "watch"],
        shortNames: ["ces"],
        categories: ["cilium"],
      },
    ]);
    const v2 = await body("/apis/cilium.io/v2");
    assert.deepEqual(v2.resources, [
      {
        name: "ciliumidentities",
        singularName: "ciliumidentity",
        namespaced: false,
        kind: "CiliumIdentity",
        verbs: ["get", "list", "watch"],
        shortNames: ["ciliumid"],
        categories: ["cilium"],
      },
    ]);
  });

  it("answers unknown groups, versions and paths with a 404 Status", async () => {
    for (const path of [
      "/apis/apps",
      "/apis/discovery.k8s.io/v1beta1",
      "/apis/cilium.io/v2/ciliumendpointslices",
      "/apis/discovery.k8s.io/v1/namespaces/shop/ciliumidentities",
      "/apis/cilium.io/v2/namespaces/shop/ciliumidentities",
      "/apis/discovery.k8s.io/v1/endpointslices/web-00001",
      "/api/v2",
      "/nothing/here",
      "/v1/ipcache",
      "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/web-00001/status",
    ]) {
      const response = await call(path);
      const status = assertStatus(response, 404, "NotFound");
      assert.equal(status.message, "the server could not find the requested resource", path);
      assert.equal(response.route, "unmatched");
    }
  });
});

describe("list and get", () => {
  it("lists a namespace's EndpointSlices and all namespaces', in storage-key order", async () => {
    const shop = await body("/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices");
    assert.equal(shop.apiVersion, "discovery.k8s.io/v1");
    assert.equal(shop.kind, "EndpointSliceList");
    assert.deepEqual(names(shop), [
      "shop/cart-00004",
      "shop/cart-00005",
      "shop/web-00001",
      "shop/web-00002",
      "shop/web-00003",
    ]);
    assert.equal(shop.metadata.continue, undefined);
    const all = await body("/apis/discovery.k8s.io/v1/endpointslices");
    assert.deepEqual(names(all), [
      "payments/ledger-00001",
      "payments/ledger-00002",
      "shop/cart-00004",
      "shop/cart-00005",
      "shop/web-00001",
      "shop/web-00002",
      "shop/web-00003",
    ]);
    const empty = await body("/apis/discovery.k8s.io/v1/namespaces/nobody/endpointslices");
    assert.deepEqual(empty.items, []);
    assert.equal(empty.metadata.resourceVersion, "0");
  });

  it("gives each list the highest resourceVersion of its items as a decimal string", async () => {
    for (const path of [
      "/apis/discovery.k8s.io/v1/endpointslices",
      "/apis/cilium.io/v2alpha1/ciliumendpointslices",
      "/apis/cilium.io/v2/ciliumidentities",
    ]) {
      const list = await body(path);
      const versions = list.items.map((item: { metadata: { resourceVersion: string } }) =>
        BigInt(item.metadata.resourceVersion),
      );
      const highest = versions.reduce((a: bigint, b: bigint) => (a > b ? a : b));
      assert.match(list.metadata.resourceVersion, /^[0-9]+$/);
      assert.equal(list.metadata.resourceVersion, String(highest), path);
    }
  });

  it("lists CiliumEndpointSlices and CiliumIdentities cluster-wide", async () => {
    const ces = await body("/apis/cilium.io/v2alpha1/ciliumendpointslices");
    assert.equal(ces.kind, "CiliumEndpointSliceList");
    assert.equal(ces.apiVersion, "cilium.io/v2alpha1");
    assert.deepEqual(names(ces), ["ces-payments-1", "ces-shop-1", "ces-shop-2", "ces-shop-3"]);
    const ids = await body("/apis/cilium.io/v2/ciliumidentities");
    assert.equal(ids.kind, "CiliumIdentityList");
    assert.equal(ids.apiVersion, "cilium.io/v2");
    assert.deepEqual(names(ids), ["256", "257", "258"]);
  });

  it("gets one object of each kind as stored, and 404s with the apiserver's wording", async () => {
    const slice = await body("/apis/discovery.k8s.io/v1/namespaces/payments/endpointslices/ledger-00002");
    assert.equal(slice.addressType, "IPv6");
    assert.deepEqual(slice, fixture.store.objects("EndpointSlice").get("payments/ledger-00002")?.object);
    const ces = await body("/apis/cilium.io/v2alpha1/ciliumendpointslices/ces-payments-1");
    assert.equal(ces.kind, "CiliumEndpointSlice");
    assert.equal(ces.namespace, "payments");
    const identity = await body("/apis/cilium.io/v2/ciliumidentities/256");
    assert.equal(identity.kind, "CiliumIdentity");
    assert.equal(identity["security-labels"]["k8s:app"], "web");

    const missing = await call("/apis/discovery.k8s.io/v1/namespaces/payments/endpointslices/web-00001");
    const status = assertStatus(missing, 404, "NotFound");
    assert.equal(status.message, 'endpointslices.discovery.k8s.io "web-00001" not found');
    assert.deepEqual(status.details, {
      name: "web-00001",
      group: "discovery.k8s.io",
      kind: "endpointslices",
    });
    const noIdentity = assertStatus(await call("/apis/cilium.io/v2/ciliumidentities/9999"), 404, "NotFound");
    assert.equal(noIdentity.message, 'ciliumidentities.cilium.io "9999" not found');
  });

  it("answers kubectl's namespace check after a NotFound", async () => {
    const known = await body("/api/v1/namespaces/shop");
    assert.deepEqual(known, {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "shop" },
      status: { phase: "Active" },
    });
    const status = assertStatus(await call("/api/v1/namespaces/elsewhere"), 404, "NotFound");
    assert.equal(status.message, 'namespaces "elsewhere" not found');
  });

  it("refuses other methods and watches with 405 Status", async () => {
    assertStatus(
      await call("/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", { method: "POST", body: "{}" }),
      405,
      "MethodNotAllowed",
    );
    assertStatus(
      await call("/apis/cilium.io/v2/ciliumidentities/256", { method: "DELETE" }),
      405,
      "MethodNotAllowed",
    );
    const watch = assertStatus(
      await call("/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?watch=true"),
      405,
      "MethodNotAllowed",
    );
    assert.match(String(watch.message), /POST \/v1\/watchers/);
  });
});

describe("selectors", () => {
  const cases: Array<[string, string, string[]]> = [
    [
      "/apis/discovery.k8s.io/v1/endpointslices",
      "kubernetes.io/service-name=web",
      ["web-00001", "web-00002", "web-00003"],
    ],
    [
      "/apis/discovery.k8s.io/v1/endpointslices",
      "kubernetes.io/service-name==cart",
      ["cart-00004", "cart-00005"],
    ],
    ["/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", "app!=web", ["cart-00004", "cart-00005"]],
    ["/apis/cilium.io/v2/ciliumidentities", "app", ["256", "257", "258"]],
    ["/apis/cilium.io/v2/ciliumidentities", "!app", []],
    ["/apis/cilium.io/v2/ciliumidentities", "!tier", ["258"]],
    ["/apis/cilium.io/v2/ciliumidentities", "io.kubernetes.pod.namespace=shop,app!=web", ["257"]],
    ["/apis/cilium.io/v2/ciliumidentities", "app in (web, ledger)", ["256", "258"]],
    ["/apis/cilium.io/v2/ciliumidentities", "app notin (web,ledger)", ["257"]],
    ["/apis/cilium.io/v2/ciliumidentities", " app = cart ", ["257"]],
    ["/apis/cilium.io/v2/ciliumidentities", "", ["256", "257", "258"]],
  ];
  for (const [path, selector, expected] of cases) {
    it(`labelSelector ${JSON.stringify(selector)} on ${path.split("/").at(-1)}`, async () => {
      const list = await body(`${path}?labelSelector=${encodeURIComponent(selector)}`);
      assert.deepEqual(
        list.items.map((item: { metadata: { name: string } }) => item.metadata.name),
        expected,
      );
    });
  }

  it("filters by metadata.name and metadata.namespace field selectors", async () => {
    const byName = await body(
      "/apis/discovery.k8s.io/v1/endpointslices?fieldSelector=metadata.name%3Dweb-00002",
    );
    assert.deepEqual(names(byName), ["shop/web-00002"]);
    const notShop = await body(
      "/apis/discovery.k8s.io/v1/endpointslices?fieldSelector=metadata.namespace!%3Dshop",
    );
    assert.deepEqual(names(notShop), ["payments/ledger-00001", "payments/ledger-00002"]);
  });

  it("refuses malformed selectors with a 400 Status naming the problem", async () => {
    for (const selector of [
      "a=b=c",
      "=web",
      "app in web",
      "app in (web",
      "bad key=1",
      "-app=web",
      "app=-web",
      "Example.com/app=1",
      "app>x",
      "a,",
      `app=${"x".repeat(64)}`,
      "!",
    ]) {
      const response = await call(
        `/apis/cilium.io/v2/ciliumidentities?labelSelector=${encodeURIComponent(selector)}`,
      );
      const status = assertStatus(response, 400, "BadRequest");
      assert.match(String(status.message), /^unable to parse requirement: /, selector);
    }
    const field = assertStatus(
      await call("/apis/cilium.io/v2/ciliumidentities?fieldSelector=spec.nodeName%3Dx"),
      400,
      "BadRequest",
    );
    assert.match(String(field.message), /field label not supported: spec.nodeName/);
  });
});

describe("paging", () => {
  it("pages with limit and continue, each item exactly once, then no continue", async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const query = new URLSearchParams({ limit: "3" });
      if (token !== undefined) query.set("continue", token);
      const page = await body(`/apis/discovery.k8s.io/v1/endpointslices?${query}`);
      assert.ok(page.items.length <= 3);
      seen.push(...names(page));
      token = page.metadata.continue;
      pages++;
    } while (token !== undefined);
    assert.equal(pages, 3);
    assert.deepEqual(seen, names(await body("/apis/discovery.k8s.io/v1/endpointslices")));
  });

  it("treats limit=0 as no limit and refuses a limit that is not a non-negative integer", async () => {
    assert.equal((await body("/apis/cilium.io/v2/ciliumidentities?limit=0")).items.length, 3);
    for (const limit of ["-1", "abc", "1.5", "1e3"]) {
      assertStatus(await call(`/apis/cilium.io/v2/ciliumidentities?limit=${limit}`), 400, "BadRequest");
    }
  });

  it("answers a malformed or foreign continue token with 410 Expired", async () => {
    const first = await body("/apis/discovery.k8s.io/v1/endpointslices?limit=2");
    const token: string = first.metadata.continue;
    assert.ok(token);
    const foreign = [
      "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", // another namespace scope
      "/apis/cilium.io/v2/ciliumidentities", // another kind
      "/apis/discovery.k8s.io/v1/endpointslices?labelSelector=app%3Dweb", // another selector
    ];
    for (const path of foreign) {
      const joiner = path.includes("?") ? "&" : "?";
      const status = assertStatus(await call(`${path}${joiner}continue=${token}&limit=2`), 410, "Expired");
      assert.match(String(status.message), /continue parameter is too old/);
    }
    const forged = Buffer.from(JSON.stringify({ v: 1, q: "nope", k: { after: "x" } })).toString("base64url");
    for (const bad of ["garbage!", "bm90IGpzb24", forged, token.slice(0, -4), `${token}x`]) {
      assertStatus(
        await call(`/apis/discovery.k8s.io/v1/endpointslices?limit=2&continue=${encodeURIComponent(bad)}`),
        410,
        "Expired",
      );
    }
  });
});

describe("server-side printing (kubectl's Table request)", () => {
  it("renders EndpointSlices with NAME, ADDRESSTYPE, PORTS, ENDPOINTS, AGE", async () => {
    const table = await body("/apis/discovery.k8s.io/v1/namespaces/payments/endpointslices?limit=500", {
      headers: { Accept: KUBECTL_TABLE_ACCEPT },
    });
    assert.equal(table.kind, "Table");
    assert.equal(table.apiVersion, "meta.k8s.io/v1");
    assert.deepEqual(
      table.columnDefinitions.map((c: { name: string; priority: number }) => [c.name, c.priority]),
      [
        ["Name", 0],
        ["AddressType", 0],
        ["Ports", 0],
        ["Endpoints", 0],
        ["Age", 0],
      ],
    );
    assert.equal(table.columnDefinitions[0].format, "name");
    assert.deepEqual(
      table.rows.map((row: { cells: unknown[] }) => row.cells),
      [
        ["ledger-00001", "IPv4", "8080", "10.0.0.9,10.0.0.10", "3m7s"],
        ["ledger-00002", "IPv6", "8080", "fd00::9,fd00::a", "3m7s"],
      ],
    );
    assert.deepEqual(table.rows[0].object, {
      kind: "PartialObjectMetadata",
      apiVersion: "meta.k8s.io/v1",
      metadata: fixture.store.objects("EndpointSlice").get("payments/ledger-00001")?.object.metadata,
    });
    assert.match(table.metadata.resourceVersion, /^[0-9]+$/);
  });

  it("renders the Cilium kinds with their CRD columns, carries continue, and honours includeObject", async () => {
    const ids = await body("/apis/cilium.io/v2/ciliumidentities?limit=2&includeObject=None", {
      headers: { accept: KUBECTL_TABLE_ACCEPT },
    });
    assert.deepEqual(
      ids.columnDefinitions.map((c: { name: string }) => c.name),
      ["Name", "Namespace", "Age"],
    );
    assert.deepEqual(ids.rows, [{ cells: ["256", "shop", "3m7s"] }, { cells: ["257", "shop", "3m7s"] }]);
    assert.ok(ids.metadata.continue);
    const ces = await body(
      "/apis/cilium.io/v2alpha1/ciliumendpointslices/ces-payments-1?includeObject=Object",
      {
        headers: { accept: KUBECTL_TABLE_ACCEPT },
      },
    );
    assert.deepEqual(
      ces.columnDefinitions.map((c: { name: string; priority: number }) => `${c.name}/${c.priority}`),
      ["Name/0", "Age/0", "Namespace/1", "Endpoints/1"],
    );
    assert.deepEqual(ces.rows[0].cells, ["ces-payments-1", "3m7s", "payments", 2]);
    assert.equal(ces.rows[0].object.kind, "CiliumEndpointSlice");
    assertStatus(
      await call("/apis/cilium.io/v2/ciliumidentities?includeObject=All", {
        headers: { accept: KUBECTL_TABLE_ACCEPT },
      }),
      400,
      "BadRequest",
    );
  });

  it("negotiates: plain JSON for JSON and wildcards, Table v1beta1 when only that is offered, 406 otherwise", async () => {
    for (const accept of [
      "application/json",
      "*/*",
      "application/json, */*",
      "application/yaml, application/json",
    ]) {
      const list = await body("/apis/cilium.io/v2/ciliumidentities", { headers: { accept } });
      assert.equal(list.kind, "CiliumIdentityList", accept);
    }
    const beta = await body("/apis/cilium.io/v2/ciliumidentities", {
      headers: { accept: "application/json;as=Table;v=v1beta1;g=meta.k8s.io" },
    });
    assert.equal(beta.apiVersion, "meta.k8s.io/v1beta1");
    assertStatus(
      await call("/apis/cilium.io/v2/ciliumidentities", {
        headers: { accept: "application/vnd.kubernetes.protobuf" },
      }),
      406,
      "NotAcceptable",
    );
  });
});

describe("conveniences", () => {
  it("finds the pod, identity and node behind an IP", async () => {
    const entry = await body("/v1/ipcache/10.0.0.2");
    assert.deepEqual(entry, {
      ip: "10.0.0.2",
      namespace: "shop",
      pod: "web-1",
      hostNetwork: false,
      identity: {
        id: 256,
        labels: {
          "k8s:app": "web",
          "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": "shop",
          "k8s:io.cilium.k8s.namespace.labels.team": "storefront",
          "k8s:io.kubernetes.pod.namespace": "shop",
          "k8s:tier": "front",
        },
      },
      node: { nodeName: "node-b", hostIP: "192.168.0.2" },
    });
  });

  it("finds IPv6 addresses in any spelling, and host-network pods by their node's IP", async () => {
    const v6 = await body(`/v1/ipcache/${encodeURIComponent("FD00:0:0:0:0:0:0:a")}`);
    assert.equal(v6.ip, "fd00::a");
    assert.equal(v6.pod, "ledger-1");
    assert.equal(v6.identity.id, 258);
    const host = await body("/v1/ipcache/192.168.0.1");
    assert.equal(host.pod, "agent");
    assert.equal(host.namespace, "kube-system");
    assert.equal(host.hostNetwork, true);
    assert.equal(host.identity, undefined);
  });

  it("misses with 404 for unknown IPs and finished pods, 400 for what is not an IP", async () => {
    const miss = assertStatus(await call("/v1/ipcache/10.9.9.9"), 404, "NotFound");
    assert.deepEqual(miss.details, { name: "10.9.9.9", kind: "ipcache" });
    assertStatus(await call("/v1/ipcache/10.0.0.11"), 404, "NotFound"); // job-1 Succeeded: its IP is released
    assertStatus(await call("/v1/ipcache/not-an-ip"), 400, "BadRequest");
  });

  it("counts objects per kind in /v1/stats and says ok on /healthz", async () => {
    const stats = await body("/v1/stats");
    assert.deepEqual(stats.counts, { EndpointSlice: 7, CiliumEndpointSlice: 4, CiliumIdentity: 3 });
    assert.ok(!Number.isNaN(Date.parse(stats.asOf)));
    // The cardinality guard: identities allocated against Cilium's cluster-local range.
    assert.deepEqual(stats.identities, {
      inUse: 3,
      rangeMin: 256,
      rangeMax: 65535,
      rangeSize: 65280,
      usedPercent: 0,
    });
    // Every object was written 3m7s before NOW: inside the 5-minute window.
    assert.equal(stats.rates.windowSeconds, 300);
    assert.deepEqual(stats.rates.objectsWrittenPerSecond, {
      EndpointSlice: 0.023,
      CiliumEndpointSlice: 0.013,
      CiliumIdentity: 0.01,
    });
    assert.match(stats.rates.measures, /lower bound/);
    const later = createApiRouter({
      reader: new MemorySliceReader(fixture.store, { now: () => NOW + 10 * 60_000 }),
    });
    const quiet = JSON.parse((await later({ method: "GET", path: "/v1/stats" })).body);
    assert.deepEqual(quiet.rates.objectsWrittenPerSecond, {
      EndpointSlice: 0,
      CiliumEndpointSlice: 0,
      CiliumIdentity: 0,
    });
    const health = await call("/healthz");
    assert.equal(health.status, 200);
    assert.equal(health.body, "ok");
    assert.match(health.headers["content-type"] ?? "", /^text\/plain/);
    assert.equal(health.route, "GET /healthz");
    const root = await body("/");
    assert.ok(root.paths.includes("/apis/cilium.io/v2alpha1"));
  });

  it("names the route template for metrics", async () => {
    assert.equal(
      (await call("/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/web-00001")).route,
      "GET /apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{name}",
    );
    assert.equal((await call("/v1/ipcache/10.0.0.1")).route, "GET /v1/ipcache/{ip}");
  });

  it("answers every route of the table (the one the CDK app's routes come from), and only its methods", async () => {
    // A served resource for each Kubernetes route's shape (cluster-scoped gets: identities).
    const resourceOf: Record<string, string> = {
      list: "endpointslices",
      get: "ciliumidentities",
      listNamespaced: "endpointslices",
      getNamespaced: "endpointslices",
    };
    for (const route of API_ROUTES) {
      const group = route.handler === "get" ? "cilium.io" : "discovery.k8s.io";
      const version = route.handler === "get" ? "v2" : "v1";
      const values: Record<string, string> = {
        group,
        version,
        resource: resourceOf[route.handler] ?? "",
        namespace: "shop",
        name: "web-00001",
        ip: "10.0.0.1",
        node: "node-a",
      };
      const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? "");
      const answered = await call(path, { method: route.method, body: "{}" });
      assert.notEqual(answered.route, "unmatched", `${route.method} ${route.path} (${path})`);
      assert.ok(answered.route.startsWith(`${route.method} `), answered.route);
      const other = await call(path, { method: "PUT" });
      assert.equal(other.status, 405, `PUT ${path}`);
    }
    assert.equal(new Set(API_ROUTE_KEYS).size, API_ROUTES.length);
  });
});

describe("watchers", () => {
  const post = (payload: unknown) =>
    call("/v1/watchers", {
      method: "POST",
      body: typeof payload === "string" ? payload : JSON.stringify(payload),
      headers: { "content-type": "application/json" },
    });

  it("registers (201), reads back, re-registers keeping the first registration time, deregisters", async () => {
    clock = 5_000;
    const created = await post({ node: "node-a", zone: "zone-a", kinds: ["EndpointSlice", "EndpointSlice"] });
    assert.equal(created.status, 201);
    assert.deepEqual(JSON.parse(created.body), {
      node: "node-a",
      zone: "zone-a",
      kinds: ["EndpointSlice"],
      zoneOnly: false,
      queueUrl: "memory://watchers/node-a",
      registeredAtMs: 5_000,
      expiresAtMs: 5_000 + 3_600_000,
      queueRetentionSeconds: 86_400,
    });
    clock = 6_000;
    const again = await post({
      node: "node-a",
      zone: "zone-a",
      kinds: ["CiliumEndpointSlice", "CiliumIdentity"],
      zoneOnly: true,
    });
    assert.equal(again.status, 201);
    const read = await body("/v1/watchers/node-a");
    assert.deepEqual(read.kinds, ["CiliumEndpointSlice", "CiliumIdentity"]);
    assert.equal(read.zoneOnly, true);
    assert.equal(read.registeredAtMs, 5_000);

    const deleted = await call("/v1/watchers/node-a", { method: "DELETE" });
    assert.equal(deleted.status, 200);
    assert.deepEqual(JSON.parse(deleted.body), {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name: "node-a", kind: "watchers" },
      code: 200,
    });
    assertStatus(await call("/v1/watchers/node-a"), 404, "NotFound");
    assertStatus(await call("/v1/watchers/node-a", { method: "DELETE" }), 404, "NotFound");
    assertStatus(await call("/v1/watchers", { method: "GET" }), 405, "MethodNotAllowed");
  });

  it("refuses bad registrations with 400 Status and field causes", async () => {
    const bad: Array<[unknown, RegExp]> = [
      ["not json", /must be a JSON object/],
      ["", /must be a JSON object/],
      [[], /body/],
      [{ zone: "a", kinds: ["EndpointSlice"] }, /node/],
      [{ node: "Node_A", kinds: ["EndpointSlice"] }, /node: must be a lowercase RFC 1123 subdomain/],
      [{ node: "n1", kinds: [] }, /kinds: name at least one kind/],
      [{ node: "n1", kinds: ["Pod"] }, /kinds\.0/],
      [{ node: "n1", kinds: ["EndpointSlice"], zoneOnly: true }, /zone: zoneOnly needs the watcher's zone/],
      [{ node: "n1", kinds: ["EndpointSlice"], zoneOnly: "yes" }, /zoneOnly/],
      [{ node: "n1", kinds: ["EndpointSlice"], extra: 1 }, /extra/],
    ];
    for (const [payload, message] of bad) {
      const status = assertStatus(await post(payload), 400, "BadRequest");
      assert.match(String(status.message), message, JSON.stringify(payload));
    }
    const status = assertStatus(await post({ node: "n1", kinds: [] }), 400, "BadRequest");
    assert.deepEqual((status.details as { causes: unknown[] }).causes, [
      { reason: "FieldValueInvalid", message: "name at least one kind", field: "kinds" },
    ]);
    assertStatus(await call("/v1/watchers/Not_A_Node"), 400, "BadRequest");
    assert.equal(watchers.all().length, 0);
  });

  it("fails the watcher routes with 500 when no registry is configured, never faking success", async () => {
    const bare = createApiRouter({ reader: new MemorySliceReader(fixture.store) });
    for (const request of [
      {
        method: "POST",
        path: "/v1/watchers",
        body: JSON.stringify({ node: "n1", kinds: ["EndpointSlice"] }),
      },
      { method: "GET", path: "/v1/watchers/n1" },
      { method: "DELETE", path: "/v1/watchers/n1" },
    ]) {
      const status = assertStatus(await bare(request), 500, "InternalError");
      assert.equal(status.message, "Internal error occurred: watcher registry not configured");
    }
  });
});

describe("watcher authorization, ownership, cap and expiry", () => {
  const NODE_ROLE = "arn:aws:sts::111122223333:assumed-role/sliceline-node";
  const ADMIN = "arn:aws:iam::111122223333:role/sliceline-admin";
  const SHARED = "arn:aws:iam::111122223333:role/shared-";
  const policy: WatcherAuthorizationPolicy = {
    mode: "principal",
    nodePrincipals: [`${NODE_ROLE}/{node}`, `${SHARED}*`],
    adminPrincipals: [ADMIN],
    capPerCaller: 2,
  };
  let now = 0;
  const guarded = () => {
    const registry = new MemoryWatcherRegistry({ now: () => now, ttlSeconds: 60 });
    const route = createApiRouter({
      reader: new MemorySliceReader(fixture.store),
      watchers: registry,
      watcherAuthorization: policy,
    });
    const as = (callerArn: string | undefined, method: string, path: string, payload?: unknown) =>
      route({
        method,
        path,
        callerArn,
        ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
      });
    return { registry, as };
  };
  const watch = (node: string) => ({ node, kinds: ["EndpointSlice"] });

  it("answers 403 Forbidden when a node's principal acts on another node's watcher, or nobody signed", async () => {
    const { registry, as } = guarded();
    const a = `${NODE_ROLE}/ip-10-0-0-1.ec2.internal`;
    assert.equal((await as(a, "POST", "/v1/watchers", watch("ip-10-0-0-1.ec2.internal"))).status, 201);
    const b = `${NODE_ROLE}/ip-10-0-0-2.ec2.internal`;
    for (const [method, path, payload] of [
      ["POST", "/v1/watchers", { node: "ip-10-0-0-1.ec2.internal", kinds: ["CiliumIdentity"] }],
      ["GET", "/v1/watchers/ip-10-0-0-1.ec2.internal", undefined],
      ["DELETE", "/v1/watchers/ip-10-0-0-1.ec2.internal", undefined],
    ] as const) {
      for (const caller of [b, undefined, `${NODE_ROLE}/ip-10-0-0-1-ec2-internal`]) {
        const status = assertStatus(await as(caller, method, path, payload), 403, "Forbidden");
        assert.deepEqual(status.details, { name: "ip-10-0-0-1.ec2.internal", kind: "watchers" });
      }
    }
    const [kept] = registry.all();
    assert.deepEqual(kept?.kinds, ["EndpointSlice"], "not narrowed");
    assert.equal((await as(a, "GET", "/v1/watchers/ip-10-0-0-1.ec2.internal")).status, 200);
    assert.equal((await as(ADMIN, "DELETE", "/v1/watchers/ip-10-0-0-1.ec2.internal")).status, 200);
    assert.equal(registry.all().length, 0);
  });

  it("answers 409 Conflict when another principal holds the node, 429 past the caller's cap", async () => {
    const { registry, as } = guarded();
    const x = `${SHARED}x`;
    const y = `${SHARED}y`;
    assert.equal((await as(x, "POST", "/v1/watchers", watch("n1"))).status, 201);
    assert.equal(
      (await as(x, "POST", "/v1/watchers", watch("n1"))).status,
      201,
      "re-registration is idempotent",
    );
    assertStatus(await as(y, "POST", "/v1/watchers", watch("n1")), 409, "Conflict");
    assertStatus(await as(y, "DELETE", "/v1/watchers/n1"), 409, "Conflict");
    assertStatus(await as(ADMIN, "POST", "/v1/watchers", watch("n1")), 409, "Conflict");
    assert.equal((await as(x, "POST", "/v1/watchers", watch("n2"))).status, 201);
    assertStatus(await as(x, "POST", "/v1/watchers", watch("n3")), 429, "TooManyRequests");
    assert.equal((await as(y, "POST", "/v1/watchers", watch("n3"))).status, 201, "the cap is per caller");
    assert.equal((await as(x, "DELETE", "/v1/watchers/n2")).status, 200);
    assert.equal((await as(x, "POST", "/v1/watchers", watch("n4"))).status, 201, "a freed slot is usable");
    assert.equal((await as(ADMIN, "POST", "/v1/watchers", watch("n5"))).status, 201);
    assert.equal((await as(ADMIN, "POST", "/v1/watchers", watch("n6"))).status, 201);
    assert.equal((await as(ADMIN, "POST", "/v1/watchers", watch("n7"))).status, 201, "admins are not capped");
    assert.equal(registry.all().length, 6);
  });

  it("expires a silent watcher; its owner's GET is the heartbeat, an admin's GET is not", async () => {
    const { registry, as } = guarded();
    const owner = `${NODE_ROLE}/n1`;
    now = 1_000;
    assert.equal((await as(owner, "POST", "/v1/watchers", watch("n1"))).status, 201);
    now = 50_000;
    const refreshed = JSON.parse((await as(owner, "GET", "/v1/watchers/n1")).body);
    assert.equal(refreshed.expiresAtMs, 110_000);
    now = 100_000;
    assert.equal(JSON.parse((await as(ADMIN, "GET", "/v1/watchers/n1")).body).expiresAtMs, 110_000);
    now = 110_000;
    assertStatus(await as(owner, "GET", "/v1/watchers/n1"), 404, "NotFound");
    assert.equal(await registry.sweepExpired(), 1);
    assert.equal(registry.all().length, 0);
    assert.equal((await as(owner, "POST", "/v1/watchers", watch("n1"))).status, 201, "registers again");
  });

  it("answers the registry's refusals as Statuses: busy 429 with Retry-After, queue name taken 409", async () => {
    const refusing = (error: Error): WatcherRegistry => ({
      register: async () => Promise.reject(error),
      deregister: async () => Promise.reject(error),
      get: async () => undefined,
      refresh: async () => undefined,
      sweepExpired: async () => 0,
    });
    const busy = createApiRouter({
      reader: new MemorySliceReader(fixture.store),
      watchers: refusing(new WatcherBusyError("queue deleted recently", 60)),
    });
    const post = { method: "POST", path: "/v1/watchers", body: JSON.stringify(watch("n1")) };
    const response = await busy(post);
    const status = assertStatus(response, 429, "TooManyRequests");
    assert.deepEqual(status.details, { kind: "watchers", retryAfterSeconds: 60 });
    assert.equal(response.headers["retry-after"], "60");
    const taken = createApiRouter({
      reader: new MemorySliceReader(fixture.store),
      watchers: refusing(new WatcherChannelConflictError("queue exists")),
    });
    assertStatus(await taken(post), 409, "Conflict");
    assertStatus(await taken({ method: "DELETE", path: "/v1/watchers/n1" }), 409, "Conflict");
  });
});

describe("errors from the reader", () => {
  const failing = (error: unknown): SliceReader => ({
    list: async () => Promise.reject(error),
    get: async () => Promise.reject(error),
    lookupIP: async () => Promise.reject(error),
    namespaceExists: async () => Promise.reject(error),
    stats: async () => Promise.reject(error),
  });

  it("turns anything unexpected into a 500 Status without internals, and reports it", async () => {
    const reported: unknown[] = [];
    const broken = createApiRouter({
      reader: failing(
        new Error("ResourceNotFoundException: table sliceline-prod-slices at /var/task/x.ts:12"),
      ),
      onError: (error, route) => reported.push([error, route]),
    });
    const response = await broken({ method: "GET", path: "/apis/cilium.io/v2/ciliumidentities" });
    const status = assertStatus(response, 500, "InternalError");
    assert.doesNotMatch(response.body, /sliceline-prod-slices|ResourceNotFound/);
    assert.equal(status.message, "Internal error occurred: the server could not complete the request");
    assert.equal(reported.length, 1);
    assert.equal((reported[0] as unknown[])[1], "GET /apis/cilium.io/v2/ciliumidentities");
  });

  it("passes throttling on as 429 TooManyRequests with Retry-After", async () => {
    const throttled = createApiRouter({ reader: failing(tooManyRequests("slow down", 2)) });
    const response = await throttled({ method: "GET", path: "/v1/stats" });
    const status = assertStatus(response, 429, "TooManyRequests");
    assert.deepEqual(status.details, { retryAfterSeconds: 2 });
    assert.equal(response.headers["retry-after"], "2");
  });
});
