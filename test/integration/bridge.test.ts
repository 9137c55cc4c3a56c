/**
 * The bridge end to end: a fake apiserver (scripts/sim/fake-apiserver.ts) fed by the cluster
 * simulator, the bridge's client-node informers watching it, and the embedded pipeline (DynamoDB
 * Local + fauxqs, the real ingest handler) behind its queues:
 *   - list then watch puts contract events on SQS: kind/apiVersion filled, sourceTimeMs stamped,
 *     kube-system on the priority queue, SYNC chunks after each list;
 *   - the API serves the fake cluster's state; after a gap that ends in 410 Gone (watches
 *     refused, deletions made, history compacted) the re-list's resync deletes what went during
 *     the gap (pods, Services, a whole namespace); a bridge stopped and started again (deletions
 *     while it was away) loses nothing either.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import fc from "fast-check";
import { type LocalRunner, startLocalRunner } from "#scripts/local/runner.ts";
import type { ClusterSimulator, SimEvent } from "#scripts/sim/cluster-simulator.ts";
import { FakeApiServer } from "#scripts/sim/fake-apiserver.ts";
import { Bridge } from "#shared/bridge/bridge.ts";
import { KubeClusterSource } from "#shared/bridge/kube-source.ts";
import { SqsBatchTransport } from "#shared/bridge/sqs-transport.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import { kubeConfigFor } from "#test/support/bridge-harness.ts";
import { drain, eventually } from "#test/support/pipeline-checks.ts";
import { eventsFor, opArbitrary, seededCluster } from "#test/support/random-trace.ts";
import { canonicalPorts, endpointKeyOf, expectedEndpoints } from "#test/support/reference-model.ts";

const CONTEXT = { ingestTimeoutSeconds: 3, ingestBatchWindowSeconds: 1, ingestBatchSize: 50 };
const SETTLE_MS = 60_000;
let outdir: string;
let runner: LocalRunner;
let fake: FakeApiServer;
let sim: ClusterSimulator;

function apply(events: readonly SimEvent[]): void {
  for (const event of events) fake.apply(event);
}

/** Random operations of the trace generator, applied to the simulator and the fake apiserver. */
function churn(seed: number, operations: number): void {
  const [ops] = fc.sample(fc.array(opArbitrary, { minLength: operations, maxLength: operations }), {
    seed,
    numRuns: 1,
  });
  apply(eventsFor(sim, ops ?? []));
}

/** A kube-system namespace with a DNS Service and pod (the priority queue's traffic). */
function kubeSystem(): SimEvent[] {
  return [
    sim.addNamespace("kube-system"),
    sim.upsertService({
      namespace: "kube-system",
      name: "kube-dns",
      selector: { "k8s-app": "kube-dns" },
      ports: [{ name: "dns", port: 53, targetPort: 53, protocol: "UDP" }],
    }),
    sim.createPod("kube-system", "coredns-0", { "k8s-app": "kube-dns" }, "n0"),
    sim.startPod("kube-system", "coredns-0"),
    sim.setPodReady("kube-system", "coredns-0", true),
  ];
}

/** A namespace the gap deletes whole: its pod and Service first, then itself (as Kubernetes does). */
function namespaceWithPod(namespace: string, node = "n1"): SimEvent[] {
  return [
    sim.addNamespace(namespace),
    sim.upsertService({ namespace, name: "svc-a", selector: { app: "web" }, ports: [{ port: 80 }] }),
    sim.createPod(namespace, "g0", { app: "web" }, node),
    sim.startPod(namespace, "g0"),
    sim.setPodReady(namespace, "g0", true),
  ];
}

function deleteNamespace(namespace: string): SimEvent[] {
  const events = [sim.deletePod(namespace, "g0"), sim.deleteService(namespace, "svc-a")];
  // The simulator has no namespace deletion: a last change gives the deletion its resourceVersion.
  const last = sim.relabelNamespace(namespace, { gone: "yes" });
  sim.namespaces.delete(namespace);
  return [...events, { type: "DELETED", object: last.object }];
}

/** A node, a pod on it and a Service of its own (whose endpoint carries the node's zone until the node goes). */
function nodeWithPod(): SimEvent[] {
  return [
    sim.addNode("n9", "zone-9"),
    sim.upsertService({ namespace: "alpha", name: "on-n9", selector: { node: "n9" }, ports: [{ port: 80 }] }),
    sim.createPod("alpha", "on-n9", { node: "n9" }, "n9"),
    sim.startPod("alpha", "on-n9"),
    sim.setPodReady("alpha", "on-n9", true),
  ];
}

function deleteNode(name: string): SimEvent {
  const last = sim.heartbeatNode(name);
  sim.nodes.delete(name);
  return { type: "DELETED", object: last.object };
}

async function slicesOf(namespace: string): Promise<EndpointSlice[]> {
  const response = await fetch(
    `${runner.config.api}/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
  );
  return ((await response.json()) as { items: EndpointSlice[] }).items;
}

/** DELETED events of those pods and Services that still exist. */
function deletions(pods: Array<[string, string]>, services: Array<[string, string]>): SimEvent[] {
  return [
    ...pods
      .filter(([ns, name]) => sim.pods.has(`${ns}/${name}`))
      .map(([ns, name]) => sim.deletePod(ns, name)),
    ...services
      .filter(([ns, name]) => sim.services.has(`${ns}/${name}`))
      .map(([ns, name]) => sim.deleteService(ns, name)),
  ];
}

function startBridge(): Bridge {
  return new Bridge({
    source: new KubeClusterSource(kubeConfigFor(fake.url)),
    transport: new SqsBatchTransport(runner.sqs, {
      ingest: runner.config.sqs.ingestQueueUrl,
      priority: runner.config.sqs.priorityIngestQueueUrl,
    }),
    priorityNamespaces: ["kube-system"],
    maxBodyBytes: 8 * 1024,
  });
}

async function allSlices(): Promise<EndpointSlice[]> {
  const slices: EndpointSlice[] = [];
  let token = "";
  do {
    const url = `${runner.config.api}/apis/discovery.k8s.io/v1/endpointslices?limit=200${token === "" ? "" : `&continue=${encodeURIComponent(token)}`}`;
    const response = await fetch(url);
    assert.equal(response.status, 200, url);
    const list = (await response.json()) as { items: EndpointSlice[]; metadata: { continue?: string } };
    slices.push(...list.items);
    token = list.metadata.continue ?? "";
  } while (token !== "");
  return slices;
}

/** The API serves exactly what the reference model computes from the fake cluster's objects. */
async function assertServesCluster(bridge: Bridge): Promise<void> {
  await eventually(SETTLE_MS, async () => {
    assert.equal(bridge.pending, 0, "the bridge has sent everything");
    await runner.whenIdle({ timeoutMs: SETTLE_MS });
    const published = (await allSlices()).flatMap((slice) =>
      slice.endpoints.flatMap((endpoint) =>
        endpoint.addresses.map((address) =>
          endpointKeyOf({
            service: `${slice.metadata.namespace}/${slice.metadata.labels["kubernetes.io/service-name"]}`,
            addressType: slice.addressType,
            ports: canonicalPorts(slice.ports),
            pod: endpoint.targetRef.name,
            address,
            ...endpoint.conditions,
            zone: endpoint.zone,
          }),
        ),
      ),
    );
    assert.equal(new Set(published).size, published.length, "an endpoint appears in two slices");
    assert.deepEqual(new Set(published), expectedEndpoints(sim));
  });
}

before(async () => {
  outdir = mkdtempSync(join(tmpdir(), "sliceline-bridge-"));
  runner = await startLocalRunner({ context: CONTEXT, outdir, logLevel: "SILENT", maxPollersPerQueue: 4 });
  fake = new FakeApiServer();
  await fake.start();
});
after(async () => {
  await fake?.stop();
  await runner?.stop();
  if (outdir !== undefined) rmSync(outdir, { recursive: true, force: true });
});

describe("bridge", { concurrency: false }, () => {
  it("lists then watches, and puts contract events on SQS with kind, apiVersion and sourceTimeMs; kube-system on the priority queue", async () => {
    const probe = await runner.sqs.send(new CreateQueueCommand({ QueueName: "bridge-probe" }));
    const priorityProbe = await runner.sqs.send(
      new CreateQueueCommand({ QueueName: "bridge-probe-priority" }),
    );
    const probeFake = new FakeApiServer();
    await probeFake.start();
    const probeSim = seededCluster();
    sim = probeSim.sim;
    for (const event of [...probeSim.events, ...kubeSystem()]) probeFake.apply(event);
    const startedAt = Date.now();
    const bridge = new Bridge({
      source: new KubeClusterSource(kubeConfigFor(probeFake.url)),
      transport: new SqsBatchTransport(runner.sqs, {
        ingest: probe.QueueUrl as string,
        priority: priorityProbe.QueueUrl as string,
      }),
      priorityNamespaces: ["kube-system"],
    });
    try {
      await bridge.start();
      // A change after the list arrives over the watch.
      probeFake.apply(sim.setPodReady("alpha", "p0", false));
      probeFake.bookmark();
      await eventually(10_000, async () => {
        assert.ok(bridge.metrics.counters.eventsSeen >= 19 && bridge.pending === 0);
      });
      assert.deepEqual(await bridge.stop(5000), { drained: true, left: 0 });
    } finally {
      await probeFake.stop();
    }
    assert.equal(probeFake.requests.get("list Pod"), 1);
    assert.ok((probeFake.requests.get("watch Pod") ?? 0) >= 1);
    assert.ok(bridge.metrics.counters.bookmarks >= 1);

    const check = async (queueUrl: string) => {
      const messages = await drain(runner.sqs, queueUrl);
      const events = messages.flatMap((message) => {
        const sourceTimeMs = Number(message.attributes.sourceTimeMs);
        assert.ok(sourceTimeMs >= startedAt && sourceTimeMs <= Date.now(), `sourceTimeMs ${sourceTimeMs}`);
        const parsed = parseMessageBody(message.body);
        assert.deepEqual(parsed.rejected, []);
        const raw = (JSON.parse(message.body) as { events: Array<{ object?: { apiVersion?: string } }> })
          .events;
        for (const event of raw) if (event.object !== undefined) assert.equal(event.object.apiVersion, "v1");
        return parsed.accepted.map(({ event }) => event);
      });
      return events;
    };
    const ingest = await check(probe.QueueUrl as string);
    const priority = await check(priorityProbe.QueueUrl as string);
    const namespaceOf = (event: (typeof ingest)[number]) =>
      event.type === "SYNC"
        ? event.namespace
        : event.object.kind === "Namespace"
          ? event.object.metadata.name
          : "namespace" in event.object.metadata
            ? event.object.metadata.namespace
            : undefined;
    assert.ok(priority.length >= 4 && priority.every((event) => namespaceOf(event) === "kube-system"));
    assert.ok(ingest.every((event) => namespaceOf(event) !== "kube-system"));
    const kinds = new Set(
      ingest.map((event) => (event.type === "SYNC" ? `SYNC ${event.kind}` : event.object.kind)),
    );
    assert.deepEqual([...kinds].sort(), [
      "Namespace",
      "Node",
      "Pod",
      "SYNC Namespace",
      "SYNC Node",
      "SYNC Pod",
      "SYNC Service",
      "Service",
    ]);
    const watched = ingest.find(
      (event) =>
        event.type === "MODIFIED" && event.object.kind === "Pod" && event.object.metadata.name === "p0",
    );
    assert.ok(watched !== undefined, "the change made after the list came over the watch");
  });

  it("feeds the pipeline the cluster's state, and after a 410 Gone its resync deletes what went during the gap", async () => {
    const seeded = seededCluster();
    sim = seeded.sim;
    apply([...seeded.events, ...kubeSystem(), ...namespaceWithPod("gamma"), ...nodeWithPod()]);
    const bridge = startBridge();
    await bridge.start();
    try {
      churn(1, 40);
      await assertServesCluster(bridge);
      const zoneOfPodOnN9 = async () =>
        (await slicesOf("alpha"))
          .flatMap((slice) => slice.endpoints)
          .find((endpoint) => endpoint.targetRef.name === "on-n9")?.zone;
      assert.equal(await zoneOfPodOnN9(), "zone-9");

      // The gap: watches dropped and refused; pods, Services and a namespace deleted; history compacted.
      fake.refuseWatches(true);
      const relistsBefore = bridge.metrics.counters.relists;
      const goneBefore = fake.requests.get("gone Pod") ?? 0;
      apply([...deleteNamespace("gamma"), deleteNode("n9")]);
      apply(
        deletions(
          [
            ["alpha", "p0"],
            ["beta", "p1"],
          ],
          [["alpha", "svc-a"]],
        ),
      );
      churn(2, 40);
      fake.compact();
      fake.refuseWatches(false);

      await assertServesCluster(bridge);
      assert.ok((fake.requests.get("gone Pod") ?? 0) > goneBefore, "the watch got 410 Gone");
      assert.ok(bridge.metrics.counters.relists >= relistsBefore + 4, "every kind was listed again");
      assert.deepEqual(await slicesOf("gamma"), []);
      // The node went (the Node resync found it through the store's known names): no zone any more.
      assert.equal(await zoneOfPodOnN9(), undefined);

      // Watching resumes normally after the resync.
      churn(3, 20);
      await assertServesCluster(bridge);
    } finally {
      await bridge.stop(5000);
    }
  });

  it("loses nothing across a restart: the new bridge's list and resync catch up with changes and deletions made while it was away", async () => {
    const bridge = startBridge();
    await bridge.start();
    apply(namespaceWithPod("delta", "n0"));
    churn(4, 20);
    await assertServesCluster(bridge);
    assert.equal((await slicesOf("delta")).length, 1);
    assert.deepEqual(await bridge.stop(10_000), { drained: true, left: 0 });

    // While no bridge runs: deletions, changes, and a whole namespace the next bridge never sees.
    apply(deleteNamespace("delta"));
    apply(
      deletions(
        [
          ["alpha", "p2"],
          ["kube-system", "coredns-0"],
        ],
        [],
      ),
    );
    churn(5, 40);
    fake.compact();

    const restarted = startBridge();
    await restarted.start();
    try {
      await assertServesCluster(restarted);
      assert.ok(restarted.metrics.counters.syncChunksSent > 0);
      assert.deepEqual(await slicesOf("delta"), [], "the Namespace resync deleted what it held");
    } finally {
      await restarted.stop(5000);
    }
  });
});
