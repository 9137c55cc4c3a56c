import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type CesBatchingMode,
  type CesWrites,
  NamespaceCiliumEndpointSlices,
} from "#shared/core/ciliumendpointslice/namespace-slices.ts";
import type { CiliumEndpointSlice, CoreCiliumEndpoint } from "#shared/core/model.ts";

const NAMESPACE = "shop";
const POD_COUNT = 25;

interface EntryShape {
  identity: number;
  ip: number;
  node: number;
  ports: boolean;
}

type Change = readonly [pod: number, shape: EntryShape | null];
type Step = { kind: "batch"; changes: Change[] } | { kind: "restart" };

function entryOf(pod: number, shape: EntryShape): CoreCiliumEndpoint {
  const entry: CoreCiliumEndpoint = {
    name: `p${pod}`,
    id: 300 + shape.identity,
    networking: { addressing: [{ ipv4: `10.0.${shape.ip}.${pod}` }], node: `192.168.0.${shape.node}` },
  };
  if (shape.ports) entry["named-ports"] = [{ name: "http", port: 8080, protocol: "TCP" }];
  return entry;
}

const shapeArb: fc.Arbitrary<EntryShape> = fc.record({
  identity: fc.nat(3),
  ip: fc.nat(2),
  node: fc.nat(1),
  ports: fc.boolean(),
});
const changeArb: fc.Arbitrary<Change> = fc.tuple(
  fc.nat(POD_COUNT - 1),
  fc.option(shapeArb, { freq: 4, nil: null }),
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant("batch" as const),
      changes: fc.array(changeArb, { minLength: 1, maxLength: 12 }),
    }),
  },
  // Single-pod batches get their own weight: they carry the "at most one write" promise.
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("batch" as const),
      changes: fc.array(changeArb, { minLength: 1, maxLength: 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "restart" as const }) },
);

/** Storage as a watcher would see it: the writes applied in order, with resourceVersions assigned. */
class FakeStore {
  readonly objects = new Map<string, CiliumEndpointSlice>();
  #revision = 0;

  apply(writes: CesWrites, slices: NamespaceCiliumEndpointSlices): void {
    for (const object of writes.deletes) {
      const current = this.objects.get(object.metadata.name);
      assert.ok(current, `delete of unknown slice ${object.metadata.name}`);
      assert.equal(
        object.metadata.resourceVersion,
        current.metadata.resourceVersion,
        "delete carries the stored version",
      );
      this.objects.delete(object.metadata.name);
    }
    for (const object of writes.creates) {
      assert.ok(!this.objects.has(object.metadata.name), `create of existing slice ${object.metadata.name}`);
      assert.equal(object.metadata.resourceVersion, undefined, "creates carry no resourceVersion");
      this.#store(object, slices);
    }
    for (const object of writes.updates) {
      const current = this.objects.get(object.metadata.name);
      assert.ok(current, `update of unknown slice ${object.metadata.name}`);
      assert.equal(
        object.metadata.resourceVersion,
        current.metadata.resourceVersion,
        "update keeps the stored version",
      );
      assert.notDeepEqual(object.endpoints, current.endpoints, "no-op update");
      this.#store(object, slices);
    }
  }

  #store(object: CiliumEndpointSlice, slices: NamespaceCiliumEndpointSlices): void {
    const resourceVersion = String(++this.#revision);
    this.objects.set(object.metadata.name, { ...object, metadata: { ...object.metadata, resourceVersion } });
    assert.equal(slices.setResourceVersion(object.metadata.name, resourceVersion), true);
  }
}

function checkPacking(
  slices: NamespaceCiliumEndpointSlices,
  reference: Map<string, CoreCiliumEndpoint>,
  store: FakeStore,
  max: number,
  mode: CesBatchingMode,
): void {
  const current = slices.slices();
  const seen = new Map<string, CoreCiliumEndpoint>();
  for (const slice of current) {
    assert.equal(slice.namespace, NAMESPACE);
    assert.ok(slice.endpoints.length > 0, `empty slice ${slice.metadata.name}`);
    assert.ok(slice.endpoints.length <= max, `slice ${slice.metadata.name} over ${max}`);
    if (mode === "identity")
      assert.equal(new Set(slice.endpoints.map((e) => e.id)).size, 1, "mixed identities");
    for (const endpoint of slice.endpoints) {
      assert.ok(!seen.has(endpoint.name), `pod ${endpoint.name} in two slices`);
      seen.set(endpoint.name, endpoint);
      assert.equal(slices.sliceNameOf(endpoint.name), slice.metadata.name);
    }
  }
  assert.deepEqual(
    new Map([...seen].sort()),
    new Map([...reference].sort()),
    "entries differ from the reference",
  );
  assert.equal(slices.podCount, reference.size);
  const stored = new Map([...store.objects].sort());
  assert.deepEqual(
    new Map(current.map((s) => [s.metadata.name, s] as const).sort()),
    stored,
    "store diverged",
  );
}

/**
 * fcfs placement, seen from the writes alone: a newcomer joins a slice the batch writes anyway
 * before any other, the fullest slice with room next, and a new slice last.
 */
function checkFcfsPlacement(
  writes: CesWrites,
  before: Map<string, CiliumEndpointSlice>,
  after: CiliumEndpointSlice[],
  max: number,
): void {
  const createdNames = new Set(writes.creates.map((s) => s.metadata.name));
  if (createdNames.size > 0) {
    for (const slice of after) {
      if (!createdNames.has(slice.metadata.name))
        assert.equal(slice.endpoints.length, max, "created while a slice had room");
    }
    assert.ok(writes.creates.filter((s) => s.endpoints.length < max).length <= 1, "two new slices with room");
  }
  const arrivalOnly = writes.updates.filter((slice) => {
    const old = new Map((before.get(slice.metadata.name)?.endpoints ?? []).map((e) => [e.name, e] as const));
    const now = new Map(slice.endpoints.map((e) => [e.name, e] as const));
    const lostOrChanged = [...old].some(
      ([name, e]) => !now.has(name) || JSON.stringify(now.get(name)) !== JSON.stringify(e),
    );
    return !lostOrChanged && now.size > old.size;
  });
  if (arrivalOnly.length === 0) return;
  assert.equal(writes.deletes.length, 0, "deleted a slice a newcomer could have used");
  const notFull = [...writes.updates, ...writes.creates].filter((s) => s.endpoints.length < max);
  assert.ok(notFull.length <= 1, "newcomers spread over slices with room");
  const open = notFull[0];
  if (open !== undefined) {
    assert.ok(
      arrivalOnly.includes(open) || createdNames.has(open.metadata.name),
      "a slice written for other reasons kept room",
    );
  }
}

describe("NamespaceCiliumEndpointSlices against a reference map", () => {
  for (const mode of ["fcfs", "identity"] as const) {
    it(`${mode}: exact contents, bounded slices, no empty or no-op writes, minimal writes`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 7 }),
          fc.array(stepArb, { minLength: 1, maxLength: 40, size: "max" }),
          (max, steps) => {
            const settings = { maxEndpointsPerCES: max, batchingMode: mode };
            let slices = new NamespaceCiliumEndpointSlices(NAMESPACE, settings);
            const reference = new Map<string, CoreCiliumEndpoint>();
            const store = new FakeStore();
            for (const step of steps) {
              if (step.kind === "restart") {
                slices = new NamespaceCiliumEndpointSlices(NAMESPACE, settings, store.objects.values());
                assert.deepEqual(
                  slices.reconcile([]),
                  { creates: [], updates: [], deletes: [] },
                  "restart writes",
                );
                continue;
              }
              const batch = step.changes.map(([pod, shape]) => {
                const entry = shape === null ? undefined : entryOf(pod, shape);
                return [`p${pod}`, entry] as const;
              });
              for (const [name, entry] of batch) {
                if (entry === undefined) reference.delete(name);
                else reference.set(name, entry);
              }
              const before = new Map(store.objects);
              const writes = slices.reconcile(batch);
              const writeCount = writes.creates.length + writes.updates.length + writes.deletes.length;
              const distinctPods = new Set(batch.map(([name]) => name)).size;
              const perPod = mode === "fcfs" ? 1 : 2;
              assert.ok(
                writeCount <= perPod * distinctPods,
                `${writeCount} writes for ${distinctPods} pod changes`,
              );
              store.apply(writes, slices);
              checkPacking(slices, reference, store, max, mode);
              if (mode === "fcfs") checkFcfsPlacement(writes, before, slices.slices(), max);
            }
          },
        ),
        { numRuns: 250 },
      );
    });
  }
});
