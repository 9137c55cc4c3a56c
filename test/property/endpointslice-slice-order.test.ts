/**
 * A Service's EndpointSlices must be placed the same whatever order they are held in. A long-lived
 * ServiceSlices holds them in the order it created and rewrote them; one rebuilt from storage (a
 * cold Lambda) holds them in the order storage listed them. Here the same stored slices (damaged
 * ones too: an endpoint in two slices, over the maximum) are handed to two ServiceSlices in two
 * orders, then every round of pod changes is reconciled by a long-lived one and by one rebuilt
 * from its slices in a shuffled order: both must write exactly the same.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { absorbUnchangedSlices, mergeWrittenSlices } from "#shared/core/endpointslice/compaction.ts";
import { desiredEndpointsForPod } from "#shared/core/endpointslice/desired-endpoints.ts";
import { Draft } from "#shared/core/endpointslice/draft.ts";
import { endpointKey } from "#shared/core/endpointslice/endpoint-identity.ts";
import { type GroupPlan, planGroup } from "#shared/core/endpointslice/plan.ts";
import {
  type ChangedPod,
  ServiceSlices,
  type SliceChanges,
} from "#shared/core/endpointslice/service-slices.ts";
import type { EndpointSlicePlacement } from "#shared/core/endpointslice/settings.ts";
import {
  type StoredSlice,
  serviceOwnerReference,
  sliceLabelsFor,
  storedSliceFrom,
} from "#shared/core/endpointslice/stored-slice.ts";
import type { Endpoint, EndpointSlice, PodRecord } from "#shared/core/model.ts";
import { SliceNameCounter } from "#shared/core/slice-name-counter.ts";
import { noZones, podRecord, serviceRecord } from "#test/support/endpointslice-fixtures.ts";
import { SeededRandom } from "#test/support/seeded-random.ts";

const POD_COUNT = 16;
/** A named target port, so pods resolving it to different numbers fall in different port groups. */
const ports = [
  { name: "http", port: 80, targetPort: "http", protocol: "TCP" as const, appProtocol: undefined },
];
const service = serviceRecord({ ports });
const earlierService = serviceRecord({ ports, uid: "svc-uid-0" });

function pod(index: number, ready = true, variant = 0): PodRecord {
  return podRecord({
    name: `p${index}`,
    podIPs: [`10.0.0.${index + 1}`],
    ready,
    namedPorts: [{ name: "http", port: 8080 + variant, protocol: "TCP" }],
  });
}

/**
 * A stored slice holding these pods (in the port group of `variant`), owned by the Service or by
 * an earlier one of its name.
 */
function storedSlice(
  name: string,
  pods: readonly number[],
  ownedByEarlier: boolean,
  variant: number,
): EndpointSlice {
  const owner = ownedByEarlier ? earlierService : service;
  const desired = pods.flatMap((i) => desiredEndpointsForPod(service, pod(i, true, variant), noZones));
  const endpoints = desired.map((d) => d.endpoint);
  const ports = desiredEndpointsForPod(service, pod(0, true, variant), noZones)[0]?.ports ?? [];
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name,
      namespace: service.namespace,
      labels: sliceLabelsFor(owner),
      resourceVersion: "1",
      ownerReferences: [serviceOwnerReference(owner)],
    },
    addressType: "IPv4",
    endpoints,
    ports: ports.map((p) => ({ ...p })),
  };
}

/** Endpoints of `count` pods in no slice yet, by key. */
function newEndpoints(count: number): Map<string, Endpoint> {
  const endpoints = new Map<string, Endpoint>();
  for (let i = 0; i < count; i++) {
    const endpoint = desiredEndpointsForPod(service, pod(100 + i), noZones)[0]?.endpoint;
    if (endpoint !== undefined) endpoints.set(endpointKey(endpoint), endpoint);
  }
  return endpoints;
}

/** A plan of the group's that writes `updates` and nothing else. */
function planOf(group: StoredSlice, updates: Draft[]): GroupPlan {
  return {
    addressType: group.addressType,
    portKey: group.portKey,
    updates,
    creates: [],
    deletes: [],
    toppedUp: undefined,
    ownerReferences: group.ownerReferences,
  };
}

function shuffled<T>(items: readonly T[], random: SeededRandom): T[] {
  return random.permutation(items.length).map((i) => items[i] as T);
}

/** The writes in order (a caller stamps resourceVersions in this order): each in full. */
function written(changes: SliceChanges): string[] {
  return [
    ...changes.creates.map((s) => `create ${JSON.stringify(s)}`),
    ...changes.updates.map((s) => `update ${JSON.stringify(s)}`),
    ...changes.deletes.map((s) => `delete ${JSON.stringify(s)}`),
  ];
}

/** The same in short, for a readable failure: op, name, port, pods. */
function writtenInShort(changes: SliceChanges): string[] {
  const short = (op: string, s: EndpointSlice) =>
    `${op} ${s.metadata.name} :${s.ports.map((p) => p.port).join(",")} [${s.endpoints.map((e) => e.targetRef.name).join(" ")}]`;
  return [
    ...changes.creates.map((s) => short("create", s)),
    ...changes.updates.map((s) => short("update", s)),
    ...changes.deletes.map((s) => short("delete", s)),
  ];
}

interface PodChange {
  readonly pod: number;
  readonly to: "ready" | "notReady" | "gone";
  /** Which port group the pod's endpoint belongs to. */
  readonly variant: number;
}

const storedArbitrary = fc.array(
  fc.record({
    number: fc.integer({ min: 1, max: 500 }),
    pods: fc.uniqueArray(fc.nat({ max: POD_COUNT - 1 }), { minLength: 0, maxLength: 6 }),
    ownedByEarlier: fc.boolean(),
    variant: fc.nat({ max: 1 }),
  }),
  { maxLength: 12 },
);

const roundsArbitrary = fc.array(
  fc.array(
    fc.record({
      pod: fc.nat({ max: POD_COUNT - 1 }),
      to: fc.constantFrom("ready" as const, "notReady" as const, "gone" as const),
      variant: fc.nat({ max: 1 }),
    }),
    // Up to a dozen changes: enough slices written at once for compaction's paid merges.
    { minLength: 1, maxLength: 12 },
  ),
  { minLength: 1, maxLength: 6 },
);

describe("EndpointSlice placement against the order slices are held in", () => {
  it("writes the same for the same slices in any order, long-lived or rebuilt", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom<EndpointSlicePlacement>("kubernetes", "sliceline"),
        storedArbitrary,
        roundsArbitrary,
        fc.integer(),
        (maxEndpointsPerSlice, placement, stored, rounds, seed) => {
          const settings = { maxEndpointsPerSlice, placement };
          const random = new SeededRandom(seed);
          const byName = new Map<string, EndpointSlice>();
          for (const s of stored) {
            const name = `web-${s.number.toString(36).padStart(5, "0")}`;
            byName.set(name, storedSlice(name, s.pods, s.ownedByEarlier, s.variant));
          }
          const existing = [...byName.values()];
          const counter = new SliceNameCounter();
          const longLived = new ServiceSlices(service.namespace, service.name, settings, existing, counter);

          let held: readonly EndpointSlice[] = existing;
          for (const [index, round] of rounds.entries()) {
            const reloaded = new ServiceSlices(
              service.namespace,
              service.name,
              settings,
              shuffled(held, random),
              new SliceNameCounter(counter.last),
            );
            const changed: ChangedPod[] = [];
            for (const change of round as PodChange[]) {
              const record =
                change.to === "gone" ? undefined : pod(change.pod, change.to === "ready", change.variant);
              changed.push([`${service.namespace}/p${change.pod}`, record]);
            }
            const expected = longLived.reconcile(service, changed, noZones);
            const got = reloaded.reconcile(service, changed, noZones);
            assert.deepEqual(writtenInShort(got), writtenInShort(expected), `round ${index}`);
            assert.deepEqual(written(got), written(expected), `round ${index}`);
            held = longLived.slices();
          }
        },
      ),
      {
        numRuns: Number(process.env.SLICELINE_SLICE_ORDER_RUNS ?? 500),
        ...(process.env.SLICELINE_SLICE_ORDER_SEED === undefined
          ? {}
          : { seed: Number(process.env.SLICELINE_SLICE_ORDER_SEED) }),
      },
    );
  });

  /**
   * Each choice among slices on its own, with many equally full slices listed in three orders
   * (for the functions that take a list of slices to write, that list in the same order): the
   * slice step 3 tops up (getSliceToFill), the slices step 2 fills, the slices a free merge
   * empties and the unchanged slices a paid merge empties.
   */
  it("tops up and absorbs the same slice whatever order the group lists its slices in", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 10 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer(),
        (max, unchangedSizes, writtenSizes, newPods, seed) => {
          let nextPod = 0;
          const slices: StoredSlice[] = [];
          const make = (size: number): StoredSlice => {
            const pods = Array.from({ length: Math.min(size, max) }, () => nextPod++);
            const slice = storedSliceFrom(
              storedSlice(`web-${String(slices.length).padStart(5, "0")}`, pods, false, 0),
            );
            slices.push(slice);
            return slice;
          };
          const unchanged = unchangedSizes.map(make);
          const rewritten = writtenSizes.filter((size) => size > 0).map(make);
          const random = new SeededRandom(seed);
          const orders = [slices, shuffled(slices, random), slices.toReversed()];
          const group = unchanged[0] as StoredSlice;

          // getSliceToFill: a remainder of new endpoints smaller than a slice, nothing else written.
          const remainder = Math.min(newPods, max - 1);
          const toppedUp = orders.map((groupSlices) => {
            const desired = newEndpoints(remainder);
            const plan = planGroup({
              maxEndpointsPerSlice: max,
              addressType: group.addressType,
              portKey: group.portKey,
              ports: group.ports,
              groupSlices,
              touched: [],
              leaving: new Set(),
              desired,
              homeless: [],
              changedKeysIn: () => [],
              needsRelabel: () => false,
              ownerReferences: group.ownerReferences,
            });
            return plan.toppedUp?.target?.name;
          });
          assert.deepEqual(toppedUp.slice(1), [toppedUp[0], toppedUp[0]], "slice topped up");

          // The rewritten slices lose an endpoint each (their first), in the order of the listing.
          const shrunk = (groupSlices: readonly StoredSlice[]): Draft[] =>
            groupSlices
              .filter((slice) => rewritten.includes(slice))
              .map((slice) => {
                const draft = Draft.rewriting(slice);
                draft.delete(slice.endpoints.keys().next().value as string);
                return draft;
              });
          const contents = (drafts: readonly Draft[]) =>
            drafts.map((d) => `${d.target?.name} ${[...d.entries()].map(([k]) => k).join(" ")}`);

          // Step 2: new endpoints go into the slices written anyway, fullest first.
          const filled = orders.map((groupSlices) => {
            const touched = groupSlices.filter((slice) => rewritten.includes(slice));
            const plan = planGroup({
              maxEndpointsPerSlice: max,
              addressType: group.addressType,
              portKey: group.portKey,
              ports: group.ports,
              groupSlices,
              touched,
              leaving: new Set(),
              desired: newEndpoints(newPods),
              homeless: [],
              changedKeysIn: (slice) => [slice.endpoints.keys().next().value as string],
              needsRelabel: () => false,
              ownerReferences: group.ownerReferences,
            });
            return contents(
              plan.updates.toSorted((a, b) => ((a.target?.name ?? "") < (b.target?.name ?? "") ? -1 : 1)),
            );
          });
          assert.deepEqual(filled.slice(1), [filled[0], filled[0]], "slices filled");

          // Free merges among the slices written anyway.
          const merged = orders.map((groupSlices) => {
            const plan = planOf(group, shrunk(groupSlices));
            mergeWrittenSlices(plan, max);
            return {
              deleted: plan.deletes.map((slice) => slice.name).sort(),
              written: contents(plan.updates).sort(),
            };
          });
          assert.deepEqual(merged.slice(1), [merged[0], merged[0]], "slices merged");

          // Paid merges: the room the rewritten slices leave takes in small unchanged ones.
          const absorbed = orders.map((groupSlices) => {
            const updates = shrunk(groupSlices);
            const plan = planOf(group, updates);
            absorbUnchangedSlices(plan, groupSlices, new Set(), max, 3);
            return {
              deleted: plan.deletes.map((slice) => slice.name),
              written: contents(plan.updates).sort(),
            };
          });
          assert.deepEqual(absorbed.slice(1), [absorbed[0], absorbed[0]], "slices absorbed");
        },
      ),
      { numRuns: Number(process.env.SLICELINE_SLICE_ORDER_RUNS ?? 500) },
    );
  });
});
