/**
 * A namespace group's reconcile: the dirt of a whole batch (pods and Services changed, with their
 * earliest source time, and whether the Namespace's labels changed) turned into the fewest object
 * writes, in three steps:
 *   1. identities: each changed pod's security labels, an identity acquired for a new label set
 *      and the old one released;
 *   2. CiliumEndpointSlices: the changed pods' entries packed (ciliumendpointslice/);
 *   3. EndpointSlices: each Service a change may concern reconciled over the pods that changed,
 *      or over every pod when the Service itself did (endpointslice/).
 * Every write gets a resourceVersion newer than the object's (stamped back into the slices), and
 * the earliest source time of the changes it carries.
 */
import { coreEndpointForPod, podHasCiliumEndpoint } from "#shared/core/ciliumendpointslice/core-endpoint.ts";
import type { NamespaceCiliumEndpointSlices } from "#shared/core/ciliumendpointslice/namespace-slices.ts";
import { ServiceSlices } from "#shared/core/endpointslice/service-slices.ts";
import { labelSetKey, securityLabels } from "#shared/core/identity/security-labels.ts";
import { selectorMatches } from "./labels.ts";
import type { CoreCiliumEndpoint, NamespaceRecord, PodRecord, ServiceRecord } from "./model.ts";
import { podKey } from "./model.ts";
import type { Versioned } from "./object-versions.ts";
import { jsonBytes, type ObjectWrite, type OutputObject } from "./output-changes.ts";
import type { PodIdentities } from "./pod-identities.ts";
import type { ReconciledGroup } from "./reconcile-observer.ts";
import { endpointSliceSettingsOf, type SlicingSettings } from "./settings.ts";
import type { SliceNameCounter } from "./slice-name-counter.ts";

/** What reconcile needs from outside the group. */
export interface GroupContext {
  readonly settings: SlicingSettings;
  readonly nowMs: number;
  zoneOf(nodeName: string): string | undefined;
  acquireIdentity(labels: Record<string, string>, sourceTimeMs: number): Promise<number>;
  releaseIdentity(id: number): Promise<void>;
  nextRevision(previous?: string): string;
}

/** What a batch changed in the group, each with the earliest source time of its changes. */
export interface GroupDirt {
  readonly pods: ReadonlyMap<string, number>;
  readonly services: ReadonlyMap<string, number>;
  readonly namespaceLabelsChangedAt: number | undefined;
}

/** The group as reconcile reads and changes it. */
export interface ReconciledState {
  readonly name: string;
  readonly namespaceRecord: NamespaceRecord | undefined;
  readonly pods: ReadonlyMap<string, Versioned<PodRecord>>;
  readonly services: ReadonlyMap<string, Versioned<ServiceRecord>>;
  readonly serviceSlices: Map<string, ServiceSlices>;
  readonly ciliumSlices: NamespaceCiliumEndpointSlices;
  readonly identities: PodIdentities;
  /** Where a new Service's slices take their names from (the group's counter). */
  readonly endpointSliceNames: SliceNameCounter;
}

interface CiliumEntryChange {
  readonly name: string;
  readonly entry: CoreCiliumEndpoint | undefined;
  readonly sourceTimeMs: number;
}

interface ChangedPod {
  readonly key: string;
  readonly pod: PodRecord | undefined;
  readonly sourceTimeMs: number;
}

/**
 * The batch's object writes (already applied to the group's slices), with a view of what changed
 * for observers (see reconcile-observer.ts).
 */
export async function reconcileGroup(
  group: ReconciledState,
  dirt: GroupDirt,
  context: GroupContext,
): Promise<{ writes: ObjectWrite[]; reconciled: ReconciledGroup }> {
  const writes: ObjectWrite[] = [];
  const cesChanged = await reconcileIdentities(group, dirt, context);
  if (cesChanged.length > 0) reconcileCiliumSlices(group, cesChanged, context, writes);
  const servicesWritten = reconcileEndpointSlices(group, dirt, context, writes);
  return {
    writes,
    reconciled: {
      namespace: group.name,
      namespaceRecord: group.namespaceRecord,
      ciliumEntriesChanged: cesChanged,
      servicesWritten,
      pod: (name) => group.pods.get(name)?.record,
      serviceLive: (name) => group.services.get(name)?.record !== undefined,
      serviceSlices: (name) => group.serviceSlices.get(name)?.slices() ?? [],
    },
  };
}

/** Pods whose CiliumEndpointSlice entry may have changed, with the entry they should now have. */
async function reconcileIdentities(
  group: ReconciledState,
  dirt: GroupDirt,
  context: GroupContext,
): Promise<CiliumEntryChange[]> {
  const changed: CiliumEntryChange[] = [];
  const namespaceChangedAt = dirt.namespaceLabelsChangedAt;
  const candidates =
    namespaceChangedAt === undefined
      ? dirt.pods
      : new Map(
          changedFirst(dirt.pods, group.pods.keys()).map((name) => [
            name,
            dirt.pods.get(name) ?? namespaceChangedAt,
          ]),
        );
  const { identities } = group;
  for (const [name, sourceTimeMs] of candidates) {
    const pod = group.pods.get(name)?.record;
    const heldId = identities.byPod.get(name);
    if (pod === undefined || !podHasCiliumEndpoint(pod)) {
      if (heldId !== undefined) {
        identities.release(name, heldId);
        await context.releaseIdentity(heldId);
      }
      if (group.ciliumSlices.hasPod(name)) changed.push({ name, entry: undefined, sourceTimeMs });
      continue;
    }
    const labels = securityLabels(pod, group.namespaceRecord, context.settings.identityLabelPolicy);
    const key = labelSetKey(labels);
    let id = heldId;
    if (id === undefined || identities.labelSetKeyOf(id) !== key) {
      id = await context.acquireIdentity(labels, sourceTimeMs);
      if (heldId !== undefined) {
        identities.release(name, heldId);
        await context.releaseIdentity(heldId);
      }
      identities.hold(name, id, key);
    }
    changed.push({ name, entry: coreEndpointForPod(pod, id), sourceTimeMs });
  }
  return changed;
}

function reconcileCiliumSlices(
  group: ReconciledState,
  changed: readonly CiliumEntryChange[],
  context: GroupContext,
  writes: ObjectWrite[],
): void {
  const sourceTimeMs = Math.min(...changed.map((c) => c.sourceTimeMs));
  const changes = group.ciliumSlices.reconcile(changed.map((c) => [c.name, c.entry] as const));
  stampAndCollect("CiliumEndpointSlice", changes, sourceTimeMs, context, writes, (name, rv) =>
    group.ciliumSlices.setResourceVersion(name, rv),
  );
}

/** Returns the Services whose slices were written. */
function reconcileEndpointSlices(
  group: ReconciledState,
  dirt: GroupDirt,
  context: GroupContext,
  writes: ObjectWrite[],
): Set<string> {
  const written = new Set<string>();
  const serviceNames =
    dirt.pods.size > 0 ? changedFirst(dirt.services, group.services.keys()) : dirt.services.keys();
  for (const serviceName of serviceNames) {
    const service = group.services.get(serviceName)?.record;
    let slices = group.serviceSlices.get(serviceName);
    if (slices === undefined) {
      if (service === undefined) continue;
      const settings = endpointSliceSettingsOf(context.settings);
      slices = new ServiceSlices(group.name, serviceName, settings, [], group.endpointSliceNames);
      group.serviceSlices.set(serviceName, slices);
    }
    const serviceDirtyAt = dirt.services.get(serviceName);
    const changedPods =
      serviceDirtyAt === undefined
        ? podsTouchingService(group, dirt, service, slices)
        : everyPodOf(group, dirt, slices, serviceDirtyAt);
    if (changedPods.length === 0) continue;
    const changes = slices.reconcile(
      service,
      changedPods.map((p) => [p.key, p.pod] as const),
      (node) => context.zoneOf(node),
    );
    if (changes.creates.length + changes.updates.length + changes.deletes.length > 0)
      written.add(serviceName);
    const sourceTimeMs = Math.min(...changedPods.map((p) => p.sourceTimeMs));
    const owner = slices;
    stampAndCollect("EndpointSlice", changes, sourceTimeMs, context, writes, (name, rv) =>
      owner.setResourceVersion(name, rv),
    );
    if (service === undefined && slices.slices().length === 0) group.serviceSlices.delete(serviceName);
  }
  return written;
}

/** Dirty pods this Service selects now or publishes already (a pod whose labels no longer match must leave). */
function podsTouchingService(
  group: ReconciledState,
  dirt: GroupDirt,
  service: ServiceRecord | undefined,
  slices: ServiceSlices,
): ChangedPod[] {
  const changed: ChangedPod[] = [];
  for (const [name, sourceTimeMs] of dirt.pods) {
    const pod = group.pods.get(name)?.record;
    const key = podKey({ namespace: group.name, name });
    const selected =
      pod !== undefined && service?.selector !== undefined && selectorMatches(service.selector, pod.labels);
    if (selected || slices.hasPod(key)) changed.push({ key, pod, sourceTimeMs });
  }
  return changed;
}

/** A Service change re-evaluates every pod of the namespace and every pod its slices hold. */
function everyPodOf(
  group: ReconciledState,
  dirt: GroupDirt,
  slices: ServiceSlices,
  serviceDirtyAt: number,
): ChangedPod[] {
  const changed = new Map<string, ChangedPod>();
  for (const name of changedFirst(dirt.pods, group.pods.keys())) {
    const entry = group.pods.get(name) as Versioned<PodRecord>;
    if (entry.record === undefined) continue;
    const key = podKey({ namespace: group.name, name });
    changed.set(key, { key, pod: entry.record, sourceTimeMs: dirt.pods.get(name) ?? serviceDirtyAt });
  }
  for (const key of slices.podKeys()) {
    if (!changed.has(key)) changed.set(key, { key, pod: undefined, sourceTimeMs: serviceDirtyAt });
  }
  return [...changed.values()];
}

/**
 * The names in an order a reload cannot change: those the batch changed, in the order they
 * changed, then the others by name. A map's own order is arrival order in a long-lived group but
 * key order in one reloaded from storage, and identities are numbered, endpoints placed and writes
 * stamped in the order names are visited.
 */
function changedFirst(changed: ReadonlyMap<string, number>, all: Iterable<string>): string[] {
  const others = [...all].filter((name) => !changed.has(name)).sort();
  return [...changed.keys(), ...others];
}

function stampAndCollect(
  kind: "EndpointSlice" | "CiliumEndpointSlice",
  changes: { creates: OutputObject[]; updates: OutputObject[]; deletes: OutputObject[] },
  sourceTimeMs: number,
  context: GroupContext,
  writes: ObjectWrite[],
  recordVersion: (name: string, resourceVersion: string) => void,
): void {
  const groups = [
    ["create", changes.creates],
    ["update", changes.updates],
    ["delete", changes.deletes],
  ] as const;
  for (const [op, objects] of groups) {
    for (const object of objects) {
      const expectedResourceVersion = object.metadata.resourceVersion;
      const resourceVersion = context.nextRevision(expectedResourceVersion);
      object.metadata.resourceVersion = resourceVersion;
      if (op !== "delete") recordVersion(object.metadata.name, resourceVersion);
      writes.push({ kind, op, object, expectedResourceVersion, bytes: jsonBytes(object), sourceTimeMs });
    }
  }
}
