/**
 * One namespace's share of the cluster: its pods, Services and Namespace object, and the slices
 * derived from them. It is the unit of consistency: the DynamoDB adapter loads and commits one
 * group at a time under a version check, so concurrent ingest invocations never lose an update.
 *
 * Applying events only records what changed (dirty pods and Services, with their earliest source
 * time); `reconcile` then turns the dirt of a whole batch into the fewest object writes.
 */
import { NamespaceCiliumEndpointSlices } from "#shared/core/ciliumendpointslice/namespace-slices.ts";
import { ServiceSlices } from "#shared/core/endpointslice/service-slices.ts";
import { labelSetKey, securityLabels } from "#shared/core/identity/security-labels.ts";
import { type GroupContext, reconcileGroup } from "./group-reconcile.ts";
import type {
  CiliumEndpointSlice,
  EndpointSlice,
  NamespaceRecord,
  PodRecord,
  ServiceRecord,
} from "./model.ts";
import { isNewerThan, type Versioned } from "./object-versions.ts";
import type { ObjectWrite } from "./output-changes.ts";
import { PodIdentities } from "./pod-identities.ts";
import type { ReconciledGroup } from "./reconcile-observer.ts";
import { sameRecord } from "./records.ts";
import { cesSettingsOf, endpointSliceSettingsOf, type SlicingSettings } from "./settings.ts";
import { SliceNameCounter } from "./slice-name-counter.ts";
import { TombstoneQueue, type TombstoneRef } from "./tombstone-queue.ts";

export type ApplyOutcome = "applied" | "stale" | "unchanged";

/** The kinds of record a group holds by name, each with its record type. */
export interface RecordOf {
  readonly Pod: PodRecord;
  readonly Service: ServiceRecord;
}
export type RecordKind = keyof RecordOf;

interface RecordBook<R> {
  readonly entries: Map<string, Versioned<R>>;
  /** Names to write on the next save. */
  readonly unsaved: Set<string>;
  /** Names to reconcile, with their earliest source time. */
  readonly dirty: Map<string, number>;
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
  readonly #identities = new PodIdentities((podName) => this.#unsaved.pods.add(podName));
  /** Where new slice names' numbers come from, stored with the group (slice-name-counter.ts). */
  readonly #nameCounters: {
    readonly endpointSlices: SliceNameCounter;
    readonly ciliumEndpointSlices: SliceNameCounter;
  };

  /** Records changed since the group was loaded or last saved: what a persistent store must write. */
  readonly #unsaved = { pods: new Set<string>(), services: new Set<string>(), namespace: false };

  readonly #dirtyPods = new Map<string, number>();
  readonly #dirtyServices = new Map<string, number>();
  /** Pods and Services are kept alike: each kind's records and its unsaved and dirty marks. */
  readonly #books: { readonly [K in RecordKind]: RecordBook<RecordOf[K]> } = {
    Pod: { entries: this.pods, unsaved: this.#unsaved.pods, dirty: this.#dirtyPods },
    Service: { entries: this.services, unsaved: this.#unsaved.services, dirty: this.#dirtyServices },
  };
  #namespaceLabelsChangedAt: number | undefined;
  readonly #tombstones = new TombstoneQueue();

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
      cesSettingsOf(settings),
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
    const tombstones: TombstoneRef[] = [];
    for (const [podName, entry] of snapshot.pods) {
      group.pods.set(podName, entry);
      if (entry.record === undefined && entry.deletedAtMs !== undefined) {
        tombstones.push({ kind: "Pod", name: podName, deletedAtMs: entry.deletedAtMs });
      }
    }
    for (const [serviceName, entry] of snapshot.services) {
      group.services.set(serviceName, entry);
      if (entry.record === undefined && entry.deletedAtMs !== undefined) {
        tombstones.push({ kind: "Service", name: serviceName, deletedAtMs: entry.deletedAtMs });
      }
    }
    group.#tombstones.restore(tombstones);
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
          endpointSliceSettingsOf(settings),
          slices,
          group.#nameCounters.endpointSlices,
        ),
      );
    }
    for (const [podName, id] of snapshot.podIdentities) {
      const pod = group.pods.get(podName)?.record;
      if (pod === undefined) continue;
      const labels = securityLabels(pod, group.namespaceEntry?.record, settings.identityLabelPolicy);
      group.#identities.hold(podName, id, labelSetKey(labels));
    }
    // What was just read is what is stored.
    group.markSaved();
    return group;
  }

  /** The identity id each pod holds. */
  get podIdentities(): ReadonlyMap<string, number> {
    return this.#identities.byPod;
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

  /** A Pod or Service event; record undefined: the object was deleted (it leaves a tombstone). */
  applyRecord<K extends RecordKind>(
    kind: K,
    name: string,
    resourceVersion: string,
    record: RecordOf[K] | undefined,
    sourceTimeMs: number,
    nowMs: number,
  ): ApplyOutcome {
    const book = this.#books[kind];
    const outcome = applyVersioned(book.entries, name, resourceVersion, record, nowMs);
    if (outcome !== "stale") book.unsaved.add(name);
    if (outcome === "applied") {
      markDirty(book.dirty, name, sourceTimeMs);
      if (record === undefined) this.#tombstones.push({ kind, name, deletedAtMs: nowMs });
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
    kind: RecordKind,
    listed: ReadonlySet<string>,
    range: NameRange,
    resourceVersion: string,
    sourceTimeMs: number,
    nowMs: number,
  ): ApplyOutcome {
    const gone: string[] = [];
    for (const [name, entry] of this.#books[kind].entries) {
      if (entry.record === undefined || listed.has(name) || !inRange(name, range)) continue;
      if (isNewerThan(resourceVersion, entry)) gone.push(name);
    }
    let outcome: ApplyOutcome = "unchanged";
    // In name order, not the map's: a group reloaded from storage holds another order.
    for (const name of gone.sort()) {
      const applied = this.applyRecord(kind, name, resourceVersion, undefined, sourceTimeMs, nowMs);
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
    for (const due of this.#tombstones.takeDue(nowMs, retentionMs)) {
      const book: RecordBook<unknown> = this.#books[due.kind];
      const entry = book.entries.get(due.name);
      // A recreated object replaced the tombstone; only a tombstone as old as the queue entry goes.
      if (entry?.record === undefined && entry?.deletedAtMs === due.deletedAtMs) {
        book.entries.delete(due.name);
        book.unsaved.add(due.name);
        swept++;
      }
    }
    return swept;
  }

  /**
   * Turns this batch's dirt into object writes (already applied to the group's slices), with a
   * view of what changed for observers (group-reconcile.ts).
   */
  async reconcile(context: GroupContext): Promise<{ writes: ObjectWrite[]; reconciled: ReconciledGroup }> {
    const result = await reconcileGroup(
      {
        name: this.name,
        namespaceRecord: this.namespaceEntry?.record,
        pods: this.pods,
        services: this.services,
        serviceSlices: this.serviceSlices,
        ciliumSlices: this.ciliumSlices,
        identities: this.#identities,
        endpointSliceNames: this.#nameCounters.endpointSlices,
      },
      {
        pods: this.#dirtyPods,
        services: this.#dirtyServices,
        namespaceLabelsChangedAt: this.#namespaceLabelsChangedAt,
      },
      context,
    );
    this.#dirtyPods.clear();
    this.#dirtyServices.clear();
    this.#namespaceLabelsChangedAt = undefined;
    return result;
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
