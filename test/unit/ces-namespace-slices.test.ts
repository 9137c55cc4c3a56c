import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type CesWrites,
  InvalidCesInputError,
  InvalidCesSettingsError,
  NamespaceCiliumEndpointSlices,
} from "#shared/core/ciliumendpointslice/namespace-slices.ts";
import type { CiliumEndpointSlice, CoreCiliumEndpoint } from "#shared/core/model.ts";

function entry(name: string, id = 300, ip = `10.0.${name.length}.${hash(name) % 250}`): CoreCiliumEndpoint {
  return { name, id, networking: { addressing: [{ ipv4: ip }], node: "192.168.0.1" } };
}

function hash(text: string): number {
  let h = 0;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h;
}

function add(names: string[], id = 300): Array<readonly [string, CoreCiliumEndpoint]> {
  return names.map((n) => [n, entry(n, id)] as const);
}

function pods(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

function sizes(slices: CiliumEndpointSlice[]): number[] {
  return slices.map((s) => s.endpoints.length);
}

function writeCount(writes: CesWrites): number {
  return writes.creates.length + writes.updates.length + writes.deletes.length;
}

function stored(
  name: string,
  endpoints: CoreCiliumEndpoint[],
  rv = "1",
  namespace = "shop",
): CiliumEndpointSlice {
  return {
    apiVersion: "cilium.io/v2alpha1",
    kind: "CiliumEndpointSlice",
    metadata: { name, resourceVersion: rv },
    namespace,
    endpoints,
  };
}

describe("NamespaceCiliumEndpointSlices: settings", () => {
  it("defaults to 50 per slice, fcfs", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", {});
    assert.deepEqual(slices.settings, { maxEndpointsPerCES: 50, batchingMode: "fcfs" });
  });

  it("rejects sizes outside 1..1000 and unknown modes", () => {
    for (const max of [0, 1001, 2.5, Number.NaN]) {
      assert.throws(
        () => new NamespaceCiliumEndpointSlices("shop", { maxEndpointsPerCES: max }),
        InvalidCesSettingsError,
      );
    }
    assert.throws(
      () => new NamespaceCiliumEndpointSlices("shop", { batchingMode: "random" as "fcfs" }),
      InvalidCesSettingsError,
    );
  });
});

describe("NamespaceCiliumEndpointSlices: fcfs packing", () => {
  it("fills slices up to the maximum and names them deterministically per namespace", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", {
      maxEndpointsPerCES: 50,
      batchingMode: "fcfs",
    });
    const writes = slices.reconcile(add(pods("web", 120)));
    assert.deepEqual(sizes(writes.creates), [50, 50, 20]);
    assert.deepEqual(
      writes.creates.map((s) => s.metadata.name),
      ["ces-shop-1", "ces-shop-2", "ces-shop-3"],
    );
    assert.equal(writes.updates.length + writes.deletes.length, 0);
    for (const slice of writes.creates) {
      assert.equal(slice.apiVersion, "cilium.io/v2alpha1");
      assert.equal(slice.kind, "CiliumEndpointSlice");
      assert.equal(slice.namespace, "shop");
      assert.equal(slice.metadata.resourceVersion, undefined);
    }
  });

  it("writes nothing when nothing changed", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", {
      maxEndpointsPerCES: 50,
      batchingMode: "fcfs",
    });
    slices.reconcile(add(pods("web", 10)));
    assert.equal(writeCount(slices.reconcile(add(pods("web", 10)))), 0);
    assert.equal(writeCount(slices.reconcile([["not-there", undefined]])), 0);
    assert.equal(writeCount(slices.reconcile([])), 0);
  });

  it("updates a changed entry in place, keeping the stored resourceVersion", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", { maxEndpointsPerCES: 2, batchingMode: "fcfs" });
    const created = slices.reconcile(add(["a", "b", "c"]));
    for (const s of created.creates) slices.setResourceVersion(s.metadata.name, `rv-${s.metadata.name}`);
    const home = slices.sliceNameOf("c");
    const writes = slices.reconcile([["c", entry("c", 301)]]);
    assert.equal(writes.updates.length, 1);
    assert.equal(writeCount(writes), 1);
    assert.equal(writes.updates[0]?.metadata.name, home);
    assert.equal(writes.updates[0]?.metadata.resourceVersion, `rv-${home}`);
    assert.deepEqual(writes.updates[0]?.endpoints, [entry("c", 301)]);
  });

  it("removes an entry from its slice and deletes a slice left empty", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", { maxEndpointsPerCES: 2, batchingMode: "fcfs" });
    slices.reconcile(add(["a", "b", "c"]));
    slices.setResourceVersion("ces-shop-2", "7");
    const removeA = slices.reconcile([["a", undefined]]);
    assert.deepEqual(
      removeA.updates.map((s) => [s.metadata.name, s.endpoints.map((e) => e.name)]),
      [["ces-shop-1", ["b"]]],
    );
    const removeC = slices.reconcile([["c", undefined]]);
    assert.deepEqual(removeC.creates, []);
    assert.deepEqual(removeC.updates, []);
    assert.deepEqual(
      removeC.deletes.map((s) => [s.metadata.name, s.metadata.resourceVersion]),
      [["ces-shop-2", "7"]],
    );
    assert.equal(slices.hasPod("c"), false);
    assert.deepEqual(
      slices.slices().map((s) => s.metadata.name),
      ["ces-shop-1"],
    );
  });

  it("puts a newcomer into a slice the batch writes anyway", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", { maxEndpointsPerCES: 3, batchingMode: "fcfs" });
    slices.reconcile(add(["a", "b", "c", "d"])); // ces-shop-1 full [a,b,c], ces-shop-2 [d]
    const writes = slices.reconcile([
      ["b", undefined],
      ["e", entry("e")],
    ]);
    assert.equal(writeCount(writes), 1);
    assert.deepEqual(
      writes.updates.map((s) => [s.metadata.name, s.endpoints.map((e) => e.name)]),
      [["ces-shop-1", ["a", "c", "e"]]],
    );
  });

  it("reuses a slice emptied in the same batch instead of deleting and creating", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", { maxEndpointsPerCES: 1, batchingMode: "fcfs" });
    slices.reconcile(add(["a"]));
    const writes = slices.reconcile([
      ["a", undefined],
      ["b", entry("b")],
    ]);
    assert.deepEqual(
      writes.updates.map((s) => [s.metadata.name, s.endpoints.map((e) => e.name)]),
      [["ces-shop-1", ["b"]]],
    );
    assert.equal(writeCount(writes), 1);
  });

  it("otherwise picks the fullest slice with room", () => {
    const existing = [
      stored(
        "ces-shop-1",
        add(pods("x", 10)).map(([, e]) => e),
      ),
      stored(
        "ces-shop-2",
        add(pods("y", 30)).map(([, e]) => e),
      ),
      stored(
        "ces-shop-3",
        add(pods("z", 50)).map(([, e]) => e),
      ),
    ];
    const slices = new NamespaceCiliumEndpointSlices(
      "shop",
      { maxEndpointsPerCES: 50, batchingMode: "fcfs" },
      existing,
    );
    const writes = slices.reconcile(add(["new"]));
    assert.deepEqual(
      writes.updates.map((s) => [s.metadata.name, s.endpoints.length]),
      [["ces-shop-2", 31]],
    );
  });

  it("with max 1, every endpoint has its own slice", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", { maxEndpointsPerCES: 1, batchingMode: "fcfs" });
    const writes = slices.reconcile(add(pods("p", 5)));
    assert.deepEqual(sizes(writes.creates), [1, 1, 1, 1, 1]);
    assert.equal(writeCount(slices.reconcile([["p-3", entry("p-3", 999)]])), 1);
  });

  it("with max 1000, a thousand endpoints share one slice and the next opens another", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", {
      maxEndpointsPerCES: 1000,
      batchingMode: "fcfs",
    });
    assert.deepEqual(sizes(slices.reconcile(add(pods("p", 1000))).creates), [1000]);
    assert.deepEqual(sizes(slices.reconcile(add(["one-more"])).creates), [1]);
  });

  it("keeps an entry in its slice when only its identity changes", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", {
      maxEndpointsPerCES: 10,
      batchingMode: "fcfs",
    });
    slices.reconcile([...add(["a", "b"], 300), ...add(["c"], 301)]);
    const writes = slices.reconcile([["a", entry("a", 302)]]);
    assert.equal(writeCount(writes), 1);
    assert.equal(slices.slices().length, 1);
  });

  it("applies the last of several changes to one pod", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", {
      maxEndpointsPerCES: 10,
      batchingMode: "fcfs",
    });
    const writes = slices.reconcile([
      ["a", entry("a", 300)],
      ["a", undefined],
      ["a", entry("a", 305)],
    ]);
    assert.deepEqual(writes.creates[0]?.endpoints, [entry("a", 305)]);
  });
});

describe("NamespaceCiliumEndpointSlices: identity batching", () => {
  it("groups entries of one identity into the same slices, one identity per slice", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", {
      maxEndpointsPerCES: 3,
      batchingMode: "identity",
    });
    const changes = pods("p", 8).map((n, i) => [n, entry(n, i % 2 === 0 ? 300 : 400)] as const);
    slices.reconcile(changes);
    const byIdentity = slices.slices().map((s) => [...new Set(s.endpoints.map((e) => e.id))]);
    for (const ids of byIdentity) assert.equal(ids.length, 1);
    assert.deepEqual(sizes(slices.slices()).sort(), [1, 1, 3, 3]);
  });

  it("moves an entry whose identity changed to a slice of its new identity (two writes)", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", {
      maxEndpointsPerCES: 3,
      batchingMode: "identity",
    });
    slices.reconcile([...add(["a", "b"], 300), ...add(["c"], 400)]);
    const writes = slices.reconcile([["a", entry("a", 400)]]);
    assert.equal(writeCount(writes), 2);
    const ids = slices.slices().map((s) => s.endpoints.map((e) => `${e.name}:${e.id}`).sort());
    assert.deepEqual(ids.sort(), [["a:400", "c:400"], ["b:300"]]);
  });

  it("changes in place when the entry was alone in its slice", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", {
      maxEndpointsPerCES: 3,
      batchingMode: "identity",
    });
    slices.reconcile([...add(["a"], 300), ...add(["b", "c", "d"], 400)]);
    const writes = slices.reconcile([["a", entry("a", 500)]]);
    assert.equal(writeCount(writes), 1);
    assert.deepEqual(writes.updates[0]?.endpoints, [entry("a", 500)]);
  });
});

describe("NamespaceCiliumEndpointSlices: taking over stored slices", () => {
  it("continues naming after the highest stored number and keeps resourceVersions", () => {
    const existing = [stored("ces-shop-7", [entry("a")], "42"), stored("ces-shop-x", [entry("b")], "43")];
    const slices = new NamespaceCiliumEndpointSlices(
      "shop",
      { maxEndpointsPerCES: 1, batchingMode: "fcfs" },
      existing,
    );
    assert.equal(slices.hasPod("a"), true);
    const writes = slices.reconcile([
      ["a", entry("a", 999)],
      ["c", entry("c")],
    ]);
    assert.deepEqual(
      writes.updates.map((s) => [s.metadata.name, s.metadata.resourceVersion]),
      [["ces-shop-7", "42"]],
    );
    assert.deepEqual(
      writes.creates.map((s) => s.metadata.name),
      ["ces-shop-8"],
    );
  });

  it("repairs duplicates and deletes empty stored slices on the next reconcile", () => {
    const existing = [
      stored("ces-shop-1", [entry("a"), entry("b")]),
      stored("ces-shop-2", [entry("b"), entry("c")]),
      stored("ces-shop-3", []),
    ];
    const slices = new NamespaceCiliumEndpointSlices(
      "shop",
      { maxEndpointsPerCES: 5, batchingMode: "fcfs" },
      existing,
    );
    const writes = slices.reconcile([]);
    assert.deepEqual(
      writes.updates.map((s) => [s.metadata.name, s.endpoints.map((e) => e.name)]),
      [["ces-shop-2", ["c"]]],
    );
    assert.deepEqual(
      writes.deletes.map((s) => s.metadata.name),
      ["ces-shop-3"],
    );
    assert.equal(writeCount(slices.reconcile([])), 0);
  });

  it("rejects slices of another namespace", () => {
    assert.throws(
      () =>
        new NamespaceCiliumEndpointSlices("shop", {}, [stored("ces-other-1", [entry("a")], "1", "other")]),
      InvalidCesInputError,
    );
  });

  it("keeps names apart between namespaces whose names share a prefix", () => {
    const a = new NamespaceCiliumEndpointSlices("a", { maxEndpointsPerCES: 1, batchingMode: "fcfs" });
    const a1 = new NamespaceCiliumEndpointSlices("a-1", { maxEndpointsPerCES: 1, batchingMode: "fcfs" });
    const names = [
      ...a.reconcile(add(pods("p", 12))).creates,
      ...a1.reconcile(add(pods("p", 12))).creates,
    ].map((s) => s.metadata.name);
    assert.equal(new Set(names).size, names.length);
  });
});

describe("NamespaceCiliumEndpointSlices: hygiene", () => {
  it("takes over the entries it is given (frozen) and returns copies that callers may mutate freely", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", { maxEndpointsPerCES: 5, batchingMode: "fcfs" });
    const input = entry("a");
    const writes = slices.reconcile([["a", input]]);
    assert.throws(() => {
      input.id = 1;
    }, TypeError);
    const created = writes.creates[0] as CiliumEndpointSlice;
    created.metadata.resourceVersion = "mutated";
    (created.endpoints[0] as CoreCiliumEndpoint).networking.addressing.push({ ipv4: "1.1.1.1" });
    assert.deepEqual(slices.slices()[0]?.endpoints, [entry("a")]);
    assert.equal(slices.slices()[0]?.metadata.resourceVersion, undefined);
  });

  it("rejects an entry filed under another pod's name", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", {});
    assert.throws(() => slices.reconcile([["a", entry("b")]]), InvalidCesInputError);
    assert.equal(slices.podCount, 0);
  });

  it("reports whether a resourceVersion was recorded", () => {
    const slices = new NamespaceCiliumEndpointSlices("shop", {});
    slices.reconcile(add(["a"]));
    assert.equal(slices.setResourceVersion("ces-shop-1", "5"), true);
    assert.equal(slices.setResourceVersion("ces-shop-99", "5"), false);
  });
});
