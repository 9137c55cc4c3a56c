/**
 * One namespace's share of the cluster: its pods, Services and Namespace object, and the slices
 * derived from them. It is the unit of consistency: the DynamoDB adapter loads and commits one
 * group at a time under a version check, so concurrent ingest invocations never lose an update.
 *
 * Applying events only records what changed (dirty pods and Services, with their earliest source
 * time); `reconcile` then turns the dirt of a whole batch into the fewest object writes.
 */
import { coreEndpointForPod, podHasCiliumEndpoint } from "#shared/core/ciliumendpointslice/core-endpoint.ts";
import { NamespaceCiliumEndpointSlices } from "#shared/core/ciliumendpointslice/namespace-slices.ts";
import { ServiceSlices, type SliceChanges } from "#shared/core/endpointslice/service-slices.ts";
import type { EndpointSliceSettings } from "#shared/core/endpointslice/settings.ts";
import { labelSetKey, securityLabels } from "#shared/core/identity/security-labels.ts";
import { selectorMatches } from "./labels.ts";
import type {
  CiliumEndpointSlice,
  CoreCiliumEndpoint,
  EndpointSlice,
  NamespaceRecord,
  PodRecord,
  ServiceRecord,
} from "./model.ts";
import { podKey } from "./model.ts";
import { isNewerThan, type Versioned } from "./object-versions.ts";
import { jsonBytes, type ObjectWrite, type OutputObject } from "./output-changes.ts";
import type { ReconciledGroup } from "./reconcile-observer.ts";
import { sameRecord } from "./records.ts";
import type { SlicingSettings } from "./settings.ts";
import { SliceNameCounter } from "./slice-name-counter.ts";

export type ApplyOutcome = "applied" | "stale" | "unchanged";

/** What reconcile needs from outside the group. */
export interface GroupContext {
  readonly settings: SlicingSettings;
  readonly nowMs: number;
  zoneOf(nodeName: string): string | undefined;
  acquireIdentity(labels: Record<string, string>, sourceTimeMs: number): Promise<number>;
  releaseIdentity(id: number): Promise<void>;
  nextRevision(previous?: string): string;
}

/** An identity held by pods of this group, with its label-set key kept once rather than per pod. */
interface HeldIdentity {
  readonly labelSetKey: string;
  holders: number;
}

export class NamespaceGroup {
  readonly name: string;
  /** Optimistic-concurrency token of the stored group. */
  version = 0;
  namespaceEntry: Versioned<NamespaceRecord> | undefined;
  readonly pods = new Map<string, Versioned<PodRecord>>();
  readonly services = new Map<string, Versioned<ServiceRecord>>();
  readonly serviceSlices = new Map<string, ServiceSlices>();
  readonly ciliumSlices: NamespaceCiliumEndpointSlices;
  /** The identity id each pod holds. */
  readonly podIdentities = new Map<string, number>();
  readonly #heldIdentities = new Map<number, HeldIdentity>();
  /** Where new slice names' numbers come from, stored with the group (slice-name-counter.ts). */
  readonly #nameCounters: {
    readonly endpointSlices: SliceNameCounter;
    readonly ciliumEndpointSlices: SliceNameCounter;
  };

  /** Records changed since the group was loaded or last saved: what a persistent store must write. */
  readonly #unsaved = { pods: new Set<string>(), services: new Set<string>(), namespace: false };

  #dirtyPods = new Map<string, number>();
  #dirtyServices = new Map<string, number>();
  #namespaceLabelsChangedAt: number | undefined;
  /** Tombstones in deletion order, so sweeping costs only what it removes. */
  #tombstoneQueue: TombstoneRef[] = [];
  #tombstoneHead = 0;

  constructor(
    name: string,
    settings: SlicingSettings,
    ciliumEndpointSlices: Iterable<CiliumEndpointSlice> = [],
    nameCounters: SliceNameCounters = { endpointSlices: 0, ciliumEndpointSlices: 0 },
  ) {
    this.name = name;
    this.#nameCounters = {
      endpointSlices: new SliceNameCounter(nameCounters.endpointSlices),
      ciliumEndpointSlices: new SliceNameCounter(nameCounters.ciliumEndpointSlices),
    };
    this.ciliumSlices = new NamespaceCiliumEndpointSlices(
      name,
      { maxEndpointsPerCES: settings.maxEndpointsPerCES, batchingMode: settings.cesBatchingMode },
      ciliumEndpointSlices,
      this.#nameCounters.ciliumEndpointSlices,
    );
  }

  /**
   * Rebuilds a group from what a persistent store holds. Identities held by pods are taken as
   * stored; their label-set keys are derived again from the records.
   */
  static restore(name: string, settings: SlicingSettings, snapshot: GroupSnapshot): NamespaceGroup {
    const group = new NamespaceGroup(
      name,
      settings,
      snapshot.ciliumEndpointSlices,
      snapshot.sliceNameCounters,
    );
    group.version = snapshot.version;
    group.namespaceEntry = snapshot.namespaceEntry;
    for (const [podName, entry] of snapshot.pods) {
      group.pods.set(podName, entry);
      if (entry.record === undefined && entry.deletedAtMs !== undefined) {
        group.#tombstoneQueue.push({ kind: "Pod", name: podName, deletedAtMs: entry.deletedAtMs });
      }
    }
    for (const [serviceName, entry] of snapshot.services) {
      group.services.set(serviceName, entry);
      if (entry.record === undefined && entry.deletedAtMs !== undefined) {
        group.#tombstoneQueue.push({ kind: "Service", name: serviceName, deletedAtMs: entry.deletedAtMs });
      }
    }
    group.#tombstoneQueue.sort((a, b) => a.deletedAtMs - b.deletedAtMs);
    const slicesByService = new Map<string, EndpointSlice[]>();
    for (const slice of snapshot.endpointSlices) {
      const serviceName = slice.metadata.labels["kubernetes.io/service-name"];
      if (serviceName === undefined) continue;
      slicesByService.set(serviceName, [...(slicesByService.get(serviceName) ?? []), slice]);
    }
    for (const [serviceName, slices] of slicesByService) {
      group.serviceSlices.set(
        serviceName,
        new ServiceSlices(
          name,
          serviceName,
          endpointSliceSettings(settings),
          slices,
          group.#nameCounters.endpointSlices,
        ),
      );
    }
    for (const [podName, id] of snapshot.podIdentities) {
      const pod = group.pods.get(podName)?.record;
      if (pod === undefined) continue;
      const labels = securityLabels(pod, group.namespaceEntry?.record, settings.identityLabelPolicy);
      group.#holdPodIdentity(podName, id, labelSetKey(labels));
    }
    // What was just read is what is stored.
    group.markSaved();
    return group;
  }

  /** Records changed since load or the last markSaved(); undefined entries were swept away. */
  unsavedChanges(): UnsavedChanges {
    return {
      pods: [...this.#unsaved.pods].map((podName) => [
        podName,
        this.pods.get(podName),
        this.podIdentities.get(podName),
      ]),
      services: [...this.#unsaved.services].map((serviceName) => [
        serviceName,
        this.services.get(serviceName),
      ]),
      namespaceEntry: this.#unsaved.namespace ? this.namespaceEntry : undefined,
    };
  }

  /** The last number each slice kind's names took: stored with the group, given back to restore. */
  get sliceNameCounters(): SliceNameCounters {
    return {
      endpointSlices: this.#nameCounters.endpointSlices.last,
      ciliumEndpointSlices: this.#nameCounters.ciliumEndpointSlices.last,
    };
  }

  markSaved(): void {
    this.#unsaved.pods.clear();
    this.#unsaved.services.clear();
    this.#unsaved.namespace = false;
  }

  get dirty(): boolean {
    return (
      this.#dirtyPods.size > 0 || this.#dirtyServices.size > 0 || this.#namespaceLabelsChangedAt !== undefined
    );
  }

  applyPod(
    name: string,
    resourceVersion: string,
    record: PodRecord | undefined,
    sourceTimeMs: number,
    nowMs: number,
  ): ApplyOutcome {
    const outcome = applyVersioned(this.pods, name, resourceVersion, record, nowMs);
    if (outcome !== "stale") this.#unsaved.pods.add(name);
    if (outcome === "applied") {
      markDirty(this.#dirtyPods, name, sourceTimeMs);
      if (record === undefined) this.#tombstoneQueue.push({ kind: "Pod", name, deletedAtMs: nowMs });
    }
    return outcome;
  }

  applyService(
    name: string,
    resourceVersion: string,
    record: ServiceRecord | undefined,
    sourceTimeMs: number,
    nowMs: number,
  ): ApplyOutcome {
    const outcome = applyVersioned(this.services, name, resourceVersion, record, nowMs);
    if (outcome !== "stale") this.#unsaved.services.add(name);
    if (outcome === "applied") {
      markDirty(this.#dirtyServices, name, sourceTimeMs);
      if (record === undefined) this.#tombstoneQueue.push({ kind: "Service", name, deletedAtMs: nowMs });
    }
    return outcome;
  }

  applyNamespace(
    resourceVersion: string,
    record: NamespaceRecord | undefined,
    sourceTimeMs: number,
    nowMs: number,
  ): ApplyOutcome {
    if (!isNewerThan(resourceVersion, this.namespaceEntry)) return "stale";
    const previous = this.namespaceEntry?.record;
    this.#unsaved.namespace = true;
    this.namespaceEntry =
      record === undefined ? { resourceVersion, record, deletedAtMs: nowMs } : { resourceVersion, record };
    // Only the labels feed identities; a Namespace's other changes cost nothing downstream.
    if (sameRecord(previous?.labels ?? {}, record?.labels ?? {})) return "unchanged";
    this.#namespaceLabelsChangedAt = Math.min(this.#namespaceLabelsChangedAt ?? sourceTimeMs, sourceTimeMs);
    return "applied";
  }

  /**
   * A resync of this group's pods or Services (the SYNC input event): each one named in `range`,
   * not `listed` and last applied before `resourceVersion` is deleted at `resourceVersion`, as if
   * its lost DELETED event had arrived. Objects the list holds, newer ones and tombstones are
   * left alone, so chunks apply in any order and any number of times.
   */
  applySync(
    kind: "Pod" | "Service",
    listed: ReadonlySet<string>,
    range: NameRange,
    resourceVersion: string,
    sourceTimeMs: number,
    nowMs: number,
  ): ApplyOutcome {
    const entries: ReadonlyMap<string, Versioned<unknown>> = kind === "Pod" ? this.pods : this.services;
    const gone: string[] = [];
    for (const [name, entry] of entries) {
      if (entry.record === undefined || listed.has(name) || !inRange(name, range)) continue;
      if (isNewerThan(resourceVersion, entry)) gone.push(name);
    }
    let outcome: ApplyOutcome = "unchanged";
    // In name order, not the map's: a group reloaded from storage holds another order.
    for (const name of gone.sort()) {
      const applied =
        kind === "Pod"
          ? this.applyPod(name, resourceVersion, undefined, sourceTimeMs, nowMs)
          : this.applyService(name, resourceVersion, undefined, sourceTimeMs, nowMs);
      if (applied === "applied") outcome = "applied";
    }
    return outcome;
  }

  /**
   * A resync of Namespaces that does not list this one: it was deleted before `resourceVersion`,
   * and Kubernetes deletes a namespace's pods and Services before the namespace itself, so
   * everything here last applied before that version is gone too.
   */
  applyNamespaceGone(resourceVersion: string, sourceTimeMs: number, nowMs: number): ApplyOutcome {
    const everything: NameRange = { from: "" };
    const outcomes = [
      this.namespaceEntry?.record === undefined
        ? "unchanged"
        : this.applyNamespace(resourceVersion, undefined, sourceTimeMs, nowMs),
      this.applySync("Pod", new Set(), everything, resourceVersion, sourceTimeMs, nowMs),
      this.applySync("Service", new Set(), everything, resourceVersion, sourceTimeMs, nowMs),
    ];
    return outcomes.includes("applied") ? "applied" : "unchanged";
  }

  /**
   * Pods scheduled on a node. A scan rather than an index: a Node changes zone about never, and
   * an index would cost every pod memory for it.
   */
  podsOnNode(nodeName: string): string[] {
    const names: string[] = [];
    for (const [name, entry] of this.pods) if (entry.record?.nodeName === nodeName) names.push(name);
    return names;
  }

  /** Nodes whose zones this batch's reconcile reads: a Service change reads every pod's. */
  nodesToResolve(): Set<string> {
    const nodes = new Set<string>();
    const pods = this.#dirtyServices.size > 0 ? this.pods.keys() : this.#dirtyPods.keys();
    for (const name of pods) {
      const node = this.pods.get(name)?.record?.nodeName;
      if (node !== undefined) nodes.add(node);
    }
    return nodes;
  }

  /** A pod's inputs changed outside the group (its Node's zone). */
  markPodDirty(name: string, sourceTimeMs: number): void {
    if (this.pods.get(name)?.record !== undefined) markDirty(this.#dirtyPods, name, sourceTimeMs);
  }

  /** Drops tombstones past their retention, oldest first. */
  sweepTombstones(nowMs: number, retentionMs: number): number {
    let swept = 0;
    for (;;) {
      const oldest = this.#tombstoneQueue[this.#tombstoneHead];
      if (oldest === undefined || nowMs - oldest.deletedAtMs < retentionMs) break;
      this.#tombstoneHead++;
      const entries: Map<string, Versioned<unknown>> = oldest.kind === "Pod" ? this.pods : this.services;
      const entry = entries.get(oldest.name);
      // A recreated object replaced the tombstone; only a tombstone as old as the queue entry goes.
      if (entry?.record === undefined && entry?.deletedAtMs === oldest.deletedAtMs) {
        entries.delete(oldest.name);
        (oldest.kind === "Pod" ? this.#unsaved.pods : this.#unsaved.services).add(oldest.name);
        swept++;
      }
    }
    // Drop the consumed prefix now and then, so the queue stays proportional to live tombstones.
    if (this.#tombstoneHead > 1024 && this.#tombstoneHead * 2 > this.#tombstoneQueue.length) {
      this.#tombstoneQueue = this.#tombstoneQueue.slice(this.#tombstoneHead);
      this.#tombstoneHead = 0;
    }
    return swept;
  }

  /**
   * Turns this batch's dirt into object writes (already applied to the group's slices), with a
   * view of what changed for observers (see reconcile-observer.ts).
   */
  async reconcile(context: GroupContext): Promise<{ writes: ObjectWrite[]; reconciled: ReconciledGroup }> {
    const writes: ObjectWrite[] = [];
    const cesChanged = await this.#reconcileIdentities(context);
    if (cesChanged.length > 0) this.#reconcileCiliumSlices(cesChanged, context, writes);
    const servicesWritten = this.#reconcileEndpointSlices(context, writes);
    this.#dirtyPods.clear();
    this.#dirtyServices.clear();
    this.#namespaceLabelsChangedAt = undefined;
    return { writes, reconciled: this.#reconciledView(cesChanged, servicesWritten) };
  }

  #reconciledView(
    ciliumEntriesChanged: ReconciledGroup["ciliumEntriesChanged"],
    servicesWritten: ReadonlySet<string>,
  ): ReconciledGroup {
    return {
      namespace: this.name,
      namespaceRecord: this.namespaceEntry?.record,
      ciliumEntriesChanged,
      servicesWritten,
      pod: (name) => this.pods.get(name)?.record,
      serviceLive: (name) => this.services.get(name)?.record !== undefined,
      serviceSlices: (name) => this.serviceSlices.get(name)?.slices() ?? [],
    };
  }

  /** Pods whose CiliumEndpointSlice entry may have changed, with the entry they should now have. */
  async #reconcileIdentities(
    context: GroupContext,
  ): Promise<Array<{ name: string; entry: CoreCiliumEndpoint | undefined; sourceTimeMs: number }>> {
    const changed: Array<{ name: string; entry: CoreCiliumEndpoint | undefined; sourceTimeMs: number }> = [];
    const namespaceChangedAt = this.#namespaceLabelsChangedAt;
    const candidates =
      namespaceChangedAt === undefined
        ? this.#dirtyPods
        : new Map(
            changedFirst(this.#dirtyPods, this.pods.keys()).map((name) => [
              name,
              this.#dirtyPods.get(name) ?? namespaceChangedAt,
            ]),
          );
    for (const [name, sourceTimeMs] of candidates) {
      const pod = this.pods.get(name)?.record;
      const heldId = this.podIdentities.get(name);
      if (pod === undefined || !podHasCiliumEndpoint(pod)) {
        if (heldId !== undefined) await this.#releasePodIdentity(name, heldId, context);
        if (this.ciliumSlices.hasPod(name)) changed.push({ name, entry: undefined, sourceTimeMs });
        continue;
      }
      const labels = securityLabels(pod, this.namespaceEntry?.record, context.settings.identityLabelPolicy);
      const key = labelSetKey(labels);
      let id = heldId;
      if (id === undefined || this.#heldIdentities.get(id)?.labelSetKey !== key) {
        id = await context.acquireIdentity(labels, sourceTimeMs);
        if (heldId !== undefined) await this.#releasePodIdentity(name, heldId, context);
        this.#holdPodIdentity(name, id, key);
      }
      changed.push({ name, entry: coreEndpointForPod(pod, id), sourceTimeMs });
    }
    return changed;
  }

  #holdPodIdentity(podName: string, id: number, labelSetKey: string): void {
    this.podIdentities.set(podName, id);
    this.#unsaved.pods.add(podName);
    const held = this.#heldIdentities.get(id);
    if (held === undefined) this.#heldIdentities.set(id, { labelSetKey, holders: 1 });
    else held.holders++;
  }

  async #releasePodIdentity(podName: string, id: number, context: GroupContext): Promise<void> {
    this.podIdentities.delete(podName);
    this.#unsaved.pods.add(podName);
    const held = this.#heldIdentities.get(id);
    if (held !== undefined && --held.holders === 0) this.#heldIdentities.delete(id);
    await context.releaseIdentity(id);
  }

  #reconcileCiliumSlices(
    changed: ReadonlyArray<{ name: string; entry: CoreCiliumEndpoint | undefined; sourceTimeMs: number }>,
    context: GroupContext,
    writes: ObjectWrite[],
  ): void {
    const sourceTimeMs = Math.min(...changed.map((c) => c.sourceTimeMs));
    const changes = this.ciliumSlices.reconcile(changed.map((c) => [c.name, c.entry] as const));
    stampAndCollect("CiliumEndpointSlice", changes, sourceTimeMs, context, writes, (name, rv) =>
      this.ciliumSlices.setResourceVersion(name, rv),
    );
  }

  /** Returns the Services whose slices were written. */
  #reconcileEndpointSlices(context: GroupContext, writes: ObjectWrite[]): Set<string> {
    const written = new Set<string>();
    const serviceNames =
      this.#dirtyPods.size > 0
        ? changedFirst(this.#dirtyServices, this.services.keys())
        : this.#dirtyServices.keys();
    for (const serviceName of serviceNames) {
      const service = this.services.get(serviceName)?.record;
      let slices = this.serviceSlices.get(serviceName);
      if (slices === undefined) {
        if (service === undefined) continue;
        const settings = endpointSliceSettings(context.settings);
        slices = new ServiceSlices(this.name, serviceName, settings, [], this.#nameCounters.endpointSlices);
        this.serviceSlices.set(serviceName, slices);
      }
      const serviceDirtyAt = this.#dirtyServices.get(serviceName);
      const changedPods =
        serviceDirtyAt === undefined
          ? this.#podsTouchingService(service, slices)
          : this.#everyPodOf(slices, serviceDirtyAt);
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
      if (service === undefined && slices.slices().length === 0) this.serviceSlices.delete(serviceName);
    }
    return written;
  }

  /** Dirty pods this Service selects now or publishes already (a pod whose labels no longer match must leave). */
  #podsTouchingService(service: ServiceRecord | undefined, slices: ServiceSlices): ChangedPod[] {
    const changed: ChangedPod[] = [];
    for (const [name, sourceTimeMs] of this.#dirtyPods) {
      const pod = this.pods.get(name)?.record;
      const key = podKey({ namespace: this.name, name });
      const selected =
        pod !== undefined && service?.selector !== undefined && selectorMatches(service.selector, pod.labels);
      if (selected || slices.hasPod(key)) changed.push({ key, pod, sourceTimeMs });
    }
    return changed;
  }

  /** A Service change re-evaluates every pod of the namespace and every pod its slices hold. */
  #everyPodOf(slices: ServiceSlices, serviceDirtyAt: number): ChangedPod[] {
    const changed = new Map<string, ChangedPod>();
    for (const name of changedFirst(this.#dirtyPods, this.pods.keys())) {
      const entry = this.pods.get(name) as Versioned<PodRecord>;
      if (entry.record === undefined) continue;
      const key = podKey({ namespace: this.name, name });
      changed.set(key, { key, pod: entry.record, sourceTimeMs: this.#dirtyPods.get(name) ?? serviceDirtyAt });
    }
    for (const key of slices.podKeys()) {
      if (!changed.has(key)) changed.set(key, { key, pod: undefined, sourceTimeMs: serviceDirtyAt });
    }
    return [...changed.values()];
  }
}

/** A half-open range of object names [from, to); an absent `to` is unbounded. */
export interface NameRange {
  readonly from: string;
  readonly to?: string | undefined;
}

export function inRange(name: string, range: NameRange): boolean {
  return name >= range.from && (range.to === undefined || name < range.to);
}

/** What a persistent store holds of one group. */
export interface GroupSnapshot {
  readonly version: number;
  readonly namespaceEntry: Versioned<NamespaceRecord> | undefined;
  readonly pods: Iterable<readonly [name: string, entry: Versioned<PodRecord>]>;
  readonly services: Iterable<readonly [name: string, entry: Versioned<ServiceRecord>]>;
  readonly podIdentities: Iterable<readonly [podName: string, identityId: number]>;
  readonly endpointSlices: Iterable<EndpointSlice>;
  readonly ciliumEndpointSlices: Iterable<CiliumEndpointSlice>;
  /**
   * NamespaceGroup.sliceNameCounters as stored. Absent (a group stored before they were kept):
   * each continues after the highest number among the stored names, so no live name is reused.
   */
  readonly sliceNameCounters?: SliceNameCounters | undefined;
}

/** The last number the names of each slice kind took in a group (slice-name-counter.ts). */
export interface SliceNameCounters {
  readonly endpointSlices: number;
  readonly ciliumEndpointSlices: number;
}

export interface UnsavedChanges {
  /** [name, entry (undefined: swept, delete it), identity the pod holds]. */
  readonly pods: Array<readonly [string, Versioned<PodRecord> | undefined, number | undefined]>;
  readonly services: Array<readonly [string, Versioned<ServiceRecord> | undefined]>;
  /** Set when the Namespace entry changed. */
  readonly namespaceEntry: Versioned<NamespaceRecord> | undefined;
}

function endpointSliceSettings(settings: SlicingSettings): EndpointSliceSettings {
  return { maxEndpointsPerSlice: settings.maxEndpointsPerSlice, placement: settings.placement };
}

interface TombstoneRef {
  readonly kind: "Pod" | "Service";
  readonly name: string;
  readonly deletedAtMs: number;
}

interface ChangedPod {
  readonly key: string;
  readonly pod: PodRecord | undefined;
  readonly sourceTimeMs: number;
}

function applyVersioned<R>(
  entries: Map<string, Versioned<R>>,
  name: string,
  resourceVersion: string,
  record: R | undefined,
  nowMs: number,
): ApplyOutcome {
  const current = entries.get(name);
  if (!isNewerThan(resourceVersion, current)) return "stale";
  entries.set(
    name,
    record === undefined ? { resourceVersion, record, deletedAtMs: nowMs } : { resourceVersion, record },
  );
  return sameRecord(current?.record, record) ? "unchanged" : "applied";
}

function markDirty(dirty: Map<string, number>, name: string, sourceTimeMs: number): void {
  const earliest = dirty.get(name);
  if (earliest === undefined || sourceTimeMs < earliest) dirty.set(name, sourceTimeMs);
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
  changes: SliceChanges | { creates: OutputObject[]; updates: OutputObject[]; deletes: OutputObject[] },
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
    for (const object of objects as OutputObject[]) {
      const expectedResourceVersion = object.metadata.resourceVersion;
      const resourceVersion = context.nextRevision(expectedResourceVersion);
      object.metadata.resourceVersion = resourceVersion;
      if (op !== "delete") recordVersion(object.metadata.name, resourceVersion);
      writes.push({ kind, op, object, expectedResourceVersion, bytes: jsonBytes(object), sourceTimeMs });
    }
  }
}
