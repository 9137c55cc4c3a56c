/**
 * Concurrency and crashes on DynamoDB Local:
 *  - concurrent ingest invocations (each its own SliceEngine and DynamoClusterStore, as separate
 *    Lambdas) over the same namespaces with conflicting updates end in the state one sequential
 *    run reaches (the acceptance), for scripted and random traces;
 *  - identity allocation under concurrent acquires never gives one label set two ids or two label
 *    sets one id, also when the range runs out and when garbage collection races an acquire;
 *  - a crash between the transactions of a large commit, followed by SQS redelivering the batch,
 *    ends in the correct state.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import {
  DynamoClusterStore,
  type DynamoClusterStoreOptions,
} from "#shared/adapters/dynamodb/cluster-store.ts";
import { documentClient } from "#shared/adapters/dynamodb/create-store.ts";
import type { CommitPoint } from "#shared/adapters/dynamodb/group-commit.ts";
import { labelsKey } from "#shared/adapters/dynamodb/items.ts";
import { GroupConflictError } from "#shared/core/cluster-store.ts";
import { IdentityExhaustedError } from "#shared/core/identity/identity-allocator.ts";
import { labelSetKey } from "#shared/core/identity/security-labels.ts";
import { ConditionalWriteError, MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice } from "#shared/core/model.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import { resolveSlicingSettings, type SlicingSettings } from "#shared/core/settings.ts";
import { type BatchReport, SliceEngine, type SourcedEvent } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import {
  checkStoreInvariants,
  type DynamoDbLocal,
  scanAll,
  startDynamoDbLocal,
  storedObjects,
} from "#test/support/dynamodb-local.ts";
import { interceptSend } from "#test/support/intercepted-send.ts";
import {
  deliver,
  deliveryArbitrary,
  eventsFor,
  historyArbitrary,
  seededCluster,
} from "#test/support/random-trace.ts";

const NOW = 1_700_000_000_000;
const RUNS = Number(process.env.SLICELINE_DYNAMODB_RUNS ?? 6);
let local: DynamoDbLocal;

before(async () => {
  local = await startDynamoDbLocal();
});
after(async () => {
  await local?.stop();
});

type Tables = Awaited<ReturnType<DynamoDbLocal["freshTables"]>>;

function sourced(events: readonly SimEvent[]): SourcedEvent[] {
  const parsed = parseMessageBody(JSON.stringify({ events }));
  assert.deepEqual(parsed.rejected, []);
  return parsed.events.map((event) => ({ event, sourceTimeMs: NOW - 1000 }));
}

function newStore(settings: SlicingSettings, tables: Tables, options: DynamoClusterStoreOptions = {}) {
  return new DynamoClusterStore(documentClient(local.client), tables, settings, {
    clock: () => NOW,
    ...options,
  });
}

/** One ingest function instance: its own store and engine, batches one after another. */
function invocation(settings: SlicingSettings, tables: Tables, options: DynamoClusterStoreOptions = {}) {
  const store = newStore(settings, tables, options);
  // Each invocation also reconciles its batch's groups concurrently, as the ingest function does.
  const engine = new SliceEngine({ settings, store, nowMs: () => NOW, groupConcurrency: 3 });
  let conflictRetries = 0;
  let redeliveries = 0;
  return {
    store,
    engine,
    stats: () => ({ conflictRetries, redeliveries }),
    /** Applies batches in order; a batch that fails on a lost race is redelivered, as SQS would. */
    async run(batches: readonly SimEvent[][]): Promise<void> {
      for (const batch of batches) {
        for (let attempt = 1; ; attempt++) {
          try {
            const report: BatchReport = await engine.applyBatch(sourced(batch));
            conflictRetries += report.conflictRetries;
            break;
          } catch (error) {
            const lostRace = error instanceof GroupConflictError || error instanceof ConditionalWriteError;
            if (!lostRace || attempt >= 30) throw error;
            redeliveries++;
          }
        }
      }
    },
  };
}

async function sequentialMemory(settings: SlicingSettings, batches: readonly SimEvent[][]) {
  const memory = new MemoryClusterStore(settings);
  const engine = new SliceEngine({ settings, store: memory, nowMs: () => NOW });
  for (const batch of batches) await engine.applyBatch(sourced(batch));
  const objects = {} as Record<OutputKind, Map<string, OutputObject>>;
  for (const kind of ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"] as const) {
    objects[kind] = new Map([...memory.objects(kind)].map(([key, stored]) => [key, stored.object]));
  }
  return objects;
}

/**
 * What a state publishes: endpoints per Service, CES entries with their identity's label set, the
 * label sets in use. Packing, names and identity numbers depend on the interleaving; these do not.
 */
function published(objects: Record<OutputKind, Map<string, OutputObject>>) {
  const labelsOf = new Map<number, string>();
  for (const object of objects.CiliumIdentity.values()) {
    labelsOf.set(Number(object.metadata.name), JSON.stringify((object as CiliumIdentity)["security-labels"]));
  }
  assert.equal(new Set(labelsOf.values()).size, labelsOf.size, "two identities for one label set");
  const endpoints: string[] = [];
  for (const object of objects.EndpointSlice.values()) {
    const slice = object as EndpointSlice;
    for (const endpoint of slice.endpoints) {
      endpoints.push(
        JSON.stringify([
          slice.metadata.namespace,
          serviceOf(slice),
          slice.addressType,
          slice.ports,
          endpoint,
        ]),
      );
    }
  }
  const ciliumEndpoints: string[] = [];
  const inUse = new Set<string>();
  for (const object of objects.CiliumEndpointSlice.values()) {
    const ces = object as CiliumEndpointSlice;
    for (const entry of ces.endpoints) {
      const labels = labelsOf.get(entry.id);
      assert.ok(
        labels !== undefined,
        `CES entry ${entry.name} refers to identity ${entry.id} without object`,
      );
      inUse.add(labels);
      ciliumEndpoints.push(JSON.stringify([ces.namespace, { ...entry, id: labels }]));
    }
  }
  return {
    endpoints: endpoints.sort(),
    ciliumEndpoints: ciliumEndpoints.sort(),
    identitiesInUse: [...inUse].sort(),
  };
}

async function assertSameAsSequential(
  tables: Tables,
  settings: SlicingSettings,
  allBatches: readonly SimEvent[][],
): Promise<void> {
  const got = await storedObjects(local.client, tables.slices);
  assert.deepEqual(published(got), published(await sequentialMemory(settings, allBatches)));
  for (const slice of got.EndpointSlice.values())
    assert.ok((slice as EndpointSlice).endpoints.length <= settings.maxEndpointsPerSlice);
  for (const ces of got.CiliumEndpointSlice.values())
    assert.ok((ces as CiliumEndpointSlice).endpoints.length <= settings.maxEndpointsPerCES);
  await checkStoreInvariants(local.client, tables);
}

function assertProperty<T>(result: fc.RunDetails<T>): void {
  if (!result.failed) return;
  const cause =
    result.errorInstance instanceof Error ? result.errorInstance : new Error(String(result.errorInstance));
  cause.message = `property failed (seed ${result.seed}, path ${result.counterexamplePath}): ${cause.message}`;
  throw cause;
}

/**
 * The Service a slice belongs to. Not all its labels: like the Kubernetes controller, the core
 * rewrites a slice for a change of the reserved labels (headless) only when it writes it anyway,
 * so they depend on how events were batched.
 */
function serviceOf(slice: EndpointSlice): string | undefined {
  return slice.metadata.labels["kubernetes.io/service-name"];
}

/** A namespace with one Service over `pods` ready pods on three nodes. */
function namespaceWithPods(sim: ClusterSimulator, namespace: string, pods: number): SimEvent[] {
  const events: SimEvent[] = [sim.addNamespace(namespace, { env: "dev" })];
  for (const node of ["n0", "n1", "n2"])
    if (!sim.nodes.has(node)) events.push(sim.addNode(node, `zone-${node}`));
  events.push(
    sim.upsertService({
      namespace,
      name: "web",
      selector: { app: "web" },
      ports: [{ name: "http", port: 80, targetPort: 8080 }],
    }),
  );
  for (let i = 0; i < pods; i++) {
    events.push(
      sim.createPod(namespace, `p${i}`, { app: "web", tier: `t${i % 3}` }, `n${i % 3}`),
      sim.startPod(namespace, `p${i}`),
      sim.setPodReady(namespace, `p${i}`, true),
    );
  }
  return events;
}

describe("concurrent ingest invocations", () => {
  it("two invocations with conflicting updates of one namespace end as one sequential run", async () => {
    const settings = resolveSlicingSettings({ maxEndpointsPerSlice: 7, maxEndpointsPerCES: 5 });
    let conflicts = 0;
    for (let round = 0; round < 8; round++) {
      const sim = new ClusterSimulator();
      const setup = namespaceWithPods(sim, "shop", 24);
      // A: readiness flaps and relabels; B: the namespace relabel, deletions, a Service change, and
      // some of A's pods touched again. Both write the same group, the same slices, the same pods.
      const a: SimEvent[] = [];
      const b: SimEvent[] = [];
      for (let i = 0; i < 24; i++) {
        if (i % 2 === 0) a.push(sim.setPodReady("shop", `p${i}`, false));
        if (i % 5 === round % 5) a.push(sim.relabelPod("shop", `p${i}`, { app: "web", tier: "moved" }));
      }
      b.push(sim.relabelNamespace("shop", { env: round % 2 === 0 ? "prod" : "test" }));
      for (let i = 0; i < 24; i += 4) b.push(sim.setPodReady("shop", `p${i}`, true));
      b.push(sim.deletePod("shop", "p1"), sim.terminatePod("shop", "p3"));
      b.push(
        sim.upsertService({
          namespace: "shop",
          name: "web",
          selector: { app: "web" },
          ports: [{ name: "http", port: 8080, targetPort: 8080 }],
        }),
      );
      const tables = await local.freshTables();
      await invocation(settings, tables).run([setup]);
      const first = invocation(settings, tables);
      const second = invocation(settings, tables);
      const split = (events: SimEvent[]) => [
        events.slice(0, events.length / 2),
        events.slice(events.length / 2),
      ];
      await Promise.all([first.run(split(a)), second.run(split(b))]);
      conflicts += first.stats().conflictRetries + second.stats().conflictRetries;
      conflicts += first.stats().redeliveries + second.stats().redeliveries;
      await assertSameAsSequential(tables, settings, [setup, a, b]);
    }
    assert.ok(conflicts > 0, "the invocations never raced: the test exercised nothing");
  });

  it("random traces split over concurrent invocations end as one sequential run", async () => {
    let conflicts = 0;
    const result = await fc.check(
      fc.asyncProperty(
        fc.record({
          maxEndpointsPerSlice: fc.integer({ min: 1, max: 4 }),
          maxEndpointsPerCES: fc.integer({ min: 1, max: 4 }),
          cesBatchingMode: fc.constantFrom("fcfs" as const, "identity" as const),
        }),
        fc.integer({ min: 2, max: 3 }),
        historyArbitrary(70).chain((ops) => {
          const { sim, events: setup } = seededCluster();
          const events = [...setup, ...eventsFor(sim, ops)];
          return deliveryArbitrary(events.length).chain((delivery) => {
            const batches = deliver(events, delivery);
            return fc
              .array(fc.nat({ max: 2 }), { minLength: batches.length, maxLength: batches.length })
              .map((owners) => ({ batches, owners }));
          });
        }),
        async (overrides, count, { batches, owners }) => {
          const settings = resolveSlicingSettings(overrides);
          const tables = await local.freshTables();
          const invocations = Array.from({ length: count }, () => invocation(settings, tables));
          const shares = invocations.map((_, i) => batches.filter((_, b) => (owners[b] ?? 0) % count === i));
          await Promise.all(invocations.map((inv, i) => inv.run(shares[i] ?? [])));
          for (const inv of invocations) conflicts += inv.stats().conflictRetries + inv.stats().redeliveries;
          await assertSameAsSequential(tables, settings, batches);
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
    assertProperty(result);
    assert.ok(conflicts > 0, "no run raced");
  });
});

/** A store that runs `afterZoneRead` once, right after the next zone read returns; it records commit errors. */
class InterleavingStore extends DynamoClusterStore {
  afterZoneRead: (() => Promise<void>) | undefined;
  readonly commitErrors: unknown[] = [];

  override async zonesOf(
    nodeNames: Iterable<string>,
    namespace: string,
  ): Promise<Map<string, string | undefined>> {
    const zones = await super.zonesOf(nodeNames, namespace);
    const hook = this.afterZoneRead;
    this.afterZoneRead = undefined;
    await hook?.();
    return zones;
  }

  override async commitGroup(...args: Parameters<DynamoClusterStore["commitGroup"]>): Promise<void> {
    try {
      await super.commitGroup(...args);
    } catch (error) {
      this.commitErrors.push(error);
      throw error;
    }
  }
}

describe("a Node commit between a group's zone read and its commit", () => {
  async function setup() {
    const settings = resolveSlicingSettings({ maxEndpointsPerSlice: 7, maxEndpointsPerCES: 5 });
    const tables = await local.freshTables();
    const sim = new ClusterSimulator();
    await invocation(settings, tables).run([namespaceWithPods(sim, "shop", 6)]);
    const store = new InterleavingStore(documentClient(local.client), tables, settings, { clock: () => NOW });
    const engine = new SliceEngine({ settings, store, nowMs: () => NOW });
    // Another ingest invocation commits a Node (its pods' groups are its own business, later).
    const other = newStore(settings, tables);
    const commitNodeElsewhere = async (change: (zone: string | undefined) => string | undefined) => {
      const current = await other.loadNode("n0");
      assert.ok(current?.record !== undefined);
      const record = { ...current.record, zone: change(current.record.zone), internalIPs: ["10.9.9.9"] };
      await other.commitNode("n0", { resourceVersion: "999999999", record }, current);
    };
    const endpointZoneOf = async (pod: string) => {
      const slices = (await storedObjects(local.client, tables.slices)).EndpointSlice.values();
      for (const slice of slices)
        for (const endpoint of (slice as EndpointSlice).endpoints)
          if (endpoint.targetRef.name === pod) return endpoint.zone;
      throw new Error(`no endpoint of ${pod}`);
    };
    return { sim, store, engine, commitNodeElsewhere, endpointZoneOf };
  }

  it("makes the group's commit conflict on the zone epoch, and its replay sees the new zone", async () => {
    const { sim, store, engine, commitNodeElsewhere, endpointZoneOf } = await setup();
    assert.equal(await endpointZoneOf("p0"), "zone-n0");
    store.afterZoneRead = () => commitNodeElsewhere(() => "zone-moved");
    // p0 runs on n0: the group reads n0's zone (before the move), then n0 moves, then it commits.
    const report = await engine.applyBatch(sourced([sim.setPodReady("shop", "p0", false)]));
    assert.equal(report.conflictRetries, 1, "the first commit must conflict");
    assert.equal(store.commitErrors.length, 1);
    assert.ok(store.commitErrors[0] instanceof GroupConflictError);
    assert.match(String((store.commitErrors[0] as Error).message), /zone epoch/);
    assert.equal(await endpointZoneOf("p0"), "zone-moved", "the replay read the zone the Node commit stored");
  });

  it("an address-only Node change in the same place costs the group nothing", async () => {
    const { sim, store, engine, commitNodeElsewhere, endpointZoneOf } = await setup();
    store.afterZoneRead = () => commitNodeElsewhere((zone) => zone);
    const report = await engine.applyBatch(sourced([sim.setPodReady("shop", "p0", false)]));
    assert.equal(report.conflictRetries, 0);
    assert.equal(store.commitErrors.length, 0);
    assert.equal(await endpointZoneOf("p0"), "zone-n0");
  });
});

describe("garbage collection during concurrent ingest", () => {
  it("never collects an identity a pod holds, and recreates label sets that come back", async () => {
    const settings = resolveSlicingSettings({ maxEndpointsPerCES: 3, identityGcGraceMs: 10_000 });
    let now = NOW;
    const clock = () => now;
    const sim = new ClusterSimulator();
    const setup = namespaceWithPods(sim, "gc", 10);
    const tables = await local.freshTables();
    const options = { clock };
    const make = () => {
      const store = newStore(settings, tables, options);
      return { store, engine: new SliceEngine({ settings, store, nowMs: clock }) };
    };
    const [a, b] = [make(), make()];
    const run = async (side: typeof a, events: SimEvent[]) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await side.engine.applyBatch(sourced(events));
        } catch (error) {
          if (
            !(error instanceof GroupConflictError || error instanceof ConditionalWriteError) ||
            attempt > 30
          )
            throw error;
        }
      }
    };
    await run(a, setup);
    const all: SimEvent[][] = [setup];
    let collected = 0;
    for (let round = 0; round < 6; round++) {
      const tiers = [`r${round % 3}`, `s${round % 2}`];
      const left = [0, 1, 2, 3, 4].map((i) =>
        sim.relabelPod("gc", `p${i}`, { app: "web", tier: tiers[0] as string }),
      );
      const right = [5, 6, 7, 8, 9].map((i) =>
        sim.relabelPod("gc", `p${i}`, { app: "web", tier: tiers[i % 2] as string }),
      );
      all.push(left, right);
      const reports = await Promise.all([run(a, left), run(b, right)]);
      for (const report of reports)
        collected += report.writes.filter((w) => w.op === "delete" && w.kind === "CiliumIdentity").length;
      now += 11_000; // past the grace: what these rounds left unheld is collected by the next
      await checkStoreInvariants(local.client, tables);
    }
    assert.ok(collected > 0, "nothing was collected");
    await assertSameAsSequential(tables, settings, all);
  });
});

describe("identity allocation under concurrency", () => {
  const settings = resolveSlicingSettings({ identityGcGraceMs: 1000 });
  const labels = (app: string) => ({ "k8s:app": app, "k8s:io.kubernetes.pod.namespace": "ns" });

  it("gives each label set one id and distinct label sets distinct ids, across stores", async () => {
    const tables = await local.freshTables();
    const stores = Array.from({ length: 6 }, () => newStore(settings, tables));
    const shared = ["a", "b", "c", "d", "e"];
    const results = await Promise.all(
      stores.flatMap((store, s) => [
        ...[...shared]
          .sort(() => (s % 2 === 0 ? 1 : -1))
          .map(async (app) => ({ app, ...(await store.identities.acquire(labels(app), NOW)) })),
        ...[0, 1, 2].map(async (i) => ({
          app: `own-${s}-${i}`,
          ...(await store.identities.acquire(labels(`own-${s}-${i}`), NOW)),
        })),
      ]),
    );
    const idOf = new Map<string, number>();
    for (const { app, id } of results) {
      assert.equal(idOf.get(app) ?? id, id, `label set ${app} got two ids`);
      idOf.set(app, id);
    }
    assert.equal(new Set(idOf.values()).size, idOf.size, "two label sets share an id");
    assert.equal(idOf.size, shared.length + stores.length * 3);
    for (const app of shared) {
      const creators = results.filter((r) => r.app === app && r.created !== undefined);
      assert.ok(creators.length >= 1, `nobody reported ${app} as created`);
    }
    await checkStoreInvariants(local.client, tables);
  });

  it("never exceeds its range under concurrent allocation", async () => {
    const tables = await local.freshTables();
    const stores = Array.from({ length: 5 }, () =>
      newStore(settings, tables, { minIdentity: 1000, maxIdentity: 1009 }),
    );
    const outcomes = await Promise.allSettled(
      stores.flatMap((store, s) =>
        [0, 1, 2, 3].map((i) => store.identities.acquire(labels(`x-${s}-${i}`), NOW)),
      ),
    );
    const ids = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value.id] : []));
    const failures = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason] : []));
    assert.equal(ids.length, 10);
    assert.deepEqual([...new Set(ids)].sort(), [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009]);
    assert.equal(failures.length, 10);
    for (const failure of failures) assert.ok(failure instanceof IdentityExhaustedError, String(failure));
    await checkStoreInvariants(local.client, tables);
  });

  it("garbage collection racing acquires of the same label sets never leaves a mapping to a deleted id", async () => {
    const tables = await local.freshTables();
    const [collector, acquirer, other] = [0, 1, 2].map(() => newStore(settings, tables));
    const apps = Array.from({ length: 12 }, (_, i) => `g${i}`);
    for (const app of apps) await other?.identities.acquire(labels(app), NOW);
    // All unheld since NOW; past the grace at NOW + 1000. Collection and re-acquisition race.
    const [collected, acquired] = await Promise.all([
      collector?.identities.collectGarbage(NOW + 1000),
      Promise.all(
        apps.map(async (app) => ({ app, ...(await acquirer?.identities.acquire(labels(app), NOW + 1000)) })),
      ),
    ]);
    assert.deepEqual(collected, [], "unpublished identities have no objects to return");
    const items = await scanAll(local.client, tables.identities);
    const ids = new Set(items.filter((i) => String(i.pk).startsWith("id#")).map((i) => Number(i.id)));
    for (const { app, id } of acquired) {
      assert.ok(id !== undefined && ids.has(id), `${app} was given identity ${id}, which no longer exists`);
      const mapping = items.find((i) => i.pk === labelsKey(labelSetKey(labels(app))).pk);
      assert.equal(mapping?.id, id);
    }
    await checkStoreInvariants(local.client, tables);
  });
});

describe("identity and zone reads across ingest batches", () => {
  it("reuses a published identity for a quarter of the grace without reading it, then reads it again", async () => {
    const settings = resolveSlicingSettings({ identityGcGraceMs: 40_000 });
    let now = NOW;
    const tables = await local.freshTables();
    const documents = documentClient(local.client);
    let identityReads = 0;
    let nodeReads = 0;
    const counting = interceptSend(documents, (command, send) => {
      if (command.constructor.name === "GetCommand" && command.input.TableName === tables.identities)
        identityReads++;
      if (command.constructor.name === "BatchGetCommand") nodeReads++;
      return send(command);
    });
    const store = new DynamoClusterStore(counting, tables, settings, { clock: () => now });
    const engine = new SliceEngine({ settings, store, nowMs: () => now });
    const sim = new ClusterSimulator();
    await engine.applyBatch(sourced(namespaceWithPods(sim, "warm", 6)));
    const morePods = (from: number) =>
      [0, 1, 2].flatMap((i) => [
        sim.createPod("warm", `q${from + i}`, { app: "web", tier: `t${i}` }, `n${i}`),
        sim.startPod("warm", `q${from + i}`),
      ]);

    // Created by that batch, they were unpublished when found: the next batch reads them.
    now += 1_000;
    identityReads = 0;
    await engine.applyBatch(sourced(morePods(0)));
    assert.ok(identityReads >= 3, `expected the new label sets to be read, saw ${identityReads} reads`);

    now += 1_000; // found published a second ago, well inside a quarter of the grace
    identityReads = 0;
    nodeReads = 0;
    await engine.applyBatch(sourced(morePods(10)));
    assert.equal(identityReads, 0, "published identities found a second ago were read again");
    assert.equal(nodeReads, 0, "the nodes' zones were read again though the zone epoch had not moved");

    now += 9_000; // a quarter of the grace (10 s) since they were found: read again
    await engine.applyBatch(sourced(morePods(20)));
    assert.ok(identityReads >= 3, `expected the label sets to be read again, saw ${identityReads} reads`);
    await checkStoreInvariants(local.client, tables);
  });
});

describe("a crash inside a multi-transaction commit", () => {
  const settings = resolveSlicingSettings({ maxEndpointsPerSlice: 30, maxEndpointsPerCES: 5 });
  const points: CommitPoint[] = ["intent-written", "claimed", "applied:0", "finishing"];

  for (const point of points) {
    it(`at ${point}, then redelivery of the batch, ends in the correct state`, async () => {
      const sim = new ClusterSimulator();
      const setup = namespaceWithPods(sim, "crash", 150);
      const flip = [sim.relabelNamespace("crash", { env: "prod" }), sim.setPodReady("crash", "p7", false)];
      for (let i = 0; i < 150; i += 10)
        flip.push(sim.relabelPod("crash", `p${i}`, { app: "web", tier: "x" }));
      const tables = await local.freshTables();
      await invocation(settings, tables).run([setup]);

      let armed = true;
      const crashing = invocation(settings, tables, {
        faults: (at, namespace) => {
          if (armed && at === point && namespace === "crash") {
            armed = false;
            throw new Error(`injected crash at ${at}`);
          }
        },
      });
      await assert.rejects(crashing.engine.applyBatch(sourced(flip)), /injected crash/);
      assert.equal(armed, false);
      const claimed = point !== "intent-written";
      if (claimed) {
        const meta = (await scanAll(local.client, tables.state)).find(
          (i) => i.pk === "group#crash" && i.sk === "#meta",
        );
        assert.ok(meta?.pending !== undefined, "the claimed commit is pending until someone finishes it");
      }

      // SQS redelivers the batch to another (fresh) instance.
      const redelivered = invocation(settings, tables);
      const report = await redelivered.engine.applyBatch(sourced(flip));
      if (claimed) {
        assert.equal(report.writes.length, 0, "the rolled-forward commit already holds the batch: all stale");
        assert.equal(report.stale, flip.length);
      }
      await assertSameAsSequential(tables, settings, [setup, flip]);
    });
  }

  it("a claimed commit is finished by the pending sweep, or by the next batch of its namespace", async () => {
    const sim = new ClusterSimulator();
    const setup = namespaceWithPods(sim, "crash", 120);
    const flip = [sim.relabelNamespace("crash", { env: "prod" })];
    const flipBack = [sim.relabelNamespace("crash", { env: "test" })];
    const later = [sim.setPodReady("crash", "p2", false), sim.deletePod("crash", "p5")];
    const tables = await local.freshTables();
    await invocation(settings, tables).run([setup]);
    const crashAt = (point: CommitPoint) =>
      invocation(settings, tables, {
        faults: (at) => {
          if (at === point) throw new Error(`injected crash at ${at}`);
        },
      });

    // Sweep (what identity garbage collection runs before deleting anything).
    await assert.rejects(crashAt("applied:0").engine.applyBatch(sourced(flip)), /injected crash/);
    assert.equal(await newStore(settings, tables).rollForwardPendingCommits(), 1);
    await checkStoreInvariants(local.client, tables);

    // The next batch of the namespace, on another instance, before the redelivery.
    await assert.rejects(crashAt("claimed").engine.applyBatch(sourced(flipBack)), /injected crash/);
    const other = invocation(settings, tables);
    await other.run([later]);
    const redelivery = await other.engine.applyBatch(sourced(flipBack));
    assert.equal(redelivery.writes.length, 0);
    await other.run([flip]);
    await assertSameAsSequential(tables, settings, [setup, flip, flipBack, later]);
  });
});
