import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MessageChannel } from "node:worker_threads";
import type { OutputObject } from "#shared/core/output-changes.ts";
import type { BundledChange } from "#shared/fanout/change-bundle.ts";
import type { ChangeMessage, WatchEventType } from "#shared/fanout/change-routing.ts";
import { changesOfBody, MalformedChangeError } from "#shared/watcher/change-body.ts";
import { GapTracker } from "#shared/watcher/gap-tracker.ts";
import { LatencyRecorder, type LatencySnapshot } from "#shared/watcher/latency-recorder.ts";
import { refOf, WatcherCache } from "#shared/watcher/watcher-cache.ts";
import { snapshotFromObjects } from "#shared/watcher/watcher-snapshot.ts";
import {
  ciliumEndpoint,
  ciliumSlice,
  endpoint,
  endpointSlice,
  identity,
} from "#test/support/watcher-objects.ts";

function message(type: WatchEventType, object: OutputObject, sourceTimeMs = 1000): ChangeMessage {
  return {
    type,
    kind: object.kind,
    object,
    resourceVersion: object.metadata.resourceVersion ?? "0",
    sourceTimeMs,
  };
}

const web = (rv: number, ...pods: string[]) =>
  endpointSlice(
    "shop",
    "web-abc",
    "web",
    rv,
    pods.map((pod, i) => endpoint("shop", { pod, ip: `10.0.0.${i + 1}`, node: "n1", zone: "a" })),
  );
const WEB = refOf("EndpointSlice", "shop", "web-abc");

describe("WatcherCache: whole objects by resourceVersion", () => {
  it("applies newer versions, drops older ones and duplicates, and derives the backends", () => {
    const cache = new WatcherCache();
    assert.equal(cache.applyMessage(message("ADDED", web(10, "p1"))).outcome, "applied");
    assert.equal(cache.applyMessage(message("MODIFIED", web(12, "p1", "p2"))).outcome, "applied");
    assert.equal(cache.applyMessage(message("MODIFIED", web(11, "p1"))).outcome, "duplicate");
    assert.equal(cache.applyMessage(message("MODIFIED", web(12, "p1", "p2"))).outcome, "duplicate");
    const backends = cache.backends("shop", "web");
    assert.deepEqual(
      backends.map((b) => [b.pod, b.addresses, b.ready, b.nodeName, b.zone, b.ports[0]?.port]),
      [
        ["p1", ["10.0.0.1"], true, "n1", "a", 8080],
        ["p2", ["10.0.0.2"], true, "n1", "a", 8080],
      ],
    );
    assert.deepEqual(cache.get(WEB), web(12, "p1", "p2"));
  });

  it("applies a DELETED at the held version and keeps a tombstone against a late older copy", () => {
    const cache = new WatcherCache();
    cache.applyMessage(message("ADDED", web(10, "p1")));
    cache.applyMessage(message("MODIFIED", web(12, "p1", "p2")));
    const deleted = cache.applyMessage(message("DELETED", web(12, "p1", "p2"), 5));
    assert.equal(deleted.outcome, "applied");
    assert.equal(deleted.sourceTimeMs, 5);
    assert.equal(cache.get(WEB), undefined);
    assert.deepEqual(cache.backends("shop", "web"), []);
    assert.equal(cache.applyMessage(message("MODIFIED", web(11, "p1"))).outcome, "duplicate");
    assert.equal(cache.get(WEB), undefined);
    assert.equal(cache.applyMessage(message("ADDED", web(20, "p3"))).outcome, "applied", "recreated later");
  });

  it("forgets a tombstone two rotations after the deletion, not one", () => {
    const cache = new WatcherCache();
    cache.applyMessage(message("ADDED", web(10, "p1")));
    cache.applyMessage(message("DELETED", web(10, "p1")));
    assert.equal(cache.rotateTombstones(), 0);
    assert.equal(cache.applyMessage(message("ADDED", web(9, "p1"))).outcome, "duplicate");
    assert.equal(cache.rotateTombstones(), 1);
    assert.equal(cache.counts().tombstones, 0);
    assert.equal(cache.applyMessage(message("ADDED", web(9, "p1"))).outcome, "applied", "past the retention");
  });

  it("does not apply a DELETED older than the held version", () => {
    const cache = new WatcherCache();
    cache.applyMessage(message("ADDED", web(12, "p1")));
    assert.equal(cache.applyMessage(message("DELETED", web(11, "p1"))).outcome, "duplicate");
    assert.notEqual(cache.get(WEB), undefined);
  });

  it("remembers a DELETED that overtook the object's ADDED", () => {
    const cache = new WatcherCache();
    assert.equal(cache.applyMessage(message("DELETED", web(12, "p1"))).outcome, "duplicate");
    assert.equal(cache.applyMessage(message("ADDED", web(10, "p1"))).outcome, "duplicate");
    assert.equal(cache.get(WEB), undefined);
  });
});

describe("WatcherCache: patches", () => {
  const patch = (base: number, rv: number, upsertPods: string[], remove: string[]): BundledChange => ({
    type: "MODIFIED",
    kind: "EndpointSlice",
    namespace: "shop",
    name: "web-abc",
    resourceVersion: String(rv),
    previousResourceVersion: String(base),
    sourceTimeMs: 7,
    patch: {
      upsert: upsertPods.map((pod) => endpoint("shop", { pod, ip: `10.9.0.${pod.length}`, node: "n2" })),
      remove: remove.map((pod) => `uid-shop-${pod}`),
    },
  });

  it("applies a patch on exactly its base, in the replay order of slice-delta", () => {
    const cache = new WatcherCache();
    cache.applyMessage(message("ADDED", web(10, "p1", "p2", "p3")));
    const result = cache.apply(patch(10, 11, ["p2", "p44"], ["p1"]));
    assert.equal(result.outcome, "applied");
    const slice = cache.get(WEB);
    assert.equal(slice?.metadata.resourceVersion, "11");
    assert.deepEqual(
      slice?.kind === "EndpointSlice" ? slice.endpoints.map((e) => [e.targetRef.name, e.nodeName]) : [],
      [
        ["p2", "n2"],
        ["p3", "n1"],
        ["p44", "n2"],
      ],
    );
  });

  it("calls a patch on a version already passed a duplicate and one on an unseen base a gap", () => {
    const cache = new WatcherCache();
    cache.applyMessage(message("ADDED", web(12, "p1")));
    assert.equal(cache.apply(patch(10, 11, ["p2"], [])).outcome, "duplicate");
    assert.equal(cache.apply(patch(11, 12, ["p2"], [])).outcome, "duplicate");
    const gap = cache.apply(patch(13, 14, ["p2"], []));
    assert.equal(gap.outcome, "gap");
    assert.equal(gap.outcome === "gap" ? gap.reason : "", "missing base");
    assert.deepEqual(gap.ref, WEB);
    assert.equal(cache.resourceVersionOf(WEB), "12");
    assert.equal(new WatcherCache().apply(patch(13, 14, ["p2"], [])).outcome, "gap", "nothing held");
  });

  it("turns a reference into a gap to read", () => {
    const cache = new WatcherCache();
    const result = cache.apply({
      type: "MODIFIED",
      kind: "CiliumEndpointSlice",
      name: "ces-1",
      resourceVersion: "5",
      sourceTimeMs: 1,
      reference: true,
    });
    assert.equal(result.outcome === "gap" ? result.reason : result.outcome, "reference");
    assert.deepEqual(result.ref, { kind: "CiliumEndpointSlice", namespace: undefined, name: "ces-1" });
  });
});

describe("WatcherCache: IPCache", () => {
  it("maps IPs to identity, labels, node and pod, following patches and identities", () => {
    const cache = new WatcherCache();
    cache.applyMessage(
      message(
        "ADDED",
        ciliumSlice("ces-1", "shop", 3, [
          ciliumEndpoint("p1", 300, "10.0.0.1"),
          ciliumEndpoint("p2", 301, "10.0.0.2"),
        ]),
      ),
    );
    assert.deepEqual(cache.lookupIP("10.0.0.1"), {
      ip: "10.0.0.1",
      identity: 300,
      labels: undefined,
      nodeIP: "192.168.0.1",
      namespace: "shop",
      pod: "p1",
    });
    cache.applyMessage(message("ADDED", identity(300, 4, { app: "web" })));
    assert.deepEqual(cache.lookupIP("10.0.0.1")?.labels, { "k8s:app": "web" });
    cache.apply({
      type: "MODIFIED",
      kind: "CiliumEndpointSlice",
      name: "ces-1",
      resourceVersion: "5",
      previousResourceVersion: "3",
      sourceTimeMs: 1,
      patch: { upsert: [ciliumEndpoint("p3", 300, "10.0.0.3")], remove: ["p1"] },
    });
    assert.equal(cache.lookupIP("10.0.0.1"), undefined);
    assert.equal(cache.lookupIP("10.0.0.3")?.pod, "p3");
    assert.equal(cache.counts().ipcacheEntries, 2);
  });

  it("keeps an IP claimed by two entries until both are gone, answering the same claimant as the truth", () => {
    const cache = new WatcherCache();
    const a = ciliumSlice("ces-a", "shop", 3, [ciliumEndpoint("old", 300, "10.0.0.9")]);
    const b = ciliumSlice("ces-b", "shop", 4, [ciliumEndpoint("new", 301, "10.0.0.9")]);
    cache.applyMessage(message("ADDED", a));
    cache.applyMessage(message("ADDED", b));
    // The smallest entry text wins (id 300 before 301), in the cache and in the recomputed truth.
    assert.equal(cache.lookupIP("10.0.0.9")?.pod, "old");
    assert.deepEqual(cache.snapshot(), snapshotFromObjects({ ciliumEndpointSlices: [a, b] }));
    cache.applyMessage(message("DELETED", a));
    assert.equal(cache.lookupIP("10.0.0.9")?.pod, "new");
    cache.applyMessage(message("DELETED", b));
    assert.equal(cache.lookupIP("10.0.0.9"), undefined);
  });
});

describe("WatcherCache: lists and snapshots", () => {
  it("replaces a kind from a list: absent objects go, newer held copies stay", () => {
    const cache = new WatcherCache();
    const other = endpointSlice("shop", "db-1", "db", 5, [endpoint("shop", { pod: "d1", ip: "10.1.0.1" })]);
    const late = endpointSlice("shop", "cache-1", "cache", 40, [
      endpoint("shop", { pod: "c1", ip: "10.2.0.1" }),
    ]);
    cache.applyMessage(message("ADDED", other));
    cache.applyMessage(message("ADDED", web(30, "p1", "p2")));
    cache.applyMessage(message("ADDED", late));
    cache.replaceFromList("EndpointSlice", [web(20, "p1")], "25");
    assert.equal(cache.get(refOf("EndpointSlice", "shop", "db-1")), undefined);
    assert.equal(cache.resourceVersionOf(WEB), "30");
    assert.equal(cache.resourceVersionOf(refOf("EndpointSlice", "shop", "cache-1")), "40");
    assert.equal(cache.applyMessage(message("MODIFIED", other)).outcome, "duplicate", "tombstoned");
  });

  it("gives back the objects it was given and the snapshot recomputed from them", () => {
    const cache = new WatcherCache();
    const slices = [
      web(10, "p1", "p2"),
      endpointSlice("shop", "db-1", "db", 5, [
        endpoint("shop", { pod: "d1", ip: "10.1.0.1", terminating: true, zone: "b", extraIp: "10.1.0.2" }),
      ]),
    ];
    const ces = [ciliumSlice("ces-1", "shop", 3, [ciliumEndpoint("p1", 300, "10.0.0.1")])];
    const identities = [identity(300, 2, { app: "web" })];
    cache.replaceFromList("EndpointSlice", slices, "10");
    cache.replaceFromList("CiliumEndpointSlice", ces, "3");
    cache.replaceFromList("CiliumIdentity", identities, "2");
    assert.deepEqual(cache.objects("EndpointSlice"), slices);
    assert.deepEqual(cache.objects("CiliumEndpointSlice"), ces);
    const truth = snapshotFromObjects({ endpointSlices: slices, ciliumEndpointSlices: ces, identities });
    assert.deepEqual(cache.snapshot(), truth);
    assert.equal(truth.backends.length, 4);
    assert.match(
      truth.ipcache[0] ?? "",
      /^10\.0\.0\.1 id=300 labels=k8s:app=web node=192\.168\.0\.1 pod=shop\/p1/,
    );
  });
});

describe("change bodies", () => {
  it("reads bundles, single messages and references; rejects the rest", () => {
    const single = message("ADDED", web(10, "p1"));
    assert.equal(changesOfBody(JSON.stringify(single))[0]?.object?.metadata.name, "web-abc");
    const bundle = {
      bundle: 1,
      scope: "EndpointSlice",
      changes: [{ ...changesOfBody(JSON.stringify(single))[0] }],
    };
    assert.equal(changesOfBody(JSON.stringify(bundle)).length, 1);
    const reference = {
      type: "MODIFIED",
      kind: "EndpointSlice",
      resourceVersion: "9",
      sourceTimeMs: 3,
      reference: { name: "big", namespace: "shop" },
    };
    assert.deepEqual(changesOfBody(JSON.stringify(reference)), [
      {
        type: "MODIFIED",
        kind: "EndpointSlice",
        namespace: "shop",
        name: "big",
        resourceVersion: "9",
        sourceTimeMs: 3,
        reference: true,
      },
    ]);
    assert.throws(() => changesOfBody("{nope"), MalformedChangeError);
    assert.throws(
      () => changesOfBody(JSON.stringify({ ...single, resourceVersion: "x" })),
      MalformedChangeError,
    );
    assert.throws(() => changesOfBody(JSON.stringify({ hello: 1 })), MalformedChangeError);
  });
});

describe("GapTracker", () => {
  it("holds changes per object, oldest first, until their grace runs out", () => {
    const gaps = new GapTracker(1000);
    const change = (rv: string): BundledChange => ({
      type: "MODIFIED",
      kind: "EndpointSlice",
      name: "s",
      resourceVersion: rv,
      sourceTimeMs: 0,
    });
    gaps.hold("k", WEB, change("9"), 100);
    gaps.hold("k", WEB, change("7"), 600);
    gaps.hold("k", WEB, change("7"), 600);
    assert.deepEqual(gaps.expired(1099), []);
    assert.deepEqual(gaps.expired(1100), ["k"]);
    assert.equal(gaps.nextDeadlineMs(), 1100);
    assert.deepEqual(
      gaps.take("k")?.changes.map((c) => c.resourceVersion),
      ["7", "9"],
    );
    assert.equal(gaps.size, 0);
  });
});

describe("LatencyRecorder", () => {
  it("summarises within HDR precision and gives a bounded monotone CDF", () => {
    const recorder = new LatencyRecorder();
    for (let i = 1; i <= 10_000; i++) recorder.record(i / 10);
    recorder.record(-5);
    const summary = recorder.summary();
    assert.equal(summary.count, 10_001);
    assert.ok(Math.abs(summary.p50Ms - 500) <= 1, String(summary.p50Ms));
    assert.ok(Math.abs(summary.p99Ms - 990) <= 1.5, String(summary.p99Ms));
    assert.ok(Math.abs(summary.maxMs - 1000) <= 1.5, String(summary.maxMs));
    assert.equal(recorder.outOfRange.negative, 1);
    const cdf = recorder.cdf(21);
    assert.equal(cdf.length, 21);
    assert.equal(cdf[0], 0);
    for (let i = 1; i < cdf.length; i++) assert.ok((cdf[i] as number) >= (cdf[i - 1] as number));
    const other = new LatencyRecorder();
    other.record(5000);
    recorder.merge(other);
    assert.equal(recorder.count, 10_002);
    assert.ok(Math.abs(recorder.summary().maxMs - 5000) <= 5);
  });

  it("merges a snapshot posted from another thread exactly", async () => {
    const recorder = new LatencyRecorder();
    for (let i = 1; i <= 1000; i++) recorder.record(i);
    recorder.record(-1);
    const { port1, port2 } = new MessageChannel();
    const received = new Promise<LatencySnapshot>((resolve) => port2.once("message", resolve));
    port1.postMessage(recorder.snapshot());
    const snapshot = await received;
    port1.close();
    const merged = new LatencyRecorder();
    merged.record(5000);
    merged.mergeSnapshot(snapshot);
    assert.equal(merged.count, 1002);
    assert.equal(merged.outOfRange.negative, 1);
    assert.ok(Math.abs(merged.quantileMs(50) - 500) <= 1, String(merged.quantileMs(50)));
    assert.ok(Math.abs(merged.summary().maxMs - 5000) <= 5);
  });
});
