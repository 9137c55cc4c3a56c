import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import {
  type GroupBook,
  type GroupCommitPlan,
  planGroupCommit,
} from "#shared/adapters/dynamodb/group-commit-plan.ts";
import { objectFrom } from "#shared/adapters/dynamodb/items.ts";
import type { PlannedOp } from "#shared/adapters/dynamodb/transact.ts";
import { MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { EndpointSlice } from "#shared/core/model.ts";
import type { NamespaceGroup } from "#shared/core/namespace-group.ts";
import type { ObjectWrite } from "#shared/core/output-changes.ts";
import { resolveSlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";

const settings = resolveSlicingSettings({ maxEndpointsPerSlice: 10, maxEndpointsPerCES: 7 });
const NOW = 1_700_000_000_000;

/** The memory store, planning each group commit as the DynamoDB store would (books included). */
class PlanningStore extends MemoryClusterStore {
  readonly plans: GroupCommitPlan[] = [];
  readonly #books = new WeakMap<NamespaceGroup, GroupBook>();
  zoneEpoch: number | undefined;

  override async commitGroup(group: NamespaceGroup, writes: readonly ObjectWrite[]): Promise<void> {
    const plan = planGroupCommit({
      group,
      writes,
      book: this.#books.get(group),
      tombstoneRetentionMs: settings.tombstoneRetentionMs,
      nowMs: NOW,
      zoneEpoch: this.zoneEpoch,
    });
    await super.commitGroup(group, writes);
    group.markSaved();
    this.#books.set(group, plan.book);
    this.plans.push(plan);
  }
}

function harness() {
  const sim = new ClusterSimulator();
  const store = new PlanningStore(settings);
  const engine = new SliceEngine({ settings, store, nowMs: () => NOW });
  const apply = async (events: SimEvent[]) => {
    store.plans.length = 0;
    await engine.applyBatch(
      parseMessageBody(JSON.stringify({ events })).events.map((event) => ({ event, sourceTimeMs: NOW - 5 })),
    );
    return store.plans;
  };
  return { sim, store, apply };
}

const byLabel = (ops: readonly PlannedOp[], prefix: string) =>
  ops.filter((op) => op.label.startsWith(prefix));

function onlyPlan(plans: readonly GroupCommitPlan[]): GroupCommitPlan {
  assert.equal(plans.length, 1);
  return plans[0] as GroupCommitPlan;
}

const webService = {
  namespace: "shop",
  name: "web",
  selector: { app: "web" },
  ports: [{ name: "http", port: 80, targetPort: 8080 }],
};

async function shopWithTwoReadyPods() {
  const h = harness();
  const events: SimEvent[] = [
    h.sim.addNode("n1", "z1"),
    h.sim.addNamespace("shop"),
    h.sim.upsertService(webService),
  ];
  for (const pod of ["a", "b"])
    events.push(
      h.sim.createPod("shop", pod, { app: "web" }, "n1"),
      h.sim.startPod("shop", pod),
      h.sim.setPodReady("shop", pod, true),
    );
  const plan = onlyPlan(await h.apply(events));
  return { ...h, plan };
}

describe("planGroupCommit", () => {
  it("a first commit puts the pods, the Service and the namespace, counts identity holders and creates the slices", async () => {
    const { plan } = await shopWithTwoReadyPods();
    const { request } = plan;
    assert.equal(request.namespace, "shop");
    assert.equal(request.version, 0);
    assert.deepEqual(request.metaSet, ["#sliceNames = :sliceNames", "#namespace = :namespace"]);
    assert.deepEqual(request.metaValues[":sliceNames"], { endpointSlices: 1, ciliumEndpointSlices: 1 });

    const pods = byLabel(request.ops, "pod ");
    assert.deepEqual(pods.map((op) => [op.table, op.key.pk, op.key.sk, op.action.type]).sort(), [
      ["state", "group#shop", "pod#a", "put"],
      ["state", "group#shop", "pod#b", "put"],
    ]);
    const podItem = pods[0]?.action.type === "put" ? pods[0].action.item : {};
    assert.equal(podItem.groupVersion, 1, "records carry the version the commit creates");
    assert.equal(podItem.nodeName, "n1");
    assert.equal(typeof podItem.identity, "number");

    const [identity, ...otherIdentities] = byLabel(request.ops, "identity ");
    assert.equal(otherIdentities.length, 0);
    assert.equal(identity?.table, "identities");
    assert.equal(identity?.values?.[":count"], 2);
    assert.equal(identity?.values?.[":now"], NOW);
    assert.match(
      identity?.action.type === "update" ? identity.action.expression : "",
      /SET refs\.#ns = :count/,
    );

    const slice = request.ops.find((op) => op.table === "slices" && op.key.pk === "EndpointSlice#shop");
    assert.ok(slice !== undefined && slice.action.type === "put");
    assert.equal(slice.condition, "attribute_not_exists(pk)", "a create must find nothing stored");
    const stored = objectFrom<EndpointSlice>(slice.action.item);
    assert.equal(stored.endpoints.length, 2);
    assert.equal(stored.metadata.creationTimestamp, new Date(NOW - 5).toISOString());
    assert.deepEqual(
      plan.book.created.get(`slices|${slice.key.pk}|${slice.key.sk}`),
      stored.metadata.creationTimestamp,
    );
    assert.equal(
      new Set(request.ops.map((op) => `${op.table}|${op.key.pk}|${op.key.sk}`)).size,
      request.ops.length,
    );
  });

  it("a later commit deletes a removed pod, lowers the count and updates the slice on its stored version, keeping creationTimestamp", async () => {
    const { apply, sim, plan: first } = await shopWithTwoReadyPods();
    const created = [...first.book.created.values()][0];
    const { request } = onlyPlan(await apply([sim.deletePod("shop", "b")]));
    assert.equal(request.version, 1);
    assert.deepEqual(request.metaSet, ["#sliceNames = :sliceNames"], "the namespace did not change");
    const pods = byLabel(request.ops, "pod ");
    assert.equal(pods.length, 1);
    // A deleted pod stays as a tombstone (a put without a record) or goes (a delete); never both.
    const podOp = pods[0] as PlannedOp;
    assert.equal(podOp.key.sk, "pod#b");
    if (podOp.action.type === "put") assert.equal(podOp.action.item.record, undefined);
    const identity = byLabel(request.ops, "identity ")[0];
    assert.equal(identity?.values?.[":count"], 1);
    const slice = request.ops.find((op) => op.table === "slices");
    assert.ok(slice !== undefined && slice.action.type === "put");
    assert.equal(slice.condition, "#rv = :expected");
    assert.equal(slice.replayCondition, "#rv = :expected OR #rv = :new");
    const stored = objectFrom<EndpointSlice>(slice.action.item);
    assert.equal(stored.metadata.creationTimestamp, created);
    assert.equal(slice.values?.[":new"], stored.metadata.resourceVersion);
  });

  it("a namespace relabel writes every pod whose identity changed, though no pod record changed", async () => {
    const { apply, sim } = await shopWithTwoReadyPods();
    const { request } = onlyPlan(await apply([sim.relabelNamespace("shop", { team: "b" })]));
    assert.deepEqual(request.metaSet, ["#sliceNames = :sliceNames", "#namespace = :namespace"]);
    assert.deepEqual(
      byLabel(request.ops, "pod ")
        .map((op) => op.key.sk)
        .sort(),
      ["pod#a", "pod#b"],
    );
    const counts = byLabel(request.ops, "identity ").map((op) => op.values?.[":count"]);
    assert.deepEqual(counts.sort(), [0, 2], "the old identity loses both pods, the new one gets them");
  });

  it("checks the zone epoch read before the zones, once, whatever the nodes read (0: no epoch item yet)", async () => {
    const h = harness();
    h.store.zoneEpoch = 7;
    const { request } = onlyPlan(await h.apply([h.sim.addNamespace("shop")]));
    assert.deepEqual(
      request.checks?.map((op) => [
        op.key.pk,
        op.key.sk,
        op.action.type,
        op.condition,
        op.values?.[":epoch"],
      ]),
      [["zoneEpoch", "#epoch", "check", "#epoch = :epoch", 7]],
    );
    h.store.zoneEpoch = 0;
    const first = onlyPlan(await h.apply([h.sim.relabelNamespace("shop", { team: "a" })]));
    assert.deepEqual(
      first.request.checks?.map((op) => [op.condition, op.values]),
      [["attribute_not_exists(#epoch)", undefined]],
    );
    h.store.zoneEpoch = undefined;
    const none = onlyPlan(await h.apply([h.sim.relabelNamespace("shop", { team: "b" })]));
    assert.deepEqual(none.request.checks, [], "a reconcile that read no zone checks nothing");
  });

  it("two writes of one object in a commit become one op: the first's condition, the last's item", async () => {
    const h = harness();
    await h.apply([h.sim.addNamespace("shop")]);
    const group = await h.store.loadGroup("shop");
    const object = (rv: string) =>
      ({
        kind: "EndpointSlice",
        apiVersion: "discovery.k8s.io/v1",
        metadata: { name: "web-x", namespace: "shop", resourceVersion: rv, creationTimestamp: "t" },
        addressType: "IPv4",
        endpoints: [],
        ports: [],
      }) as unknown as EndpointSlice;
    const write = (rv: string, expected: string | undefined, op: ObjectWrite["op"]): ObjectWrite => ({
      kind: "EndpointSlice",
      op,
      object: object(rv),
      expectedResourceVersion: expected,
      bytes: 100,
      sourceTimeMs: NOW,
    });
    const { request } = planGroupCommit({
      group,
      writes: [write("10", undefined, "create"), write("11", "10", "update")],
      book: undefined,
      tombstoneRetentionMs: 1,
      nowMs: NOW,
      zoneEpoch: undefined,
    });
    const slices = request.ops.filter((op) => op.table === "slices");
    assert.equal(slices.length, 1);
    const merged = slices[0] as PlannedOp;
    assert.equal(merged.condition, "attribute_not_exists(pk)");
    assert.equal(merged.replayCondition, undefined);
    assert.equal(merged.action.type === "put" ? merged.action.item.resourceVersion : undefined, "11");
    assert.match(merged.label, /create .*, then update/);
  });
});
