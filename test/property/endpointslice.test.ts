/**
 * Random pod and Service histories, applied in random batches, against a from-scratch reference and
 * a simulated store that enforces conditional writes. Both placements, small maxima and 100.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  desiredEndpointsForPod,
  isManagedService,
  portSetKey,
  serviceAddressTypes,
} from "#shared/core/endpointslice/desired-endpoints.ts";
import { endpointKey, endpointsEqualBeyondKey } from "#shared/core/endpointslice/endpoint-identity.ts";
import {
  type ChangedPod,
  ServiceSlices,
  type SliceChanges,
} from "#shared/core/endpointslice/service-slices.ts";
import type { EndpointSlicePlacement } from "#shared/core/endpointslice/settings.ts";
import { mirroredLabelsDiffer, sliceLabelsFor } from "#shared/core/endpointslice/stored-slice.ts";
import type { AddressType, Endpoint, EndpointSlice, PodRecord, ServiceRecord } from "#shared/core/model.ts";
import {
  endpointLines,
  expectedEndpointLines,
  podRecord,
  serviceRecord,
  sliceViolations,
} from "#test/support/endpointslice-fixtures.ts";

const POD_COUNT = 24;
const zoneOf = (node: string) => ({ "node-0": "zone-a", "node-1": "zone-b" })[node];

type PodCommand = {
  kind: "pod";
  index: number;
  ips: "v4" | "v6" | "dual" | "none";
  variant: number;
  ready: boolean;
  terminating: boolean;
  phase: "Running" | "Pending" | "Succeeded" | "Failed";
  selected: boolean;
  node: number;
};
type DeleteCommand = { kind: "delete"; index: number };
type ServiceCommand = {
  kind: "service";
  selector: "app" | "none";
  namedPort: boolean;
  families: "v4" | "v6" | "dual" | "unset";
  clusterIP: "10.96.0.1" | "fd00::a" | "None" | "";
  publishNotReady: boolean;
  externalName: boolean;
  uid: number;
  tier: string;
};
type Command = PodCommand | DeleteCommand | ServiceCommand;
type Batch = { kind: "batch"; commands: Command[] } | { kind: "rebuild" };

const podCommand: fc.Arbitrary<Command> = fc.record({
  kind: fc.constant("pod" as const),
  index: fc.nat(POD_COUNT - 1),
  ips: fc.constantFrom("v4", "v6", "dual", "none"),
  variant: fc.nat(2),
  ready: fc.boolean(),
  terminating: fc.boolean(),
  phase: fc.constantFrom("Running", "Running", "Running", "Pending", "Succeeded", "Failed"),
  selected: fc.constantFrom(true, true, true, false),
  node: fc.nat(2),
});
const deleteCommand: fc.Arbitrary<Command> = fc.record({
  kind: fc.constant("delete" as const),
  index: fc.nat(POD_COUNT - 1),
});
const serviceCommand: fc.Arbitrary<Command> = fc.record({
  kind: fc.constant("service" as const),
  selector: fc.constantFrom("app", "app", "app", "none"),
  namedPort: fc.boolean(),
  families: fc.constantFrom("v4", "v6", "dual", "unset"),
  clusterIP: fc.constantFrom("10.96.0.1", "fd00::a", "None", ""),
  publishNotReady: fc.boolean(),
  externalName: fc.constantFrom(false, false, false, true),
  uid: fc.nat(1),
  tier: fc.constantFrom("", "front"),
});
const command = fc.oneof(
  { weight: 12, arbitrary: podCommand },
  { weight: 4, arbitrary: deleteCommand },
  { weight: 1, arbitrary: serviceCommand },
);
const batch: fc.Arbitrary<Batch> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant("batch" as const),
      commands: fc.array(command, { minLength: 1, maxLength: 8, size: "max" }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "rebuild" as const }) },
);
const settings = fc.record({
  maxEndpointsPerSlice: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constant(100)),
  placement: fc.constantFrom<EndpointSlicePlacement>("kubernetes", "sliceline"),
});

function podFrom(command: PodCommand): PodRecord {
  const n = command.index + 1;
  const v4 = `10.0.${command.variant}.${n}`;
  const v6 = `fd00::${command.variant}:${n}`;
  const podIPs = { v4: [v4], v6: [v6], dual: [v4, v6], none: [] }[command.ips];
  // Container ports cannot change during a pod's life: they follow from the name alone.
  const namedPorts =
    command.index % 3 === 2
      ? []
      : [{ name: "web", port: 8080 + (command.index % 3), protocol: "TCP" as const }];
  return podRecord({
    name: `pod-${command.index}`,
    uid: `uid-${command.index}-${command.variant}`,
    labels: command.selected ? { app: "web" } : { app: "other" },
    nodeName: `node-${command.node}`,
    podIPs,
    phase: command.phase,
    ready: command.ready,
    terminating: command.terminating,
    namedPorts,
  });
}

function serviceFrom(command: ServiceCommand): ServiceRecord {
  const families: Record<ServiceCommand["families"], AddressType[] | undefined> = {
    v4: ["IPv4"],
    v6: ["IPv6"],
    dual: ["IPv4", "IPv6"],
    unset: undefined,
  };
  return serviceRecord({
    uid: `svc-${command.uid}`,
    labels: command.tier === "" ? {} : { tier: command.tier },
    selector: command.selector === "app" ? { app: "web" } : undefined,
    ports: [
      {
        name: "http",
        port: 80,
        targetPort: command.namedPort ? "web" : 8080,
        protocol: "TCP",
        appProtocol: undefined,
      },
      { name: "admin", port: 81, targetPort: 9000, protocol: "TCP", appProtocol: "http" },
    ],
    type: command.externalName ? "ExternalName" : "ClusterIP",
    clusterIP: command.clusterIP === "" ? undefined : command.clusterIP,
    ipFamilies: families[command.families],
    publishNotReadyAddresses: command.publishNotReady,
  });
}

/** Storage with conditional writes: a create must be new, an update and a delete must match the version. */
class SimulatedStore {
  readonly objects = new Map<string, EndpointSlice>();
  #revision = 0;

  apply(changes: SliceChanges, slices: ServiceSlices): void {
    for (const created of changes.creates) {
      assert.equal(
        this.objects.has(created.metadata.name),
        false,
        `create of existing ${created.metadata.name}`,
      );
      assert.equal(created.metadata.resourceVersion, undefined);
      this.#write(created, slices);
    }
    for (const updated of changes.updates) {
      const stored = this.objects.get(updated.metadata.name);
      assert.ok(stored, `update of missing ${updated.metadata.name}`);
      assert.equal(updated.metadata.resourceVersion, stored.metadata.resourceVersion, "stale update");
      assert.notDeepEqual(
        { ...updated, metadata: { ...updated.metadata, resourceVersion: "" } },
        { ...stored, metadata: { ...stored.metadata, resourceVersion: "" } },
        `no-op update of ${updated.metadata.name}`,
      );
      this.#write(updated, slices);
    }
    for (const deleted of changes.deletes) {
      const stored = this.objects.get(deleted.metadata.name);
      assert.ok(stored, `delete of missing ${deleted.metadata.name}`);
      assert.equal(deleted.metadata.resourceVersion, stored.metadata.resourceVersion, "stale delete");
      this.objects.delete(deleted.metadata.name);
    }
  }

  #write(object: EndpointSlice, slices: ServiceSlices): void {
    const resourceVersion = String(++this.#revision);
    this.objects.set(
      object.metadata.name,
      structuredClone({ ...object, metadata: { ...object.metadata, resourceVersion } }),
    );
    slices.setResourceVersion(object.metadata.name, resourceVersion);
  }
}

function byName(slices: Iterable<EndpointSlice>): EndpointSlice[] {
  return [...slices].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

function writesPerAddressType(changes: SliceChanges): Map<AddressType, { updates: number; other: number }> {
  const counts = new Map<AddressType, { updates: number; other: number }>();
  const count = (slice: EndpointSlice, isUpdate: boolean) => {
    const entry = counts.get(slice.addressType) ?? { updates: 0, other: 0 };
    if (isUpdate) entry.updates++;
    else entry.other++;
    counts.set(slice.addressType, entry);
  };
  for (const s of changes.creates) count(s, false);
  for (const s of changes.updates) count(s, true);
  for (const s of changes.deletes) count(s, false);
  return counts;
}

/**
 * The controller's reconcile transcribed literally (k8s.io/endpointslice reconciler.go: Reconcile,
 * reconcileByAddressType, reconcileByPortMapping, getSliceToFill, finalize) over the full state:
 * every pod, every slice. Go map order is arbitrary, so what is compared is what does not depend
 * on it: how many creates, updates and deletes, and the slice sizes per (addressType, port set).
 */
function controllerOutcome(
  service: ServiceRecord,
  allPods: readonly PodRecord[],
  existing: readonly EndpointSlice[],
  max: number,
): { writes: number[]; sizes: string[] } {
  if (!isManagedService(service)) return { writes: [0, 0, existing.length], sizes: [] };
  const wantedLabels = sliceLabelsFor(service);
  const types = serviceAddressTypes(service);
  let creates = 0;
  let updates = 0;
  let deletes = existing.filter((s) => !types.includes(s.addressType)).length;
  const sizes: string[] = [];
  for (const type of types) {
    const owned = new Map<string, EndpointSlice[]>();
    let toDelete = 0;
    for (const slice of existing.filter((s) => s.addressType === type)) {
      if (!slice.metadata.ownerReferences?.some((o) => o.uid === service.uid)) {
        toDelete++;
        continue;
      }
      const key = portSetKey(slice.ports);
      owned.set(key, [...(owned.get(key) ?? []), slice]);
    }
    const desiredByPorts = new Map<string, Map<string, Endpoint>>();
    for (const pod of allPods) {
      for (const d of desiredEndpointsForPod(service, pod, zoneOf)) {
        if (d.addressType !== type) continue;
        const set = desiredByPorts.get(d.portKey) ?? new Map<string, Endpoint>();
        set.set(endpointKey(d.endpoint), d.endpoint);
        desiredByPorts.set(d.portKey, set);
      }
    }
    let typeCreates = 0;
    let reusable = 0;
    for (const [portKey, desired] of desiredByPorts) {
      const result = reconcileByPortMapping(owned.get(portKey) ?? [], desired, max, wantedLabels);
      typeCreates += result.creates.length;
      updates += result.updates;
      reusable += result.deletes;
      for (const size of result.sizes) sizes.push(`${type} ${portKey} ${size}`);
    }
    for (const [portKey, slices] of owned) if (!desiredByPorts.has(portKey)) reusable += slices.length;
    // finalize: each create takes over a slice that would be deleted.
    const reused = Math.min(typeCreates, reusable);
    creates += typeCreates - reused;
    updates += reused;
    deletes += reusable - reused + toDelete;
  }
  return { writes: [creates, updates, deletes], sizes: sizes.sort() };
}

function reconcileByPortMapping(
  existing: readonly EndpointSlice[],
  desired: Map<string, Endpoint>,
  max: number,
  wantedLabels: Record<string, string>,
): { creates: number[]; updates: number; deletes: number; sizes: number[] } {
  const unchanged: number[] = [];
  const toUpdate: number[] = [];
  let deletes = 0;
  for (const slice of existing) {
    const kept: Endpoint[] = [];
    let updated = false;
    for (const endpoint of slice.endpoints) {
      const got = desired.get(endpointKey(endpoint));
      if (got === undefined) continue;
      kept.push(got);
      if (!endpointsEqualBeyondKey(got, endpoint)) updated = true;
      desired.delete(endpointKey(endpoint));
    }
    if (updated || kept.length !== slice.endpoints.length) {
      if (kept.length === 0) deletes++;
      else toUpdate.push(kept.length);
    } else if (mirroredLabelsDiffer(slice.metadata.labels, wantedLabels)) toUpdate.push(kept.length);
    else unchanged.push(kept.length);
  }
  let left = desired.size;
  toUpdate.sort((a, b) => b - a);
  for (let i = 0; i < toUpdate.length && left > 0; i++) {
    const take = Math.min(left, max - (toUpdate[i] as number));
    toUpdate[i] = (toUpdate[i] as number) + take;
    left -= take;
  }
  const creates: number[] = [];
  while (left > 0) {
    let fillAt = -1;
    if (left < max) {
      let closest = max;
      unchanged.forEach((size, at) => {
        const diff = max - (left + size);
        if (diff >= 0 && diff < closest) {
          closest = diff;
          fillAt = at;
        }
      });
    }
    if (fillAt >= 0) {
      toUpdate.push((unchanged[fillAt] as number) + left);
      unchanged.splice(fillAt, 1);
      left = 0;
    } else {
      const take = Math.min(left, max);
      creates.push(take);
      left -= take;
    }
  }
  return { creates, updates: toUpdate.length, deletes, sizes: [...unchanged, ...toUpdate, ...creates] };
}

function actualSizes(slices: readonly EndpointSlice[]): string[] {
  return slices.map((s) => `${s.addressType} ${portSetKey(s.ports)} ${s.endpoints.length}`).sort();
}

function runHistory(
  setting: { maxEndpointsPerSlice: number; placement: EndpointSlicePlacement },
  initialService: ServiceCommand,
  history: Batch[],
): void {
  let service = serviceFrom(initialService);
  const pods = new Map<string, PodRecord>();
  const store = new SimulatedStore();
  let slices = new ServiceSlices("default", "web", setting);

  for (const step of history) {
    if (step.kind === "rebuild") {
      slices = new ServiceSlices("default", "web", setting, structuredClone([...store.objects.values()]));
      assert.deepEqual(byName(slices.slices()), byName(store.objects.values()));
      continue;
    }
    const changedPods = new Set<string>();
    let serviceChanged = false;
    for (const c of step.commands) {
      if (c.kind === "service") {
        service = serviceFrom(c);
        serviceChanged = true;
      } else if (c.kind === "delete") {
        pods.delete(`default/pod-${c.index}`);
        changedPods.add(`default/pod-${c.index}`);
      } else {
        const pod = podFrom(c);
        pods.set(`default/${pod.name}`, pod);
        changedPods.add(`default/${pod.name}`);
      }
    }
    const keys = serviceChanged
      ? new Set([...pods.keys(), ...slices.podKeys(), ...changedPods])
      : changedPods;
    const input: ChangedPod[] = [...keys].map((key) => [key, pods.get(key)] as const);
    const predicted =
      setting.placement === "kubernetes"
        ? controllerOutcome(service, [...pods.values()], slices.slices(), setting.maxEndpointsPerSlice)
        : undefined;
    const changes = slices.reconcile(service, input, zoneOf);
    store.apply(changes, slices);
    if (predicted !== undefined) {
      // The incremental reconcile makes the very writes the controller would, to the same packing.
      assert.deepEqual(
        [changes.creates.length, changes.updates.length, changes.deletes.length],
        predicted.writes,
      );
      assert.deepEqual(actualSizes(slices.slices()), predicted.sizes);
    }

    const published = slices.slices();
    // (a) exactly the endpoints the reference computes from scratch, and storage holds just that.
    assert.deepEqual(
      endpointLines(published),
      expectedEndpointLines(isManagedService(service) ? service : undefined, pods.values(), zoneOf),
    );
    assert.deepEqual(byName(published), byName(store.objects.values()));
    // (b), (c), (d): capacity, no empty slice, each endpoint once per group, addresses match the type.
    assert.deepEqual(sliceViolations(published, setting.maxEndpointsPerSlice), []);
    // (e) one pod changed: one slice written per address type. The controller itself may write two
    // when the pod was alone in its slice and its new endpoint is topped into another (see report).
    if (!serviceChanged && changedPods.size === 1) {
      for (const [type, count] of writesPerAddressType(changes)) {
        const total = count.updates + count.other;
        if (setting.placement === "sliceline") assert.ok(total <= 1, `${type}: ${total} writes for one pod`);
        else
          assert.ok(
            total <= 1 || (total === 2 && count.updates === 1),
            `${type}: ${total} writes for one pod`,
          );
      }
    }
  }
}

describe("ServiceSlices under random histories", () => {
  it("publishes exactly the reference endpoints, within the slice invariants, after every batch", () => {
    fc.assert(
      fc.property(
        settings,
        serviceCommand,
        fc.array(batch, { minLength: 1, maxLength: 40, size: "max" }),
        (setting, svc, history) => {
          runHistory(setting, svc as ServiceCommand, history);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("writes one slice per address type for a single pod change, in long single-pod histories", () => {
    const single = fc.record({
      kind: fc.constant("batch" as const),
      commands: fc.tuple(
        fc.oneof({ weight: 4, arbitrary: podCommand }, { weight: 1, arbitrary: deleteCommand }),
      ),
    });
    const setup = fc.record({
      kind: fc.constant("batch" as const),
      commands: fc.array(podCommand, { minLength: 1, maxLength: 20, size: "max" }),
    });
    fc.assert(
      fc.property(
        fc.constantFrom<EndpointSlicePlacement>("kubernetes", "sliceline"),
        fc.integer({ min: 1, max: 4 }),
        setup,
        fc.array(single, { minLength: 1, maxLength: 60, size: "max" }),
        (placement, max, first, history) => {
          runHistory({ maxEndpointsPerSlice: max, placement }, defaultServiceCommand, [first, ...history]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("handles many pods per slice group with max 100 and large batches", () => {
    const bigBatch = fc.record({
      kind: fc.constant("batch" as const),
      commands: fc.array(
        fc.oneof({ weight: 5, arbitrary: podCommand }, { weight: 2, arbitrary: deleteCommand }),
        { minLength: 1, maxLength: 60, size: "max" },
      ),
    });
    fc.assert(
      fc.property(
        fc.constantFrom<EndpointSlicePlacement>("kubernetes", "sliceline"),
        fc.integer({ min: 2, max: 6 }),
        fc.array(bigBatch, { minLength: 1, maxLength: 20, size: "max" }),
        (placement, max, history) => {
          runHistory({ maxEndpointsPerSlice: max, placement }, defaultServiceCommand, history);
        },
      ),
      { numRuns: 200 },
    );
  });
});

const defaultServiceCommand: ServiceCommand = {
  kind: "service",
  selector: "app",
  namedPort: true,
  families: "dual",
  clusterIP: "10.96.0.1",
  publishNotReady: false,
  externalName: false,
  uid: 0,
  tier: "",
};
