import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { BaselineObserver, type BaselineWrite } from "#scripts/bench/baselines/baseline-observer.ts";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumEndpointSlice, EndpointSlice } from "#shared/core/model.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { type BatchReport, SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";

const settings = resolveSlicingSettings();
let sim: ClusterSimulator;
let store: MemoryClusterStore;
let engine: SliceEngine;
let baselines: BaselineObserver;
let now: number;

/** Applies a batch; with what the benchmark's baseline observer counted for it. */
async function apply(...events: SimEvent[]): Promise<BatchReport & { baselineWrites: BaselineWrite[] }> {
  const parsed = parseMessageBody(JSON.stringify({ events }));
  assert.deepEqual(parsed.rejected, []);
  baselines.drain();
  const report = await engine.applyBatch(parsed.events.map((event) => ({ event, sourceTimeMs: now })));
  return { ...report, baselineWrites: baselines.drain() };
}

function writesOf(report: BatchReport, kind: string): number {
  return report.writes.filter((w) => w.kind === kind).length;
}

/** A cluster with two Services selecting overlapping pods, 250 ready pods, 3 zones. */
async function seedCluster(): Promise<void> {
  const events: SimEvent[] = [];
  for (let i = 0; i < 6; i++) events.push(sim.addNode(`node-${i}`, `zone-${i % 3}`));
  events.push(sim.addNamespace("shop"));
  events.push(
    sim.upsertService({
      namespace: "shop",
      name: "web",
      selector: { app: "web" },
      ports: [{ name: "http", port: 80, targetPort: 8080 }],
    }),
    sim.upsertService({
      namespace: "shop",
      name: "all",
      selector: { tier: "fe" },
      ports: [{ name: "http", port: 80, targetPort: 8080 }],
    }),
  );
  for (let i = 0; i < 250; i++) {
    events.push(
      sim.createPod(
        "shop",
        `web-${i}`,
        { app: "web", tier: "fe", "pod-template-hash": "abc" },
        `node-${i % 6}`,
      ),
    );
    events.push(sim.startPod("shop", `web-${i}`), sim.setPodReady("shop", `web-${i}`, true));
  }
  await apply(...events);
}

beforeEach(() => {
  now = 1_700_000_000_000;
  sim = new ClusterSimulator();
  store = new MemoryClusterStore(settings);
  baselines = new BaselineObserver();
  engine = new SliceEngine({ settings, store, nowMs: () => now, observer: baselines });
});

describe("SliceEngine write discipline", () => {
  it("rewrites at most one EndpointSlice per selecting Service and one CES for a single pod change", async () => {
    await seedCluster();
    for (const change of [
      () => sim.setPodReady("shop", "web-17", false),
      () => sim.terminatePod("shop", "web-42"),
      () => sim.deletePod("shop", "web-42"),
      () => sim.createPod("shop", "web-new", { app: "web", tier: "fe" }, "node-1"),
      () => sim.startPod("shop", "web-new"),
      () => sim.setPodReady("shop", "web-new", true),
      () => sim.relabelPod("shop", "web-99", { app: "web", tier: "be" }),
    ]) {
      const report = await apply(change());
      assert.ok(
        writesOf(report, "EndpointSlice") <= 2,
        `EndpointSlice writes ${writesOf(report, "EndpointSlice")}`,
      );
      const perService = new Map<string, number>();
      for (const w of report.writes.filter((x) => x.kind === "EndpointSlice")) {
        const svc = (w.object as EndpointSlice).metadata.labels["kubernetes.io/service-name"] as string;
        perService.set(svc, (perService.get(svc) ?? 0) + 1);
      }
      for (const [svc, count] of perService) assert.ok(count <= 1, `${svc} had ${count} slice writes`);
      assert.ok(writesOf(report, "CiliumEndpointSlice") <= 1);
    }
  });

  it("writes nothing for Node heartbeats and pod annotations", async () => {
    await seedCluster();
    const heartbeats = Array.from({ length: 6 }, (_, i) => sim.heartbeatNode(`node-${i}`));
    const report = await apply(...heartbeats, sim.annotatePod("shop", "web-3"));
    assert.equal(report.writes.length, 0);
    assert.equal(report.baselineWrites.length, 0);
    assert.equal(report.unchanged, 7);
  });

  it("rewrites nothing when a Node event already applied comes again (its pods are only re-checked)", async () => {
    await seedCluster();
    const heartbeat = sim.heartbeatNode("node-0");
    const move = sim.moveNodeToZone("node-1", "zone-9");
    await apply(heartbeat, move);
    const replay = await apply(heartbeat, move);
    assert.equal(replay.stale, 2);
    assert.deepEqual(replay.writes, []);
  });

  it("moves endpoints to their node's new zone", async () => {
    await seedCluster();
    const report = await apply(sim.moveNodeToZone("node-0", "zone-9"));
    assert.ok(writesOf(report, "EndpointSlice") > 0);
    assert.equal(writesOf(report, "CiliumEndpointSlice"), 0);
    for (const { object } of store.objects("EndpointSlice").values()) {
      for (const e of (object as EndpointSlice).endpoints) {
        assert.equal(e.zone, e.nodeName === "node-0" ? "zone-9" : `zone-${Number(e.nodeName?.slice(5)) % 3}`);
      }
    }
  });

  it("drops duplicates and older events, and a tombstone keeps a deleted pod dead", async () => {
    await seedCluster();
    const added = sim.createPod("shop", "late", { app: "web", tier: "fe" }, "node-0");
    const started = sim.startPod("shop", "late");
    const deleted = sim.deletePod("shop", "late");
    await apply(deleted);
    const report = await apply(started, added, started);
    assert.equal(report.stale, 3);
    assert.equal(report.writes.length, 0);
    for (const { object } of store.objects("EndpointSlice").values()) {
      assert.ok((object as EndpointSlice).endpoints.every((e) => e.targetRef.name !== "late"));
    }
  });

  it("keeps a deleted pod dead when a duplicate ADDED comes back after more than a day (late SQS replay)", async () => {
    await seedCluster();
    const added = sim.createPod("shop", "late", { app: "web", tier: "fe" }, "node-0");
    const started = sim.startPod("shop", "late");
    const ready = sim.setPodReady("shop", "late", true);
    await apply(added, started, ready);
    await apply(sim.deletePod("shop", "late"));
    // 25 h later the group is touched (which sweeps expired tombstones), then the old events
    // come back from the queue, as they can for the queue's 4 days, or longer through the DLQ.
    now += 25 * 60 * 60 * 1000;
    await apply(sim.annotatePod("shop", "web-0"));
    const report = await apply(added, started, ready);
    assert.equal(report.stale, 3);
    assert.equal(report.writes.length, 0);
    for (const { object } of store.objects("EndpointSlice").values()) {
      assert.ok((object as EndpointSlice).endpoints.every((e) => e.targetRef.name !== "late"));
    }
  });

  it("re-identifies every pod of a namespace when its labels change", async () => {
    await seedCluster();
    const idsBefore = new Set(
      [...store.objects("CiliumEndpointSlice").values()].flatMap(({ object }) =>
        (object as CiliumEndpointSlice).endpoints.map((e) => e.id),
      ),
    );
    const report = await apply(sim.relabelNamespace("shop", { team: "storefront" }));
    assert.equal(writesOf(report, "EndpointSlice"), 0);
    assert.equal(writesOf(report, "CiliumEndpointSlice"), Math.ceil(250 / settings.maxEndpointsPerCES));
    assert.equal(writesOf(report, "CiliumIdentity"), 1);
    const idsAfter = new Set(
      [...store.objects("CiliumEndpointSlice").values()].flatMap(({ object }) =>
        (object as CiliumEndpointSlice).endpoints.map((e) => e.id),
      ),
    );
    assert.equal(idsAfter.size, 1);
    assert.ok(![...idsAfter].some((id) => idsBefore.has(id)));
  });

  it("garbage-collects an identity nobody uses after the grace period", async () => {
    await seedCluster();
    await apply(sim.relabelNamespace("shop", { team: "storefront" }));
    assert.equal(store.objects("CiliumIdentity").size, 2);
    now += settings.identityGcGraceMs - 1;
    assert.equal(writesOf(await apply(sim.heartbeatNode("node-0")), "CiliumIdentity"), 0);
    now += 1;
    const report = await apply(sim.heartbeatNode("node-0"));
    assert.equal(writesOf(report, "CiliumIdentity"), 1);
    assert.equal(store.objects("CiliumIdentity").size, 1);
  });

  it("counts the per-endpoint and per-Service baselines from the same events", async () => {
    await seedCluster();
    const report = await apply(sim.setPodReady("shop", "web-5", false));
    const ciliumEndpoints = report.baselineWrites.filter((w) => w.kind === "CiliumEndpoint");
    const endpoints = report.baselineWrites.filter((w) => w.kind === "Endpoints");
    // Readiness is not in a CiliumEndpoint; both Services' Endpoints objects are rewritten whole.
    assert.equal(ciliumEndpoints.length, 0);
    assert.equal(endpoints.length, 2);
    const slice = report.writes.find((w) => w.kind === "EndpointSlice");
    // 250 backends in one object against one slice of at most 100.
    assert.ok(slice !== undefined && (endpoints[0]?.bytes ?? 0) > slice.bytes);
  });
});

describe("a Node write lost to a concurrent ingest invocation", () => {
  it("is reloaded and decided again instead of failing the batch", async () => {
    const { ConditionalWriteError } = await import("#shared/core/cluster-store.ts");
    const racing = new MemoryClusterStore(settings);
    const racingSim = new ClusterSimulator();
    const racingEngine = new SliceEngine({ settings, store: racing, nowMs: () => now });
    const run = async (...events: SimEvent[]) => {
      const parsed = parseMessageBody(JSON.stringify({ events }));
      return racingEngine.applyBatch(parsed.events.map((event) => ({ event, sourceTimeMs: now })));
    };
    await run(racingSim.addNode("node-r", "zone-a"));
    // The other invocation stores an intermediate version between our load and our write.
    const intermediate = racingSim.heartbeatNode("node-r");
    const ours = racingSim.heartbeatNode("node-r");
    const commitNode = racing.commitNode.bind(racing);
    let raced = 0;
    racing.commitNode = async (name, entry, expected) => {
      if (raced++ === 0) {
        const parsed = parseMessageBody(JSON.stringify({ events: [intermediate] }));
        const object = parsed.events[0]?.object;
        assert.ok(object?.kind === "Node");
        await commitNode(
          name,
          { resourceVersion: object.metadata.resourceVersion, record: entry.record },
          expected,
        );
        throw new ConditionalWriteError(`node ${name} changed concurrently`);
      }
      return commitNode(name, entry, expected);
    };
    const report = await run(ours);
    assert.equal(raced, 2, "the write was tried again after the conflict");
    assert.equal(report.writes.length, 0);
    const stored = await racing.loadNode("node-r");
    assert.equal(
      stored?.resourceVersion,
      (ours.object.metadata as { resourceVersion: string }).resourceVersion,
    );
  });
});

describe("a batch's namespace groups, in waves", () => {
  /** A store that logs each group's load and commit, and can fail one namespace's load. */
  function loggingStore(failLoadOf?: string) {
    const logged = new MemoryClusterStore(settings);
    const log: string[] = [];
    const loadGroup = logged.loadGroup.bind(logged);
    const commitGroup = logged.commitGroup.bind(logged);
    logged.loadGroup = async (namespace) => {
      // ns-0 loads first: without the wave, it would commit while the others still load.
      await new Promise((resolve) => setTimeout(resolve, namespace === "ns-0" ? 0 : 5));
      if (namespace === failLoadOf) throw new Error(`${namespace} unreadable`);
      const group = await loadGroup(namespace);
      log.push(`loaded ${namespace}`);
      return group;
    };
    logged.commitGroup = async (group, writes) => {
      log.push(`commit ${group.name}`);
      return commitGroup(group, writes);
    };
    return { logged, log };
  }

  async function fiveNamespaces(wave: SliceEngine, waveSim: ClusterSimulator, options = {}) {
    const events: SimEvent[] = [waveSim.addNode("node-0", "zone-0")];
    for (let n = 0; n < 5; n++) {
      events.push(waveSim.addNamespace(`ns-${n}`), waveSim.createPod(`ns-${n}`, "p", { app: "a" }, "node-0"));
    }
    const parsed = parseMessageBody(JSON.stringify({ events }));
    return wave.applyBatch(
      parsed.events.map((event) => ({ event, sourceTimeMs: now })),
      options,
    );
  }

  it("plans every group of a wave before any of them commits, wave after wave", async () => {
    const { logged, log } = loggingStore();
    const wave = new SliceEngine({ settings, store: logged, nowMs: () => now, groupConcurrency: 3 });
    const report = await fiveNamespaces(wave, new ClusterSimulator());
    assert.deepEqual(report.failures, []);
    const loads = (names: string[]) => names.map((n) => `loaded ${n}`).sort();
    const commits = (names: string[]) => names.map((n) => `commit ${n}`).sort();
    assert.deepEqual(log.slice(0, 3).sort(), loads(["ns-0", "ns-1", "ns-2"]));
    assert.deepEqual(log.slice(3, 6).sort(), commits(["ns-0", "ns-1", "ns-2"]));
    assert.deepEqual(log.slice(6, 8).sort(), loads(["ns-3", "ns-4"]));
    assert.deepEqual(log.slice(8).sort(), commits(["ns-3", "ns-4"]));
  });

  it("does not hold a wave up for a group that failed before its commit", async () => {
    const { logged, log } = loggingStore("ns-1");
    const wave = new SliceEngine({ settings, store: logged, nowMs: () => now, groupConcurrency: 5 });
    const report = await fiveNamespaces(wave, new ClusterSimulator(), { isolateFailures: true });
    assert.deepEqual(
      report.failures.map((failure) => failure.unit),
      ["namespace ns-1"],
    );
    assert.deepEqual(log.filter((line) => line.startsWith("commit")).sort(), [
      "commit ns-0",
      "commit ns-2",
      "commit ns-3",
      "commit ns-4",
    ]);
  });
});
