import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ChangedPod,
  ServiceMismatchError,
  ServiceSlices,
} from "#shared/core/endpointslice/service-slices.ts";
import {
  type EndpointSliceSettings,
  InvalidEndpointSliceSettingsError,
} from "#shared/core/endpointslice/settings.ts";
import { sliceNamePrefix } from "#shared/core/endpointslice/slice-names.ts";
import type { EndpointSlice, PodRecord, ServiceRecord } from "#shared/core/model.ts";
import { noZones, podRecord, serviceRecord, sliceViolations } from "#test/support/endpointslice-fixtures.ts";

const k8s: EndpointSliceSettings = { maxEndpointsPerSlice: 100, placement: "kubernetes" };

function pods(prefix: string, count: number, firstIp = 1, overrides: Partial<PodRecord> = {}): PodRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const n = firstIp + i;
    return podRecord({
      name: `${prefix}-${i}`,
      podIPs: [`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`],
      ...overrides,
    });
  });
}

function added(list: readonly PodRecord[]): ChangedPod[] {
  return list.map((pod) => [`${pod.namespace}/${pod.name}`, pod] as const);
}

function removed(list: readonly PodRecord[]): ChangedPod[] {
  return list.map((pod) => [`${pod.namespace}/${pod.name}`, undefined] as const);
}

function sizes(slices: readonly EndpointSlice[]): number[] {
  return slices.map((s) => s.endpoints.length).sort((a, b) => a - b);
}

function writes(changes: { creates: unknown[]; updates: unknown[]; deletes: unknown[] }): number[] {
  return [changes.creates.length, changes.updates.length, changes.deletes.length];
}

/** Slices of the given sizes, in that order, each filled by a separate reconcile. */
function slicesOfSizes(settings: EndpointSliceSettings, service: ServiceRecord, counts: number[]) {
  const slices = new ServiceSlices("default", "web", settings);
  let next = 1;
  counts.forEach((count, index) => {
    // A fresh batch that fits no existing slice is put in a new one; make each batch its own slice.
    const batch = pods(`s${index}`, count, next);
    next += count;
    const changes = slices.reconcile(service, added(batch), noZones);
    assert.equal(changes.creates.length, 1, `slice ${index} should be new`);
  });
  return slices;
}

describe("ServiceSlices: writing slices", () => {
  it("creates labelled, owned, named slices without resourceVersion", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    const service = serviceRecord({ labels: { team: "a" } });
    const changes = slices.reconcile(service, added(pods("web", 3)), noZones);
    assert.deepEqual(writes(changes), [1, 0, 0]);
    const [slice] = changes.creates;
    assert.ok(slice);
    assert.equal(slice.metadata.namespace, "default");
    assert.match(slice.metadata.name, /^web-[0-9a-z]{5}$/);
    assert.equal(slice.metadata.resourceVersion, undefined);
    assert.deepEqual(slice.metadata.labels, {
      "endpointslice.kubernetes.io/managed-by": "sliceline",
      "kubernetes.io/service-name": "web",
      team: "a",
    });
    assert.deepEqual(slice.metadata.ownerReferences, [
      {
        apiVersion: "v1",
        kind: "Service",
        name: "web",
        uid: "svc-uid-1",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    assert.equal(slice.addressType, "IPv4");
    assert.deepEqual(slice.ports, [{ name: "http", port: 8080, protocol: "TCP" }]);
    assert.equal(slice.endpoints.length, 3);
  });

  it("marks the slices of a headless Service", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    const service = serviceRecord({ clusterIP: "None" });
    const [slice] = slices.reconcile(service, added(pods("web", 1)), noZones).creates;
    assert.equal(slice?.metadata.labels["service.kubernetes.io/headless"], "");
  });

  it("updates in place with the resourceVersion the caller stamped, and deletes an emptied slice", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    const service = serviceRecord();
    const list = pods("web", 2);
    const [created] = slices.reconcile(service, added(list), noZones).creates;
    assert.ok(created);
    slices.setResourceVersion(created.metadata.name, "41");

    const notReady = { ...(list[0] as PodRecord), ready: false };
    const update = slices.reconcile(service, added([notReady]), noZones);
    assert.deepEqual(writes(update), [0, 1, 0]);
    assert.equal(update.updates[0]?.metadata.name, created.metadata.name);
    assert.equal(update.updates[0]?.metadata.resourceVersion, "41");
    assert.deepEqual(
      update.updates[0]?.endpoints.map((e) => [e.targetRef.name, e.conditions.ready]),
      [
        ["web-0", false],
        ["web-1", true],
      ],
    );
    slices.setResourceVersion(created.metadata.name, "42");

    const gone = slices.reconcile(service, removed(list), noZones);
    assert.deepEqual(writes(gone), [0, 0, 1]);
    assert.equal(gone.deletes[0]?.metadata.resourceVersion, "42");
    assert.equal(slices.slices().length, 0);
    assert.equal(slices.hasPod("default/web-0"), false);
  });

  it("writes nothing when a changed pod's endpoint stays the same", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    const service = serviceRecord();
    const list = pods("web", 3);
    slices.reconcile(service, added(list), noZones);
    assert.deepEqual(writes(slices.reconcile(service, added(list), noZones)), [0, 0, 0]);
    // A change that matters to no endpoint (say a label the selector ignores) is no write either.
    const relabelled = list.map((p) => ({ ...p, labels: { ...p.labels, version: "2" } }));
    assert.deepEqual(writes(slices.reconcile(service, added(relabelled), noZones)), [0, 0, 0]);
    // Nor is a pod that never was and still is not selected.
    const stranger = podRecord({ name: "db-0", labels: { app: "db" } });
    assert.deepEqual(writes(slices.reconcile(service, added([stranger]), noZones)), [0, 0, 0]);
  });

  it("hands out copies that later reconciles leave alone", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    const service = serviceRecord();
    const list = pods("web", 3);
    const [created] = slices.reconcile(service, added(list), noZones).creates;
    const snapshot = structuredClone(created);
    created?.endpoints.pop();
    if (created) created.metadata.resourceVersion = "999";
    slices.reconcile(service, added([{ ...(list[1] as PodRecord), ready: false }]), noZones);
    slices.reconcile(service, removed([list[2] as PodRecord]), noZones);
    assert.equal(slices.slices()[0]?.metadata.resourceVersion, undefined);
    assert.equal(slices.slices()[0]?.endpoints.length, 2);
    created?.endpoints.push(...(snapshot?.endpoints.slice(2) ?? []));
    if (created) delete created.metadata.resourceVersion;
    assert.deepEqual(created, snapshot);
  });

  it("tracks which pods it publishes", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    const service = serviceRecord();
    slices.reconcile(service, added(pods("web", 2)), noZones);
    assert.deepEqual([...slices.podKeys()].sort(), ["default/web-0", "default/web-1"]);
    assert.equal(slices.hasPod("default/web-1"), true);
    assert.equal(slices.hasPod("default/web-2"), false);
  });
});

describe("ServiceSlices: which Services get slices", () => {
  for (const [what, change] of [
    ["loses its selector", { selector: undefined }],
    ["becomes ExternalName", { type: "ExternalName" }],
  ] as const) {
    it(`deletes every slice when the Service ${what}`, () => {
      const slices = new ServiceSlices("default", "web", { ...k8s, maxEndpointsPerSlice: 2 });
      const service = serviceRecord();
      slices.reconcile(service, added(pods("web", 5)), noZones);
      const changes = slices.reconcile({ ...service, ...change }, [], noZones);
      assert.deepEqual(writes(changes), [0, 0, 3]);
      assert.equal(slices.slices().length, 0);
    });
  }

  it("deletes every slice when the Service is gone", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    slices.reconcile(serviceRecord(), added(pods("web", 5)), noZones);
    assert.deepEqual(writes(slices.reconcile(undefined, [], noZones)), [0, 0, 1]);
  });

  it("follows a selector change: pods that no longer match leave, new matches join", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    const service = serviceRecord();
    const web = pods("web", 2);
    const api = pods("api", 2, 10, { labels: { app: "api" } });
    slices.reconcile(service, added(web), noZones);
    const changes = slices.reconcile(
      { ...service, selector: { app: "api" } },
      added([...web, ...api]),
      noZones,
    );
    assert.deepEqual(writes(changes), [0, 1, 0]);
    assert.deepEqual(changes.updates[0]?.endpoints.map((e) => e.targetRef.name).sort(), ["api-0", "api-1"]);
  });

  it("replaces the slices of an earlier Service with the same name instead of reusing them", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    const list = pods("web", 3);
    const [old] = slices.reconcile(serviceRecord(), added(list), noZones).creates;
    const recreated = serviceRecord({ uid: "svc-uid-2" });
    const changes = slices.reconcile(recreated, added(list), noZones);
    assert.deepEqual(writes(changes), [1, 0, 1]);
    assert.equal(changes.deletes[0]?.metadata.name, old?.metadata.name);
    assert.equal(changes.creates[0]?.metadata.ownerReferences?.[0]?.uid, "svc-uid-2");
    assert.equal(changes.creates[0]?.endpoints.length, 3);
  });

  it("drops the slices of an address type the Service no longer has", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    const dual = serviceRecord({ ipFamilies: ["IPv4", "IPv6"] });
    const list = pods("web", 2).map((p, i) => ({ ...p, podIPs: [...p.podIPs, `fd00::${i + 1}`] }));
    const created = slices.reconcile(dual, added(list), noZones).creates;
    assert.deepEqual(created.map((s) => s.addressType).sort(), ["IPv4", "IPv6"]);
    const changes = slices.reconcile({ ...dual, ipFamilies: ["IPv4"] }, added(list), noZones);
    assert.deepEqual(writes(changes), [0, 0, 1]);
    assert.equal(changes.deletes[0]?.addressType, "IPv6");
  });

  it("mirrors the Service's labels and rewrites every slice when they change", () => {
    const slices = new ServiceSlices("default", "web", { ...k8s, maxEndpointsPerSlice: 2 });
    const service = serviceRecord({ labels: { tier: "front" } });
    const list = pods("web", 4);
    slices.reconcile(service, added(list), noZones);
    const changes = slices.reconcile({ ...service, labels: { tier: "back" } }, added(list), noZones);
    assert.deepEqual(writes(changes), [0, 2, 0]);
    assert.ok(changes.updates.every((s) => s.metadata.labels.tier === "back"));
  });

  it("refuses a Service it was not made for", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    assert.throws(() => slices.reconcile(serviceRecord({ name: "api" }), [], noZones), ServiceMismatchError);
  });
});

describe("ServiceSlices: port sets", () => {
  it("puts pods that resolve a named port differently into different slices", () => {
    const slices = new ServiceSlices("default", "web", k8s);
    const service = serviceRecord({
      ports: [{ name: "http", port: 80, targetPort: "web", protocol: "TCP", appProtocol: undefined }],
    });
    const onA = pods("a", 2, 1, { namedPorts: [{ name: "web", port: 8080, protocol: "TCP" }] });
    const onB = pods("b", 1, 10, { namedPorts: [{ name: "web", port: 9090, protocol: "TCP" }] });
    const without = pods("c", 1, 20);
    const changes = slices.reconcile(service, added([...onA, ...onB, ...without]), noZones);
    const byPorts = changes.creates
      .map((s) => [JSON.stringify(s.ports), s.endpoints.map((e) => e.targetRef.name).sort()] as const)
      .sort();
    assert.deepEqual(byPorts, [
      ["[]", ["c-0"]],
      ['[{"name":"http","port":8080,"protocol":"TCP"}]', ["a-0", "a-1"]],
      ['[{"name":"http","port":9090,"protocol":"TCP"}]', ["b-0"]],
    ]);
  });
});

describe("ServiceSlices: placement as the Kubernetes controller does it", () => {
  it("prefers one create over several updates: 70 + 80 + 50 new makes a third slice", () => {
    const service = serviceRecord();
    const slices = slicesOfSizes(k8s, service, [70, 80]);
    const changes = slices.reconcile(service, added(pods("new", 50, 1000)), noZones);
    assert.deepEqual(writes(changes), [1, 0, 0]);
    assert.deepEqual(sizes(slices.slices()), [50, 70, 80]);
  });

  it("puts a remainder into the unchanged slice it fills best", () => {
    const service = serviceRecord();
    const slices = slicesOfSizes(k8s, service, [60, 85, 70]);
    const changes = slices.reconcile(service, added(pods("new", 25, 1000)), noZones);
    assert.deepEqual(writes(changes), [0, 1, 0]);
    assert.deepEqual(sizes(slices.slices()), [60, 85, 95]);
  });

  it("fills the slices being written anyway first, fullest first, before creating", () => {
    const service = serviceRecord();
    const slices = new ServiceSlices("default", "web", k8s);
    const first = pods("a", 90, 1);
    const second = pods("b", 60, 100);
    slices.reconcile(service, added(first), noZones);
    slices.reconcile(service, added(second), noZones);
    // One pod leaves each slice; 30 arrive: the 89 is topped up to 100, the 59 takes the other 19.
    const changes = slices.reconcile(
      service,
      [...removed([first[0] as PodRecord, second[0] as PodRecord]), ...added(pods("c", 30, 500))],
      noZones,
    );
    assert.deepEqual(writes(changes), [0, 2, 0]);
    assert.deepEqual(sizes(slices.slices()), [78, 100]);
  });

  it("turns a delete plus a create into one rewrite of the deleted slice (finalize)", () => {
    const service = serviceRecord();
    const slices = new ServiceSlices("default", "web", k8s);
    const old = pods("old", 100, 1);
    slices.reconcile(service, added(old), noZones);
    slices.reconcile(service, added(pods("keep", 100, 200)), noZones);
    const oldName = slices.slices().find((s) => s.endpoints[0]?.targetRef.name === "old-0")?.metadata.name;
    slices.setResourceVersion(oldName ?? "", "7");
    const changes = slices.reconcile(service, [...removed(old), ...added(pods("new", 150, 400))], noZones);
    assert.deepEqual(writes(changes), [1, 1, 0]);
    assert.equal(changes.updates[0]?.metadata.name, oldName);
    assert.equal(changes.updates[0]?.metadata.resourceVersion, "7");
    assert.deepEqual(sizes(slices.slices()), [50, 100, 100]);
  });

  it("honours a maximum of 1 and of 1000 endpoints per slice", () => {
    const service = serviceRecord();
    const tiny = new ServiceSlices("default", "web", { ...k8s, maxEndpointsPerSlice: 1 });
    assert.deepEqual(writes(tiny.reconcile(service, added(pods("web", 5)), noZones)), [5, 0, 0]);
    assert.deepEqual(sliceViolations(tiny.slices(), 1), []);
    const huge = new ServiceSlices("default", "web", { ...k8s, maxEndpointsPerSlice: 1000 });
    assert.deepEqual(writes(huge.reconcile(service, added(pods("web", 2500)), noZones)), [3, 0, 0]);
    assert.deepEqual(sizes(huge.slices()), [500, 1000, 1000]);
  });
});

describe("ServiceSlices: sliceline placement", () => {
  const sliceline: EndpointSliceSettings = { maxEndpointsPerSlice: 100, placement: "sliceline" };

  it("merges slices written anyway when one fits into the others (a free merge)", () => {
    const service = serviceRecord();
    const slices = new ServiceSlices("default", "web", sliceline);
    const a = pods("a", 100, 1);
    const b = pods("b", 100, 200);
    slices.reconcile(service, added(a), noZones);
    slices.reconcile(service, added(b), noZones);
    // 60 leave one slice and 50 the other: the kubernetes placement would rewrite both.
    const changes = slices.reconcile(service, removed([...a.slice(0, 60), ...b.slice(0, 50)]), noZones);
    assert.deepEqual(writes(changes), [0, 1, 1]);
    assert.deepEqual(sizes(slices.slices()), [90]);
  });

  it("still writes one slice for a single pod change", () => {
    const service = serviceRecord();
    const slices = slicesOfSizes(sliceline, service, [60, 70, 80, 90]);
    assert.deepEqual(
      writes(slices.reconcile(service, removed([podRecord({ name: "s0-0" })]), noZones)),
      [0, 1, 0],
    );
    assert.deepEqual(writes(slices.reconcile(service, added(pods("x", 1, 999)), noZones)), [0, 1, 0]);
  });

  it("moves a pod whose new IP the controller would top into another slice into its own emptied slice", () => {
    const service = serviceRecord();
    const lonely = podRecord({ name: "lonely", podIPs: ["10.9.9.9"] });
    const outcome = (placement: "kubernetes" | "sliceline") => {
      const slices = slicesOfSizes({ maxEndpointsPerSlice: 100, placement }, service, [100]);
      slices.reconcile(service, added([lonely]), noZones);
      slices.reconcile(service, removed([podRecord({ name: "s0-0" })]), noZones);
      assert.deepEqual(sizes(slices.slices()), [1, 99]);
      const changes = slices.reconcile(service, added([{ ...lonely, podIPs: ["10.9.9.10"] }]), noZones);
      return [writes(changes), sizes(slices.slices())];
    };
    // The controller: the emptied slice is deleted, the new endpoint tops up the 99: two writes.
    assert.deepEqual(outcome("kubernetes"), [[0, 1, 1], [100]]);
    assert.deepEqual(outcome("sliceline"), [
      [0, 1, 0],
      [1, 99],
    ]);
  });

  it("keeps the 70 + 80 + 50 answer of the controller", () => {
    const service = serviceRecord();
    const slices = slicesOfSizes(sliceline, service, [70, 80]);
    assert.deepEqual(writes(slices.reconcile(service, added(pods("new", 50, 1000)), noZones)), [1, 0, 0]);
  });
});

describe("ServiceSlices: settings and rebuilding", () => {
  it("rejects a maximum outside 1..1000 or not an integer, and an unknown placement", () => {
    for (const maxEndpointsPerSlice of [0, 1001, 1.5, Number.NaN]) {
      assert.throws(
        () => new ServiceSlices("default", "web", { maxEndpointsPerSlice, placement: "kubernetes" }),
        InvalidEndpointSliceSettingsError,
      );
    }
    assert.throws(
      () =>
        new ServiceSlices("default", "web", {
          maxEndpointsPerSlice: 100,
          placement: "fastest" as "kubernetes",
        }),
      /placement/,
    );
  });

  it("continues from stored slices without reusing a live name", () => {
    const service = serviceRecord();
    const before = new ServiceSlices("default", "web", { ...k8s, maxEndpointsPerSlice: 2 });
    before.reconcile(service, added(pods("web", 5)), noZones);
    const stored = before
      .slices()
      .map((s, i) => ({ ...s, metadata: { ...s.metadata, resourceVersion: `${i + 1}` } }));

    const after = new ServiceSlices("default", "web", { ...k8s, maxEndpointsPerSlice: 2 }, stored);
    assert.deepEqual(after.slices(), stored);
    assert.equal(after.hasPod("default/web-4"), true);
    const changes = after.reconcile(service, added(pods("more", 3, 100)), noZones);
    const names = new Set(stored.map((s) => s.metadata.name));
    assert.ok(changes.creates.every((s) => !names.has(s.metadata.name)));
    // Two fill a new slice; the last one goes to the stored slice that has room for it.
    assert.deepEqual(writes(changes), [1, 1, 0]);
    assert.deepEqual(sliceViolations(after.slices(), 2), []);
  });

  it("ignores stored slices that are not its own", () => {
    const service = serviceRecord();
    const other = new ServiceSlices("default", "api", k8s);
    other.reconcile(serviceRecord({ name: "api" }), added(pods("api", 1)), noZones);
    const userManaged = structuredClone(other.slices()[0] as EndpointSlice);
    userManaged.metadata.name = "web-manual";
    userManaged.metadata.labels = {
      "kubernetes.io/service-name": "web",
      "endpointslice.kubernetes.io/managed-by": "me",
    };
    const slices = new ServiceSlices("default", "web", k8s, [...other.slices(), userManaged]);
    assert.equal(slices.slices().length, 0);
    assert.deepEqual(writes(slices.reconcile(service, [], noZones)), [0, 0, 0]);
  });

  it("repairs damaged stored state on the next reconcile: duplicates, empty and oversized slices", () => {
    const service = serviceRecord();
    const source = new ServiceSlices("default", "web", { ...k8s, maxEndpointsPerSlice: 4 });
    source.reconcile(service, added(pods("web", 4)), noZones);
    const [full] = source.slices();
    assert.ok(full);
    const duplicate = { ...structuredClone(full), metadata: { ...full.metadata, name: "web-dup" } };
    duplicate.endpoints = duplicate.endpoints.slice(0, 1);
    const empty = {
      ...structuredClone(full),
      metadata: { ...full.metadata, name: "web-empty" },
      endpoints: [],
    };

    const slices = new ServiceSlices("default", "web", { ...k8s, maxEndpointsPerSlice: 3 }, [
      full,
      duplicate,
      empty,
    ]);
    const changes = slices.reconcile(service, [], noZones);
    assert.deepEqual(sliceViolations(slices.slices(), 3), []);
    assert.deepEqual(
      slices
        .slices()
        .flatMap((s) => s.endpoints.map((e) => e.targetRef.name))
        .sort(),
      ["web-0", "web-1", "web-2", "web-3"],
    );
    assert.ok(changes.updates.length + changes.deletes.length >= 2);
  });

  it("names slices of long Service names within 63 characters, distinct per Service", () => {
    const long = "a".repeat(60);
    const prefixA = sliceNamePrefix(`${long}-one`);
    const prefixB = sliceNamePrefix(`${long}-two`);
    assert.notEqual(prefixA, prefixB);
    const service = serviceRecord({ name: `${long}-one` });
    const slices = new ServiceSlices("default", service.name, { ...k8s, maxEndpointsPerSlice: 1 });
    slices.reconcile(service, added(pods("web", 3)), noZones);
    assert.deepEqual(sliceViolations(slices.slices(), 1), []);
  });
});
