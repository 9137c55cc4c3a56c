/**
 * The bridge on a recorded cluster: the fake apiserver replays, byte for byte and in chunks split
 * anywhere, list and watch responses assembled from objects real clusters emitted
 * (test/fixtures/recorded-cluster/, provenance in its README), to the bridge's client-node
 * informers. What the real objects carry and the simulator's do not (managedFields, selfLink,
 * last-applied annotations, node images, container statuses, tolerations, dual-stack podIPs and
 * hostIPs, NodePort ports, `\u0026`-escaped strings) must not break anything and must not reach SQS;
 * a watch that ends, a resume answered by a 410 Expired ERROR event, and the re-list after it must
 * give the contract events ingest accepts: kinds and apiVersion filled, names, IPs, nodes,
 * readiness, deletion, sourceTimeMs, SYNC chunks at the lists' resourceVersions.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { FakeApiServer } from "#scripts/sim/fake-apiserver.ts";
import { Bridge } from "#shared/bridge/bridge.ts";
import { KubeClusterSource } from "#shared/bridge/kube-source.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import { kubeConfigFor, RecordingTransport } from "#test/support/bridge-harness.ts";
import {
  assembleRecording,
  CRASHLOOP_DELETION,
  RECORDED_STEPS,
  readWireFile,
  recordedResponses,
} from "#test/support/recorded-cluster.ts";

type Event = {
  type: string;
  object?: {
    kind: string;
    apiVersion: string;
    metadata: Record<string, unknown> & { name: string; resourceVersion: string; namespace?: string };
    spec?: Record<string, unknown>;
    status?: Record<string, unknown>;
  };
  kind?: string;
  namespace?: string;
  resourceVersion?: string;
  names?: string[];
};

interface Sent {
  readonly event: Event;
  readonly route: string;
  readonly sourceTimeMs: number;
  readonly body: string;
}

function sent(transport: RecordingTransport): Sent[] {
  return transport.batches.flatMap((batch) =>
    batch.bodies.flatMap((body) =>
      (JSON.parse(body.body) as { events: Event[] }).events.map((event) => ({
        event,
        route: batch.route,
        sourceTimeMs: body.sourceTimeMs,
        body: body.body,
      })),
    ),
  );
}

function changes(all: readonly Sent[], kind: string, name: string): Event[] {
  return all
    .map(({ event }) => event)
    .filter((event) => event.object?.kind === kind && event.object.metadata.name === name);
}

async function until(timeoutMs: number, what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What the bridge must send of foo (pulumi-kubernetes' kubespy recording), by resourceVersion. */
const FOO_STATES: Record<string, { spec: object; status: object }> = {
  "389616": { spec: { containers: [{}] }, status: { phase: "Pending" } },
  "389617": {
    spec: { nodeName: "docker-desktop", containers: [{}] },
    status: { phase: "Pending", conditions: [] },
  },
  "389619": {
    spec: { nodeName: "docker-desktop", containers: [{}] },
    status: { hostIP: "192.168.65.3", phase: "Pending", conditions: [{ type: "Ready", status: "False" }] },
  },
  "389626": {
    spec: { nodeName: "docker-desktop", containers: [{}] },
    status: {
      podIP: "10.1.3.217",
      hostIP: "192.168.65.3",
      phase: "Running",
      conditions: [{ type: "Ready", status: "True" }],
    },
  },
};

const CRASHLOOP_STATUS = {
  podIP: "192.168.194.100",
  podIPs: [{ ip: "192.168.194.100" }, { ip: "fd07:b51a:cc66:a::15c" }],
  hostIP: "198.19.249.2",
  phase: "Running",
  conditions: [{ type: "Ready", status: "False" }],
};

const fakes: FakeApiServer[] = [];
after(async () => {
  for (const fake of fakes) await fake.stop();
});

describe("the bridge on a recorded cluster", () => {
  it("the wire files are the recording's sources assembled (node test/support/recorded-cluster.ts --write)", () => {
    const assembled = assembleRecording();
    assert.deepEqual(
      [...assembled.keys()].sort(),
      [...new Set(RECORDED_STEPS.map((step) => step.file))].sort(),
      "every wire file is replayed",
    );
    for (const [file, contents] of assembled)
      assert.equal(Buffer.from(readWireFile(file)).toString("utf8"), contents, `${file} is stale`);
  });

  it("replays lists, watches, a 410 Expired and the re-list through client-node, and sends what ingest accepts", async () => {
    const fake = new FakeApiServer();
    fakes.push(fake);
    await fake.start();
    let openExpire = (): void => {};
    const expire = new Promise<void>((resolve) => {
      openExpire = resolve;
    });
    for (const { kind, verb, responses } of recordedResponses({ expire }).values())
      fake.replay(kind, verb, responses);

    const transport = new RecordingTransport();
    const startedAt = Date.now();
    const bridge = new Bridge({
      source: new KubeClusterSource(kubeConfigFor(fake.url)),
      transport,
      priorityNamespaces: ["kube-system"],
      retryBaseMs: 1,
    });
    await bridge.start();
    // foo's lifecycle, then (gate) the resume that gets 410 Gone, the re-list and crashloop.
    await until(20_000, "foo Ready and echo-dualstack sent", () => {
      const all = sent(transport);
      return (
        changes(all, "Pod", "foo").some((event) => event.object?.metadata.resourceVersion === "389626") &&
        changes(all, "Service", "echo-dualstack").length > 0
      );
    });
    openExpire();
    await until(20_000, "crashloop deleted", () =>
      changes(sent(transport), "Pod", "crashloop").some((event) => event.type === "DELETED"),
    );
    assert.deepEqual(await bridge.stop(5000), { drained: true, left: 0 });
    const finishedAt = Date.now();
    const all = sent(transport);

    // The recording was served whole, byte for byte, in many writes; and asked for as expected.
    const replayed = RECORDED_STEPS.map((step) => ({ step, length: readWireFile(step.file).length }));
    assert.deepEqual(
      fake.served.map((served) => `${served.verb} ${served.kind} ${served.bytes}`).sort(),
      replayed.map(({ step, length }) => `${step.verb} ${step.kind} ${length}`).sort(),
    );
    for (const served of fake.served)
      if (served.bytes > 100) assert.ok(served.writes > 2, "served in chunks");
    const podWatches = fake.served.filter((served) => served.kind === "Pod" && served.verb === "watch");
    assert.deepEqual(
      podWatches.map((served) => served.query.get("resourceVersion")),
      ["389615", "389626", "414329"],
      "watch from the list, resume from the last event, watch from the re-list",
    );
    for (const served of fake.served.filter((s) => s.verb === "watch"))
      assert.equal(served.query.get("allowWatchBookmarks"), "true");
    assert.equal(fake.requests.get("list Pod"), 2, "the 410 made the informer list again");
    for (const kind of ["Namespace", "Node"]) assert.ok((fake.requests.get(`watch ${kind}`) ?? 0) >= 1, kind);
    assert.ok(bridge.metrics.counters.bookmarks >= 2, "the recorded stream's bookmarks were seen");

    // Every body is what ingest accepts, stamped with the time the bridge saw its first event.
    for (const body of new Set(all.map((entry) => entry.body)))
      assert.deepEqual(parseMessageBody(body).rejected, []);
    for (const { sourceTimeMs } of all) assert.ok(sourceTimeMs >= startedAt && sourceTimeMs <= finishedAt);
    // Only what docs/contract.md §1 reads travels: none of what real clusters add.
    for (const body of new Set(all.map((entry) => entry.body)))
      for (const dropped of [
        "managedFields",
        "selfLink",
        "last-applied-configuration",
        "images",
        "nodeInfo",
        "containerStatuses",
        "tolerations",
        "volumes",
        "creationTimestamp",
      ])
        assert.ok(!body.includes(`"${dropped}`), `${dropped} sent to SQS`);
    for (const { event } of all.filter((entry) => entry.event.object !== undefined)) {
      assert.equal(event.object?.apiVersion, "v1", "apiVersion filled in (lists leave it empty)");
      assert.ok(["Namespace", "Node", "Service", "Pod"].includes(event.object?.kind ?? ""));
    }

    // Namespaces: kube-system, on the priority queue.
    const [kubeSystem] = changes(all, "Namespace", "kube-system");
    assert.deepEqual(kubeSystem, {
      type: "ADDED",
      object: {
        kind: "Namespace",
        apiVersion: "v1",
        metadata: { name: "kube-system", uid: "ed757b6f-2991-11e9-81cd-42010a80005b", resourceVersion: "36" },
      },
    });
    assert.equal(all.find((entry) => entry.event === kubeSystem)?.route, "priority");

    // Nodes: dual-stack InternalIPs and the hostname, nothing else of their status.
    for (const [name, last, resourceVersion] of [
      ["dual-stack-control-plane", "7", "804"],
      ["dual-stack-worker", "8", "870"],
      ["dual-stack-worker2", "9", "859"],
    ] as const) {
      const [node, ...more] = changes(all, "Node", name);
      assert.equal(more.length, 0);
      assert.equal(node?.type, "ADDED");
      assert.equal(node?.object?.metadata.resourceVersion, resourceVersion);
      assert.equal(
        (node?.object?.metadata.labels as Record<string, string> | undefined)?.["kubernetes.io/hostname"],
        name,
      );
      assert.deepEqual(node?.object?.status, {
        addresses: [
          { address: `172.18.0.${last}`, type: "InternalIP" },
          { address: `fc00:f853:ccd:e793::${last}`, type: "InternalIP" },
          { address: name, type: "Hostname" },
        ],
      });
    }

    // Services: the listed one, and the dual-stack NodePort one created over the watch.
    assert.deepEqual(
      changes(all, "Service", "kubernetes").map((event) => [event.type, event.object?.spec]),
      [
        [
          "ADDED",
          {
            ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: 6443 }],
            type: "ClusterIP",
            clusterIP: "10.96.0.1",
            ipFamilies: ["IPv4"],
          },
        ],
      ],
    );
    assert.deepEqual(
      changes(all, "Service", "echo-dualstack").map((event) => [event.type, event.object?.spec]),
      [
        [
          "ADDED",
          {
            selector: { name: "echo" },
            ports: [
              { name: "http", nodePort: 31701, port: 80, protocol: "TCP", targetPort: 80 },
              { name: "tftp", nodePort: 32731, port: 69, protocol: "UDP", targetPort: 69 },
            ],
            type: "NodePort",
            clusterIP: "10.96.125.19",
            ipFamilies: ["IPv4", "IPv6"],
          },
        ],
      ],
    );

    // foo's recorded lifecycle: scheduled, not ready, ready with its IP (the queue may coalesce
    // states that were not sent yet, never reorder them); then, after the 410 and the re-list,
    // foo created again with a new uid and unschedulable.
    const foo = changes(all, "Pod", "foo");
    const firstFoo = foo.filter(
      (event) => event.object?.metadata.uid === "6a799bf5-9705-11e9-a3c5-025000000001",
    );
    assert.equal(firstFoo.at(-1)?.object?.metadata.resourceVersion, "389626");
    const versions = firstFoo.map((event) => Number(event.object?.metadata.resourceVersion));
    assert.deepEqual(
      versions,
      [...versions].sort((a, b) => a - b),
    );
    for (const event of firstFoo) {
      const resourceVersion = event.object?.metadata.resourceVersion ?? "";
      assert.equal(event.type, resourceVersion === "389616" ? "ADDED" : "MODIFIED");
      assert.deepEqual(
        { spec: event.object?.spec, status: event.object?.status },
        FOO_STATES[resourceVersion],
        resourceVersion,
      );
      assert.deepEqual(event.object?.metadata.labels, { "app.kubernetes.io/managed-by": "pulumi" });
    }
    const fooAgain = foo.filter(
      (event) => event.object?.metadata.uid === "b52ea04f-9788-11e9-a3c5-025000000001",
    );
    assert.deepEqual(
      fooAgain.map((event) => [
        event.object?.metadata.resourceVersion,
        event.object?.spec,
        event.object?.status,
      ]),
      [["414329", { containers: [{}] }, { phase: "Pending", conditions: [] }]],
    );
    assert.equal(foo.indexOf(fooAgain[0] as Event) > foo.indexOf(firstFoo.at(-1) as Event), true);

    // crashloop: dual-stack pod IPs, not ready, then deleted (the DELETED keeps its last state).
    const crashloop = changes(all, "Pod", "crashloop");
    const deleted = crashloop.at(-1);
    assert.equal(deleted?.type, "DELETED");
    assert.equal(deleted?.object?.metadata.resourceVersion, CRASHLOOP_DELETION.resourceVersion);
    assert.equal(deleted?.object?.metadata.deletionTimestamp, CRASHLOOP_DELETION.deletionTimestamp);
    assert.deepEqual(deleted?.object?.spec, { nodeName: "orbstack", containers: [{}] });
    assert.deepEqual(deleted?.object?.status, CRASHLOOP_STATUS);
    for (const added of crashloop.slice(0, -1)) {
      assert.equal(added.type, "ADDED");
      assert.equal(added.object?.metadata.resourceVersion, "2433921");
      assert.deepEqual(added.object?.status, CRASHLOOP_STATUS);
    }

    // Ingest's engine applies all of it, body by body in send order, without a failure.
    const settings = resolveSlicingSettings({});
    const store = new MemoryClusterStore(settings);
    const engine = new SliceEngine({ settings, store });
    let applied = 0;
    for (const batch of transport.batches)
      for (const body of batch.bodies) {
        const report = await engine.applyBatch(
          parseMessageBody(body.body).accepted.map(({ event }) => ({
            event,
            sourceTimeMs: body.sourceTimeMs,
          })),
          { isolateFailures: true },
        );
        assert.deepEqual(report.failures, []);
        applied += report.applied;
      }
    assert.ok(applied > 0);
    assert.deepEqual((await store.loadNode("dual-stack-worker"))?.record, {
      name: "dual-stack-worker",
      zone: undefined,
      internalIPs: ["172.18.0.8", "fc00:f853:ccd:e793::8"],
    });

    // SYNC chunks at each list's resourceVersion, for every namespace known by then.
    const syncs = all.map(({ event }) => event).filter((event) => event.type === "SYNC");
    const sync = (kind: string, namespace: string | undefined, resourceVersion: string) =>
      syncs.find(
        (event) =>
          event.kind === kind && event.namespace === namespace && event.resourceVersion === resourceVersion,
      )?.names;
    assert.deepEqual(sync("Namespace", undefined, "36"), ["kube-system"]);
    assert.deepEqual(sync("Node", undefined, "870"), [
      "dual-stack-control-plane",
      "dual-stack-worker",
      "dual-stack-worker2",
    ]);
    assert.deepEqual(sync("Service", "default", "195"), ["kubernetes"]);
    assert.deepEqual(sync("Service", "kube-system", "195"), []);
    assert.deepEqual(sync("Pod", "kube-system", "389615"), []);
    assert.deepEqual(sync("Pod", "default", "414329"), ["foo"], "the re-list after 410 resyncs default");
    assert.deepEqual(sync("Pod", "kube-system", "414329"), []);
  });
});
