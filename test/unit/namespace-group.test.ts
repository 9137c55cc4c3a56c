import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { InvalidCesSettingsError } from "#shared/core/ciliumendpointslice/namespace-slices.ts";
import { InvalidEndpointSliceSettingsError } from "#shared/core/endpointslice/settings.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumEndpointSlice, EndpointSlice } from "#shared/core/model.ts";
import { NamespaceGroup } from "#shared/core/namespace-group.ts";
import { toPodRecord } from "#shared/core/records.ts";
import { InvalidSettingsError, resolveSlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";

const settings = resolveSlicingSettings({ maxEndpointsPerSlice: 10, maxEndpointsPerCES: 7 });

function parse(events: SimEvent[]) {
  return parseMessageBody(JSON.stringify({ events })).events.map((event) => ({ event, sourceTimeMs: 1 }));
}

describe("NamespaceGroup persistence hooks", () => {
  it("reports the records a batch changed, including heartbeat-only version bumps, until saved", async () => {
    const sim = new ClusterSimulator();
    const store = new MemoryClusterStore(settings);
    const engine = new SliceEngine({ settings, store, nowMs: () => 5 });
    await engine.applyBatch(
      parse([sim.addNamespace("shop"), sim.createPod("shop", "a", { app: "x" }, "n1")]),
    );
    const group = await store.loadGroup("shop");
    const unsaved = group.unsavedChanges();
    assert.deepEqual(
      unsaved.pods.map(([name]) => name),
      ["a"],
    );
    assert.ok(unsaved.namespaceEntry !== undefined);
    group.markSaved();
    await engine.applyBatch(parse([sim.annotatePod("shop", "a")]));
    assert.deepEqual(
      group.unsavedChanges().pods.map(([name, entry]) => [name, entry?.resourceVersion]),
      [["a", String(sim.revision)]],
    );
  });

  it("restores its slice name counters; stored without them, continues after the stored names", async () => {
    const sim = new ClusterSimulator();
    const live = new MemoryClusterStore(settings);
    const engine = new SliceEngine({ settings, store: live, nowMs: () => 5 });
    const events: SimEvent[] = [sim.addNode("n1", "z1"), sim.addNamespace("shop")];
    events.push(
      sim.upsertService({ namespace: "shop", name: "web", selector: { app: "web" }, ports: [{ port: 80 }] }),
    );
    for (let i = 0; i < 15; i++) {
      events.push(
        sim.createPod("shop", `p${i}`, { app: "web" }, "n1"),
        sim.startPod("shop", `p${i}`),
        sim.setPodReady("shop", `p${i}`, true),
      );
    }
    await engine.applyBatch(parse(events));
    // 15 endpoints: web-00001 and web-00002 (10 a slice), ces-shop-1 to ces-shop-3 (7 a slice).
    assert.deepEqual((await live.loadGroup("shop")).sliceNameCounters, {
      endpointSlices: 2,
      ciliumEndpointSlices: 3,
    });
    const stored = (sliceNameCounters?: { endpointSlices: number; ciliumEndpointSlices: number }) =>
      NamespaceGroup.restore("shop", settings, {
        version: 1,
        namespaceEntry: undefined,
        pods: [],
        services: [],
        podIdentities: [],
        endpointSlices: [...live.objects("EndpointSlice").values()].map(
          ({ object }) => structuredClone(object) as EndpointSlice,
        ),
        ciliumEndpointSlices: [...live.objects("CiliumEndpointSlice").values()].map(
          ({ object }) => structuredClone(object) as CiliumEndpointSlice,
        ),
        sliceNameCounters,
      });
    const counters = { endpointSlices: 40, ciliumEndpointSlices: 9 };
    assert.deepEqual(stored(counters).sliceNameCounters, counters);
    assert.deepEqual(stored().sliceNameCounters, { endpointSlices: 2, ciliumEndpointSlices: 3 });
  });

  it("restored from a snapshot, continues exactly like the live group", async () => {
    const sim = new ClusterSimulator();
    const live = new MemoryClusterStore(settings);
    const engine = new SliceEngine({ settings, store: live, nowMs: () => 5 });
    const setup: SimEvent[] = [sim.addNode("n1", "z1"), sim.addNamespace("shop", { team: "a" })];
    setup.push(
      sim.upsertService({
        namespace: "shop",
        name: "web",
        selector: { app: "web" },
        ports: [{ name: "http", port: 80, targetPort: 8080 }],
      }),
    );
    for (let i = 0; i < 25; i++) {
      setup.push(
        sim.createPod("shop", `p${i}`, { app: "web" }, "n1"),
        sim.startPod("shop", `p${i}`),
        sim.setPodReady("shop", `p${i}`, true),
      );
    }
    await engine.applyBatch(parse(setup));
    const group = await live.loadGroup("shop");
    const restored = NamespaceGroup.restore("shop", settings, {
      version: group.version,
      namespaceEntry: group.namespaceEntry,
      pods: group.pods,
      services: group.services,
      podIdentities: group.podIdentities,
      endpointSlices: [...live.objects("EndpointSlice").values()].map(({ object }) =>
        structuredClone(object as EndpointSlice),
      ),
      ciliumEndpointSlices: [...live.objects("CiliumEndpointSlice").values()].map(({ object }) =>
        structuredClone(object as CiliumEndpointSlice),
      ),
    });
    const more = [
      sim.setPodReady("shop", "p3", false),
      sim.deletePod("shop", "p4"),
      sim.relabelPod("shop", "p5", { app: "web", v: "2" }),
    ];
    const context = {
      settings,
      nowMs: 5,
      zoneOf: () => "z1",
      acquireIdentity: async () => 999,
      releaseIdentity: async () => {},
      nextRevision: (previous?: string) => String(Number(previous ?? 0) + 1),
    };
    const outcomes: string[][] = [[], []];
    for (const [i, target] of [group, restored].entries()) {
      for (const { event } of parse(more)) {
        if (event.object.kind !== "Pod") continue;
        const record = event.type === "DELETED" ? undefined : toPodRecord(event.object);
        outcomes[i]?.push(
          target.applyRecord(
            "Pod",
            event.object.metadata.name,
            event.object.metadata.resourceVersion,
            record,
            1,
            5,
          ),
        );
      }
    }
    assert.deepEqual(outcomes[0], outcomes[1]);
    const a = await group.reconcile(context);
    const b = await restored.reconcile(context);
    const summary = (writes: typeof a.writes) =>
      writes
        .map(
          (w) =>
            `${w.kind} ${w.op} ${w.object.metadata.name} ${JSON.stringify((w.object as { endpoints: unknown }).endpoints)}`,
        )
        .sort();
    assert.deepEqual(summary(b.writes), summary(a.writes));
    assert.ok(a.writes.length > 0);
  });
});

describe("resolveSlicingSettings", () => {
  it("rejects knobs out of range with the part's own error", () => {
    assert.throws(
      () => resolveSlicingSettings({ maxEndpointsPerSlice: 0 }),
      InvalidEndpointSliceSettingsError,
    );
    assert.throws(
      () => resolveSlicingSettings({ maxEndpointsPerSlice: 1001 }),
      InvalidEndpointSliceSettingsError,
    );
    assert.throws(() => resolveSlicingSettings({ maxEndpointsPerCES: 0 }), InvalidCesSettingsError);
    assert.throws(() => resolveSlicingSettings({ tombstoneRetentionMs: -1 }), InvalidSettingsError);
    assert.equal(resolveSlicingSettings().maxEndpointsPerSlice, 100);
    assert.equal(resolveSlicingSettings().maxEndpointsPerCES, 50);
  });
});

describe("NamespaceGroup identity persistence", () => {
  it("reports pods whose identity changed with no change of their own (a namespace relabel)", async () => {
    const sim = new ClusterSimulator();
    const store = new MemoryClusterStore(settings);
    const engine = new SliceEngine({ settings, store, nowMs: () => 5 });
    const events: SimEvent[] = [sim.addNamespace("shop", { team: "a" })];
    for (const name of ["a", "b"])
      events.push(sim.createPod("shop", name, { app: "x" }, "n1"), sim.startPod("shop", name));
    await engine.applyBatch(parse(events));
    const group = await store.loadGroup("shop");
    group.markSaved();
    await engine.applyBatch(parse([sim.relabelNamespace("shop", { team: "b" })]));
    assert.deepEqual(
      group
        .unsavedChanges()
        .pods.map(([name, , identity]) => [name, typeof identity])
        .sort(),
      [
        ["a", "number"],
        ["b", "number"],
      ],
    );
  });
});
