/**
 * The managed EndpointSlices of one Service, kept in memory with the indexes that make an
 * incremental reconcile cost what changed, not what exists: endpoints by pod (where does this pod's
 * endpoint live?) and slices by (addressType, port set) group.
 *
 * Storage-agnostic: reconcile returns the writes to make; the caller makes them (creates, then
 * updates, then deletes, so an endpoint that moves is never missing in between) and stamps the new
 * resourceVersions back with setResourceVersion.
 */

import { labelsEqual } from "#shared/core/labels.ts";
import {
  type AddressType,
  type Endpoint,
  type EndpointPort,
  type EndpointSlice,
  type PodRecord,
  podKey,
  type ServiceRecord,
} from "#shared/core/model.ts";
import type { SliceNameCounter } from "#shared/core/slice-name-counter.ts";
import { absorbUnchangedSlices, hostRemaindersInDeletedSlices, mergeWrittenSlices } from "./compaction.ts";
import {
  desiredEndpointsForPod,
  isManagedService,
  serviceAddressTypes,
  type ZoneOf,
} from "./desired-endpoints.ts";
import type { Draft } from "./draft.ts";
import { endpointKey, endpointPodKey, endpointsEqual, freezeEndpoint } from "./endpoint-identity.ts";
import { type AddressTypeWrites, finalizeAddressType, type GroupPlan, planGroup } from "./plan.ts";
import { type EndpointSliceSettings, validateEndpointSliceSettings } from "./settings.ts";
import { SliceNamer } from "./slice-names.ts";
import { byName, compareNames } from "./slice-order.ts";
import {
  groupKeyOf,
  isManagedSliceOf,
  isOwnedBy,
  mirroredLabelsDiffer,
  type OwnerReference,
  type StoredSlice,
  serviceOwnerReference,
  sliceGroupKey,
  sliceLabelsFor,
  storedSliceFrom,
  toEndpointSlice,
} from "./stored-slice.ts";

export interface SliceChanges {
  creates: EndpointSlice[];
  updates: EndpointSlice[];
  deletes: EndpointSlice[];
}

/** A pod that may have changed since the last reconcile; undefined: the pod is gone. */
export type ChangedPod = readonly [podKey: string, pod: PodRecord | undefined];

export class ServiceMismatchError extends Error {
  override name = "ServiceMismatchError";
}

/** One paid merge per this many slices a sync writes anyway (and never in a sync writing one). */
const WRITES_PER_PAID_MERGE = 8;

interface EndpointLocation {
  readonly slice: StoredSlice;
  readonly key: string;
}

interface GroupMeta {
  readonly addressType: AddressType;
  readonly portKey: string;
  readonly ports: readonly EndpointPort[];
}

export class ServiceSlices {
  readonly namespace: string;
  readonly serviceName: string;
  readonly settings: EndpointSliceSettings;
  readonly #slices = new Map<string, StoredSlice>();
  readonly #groups = new Map<string, Set<StoredSlice>>();
  /** The endpoint-key -> slice index, reached through the pod the endpoints stand for. */
  readonly #podEndpoints = new PodLocations();
  readonly #namer: SliceNamer;
  /** What of the Service the slices were last reconciled against; a difference means a full pass. */
  #reconciledShape: string | undefined;

  /** `nameCounter`: the namespace group's (slice-name-counter.ts); without it, one of its own. */
  constructor(
    namespace: string,
    serviceName: string,
    settings: EndpointSliceSettings,
    existing: Iterable<EndpointSlice> = [],
    nameCounter?: SliceNameCounter,
  ) {
    this.namespace = namespace;
    this.serviceName = serviceName;
    this.settings = validateEndpointSliceSettings(settings);
    this.#restore(existing);
    this.#namer = new SliceNamer(serviceName, this.#slices, nameCounter);
  }

  hasPod(podKey: string): boolean {
    return this.#podEndpoints.has(podKey);
  }

  podKeys(): Iterable<string> {
    return this.#podEndpoints.keys();
  }

  /** Copies of every slice: O(all endpoints), meant for listing and tests, not for the hot path. */
  slices(): readonly EndpointSlice[] {
    return [...this.#slices.values()].map((slice) => toEndpointSlice(slice, this.namespace));
  }

  /** A slice gone in the meantime is ignored: its write was superseded by a later reconcile. */
  setResourceVersion(sliceName: string, resourceVersion: string): void {
    const slice = this.#slices.get(sliceName);
    if (slice !== undefined) slice.resourceVersion = resourceVersion;
  }

  /**
   * The writes that bring the slices in line with `service` after the pods in `changedPods` changed.
   * Every pod not listed is taken to be as it was; when the Service itself changed, list every pod of
   * the namespace and every pod in podKeys().
   */
  reconcile(
    service: ServiceRecord | undefined,
    changedPods: Iterable<ChangedPod>,
    zoneOf: ZoneOf,
  ): SliceChanges {
    if (service !== undefined) this.#requireSameService(service);
    if (service === undefined || !isManagedService(service)) return this.#deleteEverything();

    const changed = new Map<string, PodRecord | undefined>(changedPods);
    const wantedLabels = sliceLabelsFor(service);
    const addressTypes = serviceAddressTypes(service);
    const shape = JSON.stringify([service.uid, wantedLabels, addressTypes]);
    const fullPass = shape !== this.#reconciledShape;
    this.#reconciledShape = shape;

    const sorted = this.#sortTouchedSlices(service, changed, addressTypes, fullPass);
    const desired = desiredByGroup(service, changed, zoneOf);
    const metas = new Map<string, GroupMeta>();
    for (const [key, group] of desired) metas.set(key, group);
    for (const slice of [...sorted.leaving, ...sorted.byGroup.values()].flat()) {
      if (!metas.has(sliceGroupKey(slice))) metas.set(sliceGroupKey(slice), slice);
    }

    const ownerReferences = [serviceOwnerReference(service)];
    const plans = new Map<AddressType, GroupPlan[]>();
    // Groups in key order, not in the order this sync came across them: that order differs between
    // a full pass (every slice) and an incremental one (a cold group's first reconcile is a full
    // pass), and finalize pairs creates with deletes, and compaction spends its budget, by it.
    for (const [key, meta] of [...metas].sort(([a], [b]) => compareNames(a, b))) {
      const plan = planGroup({
        maxEndpointsPerSlice: this.settings.maxEndpointsPerSlice,
        addressType: meta.addressType,
        portKey: meta.portKey,
        ports: meta.ports,
        groupSlices: this.#groups.get(key) ?? [],
        touched: sorted.byGroup.get(key) ?? [],
        leaving: sorted.leaving,
        desired: desired.get(key)?.endpoints ?? new Map(),
        homeless: sorted.homeless.get(key) ?? [],
        changedKeysIn: (slice) => sorted.changedKeys.get(slice) ?? [],
        needsRelabel: (slice) => fullPass && mirroredLabelsDiffer(slice.labels, wantedLabels),
        ownerReferences,
      });
      const list = plans.get(meta.addressType) ?? [];
      list.push(plan);
      plans.set(meta.addressType, list);
    }

    const writes: AddressTypeWrites[] = [];
    for (const groupPlans of plans.values()) {
      if (this.settings.placement === "sliceline") this.#compact(groupPlans, sorted.leaving);
      writes.push(finalizeAddressType(groupPlans));
    }
    return this.#apply(writes, [...sorted.dropped, ...sorted.leaving], wantedLabels);
  }

  /** sliceline's additions, per address type, between the controller's plan and its finalize. */
  #compact(groupPlans: readonly GroupPlan[], leaving: ReadonlySet<StoredSlice>): void {
    hostRemaindersInDeletedSlices(groupPlans);
    for (const plan of groupPlans) mergeWrittenSlices(plan, this.settings.maxEndpointsPerSlice);
    this.#payForMerges(groupPlans, leaving);
  }

  /**
   * Paid merges only where the sync writes several slices of the address type anyway, so a single
   * pod change still writes one slice; the budget grows with what is written anyway.
   */
  #payForMerges(groupPlans: readonly GroupPlan[], leaving: ReadonlySet<StoredSlice>): void {
    let written = 0;
    for (const plan of groupPlans) {
      written += plan.updates.length + Math.max(plan.creates.length, plan.deletes.length);
    }
    let budget = Math.floor(written / WRITES_PER_PAID_MERGE);
    for (const plan of groupPlans) {
      if (budget <= 0) return;
      const group = this.#groups.get(groupKeyOf(plan.addressType, plan.portKey));
      if (group === undefined) continue;
      budget -= absorbUnchangedSlices(plan, group, leaving, this.settings.maxEndpointsPerSlice, budget);
    }
  }

  #requireSameService(service: ServiceRecord): void {
    if (service.namespace !== this.namespace || service.name !== this.serviceName) {
      throw new ServiceMismatchError(
        `ServiceSlices of ${this.namespace}/${this.serviceName} cannot reconcile Service ${service.namespace}/${service.name}`,
      );
    }
  }

  /**
   * The slices this reconcile must look at, sorted by what happens to them: slices of an address
   * type the Service no longer has are dropped; slices owned by an earlier Service of the same
   * name are leaving (never reused, their unchanged endpoints are placed again); the rest go to
   * their group's plan. A full pass looks at every slice, otherwise only at those of changed pods.
   * In name order, not the order they are held in (slice-order.ts): which slice a plan fills,
   * where a leaving slice's endpoints go and the order of the writes all follow from it.
   */
  #sortTouchedSlices(
    service: ServiceRecord,
    changed: ReadonlyMap<string, PodRecord | undefined>,
    addressTypes: readonly AddressType[],
    fullPass: boolean,
  ): TouchedSlices {
    const changedKeys = new Map<StoredSlice, string[]>();
    for (const podKey of changed.keys()) {
      for (const { slice, key } of this.#podEndpoints.get(podKey)) {
        const keys = changedKeys.get(slice);
        if (keys === undefined) changedKeys.set(slice, [key]);
        else keys.push(key);
      }
    }
    const touched = [...(fullPass ? this.#slices.values() : changedKeys.keys())].sort(byName);
    const sorted: TouchedSlices = {
      dropped: [],
      leaving: new Set(),
      homeless: new Map(),
      byGroup: new Map(),
      changedKeys,
    };
    for (const slice of touched) {
      const key = sliceGroupKey(slice);
      if (!addressTypes.includes(slice.addressType)) sorted.dropped.push(slice);
      else if (!isOwnedBy(slice.ownerReferences, service.uid)) {
        sorted.leaving.add(slice);
        const homeless = [...slice.endpoints.values()].filter((e) => !changed.has(endpointPodKey(e)));
        if (homeless.length > 0) sorted.homeless.set(key, [...(sorted.homeless.get(key) ?? []), ...homeless]);
      } else {
        const list = sorted.byGroup.get(key) ?? [];
        list.push(slice);
        sorted.byGroup.set(key, list);
      }
    }
    return sorted;
  }

  #apply(
    writes: readonly AddressTypeWrites[],
    unusable: readonly StoredSlice[],
    labels: Record<string, string>,
  ): SliceChanges {
    const changes: SliceChanges = { creates: [], updates: [], deletes: [] };
    const deletes = [...unusable, ...writes.flatMap((w) => w.deletes)];
    for (const slice of deletes) {
      changes.deletes.push(toEndpointSlice(slice, this.namespace));
      this.#remove(slice);
    }
    for (const draft of writes.flatMap((w) => w.updates)) {
      const target = draft.target as StoredSlice;
      if (!target.dirty && sameContent(target, draft, labels)) continue;
      this.#rewrite(target, draft, labels);
      changes.updates.push(toEndpointSlice(target, this.namespace));
    }
    for (const draft of writes.flatMap((w) => w.creates)) {
      const slice: StoredSlice = {
        name: this.#namer.next(),
        addressType: draft.addressType,
        portKey: draft.portKey,
        groupKey: groupKeyOf(draft.addressType, draft.portKey),
        ports: draft.ports.map((p) => ({ ...p })),
        labels: { ...labels },
        ownerReferences: draft.ownerReferences.map((o) => ({ ...o })),
        resourceVersion: undefined,
        creationTimestamp: undefined,
        endpoints: draft.toMap(),
        dirty: false,
      };
      this.#slices.set(slice.name, slice);
      this.#index(slice);
      changes.creates.push(toEndpointSlice(slice, this.namespace));
    }
    return changes;
  }

  /**
   * A draft drawn from the slice is applied in place and re-indexed for just the endpoints that
   * came or went; one that reuses the slice of another (finalize) replaces it wholesale.
   */
  #rewrite(target: StoredSlice, draft: Draft, labels: Record<string, string>): void {
    const groupBefore = sliceGroupKey(target);
    if (draft.base === target.endpoints) {
      for (const key of draft.removedKeys()) {
        this.#forgetLocation(target, key, target.endpoints.get(key) as Endpoint);
      }
      draft.applyToBase();
      for (const [key, endpoint] of draft.addedEntries()) this.#addLocation(target, key, endpoint);
    } else {
      for (const [key, endpoint] of target.endpoints) this.#forgetLocation(target, key, endpoint);
      target.endpoints = draft.toMap();
      for (const [key, endpoint] of target.endpoints) this.#addLocation(target, key, endpoint);
    }
    target.addressType = draft.addressType;
    target.portKey = draft.portKey;
    target.groupKey = groupKeyOf(draft.addressType, draft.portKey);
    target.ports = draft.ports.map((p) => ({ ...p }));
    target.labels = { ...labels };
    target.ownerReferences = draft.ownerReferences.map((o) => ({ ...o }));
    target.dirty = false;
    const groupAfter = sliceGroupKey(target);
    if (groupAfter !== groupBefore) {
      this.#leaveGroup(target, groupBefore);
      this.#joinGroup(target, groupAfter);
    }
  }

  #deleteEverything(): SliceChanges {
    const deletes = [...this.#slices.values()]
      .sort(byName)
      .map((slice) => toEndpointSlice(slice, this.namespace));
    this.#slices.clear();
    this.#groups.clear();
    this.#podEndpoints.clear();
    this.#reconciledShape = undefined;
    return { creates: [], updates: [], deletes };
  }

  /**
   * Takes stored slices as they are. Damage a crash or another writer may leave (an endpoint in two
   * slices, an empty slice, one over the maximum) is marked dirty and repaired by the next reconcile.
   * In name order, whatever order storage lists them in: of an endpoint found in two slices, the
   * first by name keeps it.
   */
  #restore(existing: Iterable<EndpointSlice>): void {
    const seen = new Set<string>();
    const inNameOrder = [...existing].sort((a, b) => byName(a.metadata, b.metadata));
    for (const object of inNameOrder) {
      if (!isManagedSliceOf(object, this.namespace, this.serviceName)) continue;
      if (this.#slices.has(object.metadata.name)) continue;
      const slice = storedSliceFrom(object);
      const group = sliceGroupKey(slice);
      for (const key of slice.endpoints.keys()) {
        const globalKey = `${group}\n${key}`;
        if (seen.has(globalKey)) {
          slice.endpoints.delete(key);
          slice.dirty = true;
        } else seen.add(globalKey);
      }
      if (slice.endpoints.size === 0 || slice.endpoints.size > this.settings.maxEndpointsPerSlice)
        slice.dirty = true;
      this.#slices.set(slice.name, slice);
      this.#index(slice);
    }
  }

  #remove(slice: StoredSlice): void {
    this.#unindex(slice);
    this.#slices.delete(slice.name);
  }

  #index(slice: StoredSlice): void {
    this.#joinGroup(slice, sliceGroupKey(slice));
    for (const [key, endpoint] of slice.endpoints) this.#addLocation(slice, key, endpoint);
  }

  #unindex(slice: StoredSlice): void {
    this.#leaveGroup(slice, sliceGroupKey(slice));
    for (const [key, endpoint] of slice.endpoints) this.#forgetLocation(slice, key, endpoint);
  }

  #joinGroup(slice: StoredSlice, groupKey: string): void {
    const group = this.#groups.get(groupKey);
    if (group === undefined) this.#groups.set(groupKey, new Set([slice]));
    else group.add(slice);
  }

  #leaveGroup(slice: StoredSlice, groupKey: string): void {
    const group = this.#groups.get(groupKey);
    if (group === undefined) return;
    group.delete(slice);
    if (group.size === 0) this.#groups.delete(groupKey);
  }

  #addLocation(slice: StoredSlice, key: string, endpoint: Endpoint): void {
    this.#podEndpoints.add(endpoint.targetRef, { slice, key });
  }

  #forgetLocation(slice: StoredSlice, key: string, endpoint: Endpoint): void {
    this.#podEndpoints.remove(endpoint.targetRef, slice, key);
  }
}

type PodRef = Endpoint["targetRef"];

/**
 * Pod -> where its endpoints are, by namespace and then pod name: keyed by the strings the
 * endpoints already hold rather than a "namespace/name" string built per pod, and holding a lone
 * location as is (a pod has one endpoint per address type, usually one in all).
 */
class PodLocations {
  readonly #byNamespace = new Map<string, Map<string, EndpointLocation | EndpointLocation[]>>();

  get(key: string): readonly EndpointLocation[] {
    const found = this.#find(key);
    return found === undefined ? [] : Array.isArray(found) ? found : [found];
  }

  has(key: string): boolean {
    return this.#find(key) !== undefined;
  }

  /** podKey() read back: neither a namespace nor a pod name can hold a "/". */
  #find(key: string): EndpointLocation | EndpointLocation[] | undefined {
    const slash = key.indexOf("/");
    if (slash < 0) return undefined;
    return this.#byNamespace.get(key.slice(0, slash))?.get(key.slice(slash + 1));
  }

  *keys(): IterableIterator<string> {
    for (const [namespace, pods] of this.#byNamespace) {
      for (const name of pods.keys()) yield podKey({ namespace, name });
    }
  }

  add(pod: PodRef, location: EndpointLocation): void {
    let pods = this.#byNamespace.get(pod.namespace);
    if (pods === undefined) {
      pods = new Map();
      this.#byNamespace.set(pod.namespace, pods);
    }
    const found = pods.get(pod.name);
    if (found === undefined) pods.set(pod.name, location);
    else if (Array.isArray(found)) found.push(location);
    else pods.set(pod.name, [found, location]);
  }

  remove(pod: PodRef, slice: StoredSlice, key: string): void {
    const pods = this.#byNamespace.get(pod.namespace);
    const found = pods?.get(pod.name);
    if (pods === undefined || found === undefined) return;
    if (!Array.isArray(found)) {
      if (found.slice === slice && found.key === key) pods.delete(pod.name);
    } else {
      const at = found.findIndex((l) => l.slice === slice && l.key === key);
      if (at >= 0) found.splice(at, 1);
      if (found.length === 1) pods.set(pod.name, found[0] as EndpointLocation);
    }
    if (pods.size === 0) this.#byNamespace.delete(pod.namespace);
  }

  clear(): void {
    this.#byNamespace.clear();
  }
}

interface TouchedSlices {
  readonly dropped: StoredSlice[];
  readonly leaving: Set<StoredSlice>;
  readonly homeless: Map<string, Endpoint[]>;
  readonly byGroup: Map<string, StoredSlice[]>;
  readonly changedKeys: ReadonlyMap<StoredSlice, readonly string[]>;
}

interface DesiredGroup extends GroupMeta {
  readonly endpoints: Map<string, Endpoint>;
}

/** The changed pods' desired endpoints, by (addressType, port set) group and endpoint key. */
function desiredByGroup(
  service: ServiceRecord,
  changed: ReadonlyMap<string, PodRecord | undefined>,
  zoneOf: ZoneOf,
): Map<string, DesiredGroup> {
  const groups = new Map<string, DesiredGroup>();
  // Group keys by address type and (shared, hash-cached) port key string, to build each once.
  const keys: Record<AddressType, Map<string, string>> = { IPv4: new Map(), IPv6: new Map() };
  for (const pod of changed.values()) {
    if (pod === undefined) continue;
    for (const wanted of desiredEndpointsForPod(service, pod, zoneOf)) {
      let key = keys[wanted.addressType].get(wanted.portKey);
      if (key === undefined) {
        key = groupKeyOf(wanted.addressType, wanted.portKey);
        keys[wanted.addressType].set(wanted.portKey, key);
      }
      let group = groups.get(key);
      if (group === undefined) {
        group = {
          addressType: wanted.addressType,
          portKey: wanted.portKey,
          ports: wanted.ports,
          endpoints: new Map(),
        };
        groups.set(key, group);
      }
      group.endpoints.set(endpointKey(wanted.endpoint), freezeEndpoint(wanted.endpoint));
    }
  }
  return groups;
}

/** A rewrite that would store exactly what is stored is not a write. */
function sameContent(slice: StoredSlice, draft: Draft, labels: Record<string, string>): boolean {
  if (slice.portKey !== draft.portKey || slice.addressType !== draft.addressType) return false;
  if (!labelsEqual(slice.labels, labels)) return false;
  if (!sameOwners(slice.ownerReferences, draft.ownerReferences)) return false;
  if (draft.base === slice.endpoints) return draft.endpointsUnchanged();
  if (slice.endpoints.size !== draft.size) return false;
  const before = slice.endpoints.entries();
  for (const [key, endpoint] of draft.entries()) {
    const previous = before.next();
    if (previous.done || previous.value[0] !== key || !endpointsEqual(previous.value[1], endpoint))
      return false;
  }
  return true;
}

function sameOwners(a: readonly OwnerReference[], b: readonly OwnerReference[]): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
