/**
 * The DynamoDB store against the in-memory store it must behave like, on DynamoDB Local: the same
 * event traces through SliceEngine end in the same stored objects (exactly: same slices, same
 * entries, same identity ids), including commits too large for one transaction, garbage
 * collection and tombstone sweeping, and the node and identity calls on their own.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import fc from "fast-check";
import { ClusterSimulator, type SimEvent } from "#scripts/sim/cluster-simulator.ts";
import {
  DynamoClusterStore,
  type DynamoClusterStoreOptions,
} from "#shared/adapters/dynamodb/cluster-store.ts";
import { documentClient } from "#shared/adapters/dynamodb/create-store.ts";
import { ZONE_EPOCH_ATTRIBUTE, ZONE_EPOCH_KEY } from "#shared/adapters/dynamodb/items.ts";
import { IdentityExhaustedError } from "#shared/core/identity/identity-allocator.ts";
import { ConditionalWriteError, MemoryClusterStore } from "#shared/core/memory-store.ts";
import type { CiliumEndpointSlice, CiliumIdentity, EndpointSlice, NodeRecord } from "#shared/core/model.ts";
import type { OutputKind, OutputObject } from "#shared/core/output-changes.ts";
import { resolveSlicingSettings, type SlicingSettings } from "#shared/core/settings.ts";
import { SliceEngine } from "#shared/core/slice-engine.ts";
import { parseMessageBody } from "#shared/k8s/parse-message.ts";
import {
  checkStoreInvariants,
  type DynamoDbLocal,
  scanAll,
  startDynamoDbLocal,
  storedObjects,
} from "#test/support/dynamodb-local.ts";
import { interceptSend } from "#test/support/intercepted-send.ts";
import { deliveredBatchesArbitrary } from "#test/support/random-trace.ts";

const NOW = 1_700_000_000_000;
/** Property runs; SLICELINE_DYNAMODB_RUNS=100 for a longer hunt. */
const RUNS = Number(process.env.SLICELINE_DYNAMODB_RUNS ?? 8);
/**
 * Random seeds, as for any property; SLICELINE_DYNAMODB_SEED=<number> replays one. Seed
 * -253477684 found the CiliumEndpointSlice packer choosing among equally full slices in an
 * in-memory order (now the first by name); since then 3 x 400 runs held. The EndpointSlice
 * planner's choices among equally suitable slices are by name too (endpointslice/slice-order.ts;
 * found in memory with reloads in shuffled order: test/property/cold-reload-order.test.ts).
 */
const SEED_SETTING = process.env.SLICELINE_DYNAMODB_SEED ?? "random";
const SEED = SEED_SETTING === "random" ? {} : { seed: Number(SEED_SETTING) };
let local: DynamoDbLocal;

before(async () => {
  local = await startDynamoDbLocal();
});
after(async () => {
  await local?.stop();
});

type Tables = Awaited<ReturnType<DynamoDbLocal["freshTables"]>>;

function sourced(events: readonly SimEvent[], sourceTimeMs = NOW - 1000) {
  const parsed = parseMessageBody(JSON.stringify({ events }));
  assert.deepEqual(parsed.rejected, []);
  return parsed.events.map((event) => ({ event, sourceTimeMs }));
}

async function dynamoStore(
  settings: SlicingSettings,
  options: DynamoClusterStoreOptions = {},
): Promise<{ store: DynamoClusterStore; tables: Tables }> {
  const tables = await local.freshTables();
  const store = new DynamoClusterStore(documentClient(local.client), tables, settings, {
    clock: () => NOW,
    ...options,
  });
  return { store, tables };
}

function memoryObjects(store: MemoryClusterStore): Record<OutputKind, Map<string, OutputObject>> {
  const out = {} as Record<OutputKind, Map<string, OutputObject>>;
  for (const kind of ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"] as const) {
    out[kind] = new Map([...store.objects(kind)].map(([key, stored]) => [key, stored.object]));
  }
  return out;
}

/** Runs the batches through an engine on each store, with one clock for both. */
async function runBoth(
  settings: SlicingSettings,
  batches: readonly SimEvent[][],
  options: DynamoClusterStoreOptions & { clock?: () => number } = {},
): Promise<{ memory: MemoryClusterStore; dynamo: DynamoClusterStore; tables: Tables }> {
  const clock = options.clock ?? (() => NOW);
  const memory = new MemoryClusterStore(settings);
  const { store: dynamo, tables } = await dynamoStore(settings, { ...options, clock });
  const memoryEngine = new SliceEngine({ settings, store: memory, nowMs: clock });
  const dynamoEngine = new SliceEngine({ settings, store: dynamo, nowMs: clock });
  for (const batch of batches) {
    const events = sourced(batch);
    const expected = await memoryEngine.applyBatch(events);
    const got = await dynamoEngine.applyBatch(events);
    assert.equal(got.conflictRetries, 0);
    assert.equal(got.writes.length, expected.writes.length, "same number of object writes per batch");
  }
  return { memory, dynamo, tables };
}

/**
 * exact: the same objects, names, ids and resourceVersions included (a warm store keeps the live
 * groups, like the memory store). Otherwise the published content is compared: a group restored
 * from storage iterates its pods in key order rather than in arrival order, so identities may be
 * numbered and endpoints packed differently. Memberships and label sets may not differ.
 */
async function assertSameObjects(memory: MemoryClusterStore, tables: Tables, exact = true): Promise<void> {
  const got = await storedObjects(local.client, tables.slices);
  const want = memoryObjects(memory);
  if (exact) {
    for (const kind of ["EndpointSlice", "CiliumEndpointSlice", "CiliumIdentity"] as const) {
      assert.deepEqual(sortedByKey(got[kind]), sortedByKey(want[kind]), `${kind} objects differ`);
    }
    return;
  }
  assert.deepEqual(published(got), published(want));
}

function sortedByKey(objects: Map<string, OutputObject>): Map<string, OutputObject> {
  return new Map([...objects].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** What the objects publish, independent of packing, names and identity numbering. */
function published(objects: Record<OutputKind, Map<string, OutputObject>>) {
  const labelsOf = new Map<number, string>();
  for (const object of objects.CiliumIdentity.values()) {
    labelsOf.set(Number(object.metadata.name), JSON.stringify((object as CiliumIdentity)["security-labels"]));
  }
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
  for (const object of objects.CiliumEndpointSlice.values()) {
    const ces = object as CiliumEndpointSlice;
    for (const entry of ces.endpoints) {
      ciliumEndpoints.push(JSON.stringify([ces.namespace, { ...entry, id: labelsOf.get(entry.id) }]));
    }
  }
  return {
    endpoints: endpoints.sort(),
    ciliumEndpoints: ciliumEndpoints.sort(),
    identities: [...labelsOf.values()].sort(),
  };
}

/** A failed property without the whole trace in the output: its seed and path reproduce it. */
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

/** A namespace with one Service over `pods` ready pods, on three nodes. */
function bigNamespace(sim: ClusterSimulator, namespace: string, pods: number): SimEvent[] {
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
    const name = `p${i}`;
    events.push(
      sim.createPod(namespace, name, { app: "web", tier: `t${i % 3}` }, `n${i % 3}`),
      sim.startPod(namespace, name),
      sim.setPodReady(namespace, name, true),
    );
  }
  return events;
}

describe("DynamoClusterStore against MemoryClusterStore", () => {
  it("random traces (duplicates, reordering, batching) end in the same stored objects", async () => {
    const result = await fc.check(
      fc.asyncProperty(
        fc.record({
          maxEndpointsPerSlice: fc.integer({ min: 1, max: 4 }),
          maxEndpointsPerCES: fc.integer({ min: 1, max: 4 }),
          placement: fc.constantFrom("kubernetes" as const, "sliceline" as const),
          cesBatchingMode: fc.constantFrom("fcfs" as const, "identity" as const),
        }),
        fc.boolean(),
        deliveredBatchesArbitrary(80),
        async (overrides, warm, batches) => {
          const settings = resolveSlicingSettings(overrides);
          const { memory, tables } = await runBoth(settings, batches, { warmCacheGroups: warm ? 64 : 0 });
          await assertSameObjects(memory, tables, warm);
          await checkStoreInvariants(local.client, tables);
        },
      ),
      { numRuns: RUNS, endOnFailure: true, ...SEED },
    );
    assertProperty(result);
  });

  it("a namespace label flip over 300 pods commits in several transactions, with the same result", async () => {
    const settings = resolveSlicingSettings({ maxEndpointsPerSlice: 40, maxEndpointsPerCES: 8 });
    const sim = new ClusterSimulator();
    const setup = bigNamespace(sim, "big", 300);
    const flip = [sim.relabelNamespace("big", { env: "prod" })];
    const { memory, dynamo, tables } = await runBoth(settings, [setup, flip]);
    assert.ok(
      dynamo.multiTransactionCommits >= 2,
      `multi-transaction commits: ${dynamo.multiTransactionCommits}`,
    );
    await assertSameObjects(memory, tables);
    await checkStoreInvariants(local.client, tables);
    // The flip moved every pod to a new identity and left the old ones unheld, not deleted.
    const identities = await scanAll(local.client, tables.identities);
    const unheld = identities.filter(
      (item) => String(item.pk).startsWith("id#") && item.gcCandidate === "yes",
    );
    assert.equal(unheld.length, 3);
  });

  it("collects unused identities after the grace period and sweeps tombstones after retention", async () => {
    const settings = resolveSlicingSettings({
      maxEndpointsPerSlice: 2,
      maxEndpointsPerCES: 2,
      identityGcGraceMs: 60_000,
      tombstoneRetentionMs: 120_000,
    });
    let now = NOW;
    const clock = () => now;
    const sim = new ClusterSimulator();
    const memory = new MemoryClusterStore(settings);
    const { store: dynamo, tables } = await dynamoStore(settings, { clock });
    const engines = [memory, dynamo].map((store) => new SliceEngine({ settings, store, nowMs: clock }));
    const step = async (events: SimEvent[], advanceMs: number) => {
      now += advanceMs;
      const reports = [];
      for (const engine of engines) reports.push(await engine.applyBatch(sourced(events, now)));
      assert.deepEqual(
        reports[1]?.writes.map((w) => [w.kind, w.op, w.object.metadata.name]),
        reports[0]?.writes.map((w) => [w.kind, w.op, w.object.metadata.name]),
      );
      return reports[1];
    };
    await step(bigNamespace(sim, "gc", 6), 0);
    await step([sim.relabelPod("gc", "p0", { app: "web", tier: "solo" })], 1000);
    await step([sim.deletePod("gc", "p1"), sim.deletePod("gc", "p4")], 1000);
    // Within the grace period: nothing collected; the relabel's old identity is still held by p3.
    const early = await step([sim.heartbeatNode("n0")], 30_000);
    assert.equal(early?.writes.length, 0);
    // Past the grace: tier t1 (p1, p4 deleted) and tier "solo" (p0 deleted) are collected.
    await step([sim.deletePod("gc", "p0")], 1000);
    const collected = await step([sim.heartbeatNode("n1")], 61_000);
    assert.deepEqual(
      collected?.writes.map((w) => [w.kind, w.op]),
      [
        ["CiliumIdentity", "delete"],
        ["CiliumIdentity", "delete"],
      ],
    );
    await assertSameObjects(memory, tables);
    await checkStoreInvariants(local.client, tables);
    // Tombstones: swept by the next commit of the group once past retention.
    const tombstones = async () =>
      (await scanAll(local.client, tables.state)).filter(
        (item) => String(item.sk).startsWith("pod#") && item.record === undefined,
      );
    assert.equal((await tombstones()).length, 3);
    for (const item of await tombstones()) {
      assert.equal(item.expiresAt, Math.ceil((Number(item.deletedAtMs) + 120_000) / 1000));
    }
    await step([sim.setPodReady("gc", "p2", false)], 200_000);
    assert.equal((await tombstones()).length, 0);
    await assertSameObjects(memory, tables);
    await checkStoreInvariants(local.client, tables);
  });
});

describe("DynamoClusterStore nodes", () => {
  it("commits nodes on their resourceVersion, finds zones in batches and pods by node", async () => {
    const settings = resolveSlicingSettings();
    const { store } = await dynamoStore(settings);
    const names = Array.from({ length: 230 }, (_, i) => `node-${i}`);
    await Promise.all(
      names.map((name, i) =>
        store.commitNode(
          name,
          {
            resourceVersion: "1",
            record: { name, zone: i % 7 === 0 ? undefined : `z${i % 3}`, internalIPs: [] },
          },
          undefined,
        ),
      ),
    );
    const first = await store.loadNode("node-1");
    assert.deepEqual(first, {
      resourceVersion: "1",
      record: { name: "node-1", zone: "z1", internalIPs: [] },
    });
    await assert.rejects(
      store.commitNode("node-1", { resourceVersion: "2", record: undefined, deletedAtMs: NOW }, undefined),
      ConditionalWriteError,
    );
    await store.commitNode("node-1", { resourceVersion: "2", record: undefined, deletedAtMs: NOW }, first);
    await assert.rejects(
      store.commitNode("node-1", { resourceVersion: "3", record: undefined, deletedAtMs: NOW }, first),
      ConditionalWriteError,
    );
    // A second invocation storing the version already stored (or an older one) finds its write stale.
    await store.commitNode("node-1", { resourceVersion: "2", record: undefined, deletedAtMs: NOW }, first);
    const zones = await store.zonesOf([...names, "missing"], "test");
    assert.equal(zones.size, 229, "deleted and unknown nodes are absent");
    assert.equal(zones.get("node-2"), "z2");
    assert.ok(
      zones.has("node-7") && zones.get("node-7") === undefined,
      "a node without zone maps to undefined",
    );

    const sim = new ClusterSimulator();
    const engine = new SliceEngine({ settings, store, nowMs: () => NOW });
    await engine.applyBatch(sourced(bigNamespace(sim, "spread", 9)));
    await engine.applyBatch(sourced([sim.deletePod("spread", "p3")]));
    assert.deepEqual((await store.podsOnNode("n0")).sort(), ["spread/p0", "spread/p6"]);
  });
});

describe("the zone epoch", () => {
  it("moves with every Node commit that changes a zone read, and with no other", async () => {
    const settings = resolveSlicingSettings();
    const { store, tables } = await dynamoStore(settings);
    const client = documentClient(local.client);
    const epoch = async () =>
      Number(
        (
          await client.send(
            new GetCommand({ TableName: tables.state, Key: ZONE_EPOCH_KEY, ConsistentRead: true }),
          )
        ).Item?.[ZONE_EPOCH_ATTRIBUTE] ?? 0,
      );
    let rv = 0;
    const commit = async (record: NodeRecord | undefined) => {
      const current = await store.loadNode("n1");
      rv++;
      await store.commitNode(
        "n1",
        record === undefined
          ? { resourceVersion: String(rv), record, deletedAtMs: NOW }
          : { resourceVersion: String(rv), record },
        current,
      );
      return epoch();
    };
    assert.equal(await epoch(), 0);
    assert.equal(await commit({ name: "n1", zone: "z1", internalIPs: [] }), 1, "created");
    assert.equal(await commit({ name: "n1", zone: "z1", internalIPs: [] }), 1, "a heartbeat");
    assert.equal(await commit({ name: "n1", zone: "z1", internalIPs: ["10.0.0.1"] }), 1, "addresses");
    assert.equal(await commit({ name: "n1", zone: "z2", internalIPs: ["10.0.0.1"] }), 2, "moved");
    assert.equal(await commit({ name: "n1", zone: undefined, internalIPs: [] }), 3, "zone label removed");
    assert.equal(await commit(undefined), 4, "deleted");
    assert.equal(await commit(undefined), 4, "deleted again (a resync)");
    // A lost race on a zone-changing commit is the same ConditionalWriteError as a plain put's.
    const stale = await store.loadNode("n1");
    await store.commitNode(
      "n1",
      { resourceVersion: "100", record: { name: "n1", zone: "z3", internalIPs: [] } },
      stale,
    );
    await assert.rejects(
      store.commitNode(
        "n1",
        { resourceVersion: "101", record: { name: "n1", zone: "z4", internalIPs: [] } },
        stale,
      ),
      ConditionalWriteError,
    );
    assert.equal(await epoch(), 5, "the lost commit bumped nothing");
  });
});

describe("DynamoIdentityStore", () => {
  it("allocates within its range, reuses ids by label set, is exhausted when full, frees by GC", async () => {
    const settings = resolveSlicingSettings({ identityGcGraceMs: 1000 });
    const { store, tables } = await dynamoStore(settings, { minIdentity: 300, maxIdentity: 302 });
    const identities = store.identities;
    const labels = (app: string) => ({ "k8s:app": app, "k8s:io.kubernetes.pod.namespace": "x" });
    const a = await identities.acquire(labels("a"), NOW);
    const b = await identities.acquire(labels("b"), NOW);
    const c = await identities.acquire(labels("c"), NOW);
    assert.deepEqual([a.id, b.id, c.id], [300, 301, 302]);
    assert.equal(a.created?.metadata.name, "300");
    assert.deepEqual(a.created?.["security-labels"], labels("a"));
    assert.equal((await identities.acquire(labels("a"), NOW)).id, 300);
    await assert.rejects(identities.acquire(labels("d"), NOW), IdentityExhaustedError);
    // Never committed by a group, so unheld since they were created: collected after the grace.
    assert.deepEqual(await identities.collectGarbage(NOW + 500), []);
    // "a" was acquired again at NOW, "b" and "c" too: all three go after NOW + grace.
    assert.deepEqual(await identities.collectGarbage(NOW + 1000), []);
    const d = await identities.acquire(labels("d"), NOW + 1000);
    assert.equal(d.id, 300, "the cursor wrapped around to the freed id");
    const again = await identities.acquire(labels("a"), NOW + 1000);
    assert.equal(again.id, 301, "a collected label set gets a new id");
    assert.ok(again.created !== undefined);
    await checkStoreInvariants(local.client, tables);
  });
});

describe("DynamoClusterStore retries", () => {
  it("retries unprocessed batch keys and transactions cancelled by conflicts or throttling", async () => {
    const settings = resolveSlicingSettings();
    const tables = await local.freshTables();
    const real = documentClient(local.client);
    let unprocessed = 0;
    let cancelled = 0;
    // DynamoDB Local never throttles and serializes transactions: inject what AWS does under load.
    const flaky = interceptSend(real, async (command, send) => {
      const name = command.constructor.name;
      if (name === "TransactWriteCommand" && cancelled < 3) {
        cancelled++;
        const items = (command.input.TransactItems as unknown[]).length;
        throw Object.assign(new Error("Transaction cancelled"), {
          name: "TransactionCanceledException",
          CancellationReasons: Array.from({ length: items }, (_, i) => ({
            Code: i === 0 ? (cancelled % 2 === 0 ? "ThrottlingError" : "TransactionConflict") : "None",
          })),
        });
      }
      const output = await send(command);
      if (name === "BatchGetCommand" && unprocessed < 2) {
        // Hand back half of the keys as unprocessed, their results withheld.
        const input = command.input.RequestItems as Record<string, { Keys: Array<Record<string, unknown>> }>;
        const table = Object.keys(input)[0] as string;
        const keys = input[table]?.Keys ?? [];
        const held = new Set(keys.slice(0, Math.ceil(keys.length / 2)).map((k) => JSON.stringify(k)));
        if (held.size > 0) {
          unprocessed++;
          const out = output as { Responses?: Record<string, Array<Record<string, unknown>>> };
          const responses = out.Responses?.[table] ?? [];
          return {
            ...out,
            Responses: {
              [table]: responses.filter((r) => !held.has(JSON.stringify({ pk: r.pk, sk: "#node" }))),
            },
            UnprocessedKeys: {
              [table]: { ...input[table], Keys: keys.filter((k) => held.has(JSON.stringify(k))) },
            },
          };
        }
      }
      return output;
    });
    const store = new DynamoClusterStore(flaky, tables, settings, {
      clock: () => NOW,
      retry: { attempts: 5, baseDelayMs: 1, maxDelayMs: 5 },
    });
    const sim = new ClusterSimulator();
    const engine = new SliceEngine({ settings, store, nowMs: () => NOW });
    const report = await engine.applyBatch(sourced(bigNamespace(sim, "flaky", 12)));
    assert.equal(cancelled, 3);
    assert.ok(unprocessed >= 1);
    const memory = new MemoryClusterStore(settings);
    const expected = await new SliceEngine({ settings, store: memory, nowMs: () => NOW }).applyBatch(
      sourced(bigNamespace(new ClusterSimulator(), "flaky", 12)),
    );
    assert.equal(report.writes.length, expected.writes.length);
    await assertSameObjects(memory, tables);
    const zones = await store.zonesOf(["n0", "n1", "n2"], "test");
    assert.deepEqual([...zones.values()].sort(), ["zone-n0", "zone-n1", "zone-n2"]);
  });
});
